#include "catalog/catalog.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>

#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "base/utf8.h"
#include "catalog/catalog_internal.h"

namespace basin::catalog {
namespace {

constexpr std::string_view kZones[] = {"raw", "processed", "curated", "quarantine", "ops"};
constexpr size_t kMaxTableNameLength = 128;
constexpr size_t kMaxColumnNameLength = 255;
constexpr size_t kMaxTypeLength = 1024;
constexpr size_t kMaxTypeDepth = 16;
constexpr size_t kMaxPathLength = 1024;
// Long enough to ride out another process's commit (a few fsyncs), short enough that a wedged
// writer surfaces as Unavailable instead of hanging a request.
constexpr int kBusyTimeoutMs = 10'000;

// Migration N (1-based) brings the database from version N-1 to N. Append only: a released
// migration never changes, so databases of every age upgrade the same way.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE zones (
  name TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO zones (name) VALUES ('raw'), ('processed'), ('curated'), ('quarantine');

CREATE TABLE tables (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  zone TEXT NOT NULL REFERENCES zones (name),
  name TEXT NOT NULL,
  location TEXT NOT NULL,
  created_time_us INTEGER NOT NULL,
  schema_version INTEGER NOT NULL,
  current_snapshot_id INTEGER REFERENCES snapshots (id),
  UNIQUE (zone, name)
);

CREATE TABLE schema_versions (
  table_id INTEGER NOT NULL REFERENCES tables (id),
  version INTEGER NOT NULL,
  columns TEXT NOT NULL,
  partition_columns TEXT NOT NULL,
  created_time_us INTEGER NOT NULL,
  PRIMARY KEY (table_id, version)
) WITHOUT ROWID;

CREATE TABLE snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  table_id INTEGER NOT NULL REFERENCES tables (id),
  parent_id INTEGER REFERENCES snapshots (id),
  created_time_us INTEGER NOT NULL,
  operation TEXT NOT NULL CHECK (operation IN ('append', 'compact')),
  schema_version INTEGER NOT NULL,
  FOREIGN KEY (table_id, schema_version) REFERENCES schema_versions (table_id, version)
);
CREATE INDEX snapshots_by_table ON snapshots (table_id, id);

CREATE TABLE data_files (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  table_id INTEGER NOT NULL REFERENCES tables (id),
  path TEXT NOT NULL UNIQUE,
  partition_path TEXT NOT NULL,
  row_count INTEGER NOT NULL CHECK (row_count >= 0),
  size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
  min_time_us INTEGER NOT NULL,
  max_time_us INTEGER NOT NULL,
  added_snapshot_id INTEGER NOT NULL REFERENCES snapshots (id),
  removed_snapshot_id INTEGER REFERENCES snapshots (id),
  removed_time_us INTEGER,
  CHECK ((removed_snapshot_id IS NULL) = (removed_time_us IS NULL))
);
CREATE INDEX data_files_by_table ON data_files (table_id, added_snapshot_id);
CREATE INDEX data_files_removed ON data_files (removed_time_us) WHERE removed_time_us IS NOT NULL;

CREATE TABLE stream_offsets (
  stream TEXT NOT NULL,
  consumer TEXT NOT NULL,
  committed_offset INTEGER NOT NULL,
  updated_time_us INTEGER NOT NULL,
  PRIMARY KEY (stream, consumer)
) WITHOUT ROWID;
)sql",
    // 2: the ops zone (Basin's own records as tables); snapshot kinds beyond the operation
    // column's CHECK (an ETL overwrite is stored as operation 'compact', kind 'overwrite');
    // idempotency keys of commits.
    R"sql(
INSERT INTO zones (name) VALUES ('ops');
ALTER TABLE snapshots ADD COLUMN kind TEXT CHECK (kind IN ('append', 'compact', 'overwrite'));
CREATE TABLE commit_keys (
  key TEXT PRIMARY KEY,
  created_time_us INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 3: access keys of the AWS-compatible endpoint (SigV4 credentials).
    R"sql(
CREATE TABLE access_keys (
  access_key_id TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  user_name TEXT NOT NULL,
  created_time_us INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'inactive'))
) WITHOUT ROWID;
)sql",
    // 4: workflows: state machines, their executions with history and checkpoint, schedules
    // (src/catalog/workflow_records.cpp).
    R"sql(
CREATE TABLE state_machines (
  arn TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  definition TEXT NOT NULL,
  role_arn TEXT NOT NULL,
  type TEXT NOT NULL,
  created_micros INTEGER NOT NULL,
  updated_micros INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE executions (
  arn TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state_machine_arn TEXT NOT NULL REFERENCES state_machines (arn),
  definition TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')),
  input TEXT NOT NULL,
  output TEXT,
  error TEXT NOT NULL,
  cause TEXT NOT NULL,
  start_micros INTEGER NOT NULL,
  stop_micros INTEGER,
  resume_count INTEGER NOT NULL,
  checkpoint TEXT,
  UNIQUE (state_machine_arn, name)
);
CREATE INDEX executions_by_machine ON executions (state_machine_arn, start_micros);
CREATE INDEX executions_running ON executions (status) WHERE status = 'RUNNING';

CREATE TABLE execution_events (
  execution_arn TEXT NOT NULL REFERENCES executions (arn),
  id INTEGER NOT NULL,
  previous_event_id INTEGER NOT NULL,
  timestamp_micros INTEGER NOT NULL,
  type TEXT NOT NULL,
  details TEXT NOT NULL,
  PRIMARY KEY (execution_arn, id)
) WITHOUT ROWID;

CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  expression TEXT NOT NULL,
  timezone TEXT NOT NULL,
  state_machine_arn TEXT NOT NULL,
  input TEXT NOT NULL,
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  missed_runs TEXT NOT NULL CHECK (missed_runs IN ('RUN_ONCE', 'SKIP')),
  last_run_micros INTEGER,
  created_micros INTEGER NOT NULL,
  updated_micros INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
};
constexpr int kLatestVersion = static_cast<int>(std::size(kMigrations));

// ---- Validation --------------------------------------------------------------------------------

bool IsKnownZone(std::string_view zone) {
  return std::find(std::begin(kZones), std::end(kZones), zone) != std::end(kZones);
}

bool IsValidTableName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTableNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status ValidateRef(const TableRef& ref) {
  if (!IsKnownZone(ref.zone)) {
    return Error(ErrorCode::kInvalidArgument,
                 "unknown zone '" + ref.zone + "' (raw, processed, curated, quarantine, ops)");
  }
  if (!IsValidTableName(ref.name)) {
    return Error(ErrorCode::kInvalidArgument,
                 "invalid table name '" + ref.name + "': use 1-128 of [a-z0-9_]");
  }
  return Status::Ok();
}

