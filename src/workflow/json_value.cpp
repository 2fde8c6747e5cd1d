#include "workflow/json_value.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "base/json_writer.h"

namespace basin::workflow {

namespace dom = simdjson::dom;

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Int(int64_t i) {
  JsonValue v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}

JsonValue JsonValue::Double(double d) {
  JsonValue v;
  v.kind_ = Kind::kDouble;
  v.double_ = d;
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object() {
  JsonValue v;
  v.kind_ = Kind::kObject;
  return v;
}

bool JsonValue::IsIntegral() const {
  if (kind_ == Kind::kInt) return true;
  if (kind_ != Kind::kDouble) return false;
  return std::isfinite(double_) && std::trunc(double_) == double_ && std::fabs(double_) < 9.2e18;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &items_[i];
  }
  return nullptr;
}

JsonValue* JsonValue::Find(std::string_view key) {
  return const_cast<JsonValue*>(static_cast<const JsonValue*>(this)->Find(key));
}

void JsonValue::Set(std::string_view key, JsonValue v) {
  BASIN_CHECK(kind_ == Kind::kObject);
  if (JsonValue* existing = Find(key)) {
    *existing = std::move(v);
    return;
  }
  keys_.emplace_back(key);
  items_.push_back(std::move(v));
}

std::string JsonValue::Serialize() const {
  std::string out;
  SerializeTo(out);
  return out;
}

void JsonValue::SerializeTo(std::string& out) const {
  switch (kind_) {
    case Kind::kNull: out += "null"; return;
    case Kind::kBool: out += bool_ ? "true" : "false"; return;
    case Kind::kInt: out += std::to_string(int_); return;
    case Kind::kDouble: {
      // JSON has no NaN/Infinity; they cannot arise from parsing, only from arithmetic.
      if (!std::isfinite(double_)) {
        out += "null";
        return;
      }
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, double_);
      std::string_view text(buf, static_cast<size_t>(end - buf));
      out += text;
      if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
      return;
    }
    case Kind::kString: AppendJsonString(out, string_); return;
    case Kind::kArray:
      out += '[';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out += ',';
        items_[i].SerializeTo(out);
      }
      out += ']';
      return;
    case Kind::kObject:
      out += '{';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out += ',';
        AppendJsonString(out, keys_[i]);
        out += ':';
        items_[i].SerializeTo(out);
      }
      out += '}';
      return;
  }
}

bool JsonValue::operator==(const JsonValue& other) const {
  if (IsNumber() && other.IsNumber()) {
    if (kind_ == Kind::kInt && other.kind_ == Kind::kInt) return int_ == other.int_;
    return AsDouble() == other.AsDouble();
  }
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kNull: return true;
    case Kind::kBool: return bool_ == other.bool_;
    case Kind::kString: return string_ == other.string_;
    case Kind::kArray: return items_ == other.items_;
    case Kind::kObject: {
      // Key order does not matter for equality.
      if (keys_.size() != other.keys_.size()) return false;
      for (size_t i = 0; i < keys_.size(); ++i) {
        const JsonValue* o = other.Find(keys_[i]);
        if (o == nullptr || !(items_[i] == *o)) return false;
      }
      return true;
    }
    default: return false;
  }
}

std::string_view JsonValue::TypeName() const {
  switch (kind_) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "boolean";
    case Kind::kInt: return "integer";
    case Kind::kDouble: return "number";
    case Kind::kString: return "string";
    case Kind::kArray: return "array";
    case Kind::kObject: return "object";
  }
  return "unknown";
}

namespace {

JsonValue FromDom(dom::element e) {
  switch (e.type()) {
    case dom::element_type::NULL_VALUE: return JsonValue::Null();
    case dom::element_type::BOOL: return JsonValue::Bool(bool(e.get_bool()));
    case dom::element_type::INT64: return JsonValue::Int(int64_t(e.get_int64()));
    case dom::element_type::UINT64: return JsonValue::Double(double(uint64_t(e.get_uint64())));
    case dom::element_type::DOUBLE: return JsonValue::Double(double(e.get_double()));
    case dom::element_type::STRING:
      return JsonValue::String(std::string(std::string_view(e.get_string())));
    case dom::element_type::ARRAY: {
      JsonValue a = JsonValue::Array();
      for (dom::element item : dom::array(e.get_array())) a.Append(FromDom(item));
      return a;
    }
    case dom::element_type::OBJECT: {
      JsonValue o = JsonValue::Object();
      // Duplicate keys: the last one wins, as in most JSON readers.
      for (dom::key_value_pair kv : dom::object(e.get_object())) o.Set(kv.key, FromDom(kv.value));
      return o;
    }
  }
  return JsonValue::Null();
}

}  // namespace

Result<JsonValue> ParseJson(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Status(ErrorCode::kPayloadTooLarge, "JSON of " + std::to_string(text.size()) +
                                                   " bytes exceeds the limit of " +
                                                   std::to_string(max_bytes));
  }
  // A parser per call: workflow documents are parsed rarely and this keeps ParseJson reentrant.
  dom::parser parser;
  if (parser.allocate(std::max<size_t>(text.size(), 64), kMaxJsonDepth)) {
    return Status(ErrorCode::kInternal, "cannot allocate JSON parser");
  }
  dom::element root;
  auto error = parser.parse(text.data(), text.size()).get(root);
  if (error == simdjson::DEPTH_ERROR) {
    return Status(ErrorCode::kMalformedJson,
                  "JSON nested deeper than " + std::to_string(kMaxJsonDepth));
  }
  if (error) return Status(ErrorCode::kMalformedJson, simdjson::error_message(error));
  return FromDom(root);
}

}  // namespace basin::workflow
