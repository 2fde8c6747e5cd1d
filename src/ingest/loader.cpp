#include "ingest/loader.h"

#include <simdjson.h>

#include <filesystem>
#include <random>
#include <unordered_set>

#include "base/base64.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "ingest/clickstream_event.h"
#include "ingest/record_envelope.h"
#include "observe/metrics.h"
#include "query/duck_db.h"
#include "query/parquet_file_writer.h"

namespace basin::ingest {
namespace fs = std::filesystem;

namespace {

constexpr size_t kReadBatchRecords = 8192;
constexpr size_t kReadBatchBytes = 8ULL << 20;
constexpr int64_t kMicrosPerHour = 3'600'000'000;

std::string PartitionOf(int64_t event_time_us) {
  CivilTime t = ToCivil(event_time_us);
  char buf[32];
  std::snprintf(buf, sizeof buf, "dt=%04d-%02d-%02d/hour=%02d", t.year, t.month, t.day, t.hour);
  return buf;
}

std::string DatePartitionOf(int64_t time_us) { return "dt=" + FormatDate(time_us); }

void AppendOptional(query::Appender& a, const std::optional<std::string>& v) {
  if (v) {
    a.AppendVarchar(*v);
  } else {
    a.AppendNull();
  }
}

const std::vector<catalog::Column>& ColumnsOf(RecordFormat format) {
  return format == RecordFormat::kClickstream ? ClickstreamColumns() : StreamRecordColumns();
}

const std::vector<catalog::Column>& PartitionColumnsOf(RecordFormat format) {
  return format == RecordFormat::kClickstream ? ClickstreamPartitionColumns()
                                              : StreamRecordPartitionColumns();
}

// The column whose hour partitions the rows: when the event happened, or when Basin got it.
std::string_view TimeColumnOf(RecordFormat format) {
  return format == RecordFormat::kClickstream ? "event_time" : "ingest_time";
}

// The order of the rows in a file: by event time, or in log order (sequence numbers have a fixed
// width and the offset first, so their string order is the log's).
std::string_view FileOrderOf(RecordFormat format) {
  return format == RecordFormat::kClickstream ? "event_time" : "sequence_number";
}

// Whether `payload` is one JSON document (any value; UTF-8 checked by the parser).
bool IsJsonDocument(simdjson::dom::parser& parser, std::string_view payload) {
  simdjson::dom::element ignored;
  return parser.parse(payload.data(), payload.size(), true).get(ignored) == simdjson::SUCCESS;
}

}  // namespace

LoaderOptions LoaderOptionsFor(const std::string& stream, RecordFormat format) {
  LoaderOptions options;
  options.stream = stream;
  options.format = format;
  options.table = format == RecordFormat::kClickstream ? options.table : StreamRecordsTable(stream);
  options.quarantine_table = catalog::QuarantineTableFor(options.table);
  return options;
}

const std::vector<catalog::Column>& QuarantineColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"record", "VARCHAR"},           {"rule", "VARCHAR"},
      {"reason", "VARCHAR"},           {"run_id", "VARCHAR"},
      {"quarantined_at", "TIMESTAMP"}, {"source_stream", "VARCHAR"},
      {"source_offset", "BIGINT"},
  };
  return kColumns;
}

Loader::Loader(log::Log* log, catalog::Catalog* catalog, LoaderOptions options, Clock* clock,
               observe::MetricsRegistry* metrics)
    : log_(log),
      catalog_(catalog),
      options_(std::move(options)),
      clock_(clock),
      committed_keys_(options_.dedup_window_us, options_.dedup_max_entries) {
  if (metrics != nullptr) {
    observe::Labels labels{{"stream", options_.stream}};
    rows_total_ =
        &metrics->GetCounter("basin_loader_rows_total", "Rows committed to the lake.", labels);
    duplicates_total_ =
        &metrics->GetCounter("basin_loader_duplicates_total",
                             "Records dropped as repeats of a committed event_id.", labels);
    quarantined_total_ =
        &metrics->GetCounter("basin_loader_quarantined_total",
                             "Records that could not be typed, kept in quarantine.", labels);
    commits_total_ =
        &metrics->GetCounter("basin_loader_commits_total", "Catalog commits of new files.", labels);
    commit_failures_total_ =
        &metrics->GetCounter("basin_loader_commit_failures_total",
                             "Batches that failed to write or commit (retried).", labels);
    lag_records_ = &metrics->GetGauge(
        "basin_loader_lag_records", "Acknowledged records not yet committed to the lake.", labels);
    commit_seconds_ =
        &metrics->GetHistogram("basin_loader_commit_seconds", "Time to write and commit one batch.",
                               observe::Histogram::LatencySeconds(), labels);
  }
}

