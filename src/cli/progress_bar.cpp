#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace basin::cli {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      enabled_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { Finish(); }

bool ProgressBar::Due() {
  if (!enabled_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return false;
  last_draw_ = now;
  return true;
}

void ProgressBar::Draw(const std::string& line) {
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!Due() || total == 0) return;
  constexpr int kWidth = 30;
  const double fraction = done >= total ? 1.0 : static_cast<double>(done) / total;
  const int filled = static_cast<int>(fraction * kWidth);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double mb_per_s = seconds > 0 ? done / seconds / 1e6 : 0;
  char tail[64];
  std::snprintf(tail, sizeof(tail), "] %3d%%  %.1f MB/s", static_cast<int>(fraction * 100),
                mb_per_s);
  Draw(label_ + "  [" + std::string(filled, '#') + std::string(kWidth - filled, ' ') + tail);
}

void ProgressBar::Stage(const std::string& stage, int64_t rows) {
  if (!Due()) return;
  Draw(label_ + "  " + stage + "  " + WithThousands(rows) + " rows");
}

void ProgressBar::Finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace basin::cli
