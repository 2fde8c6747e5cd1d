#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace basin::observe {

// Label pairs, e.g. {{"stream", "clickstream"}}. Order does not matter.
using Labels = std::map<std::string, std::string>;

// A monotonically increasing count. Lock-free; thread-safe.
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Lock-free; thread-safe.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A distribution over fixed upper bounds (Prometheus histogram: cumulative buckets, sum, count).
// Observe() is lock-free; thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Count of observations <= bounds[i] (cumulative), one per bound, then +Inf.
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // Estimated quantile (0..1) by linear interpolation within the bucket; 0 if empty.
  double Quantile(double q) const;

  // Bounds for latencies in seconds: 100 µs … 10 s.
  static std::vector<double> LatencySeconds();
  // Bounds for sizes in bytes: 64 B … 64 MiB, powers of 4.
  static std::vector<double> SizeBytes();

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// All of a process's metrics, by name and labels. Getting a metric creates it on first use and
// returns the same object after; the returned references stay valid for the registry's life, so
// hot paths look a metric up once and keep the reference. Thread-safe.
//
// Names follow Prometheus conventions: basin_<subsystem>_<what>_<unit>, counters end in _total.
class MetricsRegistry {
 public:
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          std::vector<double> upper_bounds, const Labels& labels = {});

  // The Prometheus text exposition format, version 0.0.4: # HELP and # TYPE once per family,
  // then one line per series; families sorted by name.
  std::string RenderPrometheus() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& GetFamily(const std::string& name, const std::string& help, Kind kind);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace basin::observe
