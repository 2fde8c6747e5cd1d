// basin-batch-bench: batch files into `processed`, against raw DuckDB on the same file.
//
// Generates a realistic orders export (CSV, and the same rows as NDJSON) with about 2 % dirt,
// then, in one process and interleaved repetition by repetition:
//   duckdb: COPY (SELECT * FROM read_csv / read_ndjson(<file>)) TO <out>.parquet (zstd)
//   basin:  a fresh data directory, BatchLoader::Load into raw.orders_bench (declared as the
//           default raw.orders is), then PipelineRunner::Run of the default `orders` pipeline
//           pointed at raw.orders_bench -> processed.orders_bench: file -> cleaned, typed,
//           deduplicated Parquet, committed.
//   floor:  DuckDB doing only the unavoidable I/O of that contract: file -> raw Parquet (text
//           columns) -> typed Parquet partitioned by dt. No cleaning, no dedup, no fsync. Its
//           ratio to duckdb bounds the ratio any implementation can reach.
// Throughput is input bytes (and input rows) per second of wall time; the ratio is Basin's
// median over DuckDB's median. After each Basin repetition (untimed) the row accounting is
// checked against what the generator wrote: any mismatch fails the benchmark.
//
// Output: one JSON line per measurement on stdout, then one "summary" line; --out FILE also
// writes the summary there. Diagnostics and a readable table go to stderr.

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "etl/cleaning.h"
#include "etl/pipeline_runner.h"
#include "etl/pipeline_set.h"
#include "etl/pipeline_spec.h"
#include "ingest/batch_loader.h"
#include "query/duck_db.h"
#include "query/query_engine.h"

namespace basin::bench {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr double kMegabyte = 1e6;
// The export ends here (UTC); its orders span the --days before.
constexpr int64_t kExportEndEpochS = 1'795'651'200;  // 2026-11-27 00:00:00

[[noreturn]] void Usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "basin-batch-bench: %s\n\n", why.c_str());
  std::fprintf(stderr,
               "usage: basin-batch-bench [options]\n"
               "  --rows N            rows in the generated file, duplicates included [1000000]\n"
               "  --reps N            repetitions of every measurement; medians reported [3]\n"
               "  --days N            days the orders span (one dt partition each) [30]\n"
               "  --formats LIST      csv,ndjson [csv,ndjson]\n"
               "  --sides LIST        duckdb,basin,floor [duckdb,basin,floor]; floor is DuckDB\n"
               "                      doing only the I/O of file -> raw -> processed\n"
               "  --threads N         DuckDB threads of the baseline [2] (Basin's are its own)\n"
               "  --keep-latest-by C  dedup order column of the pipeline [order_time]\n"
               "  --tmpdir DIR        where the input and data dirs go [$TMPDIR or /tmp]\n"
               "  --out FILE          also write the summary JSON there\n"
               "  --keep              keep the work directory\n"
               "  --trace-sql         time every SQL statement of the Basin runs (stderr and\n"
               "                      sql_trace JSON lines)\n"
               "  --basin-memory-limit L  BatchLimits.duckdb_memory_limit of the loader, e.g.\n"
               "                      4GB [Basin's default, 1GB]\n"
               "  --profile           after the first Basin run of each format, untimed: the\n"
               "                      cost of each cleaning rule, of the transform, and of\n"
               "                      per-partition writes against one partitioned COPY\n"
               "  --seed N            generator seed [42]\n");
  std::exit(2);
}

struct Options {
  int64_t rows = 1'000'000;
  int reps = 3;
  int days = 30;
  std::vector<std::string> formats = {"csv", "ndjson"};
  std::vector<std::string> sides = {"duckdb", "basin", "floor"};
  int threads = 2;
  std::string keep_latest_by = "order_time";
  std::string tmpdir;
  std::string out;
  bool keep = false;
  bool trace_sql = false;
  bool profile = false;
  std::string basin_memory_limit;  // empty: BatchLimits' default
  uint64_t seed = 42;
};

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int64_t ParseInt(std::string_view flag, const char* text, int64_t min, int64_t max) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    Usage(std::string(flag) + ": expected an integer in [" + std::to_string(min) + ", " +
          std::to_string(max) + "], got '" + text + "'");
  }
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') o.tmpdir = t;
  if (o.tmpdir.empty()) o.tmpdir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--rows") {
      o.rows = ParseInt(a, value(), 100, 100'000'000);
    } else if (a == "--reps") {
      o.reps = static_cast<int>(ParseInt(a, value(), 1, 100));
    } else if (a == "--days") {
      o.days = static_cast<int>(ParseInt(a, value(), 1, 3650));
    } else if (a == "--formats") {
      o.formats = SplitList(value());
      for (const auto& f : o.formats) {
        if (f != "csv" && f != "ndjson") Usage("--formats: csv and/or ndjson");
      }
    } else if (a == "--sides") {
      o.sides = SplitList(value());
      for (const auto& s : o.sides) {
        if (s != "duckdb" && s != "basin" && s != "floor") {
          Usage("--sides: any of duckdb, basin, floor");
        }
      }
    } else if (a == "--threads") {
      o.threads = static_cast<int>(ParseInt(a, value(), 1, 256));
    } else if (a == "--keep-latest-by") {
      o.keep_latest_by = value();
    } else if (a == "--tmpdir") {
      o.tmpdir = value();
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--trace-sql") {
      o.trace_sql = true;
    } else if (a == "--profile") {
      o.profile = true;
    } else if (a == "--basin-memory-limit") {
      o.basin_memory_limit = value();
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(ParseInt(a, value(), 0, INT64_MAX));
    } else if (a == "--help" || a == "-h") {
      Usage("");
    } else {
      Usage("unknown option " + std::string(a));
    }
  }
  return o;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "basin-batch-bench: FAILED: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T OrFail(Result<T> r, const std::string& what) {
  if (!r.ok()) Fail(what + ": " + r.status().ToString());
  return std::move(r).value();
}

void OrFail(const Status& s, const std::string& what) {
  if (!s.ok()) Fail(what + ": " + s.ToString());
}

double Seconds(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / kNanosPerSecond;
}

double Round(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Flushes what earlier steps left dirty, so that its write-back does not land in the next
// measurement's window.
void SyncAll() { ::sync(); }

// ---------------------------------------------------------------- SQL trace (--trace-sql)
//
// Where the time of a Basin run goes, statement by statement, without touching src/: this binary
// defines the few DuckDB C API entry points that src/query/duck_db.cpp calls to run SQL, and
// forwards each to libduckdb (dlsym RTLD_NEXT), timing it. A DuckDb::Execute is one
// duckdb_query; a DuckDb::Query runs from duckdb_extract_statements to the destruction of its
// streamed result (rows fetched included). Declared with opaque pointers: duckdb.h is for
// src/query only. Off unless --trace-sql; then the cost is a clock read per statement.
struct SqlTraceEntry {
  std::string phase;
  std::string sql;
  double seconds = 0;
};

struct SqlTrace {
  std::atomic<bool> enabled{false};
  std::mutex mu;
  std::string phase;
  std::vector<SqlTraceEntry> entries;

  void Record(const std::string& sql, int64_t start_ns) {
    const double s = Seconds(start_ns, MonotonicNanos());
    std::lock_guard lock(mu);
    entries.push_back({phase, sql, s});
  }
  void SetPhase(std::string p) {
    std::lock_guard lock(mu);
    phase = std::move(p);
  }
};

SqlTrace& Trace() {
  static SqlTrace* trace = new SqlTrace;
  return *trace;
}

// The DuckDB::Query in flight on this thread.
struct OpenQuery {
  std::string sql;
  int64_t start_ns = 0;
  bool executed = false;
};
thread_local std::optional<OpenQuery> open_query;

template <typename Fn>
Fn Next(const char* name) {
  void* f = ::dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "basin-batch-bench: no %s in libduckdb\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

}  // namespace
}  // namespace basin::bench

