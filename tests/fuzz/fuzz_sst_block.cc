// libFuzzer target: the SSTable block decoder (lsm/block.h), with the internal-key comparator the
// table reader uses.
//
// Input: byte 0 picks the mode. Even: the rest is raw block contents; Parse must reject or accept
// them without crashing, and an accepted block is walked and Seek'ed to targets taken from the
// input. Odd: the harness builds a block with BlockBuilder from entries taken from the input; the
// walk must return exactly those entries and Seek(k) must land on the first entry >= k.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/check.h"
#include "lsm/block.h"
#include "lsm/format.h"

namespace rdb::lsm {
namespace {

void RawBlock(std::string contents) {
  auto block = Block::Parse(contents);
  if (!block.ok()) return;
  std::vector<std::string> targets;
  {
    BlockIter it(block->get(), CompareInternalKey);
    for (it.SeekToFirst(); it.Valid() && targets.size() < 4096; it.Next()) {
      // Keys that could not be internal keys are not Seek targets a table would pass.
      if (it.key().size() >= kTrailerBytes) targets.emplace_back(it.key());
      (void)it.value();
    }
  }
  for (size_t i = 0; i + kTrailerBytes <= contents.size() && i < 64 * 97; i += 97) {
    targets.push_back(contents.substr(i, std::min<size_t>(contents.size() - i, 24)));
  }
  for (const std::string& t : targets) {
    BlockIter it(block->get(), CompareInternalKey);
    it.Seek(t);
    if (it.Valid()) {
      (void)it.value();
      it.Next();
    }
  }
}

struct ByInternalKey {
  bool operator()(const std::string& a, const std::string& b) const {
    return CompareInternalKey(a, b) < 0;
  }
};

void BuiltBlock(FuzzedDataProvider* in) {
  std::map<std::string, std::string, ByInternalKey> entries;
  const int n = in->ConsumeIntegralInRange(1, 200);
  for (int i = 0; i < n && in->remaining_bytes() > 0; i++) {
    std::string ikey;
    AppendInternalKey(&ikey, in->ConsumeRandomLengthString(24),
                      in->ConsumeIntegralInRange<uint64_t>(0, kMaxSequence),
                      in->ConsumeBool() ? ValueType::kValue : ValueType::kDeletion);
    entries.emplace(std::move(ikey), in->ConsumeRandomLengthString(32));
  }
  if (entries.empty()) return;
  BlockBuilder builder(in->ConsumeIntegralInRange(1, 20));
  for (const auto& [k, v] : entries) builder.Add(k, v);
  auto block = Block::Parse(std::string(builder.Finish()));
  RDB_CHECK(block.ok());

  BlockIter it(block->get(), CompareInternalKey);
  it.SeekToFirst();
  for (const auto& [k, v] : entries) {
    RDB_CHECK(it.Valid());
    RDB_CHECK(it.key() == k && it.value() == v);
    it.Next();
  }
  RDB_CHECK(!it.Valid() && it.status().ok());

  std::vector<std::string> targets;
  for (const auto& [k, v] : entries) targets.push_back(k);
  for (int i = 0; i < 8 && in->remaining_bytes() > 0; i++) {
    std::string t;
    AppendInternalKey(&t, in->ConsumeRandomLengthString(24),
                      in->ConsumeIntegralInRange<uint64_t>(0, kMaxSequence), ValueType::kValue);
    targets.push_back(std::move(t));
  }
  for (const std::string& t : targets) {
    BlockIter s(block->get(), CompareInternalKey);
    s.Seek(t);
    RDB_CHECK(s.status().ok());
    auto expect = entries.lower_bound(t);
    if (expect == entries.end()) {
      RDB_CHECK(!s.Valid());
    } else {
      RDB_CHECK(s.Valid() && s.key() == expect->first && s.value() == expect->second);
    }
  }
}

}  // namespace
}  // namespace rdb::lsm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    rdb::lsm::RawBlock(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    rdb::lsm::BuiltBlock(&in);
  }
  return 0;
}
