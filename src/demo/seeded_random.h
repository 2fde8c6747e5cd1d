#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/assert.h"

namespace basin::demo {

// A small, fast, seeded pseudo-random source (xoshiro256**, seeded through SplitMix64) with the
// draws the shop simulation needs. Written out here instead of using <random>'s distributions
// because those are implementation-defined: the demo catalog and visitors must come out the same
// on every platform and standard library, so that files generated from them later (products.csv)
// and the tests' expectations are reproducible. Not thread-safe; give each thread its own.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, 1).
  double Uniform();
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n);
  // Uniform in [lo, hi], inclusive.
  int64_t Between(int64_t lo, int64_t hi);
  double UniformBetween(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  bool Chance(double probability) { return Uniform() < probability; }
  // Standard normal (Box-Muller).
  double Normal();
  // exp(N(ln median, sigma)): the positive, right-skewed shape of dwell times and prices.
  double LogNormal(double median, double sigma);
  double Exponential(double mean);
  // Poisson-distributed count with the given mean (exact for small means, normal approximation
  // above 60, where the difference does not matter for arrivals).
  uint64_t Poisson(double mean);
  // A random RFC 4122 version-4 UUID in lower-case hex: "3f2a...-...-4...-[89ab]...-...".
  std::string Uuid();
  // `digits` lower-case hex characters.
  std::string Hex(int digits);
  // An independent generator derived from this one's seed and `stream`, so that adding draws in
  // one part of the simulation does not shift the numbers another part sees.
  SeededRandom Fork(uint64_t stream) const;

  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    BASIN_CHECK(!items.empty());
    return items[Below(items.size())];
  }
  template <typename T>
  void Shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[Below(i)]);
  }

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

// Draws indices with probability proportional to fixed non-negative weights, by binary search
// over the cumulative sums (O(log n) per draw). Immutable after construction; thread-safe to
// share, each caller passing its own SeededRandom.
class DiscreteSampler {
 public:
  DiscreteSampler() = default;
  // At least one weight must be positive.
  explicit DiscreteSampler(const std::vector<double>& weights);

  size_t Sample(SeededRandom& rng) const;
  size_t size() const { return cumulative_.size(); }
  double Probability(size_t index) const;

 private:
  std::vector<double> cumulative_;
};

}  // namespace basin::demo
