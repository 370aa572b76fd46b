// A recorder of client operations for cluster and fault tests: every operation's invocation and
// completion (ok / not found / failed / unknown) with monotonic timestamps, in a form the checkers
// of linearizability.h read and a failure report can print.
//
// The model is the data model of DESIGN.md section 1, one key per operation: Append (one PUT event,
// with an expected version and an optional idempotency id), Delete, Get and ReadStream (the whole
// stream of the key, from version 1). Batch appends and partial reads are not modelled.
//
// Depends on base/ only (no gRPC): the harness converts its client's results into Outcomes.
#pragma once

#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace rdb::test {

// Completion time of an operation whose outcome is unknown (or that never completed): it may take
// effect at any time after its invocation.
inline constexpr uint64_t kTimeInfinity = std::numeric_limits<uint64_t>::max();

// Most operations one History records (an RDB_CHECK beyond it).
inline constexpr size_t kHistoryOpsMax = 10'000'000;

// One event of a key as a read reports it (ReadStream, ReadAll, a subscription).
struct RecordedEvent {
  enum class Kind : uint8_t { kPut, kDelete };
  std::string key;
  uint64_t seq = 0;  // 0 = not reported
  uint64_t version = 0;
  Kind kind = Kind::kPut;
  std::string payload;  // empty for a delete

  static RecordedEvent Put(std::string key, uint64_t seq, uint64_t version, std::string payload);
  static RecordedEvent Delete(std::string key, uint64_t seq, uint64_t version);
};

// The expected version of an Append or Delete (optimistic concurrency).
struct Expected {
  enum class Kind : uint8_t { kAny, kNoStream, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // for kExact

  static Expected Any() { return {}; }
  static Expected NoStream() { return {Kind::kNoStream, 0}; }
  static Expected Exact(uint64_t v) { return {Kind::kExact, v}; }
};

enum class OpKind : uint8_t { kAppend, kDelete, kGet, kReadStream };

// What a client asked for.
struct Op {
  OpKind kind = OpKind::kGet;
  std::string key;
  std::string payload;         // kAppend
  Expected expected;           // kAppend, kDelete
  std::string idempotency_id;  // kAppend, kDelete; empty = none

  static Op Append(std::string key, std::string payload, Expected expected = Expected::Any(),
                   std::string idempotency_id = "");
  static Op Delete(std::string key, Expected expected = Expected::Any(),
                   std::string idempotency_id = "");
  static Op Get(std::string key);
  static Op ReadStream(std::string key);
};

// What the client got back.
//   kOk:       Append/Delete: {seq, version}; Get: {value, version, seq}; ReadStream: events.
//   kNotFound: Get of an absent key; Delete of an absent key (nothing written); ReadStream of a
//              key with no events (same as an empty list).
//   kFailed:   definitely not applied. code kFailedPrecondition (expected-version mismatch, with
//              the actual version when the server reported it) constrains the key's state; any
//              other code (kInvalidArgument, ...) carries no information about it.
//   kUnknown:  a timeout, UNAVAILABLE, a lost connection: a write may or may not have been applied.
struct Outcome {
  enum class Type : uint8_t { kOk, kNotFound, kFailed, kUnknown };
  Type type = Type::kUnknown;
  uint64_t seq = 0;                        // kOk Append/Delete/Get; 0 = not reported
  uint64_t version = 0;                    // kOk Append/Delete/Get
  std::string value;                       // kOk Get
  std::vector<RecordedEvent> events;       // kOk ReadStream, in version order
  Code code = Code::kOk;                   // kFailed / kUnknown
  std::optional<uint64_t> actual_version;  // kFailed with kFailedPrecondition
  std::string message;

  static Outcome Written(uint64_t seq, uint64_t version);
  static Outcome Value(std::string value, uint64_t version, uint64_t seq = 0);
  static Outcome Stream(std::vector<RecordedEvent> events);
  static Outcome NotFound();
  static Outcome Failed(Code code, std::optional<uint64_t> actual_version = std::nullopt,
                        std::string message = "");
  static Outcome Unknown(std::string message = "");
};

// One recorded operation. Times are microseconds of the History's clock, strictly increasing in
// recording order, so "A completed before B was invoked" is exactly complete_us < B.invoke_us.
struct HistoryEntry {
  uint64_t id = 0;  // index in the history
  int client = 0;
  Op op;
  Outcome outcome;  // kUnknown while pending
  uint64_t invoke_us = 0;
  uint64_t complete_us = kTimeInfinity;  // kTimeInfinity: unknown outcome or still pending
};

// Thread-safe: any number of client threads may Invoke and Complete concurrently.
class History {
 public:
  // `clock` (not owned, must outlive the History) gives the monotonic time (NowMicros).
  explicit History(Clock* clock = Clock::Real());
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Records the invocation of `op` by `client`, before the request is sent. Returns its id.
  uint64_t Invoke(int client, Op op);
  // Records the outcome of the operation `id`, after the response arrived. Exactly once per id; an
  // unknown outcome completes at kTimeInfinity.
  void Complete(uint64_t id, Outcome outcome);

  // A copy of every entry so far, by id (pending ones with an unknown outcome).
  std::vector<HistoryEntry> Entries() const;
  size_t size() const;
  // The readable text form, one line per operation (FormatEntry), times relative to the first.
  std::string ToString() const;

 private:
  uint64_t NextTimeLocked();

  Clock* const clock_;
  mutable std::mutex mu_;
  std::vector<HistoryEntry> entries_;  // guarded by mu_
  std::vector<bool> completed_;        // guarded by mu_
  uint64_t last_us_ = 0;               // guarded by mu_
};

// "#12 c3 [1000..1500] Append(k1, \"p5\", expected=3, id=x) -> ok seq=17 v=4"; times are
// relative to `base_us`. Payloads are escaped and cut at 48 bytes.
std::string FormatEntry(const HistoryEntry& e, uint64_t base_us = 0);
std::string FormatOp(const Op& op);
std::string FormatOutcome(OpKind kind, const Outcome& o);
std::string FormatEvent(const RecordedEvent& e);
std::string FormatEntries(const std::vector<HistoryEntry>& entries);

}  // namespace rdb::test
