// Output modes, partitions, incremental reads across compaction, and schema evolution of the
// output, on a real catalog and lake. Every run's reconciliation is checked by MustRun.

#include <gtest/gtest.h>

#include "runner_fixture.h"

namespace basin::etl::test {
namespace {

constexpr char kMerge[] = R"json({
  "name": "orders",
  "sources": [{"name": "orders", "table": "raw.orders"}],
  "cleaning": [{"rule": "cast", "column": "version", "type": "INTEGER"},
               {"rule": "cast", "column": "day", "type": "DATE"}],
  "deduplicate": {"keys": ["order_id"], "keep_latest_by": "version"},
  "transform": "SELECT order_id, status, version, day AS dt FROM orders",
  "output": {"table": "processed.orders", "mode": "merge", "keys": ["order_id"],
             "partition_by": ["dt"]}
})json";

class PipelineModesTest : public RunnerTest {
 protected:
  void SetUp() override {
    RunnerTest::SetUp();
    CreateRaw("orders", {{"order_id", "VARCHAR"},
                         {"status", "VARCHAR"},
                         {"version", "VARCHAR"},
                         {"day", "VARCHAR"}});
  }
  std::string Values(const std::string& rows) {
    return "SELECT * FROM (VALUES " + rows + ") t(order_id, status, version, day)";
  }
  size_t LiveFiles(const catalog::TableRef& ref) {
    auto snapshot = catalog_->CurrentSnapshot(ref);
    EXPECT_TRUE(snapshot.ok());
    return snapshot.ok() ? snapshot->files.size() : 0;
  }
};

TEST_F(PipelineModesTest, MergeReplacesOlderRowsAndKeepsNewerOnes) {
  const PipelineSpec spec = Spec(kMerge);
  AddFile("orders", Values("('o1', 'placed', '1', '2026-11-01'), ('o2', 'paid', '1', "
                           "'2026-11-01'), ('o3', 'placed', '1', '2026-11-02')"));
  EXPECT_EQ(MustRun(spec).record.rows_written, 3);
  // o1 moves to a later day, o2 comes in older than what the output has, o4 is new.
  AddFile("orders", Values("('o1', 'shipped', '2', '2026-11-03'), ('o2', 'placed', '0', "
                           "'2026-11-01'), ('o4', 'placed', '1', '2026-11-02')"));
  RunReport second = MustRun(spec);
  EXPECT_EQ(second.record.rows_in, 3);
  EXPECT_EQ(second.record.rows_duplicate, 1);
  EXPECT_EQ(second.record.rows_out, 2);
  EXPECT_EQ(Query("SELECT order_id, status, version, dt FROM processed.orders ORDER BY 1"),
            (Rows{{"o1", "shipped", "2", "2026-11-03"},
                  {"o2", "paid", "1", "2026-11-01"},
                  {"o3", "placed", "1", "2026-11-02"},
                  {"o4", "placed", "1", "2026-11-02"}}));
  // One file per partition: 11-01 and 11-02 were rewritten, 11-03 is new.
  EXPECT_EQ(LiveFiles({"processed", "orders"}), 3u);
  // The rewrite counts every row written: o2 kept in 11-01, o3 + o4 in 11-02, o1 in 11-03.
  EXPECT_EQ(second.record.rows_written, 4);
  EXPECT_EQ(MustRun(spec).record.status, RunStatus::kNothingNew);
}

TEST_F(PipelineModesTest, ReplacePartitionsRecomputesTouchedDays) {
  CreateRaw("events", {{"event_id", "VARCHAR"}}, {{"dt", "DATE"}});
  const PipelineSpec spec = Spec(R"json({
    "name": "daily",
    "sources": [{"name": "new_events", "table": "raw.events"},
                {"name": "events", "table": "raw.events", "read": "touched_partitions"}],
    "transform": "SELECT dt, count(*) AS events FROM events GROUP BY dt",
    "output": {"table": "curated.daily", "mode": "replace_partitions", "partition_by": ["dt"]}
  })json");
  AddFile("events", "SELECT * FROM (VALUES ('a'), ('b')) t(event_id)", "dt=2026-11-01");
  AddFile("events", "SELECT 'c' AS event_id", "dt=2026-11-02");
  EXPECT_EQ(MustRun(spec).record.rows_in, 3);
  AddFile("events", "SELECT * FROM (VALUES ('d'), ('e')) t(event_id)", "dt=2026-11-02");
  RunReport second = MustRun(spec);
  EXPECT_EQ(second.record.rows_in, 2);
  EXPECT_EQ(second.record.rows_written, 1);  // only 11-02 was recomputed
  EXPECT_EQ(Query("SELECT dt, events FROM curated.daily ORDER BY 1"),
            (Rows{{"2026-11-01", "2"}, {"2026-11-02", "3"}}));
  EXPECT_EQ(LiveFiles({"curated", "daily"}), 2u);
}

TEST_F(PipelineModesTest, ReplaceRewritesTheWholeOutputFromAllRows) {
  const PipelineSpec spec = Spec(R"json({
    "name": "dim",
    "sources": [{"name": "orders", "table": "raw.orders", "read": "all"}],
    "transform": "SELECT order_id, status FROM orders",
    "output": {"table": "curated.dim", "mode": "replace"}
  })json");
  AddFile("orders", Values("('o1', 'placed', '1', '2026-11-01')"));
  MustRun(spec);
  AddFile("orders", Values("('o2', 'paid', '1', '2026-11-01')"));
  RunReport second = MustRun(spec);
  EXPECT_EQ(second.record.rows_in, 2);  // `all` reads every row again
  EXPECT_EQ(Query("SELECT order_id FROM curated.dim ORDER BY 1"), (Rows{{"o1"}, {"o2"}}));
  EXPECT_EQ(LiveFiles({"curated", "dim"}), 1u);
  EXPECT_EQ(MustRun(spec).record.status, RunStatus::kNothingNew);
}

