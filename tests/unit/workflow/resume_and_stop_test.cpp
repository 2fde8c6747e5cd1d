// ExecutionObserver (events, checkpoints, stop requests), Interpreter::Resume and the context
// ARNs from InterpreterOptions.
#include <gtest/gtest.h>

#include <functional>

#include "unit/workflow/fake_task_runner.h"
#include "workflow/definition.h"
#include "workflow/interpreter.h"

namespace basin::workflow {
namespace {

// Records everything the interpreter reports; `stop` decides StopRequested.
class RecordingObserver final : public ExecutionObserver {
 public:
  void OnEvent(const HistoryEvent& event) override { events.push_back(event); }
  void OnCheckpoint(const Checkpoint& checkpoint) override {
    checkpoints.push_back(checkpoint);
    events_at_checkpoint.push_back(events.size());
  }
  std::optional<StateError> StopRequested() override {
    ++polls;
    return stop ? stop() : std::nullopt;
  }

  std::vector<HistoryEvent> events;
  std::vector<Checkpoint> checkpoints;
  std::vector<size_t> events_at_checkpoint;
  int polls = 0;
  std::function<std::optional<StateError>()> stop;
};

// A three-step machine whose output depends on every step (and on the execution input via the
// context object), with a Wait so that time matters and a Parallel so that nested states run.
constexpr char kMachine[] = R"({"StartAt":"A","TimeoutSeconds":100,"States":{
  "A":{"Type":"Task","Resource":"add","Parameters":{"n.$":"$.n"},"ResultPath":"$.a","Next":"W"},
  "W":{"Type":"Wait","Seconds":10,"Next":"P"},
  "P":{"Type":"Parallel","Branches":[
     {"StartAt":"B1","States":{"B1":{"Type":"Task","Resource":"add","Parameters":{"n.$":"$.a.n"},
                                     "End":true}}},
     {"StartAt":"B2","States":{"B2":{"Type":"Pass","Parameters":{"orig.$":"$$.Execution.Input"},
                                     "End":true}}}],
   "ResultPath":"$.p","Next":"C"},
  "C":{"Type":"Task","Resource":"add","Parameters":{"all.$":"$"},"End":true}}})";

// "add" answers {"n": input.n + 1} (or the input itself when there is no n).
class AddRunner final : public TaskRunner {
 public:
  explicit AddRunner(FakeClock& clock) : clock_(clock) {}
  Outcome<JsonValue> Run(const TaskRequest& request) override {
    ++calls;
    clock_.Advance(1'000'000);
    const JsonValue* n = request.input.Find("n");
    if (n == nullptr) return request.input;
    JsonValue out = JsonValue::Object();
    out.Set("n", JsonValue::Int(n->AsInt() + 1));
    return out;
  }
  int calls = 0;

 private:
  FakeClock& clock_;
};

struct Harness {
  FakeClock clock;
  FakeClockSleeper sleeper{clock};
  AddRunner runner{clock};
  RecordingObserver observer;

  InterpreterOptions Options() {
    InterpreterOptions o;
    o.clock = &clock;
    o.sleeper = &sleeper;
    o.task_runner = &runner;
    o.observer = &observer;
    return o;
  }
};

std::shared_ptr<StateMachine> Machine(const char* text) {
  auto m = LoadDefinition(text);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.value();
}

