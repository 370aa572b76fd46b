#include "engine/sequencer.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

TEST(LocalSequencer, IssuesIncreasingSeqsAndNeverRepeatsAcrossRestarts) {
  test::TempDir dir;
  Env* env = Env::Posix();
  std::string path = dir.File("SEQUENCER");
  uint64_t last;
  {
    auto s = LocalSequencer::Open(env, path, 0);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->Next(1).value(), 1u);
    EXPECT_EQ(s->Next(5).value(), 2u);
    EXPECT_EQ(s->Next(1).value(), 7u);
    last = s->last_issued();
  }
  // The log lost its tail (fsync=never): the reservation still keeps seqs from repeating.
  auto s = LocalSequencer::Open(env, path, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_GT(s->Next(1).value(), last);
}

TEST(LocalSequencer, StartsAboveTheLog) {
  test::TempDir dir;
  auto s = LocalSequencer::Open(Env::Posix(), dir.File("SEQUENCER"), 5'000'000);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Next(1).value(), 5'000'001u);
  ASSERT_TRUE(s->Advance(9'000'000).ok());
  EXPECT_EQ(s->Next(1).value(), 9'000'001u);
}

TEST(LocalSequencer, RejectsCorruptOrForeignFiles) {
  test::TempDir dir;
  std::string path = dir.File("SEQUENCER");
  {
    auto s = LocalSequencer::Open(Env::Posix(), path, 0);
    ASSERT_TRUE(s->Next(1).ok());
  }
  std::string data;
  ASSERT_TRUE(ReadFileToString(Env::Posix(), path, &data).ok());
  data[14] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), path, data).ok());
  auto bad = LocalSequencer::Open(Env::Posix(), path, 0);
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), path, "hello").ok());
  EXPECT_EQ(LocalSequencer::Open(Env::Posix(), path, 0).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace rdb
