// The file-system seam. Every byte of data RDeeBee stores goes through these interfaces, so tests can
// swap in FaultEnv (fault_env.h), which drops unsynced data, tears writes, flips bits and fails calls
// with ENOSPC or EIO. The POSIX implementation is the only place data syscalls happen.
//
// Thread-safety: an Env is safe to use from many threads. A WritableFile is used by one thread at a
// time. A RandomAccessFile is safe for concurrent reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace rdb {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends at the end of the file. Data may sit in the OS page cache until Sync().
  virtual Status Append(std::string_view data) = 0;
  // Makes everything appended so far durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  // Bytes appended so far, including the size the file had when opened.
  virtual uint64_t Size() const = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset into scratch (which must hold n bytes) and returns a view of what
  // was read; the view is shorter than n only at end of file.
  virtual Result<std::string_view> Read(uint64_t offset, size_t n, char* scratch) const = 0;
  virtual Result<uint64_t> Size() const = 0;
};

// An advisory, exclusive lock on a file (flock), held until released or the process dies.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // Creates (or truncates) a file for appending.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file for appending at its end.
  virtual Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries in dir, excluding "." and "..".
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  virtual Status DeleteFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)); call SyncDir to make it durable.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // Creates dir and missing parents; OK if it exists.
  virtual Status CreateDirs(const std::string& dir) = 0;
  // fsync on the directory, making creations, deletions and renames in it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive lock on path (created if missing); fails with kAlreadyExists if another
  // process holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // The process-wide POSIX environment. Never null; lives forever.
  static Env* Posix();
};

// Reads a whole (small) file into *out.
Status ReadFileToString(Env* env, const std::string& path, std::string* out);
// Writes data to path atomically and durably: write tmp, fsync, rename over path, fsync the dir.
Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data);
std::string JoinPath(std::string_view dir, std::string_view name);
std::string DirName(std::string_view path);

}  // namespace rdb
