#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace basin::catalog {

// A column: a name and a DuckDB type as SQL text ("VARCHAR", "TIMESTAMP", "DECIMAL(18,2)",
// "JSON", "INTEGER", "DATE", "BIGINT", "DOUBLE", "BOOLEAN").
struct Column {
  std::string name;
  std::string type;
  friend bool operator==(const Column&, const Column&) = default;
};

// A version of a table's schema. `columns` are stored in the data files; `partition_columns`
// come from Hive-style folder names (dt=2026-11-27/hour=04) and are not in the files.
struct TableSchema {
  int32_t version = 0;  // assigned by the catalog: 1, 2, ...
  std::vector<Column> columns;
  std::vector<Column> partition_columns;
};

// "raw.clickstream": a zone (raw, processed, curated, quarantine, ops) and a table name.
// `ops` holds Basin's own records as tables: pipeline runs, data-quality results, loads.
struct TableRef {
  std::string zone;
  std::string name;
  std::string Qualified() const { return zone + "." + name; }
  // InvalidArgument unless "<zone>.<name>" with a known zone and a name of [a-z0-9_], 1-128.
  static Result<TableRef> Parse(std::string_view qualified);
  friend bool operator==(const TableRef&, const TableRef&) = default;
};

// Every zone, in the order of the data flow: raw, processed, curated, quarantine, ops.
const std::vector<std::string_view>& Zones();

// Where the rows that a table's writer rejects are kept: `quarantine.<name>` for a raw table
// (raw.orders -> quarantine.orders, the loader's quarantine.clickstream), and
// `quarantine.<zone>_<name>` for processed and curated tables (processed.orders ->
// quarantine.processed_orders), so that a raw table and the processed table of the same name
// never share one.
TableRef QuarantineTableFor(const TableRef& table);

struct TableInfo {
  int64_t id = 0;
  TableRef ref;
  TableSchema schema;    // the current version
  std::string location;  // folder relative to the lake root, e.g. "raw/clickstream"
  int64_t created_time_us = 0;
  int64_t current_snapshot_id = 0;  // 0 until the first commit
};

// A Parquet file that belongs to a table.
struct DataFile {
  int64_t id = 0;         // assigned by the catalog at commit
  std::string path;       // relative to the lake root
  std::string partition;  // "dt=2026-11-27/hour=04", or "" for an unpartitioned table
  int64_t row_count = 0;
  int64_t size_bytes = 0;
  int64_t min_time_us = 0;  // range of the table's time column in the file (0 if none)
  int64_t max_time_us = 0;
  int64_t added_snapshot_id = 0;  // assigned by the catalog at commit
};

// The state of a table at one snapshot: the files a reader must read, and the schema.
struct Snapshot {
  int64_t id = 0;  // 0: the table has no commit yet (and no files)
  int64_t table_id = 0;
  int64_t created_time_us = 0;
  std::string operation;  // "append", "compact", "overwrite" (see ChangeKind)
  TableSchema schema;
  std::vector<DataFile> files;
};

// Moves a consumer's position in a log stream, checked against where the catalog has it.
struct OffsetAdvance {
  std::string stream;
  std::string consumer;
  uint64_t from = 0;  // must equal the committed offset, or the commit fails with Conflict
  uint64_t to = 0;
};

// The control plane in SQLite (WAL mode): zones, tables and their schema versions, snapshots and
// their file lists, stream consumer offsets. Every commit is one SQLite transaction, so files and
// the log offsets they cover become visible together or not at all.
//
// Schema of the database: docs/formats/catalog.md. Thread-safe (one connection behind a mutex;
// SQLite serialises writers anyway). Several processes may open the same database: `basin sql`
// reads while `basin serve` writes.
// Files to add to one table, as part of a multi-table commit.
struct TableAppend {
  int64_t table_id = 0;
  std::vector<DataFile> files;
};

// How a commit changes a table. Readers that consume a table incrementally (ETL pipelines) read
// the files of append and overwrite snapshots; a compaction's files hold rows they already saw.
enum class ChangeKind {
  kAppend,     // adds files; removes none
  kCompact,    // replaces files by files with the same rows (merged, deduplicated)
  kOverwrite,  // replaces files by files with new content (an ETL refresh of partitions)
};