// A recursive-descent check of a DuckDB type written as SQL text. The query layer pastes these
// types into view definitions (CAST(x AS <type>)), so the grammar admits only words, numbers,
// balanced parentheses, commas and array brackets: nothing that can close the CAST or start a
// new clause. Quoted names (and so ENUM literals) are not supported.
//   type  := words ['(' arg (',' arg)* ')'] ('[' digits? ']')*
//   words := word (' ' word)*        arg := digits | type   (a STRUCT field is "name type")
class TypeGrammar {
 public:
  explicit TypeGrammar(std::string_view s) : s_(s) {}
  bool Valid() {
    if (s_.empty() || s_.size() > kMaxTypeLength) return false;
    SkipSpaces();
    if (!Type(0)) return false;
    SkipSpaces();
    return i_ == s_.size();
  }

 private:
  static bool IsWordStart(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  }
  static bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  bool AtEnd() const { return i_ >= s_.size(); }
  void SkipSpaces() {
    while (!AtEnd() && s_[i_] == ' ') ++i_;
  }
  bool Word() {
    if (AtEnd() || !IsWordStart(s_[i_])) return false;
    while (!AtEnd() && IsWordChar(s_[i_])) ++i_;
    return true;
  }
  bool Digits() {
    size_t start = i_;
    while (!AtEnd() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    return i_ > start;
  }
  bool Type(size_t depth) {
    if (depth > kMaxTypeDepth || !Word()) return false;
    for (;;) {
      size_t save = i_;
      SkipSpaces();
      if (AtEnd() || !IsWordStart(s_[i_])) {
        i_ = save;
        break;
      }
      Word();
    }
    SkipSpaces();
    if (!AtEnd() && s_[i_] == '(') {
      ++i_;
      for (;;) {
        SkipSpaces();
        if (!Digits() && !Type(depth + 1)) return false;
        SkipSpaces();
        if (AtEnd() || s_[i_] != ',') break;
        ++i_;
      }
      if (AtEnd() || s_[i_] != ')') return false;
      ++i_;
    }
    for (;;) {
      SkipSpaces();
      if (AtEnd() || s_[i_] != '[') break;
      ++i_;
      Digits();
      if (AtEnd() || s_[i_] != ']') return false;
      ++i_;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Status ValidateSchema(const TableSchema& schema) {
  if (schema.columns.empty()) {
    return Error(ErrorCode::kInvalidArgument, "a table needs at least one column");
  }
  std::set<std::string> seen;  // DuckDB resolves names case-insensitively
  for (const auto* list : {&schema.columns, &schema.partition_columns}) {
    for (const Column& c : *list) {
      if (c.name.empty() || c.name.size() > kMaxColumnNameLength) {
        return Error(ErrorCode::kInvalidArgument,
                     "column name '" + c.name + "' must be 1-255 bytes");
      }
      if (std::any_of(c.name.begin(), c.name.end(),
                      [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
        return Error(ErrorCode::kInvalidArgument, "column name has a control character");
      }
      if (!seen.insert(Lower(c.name)).second) {
        return Error(ErrorCode::kInvalidArgument, "duplicate column '" + c.name + "'");
      }
      if (!TypeGrammar(c.type).Valid()) {
        return Error(ErrorCode::kInvalidArgument,
                     "column '" + c.name + "' has an invalid type '" + c.type + "'");
      }
    }
  }
  return Status::Ok();
}

// A path relative to the lake root, in plain components: no absolute paths, no "." or "..", no
// backslashes, no glob characters (DuckDB's read_parquet treats each path as a pattern).
Status ValidateRelativePath(std::string_view path, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string(what) + " '" + std::string(path) + "' " + std::string(why));
  };
  if (path.empty() || path.size() > kMaxPathLength) return bad("must be 1-1024 bytes");
  if (path.front() == '/') return bad("must be relative to the lake root");
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '\\' || c == '*' || c == '?' || c == '[' ||
        c == ']' || c == '{' || c == '}' || c == '\'') {
      return bad("has a character that is not allowed in lake paths");
    }
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return bad("has an empty, '.' or '..' part");
    start = end + 1;
  }
  return Status::Ok();
}

// "dt=2026-11-27/hour=04" must name exactly the table's partition columns, in order, each with
// a value: the query layer declares their types to read_parquet, which fails on a missing key.
Status ValidatePartition(const DataFile& file, const TableSchema& schema) {
  std::vector<std::string_view> parts;
  std::string_view rest = file.partition;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  bool ok = parts.size() == schema.partition_columns.size();
  for (size_t k = 0; ok && k < parts.size(); ++k) {
    size_t eq = parts[k].find('=');
    ok = eq != std::string_view::npos && eq + 1 < parts[k].size() &&
         Lower(parts[k].substr(0, eq)) == Lower(schema.partition_columns[k].name);
  }
  if (!ok) {
    return Error(ErrorCode::kInvalidArgument,
                 "file '" + file.path + "' has partition '" + file.partition +
                     "', which does not name the table's partition columns in order");
  }
  return Status::Ok();
}

Status ValidateFiles(const std::vector<DataFile>& files, const TableInfo& table) {
  std::set<std::string_view> paths;
  for (const DataFile& f : files) {
    BASIN_RETURN_IF_ERROR(ValidateRelativePath(f.path, "file path"));
    std::string prefix = table.location + "/";
    if (!f.partition.empty()) prefix += f.partition + "/";
    if (f.path.size() <= prefix.size() || f.path.compare(0, prefix.size(), prefix) != 0) {
      return Error(ErrorCode::kInvalidArgument,
                   "file '" + f.path + "' is not under '" + prefix + "'");
    }
    BASIN_RETURN_IF_ERROR(ValidatePartition(f, table.schema));
    if (f.row_count < 0 || f.size_bytes < 0 || f.min_time_us > f.max_time_us) {
      return Error(ErrorCode::kInvalidArgument,
                   "file '" + f.path + "' has negative counts or min_time_us > max_time_us");
    }
    if (!paths.insert(f.path).second) {
      return Error(ErrorCode::kInvalidArgument, "file '" + f.path + "' is listed twice");
    }
  }
  return Status::Ok();
}

// ---- Schema evolution rules --------------------------------------------------------------------

// Upper case, single spaces, no spaces around punctuation, common aliases resolved.
std::string NormalizeType(std::string_view type) {
  std::string out;
  for (char c : type) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (u == ' ') {
      if (!out.empty() && out.back() != ' ' && out.back() != '(' && out.back() != ',') {
        out.push_back(' ');
      }
      continue;
    }
    if ((u == '(' || u == ')' || u == ',' || u == '[' || u == ']') && !out.empty() &&
        out.back() == ' ') {
      out.pop_back();
    }
    out.push_back(u);
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  static const std::pair<std::string_view, std::string_view> kAliases[] = {
      {"INT1", "TINYINT"},
      {"INT2", "SMALLINT"},
      {"SHORT", "SMALLINT"},
      {"INT", "INTEGER"},
      {"INT4", "INTEGER"},
      {"SIGNED", "INTEGER"},
      {"INT8", "BIGINT"},
      {"LONG", "BIGINT"},
      {"INT128", "HUGEINT"},
      {"FLOAT4", "FLOAT"},
      {"REAL", "FLOAT"},
      {"FLOAT8", "DOUBLE"},
      {"DOUBLE PRECISION", "DOUBLE"},
      {"STRING", "VARCHAR"},
      {"TEXT", "VARCHAR"},
      {"BOOL", "BOOLEAN"},
      {"LOGICAL", "BOOLEAN"},
      {"NUMERIC", "DECIMAL"},
      {"DATETIME", "TIMESTAMP"}};
  for (const auto& [alias, name] : kAliases) {
    if (out == alias) return std::string(name);
  }
  if (out.rfind("NUMERIC(", 0) == 0) out = "DECIMAL" + out.substr(7);
  if (out == "DECIMAL") out = "DECIMAL(18,3)";
  return out;
}

// Digits before the decimal point a type needs, for integer and DECIMAL types; -1 otherwise.
int IntegerDigits(const std::string& t, int* scale) {
  *scale = 0;
  static const std::pair<std::string_view, int> kDigits[] = {
      {"TINYINT", 3},  {"SMALLINT", 5},  {"INTEGER", 10},  {"BIGINT", 19},  {"HUGEINT", 39},
      {"UTINYINT", 3}, {"USMALLINT", 5}, {"UINTEGER", 10}, {"UBIGINT", 20}, {"UHUGEINT", 39}};
  for (const auto& [name, digits] : kDigits) {
    if (t == name) return digits;
  }
  int width = 0;
  if (std::sscanf(t.c_str(), "DECIMAL(%d,%d)", &width, scale) == 2 && width >= *scale) {
    return width - *scale;
  }
  return -1;
}

int IntegerRank(const std::string& t, bool* is_unsigned) {
  static const std::string_view kSigned[] = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"};
  static const std::string_view kUnsigned[] = {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                                               "UHUGEINT"};
  for (int i = 0; i < 5; ++i) {
    if (t == kSigned[i]) {
      *is_unsigned = false;
      return i;
    }
    if (t == kUnsigned[i]) {
      *is_unsigned = true;
      return i;
    }
  }
  return -1;
}

// Whether every value of type `from` is a value of type `to`, so that files written with the old
// type still read under the new one.
bool CanWiden(std::string_view from_text, std::string_view to_text) {
  const std::string from = NormalizeType(from_text);
  const std::string to = NormalizeType(to_text);
  if (from == to || to == "VARCHAR") return true;
  bool from_unsigned = false, to_unsigned = false;
  int from_rank = IntegerRank(from, &from_unsigned);
  int to_rank = IntegerRank(to, &to_unsigned);
  if (from_rank >= 0 && to_rank >= 0) {
    if (from_unsigned == to_unsigned) return to_rank > from_rank;
    return from_unsigned && !to_unsigned && to_rank > from_rank;  // UINTEGER -> BIGINT
  }
  int from_scale = 0, to_scale = 0;
  int from_digits = IntegerDigits(from, &from_scale);
  int to_digits = IntegerDigits(to, &to_scale);
  if (from_digits >= 0 && to_digits >= 0 && to.rfind("DECIMAL", 0) == 0) {
    return to_digits >= from_digits && to_scale >= from_scale;
  }
  if (to == "DOUBLE" && (from == "FLOAT" || from_digits >= 0)) return true;
  if (from == "DATE" && (to == "TIMESTAMP" || to == "TIMESTAMP WITH TIME ZONE")) return true;
  return false;
}

Status CheckEvolution(const TableSchema& from, const TableSchema& to) {
  if (from.partition_columns != to.partition_columns) {
    return Error(ErrorCode::kInvalidArgument,
                 "partition columns cannot change: they are the folder layout of the files");
  }
  for (const Column& old_column : from.columns) {
    auto it = std::find_if(to.columns.begin(), to.columns.end(), [&](const Column& c) {
      return Lower(c.name) == Lower(old_column.name);
    });
    if (it == to.columns.end()) {
      return Error(ErrorCode::kInvalidArgument,
                   "column '" + old_column.name + "' cannot be dropped: schemas only grow");
    }
    if (!CanWiden(old_column.type, it->type)) {
      return Error(ErrorCode::kInvalidArgument,
                   "column '" + old_column.name + "' cannot change from " + old_column.type +
                       " to " + it->type + ": only widening is allowed");
    }
  }
  return Status::Ok();
}

// ---- Column lists as JSON ----------------------------------------------------------------------

std::string ColumnsToJson(const std::vector<Column>& columns) {
  JsonWriter w;
  w.BeginArray();
  for (const Column& c : columns) {
    w.BeginObject().Key("name").String(c.name).Key("type").String(c.type).EndObject();
  }
  w.EndArray();
  return w.Take();
}

// Reads back exactly what ColumnsToJson writes: [{"name":"..","type":".."},..]. Small on
// purpose: the only JSON the catalog stores is this shape.
class ColumnsJsonReader {
 public:
  explicit ColumnsJsonReader(std::string_view s) : s_(s) {}

  bool Read(std::vector<Column>* out) {
    SkipSpace();
    if (!Consume('[')) return false;
    SkipSpace();
    if (Consume(']')) return AtEndAfterSpace();
    do {
      Column c;
      if (!Object(&c)) return false;
      out->push_back(std::move(c));
      SkipSpace();
    } while (Consume(','));
    return Consume(']') && AtEndAfterSpace();
  }

 private:
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool AtEndAfterSpace() {
    SkipSpace();
    return i_ == s_.size();
  }
  bool Object(Column* c) {
    if (!Consume('{')) return false;
    do {
      std::string key, value;
      if (!String(&key) || !Consume(':') || !String(&value)) return false;
      if (key == "name")
        c->name = std::move(value);
      else if (key == "type")
        c->type = std::move(value);
      SkipSpace();
    } while (Consume(','));
    return Consume('}');
  }
  bool Hex4(uint32_t* v) {
    if (i_ + 4 > s_.size()) return false;
    *v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      *v <<= 4;
      if (h >= '0' && h <= '9')
        *v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        *v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        *v |= static_cast<uint32_t>(h - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  bool String(std::string* out) {
    if (!Consume('"')) return false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/': out->push_back(e); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 1 < s_.size() && s_[i_] == '\\' &&
              s_[i_ + 1] == 'u') {
            i_ += 2;
            uint32_t low = 0;
            if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(*out, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// ---- SQLite plumbing (catalog_internal.h) -----------------------------------------------------

using internal::Statement;

constexpr const char* kSelectTableColumns =
    "SELECT t.id, t.zone, t.name, t.location, t.created_time_us, t.schema_version, "
    "COALESCE(t.current_snapshot_id, 0), s.columns, s.partition_columns "
    "FROM tables t JOIN schema_versions s ON s.table_id = t.id AND s.version = t.schema_version ";
const std::string kSelectTableByRef =
    std::string(kSelectTableColumns) + "WHERE t.zone = ?1 AND t.name = ?2";
const std::string kSelectTableById = std::string(kSelectTableColumns) + "WHERE t.id = ?1";
const std::string kSelectAllTables = std::string(kSelectTableColumns) + "ORDER BY t.zone, t.name";

constexpr const char* kSelectFileColumns =
    "SELECT id, path, partition_path, row_count, size_bytes, min_time_us, max_time_us, "
    "added_snapshot_id FROM data_files ";

Status CheckOffsetDirection(const std::optional<OffsetAdvance>& offset) {
  if (offset && offset->to < offset->from) {
    return Error(ErrorCode::kInvalidArgument,
                 "offset of " + offset->stream + "/" + offset->consumer + " cannot move back");
  }
  return Status::Ok();
}

std::string_view ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAppend: return "append";
    case ChangeKind::kCompact: return "compact";
    case ChangeKind::kOverwrite: return "overwrite";
  }
  return "append";
}

DataFile FileFromRow(const Statement& s) {
  DataFile f;
  f.id = s.Int(0);
  f.path = s.Text(1);
  f.partition = s.Text(2);
  f.row_count = s.Int(3);
  f.size_bytes = s.Int(4);
  f.min_time_us = s.Int(5);
  f.max_time_us = s.Int(6);
  f.added_snapshot_id = s.Int(7);
  return f;
}

// ---- Access keys ---------------------------------------------------------------------------

constexpr size_t kMaxUserNameLength = 64;
constexpr size_t kAccessKeyIdRandomChars = 16;
constexpr size_t kSecretBytes = 30;  // base64: 40 characters

Result<std::string> RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return Error(ErrorCode::kInternal, "the random generator failed");
  }
  return bytes;
}

// "AKIA" + 16 characters of the base32 alphabet, as AWS key ids look. 256 is a multiple of 32,
// so `byte % 32` is uniform.
Result<std::string> NewAccessKeyId() {
  static constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  BASIN_ASSIGN_OR_RETURN(std::string random, RandomBytes(kAccessKeyIdRandomChars));
  std::string id = "AKIA";
  for (char c : random) id.push_back(kBase32[static_cast<uint8_t>(c) % 32]);
  return id;
}

// 40 characters of the base64 alphabet (30 random bytes, so no padding).
Result<std::string> NewSecret() {
  static constexpr char kBase64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  BASIN_ASSIGN_OR_RETURN(std::string random, RandomBytes(kSecretBytes));
  std::string secret;
  for (size_t i = 0; i + 3 <= random.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<uint8_t>(random[i])} << 16) |
                 (uint32_t{static_cast<uint8_t>(random[i + 1])} << 8) |
                 uint32_t{static_cast<uint8_t>(random[i + 2])};
    for (int shift = 18; shift >= 0; shift -= 6) secret.push_back(kBase64[(v >> shift) & 63]);
  }
  return secret;
}

constexpr const char* kSelectAccessKeyColumns =
    "SELECT access_key_id, secret, user_name, created_time_us, status FROM access_keys ";

AccessKey AccessKeyFromRow(const Statement& s) {
  AccessKey key;
  key.access_key_id = s.Text(0);
  key.secret = s.Text(1);
  key.user_name = s.Text(2);
  key.created_time_us = s.Int(3);
  key.active = s.Text(4) == "active";
  return key;
}

// The database and its WAL now hold secrets: only the owner may read them. Files that do not
// exist (yet) are skipped; SQLite creates the WAL with the database file's mode.
Status RestrictToOwner(const std::string& db_path) {
  for (const std::string& path : {db_path, db_path + "-wal", db_path + "-shm"}) {
    if (::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0 && errno != ENOENT) {
      return Error(ErrorCode::kIoError,
                   "cannot restrict the mode of " + path + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_+=,.@-").find(c) != std::string_view::npos;
  });
}

// ---- TableRef ----------------------------------------------------------------------------------

Result<TableRef> TableRef::Parse(std::string_view qualified) {
  size_t dot = qualified.find('.');
  if (dot == std::string_view::npos) {
    return Error(ErrorCode::kInvalidArgument,
                 "table '" + std::string(qualified) + "' must be written <zone>.<name>");
  }
  TableRef ref{std::string(qualified.substr(0, dot)), std::string(qualified.substr(dot + 1))};
  BASIN_RETURN_IF_ERROR(ValidateRef(ref));
  return ref;
}

const std::vector<std::string_view>& Zones() {
  static const std::vector<std::string_view> zones(std::begin(kZones), std::end(kZones));
  return zones;
}

std::string TableConsumerStream(const TableRef& ref) { return "table:" + ref.Qualified(); }

TableRef QuarantineTableFor(const TableRef& table) {
  if (table.zone == "raw" || table.zone == "quarantine") return {"quarantine", table.name};
  return {"quarantine", table.zone + "_" + table.name};
}

// ---- Catalog -----------------------------------------------------------------------------------

// The connection (catalog_internal.h) plus the table and file helpers of this file. Methods
// named "Inside a write transaction" expect the caller to hold `mu` and a BEGIN IMMEDIATE.
struct Catalog::Impl : internal::Connection {
  Result<TableInfo> ReadTable(Statement& s) const {
    TableInfo info;
    info.id = s.Int(0);
    info.ref.zone = s.Text(1);
    info.ref.name = s.Text(2);
    info.location = s.Text(3);
    info.created_time_us = s.Int(4);
    info.schema.version = static_cast<int32_t>(s.Int(5));
    info.current_snapshot_id = s.Int(6);
    if (!ColumnsJsonReader(s.Text(7)).Read(&info.schema.columns) ||
        !ColumnsJsonReader(s.Text(8)).Read(&info.schema.partition_columns)) {
      return Error(ErrorCode::kCorruption, "schema version " + std::to_string(info.schema.version) +
                                               " of table " + info.ref.Qualified() +
                                               " is not a valid column list");
    }
    return info;
  }

  Result<TableInfo> LookUp(const std::string& sql, const std::function<void(Statement&)>& bind,
                           const std::string& what) const {
    BASIN_ASSIGN_OR_RETURN(auto stmt, Prepare(sql));
    bind(*stmt);
    BASIN_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) return Error(ErrorCode::kTableNotFound, "table " + what + " does not exist");
    return ReadTable(*stmt);
  }
  Result<TableInfo> TableByRef(const TableRef& ref) const {
    return LookUp(
        kSelectTableByRef, [&](Statement& s) { s.Bind(1, ref.zone).Bind(2, ref.name); },
        ref.Qualified());
  }
  Result<TableInfo> TableById(int64_t id) const {
    return LookUp(
        kSelectTableById, [&](Statement& s) { s.Bind(1, id); }, "#" + std::to_string(id));
  }

  // Inside a write transaction.
  Result<TableInfo> InsertTable(const TableRef& ref, const TableSchema& schema,
                                const std::string& location) const {
    const int64_t now = clock->NowMicros();
    {
      BASIN_ASSIGN_OR_RETURN(auto s,
                             Prepare("INSERT INTO tables (zone, name, location, created_time_us, "
                                     "schema_version) VALUES (?1, ?2, ?3, ?4, 1)"));
      s->Bind(1, ref.zone).Bind(2, ref.name).Bind(3, location).Bind(4, now);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    const int64_t id = LastInsertRowId();
    BASIN_RETURN_IF_ERROR(InsertSchemaVersion(id, 1, schema, now));
    TableInfo info;
    info.id = id;
    info.ref = ref;
    info.schema = schema;
    info.schema.version = 1;
    info.location = location;
    info.created_time_us = now;
    return info;
  }

  Status InsertSchemaVersion(int64_t table_id, int32_t version, const TableSchema& schema,
                             int64_t now) const {
    BASIN_ASSIGN_OR_RETURN(
        auto s, Prepare("INSERT INTO schema_versions (table_id, version, columns, "
                        "partition_columns, created_time_us) VALUES (?1, ?2, ?3, ?4, ?5)"));
    s->Bind(1, table_id)
        .Bind(2, version)
        .Bind(3, ColumnsToJson(schema.columns))
        .Bind(4, ColumnsToJson(schema.partition_columns))
        .Bind(5, now);
    return s->Run();
  }

  // Inside a write transaction: a new snapshot of `table` and it becomes the current one.
  Result<int64_t> InsertSnapshot(const TableInfo& table, ChangeKind kind, int64_t now) const {
    // The operation column predates overwrites (its CHECK cannot change): an overwrite, which
    // also removes files, is stored as 'compact' there and told apart by `kind`.
    const std::string_view operation = kind == ChangeKind::kAppend ? "append" : "compact";
    {
      BASIN_ASSIGN_OR_RETURN(
          auto s, Prepare("INSERT INTO snapshots (table_id, parent_id, created_time_us, "
                          "operation, schema_version, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      s->Bind(1, table.id);
      if (table.current_snapshot_id == 0)
        s->BindNull(2);
      else
        s->Bind(2, table.current_snapshot_id);
      s->Bind(3, now)
          .Bind(4, operation)
          .Bind(5, table.schema.version)
          .Bind(6, ChangeKindName(kind));
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    const int64_t snapshot_id = LastInsertRowId();
    BASIN_ASSIGN_OR_RETURN(auto s,
                           Prepare("UPDATE tables SET current_snapshot_id = ?1 WHERE id = ?2"));
    s->Bind(1, snapshot_id).Bind(2, table.id);
    BASIN_RETURN_IF_ERROR(s->Run());
    return snapshot_id;
  }

  // Inside a write transaction: checks that the consumer is where `offset->from` says and moves
  // it to `offset->to`. Nothing to do without an offset.
  Status AdvanceOffset(const std::optional<OffsetAdvance>& offset, int64_t now) const {
    if (!offset) return Status::Ok();
    uint64_t committed = 0;
    {
      BASIN_ASSIGN_OR_RETURN(auto s, Prepare("SELECT committed_offset FROM stream_offsets "
                                             "WHERE stream = ?1 AND consumer = ?2"));
      s->Bind(1, offset->stream).Bind(2, offset->consumer);
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) committed = static_cast<uint64_t>(s->Int(0));
    }
    if (committed != offset->from) {
      return Error(ErrorCode::kConflict, "consumer " + offset->consumer + " of stream " +
                                             offset->stream + " is at offset " +
                                             std::to_string(committed) + ", not " +
                                             std::to_string(offset->from));
    }
    BASIN_ASSIGN_OR_RETURN(
        auto s, Prepare("INSERT INTO stream_offsets (stream, consumer, committed_offset, "
                        "updated_time_us) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (stream, consumer) "
                        "DO UPDATE SET committed_offset = excluded.committed_offset, "
                        "updated_time_us = excluded.updated_time_us"));
    s->Bind(1, offset->stream)
        .Bind(2, offset->consumer)
        .Bind(3, static_cast<int64_t>(offset->to))
        .Bind(4, now);
    return s->Run();
  }

  // Inside a write transaction: the consumers of a stream and their offsets.
  Result<std::vector<ConsumerOffset>> ConsumersOf(const std::string& stream) const {
    BASIN_ASSIGN_OR_RETURN(auto s, Prepare("SELECT consumer, committed_offset FROM stream_offsets "
                                           "WHERE stream = ?1 ORDER BY consumer"));
    s->Bind(1, stream);
    std::vector<ConsumerOffset> out;
    for (;;) {
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back({s->Text(0), static_cast<uint64_t>(s->Int(1))});
    }
    return out;
  }

  // Inside a write transaction: one table's part of a commit. Returns the new snapshot id, or 0
  // when the change adds and removes nothing.
  Result<int64_t> ApplyChange(const TableInfo& table, const TableChange& change,
                              int64_t now) const {
    BASIN_RETURN_IF_ERROR(ValidateFiles(change.added, table));
    if (change.added.empty() && change.removed_file_ids.empty()) return int64_t{0};
    const std::set<int64_t> removed(change.removed_file_ids.begin(), change.removed_file_ids.end());
    // A compaction may only merge files that every incremental reader of the table has read:
    // it skips compacted files as old news.
    std::optional<uint64_t> horizon;
    if (change.kind == ChangeKind::kCompact) {
      BASIN_ASSIGN_OR_RETURN(std::vector<ConsumerOffset> consumers,
                             ConsumersOf(TableConsumerStream(table.ref)));
      for (const ConsumerOffset& c : consumers) {
        horizon = horizon ? std::min(*horizon, c.offset) : c.offset;
      }
    }
    for (int64_t id : removed) {
      BASIN_ASSIGN_OR_RETURN(auto s,
                             Prepare("SELECT added_snapshot_id FROM data_files WHERE id = ?1 AND "
                                     "table_id = ?2 AND removed_snapshot_id IS NULL"));
      s->Bind(1, id).Bind(2, table.id);
      BASIN_ASSIGN_OR_RETURN(bool live, s->Step());
      if (!live) {
        return Error(ErrorCode::kConflict, "file " + std::to_string(id) + " is no longer live in " +
                                               table.ref.Qualified());
      }
      if (horizon && static_cast<uint64_t>(s->Int(0)) > *horizon) {
        return Error(ErrorCode::kConflict, "file " + std::to_string(id) + " of " +
                                               table.ref.Qualified() +
                                               " is not yet read by every consumer of the table");
      }
    }
    BASIN_ASSIGN_OR_RETURN(int64_t snapshot_id, InsertSnapshot(table, change.kind, now));
    for (int64_t id : removed) {
      BASIN_ASSIGN_OR_RETURN(auto s, Prepare("UPDATE data_files SET removed_snapshot_id = "
                                             "?1, removed_time_us = ?2 WHERE id = ?3"));
      s->Bind(1, snapshot_id).Bind(2, now).Bind(3, id);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    BASIN_RETURN_IF_ERROR(InsertFiles(table.id, snapshot_id, change.added));
    return snapshot_id;
  }

  Status InsertFiles(int64_t table_id, int64_t snapshot_id,
                     const std::vector<DataFile>& files) const {
    for (const DataFile& f : files) {
      {
        BASIN_ASSIGN_OR_RETURN(auto s, Prepare("SELECT 1 FROM data_files WHERE path = ?1"));
        s->Bind(1, f.path);
        BASIN_ASSIGN_OR_RETURN(bool exists, s->Step());
        if (exists) {
          return Error(ErrorCode::kConflict, "file '" + f.path + "' is already in the catalog");
        }
      }
      BASIN_ASSIGN_OR_RETURN(
          auto s, Prepare("INSERT INTO data_files (table_id, path, partition_path, row_count, "
                          "size_bytes, min_time_us, max_time_us, added_snapshot_id) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
      s->Bind(1, table_id)
          .Bind(2, f.path)
          .Bind(3, f.partition)
          .Bind(4, f.row_count)
          .Bind(5, f.size_bytes)
          .Bind(6, f.min_time_us)
          .Bind(7, f.max_time_us)
          .Bind(8, snapshot_id);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    return Status::Ok();
  }

  Status Migrate() const {
    BASIN_RETURN_IF_ERROR(
        Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
             "version INTEGER PRIMARY KEY, applied_time_us INTEGER NOT NULL)"));
    return InTransaction(true, [&]() -> Status {
      int64_t current = 0;
      {
        BASIN_ASSIGN_OR_RETURN(auto s,
                               Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
        BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (row) current = s->Int(0);
      }
      if (current > kLatestVersion) {
        return Error(ErrorCode::kUnavailable,
                     "catalog " + path() + " has schema version " + std::to_string(current) +
                         ", newer than this build knows (" + std::to_string(kLatestVersion) + ")");
      }
      for (int64_t v = current + 1; v <= kLatestVersion; ++v) {
        BASIN_RETURN_IF_ERROR(Exec(kMigrations[v - 1]));
        BASIN_ASSIGN_OR_RETURN(auto s,
                               Prepare("INSERT INTO schema_migrations (version, applied_time_us) "
                                       "VALUES (?1, ?2)"));
        s->Bind(1, v).Bind(2, clock->NowMicros());
        BASIN_RETURN_IF_ERROR(s->Run());
      }
      return Status::Ok();
    });
  }
};

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::~Catalog() = default;

internal::Connection& Catalog::connection() const { return *impl_; }

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& db_path, Clock* clock) {
  auto impl = std::make_unique<Impl>();
  impl->clock = clock;
  const std::filesystem::path parent = std::filesystem::path(db_path).parent_path();
  if (!parent.empty()) BASIN_RETURN_IF_ERROR(CreateDirectories(parent.string()));

  BASIN_RETURN_IF_ERROR(impl->Open(db_path, kBusyTimeoutMs));
  // WAL: `basin sql` reads while `basin serve` writes.
  BASIN_RETURN_IF_ERROR(impl->EnableWal());
  // FULL: a commit acknowledges a load, so it must survive power loss, not just a crash.
  BASIN_RETURN_IF_ERROR(impl->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"));
  BASIN_RETURN_IF_ERROR(impl->Migrate());
  return std::unique_ptr<Catalog>(new Catalog(std::move(impl)));
}

Result<TableInfo> Catalog::CreateTable(const TableRef& ref, const TableSchema& schema,
                                       const std::string& location) {
  BASIN_RETURN_IF_ERROR(ValidateRef(ref));
  BASIN_RETURN_IF_ERROR(ValidateSchema(schema));
  BASIN_RETURN_IF_ERROR(ValidateRelativePath(location, "table location"));
  std::lock_guard lock(impl_->mu);
  std::optional<TableInfo> created;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(true, [&]() -> Status {
    Result<TableInfo> existing = impl_->TableByRef(ref);
    if (existing.ok()) {
      return Error(ErrorCode::kAlreadyExists, "table " + ref.Qualified() + " already exists");
    }
    if (existing.status().code() != ErrorCode::kTableNotFound) return existing.status();
    BASIN_ASSIGN_OR_RETURN(TableInfo info, impl_->InsertTable(ref, schema, location));
    created = std::move(info);
    return Status::Ok();
  }));
  return std::move(*created);
}

Result<TableInfo> Catalog::EnsureTable(const TableRef& ref, const TableSchema& schema,
                                       const std::string& location) {
  BASIN_RETURN_IF_ERROR(ValidateRef(ref));
  BASIN_RETURN_IF_ERROR(ValidateSchema(schema));
  BASIN_RETURN_IF_ERROR(ValidateRelativePath(location, "table location"));
  std::lock_guard lock(impl_->mu);
  std::optional<TableInfo> out;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(true, [&]() -> Status {
    Result<TableInfo> existing = impl_->TableByRef(ref);
    if (existing.ok()) {
      out = std::move(existing).value();
      return Status::Ok();
    }
    if (existing.status().code() != ErrorCode::kTableNotFound) return existing.status();
    BASIN_ASSIGN_OR_RETURN(TableInfo info, impl_->InsertTable(ref, schema, location));
    out = std::move(info);
    return Status::Ok();
  }));
  return std::move(*out);
}

Result<TableInfo> Catalog::GetTable(const TableRef& ref) const {
  std::lock_guard lock(impl_->mu);
  return impl_->TableByRef(ref);
}

std::vector<TableInfo> Catalog::ListTables() const {
  std::lock_guard lock(impl_->mu);
  std::vector<TableInfo> out;
  Status s = impl_->InTransaction(false, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(auto stmt, impl_->Prepare(kSelectAllTables));
    for (;;) {
      BASIN_ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) break;
      BASIN_ASSIGN_OR_RETURN(TableInfo info, impl_->ReadTable(*stmt));
      out.push_back(std::move(info));
    }
    return Status::Ok();
  });
  if (!s.ok()) {
    BASIN_LOG(Error, "catalog") << "listing tables failed: " << s.ToString();
    out.clear();
  }
  return out;
}

Result<TableInfo> Catalog::EvolveSchema(int64_t table_id, const TableSchema& schema) {
  BASIN_RETURN_IF_ERROR(ValidateSchema(schema));
  std::lock_guard lock(impl_->mu);
  std::optional<TableInfo> out;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(TableInfo table, impl_->TableById(table_id));
    if (table.schema.columns == schema.columns &&
        table.schema.partition_columns == schema.partition_columns) {
      out = std::move(table);  // nothing new: no version is added
      return Status::Ok();
    }
    BASIN_RETURN_IF_ERROR(CheckEvolution(table.schema, schema));
    const int32_t version = table.schema.version + 1;
    BASIN_RETURN_IF_ERROR(
        impl_->InsertSchemaVersion(table_id, version, schema, impl_->clock->NowMicros()));
    BASIN_ASSIGN_OR_RETURN(auto s,
                           impl_->Prepare("UPDATE tables SET schema_version = ?1 WHERE id = ?2"));
    s->Bind(1, version).Bind(2, table_id);
    BASIN_RETURN_IF_ERROR(s->Run());
    table.schema = schema;
    table.schema.version = version;
    out = std::move(table);
    return Status::Ok();
  }));
  return std::move(*out);
}

Result<Snapshot> Catalog::CurrentSnapshot(const TableRef& ref) const {
  std::lock_guard lock(impl_->mu);
  Snapshot snap;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(false, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(TableInfo table, impl_->TableByRef(ref));
    snap.id = table.current_snapshot_id;
    snap.table_id = table.id;
    snap.schema = std::move(table.schema);
    if (snap.id == 0) return Status::Ok();
    {
      BASIN_ASSIGN_OR_RETURN(
          auto s, impl_->Prepare("SELECT created_time_us, COALESCE(kind, operation) FROM snapshots "
                                 "WHERE id = ?1"));
      s->Bind(1, snap.id);
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) {
        return Error(ErrorCode::kCorruption, "snapshot " + std::to_string(snap.id) + " of " +
                                                 ref.Qualified() + " is missing");
      }
      snap.created_time_us = s->Int(0);
      snap.operation = s->Text(1);
    }
    BASIN_ASSIGN_OR_RETURN(
        auto s, impl_->Prepare(std::string(kSelectFileColumns) +
                               "WHERE table_id = ?1 AND added_snapshot_id <= ?2 AND "
                               "(removed_snapshot_id IS NULL OR removed_snapshot_id > ?2) "
                               "ORDER BY id"));
    s->Bind(1, snap.table_id).Bind(2, snap.id);
    for (;;) {
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      snap.files.push_back(FileFromRow(*s));
    }
    return Status::Ok();
  }));
  return snap;
}

