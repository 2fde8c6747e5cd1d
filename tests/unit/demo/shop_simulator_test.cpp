#include "demo/shop_simulator.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json_writer.h"
#include "demo/json_value.h"
#include "observe/metrics.h"
#include "unit/demo/test_http_server.h"

namespace basin::demo {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;
using Clock = std::chrono::steady_clock;

// A stand-in for Basin's collector: validates events like the real one (event_type required,
// numeric timestamp within a day of now), refuses every `refuse_every`-th request with 503, and
// remembers everything it saw.
class FakeCollector {
 public:
  explicit FakeCollector(int refuse_every) : refuse_every_(refuse_every) {}

  TestResponse Handle(const TestRequest& r) {
    std::lock_guard lock(mu_);
    ++requests_;
    user_agents_.insert(r.user_agent);
    content_types_.insert(r.content_type);
    std::vector<JsonValue> events;
    if (r.content_type == "application/x-ndjson") {
      size_t start = 0;
      while (start < r.body.size()) {
        const size_t end = r.body.find('\n', start);
        auto doc = JsonValue::Parse(r.body.substr(start, end - start));
        if (!doc.ok()) return TestResponse{400, "{}"};
        events.push_back(std::move(doc).value());
        if (end == std::string::npos) break;
        start = end + 1;
      }
    } else {
      auto doc = JsonValue::Parse(r.body);
      if (!doc.ok() || !doc->is_array()) return TestResponse{400, "{}"};
      events = doc->items();
    }
    if (refuse_every_ > 0 && requests_ % refuse_every_ == 0) {
      refused_bodies_.push_back(r.body);
      return TestResponse{503, R"({"code":"Unavailable","message":"log is busy"})"};
    }
    delivered_bodies_.insert(r.body);
    JsonWriter w;
    w.BeginObject().Key("stream").String("clickstream");
    int64_t accepted = 0;
    std::string rejected = "[";
    const double now_ms = static_cast<double>(SystemClock::Instance().NowMillis());
    for (size_t i = 0; i < events.size(); ++i) {
      const JsonValue& e = events[i];
      const std::string id = e.Find("event_id")->string();
      ++occurrences_[id];
      const JsonValue* type = e.Find("event_type");
      const JsonValue* ts = e.Find("timestamp");
      const bool valid = type && type->is_string() && ts && ts->is_number() &&
                         ts->number() > 946'684'800'000.0 && ts->number() < now_ms + 86'400'000;
      if (valid) {
        ++accepted;
        accepted_ids_.insert(id);
      } else {
        rejected_ids_.insert(id);
        if (rejected.size() > 1) rejected += ",";
        rejected += R"({"index":)" + std::to_string(i) +
                    R"(,"code":"ValidationFailed","reason":"bad event"})";
      }
    }
    w.Key("accepted").Int(accepted).Key("rejected").Raw(rejected + "]").EndObject();
    return TestResponse{200, w.Take()};
  }

