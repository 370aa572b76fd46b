// A generated stub to the server rdb-client talks to, for the calls the client library does not
// wrap yet (ListMembers, Status's cluster fields). Defined in members.cc.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "base/status.h"
#include "client/client.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"

namespace rdb::cli {

std::unique_ptr<::rdeebee::v1::EventStore::Stub> RawStub(const client::Client& c);
// The gRPC outcome as a Status (message prefixed with `what`).
Status FromGrpc(const std::string& what, const grpc::Status& s);
void SetDeadline(grpc::ClientContext* ctx, double timeout_seconds);
// "leader1", "leader2", "follower", "joining" for a MemberRole value.
const char* MemberRoleName(int role);

}  // namespace rdb::cli
