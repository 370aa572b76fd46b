#include "log/record.h"

#include <limits>

#include "base/coding.h"

namespace rdb {
namespace {

// The smallest encoding of one event: kind byte plus two empty length prefixes. Bounding the event
// count by the bytes left keeps a corrupt count from reserving memory the body cannot back.
constexpr size_t kEventBytesMin = 3;

Status Bad(std::string_view what) {
  return Status::Corruption("malformed record body: " + std::string(what));
}

bool GetBoundedBytes(std::string_view* in, size_t max_bytes, std::string_view* out) {
  return GetLengthPrefixed(in, out) && out->size() <= max_bytes;
}

Status DecodeEvent(std::string_view* in, LogEvent* ev) {
  if (in->empty()) return Bad("event truncated");
  const auto byte = static_cast<uint8_t>((*in)[0]);
  const uint8_t kind = byte & ~kEventFlagCreates;
  if (kind != static_cast<uint8_t>(EventKind::kPut) &&
      kind != static_cast<uint8_t>(EventKind::kDelete)) {
    return Bad("unknown event kind " + std::to_string(byte));
  }
  ev->creates = (byte & kEventFlagCreates) != 0;
  if (ev->creates && kind != static_cast<uint8_t>(EventKind::kPut)) {
    return Bad("a DELETE event carries the creates flag");
  }
  in->remove_prefix(1);
  ev->kind = static_cast<EventKind>(kind);
  if (!GetBoundedBytes(in, kEventTypeBytesMax, &ev->event_type)) return Bad("bad event type");
  if (!GetLengthPrefixed(in, &ev->payload)) return Bad("bad payload length");
  return Status::OK();
}

}  // namespace

void EncodeRecordBody(const LogRecord& record, std::string* dst) {
  RDB_DCHECK(!record.events.empty() && record.events.size() <= kBatchEventsMax);
  RDB_DCHECK(record.key.size() <= kKeyBytesMax);
  RDB_DCHECK(record.idempotency_id.size() <= kIdempotencyIdBytesMax);
  dst->push_back(static_cast<char>(kRecordTypeEvents));
  PutVarint64(dst, record.first_seq);
  PutVarint64(dst, record.first_version);
  PutVarint64(dst, record.epoch);
  PutVarint64(dst, record.timestamp_ms);
  PutLengthPrefixed(dst, record.key);
  PutLengthPrefixed(dst, record.idempotency_id);
  PutVarint32(dst, static_cast<uint32_t>(record.events.size()));
  for (const LogEvent& ev : record.events) {
    RDB_DCHECK(ev.event_type.size() <= kEventTypeBytesMax);
    RDB_DCHECK(!ev.creates || ev.kind == EventKind::kPut);
    dst->push_back(
        static_cast<char>(static_cast<uint8_t>(ev.kind) | (ev.creates ? kEventFlagCreates : 0)));
    PutLengthPrefixed(dst, ev.event_type);
    PutLengthPrefixed(dst, ev.payload);
  }
}

Status DecodeRecordBody(std::string_view body, LogRecord* out) {
  if (body.size() > kRecordBytesMax) return Bad("longer than the record limit");
  if (body.empty()) return Bad("empty");
  const auto type = static_cast<uint8_t>(body[0]);
  if (type != kRecordTypeEvents) return Bad("unknown record type " + std::to_string(type));
  std::string_view in = body.substr(1);
  if (!GetVarint64(&in, &out->first_seq) || !GetVarint64(&in, &out->first_version) ||
      !GetVarint64(&in, &out->epoch) || !GetVarint64(&in, &out->timestamp_ms)) {
    return Bad("truncated record header");
  }
  if (!GetBoundedBytes(&in, kKeyBytesMax, &out->key)) return Bad("bad key");
  if (!GetBoundedBytes(&in, kIdempotencyIdBytesMax, &out->idempotency_id)) {
    return Bad("bad idempotency id");
  }
  uint32_t count = 0;
  if (!GetVarint32(&in, &count) || count == 0 || count > kBatchEventsMax) {
    return Bad("bad event count");
  }
  if (count > in.size() / kEventBytesMin) return Bad("event count exceeds the body");
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (out->first_seq > kMax - (count - 1) || out->first_version > kMax - (count - 1)) {
    return Bad("seq or version range overflows");
  }
  out->events.resize(count);
  for (LogEvent& ev : out->events) RDB_RETURN_IF_ERROR(DecodeEvent(&in, &ev));
  if (!in.empty()) return Bad(std::to_string(in.size()) + " trailing bytes");
  return Status::OK();
}

}  // namespace rdb