Result<std::unique_ptr<Loader>> Loader::Start(log::Log* log, catalog::Catalog* catalog,
                                              LoaderOptions options, Clock* clock,
                                              observe::MetricsRegistry* metrics) {
  std::unique_ptr<Loader> loader(new Loader(log, catalog, std::move(options), clock, metrics));
  BASIN_RETURN_IF_ERROR(loader->Init());
  loader->thread_ = std::thread([l = loader.get()] { l->Run(); });
  return loader;
}

Loader::~Loader() { Stop(); }

Status Loader::CheckTableIsFree(const catalog::TableRef& ref,
                                const catalog::TableSchema& schema) const {
  // A stream may not write into a table someone else made with other columns (a batch table
  // raw.orders for a stream `orders`): its files would not match the table's schema.
  auto existing = catalog_->GetTable(ref);
  if (existing.ok() && (existing->schema.columns != schema.columns ||
                        existing->schema.partition_columns != schema.partition_columns)) {
    return Status(ErrorCode::kAlreadyExists,
                  "stream '" + options_.stream + "' loads into " + ref.Qualified() +
                      ", which already exists as a table that is not a stream's (other "
                      "columns); give the stream another name");
  }
  return Status::Ok();
}

Status Loader::Init() {
  const catalog::TableSchema schema{0, ColumnsOf(options_.format),
                                    PartitionColumnsOf(options_.format)};
  const catalog::TableSchema quarantine_schema{0, QuarantineColumns(), {{"dt", "DATE"}}};
  if (options_.format == RecordFormat::kRecords) {
    // Both checked before either is made, so that a refused stream leaves no table behind.
    BASIN_RETURN_IF_ERROR(CheckTableIsFree(options_.table, schema));
    BASIN_RETURN_IF_ERROR(CheckTableIsFree(options_.quarantine_table, quarantine_schema));
  }
  const catalog::TableRef& t = options_.table;
  const catalog::TableRef& q = options_.quarantine_table;
  BASIN_ASSIGN_OR_RETURN(table_, catalog_->EnsureTable(t, schema, t.zone + "/" + t.name));
  BASIN_ASSIGN_OR_RETURN(quarantine_table_,
                         catalog_->EnsureTable(q, quarantine_schema, q.zone + "/" + q.name));
  BASIN_RETURN_IF_ERROR(RemoveOrphanFiles(table_));
  BASIN_RETURN_IF_ERROR(RemoveOrphanFiles(quarantine_table_));
  BASIN_ASSIGN_OR_RETURN(committed_offset_,
                         catalog_->GetStreamOffset(options_.stream, options_.consumer));
  BASIN_ASSIGN_OR_RETURN(reader_, log_->OpenReader(options_.stream, committed_offset_));
  if (reader_->position() > committed_offset_) {
    // Retention removed records the loader never committed; say so loudly, carry on from there.
    BASIN_LOG(Error, "loader") << "stream " << options_.stream << ": records " << committed_offset_
                               << ".." << reader_->position()
                               << " were deleted by retention before they were loaded";
  }
  BASIN_RETURN_IF_ERROR(RebuildDedupIndex());
  BASIN_ASSIGN_OR_RETURN(rows_, query::ParquetFileWriter::Create(schema.columns));
  BASIN_ASSIGN_OR_RETURN(quarantined_, query::ParquetFileWriter::Create(QuarantineColumns()));
  stats_.committed_offset = committed_offset_;
  return Status::Ok();
}

