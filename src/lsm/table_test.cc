#include "lsm/table.h"

#include <gtest/gtest.h>

#include <map>

#include "base/crc32c.h"
#include "io/fault_env.h"
#include "lsm/table_builder.h"
#include "tests/support/temp_dir.h"

namespace rdb::lsm {
namespace {

struct Entry {
  std::string user_key;
  uint64_t seq;
  ValueType type;
  std::string value;
};

std::vector<Entry> MakeEntries(int n) {
  std::vector<Entry> out;
  for (int i = 0; i < n; i++) {
    char k[48];
    std::snprintf(k, sizeof(k), "tenant-7/stream-%05d/v", i);
    // Every 10th key also has an older version; every 7th is a tombstone.
    out.push_back({k, static_cast<uint64_t>(2 * i + 2),
                   i % 7 == 3 ? ValueType::kDeletion : ValueType::kValue,
                   i % 7 == 3 ? "" : "pos:segment-0001:" + std::to_string(i * 113)});
    if (i % 10 == 0) {
      out.push_back({k, static_cast<uint64_t>(2 * i + 1), ValueType::kValue, "old"});
    }
  }
  return out;
}

class TableTest : public testing::TestWithParam<Compression> {
 protected:
  std::string path() const { return dir_.File("000007.sst"); }

  uint64_t Build(const std::vector<Entry>& entries, Env* env, TableOptions opts = {}) {
    opts.compression = GetParam();
    auto file = env->NewWritableFile(path());
    EXPECT_TRUE(file.ok());
    TableBuilder b(opts, file->get());
    for (const Entry& e : entries) {
      std::string ikey;
      AppendInternalKey(&ikey, e.user_key, e.seq, e.type);
      EXPECT_TRUE(b.Add(ikey, e.value).ok());
    }
    EXPECT_TRUE(b.Finish().ok());
    EXPECT_TRUE((*file)->Sync().ok());
    EXPECT_TRUE((*file)->Close().ok());
    EXPECT_EQ(b.entries(), entries.size());
    return b.FileSize();
  }

  Result<std::shared_ptr<const Table>> OpenTable(Env* env, uint64_t size,
                                                 std::shared_ptr<BlockCache> cache = nullptr) {
    RDB_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(path()));
    return Table::Open(std::move(file), path(), size, 7, std::move(cache));
  }

  test::TempDir dir_;
};

TEST_P(TableTest, GetFindsNewestAndTombstones) {
  auto entries = MakeEntries(3000);
  uint64_t size = Build(entries, Env::Posix());
  EXPECT_EQ(size, *Env::Posix()->GetFileSize(path()));
  auto cache = std::make_shared<BlockCache>(1 << 20, 1 << 16);
  auto table = OpenTable(Env::Posix(), size, cache);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ((*table)->entry_count(), entries.size());
  for (const Entry& e : entries) {
    if (e.value == "old") continue;
    LookupKey lk(e.user_key);
    LookupResult r;
    std::string v;
    ASSERT_TRUE((*table)->Get(lk, BloomHash(e.user_key), &r, &v).ok());
    if (e.type == ValueType::kDeletion) {
      EXPECT_EQ(r, LookupResult::kDeleted) << e.user_key;
    } else {
      ASSERT_EQ(r, LookupResult::kFound) << e.user_key;
      EXPECT_EQ(v, e.value);
    }
  }
  int absent_probes = 0;
  for (int i = 0; i < 1000; i++) {
    std::string k = "tenant-7/stream-" + std::to_string(i) + "/missing";
    LookupKey lk(k);
    LookupResult r;
    std::string v;
    ASSERT_TRUE((*table)->Get(lk, BloomHash(k), &r, &v).ok());
    EXPECT_EQ(r, LookupResult::kAbsent);
    absent_probes++;
  }
  EXPECT_GT(cache->usage(), 0u);
}

TEST_P(TableTest, IteratesAndSeeks) {
  auto entries = MakeEntries(2000);
  uint64_t size = Build(entries, Env::Posix(), TableOptions{.block_bytes = 512});
  auto table = OpenTable(Env::Posix(), size);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  auto it = (*table)->NewIterator(true);
  size_t i = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), i++) {
    ASSERT_LT(i, entries.size());
    ParsedInternalKey k;
    ASSERT_TRUE(ParseInternalKey(it->key(), &k));
    EXPECT_EQ(k.user_key, entries[i].user_key);
    EXPECT_EQ(k.seq, entries[i].seq);
    EXPECT_EQ(it->value(), entries[i].value);
  }
  EXPECT_EQ(i, entries.size());
  EXPECT_TRUE(it->status().ok());
  for (size_t j = 0; j < entries.size(); j += 37) {
    LookupKey lk(entries[j].user_key);
    it->Seek(lk.internal_key());
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(ExtractUserKey(it->key()), entries[j].user_key);
  }
  LookupKey past("zzz");
  it->Seek(past.internal_key());
  EXPECT_FALSE(it->Valid());
}

TEST_P(TableTest, CompressionShrinksCompressibleData) {
  std::vector<Entry> entries;
  for (int i = 0; i < 5000; i++) {
    char k[48];
    std::snprintf(k, sizeof(k), "key-%08d", i);
    entries.push_back({k, 1, ValueType::kValue, std::string(40, 'a' + i % 3)});
  }
  uint64_t size = Build(entries, Env::Posix());
  auto table = OpenTable(Env::Posix(), size);
  ASSERT_TRUE(table.ok());
  if (GetParam() == Compression::kNone) {
    EXPECT_GT(size, 5000u * 40);
  } else {
    EXPECT_LT(size, 5000u * 25);
  }
}

