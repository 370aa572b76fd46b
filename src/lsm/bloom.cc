#include "lsm/bloom.h"

#include <xxhash.h>

#include <algorithm>

#include "base/coding.h"

namespace rdb::lsm {
namespace {

inline uint32_t LineOf(uint64_t hash, uint32_t num_lines) {
  // Multiply-shift maps the top 32 bits onto [0, num_lines) without a division.
  return static_cast<uint32_t>(((hash >> 32) * num_lines) >> 32);
}

// The i-th probe's bit within a 512-bit line. Each step multiplies by an odd constant and takes
// the top 9 bits, which are well mixed from all of the hash.
inline uint32_t NextProbe(uint64_t* x) {
  *x *= 0x9e3779b97f4a7c15ull;
  return static_cast<uint32_t>(*x >> 55);
}

}  // namespace

uint64_t BloomHash(std::string_view user_key) {
  return XXH3_64bits(user_key.data(), user_key.size());
}

BloomBuilder::BloomBuilder(int bits_per_key) : bits_per_key_(bits_per_key) {
  // ln(2) * bits_per_key probes minimise the false-positive rate.
  num_probes_ = std::clamp(static_cast<int>(bits_per_key * 0.69), 1, 30);
}

void BloomBuilder::Finish(std::string* dst) {
  uint64_t bits = std::max<uint64_t>(1, hashes_.size()) * static_cast<uint64_t>(bits_per_key_);
  uint32_t num_lines = static_cast<uint32_t>(std::max<uint64_t>(1, (bits + 511) / 512));
  size_t start = dst->size();
  dst->resize(start + static_cast<size_t>(num_lines) * kBloomLineBytes, '\0');
  auto* array = reinterpret_cast<uint8_t*>(dst->data() + start);
  for (uint64_t h : hashes_) {
    uint8_t* line = array + static_cast<size_t>(LineOf(h, num_lines)) * kBloomLineBytes;
    uint64_t x = h;
    for (int i = 0; i < num_probes_; i++) {
      uint32_t bit = NextProbe(&x);
      line[bit >> 3] |= static_cast<uint8_t>(1u << (bit & 7));
    }
  }
  PutFixed32(dst, num_lines);
  dst->push_back(static_cast<char>(num_probes_));
  dst->push_back(static_cast<char>(kBloomHashVersion));
  hashes_.clear();
}

bool BloomFilter::Parse(std::string_view data) {
  if (data.size() < 6) return false;
  const char* tail = data.data() + data.size() - 6;
  uint32_t num_lines = DecodeFixed32(tail);
  int num_probes = static_cast<uint8_t>(tail[4]);
  uint8_t version = static_cast<uint8_t>(tail[5]);
  if (static_cast<uint64_t>(num_lines) * kBloomLineBytes != data.size() - 6) return false;
  if (version != kBloomHashVersion || num_lines == 0 || num_probes == 0) {
    always_ = true;  // not ours to interpret: never filter anything out
    return true;
  }
  lines_ = data.data();
  num_lines_ = num_lines;
  num_probes_ = num_probes;
  always_ = false;
  return true;
}

bool BloomFilter::MayContain(uint64_t hash) const {
  if (always_) return true;
  const auto* line = reinterpret_cast<const uint8_t*>(lines_) +
                     static_cast<size_t>(LineOf(hash, num_lines_)) * kBloomLineBytes;
  uint64_t x = hash;
  for (int i = 0; i < num_probes_; i++) {
    uint32_t bit = NextProbe(&x);
    if ((line[bit >> 3] & (1u << (bit & 7))) == 0) return false;
  }
  return true;
}

}  // namespace rdb::lsm
