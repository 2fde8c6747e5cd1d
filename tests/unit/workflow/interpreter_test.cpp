#include "workflow/interpreter.h"

#include <gtest/gtest.h>

#include "unit/workflow/fake_task_runner.h"
#include "workflow/definition.h"

namespace basin::workflow {
namespace {

// The interpreter builds the context object (with its copy of the execution input) only for
// states whose expressions can read it; this flag decides, so it must never miss a reader.
TEST(Definition, ReadsContextFlagFindsEveryWayToTheContextObject) {
  auto machine = LoadDefinition(R"json({
    "StartAt": "Plain", "States": {
      "Plain": {"Type": "Pass", "Parameters": {"a.$": "$.x"}, "Next": "Path"},
      "Path": {"Type": "Pass", "Parameters": {"n.$": "$$.Execution.Name"}, "Next": "Intrinsic"},
      "Intrinsic": {"Type": "Pass",
                    "Parameters": {"f.$": "States.Format('{}', $$.State.Name)"}, "Next": "In"},
      "In": {"Type": "Pass", "QueryLanguage": "JSONata",
             "Output": "{% $states.input.x & $states.inputs %}", "Next": "Ctx"},
      "Ctx": {"Type": "Pass", "QueryLanguage": "JSONata",
              "Output": "{% $states.context.Execution.Name %}", "Next": "Whole"},
      "Whole": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states %}",
                "Next": "Fan"},
      "Fan": {"Type": "Map", "ItemsPath": "$.items", "End": true,
              "ItemProcessor": {"StartAt": "Inner", "States": {
                "Inner": {"Type": "Pass", "Parameters": {"i.$": "$$.Map.Item.Index"},
                          "End": true}}}}}})json");
  ASSERT_TRUE(machine.ok()) << machine.status().ToString();
  const StateMachine& m = **machine;
  EXPECT_FALSE(m.Find("Plain")->reads_context);
  EXPECT_TRUE(m.Find("Path")->reads_context);
  EXPECT_TRUE(m.Find("Intrinsic")->reads_context);
  EXPECT_TRUE(m.Find("In")->reads_context) << "$states.inputs is not $states.input";
  EXPECT_TRUE(m.Find("Ctx")->reads_context);
  EXPECT_TRUE(m.Find("Whole")->reads_context);
  EXPECT_FALSE(m.Find("Fan")->reads_context) << "its processor's `$$` is the processor's own";
  EXPECT_TRUE(m.Find("Fan")->processor->Find("Inner")->reads_context);
}

TEST(StringMatches, Globs) {
  EXPECT_TRUE(StringMatchesPattern("", ""));
  EXPECT_TRUE(StringMatchesPattern("", "*"));
  EXPECT_TRUE(StringMatchesPattern("log-2026.txt", "log-*.txt"));
  EXPECT_TRUE(StringMatchesPattern("aaa", "*a*a*a*"));
  EXPECT_FALSE(StringMatchesPattern("aa", "*a*a*a*"));
  EXPECT_TRUE(StringMatchesPattern("a*c", "a\\*c"));
  EXPECT_FALSE(StringMatchesPattern("abc", "a\\*c"));
  EXPECT_TRUE(StringMatchesPattern("a\\c", "a\\\\c"));
  EXPECT_FALSE(StringMatchesPattern("abc", "ab"));
}

TEST(Retry, DelayFormula) {
  Retrier r;
  r.interval_seconds = 2;
  r.backoff_rate = 2;
  EXPECT_DOUBLE_EQ(RetryDelaySeconds(r, 1), 2);
  EXPECT_DOUBLE_EQ(RetryDelaySeconds(r, 3), 8);
  r.max_delay_seconds = 5;
  EXPECT_DOUBLE_EQ(RetryDelaySeconds(r, 3), 5);
  r.max_delay_seconds.reset();
  r.backoff_rate = 1e300;
  EXPECT_DOUBLE_EQ(RetryDelaySeconds(r, 5), static_cast<double>(kMaxDurationSeconds));
}

TEST(Retry, ErrorMatching) {
  EXPECT_TRUE(ErrorMatches("States.ALL", "Anything"));
  EXPECT_TRUE(ErrorMatches("States.ALL", "States.Timeout"));
  EXPECT_FALSE(ErrorMatches("States.ALL", "States.Runtime"));
  EXPECT_FALSE(ErrorMatches("States.ALL", "States.DataLimitExceeded"));
  EXPECT_TRUE(ErrorMatches("States.DataLimitExceeded", "States.DataLimitExceeded"));
  EXPECT_TRUE(ErrorMatches("States.TaskFailed", "Custom"));
  EXPECT_FALSE(ErrorMatches("States.TaskFailed", "States.Timeout"));
  EXPECT_FALSE(ErrorMatches("A", "B"));
}

