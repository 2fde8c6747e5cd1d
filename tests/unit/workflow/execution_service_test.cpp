// ExecutionService over a real catalog in a temporary folder. Time is a FakeClock; executions
// run on the service's threads, and tests wait for them with WaitForExecution or condition
// variables, never with sleeps.

#include "workflow/execution_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "unit/temp_dir.h"
#include "unit/workflow/fake_task_runner.h"

namespace basin::workflow {
namespace {

using test::TempDir;
using testing::FakeTaskResult;
using testing::FakeTaskRunner;

constexpr char kBlock[] = "arn:test:block";  // blocks until the test releases it
constexpr char kEcho[] = "arn:test:echo";
constexpr char kOnce[] = "arn:test:once";  // not idempotent
// 2026-01-01T00:00:00Z
constexpr int64_t kNewYear = 1'767'225'600'000'000;
constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kMinute = 60'000'000;

// The task runner every execution of a test shares: a FakeTaskRunner behind a mutex, plus the
// resource kBlock, which waits until the test releases it.
class Tasks {
 public:
  explicit Tasks(FakeClock& clock) : fake_(clock) {}

  Outcome<JsonValue> Run(const TaskRequest& request) {
    std::unique_lock lock(mu_);
    if (request.resource == kBlock) {
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return releases_ > 0; });
      --releases_;
    }
    return fake_.Run(request);
  }
  void WaitEntered(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  void Release(int n) {
    std::lock_guard lock(mu_);
    releases_ += n;
    cv_.notify_all();
  }
  int Calls(const std::string& resource) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& call : fake_.calls()) n += call.resource == resource ? 1 : 0;
    return n;
  }
  void Script(const std::string& resource, std::vector<FakeTaskResult> results) {
    std::lock_guard lock(mu_);
    fake_.Script(resource, std::move(results));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  FakeTaskRunner fake_;
  int entered_ = 0;
  int releases_ = 0;
};

class SharedRunner final : public TaskRunner {
 public:
  explicit SharedRunner(Tasks& tasks) : tasks_(tasks) {}
  Outcome<JsonValue> Run(const TaskRequest& request) override { return tasks_.Run(request); }

 private:
  Tasks& tasks_;
};

// Spins (yielding) until `done` holds; fails the test after 30 s of real time rather than hang.
template <typename F>
bool SpinUntil(F done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

std::vector<std::string> Types(const std::vector<HistoryEvent>& events) {
  std::vector<std::string> out;
  for (const HistoryEvent& e : events) out.push_back(e.type);
  return out;
}

class ExecutionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override {
    tasks_.Release(100);  // never leave a thread blocked
    service_.reset();
  }

  void Open() {
    auto catalog = catalog::Catalog::Open(dir_.path() + "/basin.db", &clock_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    ExecutionServiceOptions options;
    options.catalog = catalog_.get();
    options.clock = &clock_;
    options.sleeper = use_real_sleeper_ ? nullptr : &sleeper_;
    options.make_task_runner = [this] { return std::make_unique<SharedRunner>(tasks_); };
    options.resource_is_idempotent = [this](std::string_view r) { return idempotent_.count(r); };
    options.check_resources = [](const StateMachine& m) {
      std::vector<ValidationError> errors;
      for (const State& s : m.states) {
        if (s.type == StateType::kTask && s.resource.starts_with("arn:unknown")) {
          errors.push_back({"/States/" + s.name + "/Resource", "unknown resource"});
        }
      }
      return errors;
    };
    options.max_running_executions = max_running_;
    options.observe_only = observe_only_;
    auto service = ExecutionService::Open(std::move(options));
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
  }
  // A process restart: everything is closed and opened again over the same files.
  void Restart() {
    service_.reset();
    catalog_.reset();
    Open();
  }

  std::string Create(const std::string& name, const std::string& definition) {
    auto machine = service_->CreateStateMachine(name, definition, "");
    EXPECT_TRUE(machine.ok()) << machine.status().ToString();
    return machine.ok() ? machine->arn : "";
  }
  ExecutionRecord Start(const std::string& machine, const std::string& name,
                        const std::string& input = "{}") {
    auto execution = service_->StartExecution(machine, name, input);
    EXPECT_TRUE(execution.ok()) << execution.status().ToString();
    return execution.ok() ? *execution : ExecutionRecord{};
  }
  ExecutionRecord Wait(const std::string& arn) {
    auto execution = service_->WaitForExecution(arn);
    EXPECT_TRUE(execution.ok()) << execution.status().ToString();
    return execution.ok() ? *execution : ExecutionRecord{};
  }
  std::vector<HistoryEvent> History(const std::string& arn) {
    auto history = service_->GetExecutionHistory(arn);
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    return history.ok() ? *history : std::vector<HistoryEvent>{};
  }
  bool HistoryHas(const std::string& arn, const std::string& type) {
    for (const HistoryEvent& e : History(arn)) {
      if (e.type == type) return true;
    }
    return false;
  }
  // Shuts the service down while a kBlock task runs: the task finishes after the shutdown was
  // requested, so the execution stops at its next check and stays RUNNING.
  void ShutdownDuringBlockedTask() {
    std::thread shutdown([this] { service_->Shutdown(); });
    ASSERT_TRUE(SpinUntil([this] {
      return service_->StartExecution("arn:none", "x", "{}").status().code() ==
             ErrorCode::kShuttingDown;
    }));
    tasks_.Release(1);
    shutdown.join();
  }

  TempDir dir_;
  FakeClock clock_{kNewYear};
  FakeClockSleeper sleeper_{clock_};
  Tasks tasks_{clock_};
  std::set<std::string, std::less<>> idempotent_{kEcho, kBlock};
  bool use_real_sleeper_ = false;
  int64_t max_running_ = 64;
  bool observe_only_ = false;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<ExecutionService> service_;
};

const char kPassTaskSucceed[] = R"({
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": {"step": 1}, "ResultPath": "$.prepared", "Next": "Work"},
    "Work": {"Type": "Task", "Resource": "arn:test:echo", "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
})";

