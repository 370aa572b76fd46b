// Globally unique sequence numbers from etcd (issue 6; docs/design/cluster.md, "Sequencer").
//
// EtcdSequencer: leader 1 of a group takes the seqs of a whole batch with ONE etcd transaction:
//
//   if create_revision(<leader's election key>) == epoch      (still leader 1: fencing)
//   then put /rdeebee/<dbname>/groups/<g>/seq = <the group's highest seq before this batch>
//   else get <leader's election key>                          (to say why)
//
// The transaction's revision R numbers the batch: seq = R * kSeqsPerRevision + i, i in [0, n).
// Every write transaction of etcd has a revision of its own, so two batches never share one, and
// a batch that starts after another committed gets a higher revision (etcd is linearizable), so
// higher seqs, whichever group. A deposed leader (key gone, or re-created with another create
// revision) gets kFailedPrecondition and no seqs.
//
// Limits: at most kSeqsPerRevision seqs per transaction (NextMany splits larger counts), and
// revisions up to kMaxRevision (so that every seq fits in 53 bits); beyond it kResourceExhausted.
//
// The floor: seqs never go backwards, even when etcd is restored from an old backup or replaced
// (its revision then restarts lower). The caller gives the group's persisted highest seq
// (RaiseFloor); the sequencer also remembers the highest it issued. A batch whose first seq is not
// above the floor fails with kFailedPrecondition ("etcd's revision is behind ...") and its seqs are
// not used.
//
// LockGetPutSequencer: the original project's scheme, kept as the benchmark's baseline: per seq,
// take an etcd lock (a create-if-absent txn of a key attached to the caller's lease, retried until
// it is free), get the counter, put counter + 1, delete the lock key.
//
// Thread-safety: both classes may be called from many threads. EtcdSequencer issues one batch at a
// time (a mutex is held over the transaction), so within one sequencer (one group) seqs increase in
// the order calls return; different sequencers (groups) run their transactions concurrently.
#pragma once

#include <absl/synchronization/mutex.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"
#include "etcd/lease_keeper.h"

namespace rdb::cluster {

// Seqs one etcd revision numbers: the largest batch one transaction can take.
inline constexpr uint64_t kSeqsPerRevision = 1024;
// Every seq is below 2^53 (a JSON number carries it exactly).
inline constexpr uint64_t kSeqLimit = uint64_t{1} << 53;
// The highest etcd revision whose seqs all fit: R * kSeqsPerRevision + kSeqsPerRevision - 1 <
// kSeqLimit, i.e. 2^43 - 1 (about 27,000 years at 10k etcd writes/s).
inline constexpr int64_t kMaxRevision = static_cast<int64_t>(kSeqLimit / kSeqsPerRevision) - 1;

struct SeqRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t size() const { return last - first + 1; }
};

// The seqs etcd revision `revision` gives a batch of n (1 <= n <= kSeqsPerRevision), checked
// against the 53-bit limit (kResourceExhausted) and the floor (kFailedPrecondition when first <=
// floor). Pure; exposed for tests.
Result<SeqRange> SeqsForRevision(int64_t revision, uint32_t n, uint64_t floor);

struct EtcdSequencerOptions {
  std::string dbname;
  uint32_t group = 0;
  // Leader 1's election key and its create revision (the epoch): etcd::Election::self().
  std::string election_key;
  int64_t epoch = 0;
  // The group's persisted highest seq (0 = none yet).
  uint64_t floor = 0;
};

class EtcdSequencer {
 public:
  // client must outlive the sequencer.
  EtcdSequencer(etcd::Client* client, EtcdSequencerOptions options);

  // Seqs for a batch of n, 1 <= n <= kSeqsPerRevision, with one transaction. Errors:
  // kInvalidArgument (n), kFailedPrecondition (deposed; or etcd's revision behind the floor),
  // kResourceExhausted (past kMaxRevision), and the etcd client's (kUnavailable...).
  Result<SeqRange> Next(uint32_t n);
  // Seqs for n >= 1 events: ceil(n / kSeqsPerRevision) transactions, ranges in increasing order.
  Result<std::vector<SeqRange>> NextMany(uint64_t n);
  // The current etcd revision, read with the same fence as Next (one read-only transaction): if
  // it returns R, this leader still held its election key at R, so every batch any leader of this
  // group numbers from now on gets a revision above R. kFailedPrecondition when deposed.
  Result<int64_t> FencedRevision();
  // The group's persisted highest seq grew (or is known at start): never issue at or below it.
  void RaiseFloor(uint64_t seq);
  uint64_t floor() const;

  // /rdeebee/<dbname>/groups/<g>/seq.
  static std::string SeqKey(const std::string& dbname, uint32_t group);
  const std::string& seq_key() const { return seq_key_; }

 private:
  etcd::Client* const client_;
  const EtcdSequencerOptions options_;
  const std::string seq_key_;
  mutable absl::Mutex mu_;
  uint64_t floor_ ABSL_GUARDED_BY(mu_) = 0;  // max(caller's floor, highest seq issued)
};

struct LockGetPutOptions {
  std::string lock_key;     // e.g. /rdeebee/<dbname>/sequencer-lock
  std::string counter_key;  // e.g. /rdeebee/<dbname>/sequencer-counter (decimal)
  int64_t lease_ttl_s = 10;
};

class LockGetPutSequencer {
 public:
  // Grants a lease (kept alive while the sequencer lives) for this caller's lock key.
  static Result<std::unique_ptr<LockGetPutSequencer>> Start(etcd::Client* client,
                                                            LockGetPutOptions options);
  ~LockGetPutSequencer();  // stops the keep-alive and revokes the lease
  LockGetPutSequencer(const LockGetPutSequencer&) = delete;
  LockGetPutSequencer& operator=(const LockGetPutSequencer&) = delete;

  // One seq: lock, get, put + 1, unlock (at least 4 round trips).
  Result<uint64_t> Next();

 private:
  LockGetPutSequencer(etcd::Client* client, LockGetPutOptions options, etcd::Lease lease);
  Status Lock();
  Status Unlock();

  etcd::Client* const client_;
  const LockGetPutOptions options_;
  const etcd::Lease lease_;
  std::unique_ptr<etcd::LeaseKeeper> keeper_;
  absl::Mutex mu_;  // one lock holder per sequencer object (the lock key is per lease)
};

}  // namespace rdb::cluster
