// The clients of rdb-fault: concurrent client threads doing appends (expected versions any / none
// / exact, with and without idempotency ids, and retries of earlier unknown appends by their id),
// deletes, Gets and ReadStream reads of a small rotating set of keys, each operation recorded in a
// test::History; and subscribers that follow the change feed through the public Subscribe RPC,
// reconnecting to another node (resuming after their position) when a stream ends or stalls.
//
// Keys rotate: every key_epoch_ms the clients move to fresh keys, so each key's history stays
// small enough for the per-key linearizability search however long the run. Keys are named
// "a.<epoch>-<j>" (even j) or "b.<epoch>-<j>" (odd j), so that some subscribers can filter on the
// prefix "a." (with include_before) while the others take everything.
//
// Thread-safety: Start/Stop* from one thread; subscriber_logs() after StopSubscribers().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/history.h"

namespace rdb::client {
class Subscription;
}

namespace rdb::fault {

// The switch to the merged change feed (issue 7). true (since the merged feed landed, 5c86af0):
// every node streams all groups merged, so every subscriber may use any node and is checked
// against the whole committed log. false (the feed before it): Subscribe on a cluster node streams
// only that node's own group, so subscriber s follows group s % groups through that group's nodes
// and is checked against that group's part of the committed log. rdb-fault's --merged-feed /
// --per-group-feed flags override it per run.
inline constexpr bool kMergedFeedDefault = true;

// Most stream errors one subscriber keeps for the report.
inline constexpr size_t kSubscriberErrorsMax = 20;
// A stream that brings nothing (not even a checkpoint) for this long is cancelled and reopened
// elsewhere (a paused or cut-off node never ends it by itself).
inline constexpr int kSubscriberStallMs = 3000;
// Checkpoint period asked of the server.
inline constexpr uint32_t kSubscriberCheckpointMs = 200;
// The key prefix filtered subscribers ask for.
inline constexpr const char* kFilteredPrefix = "a.";

struct WorkloadOptions {
  uint64_t seed = 1;
  int clients = 6;
  int subscribers = 2;
  uint32_t groups = 2;
  std::vector<std::string> addresses;  // every node
  std::vector<uint32_t> node_groups;   // the group of each node
  bool merged_feed = kMergedFeedDefault;
  int key_epoch_ms = 10000;
  int keys_per_epoch = 8;
  double op_timeout_s = 3;
};

struct CheckpointMark {
  size_t events_before = 0;  // how many changes the subscriber had received before it
  uint64_t seq = 0;
  int connection = 0;        // which stream (0, 1, ...) it came on
  uint64_t received_us = 0;  // Clock::Real()->NowMicros() on receipt (the History's clock)
};

struct SubscriberLog {
  int id = 0;
  int scope = -1;      // the group it follows; -1 = every group (merged feed)
  std::string prefix;  // key prefix filter ("" = every key)
  bool include_before = false;
  std::vector<test::RecordedEvent> received;
  std::vector<std::optional<std::string>> befores;  // with include_before: each change's before
  std::vector<CheckpointMark> checkpoints;
  int connections = 0;
  std::vector<std::string> errors;  // the first kSubscriberErrorsMax stream errors
  uint64_t last_seq() const { return received.empty() ? 0 : received.back().seq; }
};

class Workload {
 public:
  Workload(WorkloadOptions options, test::History* history);
  ~Workload();  // stops everything
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  void Start();
  void StopClients();
  // Waits until every subscriber s has received an event with seq >= target(s) (its scope and
  // prefix are set; a target of 0 is met at once). False after timeout_ms.
  bool WaitSubscribers(const std::function<uint64_t(const SubscriberLog&)>& target, int timeout_ms);
  void StopSubscribers();
  std::vector<SubscriberLog> subscriber_logs() const;

  // The scope of subscriber s (see kMergedFeedDefault).
  int ScopeOf(int subscriber) const;

 private:
  struct Sub;
  void ClientLoop(int c);
  void SubscriberLoop(Sub* sub);
  void Watchdog();

  WorkloadOptions options_;
  test::History* const history_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<bool> stop_clients_{false}, stop_subs_{false};
  std::vector<std::thread> clients_;
  std::vector<std::unique_ptr<Sub>> subs_;
  std::thread watchdog_;
};

}  // namespace rdb::fault
