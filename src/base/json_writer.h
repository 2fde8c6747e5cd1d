#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace basin {

// Appends `s` to `out` as a JSON string literal (quotes included), escaping as RFC 8259 asks.
// Invalid UTF-8 bytes are replaced with U+FFFD so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);

// A small streaming JSON builder for responses and documents. It does not check nesting; callers
// build well-formed documents by construction. Not thread-safe.
//
//   JsonWriter w;
//   w.BeginObject(); w.Key("accepted"); w.Int(3); w.EndObject();
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-serialized JSON as a value.
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Separate();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace basin
