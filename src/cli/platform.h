#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/status.h"

namespace basin::catalog {
class Catalog;
}
namespace basin::ingest {
class Compactor;
class Loader;
class StreamIngestor;
}  // namespace basin::ingest
namespace basin::log {
class Log;
}
namespace basin::observe {
class MetricsRegistry;
}
namespace basin::query {
class QueryEngine;
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
};

// Everything a data directory holds, opened and running: the log, the catalog, the query
// engine, the ingestor, the loader of each stream and the compactor. The data directory layout
// (docs/architecture.md): basin.db, log/, lake/. Opening it creates what is missing, including
// the default `clickstream` stream and its tables. `basin serve` puts the HTTP API on top.
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
  ingest::Loader& clickstream_loader() { return *loader_; }
  observe::MetricsRegistry& metrics() { return *metrics_; }
  const PlatformOptions& options() const { return options_; }
  std::string lake_root() const;

 private:
  Platform() = default;
  // Deletes log segments past retention that the loader has committed, every
  // retention_interval_ms, until Shutdown().
  void RunRetention();

  PlatformOptions options_;
  std::unique_ptr<observe::MetricsRegistry> metrics_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<query::QueryEngine> query_engine_;
  std::unique_ptr<ingest::StreamIngestor> ingestor_;
  std::unique_ptr<ingest::Loader> loader_;
  std::unique_ptr<ingest::Compactor> compactor_;
  std::thread retention_thread_;
  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool shut_down_ = false;
};

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
