#include "query/parquet_file_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "unit/temp_dir.h"

namespace basin::query {
namespace {

using test::TempDir;

std::vector<catalog::Column> Columns() {
  return {
      {"id", "BIGINT"},    {"name", "VARCHAR"}, {"ts", "TIMESTAMP"}, {"amount", "DECIMAL(18,2)"},
      {"payload", "JSON"}, {"d", "DATE"},       {"flag", "BOOLEAN"}, {"score", "DOUBLE"}};
}

void AppendRow(ParquetFileWriter& w, int64_t id) {
  Appender& a = w.appender();
  a.AppendInt64(id);
  a.AppendVarchar("name " + std::to_string(id));
  a.AppendTimestampMicros(1'795'753'349'123'000 + id * 1'000'000);
  a.AppendVarchar(std::to_string(id) + ".25");  // text into DECIMAL: DuckDB converts exactly
  a.AppendVarchar("{\"id\":" + std::to_string(id) + "}");
  a.AppendDate(20'784);
  a.AppendBool(id % 2 == 0);
  a.AppendDouble(static_cast<double>(id) / 4);
  Status s = w.EndRow();
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// Reads a Parquet file back with a DuckDB of its own.
QueryResult ReadBack(const std::string& path, const std::string& select = "*",
                     const std::string& order = "id") {
  auto db = DuckDb::Open();
  EXPECT_TRUE(db.ok());
  auto r = (*db)->Query("SELECT " + select + " FROM read_parquet(" + QuoteLiteral(path) +
                        ", hive_partitioning=false)" + (order.empty() ? "" : " ORDER BY " + order));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : QueryResult{};
}

std::vector<std::string> Texts(const QueryResult& r, size_t col) {
  std::vector<std::string> out;
  for (const auto& row : r.rows) out.push_back(row[col].ToText());
  return out;
}

TEST(ParquetFileWriterTest, WritesAFileDuckDbReadsBack) {
  TempDir dir;
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (int64_t id = 1; id <= 3; ++id) AppendRow(**w, id);
  EXPECT_EQ((*w)->buffered_rows(), 3);

  const std::string path = dir.path() + "/raw/t/dt=2026-11-27/hour=04/part-0.parquet";
  auto written = (*w)->Write(path);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->path, path);
  EXPECT_EQ(written->row_count, 3);
  EXPECT_EQ(written->size_bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ((*w)->buffered_rows(), 0);

  QueryResult r = ReadBack(path);
  ASSERT_EQ(r.rows.size(), 3u);
  std::vector<std::string> types;
  for (const auto& c : r.columns) types.push_back(c.type);
  EXPECT_EQ(types, (std::vector<std::string>{"BIGINT", "VARCHAR", "TIMESTAMP", "DECIMAL(18,2)",
                                             "JSON", "DATE", "BOOLEAN", "DOUBLE"}));
  EXPECT_EQ(Texts(r, 0), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(Texts(r, 1), (std::vector<std::string>{"name 1", "name 2", "name 3"}));
  EXPECT_EQ(Texts(r, 2),
            (std::vector<std::string>{"2026-11-27 04:22:30.123", "2026-11-27 04:22:31.123",
                                      "2026-11-27 04:22:32.123"}));
  EXPECT_EQ(Texts(r, 3), (std::vector<std::string>{"1.25", "2.25", "3.25"}));
  EXPECT_EQ(Texts(r, 4), (std::vector<std::string>{"{\"id\":1}", "{\"id\":2}", "{\"id\":3}"}));
  EXPECT_EQ(Texts(r, 5), (std::vector<std::string>{"2026-11-27", "2026-11-27", "2026-11-27"}));
  EXPECT_EQ(Texts(r, 6), (std::vector<std::string>{"false", "true", "false"}));
  EXPECT_EQ(Texts(r, 7), (std::vector<std::string>{"0.25", "0.5", "0.75"}));

  // zstd, as the lake promises.
  auto db = DuckDb::Open();
  auto codec =
      (*db)->Query("SELECT DISTINCT compression FROM parquet_metadata(" + QuoteLiteral(path) + ")");
  ASSERT_TRUE(codec.ok()) << codec.status().ToString();
  ASSERT_EQ(codec->rows.size(), 1u);
  EXPECT_EQ(codec->rows[0][0].s, "ZSTD");
}

TEST(ParquetFileWriterTest, WhereAndOrderSelectRowsWhichLeaveTheBuffer) {
  TempDir dir;
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok());
  for (int64_t id = 9; id >= 0; --id) AppendRow(**w, id);
  const std::string even = dir.path() + "/even.parquet";
  auto written = (*w)->Write(even, "id % 2 = 0 -- even only", "id DESC");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->row_count, 5);
  // Insertion order is the file order: read without sorting.
  QueryResult r = ReadBack(even, "id", "");
  EXPECT_EQ(Texts(r, 0), (std::vector<std::string>{"8", "6", "4", "2", "0"}));

  // The odd rows are still buffered; the even ones are not.
  EXPECT_EQ((*w)->buffered_rows(), 5);
  const std::string odd = dir.path() + "/odd.parquet";
  written = (*w)->Write(odd, "id % 2 = 1", "id");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->row_count, 5);
  EXPECT_EQ(Texts(ReadBack(odd, "id", ""), 0), (std::vector<std::string>{"1", "3", "5", "7", "9"}));
  EXPECT_EQ((*w)->buffered_rows(), 0);
  const std::string nothing_left = dir.path() + "/none.parquet";
  written = (*w)->Write(nothing_left, "true");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->row_count, 0);

  // Without a WHERE the whole buffer goes.
  AppendRow(**w, 100);
  AppendRow(**w, 101);
  const std::string next = dir.path() + "/next.parquet";
  written = (*w)->Write(next);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->row_count, 2);
  EXPECT_EQ((*w)->buffered_rows(), 0);
  AppendRow(**w, 102);
  written = (*w)->Write(dir.path() + "/last.parquet");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->row_count, 1);
}

