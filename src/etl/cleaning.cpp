#include "etl/cleaning.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <span>

namespace basin::etl {
namespace {

using query::QuoteIdentifier;
using query::QuoteLiteral;

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool IsText(std::string_view type) {
  const std::string t = Upper(type);
  return t == "VARCHAR" || t == "TEXT" || t == "STRING" || t.starts_with("VARCHAR(");
}

bool IsTimestamp(std::string_view type) { return Upper(type) == "TIMESTAMP"; }
bool IsTimestampTz(std::string_view type) {
  const std::string t = Upper(type);
  return t == "TIMESTAMP WITH TIME ZONE" || t == "TIMESTAMPTZ";
}

Status Invalid(const std::string& path, const std::string& message) {
  return Error(ErrorCode::kInvalidDefinition, path + ": " + message);
}

// A value for a reason text: the first 100 characters of its text, quoted.
std::string Shown(const std::string& expr) {
  return "'''' || left(CAST(" + expr + " AS VARCHAR), 100) || ''''";
}

// trim(x[, chars]) where chars are the space, tab, LF and CR (trim without chars removes spaces
// only): a value that does not start with a character <= 32 and does not end with one of those
// four has nothing to trim and is kept as it is, so that only the few padded values pay for
// trim's per-character work. ends_with compares bytes; right(x, 1) would find the last grapheme.
std::string TrimSql(const std::string& x, const std::string& chars = "") {
  const char* const ends[] = {"' '", "chr(9)", "chr(10)", "chr(13)"};
  std::string padded_end;
  for (const char* end : chars.empty() ? std::span(ends, 1) : std::span(ends)) {
    padded_end += (padded_end.empty() ? "" : " OR ") + ("ends_with(" + x + ", " + end + ")");
  }
  return "CASE WHEN ascii(" + x + ") > 32 AND NOT (" + padded_end + ") THEN " + x + " ELSE trim(" +
         x + (chars.empty() ? "" : ", " + chars) + ") END";
}

// Builds the chain of projections. Columns keep their order; each level lists all of them.
class PlanBuilder {
 public:
  PlanBuilder(const std::vector<catalog::Column>& input, std::string_view relation)
      : columns_(input) {
    std::string sql = "SELECT ";
    for (const auto& c : columns_) sql += QuoteIdentifier(c.name) + ", ";
    sql += "CAST(NULL AS VARCHAR) AS " + Rule() + ", CAST(NULL AS VARCHAR) AS " + Reason();
    for (size_t i = 0; i < columns_.size(); ++i) {
      sql += ", " + QuoteIdentifier(columns_[i].name) + " AS " + Original(i);
    }
    from_ = sql + " FROM " + std::string(relation);
  }

  static std::string Rule() { return QuoteIdentifier(kRuleColumn); }
  static std::string Reason() { return QuoteIdentifier(kReasonColumn); }
  static std::string Original(size_t i) { return "\"__basin_o" + std::to_string(i) + "\""; }

  // The column's index, matched as DuckDB matches identifiers (case-insensitively).
  Result<size_t> Find(const std::string& name, const std::string& path) const {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (Upper(columns_[i].name) == Upper(name)) return i;
    }
    return Invalid(path, "column '" + name + "' is not a column of the primary source");
  }

  const catalog::Column& column(size_t i) const { return columns_[i]; }
  std::string Ref(size_t i) const { return QuoteIdentifier(columns_[i].name); }

