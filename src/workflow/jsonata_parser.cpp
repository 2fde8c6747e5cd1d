// Lexer and Pratt parser for JSONata, plus the pass that turns `.` and `[...]` chains into paths
// with per-step predicates (the shape the evaluator walks).

#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/utf8.h"
#include "workflow/jsonata.h"
#include "workflow/jsonata_internal.h"

namespace basin::workflow {
namespace jsonata {

Node::~Node() {
  std::vector<std::unique_ptr<Node>> pending;
  auto take = [&pending](Node& node) {
    for (auto* list : {&node.children, &node.stages, &node.predicates}) {
      for (auto& child : *list) {
        if (child) pending.push_back(std::move(child));
      }
      list->clear();
    }
  };
  take(*this);
  while (!pending.empty()) {
    std::unique_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    take(*node);
  }
}

namespace {

enum class TokenType { kEnd, kOperator, kString, kNumber, kName, kVariable, kValue };

struct Token {
  TokenType type = TokenType::kEnd;
  std::string text;  // operator, name, variable (without $), string contents
  double number = 0;
  size_t position = 0;
};

constexpr std::string_view kOperatorChars = ".[]{}(),@#;:?+-*/%|=<>^&!~";

bool IsNameBreak(char c) {
  return kOperatorChars.find(c) != std::string_view::npos || c == ' ' || c == '\t' || c == '\n' ||
         c == '\r' || c == '\v' || c == '\f' || c == '"' || c == '\'' || c == '`';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<std::unique_ptr<Node>> ParseAll() {
    if (auto s = Advance(); !s.ok()) return s;
    auto expr = Expression(0);
    if (!expr.ok()) return expr.status();
    if (token_.type != TokenType::kEnd) {
      return Fail(token_.position, "S0201: unexpected '" + token_.text + "'");
    }
    return std::move(expr).value();
  }

 private:
  Status Fail(size_t position, std::string message) const {
    return Error(ErrorCode::kInvalidDefinition,
                 "JSONata syntax error at position " + std::to_string(position) + ": " + message);
  }

  void SkipSpaceAndComments(bool& bad_comment) {
    bad_comment = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        size_t end = text_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) {
          bad_comment = true;
          return;
        }
        pos_ = end + 2;
      } else {
        return;
      }
    }
  }

