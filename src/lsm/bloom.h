// Bloom filter over the user keys of one SSTable, blocked by cache line: a key's probes all land in
// one 64-byte line chosen by its hash, so a negative lookup costs one cache miss. About 1% false
// positives at 10 bits per key (docs/formats/sstable.md, "Filter block").
//
//   filter := line[num_lines] (64 bytes each) | fixed32 num_lines | u8 num_probes | u8 hash_version
//
// The hash is XXH3-64 of the user key (hash_version 1); BloomHash computes it once per Get and the
// same value is probed against every table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdb::lsm {

constexpr uint8_t kBloomHashVersion = 1;
constexpr size_t kBloomLineBytes = 64;

uint64_t BloomHash(std::string_view user_key);

class BloomBuilder {
 public:
  explicit BloomBuilder(int bits_per_key);
  void AddHash(uint64_t hash) { hashes_.push_back(hash); }
  size_t num_keys() const { return hashes_.size(); }
  // Appends the filter to *dst and forgets the keys.
  void Finish(std::string* dst);

 private:
  int bits_per_key_;
  int num_probes_;
  std::vector<uint64_t> hashes_;
};

// A view of a serialized filter. Parse rejects malformed bytes; a filter with an unknown hash
// version parses as "always may contain" (it is only an optimisation).
class BloomFilter {
 public:
  // Returns false if `data` is not a well-formed filter.
  bool Parse(std::string_view data);
  bool MayContain(uint64_t hash) const;

 private:
  const char* lines_ = nullptr;
  uint32_t num_lines_ = 0;
  int num_probes_ = 0;
  bool always_ = true;
};

}  // namespace rdb::lsm
