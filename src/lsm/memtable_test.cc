#include "lsm/memtable.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rdb::lsm {
namespace {

TEST(SkipListTest, InsertsInAnyOrderIterateSorted) {
  Arena arena(4096);
  struct Cmp {
    int operator()(const char* a, uint64_t y) const {
      uint64_t x = DecodeFixed64(a);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
  };
  SkipList<Cmp> list(Cmp{}, &arena);
  std::mt19937_64 rng(1);
  std::set<uint64_t> model;
  for (int i = 0; i < 5000; i++) {
    uint64_t k = rng() % 100000;
    if (!model.insert(k).second) continue;
    char* buf = list.AllocateKey(8);
    EncodeFixed64(buf, k);
    list.Insert(buf, k);
  }
  SkipList<Cmp>::Iterator it(&list);
  it.SeekToFirst();
  for (uint64_t k : model) {
    ASSERT_TRUE(it.Valid());
    EXPECT_EQ(DecodeFixed64(it.key()), k);
    it.Next();
  }
  EXPECT_FALSE(it.Valid());
  it.Seek(uint64_t{50000});
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(DecodeFixed64(it.key()), *model.lower_bound(50000));
}

TEST(MemTableTest, NewestEntryWins) {
  MemTable mem(4096);
  mem.Add(1, ValueType::kValue, "a", "a1", 10);
  mem.Add(2, ValueType::kValue, "b", "b1", 10);
  mem.Add(3, ValueType::kValue, "a", "a2", 11);
  mem.Add(4, ValueType::kDeletion, "b", "", 12);
  mem.Add(5, ValueType::kValue, "c", "", 12);
  std::string v;
  EXPECT_EQ(mem.Get(LookupKey("a"), &v), LookupResult::kFound);
  EXPECT_EQ(v, "a2");
  EXPECT_EQ(mem.Get(LookupKey("b"), &v), LookupResult::kDeleted);
  EXPECT_EQ(mem.Get(LookupKey("c"), &v), LookupResult::kFound);
  EXPECT_EQ(v, "");
  EXPECT_EQ(mem.Get(LookupKey("d"), &v), LookupResult::kAbsent);
  EXPECT_EQ(mem.Get(LookupKey(""), &v), LookupResult::kAbsent);
  EXPECT_EQ(mem.first_log_seq(), 10u);
  EXPECT_EQ(mem.last_log_seq(), 12u);
  EXPECT_EQ(mem.last_seq(), 5u);
  EXPECT_EQ(mem.entries(), 5u);
}

TEST(MemTableTest, IteratorOrdersByUserKeyThenNewestFirst) {
  auto mem = std::make_shared<MemTable>(4096);
  mem->Add(1, ValueType::kValue, "k2", "x", 1);
  mem->Add(2, ValueType::kValue, "k1", "y", 1);
  mem->Add(3, ValueType::kValue, "k2", "z", 2);
  mem->Add(4, ValueType::kValue, "k10", "w", 2);
  auto it = mem->NewIterator();
  std::vector<std::pair<std::string, uint64_t>> got;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ParsedInternalKey k;
    ASSERT_TRUE(ParseInternalKey(it->key(), &k));
    got.emplace_back(std::string(k.user_key), k.seq);
  }
  std::vector<std::pair<std::string, uint64_t>> want = {
      {"k1", 2}, {"k10", 4}, {"k2", 3}, {"k2", 1}};
  EXPECT_EQ(got, want);
  LookupKey lk("k2");
  it->Seek(lk.internal_key());
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->value(), "z");
}

TEST(MemTableTest, LongKeysAndValues) {
  MemTable mem(4096);
  std::string key(1000, 'k'), value(100000, 'v');
  mem.Add(1, ValueType::kValue, key, value, 1);
  std::string v;
  EXPECT_EQ(mem.Get(LookupKey(key), &v), LookupResult::kFound);
  EXPECT_EQ(v, value);
}

TEST(MemTableTest, ReadersRunConcurrentlyWithTheWriter) {
  auto mem = std::make_shared<MemTable>(64 << 10);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> published{0};
  std::thread reader([&] {
    while (!done.load()) {
      uint64_t upto = published.load();
      auto it = mem->NewIterator();
      std::string prev;
      uint64_t n = 0;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string k(ExtractUserKey(it->key()));
        ASSERT_TRUE(prev.empty() || prev < k);
        prev = k;
        n++;
      }
      ASSERT_GE(n, upto);
      if (upto > 0) {
        std::string v;
        char key[32];
        std::snprintf(key, sizeof(key), "key%08llu",
                      static_cast<unsigned long long>((upto - 1) * 7919 % 20000));
        ASSERT_EQ(mem->Get(LookupKey(key), &v), LookupResult::kFound);
      }
    }
  });
  for (uint64_t i = 0; i < 20000; i++) {
    char key[32];
    std::snprintf(key, sizeof(key), "key%08llu", static_cast<unsigned long long>(i * 7919 % 20000));
    mem->Add(i + 1, ValueType::kValue, key, "v", i);
    published.store(i + 1);
  }
  done.store(true);
  reader.join();
}

