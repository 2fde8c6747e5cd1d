#include "demo/live_status_line.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace basin::demo {
namespace {

class FakeLake : public StatusSource {
 public:
  LakeStatus Sample() override {
    ++samples;
    LakeStatus s;
    s.rows_in_lake = 1500;
    s.newest_visible_event_time_us = 1'750'000'007'500'000;
    s.duplicates_dropped = 7;
    s.quarantined = 3;
    return s;
  }
  std::atomic<int> samples{0};
};

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

StatusSnapshot ExampleSnapshot() {
  StatusSnapshot s;
  s.uptime_seconds = 187;
  s.sent_per_second = 201.4;
  s.acked_per_second = 199.2;
  s.total_sent = 1'240'100;
  s.total_acked = 1'238'000;
  s.rejected = 12;
  s.orders = 310;
  s.revenue_cents_eur = 2'412'345;
  s.shop_hour = 14.34;
  s.lake.rows_in_lake = 1'200'000;
  s.lake.duplicates_dropped = 40;
  s.lake.quarantined = 12;
  s.freshness_seconds = 2.13;
  return s;
}

TEST(StatusFormat, Counts) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1.00k");
  EXPECT_EQ(FormatCount(1234), "1.23k");
  EXPECT_EQ(FormatCount(45678), "45.7k");
  EXPECT_EQ(FormatCount(123456), "123k");
  EXPECT_EQ(FormatCount(999999), "1.00M");
  EXPECT_EQ(FormatCount(1234567), "1.23M");
  EXPECT_EQ(FormatCount(2.5e9), "2.50G");
}

TEST(StatusFormat, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(42.9), "42s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
  EXPECT_EQ(FormatDuration(183600), "2d03h");
}

TEST(StatusFormat, VisibleWidthIgnoresEscapes) {
  EXPECT_EQ(VisibleWidth("abc"), 3);
  EXPECT_EQ(VisibleWidth("\033[1;32mabc\033[0m"), 3);
  EXPECT_EQ(VisibleWidth("\u25CF \u2502 x"), 5);
  EXPECT_EQ(VisibleWidth("\0337\033[24;1H\033[2Kx\0338"), 1);
}

TEST(RenderStatusLine, ShowsTheNumbers) {
  const std::string line = RenderStatusLine(ExampleSnapshot(), {.width = 200});
  for (const char* part :
       {"LIVE", "shop 14:20", "201/s", "199/s", "1.24M acked", "lake", "1.20M rows", "fresh",
        "2.1s", "rejected 12", "dups 40", "orders 310", "24.1k", "up 3m07s"}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " missing in: " << line;
  }
  EXPECT_EQ(line.find('\033'), std::string::npos) << "no colour unless asked";
}

TEST(RenderStatusLine, FitsTheWidthByDroppingLesserSegments) {
  const StatusSnapshot s = ExampleSnapshot();
  for (int width : {200, 120, 100, 80, 60}) {
    for (bool unicode : {false, true}) {
      const std::string line = RenderStatusLine(s, {.width = width, .unicode = unicode});
      EXPECT_LE(VisibleWidth(line), width) << line;
      EXPECT_NE(line.find("199/s"), std::string::npos) << "rates always stay: " << line;
    }
  }
  const std::string narrow = RenderStatusLine(s, {.width = 80});
  EXPECT_EQ(narrow.find("orders"), std::string::npos) << narrow;
}

TEST(RenderStatusLine, ColumnsDoNotJitter) {
  StatusSnapshot a = ExampleSnapshot(), b = ExampleSnapshot();
  a.sent_per_second = 5;
  b.sent_per_second = 1234;
  a.freshness_seconds = 0.4;
  b.freshness_seconds = 12.5;
  const std::string la = RenderStatusLine(a, {.width = 200});
  const std::string lb = RenderStatusLine(b, {.width = 200});
  EXPECT_EQ(la.find("lake"), lb.find("lake"));
  EXPECT_EQ(la.find("rejected"), lb.find("rejected"));
}

TEST(RenderStatusLine, ColourAddsNoWidth) {
  const StatusSnapshot s = ExampleSnapshot();
  const std::string plain = RenderStatusLine(s, {.width = 200, .unicode = true});
  const std::string coloured = RenderStatusLine(s, {.width = 200, .color = true, .unicode = true});
  EXPECT_NE(coloured.find("\033["), std::string::npos);
  EXPECT_EQ(VisibleWidth(coloured), VisibleWidth(plain));
}

TEST(RenderStatusLine, ShowsProblemsTruncated) {
  StatusSnapshot s = ExampleSnapshot();
  s.problem = "collector: Unavailable: connecting to 127.0.0.1:8080: Connection refused " +
              std::string(100, 'x');
  const std::string line = RenderStatusLine(s, {.width = 120});
  EXPECT_NE(line.find("RETRY"), std::string::npos);
  EXPECT_NE(line.find("collector: Unavailable"), std::string::npos);
  EXPECT_LE(VisibleWidth(line), 120);
}

