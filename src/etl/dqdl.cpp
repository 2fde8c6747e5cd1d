#include "etl/dqdl.h"

#include <cctype>
#include <cstdlib>

#include "query/duck_db.h"

namespace basin::etl {
namespace {

struct Token {
  enum class Kind { kWord, kString, kNumber, kOperator, kOpenBracket, kCloseBracket, kComma, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;
  size_t offset = 0;
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Result<Token> Next() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    Token t;
    t.offset = pos_;
    if (pos_ >= text_.size()) return t;
    const char c = text_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c))) {
      t.kind = Token::Kind::kWord;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
        t.text.push_back(text_[pos_++]);
      }
      return t;
    }
    if (c == '"') {
      t.kind = Token::Kind::kString;
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        t.text.push_back(text_[pos_++]);
      }
      if (pos_ >= text_.size()) return Fail("an unterminated string", t.offset);
      ++pos_;
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      t.kind = Token::Kind::kNumber;
      const char* begin = text_.data() + pos_;
      char* end = nullptr;
      std::string copy(text_.substr(pos_));
      std::strtod(copy.c_str(), &end);
      const size_t length = static_cast<size_t>(end - copy.c_str());
      if (length == 0) return Fail("a malformed number", t.offset);
      t.text.assign(begin, length);
      pos_ += length;
      return t;
    }
    if (c == '[' || c == ']' || c == ',') {
      t.kind = c == '[' ? Token::Kind::kOpenBracket
                        : (c == ']' ? Token::Kind::kCloseBracket : Token::Kind::kComma);
      t.text = std::string(1, c);
      ++pos_;
      return t;
    }
    for (std::string_view op : {">=", "<=", "!=", "=", ">", "<"}) {
      if (text_.substr(pos_, op.size()) == op) {
        t.kind = Token::Kind::kOperator;
        t.text = std::string(op);
        pos_ += op.size();
        return t;
      }
    }
    return Fail(std::string("an unexpected character '") + c + "'", t.offset);
  }

 private:
  static Status Fail(const std::string& what, size_t offset) {
    return Error(ErrorCode::kInvalidDefinition,
                 "DQDL: " + what + " at offset " + std::to_string(offset));
  }
  std::string_view text_;
  size_t pos_ = 0;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) {}

  Result<DqRule> Parse() {
    BASIN_RETURN_IF_ERROR(Advance());
    if (current_.kind != Token::Kind::kWord) return Expected("a rule type");
    const std::string type = current_.text;
    DqRule rule;
    BASIN_RETURN_IF_ERROR(Advance());
    if (type == "RowCount") {
      rule.type = DqRuleType::kRowCount;
      BASIN_RETURN_IF_ERROR(Comparison(rule, /*numbers_only=*/true, type));
    } else if (type == "IsComplete" || type == "IsUnique") {
      rule.type = type == "IsComplete" ? DqRuleType::kIsComplete : DqRuleType::kIsUnique;
      BASIN_RETURN_IF_ERROR(ColumnName(rule, type));
    } else if (type == "Completeness" || type == "Uniqueness") {
      rule.type = type == "Completeness" ? DqRuleType::kCompleteness : DqRuleType::kUniqueness;
      BASIN_RETURN_IF_ERROR(ColumnName(rule, type));
      BASIN_RETURN_IF_ERROR(Comparison(rule, true, "the column"));
    } else if (type == "ColumnValues") {
      rule.type = DqRuleType::kColumnValues;
      BASIN_RETURN_IF_ERROR(ColumnName(rule, type));
      BASIN_RETURN_IF_ERROR(ColumnValuesCondition(rule));
    } else if (type == "DataFreshness") {
      rule.type = DqRuleType::kDataFreshness;
      BASIN_RETURN_IF_ERROR(ColumnName(rule, type));
      BASIN_RETURN_IF_ERROR(Freshness(rule));
    } else {
      return Error(ErrorCode::kInvalidDefinition,
                   "DQDL: unknown rule type '" + type +
                       "' (known: RowCount, IsComplete, Completeness, IsUnique, Uniqueness, "
                       "ColumnValues, DataFreshness)");
    }
    if (current_.kind != Token::Kind::kEnd) return Expected("the end of the rule");
    return rule;
  }

 private:
  Status Advance() {
    BASIN_ASSIGN_OR_RETURN(current_, lexer_.Next());
    return Status::Ok();
  }

  Status Expected(const std::string& what) const {
    std::string found = current_.kind == Token::Kind::kEnd ? "the end" : "'" + current_.text + "'";
    return Error(ErrorCode::kInvalidDefinition, "DQDL: expected " + what + " at offset " +
                                                    std::to_string(current_.offset) + ", found " +
                                                    found);
  }

  Status ColumnName(DqRule& rule, const std::string& after) {
    if (current_.kind != Token::Kind::kString || current_.text.empty()) {
      return Expected("a quoted column name after " + after);
    }
    rule.column = current_.text;
    return Advance();
  }

  Status Value(DqRule& rule, bool numbers_only) {
    if (current_.kind == Token::Kind::kNumber ||
        (!numbers_only && current_.kind == Token::Kind::kString)) {
      rule.values.push_back({current_.kind == Token::Kind::kString, current_.text});
      return Advance();
    }
    return Expected(numbers_only ? "a number" : "a number or a quoted string");
  }

  Status Comparison(DqRule& rule, bool numbers_only, const std::string& after) {
    if (current_.kind != Token::Kind::kOperator) {
      return Expected("a comparison operator after " + after);
    }
    const std::string& op = current_.text;
    rule.op = op == "="    ? DqOperator::kEq
              : op == "!=" ? DqOperator::kNe
              : op == ">"  ? DqOperator::kGt
              : op == ">=" ? DqOperator::kGe
              : op == "<"  ? DqOperator::kLt
                           : DqOperator::kLe;
    BASIN_RETURN_IF_ERROR(Advance());
    return Value(rule, numbers_only);
  }

  Status ColumnValuesCondition(DqRule& rule) {
    if (current_.kind == Token::Kind::kWord && current_.text == "between") {
      rule.op = DqOperator::kBetween;
      BASIN_RETURN_IF_ERROR(Advance());
      BASIN_RETURN_IF_ERROR(Value(rule, false));
      if (current_.kind != Token::Kind::kWord || current_.text != "and") {
        return Expected("'and' in between");
      }
      BASIN_RETURN_IF_ERROR(Advance());
      return Value(rule, false);
    }
    if (current_.kind == Token::Kind::kWord && current_.text == "in") {
      rule.op = DqOperator::kIn;
      BASIN_RETURN_IF_ERROR(Advance());
      if (current_.kind != Token::Kind::kOpenBracket) return Expected("'[' after in");
      BASIN_RETURN_IF_ERROR(Advance());
      while (true) {
        BASIN_RETURN_IF_ERROR(Value(rule, false));
        if (current_.kind == Token::Kind::kCloseBracket) break;
        if (current_.kind != Token::Kind::kComma) return Expected("',' or ']' in the list");
        BASIN_RETURN_IF_ERROR(Advance());
      }
      return Advance();
    }
    return Comparison(rule, false, "the column");
  }

  Status Freshness(DqRule& rule) {
    if (current_.kind != Token::Kind::kOperator || current_.text != "<=") {
      return Expected("'<=' after the column");
    }
    BASIN_RETURN_IF_ERROR(Advance());
    if (current_.kind != Token::Kind::kNumber) return Expected("a number");
    const double amount = std::strtod(current_.text.c_str(), nullptr);
    if (!(amount > 0)) return Expected("a positive number");
    BASIN_RETURN_IF_ERROR(Advance());
    if (current_.kind != Token::Kind::kWord) return Expected("hours, minutes or days");
    double unit_us = 0;
    const std::string& unit = current_.text;
    if (unit == "minutes" || unit == "minute") unit_us = 60e6;
    if (unit == "hours" || unit == "hour") unit_us = 3600e6;
    if (unit == "days" || unit == "day") unit_us = 86400e6;
    if (unit_us == 0) return Expected("hours, minutes or days");
    rule.op = DqOperator::kLe;
    rule.freshness_limit_us = static_cast<int64_t>(amount * unit_us);
    return Advance();
  }

  Lexer lexer_;
  Token current_;
};

