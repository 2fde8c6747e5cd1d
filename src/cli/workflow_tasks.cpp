#include "cli/workflow_tasks.h"

#include <cstdio>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/subprocess.h"
#include "base/time_format.h"
#include "etl/pipeline_runner.h"
#include "etl/pipeline_set.h"
#include "query/duck_db.h"

namespace basin::cli {
namespace {

using workflow::JsonValue;
using workflow::Outcome;
using workflow::StateError;

constexpr std::string_view kGlue = "arn:aws:states:::glue:startJobRun";
constexpr std::string_view kGlueSync = "arn:aws:states:::glue:startJobRun.sync";
constexpr std::string_view kAthena = "arn:aws:states:::athena:startQueryExecution";
constexpr std::string_view kAthenaSync = "arn:aws:states:::athena:startQueryExecution.sync";
constexpr std::string_view kLambdaInvoke = "arn:aws:states:::lambda:invoke";
constexpr std::string_view kLambdaFunctionPrefix = "arn:aws:lambda:";
constexpr std::string_view kLandingSweep = "arn:basin:states:::landing:sweep";
constexpr std::string_view kLoaderFlush = "arn:basin:states:::loader:flush";
// Athena's GetQueryResults pages at 1,000 rows; a workflow gets at most that many.
constexpr size_t kMaxResultRows = 1000;

// "arn:aws:lambda:us-east-1:000000000000:function:name[:alias]" or a bare name -> the name.
std::string FunctionName(std::string_view name_or_arn) {
  if (name_or_arn.substr(0, kLambdaFunctionPrefix.size()) != kLambdaFunctionPrefix) {
    return std::string(name_or_arn);
  }
  const size_t at = name_or_arn.find(":function:");
  if (at == std::string_view::npos) return std::string(name_or_arn);
  std::string_view rest = name_or_arn.substr(at + 10);
  return std::string(rest.substr(0, rest.find(':')));
}

std::string RequiredString(const JsonValue& input, std::string_view field) {
  const JsonValue* v = input.IsObject() ? input.Find(field) : nullptr;
  return v != nullptr && v->IsString() ? v->AsString() : std::string();
}

StateError MissingParameter(std::string_view service, std::string_view field) {
  return StateError{std::string(service) + ".InvalidRequestException",
                    "the task's Parameters need a string '" + std::string(field) + "'"};
}

std::string IsoTime(int64_t us) { return FormatIso8601Millis(us); }

}  // namespace

Result<std::map<std::string, LocalFunction, std::less<>>> LoadLocalFunctions(
    const std::string& path) {
  std::map<std::string, LocalFunction, std::less<>> functions;
  auto text = ReadFile(path, 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == ErrorCode::kNotFound) return functions;
    return text.status();
  }
  auto doc = workflow::ParseJson(*text);
  if (!doc.ok() || !doc->IsObject()) {
    return Status(ErrorCode::kInvalidDefinition, path + ": not a JSON object of functions");
  }
  for (size_t i = 0; i < doc->keys().size(); ++i) {
    const std::string& name = doc->keys()[i];
    const JsonValue& spec = doc->items()[i];
    auto bad = [&](const std::string& why) {
      return Status(ErrorCode::kInvalidDefinition, path + ": function '" + name + "': " + why);
    };
    const JsonValue* command = spec.IsObject() ? spec.Find("command") : nullptr;
    if (command == nullptr || !command->IsArray() || command->size() == 0) {
      return bad("'command' must be a non-empty array of strings");
    }
    LocalFunction function;
    for (const JsonValue& arg : command->items()) {
      if (!arg.IsString()) return bad("'command' must be a non-empty array of strings");
      function.command.push_back(arg.AsString());
    }
    if (const JsonValue* timeout = spec.Find("timeout_seconds")) {
      if (!timeout->IsIntegral() || timeout->AsInt() < 1 || timeout->AsInt() > 900) {
        return bad("'timeout_seconds' must be an integer from 1 to 900 (Lambda's maximum)");
      }
      function.timeout_seconds = timeout->AsInt();
    }
    functions.emplace(name, std::move(function));
  }
  return functions;
}

