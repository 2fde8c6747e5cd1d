#include "api/stepfunctions_api.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include "base/base64.h"
#include "base/hash.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "workflow/execution_service.h"
#include "workflow/json_value.h"

namespace basin::api {
namespace {

namespace dom = simdjson::dom;
using workflow::ExecutionRecord;
using workflow::ExecutionService;
using workflow::StateMachineRecord;

// ---- Errors ---------------------------------------------------------------------------------

struct SfnError {
  std::string type;
  std::string message;
  int status = 400;
};

SfnError Validation(std::string message) { return {"ValidationException", std::move(message)}; }
SfnError Serialization(std::string message) {
  return {"SerializationException", std::move(message)};
}
SfnError InvalidArn(std::string message) { return {"InvalidArn", std::move(message)}; }
SfnError Internal(std::string message) { return {"InternalFailure", std::move(message), 500}; }

// AWS's wording for a constraint on one member.
SfnError TooLong(std::string_view member, size_t max) {
  return Validation("1 validation error detected: Value at '" + std::string(member) +
                    "' failed to satisfy constraint: Member must have length less than or "
                    "equal to " +
                    std::to_string(max));
}
SfnError Missing(std::string_view member) {
  return Validation("1 validation error detected: Value null at '" + std::string(member) +
                    "' failed to satisfy constraint: Member must not be null");
}

// What each operation calls the things a service error can be about.
struct ErrorNames {
  std::string_view not_found;       // kNotFound
  std::string_view already_exists;  // kAlreadyExists
  std::string_view invalid;         // kValidationFailed, kInvalidDefinition, kMalformedJson
  std::string_view conflict;        // kConflict
};

SfnError FromStatus(const Status& status, const ErrorNames& names) {
  auto named = [&](std::string_view name) -> SfnError {
    return {std::string(name.empty() ? "ValidationException" : name), status.message()};
  };
  switch (status.code()) {
    case ErrorCode::kNotFound: return named(names.not_found);
    case ErrorCode::kAlreadyExists: return named(names.already_exists);
    case ErrorCode::kValidationFailed:
    case ErrorCode::kInvalidDefinition:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMalformedJson: return named(names.invalid);
    case ErrorCode::kPayloadTooLarge: return Validation(status.message());
    case ErrorCode::kConflict: return named(names.conflict);
    case ErrorCode::kShuttingDown:
    case ErrorCode::kUnavailable: return {"ServiceUnavailable", status.message(), 503};
    default:
      BASIN_LOG(Warn, "stepfunctions") << "internal failure: " << status.ToString();
      return Internal(status.ToString());
  }
}

// An operation's result: the JSON body of a 200, or an error.
struct Answer {
  Answer(SfnError e) : error(std::move(e)) {}    // NOLINT(google-explicit-constructor)
  Answer(std::string b) : body(std::move(b)) {}  // NOLINT(google-explicit-constructor)
  std::optional<SfnError> error;
  std::string body;
};

#define BASIN_SFN_TRY(expr)                                                  \
  do {                                                                       \
    if (auto basin_sfn_error_ = (expr)) return std::move(*basin_sfn_error_); \
  } while (false)

// ---- JSON input -----------------------------------------------------------------------------

// Typed access to the members of a request object. Absent and null members are "not given"; a
// member of the wrong JSON type is a SerializationException, as AWS answers.
class Input {
 public:
  explicit Input(dom::object object) : object_(object) {}

  std::optional<SfnError> String(std::string_view key, std::optional<std::string_view>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    std::string_view v;
    if (e.get_string().get(v) != simdjson::SUCCESS) return WrongType(key, "a string");
    *out = v;
    return std::nullopt;
  }

  // A required string of at most `max` bytes (AWS counts characters; the limits here are far
  // above any real name, ARN or definition, so bytes are close enough).
  std::optional<SfnError> Required(std::string_view key, size_t max, std::string_view* out) const {
    std::optional<std::string_view> v;
    BASIN_SFN_TRY(String(key, &v));
    if (!v || v->empty()) return Missing(key);
    if (v->size() > max) return TooLong(key, max);
    *out = *v;
    return std::nullopt;
  }

  std::optional<SfnError> Optional(std::string_view key, size_t max,
                                   std::optional<std::string_view>* out) const {
    BASIN_SFN_TRY(String(key, out));
    if (*out && (*out)->size() > max) return TooLong(key, max);
    return std::nullopt;
  }

  std::optional<SfnError> Int(std::string_view key, std::optional<int64_t>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    int64_t v;
    if (e.get_int64().get(v) != simdjson::SUCCESS) return WrongType(key, "an integer");
    *out = v;
    return std::nullopt;
  }

