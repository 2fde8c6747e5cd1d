#include "etl/pipeline_runner.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <unordered_set>

#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "base/number_format.h"
#include "base/time_format.h"
#include "etl/cleaning.h"
#include "etl/dqdl.h"
#include "query/parquet_file_writer.h"
#include "query/query_engine.h"

namespace basin::etl {
namespace fs = std::filesystem;

using query::QuoteIdentifier;
using query::QuoteLiteral;

namespace {

const catalog::TableRef kRunsTable{"ops", "pipeline_runs"};
const catalog::TableRef kQualityTable{"ops", "data_quality_results"};

// Relations inside a run's database.
constexpr char kPrimaryInput[] = "__basin_primary_input";
constexpr char kCleaned[] = "__basin_cleaned";
constexpr char kAccepted[] = "__basin_accepted";
constexpr char kTransform[] = "__basin_transform";
constexpr char kOutputRows[] = "__basin_output";
constexpr char kOutputCurrent[] = "__basin_output_current";
constexpr char kOutputAfter[] = "__basin_output_after";
constexpr char kQuarantineCurrent[] = "__basin_quarantine_current";

const std::vector<catalog::Column>& RunColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"run_id", "VARCHAR"},          {"pipeline", "VARCHAR"},      {"kind", "VARCHAR"},
      {"status", "VARCHAR"},          {"started_at", "TIMESTAMP"},  {"finished_at", "TIMESTAMP"},
      {"duration_ms", "BIGINT"},      {"rows_in", "BIGINT"},        {"rows_out", "BIGINT"},
      {"rows_quarantined", "BIGINT"}, {"rows_duplicate", "BIGINT"}, {"rows_written", "BIGINT"},
      {"error", "VARCHAR"},
  };
  return kColumns;
}

const std::vector<catalog::Column>& QualityColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"run_id", "VARCHAR"},         {"pipeline", "VARCHAR"},   {"rule", "VARCHAR"},
      {"outcome", "VARCHAR"},        {"on_failure", "VARCHAR"}, {"actual_value", "VARCHAR"},
      {"evaluated_at", "TIMESTAMP"},
  };
  return kColumns;
}

const std::vector<catalog::Column>& QuarantineColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"record", "VARCHAR"},           {"rule", "VARCHAR"},
      {"reason", "VARCHAR"},           {"run_id", "VARCHAR"},
      {"quarantined_at", "TIMESTAMP"}, {"pipeline", "VARCHAR"},
      {"source_table", "VARCHAR"},
  };
  return kColumns;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string TimestampSql(int64_t us) {
  return "make_timestamp(" + std::to_string(us) + "::BIGINT)";
}

std::string NullableText(const std::string& s) { return s.empty() ? "NULL" : QuoteLiteral(s); }

Result<int64_t> QueryInt(query::DuckDb& db, const std::string& sql) {
  BASIN_ASSIGN_OR_RETURN(auto result, db.Query(sql, 1));
  if (result.rows.empty() || result.rows[0].empty()) return int64_t{0};
  const query::Value& v = result.rows[0][0];
  if (v.kind == query::Value::Kind::kInt) return v.i;
  if (v.kind == query::Value::Kind::kNumberText) return std::stoll(v.s);
  return int64_t{0};
}

std::map<std::string, std::string> ParsePartition(const std::string& partition) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < partition.size()) {
    size_t end = partition.find('/', start);
    if (end == std::string::npos) end = partition.size();
    const std::string part = partition.substr(start, end - start);
    const size_t eq = part.find('=');
    if (eq != std::string::npos) out[Upper(part.substr(0, eq))] = part.substr(eq + 1);
    start = end + 1;
  }
  return out;
}

struct SourceRead {
  catalog::TableInfo table;
  catalog::Snapshot snapshot;
  std::vector<catalog::DataFile> files;
  std::optional<catalog::OffsetAdvance> offset;  // the position to commit
};

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kSucceeded: return "succeeded";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kNothingNew: return "nothing_new";
  }
  return "failed";
}

std::string FormatRunSummary(const RunReport& report) {
  const RunRecord& r = report.record;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f s", static_cast<double>(r.duration_ms) / 1000.0);
  std::string line =
      r.pipeline + "  " + r.kind + " " + r.run_id + "  " + std::string(RunStatusName(r.status)) +
      "  in " + WithThousands(r.rows_in) + "  out " + WithThousands(r.rows_out) + "  quarantined " +
      WithThousands(r.rows_quarantined) + "  duplicates " + WithThousands(r.rows_duplicate) +
      "  written " + WithThousands(r.rows_written) + "  " + seconds;
  int failed_checks = 0;
  for (const auto& q : report.quality) failed_checks += q.passed ? 0 : 1;
  if (!report.quality.empty()) {
    line += "  quality " + std::to_string(report.quality.size() - failed_checks) + "/" +
            std::to_string(report.quality.size()) + " passed";
  }
  if (!r.error.empty()) line += "  error: " + r.error;
  return line;
}

// The state of one run, from its id to its commit.
struct PipelineRunner::Execution {
  const PipelineSpec* spec = nullptr;
  bool replay = false;
  const RunOptions* options = nullptr;
  RunReport report;
  int64_t started_mono_ns = 0;
  std::unique_ptr<query::DuckDb> db;
  std::vector<std::string> written;  // absolute paths of files written, removed on failure
  catalog::CommitRequest commit;
  std::vector<SourceRead> sources;
  std::optional<catalog::TableInfo> output_table;
  catalog::Snapshot output_snapshot;  // id 0 when the table is new
  std::vector<catalog::DataFile> output_removed;
  std::vector<catalog::DataFile> output_added;
  catalog::TableInfo quarantine_table;
  int file_counter = 0;

  void Progress(const std::string& stage, int64_t rows) const {
    if (options->progress) options->progress(RunProgress{stage, rows});
  }
};

PipelineRunner::PipelineRunner(catalog::Catalog* catalog, std::string lake_root, Clock* clock,
                               observe::MetricsRegistry* metrics)
    : catalog_(catalog), lake_root_(std::move(lake_root)), clock_(clock), metrics_(metrics) {
  while (lake_root_.size() > 1 && lake_root_.back() == '/') lake_root_.pop_back();
}

PipelineRunner::~PipelineRunner() = default;

std::string PipelineRunner::ConsumerName(const std::string& pipeline) {
  return "pipeline:" + pipeline;
}

std::mutex& PipelineRunner::PipelineMutex(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& m = pipeline_mutexes_[name];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

std::string PipelineRunner::NewRunId() const {
  thread_local std::mt19937 rng{std::random_device{}()};
  const CivilTime t = ToCivil(clock_->NowMicros());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ-%08x", t.year, t.month, t.day, t.hour,
                t.minute, t.second, static_cast<unsigned>(rng()));
  return buf;
}

Status PipelineRunner::EnsureOpsTables() {
  std::lock_guard lock(mu_);
  if (ops_tables_ready_) return Status::Ok();
  BASIN_RETURN_IF_ERROR(
      catalog_->EnsureTable(kRunsTable, {0, RunColumns(), {}}, "ops/pipeline_runs").status());
  BASIN_RETURN_IF_ERROR(
      catalog_->EnsureTable(kQualityTable, {0, QualityColumns(), {}}, "ops/data_quality_results")
          .status());
  ops_tables_ready_ = true;
  return Status::Ok();
}

Result<RunReport> PipelineRunner::Run(const PipelineSpec& spec, const RunOptions& options) {
  return RunLocked(spec, options, /*replay=*/false);
}

