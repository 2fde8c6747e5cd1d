#include "ingest/batch_loader.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/hash.h"
#include "unit/ingest/batch_test_util.h"

namespace basin::ingest::test {
namespace {

namespace fs = std::filesystem;

class BatchCsvTest : public BatchFixture {};

TEST_F(BatchCsvTest, QuotedNewlinesAndQuotesStayInTheValue) {
  auto report = LoadData("quoted_newlines.csv", "notes");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->rows_loaded, 3);
  EXPECT_EQ(report->rows_quarantined, 0);
  EXPECT_EQ(report->format, "csv");
  EXPECT_EQ(report->reader, "read_csv");
  EXPECT_EQ(report->encoding, "utf-8");
  EXPECT_EQ(Types("SELECT id, comment, amount FROM raw.notes"),
            "id BIGINT, comment VARCHAR, amount BIGINT");
  EXPECT_EQ(Rows("SELECT comment FROM raw.notes ORDER BY id"),
            "first line\nsecond line\nhas \"quotes\", and comma\nplain\n");
}

TEST_F(BatchCsvTest, BomAndSemicolonsAreSniffed) {
  auto report = LoadData("bom_semicolon_int.csv", "stock");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.stock"),
            "product_id VARCHAR, name VARCHAR, qty BIGINT");
  EXPECT_EQ(Rows("SELECT product_id, qty FROM raw.stock ORDER BY 1"), "p1|3\np2|4\n");
}

TEST_F(BatchCsvTest, DecimalCommaIsText) {
  // "12,5" is not a recognised number format: the column stays text rather than guessing.
  auto report = LoadData("bom_semicolon.csv", "lamps");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Rows("SELECT price FROM raw.lamps ORDER BY product_id"), "12,5\n40\n");
  EXPECT_EQ(Types("SELECT price FROM raw.lamps"), "price VARCHAR");
}

TEST_F(BatchCsvTest, TabSeparated) {
  auto report = LoadData("tab.tsv", "inventory");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Rows("SELECT sku, color, stock FROM raw.inventory ORDER BY sku"),
            "A1|red|5\nB2|blue|0\n");
}

TEST_F(BatchCsvTest, ExplicitDelimiterAndNoHeader) {
  const std::string path = WriteTemp("pairs.txt", "1|a\n2|b\n");
  BatchFileOptions options;
  options.delimiter = "|";
  options.header = "no";
  auto report = LoadFile(path, "pairs", options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->rows_loaded, 2);
  EXPECT_EQ(Rows("SELECT column0, column1 FROM raw.pairs ORDER BY 1"), "1|a\n2|b\n");
}

TEST_F(BatchCsvTest, NumericFirstRowIsDataWhenHeaderIsAuto) {
  auto report = LoadFile(WriteTemp("numbers.csv", "1,2\n3,4\n"), "numbers");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->rows_loaded, 2);
  EXPECT_EQ(Rows("SELECT column0, column1 FROM raw.numbers ORDER BY 1"), "1|2\n3|4\n");
}

TEST_F(BatchCsvTest, TextHeaderOverTextAndBooleansIsFound) {
  // DuckDB's sniffer alone takes "k,f" for data here.
  auto report = LoadFile(WriteTemp("flags.csv", "k,f\na,true\n"), "flags");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Rows("SELECT k, f FROM raw.flags"), "a|true\n");
}

TEST_F(BatchCsvTest, ProgressReachesTheFileSize) {
  uint64_t last_done = 0;
  uint64_t last_total = 0;
  BatchSource source;
  source.path = BatchData("ragged.csv");
  source.original_name = "ragged.csv";
  source.table = {"raw", "progress"};
  auto report = loader_->Load(source, [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(last_total, report->bytes);
  EXPECT_EQ(last_done, report->bytes);
}

TEST_F(BatchCsvTest, HeaderOnlyIsEmptyInputAndCreatesNothing) {
  auto report = LoadData("header_only.csv", "empty_orders");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kEmptyInput);
  EXPECT_EQ(catalog_->GetTable({"raw", "empty_orders"}).status().code(), ErrorCode::kTableNotFound);
  EXPECT_EQ(FilesUnder("raw"), 0);
}

TEST_F(BatchCsvTest, RaggedRowsGoToQuarantineWithTheirLine) {
  auto report = LoadData("ragged.csv", "ragged");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->rows_loaded, 2);
  EXPECT_EQ(report->rows_quarantined, 2);
  EXPECT_EQ(report->rows_loaded + report->rows_quarantined, 4);  // the file's data rows
  EXPECT_EQ(Rows("SELECT order_id, total_amount FROM raw.ragged ORDER BY 1"), "o1|10.5\no4|3.0\n");
  EXPECT_EQ(Rows("SELECT record, rule, line, source_file = '" + report->sha256 +
                 "', original_name, run_id = '" + report->load_id +
                 "' FROM quarantine.ragged ORDER BY line"),
            "o2,shipped|csv_parse|3|true|ragged.csv|true\n"
            "o3,paid,7.25,extra|csv_parse|4|true|ragged.csv|true\n");
  EXPECT_EQ(Rows("SELECT count(*) FROM quarantine.ragged WHERE reason LIKE '%Expected Number of "
                 "Columns%'"),
            "2\n");
}

