// Request validation for the EventStore service: limits checked before the engine is called, with
// messages that name the limit broken (CONTRACT.md's names: key_bytes_max, payload_bytes_max...).
#pragma once

#include <string>

#include "base/status.h"
#include "engine/engine.h"
#include "rdeebee/v1/rdeebee.pb.h"

namespace rdb::server {

// 1..kKeyBytesMax bytes, not starting with '$' (system keys).
Status ValidateRequestKey(const std::string& key);
Status ValidateIdempotencyId(const std::string& id);
// Key, idempotency id, 1..kBatchEventsMax events, each payload <= payload_bytes_max, each event
// type <= kEventTypeBytesMax, payloads and types <= kBatchBytesMax in all.
Status ValidateAppend(const ::rdeebee::v1::AppendRequest& req, size_t payload_bytes_max);
// Absent = ANY; unknown kinds and inconsistent versions are INVALID_ARGUMENT.
Result<ExpectedVersion> ConvertExpected(const ::rdeebee::v1::ExpectedVersion& e, bool present);
// 0 = kReadLimitDefault; above kReadLimitMax is INVALID_ARGUMENT.
Result<size_t> ConvertReadLimit(uint32_t limit);

}  // namespace rdb::server
