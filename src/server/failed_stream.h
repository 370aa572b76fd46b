// FailedStream: a server-streaming call refused before it starts (finished at once with the
// status; deletes itself when gRPC is done with it). Shared by Subscribe's implementations.
#pragma once

#include <grpcpp/grpcpp.h>

namespace rdb::server {

template <typename Response>
class FailedStream final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FailedStream(const grpc::Status& s) { this->Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace rdb::server
