// rdb-dump: the offline decoder of RDeeBee's on-disk formats (docs/tools.md). Read-only: it never
// writes to, repairs or locks the files it looks at. Each verb lives in its own file:
// log_dump.cc, sst_dump.cc, manifest_dump.cc, dir_dump.cc; text.cc has the shared formatting.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "io/env.h"

namespace rdb::dump {

// Exit codes: 0 the files decode cleanly; 1 they hold damage (a bad frame, a checksum mismatch, an
// inconsistent manifest...); 2 usage errors and files that cannot be read at all.
constexpr int kExitOk = 0;
constexpr int kExitDamaged = 1;
constexpr int kExitError = 2;

struct LogDumpOptions {
  bool records = false;       // one line per record
  bool payloads = false;      // plus one line per event with its payload (implies records)
  uint64_t from_offset = 0;   // start scanning here (0 = the first record, offset 32)
  size_t payload_bytes = 64;  // payloads longer than this are shortened (0 = never)
};

struct SstDumpOptions {
  bool entries = false;  // every internal key, decoded through the engine's index layout
  size_t value_bytes = 64;
};

// --- text.cc ---
// Bytes as a double-quoted C-style string: printable ASCII as is, \" \\ \n \r \t, others \xNN.
// Longer than limit (0 = no limit): the first `limit` bytes, then `...(+N bytes)`.
std::string Quote(std::string_view bytes, size_t limit = 0);
// An engine index key (user key of the LSM tree): quoted, then its decoded form, e.g.
// `"L\x02k1"` becomes `latest "k1"`, `stream "k1" v3`, `idem "k1" id "abc"`.
std::string DescribeIndexKey(std::string_view user_key);
// An LSM internal key: `<index key> @<seq> <value|deletion>`.
std::string DescribeInternalKey(std::string_view ikey);
// An index value decoded by the tag of its key (latest, stream pointer, idempotency entry).
std::string DescribeIndexValue(std::string_view user_key, std::string_view value, size_t limit);
std::string Bytes(uint64_t n);  // "12345 B (12.1 KiB)"

// --- log_dump.cc ---
// The result of scanning one segment front to back the way recovery does.
struct SegmentScan {
  uint64_t file_size = 0;
  bool header_ok = false;
  std::string header_error;  // why the header is bad
  uint32_t version = 0;
  uint64_t number = 0;
  uint64_t base_seq = 0;
  uint64_t records = 0;
  uint64_t events = 0;
  uint64_t first_seq = 0;  // 0 if no record
  uint64_t last_seq = 0;
  uint64_t end_offset = 0;  // end of the last good record
  // A preallocated segment's zero-filled tail after end_offset (the end-of-data mark, not damage).
  uint64_t zero_tail_bytes = 0;
  // The first bad frame, if any.
  std::optional<uint64_t> bad_offset;
  std::string bad_reason;
  std::optional<uint64_t> next_valid_offset;  // a valid record after the bad one
  uint64_t next_valid_seq = 0;
  std::string io_error;  // reading failed (not damage)

  bool ok() const { return header_ok && !bad_offset && io_error.empty(); }
};

// Scans path (a segment file). With out != nullptr prints what options ask for while scanning.
SegmentScan ScanSegment(Env* env, const std::string& path, const LogDumpOptions& options,
                        std::ostream* out);
int DumpLog(const std::string& path, const LogDumpOptions& options, std::ostream& out);

// --- sst_dump.cc ---
struct TableScan {
  bool ok = false;
  bool io_error = false;  // the file could not be read at all (not damage)
  std::string error;
  uint64_t file_size = 0;
  uint64_t data_blocks = 0;
  uint64_t entries = 0;
  std::string smallest;  // internal keys
  std::string largest;
};
TableScan ScanTable(Env* env, const std::string& path, const SstDumpOptions& options,
                    std::ostream* out);
int DumpSst(const std::string& path, const SstDumpOptions& options, std::ostream& out);

// --- manifest_dump.cc ---
struct TableInfo {
  int level = 0;
  uint64_t number = 0;
  uint64_t file_size = 0;
  uint64_t entries = 0;
  std::string smallest;
  std::string largest;
};
struct ManifestScan {
  bool ok = false;
  std::string path;
  std::string error;
  std::string note;  // e.g. how the manifest was chosen
  uint64_t records = 0;
  bool torn_tail = false;
  std::optional<uint64_t> next_file_number;
  std::optional<uint64_t> last_sequence;
  std::optional<uint64_t> flushed_seq;
  std::vector<TableInfo> live;  // by level, then file number
};
// path: a manifest file, an LSM directory (uses CURRENT, else the newest manifest) or a data
// directory (its index/). With out != nullptr prints every edit.
ManifestScan ScanManifest(Env* env, const std::string& path, std::ostream* out);
int DumpManifest(const std::string& path, std::ostream& out);

// --- dir_dump.cc ---
int DumpDir(const std::string& dir, std::ostream& out);

}  // namespace rdb::dump