TEST(ExecutionObserver, SeesEveryEventAndTopLevelCheckpoints) {
  Harness h;
  ExecutionResult r =
      Interpreter(Machine(kMachine), h.Options()).Execute(ParseJson(R"({"n":1})").value());
  ASSERT_EQ(r.status, ExecutionStatus::kSucceeded) << r.error << r.cause;
  ASSERT_EQ(h.observer.events.size(), r.history.size());
  for (size_t i = 0; i < r.history.size(); ++i) {
    EXPECT_EQ(h.observer.events[i].id, r.history[i].id);
    EXPECT_EQ(h.observer.events[i].type, r.history[i].type);
  }
  // A -> W -> P -> C: three checkpoints, none for the branch states B1/B2.
  ASSERT_EQ(h.observer.checkpoints.size(), 3u);
  EXPECT_EQ(h.observer.checkpoints[0].next_state, "W");
  EXPECT_EQ(h.observer.checkpoints[1].next_state, "P");
  EXPECT_EQ(h.observer.checkpoints[2].next_state, "C");
  EXPECT_EQ(h.observer.checkpoints[0].input.Serialize(), R"({"n":1,"a":{"n":2}})");
  EXPECT_EQ(h.observer.checkpoints[0].transitions, 1);
  EXPECT_EQ(h.observer.checkpoints[1].transitions, 2);
  EXPECT_EQ(h.observer.checkpoints[2].transitions, 5);  // P, B1, B2 entered
  for (size_t i = 0; i < 3; ++i) {
    // Emitted right after the state's Exited event, before the next state's Entered event.
    size_t seen = h.observer.events_at_checkpoint[i];
    EXPECT_EQ(h.observer.checkpoints[i].next_event_id, h.observer.events[seen - 1].id + 1);
    EXPECT_TRUE(h.observer.events[seen - 1].type.ends_with("StateExited"));
    EXPECT_TRUE(r.history[seen].type.ends_with("StateEntered"));
  }
}

// With an observer that keeps the events, the interpreter need not: the result then holds none,
// while the observer saw exactly what a run that keeps them returns.
TEST(ExecutionObserver, KeepHistoryOffLeavesTheEventsToTheObserver) {
  Harness keeping, streaming;
  const JsonValue input = ParseJson(R"({"n":1})").value();
  ExecutionResult kept = Interpreter(Machine(kMachine), keeping.Options()).Execute(input);
  InterpreterOptions o = streaming.Options();
  o.keep_history = false;
  ExecutionResult streamed = Interpreter(Machine(kMachine), o).Execute(input);
  ASSERT_EQ(streamed.status, ExecutionStatus::kSucceeded);
  EXPECT_EQ(streamed.output, kept.output);
  EXPECT_TRUE(streamed.history.empty());
  ASSERT_EQ(streaming.observer.events.size(), kept.history.size());
  for (size_t i = 0; i < kept.history.size(); ++i) {
    EXPECT_EQ(streaming.observer.events[i].ToJson(), kept.history[i].ToJson()) << i;
  }
}

TEST(InterpreterResume, FromTheSecondCheckpointMatchesTheStraightRun) {
  const JsonValue input = ParseJson(R"({"n":1})").value();
  Harness straight;
  ExecutionResult full = Interpreter(Machine(kMachine), straight.Options()).Execute(input);
  ASSERT_EQ(full.status, ExecutionStatus::kSucceeded) << full.error << full.cause;
  ASSERT_GE(straight.observer.checkpoints.size(), 2u);
  const Checkpoint cp = straight.observer.checkpoints[1];  // before P

  // A fresh interpreter, later in time (a restart), continues at P.
  Harness resumed;
  resumed.clock.Set(straight.clock.NowMicros() + 5'000'000);
  int64_t original_start = full.history.front().timestamp_micros;
  ExecutionResult rest =
      Interpreter(Machine(kMachine), resumed.Options()).Resume(input, original_start, cp);
  ASSERT_EQ(rest.status, ExecutionStatus::kSucceeded) << rest.error << rest.cause;
  EXPECT_EQ(rest.output.Serialize(), full.output.Serialize());
  // $$.Execution.Input is the original input, so branch B2 saw it.
  EXPECT_NE(rest.output.Serialize().find(R"("orig":{"n":1})"), std::string::npos);
  EXPECT_EQ(resumed.runner.calls, 2);  // B1 and C only

  // Numbering continues; no ExecutionStarted; the types match the tail of the straight run.
  ASSERT_FALSE(rest.history.empty());
  EXPECT_EQ(rest.history.front().id, cp.next_event_id);
  EXPECT_EQ(rest.history.front().type, "ParallelStateEntered");
  for (size_t i = 0; i < rest.history.size(); ++i) {
    EXPECT_EQ(rest.history[i].id, cp.next_event_id + static_cast<int64_t>(i));
    EXPECT_NE(rest.history[i].type, "ExecutionStarted");
  }
  EXPECT_EQ(rest.history.back().id, full.history.back().id);
  size_t offset = full.history.size() - rest.history.size();
  for (size_t i = 0; i < rest.history.size(); ++i) {
    EXPECT_EQ(rest.history[i].type, full.history[offset + i].type) << i;
  }
  // The resumed run checkpoints too, with transitions counted on from the checkpoint.
  ASSERT_EQ(resumed.observer.checkpoints.size(), 1u);
  EXPECT_EQ(resumed.observer.checkpoints[0].next_state, "C");
  EXPECT_EQ(resumed.observer.checkpoints[0].transitions,
            straight.observer.checkpoints[2].transitions);
}

