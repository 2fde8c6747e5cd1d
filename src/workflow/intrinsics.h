#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "workflow/json_path.h"
#include "workflow/json_value.h"
#include "workflow/state_error.h"

namespace basin::workflow {

// AWS allows at most this many nested intrinsic calls in one field.
inline constexpr int kMaxIntrinsicNesting = 10;

// A parsed intrinsic function call such as `States.Format('{} {}', $.a, States.UUID())`.
// Arguments are string literals ('...' with \' \{ \} \\ escapes), numbers, true/false, null,
// paths ($... or $$...) and nested calls. Immutable and thread-safe after parsing.
class IntrinsicCall {
 public:
  struct Arg {
    enum class Kind { kLiteral, kPath, kCall };
    Kind kind = Kind::kLiteral;
    JsonValue literal;
    // For string literals, the text between the quotes before unescaping: States.Format needs
    // to tell an escaped \{ from a placeholder.
    std::string raw;
    std::shared_ptr<JsonPath> path;
    std::shared_ptr<IntrinsicCall> call;
  };

  // True when a string looks like an intrinsic call (starts with "States.").
  static bool Looks(std::string_view text);
  // Errors: kInvalidArgument for syntax errors, unknown functions and wrong argument counts that
  // can be seen without evaluating.
  static Result<IntrinsicCall> Parse(std::string_view text);

  const std::string& name() const { return name_; }
  const std::vector<Arg>& args() const { return args_; }

 private:
  std::string name_;
  std::vector<Arg> args_;
  friend class IntrinsicParser;
};

// What an intrinsic can read and the randomness it uses. `rng` drives States.UUID and unseeded
// States.MathRandom; seed it in tests for deterministic output. Not thread-safe (the generator).
struct IntrinsicEnv {
  const JsonValue* input = nullptr;    // $
  const JsonValue* context = nullptr;  // $$
  std::mt19937_64* rng = nullptr;
};

// Evaluates a parsed call. Wrong argument types/counts/values, failing paths or nested calls
// raise States.IntrinsicFailure.
Outcome<JsonValue> EvaluateIntrinsic(const IntrinsicCall& call, const IntrinsicEnv& env);
// Parses and evaluates; a syntax error also raises States.IntrinsicFailure.
Outcome<JsonValue> EvaluateIntrinsic(std::string_view text, const IntrinsicEnv& env);

}  // namespace basin::workflow