Result<etl::RunReport> RunPipelineWhenReady(const catalog::Catalog& catalog,
                                            etl::PipelineRunner& runner,
                                            const etl::PipelineSpec& spec) {
  std::vector<catalog::TableRef> missing = etl::MissingSources(catalog, spec);
  if (!missing.empty()) {
    std::string names;
    for (const catalog::TableRef& ref : missing) {
      names += (names.empty() ? "" : ", ") + ref.Qualified();
    }
    return Status(ErrorCode::kTableNotFound,
                  "pipeline " + spec.name + " waits for its source tables: " + names);
  }
  return runner.Run(spec);
}

std::string BasinTaskRunner::Unsupported(std::string_view resource) const {
  auto missing = [&](const auto& service, std::string_view what) {
    return service ? std::string() : std::string(what) + " cannot run here";
  };
  if (resource == kGlue || resource == kGlueSync) return missing(services_.run_pipeline, "Glue");
  if (resource == kAthena || resource == kAthenaSync) {
    return missing(services_.run_query, "Athena");
  }
  if (resource == kLambdaInvoke) return "";  // the function is named in Parameters
  if (resource.substr(0, kLambdaFunctionPrefix.size()) == kLambdaFunctionPrefix) {
    const std::string name = FunctionName(resource);
    return services_.functions.contains(name)
               ? std::string()
               : "no function '" + name + "' is registered (functions.json)";
  }
  if (resource == kLandingSweep) return missing(services_.sweep_landing, "the landing sweep");
  if (resource == kLoaderFlush) {
    return missing(services_.flush_loaders, "a loader flush (it needs a running server)");
  }
  return "Basin cannot run this resource (supported: glue:startJobRun[.sync], "
         "athena:startQueryExecution[.sync], lambda:invoke, arn:basin:states:::landing:sweep, "
         "arn:basin:states:::loader:flush)";
}

std::vector<workflow::ValidationError> BasinTaskRunner::CheckResources(
    const workflow::StateMachine& machine) const {
  std::vector<workflow::ValidationError> errors;
  std::function<void(const workflow::StateMachine&, const std::string&)> walk =
      [&](const workflow::StateMachine& m, const std::string& prefix) {
        for (const workflow::State& state : m.states) {
          const std::string pointer = prefix + "/States/" + state.name;
          if (state.type == workflow::StateType::kTask) {
            std::string why = Unsupported(state.resource);
            if (!why.empty()) {
              errors.push_back({pointer + "/Resource", "'" + state.resource + "': " + why});
            }
          }
          if (state.item_reader) {
            const std::string& resource = state.item_reader->resource;
            std::string why = UnsupportedItemReader(resource);
            if (!why.empty()) {
              errors.push_back({pointer + "/ItemReader/Resource", "'" + resource + "': " + why});
            }
          }
          for (size_t b = 0; b < state.branches.size(); ++b) {
            walk(*state.branches[b], pointer + "/Branches/" + std::to_string(b));
          }
          if (state.processor) walk(*state.processor, pointer + "/ItemProcessor");
        }
      };
  walk(machine, "");
  return errors;
}

Outcome<JsonValue> BasinTaskRunner::Run(const workflow::TaskRequest& request) {
  if (request.item_reader) return ReadItems(request);
  const std::string_view resource = request.resource;
  if (std::string why = Unsupported(resource); !why.empty()) {
    return StateError{workflow::kErrRuntime, "'" + request.resource + "': " + why};
  }
  if (resource == kGlue || resource == kGlueSync) return RunGlueJob(request, resource == kGlueSync);
  if (resource == kAthena || resource == kAthenaSync) {
    return RunAthenaQuery(request, resource == kAthenaSync);
  }
  if (resource == kLambdaInvoke) {
    const std::string function = RequiredString(request.input, "FunctionName");
    if (function.empty()) return MissingParameter("Lambda", "FunctionName");
    const JsonValue* payload = request.input.Find("Payload");
    return InvokeFunction(FunctionName(function), payload ? *payload : JsonValue::Object(), true);
  }
  if (resource.substr(0, kLambdaFunctionPrefix.size()) == kLambdaFunctionPrefix) {
    return InvokeFunction(FunctionName(resource), request.input, false);
  }
  const bool sweep = resource == kLandingSweep;
  Status done = sweep ? services_.sweep_landing() : services_.flush_loaders();
  if (!done.ok()) {
    return StateError{workflow::kErrTaskFailed, done.ToString()};
  }
  JsonValue out = JsonValue::Object();
  out.Set(sweep ? "Swept" : "Flushed", JsonValue::Bool(true));
  return out;
}

