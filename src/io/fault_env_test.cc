#include "io/fault_env.h"

#include <gtest/gtest.h>

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
