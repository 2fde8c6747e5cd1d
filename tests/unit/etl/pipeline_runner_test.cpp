#include "etl/pipeline_runner.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "runner_fixture.h"

namespace basin::etl::test {
namespace {

constexpr char kOrdersAppend[] = R"json({
  "name": "orders",
  "sources": [{"name": "orders", "table": "raw.orders"}],
  "cleaning": [
    {"rule": "required", "columns": ["order_id"]},
    {"rule": "trim", "columns": ["status"]},
    {"rule": "lower", "columns": ["status"]},
    {"rule": "cast", "column": "amount", "type": "DECIMAL(18,2)", "on_failure": "quarantine"},
    {"rule": "allowed_values", "column": "status", "values": ["placed", "paid"]}
  ],
  "output": {"table": "processed.orders"}
})json";

class PipelineRunnerTest : public RunnerTest {
 protected:
  void SetUp() override {
    RunnerTest::SetUp();
    CreateRaw("orders", {{"order_id", "VARCHAR"}, {"status", "VARCHAR"}, {"amount", "VARCHAR"}});
  }
};

TEST_F(PipelineRunnerTest, CleansTypesAndQuarantinesWithRuleAndReason) {
  AddFile("orders",
          "SELECT * FROM (VALUES ('o1', ' Paid ', '10.50'), ('o2', 'placed', 'ten'), "
          "(NULL, 'paid', '1'), ('o4', 'lost', '2'), ('o5', 'PLACED', NULL)) "
          "t(order_id, status, amount)");
  const PipelineSpec spec = Spec(kOrdersAppend);
  RunReport report = MustRun(spec);
  EXPECT_EQ(report.record.status, RunStatus::kSucceeded);
  EXPECT_EQ(report.record.rows_in, 5);
  EXPECT_EQ(report.record.rows_out, 2);
  EXPECT_EQ(report.record.rows_quarantined, 3);
  EXPECT_EQ(report.record.rows_duplicate, 0);
  EXPECT_EQ(report.record.rows_written, 2);
  EXPECT_EQ(
      Query("SELECT order_id, status, amount, typeof(amount) FROM processed.orders "
            "ORDER BY order_id"),
      (Rows{{"o1", "paid", "10.50", "DECIMAL(18,2)"}, {"o5", "placed", "NULL", "DECIMAL(18,2)"}}));
  EXPECT_EQ(
      Query("SELECT rule, reason, record, pipeline, source_table, run_id = " +
            query::QuoteLiteral(report.record.run_id) +
            " FROM quarantine.processed_orders ORDER BY rule"),
      (Rows{
          {"allowed_values", "status: 'lost' is not an allowed value",
           R"({"order_id":"o4","status":"lost","amount":"2"})", "orders", "raw.orders", "true"},
          {"cast", "amount: 'ten' is not a DECIMAL(18,2)",
           R"({"order_id":"o2","status":"placed","amount":"ten"})", "orders", "raw.orders", "true"},
          {"required", "order_id: missing", R"({"order_id":null,"status":"paid","amount":"1"})",
           "orders", "raw.orders", "true"},
      }));
  EXPECT_EQ(Query("SELECT pipeline, kind, status, rows_in, rows_out, rows_quarantined, "
                  "rows_duplicate, rows_written, error FROM ops.pipeline_runs"),
            (Rows{{"orders", "run", "succeeded", "5", "2", "3", "0", "2", "NULL"}}));
  EXPECT_EQ(metrics_
                .GetCounter("basin_pipeline_rows_total", "",
                            {{"pipeline", "orders"}, {"kind", "quarantined"}})
                .value(),
            3u);
}

