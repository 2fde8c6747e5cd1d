#include "log/stream_meta.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace basin::log {
namespace {

TEST(StreamMeta, RoundTrip) {
  StreamMeta meta;
  meta.options.shard_count = 4;
  meta.options.retention_hours = 168;
  meta.options.retention_bytes = 18446744073709551615ULL;
  meta.created_time_us = 1'700'000'000'123'456;
  const std::string json = meta.ToJson("clicks");
  EXPECT_NE(json.find("\"name\":\"clicks\""), std::string::npos) << json;
  Result<StreamMeta> back = StreamMeta::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->options.shard_count, 4u);
  EXPECT_EQ(back->options.retention_hours, 168);
  EXPECT_EQ(back->options.retention_bytes, 18446744073709551615ULL);
  EXPECT_EQ(back->created_time_us, 1'700'000'000'123'456);
}

TEST(StreamMeta, RejectsDamage) {
  const std::string good = R"({"format_version":1,"name":"s","shard_count":2,"retention_hours":24,)"
                           R"("retention_bytes":0,"created_time_us":5})";
  ASSERT_TRUE(StreamMeta::FromJson(good).ok());
  for (std::string bad : {
           std::string(""),
           std::string("{"),
           std::string("[]"),
           std::string("null"),
           std::string(R"({"format_version":2,"shard_count":2,"retention_hours":24,)"
                       R"("retention_bytes":0,"created_time_us":5})"),
           std::string(R"({"format_version":1,"retention_hours":24,)"
                       R"("retention_bytes":0,"created_time_us":5})"),  // no shard_count
           std::string(R"({"format_version":1,"shard_count":0,"retention_hours":24,)"
                       R"("retention_bytes":0,"created_time_us":5})"),
           std::string(R"({"format_version":1,"shard_count":-2,"retention_hours":24,)"
                       R"("retention_bytes":0,"created_time_us":5})"),
           std::string(R"({"format_version":1,"shard_count":99999999999999999999999,)"
                       R"("retention_hours":24,"retention_bytes":0,"created_time_us":5})"),
           good + "x",
           good.substr(0, good.size() - 1),
       }) {
    EXPECT_FALSE(StreamMeta::FromJson(bad).ok()) << bad;
  }
  // Random damage never crashes (ASan watches this one).
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) s[rng() % s.size()] = static_cast<char>(rng() % 256);
    (void)StreamMeta::FromJson(s);
  }
}

TEST(StreamMeta, NamesAndOptions) {
  for (const char* name : {"a", "A-b_c.d", "..a", "0", "x.y.z"}) {
    EXPECT_TRUE(IsValidStreamName(name)) << name;
  }
  EXPECT_TRUE(IsValidStreamName(std::string(128, 'n')));
  for (const char* name : {"", ".", "..", "a/b", "a b", "ü", "a\\b", "~tmp", "a:b"}) {
    EXPECT_FALSE(IsValidStreamName(name)) << name;
  }
  EXPECT_FALSE(IsValidStreamName(std::string(129, 'n')));
  StreamOptions ok;
  EXPECT_TRUE(ValidateStreamOptions(ok).ok());
  StreamOptions bad = ok;
  bad.shard_count = 0;
  EXPECT_EQ(ValidateStreamOptions(bad).code(), ErrorCode::kInvalidArgument);
  bad.shard_count = 1025;
  EXPECT_EQ(ValidateStreamOptions(bad).code(), ErrorCode::kInvalidArgument);
  bad = ok;
  bad.retention_hours = 0;
  EXPECT_EQ(ValidateStreamOptions(bad).code(), ErrorCode::kInvalidArgument);
  bad.retention_hours = 8761;
  EXPECT_EQ(ValidateStreamOptions(bad).code(), ErrorCode::kInvalidArgument);
  ok.shard_count = 1024;
  ok.retention_hours = 8760;
  EXPECT_TRUE(ValidateStreamOptions(ok).ok());
}

}  // namespace
}  // namespace basin::log
