// ReplicationService: the member's end of replication (docs/design/replication.md). Leader 1 of
// the group opens a Replicate stream, says Hello with its epoch, reconciles the member's log with
// its own (Truncate while the member holds a suffix the leader does not), then streams Appends;
// the member applies them to its engine (AppendReplicatedAsync) and acks once they are durable.
//
// Fencing: a Hello whose epoch is below the newest this member has seen (or below its log's last
// epoch) is refused with FAILED_PRECONDITION, and a newer Hello supersedes every older stream: an
// older stream's next message ends it. So a deposed leader can no longer make a member write.
//
// Thread-safety: gRPC calls Replicate from its sync server threads; one stream applies at a time.
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "rdeebee/internal/v1/replication.grpc.pb.h"

namespace rdb::cluster {

// At most this many records per Append message, and the bytes a leader puts in one.
inline constexpr size_t kReplicateRecordsMax = 1024;
inline constexpr size_t kReplicateBytesMax = 8u << 20;

// Applies record bodies (in seq order) to engine as replicated records; waits until all are
// durable. The first failure, if any.
Status ApplyReplicatedBodies(Engine* engine, std::vector<std::string> bodies);
// Up to kReplicateRecordsMax committed records of engine's log whose first seq is above `after`
// (at most about kReplicateBytesMax / 2 bytes), encoded; *last is the last one's last seq.
Result<std::vector<std::string>> ReadCommittedBodies(Engine* engine, uint64_t after,
                                                     uint64_t* last);

class ReplicationService final : public ::rdeebee::internal::v1::Replication::Service {
 public:
  // engine outlives the service. `node` names this member in errors and logs.
  ReplicationService(Engine* engine, uint32_t group, std::string node);

  grpc::Status Replicate(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<::rdeebee::internal::v1::ReplicateResponse,
                               ::rdeebee::internal::v1::ReplicateRequest>* stream) override;

  grpc::Status Tail(grpc::ServerContext* ctx, const ::rdeebee::internal::v1::TailRequest* req,
                    ::rdeebee::internal::v1::TailResponse* resp) override;
  grpc::Status Fetch(grpc::ServerContext* ctx, const ::rdeebee::internal::v1::FetchRequest* req,
                     ::rdeebee::internal::v1::FetchResponse* resp) override;

  uint64_t newest_epoch() const;
  // This member's log has reached a leader's committed end (Append.leader_end) at least once.
  bool caught_up() const { return caught_up_.load(); }
  // The epoch whose leader named this member its leader 2 on an Append that left this member's
  // log at the leader's committed end (0: none, or named leader 2 no longer).
  uint64_t caught_up_leader2_epoch() const { return leader2_epoch_.load(); }

 private:
  // Registers a stream of `epoch`; its id, or an error if the epoch is stale.
  grpc::Status Admit(uint64_t epoch, uint64_t* id);
  // The stream may still write (no newer stream took over).
  grpc::Status StillCurrent(uint64_t id, uint64_t epoch) const;
  grpc::Status Apply(const ::rdeebee::internal::v1::Append& append);

  Engine* const engine_;
  const uint32_t group_;
  const std::string node_;
  mutable absl::Mutex mu_;
  uint64_t newest_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t current_stream_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_stream_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex apply_mu_;  // one stream applies (or truncates) at a time
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> leader2_epoch_{0};
};

}  // namespace rdb::cluster
