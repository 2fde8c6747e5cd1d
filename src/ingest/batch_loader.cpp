#include "ingest/batch_loader.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "ingest/ndjson_shape.h"
#include "ingest/schema_inference.h"
#include "ingest/text_encoding.h"
#include "query/duck_db.h"
#include "query/parquet_file_writer.h"

namespace basin::ingest {
namespace fs = std::filesystem;
using query::QuoteIdentifier;
using query::QuoteLiteral;

namespace {

constexpr std::string_view kSourceFileColumn = "_source_file";
constexpr std::string_view kLoadedAtColumn = "_loaded_at";
constexpr std::string_view kFilePrefix = "batch-";
// The first bytes shown of a value in an error message.
constexpr size_t kExampleBytes = 80;

// One column of the file as staged in DuckDB: SQL expressions over the table `staged`.
struct FileColumn {
  std::string name;
  std::string text_sql;       // the value as text; NULL when empty or missing
  std::string json_sql;       // JSON sources: the value as JSON text
  std::string json_type_sql;  // JSON sources: json_type of the value (NULL when missing)
  InferredType type = InferredType::kVarchar;
  int64_t non_null = 0;
  bool nullable = false;
};

// What staging a file produced.
struct Staged {
  std::string format;  // csv | json | ndjson
  std::vector<FileColumn> columns;
  std::string row_sql;      // the row's position in the file, for messages
  std::string row_label;    // "row" (CSV data row) or "line" (NDJSON) or "element" (JSON)
  int64_t rows = 0;         // rows in `staged`
  int64_t bad_rows = 0;     // rows in `bad_rows`
  std::string path;         // the file read
  bool csv_header = false;  // CSV: the first record was a header
  std::string reader;       // LoadReport::reader
};

bool IsBatchTableName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '_') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status ValidateTable(const catalog::TableRef& table) {
  if (table.zone != "raw" || !IsBatchTableName(table.name)) {
    return Error(ErrorCode::kInvalidArgument,
                 "batch files load into raw.<name> with a name of [a-z0-9_] not starting with "
                 "'_', not '" +
                     table.Qualified() + "'");
  }
  return Status::Ok();
}

Status ValidateOriginalName(std::string_view name) {
  if (name.empty()) return Error(ErrorCode::kInvalidArgument, "the original file name is empty");
  if (name.size() > 255) {
    return Error(ErrorCode::kInvalidArgument, "the original file name is over 255 bytes");
  }
  if (name == "." || name == "..") {
    return Error(ErrorCode::kInvalidArgument, "'" + std::string(name) + "' is not a file name");
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || u < 0x20 || u == 0x7F) {
      return Error(ErrorCode::kInvalidArgument,
                   "the original file name must be a plain name (no '/', '\\' or control "
                   "characters)");
    }
  }
  return Status::Ok();
}

Status ValidateOptions(const BatchFileOptions& o) {
  auto one_of = [](const std::string& v, std::initializer_list<std::string_view> allowed) {
    return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
  };
  if (!one_of(o.format, {"auto", "csv", "json", "ndjson"})) {
    return Error(ErrorCode::kInvalidArgument,
                 "format must be auto, csv, json or ndjson, not '" + o.format + "'");
  }
  if (!one_of(o.header, {"auto", "yes", "no"})) {
    return Error(ErrorCode::kInvalidArgument, "header must be auto, yes or no");
  }
  if (!one_of(o.encoding, {"auto", "utf-8", "latin-1"})) {
    return Error(ErrorCode::kInvalidArgument, "encoding must be auto, utf-8 or latin-1");
  }
  if (o.delimiter.size() > 1 || o.delimiter == "\n" || o.delimiter == "\r" || o.delimiter == "\"") {
    return Error(ErrorCode::kInvalidArgument, "the delimiter must be one character (or empty)");
  }
  return Status::Ok();
}

// The format by content: '[' starts a JSON array, '{' NDJSON, anything else CSV.
std::string SniffFormat(std::string_view head) {
  size_t i = 0;
  if (head.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  if (i < head.size() && head[i] == '[') return "json";
  if (i < head.size() && head[i] == '{') return "ndjson";
  return "csv";
}

std::string NewLoadId(int64_t now_us) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  uint64_t r;
  {
    std::lock_guard lock(mu);
    r = rng();
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld-%08llx", static_cast<long long>(now_us),
                static_cast<unsigned long long>(r & 0xFFFFFFFF));
  return buf;
}

std::string TimestampLiteral(int64_t us) { return "TIMESTAMP '" + FormatTimestamp(us) + "'"; }

