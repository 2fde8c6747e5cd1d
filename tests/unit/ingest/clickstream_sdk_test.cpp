#include "ingest/clickstream_sdk.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "base/base64.h"
#include "base/gzip.h"
#include "ingest/clickstream_event.h"
#include "ingest/event_body.h"

namespace basin::ingest {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kNowUs = 1'719'000'100'000'000;  // shortly after the events below

// An `add_to_cart` event as @aws/clickstream-web 0.12.6 builds it (AnalyticsEventBuilder), with
// a custom attribute named like a native column ("revenue") and one like an SDK field
// ("host_name").
constexpr std::string_view kAddToCart = R"({
  "event_type": "add_to_cart",
  "event_id": "1fcd7f5b-9529-4977-a303-e8c7e39db7b7",
  "device_id": "be4a3d0a-5d1c-4f44-9a3c-5b1f0c6e7d21",
  "unique_id": "c84ad28d-16a8-4af4-a331-f34cdc7a7a18",
  "app_id": "shopApp",
  "timestamp": 1719000000123,
  "host_name": "shop.example.com",
  "locale": "en-US",
  "system_language": "en",
  "country_code": "US",
  "zone_offset": 7200000,
  "make": "Gecko",
  "platform": "Web",
  "screen_height": 1080,
  "screen_width": 1920,
  "viewport_height": 900,
  "viewport_width": 1600,
  "sdk_name": "aws-solution-clickstream-sdk",
  "sdk_version": "0.12.6",
  "items": [
    {"id": "sku-42", "name": "Trail boots", "price": 59.9, "quantity": 1, "currency": "EUR",
     "category": "shoes"},
    {"id": "sku-7", "name": "Socks", "price": 4.5, "quantity": 2}
  ],
  "user": {
    "_user_id": {"value": "u-1001", "set_timestamp": 1718999000000},
    "_user_first_touch_timestamp": {"value": 1718000000000, "set_timestamp": 1718000000000}
  },
  "attributes": {
    "_session_id": "dc7a7a18-20240621-195959123",
    "_session_start_timestamp": 1718999999123,
    "_session_duration": 1000,
    "_session_number": 3,
    "_page_title": "Trail boots | Shop",
    "_page_url": "https://shop.example.com/p/sku-42",
    "_latest_referrer": "https://www.google.com/",
    "_latest_referrer_host": "www.google.com",
    "_value": 68.9,
    "_currency": "EUR",
    "coupon": "SPRING",
    "revenue": "not a column",
    "host_name": "attribute, not the field"
  }
})";

ClickstreamSdkParams Params(std::string_view hash_code = {}) {
  ClickstreamSdkParams params;
  params.app_id = "shopApp";
  params.platform = "Web";
  params.hash_code = hash_code;
  params.event_bundle_sequence_id = "7";
  params.upload_timestamp = "1719000000500";
  return params;
}

// The native events of a batch, typed by the native schema (what the loader will store).
std::vector<ClickstreamEvent> NativeEvents(const ClickstreamSdkBatch& batch) {
  dom::parser parser;
  dom::element root = parser.parse(batch.native_body);
  std::vector<ClickstreamEvent> events;
  for (dom::element e : root.get_array()) {
    auto event = ClickstreamEventFromJson(e, IngestLimits{}, kNowUs);
    EXPECT_TRUE(event.ok()) << event.status().ToString();
    if (event.ok()) events.push_back(std::move(event).value());
  }
  return events;
}

// A JSON object's members as a parsed document (owns its parser).
struct Object {
  dom::parser parser;
  dom::object object;
  explicit Object(const std::string& json) { object = parser.parse(json).get_object(); }
  bool Has(std::string_view key) { return !object[key].error(); }
  std::string Text(std::string_view key) { return simdjson::minify(object[key].value()); }
};

