#include "engine/index_keys.h"

#include "base/coding.h"

namespace rdb::index {
namespace {

std::string TaggedKey(char tag, std::string_view key, size_t extra) {
  std::string k;
  k.reserve(1 + kMaxVarint64Bytes + key.size() + extra);
  k.push_back(tag);
  PutLengthPrefixed(&k, key);
  return k;
}

void PutPointer(std::string* dst, const Pointer& p) {
  PutVarint64(dst, p.seq);
  PutVarint64(dst, p.position.segment);
  PutVarint64(dst, p.position.offset);
  PutVarint32(dst, p.index_in_record);
}

bool GetPointer(std::string_view* in, Pointer* p) {
  return GetVarint64(in, &p->seq) && GetVarint64(in, &p->position.segment) &&
         GetVarint64(in, &p->position.offset) && GetVarint32(in, &p->index_in_record);
}

}  // namespace

std::string LatestKey(std::string_view key) {
  std::string k;
  k.reserve(1 + key.size());
  k.push_back(kLatestTag);
  k.append(key);
  return k;
}

std::string StreamKey(std::string_view key, uint64_t version) {
  std::string k = TaggedKey(kStreamTag, key, 8);
  PutBigEndian64(&k, version);
  return k;
}

std::string IdempotencyKey(std::string_view key, std::string_view id) {
  std::string k = TaggedKey(kIdempotencyTag, key, id.size());
  k.append(id);
  return k;
}

bool ParseIndexKey(std::string_view index_key, ParsedIndexKey* out) {
  if (index_key.empty()) return false;
  *out = ParsedIndexKey{};
  out->tag = index_key[0];
  std::string_view in = index_key.substr(1);
  switch (out->tag) {
    case kLatestTag:
      out->key = in;
      return true;
    case kStreamTag:
      return GetLengthPrefixed(&in, &out->key) && GetBigEndian64(&in, &out->version) && in.empty();
    case kIdempotencyTag:
      if (!GetLengthPrefixed(&in, &out->key)) return false;
      out->idempotency_id = in;
      return true;
    default:
      return false;
  }
}

std::string EncodeLatest(const Latest& v) {
  std::string s;
  PutVarint64(&s, v.version);
  s.push_back(static_cast<char>(v.kind));
  PutPointer(&s, v.ptr);
  return s;
}

bool DecodeLatest(std::string_view in, Latest* v) {
  if (!GetVarint64(&in, &v->version) || in.empty()) return false;
  auto kind = static_cast<uint8_t>(in[0]);
  if (kind != static_cast<uint8_t>(EventKind::kPut) &&
      kind != static_cast<uint8_t>(EventKind::kDelete)) {
    return false;
  }
  v->kind = static_cast<EventKind>(kind);
  in.remove_prefix(1);
  return GetPointer(&in, &v->ptr) && in.empty();
}

std::string EncodePointer(const Pointer& v) {
  std::string s;
  PutPointer(&s, v);
  return s;
}

bool DecodePointer(std::string_view in, Pointer* v) { return GetPointer(&in, v) && in.empty(); }

std::string EncodeIdempotency(const IdempotencyEntry& v) {
  std::string s;
  PutVarint64(&s, v.first_seq);
  PutVarint64(&s, v.first_version);
  PutVarint64(&s, v.count);
  return s;
}

bool DecodeIdempotency(std::string_view in, IdempotencyEntry* v) {
  return GetVarint64(&in, &v->first_seq) && GetVarint64(&in, &v->first_version) &&
         GetVarint64(&in, &v->count) && in.empty();
}

}  // namespace rdb::index