TEST(InterpreterResume, TransitionLimitCountsFromTheCheckpoint) {
  Harness h;
  InterpreterOptions o = h.Options();
  o.max_state_transitions = 3;
  Checkpoint cp;
  cp.next_state = "P";
  cp.input = ParseJson(R"({"n":1,"a":{"n":2}})").value();
  cp.transitions = 2;  // P makes 3, B1 makes 4 > 3
  cp.next_event_id = 9;
  ExecutionResult r = Interpreter(Machine(kMachine), o)
                          .Resume(ParseJson(R"({"n":1})").value(), h.clock.NowMicros(), cp);
  EXPECT_EQ(r.status, ExecutionStatus::kFailed);
  EXPECT_EQ(r.error, "States.Runtime");
  EXPECT_EQ(r.history.front().id, 9);
  EXPECT_EQ(r.history.back().type, "ExecutionFailed");
}

TEST(InterpreterResume, UnknownStateFails) {
  Harness h;
  Checkpoint cp;
  cp.next_state = "B1";  // exists, but only inside a branch
  ExecutionResult r = Interpreter(Machine(kMachine), h.Options())
                          .Resume(JsonValue::Object(), h.clock.NowMicros(), cp);
  EXPECT_EQ(r.status, ExecutionStatus::kFailed);
  EXPECT_EQ(r.error, "States.Runtime");
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_EQ(r.history[0].type, "ExecutionFailed");
}

TEST(InterpreterResume, MachineTimeoutCountsFromTheOriginalStart) {
  Harness straight;
  const JsonValue input = ParseJson(R"({"n":1})").value();
  ExecutionResult full = Interpreter(Machine(kMachine), straight.Options()).Execute(input);
  ASSERT_EQ(full.status, ExecutionStatus::kSucceeded);
  int64_t start = full.history.front().timestamp_micros;
  const Checkpoint cp = straight.observer.checkpoints[1];  // before P

  // Resumed 95 s after the start: P's task takes 1 s (96 s), C's another (97 s): still fine.
  Harness ok;
  ok.clock.Set(start + 95'000'000);
  EXPECT_EQ(Interpreter(Machine(kMachine), ok.Options()).Resume(input, start, cp).status,
            ExecutionStatus::kSucceeded);

  // Resumed 99.5 s after the start: B1 ends after 100 s, so the execution times out.
  Harness late;
  late.clock.Set(start + 99'500'000);
  ExecutionResult r = Interpreter(Machine(kMachine), late.Options()).Resume(input, start, cp);
  EXPECT_EQ(r.status, ExecutionStatus::kTimedOut);
  EXPECT_EQ(r.error, "States.Timeout");
  EXPECT_EQ(r.history.back().type, "ExecutionTimedOut");

  // Resumed past the deadline: times out before entering anything.
  Harness past;
  past.clock.Set(start + 101'000'000);
  ExecutionResult r2 = Interpreter(Machine(kMachine), past.Options()).Resume(input, start, cp);
  EXPECT_EQ(r2.status, ExecutionStatus::kTimedOut);
  ASSERT_EQ(r2.history.size(), 1u);
  EXPECT_EQ(r2.history[0].id, cp.next_event_id);
}

