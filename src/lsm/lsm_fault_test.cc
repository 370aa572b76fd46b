// Fault tests: ENOSPC and EIO in background work (recorded, retried, no data lost) and simulated
// crashes (the disk freezes at a random point, unsynced data is dropped, the tree is reopened and
// must hold exactly the writes up to its recovered flushed_seq).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>

#include "io/fault_env.h"
#include "lsm/lsm_tree.h"
#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

struct Op {
  uint64_t seq;
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
};

LsmOptions FaultOptions(Env* env) {
  LsmOptions o;
  o.env = env;
  o.memtable_bytes = 32 << 10;
  o.block_bytes = 512;
  o.table_file_bytes_max = 16 << 10;
  o.l0_compaction_trigger = 2;
  o.l0_stop_writes = 8;
  o.l1_bytes_max = 32 << 10;
  o.max_open_tables = 16;
  o.write_stall_ms_max = 2'000;
  o.background_retry_ms_max = 10;
  return o;
}

std::map<std::string, std::string> ModelAt(const std::vector<Op>& ops, uint64_t upto) {
  std::map<std::string, std::string> m;
  for (const Op& op : ops) {
    if (op.seq > upto) break;
    if (op.value) {
      m[op.key] = *op.value;
    } else {
      m.erase(op.key);
    }
  }
  return m;
}

void ExpectTreeEquals(LsmTree* tree, const std::map<std::string, std::string>& model,
                      const std::string& context) {
  auto it = tree->NewIterator();
  auto m = model.begin();
  for (it->Seek(""); it->Valid(); it->Next(), ++m) {
    ASSERT_NE(m, model.end()) << context << ": unexpected " << it->key();
    ASSERT_EQ(it->key(), m->first) << context;
    ASSERT_EQ(it->value(), m->second) << context;
  }
  ASSERT_TRUE(it->status().ok()) << context << ": " << it->status().ToString();
  ASSERT_EQ(m, model.end()) << context << ": missing " << m->first;
  for (const auto& [k, v] : model) {
    std::string got;
    ASSERT_TRUE(tree->Get(k, &got).ok()) << context << " " << k;
    ASSERT_EQ(got, v);
  }
}

std::vector<Op> RandomOps(uint64_t first_seq, int n, std::mt19937_64* rng) {
  std::vector<Op> ops;
  for (int i = 0; i < n; i++) {
    Op op;
    op.seq = first_seq + i;
    op.key = "key-" + std::to_string((*rng)() % 1500);
    if ((*rng)() % 5 != 0)
      op.value = "v" + std::to_string(op.seq) + std::string((*rng)() % 30, 'z');
    ops.push_back(std::move(op));
  }
  return ops;
}

Status Apply(LsmTree* tree, const Op& op) {
  return op.value ? tree->Put(op.key, *op.value, op.seq) : tree->Delete(op.key, op.seq);
}

// ENOSPC hits at many different points of a flush (table data, table footer, directory, manifest
// record, manifest roll). The flush fails and is retried; once space returns everything is
// flushed, and nothing is lost across a reopen.
TEST(LsmFaultTest, NoSpaceDuringFlushRecoversWhenSpaceReturns) {
  for (uint64_t space : {0ull, 10ull, 500ull, 3000ull, 6000ull, 9000ull, 12000ull, 20000ull}) {
    SCOPED_TRACE("space " + std::to_string(space));
    test::TempDir dir;
    FaultEnv env(Env::Posix());
    std::mt19937_64 rng(space);
    std::vector<Op> ops = RandomOps(1, 800, &rng);
    auto tree = std::move(LsmTree::Open(FaultOptions(&env), dir.path())).value();
    for (size_t i = 0; i < 400; i++) ASSERT_TRUE(Apply(tree.get(), ops[i]).ok());
    env.SetNoSpaceAfter(space);
    Status s = tree->Flush();
    for (size_t i = 400; i < 500; i++) ASSERT_TRUE(Apply(tree.get(), ops[i]).ok());
    if (!s.ok()) {
      EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
      EXPECT_EQ(tree->background_error().code(), Code::kNoSpace);
      EXPECT_GE(tree->stats().background_errors, 1u);
      ExpectTreeEquals(tree.get(), ModelAt(ops, 500), "while out of space");
    }
    env.ClearNoSpace();
    ASSERT_TRUE(tree->Flush().ok());
    for (size_t i = 500; i < ops.size(); i++) ASSERT_TRUE(Apply(tree.get(), ops[i]).ok());
    ASSERT_TRUE(tree->Flush().ok());
    ASSERT_TRUE(tree->CompactAll().ok());
    EXPECT_TRUE(tree->background_error().ok());
    EXPECT_EQ(tree->flushed_seq(), ops.back().seq);
    ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "after recovery");
    ASSERT_TRUE(tree->Close().ok());
    tree.reset();
    env.DropUnsyncedData();
    tree = std::move(LsmTree::Open(FaultOptions(&env), dir.path())).value();
    EXPECT_EQ(tree->flushed_seq(), ops.back().seq);
    ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "after reopen");
  }
}

TEST(LsmFaultTest, NoSpaceDuringCompactionIsRetried) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  LsmOptions o = FaultOptions(&env);
  o.l0_compaction_trigger = 100;  // compaction only when we ask
  o.l0_stop_writes = 100;
  auto tree = std::move(LsmTree::Open(o, dir.path())).value();
  std::mt19937_64 rng(7);
  std::vector<Op> ops = RandomOps(1, 6000, &rng);
  for (const Op& op : ops) ASSERT_TRUE(Apply(tree.get(), op).ok());
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->Close().ok());
  tree.reset();
  o.l0_compaction_trigger = 2;
  o.l0_stop_writes = 100;
  env.SetNoSpaceAfter(20000);
  tree = std::move(LsmTree::Open(o, dir.path())).value();
  Status s = tree->CompactAll();
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "out of space");
  env.ClearNoSpace();
  ASSERT_TRUE(tree->CompactAll().ok());
  EXPECT_TRUE(tree->background_error().ok());
  ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "compacted");
  ASSERT_TRUE(tree->Close().ok());
  tree.reset();
  env.DropUnsyncedData();
  tree = std::move(LsmTree::Open(o, dir.path())).value();
  ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "reopened");
}

