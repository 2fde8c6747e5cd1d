#pragma once

#include <atomic>
#include <cstdint>

namespace basin {

// Wall-clock time in microseconds since the Unix epoch. Components take a Clock& so that tests
// can move time by hand. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const = 0;
  int64_t NowMillis() const { return NowMicros() / 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  static SystemClock& Instance();
};

// A clock that only moves when told to; for tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  void Advance(int64_t micros) { now_ += micros; }
  void Set(int64_t micros) { now_ = micros; }

 private:
  std::atomic<int64_t> now_;
};

// Monotonic nanoseconds, for measuring durations.
int64_t MonotonicNanos();

}  // namespace basin
