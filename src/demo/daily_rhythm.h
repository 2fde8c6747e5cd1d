#pragma once

#include <string>

namespace basin::demo {

// The shop's day, compressed: a simulated day passes in `day_seconds` of real time, so a demo of
// a few minutes shows the night lull, the lunch bump and the evening peak. The rhythm only scales
// the traffic rate; events always carry the real current time. Immutable; thread-safe.
class DailyRhythm {
 public:
  DailyRhythm(double day_seconds, double start_hour);

  // The shop's hour of day, in [0, 24), after `elapsed_seconds` of real time.
  double HourAt(double elapsed_seconds) const;
  double day_seconds() const { return day_seconds_; }

  // Relative traffic at an hour of day: a typical European online shop's curve (quiet at 4am,
  // rising through the morning, a lunch bump, the peak at 8-9pm), interpolated between hours
  // and normalised so that its mean over the day is 1.
  static double TrafficFactor(double hour);
  // How much more likely email traffic is: the weekly newsletter goes out at 10:00 shop time
  // and its clicks fade over the next two hours.
  static double EmailBoost(double hour);
  // "14:05"
  static std::string FormatHour(double hour);

 private:
  double day_seconds_;
  double start_hour_;
};

}  // namespace basin::demo
