#include "observe/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>

#include "base/assert.h"

namespace basin::observe {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, and names starting with "__" are reserved.
bool IsValidLabelName(const std::string& name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

void CheckLabels(const Labels& labels) {
  for (const auto& [name, value] : labels) BASIN_CHECK(IsValidLabelName(name));
}

// Shortest round-trip form, independent of the C locale (std::to_chars never uses it), with
// the spellings Prometheus expects for the special values.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    BASIN_CHECK(ec == std::errc());
    out.append(buf, end);
  }
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  BASIN_CHECK(ec == std::errc());
  out.append(buf, end);
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void AppendEscaped(std::string& out, const std::string& s, bool escape_quote) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        if (escape_quote) {
          out += "\\\"";
        } else {
          out.push_back(c);
        }
        break;
      default: out.push_back(c);
    }
  }
}

// `{a="x",b="y"}`, with an optional extra `le` label last; nothing at all when there are none.
void AppendLabels(std::string& out, const Labels& labels,
                  std::optional<std::string_view> le = std::nullopt) {
  if (labels.empty() && !le) return;
  out.push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out += name;
    out += "=\"";
    AppendEscaped(out, value, /*escape_quote=*/true);
    out.push_back('"');
  }
  if (le) {
    if (!first) out.push_back(',');
    out += "le=\"";
    out += *le;
    out.push_back('"');
  }
  out.push_back('}');
}

// Drops a trailing +Inf (the implicit last bucket) and checks the rest ascend strictly.
std::vector<double> NormalizeBounds(std::vector<double> bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    BASIN_CHECK(std::isfinite(bounds[i]));
    if (i > 0) BASIN_CHECK(bounds[i - 1] < bounds[i]);
  }
  return bounds;
}

}  // namespace

void Gauge::Add(double d) {
  // A CAS loop rather than atomic<double>::fetch_add, which compiles to the same loop anyway and
  // is not lock-free on every target.
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(NormalizeBounds(std::move(upper_bounds))),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // Bucket i counts bounds_[i-1] < v <= bounds_[i] (Prometheus `le` semantics); NaN goes to +Inf.
  const size_t i = std::isnan(v)
                       ? bounds_.size()
                       : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                             bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

double Histogram::Quantile(double q) const {
  const std::vector<uint64_t> cumulative = CumulativeCounts();
  const uint64_t total = cumulative.back();
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total);
  // The first non-empty bucket whose cumulative count reaches the rank holds the quantile.
  size_t i = 0;
  uint64_t below = 0;
  for (; i < cumulative.size(); ++i) {
    const uint64_t in_bucket = cumulative[i] - below;
    if (in_bucket > 0 && static_cast<double>(cumulative[i]) >= rank) break;
    below = cumulative[i];
  }
  if (i >= bounds_.size()) {
    // The +Inf bucket has no upper edge to interpolate towards; like Prometheus'
    // histogram_quantile, answer the largest finite bound (or the mean when there is none).
    return bounds_.empty() ? sum() / static_cast<double>(total) : bounds_.back();
  }
  const double upper = bounds_[i];
  // The first bucket starts at 0 unless its bound is negative (then there is no lower edge).
  const double lower = i > 0 ? bounds_[i - 1] : std::min(0.0, upper);
  const double in_bucket = static_cast<double>(cumulative[i] - below);
  const double fraction = (rank - static_cast<double>(below)) / in_bucket;
  return lower + (upper - lower) * std::clamp(fraction, 0.0, 1.0);
}

std::vector<double> Histogram::LatencySeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> Histogram::SizeBytes() {
  std::vector<double> bounds;
  for (double b = 64; b <= 64.0 * 1024 * 1024; b *= 4) bounds.push_back(b);
  return bounds;
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(const std::string& name,
                                                    const std::string& help, Kind kind) {
  BASIN_CHECK(IsValidMetricName(name));
  auto [it, inserted] = families_.try_emplace(name);
  Family& family = it->second;
  if (inserted) {
    family.kind = kind;
    family.help = help;
  } else {
    // One name, one kind: a second registration with another kind is a programming error.
    BASIN_CHECK(family.kind == kind);
  }
  return family;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& family = GetFamily(name, help, Kind::kCounter);
  auto& slot = family.counters[labels];
  if (!slot) {
    CheckLabels(labels);
    slot = std::make_unique<Counter>();
  }
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& family = GetFamily(name, help, Kind::kGauge);
  auto& slot = family.gauges[labels];
  if (!slot) {
    CheckLabels(labels);
    slot = std::make_unique<Gauge>();
  }
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> upper_bounds, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& family = GetFamily(name, help, Kind::kHistogram);
  auto& slot = family.histograms[labels];
  if (!slot) {
    CheckLabels(labels);
    BASIN_CHECK(!labels.contains("le"));  // reserved for the bucket bound
    slot = std::make_unique<Histogram>(std::move(upper_bounds));
  } else {
    // The same series asked for with other buckets is a programming error.
    BASIN_CHECK(slot->upper_bounds() == NormalizeBounds(std::move(upper_bounds)));
  }
  return *slot;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  std::lock_guard lock(mu_);
  out.reserve(families_.size() * 128);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out.push_back(' ');
    AppendEscaped(out, family.help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += name;
    switch (family.kind) {
      case Kind::kCounter:
        out += " counter\n";
        for (const auto& [labels, counter] : family.counters) {
          out += name;
          AppendLabels(out, labels);
          out.push_back(' ');
          AppendUint(out, counter->value());
          out.push_back('\n');
        }
        break;
      case Kind::kGauge:
        out += " gauge\n";
        for (const auto& [labels, gauge] : family.gauges) {
          out += name;
          AppendLabels(out, labels);
          out.push_back(' ');
          AppendDouble(out, gauge->value());
          out.push_back('\n');
        }
        break;
      case Kind::kHistogram:
        out += " histogram\n";
        for (const auto& [labels, histogram] : family.histograms) {
          const std::vector<uint64_t> cumulative = histogram->CumulativeCounts();
          const std::vector<double>& bounds = histogram->upper_bounds();
          std::string le;
          for (size_t i = 0; i <= bounds.size(); ++i) {
            le.clear();
            AppendDouble(le, i < bounds.size() ? bounds[i] : kInf);
            out += name;
            out += "_bucket";
            AppendLabels(out, labels, le);
            out.push_back(' ');
            AppendUint(out, cumulative[i]);
            out.push_back('\n');
          }
          out += name;
          out += "_sum";
          AppendLabels(out, labels);
          out.push_back(' ');
          AppendDouble(out, histogram->sum());
          out.push_back('\n');
          // _count from the buckets rather than count_, so that it always equals the +Inf
          // bucket even while Observe() runs concurrently.
          out += name;
          out += "_count";
          AppendLabels(out, labels);
          out.push_back(' ');
          AppendUint(out, cumulative.back());
          out.push_back('\n');
        }
        break;
    }
  }
  return out;
}

}  // namespace basin::observe
