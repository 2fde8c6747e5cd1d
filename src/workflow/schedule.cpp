#include "workflow/schedule.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include "base/time_format.h"

namespace basin::workflow {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;
constexpr int kFirstYear = 1970;
constexpr int kLastYear = 2199;
// rate() periods above this are rejected; 100 years keeps every computation far from overflow.
constexpr int64_t kMaxRatePeriodUs = 100LL * 366 * kSecondsPerDay * kMicrosPerSecond;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// 0 = Sunday ... 6 = Saturday.
int Weekday(int year, int month, int day) {
  const int64_t days = DaysFromCivil(year, month, day);
  return static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
}

// The weekday (Mon-Fri) nearest to `day` without leaving the month (Quartz's `W` rule).
int NearestWeekday(int year, int month, int day) {
  const int dim = DaysInMonth(year, month);
  const int wd = Weekday(year, month, day);
  if (wd == 6) return day == 1 ? 3 : day - 1;          // Saturday: Friday, or Monday the 3rd
  if (wd == 0) return day == dim ? day - 2 : day + 1;  // Sunday: Monday, or Friday before
  return day;
}

Status Invalid(std::string message) {
  return Error(ErrorCode::kInvalidDefinition, std::move(message));
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> SplitWhitespace(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) parts.push_back(s.substr(start, i - start));
  }
  return parts;
}

// Digits only (no sign), at most 9 of them.
std::optional<int> ParseSmallNumber(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

enum class Names { kNone, kMonths, kDays };

struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  Names names;
  bool allow_step;
  bool cyclic;  // a backwards range wraps around (FRI-MON, 22-2)
};

constexpr FieldSpec kMinutes = {"Minutes", 0, 59, Names::kNone, true, true};
constexpr FieldSpec kHours = {"Hours", 0, 23, Names::kNone, true, true};
constexpr FieldSpec kDayOfMonth = {"Day-of-month", 1, 31, Names::kNone, true, true};
constexpr FieldSpec kMonth = {"Month", 1, 12, Names::kMonths, true, true};
constexpr FieldSpec kDayOfWeek = {"Day-of-week", 1, 7, Names::kDays, false, true};
constexpr FieldSpec kYear = {"Year", kFirstYear, kLastYear, Names::kNone, true, false};

std::string FieldError(const FieldSpec& spec, std::string_view what) {
  return "cron " + std::string(spec.name) + ": " + std::string(what);
}

Result<int> ParseFieldValue(const FieldSpec& spec, std::string_view text) {
  if (std::optional<int> v = ParseSmallNumber(text)) {
    if (*v < spec.min || *v > spec.max) {
      return Invalid(FieldError(spec, "value " + std::to_string(*v) + " is out of range " +
                                          std::to_string(spec.min) + "-" +
                                          std::to_string(spec.max)));
    }
    return *v;
  }
  const std::string upper = Upper(text);
  if (spec.names == Names::kMonths) {
    for (size_t i = 0; i < kMonthNames.size(); ++i) {
      if (upper == kMonthNames[i]) return static_cast<int>(i) + 1;
    }
    return Invalid(FieldError(
        spec, "'" + std::string(text) + "' is not a month number (1-12) or name (JAN-DEC)"));
  }
  if (spec.names == Names::kDays) {
    for (size_t i = 0; i < kDayNames.size(); ++i) {
      if (upper == kDayNames[i]) return static_cast<int>(i) + 1;
    }
    return Invalid(FieldError(
        spec, "'" + std::string(text) + "' is not a day number (1-7, 1 = SUN) or name (SUN-SAT)"));
  }
  return Invalid(FieldError(spec, "'" + std::string(text) + "' is not a number"));
}