TEST(RenderPlainStatusLine, KeyValues) {
  const std::string line = RenderPlainStatusLine(ExampleSnapshot());
  EXPECT_EQ(line.rfind("demo shop_time=14:20 sent=201/s acked=199/s total_acked=1.24M", 0), 0u)
      << line;
  EXPECT_NE(line.find("lake_rows=1.20M freshness=2.1s rejected=12 duplicates_dropped=40"),
            std::string::npos);
  StatusSnapshot unknown;
  EXPECT_NE(RenderPlainStatusLine(unknown).find("lake_rows=- freshness=-"), std::string::npos);
}

TEST(RenderBanner, SaysWhereToLook) {
  LiveStatusLineOptions options;
  options.dashboard_url = "http://localhost:9999";
  options.extra_links = {{"Metrics", "http://localhost:9999/metrics"}};
  const std::string banner = RenderBanner(options, false, false);
  EXPECT_NE(banner.find("http://localhost:9999"), std::string::npos);
  EXPECT_NE(banner.find("basin sql --data-dir ./basin-data \"SELECT event_type, count(*) FROM "
                        "raw.clickstream GROUP BY 1\""),
            std::string::npos);
  EXPECT_NE(banner.find("Metrics"), std::string::npos);
  EXPECT_NE(banner.find("Ctrl-C"), std::string::npos);
  EXPECT_EQ(banner.find('\033'), std::string::npos);
  // Labels are aligned: every URL/command starts in the same column.
  EXPECT_NE(banner.find("    Dashboard   http"), std::string::npos) << banner;
  EXPECT_NE(banner.find("    Try SQL     basin"), std::string::npos) << banner;
}

TEST(LiveStatusLine, SampleComputesRatesAndFreshness) {
  FakeLake lake;
  std::atomic<uint64_t> sent{1000};
  LiveStatusLine status({}, &lake, [&] {
    ShopSimulatorStats s;
    s.events_sent = sent.load();
    s.events_acked = sent.load() - 10;
    s.newest_acked_event_ms = 1'750'000'010'000;
    s.shop_hour = 9.5;
    return s;
  });
  StatusSnapshot first = status.Sample();
  EXPECT_EQ(first.sent_per_second, 0);
  ASSERT_TRUE(first.freshness_seconds.has_value());
  EXPECT_NEAR(*first.freshness_seconds, 2.5, 1e-9);
  EXPECT_EQ(first.lake.rows_in_lake, 1500);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  sent += 100;
  StatusSnapshot second = status.Sample();
  EXPECT_NEAR(second.sent_per_second, 200, 40);
  EXPECT_NEAR(second.acked_per_second, 200, 40);
  EXPECT_EQ(second.total_acked, 1090u);
  EXPECT_TRUE(second.problem.empty());
}

TEST(LiveStatusLine, SampleReportsAFailingCollector) {
  ShopSimulatorStats stats;
  stats.consecutive_failures = 1;
  stats.last_error = "HTTP 503 from collector";
  LiveStatusLine status({}, nullptr, [&] { return stats; });
  EXPECT_TRUE(status.Sample().problem.empty()) << "one 503 is routine";
  stats.consecutive_failures = 5;
  stats.collector_failing = true;
  EXPECT_EQ(status.Sample().problem, "collector: HTTP 503 from collector");
}

TEST(LiveStatusLine, PlainModeWritesBannerLogLinesAndSummary) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  FakeLake lake;
  LiveStatusLineOptions options;
  options.mode = LiveStatusLineOptions::Mode::kPlain;
  options.out = out;
  options.refresh_ms = 20;
  options.plain_interval_ms = 100;
  LiveStatusLine status(options, &lake, [] {
    ShopSimulatorStats s;
    s.events_sent = 42;
    s.events_acked = 40;
    return s;
  });
  status.Start();
  EXPECT_FALSE(status.terminal_mode());
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  status.Stop();
  const std::string text = ReadAll(out);
  std::fclose(out);
  EXPECT_NE(text.find("Dashboard"), std::string::npos);
  EXPECT_NE(text.find("raw.clickstream"), std::string::npos);
  EXPECT_NE(text.find(" INFO [demo] demo "), std::string::npos) << text;
  EXPECT_NE(text.find("lake_rows=1.50k"), std::string::npos) << text;
  EXPECT_NE(text.find("demo shop stopped after"), std::string::npos);
  EXPECT_NE(text.find("42 events sent, 40 acknowledged"), std::string::npos) << text;
  EXPECT_EQ(text.find('\033'), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_GT(lake.samples.load(), 5);
}

TEST(LiveStatusLine, TerminalModeRedrawsInPlace) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  LiveStatusLineOptions options;
  options.mode = LiveStatusLineOptions::Mode::kTerminal;
  options.out = out;
  options.refresh_ms = 20;
  LiveStatusLine status(options, nullptr, [] { return ShopSimulatorStats{}; });
  status.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  status.Stop();
  const std::string text = ReadAll(out);
  std::fclose(out);
  // Not a real terminal (no size): the line is redrawn with carriage returns.
  EXPECT_NE(text.find("\r\033[2K"), std::string::npos);
  EXPECT_NE(text.find("acked"), std::string::npos);
  EXPECT_NE(text.find("demo shop stopped after"), std::string::npos);
}

}  // namespace
}  // namespace basin::demo