TEST_F(BatchCsvTest, QuarantineLinesArePhysicalLinesAfterQuotedNewlines) {
  auto report = LoadFile(WriteTemp("m.csv", "a,b\n\"x\ny\",1\n2\n\n3,4\n5,6,7\n"), "multi");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->rows_loaded, 2);
  EXPECT_EQ(Rows("SELECT line, record FROM quarantine.multi ORDER BY line"), "4|2\n7|5,6,7\n");
}

TEST_F(BatchCsvTest, Latin1BytesBecomeUtf8Text) {
  auto report = LoadData("latin1.csv", "customers");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->encoding, "latin-1");
  EXPECT_EQ(Rows("SELECT city FROM raw.customers ORDER BY customer_id"),
            "M\xC3\xBCnchen\nS\xC3\xA3o Paulo\nParis\n");
}

TEST_F(BatchCsvTest, DatesAndTimestampsInEveryRecognisedFormat) {
  auto report = LoadData("timestamps.csv", "times");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Types("SELECT * EXCLUDE (id, _source_file, _loaded_at) FROM raw.times"),
            "d_dash DATE, d_slash DATE, ts_t TIMESTAMP, ts_space TIMESTAMP, ts_z TIMESTAMP, "
            "ts_offset TIMESTAMP, ts_minutes TIMESTAMP, ts_fraction TIMESTAMP");
  EXPECT_EQ(Rows("SELECT * EXCLUDE (id, _source_file, _loaded_at) FROM raw.times ORDER BY id"),
            "2026-11-27|2026-11-27|2026-11-27 04:22:29|2026-11-27 04:22:29|2026-11-27 "
            "04:22:29|2026-11-27 04:22:29|2026-11-27 04:22:00|2026-11-27 04:22:29.123456\n"
            "2025-01-31|2025-01-31|2025-01-31 23:59:59|2025-01-31 23:59:59|2025-01-31 "
            "23:59:59|2025-01-31 23:59:59|2025-01-31 23:59:00|2025-01-31 23:59:59.5\n");
}

TEST_F(BatchCsvTest, ScalarTypesNullabilityAndLeadingZeros) {
  auto report = LoadData("scalars.csv", "scalars");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.scalars"),
            "id BIGINT, flag BOOLEAN, count BIGINT, ratio DOUBLE, zip VARCHAR, note VARCHAR");
  EXPECT_EQ(Rows("SELECT flag, count, ratio, zip, note FROM raw.scalars ORDER BY id"),
            "true|5|0.5|01234|NULL\nfalse|-7|1000.0|10115|x\nNULL|NULL|NULL|NULL|NULL\n");
  ASSERT_EQ(report->columns.size(), 6u);
  EXPECT_FALSE(report->columns[0].nullable);               // id
  EXPECT_TRUE(report->columns[1].nullable);                // flag
  EXPECT_EQ(report->columns[4].inferred_type, "VARCHAR");  // zip keeps its zero
}

TEST_F(BatchCsvTest, LineageColumnsAndBatchLoadsRow) {
  auto report = LoadData("orders_small.csv", "orders");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Rows("SELECT DISTINCT _source_file = '" + report->sha256 +
                 "', CAST(_loaded_at AS VARCHAR) FROM raw.orders"),
            "true|2026-11-18 11:06:40\n");
  EXPECT_EQ(Rows("SELECT load_id = '" + report->load_id +
                 "', table_name, original_name, source, format, encoding, bytes, rows_loaded, "
                 "rows_quarantined, schema_version, status, error FROM ops.batch_loads"),
            "true|raw.orders|orders_small.csv|cli|csv|utf-8|34|2|0|1|loaded|NULL\n");
}

