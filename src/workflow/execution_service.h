#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "workflow/definition.h"
#include "workflow/interpreter.h"
#include "workflow/schedule.h"

namespace basin::catalog {
class Catalog;
}

namespace basin::workflow {

// The Step Functions names for the things the service keeps. ARNs use `region` and `account` of
// the options: arn:aws:states:<region>:<account>:stateMachine:<name> and
// arn:aws:states:<region>:<account>:execution:<machine>:<execution>.
struct StateMachineRecord {
  std::string name;
  std::string arn;
  std::string definition;  // the ASL text as given
  std::string role_arn;
  std::string type = "STANDARD";
  int64_t creation_micros = 0;
  int64_t update_micros = 0;
};

enum class ExecutionState { kRunning, kSucceeded, kFailed, kTimedOut, kAborted };

// "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED".
std::string_view ExecutionStateName(ExecutionState state);
std::optional<ExecutionState> ParseExecutionState(std::string_view name);

struct ExecutionRecord {
  std::string arn;
  std::string name;
  std::string state_machine_arn;
  std::string definition;  // the ASL text it runs with (later updates of the machine do not count)
  ExecutionState state = ExecutionState::kRunning;
  std::string input;                  // JSON text
  std::optional<std::string> output;  // JSON text, when SUCCEEDED
  std::string error, cause;           // when FAILED, TIMED_OUT or ABORTED (may be empty)
  int64_t start_micros = 0;
  std::optional<int64_t> stop_micros;
  int64_t resume_count = 0;  // times it was resumed after a restart
};

// An EventBridge Scheduler schedule that starts a state machine (the fields of CreateSchedule
// that matter here, plus Basin's missed-run policy).
struct ScheduleRecord {
  std::string name;
  std::string expression;         // rate(...), cron(...), at(...)
  std::string timezone = "UTC";   // IANA name
  std::string state_machine_arn;  // Target.Arn
  std::string input = "{}";       // Target.Input (JSON text)
  bool enabled = true;            // State ENABLED / DISABLED
  MissedRunPolicy missed_runs = MissedRunPolicy::kRunOnce;
  std::optional<int64_t> last_run_micros;  // the last fire time that was started (persisted)
  // Filled by ListSchedules: the next fire time after now (none when disabled or past an at()).
  std::optional<int64_t> next_run_micros;
};

struct ExecutionServiceOptions {
  catalog::Catalog* catalog = nullptr;  // required; executions and history persist here
  Clock* clock = nullptr;               // required
  // Makes the runner for one execution (called on the execution's thread). Required to run
  // machines with Task states or Map ItemReaders.
  std::function<std::unique_ptr<TaskRunner>()> make_task_runner;
  // Resources the task runner cannot run here: validation errors with JSON pointers, checked by
  // CreateStateMachine/UpdateStateMachine. Optional.
  std::function<std::vector<ValidationError>(const StateMachine&)> check_resources;
  // Whether re-running a Task with this resource after a crash is safe (see Open). Optional:
  // when absent every resource counts as unsafe.
  std::function<bool(std::string_view resource)> resource_is_idempotent;
  // Sleeps of Wait states and retries. When null the service uses an interruptible real-time
  // sleeper (StopExecution and Shutdown wake it). Tests pass a FakeClockSleeper.
  Sleeper* sleeper = nullptr;
  int64_t max_running_executions = 64;  // StartExecution beyond this: kConflict (limit)
  // One process runs a data directory's executions and schedules: the one holding an exclusive
  // flock on this file (the server passes <data_dir>/workflows.lock). A service that finds it
  // held elsewhere opens as an observer: no resume, no scheduler; state machines can be created,
  // changed and read, executions and history read; StartExecution, StopExecution,
  // WaitForExecution and RunDueSchedules answer kUnavailable pointing at the server's endpoint.
  // Empty: this service is always the runner (tests).
  std::string lock_path;
  // Never take the lock: open as an observer even when no process runs the executions (and even
  // without a lock_path). For a process that only defines and reads (`basin workflow list`): it
  // must neither resume another process's executions nor keep a `basin workflow start` from
  // taking the lock meanwhile.
  bool observe_only = false;
  std::string region = "us-east-1";
  std::string account = "000000000000";
};

// State machines, their executions and schedules, persisted in the catalog (the control plane),
// each execution run on its own thread by the Interpreter. Thread-safe.
//
// Errors (Basin codes; the Step Functions API maps them to AWS exception names):
//   kNotFound            no such state machine / execution / schedule
//   kAlreadyExists       a state machine name with a different definition, an execution name
//                        already used for that state machine, a schedule name in use
//   kValidationFailed    an invalid definition ("<pointer>: <message>; ..."), a bad name/ARN,
//                        an unknown resource, a bad schedule expression
//   kPayloadTooLarge     execution input over 256 KiB
//   kConflict            too many running executions (ExecutionLimitExceeded), deleting a
//                        machine that has running executions
//   kShuttingDown        after Shutdown()
class ExecutionService {
 public:
  // Opens the service over the catalog. Executions left RUNNING by a previous process are
  // resumed from their last checkpoint: the top-level state that was in flight is run again
  // (its partial history is replaced), with the definition the execution started with.
  // The resume rule: if the history after the checkpoint shows that a Task state was entered -
  // the top-level state itself, or any Task inside the Parallel/Map in flight - and
  // `resource_is_idempotent` is false for its resource (or absent), the task may have run, so
  // the execution is not resumed but marked FAILED with error "States.Runtime" and a cause
  // naming the state and the resource. The events up to a task's TaskStarted are durable before
  // the task runs, so a task that never started does not block the resume. An execution
  // interrupted in its first state resumes at StartAt (the same rule applies).
  static Result<std::unique_ptr<ExecutionService>> Open(ExecutionServiceOptions options);
  ~ExecutionService();  // Shutdown()

