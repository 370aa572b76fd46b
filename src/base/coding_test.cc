#include "base/coding.h"

#include <gtest/gtest.h>

#include <limits>

namespace rdb {
namespace {

TEST(Coding, FixedRoundTrip) {
  std::string s;
  PutFixed32(&s, 0xdeadbeef);
  PutFixed64(&s, 0x0123456789abcdefULL);
  ASSERT_EQ(s.size(), 12u);
  EXPECT_EQ(static_cast<unsigned char>(s[0]), 0xef);  // little-endian on disk
  std::string_view in = s;
  uint32_t a;
  uint64_t b;
  ASSERT_TRUE(GetFixed32(&in, &a));
  ASSERT_TRUE(GetFixed64(&in, &b));
  EXPECT_EQ(a, 0xdeadbeefu);
  EXPECT_EQ(b, 0x0123456789abcdefULL);
  EXPECT_TRUE(in.empty());
  EXPECT_FALSE(GetFixed32(&in, &a));
}

TEST(Coding, BigEndianSortsNumerically) {
  std::string a, b;
  PutBigEndian64(&a, 255);
  PutBigEndian64(&b, 256);
  EXPECT_LT(a, b);
  std::string_view in = b;
  uint64_t v;
  ASSERT_TRUE(GetBigEndian64(&in, &v));
  EXPECT_EQ(v, 256u);
}

TEST(Coding, VarintRoundTripAtBoundaries) {
  std::vector<uint64_t> values = {0,
                                  1,
                                  127,
                                  128,
                                  16383,
                                  16384,
                                  (1ULL << 32) - 1,
                                  1ULL << 32,
                                  (1ULL << 53) - 1,
                                  std::numeric_limits<uint64_t>::max()};
  std::string s;
  for (uint64_t v : values) PutVarint64(&s, v);
  std::string_view in = s;
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(GetVarint64(&in, &got));
    EXPECT_EQ(got, v);
    EXPECT_EQ(VarintLength(v), [&] {
      std::string t;
      PutVarint64(&t, v);
      return static_cast<int>(t.size());
    }());
  }
  EXPECT_TRUE(in.empty());
}

TEST(Coding, TruncatedAndOverlongVarintsAreRejected) {
  std::string s;
  PutVarint64(&s, 1ULL << 40);
  for (size_t cut = 0; cut < s.size(); cut++) {
    std::string_view in(s.data(), cut);
    uint64_t v;
    EXPECT_FALSE(GetVarint64(&in, &v)) << cut;
  }
  std::string overlong(11, '\xff');
  std::string_view in = overlong;
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&in, &v));
  std::string big;
  PutVarint64(&big, 1ULL << 33);
  in = big;
  uint32_t v32;
  EXPECT_FALSE(GetVarint32(&in, &v32));
}

TEST(Coding, LengthPrefixed) {
  std::string s;
  PutLengthPrefixed(&s, "hello");
  PutLengthPrefixed(&s, "");
  std::string_view in = s, out;
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, "");
  std::string bad;
  PutVarint64(&bad, 10);
  bad += "abc";
  in = bad;
  EXPECT_FALSE(GetLengthPrefixed(&in, &out));
}

}  // namespace
}  // namespace rdb
