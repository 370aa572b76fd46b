// Tree-level tests: a randomized model test against std::map across flushes, compactions and
// reopens; flush discipline (limit, before_flush, DropUnflushed); faults (ENOSPC, EIO, corruption).
#include "lsm/lsm_tree.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "base/crc32c.h"
#include "io/fault_env.h"
#include "lsm/format.h"
#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

using Model = std::map<std::string, std::string>;

LsmOptions SmallOptions(Env* env) {
  LsmOptions o;
  o.env = env;
  o.memtable_bytes = 32 << 10;
  o.block_cache_bytes = 256 << 10;
  o.block_bytes = 512;
  o.table_file_bytes_max = 16 << 10;
  o.l0_compaction_trigger = 2;
  o.l0_stop_writes = 6;
  o.l1_bytes_max = 32 << 10;
  o.max_open_tables = 8;
  o.write_stall_ms_max = 20'000;
  o.background_retry_ms_max = 20;
  return o;
}

std::unique_ptr<LsmTree> OpenOrDie(const LsmOptions& o, const std::string& dir) {
  auto t = LsmTree::Open(o, dir);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

void ExpectMatches(LsmTree* tree, const Model& model, const std::string& context) {
  auto it = tree->NewIterator();
  auto m = model.begin();
  for (it->Seek(""); it->Valid(); it->Next(), ++m) {
    ASSERT_NE(m, model.end()) << context << ": extra key " << it->key();
    ASSERT_EQ(it->key(), m->first) << context;
    ASSERT_EQ(it->value(), m->second) << context;
  }
  ASSERT_TRUE(it->status().ok()) << context << ": " << it->status().ToString();
  ASSERT_EQ(m, model.end()) << context << ": missing key " << m->first;
}

std::string Key(uint64_t i) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "tenant/stream-%06llu/head", static_cast<unsigned long long>(i));
  return buf;
}

TEST(LsmTreeTest, PutGetDeleteIterate) {
  test::TempDir dir;
  auto tree = OpenOrDie(SmallOptions(Env::Posix()), dir.path());
  ASSERT_TRUE(tree->Put("b", "2", 1).ok());
  ASSERT_TRUE(tree->Put("a", "1", 1).ok());
  ASSERT_TRUE(tree->Put("c", "3", 2).ok());
  ASSERT_TRUE(tree->Delete("b", 3).ok());
  std::string v;
  EXPECT_TRUE(tree->Get("a", &v).ok());
  EXPECT_EQ(v, "1");
  EXPECT_TRUE(tree->Get("b", &v).IsNotFound());
  EXPECT_TRUE(tree->Get("zz", &v).IsNotFound());
  ExpectMatches(tree.get(), {{"a", "1"}, {"c", "3"}}, "memtable");
  ASSERT_TRUE(tree->Flush().ok());
  EXPECT_EQ(tree->flushed_seq(), 3u);
  EXPECT_TRUE(tree->Get("b", &v).IsNotFound());
  ExpectMatches(tree.get(), {{"a", "1"}, {"c", "3"}}, "table");
  auto it = tree->NewIterator();
  it->Seek("b");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "c");
  EXPECT_EQ(tree->stats().flushes, 1u);
  ASSERT_TRUE(tree->Close().ok());
  EXPECT_EQ(tree->Put("x", "y", 4).code(), Code::kUnavailable);
}

TEST(LsmTreeTest, RejectsBadOptionsAndSecondOpen) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  o.l0_stop_writes = 1;
  EXPECT_EQ(LsmTree::Open(o, dir.path()).status().code(), Code::kInvalidArgument);
  auto tree = OpenOrDie(SmallOptions(Env::Posix()), dir.path());
  EXPECT_FALSE(LsmTree::Open(SmallOptions(Env::Posix()), dir.path()).ok());
}

