#include "workflow/intrinsics.h"

#include <openssl/evp.h>

#include <charconv>
#include <cstdio>

#include "base/base64.h"
#include "base/hash.h"

namespace basin::workflow {

namespace {

struct FunctionSpec {
  std::string_view name;
  int min_args;
  int max_args;  // -1 = any number
};

constexpr FunctionSpec kFunctions[] = {
    {"States.Format", 1, -1},     {"States.StringToJson", 1, 1},   {"States.JsonToString", 1, 1},
    {"States.Array", 0, -1},      {"States.ArrayPartition", 2, 2}, {"States.ArrayContains", 2, 2},
    {"States.ArrayRange", 3, 3},  {"States.ArrayGetItem", 2, 2},   {"States.ArrayLength", 1, 1},
    {"States.ArrayUnique", 1, 1}, {"States.Base64Encode", 1, 1},   {"States.Base64Decode", 1, 1},
    {"States.Hash", 2, 2},        {"States.JsonMerge", 3, 3},      {"States.MathRandom", 2, 3},
    {"States.MathAdd", 2, 2},     {"States.StringSplit", 2, 2},    {"States.UUID", 0, 0},
};

// Input strings to Base64 and Hash are capped by AWS at this many characters.
constexpr size_t kMaxEncodeInput = 10000;
constexpr int64_t kMaxRangeItems = 1000;

const FunctionSpec* FindFunction(std::string_view name) {
  for (const FunctionSpec& f : kFunctions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

// Recursive-descent parser for one call expression.
class IntrinsicParser {
 public:
  explicit IntrinsicParser(std::string_view text) : text_(text) {}

  Result<IntrinsicCall> ParseTop() {
    BASIN_ASSIGN_OR_RETURN(IntrinsicCall call, ParseCall(1));
    SkipSpace();
    if (pos_ != text_.size()) return Fail("unexpected text after the call");
    return call;
  }

 private:
  Status Fail(const std::string& why) {
    return Status(ErrorCode::kInvalidArgument, "invalid intrinsic '" + std::string(text_) +
                                                   "' at offset " + std::to_string(pos_) + ": " +
                                                   why);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }

  Result<IntrinsicCall> ParseCall(int depth) {
    if (depth > kMaxIntrinsicNesting) return Fail("more than 10 nested calls");
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '(' && !IsSpace(text_[pos_])) ++pos_;
    std::string name(text_.substr(start, pos_ - start));
    const FunctionSpec* spec = FindFunction(name);
    if (spec == nullptr) return Fail("unknown function '" + name + "'");
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != '(') return Fail("expected '('");
    ++pos_;
    IntrinsicCall call;
    call.name_ = name;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ')') {
      ++pos_;
    } else {
      while (true) {
        SkipSpace();
        BASIN_ASSIGN_OR_RETURN(IntrinsicCall::Arg arg, ParseArg(depth));
        call.args_.push_back(std::move(arg));
        SkipSpace();
        if (pos_ >= text_.size()) return Fail("missing ')'");
        if (text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (text_[pos_] == ')') {
          ++pos_;
          break;
        }
        return Fail("expected ',' or ')'");
      }
    }
    int n = static_cast<int>(call.args_.size());
    if (n < spec->min_args || (spec->max_args >= 0 && n > spec->max_args)) {
      return Fail(name + " takes " + std::to_string(spec->min_args) +
                  (spec->max_args == spec->min_args ? ""
                   : spec->max_args < 0             ? " or more"
                                                    : "-" + std::to_string(spec->max_args)) +
                  " arguments, got " + std::to_string(n));
    }
    return call;
  }

  Result<IntrinsicCall::Arg> ParseArg(int depth) {
    IntrinsicCall::Arg arg;
    if (pos_ >= text_.size()) return Fail("missing argument");
    char c = text_[pos_];
    if (c == '\'') {
      ++pos_;
      std::string value, raw;
      while (true) {
        if (pos_ >= text_.size()) return Fail("unterminated string literal");
        char ch = text_[pos_];
        if (ch == '\\') {
          if (pos_ + 1 >= text_.size()) return Fail("dangling escape");
          char next = text_[pos_ + 1];
          if (next != '\'' && next != '{' && next != '}' && next != '\\') {
            return Fail(std::string("invalid escape '\\") + next + "'");
          }
          value += next;
          raw += ch;
          raw += next;
          pos_ += 2;
          continue;
        }
        if (ch == '\'') {
          ++pos_;
          break;
        }
        value += ch;
        raw += ch;
        ++pos_;
      }
      arg.literal = JsonValue::String(std::move(value));
      arg.raw = std::move(raw);
      return arg;
    }
    if (c == '$') {
      // A path runs to the next top-level ',' or ')'; brackets may hold quoted names.
      size_t start = pos_;
      int bracket = 0;
      char quote = 0;
      while (pos_ < text_.size()) {
        char ch = text_[pos_];
        if (quote) {
          if (ch == '\\') {
            pos_ += 2;
            continue;
          }
          if (ch == quote) quote = 0;
        } else if (ch == '[') {
          ++bracket;
        } else if (ch == ']') {
          --bracket;
        } else if ((ch == '\'' || ch == '"') && bracket > 0) {
          quote = ch;
        } else if (bracket == 0 && (ch == ',' || ch == ')' || IsSpace(ch))) {
          break;
        }
        ++pos_;
      }
      std::string_view text = text_.substr(start, pos_ - start);
      Result<JsonPath> path = JsonPath::Parse(text);
      if (!path.ok()) return Fail(path.status().message());
      arg.kind = IntrinsicCall::Arg::Kind::kPath;
      arg.path = std::make_shared<JsonPath>(std::move(path).value());
      return arg;
    }
    if (text_.substr(pos_).starts_with("States.")) {
      BASIN_ASSIGN_OR_RETURN(IntrinsicCall nested, ParseCall(depth + 1));
      arg.kind = IntrinsicCall::Arg::Kind::kCall;
      arg.call = std::make_shared<IntrinsicCall>(std::move(nested));
      return arg;
    }
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ')' &&
           !IsSpace(text_[pos_])) {
      ++pos_;
    }
    std::string_view token = text_.substr(start, pos_ - start);
    if (token == "null") return arg;
    if (token == "true" || token == "false") {
      arg.literal = JsonValue::Bool(token == "true");
      return arg;
    }
    if (!token.empty() && (token[0] == '-' || (token[0] >= '0' && token[0] <= '9'))) {
      Result<JsonValue> number = ParseJson(token);
      if (number.ok() && number->IsNumber()) {
        arg.literal = std::move(number).value();
        return arg;
      }
    }
    return Fail("bad argument '" + std::string(token) + "'");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool IntrinsicCall::Looks(std::string_view text) { return text.starts_with("States."); }

Result<IntrinsicCall> IntrinsicCall::Parse(std::string_view text) {
  return IntrinsicParser(text).ParseTop();
}

namespace {

StateError Failure(std::string_view fn, const std::string& why) {
  return MakeError(kErrIntrinsicFailure, std::string(fn) + ": " + why);
}

std::optional<std::string> HashHex(std::string_view data, std::string_view algorithm) {
  const EVP_MD* md = nullptr;
  if (algorithm == "MD5")
    md = EVP_md5();
  else if (algorithm == "SHA-1")
    md = EVP_sha1();
  else if (algorithm == "SHA-256")
    md = EVP_sha256();
  else if (algorithm == "SHA-384")
    md = EVP_sha384();
  else if (algorithm == "SHA-512")
    md = EVP_sha512();
  if (md == nullptr) return std::nullopt;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, md, nullptr) != 1) return std::nullopt;
  return HexEncode(digest, size);
}

// Scalars print as Format placeholders: strings bare, everything else as JSON.
std::optional<std::string> FormatScalar(const JsonValue& v) {
  if (v.IsArray() || v.IsObject()) return std::nullopt;
  if (v.IsString()) return v.AsString();
  return v.Serialize();
}

std::string NewUuid(std::mt19937_64& rng) {
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(hi >> 32),
                unsigned((hi >> 16) & 0xFFFF), unsigned(hi & 0xFFFF), unsigned(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

}  // namespace

Outcome<JsonValue> EvaluateIntrinsic(const IntrinsicCall& call, const IntrinsicEnv& env) {
  const std::string& fn = call.name();
  std::vector<JsonValue> a;
  a.reserve(call.args().size());
  for (const IntrinsicCall::Arg& arg : call.args()) {
    switch (arg.kind) {
      case IntrinsicCall::Arg::Kind::kLiteral: a.push_back(arg.literal); break;
      case IntrinsicCall::Arg::Kind::kPath: {
        const JsonValue* root = arg.path->is_context() ? env.context : env.input;
        std::optional<JsonValue> v = root ? arg.path->Evaluate(*root) : std::optional<JsonValue>();
        if (!v) return Failure(fn, "path '" + arg.path->text() + "' selects nothing");
        a.push_back(std::move(*v));
        break;
      }
      case IntrinsicCall::Arg::Kind::kCall: {
        WF_ASSIGN_OR_RAISE(JsonValue v, EvaluateIntrinsic(*arg.call, env));
        a.push_back(std::move(v));
        break;
      }
    }
  }
  auto want = [&](size_t i, bool ok, std::string_view what) -> std::optional<StateError> {
    if (ok) return std::nullopt;
    return Failure(fn, "argument " + std::to_string(i + 1) + " must be " + std::string(what) +
                           ", got " + std::string(a[i].TypeName()));
  };
#define WF_WANT(i, cond, what) \
  if (auto e = want(i, cond, what)) return *e

  if (fn == "States.Format") {
    WF_WANT(0, a[0].IsString(), "a string");
    // A literal template keeps its escapes so that \{ is not a placeholder.
    const IntrinsicCall::Arg& tpl_arg = call.args()[0];
    std::string tpl =
        tpl_arg.kind == IntrinsicCall::Arg::Kind::kLiteral ? tpl_arg.raw : a[0].AsString();
    bool escaped = tpl_arg.kind == IntrinsicCall::Arg::Kind::kLiteral;
    std::string out;
    size_t next_arg = 1;
    for (size_t i = 0; i < tpl.size(); ++i) {
      if (escaped && tpl[i] == '\\' && i + 1 < tpl.size()) {
        out += tpl[++i];
        continue;
      }
      if (tpl[i] == '{' && i + 1 < tpl.size() && tpl[i + 1] == '}') {
        if (next_arg >= a.size()) return Failure(fn, "more placeholders than arguments");
        std::optional<std::string> s = FormatScalar(a[next_arg]);
        if (!s) return Failure(fn, "placeholders take only scalar values");
        out += *s;
        ++next_arg;
        ++i;
        continue;
      }
      out += tpl[i];
    }
    if (next_arg != a.size()) return Failure(fn, "more arguments than placeholders");
    return JsonValue::String(std::move(out));
  }
  if (fn == "States.StringToJson") {
    WF_WANT(0, a[0].IsString(), "a string");
    Result<JsonValue> parsed = ParseJson(a[0].AsString());
    if (!parsed.ok()) return Failure(fn, "not JSON: " + parsed.status().message());
    return std::move(parsed).value();
  }
  if (fn == "States.JsonToString") return JsonValue::String(a[0].Serialize());
  if (fn == "States.Array") return JsonValue::Array(std::move(a));
  if (fn == "States.ArrayPartition") {
    WF_WANT(0, a[0].IsArray(), "an array");
    WF_WANT(1, a[1].IsIntegral() && a[1].AsInt() > 0, "a positive integer");
    size_t chunk = static_cast<size_t>(a[1].AsInt());
    JsonValue out = JsonValue::Array();
    for (size_t i = 0; i < a[0].size(); i += chunk) {
      JsonValue part = JsonValue::Array();
      for (size_t k = i; k < std::min(i + chunk, a[0].size()); ++k) part.Append(a[0].items()[k]);
      out.Append(std::move(part));
    }
    return out;
  }
  if (fn == "States.ArrayContains") {
    WF_WANT(0, a[0].IsArray(), "an array");
    for (const JsonValue& v : a[0].items()) {
      if (v == a[1]) return JsonValue::Bool(true);
    }
    return JsonValue::Bool(false);
  }
  if (fn == "States.ArrayRange") {
    for (size_t i = 0; i < 3; ++i) WF_WANT(i, a[i].IsIntegral(), "an integer");
    int64_t start = a[0].AsInt(), end = a[1].AsInt(), step = a[2].AsInt();
    if (step == 0) return Failure(fn, "step must not be 0");
    JsonValue out = JsonValue::Array();
    for (int64_t v = start; step > 0 ? v <= end : v >= end;) {
      if (static_cast<int64_t>(out.size()) >= kMaxRangeItems) {
        return Failure(fn, "more than 1000 items");
      }
      out.Append(JsonValue::Int(v));
      if (__builtin_add_overflow(v, step, &v)) break;
    }
    return out;
  }
  if (fn == "States.ArrayGetItem") {
    WF_WANT(0, a[0].IsArray(), "an array");
    WF_WANT(1, a[1].IsIntegral() && a[1].AsInt() >= 0, "a non-negative integer");
    size_t i = static_cast<size_t>(a[1].AsInt());
    if (i >= a[0].size()) return Failure(fn, "index " + std::to_string(i) + " out of range");
    return a[0].items()[i];
  }
  if (fn == "States.ArrayLength") {
    WF_WANT(0, a[0].IsArray(), "an array");
    return JsonValue::Int(static_cast<int64_t>(a[0].size()));
  }
  if (fn == "States.ArrayUnique") {
    WF_WANT(0, a[0].IsArray(), "an array");
    JsonValue out = JsonValue::Array();
    for (const JsonValue& v : a[0].items()) {
      bool seen = false;
      for (const JsonValue& u : out.items()) seen = seen || u == v;
      if (!seen) out.Append(v);
    }
    return out;
  }
  if (fn == "States.Base64Encode") {
    WF_WANT(0, a[0].IsString(), "a string");
    if (a[0].AsString().size() > kMaxEncodeInput) return Failure(fn, "input over 10000 chars");
    return JsonValue::String(Base64Encode(a[0].AsString()));
  }
  if (fn == "States.Base64Decode") {
    WF_WANT(0, a[0].IsString(), "a string");
    if (a[0].AsString().size() > kMaxEncodeInput) return Failure(fn, "input over 10000 chars");
    std::optional<std::string> decoded = Base64Decode(a[0].AsString());
    if (!decoded) return Failure(fn, "not valid base64");
    return JsonValue::String(std::move(*decoded));
  }
  if (fn == "States.Hash") {
    WF_WANT(0, a[0].IsString(), "a string");
    WF_WANT(1, a[1].IsString(), "a string");
    if (a[0].AsString().size() > kMaxEncodeInput) return Failure(fn, "input over 10000 chars");
    std::optional<std::string> hex = HashHex(a[0].AsString(), a[1].AsString());
    if (!hex) return Failure(fn, "unsupported algorithm '" + a[1].AsString() + "'");
    return JsonValue::String(std::move(*hex));
  }
  if (fn == "States.JsonMerge") {
    WF_WANT(0, a[0].IsObject(), "an object");
    WF_WANT(1, a[1].IsObject(), "an object");
    WF_WANT(2, a[2].IsBool(), "a boolean");
    // AWS implements only the shallow merge.
    if (a[2].AsBool()) return Failure(fn, "deep merge (true) is not supported");
    JsonValue out = a[0];
    for (size_t i = 0; i < a[1].keys().size(); ++i) out.Set(a[1].keys()[i], a[1].items()[i]);
    return out;
  }
  if (fn == "States.MathRandom") {
    WF_WANT(0, a[0].IsIntegral(), "an integer");
    WF_WANT(1, a[1].IsIntegral(), "an integer");
    if (a.size() == 3) WF_WANT(2, a[2].IsIntegral(), "an integer");
    int64_t start = a[0].AsInt(), end = a[1].AsInt();
    uint64_t span = 0;
    if (end <= start) return Failure(fn, "end must be greater than start");
    int64_t diff = 0;
    if (__builtin_sub_overflow(end, start, &diff)) {
      span = static_cast<uint64_t>(end) - static_cast<uint64_t>(start);
    } else {
      span = static_cast<uint64_t>(diff);
    }
    // [start, end): a seeded generator gives the same number for the same seed.
    std::mt19937_64 seeded(a.size() == 3 ? static_cast<uint64_t>(a[2].AsInt())
                                         : static_cast<uint64_t>(std::random_device{}()));
    std::mt19937_64& rng = a.size() == 3 || env.rng == nullptr ? seeded : *env.rng;
    // Unsigned arithmetic wraps instead of overflowing; the sum lands back in [start, end).
    return JsonValue::Int(static_cast<int64_t>(static_cast<uint64_t>(start) + rng() % span));
  }
  if (fn == "States.MathAdd") {
    WF_WANT(0, a[0].IsIntegral(), "an integer");
    WF_WANT(1, a[1].IsIntegral(), "an integer");
    int64_t sum = 0;
    if (__builtin_add_overflow(a[0].AsInt(), a[1].AsInt(), &sum)) {
      return Failure(fn, "integer overflow");
    }
    return JsonValue::Int(sum);
  }
  if (fn == "States.StringSplit") {
    WF_WANT(0, a[0].IsString(), "a string");
    WF_WANT(1, a[1].IsString(), "a string");
    // Every character of the second argument is a delimiter; empty pieces are dropped.
    const std::string& s = a[0].AsString();
    const std::string& delims = a[1].AsString();
    JsonValue out = JsonValue::Array();
    std::string piece;
    for (char c : s) {
      if (delims.find(c) != std::string::npos) {
        if (!piece.empty()) out.Append(JsonValue::String(std::move(piece)));
        piece.clear();
      } else {
        piece += c;
      }
    }
    if (!piece.empty()) out.Append(JsonValue::String(std::move(piece)));
    return out;
  }
  if (fn == "States.UUID") {
    std::mt19937_64 fallback(std::random_device{}());
    return JsonValue::String(NewUuid(env.rng ? *env.rng : fallback));
  }
#undef WF_WANT
  return Failure(fn, "unknown function");
}

Outcome<JsonValue> EvaluateIntrinsic(std::string_view text, const IntrinsicEnv& env) {
  Result<IntrinsicCall> call = IntrinsicCall::Parse(text);
  if (!call.ok()) return MakeError(kErrIntrinsicFailure, call.status().message());
  return EvaluateIntrinsic(*call, env);
}

}  // namespace basin::workflow
