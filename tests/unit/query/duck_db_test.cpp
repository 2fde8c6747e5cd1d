#include "query/duck_db.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

namespace basin::query {
namespace {

DuckDbOptions Options(int threads, std::string memory_limit = "") {
  DuckDbOptions o;
  o.threads = threads;
  o.memory_limit = std::move(memory_limit);
  return o;
}

std::unique_ptr<DuckDb> OpenDb(DuckDbOptions options = {}) {
  auto db = DuckDb::Open(options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

QueryResult MustQuery(DuckDb& db, std::string_view sql, uint64_t max_rows = UINT64_MAX) {
  auto r = db.Query(sql, max_rows);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  return r.ok() ? std::move(r).value() : QueryResult{};
}

// One row, one column: the value and its column type.
std::pair<Value, std::string> One(DuckDb& db, const std::string& expr) {
  QueryResult r = MustQuery(db, "SELECT " + expr + " AS v");
  if (r.rows.size() != 1 || r.columns.size() != 1) {
    ADD_FAILURE() << expr;
    return {};
  }
  return {r.rows[0][0], r.columns[0].type};
}

TEST(DuckDbTest, IntegersBooleansAndNulls) {
  auto db = OpenDb();
  QueryResult r =
      MustQuery(*db,
                "SELECT 42::TINYINT a, -7::SMALLINT b, 2147483647 c, "
                "'-9223372036854775808'::BIGINT d, 255::UTINYINT e, 4294967295::UINTEGER f, "
                "true g, NULL::INTEGER h");
  ASSERT_EQ(r.rows.size(), 1u);
  const auto& row = r.rows[0];
  std::vector<std::string> types;
  for (const auto& c : r.columns) types.push_back(c.type);
  EXPECT_EQ(types, (std::vector<std::string>{"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT",
                                             "UINTEGER", "BOOLEAN", "INTEGER"}));
  EXPECT_EQ(r.columns[0].name, "a");
  EXPECT_EQ(row[0].kind, Value::Kind::kInt);
  EXPECT_EQ(row[0].i, 42);
  EXPECT_EQ(row[1].i, -7);
  EXPECT_EQ(row[2].i, 2147483647);
  EXPECT_EQ(row[3].i, INT64_MIN);
  EXPECT_EQ(row[4].i, 255);
  EXPECT_EQ(row[5].i, 4294967295);
  EXPECT_EQ(row[6].kind, Value::Kind::kBool);
  EXPECT_TRUE(row[6].b);
  EXPECT_EQ(row[7].kind, Value::Kind::kNull);
  EXPECT_EQ(row[7].ToText(), "NULL");
}

TEST(DuckDbTest, ExactNumbersStayExact) {
  auto db = OpenDb();
  auto [dec, dec_type] = One(*db, "CAST('12345678901234567.89' AS DECIMAL(19,2))");
  EXPECT_EQ(dec_type, "DECIMAL(19,2)");
  EXPECT_EQ(dec.kind, Value::Kind::kNumberText);
  EXPECT_EQ(dec.s, "12345678901234567.89");
  EXPECT_EQ(One(*db, "1.5::DECIMAL(18,2)").first.s, "1.50");
  EXPECT_EQ(One(*db, "-0.05::DECIMAL(4,2)").first.s, "-0.05");
  EXPECT_EQ(One(*db, "7::DECIMAL(3,0)").first.s, "7");
  EXPECT_EQ(One(*db, "-123.456::DECIMAL(9,3)").first.s, "-123.456");
  EXPECT_EQ(One(*db, "CAST('99999999999999999999999999999999999.999' AS DECIMAL(38,3))").first.s,
            "99999999999999999999999999999999999.999");
  auto [huge, huge_type] = One(*db, "'-170141183460469231731687303715884105728'::HUGEINT");
  EXPECT_EQ(huge_type, "HUGEINT");
  EXPECT_EQ(huge.kind, Value::Kind::kNumberText);
  EXPECT_EQ(huge.s, "-170141183460469231731687303715884105728");
  auto [ubig, ubig_type] = One(*db, "18446744073709551615::UBIGINT");
  EXPECT_EQ(ubig_type, "UBIGINT");
  EXPECT_EQ(ubig.kind, Value::Kind::kNumberText);
  EXPECT_EQ(ubig.s, "18446744073709551615");
  EXPECT_EQ(One(*db, "340282366920938463463374607431768211455::UHUGEINT").first.s,
            "340282366920938463463374607431768211455");
  for (const char* big : {"0", "255", "-256", "123456789012345678901234567890123456789012",
                          "-98765432109876543210987654321"}) {
    auto [v, type] = One(*db, "'" + std::string(big) + "'::BIGNUM");
    EXPECT_EQ(type, "BIGNUM");
    EXPECT_EQ(v.kind, Value::Kind::kNumberText) << big;
    EXPECT_EQ(v.s, big);
  }
}

TEST(DuckDbTest, DoublesPrintLikeDuckDb) {
  auto db = OpenDb();
  auto [d, type] = One(*db, "0.1::DOUBLE");
  EXPECT_EQ(type, "DOUBLE");
  EXPECT_EQ(d.kind, Value::Kind::kDouble);
  EXPECT_EQ(d.d, 0.1);
  auto [f, ftype] = One(*db, "0.1::FLOAT");
  EXPECT_EQ(ftype, "FLOAT");
  EXPECT_EQ(f.d, 0.1);  // the float's shortest text, not 0.100000001
  // Value::ToText against DuckDB's own cast to VARCHAR.
  QueryResult r = MustQuery(
      *db,
      "SELECT x, x::VARCHAR FROM (VALUES (1.0::DOUBLE), (0.1), (1e20), (1.5e-7), (1e15), (1e16), "
      "(0.0001), (0.00001), (123456789012345678.0), (-2.5), (3.140000104904175), "
      "('nan'::DOUBLE), ('inf'::DOUBLE), ('-inf'::DOUBLE), (0.0)) t(x)");
  ASSERT_EQ(r.rows.size(), 15u);
  for (const auto& row : r.rows) EXPECT_EQ(row[0].ToText(), row[1].s);
}

TEST(DuckDbTest, OtherTypesAreTheirDuckDbText) {
  auto db = OpenDb();
  // Every value must print as DuckDB's own CAST(... AS VARCHAR) does.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"TIMESTAMP '2026-11-27 04:22:29.123'", "TIMESTAMP"},
      {"TIMESTAMP '2026-11-27 04:22:29'", "TIMESTAMP"},
      {"DATE '2026-11-27'", "DATE"},
      {"TIME '04:22:29.5'", "TIME"},
      {"INTERVAL '1 month 3 days 01:00:00'", "INTERVAL"},
      {"'{\"a\": [1, 2]}'::JSON", "JSON"},
      {"'\\x01ab'::BLOB", "BLOB"},
      {"[1, 2, NULL]", "INTEGER[]"},
      {"['x,y', 'plain']", "VARCHAR[]"},
      {"{'a': 1, 'b': 'x'}", "STRUCT(a INTEGER, b VARCHAR)"},
      {"MAP {'k': 1.5}", "MAP(VARCHAR, DECIMAL(2,1))"},
      {"[1, 2, 3]::INTEGER[3]", "INTEGER[3]"},
      {"'6d3a5bc2-4c5e-4f3b-9b8a-0123456789ab'::UUID", "UUID"},
      {"'b'::ENUM('a', 'b')", "ENUM('a', 'b')"},
      {"union_value(n := 42)", "UNION(n INTEGER)"},
      {"[{'k': [TIMESTAMP '2026-01-01 00:00:00']}]", "STRUCT(k TIMESTAMP[])[]"},
      {"TIMESTAMP_MS '2026-11-27 04:22:29.123'", "TIMESTAMP_MS"},
      {"'101'::BIT", "BIT"},
  };
  for (const auto& [expr, type] : cases) {
    QueryResult r = MustQuery(*db, "SELECT " + expr + " AS v, CAST(" + expr + " AS VARCHAR) AS t");
    ASSERT_EQ(r.rows.size(), 1u) << expr;
    EXPECT_EQ(r.columns[0].type, type) << expr;
    EXPECT_EQ(r.rows[0][0].kind, Value::Kind::kString) << expr;
    EXPECT_EQ(r.rows[0][0].s, r.rows[0][1].s) << expr;
  }
  EXPECT_EQ(One(*db, "TIMESTAMP '2026-11-27 04:22:29.123'").first.s, "2026-11-27 04:22:29.123");
  EXPECT_EQ(One(*db, "'{\"a\":1}'::JSON").first.s, "{\"a\":1}");
  EXPECT_EQ(One(*db, "'it''s'").first.s, "it's");
  EXPECT_EQ(One(*db, "NULL::TIMESTAMP").first.kind, Value::Kind::kNull);
  EXPECT_EQ(One(*db, "[NULL]::INTEGER[]").first.s, "[NULL]");
}

TEST(DuckDbTest, ManyRowsAcrossChunksAndTheRowLimit) {
  auto db = OpenDb();
  QueryResult all = MustQuery(*db, "SELECT range AS i, range::VARCHAR AS s FROM range(5000)");
  ASSERT_EQ(all.rows.size(), 5000u);
  EXPECT_FALSE(all.truncated);
  for (size_t i = 0; i < all.rows.size(); ++i) {
    ASSERT_EQ(all.rows[i][0].i, static_cast<int64_t>(i));
    ASSERT_EQ(all.rows[i][1].s, std::to_string(i));
  }
  QueryResult capped = MustQuery(*db, "SELECT range FROM range(5000)", 2500);
  EXPECT_EQ(capped.rows.size(), 2500u);
  EXPECT_TRUE(capped.truncated);
  EXPECT_EQ(capped.rows.back()[0].i, 2499);
  QueryResult exact = MustQuery(*db, "SELECT range FROM range(2048)", 2048);
  EXPECT_EQ(exact.rows.size(), 2048u);
  EXPECT_FALSE(exact.truncated);
  QueryResult none = MustQuery(*db, "SELECT 1 WHERE false");
  EXPECT_TRUE(none.rows.empty());
  EXPECT_EQ(none.columns.size(), 1u);
}

TEST(DuckDbTest, ErrorsAreTyped) {
  auto db = OpenDb();
  auto syntax = db->Query("SELEC 1");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.status().code(), ErrorCode::kSqlError);
  EXPECT_NE(syntax.status().message().find("Parser Error"), std::string::npos);
  auto missing = db->Query("SELECT * FROM nope");
  EXPECT_EQ(missing.status().code(), ErrorCode::kSqlError);
  EXPECT_NE(missing.status().message().find("Catalog Error"), std::string::npos);
  auto runtime = db->Query("SELECT error('boom')");
  EXPECT_EQ(runtime.status().code(), ErrorCode::kSqlError);
  EXPECT_NE(runtime.status().message().find("boom"), std::string::npos);
  EXPECT_EQ(db->Execute("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES ('x')").code(),
            ErrorCode::kSqlError);
  EXPECT_EQ(db->Query("").status().code(), ErrorCode::kSqlError);
}

TEST(DuckDbTest, MultipleStatementsReturnTheLastResult) {
  auto db = OpenDb();
  QueryResult r = MustQuery(*db,
                            "CREATE TABLE t AS SELECT 1 AS a; INSERT INTO t VALUES (2); "
                            "SELECT sum(a) AS total FROM t");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.columns[0].name, "total");
  EXPECT_EQ(r.rows[0][0].ToText(), "3");
}

TEST(DuckDbTest, InterruptCancelsARunningQuery) {
  auto db = OpenDb(Options(1));
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    db->Interrupt();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = db->Query(
      "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = 7");
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kQueryCancelled) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // The connection is usable afterwards.
  EXPECT_EQ(MustQuery(*db, "SELECT 1").rows.size(), 1u);
}

