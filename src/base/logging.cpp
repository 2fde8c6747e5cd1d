#include "base/logging.h"

#include <unistd.h>

#include <atomic>

#include "base/clock.h"
#include "base/time_format.h"

namespace basin {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = level; }
LogLevel GetLogLevel() { return g_level; }

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  if (name == "debug")
    *level = LogLevel::kDebug;
  else if (name == "info")
    *level = LogLevel::kInfo;
  else if (name == "warn")
    *level = LogLevel::kWarn;
  else if (name == "error")
    *level = LogLevel::kError;
  else
    return false;
  return true;
}

namespace internal {

LogLine::LogLine(LogLevel level, std::string_view component) : level_(level) {
  stream_ << FormatIso8601Millis(SystemClock::Instance().NowMicros()) << ' ' << LevelName(level_)
          << " [" << component << "] ";
}

LogLine::~LogLine() {
  stream_ << '\n';
  const std::string line = stream_.str();
  // One write per line so that lines from different threads do not interleave.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace internal
}  // namespace basin
