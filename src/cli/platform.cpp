#include "cli/platform.h"

#include <filesystem>

#include "api/kinesis_api.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "catalog/catalog.h"
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

namespace basin::cli {
namespace fs = std::filesystem;

namespace {
constexpr char kClickstream[] = "clickstream";
constexpr uint32_t kClickstreamShards = 2;

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

  ingest::LoaderOptions loader_options;
  loader_options.lake_root = p->lake_root();
  loader_options.buffer_interval_ms = options.loader_interval_ms;
  BASIN_ASSIGN_OR_RETURN(p->loader_,
                         ingest::Loader::Start(p->log_.get(), p->catalog_.get(), loader_options,
                                               &SystemClock::Instance(), p->metrics_.get()));

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
  BASIN_ASSIGN_OR_RETURN(p->pipelines_, etl::LoadPipelineSet(UserPipelineDir(options.data_dir)));
  BASIN_RETURN_IF_ERROR(etl::EnsureRawTables(*p->catalog_, p->pipelines_.raw_tables));
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
  p->batch_thread_ = std::thread([raw = p.get()] { raw->RunBatchSchedule(); });
  return p;
}

void Platform::SweepLanding() {
  std::lock_guard batch_lock(batch_mu_);
  auto results = landing_sweep_->SweepOnce();
  if (!results.ok()) {
    BASIN_LOG(Warn, "batch") << "landing sweep: " << results.status().ToString();
    return;
  }
  // The loader logs each load; what did not load is said here.
  for (const ingest::SweepResult& r : *results) {
    using Outcome = ingest::SweepResult::Outcome;
    if (r.outcome != Outcome::kLoaded && r.outcome != Outcome::kAlreadyLoaded) {
      BASIN_LOG(Warn, "batch") << "landing file " << r.path << ": " << r.status.ToString();
    }
  }
}

void Platform::RunPipelines() {
  std::lock_guard batch_lock(batch_mu_);
  for (const etl::PipelineSpec& spec : pipelines_.pipelines) {
    // A shutdown waits for the run in progress (it commits or leaves nothing), not for the rest.
    if (stopping_) break;
    if (!etl::MissingSources(*catalog_, spec).empty()) continue;  // waits for its sources
    // The runner logs each run's summary line, failures included.
    (void)pipeline_runner_->Run(spec);
  }
}

void Platform::RunBatchSchedule() {
  const int64_t sweep_every = options_.landing_sweep_interval_ms;
  const int64_t run_every = options_.pipeline_interval_ms;
  if (sweep_every <= 0 && run_every <= 0) return;
  using Clock = std::chrono::steady_clock;
  auto next_sweep = Clock::now() + std::chrono::milliseconds(sweep_every);
  auto next_run = Clock::now() + std::chrono::milliseconds(run_every);
  std::unique_lock lock(retention_mu_);
  while (!shut_down_) {
    auto next = Clock::time_point::max();
    if (sweep_every > 0) next = std::min(next, next_sweep);
    if (run_every > 0) next = std::min(next, next_run);
    retention_cv_.wait_until(lock, next, [&] { return shut_down_; });
    if (shut_down_) break;
    lock.unlock();
    const auto now = Clock::now();
    if (sweep_every > 0 && now >= next_sweep) {
      SweepLanding();
      next_sweep = Clock::now() + std::chrono::milliseconds(sweep_every);
    }
    if (run_every > 0 && now >= next_run) {
      RunPipelines();
      next_run = Clock::now() + std::chrono::milliseconds(run_every);
    }
    lock.lock();
  }
}

void Platform::RunRetention() {
  std::unique_lock lock(retention_mu_);
  while (!shut_down_) {
    retention_cv_.wait_for(lock, std::chrono::milliseconds(options_.retention_interval_ms));
    if (shut_down_) break;
    // Never past what the loader has committed: retention must not lose unloaded records.
    const uint64_t keep_from = loader_->stats().committed_offset;
    auto deleted = log_->ApplyRetention(kClickstream, keep_from);
    if (!deleted.ok()) {
      BASIN_LOG(Warn, "log") << "retention: " << deleted.status().ToString();
    } else if (*deleted > 0) {
      BASIN_LOG(Info, "log") << "retention deleted " << *deleted << " segments of " << kClickstream;
    }
  }
}

Platform::~Platform() { Shutdown(); }

void Platform::Shutdown() {
  {
    std::lock_guard lock(retention_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  if (batch_thread_.joinable()) batch_thread_.join();
  if (compactor_) compactor_->Stop();
  if (loader_) loader_->Stop();
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