TEST(DuckDbTest, OutOfMemoryIsQueryMemoryLimit) {
  auto db = OpenDb(Options(1, "32MB"));
  // list() keeps everything in memory: it cannot spill.
  auto r = db->Query("SELECT list(range::VARCHAR || repeat('x', 100)) FROM range(3000000)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kQueryMemoryLimit) << r.status().ToString();
}

TEST(DuckDbTest, BadOptionsAreInvalidArgument) {
  auto db = DuckDb::Open(Options(0, "lots"));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), ErrorCode::kInvalidArgument);
}

TEST(DuckDbTest, CheckReadOnlyAllowsOnlyReads) {
  auto db = OpenDb();
  ASSERT_TRUE(db->Execute("CREATE TABLE t (a INTEGER)").ok());
  for (const char* ok :
       {"SELECT * FROM t", "FROM t", "  -- c\n SELECT 1; SELECT 2;", "DESCRIBE t", "SHOW TABLES",
        "SUMMARIZE t", "PRAGMA version", "EXPLAIN SELECT * FROM t", "EXPLAIN ANALYZE SELECT 1",
        "/* x */ explain (FORMAT json) SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x"}) {
    Status s = db->CheckReadOnly(ok);
    EXPECT_TRUE(s.ok()) << ok << ": " << s.ToString();
  }
  for (const char* denied :
       {"INSERT INTO t VALUES (1)", "CREATE TABLE u (a INTEGER)", "DROP TABLE t",
        "COPY t TO '/tmp/x.csv'", "SET threads = 1", "ATTACH ':memory:' AS m", "BEGIN",
        "SELECT 1; DELETE FROM t", "CALL pragma_version()", "PRAGMA enable_profiling",
        "EXPLAIN ANALYZE CREATE TABLE u AS SELECT 1", "EXPLAIN ANALYZE COPY t TO '/tmp/x.csv'",
        "EXPLAIN (ANALYZE) INSERT INTO t VALUES (1)", "SELECT 1; EXPLAIN SELECT 1",
        "UPDATE t SET a = 2", "LOAD httpfs", "CHECKPOINT", "EXPORT DATABASE '/tmp/x'"}) {
    Status s = db->CheckReadOnly(denied);
    EXPECT_EQ(s.code(), ErrorCode::kAccessDenied) << denied << ": " << s.ToString();
  }
  // Nothing was run by the checks.
  EXPECT_EQ(MustQuery(*db, "SELECT count(*) FROM t").rows[0][0].i, 0);
  EXPECT_EQ(db->Query("SELECT count(*) FROM u").status().code(), ErrorCode::kSqlError);
  EXPECT_EQ(db->CheckReadOnly("SELECT * FROM nope").code(), ErrorCode::kSqlError);
  EXPECT_EQ(db->CheckReadOnly("SELEC 1").code(), ErrorCode::kSqlError);
}