Result<RunReport> PipelineRunner::ReplayQuarantine(const PipelineSpec& spec,
                                                   const RunOptions& options) {
  return RunLocked(spec, options, /*replay=*/true);
}

namespace {

// Writes the run record and quality results as one small Parquet file each and adds them to
// `commit`. Returns the absolute paths written.
Result<std::vector<std::string>> AddRecordFiles(const std::string& lake_root,
                                                const catalog::TableInfo& runs,
                                                const catalog::TableInfo& quality,
                                                const RunReport& report, int64_t now_us,
                                                catalog::CommitRequest& commit) {
  BASIN_ASSIGN_OR_RETURN(auto db, query::DuckDb::Open(query::DuckDbOptions{1, "256MB", false}));
  std::vector<std::string> written;
  const RunRecord& r = report.record;
  std::string run_sql =
      "SELECT " + QuoteLiteral(r.run_id) + " AS run_id, " + QuoteLiteral(r.pipeline) +
      " AS pipeline, " + QuoteLiteral(r.kind) + " AS kind, " +
      QuoteLiteral(RunStatusName(r.status)) + " AS status, " + TimestampSql(r.started_at_us) +
      " AS started_at, " + TimestampSql(r.finished_at_us) + " AS finished_at, " +
      std::to_string(r.duration_ms) + "::BIGINT AS duration_ms, " + std::to_string(r.rows_in) +
      "::BIGINT AS rows_in, " + std::to_string(r.rows_out) + "::BIGINT AS rows_out, " +
      std::to_string(r.rows_quarantined) + "::BIGINT AS rows_quarantined, " +
      std::to_string(r.rows_duplicate) + "::BIGINT AS rows_duplicate, " +
      std::to_string(r.rows_written) + "::BIGINT AS rows_written, CAST(" + NullableText(r.error) +
      " AS VARCHAR) AS error";
  catalog::DataFile run_file;
  run_file.path = runs.location + "/" + r.run_id + ".parquet";
  BASIN_ASSIGN_OR_RETURN(auto w,
                         query::WriteParquet(*db, run_sql, lake_root + "/" + run_file.path));
  written.push_back(w.path);
  run_file.row_count = w.row_count;
  run_file.size_bytes = w.size_bytes;
  run_file.min_time_us = run_file.max_time_us = r.started_at_us;
  commit.changes.push_back({runs.id, catalog::ChangeKind::kAppend, {}, {run_file}});

  if (!report.quality.empty()) {
    std::string sql;
    for (const QualityResult& q : report.quality) {
      if (!sql.empty()) sql += " UNION ALL ";
      sql += "SELECT " + QuoteLiteral(r.run_id) + " AS run_id, " + QuoteLiteral(r.pipeline) +
             " AS pipeline, " + QuoteLiteral(q.rule) + " AS rule, " +
             QuoteLiteral(q.passed ? "pass" : "fail") + " AS outcome, " +
             QuoteLiteral(q.on_failure == QualityAction::kStop ? "stop" : "warn") +
             " AS on_failure, CAST(" + NullableText(q.actual_value) +
             " AS VARCHAR) AS actual_value, " + TimestampSql(now_us) + " AS evaluated_at";
    }
    catalog::DataFile quality_file;
    quality_file.path = quality.location + "/" + r.run_id + ".parquet";
    BASIN_ASSIGN_OR_RETURN(auto qw,
                           query::WriteParquet(*db, sql, lake_root + "/" + quality_file.path));
    written.push_back(qw.path);
    quality_file.row_count = qw.row_count;
    quality_file.size_bytes = qw.size_bytes;
    quality_file.min_time_us = quality_file.max_time_us = now_us;
    commit.changes.push_back({quality.id, catalog::ChangeKind::kAppend, {}, {quality_file}});
  }
  return written;
}

void RemoveFiles(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    std::error_code ec;
    fs::remove(p, ec);
  }
}

}  // namespace

Result<RunReport> PipelineRunner::RunLocked(const PipelineSpec& spec, const RunOptions& options,
                                            bool replay) {
  std::lock_guard pipeline_lock(PipelineMutex(spec.name));
  BASIN_RETURN_IF_ERROR(EnsureOpsTables());
  Execution run;
  run.spec = &spec;
  run.replay = replay;
  run.options = &options;
  run.report.record.run_id = NewRunId();
  run.report.record.pipeline = spec.name;
  run.report.record.kind = replay ? "replay" : "run";
  run.report.record.started_at_us = clock_->NowMicros();
  run.started_mono_ns = MonotonicNanos();

  Status status = Execute(spec, run);
  if (!status.ok()) {
    RemoveFiles(run.written);
    // A failed run committed none of its rows, so it records none (and so reconciles too).
    RunRecord& r = run.report.record;
    r.rows_in = r.rows_out = r.rows_quarantined = r.rows_duplicate = r.rows_written = 0;
    r.status = RunStatus::kFailed;
    r.error = status.ToString();
    run.report.error_code = status.code();
    Status recorded = CommitFailure(run);
    if (!recorded.ok()) {
      BASIN_LOG(Error, "etl") << "pipeline " << spec.name << " run " << run.report.record.run_id
                              << ": the failed run could not be recorded: " << recorded.ToString();
    }
    BASIN_LOG(Warn, "etl") << FormatRunSummary(run.report);
    CountMetrics(run.report);
    if (options.on_report) options.on_report(run.report);
    return status.WithContext("pipeline " + spec.name + " run " + run.report.record.run_id);
  }
  // Scheduled runs that find nothing new are frequent: they are logged at debug level only.
  if (run.report.record.status == RunStatus::kNothingNew) {
    BASIN_LOG(Debug, "etl") << FormatRunSummary(run.report);
  } else {
    BASIN_LOG(Info, "etl") << FormatRunSummary(run.report);
  }
  CountMetrics(run.report);
  if (options.on_report) options.on_report(run.report);
  return run.report;
}

Status PipelineRunner::CommitFailure(Execution& run) {
  RunRecord& r = run.report.record;
  r.finished_at_us = clock_->NowMicros();
  r.duration_ms = (MonotonicNanos() - run.started_mono_ns) / 1'000'000;
  BASIN_ASSIGN_OR_RETURN(auto runs, catalog_->GetTable(kRunsTable));
  BASIN_ASSIGN_OR_RETURN(auto quality, catalog_->GetTable(kQualityTable));
  catalog::CommitRequest commit;
  BASIN_ASSIGN_OR_RETURN(auto written, AddRecordFiles(lake_root_, runs, quality, run.report,
                                                      r.finished_at_us, commit));
  auto committed = catalog_->Commit(std::move(commit));
  if (!committed.ok()) {
    RemoveFiles(written);
    return committed.status();
  }
  return Status::Ok();
}

void PipelineRunner::CountMetrics(const RunReport& report) {
  if (metrics_ == nullptr) return;
  const RunRecord& r = report.record;
  metrics_
      ->GetCounter("basin_pipeline_runs_total", "Pipeline runs by outcome.",
                   {{"pipeline", r.pipeline}, {"status", std::string(RunStatusName(r.status))}})
      .Increment();
  if (r.status != RunStatus::kSucceeded) return;  // a failed run committed no rows
  const std::pair<const char*, int64_t> kinds[] = {{"in", r.rows_in},
                                                   {"out", r.rows_out},
                                                   {"quarantined", r.rows_quarantined},
                                                   {"duplicate", r.rows_duplicate}};
  for (const auto& [kind, n] : kinds) {
    metrics_
        ->GetCounter("basin_pipeline_rows_total", "Rows through pipelines by kind.",
                     {{"pipeline", r.pipeline}, {"kind", kind}})
        .Increment(static_cast<uint64_t>(n));
  }
}

