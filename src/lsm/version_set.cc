#include "lsm/version_set.h"

#include <algorithm>
#include <array>
#include <map>

namespace rdb::lsm {

VersionSet::VersionSet(Env* env, std::string dir)
    : env_(env), dir_(std::move(dir)), current_(std::make_shared<Version>()) {
  versions_.push_back(current_);
}

std::shared_ptr<const Version> VersionSet::current() const {
  MutexLock lock(&mu_);
  return current_;
}

uint64_t VersionSet::manifest_number() const {
  MutexLock lock(&mu_);
  return manifest_number_;
}

uint64_t VersionSet::NewFileNumber() {
  MutexLock lock(&mu_);
  uint64_t n = next_file_number_++;
  pending_.insert(n);
  return n;
}

void VersionSet::ReleaseFileNumber(uint64_t number) {
  MutexLock lock(&mu_);
  pending_.erase(number);
}

void VersionSet::Install(std::shared_ptr<const Version> v) {
  current_ = std::move(v);
  std::erase_if(versions_, [](const std::weak_ptr<const Version>& w) { return w.expired(); });
  versions_.push_back(current_);
}

Status VersionSet::Recover() {
  auto current = ReadCurrent(env_, dir_);
  if (current.ok()) {
    std::string path = JoinPath(dir_, *current);
    if (!env_->FileExists(path)) {
      return Status::Corruption(JoinPath(dir_, kCurrentFileName) + " names " + *current +
                                ", which does not exist");
    }
    return RecoverFrom(*current);
  }
  if (current.status().code() != Code::kNotFound) return current.status();
  // No CURRENT: a crash before the first CURRENT was written, or CURRENT was lost. Every manifest
  // is fully synced before CURRENT may name it and no table is deleted while a newer manifest
  // could still be the live one, so the newest manifest holding a whole snapshot is a state the
  // tree durably reached.
  RDB_ASSIGN_OR_RETURN(auto children, env_->GetChildren(dir_));
  std::vector<std::pair<uint64_t, std::string>> manifests;
  for (const std::string& name : children) {
    uint64_t number;
    if (ParseFileName(name, &number) == FileType::kManifest) manifests.emplace_back(number, name);
  }
  std::sort(manifests.rbegin(), manifests.rend());
  Status first_error;
  for (const auto& [number, name] : manifests) {
    Status s = RecoverFrom(name);
    if (s.ok() || s.code() == Code::kNotSupported) return s;
    if (first_error.ok()) first_error = s;
  }
  return Status::NotFound(
      JoinPath(dir_, kCurrentFileName) + " does not exist" +
      (first_error.ok() ? "" : "; no usable manifest: " + first_error.ToString()));
}

Status VersionSet::RecoverFrom(const std::string& name) {
  std::string path = JoinPath(dir_, name);
  uint64_t manifest_number = 0;
  ParseFileName(name, &manifest_number);

  // Replay into per-level maps (cheap per edit), then build and validate one Version.
  std::array<std::map<uint64_t, FileMeta>, kNumLevels> levels;
  VersionEdit totals;
  uint64_t max_number = manifest_number;
  auto apply = [&](std::string_view payload, uint64_t) -> Status {
    VersionEdit edit;
    RDB_RETURN_IF_ERROR(edit.DecodeFrom(payload));
    if (edit.next_file_number) totals.next_file_number = edit.next_file_number;
    if (edit.last_sequence) totals.last_sequence = edit.last_sequence;
    if (edit.flushed_seq) totals.flushed_seq = edit.flushed_seq;
    for (const auto& [level, number] : edit.deleted) {
      if (levels[level].erase(number) == 0) {
        return Status::Corruption("edit deletes table " + std::to_string(number) +
                                  " which is not in level " + std::to_string(level));
      }
    }
    for (auto& [level, f] : edit.added) {
      max_number = std::max(max_number, f.number);
      uint64_t number = f.number;
      if (!levels[level].emplace(number, std::move(f)).second) {
        return Status::Corruption("edit adds table " + std::to_string(number) + " twice");
      }
    }
    return Status::OK();
  };
  RDB_ASSIGN_OR_RETURN(ManifestReadResult read, ReadManifest(env_, path, apply));
  if (read.records == 0 || !totals.next_file_number || !totals.last_sequence) {
    return Status::Corruption(path + ": manifest holds no snapshot record");
  }
  VersionEdit all;
  for (int level = 0; level < kNumLevels; level++) {
    for (auto& [number, f] : levels[level]) all.added.emplace_back(level, std::move(f));
  }
  auto state = Version::Apply(Version(), all);
  if (!state.ok()) return Status::Corruption(path + ": " + state.status().message());

  MutexLock lock(&mu_);
  next_file_number_ = std::max(*totals.next_file_number, max_number + 1);
  last_sequence_.store(*totals.last_sequence, std::memory_order_release);
  flushed_seq_.store(totals.flushed_seq.value_or(0), std::memory_order_release);
  manifest_number_ = manifest_number;
  manifest_.reset();  // never append after what may be a torn tail
  Install(std::move(state).value());
  return Status::OK();
}

VersionEdit VersionSet::SnapshotEdit(const Version& v, uint64_t last_sequence,
                                     uint64_t flushed_seq) const {
  VersionEdit edit;
  edit.next_file_number = next_file_number_;
  edit.last_sequence = last_sequence;
  edit.flushed_seq = flushed_seq;
  for (int level = 0; level < kNumLevels; level++) {
    for (const FileRef& f : v.files[level]) edit.added.emplace_back(level, *f);
  }
  return edit;
}

Status VersionSet::RollManifest(const Version& v, uint64_t last_sequence, uint64_t flushed_seq) {
  manifest_.reset();
  manifest_failed_ = true;  // until CURRENT durably names the new manifest
  uint64_t number = next_file_number_++;
  std::string name = ManifestFileName(number);
  pending_.insert(number);
  RDB_ASSIGN_OR_RETURN(auto writer, ManifestWriter::Create(env_, JoinPath(dir_, name)));
  std::string record;
  SnapshotEdit(v, last_sequence, flushed_seq).EncodeTo(&record);
  RDB_RETURN_IF_ERROR(writer->AddRecord(record));
  RDB_RETURN_IF_ERROR(writer->Sync());
  RDB_RETURN_IF_ERROR(env_->SyncDir(dir_));
  RDB_RETURN_IF_ERROR(WriteCurrent(env_, dir_, name));
  pending_.erase(number);
  manifest_ = std::move(writer);
  manifest_number_ = number;
  manifest_failed_ = false;
  return Status::OK();
}

Status VersionSet::WriteSnapshot() {
  MutexLock lock(&mu_);
  return RollManifest(*current_, last_sequence(), flushed_seq());
}

Status VersionSet::LogAndApply(VersionEdit* edit) {
  MutexLock lock(&mu_);
  uint64_t last = last_sequence_.load(std::memory_order_acquire);
  uint64_t flushed = flushed_seq_.load(std::memory_order_acquire);
  if (edit->last_sequence) last = std::max(last, *edit->last_sequence);
  if (edit->flushed_seq) flushed = std::max(flushed, *edit->flushed_seq);
  edit->last_sequence = last;
  edit->flushed_seq = flushed;
  RDB_ASSIGN_OR_RETURN(auto next, Version::Apply(*current_, *edit));

  Status s;
  if (manifest_ == nullptr || manifest_->size() > kManifestBytesMax) {
    s = RollManifest(*next, last, flushed);
  } else {
    edit->next_file_number = next_file_number_;
    std::string record;
    edit->EncodeTo(&record);
    s = manifest_->AddRecord(record);
    if (s.ok()) s = manifest_->Sync();
    if (!s.ok()) {
      manifest_.reset();
      manifest_failed_ = true;
    }
  }
  if (!s.ok()) return s;
  last_sequence_.store(last, std::memory_order_release);
  flushed_seq_.store(flushed, std::memory_order_release);
  Install(std::move(next));
  return Status::OK();
}

int VersionSet::DeleteObsoleteFiles(TableCache* cache, bool include_temp) {
  MutexLock lock(&mu_);
  if (manifest_failed_) return 0;
  auto children = env_->GetChildren(dir_);
  if (!children.ok()) return 0;
  std::set<uint64_t> live(pending_.begin(), pending_.end());
  std::erase_if(versions_, [](const std::weak_ptr<const Version>& w) { return w.expired(); });
  for (const auto& w : versions_) {
    auto v = w.lock();
    if (v == nullptr) continue;
    for (const auto& level_files : v->files) {
      for (const FileRef& f : level_files) live.insert(f->number);
    }
  }
  int deleted = 0;
  for (const std::string& name : *children) {
    uint64_t number = 0;
    FileType type = ParseFileName(name, &number);
    bool obsolete =
        (type == FileType::kTable && live.count(number) == 0) ||
        (type == FileType::kManifest && number != manifest_number_ && live.count(number) == 0) ||
        (type == FileType::kTemp && include_temp);
    if (!obsolete) continue;
    if (type == FileType::kTable && cache != nullptr) cache->Evict(number);
    if (env_->DeleteFile(JoinPath(dir_, name)).ok()) deleted++;
  }
  return deleted;
}

}  // namespace rdb::lsm
