#include "workflow/execution_service.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "base/logging.h"
#include "base/time_format.h"
#include "catalog/catalog.h"

namespace basin::workflow {
namespace {

// Step Functions: names of state machines and executions are 1-80 characters; Basin allows the
// subset that needs no escaping anywhere (ARNs, URLs, file names).
constexpr size_t kMaxNameLength = 80;
// A schedule's executions are named "<schedule>-<yyyymmddThhmmssZ>" (17 + 1 characters), which
// must still be a valid execution name.
constexpr size_t kMaxScheduleNameLength = kMaxNameLength - 18;
// The scheduler re-reads the clock at least this often (a changed wall clock, a FakeClock).
constexpr int64_t kMaxSchedulerSleepUs = 60'000'000;
// Stored JSON texts (checkpoints, event details) hold payloads of at most 256 KiB each, but
// escaped into strings, which can make them several times larger.
constexpr size_t kMaxStoredJsonBytes = 64 * kMaxPayloadBytes;

bool IsValidName(std::string_view name, size_t max_length) {
  if (name.empty() || name.size() > max_length) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Status CheckName(std::string_view what, std::string_view name, size_t max_length) {
  if (IsValidName(name, max_length)) return Status::Ok();
  return Error(ErrorCode::kValidationFailed, std::string(what) + " name '" + std::string(name) +
                                                 "' must be 1-" + std::to_string(max_length) +
                                                 " characters of A-Z a-z 0-9 _ -");
}

std::string JoinErrors(const std::vector<ValidationError>& errors) {
  std::string out;
  for (const ValidationError& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.pointer.empty() ? e.message : e.pointer + ": " + e.message;
  }
  return out;
}

// Random v4 UUID: the name of an execution started without one.
std::string NewUuid() {
  unsigned char b[16] = {};
  if (RAND_bytes(b, sizeof(b)) != 1) {
    // Not secret, only unique: fall back to the clock and a counter.
    static std::atomic<uint64_t> counter{0};
    uint64_t v = static_cast<uint64_t>(MonotonicNanos()) ^ (counter++ << 48);
    for (int i = 0; i < 16; ++i) b[i] = static_cast<unsigned char>(v >> ((i % 8) * 8)) ^ i;
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

// "20261127T043000Z": the fire time in a schedule's execution name.
std::string FireTimeSuffix(int64_t micros) {
  CivilTime t = ToCivil(micros);
  char out[32];
  std::snprintf(out, sizeof(out), "%04d%02d%02dT%02d%02d%02dZ", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return out;
}

std::string_view MissedRunPolicyName(MissedRunPolicy policy) {
  return policy == MissedRunPolicy::kSkip ? "SKIP" : "RUN_ONCE";
}

ExecutionState StateOf(ExecutionStatus status) {
  switch (status) {
    case ExecutionStatus::kSucceeded: return ExecutionState::kSucceeded;
    case ExecutionStatus::kFailed: return ExecutionState::kFailed;
    case ExecutionStatus::kTimedOut: return ExecutionState::kTimedOut;
    case ExecutionStatus::kAborted: return ExecutionState::kAborted;
  }
  return ExecutionState::kFailed;
}

// ---- Rows <-> records --------------------------------------------------------------------------

StateMachineRecord MachineRecord(const catalog::StateMachineRow& row) {
  return StateMachineRecord{row.name,          row.arn,  row.definition,
                            row.role_arn,      row.type, row.created_micros,
                            row.updated_micros};
}

ExecutionRecord ExecutionRecordOf(const catalog::ExecutionRow& row) {
  ExecutionRecord r;
  r.arn = row.arn;
  r.name = row.name;
  r.state_machine_arn = row.state_machine_arn;
  r.definition = row.definition;
  r.state = ParseExecutionState(row.status).value_or(ExecutionState::kFailed);
  r.input = row.input;
  r.output = row.output;
  r.error = row.error;
  r.cause = row.cause;
  r.start_micros = row.start_micros;
  r.stop_micros = row.stop_micros;
  r.resume_count = row.resume_count;
  return r;
}

ScheduleRecord ScheduleRecordOf(const catalog::ScheduleRow& row) {
  ScheduleRecord r;
  r.name = row.name;
  r.expression = row.expression;
  r.timezone = row.timezone;
  r.state_machine_arn = row.state_machine_arn;
  r.input = row.input;
  r.enabled = row.enabled;
  r.missed_runs = row.missed_runs == "SKIP" ? MissedRunPolicy::kSkip : MissedRunPolicy::kRunOnce;
  r.last_run_micros = row.last_run_micros;
  return r;
}

catalog::ExecutionEventRow EventRow(const HistoryEvent& e) {
  catalog::ExecutionEventRow row;
  row.id = e.id;
  row.previous_event_id = e.previous_event_id;
  row.timestamp_micros = e.timestamp_micros;
  row.type = e.type;
  JsonValue details = JsonValue::Object();
  if (!e.details_key.empty()) details.Set(e.details_key, e.details);
  row.details = details.Serialize();
  return row;
}

Result<HistoryEvent> EventOf(const catalog::ExecutionEventRow& row) {
  HistoryEvent e;
  e.id = row.id;
  e.previous_event_id = row.previous_event_id;
  e.timestamp_micros = row.timestamp_micros;
  e.type = row.type;
  BASIN_ASSIGN_OR_RETURN(JsonValue details, ParseJson(row.details, kMaxStoredJsonBytes));
  if (details.IsObject() && !details.keys().empty()) {
    e.details_key = details.keys()[0];
    e.details = details.items()[0];
  }
  return e;
}

// The input and the variables are kept as JSON texts inside the checkpoint, so that a payload
// nested as deeply as ParseJson allows still parses when the checkpoint is read back.
std::string CheckpointJson(const Checkpoint& c) {
  JsonValue o = JsonValue::Object();
  o.Set("next_state", JsonValue::String(c.next_state));
  o.Set("input", JsonValue::String(c.input.Serialize()));
  o.Set("variables", JsonValue::String(c.variables.Serialize()));
  o.Set("transitions", JsonValue::Int(c.transitions));
  o.Set("next_event_id", JsonValue::Int(c.next_event_id));
  return o.Serialize();
}

Result<Checkpoint> ParseCheckpoint(std::string_view text) {
  BASIN_ASSIGN_OR_RETURN(JsonValue o, ParseJson(text, kMaxStoredJsonBytes));
  auto field = [&](std::string_view name, bool string) -> const JsonValue* {
    const JsonValue* v = o.IsObject() ? o.Find(name) : nullptr;
    return v != nullptr && (string ? v->IsString() : v->IsInt()) ? v : nullptr;
  };
  const JsonValue* next = field("next_state", true);
  const JsonValue* input = field("input", true);
  const JsonValue* variables = field("variables", true);
  const JsonValue* transitions = field("transitions", false);
  const JsonValue* next_id = field("next_event_id", false);
  if (!next || !input || !variables || !transitions || !next_id) {
    return Error(ErrorCode::kCorruption,
                 "the checkpoint is not {next_state, input, variables, "
                 "transitions, next_event_id}");
  }
  Checkpoint c;
  c.next_state = next->AsString();
  BASIN_ASSIGN_OR_RETURN(c.input, ParseJson(input->AsString(), kMaxStoredJsonBytes));
  BASIN_ASSIGN_OR_RETURN(c.variables, ParseJson(variables->AsString(), kMaxStoredJsonBytes));
  c.transitions = transitions->AsInt();
  c.next_event_id = next_id->AsInt();
  return c;
}

// A state anywhere in the machine (state names are unique machine-wide in ASL).
const State* FindStateDeep(const StateMachine& m, std::string_view name) {
  if (const State* s = m.Find(name)) return s;
  for (const State& s : m.states) {
    for (const auto& branch : s.branches) {
      if (const State* found = FindStateDeep(*branch, name)) return found;
    }
    if (s.processor) {
      if (const State* found = FindStateDeep(*s.processor, name)) return found;
    }
  }
  return nullptr;
}

std::string MachineNameOf(std::string_view machine_arn) {
  size_t colon = machine_arn.rfind(':');
  return std::string(colon == std::string_view::npos ? machine_arn : machine_arn.substr(colon + 1));
}

}  // namespace

std::string_view ExecutionStateName(ExecutionState state) {
  switch (state) {
    case ExecutionState::kRunning: return "RUNNING";
    case ExecutionState::kSucceeded: return "SUCCEEDED";
    case ExecutionState::kFailed: return "FAILED";
    case ExecutionState::kTimedOut: return "TIMED_OUT";
    case ExecutionState::kAborted: return "ABORTED";
  }
  return "FAILED";
}

std::optional<ExecutionState> ParseExecutionState(std::string_view name) {
  for (ExecutionState s :
       {ExecutionState::kRunning, ExecutionState::kSucceeded, ExecutionState::kFailed,
        ExecutionState::kTimedOut, ExecutionState::kAborted}) {
    if (ExecutionStateName(s) == name) return s;
  }
  return std::nullopt;
}

// ---- The service -------------------------------------------------------------------------------

struct ExecutionService::Impl {
  // One execution running on a thread of this service.
  struct Run {
    std::string arn;
    // Guards the stop fields, and is held across the final catalog write of the thread and the
    // ABORTED write of StopExecution, so that the two agree on how the execution ended.
    std::mutex mu;
    std::condition_variable wake;  // the interruptible sleeper waits here
    std::optional<StateError> user_stop;
    bool shutdown = false;  // Shutdown(), or a failed catalog write: stop, stay RUNNING
    std::thread thread;
  };

  // What a thread needs to run (or resume) one execution.
  struct Launch {
    catalog::ExecutionRow row;
    std::shared_ptr<const StateMachine> machine;
    JsonValue input;
    std::optional<Checkpoint> checkpoint;
  };

  // Waits in real time until the clock reaches the time or the run is stopped.
  class RunSleeper final : public Sleeper {
   public:
    RunSleeper(Clock& clock, Run& run) : clock_(clock), run_(run) {}
    void SleepUntil(int64_t epoch_micros) override {
      std::unique_lock lock(run_.mu);
      while (!run_.user_stop && !run_.shutdown) {
        const int64_t now = clock_.NowMicros();
        if (now >= epoch_micros) return;
        const int64_t wait = std::min(epoch_micros - now, kMaxSchedulerSleepUs);
        run_.wake.wait_for(lock, std::chrono::microseconds(wait));
      }
    }

   private:
    Clock& clock_;
    Run& run_;
  };

  // Writes the history and checkpoints of one run to the catalog. Events are buffered and
  // written together at each checkpoint (so a checkpoint is durable before the next state
  // starts), before each task runs (so a restart knows which tasks may have run) and when a
  // Wait starts (so a waiting execution shows where it is). After a failed write nothing more is
  // written and the run stops at its next check; it stays RUNNING and resumes on the next Open
  // from the last checkpoint that was written.
  class Observer final : public ExecutionObserver {
   public:
    Observer(catalog::Catalog& catalog, Run& run) : catalog_(catalog), run_(run) {}

    void OnEvent(const HistoryEvent& event) override {
      pending_.push_back(event);
      if (event.type == "TaskStarted" || event.type == "WaitStateEntered") Write({}, {});
    }
    void OnCheckpoint(const Checkpoint& checkpoint) override {
      Write(CheckpointJson(checkpoint), {});
    }
    std::optional<StateError> StopRequested() override {
      std::lock_guard lock(run_.mu);
      if (run_.user_stop) return run_.user_stop;
      if (run_.shutdown || failed_) return StateError{};
      return std::nullopt;
    }

    // The run's end: its last events and, unless it was stopped by Shutdown (or a failed
    // write), its status.
    void Finish(const ExecutionResult& result, int64_t now) {
      std::lock_guard lock(run_.mu);
      catalog::ExecutionEnd end;
      end.stop_micros = now;
      if (run_.user_stop) {
        // StopExecution has recorded ABORTED already. A run that ended on its own before
        // noticing the stop gets its terminal event replaced, so the history agrees.
        if (!pending_.empty() && pending_.back().type != "ExecutionAborted" &&
            pending_.back().type.starts_with("Execution")) {
          HistoryEvent& last = pending_.back();
          last.type = "ExecutionAborted";
          last.details_key = "executionAbortedEventDetails";
          last.details = JsonValue::Object();
          last.details.Set("error", JsonValue::String(run_.user_stop->error));
          last.details.Set("cause", JsonValue::String(run_.user_stop->cause));
        }
        end.status = "ABORTED";
        end.error = run_.user_stop->error;
        end.cause = run_.user_stop->cause;
      } else if (result.status == ExecutionStatus::kAborted) {
        // Stopped by Shutdown or a failed write: not an end. Stay RUNNING for the next Open.
        if (!pending_.empty() && pending_.back().type == "ExecutionAborted") pending_.pop_back();
        Write({}, {});
        return;
      } else {
        end.status = std::string(ExecutionStateName(StateOf(result.status)));
        if (result.status == ExecutionStatus::kSucceeded) end.output = result.output.Serialize();
        end.error = result.error;
        end.cause = result.cause;
      }
      Write({}, std::move(end));
    }

   private:
    void Write(std::optional<std::string> checkpoint, std::optional<catalog::ExecutionEnd> end) {
      if (failed_) return;
      catalog::ExecutionProgress progress;
      progress.execution_arn = run_.arn;
      for (const HistoryEvent& e : pending_) progress.events.push_back(EventRow(e));
      progress.checkpoint = std::move(checkpoint);
      progress.end = std::move(end);
      Result<bool> written = catalog_.RecordExecutionProgress(progress);
      pending_.clear();
      if (!written.ok()) {
        failed_ = true;
        BASIN_LOG(Error, "workflow") << "execution " << run_.arn
                                     << ": cannot record progress, stopping it (it resumes at "
                                        "the next start): "
                                     << written.status().ToString();
      }
    }

    catalog::Catalog& catalog_;
    Run& run_;
    std::vector<HistoryEvent> pending_;
    bool failed_ = false;
  };

  ExecutionServiceOptions options;
  catalog::Catalog* catalog = nullptr;
  Clock* clock = nullptr;
  // The open lock file whose flock makes this process the runner (-1: none taken).
  int lock_fd = -1;
  bool runner = true;

  ~Impl() {
    if (lock_fd >= 0) close(lock_fd);
  }

  // kUnavailable for what only the runner process may do.
  Status RequireRunner(std::string_view what) const {
    if (runner) return Status::Ok();
    return Error(ErrorCode::kUnavailable,
                 std::string(what) +
                     ": another Basin process (the server) runs this data directory's workflows; "
                     "use its AWS endpoint, e.g. aws stepfunctions --endpoint-url "
                     "http://127.0.0.1:4566 ...");
  }

  // Takes the runner's lock (options.lock_path) if no other process holds it.
  Status TakeRunnerLock() {
    if (options.observe_only) {
      runner = false;
      return Status::Ok();
    }
    if (options.lock_path.empty()) return Status::Ok();
    lock_fd = open(options.lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
      return Error(ErrorCode::kIoError,
                   "cannot open " + options.lock_path + ": " + std::strerror(errno));
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB) == 0) return Status::Ok();
    if (errno != EWOULDBLOCK) {
      return Error(ErrorCode::kIoError,
                   "cannot lock " + options.lock_path + ": " + std::strerror(errno));
    }
    close(lock_fd);
    lock_fd = -1;
    runner = false;
    return Status::Ok();
  }

  mutable std::mutex mu;
  std::condition_variable changed;  // an execution thread ended; the schedules changed; shutdown
  bool shutting_down = false;
  bool schedules_changed = false;
  std::map<std::string, std::shared_ptr<Run>, std::less<>> running;
  std::vector<std::shared_ptr<Run>> finished;  // threads that ended and wait to be joined
  std::thread scheduler;

  std::string MachineArn(std::string_view name) const {
    return "arn:aws:states:" + options.region + ":" + options.account +
           ":stateMachine:" + std::string(name);
  }
  std::string ExecutionArn(std::string_view machine, std::string_view name) const {
    return "arn:aws:states:" + options.region + ":" + options.account +
           ":execution:" + std::string(machine) + ":" + std::string(name);
  }
  std::string DefaultRole() const {
    return "arn:aws:iam::" + options.account + ":role/basin-workflow";
  }

  Result<std::shared_ptr<StateMachine>> Validate(std::string_view definition) const {
    ParsedDefinition parsed = ParseDefinition(definition);
    std::vector<ValidationError> errors = std::move(parsed.errors);
    if (errors.empty() && options.check_resources)
      errors = options.check_resources(*parsed.machine);
    if (!errors.empty()) return Error(ErrorCode::kValidationFailed, JoinErrors(errors));
    return parsed.machine;
  }

  Result<catalog::StateMachineRow> MachineRow(std::string_view arn) const {
    BASIN_ASSIGN_OR_RETURN(auto row, catalog->FindStateMachine(arn));
    if (!row) {
      return Error(ErrorCode::kNotFound, "state machine " + std::string(arn) + " does not exist");
    }
    return std::move(*row);
  }

  Result<catalog::ExecutionRow> ExecutionRowOf(std::string_view arn) const {
    BASIN_ASSIGN_OR_RETURN(auto row, catalog->FindExecution(arn));
    if (!row) {
      return Error(ErrorCode::kNotFound, "execution " + std::string(arn) + " does not exist");
    }
    return std::move(*row);
  }

  // Joins the threads of executions that have ended. Not under `mu`.
  void JoinFinished() {
    std::vector<std::shared_ptr<Run>> done;
    {
      std::lock_guard lock(mu);
      done.swap(finished);
    }
    for (auto& run : done) {
      if (run->thread.joinable()) run->thread.join();
    }
  }

  // Registers an execution about to start, before its row is written, so that
  // WaitForExecution never sees a RUNNING row that no thread will end. kShuttingDown after
  // Shutdown; kAlreadyExists if it is running.
  Result<std::shared_ptr<Run>> Reserve(const std::string& arn) {
    std::lock_guard lock(mu);
    if (shutting_down) {
      return Error(ErrorCode::kShuttingDown, "the execution service is shutting down");
    }
    if (running.count(arn) != 0) {
      return Error(ErrorCode::kAlreadyExists, "execution " + arn + " is running");
    }
    auto run = std::make_shared<Run>();
    run->arn = arn;
    running[arn] = run;
    return run;
  }

  void Unreserve(const std::shared_ptr<Run>& run) {
    std::lock_guard lock(mu);
    running.erase(run->arn);
    changed.notify_all();
  }

  // Starts the thread of a reserved execution. If Shutdown came in between, the thread stops at
  // its first check and the execution stays RUNNING for the next Open.
  void Start(const std::shared_ptr<Run>& run, Launch launch) {
    std::lock_guard lock(mu);
    run->thread = std::thread([this, run, launch = std::move(launch)]() mutable {
      RunExecution(*run, std::move(launch));
      std::lock_guard done_lock(mu);
      running.erase(run->arn);
      finished.push_back(run);
      changed.notify_all();
    });
  }

  void RunExecution(Run& run, Launch launch) {
    std::unique_ptr<TaskRunner> runner;
    if (options.make_task_runner) runner = options.make_task_runner();
    RunSleeper own_sleeper(*clock, run);
    Observer observer(*catalog, run);

    InterpreterOptions io;
    io.clock = clock;
    io.sleeper = options.sleeper != nullptr ? options.sleeper : &own_sleeper;
    io.task_runner = runner.get();
    io.random_seed =
        std::hash<std::string>()(launch.row.arn) + static_cast<uint64_t>(launch.row.resume_count);
    io.execution_name = launch.row.name;
    io.state_machine_name = MachineNameOf(launch.row.state_machine_arn);
    io.execution_arn = launch.row.arn;
    io.state_machine_arn = launch.row.state_machine_arn;
    io.role_arn = DefaultRole();
    if (auto machine = catalog->FindStateMachine(launch.row.state_machine_arn);
        machine.ok() && machine->has_value()) {
      io.role_arn = (*machine)->role_arn;
    }
    io.observer = &observer;
    io.keep_history = false;  // the observer writes every event to the catalog

    Interpreter interpreter(launch.machine, io);
    ExecutionResult result =
        launch.checkpoint
            ? interpreter.Resume(launch.input, launch.row.start_micros, *launch.checkpoint)
            : interpreter.Execute(launch.input);
    observer.Finish(result, clock->NowMicros());
  }

  // Marks an execution that cannot be resumed FAILED, with an ExecutionFailed event after the
  // ones it has.
  Status FailExecution(const catalog::ExecutionRow& row, int64_t last_event_id,
                       const std::string& cause) {
    HistoryEvent failed;
    failed.id = last_event_id + 1;
    failed.previous_event_id = last_event_id;
    failed.timestamp_micros = clock->NowMicros();
    failed.type = "ExecutionFailed";
    failed.details_key = "executionFailedEventDetails";
    failed.details = JsonValue::Object();
    failed.details.Set("error", JsonValue::String(kErrRuntime));
    failed.details.Set("cause", JsonValue::String(cause));
    catalog::ExecutionProgress progress;
    progress.execution_arn = row.arn;
    progress.events.push_back(EventRow(failed));
    progress.end =
        catalog::ExecutionEnd{"FAILED", std::nullopt, kErrRuntime, cause, failed.timestamp_micros};
    BASIN_LOG(Warn, "workflow") << "execution " << row.arn << " not resumed: " << cause;
    return catalog->RecordExecutionProgress(progress).status();
  }

  // An execution found RUNNING at Open: resumed at its checkpoint, or FAILED when the state in
  // flight may have run a task that is not safe to run twice.
  Status Recover(const catalog::ExecutionRow& row) {
    BASIN_ASSIGN_OR_RETURN(std::vector<catalog::ExecutionEventRow> events,
                           catalog->ExecutionEvents(row.arn));
    const int64_t last_id = events.empty() ? 0 : events.back().id;
    Result<std::shared_ptr<StateMachine>> machine = LoadDefinition(row.definition);
    if (!machine.ok()) {
      return FailExecution(
          row, last_id,
          "Cannot resume: the definition no longer loads: " + machine.status().message());
    }
    Result<JsonValue> input = ParseJson(row.input);
    if (!input.ok()) {
      return FailExecution(row, last_id,
                           "Cannot resume: the input does not parse: " + input.status().message());
    }
    Launch launch{row, *machine, std::move(*input), std::nullopt};
    if (row.checkpoint) {
      Result<Checkpoint> checkpoint = ParseCheckpoint(*row.checkpoint);
      if (!checkpoint.ok()) {
        return FailExecution(row, last_id, "Cannot resume: " + checkpoint.status().message());
      }
      launch.checkpoint = std::move(*checkpoint);
    } else if (!events.empty() && events.front().type == "ExecutionStarted") {
      // Interrupted in its first state: resume at StartAt, after the ExecutionStarted event.
      launch.checkpoint = Checkpoint{(*machine)->start_at, launch.input, JsonValue::Object(), 0, 2};
    }
    const int64_t first_rerun_id = launch.checkpoint ? launch.checkpoint->next_event_id : 1;
    for (const catalog::ExecutionEventRow& e : events) {
      if (e.id < first_rerun_id || e.type != "TaskStateEntered") continue;
      Result<HistoryEvent> event = EventOf(e);
      if (!event.ok()) continue;
      const JsonValue* name = event->details.IsObject() ? event->details.Find("name") : nullptr;
      if (name == nullptr || !name->IsString()) continue;
      const State* state = FindStateDeep(**machine, name->AsString());
      if (state == nullptr) continue;
      const bool idempotent =
          options.resource_is_idempotent && options.resource_is_idempotent(state->resource);
      if (!idempotent) {
        return FailExecution(row, last_id,
                             "The execution was interrupted by a restart while state '" +
                                 state->name + "' may have run resource '" + state->resource +
                                 "', which is not safe to run again");
      }
    }
    BASIN_ASSIGN_OR_RETURN(std::shared_ptr<Run> run, Reserve(row.arn));
    if (Status s = catalog->RestartExecution(row.arn, first_rerun_id); !s.ok()) {
      Unreserve(run);
      return s;
    }
    launch.row.resume_count += 1;
    BASIN_LOG(Info, "workflow") << "resuming execution " << row.arn << " at "
                                << (launch.checkpoint ? launch.checkpoint->next_state : "start");
    Start(run, std::move(launch));
    return Status::Ok();
  }

  // Fires the due schedules at `now`; `next_wake` becomes the earliest later fire time.
  Result<std::vector<ExecutionRecord>> RunDue(ExecutionService& service, int64_t now,
                                              std::optional<int64_t>* next_wake) {
    BASIN_ASSIGN_OR_RETURN(std::vector<catalog::ScheduleRow> rows, catalog->ListSchedules());
    std::vector<ExecutionRecord> started;
    for (const catalog::ScheduleRow& row : rows) {
      if (!row.enabled) continue;
      Result<Schedule> schedule = ParseSchedule(row.expression, row.timezone);
      if (!schedule.ok()) {
        BASIN_LOG(Warn, "workflow")
            << "schedule " << row.name << ": " << schedule.status().ToString();
        continue;
      }
      // Without a StartDate the Scheduler runs from creation on (rate() counts from there).
      schedule->set_start_us(row.created_micros);
      const MissedRunPolicy policy =
          row.missed_runs == "SKIP" ? MissedRunPolicy::kSkip : MissedRunPolicy::kRunOnce;
      MissedRunDecision decision = DecideMissedRuns(
          *schedule, row.last_run_micros.value_or(row.created_micros), now, policy);
      if (decision.next_us && (!*next_wake || *decision.next_us < **next_wake)) {
        *next_wake = decision.next_us;
      }
      std::optional<int64_t> done_until;
      if (decision.run_now_us) {
        const std::string name = row.name + "-" + FireTimeSuffix(*decision.run_now_us);
        Result<ExecutionRecord> execution =
            service.StartExecution(row.state_machine_arn, name, row.input);
        const ErrorCode code = execution.ok() ? ErrorCode::kOk : execution.status().code();
        if (execution.ok()) started.push_back(std::move(*execution));
        if (code == ErrorCode::kConflict || code == ErrorCode::kShuttingDown ||
            code == ErrorCode::kUnavailable || code == ErrorCode::kIoError ||
            code == ErrorCode::kDiskFull) {
          // Worth another try: the limit, a busy catalog.
          BASIN_LOG(Warn, "workflow") << "schedule " << row.name << ": cannot start " << name
                                      << " now: " << execution.status().ToString();
          continue;
        }
        if (code != ErrorCode::kOk && code != ErrorCode::kAlreadyExists) {
          BASIN_LOG(Error, "workflow") << "schedule " << row.name << ": " << name
                                       << " not started: " << execution.status().ToString();
        }
        done_until = decision.run_now_us;  // started now, or before (the name exists)
      } else if (decision.dropped_count > 0) {
        done_until = now;  // skipped: never look at those fire times again
      }
      if (decision.dropped_count > 0) {
        BASIN_LOG(Info, "workflow")
            << "schedule " << row.name << ": " << decision.dropped_count
            << (decision.dropped_count_is_lower_bound ? "+" : "") << " missed runs dropped ("
            << MissedRunPolicyName(policy) << ")";
      }
      if (done_until) BASIN_RETURN_IF_ERROR(catalog->SetScheduleLastRun(row.name, *done_until));
    }
    return started;
  }

  void SchedulerLoop(ExecutionService& service) {
    std::unique_lock lock(mu);
    while (!shutting_down) {
      schedules_changed = false;
      lock.unlock();
      std::optional<int64_t> next_wake;
      const int64_t now = clock->NowMicros();
      Result<std::vector<ExecutionRecord>> started = RunDue(service, now, &next_wake);
      if (!started.ok()) {
        BASIN_LOG(Error, "workflow") << "scheduler: " << started.status().ToString();
      }
      int64_t wait = kMaxSchedulerSleepUs;
      if (next_wake) wait = std::clamp(*next_wake - clock->NowMicros(), int64_t{1}, wait);
      lock.lock();
      changed.wait_for(lock, std::chrono::microseconds(wait),
                       [&] { return shutting_down || schedules_changed; });
    }
  }
};

ExecutionService::ExecutionService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExecutionService::~ExecutionService() { Shutdown(); }

Result<std::unique_ptr<ExecutionService>> ExecutionService::Open(ExecutionServiceOptions options) {
  if (options.catalog == nullptr || options.clock == nullptr) {
    return Error(ErrorCode::kInvalidArgument, "ExecutionService needs a catalog and a clock");
  }
  auto impl = std::make_unique<Impl>();
  impl->catalog = options.catalog;
  impl->clock = options.clock;
  impl->options = std::move(options);
  BASIN_RETURN_IF_ERROR(impl->TakeRunnerLock());
  std::unique_ptr<ExecutionService> service(new ExecutionService(std::move(impl)));
  if (!service->impl_->runner) return service;  // the runner process resumes its executions
  BASIN_ASSIGN_OR_RETURN(std::vector<catalog::ExecutionRow> running,
                         service->impl_->catalog->ListExecutions("", "RUNNING"));
  for (const catalog::ExecutionRow& row : running) {
    BASIN_RETURN_IF_ERROR(service->impl_->Recover(row));
  }
  return service;
}

std::string ExecutionService::StateMachineArn(std::string_view name) const {
  return impl_->MachineArn(name);
}

// ---- State machines ----------------------------------------------------------------------------

Result<StateMachineRecord> ExecutionService::CreateStateMachine(std::string_view name,
                                                                std::string_view definition,
                                                                std::string_view role_arn) {
  BASIN_RETURN_IF_ERROR(CheckName("state machine", name, kMaxNameLength));
  BASIN_RETURN_IF_ERROR(impl_->Validate(definition).status());
  catalog::StateMachineRow row;
  row.name = std::string(name);
  row.arn = impl_->MachineArn(name);
  row.definition = std::string(definition);
  row.role_arn = role_arn.empty() ? impl_->DefaultRole() : std::string(role_arn);
  row.created_micros = row.updated_micros = impl_->clock->NowMicros();
  BASIN_ASSIGN_OR_RETURN(auto existing, impl_->catalog->FindStateMachine(row.arn));
  if (existing) {
    // As on AWS, creating the same machine again is idempotent.
    if (existing->definition == row.definition &&
        (role_arn.empty() || existing->role_arn == role_arn)) {
      return MachineRecord(*existing);
    }
    return Error(ErrorCode::kAlreadyExists,
                 "state machine " + row.name + " already exists with another definition");
  }
  BASIN_RETURN_IF_ERROR(impl_->catalog->InsertStateMachine(row));
  return MachineRecord(row);
}

Result<StateMachineRecord> ExecutionService::UpdateStateMachine(std::string_view arn,
                                                                std::string_view definition,
                                                                std::string_view role_arn) {
  BASIN_RETURN_IF_ERROR(impl_->MachineRow(arn).status());
  BASIN_RETURN_IF_ERROR(impl_->Validate(definition).status());
  BASIN_RETURN_IF_ERROR(
      impl_->catalog->UpdateStateMachine(arn, definition, role_arn, impl_->clock->NowMicros()));
  return DescribeStateMachine(arn);
}

Result<StateMachineRecord> ExecutionService::DescribeStateMachine(std::string_view arn) const {
  BASIN_ASSIGN_OR_RETURN(catalog::StateMachineRow row, impl_->MachineRow(arn));
  return MachineRecord(row);
}

Result<std::vector<StateMachineRecord>> ExecutionService::ListStateMachines() const {
  BASIN_ASSIGN_OR_RETURN(auto rows, impl_->catalog->ListStateMachines());
  std::vector<StateMachineRecord> out;
  for (const auto& row : rows) out.push_back(MachineRecord(row));
  return out;
}

Status ExecutionService::DeleteStateMachine(std::string_view arn) {
  return impl_->catalog->DeleteStateMachine(arn);
}

// ---- Executions --------------------------------------------------------------------------------

Result<ExecutionRecord> ExecutionService::StartExecution(std::string_view state_machine_arn,
                                                         std::string_view name,
                                                         std::string_view input) {
  BASIN_RETURN_IF_ERROR(impl_->RequireRunner("StartExecution"));
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->shutting_down) {
      return Error(ErrorCode::kShuttingDown, "the execution service is shutting down");
    }
  }
  impl_->JoinFinished();
  BASIN_ASSIGN_OR_RETURN(catalog::StateMachineRow machine, impl_->MachineRow(state_machine_arn));
  const std::string execution_name = name.empty() ? NewUuid() : std::string(name);
  BASIN_RETURN_IF_ERROR(CheckName("execution", execution_name, kMaxNameLength));
  const std::string_view input_text = input.empty() ? std::string_view("{}") : input;
  if (input_text.size() > kMaxPayloadBytes) {
    return Error(ErrorCode::kPayloadTooLarge, "execution input is " +
                                                  std::to_string(input_text.size()) +
                                                  " bytes; at most 262144 are allowed");
  }
  BASIN_ASSIGN_OR_RETURN(JsonValue input_value, ParseJson(input_text));
  BASIN_ASSIGN_OR_RETURN(std::shared_ptr<StateMachine> parsed, LoadDefinition(machine.definition));

  catalog::ExecutionRow row;
  row.arn = impl_->ExecutionArn(machine.name, execution_name);
  row.name = execution_name;
  row.state_machine_arn = machine.arn;
  row.definition = machine.definition;
  row.input = std::string(input_text);
  row.start_micros = impl_->clock->NowMicros();
  BASIN_ASSIGN_OR_RETURN(std::shared_ptr<Impl::Run> run, impl_->Reserve(row.arn));
  if (Status s = impl_->catalog->InsertExecution(row, impl_->options.max_running_executions);
      !s.ok()) {
    impl_->Unreserve(run);
    return s;
  }
  ExecutionRecord record = ExecutionRecordOf(row);
  impl_->Start(run, Impl::Launch{std::move(row), std::move(parsed), std::move(input_value), {}});
  return record;
}

Result<ExecutionRecord> ExecutionService::DescribeExecution(std::string_view arn) const {
  BASIN_ASSIGN_OR_RETURN(catalog::ExecutionRow row, impl_->ExecutionRowOf(arn));
  return ExecutionRecordOf(row);
}

Result<std::vector<ExecutionRecord>> ExecutionService::ListExecutions(
    std::string_view state_machine_arn, std::optional<ExecutionState> state, int64_t limit) const {
  BASIN_RETURN_IF_ERROR(impl_->MachineRow(state_machine_arn).status());
  std::optional<std::string> status;
  if (state) status = std::string(ExecutionStateName(*state));
  BASIN_ASSIGN_OR_RETURN(auto rows,
                         impl_->catalog->ListExecutions(state_machine_arn, status, limit));
  std::vector<ExecutionRecord> out;
  for (const auto& row : rows) out.push_back(ExecutionRecordOf(row));
  return out;
}

Result<std::vector<HistoryEvent>> ExecutionService::GetExecutionHistory(
    std::string_view arn) const {
  BASIN_ASSIGN_OR_RETURN(auto rows, impl_->catalog->ExecutionEvents(arn));
  std::vector<HistoryEvent> out;
  for (const auto& row : rows) {
    BASIN_ASSIGN_OR_RETURN(HistoryEvent event, EventOf(row));
    out.push_back(std::move(event));
  }
  return out;
}

Result<ExecutionRecord> ExecutionService::StopExecution(std::string_view arn,
                                                        std::string_view error,
                                                        std::string_view cause) {
  BASIN_ASSIGN_OR_RETURN(catalog::ExecutionRow row, impl_->ExecutionRowOf(arn));
  if (row.status != "RUNNING") return ExecutionRecordOf(row);
  BASIN_RETURN_IF_ERROR(impl_->RequireRunner("StopExecution"));
  std::shared_ptr<Impl::Run> run;
  {
    std::lock_guard lock(impl_->mu);
    if (auto it = impl_->running.find(arn); it != impl_->running.end()) run = it->second;
  }
  catalog::ExecutionProgress progress;
  progress.execution_arn = row.arn;
  progress.end = catalog::ExecutionEnd{"ABORTED", std::nullopt, std::string(error),
                                       std::string(cause), impl_->clock->NowMicros()};
  if (run) {
    // The thread adds the ExecutionAborted event when it notices (Observer::Finish).
    std::lock_guard lock(run->mu);
    run->user_stop = StateError{std::string(error), std::string(cause)};
    run->wake.notify_all();
    BASIN_RETURN_IF_ERROR(impl_->catalog->RecordExecutionProgress(progress).status());
  } else {
    // Not running here (the service is shutting down): close it with its last event.
    BASIN_ASSIGN_OR_RETURN(auto events, impl_->catalog->ExecutionEvents(arn));
    HistoryEvent aborted;
    aborted.id = events.empty() ? 1 : events.back().id + 1;
    aborted.previous_event_id = aborted.id - 1;
    aborted.timestamp_micros = progress.end->stop_micros;
    aborted.type = "ExecutionAborted";
    aborted.details_key = "executionAbortedEventDetails";
    aborted.details = JsonValue::Object();
    aborted.details.Set("error", JsonValue::String(std::string(error)));
    aborted.details.Set("cause", JsonValue::String(std::string(cause)));
    progress.events.push_back(EventRow(aborted));
    BASIN_RETURN_IF_ERROR(impl_->catalog->RecordExecutionProgress(progress).status());
  }
  return DescribeExecution(arn);
}

Result<ExecutionRecord> ExecutionService::WaitForExecution(std::string_view arn) {
  BASIN_RETURN_IF_ERROR(impl_->RequireRunner("waiting for an execution"));
  {
    std::unique_lock lock(impl_->mu);
    impl_->changed.wait(lock, [&] { return impl_->running.find(arn) == impl_->running.end(); });
  }
  return DescribeExecution(arn);
}

// ---- Schedules ---------------------------------------------------------------------------------

Status ExecutionService::PutSchedule(ScheduleRecord schedule) {
  BASIN_RETURN_IF_ERROR(CheckName("schedule", schedule.name, kMaxScheduleNameLength));
  if (schedule.timezone.empty()) schedule.timezone = "UTC";
  Result<Schedule> parsed = ParseSchedule(schedule.expression, schedule.timezone);
  if (!parsed.ok()) {
    return Error(ErrorCode::kValidationFailed,
                 "schedule " + schedule.name + ": " + parsed.status().message());
  }
  BASIN_RETURN_IF_ERROR(impl_->MachineRow(schedule.state_machine_arn).status());
  if (schedule.input.empty()) schedule.input = "{}";
  BASIN_RETURN_IF_ERROR(ParseJson(schedule.input).status());

  catalog::ScheduleRow row;
  row.name = schedule.name;
  row.expression = schedule.expression;
  row.timezone = schedule.timezone;
  row.state_machine_arn = schedule.state_machine_arn;
  row.input = schedule.input;
  row.enabled = schedule.enabled;
  row.missed_runs = std::string(MissedRunPolicyName(schedule.missed_runs));
  row.created_micros = row.updated_micros = impl_->clock->NowMicros();
  BASIN_ASSIGN_OR_RETURN(auto existing, impl_->catalog->FindSchedule(schedule.name));
  if (existing && existing->expression == row.expression && existing->timezone == row.timezone) {
    // The same times: keep the anchor and what has run.
    row.created_micros = existing->created_micros;
    row.last_run_micros = existing->last_run_micros;
  }
  BASIN_RETURN_IF_ERROR(impl_->catalog->PutSchedule(row));
  std::lock_guard lock(impl_->mu);
  impl_->schedules_changed = true;
  impl_->changed.notify_all();
  return Status::Ok();
}

Result<std::vector<ScheduleRecord>> ExecutionService::ListSchedules() const {
  BASIN_ASSIGN_OR_RETURN(auto rows, impl_->catalog->ListSchedules());
  const int64_t now = impl_->clock->NowMicros();
  std::vector<ScheduleRecord> out;
  for (const auto& row : rows) {
    out.push_back(ScheduleRecordOf(row));
    Result<Schedule> schedule = ParseSchedule(row.expression, row.timezone);
    if (row.enabled && schedule.ok()) {
      schedule->set_start_us(row.created_micros);  // as the scheduler anchors it
      out.back().next_run_micros = schedule->NextAfter(now);
    }
  }
  return out;
}

Status ExecutionService::DeleteSchedule(std::string_view name) {
  BASIN_RETURN_IF_ERROR(impl_->catalog->DeleteSchedule(name));
  std::lock_guard lock(impl_->mu);
  impl_->schedules_changed = true;
  impl_->changed.notify_all();
  return Status::Ok();
}

void ExecutionService::StartScheduler() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->runner || impl_->shutting_down || impl_->scheduler.joinable()) return;
  impl_->scheduler = std::thread([this] { impl_->SchedulerLoop(*this); });
}

bool ExecutionService::runs_executions() const { return impl_->runner; }

Result<std::vector<ExecutionRecord>> ExecutionService::RunDueSchedules(int64_t now_micros) {
  BASIN_RETURN_IF_ERROR(impl_->RequireRunner("running schedules"));
  std::optional<int64_t> next_wake;
  return impl_->RunDue(*this, now_micros, &next_wake);
}

void ExecutionService::Shutdown() {
  std::thread scheduler;
  {
    std::lock_guard lock(impl_->mu);
    impl_->shutting_down = true;
    for (auto& [arn, run] : impl_->running) {
      std::lock_guard run_lock(run->mu);
      run->shutdown = true;
      run->wake.notify_all();
    }
    impl_->changed.notify_all();
    scheduler = std::move(impl_->scheduler);
  }
  if (scheduler.joinable()) scheduler.join();
  {
    std::unique_lock lock(impl_->mu);
    impl_->changed.wait(lock, [&] { return impl_->running.empty(); });
  }
  impl_->JoinFinished();
}

}  // namespace basin::workflow
