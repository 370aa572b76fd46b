// MergedFeed: Subscribe on a cluster node — the changes of every group merged into one stream in
// global seq order (docs/design/merged-feed.md).
//
// For each client stream it keeps one upstream per group: a Subscribe with group_feed = true to
// that group's leader 1 (this node included, over loopback), carrying the client's filter. An
// upstream sends the group's committed changes and, in every message, a checkpoint C_g: every
// change of that group with seq <= C_g that will ever be committed has been sent. The merged
// watermark is M = min over groups of C_g; the stream sends every buffered change with seq <= M, in
// seq order, and then may say Checkpoint{M}. A change above M waits: a group whose checkpoint is
// still below it could commit a smaller seq.
//
// When an upstream ends (its leader died or stepped down, a network error), the group is asked
// again from the leader the member map names next, after the last seq received from it: changes
// already buffered or sent are not asked for twice, and nothing is skipped, because a leader's
// checkpoint only covers what is committed and committed changes survive the failover.
//
// Back-pressure: a client stream has at most one message in flight; an upstream reads its next
// message only while its group's buffer holds fewer than upstream_buffer_changes changes, so a slow
// client stops its upstreams (gRPC flow control then stops their leaders).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "cdc/groups.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "server/forwarder.h"
#include "server/metrics.h"

namespace rdb::server {

struct MergedFeedOptions {
  uint32_t groups = 0;                    // the cluster's group count
  uint32_t subscribers_max = 1024;        // open merged streams; more get RESOURCE_EXHAUSTED
  int64_t reconnect_interval_ms = 100;    // between attempts to find and reach a group's leader 1
  size_t upstream_buffer_changes = 4096;  // a group's buffered changes before its reading pauses
  // Upstreams' checkpoint interval: how often an idle group's watermark reaches this node at
  // least (a leader also sends one as soon as its watermark rises).
  uint32_t upstream_checkpoint_ms = 100;
};

class MergedFeed {
 public:
  // view and metrics (may be null) outlive the feed.
  MergedFeed(ClusterView* view, Metrics* metrics, MergedFeedOptions options);
  ~MergedFeed();  // Shutdown()
  MergedFeed(const MergedFeed&) = delete;
  MergedFeed& operator=(const MergedFeed&) = delete;

  // Ends every stream with UNAVAILABLE ("server is shutting down") and waits for them. Idempotent.
  void Shutdown();

  // A merged stream for req (its start, filter and include_before; group_feed must be false).
  // With a consumer group, the caller resolved it: lease (held while the stream lives) and the
  // group's stored position, which wins over req's start.
  grpc::ServerWriteReactor<::rdeebee::v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::SubscribeRequest& req,
      std::unique_ptr<cdc::GroupStore::Lease> lease = nullptr,
      std::optional<uint64_t> group_position = std::nullopt);

  // A consumer group's stream through a node that does not own the group: the whole request is
  // relayed to leader 1 of `group` (the shard of the group's key), which runs the merged stream
  // and holds the group's lease. If that leader goes, the stream ends with UNAVAILABLE: the
  // consumer reconnects and resumes from the group's committed position.
  grpc::ServerWriteReactor<::rdeebee::v1::SubscribeResponse>* Relay(
      grpc::CallbackServerContext* ctx, const ::rdeebee::v1::SubscribeRequest& req, uint32_t group);

  struct Stats {
    uint64_t streams = 0;            // open merged streams
    uint64_t upstreams_opened = 0;   // group streams started (first connections + reconnects)
    uint64_t upstream_failures = 0;  // group streams that ended before the client's
  };
  Stats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdb::server
