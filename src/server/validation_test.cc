#include "server/validation.h"

#include <gtest/gtest.h>

namespace rdb::server {
namespace {

namespace pb = ::rdeebee::v1;

pb::AppendRequest OneEvent(std::string key, size_t payload_bytes) {
  pb::AppendRequest r;
  r.set_key(std::move(key));
  r.add_events()->set_payload(std::string(payload_bytes, 'x'));
  return r;
}

TEST(Validation, Keys) {
  EXPECT_TRUE(ValidateRequestKey("a").ok());
  EXPECT_TRUE(ValidateRequestKey(std::string(1024, 'k')).ok());
  Status empty = ValidateRequestKey("");
  EXPECT_EQ(empty.code(), Code::kInvalidArgument);
  Status big = ValidateRequestKey(std::string(2048, 'k'));
  EXPECT_EQ(big.code(), Code::kInvalidArgument);
  EXPECT_NE(big.message().find("key_bytes_max"), std::string::npos);
  EXPECT_EQ(ValidateRequestKey("$group").code(), Code::kInvalidArgument);
}

TEST(Validation, PayloadOverTheLimitNamesIt) {
  EXPECT_TRUE(ValidateAppend(OneEvent("k", 100), 100).ok());
  Status s = ValidateAppend(OneEvent("k", 101), 100);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("payload_bytes_max"), std::string::npos) << s.message();
}

TEST(Validation, Batches) {
  pb::AppendRequest none;
  none.set_key("k");
  EXPECT_EQ(ValidateAppend(none, 100).code(), Code::kInvalidArgument);
  pb::AppendRequest many;
  many.set_key("k");
  for (int i = 0; i < 1001; i++) many.add_events();
  Status s = ValidateAppend(many, 100);
  EXPECT_NE(s.message().find("batch_events_max"), std::string::npos) << s.message();
  pb::AppendRequest big;
  big.set_key("k");
  for (int i = 0; i < 5; i++) big.add_events()->set_payload(std::string(4u << 20, 'x'));
  s = ValidateAppend(big, 4u << 20);
  EXPECT_NE(s.message().find("batch_bytes_max"), std::string::npos) << s.message();
  pb::AppendRequest typed = OneEvent("k", 1);
  typed.mutable_events(0)->set_event_type(std::string(129, 't'));
  EXPECT_NE(ValidateAppend(typed, 100).message().find("event_type_bytes_max"), std::string::npos);
  pb::AppendRequest id = OneEvent("k", 1);
  id.set_idempotency_id(std::string(129, 'i'));
  EXPECT_NE(ValidateAppend(id, 100).message().find("idempotency_id_bytes_max"), std::string::npos);
}

TEST(Validation, ExpectedVersion) {
  pb::ExpectedVersion e;
  EXPECT_EQ(ConvertExpected(e, false).value().kind, ExpectedVersion::Kind::kAny);
  EXPECT_EQ(ConvertExpected(e, true).value().kind, ExpectedVersion::Kind::kAny);
  e.set_kind(pb::EXPECTED_VERSION_KIND_NO_STREAM);
  EXPECT_EQ(ConvertExpected(e, true).value().kind, ExpectedVersion::Kind::kNoStream);
  e.set_kind(pb::EXPECTED_VERSION_KIND_EXACT);
  EXPECT_FALSE(ConvertExpected(e, true).ok());  // version 0
  e.set_version(4);
  EXPECT_EQ(ConvertExpected(e, true).value().version, 4u);
  e.set_kind(static_cast<pb::ExpectedVersionKind>(42));
  auto bad = ConvertExpected(e, true);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown expected_version.kind 42"), std::string::npos);
}

TEST(Validation, ReadLimit) {
  EXPECT_EQ(ConvertReadLimit(0).value(), kReadLimitDefault);
  EXPECT_EQ(ConvertReadLimit(10000).value(), 10000u);
  EXPECT_NE(ConvertReadLimit(10001).status().message().find("read_limit_max"), std::string::npos);
}

}  // namespace
}  // namespace rdb::server