Outcome<JsonValue> BasinTaskRunner::RunGlueJob(const workflow::TaskRequest& request, bool sync) {
  const std::string job = RequiredString(request.input, "JobName");
  if (job.empty()) return MissingParameter("Glue", "JobName");
  auto report = services_.run_pipeline(job);
  if (!report.ok()) {
    if (report.status().code() == ErrorCode::kPipelineNotFound) {
      return StateError{"Glue.EntityNotFoundException", report.status().message()};
    }
    if (report.status().code() == ErrorCode::kTableNotFound) {
      return StateError{"Basin.SourcesNotReady", report.status().message()};
    }
    return StateError{workflow::kErrTaskFailed, report.status().ToString()};
  }
  const etl::RunRecord& run = report->record;
  if (!sync) {
    // The run has finished by the time the task answers (it runs in this process); a caller that
    // did not ask to wait still gets only the run id, as from StartJobRun.
    JsonValue out = JsonValue::Object();
    out.Set("JobRunId", JsonValue::String(run.run_id));
    return out;
  }
  JsonValue out = JsonValue::Object();
  out.Set("Id", JsonValue::String(run.run_id));
  out.Set("JobName", JsonValue::String(job));
  out.Set("JobRunState",
          JsonValue::String(run.status == etl::RunStatus::kFailed ? "FAILED" : "SUCCEEDED"));
  out.Set("StartedOn", JsonValue::String(IsoTime(run.started_at_us)));
  out.Set("CompletedOn", JsonValue::String(IsoTime(run.finished_at_us)));
  out.Set("ExecutionTime", JsonValue::Int(run.duration_ms / 1000));
  JsonValue rows = JsonValue::Object();
  rows.Set("In", JsonValue::Int(run.rows_in));
  rows.Set("Out", JsonValue::Int(run.rows_out));
  rows.Set("Quarantined", JsonValue::Int(run.rows_quarantined));
  rows.Set("Duplicates", JsonValue::Int(run.rows_duplicate));
  rows.Set("Written", JsonValue::Int(run.rows_written));
  out.Set("BasinRows", std::move(rows));
  if (run.status == etl::RunStatus::kFailed) {
    out.Set("ErrorMessage", JsonValue::String(run.error));
    return StateError{workflow::kErrTaskFailed, out.Serialize()};
  }
  return out;
}

Outcome<JsonValue> BasinTaskRunner::RunAthenaQuery(const workflow::TaskRequest& request,
                                                   bool sync) {
  const std::string sql = RequiredString(request.input, "QueryString");
  if (sql.empty()) return MissingParameter("Athena", "QueryString");
  const int64_t started = SystemClock::Instance().NowMicros();
  const std::string id =
      "basin-query-" + std::to_string(started) + "-" + std::to_string(next_id_++);
  auto result = services_.run_query(sql);
  const int64_t finished = SystemClock::Instance().NowMicros();
  if (!result.ok()) {
    return StateError{workflow::kErrTaskFailed,
                      "query " + id + " FAILED: " + result.status().ToString()};
  }
  if (!sync) {
    JsonValue out = JsonValue::Object();
    out.Set("QueryExecutionId", JsonValue::String(id));
    return out;
  }
  JsonValue status = JsonValue::Object();
  status.Set("State", JsonValue::String("SUCCEEDED"));
  status.Set("SubmissionDateTime", JsonValue::String(IsoTime(started)));
  status.Set("CompletionDateTime", JsonValue::String(IsoTime(finished)));
  JsonValue statistics = JsonValue::Object();
  statistics.Set("EngineExecutionTimeInMillis", JsonValue::Int((finished - started) / 1000));
  JsonValue execution = JsonValue::Object();
  execution.Set("QueryExecutionId", JsonValue::String(id));
  execution.Set("Query", JsonValue::String(sql));
  execution.Set("StatementType", JsonValue::String("DML"));
  execution.Set("Status", std::move(status));
  execution.Set("Statistics", std::move(statistics));

  // The rows as Athena's GetQueryResults has them: a header row, then every value as text
  // (VarCharValue), an empty Data entry for NULL.
  JsonValue columns = JsonValue::Array();
  JsonValue header = JsonValue::Array();
  for (const query::ResultColumn& c : result->columns) {
    JsonValue info = JsonValue::Object();
    info.Set("Name", JsonValue::String(c.name));
    info.Set("Type", JsonValue::String(c.type));
    columns.Append(std::move(info));
    JsonValue cell = JsonValue::Object();
    cell.Set("VarCharValue", JsonValue::String(c.name));
    header.Append(std::move(cell));
  }
  JsonValue rows = JsonValue::Array();
  JsonValue header_row = JsonValue::Object();
  header_row.Set("Data", std::move(header));
  rows.Append(std::move(header_row));
  for (size_t r = 0; r < result->rows.size() && r < kMaxResultRows; ++r) {
    JsonValue data = JsonValue::Array();
    for (const query::Value& v : result->rows[r]) {
      JsonValue cell = JsonValue::Object();
      if (v.kind != query::Value::Kind::kNull)
        cell.Set("VarCharValue", JsonValue::String(v.ToText()));
      data.Append(std::move(cell));
    }
    JsonValue row = JsonValue::Object();
    row.Set("Data", std::move(data));
    rows.Append(std::move(row));
  }
  JsonValue metadata = JsonValue::Object();
  metadata.Set("ColumnInfo", std::move(columns));
  JsonValue result_set = JsonValue::Object();
  result_set.Set("ResultSetMetadata", std::move(metadata));
  result_set.Set("Rows", std::move(rows));
  JsonValue out = JsonValue::Object();
  out.Set("QueryExecution", std::move(execution));
  out.Set("ResultSet", std::move(result_set));
  out.Set("Truncated", JsonValue::Bool(result->truncated || result->rows.size() > kMaxResultRows));
  return out;
}