namespace {

Status Invalid(const std::string& path, const std::string& message) {
  return Error(ErrorCode::kInvalidDefinition, path + ": " + message);
}

// Which of `snapshot`'s files hold the partitions (by the partition columns it shares with the
// primary source) in which the primary has new files.
Result<std::vector<catalog::DataFile>> TouchedPartitionFiles(
    const catalog::Snapshot& snapshot, const catalog::TableSchema& primary_schema,
    const std::vector<catalog::DataFile>& primary_new, const std::string& path) {
  std::vector<std::string> shared;
  for (const auto& c : snapshot.schema.partition_columns) {
    for (const auto& p : primary_schema.partition_columns) {
      if (Upper(c.name) == Upper(p.name)) shared.push_back(Upper(c.name));
    }
  }
  if (shared.empty()) {
    return Invalid(path,
                   "touched_partitions needs a partition column shared with the primary "
                   "source");
  }
  auto key_of = [&](const std::string& partition) {
    auto values = ParsePartition(partition);
    std::string key;
    for (const auto& name : shared) key += name + "=" + values[name] + "/";
    return key;
  };
  std::set<std::string> touched;
  for (const auto& f : primary_new) touched.insert(key_of(f.partition));
  std::vector<catalog::DataFile> out;
  for (const auto& f : snapshot.files) {
    if (touched.count(key_of(f.partition))) out.push_back(f);
  }
  return out;
}

std::vector<catalog::Column> AllColumns(const catalog::TableSchema& schema) {
  std::vector<catalog::Column> all = schema.columns;
  all.insert(all.end(), schema.partition_columns.begin(), schema.partition_columns.end());
  return all;
}

Result<std::vector<catalog::Column>> Describe(query::DuckDb& db, const std::string& relation) {
  BASIN_ASSIGN_OR_RETURN(auto result, db.Query("DESCRIBE SELECT * FROM " + relation));
  std::vector<catalog::Column> columns;
  for (const auto& row : result.rows) columns.push_back({row.at(0).s, row.at(1).s});
  return columns;
}

std::string ColumnList(const std::vector<std::string>& names, const std::string& alias = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i > 0 ? ", " : "") + (alias.empty() ? "" : alias + ".") + QuoteIdentifier(names[i]);
  }
  return out;
}

std::string KeysMatch(const std::vector<std::string>& keys, const std::string& a,
                      const std::string& b) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    out += (i > 0 ? " AND " : "") + a + "." + QuoteIdentifier(keys[i]) + " = " + b + "." +
           QuoteIdentifier(keys[i]);
  }
  return out;
}

bool HasColumn(const std::vector<catalog::Column>& columns, const std::string& name) {
  return std::any_of(columns.begin(), columns.end(),
                     [&](const catalog::Column& c) { return Upper(c.name) == Upper(name); });
}

}  // namespace

