// rdb-client members [--json]: every live node of the cluster, one line each: group, node,
// address, role, epoch, last_seq and lag behind leader 1. In single-node mode, the server itself.
//
// ListMembers and Status's cluster fields are not wrapped by the client library yet, so this file
// talks to the server with a generated stub of its own (RawStub, also used by status.cc).
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/rdb-client/common.h"
#include "tools/rdb-client/raw_stub.h"

namespace rdb::cli {

namespace pb = ::rdeebee::v1;

std::unique_ptr<pb::EventStore::Stub> RawStub(const client::Client& c) {
  return pb::EventStore::NewStub(
      grpc::CreateChannel(c.address(), grpc::InsecureChannelCredentials()));
}

Status FromGrpc(const std::string& what, const grpc::Status& s) {
  if (s.ok()) return Status::OK();
  std::string msg = what + ": " + s.error_message();
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED)
    return Status::NotSupported(msg + " (the server predates this call)");
  return Status::Unavailable(msg);
}

void SetDeadline(grpc::ClientContext* ctx, double timeout_seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
}

const char* MemberRoleName(int role) {
  switch (role) {
    case pb::MEMBER_ROLE_LEADER1:
      return "leader1";
    case pb::MEMBER_ROLE_LEADER2:
      return "leader2";
    case pb::MEMBER_ROLE_FOLLOWER:
      return "follower";
    case pb::MEMBER_ROLE_JOINING:
      return "joining";
    default:
      return "unknown";
  }
}

namespace {

int RunMembers(const Options& o, client::Client& c) {
  auto stub = RawStub(c);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, o.timeout_seconds);
  pb::ListMembersRequest req;
  pb::ListMembersResponse resp;
  Status s = FromGrpc("members", stub->ListMembers(&ctx, req, &resp));
  if (!s.ok()) return Fail(s);
  for (const pb::Member& m : resp.members()) {
    if (o.json) {
      nlohmann::ordered_json j;
      j["group"] = m.group();
      j["node"] = m.node();
      j["address"] = m.address();
      j["id"] = m.id();
      j["role"] = MemberRoleName(m.role());
      j["epoch"] = m.epoch();
      j["last_seq"] = m.last_seq();
      j["lag"] = m.lag();
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "group=" << m.group() << " node=" << m.node() << " address=" << m.address()
                << " role=" << MemberRoleName(m.role()) << " epoch=" << m.epoch()
                << " last_seq=" << m.last_seq() << " lag=" << m.lag() << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

Verb MembersVerb() {
  return {"members",
          "List the cluster's live nodes: group, node, address, role, epoch, last_seq, lag",
          {},
          false,
          RunMembers};
}

}  // namespace rdb::cli
