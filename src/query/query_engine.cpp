#include "query/query_engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>

#include "base/logging.h"

namespace basin::query {
namespace {

using SteadyClock = std::chrono::steady_clock;

// After a deadline passes the watchdog interrupts again at this interval until the query is
// disarmed: an interrupt that lands between two statements of a query is forgotten by DuckDB.
constexpr auto kReinterruptInterval = std::chrono::milliseconds(20);

// Interrupts queries that run past their deadline. One thread per engine. Arm and Disarm take the
// same lock as the interrupting loop, so once Disarm returns no interrupt can reach that database
// (an interrupt that reaches an idle connection is cleared by DuckDB when the next query starts).
class Watchdog {
 public:
  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  uint64_t Arm(DuckDb* db, SteadyClock::time_point deadline, std::atomic<bool>* fired) {
    std::lock_guard lock(mu_);
    const uint64_t id = next_id_++;
    entries_.emplace(id, Entry{db, deadline, fired});
    cv_.notify_all();
    return id;
  }
  void Disarm(uint64_t id) {
    std::lock_guard lock(mu_);
    entries_.erase(id);
  }

 private:
  struct Entry {
    DuckDb* db;
    SteadyClock::time_point deadline;
    std::atomic<bool>* fired;
  };

  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      const auto now = SteadyClock::now();
      auto next = SteadyClock::time_point::max();
      for (auto& [id, entry] : entries_) {
        if (entry.deadline <= now) {
          entry.fired->store(true);
          entry.db->Interrupt();
          entry.deadline = now + kReinterruptInterval;
        }
        next = std::min(next, entry.deadline);
      }
      if (next == SteadyClock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next);
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Entry> entries_;
  std::thread thread_;  // last: it starts running in the constructor
};

// One database of the pool and the catalog state its views show.
struct PooledDb {
  std::unique_ptr<DuckDb> db;
  struct ViewVersion {
    int64_t snapshot_id;
    int32_t schema_version;
    bool operator==(const ViewVersion&) const = default;
  };
  std::unordered_map<int64_t, ViewVersion> views;  // by table id
};

std::string EmptyColumns(const catalog::TableSchema& schema) {
  std::string out;
  for (const auto* list : {&schema.columns, &schema.partition_columns}) {
    for (const catalog::Column& c : *list) {
      if (!out.empty()) out += ", ";
      out += "CAST(NULL AS " + c.type + ") AS " + QuoteIdentifier(c.name);
    }
  }
  return out;
}

std::string ViewName(const catalog::TableRef& ref) {
  return QuoteIdentifier(ref.zone) + "." + QuoteIdentifier(ref.name);
}

}  // namespace

std::string TableScanSql(const catalog::TableSchema& schema,
                         const std::vector<catalog::DataFile>& files,
                         const std::string& lake_root) {
  if (files.empty()) return "SELECT " + EmptyColumns(schema) + " WHERE false";
  std::string sql = "SELECT ";
  bool first = true;
  for (const auto* list : {&schema.columns, &schema.partition_columns}) {
    for (const catalog::Column& c : *list) {
      if (!first) sql += ", ";
      first = false;
      sql +=
          "CAST(" + QuoteIdentifier(c.name) + " AS " + c.type + ") AS " + QuoteIdentifier(c.name);
    }
  }
  sql += " FROM (SELECT * FROM read_parquet([";
  for (size_t i = 0; i < files.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += QuoteLiteral(lake_root + "/" + files[i].path);
  }
  sql += "]";
  if (schema.partition_columns.empty()) {
    sql += ", hive_partitioning=false";
  } else {
    sql += ", hive_partitioning=true, hive_types={";
    for (size_t i = 0; i < schema.partition_columns.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += QuoteLiteral(schema.partition_columns[i].name) + ": " +
             QuoteLiteral(schema.partition_columns[i].type);
    }
    sql += "}";
  }
  sql += ", union_by_name=true) UNION ALL BY NAME SELECT " + EmptyColumns(schema) + " WHERE false)";
  return sql;
}

namespace {

// The view of one snapshot (see TableScanSql).
std::string ViewSql(const catalog::TableRef& ref, const catalog::Snapshot& snapshot,
                    const std::string& lake_root) {
  return "CREATE OR REPLACE VIEW " + ViewName(ref) + " AS " +
         TableScanSql(snapshot.schema, snapshot.files, lake_root);
}

// A view that has the table's columns and fails with `reason` when a query reads it, so that one
// unreadable table (a missing or corrupt file) does not fail queries that do not use it.
std::string BrokenViewSql(const catalog::TableRef& ref, const catalog::TableSchema& schema,
                          const std::string& reason) {
  return "CREATE OR REPLACE VIEW " + ViewName(ref) + " AS SELECT " + EmptyColumns(schema) +
         " FROM range(1) WHERE error(" +
         QuoteLiteral("table " + ref.Qualified() + " cannot be read: " + reason) + ") IS NULL";
}

}  // namespace

struct QueryEngine::Impl {
  catalog::Catalog* catalog = nullptr;
  std::string lake_root;  // absolute, without a trailing slash
  QueryEngineOptions options;
  std::vector<std::unique_ptr<PooledDb>> pool;

  std::mutex mu;
  std::condition_variable idle_cv;
  std::vector<PooledDb*> idle;

  Watchdog watchdog;

