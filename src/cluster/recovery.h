// Tail recovery: what a new leader 1 does before it accepts writes (docs/design/replication.md,
// "Failover"). It asks the other members where their logs end (Tail) and, if the most advanced
// answer is ahead of its own log, cuts its own unacknowledged suffix (if that member's log does not
// have it) and copies the rest (Fetch). With `reads` answers, this one included, and
// reads + writes > group_size, it then holds every acknowledged write even when both previous
// leaders are gone.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "cluster/replicator.h"
#include "engine/engine.h"

namespace rdb::cluster {

struct RecoveryOptions {
  uint32_t group = 0;
  // Answers needed, this node counted (1: leader 2's promotion, which holds every acknowledged
  // write already and only takes what reachable members have beyond it).
  uint32_t answers_needed = 1;
  int64_t timeout_ms = 500;  // per member, asked in parallel
};

struct RecoveryOutcome {
  uint32_t answers = 1;          // members that answered, this one included
  uint64_t truncated_after = 0;  // 0: nothing cut
  uint64_t fetched_records = 0;
};

// kUnavailable when fewer than answers_needed members answered (nothing changed then).
Result<RecoveryOutcome> RecoverTail(Engine* engine, const std::vector<ReplicaPeer>& peers,
                                    const RecoveryOptions& options);

}  // namespace rdb::cluster
