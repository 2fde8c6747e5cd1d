#include "query/parquet_file_writer.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "base/file_util.h"

namespace basin::query {
namespace {

// Creates the missing folders above `dir` and makes each new name durable in its parent, so a
// file fsync()ed into a fresh partition folder cannot vanish with the folder after a crash.
Status CreateDurableDirectories(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (std::filesystem::path p = dir; !p.empty() && !std::filesystem::exists(p, ec);
       p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  BASIN_RETURN_IF_ERROR(CreateDirectories(dir.string()));
  for (const std::filesystem::path& p : missing) {
    std::filesystem::path parent = p.parent_path();
    if (parent.empty()) parent = ".";
    BASIN_RETURN_IF_ERROR(SyncDirectory(parent.string()));
  }
  return Status::Ok();
}

// DuckDB reports file system failures as IO errors inside an SqlError; a full disk must reach the
// caller as DiskFull so that ingest can push back instead of failing records.
Status WriteError(const Status& s, const std::string& path) {
  if (s.code() != ErrorCode::kSqlError) return s.WithContext("writing " + path);
  ErrorCode code = ErrorCode::kSqlError;
  if (s.message().find("No space left on device") != std::string::npos ||
      s.message().find("Disk quota exceeded") != std::string::npos) {
    code = ErrorCode::kDiskFull;
  } else if (s.message().rfind("IO Error", 0) == 0) {
    code = ErrorCode::kIoError;
  }
  return Error(code, "writing " + path + ": " + s.message());
}

}  // namespace

Result<std::unique_ptr<ParquetFileWriter>> ParquetFileWriter::Create(
    const std::vector<catalog::Column>& columns) {
  if (columns.empty()) return Error(ErrorCode::kInvalidArgument, "a Parquet file needs columns");
  std::unique_ptr<ParquetFileWriter> writer(new ParquetFileWriter());
  DuckDbOptions options;
  options.threads = 1;  // one writer per loader thread; parallelism comes from several writers
  BASIN_ASSIGN_OR_RETURN(writer->db_, DuckDb::Open(options));
  std::string sql = "CREATE TABLE buffer (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += QuoteIdentifier(columns[i].name) + " " + columns[i].type;
  }
  sql += ")";
  Status created = writer->db_->Execute(sql);
  if (!created.ok()) {
    return Error(ErrorCode::kInvalidArgument, "cannot buffer these columns: " + created.message());
  }
  BASIN_ASSIGN_OR_RETURN(writer->appender_, writer->db_->CreateAppender("", "buffer"));
  writer->columns_ = columns;
  return writer;
}

Status ParquetFileWriter::EndRow() {
  BASIN_RETURN_IF_ERROR(appender_->EndRow());
  ++buffered_rows_;
  return Status::Ok();
}

Result<WrittenFile> WriteParquet(DuckDb& db, std::string_view select_sql, const std::string& path) {
  const std::filesystem::path final_path(path);
  std::filesystem::path dir = final_path.parent_path();
  if (dir.empty()) dir = ".";
  BASIN_RETURN_IF_ERROR(CreateDurableDirectories(dir));
  const std::string tmp = path + ".tmp";
  // The newline ends any trailing "--" comment in the caller's SQL before our own text goes on.
  const std::string sql = "COPY (" + std::string(select_sql) + "\n) TO " + QuoteLiteral(tmp) +
                          " (FORMAT parquet, COMPRESSION zstd)";
  Result<QueryResult> copied = db.Query(sql);
  auto remove_tmp = [&] {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
  };
  if (!copied.ok()) {
    remove_tmp();
    return WriteError(copied.status(), path);
  }
  int64_t rows = 0;
  if (!copied->rows.empty() && !copied->rows[0].empty() &&
      copied->rows[0][0].kind == Value::Kind::kInt) {
    rows = copied->rows[0][0].i;
  }
  Status synced = SyncFile(tmp);
  if (!synced.ok()) {
    remove_tmp();
    return synced;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus(errno, "rename " + tmp);
    remove_tmp();
    return s;
  }
  BASIN_RETURN_IF_ERROR(SyncDirectory(dir.string()));
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(final_path, ec);
  if (ec) return ErrnoStatus(ec.value(), "stat " + path);
  return WrittenFile{path, rows, static_cast<int64_t>(size)};
}

Result<WrittenFile> ParquetFileWriter::Write(const std::string& path, std::string_view where,
                                             std::string_view order_by) {
  BASIN_RETURN_IF_ERROR(appender_->Flush());
  std::string select = "SELECT * FROM buffer";
  if (!where.empty()) select += " WHERE (" + std::string(where) + "\n)";
  if (!order_by.empty()) select += " ORDER BY " + std::string(order_by) + "\n";
  BASIN_ASSIGN_OR_RETURN(WrittenFile written, WriteParquet(*db_, select, path));
  if (where.empty()) {
    BASIN_RETURN_IF_ERROR(Clear());
  } else {
    // Only the rows just written leave the buffer: a loader writes one file per partition from
    // one buffer, and no row may go into two files.
    BASIN_ASSIGN_OR_RETURN(QueryResult deleted,
                           db_->Query("DELETE FROM buffer WHERE (" + std::string(where) + "\n)"));
    if (!deleted.rows.empty() && !deleted.rows[0].empty() &&
        deleted.rows[0][0].kind == Value::Kind::kInt) {
      buffered_rows_ -= deleted.rows[0][0].i;
    }
  }
  return written;
}

Status ParquetFileWriter::Clear() {
  BASIN_RETURN_IF_ERROR(appender_->Flush());
  // DELETE (rather than DROP and CREATE) keeps the appender callers hold valid; DuckDB gives the
  // memory of fully deleted row groups back.
  BASIN_RETURN_IF_ERROR(db_->Execute("DELETE FROM buffer"));
  buffered_rows_ = 0;
  return Status::Ok();
}

}  // namespace basin::query
