// Engine::Impl — private to the engine module. engine.cc holds open/recovery and the read path,
// commit.cc the write path (validation, group commit, index apply).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "engine/engine.h"
#include "engine/epoch_history.h"
#include "engine/index_keys.h"
#include "engine/sequencer.h"

namespace rdb {

// What the indexer needs of one committed log record (no payloads).
struct IndexOp {
  std::string key;
  uint64_t first_seq = 0;
  uint64_t first_version = 0;
  uint32_t count = 0;
  EventKind last_kind = EventKind::kPut;
  LogPosition position;
  std::string idempotency_id;

  uint64_t last_seq() const { return first_seq + count - 1; }
  uint64_t last_version() const { return first_version + count - 1; }
  static IndexOp From(const LogRecord& r, LogPosition pos);
};

// One queued append: on the calling thread's stack while it waits (Append), or on the heap and
// owned by the queue (AppendAsync: on_done set, the request owned in `owned`).
struct PendingWrite {
  AppendCallback on_done;                 // async: called once with the outcome, then deleted
  std::unique_ptr<AppendRequest> owned;   // async: the request `request` points to
  AppendRequest* request = nullptr;       // a client append, or
  const LogRecord* replicated = nullptr;  // a record from a leader (seqs already assigned)
  std::string owned_body;                 // AppendReplicatedAsync: the body `owned_record` views
  LogRecord owned_record;
  bool delete_requires_present = false;  // Delete(): an absent key is kNotFound
  size_t bytes = 0;
  bool done = false;
  // Its outcome depended on an earlier request of the same group that might still fail to be
  // written: it goes back to the queue and is decided by the next group instead.
  bool deferred = false;
  std::optional<Result<AppendResult>> result;
  std::condition_variable cv;
};

class Engine::Impl {
 public:
  explicit Impl(const EngineOptions& options) : options_(options) {}

  Status Open();
  Status Close();

  Result<AppendResult> Submit(PendingWrite* w);
  // Queues an async write (w->on_done set); leads group commits if nobody does.
  void SubmitAsync(std::unique_ptr<PendingWrite> w);
  // Queues several async writes at once (so that one group commit can take them all).
  void SubmitAsyncMany(std::vector<std::unique_ptr<PendingWrite>> writes);
  Result<Event> Get(const std::string& key);
  Result<KeyState> GetKeyState(const std::string& key);
  Result<ReadResult> ReadStream(const ReadStreamRequest& request);
  Result<ReadResult> ReadAll(const ReadAllRequest& request);
  Status TruncateAfter(uint64_t seq);
  void SetCommitHook(CommitHook* hook);
  uint64_t last_epoch() const;
  uint64_t EpochEndSeq(uint64_t epoch) const;
  Result<std::unique_ptr<LogReader>> NewLogReader(uint64_t from_seq);
  uint64_t last_seq() const;
  uint64_t WaitForSeq(uint64_t seq, uint64_t timeout_ms);
  Engine::Stats stats() const;

  Status ValidateRequest(const AppendRequest& r) const;

 private:
  // Per-group view of a key's state: the index plus what earlier requests of the same group did.
  struct KeyView {
    index::Latest latest;           // version 0 = no events
    bool written_in_group = false;  // `latest` comes from an earlier request of this group
  };
  struct GroupState {
    std::unordered_map<std::string, KeyView> keys;
    std::unordered_map<std::string, index::IdempotencyEntry> ids;  // IdempotencyKey -> entry
    // Cluster leader: the seqs the hook granted this group (next to hand out, and the epoch).
    uint64_t replicated_last = 0;  // last seq of the group's replicated records so far
    bool granted = false;
    uint64_t next_seq = 0;
    uint64_t epoch = 0;
  };
  struct Prepared {
    PendingWrite* w;
    LogRecord record;  // views into the request
    std::string body;
  };

