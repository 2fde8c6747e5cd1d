#include "demo/traffic_generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo/json_value.h"

namespace basin::demo {
namespace {

constexpr int64_t kStartMs = 1'750'000'000'000;

class TrafficGeneratorTest : public ::testing::Test {
 protected:
  // Runs the generator for `seconds` in 20 ms steps, as ShopSimulator does.
  std::vector<OutgoingEvent> Run(TrafficGenerator& gen, double seconds,
                                 std::vector<PurchaseRecord>* purchases = nullptr) {
    std::vector<OutgoingEvent> out;
    const int steps = static_cast<int>(seconds / 0.02);
    for (int i = 1; i <= steps; ++i) gen.Advance(0.02, kStartMs + i * 20, out, purchases);
    return out;
  }

  ShopCatalog catalog_;
  VisitorPopulation visitors_{catalog_};
  SessionSimulator sessions_{catalog_, visitors_};
};

TEST(DailyRhythm, ShapeOfTheDay) {
  double sum = 0;
  for (int m = 0; m < 24 * 60; ++m) sum += DailyRhythm::TrafficFactor(m / 60.0);
  EXPECT_NEAR(sum / (24 * 60), 1.0, 0.01);
  EXPECT_LT(DailyRhythm::TrafficFactor(4), 0.2);
  EXPECT_GT(DailyRhythm::TrafficFactor(20.5), 1.5);
  EXPECT_GT(DailyRhythm::TrafficFactor(12.5), DailyRhythm::TrafficFactor(15.5));  // lunch bump
  EXPECT_GT(DailyRhythm::EmailBoost(10.2), 3.0);
  EXPECT_EQ(DailyRhythm::EmailBoost(15), 1.0);

  DailyRhythm rhythm(600, 9);
  EXPECT_DOUBLE_EQ(rhythm.HourAt(0), 9);
  EXPECT_DOUBLE_EQ(rhythm.HourAt(150), 15);
  EXPECT_NEAR(rhythm.HourAt(600), 9, 1e-9);
  EXPECT_EQ(DailyRhythm::FormatHour(14.5), "14:30");
  EXPECT_EQ(DailyRhythm::FormatHour(23.999), "23:59");
}

TEST_F(TrafficGeneratorTest, EventRateFollowsTargetAndRhythm) {
  TrafficOptions options;
  options.events_per_second = 200;
  options.day_seconds = 600;
  options.start_hour = 9;
  options.seed = 21;
  TrafficGenerator gen(sessions_, options);
  EXPECT_GT(gen.mean_events_per_session(), 3);
  EXPECT_GT(gen.active_sessions(), 100u) << "warm-up leaves sessions in progress";

  // From the first second on the rate is on target (no ramp-up from an empty shop).
  const auto first = Run(gen, 10);
  double expected_first = 0;
  for (int i = 0; i < 100; ++i) {
    expected_first += 200 * DailyRhythm::TrafficFactor(9 + (i + 0.5) * 0.1 * 24 / 600) * 0.1;
  }
  EXPECT_NEAR(first.size(), expected_first, expected_first * 0.2);
  EXPECT_EQ(gen.arrivals_dropped(), 0u);

  // The shop's day compressed into 600 s: the evening (hour 19.5-21) is much busier than
  // the night (hour 3-4.5).
  TrafficOptions evening = options;
  evening.start_hour = 19.5;
  TrafficGenerator busy(sessions_, evening);
  const size_t evening_events = Run(busy, 37.5).size();
  TrafficOptions night = options;
  night.start_hour = 3;
  TrafficGenerator quiet(sessions_, night);
  const size_t night_events = Run(quiet, 37.5).size();
  EXPECT_GT(evening_events, night_events * 4);
  double expected_evening = 0;
  for (int i = 0; i < 375; ++i) {
    expected_evening += 200 * DailyRhythm::TrafficFactor(19.5 + (i + 0.5) * 0.1 * 24 / 600) * 0.1;
  }
  // Long sessions smooth the curve a little: within 20% of it.
  EXPECT_NEAR(evening_events, expected_evening, expected_evening * 0.2);
  EXPECT_NEAR(busy.shop_hour(), 21, 1e-6);
}

TEST_F(TrafficGeneratorTest, StreamIsConsistentAndUnique) {
  TrafficOptions options;
  options.events_per_second = 150;
  options.seed = 22;
  options.bad_event_fraction = 0;
  TrafficGenerator gen(sessions_, options);
  std::vector<PurchaseRecord> purchases;
  const auto events = Run(gen, 360, &purchases);
  ASSERT_GT(events.size(), 35000u);

  std::set<std::string> ids;
  std::map<std::string, std::set<std::string>> seen_by_session;
  std::map<std::string, int64_t> first_seen_ms;
  std::set<std::string> purchased_sessions;
  int64_t previous_ts = 0;
  int64_t purchase_events = 0;
  for (const OutgoingEvent& e : events) {
    EXPECT_TRUE(ids.insert(e.event_id).second) << "duplicate id " << e.event_id;
    EXPECT_GE(e.timestamp_ms, previous_ts) << "events leave in time order";
    previous_ts = e.timestamp_ms;
    auto doc = JsonValue::Parse(e.json);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(doc->Find("event_id")->string(), e.event_id);
    EXPECT_EQ(static_cast<int64_t>(doc->Find("timestamp")->number()), e.timestamp_ms);
    const std::string type = doc->Find("event_type")->string();
    const std::string session = doc->Find("session_id")->string();
    auto& seen = seen_by_session[session];
    first_seen_ms.emplace(session, e.timestamp_ms);
    // Sessions in progress when the demo started have lost their past, but never in a way that
    // leaves a checkout or purchase without its cart.
    if (type == "begin_checkout") {
      EXPECT_TRUE(seen.contains("add_to_cart"));
    }
    if (type == "purchase") {
      ++purchase_events;
      EXPECT_TRUE(purchased_sessions.insert(session).second);
      EXPECT_TRUE(seen.contains("add_to_cart"));
      EXPECT_TRUE(seen.contains("begin_checkout"));
    }
    seen.insert(type);
  }
  EXPECT_EQ(purchases.size(), static_cast<size_t>(purchase_events));
  EXPECT_EQ(gen.purchases(), static_cast<uint64_t>(purchase_events));
  for (const PurchaseRecord& p : purchases) {
    int64_t total = 0;
    for (const EventItem& item : p.items) total += item.price_cents * item.quantity;
    EXPECT_EQ(total, p.total_cents);
    EXPECT_EQ(p.order_id.substr(0, 4), "ord-");
  }
  // Conversion over sessions that began after the warm-up's and had time to finish.
  int started = 0, converted = 0;
  for (const auto& [session, ts] : first_seen_ms) {
    if (ts < kStartMs + 30'000 || ts > kStartMs + 200'000) continue;
    ++started;
    converted += purchased_sessions.contains(session);
  }
  ASSERT_GT(started, 2500);
  EXPECT_GE(static_cast<double>(converted) / started, 0.02);
  EXPECT_LE(static_cast<double>(converted) / started, 0.045);
}

TEST_F(TrafficGeneratorTest, SameSeedSameStreamOtherSeedOtherIds) {
  TrafficOptions options;
  options.events_per_second = 100;
  options.seed = 7;
  TrafficGenerator a(sessions_, options), b(sessions_, options);
  options.seed = 8;
  TrafficGenerator c(sessions_, options);
  const auto ea = Run(a, 5), eb = Run(b, 5), ec = Run(c, 5);
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_EQ(ea[i].json, eb[i].json);
  std::set<std::string> ids_a;
  for (const auto& e : ea) ids_a.insert(e.event_id);
  for (const auto& e : ec) EXPECT_FALSE(ids_a.contains(e.event_id));
}

TEST_F(TrafficGeneratorTest, SmallPopulationCapsTheRate) {
  VisitorPopulation few(catalog_, {.seed = 1, .visitor_count = 300});
  SessionSimulator sessions(catalog_, few);
  TrafficOptions options;
  options.events_per_second = 500;
  TrafficGenerator gen(sessions, options);
  const auto events = Run(gen, 10);
  EXPECT_GT(gen.arrivals_dropped(), 0u);
  EXPECT_LE(gen.active_sessions(), 300u);
  EXPECT_LT(events.size(), 500u * 10 * 0.6);
}

TEST_F(TrafficGeneratorTest, BadEventFraction) {
  // 1000 events/s needs ~5k sessions at once, as many as the default 5000 visitors.
  VisitorPopulation crowd(catalog_, {.seed = 2, .visitor_count = 20000});
  SessionSimulator sessions(catalog_, crowd);
  TrafficOptions options;
  options.events_per_second = 1000;
  options.bad_event_fraction = 0.001;
  options.max_active_sessions = 20000;
  options.seed = 23;
  TrafficGenerator gen(sessions, options);
  const auto events = Run(gen, 100);
  EXPECT_EQ(gen.arrivals_dropped(), 0u);
  ASSERT_GT(events.size(), 100000u);
  size_t bad = 0;
  std::map<std::string, int> kinds;
  for (size_t i = 0; i < events.size(); ++i) {
    const OutgoingEvent& e = events[i];
    bad += e.bad;
    // Every bad event, and a sample of the good ones, is checked against its JSON.
    if (!e.bad && i % 50 != 0) continue;
    auto doc = JsonValue::Parse(e.json);
    ASSERT_TRUE(doc.ok());
    const JsonValue* type = doc->Find("event_type");
    const JsonValue* ts = doc->Find("timestamp");
    const bool missing_type = type == nullptr;
    const bool ts_not_number = !ts->is_number();
    const bool ts_out_of_range = ts->is_number() && ts->number() > kStartMs + 86'400'000.0 * 365;
    EXPECT_EQ(e.bad, missing_type || ts_not_number || ts_out_of_range);
    if (e.bad) kinds[missing_type ? "type" : ts_not_number ? "nan" : "range"]++;
  }
  const double fraction = static_cast<double>(bad) / events.size();
  EXPECT_NEAR(fraction, 0.001, 0.0003);
  EXPECT_EQ(kinds.size(), 3u);
}

}  // namespace
}  // namespace basin::demo