// The randomized model test: puts, overwrites and deletes over a small key space, with flushes,
// compactions and reopens in between; Get and full iteration must always match the model.
TEST(LsmTreeTest, RandomizedAgainstModel) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  std::mt19937_64 rng(20240611);
  Model model;
  uint64_t seq = 0;
  auto tree = OpenOrDie(o, dir.path());
  LsmTree::Stats total;
  auto add_stats = [&total](const LsmTree::Stats& st) {
    total.flushes += st.flushes;
    total.compactions += st.compactions;
    total.bytes_flushed += st.bytes_flushed;
    total.bytes_compacted += st.bytes_compacted;
    total.background_errors += st.background_errors;
  };
  for (int round = 0; round < 12; round++) {
    o.compression = static_cast<Compression>(round % 3);
    for (int i = 0; i < 3000; i++) {
      seq++;
      uint64_t k = rng() % 2000;
      int op = static_cast<int>(rng() % 10);
      if (op < 7) {
        std::string v = "v" + std::to_string(seq) + std::string(rng() % 20, 'x');
        ASSERT_TRUE(tree->Put(Key(k), v, seq).ok());
        model[Key(k)] = v;
      } else {
        ASSERT_TRUE(tree->Delete(Key(k), seq).ok());
        model.erase(Key(k));
      }
    }
    for (int i = 0; i < 300; i++) {
      std::string k = Key(rng() % 2200);
      std::string v;
      Status s = tree->Get(k, &v);
      auto m = model.find(k);
      if (m == model.end()) {
        ASSERT_TRUE(s.IsNotFound()) << k << " " << s.ToString();
      } else {
        ASSERT_TRUE(s.ok()) << k << " " << s.ToString();
        ASSERT_EQ(v, m->second);
      }
    }
    ExpectMatches(tree.get(), model, "round " + std::to_string(round));
    if (round % 3 == 1) {
      ASSERT_TRUE(tree->CompactAll().ok());
    }
    if (round % 4 == 3) {
      ASSERT_TRUE(tree->Flush().ok());
      EXPECT_EQ(tree->flushed_seq(), seq);
      add_stats(tree->stats());
      ASSERT_TRUE(tree->Close().ok());
      tree = OpenOrDie(o, dir.path());
      EXPECT_EQ(tree->flushed_seq(), seq);
      ExpectMatches(tree.get(), model, "after reopen");
    }
  }
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->CompactAll().ok());
  ExpectMatches(tree.get(), model, "final");
  auto st = tree->stats();
  add_stats(st);
  EXPECT_GT(total.flushes, 5u);
  EXPECT_GT(total.compactions, 2u);
  EXPECT_GT(total.bytes_compacted, 0u);
  EXPECT_EQ(total.background_errors, 0u);
  std::printf("stats: %s tables=%llu flushes=%llu compactions=%llu flushed=%llu compacted=%llu\n",
              st.levels.c_str(), static_cast<unsigned long long>(st.table_count),
              static_cast<unsigned long long>(total.flushes),
              static_cast<unsigned long long>(total.compactions),
              static_cast<unsigned long long>(total.bytes_flushed),
              static_cast<unsigned long long>(total.bytes_compacted));
}

TEST(LsmTreeTest, TombstonesStayDeletedThroughCompactionToTheBottom) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  auto tree = OpenOrDie(o, dir.path());
  uint64_t seq = 0;
  for (int pass = 0; pass < 3; pass++) {
    for (int i = 0; i < 1500; i++)
      ASSERT_TRUE(tree->Put(Key(i), "v" + std::to_string(pass), ++seq).ok());
    ASSERT_TRUE(tree->Flush().ok());
    ASSERT_TRUE(tree->CompactAll().ok());
  }
  std::string levels_before = tree->stats().levels;
  for (int i = 0; i < 1500; i += 2) ASSERT_TRUE(tree->Delete(Key(i), ++seq).ok());
  ASSERT_TRUE(tree->Flush().ok());
  // Push everything down: more data on top forces the tombstones through the levels.
  for (int i = 5000; i < 9000; i++) ASSERT_TRUE(tree->Put(Key(i), "filler", ++seq).ok());
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->CompactAll().ok());
  std::string v;
  for (int i = 0; i < 1500; i++) {
    Status s = tree->Get(Key(i), &v);
    if (i % 2 == 0) {
      EXPECT_TRUE(s.IsNotFound()) << Key(i) << " " << levels_before << " -> "
                                  << tree->stats().levels;
    } else {
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(v, "v2");
    }
  }
  ASSERT_TRUE(tree->Close().ok());
  tree = OpenOrDie(o, dir.path());
  for (int i = 0; i < 1500; i += 2) EXPECT_TRUE(tree->Get(Key(i), &v).IsNotFound());
}

