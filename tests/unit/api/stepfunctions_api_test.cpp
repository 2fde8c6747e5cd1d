// StepFunctionsApi over a real ExecutionService and a real catalog in a temporary folder. Time is
// a FakeClock (Wait states and retries move it instead of sleeping); executions run on the
// service's threads and the tests wait for them with WaitForExecution, never with sleeps.

#include "api/stepfunctions_api.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/aws_endpoint.h"
#include "base/hash.h"
#include "catalog/catalog.h"
#include "security/authorizer.h"
#include "security/sigv4.h"
#include "unit/temp_dir.h"
#include "workflow/execution_service.h"
#include "workflow/json_value.h"

namespace basin::api {
namespace {

using test::TempDir;
using workflow::JsonValue;

// 2026-01-01T00:00:00Z
constexpr int64_t kNewYear = 1'767'225'600'000'000;
constexpr char kMachinePrefix[] = "arn:aws:states:us-east-1:000000000000:stateMachine:";
constexpr char kExecutionPrefix[] = "arn:aws:states:us-east-1:000000000000:execution:";
constexpr char kBlock[] = "arn:test:block";  // blocks until the test releases it

const char kPassWaitChoice[] = R"({
  "Comment": "Pass, Wait and Choice",
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": 3, "ResultPath": "$.count", "Next": "Pause"},
    "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Decide"},
    "Decide": {"Type": "Choice",
               "Choices": [{"Variable": "$.count", "NumericGreaterThan": 2, "Next": "Big"}],
               "Default": "Small"},
    "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
    "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": true}
  }
})";

const char kBlocking[] = R"({
  "StartAt": "Work",
  "States": {"Work": {"Type": "Task", "Resource": "arn:test:block", "End": true}}
})";

const char kLambdaTask[] = R"({
  "StartAt": "Call",
  "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "End": true}}
})";

// Tasks: kBlock waits until released, anything else echoes its input.
class Tasks {
 public:
  workflow::Outcome<JsonValue> Run(const workflow::TaskRequest& request) {
    if (request.resource == kBlock) {
      std::unique_lock lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return releases_ > 0; });
      --releases_;
    }
    return request.input;
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

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  int releases_ = 0;
};

class SharedRunner final : public workflow::TaskRunner {
 public:
  explicit SharedRunner(Tasks& tasks) : tasks_(tasks) {}
  workflow::Outcome<JsonValue> Run(const workflow::TaskRequest& request) override {
    return tasks_.Run(request);
  }

 private:
  Tasks& tasks_;
};

JsonValue Parse(const std::string& text) {
  auto parsed = workflow::ParseJson(text, text.size() + 1);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << ": " << text;
  return parsed.ok() ? *parsed : JsonValue();
}

// The member `key`, or (with a test failure) null when it is missing.
const JsonValue& Member(const JsonValue& object, std::string_view key) {
  static const JsonValue kMissing;
  const JsonValue* v = object.Find(key);
  if (v == nullptr) ADD_FAILURE() << "no member " << key << " in " << object.Serialize();
  return v != nullptr ? *v : kMissing;
}

std::string Str(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.Find(key);
  return v != nullptr && v->IsString() ? v->AsString() : "<missing " + std::string(key) + ">";
}

// A JSON string literal.
std::string Q(std::string_view text) { return JsonValue::String(std::string(text)).Serialize(); }

class StepFunctionsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = catalog::Catalog::Open(dir_.path() + "/basin.db", &clock_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    workflow::ExecutionServiceOptions options;
    options.catalog = catalog_.get();
    options.clock = &clock_;
    options.sleeper = &sleeper_;
    options.make_task_runner = [this] { return std::make_unique<SharedRunner>(tasks_); };
    options.resource_is_idempotent = [](std::string_view) { return true; };
    options.max_running_executions = 2;
    auto service = workflow::ExecutionService::Open(std::move(options));
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
    api_ = std::make_unique<StepFunctionsApi>(service_.get());
  }
  void TearDown() override {
    tasks_.Release(100);  // never leave an execution thread blocked
    api_.reset();
    service_.reset();
  }

  // Calls the API and expects success; the parsed body.
  JsonValue Ok(std::string_view operation, const std::string& body) {
    StepFunctionsAnswer answer = api_->Handle(operation, body);
    EXPECT_TRUE(answer.ok()) << operation << " " << body << " -> " << answer.body;
    EXPECT_EQ(answer.status, 200);
    return Parse(answer.body);
  }
  // Calls the API and expects the AWS error `type` (HTTP 400 unless given); the message.
  std::string Fails(std::string_view operation, const std::string& body, std::string_view type,
                    int status = 400) {
    StepFunctionsAnswer answer = api_->Handle(operation, body);
    EXPECT_EQ(answer.error_type, type) << operation << " " << body << " -> " << answer.body;
    EXPECT_EQ(answer.status, status);
    JsonValue error = Parse(answer.body);
    EXPECT_EQ(Str(error, "__type"), type);
    return Str(error, "message");
  }

  std::string Create(const std::string& name, const std::string& definition) {
    JsonValue out =
        Ok("CreateStateMachine", R"({"name":)" + Q(name) + R"(,"definition":)" + Q(definition) +
                                     R"(,"roleArn":"arn:aws:iam::000000000000:role/r"})");
    return Str(out, "stateMachineArn");
  }
  std::string Start(const std::string& machine, const std::string& name,
                    const std::string& input = "{}") {
    JsonValue out = Ok("StartExecution", R"({"stateMachineArn":)" + Q(machine) + R"(,"name":)" +
                                             Q(name) + R"(,"input":)" + Q(input) + "}");
    return Str(out, "executionArn");
  }
  void Wait(const std::string& execution) {
    auto ended = service_->WaitForExecution(execution);
    ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  }
  JsonValue History(const std::string& execution, const std::string& extra = "") {
    return Ok("GetExecutionHistory", R"({"executionArn":)" + Q(execution) + extra + "}");
  }
  std::vector<std::string> EventTypes(const JsonValue& history) {
    std::vector<std::string> types;
    for (const JsonValue& e : Member(history, "events").items()) types.push_back(Str(e, "type"));
    return types;
  }

  TempDir dir_;
  FakeClock clock_{kNewYear};
  workflow::FakeClockSleeper sleeper_{clock_};
  Tasks tasks_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<workflow::ExecutionService> service_;
  std::unique_ptr<StepFunctionsApi> api_;
};

