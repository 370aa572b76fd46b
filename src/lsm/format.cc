#include "lsm/format.h"

#include <charconv>
#include <cstdio>

namespace rdb::lsm {

bool ParseInternalKey(std::string_view ikey, ParsedInternalKey* out) {
  if (ikey.size() < kTrailerBytes) return false;
  uint64_t trailer = ExtractTrailer(ikey);
  uint8_t type = static_cast<uint8_t>(trailer & 0xff);
  if (type > static_cast<uint8_t>(ValueType::kValue)) return false;
  out->user_key = ExtractUserKey(ikey);
  out->seq = trailer >> 8;
  out->type = static_cast<ValueType>(type);
  return true;
}

void AppendInternalKey(std::string* dst, std::string_view user_key, uint64_t seq, ValueType type) {
  dst->append(user_key);
  PutFixed64(dst, PackTrailer(seq, type));
}

LookupKey::LookupKey(std::string_view user_key) {
  size_ = user_key.size() + kTrailerBytes;
  data_ = size_ <= sizeof(inline_) ? inline_ : new char[size_];
  if (!user_key.empty()) std::memcpy(data_, user_key.data(), user_key.size());
  EncodeFixed64(data_ + user_key.size(), PackTrailer(kMaxSequence, ValueType::kValue));
}

LookupKey::~LookupKey() {
  if (data_ != inline_) delete[] data_;
}

namespace {

std::string Numbered(const char* fmt, uint64_t number) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, static_cast<unsigned long long>(number));
  return buf;
}

bool ParseNumber(std::string_view s, uint64_t* number) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *number);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::string TableFileName(uint64_t number) { return Numbered("%06llu.sst", number); }
std::string ManifestFileName(uint64_t number) { return Numbered("MANIFEST-%06llu", number); }

FileType ParseFileName(std::string_view name, uint64_t* number) {
  if (name == kCurrentFileName) return FileType::kCurrent;
  if (name == kLockFileName) return FileType::kLock;
  if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") return FileType::kTemp;
  constexpr std::string_view kManifestPrefix = "MANIFEST-";
  if (name.substr(0, kManifestPrefix.size()) == kManifestPrefix) {
    return ParseNumber(name.substr(kManifestPrefix.size()), number) ? FileType::kManifest
                                                                    : FileType::kUnknown;
  }
  if (name.size() > 4 && name.substr(name.size() - 4) == ".sst") {
    return ParseNumber(name.substr(0, name.size() - 4), number) ? FileType::kTable
                                                                : FileType::kUnknown;
  }
  return FileType::kUnknown;
}

}  // namespace rdb::lsm