Status Loader::RemoveOrphanFiles(const catalog::TableInfo& table) {
  BASIN_ASSIGN_OR_RETURN(auto known_list, catalog_->KnownPaths(table.id));
  std::unordered_set<std::string> known(known_list.begin(), known_list.end());
  const fs::path root = fs::path(options_.lake_root) / table.location;
  std::error_code ec;
  if (!fs::exists(root, ec)) return Status::Ok();
  std::vector<fs::path> orphans;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string relative = fs::relative(it->path(), options_.lake_root, ec).string();
    if (known.count(relative) == 0) orphans.push_back(it->path());
  }
  for (const auto& path : orphans) {
    BASIN_LOG(Warn, "loader") << "removing " << path.string()
                              << ": no commit refers to it (interrupted write)";
    fs::remove(path, ec);
  }
  return Status::Ok();
}

Status Loader::RebuildDedupIndex() {
  if (options_.format != RecordFormat::kClickstream) return Status::Ok();  // no dedup
  BASIN_ASSIGN_OR_RETURN(auto snapshot, catalog_->CurrentSnapshot(options_.table));
  if (snapshot.files.empty()) return Status::Ok();
  const int64_t since = clock_->NowMicros() - options_.dedup_window_us;
  std::string files;
  // Every live file is named: an old event can have been ingested recently. Parquet row-group
  // statistics on ingest_time let DuckDB skip the old data without reading it.
  for (const auto& f : snapshot.files) {
    if (!files.empty()) files += ",";
    files += query::QuoteLiteral((fs::path(options_.lake_root) / f.path).string());
  }
  BASIN_ASSIGN_OR_RETURN(auto db, query::DuckDb::Open(query::DuckDbOptions{1, "", true}));
  const std::string sql = "SELECT event_id, epoch_us(ingest_time) FROM read_parquet([" + files +
                          "]) WHERE ingest_time >= make_timestamp(" + std::to_string(since) +
                          ") ORDER BY ingest_time LIMIT " +
                          std::to_string(options_.dedup_max_entries);
  BASIN_ASSIGN_OR_RETURN(auto result, db->Query(sql));
  for (const auto& row : result.rows) {
    committed_keys_.Insert(DedupIndex::KeyOf(row[0].s), row[1].i);
  }
  BASIN_LOG(Info, "loader") << "stream " << options_.stream << ": " << committed_keys_.size()
                            << " recent event ids loaded for deduplication";
  return Status::Ok();
}

void Loader::Run() {
  while (true) {
    uint64_t flush_target;
    bool stopping;
    {
      std::lock_guard lock(mu_);
      flush_target = flush_target_;
      stopping = stopping_;
    }
    auto read = ReadSome();
    Status status = read.status();
    bool flush_wanted = flush_target > committed_offset_ && reader_->position() >= flush_target;
    bool caught_up = read.ok() && !*read;
    // On stop, drain the backlog for a bounded time only: what is left stays in the log and is
    // loaded at the next start, so a long backlog cannot hold up shutdown.
    const bool drain_over = stopping && (caught_up || MonotonicNanos() >= stop_deadline_ns_);
    if (status.ok() && ShouldCommit(flush_wanted || drain_over)) {
      const int64_t start_ns = MonotonicNanos();
      status = Commit();
      if (commit_seconds_) commit_seconds_->Observe((MonotonicNanos() - start_ns) / 1e9);
    }
    if (!status.ok()) {
      BASIN_LOG(Error, "loader") << "stream " << options_.stream << ": " << status.ToString()
                                 << "; retrying from offset " << committed_offset_;
      if (commit_failures_total_) commit_failures_total_->Increment();
      ResetBuffers();
      auto reader = log_->OpenReader(options_.stream, committed_offset_);
      if (reader.ok()) reader_ = std::move(reader).value();
      std::unique_lock lock(mu_);
      last_error_ = status;
      if (stopping_) break;  // nothing acknowledged is lost: the log still has it
      cv_.wait_for(lock, std::chrono::milliseconds(options_.retry_backoff_ms));
      continue;
    }
    if (lag_records_) {
      auto info = log_->DescribeStream(options_.stream);
      if (info.ok()) lag_records_->Set(static_cast<double>(info->end_offset - committed_offset_));
    }
    if (drain_over && status.ok() && reader_->position() == committed_offset_) break;
    if (caught_up) {
      std::unique_lock lock(mu_);
      if (flush_target_ <= committed_offset_ && !stopping_) {
        cv_.wait_for(lock, std::chrono::milliseconds(options_.idle_poll_ms));
      }
    }
  }
}

