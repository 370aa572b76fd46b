// Engine: the event database on one node. Append / Delete / Get / ReadStream / ReadAll, with
// optimistic concurrency, idempotent retries and group commit, on top of the event log (log/) and
// the LSM index (lsm/). docs/design/engine.md explains the data path and the recovery rule.
//
// Thread-safety: every public method may be called concurrently from many threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "io/env.h"
#include "log/event_log.h"
#include "log/record.h"
#include "lsm/lsm_tree.h"

namespace rdb {

// Named limits (CONTRACT.md). Keys beginning with '$' are reserved for system records.
constexpr size_t kPayloadBytesMaxDefault = 4ull << 20;
constexpr size_t kBatchBytesMax = 16ull << 20;
constexpr size_t kReadLimitDefault = 1000;
constexpr size_t kReadLimitMax = 10000;
constexpr size_t kReadBytesMax = 16ull << 20;
constexpr char kSystemKeyPrefix = '$';

struct EngineOptions {
  std::string data_dir = "./data";
  Env* env = Env::Posix();
  Clock* clock = Clock::Real();
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  uint32_t fsync_interval_ms = 10;
  size_t payload_bytes_max = kPayloadBytesMaxDefault;
  uint64_t segment_bytes_max = 64ull << 20;
  size_t memtable_bytes = 64ull << 20;
  size_t block_cache_bytes = 512ull << 20;
  Compression compression = Compression::kNone;
  // Appends waiting for the commit leader; more get kResourceExhausted.
  size_t commit_queue_max = 100000;
  // Committed records waiting for the indexer; the commit leader waits when it is full.
  size_t index_queue_max = 65536;
  // Maximum number of requests (and bytes) one group commit takes.
  size_t group_commit_requests_max = 1024;
  size_t group_commit_bytes_max = 8ull << 20;
  // At most this many events in one group commit (a cluster leader takes one etcd seq batch per
  // group: cluster::kSeqsPerRevision).
  size_t group_commit_events_max = SIZE_MAX;
  // Allow writes to '$'-prefixed keys (system records: consumer groups etc.).
  bool allow_system_keys = false;
  // Cluster mode: client appends are written only while a CommitHook is installed (this node is
  // its group's leader 1) and fail with kUnavailable otherwise; seqs come from the hook, never
  // from the local sequencer.
  bool cluster = false;
};

struct ExpectedVersion {
  enum class Kind : uint8_t { kAny, kNoStream, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // for kExact

  static ExpectedVersion Any() { return {}; }
  static ExpectedVersion NoStream() { return {Kind::kNoStream, 0}; }
  static ExpectedVersion Exact(uint64_t v) { return {Kind::kExact, v}; }
};

struct EventData {
  EventKind kind = EventKind::kPut;
  std::string event_type;
  std::string payload;
};

struct AppendRequest {
  std::string key;
  std::vector<EventData> events;  // 1..kBatchEventsMax, all on `key`, stored atomically
  ExpectedVersion expected;
  std::string idempotency_id;  // empty = none
  bool system = false;         // allow a '$' key (internal callers only)
};

struct AppendResult {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t first_version = 0;
  uint64_t last_version = 0;
  bool deduplicated = false;  // an idempotent retry: nothing was written
};

struct Event {
  std::string key;
  uint64_t seq = 0;
  uint64_t version = 0;
  EventKind kind = EventKind::kPut;
  std::string event_type;
  std::string payload;
  std::string idempotency_id;
  uint64_t timestamp_ms = 0;
  uint64_t epoch = 0;
};

// Called exactly once with an async append's outcome, on the thread that committed it (a commit
// leader): keep it short and never call back into Append from it synchronously.
using AppendCallback = std::function<void(Result<AppendResult>)>;

// The commit leader's link to the cluster while this node is its group's leader 1
// (cluster/replicator.h; docs/design/replication.md). Called only by the commit leader, one group
// at a time, with the engine's commit lock held: a call that blocks holds up every later append.
class CommitHook {
 public:
  virtual ~CommitHook() = default;
  struct SeqGrant {
    uint64_t first_seq = 0;  // n consecutive seqs from here
    uint64_t epoch = 0;      // stamped on the group's records (the leader's fencing epoch)
  };
  // Seqs for a group's n events (1 <= n <= group_commit_events_max). An error fails the group's
  // client appends; nothing of them is written.
  virtual Result<SeqGrant> TakeSeqs(uint32_t n) = 0;
  // The group's records are durable in the local log: `bodies` are their encoded bodies
  // (EncodeRecordBody) in seq order, the first following prev_seq (this log's last seq before the
  // group), the last ending at last_seq. Returns OK once enough members hold them durably for them
  // to be committed. An error means they are not: the engine cuts them from its log again and fails
  // the group's appends with it (their outcome is unknown to the client: a member may hold them).
  virtual Status Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies,
                           uint64_t last_seq) = 0;
  // How a group that TakeSeqs granted ended.
  enum class GroupOutcome : uint8_t {
    kCommitted,  // its records are visible to readers now (the log's committed end is last_seq)
    kUnused,     // none of its seqs was written (every append of it failed before the log)
    kInDoubt,    // its records may be in this log or a member's but are not committed (a failed
                 // sync or replication): they may come back, with their seqs, after a restart
  };
  // A granted group is settled. Called once per successful TakeSeqs, still under the commit lock,
  // so the next TakeSeqs comes after it.
  virtual void GroupDone(GroupOutcome outcome, uint64_t last_seq) {
    (void)outcome;
    (void)last_seq;
  }
};

enum class Direction : uint8_t { kForward, kBackward };

struct ReadStreamRequest {
  std::string key;
  uint64_t from_version = 0;  // forward: 0 = from the first; backward: 0 = from the last
  Direction direction = Direction::kForward;
  size_t limit = kReadLimitDefault;
};

struct ReadAllRequest {
  uint64_t from_seq = 0;  // inclusive; 0 = from the start
  size_t limit = kReadLimitDefault;
  bool include_system = false;
};

struct ReadResult {
  std::vector<Event> events;
  // Where to continue: the next version (ReadStream forward/backward) or seq (ReadAll) to ask for;
  // 0 when the end was reached.
  uint64_t next = 0;
};

struct KeyState {
  uint64_t version = 0;  // 0 = no events
  uint64_t seq = 0;
  EventKind kind = EventKind::kPut;
};

class Engine {
 public:
  // Opens or creates the database in options.data_dir; recovers from the log (see engine.md).
  // Fails with kAlreadyExists if another process has the directory open, kNotSupported for an
  // incompatible format version, kCorruption (naming file and offset) for mid-log corruption.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();

