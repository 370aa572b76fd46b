#include "lsm/block.h"

#include <gtest/gtest.h>

#include <map>

#include "lsm/format.h"

namespace rdb::lsm {
namespace {

int Bytewise(std::string_view a, std::string_view b) { return CompareUserKey(a, b); }

std::map<std::string, std::string> Model(int n) {
  std::map<std::string, std::string> m;
  for (int i = 0; i < n; i++) {
    char k[32];
    std::snprintf(k, sizeof(k), "stream-%04d/%06d", i % 37, i);
    m[k] = "value" + std::to_string(i);
  }
  return m;
}

class BlockTest : public testing::TestWithParam<int> {};

TEST_P(BlockTest, IteratesAndSeeks) {
  auto model = Model(500);
  BlockBuilder b(GetParam());
  for (const auto& [k, v] : model) b.Add(k, v);
  auto block = Block::Parse(std::string(b.Finish()));
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  BlockIter it(block->get(), Bytewise);
  it.SeekToFirst();
  for (const auto& [k, v] : model) {
    ASSERT_TRUE(it.Valid());
    EXPECT_EQ(it.key(), k);
    EXPECT_EQ(it.value(), v);
    it.Next();
  }
  EXPECT_FALSE(it.Valid());
  EXPECT_TRUE(it.status().ok());
  for (const auto& [k, v] : model) {
    it.Seek(k);
    ASSERT_TRUE(it.Valid());
    EXPECT_EQ(it.key(), k);
    std::string between = k + "\x01";
    it.Seek(between);
    auto next = model.upper_bound(k);
    if (next == model.end()) {
      EXPECT_FALSE(it.Valid());
    } else {
      ASSERT_TRUE(it.Valid());
      EXPECT_EQ(it.key(), next->first);
    }
  }
  it.Seek("");
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.key(), model.begin()->first);
  it.Seek("zzz");
  EXPECT_FALSE(it.Valid());
}

INSTANTIATE_TEST_SUITE_P(RestartIntervals, BlockTest, testing::Values(1, 2, 16, 1000));

TEST(BlockTest, EmptyBlock) {
  BlockBuilder b;
  auto block = Block::Parse(std::string(b.Finish()));
  ASSERT_TRUE(block.ok());
  BlockIter it(block->get(), Bytewise);
  it.SeekToFirst();
  EXPECT_FALSE(it.Valid());
  it.Seek("a");
  EXPECT_FALSE(it.Valid());
}

TEST(BlockTest, MalformedBlocksAreCorruptionNotCrashes) {
  EXPECT_TRUE(Block::Parse("").status().IsCorruption());
  EXPECT_TRUE(Block::Parse(std::string("\xff\xff\xff\xff", 4)).status().IsCorruption());
  auto model = Model(100);
  BlockBuilder b;
  for (const auto& [k, v] : model) b.Add(k, v);
  std::string good(b.Finish());
  // Damage every byte of the entry area in turn: parsing and iterating must stay in bounds.
  for (size_t i = 0; i < good.size() - 4; i += 3) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    auto block = Block::Parse(bad);
    if (!block.ok()) continue;
    BlockIter it(block->get(), Bytewise);
    int n = 0;
    for (it.SeekToFirst(); it.Valid() && n < 1000; it.Next()) n++;
    it.Seek("stream-0010");
  }
}

// Found by fuzz_sst_block: a checksum-valid block holding a key too short to carry the 8-byte
// internal-key trailer made the internal-key comparator read before the buffer.
TEST(BlockTest, InternalKeyShorterThanTrailerIsCorruption) {
  const std::string hex = "0002006162000a006162010500000000000000000000000000000002000000";
  std::string raw;
  for (size_t i = 0; i < hex.size(); i += 2) {
    raw.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  auto block = Block::Parse(raw);
  ASSERT_TRUE(block.ok());
  std::string target = "ab" + std::string(8, '\0');
  BlockIter seek(block->get(), CompareInternalKey, kTrailerBytes);
  seek.Seek(target);
  EXPECT_FALSE(seek.Valid());
  EXPECT_TRUE(seek.status().IsCorruption());
  BlockIter scan(block->get(), CompareInternalKey, kTrailerBytes);
  scan.SeekToFirst();
  EXPECT_FALSE(scan.Valid());
  EXPECT_TRUE(scan.status().IsCorruption());
}

}  // namespace
}  // namespace rdb::lsm
