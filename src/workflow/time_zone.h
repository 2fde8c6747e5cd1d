#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace basin::workflow {

// The system's time-zone database (Debian package `tzdata`).
inline constexpr std::string_view kDefaultZoneInfoRoot = "/usr/share/zoneinfo";

// How a local wall-clock time maps to UTC in a zone.
enum class LocalTimeKind {
  kUnique,    // exactly one instant
  kSkipped,   // inside a gap (clocks jumped forward): no instant has this local time
  kRepeated,  // inside a fold (clocks went back): two instants have this local time
};

struct LocalTimeResolution {
  LocalTimeKind kind = LocalTimeKind::kUnique;
  // kUnique: both the instant. kRepeated: the first and the second occurrence. kSkipped: both the
  // instant the local time "would" be with the offset in force before the gap, i.e. the local
  // time shifted forward by the gap's length (02:30 in a 02:00->03:00 gap gives 03:30).
  int64_t earlier_utc_seconds = 0;
  int64_t later_utc_seconds = 0;
};

// A time-zone rule set read from a TZif file (RFC 8536): the 64-bit transition table of a v2+
// file (the 32-bit one of a v1 file) and, for instants after the last transition, the footer's
// POSIX TZ string (`EST5EDT,M3.2.0,M11.1.0`, `<+1030>-10:30<+11>-11,M10.1.0,M4.1.0`, ...).
// Leap-second records are ignored (the `right/` zones are not supported as such).
// Immutable after loading; safe to share between threads.
class TimeZone {
 public:
  // UTC, with no file read.
  static std::shared_ptr<const TimeZone> Utc();

  // Loads `<root>/<name>`. The name must be a plain relative IANA name: letters, digits and
  // `/_-+`, no `.` components, no leading '/', so that nothing outside `root` is ever read.
  // Errors: kInvalidArgument (bad name), kNotFound (no such zone), kCorruption (not TZif).
  static Result<std::shared_ptr<const TimeZone>> Load(std::string_view name,
                                                      std::string_view root = kDefaultZoneInfoRoot);
  // Parses TZif bytes (exposed for tests and fuzzing). Errors: kCorruption.
  static Result<std::shared_ptr<const TimeZone>> ParseTzif(std::string name,
                                                           std::string_view bytes);

  const std::string& name() const { return name_; }
  // The UTC offset (local - UTC, seconds) in force at a UTC instant.
  int32_t OffsetAt(int64_t utc_seconds) const;
  int64_t ToLocalSeconds(int64_t utc_seconds) const { return utc_seconds + OffsetAt(utc_seconds); }
  // Maps local seconds (seconds since 1970-01-01T00:00 on the local wall clock) to UTC.
  LocalTimeResolution Resolve(int64_t local_seconds) const;

  // A POSIX TZ rule (the TZif footer). Public for the parser and tests.
  struct PosixRule {
    enum class DateKind { kJulianNoLeap, kZeroBasedDay, kMonthWeekDay };
    struct Date {
      DateKind kind = DateKind::kMonthWeekDay;
      int day = 0;                  // Jn: 1-365; n: 0-365; M: day of week 0-6 (0 = Sunday)
      int month = 0;                // M only
      int week = 0;                 // M only, 1-5 (5 = last)
      int32_t time_seconds = 7200;  // local time of the change, may be negative or > 24h
    };
    int32_t std_offset = 0;  // local - UTC, seconds
    bool has_dst = false;
    int32_t dst_offset = 0;
    Date dst_start;
    Date dst_end;
  };
  // Parses a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3". Errors: kCorruption.
  static Result<PosixRule> ParsePosixTz(std::string_view text);

 private:
  TimeZone() = default;
  int32_t RuleOffsetAt(int64_t utc_seconds) const;

  std::string name_;
  std::vector<int64_t> transitions_;         // UTC seconds, ascending
  std::vector<int32_t> transition_offsets_;  // offset in force from transitions_[i] on
  int32_t initial_offset_ = 0;               // before the first transition
  bool has_rule_ = false;
  PosixRule rule_;
};

}  // namespace basin::workflow