TEST(LsmTreeTest, FlushLimitHoldsBackFlushing) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  o.write_stall_ms_max = 100;
  auto tree = OpenOrDie(o, dir.path());
  for (uint64_t s = 1; s <= 10; s++) ASSERT_TRUE(tree->Put(Key(s), "v", s).ok());
  ASSERT_TRUE(tree->Flush().ok());
  EXPECT_EQ(tree->flushed_seq(), 10u);

  tree->SetFlushLimit(15);
  for (uint64_t s = 11; s <= 20; s++) ASSERT_TRUE(tree->Put(Key(s), "v", s).ok());
  EXPECT_EQ(tree->Flush().code(), Code::kFailedPrecondition);
  // Fill memtables well past memtable_bytes: the sealed one must wait, then writes stall.
  uint64_t s = 20;
  Status st;
  while (st.ok() && s < 100000) {
    s++;
    st = tree->Put(Key(s % 3000), std::string(100, 'p'), s);
  }
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  EXPECT_GE(tree->stats().write_stalls, 1u);
  EXPECT_EQ(tree->stats().flushes, 1u);
  EXPECT_EQ(tree->flushed_seq(), 10u);

  tree->SetFlushLimit(UINT64_MAX);
  ASSERT_TRUE(tree->Flush().ok());
  EXPECT_EQ(tree->flushed_seq(), s - 1);  // the failed Put (seq s) was not applied
  EXPECT_GE(tree->stats().flushes, 3u);
}

TEST(LsmTreeTest, DropUnflushedDiscardsOnlyUnflushedWrites) {
  test::TempDir dir;
  auto tree = OpenOrDie(SmallOptions(Env::Posix()), dir.path());
  for (uint64_t s = 1; s <= 5; s++) ASSERT_TRUE(tree->Put(Key(s), "old", s).ok());
  ASSERT_TRUE(tree->Flush().ok());
  tree->SetFlushLimit(5);
  for (uint64_t s = 6; s <= 10; s++) ASSERT_TRUE(tree->Put(Key(s - 3), "new", s).ok());
  ASSERT_TRUE(tree->Delete(Key(1), 11).ok());
  ASSERT_TRUE(tree->DropUnflushed().ok());
  EXPECT_EQ(tree->flushed_seq(), 5u);
  std::string v;
  for (uint64_t k = 1; k <= 5; k++) {
    ASSERT_TRUE(tree->Get(Key(k), &v).ok()) << k;
    EXPECT_EQ(v, "old");
  }
  for (uint64_t k = 6; k <= 7; k++) EXPECT_TRUE(tree->Get(Key(k), &v).IsNotFound());
  // Replay (as the engine would) with different contents, then flush.
  tree->SetFlushLimit(UINT64_MAX);
  ASSERT_TRUE(tree->Put(Key(9), "replayed", 6).ok());
  ASSERT_TRUE(tree->Flush().ok());
  EXPECT_EQ(tree->flushed_seq(), 6u);
  ExpectMatches(tree.get(),
                {{Key(1), "old"},
                 {Key(2), "old"},
                 {Key(3), "old"},
                 {Key(4), "old"},
                 {Key(5), "old"},
                 {Key(9), "replayed"}},
                "after drop");
}

TEST(LsmTreeTest, BeforeFlushIsCalledWithTheMaxSeqBeforeInstalling) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  std::mutex mu;
  std::vector<uint64_t> calls;
  LsmTree* tree_ptr = nullptr;
  std::atomic<int> fail_next{0};
  o.before_flush = [&](uint64_t seq) -> Status {
    std::lock_guard l(mu);
    calls.push_back(seq);
    EXPECT_LT(tree_ptr->flushed_seq(), seq);  // not installed yet
    if (fail_next > 0) {
      fail_next--;
      return Status::IoError("log fsync failed (injected)");
    }
    return Status::OK();
  };
  auto tree = OpenOrDie(o, dir.path());
  tree_ptr = tree.get();
  ASSERT_TRUE(tree->Put("a", "1", 7).ok());
  ASSERT_TRUE(tree->Put("b", "1", 7).ok());
  ASSERT_TRUE(tree->Put("c", "1", 9).ok());
  ASSERT_TRUE(tree->Flush().ok());
  {
    std::lock_guard l(mu);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0], 9u);
  }
  // A failing before_flush fails the flush; it is reported and retried until it succeeds.
  fail_next = 2;
  ASSERT_TRUE(tree->Put("d", "1", 12).ok());
  Status s = tree->Flush();
  EXPECT_EQ(s.code(), Code::kIoError) << s.ToString();
  EXPECT_FALSE(tree->background_error().ok());
  EXPECT_EQ(tree->flushed_seq(), 9u);
  ASSERT_TRUE(tree->Put("e", "1", 13).ok());  // writes still go through meanwhile
  for (int i = 0; i < 200 && tree->flushed_seq() != 12; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(tree->flushed_seq(), 12u);
  EXPECT_TRUE(tree->background_error().ok());
  std::lock_guard l(mu);
  EXPECT_EQ(calls.back(), 12u);
  EXPECT_EQ(calls.size(), 4u);
}