// A `,`-separated list of `*`, `v`, `a-b`, each optionally with `/step`. Sets bits[v - offset].
template <size_t N>
Status ParseListField(const FieldSpec& spec, std::string_view text, int offset,
                      std::bitset<N>* bits) {
  for (std::string_view item : Split(text, ',')) {
    if (item.empty())
      return Invalid(FieldError(spec, "empty item in list '" + std::string(text) + "'"));
    const std::vector<std::string_view> slash = Split(item, '/');
    if (slash.size() > 2)
      return Invalid(FieldError(spec, "more than one '/' in '" + std::string(item) + "'"));
    int step = 1;
    if (slash.size() == 2) {
      if (!spec.allow_step) return Invalid(FieldError(spec, "'/' is not allowed in this field"));
      const std::optional<int> s = ParseSmallNumber(slash[1]);
      if (!s || *s < 1 || *s > spec.max - spec.min) {
        return Invalid(FieldError(spec, "step '" + std::string(slash[1]) +
                                            "' must be a number from 1 to " +
                                            std::to_string(spec.max - spec.min)));
      }
      step = *s;
    }
    const std::string_view base = slash[0];
    int lo = spec.min, hi = spec.max;
    if (base == "*") {
      // every value (with the step: every step-th from the minimum)
    } else if (const size_t dash = base.find('-'); dash != std::string_view::npos) {
      BASIN_ASSIGN_OR_RETURN(lo, ParseFieldValue(spec, base.substr(0, dash)));
      BASIN_ASSIGN_OR_RETURN(hi, ParseFieldValue(spec, base.substr(dash + 1)));
      if (lo > hi && !spec.cyclic) {
        return Invalid(FieldError(spec, "range '" + std::string(base) + "' runs backwards"));
      }
    } else {
      BASIN_ASSIGN_OR_RETURN(lo, ParseFieldValue(spec, base));
      hi = slash.size() == 2 ? spec.max : lo;  // `5/15`: from 5 to the maximum
    }
    const int size = spec.max - spec.min + 1;
    const int length = ((hi - lo) % size + size) % size;  // a backwards range wraps around
    for (int k = 0; k <= length; k += step) {
      const int v = spec.min + (lo - spec.min + k) % size;
      bits->set(static_cast<size_t>(v - offset));
    }
  }
  return Status::Ok();
}

Status ParseDayOfMonth(std::string_view text, CronFields* f) {
  const std::string upper = Upper(text);
  if (upper == "?") {
    f->day_of_month_any = true;
  } else if (upper == "L") {
    f->last_day_of_month = true;
  } else if (upper == "LW") {
    f->last_weekday_of_month = true;
  } else if (upper.size() >= 2 && upper.back() == 'W') {
    const std::optional<int> day =
        ParseSmallNumber(std::string_view(upper).substr(0, upper.size() - 1));
    if (!day || *day < 1 || *day > 31) {
      return Invalid(FieldError(
          kDayOfMonth, "'" + std::string(text) + "': W needs one day from 1 to 31 (e.g. 15W)"));
    }
    f->nearest_weekday_to = *day;
  } else if (upper.find_first_of("LW") != std::string::npos) {
    return Invalid(FieldError(kDayOfMonth, "'" + std::string(text) +
                                               "': L and W stand alone (L, LW or nW), not in lists "
                                               "or ranges"));
  } else {
    return ParseListField(kDayOfMonth, text, 0, &f->days_of_month);
  }
  return Status::Ok();
}

Status ParseDayOfWeek(std::string_view text, CronFields* f) {
  const std::string upper = Upper(text);
  if (upper == "?") {
    f->day_of_week_any = true;
  } else if (upper == "L") {
    f->days_of_week.set(7);  // the last day of the week: Saturday
  } else if (const size_t hash = upper.find('#'); hash != std::string::npos) {
    if (upper.find_first_of(",-*/L") != std::string::npos ||
        upper.find('#', hash + 1) != std::string::npos) {
      return Invalid(FieldError(kDayOfWeek, "'" + std::string(text) +
                                                "': # takes one day and one occurrence (e.g. 3#2), "
                                                "not a list or range"));
    }
    BASIN_ASSIGN_OR_RETURN(f->nth_day_of_week,
                           ParseFieldValue(kDayOfWeek, std::string_view(text).substr(0, hash)));
    const std::optional<int> n = ParseSmallNumber(std::string_view(upper).substr(hash + 1));
    if (!n || *n < 1 || *n > 5) {
      return Invalid(FieldError(
          kDayOfWeek, "'" + std::string(text) + "': the occurrence after # must be 1 to 5"));
    }
    f->nth_occurrence = *n;
  } else if (upper.size() >= 2 && upper.back() == 'L') {
    const std::string_view day = std::string_view(text).substr(0, text.size() - 1);
    if (day.find_first_of(",-*/") != std::string_view::npos) {
      return Invalid(FieldError(
          kDayOfWeek,
          "'" + std::string(text) + "': L takes one day (e.g. 5L), not a list or range"));
    }
    BASIN_ASSIGN_OR_RETURN(f->last_day_of_week, ParseFieldValue(kDayOfWeek, day));
  } else {
    return ParseListField(kDayOfWeek, text, 0, &f->days_of_week);
  }
  return Status::Ok();
}

