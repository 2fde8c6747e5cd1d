#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "demo/daily_rhythm.h"
#include "demo/seeded_random.h"
#include "demo/session_simulator.h"

namespace basin::demo {

// An event ready to send: its JSON text and what the sender needs to know about it.
struct OutgoingEvent {
  std::string json;
  std::string event_id;
  size_t visitor = 0;  // whose device sends it: picks the User-Agent header
  int64_t timestamp_ms = 0;
  bool bad = false;  // deliberately invalid; the server should reject it
};

// A completed order, for callers that also produce the shop's order exports.
struct PurchaseRecord {
  std::string order_id;
  std::optional<std::string> customer_id;  // the visitor's user_id when logged in
  std::string anonymous_id;
  std::string session_id;
  int64_t time_ms = 0;
  std::string currency;
  std::string country;
  std::string platform;
  std::vector<EventItem> items;
  int64_t total_cents = 0;
};

struct TrafficOptions {
  double events_per_second = 200;  // daily average; the rhythm moves it between ~0.15x and ~1.7x
  double day_seconds = 600;        // real seconds per simulated shop day
  double start_hour = 9;           // shop time when the demo starts
  int max_active_sessions = 5000;
  double bad_event_fraction = 0.001;
  // Seconds of traffic simulated before time 0 so the demo starts in a steady state, with
  // sessions already in progress, instead of ramping up from nothing.
  double warmup_seconds = 180;
  // Seeds session, event and order ids and every per-session choice. Give each run its own
  // seed (ShopSimulator does) so ids never repeat across runs into the same lake.
  uint64_t seed = 1;
};

// The deterministic core of the shop simulation: session arrivals (a Poisson process whose rate
// follows the daily rhythm), the sessions in progress, and the events falling due as time
// advances, stamped with the real time they are emitted and serialised; plus the deliberately
// bad events. It does no I/O and reads no clock: the caller moves it forward, so tests drive it
// with made-up times. Single-threaded: owned by one thread.
class TrafficGenerator {
 public:
  TrafficGenerator(const SessionSimulator& sessions, TrafficOptions options);

  // Moves the simulation `dt_seconds` forward and appends the events that fell due, in time
  // order; `now_ms` is the wall clock at the end of the step (an event due d seconds before the
  // end is stamped now_ms - d·1000). Purchases completed in the step go to `purchases` if given.
  void Advance(double dt_seconds, int64_t now_ms, std::vector<OutgoingEvent>& out,
               std::vector<PurchaseRecord>* purchases = nullptr);

  double elapsed_seconds() const { return elapsed_; }
  double shop_hour() const { return rhythm_.HourAt(elapsed_); }
  // The event rate the arrivals aim at right now (events per second).
  double target_rate() const;
  size_t active_sessions() const { return active_count_; }
  uint64_t sessions_started() const { return sessions_started_; }
  uint64_t purchases() const { return purchases_; }
  // Calibrated at construction from sample sessions; arrivals = target rate / this.
  double mean_events_per_session() const { return mean_events_per_session_; }
  // Mean seconds from a session's start to one of its events (calibrated likewise).
  double mean_event_delay() const { return mean_event_delay_; }
  // Sessions that could not start: every visitor tried was already in a session, or the
  // max_active_sessions cap was reached. Non-zero means the population is too small for the
  // rate (each visitor can only be in one session at a time).
  uint64_t arrivals_dropped() const { return arrivals_dropped_; }

 private:
  struct ActiveSession {
    SessionPlan plan;
    size_t next = 0;   // index of the next event to emit
    double start = 0;  // simulation seconds
  };
  struct Due {
    double at;
    size_t slot;
    bool operator>(const Due& other) const { return at > other.at; }
  };

  void StartArrivals(double from, double to, bool warmup);
  void StartSession(double start, bool warmup);
  void EmitDue(double until, int64_t now_ms, std::vector<OutgoingEvent>* out,
               std::vector<PurchaseRecord>* purchases);
  OutgoingEvent Serialise(const ShopEvent& event, size_t visitor) const;

  const SessionSimulator& sessions_;
  TrafficOptions options_;
  DailyRhythm rhythm_;
  SeededRandom rng_;
  double mean_events_per_session_ = 1;
  double mean_event_delay_ = 0;
  double elapsed_ = 0;
  std::vector<ActiveSession> slots_;
  std::vector<size_t> free_slots_;
  std::vector<bool> visitor_busy_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  size_t active_count_ = 0;
  uint64_t sessions_started_ = 0;
  uint64_t purchases_ = 0;
  uint64_t arrivals_dropped_ = 0;
};

}  // namespace basin::demo