TEST(LsmTreeTest, SameSeqNeverStraddlesAFlush) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  auto tree = OpenOrDie(o, dir.path());
  // Each "event" writes two keys with one seq; memtables seal only between events.
  for (uint64_t s = 1; s <= 3000; s++) {
    ASSERT_TRUE(tree->Put("stream/" + std::to_string(s), std::string(30, 'x'), s).ok());
    ASSERT_TRUE(tree->Put("index/" + std::to_string(s), std::string(30, 'y'), s).ok());
  }
  uint64_t flushed = tree->flushed_seq();
  ASSERT_TRUE(tree->Close().ok());
  EXPECT_GT(flushed, 0u);
  tree = OpenOrDie(o, dir.path());
  std::string v;
  for (uint64_t s = 1; s <= flushed; s++) {
    ASSERT_TRUE(tree->Get("stream/" + std::to_string(s), &v).ok()) << s;
    ASSERT_TRUE(tree->Get("index/" + std::to_string(s), &v).ok()) << s;
  }
}

TEST(LsmTreeTest, IteratorIsASnapshotAndSurvivesCompaction) {
  test::TempDir dir;
  auto tree = OpenOrDie(SmallOptions(Env::Posix()), dir.path());
  Model model;
  uint64_t seq = 0;
  for (int i = 0; i < 2000; i++) {
    ASSERT_TRUE(tree->Put(Key(i), "a", ++seq).ok());
    model[Key(i)] = "a";
  }
  ASSERT_TRUE(tree->Flush().ok());
  auto it = tree->NewIterator();
  for (int i = 0; i < 4000; i++) ASSERT_TRUE(tree->Put(Key(i), "b", ++seq).ok());
  for (int i = 0; i < 2000; i += 3) ASSERT_TRUE(tree->Delete(Key(i), ++seq).ok());
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->CompactAll().ok());
  auto m = model.begin();
  for (it->Seek(""); it->Valid(); it->Next(), ++m) {
    ASSERT_NE(m, model.end());
    ASSERT_EQ(it->key(), m->first);
    ASSERT_EQ(it->value(), "a");
  }
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  EXPECT_EQ(m, model.end());
}

TEST(LsmTreeTest, FlippedBitInTableIsCorruptionNamingFileAndOffset) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  LsmOptions o = SmallOptions(&env);
  auto tree = OpenOrDie(o, dir.path());
  for (int i = 0; i < 200; i++)
    ASSERT_TRUE(tree->Put(Key(i), "value-" + std::to_string(i), i + 1).ok());
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->Close().ok());
  std::string table;
  auto children = env.GetChildren(dir.path());
  ASSERT_TRUE(children.ok());
  for (const auto& name : *children) {
    if (name.ends_with(".sst")) table = dir.File(name);
  }
  ASSERT_FALSE(table.empty());
  ASSERT_TRUE(env.FlipBit(table, 30, 5).ok());  // inside the first data block (offset 16)
  tree = OpenOrDie(o, dir.path());
  int corrupt = 0;
  for (int i = 0; i < 200; i++) {
    std::string v;
    Status s = tree->Get(Key(i), &v);
    if (s.ok()) {
      EXPECT_EQ(v, "value-" + std::to_string(i));
      continue;
    }
    ASSERT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find(table), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("offset 16"), std::string::npos) << s.ToString();
    corrupt++;
  }
  EXPECT_GT(corrupt, 0);
  auto it = tree->NewIterator();
  int n = 0;
  for (it->Seek(""); it->Valid(); it->Next()) n++;
  EXPECT_TRUE(it->status().IsCorruption());
}

