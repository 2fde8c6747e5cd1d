#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace basin::etl {

// The DQDL subset Basin evaluates (docs/formats/pipeline.md, "Data-quality rules").
enum class DqRuleType {
  kRowCount,       // RowCount <op> N
  kIsComplete,     // IsComplete "col"
  kCompleteness,   // Completeness "col" <op> F
  kIsUnique,       // IsUnique "col"
  kUniqueness,     // Uniqueness "col" <op> F
  kColumnValues,   // ColumnValues "col" <op> V | between A and B | in [..]
  kDataFreshness,  // DataFreshness "col" <= N hours|minutes|days
};

enum class DqOperator { kEq, kNe, kGt, kGe, kLt, kLe, kBetween, kIn };

// A value in a DQDL rule: a number or a quoted string.
struct DqValue {
  bool is_string = false;
  std::string text;
};

struct DqRule {
  DqRuleType type = DqRuleType::kRowCount;
  std::string column;  // every type but RowCount
  DqOperator op = DqOperator::kEq;
  std::vector<DqValue> values;     // one for a comparison, two for between, the list for in
  int64_t freshness_limit_us = 0;  // DataFreshness
};

// Parses one DQDL rule. InvalidDefinition with what was expected and where:
// `expected a comparison operator after RowCount at offset 9`.
Result<DqRule> ParseDqRule(std::string_view text);

// SQL text of a comparison operator ("=", "!=", ">", ...).
std::string_view DqOperatorSql(DqOperator op);

// How a rule is checked: a query over `rows` (the run's output rows) or `table` (the output
// table as it is after the run, for uniqueness and freshness), giving one value `actual` and
// one boolean `passed`. `now_us` is the run's clock, for freshness.
struct DqQuery {
  std::string sql;  // SELECT <actual as VARCHAR> AS actual, <passed> AS passed FROM ...
};
DqQuery CompileDqRule(const DqRule& rule, std::string_view rows_relation,
                      std::string_view table_relation, int64_t now_us);

}  // namespace basin::etl
