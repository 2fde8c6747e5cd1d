#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "etl/pipeline_spec.h"
#include "observe/metrics.h"

namespace basin::etl {

enum class RunStatus { kSucceeded, kFailed, kNothingNew };
std::string_view RunStatusName(RunStatus status);

// One row of ops.pipeline_runs.
struct RunRecord {
  std::string run_id;  // "20261127T071500Z-1a2b3c4d": sorts by start time
  std::string pipeline;
  std::string kind = "run";  // "run", or "replay" for ReplayQuarantine
  RunStatus status = RunStatus::kSucceeded;
  int64_t started_at_us = 0;
  int64_t finished_at_us = 0;
  int64_t duration_ms = 0;
  int64_t rows_in = 0;           // primary-source rows read (replay: quarantined rows replayed)
  int64_t rows_out = 0;          // rows accepted into the transform
  int64_t rows_quarantined = 0;  // rows a cleaning rule sent to quarantine
  int64_t rows_duplicate = 0;    // rows removed by deduplication
  int64_t rows_written = 0;      // rows in the output files written
  std::string error;             // why a failed run failed
};

// One row of ops.data_quality_results.
struct QualityResult {
  std::string rule;  // the DQDL text
  bool passed = false;
  QualityAction on_failure = QualityAction::kWarn;
  std::string actual_value;
};

struct RunReport {
  RunRecord record;
  std::vector<QualityResult> quality;
  ErrorCode error_code = ErrorCode::kOk;  // for a failed run
};

struct RunProgress {
  std::string stage;  // "reading", "cleaning", "writing", "committing"
  int64_t rows = 0;   // rows so far at that stage
};

struct RunOptions {
  std::function<void(const RunProgress&)> progress;  // may be empty
  // Called once with the report of every run that got a run id, failed ones included (a failed
  // run also returns its error Status from Run, so this is how a CLI prints its summary).
  std::function<void(const RunReport&)> on_report;
};

// "orders  run 20261127T071500Z-1a2b3c4d  succeeded  in 1,000  out 950  quarantined 40
//  duplicates 10  written 950  0.42 s" (one line; a failed run ends with its error).
std::string FormatRunSummary(const RunReport& report);

// Runs ETL pipelines (docs/formats/pipeline.md): reads the new files of the sources, cleans the
// primary source, deduplicates, transforms, writes the output, quarantines rejected rows, checks
// data-quality rules, and commits all of it — output files, quarantine files, the run record, the
// quality results and the pipeline's new position in its sources — in one catalog commit. Every
// step is set-based SQL on a private DuckDB database per run.
//
// A failed run (an error, a `stop` quality rule) commits only its run record and quality results
// and leaves its position where it was. Runs of one pipeline are serialised by a mutex here, and
// by the offset check of the commit across processes (a second run that loses is Conflict).
// Thread-safe.
class PipelineRunner {
 public:
  // `metrics` may be null.
  PipelineRunner(catalog::Catalog* catalog, std::string lake_root, Clock* clock,
                 observe::MetricsRegistry* metrics);
  ~PipelineRunner();

  // Runs the pipeline once over what is new. Errors: InvalidDefinition (a definition that does
  // not fit the tables: missing columns, a bad transform), TableNotFound (a source), Conflict
  // (another run of the pipeline committed first), SchemaIncompatible (the transform's columns
  // cannot join the output table), DataQualityFailed (a `stop` rule failed), and I/O errors.
  Result<RunReport> Run(const PipelineSpec& spec, const RunOptions& options = {});

  // Re-runs the pipeline's quarantined rows through its current rules, transform and output, as
  // a run of kind "replay" (no source positions move). Rows that pass reach the output; rows that
  // fail again are quarantined again under the new run id; the replayed rows leave quarantine in
  // the same commit.
  Result<RunReport> ReplayQuarantine(const PipelineSpec& spec, const RunOptions& options = {});

  // Run records, newest first; all pipelines if `pipeline` is empty.
  Result<std::vector<RunRecord>> ListRuns(const std::optional<std::string>& pipeline,
                                          int limit = 20);

  // The consumer name under which a pipeline keeps its positions: "pipeline:<name>".
  static std::string ConsumerName(const std::string& pipeline);

 private:
  struct Execution;
  Result<RunReport> RunLocked(const PipelineSpec& spec, const RunOptions& options, bool replay);
  Status Execute(const PipelineSpec& spec, Execution& run);
  Status WriteOutput(const PipelineSpec& spec, Execution& run);
  Status WriteQuarantine(const PipelineSpec& spec, Execution& run);
  Status CheckQuality(const PipelineSpec& spec, Execution& run);
  Status CommitRun(Execution& run);
  Status EnsureOpsTables();
  Status CommitFailure(Execution& run);
  void CountMetrics(const RunReport& report);
  std::mutex& PipelineMutex(const std::string& name);
  std::string NewRunId() const;

  catalog::Catalog* catalog_;
  std::string lake_root_;
  Clock* clock_;
  observe::MetricsRegistry* metrics_;
  std::mutex mu_;  // guards pipeline_mutexes_, ops_tables_ready_
  std::map<std::string, std::unique_ptr<std::mutex>> pipeline_mutexes_;
  bool ops_tables_ready_ = false;
};

}  // namespace basin::etl
