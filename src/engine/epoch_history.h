// EpochHistory: where each leader epoch starts in this node's log (cluster mode), the fact that
// replication's log matching rests on (docs/design/replication.md). Like Kafka's leader-epoch
// checkpoint: one entry per epoch, {epoch, first seq written in it, last seq of the log before it}.
// A follower that reconnects asks the leader for the end of its own last epoch in the leader's log
// (EndOf) and truncates what lies beyond it: an unacknowledged suffix of an older epoch.
//
// Persisted in the EPOCHS file of the data directory (docs/formats/epochs.md), rewritten
// atomically whenever an epoch starts or the log is truncated. The engine writes the file BEFORE
// the first record of a new epoch reaches the log, so after a crash the file may name an epoch the
// log never got; Open() drops entries that start beyond the log's end.
//
// Not thread-safe: the engine guards it with a mutex.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/env.h"

namespace rdb {

struct EpochStart {
  uint64_t epoch = 0;
  uint64_t first_seq = 0;      // first seq of the epoch's first record
  uint64_t prev_last_seq = 0;  // the log's last seq before that record (0 = none)

  bool operator==(const EpochStart&) const = default;
};

// At most this many entries are kept (the oldest are dropped: an entry is only needed to reconcile
// with a member that is that far behind, which then copies the log from the start instead).
inline constexpr size_t kEpochHistoryEntriesMax = 4096;

class EpochHistory {
 public:
  // Loads path if it exists (kCorruption / kNotSupported for a damaged or foreign file) and drops
  // entries that start after log_last_seq.
  static Result<EpochHistory> Open(Env* env, std::string path, uint64_t log_last_seq);

  // Epoch of the log's last record (0: none carries an epoch, as in single-node mode).
  uint64_t last_epoch() const { return entries_.empty() ? 0 : entries_.back().epoch; }
  // The last seq of this log among records of epochs <= epoch: where a member whose last record
  // is of `epoch` must truncate to match this log (log_last_seq if no later epoch started here).
  uint64_t EndOf(uint64_t epoch, uint64_t log_last_seq) const;
  // Records that a record of `epoch` (> last_epoch()) starts at first_seq after prev_last_seq.
  // Persists before returning. kInvalidArgument if epoch does not increase.
  Status Begin(uint64_t epoch, uint64_t first_seq, uint64_t prev_last_seq);
  // The log was cut after seq: drops the epochs that started after it. Persists if changed.
  Status TruncateAfter(uint64_t seq);

  const std::vector<EpochStart>& entries() const { return entries_; }

  static std::string Encode(const std::vector<EpochStart>& entries);
  static Status Decode(std::string_view data, const std::string& what,
                       std::vector<EpochStart>* out);

 private:
  EpochHistory(Env* env, std::string path) : env_(env), path_(std::move(path)) {}
  Status Persist();

  Env* env_;
  std::string path_;
  std::vector<EpochStart> entries_;
};

}  // namespace rdb