TEST(DuckDbTest, QuotesIdentifiersAndLiterals) {
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  auto db = OpenDb();
  QueryResult r =
      MustQuery(*db, "SELECT " + QuoteLiteral("it's") + " AS " + QuoteIdentifier("we\"ird"));
  EXPECT_EQ(r.columns[0].name, "we\"ird");
  EXPECT_EQ(r.rows[0][0].s, "it's");
}

class AppenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb();
    ASSERT_TRUE(db_->Execute("CREATE SCHEMA s; CREATE TABLE s.t (id INTEGER, name VARCHAR, "
                             "ts TIMESTAMP, d DATE, ok BOOLEAN, x DOUBLE, big BIGINT)")
                    .ok());
    auto a = db_->CreateAppender("s", "t");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    appender_ = std::move(a).value();
  }
  void GoodRow(int32_t id) {
    appender_->AppendInt32(id);
    appender_->AppendVarchar("n" + std::to_string(id));
    appender_->AppendTimestampMicros(1'795'753'349'123'000);
    appender_->AppendDate(20'784);
    appender_->AppendBool(id % 2 == 0);
    appender_->AppendDouble(id * 1.5);
    appender_->AppendInt64(int64_t{1} << 40);
    Status s = appender_->EndRow();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<std::string> Ids() {
    EXPECT_TRUE(appender_->Flush().ok());
    QueryResult r = MustQuery(*db_, "SELECT id FROM s.t ORDER BY id");
    std::vector<std::string> out;
    for (const auto& row : r.rows) out.push_back(row[0].ToText());
    return out;
  }

  std::unique_ptr<DuckDb> db_;
  std::unique_ptr<Appender> appender_;
};

TEST_F(AppenderTest, AppendsTypedRows) {
  GoodRow(1);
  appender_->AppendNull();
  appender_->AppendNull();
  appender_->AppendNull();
  appender_->AppendNull();
  appender_->AppendNull();
  appender_->AppendNull();
  appender_->AppendNull();
  ASSERT_TRUE(appender_->EndRow().ok());
  ASSERT_TRUE(appender_->Flush().ok());
  QueryResult r = MustQuery(*db_, "SELECT * FROM s.t ORDER BY id NULLS LAST");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][1].s, "n1");
  EXPECT_EQ(r.rows[0][2].s, "2026-11-27 04:22:29.123");
  EXPECT_EQ(r.rows[0][3].s, "2026-11-27");
  EXPECT_FALSE(r.rows[0][4].b);
  EXPECT_EQ(r.rows[0][5].d, 1.5);
  EXPECT_EQ(r.rows[0][6].i, int64_t{1} << 40);
  for (const Value& v : r.rows[1]) EXPECT_EQ(v.kind, Value::Kind::kNull);
}