// Once -> Block -> After: a task that must not run twice, then one that blocks, then an echo.
const char kOnceBlockAfter[] = R"({
  "StartAt": "Once",
  "States": {
    "Once": {"Type": "Task", "Resource": "arn:test:once", "Next": "Block"},
    "Block": {"Type": "Task", "Resource": "arn:test:block", "Next": "After"},
    "After": {"Type": "Task", "Resource": "arn:test:echo", "End": true}
  }
})";

TEST_F(ExecutionServiceTest, StateMachinesCreateDescribeListUpdateDelete) {
  auto created = service_->CreateStateMachine("orders", kPassTaskSucceed, "arn:aws:iam::1:role/r");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->arn, "arn:aws:states:us-east-1:000000000000:stateMachine:orders");
  EXPECT_EQ(created->arn, service_->StateMachineArn("orders"));
  EXPECT_EQ(created->type, "STANDARD");
  EXPECT_EQ(created->creation_micros, kNewYear);
  // Creating the same machine again is idempotent; another definition under the name is not.
  EXPECT_TRUE(
      service_->CreateStateMachine("orders", kPassTaskSucceed, "arn:aws:iam::1:role/r").ok());
  EXPECT_EQ(service_->CreateStateMachine("orders", kOnceBlockAfter, "arn:aws:iam::1:role/r")
                .status()
                .code(),
            ErrorCode::kAlreadyExists);
  Create("billing", kOnceBlockAfter);

  auto listed = service_->ListStateMachines();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "billing");
  EXPECT_EQ((*listed)[1].name, "orders");

  clock_.Advance(kMinute);
  auto updated = service_->UpdateStateMachine(created->arn, kOnceBlockAfter, "");
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->definition, kOnceBlockAfter);
  EXPECT_EQ(updated->role_arn, "arn:aws:iam::1:role/r");
  EXPECT_EQ(updated->update_micros, kNewYear + kMinute);
  EXPECT_EQ(updated->creation_micros, kNewYear);

  // An invalid update changes nothing.
  EXPECT_EQ(service_->UpdateStateMachine(created->arn, "{\"StartAt\":1}", "").status().code(),
            ErrorCode::kValidationFailed);
  EXPECT_EQ(service_->DescribeStateMachine(created->arn)->definition, kOnceBlockAfter);
  EXPECT_EQ(service_->UpdateStateMachine("arn:none", kPassTaskSucceed, "").status().code(),
            ErrorCode::kNotFound);

  Restart();
  EXPECT_EQ(service_->DescribeStateMachine(created->arn)->definition, kOnceBlockAfter);
  ASSERT_TRUE(service_->DeleteStateMachine(created->arn).ok());
  EXPECT_EQ(service_->DescribeStateMachine(created->arn).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_->DeleteStateMachine(created->arn).code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_->ListStateMachines()->size(), 1u);
}

