#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

// The only headers in Basin that may include duckdb.h are the .cpp files of src/query.
struct _duckdb_database;
struct _duckdb_connection;
struct _duckdb_appender;

namespace basin::query {

// One cell of a query result.
struct Value {
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kNumberText };
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;  // kString: text; kNumberText: an exact number as text (DECIMAL, HUGEINT, …)

  static Value Null() { return {}; }
  static Value Bool(bool v) {
    Value x;
    x.kind = Kind::kBool;
    x.b = v;
    return x;
  }
  static Value Int(int64_t v) {
    Value x;
    x.kind = Kind::kInt;
    x.i = v;
    return x;
  }
  static Value Double(double v) {
    Value x;
    x.kind = Kind::kDouble;
    x.d = v;
    return x;
  }
  static Value String(std::string v) {
    Value x;
    x.kind = Kind::kString;
    x.s = std::move(v);
    return x;
  }
  static Value NumberText(std::string v) {
    Value x;
    x.kind = Kind::kNumberText;
    x.s = std::move(v);
    return x;
  }
  // Text as DuckDB's CLI prints it ("NULL" for null).
  std::string ToText() const;
};

struct ResultColumn {
  std::string name;
  std::string type;  // DuckDB's type name, e.g. "VARCHAR", "BIGINT", "TIMESTAMP", "DECIMAL(18,2)"
};

struct QueryResult {
  std::vector<ResultColumn> columns;
  std::vector<std::vector<Value>> rows;
  bool truncated = false;  // more rows than the limit asked for
};

struct DuckDbOptions {
  int threads = 0;           // 0: DuckDB's default (cores)
  std::string memory_limit;  // e.g. "1GB"; empty: DuckDB's default
  bool preserve_insertion_order = true;
};

class Appender;

// An in-memory DuckDB database with one connection (RAII over the C API). Not thread-safe except
// Interrupt(), which may be called from another thread to stop the running query.
//
// Errors come back as Status: SqlError with DuckDB's message (its error type first, e.g.
// "Catalog Error: Table with name x does not exist!"), QueryCancelled when interrupted,
// QueryMemoryLimit when out of memory.
class DuckDb {
 public:
  static Result<std::unique_ptr<DuckDb>> Open(const DuckDbOptions& options = {});
  ~DuckDb();
  DuckDb(const DuckDb&) = delete;
  DuckDb& operator=(const DuckDb&) = delete;

  // Runs one or more statements, discarding results.
  Status Execute(std::string_view sql);
  // Runs a query and materialises up to `max_rows` rows (truncated is set if there were more).
  Result<QueryResult> Query(std::string_view sql, uint64_t max_rows = UINT64_MAX);
  // Creates an appender on an existing table (schema may be "" for main).
  Result<std::unique_ptr<Appender>> CreateAppender(const std::string& schema,
                                                   const std::string& table);
  // Checks, without running anything, that every statement in `sql` only reads: SELECT (with
  // DESCRIBE, SHOW, SUMMARIZE, PRAGMA queries), or EXPLAIN of a SELECT sent alone. AccessDenied
  // names the first statement that is not allowed; SqlError if a statement does not parse or bind.
  Status CheckReadOnly(std::string_view sql);
  void Interrupt();

 private:
  DuckDb() = default;
  _duckdb_database* db_ = nullptr;
  _duckdb_connection* conn_ = nullptr;
};

// Appends rows to a table fast (DuckDB's appender). Call one Append* per column in order, then
// EndRow(). Not thread-safe.
class Appender {
 public:
  ~Appender();
  void AppendNull();
  void AppendVarchar(std::string_view v);
  void AppendBool(bool v);
  void AppendInt32(int32_t v);
  void AppendInt64(int64_t v);
  void AppendDouble(double v);
  void AppendTimestampMicros(int64_t epoch_micros);
  void AppendDate(int32_t days_since_epoch);
  // InvalidArgument if the row had the wrong number or types of values.
  Status EndRow();
  Status Flush();

 private:
  friend class DuckDb;
  Appender(_duckdb_connection* conn, std::string quoted_table, _duckdb_appender* a,
           uint64_t column_count)
      : conn_(conn),
        quoted_table_(std::move(quoted_table)),
        appender_(a),
        column_count_(column_count) {}
  // Counts a value into the current row, or records why it could not be appended.
  void AfterAppend(bool ok);
  // DuckDB's appender cannot drop a half-built row (and loses every unflushed row if it is
  // destroyed mid-row), so a bad row is completed with defaults, flushed and deleted again.
  Status DiscardRow();
  _duckdb_connection* conn_;
  std::string quoted_table_;  // "schema"."table", for DiscardRow
  _duckdb_appender* appender_;
  uint64_t column_count_;
  uint64_t column_ = 0;  // values appended to the current row
  Status first_error_;
  Status broken_;  // a failure that leaves the appender unusable (a failed flush)
};

// Quotes an identifier for SQL: "a""b".
std::string QuoteIdentifier(std::string_view name);
// Quotes a string literal for SQL: 'it''s'.
std::string QuoteLiteral(std::string_view value);

}  // namespace basin::query
