// Histogram: an HDR-style log-linear histogram of non-negative integers (e.g. latencies in
// nanoseconds), for benchmarks and tools.
//
// Values below 256 are counted exactly; above, each power of two is split into 128 sub-buckets,
// so a reported value is within 1/128 (< 0.8%) of the true one, over the whole uint64 range, with
// a fixed 58 KiB of counters and O(1) Record.
//
// Thread-safety: none. Keep one per thread and Merge them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace rdb {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = 1u << kSubBucketBits;  // 128
  static constexpr size_t kBuckets = (64 - kSubBucketBits + 1) * kSubBuckets;

  void Record(uint64_t value, uint64_t count = 1);
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;
  // The value at percentile p in [0, 100]: the highest value equivalent to the bucket holding the
  // p-th percentile sample, clamped to [min(), max()]. 0 if empty.
  uint64_t Percentile(double p) const;

  // Bucket arithmetic, exposed for tests.
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace rdb
