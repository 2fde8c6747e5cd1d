#include "ingest/schema_inference.h"

#include <cctype>

namespace basin::ingest {
namespace {

// Digits as the formats below require them; DuckDB's regexp (RE2) syntax.
constexpr std::string_view kIntegerRegex = "^[+-]?(0|[1-9][0-9]*)$";
constexpr std::string_view kDecimalRegex =
    "^[+-]?((0|[1-9][0-9]*)(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$";
constexpr std::string_view kDateDashRegex = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
constexpr std::string_view kDateSlashRegex = "^[0-9]{4}/[0-9]{2}/[0-9]{2}$";
constexpr std::string_view kTimestampRegex =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?"
    "(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$";

std::string Literal(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  out += "'";
  return out;
}

std::string Matches(std::string_view v, std::string_view regex) {
  return "regexp_full_match(" + std::string(v) + ", " + Literal(regex) + ")";
}

std::string Trimmed(std::string_view v) { return "trim(" + std::string(v) + ")"; }

std::string DateSql(std::string_view v) {
  const std::string t = Trimmed(v);
  return "(CASE WHEN " + Matches(t, kDateDashRegex) + " OR " + Matches(t, kDateSlashRegex) +
         " THEN TRY_CAST(replace(" + t + ", '/', '-') AS DATE) END)";
}

std::string TimestampSql(std::string_view v) {
  const std::string t = Trimmed(v);
  return "(CASE WHEN " + Matches(t, kTimestampRegex) + " THEN TRY_CAST(TRY_CAST(" + t +
         " AS TIMESTAMPTZ) AS TIMESTAMP) ELSE CAST(" + DateSql(v) + " AS TIMESTAMP) END)";
}

}  // namespace

std::string_view InferredTypeName(InferredType type) {
  switch (type) {
    case InferredType::kBoolean: return "BOOLEAN";
    case InferredType::kBigint: return "BIGINT";
    case InferredType::kDouble: return "DOUBLE";
    case InferredType::kDate: return "DATE";
    case InferredType::kTimestamp: return "TIMESTAMP";
    case InferredType::kVarchar: return "VARCHAR";
    case InferredType::kJson: return "JSON";
  }
  return "VARCHAR";
}

std::string NormalizeType(std::string_view type) {
  size_t b = 0;
  size_t e = type.size();
  while (b < e && std::isspace(static_cast<unsigned char>(type[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(type[e - 1]))) --e;
  std::string out(type.substr(b, e - b));
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string FitsBooleanSql(std::string_view v) {
  return "(lower(" + Trimmed(v) + ") IN ('true', 'false'))";
}

std::string FitsBigintSql(std::string_view v) {
  return "(" + Matches(Trimmed(v), kIntegerRegex) + " AND TRY_CAST(" + Trimmed(v) +
         " AS BIGINT) IS NOT NULL)";
}

std::string FitsDoubleSql(std::string_view v) {
  return "(" + Matches(Trimmed(v), kDecimalRegex) + " AND isfinite(TRY_CAST(" + Trimmed(v) +
         " AS DOUBLE)))";
}

std::string FitsDateSql(std::string_view v) { return "(" + DateSql(v) + " IS NOT NULL)"; }

std::string FitsTimestampSql(std::string_view v) { return "(" + TimestampSql(v) + " IS NOT NULL)"; }

std::string CastTextSql(std::string_view v, std::string_view type) {
  const std::string t = NormalizeType(type);
  const std::string value(v);
  if (t == "VARCHAR" || t == "TEXT" || t == "STRING") return value;
  if (t == "JSON")
    return "(CASE WHEN json_valid(" + value + ") THEN CAST(" + value + " AS JSON) END)";
  if (t == "BOOLEAN") {
    return "(CASE WHEN " + FitsBooleanSql(v) + " THEN lower(" + Trimmed(v) + ") = 'true' END)";
  }
  if (t == "BIGINT")
    return "(CASE WHEN " + FitsBigintSql(v) + " THEN CAST(" + Trimmed(v) + " AS BIGINT) END)";
  if (t == "DOUBLE")
    return "(CASE WHEN " + FitsDoubleSql(v) + " THEN CAST(" + Trimmed(v) + " AS DOUBLE) END)";
  if (t == "DATE") return DateSql(v);
  if (t == "TIMESTAMP") return TimestampSql(v);
  return "TRY_CAST(" + Trimmed(v) + " AS " + std::string(type) + ")";
}

std::string ConvertFittingTextSql(std::string_view v, std::string_view type) {
  const std::string t = NormalizeType(type);
  const std::string trimmed = Trimmed(v);
  if (t == "BOOLEAN") return "(lower(" + trimmed + ") = 'true')";
  if (t == "BIGINT") return "CAST(" + trimmed + " AS BIGINT)";
  if (t == "DOUBLE") return "CAST(" + trimmed + " AS DOUBLE)";
  if (t == "DATE") return "CAST(replace(" + trimmed + ", '/', '-') AS DATE)";
  if (t == "TIMESTAMP") {
    return "CAST(CAST(replace(" + trimmed + ", '/', '-') AS TIMESTAMPTZ) AS TIMESTAMP)";
  }
  return CastTextSql(v, type);
}

ColumnEvolution EvolveColumn(std::string_view table_type, InferredType file_type) {
  const std::string t = NormalizeType(table_type);
  if (t == "BIGINT" && file_type == InferredType::kDouble) {
    return {EvolutionAction::kWiden, "DOUBLE"};
  }
  if (t == "DATE" && file_type == InferredType::kTimestamp) {
    return {EvolutionAction::kWiden, "TIMESTAMP"};
  }
  return {EvolutionAction::kKeep, std::string(table_type)};
}

}  // namespace basin::ingest
