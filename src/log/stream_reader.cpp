#include "log/stream_reader.h"

#include <algorithm>

#include "log/segment_format.h"

namespace basin::log {

Status StreamReader::CorruptionAt(const std::string& what) const {
  return Error(ErrorCode::kCorruption, "stream " + stream_->name + ", segment " +
                                           SegmentFileName(segment_base_.value_or(0)) + ": " +
                                           what);
}

Status StreamReader::OpenSegment(uint64_t base_offset, const std::string& path, uint64_t data_end,
                                 IndexPoint start) {
  cursor_.reset();
  segment_base_.reset();
  Result<SegmentFile> file = SegmentFile::Open(path, false);
  if (!file.ok()) {
    if (file.status().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kNotFound, "segment " + SegmentFileName(base_offset) + " of stream " +
                                             stream_->name + " was deleted by retention");
    }
    return file.status();
  }
  file_ = std::move(file).value();
  segment_base_ = base_offset;
  char header[kSegmentHeaderSize];
  BASIN_ASSIGN_OR_RETURN(size_t got, file_.ReadAt(0, header, sizeof(header)));
  uint64_t header_base = 0;
  const HeaderDecode decoded = DecodeSegmentHeader(header, got, &header_base);
  if (decoded != HeaderDecode::kOk) return CorruptionAt(std::string(HeaderDecodeName(decoded)));
  if (header_base != base_offset) return CorruptionAt("header names another base offset");

  FrameCursor cursor(&file_, start.position, data_end);
  // Skip from the index point to the frame of next_offset_.
  for (uint64_t offset = start.offset; offset < next_offset_; ++offset) {
    const uint64_t position = cursor.position();
    Frame frame;
    BASIN_ASSIGN_OR_RETURN(FrameDecode result, cursor.Next(&frame));
    if (result != FrameDecode::kOk) {
      return CorruptionAt(std::string(FrameDecodeName(result)) + " at byte " +
                          std::to_string(position));
    }
    if (frame.offset != offset) {
      return CorruptionAt("offset " + std::to_string(frame.offset) + " where " +
                          std::to_string(offset) + " was expected");
    }
  }
  cursor_.emplace(cursor);
  return Status::Ok();
}

Result<std::vector<LogRecord>> StreamReader::ReadBatch(size_t max_records, size_t max_bytes) {
  std::vector<LogRecord> out;
  size_t bytes = 0;
  while (out.size() < max_records && (out.empty() || bytes < max_bytes)) {
    uint64_t segment_base = 0;
    uint64_t segment_end_offset = 0;  // first offset not in this segment (as far as published)
    uint64_t data_end = 0;
    std::string path;
    IndexPoint start{0, kSegmentHeaderSize};
    {
      std::lock_guard lock(stream_->mu);
      if (stream_->deleted) {
        return Error(ErrorCode::kStreamNotFound, "stream " + stream_->name + " was deleted");
      }
      if (next_offset_ < stream_->start_offset) {
        return Error(ErrorCode::kNotFound,
                     "offset " + std::to_string(next_offset_) + " of stream " + stream_->name +
                         " was deleted by retention; the stream now starts at " +
                         std::to_string(stream_->start_offset));
      }
      if (next_offset_ >= stream_->end_offset) break;
      const auto& segments = stream_->segments;
      auto it = std::upper_bound(
          segments.begin(), segments.end(), next_offset_,
          [](uint64_t offset, const SegmentEntry& s) { return offset < s.base_offset; });
      // start_offset == segments.front().base_offset <= next_offset_, so `it` is not begin().
      --it;
      segment_base = it->base_offset;
      segment_end_offset =
          std::next(it) == segments.end() ? stream_->end_offset : std::next(it)->base_offset;
      data_end = it->data_end;
      if (!cursor_ || segment_base_ != segment_base) {
        path = it->path;
        start.offset = segment_base;
        auto point = std::upper_bound(
            it->index.begin(), it->index.end(), next_offset_,
            [](uint64_t offset, const IndexPoint& p) { return offset < p.offset; });
        if (point != it->index.begin()) start = *std::prev(point);
      }
    }
    if (!cursor_ || segment_base_ != segment_base) {
      BASIN_RETURN_IF_ERROR(OpenSegment(segment_base, path, data_end, start));
    }
    cursor_->set_limit(data_end);
    while (next_offset_ < segment_end_offset && out.size() < max_records) {
      const uint64_t position = cursor_->position();
      Frame frame;
      BASIN_ASSIGN_OR_RETURN(FrameDecode result, cursor_->Next(&frame));
      // Everything below the published end was acknowledged, so it must all be there and whole.
      if (result != FrameDecode::kOk) {
        return CorruptionAt(std::string(FrameDecodeName(result)) + " at byte " +
                            std::to_string(position) + " (offset " + std::to_string(next_offset_) +
                            ")");
      }
      if (frame.offset != next_offset_) {
        return CorruptionAt("offset " + std::to_string(frame.offset) + " where " +
                            std::to_string(next_offset_) + " was expected at byte " +
                            std::to_string(position));
      }
      const size_t size = frame.key.size() + frame.data.size();
      if (!out.empty() && bytes + size > max_bytes) {
        cursor_->Seek(position);
        return out;
      }
      LogRecord& record = out.emplace_back();
      record.offset = frame.offset;
      record.shard = frame.shard;
      record.append_time_us = frame.append_time_us;
      record.partition_key.assign(frame.key);
      record.data.assign(frame.data);
      bytes += size;
      ++next_offset_;
    }
  }
  return out;
}

}  // namespace basin::log