TEST(ExecutionObserver, StopBeforeAStateAborts) {
  Harness h;
  // Stop once two checkpoints have been written (before P is entered).
  h.observer.stop = [&]() -> std::optional<StateError> {
    if (h.observer.checkpoints.size() < 2) return std::nullopt;
    return StateError{"UserStop", "stopped by test"};
  };
  ExecutionResult r =
      Interpreter(Machine(kMachine), h.Options()).Execute(ParseJson(R"({"n":1})").value());
  EXPECT_EQ(r.status, ExecutionStatus::kAborted);
  EXPECT_EQ(r.error, "UserStop");
  EXPECT_EQ(r.cause, "stopped by test");
  ASSERT_FALSE(r.history.empty());
  const HistoryEvent& last = r.history.back();
  EXPECT_EQ(last.type, "ExecutionAborted");
  EXPECT_EQ(last.details_key, "executionAbortedEventDetails");
  EXPECT_EQ(last.details.Serialize(), R"({"error":"UserStop","cause":"stopped by test"})");
  EXPECT_EQ(r.history[r.history.size() - 2].type, "WaitStateExited");
  EXPECT_EQ(h.runner.calls, 1);
  EXPECT_EQ(h.observer.events.back().type, "ExecutionAborted");
}

TEST(ExecutionObserver, StopAfterATaskSkipsRetryAndCatch) {
  Harness h;
  // The task fails; a Catch would route to "Caught", but the stop wins.
  const char* def = R"({"StartAt":"T","States":{
    "T":{"Type":"Task","Resource":"boom","Retry":[{"ErrorEquals":["States.ALL"]}],
         "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},
    "Caught":{"Type":"Pass","End":true}}})";
  testing::FakeTaskRunner tasks(h.clock);
  tasks.Script("boom", {{false, {}, "E", "bad", 0}});
  InterpreterOptions o = h.Options();
  o.task_runner = &tasks;
  h.observer.stop = [&]() -> std::optional<StateError> {
    if (tasks.calls().empty()) return std::nullopt;
    return StateError{"", ""};
  };
  ExecutionResult r = Interpreter(Machine(def), o).Execute(JsonValue::Object());
  EXPECT_EQ(r.status, ExecutionStatus::kAborted);
  EXPECT_EQ(tasks.calls().size(), 1u);
  std::vector<std::string> types;
  for (const HistoryEvent& e : r.history) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<std::string>{"ExecutionStarted", "TaskStateEntered",
                                             "TaskScheduled", "TaskStarted", "ExecutionAborted"}));
  EXPECT_EQ(r.history.back().details.Serialize(), R"({"error":"","cause":""})");
}

TEST(ExecutionObserver, StopDuringAWaitAbortsAfterTheSleep) {
  Harness h;
  int64_t begin = h.clock.NowMicros();
  // Stop as soon as the clock has moved past the Wait's 10 s (the task before takes 1 s).
  h.observer.stop = [&]() -> std::optional<StateError> {
    if (h.clock.NowMicros() - begin < 11'000'000) return std::nullopt;
    return StateError{"Stop", "now"};
  };
  ExecutionResult r =
      Interpreter(Machine(kMachine), h.Options()).Execute(ParseJson(R"({"n":1})").value());
  EXPECT_EQ(r.status, ExecutionStatus::kAborted);
  ASSERT_GE(r.history.size(), 2u);
  EXPECT_EQ(r.history[r.history.size() - 2].type, "WaitStateEntered");  // no WaitStateExited
}

TEST(ExecutionObserver, StopInsideAMapIterationAbortsTheExecution) {
  Harness h;
  const char* def = R"({"StartAt":"M","States":{"M":{"Type":"Map","End":true,
    "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"add","End":true}}},
    "Catch":[{"ErrorEquals":["States.ALL"],"Next":"X"}]},"X":{"Type":"Pass","End":true}}})";
  h.observer.stop = [&]() -> std::optional<StateError> {
    if (h.runner.calls < 2) return std::nullopt;
    return StateError{"Stop", ""};
  };
  ExecutionResult r = Interpreter(Machine(def), h.Options())
                          .Execute(ParseJson(R"([{"n":1},{"n":2},{"n":3}])").value());
  EXPECT_EQ(r.status, ExecutionStatus::kAborted);
  EXPECT_EQ(h.runner.calls, 2);
  for (const HistoryEvent& e : r.history) {
    EXPECT_NE(e.type, "MapStateFailed");
    EXPECT_NE(e.type, "PassStateEntered");
  }
}