TEST_F(StepFunctionsApiTest, CreateDescribeAndListStateMachines) {
  JsonValue created = Ok("AWSStepFunctions.CreateStateMachine",
                         R"({"name":"orders","definition":)" + Q(kPassWaitChoice) +
                             R"(,"roleArn":"arn:aws:iam::000000000000:role/r","type":"STANDARD"})");
  const std::string arn = Str(created, "stateMachineArn");
  EXPECT_EQ(arn, std::string(kMachinePrefix) + "orders");
  ASSERT_TRUE(Member(created, "creationDate").IsNumber());  // epoch seconds, not a string
  EXPECT_DOUBLE_EQ(Member(created, "creationDate").AsDouble(), kNewYear / 1e6);

  JsonValue described = Ok("DescribeStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(described, "name"), "orders");
  EXPECT_EQ(Str(described, "definition"), kPassWaitChoice);
  EXPECT_EQ(Str(described, "roleArn"), "arn:aws:iam::000000000000:role/r");
  EXPECT_EQ(Str(described, "type"), "STANDARD");
  EXPECT_EQ(Str(described, "status"), "ACTIVE");
  EXPECT_TRUE(Member(described, "creationDate").IsNumber());
  EXPECT_EQ(Str(Member(described, "loggingConfiguration"), "level"), "OFF");

  clock_.Advance(1'000'000);
  Create("billing", kPassWaitChoice);
  JsonValue listed = Ok("ListStateMachines", "{}");
  const auto& machines = Member(listed, "stateMachines").items();
  ASSERT_EQ(machines.size(), 2u);
  EXPECT_EQ(Str(machines[0], "name"), "billing");  // by name
  EXPECT_EQ(Str(machines[1], "name"), "orders");
  EXPECT_EQ(Str(machines[1], "stateMachineArn"), arn);
  EXPECT_EQ(Str(machines[1], "type"), "STANDARD");
  EXPECT_TRUE(Member(machines[1], "creationDate").IsNumber());
  EXPECT_EQ(listed.Find("nextToken"), nullptr);
}

TEST_F(StepFunctionsApiTest, ListStateMachinesPagesByName) {
  for (const char* name : {"c", "a", "e", "b", "d"}) Create(name, kPassWaitChoice);
  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    std::string body =
        token.empty() ? R"({"maxResults":2})" : R"({"maxResults":2,"nextToken":)" + Q(token) + "}";
    JsonValue page = Ok("ListStateMachines", body);
    for (const JsonValue& m : Member(page, "stateMachines").items())
      names.push_back(Str(m, "name"));
    const JsonValue* next = page.Find("nextToken");
    token = next ? next->AsString() : "";
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  Fails("ListStateMachines", R"({"nextToken":"not-a-token"})", "InvalidToken");
  Fails("ListStateMachines", R"({"maxResults":1001})", "ValidationException");
  Fails("ListStateMachines", R"({"maxResults":-1})", "ValidationException");
}

TEST_F(StepFunctionsApiTest, CreateIsIdempotentForTheSameDefinitionOnly) {
  const std::string arn = Create("orders", kPassWaitChoice);
  EXPECT_EQ(Create("orders", kPassWaitChoice), arn);
  std::string message = Fails("CreateStateMachine",
                              R"({"name":"orders","definition":)" + Q(kBlocking) +
                                  R"(,"roleArn":"arn:aws:iam::000000000000:role/r"})",
                              "StateMachineAlreadyExists");
  EXPECT_NE(message.find("orders"), std::string::npos) << message;
}

TEST_F(StepFunctionsApiTest, CreateRefusesInvalidDefinitionsNamesAndTypes) {
  // A Next that names no state: InvalidDefinition with the JSON pointer.
  const std::string dangling = R"({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}})";
  std::string message =
      Fails("CreateStateMachine", R"({"name":"m","definition":)" + Q(dangling) + "}",
            "InvalidDefinition");
  EXPECT_NE(message.find("/States/A"), std::string::npos) << message;
  Fails("CreateStateMachine", R"({"name":"m","definition":"{not json"})", "InvalidDefinition");
  Fails("CreateStateMachine", R"({"name":"has space","definition":)" + Q(kPassWaitChoice) + "}",
        "InvalidName");
  Fails("CreateStateMachine", R"({"name":"a/b","definition":)" + Q(kPassWaitChoice) + "}",
        "InvalidName");
  // Valid on AWS, outside Basin's portable subset: refused as a name, not as a definition.
  Fails("CreateStateMachine", R"({"name":"orders.v2","definition":)" + Q(kPassWaitChoice) + "}",
        "InvalidName");
  Fails("CreateStateMachine",
        R"({"name":")" + std::string(81, 'x') + R"(","definition":)" + Q(kPassWaitChoice) + "}",
        "ValidationException");
  Fails("CreateStateMachine", R"({"definition":)" + Q(kPassWaitChoice) + "}",
        "ValidationException");
  Fails("CreateStateMachine", R"({"name":"m"})", "ValidationException");
  Fails("CreateStateMachine",
        R"({"name":"m","definition":)" + Q(kPassWaitChoice) + R"(,"type":"EXPRESS"})",
        "StateMachineTypeNotSupported");
  Fails("CreateStateMachine",
        R"({"name":"m","definition":)" + Q(kPassWaitChoice) + R"(,"roleArn":"not-an-arn"})",
        "InvalidArn");
  Fails("CreateStateMachine", R"({"name":7,"definition":"{}"})", "SerializationException");
  // Nothing was created by any of these.
  EXPECT_TRUE(Member(Ok("ListStateMachines", "{}"), "stateMachines").items().empty());
}

TEST_F(StepFunctionsApiTest, CreateWithoutRoleUsesBasinsDefault) {
  JsonValue created =
      Ok("CreateStateMachine", R"({"name":"norole","definition":)" + Q(kPassWaitChoice) + "}");
  JsonValue described = Ok("DescribeStateMachine",
                           R"({"stateMachineArn":)" + Q(Str(created, "stateMachineArn")) + "}");
  EXPECT_TRUE(Str(described, "roleArn").starts_with("arn:aws:iam::")) << described.Serialize();
}

TEST_F(StepFunctionsApiTest, ArnsAreCheckedBeforeLookup) {
  Fails("DescribeStateMachine", R"({"stateMachineArn":"orders"})", "InvalidArn");
  Fails("DescribeStateMachine",
        R"({"stateMachineArn":")" + std::string(kExecutionPrefix) + R"(m:e"})", "InvalidArn");
  Fails("DescribeExecution", R"({"executionArn":")" + std::string(kMachinePrefix) + R"(m"})",
        "InvalidArn");
  Fails("DescribeStateMachine",
        R"({"stateMachineArn":")" + std::string(kMachinePrefix) + R"(missing"})",
        "StateMachineDoesNotExist");
  const std::string arn = Create("orders", kPassWaitChoice);
  // The same name in another account is another state machine.
  Fails("DescribeStateMachine",
        R"({"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:orders"})",
        "StateMachineDoesNotExist");
  Fails("DescribeExecution",
        R"({"executionArn":")" + std::string(kExecutionPrefix) + R"(orders:nope"})",
        "ExecutionDoesNotExist");
  Fails("DescribeStateMachine", "{}", "ValidationException");
}

TEST_F(StepFunctionsApiTest, StartDescribeAndHistoryOfASucceededExecution) {
  const std::string machine = Create("orders", kPassWaitChoice);
  JsonValue started = Ok("StartExecution", R"({"stateMachineArn":)" + Q(machine) +
                                               R"(,"name":"run-1","input":"{\"id\":7}"})");
  const std::string arn = Str(started, "executionArn");
  EXPECT_EQ(arn, std::string(kExecutionPrefix) + "orders:run-1");
  EXPECT_DOUBLE_EQ(Member(started, "startDate").AsDouble(), kNewYear / 1e6);
  Wait(arn);

  JsonValue described = Ok("DescribeExecution", R"({"executionArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(described, "status"), "SUCCEEDED");
  EXPECT_EQ(Str(described, "name"), "run-1");
  EXPECT_EQ(Str(described, "stateMachineArn"), machine);
  EXPECT_EQ(Parse(Str(described, "input")), Parse(R"({"id":7})"));
  EXPECT_EQ(Parse(Str(described, "output")), Parse(R"({"id":7,"count":3,"size":"big"})"));
  ASSERT_NE(described.Find("stopDate"), nullptr);
  // The Wait state moved the fake clock by 60 s.
  EXPECT_DOUBLE_EQ(
      Member(described, "stopDate").AsDouble() - Member(described, "startDate").AsDouble(), 60.0);
  EXPECT_EQ(described.Find("error"), nullptr);

  JsonValue history = History(arn);
  EXPECT_EQ(EventTypes(history),
            (std::vector<std::string>{"ExecutionStarted", "PassStateEntered", "PassStateExited",
                                      "WaitStateEntered", "WaitStateExited", "ChoiceStateEntered",
                                      "ChoiceStateExited", "PassStateEntered", "PassStateExited",
                                      "ExecutionSucceeded"}));
  const auto& events = Member(history, "events").items();
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(Member(events[0], "id").AsInt(), 1);
  EXPECT_EQ(Member(events[0], "previousEventId").AsInt(), 0);
  EXPECT_TRUE(Member(events[0], "timestamp").IsNumber());
  const JsonValue* started_details = events[0].Find("executionStartedEventDetails");
  ASSERT_NE(started_details, nullptr) << events[0].Serialize();
  EXPECT_EQ(Parse(Str(*started_details, "input")), Parse(R"({"id":7})"));
  EXPECT_EQ(Str(Member(events[1], "stateEnteredEventDetails"), "name"), "Prepare");
  EXPECT_NE(Member(events.back(), "executionSucceededEventDetails").Find("output"), nullptr);

  // Without execution data the events keep their shape but lose input and output.
  JsonValue bare = History(arn, R"(,"includeExecutionData":false)");
  const auto& bare_events = Member(bare, "events").items();
  ASSERT_EQ(bare_events.size(), events.size());
  EXPECT_EQ(Member(bare_events[0], "executionStartedEventDetails").Find("input"), nullptr);
  EXPECT_EQ(Str(Member(bare_events[1], "stateEnteredEventDetails"), "name"), "Prepare");
  EXPECT_EQ(Member(bare_events.back(), "executionSucceededEventDetails").Find("output"), nullptr);
}

TEST_F(StepFunctionsApiTest, HistoryPagesForwardAndBackward) {
  const std::string machine = Create("orders", kPassWaitChoice);
  const std::string arn = Start(machine, "run-1");
  Wait(arn);
  const std::vector<std::string> all = EventTypes(History(arn));
  ASSERT_EQ(all.size(), 10u);
  for (bool reverse : {false, true}) {
    std::vector<int64_t> ids;
    std::string token;
    int pages = 0;
    do {
      std::string extra =
          std::string(R"(,"maxResults":3,"reverseOrder":)") + (reverse ? "true" : "false");
      if (!token.empty()) extra += R"(,"nextToken":)" + Q(token);
      JsonValue page = History(arn, extra);
      for (const JsonValue& e : Member(page, "events").items())
        ids.push_back(Member(e, "id").AsInt());
      const JsonValue* next = page.Find("nextToken");
      token = next ? next->AsString() : "";
      ++pages;
    } while (!token.empty() && pages < 10);
    EXPECT_EQ(pages, 4);
    ASSERT_EQ(ids.size(), 10u);
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(ids[i], reverse ? static_cast<int64_t>(10 - i) : static_cast<int64_t>(i + 1));
    }
  }
  // A token belongs to its execution and direction.
  JsonValue first = History(arn, R"(,"maxResults":3)");
  const std::string token = Member(first, "nextToken").AsString();
  const std::string other = Start(machine, "run-2");
  Wait(other);
  Fails("GetExecutionHistory",
        R"({"executionArn":)" + Q(other) + R"(,"nextToken":)" + Q(token) + "}", "InvalidToken");
  Fails("GetExecutionHistory",
        R"({"executionArn":)" + Q(arn) + R"(,"reverseOrder":true,"nextToken":)" + Q(token) + "}",
        "InvalidToken");
  Fails("GetExecutionHistory", R"({"executionArn":)" + Q(arn) + R"(,"nextToken":"@@@"})",
        "InvalidToken");
}

TEST_F(StepFunctionsApiTest, TaskEventsNameTheServiceIntegration) {
  const std::string machine = Create("calls", kLambdaTask);
  const std::string arn = Start(machine, "c1", R"({"x":1})");
  Wait(arn);
  JsonValue history = History(arn);
  bool saw_scheduled = false;
  for (const JsonValue& e : Member(history, "events").items()) {
    if (Str(e, "type") != "TaskScheduled") continue;
    saw_scheduled = true;
    const JsonValue* d = e.Find("taskScheduledEventDetails");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(Str(*d, "resourceType"), "lambda");
    EXPECT_EQ(Str(*d, "resource"), "invoke");
    EXPECT_EQ(Str(*d, "region"), "us-east-1");
    EXPECT_EQ(Parse(Str(*d, "parameters")), Parse(R"({"FunctionName":"f","Payload":{"x":1}})"));
  }
  EXPECT_TRUE(saw_scheduled) << history.Serialize();
}

TEST_F(StepFunctionsApiTest, ExecutionNamesAreIdempotentOnlyWhileRunningWithTheSameInput) {
  const std::string machine = Create("blocking", kBlocking);
  const std::string arn = Start(machine, "once", R"({"a":1})");
  tasks_.WaitEntered(1);
  // Same name, same input (formatted differently), still running: the same execution.
  EXPECT_EQ(Start(machine, "once", R"({ "a" : 1 })"), arn);
  Fails("StartExecution",
        R"({"stateMachineArn":)" + Q(machine) + R"(,"name":"once","input":"{\"a\":2}"})",
        "ExecutionAlreadyExists");
  tasks_.Release(1);
  Wait(arn);
  Fails("StartExecution",
        R"({"stateMachineArn":)" + Q(machine) + R"(,"name":"once","input":"{\"a\":1}"})",
        "ExecutionAlreadyExists");
}

