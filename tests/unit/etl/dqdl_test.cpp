#include "etl/dqdl.h"

#include <gtest/gtest.h>

#include "query/duck_db.h"

namespace basin::etl {
namespace {

TEST(Dqdl, ParsesEachRuleForm) {
  auto row_count = ParseDqRule("RowCount >= 10");
  ASSERT_TRUE(row_count.ok());
  EXPECT_EQ(row_count->type, DqRuleType::kRowCount);
  EXPECT_EQ(row_count->op, DqOperator::kGe);
  EXPECT_EQ(row_count->values[0].text, "10");

  auto complete = ParseDqRule("IsComplete \"order id\"");
  ASSERT_TRUE(complete.ok());
  EXPECT_EQ(complete->type, DqRuleType::kIsComplete);
  EXPECT_EQ(complete->column, "order id");

  auto completeness = ParseDqRule("Completeness \"email\" > 0.95");
  ASSERT_TRUE(completeness.ok());
  EXPECT_EQ(completeness->op, DqOperator::kGt);

  auto uniqueness = ParseDqRule("Uniqueness \"id\" = 1.0");
  ASSERT_TRUE(uniqueness.ok());
  EXPECT_EQ(uniqueness->type, DqRuleType::kUniqueness);

  auto compare = ParseDqRule("ColumnValues \"status\" != \"lost\"");
  ASSERT_TRUE(compare.ok());
  EXPECT_EQ(compare->op, DqOperator::kNe);
  EXPECT_TRUE(compare->values[0].is_string);

  auto between = ParseDqRule("ColumnValues \"amount\" between -1 and 100.5");
  ASSERT_TRUE(between.ok());
  EXPECT_EQ(between->op, DqOperator::kBetween);
  EXPECT_EQ(between->values[0].text, "-1");
  EXPECT_EQ(between->values[1].text, "100.5");

  auto in = ParseDqRule("ColumnValues \"status\" in [\"placed\", \"paid\"]");
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->op, DqOperator::kIn);
  EXPECT_EQ(in->values.size(), 2u);

  auto fresh = ParseDqRule("DataFreshness \"event_time\" <= 30 minutes");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->freshness_limit_us, 30LL * 60 * 1'000'000);
  EXPECT_EQ(ParseDqRule("DataFreshness \"t\" <= 2 days")->freshness_limit_us,
            2LL * 86400 * 1'000'000);
}

TEST(Dqdl, SyntaxErrorsSayWhatWasExpectedAndWhere) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "DQDL: expected a rule type at offset 0"},
      {"RowCount", "DQDL: expected a comparison operator after RowCount at offset 8"},
      {"RowCount > many", "DQDL: expected a number at offset 11"},
      {"RowCount > \"5\"", "DQDL: expected a number at offset 11"},
      {"IsComplete order_id", "DQDL: expected a quoted column name after IsComplete"},
      {"IsComplete \"a", "DQDL: an unterminated string at offset 11"},
      {"IsUnique \"a\" extra", "DQDL: expected the end of the rule at offset 13"},
      {"ColumnValues \"a\" between 1 or 2", "DQDL: expected 'and' in between"},
      {"ColumnValues \"a\" in [1 2]", "DQDL: expected ',' or ']' in the list"},
      {"DataFreshness \"t\" <= 3 weeks", "DQDL: expected hours, minutes or days"},
      {"DataFreshness \"t\" > 3 hours", "DQDL: expected '<=' after the column"},
      {"ColumnLength \"a\" > 3", "DQDL: unknown rule type 'ColumnLength'"},
      {"RowCount > 1 ; DROP", "DQDL: an unexpected character ';'"},
  };
  for (const auto& [text, prefix] : cases) {
    auto rule = ParseDqRule(text);
    ASSERT_FALSE(rule.ok()) << text;
    EXPECT_EQ(rule.status().code(), ErrorCode::kInvalidDefinition);
    EXPECT_EQ(rule.status().message().substr(0, prefix.size()), prefix)
        << "got: " << rule.status().message();
  }
}

// Each rule evaluated by its SQL on a small table: (rule, expected actual value, passes).
TEST(Dqdl, EvaluatesOnRowsAndTable) {
  auto db = query::DuckDb::Open();
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)
                  ->Execute("CREATE TABLE rows AS SELECT * FROM (VALUES "
                            "(1, 'a', 10.0, TIMESTAMP '2026-11-27 06:00:00'), "
                            "(2, NULL, -5.0, TIMESTAMP '2026-11-27 07:00:00'), "
                            "(2, 'b', 20.0, NULL)) t(id, s, amount, seen)")
                  .ok());
  const int64_t now = 1'795'766'400'000'000;  // 2026-11-27 08:00:00 UTC
  struct Case {
    std::string rule, actual;
    bool passed;
  };
  const std::vector<Case> cases = {
      {"RowCount = 3", "3", true},
      {"RowCount > 3", "3", false},
      {"IsComplete \"id\"", "1.0", true},
      {"IsComplete \"s\"", "0.6667", false},
      {"Completeness \"s\" >= 0.6", "0.6667", true},
      {"IsUnique \"id\"", "0.6667", false},
      {"IsUnique \"s\"", "1.0", true},
      {"Uniqueness \"id\" > 0.5", "0.6667", true},
      {"ColumnValues \"amount\" >= 0", "1", false},
      {"ColumnValues \"amount\" between -5 and 20", "0", true},
      {"ColumnValues \"s\" in [\"a\", \"b\"]", "0", true},
      {"ColumnValues \"s\" = \"a\"", "1", false},
      {"DataFreshness \"seen\" <= 2 hours", "1.0 hours", true},
      {"DataFreshness \"seen\" <= 30 minutes", "1.0 hours", false},
  };
  for (const Case& c : cases) {
    auto rule = ParseDqRule(c.rule);
    ASSERT_TRUE(rule.ok()) << c.rule;
    const DqQuery q = CompileDqRule(*rule, "rows", "rows", now);
    auto result = (*db)->Query(q.sql);
    ASSERT_TRUE(result.ok()) << result.status().ToString() << "\n" << q.sql;
    EXPECT_EQ(result->rows.at(0).at(0).ToText(), c.actual) << c.rule;
    EXPECT_EQ(result->rows.at(0).at(1).b, c.passed) << c.rule;
  }
}

TEST(Dqdl, FreshnessOfAnEmptyTableFails) {
  auto db = query::DuckDb::Open();
  ASSERT_TRUE((*db)->Execute("CREATE TABLE t (seen TIMESTAMP)").ok());
  const DqQuery q = CompileDqRule(*ParseDqRule("DataFreshness \"seen\" <= 1 days"), "t", "t", 0);
  auto result = (*db)->Query(q.sql);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->rows[0][0].ToText(), "no rows");
  EXPECT_FALSE(result->rows[0][1].b);
}

}  // namespace
}  // namespace basin::etl
