#include "io/env.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

TEST(PosixEnv, WriteReadReopenTruncate) {
  test::TempDir dir;
  Env* env = Env::Posix();
  std::string path = dir.File("a");
  {
    auto f = env->NewWritableFile(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Append("hello ").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    EXPECT_EQ((*f)->Size(), 6u);
    ASSERT_TRUE((*f)->Close().ok());
  }
  {
    auto f = env->ReopenWritableFile(path);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ((*f)->Size(), 6u);
    ASSERT_TRUE((*f)->Append("world").ok());
  }
  std::string data;
  ASSERT_TRUE(ReadFileToString(env, path, &data).ok());
  EXPECT_EQ(data, "hello world");
  auto r = env->NewRandomAccessFile(path);
  ASSERT_TRUE(r.ok());
  char buf[16];
  auto got = (*r)->Read(6, 16, buf);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "world");
  ASSERT_TRUE(env->TruncateFile(path, 5).ok());
  EXPECT_EQ(env->GetFileSize(path).value(), 5u);
}

TEST(PosixEnv, PositionalWritesOverwriteGrowAndTruncate) {
  test::TempDir dir;
  Env* env = Env::Posix();
  std::string path = dir.File("p");
  {
    auto f = env->NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, std::string(8, '\0')).ok());  // a zero-filled region
    ASSERT_TRUE((*f)->WriteAt(2, "ab").ok());
    ASSERT_TRUE((*f)->Append("Z").ok());  // appends at Size(), not at the fd's offset
    EXPECT_EQ((*f)->Size(), 9u);
    ASSERT_TRUE((*f)->Sync().ok());
  }
  {
    // Without O_APPEND: the offset is honoured (pwrite ignores it on an O_APPEND file).
    auto f = env->ReopenPositionalFile(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->Size(), 9u);
    ASSERT_TRUE((*f)->WriteAt(4, "cd").ok());
    ASSERT_TRUE((*f)->WriteAt(11, "ef").ok());  // past the end: the gap reads as zeros
    EXPECT_EQ((*f)->Size(), 13u);
    ASSERT_TRUE((*f)->Append("!").ok());
    ASSERT_TRUE((*f)->Truncate(12).ok());
    EXPECT_EQ((*f)->Size(), 12u);
    ASSERT_TRUE((*f)->Sync().ok());
  }
  std::string data;
  ASSERT_TRUE(ReadFileToString(env, path, &data).ok());
  EXPECT_EQ(data, std::string("\0\0abcd\0\0Z\0\0e", 12));
  auto a = env->ReopenWritableFile(path);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->WriteAt(0, "x").code(), Code::kNotSupported);
  EXPECT_FALSE(env->ReopenPositionalFile(dir.File("missing")).ok());
}

TEST(PosixEnv, MissingFileIsNotFound) {
  test::TempDir dir;
  auto r = Env::Posix()->NewRandomAccessFile(dir.File("nope"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
}

TEST(PosixEnv, AtomicWriteAndChildren) {
  test::TempDir dir;
  Env* env = Env::Posix();
  ASSERT_TRUE(WriteFileAtomic(env, dir.File("CURRENT"), "v1").ok());
  ASSERT_TRUE(WriteFileAtomic(env, dir.File("CURRENT"), "v2").ok());
  std::string data;
  ASSERT_TRUE(ReadFileToString(env, dir.File("CURRENT"), &data).ok());
  EXPECT_EQ(data, "v2");
  auto kids = env->GetChildren(dir.path());
  ASSERT_TRUE(kids.ok());
  EXPECT_EQ(*kids, std::vector<std::string>{"CURRENT"});
  ASSERT_TRUE(env->CreateDirs(dir.File("x/y/z")).ok());
  EXPECT_TRUE(env->FileExists(dir.File("x/y/z")));
}

TEST(PosixEnv, LockIsExclusive) {
  test::TempDir dir;
  Env* env = Env::Posix();
  auto a = env->LockFile(dir.File("LOCK"));
  ASSERT_TRUE(a.ok());
  auto b = env->LockFile(dir.File("LOCK"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kAlreadyExists);
  a->reset();
  EXPECT_TRUE(env->LockFile(dir.File("LOCK")).ok());
}

TEST(Path, JoinAndDirName) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
}

}  // namespace
}  // namespace rdb