// What one Commit does to one table.
struct TableChange {
  int64_t table_id = 0;
  ChangeKind kind = ChangeKind::kAppend;
  std::vector<int64_t> removed_file_ids;  // each must be live in the table, else Conflict
  std::vector<DataFile> added;
};

// Everything one Commit makes visible together, in one SQLite transaction, or none of it.
struct CommitRequest {
  // A table whose change adds and removes nothing gets no snapshot. A table may appear twice;
  // its second snapshot then follows its first.
  std::vector<TableChange> changes;
  std::vector<OffsetAdvance> offsets;
  // Idempotency keys ("batch:raw.orders:<sha256>", "object:<sha256>"): AlreadyExists, and
  // nothing committed, if any of them was committed before. This is how a file is loaded once.
  std::vector<std::string> keys;
};

struct CommitResult {
  std::vector<int64_t> snapshot_ids;  // one per change, in order; 0 for a change with no snapshot
};

// A consumer's position in a stream (see GetStreamOffset).
struct ConsumerOffset {
  std::string consumer;
  uint64_t offset = 0;
};

// An access key for the AWS-compatible endpoint (SigV4): the key id clients send, the secret
// they sign with, and the user it acts for. Stored in the catalog (table `access_keys`, see
// docs/formats/catalog.md), unencrypted until Basin has a keyring.
struct AccessKey {
  std::string access_key_id;  // "AKIA" + 16 characters of [A-Z2-7]
  std::string secret;         // 40 characters of [A-Za-z0-9+/]
  std::string user_name;
  int64_t created_time_us = 0;
  bool active = true;  // an inactive key is kept but cannot sign requests
};

// Whether `name` may name an access key's user: 1-64 of [A-Za-z0-9_+=,.@-] (IAM's rule).
bool IsValidUserName(std::string_view name);

// The stream name under which the consumers of a table keep their positions (snapshot ids):
// "table:raw.clickstream". A compaction may only replace files that every such consumer has
// read (added at or before its offset): the catalog refuses it otherwise, so an incremental
// reader never misses rows that were merged into a file it skips.
std::string TableConsumerStream(const TableRef& ref);

// ---- Workflow records (migration 4; the workflow subsystem's ExecutionService owns their
// meaning). Plain rows: the catalog stores JSON texts and names as given and never parses them.

// An ASL state machine.
struct StateMachineRow {
  std::string arn;         // unique
  std::string name;        // unique
  std::string definition;  // ASL JSON text
  std::string role_arn;
  std::string type = "STANDARD";
  int64_t created_micros = 0;
  int64_t updated_micros = 0;
};

// One execution of a state machine, with the definition text it runs with (an update of the
// machine does not change running executions) and its last checkpoint.
struct ExecutionRow {
  std::string arn;   // unique
  std::string name;  // unique per state machine
  std::string state_machine_arn;
  std::string definition;
  std::string status = "RUNNING";     // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
  std::string input;                  // JSON text
  std::optional<std::string> output;  // JSON text
  std::string error, cause;
  int64_t start_micros = 0;
  std::optional<int64_t> stop_micros;
  int64_t resume_count = 0;
  // Where to continue after a restart, as JSON: {"next_state", "input", "variables",
  // "transitions", "next_event_id"}. Absent until the first checkpoint.
  std::optional<std::string> checkpoint;
};

// One history event of an execution. `details` is the JSON object of the event's details
// member ({"stateEnteredEventDetails": {...}}), "{}" for events without details.
struct ExecutionEventRow {
  int64_t id = 0;  // 1, 2, ... within the execution
  int64_t previous_event_id = 0;
  int64_t timestamp_micros = 0;
  std::string type;
  std::string details = "{}";
};

// How an execution ended.
struct ExecutionEnd {
  std::string status;  // SUCCEEDED, FAILED, TIMED_OUT, ABORTED
  std::optional<std::string> output;
  std::string error, cause;
  int64_t stop_micros = 0;
};

// What a running execution writes at once, in one transaction: new events, a new checkpoint,
// and perhaps its end.
struct ExecutionProgress {
  std::string execution_arn;
  std::vector<ExecutionEventRow> events;  // appended; an id already present is a Conflict
  std::optional<std::string> checkpoint;  // replaces the stored one when set
  std::optional<ExecutionEnd> end;        // applied only while the execution is still RUNNING
};

