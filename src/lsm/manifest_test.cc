#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "io/fault_env.h"
#include "lsm/manifest.h"
#include "lsm/version_set.h"
#include "tests/support/temp_dir.h"

namespace rdb::lsm {
namespace {

FileMeta Meta(uint64_t number, const std::string& smallest, const std::string& largest) {
  FileMeta f;
  f.number = number;
  f.file_size = 1000 + number;
  f.entries = 10 * number;
  AppendInternalKey(&f.smallest, smallest, 5, ValueType::kValue);
  AppendInternalKey(&f.largest, largest, 3, ValueType::kDeletion);
  return f;
}

TEST(VersionEditTest, RoundTrip) {
  VersionEdit e;
  e.next_file_number = 42;
  e.last_sequence = 1234567;
  e.flushed_seq = 99;
  e.deleted = {{0, 7}, {3, 8}};
  e.added = {{1, Meta(9, "a", "m")}, {6, Meta(10, "n", "z")}};
  std::string enc;
  e.EncodeTo(&enc);
  VersionEdit d;
  ASSERT_TRUE(d.DecodeFrom(enc).ok());
  EXPECT_EQ(d.next_file_number, 42u);
  EXPECT_EQ(d.last_sequence, 1234567u);
  EXPECT_EQ(d.flushed_seq, 99u);
  EXPECT_EQ(d.deleted, e.deleted);
  ASSERT_EQ(d.added.size(), 2u);
  EXPECT_EQ(d.added[1].first, 6);
  EXPECT_EQ(d.added[1].second.number, 10u);
  EXPECT_EQ(d.added[1].second.file_size, 1010u);
  EXPECT_EQ(d.added[1].second.smallest, e.added[1].second.smallest);
  EXPECT_EQ(d.added[1].second.largest, e.added[1].second.largest);

  // Every truncation is an error, never a silently different edit.
  for (size_t n = 1; n < enc.size(); n++) {
    VersionEdit t;
    Status s = t.DecodeFrom(std::string_view(enc.data(), n));
    if (s.ok()) {
      std::string re;
      t.EncodeTo(&re);
      EXPECT_EQ(re, enc.substr(0, n)) << n;  // only whole-field prefixes decode
    }
  }
  VersionEdit bad;
  EXPECT_TRUE(bad.DecodeFrom("\x63\x01").IsCorruption());
}

class ManifestTest : public testing::Test {
 protected:
  std::string manifest_path(const VersionSet& vs) {
    return dir_.File(ManifestFileName(vs.manifest_number()));
  }
  test::TempDir dir_;
};

TEST_F(ManifestTest, NewTreeThenRecoverAfterReopen) {
  uint64_t manifest_number;
  {
    VersionSet vs(Env::Posix(), dir_.path());
    EXPECT_EQ(vs.Recover().code(), Code::kNotFound);
    ASSERT_TRUE(vs.WriteSnapshot().ok());
    VersionEdit e1;
    e1.added = {{0, Meta(vs.NewFileNumber(), "a", "k")}, {0, Meta(vs.NewFileNumber(), "b", "z")}};
    e1.flushed_seq = 10;
    e1.last_sequence = 20;
    ASSERT_TRUE(vs.LogAndApply(&e1).ok());
    VersionEdit e2;
    e2.deleted = {{0, e1.added[0].second.number}, {0, e1.added[1].second.number}};
    e2.added = {{1, Meta(vs.NewFileNumber(), "a", "m")}, {1, Meta(vs.NewFileNumber(), "n", "z")}};
    ASSERT_TRUE(vs.LogAndApply(&e2).ok());
    EXPECT_EQ(vs.flushed_seq(), 10u);
    manifest_number = vs.manifest_number();
  }
  VersionSet vs(Env::Posix(), dir_.path());
  ASSERT_TRUE(vs.Recover().ok());
  EXPECT_EQ(vs.manifest_number(), manifest_number);
  EXPECT_EQ(vs.flushed_seq(), 10u);
  EXPECT_EQ(vs.last_sequence(), 20u);
  auto v = vs.current();
  EXPECT_TRUE(v->files[0].empty());
  ASSERT_EQ(v->files[1].size(), 2u);
  EXPECT_EQ(v->files[1][0]->smallest_user(), "a");
  EXPECT_EQ(v->files[1][1]->largest_user(), "z");
  EXPECT_GT(vs.NewFileNumber(), v->files[1][1]->number);
}

TEST_F(ManifestTest, OverlappingTablesInALevelAreRejected) {
  VersionSet vs(Env::Posix(), dir_.path());
  ASSERT_TRUE(vs.WriteSnapshot().ok());
  VersionEdit e;
  e.added = {{2, Meta(vs.NewFileNumber(), "a", "m")}, {2, Meta(vs.NewFileNumber(), "m", "z")}};
  EXPECT_TRUE(vs.LogAndApply(&e).IsCorruption());
}

TEST_F(ManifestTest, UnknownFormatVersionIsNotSupportedNamingTheFile) {
  std::string path;
  {
    VersionSet vs(Env::Posix(), dir_.path());
    ASSERT_TRUE(vs.WriteSnapshot().ok());
    path = manifest_path(vs);
  }
  std::string data;
  ASSERT_TRUE(ReadFileToString(Env::Posix(), path, &data).ok());
  EncodeFixed32(data.data() + 8, kManifestFormatVersion + 1);
  EncodeFixed32(data.data() + 12, crc32c::Mask(crc32c::Value(data.data(), 12)));
  auto f = Env::Posix()->NewWritableFile(path);
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());
  VersionSet vs(Env::Posix(), dir_.path());
  Status s = vs.Recover();
  EXPECT_EQ(s.code(), Code::kNotSupported) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
}

TEST_F(ManifestTest, UnknownCurrentVersionIsNotSupported) {
  {
    VersionSet vs(Env::Posix(), dir_.path());
    ASSERT_TRUE(vs.WriteSnapshot().ok());
  }
  ASSERT_TRUE(
      WriteFileAtomic(Env::Posix(), dir_.File("CURRENT"), "RDB-LSM-CURRENT 2\nMANIFEST-000001\n")
          .ok());
  VersionSet vs(Env::Posix(), dir_.path());
  Status s = vs.Recover();
  EXPECT_EQ(s.code(), Code::kNotSupported) << s.ToString();
  EXPECT_NE(s.message().find("CURRENT"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), dir_.File("CURRENT"), "garbage").ok());
  EXPECT_TRUE(vs.Recover().IsCorruption());
}

