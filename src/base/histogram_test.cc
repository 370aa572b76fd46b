#include "base/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace rdb {
namespace {

TEST(Histogram, BucketsAreContiguousAndPrecise) {
  EXPECT_EQ(Histogram::BucketOf(0), 0u);
  EXPECT_EQ(Histogram::BucketOf(255), 255u);
  EXPECT_EQ(Histogram::BucketOf(256), 256u);
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::kBuckets - 1);
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBuckets - 1), UINT64_MAX);
  for (size_t b = 0; b + 1 < Histogram::kBuckets; b++) {
    ASSERT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << b;
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketLow(b)), b);
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketHigh(b)), b);
    uint64_t low = Histogram::BucketLow(b);
    uint64_t width = Histogram::BucketHigh(b) - low + 1;
    if (low >= 256) {
      ASSERT_LE(static_cast<double>(width) / static_cast<double>(low), 1.0 / 128 + 1e-12);
    }
  }
}

TEST(Histogram, ExactForSmallValues) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; v++) h.Record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.Percentile(0), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, PercentilesWithinOnePercent) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(12, 1.5);  // ~ microseconds to seconds in ns
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; i++) {
    auto v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    uint64_t exact = values[static_cast<size_t>(std::ceil(p / 100 * values.size())) - 1];
    uint64_t got = h.Percentile(p);
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(static_cast<double>(got), exact * 1.01 + 1) << p;
  }
  EXPECT_EQ(h.Percentile(100), values.back());
}

TEST(Histogram, MergeAndReset) {
  Histogram a, b;
  a.Record(10, 3);
  b.Record(1'000'000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 4u);
  EXPECT_EQ(a.max(), 1'000'000u);
  EXPECT_EQ(a.min(), 10u);
  EXPECT_EQ(a.Percentile(75), 10u);
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Percentile(50), 0u);
  Histogram empty;
  b.Merge(empty);
  EXPECT_EQ(b.min(), 1'000'000u);
}

}  // namespace
}  // namespace rdb