TEST_F(BatchCsvTest, OriginalIsKeptByContentHash) {
  auto report = LoadData("orders_small.csv", "orders");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::string bytes = ReadAll(BatchData("orders_small.csv"));
  EXPECT_EQ(report->sha256, HexEncode(Sha256(bytes)));
  EXPECT_EQ(report->kept_at, "raw/_files/orders/" + report->sha256 + ".csv");
  EXPECT_EQ(ReadAll(lake_ + "/" + report->kept_at), bytes);
}

TEST_F(BatchCsvTest, SameFileTwiceIsLoadedOnce) {
  auto first = LoadData("orders_small.csv", "orders");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->already_loaded);
  const std::string copy = WriteTemp("renamed.csv", ReadAll(BatchData("orders_small.csv")));
  auto second = LoadFile(copy, "orders");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->already_loaded);
  EXPECT_EQ(second->sha256, first->sha256);
  EXPECT_EQ(Count("raw.orders"), 2);
  EXPECT_EQ(Count("ops.batch_loads"), 1);
  // The same bytes may still go to another table.
  auto other = LoadFile(copy, "orders_copy");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_FALSE(other->already_loaded);
}

TEST_F(BatchCsvTest, CrashBeforeCommitLeavesNoTableDataAndOrphansAreRemoved) {
  loader_->SetBeforeCommitHookForTest(
      [] { return Error(ErrorCode::kIoError, "simulated crash before the commit"); });
  auto report = LoadData("ragged.csv", "crashy");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kIoError);
  // Files were written but nothing is visible.
  EXPECT_GT(FilesUnder("raw/crashy"), 0);
  EXPECT_EQ(Count("raw.crashy"), 0);
  EXPECT_EQ(Count("quarantine.crashy"), 0);
  EXPECT_EQ(Count("ops.batch_loads"), 0);
  ASSERT_TRUE(loader_->RemoveOrphans().ok());
  EXPECT_EQ(FilesUnder("raw/crashy"), 0);
  EXPECT_EQ(FilesUnder("quarantine/crashy"), 0);
  EXPECT_EQ(FilesUnder("ops/batch_loads"), 0);
  // The file was never loaded: it loads now.
  loader_->SetBeforeCommitHookForTest({});
  auto again = LoadData("ragged.csv", "crashy");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->already_loaded);
  EXPECT_EQ(Count("raw.crashy"), 2);
  ASSERT_TRUE(loader_->RemoveOrphans().ok());  // committed files are not orphans
  EXPECT_EQ(Count("raw.crashy"), 2);
  EXPECT_EQ(Count("quarantine.crashy"), 2);
}

TEST_F(BatchCsvTest, LostRaceToTheSameFileIsAlreadyLoaded) {
  // A second loader (another process) commits the same file while this one is about to commit.
  BatchLoader other(catalog_.get(), lake_, limits_, &clock_);
  loader_->SetBeforeCommitHookForTest([&]() -> Status {
    BatchSource source;
    source.path = BatchData("ragged.csv");
    source.original_name = "ragged.csv";
    source.table = {"raw", "race"};
    auto theirs = other.Load(source);
    if (!theirs.ok()) return theirs.status();
    EXPECT_FALSE(theirs->already_loaded);
    return Status::Ok();
  });
  auto ours = LoadData("ragged.csv", "race");
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  EXPECT_TRUE(ours->already_loaded);
  EXPECT_EQ(Count("raw.race"), 2);
  EXPECT_EQ(Count("quarantine.race"), 2);
  EXPECT_EQ(Count("ops.batch_loads"), 1);
  // The loser removed its own files: only the winner's remain.
  EXPECT_EQ(FilesUnder("raw/race"), 1);
  EXPECT_EQ(FilesUnder("quarantine/race"), 1);
}

TEST_F(BatchCsvTest, DeclaredSchemaIsKeptAndValuesCastToIt) {
  catalog::TableSchema declared{0, {{"order_id", "VARCHAR"}, {"total_amount", "VARCHAR"}}, {}};
  ASSERT_TRUE(catalog_->CreateTable({"raw", "orders"}, declared, "raw/orders").ok());
  auto report = LoadData("orders_small.csv", "orders");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Types("SELECT * FROM raw.orders"),
            "order_id VARCHAR, total_amount VARCHAR, _source_file VARCHAR, _loaded_at TIMESTAMP");
  EXPECT_EQ(Rows("SELECT total_amount FROM raw.orders ORDER BY 1"), "10\n20\n");
}

TEST_F(BatchCsvTest, DeclaredNumericColumnRejectsText) {
  catalog::TableSchema declared{0, {{"product_id", "VARCHAR"}, {"price", "DECIMAL(10,2)"}}, {}};
  ASSERT_TRUE(catalog_->CreateTable({"raw", "products"}, declared, "raw/products").ok());
  auto report = LoadData("products_bad.csv", "products");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kSchemaIncompatible);
  EXPECT_NE(report.status().message().find("'price'"), std::string::npos);
  EXPECT_EQ(Count("raw.products"), 0);
}

