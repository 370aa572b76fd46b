#include "io/fault_env.h"

#include <random>

namespace rdb {
namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    RDB_RETURN_IF_ERROR(env_->MaybeFail(FaultEnv::Op::kAppend));
    RDB_RETURN_IF_ERROR(env_->ChargeSpace(data.size()).Annotate("write " + path_));
    RDB_RETURN_IF_ERROR(base_->Append(data));
    env_->RecordSize(path_, base_->Size(), false);
    return Status::OK();
  }
  Status Sync() override {
    RDB_RETURN_IF_ERROR(env_->MaybeFail(FaultEnv::Op::kSync));
    RDB_RETURN_IF_ERROR(base_->Sync());
    env_->RecordSize(path_, base_->Size(), true);
    return Status::OK();
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  FaultEnv* env_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
};

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

void FaultEnv::RecordSize(const std::string& path, uint64_t size, bool synced) {
  std::lock_guard lock(mu_);
  FileState& st = files_[path];
  st.size = size;
  if (synced) st.synced_size = size;
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
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, std::move(file)));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::ReopenWritableFile(const std::string& path) {
  RDB_ASSIGN_OR_RETURN(auto file, base_->ReopenWritableFile(path));
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) {
      // Bytes that were there before we started watching count as durable.
      files_[path] = FileState{file->Size(), file->Size(), true};
    }
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, std::move(file)));
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
  RDB_RETURN_IF_ERROR(base_->TruncateFile(path, size));
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it != files_.end()) {
    it->second.size = size;
    if (it->second.synced_size > size) it->second.synced_size = size;
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

void FaultEnv::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    if (!it->second.dir_synced) {
      (void)base_->DeleteFile(it->first);
      it = files_.erase(it);
      continue;
    }
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
    if (st.size <= st.synced_size) continue;
    uint64_t keep = st.synced_size + rng() % (st.size - st.synced_size);
    (void)base_->TruncateFile(path, keep);
    st.size = keep;
    st.synced_size = keep;
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