// What a loader does: one buffer, one file per partition, then Clear after the commit.
TEST(ParquetFileWriterTest, OneFilePerPartitionFromOneBuffer) {
  TempDir dir;
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok());
  for (int64_t id = 0; id < 30; ++id) AppendRow(**w, id);  // ts one second apart
  const int64_t second = 1'795'753'349'123'000 + 10 * 1'000'000;
  int64_t total = 0;
  for (const auto& [name, where] : std::vector<std::pair<std::string, std::string>>{
           {"a", "ts < make_timestamp(" + std::to_string(second) + ")"},
           {"b", "ts >= make_timestamp(" + std::to_string(second) + ")"}}) {
    auto written = (*w)->Write(dir.path() + "/" + name + ".parquet", where, "ts");
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    total += written->row_count;
  }
  EXPECT_EQ(total, 30);
  EXPECT_EQ(Texts(ReadBack(dir.path() + "/a.parquet", "count(*)", ""), 0),
            (std::vector<std::string>{"10"}));
  EXPECT_EQ(Texts(ReadBack(dir.path() + "/b.parquet", "count(*)", ""), 0),
            (std::vector<std::string>{"20"}));
  EXPECT_TRUE((*w)->Clear().ok());
  EXPECT_EQ((*w)->buffered_rows(), 0);
}

TEST(ParquetFileWriterTest, ClearDropsBufferedRows) {
  TempDir dir;
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok());
  AppendRow(**w, 1);
  ASSERT_TRUE((*w)->Clear().ok());
  EXPECT_EQ((*w)->buffered_rows(), 0);
  AppendRow(**w, 2);
  auto written = (*w)->Write(dir.path() + "/f.parquet");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->row_count, 1);
  EXPECT_EQ(Texts(ReadBack(dir.path() + "/f.parquet", "id"), 0), (std::vector<std::string>{"2"}));
}

TEST(ParquetFileWriterTest, BadRowsDoNotReachTheFile) {
  TempDir dir;
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok());
  AppendRow(**w, 1);
  Appender& a = (*w)->appender();
  a.AppendInt64(2);
  a.AppendVarchar("x");
  a.AppendTimestampMicros(0);
  a.AppendVarchar("12.345.6");  // not a decimal
  Status bad = (*w)->EndRow();
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ((*w)->buffered_rows(), 1);
  AppendRow(**w, 4);
  auto written = (*w)->Write(dir.path() + "/f.parquet");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->row_count, 2);
  EXPECT_EQ(Texts(ReadBack(dir.path() + "/f.parquet", "id"), 0),
            (std::vector<std::string>{"1", "4"}));
}

TEST(ParquetFileWriterTest, FailedWritesKeepTheBufferAndLeaveNoFile) {
  TempDir dir;
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok());
  AppendRow(**w, 1);
  AppendRow(**w, 2);

  auto bad_where = (*w)->Write(dir.path() + "/a.parquet", "no_such_column = 1");
  ASSERT_FALSE(bad_where.ok());
  EXPECT_EQ(bad_where.status().code(), ErrorCode::kSqlError);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/a.parquet"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/a.parquet.tmp"));

  // A folder that cannot be created: its parent is a file.
  { std::ofstream(dir.path() + "/plain-file") << "x"; }
  auto bad_dir = (*w)->Write(dir.path() + "/plain-file/sub/a.parquet");
  ASSERT_FALSE(bad_dir.ok());
  EXPECT_EQ(bad_dir.status().code(), ErrorCode::kIoError) << bad_dir.status().ToString();
  EXPECT_EQ((*w)->buffered_rows(), 2);

  auto good = (*w)->Write(dir.path() + "/b.parquet");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->row_count, 2);
}

TEST(ParquetFileWriterTest, RejectsUnknownColumnTypes) {
  auto bad = ParquetFileWriter::Create({{"a", "NOT_A_TYPE"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParquetFileWriter::Create({}).status().code(), ErrorCode::kInvalidArgument);
}

TEST(ParquetFileWriterTest, BufferIsQueryableThroughDb) {
  auto w = ParquetFileWriter::Create(Columns());
  ASSERT_TRUE(w.ok());
  for (int64_t id = 1; id <= 4; ++id) AppendRow(**w, id);
  ASSERT_TRUE((*w)->appender().Flush().ok());
  auto r = (*w)->db().Query("SELECT sum(amount) FROM buffer");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows[0][0].s, "11.00");
}

}  // namespace
}  // namespace basin::query
