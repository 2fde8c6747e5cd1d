#include "log/stream_recovery.h"

#include <fcntl.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "base/file_util.h"
#include "base/logging.h"
#include "log/frame_cursor.h"
#include "log/segment_format.h"
#include "log/stream_meta.h"

namespace basin::log {
namespace {

constexpr uint64_t kMaxStreamJsonBytes = 64 << 10;

void Note(RecoveryReport::StreamRecovery* report, const std::string& note) {
  if (!report->reason.empty()) report->reason += "; ";
  report->reason += note;
}

// What scanning the last segment found.
struct TailScan {
  uint64_t valid_end = kSegmentHeaderSize;  // byte after the last good frame
  uint64_t next_offset = 0;
  std::optional<int64_t> max_append_time_us;
  std::vector<IndexPoint> index;
  std::string stop_reason;  // empty when it ended at an end marker or end of file
};

Result<TailScan> ScanTail(const SegmentFile& file, uint64_t base_offset, uint64_t file_size) {
  TailScan scan;
  scan.next_offset = base_offset;
  FrameCursor cursor(&file, kSegmentHeaderSize, std::max<uint64_t>(file_size, kSegmentHeaderSize));
  uint64_t next_index_pos = kSegmentHeaderSize + kIndexInterval;
  for (;;) {
    const uint64_t position = cursor.position();
    Frame frame;
    BASIN_ASSIGN_OR_RETURN(FrameDecode result, cursor.Next(&frame));
    if (result == FrameDecode::kEndMarker) break;
    if (result != FrameDecode::kOk) {
      scan.stop_reason =
          std::string(FrameDecodeName(result)) + " at byte " + std::to_string(position);
      break;
    }
    if (frame.offset != scan.next_offset) {
      scan.stop_reason = "offset " + std::to_string(frame.offset) + " where " +
                         std::to_string(scan.next_offset) + " was expected at byte " +
                         std::to_string(position);
      cursor.Seek(position);
      break;
    }
    if (position >= next_index_pos) {
      scan.index.push_back({frame.offset, position});
      next_index_pos = position + kIndexInterval;
    }
    scan.max_append_time_us =
        std::max(scan.max_append_time_us.value_or(frame.append_time_us), frame.append_time_us);
    ++scan.next_offset;
  }
  scan.valid_end = cursor.position();
  return scan;
}

}  // namespace

Result<std::shared_ptr<Stream>> RecoverStream(const std::string& stream_dir,
                                              const std::string& name, const LogOptions& options,
                                              RecoveryReport::StreamRecovery* report) {
  namespace fs = std::filesystem;
  report->stream = name;

  Result<std::string> json = ReadFile(stream_dir + "/stream.json", kMaxStreamJsonBytes);
  if (!json.ok()) return json.status().WithContext("stream.json");
  BASIN_ASSIGN_OR_RETURN(StreamMeta meta, StreamMeta::FromJson(*json));
  auto stream = std::make_shared<Stream>(name, stream_dir, meta.options, meta.created_time_us);

  std::vector<uint64_t> bases;
  std::error_code ec;
  for (fs::directory_iterator it(stream_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file_name = it->path().filename().string();
    if (file_name.ends_with(".tmp")) {
      // Left by a crash in the middle of a segment roll or a stream.json write: never the only
      // copy of anything (segments and stream.json appear under their names only when complete).
      std::error_code ignored;
      fs::remove(it->path(), ignored);
      Note(report, "removed leftover " + file_name);
      continue;
    }
    std::optional<uint64_t> base = ParseSegmentFileName(file_name);
    std::error_code type_ec;
    if (base && it->is_regular_file(type_ec)) bases.push_back(*base);
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + stream_dir);
  std::sort(bases.begin(), bases.end());

  if (bases.empty()) {
    // Created streams always have a segment, so someone removed them; offsets start over.
    BASIN_ASSIGN_OR_RETURN(
        SegmentFile created,
        SegmentFile::Create(stream_dir, 0, options.segment_bytes, options.durable));
    created.Close();
    bases.push_back(0);
    Note(report, "no segment files; the stream starts empty at offset 0");
  }

  uint64_t total_bytes = 0;
  for (size_t i = 0; i + 1 < bases.size(); ++i) {
    SegmentEntry entry;
    entry.base_offset = bases[i];
    entry.path = stream_dir + "/" + SegmentFileName(bases[i]);
    BASIN_ASSIGN_OR_RETURN(SegmentFile file, SegmentFile::Open(entry.path, false));
    BASIN_ASSIGN_OR_RETURN(entry.data_end, file.Size());
    char header[kSegmentHeaderSize];
    BASIN_ASSIGN_OR_RETURN(size_t got, file.ReadAt(0, header, sizeof(header)));
    uint64_t header_base = 0;
    const HeaderDecode decoded = DecodeSegmentHeader(header, got, &header_base);
    if (decoded != HeaderDecode::kOk || header_base != bases[i]) {
      Note(report, "sealed segment " + SegmentFileName(bases[i]) + " has a damaged header (" +
                       std::string(decoded == HeaderDecode::kOk ? "wrong base offset"
                                                                : HeaderDecodeName(decoded)) +
                       "); reading it will fail with Corruption");
    }
    total_bytes += entry.data_end;
    stream->segments.push_back(std::move(entry));
  }

  // The last segment: the only one a crash can leave torn, since a segment is synced and
  // trimmed before its successor is created.
  const uint64_t base = bases.back();
  const std::string path = stream_dir + "/" + SegmentFileName(base);
  BASIN_ASSIGN_OR_RETURN(SegmentFile file, SegmentFile::Open(path, true));
  BASIN_ASSIGN_OR_RETURN(uint64_t file_size, file.Size());
  // No readahead (8 MiB on some disks) into the preallocated zeros past the data: it costs time
  // and makes those pages look like data to FindDataEnd's SEEK_DATA.
  ::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_RANDOM);
  char header[kSegmentHeaderSize];
  BASIN_ASSIGN_OR_RETURN(size_t got, file.ReadAt(0, header, sizeof(header)));
  uint64_t header_base = 0;
  const HeaderDecode decoded = DecodeSegmentHeader(header, got, &header_base);
  const bool rewrite_header = decoded != HeaderDecode::kOk || header_base != base;
  if (rewrite_header) {
    // The name is authoritative (it orders the segments). Frames are still tried: their CRCs and
    // consecutive offsets from the name's base prove them, so a damaged header loses nothing.
    Note(report, "segment " + SegmentFileName(base) + ": " +
                     std::string(decoded == HeaderDecode::kOk ? "header names another base offset"
                                                              : HeaderDecodeName(decoded)) +
                     "; header rewritten");
  }

  BASIN_ASSIGN_OR_RETURN(TailScan scan, ScanTail(file, base, file_size));
  BASIN_ASSIGN_OR_RETURN(uint64_t garbage_end, FindDataEnd(file, scan.valid_end, file_size));
  const bool cut = garbage_end > scan.valid_end;
  if (cut) {
    report->bytes_truncated = garbage_end - scan.valid_end;
    Note(report,
         "cut " + std::to_string(report->bytes_truncated) + " bytes after offset " +
             std::to_string(scan.next_offset) + " in segment " + SegmentFileName(base) + ": " +
             (scan.stop_reason.empty() ? "non-zero bytes after the end marker" : scan.stop_reason));
  }
  if (rewrite_header) BASIN_RETURN_IF_ERROR(file.WriteAt(0, EncodeSegmentHeader(base)));
  // Cutting and re-preallocating leaves zeros after the valid prefix, so that no stale frame of
  // an unacknowledged group can ever line up behind later appends and reappear. Done even when
  // the scan saw only zeros: it is cheap, and correctness then does not rest on SEEK_DATA.
  if (file_size > scan.valid_end) BASIN_RETURN_IF_ERROR(file.Truncate(scan.valid_end));
  BASIN_RETURN_IF_ERROR(file.Preallocate(std::max(options.segment_bytes, scan.valid_end)));
  if ((cut || rewrite_header) && options.durable) BASIN_RETURN_IF_ERROR(file.Sync());

  SegmentEntry last;
  last.base_offset = base;
  last.path = path;
  last.data_end = scan.valid_end;
  last.max_append_time_us = scan.max_append_time_us;
  last.index = std::move(scan.index);
  total_bytes += last.data_end;
  stream->segments.push_back(std::move(last));

  stream->start_offset = stream->segments.front().base_offset;
  stream->end_offset = scan.next_offset;
  stream->active = std::move(file);
  stream->write_pos = scan.valid_end;
  stream->next_offset = scan.next_offset;
  stream->next_index_pos = stream->segments.back().index.empty()
                               ? kSegmentHeaderSize + kIndexInterval
                               : stream->segments.back().index.back().position + kIndexInterval;
  report->records_recovered = stream->end_offset - stream->start_offset;
  if (!report->reason.empty()) {
    BASIN_LOG(Warn, "log") << "stream " << name << " recovered " << report->records_recovered
                           << " records (" << total_bytes << " bytes): " << report->reason;
  }
  return stream;
}

}  // namespace basin::log