Outcome<JsonValue> BasinTaskRunner::InvokeFunction(std::string_view function,
                                                   const JsonValue& payload,
                                                   bool wrap_in_invoke_result) {
  auto it = services_.functions.find(function);
  if (it == services_.functions.end()) {
    return StateError{"Lambda.ResourceNotFoundException",
                      "Function not found: " + std::string(function)};
  }
  SubprocessOptions options;
  options.timeout_ms = it->second.timeout_seconds * 1000;
  options.max_output_bytes = workflow::kMaxPayloadBytes + 1;
  auto ran = RunSubprocess(it->second.command, payload.Serialize(), options);
  if (!ran.ok()) return StateError{"Lambda.ServiceException", ran.status().ToString()};
  if (ran->timed_out) {
    return StateError{"Sandbox.Timedout", "function " + std::string(function) +
                                              " timed out after " +
                                              std::to_string(it->second.timeout_seconds) + " s"};
  }
  auto tail = [](const std::string& s) { return s.size() > 2048 ? s.substr(s.size() - 2048) : s; };
  if (ran->output_truncated) {
    return StateError{workflow::kErrDataLimitExceeded,
                      "function " + std::string(function) + " answered more than 256 KiB"};
  }
  auto answer = workflow::ParseJson(ran->stdout_text);
  if (ran->signaled || ran->exit_code != 0) {
    // A function reports its own error as {"errorType": ..., "errorMessage": ...}, as Lambda
    // runtimes do; Step Functions then uses errorType as the error name.
    if (answer.ok() && answer->IsObject() && answer->Find("errorType") != nullptr &&
        answer->Find("errorType")->IsString()) {
      return StateError{answer->Find("errorType")->AsString(), answer->Serialize()};
    }
    const std::string how = ran->signaled ? "killed by signal " + std::to_string(ran->term_signal)
                                          : "exit status " + std::to_string(ran->exit_code);
    return StateError{"Lambda.Unknown", "function " + std::string(function) + " failed (" + how +
                                            "): " + tail(ran->stderr_text)};
  }
  if (!answer.ok()) {
    return StateError{"Lambda.Unknown",
                      "function " + std::string(function) +
                          " did not answer JSON on stdout: " + answer.status().message()};
  }
  if (!wrap_in_invoke_result) return std::move(answer).value();
  JsonValue out = JsonValue::Object();
  out.Set("ExecutedVersion", JsonValue::String("$LATEST"));
  out.Set("Payload", std::move(answer).value());
  out.Set("StatusCode", JsonValue::Int(200));
  return out;
}

}  // namespace basin::cli
