// libFuzzer target: the manifest (docs/formats/manifest.md) — record framing (ReadManifest),
// version edit decoding (VersionEdit::DecodeFrom, which must round-trip through EncodeTo) and
// replay (VersionSet::Recover, which validates the resulting live set).
//
// Input: byte 0 picks the mode. Even: the rest is the raw manifest image. Odd: the harness writes a
// valid header and frames records with valid checksums; each payload is raw bytes or a VersionEdit
// built from fuzzed fields (small file numbers and key alphabets, so that deletes hit and ranges
// overlap), with an optional torn tail. A replay the harness does itself must agree with Recover.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "base/check.h"
#include "base/coding.h"
#include "base/crc32c.h"
#include "lsm/format.h"
#include "lsm/manifest.h"
#include "lsm/version.h"
#include "lsm/version_edit.h"
#include "lsm/version_set.h"
#include "tests/fuzz/fuzz_util.h"

namespace rdb::lsm {
namespace {

std::string Key(FuzzedDataProvider* in) {
  std::string k;
  AppendInternalKey(&k, std::string(1, static_cast<char>('a' + in->ConsumeIntegralInRange(0, 5))),
                    in->ConsumeIntegralInRange<uint64_t>(0, 100),
                    in->ConsumeBool() ? ValueType::kValue : ValueType::kDeletion);
  return k;
}

VersionEdit RandomEdit(FuzzedDataProvider* in) {
  VersionEdit e;
  if (in->ConsumeBool()) e.next_file_number = in->ConsumeIntegralInRange<uint64_t>(0, 20);
  if (in->ConsumeBool()) {
    e.last_sequence = in->ConsumeBool() ? in->ConsumeIntegral<uint64_t>()
                                        : in->ConsumeIntegralInRange<uint64_t>(0, 1000);
  }
  if (in->ConsumeBool()) e.flushed_seq = in->ConsumeIntegralInRange<uint64_t>(0, 1000);
  const int deleted = in->ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < deleted; i++) {
    e.deleted.emplace_back(in->ConsumeIntegralInRange(0, kNumLevels - 1),
                           in->ConsumeIntegralInRange<uint64_t>(1, 10));
  }
  const int added = in->ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < added; i++) {
    FileMeta f;
    f.number = in->ConsumeIntegralInRange<uint64_t>(1, 10);
    f.file_size = in->ConsumeIntegralInRange<uint64_t>(0, 1 << 20);
    f.entries = in->ConsumeIntegralInRange<uint64_t>(0, 1000);
    f.smallest = Key(in);
    f.largest = Key(in);
    if (CompareInternalKey(f.smallest, f.largest) > 0) std::swap(f.smallest, f.largest);
    e.added.emplace_back(in->ConsumeIntegralInRange(0, kNumLevels - 1), std::move(f));
  }
  return e;
}

void AppendRecord(std::string_view payload, std::string* file) {
  std::string len;
  PutFixed32(&len, static_cast<uint32_t>(payload.size()));
  file->append(len);
  PutFixed32(file, crc32c::Mask(crc32c::Value(len)));
  PutFixed32(file, crc32c::Mask(crc32c::Value(payload)));
  file->append(payload);
}

std::string StructuredImage(FuzzedDataProvider* in) {
  std::string file(kManifestMagic, sizeof(kManifestMagic));
  PutFixed32(&file, in->ConsumeProbability<double>() < 0.05 ? 2 : kManifestFormatVersion);
  PutFixed32(&file, crc32c::Mask(crc32c::Value(file)));
  const int records = in->ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < records && in->remaining_bytes() > 0; i++) {
    std::string payload;
    if (in->ConsumeProbability<double>() < 0.15) {
      payload = in->ConsumeRandomLengthString(64);
    } else {
      RandomEdit(in).EncodeTo(&payload);
    }
    AppendRecord(payload, &file);
  }
  file += in->ConsumeRandomLengthString(16);  // a torn tail, zeros, or garbage
  return file;
}

