#include "engine/epoch_history.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

TEST(EpochHistory, EndOfAnEpochIsTheLogBeforeTheNextOne) {
  test::TempDir dir;
  auto h = EpochHistory::Open(Env::Posix(), dir.File("EPOCHS"), 0);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->last_epoch(), 0u);
  EXPECT_EQ(h->EndOf(3, 42), 42u);  // no epoch started: the whole log
  ASSERT_TRUE(h->Begin(5, 100, 90).ok());
  ASSERT_TRUE(h->Begin(9, 300, 250).ok());
  EXPECT_EQ(h->last_epoch(), 9u);
  EXPECT_EQ(h->EndOf(3, 400), 90u);   // before epoch 5 started
  EXPECT_EQ(h->EndOf(5, 400), 250u);  // epoch 5 ended where epoch 9 began
  EXPECT_EQ(h->EndOf(7, 400), 250u);  // an epoch this log never saw: end of the one before it
  EXPECT_EQ(h->EndOf(9, 400), 400u);  // the current epoch: the log's end
  EXPECT_EQ(h->EndOf(12, 400), 400u);
}

TEST(EpochHistory, EpochsOnlyIncrease) {
  test::TempDir dir;
  auto h = EpochHistory::Open(Env::Posix(), dir.File("EPOCHS"), 0);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Begin(5, 100, 0).ok());
  EXPECT_EQ(h->Begin(5, 200, 100).code(), Code::kInvalidArgument);
  EXPECT_EQ(h->Begin(4, 200, 100).code(), Code::kInvalidArgument);
  EXPECT_EQ(h->entries().size(), 1u);
}

TEST(EpochHistory, SurvivesReopenAndDropsWhatTheLogNeverGot) {
  test::TempDir dir;
  {
    auto h = EpochHistory::Open(Env::Posix(), dir.File("EPOCHS"), 0);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(h->Begin(5, 100, 0).ok());
    ASSERT_TRUE(h->Begin(9, 300, 250).ok());
  }
  {
    auto h = EpochHistory::Open(Env::Posix(), dir.File("EPOCHS"), 1000);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->entries(), (std::vector<EpochStart>{{5, 100, 0}, {9, 300, 250}}));
  }
  {
    // The crash came after the file named epoch 9 but before its first record reached the log.
    auto h = EpochHistory::Open(Env::Posix(), dir.File("EPOCHS"), 250);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->entries(), (std::vector<EpochStart>{{5, 100, 0}}));
  }
  auto h = EpochHistory::Open(Env::Posix(), dir.File("EPOCHS"), 1000);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->last_epoch(), 5u);  // the drop above was persisted
  ASSERT_TRUE(h->TruncateAfter(99).ok());
  EXPECT_TRUE(h->entries().empty());
}

TEST(EpochHistory, RejectsDamagedOrForeignFiles) {
  test::TempDir dir;
  std::string good = EpochHistory::Encode({{5, 100, 0}, {9, 300, 250}});
  std::vector<EpochStart> out;
  ASSERT_TRUE(EpochHistory::Decode(good, "EPOCHS", &out).ok());
  EXPECT_EQ(out.size(), 2u);
  for (size_t i = 0; i < good.size(); i++) {
    std::string bad = good;
    bad[i] ^= 0x10;
    Status s = EpochHistory::Decode(bad, "EPOCHS", &out);
    EXPECT_FALSE(s.ok()) << "flipped byte " << i;
    EXPECT_TRUE(s.code() == Code::kCorruption || s.code() == Code::kNotSupported) << s.ToString();
  }
  EXPECT_EQ(EpochHistory::Decode(good.substr(0, 10), "EPOCHS", &out).code(), Code::kCorruption);
  std::string later = good;
  later[8] = 2;  // format version 2
  Status s = EpochHistory::Decode(later, "EPOCHS", &out);
  EXPECT_EQ(s.code(), Code::kNotSupported) << s.ToString();
  // Entries that do not increase are corruption, even with a valid checksum.
  EXPECT_EQ(EpochHistory::Decode(EpochHistory::Encode({{9, 300, 0}, {5, 400, 300}}), "EPOCHS", &out)
                .code(),
            Code::kCorruption);
}

}  // namespace
}  // namespace rdb