  std::optional<SfnError> Bool(std::string_view key, std::optional<bool>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    bool v;
    if (e.get_bool().get(v) != simdjson::SUCCESS) return WrongType(key, "a boolean");
    *out = v;
    return std::nullopt;
  }

  // maxResults: 0..1000, 0 or absent = 100 (AWS's default page).
  std::optional<SfnError> PageSize(size_t* out) const {
    std::optional<int64_t> v;
    BASIN_SFN_TRY(Int("maxResults", &v));
    if (v && (*v < 0 || *v > 1000)) {
      return Validation("1 validation error detected: Value '" + std::to_string(*v) +
                        "' at 'maxResults' failed to satisfy constraint: Member must have value "
                        "between 0 and 1000");
    }
    *out = (!v || *v == 0) ? 100 : static_cast<size_t>(*v);
    return std::nullopt;
  }

 private:
  bool Find(std::string_view key, dom::element* e) const {
    if (object_.at_key(key).get(*e) != simdjson::SUCCESS) return false;
    return !e->is_null();
  }
  static SfnError WrongType(std::string_view key, std::string_view what) {
    return Serialization("member '" + std::string(key) + "' must be " + std::string(what));
  }
  dom::object object_;
};

// ---- Names, ARNs, tokens --------------------------------------------------------------------

constexpr size_t kMaxNameBytes = 80;
constexpr size_t kMaxArnBytes = 256;
constexpr size_t kMaxErrorBytes = 256;
constexpr size_t kMaxCauseBytes = 32768;

// Step Functions forbids whitespace, brackets, wildcards, " # % \ ^ | ~ ` $ & , ; : / and control
// characters in names; Basin keeps names to the portable subset of what AWS allows (the workflow
// service refuses anything else), so every name valid here is valid on AWS.
bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::optional<SfnError> CheckName(std::string_view name) {
  if (name.size() > kMaxNameBytes) return TooLong("name", kMaxNameBytes);
  if (!ValidName(name)) {
    return SfnError{"InvalidName", "Invalid Name: '" + std::string(name) +
                                       "' (names are 1-80 characters of A-Z a-z 0-9 _ -)"};
  }
  return std::nullopt;
}

std::vector<std::string_view> SplitColons(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, colon - start));
    start = colon + 1;
  }
}

// arn:<partition>:states:<region>:<account>:<type>:<name>[:<execution>]
struct StatesArn {
  std::string_view prefix;  // "arn:aws:states:<region>:<account>:"
  std::string_view type;    // "stateMachine" or "execution"
  std::string_view machine;
  std::string_view execution;  // execution ARNs only
};

std::optional<StatesArn> ParseStatesArn(std::string_view arn) {
  std::vector<std::string_view> parts = SplitColons(arn);
  if (parts.size() < 7 || parts[0] != "arn" || parts[1].empty() || parts[2] != "states" ||
      parts[3].empty() || parts[4].empty()) {
    return std::nullopt;
  }
  StatesArn out;
  out.prefix = arn.substr(0, parts[5].data() - arn.data());
  out.type = parts[5];
  out.machine = parts[6];
  if (out.type == "stateMachine" && parts.size() == 7 && ValidName(out.machine)) return out;
  if (out.type == "execution" && parts.size() == 8 && ValidName(out.machine) &&
      ValidName(parts[7])) {
    out.execution = parts[7];
    return out;
  }
  return std::nullopt;
}

std::optional<SfnError> CheckStateMachineArn(std::string_view arn) {
  auto parsed = ParseStatesArn(arn);
  if (!parsed || parsed->type != "stateMachine") {
    return InvalidArn("Invalid Arn: '" + std::string(arn) + "' is not a state machine ARN");
  }
  return std::nullopt;
}

std::optional<SfnError> CheckExecutionArn(std::string_view arn) {
  auto parsed = ParseStatesArn(arn);
  if (!parsed || parsed->type != "execution") {
    return InvalidArn("Invalid Arn: '" + std::string(arn) + "' is not an execution ARN");
  }
  return std::nullopt;
}

// Page tokens: base64 of "<kind>|<context hash>|<position>". They carry no authority (the
// caller could list everything anyway), so they are not sealed; a token made for another call
// or list is InvalidToken.
std::string ContextHash(std::string_view context) {
  return HexEncode(Sha256(context)).substr(0, 16);
}

