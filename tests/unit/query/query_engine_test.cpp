#include "query/query_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "query/parquet_file_writer.h"
#include "unit/temp_dir.h"

namespace basin::query {
namespace {

using test::TempDir;

catalog::TableSchema EventsSchema() {
  catalog::TableSchema s;
  s.columns = {{"event_id", "VARCHAR"},
               {"event_time", "TIMESTAMP"},
               {"revenue", "DECIMAL(18,2)"},
               {"items", "JSON"}};
  s.partition_columns = {{"dt", "DATE"}, {"hour", "INTEGER"}};
  return s;
}

QueryEngineOptions Options(int pool_size, int threads_per_query = 2,
                           uint64_t default_max_rows = 100'000) {
  QueryEngineOptions o;
  o.pool_size = pool_size;
  o.threads_per_query = threads_per_query;
  o.default_max_rows = default_max_rows;
  return o;
}

QueryLimits Limits(int64_t timeout_ms, uint64_t max_rows) {
  QueryLimits l;
  l.timeout_ms = timeout_ms;
  l.max_rows = max_rows;
  return l;
}

class QueryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lake_ = dir_.path() + "/lake";
    std::filesystem::create_directories(lake_);
    auto c = catalog::Catalog::Open(dir_.path() + "/basin.db");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    catalog_ = std::move(c).value();
    auto t = catalog_->CreateTable({"raw", "events"}, EventsSchema(), "raw/events");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    events_ = *t;
  }

  void StartEngine(QueryEngineOptions options = {}) {
    auto e = QueryEngine::Create(catalog_.get(), lake_, options);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }

  // Writes `rows` events (revenue 1.25 each) into one Parquet file of a partition.
  catalog::DataFile WriteEvents(
      const std::string& dt, const std::string& hour, int rows,
      const std::vector<catalog::Column>& columns = EventsSchema().columns) {
    auto w = ParquetFileWriter::Create(columns);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    for (int i = 0; i < rows; ++i) {
      Appender& a = (*w)->appender();
      a.AppendVarchar("e" + std::to_string(file_counter_) + "-" + std::to_string(i));
      a.AppendTimestampMicros(1'795'753'349'000'000 + i);
      a.AppendVarchar("1.25");
      a.AppendVarchar("[{\"sku\":\"p" + std::to_string(i) + "\"}]");
      for (size_t extra = 4; extra < columns.size(); ++extra) a.AppendVarchar("EUR");
      EXPECT_TRUE((*w)->EndRow().ok());
    }
    catalog::DataFile f;
    f.partition = "dt=" + dt + "/hour=" + hour;
    f.path = "raw/events/" + f.partition + "/part-" + std::to_string(file_counter_++) + ".parquet";
    auto written = (*w)->Write(lake_ + "/" + f.path);
    EXPECT_TRUE(written.ok()) << written.status().ToString();
    if (written.ok()) {
      f.row_count = written->row_count;
      f.size_bytes = written->size_bytes;
    }
    return f;
  }

  void Append(std::vector<catalog::DataFile> files) {
    auto s = catalog_->CommitAppend(events_.id, std::move(files), std::nullopt);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }

  QueryResult Run(std::string_view sql, QueryLimits limits = {}) {
    auto r = engine_->Execute(sql, limits);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? std::move(r).value() : QueryResult{};
  }
  int64_t Count(const std::string& table) {
    QueryResult r = Run("SELECT count(*) FROM " + table);
    return r.rows.empty() ? -1 : r.rows[0][0].i;
  }

  TempDir dir_;
  std::string lake_;
  std::unique_ptr<catalog::Catalog> catalog_;
  catalog::TableInfo events_;
  std::unique_ptr<QueryEngine> engine_;
  int file_counter_ = 0;
};

std::vector<std::string> Names(const QueryResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.columns) out.push_back(c.name + " " + c.type);
  return out;
}