TEST(ClickstreamSdkTest, MapsAWebSdkEventOntoTheNativeColumns) {
  const std::string body = "[" + std::string(kAddToCart) + "]";
  auto batch = MapClickstreamSdkEvents(body, Params(), IngestLimits{});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->sdk_events, 1u);
  EXPECT_TRUE(batch->rejected.empty());
  ASSERT_EQ(batch->sdk_index, std::vector<size_t>{0});
  auto events = NativeEvents(*batch);
  ASSERT_EQ(events.size(), 1u);
  const ClickstreamEvent& e = events[0];
  EXPECT_EQ(e.event_id, "1fcd7f5b-9529-4977-a303-e8c7e39db7b7");
  EXPECT_EQ(e.event_type, "add_to_cart");
  EXPECT_EQ(e.event_time_us, 1'719'000'000'123'000);
  EXPECT_EQ(e.app_id, "shopApp");
  EXPECT_EQ(e.user_id, "u-1001");
  EXPECT_EQ(e.anonymous_id, "c84ad28d-16a8-4af4-a331-f34cdc7a7a18");
  EXPECT_EQ(e.device_id, "be4a3d0a-5d1c-4f44-9a3c-5b1f0c6e7d21");
  EXPECT_EQ(e.session_id, "dc7a7a18-20240621-195959123");
  EXPECT_EQ(e.page_url, "https://shop.example.com/p/sku-42");
  EXPECT_EQ(e.page_title, "Trail boots | Shop");
  EXPECT_EQ(e.referrer, "https://www.google.com/");
  EXPECT_EQ(e.product_id, "sku-42");
  ASSERT_TRUE(e.revenue.has_value());
  EXPECT_DOUBLE_EQ(*e.revenue, 68.9);
  EXPECT_EQ(e.currency, "EUR");
  EXPECT_EQ(e.platform, "Web");
  EXPECT_EQ(e.locale, "en-US");
  ASSERT_TRUE(e.items_json.has_value());
  EXPECT_NE(e.items_json->find(R"("id":"sku-7")"), std::string::npos) << *e.items_json;
  ASSERT_TRUE(e.user_attributes_json.has_value());
  Object user(*e.user_attributes_json);
  EXPECT_EQ(user.Text("_user_id"), R"({"value":"u-1001","set_timestamp":1718999000000})");
  EXPECT_TRUE(user.Has("_user_first_touch_timestamp"));

  ASSERT_TRUE(e.attributes_json.has_value());
  Object attributes(*e.attributes_json);
  // SDK fields without a column, and attributes without one, side by side.
  EXPECT_EQ(attributes.Text("host_name"), R"("shop.example.com")");
  EXPECT_EQ(attributes.Text("zone_offset"), "7200000");
  EXPECT_EQ(attributes.Text("sdk_version"), R"("0.12.6")");
  EXPECT_EQ(attributes.Text("screen_width"), "1920");
  EXPECT_EQ(attributes.Text("_session_number"), "3");
  EXPECT_EQ(attributes.Text("_latest_referrer_host"), R"("www.google.com")");
  EXPECT_EQ(attributes.Text("coupon"), R"("SPRING")");
  // The request's parameters, as numbers.
  EXPECT_EQ(attributes.Text("event_bundle_sequence_id"), "7");
  EXPECT_EQ(attributes.Text("upload_timestamp"), "1719000000500");
  // Names taken by a column or by an SDK field are qualified, never merged or lost.
  EXPECT_EQ(attributes.Text("attributes.revenue"), R"("not a column")");
  EXPECT_EQ(attributes.Text("attributes.host_name"), R"("attribute, not the field")");
  // What became a column is not repeated.
  for (std::string_view mapped :
       {"_session_id", "_page_url", "_page_title", "_latest_referrer", "_value", "_currency",
        "unique_id", "user", "attributes", "revenue"}) {
    EXPECT_FALSE(attributes.Has(mapped)) << mapped;
  }
}

