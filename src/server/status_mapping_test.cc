#include "server/status_mapping.h"

#include <gtest/gtest.h>

namespace rdb::server {
namespace {

TEST(StatusMapping, EveryCode) {
  struct Case {
    Status in;
    grpc::StatusCode out;
  };
  Case cases[] = {
      {Status::OK(), grpc::StatusCode::OK},
      {Status::NotFound("k"), grpc::StatusCode::NOT_FOUND},
      {Status::InvalidArgument("k"), grpc::StatusCode::INVALID_ARGUMENT},
      {Status::FailedPrecondition("k"), grpc::StatusCode::FAILED_PRECONDITION},
      {Status::Corruption("k"), grpc::StatusCode::DATA_LOSS},
      {Status::IoError("k"), grpc::StatusCode::INTERNAL},
      {Status::NoSpace("k"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Status::ResourceExhausted("k"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Status::Unavailable("k"), grpc::StatusCode::UNAVAILABLE},
      {Status::AlreadyExists("k"), grpc::StatusCode::ALREADY_EXISTS},
      {Status::NotSupported("k"), grpc::StatusCode::UNIMPLEMENTED},
      {Status::Aborted("k"), grpc::StatusCode::ABORTED},
  };
  for (const auto& c : cases) {
    grpc::Status g = ToGrpcStatus(c.in, nullptr);
    EXPECT_EQ(g.error_code(), c.out) << c.in.ToString();
    if (!c.in.ok()) {
      EXPECT_NE(g.error_message().find("k"), std::string::npos);
    }
  }
}

TEST(StatusMapping, ActualVersionIsInTheMessage) {
  Status s = Status::FailedPrecondition("expected version 3");
  s.WithActualVersion(5);
  grpc::Status g = ToGrpcStatus(s, nullptr);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(g.error_message().find("actual version 5"), std::string::npos) << g.error_message();

  Status already = Status::FailedPrecondition("expected version 3, actual version 5");
  already.WithActualVersion(5);
  EXPECT_EQ(ToGrpcStatus(already, nullptr).error_message(), already.message());
}

}  // namespace
}  // namespace rdb::server
