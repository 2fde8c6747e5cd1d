#include "ingest/compactor.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "base/file_util.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "observe/metrics.h"
#include "query/duck_db.h"

namespace basin::ingest {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMicrosPerHour = 3'600'000'000;

// End of the hour a "dt=YYYY-MM-DD/hour=HH" partition covers, or 0 if the name has no hour.
int64_t PartitionEndUs(const std::string& partition) {
  int y, m, d, h;
  if (std::sscanf(partition.c_str(), "dt=%d-%d-%d/hour=%d", &y, &m, &d, &h) != 4) return 0;
  return (DaysFromCivil(y, m, d) * 24 + h + 1) * kMicrosPerHour;
}

}  // namespace

Compactor::Compactor(catalog::Catalog* catalog, CompactorOptions options, Clock* clock,
                     observe::MetricsRegistry* metrics)
    : catalog_(catalog), options_(std::move(options)), clock_(clock) {
  if (metrics != nullptr) {
    compactions_total_ = &metrics->GetCounter("basin_compactor_partitions_compacted_total",
                                              "Partitions whose small files were merged.");
    dedup_rows_total_ = &metrics->GetCounter("basin_compactor_duplicates_removed_total",
                                             "Repeated rows dropped while merging.");
    deleted_files_total_ = &metrics->GetCounter("basin_compactor_files_deleted_total",
                                                "Replaced files deleted after their grace period.");
  }
}

Result<std::unique_ptr<Compactor>> Compactor::Start(catalog::Catalog* catalog,
                                                    CompactorOptions options, Clock* clock,
                                                    observe::MetricsRegistry* metrics) {
  auto compactor = std::make_unique<Compactor>(catalog, std::move(options), clock, metrics);
  compactor->thread_ = std::thread([c = compactor.get()] { c->Run(); });
  return compactor;
}

Compactor::~Compactor() { Stop(); }

void Compactor::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Compactor::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms));
    if (stopping_) break;
    lock.unlock();
    auto outcome = RunOnce();
    if (!outcome.ok()) {
      BASIN_LOG(Warn, "compactor") << outcome.status().ToString();
    } else if (outcome->partitions_compacted > 0) {
      BASIN_LOG(Info, "compactor")
          << "merged " << outcome->files_removed << " files into " << outcome->files_written
          << " in " << outcome->partitions_compacted << " partitions";
    }
    lock.lock();
  }
}

Result<Compactor::Outcome> Compactor::RunOnce() {
  Outcome outcome;
  const int64_t now = clock_->NowMicros();
  for (const CompactionSpec& spec : options_.tables) {
    auto table = catalog_->GetTable(spec.table);
    if (!table.ok()) continue;  // not created yet
    BASIN_ASSIGN_OR_RETURN(auto snapshot, catalog_->CurrentSnapshot(spec.table));
    // Files an incremental reader (an ETL pipeline) has not read yet must stay as they are: it
    // skips compacted files as rows it has seen (the catalog refuses such a commit anyway).
    BASIN_ASSIGN_OR_RETURN(auto consumers,
                           catalog_->ListConsumers(catalog::TableConsumerStream(spec.table)));
    int64_t horizon = INT64_MAX;
    for (const catalog::ConsumerOffset& c : consumers) {
      horizon = std::min(horizon, static_cast<int64_t>(c.offset));
    }
    std::map<std::string, std::vector<catalog::DataFile>> small_files;
    for (const auto& f : snapshot.files) {
      if (f.added_snapshot_id > horizon) continue;
      if (static_cast<uint64_t>(f.size_bytes) < options_.target_file_bytes / 2) {
        small_files[f.partition].push_back(f);
      }
    }
    for (auto& [partition, files] : small_files) {
      const int64_t end = PartitionEndUs(partition);
      const bool closed = end != 0 && end + options_.closed_partition_grace_us <= now;
      const size_t needed = closed ? 2 : static_cast<size_t>(options_.open_partition_min_files);
      if (files.size() < needed) continue;
      BASIN_RETURN_IF_ERROR(CompactPartition(*table, spec, files, &outcome));
    }
  }
  BASIN_RETURN_IF_ERROR(DeleteExpiredFiles(&outcome));
  return outcome;
}

