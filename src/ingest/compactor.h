#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"

namespace basin::observe {
class MetricsRegistry;
class Counter;
}  // namespace basin::observe

namespace basin::ingest {

// How one table is compacted.
struct CompactionSpec {
  catalog::TableRef table;
  std::string dedup_key;      // column whose repeats are dropped on merge ("" = keep all rows)
  std::string keep_first_by;  // which repeat survives: the first by this column
  std::string order_by;       // row order in the merged file
};

struct CompactorOptions {
  std::string lake_root;
  std::vector<CompactionSpec> tables;
  uint64_t target_file_bytes = 128ULL << 20;  // merged files are about this size or less
  // A partition whose hour has ended (plus a grace) is merged as soon as it has 2 small files; a
  // partition still being written only once it has this many, so the current hour is not
  // rewritten every few seconds.
  int open_partition_min_files = 16;
  int64_t closed_partition_grace_us = 10 * 60'000'000LL;
  int64_t interval_ms = 30'000;                       // how often to look
  int64_t removed_file_grace_us = 10 * 60'000'000LL;  // how long replaced files stay readable
};

// Keeps a table readable from a handful of files: merges the small files of a partition into
// files of the target size, committed with Catalog::CommitReplace so that a reader sees either
// the small files or the merged one, never both or neither; then deletes the replaced files once
// no query can still be reading them (removed_file_grace_us after the replacing commit; queries
// hold a snapshot at most that long). Runs on its own thread; RunOnce() is for tests and tools.
class Compactor {
 public:
  static Result<std::unique_ptr<Compactor>> Start(catalog::Catalog* catalog,
                                                  CompactorOptions options, Clock* clock,
                                                  observe::MetricsRegistry* metrics);
  // Without a thread: call RunOnce() yourself.
  Compactor(catalog::Catalog* catalog, CompactorOptions options, Clock* clock,
            observe::MetricsRegistry* metrics);
  ~Compactor();

  struct Outcome {
    int partitions_compacted = 0;
    int files_removed = 0;  // replaced by merged files in this pass
    int files_written = 0;
    int64_t rows_deduplicated = 0;
    int files_deleted = 0;  // expired files deleted from disk
  };
  // One pass over every table, then the garbage collection of expired files.
  Result<Outcome> RunOnce();
  void Stop();

 private:
  Status CompactPartition(const catalog::TableInfo& table, const CompactionSpec& spec,
                          const std::vector<catalog::DataFile>& files, Outcome* outcome);
  Status DeleteExpiredFiles(Outcome* outcome);
  void Run();

  catalog::Catalog* catalog_;
  CompactorOptions options_;
  Clock* clock_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  observe::Counter* compactions_total_ = nullptr;
  observe::Counter* dedup_rows_total_ = nullptr;
  observe::Counter* deleted_files_total_ = nullptr;
};

}  // namespace basin::ingest