extern "C" {
int duckdb_query(void* connection, const char* sql, void* out_result) {
  using Fn = int (*)(void*, const char*, void*);
  static const Fn next = basin::bench::Next<Fn>("duckdb_query");
  auto& trace = basin::bench::Trace();
  if (!trace.enabled.load(std::memory_order_relaxed)) return next(connection, sql, out_result);
  const int64_t start = basin::MonotonicNanos();
  const int state = next(connection, sql, out_result);
  trace.Record(sql, start);
  return state;
}

uint64_t duckdb_extract_statements(void* connection, const char* sql, void* out_extracted) {
  using Fn = uint64_t (*)(void*, const char*, void*);
  static const Fn next = basin::bench::Next<Fn>("duckdb_extract_statements");
  if (basin::bench::Trace().enabled.load(std::memory_order_relaxed)) {
    basin::bench::open_query = basin::bench::OpenQuery{sql, basin::MonotonicNanos(), false};
  }
  return next(connection, sql, out_extracted);
}

int duckdb_execute_pending(void* pending, void* out_result) {
  using Fn = int (*)(void*, void*);
  static const Fn next = basin::bench::Next<Fn>("duckdb_execute_pending");
  const int state = next(pending, out_result);
  if (basin::bench::open_query) basin::bench::open_query->executed = true;
  return state;
}

// Basin's durable writes (SyncFile, SyncDirectory) end in these.
int fsync(int fd) {
  using Fn = int (*)(int);
  static const Fn next = basin::bench::Next<Fn>("fsync");
  auto& trace = basin::bench::Trace();
  if (!trace.enabled.load(std::memory_order_relaxed)) return next(fd);
  const int64_t start = basin::MonotonicNanos();
  const int rc = next(fd);
  trace.Record("fsync", start);
  return rc;
}

int fdatasync(int fd) {
  using Fn = int (*)(int);
  static const Fn next = basin::bench::Next<Fn>("fdatasync");
  auto& trace = basin::bench::Trace();
  if (!trace.enabled.load(std::memory_order_relaxed)) return next(fd);
  const int64_t start = basin::MonotonicNanos();
  const int rc = next(fd);
  trace.Record("fdatasync", start);
  return rc;
}

void duckdb_destroy_result(void* result) {
  using Fn = void (*)(void*);
  static const Fn next = basin::bench::Next<Fn>("duckdb_destroy_result");
  next(result);
  auto& open = basin::bench::open_query;
  if (open && open->executed) {
    basin::bench::Trace().Record(open->sql, open->start_ns);
    open.reset();
  }
}
}  // extern "C"

namespace basin::bench {
namespace {

// One line of SQL for a table: whitespace collapsed, long literals (file lists) cut.
std::string ShortSql(const std::string& sql, size_t max_chars) {
  std::string out;
  bool space = false;
  for (char c : sql) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "…";
  return out;
}

// A statement's shape: its text with string literals and numbers taken out, so that the
// per-partition writes of one run count as one kind of statement.
std::string Shape(const std::string& sql) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (in_string) {
      if (c == '\'' && i + 1 < sql.size() && sql[i + 1] == '\'') {
        ++i;
      } else if (c == '\'') {
        in_string = false;
      }
      continue;
    }
    if (c == '\'') {
      in_string = true;
      out += "'?'";
    } else if (std::isdigit(static_cast<unsigned char>(c)) &&
               (out.empty() || !std::isalnum(static_cast<unsigned char>(out.back())))) {
      while (i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) ++i;
      out += '0';
    } else {
      out += c;
    }
  }
  return ShortSql(out, 140);
}

