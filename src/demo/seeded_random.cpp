#include "demo/seeded_random.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace basin::demo {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

SeededRandom::SeededRandom(uint64_t seed) : seed_(seed) {
  uint64_t state = seed;
  for (uint64_t& word : s_) word = SplitMix64(state);
}

uint64_t SeededRandom::Next() {
  const uint64_t result = RotateLeft(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = RotateLeft(s_[3], 45);
  return result;
}

double SeededRandom::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

uint64_t SeededRandom::Below(uint64_t n) {
  BASIN_CHECK(n > 0);
  // Modulo bias is below n / 2^64: invisible at the sizes used here.
  return Next() % n;
}

int64_t SeededRandom::Between(int64_t lo, int64_t hi) {
  BASIN_CHECK(lo <= hi);
  return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
}

double SeededRandom::Normal() {
  double u1 = Uniform();
  while (u1 <= 0.0) u1 = Uniform();
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double SeededRandom::LogNormal(double median, double sigma) {
  return median * std::exp(sigma * Normal());
}

double SeededRandom::Exponential(double mean) {
  double u = Uniform();
  while (u <= 0.0) u = Uniform();
  return -mean * std::log(u);
}

uint64_t SeededRandom::Poisson(double mean) {
  if (mean <= 0) return 0;
  if (mean > 60) {
    const double x = std::round(mean + std::sqrt(mean) * Normal());
    return x < 0 ? 0 : static_cast<uint64_t>(x);
  }
  // Knuth: multiply uniforms until the product drops below e^-mean.
  const double limit = std::exp(-mean);
  uint64_t k = 0;
  double product = Uniform();
  while (product > limit) {
    ++k;
    product *= Uniform();
  }
  return k;
}

std::string SeededRandom::Hex(int digits) {
  std::string out;
  out.reserve(digits);
  uint64_t bits = 0;
  for (int i = 0; i < digits; ++i) {
    if (i % 16 == 0) bits = Next();
    out.push_back(kHexDigits[bits & 0xF]);
    bits >>= 4;
  }
  return out;
}

std::string SeededRandom::Uuid() {
  std::string hex = Hex(32);
  hex[12] = '4';                             // version 4
  hex[16] = kHexDigits[8 + (Next() & 0x3)];  // variant 10xx
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

SeededRandom SeededRandom::Fork(uint64_t stream) const {
  uint64_t state = seed_ ^ (stream * 0xD1B54A32D192ED03ULL);
  return SeededRandom(SplitMix64(state) ^ stream);
}

DiscreteSampler::DiscreteSampler(const std::vector<double>& weights) {
  cumulative_.reserve(weights.size());
  double total = 0;
  for (double w : weights) {
    BASIN_CHECK(w >= 0);
    total += w;
    cumulative_.push_back(total);
  }
  BASIN_CHECK(total > 0);
}

size_t DiscreteSampler::Sample(SeededRandom& rng) const {
  BASIN_CHECK(!cumulative_.empty());
  const double target = rng.Uniform() * cumulative_.back();
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), target);
  // upper_bound skips zero-weight entries (equal cumulative sums); clamp for target == total.
  return std::min<size_t>(it - cumulative_.begin(), cumulative_.size() - 1);
}

double DiscreteSampler::Probability(size_t index) const {
  BASIN_CHECK(index < cumulative_.size());
  const double previous = index == 0 ? 0.0 : cumulative_[index - 1];
  return (cumulative_[index] - previous) / cumulative_.back();
}

}  // namespace basin::demo
