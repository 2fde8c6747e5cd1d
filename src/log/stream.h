#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "log/log.h"
#include "log/segment_file.h"
#include "log/shard_router.h"

namespace basin::observe {
class Counter;
}

namespace basin::log {

// A sparse index point: the frame of `offset` starts at byte `position` of its segment.
struct IndexPoint {
  uint64_t offset = 0;
  uint64_t position = 0;
};

// One segment file as the published state knows it.
struct SegmentEntry {
  uint64_t base_offset = 0;
  std::string path;
  // Bytes of header and durable frames. For the active segment this is the published durable
  // end; readers never read at or past it.
  uint64_t data_end = 0;
  // Newest append time in the segment; unknown for sealed segments found on disk at Open until
  // retention scans them.
  std::optional<int64_t> max_append_time_us;
  // Every ~64 KiB of frames, for positioning readers without scanning from the header. Empty for
  // segments found sealed at Open.
  std::vector<IndexPoint> index;
};

struct StreamCounters {
  observe::Counter* append_requests = nullptr;
  observe::Counter* records = nullptr;
  observe::Counter* bytes = nullptr;
  observe::Counter* fsyncs = nullptr;
};

// All in-memory state of one stream, shared by the Log, its writer thread and LogReaders (by
// shared_ptr, so a reader stays valid after DeleteStream or Log destruction). Created by
// RecoverStream (stream_recovery.h); internal to the log subsystem.
//
// Locking, in this order when nested: `write_mu` (writer thread for a whole group commit, and
// DeleteStream), then `mu` (short sections that publish or snapshot state). `retention_mu`
// serialises ApplyRetention calls and is never held with `write_mu`.
struct Stream {
  Stream(std::string name_in, std::string dir_in, StreamOptions options_in, int64_t created)
      : name(std::move(name_in)),
        dir(std::move(dir_in)),
        options(options_in),
        created_time_us(created),
        router(options_in.shard_count) {}

  const std::string name;
  const std::string dir;
  const StreamOptions options;
  const int64_t created_time_us;
  const ShardRouter router;
  StreamCounters counters;  // set once before the stream is shared

  // Published state (guarded by `mu`).
  mutable std::mutex mu;
  std::deque<SegmentEntry> segments;  // oldest first; back() is the active segment
  uint64_t start_offset = 0;
  uint64_t end_offset = 0;  // everything below is durable and readable
  bool deleted = false;

  // Writer state (guarded by `write_mu`).
  std::mutex write_mu;
  SegmentFile active;
  uint64_t write_pos = 0;    // == segments.back().data_end
  uint64_t next_offset = 0;  // == end_offset
  uint64_t next_index_pos = 0;
  // True once the active segment was sealed for a roll that then failed: nothing more may be
  // written to it (its successor may already exist on disk), so the next group rolls first.
  bool sealed = false;
  // Non-ok once a failed group could not be undone: appends fail with Unavailable until reopen.
  Status failure;

  std::mutex retention_mu;
};

}  // namespace basin::log
