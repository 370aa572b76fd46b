#include "server/status_mapping.h"

#include <string>

namespace rdb::server {

grpc::Status ToGrpcStatus(const Status& status, grpc::ServerContextBase* ctx) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message = status.message();
  switch (status.code()) {
    case Code::kOk:
      return grpc::Status::OK;
    case Code::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case Code::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case Code::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case Code::kCorruption:
      code = grpc::StatusCode::DATA_LOSS;
      break;
    case Code::kIoError:
      code = grpc::StatusCode::INTERNAL;
      break;
    case Code::kNoSpace:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      message = "disk full: " + message;
      break;
    case Code::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case Code::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case Code::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case Code::kNotSupported:
      code = grpc::StatusCode::UNIMPLEMENTED;
      break;
    case Code::kAborted:
      code = grpc::StatusCode::ABORTED;
      break;
  }
  if (auto actual = status.actual_version()) {
    std::string v = std::to_string(*actual);
    if (message.find("actual version " + v) == std::string::npos)
      message += (message.empty() ? "" : "; ") + std::string("actual version ") + v;
    if (ctx != nullptr) ctx->AddTrailingMetadata(kActualVersionMetadataKey, v);
  }
  if (message.empty()) message = std::string(CodeName(status.code()));
  return grpc::Status(code, message);
}

}  // namespace rdb::server