  Status LexString(char quote) {
    std::string out;
    size_t start = pos_++;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == quote) {
        token_ = Token{TokenType::kString, std::move(out), 0, start};
        return Status::Ok();
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
        case '\'': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto hex4 = [&](uint32_t& v) {
            if (pos_ + 4 > text_.size()) return false;
            auto r = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, v, 16);
            if (r.ptr != text_.data() + pos_ + 4) return false;
            pos_ += 4;
            return true;
          };
          uint32_t cp = 0;
          if (!hex4(cp)) return Fail(pos_, "S0104: bad \\u escape in string");
          if (cp >= 0xD800 && cp < 0xDC00 && pos_ + 1 < text_.size() && text_[pos_] == '\\' &&
              text_[pos_ + 1] == 'u') {
            pos_ += 2;
            uint32_t low = 0;
            if (!hex4(low)) return Fail(pos_, "S0104: bad \\u escape in string");
            if (low >= 0xDC00 && low < 0xE000)
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Fail(pos_ - 1, std::string("S0103: unsupported escape \\") + e + " in string");
      }
    }
    return Fail(start, "S0101: string literal not terminated");
  }

  Status Advance() {
    bool bad_comment = false;
    SkipSpaceAndComments(bad_comment);
    if (bad_comment) return Fail(pos_, "S0106: comment not terminated");
    if (pos_ >= text_.size()) {
      token_ = Token{TokenType::kEnd, "(end)", 0, pos_};
      return Status::Ok();
    }
    size_t start = pos_;
    char c = text_[pos_];
    auto two = [&](std::string_view op) { return text_.substr(pos_, 2) == op; };
    for (std::string_view op : {"..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"}) {
      if (two(op)) {
        pos_ += 2;
        token_ = Token{TokenType::kOperator, std::string(op), 0, start};
        return Status::Ok();
      }
    }
    if (kOperatorChars.find(c) != std::string_view::npos) {
      ++pos_;
      token_ = Token{TokenType::kOperator, std::string(1, c), 0, start};
      return Status::Ok();
    }
    if (c == '"' || c == '\'') return LexString(c);
    if (c >= '0' && c <= '9') {
      size_t end = pos_;
      if (text_[end] == '0') {
        ++end;
      } else {
        while (end < text_.size() && std::isdigit(static_cast<unsigned char>(text_[end]))) ++end;
      }
      if (end + 1 < text_.size() && text_[end] == '.' &&
          std::isdigit(static_cast<unsigned char>(text_[end + 1]))) {
        ++end;
        while (end < text_.size() && std::isdigit(static_cast<unsigned char>(text_[end]))) ++end;
      }
      if (end < text_.size() && (text_[end] == 'e' || text_[end] == 'E')) {
        size_t e = end + 1;
        if (e < text_.size() && (text_[e] == '+' || text_[e] == '-')) ++e;
        if (e < text_.size() && std::isdigit(static_cast<unsigned char>(text_[e]))) {
          while (e < text_.size() && std::isdigit(static_cast<unsigned char>(text_[e]))) ++e;
          end = e;
        }
      }
      double value = 0;
      std::string digits(text_.substr(pos_, end - pos_));
      value = std::strtod(digits.c_str(), nullptr);
      if (!std::isfinite(value)) return Fail(start, "S0102: number out of range: " + digits);
      pos_ = end;
      token_ = Token{TokenType::kNumber, digits, value, start};
      return Status::Ok();
    }
    if (c == '`') {
      size_t end = text_.find('`', pos_ + 1);
      if (end == std::string_view::npos) return Fail(start, "S0105: quoted name not terminated");
      token_ =
          Token{TokenType::kName, std::string(text_.substr(pos_ + 1, end - pos_ - 1)), 0, start};
      pos_ = end + 1;
      return Status::Ok();
    }
    size_t end = pos_;
    bool variable = c == '$';
    if (variable) ++end;
    while (end < text_.size() && !IsNameBreak(text_[end])) ++end;
    if (variable && end == pos_ + 1 && end < text_.size() && text_[end] == '$') {
      end++;  // $$
    }
    std::string word(text_.substr(pos_, end - pos_));
    pos_ = end;
    if (variable) {
      token_ = Token{TokenType::kVariable, word.substr(1), 0, start};
    } else if (word == "and" || word == "or" || word == "in") {
      token_ = Token{TokenType::kOperator, word, 0, start};
    } else if (word == "true" || word == "false" || word == "null") {
      token_ = Token{TokenType::kValue, word, 0, start};
    } else {
      token_ = Token{TokenType::kName, word, 0, start};
    }
    return Status::Ok();
  }

  bool IsOp(std::string_view op) const {
    return token_.type == TokenType::kOperator && token_.text == op;
  }

  Status Expect(std::string_view op) {
    if (!IsOp(op)) {
      std::string found = token_.type == TokenType::kEnd ? "end of expression" : token_.text;
      return Fail(token_.position,
                  "S0202: expected '" + std::string(op) + "', found '" + found + "'");
    }
    return Advance();
  }

  static int LeftBindingPower(const Token& t) {
    if (t.type != TokenType::kOperator) return 0;
    static const std::pair<const char*, int> kPowers[] = {
        {".", 75},  {"[", 80},   {"{", 70},  {"(", 80},  {"@", 80},  {"#", 80},  {"?", 20},
        {"+", 50},  {"-", 50},   {"*", 60},  {"/", 60},  {"%", 60},  {"=", 40},  {"<", 40},
        {">", 40},  {"^", 40},   {"..", 20}, {":=", 10}, {"!=", 40}, {"<=", 40}, {">=", 40},
        {"~>", 40}, {"and", 30}, {"or", 25}, {"in", 40}, {"&", 50},  {"?:", 40}, {"??", 40}};
    for (const auto& [op, power] : kPowers) {
      if (t.text == op) return power;
    }
    return 0;
  }

  std::unique_ptr<Node> MakeNode(NodeType type, size_t position) {
    auto n = std::make_unique<Node>();
    n->type = type;
    n->position = position;
    return n;
  }

  Result<std::unique_ptr<Node>> Expression(int rbp) {
    if (++depth_ > kMaxJsonataParseDepth) {
      return Fail(token_.position, "S0208: expression nested deeper than " +
                                       std::to_string(kMaxJsonataParseDepth) + " levels");
    }
    Token t = token_;
    if (t.type == TokenType::kEnd) return Fail(t.position, "S0207: unexpected end of expression");
    std::unique_ptr<Node> left;
    if (t.type == TokenType::kOperator && t.text == "/") {
      // A regex literal: read from the raw text, since its body is not JSONata tokens.
      BASIN_ASSIGN_OR_RETURN(left, RegexLiteral(t));
    } else {
      BASIN_RETURN_IF_ERROR(Advance());
      BASIN_ASSIGN_OR_RETURN(left, Prefix(t));
    }
    while (rbp < LeftBindingPower(token_)) {
      Token op = token_;
      BASIN_RETURN_IF_ERROR(Advance());
      BASIN_ASSIGN_OR_RETURN(left, Infix(op, std::move(left)));
    }
    --depth_;
    return left;
  }

  Result<std::unique_ptr<Node>> Prefix(const Token& t) {
    switch (t.type) {
      case TokenType::kString: {
        auto n = MakeNode(NodeType::kString, t.position);
        n->str = t.text;
        return n;
      }
      case TokenType::kNumber: {
        auto n = MakeNode(NodeType::kNumber, t.position);
        n->number = t.number;
        return n;
      }
      case TokenType::kValue: {
        if (t.text == "null") return MakeNode(NodeType::kNull, t.position);
        auto n = MakeNode(NodeType::kBool, t.position);
        n->boolean = t.text == "true";
        return n;
      }
      case TokenType::kName: {
        if (t.text == "function" || t.text == "\xCE\xBB") return Lambda(t);
        auto n = MakeNode(NodeType::kName, t.position);
        n->str = t.text;
        return n;
      }
      case TokenType::kVariable: {
        auto n = MakeNode(NodeType::kVariable, t.position);
        n->str = t.text;
        return n;
      }
      case TokenType::kEnd: break;
      case TokenType::kOperator: return PrefixOperator(t);
    }
    return Fail(t.position, "S0211: unexpected '" + t.text + "'");
  }

  Result<std::unique_ptr<Node>> PrefixOperator(const Token& t) {
    const std::string& op = t.text;
    if (op == "and" || op == "or" || op == "in") {  // keywords double as field names
      auto n = MakeNode(NodeType::kName, t.position);
      n->str = op;
      return n;
    }
    if (op == "-") {
      BASIN_ASSIGN_OR_RETURN(auto operand, Expression(70));
      if (operand->type == NodeType::kNumber) {
        operand->number = -operand->number;
        operand->position = t.position;
        return operand;
      }
      auto n = MakeNode(NodeType::kUnaryMinus, t.position);
      n->children.push_back(std::move(operand));
      return n;
    }
    if (op == "*") return MakeNode(NodeType::kWildcard, t.position);
    if (op == "**") return MakeNode(NodeType::kDescendant, t.position);
    if (op == "(") {
      auto n = MakeNode(NodeType::kBlock, t.position);
      while (!IsOp(")")) {
        BASIN_ASSIGN_OR_RETURN(auto e, Expression(0));
        n->children.push_back(std::move(e));
        if (!IsOp(";")) break;
        BASIN_RETURN_IF_ERROR(Advance());
      }
      BASIN_RETURN_IF_ERROR(Expect(")"));
      return n;
    }
    if (op == "[") {
      auto n = MakeNode(NodeType::kArray, t.position);
      if (!IsOp("]")) {
        while (true) {
          BASIN_ASSIGN_OR_RETURN(auto e, Expression(0));
          n->children.push_back(std::move(e));
          if (!IsOp(",")) break;
          BASIN_RETURN_IF_ERROR(Advance());
        }
      }
      BASIN_RETURN_IF_ERROR(Expect("]"));
      return n;
    }
    if (op == "{") return ObjectBody(t.position);
    if (op == "%") return Fail(t.position, "S0217: the parent operator % is not supported");
    return Fail(t.position, "S0211: the symbol '" + op + "' cannot be used as a unary operator");
  }

  // `/pattern/flags`; pos_ is just after the opening '/'.
  Result<std::unique_ptr<Node>> RegexLiteral(const Token& t) {
    size_t start = pos_;
    size_t i = pos_;
    bool in_class = false;
    while (true) {
      if (i >= text_.size()) return Fail(t.position, "S0302: regular expression not terminated");
      char c = text_[i];
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == '[') in_class = true;
      if (c == ']') in_class = false;
      if (c == '/' && !in_class) break;
      ++i;
    }
    std::string_view pattern = text_.substr(start, i - start);
    size_t flags_start = ++i;
    while (i < text_.size() && std::isalpha(static_cast<unsigned char>(text_[i]))) ++i;
    std::string_view flags = text_.substr(flags_start, i - flags_start);
    Result<std::shared_ptr<const Regex>> regex = Regex::Compile(pattern, flags);
    if (!regex.ok()) return Fail(t.position, "S0302: " + regex.status().message());
    pos_ = i;
    BASIN_RETURN_IF_ERROR(Advance());
    auto n = MakeNode(NodeType::kRegex, t.position);
    n->str = std::string(pattern);
    n->regex = std::move(regex).value();
    return n;
  }

  // The pairs of an object constructor, after its `{`.
  Result<std::unique_ptr<Node>> ObjectBody(size_t position) {
    auto n = MakeNode(NodeType::kObject, position);
    if (!IsOp("}")) {
      while (true) {
        BASIN_ASSIGN_OR_RETURN(auto key, Expression(0));
        BASIN_RETURN_IF_ERROR(Expect(":"));
        BASIN_ASSIGN_OR_RETURN(auto value, Expression(0));
        n->children.push_back(std::move(key));
        n->children.push_back(std::move(value));
        if (!IsOp(",")) break;
        BASIN_RETURN_IF_ERROR(Advance());
      }
    }
    BASIN_RETURN_IF_ERROR(Expect("}"));
    return n;
  }

  // expr^(<key, >key, ...): after the `^`.
  Result<std::unique_ptr<Node>> SortTerms(const Token& op, std::unique_ptr<Node> lhs) {
    auto n = MakeNode(NodeType::kSort, op.position);
    n->children.push_back(std::move(lhs));
    BASIN_RETURN_IF_ERROR(Expect("("));
    while (true) {
      std::string direction = "<";
      if (IsOp("<") || IsOp(">")) {
        direction = token_.text;
        BASIN_RETURN_IF_ERROR(Advance());
      }
      BASIN_ASSIGN_OR_RETURN(auto key, Expression(0));
      n->children.push_back(std::move(key));
      n->params.push_back(direction);
      if (!IsOp(",")) break;
      BASIN_RETURN_IF_ERROR(Advance());
    }
    BASIN_RETURN_IF_ERROR(Expect(")"));
    return n;
  }

  Result<std::unique_ptr<Node>> Lambda(const Token& t) {
    auto n = MakeNode(NodeType::kLambda, t.position);
    BASIN_RETURN_IF_ERROR(Expect("("));
    if (!IsOp(")")) {
      while (true) {
        if (token_.type != TokenType::kVariable || token_.text.empty() || token_.text == "$") {
          return Fail(token_.position, "S0208: function parameters must be $names");
        }
        n->params.push_back(token_.text);
        BASIN_RETURN_IF_ERROR(Advance());
        if (!IsOp(",")) break;
        BASIN_RETURN_IF_ERROR(Advance());
      }
    }
    BASIN_RETURN_IF_ERROR(Expect(")"));
    if (IsOp("<")) {  // a type signature such as <n-n:n>: accepted, not checked
      size_t scan = token_.position;
      int nesting = 0;
      do {
        if (scan >= text_.size()) return Fail(token_.position, "S0401: signature not terminated");
        if (text_[scan] == '<') ++nesting;
        if (text_[scan] == '>') --nesting;
        ++scan;
      } while (nesting > 0);
      std::string_view signature = text_.substr(token_.position, scan - token_.position);
      n->context_default =
          signature.substr(0, signature.find(':')).find('-') != std::string_view::npos;
      pos_ = scan;
      BASIN_RETURN_IF_ERROR(Advance());
    }
    BASIN_RETURN_IF_ERROR(Expect("{"));
    BASIN_ASSIGN_OR_RETURN(auto body, Expression(0));
    BASIN_RETURN_IF_ERROR(Expect("}"));
    n->children.push_back(std::move(body));
    return n;
  }

  Result<std::unique_ptr<Node>> Binary(NodeType type, const Token& op, std::unique_ptr<Node> lhs,
                                       int rbp) {
    BASIN_ASSIGN_OR_RETURN(auto rhs, Expression(rbp));
    auto n = MakeNode(type, op.position);
    n->str = op.text;
    n->children.push_back(std::move(lhs));
    n->children.push_back(std::move(rhs));
    return n;
  }

  Result<std::unique_ptr<Node>> Infix(const Token& op, std::unique_ptr<Node> lhs) {
    const std::string& o = op.text;
    if (o == ".") return Binary(NodeType::kDot, op, std::move(lhs), 75);
    if (o == "+" || o == "-" || o == "&") return Binary(NodeType::kBinary, op, std::move(lhs), 50);
    if (o == "*" || o == "/" || o == "%") return Binary(NodeType::kBinary, op, std::move(lhs), 60);
    if (o == "=" || o == "!=" || o == "<" || o == "<=" || o == ">" || o == ">=" || o == "in") {
      return Binary(NodeType::kBinary, op, std::move(lhs), 40);
    }
    if (o == "and") return Binary(NodeType::kAnd, op, std::move(lhs), 30);
    if (o == "or") return Binary(NodeType::kOr, op, std::move(lhs), 25);
    if (o == "~>") return Binary(NodeType::kApply, op, std::move(lhs), 40);
    if (o == "..") return Binary(NodeType::kRange, op, std::move(lhs), 20);
    if (o == "?:" || o == "??") return Binary(NodeType::kBinary, op, std::move(lhs), 40);
    if (o == ":=") {
      if (lhs->type != NodeType::kVariable || lhs->str.empty() || lhs->str == "$") {
        return Fail(op.position, "S0212: the left side of := must be a variable name ($x)");
      }
      BASIN_ASSIGN_OR_RETURN(auto value, Expression(9));
      auto n = MakeNode(NodeType::kBind, op.position);
      n->str = lhs->str;
      n->children.push_back(std::move(value));
      return n;
    }
    if (o == "?") {
      auto n = MakeNode(NodeType::kCondition, op.position);
      BASIN_ASSIGN_OR_RETURN(auto then, Expression(0));
      n->children.push_back(std::move(lhs));
      n->children.push_back(std::move(then));
      if (IsOp(":")) {
        BASIN_RETURN_IF_ERROR(Advance());
        BASIN_ASSIGN_OR_RETURN(auto otherwise, Expression(0));
        n->children.push_back(std::move(otherwise));
      }
      return n;
    }
    if (o == "[") {
      auto n = MakeNode(NodeType::kFilter, op.position);
      n->children.push_back(std::move(lhs));
      if (IsOp("]")) {
        n->children.push_back(nullptr);
      } else {
        BASIN_ASSIGN_OR_RETURN(auto predicate, Expression(0));
        n->children.push_back(std::move(predicate));
      }
      BASIN_RETURN_IF_ERROR(Expect("]"));
      return n;
    }
    if (o == "(") {
      auto n = MakeNode(NodeType::kCall, op.position);
      n->children.push_back(std::move(lhs));
      if (!IsOp(")")) {
        while (true) {
          if (IsOp("?")) {  // partial application: $f(?, x)
            n->children.push_back(MakeNode(NodeType::kPlaceholder, token_.position));
            BASIN_RETURN_IF_ERROR(Advance());
          } else {
            BASIN_ASSIGN_OR_RETURN(auto arg, Expression(0));
            n->children.push_back(std::move(arg));
          }
          if (!IsOp(",")) break;
          BASIN_RETURN_IF_ERROR(Advance());
        }
      }
      BASIN_RETURN_IF_ERROR(Expect(")"));
      return n;
    }
    if (o == "{") {
      auto n = MakeNode(NodeType::kGroup, op.position);
      BASIN_ASSIGN_OR_RETURN(auto object, ObjectBody(op.position));
      n->children.push_back(std::move(lhs));
      n->children.push_back(std::move(object));
      return n;
    }
    if (o == "^") return SortTerms(op, std::move(lhs));
    if (o == "@" || o == "#") {
      return Fail(op.position, "S0216: the " + o + " binding operator is not supported");
    }
    return Fail(op.position, "S0201: unexpected '" + o + "'");
  }

  std::string_view text_;
  size_t pos_ = 0;
  Token token_;
  int depth_ = 0;
};

