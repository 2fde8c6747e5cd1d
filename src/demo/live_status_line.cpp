#include "demo/live_status_line.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>

#include "base/clock.h"
#include "base/time_format.h"
#include "demo/daily_rhythm.h"
#include "demo/shop_catalog.h"

namespace basin::demo {
namespace {

constexpr int64_t kRateWindowNanos = 5'000'000'000;
constexpr int kDefaultColumns = 120;
constexpr int kMinProblemColumns = 30;

// ANSI styles; applied only when colour is on.
constexpr const char* kReset = "\033[0m";
constexpr const char* kBold = "\033[1m";
constexpr const char* kDim = "\033[2m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kCyan = "\033[36m";

std::string Styled(std::string_view text, const char* style, bool color) {
  if (!color) return std::string(text);
  return std::string(style) + std::string(text) + kReset;
}

std::string PadLeft(std::string text, size_t width) {
  if (text.size() < width) text.insert(0, width - text.size(), ' ');
  return text;
}

std::string FormatRate(double per_second) {
  if (per_second < 0) per_second = 0;
  if (per_second > 0 && per_second < 10) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f", per_second);
    return std::string(buf) + "/s";
  }
  return FormatCount(per_second) + "/s";
}

std::string FormatFreshness(double seconds) {
  if (seconds < 60) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  return FormatDuration(seconds);
}

std::string FormatEuros(int64_t cents) {
  const double euros = static_cast<double>(cents) / 100.0;
  return euros < 1000 ? ShopCatalog::FormatCents(cents) : FormatCount(euros);
}

// Cuts plain text (no escapes) to `width` code points, marking the cut with an ellipsis.
std::string TruncatePlain(std::string_view text, int width, bool unicode) {
  if (VisibleWidth(text) <= width) return std::string(text);
  if (width <= 0) return "";
  const std::string ellipsis = unicode ? "\u2026" : ".";
  std::string out;
  int columns = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch >= 0xF0) {
      len = 4;
    } else if (ch >= 0xE0) {
      len = 3;
    } else if (ch >= 0xC0) {
      len = 2;
    }
    if (columns + 1 >= width) break;
    out.append(text.substr(i, len));
    ++columns;
    i += len;
  }
  return out + ellipsis;
}

bool LocaleIsUtf8() {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    std::string v(value);
    std::transform(v.begin(), v.end(), v.begin(),
                   [](char ch) { return static_cast<char>(std::tolower(ch)); });
    return v.find("utf-8") != std::string::npos || v.find("utf8") != std::string::npos;
  }
  return false;
}

// Terminal rows and columns of `out`, or {0, 0} when unknown.
std::pair<int, int> TerminalSize(std::FILE* out) {
  winsize ws{};
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) != 0) return {0, 0};
  return {ws.ws_row, ws.ws_col};
}

struct Segment {
  int priority;      // 0 = always shown; higher numbers are dropped first when space runs out
  std::string text;  // possibly with colour escapes
};

}  // namespace

