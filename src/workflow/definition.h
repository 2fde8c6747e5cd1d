#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "workflow/json_path.h"
#include "workflow/json_value.h"

namespace basin::workflow {

// The largest number of seconds any duration field may hold (AWS's TimeoutSeconds maximum); it
// also keeps every seconds-to-microseconds conversion far from int64 overflow.
inline constexpr int64_t kMaxDurationSeconds = 99'999'999;

enum class StateType { kPass, kTask, kChoice, kWait, kSucceed, kFail, kParallel, kMap };

std::string_view StateTypeName(StateType type);

// InputPath / OutputPath / ResultPath: absent (the default applies), JSON null, or a path.
// The defaults and the meaning of null differ per field, so the field keeps all three.
struct OptionalPath {
  bool present = false;
  bool is_null = false;
  std::optional<JsonPath> path;
};

// One Retry entry. Counters live in the interpreter, one per retrier.
struct Retrier {
  std::vector<std::string> error_equals;
  double interval_seconds = 1;
  int64_t max_attempts = 3;
  double backoff_rate = 2.0;
  std::optional<double> max_delay_seconds;
  bool full_jitter = false;
};

struct Catcher {
  std::vector<std::string> error_equals;
  std::string next;
  OptionalPath result_path;  // default `$`; null discards the error output
};

// A Choice rule: And/Or/Not combinators, or `Variable` + one comparison operator. Only top-level
// rules carry `next`.
struct ChoiceRule {
  enum class Kind { kAnd, kOr, kNot, kCompare };
  Kind kind = Kind::kCompare;
  std::vector<ChoiceRule> children;
  std::optional<JsonPath> variable;
  std::string op;                        // e.g. "NumericLessThan", "StringEqualsPath"
  JsonValue operand;                     // the literal for non-Path operators
  std::optional<JsonPath> operand_path;  // for *Path operators
  std::string next;
};

struct StateMachine;

// One parsed state. Fields not used by a state's type stay empty; the parser has already
// rejected fields a type does not allow. Payload templates (Parameters, ResultSelector,
// ItemSelector) are kept as JSON and evaluated by the interpreter.
struct State {
  std::string name;
  StateType type = StateType::kPass;
  std::string next;
  bool end = false;
  OptionalPath input_path, output_path, result_path;
  std::optional<JsonValue> parameters, result_selector, result;
  // Task
  std::string resource;
  std::optional<int64_t> timeout_seconds, heartbeat_seconds;
  std::optional<JsonPath> timeout_seconds_path, heartbeat_seconds_path;
  std::vector<Retrier> retry;
  std::vector<Catcher> catchers;
  // Choice
  std::vector<ChoiceRule> choices;
  std::string default_next;
  // Wait
  std::optional<int64_t> seconds;
  std::optional<int64_t> timestamp_micros;
  std::optional<JsonPath> seconds_path, timestamp_path;
  // Fail: literals or, for the *Path forms, a path or intrinsic text.
  std::optional<std::string> error, cause, error_path, cause_path;
  // Parallel
  std::vector<std::shared_ptr<StateMachine>> branches;
  // Map
  std::shared_ptr<StateMachine> processor;
  std::optional<JsonPath> items_path;
  std::optional<JsonValue> item_selector;
  int64_t max_concurrency = 0;
  std::optional<double> tolerated_failure_percentage;
  std::optional<int64_t> tolerated_failure_count;
};

// A parsed state machine (top level, a Parallel branch or a Map processor). Immutable after
// parsing; safe to share between executions and threads.
struct StateMachine {
  std::string start_at;
  std::optional<int64_t> timeout_seconds;
  std::vector<State> states;
  std::map<std::string, size_t, std::less<>> index;

  const State* Find(std::string_view name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &states[it->second];
  }
};

// A problem in a definition, located by a JSON Pointer-like path, e.g. "/States/Foo/Next".
struct ValidationError {
  std::string pointer;
  std::string message;
};

// Everything the parser found: a machine (meaningful only when errors is empty) and the errors.
struct ParsedDefinition {
  std::shared_ptr<StateMachine> machine;
  std::vector<ValidationError> errors;
};

// Parses and validates an ASL (JSONPath query language) document. Checks: JSON syntax and the
// 256 KiB limit, StartAt present and known, known state types and the fields each allows,
// Next/End rules, Next targets exist, unreachable states, states that can never reach a
// terminal state (loops with no exit), Retry/Catch shape and States.ALL placement, paths and
// payload templates, Choice rule shape and operand types, nested Parallel/Map machines.
ParsedDefinition ParseDefinition(std::string_view text);
ParsedDefinition ParseDefinition(const JsonValue& document);

// ParseDefinition folded into a Result: kMalformedJson / kPayloadTooLarge for bad text,
// kValidationFailed with every "pointer: message" joined by "; " for invalid documents.
Result<std::shared_ptr<StateMachine>> LoadDefinition(std::string_view text);

// Checks a payload template (Parameters/ResultSelector/ItemSelector): every `.$` key holds a
// valid path or intrinsic, and no key repeats after the `.$` suffix is dropped. Appends errors.
void ValidatePayloadTemplate(const JsonValue& tpl, const std::string& pointer,
                             std::vector<ValidationError>& errors);

// Strict RFC 3339 timestamp as ASL requires (uppercase T and Z or an offset). Epoch micros.
std::optional<int64_t> ParseAslTimestamp(std::string_view text);

}  // namespace basin::workflow
