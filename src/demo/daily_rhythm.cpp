#include "demo/daily_rhythm.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "base/assert.h"

namespace basin::demo {
namespace {

// Relative sessions per hour, 00:00 to 23:00 (the value holds at the middle of each hour).
constexpr std::array<double, 24> kHourlyTraffic = {0.45, 0.30, 0.20, 0.15, 0.14, 0.18, 0.32, 0.55,
                                                   0.78, 0.95, 1.08, 1.15, 1.25, 1.22, 1.12, 1.08,
                                                   1.10, 1.18, 1.32, 1.52, 1.68, 1.62, 1.28, 0.85};

double HourlyMean() {
  static const double mean =
      std::accumulate(kHourlyTraffic.begin(), kHourlyTraffic.end(), 0.0) / 24.0;
  return mean;
}

double WrapHour(double hour) {
  double h = std::fmod(hour, 24.0);
  return h < 0 ? h + 24.0 : h;
}

}  // namespace

DailyRhythm::DailyRhythm(double day_seconds, double start_hour)
    : day_seconds_(day_seconds), start_hour_(WrapHour(start_hour)) {
  BASIN_CHECK(day_seconds > 0);
}

double DailyRhythm::HourAt(double elapsed_seconds) const {
  return WrapHour(start_hour_ + elapsed_seconds * 24.0 / day_seconds_);
}

double DailyRhythm::TrafficFactor(double hour) {
  // Linear between hour midpoints, wrapping around midnight.
  const double h = WrapHour(hour - 0.5);
  const int lo = static_cast<int>(h) % 24;
  const int hi = (lo + 1) % 24;
  const double frac = h - std::floor(h);
  return (kHourlyTraffic[lo] * (1 - frac) + kHourlyTraffic[hi] * frac) / HourlyMean();
}

double DailyRhythm::EmailBoost(double hour) {
  const double h = WrapHour(hour);
  if (h < 10.0 || h >= 12.0) return 1.0;
  // Opens peak in the first half hour after the send, then decay.
  return 1.0 + 5.0 * std::exp(-(h - 10.0) * 2.0);
}

std::string DailyRhythm::FormatHour(double hour) {
  const int minutes = static_cast<int>(WrapHour(hour) * 60.0) % (24 * 60);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
  return buf;
}

}  // namespace basin::demo