  // One projection: `values` replace column expressions, `fail` (SQL over the previous level,
  // may be empty) quarantines a live row with `rule` and the `reason` expression; `extra` adds
  // columns for the next level only.
  void Level(const std::map<size_t, std::string>& values, const std::string& fail,
             std::string_view rule, const std::string& reason,
             const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::string sql = "SELECT ";
    for (size_t i = 0; i < columns_.size(); ++i) {
      auto it = values.find(i);
      sql += (it == values.end() ? Ref(i) : it->second + " AS " + Ref(i)) + ", ";
    }
    if (fail.empty()) {
      sql += Rule() + ", " + Reason();
    } else {
      const std::string when = "CASE WHEN " + Rule() + " IS NULL AND (" + fail + ") THEN ";
      sql += when + QuoteLiteral(rule) + " ELSE " + Rule() + " END AS " + Rule() + ", ";
      sql += when + reason + " ELSE " + Reason() + " END AS " + Reason();
    }
    for (size_t i = 0; i < columns_.size(); ++i) sql += ", " + Original(i);
    for (const auto& [name, expr] : extra) sql += ", " + expr + " AS " + name;
    from_ = sql + " FROM (" + from_ + ") AS l" + std::to_string(++depth_);
  }

  void SetType(size_t i, std::string type) { columns_[i].type = std::move(type); }
  // `literal` cast to `type`, remembered for CheckCleaning under `path`.
  std::string TypedLiteral(const Literal& literal, const std::string& type,
                           const std::string& path) {
    std::string sql = "CAST(" + literal.ToSql() + " AS " + type + ")";
    literal_checks_.emplace_back(path, sql);
    return sql;
  }
  const std::vector<std::pair<std::string, std::string>>& literal_checks() const {
    return literal_checks_;
  }
  const std::string& current() const { return from_; }
  const std::vector<catalog::Column>& columns() const { return columns_; }

  std::string Final() const {
    std::string sql = "SELECT ";
    for (size_t i = 0; i < columns_.size(); ++i) sql += Ref(i) + ", ";
    sql +=
        Rule() + ", " + Reason() + ", CASE WHEN " + Rule() + " IS NOT NULL THEN CAST(json_object(";
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += QuoteLiteral(columns_[i].name) + ", " + Original(i);
    }
    sql += ") AS VARCHAR) END AS " + QuoteIdentifier(kRecordColumn) + " FROM (" + from_ + ") AS l";
    return sql;
  }

 private:
  std::vector<catalog::Column> columns_;
  std::string from_;
  int depth_ = 0;
  std::vector<std::pair<std::string, std::string>> literal_checks_;
};

// What a value that fails becomes under a null or default policy.
std::string Replacement(PlanBuilder& b, const CleaningRule& rule, const std::string& type) {
  if (rule.on_failure == FailurePolicy::kDefault && rule.default_value) {
    return b.TypedLiteral(*rule.default_value, type, rule.path + ".default");
  }
  return "CAST(NULL AS " + type + ")";
}

// A rule that checks a condition on one column (allowed_values, range, regex). The condition is
// computed once, into a column of its own level, and then used by the value, rule and reason.
void CheckRule(PlanBuilder& b, const CleaningRule& rule, size_t i, const std::string& fail,
               const std::string& reason) {
  const std::string c = b.Ref(i);
  const std::string failed = "\"__basin_fail\"";
  b.Level({}, "", "", "", {{failed, "coalesce(" + fail + ", false)"}});
  if (rule.on_failure == FailurePolicy::kQuarantine) {
    b.Level({}, failed, CleaningRuleName(rule.kind), reason);
  } else {
    b.Level({{i, "CASE WHEN " + failed + " THEN " + Replacement(b, rule, b.column(i).type) +
                     " ELSE " + c + " END"}},
            "", "", "");
  }
}

