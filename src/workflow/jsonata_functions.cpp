// JSONata builtin functions (the subset Step Functions workflows use) and the Step Functions
// additions $partition, $range, $hash, $random(seed), $uuid, $parse.

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/json_writer.h"
#include "base/time_format.h"
#include "workflow/jsonata_internal.h"

namespace basin::workflow::jsonata {
namespace {

using Args = std::vector<Value>;

// ---------------------------------------------------------------------------------------------
// Helpers

StateError ArgError(Evaluator& ev, const CallSite& site, std::string_view fn, int index,
                    std::string_view expected, const Value& got) {
  return ev.Fail(site.node, "T0410",
                 "argument " + std::to_string(index + 1) + " of $" + std::string(fn) + " must be " +
                     std::string(expected) + ", got a " + std::string(TypeName(got)));
}

// Code-point boundaries of a UTF-8 string: offsets[i] is where code point i starts;
// offsets.back() == s.size().
std::vector<size_t> CodePoints(const std::string& s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  }
  offsets.push_back(s.size());
  return offsets;
}

size_t CodePointLength(const std::string& s) { return CodePoints(s).size() - 1; }

Outcome<bool> CheckStringSize(Evaluator& ev, const CallSite& site, size_t size) {
  if (size > kMaxJsonataStringBytes) {
    return ev.Fail(
        site.node, "D1001",
        "string result longer than " + std::to_string(kMaxJsonataStringBytes) + " bytes");
  }
  return ev.Charge(static_cast<int64_t>(size / 256), site.node);
}

// Numbers inside $string's JSON: integers exactly, others after toPrecision(15) (as JSONata).
std::string FormatJsonNumber(double d) {
  if (std::nearbyint(d) == d && std::fabs(d) < 1e21) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", d);
    return buf;
  }
  return FormatNumber(d);
}

void Indent(std::string& out, int indent, int depth) {
  if (indent == 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent * depth), ' ');
}

bool StringifyTo(std::string& out, const Value& v, int depth, int indent = 0) {
  if (depth > 2 * static_cast<int>(kMaxJsonDepth) || out.size() > kMaxJsonataStringBytes) {
    return false;
  }
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull: out += "null"; return true;
    case Value::Kind::kFunction: out += "\"\""; return true;
    case Value::Kind::kBool: out += v.boolean ? "true" : "false"; return true;
    case Value::Kind::kNumber:
      if (!std::isfinite(v.number)) return false;
      out += FormatJsonNumber(v.number);
      return true;
    case Value::Kind::kString: AppendJsonString(out, v.string); return true;
    case Value::Kind::kArray: {
      out += '[';
      bool first = true;
      for (const Value& item : v.items()) {
        if (item.IsUndefined()) continue;
        if (!first) out += ',';
        first = false;
        Indent(out, indent, depth + 1);
        if (!StringifyTo(out, item, depth + 1, indent)) return false;
      }
      if (!first) Indent(out, indent, depth);
      out += ']';
      return true;
    }
    case Value::Kind::kObject: {
      out += '{';
      bool first = true;
      for (size_t i = 0; i < v.object->keys.size(); ++i) {
        if (v.object->values[i].IsUndefined()) continue;
        if (!first) out += ',';
        first = false;
        Indent(out, indent, depth + 1);
        AppendJsonString(out, v.object->keys[i]);
        out += indent > 0 ? ": " : ":";
        if (!StringifyTo(out, v.object->values[i], depth + 1, indent)) return false;
      }
      if (!first) Indent(out, indent, depth);
      out += '}';
      return true;
    }
  }
  return false;
}

// An argument that must be a string (undefined passes through as nullopt via `present`).
#define JSONATA_STRING_ARG(var, index)                                                          \
  if (!args[index].IsString()) return ArgError(ev, site, name, index, "a string", args[index]); \
  const std::string& var = args[index].string

#define JSONATA_UNDEFINED_IN_UNDEFINED_OUT() \
  if (args[0].IsUndefined()) return Value()

Outcome<double> NumberArg(Evaluator& ev, const CallSite& site, std::string_view name,
                          const Args& args, int index) {
  if (!args[index].IsNumber()) return ArgError(ev, site, name, index, "a number", args[index]);
  return args[index].number;
}

// A count-like argument; fractions are truncated toward zero (JavaScript's behaviour for
// $pad widths and $split/$replace/$match limits).
Outcome<int64_t> TruncatedArg(Evaluator& ev, const CallSite& site, std::string_view name,
                              const Args& args, int index) {
  const Value& v = args[index];
  if (!v.IsNumber() || std::fabs(v.number) > 9e15) {
    return ArgError(ev, site, name, index, "a number", v);
  }
  return static_cast<int64_t>(std::trunc(v.number));
}

Outcome<int64_t> IntegerArg(Evaluator& ev, const CallSite& site, std::string_view name,
                            const Args& args, int index) {
  const Value& v = args[index];
  if (!v.IsNumber() || std::nearbyint(v.number) != v.number || std::fabs(v.number) > 9e15) {
    return ArgError(ev, site, name, index, "an integer", v);
  }
  return static_cast<int64_t>(v.number);
}

// Calls a function argument with as many of `args` as it takes (JSONata passes value, index,
// array only when the function declares them).
Outcome<Value> CallWithArity(Evaluator& ev, const CallSite& site, const Value& fn, Args args) {
  int arity = fn.function->Arity();
  if (static_cast<int>(args.size()) > arity) args.resize(static_cast<size_t>(std::max(arity, 1)));
  return ev.Call(fn, std::move(args), site);
}

Outcome<bool> FunctionArg(Evaluator& ev, const CallSite& site, std::string_view name,
                          const Args& args, int index) {
  if (!args[index].IsFunction()) {
    return ArgError(ev, site, name, index, "a function", args[index]);
  }
  return true;
}

Outcome<std::vector<double>> NumberArray(Evaluator& ev, const CallSite& site, std::string_view name,
                                         const Value& v) {
  std::vector<double> out;
  for (const Value& item : ToArray(v)) {
    if (!item.IsNumber()) {
      return ev.Fail(site.node, "T0412",
                     "argument 1 of $" + std::string(name) +
                         " must be an array of numbers, found a " + std::string(TypeName(item)));
    }
    out.push_back(item.number);
  }
  return out;
}