std::string Truncated(std::string_view s) {
  if (s.size() <= kExampleBytes) return std::string(s);
  size_t n = kExampleBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole characters
  return std::string(s.substr(0, n)) + "…";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Text of a single-cell query.
Result<query::Value> QueryOne(query::DuckDb& db, const std::string& sql) {
  BASIN_ASSIGN_OR_RETURN(auto result, db.Query(sql, 1));
  if (result.rows.empty() || result.rows[0].empty()) return query::Value::Null();
  return result.rows[0][0];
}

Status ReadError(const Status& s, std::string_view format) {
  if (s.code() != ErrorCode::kSqlError) return s;
  const ErrorCode code = format == "csv" ? ErrorCode::kMalformedBody : ErrorCode::kMalformedJson;
  return Error(code, "cannot read the file as " + std::string(format) + ": " + s.message());
}

// --- Staging: one DuckDB read of the file into the table `staged` (all text) -----------------

// DuckDB's header detection compares the types of the first row with the others, so it misses
// headers over text-like columns ("k,f" above "a,true"). A first row whose values are all
// present, distinct and none a number, boolean, date or timestamp is taken as a header too.
Result<bool> FirstRowLooksLikeHeader(query::DuckDb& db, const std::string& dialect) {
  BASIN_RETURN_IF_ERROR(db.Execute("CREATE TEMP TABLE first_row AS SELECT * FROM read_csv(" +
                                   dialect + ", header=false) LIMIT 1"));
  BASIN_ASSIGN_OR_RETURN(auto columns, db.Query("SELECT column_name FROM duckdb_columns() WHERE "
                                                "table_name = 'first_row' ORDER BY column_index"));
  std::string list;
  for (const auto& row : columns.rows) {
    list += (list.empty() ? "" : ", ") + QuoteIdentifier(row[0].s);
  }
  if (list.empty()) return false;
  const std::string v = "NULLIF(v, '')";
  BASIN_ASSIGN_OR_RETURN(
      auto answer,
      QueryOne(db, "SELECT count(" + v + ") = count(*) AND count(DISTINCT lower(v)) = count(*) " +
                       "AND NOT bool_or(coalesce(" + FitsBooleanSql(v) + " OR " + FitsDoubleSql(v) +
                       " OR " + FitsTimestampSql(v) + ", false)) FROM (SELECT unnest([" + list +
                       "]) AS v FROM first_row)"));
  BASIN_RETURN_IF_ERROR(db.Execute("DROP TABLE first_row"));
  return answer.kind == query::Value::Kind::kBool && answer.b;
}

Status UsePhysicalLines(query::DuckDb& db, const std::string& path);

Result<Staged> StageCsv(query::DuckDb& db, const std::string& path, const BatchFileOptions& o,
                        const std::string& encoding) {
  std::string dialect = QuoteLiteral(path) + ", all_varchar=true";
  if (!o.delimiter.empty()) dialect += ", delim=" + QuoteLiteral(o.delimiter);
  if (encoding == "latin-1") dialect += ", encoding='latin-1'";
  std::string args = dialect + ", store_rejects=true";
  if (o.header == "yes") args += ", header=true";
  if (o.header == "no") args += ", header=false";
  if (o.header == "auto") {
    auto header = FirstRowLooksLikeHeader(db, dialect);
    if (!header.ok()) return ReadError(header.status(), "csv");
    if (*header) args += ", header=true";
  }
  Status read = db.Execute("CREATE TABLE staged AS SELECT * FROM read_csv(" + args + ")");
  if (!read.ok()) return ReadError(read, "csv");
  Staged staged;
  staged.format = "csv";
  staged.row_sql = "(rowid + 1)";
  staged.row_label = "row";
  staged.reader = "read_csv";
  BASIN_ASSIGN_OR_RETURN(auto columns, db.Query("SELECT column_name FROM duckdb_columns() WHERE "
                                                "table_name = 'staged' ORDER BY column_index"));
  staged.path = path;
  // Without a header DuckDB names the columns column0, column1, ...
  static const std::regex kGeneratedName("column[0-9]+");
  for (const auto& row : columns.rows) {
    if (!std::regex_match(row[0].s, kGeneratedName)) staged.csv_header = true;
  }
  for (const auto& row : columns.rows) {
    FileColumn c;
    c.name = row[0].s;
    c.text_sql = "NULLIF(" + QuoteIdentifier(c.name) + ", '')";
    staged.columns.push_back(std::move(c));
  }
  BASIN_RETURN_IF_ERROR(
      db.Execute("CREATE TABLE bad_rows AS SELECT any_value(csv_line) AS record, 'csv_parse' AS "
                 "rule, string_agg(error_message, '; ') AS reason, CAST(line AS BIGINT) AS line "
                 "FROM reject_errors GROUP BY line ORDER BY line"));
  BASIN_RETURN_IF_ERROR(UsePhysicalLines(db, path));
  return staged;
}

// The keys of the objects in `lines`, in first-seen order (by line, then within the line).
Result<std::vector<std::string>> JsonKeys(query::DuckDb& db) {
  BASIN_ASSIGN_OR_RETURN(
      auto result,
      db.Query("SELECT k FROM (SELECT line_no, unnest(keys) AS k, generate_subscripts(keys, 1) AS "
               "pos FROM (SELECT line_no, json_keys(line) AS keys FROM lines WHERE kind = "
               "'object')) GROUP BY k ORDER BY min(line_no), arg_min(pos, line_no)"));
  std::vector<std::string> keys;
  for (const auto& row : result.rows) keys.push_back(row.at(0).s);
  return keys;
}

// Escapes a JSON object key for a JSONPath step "$.\"key\"".
std::string JsonPathOfKey(const std::string& key) {
  std::string escaped;
  for (char c : key) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "$.\"" + escaped + "\"";
}

// `staged` and `bad_rows` as StageJson makes them, for an NDJSON file whose every line is an
// object with distinct keys (NdjsonShape::plain): read_json reads it in parallel, one JSON
// column per key, in file order. False, with nothing left behind, when DuckDB does not take
// the file as simdjson did; the caller then reads it line by line.
Result<bool> StagePlainNdjson(query::DuckDb& db, const std::string& path,
                              const NdjsonShape& shape) {
  if (shape.keys.empty()) return false;
  std::string columns, aliases;
  for (size_t i = 0; i < shape.keys.size(); ++i) {
    columns += (i > 0 ? ", " : "") + QuoteLiteral(shape.keys[i]) + ": 'JSON'";
    aliases += ", __c" + std::to_string(i);
  }
  // The loader's database preserves insertion order, so row_number() is the line number.
  Status read =
      db.Execute("CREATE TABLE staged AS SELECT row_number() OVER () AS __line, * FROM read_json(" +
                 QuoteLiteral(path) + ", format = 'newline_delimited', columns = {" + columns +
                 "}) AS f(" + aliases.substr(2) + ")");
  if (read.ok()) {
    BASIN_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT count(*) FROM staged"));
    if (rows.rows.at(0).at(0).i == shape.objects) {
      BASIN_RETURN_IF_ERROR(
          db.Execute("CREATE TABLE bad_rows (record VARCHAR, rule VARCHAR, reason VARCHAR, line "
                     "BIGINT)"));
      return true;
    }
  }
  BASIN_LOG(Info, "batch") << "read_json did not take " << path
                           << " as one object per line; reading it line by line"
                           << (read.ok() ? std::string() : ": " + read.message());
  BASIN_RETURN_IF_ERROR(db.Execute("DROP TABLE IF EXISTS staged"));
  return false;
}

Result<Staged> StageJson(query::DuckDb& db, const std::string& path, const std::string& format) {
  Staged staged;
  staged.format = format;
  staged.row_sql = "__line";
  staged.row_label = format == "ndjson" ? "line" : "element";
  // A JSON null and a missing key both become NULL, in every column type.
  auto add_columns = [&](const std::vector<std::string>& keys) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string value = "__c" + std::to_string(i);
      FileColumn c;
      c.name = keys[i];
      c.text_sql = "json_extract_string(" + value + ", '$')";
      c.json_sql = "CASE WHEN json_type(" + value + ") <> 'NULL' THEN " + value + " END";
      c.json_type_sql = "json_type(" + value + ")";
      staged.columns.push_back(std::move(c));
    }
  };
  if (format == "ndjson") {
    BASIN_ASSIGN_OR_RETURN(NdjsonShape shape, ScanNdjsonShape(path));
    if (shape.plain) {
      BASIN_ASSIGN_OR_RETURN(bool staged_plain, StagePlainNdjson(db, path, shape));
      if (staged_plain) {
        staged.reader = "read_json";
        add_columns(shape.keys);
        return staged;
      }
    }
  }
  std::string lines_select;
  if (format == "ndjson") {
    // read_text + split: a line is a record whatever bytes it holds, so a malformed line is kept
    // whole for the quarantine with its line number.
    lines_select =
        "SELECT line_no, CASE WHEN line_no = 1 THEN ltrim(rtrim(line, chr(13)), chr(65279)) ELSE "
        "rtrim(line, chr(13)) END AS line FROM (SELECT unnest(parts) AS line, "
        "generate_subscripts(parts, 1) AS line_no FROM (SELECT string_split(content, chr(10)) AS "
        "parts FROM read_text(" +
        QuoteLiteral(path) + ")))";
  } else {
    lines_select =
        "SELECT row_number() OVER () AS line_no, CAST(json AS VARCHAR) AS line FROM "
        "read_json_objects(" +
        QuoteLiteral(path) + ", format='array')";
  }
  // Each line is classified once (blank, malformed, object, other JSON).
  Status read = db.Execute(
      "CREATE TABLE lines AS SELECT line_no, line, CASE WHEN trim(line) = '' THEN 'blank' WHEN "
      "NOT json_valid(line) THEN 'malformed' WHEN json_type(line) = 'OBJECT' THEN 'object' ELSE "
      "'other' END AS kind FROM (" +
      lines_select + ")");
  if (!read.ok()) return ReadError(read, format);
  BASIN_RETURN_IF_ERROR(
      db.Execute("CREATE TABLE bad_rows AS SELECT line AS record, 'json_parse' AS rule, CASE WHEN "
                 "kind = 'other' THEN 'not a JSON object' ELSE 'malformed JSON' END AS reason, "
                 "CAST(line_no AS BIGINT) AS line FROM lines WHERE kind IN ('malformed', "
                 "'other') ORDER BY line_no"));
  BASIN_ASSIGN_OR_RETURN(auto keys, JsonKeys(db));
  // Each object is parsed once: all its values are extracted in one call (a list, one element
  // per key), and `staged` keeps only those values, not the document. The inference and the
  // writes below then look at one small value at a time. `lines` goes, so that the file is not
  // held twice.
  std::string paths;
  std::string values;
  for (size_t i = 0; i < keys.size(); ++i) {
    paths += (i > 0 ? ", " : "") + QuoteLiteral(JsonPathOfKey(keys[i]));
    values += ", __v[" + std::to_string(i + 1) + "] AS __c" + std::to_string(i);
  }
  const std::string extracted =
      keys.empty() ? std::string() : ", json_extract(line, [" + paths + "]) AS __v";
  BASIN_RETURN_IF_ERROR(db.Execute("CREATE TABLE staged AS SELECT line_no AS __line" + values +
                                   " FROM (SELECT line_no" + extracted +
                                   " FROM lines WHERE kind = 'object') ORDER BY line_no"));
  BASIN_RETURN_IF_ERROR(db.Execute("DROP TABLE lines"));
  staged.reader = format == "ndjson" ? "lines" : "read_json_objects";
  add_columns(keys);
  return staged;
}

