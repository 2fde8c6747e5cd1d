#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace basin::demo {

// A small JSON document tree. The demo reads the collector's short replies with it (and the
// tests read the events it writes); base has a JSON writer but no reader, and the demo library
// deliberately does not pull in simdjson (ingest's hot-path parser) for a few hundred bytes a
// second. Numbers are kept as doubles. A value type; not thread-safe.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool boolean() const { return bool_; }
  double number() const { return number_; }
  const std::string& string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // The member called `key` of an object, or nullptr.
  const JsonValue* Find(std::string_view key) const;

  // Parses one JSON text (RFC 8259; nesting up to 64 levels). MalformedJson says where it broke.
  static Result<JsonValue> Parse(std::string_view text);

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

}  // namespace basin::demo
