// FaultEnv: an Env wrapper for tests that simulates what a crash or a failing disk does.
//
// It keeps, per file written through it, a journal of the writes (Append and WriteAt) since the
// file's last Sync: offset, length, the file's size before the write and the bytes it overwrote.
// - DropUnsyncedData() undoes every unsynced write (restoring the overwritten bytes, newest first)
//   and cuts every file back to its last synced size, and deletes files created since their
//   directory was last synced: what a power cut leaves.
// - TearUnsyncedData(seed) keeps a random prefix of each file's unsynced writes, in write order,
// the
//   last kept one possibly cut short, and undoes the rest: a torn write.
// - Truncations (TruncateFile, WritableFile::Truncate) count as durable at once: a simplification
//   the log's code never relies on (it syncs after truncating).
// - FlipBit() corrupts one bit of a file in place.
// - SetNoSpaceAfter(bytes) makes writes fail with ENOSPC once that many more bytes were added to
//   files (overwriting existing bytes takes no space); ClearNoSpace() gives the space back.
//   InjectError(op, status, count) fails the next `count` calls of one kind of operation with the
//   given status (EIO-style errors).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "io/env.h"

namespace rdb {

class FaultEnv final : public Env {
 public:
  // kAppend covers both Append and WriteAt; kTruncate both TruncateFile and WritableFile::Truncate.
  enum class Op { kAppend, kSync, kCreate, kRename, kRead, kSyncDir, kTruncate };

  explicit FaultEnv(Env* base) : base_(base) {}

  void DropUnsyncedData();
  void TearUnsyncedData(uint64_t seed);
  Status FlipBit(const std::string& path, uint64_t offset, int bit);
  void SetNoSpaceAfter(uint64_t bytes);
  void ClearNoSpace();
  void InjectError(Op op, Status status, int count = 1);
  void ClearErrors();
  // Makes every file Sync() take at least this long (0 = off): lets a test hold a group commit in
  // its fsync while other writers queue behind it.
  void SetSyncDelayMs(uint32_t ms) { sync_delay_ms_.store(ms); }
  uint32_t sync_delay_ms() const { return sync_delay_ms_.load(); }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> ReopenPositionalFile(const std::string& path) override;
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

  // An unsynced write, as the journal keeps it.
  struct Write {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t size_before = 0;  // the file's size just before the write
    std::string old;           // the bytes it overwrote: [offset, min(offset+length, size_before))
  };

  // Used by the file wrappers.
  Status MaybeFail(Op op);
  Status ChargeSpace(uint64_t bytes);
  void RecordWrite(const std::string& path, Write write, uint64_t size_after);
  void RecordSync(const std::string& path, uint64_t size);
  void RecordTruncate(const std::string& path, uint64_t size);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced_size = 0;
    bool dir_synced = true;     // false while the file's creation is not yet durable
    std::vector<Write> writes;  // unsynced, oldest first
  };

  Result<std::unique_ptr<WritableFile>> Track(const std::string& path,
                                              std::unique_ptr<WritableFile> file);
  // Undoes writes [from, end) of st.writes, newest first, keeping the first `keep_bytes` bytes of
  // writes[from]; leaves the file and st at the resulting size. Errors are ignored (test helper).
  // Called with mu_ held (std::mutex carries no capability annotation).
  void UndoWrites(const std::string& path, FileState* st, size_t from, uint64_t keep_bytes);

  Env* const base_;
  std::atomic<uint32_t> sync_delay_ms_{0};
  std::mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  std::map<Op, std::pair<Status, int>> errors_ ABSL_GUARDED_BY(mu_);
  bool space_limited_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t space_left_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rdb