Status PipelineRunner::Execute(const PipelineSpec& spec, Execution& run) {
  RunRecord& record = run.report.record;
  BASIN_ASSIGN_OR_RETURN(run.db, query::DuckDb::Open(query::DuckDbOptions{2, "2GB", false}));
  query::DuckDb& db = *run.db;
  // Spill inside the lake (not the process's working directory); DuckDB creates only the last
  // folder of the path.
  const std::string spill_dir = lake_root_ + "/_tmp/etl";
  BASIN_RETURN_IF_ERROR(CreateDirectories(spill_dir));
  BASIN_RETURN_IF_ERROR(
      db.Execute("SET TimeZone = 'UTC'; SET temp_directory = " + QuoteLiteral(spill_dir)));
  const std::string consumer = ConsumerName(spec.name);

  // ---- Reading: the files of each source, and the positions to commit. ----------------------
  for (size_t i = 0; i < spec.sources.size(); ++i) {
    const SourceSpec& source = spec.sources[i];
    const std::string path = "$.sources[" + std::to_string(i) + "].table";
    SourceRead read;
    auto table = catalog_->GetTable(source.table);
    if (!table.ok()) return table.status().WithContext(path);
    read.table = *table;
    BASIN_ASSIGN_OR_RETURN(read.snapshot, catalog_->CurrentSnapshot(source.table));
    const bool positioned =
        !run.replay && (source.read == ReadMode::kNew || source.read == ReadMode::kAll);
    if (positioned) {
      // A `new` reader keeps its position in the table's consumer stream, so that compaction
      // waits for it; an `all` reader only remembers the snapshot it last saw, elsewhere.
      const std::string stream = source.read == ReadMode::kNew
                                     ? catalog::TableConsumerStream(source.table)
                                     : "pipeline-all:" + source.table.Qualified();
      if (source.read == ReadMode::kNew) {
        BASIN_RETURN_IF_ERROR(catalog_->RegisterConsumer(stream, consumer));
      }
      BASIN_ASSIGN_OR_RETURN(uint64_t from, catalog_->GetStreamOffset(stream, consumer));
      const uint64_t to = static_cast<uint64_t>(read.snapshot.id);
      if (to != from) read.offset = catalog::OffsetAdvance{stream, consumer, from, to};
      if (source.read == ReadMode::kNew) {
        if (to != from) {
          BASIN_ASSIGN_OR_RETURN(
              read.files,
              catalog_->NewFilesSince(read.table.id, static_cast<int64_t>(from), read.snapshot.id));
        }
      } else if (to != from || i > 0) {
        read.files = read.snapshot.files;
      }
    } else if (source.read == ReadMode::kTouchedPartitions && !run.replay) {
      BASIN_ASSIGN_OR_RETURN(
          read.files,
          TouchedPartitionFiles(read.snapshot, run.sources[0].snapshot.schema, run.sources[0].files,
                                "$.sources[" + std::to_string(i) + "].read"));
    } else {
      read.files = read.snapshot.files;
    }
    run.sources.push_back(std::move(read));
  }
  for (const SourceRead& s : run.sources) {
    if (s.offset) run.commit.offsets.push_back(*s.offset);
  }
  // A pipeline that reads all of its primary (a fact or dimension rebuilt from whole tables)
  // runs again when any of its `all` sources changed, not only the primary: a shipped order
  // must reach curated.fact_orders even when no order line arrived.
  if (!run.replay && spec.sources[0].read == ReadMode::kAll && run.sources[0].files.empty()) {
    for (size_t i = 1; i < spec.sources.size(); ++i) {
      if (spec.sources[i].read == ReadMode::kAll && run.sources[i].offset) {
        run.sources[0].files = run.sources[0].snapshot.files;
        break;
      }
    }
  }

  // The output table and the run's quarantine table.
  auto output = catalog_->GetTable(spec.output.table);
  if (output.ok()) {
    run.output_table = *output;
    BASIN_ASSIGN_OR_RETURN(run.output_snapshot, catalog_->CurrentSnapshot(spec.output.table));
  } else if (output.status().code() != ErrorCode::kTableNotFound) {
    return output.status();
  }
  // Only cleaning rules quarantine rows: a pipeline without them (an aggregate) gets no empty
  // quarantine table (and replaying it is TableNotFound).
  const catalog::TableRef quarantine_ref = catalog::QuarantineTableFor(spec.output.table);
  if (!spec.cleaning.empty()) {
    BASIN_ASSIGN_OR_RETURN(
        run.quarantine_table,
        catalog_->EnsureTable(quarantine_ref, {0, QuarantineColumns(), {{"dt", "DATE"}}},
                              quarantine_ref.zone + "/" + quarantine_ref.name));
  }

  // Views over the sources. The primary's rows come from its files (a run) or from quarantine
  // (a replay).
  const SourceRead& primary = run.sources[0];
  const std::vector<catalog::Column> primary_columns = AllColumns(primary.snapshot.schema);
  int64_t expected_in = 0;
  std::vector<catalog::DataFile> replayed_quarantine_files;
  if (!run.replay) {
    for (const auto& f : primary.files) expected_in += f.row_count;
    BASIN_RETURN_IF_ERROR(
        db.Execute(std::string("CREATE VIEW ") + kPrimaryInput + " AS " +
                   query::TableScanSql(primary.snapshot.schema, primary.files, lake_root_)));
  } else {
    BASIN_ASSIGN_OR_RETURN(auto q_snapshot, catalog_->CurrentSnapshot(quarantine_ref));
    BASIN_RETURN_IF_ERROR(
        db.Execute(std::string("CREATE VIEW ") + kQuarantineCurrent + " AS " +
                   query::TableScanSql(q_snapshot.schema, q_snapshot.files, lake_root_)));
    std::string structure = "{";
    for (size_t i = 0; i < primary_columns.size(); ++i) {
      std::string entry;
      AppendJsonString(entry, primary_columns[i].name);
      entry += ":";
      AppendJsonString(entry, primary_columns[i].type);
      structure += (i > 0 ? "," : "") + entry;
    }
    structure += "}";
    const std::string mine = "pipeline = " + QuoteLiteral(spec.name);
    BASIN_RETURN_IF_ERROR(db.Execute(std::string("CREATE TEMP TABLE ") + kPrimaryInput +
                                     " AS SELECT r.* FROM (SELECT " + "json_transform(record, " +
                                     QuoteLiteral(structure) + ") AS r FROM " + kQuarantineCurrent +
                                     " WHERE " + mine + ")"));
    BASIN_ASSIGN_OR_RETURN(expected_in, QueryInt(db, std::string("SELECT count(*) FROM ") +
                                                         kQuarantineCurrent + " WHERE " + mine));
    // The quarantine partitions holding the replayed rows are rewritten without them.
    BASIN_ASSIGN_OR_RETURN(
        auto partitions,
        db.Query(std::string("SELECT DISTINCT 'dt=' || CAST(dt AS VARCHAR) FROM ") +
                 kQuarantineCurrent + " WHERE " + mine));
    std::set<std::string> replayed_partitions;
    for (const auto& row : partitions.rows) replayed_partitions.insert(row.at(0).s);
    for (const auto& f : q_snapshot.files) {
      if (replayed_partitions.count(f.partition)) replayed_quarantine_files.push_back(f);
    }
    std::vector<catalog::DataFile> kept;
    for (const std::string& partition : replayed_partitions) {
      catalog::DataFile file;
      file.partition = partition;
      file.path = run.quarantine_table.location + "/" + partition + "/" + record.run_id + "-kept-" +
                  std::to_string(run.file_counter++) + ".parquet";
      const std::string select = "SELECT * EXCLUDE (dt) FROM " + std::string(kQuarantineCurrent) +
                                 " WHERE NOT (" + mine +
                                 ") AND 'dt=' || CAST(dt AS VARCHAR) = " + QuoteLiteral(partition);
      BASIN_ASSIGN_OR_RETURN(int64_t n, QueryInt(db, "SELECT count(*) FROM (" + select + ")"));
      if (n == 0) continue;
      BASIN_ASSIGN_OR_RETURN(auto w, query::WriteParquet(db, select, lake_root_ + "/" + file.path));
      run.written.push_back(w.path);
      file.row_count = w.row_count;
      file.size_bytes = w.size_bytes;
      kept.push_back(file);
    }
    run.commit.changes.push_back(
        {run.quarantine_table.id, catalog::ChangeKind::kOverwrite, {}, std::move(kept)});
    for (const auto& f : replayed_quarantine_files) {
      run.commit.changes.back().removed_file_ids.push_back(f.id);
    }
  }
  for (size_t i = 1; i < spec.sources.size(); ++i) {
    BASIN_RETURN_IF_ERROR(db.Execute(
        "CREATE VIEW " + QuoteIdentifier(spec.sources[i].name) + " AS " +
        query::TableScanSql(run.sources[i].snapshot.schema, run.sources[i].files, lake_root_)));
  }
  if (run.output_table) {
    BASIN_RETURN_IF_ERROR(db.Execute(
        std::string("CREATE VIEW ") + kOutputCurrent + " AS " +
        query::TableScanSql(run.output_snapshot.schema, run.output_snapshot.files, lake_root_)));
  }
  // From here on the run's SQL may read the lake only (the views above list its files).
  BASIN_RETURN_IF_ERROR(db.Execute("SET allowed_directories = [" + QuoteLiteral(lake_root_ + "/") +
                                   "]; SET enable_external_access = false"));

  const bool nothing_new =
      !run.replay ? expected_in == 0 && primary.files.empty() : expected_in == 0;
  if (nothing_new) {
    record.status = RunStatus::kNothingNew;
    // Only the primary's position moves (past compactions); another source's new rows wait.
    run.commit.offsets.clear();
    if (primary.offset) run.commit.offsets.push_back(*primary.offset);
    if (run.replay) run.commit.changes.clear();
    run.Progress("committing", 0);
    return CommitRun(run);
  }
  run.Progress("reading", expected_in);

  // ---- Cleaning: one pass of projections into a temp table. ---------------------------------
  BASIN_ASSIGN_OR_RETURN(CleaningPlan plan,
                         CompileCleaning(spec.cleaning, primary_columns, kPrimaryInput));
  BASIN_RETURN_IF_ERROR(CheckCleaning(db, spec.cleaning, plan));
  // The cleaned rows keep the source's order (files in commit order, rows in file order), so
  // that rowid tells which of two rows with the same keep_latest_by value came later.
  BASIN_RETURN_IF_ERROR(db.Execute("SET preserve_insertion_order = true"));
  BASIN_RETURN_IF_ERROR(
      db.Execute(std::string("CREATE TEMP TABLE ") + kCleaned + " AS " + plan.sql));
  BASIN_RETURN_IF_ERROR(db.Execute("SET preserve_insertion_order = false"));
  BASIN_ASSIGN_OR_RETURN(
      auto counts, db.Query(std::string("SELECT count(*), count(") + QuoteIdentifier(kRuleColumn) +
                            ") FROM " + kCleaned));
  record.rows_in = counts.rows.at(0).at(0).i;
  record.rows_quarantined = counts.rows.at(0).at(1).i;
  if (record.rows_in != expected_in) {
    return Error(ErrorCode::kInternal, "read " + std::to_string(record.rows_in) +
                                           " rows where the catalog lists " +
                                           std::to_string(expected_in));
  }
  run.Progress("cleaning", record.rows_in);

  // ---- Deduplication: among the run's rows, then against the output. ------------------------
  std::vector<std::string> clean_names;
  for (const auto& c : plan.columns) clean_names.push_back(c.name);
  const bool against_output =
      spec.deduplicate && run.output_table &&
      (spec.output.mode == OutputMode::kMerge ||
       (spec.output.mode == OutputMode::kAppend && !spec.output.keys.empty()));
  // Without deduplication the accepted rows are a filter of the cleaned ones: no copy needed.
  const bool materialize = spec.deduplicate.has_value();
  std::string accept = std::string(materialize ? "CREATE TEMP TABLE " : "CREATE VIEW ") +
                       kAccepted + " AS SELECT " + ColumnList(clean_names) + " FROM " + kCleaned +
                       " WHERE " + QuoteIdentifier(kRuleColumn) + " IS NULL";
  if (spec.deduplicate) {
    for (size_t k = 0; k < spec.deduplicate->keys.size(); ++k) {
      if (!HasColumn(plan.columns, spec.deduplicate->keys[k])) {
        return Invalid("$.deduplicate.keys[" + std::to_string(k) + "]",
                       "'" + spec.deduplicate->keys[k] + "' is not a column of the primary source");
      }
    }
    if (!HasColumn(plan.columns, spec.deduplicate->keep_latest_by)) {
      return Invalid("$.deduplicate.keep_latest_by", "'" + spec.deduplicate->keep_latest_by +
                                                         "' is not a column of the primary source");
    }
    // On a tie the later row wins: the later line of a file, the file committed later.
    accept += " QUALIFY row_number() OVER (PARTITION BY " + ColumnList(spec.deduplicate->keys) +
              " ORDER BY " + QuoteIdentifier(spec.deduplicate->keep_latest_by) +
              " DESC NULLS LAST, rowid DESC) = 1";
  }
  BASIN_RETURN_IF_ERROR(db.Execute(accept));
  // Duplicates are counted where they are removed, so that the reconciliation below checks the
  // steps against each other rather than restating a difference.
  BASIN_ASSIGN_OR_RETURN(int64_t live,
                         QueryInt(db, std::string("SELECT count(*) FROM ") + kCleaned + " WHERE " +
                                          QuoteIdentifier(kRuleColumn) + " IS NULL"));
  BASIN_ASSIGN_OR_RETURN(int64_t kept,
                         QueryInt(db, std::string("SELECT count(*) FROM ") + kAccepted));
  int64_t replaced_by_output = 0;
  if (against_output) {
    const auto output_columns = AllColumns(run.output_snapshot.schema);
    std::vector<std::string> needed = spec.deduplicate->keys;
    if (spec.output.mode == OutputMode::kMerge) needed.push_back(spec.deduplicate->keep_latest_by);
    for (const auto& name : needed) {
      if (!HasColumn(output_columns, name)) {
        return Invalid("$.deduplicate", "'" + name + "' is not a column of the output table " +
                                            spec.output.table.Qualified() +
                                            ", so new rows cannot be compared with its rows");
      }
    }
    std::string condition = KeysMatch(spec.deduplicate->keys, "o", "a");
    if (spec.output.mode == OutputMode::kMerge) {
      // A newer row already in the output wins; on a tie the run's row replaces it.
      const std::string keep = QuoteIdentifier(spec.deduplicate->keep_latest_by);
      condition += " AND o." + keep + " > a." + keep;
    }
    BASIN_ASSIGN_OR_RETURN(replaced_by_output,
                           QueryInt(db, std::string("DELETE FROM ") + kAccepted +
                                            " AS a WHERE EXISTS (SELECT 1 FROM " + kOutputCurrent +
                                            " AS o WHERE " + condition + ")"));
  }
  BASIN_ASSIGN_OR_RETURN(record.rows_out,
                         QueryInt(db, std::string("SELECT count(*) FROM ") + kAccepted));
  record.rows_duplicate = (live - kept) + replaced_by_output;

  // ---- Transform. -----------------------------------------------------------------------------
  BASIN_RETURN_IF_ERROR(db.Execute("CREATE VIEW " + QuoteIdentifier(spec.primary().name) +
                                   " AS SELECT * FROM " + kAccepted));
  Status read_only = db.CheckReadOnly(spec.transform);
  if (!read_only.ok()) return Invalid("$.transform", read_only.message());
  Status bound =
      db.Execute(std::string("CREATE VIEW ") + kTransform + " AS (" + spec.transform + "\n)");
  if (!bound.ok()) return Invalid("$.transform", bound.message());
  run.Progress("writing", record.rows_out);
  BASIN_RETURN_IF_ERROR(WriteOutput(spec, run));
  BASIN_RETURN_IF_ERROR(WriteQuarantine(spec, run));
  BASIN_RETURN_IF_ERROR(CheckQuality(spec, run));

  // ---- Reconciliation, then the one commit. ---------------------------------------------------
  if (record.rows_in != record.rows_out + record.rows_quarantined + record.rows_duplicate) {
    return Error(ErrorCode::kInternal,
                 "rows do not reconcile: in " + std::to_string(record.rows_in) + " != out " +
                     std::to_string(record.rows_out) + " + quarantined " +
                     std::to_string(record.rows_quarantined) + " + duplicates " +
                     std::to_string(record.rows_duplicate));
  }
  record.status = RunStatus::kSucceeded;
  run.Progress("committing", record.rows_written);
  return CommitRun(run);
}