TEST(ClickstreamSdkTest, FillsAppIdAndPlatformFromTheRequestAndLeavesAnonymousUsersNull) {
  // A `_page_view` before setUserId: no `_user_id`, no items, no app_id or platform field.
  const std::string body =
      R"([{"event_type":"_page_view","event_id":"e-1","timestamp":1719000000000,
    "unique_id":"anon-1","user":{"_user_first_touch_timestamp":{"value":1,"set_timestamp":1}},
    "attributes":{"_page_url":"https://shop.example.com/","_entrances":1}}])";
  ClickstreamSdkParams params = Params();
  params.platform = "Android";
  auto batch = MapClickstreamSdkEvents(body, params, IngestLimits{});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  auto events = NativeEvents(*batch);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "_page_view");
  EXPECT_EQ(events[0].app_id, "shopApp");
  EXPECT_EQ(events[0].platform, "Android");
  EXPECT_FALSE(events[0].user_id.has_value());
  EXPECT_FALSE(events[0].product_id.has_value());
  EXPECT_FALSE(events[0].items_json.has_value());
  EXPECT_FALSE(events[0].revenue.has_value());
  EXPECT_EQ(events[0].anonymous_id, "anon-1");
  EXPECT_EQ(events[0].page_url, "https://shop.example.com/");
}

TEST(ClickstreamSdkTest, RejectsEventsItCannotMapWithTheirIndexAndKeepsTheRest) {
  const std::string body = R"([
    {"event_type":"a","event_id":"ok-0","timestamp":1719000000000},
    {"event_type":"b","event_id":"x-1","timestamp":1719000000000,"app_id":"otherApp"},
    "not an object",
    {"event_type":"c","event_id":"x-3","timestamp":1719000000000,"attributes":[1]},
    {"event_type":"d","event_id":"x-4","timestamp":1719000000000,"items":{"id":"sku"}},
    {"event_type":"e","event_id":"x-5","timestamp":1719000000000,"user":"u-1"},
    {"event_type":"f","event_id":"ok-6","timestamp":1719000000000,"app_id":"shopApp"},
    {"event_type":"g","event_id":"x-7","timestamp":1719000000000,"attributes":{"_value":"12"}}
  ])";
  auto batch = MapClickstreamSdkEvents(body, Params(), IngestLimits{});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->sdk_events, 8u);
  EXPECT_EQ(batch->sdk_index, (std::vector<size_t>{0, 6}));
  ASSERT_EQ(batch->rejected.size(), 6u);
  const std::vector<std::pair<size_t, std::string>> expected = {
      {1, "does not match the request's appId"}, {2, "not a JSON object"},
      {3, "'attributes' must be an object"},     {4, "'items' must be an array"},
      {5, "'user' must be an object"},           {7, "'_value' must be a number"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(batch->rejected[i].index, expected[i].first);
    EXPECT_EQ(batch->rejected[i].code, ErrorCode::kValidationFailed);
    EXPECT_NE(batch->rejected[i].reason.find(expected[i].second), std::string::npos)
        << batch->rejected[i].reason;
  }
  auto events = NativeEvents(*batch);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_id, "ok-0");
  EXPECT_EQ(events[1].event_id, "ok-6");
}

TEST(ClickstreamSdkTest, ToSdkIndexesMergesIngestRejectionsInRequestOrder) {
  ClickstreamSdkBatch batch;
  batch.sdk_index = {0, 2, 5};
  batch.rejected = {{1, ErrorCode::kValidationFailed, "mapping"},
                    {4, ErrorCode::kValidationFailed, "mapping"}};
  IngestResult result;
  result.accepted = 1;
  result.rejected = {{1, ErrorCode::kValidationFailed, "native"},
                     {2, ErrorCode::kRecordTooLarge, "native"}};
  ToSdkIndexes(batch, &result);
  ASSERT_EQ(result.rejected.size(), 4u);
  EXPECT_EQ(result.rejected[0].index, 1u);
  EXPECT_EQ(result.rejected[0].reason, "mapping");
  EXPECT_EQ(result.rejected[1].index, 2u);
  EXPECT_EQ(result.rejected[1].reason, "native");
  EXPECT_EQ(result.rejected[2].index, 4u);
  EXPECT_EQ(result.rejected[3].index, 5u);
  EXPECT_EQ(result.rejected[3].code, ErrorCode::kRecordTooLarge);
}