// JSONata's $round: round half to even at `precision` decimal places, shifting by exponent
// arithmetic on the decimal text so that 2.675 rounds like its printed form.
double RoundHalfEven(double value, int precision) {
  auto shift = [](double v, int places) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    std::string s(buf, r.ptr);
    size_t e = s.find('e');
    int exponent = std::atoi(s.c_str() + e + 1) + places;
    s = s.substr(0, e) + "e" + std::to_string(exponent);
    return std::strtod(s.c_str(), nullptr);
  };
  double v = precision != 0 ? shift(value, precision) : value;
  double result = std::round(v);  // half away from zero
  double diff = result - v;
  if (std::fabs(diff) == 0.5 && std::fmod(std::fabs(result), 2.0) == 1.0) {
    result = result - (result > 0 ? 1 : -1);
  }
  if (precision != 0) result = shift(result, -precision);
  if (result == 0) result = 0;  // no negative zero
  return result;
}

std::optional<double> ParseJsonNumber(const std::string& s) {
  if (s.size() > 2 && s[0] == '0' &&
      (s[1] == 'x' || s[1] == 'X' || s[1] == 'b' || s[1] == 'B' || s[1] == 'o' || s[1] == 'O')) {
    int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'b' || s[1] == 'B') ? 2 : 8;
    uint64_t v = 0;
    auto r = std::from_chars(s.data() + 2, s.data() + s.size(), v, base);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return static_cast<double>(v);
  }
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digits()) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return std::nullopt;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  double d = std::strtod(s.c_str(), nullptr);
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::string NewUuid(std::mt19937_64& rng) {
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

const Regex* RegexOf(const Value& v) {
  return v.IsFunction() && v.function->regex ? v.function->regex.get() : nullptr;
}

size_t CodePointIndex(const std::string& s, size_t byte_offset) {
  size_t count = 0;
  for (size_t i = 0; i < byte_offset && i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++count;
  }
  return count;
}

// Every non-overlapping match, left to right, at most `limit`. A zero-length match is an
// error (D1004) as in JSONata, which would otherwise loop forever.
Outcome<std::vector<Regex::Match>> AllMatches(Evaluator& ev, const CallSite& site,
                                              const Regex& regex, const std::string& s,
                                              int64_t limit) {
  std::vector<Regex::Match> out;
  size_t from = 0;
  while (static_cast<int64_t>(out.size()) < limit && from <= s.size()) {
    WF_ASSIGN_OR_RAISE(std::optional<Regex::Match> m, ev.RegexSearch(regex, s, from, site.node));
    if (!m) break;
    if (m->end == m->start) {
      return ev.Fail(
          site.node, "D1004",
          "the regular expression /" + regex.pattern() + "/ matches a zero-length string");
    }
    from = m->end;
    out.push_back(std::move(*m));
  }
  return out;
}

Value MatchObject(const std::string& s, const Regex::Match& m) {
  Object o;
  o.Set("match", Value::String(s.substr(m.start, m.end - m.start)));
  o.Set("index", Value::Number(static_cast<double>(CodePointIndex(s, m.start))));
  Array groups;
  for (const auto& g : m.groups) {
    groups.push_back(Value::String(g ? s.substr(g->first, g->second - g->first) : ""));
  }
  o.Set("groups", Value::MakeArray(std::move(groups)));
  return Value::MakeObject(std::move(o));
}

// ---------------------------------------------------------------------------------------------
// String functions

Outcome<Value> FnString(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  bool pretty = false;
  if (args.size() > 1) {
    if (args[1].kind != Value::Kind::kBool) {
      return ArgError(ev, site, "string", 1, "a boolean", args[1]);
    }
    pretty = args[1].boolean;
  }
  if (pretty && !args[0].IsString() && !args[0].IsFunction()) {
    std::string out;
    if (!StringifyTo(out, args[0], 0, 2)) {
      return ev.Fail(site.node, "D3001", "the value cannot be converted to a string");
    }
    WF_ASSIGN_OR_RAISE(bool ok, CheckStringSize(ev, site, out.size()));
    (void)ok;
    return Value::String(std::move(out));
  }
  WF_ASSIGN_OR_RAISE(std::string s, Stringify(ev, args[0], site.node));
  return Value::String(std::move(s));
}

Outcome<Value> FnLength(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "length";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  return Value::Number(static_cast<double>(CodePointLength(s)));
}

Outcome<Value> FnSubstring(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "substring";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  WF_ASSIGN_OR_RAISE(double start, NumberArg(ev, site, name, args, 1));
  std::vector<size_t> cp = CodePoints(s);
  double len = static_cast<double>(cp.size() - 1);
  start = std::floor(start);
  if (start < 0) start = std::max(0.0, len + start);
  double end = len;
  if (args.size() > 2) {
    WF_ASSIGN_OR_RAISE(double count, NumberArg(ev, site, name, args, 2));
    if (count <= 0) return Value::String("");
    end = std::min(len, start + std::floor(count));
  }
  if (start >= len || end <= start) return Value::String("");
  size_t from = cp[static_cast<size_t>(start)];
  size_t to = cp[static_cast<size_t>(end)];
  return Value::String(s.substr(from, to - from));
}

Outcome<Value> FnSubstringBefore(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "substringBefore";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  JSONATA_STRING_ARG(chars, 1);
  size_t at = s.find(chars);
  return Value::String(at == std::string::npos ? s : s.substr(0, at));
}

Outcome<Value> FnSubstringAfter(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "substringAfter";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  JSONATA_STRING_ARG(chars, 1);
  size_t at = s.find(chars);
  return Value::String(at == std::string::npos ? s : s.substr(at + chars.size()));
}

Outcome<Value> FnUppercase(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "uppercase";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return Value::String(std::move(out));
}

Outcome<Value> FnLowercase(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "lowercase";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Value::String(std::move(out));
}

Outcome<Value> FnTrim(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "trim";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  std::string out;
  bool pending_space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out += ' ';
    pending_space = false;
    out += c;
  }
  return Value::String(std::move(out));
}

