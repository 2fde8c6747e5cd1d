#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "log/shard_router.h"

namespace basin::observe {
class MetricsRegistry;
}

namespace basin::log {

// One record to append. The shard comes from the partition key (or the explicit hash key).
struct RecordInput {
  std::string partition_key;
  std::string data;
  std::optional<Uint128> explicit_hash_key;
};

// A durable record as read back. `offset` is the record's position in its stream: 0, 1, 2, ...
// across all shards, strictly increasing in append order (so also per shard; Kinesis sequence
// numbers are derived from it).
struct LogRecord {
  uint64_t offset = 0;
  uint32_t shard = 0;
  int64_t append_time_us = 0;  // server clock when the batch was appended
  std::string partition_key;
  std::string data;
};

// What an append got: records [first_offset, first_offset + shards.size()) in request order.
struct AppendAck {
  uint64_t first_offset = 0;
  int64_t append_time_us = 0;
  std::vector<uint32_t> shards;  // the shard of each record, in request order
};
using AppendCallback = std::function<void(Result<AppendAck>)>;

struct StreamOptions {
  uint32_t shard_count = 1;      // 1 … 1024
  int64_t retention_hours = 24;  // records older than this may be deleted …
  uint64_t retention_bytes = 0;  // … or beyond this total size (0 = no size limit)
};

struct StreamInfo {
  std::string name;
  StreamOptions options;
  int64_t created_time_us = 0;
  uint64_t start_offset = 0;  // oldest offset still in the log (after retention)
  uint64_t end_offset = 0;    // next offset to be assigned; everything below it is durable
  uint64_t size_bytes = 0;    // on disk
  uint32_t segment_count = 0;
};

// The steps of a group commit (and of the segment roll that may precede it) where a test can
// inject a failure through LogOptions::fault_hook. kBeforeRollback fails the undo of a failed
// group, which leaves the stream unavailable for appends.
enum class FaultPoint {
  kBeforeRoll,
  kAfterRoll,
  kBeforeWrite,
  kAfterWrite,
  kBeforeSync,
  kAfterSync,
  kBeforeRollback,
};

struct LogOptions {
  std::string dir;                         // holds one folder per stream
  uint64_t segment_bytes = 64ULL << 20;    // roll to a new segment file past this size
  bool durable = true;                     // fdatasync before acknowledging (tests may turn off)
  uint64_t max_record_bytes = 1ULL << 20;  // a larger record is rejected with RecordTooLarge
  Clock* clock = &SystemClock::Instance();
  observe::MetricsRegistry* metrics = nullptr;  // optional: log_* counters and histograms
  // Tests only (empty in production): called on the writer thread at each FaultPoint; a non-ok
  // Status makes that step fail with it exactly as a real I/O error would.
  std::function<Status(FaultPoint)> fault_hook;
};

// What recovery found when the log was opened: per stream, the bytes cut off a torn or corrupt
// tail. Recovery never fails on garbage in a segment; it keeps the valid prefix.
struct RecoveryReport {
  struct StreamRecovery {
    std::string stream;
    uint64_t records_recovered = 0;
    uint64_t bytes_truncated = 0;
    std::string reason;  // empty when the tail was clean
  };
  std::vector<StreamRecovery> streams;
};

class LogReader;

// The durable, segmented log: named streams, each with N shards routed as Kinesis does.
//
// Appends from any thread are queued to one writer thread, which writes everything queued, calls
// fdatasync once per stream touched, and only then completes the callbacks: group commit. An
// acknowledgement therefore always means "on disk". Callbacks run on the writer thread and must
// be quick (post the real work elsewhere). Readers see only acknowledged records.
//
// Thread-safe. Byte format: docs/formats/log.md.
class Log {
 public:
  static Result<std::unique_ptr<Log>> Open(LogOptions options);
  ~Log();  // Close()s
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // AlreadyExists, or InvalidArgument for a bad name (1-128 chars of [a-zA-Z0-9_.-]) or options.
  Status CreateStream(const std::string& name, const StreamOptions& options);
  Status DeleteStream(const std::string& name);  // StreamNotFound
  std::vector<StreamInfo> ListStreams() const;
  Result<StreamInfo> DescribeStream(const std::string& name) const;
  bool HasStream(const std::string& name) const;

  // Queues records for the next group commit. The callback gets StreamNotFound, RecordTooLarge,
  // ShuttingDown, DiskFull or IoError (nothing acknowledged) or the ack. An empty batch is acked
  // at once.
  void AppendAsync(const std::string& stream, std::vector<RecordInput> records,
                   AppendCallback callback);
  // Blocking form of AppendAsync.
  Result<AppendAck> Append(const std::string& stream, std::vector<RecordInput> records);

  // A reader positioned at `from_offset` (clamped to the stream's start offset).
  Result<std::unique_ptr<LogReader>> OpenReader(const std::string& stream,
                                                uint64_t from_offset) const;

  // Deletes whole segments that are past the retention age or size, but never one holding
  // offsets >= `keep_from_offset` (what a consumer, such as the loader, still needs).
  // Returns the number of segments deleted.
  Result<uint32_t> ApplyRetention(const std::string& stream, uint64_t keep_from_offset);

  const RecoveryReport& recovery_report() const;

  // Stops accepting appends (they fail with ShuttingDown), commits what is queued, joins the
  // writer thread. Idempotent.
  void Close();

 private:
  struct Impl;
  explicit Log(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class LogReader;
};

// Reads acknowledged records of one stream in offset order. Not thread-safe; one per consumer.
// Stays valid while segments are appended; a segment deleted by retention under a reader makes
// the next read return NotFound.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Up to `max_records` records / about `max_bytes` bytes from the current position; an empty
  // vector when the reader has caught up with the acknowledged end. Corruption if a frame inside
  // the acknowledged range fails its CRC.
  virtual Result<std::vector<LogRecord>> ReadBatch(size_t max_records, size_t max_bytes) = 0;
  // Offset of the next record ReadBatch returns.
  virtual uint64_t position() const = 0;
};

}  // namespace basin::log