TEST_F(StepFunctionsApiTest, StartRefusesBadInputNamesAndMachines) {
  const std::string machine = Create("orders", kPassWaitChoice);
  Fails("StartExecution", R"({"stateMachineArn":)" + Q(machine) + R"(,"input":"{not json"})",
        "InvalidExecutionInput");
  Fails("StartExecution", R"({"stateMachineArn":)" + Q(machine) + R"(,"name":"a b"})",
        "InvalidName");
  Fails("StartExecution", R"({"stateMachineArn":")" + std::string(kMachinePrefix) + R"(missing"})",
        "StateMachineDoesNotExist");
  Fails("StartExecution", R"({"stateMachineArn":"bogus"})", "InvalidArn");
  const std::string big = R"({"s":")" + std::string(StepFunctionsApi::kMaxInputBytes, 'x') + "\"}";
  Fails("StartExecution", R"({"stateMachineArn":)" + Q(machine) + R"(,"input":)" + Q(big) + "}",
        "ValidationException");
  // Without a name the execution gets a generated one; without input it gets {}.
  JsonValue started = Ok("StartExecution", R"({"stateMachineArn":)" + Q(machine) + "}");
  const std::string arn = Str(started, "executionArn");
  EXPECT_TRUE(arn.starts_with(std::string(kExecutionPrefix) + "orders:")) << arn;
  Wait(arn);
  JsonValue described = Ok("DescribeExecution", R"({"executionArn":)" + Q(arn) + "}");
  EXPECT_EQ(Parse(Str(described, "input")), Parse("{}"));
}