Status Compactor::CompactPartition(const catalog::TableInfo& table, const CompactionSpec& spec,
                                   const std::vector<catalog::DataFile>& files, Outcome* outcome) {
  // Group the files into merges of about the target size.
  std::vector<std::vector<const catalog::DataFile*>> groups(1);
  uint64_t group_bytes = 0;
  for (const auto& f : files) {
    if (group_bytes > 0 && group_bytes + f.size_bytes > options_.target_file_bytes) {
      groups.emplace_back();
      group_bytes = 0;
    }
    groups.back().push_back(&f);
    group_bytes += f.size_bytes;
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  BASIN_ASSIGN_OR_RETURN(auto db, query::DuckDb::Open(query::DuckDbOptions{1, "512MB", false}));
  for (const auto& group : groups) {
    if (group.size() < 2) continue;
    std::string list;
    int64_t rows_in = 0;
    std::vector<int64_t> removed;
    for (const auto* f : group) {
      if (!list.empty()) list += ",";
      list += query::QuoteLiteral((fs::path(options_.lake_root) / f->path).string());
      rows_in += f->row_count;
      removed.push_back(f->id);
    }
    char name[64];
    std::snprintf(name, sizeof name, "compact-%016llx.parquet",
                  static_cast<unsigned long long>(rng()));
    catalog::DataFile merged;
    merged.partition = group.front()->partition;
    merged.path =
        table.location + "/" + (merged.partition.empty() ? "" : merged.partition + "/") + name;
    const std::string final_path = (fs::path(options_.lake_root) / merged.path).string();
    const std::string tmp_path = final_path + ".tmp";
    // The partition values are in the folder names, not the files; files written before a schema
    // change lack its new columns (NULL in the merged file).
    std::string select = "SELECT * FROM read_parquet([" + list +
                         "], hive_partitioning = false, union_by_name = true)";
    if (!spec.dedup_key.empty()) {
      select += " QUALIFY row_number() OVER (PARTITION BY " +
                query::QuoteIdentifier(spec.dedup_key) + " ORDER BY " +
                query::QuoteIdentifier(spec.keep_first_by) + ") = 1";
    }
    if (!spec.order_by.empty()) select += " ORDER BY " + query::QuoteIdentifier(spec.order_by);
    BASIN_RETURN_IF_ERROR(db->Execute("COPY (" + select + ") TO " + query::QuoteLiteral(tmp_path) +
                                      " (FORMAT parquet, COMPRESSION zstd)"));
    BASIN_RETURN_IF_ERROR(SyncFile(tmp_path));
    std::error_code ec;
    fs::rename(tmp_path, final_path, ec);
    if (ec) return ErrnoStatus(ec.value(), "rename " + tmp_path);
    BASIN_RETURN_IF_ERROR(SyncDirectory(fs::path(final_path).parent_path().string()));

    std::string stats_sql =
        "SELECT count(*) FROM read_parquet(" + query::QuoteLiteral(final_path) + ")";
    BASIN_ASSIGN_OR_RETURN(auto stats, db->Query(stats_sql));
    merged.row_count = stats.rows.at(0).at(0).i;
    merged.size_bytes = static_cast<int64_t>(fs::file_size(final_path, ec));
    merged.min_time_us = group.front()->min_time_us;
    merged.max_time_us = group.front()->max_time_us;
    for (const auto* f : group) {
      merged.min_time_us = std::min(merged.min_time_us, f->min_time_us);
      merged.max_time_us = std::max(merged.max_time_us, f->max_time_us);
    }
    auto committed = catalog_->CommitReplace(table.id, removed, {merged});
    if (!committed.ok()) {
      fs::remove(final_path, ec);
      // Conflict: another writer changed these files first; the next pass will look again.
      if (committed.status().code() == ErrorCode::kConflict) continue;
      return committed.status();
    }
    const int64_t deduplicated = rows_in - merged.row_count;
    outcome->files_removed += static_cast<int>(group.size());
    outcome->files_written += 1;
    outcome->rows_deduplicated += deduplicated;
    if (dedup_rows_total_) dedup_rows_total_->Increment(deduplicated);
  }
  outcome->partitions_compacted += 1;
  if (compactions_total_) compactions_total_->Increment();
  return Status::Ok();
}

Status Compactor::DeleteExpiredFiles(Outcome* outcome) {
  BASIN_ASSIGN_OR_RETURN(
      auto expired, catalog_->ExpiredFiles(clock_->NowMicros() - options_.removed_file_grace_us));
  if (expired.empty()) return Status::Ok();
  std::vector<int64_t> ids;
  for (const auto& f : expired) {
    std::error_code ec;
    fs::remove(fs::path(options_.lake_root) / f.path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return ErrnoStatus(ec.value(), "delete " + f.path);
    }
    ids.push_back(f.id);
  }
  BASIN_RETURN_IF_ERROR(catalog_->ForgetFiles(ids));
  outcome->files_deleted += static_cast<int>(ids.size());
  if (deleted_files_total_) deleted_files_total_->Increment(ids.size());
  return Status::Ok();
}

}  // namespace basin::ingest