Outcome<Value> FnPad(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "pad";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  WF_ASSIGN_OR_RAISE(int64_t width, TruncatedArg(ev, site, name, args, 1));
  std::string pad_char = " ";
  if (args.size() > 2) {
    JSONATA_STRING_ARG(c, 2);
    if (!c.empty()) pad_char = c;
  }
  size_t target = static_cast<size_t>(
      std::min<int64_t>(std::llabs(width), static_cast<int64_t>(kMaxJsonataStringBytes) + 1));
  size_t length = CodePointLength(s);
  if (length >= target) return Value::String(s);
  std::vector<size_t> pad_cp = CodePoints(pad_char);
  size_t pad_len = pad_cp.size() - 1;
  std::string padding;
  for (size_t i = 0; i < target - length; ++i) {
    size_t k = i % pad_len;
    padding += pad_char.substr(pad_cp[k], pad_cp[k + 1] - pad_cp[k]);
    if (padding.size() > kMaxJsonataStringBytes) break;
  }
  WF_ASSIGN_OR_RAISE(bool ok, CheckStringSize(ev, site, padding.size() + s.size()));
  (void)ok;
  return Value::String(width > 0 ? s + padding : padding + s);
}

Outcome<Value> FnContains(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "contains";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  if (args[1].IsUndefined()) return Value();
  JSONATA_STRING_ARG(s, 0);
  if (const Regex* regex = RegexOf(args[1])) {
    WF_ASSIGN_OR_RAISE(std::optional<Regex::Match> m, ev.RegexSearch(*regex, s, 0, site.node));
    return Value::Bool(m.has_value());
  }
  JSONATA_STRING_ARG(pattern, 1);
  return Value::Bool(s.find(pattern) != std::string::npos);
}

