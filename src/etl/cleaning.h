#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "etl/pipeline_spec.h"
#include "query/duck_db.h"

namespace basin::etl {

// The names of the bookkeeping columns the cleaning query adds to each row.
inline constexpr std::string_view kRuleColumn = "__basin_rule";
inline constexpr std::string_view kReasonColumn = "__basin_reason";
inline constexpr std::string_view kRecordColumn = "__basin_record";

// The cleaning rules of a pipeline compiled to one set-based DuckDB query (no row-by-row C++).
//
// `sql` is `SELECT <columns>, __basin_rule, __basin_reason, __basin_record FROM <input>`: each
// rule is one projection over the previous one, in order. A row's first failing quarantine rule
// sets `__basin_rule` (the rule name, e.g. `cast`) and `__basin_reason` (the column, the value and
// what is wrong with it); later rules leave those alone. `__basin_record` is the row as it was
// read (JSON text of the original columns), set only for quarantined rows. `null` and `default`
// policies rewrite the value and the row goes on.
struct CleaningPlan {
  std::string sql;
  std::vector<catalog::Column> columns;  // the data columns after cleaning, with their types
  // `levels[i]` is the query up to and including rule i (for locating a rule DuckDB rejects).
  std::vector<std::string> levels;
  // (JSON path, constant SQL expression) of each literal cast to a column's type (defaults,
  // allowed values, bounds): evaluated once by CheckCleaning so that a literal that does not
  // convert is a definition error before any row is read.
  std::vector<std::pair<std::string, std::string>> literal_checks;
};

// InvalidDefinition (with the rule's JSON path) for a rule that names a missing column, asks for
// text operations on a non-text column or a time zone conversion of a non-timestamp.
Result<CleaningPlan> CompileCleaning(const std::vector<CleaningRule>& rules,
                                     const std::vector<catalog::Column>& input_columns,
                                     std::string_view input_relation);

// Binds the plan on `db` without reading rows (LIMIT 0), and checks the time zones of `utc`
// rules. A rule DuckDB rejects (a bad type, a bad regular expression, a default that does not
// convert) is InvalidDefinition with the rule's path and DuckDB's message.
Status CheckCleaning(query::DuckDb& db, const std::vector<CleaningRule>& rules,
                     const CleaningPlan& plan);

}  // namespace basin::etl
