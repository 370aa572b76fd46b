// ClusterNode: turns this node's role in its group into the engine's write path
// (docs/design/replication.md). A thread follows the Membership's view of the election: when this
// node becomes leader 1 of epoch E it opens an EtcdSequencer fenced by E (floor: the engine's last
// seq), a Replicator to the other members in election order, and installs the LeaderHook in the
// engine; when it is deposed (or its hook failed) it removes the hook, so client appends are
// refused again, and never leads in that epoch again. Before it leads, it recovers the tail of its
// log from the other members (recovery.h): from `reads` of them, this one included, unless it was
// leader 2 of the previous epoch. While it leads, member changes (a new
// leader 2, a member gone or back) go to the Replicator.
//
// Thread-safety: Start/Stop from one thread; the rest is internal.
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cluster/membership.h"
#include "cluster/replicator.h"
#include "cluster/sequencer.h"
#include "engine/engine.h"
#include "etcd/watcher.h"

namespace rdb::cluster {

struct ClusterNodeOptions {
  std::string dbname;
  uint32_t reads = 2;
  uint32_t writes = 2;
  int64_t poll_interval_ms = 20;
  int64_t joiners_interval_ms = 500;  // while leading: how often to look for joining members
  // This node's log has reached a leader's committed end (ReplicationService::caught_up): a
  // deferred member campaigns then.
  std::function<bool()> caught_up;
  // ReplicationService::caught_up_leader2_epoch: the epoch whose leader named this node its
  // caught-up leader 2 (0: none).
  std::function<uint64_t()> leader2_of_epoch;
  // While leading: how often an idle group's committed watermark is raised from a fenced etcd read
  // (LeaderHook::AdvanceWatermark); busy groups raise it with every batch anyway.
  int64_t watermark_interval_ms = 50;
  // Runs after each rise of the committed watermark (e.g. wakes the group's feed streams); may
  // run on the engine's commit thread: keep it short, never block.
  std::function<void()> on_watermark;
};

class ClusterNode {
 public:
  // engine and membership outlive the ClusterNode.
  ClusterNode(Engine* engine, Membership* membership, ClusterNodeOptions options);
  ~ClusterNode();  // Stop()
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  void Start();
  // Steps down (removes the hook: appends in progress fail) and stops the thread. Idempotent.
  void Stop();

  // The epoch this node leads in, 0 when it does not.
  uint64_t leading_epoch() const { return leading_epoch_.load(); }

  // Linearizable reads on leader 1: confirms with an etcd read that starts after this call began
  // that this node's election key still exists with the epoch it leads in, so no other node can
  // have acknowledged a write this node does not hold. Concurrent callers share one etcd read per
  // round. kFailedPrecondition when this node is not (or no longer) leader 1, kUnavailable when
  // etcd does not answer.
  Status ConfirmLeadership();
  // The group's committed watermark while this node is leader 1 (LeaderHook::watermark(); 0
  // while the epoch is not established); kFailedPrecondition when it is not leader 1.
  Result<uint64_t> CommittedWatermark() const;
  std::vector<Replicator::PeerState> peer_states() const;

 private:
  void Run();
  void Step();
  // False (and this node does not lead yet) while tail recovery cannot reach enough members.
  bool BecomeLeader(uint64_t epoch, const std::string& election_key);
  void StepDown(const char* why);
  std::vector<ReplicaPeer> Peers(const std::vector<Membership::Candidate>& candidates) const;
  // While leading: candidates, then members that registered but hold back their campaign.
  void UpdatePeers(const std::vector<Membership::Candidate>& candidates);

  Engine* const engine_;
  Membership* const membership_;
  const ClusterNodeOptions options_;
  std::atomic<uint64_t> leading_epoch_{0};
  uint64_t last_led_epoch_ = 0;  // never lead again in an epoch at or below it
  // This node was leader 2 of the epoch that just ended: it holds every acknowledged write, so
  // its promotion needs no quorum of tails (only what reachable members have beyond it).
  // The election key under which this node was last seen as leader 2 (empty: not leader 2).
  // The shortcut applies only if it is still this node's key: a node that re-registered (new key)
  // may have missed writes acknowledged in between.
  std::string leader2_key_;
  uint64_t leader2_epoch_ = 0;  // the epoch in which it was leader 2 under leader2_key_
  std::string last_recovery_error_;
  std::unique_ptr<EtcdSequencer> sequencer_;
  std::unique_ptr<Replicator> replicator_;
  std::shared_ptr<LeaderHook> hook_;  // set and reset under mu_ (CommittedWatermark reads it)
  // While leading: the cluster's group keys, watched from this node's epoch on, feed the hook's
  // watermark (LeaderHook::ObserveRevision). Null if the watch could not start (the periodic
  // fenced read still advances it).
  std::unique_ptr<etcd::Watcher> revisions_;
  std::chrono::steady_clock::time_point watermark_tick_{};
  std::vector<ReplicaPeer> peers_;
  std::vector<ReplicaPeer> joiners_;
  std::chrono::steady_clock::time_point joiners_read_{};
  Status CheckLeadershipOnce();

  absl::Mutex read_mu_;  // read confirmation rounds
  uint64_t rounds_started_ ABSL_GUARDED_BY(read_mu_) = 0;
  uint64_t rounds_done_ ABSL_GUARDED_BY(read_mu_) = 0;
  bool round_running_ ABSL_GUARDED_BY(read_mu_) = false;
  Status round_result_ ABSL_GUARDED_BY(read_mu_);
  std::string leading_key_ ABSL_GUARDED_BY(read_mu_);  // election key while leading

  mutable absl::Mutex mu_;  // guards replicator_ for peer_states() and stop_
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace rdb::cluster
