#include <gtest/gtest.h>

#include <string>

#include "base/base64.h"
#include "base/crc32c.h"
#include "base/gzip.h"
#include "base/hash.h"
#include "base/json_writer.h"
#include "base/status.h"
#include "base/time_format.h"
#include "base/utf8.h"

namespace basin {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string s = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t a = Crc32cExtend(Crc32c(s.data(), cut), s.data() + cut, s.size() - cut);
    EXPECT_EQ(a, Crc32c(s));
  }
}

TEST(Hash, Md5AndSha256) {
  EXPECT_EQ(HexEncode(Md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Status, CodesAndContext) {
  Status s = Error(ErrorCode::kStreamNotFound, "no stream 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "StreamNotFound: no stream 'x'");
  EXPECT_EQ(s.WithContext("ingest").message(), "ingest: no stream 'x'");
  Result<int> r = 5;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  Result<int> e = Error(ErrorCode::kIoError, "x");
  EXPECT_EQ(e.status().code(), ErrorCode::kIoError);
}

TEST(TimeFormat, ParsesIsoForms) {
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIso8601("2026-11-27T04:22:29.5Z"), 1795753349500000);
  EXPECT_EQ(ParseIso8601("2026-11-27T06:22:29+02:00"), 1795753349000000);
  EXPECT_EQ(ParseIso8601("2026-11-27 04:22:29"), 1795753349000000);
  EXPECT_EQ(ParseIso8601("2026-11-27"), 1795737600000000);
  EXPECT_FALSE(ParseIso8601("2026-02-30T00:00:00Z"));
  EXPECT_FALSE(ParseIso8601("2026-11-27T25:00:00Z"));
  EXPECT_FALSE(ParseIso8601("yesterday"));
  EXPECT_FALSE(ParseIso8601("2026-11-27T04:22:29Zjunk"));
  EXPECT_FALSE(ParseIso8601(""));
}

TEST(TimeFormat, RoundTripsCivil) {
  for (int64_t t : {0LL, 1795753349123456LL, 951782400000000LL /* 2000-02-29 */, -1LL}) {
    auto parsed = ParseIso8601(FormatIso8601Millis(t));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, t - ((t % 1000 + 1000) % 1000));
  }
  EXPECT_EQ(FormatDate(951782400000000LL), "2000-02-29");
  EXPECT_EQ(FormatTimestamp(1795753349000000), "2026-11-27 04:22:29");
}

TEST(JsonWriter, EscapesAndReplacesInvalidUtf8) {
  JsonWriter w;
  w.BeginObject().Key("a\"b").String("x\n\x01\xff").Key("n").Int(-3).Key("l").BeginArray();
  w.Bool(true).Null().Double(1.5).EndArray().EndObject();
  EXPECT_EQ(w.str(), "{\"a\\\"b\":\"x\\n\\u0001\xEF\xBF\xBD\",\"n\":-3,\"l\":[true,null,1.5]}");
}

TEST(JsonWriter, PlainRunsBetweenEscapesKeepEveryByte) {
  std::string out;
  AppendJsonString(out, "plain text\tthen \xC3\xA9t\xC3\xA9 and \\ end\"");
  EXPECT_EQ(out, "\"plain text\\tthen \xC3\xA9t\xC3\xA9 and \\\\ end\\\"\"");
  out.clear();
  AppendJsonString(out, "");
  EXPECT_EQ(out, "\"\"");
  out.clear();
  AppendJsonString(out, std::string(1000, 'x') + "\x7f\x1f");
  EXPECT_EQ(out, "\"" + std::string(1000, 'x') + "\x7f\\u001f\"");
}

TEST(Utf8, EncodesEachLengthAtItsBoundaries) {
  std::string out;
  for (uint32_t cp : {0x00u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    AppendUtf8(out, cp);
  }
  EXPECT_EQ(out, std::string("\x00\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF"
                             "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
                             20));
}

TEST(Gzip, RoundTripAndLimits) {
  std::string data(100000, 'a');
  auto gz = Gzip(data);
  auto back = GunzipLimited(gz, 1 << 20);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  auto bomb = GunzipLimited(gz, 1000);
  EXPECT_EQ(bomb.status().code(), ErrorCode::kDecompressedTooLarge);
  auto bad = GunzipLimited("not gzip at all", 1000);
  EXPECT_EQ(bad.status().code(), ErrorCode::kMalformedBody);
  auto truncated = GunzipLimited(std::string_view(gz).substr(0, gz.size() / 2), 1 << 20);
  EXPECT_EQ(truncated.status().code(), ErrorCode::kMalformedBody);
}

}  // namespace
}  // namespace basin

namespace basin {
namespace {

TEST(Base64, RoundTripsEveryLength) {
  std::string data;
  for (int n = 0; n < 40; ++n) {
    auto decoded = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(decoded.has_value()) << n;
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<char>(n * 37 + 200));
  }
  EXPECT_EQ(Base64Encode("Man"), "TWFu");
  EXPECT_EQ(Base64Encode("Ma"), "TWE=");
  EXPECT_EQ(Base64Encode("M"), "TQ==");
}

TEST(Base64, PaddingRulesAndGarbage) {
  EXPECT_EQ(Base64Decode("TWE="), "Ma");
  EXPECT_FALSE(Base64Decode("TWE"));  // padding required by default
  EXPECT_EQ(Base64Decode("TWE", Base64Padding::kOptional), "Ma");
  EXPECT_EQ(Base64Decode("TQ", Base64Padding::kOptional), "M");
  EXPECT_FALSE(Base64Decode("T", Base64Padding::kOptional));
  EXPECT_FALSE(Base64Decode("T==="));
  EXPECT_FALSE(Base64Decode("TW=E"));
  EXPECT_FALSE(Base64Decode("TW E"));
  EXPECT_FALSE(Base64Decode("TWE*"));
  EXPECT_EQ(Base64Decode(""), "");
  EXPECT_FALSE(
      Base64Decode("TW\xff"
                   "E"));  // bytes above 127 are not in the alphabet either
  EXPECT_FALSE(Base64Decode("TWFuTW\x80u"));
}

TEST(Base64, EveryByteValueInEveryPositionRoundTrips) {
  std::string data;
  for (int i = 0; i < 256 * 3; ++i) data.push_back(static_cast<char>(i * 7 % 256));
  for (size_t cut = 0; cut < 3; ++cut) {
    const std::string part = data.substr(cut);
    EXPECT_EQ(Base64Decode(Base64Encode(part)), part) << cut;
  }
}

}  // namespace
}  // namespace basin
