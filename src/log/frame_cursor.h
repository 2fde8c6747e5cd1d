#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "log/segment_file.h"
#include "log/segment_format.h"

namespace basin::log {

// Walks the frames of one segment file in order with buffered preads, never reading at or past
// `limit` (the end of the bytes the caller trusts: the file size for recovery, the published
// durable end for readers). Used by recovery, retention and LogReader. Does not own the file,
// which must outlive it. Not thread-safe.
class FrameCursor {
 public:
  FrameCursor(const SegmentFile* file, uint64_t position, uint64_t limit)
      : file_(file), position_(position), limit_(limit) {}

  // Decodes the frame at position(). On kOk, `frame` is filled (its views stay valid until the
  // next call) and position() moves past it; on any other result position() stays put.
  // kEndMarker here also covers reaching `limit` exactly. An I/O error is a Status.
  Result<FrameDecode> Next(Frame* frame);

  uint64_t position() const { return position_; }
  uint64_t limit() const { return limit_; }
  // Moves back or forward to a frame boundary the caller knows (an earlier position()).
  void Seek(uint64_t position) { position_ = position; }
  void set_limit(uint64_t limit) { limit_ = limit; }

 private:
  // Makes [position_, position_ + size) buffered, or as much of it as the file holds.
  Status Fill(size_t size);
  size_t Buffered() const;

  const SegmentFile* file_;
  uint64_t position_;
  uint64_t limit_;
  std::string buffer_;
  uint64_t buffer_start_ = 0;
};

}  // namespace basin::log