TEST_F(ExecutionServiceTest, InvalidDefinitionsAndNamesAreRejectedWithPointers) {
  auto bad = service_->CreateStateMachine(
      "m", R"({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Missing"}}})", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kValidationFailed);
  EXPECT_NE(bad.status().message().find("/States/A/Next"), std::string::npos)
      << bad.status().message();

  auto unknown = service_->CreateStateMachine(
      "m",
      R"({"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:unknown:x","End":true}}})",
      "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kValidationFailed);
  EXPECT_NE(unknown.status().message().find("/States/T/Resource: unknown resource"),
            std::string::npos)
      << unknown.status().message();

  EXPECT_EQ(service_->CreateStateMachine("m", "{not json", "").status().code(),
            ErrorCode::kValidationFailed);
  for (const std::string& name : {std::string(""), std::string("has space"), std::string("a/b"),
                                  std::string("dot.name"), std::string(81, 'x')}) {
    EXPECT_EQ(service_->CreateStateMachine(name, kPassTaskSucceed, "").status().code(),
              ErrorCode::kValidationFailed)
        << name;
  }
  EXPECT_TRUE(service_->CreateStateMachine(std::string(80, 'x'), kPassTaskSucceed, "").ok());
  EXPECT_TRUE(service_->ListStateMachines()->size() == 1u);
}

TEST_F(ExecutionServiceTest, StartWaitDescribeAndHistoryPersist) {
  const std::string machine = Create("orders", kPassTaskSucceed);
  tasks_.Script(kEcho, {{true, *ParseJson(R"({"done":true})"), "", "", 5}});
  ExecutionRecord started = Start(machine, "run-1", R"({"n":1})");
  EXPECT_EQ(started.arn, "arn:aws:states:us-east-1:000000000000:execution:orders:run-1");
  EXPECT_EQ(started.state, ExecutionState::kRunning);
  EXPECT_EQ(started.start_micros, kNewYear);

  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kSucceeded);
  ASSERT_TRUE(done.output.has_value());
  EXPECT_EQ(*done.output, R"({"done":true})");
  EXPECT_EQ(done.stop_micros, kNewYear + 5'000'000);  // the task took 5 fake seconds
  EXPECT_EQ(done.input, R"({"n":1})");
  EXPECT_EQ(done.resume_count, 0);
  // The task saw the Pass state's output.
  ASSERT_EQ(tasks_.Calls(kEcho), 1);

  const std::vector<std::string> expected = {
      "ExecutionStarted",    "PassStateEntered",   "PassStateExited",   "TaskStateEntered",
      "TaskScheduled",       "TaskStarted",        "TaskSucceeded",     "TaskStateExited",
      "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"};
  std::vector<HistoryEvent> history = History(started.arn);
  EXPECT_EQ(Types(history), expected);
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].id, static_cast<int64_t>(i + 1));
    EXPECT_EQ(history[i].previous_event_id, static_cast<int64_t>(i));
  }
  EXPECT_EQ(history[1].details_key, "stateEnteredEventDetails");
  EXPECT_EQ(history[1].details.Find("name")->AsString(), "Prepare");
  EXPECT_EQ(history[4].details.Find("resource")->AsString(), kEcho);
  EXPECT_EQ(history[4].details.Find("parameters")->AsString(), R"({"n":1,"prepared":{"step":1}})");
  EXPECT_EQ(history.back().timestamp_micros, kNewYear + 5'000'000);

  // Another, failing run; newest first in the list, filter by state.
  const std::string failing = Create(
      "failing", R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Oops","Cause":"c"}}})");
  clock_.Advance(kMinute);
  ExecutionRecord failed = Wait(Start(failing, "f1").arn);
  EXPECT_EQ(failed.state, ExecutionState::kFailed);
  EXPECT_EQ(failed.error, "Oops");
  EXPECT_EQ(failed.cause, "c");
  EXPECT_FALSE(failed.output.has_value());
  EXPECT_EQ(History(failed.arn).back().type, "ExecutionFailed");

  clock_.Advance(kMinute);
  Wait(Start(machine, "run-2").arn);
  Restart();
  auto list = service_->ListExecutions(machine);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "run-2");
  EXPECT_EQ((*list)[1].name, "run-1");
  EXPECT_EQ(service_->ListExecutions(failing, ExecutionState::kFailed)->size(), 1u);
  EXPECT_EQ(service_->ListExecutions(failing, ExecutionState::kSucceeded)->size(), 0u);
  EXPECT_EQ(service_->ListExecutions("arn:none").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Types(History(started.arn)), expected);
  EXPECT_EQ(service_->DescribeExecution(started.arn)->output, R"({"done":true})");
  EXPECT_EQ(service_->DescribeExecution("arn:none").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_->GetExecutionHistory("arn:none").status().code(), ErrorCode::kNotFound);
}

