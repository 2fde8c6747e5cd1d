#include "ingest/clickstream_event.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "base/time_format.h"

namespace basin::ingest {
namespace {

constexpr int64_t kNow = 1'795'753'349'000'000;  // 2026-11-27T04:22:29Z

Result<ClickstreamEvent> Parse(std::string_view json) {
  static simdjson::dom::parser parser;
  return ParseClickstreamEvent(parser, json, IngestLimits{}, kNow);
}

// The ingest path's validate-only reading must give the same verdict as the typed reading.
Status Validate(std::string_view json, std::string* key) {
  static simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) {
    return Status(ErrorCode::kMalformedJson, "");
  }
  return ValidateClickstreamEvent(root, IngestLimits{}, kNow, key);
}

TEST(ClickstreamEvent, TypesKnownFieldsAndKeepsTheRest) {
  auto e = Parse(R"({"event_id":"e1","event_type":"purchase","timestamp":1795753349123,
    "user_id":42,"anonymous_id":"a1","session_id":"s1","url":"https://x/p?utm_source=g",
    "page_title":"P","referrer":null,"product_id":"sku-1","items":[{"id":"sku-1","price":9.5}],
    "revenue":"19.99","currency":"EUR","platform":"web","locale":"de-DE",
    "user_attributes":{"tier":"gold"},"coupon":"X10","nested":{"k":[1,2]}})");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->event_id, "e1");
  EXPECT_EQ(e->event_type, "purchase");
  EXPECT_EQ(e->event_time_us, 1'795'753'349'123'000);
  EXPECT_EQ(e->user_id, "42");  // ids sent as numbers are kept as their text
  EXPECT_EQ(e->page_url, "https://x/p?utm_source=g");
  EXPECT_FALSE(e->referrer.has_value());
  EXPECT_EQ(e->items_json, R"([{"id":"sku-1","price":9.5}])");
  EXPECT_DOUBLE_EQ(*e->revenue, 19.99);
  EXPECT_EQ(e->user_attributes_json, R"({"tier":"gold"})");
  EXPECT_EQ(e->attributes_json, R"({"coupon":"X10","nested":{"k":[1,2]}})");
  EXPECT_EQ(ClickstreamPartitionKey(*e), "42");
}

TEST(ClickstreamEvent, ValidateOnlyAgreesAndGivesTheSamePartitionKey) {
  for (std::string_view json :
       {R"({"event_id":"e1","event_type":"t","timestamp":1795753349000,"user_id":42})",
        R"({"event_id":"e2","event_type":"t","timestamp":1795753349000,"anonymous_id":"a"})",
        R"({"event_id":"e3","event_type":"t","timestamp":1795753349000,"session_id":"s",
               "user_id":null})",
        R"({"event_id":"e4","event_type":"t","timestamp":1795753349000})"}) {
    auto e = Parse(json);
    ASSERT_TRUE(e.ok()) << json;
    std::string key;
    ASSERT_TRUE(Validate(json, &key).ok()) << json;
    EXPECT_EQ(key, ClickstreamPartitionKey(*e)) << json;
  }
}

TEST(ClickstreamEvent, TimestampForms) {
  auto iso = Parse(R"({"event_id":"e","event_type":"t","timestamp":"2026-11-27T06:22:29+02:00"})");
  ASSERT_TRUE(iso.ok());
  EXPECT_EQ(iso->event_time_us, kNow);
  auto frac = Parse(R"({"event_id":"e","event_type":"t","timestamp":1795753349000.5})");
  ASSERT_TRUE(frac.ok());
  EXPECT_EQ(frac->event_time_us, kNow + 500);
}

TEST(ClickstreamEvent, PartitionKeyFallsBackToEventId) {
  auto e = Parse(R"({"event_id":"only","event_type":"t","timestamp":1795753349000})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(ClickstreamPartitionKey(*e), "only");
  EXPECT_FALSE(e->attributes_json.has_value());
}

void ExpectRejected(std::string_view json, ErrorCode code, std::string_view mentions) {
  auto e = Parse(json);
  ASSERT_FALSE(e.ok()) << json;
  EXPECT_EQ(e.status().code(), code) << json;
  EXPECT_NE(e.status().message().find(mentions), std::string::npos) << e.status().message();
  std::string key;
  Status v = Validate(json, &key);
  EXPECT_EQ(v.code(), code) << json;
  if (code != ErrorCode::kMalformedJson) {
    EXPECT_EQ(v.message(), e.status().message());
  }
}

TEST(ClickstreamEvent, RejectsWithFieldAndReason) {
  ExpectRejected(R"({"event_type":"t","timestamp":1795753349000})", ErrorCode::kValidationFailed,
                 "event_id");
  ExpectRejected(R"({"event_id":7,"event_type":"t","timestamp":1795753349000})",
                 ErrorCode::kValidationFailed, "event_id");
  ExpectRejected(R"({"event_id":"","event_type":"t","timestamp":1795753349000})",
                 ErrorCode::kValidationFailed, "empty");
  ExpectRejected(R"({"event_id":"e","event_type":["t"],"timestamp":1795753349000})",
                 ErrorCode::kValidationFailed, "event_type");
  ExpectRejected(R"({"event_id":"e","event_type":"t"})", ErrorCode::kValidationFailed, "timestamp");
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":"yesterday"})",
                 ErrorCode::kValidationFailed, "timestamp");
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":12})",
                 ErrorCode::kValidationFailed, "out of range");
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":99999999999999})",
                 ErrorCode::kValidationFailed, "out of range");
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":1795753349000,"items":{}})",
                 ErrorCode::kValidationFailed, "items");
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":1795753349000,"revenue":"lots"})",
                 ErrorCode::kValidationFailed, "revenue");
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":1795753349000,"revenue":1e300})",
                 ErrorCode::kValidationFailed, "revenue");
  ExpectRejected(R"([1,2])", ErrorCode::kValidationFailed, "not a JSON object");
  std::string long_user(300, 'u');
  ExpectRejected(R"({"event_id":"e","event_type":"t","timestamp":1795753349000,"user_id":")" +
                     long_user + R"("})",
                 ErrorCode::kValidationFailed, "user_id");
  ExpectRejected(R"({"event_id":"e",)", ErrorCode::kMalformedJson, "");
  std::string long_id(300, 'x');
  ExpectRejected(R"({"event_id":")" + long_id + R"(","event_type":"t","timestamp":1795753349000})",
                 ErrorCode::kValidationFailed, "longer than");
}

TEST(ClickstreamEvent, ColumnsMatchTheDataModel) {
  const auto& columns = ClickstreamColumns();
  ASSERT_EQ(columns.size(), 23u);
  EXPECT_EQ(columns.front().name, "event_id");
  EXPECT_EQ(columns[2].name, "event_time");
  EXPECT_EQ(columns[2].type, "TIMESTAMP");
  EXPECT_EQ(columns[14].name, "revenue");
  EXPECT_EQ(columns[14].type, "DECIMAL(18,2)");
  EXPECT_EQ(ClickstreamPartitionColumns().size(), 2u);
}

}  // namespace
}  // namespace basin::ingest
