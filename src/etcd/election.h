// Leader election under a key prefix, in the style of etcd's concurrency package, shaped for
// RDeeBee's two leaders per group (DESIGN.md section 5).
//
// Every candidate puts one key, <prefix><lease id in hex>, attached to its lease. Candidates are
// ordered by their key's create revision: the first is the leader (for RDeeBee, leader 1), the
// second the next in line (leader 2), and so on. A candidate's create revision is its epoch: it is
// unique, and a later campaign always gets a higher one. A candidate leaves when it resigns
// (deletes its key) or when its lease expires (etcd deletes the key); everyone behind it moves up
// one rank with no further election round.
//
//   Election e(client, "/rdeebee/db/groups/0/election/");
//   auto me = e.Campaign(lease.id, "node-a 127.0.0.1:4000");   // registers, does not wait
//   auto rank = e.WaitForRank(0, 30000);                         // block until leader
//   ElectionObserver::Start(client, prefix, [](const auto& candidates, int64_t rev) { ... });
//
// A candidate that must not act on a stale belief (a leader writing) guards its writes with
// Compare::CreateRevision(self().key, kEqual, self().create_revision) in the same transaction.
//
// Thread-safety: Election and ElectionObserver may be used from any thread.
#pragma once

#include <absl/synchronization/mutex.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"
#include "etcd/watcher.h"

namespace rdb::etcd {

struct Candidate {
  std::string key;
  std::string value;
  int64_t lease = 0;
  int64_t create_revision = 0;  // the epoch
};

// Every candidate under prefix, ordered by create revision; `revision` is the store's at the read.
Result<std::vector<Candidate>> ListCandidates(Client* client, const std::string& prefix,
                                              int64_t* revision = nullptr);

class Election {
 public:
  // client must outlive the election. prefix: the election's key prefix (ends with '/' by
  // convention; keys are prefix + lease id in hex).
  Election(Client* client, std::string prefix);

  // Registers as a candidate with the lease (put if absent; a campaign again under the same lease
  // keeps its create revision and updates the value). Returns this candidate. Does not wait.
  Result<Candidate> Campaign(int64_t lease, const std::string& value);
  // Replaces the value if this candidate's key is still the one it created; kFailedPrecondition
  // if it is gone (resigned, or the lease expired).
  Status Proclaim(const std::string& value);
  // Deletes this candidate's key (if it is still the one it created). OK when not campaigning.
  Status Resign();
  // Blocks until this candidate's rank (0 = first) is at most max_rank, and returns the rank.
  // kFailedPrecondition if its key disappears meanwhile, kUnavailable after timeout_ms.
  Result<size_t> WaitForRank(size_t max_rank, int64_t timeout_ms);

  std::optional<Candidate> self() const;
  const std::string& prefix() const { return prefix_; }

 private:
  Client* const client_;
  const std::string prefix_;
  mutable absl::Mutex mu_;
  std::optional<Candidate> self_ ABSL_GUARDED_BY(mu_);
};

// Follows an election: the ordered candidates, updated on every change. Reads the prefix, then
// watches it from the next revision; if etcd compacted that history, reads again and re-watches
// (so the candidate list is always a consistent snapshot at `revision`).
class ElectionObserver {
 public:
  // Runs on the observer's threads, one call at a time, after every change (and once at start).
  using Callback = std::function<void(const std::vector<Candidate>&, int64_t revision)>;

  static Result<std::unique_ptr<ElectionObserver>> Start(Client* client, std::string prefix,
                                                         Callback on_change = {});
  ~ElectionObserver();  // Stop()
  ElectionObserver(const ElectionObserver&) = delete;
  ElectionObserver& operator=(const ElectionObserver&) = delete;
  void Stop();

  std::vector<Candidate> candidates() const;
  int64_t revision() const;
  // Blocks until pred(candidates) holds (checked now and after every change) or timeout_ms.
  bool WaitUntil(const std::function<bool(const std::vector<Candidate>&)>& pred,
                 int64_t timeout_ms);

 private:
  ElectionObserver(Client* client, std::string prefix, Callback on_change);
  Status Resync();
  void OnEvents(const std::vector<WatchEvent>& events);
  void Notify();
  void RunResync();

  Client* const client_;
  const std::string prefix_;
  const Callback on_change_;
  mutable absl::Mutex mu_;
  std::map<std::string, Candidate> by_key_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool resync_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex notify_mu_;             // one on_change call at a time, in order
  std::unique_ptr<Watcher> watcher_;  // replaced only by the resync thread, or at Start/Stop
  std::thread resync_thread_;
};

}  // namespace rdb::etcd