TEST(ClickstreamSdkTest, HashCodeIsTheFirstEightHexDigitsOfSha256) {
  // sha256("") = e3b0c442..., sha256("[]") = 4f53cda1...
  EXPECT_EQ(ClickstreamSdkHashCode(""), "e3b0c442");
  EXPECT_EQ(ClickstreamSdkHashCode("[]"), "4f53cda1");
  EXPECT_EQ(ClickstreamSdkHashCode(R"([{"a":1}])"), "b713f6d2");
  EXPECT_TRUE(VerifyClickstreamSdkHash("[]", "4f53cda1").ok());
  EXPECT_TRUE(VerifyClickstreamSdkHash("[]", "4F53CDA1").ok());
  EXPECT_TRUE(VerifyClickstreamSdkHash("[]", "").ok());  // not sent: not checked
  for (std::string_view wrong : {"4f53cda2", "4f53cda", "4f53cda1a", "zzzzzzzz"}) {
    Status s = VerifyClickstreamSdkHash("[]", wrong);
    EXPECT_EQ(s.code(), ErrorCode::kValidationFailed) << wrong;
    EXPECT_NE(s.message().find("hashCode mismatch"), std::string::npos) << s.message();
  }
}

TEST(ClickstreamSdkTest, ConvertChecksTheHashOverTheBodyAsSent) {
  const std::string body = "[" + std::string(kAddToCart) + "]";
  auto ok = ConvertClickstreamSdkRequest(body, Params(ClickstreamSdkHashCode(body)),
                                         ClickstreamSdkLimits{}, IngestLimits{});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->sdk_index.size(), 1u);
  // One byte changed after hashing.
  std::string tampered = body;
  tampered[tampered.find("add_to_cart")] = 'A';
  auto bad = ConvertClickstreamSdkRequest(tampered, Params(ClickstreamSdkHashCode(body)),
                                          ClickstreamSdkLimits{}, IngestLimits{});
  EXPECT_EQ(bad.status().code(), ErrorCode::kValidationFailed);
}

TEST(ClickstreamSdkTest, DecodesTheMobileBase64GzipVariant) {
  const std::string json = "[" + std::string(kAddToCart) + "]";
  const std::string body = Base64Encode(Gzip(json));
  // Told by compression=gzip, and recognised without it (the body does not start with '[').
  const std::string hash = ClickstreamSdkHashCode(body);  // Params keeps a view of it
  for (std::string_view compression : {"gzip", ""}) {
    ClickstreamSdkParams params = Params(hash);
    params.compression = compression;
    auto batch = ConvertClickstreamSdkRequest(body, params, ClickstreamSdkLimits{}, IngestLimits{});
    ASSERT_TRUE(batch.ok()) << compression << ": " << batch.status().ToString();
    auto events = NativeEvents(*batch);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].user_id, "u-1001");
    EXPECT_EQ(events[0].product_id, "sku-42");
  }
  // The hash is over the base64 text, not the JSON.
  auto wrong_hash = ConvertClickstreamSdkRequest(body, Params(ClickstreamSdkHashCode(json)),
                                                 ClickstreamSdkLimits{}, IngestLimits{});
  EXPECT_EQ(wrong_hash.status().code(), ErrorCode::kValidationFailed);
  // Plain JSON with leading whitespace is still plain JSON.
  auto spaced = DecodeClickstreamSdkBody("\n  []", "", ClickstreamSdkLimits{});
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(*spaced, "\n  []");
}