TEST_F(ExecutionServiceTest, StartChecksNamesInputAndMachine) {
  const std::string machine = Create("orders", kPassTaskSucceed);
  EXPECT_EQ(service_->StartExecution("arn:none", "a", "{}").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_->StartExecution(machine, "bad name", "{}").status().code(),
            ErrorCode::kValidationFailed);
  EXPECT_EQ(service_->StartExecution(machine, std::string(81, 'a'), "{}").status().code(),
            ErrorCode::kValidationFailed);
  EXPECT_EQ(service_->StartExecution(machine, "a", "{\"x\":").status().code(),
            ErrorCode::kMalformedJson);
  const std::string big = "\"" + std::string(256 * 1024, 'x') + "\"";
  EXPECT_EQ(service_->StartExecution(machine, "a", big).status().code(),
            ErrorCode::kPayloadTooLarge);

  ExecutionRecord first = Start(machine, "same");
  Wait(first.arn);
  // A name is used once per machine, also after the execution ended.
  EXPECT_EQ(service_->StartExecution(machine, "same", "{}").status().code(),
            ErrorCode::kAlreadyExists);
  // Another machine may use it.
  const std::string other = Create("other", kPassTaskSucceed);
  EXPECT_TRUE(service_->StartExecution(other, "same", "{}").ok());

  // No name: a UUID; empty input: {}.
  auto unnamed = service_->StartExecution(machine, "", "");
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().ToString();
  EXPECT_EQ(unnamed->name.size(), 36u);
  EXPECT_EQ(unnamed->name[14], '4');
  EXPECT_EQ(Wait(unnamed->arn).state, ExecutionState::kSucceeded);
  EXPECT_EQ(unnamed->input, "{}");
}

TEST_F(ExecutionServiceTest, RunningExecutionsAreLimitedAndHoldTheirMachine) {
  service_.reset();
  max_running_ = 2;
  Open();
  const std::string machine =
      Create("blocking", R"({"StartAt":"B","States":{"B":{"Type":"Task","Resource":")" +
                             std::string(kBlock) + R"(","End":true}}})");
  ExecutionRecord a = Start(machine, "a");
  ExecutionRecord b = Start(machine, "b");
  auto c = service_->StartExecution(machine, "c", "{}");
  EXPECT_EQ(c.status().code(), ErrorCode::kConflict) << c.status().ToString();
  EXPECT_EQ(service_->DeleteStateMachine(machine).code(), ErrorCode::kConflict);

  tasks_.Release(2);
  EXPECT_EQ(Wait(a.arn).state, ExecutionState::kSucceeded);
  EXPECT_EQ(Wait(b.arn).state, ExecutionState::kSucceeded);
  tasks_.Release(1);
  EXPECT_EQ(Wait(Start(machine, "c").arn).state, ExecutionState::kSucceeded);
  EXPECT_TRUE(service_->DeleteStateMachine(machine).ok());
  EXPECT_EQ(service_->DescribeExecution(a.arn).status().code(), ErrorCode::kNotFound);
}

TEST_F(ExecutionServiceTest, StopWakesAWaitingExecutionAndRecordsAbortedAtOnce) {
  service_.reset();
  use_real_sleeper_ = true;  // the service's interruptible sleeper, on the FakeClock
  Open();
  const std::string machine = Create(
      "waiting",
      R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"Next":"D"},"D":{"Type":"Succeed"}}})");
  ExecutionRecord started = Start(machine, "w1");
  ASSERT_TRUE(SpinUntil([&] { return HistoryHas(started.arn, "WaitStateEntered"); }));

  clock_.Advance(kMinute);
  auto stopped = service_->StopExecution(started.arn, "Manual", "stopped by the test");
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_EQ(stopped->state, ExecutionState::kAborted);
  EXPECT_EQ(stopped->error, "Manual");
  EXPECT_EQ(stopped->stop_micros, kNewYear + kMinute);

  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kAborted);
  EXPECT_EQ(done.cause, "stopped by the test");
  std::vector<HistoryEvent> history = History(started.arn);
  EXPECT_EQ(Types(history),
            (std::vector<std::string>{"ExecutionStarted", "WaitStateEntered", "ExecutionAborted"}));
  EXPECT_EQ(history.back().details.Find("error")->AsString(), "Manual");
  EXPECT_EQ(history.back().details.Find("cause")->AsString(), "stopped by the test");

  // Stopping it again changes nothing.
  clock_.Advance(kMinute);
  auto again = service_->StopExecution(started.arn, "Other", "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->error, "Manual");
  EXPECT_EQ(again->stop_micros, kNewYear + kMinute);
  EXPECT_EQ(service_->StopExecution("arn:none", "", "").status().code(), ErrorCode::kNotFound);

  // An ended execution is not touched by a stop either.
  const std::string quick = Create("quick", kPassTaskSucceed);
  ExecutionRecord finished = Wait(Start(quick, "q").arn);
  EXPECT_EQ(service_->StopExecution(finished.arn, "X", "")->state, ExecutionState::kSucceeded);
}

