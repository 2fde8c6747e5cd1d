#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace basin::ingest {

// The types batch-file inference can give a column, narrowest first. A column gets the first one
// that every non-empty value of the file fits (docs/formats/batch-ingest.md lists the exact
// formats). JSON is for JSON objects and arrays only.
enum class InferredType { kBoolean, kBigint, kDouble, kDate, kTimestamp, kVarchar, kJson };

// "BOOLEAN", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "VARCHAR", "JSON".
std::string_view InferredTypeName(InferredType type);

// SQL (DuckDB) over a text expression `v` (VARCHAR, NULL for a missing or empty value). Each
// Fits*Sql is a BOOLEAN expression, true when the (non-NULL) text is a value of that type in one
// of the recognised formats; CastTextSql converts the text to a type, NULL when it does not fit.
std::string FitsBooleanSql(std::string_view v);
std::string FitsBigintSql(std::string_view v);
std::string FitsDoubleSql(std::string_view v);
std::string FitsDateSql(std::string_view v);
// Dates are timestamps too (midnight UTC).
std::string FitsTimestampSql(std::string_view v);

// Converts text `v` to `type` (a DuckDB type as SQL text): BOOLEAN, BIGINT, DOUBLE, DATE and
// TIMESTAMP in the recognised formats (timestamps with an offset converted to UTC), JSON as it
// is, VARCHAR as it is, any other type by DuckDB's TRY_CAST. NULL when the text does not fit.
std::string CastTextSql(std::string_view v, std::string_view type);

// Like CastTextSql, for text already known to fit `type` (checked with Fits*Sql or CastTextSql):
// plain casts without the format checks, so that writing a large file stays cheap.
std::string ConvertFittingTextSql(std::string_view v, std::string_view type);

// What a file column of inferred type `file_type` does to a table column of type `table_type`.
enum class EvolutionAction {
  kKeep,   // the table type stays; the file's values are cast to it (and must fit)
  kWiden,  // the table column is widened to `widened_type` (BIGINT->DOUBLE, DATE->TIMESTAMP)
};

struct ColumnEvolution {
  EvolutionAction action = EvolutionAction::kKeep;
  std::string type;  // the table column's type after this file
};

// The rules of docs/formats/batch-ingest.md: safe widenings only; never to VARCHAR. Whether the
// values really fit the resulting type is checked over the data (CastTextSql must not fail).
ColumnEvolution EvolveColumn(std::string_view table_type, InferredType file_type);

// Upper-cased type text without surrounding spaces, for comparisons ("bigint" -> "BIGINT").
std::string NormalizeType(std::string_view type);

}  // namespace basin::ingest
