// EventStoreService: the rdeebee.v1.EventStore gRPC service on top of rdb::Engine.
//
// Every handler: takes a slot among requests_in_flight_max (else RESOURCE_EXHAUSTED), refuses work
// whose deadline already passed, validates the request with messages
// naming the limit broken, calls the engine, maps the Status with ToGrpcStatus, and records
// metrics.
//
// Runs on gRPC's callback API: no thread is parked per request. Appends and deletes go to the
// engine's async path and are finished by the commit leader once durable; reads run inline on the
// gRPC thread that received them (they are short). The change-data-capture methods forward to
// CdcService. Thread-safety: all methods may run concurrently; the engine is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cluster/membership.h"
#include "engine/engine.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "server/cdc_service.h"
#include "server/metrics.h"
#include "server/validation.h"

namespace rdb::server {

struct ServiceOptions {
  size_t payload_bytes_max = kPayloadBytesMaxDefault;
  uint32_t requests_in_flight_max = 256;
  std::string data_dir;
  std::string fsync;    // for Status
  std::string address;  // host:port served on (ListMembers in single-node mode)
  // Cluster mode when set (not owned; outlives the service). Writes are refused with UNAVAILABLE
  // until replication exists (issue 6); reads and Status use the local engine.
  cluster::Membership* cluster = nullptr;
};

// The refusal of every write in cluster mode, until replication is built.
inline constexpr char kClusterWritesUnavailable[] =
    "cluster writes need replication, which is not built yet (issue 6)";

class EventStoreService final : public ::rdeebee::v1::EventStore::CallbackService {
 public:
  EventStoreService(Engine* engine, Metrics* metrics, CdcService* cdc, ServiceOptions options);

  // New requests get UNAVAILABLE from now on (graceful shutdown).
  void StartDraining() { draining_.store(true); }
  uint32_t in_flight() const { return in_flight_.load(); }

  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* ctx,
                                   const ::rdeebee::v1::AppendRequest* req,
                                   ::rdeebee::v1::AppendResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const ::rdeebee::v1::DeleteRequest* req,
                                   ::rdeebee::v1::DeleteResponse* resp) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const ::rdeebee::v1::GetRequest* req,
                                ::rdeebee::v1::GetResponse* resp) override;
  grpc::ServerUnaryReactor* ReadStream(grpc::CallbackServerContext* ctx,
                                       const ::rdeebee::v1::ReadStreamRequest* req,
                                       ::rdeebee::v1::ReadStreamResponse* resp) override;
  grpc::ServerUnaryReactor* ReadAll(grpc::CallbackServerContext* ctx,
                                    const ::rdeebee::v1::ReadAllRequest* req,
                                    ::rdeebee::v1::ReadAllResponse* resp) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const ::rdeebee::v1::StatusRequest* req,
                                   ::rdeebee::v1::StatusResponse* resp) override;

  grpc::ServerWriteReactor<::rdeebee::v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::SubscribeRequest* req) override {
    return cdc_->Subscribe(ctx, req);
  }
  grpc::ServerUnaryReactor* CommitGroupPosition(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::CommitGroupPositionRequest* req,
      ::rdeebee::v1::CommitGroupPositionResponse* resp) override;
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* ctx,
                                       const ::rdeebee::v1::ListGroupsRequest* req,
                                       ::rdeebee::v1::ListGroupsResponse* resp) override {
    return cdc_->ListGroups(ctx, req, resp);
  }
  // Blocks a callback thread on one etcd read in cluster mode (an operator's call, not a hot path).
  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* ctx,
                                        const ::rdeebee::v1::ListMembersRequest* req,
                                        ::rdeebee::v1::ListMembersResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteGroup(grpc::CallbackServerContext* ctx,
                                        const ::rdeebee::v1::DeleteGroupRequest* req,
                                        ::rdeebee::v1::DeleteGroupResponse* resp) override {
    return cdc_->DeleteGroup(ctx, req, resp);
  }

 private:
  class Call;
  // Runs fn (returning rdb::Status) inline and finishes the call with its outcome.
  template <typename Fn>
  grpc::ServerUnaryReactor* Inline(Method method, grpc::CallbackServerContext* ctx, Fn&& fn);

  Engine* engine_;
  Metrics* metrics_;
  CdcService* cdc_;
  ServiceOptions options_;
  uint64_t start_us_;
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace rdb::server