Outcome<Value> FnSplit(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "split";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  int64_t limit = std::numeric_limits<int64_t>::max();
  if (args.size() > 2) {
    WF_ASSIGN_OR_RAISE(limit, TruncatedArg(ev, site, name, args, 2));
    if (limit < 0) return ev.Fail(site.node, "D3020", "the limit of $split must not be negative");
  }
  Array out;
  if (const Regex* regex = RegexOf(args[1])) {
    WF_ASSIGN_OR_RAISE(std::vector<Regex::Match> matches,
                       AllMatches(ev, site, *regex, s, std::numeric_limits<int64_t>::max()));
    size_t start = 0;
    for (const Regex::Match& m : matches) {
      out.push_back(Value::String(s.substr(start, m.start - start)));
      start = m.end;
    }
    out.push_back(Value::String(s.substr(start)));
    if (static_cast<int64_t>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
    return Value::MakeArray(std::move(out));
  }
  JSONATA_STRING_ARG(separator, 1);
  if (separator.empty()) {
    std::vector<size_t> cp = CodePoints(s);
    for (size_t i = 0; i + 1 < cp.size(); ++i) {
      out.push_back(Value::String(s.substr(cp[i], cp[i + 1] - cp[i])));
    }
  } else {
    size_t start = 0;
    while (true) {
      size_t at = s.find(separator, start);
      if (at == std::string::npos) {
        out.push_back(Value::String(s.substr(start)));
        break;
      }
      out.push_back(Value::String(s.substr(start, at - start)));
      start = at + separator.size();
    }
  }
  if (static_cast<int64_t>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
  WF_ASSIGN_OR_RAISE(bool ok, ev.Charge(static_cast<int64_t>(out.size()), site.node));
  (void)ok;
  return Value::MakeArray(std::move(out));
}

Outcome<Value> FnJoin(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "join";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  std::string separator;
  if (args.size() > 1) {
    JSONATA_STRING_ARG(sep, 1);
    separator = sep;
  }
  std::string out;
  bool first = true;
  for (const Value& item : ToArray(args[0])) {
    if (!item.IsString()) {
      return ev.Fail(site.node, "T0412",
                     "argument 1 of $join must be an array of strings, found a " +
                         std::string(TypeName(item)));
    }
    if (!first) out += separator;
    first = false;
    out += item.string;
    if (out.size() > kMaxJsonataStringBytes) break;
  }
  WF_ASSIGN_OR_RAISE(bool ok, CheckStringSize(ev, site, out.size()));
  (void)ok;
  return Value::String(std::move(out));
}

// $replace with a regex: the replacement is a string with $0..$99 group references ($$ for a
// literal $), or a function given the match object and returning a string.
Outcome<Value> ReplaceRegex(Evaluator& ev, const CallSite& site, Args& args, const Regex& regex,
                            int64_t limit) {
  static constexpr std::string_view name = "replace";
  const std::string& s = args[0].string;
  bool replace_with_function = args[2].IsFunction();
  if (!replace_with_function && !args[2].IsString()) {
    return ArgError(ev, site, name, 2, "a string or a function", args[2]);
  }
  WF_ASSIGN_OR_RAISE(std::vector<Regex::Match> matches, AllMatches(ev, site, regex, s, limit));
  std::string out;
  size_t start = 0;
  for (const Regex::Match& m : matches) {
    out.append(s, start, m.start - start);
    if (replace_with_function) {
      WF_ASSIGN_OR_RAISE(Value r, ev.Call(args[2], {MatchObject(s, m)}, site));
      if (!r.IsString()) {
        return ev.Fail(site.node, "D3012",
                       "the replacement function of $replace must return a string, got a " +
                           std::string(TypeName(r)));
      }
      out += r.string;
    } else {
      const std::string& tpl = args[2].string;
      for (size_t i = 0; i < tpl.size(); ++i) {
        if (tpl[i] != '$' || i + 1 >= tpl.size()) {
          out += tpl[i];
        } else if (tpl[i + 1] == '$') {
          out += '$';
          ++i;
        } else if (std::isdigit(static_cast<unsigned char>(tpl[i + 1]))) {
          size_t group = static_cast<size_t>(tpl[i + 1] - '0');
          ++i;
          // Two digits only when that group exists (as JSONata does).
          if (i + 1 < tpl.size() && std::isdigit(static_cast<unsigned char>(tpl[i + 1])) &&
              group * 10 + static_cast<size_t>(tpl[i + 1] - '0') <= m.groups.size()) {
            group = group * 10 + static_cast<size_t>(tpl[i + 1] - '0');
            ++i;
          }
          if (group == 0) {
            out.append(s, m.start, m.end - m.start);
          } else if (group <= m.groups.size() && m.groups[group - 1]) {
            const auto& g = *m.groups[group - 1];
            out.append(s, g.first, g.second - g.first);
          }
        } else {
          out += '$';
        }
      }
    }
    start = m.end;
    if (out.size() > kMaxJsonataStringBytes) break;
  }
  out.append(s, std::min(start, s.size()), std::string::npos);
  WF_ASSIGN_OR_RAISE(bool ok, CheckStringSize(ev, site, out.size()));
  (void)ok;
  return Value::String(std::move(out));
}

Outcome<Value> FnMatch(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "match";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  const Regex* regex = RegexOf(args[1]);
  if (regex == nullptr) return ArgError(ev, site, name, 1, "a regular expression", args[1]);
  int64_t limit = std::numeric_limits<int64_t>::max();
  if (args.size() > 2) {
    WF_ASSIGN_OR_RAISE(limit, TruncatedArg(ev, site, name, args, 2));
    if (limit < 0) return ev.Fail(site.node, "D3040", "the limit of $match must not be negative");
  }
  WF_ASSIGN_OR_RAISE(std::vector<Regex::Match> matches, AllMatches(ev, site, *regex, s, limit));
  Array out;
  for (const Regex::Match& m : matches) out.push_back(MatchObject(s, m));
  return Sequence(std::move(out));
}

Outcome<Value> FnReplace(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "replace";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  int64_t limit = std::numeric_limits<int64_t>::max();
  if (args.size() > 3) {
    WF_ASSIGN_OR_RAISE(limit, TruncatedArg(ev, site, name, args, 3));
    if (limit < 0) {
      return ev.Fail(site.node, "D3011", "the limit of $replace must not be negative");
    }
  }
  if (const Regex* regex = RegexOf(args[1])) return ReplaceRegex(ev, site, args, *regex, limit);
  JSONATA_STRING_ARG(pattern, 1);
  JSONATA_STRING_ARG(replacement, 2);
  if (pattern.empty()) {
    return ev.Fail(site.node, "D3010", "the pattern of $replace must not be an empty string");
  }
  std::string out;
  size_t start = 0;
  int64_t count = 0;
  while (count < limit) {
    size_t at = s.find(pattern, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += replacement;
    start = at + pattern.size();
    ++count;
    if (out.size() > kMaxJsonataStringBytes) break;
  }
  out.append(s, start, std::string::npos);
  WF_ASSIGN_OR_RAISE(bool ok, CheckStringSize(ev, site, out.size()));
  (void)ok;
  return Value::String(std::move(out));
}

Outcome<Value> FnBase64Encode(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "base64encode";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < s.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) n |= static_cast<unsigned char>(s[i + 1]) << 8;
    if (i + 2 < s.size()) n |= static_cast<unsigned char>(s[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < s.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < s.size() ? kAlphabet[n & 63] : '=';
  }
  WF_ASSIGN_OR_RAISE(bool ok, CheckStringSize(ev, site, out.size()));
  (void)ok;
  return Value::String(std::move(out));
}

Outcome<Value> FnBase64Decode(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "base64decode";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(s, 0);
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return ev.Fail(site.node, "D3137", "$base64decode: not base64 text");
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return Value::String(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Numeric functions

Outcome<Value> FnNumber(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  const Value& v = args[0];
  if (v.IsNumber()) return v;
  if (v.kind == Value::Kind::kBool) return Value::Number(v.boolean ? 1 : 0);
  if (v.IsString()) {
    std::optional<double> d = ParseJsonNumber(v.string);
    if (d) return Value::Number(*d);
    return ev.Fail(site.node, "D3030",
                   "unable to cast the string \"" + v.string + "\" to a number");
  }
  return ev.Fail(site.node, "D3030",
                 "unable to cast a " + std::string(TypeName(v)) + " to a number");
}

template <double (*F)(double)>
Outcome<Value> UnaryMath(Evaluator& ev, const CallSite& site, Args& args, std::string_view name) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(double d, NumberArg(ev, site, name, args, 0));
  double r = F(d);
  if (r == 0) r = 0;
  return Value::Number(r);
}

double Abs(double d) { return std::fabs(d); }
double Floor(double d) { return std::floor(d); }
double Ceil(double d) { return std::ceil(d); }

Outcome<Value> FnRound(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "round";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(double d, NumberArg(ev, site, name, args, 0));
  int64_t precision = 0;
  if (args.size() > 1) {
    WF_ASSIGN_OR_RAISE(precision, IntegerArg(ev, site, name, args, 1));
    precision = std::clamp<int64_t>(precision, -300, 300);
  }
  double rounded = RoundHalfEven(d, static_cast<int>(precision));
  // Shifting by a huge precision overflows; the number then has no digits to round there.
  return Value::Number(std::isfinite(rounded) ? rounded : d);
}

Outcome<Value> FnPower(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "power";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(double base, NumberArg(ev, site, name, args, 0));
  WF_ASSIGN_OR_RAISE(double exponent, NumberArg(ev, site, name, args, 1));
  double r = std::pow(base, exponent);
  if (!std::isfinite(r)) {
    return ev.Fail(site.node, "D3061",
                   "$power(" + FormatNumber(base) + ", " + FormatNumber(exponent) +
                       ") is not a finite number");
  }
  return Value::Number(r);
}

Outcome<Value> FnSqrt(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "sqrt";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(double d, NumberArg(ev, site, name, args, 0));
  if (d < 0) {
    return ev.Fail(site.node, "D3060", "$sqrt of a negative number (" + FormatNumber(d) + ")");
  }
  return Value::Number(std::sqrt(d));
}

Outcome<Value> FnRandom(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "random";
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  if (!args.empty() && !args[0].IsUndefined()) {
    WF_ASSIGN_OR_RAISE(int64_t seed, IntegerArg(ev, site, name, args, 0));
    std::mt19937_64 seeded(static_cast<uint64_t>(seed));
    return Value::Number(uniform(seeded));
  }
  return Value::Number(uniform(ev.Rng()));
}

// ---------------------------------------------------------------------------------------------
// Aggregation

Outcome<Value> FnSum(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(std::vector<double> numbers, NumberArray(ev, site, "sum", args[0]));
  double total = 0;
  for (double d : numbers) total += d;
  if (!std::isfinite(total)) return ev.Fail(site.node, "D1001", "$sum is out of range");
  return Value::Number(total);
}

Outcome<Value> FnMax(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(std::vector<double> numbers, NumberArray(ev, site, "max", args[0]));
  if (numbers.empty()) return Value();
  return Value::Number(*std::max_element(numbers.begin(), numbers.end()));
}

Outcome<Value> FnMin(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(std::vector<double> numbers, NumberArray(ev, site, "min", args[0]));
  if (numbers.empty()) return Value();
  return Value::Number(*std::min_element(numbers.begin(), numbers.end()));
}

Outcome<Value> FnAverage(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(std::vector<double> numbers, NumberArray(ev, site, "average", args[0]));
  if (numbers.empty()) return Value();
  double total = 0;
  for (double d : numbers) total += d;
  if (!std::isfinite(total)) return ev.Fail(site.node, "D1001", "$average is out of range");
  return Value::Number(total / static_cast<double>(numbers.size()));
}

Outcome<Value> FnCount(Evaluator&, const CallSite&, Args& args) {
  if (args.empty()) return Value::Number(0);
  return Value::Number(static_cast<double>(ToArray(args[0]).size()));
}

// ---------------------------------------------------------------------------------------------
// Boolean

Outcome<Value> FnBoolean(Evaluator&, const CallSite&, Args& args) {
  std::optional<bool> b = ToBoolean(args[0]);
  if (!b) return Value();
  return Value::Bool(*b);
}

Outcome<Value> FnNot(Evaluator&, const CallSite&, Args& args) {
  std::optional<bool> b = ToBoolean(args[0]);
  if (!b) return Value();
  return Value::Bool(!*b);
}

Outcome<Value> FnExists(Evaluator&, const CallSite&, Args& args) {
  return Value::Bool(!args[0].IsUndefined());
}

// ---------------------------------------------------------------------------------------------
// Arrays

Outcome<Value> FnAppend(Evaluator& ev, const CallSite& site, Args& args) {
  if (args[0].IsUndefined()) return args[1];
  if (args[1].IsUndefined()) return args[0];
  Array out = ToArray(args[0]);
  Array more = ToArray(args[1]);
  out.insert(out.end(), more.begin(), more.end());
  WF_ASSIGN_OR_RAISE(bool ok, ev.Charge(static_cast<int64_t>(out.size()), site.node));
  (void)ok;
  return Value::MakeArray(std::move(out));
}

Outcome<Value> FnReverse(Evaluator&, const CallSite&, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  Array out = ToArray(args[0]);
  std::reverse(out.begin(), out.end());
  return Value::MakeArray(std::move(out));
}

// Merge sort as JSONata does it: `comes_after(a, b)` true puts b first; stable otherwise.
Outcome<bool> MergeSort(
    Array& items, size_t lo, size_t hi,
    const std::function<Outcome<bool>(const Value&, const Value&)>& comes_after) {
  if (hi - lo < 2) return true;
  size_t mid = lo + (hi - lo) / 2;
  WF_ASSIGN_OR_RAISE(bool l, MergeSort(items, lo, mid, comes_after));
  WF_ASSIGN_OR_RAISE(bool r, MergeSort(items, mid, hi, comes_after));
  (void)l;
  (void)r;
  Array merged;
  merged.reserve(hi - lo);
  size_t i = lo;
  size_t j = mid;
  while (i < mid && j < hi) {
    WF_ASSIGN_OR_RAISE(bool after, comes_after(items[i], items[j]));
    merged.push_back(after ? items[j++] : items[i++]);
  }
  while (i < mid) merged.push_back(items[i++]);
  while (j < hi) merged.push_back(items[j++]);
  std::move(merged.begin(), merged.end(), items.begin() + static_cast<std::ptrdiff_t>(lo));
  return true;
}

Outcome<Value> FnSort(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  Array items = ToArray(args[0]);
  if (items.size() <= 1) return Value::MakeArray(std::move(items));
  std::function<Outcome<bool>(const Value&, const Value&)> comes_after;
  if (args.size() > 1) {
    WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "sort", args, 1));
    (void)is_fn;
    const Value fn = args[1];
    comes_after = [&ev, &site, fn](const Value& a, const Value& b) -> Outcome<bool> {
      WF_ASSIGN_OR_RAISE(Value r, ev.Call(fn, {a, b}, site));
      return ToBoolean(r).value_or(false);
    };
  } else {
    bool all_numbers = true;
    bool all_strings = true;
    for (const Value& v : items) {
      all_numbers = all_numbers && v.IsNumber();
      all_strings = all_strings && v.IsString();
    }
    if (!all_numbers && !all_strings) {
      return ev.Fail(site.node, "D3070",
                     "$sort without a comparator needs all numbers or all strings");
    }
    comes_after = [](const Value& a, const Value& b) -> Outcome<bool> {
      return a.IsNumber() ? a.number > b.number : a.string > b.string;
    };
  }
  WF_ASSIGN_OR_RAISE(bool ok, ev.Charge(static_cast<int64_t>(items.size()), site.node));
  WF_ASSIGN_OR_RAISE(ok, MergeSort(items, 0, items.size(), comes_after));
  (void)ok;
  return Value::MakeArray(std::move(items));
}

Outcome<Value> FnDistinct(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  if (!args[0].IsArray()) return args[0];
  Array out;
  for (const Value& v : args[0].items()) {
    WF_ASSIGN_OR_RAISE(bool ok, ev.Charge(static_cast<int64_t>(out.size() / 8 + 1), site.node));
    (void)ok;
    bool seen = false;
    for (const Value& o : out) {
      if (DeepEqual(o, v)) {
        seen = true;
        break;
      }
    }
    if (!seen) out.push_back(v);
  }
  return Value::MakeArray(std::move(out));
}

Outcome<Value> FnZip(Evaluator&, const CallSite&, Args& args) {
  std::vector<Array> arrays;
  size_t length = std::numeric_limits<size_t>::max();
  for (const Value& a : args) {
    arrays.push_back(ToArray(a));
    length = std::min(length, arrays.back().size());
  }
  if (arrays.empty()) length = 0;
  Array out;
  for (size_t i = 0; i < length; ++i) {
    Array tuple;
    for (const Array& a : arrays) tuple.push_back(a[i]);
    out.push_back(Value::MakeArray(std::move(tuple)));
  }
  return Value::MakeArray(std::move(out));
}

Outcome<Value> FnShuffle(Evaluator& ev, const CallSite&, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  Array out = ToArray(args[0]);
  std::shuffle(out.begin(), out.end(), ev.Rng());
  return Value::MakeArray(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Objects

void CollectKeys(const Value& v, std::vector<std::string>& keys,
                 std::unordered_set<std::string>& seen) {
  if (v.IsArray()) {
    for (const Value& item : v.items()) CollectKeys(item, keys, seen);
  } else if (v.IsObject()) {
    for (const std::string& k : v.object->keys) {
      if (seen.insert(k).second) keys.push_back(k);
    }
  }
}

Outcome<Value> FnKeys(Evaluator&, const CallSite&, Args& args) {
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  CollectKeys(args[0], keys, seen);
  Array out;
  for (std::string& k : keys) out.push_back(Value::String(std::move(k)));
  return Sequence(std::move(out));
}

Value LookupKey(const Value& input, const std::string& key) {
  if (input.IsArray()) {
    Array out;
    for (const Value& item : input.items()) {
      Value v = LookupKey(item, key);
      if (v.IsArray()) {
        for (const Value& x : v.items()) out.push_back(x);
      } else if (!v.IsUndefined()) {
        out.push_back(v);
      }
    }
    return Sequence(std::move(out));
  }
  if (input.IsObject()) {
    const Value* v = input.object->Find(key);
    if (v != nullptr) return *v;
  }
  return Value();
}

Outcome<Value> FnLookup(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "lookup";
  JSONATA_STRING_ARG(key, 1);
  return LookupKey(args[0], key);
}

Outcome<Value> FnMerge(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  Object out;
  for (const Value& v : ToArray(args[0])) {
    if (!v.IsObject()) {
      return ev.Fail(
          site.node, "T0412",
          "argument 1 of $merge must be an array of objects, found a " + std::string(TypeName(v)));
    }
    for (size_t i = 0; i < v.object->keys.size(); ++i) {
      out.Set(v.object->keys[i], v.object->values[i]);
    }
  }
  return Value::MakeObject(std::move(out));
}

Outcome<Value> FnSpread(Evaluator&, const CallSite&, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  Array out;
  for (const Value& v : ToArray(args[0])) {
    if (!v.IsObject()) {
      out.push_back(v);
      continue;
    }
    for (size_t i = 0; i < v.object->keys.size(); ++i) {
      Object single;
      single.Set(v.object->keys[i], v.object->values[i]);
      out.push_back(Value::MakeObject(std::move(single)));
    }
  }
  return Sequence(std::move(out));
}

Outcome<Value> FnEach(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  if (!args[0].IsObject()) return ArgError(ev, site, "each", 0, "an object", args[0]);
  WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "each", args, 1));
  (void)is_fn;
  const Object& object = *args[0].object;
  Array out;
  for (size_t i = 0; i < object.keys.size(); ++i) {
    WF_ASSIGN_OR_RAISE(Value r,
                       CallWithArity(ev, site, args[1],
                                     {object.values[i], Value::String(object.keys[i]), args[0]}));
    if (!r.IsUndefined()) out.push_back(std::move(r));
  }
  return Sequence(std::move(out));
}

Outcome<Value> FnSift(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  if (!args[0].IsObject()) return ArgError(ev, site, "sift", 0, "an object", args[0]);
  WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "sift", args, 1));
  (void)is_fn;
  const Object& object = *args[0].object;
  Object out;
  for (size_t i = 0; i < object.keys.size(); ++i) {
    WF_ASSIGN_OR_RAISE(Value r,
                       CallWithArity(ev, site, args[1],
                                     {object.values[i], Value::String(object.keys[i]), args[0]}));
    if (ToBoolean(r).value_or(false)) out.Set(object.keys[i], object.values[i]);
  }
  if (out.keys.empty()) return Value();
  return Value::MakeObject(std::move(out));
}

