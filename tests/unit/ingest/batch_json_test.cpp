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
  EXPECT_EQ(report->reader, "read_json_objects");
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
  EXPECT_EQ(report->reader, "lines");
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

// A file whose every line is an object is read by read_json directly; one bad line sends the
// whole file through the line reader. Both must give the same table: same columns in the same
// order (first appearance), types, values (a JSON null and a missing key are both NULL, nested
// values are JSON, numbers as JSON writes them) and line numbers.
TEST_F(BatchJsonTest, DirectAndLineByLineReadsGiveTheSameTable) {
  const std::string lines =
      "{\"id\":1,\"name\":\"caf\\u00e9 \\\"quoted\\\"\",\"price\":1.50,"
      "\"tags\":[\"a\",{\"b\":null}],\"when\":\"2026-11-27 10:00:00\"}\r\n"
      "{\"id\":2,\"name\":null,\"price\":3}\n"
      "{\"price\":4.25,\"id\":3,\"extra\":{\"k\":[1,2]},\"when\":\"2026-11-28T01:02:03Z\"}\n"
      "  {\"id\":4,\"name\":\"padded line\",\"tags\":[]}  \n";
  auto plain = LoadFile(WriteTemp("plain.ndjson", lines), "direct");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->rows_quarantined, 0);
  EXPECT_EQ(plain->reader, "read_json");
  auto by_line = LoadFile(WriteTemp("dirty.ndjson", lines + "{\"id\": oops}\n"), "by_line");
  ASSERT_TRUE(by_line.ok()) << by_line.status().ToString();
  EXPECT_EQ(by_line->rows_quarantined, 1);
  EXPECT_EQ(by_line->reader, "lines");
  const std::string columns =
      "id BIGINT, name VARCHAR, price DOUBLE, tags JSON, when TIMESTAMP, extra JSON";
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.direct"), columns);
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.by_line"), columns);
  const std::string rows =
      "1|café \"quoted\"|1.5|[\"a\",{\"b\":null}]|2026-11-27 10:00:00|NULL\n"
      "2|NULL|3.0|NULL|NULL|NULL\n"
      "3|NULL|4.25|NULL|2026-11-28 01:02:03|{\"k\":[1,2]}\n"
      "4|padded line|NULL|[]|NULL|NULL\n";
  for (const char* table : {"raw.direct", "raw.by_line"}) {
    SCOPED_TRACE(table);
    EXPECT_EQ(Rows(std::string("SELECT id, name, price, tags, \"when\", extra FROM ") + table +
                   " ORDER BY id"),
              rows);
  }
  EXPECT_EQ(Rows("SELECT line, record FROM quarantine.by_line"), "5|{\"id\": oops}\n");
}

// A blank line inside the file, a byte order mark, or a line longer than the scanner's read
// block still load, through the reader that takes them.
TEST_F(BatchJsonTest, BlankLinesRepeatedKeysAndLongLines) {
  auto blank = LoadFile(WriteTemp("blank.ndjson", "{\"n\":1}\n\n{\"n\":2}\n"), "blank");
  ASSERT_TRUE(blank.ok()) << blank.status().ToString();
  EXPECT_EQ(blank->reader, "lines");
  EXPECT_EQ(Rows("SELECT n FROM raw.blank ORDER BY n"), "1\n2\n");
  const std::string long_value(9 << 20, 'x');  // longer than one 8 MiB read block
  auto long_line = LoadFile(
      WriteTemp("long.ndjson", "{\"n\":1,\"s\":\"a\"}\n{\"n\":2,\"s\":\"" + long_value + "\"}\n"),
      "long_line");
  ASSERT_TRUE(long_line.ok()) << long_line.status().ToString();
  EXPECT_EQ(long_line->reader, "read_json");
  // DuckDB does not read a byte order mark in NDJSON: such a file is read line by line.
  auto bom = LoadFile(WriteTemp("bom.ndjson", "\xEF\xBB\xBF{\"n\":1}\n{\"n\":2}\n"), "bom");
  ASSERT_TRUE(bom.ok()) << bom.status().ToString();
  EXPECT_EQ(bom->reader, "lines");
  EXPECT_EQ(Rows("SELECT n FROM raw.bom ORDER BY n"), "1\n2\n");
  EXPECT_EQ(Rows("SELECT n, length(s) FROM raw.long_line ORDER BY n"),
            "1|1\n2|" + std::to_string(long_value.size()) + "\n");
}

}  // namespace
}  // namespace basin::ingest::test