TEST_F(StepFunctionsApiTest, RunningExecutionsAreLimited) {
  const std::string machine = Create("blocking", kBlocking);
  const std::string first = Start(machine, "one");
  const std::string second = Start(machine, "two");
  tasks_.WaitEntered(2);
  Fails("StartExecution", R"({"stateMachineArn":)" + Q(machine) + R"(,"name":"three"})",
        "ExecutionLimitExceeded");
  tasks_.Release(2);
  Wait(first);
  Wait(second);
}

TEST_F(StepFunctionsApiTest, StopExecutionAbortsWithErrorAndCause) {
  const std::string machine = Create("blocking", kBlocking);
  const std::string arn = Start(machine, "long");
  tasks_.WaitEntered(1);
  clock_.Advance(5'000'000);
  JsonValue stopped = Ok("StopExecution", R"({"executionArn":)" + Q(arn) +
                                              R"(,"error":"Operator.Stop","cause":"by hand"})");
  EXPECT_DOUBLE_EQ(Member(stopped, "stopDate").AsDouble(), kNewYear / 1e6 + 5);
  JsonValue described = Ok("DescribeExecution", R"({"executionArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(described, "status"), "ABORTED");
  EXPECT_EQ(Str(described, "error"), "Operator.Stop");
  EXPECT_EQ(Str(described, "cause"), "by hand");
  EXPECT_EQ(described.Find("output"), nullptr);
  tasks_.Release(1);
  Wait(arn);
  std::vector<std::string> types = EventTypes(History(arn));
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), "ExecutionAborted");

  Fails("StopExecution",
        R"({"executionArn":)" + Q(arn) + R"(,"error":")" + std::string(257, 'e') + R"("})",
        "ValidationException");
  Fails("StopExecution",
        R"({"executionArn":")" + std::string(kExecutionPrefix) + R"(blocking:none"})",
        "ExecutionDoesNotExist");
}