  std::mutex mu_;
  int refuse_every_;
  int requests_ = 0;
  std::map<std::string, int> occurrences_;  // in answered (200) requests
  std::set<std::string> accepted_ids_, rejected_ids_, user_agents_, content_types_;
  std::vector<std::string> refused_bodies_;
  std::set<std::string> delivered_bodies_;
};

ShopSimulatorOptions FastOptions(uint16_t port) {
  ShopSimulatorOptions o;
  o.port = port;
  o.events_per_second = 1000;
  o.run_seed = 1234;
  o.flush_interval_ms = 100;
  o.connections = 2;
  o.duplicate_batch_fraction = 0.1;
  o.bad_event_fraction = 0.01;
  o.initial_backoff_ms = 10;
  o.max_backoff_ms = 100;
  o.stop_grace_ms = 2000;
  o.visitors.visitor_count = 2000;
  return o;
}

TEST(ShopSimulator, DeliversThroughRefusalsWithoutLosingOrInventingEvents) {
  FakeCollector collector(/*refuse_every=*/4);
  TestHttpServer server([&](const TestRequest& r) { return collector.Handle(r); });
  observe::MetricsRegistry metrics;
  ShopSimulatorOptions options = FastOptions(server.port());
  options.metrics = &metrics;
  int purchases_seen = 0;
  options.on_purchase = [&](const PurchaseRecord& p) {
    ++purchases_seen;
    EXPECT_FALSE(p.items.empty());
  };
  ShopSimulator shop(options);
  ASSERT_TRUE(shop.Start().ok());
  EXPECT_EQ(shop.Start().code(), ErrorCode::kAlreadyExists);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const auto stop_started = Clock::now();
  shop.Stop();
  EXPECT_LT(Clock::now() - stop_started, std::chrono::seconds(3));
  const ShopSimulatorStats s = shop.stats();

  std::lock_guard lock(collector.mu_);
  ASSERT_GT(s.events_generated, 1000u);
  EXPECT_EQ(s.events_sent, s.events_generated);
  EXPECT_EQ(s.events_dropped, 0u);
  EXPECT_EQ(s.queued_events, 0u);
  // Every event reached the server and was counted once by the simulator.
  EXPECT_EQ(s.events_acked, collector.accepted_ids_.size());
  EXPECT_EQ(s.events_rejected, collector.rejected_ids_.size());
  EXPECT_EQ(s.events_acked + s.events_rejected, s.events_sent);
  EXPECT_GT(s.bad_events_sent, 0u);
  EXPECT_EQ(s.events_rejected, s.bad_events_sent);
  // A refused batch comes back byte for byte: same events, same ids.
  ASSERT_FALSE(collector.refused_bodies_.empty());
  for (const std::string& body : collector.refused_bodies_) {
    EXPECT_TRUE(collector.delivered_bodies_.contains(body));
  }
  EXPECT_EQ(s.retries, collector.refused_bodies_.size());
  EXPECT_EQ(s.failed_requests, collector.refused_bodies_.size());
  EXPECT_EQ(s.consecutive_failures, 0u);
  EXPECT_FALSE(s.collector_failing);
  // The only repeats the server saw are the deliberate client-retry resends.
  uint64_t repeats = 0;
  for (const auto& [id, n] : collector.occurrences_) repeats += n - 1;
  EXPECT_GT(s.duplicate_batches_sent, 0u);
  EXPECT_EQ(repeats, s.duplicate_events_sent);
  // Realistic clients.
  EXPECT_GE(collector.user_agents_.size(), 4u);
  for (const std::string& ua : collector.user_agents_) {
    EXPECT_TRUE(ua.rfind("Mozilla/5.0 (", 0) == 0 || ua.rfind("BasinShop/", 0) == 0) << ua;
  }
  EXPECT_EQ(collector.content_types_, std::set<std::string>{"application/json"});
  EXPECT_GT(s.sessions_started, 0u);
  EXPECT_GE(s.shop_hour, 9.0);
  EXPECT_NEAR(static_cast<double>(s.newest_acked_event_ms),
              static_cast<double>(SystemClock::Instance().NowMillis()), 5000);
  EXPECT_EQ(static_cast<uint64_t>(purchases_seen), s.purchases);
  EXPECT_NE(metrics.RenderPrometheus().find("basin_demo_events_acked_total"), std::string::npos);
}

TEST(ShopSimulator, SendsNdjson) {
  FakeCollector collector(/*refuse_every=*/0);
  TestHttpServer server([&](const TestRequest& r) { return collector.Handle(r); });
  ShopSimulatorOptions options = FastOptions(server.port());
  options.ndjson = true;
  options.duplicate_batch_fraction = 0;
  ShopSimulator shop(options);
  ASSERT_TRUE(shop.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  shop.Stop();
  const ShopSimulatorStats s = shop.stats();
  std::lock_guard lock(collector.mu_);
  EXPECT_EQ(collector.content_types_, std::set<std::string>{"application/x-ndjson"});
  EXPECT_GT(s.events_acked, 0u);
  EXPECT_EQ(s.events_acked + s.events_rejected, s.events_sent);
  EXPECT_EQ(s.events_acked, collector.accepted_ids_.size());
}

TEST(ShopSimulator, StopIsBoundedWhenTheServerHangs) {
  TestHttpServer server([](const TestRequest&) { return TestResponse::Stall(); });
  ShopSimulatorOptions options = FastOptions(server.port());
  options.request_timeout_ms = 60'000;
  options.stop_grace_ms = 300;
  ShopSimulator shop(options);
  ASSERT_TRUE(shop.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto stop_started = Clock::now();
  shop.Stop();
  EXPECT_LT(Clock::now() - stop_started, std::chrono::milliseconds(1500));
  const ShopSimulatorStats s = shop.stats();
  EXPECT_GT(s.events_generated, 0u);
  EXPECT_EQ(s.events_acked, 0u);
  EXPECT_EQ(s.events_dropped, s.events_generated) << "everything undelivered is accounted for";
}

TEST(ShopSimulator, ReportsAnUnreachableServer) {
  uint16_t port;
  {
    // A port that was free a moment ago; nothing listens on it now.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor probe(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  ShopSimulatorOptions options = FastOptions(port);
  options.stop_grace_ms = 200;
  ShopSimulator shop(options);
  ASSERT_TRUE(shop.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const ShopSimulatorStats running = shop.stats();
  EXPECT_GT(running.consecutive_failures, 0u);
  EXPECT_TRUE(running.collector_failing);
  EXPECT_NE(running.last_error.find("Unavailable"), std::string::npos) << running.last_error;
  EXPECT_GT(running.retries, 0u);
  const auto stop_started = Clock::now();
  shop.Stop();
  EXPECT_LT(Clock::now() - stop_started, std::chrono::milliseconds(1500));
}

TEST(ShopSimulator, RejectsUnworkableOptions) {
  ShopSimulatorOptions options;
  options.events_per_second = 0;
  EXPECT_EQ(ShopSimulator(options).Start().code(), ErrorCode::kInvalidArgument);
  options = {};
  options.connections = 0;
  EXPECT_EQ(ShopSimulator(options).Start().code(), ErrorCode::kInvalidArgument);
  options = {};
  options.bad_event_fraction = 0.7;
  EXPECT_EQ(ShopSimulator(options).Start().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace basin::demo
