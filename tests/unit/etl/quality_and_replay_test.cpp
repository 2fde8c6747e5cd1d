// Data-quality rules evaluated by runs (warn vs stop) and quarantine replay after a fix.

#include <gtest/gtest.h>

#include "runner_fixture.h"

namespace basin::etl::test {
namespace {

class QualityAndReplayTest : public RunnerTest {
 protected:
  void SetUp() override {
    RunnerTest::SetUp();
    CreateRaw("orders", {{"order_id", "VARCHAR"}, {"status", "VARCHAR"}, {"amount", "VARCHAR"}});
  }
  std::string Values(const std::string& rows) {
    return "SELECT * FROM (VALUES " + rows + ") t(order_id, status, amount)";
  }
  uint64_t Offset(const std::string& pipeline) {
    auto offset = catalog_->GetStreamOffset(catalog::TableConsumerStream({"raw", "orders"}),
                                            "pipeline:" + pipeline);
    EXPECT_TRUE(offset.ok());
    return offset.ok() ? *offset : 0;
  }
};

constexpr char kChecked[] = R"json({
  "name": "checked",
  "sources": [{"name": "orders", "table": "raw.orders"}],
  "cleaning": [{"rule": "cast", "column": "amount", "type": "INTEGER"}],
  "output": {"table": "processed.checked"},
  "quality": [
    {"rule": "RowCount > 0"},
    {"rule": "IsUnique \"order_id\"", "on_failure": "stop"},
    {"rule": "ColumnValues \"amount\" >= 0", "on_failure": "warn"},
    {"rule": "Completeness \"status\" >= 0.5", "on_failure": "warn"},
    {"rule": "DataFreshness \"seen\" <= 2 hours", "on_failure": "warn"}
  ],
  "transform": "SELECT *, TIMESTAMP '2026-11-18 10:00:00' AS seen FROM orders"
})json";

TEST_F(QualityAndReplayTest, WarningsAreRecordedAndTheRunSucceeds) {
  const PipelineSpec spec = Spec(kChecked);
  AddFile("orders", Values("('o1', 'paid', '-1'), ('o2', NULL, '5'), ('o3', 'paid', '7')"));
  RunReport report = MustRun(spec);
  EXPECT_EQ(report.record.status, RunStatus::kSucceeded);
  ASSERT_EQ(report.quality.size(), 5u);
  EXPECT_EQ(Query("SELECT rule, outcome, on_failure, actual_value FROM ops.data_quality_results "
                  "ORDER BY rule"),
            (Rows{
                {"ColumnValues \"amount\" >= 0", "fail", "warn", "1"},
                {"Completeness \"status\" >= 0.5", "pass", "warn", "0.6667"},
                // The fake clock is 2026-11-18 11:06:40: 1.11 hours after `seen`.
                {"DataFreshness \"seen\" <= 2 hours", "pass", "warn", "1.11 hours"},
                {"IsUnique \"order_id\"", "pass", "stop", "1.0"},
                {"RowCount > 0", "pass", "warn", "3"},
            }));
  EXPECT_EQ(One("SELECT count(*) FROM processed.checked"), "3");
}

TEST_F(QualityAndReplayTest, AFailingStopRuleCommitsOnlyTheRunRecordAndResults) {
  const PipelineSpec spec = Spec(kChecked);
  AddFile("orders", Values("('o1', 'paid', '1')"));
  MustRun(spec);
  const uint64_t position = Offset("checked");
  AddFile("orders", Values("('o1', 'paid', '2')"));  // a second o1: IsUnique fails
  auto failed = runner_->Run(spec);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kDataQualityFailed);
  EXPECT_NE(failed.status().message().find("IsUnique"), std::string::npos);
  EXPECT_EQ(One("SELECT count(*) FROM processed.checked"), "1");
  EXPECT_EQ(Offset("checked"), position);
  Rows runs = Query(
      "SELECT status, rows_in, error LIKE '%IsUnique%' FROM ops.pipeline_runs "
      "ORDER BY started_at, status DESC");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1], (Row{"failed", "0", "true"}));
  EXPECT_EQ(Query("SELECT outcome FROM ops.data_quality_results WHERE rule LIKE 'IsUnique%' "
                  "ORDER BY evaluated_at, outcome DESC"),
            (Rows{{"pass"}, {"fail"}}));
  auto listed = runner_->ListRuns("checked", 10);
  ASSERT_TRUE(listed.ok());
  for (const RunRecord& r : *listed) ExpectReconciled(r);
}

constexpr char kStrict[] = R"json({
  "name": "strict",
  "sources": [{"name": "orders", "table": "raw.orders"}],
  "cleaning": [{"rule": "allowed_values", "column": "status", "values": ["placed", "paid"]},
               {"rule": "cast", "column": "amount", "type": "INTEGER"}],
  "output": {"table": "processed.strict"}
})json";

TEST_F(QualityAndReplayTest, ReplayAfterFixingTheRuleMovesRowsToTheOutput) {
  PipelineSpec spec = Spec(kStrict);
  AddFile("orders", Values("('o1', 'paid', '1'), ('o2', 'shipped', '2'), ('o3', 'lost', '3'), "
                           "('o4', 'shipped', 'x')"));
  RunReport first = MustRun(spec);
  EXPECT_EQ(first.record.rows_quarantined, 3);
  // The rule learns about shipped orders; o3 stays wrong, o4 now fails the cast instead.
  spec.cleaning[0].values.push_back({Literal::Kind::kString, "shipped"});
  RunReport replay = MustReplay(spec);
  EXPECT_EQ(replay.record.kind, "replay");
  EXPECT_EQ(replay.record.rows_in, 3);
  EXPECT_EQ(replay.record.rows_out, 1);
  EXPECT_EQ(replay.record.rows_quarantined, 2);
  EXPECT_EQ(Query("SELECT order_id, status, amount FROM processed.strict ORDER BY 1"),
            (Rows{{"o1", "paid", "1"}, {"o2", "shipped", "2"}}));
  EXPECT_EQ(Query("SELECT json_extract_string(record, '$.order_id'), rule, run_id = " +
                  query::QuoteLiteral(replay.record.run_id) +
                  " FROM quarantine.processed_strict ORDER BY 1"),
            (Rows{{"o3", "allowed_values", "true"}, {"o4", "cast", "true"}}));
  // Fix the data side too: with every rule passing, quarantine empties.
  spec.cleaning[0].values.push_back({Literal::Kind::kString, "lost"});
  spec.cleaning[1].on_failure = FailurePolicy::kNull;
  RunReport fixed = MustReplay(spec);
  EXPECT_EQ(fixed.record.rows_out, 2);
  EXPECT_EQ(One("SELECT count(*) FROM quarantine.processed_strict"), "0");
  EXPECT_EQ(One("SELECT count(*) FROM processed.strict"), "4");
  EXPECT_EQ(MustReplay(spec).record.status, RunStatus::kNothingNew);
  // Replays never move the pipeline's position: a normal run still finds nothing new.
  EXPECT_EQ(MustRun(spec).record.status, RunStatus::kNothingNew);
}

}  // namespace
}  // namespace basin::etl::test
