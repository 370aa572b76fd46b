#include "lsm/bloom.h"

#include <gtest/gtest.h>

#include <string>

namespace rdb::lsm {
namespace {

std::string Key(int i, const char* prefix) {
  return std::string(prefix) + std::to_string(i) + "/stream-event";
}

double FalsePositiveRate(int bits_per_key, int n, std::string* filter_out = nullptr) {
  BloomBuilder b(bits_per_key);
  for (int i = 0; i < n; i++) b.AddHash(BloomHash(Key(i, "present-")));
  std::string filter;
  b.Finish(&filter);
  BloomFilter f;
  EXPECT_TRUE(f.Parse(filter));
  for (int i = 0; i < n; i++) {
    EXPECT_TRUE(f.MayContain(BloomHash(Key(i, "present-")))) << "false negative for " << i;
  }
  int fp = 0;
  const int kAbsent = 10000;
  for (int i = 0; i < kAbsent; i++) fp += f.MayContain(BloomHash(Key(i, "absent-"))) ? 1 : 0;
  if (filter_out != nullptr) *filter_out = filter;
  return static_cast<double>(fp) / kAbsent;
}

TEST(BloomTest, NoFalseNegativesAndAboutOnePercentAtTenBits) {
  double rate = FalsePositiveRate(10, 10000);
  EXPECT_LT(rate, 0.02) << rate;
  std::printf("bloom fp rate at 10 bits/key: %.4f\n", rate);
}

TEST(BloomTest, MoreBitsFewerFalsePositives) {
  EXPECT_LT(FalsePositiveRate(20, 10000), 0.002);
  EXPECT_LT(FalsePositiveRate(5, 10000), 0.15);
}

TEST(BloomTest, SmallAndEmptyFilters) {
  EXPECT_LT(FalsePositiveRate(10, 1), 0.05);
  BloomBuilder b(10);
  std::string filter;
  b.Finish(&filter);
  BloomFilter f;
  ASSERT_TRUE(f.Parse(filter));
  EXPECT_FALSE(f.MayContain(BloomHash("x")));
}

TEST(BloomTest, RejectsMalformedAndIgnoresUnknownVersions) {
  std::string filter;
  FalsePositiveRate(10, 100, &filter);
  BloomFilter f;
  EXPECT_FALSE(f.Parse(filter.substr(1)));
  EXPECT_FALSE(f.Parse("abc"));
  std::string future = filter;
  future.back() = 9;  // hash version 9: parse, but never filter anything out
  ASSERT_TRUE(f.Parse(future));
  for (int i = 0; i < 100; i++) EXPECT_TRUE(f.MayContain(BloomHash(Key(i, "absent-"))));
}

}  // namespace
}  // namespace rdb::lsm
