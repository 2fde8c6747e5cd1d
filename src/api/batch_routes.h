#pragma once

#include <memory>
#include <string>

#include "api/router.h"

namespace basin::etl {
class PipelineRunner;
struct PipelineSet;
}  // namespace basin::etl
namespace basin::ingest {
class BatchLoader;
class ObjectIngestor;
}  // namespace basin::ingest

namespace basin::api {

class BlockingWork;

// What the batch API acts on. Owned elsewhere (the Platform); must outlive the routes.
struct BatchApiContext {
  ingest::BatchLoader* batch_loader = nullptr;
  ingest::ObjectIngestor* object_ingestor = nullptr;
  etl::PipelineRunner* pipeline_runner = nullptr;
  const etl::PipelineSet* pipelines = nullptr;
  std::function<void()> sweep_landing;  // one landing sweep now
  std::string upload_dir;               // where upload bodies are staged as files
  int blocking_threads = 1;             // loads and pipeline runs block: never on I/O threads
};

// Batch files, objects and pipelines over HTTP (docs/api.md): uploads go through the same
// loaders as the CLI and the landing folder; pipeline runs and quarantine replays through the
// same runner as the schedule. Owns a small pool for the blocking work; destroy after the HTTP
// server has stopped.
class BatchApi {
 public:
  explicit BatchApi(BatchApiContext context);
  ~BatchApi();
  void AddRoutes(Router& router);

  // Whether a request is an upload (for HttpServerOptions::is_upload).
  static bool IsUpload(std::string_view method, std::string_view path);

 private:
  BatchApiContext context_;
  std::unique_ptr<BlockingWork> work_;
};

}  // namespace basin::api
