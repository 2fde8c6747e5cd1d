#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "demo/shop_simulator.h"

namespace basin::demo {

// What the platform side knows about the clickstream that reached the lake. A field the caller
// cannot fill keeps its default and shows as "-".
struct LakeStatus {
  int64_t rows_in_lake = -1;                 // rows of raw.clickstream visible to SQL
  int64_t newest_visible_event_time_us = 0;  // max(event_time) visible to SQL, epoch µs
  int64_t duplicates_dropped = -1;           // events the server dropped as repeated event_ids
  int64_t quarantined = -1;                  // records sent to quarantine.clickstream
};

// The lead's window into the server for the status line. Sample() is called once per refresh
// (every second) from the status line's own thread: keep it cheap (counters and catalog
// metadata, not a table scan) and thread-safe with respect to the server.
class StatusSource {
 public:
  virtual ~StatusSource() = default;
  virtual LakeStatus Sample() = 0;
};

// The numbers of one status frame.
struct StatusSnapshot {
  double uptime_seconds = 0;
  double sent_per_second = 0;
  double acked_per_second = 0;
  uint64_t total_sent = 0;
  uint64_t total_acked = 0;
  uint64_t rejected = 0;
  uint64_t retries = 0;
  uint64_t orders = 0;
  int64_t revenue_cents_eur = 0;
  double shop_hour = -1;  // < 0: unknown
  LakeStatus lake;
  std::optional<double> freshness_seconds;  // newest acknowledged event vs newest visible row
  std::string problem;                      // non-empty while the collector is failing
};

struct LiveStatusLineOptions {
  enum class Mode {
    kAuto,      // kTerminal when `out` is a terminal, else kPlain
    kTerminal,  // a status bar pinned to the bottom row, redrawn every refresh
    kPlain,     // a log line every plain_interval_ms (for files, pipes, CI)
  };
  Mode mode = Mode::kAuto;
  std::FILE* out = stdout;
  std::string dashboard_url = "http://localhost:8080";
  std::string sql_command =
      "basin sql --data-dir ./basin-data "
      "\"SELECT event_type, count(*) FROM raw.clickstream GROUP BY 1\"";
  // Extra banner rows, e.g. {"Metrics", "http://localhost:8080/metrics"}.
  std::vector<std::pair<std::string, std::string>> extra_links;
  int refresh_ms = 1000;
  int plain_interval_ms = 10'000;
  bool color = true;    // on a terminal only, and never when NO_COLOR is set
  bool unicode = true;  // box-drawing separators when the locale is UTF-8
};

// The demo's terminal front: a banner saying where the dashboard is and how to query, then one
// status line refreshed every second with events/s sent and acknowledged, total acknowledged,
// rows in the lake, freshness, rejected and deduplicated events, and uptime. On a terminal the
// line is pinned to the bottom row (a scroll region keeps log output above it) with colours;
// elsewhere it prints a plain log line every few seconds. Its numbers come from a StatusSource
// and a function returning the simulator's stats, so it depends on nothing but base.
//
// One background thread between Start() and Stop(); Stop() restores the terminal and prints a
// summary. Start()/Stop() are called from one controlling thread.
class LiveStatusLine {
 public:
  using ShopStatsFunction = std::function<ShopSimulatorStats()>;

  // `lake` may be null (lake columns show "-"); `shop` may be empty.
  LiveStatusLine(LiveStatusLineOptions options, StatusSource* lake, ShopStatsFunction shop);
  ~LiveStatusLine();  // Stop()s
  LiveStatusLine(const LiveStatusLine&) = delete;
  LiveStatusLine& operator=(const LiveStatusLine&) = delete;

  void Start();
  void Stop();
  bool terminal_mode() const { return terminal_; }

  // Takes one sample now and returns the frame's numbers (rates over the last 5 s of samples).
  // Used by the thread; public for tests.
  StatusSnapshot Sample();

 private:
  void Run();
  void Draw(const StatusSnapshot& snapshot);
  void SetUpScrollRegion(int rows);
  void ResetScrollRegion();
  void Write(const std::string& text);

  LiveStatusLineOptions options_;
  StatusSource* lake_;
  ShopStatsFunction shop_;
  bool terminal_ = false;
  bool color_ = false;
  bool unicode_ = false;
  int region_rows_ = 0;  // terminal rows when the scroll region was set; 0 = none
  int64_t start_nanos_ = 0;
  int64_t last_plain_nanos_ = 0;
  struct RateSample {
    int64_t nanos;
    uint64_t sent;
    uint64_t acked;
  };
  std::deque<RateSample> samples_;  // used by the status thread (or a test) only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// 999 → "999", 1234 → "1.23k", 45678 → "45.7k", 1234567 → "1.23M", 2.5e9 → "2.50G".
std::string FormatCount(double value);
// 42 → "42s", 187 → "3m07s", 3720 → "1h02m", 183600 → "2d03h".
std::string FormatDuration(double seconds);

struct RenderStyle {
  int width = 120;  // visible columns available; segments are dropped to fit
  bool color = false;
  bool unicode = false;
};
// The status line (no newline). Columns keep fixed widths so numbers do not jitter.
std::string RenderStatusLine(const StatusSnapshot& snapshot, const RenderStyle& style);
// The plain-mode line: "demo  sent=201/s acked=199/s total_acked=1.24M lake_rows=...".
std::string RenderPlainStatusLine(const StatusSnapshot& snapshot);
// The banner printed once at start (ends with a newline).
std::string RenderBanner(const LiveStatusLineOptions& options, bool color, bool unicode);
// Visible columns of `text`: UTF-8 code points, ANSI escape sequences excluded.
int VisibleWidth(std::string_view text);

}  // namespace basin::demo
