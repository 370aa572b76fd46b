#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace rdb::crc32c {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(Value(ones), 0x62a8ab43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; i++) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Value(inc), 0x46dd794eu);
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string s = "hello world, this is a longer string to cross the 8-byte stride";
  for (size_t cut = 0; cut <= s.size(); cut++) {
    EXPECT_EQ(Extend(Value(s.data(), cut), s.data() + cut, s.size() - cut), Value(s));
  }
}

TEST(Crc32c, MaskRoundTripsAndDiffers) {
  uint32_t crc = Value("foo");
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::string s(100, 'x');
  uint32_t base = Value(s);
  for (size_t i = 0; i < s.size() * 8; i++) {
    std::string t = s;
    t[i / 8] = static_cast<char>(t[i / 8] ^ (1 << (i % 8)));
    EXPECT_NE(Value(t), base) << i;
  }
}

}  // namespace
}  // namespace rdb::crc32c
