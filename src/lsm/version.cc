#include "lsm/version.h"

#include <algorithm>
#include <map>

namespace rdb::lsm {
namespace {

// Index of the first file in a sorted level whose largest user key >= user_key.
size_t FindFile(const std::vector<FileRef>& files, std::string_view user_key) {
  size_t lo = 0;
  size_t hi = files.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (CompareUserKey(files[mid]->largest_user(), user_key) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

Status AsLookupError(const Status& s) {
  // kNotFound from below means "absent" to callers of Get; a failed table read must not look so.
  if (s.code() == Code::kNotFound) return Status::Corruption(s.message());
  return s;
}

}  // namespace

Result<std::shared_ptr<const Version>> Version::Apply(const Version& base,
                                                      const VersionEdit& edit) {
  auto v = std::make_shared<Version>();
  for (int level = 0; level < kNumLevels; level++) {
    std::map<uint64_t, FileRef> files;
    for (const FileRef& f : base.files[level]) files.emplace(f->number, f);
    for (const auto& [l, number] : edit.deleted) {
      if (l != level) continue;
      if (files.erase(number) == 0) {
        return Status::Corruption("edit deletes table " + std::to_string(number) +
                                  " which is not in level " + std::to_string(level));
      }
    }
    for (const auto& [l, meta] : edit.added) {
      if (l != level) continue;
      if (!files.emplace(meta.number, std::make_shared<const FileMeta>(meta)).second) {
        return Status::Corruption("edit adds table " + std::to_string(meta.number) + " twice");
      }
    }
    auto& out = v->files[level];
    for (auto& [number, f] : files) out.push_back(f);
    if (level == 0) {
      std::sort(out.begin(), out.end(),
                [](const FileRef& a, const FileRef& b) { return a->number > b->number; });
      continue;
    }
    std::sort(out.begin(), out.end(), [](const FileRef& a, const FileRef& b) {
      return CompareInternalKey(a->smallest, b->smallest) < 0;
    });
    for (size_t i = 1; i < out.size(); i++) {
      if (CompareUserKey(out[i - 1]->largest_user(), out[i]->smallest_user()) >= 0) {
        return Status::Corruption("tables " + std::to_string(out[i - 1]->number) + " and " +
                                  std::to_string(out[i]->number) + " overlap in level " +
                                  std::to_string(level));
      }
    }
  }
  return std::shared_ptr<const Version>(std::move(v));
}

Status Version::Get(const LookupKey& key, uint64_t bloom_hash, TableCache* cache,
                    LookupResult* result, std::string* value) const {
  std::string_view ukey = key.user_key();
  auto probe = [&](const FileRef& f) -> Status {
    auto table = cache->Get(f->number, f->file_size);
    if (!table.ok()) return AsLookupError(table.status());
    return AsLookupError((*table)->Get(key, bloom_hash, result, value));
  };
  *result = LookupResult::kAbsent;
  for (const FileRef& f : files[0]) {
    if (CompareUserKey(ukey, f->smallest_user()) < 0 ||
        CompareUserKey(ukey, f->largest_user()) > 0) {
      continue;
    }
    RDB_RETURN_IF_ERROR(probe(f));
    if (*result != LookupResult::kAbsent) return Status::OK();
  }
  for (int level = 1; level < kNumLevels; level++) {
    const auto& level_files = files[level];
    size_t i = FindFile(level_files, ukey);
    if (i == level_files.size() || CompareUserKey(ukey, level_files[i]->smallest_user()) < 0) {
      continue;
    }
    RDB_RETURN_IF_ERROR(probe(level_files[i]));
    if (*result != LookupResult::kAbsent) return Status::OK();
  }
  return Status::OK();
}

std::vector<FileRef> Version::Overlapping(int level, std::string_view begin,
                                          std::string_view end) const {
  std::vector<FileRef> out;
  for (const FileRef& f : files[level]) {
    if (CompareUserKey(f->largest_user(), begin) < 0 ||
        CompareUserKey(f->smallest_user(), end) > 0) {
      continue;
    }
    out.push_back(f);
  }
  return out;
}

bool Version::RangeCoversBelow(int level, std::string_view user_key) const {
  for (int l = level + 1; l < kNumLevels; l++) {
    const auto& level_files = files[l];
    size_t i = FindFile(level_files, user_key);
    if (i < level_files.size() && CompareUserKey(user_key, level_files[i]->smallest_user()) >= 0) {
      return true;
    }
  }
  return false;
}

uint64_t Version::LevelBytes(int level) const {
  uint64_t total = 0;
  for (const FileRef& f : files[level]) total += f->file_size;
  return total;
}

uint64_t Version::TotalBytes() const {
  uint64_t total = 0;
  for (int level = 0; level < kNumLevels; level++) total += LevelBytes(level);
  return total;
}

size_t Version::TableCount() const {
  size_t n = 0;
  for (const auto& level_files : files) n += level_files.size();
  return n;
}

std::string Version::LevelSummary() const {
  std::string s;
  for (int level = 0; level < kNumLevels; level++) {
    if (files[level].empty() && level > 0) continue;
    if (!s.empty()) s += ' ';
    s += "L" + std::to_string(level) + ":" + std::to_string(files[level].size());
  }
  return s;
}

void Version::AddIterators(const std::shared_ptr<TableCache>& cache, bool fill_cache,
                           std::vector<std::unique_ptr<InternalIterator>>* out) const {
  for (const FileRef& f : files[0]) {
    auto table = cache->Get(f->number, f->file_size);
    if (!table.ok()) {
      out->push_back(NewErrorIterator(AsLookupError(table.status())));
    } else {
      out->push_back((*table)->NewIterator(fill_cache));
    }
  }
  for (int level = 1; level < kNumLevels; level++) {
    if (!files[level].empty()) out->push_back(NewLevelIterator(files[level], cache, fill_cache));
  }
}

namespace {

class LevelIterator final : public InternalIterator {
 public:
  LevelIterator(std::vector<FileRef> files, std::shared_ptr<TableCache> cache, bool fill_cache)
      : files_(std::move(files)), cache_(std::move(cache)), fill_cache_(fill_cache) {}

  bool Valid() const override { return it_ != nullptr && it_->Valid(); }
  void SeekToFirst() override {
    if (Open(0)) it_->SeekToFirst();
    SkipExhausted();
  }
  void Seek(std::string_view target) override {
    if (Open(FindFile(files_, ExtractUserKey(target)))) it_->Seek(target);
    SkipExhausted();
  }
  void Next() override {
    if (!Valid()) return;
    it_->Next();
    SkipExhausted();
  }
  std::string_view key() const override { return it_->key(); }
  std::string_view value() const override { return it_->value(); }
  Status status() const override {
    if (!status_.ok()) return status_;
    return it_ != nullptr ? it_->status() : Status::OK();
  }

 private:
  bool Open(size_t index) {
    it_.reset();
    index_ = index;
    if (!status_.ok() || index >= files_.size()) return false;
    auto table = cache_->Get(files_[index]->number, files_[index]->file_size);
    if (!table.ok()) {
      status_ = AsLookupError(table.status());
      return false;
    }
    it_ = (*table)->NewIterator(fill_cache_);
    return true;
  }

  void SkipExhausted() {
    while (it_ != nullptr && !it_->Valid() && it_->status().ok()) {
      if (!Open(index_ + 1)) return;
      it_->SeekToFirst();
    }
  }

  std::vector<FileRef> files_;
  std::shared_ptr<TableCache> cache_;
  bool fill_cache_;
  size_t index_ = 0;
  std::unique_ptr<InternalIterator> it_;
  Status status_;
};

}  // namespace

std::unique_ptr<InternalIterator> NewLevelIterator(std::vector<FileRef> files,
                                                   std::shared_ptr<TableCache> cache,
                                                   bool fill_cache) {
  return std::make_unique<LevelIterator>(std::move(files), std::move(cache), fill_cache);
}

}  // namespace rdb::lsm