TEST(LsmTreeTest, MissingTableOrIncompatibleManifestFailsOpen) {
  test::TempDir dir;
  auto tree = OpenOrDie(SmallOptions(Env::Posix()), dir.path());
  ASSERT_TRUE(tree->Put("k", "v", 1).ok());
  ASSERT_TRUE(tree->Flush().ok());
  ASSERT_TRUE(tree->Close().ok());
  tree.reset();
  std::string manifest;
  auto children = Env::Posix()->GetChildren(dir.path());
  ASSERT_TRUE(children.ok());
  for (const auto& name : *children) {
    if (name.ends_with(".sst")) {
      ASSERT_TRUE(Env::Posix()->DeleteFile(dir.File(name)).ok());
    }
    if (name.starts_with("MANIFEST-")) manifest = dir.File(name);
  }
  auto r = LsmTree::Open(SmallOptions(Env::Posix()), dir.path());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(".sst"), std::string::npos);

  std::string data;
  ASSERT_TRUE(ReadFileToString(Env::Posix(), manifest, &data).ok());
  EncodeFixed32(data.data() + 8, 7);  // format version 7, with a valid header checksum
  EncodeFixed32(data.data() + 12, crc32c::Mask(crc32c::Value(data.data(), 12)));
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), manifest, data).ok());
  r = LsmTree::Open(SmallOptions(Env::Posix()), dir.path());
  EXPECT_EQ(r.status().code(), Code::kNotSupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find(manifest), std::string::npos) << r.status().ToString();
}

// Readers (Get and iterators) run concurrently with the writer, flushes and compactions. Every
// key's value encodes the key and a version that only grows, so a reader can tell a wrong or stale-
// beyond-possible answer from a legitimately older one.
TEST(LsmTreeTest, ConcurrentReadersDuringWritesFlushesAndCompactions) {
  test::TempDir dir;
  auto tree = OpenOrDie(SmallOptions(Env::Posix()), dir.path());
  constexpr int kKeys = 500;
  std::vector<std::atomic<uint64_t>> written(kKeys);  // highest version acknowledged per key
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  auto parse = [](const std::string& v, int* key, uint64_t* version) {
    return std::sscanf(v.c_str(), "k%d@%llu", key,
                       reinterpret_cast<unsigned long long*>(version)) == 2;
  };
  auto reader = [&](int id) {
    std::mt19937_64 rng(id);
    while (!done.load()) {
      int k = static_cast<int>(rng() % kKeys);
      uint64_t floor = written[k].load();
      std::string v;
      Status s = tree->Get(Key(k), &v);
      if (floor > 0) {
        ASSERT_TRUE(s.ok()) << s.ToString();
        int got_key;
        uint64_t got_version;
        ASSERT_TRUE(parse(v, &got_key, &got_version)) << v;
        ASSERT_EQ(got_key, k);
        ASSERT_GE(got_version, floor);
      }
      if (rng() % 50 == 0) {
        auto it = tree->NewIterator();
        std::string prev;
        for (it->Seek(""); it->Valid(); it->Next()) {
          std::string key(it->key());
          ASSERT_LT(prev, key);
          int got_key;
          uint64_t got_version;
          ASSERT_TRUE(parse(std::string(it->value()), &got_key, &got_version));
          ASSERT_EQ(Key(got_key), key);
          prev = key;
        }
        ASSERT_TRUE(it->status().ok()) << it->status().ToString();
      }
      reads++;
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  std::mt19937_64 rng(9);
  for (uint64_t seq = 1; seq <= 30000; seq++) {
    int k = static_cast<int>(rng() % kKeys);
    std::string v =
        "k" + std::to_string(k) + "@" + std::to_string(seq) + std::string(rng() % 40, '.');
    ASSERT_TRUE(tree->Put(Key(k), v, seq).ok());
    written[k].store(seq);
  }
  done.store(true);
  r1.join();
  r2.join();
  EXPECT_GT(reads.load(), 100u);
  EXPECT_GT(tree->stats().compactions, 0u);
}

TEST(LsmTreeTest, LostCurrentFallsBackToTheNewestWholeManifest) {
  test::TempDir dir;
  LsmOptions o = SmallOptions(Env::Posix());
  Model model;
  {
    auto tree = OpenOrDie(o, dir.path());
    for (int i = 0; i < 3000; i++) {
      ASSERT_TRUE(tree->Put(Key(i % 700), "v" + std::to_string(i), i + 1).ok());
      model[Key(i % 700)] = "v" + std::to_string(i);
    }
    ASSERT_TRUE(tree->Flush().ok());
    ASSERT_TRUE(tree->CompactAll().ok());
  }
  ASSERT_TRUE(Env::Posix()->DeleteFile(dir.File("CURRENT")).ok());
  auto tree = OpenOrDie(o, dir.path());
  EXPECT_EQ(tree->flushed_seq(), 3000u);
  ExpectMatches(tree.get(), model, "without CURRENT");
}

}  // namespace
}  // namespace rdb