Result<bool> Loader::ReadSome() {
  BASIN_ASSIGN_OR_RETURN(auto batch, reader_->ReadBatch(kReadBatchRecords, kReadBatchBytes));
  if (batch.empty()) return false;
  if (oldest_buffered_us_ == 0) oldest_buffered_us_ = MonotonicNanos() / 1000;
  for (const auto& record : batch) Buffer(record);
  return true;
}

void Loader::Buffer(const log::LogRecord& record) {
  ++buffered_records_;
  buffered_bytes_ += record.data.size();
  auto envelope = RecordEnvelope::Decode(record.data);
  if (!envelope.ok()) {
    Quarantine(record, record.data, envelope.status().WithContext("envelope"));
    return;
  }
  if (!envelope->rejection.empty()) {  // refused at ingest: the client was told why
    Quarantine(record, envelope->payload,
               Status(ErrorCode::kValidationFailed, std::string(envelope->rejection))
                   .WithContext("ingest"));
    return;
  }
  if (options_.format == RecordFormat::kClickstream) {
    BufferEvent(record, *envelope);
  } else {
    BufferRecord(record, *envelope);
  }
}

void Loader::BufferEvent(const log::LogRecord& record, const RecordEnvelope& envelope) {
  thread_local simdjson::dom::parser parser;
  static const IngestLimits kLimits;  // the same limits the ingest path enforced
  // Validate against the time the record was appended, as ingest did.
  auto event = ParseClickstreamEvent(parser, envelope.payload, kLimits, record.append_time_us);
  if (!event.ok()) {
    Quarantine(record, envelope.payload, event.status().WithContext("schema"));
    return;
  }
  const DedupIndex::Key key = DedupIndex::KeyOf(event->event_id);
  if (committed_keys_.Contains(key) || !pending_set_.insert(key).second) {
    ++pending_duplicates_;
    return;
  }
  pending_keys_.emplace_back(key, record.append_time_us);

  query::Appender& a = rows_->appender();
  a.AppendVarchar(event->event_id);
  a.AppendVarchar(event->event_type);
  a.AppendTimestampMicros(event->event_time_us);
  a.AppendTimestampMicros(record.append_time_us);
  AppendOptional(a, event->app_id);
  AppendOptional(a, event->user_id);
  AppendOptional(a, event->anonymous_id);
  AppendOptional(a, event->device_id);
  AppendOptional(a, event->session_id);
  AppendOptional(a, event->page_url);
  AppendOptional(a, event->page_title);
  AppendOptional(a, event->referrer);
  AppendOptional(a, event->product_id);
  AppendOptional(a, event->items_json);
  if (event->revenue) {
    a.AppendDouble(*event->revenue);
  } else {
    a.AppendNull();
  }
  AppendOptional(a, event->currency);
  AppendOptional(a, event->platform);
  AppendOptional(a, event->locale);
  a.AppendVarchar(envelope.user_agent);
  a.AppendVarchar(envelope.client_ip);
  AppendOptional(a, event->attributes_json);
  AppendOptional(a, event->user_attributes_json);
  a.AppendVarchar(RecordSourceName(envelope.source));
  Status row = rows_->EndRow();
  if (!row.ok()) {
    pending_keys_.pop_back();
    pending_set_.erase(key);
    Quarantine(record, envelope.payload, row.WithContext("typing"));
    return;
  }
  CountRow(event->event_time_us);
}

void Loader::BufferRecord(const log::LogRecord& record, const RecordEnvelope& envelope) {
  thread_local simdjson::dom::parser parser;
  query::Appender& a = rows_->appender();
  a.AppendTimestampMicros(record.append_time_us);
  a.AppendVarchar(record.partition_key);
  a.AppendInt32(static_cast<int32_t>(record.shard));
  a.AppendVarchar(KinesisSequenceNumber(record.offset, record.shard));
  a.AppendVarchar(RecordSourceName(envelope.source));
  a.AppendVarchar(envelope.client_ip);
  a.AppendVarchar(envelope.user_agent);
  if (IsJsonDocument(parser, envelope.payload)) {
    a.AppendVarchar(envelope.payload);
    a.AppendNull();
  } else {
    a.AppendNull();
    a.AppendVarchar(Base64Encode(envelope.payload));
  }
  Status row = rows_->EndRow();
  if (!row.ok()) {
    Quarantine(record, envelope.payload, row.WithContext("typing"));
    return;
  }
  CountRow(record.append_time_us);
}