Result<int64_t> Catalog::CommitAppend(int64_t table_id, std::vector<DataFile> files,
                                      const std::optional<OffsetAdvance>& offset) {
  BASIN_RETURN_IF_ERROR(CheckOffsetDirection(offset));
  std::lock_guard lock(impl_->mu);
  int64_t snapshot_id = 0;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(true, [&]() -> Status {
    const int64_t now = impl_->clock->NowMicros();
    BASIN_ASSIGN_OR_RETURN(TableInfo table, impl_->TableById(table_id));
    BASIN_RETURN_IF_ERROR(ValidateFiles(files, table));
    BASIN_RETURN_IF_ERROR(impl_->AdvanceOffset(offset, now));
    BASIN_ASSIGN_OR_RETURN(snapshot_id, impl_->InsertSnapshot(table, ChangeKind::kAppend, now));
    return impl_->InsertFiles(table.id, snapshot_id, files);
  }));
  return snapshot_id;
}

Result<int64_t> Catalog::CommitAppends(std::vector<TableAppend> appends,
                                       const std::optional<OffsetAdvance>& offset) {
  CommitRequest request;
  std::vector<int64_t> table_ids;
  for (TableAppend& append : appends) {
    table_ids.push_back(append.table_id);
    request.changes.push_back({append.table_id, ChangeKind::kAppend, {}, std::move(append.files)});
  }
  if (offset) request.offsets.push_back(*offset);
  BASIN_ASSIGN_OR_RETURN(CommitResult result, Commit(std::move(request)));
  if (result.snapshot_ids.empty()) return int64_t{0};
  if (result.snapshot_ids[0] != 0) return result.snapshot_ids[0];
  // The first table got no snapshot (no files): its current one is the answer.
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(TableInfo table, impl_->TableById(table_ids[0]));
  return table.current_snapshot_id;
}

