// Checkers over a recorded History (history.h) for the cluster and fault-injection tests (issue 7):
//
//   CheckLinearizable  per key, a Wing–Gong / Lowe search with memoization (as Porcupine does)
//                      against the model of DESIGN.md section 1;
//   CheckNoLostAcks    every acknowledged write is in the final log, nothing never-written is,
//                      versions per key are contiguous, seqs unique and in real-time order;
//   CheckListAppend    every ReadStream of a key is a prefix of every later one (Elle-style);
//   CheckStream        a subscriber received exactly the committed log from its start.
//
// All are pure functions of their arguments, thread-compatible, bounded in time and memory (a
// search that outgrows its bounds answers kUnknown instead of hanging).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/history.h"

namespace rdb::test {

struct CheckResult {
  enum class Verdict : uint8_t { kOk, kViolation, kUnknown };
  Verdict verdict = Verdict::kOk;
  std::string key;      // the key concerned, when there is one
  std::string message;  // what is wrong, with the operations that show it; a summary when kOk

  bool ok() const { return verdict == Verdict::kOk; }
  bool violation() const { return verdict == Verdict::kViolation; }
};

// Search steps (one try to linearize an operation, or one backtrack) per key before giving up.
inline constexpr uint64_t kLinearizabilitySearchStepsMax = 5'000'000;
// Memory of the memo (visited linearized-set x state pairs) per key before giving up.
inline constexpr uint64_t kLinearizabilityMemoBytesMax = 512ull << 20;
// Search steps spent shrinking a violating key's history for the report.
inline constexpr uint64_t kLinearizabilityMinimizeStepsMax = 5'000'000;

struct LinearizabilityOptions {
  uint64_t search_steps_max = kLinearizabilitySearchStepsMax;
  uint64_t memo_bytes_max = kLinearizabilityMemoBytesMax;
  // Shrinks a violation to a small failing sub-history: the shortest failing prefix (operations
  // still pending at the cut count as unknown), then without each read that is not needed.
  bool minimize = true;
  uint64_t minimize_steps_max = kLinearizabilityMinimizeStepsMax;
};

// Linearizability, key by key. The model: a key is a list of events (versions 1..n, PUT or
// DELETE; a deleted key keeps its events and its version continues). Append/Delete first look up
// their idempotency id among the key's events (a retry returns the original {seq, version} and
// writes nothing), then check the expected version against the key's version (a mismatch fails
// with FAILED_PRECONDITION and that version), a Delete of an absent or deleted key writes nothing
// (not found), and otherwise appends the event at version n+1 with a seq above every seq of the
// key. Get returns the last event if it is a PUT (else not found); ReadStream returns the whole
// list. Unknown outcomes may take effect at any time after their invocation, or never; reads with
// an unknown outcome and failures other than FAILED_PRECONDITION say nothing and are skipped.
//
// kViolation: `key` and, in `message`, its failing sub-history ordered by invocation and the
// longest linearizable prefix found. kUnknown: a key's search hit a bound (and no key failed).
CheckResult CheckLinearizable(const std::vector<HistoryEntry>& entries,
                              const LinearizabilityOptions& options = {});

// `final_log`: every event of the database after the run (a ReadAll from seq 1 once the cluster is
// quiet and healed), any order. Verifies:
//   - every ok Append/Delete is in it with its acknowledged seq and version, and its payload/kind;
//   - every event in it was written by an Append/Delete of the history that did not definitely
//     fail (matched by key, kind and payload), and no more often than such operations (those
//     sharing an idempotency id count once) could have written it;
//   - each key's versions are exactly 1..n, seqs are unique and increase with the version;
//   - acknowledged seqs increase in real-time order: a write acknowledged before another write
//     was invoked has the smaller seq (idempotent retries of an earlier operation excepted).
CheckResult CheckNoLostAcks(const std::vector<HistoryEntry>& entries,
                            const std::vector<RecordedEvent>& final_log);

// Elle-style list-append: every ok ReadStream of a key is contiguous (versions 1..n), all reads of
// a key are prefixes of one another, and a read that completed before another was invoked is a
// prefix of it (the later one is never shorter).
CheckResult CheckListAppend(const std::vector<HistoryEntry>& entries);

// A subscriber that started after seq `after_seq` (0 = from the start) received `received`. The
// committed global log (`committed_log`, in seq order; filter it as the subscriber's filter does)
// restricted to seqs above after_seq must begin with exactly `received` (same seqs, and the same
// key, version, kind and payload where both say): strictly increasing, no gap, no duplicate,
// nothing invented. With `caught_up`, `received` must be all of it.
CheckResult CheckStream(std::string_view subscriber, const std::vector<RecordedEvent>& received,
                        const std::vector<RecordedEvent>& committed_log, uint64_t after_seq,
                        bool caught_up);

}  // namespace rdb::test