// Turns raw `.`/`[...]` trees into paths of steps (JSONata's processAST), recursively.
class Processor {
 public:
  explicit Processor(std::string_view text) : text_(text) {}

  Result<std::unique_ptr<Node>> Process(std::unique_ptr<Node> node, int depth = 0) {
    if (!node) return node;
    if (depth > kMaxJsonataParseDepth * 2) {
      return Error(ErrorCode::kInvalidDefinition, "JSONata syntax error at position " +
                                                      std::to_string(node->position) +
                                                      ": S0208: expression nested too deeply");
    }
    switch (node->type) {
      case NodeType::kName: {
        auto path = std::make_unique<Node>();
        path->type = NodeType::kPath;
        path->position = node->position;
        path->children.push_back(std::move(node));
        return path;
      }
      case NodeType::kDot: return ProcessDot(std::move(node), depth);
      case NodeType::kFilter: return ProcessFilter(std::move(node), depth);
      default: break;
    }
    for (auto& child : node->children) {
      BASIN_ASSIGN_OR_RETURN(child, Process(std::move(child), depth + 1));
    }
    if (node->type == NodeType::kLambda) MarkTailCalls(node->children[0].get());
    return node;
  }

  // Marks the calls whose value is the lambda's value (through blocks and conditions).
  static void MarkTailCalls(Node* node) {
    while (node != nullptr && node->predicates.empty() && !node->keep_array) {
      if (node->type == NodeType::kCall) {
        node->tail_call = true;
        return;
      }
      if (node->type == NodeType::kCondition) {
        if (node->children.size() > 2) MarkTailCalls(node->children[2].get());
        node = node->children[1].get();
      } else if (node->type == NodeType::kBlock && !node->children.empty()) {
        node = node->children.back().get();
      } else {
        return;
      }
    }
  }