// A schedule that starts a state machine.
struct ScheduleRow {
  std::string name;  // unique
  std::string expression;
  std::string timezone = "UTC";
  std::string state_machine_arn;
  std::string input = "{}";
  bool enabled = true;
  std::string missed_runs = "RUN_ONCE";  // RUN_ONCE or SKIP
  std::optional<int64_t> last_run_micros;
  int64_t created_micros = 0;  // the anchor of rate() schedules and of missed-run checks
  int64_t updated_micros = 0;
};

namespace internal {
struct Connection;
}

class Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> Open(const std::string& db_path,
                                               Clock* clock = &SystemClock::Instance());
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // AlreadyExists if the table exists. The schema becomes version 1.
  Result<TableInfo> CreateTable(const TableRef& ref, const TableSchema& schema,
                                const std::string& location);
  // Creates the table if it is missing; returns it as it is if it exists.
  Result<TableInfo> EnsureTable(const TableRef& ref, const TableSchema& schema,
                                const std::string& location);
  Result<TableInfo> GetTable(const TableRef& ref) const;  // TableNotFound
  std::vector<TableInfo> ListTables() const;

  // Records a new schema version (new columns, widened types); later snapshots use it.
  Result<TableInfo> EvolveSchema(int64_t table_id, const TableSchema& schema);

  // The table's files and schema now. A reader that keeps this object sees one consistent
  // state however many commits follow (file deletion is deferred, see ExpiredFiles).
  Result<Snapshot> CurrentSnapshot(const TableRef& ref) const;

  // Adds files to the table and, if given, advances a stream consumer's offset, in one
  // transaction. Returns the new snapshot id. Conflict if `offset->from` does not match.
  Result<int64_t> CommitAppend(int64_t table_id, std::vector<DataFile> files,
                               const std::optional<OffsetAdvance>& offset);
  // CommitAppend over several tables in one transaction (a loader's table and its quarantine):
  // all the files and the offset advance become visible together, or nothing does. Returns the
  // new snapshot id of the first table. Tables with no files get no new snapshot.
  Result<int64_t> CommitAppends(std::vector<TableAppend> appends,
                                const std::optional<OffsetAdvance>& offset);
  // Replaces live files by new ones atomically (compaction). Conflict if any of
  // `removed_file_ids` is no longer live in the table. Returns the new snapshot id.
  Result<int64_t> CommitReplace(int64_t table_id, const std::vector<int64_t>& removed_file_ids,
                                std::vector<DataFile> added);

  // The general commit: any mix of appends, compactions and overwrites over several tables,
  // stream offset moves and idempotency keys, atomically. The narrower Commit* calls above are
  // shorthands for it. Conflict on a stale offset or a removed file that is no longer live, or on
  // a compaction of files a table consumer has not read yet; AlreadyExists on a known key.
  Result<CommitResult> Commit(CommitRequest request);

  // Whether a commit with this idempotency key has happened.
  Result<bool> HasCommitKey(std::string_view key) const;

  // The files of the table's snapshot `up_to_snapshot_id` that hold data new since
  // `after_snapshot_id`: those added by append or overwrite snapshots in (after, up_to]. With
  // after = 0, every file of the snapshot. This is what an incremental reader reads.
  Result<std::vector<DataFile>> NewFilesSince(int64_t table_id, int64_t after_snapshot_id,
                                              int64_t up_to_snapshot_id) const;

  // Creates the consumer's offset at 0 if it has none (so that compaction waits for it).
  Status RegisterConsumer(const std::string& stream, const std::string& consumer);
  // Forgets a consumer (a pipeline that was removed), so that it no longer holds compaction
  // back. Nothing happens if it is not there.
  Status RemoveConsumer(const std::string& stream, const std::string& consumer);
  // Every consumer of a stream with its committed offset, by consumer name.
  Result<std::vector<ConsumerOffset>> ListConsumers(const std::string& stream) const;

  // The committed offset of a consumer in a stream; 0 if it never committed.
  Result<uint64_t> GetStreamOffset(const std::string& stream, const std::string& consumer) const;

  // Files that a commit removed before `removed_before_us`: no reader started after that can
  // need them, so they may be deleted from disk, then forgotten with ForgetFiles.
  Result<std::vector<DataFile>> ExpiredFiles(int64_t removed_before_us) const;
  Status ForgetFiles(const std::vector<int64_t>& file_ids);

  // Access keys (AWS endpoint credentials). CreateAccessKey makes a new key for `user_name`
  // (InvalidArgument if the name is not valid) from OpenSSL's random generator and, because the
  // file now holds a secret, restricts basin.db and its WAL to the owner (mode 0600).
  Result<AccessKey> CreateAccessKey(std::string_view user_name);
  // The key if it exists and is active; nullopt otherwise (unknown and inactive look the same).
  Result<std::optional<AccessKey>> FindActiveAccessKey(std::string_view access_key_id) const;
  // Every key, active or not, by creation time.
  Result<std::vector<AccessKey>> ListAccessKeys() const;
  // NotFound if there is no such key.
  Status SetAccessKeyActive(std::string_view access_key_id, bool active);
  Status DeleteAccessKey(std::string_view access_key_id);

  // Every path the catalog still knows for a table (live, or removed but not yet forgotten).
  // A file in the table's folder that is not here is an orphan of an interrupted write.
  Result<std::vector<std::string>> KnownPaths(int64_t table_id) const;

  // ---- Workflow records (docs/formats/catalog.md, "Workflows") ----
  // AlreadyExists if the name or ARN is taken.
  Status InsertStateMachine(const StateMachineRow& row);
  // Replaces the definition, the role (when non-empty) and the update time. NotFound.
  Status UpdateStateMachine(std::string_view arn, std::string_view definition,
                            std::string_view role_arn, int64_t updated_micros);
  Result<std::optional<StateMachineRow>> FindStateMachine(std::string_view arn) const;
  Result<std::optional<StateMachineRow>> FindStateMachineByName(std::string_view name) const;
  Result<std::vector<StateMachineRow>> ListStateMachines() const;  // by name
  // Deletes the machine with its executions and their events. NotFound; Conflict while one of
  // its executions is RUNNING.
  Status DeleteStateMachine(std::string_view arn);

  // Inserts a RUNNING execution. NotFound without the state machine; AlreadyExists if the
  // machine has an execution of that name; Conflict if `max_running` executions (of all
  // machines) are RUNNING already.
  Status InsertExecution(const ExecutionRow& row, int64_t max_running);
  Result<std::optional<ExecutionRow>> FindExecution(std::string_view arn) const;
  // Newest first (start time, then insertion). An empty machine ARN lists every machine's.
  // `limit` > 0 keeps the newest `limit` only.
  Result<std::vector<ExecutionRow>> ListExecutions(std::string_view state_machine_arn,
                                                   std::optional<std::string> status = {},
                                                   int64_t limit = 0) const;
  // Appends events, sets the checkpoint and closes the execution, in one transaction. Returns
  // whether `end` was applied (false when there was none or the execution had ended already).
  // NotFound if the execution does not exist.
  Result<bool> RecordExecutionProgress(const ExecutionProgress& progress);
  // Before a resume: forgets the events from `first_discarded_event_id` on (the partial run of
  // the state that is run again) and counts the resume. NotFound.
  Status RestartExecution(std::string_view arn, int64_t first_discarded_event_id);
  // Every event of the execution, by id. NotFound.
  Result<std::vector<ExecutionEventRow>> ExecutionEvents(std::string_view arn) const;

  // Creates or replaces a schedule by name.
  Status PutSchedule(const ScheduleRow& row);
  Result<std::vector<ScheduleRow>> ListSchedules() const;  // by name
  Result<std::optional<ScheduleRow>> FindSchedule(std::string_view name) const;
  Status DeleteSchedule(std::string_view name);  // NotFound
  // NotFound. Only moves forward: an older time than the stored one changes nothing.
  Status SetScheduleLastRun(std::string_view name, int64_t last_run_micros);

 private:
  struct Impl;
  explicit Catalog(std::unique_ptr<Impl> impl);
  // The SQLite connection, for the methods implemented outside catalog.cpp.
  internal::Connection& connection() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::catalog