Result<CronFields> ParseCron(std::string_view body) {
  const std::vector<std::string_view> fields = SplitWhitespace(body);
  if (fields.size() != 6) {
    return Invalid(
        "cron expression needs 6 fields (Minutes Hours Day-of-month Month Day-of-week "
        "Year), got " +
        std::to_string(fields.size()));
  }
  CronFields f;
  BASIN_RETURN_IF_ERROR(ParseListField(kMinutes, fields[0], 0, &f.minutes));
  BASIN_RETURN_IF_ERROR(ParseListField(kHours, fields[1], 0, &f.hours));
  BASIN_RETURN_IF_ERROR(ParseDayOfMonth(fields[2], &f));
  BASIN_RETURN_IF_ERROR(ParseListField(kMonth, fields[3], 0, &f.months));
  BASIN_RETURN_IF_ERROR(ParseDayOfWeek(fields[4], &f));
  BASIN_RETURN_IF_ERROR(ParseListField(kYear, fields[5], kFirstYear, &f.years));
  if (f.day_of_month_any == f.day_of_week_any) {
    return Invalid("cron Day-of-month/Day-of-week: exactly one of the two must be '?' (got '" +
                   std::string(fields[2]) + "' and '" + std::string(fields[4]) + "')");
  }
  return f;
}

Result<int64_t> ParseRate(std::string_view body) {
  const std::vector<std::string_view> parts = SplitWhitespace(body);
  if (parts.size() != 2) return Invalid("rate expression needs 'value unit', e.g. rate(5 minutes)");
  const std::optional<int> value = ParseSmallNumber(parts[0]);
  if (!value || *value < 1) {
    return Invalid("rate value '" + std::string(parts[0]) + "' must be a whole number >= 1");
  }
  struct RateUnit {
    std::string_view singular;
    int64_t micros;
  };
  static constexpr RateUnit kUnits[] = {{"minute", 60 * kMicrosPerSecond},
                                        {"hour", 3600 * kMicrosPerSecond},
                                        {"day", kSecondsPerDay * kMicrosPerSecond}};
  const std::string_view unit = parts[1];
  const RateUnit* match = nullptr;
  for (const RateUnit& u : kUnits) {
    if (unit == u.singular ||
        (unit.size() == u.singular.size() + 1 && unit.substr(0, u.singular.size()) == u.singular &&
         unit.back() == 's')) {
      match = &u;
    }
  }
  if (match == nullptr) {
    return Invalid("rate unit '" + std::string(unit) + "' must be minute(s), hour(s) or day(s)");
  }
  const std::string_view singular = match->singular;
  const int64_t unit_us = match->micros;
  const bool is_singular = unit == singular;
  if ((*value == 1) != is_singular) {
    return Invalid("rate unit '" + std::string(unit) + "' must be '" + std::string(singular) +
                   (*value == 1 ? "' for a value of 1" : "s' for a value above 1"));
  }
  if (*value > kMaxRatePeriodUs / unit_us) return Invalid("rate period is longer than 100 years");
  return *value * unit_us;
}

// yyyy-mm-ddThh:mm:ss, a wall-clock time in the zone.
Result<int64_t> ParseAt(std::string_view body, const TimeZone& zone) {
  const auto bad = [&](std::string_view why) {
    return Invalid("at expression '" + std::string(body) + "': " + std::string(why) +
                   " (expected yyyy-mm-ddThh:mm:ss)");
  };
  if (body.size() != 19 || body[4] != '-' || body[7] != '-' || body[10] != 'T' || body[13] != ':' ||
      body[16] != ':') {
    return bad("wrong format");
  }
  const auto number = [&](size_t pos, size_t len) {
    return ParseSmallNumber(body.substr(pos, len));
  };
  const std::optional<int> year = number(0, 4), month = number(5, 2), day = number(8, 2),
                           hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return bad("non-digit in a field");
  if (*year < kFirstYear || *year > kLastYear) return bad("year must be 1970-2199");
  if (*month < 1 || *month > 12) return bad("month must be 01-12");
  if (*day < 1 || *day > DaysInMonth(*year, *month)) return bad("no such day in that month");
  if (*hour > 23 || *minute > 59 || *second > 59) return bad("time out of range");
  const int64_t local =
      DaysFromCivil(*year, *month, *day) * kSecondsPerDay + *hour * 3600 + *minute * 60 + *second;
  // Repeated local time: the first occurrence. Skipped: shifted forward by the gap [unv].
  return zone.Resolve(local).earlier_utc_seconds * kMicrosPerSecond;
}

