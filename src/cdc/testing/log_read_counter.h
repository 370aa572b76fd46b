// LogReadCountingEnv (tests only): an Env that forwards everything to a base Env and counts the
// bytes read from event log segments (files ending in ".log"). CDC tests use it to show, without
// trusting the CDC code's own counters, how often the log is read: once by the shared TailCache,
// not once per subscriber.
//
// Thread-safety: as the base Env; the counter is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "io/env.h"

namespace rdb::cdc::testing {

class LogReadCountingEnv final : public Env {
 public:
  explicit LogReadCountingEnv(Env* base) : base_(base) {}

  // Bytes returned by Read on log segment files opened through this Env.
  uint64_t log_bytes_read() const { return log_bytes_read_.load(); }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return base_->NewWritableFile(path);
  }
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override {
    return base_->ReopenWritableFile(path);
  }
  Result<std::unique_ptr<WritableFile>> ReopenPositionalFile(const std::string& path) override {
    return base_->ReopenPositionalFile(path);
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    RDB_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> f, base_->NewRandomAccessFile(path));
    if (!path.ends_with(".log")) return f;
    return std::unique_ptr<RandomAccessFile>(new CountingFile(std::move(f), &log_bytes_read_));
  }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    return base_->GetChildren(dir);
  }
  Result<uint64_t> GetFileSize(const std::string& path) override {
    return base_->GetFileSize(path);
  }
  Status DeleteFile(const std::string& path) override { return base_->DeleteFile(path); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  Status TruncateFile(const std::string& path, uint64_t size) override {
    return base_->TruncateFile(path, size);
  }
  Status CreateDirs(const std::string& dir) override { return base_->CreateDirs(dir); }
  Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

 private:
  class CountingFile final : public RandomAccessFile {
   public:
    CountingFile(std::unique_ptr<RandomAccessFile> f, std::atomic<uint64_t>* counter)
        : f_(std::move(f)), counter_(counter) {}
    Result<std::string_view> Read(uint64_t offset, size_t n, char* scratch) const override {
      RDB_ASSIGN_OR_RETURN(std::string_view got, f_->Read(offset, n, scratch));
      counter_->fetch_add(got.size());
      return got;
    }
    Result<uint64_t> Size() const override { return f_->Size(); }

   private:
    std::unique_ptr<RandomAccessFile> f_;
    std::atomic<uint64_t>* counter_;
  };

  Env* const base_;
  std::atomic<uint64_t> log_bytes_read_{0};
};

}  // namespace rdb::cdc::testing
