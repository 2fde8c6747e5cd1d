#pragma once

#include <sstream>
#include <string_view>

namespace basin {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

// Process-wide minimum level; messages below it are not formatted. Thread-safe.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warn", "error"; returns false for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);

namespace internal {
struct LogVoidify {
  void operator&(std::ostream&) {}
};

// One log line, written to stderr in one write when destroyed: "2026-11-27T04:22:29.123Z INFO
// [log] message".
class LogLine {
 public:
  LogLine(LogLevel level, std::string_view component);
  ~LogLine();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace internal

}  // namespace basin

// An expression, so it is safe anywhere a statement is, also as the body of an unbraced if.
// `&` binds looser than `<<`, so the whole message is built before it is voided.
#define BASIN_LOG(level, component)                      \
  (::basin::LogLevel::k##level < ::basin::GetLogLevel()) \
      ? static_cast<void>(0)                             \
      : ::basin::internal::LogVoidify() &                \
            ::basin::internal::LogLine(::basin::LogLevel::k##level, component).stream()
