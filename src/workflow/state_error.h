#pragma once

#include <optional>
#include <string>
#include <utility>

#include "base/assert.h"

namespace basin::workflow {

// ASL error names the engine raises (SPEC "Errors" plus the two AWS additions).
inline constexpr char kErrAll[] = "States.ALL";
inline constexpr char kErrTimeout[] = "States.Timeout";
inline constexpr char kErrHeartbeatTimeout[] = "States.HeartbeatTimeout";
inline constexpr char kErrTaskFailed[] = "States.TaskFailed";
inline constexpr char kErrResultPathMatchFailure[] = "States.ResultPathMatchFailure";
inline constexpr char kErrParameterPathFailure[] = "States.ParameterPathFailure";
inline constexpr char kErrBranchFailed[] = "States.BranchFailed";
inline constexpr char kErrNoChoiceMatched[] = "States.NoChoiceMatched";
inline constexpr char kErrIntrinsicFailure[] = "States.IntrinsicFailure";
inline constexpr char kErrDataLimitExceeded[] = "States.DataLimitExceeded";
inline constexpr char kErrRuntime[] = "States.Runtime";
inline constexpr char kErrExceedToleratedFailureThreshold[] =
    "States.ExceedToleratedFailureThreshold";
// A JSONata expression failed or yielded nothing (undefined).
inline constexpr char kErrJsonataQueryEvaluation[] = "States.QueryEvaluationError";
inline constexpr char kErrItemReaderFailed[] = "States.ItemReaderFailed";

// A runtime error of a state machine: an ASL error name and a human-readable cause. This is data
// the workflow itself can Retry/Catch, not a Basin Status.
struct StateError {
  std::string error;
  std::string cause;
};

// A value or the StateError that stopped it; the engine's Result<T> for ASL runtime failures.
template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : value_(std::move(value)) {}           // NOLINT
  Outcome(StateError error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const StateError& error() const { return error_; }
  T& value() & {
    BASIN_CHECK(ok());
    return *value_;
  }
  const T& value() const& {
    BASIN_CHECK(ok());
    return *value_;
  }
  T&& value() && {
    BASIN_CHECK(ok());
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
  StateError error_;
};

inline StateError MakeError(std::string error, std::string cause) {
  return StateError{std::move(error), std::move(cause)};
}

}  // namespace basin::workflow

#define WF_ASSIGN_OR_RAISE(lhs, expr) \
  WF_ASSIGN_OR_RAISE_IMPL(BASIN_CONCAT(wf_outcome_, __LINE__), lhs, expr)
#define WF_ASSIGN_OR_RAISE_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return tmp.error();            \
  lhs = std::move(tmp).value()
