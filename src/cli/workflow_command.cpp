// `basin workflow run FILE`: runs an Amazon States Language definition once, in this process,
// against a data directory, and prints its output. `basin workflow create|update|start|describe|
// history|list|stop|delete`: the Step Functions API (api::StepFunctionsApi, the same code the
// server answers with) over a data directory's workflow service (docs/workflows.md).
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/stepfunctions_api.h"
#include "base/file_util.h"
#include "base/hash.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "cli/commands.h"
#include "cli/platform.h"
#include "cli/workflow_tasks.h"
#include "etl/pipeline_runner.h"
#include "ingest/batch_loader.h"
#include "ingest/landing_sweep.h"
#include "query/query_engine.h"
#include "security/sigv4.h"
#include "storage/bucket_store.h"
#include "workflow/execution_service.h"
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
// Thread-safe: the executions of the workflow service run on threads of their own.
class LazyLake {
 public:
  explicit LazyLake(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  Result<Lake*> Writable() {
    std::lock_guard lock(mu_);
    return WritableLocked();
  }
  Result<query::QueryEngine*> Queries() {
    std::lock_guard lock(mu_);
    // Creates the data directory if it is missing.
    BASIN_RETURN_IF_ERROR(WritableLocked().status());
    if (!read_only_) {
      BASIN_ASSIGN_OR_RETURN(read_only_, OpenReadOnlyLake(data_dir_, 300'000));
    }
    return read_only_->query_engine.get();
  }
  // The S3 buckets of the data directory (Map item readers), beside a running server too: the
  // bucket index is SQLite in WAL mode.
  Result<storage::BucketStore*> Buckets() {
    std::lock_guard lock(mu_);
    BASIN_ASSIGN_OR_RETURN(Lake * lake, WritableLocked());
    if (!buckets_) {
      storage::BucketStoreOptions options;
      options.data_dir = lake->data_dir;
      options.lake_root = lake->lake_root;
      BASIN_ASSIGN_OR_RETURN(buckets_, storage::BucketStore::Open(options));
    }
    return buckets_.get();
  }

 private:
  Result<Lake*> WritableLocked() {
    if (!lake_) {
      BASIN_ASSIGN_OR_RETURN(lake_, OpenLake(data_dir_));
    }
    return lake_.get();
  }

  std::mutex mu_;
  std::string data_dir_;
  std::unique_ptr<Lake> lake_;
  std::unique_ptr<ReadOnlyLake> read_only_;
  std::unique_ptr<storage::BucketStore> buckets_;
};

// Basin's task resources over a data directory, outside a server: the one setup behind both
// `basin workflow run` and the data directory's workflow service.
WorkflowServices LocalServices(LazyLake& lake,
                               std::map<std::string, LocalFunction, std::less<>> functions) {
  WorkflowServices services;
  services.run_pipeline = [&lake](const std::string& name) -> Result<etl::RunReport> {
    BASIN_ASSIGN_OR_RETURN(Lake * l, lake.Writable());
    const etl::PipelineSpec* spec = l->pipelines.Find(name);
    if (spec == nullptr) {
      return Status(ErrorCode::kPipelineNotFound, "no pipeline named '" + name + "'");
    }
    etl::PipelineRunner runner(l->catalog.get(), l->lake_root, &SystemClock::Instance(), nullptr);
    return RunPipelineWhenReady(*l->catalog, runner, *spec);  // as the server runs it
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
  services.buckets = [&lake] { return lake.Buckets(); };
  // No loader runs outside a server: arn:basin:states:::loader:flush is refused up front.
  services.functions = std::move(functions);
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
  BasinTaskRunner runner(LocalServices(lake, std::move(functions).value()));
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

// ---- The Step Functions API over a data directory ---------------------------------------------

struct WorkflowApiOptions {
  std::string data_dir = "./basin-data";
  std::string functions;  // default: <data_dir>/functions.json
  std::string target;     // a state machine NAME or ARN, or an execution ARN
  std::string file;       // create / update: the definition
  std::string role_arn;
  std::string name;  // start --name
  std::string input = "{}";
  bool no_wait = false;
  std::string error, cause;  // stop
  std::string status;        // list --status
  bool reverse = false;      // history --reverse
  std::string endpoint;      // a server's AWS endpoint instead of the data directory
};

// Where the API commands send their calls.
class StepFunctionsTarget {
 public:
  virtual ~StepFunctionsTarget() = default;
  virtual api::StepFunctionsAnswer Call(std::string_view operation,
                                        std::string_view body) const = 0;
  // A state machine ARN as given, or the ARN of a state machine name.
  virtual std::string MachineArn(std::string_view name_or_arn) const = 0;
  // Returns once the execution is no longer RUNNING.
  virtual Status WaitUntilEnded(const std::string& execution_arn) = 0;
};

// A data directory's workflow service in this process, answered through the same
// StepFunctionsApi as the server's AWS endpoint.
class LocalStepFunctions final : public StepFunctionsTarget {
 public:
  // `run_executions`: this process may become the data directory's runner (start, stop). The
  // others only define and read, and never take the runner's lock.
  static Result<std::unique_ptr<LocalStepFunctions>> Open(const WorkflowApiOptions& opts,
                                                          bool run_executions) {
    auto local = std::unique_ptr<LocalStepFunctions>(new LocalStepFunctions(opts.data_dir));
    BASIN_ASSIGN_OR_RETURN(Lake * lake, local->lake_.Writable());
    BASIN_ASSIGN_OR_RETURN(
        local->functions_,
        LoadLocalFunctions(opts.functions.empty() ? opts.data_dir + "/functions.json"
                                                  : opts.functions));
    LocalStepFunctions* self = local.get();
    workflow::ExecutionServiceOptions options;
    options.catalog = lake->catalog.get();
    options.clock = &SystemClock::Instance();
    options.make_task_runner = [self]() -> std::unique_ptr<workflow::TaskRunner> {
      return std::make_unique<BasinTaskRunner>(LocalServices(self->lake_, self->functions_));
    };
    options.check_resources = [self](const workflow::StateMachine& machine) {
      return BasinTaskRunner(LocalServices(self->lake_, self->functions_)).CheckResources(machine);
    };
    options.resource_is_idempotent = IsIdempotentResource;
    // Beside a running server, the server runs the executions; this process defines and reads.
    options.lock_path = lake->data_dir + "/workflows.lock";
    options.observe_only = !run_executions;
    BASIN_ASSIGN_OR_RETURN(local->service_, workflow::ExecutionService::Open(std::move(options)));
    local->api_ = std::make_unique<api::StepFunctionsApi>(local->service_.get());
    return local;
  }

  api::StepFunctionsAnswer Call(std::string_view operation, std::string_view body) const override {
    return api_->Handle(operation, body);
  }
  std::string MachineArn(std::string_view name_or_arn) const override {
    if (name_or_arn.starts_with("arn:")) return std::string(name_or_arn);
    return service_->StateMachineArn(name_or_arn);
  }
  // This process is the execution's only host: it ends when the execution does.
  Status WaitUntilEnded(const std::string& execution_arn) override {
    return service_->WaitForExecution(execution_arn).status();
  }

 private:
  explicit LocalStepFunctions(std::string data_dir) : lake_(std::move(data_dir)) {}

  // Destroyed in reverse: the API, then the service (its Shutdown joins the execution threads
  // that use the lake and the functions), then the rest.
  LazyLake lake_;
  std::map<std::string, LocalFunction, std::less<>> functions_;
  std::unique_ptr<workflow::ExecutionService> service_;
  std::unique_ptr<api::StepFunctionsApi> api_;
};

// A Basin server's AWS endpoint (`basin serve --aws-port`), called over HTTP with SigV4 like any
// AWS client; the server's StepFunctionsApi answers.
class RemoteStepFunctions final : public StepFunctionsTarget {
 public:
  // `endpoint` is http://host[:port]; the credentials and region come from the AWS_* variables.
  static Result<std::unique_ptr<RemoteStepFunctions>> FromEnvironment(std::string_view endpoint) {
    constexpr std::string_view kScheme = "http://";
    if (!endpoint.starts_with(kScheme)) {
      return Status(ErrorCode::kInvalidArgument, "--endpoint must be http://host:port");
    }
    std::string_view authority = endpoint.substr(kScheme.size());
    authority = authority.substr(0, authority.find('/'));
    auto remote = std::unique_ptr<RemoteStepFunctions>(new RemoteStepFunctions());
    remote->authority_ = std::string(authority);
    const size_t colon = authority.rfind(':');
    remote->host_ = std::string(authority.substr(0, colon));
    remote->port_ =
        colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
    const char* key = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (remote->host_.empty() || key == nullptr || secret == nullptr || *key == '\0') {
      return Status(ErrorCode::kInvalidArgument,
                    "--endpoint needs a host and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                    "(basin keys create)");
    }
    remote->key_id_ = key;
    remote->secret_ = secret;
    for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (const char* region = std::getenv(name); region != nullptr && *region != '\0') {
        remote->region_ = region;
        break;
      }
    }
    return remote;
  }

  api::StepFunctionsAnswer Call(std::string_view operation, std::string_view body) const override {
    api::StepFunctionsAnswer answer;
    auto reply = Post(operation, body);
    if (!reply.ok()) {
      JsonWriter w;
      w.BeginObject()
          .Key("__type")
          .String("ServiceUnavailable")
          .Key("message")
          .String(reply.status().ToString())
          .EndObject();
      return {503, w.Take(), "ServiceUnavailable"};
    }
    answer.status = reply->status;
    answer.body = std::move(reply->body);
    if (answer.status != 200) {
      auto error = workflow::ParseJson(answer.body, answer.body.size() + 1);
      const workflow::JsonValue* type = error.ok() ? error->Find("__type") : nullptr;
      answer.error_type =
          type != nullptr && type->IsString() ? type->AsString() : "InternalFailure";
    }
    return answer;
  }

  // A name is looked up among the server's state machines; one that is not there gets the ARN
  // it would have in the server's default account, which the server answers as missing.
  std::string MachineArn(std::string_view name_or_arn) const override {
    if (name_or_arn.starts_with("arn:")) return std::string(name_or_arn);
    std::string token;
    do {
      JsonWriter w;
      w.BeginObject().Key("maxResults").Int(1000);
      if (!token.empty()) w.Key("nextToken").String(token);
      w.EndObject();
      api::StepFunctionsAnswer answer = Call("ListStateMachines", w.str());
      auto page = workflow::ParseJson(answer.body, answer.body.size() + 1);
      if (!answer.ok() || !page.ok()) break;
      if (const workflow::JsonValue* machines = page->Find("stateMachines")) {
        for (const workflow::JsonValue& m : machines->items()) {
          const workflow::JsonValue* name = m.Find("name");
          const workflow::JsonValue* arn = m.Find("stateMachineArn");
          if (name && arn && name->IsString() && name->AsString() == name_or_arn) {
            return arn->AsString();
          }
        }
      }
      const workflow::JsonValue* next = page->Find("nextToken");
      token = next && next->IsString() ? next->AsString() : "";
    } while (!token.empty());
    return "arn:aws:states:" + region_ + ":000000000000:stateMachine:" + std::string(name_or_arn);
  }

  // The server runs the execution: poll DescribeExecution.
  Status WaitUntilEnded(const std::string& execution_arn) override {
    JsonWriter w;
    w.BeginObject().Key("executionArn").String(execution_arn).EndObject();
    while (true) {
      api::StepFunctionsAnswer answer = Call("DescribeExecution", w.str());
      if (!answer.ok()) return Status(ErrorCode::kUnavailable, answer.body);
      auto described = workflow::ParseJson(answer.body, answer.body.size() + 1);
      const workflow::JsonValue* status = described.ok() ? described->Find("status") : nullptr;
      if (status == nullptr || !status->IsString() || status->AsString() != "RUNNING") {
        return Status::Ok();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

 private:
  RemoteStepFunctions() = default;

  struct Reply {
    int status = 0;
    std::string body;
  };

  // POST / with the operation's X-Amz-Target, signed with SigV4 for the service `states`.
  Result<Reply> Post(std::string_view operation, std::string_view body) const {
    namespace beast = boost::beast;
    namespace http = beast::http;
    using tcp = boost::asio::ip::tcp;
    const std::string amz_date = AmzDateNow();
    const std::string date = amz_date.substr(0, 8);
    const std::string target =
        std::string(api::StepFunctionsApi::kTargetPrefix) + std::string(operation);
    const std::string content_type(api::StepFunctionsApi::kContentType);
    const std::string signed_headers = "content-type;host;x-amz-date;x-amz-target";
    const std::string canonical = "POST\n/\n\ncontent-type:" + content_type +
                                  "\nhost:" + authority_ + "\nx-amz-date:" + amz_date +
                                  "\nx-amz-target:" + target + "\n\n" + signed_headers + "\n" +
                                  HexEncode(Sha256(body));
    const std::string scope = security::CredentialScope(date, region_, "states");
    const std::string signature =
        security::SignString(security::DeriveSigningKey(secret_, date, region_, "states"),
                             security::StringToSign(amz_date, scope, canonical));

    http::request<http::string_body> request{http::verb::post, "/", 11};
    request.set(http::field::host, authority_);
    request.set(http::field::content_type, content_type);
    request.set("X-Amz-Date", amz_date);
    request.set("X-Amz-Target", target);
    request.set(http::field::authorization, "AWS4-HMAC-SHA256 Credential=" + key_id_ + "/" + scope +
                                                ", SignedHeaders=" + signed_headers +
                                                ", Signature=" + signature);
    request.body() = std::string(body);
    request.prepare_payload();
    try {
      boost::asio::io_context io;
      tcp::resolver resolver(io);
      beast::tcp_stream stream(io);
      stream.expires_after(std::chrono::seconds(60));
      stream.connect(resolver.resolve(host_, port_));
      http::write(stream, request);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(64ULL << 20);
      http::read(stream, buffer, parser);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return Reply{static_cast<int>(parser.get().result_int()), parser.get().body()};
    } catch (const std::exception& e) {
      return Status(ErrorCode::kUnavailable, "cannot reach " + authority_ + ": " + e.what());
    }
  }

  static std::string AmzDateNow() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[20];
    std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
    return buf;
  }

  std::string authority_;  // host:port as sent in Host
  std::string host_, port_;
  std::string key_id_, secret_;
  std::string region_ = "us-east-1";
};

// Exit codes of the API commands: 0 the call succeeded (and `start` without --no-wait: the
// execution SUCCEEDED), 1 otherwise, with the AWS error JSON (or the execution's description).
constexpr int kApiFailed = 1;

int PrintAnswer(const api::StepFunctionsAnswer& answer) {
  std::printf("%s\n", answer.body.c_str());
  return answer.ok() ? 0 : kApiFailed;
}

// Prints `{"__type": ..., "message": ...}` for a failure before any call.
int PrintLocalError(std::string_view type, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("__type").String(type).Key("message").String(message).EndObject();
  std::printf("%s\n", w.str().c_str());
  return kApiFailed;
}

// Calls a List operation page by page and prints one answer holding every item of `list_key`.
int CallAllPages(const StepFunctionsTarget& local, std::string_view operation,
                 const std::function<void(JsonWriter&)>& members, std::string_view list_key) {
  workflow::JsonValue items = workflow::JsonValue::Array();
  std::string token;
  do {
    JsonWriter w;
    w.BeginObject();
    members(w);
    w.Key("maxResults").Int(1000);
    if (!token.empty()) w.Key("nextToken").String(token);
    w.EndObject();
    api::StepFunctionsAnswer answer = local.Call(operation, w.str());
    if (!answer.ok()) return PrintAnswer(answer);
    auto page = workflow::ParseJson(answer.body, answer.body.size() + 1);
    if (!page.ok()) return PrintLocalError("InternalFailure", page.status().ToString());
    if (const workflow::JsonValue* list = page->Find(list_key); list && list->IsArray()) {
      for (const auto& item : list->items()) items.Append(item);
    }
    const workflow::JsonValue* next = page->Find("nextToken");
    token = next && next->IsString() ? next->AsString() : "";
  } while (!token.empty());
  workflow::JsonValue all = workflow::JsonValue::Object();
  all.Set(list_key, std::move(items));
  std::printf("%s\n", all.Serialize().c_str());
  return 0;
}

bool IsExecutionArn(std::string_view arn) {
  return arn.starts_with("arn:") && arn.find(":execution:") != std::string_view::npos;
}

int RunApiCommand(const std::string& command, const WorkflowApiOptions& opts) {
  SetLogLevel(LogLevel::kError);
  std::unique_ptr<StepFunctionsTarget> target;
  if (!opts.endpoint.empty()) {
    auto remote = RemoteStepFunctions::FromEnvironment(opts.endpoint);
    if (!remote.ok()) return PrintLocalError("ValidationException", remote.status().message());
    target = std::move(remote).value();
  } else {
    auto opened = LocalStepFunctions::Open(opts, command == "start" || command == "stop");
    if (!opened.ok()) {
      return PrintLocalError("ServiceUnavailable", "cannot open the workflow service of " +
                                                       opts.data_dir + ": " +
                                                       opened.status().ToString());
    }
    target = std::move(opened).value();
  }
  StepFunctionsTarget& local = *target;
  JsonWriter w;
  w.BeginObject();
  if (command == "create" || command == "update") {
    // Read a little more than Step Functions allows, so that the API names the limit.
    auto definition = ReadFile(opts.file, api::StepFunctionsApi::kMaxDefinitionBytes + 1);
    if (!definition.ok()) {
      return PrintLocalError("ValidationException",
                             "cannot read " + opts.file + ": " + definition.status().ToString());
    }
    if (command == "create") {
      w.Key("name").String(opts.target);
    } else {
      w.Key("stateMachineArn").String(local.MachineArn(opts.target));
    }
    w.Key("definition").String(*definition);
    if (!opts.role_arn.empty()) w.Key("roleArn").String(opts.role_arn);
    w.EndObject();
    return PrintAnswer(
        local.Call(command == "create" ? "CreateStateMachine" : "UpdateStateMachine", w.str()));
  }
  if (command == "start") {
    w.Key("stateMachineArn").String(local.MachineArn(opts.target));
    if (!opts.name.empty()) w.Key("name").String(opts.name);
    w.Key("input").String(opts.input);
    w.EndObject();
    api::StepFunctionsAnswer started = local.Call("StartExecution", w.str());
    if (!started.ok() || opts.no_wait) return PrintAnswer(started);
    auto body = workflow::ParseJson(started.body);
    const workflow::JsonValue* arn = body.ok() ? body->Find("executionArn") : nullptr;
    if (arn == nullptr || !arn->IsString()) return PrintAnswer(started);
    if (Status ended = local.WaitUntilEnded(arn->AsString()); !ended.ok()) {
      return PrintLocalError("InternalFailure", ended.ToString());
    }
    JsonWriter describe;
    describe.BeginObject().Key("executionArn").String(arn->AsString()).EndObject();
    api::StepFunctionsAnswer answer = local.Call("DescribeExecution", describe.str());
    PrintAnswer(answer);
    auto described = workflow::ParseJson(answer.body, answer.body.size() + 1);
    const workflow::JsonValue* status = described.ok() ? described->Find("status") : nullptr;
    const bool succeeded =
        status != nullptr && status->IsString() && status->AsString() == "SUCCEEDED";
    return answer.ok() && succeeded ? 0 : kApiFailed;
  }
  if (command == "describe") {
    if (IsExecutionArn(opts.target)) {
      w.Key("executionArn").String(opts.target).EndObject();
      return PrintAnswer(local.Call("DescribeExecution", w.str()));
    }
    w.Key("stateMachineArn").String(local.MachineArn(opts.target)).EndObject();
    return PrintAnswer(local.Call("DescribeStateMachine", w.str()));
  }
  if (command == "history") {
    return CallAllPages(
        local, "GetExecutionHistory",
        [&](JsonWriter& m) {
          m.Key("executionArn").String(opts.target).Key("reverseOrder").Bool(opts.reverse);
        },
        "events");
  }
  if (command == "list") {
    if (opts.target.empty()) {
      return CallAllPages(
          local, "ListStateMachines", [](JsonWriter&) {}, "stateMachines");
    }
    return CallAllPages(
        local, "ListExecutions",
        [&](JsonWriter& m) {
          m.Key("stateMachineArn").String(local.MachineArn(opts.target));
          if (!opts.status.empty()) m.Key("statusFilter").String(opts.status);
        },
        "executions");
  }
  if (command == "stop") {
    w.Key("executionArn").String(opts.target);
    if (!opts.error.empty()) w.Key("error").String(opts.error);
    if (!opts.cause.empty()) w.Key("cause").String(opts.cause);
    w.EndObject();
    return PrintAnswer(local.Call("StopExecution", w.str()));
  }
  if (command == "delete") {
    w.Key("stateMachineArn").String(local.MachineArn(opts.target)).EndObject();
    return PrintAnswer(local.Call("DeleteStateMachine", w.str()));
  }
  return PrintLocalError("UnknownOperationException", "unknown command " + command);
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

  // The Step Functions API over a data directory: one subcommand per operation.
  auto api = std::make_shared<WorkflowApiOptions>();
  std::vector<std::pair<std::string, CLI::App*>> api_commands;
  auto add_api = [&](const std::string& name, const std::string& help) {
    CLI::App* sub = workflow->add_subcommand(name, help);
    sub->add_option("--data-dir", api->data_dir, "Data directory whose workflows to use")
        ->capture_default_str();
    sub->add_option("--functions", api->functions,
                    "Functions for lambda:invoke (default: <data-dir>/functions.json)");
    sub->add_option("--endpoint", api->endpoint,
                    "Call a Basin server's AWS endpoint (http://host:port) instead of opening the "
                    "data directory; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY");
    api_commands.emplace_back(name, sub);
    return sub;
  };
  CLI::App* create = add_api("create", "CreateStateMachine: a state machine from a definition");
  create->add_option("name", api->target, "The state machine name")->required();
  create->add_option("file", api->file, "The definition (ASL JSON)")->required();
  create->add_option("--role-arn", api->role_arn, "Its roleArn (default: a Basin role)");
  CLI::App* update = add_api("update", "UpdateStateMachine: replace a state machine's definition");
  update->add_option("machine", api->target, "The state machine name or ARN")->required();
  update->add_option("file", api->file, "The new definition (ASL JSON)")->required();
  update->add_option("--role-arn", api->role_arn, "A new roleArn");
  CLI::App* start =
      add_api("start", "StartExecution, wait for the execution to end and print DescribeExecution");
  start->add_option("machine", api->target, "The state machine name or ARN")->required();
  start->add_option("--name", api->name, "The execution name (default: a UUID)");
  start->add_option("--input", api->input, "The execution input (JSON)")->capture_default_str();
  start->add_flag("--no-wait", api->no_wait,
                  "Print StartExecution's answer and return; the execution stays RUNNING and "
                  "resumes when the data directory's workflow service next opens (basin serve)");
  CLI::App* describe =
      add_api("describe", "DescribeExecution (an execution ARN) or DescribeStateMachine");
  describe->add_option("arn", api->target, "An execution ARN, or a state machine name or ARN")
      ->required();
  CLI::App* history = add_api("history", "GetExecutionHistory: every event of an execution");
  history->add_option("arn", api->target, "The execution ARN")->required();
  history->add_flag("--reverse", api->reverse, "Newest event first");
  CLI::App* list =
      add_api("list", "ListStateMachines, or ListExecutions of one state machine (newest first)");
  list->add_option("machine", api->target, "A state machine name or ARN: list its executions");
  list->add_option("--status", api->status,
                   "Only executions in this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, "
                   "ABORTED)");
  CLI::App* stop = add_api("stop", "StopExecution: abort a running execution");
  stop->add_option("arn", api->target, "The execution ARN")->required();
  stop->add_option("--error", api->error, "The error code of the stop");
  stop->add_option("--cause", api->cause, "The cause of the stop");
  CLI::App* remove = add_api("delete", "DeleteStateMachine");
  remove->add_option("machine", api->target, "The state machine name or ARN")->required();

  return [opts, run, api, api_commands]() -> int {
    if (run->parsed()) return RunWorkflow(*opts);
    for (const auto& [name, sub] : api_commands) {
      if (sub->parsed()) return RunApiCommand(name, *api);
    }
    return kNotRunnable;
  };
}

}  // namespace basin::cli
