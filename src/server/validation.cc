#include "server/validation.h"

namespace rdb::server {

namespace pb = ::rdeebee::v1;

namespace {
std::string Size(size_t n) { return std::to_string(n) + " bytes"; }
}  // namespace

rdb::Status ValidateIdempotencyId(const std::string& id) {
  if (id.size() > kIdempotencyIdBytesMax)
    return rdb::Status::InvalidArgument("idempotency_id is " + Size(id.size()) +
                                        ", over idempotency_id_bytes_max (" +
                                        std::to_string(kIdempotencyIdBytesMax) + ")");
  return rdb::Status::OK();
}

rdb::Result<size_t> ConvertReadLimit(uint32_t limit) {
  if (limit == 0) return kReadLimitDefault;
  if (limit > kReadLimitMax)
    return rdb::Status::InvalidArgument("limit " + std::to_string(limit) +
                                        " is over read_limit_max (" +
                                        std::to_string(kReadLimitMax) + ")");
  return static_cast<size_t>(limit);
}

rdb::Status ValidateRequestKey(const std::string& key) {
  if (key.empty()) return rdb::Status::InvalidArgument("key is empty (keys are 1..1024 bytes)");
  if (key.size() > kKeyBytesMax)
    return rdb::Status::InvalidArgument("key is " + Size(key.size()) + ", over key_bytes_max (" +
                                        std::to_string(kKeyBytesMax) + ")");
  if (key[0] == kSystemKeyPrefix)
    return rdb::Status::InvalidArgument("keys beginning with '$' are reserved for the system");
  return rdb::Status::OK();
}

rdb::Status ValidateAppend(const pb::AppendRequest& req, size_t payload_bytes_max) {
  RDB_RETURN_IF_ERROR(ValidateRequestKey(req.key()));
  RDB_RETURN_IF_ERROR(ValidateIdempotencyId(req.idempotency_id()));
  if (req.events_size() == 0)
    return rdb::Status::InvalidArgument("an append needs at least one event");
  if (static_cast<size_t>(req.events_size()) > kBatchEventsMax)
    return rdb::Status::InvalidArgument("batch has " + std::to_string(req.events_size()) +
                                        " events, over batch_events_max (" +
                                        std::to_string(kBatchEventsMax) + ")");
  size_t total = 0;
  for (int i = 0; i < req.events_size(); i++) {
    const auto& e = req.events(i);
    std::string where = req.events_size() == 1 ? "" : " of event " + std::to_string(i);
    if (e.payload().size() > payload_bytes_max)
      return rdb::Status::InvalidArgument("payload" + where + " is " + Size(e.payload().size()) +
                                          ", over payload_bytes_max (" +
                                          std::to_string(payload_bytes_max) + ")");
    if (e.event_type().size() > kEventTypeBytesMax)
      return rdb::Status::InvalidArgument(
          "event_type" + where + " is " + Size(e.event_type().size()) +
          ", over event_type_bytes_max (" + std::to_string(kEventTypeBytesMax) + ")");
    total += e.payload().size() + e.event_type().size();
  }
  if (total > kBatchBytesMax)
    return rdb::Status::InvalidArgument("batch holds " + Size(total) + ", over batch_bytes_max (" +
                                        std::to_string(kBatchBytesMax) + ")");
  return rdb::Status::OK();
}

rdb::Result<ExpectedVersion> ConvertExpected(const pb::ExpectedVersion& e, bool present) {
  if (!present) return ExpectedVersion::Any();
  switch (e.kind()) {
    case pb::EXPECTED_VERSION_KIND_UNSPECIFIED:
    case pb::EXPECTED_VERSION_KIND_ANY:
      if (e.version() != 0)
        return rdb::Status::InvalidArgument(
            "expected_version.version is set but kind is not EXACT");
      return ExpectedVersion::Any();
    case pb::EXPECTED_VERSION_KIND_NO_STREAM:
      if (e.version() != 0)
        return rdb::Status::InvalidArgument(
            "expected_version.version is set but kind is NO_STREAM");
      return ExpectedVersion::NoStream();
    case pb::EXPECTED_VERSION_KIND_EXACT:
      if (e.version() == 0)
        return rdb::Status::InvalidArgument(
            "expected_version EXACT needs a version >= 1 (use NO_STREAM for a new key)");
      return ExpectedVersion::Exact(e.version());
    default:
      return rdb::Status::InvalidArgument("unknown expected_version.kind " +
                                          std::to_string(static_cast<int>(e.kind())));
  }
}

}  // namespace rdb::server