TEST(LsmFaultTest, OpensWithAFullDiskAndCatchesUpLater) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  std::mt19937_64 rng(11);
  std::vector<Op> ops = RandomOps(1, 2000, &rng);
  // The 1000 writes made while the disk is full must fit in the mutable and immutable memtables
  // (entries plus their hash index).
  LsmOptions o = FaultOptions(&env);
  o.memtable_bytes = 48 << 10;
  {
    auto tree = std::move(LsmTree::Open(o, dir.path())).value();
    for (size_t i = 0; i < 1000; i++) ASSERT_TRUE(Apply(tree.get(), ops[i]).ok());
    ASSERT_TRUE(tree->Flush().ok());
  }
  env.SetNoSpaceAfter(0);
  auto opened = LsmTree::Open(o, dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto tree = std::move(opened).value();
  EXPECT_EQ(tree->flushed_seq(), 1000u);
  EXPECT_GE(tree->stats().background_errors, 1u);
  ExpectTreeEquals(tree.get(), ModelAt(ops, 1000), "full disk");
  for (size_t i = 1000; i < ops.size(); i++) ASSERT_TRUE(Apply(tree.get(), ops[i]).ok());
  EXPECT_EQ(tree->Flush().code(), Code::kNoSpace);
  env.ClearNoSpace();
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->Close().ok());
  tree.reset();
  env.DropUnsyncedData();
  tree = std::move(LsmTree::Open(o, dir.path())).value();
  EXPECT_EQ(tree->flushed_seq(), ops.back().seq);
  ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "after space returned");
}

TEST(LsmFaultTest, IoErrorsOnSyncAreRetried) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  auto tree = std::move(LsmTree::Open(FaultOptions(&env), dir.path())).value();
  std::mt19937_64 rng(3);
  std::vector<Op> ops = RandomOps(1, 3000, &rng);
  for (size_t i = 0; i < ops.size(); i++) {
    if (i % 500 == 0) env.InjectError(FaultEnv::Op::kSync, Status::IoError("EIO (injected)"), 2);
    if (i % 700 == 0) env.InjectError(FaultEnv::Op::kSyncDir, Status::IoError("EIO (injected)"), 1);
    ASSERT_TRUE(Apply(tree.get(), ops[i]).ok());
  }
  env.ClearErrors();
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->CompactAll().ok());
  ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "after EIO");
  ASSERT_TRUE(tree->Close().ok());
  tree.reset();
  env.DropUnsyncedData();
  tree = std::move(LsmTree::Open(FaultOptions(&env), dir.path())).value();
  ExpectTreeEquals(tree.get(), ModelAt(ops, UINT64_MAX), "reopened");
}

// The disk "freezes" at a random moment while flushes and compactions run: from then on every
// write-side call fails. Once the tree has stopped, unsynced data is dropped (a power cut). Calls
// already past the fault check when the disk froze count as done before the crash, so the drop
// waits until they finish. The reopened tree must hold exactly the writes up to its recovered
// flushed_seq: the engine replays the rest from its log.
TEST(LsmFaultTest, CrashAtRandomPointsRecoversAConsistentPrefix) {
  const Status frozen = Status::IoError("disk frozen (simulated crash)");
  for (int trial = 0; trial < 8; trial++) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    test::TempDir dir;
    FaultEnv env(Env::Posix());
    std::mt19937_64 rng(1000 + trial);
    std::vector<Op> ops;
    uint64_t seq = 1;
    uint64_t recovered = 0;
    for (int crash = 0; crash < 3; crash++) {
      auto tree = std::move(LsmTree::Open(FaultOptions(&env), dir.path())).value();
      EXPECT_EQ(tree->flushed_seq(), recovered);
      // The engine replays its log after flushed_seq: re-apply those writes.
      for (const Op& op : ops) {
        if (op.seq > recovered) {
          ASSERT_TRUE(Apply(tree.get(), op).ok());
        }
      }
      std::vector<Op> more = RandomOps(seq, 1000 + static_cast<int>(rng() % 3000), &rng);
      seq += more.size();
      size_t freeze_at = rng() % more.size();
      for (size_t i = 0; i < more.size(); i++) {
        if (i == freeze_at) {
          if (rng() % 2) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 5));
          for (auto op : {FaultEnv::Op::kAppend, FaultEnv::Op::kSync, FaultEnv::Op::kCreate,
                          FaultEnv::Op::kRename, FaultEnv::Op::kSyncDir}) {
            env.InjectError(op, frozen, -1);
          }
          break;
        }
        ops.push_back(more[i]);
        ASSERT_TRUE(Apply(tree.get(), more[i]).ok());
      }
      (void)tree->Close();
      tree.reset();
      env.ClearErrors();
      env.DropUnsyncedData();
      auto reopened = LsmTree::Open(FaultOptions(&env), dir.path());
      ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
      tree = std::move(reopened).value();
      recovered = tree->flushed_seq();
      ExpectTreeEquals(
          tree.get(), ModelAt(ops, recovered),
          "crash " + std::to_string(crash) + " recovered " + std::to_string(recovered));
      ASSERT_TRUE(tree->Close().ok());
    }
  }
}

}  // namespace
}  // namespace rdb