// --- Inference: one aggregate pass over `staged` ---------------------------------------------

std::string StrictlyFitsSql(std::string_view v, InferredType type) {
  switch (type) {
    case InferredType::kBoolean: return FitsBooleanSql(v);
    case InferredType::kBigint: return FitsBigintSql(v);
    case InferredType::kDouble: return FitsDoubleSql(v);
    case InferredType::kDate: return FitsDateSql(v);
    case InferredType::kTimestamp: return FitsTimestampSql(v);
    default: return "true";
  }
}

// Rows of a file whose values suggest each column's type; every value is then verified.
constexpr int kInferenceSampleRows = 20'000;

// CSV columns. The strict formats are tried on a sample, narrowest type first; the type the sample
// suggests is then verified over every value, stopping at the first misfit (then the next wider
// type the sample allowed is tried, up to VARCHAR; a column the sample has no value of tries
// every type). A text column costs nothing beyond the
// sample, a typed one about one pass, so inference stays cheap next to reading the file.
Status InferTextTypes(query::DuckDb& db, Staged& staged) {
  constexpr InferredType kLadder[] = {InferredType::kBoolean, InferredType::kBigint,
                                      InferredType::kDouble, InferredType::kDate,
                                      InferredType::kTimestamp};
  constexpr size_t kSteps = std::size(kLadder);
  std::string counts = "SELECT ";
  std::string sample = "SELECT ";
  for (size_t i = 0; i < staged.columns.size(); ++i) {
    const std::string& v = staged.columns[i].text_sql;
    counts += std::string(i > 0 ? ", " : "") + "count(" + v + "), count(*) - count(" + v + ")";
    for (size_t k = 0; k < kSteps; ++k) {
      sample += std::string(i + k > 0 ? ", " : "") + "coalesce(bool_and(" +
                StrictlyFitsSql(v, kLadder[k]) + ") FILTER (WHERE " + v + " IS NOT NULL), true)";
    }
  }
  BASIN_ASSIGN_OR_RETURN(auto counted, db.Query(counts + " FROM staged"));
  BASIN_ASSIGN_OR_RETURN(auto sampled, db.Query(sample + " FROM (SELECT * FROM staged LIMIT " +
                                                std::to_string(kInferenceSampleRows) + ")"));
  for (size_t i = 0; i < staged.columns.size(); ++i) {
    FileColumn& c = staged.columns[i];
    c.non_null = counted.rows[0][2 * i].i;
    c.nullable = counted.rows[0][2 * i + 1].i > 0;
    c.type = InferredType::kVarchar;
    if (c.non_null == 0) continue;
    for (size_t k = 0; k < kSteps; ++k) {
      if (!sampled.rows[0][i * kSteps + k].b) continue;
      const std::string misfit = "SELECT count(*) FROM (SELECT 1 FROM staged WHERE " + c.text_sql +
                                 " IS NOT NULL AND NOT coalesce(" +
                                 StrictlyFitsSql(c.text_sql, kLadder[k]) + ", false) LIMIT 1)";
      BASIN_ASSIGN_OR_RETURN(auto found, QueryOne(db, misfit));
      if (found.i == 0) {
        c.type = kLadder[k];
        break;
      }
    }
  }
  return Status::Ok();
}

