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

namespace basin::catalog {
class Catalog;
}
namespace basin::etl {
struct RunReport;
struct PipelineSpec;
class PipelineRunner;
}  // namespace basin::etl
namespace basin::query {
struct QueryResult;
}
namespace basin::storage {
class BucketStore;
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
  // kTableNotFound when the pipeline's source tables do not exist yet (nothing recorded): the
  // task fails with Basin.SourcesNotReady, which a workflow can catch and skip.
  std::function<Result<etl::RunReport>(const std::string& pipeline)> run_pipeline;
  std::function<Result<query::QueryResult>(const std::string& sql)> run_query;
  std::function<Status()> sweep_landing;
  std::function<Status()> flush_loaders;
  std::map<std::string, LocalFunction, std::less<>> functions;
  // The S3 buckets (lake zones included) that Map item readers list and read, opened on first
  // use. Empty: no s3:listObjectsV2 / s3:getObject readers.
  std::function<Result<storage::BucketStore*>()> buckets;
};

// A glue:startJobRun of `spec`: kTableNotFound naming the missing tables when its sources do not
// exist yet (nothing is run or recorded), otherwise the run.
Result<etl::RunReport> RunPipelineWhenReady(const catalog::Catalog& catalog,
                                            etl::PipelineRunner& runner,
                                            const etl::PipelineSpec& spec);

// Whether running a Task with this resource again after a crash is safe: pipeline runs are
// idempotent by their source positions, landing loads by content hash, queries and flushes
// change nothing twice. Functions (lambda) are arbitrary commands, so they are not.
bool IsIdempotentResource(std::string_view resource);

// Runs Task states with Basin's own capabilities behind AWS's resource ARNs:
//   arn:aws:states:::glue:startJobRun[.sync]              JobName -> an ETL pipeline run
//   arn:aws:states:::athena:startQueryExecution[.sync]    QueryString -> SQL, rows in the output
//   arn:aws:states:::lambda:invoke, arn:aws:lambda:…:function:NAME   a LocalFunction
//   arn:basin:states:::landing:sweep, arn:basin:states:::loader:flush
// and the items of a Map's ItemReader:
//   arn:aws:states:::s3:listObjectsV2    Bucket, Prefix -> one item per object (Key, Size, ...)
//   arn:aws:states:::s3:getObject        Bucket, Key + ReaderConfig.InputType JSON|JSONL|CSV
//   arn:basin:states:::lake:readTable    Table [, Where] -> one item per row (a JSON object)
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
  workflow::Outcome<workflow::JsonValue> ReadItems(const workflow::TaskRequest& request);
  workflow::Outcome<workflow::JsonValue> ListObjectItems(const workflow::TaskRequest& request);
  workflow::Outcome<workflow::JsonValue> ObjectContentItems(const workflow::TaskRequest& request);
  workflow::Outcome<workflow::JsonValue> TableRowItems(const workflow::TaskRequest& request);
  workflow::Outcome<workflow::JsonValue> InvokeFunction(std::string_view function,
                                                        const workflow::JsonValue& payload,
                                                        bool wrap_in_invoke_result);
  // Why `resource` cannot run here, or "" when it can.
  std::string Unsupported(std::string_view resource) const;
  std::string UnsupportedItemReader(std::string_view resource) const;

  WorkflowServices services_;
  int64_t next_id_ = 1;
};

}  // namespace basin::cli
