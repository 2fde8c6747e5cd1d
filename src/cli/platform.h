#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "etl/pipeline_set.h"

namespace basin::catalog {
class Catalog;
}
namespace basin::ingest {
class BatchLoader;
class Compactor;
class LandingSweep;
class Loader;
class ObjectIngestor;
class StreamIngestor;
}  // namespace basin::ingest
namespace basin::etl {
class PipelineRunner;
}
namespace basin::storage {
class BucketStore;
class ObjectStore;
}  // namespace basin::storage
namespace basin::log {
class Log;
}
namespace basin::observe {
class MetricsRegistry;
}
namespace basin::query {
class QueryEngine;
}
namespace basin::workflow {
class ExecutionService;
}

namespace basin::cli {

struct PlatformOptions {
  std::string data_dir = "./basin-data";
  bool durable = true;                 // fsync before acknowledging (off only for baselines)
  int64_t loader_interval_ms = 2'000;  // the loader's time buffer hint (≤ 5 s)
  int64_t compaction_interval_ms = 30'000;
  int64_t retention_interval_ms = 60'000;  // how often old log segments are deleted
  int query_pool_size = 2;
  int64_t query_timeout_ms = 30'000;
  std::string query_memory_limit = "1GB";
  uint64_t max_request_bytes = 10ULL << 20;
  // Workflows: Basin's own (workflows/*.asl.json in the binary, overlaid by
  // <data_dir>/workflows/) run on their schedules (workflows/schedules.json) when this is set.
  bool run_schedules = true;
  // Schedule name -> expression replacing the file's ("rate(1 minute)"), or "off" to disable it.
  std::map<std::string, std::string> schedule_overrides;
  int64_t max_running_executions = 64;
  uint64_t max_batch_file_bytes = 1ULL << 30;
  uint64_t max_object_bytes = 5ULL << 30;
};

// Everything a data directory holds, opened and running: the log, the catalog, the query
// engine, the ingestor, the loader of every stream (clickstream into raw.clickstream, any other
// stream into raw.<name> as records; streams made later get theirs through StartStreamLoader),
// the compactor, the batch loader and its landing sweep, object ingest, the S3 bucket store,
// the ETL pipelines, and the workflow engine (state machines, executions, schedules) that runs
// Basin's own hourly batch and clickstream refreshes as ASL workflows.
// The data directory layout (docs/architecture.md): basin.db, log/, lake/, buckets/. Opening it
// creates what is missing, including the default `clickstream` stream and its tables.
// `basin serve` puts the HTTP API and the AWS endpoint on top.
//
// Start-up order matters: the loader cleans up files of interrupted writes before the compactor
// runs. Shutdown stops the loaders after a final commit, then closes the log.
class Platform {
 public:
  static Result<std::unique_ptr<Platform>> Open(const PlatformOptions& options);
  ~Platform();  // Shutdown()

  // Commits what the loaders buffer, stops background threads, closes the log. Idempotent.
  void Shutdown();

  log::Log& log() { return *log_; }
  catalog::Catalog& catalog() { return *catalog_; }
  query::QueryEngine& query_engine() { return *query_engine_; }
  ingest::StreamIngestor& ingestor() { return *ingestor_; }
  // The `clickstream` stream's loader as opened (kept alive even if the stream is deleted).
  ingest::Loader& clickstream_loader() { return *clickstream_loader_; }
  // Starts the loader of a stream just created in the log (the Kinesis API's CreateStream), from
  // offset 0: a stream made again under an old name starts over, its table is appended to.
  // AlreadyExists when its table belongs to another stream (two names that differ only in case
  // or punctuation: raw.orders_feed for `orders-feed` and `orders_feed`) or is not a stream's
  // table (raw.orders); ShuttingDown after Shutdown(). Thread-safe.
  Status StartStreamLoader(const std::string& stream);
  // Stops and forgets the loader of a stream deleted from the log, and its committed offset.
  // The rows it loaded stay in the lake. Nothing happens if the stream exists (made again).
  void ForgetStreamLoader(const std::string& stream);
  // Flushes every stream's loader (Loader::Flush): each stream with its committed offset, by
  // name. Streams deleted meanwhile are left out. Thread-safe.
  Result<std::vector<std::pair<std::string, uint64_t>>> FlushLoaders(int64_t timeout_ms);
  observe::MetricsRegistry& metrics() { return *metrics_; }
  ingest::BatchLoader& batch_loader() { return *batch_loader_; }
  ingest::ObjectIngestor& object_ingestor() { return *object_ingestor_; }
  // The S3 buckets (`<data_dir>/buckets/`, plus read-only views of the lake zones) that the AWS
  // endpoint serves.
  storage::BucketStore& bucket_store() { return *bucket_store_; }
  etl::PipelineRunner& pipeline_runner() { return *pipeline_runner_; }
  const etl::PipelineSet& pipelines() const { return pipelines_; }
  std::string landing_root() const { return lake_root() + "/landing"; }