TEST(ClickstreamSdkTest, GarbageBodiesFailAsAWholeWithTypedErrors) {
  const ClickstreamSdkLimits limits;
  auto convert = [&](std::string_view body, std::string_view compression = {}) {
    ClickstreamSdkParams params = Params();
    params.compression = compression;
    return ConvertClickstreamSdkRequest(body, params, limits, IngestLimits{}).status().code();
  };
  EXPECT_EQ(convert(""), ErrorCode::kEmptyInput);
  EXPECT_EQ(convert("[{\"event_id\":"), ErrorCode::kMalformedJson);
  EXPECT_EQ(convert("{]"), ErrorCode::kMalformedJson);
  EXPECT_EQ(convert("hello world"), ErrorCode::kMalformedBody);  // not base64
  EXPECT_EQ(convert(Base64Encode("not gzip at all")), ErrorCode::kMalformedBody);
  EXPECT_EQ(convert("[]", "gzip"), ErrorCode::kMalformedBody);  // said gzip, was not
  const std::string truncated_gzip = Gzip("[{\"event_id\":\"x\"}]");
  EXPECT_EQ(convert(Base64Encode(truncated_gzip.substr(0, truncated_gzip.size() / 2))),
            ErrorCode::kMalformedBody);
  // Valid JSON that is not JSON events after gunzip.
  EXPECT_EQ(convert(Base64Encode(Gzip("garbage"))), ErrorCode::kMalformedJson);
  // An empty array is a valid, empty request.
  auto empty = ConvertClickstreamSdkRequest("[]", Params(), limits, IngestLimits{});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->sdk_events, 0u);
  EXPECT_EQ(empty->native_body, "[]");
}

TEST(ClickstreamSdkTest, EnforcesBodyDecompressedCountAndDepthLimits) {
  ClickstreamSdkLimits limits;
  limits.max_body_bytes = 1000;
  limits.max_decompressed_bytes = 10'000;
  const std::string big(1001, ' ');
  EXPECT_EQ(ConvertClickstreamSdkRequest("[" + big + "]", Params(), limits, IngestLimits{})
                .status()
                .code(),
            ErrorCode::kPayloadTooLarge);
  // A small body that inflates past the limit (a "zip bomb").
  const std::string bomb = Base64Encode(Gzip("[" + std::string(50'000, ' ') + "]"));
  ASSERT_LE(bomb.size(), limits.max_body_bytes);
  EXPECT_EQ(ConvertClickstreamSdkRequest(bomb, Params(), limits, IngestLimits{}).status().code(),
            ErrorCode::kDecompressedTooLarge);

  IngestLimits ingest_limits;
  ingest_limits.max_records_per_request = 3;
  ingest_limits.max_nesting_depth = 4;
  const std::string event = R"({"event_type":"a","event_id":"x","timestamp":1719000000000})";
  EXPECT_TRUE(MapClickstreamSdkEvents("[" + event + "," + event + "," + event + "]", Params(),
                                      ingest_limits)
                  .ok());
  EXPECT_EQ(MapClickstreamSdkEvents("[" + event + "," + event + "," + event + "," + event + "]",
                                    Params(), ingest_limits)
                .status()
                .code(),
            ErrorCode::kPayloadTooLarge);
  // The same depth limit as the native body parser (VisitEvents): the shallower body passes
  // both, the deeper one fails both.
  const std::string shallow = R"([{"attributes":{"a":[1]}}])";
  const std::string deep = R"([{"attributes":{"a":[[[[1]]]]}}])";
  auto native_verdict = [&](const std::string& body) {
    Status event_error = Status::Ok();
    Status s = VisitEvents(body, false, ingest_limits,
                           [&](size_t, const dom::element*, std::string_view, const Status& e) {
                             if (!e.ok()) event_error = e;
                           });
    return s.ok() ? event_error.code() : s.code();
  };
  EXPECT_TRUE(MapClickstreamSdkEvents(shallow, Params(), ingest_limits).ok());
  EXPECT_EQ(native_verdict(shallow), ErrorCode::kOk);
  EXPECT_EQ(MapClickstreamSdkEvents(deep, Params(), ingest_limits).status().code(),
            ErrorCode::kMalformedJson);
  EXPECT_EQ(native_verdict(deep), ErrorCode::kMalformedJson);
}

}  // namespace
}  // namespace basin::ingest