Outcome<Value> FnType(Evaluator&, const CallSite&, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  return Value::String(std::string(TypeName(args[0])));
}

Outcome<Value> FnError(Evaluator& ev, const CallSite& site, Args& args) {
  std::string message = "$error() called";
  if (!args.empty() && args[0].IsString()) message = args[0].string;
  return ev.Fail(site.node, "D3137", message);
}

Outcome<Value> FnAssert(Evaluator& ev, const CallSite& site, Args& args) {
  if (args[0].kind != Value::Kind::kBool) {
    return ArgError(ev, site, "assert", 0, "a boolean", args[0]);
  }
  if (!args[0].boolean) {
    std::string message = "$assert() statement failed";
    if (args.size() > 1 && args[1].IsString()) message = args[1].string;
    return ev.Fail(site.node, "D3141", message);
  }
  return Value();
}

// ---------------------------------------------------------------------------------------------
// Higher-order functions

Outcome<Value> FnMap(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "map", args, 1));
  (void)is_fn;
  Value array = Value::MakeArray(ToArray(args[0]));
  Array out;
  for (size_t i = 0; i < array.items().size(); ++i) {
    WF_ASSIGN_OR_RAISE(
        Value r, CallWithArity(ev, site, args[1],
                               {array.items()[i], Value::Number(static_cast<double>(i)), array}));
    if (!r.IsUndefined()) out.push_back(std::move(r));
  }
  return Sequence(std::move(out));
}

