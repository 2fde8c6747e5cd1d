#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "log/frame_cursor.h"
#include "log/log.h"
#include "log/segment_file.h"
#include "log/stream.h"

namespace basin::log {

// The LogReader that Log::OpenReader hands out: reads one stream's acknowledged records with
// pread on its own file descriptor, one segment at a time, following rolls. Each ReadBatch takes
// a snapshot of the published state (durable end offset, segment list, durable byte end of the
// segment it reads) under the stream's mutex and then reads without locks: bytes below the
// published end never change, so the writer may append concurrently. Not thread-safe (one per
// consumer); keeps the Stream alive through its shared_ptr.
class StreamReader final : public LogReader {
 public:
  StreamReader(std::shared_ptr<Stream> stream, uint64_t from_offset)
      : stream_(std::move(stream)), next_offset_(from_offset) {}

  Result<std::vector<LogRecord>> ReadBatch(size_t max_records, size_t max_bytes) override;
  uint64_t position() const override { return next_offset_; }

 private:
  // Opens the segment starting at `base_offset` and positions the cursor at next_offset_.
  Status OpenSegment(uint64_t base_offset, const std::string& path, uint64_t data_end,
                     IndexPoint start);
  Status CorruptionAt(const std::string& what) const;

  std::shared_ptr<Stream> stream_;
  uint64_t next_offset_;
  SegmentFile file_;
  std::optional<uint64_t> segment_base_;  // of file_, when one is open
  std::optional<FrameCursor> cursor_;     // at the frame of next_offset_, when one is open
};

}  // namespace basin::log