TEST_F(ExecutionServiceTest, ShutdownLeavesRunningAndOpenResumesAtTheCheckpoint) {
  const std::string machine = Create("resumable", kOnceBlockAfter);
  tasks_.Script(kOnce, {{true, *ParseJson(R"({"once":1})"), "", "", 0}});
  ExecutionRecord started = Start(machine, "r1", R"({"in":true})");
  tasks_.WaitEntered(1);
  ShutdownDuringBlockedTask();

  // Still RUNNING, with the history up to the start of the blocked task and no abort event.
  EXPECT_EQ(service_->DescribeExecution(started.arn)->state, ExecutionState::kRunning);
  std::vector<HistoryEvent> before = History(started.arn);
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(before.back().type, "TaskStarted");
  EXPECT_EQ(before.back().details.Find("resource")->AsString(), kBlock);

  tasks_.Release(1);  // the resumed Block task does not wait
  Restart();
  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kSucceeded);
  EXPECT_EQ(done.resume_count, 1);
  EXPECT_EQ(done.output, R"({"once":1})");
  EXPECT_EQ(done.start_micros, kNewYear);
  // Once ran before the checkpoint and is not run again; Block was in flight and ran twice.
  EXPECT_EQ(tasks_.Calls(kOnce), 1);
  EXPECT_EQ(tasks_.Calls(kBlock), 2);
  EXPECT_EQ(tasks_.Calls(kEcho), 1);

  // The history reads like one uninterrupted run: the partial events of Block were replaced.
  std::vector<HistoryEvent> history = History(started.arn);
  const std::vector<std::string> task = {"TaskStateEntered", "TaskScheduled", "TaskStarted",
                                         "TaskSucceeded", "TaskStateExited"};
  std::vector<std::string> expected = {"ExecutionStarted"};
  for (int i = 0; i < 3; ++i) expected.insert(expected.end(), task.begin(), task.end());
  expected.push_back("ExecutionSucceeded");
  EXPECT_EQ(Types(history), expected);
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].id, static_cast<int64_t>(i + 1));
  }
}

// `basin workflow list` opens the service to read: it must not resume the executions a stopped
// server left RUNNING (it would run them only until it exits), nor run anything itself.
TEST_F(ExecutionServiceTest, AnObserveOnlyServiceNeverResumesOrStarts) {
  const std::string machine = Create("resumable", kOnceBlockAfter);
  tasks_.Script(kOnce, {{true, *ParseJson(R"({"once":1})"), "", "", 0}});
  ExecutionRecord started = Start(machine, "r1");
  tasks_.WaitEntered(1);
  ShutdownDuringBlockedTask();

  observe_only_ = true;
  tasks_.Release(1);
  Restart();
  EXPECT_FALSE(service_->runs_executions());
  EXPECT_EQ(service_->DescribeExecution(started.arn)->state, ExecutionState::kRunning);
  EXPECT_EQ(service_->DescribeExecution(started.arn)->resume_count, 0);
  EXPECT_EQ(tasks_.Calls(kBlock), 1);
  EXPECT_EQ(service_->StartExecution(machine, "r2", "{}").status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(service_->StopExecution(started.arn, "", "").status().code(), ErrorCode::kUnavailable);

  // The next service that may run executions resumes it.
  observe_only_ = false;
  Restart();
  EXPECT_TRUE(service_->runs_executions());
  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kSucceeded);
  EXPECT_EQ(done.resume_count, 1);
}

TEST_F(ExecutionServiceTest, ResumeOfANonIdempotentTaskInFlightFailsTheExecution) {
  idempotent_.erase(kBlock);
  const std::string machine = Create("unsafe", kOnceBlockAfter);
  ExecutionRecord started = Start(machine, "u1");
  tasks_.WaitEntered(1);
  ShutdownDuringBlockedTask();
  const size_t events_before = History(started.arn).size();

  tasks_.Release(1);
  Restart();
  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kFailed);
  EXPECT_EQ(done.error, "States.Runtime");
  EXPECT_NE(done.cause.find("'Block'"), std::string::npos) << done.cause;
  EXPECT_NE(done.cause.find(kBlock), std::string::npos) << done.cause;
  EXPECT_EQ(done.resume_count, 0);
  EXPECT_EQ(tasks_.Calls(kBlock), 1);  // not run again
  EXPECT_EQ(tasks_.Calls(kEcho), 0);
  std::vector<HistoryEvent> history = History(started.arn);
  ASSERT_EQ(history.size(), events_before + 1);
  EXPECT_EQ(history.back().type, "ExecutionFailed");
  EXPECT_EQ(history.back().id, static_cast<int64_t>(events_before + 1));
  EXPECT_EQ(history.back().details.Find("error")->AsString(), "States.Runtime");

  // Another restart leaves it alone.
  Restart();
  EXPECT_EQ(service_->DescribeExecution(started.arn)->state, ExecutionState::kFailed);
  EXPECT_EQ(History(started.arn).size(), events_before + 1);
}

