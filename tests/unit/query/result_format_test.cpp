#include "query/result_format.h"

#include <gtest/gtest.h>

#include <cmath>

namespace basin::query {
namespace {

QueryResult OneBigint() {
  QueryResult r;
  r.columns = {{"n", "BIGINT"}};
  r.rows = {{Value::Int(1)}};
  return r;
}

QueryResult Mixed() {
  QueryResult r;
  r.columns = {{"id", "BIGINT"},    {"name", "VARCHAR"}, {"amount", "DECIMAL(18,2)"},
               {"score", "DOUBLE"}, {"ok", "BOOLEAN"},   {"ts", "TIMESTAMP"}};
  r.rows = {
      {Value::Int(1), Value::String("plain"), Value::NumberText("12.50"), Value::Double(0.5),
       Value::Bool(true), Value::String("2026-11-27 04:22:29.123")},
      {Value::Int(-2), Value::String("say \"hi\", then\nleave"), Value::NumberText("-0.05"),
       Value::Double(1.0), Value::Bool(false), Value::Null()},
      {Value::Null(), Value::String(""), Value::Null(), Value::Double(NAN), Value::Null(),
       Value::Null()},
  };
  return r;
}

TEST(ResultFormatTest, JsonIsExact) {
  EXPECT_EQ(FormatJson(OneBigint()),
            R"j({"columns":[{"name":"n","type":"BIGINT"}],"rows":[[1]]})j");
  QueryResult truncated = OneBigint();
  truncated.truncated = true;
  EXPECT_EQ(FormatJson(truncated),
            R"j({"columns":[{"name":"n","type":"BIGINT"}],"rows":[[1]],"truncated":true})j");
  EXPECT_EQ(FormatJson(Mixed()),
            R"j({"columns":[{"name":"id","type":"BIGINT"},{"name":"name","type":"VARCHAR"},)j"
            R"j({"name":"amount","type":"DECIMAL(18,2)"},{"name":"score","type":"DOUBLE"},)j"
            R"j({"name":"ok","type":"BOOLEAN"},{"name":"ts","type":"TIMESTAMP"}],"rows":[)j"
            R"j([1,"plain",12.50,0.5,true,"2026-11-27 04:22:29.123"],)j"
            R"j([-2,"say \"hi\", then\nleave",-0.05,1,false,null],)j"
            R"j([null,"",null,null,null,null]]})j");
  QueryResult empty;
  EXPECT_EQ(FormatJson(empty), R"j({"columns":[],"rows":[]})j");
}

TEST(ResultFormatTest, CsvIsRfc4180) {
  EXPECT_EQ(FormatCsv(OneBigint()), "n\r\n1\r\n");
  EXPECT_EQ(FormatCsv(Mixed()),
            "id,name,amount,score,ok,ts\r\n"
            "1,plain,12.50,0.5,true,2026-11-27 04:22:29.123\r\n"
            "-2,\"say \"\"hi\"\", then\nleave\",-0.05,1.0,false,\r\n"
            ",\"\",,nan,,\r\n");
  QueryResult odd_header;
  odd_header.columns = {{"a,b", "INTEGER"}, {"c\"d", "INTEGER"}};
  EXPECT_EQ(FormatCsv(odd_header), "\"a,b\",\"c\"\"d\"\r\n");
}

TEST(ResultFormatTest, TableIsAlignedWithABorder) {
  QueryResult r;
  r.columns = {{"n", "BIGINT"}, {"name", "VARCHAR"}};
  r.rows = {{Value::Int(7), Value::String("ab")}, {Value::Int(1234), Value::Null()}};
  EXPECT_EQ(FormatTable(r),
            "┌────────┬─────────┐\n"
            "│ n      │ name    │\n"
            "│ BIGINT │ VARCHAR │\n"
            "├────────┼─────────┤\n"
            "│      7 │ ab      │\n"
            "│   1234 │ NULL    │\n"
            "└────────┴─────────┘\n"
            "(2 rows)\n");
  r.rows = {{Value::Int(1), Value::String("é\nx")}};
  r.truncated = true;
  EXPECT_EQ(FormatTable(r),
            "┌────────┬─────────┐\n"
            "│ n      │ name    │\n"
            "│ BIGINT │ VARCHAR │\n"
            "├────────┼─────────┤\n"
            "│      1 │ é\\nx    │\n"
            "└────────┴─────────┘\n"
            "(1 row, truncated at the row limit)\n");
}

TEST(ResultFormatTest, TableCutsLongCells) {
  QueryResult r;
  r.columns = {{"s", "VARCHAR"}};
  r.rows = {{Value::String(std::string(100, 'x'))}};
  const std::string out = FormatTable(r);
  EXPECT_NE(out.find(std::string(59, 'x') + "…"), std::string::npos) << out;
  EXPECT_EQ(out.find(std::string(60, 'x')), std::string::npos) << out;
}

}  // namespace
}  // namespace basin::query
