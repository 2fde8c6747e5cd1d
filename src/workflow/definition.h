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

// How a state reads and shapes data: JSONPath (InputPath/Parameters/... and `.$` keys) or JSONata
// (`{% %}` expressions in Arguments/Output/...). Set per machine and overridable per state.
enum class QueryLanguage { kJsonPath, kJsonata };

std::string_view StateTypeName(StateType type);

// InputPath / OutputPath / ResultPath: absent (the default applies), JSON null, or a path.
// The defaults and the meaning of null differ per field, so the field keeps all three.
struct OptionalPath {
  bool present = false;
  bool is_null = false;
  std::optional<JsonPath> path;
};

// A JSONPath Path that may also start at a workflow variable: `$name`, `$name.field[0]`. For a
// variable, `path` is the rest of the text rooted at `$` (applied to the variable's value).
struct DataPath {
  std::string variable;  // empty for `$...` and `$$...` paths
  JsonPath path;
  std::string text;
  bool is_definite() const { return path.is_definite(); }
};

// Parses a Path or a variable path. Errors: kInvalidArgument with the reason.
Result<DataPath> ParseDataPath(std::string_view text);

// Workflow variable names (Assign keys): ASCII letters, digits and `_`, not starting with a
// digit, at most 80 characters, and not the reserved `states`.
bool IsValidVariableName(std::string_view name);

// Intrinsic arguments may name variables (`States.Format('{}', $name.field)`). The intrinsic
// evaluator knows only `$` and `$$`, so such references are rewritten to
// `$$.BasinVariables.name.field` and the interpreter puts the visible variables into the context
// object under that key. Sets `*rewritten` when something changed.
inline constexpr char kIntrinsicVariablesKey[] = "BasinVariables";
std::string RewriteIntrinsicVariables(std::string_view text, bool* rewritten = nullptr);

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
  OptionalPath result_path;         // JSONPath: default `$`; null discards the error output
  std::optional<JsonValue> output;  // JSONata: default $states.errorOutput
  std::optional<JsonValue> assign;  // both languages
};

// A Choice rule: And/Or/Not combinators, `Variable` + one comparison operator (JSONPath), or a
// JSONata `Condition`. Only top-level rules carry `next`, `output` and `assign`.
struct ChoiceRule {
  enum class Kind { kAnd, kOr, kNot, kCompare, kCondition };
  Kind kind = Kind::kCompare;
  std::vector<ChoiceRule> children;
  std::optional<DataPath> variable;
  std::string op;                        // e.g. "NumericLessThan", "StringEqualsPath"
  JsonValue operand;                     // the literal for non-Path operators
  std::optional<DataPath> operand_path;  // for *Path operators
  JsonValue condition;                   // kCondition: `true`/`false` or a "{% %}" string
  std::string next;
  std::optional<JsonValue> output;  // JSONata only
  std::optional<JsonValue> assign;
};

// A Map state's ItemReader: the task runner reads the items (TaskRequest::item_reader).
struct ItemReader {
  std::string resource;
  std::optional<JsonValue> parameters;  // JSONPath Parameters or JSONata Arguments (templates)
  JsonValue reader_config = JsonValue::Object();  // as written, minus MaxItems/MaxItemsPath
  std::optional<JsonValue> max_items;             // an integer or (JSONata) a "{% %}" string
  std::optional<DataPath> max_items_path;         // JSONPath ReaderConfig.MaxItemsPath
};

struct StateMachine;

