// The one mapping from rdb::Status to grpc::Status (STYLE.md: one error table, mapped in exactly
// one function). The client library holds the inverse (client/client.cc).
#pragma once

#include <grpcpp/grpcpp.h>

#include "base/status.h"

namespace rdb::server {

// Trailing metadata key carrying the actual version on an expected-version conflict (decimal).
inline constexpr char kActualVersionMetadataKey[] = "rdeebee-actual-version";

// Maps the code and keeps the message. When the status carries actual_version(), adds it to the
// trailing metadata of ctx (if not null) and makes sure the message states it.
//
//   kOk -> OK                         kNotFound -> NOT_FOUND
//   kInvalidArgument -> INVALID_ARGUMENT
//   kFailedPrecondition -> FAILED_PRECONDITION
//   kCorruption -> DATA_LOSS          kIoError -> INTERNAL
//   kNoSpace -> RESOURCE_EXHAUSTED    kResourceExhausted -> RESOURCE_EXHAUSTED
//   kUnavailable -> UNAVAILABLE       kAlreadyExists -> ALREADY_EXISTS
//   kNotSupported -> UNIMPLEMENTED    kAborted -> ABORTED
grpc::Status ToGrpcStatus(const Status& status, grpc::ServerContextBase* ctx);

}  // namespace rdb::server