// JSON columns keep JSON's own types: strings never become numbers or booleans, only dates and
// times. Like InferTextTypes: the counts over every value (one json_type per value), the ladder
// on a sample, then the type the sample suggests verified over every value (a column gets the
// first type of the ladder that all its scalar values fit, exactly as one pass over all values
// would decide, at the cost of about one pass for a typed column).
Status InferJsonTypes(query::DuckDb& db, Staged& staged) {
  constexpr InferredType kLadder[] = {InferredType::kBoolean, InferredType::kBigint,
                                      InferredType::kDouble, InferredType::kDate,
                                      InferredType::kTimestamp};
  constexpr size_t kSteps = std::size(kLadder);
  // Whether a scalar value fits kLadder[k]; `jt` is its json_type, `v` its text.
  auto fits = [](const std::string& jt, const std::string& v, size_t k) -> std::string {
    switch (k) {
      case 0: return "(" + jt + " = 'BOOLEAN')";
      case 1: return "(" + jt + " IN ('BIGINT', 'UBIGINT') AND " + FitsBigintSql(v) + ")";
      case 2: return "(" + jt + " IN ('BIGINT', 'UBIGINT', 'DOUBLE'))";
      case 3: return "(" + jt + " = 'VARCHAR' AND " + FitsDateSql(v) + ")";
      default: return "(" + jt + " = 'VARCHAR' AND " + FitsTimestampSql(v) + ")";
    }
  };
  auto scalar = [](const std::string& jt) {
    return "(" + jt + " NOT IN ('OBJECT', 'ARRAY', 'NULL'))";
  };
  std::string types = "SELECT ";
  std::string counts = "SELECT ";
  std::string sample = "SELECT ";
  for (size_t i = 0; i < staged.columns.size(); ++i) {
    const FileColumn& c = staged.columns[i];
    const std::string t = "__t" + std::to_string(i);
    types += std::string(i > 0 ? ", " : "") + c.json_type_sql + " AS " + t;
    counts += std::string(i > 0 ? ", " : "") + "count(*) FILTER (WHERE " + t + " IS NOT NULL AND " +
              t + " <> 'NULL'), count(*) FILTER (WHERE " + t + " IS NULL OR " + t +
              " = 'NULL'), count(*) FILTER (WHERE " + t + " IN ('OBJECT', 'ARRAY'))";
    for (size_t k = 0; k < kSteps; ++k) {
      sample += std::string(i + k > 0 ? ", " : "") + "coalesce(bool_and(" +
                fits(c.json_type_sql, c.text_sql, k) + ") FILTER (WHERE " +
                scalar(c.json_type_sql) + "), true)";
    }
  }
  BASIN_ASSIGN_OR_RETURN(auto counted, db.Query(counts + " FROM (" + types + " FROM staged)"));
  BASIN_ASSIGN_OR_RETURN(auto sampled, db.Query(sample + " FROM (SELECT * FROM staged LIMIT " +
                                                std::to_string(kInferenceSampleRows) + ")"));
  for (size_t i = 0; i < staged.columns.size(); ++i) {
    FileColumn& c = staged.columns[i];
    c.non_null = counted.rows[0][3 * i].i;
    c.nullable = counted.rows[0][3 * i + 1].i > 0;
    const int64_t structured = counted.rows[0][3 * i + 2].i;
    c.type = InferredType::kVarchar;
    if (structured > 0) {
      c.type = InferredType::kJson;
      continue;
    }
    if (c.non_null == 0) continue;
    for (size_t k = 0; k < kSteps; ++k) {
      const query::Value& suggested = sampled.rows[0][i * kSteps + k];
      if (suggested.kind != query::Value::Kind::kBool || !suggested.b) continue;
      // A misfit is a scalar value for which the condition is false (as bool_and sees it).
      const std::string misfit = "SELECT count(*) FROM (SELECT 1 FROM staged WHERE " +
                                 scalar(c.json_type_sql) + " AND NOT " +
                                 fits(c.json_type_sql, c.text_sql, k) + " LIMIT 1)";
      BASIN_ASSIGN_OR_RETURN(auto found, QueryOne(db, misfit));
      if (found.i == 0) {
        c.type = kLadder[k];
        break;
      }
    }
  }
  return Status::Ok();
}

Status InferTypes(query::DuckDb& db, Staged& staged) {
  if (staged.columns.empty()) return Status::Ok();
  if (staged.format == "csv") return InferTextTypes(db, staged);
  return InferJsonTypes(db, staged);
}

// The SQL giving a file column's values as `type` (the table's type for it): NULL where a value
// does not fit, or, once every value is known to fit (`fitting`), plain casts.
std::string ValueSql(const FileColumn& c, const std::string& type, bool fitting) {
  const std::string t = NormalizeType(type);
  if (t == "JSON") {
    return c.json_sql.empty() ? CastTextSql(c.text_sql, "JSON") : c.json_sql;
  }
  if (t == "VARCHAR" && c.type == InferredType::kJson && !c.json_sql.empty()) {
    return "CAST(" + c.json_sql + " AS VARCHAR)";
  }
  return fitting ? ConvertFittingTextSql(c.text_sql, type) : CastTextSql(c.text_sql, type);
}

// Whether every value of a file column of inferred type `file` fits a table column of type
// `table` without looking: the same type, or a wider one of the inference ladder.
bool FitsByConstruction(const std::string& table, InferredType file) {
  const std::string t = NormalizeType(table);
  return t == InferredTypeName(file) || t == "VARCHAR" ||
         (t == "DOUBLE" && file == InferredType::kBigint) ||
         (t == "TIMESTAMP" && file == InferredType::kDate);
}

// The rejection of a file that cannot join the table.
Status Incompatible(const std::string& table, const std::string& column,
                    const std::string& table_type, const std::string& detail) {
  return Error(ErrorCode::kSchemaIncompatible,
               "column '" + column + "' of " + table + " is " + table_type + ": " + detail);
}

// Calls `visit(record_line, physical_line)` for each non-blank record of a CSV, in order, until it
// returns false. Records end at newlines outside double quotes. `record_line` counts only those
// newlines (DuckDB's `line` in reject_errors); `physical_line` counts every newline (what an
// editor shows). Only for locating rows in messages and the quarantine; 1-based.
void ForEachCsvRecord(
    const std::string& path,
    const std::function<bool(int64_t record_line, int64_t physical_line)>& visit) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(1 << 16);
  int64_t physical = 1;
  int64_t unquoted = 1;
  int64_t start_physical = 1;
  int64_t start_unquoted = 1;
  bool in_quotes = false;
  bool has_content = false;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      const char ch = buffer[i];
      if (ch == '"') in_quotes = !in_quotes;
      if (ch == '\n') {
        ++physical;
        if (in_quotes) continue;
        ++unquoted;
        if (has_content && !visit(start_unquoted, start_physical)) return;
        has_content = false;
      } else if (ch != '\r') {
        if (!has_content) {
          start_physical = physical;
          start_unquoted = unquoted;
        }
        has_content = true;
      }
    }
  }
  if (has_content) visit(start_unquoted, start_physical);
}

// Rewrites bad_rows.line from DuckDB's count (newlines outside quotes) to the physical line.
Status UsePhysicalLines(query::DuckDb& db, const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(auto lines, db.Query("SELECT DISTINCT line FROM bad_rows"));
  if (lines.rows.empty()) return Status::Ok();
  std::unordered_set<int64_t> wanted;
  for (const auto& r : lines.rows) wanted.insert(r[0].i);
  BASIN_RETURN_IF_ERROR(db.Execute("CREATE TEMP TABLE line_map (record_line BIGINT, line BIGINT)"));
  {
    BASIN_ASSIGN_OR_RETURN(auto appender, db.CreateAppender("", "line_map"));
    Status appended;
    ForEachCsvRecord(path, [&](int64_t record_line, int64_t physical) {
      if (wanted.count(record_line) == 0) return true;
      appender->AppendInt64(record_line);
      appender->AppendInt64(physical);
      appended = appender->EndRow();
      return appended.ok();
    });
    BASIN_RETURN_IF_ERROR(appended);
    BASIN_RETURN_IF_ERROR(appender->Flush());
  }
  return db.Execute(
      "UPDATE bad_rows SET line = m.line FROM line_map m WHERE bad_rows.line = m.record_line");
}

// The physical line on which data row `row` (1-based, as staged) of a CSV starts: the header and
// the records DuckDB rejected (bad_rows, by physical line) are not data rows. 0 if not found.
int64_t CsvLineOfRow(const std::string& path, int64_t row, bool header,
                     const std::unordered_set<int64_t>& rejected_lines) {
  int64_t records = 0;
  int64_t data_rows = 0;
  int64_t found = 0;
  ForEachCsvRecord(path, [&](int64_t, int64_t physical) {
    ++records;
    if ((header && records == 1) || rejected_lines.count(physical) > 0) return true;
    if (++data_rows == row) found = physical;
    return found == 0;
  });
  return found;
}