TEST_F(ExecutionServiceTest, ANonIdempotentTaskInsideAParallelInFlightFailsTheResume) {
  idempotent_.erase(kBlock);
  const std::string machine = Create("parallel", R"({
    "StartAt": "P",
    "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "Inner", "States": {"Inner": {"Type": "Task", "Resource": "arn:test:block",
                                                "End": true}}}]}}
  })");
  ExecutionRecord started = Start(machine, "p1");
  tasks_.WaitEntered(1);
  ShutdownDuringBlockedTask();
  tasks_.Release(1);
  Restart();
  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kFailed);
  EXPECT_NE(done.cause.find("'Inner'"), std::string::npos) << done.cause;
  EXPECT_EQ(tasks_.Calls(kBlock), 1);
}

TEST_F(ExecutionServiceTest, AnExecutionInterruptedInItsFirstStateResumesAtStartAt) {
  const std::string machine = Create(
      "first", R"({"StartAt":"Block","States":{"Block":{"Type":"Task","Resource":"arn:test:block",
                   "Next":"After"},"After":{"Type":"Task","Resource":"arn:test:echo","End":true}}})");
  ExecutionRecord started = Start(machine, "f1", R"({"k":"v"})");
  tasks_.WaitEntered(1);
  ShutdownDuringBlockedTask();
  EXPECT_FALSE(catalog_->FindExecution(started.arn)->value().checkpoint.has_value());

  tasks_.Release(1);
  Restart();
  ExecutionRecord done = Wait(started.arn);
  EXPECT_EQ(done.state, ExecutionState::kSucceeded);
  EXPECT_EQ(done.output, R"({"k":"v"})");
  EXPECT_EQ(done.resume_count, 1);
  std::vector<std::string> types = Types(History(started.arn));
  EXPECT_EQ(std::count(types.begin(), types.end(), "ExecutionStarted"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "TaskStateEntered"), 2);
  EXPECT_EQ(types.back(), "ExecutionSucceeded");
}

TEST_F(ExecutionServiceTest, AnExecutionWhoseCheckpointIsDamagedFailsInsteadOfResuming) {
  const std::string machine = Create("damaged", kPassTaskSucceed);
  catalog::ExecutionRow row;
  row.arn = "arn:aws:states:us-east-1:000000000000:execution:damaged:d1";
  row.name = "d1";
  row.state_machine_arn = machine;
  row.definition = kPassTaskSucceed;
  row.input = "{}";
  row.start_micros = kNewYear;
  row.checkpoint = R"({"next_state":"Work"})";  // no input, transitions, ...
  ASSERT_TRUE(catalog_->InsertExecution(row, 10).ok());
  Restart();
  ExecutionRecord done = Wait(row.arn);
  EXPECT_EQ(done.state, ExecutionState::kFailed);
  EXPECT_EQ(done.error, "States.Runtime");
  EXPECT_NE(done.cause.find("checkpoint"), std::string::npos) << done.cause;
  EXPECT_EQ(tasks_.Calls(kEcho), 0);
  EXPECT_EQ(Types(History(row.arn)), std::vector<std::string>{"ExecutionFailed"});
}

TEST_F(ExecutionServiceTest, RateScheduleFiresOncePerFireTimeAcrossRestarts) {
  const std::string machine = Create("hourly-job", kPassTaskSucceed);
  ScheduleRecord schedule;
  schedule.name = "hourly";
  schedule.expression = "rate(1 hour)";
  schedule.state_machine_arn = machine;
  schedule.input = R"({"from":"schedule"})";
  ASSERT_TRUE(service_->PutSchedule(schedule).ok());

  auto none = service_->RunDueSchedules(kNewYear + 30 * kMinute);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  clock_.Set(kNewYear + kHour + 10'000'000);
  auto fired = service_->RunDueSchedules(clock_.NowMicros());
  ASSERT_TRUE(fired.ok()) << fired.status().ToString();
  ASSERT_EQ(fired->size(), 1u);
  EXPECT_EQ((*fired)[0].name, "hourly-20260101T010000Z");
  EXPECT_EQ((*fired)[0].input, R"({"from":"schedule"})");
  EXPECT_EQ(Wait((*fired)[0].arn).state, ExecutionState::kSucceeded);
  EXPECT_EQ(service_->ListSchedules()->at(0).last_run_micros, kNewYear + kHour);
  EXPECT_TRUE(service_->RunDueSchedules(clock_.NowMicros())->empty());

  Restart();
  EXPECT_TRUE(service_->RunDueSchedules(kNewYear + kHour + 20'000'000)->empty());

  // A crash between starting the execution and recording the fire time: the execution's name
  // says it ran, so it does not run again.
  auto row = catalog_->FindSchedule("hourly");
  ASSERT_TRUE(row.ok() && row->has_value());
  catalog::ScheduleRow rewound = **row;
  rewound.last_run_micros.reset();
  ASSERT_TRUE(catalog_->PutSchedule(rewound).ok());
  EXPECT_TRUE(service_->RunDueSchedules(kNewYear + kHour + 30'000'000)->empty());
  EXPECT_EQ(service_->ListSchedules()->at(0).last_run_micros, kNewYear + kHour);
  EXPECT_EQ(service_->ListExecutions(machine)->size(), 1u);

  // Replacing it with the same expression keeps what has run; the next hour fires.
  schedule.input = R"({"v":2})";
  ASSERT_TRUE(service_->PutSchedule(schedule).ok());
  EXPECT_EQ(service_->ListSchedules()->at(0).last_run_micros, kNewYear + kHour);
  auto next = service_->RunDueSchedules(kNewYear + 2 * kHour);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].name, "hourly-20260101T020000Z");
  EXPECT_EQ((*next)[0].input, R"({"v":2})");
  Wait((*next)[0].arn);
}

