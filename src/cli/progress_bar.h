#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/number_format.h"

namespace basin::cli {

// A one-line progress bar on stderr for long CLI work (a large file, a pipeline run). It draws
// only when stderr is a terminal, at most 10 times a second, and Finish() clears it so that the
// summary line that follows stands alone. Not thread-safe.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  ~ProgressBar();  // Finish()

  // Work with a known size: "orders.csv  [######    ]  61%  48.2 MB/s".
  void Update(uint64_t done, uint64_t total);
  // Work without a known size: "orders  cleaning  12,345 rows".
  void Stage(const std::string& stage, int64_t rows);
  void Finish();

 private:
  bool Due();
  void Draw(const std::string& line);

  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace basin::cli