// VersionEdit::DecodeFrom must accept exactly what it produces.
void CheckRoundTrip(const VersionEdit& e) {
  std::string a;
  e.EncodeTo(&a);
  VersionEdit again;
  RDB_CHECK(again.DecodeFrom(a).ok());
  std::string b;
  again.EncodeTo(&b);
  RDB_CHECK(a == b);
}

// The harness's own replay: the live (level, number) set, or nullopt if any edit is invalid.
struct Replay {
  bool ok = true;
  bool has_next = false;
  bool has_last = false;
  std::array<std::map<uint64_t, FileMeta>, kNumLevels> levels;
};

void Check(const std::string& image, bool write_current) {
  const std::string dir = fuzz::ScratchDir() + "/index";
  fuzz::ResetDir(dir);
  const std::string name = ManifestFileName(1);
  fuzz::WriteFile(JoinPath(dir, name), image);
  if (write_current) {
    fuzz::WriteFile(JoinPath(dir, kCurrentFileName), "RDB-LSM-CURRENT 1\n" + name + "\n");
  }
  Env* env = Env::Posix();

  Replay replay;
  auto read = ReadManifest(env, JoinPath(dir, name), [&](std::string_view payload, uint64_t) {
    VersionEdit e;
    Status s = e.DecodeFrom(payload);
    if (!s.ok()) {
      replay.ok = false;
      return s;
    }
    CheckRoundTrip(e);
    if (e.next_file_number) replay.has_next = true;
    if (e.last_sequence) replay.has_last = true;
    for (const auto& [level, number] : e.deleted) {
      if (replay.levels[level].erase(number) == 0) replay.ok = false;
    }
    for (const auto& [level, f] : e.added) {
      if (!replay.levels[level].emplace(f.number, f).second) replay.ok = false;
    }
    return Status::OK();
  });
  if (!read.ok()) {
    const Code c = read.status().code();
    RDB_CHECK(c == Code::kCorruption || c == Code::kNotSupported);
    replay.ok = false;
  } else if (read->records == 0 || !replay.has_next || !replay.has_last) {
    replay.ok = false;
  }
  std::set<std::pair<int, uint64_t>> expected;
  if (replay.ok) {
    VersionEdit all;
    for (int level = 0; level < kNumLevels; level++) {
      for (const auto& [number, f] : replay.levels[level]) {
        all.added.emplace_back(level, f);
        expected.emplace(level, number);
      }
    }
    if (!Version::Apply(Version(), all).ok()) replay.ok = false;
  }

  VersionSet versions(env, dir);
  Status s = versions.Recover();
  if (!s.ok()) {
    const Code c = s.code();
    RDB_CHECK(c == Code::kCorruption || c == Code::kNotSupported || c == Code::kNotFound);
    RDB_CHECK(!replay.ok);
    return;
  }
  RDB_CHECK(replay.ok);
  auto v = versions.current();
  std::set<std::pair<int, uint64_t>> got;
  for (int level = 0; level < kNumLevels; level++) {
    for (const FileRef& f : v->files[level]) got.emplace(level, f->number);
    for (size_t i = 1; level > 0 && i < v->files[level].size(); i++) {
      const FileMeta& a = *v->files[level][i - 1];
      const FileMeta& b = *v->files[level][i];
      RDB_CHECK(CompareUserKey(a.largest_user(), b.smallest_user()) < 0);
    }
  }
  RDB_CHECK(got == expected);
  (void)v->LevelSummary();
  (void)v->TotalBytes();
}

}  // namespace
}  // namespace rdb::lsm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    rdb::lsm::Check(std::string(reinterpret_cast<const char*>(data) + 1, size - 1),
                    (data[0] & 2) == 0);
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    rdb::lsm::Check(rdb::lsm::StructuredImage(&in), (data[0] & 2) == 0);
  }
  return 0;
}
