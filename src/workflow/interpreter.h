#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "workflow/definition.h"
#include "workflow/json_value.h"
#include "workflow/state_error.h"

namespace basin::workflow {

// What the interpreter hands a task: the Resource URI and the effective parameters.
struct TaskRequest {
  std::string resource;
  JsonValue input;
  std::string state_name;
  int64_t attempt = 0;  // 0 for the first try, then 1, 2, ... for retries
  std::optional<int64_t> timeout_seconds;
  std::optional<int64_t> heartbeat_seconds;
  // Set when the call reads the items of a Map's ItemReader rather than running a Task: the
  // runner answers a JSON array of items. `resource` is the ItemReader's Resource, `input` its
  // evaluated Parameters/Arguments and `reader_config` its ReaderConfig ({} when absent).
  bool item_reader = false;
  JsonValue reader_config;
};

// Runs Task states. Implementations: Basin task resources (later), fakes in tests. A failure is a
// StateError (Error/Cause) that Retry/Catch see. A runner that takes time moves the Clock it
// shares with the interpreter; the interpreter compares the elapsed time with TimeoutSeconds and
// HeartbeatSeconds afterwards (there is no heartbeat channel yet, so a run longer than
// HeartbeatSeconds counts as missed heartbeats). Called from the interpreter's thread only.
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual Outcome<JsonValue> Run(const TaskRequest& request) = 0;
};

// How the interpreter waits (Wait states, Retry intervals). Tests use FakeClockSleeper so that
// waiting just moves a FakeClock and costs no real time.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void SleepUntil(int64_t epoch_micros) = 0;
};

// Moves a FakeClock forward instead of sleeping.
class FakeClockSleeper final : public Sleeper {
 public:
  explicit FakeClockSleeper(FakeClock& clock) : clock_(clock) {}
  void SleepUntil(int64_t epoch_micros) override;

 private:
  FakeClock& clock_;
};

// Sleeps the calling thread until the wall clock reaches the time.
class RealSleeper final : public Sleeper {
 public:
  void SleepUntil(int64_t epoch_micros) override;
};

// One entry of the execution history, shaped like a GetExecutionHistory event:
// {"id", "previousEventId", "timestamp", "type", "<detailsKey>": {...}}.
struct HistoryEvent {
  int64_t id = 0;
  int64_t previous_event_id = 0;
  int64_t timestamp_micros = 0;
  std::string type;         // e.g. "TaskStateEntered"
  std::string details_key;  // e.g. "stateEnteredEventDetails"; empty when there are none
  JsonValue details;

  JsonValue ToJson() const;
};

enum class ExecutionStatus { kSucceeded, kFailed, kTimedOut, kAborted };

// Where a top-level execution stands between two of its states: enough to resume it after a
// restart. Emitted after each top-level state exits (nested Parallel/Map states do not
// checkpoint: a resume re-runs the whole top-level state that was in flight).
struct Checkpoint {
  std::string next_state;                     // the top-level state to enter next
  JsonValue input;                            // that state's input
  JsonValue variables = JsonValue::Object();  // top-level Assign variables (JSONata/JSONPath)
  int64_t transitions = 0;                    // state entries so far (max_state_transitions)
  int64_t next_event_id = 1;                  // the id the next history event gets
};

// Watches one execution as it runs. Called on the interpreter's thread.
class ExecutionObserver {
 public:
  virtual ~ExecutionObserver() = default;
  // Every history event, in order, as soon as it is emitted.
  virtual void OnEvent(const HistoryEvent& event) = 0;
  // After each top-level state exits and before the next one is entered.
  virtual void OnCheckpoint(const Checkpoint& checkpoint) = 0;
  // Polled before each state, after each task and after each sleep. A value ends the execution
  // as kAborted with an ExecutionAborted event carrying that error and cause (either may be
  // empty, as StopExecution allows). A Sleeper that should be interruptible must return early
  // when a stop is requested.
  virtual std::optional<StateError> StopRequested() = 0;
};

// The end of one execution: output for kSucceeded, error and cause otherwise.
struct ExecutionResult {
  ExecutionStatus status = ExecutionStatus::kFailed;
  JsonValue output;
  std::string error;
  std::string cause;
  std::vector<HistoryEvent> history;
};

struct InterpreterOptions {
  Clock* clock = nullptr;             // required
  Sleeper* sleeper = nullptr;         // required
  TaskRunner* task_runner = nullptr;  // required when the machine has Task states
  // Seeds States.UUID, unseeded States.MathRandom and FULL jitter.
  uint64_t random_seed = 0;
  // Guards against loops that never end: more state entries than this fail the execution with
  // States.Runtime. AWS caps a history at 25,000 events.
  int64_t max_state_transitions = 25000;
  std::string execution_name = "execution";
  std::string state_machine_name = "StateMachine";
  std::string role_arn = "arn:aws:iam::000000000000:role/basin-workflow";
  // Ids in the context object ($$.Execution.Id, $$.StateMachine.Id); derived from the names and
  // account 000000000000 / us-east-1 when empty.
  std::string execution_arn;
  std::string state_machine_arn;
  ExecutionObserver* observer = nullptr;  // optional
  // Keep every event in ExecutionResult::history. A caller whose observer persists the events
  // turns it off: a long execution's history would otherwise stay in memory while it runs.
  bool keep_history = true;
};

// Runs a parsed state machine (JSONPath and JSONata states) to completion on the calling thread.
// Map iterations and Parallel branches run one after another (sequential execution is a valid
// schedule for both). Holds no state between Execute calls except the random generator; not
// thread-safe.
class Interpreter {
 public:
  Interpreter(std::shared_ptr<const StateMachine> machine, InterpreterOptions options);

  ExecutionResult Execute(const JsonValue& input);

  // Continues an execution from a checkpoint (after a restart). `execution_input` and
  // `start_micros` are the original execution's ($$.Execution.Input/StartTime, the machine's
  // TimeoutSeconds deadline). No ExecutionStarted event; the result's history holds only the
  // events of this run, numbered from checkpoint.next_event_id.
  ExecutionResult Resume(const JsonValue& execution_input, int64_t start_micros,
                         const Checkpoint& checkpoint);

 private:
  std::shared_ptr<const StateMachine> machine_;
  InterpreterOptions options_;
  std::mt19937_64 rng_;
};

// Retry delay (seconds, before jitter) for the n-th retry (n >= 1) of a retrier:
// min(IntervalSeconds * BackoffRate^(n-1), MaxDelaySeconds).
double RetryDelaySeconds(const Retrier& retrier, int64_t n);

// True when an error name matches an ErrorEquals entry. States.ALL matches everything except
// States.Runtime and States.DataLimitExceeded; States.TaskFailed matches everything except
// those two and States.Timeout.
bool ErrorMatches(std::string_view pattern, std::string_view error);

// Glob matching for StringMatches: `*` matches any run; `\*` and `\\` are literals.
bool StringMatchesPattern(std::string_view text, std::string_view pattern);

}  // namespace basin::workflow
