#include "ingest/event_body.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

namespace basin::ingest {
namespace {

struct Seen {
  size_t index;
  std::string json;  // empty when rejected
  ErrorCode code;
};

Result<std::vector<Seen>> Visit(std::string_view body, bool ndjson = false,
                                IngestLimits limits = {}) {
  std::vector<Seen> seen;
  Status s = VisitEvents(
      body, ndjson, limits,
      [&](size_t i, const simdjson::dom::element* e, std::string_view json, const Status& error) {
        EXPECT_EQ(e != nullptr, error.ok());
        seen.push_back({i, std::string(json), error.code()});
      });
  if (!s.ok()) return s;
  return seen;
}

TEST(EventBody, SingleObjectKeepsOriginalText) {
  auto r = Visit("  {\"event_id\": \"a\" , \"n\":1}\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].json, "{\"event_id\": \"a\" , \"n\":1}");
}

TEST(EventBody, ArrayOfObjectsAndNonObjects) {
  auto r = Visit("[{\"a\":1}, 5, {\"b\":[1,2]}, \"x\", [1]]");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0].json, "{\"a\":1}");
  EXPECT_EQ((*r)[1].code, ErrorCode::kValidationFailed);
  EXPECT_EQ((*r)[2].json, "{\"b\":[1,2]}");
  EXPECT_EQ((*r)[3].code, ErrorCode::kValidationFailed);
  EXPECT_EQ((*r)[4].code, ErrorCode::kValidationFailed);
  EXPECT_EQ((*r)[4].index, 4u);
}

TEST(EventBody, ArrayElementsKeepTheBytesTheClientSent) {
  auto r = Visit(R"([ {"a": "x],\"}{" } ,{"b":[1,{"c":2}], "d":"\\"},
    {"e" : 1.50}])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].json, R"({"a": "x],\"}{" })");
  EXPECT_EQ((*r)[1].json, R"({"b":[1,{"c":2}], "d":"\\"})");
  EXPECT_EQ((*r)[2].json, R"({"e" : 1.50})");
}

TEST(EventBody, NdjsonByContentTypeReportsBadLinesOnTheirOwn) {
  auto r = Visit("{\"a\":1}\n\n{\"a\":\n[]\n{\"b\":2}\r\n", true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].json, "{\"a\":1}");
  EXPECT_EQ((*r)[1].code, ErrorCode::kMalformedJson);
  EXPECT_EQ((*r)[2].code, ErrorCode::kValidationFailed);
  EXPECT_EQ((*r)[3].json, "{\"b\":2}");
}

TEST(EventBody, NdjsonDetectedWithoutContentType) {
  auto r = Visit("{\"a\":1}\n{\"a\":2}\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].json, "{\"a\":2}");
}

TEST(EventBody, WholeRequestErrors) {
  EXPECT_EQ(Visit("").status().code(), ErrorCode::kMalformedBody);
  EXPECT_EQ(Visit("   \n ").status().code(), ErrorCode::kMalformedBody);
  EXPECT_EQ(Visit("[]").status().code(), ErrorCode::kMalformedBody);
  EXPECT_EQ(Visit("{\"a\":").status().code(), ErrorCode::kMalformedJson);
  EXPECT_EQ(Visit("[{\"a\":1},").status().code(), ErrorCode::kMalformedJson);
  EXPECT_EQ(Visit("42").status().code(), ErrorCode::kMalformedBody);
  EXPECT_EQ(Visit("\xff\xfe garbage").status().code(), ErrorCode::kMalformedJson);
}

TEST(EventBody, Limits) {
  IngestLimits limits;
  limits.max_record_bytes = 20;
  limits.max_records_per_request = 3;
  auto r = Visit("[{\"a\":\"0123456789012345678901234\"},{\"a\":1}]", false, limits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].code, ErrorCode::kRecordTooLarge);
  EXPECT_EQ((*r)[1].json, "{\"a\":1}");
  EXPECT_EQ(Visit("[{},{},{},{}]", false, limits).status().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(Visit("{}\n{}\n{}\n{}\n", true, limits).status().code(), ErrorCode::kPayloadTooLarge);

  IngestLimits shallow;
  shallow.max_nesting_depth = 3;
  std::string deep = "[{\"a\":{\"b\":{\"c\":{\"d\":1}}}}]";
  EXPECT_EQ(Visit(deep, false, shallow).status().code(), ErrorCode::kMalformedJson);
  auto lines = Visit("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}\n{}\n", true, shallow);
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ((*lines)[0].code, ErrorCode::kMalformedJson);
  EXPECT_EQ((*lines)[1].json, "{}");
}

}  // namespace
}  // namespace basin::ingest