Result<std::string> ExampleOf(query::DuckDb& db, const Staged& staged, const FileColumn& c,
                              const std::string& where) {
  BASIN_ASSIGN_OR_RETURN(
      auto result, db.Query("SELECT " + staged.row_sql + ", " + c.text_sql + " FROM staged WHERE " +
                                where + " ORDER BY 1 LIMIT 1",
                            1));
  if (result.rows.empty()) return std::string("a value");
  std::string example = "value '" + Truncated(result.rows[0][1].ToText()) + "' at " +
                        staged.row_label + " " + result.rows[0][0].ToText();
  if (staged.format == "csv") {
    std::unordered_set<int64_t> rejected;
    BASIN_ASSIGN_OR_RETURN(auto lines, db.Query("SELECT line FROM bad_rows"));
    for (const auto& r : lines.rows) rejected.insert(r[0].i);
    const int64_t line =
        CsvLineOfRow(staged.path, result.rows[0][0].i, staged.csv_header, rejected);
    if (line > 0) example += " (line " + std::to_string(line) + ")";
  }
  return example;
}

// Durable copy: <dst>.tmp, fsync, rename, fsync of the folder.
Status CopyFileDurably(const std::string& src, const std::string& dst) {
  BASIN_RETURN_IF_ERROR(CreateDirectories(fs::path(dst).parent_path().string()));
  const std::string tmp = dst + ".tmp";
  std::error_code ec;
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return ErrnoStatus(ec.value(), "copy " + src + " to " + tmp);
  BASIN_RETURN_IF_ERROR(SyncFile(tmp));
  fs::rename(tmp, dst, ec);
  if (ec) return ErrnoStatus(ec.value(), "rename " + tmp);
  return SyncDirectory(fs::path(dst).parent_path().string());
}

catalog::TableSchema QuarantineSchema() {
  return catalog::TableSchema{0, BatchQuarantineColumns(), {{"dt", "DATE"}}};
}

}  // namespace

const std::vector<catalog::Column>& BatchLoadsColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"load_id", "VARCHAR"},         {"table_name", "VARCHAR"},     {"original_name", "VARCHAR"},
      {"sha256", "VARCHAR"},          {"source", "VARCHAR"},         {"format", "VARCHAR"},
      {"encoding", "VARCHAR"},        {"bytes", "BIGINT"},           {"rows_loaded", "BIGINT"},
      {"rows_quarantined", "BIGINT"}, {"schema_version", "INTEGER"}, {"status", "VARCHAR"},
      {"error", "VARCHAR"},           {"loaded_at", "TIMESTAMP"},
  };
  return kColumns;
}

const std::vector<catalog::Column>& BatchQuarantineColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"record", "VARCHAR"},           {"rule", "VARCHAR"},
      {"reason", "VARCHAR"},           {"run_id", "VARCHAR"},
      {"quarantined_at", "TIMESTAMP"}, {"source_file", "VARCHAR"},
      {"original_name", "VARCHAR"},    {"line", "BIGINT"},
  };
  return kColumns;
}

catalog::TableRef BatchLoadsTable() { return {"ops", "batch_loads"}; }

std::string SanitizeFileLabel(std::string_view original_name) {
  std::string out;
  for (char c : original_name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += ok && static_cast<unsigned char>(c) < 0x80 ? c : '_';
  }
  size_t start = out.find_first_not_of('.');
  out = start == std::string::npos ? "" : out.substr(start);
  if (out.size() > 100) out.resize(100);
  return out.empty() ? "file" : out;
}

BatchLoader::BatchLoader(catalog::Catalog* catalog, std::string lake_root, BatchLimits limits,
                         Clock* clock)
    : catalog_(catalog),
      lake_root_(std::move(lake_root)),
      limits_(std::move(limits)),
      clock_(clock) {}

void BatchLoader::SetBeforeCommitHookForTest(std::function<Status()> hook) {
  std::lock_guard lock(mu_);
  before_commit_hook_ = std::move(hook);
}

Result<LoadReport> BatchLoader::Load(const BatchSource& source,
                                     const std::function<void(uint64_t, uint64_t)>& progress) {
  const int64_t start_ns = MonotonicNanos();
  std::lock_guard lock(mu_);
  auto report = LoadLocked(source, progress);
  if (report.ok()) report->duration_ms = (MonotonicNanos() - start_ns) / 1'000'000;
  return report;
}

struct BatchLoader::Plan {
  catalog::TableInfo table;         // the table as it is (id 0: to be created)
  catalog::TableSchema schema;      // the schema after this file
  std::vector<std::string> select;  // one SQL expression per schema column
  bool schema_changed = false;
};