std::optional<std::string_view> Body(std::string_view expression, std::string_view prefix) {
  if (expression.size() < prefix.size() + 1 || expression.substr(0, prefix.size()) != prefix ||
      expression.back() != ')') {
    return std::nullopt;
  }
  return expression.substr(prefix.size(), expression.size() - prefix.size() - 1);
}

}  // namespace

Result<Schedule> ParseSchedule(std::string_view expression, std::string_view time_zone,
                               std::string_view zoneinfo_root) {
  Schedule s;
  s.expression_ = std::string(expression);
  if (time_zone.empty()) time_zone = "UTC";
  auto zone = TimeZone::Load(time_zone, zoneinfo_root);
  if (!zone.ok()) {
    return Invalid("time zone '" + std::string(time_zone) + "': " + zone.status().message());
  }
  s.zone_ = std::move(zone).value();

  if (std::optional<std::string_view> body = Body(expression, "rate(")) {
    s.kind_ = Schedule::Kind::kRate;
    BASIN_ASSIGN_OR_RETURN(s.rate_period_us_, ParseRate(*body));
  } else if (std::optional<std::string_view> body = Body(expression, "cron(")) {
    s.kind_ = Schedule::Kind::kCron;
    BASIN_ASSIGN_OR_RETURN(s.cron_, ParseCron(*body));
  } else if (std::optional<std::string_view> body = Body(expression, "at(")) {
    s.kind_ = Schedule::Kind::kAt;
    BASIN_ASSIGN_OR_RETURN(s.at_us_, ParseAt(*body, *s.zone_));
  } else {
    return Invalid("schedule expression '" + std::string(expression) +
                   "' must be rate(...), cron(...) or at(...)");
  }
  return s;
}

bool Schedule::CronDayMatches(int year, int month, int day) const {
  const CronFields& f = cron_;
  const int dim = DaysInMonth(year, month);
  if (!f.day_of_month_any) {
    if (f.last_day_of_month) return day == dim;
    if (f.last_weekday_of_month) return day == NearestWeekday(year, month, dim);
    // A day the month does not have (31W in April) never matches, like a plain 31.
    if (f.nearest_weekday_to != 0) {
      return f.nearest_weekday_to <= dim &&
             day == NearestWeekday(year, month, f.nearest_weekday_to);
    }
    return f.days_of_month.test(static_cast<size_t>(day));
  }
  const int dow = Weekday(year, month, day) + 1;  // EventBridge: 1 = Sunday
  if (f.last_day_of_week != 0) return dow == f.last_day_of_week && day + 7 > dim;
  if (f.nth_day_of_week != 0) {
    return dow == f.nth_day_of_week && (day - 1) / 7 + 1 == f.nth_occurrence;
  }
  return f.days_of_week.test(static_cast<size_t>(dow));
}

