// FaultEnv: an Env wrapper for tests that simulates what a crash or a failing disk does.
//
// - DropUnsyncedData() cuts every file written through it back to its last synced size and deletes
//   files created since their directory was last synced: what a power cut leaves.
// - TearUnsyncedData(seed) keeps a random prefix of each file's unsynced bytes: a torn write.
// - FlipBit() corrupts one bit of a file in place.
// - SetNoSpaceAfter(bytes) makes appends fail with ENOSPC once that many more bytes were appended;
//   ClearNoSpace() gives the space back. InjectError(op, status, count) fails the next `count` calls
//   of one kind of operation with the given status (EIO-style errors).
//
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <set>

#include "absl/base/thread_annotations.h"
#include "io/env.h"

namespace rdb {

class FaultEnv final : public Env {
 public:
  enum class Op { kAppend, kSync, kCreate, kRename, kRead, kSyncDir };

  explicit FaultEnv(Env* base) : base_(base) {}

  void DropUnsyncedData();
  void TearUnsyncedData(uint64_t seed);
  Status FlipBit(const std::string& path, uint64_t offset, int bit);
  void SetNoSpaceAfter(uint64_t bytes);
  void ClearNoSpace();
  void InjectError(Op op, Status status, int count = 1);
  void ClearErrors();

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    return base_->GetChildren(dir);
  }
  Result<uint64_t> GetFileSize(const std::string& path) override {
    return base_->GetFileSize(path);
  }
  Status DeleteFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Status CreateDirs(const std::string& dir) override { return base_->CreateDirs(dir); }
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

  // Used by the file wrappers.
  Status MaybeFail(Op op);
  Status ChargeSpace(uint64_t bytes);
  void RecordSize(const std::string& path, uint64_t size, bool synced);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced_size = 0;
    bool dir_synced = true;  // false while the file's creation is not yet durable
  };

  Env* const base_;
  std::mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  std::map<Op, std::pair<Status, int>> errors_ ABSL_GUARDED_BY(mu_);
  bool space_limited_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t space_left_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rdb