TEST_F(PipelineModesTest, CompactionNeitherHidesNorRepeatsRows) {
  const PipelineSpec spec = Spec(R"json({
    "name": "copy",
    "sources": [{"name": "orders", "table": "raw.orders"}],
    "output": {"table": "processed.copy"}
  })json");
  AddFile("orders", Values("('o1', 'placed', '1', 'd')"));
  AddFile("orders", Values("('o2', 'placed', '1', 'd')"));
  EXPECT_EQ(MustRun(spec).record.rows_in, 2);
  AddFile("orders", Values("('o3', 'placed', '1', 'd')"));
  AddFile("orders", Values("('o4', 'placed', '1', 'd')"));
  auto table = catalog_->GetTable({"raw", "orders"});
  auto snapshot = catalog_->CurrentSnapshot({"raw", "orders"});
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->files.size(), 4u);
  auto compact = [&](size_t first, size_t second) {
    catalog::DataFile merged;
    merged.path = "raw/orders/merged-" + std::to_string(first) + ".parquet";
    auto w = query::WriteParquet(
        *writer_db_,
        "SELECT * FROM read_parquet([" +
            query::QuoteLiteral(lake_ + "/" + snapshot->files[first].path) + ", " +
            query::QuoteLiteral(lake_ + "/" + snapshot->files[second].path) + "])",
        lake_ + "/" + merged.path);
    EXPECT_TRUE(w.ok());
    merged.row_count = w->row_count;
    merged.size_bytes = w->size_bytes;
    catalog::CommitRequest request;
    request.changes.push_back({table->id,
                               catalog::ChangeKind::kCompact,
                               {snapshot->files[first].id, snapshot->files[second].id},
                               {merged}});
    return catalog_->Commit(std::move(request)).status();
  };
  // The files the pipeline has not read yet cannot be compacted; the ones it read can.
  EXPECT_EQ(compact(2, 3).code(), ErrorCode::kConflict);
  EXPECT_TRUE(compact(0, 1).ok());
  RunReport second = MustRun(spec);
  EXPECT_EQ(second.record.rows_in, 2);
  EXPECT_EQ(Query("SELECT order_id, count(*) FROM processed.copy GROUP BY 1 ORDER BY 1"),
            (Rows{{"o1", "1"}, {"o2", "1"}, {"o3", "1"}, {"o4", "1"}}));
  EXPECT_TRUE(compact(2, 3).ok());
  RunReport third = MustRun(spec);
  EXPECT_EQ(third.record.status, RunStatus::kNothingNew);
  EXPECT_EQ(One("SELECT count(*) FROM processed.copy"), "4");
}

TEST_F(PipelineModesTest, NewTransformColumnsEvolveTheOutput) {
  PipelineSpec spec = Spec(R"json({
    "name": "evolve",
    "sources": [{"name": "orders", "table": "raw.orders"}],
    "transform": "SELECT order_id FROM orders",
    "output": {"table": "processed.evolve"}
  })json");
  AddFile("orders", Values("('o1', 'placed', '1', 'd')"));
  MustRun(spec);
  spec.transform = "SELECT order_id, status FROM orders";
  AddFile("orders", Values("('o2', 'paid', '1', 'd')"));
  MustRun(spec);
  EXPECT_EQ(Query("SELECT order_id, status FROM processed.evolve ORDER BY 1"),
            (Rows{{"o1", "NULL"}, {"o2", "paid"}}));
  // Dropping a column the output has is not an evolution.
  spec.transform = "SELECT status FROM orders";
  AddFile("orders", Values("('o3', 'paid', '1', 'd')"));
  auto failed = runner_->Run(spec);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kSchemaIncompatible);
}

TEST_F(PipelineModesTest, AppendWithKeysDropsRowsTheOutputAlreadyHas) {
  const PipelineSpec spec = Spec(R"json({
    "name": "once",
    "sources": [{"name": "orders", "table": "raw.orders"}],
    "deduplicate": {"keys": ["order_id"], "keep_latest_by": "version"},
    "output": {"table": "processed.once", "keys": ["order_id"]}
  })json");
  AddFile("orders", Values("('o1', 'placed', '1', 'd'), ('o2', 'placed', '1', 'd')"));
  MustRun(spec);
  AddFile("orders", Values("('o1', 'paid', '2', 'd'), ('o3', 'placed', '1', 'd')"));
  RunReport second = MustRun(spec);
  EXPECT_EQ(second.record.rows_duplicate, 1);
  EXPECT_EQ(Query("SELECT order_id, status FROM processed.once ORDER BY 1"),
            (Rows{{"o1", "placed"}, {"o2", "placed"}, {"o3", "placed"}}));
}

TEST_F(PipelineModesTest, TouchedPartitionsNeedASharedPartitionColumn) {
  CreateRaw("events", {{"event_id", "VARCHAR"}}, {{"dt", "DATE"}});
  const PipelineSpec spec = Spec(R"json({
    "name": "mismatch",
    "sources": [{"name": "orders", "table": "raw.orders"},
                {"name": "events", "table": "raw.events", "read": "touched_partitions"}],
    "output": {"table": "curated.mismatch"}
  })json");
  AddFile("orders", Values("('o1', 'placed', '1', 'd')"));
  auto failed = runner_->Run(spec);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kInvalidDefinition);
  EXPECT_NE(failed.status().message().find("$.sources[1].read"), std::string::npos)
      << failed.status().message();
}

}  // namespace
}  // namespace basin::etl::test