// Prints the statements of the traced run, slowest first, and one JSON line per statement that
// took at least 1 % of the run.
void ReportTrace(const std::string& format, double run_seconds) {
  auto& trace = Trace();
  std::vector<SqlTraceEntry> entries;
  {
    std::lock_guard lock(trace.mu);
    entries = trace.entries;
    trace.entries.clear();
  }
  double traced = 0;
  std::map<std::string, double> by_phase;
  for (const auto& e : entries) {
    traced += e.seconds;
    by_phase[e.phase] += e.seconds;
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  std::fprintf(stderr,
               "\nSQL trace, %s: %zu statements and syncs, %.2f s of the run's %.2f s (the rest: "
               "C++, file copies, catalog)\n",
               format.c_str(), entries.size(), traced, run_seconds);
  for (const auto& [phase, s] : by_phase) {
    std::fprintf(stderr, "  phase %-9s %7.2f s in SQL and syncs\n", phase.c_str(), s);
  }
  std::map<std::string, std::pair<double, int>> by_shape;
  for (const auto& e : entries) {
    auto& [s, n] = by_shape["[" + e.phase + "] " + Shape(e.sql)];
    s += e.seconds;
    ++n;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> shapes(by_shape.begin(),
                                                                     by_shape.end());
  std::sort(shapes.begin(), shapes.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::fprintf(stderr, " by kind of statement (literals taken out):\n");
  for (const auto& [shape, sn] : shapes) {
    if (sn.first < 0.01 * run_seconds) break;
    std::fprintf(stderr, "  %6.2f s %5.1f%% x%-4d %s\n", sn.first, 100 * sn.first / run_seconds,
                 sn.second, shape.c_str());
    JsonWriter w;
    w.BeginObject();
    w.Key("kind").String("sql_trace_shape");
    w.Key("format").String(format);
    w.Key("seconds").Double(Round(sn.first, 3));
    w.Key("share_of_run").Double(Round(sn.first / run_seconds, 3));
    w.Key("count").Int(sn.second);
    w.Key("shape").String(shape);
    w.EndObject();
    std::printf("%s\n", w.str().c_str());
  }
  std::fprintf(stderr, " slowest single statements:\n");
  for (const auto& e : entries) {
    if (e.seconds < 0.02 * run_seconds) break;
    std::fprintf(stderr, "  %6.2f s %5.1f%%  [%s] %s\n", e.seconds, 100 * e.seconds / run_seconds,
                 e.phase.c_str(), ShortSql(e.sql, 220).c_str());
    JsonWriter w;
    w.BeginObject();
    w.Key("kind").String("sql_trace");
    w.Key("format").String(format);
    w.Key("phase").String(e.phase);
    w.Key("seconds").Double(Round(e.seconds, 3));
    w.Key("share_of_run").Double(Round(e.seconds / run_seconds, 3));
    w.Key("sql").String(ShortSql(e.sql, 2000));
    w.EndObject();
    std::printf("%s\n", w.str().c_str());
  }
}

// ---------------------------------------------------------------- the input

// What the generator wrote, and what the pipeline must therefore do with it.
struct InputFiles {
  std::string csv_path;
  std::string ndjson_path;
  uint64_t csv_bytes = 0;
  uint64_t ndjson_bytes = 0;
  int64_t rows = 0;              // lines of data, duplicates included
  int64_t duplicates = 0;        // exact re-exports of an earlier clean row
  int64_t empty_ids = 0;         // order_id empty: `required` quarantines
  int64_t bad_dates = 0;         // impossible dates: `cast` quarantines
  int64_t negative_amounts = 0;  // `range` quarantines
  int64_t fixable = 0;           // mixed case and padding: cleaned, kept
  int64_t expected_quarantined() const { return empty_ids + bad_dates + negative_amounts; }
  int64_t expected_processed() const { return rows - duplicates - expected_quarantined(); }
};

struct OrderRow {
  std::string order_id;
  std::string customer_id;
  std::string order_time;
  std::string status;
  std::string currency;
  std::string total_amount;  // as written: "123.45", "-12.50"
  std::string shipping_country;
  std::string channel;
};

template <size_t N>
const char* Pick(std::mt19937_64& rng, const std::pair<const char*, int> (&weighted)[N]) {
  int total = 0;
  for (const auto& w : weighted) total += w.second;
  int r = static_cast<int>(rng() % static_cast<uint64_t>(total));
  for (const auto& w : weighted) {
    if (r < w.second) return w.first;
    r -= w.second;
  }
  return weighted[0].first;
}

std::string FormatTime(int64_t epoch_s, bool iso) {
  const time_t t = static_cast<time_t>(epoch_s);
  tm civil{};
  gmtime_r(&t, &civil);
  char buf[32];
  std::strftime(buf, sizeof buf, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &civil);
  return buf;
}

std::string MixCase(std::mt19937_64& rng, std::string s) {
  if (rng() % 2 == 0) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  } else if (!s.empty()) {
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  }
  return s;
}

void AppendCsv(std::string& out, const OrderRow& r) {
  for (const std::string* f : {&r.order_id, &r.customer_id, &r.order_time, &r.status, &r.currency,
                               &r.total_amount, &r.shipping_country}) {
    out += *f;
    out += ',';
  }
  out += r.channel;
  out += '\n';
}

void AppendNdjson(std::string& out, const OrderRow& r) {
  auto field = [&](std::string_view key, const std::string& value, bool first = false) {
    if (!first) out += ',';
    AppendJsonString(out, key);
    out += ':';
    AppendJsonString(out, value);
  };
  out += '{';
  field("order_id", r.order_id, true);
  field("customer_id", r.customer_id);
  field("order_time", r.order_time);
  field("status", r.status);
  field("currency", r.currency);
  out += ",\"total_amount\":";
  out += r.total_amount;  // a JSON number, as an export writes amounts
  field("shipping_country", r.shipping_country);
  field("channel", r.channel);
  out += "}\n";
}

// Orders in time order (an export sorted by order id), ~2 % dirt: 0.6 % duplicates, 0.3 % each
// empty ids, impossible dates and negative amounts, 0.5 % mixed case / padded values.
InputFiles Generate(const Options& o, const std::string& dir) {
  static constexpr std::pair<const char*, int> kStatuses[] = {{"delivered", 45}, {"shipped", 15},
                                                              {"paid", 12},      {"placed", 10},
                                                              {"cancelled", 10}, {"returned", 8}};
  static constexpr std::pair<const char*, int> kCurrencies[] = {
      {"EUR", 60}, {"USD", 20}, {"GBP", 10}, {"SEK", 5}, {"PLN", 5}};
  static constexpr std::pair<const char*, int> kCountries[] = {
      {"DE", 30}, {"FR", 15}, {"NL", 10}, {"IT", 8}, {"ES", 8}, {"PL", 6},
      {"SE", 5},  {"AT", 5},  {"BE", 4},  {"GB", 5}, {"US", 4}};
  static constexpr std::pair<const char*, int> kChannels[] = {
      {"web", 50}, {"mobile_app", 35}, {"marketplace", 10}, {"phone", 5}};

  InputFiles in;
  in.csv_path = dir + "/orders.csv";
  in.ndjson_path = dir + "/orders.ndjson";
  std::ofstream csv(in.csv_path, std::ios::binary);
  std::ofstream ndjson(in.ndjson_path, std::ios::binary);
  if (!csv || !ndjson) Fail("cannot create the input files in " + dir);
  csv << "order_id,customer_id,order_time,status,currency,total_amount,shipping_country,channel\n";

  std::mt19937_64 rng(o.seed);
  std::lognormal_distribution<double> amount(4.0, 0.9);  // median ~55, long tail
  const int64_t span_s = static_cast<int64_t>(o.days) * 86'400;
  const int64_t start_s = kExportEndEpochS - span_s;
  std::vector<OrderRow> recent_clean;  // candidates for a re-export (duplicate)
  recent_clean.reserve(1024);
  std::string csv_buf, json_buf;
  int64_t next_id = 100'000'000;
  for (int64_t i = 0; i < o.rows; ++i) {
    const uint64_t dice = rng() % 1000;  // per mille
    OrderRow r;
    if (dice < 6 && !recent_clean.empty()) {
      r = recent_clean[rng() % recent_clean.size()];
      ++in.duplicates;
    } else {
      const int64_t t = start_s + span_s * i / o.rows + static_cast<int64_t>(rng() % 60);
      char id[32];
      std::snprintf(id, sizeof id, "ORD-%012lld", static_cast<long long>(next_id++));
      r.order_id = id;
      std::snprintf(id, sizeof id, "CUST-%09llu",
                    static_cast<unsigned long long>(rng() % 400'000 + 1));
      r.customer_id = id;
      r.order_time = FormatTime(t, rng() % 10 == 0);
      r.status = Pick(rng, kStatuses);
      r.currency = Pick(rng, kCurrencies);
      char amount_text[32];
      std::snprintf(amount_text, sizeof amount_text, "%.2f", std::min(5000.0, 1.0 + amount(rng)));
      r.total_amount = amount_text;
      r.shipping_country = Pick(rng, kCountries);
      r.channel = Pick(rng, kChannels);
      bool clean = true;
      if (dice >= 6 && dice < 9) {
        r.order_id.clear();
        ++in.empty_ids;
        clean = false;
      } else if (dice >= 9 && dice < 12) {
        // Impossible calendar dates, in the file's own format.
        static constexpr const char* kBad[] = {"-02-30 ", "-02-31 ", "-04-31 ", "-13-05 ",
                                               "-00-10 "};
        r.order_time = r.order_time.substr(0, 4) + kBad[rng() % 5] + r.order_time.substr(11);
        ++in.bad_dates;
        clean = false;
      } else if (dice >= 12 && dice < 15) {
        r.total_amount = "-" + r.total_amount;
        ++in.negative_amounts;
        clean = false;
      } else if (dice >= 15 && dice < 20) {
        r.status = MixCase(rng, r.status);
        if (rng() % 2 == 0)
          r.currency = " " + std::string(1, static_cast<char>(std::tolower(r.currency[0]))) +
                       r.currency.substr(1);
        if (rng() % 2 == 0) r.channel = MixCase(rng, r.channel) + " ";
        ++in.fixable;
      }
      if (clean) {
        if (recent_clean.size() < 1024) {
          recent_clean.push_back(r);
        } else {
          recent_clean[rng() % recent_clean.size()] = r;
        }
      }
    }
    AppendCsv(csv_buf, r);
    AppendNdjson(json_buf, r);
    if (csv_buf.size() > (1 << 20)) {
      csv << csv_buf;
      ndjson << json_buf;
      csv_buf.clear();
      json_buf.clear();
    }
  }
  csv << csv_buf;
  ndjson << json_buf;
  csv.close();
  ndjson.close();
  if (!csv || !ndjson) Fail("writing the input files failed");
  in.rows = o.rows;
  in.csv_bytes = fs::file_size(in.csv_path);
  in.ndjson_bytes = fs::file_size(in.ndjson_path);
  return in;
}

// ---------------------------------------------------------------- measurements

struct Measurement {
  std::string format;
  std::string side;
  int rep = 0;
  uint64_t input_bytes = 0;
  int64_t input_rows = 0;
  double seconds = 0;                    // the whole measured span
  std::map<std::string, double> stages;  // seconds per stage (Basin: load, pipeline, ...)
  int64_t output_bytes = 0;              // Parquet written (data files only)
  std::map<std::string, int64_t> counts;
  std::string load_average;
  std::string error;  // Basin returned an error (the measurement has no throughput)

  double mb_per_s() const { return seconds > 0 ? input_bytes / kMegabyte / seconds : 0; }
  double rows_per_s() const { return seconds > 0 ? input_rows / seconds : 0; }

  std::string ToJson() const {
    JsonWriter w;
    w.BeginObject();
    w.Key("kind").String("batch");
    w.Key("format").String(format);
    w.Key("side").String(side);
    w.Key("rep").Int(rep);
    w.Key("input_bytes").Uint(input_bytes);
    w.Key("input_rows").Int(input_rows);
    w.Key("seconds").Double(Round(seconds, 3));
    w.Key("mb_per_s").Double(Round(mb_per_s(), 2));
    w.Key("rows_per_s").Double(Round(rows_per_s(), 0));
    w.Key("stages_s").BeginObject();
    for (const auto& [k, v] : stages) w.Key(k).Double(Round(v, 3));
    w.EndObject();
    w.Key("output_parquet_bytes").Int(output_bytes);
    w.Key("counts").BeginObject();
    for (const auto& [k, v] : counts) w.Key(k).Int(v);
    w.EndObject();
    w.Key("load_average").String(load_average);
    if (!error.empty()) w.Key("error").String(error);
    w.EndObject();
    return w.Take();
  }
};

// A measurement of `side` on the input file of `format`, before it runs.
Measurement StartMeasurement(const InputFiles& in, const std::string& side,
                             const std::string& format, int rep) {
  Measurement m;
  m.format = format;
  m.side = side;
  m.rep = rep;
  m.input_bytes = format == "csv" ? in.csv_bytes : in.ndjson_bytes;
  m.input_rows = in.rows;
  m.load_average = LoadAverage();
  return m;
}

// The DuckDB of the baseline and of the floor: the facts anchors' settings.
std::unique_ptr<query::DuckDb> OpenBaselineDuckDb(const Options& o) {
  query::DuckDbOptions db_options;
  db_options.threads = o.threads;
  db_options.memory_limit = "1GB";
  db_options.preserve_insertion_order = false;
  return OrFail(query::DuckDb::Open(db_options), "open DuckDB");
}

// The floor: DuckDB doing only the I/O that Basin's contract makes unavoidable, with no
// cleaning, deduplication, quarantine, quality rules, fsync or catalog. The file becomes the raw
// zone's Parquet table (every column text, as raw tables keep values as landed) and that table
// becomes a typed Parquet table partitioned by `dt`, as `processed.orders` is. Its ratio to the
// baseline is the best any implementation of raw -> processed can reach on this machine.
Measurement MeasureFloor(const Options& o, const InputFiles& in, const std::string& format, int rep,
                         const std::string& work) {
  Measurement m = StartMeasurement(in, "floor", format, rep);
  const std::string& path = format == "csv" ? in.csv_path : in.ndjson_path;
  const std::string base = work + "/floor-" + format + "-" + std::to_string(rep);
  const std::string raw = base + "-raw.parquet";
  const std::string processed = base + "-processed";
  const std::string text_columns =
      format == "csv"
          ? "SELECT * FROM read_csv(" + query::QuoteLiteral(path) + ", all_varchar=true)"
          : "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM read_ndjson(" + query::QuoteLiteral(path) +
                ")";

  const int64_t t0 = MonotonicNanos();
  auto db = OpenBaselineDuckDb(o);
  OrFail(db->Execute("COPY (" + text_columns + ") TO " + query::QuoteLiteral(raw) +
                     " (FORMAT parquet, COMPRESSION zstd)"),
         "floor: raw COPY of " + path);
  const int64_t t1 = MonotonicNanos();
  OrFail(db->Execute(
             "COPY (SELECT order_id, customer_id, TRY_CAST(order_time AS TIMESTAMP) AS order_time, "
             "status, currency, TRY_CAST(total_amount AS DECIMAL(18,2)) AS total_amount, "
             "shipping_country, channel, CAST(TRY_CAST(order_time AS TIMESTAMP) AS DATE) AS dt "
             "FROM read_parquet(" +
             query::QuoteLiteral(raw) + ")) TO " + query::QuoteLiteral(processed) +
             " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt))"),
         "floor: processed COPY");
  const int64_t t2 = MonotonicNanos();
  m.seconds = Seconds(t0, t2);
  m.stages["raw_copy"] = Seconds(t0, t1);
  m.stages["processed_copy"] = Seconds(t1, t2);

  auto rows = OrFail(db->Query("SELECT count(*) FROM read_parquet(" +
                               query::QuoteLiteral(processed + "/*/*.parquet") + ")"),
                     "count floor rows");
  m.counts["rows_written"] = rows.rows.at(0).at(0).i;
  if (m.counts["rows_written"] != in.rows) {
    Fail("the floor wrote " + std::to_string(m.counts["rows_written"]) + " rows of " +
         std::to_string(in.rows));
  }
  m.output_bytes = static_cast<int64_t>(fs::file_size(raw));
  fs::remove(raw);
  fs::remove_all(processed);
  return m;
}

Measurement MeasureDuckDb(const Options& o, const InputFiles& in, const std::string& format,
                          int rep, const std::string& work) {
  Measurement m = StartMeasurement(in, "duckdb", format, rep);
  const std::string& path = format == "csv" ? in.csv_path : in.ndjson_path;
  const std::string out = work + "/duckdb-" + format + "-" + std::to_string(rep) + ".parquet";
  const std::string reader = format == "csv" ? "read_csv" : "read_ndjson";

  const int64_t t0 = MonotonicNanos();
  auto db = OpenBaselineDuckDb(o);
  OrFail(db->Execute("COPY (SELECT * FROM " + reader + "(" + query::QuoteLiteral(path) + ")) TO " +
                     query::QuoteLiteral(out) + " (FORMAT parquet, COMPRESSION zstd)"),
         "baseline COPY of " + path);
  const int64_t t1 = MonotonicNanos();
  m.seconds = Seconds(t0, t1);
  m.stages["copy"] = m.seconds;
  // Basin fsyncs every file it writes; the baseline does not. What that would add, not counted:
  OrFail(SyncFile(out), "fsync " + out);
  m.stages["fsync_not_counted"] = Seconds(t1, MonotonicNanos());

  auto rows =
      OrFail(db->Query("SELECT count(*) FROM read_parquet(" + query::QuoteLiteral(out) + ")"),
             "count baseline rows");
  m.counts["rows_written"] = rows.rows.at(0).at(0).i;
  if (m.counts["rows_written"] != in.rows) {
    Fail("the baseline wrote " + std::to_string(m.counts["rows_written"]) + " rows of " +
         std::to_string(in.rows));
  }
  m.output_bytes = static_cast<int64_t>(fs::file_size(out));
  fs::remove(out);
  return m;
}

void Profile(catalog::Catalog& catalog, const std::string& lake, const etl::PipelineSpec& spec,
             const std::string& format, const std::string& work);

// The default `orders` pipeline, pointed at the benchmark's tables.
struct BenchPipeline {
  etl::PipelineSpec spec;
  etl::RawTableDeclaration raw_table;
};

BenchPipeline MakePipeline(const Options& o) {
  auto set = OrFail(etl::LoadPipelineSet(""), "load the default pipelines");
  const etl::PipelineSpec* orders = set.Find("orders");
  if (orders == nullptr) Fail("the default pipelines have no `orders` pipeline");
  BenchPipeline p;
  p.spec = *orders;
  p.spec.name = "orders_bench";
  p.spec.sources.at(0).table = {"raw", "orders_bench"};
  p.spec.output.table = {"processed", "orders_bench"};
  if (p.spec.deduplicate) p.spec.deduplicate->keep_latest_by = o.keep_latest_by;
  bool declared = false;
  for (const auto& d : set.raw_tables) {
    if (d.table == catalog::TableRef{"raw", "orders"}) {
      p.raw_table = d;
      declared = true;
    }
  }
  if (!declared) Fail("pipelines/raw_tables.json declares no raw.orders");
  p.raw_table.table = {"raw", "orders_bench"};
  return p;
}

int64_t SumRows(const catalog::Snapshot& s) {
  int64_t n = 0;
  for (const auto& f : s.files) n += f.row_count;
  return n;
}

int64_t SumBytes(const catalog::Snapshot& s) {
  int64_t n = 0;
  for (const auto& f : s.files) n += f.size_bytes;
  return n;
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail("row accounting: " + what);
}

// Untimed: the tables hold exactly what the generator's dirt implies.
void Verify(const InputFiles& in, const std::string& format, const ingest::LoadReport& load,
            const etl::RunReport& run, catalog::Catalog& catalog, const std::string& lake,
            Measurement& m) {
  const etl::RunRecord& r = run.record;
  auto processed = OrFail(catalog.CurrentSnapshot({"processed", "orders_bench"}), "processed");
  auto quarantine =
      OrFail(catalog.CurrentSnapshot(catalog::QuarantineTableFor({"processed", "orders_bench"})),
             "quarantine");
  auto db = OrFail(query::DuckDb::Open(query::DuckDbOptions{2, "1GB", false}), "open DuckDB");
  auto counted =
      OrFail(db->Query("SELECT count(*), count(DISTINCT order_id), count(*) FILTER (WHERE "
                       "total_amount < 0 OR order_id IS NULL OR order_time IS NULL) FROM (" +
                       query::TableScanSql(processed.schema, processed.files, lake) + ")"),
             "count processed rows");
  const int64_t processed_rows = counted.rows.at(0).at(0).i;
  const int64_t distinct_ids = counted.rows.at(0).at(1).i;
  const int64_t bad_left = counted.rows.at(0).at(2).i;
  const int64_t quarantined_rows = SumRows(quarantine);

  m.counts = {{"input_rows", in.rows},
              {"loaded", load.rows_loaded},
              {"load_quarantined", load.rows_quarantined},
              {"run_in", r.rows_in},
              {"run_out", r.rows_out},
              {"quarantined", r.rows_quarantined},
              {"duplicates", r.rows_duplicate},
              {"processed", processed_rows},
              {"expected_processed", in.expected_processed()},
              {"expected_quarantined", in.expected_quarantined()},
              {"expected_duplicates", in.duplicates},
              {"processed_files", static_cast<int64_t>(processed.files.size())}};
  m.output_bytes = SumBytes(processed);
  const std::string tag = format + ": ";
  Check(run.record.status == etl::RunStatus::kSucceeded, tag + "the run did not succeed");
  Check(load.rows_loaded + load.rows_quarantined == in.rows,
        tag + "loaded " + std::to_string(load.rows_loaded) + " + load-quarantined " +
            std::to_string(load.rows_quarantined) + " != " + std::to_string(in.rows) +
            " input rows");
  Check(load.rows_quarantined == 0, tag + "the loader quarantined well-formed rows");
  Check(r.rows_in == load.rows_loaded, tag + "the run read " + std::to_string(r.rows_in) +
                                           " rows of " + std::to_string(load.rows_loaded));
  Check(processed_rows + r.rows_quarantined + r.rows_duplicate == in.rows,
        tag + "processed " + std::to_string(processed_rows) + " + quarantined " +
            std::to_string(r.rows_quarantined) + " + duplicates " +
            std::to_string(r.rows_duplicate) + " != " + std::to_string(in.rows) + " input rows");
  Check(processed_rows == r.rows_written && processed_rows == r.rows_out,
        tag + "processed table rows differ from the run's written/out counts");
  Check(quarantined_rows == r.rows_quarantined,
        tag + "quarantine table holds " + std::to_string(quarantined_rows) +
            " rows, the run says " + std::to_string(r.rows_quarantined));
  Check(r.rows_quarantined == in.expected_quarantined(),
        tag + "quarantined " + std::to_string(r.rows_quarantined) + ", the generator made " +
            std::to_string(in.expected_quarantined()) + " bad rows");
  Check(r.rows_duplicate == in.duplicates, tag + "dropped " + std::to_string(r.rows_duplicate) +
                                               " duplicates, the generator made " +
                                               std::to_string(in.duplicates));
  Check(distinct_ids == processed_rows, tag + "processed order_ids are not unique");
  Check(bad_left == 0, tag + "processed rows still break the cleaning rules");
}

Measurement MeasureBasin(const InputFiles& in, const BenchPipeline& pipeline,
                         const std::string& format, int rep, const std::string& work,
                         bool trace_sql, bool profile, const std::string& memory_limit) {
  Measurement m = StartMeasurement(in, "basin", format, rep);
  const std::string data = work + "/basin-" + format + "-" + std::to_string(rep);
  const std::string lake = data + "/lake";
  fs::remove_all(data);

  std::map<std::string, int64_t> marks;  // stage start times of the pipeline run
  Trace().SetPhase("setup");
  {
    std::lock_guard lock(Trace().mu);
    Trace().entries.clear();
  }
  Trace().enabled = trace_sql;
  const int64_t t0 = MonotonicNanos();
  // BatchLoader spills to <lake>/_tmp/batch but does not create <lake>/_tmp, and DuckDB makes only
  // the last folder: a file over its memory limit (the 1M-row NDJSON) fails without this.
  OrFail(CreateDirectories(lake + "/_tmp"), "create " + lake + "/_tmp");
  auto catalog = OrFail(catalog::Catalog::Open(data + "/basin.db"), "open the catalog");
  OrFail(etl::EnsureRawTables(*catalog, {pipeline.raw_table}), "declare raw.orders_bench");
  const int64_t t_setup = MonotonicNanos();

  Trace().SetPhase("load");
  ingest::BatchLimits limits;
  if (!memory_limit.empty()) limits.duckdb_memory_limit = memory_limit;
  ingest::BatchLoader loader(catalog.get(), lake, limits);
  ingest::BatchSource source;
  source.path = format == "csv" ? in.csv_path : in.ndjson_path;
  source.original_name = format == "csv" ? "orders.csv" : "orders.ndjson";
  source.table = {"raw", "orders_bench"};
  source.source = "cli";
  source.options.format = format;
  int64_t scan_done = 0;
  auto loaded = loader.Load(source, [&](uint64_t done, uint64_t total) {
    if (done == total && scan_done == 0) scan_done = MonotonicNanos();
  });
  // An error is a result of this measurement (reported, and the exit code says so), not a
  // reason to lose the other formats' results.
  auto give_up = [&](const Status& s, const std::string& what) {
    Trace().enabled = false;
    m.seconds = Seconds(t0, MonotonicNanos());
    m.error = what + ": " + s.ToString();
    if (trace_sql) ReportTrace(format + " (failed)", m.seconds);
    std::fprintf(stderr, "%s basin rep %d: ERROR after %.1f s: %s\n", format.c_str(), rep,
                 m.seconds, m.error.c_str());
    catalog.reset();
    fs::remove_all(data);
    return m;
  };
  if (!loaded.ok()) return give_up(loaded.status(), "BatchLoader::Load");
  const ingest::LoadReport load = std::move(loaded).value();
  const int64_t t_loaded = MonotonicNanos();

  Trace().SetPhase("pipeline");
  etl::PipelineRunner runner(catalog.get(), lake, &SystemClock::Instance(), nullptr);
  etl::RunOptions run_options;
  run_options.progress = [&](const etl::RunProgress& p) {
    if (marks.count(p.stage) == 0) marks[p.stage] = MonotonicNanos();
  };
  auto ran = runner.Run(pipeline.spec, run_options);
  if (!ran.ok()) return give_up(ran.status(), "PipelineRunner::Run");
  const etl::RunReport run = std::move(ran).value();
  const int64_t t_done = MonotonicNanos();
  Trace().enabled = false;

  m.seconds = Seconds(t0, t_done);
  m.stages["setup"] = Seconds(t0, t_setup);
  m.stages["load"] = Seconds(t_setup, t_loaded);
  m.stages["load.scan_hash"] = scan_done > 0 ? Seconds(t_setup, scan_done) : 0;
  m.stages["load.duckdb_commit"] = scan_done > 0 ? Seconds(scan_done, t_loaded) : 0;
  m.stages["pipeline"] = Seconds(t_loaded, t_done);
  // Progress marks: reading (sources listed) -> cleaning (cleaned table built) -> writing (dedup
  // and transform done) -> committing (output, quarantine and quality done) -> end.
  const std::vector<std::pair<std::string, std::string>> spans = {
      {"reading", "pipeline.clean"},
      {"cleaning", "pipeline.dedup_transform"},
      {"writing", "pipeline.write_quality"},
      {"committing", "pipeline.commit"}};
  int64_t prev = t_loaded;
  std::string prev_name = "pipeline.open";
  for (const auto& [stage, name] : spans) {
    auto it = marks.find(stage);
    if (it == marks.end()) continue;
    m.stages[prev_name] = Seconds(prev, it->second);
    prev = it->second;
    prev_name = name;
  }
  m.stages[prev_name] = Seconds(prev, t_done);

  if (trace_sql) ReportTrace(format, Seconds(t0, t_done));
  Verify(in, format, load, run, *catalog, lake, m);
  if (profile && rep == 1) Profile(*catalog, lake, pipeline.spec, format, work);
  catalog.reset();
  fs::remove_all(data);
  return m;
}

// ---------------------------------------------------------------- --profile

std::string RuleLabel(const etl::CleaningRule& rule) {
  std::string label(etl::CleaningRuleName(rule.kind));
  if (!rule.column.empty()) label += " " + rule.column;
  for (size_t i = 0; i < rule.columns.size(); ++i) label += (i == 0 ? " " : ",") + rule.columns[i];
  return label;
}

void EmitProfile(const std::string& format, const std::string& step, double seconds) {
  std::fprintf(stderr, "  %7.2f s  %s\n", seconds, step.c_str());
  JsonWriter w;
  w.BeginObject();
  w.Key("kind").String("profile");
  w.Key("format").String(format);
  w.Key("step").String(step);
  w.Key("seconds").Double(Round(seconds, 3));
  w.EndObject();
  std::printf("%s\n", w.str().c_str());
}

// Re-runs the pipeline's steps on the loaded raw table in a database of the runner's settings,
// each step materialised on its own, so that each one's cost can be told apart.
void Profile(catalog::Catalog& catalog, const std::string& lake, const etl::PipelineSpec& spec,
             const std::string& format, const std::string& work) {
  auto raw = OrFail(catalog.CurrentSnapshot(spec.primary().table), "raw snapshot");
  auto db = OrFail(query::DuckDb::Open(query::DuckDbOptions{2, "2GB", false}), "open DuckDB");
  OrFail(db->Execute("SET TimeZone = 'UTC'"), "time zone");
  auto timed = [&](const std::string& sql) {
    const int64_t t0 = MonotonicNanos();
    OrFail(db->Execute(sql), "profile: " + ShortSql(sql, 200));
    return Seconds(t0, MonotonicNanos());
  };
  std::fprintf(stderr, "\nProfile, %s (each step materialised as a table, untimed run):\n",
               format.c_str());
  EmitProfile(format, "read the raw Parquet into a table",
              timed("CREATE TABLE input AS " + query::TableScanSql(raw.schema, raw.files, lake)));
  std::vector<catalog::Column> columns = raw.schema.columns;
  columns.insert(columns.end(), raw.schema.partition_columns.begin(),
                 raw.schema.partition_columns.end());
  auto plan = OrFail(etl::CompileCleaning(spec.cleaning, columns, "input"), "compile cleaning");
  // The rules as a chain: level i is every rule up to i, so the difference is rule i's cost.
  double previous = timed("CREATE OR REPLACE TABLE level AS SELECT * FROM input");
  EmitProfile(format, "copy of the input (the floor of one level)", previous);
  for (size_t i = 0; i < plan.levels.size() && i < spec.cleaning.size(); ++i) {
    const double t = timed("CREATE OR REPLACE TABLE level AS " + plan.levels[i]);
    char chain[32];
    std::snprintf(chain, sizeof chain, " (chain %.2f s)", t);
    EmitProfile(format, "rule " + std::to_string(i) + " " + RuleLabel(spec.cleaning[i]) + chain,
                t - previous);
    previous = t;
  }
  EmitProfile(format, "the whole cleaning query (CREATE TEMP TABLE __basin_cleaned)",
              timed("CREATE TABLE cleaned AS " + plan.sql));
  std::string names;
  for (const auto& c : plan.columns) {
    names += (names.empty() ? "" : ", ") + query::QuoteIdentifier(c.name);
  }
  const std::string rule = query::QuoteIdentifier(etl::kRuleColumn);
  std::string accept =
      "CREATE TABLE accepted AS SELECT " + names + " FROM cleaned WHERE " + rule + " IS NULL";
  if (spec.deduplicate) {
    std::string keys;
    for (const auto& k : spec.deduplicate->keys) {
      keys += (keys.empty() ? "" : ", ") + query::QuoteIdentifier(k);
    }
    accept += " QUALIFY row_number() OVER (PARTITION BY " + keys + " ORDER BY " +
              query::QuoteIdentifier(spec.deduplicate->keep_latest_by) + " DESC NULLS LAST) = 1";
  }
  EmitProfile(format, "dedup (QUALIFY row_number() over the keys)", timed(accept));
  OrFail(db->Execute("CREATE VIEW " + query::QuoteIdentifier(spec.primary().name) +
                     " AS SELECT * FROM accepted"),
         "view");
  EmitProfile(format, "the pipeline's transform",
              timed("CREATE TABLE output AS (" + spec.transform + "\n)"));
  EmitProfile(format,
              "a transform without the to_json(o) probe: SELECT *, CAST(order_time AS DATE)",
              timed("CREATE TABLE output_plain AS SELECT *, CAST(order_time AS DATE) AS dt FROM " +
                    query::QuoteIdentifier(spec.primary().name)));
  // Output: one filtered COPY per partition (what the runner does) against one partitioned COPY.
  auto parts =
      OrFail(db->Query("SELECT DISTINCT CAST(dt AS VARCHAR) FROM output ORDER BY 1"), "partitions");
  const std::string out_dir = work + "/profile-" + format;
  fs::remove_all(out_dir);
  OrFail(CreateDirectories(out_dir), "mkdir");
  const int64_t t0 = MonotonicNanos();
  for (const auto& row : parts.rows) {
    const std::string p = row.at(0).s;
    OrFail(db->Execute("COPY (SELECT * EXCLUDE (dt) FROM output WHERE 'dt=' || "
                       "CAST(CAST(dt AS DATE) AS VARCHAR) = " +
                       query::QuoteLiteral("dt=" + p) + ") TO " +
                       query::QuoteLiteral(out_dir + "/p-" + p + ".parquet") +
                       " (FORMAT parquet, COMPRESSION zstd)"),
           "partition copy");
  }
  EmitProfile(format,
              "write: one filtered COPY per partition (" + std::to_string(parts.rows.size()) +
                  " partitions, no fsync)",
              Seconds(t0, MonotonicNanos()));
  EmitProfile(format, "write: one COPY ... PARTITION_BY (dt) (no fsync)",
              timed("COPY output TO " + query::QuoteLiteral(out_dir + "/partitioned") +
                    " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt))"));
  fs::remove_all(out_dir);
}

// ---------------------------------------------------------------- summary

std::string DuckDbVersion() {
  auto db = OrFail(query::DuckDb::Open(), "open DuckDB");
  auto v = OrFail(db->Query("SELECT version()"), "version()");
  return v.rows.at(0).at(0).s;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "";
}

std::string Summarize(const Options& o, const InputFiles& in, const std::vector<Measurement>& all,
                      const std::string& load_at_start, bool* all_pass) {
  JsonWriter w;
  w.BeginObject();
  w.Key("kind").String("summary");
  w.Key("environment").BeginObject();
  {
    char date[32];
    const time_t now = std::time(nullptr);
    tm civil{};
    gmtime_r(&now, &civil);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &civil);
    w.Key("date_utc").String(date);
  }
  w.Key("nproc").Int(static_cast<int64_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
  w.Key("cpu_model").String(CpuModel());
  w.Key("duckdb_version").String(DuckDbVersion());
  w.Key("load_average_at_start").String(load_at_start);
  w.Key("load_average_at_end").String(LoadAverage());
  w.EndObject();
  w.Key("config").BeginObject();
  w.Key("rows").Int(o.rows);
  w.Key("reps").Int(o.reps);
  w.Key("days").Int(o.days);
  w.Key("baseline_duckdb")
      .String("threads " + std::to_string(o.threads) +
              ", memory_limit 1GB, preserve_insertion_order false; COPY "
              "(SELECT * FROM read_csv/read_ndjson(file)) TO parquet zstd");
  w.Key("floor_duckdb")
      .String(
          "same settings; COPY (read_csv all_varchar / read_ndjson cast to VARCHAR) TO "
          "raw.parquet zstd, then COPY (typed columns, dt FROM read_parquet(raw)) TO "
          "processed/ zstd PARTITION_BY (dt)");
  w.Key("basin_duckdb")
      .String("BatchLoader: threads 2, memory_limit " +
              (o.basin_memory_limit.empty() ? std::string("1GB (BatchLimits default)")
                                            : o.basin_memory_limit + " (--basin-memory-limit)") +
              "; PipelineRunner: threads 2, memory_limit 2GB, preserve_insertion_order false");
  w.Key("pipeline")
      .String(
          "default `orders` (pipelines/orders.pipeline.json) on "
          "raw.orders_bench -> processed.orders_bench, dedup keep_latest_by " +
          o.keep_latest_by);
  w.EndObject();
  w.Key("input").BeginObject();
  w.Key("rows").Int(in.rows);
  w.Key("csv_bytes").Uint(in.csv_bytes);
  w.Key("ndjson_bytes").Uint(in.ndjson_bytes);
  w.Key("duplicates").Int(in.duplicates);
  w.Key("empty_ids").Int(in.empty_ids);
  w.Key("bad_dates").Int(in.bad_dates);
  w.Key("negative_amounts").Int(in.negative_amounts);
  w.Key("fixable_case_and_padding").Int(in.fixable);
  w.Key("expected_processed").Int(in.expected_processed());
  w.EndObject();

  *all_pass = true;
  w.Key("results").BeginObject();
  for (const std::string& format : o.formats) {
    std::map<std::string, std::vector<const Measurement*>> by_side;
    for (const auto& m : all) {
      if (m.format == format) by_side[m.side].push_back(&m);
    }
    w.Key(format).BeginObject();
    std::map<std::string, double> median_mbps;
    for (const auto& [side, ms] : by_side) {
      std::vector<double> secs, mbps, rps;
      std::map<std::string, std::vector<double>> stages;
      std::vector<std::string> errors;
      for (const Measurement* m : ms) {
        if (!m->error.empty()) {
          errors.push_back(m->error);
          continue;
        }
        secs.push_back(m->seconds);
        mbps.push_back(m->mb_per_s());
        rps.push_back(m->rows_per_s());
        for (const auto& [k, v] : m->stages) stages[k].push_back(v);
      }
      if (!mbps.empty()) median_mbps[side] = Median(mbps);
      w.Key(side).BeginObject();
      if (!errors.empty()) {
        *all_pass = false;
        w.Key("errors").BeginArray();
        for (const auto& e : errors) w.String(e);
        w.EndArray();
      }
      if (mbps.empty()) {
        w.EndObject();
        continue;
      }
      w.Key("median_seconds").Double(Round(Median(secs), 3));
      w.Key("median_mb_per_s").Double(Round(Median(mbps), 2));
      w.Key("median_rows_per_s").Double(Round(Median(rps), 0));
      w.Key("runs_mb_per_s").BeginArray();
      for (double v : mbps) w.Double(Round(v, 2));
      w.EndArray();
      w.Key("median_stages_s").BeginObject();
      for (const auto& [k, v] : stages) w.Key(k).Double(Round(Median(v), 3));
      w.EndObject();
      w.Key("output_parquet_bytes").Int(ms.back()->output_bytes);
      w.EndObject();
    }
    if (!median_mbps.count("basin") && by_side.count("basin")) {
      w.Key("goal").Double(0.8);
      w.Key("pass").Bool(false);
    }
    if (median_mbps.count("duckdb") && median_mbps.count("basin") && median_mbps["duckdb"] > 0) {
      const double ratio = median_mbps["basin"] / median_mbps["duckdb"];
      // Per repetition too: each Basin run against the baseline run just before it.
      w.Key("ratio_basin_vs_duckdb").Double(Round(ratio, 3));
      w.Key("ratio_by_rep").BeginArray();
      for (int rep = 1; rep <= o.reps; ++rep) {
        double b = 0, d = 0;
        for (const Measurement* m : by_side["basin"]) {
          if (m->rep == rep && m->error.empty()) b = m->mb_per_s();
        }
        for (const Measurement* m : by_side["duckdb"]) d = m->rep == rep ? m->mb_per_s() : d;
        w.Double(d > 0 ? Round(b / d, 3) : 0);
      }
      w.EndArray();
      w.Key("goal").Double(0.8);
      w.Key("pass").Bool(ratio >= 0.8);
      if (ratio < 0.8) *all_pass = false;
    }
    if (median_mbps.count("duckdb") && median_mbps.count("floor") && median_mbps["duckdb"] > 0) {
      // The ceiling of the ratio: no implementation of the raw + processed contract does less.
      w.Key("ratio_floor_vs_duckdb").Double(Round(median_mbps["floor"] / median_mbps["duckdb"], 3));
      if (median_mbps.count("basin") && median_mbps["floor"] > 0) {
        w.Key("ratio_basin_vs_floor").Double(Round(median_mbps["basin"] / median_mbps["floor"], 3));
      }
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return w.Take();
}

void PrintTable(const std::vector<Measurement>& all) {
  std::fprintf(stderr, "%-7s %-7s %4s %9s %9s %12s  %s\n", "format", "side", "rep", "seconds",
               "MB/s", "rows/s", "stages (s)");
  for (const auto& m : all) {
    std::string stages;
    for (const auto& [k, v] : m.stages) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%s=%.2f", stages.empty() ? "" : " ", k.c_str(), v);
      stages += buf;
    }
    if (!m.error.empty()) {
      std::fprintf(stderr, "%-7s %-7s %4d %9.2f     ERROR  %s\n", m.format.c_str(), m.side.c_str(),
                   m.rep, m.seconds, m.error.substr(0, 120).c_str());
      continue;
    }
    std::fprintf(stderr, "%-7s %-7s %4d %9.2f %9.1f %12.0f  %s\n", m.format.c_str(), m.side.c_str(),
                 m.rep, m.seconds, m.mb_per_s(), m.rows_per_s(), stages.c_str());
  }
}

int Main(int argc, char** argv) {
  const Options o = ParseOptions(argc, argv);
  SetLogLevel(LogLevel::kWarn);
  const std::string load_at_start = LoadAverage();
  std::string templ = o.tmpdir + "/basin-batch-bench.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    Fail("mkdtemp in " + o.tmpdir + ": " + std::strerror(errno));
  const std::string work = templ;
  std::fprintf(stderr, "basin-batch-bench: work dir %s, load average %s\n", work.c_str(),
               load_at_start.c_str());

  const int64_t g0 = MonotonicNanos();
  const InputFiles in = Generate(o, work);
  std::fprintf(stderr,
               "generated %lld rows in %.1f s: CSV %.1f MB, NDJSON %.1f MB; dirt: %lld duplicates, "
               "%lld empty ids, %lld impossible dates, %lld negative amounts, %lld fixable\n",
               static_cast<long long>(in.rows), Seconds(g0, MonotonicNanos()),
               in.csv_bytes / kMegabyte, in.ndjson_bytes / kMegabyte,
               static_cast<long long>(in.duplicates), static_cast<long long>(in.empty_ids),
               static_cast<long long>(in.bad_dates), static_cast<long long>(in.negative_amounts),
               static_cast<long long>(in.fixable));
  const BenchPipeline pipeline = MakePipeline(o);
  SyncAll();

  std::vector<Measurement> all;
  for (int rep = 1; rep <= o.reps; ++rep) {
    for (const std::string& format : o.formats) {
      for (const std::string& side : o.sides) {
        Measurement m = side == "duckdb" ? MeasureDuckDb(o, in, format, rep, work)
                        : side == "floor"
                            ? MeasureFloor(o, in, format, rep, work)
                            : MeasureBasin(in, pipeline, format, rep, work, o.trace_sql, o.profile,
                                           o.basin_memory_limit);
        SyncAll();
        std::printf("%s\n", m.ToJson().c_str());
        std::fflush(stdout);
        if (m.error.empty()) {
          std::fprintf(stderr, "%s %s rep %d: %.2f s, %.1f MB/s\n", format.c_str(), side.c_str(),
                       rep, m.seconds, m.mb_per_s());
        }
        all.push_back(std::move(m));
      }
    }
  }
  PrintTable(all);
  bool all_pass = false;
  const std::string summary = Summarize(o, in, all, load_at_start, &all_pass);
  std::printf("%s\n", summary.c_str());
  if (!o.out.empty()) {
    OrFail(WriteFileAtomically(o.out, summary + "\n"), "write " + o.out);
  }
  if (!o.keep) fs::remove_all(work);
  bool errors = false;
  for (const auto& m : all) errors = errors || !m.error.empty();
  const bool compared = std::find(o.sides.begin(), o.sides.end(), "duckdb") != o.sides.end() &&
                        std::find(o.sides.begin(), o.sides.end(), "basin") != o.sides.end();
  std::fprintf(stderr, "basin-batch-bench: ratio goal 0.8: %s%s\n",
               !compared  ? "not measured (one side only)"
               : all_pass ? "met"
                          : "missed",
               errors ? "; some Basin runs FAILED (see \"error\")" : "");
  // A missed goal is a result; a Basin error exits 3; a wrong row count exits 1 (above).
  return errors ? 3 : 0;
}

}  // namespace
}  // namespace basin::bench

int main(int argc, char** argv) { return basin::bench::Main(argc, argv); }
