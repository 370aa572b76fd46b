// Helpers shared by the libFuzzer targets: a read-only file over bytes in memory, and a scratch
// directory on tmpfs for the targets that must go through real files (recovery, manifest replay).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/check.h"
#include "base/status.h"
#include "io/env.h"

namespace rdb::fuzz {

// A RandomAccessFile over a string (the table reader and the frame reader only need this).
class StringFile final : public RandomAccessFile {
 public:
  explicit StringFile(std::string data) : data_(std::move(data)) {}
  Result<std::string_view> Read(uint64_t offset, size_t n, char* scratch) const override {
    if (offset >= data_.size()) return std::string_view(scratch, 0);
    size_t got = std::min<uint64_t>(n, data_.size() - offset);
    std::memcpy(scratch, data_.data() + offset, got);
    return std::string_view(scratch, got);
  }
  Result<uint64_t> Size() const override { return data_.size(); }

 private:
  std::string data_;
};

// A private directory, created once per process under /dev/shm (tmpfs: syncs cost nothing) or
// /tmp (or $RDB_FUZZ_TMPDIR), removed at a normal exit. Targets empty it themselves before each
// input.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (const char* t = getenv("RDB_FUZZ_TMPDIR")) base = t;
    std::string tmpl = base + "/rdb-fuzz-XXXXXX";
    RDB_CHECK(mkdtemp(tmpl.data()) != nullptr);
    return tmpl;
  }();
  static const bool cleanup_registered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)cleanup_registered;
  return dir;
}

// Deletes every file in dir (not recursive) and creates dir if missing.
inline void ResetDir(const std::string& dir) {
  Env* env = Env::Posix();
  RDB_CHECK(env->CreateDirs(dir).ok());
  auto children = env->GetChildren(dir);
  RDB_CHECK(children.ok());
  for (const std::string& c : *children) RDB_CHECK(env->DeleteFile(JoinPath(dir, c)).ok());
}

inline void WriteFile(const std::string& path, std::string_view data) {
  auto f = Env::Posix()->NewWritableFile(path);
  RDB_CHECK(f.ok());
  RDB_CHECK((*f)->Append(data).ok());
  RDB_CHECK((*f)->Close().ok());
}

}  // namespace rdb::fuzz