Result<LoadReport> BatchLoader::LoadLocked(
    const BatchSource& source, const std::function<void(uint64_t, uint64_t)>& progress) {
  BASIN_RETURN_IF_ERROR(ValidateTable(source.table));
  BASIN_RETURN_IF_ERROR(ValidateOriginalName(source.original_name));
  BASIN_RETURN_IF_ERROR(ValidateOptions(source.options));
  const std::string table_name = source.table.Qualified();

  // Size first: an oversized file is refused before a byte of it is read.
  std::error_code ec;
  const auto size = fs::file_size(source.path, ec);
  if (ec) return ErrnoStatus(ec.value(), "stat " + source.path);
  if (size == 0) return Error(ErrorCode::kEmptyInput, "the file is empty (0 bytes)");
  if (size > limits_.max_file_bytes) {
    return Error(ErrorCode::kPayloadTooLarge, "the file is " + std::to_string(size) +
                                                  " bytes; the limit is " +
                                                  std::to_string(limits_.max_file_bytes));
  }
  BASIN_ASSIGN_OR_RETURN(FileScan scan, ScanFile(source.path, progress));
  if (scan.bytes > limits_.max_file_bytes) {
    return Error(ErrorCode::kPayloadTooLarge, "the file grew past the limit while read");
  }
  if (scan.bytes == 0) return Error(ErrorCode::kEmptyInput, "the file is empty (0 bytes)");
  if (scan.bytes == scan.head.size() &&
      scan.head.find_first_not_of(" \t\r\n", scan.has_utf8_bom ? 3 : 0) == std::string::npos) {
    return Error(ErrorCode::kEmptyInput, "the file holds only whitespace");
  }

  LoadReport report;
  report.table = source.table;
  report.sha256 = scan.sha256;
  report.original_name = source.original_name;
  report.bytes = scan.bytes;
  const std::string commit_key = "batch:" + table_name + ":" + scan.sha256;
  BASIN_ASSIGN_OR_RETURN(bool loaded_before, catalog_->HasCommitKey(commit_key));
  if (loaded_before) {
    report.already_loaded = true;
    auto info = catalog_->GetTable(source.table);
    if (info.ok()) report.schema_version = info->schema.version;
    return report;
  }

  // Is it text, and in which encoding?
  std::string magic;
  if (scan.nul_in_head || !LooksLikeText(scan.head, &magic)) {
    return Error(ErrorCode::kUnsupportedMediaType,
                 "the file is not text" + (magic.empty() ? std::string() : " (" + magic + ")"));
  }
  const std::string format =
      source.options.format == "auto" ? SniffFormat(scan.head) : source.options.format;
  std::string encoding = "utf-8";
  if (!scan.valid_utf8) {
    const std::string where = "invalid UTF-8 at byte " + std::to_string(scan.first_invalid_offset) +
                              " (line " + std::to_string(scan.first_invalid_line) + ")";
    if (format != "csv") {
      return Error(ErrorCode::kInvalidTextEncoding, "JSON must be UTF-8: " + where);
    }
    if (source.options.encoding == "utf-8") {
      return Error(ErrorCode::kInvalidTextEncoding, where);
    }
    encoding = "latin-1";
  }
  if (source.options.encoding == "latin-1" && format == "csv") encoding = "latin-1";
  if (source.options.encoding == "latin-1" && format != "csv") {
    return Error(ErrorCode::kInvalidArgument, "JSON files are UTF-8; encoding latin-1 is for CSV");
  }
  report.encoding = encoding;
  report.format = format;

  // Read the file once into a private database and infer its columns.
  const int64_t now_us = clock_->NowMicros();
  report.load_id = NewLoadId(now_us);
  query::DuckDbOptions db_options;
  db_options.threads = limits_.duckdb_threads;
  db_options.memory_limit = limits_.duckdb_memory_limit;
  BASIN_ASSIGN_OR_RETURN(auto db, query::DuckDb::Open(db_options));
  // DuckDB creates only the last folder of its spill path: a load too big for memory would fail.
  const std::string spill_dir = (fs::path(lake_root_) / "_tmp" / "batch").string();
  BASIN_RETURN_IF_ERROR(CreateDirectories(spill_dir));
  BASIN_RETURN_IF_ERROR(
      db->Execute("SET TimeZone = 'UTC'; SET temp_directory = " + QuoteLiteral(spill_dir)));
  Staged staged;
  if (format == "csv") {
    BASIN_ASSIGN_OR_RETURN(staged, StageCsv(*db, source.path, source.options, encoding));
  } else {
    BASIN_ASSIGN_OR_RETURN(staged, StageJson(*db, source.path, format));
  }
  BASIN_ASSIGN_OR_RETURN(auto counts, db->Query("SELECT (SELECT count(*) FROM staged), (SELECT "
                                                "count(*) FROM bad_rows)"));
  staged.rows = counts.rows[0][0].i;
  staged.bad_rows = counts.rows[0][1].i;
  report.reader = staged.reader;
  if (staged.rows == 0 && staged.bad_rows == 0) {
    return Error(ErrorCode::kEmptyInput, "the file has no data rows");
  }
  BASIN_RETURN_IF_ERROR(InferTypes(*db, staged));

  // Fit the file to the table: new columns, safe widenings, or a rejection naming the column.
  Plan plan;
  auto existing = catalog_->GetTable(source.table);
  if (!existing.ok() && existing.status().code() != ErrorCode::kTableNotFound) {
    return existing.status();
  }
  if (existing.ok()) {
    report.schema_version = existing->schema.version;
    plan.table = *existing;
    plan.schema = existing->schema;
    const auto& partitions = plan.schema.partition_columns;
    if (!partitions.empty() && !(partitions.size() == 1 && partitions[0].name == "dt")) {
      return Error(ErrorCode::kInvalidArgument,
                   table_name +
                       " is partitioned by other columns than dt; batch files cannot "
                       "be loaded into it");
    }
  }
  std::unordered_map<std::string, size_t> by_name;  // lower-case name -> schema column
  for (size_t i = 0; i < plan.schema.columns.size(); ++i) {
    by_name[Lower(plan.schema.columns[i].name)] = i;
  }
  std::vector<const FileColumn*> source_of(plan.schema.columns.size(), nullptr);
  Status incompatible;
  for (const FileColumn& c : staged.columns) {
    const std::string lower = Lower(c.name);
    if (lower == kSourceFileColumn || lower == kLoadedAtColumn ||
        (lower == "dt" && !plan.schema.partition_columns.empty())) {
      incompatible = Incompatible(table_name, c.name, "reserved",
                                  "the name is taken by Basin's lineage or partition column");
      break;
    }
    LoadedColumn loaded{c.name, std::string(InferredTypeName(c.type)), "", c.nullable};
    auto it = by_name.find(lower);
    if (it == by_name.end()) {
      loaded.table_type = loaded.inferred_type;
      plan.schema.columns.push_back({c.name, loaded.table_type});
      source_of.push_back(&c);
      by_name[lower] = plan.schema.columns.size() - 1;
      if (existing.ok()) report.columns_added.push_back(c.name);
      plan.schema_changed = true;
      report.columns.push_back(std::move(loaded));
      continue;
    }
    catalog::Column& column = plan.schema.columns[it->second];
    source_of[it->second] = &c;
    const std::string table_type = NormalizeType(column.type);
    if (c.non_null > 0 && table_type == "JSON" && c.type != InferredType::kJson) {
      BASIN_ASSIGN_OR_RETURN(auto example, ExampleOf(*db, staged, c, c.text_sql + " IS NOT NULL"));
      incompatible = Incompatible(table_name, column.name, column.type,
                                  "the file has scalar values, e.g. " + example);
      break;
    }
    if (c.type == InferredType::kJson && table_type != "JSON" && table_type != "VARCHAR") {
      BASIN_ASSIGN_OR_RETURN(
          auto example, ExampleOf(*db, staged, c, c.json_type_sql + " IN ('OBJECT', 'ARRAY')"));
      incompatible = Incompatible(table_name, column.name, column.type,
                                  "the file has JSON objects or arrays, e.g. " + example);
      break;
    }
    if (c.non_null == 0) {
      loaded.table_type = column.type;
      report.columns.push_back(std::move(loaded));
      continue;
    }
    ColumnEvolution evolution = EvolveColumn(column.type, c.type);
    if (evolution.action == EvolutionAction::kWiden) {
      report.columns_widened.push_back(column.name + " " + column.type + "->" + evolution.type);
      column.type = evolution.type;
      plan.schema_changed = true;
    }
    loaded.table_type = column.type;
    report.columns.push_back(std::move(loaded));
  }
  // Every value must fit its column's type (checked over the data, not guessed).
  if (incompatible.ok()) {
    std::vector<size_t> checked;
    std::string sql = "SELECT ";
    for (size_t i = 0; i < plan.schema.columns.size(); ++i) {
      const FileColumn* c = source_of[i];
      const std::string t = NormalizeType(plan.schema.columns[i].type);
      if (c == nullptr || c->non_null == 0 || t == "VARCHAR" || t == "JSON" ||
          FitsByConstruction(t, c->type)) {
        continue;
      }
      if (!checked.empty()) sql += ", ";
      sql += "count(*) FILTER (WHERE " + c->text_sql + " IS NOT NULL AND " +
             ValueSql(*c, plan.schema.columns[i].type, false) + " IS NULL)";
      checked.push_back(i);
    }
    if (!checked.empty()) {
      BASIN_ASSIGN_OR_RETURN(auto misfits, db->Query(sql + " FROM staged"));
      for (size_t k = 0; k < checked.size(); ++k) {
        if (misfits.rows[0][k].i == 0) continue;
        const size_t i = checked[k];
        const FileColumn& c = *source_of[i];
        BASIN_ASSIGN_OR_RETURN(
            auto example,
            ExampleOf(*db, staged, c,
                      c.text_sql + " IS NOT NULL AND " +
                          ValueSql(c, plan.schema.columns[i].type, false) + " IS NULL"));
        incompatible = Incompatible(
            table_name, plan.schema.columns[i].name, plan.schema.columns[i].type,
            std::to_string(misfits.rows[0][k].i) + " value(s) do not fit, e.g. " + example);
        break;
      }
    }
  }
  if (!incompatible.ok()) {
    BASIN_RETURN_IF_ERROR(KeepAside(source, scan.sha256, report, incompatible, *db, now_us));
    return incompatible;
  }
  for (std::string_view lineage : {kSourceFileColumn, kLoadedAtColumn}) {
    if (by_name.count(std::string(lineage)) == 0) {
      plan.schema.columns.push_back(
          {std::string(lineage), lineage == kSourceFileColumn ? "VARCHAR" : "TIMESTAMP"});
      by_name[std::string(lineage)] = plan.schema.columns.size() - 1;
      source_of.push_back(nullptr);
      if (existing.ok()) report.columns_added.emplace_back(lineage);
      plan.schema_changed = true;
    }
  }
  for (size_t i = 0; i < plan.schema.columns.size(); ++i) {
    const catalog::Column& column = plan.schema.columns[i];
    std::string value;
    if (column.name == kSourceFileColumn) {
      value = QuoteLiteral(scan.sha256);
    } else if (column.name == kLoadedAtColumn) {
      value = TimestampLiteral(now_us);
    } else if (source_of[i] != nullptr) {
      value = ValueSql(*source_of[i], column.type, true);
    } else {
      value = "NULL";
    }
    plan.select.push_back("CAST(" + value + " AS " + column.type + ") AS " +
                          QuoteIdentifier(column.name));
  }

  // Keep the original next to the table, then create or evolve the table.
  const std::string kept_relative =
      "raw/_files/" + source.table.name + "/" + scan.sha256 + "." + format;
  const fs::path kept_path = fs::path(lake_root_) / kept_relative;
  if (!fs::exists(kept_path, ec)) {
    BASIN_RETURN_IF_ERROR(CopyFileDurably(source.path, kept_path.string()));
  }
  report.kept_at = kept_relative;
  if (!existing.ok()) {
    BASIN_ASSIGN_OR_RETURN(
        plan.table, catalog_->EnsureTable(source.table, plan.schema, "raw/" + source.table.name));
    if (plan.table.schema.columns != plan.schema.columns) {
      return Error(ErrorCode::kConflict, table_name + " was created by someone else meanwhile");
    }
  } else if (plan.schema_changed) {
    BASIN_ASSIGN_OR_RETURN(plan.table, catalog_->EvolveSchema(plan.table.id, plan.schema));
  }
  report.schema_version = plan.table.schema.version;

  // Write the files, then commit them all with the key.
  std::vector<std::string> written;
  auto remove_written = [&] {
    for (const auto& path : written) fs::remove(fs::path(lake_root_) / path, ec);
  };
  const std::string file_name = std::string(kFilePrefix) + report.load_id + ".parquet";
  const std::string dt = "dt=" + FormatDate(now_us);
  catalog::CommitRequest request;
  request.keys.push_back(commit_key);

  catalog::DataFile data_file;
  data_file.partition = plan.table.schema.partition_columns.empty() ? "" : dt;
  data_file.path = plan.table.location + "/" +
                   (data_file.partition.empty() ? "" : data_file.partition + "/") + file_name;
  std::string select_sql = "SELECT ";
  for (size_t i = 0; i < plan.select.size(); ++i) {
    select_sql += (i > 0 ? ", " : "") + plan.select[i];
  }
  // `staged` holds the rows in file order and the database preserves insertion order, so the
  // file keeps that order without a sort.
  select_sql += " FROM staged";
  if (staged.rows > 0) {
    auto file =
        query::WriteParquet(*db, select_sql, (fs::path(lake_root_) / data_file.path).string());
    if (!file.ok()) return file.status();
    written.push_back(data_file.path);
    data_file.row_count = file->row_count;
    data_file.size_bytes = file->size_bytes;
    request.changes.push_back({plan.table.id, catalog::ChangeKind::kAppend, {}, {data_file}});
  }
  report.rows_loaded = staged.rows;
  report.rows_quarantined = staged.bad_rows;

  if (staged.bad_rows > 0) {
    auto quarantine = WriteQuarantine(source, scan.sha256, report.load_id, now_us, *db);
    if (!quarantine.ok()) {
      remove_written();
      return quarantine.status();
    }
    written.push_back(quarantine->second.path);
    request.changes.push_back(
        {quarantine->first, catalog::ChangeKind::kAppend, {}, {quarantine->second}});
  }
  auto load_row = WriteLoadRow(source, report, "loaded", "", now_us, *db);
  if (!load_row.ok()) {
    remove_written();
    return load_row.status();
  }
  written.push_back(load_row->second.path);
  request.changes.push_back(
      {load_row->first, catalog::ChangeKind::kAppend, {}, {load_row->second}});

  if (before_commit_hook_) BASIN_RETURN_IF_ERROR(before_commit_hook_());
  auto committed = catalog_->Commit(std::move(request));
  if (!committed.ok()) {
    remove_written();
    if (committed.status().code() == ErrorCode::kAlreadyExists) {
      report.already_loaded = true;
      report.rows_loaded = 0;
      report.rows_quarantined = 0;
      return report;
    }
    return committed.status().WithContext("committing " + table_name);
  }
  BASIN_LOG(Info, "batch") << table_name << ": loaded " << report.original_name << " ("
                           << report.sha256.substr(0, 12) << "): " << report.rows_loaded
                           << " rows, " << report.rows_quarantined << " quarantined";
  if (progress) progress(scan.bytes, scan.bytes);
  return report;
}