TEST_F(AppenderTest, BadRowsAreRejectedAndTheOthersKept) {
  GoodRow(1);
  GoodRow(2);
  // A value DuckDB cannot convert: the error names the column and the row is dropped.
  appender_->AppendVarchar("not a number");
  appender_->AppendVarchar("x");
  Status bad = appender_->EndRow();
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("column 1"), std::string::npos) << bad.message();
  GoodRow(3);
  // Too few values.
  appender_->AppendInt32(99);
  EXPECT_EQ(appender_->EndRow().code(), ErrorCode::kInvalidArgument);
  // Too many values.
  appender_->AppendInt32(98);
  for (int i = 0; i < 6; ++i) appender_->AppendNull();
  appender_->AppendNull();
  Status extra = appender_->EndRow();
  EXPECT_EQ(extra.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(extra.message().find("more values"), std::string::npos) << extra.message();
  GoodRow(4);
  EXPECT_EQ(Ids(), (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST_F(AppenderTest, FlushInTheMiddleOfARowIsRefused) {
  appender_->AppendInt32(1);
  EXPECT_EQ(appender_->Flush().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(appender_->EndRow().code(), ErrorCode::kInvalidArgument);
  GoodRow(5);
  EXPECT_EQ(Ids(), (std::vector<std::string>{"5"}));
}

TEST_F(AppenderTest, DestroyingMidRowKeepsCompletedRows) {
  GoodRow(1);
  GoodRow(2);
  appender_->AppendInt32(3);
  appender_.reset();
  QueryResult r = MustQuery(*db_, "SELECT count(*) FROM s.t");
  EXPECT_EQ(r.rows[0][0].i, 2);
}

TEST(DuckDbAppenderTest, MissingTableIsAnError) {
  auto db = OpenDb();
  auto a = db->CreateAppender("", "nope");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kSqlError);
}

}  // namespace
}  // namespace basin::query
