#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <clocale>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace basin::observe {
namespace {

TEST(Counter, Increments) {
  Counter c;
  EXPECT_EQ(c.value(), 0u);
  c.Increment();
  c.Increment(41);
  EXPECT_EQ(c.value(), 42u);
}

TEST(Gauge, SetAndAdd) {
  Gauge g;
  g.Set(2.5);
  g.Add(1);
  g.Add(-4);
  EXPECT_DOUBLE_EQ(g.value(), -0.5);
}

TEST(Histogram, BucketsAreCumulativeAndUpperInclusive) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 100.0}) h.Observe(v);
  EXPECT_EQ(h.CumulativeCounts(), (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(h.count(), 6u);
  EXPECT_DOUBLE_EQ(h.sum(), 108.0);
}

TEST(Histogram, TrailingInfBoundIsImplicit) {
  Histogram h({1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(h.upper_bounds(), std::vector<double>{1});
  h.Observe(5);
  EXPECT_EQ(h.CumulativeCounts(), (std::vector<uint64_t>{0, 1}));
}

TEST(Histogram, QuantileInterpolatesWithinTheBucket) {
  Histogram h({1, 2, 3, 4});
  EXPECT_EQ(h.Quantile(0.5), 0);  // empty
  for (double v : {0.5, 1.5, 2.5, 3.5}) h.Observe(v);
  EXPECT_DOUBLE_EQ(h.Quantile(0.25), 1.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.375), 1.5);
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 2.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.9), 3.6);
  EXPECT_DOUBLE_EQ(h.Quantile(1.0), 4.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.0), 0.0);
  // Out of range q is clamped.
  EXPECT_DOUBLE_EQ(h.Quantile(7), 4.0);
}

TEST(Histogram, QuantileInTheInfBucketIsTheLargestBound) {
  Histogram h({1, 2});
  h.Observe(0.5);
  h.Observe(50);
  EXPECT_DOUBLE_EQ(h.Quantile(0.99), 2.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 1.0);
}

TEST(Histogram, QuantileSkipsEmptyLeadingBuckets) {
  Histogram h(Histogram::LatencySeconds());
  for (int i = 0; i < 100; ++i) h.Observe(0.003);  // all in (0.0025, 0.005]
  const double p50 = h.Quantile(0.5);
  EXPECT_GT(p50, 0.0025);
  EXPECT_LE(p50, 0.005);
  EXPECT_DOUBLE_EQ(h.Quantile(1.0), 0.005);
}

TEST(Histogram, StandardBounds) {
  const auto latency = Histogram::LatencySeconds();
  EXPECT_DOUBLE_EQ(latency.front(), 0.0001);
  EXPECT_DOUBLE_EQ(latency.back(), 10);
  const auto sizes = Histogram::SizeBytes();
  EXPECT_DOUBLE_EQ(sizes.front(), 64);
  EXPECT_DOUBLE_EQ(sizes.back(), 64.0 * 1024 * 1024);
  for (size_t i = 1; i < sizes.size(); ++i) EXPECT_DOUBLE_EQ(sizes[i], sizes[i - 1] * 4);
}