TEST_F(ManifestTest, TruncatedTailIsIgnoredCorruptMiddleIsReported) {
  std::string path;
  uint64_t size_after_first = 0;
  {
    VersionSet vs(Env::Posix(), dir_.path());
    ASSERT_TRUE(vs.WriteSnapshot().ok());
    path = manifest_path(vs);
    VersionEdit e1;
    e1.added = {{0, Meta(vs.NewFileNumber(), "a", "k")}};
    e1.flushed_seq = 5;
    ASSERT_TRUE(vs.LogAndApply(&e1).ok());
    size_after_first = *Env::Posix()->GetFileSize(path);
    VersionEdit e2;
    e2.added = {{0, Meta(vs.NewFileNumber(), "b", "z")}};
    e2.flushed_seq = 9;
    ASSERT_TRUE(vs.LogAndApply(&e2).ok());
  }
  std::string data;
  ASSERT_TRUE(ReadFileToString(Env::Posix(), path, &data).ok());
  const uint64_t full = data.size();

  // Every cut inside the last record: recovery sees the state before it.
  for (uint64_t cut = size_after_first + 1; cut < full; cut++) {
    ASSERT_TRUE(WriteFileAtomic(Env::Posix(), path, data.substr(0, cut)).ok());
    VersionSet vs(Env::Posix(), dir_.path());
    Status rs = vs.Recover();
    ASSERT_TRUE(rs.ok()) << cut << " " << rs.ToString();
    EXPECT_EQ(vs.flushed_seq(), 5u);
    EXPECT_EQ(vs.current()->files[0].size(), 1u);
  }
  // Zero-filled tail (a preallocated page): also torn.
  {
    auto f = Env::Posix()->NewWritableFile(path);
    ASSERT_TRUE((*f)->Append(data.substr(0, size_after_first) + std::string(100, '\0')).ok());
    ASSERT_TRUE((*f)->Close().ok());
    VersionSet vs(Env::Posix(), dir_.path());
    ASSERT_TRUE(vs.Recover().ok());
    EXPECT_EQ(vs.flushed_seq(), 5u);
  }
  // A flipped bit in a complete record: corruption naming the file and the record's offset.
  {
    std::string bad = data;
    bad[size_after_first - 3] ^= 0x10;
    auto f = Env::Posix()->NewWritableFile(path);
    ASSERT_TRUE((*f)->Append(bad).ok());
    ASSERT_TRUE((*f)->Close().ok());
    VersionSet vs(Env::Posix(), dir_.path());
    Status s = vs.Recover();
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("offset"), std::string::npos) << s.ToString();
  }
}

TEST_F(ManifestTest, FailedManifestWriteRollsToANewManifestAndBlocksDeletion) {
  FaultEnv env(Env::Posix());
  VersionSet vs(&env, dir_.path());
  ASSERT_TRUE(vs.WriteSnapshot().ok());
  uint64_t first = vs.manifest_number();
  // An orphan table that DeleteObsoleteFiles would normally remove.
  std::string orphan = dir_.File(TableFileName(500));
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), orphan, "x").ok());

  env.InjectError(FaultEnv::Op::kSync, Status::IoError("injected EIO"), 1);
  VersionEdit e1;
  e1.added = {{0, Meta(vs.NewFileNumber(), "a", "k")}};
  e1.flushed_seq = 7;
  EXPECT_FALSE(vs.LogAndApply(&e1).ok());
  EXPECT_EQ(vs.flushed_seq(), 0u);
  EXPECT_TRUE(vs.current()->files[0].empty());
  EXPECT_EQ(vs.DeleteObsoleteFiles(nullptr, false), 0);
  EXPECT_TRUE(env.FileExists(orphan));

  VersionEdit e2;
  e2.added = {{0, Meta(vs.NewFileNumber(), "a", "k")}};
  e2.flushed_seq = 8;
  ASSERT_TRUE(vs.LogAndApply(&e2).ok());
  EXPECT_NE(vs.manifest_number(), first);
  EXPECT_GT(vs.DeleteObsoleteFiles(nullptr, false), 0);
  EXPECT_FALSE(env.FileExists(orphan));
  EXPECT_FALSE(env.FileExists(dir_.File(ManifestFileName(first))));

  VersionSet again(Env::Posix(), dir_.path());
  ASSERT_TRUE(again.Recover().ok());
  EXPECT_EQ(again.flushed_seq(), 8u);
  EXPECT_EQ(again.current()->files[0].size(), 1u);
}

}  // namespace
}  // namespace rdb::lsm