Result<int64_t> Catalog::CommitReplace(int64_t table_id,
                                       const std::vector<int64_t>& removed_file_ids,
                                       std::vector<DataFile> added) {
  CommitRequest request;
  request.changes.push_back({table_id, ChangeKind::kCompact, removed_file_ids, std::move(added)});
  BASIN_ASSIGN_OR_RETURN(CommitResult result, Commit(std::move(request)));
  if (result.snapshot_ids[0] != 0) return result.snapshot_ids[0];
  // Nothing removed and nothing added: no snapshot, the table stays where it is.
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(TableInfo table, impl_->TableById(table_id));
  return table.current_snapshot_id;
}

Result<CommitResult> Catalog::Commit(CommitRequest request) {
  for (const OffsetAdvance& offset : request.offsets) {
    BASIN_RETURN_IF_ERROR(CheckOffsetDirection(offset));
  }
  for (const TableChange& change : request.changes) {
    if (change.kind == ChangeKind::kAppend && !change.removed_file_ids.empty()) {
      return Error(ErrorCode::kInvalidArgument, "an append cannot remove files");
    }
  }
  for (const std::string& key : request.keys) {
    if (key.empty() || key.size() > 1024) {
      return Error(ErrorCode::kInvalidArgument, "a commit key must be 1-1024 bytes");
    }
  }
  std::lock_guard lock(impl_->mu);
  CommitResult result;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(true, [&]() -> Status {
    result.snapshot_ids.clear();
    const int64_t now = impl_->clock->NowMicros();
    for (const std::string& key : request.keys) {
      BASIN_ASSIGN_OR_RETURN(auto s,
                             impl_->Prepare("INSERT INTO commit_keys (key, created_time_us) "
                                            "VALUES (?1, ?2) ON CONFLICT DO NOTHING"));
      s->Bind(1, key).Bind(2, now);
      BASIN_RETURN_IF_ERROR(s->Run());
      if (impl_->Changes() == 0) {
        return Error(ErrorCode::kAlreadyExists, "commit " + key + " happened before");
      }
    }
    for (const OffsetAdvance& offset : request.offsets) {
      BASIN_RETURN_IF_ERROR(impl_->AdvanceOffset(offset, now));
    }
    for (const TableChange& change : request.changes) {
      // Read inside the loop: a table named twice chains its second snapshot to its first.
      BASIN_ASSIGN_OR_RETURN(TableInfo table, impl_->TableById(change.table_id));
      BASIN_ASSIGN_OR_RETURN(int64_t snapshot_id, impl_->ApplyChange(table, change, now));
      result.snapshot_ids.push_back(snapshot_id);
    }
    return Status::Ok();
  }));
  return result;
}