TEST(MetricsRegistry, SameNameAndLabelsGiveTheSameObject) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("basin_x_total", "x", {{"k", "1"}});
  Counter& b = r.GetCounter("basin_x_total", "x", {{"k", "1"}});
  Counter& c = r.GetCounter("basin_x_total", "x", {{"k", "2"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  Histogram& h1 = r.GetHistogram("basin_h", "h", {1, 2});
  Histogram& h2 = r.GetHistogram("basin_h", "h", {1, 2});
  EXPECT_EQ(&h1, &h2);
}

TEST(MetricsRegistry, RendersPrometheusText) {
  MetricsRegistry r;
  r.GetCounter("basin_test_requests_total", "Requests.", {{"status", "200"}, {"method", "GET"}})
      .Increment(3);
  r.GetCounter("basin_test_requests_total", "Requests.", {{"method", "POST"}, {"status", "500"}})
      .Increment();
  r.GetGauge("basin_test_queue_depth", "Queue depth.").Set(2.5);
  Histogram& h = r.GetHistogram("basin_test_latency_seconds", "Latency.", {0.5, 1});
  h.Observe(0.25);
  h.Observe(0.5);
  h.Observe(4);
  r.GetGauge("basin_test_big", "Big and small.", {{"v", "big"}}).Set(1e21);
  r.GetGauge("basin_test_big", "Big and small.", {{"v", "inf"}})
      .Set(-std::numeric_limits<double>::infinity());

  const std::string expected =
      "# HELP basin_test_big Big and small.\n"
      "# TYPE basin_test_big gauge\n"
      "basin_test_big{v=\"big\"} 1e+21\n"
      "basin_test_big{v=\"inf\"} -Inf\n"
      "# HELP basin_test_latency_seconds Latency.\n"
      "# TYPE basin_test_latency_seconds histogram\n"
      "basin_test_latency_seconds_bucket{le=\"0.5\"} 2\n"
      "basin_test_latency_seconds_bucket{le=\"1\"} 2\n"
      "basin_test_latency_seconds_bucket{le=\"+Inf\"} 3\n"
      "basin_test_latency_seconds_sum 4.75\n"
      "basin_test_latency_seconds_count 3\n"
      "# HELP basin_test_queue_depth Queue depth.\n"
      "# TYPE basin_test_queue_depth gauge\n"
      "basin_test_queue_depth 2.5\n"
      "# HELP basin_test_requests_total Requests.\n"
      "# TYPE basin_test_requests_total counter\n"
      "basin_test_requests_total{method=\"GET\",status=\"200\"} 3\n"
      "basin_test_requests_total{method=\"POST\",status=\"500\"} 1\n";
  EXPECT_EQ(r.RenderPrometheus(), expected);
}

TEST(MetricsRegistry, HistogramLabelsComeBeforeLe) {
  MetricsRegistry r;
  r.GetHistogram("basin_h_seconds", "h", {1}, {{"stream", "s"}}).Observe(0.5);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP basin_h_seconds h\n"
            "# TYPE basin_h_seconds histogram\n"
            "basin_h_seconds_bucket{stream=\"s\",le=\"1\"} 1\n"
            "basin_h_seconds_bucket{stream=\"s\",le=\"+Inf\"} 1\n"
            "basin_h_seconds_sum{stream=\"s\"} 0.5\n"
            "basin_h_seconds_count{stream=\"s\"} 1\n");
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.GetCounter("basin_e_total", "back\\slash\nnew \"line\"", {{"v", "a\"b\\c\nd"}}).Increment();
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP basin_e_total back\\\\slash\\nnew \"line\"\n"
            "# TYPE basin_e_total counter\n"
            "basin_e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, FloatsIgnoreTheLocale) {
  // A locale with a decimal comma must not leak into the exposition.
  const char* old = std::setlocale(LC_NUMERIC, nullptr);
  const std::string saved = old ? old : "C";
  std::setlocale(LC_NUMERIC, "de_DE.UTF-8");  // may not exist; then this checks nothing extra
  MetricsRegistry r;
  r.GetGauge("basin_g", "g").Set(0.125);
  EXPECT_NE(r.RenderPrometheus().find("basin_g 0.125\n"), std::string::npos);
  std::setlocale(LC_NUMERIC, saved.c_str());
}

TEST(MetricsRegistry, ConcurrentUpdatesSum) {
  MetricsRegistry r;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r] {
      // Looked up from every thread, to exercise creation races too.
      Counter& c = r.GetCounter("basin_c_total", "c");
      Gauge& g = r.GetGauge("basin_g", "g");
      Histogram& h = r.GetHistogram("basin_h", "h", {1, 2});
      for (int i = 0; i < kPerThread; ++i) {
        c.Increment();
        g.Add(1);
        h.Observe(i % 2 == 0 ? 0.5 : 1.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  constexpr uint64_t kTotal = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(r.GetCounter("basin_c_total", "c").value(), kTotal);
  EXPECT_DOUBLE_EQ(r.GetGauge("basin_g", "g").value(), static_cast<double>(kTotal));
  Histogram& h = r.GetHistogram("basin_h", "h", {1, 2});
  EXPECT_EQ(h.count(), kTotal);
  EXPECT_EQ(h.CumulativeCounts(), (std::vector<uint64_t>{kTotal / 2, kTotal, kTotal}));
  EXPECT_DOUBLE_EQ(h.sum(), static_cast<double>(kTotal));
}

TEST(MetricsRegistryDeathTest, SameNameWithAnotherKindIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry r;
  r.GetCounter("basin_dup", "d");
  EXPECT_DEATH(r.GetGauge("basin_dup", "d"), "kind");
}

TEST(MetricsRegistryDeathTest, InvalidNamesAreBugs) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry r;
  EXPECT_DEATH(r.GetCounter("basin-bad", "d"), "IsValidMetricName");
  EXPECT_DEATH(r.GetCounter("basin_ok", "d", {{"__reserved", "x"}}), "IsValidLabelName");
  EXPECT_DEATH(r.GetHistogram("basin_h", "d", {1}, {{"le", "x"}}), "le");
}

}  // namespace
}  // namespace basin::observe
