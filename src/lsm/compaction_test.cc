// Compaction picking (PickCompaction, CompactionScore, LevelTargetBytes) against the policy in
// docs/design/compaction.md, on hand-built Versions: no files are read or written.
#include "lsm/compaction.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace rdb::lsm {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

FileRef Table(uint64_t number, const std::string& smallest, const std::string& largest,
              uint64_t bytes) {
  auto f = std::make_shared<FileMeta>();
  f->number = number;
  f->file_size = bytes;
  AppendInternalKey(&f->smallest, smallest, 100, ValueType::kValue);
  AppendInternalKey(&f->largest, largest, 1, ValueType::kValue);
  return f;
}

std::vector<uint64_t> Numbers(const std::vector<FileRef>& files) {
  std::vector<uint64_t> out;
  for (const FileRef& f : files) out.push_back(f->number);
  return out;
}

LsmOptions SmallOptions() {
  LsmOptions o;
  o.l0_compaction_trigger = 4;
  o.l1_bytes_max = 10 * kMiB;
  o.table_file_bytes_max = 2 * kMiB;
  return o;
}

TEST(CompactionPickTest, LevelTargetsGrowTenfoldFromL1) {
  LsmOptions defaults;
  EXPECT_EQ(LevelTargetBytes(defaults, 1), 256 * kMiB);
  EXPECT_EQ(LevelTargetBytes(defaults, 2), 2560 * kMiB);
  EXPECT_EQ(LevelTargetBytes(defaults, 3), 25600 * kMiB);
  LsmOptions o = SmallOptions();
  uint64_t expected = 10 * kMiB;
  for (int level = 1; level < kNumLevels; level++, expected *= 10) {
    EXPECT_EQ(LevelTargetBytes(o, level), expected) << "level " << level;
  }
}

TEST(CompactionPickTest, L0ScoreIsTableCountOverTrigger) {
  LsmOptions o = SmallOptions();
  CompactionCursors cursors;
  Version v;
  for (uint64_t n = 1; n <= 3; n++) v.files[0].push_back(Table(n, "a", "z", kMiB));
  int level = -1;
  EXPECT_DOUBLE_EQ(CompactionScore(v, o, &level), 0.75);
  EXPECT_EQ(level, 0);
  EXPECT_FALSE(PickCompaction(v, o, &cursors).has_value()) << "below the trigger: nothing to do";

  v.files[0].insert(v.files[0].begin(), Table(4, "a", "z", kMiB));
  EXPECT_DOUBLE_EQ(CompactionScore(v, o, &level), 1.0);
  EXPECT_EQ(level, 0);
  EXPECT_TRUE(PickCompaction(v, o, &cursors).has_value()) << "at the trigger: compact L0";
}

TEST(CompactionPickTest, L0CompactionTakesAllOfL0AndTheOverlappingPartOfL1) {
  LsmOptions o = SmallOptions();
  CompactionCursors cursors;
  Version v;
  // Newest first, as a Version keeps L0; their combined range is [c, m].
  v.files[0] = {Table(14, "e", "g", kMiB), Table(13, "c", "d", kMiB), Table(12, "h", "m", kMiB),
                Table(11, "d", "f", kMiB), Table(10, "c", "e", kMiB)};
  v.files[1] = {Table(1, "a", "b", kMiB), Table(2, "b1", "c", kMiB), Table(3, "f", "k", kMiB),
                Table(4, "m", "p", kMiB), Table(5, "q", "t", kMiB)};
  v.files[2] = {Table(20, "a", "a9", kMiB), Table(21, "b", "n", kMiB), Table(22, "o", "z", kMiB)};
  auto plan = PickCompaction(v, o, &cursors);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->level, 0);
  EXPECT_EQ(Numbers(plan->inputs[0]), (std::vector<uint64_t>{14, 13, 12, 11, 10}));
  EXPECT_EQ(Numbers(plan->inputs[1]), (std::vector<uint64_t>{2, 3, 4}));
  // Grandparents: L2 tables overlapping the whole input range [b1, p].
  EXPECT_EQ(Numbers(plan->grandparents), (std::vector<uint64_t>{21, 22}));
  EXPECT_FALSE(plan->trivial_move);
}

