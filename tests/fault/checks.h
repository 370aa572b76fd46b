// What rdb-fault checks at the end of a run, over the recorded history, the committed log (a
// ReadAll of the healed cluster), each member's own log and the subscribers' streams:
//
//   linearizable     per key (test::CheckLinearizable; a key too big to search is "unknown")
//   no-lost-acks     every acknowledged write is committed, nothing never written is, versions
//                    per key contiguous (test::CheckNoLostAcks)
//   list-append      ReadStream reads are prefixes of later ones (test::CheckListAppend)
//   stream           each subscriber received exactly the committed log of its scope and
//                    filter (test::CheckStream), and caught up once the cluster healed
//   before           include_before subscribers got each key's previous value (CheckBefore)
//   watermarks       CheckWatermarks and CheckWatermarkAhead below, on each subscriber's
//                    Checkpoint messages
//   replicas         every member of a group holds the same log as its leader 1
//
// A violation carries the failing key's operations (the minimal failing history when the
// linearizability search found one).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fault/workload.h"
#include "tests/support/history.h"
#include "tests/support/linearizability.h"

namespace rdb::fault {

// Checkpoint{S} on a stream promises that every event of its scope with seq <= S has been
// delivered (the merged feed's watermark, issue 7). So: within one stream (connection) the
// checkpoints never go backwards, and no change received after a checkpoint S — on that stream or
// on a later one the subscriber resumed — has a seq <= S. (A watermark that ran ahead of a group's
// committed events shows here as a later change below it, or in CheckStream as a gap once the
// subscriber resumed after S.)
test::CheckResult CheckWatermarks(std::string_view subscriber,
                                  const std::vector<test::RecordedEvent>& received,
                                  const std::vector<CheckpointMark>& checkpoints);

// A watermark never runs ahead of what can still be committed, in real time: once a subscriber
// has received Checkpoint{C}, a write it covers (in its scope and filter) that is invoked later
// must be committed with a seq above C. Checked for every acknowledged Append/Delete of `entries`
// invoked more than kWatermarkSlackUs after the checkpoint's receipt (the same monotonic clock).
inline constexpr uint64_t kWatermarkSlackUs = 1000;
test::CheckResult CheckWatermarkAhead(std::string_view subscriber, const SubscriberLog& log,
                                      const std::vector<test::HistoryEntry>& entries,
                                      uint32_t groups);

// With include_before, each change's `before` is the key's value just before that event in the
// committed log (absent when the key had no value: its first event, or after a delete).
// `befores[i]` belongs to `received[i]`.
test::CheckResult CheckBefore(std::string_view subscriber,
                              const std::vector<test::RecordedEvent>& received,
                              const std::vector<std::optional<std::string>>& befores,
                              const std::vector<test::RecordedEvent>& committed_log);

// Hook for per-group watermarks: checks samples of each group's committed watermark (never
// backwards). Group watermarks travel only inside the cluster (internal group feeds), so nothing
// samples them yet: the merged Checkpoint checks above cover them end to end.
test::CheckResult CheckGroupWatermarks(const std::map<uint32_t, std::vector<uint64_t>>& samples);

struct Violation {
  std::string check;    // "linearizable", "no-lost-acks", ...
  std::string key;      // the key concerned, if any
  std::string message;  // what is wrong
  std::string history;  // the failing key's operations, formatted
};

struct CheckInput {
  std::vector<test::HistoryEntry> entries;
  std::vector<test::RecordedEvent> committed;  // the whole committed log, in seq order
  std::vector<SubscriberLog> subscribers;
  bool subscribers_caught_up = false;
  uint32_t groups = 1;
  // Each group's members' own logs by node name, and the name of its leader 1.
  std::map<uint32_t, std::map<std::string, std::vector<test::RecordedEvent>>> member_logs;
  std::map<uint32_t, std::string> leaders;
};

struct CheckReport {
  std::vector<Violation> violations;
  std::vector<std::string> notes;               // not violations: keys too big to check, ...
  std::map<std::string, std::string> verdicts;  // check -> "ok" | "violation" | "unknown"
};

CheckReport RunChecks(const CheckInput& in);

// The committed log restricted to a subscriber's scope (-1: everything) and key prefix.
std::vector<test::RecordedEvent> InScope(const std::vector<test::RecordedEvent>& log, int scope,
                                         uint32_t groups, const std::string& prefix = "");

}  // namespace rdb::fault