TEST_F(QueryEngineTest, QueriesTablesWithHivePartitions) {
  Append({WriteEvents("2026-11-27", "04", 3), WriteEvents("2026-11-28", "13", 2)});
  StartEngine();
  QueryResult cols = Run("SELECT * FROM raw.events LIMIT 0");
  EXPECT_EQ(Names(cols), (std::vector<std::string>{"event_id VARCHAR", "event_time TIMESTAMP",
                                                   "revenue DECIMAL(18,2)", "items JSON", "dt DATE",
                                                   "hour INTEGER"}));
  QueryResult r =
      Run("SELECT dt, hour, count(*) AS n, sum(revenue) AS revenue FROM raw.events GROUP BY ALL "
          "ORDER BY ALL");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][0].s, "2026-11-27");
  EXPECT_EQ(r.rows[0][1].kind, Value::Kind::kInt);
  EXPECT_EQ(r.rows[0][1].i, 4);
  EXPECT_EQ(r.rows[0][2].i, 3);
  EXPECT_EQ(r.rows[0][3].s, "3.75");
  EXPECT_EQ(r.rows[1][0].s, "2026-11-28");
  EXPECT_EQ(r.rows[1][1].i, 13);
  EXPECT_EQ(r.rows[1][3].s, "2.50");
  // Partition pruning works through the view.
  QueryResult pruned = Run("SELECT count(*) FROM raw.events WHERE dt = DATE '2026-11-28'");
  EXPECT_EQ(pruned.rows[0][0].i, 2);
  QueryResult json = Run("SELECT items->>'$[0].sku' FROM raw.events WHERE hour = 13 ORDER BY 1");
  ASSERT_EQ(json.rows.size(), 2u);
  EXPECT_EQ(json.rows[0][0].s, "p0");
}

TEST_F(QueryEngineTest, EmptyTableHasItsColumns) {
  catalog::TableSchema s;
  s.columns = {{"session_id", "VARCHAR"}, {"revenue", "DECIMAL(18,2)"}, {"converted", "BOOLEAN"}};
  ASSERT_TRUE(catalog_->CreateTable({"curated", "sessions"}, s, "curated/sessions").ok());
  StartEngine();
  QueryResult r = Run("SELECT * FROM curated.sessions");
  EXPECT_TRUE(r.rows.empty());
  EXPECT_EQ(Names(r), (std::vector<std::string>{"session_id VARCHAR", "revenue DECIMAL(18,2)",
                                                "converted BOOLEAN"}));
  QueryResult events = Run("SELECT * FROM raw.events");
  EXPECT_TRUE(events.rows.empty());
  EXPECT_EQ(events.columns.size(), 6u);
  EXPECT_EQ(Count("raw.events"), 0);
}

TEST_F(QueryEngineTest, NextQuerySeesNewSnapshots) {
  Append({WriteEvents("2026-11-27", "04", 3)});
  StartEngine(Options(1));
  EXPECT_EQ(Count("raw.events"), 3);

  Append({WriteEvents("2026-11-27", "05", 4)});
  EXPECT_EQ(Count("raw.events"), 7);

  // Compaction: one file replaces both; the old files may then be deleted from disk.
  auto snap = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(snap.ok());
  catalog::DataFile merged = WriteEvents("2026-11-27", "04", 7);
  std::vector<int64_t> removed;
  for (const auto& f : snap->files) removed.push_back(f.id);
  ASSERT_TRUE(catalog_->CommitReplace(events_.id, removed, {merged}).ok());
  EXPECT_EQ(Count("raw.events"), 7);
  for (const auto& f : snap->files) std::filesystem::remove(lake_ + "/" + f.path);
  EXPECT_EQ(Count("raw.events"), 7);
  QueryResult hours = Run("SELECT DISTINCT hour FROM raw.events");
  ASSERT_EQ(hours.rows.size(), 1u);
  EXPECT_EQ(hours.rows[0][0].i, 4);

  // A table created after the engine started.
  catalog::TableSchema s;
  s.columns = {{"id", "BIGINT"}};
  ASSERT_TRUE(catalog_->CreateTable({"processed", "late"}, s, "processed/late").ok());
  EXPECT_EQ(Count("processed.late"), 0);
}

