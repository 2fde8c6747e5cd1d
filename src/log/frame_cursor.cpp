#include "log/frame_cursor.h"

#include <algorithm>

namespace basin::log {
namespace {
// Large enough that small records cost a fraction of a pread each.
constexpr size_t kReadChunk = 256 << 10;
}  // namespace

size_t FrameCursor::Buffered() const {
  if (position_ < buffer_start_ || position_ >= buffer_start_ + buffer_.size()) return 0;
  return static_cast<size_t>(buffer_start_ + buffer_.size() - position_);
}

Status FrameCursor::Fill(size_t size) {
  if (Buffered() >= size) return Status::Ok();
  // Re-read from position_: the bytes below limit_ never change, so rereading the unconsumed
  // tail of the old buffer is harmless and keeps this simple.
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(std::max(size, kReadChunk), limit_ - position_));
  buffer_.resize(want);
  buffer_start_ = position_;
  Result<size_t> got = file_->ReadAt(position_, buffer_.data(), want);
  if (!got.ok()) {
    buffer_.clear();
    return got.status();
  }
  buffer_.resize(*got);
  return Status::Ok();
}

Result<FrameDecode> FrameCursor::Next(Frame* frame) {
  if (position_ >= limit_) return FrameDecode::kEndMarker;
  const uint64_t left = limit_ - position_;
  BASIN_RETURN_IF_ERROR(Fill(static_cast<size_t>(std::min<uint64_t>(kFrameHeaderSize, left))));
  size_t avail = Buffered();
  if (avail >= kFrameHeaderSize) {
    // Peek at body_len to know how much to buffer; DecodeFrame validates it again.
    const auto* p = reinterpret_cast<const uint8_t*>(buffer_.data() + (position_ - buffer_start_));
    const uint64_t body_len = static_cast<uint64_t>(p[0]) | (static_cast<uint64_t>(p[1]) << 8) |
                              (static_cast<uint64_t>(p[2]) << 16) |
                              (static_cast<uint64_t>(p[3]) << 24);
    if (body_len <= kMaxFrameBodySize) {
      const uint64_t need = std::min<uint64_t>(kFrameHeaderSize + body_len, left);
      BASIN_RETURN_IF_ERROR(Fill(static_cast<size_t>(need)));
      avail = Buffered();
    }
  }
  avail = static_cast<size_t>(std::min<uint64_t>(avail, left));
  size_t size = 0;
  const FrameDecode result =
      DecodeFrame(buffer_.data() + (position_ - buffer_start_), avail, frame, &size);
  if (result == FrameDecode::kOk) position_ += size;
  return result;
}

}  // namespace basin::log
