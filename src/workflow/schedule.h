#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "workflow/time_zone.h"

namespace basin::workflow {

// The parsed fields of an EventBridge cron expression. Day-of-week values are EventBridge's:
// 1 = Sunday ... 7 = Saturday. Exactly one of the two day fields is `?` (its `*_any` is true).
struct CronFields {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<13> months;  // 1-12
  std::bitset<230> years;  // 1970-2199, bit = year - 1970
  // Day-of-month.
  bool day_of_month_any = false;       // `?`
  std::bitset<32> days_of_month;       // 1-31
  bool last_day_of_month = false;      // `L`
  bool last_weekday_of_month = false;  // `LW`
  int nearest_weekday_to = 0;          // `15W` -> 15
  // Day-of-week.
  bool day_of_week_any = false;  // `?`
  std::bitset<8> days_of_week;   // 1-7
  int last_day_of_week = 0;      // `6L` -> 6 (last Friday); a plain `L` is Saturday, a list bit
  int nth_day_of_week = 0;       // `3#2` -> 3
  int nth_occurrence = 0;        //        -> 2
};

// An EventBridge Scheduler schedule expression bound to a time zone:
//   rate(N minute[s]|hour[s]|day[s]), cron(Min Hour DoM Month DoW Year), at(yyyy-mm-ddThh:mm:ss).
// Cron fields and at() are read as wall-clock times in the zone; rate() is elapsed time.
// Optional start/end bound recurring schedules like the Scheduler's StartDate (inclusive) and
// EndDate (exclusive). Immutable after set-up; safe to share between threads.
class Schedule {
 public:
  enum class Kind { kRate, kCron, kAt };

  Kind kind() const { return kind_; }
  const std::string& expression() const { return expression_; }
  const TimeZone& time_zone() const { return *zone_; }
  const CronFields& cron() const { return cron_; }
  int64_t rate_period_us() const { return rate_period_us_; }

  // Recurring schedules only (at() ignores them, as the Scheduler does). A rate schedule fires
  // at start, start + period, ...; without a start it is anchored at the Unix epoch, so callers
  // that want "from now on" (the Scheduler's behaviour without StartDate) set the creation time.
  void set_start_us(std::optional<int64_t> start_us) { start_us_ = start_us; }
  void set_end_us(std::optional<int64_t> end_us) { end_us_ = end_us; }
  std::optional<int64_t> start_us() const { return start_us_; }
  std::optional<int64_t> end_us() const { return end_us_; }

  // The first fire time strictly after `after_us` (UTC microseconds since the epoch), or
  // nullopt if there is none (at() in the past, cron years exhausted, past the end).
  std::optional<int64_t> NextAfter(int64_t after_us) const;
  // Fire times in (after_us, until_us], at most max_count of them, ascending.
  std::vector<int64_t> FireTimesBetween(int64_t after_us, int64_t until_us, size_t max_count) const;

 private:
  friend Result<Schedule> ParseSchedule(std::string_view, std::string_view, std::string_view);
  std::optional<int64_t> NextCronAfter(int64_t after_us) const;
  bool CronDayMatches(int year, int month, int day) const;

  Kind kind_ = Kind::kAt;
  std::string expression_;
  std::shared_ptr<const TimeZone> zone_;
  CronFields cron_;
  int64_t rate_period_us_ = 0;
  int64_t at_us_ = 0;
  std::optional<int64_t> start_us_;
  std::optional<int64_t> end_us_;
};

// Parses a schedule expression in an IANA time zone ("" means UTC). Every error is
// kInvalidDefinition with a message naming the field and the problem, e.g.
// "cron(...) Day-of-month: value 32 is out of range 1-31" or "unknown time zone 'Mars/Base'".
Result<Schedule> ParseSchedule(std::string_view expression, std::string_view time_zone = "UTC",
                               std::string_view zoneinfo_root = kDefaultZoneInfoRoot);

// What to do with fire times that passed while the runtime was not running (down, paused, late).
enum class MissedRunPolicy {
  kRunOnce,  // run once now, for the most recent missed fire time; drop the others
  kSkip,     // drop all missed fire times; wait for the next one
};

struct MissedRunDecision {
  std::optional<int64_t> run_now_us;  // the fire time to run now, if any
  std::optional<int64_t> next_us;     // the next fire time strictly after now
  // Fire times in (last_run, now] that will not run (skipped, or folded into run_now).
  int64_t dropped_count = 0;
  bool dropped_count_is_lower_bound = false;  // more than kMaxCountedFireTimes were due
};

inline constexpr int64_t kDefaultOnTimeGraceUs = 60'000'000;  // the Scheduler's 60 s precision
inline constexpr int64_t kMaxCountedFireTimes = 100'000;

// Decides which fire time in (last_run_us, now_us] to run. The latest one runs under either
// policy if it is at most `on_time_grace_us` old (it is due, not missed); an older latest one
// runs only under kRunOnce.
MissedRunDecision DecideMissedRuns(const Schedule& schedule, int64_t last_run_us, int64_t now_us,
                                   MissedRunPolicy policy,
                                   int64_t on_time_grace_us = kDefaultOnTimeGraceUs);

}  // namespace basin::workflow
