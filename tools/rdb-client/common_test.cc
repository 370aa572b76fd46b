#include "tools/rdb-client/common.h"

#include <gtest/gtest.h>

namespace rdb::cli {
namespace {

TEST(CliFormat, Utf8) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("plain ascii"));
  EXPECT_TRUE(IsUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsUtf8("\xff"));
  EXPECT_FALSE(IsUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(CliFormat, Base64) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64(std::string("\xff\x00", 2)), "/wA=");
}

client::Event MakeEvent(std::string key, std::string payload, client::Kind kind) {
  client::Event e;
  e.key = std::move(key);
  e.seq = 7;
  e.version = 2;
  e.kind = kind;
  e.payload = std::move(payload);
  e.timestamp_ms = 1700000000000;
  return e;
}

TEST(CliFormat, FromBase64InvertsBase64) {
  for (std::string v : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\x00\xff\x80 bytes", 9)}) {
    auto back = FromBase64(Base64(v));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, v);
  }
  EXPECT_FALSE(FromBase64("abc").ok());   // length
  EXPECT_FALSE(FromBase64("ab!d").ok());  // alphabet
  EXPECT_FALSE(FromBase64("a=bc").ok());  // padding only at the end
  EXPECT_FALSE(FromBase64("ab=c").ok());
}

TEST(CliFormat, HumanLine) {
  EXPECT_EQ(EventLine(MakeEvent("Deep", "First write", client::Kind::kPut)),
            "7 Deep v2 PUT First write");
  EXPECT_EQ(EventLine(MakeEvent("Deep", "", client::Kind::kDelete)), "7 Deep v2 DELETE");
  EXPECT_EQ(EventLine(MakeEvent("k", "a\nb", client::Kind::kPut)), "7 k v2 PUT a\\nb");
  std::string longp(100, 'x');
  EXPECT_EQ(ShortPayload(longp), std::string(kShortChars, 'x') + "...");
  EXPECT_EQ(ShortPayload(std::string("\xff\xfe", 2)), "base64://4=");
}

TEST(CliFormat, JsonEvent) {
  client::Event e = MakeEvent("Deep", "hi", client::Kind::kPut);
  e.event_type = "Said";
  EXPECT_EQ(EventJson(e), R"({"seq":7,"key":"Deep","key_encoding":"utf8","version":2,"kind":"PUT",)"
                          R"("event_type":"Said","timestamp_ms":1700000000000,"payload":"hi",)"
                          R"("payload_encoding":"utf8"})");
  client::Event bin =
      MakeEvent(std::string("\xff", 1), std::string("\xff\x01", 2), client::Kind::kDelete);
  std::string j = EventJson(bin);
  EXPECT_NE(j.find(R"("key":"/w==","key_encoding":"base64")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("kind":"DELETE")"), std::string::npos);
  EXPECT_NE(j.find(R"("payload":"/wE=","payload_encoding":"base64")"), std::string::npos);
}

}  // namespace
}  // namespace rdb::cli