TEST_F(ExecutionServiceTest, MissedCronRunsFollowEachSchedulesPolicy) {
  const std::string machine = Create("job", kPassTaskSucceed);
  ScheduleRecord catchup;
  catchup.name = "catchup";
  catchup.expression = "cron(0 * * * ? *)";
  catchup.state_machine_arn = machine;
  catchup.missed_runs = MissedRunPolicy::kRunOnce;
  ScheduleRecord skipper = catchup;
  skipper.name = "skipper";
  skipper.missed_runs = MissedRunPolicy::kSkip;
  ASSERT_TRUE(service_->PutSchedule(catchup).ok());
  ASSERT_TRUE(service_->PutSchedule(skipper).ok());

  // Down from 00:00 to 05:10: five fire times passed.
  Restart();
  const int64_t late = kNewYear + 5 * kHour + 10 * kMinute;
  auto fired = service_->RunDueSchedules(late);
  ASSERT_TRUE(fired.ok()) << fired.status().ToString();
  ASSERT_EQ(fired->size(), 1u);
  EXPECT_EQ((*fired)[0].name, "catchup-20260101T050000Z");  // the latest missed one, once
  Wait((*fired)[0].arn);
  auto schedules = service_->ListSchedules();
  ASSERT_EQ(schedules->size(), 2u);
  EXPECT_EQ((*schedules)[0].last_run_micros, kNewYear + 5 * kHour);
  EXPECT_EQ((*schedules)[1].missed_runs, MissedRunPolicy::kSkip);
  EXPECT_EQ((*schedules)[1].last_run_micros, late);  // skipped up to now

  // 06:00 is on time for both.
  auto on_time = service_->RunDueSchedules(kNewYear + 6 * kHour + 5'000'000);
  ASSERT_EQ(on_time->size(), 2u);
  EXPECT_EQ((*on_time)[0].name, "catchup-20260101T060000Z");
  EXPECT_EQ((*on_time)[1].name, "skipper-20260101T060000Z");
  for (const auto& e : *on_time) EXPECT_EQ(Wait(e.arn).state, ExecutionState::kSucceeded);
  EXPECT_TRUE(service_->RunDueSchedules(kNewYear + 6 * kHour + 30'000'000)->empty());
}

TEST_F(ExecutionServiceTest, SchedulesAreValidatedAndCanBeDisabledAndDeleted) {
  const std::string machine = Create("job", kPassTaskSucceed);
  ScheduleRecord s;
  s.name = "once";
  s.expression = "at(2026-01-01T03:00:00)";
  s.timezone = "UTC";
  s.state_machine_arn = machine;

  ScheduleRecord bad = s;
  bad.expression = "cron(0 25 * * ? *)";
  EXPECT_EQ(service_->PutSchedule(bad).code(), ErrorCode::kValidationFailed);
  bad = s;
  bad.timezone = "Mars/Base";
  EXPECT_EQ(service_->PutSchedule(bad).code(), ErrorCode::kValidationFailed);
  bad = s;
  bad.name = std::string(63, 'n');  // no room left for the fire time in execution names
  EXPECT_EQ(service_->PutSchedule(bad).code(), ErrorCode::kValidationFailed);
  bad = s;
  bad.state_machine_arn = "arn:none";
  EXPECT_EQ(service_->PutSchedule(bad).code(), ErrorCode::kNotFound);
  bad = s;
  bad.input = "{";
  EXPECT_EQ(service_->PutSchedule(bad).code(), ErrorCode::kMalformedJson);

  ScheduleRecord disabled = s;
  disabled.name = "disabled";
  disabled.enabled = false;
  ASSERT_TRUE(service_->PutSchedule(s).ok());
  ASSERT_TRUE(service_->PutSchedule(disabled).ok());
  auto fired = service_->RunDueSchedules(kNewYear + 3 * kHour);
  ASSERT_EQ(fired->size(), 1u);
  EXPECT_EQ((*fired)[0].name, "once-20260101T030000Z");
  Wait((*fired)[0].arn);
  EXPECT_TRUE(service_->RunDueSchedules(kNewYear + 30 * kHour)->empty());  // at() fires once

  ASSERT_TRUE(service_->DeleteSchedule("once").ok());
  EXPECT_EQ(service_->DeleteSchedule("once").code(), ErrorCode::kNotFound);
  auto left = service_->ListSchedules();
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->at(0).name, "disabled");
  EXPECT_FALSE(left->at(0).enabled);
}