// Many keys, several versions each, in a table with the minimum bucket count so chains are long
// and shared: Get must return each key's newest entry (tombstones included), checked against a
// model, and report absent keys as absent.
TEST(MemTableTest, HashIndexNewestWinsAgainstModel) {
  MemTable mem(4096, MemTable::kHashBucketsMin);
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> model;  // value, or "\0del" for a tombstone
  const std::string kDeleted("\0del", 4);
  for (uint64_t seq = 1; seq <= 20000; seq++) {
    std::string key = "k" + std::to_string(rng() % 3000);
    if (rng() % 5 == 0) {
      mem.Add(seq, ValueType::kDeletion, key, "", seq);
      model[key] = kDeleted;
    } else {
      std::string value = "v" + std::to_string(seq);
      mem.Add(seq, ValueType::kValue, key, value, seq);
      model[key] = value;
    }
  }
  for (int i = 0; i < 3500; i++) {
    std::string key = "k" + std::to_string(i);
    std::string v = "untouched";
    LookupResult r = mem.Get(LookupKey(key), &v);
    auto m = model.find(key);
    if (m == model.end()) {
      EXPECT_EQ(r, LookupResult::kAbsent) << key;
      EXPECT_EQ(v, "untouched");
    } else if (m->second == kDeleted) {
      EXPECT_EQ(r, LookupResult::kDeleted) << key;
    } else {
      ASSERT_EQ(r, LookupResult::kFound) << key;
      EXPECT_EQ(v, m->second) << key;
    }
  }
  // A key that is a prefix of a stored one, and the empty key, are distinct keys.
  std::string v;
  EXPECT_EQ(mem.Get(LookupKey("k"), &v), LookupResult::kAbsent);
  EXPECT_EQ(mem.Get(LookupKey(""), &v), LookupResult::kAbsent);
  mem.Add(20001, ValueType::kValue, "", "empty", 1);
  ASSERT_EQ(mem.Get(LookupKey(""), &v), LookupResult::kFound);
  EXPECT_EQ(v, "empty");
}

TEST(MemTableTest, HashIndexCountsInApproximateBytes) {
  MemTable small(4096, MemTable::kHashBucketsMin);
  MemTable big(4096, 1 << 16);
  EXPECT_GE(big.ApproximateBytes(), (size_t{1} << 16) * sizeof(void*));
  EXPECT_GT(big.ApproximateBytes(), small.ApproximateBytes());
}

// Readers Get keys while the writer overwrites and deletes them: every answer is one the writer
// has published or is about to (a value never goes back to an older version once seen).
TEST(MemTableTest, HashIndexConcurrentReadersSeeMonotonicVersions) {
  auto mem = std::make_shared<MemTable>(4096, MemTable::kHashBucketsMin);
  constexpr int kKeys = 64;
  constexpr uint64_t kWrites = 60000;
  std::atomic<bool> done{false};
  auto reader = [&] {
    std::vector<uint64_t> seen(kKeys, 0);
    while (!done.load()) {
      for (int k = 0; k < kKeys; k++) {
        std::string v;
        LookupResult r = mem->Get(LookupKey("key" + std::to_string(k)), &v);
        if (r == LookupResult::kAbsent) {
          ASSERT_EQ(seen[k], 0u);
          continue;
        }
        if (r == LookupResult::kDeleted) continue;
        uint64_t version = std::stoull(v);
        ASSERT_EQ(version % kKeys, static_cast<uint64_t>(k));
        ASSERT_GE(version, seen[k]);
        seen[k] = version;
      }
    }
  };
  std::thread r1(reader), r2(reader);
  for (uint64_t seq = 1; seq <= kWrites; seq++) {
    int k = static_cast<int>(seq % kKeys);
    std::string key = "key" + std::to_string(k);
    if (seq % 11 == 0) {
      mem->Add(seq, ValueType::kDeletion, key, "", seq);
    } else {
      mem->Add(seq, ValueType::kValue, key, std::to_string(seq), seq);
    }
  }
  done.store(true);
  r1.join();
  r2.join();
}

}  // namespace
}  // namespace rdb::lsm
