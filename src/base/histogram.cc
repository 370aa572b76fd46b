#include "base/histogram.h"

#include <algorithm>
#include <cmath>

namespace rdb {

size_t Histogram::BucketOf(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  int msb = 63 - __builtin_clzll(value);
  int shift = msb - kSubBucketBits;
  uint64_t top = value >> shift;  // in [kSubBuckets, 2 * kSubBuckets)
  return static_cast<size_t>(shift + 1) * kSubBuckets + static_cast<size_t>(top - kSubBuckets);
}

uint64_t Histogram::BucketLow(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  int shift = static_cast<int>(bucket / kSubBuckets) - 1;
  uint64_t top = kSubBuckets + bucket % kSubBuckets;
  return top << shift;
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  int shift = static_cast<int>(bucket / kSubBuckets) - 1;
  uint64_t top = kSubBuckets + bucket % kSubBuckets;
  // (top + 1) << shift may be 2^64 for the last bucket: compute high = low + (2^shift - 1).
  return (top << shift) + ((uint64_t{1} << shift) - 1);
}

void Histogram::Record(uint64_t value, uint64_t count) {
  if (count == 0) return;
  counts_[BucketOf(value)] += count;
  count_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * count;
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; i++) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::Reset() { *this = Histogram(); }

double Histogram::mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_ / count_); }

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the sample at percentile p (1-based), at least 1.
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; i++) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHigh(i), min(), max_);
  }
  return max_;
}

}  // namespace rdb