  Status CheckDataDir();
  Status Recover();
  Status ApplyToIndex(const IndexOp& op);
  Status ApplyWithRetry(const IndexOp& op);
  // The indexer: applies committed records to the LSM tree off the commit path (indexer.cc).
  void StartIndexer();
  void StopIndexer();
  void IndexerLoop();
  // Hands committed records to the indexer; blocks while its queue is full (back-pressure).
  void EnqueueIndexOps(std::vector<IndexOp> ops);
  // Waits until everything committed up to seq is in the index. Readers call it first, so a read
  // sees every append acknowledged before it started.
  Status WaitIndexed(uint64_t seq);
  void WaitIndexerIdle();
  // The latest state of a key / an idempotency entry that is committed but maybe not indexed yet.
  std::optional<index::Latest> PendingLatest(const std::string& key);
  std::optional<index::IdempotencyEntry> PendingId(const std::string& ikey);
  Result<KeyView*> LookupKey(GroupState* g, const std::string& key);
  Result<std::optional<index::IdempotencyEntry>> LookupId(GroupState* g, const std::string& key,
                                                          const std::string& id);
  // Decides one request's outcome; fills *prep (to write) or completes w with an error/dedup.
  Status PrepareWrite(GroupState* g, PendingWrite* w, uint64_t now_ms, std::vector<Prepared>* out);
  void CommitGroup(std::vector<PendingWrite*>& group);
  // Cluster mode: takes the group's seqs from the hook (or fails its client appends); false when
  // no client append of the group is left to write.
  void GrantSeqs(CommitHook* hook, std::vector<PendingWrite*>& group, GroupState* g);
  // Records the start of every new epoch among the prepared records before they reach the log.
  Status NoteEpochs(const std::vector<Prepared>& prepared, uint64_t prev_last_seq);
  // The hook refused the group's records: cut them from the log again.
  void Unwrite(std::vector<Prepared>& prepared, uint64_t prev_last_seq, const Status& why);
  // Refuses a write before queueing it (closed, fatal, full queue); OK = may queue.
  Status Admit(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The commit leader: commits groups from the queue's front while the front is an async write
  // (nobody else would lead it), then hands leadership to a waiting thread or gives it up.
  // Commits groups from the queue's front while the front is decided here. keep_async: also
  // lead async appends that follow (the committer thread); otherwise hand them to the committer.
  void LeadGroups(std::unique_lock<std::mutex>& lock, bool keep_async);
  // The committer thread: leads groups of async appends, so no submitter's thread (gRPC's) is
  // held by the commit loop and its fsyncs. Under load it never sleeps; idle, a submit wakes it.
  void CommitterLoop();
  void StopCommitter();
  void WakeCommitter() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetFatal(const Status& s);
  Status ReadEvent(const index::Pointer& ptr, std::string_view key, ReadRecord* cache,
                   Event* out) const;

  const EngineOptions options_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<LsmTree> index_;
  std::optional<LocalSequencer> sequencer_;  // used by the commit leader only

  mutable std::mutex mu_;
  std::deque<PendingWrite*> queue_ ABSL_GUARDED_BY(mu_);
  std::condition_variable drained_cv_;  // signalled when queue_ becomes empty
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // A thread is committing groups (at most one at a time).
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  std::thread committer_;
  std::condition_variable committer_cv_;
  bool committer_sleeping_ ABSL_GUARDED_BY(mu_) = false;
  bool committer_stop_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the log may hold bytes the index does not reflect (a failed sync or index write):
  // appends fail until restart, whose recovery repairs the index from the log.
  Status fatal_ ABSL_GUARDED_BY(mu_);
  // Serialises the commit leader with TruncateAfter, SetCommitHook and Close.
  std::mutex commit_mu_;
  CommitHook* hook_ ABSL_GUARDED_BY(commit_mu_) = nullptr;
  mutable std::mutex epochs_mu_;  // a leaf
  std::optional<EpochHistory> epochs_ ABSL_GUARDED_BY(epochs_mu_);

  mutable std::mutex seq_mu_;
  std::condition_variable seq_cv_;
  uint64_t committed_seq_ ABSL_GUARDED_BY(seq_mu_) = 0;

  // The indexer's state. Lock order: mu_ before index_mu_; pending_mu_ is a leaf.
  std::mutex index_mu_;
  std::condition_variable index_cv_;    // work arrived / queue space freed / stop
  std::condition_variable indexed_cv_;  // indexed_seq_ advanced or the indexer failed
  std::deque<IndexOp> index_queue_ ABSL_GUARDED_BY(index_mu_);
  uint64_t indexed_seq_ ABSL_GUARDED_BY(index_mu_) = 0;
  bool indexing_ ABSL_GUARDED_BY(index_mu_) = false;  // the indexer holds popped ops
  bool index_stop_ ABSL_GUARDED_BY(index_mu_) = false;
  // Who sleeps on the condition variables, so the hot path only pays for a wake-up when one is
  // needed (a futex wake per append would cost more than the index work itself).
  bool indexer_sleeping_ ABSL_GUARDED_BY(index_mu_) = false;
  int space_waiters_ ABSL_GUARDED_BY(index_mu_) = 0;
  int indexed_waiters_ ABSL_GUARDED_BY(index_mu_) = 0;
  Status index_error_ ABSL_GUARDED_BY(index_mu_);
  std::thread indexer_;
  std::mutex pending_mu_;
  std::unordered_map<std::string, index::Latest> pending_latest_ ABSL_GUARDED_BY(pending_mu_);
  std::unordered_map<std::string, index::IdempotencyEntry> pending_ids_
      ABSL_GUARDED_BY(pending_mu_);

  mutable std::mutex stats_mu_;
  Engine::Stats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace rdb
