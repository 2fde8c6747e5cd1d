#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "workflow/json_value.h"
#include "workflow/state_error.h"

namespace basin::workflow {

// Limits that keep hostile expressions from crashing or hanging the engine.
inline constexpr size_t kMaxJsonataExpressionBytes = size_t{64} * 1024;
inline constexpr int kMaxJsonataParseDepth = 256;
inline constexpr int kDefaultJsonataMaxDepth = 400;
inline constexpr int64_t kDefaultJsonataMaxSteps = 2'000'000;
inline constexpr size_t kMaxJsonataStringBytes = size_t{1} << 20;
inline constexpr int64_t kMaxJsonataRangeSize = 100'000;
// Arrays/objects an expression builds may nest this deep (parsed JSON input: kMaxJsonDepth).
inline constexpr uint32_t kMaxJsonataValueDepth = 1000;

namespace jsonata {
struct Node;
}

// Variables visible to an expression, by name without the `$` (Step Functions binds "states"
// and the workflow variables).
using JsonataBindings = std::map<std::string, JsonValue, std::less<>>;

struct JsonataOptions {
  // $now() and $millis(); SystemClock when null. One reading per evaluation, as in JSONata.
  const Clock* clock = nullptr;
  // Drives $random() without a seed, $shuffle and $uuid; a fresh random_device seed when null.
  // Not synchronised: do not share one generator between concurrent evaluations.
  std::mt19937_64* rng = nullptr;
  // Each node evaluation and each element/KiB a function produces costs a step.
  int64_t max_steps = kDefaultJsonataMaxSteps;
  // Nesting of evaluation (including lambda calls) before the evaluation stops. Each level can
  // take ~2.5 KiB of C++ stack, so 400 stays near 1 MiB.
  int max_depth = kDefaultJsonataMaxDepth;
};

// A parsed JSONata expression: parse once, evaluate many times. Immutable and thread-safe
// (each Evaluate call has its own state).
class JsonataExpression {
 public:
  ~JsonataExpression();
  JsonataExpression(const JsonataExpression&) = delete;
  JsonataExpression& operator=(const JsonataExpression&) = delete;

  // Evaluates against `input` (the context `$` and root `$$`). nullopt = JSONata "undefined"
  // (nothing matched). Runtime failures (type errors, unknown functions, limits) raise
  // States.QueryEvaluationError with a cause "<code>: <message> (at position N)".
  Outcome<std::optional<JsonValue>> Evaluate(const JsonValue& input,
                                             const JsonataBindings& variables = {},
                                             const JsonataOptions& options = {}) const;

  const std::string& text() const { return text_; }

 private:
  friend Result<std::shared_ptr<const JsonataExpression>> ParseJsonata(std::string_view text);
  JsonataExpression(std::string text, std::unique_ptr<jsonata::Node> root);

  std::string text_;
  std::unique_ptr<jsonata::Node> root_;
};

// Errors: kInvalidDefinition, with the 0-based character position of the problem, for syntax
// errors, unsupported syntax and texts longer than kMaxJsonataExpressionBytes or nested deeper
// than kMaxJsonataParseDepth.
Result<std::shared_ptr<const JsonataExpression>> ParseJsonata(std::string_view text);

// Step Functions JSONata templates: a string value that starts with "{%" and ends with "%}" is an
// expression (the whole string; "a {% b %}" is a plain string), anywhere inside objects/arrays.
bool IsJsonataTemplateString(std::string_view text);

// Checks every expression of a template parses. kInvalidDefinition names the JSON pointer of
// the bad string, e.g. "/Arguments/items/2: ...".
Status ValidateJsonataTemplate(const JsonValue& value);

// Evaluates every expression of a template and returns the resulting JSON. A parse error, a
// runtime error or an undefined result raises States.QueryEvaluationError naming the pointer.
Outcome<JsonValue> EvaluateJsonataTemplate(const JsonValue& value, const JsonValue& input,
                                           const JsonataBindings& variables = {},
                                           const JsonataOptions& options = {});

}  // namespace basin::workflow
