#include "io/fault_env.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

namespace rdb {
namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, Env* base_env, std::string path,
                    std::unique_ptr<WritableFile> base)
      : env_(env), base_env_(base_env), path_(std::move(path)), base_(std::move(base)) {}

  Status Append(std::string_view data) override { return Write(base_->Size(), data, true); }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    return Write(offset, data, false);
  }
  Status Truncate(uint64_t size) override {
    RDB_RETURN_IF_ERROR(env_->MaybeFail(FaultEnv::Op::kTruncate));
    RDB_RETURN_IF_ERROR(base_->Truncate(size));
    env_->RecordTruncate(path_, size);
    return Status::OK();
  }
  Status Sync() override {
    if (uint32_t ms = env_->sync_delay_ms()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    RDB_RETURN_IF_ERROR(env_->MaybeFail(FaultEnv::Op::kSync));
    RDB_RETURN_IF_ERROR(base_->Sync());
    env_->RecordSync(path_, base_->Size());
    return Status::OK();
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  Status Write(uint64_t offset, std::string_view data, bool append) {
    RDB_RETURN_IF_ERROR(env_->MaybeFail(FaultEnv::Op::kAppend));
    const uint64_t size = base_->Size();
    const uint64_t end = offset + data.size();
    RDB_RETURN_IF_ERROR(env_->ChargeSpace(end > size ? end - size : 0).Annotate("write " + path_));
    FaultEnv::Write w{offset, data.size(), size, {}};
    if (offset < size && !data.empty()) {
      // Remember what the write overwrites, so a simulated crash can put it back.
      if (reader_ == nullptr) {
        RDB_ASSIGN_OR_RETURN(reader_, base_env_->NewRandomAccessFile(path_));
      }
      w.old.resize(std::min(end, size) - offset);
      RDB_ASSIGN_OR_RETURN(std::string_view got, reader_->Read(offset, w.old.size(), w.old.data()));
      if (got.data() != w.old.data()) w.old.assign(got);
      w.old.resize(got.size());
    }
    RDB_RETURN_IF_ERROR(append ? base_->Append(data) : base_->WriteAt(offset, data));
    env_->RecordWrite(path_, std::move(w), base_->Size());
    return Status::OK();
  }

  FaultEnv* env_;
  Env* base_env_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
  std::unique_ptr<RandomAccessFile> reader_;  // opened on the first overwrite
};

// Clips an unsynced-write journal to a (durable) truncation at size.
void ClipWrites(std::vector<FaultEnv::Write>* writes, uint64_t size) {
  std::erase_if(*writes, [size](const FaultEnv::Write& w) { return w.offset >= size; });
  for (FaultEnv::Write& w : *writes) {
    w.length = std::min(w.length, size - w.offset);
    w.size_before = std::min(w.size_before, size);
    if (w.old.size() > size - w.offset) w.old.resize(size - w.offset);
  }
}

class FaultRandomAccessFile final : public RandomAccessFile {
 public:
  FaultRandomAccessFile(FaultEnv* env, std::unique_ptr<RandomAccessFile> base)
      : env_(env), base_(std::move(base)) {}
  Result<std::string_view> Read(uint64_t offset, size_t n, char* scratch) const override {
    RDB_RETURN_IF_ERROR(env_->MaybeFail(FaultEnv::Op::kRead));
    return base_->Read(offset, n, scratch);
  }
  Result<uint64_t> Size() const override { return base_->Size(); }

 private:
  FaultEnv* env_;
  std::unique_ptr<RandomAccessFile> base_;
};

}  // namespace

Status FaultEnv::MaybeFail(Op op) {
  std::lock_guard lock(mu_);
  auto it = errors_.find(op);
  if (it == errors_.end() || it->second.second == 0) return Status::OK();
  if (it->second.second > 0) it->second.second--;
  return it->second.first;
}

Status FaultEnv::ChargeSpace(uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (!space_limited_) return Status::OK();
  if (bytes > space_left_) return Status::NoSpace("No space left on device (injected)");
  space_left_ -= bytes;
  return Status::OK();
}

void FaultEnv::RecordWrite(const std::string& path, Write write, uint64_t size_after) {
  std::lock_guard lock(mu_);
  FileState& st = files_[path];
  st.size = size_after;
  st.writes.push_back(std::move(write));
}

void FaultEnv::RecordSync(const std::string& path, uint64_t size) {
  std::lock_guard lock(mu_);
  FileState& st = files_[path];
  st.size = size;
  st.synced_size = size;
  st.writes.clear();
}

void FaultEnv::RecordTruncate(const std::string& path, uint64_t size) {
  std::lock_guard lock(mu_);
  FileState& st = files_[path];
  st.size = size;
  st.synced_size = std::min(st.synced_size, size);
  ClipWrites(&st.writes, size);
}

void FaultEnv::SetNoSpaceAfter(uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_limited_ = true;
  space_left_ = bytes;
}

void FaultEnv::ClearNoSpace() {
  std::lock_guard lock(mu_);
  space_limited_ = false;
}

void FaultEnv::InjectError(Op op, Status status, int count) {
  std::lock_guard lock(mu_);
  errors_[op] = {std::move(status), count};
}

