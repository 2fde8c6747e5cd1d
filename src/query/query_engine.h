#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "query/duck_db.h"

namespace basin::query {

struct QueryEngineOptions {
  int pool_size = 2;  // databases kept for concurrent queries
  int threads_per_query = 2;
  std::string memory_limit = "1GB";  // per query database
  int64_t default_timeout_ms = 30'000;
  uint64_t default_max_rows = 100'000;
};

struct QueryLimits {
  int64_t timeout_ms = 0;  // 0: the engine's default
  uint64_t max_rows = 0;   // 0: the engine's default
};

// Runs SQL over the lake. Each query takes the catalog's current snapshot of every table at its
// start and reads exactly those files to its end: each table is a view `<zone>.<table>` over
// read_parquet([files], hive_partitioning) with the table's schema (an empty table is an empty
// view with the right columns). A query that runs past its timeout is interrupted and fails with
// QueryTimeout; other failures are SqlError (with DuckDB's message), QueryMemoryLimit.
//
// Statements that write (CREATE, INSERT, COPY, ATTACH, …) are refused with AccessDenied: the
// lake changes only through Basin's commits.
//
// Thread-safe: up to pool_size queries run at once, more wait for a free database.
// A SELECT of a table's columns (with the schema's types; a column a file lacks reads as NULL;
// partition columns from the Hive folder names) over exactly `files`, whose paths are relative to
// `lake_root`. The views of QueryEngine are this over a snapshot's files; ETL uses it to read the
// files that are new since its last run. Column types come from the catalog (validated there),
// paths are quoted as literals.
std::string TableScanSql(const catalog::TableSchema& schema,
                         const std::vector<catalog::DataFile>& files, const std::string& lake_root);

class QueryEngine {
 public:
  static Result<std::unique_ptr<QueryEngine>> Create(catalog::Catalog* catalog,
                                                     std::string lake_root,
                                                     QueryEngineOptions options = {});
  ~QueryEngine();

  Result<QueryResult> Execute(std::string_view sql, const QueryLimits& limits = {});

 private:
  struct Impl;
  explicit QueryEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::query