Result<bool> Catalog::HasCommitKey(std::string_view key) const {
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(auto s, impl_->Prepare("SELECT 1 FROM commit_keys WHERE key = ?1"));
  s->Bind(1, key);
  return s->Step();
}

Result<std::vector<DataFile>> Catalog::NewFilesSince(int64_t table_id, int64_t after_snapshot_id,
                                                     int64_t up_to_snapshot_id) const {
  std::lock_guard lock(impl_->mu);
  std::vector<DataFile> out;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(false, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(impl_->TableById(table_id).status());
    // Files of the snapshot `up_to`, added after `after` by a snapshot that brought new data.
    BASIN_ASSIGN_OR_RETURN(
        auto s,
        impl_->Prepare(
            "SELECT f.id, f.path, f.partition_path, f.row_count, f.size_bytes, f.min_time_us, "
            "f.max_time_us, f.added_snapshot_id FROM data_files f "
            "JOIN snapshots a ON a.id = f.added_snapshot_id "
            "WHERE f.table_id = ?1 AND f.added_snapshot_id <= ?3 "
            "AND (f.removed_snapshot_id IS NULL OR f.removed_snapshot_id > ?3) "
            "AND (?2 = 0 OR (f.added_snapshot_id > ?2 "
            "AND COALESCE(a.kind, a.operation) IN ('append', 'overwrite'))) "
            "ORDER BY f.id"));
    s->Bind(1, table_id).Bind(2, after_snapshot_id).Bind(3, up_to_snapshot_id);
    for (;;) {
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(FileFromRow(*s));
    }
    return Status::Ok();
  }));
  return out;
}