TEST_F(QueryEngineTest, SchemaEvolutionAddsAColumnOldFilesLack) {
  Append({WriteEvents("2026-11-27", "04", 3)});
  StartEngine(Options(1));
  EXPECT_EQ(Count("raw.events"), 3);
  catalog::TableSchema v2 = EventsSchema();
  v2.columns.push_back({"currency", "VARCHAR"});
  v2.columns[2].type = "DECIMAL(20,2)";
  ASSERT_TRUE(catalog_->EvolveSchema(events_.id, v2).ok());
  QueryResult r =
      Run("SELECT count(*), count(currency), typeof(any_value(revenue)) FROM raw.events");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].i, 3);
  EXPECT_EQ(r.rows[0][1].i, 0);
  EXPECT_EQ(r.rows[0][2].s, "DECIMAL(20,2)");

  Append({WriteEvents("2026-11-27", "05", 2, v2.columns)});
  QueryResult after = Run("SELECT currency, count(*) FROM raw.events GROUP BY ALL ORDER BY ALL");
  ASSERT_EQ(after.rows.size(), 2u);
  EXPECT_EQ(after.rows[0][0].s, "EUR");
  EXPECT_EQ(after.rows[0][1].i, 2);
  EXPECT_EQ(after.rows[1][0].kind, Value::Kind::kNull);
  EXPECT_EQ(after.rows[1][1].i, 3);
}

TEST_F(QueryEngineTest, WritesAndSettingsAreRefused) {
  Append({WriteEvents("2026-11-27", "04", 3)});
  StartEngine(Options(1));
  const std::string evil = lake_ + "/raw/events/evil.parquet";
  for (const std::string& sql :
       {std::string("CREATE TABLE t AS SELECT 1"), std::string("DROP VIEW raw.events"),
        std::string("CREATE OR REPLACE VIEW raw.events AS SELECT 1 AS x"),
        std::string("INSERT INTO raw.events SELECT * FROM raw.events"),
        "COPY (SELECT 1) TO '" + evil + "' (FORMAT parquet)",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '" + evil + "' (FORMAT parquet)",
        std::string("EXPLAIN ANALYZE CREATE OR REPLACE VIEW raw.events AS SELECT 1 AS x"),
        std::string("SET enable_external_access = true"), std::string("SET threads = 64"),
        std::string("ATTACH ':memory:' AS other"), "ATTACH '" + lake_ + "/x.db' AS x",
        std::string("INSTALL httpfs"), std::string("SELECT 1; DROP VIEW raw.events"),
        std::string("BEGIN TRANSACTION")}) {
    auto r = engine_->Execute(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().code(), ErrorCode::kAccessDenied) << sql << ": " << r.status().ToString();
  }
  EXPECT_FALSE(std::filesystem::exists(evil));
  EXPECT_FALSE(std::filesystem::exists(lake_ + "/x.db"));
  EXPECT_EQ(Count("raw.events"), 3);
  auto message = engine_->Execute("DELETE FROM raw.events");
  EXPECT_NE(message.status().message().find("DELETE"), std::string::npos)
      << message.status().message();
  // Reads that look like statements of their own are fine.
  EXPECT_EQ(Run("EXPLAIN SELECT * FROM raw.events").columns.size(), 2u);
  EXPECT_EQ(Run("DESCRIBE raw.events").rows.size(), 6u);
}

TEST_F(QueryEngineTest, FilesOutsideTheLakeAreDenied) {
  StartEngine();
  std::filesystem::create_directories(dir_.path() + "/secret");
  auto w = ParquetFileWriter::Create({{"x", "INTEGER"}});
  ASSERT_TRUE(w.ok());
  (*w)->appender().AppendInt32(7);
  ASSERT_TRUE((*w)->EndRow().ok());
  ASSERT_TRUE((*w)->Write(dir_.path() + "/secret/s.parquet").ok());
  for (const std::string& sql :
       {"SELECT * FROM read_parquet('" + dir_.path() + "/secret/s.parquet')",
        "SELECT * FROM read_parquet('" + lake_ + "/../secret/s.parquet')",
        std::string("SELECT * FROM read_csv('/etc/passwd')"),
        "SELECT * FROM glob('" + dir_.path() + "/*')"}) {
    auto r = engine_->Execute(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().code(), ErrorCode::kAccessDenied) << sql << ": " << r.status().ToString();
  }
}

TEST_F(QueryEngineTest, SqlErrorsAreTyped) {
  StartEngine();
  auto syntax = engine_->Execute("SELEC * FROM raw.events");
  EXPECT_EQ(syntax.status().code(), ErrorCode::kSqlError);
  auto table = engine_->Execute("SELECT * FROM raw.nope");
  EXPECT_EQ(table.status().code(), ErrorCode::kSqlError);
  EXPECT_NE(table.status().message().find("Catalog Error"), std::string::npos);
  auto column = engine_->Execute("SELECT nope FROM raw.events");
  EXPECT_EQ(column.status().code(), ErrorCode::kSqlError);
}