std::optional<int64_t> Schedule::NextCronAfter(int64_t after_us) const {
  // Clamp so that nothing below can overflow; cron years are 1970-2199 anyway.
  constexpr int64_t kClampSeconds = 20'000'000'000;  // about year 2603
  const int64_t after_s =
      std::clamp<int64_t>(FloorDiv(after_us, kMicrosPerSecond), -kClampSeconds, kClampSeconds);
  // Candidates are visited in wall-clock order and mapped to their first instant, which is
  // monotonic in the wall-clock time; so no wall-clock time before that of `after` can map to an
  // instant after it, even inside a fold, and the search can start at `after`'s local time.
  const int64_t local_floor = zone_->ToLocalSeconds(after_s);
  CivilTime from = ToCivil(local_floor * kMicrosPerSecond);
  if (from.year < kFirstYear) from = CivilTime{kFirstYear, 1, 1, 0, 0, 0, 0};
  for (int year = from.year; year <= kLastYear; ++year) {
    if (!cron_.years.test(static_cast<size_t>(year - kFirstYear))) continue;
    for (int month = year == from.year ? from.month : 1; month <= 12; ++month) {
      if (!cron_.months.test(static_cast<size_t>(month))) continue;
      const bool first_month = year == from.year && month == from.month;
      for (int day = first_month ? from.day : 1; day <= DaysInMonth(year, month); ++day) {
        if (!CronDayMatches(year, month, day)) continue;
        const int64_t day_start = DaysFromCivil(year, month, day) * kSecondsPerDay;
        for (int hour = 0; hour < 24; ++hour) {
          if (!cron_.hours.test(static_cast<size_t>(hour))) continue;
          for (int minute = 0; minute < 60; ++minute) {
            if (!cron_.minutes.test(static_cast<size_t>(minute))) continue;
            const int64_t local = day_start + hour * 3600 + minute * 60;
            if (local < local_floor) continue;
            const LocalTimeResolution r = zone_->Resolve(local);
            // A skipped wall-clock time does not fire; a repeated one fires once, the first time.
            if (r.kind == LocalTimeKind::kSkipped) continue;
            const int64_t fire_us = r.earlier_utc_seconds * kMicrosPerSecond;
            if (fire_us <= after_us) continue;
            if (end_us_ && fire_us >= *end_us_) return std::nullopt;
            return fire_us;
          }
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<int64_t> Schedule::NextAfter(int64_t after_us) const {
  switch (kind_) {
    case Kind::kAt: return at_us_ > after_us ? std::optional<int64_t>(at_us_) : std::nullopt;
    case Kind::kRate: {
      const int64_t anchor = start_us_.value_or(0);
      int64_t fire = anchor;
      if (after_us >= anchor) {
        const int64_t k = (after_us - anchor) / rate_period_us_ + 1;
        if (k > (std::numeric_limits<int64_t>::max() - anchor) / rate_period_us_) {
          return std::nullopt;
        }
        fire = anchor + k * rate_period_us_;
      }
      if (end_us_ && fire >= *end_us_) return std::nullopt;
      return fire;
    }
    case Kind::kCron:
      if (start_us_ && after_us < *start_us_) after_us = *start_us_ - 1;
      return NextCronAfter(after_us);
  }
  return std::nullopt;
}

std::vector<int64_t> Schedule::FireTimesBetween(int64_t after_us, int64_t until_us,
                                                size_t max_count) const {
  std::vector<int64_t> out;
  std::optional<int64_t> next = NextAfter(after_us);
  while (next && *next <= until_us && out.size() < max_count) {
    out.push_back(*next);
    next = NextAfter(*next);
  }
  return out;
}

namespace {

// The latest fire time in (after_us, until_us], searching backwards from until_us in growing
// windows so that a dense schedule does not have to be walked from an old after_us.
std::optional<int64_t> LatestFireTime(const Schedule& schedule, int64_t after_us,
                                      int64_t until_us) {
  constexpr int64_t kHour = 3600 * kMicrosPerSecond;
  constexpr int64_t kWindows[] = {kHour, 25 * kHour, 32 * 24 * kHour, 400 * 24 * kHour,
                                  std::numeric_limits<int64_t>::max()};
  for (int64_t window : kWindows) {
    const int64_t from = until_us - after_us <= window ? after_us : until_us - window;
    std::optional<int64_t> latest;
    std::optional<int64_t> next = schedule.NextAfter(from);
    for (int64_t n = 0; next && *next <= until_us && n < kMaxCountedFireTimes; ++n) {
      latest = next;
      next = schedule.NextAfter(*next);
    }
    if (latest || from == after_us) return latest;
  }
  return std::nullopt;
}

}  // namespace

MissedRunDecision DecideMissedRuns(const Schedule& schedule, int64_t last_run_us, int64_t now_us,
                                   MissedRunPolicy policy, int64_t on_time_grace_us) {
  MissedRunDecision decision;
  decision.next_us = schedule.NextAfter(now_us);
  if (now_us <= last_run_us) return decision;

  std::optional<int64_t> latest;
  int64_t due_count = 0;
  const std::optional<int64_t> first = schedule.NextAfter(last_run_us);
  if (first && *first <= now_us) {
    if (schedule.kind() == Schedule::Kind::kRate) {
      // Fire times are first + k * period; count them without walking.
      const int64_t period = schedule.rate_period_us();
      int64_t until = now_us;
      if (schedule.end_us() && *schedule.end_us() - 1 < until) until = *schedule.end_us() - 1;
      due_count = (until - *first) / period + 1;
      latest = *first + (due_count - 1) * period;
    } else {
      latest = LatestFireTime(schedule, last_run_us, now_us);
      std::optional<int64_t> next = first;
      while (next && *next <= now_us && due_count < kMaxCountedFireTimes) {
        ++due_count;
        next = schedule.NextAfter(*next);
      }
      decision.dropped_count_is_lower_bound = next && *next <= now_us;
    }
  }
  if (!latest) return decision;
  const bool on_time = now_us - *latest < on_time_grace_us;
  if (on_time || policy == MissedRunPolicy::kRunOnce) {
    decision.run_now_us = latest;
    decision.dropped_count = due_count - 1;
  } else {
    decision.dropped_count = due_count;
  }
  return decision;
}

}  // namespace basin::workflow
