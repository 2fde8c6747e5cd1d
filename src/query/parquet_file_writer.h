#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "query/duck_db.h"

namespace basin::query {

struct WrittenFile {
  std::string path;  // as given to Write
  int64_t row_count = 0;
  int64_t size_bytes = 0;
};

// Writes the rows of `select_sql` (run on `db`) to a Parquet file (zstd) at `path` durably:
// written to `<path>.tmp`, fsync()ed, renamed, the folder fsync()ed (and any new folders above it
// made durable). A full disk is DiskFull, other file system failures IoError, bad SQL SqlError;
// on failure no file is left at `path` or `<path>.tmp`.
Result<WrittenFile> WriteParquet(DuckDb& db, std::string_view select_sql, const std::string& path);

// Buffers typed rows in an in-memory DuckDB table and writes them out as a Parquet file (zstd).
// This is the path by which Basin code writes Parquet: the loader and ETL use it. Files are
// written to `<path>.tmp`, fsync()ed, renamed to `path`, and the folder is fsync()ed, so a file
// that exists under its final name is complete. Not thread-safe; one per writer.
class ParquetFileWriter {
 public:
  // InvalidArgument if a column type is not one DuckDB knows.
  static Result<std::unique_ptr<ParquetFileWriter>> Create(
      const std::vector<catalog::Column>& columns);

  // Append one value per column, in the order of `columns`, then EndRow().
  Appender& appender() { return *appender_; }
  int64_t buffered_rows() const { return buffered_rows_; }
  Status EndRow();

  // Writes the buffered rows (optionally only those matching `where`, ordered by `order_by`,
  // both SQL over the columns; empty = all, in insertion order) to `path` and takes them out of
  // the buffer: rows `where` leaves out stay for a later Write or Clear. On failure the buffer is
  // unchanged.
  Result<WrittenFile> Write(const std::string& path, std::string_view where = {},
                            std::string_view order_by = {});
  // Clears the buffer without writing.
  Status Clear();

  // The underlying database: for statements over the buffered rows (table name "buffer").
  DuckDb& db() { return *db_; }

 private:
  ParquetFileWriter() = default;
  std::unique_ptr<DuckDb> db_;
  std::unique_ptr<Appender> appender_;
  std::vector<catalog::Column> columns_;
  int64_t buffered_rows_ = 0;
};

}  // namespace basin::query
