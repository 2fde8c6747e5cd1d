#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace basin {

// Calendar fields of a UTC instant.
struct CivilTime {
  int year;
  int month;  // 1-12
  int day;    // 1-31
  int hour;   // 0-23
  int minute;
  int second;
  int micros;
};

CivilTime ToCivil(int64_t epoch_micros);
// Days since 1970-01-01 for a proleptic Gregorian date.
int64_t DaysFromCivil(int year, int month, int day);

// Parses ISO-8601 / RFC 3339 date-times: "2026-11-27T04:22:29Z", with fractional seconds, with
// "+02:00" style offsets, a space instead of 'T', or a plain date "2026-11-27" (midnight UTC).
// A time without an offset is taken as UTC. Returns epoch microseconds, or nullopt.
std::optional<int64_t> ParseIso8601(std::string_view text);

// "2026-11-27T04:22:29.123Z"
std::string FormatIso8601Millis(int64_t epoch_micros);
// "2026-11-27 04:22:29.123456" (the form DuckDB prints a TIMESTAMP in)
std::string FormatTimestamp(int64_t epoch_micros);
// "2026-11-27"
std::string FormatDate(int64_t epoch_micros);

}  // namespace basin
