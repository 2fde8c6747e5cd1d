#pragma once

// A real catalog and lake for pipeline runs: raw tables filled by committing Parquet files
// written from SQL, the runner under test, and checks that every run reconciles.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "catalog/catalog.h"
#include "etl/pipeline_runner.h"
#include "etl/pipeline_spec.h"
#include "observe/metrics.h"
#include "query/duck_db.h"
#include "query/parquet_file_writer.h"
#include "query/query_engine.h"
#include "unit/temp_dir.h"

namespace basin::etl::test {

using Row = std::vector<std::string>;
using Rows = std::vector<Row>;

// rows_in = rows_out + rows_quarantined + rows_duplicate, for every run.
inline void ExpectReconciled(const RunRecord& r) {
  EXPECT_EQ(r.rows_in, r.rows_out + r.rows_quarantined + r.rows_duplicate)
      << r.pipeline << " run " << r.run_id << ": in " << r.rows_in << " out " << r.rows_out
      << " quarantined " << r.rows_quarantined << " duplicates " << r.rows_duplicate;
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lake_ = dir_.path() + "/lake";
    std::filesystem::create_directories(lake_);
    auto catalog = catalog::Catalog::Open(dir_.path() + "/basin.db", &clock_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    runner_ = std::make_unique<PipelineRunner>(catalog_.get(), lake_, &clock_, &metrics_);
    auto db = query::DuckDb::Open();
    ASSERT_TRUE(db.ok());
    writer_db_ = std::move(db).value();
  }

  // Creates raw.<name> with the given columns (and partition columns).
  catalog::TableInfo CreateRaw(const std::string& name, std::vector<catalog::Column> columns,
                               std::vector<catalog::Column> partitions = {}) {
    auto t = catalog_->CreateTable({"raw", name}, {0, std::move(columns), std::move(partitions)},
                                   "raw/" + name);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : catalog::TableInfo{};
  }

  // Writes the rows of `select_sql` as one file of raw.<name> (in `partition`, e.g.
  // "dt=2026-11-27", whose columns the select must not include) and commits it.
  int64_t AddFile(const std::string& name, const std::string& select_sql,
                  const std::string& partition = "") {
    auto table = catalog_->GetTable({"raw", name});
    EXPECT_TRUE(table.ok());
    catalog::DataFile f;
    f.partition = partition;
    f.path = "raw/" + name + "/" + (partition.empty() ? "" : partition + "/") + "f" +
             std::to_string(++files_) + ".parquet";
    auto w = query::WriteParquet(*writer_db_, select_sql, lake_ + "/" + f.path);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return 0;
    f.row_count = w->row_count;
    f.size_bytes = w->size_bytes;
    auto snapshot = catalog_->CommitAppend(table->id, {f}, std::nullopt);
    EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    return snapshot.ok() ? *snapshot : 0;
  }

  PipelineSpec Spec(const std::string& json) {
    auto spec = ParsePipelineSpec(json);
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    return spec.ok() ? *spec : PipelineSpec{};
  }

  // A run that must succeed (or find nothing new); reconciliation checked.
  RunReport MustRun(const PipelineSpec& spec) {
    auto report = runner_->Run(spec);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    if (!report.ok()) return {};
    ExpectReconciled(report->record);
    return *report;
  }

  RunReport MustReplay(const PipelineSpec& spec) {
    auto report = runner_->ReplayQuarantine(spec);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    if (!report.ok()) return {};
    ExpectReconciled(report->record);
    return *report;
  }

  // Every value as text ("NULL" for null), through the query engine analysts use (its views of
  // the current snapshots, its read-only checks).
  Rows Query(const std::string& sql) {
    Rows rows;
    if (!engine_) {
      auto engine = query::QueryEngine::Create(catalog_.get(), lake_);
      EXPECT_TRUE(engine.ok()) << engine.status().ToString();
      if (!engine.ok()) return rows;
      engine_ = std::move(engine).value();
    }
    auto result = engine_->Execute("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + "\n)");
    EXPECT_TRUE(result.ok()) << result.status().ToString() << "\n" << sql;
    if (!result.ok()) return rows;
    for (const auto& row : result->rows) {
      Row texts;
      for (const auto& v : row) texts.push_back(v.ToText());
      rows.push_back(std::move(texts));
    }
    return rows;
  }

  std::string One(const std::string& sql) {
    Rows rows = Query(sql);
    return rows.size() == 1 && rows[0].size() == 1 ? rows[0][0] : "<not one value>";
  }

  basin::test::TempDir dir_;
  std::string lake_;
  FakeClock clock_{1'795'000'000'000'000};  // 2026-11-18
  observe::MetricsRegistry metrics_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<query::QueryEngine> engine_;  // reads catalog_: declared after it
  std::unique_ptr<PipelineRunner> runner_;
  std::unique_ptr<query::DuckDb> writer_db_;
  int files_ = 0;
};

}  // namespace basin::etl::test
