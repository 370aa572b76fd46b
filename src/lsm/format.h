// Internal keys, shared constants and file names of the LSM tree.
//
// An internal key is the user key followed by an 8-byte little-endian trailer
// (sequence << 8 | type). Internal keys order by user key ascending, then trailer descending, so
// the newest entry of a user key comes first. The sequence here is the tree's own write counter
// (one per Put/Delete), not the event log seq: two writes that carry the same log seq still get
// distinct, ordered internal sequences, so "newest wins" never depends on a tie.
// Formats: docs/formats/sstable.md, docs/formats/manifest.md.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/coding.h"

namespace rdb::lsm {

constexpr int kNumLevels = 7;
constexpr size_t kTrailerBytes = 8;
constexpr uint64_t kMaxSequence = (uint64_t{1} << 56) - 1;
// Limits on what a write may carry (validated in Put; block and memtable encodings rely on them).
constexpr size_t kKeyBytesMax = 64 << 10;
constexpr size_t kValueBytesMax = 32 << 20;

enum class ValueType : uint8_t { kDeletion = 0, kValue = 1 };

// What a point lookup in one component (memtable or table) found.
enum class LookupResult { kAbsent, kFound, kDeleted };

inline uint64_t PackTrailer(uint64_t seq, ValueType type) {
  return (seq << 8) | static_cast<uint8_t>(type);
}

struct ParsedInternalKey {
  std::string_view user_key;
  uint64_t seq = 0;
  ValueType type = ValueType::kValue;
};

// False if ikey is shorter than a trailer or carries an unknown type.
bool ParseInternalKey(std::string_view ikey, ParsedInternalKey* out);

inline std::string_view ExtractUserKey(std::string_view ikey) {
  return ikey.substr(0, ikey.size() - kTrailerBytes);
}
inline uint64_t ExtractTrailer(std::string_view ikey) {
  return DecodeFixed64(ikey.data() + ikey.size() - kTrailerBytes);
}

void AppendInternalKey(std::string* dst, std::string_view user_key, uint64_t seq, ValueType type);

// Byte-wise user key order.
inline int CompareUserKey(std::string_view a, std::string_view b) {
  size_t n = a.size() < b.size() ? a.size() : b.size();
  int r = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  if (r != 0) return r;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// Internal key order: user key ascending, then trailer (seq, type) descending. Both arguments must
// be at least kTrailerBytes long.
inline int CompareInternalKey(std::string_view a, std::string_view b) {
  int r = CompareUserKey(ExtractUserKey(a), ExtractUserKey(b));
  if (r != 0) return r;
  uint64_t ta = ExtractTrailer(a);
  uint64_t tb = ExtractTrailer(b);
  return ta > tb ? -1 : (ta < tb ? 1 : 0);
}

// The internal key that sorts before every entry of user_key: (user_key, kMaxSequence, kValue).
// Short keys live in an inline buffer, so a Get does not allocate.
class LookupKey {
 public:
  explicit LookupKey(std::string_view user_key);
  ~LookupKey();
  LookupKey(const LookupKey&) = delete;
  LookupKey& operator=(const LookupKey&) = delete;

  std::string_view internal_key() const { return {data_, size_}; }
  std::string_view user_key() const { return {data_, size_ - kTrailerBytes}; }

 private:
  char* data_;
  size_t size_;
  char inline_[120];
};

// File names inside the tree's directory.
enum class FileType { kTable, kManifest, kCurrent, kLock, kTemp, kUnknown };
std::string TableFileName(uint64_t number);     // "000123.sst"
std::string ManifestFileName(uint64_t number);  // "MANIFEST-000123"
inline constexpr const char* kCurrentFileName = "CURRENT";
inline constexpr const char* kLockFileName = "LOCK";
// Parses a directory entry name; *number is set for tables and manifests.
FileType ParseFileName(std::string_view name, uint64_t* number);

}  // namespace rdb::lsm