Status Catalog::RegisterConsumer(const std::string& stream, const std::string& consumer) {
  std::lock_guard lock(impl_->mu);
  return impl_->InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(
        auto s, impl_->Prepare("INSERT INTO stream_offsets (stream, consumer, committed_offset, "
                               "updated_time_us) VALUES (?1, ?2, 0, ?3) ON CONFLICT DO NOTHING"));
    s->Bind(1, stream).Bind(2, consumer).Bind(3, impl_->clock->NowMicros());
    return s->Run();
  });
}

Status Catalog::RemoveConsumer(const std::string& stream, const std::string& consumer) {
  std::lock_guard lock(impl_->mu);
  return impl_->InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(
        auto s, impl_->Prepare("DELETE FROM stream_offsets WHERE stream = ?1 AND consumer = ?2"));
    s->Bind(1, stream).Bind(2, consumer);
    return s->Run();
  });
}

Result<std::vector<ConsumerOffset>> Catalog::ListConsumers(const std::string& stream) const {
  std::lock_guard lock(impl_->mu);
  return impl_->ConsumersOf(stream);
}

Result<uint64_t> Catalog::GetStreamOffset(const std::string& stream,
                                          const std::string& consumer) const {
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(auto s, impl_->Prepare("SELECT committed_offset FROM stream_offsets "
                                                "WHERE stream = ?1 AND consumer = ?2"));
  s->Bind(1, stream).Bind(2, consumer);
  BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
  return row ? static_cast<uint64_t>(s->Int(0)) : uint64_t{0};
}

