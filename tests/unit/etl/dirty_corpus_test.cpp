// A corpus of dirty rows (tests/data/etl/dirty_orders.csv) run through a pipeline
// (dirty_orders.pipeline.json): every quarantined row with its expected rule and reason
// (dirty_orders.quarantine.csv), every clean row with its expected values
// (dirty_orders.clean.csv), duplicates removed, and the counts reconciled.

#include <gtest/gtest.h>

#include <filesystem>

#include "base/file_util.h"
#include "runner_fixture.h"

namespace basin::etl::test {
namespace {

namespace fs = std::filesystem;

fs::path DataDir() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "etl";
}

class DirtyCorpusTest : public RunnerTest {
 protected:
  // The rows of an expected-results CSV, every field as text.
  Rows ExpectedCsv(const std::string& name) {
    auto db = query::DuckDb::Open();
    auto result = (*db)->Query("SELECT COLUMNS(*)::VARCHAR FROM read_csv(" +
                               query::QuoteLiteral((DataDir() / name).string()) +
                               ", header = true, all_varchar = true) ORDER BY ALL");
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    Rows rows;
    for (const auto& row : result->rows) {
      Row texts;
      for (const auto& v : row) texts.push_back(v.ToText());
      rows.push_back(texts);
    }
    return rows;
  }
};

TEST_F(DirtyCorpusTest, EachDirtyRowIsQuarantinedWithItsReason) {
  const std::string csv = (DataDir() / "dirty_orders.csv").string();
  std::vector<catalog::Column> columns;
  for (const char* name : {"line", "order_id", "customer_id", "order_time", "status", "currency",
                           "total_amount", "country"}) {
    columns.push_back({name, "VARCHAR"});
  }
  CreateRaw("dirty_orders", columns);
  // As a batch loader lands a CSV: every field text, blank fields NULL.
  AddFile("dirty_orders", "SELECT * FROM read_csv(" + query::QuoteLiteral(csv) +
                              ", header = true, all_varchar = true)");
  auto text = ReadFile((DataDir() / "dirty_orders.pipeline.json").string(), 1 << 20);
  ASSERT_TRUE(text.ok());
  const PipelineSpec spec = Spec(*text);

  RunReport report = MustRun(spec);
  EXPECT_EQ(report.record.rows_in, 25);
  EXPECT_EQ(report.record.rows_quarantined, 14);
  EXPECT_EQ(report.record.rows_duplicate, 2);
  EXPECT_EQ(report.record.rows_out, 9);
  EXPECT_EQ(report.record.rows_written, 9);

  EXPECT_EQ(Query("SELECT json_extract_string(record, '$.line') AS line, rule, reason FROM "
                  "quarantine.processed_dirty_orders ORDER BY ALL"),
            ExpectedCsv("dirty_orders.quarantine.csv"));
  EXPECT_EQ(Query("SELECT * FROM processed.dirty_orders ORDER BY ALL"),
            ExpectedCsv("dirty_orders.clean.csv"));
  // The original record is kept as it was read: untrimmed, uncast.
  EXPECT_EQ(One("SELECT record FROM quarantine.processed_dirty_orders WHERE "
                "json_extract_string(record, '$.line') = '8'"),
            R"({"line":"8","order_id":"d-08","customer_id":"c8","order_time":)"
            R"("2026-11-01 10:00:00","status":"paid","currency":"EUR","total_amount":"1,000.00",)"
            R"("country":"DE"})");
  // Quality: every rule passes on the cleaned rows.
  for (const QualityResult& q : report.quality) EXPECT_TRUE(q.passed) << q.rule;
}

}  // namespace
}  // namespace basin::etl::test