namespace {

// The Hive path of the table's partition columns, with each value cast to the table's type first
// so that the path does not depend on the type the transform happened to produce.
std::string TypedPartitionPathSql(const std::vector<catalog::Column>& partition_columns,
                                  const std::string& alias = "") {
  if (partition_columns.empty()) return "''";
  std::string sql;
  for (size_t i = 0; i < partition_columns.size(); ++i) {
    if (i > 0) sql += " || '/' || ";
    const std::string column =
        (alias.empty() ? "" : alias + ".") + QuoteIdentifier(partition_columns[i].name);
    sql += QuoteLiteral(partition_columns[i].name + "=") + " || CAST(CAST(" + column + " AS " +
           partition_columns[i].type + ") AS VARCHAR)";
  }
  return "(" + sql + ")";
}

std::string CastColumns(const std::vector<catalog::Column>& columns, const std::string& alias) {
  std::string sql;
  for (size_t i = 0; i < columns.size(); ++i) {
    sql += (i > 0 ? ", " : "") + std::string("CAST(") + alias + "." +
           QuoteIdentifier(columns[i].name) + " AS " + columns[i].type + ") AS " +
           QuoteIdentifier(columns[i].name);
  }
  return sql;
}

Status Incompatible(const catalog::TableRef& table, const std::string& message) {
  return Error(ErrorCode::kSchemaIncompatible,
               "the transform's columns do not fit " + table.Qualified() + ": " + message);
}

// The output table's schema brought to the transform's columns: new columns are added, types
// widened where the catalog allows it (otherwise values are cast to the table's type).
Result<catalog::TableInfo> EvolveOutput(catalog::Catalog& catalog, const catalog::TableInfo& table,
                                        const std::vector<catalog::Column>& data,
                                        const std::vector<catalog::Column>& partitions) {
  const catalog::TableSchema& schema = table.schema;
  if (partitions.size() != schema.partition_columns.size()) {
    return Incompatible(table.ref, "the partition columns differ");
  }
  for (size_t i = 0; i < partitions.size(); ++i) {
    if (Upper(partitions[i].name) != Upper(schema.partition_columns[i].name)) {
      return Incompatible(table.ref, "the partition columns differ");
    }
  }
  std::vector<catalog::Column> widened = schema.columns;
  std::vector<catalog::Column> added;
  for (auto& existing : widened) {
    auto it = std::find_if(data.begin(), data.end(), [&](const catalog::Column& c) {
      return Upper(c.name) == Upper(existing.name);
    });
    if (it == data.end()) {
      return Incompatible(table.ref, "the transform has no column '" + existing.name + "'");
    }
    if (Upper(it->type) != Upper(existing.type)) existing.type = it->type;
  }
  for (const auto& c : data) {
    if (!HasColumn(schema.columns, c.name)) added.push_back(c);
  }
  widened.insert(widened.end(), added.begin(), added.end());
  if (widened == schema.columns) return table;
  auto evolved = catalog.EvolveSchema(table.id, {0, widened, schema.partition_columns});
  if (evolved.ok()) return evolved;
  // A narrower type than the table's: keep the table's type (values are cast), add new columns.
  std::vector<catalog::Column> kept = schema.columns;
  kept.insert(kept.end(), added.begin(), added.end());
  if (kept == schema.columns) return table;
  evolved = catalog.EvolveSchema(table.id, {0, kept, schema.partition_columns});
  if (!evolved.ok()) return Incompatible(table.ref, evolved.status().message());
  return evolved;
}

// The new rows of `partitions` (Hive paths, none of them rewritten with existing rows) written
// with one partitioned COPY instead of one filtered scan per partition. DuckDB writes into a
// run-private folder under the lake, by partition index (so that DuckDB's own escaping of values
// in folder names plays no part); each file is then fsync()ed and renamed to its final name, and
// the folder fsync()ed, so that a file under its final name is complete (as query::WriteParquet).
// `written` gets every final path as soon as it exists, for the removal on failure.
Result<std::vector<catalog::DataFile>> WritePartitionsAtOnce(
    query::DuckDb& db, const std::string& lake_root, const catalog::TableInfo& table,
    const std::vector<std::string>& partitions, const std::string& run_id, int& file_counter,
    std::vector<std::string>& written) {
  const auto& part_columns = table.schema.partition_columns;
  std::string values;
  for (size_t k = 0; k < partitions.size(); ++k) {
    values += (k > 0 ? ", (" : "(") + QuoteLiteral(partitions[k]) + ", " + std::to_string(k) + ")";
  }
  BASIN_RETURN_IF_ERROR(
      db.Execute("CREATE OR REPLACE TEMP TABLE __basin_parts AS SELECT * FROM (VALUES " + values +
                 ") AS t(path, idx)"));
  const fs::path staging = fs::path(lake_root) / "_tmp" / "etl" / run_id;
  std::error_code ec;
  fs::remove_all(staging, ec);
  BASIN_RETURN_IF_ERROR(CreateDirectories(staging.string()));
  struct RemoveStaging {
    fs::path dir;
    ~RemoveStaging() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } remove_staging{staging};
  const std::string select = "SELECT " + CastColumns(table.schema.columns, "n") +
                             ", p.idx AS __basin_part FROM " + kOutputRows +
                             " AS n JOIN __basin_parts AS p ON " +
                             TypedPartitionPathSql(part_columns, "n") + " = p.path";
  BASIN_ASSIGN_OR_RETURN(
      auto copied, db.Query("COPY (" + select + ") TO " + QuoteLiteral(staging.string()) +
                            " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__basin_part))"));
  const int64_t rows_copied = copied.rows.empty() ? -1 : copied.rows.at(0).at(0).i;
  // Rows per produced file, from the files' own footers.
  std::string produced_list;
  for (auto it = fs::recursive_directory_iterator(staging, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    produced_list += (produced_list.empty() ? "" : ", ") + QuoteLiteral(it->path().string());
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + staging.string());
  if (produced_list.empty()) {
    return Error(ErrorCode::kInternal, "the partitioned write produced no files");
  }
  BASIN_ASSIGN_OR_RETURN(
      auto counted,
      db.Query("SELECT file_name, CAST(sum(row_group_num_rows) AS BIGINT) FROM (SELECT DISTINCT "
               "file_name, row_group_id, row_group_num_rows FROM parquet_metadata([" +
               produced_list + "])) GROUP BY file_name ORDER BY file_name"));
  std::vector<catalog::DataFile> added;
  int64_t total = 0;
  std::set<std::string> final_dirs;
  for (const auto& row : counted.rows) {
    const fs::path produced(row.at(0).s);
    const std::string folder = produced.parent_path().filename().string();
    constexpr std::string_view kPrefix = "__basin_part=";
    if (folder.rfind(kPrefix, 0) != 0) {
      return Error(ErrorCode::kInternal, "unexpected partitioned file " + produced.string());
    }
    const size_t idx = std::stoul(folder.substr(kPrefix.size()));
    if (idx >= partitions.size()) {
      return Error(ErrorCode::kInternal, "unexpected partition folder " + folder);
    }
    catalog::DataFile file;
    file.partition = partitions[idx];
    file.path = table.location + "/" + file.partition + "/" + run_id + "-" +
                std::to_string(file_counter++) + ".parquet";
    const fs::path final_path = fs::path(lake_root) / file.path;
    const fs::path final_dir = final_path.parent_path();
    if (!fs::exists(final_dir, ec)) {
      std::vector<fs::path> missing;
      for (fs::path d = final_dir; !d.empty() && d != d.parent_path() && !fs::exists(d, ec);
           d = d.parent_path()) {
        missing.push_back(d);
      }
      BASIN_RETURN_IF_ERROR(CreateDirectories(final_dir.string()));
      for (const fs::path& d : missing) {
        BASIN_RETURN_IF_ERROR(SyncDirectory(d.parent_path().string()));
      }
    }
    BASIN_RETURN_IF_ERROR(SyncFile(produced.string()));
    file.size_bytes = static_cast<int64_t>(fs::file_size(produced, ec));
    if (ec) return ErrnoStatus(ec.value(), "stat " + produced.string());
    fs::rename(produced, final_path, ec);
    if (ec) return ErrnoStatus(ec.value(), "rename " + produced.string());
    written.push_back(final_path.string());
    final_dirs.insert(final_dir.string());
    file.row_count = row.at(1).i;
    total += file.row_count;
    added.push_back(std::move(file));
  }
  for (const auto& dir : final_dirs) BASIN_RETURN_IF_ERROR(SyncDirectory(dir));
  if (rows_copied >= 0 && total != rows_copied) {
    return Error(ErrorCode::kInternal, "the partitioned write reports " +
                                           std::to_string(rows_copied) + " rows, its files hold " +
                                           std::to_string(total));
  }
  return added;
}

}  // namespace

Status PipelineRunner::WriteOutput(const PipelineSpec& spec, Execution& run) {
  query::DuckDb& db = *run.db;
  BASIN_ASSIGN_OR_RETURN(auto described, Describe(db, kTransform));
  std::vector<catalog::Column> partitions, data;
  for (size_t i = 0; i < spec.output.partition_by.size(); ++i) {
    auto it = std::find_if(described.begin(), described.end(), [&](const catalog::Column& c) {
      return Upper(c.name) == Upper(spec.output.partition_by[i]);
    });
    if (it == described.end()) {
      return Invalid("$.output.partition_by[" + std::to_string(i) + "]",
                     "the transform has no column '" + spec.output.partition_by[i] + "'");
    }
    partitions.push_back(*it);
  }
  for (const auto& c : described) {
    if (!HasColumn(partitions, c.name)) data.push_back(c);
  }
  if (data.empty()) return Invalid("$.transform", "produces no data columns");
  // Sorted by partition so that each partition's rewrite scans only its own row groups.
  std::string materialize =
      std::string("CREATE TEMP TABLE ") + kOutputRows + " AS SELECT * FROM " + kTransform;
  // Only a merge into existing rows rewrites partitions one by one (the others are written at
  // once, unsorted).
  const bool rewrites_possible =
      spec.output.mode == OutputMode::kMerge && !run.output_snapshot.files.empty();
  if (!partitions.empty() && rewrites_possible) {
    std::vector<std::string> names;
    for (const auto& p : partitions) names.push_back(p.name);
    materialize += " ORDER BY " + ColumnList(names);
  }
  BASIN_RETURN_IF_ERROR(db.Execute(materialize).WithContext("$.transform"));
  for (size_t k = 0; k < spec.output.keys.size(); ++k) {
    if (!HasColumn(described, spec.output.keys[k])) {
      return Invalid("$.output.keys[" + std::to_string(k) + "]",
                     "the transform has no column '" + spec.output.keys[k] + "'");
    }
  }

  if (!run.output_table) {
    const catalog::TableRef& ref = spec.output.table;
    auto created = catalog_->CreateTable(ref, {0, data, partitions}, ref.zone + "/" + ref.name);
    if (!created.ok() && created.status().code() != ErrorCode::kAlreadyExists) {
      return Incompatible(ref, created.status().message());
    }
    if (created.ok()) {
      run.output_table = *created;
    } else {
      BASIN_ASSIGN_OR_RETURN(run.output_table, catalog_->GetTable(ref));
      BASIN_ASSIGN_OR_RETURN(run.output_snapshot, catalog_->CurrentSnapshot(ref));
    }
  }
  BASIN_ASSIGN_OR_RETURN(run.output_table,
                         EvolveOutput(*catalog_, *run.output_table, data, partitions));
  const catalog::TableInfo& table = *run.output_table;
  const auto& part_columns = table.schema.partition_columns;
  // The current rows under the (possibly evolved) schema, for merges and quality checks.
  BASIN_RETURN_IF_ERROR(
      db.Execute(std::string("CREATE OR REPLACE VIEW ") + kOutputCurrent + " AS " +
                 query::TableScanSql(table.schema, run.output_snapshot.files, lake_root_)));

  if (!part_columns.empty()) {
    std::string null_check;
    for (const auto& p : part_columns) {
      null_check += (null_check.empty() ? "" : " OR ") + QuoteIdentifier(p.name) + " IS NULL";
    }
    BASIN_ASSIGN_OR_RETURN(int64_t nulls, QueryInt(db, std::string("SELECT count(*) FROM ") +
                                                           kOutputRows + " WHERE " + null_check));
    if (nulls > 0) {
      return Error(ErrorCode::kInvalidArgument, std::to_string(nulls) +
                                                    " output rows have a NULL partition column (" +
                                                    ColumnList(spec.output.partition_by) + ")");
    }
  }
  // Each partition written: its Hive path (values in the table's partition types) and a filter
  // on the run's rows by value, which the sorted table answers from its zone maps.
  std::map<std::string, std::string> new_rows_filter;  // path -> SQL condition on `n`
  {
    std::string select = "SELECT DISTINCT " + TypedPartitionPathSql(part_columns, "n");
    for (const auto& p : partitions) {
      select += ", CAST(n." + QuoteIdentifier(p.name) + " AS VARCHAR)";
    }
    BASIN_ASSIGN_OR_RETURN(auto produced,
                           db.Query(select + " FROM " + kOutputRows + " AS n ORDER BY 1"));
    for (const auto& row : produced.rows) {
      const std::string& path = row.at(0).s;
      if (!part_columns.empty() &&
          static_cast<size_t>(std::count(path.begin(), path.end(), '/')) + 1 !=
              part_columns.size()) {
        return Error(ErrorCode::kInvalidArgument, "partition value with '/' in " + path);
      }
      std::string condition = "true";
      for (size_t k = 0; k < partitions.size(); ++k) {
        condition += " AND n." + QuoteIdentifier(partitions[k].name) + " = CAST(" +
                     QuoteLiteral(row.at(k + 1).s) + " AS " + partitions[k].type + ")";
      }
      std::string& filter = new_rows_filter[path];
      filter = filter.empty() ? "(" + condition + ")" : filter + " OR (" + condition + ")";
    }
  }
  std::set<std::string> partitions_written;
  for (const auto& [path, filter] : new_rows_filter) partitions_written.insert(path);

  // Which existing partitions the run rewrites, and with which rows.
  const OutputMode mode = spec.output.mode;
  const bool has_current = !run.output_snapshot.files.empty();
  std::string keep_existing;  // SQL condition on `o` for existing rows to keep in a rewrite
  std::set<std::string> rewritten;
  if (mode == OutputMode::kMerge && has_current) {
    keep_existing = "NOT EXISTS (SELECT 1 FROM " + std::string(kOutputRows) + " AS n WHERE " +
                    KeysMatch(spec.output.keys, "n", "o") + ")";
    BASIN_ASSIGN_OR_RETURN(
        auto touched,
        db.Query("SELECT DISTINCT " + TypedPartitionPathSql(part_columns, "o") + " FROM " +
                 kOutputCurrent + " AS o WHERE NOT (" + keep_existing + ")"));
    for (const auto& row : touched.rows) rewritten.insert(row.at(0).s);
    for (const auto& p : partitions_written) rewritten.insert(p);
  }
  for (const auto& f : run.output_snapshot.files) {
    const bool remove =
        mode == OutputMode::kReplace ||
        (mode == OutputMode::kReplacePartitions && partitions_written.count(f.partition)) ||
        (mode == OutputMode::kMerge && rewritten.count(f.partition));
    if (remove) run.output_removed.push_back(f);
  }
  std::set<std::string> to_write = partitions_written;
  to_write.insert(rewritten.begin(), rewritten.end());
  // Partitions that get only new rows: one partitioned write for all of them.
  std::vector<std::string> fresh;
  if (!part_columns.empty()) {
    for (const auto& p : partitions_written) {
      if (!rewritten.count(p)) fresh.push_back(p);
    }
  }
  if (fresh.size() > 1) {
    BASIN_ASSIGN_OR_RETURN(
        auto added, WritePartitionsAtOnce(db, lake_root_, table, fresh, run.report.record.run_id,
                                          run.file_counter, run.written));
    for (auto& file : added) {
      run.report.record.rows_written += file.row_count;
      run.output_added.push_back(std::move(file));
    }
    for (const auto& p : fresh) to_write.erase(p);
  }
  for (const std::string& partition : to_write) {
    auto filter = new_rows_filter.find(partition);
    std::string select = "SELECT " + CastColumns(table.schema.columns, "n") + " FROM " +
                         kOutputRows + " AS n WHERE " +
                         (filter == new_rows_filter.end() ? "false" : filter->second);
    if (rewritten.count(partition)) {
      // Existing rows by their Hive values, so that the scan reads only that partition's files.
      std::string existing = "true";
      const auto values = ParsePartition(partition);
      for (const auto& p : part_columns) {
        auto v = values.find(Upper(p.name));
        existing += " AND o." + QuoteIdentifier(p.name) + " = CAST(" +
                    QuoteLiteral(v == values.end() ? "" : v->second) + " AS " + p.type + ")";
      }
      select += " UNION ALL SELECT " + CastColumns(table.schema.columns, "o") + " FROM " +
                kOutputCurrent + " AS o WHERE " + existing + " AND " + keep_existing;
    }
    catalog::DataFile file;
    file.partition = part_columns.empty() ? "" : partition;
    file.path = table.location + "/" + (file.partition.empty() ? "" : file.partition + "/") +
                run.report.record.run_id + "-" + std::to_string(run.file_counter++) + ".parquet";
    BASIN_ASSIGN_OR_RETURN(auto w, query::WriteParquet(db, select, lake_root_ + "/" + file.path));
    run.written.push_back(w.path);
    if (w.row_count == 0) {  // a merge moved every row of this partition elsewhere
      RemoveFiles({w.path});
      run.written.pop_back();
      continue;
    }
    file.row_count = w.row_count;
    file.size_bytes = w.size_bytes;
    run.report.record.rows_written += w.row_count;
    run.output_added.push_back(file);
  }
  catalog::TableChange change;
  change.table_id = table.id;
  change.kind =
      mode == OutputMode::kAppend ? catalog::ChangeKind::kAppend : catalog::ChangeKind::kOverwrite;
  for (const auto& f : run.output_removed) change.removed_file_ids.push_back(f.id);
  change.added = run.output_added;
  run.commit.changes.push_back(std::move(change));
  return Status::Ok();
}

Status PipelineRunner::WriteQuarantine(const PipelineSpec& spec, Execution& run) {
  RunRecord& record = run.report.record;
  if (record.rows_quarantined == 0) return Status::Ok();
  const int64_t now = clock_->NowMicros();
  catalog::DataFile file;
  file.partition = "dt=" + FormatDate(now);
  file.path =
      run.quarantine_table.location + "/" + file.partition + "/" + record.run_id + ".parquet";
  const std::string select =
      "SELECT " + QuoteIdentifier(kRecordColumn) + " AS record, " + QuoteIdentifier(kRuleColumn) +
      " AS rule, " + QuoteIdentifier(kReasonColumn) + " AS reason, " + QuoteLiteral(record.run_id) +
      " AS run_id, " + TimestampSql(now) + " AS quarantined_at, " + QuoteLiteral(spec.name) +
      " AS pipeline, " + QuoteLiteral(spec.primary().table.Qualified()) + " AS source_table FROM " +
      kCleaned + " WHERE " + QuoteIdentifier(kRuleColumn) + " IS NOT NULL";
  BASIN_ASSIGN_OR_RETURN(auto w,
                         query::WriteParquet(*run.db, select, lake_root_ + "/" + file.path));
  run.written.push_back(w.path);
  if (w.row_count != record.rows_quarantined) {
    return Error(ErrorCode::kInternal, "wrote " + std::to_string(w.row_count) +
                                           " quarantine rows for " +
                                           std::to_string(record.rows_quarantined));
  }
  file.row_count = w.row_count;
  file.size_bytes = w.size_bytes;
  file.min_time_us = file.max_time_us = now;
  for (auto& change : run.commit.changes) {
    if (change.table_id == run.quarantine_table.id) {  // a replay's rewrite of quarantine
      change.added.push_back(file);
      return Status::Ok();
    }
  }
  run.commit.changes.push_back({run.quarantine_table.id, catalog::ChangeKind::kAppend, {}, {file}});
  return Status::Ok();
}

Status PipelineRunner::CheckQuality(const PipelineSpec& spec, Execution& run) {
  if (spec.quality.empty()) return Status::Ok();
  query::DuckDb& db = *run.db;
  // The output table as it will be after the commit.
  std::unordered_set<int64_t> removed;
  for (const auto& f : run.output_removed) removed.insert(f.id);
  std::vector<catalog::DataFile> after;
  for (const auto& f : run.output_snapshot.files) {
    if (!removed.count(f.id)) after.push_back(f);
  }
  after.insert(after.end(), run.output_added.begin(), run.output_added.end());
  BASIN_RETURN_IF_ERROR(
      db.Execute(std::string("CREATE OR REPLACE VIEW ") + kOutputAfter + " AS " +
                 query::TableScanSql(run.output_table->schema, after, lake_root_)));
  const int64_t now = clock_->NowMicros();
  std::string stopped;
  for (size_t i = 0; i < spec.quality.size(); ++i) {
    const QualityRule& rule = spec.quality[i];
    const DqQuery q = CompileDqRule(rule.rule, kOutputRows, kOutputAfter, now);
    auto result = db.Query(q.sql, 1);
    if (!result.ok()) {
      return Invalid("$.quality[" + std::to_string(i) + "].rule", result.status().message());
    }
    QualityResult r;
    r.rule = rule.text;
    r.on_failure = rule.on_failure;
    const auto& row = result->rows.at(0);
    r.actual_value = row.at(0).kind == query::Value::Kind::kNull ? "" : row.at(0).ToText();
    r.passed = row.at(1).kind == query::Value::Kind::kBool && row.at(1).b;
    if (!r.passed && rule.on_failure == QualityAction::kStop && stopped.empty()) {
      stopped = "quality rule " + rule.text + " failed (actual " + r.actual_value + ")";
    }
    run.report.quality.push_back(std::move(r));
  }
  if (!stopped.empty()) return Error(ErrorCode::kDataQualityFailed, stopped);
  return Status::Ok();
}

Status PipelineRunner::CommitRun(Execution& run) {
  RunRecord& r = run.report.record;
  r.finished_at_us = clock_->NowMicros();
  r.duration_ms = (MonotonicNanos() - run.started_mono_ns) / 1'000'000;
  BASIN_ASSIGN_OR_RETURN(auto runs, catalog_->GetTable(kRunsTable));
  BASIN_ASSIGN_OR_RETURN(auto quality, catalog_->GetTable(kQualityTable));
  BASIN_ASSIGN_OR_RETURN(auto written, AddRecordFiles(lake_root_, runs, quality, run.report,
                                                      r.finished_at_us, run.commit));
  run.written.insert(run.written.end(), written.begin(), written.end());
  auto committed = catalog_->Commit(std::move(run.commit));
  if (!committed.ok()) {
    if (committed.status().code() == ErrorCode::kConflict) {
      return Error(ErrorCode::kConflict,
                   "another run of pipeline " + run.spec->name +
                       " (or another writer of its tables) committed first; nothing of this run "
                       "was committed: " +
                       committed.status().message());
    }
    return committed.status();
  }
  run.written.clear();  // committed: they are the table's files now
  return Status::Ok();
}

Result<std::vector<RunRecord>> PipelineRunner::ListRuns(const std::optional<std::string>& pipeline,
                                                        int limit) {
  std::vector<RunRecord> out;
  auto snapshot = catalog_->CurrentSnapshot(kRunsTable);
  if (!snapshot.ok()) {
    if (snapshot.status().code() == ErrorCode::kTableNotFound) return out;
    return snapshot.status();
  }
  BASIN_ASSIGN_OR_RETURN(auto db, query::DuckDb::Open(query::DuckDbOptions{1, "512MB", false}));
  std::string sql =
      "SELECT run_id, pipeline, kind, status, epoch_us(started_at), epoch_us(finished_at), "
      "duration_ms, rows_in, rows_out, rows_quarantined, rows_duplicate, rows_written, error "
      "FROM (" +
      query::TableScanSql(snapshot->schema, snapshot->files, lake_root_) + ")";
  if (pipeline && !pipeline->empty()) sql += " WHERE pipeline = " + QuoteLiteral(*pipeline);
  sql += " ORDER BY started_at DESC, run_id DESC LIMIT " + std::to_string(std::max(limit, 0));
  BASIN_ASSIGN_OR_RETURN(auto result, db->Query(sql));
  for (const auto& row : result.rows) {
    RunRecord r;
    r.run_id = row[0].s;
    r.pipeline = row[1].s;
    r.kind = row[2].s;
    r.status = row[3].s == "succeeded"     ? RunStatus::kSucceeded
               : row[3].s == "nothing_new" ? RunStatus::kNothingNew
                                           : RunStatus::kFailed;
    r.started_at_us = row[4].i;
    r.finished_at_us = row[5].i;
    r.duration_ms = row[6].i;
    r.rows_in = row[7].i;
    r.rows_out = row[8].i;
    r.rows_quarantined = row[9].i;
    r.rows_duplicate = row[10].i;
    r.rows_written = row[11].i;
    r.error = row[12].kind == query::Value::Kind::kNull ? "" : row[12].s;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace basin::etl