TEST_F(StepFunctionsApiTest, ListExecutionsFiltersAndPages) {
  const std::string machine = Create("orders", kPassWaitChoice);
  std::vector<std::string> arns;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1'000'000);
    arns.push_back(Start(machine, "run-" + std::to_string(i)));
    Wait(arns.back());
  }
  const std::string blocking = Create("blocking", kBlocking);
  const std::string running = Start(blocking, "still");
  tasks_.WaitEntered(1);

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    std::string body = R"({"stateMachineArn":)" + Q(machine) + R"(,"maxResults":2)";
    if (!token.empty()) body += R"(,"nextToken":)" + Q(token);
    JsonValue page = Ok("ListExecutions", body + "}");
    for (const JsonValue& e : Member(page, "executions").items()) {
      seen.push_back(Str(e, "executionArn"));
      EXPECT_EQ(Str(e, "status"), "SUCCEEDED");
      EXPECT_EQ(Str(e, "stateMachineArn"), machine);
      EXPECT_TRUE(Member(e, "startDate").IsNumber());
      EXPECT_TRUE(Member(e, "stopDate").IsNumber());
    }
    const JsonValue* next = page.Find("nextToken");
    token = next ? next->AsString() : "";
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{arns[4], arns[3], arns[2], arns[1], arns[0]}));

  JsonValue running_only = Ok(
      "ListExecutions", R"({"stateMachineArn":)" + Q(blocking) + R"(,"statusFilter":"RUNNING"})");
  ASSERT_EQ(Member(running_only, "executions").size(), 1u);
  EXPECT_EQ(Str(Member(running_only, "executions").items()[0], "executionArn"), running);
  EXPECT_EQ(Member(running_only, "executions").items().at(0).Find("stopDate"), nullptr);
  JsonValue none =
      Ok("ListExecutions", R"({"stateMachineArn":)" + Q(machine) + R"(,"statusFilter":"FAILED"})");
  EXPECT_EQ(Member(none, "executions").size(), 0u);

  Fails("ListExecutions", R"({"stateMachineArn":)" + Q(machine) + R"(,"statusFilter":"DONE"})",
        "ValidationException");
  Fails("ListExecutions", "{}", "ValidationException");
  Fails("ListExecutions", R"({"stateMachineArn":")" + std::string(kMachinePrefix) + R"(none"})",
        "StateMachineDoesNotExist");
  // A token of the unfiltered list does not continue a filtered one.
  JsonValue first =
      Ok("ListExecutions", R"({"stateMachineArn":)" + Q(machine) + R"(,"maxResults":1})");
  Fails("ListExecutions",
        R"({"stateMachineArn":)" + Q(machine) + R"(,"statusFilter":"SUCCEEDED","nextToken":)" +
            Q(Member(first, "nextToken").AsString()) + "}",
        "InvalidToken");
  tasks_.Release(1);
  Wait(running);
}