// One parsed state. Fields not used by a state's type stay empty; the parser has already
// rejected fields a type does not allow. Payload templates (Parameters, ResultSelector,
// ItemSelector) are kept as JSON and evaluated by the interpreter.
struct State {
  std::string name;
  StateType type = StateType::kPass;
  QueryLanguage query_language = QueryLanguage::kJsonPath;
  std::string next;
  bool end = false;
  // Whether any of the state's own expressions can read the context object (`$$`, or
  // `$states.context` in JSONata); nested Map/Parallel machines have their own flag. When it is
  // false the interpreter skips building the context, whose copy of the execution input would
  // make a Map over that input quadratic.
  bool reads_context = true;
  OptionalPath input_path, output_path, result_path;
  std::optional<JsonValue> parameters, result_selector, result;
  // JSONata: Arguments (Task, Parallel) and Output; Assign in both languages (JSONPath: a
  // payload template whose `.$` keys are evaluated).
  std::optional<JsonValue> arguments, output, assign;
  // Task
  std::string resource;
  std::optional<int64_t> timeout_seconds, heartbeat_seconds;
  std::optional<DataPath> timeout_seconds_path, heartbeat_seconds_path;
  std::optional<JsonValue> timeout_seconds_expr, heartbeat_seconds_expr;  // JSONata "{% %}"
  std::vector<Retrier> retry;
  std::vector<Catcher> catchers;
  // Choice
  std::vector<ChoiceRule> choices;
  std::string default_next;
  // Wait
  std::optional<int64_t> seconds;
  std::optional<int64_t> timestamp_micros;
  std::optional<DataPath> seconds_path, timestamp_path;
  std::optional<JsonValue> seconds_expr, timestamp_expr;  // JSONata "{% %}"
  // Fail: literals or, for the *Path forms, a path or intrinsic text. In JSONata states Error and
  // Cause may be "{% %}" expressions.
  std::optional<std::string> error, cause, error_path, cause_path;
  // Parallel
  std::vector<std::shared_ptr<StateMachine>> branches;
  // Map
  std::shared_ptr<StateMachine> processor;
  std::optional<DataPath> items_path;
  std::optional<JsonValue> items;  // JSONata Items: an array or a "{% %}" string
  std::optional<JsonValue> item_selector;
  std::optional<ItemReader> item_reader;
  int64_t max_concurrency = 0;
  std::optional<double> tolerated_failure_percentage;
  std::optional<int64_t> tolerated_failure_count;
  // JSONata "{% %}" forms of the two tolerances, evaluated when the Map starts.
  std::optional<JsonValue> tolerated_failure_percentage_expr, tolerated_failure_count_expr;
  // JSONPath MaxConcurrencyPath / ToleratedFailure{Percentage,Count}Path, read when the Map runs.
  std::optional<DataPath> max_concurrency_path, tolerated_failure_percentage_path,
      tolerated_failure_count_path;
};

// A parsed state machine (top level, a Parallel branch or a Map processor). Immutable after
// parsing; safe to share between executions and threads.
struct StateMachine {
  std::string start_at;
  QueryLanguage query_language = QueryLanguage::kJsonPath;  // the default of its states
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

// Parses and validates an ASL document (JSONPath and JSONata states). Checks: JSON syntax and the
// 256 KiB limit, StartAt present and known, known state types and the fields each allows (per
// query language), Next/End rules, Next targets exist, unreachable states, states that can never
// reach a terminal state (loops with no exit), Retry/Catch shape and States.ALL placement, paths
// and payload templates, every "{% %}" expression, Assign names (and that a Parallel branch or
// Map processor does not assign a variable of an enclosing scope), Choice rule shape and operand
// types, ItemReader, nested Parallel/Map machines.
ParsedDefinition ParseDefinition(std::string_view text);
ParsedDefinition ParseDefinition(const JsonValue& document);

// ParseDefinition folded into a Result: kMalformedJson / kPayloadTooLarge for bad text,
// kValidationFailed with every "pointer: message" joined by "; " for invalid documents.
Result<std::shared_ptr<StateMachine>> LoadDefinition(std::string_view text);

// Checks a payload template (Parameters/ResultSelector/ItemSelector/Assign): every `.$` key holds
// a valid path (or variable path) or intrinsic, and no key repeats after the `.$` suffix is
// dropped. Appends errors.
void ValidatePayloadTemplate(const JsonValue& tpl, const std::string& pointer,
                             std::vector<ValidationError>& errors);

// Checks that every "{% %}" string inside `value` parses as JSONata; each bad one is an error at
// `pointer` + its JSON pointer inside `value`.
void ValidateJsonataExpressions(const JsonValue& value, const std::string& pointer,
                                std::vector<ValidationError>& errors);

// Strict RFC 3339 timestamp as ASL requires (uppercase T and Z or an offset). Epoch micros.
std::optional<int64_t> ParseAslTimestamp(std::string_view text);

}  // namespace basin::workflow
