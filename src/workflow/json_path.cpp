#include "workflow/json_path.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace basin::workflow {

namespace {

bool IsNameChar(char c) {
  // Dot-notation names stop at the characters that start another segment.
  return c != '.' && c != '[' && c != ']' && c != ' ' && c != '\'' && c != '"' && c != ',' &&
         c != '(' && c != ')';
}

Status PathError(std::string_view text, const std::string& why) {
  return Status(ErrorCode::kInvalidArgument, "invalid path '" + std::string(text) + "': " + why);
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

Result<JsonPath> JsonPath::Parse(std::string_view text) {
  JsonPath path;
  path.text_ = std::string(text);
  if (text.empty() || text[0] != '$') return PathError(text, "must start with '$'");
  size_t i = 1;
  if (i < text.size() && text[i] == '$') {
    path.context_ = true;
    ++i;
  }
  while (i < text.size()) {
    char c = text[i];
    if (c == '.') {
      bool descend = i + 1 < text.size() && text[i + 1] == '.';
      i += descend ? 2 : 1;
      if (i < text.size() && text[i] == '*') {
        if (descend) return PathError(text, "'..*' is not supported");
        path.segments_.push_back({Segment::Type::kWildcard, "", 0, {}, {}});
        path.definite_ = false;
        ++i;
        continue;
      }
      size_t start = i;
      while (i < text.size() && IsNameChar(text[i])) ++i;
      if (i == start) return PathError(text, "empty name after '.'");
      Segment s{descend ? Segment::Type::kDescend : Segment::Type::kField,
                std::string(text.substr(start, i - start)),
                0,
                {},
                {}};
      if (descend) path.definite_ = false;
      path.segments_.push_back(std::move(s));
      continue;
    }
    if (c == '[') {
      ++i;
      if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
        char quote = text[i++];
        std::string name;
        bool closed = false;
        while (i < text.size()) {
          if (text[i] == '\\' && i + 1 < text.size()) {
            name += text[i + 1];
            i += 2;
            continue;
          }
          if (text[i] == quote) {
            closed = true;
            ++i;
            break;
          }
          name += text[i++];
        }
        if (!closed || i >= text.size() || text[i] != ']') {
          return PathError(text, "unterminated quoted name");
        }
        ++i;
        path.segments_.push_back({Segment::Type::kField, std::move(name), 0, {}, {}});
        continue;
      }
      size_t close = text.find(']', i);
      if (close == std::string_view::npos) return PathError(text, "missing ']'");
      std::string_view inner = text.substr(i, close - i);
      i = close + 1;
      if (inner == "*") {
        path.segments_.push_back({Segment::Type::kWildcard, "", 0, {}, {}});
        path.definite_ = false;
        continue;
      }
      if (size_t colon = inner.find(':'); colon != std::string_view::npos) {
        std::string_view a = inner.substr(0, colon), b = inner.substr(colon + 1);
        Segment s{Segment::Type::kSlice, "", 0, {}, {}};
        if (!a.empty()) {
          s.start = ParseInt(a);
          if (!s.start) return PathError(text, "bad slice start");
        }
        if (!b.empty()) {
          s.end = ParseInt(b);
          if (!s.end) return PathError(text, "bad slice end");
        }
        path.segments_.push_back(std::move(s));
        path.definite_ = false;
        continue;
      }
      std::optional<int64_t> index = ParseInt(inner);
      if (!index) {
        return PathError(text, "unsupported selector '[" + std::string(inner) + "]'");
      }
      path.segments_.push_back({Segment::Type::kIndex, "", *index, {}, {}});
      continue;
    }
    return PathError(text, std::string("unexpected character '") + c + "'");
  }
  return path;
}

namespace {

using Segment = JsonPath::Segment;

void Descend(const JsonValue& node, const std::string& name, std::vector<const JsonValue*>& out) {
  if (node.IsObject()) {
    for (size_t i = 0; i < node.keys().size(); ++i) {
      if (node.keys()[i] == name) out.push_back(&node.items()[i]);
    }
    for (const JsonValue& child : node.items()) Descend(child, name, out);
  } else if (node.IsArray()) {
    for (const JsonValue& child : node.items()) Descend(child, name, out);
  }
}

}  // namespace

std::optional<JsonValue> JsonPath::Evaluate(const JsonValue& root) const {
  std::vector<const JsonValue*> current{&root};
  for (const Segment& seg : segments_) {
    std::vector<const JsonValue*> next;
    for (const JsonValue* node : current) {
      switch (seg.type) {
        case Segment::Type::kField:
          if (const JsonValue* v = node->Find(seg.name)) next.push_back(v);
          break;
        case Segment::Type::kIndex:
          if (node->IsArray()) {
            int64_t n = static_cast<int64_t>(node->size());
            int64_t idx = seg.index < 0 ? n + seg.index : seg.index;
            if (idx >= 0 && idx < n) next.push_back(&node->items()[static_cast<size_t>(idx)]);
          }
          break;
        case Segment::Type::kWildcard:
          if (node->IsArray() || node->IsObject()) {
            for (const JsonValue& child : node->items()) next.push_back(&child);
          }
          break;
        case Segment::Type::kSlice:
          if (node->IsArray()) {
            int64_t n = static_cast<int64_t>(node->size());
            int64_t a = seg.start.value_or(0), b = seg.end.value_or(n);
            if (a < 0) a += n;
            if (b < 0) b += n;
            a = std::clamp<int64_t>(a, 0, n);
            b = std::clamp<int64_t>(b, 0, n);
            for (int64_t k = a; k < b; ++k) next.push_back(&node->items()[static_cast<size_t>(k)]);
          }
          break;
        case Segment::Type::kDescend: Descend(*node, seg.name, next); break;
      }
    }
    current = std::move(next);
  }
  if (definite_) {
    if (current.empty()) return std::nullopt;
    return *current.front();
  }
  JsonValue out = JsonValue::Array();
  for (const JsonValue* v : current) out.Append(*v);
  return out;
}

Outcome<bool> JsonPath::Assign(JsonValue& root, JsonValue value) const {
  auto fail = [&](const std::string& why) {
    return MakeError(kErrResultPathMatchFailure,
                     "Unable to apply ResultPath '" + text_ + "': " + why);
  };
  if (context_ || !definite_) return fail("not a reference path");
  JsonValue* node = &root;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Segment& seg = segments_[i];
    bool last = i + 1 == segments_.size();
    if (seg.type == Segment::Type::kField) {
      if (!node->IsObject()) return fail("'" + seg.name + "' is not inside an object");
      JsonValue* child = node->Find(seg.name);
      if (child == nullptr) {
        node->Set(seg.name, last ? JsonValue::Null() : JsonValue::Object());
        child = node->Find(seg.name);
      }
      node = child;
    } else {
      if (!node->IsArray()) return fail("index applied to a non-array");
      int64_t n = static_cast<int64_t>(node->size());
      int64_t idx = seg.index < 0 ? n + seg.index : seg.index;
      if (idx < 0 || idx >= n) return fail("index out of range");
      node = &node->items()[static_cast<size_t>(idx)];
    }
  }
  *node = std::move(value);
  return true;
}

}  // namespace basin::workflow
