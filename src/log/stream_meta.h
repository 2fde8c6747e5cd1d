#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "log/log.h"

namespace basin::log {

// The contents of a stream's `stream.json`: its options and creation time, written once when the
// stream is created. Encoding and a strict, small parser (the file is ours, but it is still disk
// input: anything unexpected is Corruption, never a crash). Thread-safe (plain values).
struct StreamMeta {
  StreamOptions options;
  int64_t created_time_us = 0;

  std::string ToJson(const std::string& name) const;
  static Result<StreamMeta> FromJson(std::string_view json);
};

inline constexpr uint32_t kMaxShardCount = 1024;
inline constexpr int64_t kMaxRetentionHours = 8760;

// 1-128 characters of [a-zA-Z0-9_.-], and not "." or ".." (they would name other directories).
bool IsValidStreamName(std::string_view name);
// InvalidArgument unless shard_count is 1-1024 and retention_hours 1-8760.
Status ValidateStreamOptions(const StreamOptions& options);

}  // namespace basin::log
