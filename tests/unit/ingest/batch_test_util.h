#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "base/clock.h"
#include "catalog/catalog.h"
#include "ingest/batch_loader.h"
#include "query/query_engine.h"
#include "unit/temp_dir.h"

namespace basin::ingest::test {

// The corpus of tricky files: tests/data/batch.
inline std::string BatchData(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "data" /
          "batch" / name)
      .string();
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A catalog, a lake and a BatchLoader in a temp folder; results are checked through real DuckDB
// over the tables' snapshots.
class BatchFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    lake_ = dir_.path() + "/lake";
    std::filesystem::create_directories(lake_);
    auto catalog = catalog::Catalog::Open(dir_.path() + "/basin.db", &clock_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    loader_ = std::make_unique<BatchLoader>(catalog_.get(), lake_, limits_, &clock_);
  }

  Result<LoadReport> LoadFile(const std::string& path, const std::string& table,
                              BatchFileOptions options = {}, std::string original_name = "") {
    BatchSource source;
    source.path = path;
    source.original_name =
        original_name.empty() ? std::filesystem::path(path).filename().string() : original_name;
    source.table = {"raw", table};
    source.source = "cli";
    source.options = std::move(options);
    return loader_->Load(source);
  }

  Result<LoadReport> LoadData(const std::string& name, const std::string& table,
                              BatchFileOptions options = {}) {
    return LoadFile(BatchData(name), table, std::move(options));
  }

  // Runs `sql` through the query engine analysts use (its views of the current snapshots).
  query::QueryResult Query(const std::string& sql) {
    if (!engine_) {
      auto engine = query::QueryEngine::Create(catalog_.get(), lake_);
      EXPECT_TRUE(engine.ok()) << engine.status().ToString();
      if (!engine.ok()) return {};
      engine_ = std::move(engine).value();
    }
    auto result = engine_->Execute(sql);
    EXPECT_TRUE(result.ok()) << sql << ": " << result.status().ToString();
    return result.ok() ? std::move(result).value() : query::QueryResult{};
  }

  // The rows of a query as text, cells separated by '|', rows by '\n'.
  std::string Rows(const std::string& sql) {
    std::string out;
    for (const auto& row : Query(sql).rows) {
      for (size_t i = 0; i < row.size(); ++i) out += (i > 0 ? "|" : "") + row[i].ToText();
      out += "\n";
    }
    return out;
  }

  // "name TYPE, ..." of a query's result columns.
  std::string Types(const std::string& sql) {
    std::string out;
    for (const auto& c : Query(sql + " LIMIT 0").columns) {
      out += (out.empty() ? "" : ", ") + c.name + " " + c.type;
    }
    return out;
  }

  int64_t Count(const std::string& table) {
    auto r = Query("SELECT count(*) FROM " + table);
    return r.rows.empty() ? -1 : r.rows[0][0].i;
  }

  std::string WriteTemp(const std::string& name, const std::string& bytes) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Regular files under the lake folder `relative` (0 if it does not exist).
  int FilesUnder(const std::string& relative) {
    std::error_code ec;
    int n = 0;
    const auto root = std::filesystem::path(lake_) / relative;
    if (!std::filesystem::exists(root, ec)) return 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root, ec)) {
      if (e.is_regular_file()) ++n;
    }
    return n;
  }

  basin::test::TempDir dir_;
  std::string lake_;
  FakeClock clock_{1'795'000'000'000'000};  // 2026-11-18
  BatchLimits limits_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<query::QueryEngine> engine_;  // reads catalog_: declared after it
  std::unique_ptr<BatchLoader> loader_;
};

}  // namespace basin::ingest::test
