#include "cli/platform.h"

#include <algorithm>
#include <filesystem>

#include "api/kinesis_api.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "catalog/catalog.h"
#include "cli/workflow_tasks.h"
#include "etl/pipeline_runner.h"
#include "ingest/batch_loader.h"
#include "ingest/compactor.h"
#include "ingest/landing_sweep.h"
#include "ingest/loader.h"
#include "ingest/object_ingest.h"
#include "ingest/stream_ingestor.h"
#include "log/log.h"
#include "observe/metrics.h"
#include "query/query_engine.h"
#include "storage/bucket_store.h"
#include "storage/object_store.h"
#include "workflow/execution_service.h"
#include "workflow/workflow_set.h"

namespace basin::cli {
namespace fs = std::filesystem;

namespace {
constexpr char kClickstream[] = "clickstream";
constexpr uint32_t kClickstreamShards = 2;

// The table a stream's loader writes.
catalog::TableRef TableOfStream(const std::string& stream) {
  return ingest::LoaderOptionsFor(stream, stream == kClickstream
                                              ? ingest::RecordFormat::kClickstream
                                              : ingest::RecordFormat::kRecords)
      .table;
}

std::string Absolute(const std::string& dir) {
  std::error_code ec;
  auto p = fs::absolute(dir, ec);
  return ec ? dir : p.lexically_normal().string();
}
}  // namespace

std::string Platform::lake_root() const { return Absolute(options_.data_dir) + "/lake"; }

Result<std::unique_ptr<Platform>> Platform::Open(const PlatformOptions& options) {
  std::unique_ptr<Platform> p(new Platform());
  p->options_ = options;
  const std::string root = Absolute(options.data_dir);
  BASIN_RETURN_IF_ERROR(CreateDirectories(root + "/lake"));
  BASIN_RETURN_IF_ERROR(CreateDirectories(root + "/log"));
  p->metrics_ = std::make_unique<observe::MetricsRegistry>();

  log::LogOptions log_options;
  log_options.dir = root + "/log";
  log_options.durable = options.durable;
  log_options.metrics = p->metrics_.get();
  // Room for a full 1 MiB Kinesis record (PutRecord over the AWS endpoint) and its envelope.
  log_options.max_record_bytes = (1ULL << 20) + api::KinesisApi::kMaxEnvelopeOverhead;
  BASIN_ASSIGN_OR_RETURN(p->log_, log::Log::Open(log_options));
  for (const auto& s : p->log_->recovery_report().streams) {
    if (s.bytes_truncated > 0) {
      BASIN_LOG(Warn, "log") << "stream " << s.stream << ": recovered " << s.records_recovered
                             << " records, cut " << s.bytes_truncated << " bytes of torn tail ("
                             << s.reason << ")";
    }
  }
  if (!p->log_->HasStream(kClickstream)) {
    log::StreamOptions stream_options;
    stream_options.shard_count = kClickstreamShards;
    stream_options.retention_hours = 24;
    BASIN_RETURN_IF_ERROR(p->log_->CreateStream(kClickstream, stream_options));
  }

  BASIN_ASSIGN_OR_RETURN(p->catalog_, catalog::Catalog::Open(root + "/basin.db"));
  query::QueryEngineOptions query_options;
  query_options.pool_size = options.query_pool_size;
  query_options.default_timeout_ms = options.query_timeout_ms;
  query_options.memory_limit = options.query_memory_limit;
  BASIN_ASSIGN_OR_RETURN(p->query_engine_, query::QueryEngine::Create(
                                               p->catalog_.get(), p->lake_root(), query_options));

  ingest::IngestLimits limits;
  limits.max_request_bytes = options.max_request_bytes;
  p->ingestor_ = std::make_unique<ingest::StreamIngestor>(
      p->log_.get(), limits, &SystemClock::Instance(), p->metrics_.get());
  p->ingestor_->SetStreamFormat(kClickstream, ingest::StreamFormat::kClickstream);

  // The declared raw tables first: a stream must not take one of their names (raw.orders).
  BASIN_ASSIGN_OR_RETURN(p->pipelines_, etl::LoadPipelineSet(UserPipelineDir(options.data_dir)));
  BASIN_RETURN_IF_ERROR(etl::EnsureRawTables(*p->catalog_, p->pipelines_.raw_tables));
  {
    // Every stream has a loader: clickstream first, so that it always owns raw.clickstream.
    std::lock_guard lock(p->loaders_mu_);
    BASIN_RETURN_IF_ERROR(p->StartLoaderLocked(kClickstream));
    p->clickstream_loader_ = p->loaders_.at(kClickstream);
    std::vector<log::StreamInfo> streams = p->log_->ListStreams();
    std::sort(streams.begin(), streams.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const log::StreamInfo& stream : streams) {
      if (stream.name == kClickstream) continue;
      // A stream from before stream tables existed may clash with another's table: it stays in
      // the log, readable with GetRecords, and keeps all its segments; the server runs on.
      Status started = p->StartLoaderLocked(stream.name);
      if (!started.ok()) {
        BASIN_LOG(Error, "loader")
            << "stream " << stream.name << " has no loader: " << started.ToString();
      }
    }
  }

  ingest::CompactorOptions compactor_options;
  compactor_options.lake_root = p->lake_root();
  compactor_options.interval_ms = options.compaction_interval_ms;
  compactor_options.tables = {
      {{"raw", "clickstream"}, "event_id", "ingest_time", "event_time"},
      // Tables that only ever grow by small appends (a run, a load, a batch of events). Tables
      // that pipelines overwrite are left alone: their writer rewrites them anyway.
      {{"processed", "events"}, "event_id", "ingest_time", "event_time"},
      {{"curated", "user_item_interactions"}, "", "", "event_time"},
      {{"ops", "pipeline_runs"}, "", "", "started_at"},
      {{"ops", "data_quality_results"}, "", "", "evaluated_at"},
      {{"ops", "batch_loads"}, "", "", "loaded_at"},
  };
  BASIN_ASSIGN_OR_RETURN(p->compactor_,
                         ingest::Compactor::Start(p->catalog_.get(), compactor_options,
                                                  &SystemClock::Instance(), p->metrics_.get()));
  BASIN_ASSIGN_OR_RETURN(auto forgotten, etl::ForgetRemovedPipelines(*p->catalog_, p->pipelines_));
  for (const std::string& f : forgotten) {
    BASIN_LOG(Info, "etl") << "forgot the position of a removed pipeline: " << f;
  }
  ingest::BatchLimits batch_limits;
  batch_limits.max_file_bytes = options.max_batch_file_bytes;
  p->batch_loader_ =
      std::make_unique<ingest::BatchLoader>(p->catalog_.get(), p->lake_root(), batch_limits);
  BASIN_RETURN_IF_ERROR(p->batch_loader_->RemoveOrphans());
  BASIN_RETURN_IF_ERROR(CreateDirectories(p->landing_root()));
  p->landing_sweep_ = std::make_unique<ingest::LandingSweep>(
      p->batch_loader_.get(), p->landing_root(), &SystemClock::Instance());
  BASIN_ASSIGN_OR_RETURN(
      p->object_store_,
      storage::ObjectStore::Open(storage::ObjectStore::RootUnderLake(p->lake_root())));
  ingest::ObjectIngestOptions object_options;
  object_options.max_object_bytes = options.max_object_bytes;
  p->object_ingestor_ = std::make_unique<ingest::ObjectIngestor>(
      p->catalog_.get(), p->object_store_.get(), p->lake_root(), object_options);
  storage::BucketStoreOptions bucket_options;
  bucket_options.data_dir = root;
  bucket_options.lake_root = p->lake_root();
  bucket_options.max_object_bytes = options.max_object_bytes;
  BASIN_ASSIGN_OR_RETURN(p->bucket_store_, storage::BucketStore::Open(bucket_options));
  p->pipeline_runner_ = std::make_unique<etl::PipelineRunner>(
      p->catalog_.get(), p->lake_root(), &SystemClock::Instance(), p->metrics_.get());

  p->retention_thread_ = std::thread([raw = p.get()] { raw->RunRetention(); });
  BASIN_RETURN_IF_ERROR(p->OpenWorkflows());
  return p;
}

Status Platform::OpenWorkflows() {
  const std::string root = Absolute(options_.data_dir);
  BASIN_ASSIGN_OR_RETURN(auto functions, LoadLocalFunctions(root + "/functions.json"));
  auto services = [this, functions = std::move(functions)] {
    WorkflowServices s;
    s.run_pipeline = [this](const std::string& name) -> Result<etl::RunReport> {
      const etl::PipelineSpec* spec = pipelines_.Find(name);
      if (spec == nullptr) {
        return Status(ErrorCode::kPipelineNotFound, "no pipeline named '" + name + "'");
      }
      std::lock_guard batch_lock(batch_mu_);
      return RunPipelineWhenReady(*catalog_, *pipeline_runner_, *spec);
    };
    s.run_query = [this](const std::string& sql) { return query_engine_->Execute(sql); };
    s.sweep_landing = [this] { return SweepLanding(); };
    s.flush_loaders = [this]() -> Status { return FlushLoaders(30'000).status(); };
    s.functions = functions;
    s.buckets = [this]() -> Result<storage::BucketStore*> { return bucket_store_.get(); };
    return s;
  };
  workflow::ExecutionServiceOptions options;
  options.catalog = catalog_.get();
  options.clock = &SystemClock::Instance();
  options.make_task_runner = [services] { return std::make_unique<BasinTaskRunner>(services()); };
  options.check_resources = [services](const workflow::StateMachine& machine) {
    return BasinTaskRunner(services()).CheckResources(machine);
  };
  options.resource_is_idempotent = IsIdempotentResource;
  options.max_running_executions = options_.max_running_executions;
  options.lock_path = root + "/workflows.lock";
  BASIN_ASSIGN_OR_RETURN(workflows_, workflow::ExecutionService::Open(std::move(options)));
  if (!workflows_->runs_executions()) {
    // The server must run the schedules and resume the executions: it does not start as a
    // bystander of a `basin workflow` command or of another server on the same data directory.
    return Status(ErrorCode::kUnavailable,
                  "another process holds " + root +
                      "/workflows.lock and runs this data directory's workflows (another basin "
                      "serve, or a basin workflow start that is still waiting): stop it first");
  }

  BASIN_ASSIGN_OR_RETURN(workflow::WorkflowSet set, workflow::LoadWorkflowSet(root + "/workflows"));
  for (const auto& [name, expression] : options_.schedule_overrides) {
    auto it = std::find_if(set.schedules.begin(), set.schedules.end(),
                           [&](const workflow::ScheduleRecord& s) { return s.name == name; });
    if (it == set.schedules.end()) {
      return Status(ErrorCode::kInvalidArgument, "--schedule: no schedule named '" + name + "'");
    }
    it->enabled = expression != "off";
    if (it->enabled) it->expression = expression;
  }
  BASIN_RETURN_IF_ERROR(workflow::InstallWorkflowSet(*workflows_, set));
  if (options_.run_schedules) workflows_->StartScheduler();
  return Status::Ok();
}

Status Platform::StartLoaderLocked(const std::string& stream) {
  const ingest::RecordFormat format =
      stream == kClickstream ? ingest::RecordFormat::kClickstream : ingest::RecordFormat::kRecords;
  ingest::LoaderOptions loader_options = ingest::LoaderOptionsFor(stream, format);
  for (const auto& [other, loader] : loaders_) {
    if (other != stream && TableOfStream(other) == loader_options.table) {
      return Status(ErrorCode::kAlreadyExists,
                    "stream '" + stream + "' would load into " + loader_options.table.Qualified() +
                        ", the table of stream '" + other +
                        "'; stream names must differ in more than case and punctuation");
    }
  }
  loader_options.lake_root = lake_root();
  loader_options.buffer_interval_ms = options_.loader_interval_ms;
  BASIN_ASSIGN_OR_RETURN(auto loader,
                         ingest::Loader::Start(log_.get(), catalog_.get(), loader_options,
                                               &SystemClock::Instance(), metrics_.get()));
  loaders_[stream] = std::shared_ptr<ingest::Loader>(std::move(loader));
  BASIN_LOG(Info, "loader") << "stream " << stream << " loads into "
                            << loader_options.table.Qualified();
  return Status::Ok();
}

Status Platform::StartStreamLoader(const std::string& stream) {
  std::shared_ptr<ingest::Loader> previous;
  Status started;
  {
    std::lock_guard lock(loaders_mu_);
    if (loaders_closed_) return Status(ErrorCode::kShuttingDown, "the platform is shutting down");
    // A loader still here belongs to an earlier stream of this name whose deletion has not been
    // forgotten yet: it is stopped, and the new stream starts at offset 0.
    if (auto it = loaders_.find(stream); it != loaders_.end()) {
      previous = std::move(it->second);
      loaders_.erase(it);
      previous->Stop();
    }
    Status reset = catalog_->RemoveConsumer(stream, ingest::LoaderOptions{}.consumer);
    started = reset.ok() ? StartLoaderLocked(stream) : reset;
  }
  if (!started.ok()) {
    BASIN_LOG(Warn, "loader") << "stream " << stream << ": " << started.ToString();
  }
  return started;
}

void Platform::ForgetStreamLoader(const std::string& stream) {
  std::shared_ptr<ingest::Loader> loader;
  {
    std::lock_guard lock(loaders_mu_);
    if (loaders_closed_ || log_->HasStream(stream)) return;  // made again meanwhile: keep it
    auto it = loaders_.find(stream);
    if (it == loaders_.end()) return;
    loader = std::move(it->second);
    loaders_.erase(it);
    // The stream's records are gone: what the loader holds can no longer be read or committed.
    loader->Stop();
    Status forgotten = catalog_->RemoveConsumer(stream, ingest::LoaderOptions{}.consumer);
    if (!forgotten.ok()) {
      BASIN_LOG(Warn, "loader") << "stream " << stream << ": " << forgotten.ToString();
    }
  }
  BASIN_LOG(Info, "loader") << "stream " << stream << " deleted: its loader stopped";
}

std::vector<std::pair<std::string, std::shared_ptr<ingest::Loader>>> Platform::Loaders() const {
  std::lock_guard lock(loaders_mu_);
  return {loaders_.begin(), loaders_.end()};
}

Result<std::vector<std::pair<std::string, uint64_t>>> Platform::FlushLoaders(int64_t timeout_ms) {
  std::vector<std::pair<std::string, uint64_t>> flushed;
  for (const auto& [stream, loader] : Loaders()) {
    Status s = loader->Flush(timeout_ms);
    if (s.code() == ErrorCode::kStreamNotFound) continue;  // deleted since
    BASIN_RETURN_IF_ERROR(s);
    flushed.emplace_back(stream, loader->stats().committed_offset);
  }
  return flushed;
}

Status Platform::SweepLanding() {
  std::lock_guard batch_lock(batch_mu_);
  auto results = landing_sweep_->SweepOnce();
  if (!results.ok()) {
    BASIN_LOG(Warn, "batch") << "landing sweep: " << results.status().ToString();
    return results.status();
  }
  // The loader logs each load; what did not load is said here.
  for (const ingest::SweepResult& r : *results) {
    using Outcome = ingest::SweepResult::Outcome;
    if (r.outcome != Outcome::kLoaded && r.outcome != Outcome::kAlreadyLoaded) {
      BASIN_LOG(Warn, "batch") << "landing file " << r.path << ": " << r.status.ToString();
    }
  }
  return Status::Ok();
}

void Platform::RunRetention() {
  std::unique_lock lock(retention_mu_);
  while (!shut_down_) {
    retention_cv_.wait_for(lock, std::chrono::milliseconds(options_.retention_interval_ms));
    if (shut_down_) break;
    lock.unlock();
    // Never past what a stream's loader has committed: retention must not lose unloaded records.
    for (const auto& [stream, loader] : Loaders()) {
      auto deleted = log_->ApplyRetention(stream, loader->stats().committed_offset);
      if (!deleted.ok()) {
        if (deleted.status().code() == ErrorCode::kStreamNotFound) continue;  // deleted since
        BASIN_LOG(Warn, "log") << "retention of " << stream << ": " << deleted.status().ToString();
      } else if (*deleted > 0) {
        BASIN_LOG(Info, "log") << "retention deleted " << *deleted << " segments of " << stream;
      }
    }
    lock.lock();
  }
}

Platform::~Platform() { Shutdown(); }

void Platform::Shutdown() {
  {
    std::lock_guard lock(retention_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  // Before the loaders and the log: running executions may be flushing or loading. Each stops at
  // its next state and resumes from its checkpoint on the next start.
  if (workflows_) workflows_->Shutdown();
  if (compactor_) compactor_->Stop();
  std::vector<std::shared_ptr<ingest::Loader>> loaders;
  {
    std::lock_guard lock(loaders_mu_);
    loaders_closed_ = true;
    for (auto& [stream, loader] : loaders_) loaders.push_back(std::move(loader));
    loaders_.clear();
  }
  // In parallel: each commits what it holds and drains its backlog for a bounded time.
  std::vector<std::thread> stopping;
  for (auto& loader : loaders) stopping.emplace_back([&loader] { loader->Stop(); });
  for (auto& t : stopping) t.join();
  if (clickstream_loader_) clickstream_loader_->Stop();
  if (log_) log_->Close();
  // The S3 front end over it is stopped by now (basin serve stops its servers first).
  bucket_store_.reset();
}

std::string UserPipelineDir(const std::string& data_dir) {
  return Absolute(data_dir) + "/pipelines";
}

Lake::~Lake() = default;

Result<std::unique_ptr<Lake>> OpenLake(const std::string& data_dir) {
  auto lake = std::make_unique<Lake>();
  lake->data_dir = Absolute(data_dir);
  lake->lake_root = lake->data_dir + "/lake";
  BASIN_RETURN_IF_ERROR(CreateDirectories(lake->lake_root));
  BASIN_ASSIGN_OR_RETURN(lake->catalog, catalog::Catalog::Open(lake->data_dir + "/basin.db"));
  BASIN_ASSIGN_OR_RETURN(lake->pipelines, etl::LoadPipelineSet(UserPipelineDir(data_dir)));
  BASIN_RETURN_IF_ERROR(etl::EnsureRawTables(*lake->catalog, lake->pipelines.raw_tables));
  return lake;
}

ReadOnlyLake::~ReadOnlyLake() = default;

Result<std::unique_ptr<ReadOnlyLake>> OpenReadOnlyLake(const std::string& data_dir,
                                                       int64_t query_timeout_ms) {
  const std::string root = Absolute(data_dir);
  std::error_code ec;
  if (!fs::exists(root + "/basin.db", ec)) {
    return Status(ErrorCode::kNotFound, "no Basin data directory at " + root);
  }
  auto lake = std::make_unique<ReadOnlyLake>();
  BASIN_ASSIGN_OR_RETURN(lake->catalog, catalog::Catalog::Open(root + "/basin.db"));
  query::QueryEngineOptions query_options;
  query_options.pool_size = 1;
  query_options.default_timeout_ms = query_timeout_ms;
  query_options.default_max_rows = UINT64_MAX;
  BASIN_ASSIGN_OR_RETURN(
      lake->query_engine,
      query::QueryEngine::Create(lake->catalog.get(), root + "/lake", query_options));
  return lake;
}

}  // namespace basin::cli
