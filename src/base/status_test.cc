#include "base/status.h"

#include <gtest/gtest.h>

namespace rdb {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  RDB_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(Status, CodesAndMessages) {
  EXPECT_TRUE(Status::OK().ok());
  Status s = Status::Corruption("bad crc").Annotate("000001.log");
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "000001.log: bad crc");
  EXPECT_EQ(s.ToString(), "Corruption: 000001.log: bad crc");
  Status p = Status::FailedPrecondition("version").WithActualVersion(7);
  EXPECT_EQ(p.Annotate("ctx").actual_version(), 7u);
}

TEST(Status, ResultPropagates) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_EQ(Quarter(6).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Quarter(4).status().ok());
}

}  // namespace
}  // namespace rdb
