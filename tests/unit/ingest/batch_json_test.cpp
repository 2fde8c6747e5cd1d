#include <gtest/gtest.h>

#include "ingest/batch_loader.h"
#include "unit/ingest/batch_test_util.h"

namespace basin::ingest::test {
namespace {

class BatchJsonTest : public BatchFixture {};

TEST_F(BatchJsonTest, JsonArrayWithNestedItemsKeepsThemAsJson) {
  auto report = LoadData("orders.json", "orders");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->format, "json");
  EXPECT_EQ(report->rows_loaded, 2);
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.orders"),
            "order_id VARCHAR, customer_id VARCHAR, order_time TIMESTAMP, total_amount DOUBLE, "
            "paid BOOLEAN, items JSON, coupon VARCHAR");
  // Offsets are converted to UTC; a missing key reads NULL.
  EXPECT_EQ(Rows("SELECT order_id, order_time, total_amount, paid, coupon FROM raw.orders "
                 "ORDER BY 1"),
            "o1|2026-11-27 10:00:00|25.5|true|NULL\no2|2026-11-27 10:30:00|12.0|false|XMAS\n");
  // ETL can flatten the nested items.
  EXPECT_EQ(Rows("SELECT order_id, json_array_length(items), items->>'$[0].product_id' FROM "
                 "raw.orders ORDER BY 1"),
            "o1|2|p1\no2|0|NULL\n");
}

TEST_F(BatchJsonTest, NdjsonMalformedLinesAreQuarantinedWithTheirLineNumber) {
  auto report = LoadData("events.ndjson", "events");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->format, "ndjson");
  EXPECT_EQ(report->rows_loaded, 3);
  EXPECT_EQ(report->rows_quarantined, 2);  // 5 non-blank lines
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.events"),
            "event_id VARCHAR, n BIGINT, ctx JSON, day DATE");
  EXPECT_EQ(Rows("SELECT event_id, n, ctx->>'page', day FROM raw.events ORDER BY n"),
            "e1|1|/home|2026-11-27\ne2|2|/cart|2026-11-28\ne3|3|NULL|2026-11-29\n");
  EXPECT_EQ(Rows("SELECT line, record, rule, reason FROM quarantine.events ORDER BY line"),
            "3|{not json at all|json_parse|malformed JSON\n5|[1,2,3]|json_parse|not a JSON "
            "object\n");
}

TEST_F(BatchJsonTest, MalformedJsonArrayIsATypedErrorAndLoadsNothing) {
  auto report = LoadFile(WriteTemp("broken.json", "[{\"a\": 1}, {\"a\": "), "broken");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kMalformedJson);
  EXPECT_EQ(FilesUnder("raw"), 0);
}

TEST_F(BatchJsonTest, JsonStringsStayStringsUnlessDates) {
  auto report =
      LoadFile(WriteTemp("s.ndjson",
                         "{\"zip\":\"01234\",\"n\":\"5\",\"t\":\"true\",\"d\":\"2026/01/02\"}\n"),
               "strings");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Types("SELECT zip, n, t, d FROM raw.strings"),
            "zip VARCHAR, n VARCHAR, t VARCHAR, d DATE");
}

TEST_F(BatchJsonTest, ObjectInAScalarColumnIsIncompatible) {
  ASSERT_TRUE(LoadFile(WriteTemp("a.ndjson", "{\"id\":1,\"v\":2}\n"), "mixed").ok());
  auto report = LoadFile(WriteTemp("b.ndjson", "{\"id\":2,\"v\":{\"x\":1}}\n"), "mixed");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kSchemaIncompatible);
  EXPECT_NE(report.status().message().find("'v'"), std::string::npos) << report.status().message();
  auto back = LoadFile(WriteTemp("c.ndjson", "{\"id\":3,\"v\":{\"x\":1}}\n"), "objects");
  ASSERT_TRUE(back.ok());
  auto scalar = LoadFile(WriteTemp("d.ndjson", "{\"id\":4,\"v\":7}\n"), "objects");
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.status().code(), ErrorCode::kSchemaIncompatible);
  EXPECT_EQ(Count("raw.mixed"), 1);
  EXPECT_EQ(Count("raw.objects"), 1);
}

}  // namespace
}  // namespace basin::ingest::test
