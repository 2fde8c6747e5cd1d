// `basin workflow run FILE`: runs an Amazon States Language definition once, in this process,
// against a data directory, and prints its output (docs/workflows.md).
#include <cstdio>
#include <memory>

#include "base/file_util.h"
#include "base/logging.h"
#include "cli/commands.h"
#include "cli/platform.h"
#include "cli/workflow_tasks.h"
#include "etl/pipeline_runner.h"
#include "ingest/batch_loader.h"
#include "ingest/landing_sweep.h"
#include "query/query_engine.h"
#include "workflow/interpreter.h"

namespace basin::cli {
namespace {

struct WorkflowRunOptions {
  std::string file;
  std::string input = "{}";
  std::string data_dir = "./basin-data";
  std::string functions;  // default: <data_dir>/functions.json
  std::string history_file;
  std::string name = "local";
};

// Exit codes: 0 succeeded, 1 the execution failed or timed out, 2 the definition or input is
// not usable (nothing ran).
constexpr int kExecutionFailed = 1;
constexpr int kNotRunnable = 2;

void PrintError(std::string_view error, std::string_view cause) {
  workflow::JsonValue out = workflow::JsonValue::Object();
  out.Set("error", workflow::JsonValue::String(std::string(error)));
  out.Set("cause", workflow::JsonValue::String(std::string(cause)));
  std::printf("%s\n", out.Serialize().c_str());
}

// The data directory, opened on first use: a definition with no Task states needs none.
class LazyLake {
 public:
  explicit LazyLake(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  Result<Lake*> Writable() {
    if (!lake_) {
      BASIN_ASSIGN_OR_RETURN(lake_, OpenLake(data_dir_));
    }
    return lake_.get();
  }
  Result<query::QueryEngine*> Queries() {
    BASIN_RETURN_IF_ERROR(Writable().status());  // creates the data directory if it is missing
    if (!read_only_) {
      BASIN_ASSIGN_OR_RETURN(read_only_, OpenReadOnlyLake(data_dir_, 300'000));
    }
    return read_only_->query_engine.get();
  }

 private:
  std::string data_dir_;
  std::unique_ptr<Lake> lake_;
  std::unique_ptr<ReadOnlyLake> read_only_;
};

WorkflowServices LocalServices(LazyLake& lake) {
  WorkflowServices services;
  services.run_pipeline = [&lake](const std::string& name) -> Result<etl::RunReport> {
    BASIN_ASSIGN_OR_RETURN(Lake * l, lake.Writable());
    const etl::PipelineSpec* spec = l->pipelines.Find(name);
    if (spec == nullptr) {
      return Status(ErrorCode::kPipelineNotFound, "no pipeline named '" + name + "'");
    }
    etl::PipelineRunner runner(l->catalog.get(), l->lake_root, &SystemClock::Instance(), nullptr);
    return runner.Run(*spec);
  };
  services.run_query = [&lake](const std::string& sql) -> Result<query::QueryResult> {
    BASIN_ASSIGN_OR_RETURN(query::QueryEngine * engine, lake.Queries());
    return engine->Execute(sql);
  };
  services.sweep_landing = [&lake]() -> Status {
    BASIN_ASSIGN_OR_RETURN(Lake * l, lake.Writable());
    ingest::BatchLoader loader(l->catalog.get(), l->lake_root);
    ingest::LandingSweep sweep(&loader, l->lake_root + "/landing", &SystemClock::Instance());
    return sweep.SweepOnce().status();
  };
  // No loader runs outside a server: arn:basin:states:::loader:flush is refused up front.
  return services;
}

int RunWorkflow(const WorkflowRunOptions& opts) {
  SetLogLevel(LogLevel::kError);
  auto text = ReadFile(opts.file, 1 << 20);  // Step Functions takes definitions up to 1 MiB
  if (!text.ok()) {
    PrintError("States.Runtime", "cannot read " + opts.file + ": " + text.status().ToString());
    return kNotRunnable;
  }
  workflow::ParsedDefinition parsed = workflow::ParseDefinition(*text);
  auto input = workflow::ParseJson(opts.input);
  if (!input.ok()) {
    PrintError("States.Runtime", "--input: " + input.status().ToString());
    return kNotRunnable;
  }
  auto functions = LoadLocalFunctions(opts.functions.empty() ? opts.data_dir + "/functions.json"
                                                             : opts.functions);
  if (!functions.ok()) {
    PrintError("States.Runtime", functions.status().ToString());
    return kNotRunnable;
  }
  LazyLake lake(opts.data_dir);
  WorkflowServices services = LocalServices(lake);
  services.functions = std::move(functions).value();
  BasinTaskRunner runner(std::move(services));
  if (parsed.errors.empty()) parsed.errors = runner.CheckResources(*parsed.machine);
  if (!parsed.errors.empty()) {
    std::string cause;
    for (const auto& e : parsed.errors) {
      cause += (cause.empty() ? "" : "; ") + e.pointer + ": " + e.message;
    }
    PrintError("States.ValidationError", cause);
    return kNotRunnable;
  }

  workflow::RealSleeper sleeper;
  workflow::InterpreterOptions options;
  options.clock = &SystemClock::Instance();
  options.sleeper = &sleeper;
  options.task_runner = &runner;
  options.random_seed = static_cast<uint64_t>(MonotonicNanos());
  options.execution_name = opts.name;
  workflow::Interpreter interpreter(parsed.machine, options);
  workflow::ExecutionResult result = interpreter.Execute(*input);
  if (!opts.history_file.empty()) {
    workflow::JsonValue events = workflow::JsonValue::Array();
    for (const auto& event : result.history) events.Append(event.ToJson());
    workflow::JsonValue history = workflow::JsonValue::Object();
    history.Set("events", std::move(events));
    if (Status s = WriteFileAtomically(opts.history_file, history.Serialize() + "\n"); !s.ok()) {
      std::fprintf(stderr, "basin workflow run: cannot write the history: %s\n",
                   s.ToString().c_str());
    }
  }
  if (result.status != workflow::ExecutionStatus::kSucceeded) {
    PrintError(result.error, result.cause);
    return kExecutionFailed;
  }
  std::printf("%s\n", result.output.Serialize().c_str());
  return 0;
}

}  // namespace

CommandRunner AddWorkflowCommand(CLI::App& app) {
  auto opts = std::make_shared<WorkflowRunOptions>();
  CLI::App* workflow = app.add_subcommand("workflow", "Amazon States Language workflows");
  workflow->require_subcommand(1);
  CLI::App* run = workflow->add_subcommand(
      "run", "Run a state machine definition once, here, and print its output JSON");
  run->add_option("file", opts->file, "The definition (ASL JSON)")->required();
  run->add_option("--input", opts->input, "The execution input (JSON)")->capture_default_str();
  run->add_option("--data-dir", opts->data_dir, "Data directory the tasks work on")
      ->capture_default_str();
  run->add_option("--functions", opts->functions,
                  "Functions for lambda:invoke (default: <data-dir>/functions.json)");
  run->add_option("--history", opts->history_file,
                  "Write the execution history (GetExecutionHistory shape) to this file");
  run->add_option("--name", opts->name, "The execution name ($$.Execution.Name)")
      ->capture_default_str();
  return [opts, run]() -> int {
    if (run->parsed()) return RunWorkflow(*opts);
    return kNotRunnable;
  };
}

}  // namespace basin::cli
