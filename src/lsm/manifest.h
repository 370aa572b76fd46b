// The manifest log and the CURRENT pointer (docs/formats/manifest.md).
//
//   manifest := header(16) | record*
//   header   := "RDBMANIF" | fixed32 version | fixed32 masked crc32c(bytes 0..11)
//   record   := fixed32 length | fixed32 masked crc32c(length field) |
//               fixed32 masked crc32c(payload) | payload (a VersionEdit)
//   CURRENT  := "RDB-LSM-CURRENT 1\n" <manifest file name> "\n"   (replaced atomically)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "io/env.h"

namespace rdb::lsm {

inline constexpr char kManifestMagic[8] = {'R', 'D', 'B', 'M', 'A', 'N', 'I', 'F'};
constexpr uint32_t kManifestFormatVersion = 1;
constexpr size_t kManifestHeaderBytes = 16;
constexpr size_t kManifestRecordHeaderBytes = 12;
constexpr uint64_t kManifestRecordBytesMax = 64ull << 20;
constexpr uint32_t kCurrentFormatVersion = 1;

class ManifestWriter {
 public:
  // Creates (truncates) path and appends the header; nothing is durable until Sync.
  static Result<std::unique_ptr<ManifestWriter>> Create(Env* env, const std::string& path);

  Status AddRecord(std::string_view payload);
  Status Sync() { return file_->Sync(); }
  uint64_t size() const { return file_->Size(); }

 private:
  explicit ManifestWriter(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  std::unique_ptr<WritableFile> file_;
};

struct ManifestReadResult {
  uint64_t records = 0;
  uint64_t valid_bytes = 0;  // end of the last whole record
  bool torn_tail = false;    // an incomplete (never acknowledged) record followed it
};

// Calls fn(payload, record_offset) for each record. An incomplete record at the end of the file
// (or a tail of zero bytes) is a torn write and is ignored; any other damage is kCorruption naming
// the file and the record's offset. An unknown format version is kNotSupported.
Result<ManifestReadResult> ReadManifest(
    Env* env, const std::string& path,
    const std::function<Status(std::string_view payload, uint64_t offset)>& fn);

// Reads CURRENT in dir: the name of the live manifest. kNotFound if there is no CURRENT.
Result<std::string> ReadCurrent(Env* env, const std::string& dir);
// Points CURRENT at manifest_name, atomically and durably.
Status WriteCurrent(Env* env, const std::string& dir, const std::string& manifest_name);

}  // namespace rdb::lsm