TEST_F(StepFunctionsApiTest, UpdateStateMachineReplacesTheDefinition) {
  const std::string arn = Create("orders", kPassWaitChoice);
  clock_.Advance(2'000'000);
  JsonValue updated = Ok("UpdateStateMachine", R"({"stateMachineArn":)" + Q(arn) +
                                                   R"(,"definition":)" + Q(kLambdaTask) + "}");
  EXPECT_DOUBLE_EQ(Member(updated, "updateDate").AsDouble(), kNewYear / 1e6 + 2);
  JsonValue described = Ok("DescribeStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(described, "definition"), kLambdaTask);
  EXPECT_EQ(Str(described, "roleArn"), "arn:aws:iam::000000000000:role/r");

  // Only the role: the definition stays.
  Ok("UpdateStateMachine",
     R"({"stateMachineArn":)" + Q(arn) + R"(,"roleArn":"arn:aws:iam::000000000000:role/other"})");
  described = Ok("DescribeStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(described, "definition"), kLambdaTask);
  EXPECT_EQ(Str(described, "roleArn"), "arn:aws:iam::000000000000:role/other");

  Fails("UpdateStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}", "MissingRequiredParameter");
  Fails("UpdateStateMachine",
        R"({"stateMachineArn":)" + Q(arn) + R"(,"definition":"{\"StartAt\":\"X\"}"})",
        "InvalidDefinition");
  Fails("UpdateStateMachine",
        R"({"stateMachineArn":")" + std::string(kMachinePrefix) + R"(none","definition":)" +
            Q(kPassWaitChoice) + "}",
        "StateMachineDoesNotExist");
  described = Ok("DescribeStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(described, "definition"), kLambdaTask);  // the failed updates changed nothing
}

TEST_F(StepFunctionsApiTest, DescribeStateMachineForExecution) {
  const std::string machine = Create("orders", kPassWaitChoice);
  const std::string arn = Start(machine, "r");
  Wait(arn);
  JsonValue out = Ok("DescribeStateMachineForExecution", R"({"executionArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(out, "stateMachineArn"), machine);
  EXPECT_EQ(Str(out, "name"), "orders");
  EXPECT_EQ(Str(out, "definition"), kPassWaitChoice);
  EXPECT_TRUE(Member(out, "updateDate").IsNumber());
  // After an update the execution still reports the definition it ran with.
  Ok("UpdateStateMachine",
     R"({"stateMachineArn":)" + Q(machine) + R"(,"definition":)" + Q(kLambdaTask) + "}");
  out = Ok("DescribeStateMachineForExecution", R"({"executionArn":)" + Q(arn) + "}");
  EXPECT_EQ(Str(out, "definition"), kPassWaitChoice);
  EXPECT_EQ(
      Str(Ok("DescribeStateMachine", R"({"stateMachineArn":)" + Q(machine) + "}"), "definition"),
      kLambdaTask);
}

TEST_F(StepFunctionsApiTest, DeleteStateMachine) {
  const std::string arn = Create("orders", kPassWaitChoice);
  EXPECT_EQ(Ok("DeleteStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}").Serialize(), "{}");
  Fails("DescribeStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}",
        "StateMachineDoesNotExist");
  // As on AWS, deleting what does not exist succeeds.
  Ok("DeleteStateMachine", R"({"stateMachineArn":)" + Q(arn) + "}");
  Fails("DeleteStateMachine", R"({"stateMachineArn":"nope"})", "InvalidArn");
  // The name is free again.
  EXPECT_EQ(Create("orders", kBlocking), arn);
}

TEST_F(StepFunctionsApiTest, ProtocolErrors) {
  Fails("Frobnicate", "{}", "UnknownOperationException");
  Fails("ListStateMachines", "[1]", "SerializationException");
  Fails("ListStateMachines", "{nope", "SerializationException");
  Fails("ListStateMachines", R"({"maxResults":"ten"})", "SerializationException");
  Fails("ListStateMachines", std::string(StepFunctionsApi::kMaxBodyBytes + 1, ' '),
        "ValidationException");
  // An empty body is {}.
  EXPECT_TRUE(Member(Ok("ListStateMachines", ""), "stateMachines").IsArray());

  StepFunctionsAnswer answer = api_->Handle("Frobnicate", "{}");
  HttpResponse response = answer.ToHttpResponse("REQ1");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.content_type, "application/x-amz-json-1.0");
  bool request_id = false, error_type = false;
  for (const auto& [name, value] : response.headers) {
    request_id |= name == "x-amzn-RequestId" && value == "REQ1";
    error_type |= name == "x-amzn-ErrorType" && value == "UnknownOperationException";
  }
  EXPECT_TRUE(request_id);
  EXPECT_TRUE(error_type);
}

TEST_F(StepFunctionsApiTest, ResourceOfNamesTheArn) {
  const std::string machine = std::string(kMachinePrefix) + "orders";
  EXPECT_EQ(api_->ResourceOf("StartExecution", R"({"stateMachineArn":)" + Q(machine) + "}"),
            machine);
  EXPECT_EQ(api_->ResourceOf("AWSStepFunctions.DescribeExecution",
                             R"({"executionArn":"arn:x:execution:a:b"})"),
            "arn:x:execution:a:b");
  EXPECT_EQ(api_->ResourceOf("CreateStateMachine", R"({"name":"orders","definition":"{}"})"),
            machine);
  EXPECT_EQ(api_->ResourceOf("ListStateMachines", "{}"), "*");
  EXPECT_EQ(api_->ResourceOf("ListStateMachines", "not json"), "*");
}

// ---- Through the AWS endpoint ----------------------------------------------------------------

constexpr char kKeyId[] = "AKIAEXAMPLEKEY000001";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kAmzDate[] = "20260101T000000Z";  // kNewYear

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A Step Functions request signed as the SDKs do (SigV4, written from its documentation: every
// header signed, the body's SHA-256 as the payload hash) for the scope's `service`.
HttpRequest SignedRequest(std::string_view operation, std::string body,
                          std::string_view service = "states") {
  HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.path = "/";
  request.headers.emplace("Host", "localhost:4566");
  request.headers.emplace("Content-Type", "application/x-amz-json-1.0");
  request.headers.emplace("X-Amz-Target", "AWSStepFunctions." + std::string(operation));
  request.headers.emplace("X-Amz-Date", kAmzDate);
  request.body = std::move(body);
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    headers[Lower(name)] = security::CanonicalHeaderValue(value);
  }
  std::string canonical = "POST\n/\n\n";
  std::string signed_headers;
  for (const auto& [name, value] : headers) {
    canonical += name + ":" + value + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  canonical += "\n" + signed_headers + "\n" + HexEncode(Sha256(request.body));
  const std::string date = std::string(kAmzDate).substr(0, 8);
  const std::string scope = security::CredentialScope(date, "us-east-1", service);
  const std::string signature =
      security::SignString(security::DeriveSigningKey(kSecret, date, "us-east-1", service),
                           security::StringToSign(kAmzDate, scope, canonical));
  request.headers.emplace("Authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(kKeyId) +
                                               "/" + scope + ", SignedHeaders=" + signed_headers +
                                               ", Signature=" + signature);
  return request;
}

std::string HeaderOf(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (Lower(key) == Lower(std::string(name))) return value;
  }
  return "";
}

// Records what it is asked; denies the actions listed in `denied`.
class RecordingAuthorizer final : public security::Authorizer {
 public:
  Status Authorize(const security::AccessRequest& request) const override {
    std::lock_guard lock(mu_);
    seen_.push_back(request);
    if (request.action == denied) {
      return Error(ErrorCode::kAccessDenied, request.principal + " may not " + request.action);
    }
    return Status::Ok();
  }
  std::vector<security::AccessRequest> Seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::string denied;

 private:
  mutable std::mutex mu_;
  mutable std::vector<security::AccessRequest> seen_;
};

class StepFunctionsEndpointTest : public StepFunctionsApiTest {
 protected:
  std::unique_ptr<AwsEndpoint> Endpoint(workflow::ExecutionService* workflows) {
    AwsEndpointOptions options;
    options.keys = [](std::string_view id) -> Result<std::optional<AwsCredential>> {
      if (id == kKeyId) return std::optional<AwsCredential>(AwsCredential{kSecret, "alice"});
      return std::optional<AwsCredential>();
    };
    options.authorizer = &authorizer_;
    options.clock = &clock_;
    options.workflows = workflows;
    // Step Functions work goes to the blocking executor: record that it did.
    options.run_blocking = [this](std::function<void()> work) {
      ++blocking_runs_;
      work();
    };
    return std::make_unique<AwsEndpoint>(std::move(options));
  }
  HttpResponse Send(AwsEndpoint& endpoint, HttpRequest request) {
    std::optional<HttpResponse> answer;
    endpoint.Handle(request, [&](HttpResponse response) { answer = std::move(response); });
    EXPECT_TRUE(answer.has_value());
    return answer ? *answer : HttpResponse{};
  }

  RecordingAuthorizer authorizer_;
  int blocking_runs_ = 0;
};

TEST_F(StepFunctionsEndpointTest, SignedRequestsReachTheApiAndAreAuthorized) {
  auto endpoint = Endpoint(service_.get());
  HttpResponse created =
      Send(*endpoint, SignedRequest("CreateStateMachine", R"({"name":"orders","definition":)" +
                                                              Q(kPassWaitChoice) + "}"));
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.content_type, "application/x-amz-json-1.0");
  EXPECT_EQ(HeaderOf(created, "x-amzn-RequestId").size(), 16u);
  const std::string arn = Str(Parse(created.body), "stateMachineArn");
  EXPECT_EQ(arn, std::string(kMachinePrefix) + "orders");
  EXPECT_GE(blocking_runs_, 1);

  HttpResponse missing = Send(
      *endpoint, SignedRequest("DescribeStateMachine",
                               R"({"stateMachineArn":")" + std::string(kMachinePrefix) + "x\"}"));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(HeaderOf(missing, "x-amzn-ErrorType"), "StateMachineDoesNotExist");
  EXPECT_EQ(Str(Parse(missing.body), "__type"), "StateMachineDoesNotExist");

  std::vector<security::AccessRequest> seen = authorizer_.Seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].principal, "alice");
  EXPECT_EQ(seen[0].action, "states:CreateStateMachine");
  EXPECT_EQ(seen[0].resource, arn);
  EXPECT_EQ(seen[1].action, "states:DescribeStateMachine");
  EXPECT_EQ(seen[1].resource, std::string(kMachinePrefix) + "x");
}

