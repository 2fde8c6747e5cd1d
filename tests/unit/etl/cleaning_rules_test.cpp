// Declarative tests of the cleaning rules: tests/data/etl/rules/*.json hold cases, each with
// input columns and rows, the rules, the rows expected to come out clean and the (rule, reason)
// of each row expected in quarantine. The rules run as the runner runs them: compiled by
// CompileCleaning and executed in DuckDB.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>

#include "base/file_util.h"
#include "etl/cleaning.h"
#include "etl/pipeline_spec.h"
#include "query/duck_db.h"

namespace basin::etl {
namespace {

namespace fs = std::filesystem;
namespace dom = simdjson::dom;
using Rows = std::vector<std::vector<std::string>>;

fs::path DataDir() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "etl";
}

std::string SqlLiteral(dom::element v, const std::string& type) {
  std::string text;
  switch (v.type()) {
    case dom::element_type::NULL_VALUE: return "CAST(NULL AS " + type + ")";
    case dom::element_type::STRING: text = query::QuoteLiteral(v.get_string().value()); break;
    default: text = simdjson::minify(v);
  }
  return "CAST(" + text + " AS " + type + ")";
}

Rows TextRows(dom::element array) {
  Rows rows;
  for (dom::element row : array.get_array()) {
    std::vector<std::string> texts;
    for (dom::element v : row.get_array()) texts.emplace_back(v.get_string().value());
    rows.push_back(std::move(texts));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

Rows QueryRows(query::DuckDb& db, const std::string& sql) {
  auto result = db.Query("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + ")");
  EXPECT_TRUE(result.ok()) << result.status().ToString() << "\n" << sql;
  Rows rows;
  if (!result.ok()) return rows;
  for (const auto& row : result->rows) {
    std::vector<std::string> texts;
    for (const auto& v : row) texts.push_back(v.ToText());
    rows.push_back(std::move(texts));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

void RunCase(dom::element c, const std::string& where) {
  SCOPED_TRACE(where);
  std::vector<catalog::Column> columns;
  for (dom::element col : c["columns"].get_array()) {
    columns.push_back({std::string(col["name"].get_string().value()),
                       std::string(col["type"].get_string().value())});
  }
  std::string values;
  for (dom::element row : c["rows"].get_array()) {
    std::string tuple;
    size_t i = 0;
    for (dom::element v : row.get_array()) {
      tuple += (i > 0 ? ", " : "") + SqlLiteral(v, columns.at(i).type);
      ++i;
    }
    values += (values.empty() ? "(" : ", (") + tuple + ")";
  }
  std::string names;
  for (const auto& col : columns) names += (names.empty() ? "" : ", ") + col.name;
  auto db = query::DuckDb::Open();
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)
                  ->Execute("SET TimeZone = 'UTC'; CREATE TABLE input AS SELECT * FROM (VALUES " +
                            values + ") t(" + names + ")")
                  .ok());

  // The rules parse as a pipeline definition would hold them.
  const std::string spec_json =
      R"({"name": "t", "sources": [{"name": "s", "table": "raw.s"}], "cleaning": )" +
      simdjson::minify(c["cleaning"]) + R"(, "output": {"table": "processed.t"}})";
  auto spec = ParsePipelineSpec(spec_json);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto plan = CompileCleaning(spec->cleaning, columns, "input");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  Status check = CheckCleaning(**db, spec->cleaning, *plan);
  ASSERT_TRUE(check.ok()) << check.ToString();
  ASSERT_TRUE((*db)->Execute("CREATE TABLE cleaned AS " + plan->sql).ok());

  std::string clean_columns;
  for (const auto& col : plan->columns) {
    clean_columns += (clean_columns.empty() ? "" : ", ") + query::QuoteIdentifier(col.name);
  }
  EXPECT_EQ(QueryRows(**db, "SELECT " + clean_columns + " FROM cleaned WHERE __basin_rule IS NULL"),
            TextRows(c["clean"]));
  EXPECT_EQ(QueryRows(**db,
                      "SELECT __basin_rule, __basin_reason FROM cleaned WHERE "
                      "__basin_rule IS NOT NULL"),
            TextRows(c["quarantined"]));
  // Every quarantined row keeps its original record, and only quarantined rows have one.
  EXPECT_EQ(QueryRows(**db,
                      "SELECT count(*) FROM cleaned WHERE (__basin_rule IS NULL) != "
                      "(__basin_record IS NULL)"),
            (Rows{{"0"}}));
  EXPECT_EQ(QueryRows(**db, "SELECT count(*) FROM cleaned"),
            (Rows{{std::to_string(c["rows"].get_array().size())}}));
}

TEST(CleaningRules, DeclarativeCases) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(DataDir() / "rules")) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 7u);
  int cases = 0;
  for (const fs::path& file : files) {
    auto text = ReadFile(file.string(), 1 << 20);
    ASSERT_TRUE(text.ok());
    dom::parser parser;
    dom::element root;
    ASSERT_FALSE(parser.parse(*text).get(root)) << file;
    for (dom::element c : root["cases"].get_array()) {
      RunCase(c, file.filename().string() + ": " + std::string(c["name"].get_string().value()));
      ++cases;
    }
  }
  EXPECT_GE(cases, 20);
}

