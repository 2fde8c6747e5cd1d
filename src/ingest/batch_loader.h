#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"

namespace basin::query {
class DuckDb;
}

namespace basin::ingest {

// How to read a batch file. Every field has an automatic default.
struct BatchFileOptions {
  std::string format = "auto";    // csv | json (one array of objects) | ndjson | auto (by content)
  std::string delimiter;          // CSV only; "" = sniffed
  std::string header = "auto";    // CSV only; yes | no | auto
  std::string encoding = "auto";  // auto | utf-8 | latin-1
};

// One file to load into `raw.<name>`.
struct BatchSource {
  std::string path;           // the file on local disk (read, never moved or deleted)
  std::string original_name;  // a label only (the uploaded or landed name); never a path
  catalog::TableRef table;    // must be raw.<name>
  std::string source;         // "cli" | "upload" | "landing"
  BatchFileOptions options;
};

struct BatchLimits {
  uint64_t max_file_bytes = 1ULL << 30;
  int duckdb_threads = 2;
  std::string duckdb_memory_limit = "1GB";
};

// A column as the file had it.
struct LoadedColumn {
  std::string name;
  std::string inferred_type;  // what the file's values fit
  std::string table_type;     // what the table stores (after evolution)
  bool nullable = true;       // some value was empty or missing
};

struct LoadReport {
  catalog::TableRef table;
  std::string sha256;
  std::string original_name;
  bool already_loaded = false;  // the same bytes were loaded into this table before: no change
  int64_t rows_loaded = 0;
  int64_t rows_quarantined = 0;
  uint64_t bytes = 0;
  std::string encoding;  // "utf-8" | "latin-1"
  std::string format;    // "csv" | "json" | "ndjson"
  // How DuckDB read it: "read_csv"; "read_json" (NDJSON whose every line is an object, read in
  // parallel); "lines" (other NDJSON, line by line so that bad lines are kept with their
  // numbers); "read_json_objects" (a JSON array).
  std::string reader;
  int32_t schema_version = 0;
  std::vector<std::string> columns_added;
  std::vector<std::string> columns_widened;  // "amount BIGINT->DOUBLE"
  std::vector<LoadedColumn> columns;
  std::string kept_at;  // the raw copy, relative to the lake root
  std::string load_id;
  int64_t duration_ms = 0;
};

// The batch-file loader (the Glue crawler + ingest part): CLI `basin ingest`, HTTP uploads and
// the landing-folder sweep all call Load. A file is loaded once per table (its SHA-256 is an
// idempotency key committed with the data) and atomically: its Parquet file, its quarantined
// rows, its ops.batch_loads row and the key become visible in one catalog commit, or nothing
// does. DuckDB reads the file (read_csv / JSON functions) once into a private database where
// types are inferred; see docs/formats/batch-ingest.md for formats, inference and evolution.
//
// Thread-safe: loads are serialised by a mutex (each uses its own DuckDB database).
class BatchLoader {
 public:
  BatchLoader(catalog::Catalog* catalog, std::string lake_root, BatchLimits limits = {},
              Clock* clock = &SystemClock::Instance());

  // Typed errors (nothing written to any table): InvalidArgument (table name, original name,
  // options), PayloadTooLarge, EmptyInput (zero bytes or no data rows), UnsupportedMediaType
  // (binary), InvalidTextEncoding, MalformedJson (a JSON array file that does not parse),
  // SchemaIncompatible (the file is kept aside under raw/_rejected/), DiskFull, IoError.
  Result<LoadReport> Load(const BatchSource& source,
                          const std::function<void(uint64_t done, uint64_t total)>& progress = {});

  // Deletes Parquet files this loader wrote under the folders of the tables it loads (and their
  // quarantine tables and ops.batch_loads) that no commit refers to: the leftovers of a crash
  // between writing and committing. Only files named batch-*.parquet are considered.
  Status RemoveOrphans();

  // For tests: called after every file is written and before the commit; a failure aborts the
  // load as a crash there would (the written files are left behind as orphans).
  void SetBeforeCommitHookForTest(std::function<Status()> hook);

  const std::string& lake_root() const { return lake_root_; }

 private:
  struct Plan;
  Result<LoadReport> LoadLocked(const BatchSource& source,
                                const std::function<void(uint64_t, uint64_t)>& progress);
  // Copies a rejected file to raw/_rejected/<name>/ with an .error.json and records the
  // rejection in ops.batch_loads.
  Status KeepAside(const BatchSource& source, const std::string& sha256, const LoadReport& report,
                   const Status& why, query::DuckDb& db, int64_t now_us);
  // The quarantine file of a load (rows of `bad_rows`): (quarantine table id, file).
  Result<std::pair<int64_t, catalog::DataFile>> WriteQuarantine(const BatchSource& source,
                                                                const std::string& sha256,
                                                                const std::string& load_id,
                                                                int64_t now_us, query::DuckDb& db);
  // The ops.batch_loads row of a load: (table id, file).
  Result<std::pair<int64_t, catalog::DataFile>> WriteLoadRow(const BatchSource& source,
                                                             const LoadReport& report,
                                                             const std::string& status,
                                                             const std::string& error,
                                                             int64_t now_us, query::DuckDb& db);
  Status RemoveOrphansOf(const catalog::TableInfo& table);

  catalog::Catalog* catalog_;
  std::string lake_root_;
  BatchLimits limits_;
  Clock* clock_;
  std::mutex mu_;
  std::function<Status()> before_commit_hook_;
};

// The ops table of batch loads (one row per load or rejected file).
const std::vector<catalog::Column>& BatchLoadsColumns();
// The quarantine columns of a batch table.
const std::vector<catalog::Column>& BatchQuarantineColumns();
// ops.batch_loads
catalog::TableRef BatchLoadsTable();

// A safe file-name label from an untrusted original name (for raw/_rejected): bytes outside
// [A-Za-z0-9._-] become '_', no leading dots, at most 100 bytes, "file" if nothing is left.
std::string SanitizeFileLabel(std::string_view original_name);

}  // namespace basin::ingest
