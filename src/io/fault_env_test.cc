#include "io/fault_env.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

std::string Contents(const std::string& path) {
  std::string s;
  EXPECT_TRUE(ReadFileToString(Env::Posix(), path, &s).ok());
  return s;
}

TEST(FaultEnv, DropUnsyncedKeepsOnlySyncedBytes) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  auto f = env.NewWritableFile(dir.File("f"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(env.SyncDir(dir.path()).ok());
  ASSERT_TRUE((*f)->Append("durable").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("-lost").ok());
  env.DropUnsyncedData();
  EXPECT_EQ(Contents(dir.File("f")), "durable");
}

TEST(FaultEnv, FileCreatedWithoutDirSyncDisappears) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  auto f = env.NewWritableFile(dir.File("new"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("x").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  env.DropUnsyncedData();
  EXPECT_FALSE(env.FileExists(dir.File("new")));
}

TEST(FaultEnv, TearKeepsAPrefixOfUnsyncedBytes) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  auto f = env.NewWritableFile(dir.File("f"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("AAAA").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("BBBBBBBBBBBBBBBB").ok());
  env.TearUnsyncedData(42);
  std::string s = Contents(dir.File("f"));
  EXPECT_GE(s.size(), 4u);
  EXPECT_LT(s.size(), 20u);
  EXPECT_EQ(s.substr(0, 4), "AAAA");
}

// A synced file of ten '0's, then unsynced positional writes: two overwrites and a growth.
class FaultEnvPositional : public testing::Test {
 protected:
  void SetUp() override {
    auto f = env_.NewWritableFile(path_);
    ASSERT_TRUE(f.ok());
    file_ = std::move(f).value();
    ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
    ASSERT_TRUE(file_->Append("0000000000").ok());
    ASSERT_TRUE(file_->Sync().ok());
    ASSERT_TRUE(file_->WriteAt(2, "AA").ok());
    ASSERT_TRUE(file_->WriteAt(6, "BBB").ok());
    ASSERT_TRUE(file_->WriteAt(9, "CCC").ok());  // overwrites one byte, grows by two
    ASSERT_EQ(Contents(path_), "00AA00BBBCCC");
  }

  test::TempDir dir_;
  FaultEnv env_{Env::Posix()};
  std::string path_ = dir_.File("f");
  std::unique_ptr<WritableFile> file_;
};

TEST_F(FaultEnvPositional, DropRestoresOverwrittenBytesAndCutsGrowth) {
  env_.DropUnsyncedData();
  EXPECT_EQ(Contents(path_), "0000000000");
}

TEST_F(FaultEnvPositional, SyncMakesWritesDurable) {
  ASSERT_TRUE(file_->Sync().ok());
  ASSERT_TRUE(file_->WriteAt(0, "X").ok());
  env_.DropUnsyncedData();
  EXPECT_EQ(Contents(path_), "00AA00BBBCCC");
}

TEST_F(FaultEnvPositional, OverwriteOfAnUnsyncedWriteRestoresTheSyncedBytes) {
  ASSERT_TRUE(file_->WriteAt(1, "DDDD").ok());  // over "0AA0", itself partly unsynced
  ASSERT_TRUE(file_->WriteAt(11, "E").ok());    // over the unsynced growth
  env_.DropUnsyncedData();
  EXPECT_EQ(Contents(path_), "0000000000");
}

TEST_F(FaultEnvPositional, TearKeepsAPrefixOfTheWritesInOrder) {
  // Every state a crash may leave: the first k bytes of "AA" + "BBB" + "CCC" written, in order.
  std::set<std::string> allowed;
  const std::string synced = "0000000000";
  const std::vector<std::pair<uint64_t, std::string>> writes = {{2, "AA"}, {6, "BBB"}, {9, "CCC"}};
  for (size_t k = 0; k < 8; k++) {
    std::string s = synced;
    size_t left = k;
    for (const auto& [off, data] : writes) {
      std::string part = data.substr(0, std::min(left, data.size()));
      left -= part.size();
      if (s.size() < off + part.size()) s.resize(off + part.size(), '0');
      s.replace(off, part.size(), part);
    }
    allowed.insert(s);
  }
  std::set<std::string> seen;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    SetUp();
    env_.TearUnsyncedData(seed);
    std::string got = Contents(path_);
    EXPECT_TRUE(allowed.count(got)) << got;
    seen.insert(got);
    // What the tear left counts as durable.
    env_.DropUnsyncedData();
    EXPECT_EQ(Contents(path_), got);
  }
  EXPECT_GT(seen.size(), 3u);
  EXPECT_FALSE(seen.count("00AA00BBBCCC"));  // never all of it
}

TEST_F(FaultEnvPositional, TruncateIsDurableAndClipsTheJournal) {
  ASSERT_TRUE(file_->Truncate(8).ok());  // cuts into "BBB" and all of "CCC"
  ASSERT_TRUE(file_->WriteAt(8, "F").ok());
  EXPECT_EQ(Contents(path_), "00AA00BBF");
  env_.DropUnsyncedData();
  EXPECT_EQ(Contents(path_), "00000000");
}

TEST_F(FaultEnvPositional, OverwritesTakeNoSpace) {
  env_.SetNoSpaceAfter(1);
  EXPECT_TRUE(file_->WriteAt(0, "xyz").ok());
  EXPECT_EQ(file_->WriteAt(11, "yyy").code(), Code::kNoSpace);  // would grow by 2
  EXPECT_TRUE(file_->WriteAt(11, "yy").ok());                   // grows by 1
  EXPECT_EQ(file_->Append("z").code(), Code::kNoSpace);
  env_.ClearNoSpace();
  EXPECT_EQ(Contents(path_), "xyzA00BBBCCyy");
}

TEST(FaultEnv, FlipBitChangesExactlyOneBit) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  ASSERT_TRUE(WriteFileAtomic(&env, dir.File("f"), std::string(8, '\0')).ok());
  ASSERT_TRUE(env.FlipBit(dir.File("f"), 3, 2).ok());
  std::string s = Contents(dir.File("f"));
  EXPECT_EQ(s[3], 4);
  EXPECT_EQ(s[2], 0);
  EXPECT_FALSE(env.FlipBit(dir.File("f"), 100, 0).ok());
}

TEST(FaultEnv, NoSpaceThenSpaceReturns) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  auto f = env.NewWritableFile(dir.File("f"));
  ASSERT_TRUE(f.ok());
  env.SetNoSpaceAfter(5);
  EXPECT_TRUE((*f)->Append("12345").ok());
  Status s = (*f)->Append("6");
  EXPECT_EQ(s.code(), Code::kNoSpace);
  env.ClearNoSpace();
  EXPECT_TRUE((*f)->Append("6").ok());
  EXPECT_EQ(Contents(dir.File("f")), "123456");
}

TEST(FaultEnv, InjectedErrorsCountDown) {
  test::TempDir dir;
  FaultEnv env(Env::Posix());
  auto f = env.NewWritableFile(dir.File("f"));
  ASSERT_TRUE(f.ok());
  env.InjectError(FaultEnv::Op::kSync, Status::IoError("EIO (injected)"), 2);
  EXPECT_EQ((*f)->Sync().code(), Code::kIoError);
  EXPECT_EQ((*f)->Sync().code(), Code::kIoError);
  EXPECT_TRUE((*f)->Sync().ok());
}

}  // namespace
}  // namespace rdb