Outcome<Value> FnFilter(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "filter", args, 1));
  (void)is_fn;
  Value array = Value::MakeArray(ToArray(args[0]));
  Array out;
  for (size_t i = 0; i < array.items().size(); ++i) {
    WF_ASSIGN_OR_RAISE(
        Value r, CallWithArity(ev, site, args[1],
                               {array.items()[i], Value::Number(static_cast<double>(i)), array}));
    if (ToBoolean(r).value_or(false)) out.push_back(array.items()[i]);
  }
  return Sequence(std::move(out));
}

Outcome<Value> FnSingle(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  Value array = Value::MakeArray(ToArray(args[0]));
  std::optional<Value> found;
  for (size_t i = 0; i < array.items().size(); ++i) {
    bool match = true;
    if (args.size() > 1) {
      WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "single", args, 1));
      (void)is_fn;
      WF_ASSIGN_OR_RAISE(
          Value r, CallWithArity(ev, site, args[1],
                                 {array.items()[i], Value::Number(static_cast<double>(i)), array}));
      match = ToBoolean(r).value_or(false);
    }
    if (!match) continue;
    if (found) {
      return ev.Fail(site.node, "D3138", "$single found more than one matching value");
    }
    found = array.items()[i];
  }
  if (!found) return ev.Fail(site.node, "D3139", "$single found no matching value");
  return *found;
}