  // State machines, executions and schedules (the Step Functions API and `basin workflow`).
  workflow::ExecutionService& workflows() { return *workflows_; }

  // Loads every settled file under lake/landing/ once (arn:basin:states:::landing:sweep and
  // POST /v1/admin/landing-sweep). Files that fail are logged and moved aside; the Status is the
  // sweep's own failure. One sweep or pipeline run of a workflow at a time.
  Status SweepLanding();
  const PlatformOptions& options() const { return options_; }
  std::string lake_root() const;

 private:
  Platform() = default;
  // Starts a stream's loader and adds it to `loaders_` (loaders_mu_ held): AlreadyExists when
  // another stream's loader writes the same table.
  Status StartLoaderLocked(const std::string& stream);
  // The loaders running now, copied (they stay alive while the caller uses them).
  std::vector<std::pair<std::string, std::shared_ptr<ingest::Loader>>> Loaders() const;
  // Deletes log segments past retention that each stream's loader has committed, every
  // retention_interval_ms, until Shutdown(). A stream without a loader keeps every segment.
  void RunRetention();
  // Opens the workflow engine over everything else, installs the workflow set and starts the
  // scheduler (last: resumed executions may use any of the above).
  Status OpenWorkflows();

  PlatformOptions options_;
  std::unique_ptr<observe::MetricsRegistry> metrics_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<query::QueryEngine> query_engine_;
  std::unique_ptr<ingest::StreamIngestor> ingestor_;
  mutable std::mutex loaders_mu_;  // held while a loader starts: one table, one stream
  std::map<std::string, std::shared_ptr<ingest::Loader>> loaders_;  // by stream
  bool loaders_closed_ = false;                                     // set by Shutdown()
  std::shared_ptr<ingest::Loader> clickstream_loader_;
  std::unique_ptr<ingest::Compactor> compactor_;
  std::unique_ptr<ingest::BatchLoader> batch_loader_;
  std::unique_ptr<ingest::LandingSweep> landing_sweep_;
  std::unique_ptr<storage::ObjectStore> object_store_;
  std::unique_ptr<ingest::ObjectIngestor> object_ingestor_;
  std::unique_ptr<storage::BucketStore> bucket_store_;
  etl::PipelineSet pipelines_;
  std::unique_ptr<etl::PipelineRunner> pipeline_runner_;
  std::unique_ptr<workflow::ExecutionService> workflows_;
  std::mutex batch_mu_;  // one landing sweep or workflow pipeline run at a time
  std::thread retention_thread_;
  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool shut_down_ = false;  // guarded by retention_mu_
};

// What a command that writes the lake without a server needs (`basin ingest`, `basin pipeline
// run`): the catalog, the lake root and the pipelines, with the declared raw tables created. It
// may run beside `basin serve` on the same data directory: the catalog serialises commits, loads
// are idempotent by content hash, and pipeline runs by their source positions. It creates the
// data directory if it is missing.
struct Lake {
  std::string data_dir;   // absolute
  std::string lake_root;  // <data_dir>/lake
  std::unique_ptr<catalog::Catalog> catalog;
  etl::PipelineSet pipelines;  // the defaults + <data_dir>/pipelines/
  ~Lake();
};
Result<std::unique_ptr<Lake>> OpenLake(const std::string& data_dir);

// The folder of a data directory where users put their own pipelines (and raw_tables.json).
std::string UserPipelineDir(const std::string& data_dir);

// Opens only what reading needs (catalog and query engine), for `basin sql` beside a running
// server: it never writes the data directory.
struct ReadOnlyLake {
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<query::QueryEngine> query_engine;
  ~ReadOnlyLake();
};
Result<std::unique_ptr<ReadOnlyLake>> OpenReadOnlyLake(const std::string& data_dir,
                                                       int64_t query_timeout_ms);

}  // namespace basin::cli