Result<std::vector<DataFile>> Catalog::ExpiredFiles(int64_t removed_before_us) const {
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(
      auto s, impl_->Prepare(std::string(kSelectFileColumns) +
                             "WHERE removed_time_us IS NOT NULL AND removed_time_us < ?1 "
                             "ORDER BY id"));
  s->Bind(1, removed_before_us);
  std::vector<DataFile> out;
  for (;;) {
    BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    out.push_back(FileFromRow(*s));
  }
  return out;
}

Status Catalog::ForgetFiles(const std::vector<int64_t>& file_ids) {
  std::lock_guard lock(impl_->mu);
  return impl_->InTransaction(true, [&]() -> Status {
    for (int64_t id : file_ids) {
      {
        BASIN_ASSIGN_OR_RETURN(
            auto s,
            impl_->Prepare("SELECT removed_snapshot_id IS NULL FROM data_files WHERE id = ?1"));
        s->Bind(1, id);
        BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) continue;  // already forgotten: a cleanup that is run again
        if (s->Int(0) != 0) {
          return Error(ErrorCode::kConflict,
                       "file " + std::to_string(id) + " is live and cannot be forgotten");
        }
      }
      BASIN_ASSIGN_OR_RETURN(auto s, impl_->Prepare("DELETE FROM data_files WHERE id = ?1"));
      s->Bind(1, id);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    return Status::Ok();
  });
}

