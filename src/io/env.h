// The file-system seam. Every byte of data RDeeBee stores goes through these interfaces, so tests
// can swap in FaultEnv (fault_env.h), which drops unsynced data, tears writes, flips bits and fails
// calls with ENOSPC or EIO. The POSIX implementation is the only place data syscalls happen.
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
  // Appends at the end of the file (at Size()). Data may sit in the OS page cache until Sync(). On
  // error the file is cut back to its size before the call (best effort).
  virtual Status Append(std::string_view data) = 0;
  // Writes data at offset (pwrite), overwriting what is there and growing the file if it reaches
  // past Size(); a gap between Size() and offset reads as zeros. Only for files from
  // NewWritableFile or ReopenPositionalFile: a file from ReopenWritableFile is opened O_APPEND,
  // where Linux ignores the offset, so it returns kNotSupported. On error the bytes of [offset,
  // offset + data.size()) below the old Size() are unspecified (old, new or a mix) and any growth
  // is cut back (best effort). Overwriting already written bytes needs no new space, so it does not
  // fail with ENOSPC on file systems that allocate on write (ext4, xfs).
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Sets the file's size (ftruncate): cuts it, or extends it with zeros.
  virtual Status Truncate(uint64_t size) = 0;
  // Makes everything written so far durable, including size changes (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  // The file's size as this handle knows it: its size when opened, changed by this handle's
  // appends, writes past the end and truncations.
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

  // Creates (or truncates) a file for appending; it also takes positional writes (WriteAt).
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file for appending at its end (O_APPEND: no WriteAt).
  virtual Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) = 0;
  // Opens an existing file, without truncating it, for positional writes (WriteAt) as well as
  // appends; not O_APPEND. Size() starts at the file's size.
  virtual Result<std::unique_ptr<WritableFile>> ReopenPositionalFile(const std::string& path) = 0;
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