TEST_F(PipelineRunnerTest, RunsAreIncrementalAndIdempotent) {
  const PipelineSpec spec = Spec(kOrdersAppend);
  AddFile("orders", "SELECT 'o1' AS order_id, 'paid' AS status, '1' AS amount");
  EXPECT_EQ(MustRun(spec).record.rows_in, 1);
  // Nothing new: the run is recorded, nothing else changes.
  RunReport again = MustRun(spec);
  EXPECT_EQ(again.record.status, RunStatus::kNothingNew);
  EXPECT_EQ(again.record.rows_in, 0);
  EXPECT_EQ(One("SELECT count(*) FROM processed.orders"), "1");
  // A new file: only its rows are read.
  AddFile("orders",
          "SELECT * FROM (VALUES ('o2', 'paid', '2'), ('o3', 'placed', '3')) "
          "t(order_id, status, amount)");
  RunReport second = MustRun(spec);
  EXPECT_EQ(second.record.rows_in, 2);
  EXPECT_EQ(Query("SELECT order_id FROM processed.orders ORDER BY 1"),
            (Rows{{"o1"}, {"o2"}, {"o3"}}));
  EXPECT_EQ(Query("SELECT status, count(*) FROM ops.pipeline_runs GROUP BY 1 ORDER BY 1"),
            (Rows{{"nothing_new", "1"}, {"succeeded", "2"}}));
  auto runs = runner_->ListRuns("orders", 10);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), 3u);
  for (const RunRecord& r : *runs) ExpectReconciled(r);
  // The position is the source's snapshot, kept as a consumer offset.
  auto offset =
      catalog_->GetStreamOffset(catalog::TableConsumerStream({"raw", "orders"}), "pipeline:orders");
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(static_cast<int64_t>(*offset),
            catalog_->GetTable({"raw", "orders"})->current_snapshot_id);
}

TEST_F(PipelineRunnerTest, DeduplicatesKeepingTheLatest) {
  const PipelineSpec spec = Spec(R"json({
    "name": "orders_dedup",
    "sources": [{"name": "orders", "table": "raw.orders"}],
    "cleaning": [{"rule": "cast", "column": "amount", "type": "INTEGER"}],
    "deduplicate": {"keys": ["order_id"], "keep_latest_by": "amount"},
    "output": {"table": "processed.orders_dedup"}
  })json");
  AddFile("orders",
          "SELECT * FROM (VALUES ('o1', 'placed', '1'), ('o1', 'paid', '3'), "
          "('o1', 'shipped', '2'), ('o2', 'placed', '5')) t(order_id, status, amount)");
  RunReport r = MustRun(spec);
  EXPECT_EQ(r.record.rows_duplicate, 2);
  EXPECT_EQ(r.record.rows_out, 2);
  EXPECT_EQ(Query("SELECT order_id, status FROM processed.orders_dedup ORDER BY 1"),
            (Rows{{"o1", "paid"}, {"o2", "placed"}}));
}

// Rows of one file share _loaded_at: among rows with the same keys and the same ordering value,
// the later line of the file wins, and a file committed later wins over an earlier one.
TEST_F(PipelineRunnerTest, DeduplicationTiesGoToTheLaterRow) {
  const PipelineSpec spec = Spec(R"json({
    "name": "orders_ties",
    "sources": [{"name": "orders", "table": "raw.orders"}],
    "deduplicate": {"keys": ["order_id"], "keep_latest_by": "amount"},
    "output": {"table": "processed.orders_ties"}
  })json");
  std::string first = "SELECT * FROM (VALUES ";
  for (int i = 0; i < 3000; ++i) {
    const std::string id = "'o" + std::to_string(i) + "'";
    first +=
        (i > 0 ? ", " : "") + std::string("(") + id + ", 'placed', '1'), (" + id + ", 'paid', '1')";
  }
  first += ") t(order_id, status, amount)";
  AddFile("orders", first);
  AddFile("orders",
          "SELECT * FROM (VALUES ('o7', 'shipped', '1'), ('o8', 'cancelled', '0')) "
          "t(order_id, status, amount)");
  RunReport r = MustRun(spec);
  EXPECT_EQ(r.record.rows_in, 6002);
  EXPECT_EQ(r.record.rows_duplicate, 3002);
  // o7's later file ties and wins; o8's later row has a smaller amount and loses.
  EXPECT_EQ(Query("SELECT status, count(*) FROM processed.orders_ties GROUP BY 1 ORDER BY 1"),
            (Rows{{"paid", "2999"}, {"shipped", "1"}}));
}

