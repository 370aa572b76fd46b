// How the engine lays out its index entries in the LSM tree (docs/design/engine.md).
//
//   'L' key                              -> latest: version, seq, kind, log position, index in
//   record 'S' varint(len) key BE64(version)    -> stream entry: seq, log position, index in record
//   'I' varint(len) key idempotency_id   -> append result: first seq, first version, count
//
// Values hold positions into the event log, never payloads (WiscKey-style): the log is written once
// and the index stays small. All values are varint-encoded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "log/event_log.h"
#include "log/record.h"

namespace rdb::index {

constexpr char kLatestTag = 'L';
constexpr char kStreamTag = 'S';
constexpr char kIdempotencyTag = 'I';

struct Pointer {
  uint64_t seq = 0;
  LogPosition position;
  uint32_t index_in_record = 0;
};

struct Latest {
  uint64_t version = 0;
  EventKind kind = EventKind::kPut;
  Pointer ptr;
};

struct IdempotencyEntry {
  uint64_t first_seq = 0;
  uint64_t first_version = 0;
  uint64_t count = 0;
};

std::string LatestKey(std::string_view key);
std::string StreamKey(std::string_view key, uint64_t version);
std::string IdempotencyKey(std::string_view key, std::string_view id);

// An index key taken apart (the inverse of the three functions above), for tools and tests.
struct ParsedIndexKey {
  char tag = 0;  // kLatestTag, kStreamTag or kIdempotencyTag
  std::string_view key;
  uint64_t version = 0;             // kStreamTag only
  std::string_view idempotency_id;  // kIdempotencyTag only
};
// False if index_key is not in one of the three layouts. Views point into index_key.
bool ParseIndexKey(std::string_view index_key, ParsedIndexKey* out);

std::string EncodeLatest(const Latest& v);
bool DecodeLatest(std::string_view in, Latest* v);
std::string EncodePointer(const Pointer& v);
bool DecodePointer(std::string_view in, Pointer* v);
std::string EncodeIdempotency(const IdempotencyEntry& v);
bool DecodeIdempotency(std::string_view in, IdempotencyEntry* v);

}  // namespace rdb::index