// FULL jitter picks a delay in [0, backoff delay]; a seed makes it repeatable.
TEST(Retry, FullJitterStaysWithinTheDelayAndIsSeeded) {
  const char* def = R"({"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,
    "Retry":[{"ErrorEquals":["E"],"IntervalSeconds":10,"MaxAttempts":3,"JitterStrategy":"FULL"}]}}})";
  auto run = [&](uint64_t seed) {
    FakeClock clock;
    FakeClockSleeper sleeper(clock);
    testing::FakeTaskRunner tasks(clock);
    tasks.Script("r", {{false, {}, "E", "", 0}});
    InterpreterOptions o;
    o.clock = &clock;
    o.sleeper = &sleeper;
    o.task_runner = &tasks;
    o.random_seed = seed;
    Interpreter interpreter(LoadDefinition(def).value(), o);
    ExecutionResult r = interpreter.Execute(JsonValue::Object());
    EXPECT_EQ(r.error, "E");
    std::vector<int64_t> gaps;
    for (size_t i = 1; i < tasks.calls().size(); ++i) {
      gaps.push_back(tasks.calls()[i].at_micros - tasks.calls()[i - 1].at_micros);
    }
    return gaps;
  };
  std::vector<int64_t> a = run(1), b = run(1), c = run(2);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const int64_t caps[] = {10'000'000, 20'000'000, 40'000'000};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GE(a[i], 0);
    EXPECT_LE(a[i], caps[i]);
  }
}

TEST(Interpreter, TaskRequestCarriesAttemptAndTimeouts) {
  struct Recorder : TaskRunner {
    std::vector<TaskRequest> seen;
    Outcome<JsonValue> Run(const TaskRequest& r) override {
      seen.push_back(r);
      if (r.attempt == 0) return MakeError("E", "first");
      return JsonValue::String("done");
    }
  } recorder;
  FakeClock clock;
  FakeClockSleeper sleeper(clock);
  InterpreterOptions o;
  o.clock = &clock;
  o.sleeper = &sleeper;
  o.task_runner = &recorder;
  auto machine = LoadDefinition(R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:x","TimeoutSeconds":9,"HeartbeatSeconds":3,"Retry":[{"ErrorEquals":["E"]}],
    "End":true}}})");
  ASSERT_TRUE(machine.ok()) << machine.status().ToString();
  ExecutionResult r = Interpreter(machine.value(), o).Execute(JsonValue::Object());
  EXPECT_EQ(r.status, ExecutionStatus::kSucceeded);
  ASSERT_EQ(recorder.seen.size(), 2u);
  EXPECT_EQ(recorder.seen[1].attempt, 1);
  EXPECT_EQ(recorder.seen[1].resource, "arn:x");
  EXPECT_EQ(recorder.seen[1].state_name, "T");
  EXPECT_EQ(recorder.seen[1].timeout_seconds, 9);
  EXPECT_EQ(recorder.seen[1].heartbeat_seconds, 3);
}

TEST(Interpreter, ItemReaderRequestIsMarked) {
  struct Recorder : TaskRunner {
    std::vector<TaskRequest> seen;
    Outcome<JsonValue> Run(const TaskRequest& r) override {
      seen.push_back(r);
      if (r.item_reader) return ParseJson(R"([{"k":1},{"k":2}])").value();
      return r.input;
    }
  } recorder;
  FakeClock clock;
  FakeClockSleeper sleeper(clock);
  InterpreterOptions o;
  o.clock = &clock;
  o.sleeper = &sleeper;
  o.task_runner = &recorder;
  auto machine = LoadDefinition(R"({"StartAt":"M","States":{"M":{"Type":"Map","End":true,
    "ItemReader":{"Resource":"arn:aws:states:::s3:getObject","Parameters":{"Key.$":"$.key"},
                  "ReaderConfig":{"InputType":"JSONL","MaxItems":1}},
    "ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"T",
                     "States":{"T":{"Type":"Task","Resource":"work","End":true}}}}}})");
  ASSERT_TRUE(machine.ok()) << machine.status().ToString();
  ExecutionResult r = Interpreter(machine.value(), o).Execute(ParseJson(R"({"key":"a"})").value());
  ASSERT_EQ(r.status, ExecutionStatus::kSucceeded) << r.error << r.cause;
  EXPECT_EQ(r.output.Serialize(), R"([{"k":1}])");
  ASSERT_EQ(recorder.seen.size(), 2u);
  EXPECT_TRUE(recorder.seen[0].item_reader);
  EXPECT_EQ(recorder.seen[0].resource, "arn:aws:states:::s3:getObject");
  EXPECT_EQ(recorder.seen[0].state_name, "M");
  EXPECT_EQ(recorder.seen[0].input.Serialize(), R"({"Key":"a"})");
  EXPECT_EQ(recorder.seen[0].reader_config.Serialize(), R"({"InputType":"JSONL","MaxItems":1})");
  EXPECT_FALSE(recorder.seen[1].item_reader);
  EXPECT_EQ(recorder.seen[1].resource, "work");
}

