#include "demo/traffic_generator.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace basin::demo {
namespace {

constexpr int kCalibrationSessions = 4000;
// Calibration uses its own fixed seed so every run of a configuration has the same rate.
constexpr uint64_t kCalibrationSeed = 0xCA11B8A7E;
// Visitors already in a session are not picked again; give up after this many tries.
constexpr int kVisitorTries = 20;

bool IsCartStep(std::string_view type) {
  return type == "add_to_cart" || type == "remove_from_cart" || type == "begin_checkout" ||
         type == "purchase";
}

}  // namespace

TrafficGenerator::TrafficGenerator(const SessionSimulator& sessions, TrafficOptions options)
    : sessions_(sessions),
      options_(options),
      rhythm_(options.day_seconds, options.start_hour),
      rng_(options.seed),
      visitor_busy_(sessions.visitors().size(), false) {
  BASIN_CHECK(options_.events_per_second > 0);
  // How many events an average session yields, and how long after its start an average event
  // comes, measured rather than derived so that changes to the funnel keep the rate on target.
  SeededRandom calibration(kCalibrationSeed);
  uint64_t events = 0;
  double offsets = 0;
  for (int i = 0; i < kCalibrationSessions; ++i) {
    const size_t visitor = sessions_.visitors().SampleActive(calibration);
    const SessionPlan plan = sessions_.Plan(visitor, (i % 24) + 0.5, calibration);
    events += plan.events.size();
    for (const PlannedEvent& e : plan.events) offsets += e.offset_seconds;
  }
  mean_events_per_session_ = static_cast<double>(events) / kCalibrationSessions;
  mean_event_delay_ = offsets / static_cast<double>(events);

  if (options_.warmup_seconds > 0) {
    elapsed_ = -options_.warmup_seconds;
    while (elapsed_ < 0) {
      const double step = std::min(1.0, -elapsed_);
      StartArrivals(elapsed_, elapsed_ + step, /*warmup=*/true);
      elapsed_ += step;
    }
    elapsed_ = 0;
  }
}

double TrafficGenerator::target_rate() const {
  return options_.events_per_second * DailyRhythm::TrafficFactor(shop_hour());
}

void TrafficGenerator::Advance(double dt_seconds, int64_t now_ms, std::vector<OutgoingEvent>& out,
                               std::vector<PurchaseRecord>* purchases) {
  if (dt_seconds <= 0) return;
  const double end = elapsed_ + dt_seconds;
  StartArrivals(elapsed_, end, /*warmup=*/false);
  elapsed_ = end;
  EmitDue(end, now_ms, &out, purchases);
}

void TrafficGenerator::StartArrivals(double from, double to, bool warmup) {
  // A session's events come on average mean_event_delay_ seconds after it starts, and in a
  // compressed day that is a good part of a shop hour; arrivals follow the rhythm that far
  // ahead so that the event rate, not the arrival rate, tracks the curve.
  const double mid_hour = rhythm_.HourAt((from + to) / 2 + mean_event_delay_);
  const double sessions_per_second =
      options_.events_per_second * DailyRhythm::TrafficFactor(mid_hour) / mean_events_per_session_;
  const uint64_t arrivals = rng_.Poisson(sessions_per_second * (to - from));
  for (uint64_t i = 0; i < arrivals; ++i) {
    StartSession(rng_.UniformBetween(from, to), warmup);
  }
}

void TrafficGenerator::StartSession(double start, bool warmup) {
  if (active_count_ >= static_cast<size_t>(std::max(0, options_.max_active_sessions))) {
    ++arrivals_dropped_;
    return;
  }
  const auto& visitors = sessions_.visitors();
  size_t visitor = visitors.size();
  for (int i = 0; i < kVisitorTries; ++i) {
    const size_t candidate = visitors.SampleActive(rng_);
    if (!visitor_busy_[candidate]) {
      visitor = candidate;
      break;
    }
  }
  if (visitor == visitors.size()) {
    ++arrivals_dropped_;
    return;
  }

  SessionPlan plan = sessions_.Plan(visitor, rhythm_.HourAt(start), rng_);
  size_t next = 0;
  if (warmup) {
    // A session that began before the demo: its past events are not sent. Drop it if the cut
    // would leave a checkout or purchase without the cart events that led to it.
    while (next < plan.events.size() && start + plan.events[next].offset_seconds < 0) {
      if (IsCartStep(plan.events[next].event.event_type)) return;
      ++next;
    }
    if (next == plan.events.size()) return;
  }

  size_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = slots_.size();
    slots_.emplace_back();
  }
  ActiveSession& s = slots_[slot];
  s.plan = std::move(plan);
  s.next = next;
  s.start = start;
  visitor_busy_[visitor] = true;
  ++active_count_;
  ++sessions_started_;
  due_.push(Due{start + s.plan.events[next].offset_seconds, slot});
}

void TrafficGenerator::EmitDue(double until, int64_t now_ms, std::vector<OutgoingEvent>* out,
                               std::vector<PurchaseRecord>* purchases) {
  // Bad events are extra copies with a defect; p/(1-p) per good event makes them the requested
  // fraction of everything sent.
  const double bad_p = options_.bad_event_fraction <= 0 ? 0.0
                       : options_.bad_event_fraction >= 0.5
                           ? 1.0
                           : options_.bad_event_fraction / (1 - options_.bad_event_fraction);
  while (!due_.empty() && due_.top().at <= until) {
    const Due due = due_.top();
    due_.pop();
    ActiveSession& s = slots_[due.slot];
    ShopEvent& event = s.plan.events[s.next].event;
    event.timestamp_ms = now_ms - static_cast<int64_t>(std::llround((until - due.at) * 1000.0));
    out->push_back(Serialise(event, s.plan.visitor));

    if (event.event_type == "purchase") {
      ++purchases_;
      if (purchases != nullptr) {
        const Visitor& v = sessions_.visitors().visitor(s.plan.visitor);
        PurchaseRecord r;
        r.order_id = s.plan.order_id;
        r.customer_id = event.user_id;
        r.anonymous_id = event.anonymous_id;
        r.session_id = event.session_id;
        r.time_ms = event.timestamp_ms;
        r.currency = event.currency.value_or(v.currency);
        r.country = v.country;
        r.platform = v.platform;
        r.items = event.items;
        r.total_cents = event.revenue_cents.value_or(0);
        purchases->push_back(std::move(r));
      }
    }
    if (bad_p > 0 && rng_.Chance(bad_p)) {
      ShopEvent bad = event;
      bad.event_id = rng_.Uuid();
      const uint64_t kind = rng_.Below(3);
      bad.defect = kind == 0   ? EventDefect::kMissingEventType
                   : kind == 1 ? EventDefect::kTimestampNotANumber
                               : EventDefect::kTimestampOutOfRange;
      OutgoingEvent o = Serialise(bad, s.plan.visitor);
      o.bad = true;
      out->push_back(std::move(o));
    }

    if (++s.next < s.plan.events.size()) {
      due_.push(Due{s.start + s.plan.events[s.next].offset_seconds, due.slot});
    } else {
      visitor_busy_[s.plan.visitor] = false;
      s.plan = SessionPlan();
      free_slots_.push_back(due.slot);
      --active_count_;
    }
  }
}

OutgoingEvent TrafficGenerator::Serialise(const ShopEvent& event, size_t visitor) const {
  OutgoingEvent o;
  o.json = event.ToJson();
  o.event_id = event.event_id;
  o.visitor = visitor;
  o.timestamp_ms = event.timestamp_ms;
  return o;
}

}  // namespace basin::demo