  Result<StateMachineRecord> CreateStateMachine(std::string_view name, std::string_view definition,
                                                std::string_view role_arn);
  // Replaces the definition (and role when non-empty). Running executions keep their old one.
  Result<StateMachineRecord> UpdateStateMachine(std::string_view arn, std::string_view definition,
                                                std::string_view role_arn);
  Result<StateMachineRecord> DescribeStateMachine(std::string_view arn) const;
  Result<std::vector<StateMachineRecord>> ListStateMachines() const;  // by name
  Status DeleteStateMachine(std::string_view arn);

  // Starts an execution on its own thread. `name` empty = a generated UUID. Input must be a JSON
  // object/value text (kMalformedJson otherwise).
  Result<ExecutionRecord> StartExecution(std::string_view state_machine_arn, std::string_view name,
                                         std::string_view input);
  Result<ExecutionRecord> DescribeExecution(std::string_view arn) const;
  // Newest first. `state` filters when given; `limit` > 0 keeps the newest `limit` only.
  Result<std::vector<ExecutionRecord>> ListExecutions(std::string_view state_machine_arn,
                                                      std::optional<ExecutionState> state = {},
                                                      int64_t limit = 0) const;
  // Every event of the execution so far, in id order.
  Result<std::vector<HistoryEvent>> GetExecutionHistory(std::string_view arn) const;
  // Requests the stop and returns at once; the record says ABORTED as soon as this returns (the
  // thread ends at its next stop check). Stopping an execution that already ended changes
  // nothing and returns its record.
  Result<ExecutionRecord> StopExecution(std::string_view arn, std::string_view error,
                                        std::string_view cause);
  // Blocks until the execution has ended (tests, `basin workflow start` over a data dir).
  Result<ExecutionRecord> WaitForExecution(std::string_view arn);

  // Schedules. PutSchedule creates or replaces by name (keeping last_run_micros when the
  // expression and time zone are unchanged; the caller's last_run_micros is ignored). Names are
  // 1-62 of [A-Za-z0-9_-] so that execution names stay valid; the target machine must exist
  // (kNotFound); input must be JSON (kMalformedJson). rate() counts from the schedule's creation.
  Status PutSchedule(ScheduleRecord schedule);
  Result<std::vector<ScheduleRecord>> ListSchedules() const;
  Status DeleteSchedule(std::string_view name);
  // Starts the thread that fires schedules (execution names "<schedule>-<UTC yyyymmddThhmmssZ>",
  // which makes a fire time run at most once). Missed runs after downtime follow each schedule's
  // policy. Idempotent.
  void StartScheduler();
  // Fires every schedule that is due at `now_micros` once, on the caller's thread (what the
  // scheduler thread does; tests drive it with a FakeClock). Returns the executions started.
  Result<std::vector<ExecutionRecord>> RunDueSchedules(int64_t now_micros);

  // Stops the scheduler, interrupts sleeps, and waits for execution threads to end. Executions
  // that were still running stay RUNNING in the catalog and resume on the next Open.
  void Shutdown();

  std::string StateMachineArn(std::string_view name) const;

  // False when another process holds options.lock_path (this service only observes).
  bool runs_executions() const;

 private:
  struct Impl;
  explicit ExecutionService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::workflow