std::string MakeToken(char kind, std::string_view context, std::string_view position) {
  std::string raw;
  raw.push_back(kind);
  raw += "|" + ContextHash(context) + "|";
  raw += position;
  return Base64Encode(raw);
}

// The position of a token, or InvalidToken.
std::optional<SfnError> ReadToken(std::string_view token, char kind, std::string_view context,
                                  std::string* position) {
  auto raw = Base64Decode(token, Base64Padding::kOptional);
  const std::string expected = std::string(1, kind) + "|" + ContextHash(context) + "|";
  if (!raw || raw->size() <= expected.size() || raw->compare(0, expected.size(), expected) != 0) {
    return SfnError{"InvalidToken", "Invalid Token: '" + std::string(token) + "'"};
  }
  *position = raw->substr(expected.size());
  return std::nullopt;
}

std::optional<size_t> ParseIndex(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  size_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  return v;
}

// ---- JSON output ----------------------------------------------------------------------------

// Epoch seconds with millisecond precision, as a JSON number: 1795746788.979
std::string EpochSeconds(int64_t micros) {
  const int64_t millis = micros / 1000;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(millis / 1000),
                static_cast<long long>(millis % 1000));
  return buf;
}

void WriteConfigurations(JsonWriter& w) {
  w.Key("loggingConfiguration")
      .BeginObject()
      .Key("level")
      .String("OFF")
      .Key("includeExecutionData")
      .Bool(false)
      .EndObject();
  w.Key("tracingConfiguration").BeginObject().Key("enabled").Bool(false).EndObject();
}

void WriteExecutionSummary(JsonWriter& w, const ExecutionRecord& e) {
  w.Key("executionArn").String(e.arn);
  w.Key("stateMachineArn").String(e.state_machine_arn);
  w.Key("name").String(e.name);
  w.Key("status").String(workflow::ExecutionStateName(e.state));
  w.Key("startDate").Raw(EpochSeconds(e.start_micros));
  if (e.stop_micros) w.Key("stopDate").Raw(EpochSeconds(*e.stop_micros));
}