TEST(CleaningRules, CompileErrorsNameTheRule) {
  const std::vector<catalog::Column> columns = {{"s", "VARCHAR"}, {"n", "INTEGER"}};
  auto compile = [&](const std::string& rules) {
    auto spec = ParsePipelineSpec(
        R"({"name": "t", "sources": [{"name": "s", "table": "raw.s"}], "cleaning": )" + rules +
        R"(, "output": {"table": "processed.t"}})");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    auto plan = CompileCleaning(spec->cleaning, columns, "input");
    if (!plan.ok()) return plan.status();
    auto db = query::DuckDb::Open();
    EXPECT_TRUE((*db)->Execute("CREATE TABLE input (s VARCHAR, n INTEGER)").ok());
    return CheckCleaning(**db, spec->cleaning, *plan);
  };
  auto expect = [&](const std::string& rules, const std::string& prefix) {
    Status s = compile(rules);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidDefinition) << rules;
    EXPECT_EQ(s.message().substr(0, prefix.size()), prefix) << s.message();
  };
  expect(R"([{"rule": "trim", "columns": ["s", "missing"]}])", "$.cleaning[0].columns[1]: column");
  expect(R"([{"rule": "trim", "columns": ["s"]}, {"rule": "lower", "columns": ["n"]}])",
         "$.cleaning[1].columns[0]: lower needs text");
  expect(R"([{"rule": "utc", "column": "s", "time_zone": "UTC"}])",
         "$.cleaning[0].column: utc needs a TIMESTAMP");
  expect(R"([{"rule": "cast", "column": "s", "type": "TIMESTAMP"},
             {"rule": "utc", "column": "s", "time_zone": "Mars/Olympus"}])",
         "$.cleaning[1].time_zone: unknown time zone");
  expect(R"([{"rule": "regex", "column": "s", "pattern": "(unclosed"}])", "$.cleaning[0]: ");
  expect(R"([{"rule": "cast", "column": "s", "type": "NOTATYPE"}])", "$.cleaning[0]: ");
  expect(R"([{"rule": "default", "column": "n", "value": "abc"}])", "$.cleaning[0].value: ");
  expect(R"([{"rule": "range", "column": "n", "min": 0, "max": "x"}])", "$.cleaning[0].max: ");
  EXPECT_TRUE(compile(R"([{"rule": "default", "column": "n", "value": 3}])").ok());
  // A check binds against the row as the rules before it left it, and only reads.
  expect(R"([{"rule": "check", "name": "c", "condition": "missing > 0"}])", "$.cleaning[0]: ");
  expect(R"([{"rule": "trim", "columns": ["s"]},
             {"rule": "check", "name": "c", "condition": "n > 0) AS x; DROP TABLE input; SELECT (1"}])",
         "$.cleaning[1]: ");
  EXPECT_TRUE(
      compile(R"([{"rule": "check", "name": "c", "condition": "n > 0 AND s <> ''"}])").ok());
}

}  // namespace
}  // namespace basin::etl