void Loader::CountRow(int64_t time_us) {
  PartitionStats& p = partitions_[PartitionOf(time_us)];
  if (p.rows == 0 || time_us < p.min_time_us) p.min_time_us = time_us;
  if (p.rows == 0 || time_us > p.max_time_us) p.max_time_us = time_us;
  ++p.rows;
}

void Loader::Quarantine(const log::LogRecord& record, std::string_view payload, const Status& why) {
  const int64_t now = clock_->NowMicros();
  query::Appender& a = quarantined_->appender();
  if (simdjson::validate_utf8(payload.data(), payload.size())) {
    a.AppendVarchar(payload);
  } else {
    a.AppendVarchar("base64:" + Base64Encode(payload));
  }
  std::string rule(why.message().substr(0, why.message().find(':')));
  a.AppendVarchar(rule);
  a.AppendVarchar(why.ToString());
  a.AppendVarchar("loader:" + options_.stream + ":" + std::to_string(committed_offset_));
  a.AppendTimestampMicros(now);
  a.AppendVarchar(options_.stream);
  a.AppendInt64(static_cast<int64_t>(record.offset));
  Status row = quarantined_->EndRow();
  BASIN_CHECK(row.ok());  // the values above always fit the quarantine schema
  if (quarantine_stats_.rows == 0) quarantine_stats_.min_time_us = now;
  quarantine_stats_.max_time_us = now;
  ++quarantine_stats_.rows;
}

bool Loader::ShouldCommit(bool flush_wanted) const {
  if (reader_->position() == committed_offset_) return false;  // nothing read since last commit
  if (flush_wanted) return true;
  if (buffered_bytes_ >= options_.buffer_bytes || buffered_records_ >= options_.buffer_records) {
    return true;
  }
  return oldest_buffered_us_ != 0 &&
         MonotonicNanos() / 1000 - oldest_buffered_us_ >= options_.buffer_interval_ms * 1000;
}

std::string Loader::NewFilePath(const catalog::TableInfo& table,
                                const std::string& partition) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char name[96];
  std::snprintf(name, sizeof name, "part-%020llu-%020llu-%08llx.parquet",
                static_cast<unsigned long long>(committed_offset_),
                static_cast<unsigned long long>(reader_->position()),
                static_cast<unsigned long long>(rng() & 0xFFFFFFFF));
  return table.location + "/" + partition + "/" + name;
}

