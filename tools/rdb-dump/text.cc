// Shared formatting for rdb-dump: quoting bytes, decoding index keys and values for humans.
#include <cinttypes>
#include <cstdio>

#include "engine/index_keys.h"
#include "lsm/format.h"
#include "tools/rdb-dump/dump.h"

namespace rdb::dump {

std::string Quote(std::string_view bytes, size_t limit) {
  const size_t n = limit == 0 ? bytes.size() : std::min(bytes.size(), limit);
  std::string s;
  s.reserve(n + 2);
  s.push_back('"');
  for (size_t i = 0; i < n; i++) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '"':
        s += "\\\"";
        break;
      case '\\':
        s += "\\\\";
        break;
      case '\n':
        s += "\\n";
        break;
      case '\r':
        s += "\\r";
        break;
      case '\t':
        s += "\\t";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          s.push_back(static_cast<char>(c));
        } else {
          char buf[5];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          s += buf;
        }
    }
  }
  s.push_back('"');
  if (n < bytes.size()) s += "...(+" + std::to_string(bytes.size() - n) + " bytes)";
  return s;
}

std::string DescribeIndexKey(std::string_view user_key) {
  std::string s = Quote(user_key, 256);
  index::ParsedIndexKey k;
  if (!index::ParseIndexKey(user_key, &k)) return s + " (not an engine index key)";
  switch (k.tag) {
    case index::kLatestTag:
      return s + " = latest " + Quote(k.key, 256);
    case index::kStreamTag:
      return s + " = stream " + Quote(k.key, 256) + " v" + std::to_string(k.version);
    default:
      return s + " = idem " + Quote(k.key, 256) + " id " + Quote(k.idempotency_id, 256);
  }
}

std::string DescribeInternalKey(std::string_view ikey) {
  lsm::ParsedInternalKey p;
  if (!lsm::ParseInternalKey(ikey, &p)) return Quote(ikey, 256) + " (malformed internal key)";
  return DescribeIndexKey(p.user_key) + " @" + std::to_string(p.seq) +
         (p.type == lsm::ValueType::kValue ? " value" : " deletion");
}

namespace {

std::string DescribePointer(const index::Pointer& p) {
  return "seq=" + std::to_string(p.seq) + " log=" + std::to_string(p.position.segment) + ":" +
         std::to_string(p.position.offset) + " event#" + std::to_string(p.index_in_record);
}

}  // namespace

std::string DescribeIndexValue(std::string_view user_key, std::string_view value, size_t limit) {
  index::ParsedIndexKey k;
  if (index::ParseIndexKey(user_key, &k)) {
    if (k.tag == index::kLatestTag) {
      index::Latest v;
      if (index::DecodeLatest(value, &v)) {
        return "version=" + std::to_string(v.version) +
               (v.kind == EventKind::kPut ? " PUT " : " DELETE ") + DescribePointer(v.ptr);
      }
    } else if (k.tag == index::kStreamTag) {
      index::Pointer p;
      if (index::DecodePointer(value, &p)) return DescribePointer(p);
    } else {
      index::IdempotencyEntry e;
      if (index::DecodeIdempotency(value, &e)) {
        return "first_seq=" + std::to_string(e.first_seq) +
               " first_version=" + std::to_string(e.first_version) +
               " count=" + std::to_string(e.count);
      }
    }
  }
  return "raw " + Quote(value, limit) + " (not a decodable index value)";
}

std::string Bytes(uint64_t n) {
  std::string s = std::to_string(n) + " B";
  if (n >= 1024) {
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n) / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) {
      v /= 1024;
      u++;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), " (%.1f %s)", v, units[u]);
    s += buf;
  }
  return s;
}

}  // namespace rdb::dump