TEST(ExecutionObserver, IsPolledBeforeEveryState) {
  Harness h;
  auto machine = Machine(R"({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},
    "B":{"Type":"Pass","End":true}}})");
  ExecutionResult r = Interpreter(machine, h.Options()).Execute(JsonValue::Object());
  EXPECT_EQ(r.status, ExecutionStatus::kSucceeded);
  EXPECT_EQ(h.observer.polls, 2);
}

// Checkpoints carry the top-level variables (not those of Parallel branches), and a resumed run
// reads them.
TEST(InterpreterResume, CarriesTopLevelVariables) {
  constexpr char kVars[] = R"({"QueryLanguage":"JSONata","StartAt":"A","States":{
    "A":{"Type":"Pass","Assign":{"x":"{% $states.input.n %}"},"Next":"P"},
    "P":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass",
         "Assign":{"inner":1},"Output":"{% $x * 2 %}","End":true}}}],
         "Assign":{"y":"{% $states.result[0] %}"},"Next":"C"},
    "C":{"Type":"Pass","Output":"{% $x * 100 + $y %}","End":true}}})";
  const JsonValue input = ParseJson(R"({"n":21})").value();
  Harness straight;
  ExecutionResult full = Interpreter(Machine(kVars), straight.Options()).Execute(input);
  ASSERT_EQ(full.status, ExecutionStatus::kSucceeded) << full.error << full.cause;
  EXPECT_EQ(full.output.Serialize(), "2142");
  ASSERT_EQ(straight.observer.checkpoints.size(), 2u);
  EXPECT_EQ(straight.observer.checkpoints[0].variables.Serialize(), R"({"x":21})");
  EXPECT_EQ(straight.observer.checkpoints[1].variables.Serialize(), R"({"x":21,"y":42})");

  Harness resumed;
  ExecutionResult rest =
      Interpreter(Machine(kVars), resumed.Options())
          .Resume(input, full.history.front().timestamp_micros, straight.observer.checkpoints[1]);
  ASSERT_EQ(rest.status, ExecutionStatus::kSucceeded) << rest.error << rest.cause;
  EXPECT_EQ(rest.output.Serialize(), "2142");

  // Without the variables the resumed state cannot evaluate its Output.
  Checkpoint no_vars = straight.observer.checkpoints[1];
  no_vars.variables = JsonValue::Object();
  ExecutionResult broken = Interpreter(Machine(kVars), resumed.Options())
                               .Resume(input, full.history.front().timestamp_micros, no_vars);
  EXPECT_EQ(broken.error, "States.QueryEvaluationError");
}

TEST(InterpreterOptions, ContextUsesGivenArns) {
  Harness h;
  InterpreterOptions o = h.Options();
  auto machine = Machine(R"({"StartAt":"P","States":{"P":{"Type":"Pass",
    "Parameters":{"e.$":"$$.Execution.Id","m.$":"$$.StateMachine.Id"},"End":true}}})");
  ExecutionResult derived = Interpreter(machine, o).Execute(JsonValue::Object());
  EXPECT_EQ(derived.output.Serialize(),
            R"({"e":"arn:aws:states:us-east-1:000000000000:execution:StateMachine:execution",)"
            R"("m":"arn:aws:states:us-east-1:000000000000:stateMachine:StateMachine"})");
  o.execution_arn = "arn:aws:states:eu-west-1:123:execution:sm:run-1";
  o.state_machine_arn = "arn:aws:states:eu-west-1:123:stateMachine:sm";
  ExecutionResult given = Interpreter(machine, o).Execute(JsonValue::Object());
  EXPECT_EQ(given.output.Serialize(), R"({"e":"arn:aws:states:eu-west-1:123:execution:sm:run-1",)"
                                      R"("m":"arn:aws:states:eu-west-1:123:stateMachine:sm"})");
}

}  // namespace
}  // namespace basin::workflow