Result<AccessKey> Catalog::CreateAccessKey(std::string_view user_name) {
  if (!IsValidUserName(user_name)) {
    return Error(ErrorCode::kInvalidArgument,
                 "user name '" + std::string(user_name) +
                     "' must be 1-64 characters of letters, digits and _+=,.@-");
  }
  std::lock_guard lock(impl_->mu);
  AccessKey key;
  key.user_name = std::string(user_name);
  key.created_time_us = impl_->clock->NowMicros();
  BASIN_ASSIGN_OR_RETURN(key.secret, NewSecret());
  // A clash of 80 random bits is not going to happen; a second draw covers it anyway.
  Status inserted;
  for (int attempt = 0; attempt < 3; ++attempt) {
    BASIN_ASSIGN_OR_RETURN(key.access_key_id, NewAccessKeyId());
    inserted = impl_->InTransaction(true, [&]() -> Status {
      BASIN_ASSIGN_OR_RETURN(
          auto s, impl_->Prepare("INSERT INTO access_keys (access_key_id, secret, user_name, "
                                 "created_time_us, status) VALUES (?1, ?2, ?3, ?4, 'active')"));
      s->Bind(1, key.access_key_id)
          .Bind(2, key.secret)
          .Bind(3, key.user_name)
          .Bind(4, key.created_time_us);
      return s->Run();
    });
    if (inserted.code() != ErrorCode::kConflict) break;
  }
  BASIN_RETURN_IF_ERROR(inserted);
  BASIN_RETURN_IF_ERROR(RestrictToOwner(impl_->path()));
  return key;
}

Result<std::optional<AccessKey>> Catalog::FindActiveAccessKey(
    std::string_view access_key_id) const {
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(auto s, impl_->Prepare(std::string(kSelectAccessKeyColumns) +
                                                "WHERE access_key_id = ?1 AND status = 'active'"));
  s->Bind(1, access_key_id);
  BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row) return std::optional<AccessKey>();
  return std::optional<AccessKey>(AccessKeyFromRow(*s));
}

Result<std::vector<AccessKey>> Catalog::ListAccessKeys() const {
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(auto s, impl_->Prepare(std::string(kSelectAccessKeyColumns) +
                                                "ORDER BY created_time_us, access_key_id"));
  std::vector<AccessKey> out;
  for (;;) {
    BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    out.push_back(AccessKeyFromRow(*s));
  }
  return out;
}

Status Catalog::SetAccessKeyActive(std::string_view access_key_id, bool active) {
  std::lock_guard lock(impl_->mu);
  return impl_->InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(
        auto s, impl_->Prepare("UPDATE access_keys SET status = ?2 WHERE access_key_id = ?1"));
    s->Bind(1, access_key_id).Bind(2, std::string_view(active ? "active" : "inactive"));
    BASIN_RETURN_IF_ERROR(s->Run());
    if (impl_->Changes() == 0) {
      return Error(ErrorCode::kNotFound,
                   "access key " + std::string(access_key_id) + " does not exist");
    }
    return Status::Ok();
  });
}

Status Catalog::DeleteAccessKey(std::string_view access_key_id) {
  std::lock_guard lock(impl_->mu);
  return impl_->InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(auto s,
                           impl_->Prepare("DELETE FROM access_keys WHERE access_key_id = ?1"));
    s->Bind(1, access_key_id);
    BASIN_RETURN_IF_ERROR(s->Run());
    if (impl_->Changes() == 0) {
      return Error(ErrorCode::kNotFound,
                   "access key " + std::string(access_key_id) + " does not exist");
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> Catalog::KnownPaths(int64_t table_id) const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  BASIN_RETURN_IF_ERROR(impl_->InTransaction(false, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(impl_->TableById(table_id).status());
    BASIN_ASSIGN_OR_RETURN(
        auto s, impl_->Prepare("SELECT path FROM data_files WHERE table_id = ?1 ORDER BY path"));
    s->Bind(1, table_id);
    for (;;) {
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(s->Text(0));
    }
    return Status::Ok();
  }));
  return out;
}

}  // namespace basin::catalog