std::string FormatCount(double value) {
  if (value < 0) return "-" + FormatCount(-value);
  char buf[32];
  if (value < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  static constexpr const char* kSuffixes[] = {"k", "M", "G", "T"};
  int unit = -1;
  while (value >= 999.5 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  // Three significant digits: 1.23k, 45.7k, 123k.
  const char* format = value < 9.995 ? "%.2f%s" : value < 99.95 ? "%.1f%s" : "%.0f%s";
  std::snprintf(buf, sizeof buf, format, value, kSuffixes[unit]);
  return buf;
}

std::string FormatDuration(double seconds) {
  const int64_t s = seconds < 0 ? 0 : static_cast<int64_t>(seconds);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

int VisibleWidth(std::string_view text) {
  int width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == 0x1B) {
      // CSI sequences end at a byte in @..~; "ESC 7" / "ESC 8" are two bytes.
      if (i + 1 < text.size() && text[i + 1] == '[') {
        i += 2;
        while (i < text.size() && (text[i] < '@' || text[i] > '~')) ++i;
      } else {
        ++i;
      }
      continue;
    }
    if ((ch & 0xC0) != 0x80) ++width;  // count lead bytes only
  }
  return width;
}

std::string RenderStatusLine(const StatusSnapshot& s, const RenderStyle& style) {
  const bool c = style.color;
  auto label = [&](std::string_view text) { return Styled(text, kDim, c); };
  auto value = [&](std::string_view text) { return Styled(text, kBold, c); };
  const std::string dash = "-";
  const bool failing = !s.problem.empty();

  std::vector<Segment> segments;
  const std::string dot = style.unicode ? "\u25CF" : "*";
  segments.push_back(
      {0, Styled(dot + (failing ? " RETRY" : " LIVE "), failing ? kRed : kGreen, c)});
  if (s.shop_hour >= 0) {
    segments.push_back({4, label("shop ") + value(DailyRhythm::FormatHour(s.shop_hour))});
  }
  segments.push_back(
      {0, label("sent ") + Styled(PadLeft(FormatRate(s.sent_per_second), 7), kGreen, c) +
              label("  acked ") + Styled(PadLeft(FormatRate(s.acked_per_second), 7), kGreen, c)});
  segments.push_back(
      {1, value(PadLeft(FormatCount(static_cast<double>(s.total_acked)), 6)) + label(" acked")});
  segments.push_back(
      {1, label("lake ") +
              value(PadLeft(s.lake.rows_in_lake < 0
                                ? dash
                                : FormatCount(static_cast<double>(s.lake.rows_in_lake)),
                            6)) +
              label(" rows")});
  {
    std::string fresh = dash;
    const char* colour = kBold;
    if (s.freshness_seconds) {
      fresh = FormatFreshness(*s.freshness_seconds);
      colour = *s.freshness_seconds <= 5 ? kGreen : *s.freshness_seconds <= 30 ? kYellow : kRed;
    }
    segments.push_back({1, label("fresh ") + Styled(PadLeft(fresh, 6), colour, c)});
  }
  segments.push_back({2, label("rejected ") + Styled(FormatCount(static_cast<double>(s.rejected)),
                                                     s.rejected > 0 ? kYellow : kBold, c)});
  segments.push_back(
      {2, label("dups ") + value(s.lake.duplicates_dropped < 0 ? dash
                                                               : FormatCount(static_cast<double>(
                                                                     s.lake.duplicates_dropped)))});
  if (s.orders > 0) {
    const std::string euro = style.unicode ? "\u20AC" : "EUR ";
    segments.push_back({5, label("orders ") + value(FormatCount(static_cast<double>(s.orders))) +
                               label(" ") + value(euro + FormatEuros(s.revenue_cents_eur))});
  }
  segments.push_back({3, label("up ") + value(FormatDuration(s.uptime_seconds))});

  const std::string separator = Styled(style.unicode ? " \u2502 " : " | ", kDim, c);
  const int separator_width = VisibleWidth(separator);
  auto total_width = [&](int extra) {
    int w = 1 + extra;  // leading space
    for (size_t i = 0; i < segments.size(); ++i) {
      w += VisibleWidth(segments[i].text) + (i > 0 ? separator_width : 0);
    }
    return w;
  };
  const int problem_reserve =
      failing ? std::min(kMinProblemColumns, VisibleWidth(s.problem)) + separator_width : 0;
  while (total_width(problem_reserve) > style.width) {
    // Drop the least important segment, the rightmost among equals; never the priority 0 ones.
    auto victim = segments.end();
    for (auto it = segments.begin(); it != segments.end(); ++it) {
      if (it->priority > 0 && (victim == segments.end() || it->priority >= victim->priority)) {
        victim = it;
      }
    }
    if (victim == segments.end()) break;
    segments.erase(victim);
  }

  std::string line = " ";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) line += separator;
    line += segments[i].text;
  }
  if (failing) {
    const int room = style.width - VisibleWidth(line) - separator_width;
    if (room > 0) {
      line += separator + Styled(TruncatePlain(s.problem, room, style.unicode), kRed, c);
    }
  }
  return line;
}

