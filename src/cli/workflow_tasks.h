#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "workflow/definition.h"
#include "workflow/interpreter.h"

namespace basin::etl {
struct RunReport;
}
namespace basin::query {
struct QueryResult;
}

namespace basin::cli {

// A function `arn:aws:states:::lambda:invoke` can call: a local command that reads the payload
// as JSON on stdin and answers JSON on stdout (docs/workflows.md).
struct LocalFunction {
  std::vector<std::string> command;  // argv, no shell
  int64_t timeout_seconds = 60;
};

// Reads `{"name": {"command": ["python3", "f.py"], "timeout_seconds": 30}, ...}`. A missing file
// is an empty set; anything malformed is InvalidDefinition naming the function and field.
Result<std::map<std::string, LocalFunction, std::less<>>> LoadLocalFunctions(
    const std::string& path);

// What Basin's task resources do, supplied by whoever hosts the workflow (`basin workflow run`
// over a data directory, later the server). An empty function means "not available here": a
// definition using that resource is refused before it runs.
struct WorkflowServices {
  std::function<Result<etl::RunReport>(const std::string& pipeline)> run_pipeline;
  std::function<Result<query::QueryResult>(const std::string& sql)> run_query;
  std::function<Status()> sweep_landing;
  std::function<Status()> flush_loaders;
  std::map<std::string, LocalFunction, std::less<>> functions;
};

// Runs Task states with Basin's own capabilities behind AWS's resource ARNs:
//   arn:aws:states:::glue:startJobRun[.sync]              JobName -> an ETL pipeline run
//   arn:aws:states:::athena:startQueryExecution[.sync]    QueryString -> SQL, rows in the output
//   arn:aws:states:::lambda:invoke, arn:aws:lambda:…:function:NAME   a LocalFunction
//   arn:basin:states:::landing:sweep, arn:basin:states:::loader:flush
// Output shapes and error names follow Step Functions' integrations (docs/workflows.md).
// Called from the interpreter's thread.
class BasinTaskRunner final : public workflow::TaskRunner {
 public:
  explicit BasinTaskRunner(WorkflowServices services) : services_(std::move(services)) {}

  // The Task states of `machine` (Parallel branches and Map processors included) whose resource
  // this runner cannot run here, each with its JSON pointer.
  std::vector<workflow::ValidationError> CheckResources(
      const workflow::StateMachine& machine) const;

  workflow::Outcome<workflow::JsonValue> Run(const workflow::TaskRequest& request) override;

 private:
  workflow::Outcome<workflow::JsonValue> RunGlueJob(const workflow::TaskRequest& request,
                                                    bool sync);
  workflow::Outcome<workflow::JsonValue> RunAthenaQuery(const workflow::TaskRequest& request,
                                                        bool sync);
  workflow::Outcome<workflow::JsonValue> InvokeFunction(std::string_view function,
                                                        const workflow::JsonValue& payload,
                                                        bool wrap_in_invoke_result);
  // Why `resource` cannot run here, or "" when it can.
  std::string Unsupported(std::string_view resource) const;

  WorkflowServices services_;
  int64_t next_id_ = 1;
};

}  // namespace basin::cli
