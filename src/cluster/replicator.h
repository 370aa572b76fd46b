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

  // True if `writes` members (this one and leader 2 among them) hold the log up to seq.
  bool Holds(uint64_t seq) const;

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
//
// It also keeps the group's committed watermark (docs/design/merged-feed.md): every seq <= it that
// this group will ever commit is committed and visible in this node's engine. Groups commit one
// at a time, so it rises
//   - when a batch gets seqs at revision R (first seq R*1024): every earlier granted group is
//     settled, and later batches get revisions above R, so to R*1024 - 1;
//   - when a group becomes visible, to the end of its revision's seqs;
//   - from a fenced etcd read at revision R while no group is in flight (AdvanceWatermark), to
//     R*1024 + 1023: an idle group's watermark follows etcd's revision;
//   - from a watch on the cluster's group keys (ObserveRevision): an event at revision R proves R
//     exists, so a batch numbered later gets a revision above R; if no batch is in flight, to
//     R*1024 + 1023 (else when that batch is done). The watch also carries this leader's fence:
//     it must deliver a change of its own election key before any later revision (LoseFence).
//     So a busy group's commits raise an idle group's watermark within a watch round trip.
// It stays 0 until the epoch is established: the log may end in records adopted from the previous
// epoch that are committed only once a write quorum holds them (the first committed group of the
// epoch, or AdvanceWatermark seeing the quorum hold the log's end). After a failed group it never
// rises again (the cut group may still be committed by the next leader).
class EtcdSequencer;
class LeaderHook final : public CommitHook {
 public:
  // start_seq: the log's last seq when this node became leader 1 (what must be held by a quorum
  // before the epoch is established). on_watermark (may be empty) runs after each rise, on the
  // thread that raised it; keep it short.
  LeaderHook(EtcdSequencer* sequencer, Replicator* replicator, uint64_t epoch, uint64_t start_seq,
             std::function<void()> on_watermark = {})
      : sequencer_(sequencer),
        replicator_(replicator),
        epoch_(epoch),
        start_seq_(start_seq),
        on_watermark_(std::move(on_watermark)) {}
  // Once a group failed to replicate, the engine cut it from this log while members may hold it:
  // this node must not write in this epoch again (failed() tells the node to step down and
  // campaign anew), so TakeSeqs refuses from then on.
  Result<SeqGrant> TakeSeqs(uint32_t n) override;
  Status Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies,
                   uint64_t last_seq) override;
  // kInDoubt fails the epoch like a failed Replicate: the group may come back with its seqs.
  void GroupDone(GroupOutcome outcome, uint64_t last_seq) override;
  bool failed() const { return failed_.load(); }

  // The committed watermark (0: not established yet).
  uint64_t watermark() const { return watermark_.load(); }
  // Establishes the epoch if a quorum holds the log's start, then raises the watermark from a
  // fenced etcd read if no group was in flight during the read. Returns the watermark;
  // kFailedPrecondition when deposed or failed.
  Result<uint64_t> AdvanceWatermark();
  // Revision R exists in etcd and this leader's election key was unchanged up to it (the watch
  // delivered no change of the key first).
  void ObserveRevision(int64_t revision);
  // The watch delivered a change of this leader's election key: revisions it reports from now on
  // prove nothing.
  void LoseFence();

 private:
  // Raises watermark_ to w (if higher) and runs on_watermark_. Called without mu_.
  void Raise(uint64_t w);

  std::atomic<bool> failed_{false};
  EtcdSequencer* const sequencer_;
  Replicator* const replicator_;
  const uint64_t epoch_;
  const uint64_t start_seq_;
  const std::function<void()> on_watermark_;
  std::atomic<uint64_t> watermark_{0};
  mutable absl::Mutex mu_;
  bool established_ ABSL_GUARDED_BY(mu_) = false;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;     // from TakeSeqs' start to GroupDone
  uint64_t takes_ ABSL_GUARDED_BY(mu_) = 0;         // TakeSeqs calls started
  int64_t seen_revision_ ABSL_GUARDED_BY(mu_) = 0;  // highest fenced revision from the watch
  bool fence_lost_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rdb::cluster