std::string RenderPlainStatusLine(const StatusSnapshot& s) {
  auto count = [](int64_t v) { return v < 0 ? std::string("-") : FormatCount(double(v)); };
  std::string line = "demo";
  if (s.shop_hour >= 0) line += " shop_time=" + DailyRhythm::FormatHour(s.shop_hour);
  line += " sent=" + FormatRate(s.sent_per_second);
  line += " acked=" + FormatRate(s.acked_per_second);
  line += " total_acked=" + FormatCount(static_cast<double>(s.total_acked));
  line += " lake_rows=" + count(s.lake.rows_in_lake);
  line += " freshness=" + (s.freshness_seconds ? FormatFreshness(*s.freshness_seconds) : "-");
  line += " rejected=" + FormatCount(static_cast<double>(s.rejected));
  line += " duplicates_dropped=" + count(s.lake.duplicates_dropped);
  line += " quarantined=" + count(s.lake.quarantined);
  line += " orders=" + FormatCount(static_cast<double>(s.orders));
  line += " revenue_eur=" + FormatEuros(s.revenue_cents_eur);
  line += " uptime=" + FormatDuration(s.uptime_seconds);
  if (!s.problem.empty()) line += " problem=\"" + s.problem + "\"";
  return line;
}

std::string RenderBanner(const LiveStatusLineOptions& options, bool color, bool unicode) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Dashboard", options.dashboard_url},
      {"Try SQL", options.sql_command},
  };
  rows.insert(rows.end(), options.extra_links.begin(), options.extra_links.end());
  rows.emplace_back("Stop", "Ctrl-C");
  size_t label_width = 0;
  for (const auto& [label, text] : rows) label_width = std::max(label_width, label.size());

  const std::string bullet = unicode ? "\u25B8 " : "> ";
  std::string out = "\n";
  out += "  " + Styled(bullet + "Basin is running with the demo shop", kBold, color) +
         Styled(unicode ? " \u2014 " : " - ", kDim, color) +
         "simulated visitors are browsing, carting and buying.\n\n";
  for (const auto& [label, text] : rows) {
    std::string padded = label;
    padded.resize(label_width, ' ');
    const bool is_url = text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0;
    out += "    " + Styled(padded, kDim, color) + "   " +
           Styled(text, is_url ? "\033[4;36m" : kCyan, color) + "\n";
  }
  out += "\n";
  return out;
}

LiveStatusLine::LiveStatusLine(LiveStatusLineOptions options, StatusSource* lake,
                               ShopStatsFunction shop)
    : options_(std::move(options)), lake_(lake), shop_(std::move(shop)) {
  if (options_.out == nullptr) options_.out = stdout;
  start_nanos_ = MonotonicNanos();
}

LiveStatusLine::~LiveStatusLine() { Stop(); }

void LiveStatusLine::Start() {
  if (thread_.joinable()) return;
  using Mode = LiveStatusLineOptions::Mode;
  terminal_ = options_.mode == Mode::kTerminal ||
              (options_.mode == Mode::kAuto && isatty(fileno(options_.out)) == 1);
  const char* term = std::getenv("TERM");
  const char* no_color = std::getenv("NO_COLOR");
  color_ = terminal_ && options_.color && (no_color == nullptr || *no_color == '\0') &&
           !(term != nullptr && std::string_view(term) == "dumb");
  unicode_ = options_.unicode && LocaleIsUtf8();
  start_nanos_ = MonotonicNanos();
  last_plain_nanos_ = start_nanos_;
  samples_.clear();

  Write(RenderBanner(options_, color_, unicode_));
  if (terminal_) {
    const auto [rows, columns] = TerminalSize(options_.out);
    if (rows >= 4) SetUpScrollRegion(rows);
  }
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void LiveStatusLine::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();

  const StatusSnapshot s = Sample();
  if (terminal_) {
    if (region_rows_ > 0) {
      ResetScrollRegion();
    } else {
      Write("\r\033[2K");
    }
  }
  std::string summary = "demo shop stopped after " + FormatDuration(s.uptime_seconds) + ": " +
                        FormatCount(static_cast<double>(s.total_sent)) + " events sent, " +
                        FormatCount(static_cast<double>(s.total_acked)) + " acknowledged, " +
                        FormatCount(static_cast<double>(s.rejected)) + " rejected";
  if (s.lake.rows_in_lake >= 0) {
    summary += ", " + FormatCount(static_cast<double>(s.lake.rows_in_lake)) + " rows in the lake";
  }
  Write(terminal_ ? summary + "\n"
                  : FormatIso8601Millis(SystemClock::Instance().NowMicros()) + " INFO [demo] " +
                        summary + "\n");
}