TEST_F(PipelineRunnerTest, TransformMustOnlyRead) {
  PipelineSpec spec = Spec(kOrdersAppend);
  spec.transform = "DELETE FROM orders";
  AddFile("orders", "SELECT 'o1' AS order_id, 'paid' AS status, '1' AS amount");
  auto report = runner_->Run(spec);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kInvalidDefinition);
  EXPECT_NE(report.status().message().find("$.transform"), std::string::npos);
  // The failed run is recorded, nothing else, and the position did not move.
  EXPECT_EQ(Query("SELECT status FROM ops.pipeline_runs"), (Rows{{"failed"}}));
  auto offset =
      catalog_->GetStreamOffset(catalog::TableConsumerStream({"raw", "orders"}), "pipeline:orders");
  EXPECT_EQ(*offset, 0u);
  spec.transform = "SELECT order_id, amount FROM orders";
  RunReport fixed = MustRun(spec);
  EXPECT_EQ(fixed.record.rows_written, 1);
}

TEST_F(PipelineRunnerTest, SummaryLine) {
  RunReport r;
  r.record.pipeline = "orders";
  r.record.run_id = "20261127T071500Z-0000abcd";
  r.record.rows_in = 1000;
  r.record.rows_out = 950;
  r.record.rows_quarantined = 40;
  r.record.rows_duplicate = 10;
  r.record.rows_written = 950;
  r.record.duration_ms = 420;
  EXPECT_EQ(FormatRunSummary(r),
            "orders  run 20261127T071500Z-0000abcd  succeeded  in 1,000  out 950  quarantined 40  "
            "duplicates 10  written 950  0.42 s");
}

// Two runners (as two processes would) run the same pipeline at once: the one that commits
// second finds its offset moved and commits nothing; rows are written once.
TEST_F(PipelineRunnerTest, AConcurrentRunOfTheSamePipelineLosesWithConflict) {
  const PipelineSpec spec = Spec(kOrdersAppend);
  AddFile("orders", "SELECT 'o1' AS order_id, 'paid' AS status, '1' AS amount");
  PipelineRunner other(catalog_.get(), lake_, &clock_, nullptr);
  std::vector<std::string> stages;
  RunOptions options;
  options.progress = [&](const RunProgress& p) {
    stages.push_back(p.stage);
    if (p.stage == "writing") {
      auto won = other.Run(spec);
      EXPECT_TRUE(won.ok()) << won.status().ToString();
    }
  };
  std::vector<RunReport> reports;
  options.on_report = [&](const RunReport& r) { reports.push_back(r); };
  auto lost = runner_->Run(spec, options);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(stages, (std::vector<std::string>{"reading", "cleaning", "writing", "committing"}));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].record.status, RunStatus::kFailed);
  EXPECT_EQ(reports[0].error_code, ErrorCode::kConflict);
  EXPECT_EQ(One("SELECT count(*) FROM processed.orders"), "1");
  EXPECT_EQ(Query("SELECT status FROM ops.pipeline_runs ORDER BY status"),
            (Rows{{"failed"}, {"succeeded"}}));
  // The loser's files were removed: only the committed files are in the output folder.
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(lake_ + "/processed")) {
    files += e.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(PipelineRunnerTest, MissingSourceTableFailsAndIsRecorded) {
  PipelineSpec spec = Spec(kOrdersAppend);
  spec.sources[0].table = {"raw", "nothing"};
  auto failed = runner_->Run(spec);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kTableNotFound);
  auto runs = runner_->ListRuns(std::nullopt, 5);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].status, RunStatus::kFailed);
  EXPECT_NE((*runs)[0].error.find("TableNotFound"), std::string::npos);
  EXPECT_EQ(metrics_
                .GetCounter("basin_pipeline_runs_total", "",
                            {{"pipeline", "orders"}, {"status", "failed"}})
                .value(),
            1u);
}

}  // namespace
}  // namespace basin::etl::test