Status AddCast(PlanBuilder& b, const CleaningRule& rule, size_t i) {
  const std::string c = b.Ref(i);
  const std::string from_type = b.column(i).type;
  // Text is trimmed first, and empty text is a missing value, not a failed conversion.
  const std::string source = IsText(from_type) ? "nullif(" + TrimSql(c) + ", '')" : c;
  const std::string target = Upper(rule.type);
  std::string converted = "TRY_CAST(" + source + " AS " + rule.type + ")";
  if (!rule.formats.empty() && (target == "TIMESTAMP" || target == "DATE")) {
    std::string formats = "[";
    for (size_t f = 0; f < rule.formats.size(); ++f) {
      formats += (f > 0 ? ", " : "") + QuoteLiteral(rule.formats[f]);
    }
    formats += "]";
    std::string parsed = "try_strptime(CAST(" + source + " AS VARCHAR), " + formats + ")";
    if (target == "DATE") parsed = "CAST(" + parsed + " AS DATE)";
    // ISO forms first: a cheap cast that most values pass, so the slower strptime runs only on
    // the values it leaves NULL (DuckDB evaluates coalesce's later arguments lazily).
    converted = "coalesce(" + converted + ", " + parsed + ")";
  }
  const std::string cast_column = "\"__basin_cast\"";
  b.Level({}, "", "", "", {{cast_column, converted}});
  const std::string fail = source + " IS NOT NULL AND " + cast_column + " IS NULL";
  std::string value = cast_column;
  if (rule.on_failure == FailurePolicy::kDefault) {
    value = "CASE WHEN " + fail + " THEN " + Replacement(b, rule, rule.type) + " ELSE " +
            cast_column + " END";
  }
  const std::string reason = "concat(" + QuoteLiteral(b.column(i).name + ": ") + ", " + Shown(c) +
                             ", " + QuoteLiteral(" is not a " + rule.type) + ")";
  b.Level({{i, value}}, rule.on_failure == FailurePolicy::kQuarantine ? fail : "",
          CleaningRuleName(rule.kind), reason);
  b.SetType(i, rule.type);
  return Status::Ok();
}