TEST_P(TableTest, FlippedBitInDataBlockIsCorruptionNamingFileAndOffset) {
  FaultEnv env(Env::Posix());
  auto entries = MakeEntries(2000);
  uint64_t size = Build(entries, &env);
  // The first data block starts right after the 16-byte header.
  ASSERT_TRUE(env.FlipBit(path(), kTableHeaderBytes + 40, 3).ok());
  auto table = OpenTable(&env, size);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  bool saw_corruption = false;
  for (const Entry& e : entries) {
    if (e.value == "old") continue;
    LookupKey lk(e.user_key);
    LookupResult r;
    std::string v;
    Status s = (*table)->Get(lk, BloomHash(e.user_key), &r, &v);
    if (!s.ok()) {
      EXPECT_TRUE(s.IsCorruption()) << s.ToString();
      EXPECT_NE(s.message().find(path()), std::string::npos) << s.ToString();
      EXPECT_NE(s.message().find("offset 16"), std::string::npos) << s.ToString();
      saw_corruption = true;
    } else if (r == LookupResult::kFound) {
      EXPECT_EQ(v, e.value);  // never a wrong value
    }
  }
  EXPECT_TRUE(saw_corruption);
  auto it = (*table)->NewIterator(false);
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
  EXPECT_TRUE(it->status().IsCorruption());
}

TEST_P(TableTest, DamagedFooterOrHeaderIsAClearError) {
  auto entries = MakeEntries(100);
  uint64_t size = Build(entries, Env::Posix());
  std::string good;
  ASSERT_TRUE(ReadFileToString(Env::Posix(), path(), &good).ok());
  auto write = [&](const std::string& data) {
    auto f = Env::Posix()->NewWritableFile(path());
    ASSERT_TRUE((*f)->Append(data).ok());
    ASSERT_TRUE((*f)->Close().ok());
  };

  std::string bad_magic = good;
  bad_magic[size - 1] ^= 1;
  write(bad_magic);
  auto t = OpenTable(Env::Posix(), size);
  EXPECT_TRUE(t.status().IsCorruption());
  EXPECT_NE(t.status().message().find("magic"), std::string::npos);

  // A future format version with a valid footer checksum: kNotSupported.
  std::string future = good;
  char* footer = future.data() + size - kTableFooterBytes;
  EncodeFixed32(footer + 40, kTableFormatVersion + 1);
  EncodeFixed32(footer + 44, crc32c::Mask(crc32c::Value(footer, 44)));
  write(future);
  t = OpenTable(Env::Posix(), size);
  EXPECT_EQ(t.status().code(), Code::kNotSupported) << t.status().ToString();
  EXPECT_NE(t.status().message().find(path()), std::string::npos);

  std::string bad_crc = good;
  bad_crc[size - kTableFooterBytes + 2] ^= 1;
  write(bad_crc);
  EXPECT_TRUE(OpenTable(Env::Posix(), size).status().IsCorruption());

  std::string bad_header = good;
  bad_header[0] = 'X';
  write(bad_header);
  EXPECT_TRUE(OpenTable(Env::Posix(), size).status().IsCorruption());

  write(good.substr(0, size - 10));
  EXPECT_TRUE(OpenTable(Env::Posix(), size).status().IsCorruption());
  EXPECT_TRUE(OpenTable(Env::Posix(), size - 10).status().IsCorruption());
}

INSTANTIATE_TEST_SUITE_P(Compressions, TableTest,
                         testing::Values(Compression::kNone, Compression::kZstd, Compression::kLz4),
                         [](const testing::TestParamInfo<Compression>& p) {
                           switch (p.param) {
                             case Compression::kNone:
                               return std::string("None");
                             case Compression::kZstd:
                               return std::string("Zstd");
                             case Compression::kLz4:
                               return std::string("Lz4");
                           }
                           return std::string("Unknown");
                         });

TEST(LruCacheTest, BoundedByChargeAndEvictsLeastRecentlyUsed) {
  LruCache<uint64_t, std::shared_ptr<int>> cache(100, 1000);  // one shard
  for (uint64_t i = 0; i < 10; i++) cache.Insert(i, std::make_shared<int>(static_cast<int>(i)), 10);
  EXPECT_EQ(cache.usage(), 100u);
  std::shared_ptr<int> v;
  ASSERT_TRUE(cache.Lookup(0, &v));  // 0 becomes most recent
  cache.Insert(10, std::make_shared<int>(10), 25);
  EXPECT_LE(cache.usage(), 100u);
  EXPECT_TRUE(cache.Lookup(0, &v));
  EXPECT_FALSE(cache.Lookup(1, &v));
  EXPECT_FALSE(cache.Lookup(3, &v));
  EXPECT_TRUE(cache.Lookup(4, &v));
  cache.Insert(11, std::make_shared<int>(11), 1000);  // larger than the cache: not kept
  EXPECT_FALSE(cache.Lookup(11, &v));
  // A value evicted while held stays valid.
  std::shared_ptr<int> held;
  ASSERT_TRUE(cache.Lookup(4, &held));
  cache.Erase(4);
  EXPECT_EQ(*held, 4);
  EXPECT_FALSE(cache.Lookup(4, &v));
}

}  // namespace
}  // namespace rdb::lsm
