// CdcService: the change-data-capture RPCs of rdeebee.v1.EventStore (Subscribe and the consumer
// group calls) on gRPC's callback API. EventStoreService forwards these four methods here.
//
// Thread-safety: every method may run concurrently.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cdc/groups.h"
#include "engine/engine.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "server/metrics.h"

namespace rdb::server {

struct CdcOptions {
  // Open Subscribe streams; more get RESOURCE_EXHAUSTED.
  uint32_t subscribers_max = 1024;
  // live_batch_delay_us: a stream on the live tail whose previous message has been written and
  // that has fewer than live_batch_changes new seqs available waits up to this long for more, so
  // one message carries the changes of several commits (docs/cdc.md, "live path"). 0 = no wait.
  uint32_t live_batch_delay_us = 1000;
  uint32_t live_batch_changes = 256;
  // Cluster mode: this node's group's committed watermark while it is leader 1
  // (cluster::ClusterNode::CommittedWatermark; kFailedPrecondition when it is not). Needed for
  // group_feed streams (docs/design/merged-feed.md); empty in single-node mode.
  std::function<Result<uint64_t>()> group_watermark;
};

class CdcService {
 public:
  CdcService(Engine* engine, Metrics* metrics, CdcOptions options);
  ~CdcService();

  // Ends every open subscription with UNAVAILABLE ("server is shutting down") and refuses new
  // ones; returns when every stream has finished. Idempotent. Called before the gRPC server stops.
  void Shutdown();

  // The group's committed watermark rose: group_feed streams with nothing to send look again.
  // Cheap; may be called from the engine's commit thread.
  void NotifyWatermark();

  // Cluster mode: a consumer group of this node's shard for a merged stream: its lease (the one
  // active consumer) and its stored position, if it has one.
  struct GroupClaim {
    std::unique_ptr<cdc::GroupStore::Lease> lease;
    std::optional<uint64_t> position;
  };
  Result<GroupClaim> ClaimGroup(const std::string& name);

  // Cluster mode (EventStoreService calls this before serving): consumer groups are those of this
  // node's shard, listed under registry_key, and positions are not bounded by the local log
  // (cdc::GroupStoreOptions). Only before the first request.
  void UseClusterShard(std::string registry_key);

  // How the log is read for subscribers (tests; docs/cdc.md "one shared reader").
  struct Stats {
    uint64_t cache_records_read = 0;  // log records read by the shared TailCache's thread
    uint64_t reader_opens =
        0;                     // LogReaders opened by subscriptions of their own (behind the cache)
    uint64_t chunks_read = 0;  // shared cache chunks read by subscriptions
  };
  Stats stats() const;

  grpc::ServerWriteReactor<::rdeebee::v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::SubscribeRequest* req);
  grpc::ServerUnaryReactor* CommitGroupPosition(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::CommitGroupPositionRequest* req,
      ::rdeebee::v1::CommitGroupPositionResponse* resp);
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* ctx,
                                       const ::rdeebee::v1::ListGroupsRequest* req,
                                       ::rdeebee::v1::ListGroupsResponse* resp);
  // ListGroups' answer without a call: this node's consumer groups (cluster mode: its group's).
  Status ListGroupsLocal(::rdeebee::v1::ListGroupsResponse* resp);
  grpc::ServerUnaryReactor* DeleteGroup(grpc::CallbackServerContext* ctx,
                                        const ::rdeebee::v1::DeleteGroupRequest* req,
                                        ::rdeebee::v1::DeleteGroupResponse* resp);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdb::server
