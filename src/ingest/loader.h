#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "ingest/dedup_index.h"
#include "ingest/record_format.h"
#include "log/log.h"

namespace basin::observe {
class MetricsRegistry;
class Counter;
class Gauge;
class Histogram;
}  // namespace basin::observe

namespace basin::query {
class ParquetFileWriter;
}

namespace basin::ingest {

struct RecordEnvelope;

struct LoaderOptions {
  std::string stream = "clickstream";
  RecordFormat format = RecordFormat::kClickstream;
  catalog::TableRef table{"raw", "clickstream"};
  catalog::TableRef quarantine_table{"quarantine", "clickstream"};
  std::string consumer = "loader";
  std::string lake_root;  // absolute folder of the lake
  // Buffer hints, as Firehose has them: a batch is committed when it holds this many bytes or
  // records, or when its oldest record has waited this long, whichever comes first.
  uint64_t buffer_bytes = 32ULL << 20;
  uint64_t buffer_records = 100'000;
  int64_t buffer_interval_ms = 2'000;
  int64_t idle_poll_ms = 50;                // how often to look for new records when idle
  int64_t dedup_window_us = 3'600'000'000;  // ids remembered for an hour …
  size_t dedup_max_entries = 500'000;       // … or this many, whichever is less
  int64_t retry_backoff_ms = 1'000;         // after a failed commit (disk full, …)
  int64_t stop_drain_ms = 5'000;            // Stop() keeps loading the backlog this long at most
};

// The options of the loader of `stream` in `format`: kClickstream loads into raw.clickstream,
// kRecords into StreamRecordsTable(stream); the quarantine is catalog::QuarantineTableFor.
LoaderOptions LoaderOptionsFor(const std::string& stream, RecordFormat format);

// The Firehose part: turns committed log records of one stream into Parquet files in the lake.
//
// Reads the stream from the consumer offset the catalog holds and makes a row of each record as
// its RecordFormat says. kClickstream parses and types each event, drops event ids already
// committed (DedupIndex) and repeated within the batch, and buffers rows per (dt, hour)
// partition of the event time; kRecords keeps every record (JSON payload in `data`, anything
// else base64 in `data_base64`) per (dt, hour) of its ingest time. When a buffer hint is reached it
// writes one file per partition (plus a quarantine file for records that cannot be typed) and
// commits all of them together with the new consumer offset in one catalog transaction. On start it
// deletes files no commit refers to (a crash between write and commit) and resumes from the
// committed offset, so every acknowledged record lands exactly once whatever the crash point.
//
// One thread per loader. Flush() and Stop() may be called from any thread.
class Loader {
 public:
  // AlreadyExists for kRecords when the table (or its quarantine) exists with other columns:
  // it belongs to something else (a batch table such as raw.orders).
  static Result<std::unique_ptr<Loader>> Start(log::Log* log, catalog::Catalog* catalog,
                                               LoaderOptions options, Clock* clock,
                                               observe::MetricsRegistry* metrics);
  ~Loader();

  // Returns once every record acknowledged before the call is committed to the lake;
  // Unavailable if that takes longer than `timeout_ms` (e.g. the disk is full).
  Status Flush(int64_t timeout_ms);
  // Keeps loading the backlog for up to stop_drain_ms, commits what it holds and stops the
  // thread; records not loaded yet stay in the log for the next start. Idempotent.
  void Stop();

  struct Stats {
    uint64_t committed_offset = 0;
    uint64_t rows_committed = 0;
    uint64_t duplicates_dropped = 0;
    uint64_t records_quarantined = 0;
    uint64_t files_written = 0;
    uint64_t commits = 0;
    int64_t last_commit_time_us = 0;
    int64_t max_event_time_us = 0;  // newest event time committed (what SQL can see)
  };
  Stats stats() const;

 private:
  struct PartitionStats {
    int64_t rows = 0;
    int64_t min_time_us = 0;
    int64_t max_time_us = 0;
  };

  Loader(log::Log* log, catalog::Catalog* catalog, LoaderOptions options, Clock* clock,
         observe::MetricsRegistry* metrics);
  Status Init();
  // AlreadyExists if `ref` exists with another schema (kRecords: the table is not this
  // stream's to write).
  Status CheckTableIsFree(const catalog::TableRef& ref, const catalog::TableSchema& schema) const;
  Status RemoveOrphanFiles(const catalog::TableInfo& table);
  Status RebuildDedupIndex();
  void Run();
  // Reads and buffers records; returns true if it read any.
  Result<bool> ReadSome();
  void Buffer(const log::LogRecord& record);
  void BufferEvent(const log::LogRecord& record, const RecordEnvelope& envelope);
  void BufferRecord(const log::LogRecord& record, const RecordEnvelope& envelope);
  // Counts a buffered row into its (dt, hour) partition by `time_us` (event or ingest time).
  void CountRow(int64_t time_us);
  void Quarantine(const log::LogRecord& record, std::string_view payload, const Status& why);
  bool ShouldCommit(bool flush_wanted) const;
  Status Commit();
  void ResetBuffers();
  std::string NewFilePath(const catalog::TableInfo& table, const std::string& partition) const;

  log::Log* log_;
  catalog::Catalog* catalog_;
  LoaderOptions options_;
  Clock* clock_;

  catalog::TableInfo table_;
  catalog::TableInfo quarantine_table_;
  std::unique_ptr<log::LogReader> reader_;
  std::unique_ptr<query::ParquetFileWriter> rows_;
  std::unique_ptr<query::ParquetFileWriter> quarantined_;
  std::map<std::string, PartitionStats> partitions_;  // of the buffered rows
  PartitionStats quarantine_stats_;
  std::vector<std::pair<DedupIndex::Key, int64_t>> pending_keys_;  // ids buffered, uncommitted
  std::unordered_set<DedupIndex::Key, DedupIndex::KeyHash> pending_set_;  // the same, to look up
  DedupIndex committed_keys_;
  uint64_t committed_offset_ = 0;  // everything below is in the lake
  uint64_t buffered_bytes_ = 0;
  uint64_t buffered_records_ = 0;
  uint64_t pending_duplicates_ = 0;
  int64_t oldest_buffered_us_ = 0;  // monotonic time the batch started; 0 when empty

  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t stop_deadline_ns_ = 0;  // monotonic; set by Stop()
  uint64_t flush_target_ = 0;     // Flush() callers wait until committed_offset_ >= this
  Status last_error_;
  Stats stats_;

  observe::Counter* rows_total_ = nullptr;
  observe::Counter* duplicates_total_ = nullptr;
  observe::Counter* quarantined_total_ = nullptr;
  observe::Counter* commits_total_ = nullptr;
  observe::Counter* commit_failures_total_ = nullptr;
  observe::Gauge* lag_records_ = nullptr;
  observe::Histogram* commit_seconds_ = nullptr;
};

// The columns of a loader's quarantine table: the original record, the rule it failed, why, the
// log offset it came from, and when.
const std::vector<catalog::Column>& QuarantineColumns();

}  // namespace basin::ingest
