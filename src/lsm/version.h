// Version: an immutable snapshot of the live tables, level by level. Readers pin a Version with a
// shared_ptr; its tables are not deleted while any pin remains (VersionSet tracks live versions).
//
// Level 0 holds flushed memtables, newest first; their key ranges may overlap. Levels 1.. hold
// tables sorted by key with disjoint user-key ranges, so a user key has at most one entry per level
// (compaction keeps only the newest entry of each user key).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lsm/format.h"
#include "lsm/iterator.h"
#include "lsm/table_cache.h"
#include "lsm/version_edit.h"

namespace rdb::lsm {

class Version {
 public:
  std::array<std::vector<FileRef>, kNumLevels> files;

  // Applies edit to base; kCorruption if the edit deletes a file that is not there or leaves
  // overlapping ranges in a level >= 1.
  static Result<std::shared_ptr<const Version>> Apply(const Version& base, const VersionEdit& edit);

  // The newest entry of key in the tables. Errors (corruption, missing table) are returned as
  // such, never as kAbsent.
  Status Get(const LookupKey& key, uint64_t bloom_hash, TableCache* cache, LookupResult* result,
             std::string* value) const;

  // One iterator per L0 table and one concatenating iterator per deeper level.
  void AddIterators(const std::shared_ptr<TableCache>& cache, bool fill_cache,
                    std::vector<std::unique_ptr<InternalIterator>>* out) const;

  // Files of `level` whose user-key range intersects [begin, end].
  std::vector<FileRef> Overlapping(int level, std::string_view begin, std::string_view end) const;
  // True if some level deeper than `level` has a table whose range covers user_key.
  bool RangeCoversBelow(int level, std::string_view user_key) const;

  uint64_t LevelBytes(int level) const;
  uint64_t TotalBytes() const;
  size_t TableCount() const;
  std::string LevelSummary() const;  // "L0:2 L1:5"
};

// Iterator over the tables of one sorted level (>= 1), opening each table when reached.
std::unique_ptr<InternalIterator> NewLevelIterator(std::vector<FileRef> files,
                                                   std::shared_ptr<TableCache> cache,
                                                   bool fill_cache);

}  // namespace rdb::lsm