TEST_F(StepFunctionsEndpointTest, DeniedRequestsDoNothing) {
  auto endpoint = Endpoint(service_.get());
  authorizer_.denied = "states:CreateStateMachine";
  HttpResponse denied =
      Send(*endpoint, SignedRequest("CreateStateMachine", R"({"name":"orders","definition":)" +
                                                              Q(kPassWaitChoice) + "}"));
  EXPECT_EQ(denied.status, 400);
  EXPECT_EQ(Str(Parse(denied.body), "__type"), "AccessDeniedException");
  EXPECT_TRUE(Member(Ok("ListStateMachines", "{}"), "stateMachines").items().empty());
}

TEST_F(StepFunctionsEndpointTest, SignaturesMustBeForStates) {
  auto endpoint = Endpoint(service_.get());
  HttpResponse wrong_service = Send(*endpoint, SignedRequest("ListStateMachines", "{}", "kinesis"));
  EXPECT_EQ(wrong_service.status, 400);
  EXPECT_EQ(Str(Parse(wrong_service.body), "__type"), "IncompleteSignatureException");
  EXPECT_EQ(wrong_service.content_type, "application/x-amz-json-1.0");

  HttpRequest tampered = SignedRequest("ListStateMachines", "{}");
  tampered.body = R"({"maxResults":1})";
  HttpResponse rejected = Send(*endpoint, std::move(tampered));
  EXPECT_EQ(Str(Parse(rejected.body), "__type"), "InvalidSignatureException");
  EXPECT_TRUE(authorizer_.Seen().empty());
}

TEST_F(StepFunctionsEndpointTest, WithoutAWorkflowServiceTheOperationIsUnknown) {
  auto endpoint = Endpoint(nullptr);
  HttpResponse answer = Send(*endpoint, SignedRequest("ListStateMachines", "{}"));
  EXPECT_EQ(answer.status, 400);
  EXPECT_EQ(Str(Parse(answer.body), "__type"), "UnknownOperationException");
  EXPECT_NE(Str(Parse(answer.body), "message").find("not available"), std::string::npos);
}

TEST(StepFunctionsApiWithoutService, AnswersServiceUnavailable) {
  StepFunctionsApi api(nullptr);
  StepFunctionsAnswer answer = api.Handle("ListStateMachines", "{}");
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.error_type, "ServiceUnavailable");
  EXPECT_EQ(api.ResourceOf("CreateStateMachine", R"({"name":"x"})"), "*");
}

}  // namespace
}  // namespace basin::api