 private:
  Status Fail(size_t position, std::string message) const {
    return Error(ErrorCode::kInvalidDefinition,
                 "JSONata syntax error at position " + std::to_string(position) + ": " + message);
  }

  Result<std::unique_ptr<Node>> ProcessDot(std::unique_ptr<Node> node, int depth) {
    BASIN_ASSIGN_OR_RETURN(auto lhs, Process(std::move(node->children[0]), depth + 1));
    BASIN_ASSIGN_OR_RETURN(auto rhs, Process(std::move(node->children[1]), depth + 1));
    std::unique_ptr<Node> path;
    if (lhs->type == NodeType::kPath) {
      path = std::move(lhs);
    } else {
      path = std::make_unique<Node>();
      path->type = NodeType::kPath;
      path->position = lhs->position;
      path->children.push_back(std::move(lhs));
    }
    if (rhs->type == NodeType::kPath) {
      for (auto& step : rhs->children) path->children.push_back(std::move(step));
      path->keep_array = path->keep_array || rhs->keep_array;
    } else {
      rhs->stages = std::move(rhs->predicates);
      rhs->predicates.clear();
      path->children.push_back(std::move(rhs));
    }
    for (auto& step : path->children) {
      if (step->type == NodeType::kString) {
        step->type = NodeType::kName;
      } else if (step->type == NodeType::kNumber || step->type == NodeType::kBool ||
                 step->type == NodeType::kNull) {
        return Fail(step->position, "S0213: a literal value cannot be a step in a path");
      }
      if (step->keep_array) path->keep_array = true;
    }
    if (path->children.front()->type == NodeType::kArray) path->children.front()->cons_array = true;
    if (path->children.back()->type == NodeType::kArray) path->children.back()->cons_array = true;
    return path;
  }