Status BatchLoader::KeepAside(const BatchSource& source, const std::string& sha256,
                              const LoadReport& report, const Status& why, query::DuckDb& db,
                              int64_t now_us) {
  const fs::path dir = fs::path(lake_root_) / "raw" / "_rejected" / source.table.name;
  const std::string name = sha256 + "-" + SanitizeFileLabel(source.original_name);
  BASIN_RETURN_IF_ERROR(CopyFileDurably(source.path, (dir / name).string()));
  JsonWriter w;
  w.BeginObject();
  w.Key("code").String(ErrorCodeName(why.code()));
  w.Key("message").String(why.message());
  w.Key("table").String(source.table.Qualified());
  w.Key("original_name").String(source.original_name);
  w.Key("sha256").String(sha256);
  w.Key("source").String(source.source);
  w.Key("rejected_at").String(FormatIso8601Millis(now_us));
  w.EndObject();
  BASIN_RETURN_IF_ERROR(WriteFileAtomically((dir / (name + ".error.json")).string(), w.str()));
  BASIN_LOG(Warn, "batch") << source.table.Qualified() << ": rejected " << source.original_name
                           << ": " << why.ToString();
  // The rejection is recorded too (best effort: the file is already kept aside).
  auto row = WriteLoadRow(source, report, "rejected", why.ToString(), now_us, db);
  if (!row.ok()) return Status::Ok();
  catalog::CommitRequest request;
  request.changes.push_back({row->first, catalog::ChangeKind::kAppend, {}, {row->second}});
  auto committed = catalog_->Commit(std::move(request));
  if (!committed.ok()) {
    std::error_code ec;
    fs::remove(fs::path(lake_root_) / row->second.path, ec);
  }
  return Status::Ok();
}

