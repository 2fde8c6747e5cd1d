#include <cstdio>
#include <iostream>

#include "base/logging.h"
#include "cli/commands.h"
#include "cli/platform.h"
#include "query/query_engine.h"
#include "query/result_format.h"

namespace basin::cli {

CommandRunner AddSqlCommand(CLI::App& app) {
  struct Options {
    std::string data_dir = "./basin-data";
    std::string format = "table";
    int64_t timeout_ms = 300'000;
    std::string sql;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "sql",
      "Run SQL over the lake of a data directory (read-only; works beside a running server)");
  sub->add_option("--data-dir", opts->data_dir, "Data directory")->capture_default_str();
  sub->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  sub->add_option("--timeout-ms", opts->timeout_ms, "Query timeout")->capture_default_str();
  sub->add_option("sql", opts->sql, "The SQL query, e.g. \"SELECT count(*) FROM raw.clickstream\"")
      ->required();
  return [opts]() -> int {
    SetLogLevel(LogLevel::kWarn);
    auto lake = OpenReadOnlyLake(opts->data_dir, opts->timeout_ms);
    if (!lake.ok()) {
      std::fprintf(stderr, "basin sql: %s\n", lake.status().ToString().c_str());
      return 1;
    }
    auto result = (*lake)->query_engine->Execute(opts->sql);
    if (!result.ok()) {
      std::fprintf(stderr, "basin sql: %s\n", result.status().ToString().c_str());
      return 1;
    }
    std::string out = opts->format == "json"  ? query::FormatJson(*result) + "\n"
                      : opts->format == "csv" ? query::FormatCsv(*result)
                                              : query::FormatTable(*result);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  };
}

}  // namespace basin::cli