  // Brings the views of `slot` to the catalog's current snapshots. A table whose snapshot and
  // schema version are what the view already shows is not read again.
  Status RefreshViews(PooledDb& slot) {
    for (const catalog::TableInfo& table : catalog->ListTables()) {
      auto it = slot.views.find(table.id);
      if (it != slot.views.end() &&
          it->second == PooledDb::ViewVersion{table.current_snapshot_id, table.schema.version}) {
        continue;
      }
      Result<catalog::Snapshot> snapshot = catalog->CurrentSnapshot(table.ref);
      if (!snapshot.ok()) {
        return snapshot.status().WithContext("reading the snapshot of " + table.ref.Qualified());
      }
      const PooledDb::ViewVersion version{snapshot->id, snapshot->schema.version};
      Status created = slot.db->Execute(ViewSql(table.ref, *snapshot, lake_root));
      if (!created.ok()) {
        if (created.code() == ErrorCode::kQueryCancelled ||
            created.code() == ErrorCode::kQueryMemoryLimit) {
          return created;
        }
        BASIN_LOG(Warn, "query") << "table " << table.ref.Qualified() << " at snapshot "
                                 << snapshot->id << " cannot be read: " << created.message();
        BASIN_RETURN_IF_ERROR(
            slot.db->Execute(BrokenViewSql(table.ref, snapshot->schema, created.message())));
      }
      // A broken view is kept until the next commit of its table, which is what can mend it.
      slot.views[table.id] = version;
    }
    return Status::Ok();
  }
};

QueryEngine::QueryEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QueryEngine::~QueryEngine() = default;

Result<std::unique_ptr<QueryEngine>> QueryEngine::Create(catalog::Catalog* catalog,
                                                         std::string lake_root,
                                                         QueryEngineOptions options) {
  if (catalog == nullptr) return Error(ErrorCode::kInvalidArgument, "query engine needs a catalog");
  if (options.pool_size < 1 || options.threads_per_query < 1 || options.default_timeout_ms < 1) {
    return Error(ErrorCode::kInvalidArgument,
                 "pool_size, threads_per_query and default_timeout_ms must be positive");
  }
  if (lake_root.empty()) return Error(ErrorCode::kInvalidArgument, "lake root is empty");
  std::error_code ec;
  std::filesystem::path root = std::filesystem::absolute(lake_root, ec).lexically_normal();
  if (ec) return Error(ErrorCode::kInvalidArgument, "bad lake root " + lake_root);
  std::string root_text = root.string();
  while (root_text.size() > 1 && root_text.back() == '/') root_text.pop_back();

  auto impl = std::make_unique<Impl>();
  impl->catalog = catalog;
  impl->lake_root = root_text;
  impl->options = options;
  for (int i = 0; i < options.pool_size; ++i) {
    DuckDbOptions db_options;
    db_options.threads = options.threads_per_query;
    db_options.memory_limit = options.memory_limit;
    BASIN_ASSIGN_OR_RETURN(std::unique_ptr<DuckDb> db, DuckDb::Open(db_options));
    std::string setup;
    // Each zone of the catalog is a schema in every query database.
    for (std::string_view zone : catalog::Zones()) {
      setup += "CREATE SCHEMA " + QuoteIdentifier(zone) + ";\n";
    }
    // File access is limited to the lake (reads; writes are refused by statement type), then the
    // configuration is locked so that no query can SET it back.
    setup += "SET TimeZone = 'UTC';\n";
    setup += "SET parquet_metadata_cache = true;\n";
    setup += "SET allowed_directories = [" + QuoteLiteral(root_text + "/") + "];\n";
    setup += "SET enable_external_access = false;\n";
    setup += "SET lock_configuration = true;\n";
    Status s = db->Execute(setup);
    if (!s.ok()) return s.WithContext("setting up a query database");
    auto slot = std::make_unique<PooledDb>();
    slot->db = std::move(db);
    impl->idle.push_back(slot.get());
    impl->pool.push_back(std::move(slot));
  }
  return std::unique_ptr<QueryEngine>(new QueryEngine(std::move(impl)));
}

Result<QueryResult> QueryEngine::Execute(std::string_view sql, const QueryLimits& limits) {
  Impl& impl = *impl_;
  const int64_t timeout_ms =
      limits.timeout_ms > 0 ? limits.timeout_ms : impl.options.default_timeout_ms;
  const uint64_t max_rows = limits.max_rows > 0 ? limits.max_rows : impl.options.default_max_rows;
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  auto timeout_error = [&](std::string_view what) {
    return Error(ErrorCode::kQueryTimeout, std::string(what) + " within the timeout of " +
                                               std::to_string(timeout_ms) + " ms");
  };

  PooledDb* slot = nullptr;
  {
    std::unique_lock lock(impl.mu);
    if (!impl.idle_cv.wait_until(lock, deadline, [&] { return !impl.idle.empty(); })) {
      return timeout_error("no query database became free");
    }
    slot = impl.idle.back();
    impl.idle.pop_back();
  }
  struct Lease {
    Impl& impl;
    PooledDb* slot;
    ~Lease() {
      {
        std::lock_guard lock(impl.mu);
        impl.idle.push_back(slot);
      }
      impl.idle_cv.notify_one();
    }
  } lease{impl, slot};

  std::atomic<bool> fired{false};
  const uint64_t armed = impl.watchdog.Arm(slot->db.get(), deadline, &fired);
  Result<QueryResult> result = [&]() -> Result<QueryResult> {
    BASIN_RETURN_IF_ERROR(impl.RefreshViews(*slot));
    BASIN_RETURN_IF_ERROR(slot->db->CheckReadOnly(sql));
    return slot->db->Query(sql, max_rows);
  }();
  impl.watchdog.Disarm(armed);
  if (!result.ok() && result.status().code() == ErrorCode::kQueryCancelled && fired.load()) {
    return timeout_error("the query did not finish");
  }
  return result;
}

}  // namespace basin::query
