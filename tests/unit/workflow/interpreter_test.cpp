#include "workflow/interpreter.h"

#include <gtest/gtest.h>

#include "unit/workflow/fake_task_runner.h"
#include "workflow/definition.h"

namespace basin::workflow {
namespace {

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
