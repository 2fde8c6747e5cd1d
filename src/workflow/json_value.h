#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace basin::workflow {

// Step Functions rejects any state input/output larger than 256 KiB (States.DataLimitExceeded).
inline constexpr size_t kMaxPayloadBytes = size_t{256} * 1024;
// Nesting deeper than this is refused when parsing, so recursion over values stays bounded.
inline constexpr size_t kMaxJsonDepth = 128;

// An owned JSON value as the workflow engine sees it: null, bool, integer (int64), double,
// string, array, or object with keys in insertion order (ASL output keeps the template's order).
// Integers and doubles are kept apart so `3` prints as `3` and `3.5` as `3.5`; they compare equal
// by numeric value (1 == 1.0), which is what Choice rules and ArrayContains/ArrayUnique need.
// Objects are stored as parallel key/value vectors: workflow documents are small, so linear
// lookup beats a map and keeps order for free. Value type; not thread-safe when mutated.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  JsonValue() = default;
  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  static JsonValue Int(int64_t i);
  static JsonValue Double(double d);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items = {});
  static JsonValue Object();

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }
  bool IsBool() const { return kind_ == Kind::kBool; }
  bool IsInt() const { return kind_ == Kind::kInt; }
  bool IsDouble() const { return kind_ == Kind::kDouble; }
  bool IsNumber() const { return kind_ == Kind::kInt || kind_ == Kind::kDouble; }
  bool IsString() const { return kind_ == Kind::kString; }
  bool IsArray() const { return kind_ == Kind::kArray; }
  bool IsObject() const { return kind_ == Kind::kObject; }
  // An integer, or a double with no fractional part that fits int64 (ASL "integer" arguments).
  bool IsIntegral() const;

  bool AsBool() const { return bool_; }
  int64_t AsInt() const { return kind_ == Kind::kInt ? int_ : static_cast<int64_t>(double_); }
  double AsDouble() const { return kind_ == Kind::kInt ? static_cast<double>(int_) : double_; }
  const std::string& AsString() const { return string_; }

  // Arrays.
  const std::vector<JsonValue>& items() const { return items_; }
  std::vector<JsonValue>& items() { return items_; }
  void Append(JsonValue v) { items_.push_back(std::move(v)); }
  size_t size() const { return items_.size(); }

  // Objects. keys()[i] belongs to items()[i].
  const std::vector<std::string>& keys() const { return keys_; }
  const JsonValue* Find(std::string_view key) const;
  JsonValue* Find(std::string_view key);
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // Replaces the value of an existing key in place, else appends.
  void Set(std::string_view key, JsonValue v);

  // Compact JSON text. Doubles print in shortest round-trip form; integral doubles keep a ".0"
  // so that re-parsing gives back a double.
  std::string Serialize() const;
  void SerializeTo(std::string& out) const;

  // Deep equality; numbers compare by value.
  bool operator==(const JsonValue& other) const;

  // "null", "boolean", "integer", "number", "string", "array", "object" - for error causes.
  std::string_view TypeName() const;

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::string> keys_;
};

// Parses JSON text. Errors: kMalformedJson (bad syntax, too deep), kPayloadTooLarge (more than
// `max_bytes`). Integers beyond int64 become doubles.
Result<JsonValue> ParseJson(std::string_view text, size_t max_bytes = kMaxPayloadBytes);

}  // namespace basin::workflow