std::string ValueSql(const DqValue& v) {
  return v.is_string ? query::QuoteLiteral(v.text) : v.text;
}

// A fraction for actual_value: four decimals.
std::string FractionText(const std::string& expr) {
  return "CAST(round(" + expr + ", 4) AS VARCHAR)";
}

}  // namespace

Result<DqRule> ParseDqRule(std::string_view text) { return Parser(text).Parse(); }

std::string_view DqOperatorSql(DqOperator op) {
  switch (op) {
    case DqOperator::kEq: return "=";
    case DqOperator::kNe: return "!=";
    case DqOperator::kGt: return ">";
    case DqOperator::kGe: return ">=";
    case DqOperator::kLt: return "<";
    case DqOperator::kLe: return "<=";
    default: return "=";
  }
}

DqQuery CompileDqRule(const DqRule& rule, std::string_view rows_relation,
                      std::string_view table_relation, int64_t now_us) {
  const std::string rows(rows_relation);
  const std::string table(table_relation);
  const std::string c = query::QuoteIdentifier(rule.column);
  const std::string op(DqOperatorSql(rule.op));
  DqQuery q;
  switch (rule.type) {
    case DqRuleType::kRowCount:
      q.sql = "SELECT CAST(count(*) AS VARCHAR), count(*) " + op + " " + ValueSql(rule.values[0]) +
              " FROM " + rows;
      break;
    case DqRuleType::kIsComplete:
    case DqRuleType::kCompleteness: {
      const std::string fraction =
          "(CASE WHEN count(*) = 0 THEN 1.0 ELSE count(" + c + ") / count(*) END)";
      const std::string passed = rule.type == DqRuleType::kIsComplete
                                     ? "count(" + c + ") = count(*)"
                                     : fraction + " " + op + " " + ValueSql(rule.values[0]);
      q.sql = "SELECT " + FractionText(fraction) + ", " + passed + " FROM " + rows;
      break;
    }
    case DqRuleType::kIsUnique:
    case DqRuleType::kUniqueness: {
      const std::string fraction = "(CASE WHEN count(" + c + ") = 0 THEN 1.0 ELSE count(DISTINCT " +
                                   c + ") / count(" + c + ") END)";
      const std::string passed = rule.type == DqRuleType::kIsUnique
                                     ? "count(DISTINCT " + c + ") = count(" + c + ")"
                                     : fraction + " " + op + " " + ValueSql(rule.values[0]);
      q.sql = "SELECT " + FractionText(fraction) + ", " + passed + " FROM " + table;
      break;
    }
    case DqRuleType::kColumnValues: {
      std::string condition;
      if (rule.op == DqOperator::kBetween) {
        condition = c + " BETWEEN " + ValueSql(rule.values[0]) + " AND " + ValueSql(rule.values[1]);
      } else if (rule.op == DqOperator::kIn) {
        condition = c + " IN (";
        for (size_t i = 0; i < rule.values.size(); ++i) {
          condition += (i > 0 ? ", " : "") + ValueSql(rule.values[i]);
        }
        condition += ")";
      } else {
        condition = c + " " + op + " " + ValueSql(rule.values[0]);
      }
      // actual_value: how many non-NULL values break the rule.
      q.sql = "SELECT CAST(count(*) FILTER (WHERE NOT (" + condition +
              ")) AS VARCHAR), count(*) FILTER (WHERE NOT (" + condition + ")) = 0 FROM " + rows +
              " WHERE " + c + " IS NOT NULL";
      break;
    }
    case DqRuleType::kDataFreshness: {
      const std::string age =
          "(" + std::to_string(now_us) + " - epoch_us(CAST(max(" + c + ") AS TIMESTAMP)))";
      q.sql = "SELECT CASE WHEN max(" + c + ") IS NULL THEN 'no rows' ELSE CAST(round(" + age +
              " / 3600e6, 2) AS VARCHAR) || ' hours' END, coalesce(" + age +
              " <= " + std::to_string(rule.freshness_limit_us) + ", false) FROM " + table;
      break;
    }
  }
  return q;
}

}  // namespace basin::etl
