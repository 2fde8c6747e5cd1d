#include "log/stream_meta.h"

#include <map>

#include "base/json_writer.h"

namespace basin::log {
namespace {

constexpr int64_t kMetaFormatVersion = 1;

// A flat JSON object whose values are strings or integers: all stream.json ever holds.
class FlatJsonParser {
 public:
  explicit FlatJsonParser(std::string_view text) : text_(text) {}

  struct Number {
    bool negative = false;
    uint64_t magnitude = 0;
  };

  bool Parse(std::map<std::string, std::string>* strings, std::map<std::string, Number>* numbers) {
    SkipSpace();
    if (!Consume('{')) return false;
    SkipSpace();
    if (Consume('}')) return AtEnd();
    for (;;) {
      std::string key;
      SkipSpace();
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Consume(':')) return false;
      SkipSpace();
      if (Peek() == '"') {
        std::string value;
        if (!ParseString(&value)) return false;
        (*strings)[key] = std::move(value);
      } else {
        Number value;
        if (!ParseNumber(&value)) return false;
        (*numbers)[key] = value;
      }
      SkipSpace();
      if (Consume('}')) return AtEnd();
      if (!Consume(',')) return false;
    }
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Consume(char c) {
    if (Peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }
  bool ParseString(std::string* out) {
    if (!Consume('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (pos_ >= text_.size()) return false;
        const char e = text_[pos_++];
        if (e != '"' && e != '\\' && e != '/') return false;  // we never write other escapes
        out->push_back(e);
      } else {
        out->push_back(c);
      }
    }
    return false;
  }
  bool ParseNumber(Number* out) {
    out->negative = Consume('-');
    size_t digits = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const uint64_t d = static_cast<uint64_t>(text_[pos_] - '0');
      if (out->magnitude > (UINT64_MAX - d) / 10) return false;
      out->magnitude = out->magnitude * 10 + d;
      ++pos_;
      ++digits;
    }
    return digits > 0;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

bool IsValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status ValidateStreamOptions(const StreamOptions& options) {
  if (options.shard_count < 1 || options.shard_count > kMaxShardCount) {
    return Error(ErrorCode::kInvalidArgument, "shard_count must be 1-" +
                                                  std::to_string(kMaxShardCount) + ", got " +
                                                  std::to_string(options.shard_count));
  }
  if (options.retention_hours < 1 || options.retention_hours > kMaxRetentionHours) {
    return Error(ErrorCode::kInvalidArgument, "retention_hours must be 1-" +
                                                  std::to_string(kMaxRetentionHours) + ", got " +
                                                  std::to_string(options.retention_hours));
  }
  return Status::Ok();
}

std::string StreamMeta::ToJson(const std::string& name) const {
  JsonWriter w;
  w.BeginObject();
  w.Key("format_version").Int(kMetaFormatVersion);
  w.Key("name").String(name);
  w.Key("shard_count").Uint(options.shard_count);
  w.Key("retention_hours").Int(options.retention_hours);
  w.Key("retention_bytes").Uint(options.retention_bytes);
  w.Key("created_time_us").Int(created_time_us);
  w.EndObject();
  return w.Take() + "\n";
}

Result<StreamMeta> StreamMeta::FromJson(std::string_view json) {
  std::map<std::string, std::string> strings;
  std::map<std::string, FlatJsonParser::Number> numbers;
  if (!FlatJsonParser(json).Parse(&strings, &numbers)) {
    return Error(ErrorCode::kCorruption, "stream.json is not a flat JSON object");
  }
  auto get = [&](const char* key, bool allow_negative, uint64_t max,
                 int64_t* sign_out) -> Result<uint64_t> {
    auto it = numbers.find(key);
    if (it == numbers.end()) {
      return Error(ErrorCode::kCorruption, std::string("stream.json lacks ") + key);
    }
    if ((it->second.negative && !allow_negative) || it->second.magnitude > max) {
      return Error(ErrorCode::kCorruption, std::string("stream.json has a bad ") + key);
    }
    *sign_out = it->second.negative ? -1 : 1;
    return it->second.magnitude;
  };
  int64_t sign = 1;
  BASIN_ASSIGN_OR_RETURN(uint64_t version, get("format_version", false, UINT32_MAX, &sign));
  if (static_cast<int64_t>(version) != kMetaFormatVersion) {
    return Error(ErrorCode::kCorruption,
                 "stream.json has unsupported format_version " + std::to_string(version));
  }
  StreamMeta meta;
  BASIN_ASSIGN_OR_RETURN(uint64_t shards, get("shard_count", false, UINT32_MAX, &sign));
  meta.options.shard_count = static_cast<uint32_t>(shards);
  BASIN_ASSIGN_OR_RETURN(uint64_t hours, get("retention_hours", true, INT64_MAX, &sign));
  meta.options.retention_hours = sign * static_cast<int64_t>(hours);
  BASIN_ASSIGN_OR_RETURN(meta.options.retention_bytes,
                         get("retention_bytes", false, UINT64_MAX, &sign));
  BASIN_ASSIGN_OR_RETURN(uint64_t created, get("created_time_us", true, INT64_MAX, &sign));
  meta.created_time_us = sign * static_cast<int64_t>(created);
  Status valid = ValidateStreamOptions(meta.options);
  if (!valid.ok()) return Error(ErrorCode::kCorruption, "stream.json: " + valid.message());
  return meta;
}

}  // namespace basin::log
