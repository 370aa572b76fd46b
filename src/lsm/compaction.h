// Flush and compaction jobs: the code that writes tables. Policy (which compaction, when) and its
// rationale: docs/design/compaction.md.
//
// Both jobs keep only the newest entry of each user key (the tree has no snapshots; an iterator
// that needs older entries pins the old memtable or Version instead). A compaction drops a
// tombstone only when no deeper level has a table whose range covers its key, so a delete can
// never "uncover" an older value.
//
// Jobs write new, numbered table files (marked pending in the VersionSet), sync them and the
// directory, and fill in a VersionEdit; the caller commits it with LogAndApply and then releases
// the file numbers. A failed job leaves only unreferenced files, which DeleteObsoleteFiles removes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/env.h"
#include "lsm/iterator.h"
#include "lsm/lsm_tree.h"
#include "lsm/table_builder.h"
#include "lsm/table_cache.h"
#include "lsm/version.h"
#include "lsm/version_set.h"

namespace rdb::lsm {

struct JobContext {
  Env* env = nullptr;
  std::string dir;
  TableOptions table_options;
  uint64_t table_file_bytes_max = 64ull << 20;
  VersionSet* versions = nullptr;
  std::shared_ptr<TableCache> table_cache;
  const std::atomic<bool>* stop = nullptr;  // a long job gives up (kAborted) once set
};

struct JobResult {
  std::vector<uint64_t> file_numbers;  // to release after LogAndApply, whatever its outcome
  uint64_t bytes_written = 0;
  uint64_t entries_in = 0;
  uint64_t entries_out = 0;
};

// Writes the memtable behind `it` into one level-0 table and records it in *edit.
Status RunFlush(const JobContext& ctx, InternalIterator* it, VersionEdit* edit, JobResult* result);

struct CompactionPlan {
  int level = 0;  // inputs[0] come from here, inputs[1] from level + 1 (the output level)
  std::array<std::vector<FileRef>, 2> inputs;
  std::vector<FileRef> grandparents;  // level + 2 tables overlapping the inputs
  bool trivial_move = false;          // one table, nothing to merge with: just relink it
};

// Per-level position of the round-robin file choice. Owned by the compaction thread.
using CompactionCursors = std::array<std::string, kNumLevels>;

uint64_t LevelTargetBytes(const LsmOptions& options, int level);
// >= 1 means the level should be compacted; *level gets the neediest level.
double CompactionScore(const Version& v, const LsmOptions& options, int* level);
std::optional<CompactionPlan> PickCompaction(const Version& v, const LsmOptions& options,
                                             CompactionCursors* cursors);

// Merges the plan's inputs into new tables of plan.level + 1 and records the change in *edit.
Status RunCompaction(const JobContext& ctx, const CompactionPlan& plan, const Version& base,
                     VersionEdit* edit, JobResult* result);

}  // namespace rdb::lsm