TEST(CompactionPickTest, DeeperLevelsScoreBytesOverTargetAndTheNeediestWins) {
  LsmOptions o = SmallOptions();
  CompactionCursors cursors;
  Version v;
  v.files[0] = {Table(30, "a", "z", kMiB), Table(31, "a", "z", kMiB)};        // score 0.5
  v.files[1] = {Table(1, "a", "f", 6 * kMiB), Table(2, "g", "m", 6 * kMiB)};  // 12/10 = 1.2
  int level = -1;
  EXPECT_DOUBLE_EQ(CompactionScore(v, o, &level), 1.2);
  EXPECT_EQ(level, 1);
  // L2 at 2.5x its 100 MiB target beats L1 at 1.2x.
  v.files[2] = {Table(3, "a", "m", 125 * kMiB), Table(4, "n", "z", 125 * kMiB)};
  EXPECT_DOUBLE_EQ(CompactionScore(v, o, &level), 2.5);
  EXPECT_EQ(level, 2);
  auto plan = PickCompaction(v, o, &cursors);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->level, 2);
  // And a full L0 beats both once its count over the trigger is higher still.
  for (uint64_t n = 32; n < 42; n++) v.files[0].push_back(Table(n, "a", "z", kMiB));  // 12/4 = 3
  EXPECT_DOUBLE_EQ(CompactionScore(v, o, &level), 3.0);
  EXPECT_EQ(level, 0);
}

TEST(CompactionPickTest, BottomLevelIsNeverCompacted) {
  LsmOptions o = SmallOptions();
  CompactionCursors cursors;
  Version v;
  const int bottom = kNumLevels - 1;
  v.files[bottom] = {Table(1, "a", "z", 10 * LevelTargetBytes(o, bottom))};
  int level = -1;
  EXPECT_LT(CompactionScore(v, o, &level), 1.0);
  EXPECT_FALSE(PickCompaction(v, o, &cursors).has_value());
}

TEST(CompactionPickTest, LevelNPicksOneTableRoundRobinWithItsOverlapInLevelNPlus1) {
  LsmOptions o = SmallOptions();
  CompactionCursors cursors;
  Version v;
  v.files[1] = {Table(1, "a", "c", 5 * kMiB), Table(2, "d", "f", 5 * kMiB),
                Table(3, "g", "i", 5 * kMiB)};  // 15 MiB: 1.5x the L1 target
  v.files[2] = {Table(10, "a", "b", kMiB), Table(11, "c", "e", kMiB), Table(12, "f", "f5", kMiB),
                Table(13, "j", "k", kMiB)};
  // The cursor walks the level in key order and wraps around.
  const std::vector<std::pair<uint64_t, std::vector<uint64_t>>> expected = {
      {1, {10, 11}}, {2, {11, 12}}, {3, {}}, {1, {10, 11}}};
  for (const auto& [table, overlap] : expected) {
    auto plan = PickCompaction(v, o, &cursors);
    ASSERT_TRUE(plan.has_value());
    EXPECT_EQ(plan->level, 1);
    EXPECT_EQ(Numbers(plan->inputs[0]), std::vector<uint64_t>{table});
    EXPECT_EQ(Numbers(plan->inputs[1]), overlap) << "L1 table " << table;
    EXPECT_EQ(plan->trivial_move, overlap.empty()) << "L1 table " << table;
    EXPECT_EQ(cursors[1], std::string(ExtractUserKey(plan->inputs[0][0]->largest)));
  }
}

TEST(CompactionPickTest, TrivialMoveOnlyWithoutOverlapAndWithBoundedGrandparents) {
  LsmOptions o = SmallOptions();
  o.l0_compaction_trigger = 1;
  // A single L0 table with nothing under it is relinked into L1.
  {
    CompactionCursors cursors;
    Version v;
    v.files[0] = {Table(5, "a", "z", kMiB)};
    auto plan = PickCompaction(v, o, &cursors);
    ASSERT_TRUE(plan.has_value());
    EXPECT_TRUE(plan->trivial_move);
    // Two L0 tables are merged even if L1 is empty.
    v.files[0].push_back(Table(4, "a", "z", kMiB));
    plan = PickCompaction(v, o, &cursors);
    ASSERT_TRUE(plan.has_value());
    EXPECT_FALSE(plan->trivial_move);
  }
  // An L1 table with an empty range in L2 moves, unless it overlaps more than
  // 10 x table_file_bytes_max (20 MiB here) of L3.
  for (uint64_t l3_bytes : {20 * kMiB, 20 * kMiB + 1}) {
    CompactionCursors cursors;
    Version v;
    v.files[1] = {Table(1, "a", "m", 11 * kMiB)};
    v.files[2] = {Table(2, "n", "z", kMiB)};
    v.files[3] = {Table(3, "a", "c", l3_bytes / 2), Table(4, "d", "m", l3_bytes - l3_bytes / 2)};
    auto plan = PickCompaction(v, o, &cursors);
    ASSERT_TRUE(plan.has_value());
    EXPECT_EQ(plan->level, 1);
    EXPECT_TRUE(plan->inputs[1].empty());
    EXPECT_EQ(Numbers(plan->grandparents), (std::vector<uint64_t>{3, 4}));
    EXPECT_EQ(plan->trivial_move, l3_bytes <= 10 * o.table_file_bytes_max) << l3_bytes;
  }
}

}  // namespace
}  // namespace rdb::lsm