TEST_F(QueryEngineTest, LongQueriesTimeOut) {
  StartEngine(Options(1, 1));
  const auto start = std::chrono::steady_clock::now();
  auto r = engine_->Execute(
      "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range * b.range = 7",
      Limits(100, 0));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kQueryTimeout) << r.status().ToString();
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  // The database is usable by the next query, which has its own, default timeout.
  EXPECT_EQ(Count("raw.events"), 0);
  EXPECT_EQ(Run("SELECT 42").rows[0][0].i, 42);
}

TEST_F(QueryEngineTest, RowsAreCappedAtTheLimit) {
  StartEngine(Options(2, 2, 5));
  QueryResult capped = Run("SELECT * FROM range(1000)", Limits(0, 10));
  EXPECT_EQ(capped.rows.size(), 10u);
  EXPECT_TRUE(capped.truncated);
  QueryResult by_default = Run("SELECT * FROM range(1000)");
  EXPECT_EQ(by_default.rows.size(), 5u);
  EXPECT_TRUE(by_default.truncated);
  QueryResult small = Run("SELECT * FROM range(3)");
  EXPECT_EQ(small.rows.size(), 3u);
  EXPECT_FALSE(small.truncated);
}

TEST_F(QueryEngineTest, AnUnreadableTableFailsOnlyTheQueriesThatUseIt) {
  catalog::DataFile f = WriteEvents("2026-11-27", "04", 3);
  Append({f});
  catalog::TableSchema s;
  s.columns = {{"id", "BIGINT"}};
  ASSERT_TRUE(catalog_->CreateTable({"processed", "fine"}, s, "processed/fine").ok());
  std::filesystem::remove(lake_ + "/" + f.path);  // lost behind the catalog's back
  StartEngine();
  auto broken = engine_->Execute("SELECT count(*) FROM raw.events");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), ErrorCode::kSqlError);
  EXPECT_NE(broken.status().message().find("raw.events cannot be read"), std::string::npos)
      << broken.status().message();
  EXPECT_EQ(Count("processed.fine"), 0);
  // The next commit mends it.
  Append({WriteEvents("2026-11-27", "05", 2)});
  auto snap = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(catalog_->CommitReplace(events_.id, {snap->files[0].id}, {}).ok());
  EXPECT_EQ(Count("raw.events"), 2);
}

TEST_F(QueryEngineTest, ConcurrentQueriesSeeWholeCommits) {
  constexpr int kRowsPerFile = 5;
  Append({WriteEvents("2026-11-27", "04", kRowsPerFile)});
  StartEngine(Options(2, 1));
  std::vector<catalog::DataFile> pending;
  for (int i = 0; i < 10; ++i) pending.push_back(WriteEvents("2026-11-27", "05", kRowsPerFile));
  std::atomic<bool> done{false};
  std::thread committer([&] {
    for (auto& f : pending) {
      // Two files per commit: a reader must never see one without the other.
      catalog::DataFile g = f;
      g.path += ".twin.parquet";
      std::filesystem::copy_file(lake_ + "/" + f.path, lake_ + "/" + g.path);
      EXPECT_TRUE(catalog_->CommitAppend(events_.id, {f, g}, std::nullopt).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    done = true;
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!done.load()) {
        auto r = engine_->Execute("SELECT count(*) FROM raw.events");
        if (!r.ok()) {
          ++failures;
          continue;
        }
        const int64_t n = r->rows[0][0].i;
        if ((n - kRowsPerFile) % (2 * kRowsPerFile) != 0 || n < last) ++failures;
        last = n;
      }
    });
  }
  committer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count("raw.events"), kRowsPerFile + 10 * 2 * kRowsPerFile);
}

TEST(QueryEngineCreateTest, RejectsBadOptions) {
  TempDir dir;
  auto c = catalog::Catalog::Open(dir.path() + "/basin.db");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(QueryEngine::Create(nullptr, dir.path()).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(QueryEngine::Create(c->get(), dir.path(), Options(0)).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(QueryEngine::Create(c->get(), dir.path(),
                                [] {
                                  QueryEngineOptions o;
                                  o.memory_limit = "lots";
                                  return o;
                                }())
                .status()
                .code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace basin::query