void FaultEnv::ClearErrors() {
  std::lock_guard lock(mu_);
  errors_.clear();
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(const std::string& path) {
  RDB_RETURN_IF_ERROR(MaybeFail(Op::kCreate));
  bool existed = base_->FileExists(path);
  RDB_ASSIGN_OR_RETURN(auto file, base_->NewWritableFile(path));
  {
    std::lock_guard lock(mu_);
    FileState& st = files_[path];
    st = FileState{};
    st.dir_synced = existed;
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, base_, path, std::move(file)));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::Track(const std::string& path,
                                                      std::unique_ptr<WritableFile> file) {
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) {
      // Bytes that were there before we started watching count as durable.
      FileState& st = files_[path];
      st.size = file->Size();
      st.synced_size = file->Size();
    }
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, base_, path, std::move(file)));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::ReopenWritableFile(const std::string& path) {
  RDB_ASSIGN_OR_RETURN(auto file, base_->ReopenWritableFile(path));
  return Track(path, std::move(file));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::ReopenPositionalFile(const std::string& path) {
  RDB_ASSIGN_OR_RETURN(auto file, base_->ReopenPositionalFile(path));
  return Track(path, std::move(file));
}

Result<std::unique_ptr<RandomAccessFile>> FaultEnv::NewRandomAccessFile(const std::string& path) {
  RDB_ASSIGN_OR_RETURN(auto file, base_->NewRandomAccessFile(path));
  return std::unique_ptr<RandomAccessFile>(new FaultRandomAccessFile(this, std::move(file)));
}

Status FaultEnv::DeleteFile(const std::string& path) {
  RDB_RETURN_IF_ERROR(base_->DeleteFile(path));
  std::lock_guard lock(mu_);
  files_.erase(path);
  return Status::OK();
}

Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  RDB_RETURN_IF_ERROR(MaybeFail(Op::kRename));
  RDB_RETURN_IF_ERROR(base_->RenameFile(from, to));
  std::lock_guard lock(mu_);
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  } else {
    files_.erase(to);
  }
  return Status::OK();
}

Status FaultEnv::TruncateFile(const std::string& path, uint64_t size) {
  RDB_RETURN_IF_ERROR(MaybeFail(Op::kTruncate));
  RDB_RETURN_IF_ERROR(base_->TruncateFile(path, size));
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it != files_.end()) {
    it->second.size = size;
    if (it->second.synced_size > size) it->second.synced_size = size;
    ClipWrites(&it->second.writes, size);
  }
  return Status::OK();
}

Status FaultEnv::SyncDir(const std::string& dir) {
  RDB_RETURN_IF_ERROR(MaybeFail(Op::kSyncDir));
  RDB_RETURN_IF_ERROR(base_->SyncDir(dir));
  std::lock_guard lock(mu_);
  for (auto& [path, st] : files_) {
    if (DirName(path) == dir) st.dir_synced = true;
  }
  return Status::OK();
}

void FaultEnv::UndoWrites(const std::string& path, FileState* st, size_t from,
                          uint64_t keep_bytes) {
  if (from >= st->writes.size()) return;
  auto file = base_->ReopenPositionalFile(path);
  if (!file.ok()) return;
  for (size_t i = st->writes.size(); i-- > from;) {
    const Write& w = st->writes[i];
    const uint64_t keep = i == from ? keep_bytes : 0;
    if (w.old.size() > keep) {
      (void)(*file)->WriteAt(w.offset + keep, std::string_view(w.old).substr(keep));
    }
  }
  const Write& first = st->writes[from];
  const uint64_t size =
      keep_bytes > 0 ? std::max(first.size_before, first.offset + keep_bytes) : first.size_before;
  (void)(*file)->Truncate(size);
  (void)(*file)->Close();
  st->size = size;
  st->writes.resize(from);
}

void FaultEnv::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    if (!it->second.dir_synced) {
      (void)base_->DeleteFile(it->first);
      it = files_.erase(it);
      continue;
    }
    UndoWrites(it->first, &it->second, 0, 0);
    if (it->second.size > it->second.synced_size) {
      (void)base_->TruncateFile(it->first, it->second.synced_size);
      it->second.size = it->second.synced_size;
    }
    ++it;
  }
}

void FaultEnv::TearUnsyncedData(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lock_guard lock(mu_);
  for (auto& [path, st] : files_) {
    uint64_t total = 0;
    for (const Write& w : st.writes) total += w.length;
    if (total > 0) {
      // Keep the first `keep` bytes of the unsynced writes, in the order they were made.
      uint64_t keep = rng() % total;
      size_t i = 0;
      while (keep >= st.writes[i].length) keep -= st.writes[i++].length;
      UndoWrites(path, &st, i, keep);
    }
    st.writes.clear();
    st.synced_size = st.size;
  }
}

Status FaultEnv::FlipBit(const std::string& path, uint64_t offset, int bit) {
  std::string data;
  RDB_RETURN_IF_ERROR(ReadFileToString(base_, path, &data));
  if (offset >= data.size()) return Status::InvalidArgument("FlipBit: offset past end of " + path);
  data[offset] = static_cast<char>(data[offset] ^ (1 << (bit & 7)));
  RDB_ASSIGN_OR_RETURN(auto file, base_->NewWritableFile(path));
  RDB_RETURN_IF_ERROR(file->Append(data));
  RDB_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

}  // namespace rdb
