// Replicator: leader 1's end of replication (docs/design/replication.md). One Link per other
// member of the group keeps a Replicate stream (replication_service.h) open: Hello with the
// leader's epoch, log matching (the member cuts what it holds beyond the end of its last epoch in
// the leader's log, EpochEndSeq), then Appends: first whatever committed records the member lacks,
// read from the leader's log, then each group commit's records as they are written.
//
// Replicate() is the engine's CommitHook::Replicate: it hands the group's records to every link
// and returns once `writes` members hold them durably (this node counted, leader 2 always among
// them), or fails when this node is no longer leader 1 (kFailedPrecondition) or the replicator
// stops (kUnavailable). There is no timeout: while leader 2 is gone but its lease is not, writes
// wait; once its lease expires the election names a new leader 2 and SetPeers() brings it in.
//
// Thread-safety: every method may be called from any thread. Replicate is called by one thread at a
// time (the engine's commit leader).
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"

namespace rdb::cluster {

struct ReplicaPeer {
  int64_t id = -1;
  std::string node;
  std::string address;  // host:port of its gRPC server

  bool operator==(const ReplicaPeer&) const = default;
};

struct ReplicatorOptions {
  uint32_t group = 0;
  uint64_t epoch = 0;   // this leader's fencing epoch
  std::string node;     // this node's name (for the members' logs)
  uint32_t writes = 2;  // W: members that must hold a write, this one included
  // False once this node is no longer leader 1 of `epoch`: Replicate gives up.
  std::function<bool()> still_leader = [] { return true; };
  int64_t check_interval_ms = 50;   // how often a waiting Replicate re-checks still_leader
  int64_t retry_interval_ms = 100;  // pause before a link reconnects after an error
};

class Replicator {
 public:
  // engine outlives the replicator.
  Replicator(Engine* engine, ReplicatorOptions options);
  ~Replicator();  // Stop()
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // The other members: first the `voters` other candidates in election order (peers[0] is
  // leader 2), then members that are catching up before they campaign (they get every write but
  // count in no quorum). Links to members no longer listed are closed; new ones are opened.
  void SetPeers(const std::vector<ReplicaPeer>& peers, size_t voters);
  void SetPeers(const std::vector<ReplicaPeer>& peers) { SetPeers(peers, peers.size()); }

  Status Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies, uint64_t last_seq);

  // Closes every link and wakes a waiting Replicate (kUnavailable). Idempotent.
  void Stop();

  struct PeerState {
    ReplicaPeer peer;
    uint64_t durable_seq = 0;  // what the member holds (acknowledged), as far as this leader knows
    bool connected = false;
  };
  std::vector<PeerState> peer_states() const;

 private:
  class Link;
  bool QuorumHolds(uint64_t last_seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Engine* const engine_;
  const ReplicatorOptions options_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // acks advanced, links changed, a batch arrived, stop
  std::vector<std::shared_ptr<Link>> links_ ABSL_GUARDED_BY(mu_);  // election order
  size_t voters_ ABSL_GUARDED_BY(mu_) = 0;  // links_[0, voters_) count in quorums
  // The group commit being replicated (Replicate is blocked on it).
  bool has_batch_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t batch_prev_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t batch_last_ ABSL_GUARDED_BY(mu_) = 0;
  const std::vector<std::string>* batch_bodies_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

// The engine's CommitHook while this node is leader 1: seqs from the etcd sequencer, replication
// through the Replicator.
class EtcdSequencer;
class LeaderHook final : public CommitHook {
 public:
  LeaderHook(EtcdSequencer* sequencer, Replicator* replicator, uint64_t epoch)
      : sequencer_(sequencer), replicator_(replicator), epoch_(epoch) {}
  // Once a group failed to replicate, the engine cut it from this log while members may hold it:
  // this node must not write in this epoch again (failed() tells the node to step down and
  // campaign anew), so TakeSeqs refuses from then on.
  Result<SeqGrant> TakeSeqs(uint32_t n) override;
  Status Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies,
                   uint64_t last_seq) override;
  bool failed() const { return failed_.load(); }

 private:
  std::atomic<bool> failed_{false};
  EtcdSequencer* const sequencer_;
  Replicator* const replicator_;
  const uint64_t epoch_;
};

}  // namespace rdb::cluster