  Result<std::unique_ptr<Node>> ProcessFilter(std::unique_ptr<Node> node, int depth) {
    BASIN_ASSIGN_OR_RETURN(auto lhs, Process(std::move(node->children[0]), depth + 1));
    Node* target = lhs.get();
    bool is_path = lhs->type == NodeType::kPath;
    if (is_path) target = lhs->children.back().get();
    if (node->children[1] == nullptr) {  // `[]`: keep singleton arrays
      target->keep_array = true;
      if (is_path) lhs->keep_array = true;
      return lhs;
    }
    BASIN_ASSIGN_OR_RETURN(auto predicate, Process(std::move(node->children[1]), depth + 1));
    if (is_path) {
      target->stages.push_back(std::move(predicate));
    } else {
      target->predicates.push_back(std::move(predicate));
    }
    return lhs;
  }

  std::string_view text_;
};

}  // namespace
}  // namespace jsonata

Result<std::shared_ptr<const JsonataExpression>> ParseJsonata(std::string_view text) {
  if (text.size() > kMaxJsonataExpressionBytes) {
    return Error(ErrorCode::kInvalidDefinition, "JSONata expression is " +
                                                    std::to_string(text.size()) +
                                                    " bytes, more than the limit of " +
                                                    std::to_string(kMaxJsonataExpressionBytes));
  }
  jsonata::Parser parser(text);
  BASIN_ASSIGN_OR_RETURN(auto raw, parser.ParseAll());
  jsonata::Processor processor(text);
  BASIN_ASSIGN_OR_RETURN(auto root, processor.Process(std::move(raw)));
  return std::shared_ptr<const JsonataExpression>(
      new JsonataExpression(std::string(text), std::move(root)));
}

}  // namespace basin::workflow