Result<std::pair<int64_t, catalog::DataFile>> BatchLoader::WriteQuarantine(
    const BatchSource& source, const std::string& sha256, const std::string& load_id,
    int64_t now_us, query::DuckDb& db) {
  const catalog::TableRef ref = catalog::QuarantineTableFor(source.table);
  BASIN_ASSIGN_OR_RETURN(auto table,
                         catalog_->EnsureTable(ref, QuarantineSchema(), ref.zone + "/" + ref.name));
  // A quarantine table made by another writer may lack some of these columns: add them.
  catalog::TableSchema wanted = table.schema;
  for (const auto& column : BatchQuarantineColumns()) {
    const bool present =
        std::any_of(wanted.columns.begin(), wanted.columns.end(),
                    [&](const catalog::Column& c) { return c.name == column.name; });
    if (!present) wanted.columns.push_back(column);
  }
  if (wanted.columns.size() != table.schema.columns.size()) {
    BASIN_ASSIGN_OR_RETURN(table, catalog_->EvolveSchema(table.id, wanted));
  }
  catalog::DataFile file;
  const bool by_date =
      table.schema.partition_columns.size() == 1 && table.schema.partition_columns[0].name == "dt";
  file.partition = by_date ? "dt=" + FormatDate(now_us) : "";
  if (!table.schema.partition_columns.empty() && !by_date) {
    return Error(ErrorCode::kInvalidArgument, ref.Qualified() + " is not partitioned by dt");
  }
  file.path = table.location + "/" + (file.partition.empty() ? "" : file.partition + "/") +
              std::string(kFilePrefix) + load_id + ".parquet";
  const std::string sql = "SELECT record, rule, reason, " + QuoteLiteral(load_id) + " AS run_id, " +
                          TimestampLiteral(now_us) + " AS quarantined_at, " + QuoteLiteral(sha256) +
                          " AS source_file, " + QuoteLiteral(source.original_name) +
                          " AS original_name, line FROM bad_rows ORDER BY line";
  BASIN_ASSIGN_OR_RETURN(auto written,
                         query::WriteParquet(db, sql, (fs::path(lake_root_) / file.path).string()));
  file.row_count = written.row_count;
  file.size_bytes = written.size_bytes;
  file.min_time_us = now_us;
  file.max_time_us = now_us;
  return std::make_pair(table.id, file);
}

Result<std::pair<int64_t, catalog::DataFile>> BatchLoader::WriteLoadRow(
    const BatchSource& source, const LoadReport& report, const std::string& status,
    const std::string& error, int64_t now_us, query::DuckDb& db) {
  const catalog::TableRef ref = BatchLoadsTable();
  BASIN_ASSIGN_OR_RETURN(
      auto table, catalog_->EnsureTable(ref, catalog::TableSchema{0, BatchLoadsColumns(), {}},
                                        ref.zone + "/" + ref.name));
  catalog::DataFile file;
  file.path = table.location + "/" + std::string(kFilePrefix) + report.load_id + ".parquet";
  file.min_time_us = now_us;
  file.max_time_us = now_us;
  const std::string sql =
      "SELECT " + QuoteLiteral(report.load_id) + " AS load_id, " +
      QuoteLiteral(source.table.Qualified()) + " AS table_name, " +
      QuoteLiteral(source.original_name) + " AS original_name, " + QuoteLiteral(report.sha256) +
      " AS sha256, " + QuoteLiteral(source.source) + " AS source, " + QuoteLiteral(report.format) +
      " AS format, " + QuoteLiteral(report.encoding) + " AS encoding, CAST(" +
      std::to_string(report.bytes) + " AS BIGINT) AS bytes, CAST(" +
      std::to_string(report.rows_loaded) + " AS BIGINT) AS rows_loaded, CAST(" +
      std::to_string(report.rows_quarantined) + " AS BIGINT) AS rows_quarantined, CAST(" +
      std::to_string(report.schema_version) + " AS INTEGER) AS schema_version, " +
      QuoteLiteral(status) + " AS status, " +
      (error.empty() ? std::string("CAST(NULL AS VARCHAR)") : QuoteLiteral(error)) + " AS error, " +
      TimestampLiteral(now_us) + " AS loaded_at";
  BASIN_ASSIGN_OR_RETURN(auto written,
                         query::WriteParquet(db, sql, (fs::path(lake_root_) / file.path).string()));
  file.row_count = written.row_count;
  file.size_bytes = written.size_bytes;
  return std::make_pair(table.id, file);
}

Status BatchLoader::RemoveOrphansOf(const catalog::TableInfo& table) {
  BASIN_ASSIGN_OR_RETURN(auto known_list, catalog_->KnownPaths(table.id));
  std::unordered_set<std::string> known(known_list.begin(), known_list.end());
  const fs::path root = fs::path(lake_root_) / table.location;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Status::Ok();
  std::vector<fs::path> orphans;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    if (name.rfind(kFilePrefix, 0) != 0) continue;  // not written by this loader
    const std::string relative = fs::relative(it->path(), lake_root_, ec).string();
    if (known.count(relative) == 0) orphans.push_back(it->path());
  }
  for (const auto& path : orphans) {
    BASIN_LOG(Warn, "batch") << "removing " << path.string()
                             << ": no commit refers to it (interrupted load)";
    fs::remove(path, ec);
  }
  return Status::Ok();
}

Status BatchLoader::RemoveOrphans() {
  std::lock_guard lock(mu_);
  for (const auto& table : catalog_->ListTables()) {
    const bool batch_table =
        (table.ref.zone == "raw" &&
         std::any_of(table.schema.columns.begin(), table.schema.columns.end(),
                     [](const catalog::Column& c) { return c.name == kSourceFileColumn; })) ||
        table.ref.zone == "quarantine" || table.ref == BatchLoadsTable();
    if (batch_table) BASIN_RETURN_IF_ERROR(RemoveOrphansOf(table));
  }
  return Status::Ok();
}

}  // namespace basin::ingest