TEST(Interpreter, ExitedEventListsAssignedVariables) {
  FakeClock clock;
  FakeClockSleeper sleeper(clock);
  InterpreterOptions o;
  o.clock = &clock;
  o.sleeper = &sleeper;
  auto machine = LoadDefinition(R"({"StartAt":"P","States":{"P":{"Type":"Pass",
    "Assign":{"x":1,"s.$":"$.a"},"End":true}}})");
  ASSERT_TRUE(machine.ok()) << machine.status().ToString();
  ExecutionResult r = Interpreter(machine.value(), o).Execute(ParseJson(R"({"a":"v"})").value());
  ASSERT_EQ(r.history.size(), 4u);
  EXPECT_EQ(r.history[2].ToJson().Find("stateExitedEventDetails")->Serialize(),
            R"({"name":"P","output":"{\"a\":\"v\"}","assignedVariables":{"x":"1","s":"\"v\""},)"
            R"("assignedVariablesDetails":{"truncated":false}})");
}

TEST(Interpreter, NoTaskRunnerIsATaskFailure) {
  FakeClock clock;
  FakeClockSleeper sleeper(clock);
  InterpreterOptions o;
  o.clock = &clock;
  o.sleeper = &sleeper;
  auto machine =
      LoadDefinition(R"({"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true}}})");
  ExecutionResult r = Interpreter(machine.value(), o).Execute(JsonValue::Object());
  EXPECT_EQ(r.error, "States.TaskFailed");
}

TEST(Interpreter, HistoryEventJsonShape) {
  FakeClock clock(1'700'000'000'123'000);
  FakeClockSleeper sleeper(clock);
  InterpreterOptions o;
  o.clock = &clock;
  o.sleeper = &sleeper;
  auto machine = LoadDefinition(R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  ExecutionResult r = Interpreter(machine.value(), o).Execute(ParseJson(R"({"a":1})").value());
  ASSERT_EQ(r.history.size(), 4u);
  EXPECT_EQ(
      r.history[1].ToJson().Serialize(),
      R"({"id":2,"previousEventId":1,"timestamp":"2023-11-14T22:13:20.123Z",)"
      R"("type":"PassStateEntered","stateEnteredEventDetails":{"name":"P","input":"{\"a\":1}"}})");
  EXPECT_EQ(r.history[3].ToJson().Find("executionSucceededEventDetails")->Serialize(),
            R"({"output":"{\"a\":1}"})");
}

TEST(Interpreter, ReusableAcrossExecutions) {
  FakeClock clock;
  FakeClockSleeper sleeper(clock);
  InterpreterOptions o;
  o.clock = &clock;
  o.sleeper = &sleeper;
  auto machine =
      LoadDefinition(R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}})");
  Interpreter interpreter(machine.value(), o);
  for (int i = 0; i < 3; ++i) {
    ExecutionResult r = interpreter.Execute(JsonValue::Int(i));
    EXPECT_EQ(r.output.Serialize(), std::to_string(i));
  }
  EXPECT_EQ(clock.NowMicros(), 1'700'000'000'000'000 + 15'000'000);
}

TEST(Definition, LoadDefinitionStatusCodes) {
  EXPECT_EQ(LoadDefinition("{").status().code(), ErrorCode::kMalformedJson);
  EXPECT_EQ(LoadDefinition("\"" + std::string(kMaxPayloadBytes + 1, 'x') + "\"").status().code(),
            ErrorCode::kPayloadTooLarge);
  Result<std::shared_ptr<StateMachine>> bad =
      LoadDefinition(R"({"StartAt":"A","States":{"A":{"Type":"Pass"}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kValidationFailed);
  EXPECT_NE(bad.status().message().find("/States/A/Next"), std::string::npos);
}

TEST(Definition, Timestamps) {
  EXPECT_TRUE(ParseAslTimestamp("2026-01-02T03:04:05Z"));
  EXPECT_TRUE(ParseAslTimestamp("2026-01-02T03:04:05.123456+05:30"));
  EXPECT_EQ(*ParseAslTimestamp("2026-01-02T04:04:05+01:00"),
            *ParseAslTimestamp("2026-01-02T03:04:05Z"));
  for (const char* bad :
       {"2026-01-02", "2026-01-02 03:04:05Z", "2026-01-02t03:04:05z", "2026-01-02T03:04:05",
        "2026-13-02T03:04:05Z", "2026-01-02T03:04:05.Z", "2026-01-02T03:04:05+0100", ""}) {
    EXPECT_FALSE(ParseAslTimestamp(bad)) << bad;
  }
}

}  // namespace
}  // namespace basin::workflow
