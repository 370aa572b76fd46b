// Private to src/etcd: the generated etcd API, one endpoint's channel and stubs, and the
// conversions between etcd's protobuf messages and etcd/types.h. Included only by .cc files here.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "base/status.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd/types.h"

namespace rdb::etcd {

namespace pb = ::etcdserverpb;
namespace mvccpb = ::mvccpb;

struct Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<pb::Watch::Stub> watch;
};

// etcd's gRPC status as an rdb::Status: "etcd <what> <address>: <message>" (client.h's table).
Status FromGrpc(const grpc::Status& s, const std::string& what, const std::string& address,
                int64_t timeout_ms);

inline std::chrono::system_clock::time_point DeadlineIn(int64_t ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

KeyValue FromProto(const mvccpb::KeyValue& kv);
WatchEvent FromProto(const mvccpb::Event& e);
GetResult FromProto(const pb::RangeResponse& r);
PutResult FromProto(const pb::PutResponse& r);
DeleteResult FromProto(const pb::DeleteRangeResponse& r);

void ToProto(const std::string& key, const GetOptions& o, pb::RangeRequest* out);
void ToProto(const std::string& key, const std::string& value, const PutOptions& o,
             pb::PutRequest* out);
void ToProto(const std::string& key, const DeleteOptions& o, pb::DeleteRangeRequest* out);
void ToProto(const Txn& txn, pb::TxnRequest* out);
// The results of the branch that ran; kIoError if etcd sent a response kind we did not ask for.
Result<TxnResult> FromProto(const pb::TxnResponse& r);

}  // namespace rdb::etcd
