// `basin pipeline list|run|runs` and `basin quarantine replay`: the ETL pipelines of a data
// directory, run in this process (etl::PipelineRunner), beside a server or without one.
#include <cstdio>

#include "base/logging.h"
#include "base/time_format.h"
#include "cli/commands.h"
#include "cli/platform.h"
#include "cli/progress_bar.h"
#include "etl/pipeline_runner.h"

namespace basin::cli {
namespace {

struct PipelineOptions {
  std::string data_dir = "./basin-data";
  std::vector<std::string> names;  // run: empty = all, in dependency order
  std::string pipeline;            // runs: filter
  int limit = 20;
  std::string table;  // quarantine replay
};

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

Result<std::unique_ptr<Lake>> OpenForCommand(const std::string& data_dir, const char* command) {
  // Errors only: every run prints its own summary line, failures included.
  SetLogLevel(LogLevel::kError);
  auto lake = OpenLake(data_dir);
  if (!lake.ok()) std::fprintf(stderr, "basin %s: %s\n", command, lake.status().ToString().c_str());
  return lake;
}

// Runs one pipeline (or its quarantine replay) with a progress line and prints its summary.
bool RunOne(etl::PipelineRunner& runner, const etl::PipelineSpec& spec, bool replay) {
  ProgressBar bar(spec.name);
  etl::RunOptions options;
  options.progress = [&](const etl::RunProgress& p) { bar.Stage(p.stage, p.rows); };
  bool printed = false;
  options.on_report = [&](const etl::RunReport& report) {
    bar.Finish();
    std::printf("%s\n", etl::FormatRunSummary(report).c_str());
    printed = true;
  };
  auto report = replay ? runner.ReplayQuarantine(spec, options) : runner.Run(spec, options);
  bar.Finish();
  if (!report.ok()) {
    if (!printed)
      std::printf("%s  failed: %s\n", spec.name.c_str(), report.status().ToString().c_str());
    return false;
  }
  return report->record.status != etl::RunStatus::kFailed;
}

int List(const PipelineOptions& opts) {
  auto lake = OpenForCommand(opts.data_dir, "pipeline list");
  if (!lake.ok()) return 1;
  std::printf("%-24s %-32s %-18s %s\n", "PIPELINE", "OUTPUT", "MODE", "SOURCES");
  for (const etl::PipelineSpec& p : (*lake)->pipelines.pipelines) {
    std::vector<std::string> sources;
    for (const etl::SourceSpec& s : p.sources) sources.push_back(s.table.Qualified());
    std::printf("%-24s %-32s %-18s %s\n", p.name.c_str(), p.output.table.Qualified().c_str(),
                std::string(etl::OutputModeName(p.output.mode)).c_str(),
                Join(sources, ", ").c_str());
  }
  return 0;
}

int Run(const PipelineOptions& opts) {
  auto lake = OpenForCommand(opts.data_dir, "pipeline run");
  if (!lake.ok()) return 1;
  const etl::PipelineSet& set = (*lake)->pipelines;
  std::vector<const etl::PipelineSpec*> chosen;
  if (opts.names.empty()) {
    for (const etl::PipelineSpec& p : set.pipelines) chosen.push_back(&p);
  } else {
    for (const std::string& name : opts.names) {
      const etl::PipelineSpec* p = set.Find(name);
      if (p == nullptr) {
        std::fprintf(stderr, "basin pipeline run: no pipeline '%s' (see basin pipeline list)\n",
                     name.c_str());
        return 1;
      }
      chosen.push_back(p);
    }
  }
  etl::PipelineRunner runner((*lake)->catalog.get(), (*lake)->lake_root, &SystemClock::Instance(),
                             nullptr);
  int failed = 0;
  for (const etl::PipelineSpec* p : chosen) {
    // Running everything skips what cannot run yet; a pipeline named on purpose runs and fails.
    const auto missing = etl::MissingSources(*(*lake)->catalog, *p);
    if (opts.names.empty() && !missing.empty()) {
      std::printf("%s  waiting: source %s does not exist yet\n", p->name.c_str(),
                  missing.front().Qualified().c_str());
      continue;
    }
    if (!RunOne(runner, *p, /*replay=*/false)) ++failed;
  }
  return failed == 0 ? 0 : 1;
}

int Runs(const PipelineOptions& opts) {
  auto lake = OpenForCommand(opts.data_dir, "pipeline runs");
  if (!lake.ok()) return 1;
  etl::PipelineRunner runner((*lake)->catalog.get(), (*lake)->lake_root, &SystemClock::Instance(),
                             nullptr);
  std::optional<std::string> filter;
  if (!opts.pipeline.empty()) filter = opts.pipeline;
  auto runs = runner.ListRuns(filter, opts.limit);
  if (!runs.ok()) {
    std::fprintf(stderr, "basin pipeline runs: %s\n", runs.status().ToString().c_str());
    return 1;
  }
  std::printf("%-34s %-22s %-7s %-11s %10s %10s %11s %10s %9s\n", "RUN", "PIPELINE", "KIND",
              "STATUS", "IN", "OUT", "QUARANTINED", "DUPLICATES", "SECONDS");
  for (const etl::RunRecord& r : *runs) {
    std::printf("%-34s %-22s %-7s %-11s %10s %10s %11s %10s %9.2f%s%s\n", r.run_id.c_str(),
                r.pipeline.c_str(), r.kind.c_str(),
                std::string(etl::RunStatusName(r.status)).c_str(), WithThousands(r.rows_in).c_str(),
                WithThousands(r.rows_out).c_str(), WithThousands(r.rows_quarantined).c_str(),
                WithThousands(r.rows_duplicate).c_str(), r.duration_ms / 1000.0,
                r.error.empty() ? "" : "  ", r.error.c_str());
  }
  return 0;
}

// The pipeline whose quarantine `table` names: its output table ("processed.orders") or its
// quarantine table ("quarantine.processed_orders").
const etl::PipelineSpec* PipelineOfQuarantine(const etl::PipelineSet& set,
                                              const std::string& table) {
  auto ref = catalog::TableRef::Parse(table);
  if (!ref.ok()) return nullptr;
  for (const etl::PipelineSpec& p : set.pipelines) {
    if (p.output.table == *ref || catalog::QuarantineTableFor(p.output.table) == *ref) return &p;
  }
  return nullptr;
}

int Replay(const PipelineOptions& opts) {
  auto lake = OpenForCommand(opts.data_dir, "quarantine replay");
  if (!lake.ok()) return 1;
  const etl::PipelineSpec* spec = PipelineOfQuarantine((*lake)->pipelines, opts.table);
  if (spec == nullptr) {
    std::fprintf(stderr,
                 "basin quarantine replay: no pipeline writes '%s' or its quarantine (give e.g. "
                 "processed.orders or quarantine.processed_orders)\n",
                 opts.table.c_str());
    return 1;
  }
  etl::PipelineRunner runner((*lake)->catalog.get(), (*lake)->lake_root, &SystemClock::Instance(),
                             nullptr);
  return RunOne(runner, *spec, /*replay=*/true) ? 0 : 1;
}

}  // namespace

CommandRunner AddPipelineCommand(CLI::App& app) {
  auto opts = std::make_shared<PipelineOptions>();
  CLI::App* sub = app.add_subcommand("pipeline", "List, run and inspect the ETL pipelines");
  sub->require_subcommand(1);
  CLI::App* list = sub->add_subcommand("list", "The pipelines, in the order they run");
  CLI::App* run =
      sub->add_subcommand("run", "Run pipelines once over what is new (all if none named)");
  run->add_option("names", opts->names, "Pipeline names");
  CLI::App* runs = sub->add_subcommand("runs", "The latest runs, newest first");
  runs->add_option("--pipeline", opts->pipeline, "Only this pipeline's runs");
  runs->add_option("--limit", opts->limit, "How many")->capture_default_str();
  for (CLI::App* s : {list, run, runs}) {
    s->add_option("--data-dir", opts->data_dir, "Data directory")->capture_default_str();
  }
  return [opts, list, run]() -> int {
    if (list->parsed()) return List(*opts);
    if (run->parsed()) return Run(*opts);
    return Runs(*opts);
  };
}

CommandRunner AddQuarantineCommand(CLI::App& app) {
  auto opts = std::make_shared<PipelineOptions>();
  CLI::App* sub = app.add_subcommand("quarantine", "Work with quarantined rows");
  sub->require_subcommand(1);
  CLI::App* replay = sub->add_subcommand(
      "replay", "Re-run a pipeline's quarantined rows through its current rules");
  replay->add_option("table", opts->table, "processed.orders or quarantine.processed_orders")
      ->required();
  replay->add_option("--data-dir", opts->data_dir, "Data directory")->capture_default_str();
  return [opts]() -> int { return Replay(*opts); };
}

}  // namespace basin::cli