Status Loader::Commit() {
  std::vector<catalog::DataFile> files;
  std::vector<catalog::DataFile> quarantine_files;
  auto remove_written = [&] {
    std::error_code ec;
    for (const auto* list : {&files, &quarantine_files}) {
      for (const auto& f : *list) fs::remove(fs::path(options_.lake_root) / f.path, ec);
    }
  };
  for (const auto& [partition, stats] : partitions_) {
    catalog::DataFile file;
    file.path = NewFilePath(table_, partition);
    file.partition = partition;
    const int64_t hour_start =
        stats.min_time_us -
        ((stats.min_time_us % kMicrosPerHour) + kMicrosPerHour) % kMicrosPerHour;
    const std::string time_column(TimeColumnOf(options_.format));
    const std::string where = time_column + " >= make_timestamp(" + std::to_string(hour_start) +
                              ") AND " + time_column + " < make_timestamp(" +
                              std::to_string(hour_start + kMicrosPerHour) + ")";
    auto written = rows_->Write((fs::path(options_.lake_root) / file.path).string(), where,
                                FileOrderOf(options_.format));
    if (!written.ok()) {
      remove_written();
      return written.status().WithContext("writing " + file.path);
    }
    BASIN_CHECK(written->row_count == stats.rows);
    file.row_count = written->row_count;
    file.size_bytes = written->size_bytes;
    file.min_time_us = stats.min_time_us;
    file.max_time_us = stats.max_time_us;
    files.push_back(std::move(file));
  }
  if (quarantine_stats_.rows > 0) {
    catalog::DataFile file;
    file.partition = DatePartitionOf(quarantine_stats_.min_time_us);
    file.path = NewFilePath(quarantine_table_, file.partition);
    auto written = quarantined_->Write((fs::path(options_.lake_root) / file.path).string());
    if (!written.ok()) {
      remove_written();
      return written.status().WithContext("writing " + file.path);
    }
    file.row_count = written->row_count;
    file.size_bytes = written->size_bytes;
    file.min_time_us = quarantine_stats_.min_time_us;
    file.max_time_us = quarantine_stats_.max_time_us;
    quarantine_files.push_back(std::move(file));
  }

  const uint64_t new_offset = reader_->position();
  std::vector<catalog::TableAppend> appends;
  appends.push_back({table_.id, files});
  if (!quarantine_files.empty()) appends.push_back({quarantine_table_.id, quarantine_files});
  auto committed = catalog_->CommitAppends(
      std::move(appends),
      catalog::OffsetAdvance{options_.stream, options_.consumer, committed_offset_, new_offset});
  if (!committed.ok()) {
    remove_written();
    return committed.status().WithContext("committing");
  }

  int64_t rows = 0;
  for (const auto& [partition, p] : partitions_) rows += p.rows;
  for (const auto& [key, time] : pending_keys_) committed_keys_.Insert(key, time);
  committed_keys_.Expire(clock_->NowMicros());
  if (rows_total_) rows_total_->Increment(rows);
  if (duplicates_total_) duplicates_total_->Increment(pending_duplicates_);
  if (quarantined_total_) quarantined_total_->Increment(quarantine_stats_.rows);
  if (commits_total_) commits_total_->Increment();
  {
    std::lock_guard lock(mu_);
    committed_offset_ = new_offset;
    stats_.committed_offset = new_offset;
    stats_.rows_committed += rows;
    stats_.duplicates_dropped += pending_duplicates_;
    stats_.records_quarantined += quarantine_stats_.rows;
    stats_.files_written += files.size() + quarantine_files.size();
    stats_.commits += 1;
    stats_.last_commit_time_us = clock_->NowMicros();
    for (const auto& [partition, p] : partitions_) {
      stats_.max_event_time_us = std::max(stats_.max_event_time_us, p.max_time_us);
    }
    last_error_ = Status::Ok();
  }
  cv_.notify_all();
  ResetBuffers();
  return Status::Ok();
}

void Loader::ResetBuffers() {
  Status a = rows_->Clear();
  Status b = quarantined_->Clear();
  if (!a.ok() || !b.ok()) {
    BASIN_LOG(Error, "loader") << "cannot clear buffers: " << a.ToString() << " " << b.ToString();
  }
  partitions_.clear();
  quarantine_stats_ = {};
  pending_keys_.clear();
  pending_set_.clear();
  pending_duplicates_ = 0;
  buffered_bytes_ = 0;
  buffered_records_ = 0;
  oldest_buffered_us_ = 0;
}

Status Loader::Flush(int64_t timeout_ms) {
  auto info = log_->DescribeStream(options_.stream);
  if (!info.ok()) return info.status();
  const uint64_t target = info->end_offset;
  std::unique_lock lock(mu_);
  if (target > flush_target_) flush_target_ = target;
  cv_.notify_all();
  const bool done = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                 [&] { return committed_offset_ >= target || stopping_; });
  if (committed_offset_ >= target) return Status::Ok();
  if (!done) {
    return Status(ErrorCode::kUnavailable,
                  "loader for '" + options_.stream + "' did not commit within " +
                      std::to_string(timeout_ms) + " ms" +
                      (last_error_.ok() ? "" : " (last error: " + last_error_.ToString() + ")"));
  }
  return Status(ErrorCode::kShuttingDown, "loader stopped");
}

void Loader::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    stop_deadline_ns_ = MonotonicNanos() + options_.stop_drain_ms * 1'000'000;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Loader::Stats Loader::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace basin::ingest