  Result<AppendResult> Append(AppendRequest request);
  // Appends a DELETE event. Deleting an absent key (never written or already deleted) writes
  // nothing and fails with kNotFound.
  Result<AppendResult> Delete(const std::string& key, ExpectedVersion expected,
                              const std::string& idempotency_id = "");
  // Asynchronous Append / Delete: same semantics, but the calling thread does not wait for the
  // commit; `done` is called once with the outcome: validation errors before this returns, the
  // rest on the engine's committer thread, which leads groups of async appends (the calling thread
  // never runs a commit or an fsync). Lets a server finish requests from the commit path without
  // a thread per request.
  void AppendAsync(AppendRequest request, AppendCallback done);
  void DeleteAsync(const std::string& key, ExpectedVersion expected,
                   const std::string& idempotency_id, AppendCallback done);
  // Latest PUT of key; kNotFound if never written or deleted.
  Result<Event> Get(const std::string& key);
  // Version, seq and kind of the key's last event (version 0 if none).
  Result<KeyState> GetKeyState(const std::string& key);
  Result<ReadResult> ReadStream(const ReadStreamRequest& request);
  Result<ReadResult> ReadAll(const ReadAllRequest& request);

  // --- replication hooks (cluster mode) ---
  // Appends a record that already carries seqs/versions (from a leader). Its first seq must be
  // above last_seq(); versions must continue the key's versions; its epoch must not be below the
  // log's last epoch. Refused (kFailedPrecondition) while a CommitHook is installed.
  Status AppendReplicated(const LogRecord& record);
  // The same for an encoded record body (EncodeRecordBody), asynchronously: `done` is called once,
  // in submission order relative to other appends of this engine.
  void AppendReplicatedAsync(std::string body, AppendCallback done);
  // Several encoded records at once, in seq order: queued together, so that they share group
  // commits (one fdatasync for the lot, limits permitting) instead of one each. `done` is called
  // once per record.
  void AppendReplicatedBatchAsync(std::vector<std::string> bodies, const AppendCallback& done);
  // Installs (or, with nullptr, removes) the commit hook. Waits for a group commit in progress.
  // The hook must stay valid until it is removed.
  void SetCommitHook(CommitHook* hook);
  // Epoch of the log's last record (0 if none carries one) and the last seq of this log among
  // records of epochs <= epoch (EpochHistory::EndOf): replication's log matching.
  uint64_t last_epoch() const;
  uint64_t EpochEndSeq(uint64_t epoch) const;
  // Removes every record with first seq > seq (an uncommitted suffix) from the log and the index.
  Status TruncateAfter(uint64_t seq);
  // Sequential access to the committed log from a seq (CDC and replication).
  Result<std::unique_ptr<LogReader>> NewLogReader(uint64_t from_seq);

  uint64_t last_seq() const;  // highest committed seq (0 if empty)
  // Blocks until last_seq() > seq or timeout; returns last_seq().
  uint64_t WaitForSeq(uint64_t seq, uint64_t timeout_ms);

  struct Stats {
    uint64_t appends = 0;
    uint64_t events_appended = 0;
    uint64_t bytes_appended = 0;
    uint64_t group_commits = 0;
    uint64_t log_syncs = 0;
    uint64_t log_bytes = 0;
    uint64_t last_seq = 0;
    LsmTree::Stats index;
  };
  Stats stats() const;

  // Stops accepting appends, finishes queued ones, syncs the log and closes. Idempotent.
  Status Close();

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Validates a key against the limits (1..kKeyBytesMax bytes; no '$' prefix unless system).
Status ValidateKey(std::string_view key, bool system);

}  // namespace rdb
