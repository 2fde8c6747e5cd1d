#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/router.h"
#include "base/status.h"

namespace basin::catalog {
class Catalog;
}
namespace basin::ingest {
class StreamIngestor;
class Loader;
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
namespace basin::workflow {
class ExecutionService;
}

namespace basin::api {

class BlockingWork;

// What the native REST API acts on. Owned elsewhere (the Platform); must outlive the routes.
struct NativeApiContext {
  log::Log* log = nullptr;
  catalog::Catalog* catalog = nullptr;
  query::QueryEngine* query_engine = nullptr;
  ingest::StreamIngestor* ingestor = nullptr;
  std::map<std::string, ingest::Loader*> loaders;  // by stream
  // Flushes every stream's loader, answering each stream's committed offset. Streams come and go
  // (Kinesis CreateStream / DeleteStream), so when this is set POST /v1/admin/flush uses it
  // instead of the fixed `loaders` (cli::Platform::FlushLoaders).
  std::function<Result<std::vector<std::pair<std::string, uint64_t>>>(int64_t timeout_ms)>
      flush_loaders;
  observe::MetricsRegistry* metrics = nullptr;
  // GET /v1/workflows (state machines with their latest execution, schedules); null: 404.
  workflow::ExecutionService* workflows = nullptr;
  int blocking_threads = 2;  // threads for queries and flushes (never the I/O threads)
  int64_t flush_timeout_ms = 30'000;
};

// Basin's own HTTP API (docs/api.md): stream ingest, SQL, streams and tables, flush, health and
// metrics. Queries and flushes block, so they run on a small pool of their own, never on the
// server's I/O threads. Owns that pool; destroy after the HTTP server has stopped.
class NativeApi {
 public:
  explicit NativeApi(NativeApiContext context);
  ~NativeApi();
  void AddRoutes(Router& router);

 private:
  NativeApiContext context_;
  std::unique_ptr<BlockingWork> work_;
};

}  // namespace basin::api