Status AddRule(PlanBuilder& b, const CleaningRule& rule) {
  switch (rule.kind) {
    case CleaningRuleKind::kRequired: {
      std::string fail, reason = "CASE";
      for (size_t k = 0; k < rule.columns.size(); ++k) {
        BASIN_ASSIGN_OR_RETURN(
            size_t i, b.Find(rule.columns[k], rule.path + ".columns[" + std::to_string(k) + "]"));
        std::string missing = b.Ref(i) + " IS NULL";
        if (IsText(b.column(i).type)) {
          // trim(x) = '' needs x to be empty or to start with a space.
          missing = "(" + missing + " OR (coalesce(ascii(" + b.Ref(i) + "), 0) <= 32 AND trim(" +
                    b.Ref(i) + ") = ''))";
        }
        fail += (fail.empty() ? "" : " OR ") + missing;
        reason += " WHEN " + missing + " THEN " + QuoteLiteral(b.column(i).name + ": missing");
      }
      b.Level({}, fail, CleaningRuleName(rule.kind), reason + " END");
      return Status::Ok();
    }
    case CleaningRuleKind::kTrim:
    case CleaningRuleKind::kLower:
    case CleaningRuleKind::kUpper: {
      std::map<size_t, std::string> values;
      for (size_t k = 0; k < rule.columns.size(); ++k) {
        const std::string path = rule.path + ".columns[" + std::to_string(k) + "]";
        BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.columns[k], path));
        if (!IsText(b.column(i).type)) {
          return Invalid(path, std::string(CleaningRuleName(rule.kind)) + " needs text, and '" +
                                   b.column(i).name + "' is " + b.column(i).type);
        }
        values[i] = rule.kind == CleaningRuleKind::kTrim
                        ? TrimSql(b.Ref(i), "' ' || chr(9) || chr(10) || chr(13)")
                        : std::string(rule.kind == CleaningRuleKind::kLower ? "lower(" : "upper(") +
                              b.Ref(i) + ")";
      }
      b.Level(values, "", "", "");
      return Status::Ok();
    }
    case CleaningRuleKind::kCast: {
      BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.column, rule.path + ".column"));
      return AddCast(b, rule, i);
    }
    case CleaningRuleKind::kAllowedValues: {
      BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.column, rule.path + ".column"));
      const std::string& type = b.column(i).type;
      if (rule.case_insensitive && !IsText(type)) {
        return Invalid(rule.path + ".case_insensitive",
                       "needs a text column, and '" + b.column(i).name + "' is " + type);
      }
      std::string list;
      for (size_t k = 0; k < rule.values.size(); ++k) {
        std::string v =
            b.TypedLiteral(rule.values[k], type, rule.path + ".values[" + std::to_string(k) + "]");
        if (rule.case_insensitive) v = "lower(" + v + ")";
        list += (k > 0 ? ", " : "") + v;
      }
      const std::string value = rule.case_insensitive ? "lower(" + b.Ref(i) + ")" : b.Ref(i);
      // list_contains over a constant list, not NOT IN: DuckDB plans a long IN list as a join.
      const std::string fail =
          b.Ref(i) + " IS NOT NULL AND NOT list_contains([" + list + "], " + value + ")";
      const std::string reason = "concat(" + QuoteLiteral(b.column(i).name + ": ") + ", " +
                                 Shown(b.Ref(i)) + ", ' is not an allowed value')";
      CheckRule(b, rule, i, fail, reason);
      return Status::Ok();
    }
    case CleaningRuleKind::kRange: {
      BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.column, rule.path + ".column"));
      const std::string& type = b.column(i).type;
      const std::string c = b.Ref(i);
      std::string below = "false", above = "false";
      if (rule.min) below = c + " < " + b.TypedLiteral(*rule.min, type, rule.path + ".min");
      if (rule.max) above = c + " > " + b.TypedLiteral(*rule.max, type, rule.path + ".max");
      const std::string fail = c + " IS NOT NULL AND (" + below + " OR " + above + ")";
      const std::string prefix =
          "concat(" + QuoteLiteral(b.column(i).name + ": ") + ", " + Shown(c) + ", ";
      std::string reason =
          "CASE WHEN " + below + " THEN " + prefix +
          QuoteLiteral(" is below the minimum " + (rule.min ? rule.min->ToDisplay() : "")) +
          ") ELSE " + prefix +
          QuoteLiteral(" is above the maximum " + (rule.max ? rule.max->ToDisplay() : "")) +
          ") END";
      CheckRule(b, rule, i, fail, reason);
      return Status::Ok();
    }
    case CleaningRuleKind::kRegex: {
      BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.column, rule.path + ".column"));
      const std::string c = b.Ref(i);
      const std::string fail = c + " IS NOT NULL AND NOT regexp_full_match(CAST(" + c +
                               " AS VARCHAR), " + QuoteLiteral(rule.pattern) + ")";
      const std::string reason = "concat(" + QuoteLiteral(b.column(i).name + ": ") + ", " +
                                 Shown(c) + ", " + QuoteLiteral(" does not match " + rule.pattern) +
                                 ")";
      CheckRule(b, rule, i, fail, reason);
      return Status::Ok();
    }
    case CleaningRuleKind::kDefault: {
      BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.column, rule.path + ".column"));
      b.Level({{i, "coalesce(" + b.Ref(i) + ", " +
                       b.TypedLiteral(*rule.default_value, b.column(i).type, rule.path + ".value") +
                       ")"}},
              "", "", "");
      return Status::Ok();
    }
    case CleaningRuleKind::kCheck: {
      // A source without the optional column has nothing for the check to look at.
      if (!rule.if_present.empty() && !b.Find(rule.if_present, rule.path).ok()) return Status::Ok();
      const std::string failed = "\"__basin_fail\"";
      // As a SQL CHECK constraint: a row passes unless the condition is false (NULL passes).
      b.Level({}, "", "", "",
              {{failed, "coalesce(NOT CAST((" + rule.condition + ") AS BOOLEAN), false)"}});
      const std::string detail =
          rule.reason.empty()
              ? QuoteLiteral("the condition is false")
              : "coalesce(CAST((" + rule.reason + ") AS VARCHAR), 'the condition is false')";
      b.Level({}, failed, CleaningRuleName(rule.kind),
              "concat(" + QuoteLiteral(rule.name + ": ") + ", " + detail + ")");
      return Status::Ok();
    }
    case CleaningRuleKind::kUtc: {
      BASIN_ASSIGN_OR_RETURN(size_t i, b.Find(rule.column, rule.path + ".column"));
      const std::string& type = b.column(i).type;
      std::string value;
      if (IsTimestamp(type)) {
        value = "timezone('UTC', timezone(" + QuoteLiteral(rule.time_zone) + ", " + b.Ref(i) + "))";
      } else if (IsTimestampTz(type)) {
        value = "timezone('UTC', " + b.Ref(i) + ")";
      } else {
        return Invalid(rule.path + ".column", "utc needs a TIMESTAMP, and '" + b.column(i).name +
                                                  "' is " + type + " (cast it first)");
      }
      b.Level({{i, value}}, "", "", "");
      b.SetType(i, "TIMESTAMP");
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Result<CleaningPlan> CompileCleaning(const std::vector<CleaningRule>& rules,
                                     const std::vector<catalog::Column>& input_columns,
                                     std::string_view input_relation) {
  for (const auto& c : input_columns) {
    if (c.name.starts_with("__basin")) {
      return Invalid("$.sources[0].table",
                     "column '" + c.name + "' uses the reserved prefix __basin");
    }
  }
  PlanBuilder b(input_columns, input_relation);
  CleaningPlan plan;
  for (const CleaningRule& rule : rules) {
    BASIN_RETURN_IF_ERROR(AddRule(b, rule));
    plan.levels.push_back(b.current());
  }
  plan.sql = b.Final();
  plan.columns = b.columns();
  plan.literal_checks = b.literal_checks();
  return plan;
}

Status CheckCleaning(query::DuckDb& db, const std::vector<CleaningRule>& rules,
                     const CleaningPlan& plan) {
  for (const CleaningRule& rule : rules) {
    if (rule.kind != CleaningRuleKind::kUtc) continue;
    Status zone = db.Execute("SELECT timezone(" + QuoteLiteral(rule.time_zone) +
                             ", TIMESTAMP '2000-01-01 00:00:00')");
    if (!zone.ok()) {
      return Invalid(rule.path + ".time_zone", "unknown time zone '" + rule.time_zone + "'");
    }
  }
  for (const auto& [path, literal] : plan.literal_checks) {
    Status converts = db.Execute("SELECT " + literal);
    if (!converts.ok()) return Invalid(path, converts.message());
  }
  // A check's SQL must stay one expression that only reads (no statement of its own): the first
  // level that does not pass names its rule. The other rules' SQL is built from quoted literals.
  const bool has_check = std::any_of(rules.begin(), rules.end(), [](const CleaningRule& r) {
    return r.kind == CleaningRuleKind::kCheck;
  });
  if (has_check && !db.CheckReadOnly(plan.sql).ok()) {
    for (size_t i = 0; i < plan.levels.size() && i < rules.size(); ++i) {
      Status read_only = db.CheckReadOnly(plan.levels[i]);
      if (!read_only.ok()) return Invalid(rules[i].path, read_only.message());
    }
    BASIN_RETURN_IF_ERROR(db.CheckReadOnly(plan.sql));
  }
  Status whole = db.Execute("SELECT * FROM (" + plan.sql + ") LIMIT 0");
  if (whole.ok()) return whole;
  for (size_t i = 0; i < plan.levels.size() && i < rules.size(); ++i) {
    Status level = db.Execute("SELECT * FROM (" + plan.levels[i] + ") LIMIT 0");
    if (!level.ok()) return Invalid(rules[i].path, level.message());
  }
  return whole;
}

}  // namespace basin::etl