Outcome<Value> FnReduce(Evaluator& ev, const CallSite& site, Args& args) {
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(bool is_fn, FunctionArg(ev, site, "reduce", args, 1));
  (void)is_fn;
  if (args[1].function->Arity() < 2) {
    return ev.Fail(site.node, "D3050",
                   "the function passed to $reduce must take at least two arguments");
  }
  Value array = Value::MakeArray(ToArray(args[0]));
  const Array& items = array.items();
  Value acc;
  size_t start = 0;
  if (args.size() > 2 && !args[2].IsUndefined()) {
    acc = args[2];
  } else if (!items.empty()) {
    acc = items[0];
    start = 1;
  }
  for (size_t i = start; i < items.size(); ++i) {
    WF_ASSIGN_OR_RAISE(
        acc, CallWithArity(ev, site, args[1],
                           {acc, items[i], Value::Number(static_cast<double>(i)), array}));
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Date/time

Outcome<Value> FnNow(Evaluator& ev, const CallSite& site, Args& args) {
  if (!args.empty()) {
    return ev.Fail(site.node, "D3133", "$now with a picture string is not supported");
  }
  return Value::String(FormatIso8601Millis(ev.NowMillis() * 1000));
}

Outcome<Value> FnMillis(Evaluator& ev, const CallSite&, Args&) {
  return Value::Number(static_cast<double>(ev.NowMillis()));
}

Outcome<Value> FnFromMillis(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "fromMillis";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(double millis, NumberArg(ev, site, name, args, 0));
  if (args.size() > 1) {
    return ev.Fail(site.node, "D3133", "$fromMillis with a picture string is not supported");
  }
  // Years 0..9999 only, so that the ISO text stays well formed.
  if (millis < -62167219200000.0 || millis > 253402300799999.0) {
    return ev.Fail(site.node, "D3137",
                   "$fromMillis: " + FormatNumber(millis) + " is outside the years 0000-9999");
  }
  return Value::String(FormatIso8601Millis(static_cast<int64_t>(std::floor(millis)) * 1000));
}

Outcome<Value> FnToMillis(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "toMillis";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(text, 0);
  if (args.size() > 1) {
    return ev.Fail(site.node, "D3133", "$toMillis with a picture string is not supported");
  }
  std::optional<int64_t> micros = ParseIso8601(text);
  if (!micros) {
    return ev.Fail(site.node, "D3110", "$toMillis: \"" + text + "\" is not an ISO 8601 date/time");
  }
  return Value::Number(static_cast<double>(*micros / 1000 - (*micros % 1000 < 0 ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------------
// Step Functions additions

Outcome<Value> FnPartition(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "partition";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  WF_ASSIGN_OR_RAISE(int64_t size, IntegerArg(ev, site, name, args, 1));
  if (size <= 0) {
    return ev.Fail(site.node, "D3137", "the chunk size of $partition must be positive");
  }
  Array items = ToArray(args[0]);
  Array out;
  for (size_t i = 0; i < items.size(); i += static_cast<size_t>(size)) {
    size_t end = std::min(items.size(), i + static_cast<size_t>(size));
    out.push_back(Value::MakeArray(Array(items.begin() + static_cast<std::ptrdiff_t>(i),
                                         items.begin() + static_cast<std::ptrdiff_t>(end))));
  }
  return Value::MakeArray(std::move(out));
}

inline constexpr int64_t kMaxSfnRangeItems = 1000;

Outcome<Value> FnRange(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "range";
  WF_ASSIGN_OR_RAISE(int64_t start, IntegerArg(ev, site, name, args, 0));
  WF_ASSIGN_OR_RAISE(int64_t end, IntegerArg(ev, site, name, args, 1));
  int64_t step = 1;
  if (args.size() > 2) {
    WF_ASSIGN_OR_RAISE(step, IntegerArg(ev, site, name, args, 2));
  }
  if (step == 0) return ev.Fail(site.node, "D3137", "the step of $range must not be 0");
  Array out;
  for (int64_t v = start; step > 0 ? v <= end : v >= end; v += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxSfnRangeItems) {
      return ev.Fail(
          site.node, "D3137",
          "$range would produce more than " + std::to_string(kMaxSfnRangeItems) + " items");
    }
    out.push_back(Value::Number(static_cast<double>(v)));
  }
  return Value::MakeArray(std::move(out));
}

Outcome<Value> FnHash(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "hash";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(data, 0);
  std::string algorithm = "SHA-256";
  if (args.size() > 1) {
    JSONATA_STRING_ARG(a, 1);
    algorithm = a;
  }
  const EVP_MD* md = nullptr;
  if (algorithm == "MD5") {
    md = EVP_md5();
  } else if (algorithm == "SHA-1") {
    md = EVP_sha1();
  } else if (algorithm == "SHA-256") {
    md = EVP_sha256();
  } else if (algorithm == "SHA-384") {
    md = EVP_sha384();
  } else if (algorithm == "SHA-512") {
    md = EVP_sha512();
  } else {
    return ev.Fail(site.node, "D3137",
                   "$hash: unsupported algorithm \"" + algorithm +
                       "\" (MD5, SHA-1, SHA-256, SHA-384, SHA-512)");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, md, nullptr) != 1) {
    return ev.Fail(site.node, "D3137", "$hash: digest failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return Value::String(std::move(hex));
}

Outcome<Value> FnUuid(Evaluator& ev, const CallSite&, Args&) {
  return Value::String(NewUuid(ev.Rng()));
}

Outcome<Value> FnParse(Evaluator& ev, const CallSite& site, Args& args) {
  static constexpr std::string_view name = "parse";
  JSONATA_UNDEFINED_IN_UNDEFINED_OUT();
  JSONATA_STRING_ARG(text, 0);
  Result<JsonValue> parsed = ParseJson(text);
  if (!parsed.ok()) {
    return ev.Fail(site.node, "D3137", "$parse: " + parsed.status().message());
  }
  WF_ASSIGN_OR_RAISE(bool ok, ev.Charge(static_cast<int64_t>(text.size() / 64), site.node));
  (void)ok;
  return FromJson(*parsed);
}

// ---------------------------------------------------------------------------------------------
// Table

const std::vector<Builtin>& Builtins() {
  static const std::vector<Builtin> kBuiltins = [] {
    std::vector<Builtin> b = {
        {"string", 1, 2, true, FnString},
        {"length", 1, 1, true, FnLength},
        {"substring", 2, 3, true, FnSubstring},
        {"substringBefore", 2, 2, true, FnSubstringBefore},
        {"substringAfter", 2, 2, true, FnSubstringAfter},
        {"uppercase", 1, 1, true, FnUppercase},
        {"lowercase", 1, 1, true, FnLowercase},
        {"trim", 1, 1, true, FnTrim},
        {"pad", 2, 3, true, FnPad},
        {"contains", 2, 2, true, FnContains},
        {"split", 2, 3, true, FnSplit},
        {"join", 1, 2, false, FnJoin},
        {"replace", 3, 4, true, FnReplace},
        {"match", 2, 3, true, FnMatch},
        {"base64encode", 1, 1, true, FnBase64Encode},
        {"base64decode", 1, 1, true, FnBase64Decode},
        {"number", 1, 1, true, FnNumber},
        {"abs", 1, 1, true,
         [](Evaluator& ev, const CallSite& s, Args& a) { return UnaryMath<Abs>(ev, s, a, "abs"); }},
        {"floor", 1, 1, true,
         [](Evaluator& ev, const CallSite& s, Args& a) {
           return UnaryMath<Floor>(ev, s, a, "floor");
         }},
        {"ceil", 1, 1, true,
         [](Evaluator& ev, const CallSite& s, Args& a) {
           return UnaryMath<Ceil>(ev, s, a, "ceil");
         }},
        {"round", 1, 2, true, FnRound},
        {"power", 2, 2, true, FnPower},
        {"sqrt", 1, 1, true, FnSqrt},
        {"random", 0, 1, false, FnRandom},
        {"sum", 1, 1, false, FnSum},
        {"max", 1, 1, false, FnMax},
        {"min", 1, 1, false, FnMin},
        {"average", 1, 1, false, FnAverage},
        {"count", 1, 1, false, FnCount},
        {"boolean", 1, 1, true, FnBoolean},
        {"not", 1, 1, true, FnNot},
        {"exists", 1, 1, false, FnExists},
        {"append", 2, 2, false, FnAppend},
        {"reverse", 1, 1, false, FnReverse},
        {"sort", 1, 2, false, FnSort},
        {"distinct", 1, 1, false, FnDistinct},
        {"zip", 1, -1, false, FnZip},
        {"shuffle", 1, 1, false, FnShuffle},
        {"keys", 1, 1, true, FnKeys},
        {"lookup", 2, 2, true, FnLookup},
        {"merge", 1, 1, false, FnMerge},
        {"spread", 1, 1, true, FnSpread},
        {"each", 2, 2, true, FnEach},
        {"sift", 2, 2, true, FnSift},
        {"type", 1, 1, false, FnType},
        {"error", 0, 1, false, FnError},
        {"assert", 1, 2, false, FnAssert},
        {"map", 2, 2, false, FnMap},
        {"filter", 2, 2, false, FnFilter},
        {"single", 1, 2, false, FnSingle},
        {"reduce", 2, 3, false, FnReduce},
        {"now", 0, 2, false, FnNow},
        {"millis", 0, 0, false, FnMillis},
        {"fromMillis", 1, 3, false, FnFromMillis},
        {"toMillis", 1, 2, false, FnToMillis},
        {"partition", 2, 2, false, FnPartition},
        {"range", 2, 3, false, FnRange},
        {"hash", 1, 2, false, FnHash},
        {"uuid", 0, 0, false, FnUuid},
        {"parse", 1, 1, false, FnParse},
    };
    return b;
  }();
  return kBuiltins;
}

}  // namespace

Outcome<Value> CallRegex(Evaluator& ev, const Regex& regex, const Value& arg,
                         const CallSite& site) {
  if (arg.IsUndefined()) return Value();
  if (!arg.IsString()) {
    return ev.Fail(
        site.node, "T0410",
        "a regular expression must be applied to a string, got a " + std::string(TypeName(arg)));
  }
  WF_ASSIGN_OR_RAISE(std::optional<Regex::Match> m,
                     ev.RegexSearch(regex, arg.string, 0, site.node));
  if (!m) return Value();
  Value match = MatchObject(arg.string, *m);
  Object o = *match.object;
  o.Set("start", Value::Number(static_cast<double>(CodePointIndex(arg.string, m->start))));
  o.Set("end", Value::Number(static_cast<double>(CodePointIndex(arg.string, m->end))));
  return Value::MakeObject(std::move(o));
}

Outcome<std::string> Stringify(Evaluator& ev, const Value& value, const Node* node) {
  if (value.IsString()) return value.string;
  if (value.IsFunction()) return std::string();
  std::string out;
  if (!StringifyTo(out, value, 0)) {
    if (out.size() > kMaxJsonataStringBytes) {
      return ev.Fail(
          node, "D1001",
          "string result longer than " + std::to_string(kMaxJsonataStringBytes) + " bytes");
    }
    return ev.Fail(node, "D3001",
                   "the value cannot be converted to a string (a non-finite number, or nested "
                   "too deeply)");
  }
  WF_ASSIGN_OR_RAISE(bool ok, ev.Charge(static_cast<int64_t>(out.size() / 256), node));
  (void)ok;
  return out;
}

const Builtin* FindBuiltin(std::string_view name) {
  static const std::unordered_map<std::string_view, const Builtin*> kByName = [] {
    std::unordered_map<std::string_view, const Builtin*> map;
    for (const Builtin& b : Builtins()) map[b.name] = &b;
    return map;
  }();
  auto it = kByName.find(name);
  return it == kByName.end() ? nullptr : it->second;
}

}  // namespace basin::workflow::jsonata