class BatchBadInputTest : public BatchFixture {
 protected:
  void ExpectNothingLoaded() {
    EXPECT_EQ(FilesUnder("raw"), 0);
    EXPECT_TRUE(catalog_->ListTables().empty() ||
                catalog_->GetTable({"raw", "bad"}).status().code() == ErrorCode::kTableNotFound);
  }
};

TEST_F(BatchBadInputTest, BinaryFileSentAsCsv) {
  auto report = LoadData("image.png.csv", "bad");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kUnsupportedMediaType);
  ExpectNothingLoaded();
}

TEST_F(BatchBadInputTest, ZeroBytes) {
  auto report = LoadFile(WriteTemp("empty.csv", ""), "bad");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kEmptyInput);
  ExpectNothingLoaded();
}

TEST_F(BatchBadInputTest, OnlyBlankLines) {
  auto report = LoadFile(WriteTemp("blank.csv", "\xEF\xBB\xBF\n \r\n\t\n"), "bad");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kEmptyInput);
  ExpectNothingLoaded();
}

TEST_F(BatchBadInputTest, OverTheSizeLimit) {
  BatchLimits small;
  small.max_file_bytes = 40;
  loader_ = std::make_unique<BatchLoader>(catalog_.get(), lake_, small, &clock_);
  auto report = LoadData("timestamps.csv", "bad");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kPayloadTooLarge);
  ExpectNothingLoaded();
  EXPECT_TRUE(LoadData("orders_small.csv", "good").ok());  // 34 bytes: under it
}

TEST_F(BatchBadInputTest, InvalidUtf8WhenUtf8IsDeclared) {
  BatchFileOptions options;
  options.encoding = "utf-8";
  auto report = LoadData("invalid_utf8.csv", "bad", options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kInvalidTextEncoding);
  EXPECT_NE(report.status().message().find("byte 19 (line 3)"), std::string::npos)
      << report.status().message();
  ExpectNothingLoaded();
  // With encoding auto the same bytes are read as Latin-1.
  auto latin = LoadData("invalid_utf8.csv", "good");
  ASSERT_TRUE(latin.ok()) << latin.status().ToString();
  EXPECT_EQ(latin->encoding, "latin-1");
  EXPECT_EQ(Rows("SELECT name FROM raw.good WHERE id = 2"), "bad \xC3\xBF\xC3\xBE byte\n");
}

TEST_F(BatchBadInputTest, InvalidUtf8InJson) {
  auto report = LoadFile(WriteTemp("bad.ndjson", "{\"a\":\"\xff\"}\n"), "bad");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kInvalidTextEncoding);
  ExpectNothingLoaded();
}

TEST_F(BatchBadInputTest, HostileOriginalNames) {
  const std::vector<std::string> names = {"../../etc/passwd",         "a/b.csv",   "..",
                                          std::string("x\0y.csv", 7), "..\\x.csv", ""};
  for (const std::string& name : names) {
    BatchSource source;
    source.path = BatchData("orders_small.csv");
    source.original_name = name;
    source.table = {"raw", "hostile"};
    auto hostile = loader_->Load(source);
    ASSERT_FALSE(hostile.ok()) << "accepted name '" << name << "'";
    EXPECT_EQ(hostile.status().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(catalog_->GetTable({"raw", "hostile"}).status().code(), ErrorCode::kTableNotFound);
  EXPECT_FALSE(fs::exists(dir_.path() + "/etc"));
  EXPECT_EQ(SanitizeFileLabel("../../etc/passwd"), "_.._etc_passwd");
  EXPECT_EQ(SanitizeFileLabel(std::string("x\0y", 3)), "x_y");
  EXPECT_EQ(SanitizeFileLabel("..."), "file");
}

TEST_F(BatchBadInputTest, TableMustBeRaw) {
  for (const auto& ref : std::vector<catalog::TableRef>{
           {"processed", "orders"}, {"raw", "../x"}, {"raw", "_files"}, {"raw", "Orders"}}) {
    BatchSource source;
    source.path = BatchData("orders_small.csv");
    source.original_name = "orders_small.csv";
    source.table = ref;
    auto report = loader_->Load(source);
    ASSERT_FALSE(report.ok()) << ref.Qualified();
    EXPECT_EQ(report.status().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(FilesUnder(""), 0);
}

}  // namespace
}  // namespace basin::ingest::test
