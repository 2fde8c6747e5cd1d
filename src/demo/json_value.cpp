#include "demo/json_value.h"

#include <charconv>
#include <system_error>

#include "base/utf8.h"

namespace basin::demo {

// Recursive descent over the text; one instance per Parse() call.
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  Result<JsonValue> ParseDocument() {
    JsonValue value;
    BASIN_RETURN_IF_ERROR(ParseValue(value, 0));
    SkipSpace();
    if (pos_ != text_.size()) return Fail("trailing characters");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  Status Fail(std::string_view what) const {
    return Error(ErrorCode::kMalformedJson,
                 std::string(what) + " at offset " + std::to_string(pos_));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  Status ParseValue(JsonValue& out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end");
    const char ch = text_[pos_];
    if (ch == '{') return ParseObject(out, depth);
    if (ch == '[') return ParseArray(out, depth);
    if (ch == '"') {
      out.kind_ = JsonValue::Kind::kString;
      return ParseString(out.string_);
    }
    if (Consume("true")) {
      out.kind_ = JsonValue::Kind::kBool;
      out.bool_ = true;
      return Status::Ok();
    }
    if (Consume("false")) {
      out.kind_ = JsonValue::Kind::kBool;
      return Status::Ok();
    }
    if (Consume("null")) return Status::Ok();
    return ParseNumber(out);
  }

  Status ParseObject(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (Consume("}")) return Status::Ok();
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a member name");
      std::string key;
      BASIN_RETURN_IF_ERROR(ParseString(key));
      SkipSpace();
      if (!Consume(":")) return Fail("expected ':'");
      JsonValue value;
      BASIN_RETURN_IF_ERROR(ParseValue(value, depth + 1));
      out.members_.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume("}")) return Status::Ok();
      if (!Consume(",")) return Fail("expected ',' or '}'");
    }
  }

  Status ParseArray(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (Consume("]")) return Status::Ok();
    while (true) {
      JsonValue value;
      BASIN_RETURN_IF_ERROR(ParseValue(value, depth + 1));
      out.items_.push_back(std::move(value));
      SkipSpace();
      if (Consume("]")) return Status::Ok();
      if (!Consume(",")) return Fail("expected ',' or ']'");
    }
  }

  Status ParseHex4(uint32_t& code) {
    if (pos_ + 4 > text_.size()) return Fail("short \\u escape");
    code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        code |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        code |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return Fail("bad \\u escape");
      }
    }
    return Status::Ok();
  }

  Status ParseString(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      const char ch = text_[pos_++];
      if (ch == '"') return Status::Ok();
      if (static_cast<unsigned char>(ch) < 0x20) return Fail("control character in string");
      if (ch != '\\') {
        out += ch;
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char esc = text_[pos_++];
      switch (esc) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          BASIN_RETURN_IF_ERROR(ParseHex4(cp));
          if (cp >= 0xD800 && cp < 0xDC00 && Consume("\\u")) {
            uint32_t low = 0;
            BASIN_RETURN_IF_ERROR(ParseHex4(low));
            if (low < 0xDC00 || low > 0xDFFF) return Fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;  // a lone surrogate
          }
          AppendUtf8(out, cp);
          break;
        }
        default: return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }

  Status ParseNumber(JsonValue& out) {
    const size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    while (pos_ < text_.size()) {
      const char ch = text_[pos_];
      if ((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
          ch == '-') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return Fail("unexpected character");
    double value = 0;
    const auto r = std::from_chars(text_.data() + start, text_.data() + pos_, value);
    if (r.ec != std::errc() || r.ptr != text_.data() + pos_) {
      pos_ = start;
      return Fail("bad number");
    }
    out.kind_ = JsonValue::Kind::kNumber;
    out.number_ = value;
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [name, value] : members_) {
    if (name == key) return &value;
  }
  return nullptr;
}

Result<JsonValue> JsonValue::Parse(std::string_view text) {
  return JsonParser(text).ParseDocument();
}

}  // namespace basin::demo
