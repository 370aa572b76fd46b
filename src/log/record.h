// The event log record: one append request (one event or an atomic batch on one key).
//
// Byte layout, worked example and crash windows: docs/formats/log.md. The body codec lives here;
// the framing (checksum + length) is FrameRecord in event_log.h.
//
// Event i of a record has seq = first_seq + i and version = first_version + i: a batch takes
// consecutive seqs and versions, so a record is stored, replicated and truncated as one unit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace rdb {

enum class EventKind : uint8_t { kPut = 1, kDelete = 2 };

constexpr uint8_t kRecordTypeEvents = 1;  // the only record type of format version 1

// Limits that decoding enforces, so a corrupt length can never make us allocate wildly.
constexpr size_t kKeyBytesMax = 1024;
constexpr size_t kEventTypeBytesMax = 128;
constexpr size_t kIdempotencyIdBytesMax = 128;
constexpr size_t kBatchEventsMax = 1000;
constexpr size_t kRecordBytesMax = 64ull << 20;  // 16 MiB batch + generous slack for framing

// Flag bit in an event's kind byte: this PUT gave the key a value it did not have (the key had no
// events, or its preceding event was a DELETE). Change data capture reports it as CREATE vs UPDATE
// without looking the previous event up.
constexpr uint8_t kEventFlagCreates = 0x80;

struct LogEvent {
  EventKind kind = EventKind::kPut;
  bool creates = false;  // a PUT on a key without a value (see kEventFlagCreates)
  std::string_view event_type;
  std::string_view payload;
};

// A decoded record. Views point into the buffer it was decoded from.
struct LogRecord {
  uint64_t epoch = 0;  // fencing epoch of the leader that wrote it; 0 in single-node mode
  uint64_t first_seq = 0;
  uint64_t first_version = 0;
  uint64_t timestamp_ms = 0;  // commit time, shared by the record's events
  std::string_view key;
  std::string_view idempotency_id;  // empty = none
  std::vector<LogEvent> events;     // 1..kBatchEventsMax

  uint64_t last_seq() const { return first_seq + events.size() - 1; }
  uint64_t last_version() const { return first_version + events.size() - 1; }
};

// Appends the record body (not framed) to *dst.
void EncodeRecordBody(const LogRecord& record, std::string* dst);
// Decodes a record body. Fails with kCorruption on anything malformed (never crashes, never reads
// out of bounds); the caller annotates the error with the file and offset.
Status DecodeRecordBody(std::string_view body, LogRecord* out);

}  // namespace rdb