StatusSnapshot LiveStatusLine::Sample() {
  StatusSnapshot s;
  const int64_t now = MonotonicNanos();
  s.uptime_seconds = static_cast<double>(now - start_nanos_) / 1e9;
  ShopSimulatorStats shop;
  if (shop_) shop = shop_();
  if (lake_ != nullptr) {
    try {
      s.lake = lake_->Sample();
    } catch (const std::exception& e) {
      s.problem = std::string("status source failed: ") + e.what();
    }
  }
  s.total_sent = shop.events_sent;
  s.total_acked = shop.events_acked;
  s.rejected = shop.events_rejected;
  s.retries = shop.retries;
  s.orders = shop.purchases;
  s.revenue_cents_eur = shop.revenue_cents_eur;
  s.shop_hour = shop_ ? shop.shop_hour : -1;
  if (shop.newest_acked_event_ms > 0 && s.lake.newest_visible_event_time_us > 0) {
    const double lag_us = static_cast<double>(shop.newest_acked_event_ms) * 1000.0 -
                          static_cast<double>(s.lake.newest_visible_event_time_us);
    s.freshness_seconds = std::max(0.0, lag_us / 1e6);
  }
  if (shop.collector_failing && !shop.last_error.empty()) {
    s.problem = "collector: " + shop.last_error;
  }

  samples_.push_back({now, shop.events_sent, shop.events_acked});
  while (samples_.size() > 2 && now - samples_[1].nanos >= kRateWindowNanos) samples_.pop_front();
  const RateSample& oldest = samples_.front();
  const double span = static_cast<double>(now - oldest.nanos) / 1e9;
  if (span > 0.2) {
    s.sent_per_second = static_cast<double>(shop.events_sent - oldest.sent) / span;
    s.acked_per_second = static_cast<double>(shop.events_acked - oldest.acked) / span;
  }
  return s;
}

void LiveStatusLine::Run() {
  while (true) {
    Draw(Sample());
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(options_.refresh_ms), [&] { return stop_; })) {
      return;
    }
  }
}

void LiveStatusLine::Draw(const StatusSnapshot& snapshot) {
  if (!terminal_) {
    const int64_t now = MonotonicNanos();
    if (now - last_plain_nanos_ < int64_t{options_.plain_interval_ms} * 1'000'000) return;
    last_plain_nanos_ = now;
    Write(FormatIso8601Millis(SystemClock::Instance().NowMicros()) + " INFO [demo] " +
          RenderPlainStatusLine(snapshot) + "\n");
    return;
  }
  auto [rows, columns] = TerminalSize(options_.out);
  RenderStyle style;
  style.width = (columns > 0 ? columns : kDefaultColumns) - 1;  // never touch the last column
  style.color = color_;
  style.unicode = unicode_;
  const std::string line = RenderStatusLine(snapshot, style);
  if (region_rows_ > 0 && rows != region_rows_) {
    // The terminal was resized: move the pinned row to the new bottom.
    ResetScrollRegion();
    if (rows >= 4) SetUpScrollRegion(rows);
  }
  if (region_rows_ > 0) {
    Write("\0337\033[" + std::to_string(region_rows_) + ";1H\033[2K" + line + "\0338");
  } else {
    Write("\r\033[2K" + line);
  }
}

void LiveStatusLine::SetUpScrollRegion(int rows) {
  // A newline first makes room when the cursor sits on the last row; then confine scrolling to
  // rows 1..rows-1 (which homes the cursor, hence the save/restore) and step back up.
  Write("\n\0337\033[1;" + std::to_string(rows - 1) + "r\0338\033[1A");
  region_rows_ = rows;
}

void LiveStatusLine::ResetScrollRegion() {
  if (region_rows_ == 0) return;
  Write("\0337\033[r\0338\0337\033[" + std::to_string(region_rows_) + ";1H\033[2K\0338");
  region_rows_ = 0;
}

void LiveStatusLine::Write(const std::string& text) {
  // One fwrite per frame, so that other threads' output does not land inside an escape sequence.
  std::fwrite(text.data(), 1, text.size(), options_.out);
  std::fflush(options_.out);
}

}  // namespace basin::demo
