// libFuzzer target: arbitrary bytes as an SSTable file through the table reader (lsm/table.h):
// header and footer decoding, the index block, the bloom filter, block checksums and
// decompression; then a full iteration, Seeks and Gets.
//
// Input: byte 0 picks the mode.
//   0: the rest is the raw file image.
//   1: the harness assembles a file from fuzzed parts with valid checksums (data blocks with any
//      bytes and any compression byte, an index with fuzzed or real handles, a fuzzed filter, a
//      fuzzed entry count), so that the fuzzer gets past the CRCs into block decoding.
//   2: a well-formed table from fuzzed entries (any compression, any block split): it must open,
//      iterate to exactly those entries, and Get must return the newest entry of every key.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/coding.h"
#include "base/crc32c.h"
#include "lsm/block.h"
#include "lsm/bloom.h"
#include "lsm/format.h"
#include "lsm/table.h"
#include "lsm/table_format.h"
#include "tests/fuzz/fuzz_util.h"

namespace rdb::lsm {
namespace {

struct ByInternalKey {
  bool operator()(const std::string& a, const std::string& b) const {
    return CompareInternalKey(a, b) < 0;
  }
};
using Entries = std::map<std::string, std::string, ByInternalKey>;

// payload | type | masked crc32c(payload | type), with any type byte.
BlockHandle AppendRawBlock(std::string_view payload, uint8_t type, std::string* file) {
  BlockHandle h{file->size(), payload.size()};
  file->append(payload);
  file->push_back(static_cast<char>(type));
  uint32_t crc = crc32c::Value(payload.data(), payload.size());
  crc = crc32c::Extend(crc, reinterpret_cast<const char*>(&type), 1);
  PutFixed32(file, crc32c::Mask(crc));
  return h;
}

BlockHandle AppendGoodBlock(std::string_view contents, Compression c, std::string* file) {
  std::string scratch;
  const uint64_t start = file->size();
  AppendBlock(contents, c, &scratch, file);
  return BlockHandle{start, file->size() - start - kBlockTrailerBytes};
}

Compression PickCompression(FuzzedDataProvider* in) {
  switch (in->ConsumeIntegralInRange(0, 2)) {
    case 1:
      return Compression::kZstd;
    case 2:
      return Compression::kLz4;
    default:
      return Compression::kNone;
  }
}

std::string InternalKey(FuzzedDataProvider* in, bool any_type) {
  std::string k;
  AppendInternalKey(&k, in->ConsumeRandomLengthString(20),
                    in->ConsumeIntegralInRange<uint64_t>(0, 1000),
                    !any_type || in->ConsumeBool() ? ValueType::kValue : ValueType::kDeletion);
  return k;
}

std::string WellFormedTable(FuzzedDataProvider* in, Entries* entries) {
  const int n = in->ConsumeIntegralInRange(0, 300);
  for (int i = 0; i < n && in->remaining_bytes() > 0; i++) {
    std::string k = InternalKey(in, true);
    entries->emplace(std::move(k), in->ConsumeRandomLengthString(40));
  }
  const Compression compression = PickCompression(in);
  const size_t per_block = in->ConsumeIntegralInRange<size_t>(1, 64);
  const int restart_interval = in->ConsumeIntegralInRange(1, 16);
  const bool with_filter = in->ConsumeBool();

  std::string file;
  EncodeTableHeader(&file);
  BlockBuilder index(1);
  BloomBuilder bloom(10);
  BlockBuilder data(restart_interval);
  size_t in_block = 0;
  std::string last;
  auto flush = [&] {
    BlockHandle h = AppendGoodBlock(data.Finish(), compression, &file);
    std::string hv;
    h.EncodeTo(&hv);
    index.Add(last, hv);
    data.Reset();
    in_block = 0;
  };
  for (const auto& [k, v] : *entries) {
    data.Add(k, v);
    bloom.AddHash(BloomHash(ExtractUserKey(k)));
    last = k;
    if (++in_block == per_block) flush();
  }
  if (in_block > 0) flush();
  Footer footer;
  if (with_filter) {
    std::string filter;
    bloom.Finish(&filter);
    footer.filter = AppendGoodBlock(filter, Compression::kNone, &file);
  }
  footer.index = AppendGoodBlock(index.Finish(), compression, &file);
  footer.entry_count = entries->size();
  footer.EncodeTo(&file);
  return file;
}

std::string AssembledTable(FuzzedDataProvider* in) {
  std::string file;
  if (in->ConsumeProbability<double>() < 0.95) {
    EncodeTableHeader(&file);
  } else {
    file = in->ConsumeBytesAsString(kTableHeaderBytes);
  }
  std::vector<BlockHandle> handles;
  const int blocks = in->ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < blocks; i++) {
    std::string contents;
    if (in->ConsumeBool()) {
      contents = in->ConsumeRandomLengthString(256);
    } else {
      BlockBuilder b(in->ConsumeIntegralInRange(1, 4));
      Entries e;
      const int n = in->ConsumeIntegralInRange(0, 8);
      for (int j = 0; j < n; j++)
        e.emplace(InternalKey(in, true), in->ConsumeRandomLengthString(8));
      for (const auto& [k, v] : e) b.Add(k, v);
      contents = std::string(b.Finish());
    }
    if (in->ConsumeBool()) {
      handles.push_back(AppendGoodBlock(contents, PickCompression(in), &file));
    } else {
      handles.push_back(AppendRawBlock(contents, in->ConsumeIntegral<uint8_t>(), &file));
    }
  }
  Footer footer;
  switch (in->ConsumeIntegralInRange(0, 2)) {
    case 1: {
      BloomBuilder bloom(in->ConsumeIntegralInRange(1, 20));
      for (int i = 0; i < 4; i++) bloom.AddHash(in->ConsumeIntegral<uint64_t>());
      std::string filter;
      bloom.Finish(&filter);
      footer.filter = AppendGoodBlock(filter, Compression::kNone, &file);
      break;
    }
    case 2:
      footer.filter =
          AppendRawBlock(in->ConsumeRandomLengthString(128), in->ConsumeIntegral<uint8_t>(), &file);
      break;
    default:
      break;
  }
  std::string index_contents;
  if (in->ConsumeProbability<double>() < 0.1) {
    index_contents = in->ConsumeRandomLengthString(128);
  } else {
    BlockBuilder index(1);
    Entries e;
    for (const BlockHandle& real : handles) {
      BlockHandle h = real;
      if (in->ConsumeProbability<double>() < 0.1) {
        h.offset = in->ConsumeIntegral<uint64_t>();
        h.size = in->ConsumeIntegral<uint64_t>();
      }
      std::string hv;
      h.EncodeTo(&hv);
      if (in->ConsumeProbability<double>() < 0.1) hv = in->ConsumeRandomLengthString(12);
      e.emplace(InternalKey(in, false), hv);
    }
    for (const auto& [k, v] : e) index.Add(k, v);
    index_contents = std::string(index.Finish());
  }
  footer.index = AppendGoodBlock(index_contents, PickCompression(in), &file);
  footer.entry_count = in->ConsumeIntegralInRange<uint64_t>(0, 64);
  footer.EncodeTo(&file);
  if (in->ConsumeProbability<double>() < 0.05 && !file.empty()) {
    const size_t at = in->ConsumeIntegralInRange<size_t>(0, file.size() - 1);
    file[at] = static_cast<char>(file[at] ^ 1);
  }
  return file;
}

void Exercise(const std::string& image, const Entries* expected, FuzzedDataProvider* in) {
  auto cache = std::make_shared<BlockCache>(1 << 20, 1 << 16);
  auto table =
      Table::Open(std::make_unique<fuzz::StringFile>(image), "fuzz.sst", image.size(), 1, cache);
  if (expected != nullptr) RDB_CHECK(table.ok());
  if (!table.ok()) return;
  const Table& t = **table;

  std::vector<std::string> keys;
  {
    auto it = t.NewIterator(true);
    for (it->SeekToFirst(); it->Valid() && keys.size() < 10000; it->Next()) {
      keys.emplace_back(it->key());
      (void)it->value();
    }
    if (expected != nullptr) {
      RDB_CHECK(it->status().ok());
      RDB_CHECK(keys.size() == expected->size());
      size_t i = 0;
      for (const auto& [k, v] : *expected) RDB_CHECK(keys[i++] == k);
    }
  }
  std::vector<std::string> users;
  for (const std::string& k : keys) {
    if (k.size() >= kTrailerBytes) users.emplace_back(ExtractUserKey(k));
  }
  for (int i = 0; i < 4 && in->remaining_bytes() > 0; i++) {
    users.push_back(in->ConsumeRandomLengthString(20));
  }
  for (const std::string& u : users) {
    LookupKey lk(u);
    LookupResult result;
    std::string value;
    Status s = t.Get(lk, BloomHash(u), &result, &value);
    auto it = t.NewIterator(false);
    it->Seek(lk.internal_key());
    if (expected == nullptr) continue;
    RDB_CHECK(s.ok() && it->status().ok());
    auto newest = expected->lower_bound(std::string(lk.internal_key()));
    if (newest == expected->end() || ExtractUserKey(newest->first) != u) {
      RDB_CHECK(result == LookupResult::kAbsent);
      continue;
    }
    ParsedInternalKey p;
    RDB_CHECK(ParseInternalKey(newest->first, &p));
    if (p.type == ValueType::kDeletion) {
      RDB_CHECK(result == LookupResult::kDeleted);
    } else {
      RDB_CHECK(result == LookupResult::kFound && value == newest->second);
    }
    RDB_CHECK(it->Valid() && it->key() == newest->first);
  }
}

}  // namespace
}  // namespace rdb::lsm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdb::lsm;
  if (size == 0) return 0;
  FuzzedDataProvider in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      std::string image = in.ConsumeRemainingBytesAsString();
      Exercise(image, nullptr, &in);
      break;
    }
    case 1: {
      std::string image = AssembledTable(&in);
      Exercise(image, nullptr, &in);
      break;
    }
    default: {
      Entries entries;
      std::string image = WellFormedTable(&in, &entries);
      Exercise(image, &entries, &in);
      break;
    }
  }
  return 0;
}