TEST_F(ExecutionServiceTest, SchedulerThreadFiresADueScheduleAndStopsAtShutdown) {
  const std::string machine = Create("job", kPassTaskSucceed);
  ScheduleRecord s;
  s.name = "every-minute";
  s.expression = "rate(1 minute)";
  s.state_machine_arn = machine;
  ASSERT_TRUE(service_->PutSchedule(s).ok());
  clock_.Advance(kMinute);  // the first fire time is now

  service_->StartScheduler();
  service_->StartScheduler();  // idempotent
  const std::string arn =
      "arn:aws:states:us-east-1:000000000000:execution:job:every-minute-20260101T000100Z";
  ASSERT_TRUE(SpinUntil([&] { return service_->DescribeExecution(arn).ok(); }));
  EXPECT_EQ(Wait(arn).state, ExecutionState::kSucceeded);
  // The scheduler now sleeps toward 00:02 (real time, as the fake clock does not move);
  // Shutdown wakes it.
  service_->Shutdown();
  EXPECT_EQ(service_->StartExecution(machine, "late", "{}").status().code(),
            ErrorCode::kShuttingDown);
  EXPECT_EQ(service_->ListExecutions(machine)->size(), 1u);
}

// Two processes on one data directory (the server and `basin workflow --data-dir`): only the
// holder of the lock file runs executions; the other defines machines and reads, and is told
// where to start executions instead of resuming the runner's.
TEST(ExecutionServiceLock, OnlyTheLockHolderRunsExecutions) {
  TempDir dir;
  FakeClock clock(kNewYear);
  FakeClockSleeper sleeper(clock);
  auto open = [&](catalog::Catalog* catalog) {
    ExecutionServiceOptions options;
    options.catalog = catalog;
    options.clock = &clock;
    options.sleeper = &sleeper;
    options.lock_path = dir.path() + "/workflows.lock";
    auto service = ExecutionService::Open(std::move(options));
    EXPECT_TRUE(service.ok()) << service.status().ToString();
    return std::move(service).value();
  };
  auto catalog_a = catalog::Catalog::Open(dir.path() + "/basin.db", &clock);
  auto catalog_b = catalog::Catalog::Open(dir.path() + "/basin.db", &clock);
  ASSERT_TRUE(catalog_a.ok() && catalog_b.ok());
  auto runner = open(catalog_a->get());
  auto observer = open(catalog_b->get());
  EXPECT_TRUE(runner->runs_executions());
  EXPECT_FALSE(observer->runs_executions());

  // The observer may define a machine; the runner sees it and runs it.
  auto machine = observer->CreateStateMachine(
      "Hello", R"({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})", "");
  ASSERT_TRUE(machine.ok()) << machine.status().ToString();
  auto refused = observer->StartExecution(machine->arn, "from-cli", "{}");
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("aws stepfunctions"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(observer->RunDueSchedules(kNewYear).status().code(), ErrorCode::kUnavailable);
  auto started = runner->StartExecution(machine->arn, "from-server", R"({"a": 1})");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto done = runner->WaitForExecution(started->arn);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, ExecutionState::kSucceeded);
  // ...and the observer reads the result and its history from the catalog.
  auto seen = observer->DescribeExecution(started->arn);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state, ExecutionState::kSucceeded);
  EXPECT_EQ(seen->output, std::optional<std::string>(R"({"a":1})"));
  EXPECT_FALSE(observer->GetExecutionHistory(started->arn)->empty());

  // When the runner goes away, the next service to open takes over.
  runner.reset();
  auto next = open(catalog_a->get());
  EXPECT_TRUE(next->runs_executions());
}

}  // namespace
}  // namespace basin::workflow
