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
//
// Cluster mode (a ClusterView): Append, Delete, Get, ReadStream, CommitGroupPosition and
// DeleteGroup are routed by their key (consumer groups by their system key "$group/<name>") with
// cluster::GroupOfKey. This node serves them when it is leader 1 of the key's group; otherwise
// the Forwarder sends them to that group's leader 1 and returns its answer verbatim. A request
// that was itself forwarded (metadata rdb-forwarded) and is not ours is refused with UNAVAILABLE
// "node X is not leader 1 of group g; retry": never a second hop. ReadAll and ListGroups gather
// every group's part from its leader 1 and merge them (server/cluster_read.h); a forwarded one is
// that group's part, served from this node's own log (the sender chose leader 1). Consumer
// groups are kept per group (CdcService::UseClusterShard). Subscribe, Status and ListMembers are
// served by this node.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include "cluster/membership.h"
#include "engine/engine.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "server/cdc_service.h"
#include "server/cluster_read.h"
#include "server/forwarder.h"
#include "server/merged_feed.h"
#include "server/metrics.h"
#include "server/validation.h"

namespace rdb::server {

struct ServiceOptions {
  size_t payload_bytes_max = kPayloadBytesMaxDefault;
  uint32_t requests_in_flight_max = 256;
  // Unacknowledged requests one AppendStream may have; the server stops reading the stream at this
  // many until acks go out (gRPC flow control then holds the client back).
  uint32_t append_stream_in_flight_max = 256;
  std::string data_dir;
  std::string fsync;    // for Status
  std::string address;  // host:port served on (ListMembers in single-node mode)
  // Cluster mode when set (not owned; outlives the service): requests are routed (above).
  cluster::Membership* cluster = nullptr;
  // The cluster shape's group count; required in cluster mode (while 0, routed requests fail
  // with UNAVAILABLE).
  uint32_t groups = 0;
  // Routing's view of the cluster (not owned; outlives the service). Null: the view of
  // `cluster`. Tests set it to route without etcd.
  ClusterView* cluster_view = nullptr;
  ForwarderOptions forwarder;
  // Cluster mode: called before leader 1 serves a Get or ReadStream itself, so the read is
  // linearizable (cluster::ClusterNode::ConfirmLeadership). Not set: reads are served as they are.
  std::function<rdb::Status()> confirm_leadership;
};

class EventStoreService final : public ::rdeebee::v1::EventStore::CallbackService {
 public:
  EventStoreService(Engine* engine, Metrics* metrics, CdcService* cdc, ServiceOptions options);
  ~EventStoreService() override;  // stops the forwarder (waits for forwarded calls)

  // New requests get UNAVAILABLE from now on (graceful shutdown); append streams end once their
  // accepted requests are acknowledged.
  void StartDraining();
  uint32_t in_flight() const { return in_flight_.load(); }

  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* ctx,
                                   const ::rdeebee::v1::AppendRequest* req,
                                   ::rdeebee::v1::AppendResponse* resp) override;
  // Each request is an Append, admitted, validated, routed and acknowledged on its own; the server
  // reads ahead up to append_stream_in_flight_max unacknowledged requests per stream.
  grpc::ServerBidiReactor<::rdeebee::v1::AppendStreamRequest, ::rdeebee::v1::AppendStreamResponse>*
  AppendStream(grpc::CallbackServerContext* ctx) override;
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
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::SubscribeRequest* req) override;
  // Cluster mode: ends the merged streams (UNAVAILABLE); called with CdcService::Shutdown.
  void ShutdownMergedFeed();
  grpc::ServerUnaryReactor* CommitGroupPosition(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::CommitGroupPositionRequest* req,
      ::rdeebee::v1::CommitGroupPositionResponse* resp) override;
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* ctx,
                                       const ::rdeebee::v1::ListGroupsRequest* req,
                                       ::rdeebee::v1::ListGroupsResponse* resp) override;
  // Blocks a callback thread on one etcd read in cluster mode (an operator's call, not a hot path).
  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* ctx,
                                        const ::rdeebee::v1::ListMembersRequest* req,
                                        ::rdeebee::v1::ListMembersResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteGroup(grpc::CallbackServerContext* ctx,
                                        const ::rdeebee::v1::DeleteGroupRequest* req,
                                        ::rdeebee::v1::DeleteGroupResponse* resp) override;

 private:
  class Slot;
  class Call;
  class AppendStreamReactor;
  // Validates an Append's request (limits, expected version) before it is routed; returns its
  // expected version.
  Result<ExpectedVersion> ValidateAppendRequest(const ::rdeebee::v1::AppendRequest& req) const;
  // Runs fn (returning rdb::Status) inline and finishes the call with its outcome.
  template <typename Fn>
  grpc::ServerUnaryReactor* Inline(Method method, grpc::CallbackServerContext* ctx, Fn&& fn);

  // Where a request for key goes in cluster mode.
  struct Route {
    bool local = true;  // serve it here
    uint32_t group = 0;
    rdb::Status refusal;  // not local and not OK: refuse with it; not local and OK: forward
  };
  Route RouteOf(std::string_view key, const grpc::CallbackServerContext& ctx) const;
  // False when key's request is served here. Else finishes call with the refusal, or hands it to
  // forward(group, done) and returns true.
  template <typename Forward>
  bool Routed(const std::shared_ptr<Call>& call, const grpc::CallbackServerContext& ctx,
              std::string_view key, Forward&& forward);
  // Get and ReadStream: admission, key validation, routing, then serve() inline if local.
  template <typename Serve, typename Forward>
  grpc::ServerUnaryReactor* RoutedRead(Method method, grpc::CallbackServerContext* ctx,
                                       const std::string& key, Serve&& serve, Forward&& forward);
  // Cluster mode: runs local(part) for this node's group if it is leader 1 there, and forwards
  // (forward(group, part, done)) to every other group's leader 1; the fan's done merges.
  template <typename Resp, typename Local, typename Forward>
  void Gather(const std::shared_ptr<FanOut<Resp>>& fan, Local&& local, Forward&& forward);
  rdb::Status ReadAllLocal(const ::rdeebee::v1::ReadAllRequest& req,
                           ::rdeebee::v1::ReadAllResponse* resp);
  rdb::Status GetLocal(const ::rdeebee::v1::GetRequest& req, ::rdeebee::v1::GetResponse* resp);
  rdb::Status ReadStreamLocal(const ::rdeebee::v1::ReadStreamRequest& req,
                              ::rdeebee::v1::ReadStreamResponse* resp);

  Engine* engine_;
  Metrics* metrics_;
  CdcService* cdc_;
  ServiceOptions options_;
  std::unique_ptr<ClusterView> own_view_;  // the view of options_.cluster, if no view was given
  ClusterView* view_ = nullptr;            // null in single-node mode
  std::unique_ptr<Forwarder> forwarder_;   // cluster mode only
  std::unique_ptr<MergedFeed> merged_;     // cluster mode only
  uint64_t start_us_;
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  absl::Mutex streams_mu_;
  std::set<AppendStreamReactor*> streams_ ABSL_GUARDED_BY(streams_mu_);  // open append streams
};

}  // namespace rdb::server