// "arn:aws:states:::athena:startQueryExecution.sync" -> ("athena", "startQueryExecution.sync"):
// how Step Functions reports a service integration in task events. Other resources (a Lambda
// function ARN) keep the whole ARN, typed by their service.
std::pair<std::string, std::string> SplitResource(std::string_view resource) {
  for (std::string_view prefix : {"arn:aws:states:::", "arn:basin:states:::"}) {
    if (resource.starts_with(prefix)) {
      std::string_view rest = resource.substr(prefix.size());
      const size_t colon = rest.find(':');
      if (colon != std::string_view::npos) {
        return {std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
      }
    }
  }
  std::vector<std::string_view> parts = SplitColons(resource);
  return {parts.size() > 2 ? std::string(parts[2]) : std::string(), std::string(resource)};
}

// One history event in GetExecutionHistory's shape: epoch-second timestamp, task events with
// resourceType/resource, `inputDetails`/`outputDetails` beside the data, and the data dropped
// when the caller asked for no execution data.
std::string EventJson(const workflow::HistoryEvent& event, bool include_data,
                      std::string_view region) {
  JsonWriter w;
  w.BeginObject();
  w.Key("timestamp").Raw(EpochSeconds(event.timestamp_micros));
  w.Key("type").String(event.type);
  w.Key("id").Int(event.id);
  w.Key("previousEventId").Int(event.previous_event_id);
  if (!event.details_key.empty() && event.details.IsObject()) {
    workflow::JsonValue details = workflow::JsonValue::Object();
    const auto& keys = event.details.keys();
    const auto& values = event.details.items();
    const bool task_event = event.type.starts_with("Task") &&
                            !event.type.ends_with("StateEntered") &&
                            !event.type.ends_with("StateExited") && event.details.Has("resource");
    if (task_event && !event.details.Has("resourceType")) {
      auto [type, resource] = SplitResource(event.details.Find("resource")->AsString());
      details.Set("resourceType", workflow::JsonValue::String(std::move(type)));
      details.Set("resource", workflow::JsonValue::String(std::move(resource)));
      if (event.type == "TaskScheduled" && !event.details.Has("region")) {
        details.Set("region", workflow::JsonValue::String(std::string(region)));
      }
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      if (task_event && keys[i] == "resource") continue;
      const bool data = keys[i] == "input" || keys[i] == "output";
      if (data && !include_data) continue;
      details.Set(keys[i], values[i]);
      if (data && !event.details.Has(keys[i] + "Details")) {
        workflow::JsonValue truncated = workflow::JsonValue::Object();
        truncated.Set("truncated", workflow::JsonValue::Bool(false));
        details.Set(keys[i] + "Details", std::move(truncated));
      }
    }
    w.Key(event.details_key).Raw(details.Serialize());
  }
  w.EndObject();
  return w.Take();
}

// ---- The operations -------------------------------------------------------------------------

class Operations {
 public:
  explicit Operations(ExecutionService& service) : service_(service) {
    const std::string sample = service_.StateMachineArn("x");
    prefix_ = sample.substr(0, sample.size() - std::string_view("stateMachine:x").size());
    std::vector<std::string_view> parts = SplitColons(prefix_);
    region_ = parts.size() > 3 ? std::string(parts[3]) : "us-east-1";
  }

  Answer CreateStateMachine(const Input& in) {
    std::string_view name, definition;
    std::optional<std::string_view> role_arn, type;
    BASIN_SFN_TRY(in.Required("name", kMaxNameBytes, &name));
    BASIN_SFN_TRY(in.Required("definition", StepFunctionsApi::kMaxDefinitionBytes, &definition));
    BASIN_SFN_TRY(in.Optional("roleArn", kMaxArnBytes, &role_arn));
    BASIN_SFN_TRY(in.String("type", &type));
    BASIN_SFN_TRY(CheckName(name));
    BASIN_SFN_TRY(CheckRoleArn(role_arn));
    if (type && *type == "EXPRESS") {
      return SfnError{"StateMachineTypeNotSupported",
                      "Basin runs STANDARD state machines only; EXPRESS is not supported"};
    }
    if (type && *type != "STANDARD") {
      return Validation("1 validation error detected: Value '" + std::string(*type) +
                        "' at 'type' failed to satisfy constraint: Member must satisfy enum "
                        "value set: [STANDARD, EXPRESS]");
    }
    auto created = service_.CreateStateMachine(name, definition, role_arn.value_or(""));
    if (!created.ok()) {
      return FromStatus(created.status(), {"StateMachineDoesNotExist", "StateMachineAlreadyExists",
                                           "InvalidDefinition", "StateMachineLimitExceeded"});
    }
    JsonWriter w;
    w.BeginObject()
        .Key("stateMachineArn")
        .String(created->arn)
        .Key("creationDate")
        .Raw(EpochSeconds(created->creation_micros))
        .EndObject();
    return w.Take();
  }

  Answer UpdateStateMachine(const Input& in) {
    std::string_view arn;
    std::optional<std::string_view> definition, role_arn;
    BASIN_SFN_TRY(in.Required("stateMachineArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(in.Optional("definition", StepFunctionsApi::kMaxDefinitionBytes, &definition));
    BASIN_SFN_TRY(in.Optional("roleArn", kMaxArnBytes, &role_arn));
    BASIN_SFN_TRY(CheckStateMachineArn(arn));
    BASIN_SFN_TRY(CheckRoleArn(role_arn));
    if ((!definition || definition->empty()) && (!role_arn || role_arn->empty())) {
      return SfnError{"MissingRequiredParameter",
                      "Either the definition or the roleArn must be specified"};
    }
    BASIN_SFN_TRY(CheckOurs(arn, "StateMachineDoesNotExist"));
    // What is not given stays as it is.
    auto current = service_.DescribeStateMachine(arn);
    if (!current.ok()) return FromStatus(current.status(), MachineNames());
    const std::string_view new_definition =
        definition && !definition->empty() ? *definition : std::string_view(current->definition);
    const std::string_view new_role =
        role_arn && !role_arn->empty() ? *role_arn : std::string_view(current->role_arn);
    auto updated = service_.UpdateStateMachine(arn, new_definition, new_role);
    if (!updated.ok()) {
      return FromStatus(updated.status(), {"StateMachineDoesNotExist", "ConflictException",
                                           "InvalidDefinition", "ConflictException"});
    }
    JsonWriter w;
    w.BeginObject().Key("updateDate").Raw(EpochSeconds(updated->update_micros)).EndObject();
    return w.Take();
  }

  Answer DescribeStateMachine(const Input& in) {
    std::string_view arn;
    BASIN_SFN_TRY(in.Required("stateMachineArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(CheckStateMachineArn(arn));
    BASIN_SFN_TRY(CheckOurs(arn, "StateMachineDoesNotExist"));
    auto machine = service_.DescribeStateMachine(arn);
    if (!machine.ok()) return FromStatus(machine.status(), MachineNames());
    JsonWriter w;
    w.BeginObject();
    w.Key("stateMachineArn").String(machine->arn);
    w.Key("name").String(machine->name);
    w.Key("status").String("ACTIVE");
    w.Key("definition").String(machine->definition);
    w.Key("roleArn").String(machine->role_arn);
    w.Key("type").String(machine->type);
    w.Key("creationDate").Raw(EpochSeconds(machine->creation_micros));
    WriteConfigurations(w);
    w.EndObject();
    return w.Take();
  }

  Answer ListStateMachines(const Input& in) {
    size_t page = 0;
    std::optional<std::string_view> token;
    BASIN_SFN_TRY(in.PageSize(&page));
    BASIN_SFN_TRY(in.String("nextToken", &token));
    std::string after;  // the last name of the previous page
    if (token) BASIN_SFN_TRY(ReadToken(*token, 'M', "", &after));
    auto machines = service_.ListStateMachines();
    if (!machines.ok()) return FromStatus(machines.status(), MachineNames());
    std::sort(machines->begin(), machines->end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    JsonWriter w;
    w.BeginObject().Key("stateMachines").BeginArray();
    size_t written = 0;
    std::string last;
    bool more = false;
    for (const StateMachineRecord& m : *machines) {
      if (token && m.name <= after) continue;
      if (written == page) {
        more = true;
        break;
      }
      w.BeginObject();
      w.Key("stateMachineArn").String(m.arn);
      w.Key("name").String(m.name);
      w.Key("type").String(m.type);
      w.Key("creationDate").Raw(EpochSeconds(m.creation_micros));
      w.EndObject();
      last = m.name;
      ++written;
    }
    w.EndArray();
    if (more) w.Key("nextToken").String(MakeToken('M', "", last));
    w.EndObject();
    return w.Take();
  }

  Answer DeleteStateMachine(const Input& in) {
    std::string_view arn;
    BASIN_SFN_TRY(in.Required("stateMachineArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(CheckStateMachineArn(arn));
    if (!arn.starts_with(prefix_)) return std::string("{}");  // not ours: nothing to delete
    Status deleted = service_.DeleteStateMachine(arn);
    // As on AWS, deleting a state machine that does not exist succeeds.
    if (!deleted.ok() && deleted.code() != ErrorCode::kNotFound) {
      return FromStatus(deleted, {"StateMachineDoesNotExist", "ConflictException",
                                  "ValidationException", "ConflictException"});
    }
    return std::string("{}");
  }

  Answer StartExecution(const Input& in) {
    std::string_view arn;
    std::optional<std::string_view> name, input, trace_header;
    BASIN_SFN_TRY(in.Required("stateMachineArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(in.Optional("name", kMaxNameBytes, &name));
    BASIN_SFN_TRY(in.Optional("input", StepFunctionsApi::kMaxInputBytes, &input));
    BASIN_SFN_TRY(in.Optional("traceHeader", 256, &trace_header));
    BASIN_SFN_TRY(CheckStateMachineArn(arn));
    if (name) BASIN_SFN_TRY(CheckName(*name));
    BASIN_SFN_TRY(CheckOurs(arn, "StateMachineDoesNotExist"));
    const std::string_view input_text = input && !input->empty() ? *input : "{}";
    auto parsed = workflow::ParseJson(input_text, StepFunctionsApi::kMaxInputBytes);
    if (!parsed.ok()) {
      return SfnError{"InvalidExecutionInput",
                      "Invalid State Machine Execution Input: " + parsed.status().message()};
    }
    auto started = service_.StartExecution(arn, name ? *name : std::string_view(), input_text);
    if (!started.ok() && started.status().code() == ErrorCode::kAlreadyExists && name) {
      // Step Functions: the same name and input while the first execution is still running is
      // the same request again, and answers like it.
      auto existing = service_.DescribeExecution(ExecutionArnOf(arn, *name));
      if (existing.ok() && existing->state == workflow::ExecutionState::kRunning &&
          SameJson(existing->input, input_text)) {
        started = std::move(existing);
      }
    }
    if (!started.ok()) {
      return FromStatus(started.status(), {"StateMachineDoesNotExist", "ExecutionAlreadyExists",
                                           "InvalidExecutionInput", "ExecutionLimitExceeded"});
    }
    JsonWriter w;
    w.BeginObject()
        .Key("executionArn")
        .String(started->arn)
        .Key("startDate")
        .Raw(EpochSeconds(started->start_micros))
        .EndObject();
    return w.Take();
  }

  Answer DescribeExecution(const Input& in) {
    std::string_view arn;
    BASIN_SFN_TRY(in.Required("executionArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(CheckExecutionArn(arn));
    BASIN_SFN_TRY(CheckOurs(arn, "ExecutionDoesNotExist"));
    auto e = service_.DescribeExecution(arn);
    if (!e.ok()) return FromStatus(e.status(), ExecutionNames());
    JsonWriter w;
    w.BeginObject();
    WriteExecutionSummary(w, *e);
    w.Key("input").String(e->input);
    w.Key("inputDetails").BeginObject().Key("included").Bool(true).EndObject();
    if (e->output) {
      w.Key("output").String(*e->output);
      w.Key("outputDetails").BeginObject().Key("included").Bool(true).EndObject();
    }
    if (e->state != workflow::ExecutionState::kRunning &&
        e->state != workflow::ExecutionState::kSucceeded) {
      if (!e->error.empty()) w.Key("error").String(e->error);
      if (!e->cause.empty()) w.Key("cause").String(e->cause);
    }
    w.EndObject();
    return w.Take();
  }

  Answer ListExecutions(const Input& in) {
    std::optional<std::string_view> arn, status_filter, token, map_run;
    size_t page = 0;
    BASIN_SFN_TRY(in.Optional("stateMachineArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(in.String("statusFilter", &status_filter));
    BASIN_SFN_TRY(in.String("nextToken", &token));
    BASIN_SFN_TRY(in.String("mapRunArn", &map_run));
    BASIN_SFN_TRY(in.PageSize(&page));
    if (map_run) return Validation("Basin has no Distributed Map runs: mapRunArn is not supported");
    if (!arn || arn->empty()) return Validation("Must provide a StateMachine ARN or MapRun ARN");
    BASIN_SFN_TRY(CheckStateMachineArn(*arn));
    std::optional<workflow::ExecutionState> state;
    if (status_filter) {
      state = workflow::ParseExecutionState(*status_filter);
      if (!state) {
        return Validation("1 validation error detected: Value '" + std::string(*status_filter) +
                          "' at 'statusFilter' failed to satisfy constraint: Member must satisfy "
                          "enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED]");
      }
    }
    BASIN_SFN_TRY(CheckOurs(*arn, "StateMachineDoesNotExist"));
    const std::string context = std::string(*arn) + "|" + std::string(status_filter.value_or(""));
    std::string after;  // the ARN of the last execution of the previous page
    if (token) BASIN_SFN_TRY(ReadToken(*token, 'E', context, &after));
    // The first page reads one row more than it shows (is there a next page?); a later page
    // must find where the previous one ended, so it reads the list.
    const int64_t limit = token ? 0 : static_cast<int64_t>(page) + 1;
    auto executions = service_.ListExecutions(*arn, state, limit);
    if (!executions.ok()) return FromStatus(executions.status(), MachineNames());
    size_t begin = 0;
    if (token) {
      auto it = std::find_if(executions->begin(), executions->end(),
                             [&](const ExecutionRecord& e) { return e.arn == after; });
      if (it == executions->end()) {
        return SfnError{"InvalidToken", "Invalid Token: the page it continues is gone"};
      }
      begin = static_cast<size_t>(it - executions->begin()) + 1;
    }
    const size_t end = std::min(executions->size(), begin + page);
    JsonWriter w;
    w.BeginObject().Key("executions").BeginArray();
    for (size_t i = begin; i < end; ++i) {
      w.BeginObject();
      WriteExecutionSummary(w, (*executions)[i]);
      w.EndObject();
    }
    w.EndArray();
    if (end < executions->size()) {
      w.Key("nextToken").String(MakeToken('E', context, (*executions)[end - 1].arn));
    }
    w.EndObject();
    return w.Take();
  }

  Answer GetExecutionHistory(const Input& in) {
    std::string_view arn;
    std::optional<std::string_view> token;
    std::optional<bool> reverse, include_data;
    size_t page = 0;
    BASIN_SFN_TRY(in.Required("executionArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(in.String("nextToken", &token));
    BASIN_SFN_TRY(in.Bool("reverseOrder", &reverse));
    BASIN_SFN_TRY(in.Bool("includeExecutionData", &include_data));
    BASIN_SFN_TRY(in.PageSize(&page));
    BASIN_SFN_TRY(CheckExecutionArn(arn));
    BASIN_SFN_TRY(CheckOurs(arn, "ExecutionDoesNotExist"));
    const bool backwards = reverse.value_or(false);
    const std::string context = std::string(arn) + (backwards ? "|reverse" : "|forward");
    size_t begin = 0;  // index into the events in the order asked for
    if (token) {
      std::string position;
      BASIN_SFN_TRY(ReadToken(*token, 'H', context, &position));
      auto index = ParseIndex(position);
      if (!index) return SfnError{"InvalidToken", "Invalid Token: '" + std::string(*token) + "'"};
      begin = *index;
    }
    auto events = service_.GetExecutionHistory(arn);
    if (!events.ok()) return FromStatus(events.status(), ExecutionNames());
    if (backwards) std::reverse(events->begin(), events->end());
    if (begin > events->size()) {
      return SfnError{"InvalidToken", "Invalid Token: '" + std::string(*token) + "'"};
    }
    const size_t end = std::min(events->size(), begin + page);
    JsonWriter w;
    w.BeginObject().Key("events").BeginArray();
    for (size_t i = begin; i < end; ++i) {
      w.Raw(EventJson((*events)[i], include_data.value_or(true), region_));
    }
    w.EndArray();
    if (end < events->size())
      w.Key("nextToken").String(MakeToken('H', context, std::to_string(end)));
    w.EndObject();
    return w.Take();
  }

  Answer StopExecution(const Input& in) {
    std::string_view arn;
    std::optional<std::string_view> error, cause;
    BASIN_SFN_TRY(in.Required("executionArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(in.Optional("error", kMaxErrorBytes, &error));
    BASIN_SFN_TRY(in.Optional("cause", kMaxCauseBytes, &cause));
    BASIN_SFN_TRY(CheckExecutionArn(arn));
    BASIN_SFN_TRY(CheckOurs(arn, "ExecutionDoesNotExist"));
    auto stopped = service_.StopExecution(arn, error.value_or(""), cause.value_or(""));
    if (!stopped.ok()) return FromStatus(stopped.status(), ExecutionNames());
    JsonWriter w;
    w.BeginObject()
        .Key("stopDate")
        .Raw(EpochSeconds(stopped->stop_micros.value_or(stopped->start_micros)))
        .EndObject();
    return w.Take();
  }

  Answer DescribeStateMachineForExecution(const Input& in) {
    std::string_view arn;
    BASIN_SFN_TRY(in.Required("executionArn", kMaxArnBytes, &arn));
    BASIN_SFN_TRY(CheckExecutionArn(arn));
    BASIN_SFN_TRY(CheckOurs(arn, "ExecutionDoesNotExist"));
    auto e = service_.DescribeExecution(arn);
    if (!e.ok()) return FromStatus(e.status(), ExecutionNames());
    auto machine = service_.DescribeStateMachine(e->state_machine_arn);
    if (!machine.ok()) {
      return FromStatus(machine.status(), {"ExecutionDoesNotExist", "", "", ""});
    }
    JsonWriter w;
    w.BeginObject();
    w.Key("stateMachineArn").String(machine->arn);
    w.Key("name").String(machine->name);
    w.Key("definition").String(e->definition);  // the one it ran with, as on AWS
    w.Key("roleArn").String(machine->role_arn);
    w.Key("updateDate")
        .Raw(EpochSeconds(std::max(machine->update_micros, machine->creation_micros)));
    WriteConfigurations(w);
    w.EndObject();
    return w.Take();
  }

 private:
  static ErrorNames MachineNames() {
    return {"StateMachineDoesNotExist", "StateMachineAlreadyExists", "ValidationException",
            "ConflictException"};
  }
  static ErrorNames ExecutionNames() {
    return {"ExecutionDoesNotExist", "ExecutionAlreadyExists", "ValidationException",
            "ConflictException"};
  }

  // ARNs of another region or account name nothing here.
  std::optional<SfnError> CheckOurs(std::string_view arn, std::string_view not_found) const {
    if (arn.starts_with(prefix_)) return std::nullopt;
    const bool machine = not_found == "StateMachineDoesNotExist";
    return SfnError{std::string(not_found), std::string(machine ? "State Machine" : "Execution") +
                                                " Does Not Exist: '" + std::string(arn) + "'"};
  }

  static std::optional<SfnError> CheckRoleArn(std::optional<std::string_view> role_arn) {
    if (role_arn && !role_arn->empty() &&
        (!role_arn->starts_with("arn:") || SplitColons(*role_arn).size() < 6)) {
      return InvalidArn("Invalid Role Arn: '" + std::string(*role_arn) + "'");
    }
    return std::nullopt;
  }

  std::string ExecutionArnOf(std::string_view machine_arn, std::string_view name) const {
    auto parsed = ParseStatesArn(machine_arn);
    return std::string(parsed->prefix) + "execution:" + std::string(parsed->machine) + ":" +
           std::string(name);
  }

  static bool SameJson(std::string_view a, std::string_view b) {
    if (a == b) return true;
    auto x = workflow::ParseJson(a, StepFunctionsApi::kMaxInputBytes);
    auto y = workflow::ParseJson(b, StepFunctionsApi::kMaxInputBytes);
    return x.ok() && y.ok() && *x == *y;
  }

  ExecutionService& service_;
  std::string prefix_;  // "arn:aws:states:<region>:<account>:"
  std::string region_;
};

StepFunctionsAnswer ToAnswer(Answer answer) {
  StepFunctionsAnswer out;
  if (!answer.error) {
    out.body = std::move(answer.body);
    return out;
  }
  JsonWriter w;
  w.BeginObject()
      .Key("__type")
      .String(answer.error->type)
      .Key("message")
      .String(answer.error->message)
      .EndObject();
  out.status = answer.error->status;
  out.error_type = std::move(answer.error->type);
  out.body = w.Take();
  return out;
}

}  // namespace

HttpResponse StepFunctionsAnswer::ToHttpResponse(std::string_view request_id) const {
  HttpResponse response;
  response.status = status;
  response.content_type = std::string(StepFunctionsApi::kContentType);
  response.body = body;
  response.headers.emplace_back("x-amzn-RequestId", std::string(request_id));
  if (!ok()) response.headers.emplace_back("x-amzn-ErrorType", error_type);
  return response;
}

StepFunctionsApi::StepFunctionsApi(workflow::ExecutionService* service) : service_(service) {}

StepFunctionsAnswer StepFunctionsApi::Handle(std::string_view operation,
                                             std::string_view body) const {
  if (operation.starts_with(kTargetPrefix)) operation.remove_prefix(kTargetPrefix.size());
  if (service_ == nullptr) {
    return ToAnswer(SfnError{"ServiceUnavailable",
                             "Step Functions is not available here (no workflow service)", 503});
  }
  if (body.size() > kMaxBodyBytes) {
    return ToAnswer(Validation("the request body of " + std::to_string(body.size()) +
                               " bytes exceeds the limit of " + std::to_string(kMaxBodyBytes)));
  }
  if (body.empty()) body = "{}";
  thread_local dom::parser parser;
  dom::element document;
  dom::object object;
  if (parser.parse(body.data(), body.size(), true).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return ToAnswer(Serialization("the request body is not a JSON object"));
  }
  Input in(object);
  Operations ops(*service_);
  using Method = Answer (Operations::*)(const Input&);
  static const std::pair<std::string_view, Method> kOperations[] = {
      {"CreateStateMachine", &Operations::CreateStateMachine},
      {"UpdateStateMachine", &Operations::UpdateStateMachine},
      {"DescribeStateMachine", &Operations::DescribeStateMachine},
      {"ListStateMachines", &Operations::ListStateMachines},
      {"DeleteStateMachine", &Operations::DeleteStateMachine},
      {"StartExecution", &Operations::StartExecution},
      {"DescribeExecution", &Operations::DescribeExecution},
      {"ListExecutions", &Operations::ListExecutions},
      {"GetExecutionHistory", &Operations::GetExecutionHistory},
      {"StopExecution", &Operations::StopExecution},
      {"DescribeStateMachineForExecution", &Operations::DescribeStateMachineForExecution},
  };
  for (const auto& [name, method] : kOperations) {
    if (name == operation) return ToAnswer((ops.*method)(in));
  }
  return ToAnswer(SfnError{"UnknownOperationException",
                           "operation '" + std::string(operation) + "' is not supported"});
}

std::string StepFunctionsApi::ResourceOf(std::string_view operation, std::string_view body) const {
  if (operation.starts_with(kTargetPrefix)) operation.remove_prefix(kTargetPrefix.size());
  if (body.empty() || body.size() > kMaxBodyBytes) return "*";
  thread_local dom::parser parser;
  dom::element document;
  dom::object object;
  if (parser.parse(body.data(), body.size(), true).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return "*";
  }
  std::string_view value;
  for (std::string_view key : {"executionArn", "stateMachineArn"}) {
    if (object[key].get_string().get(value) == simdjson::SUCCESS && !value.empty()) {
      return std::string(value);
    }
  }
  if (operation == "CreateStateMachine" && service_ != nullptr &&
      object["name"].get_string().get(value) == simdjson::SUCCESS && ValidName(value)) {
    return service_->StateMachineArn(value);
  }
  return "*";
}

}  // namespace basin::api
