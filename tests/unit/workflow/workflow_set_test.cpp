// Basin's own workflows: the files built into the binary, a data directory's overrides, and
// installing them into a real ExecutionService over a real catalog.
#include "workflow/workflow_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "base/file_util.h"
#include "catalog/catalog.h"
#include "unit/temp_dir.h"

namespace basin::workflow {
namespace {

using test::TempDir;

const WorkflowFile* FindMachine(const WorkflowSet& set, std::string_view name) {
  for (const WorkflowFile& f : set.state_machines) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const ScheduleRecord* FindSchedule(const WorkflowSet& set, std::string_view name) {
  for (const ScheduleRecord& s : set.schedules) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void Write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(WriteFileAtomically(path, text).ok()) << path;
}

TEST(WorkflowSet, TheBuiltInWorkflowsAreValidAndScheduled) {
  auto set = LoadWorkflowSet("");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  for (const char* name : {"basin-batch-hourly", "basin-clickstream-refresh"}) {
    const WorkflowFile* machine = FindMachine(*set, name);
    ASSERT_NE(machine, nullptr) << name;
    ParsedDefinition parsed = ParseDefinition(machine->definition);
    EXPECT_TRUE(parsed.errors.empty())
        << name << ": " << parsed.errors.front().pointer << " " << parsed.errors.front().message;
    const ScheduleRecord* schedule = FindSchedule(*set, name);
    ASSERT_NE(schedule, nullptr) << name;
    EXPECT_TRUE(schedule->enabled);
    EXPECT_EQ(schedule->state_machine_arn, name) << "the target is kept by name";
    EXPECT_EQ(schedule->missed_runs, MissedRunPolicy::kRunOnce);
  }
  EXPECT_EQ(FindSchedule(*set, "basin-batch-hourly")->expression, "rate(1 hour)");
}

TEST(WorkflowSet, ADataDirectoryReplacesAndAddsByName) {
  TempDir dir;
  const std::string own = R"js({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})js";
  Write(dir.path() + "/basin-batch-hourly.asl.json", own);
  Write(dir.path() + "/nightly-report.asl.json", own);
  Write(dir.path() + "/notes.txt", "not a workflow");
  Write(dir.path() + "/schedules.json", R"js({"Schedules": [
    {"Name": "basin-clickstream-refresh", "ScheduleExpression": "rate(5 minutes)",
     "State": "DISABLED", "Target": {
    "Arn" : "arn:aws:states:eu-west-1:123:stateMachine:basin-clickstream-refresh"}
},
    {"Name": "nightly", "ScheduleExpression": "cron(0 2 * * ? *)",
     "ScheduleExpressionTimezone": "Europe/Berlin", "MissedRuns": "SKIP",
     "Target": {"Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:nightly-report",
                "Input": "{\"day\": \"yesterday\"}"}}]
})js");
  auto set = LoadWorkflowSet(dir.path());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(FindMachine(*set, "basin-batch-hourly")->definition, own);
  ASSERT_NE(FindMachine(*set, "nightly-report"), nullptr);
  EXPECT_NE(FindMachine(*set, "basin-clickstream-refresh"), nullptr) << "defaults stay";
  EXPECT_EQ(set->state_machines.size(), 3u);

  const ScheduleRecord* refresh = FindSchedule(*set, "basin-clickstream-refresh");
  ASSERT_NE(refresh, nullptr);
  EXPECT_FALSE(refresh->enabled);
  EXPECT_EQ(refresh->expression, "rate(5 minutes)");
  const ScheduleRecord* nightly = FindSchedule(*set, "nightly");
  ASSERT_NE(nightly, nullptr);
  EXPECT_EQ(nightly->timezone, "Europe/Berlin");
  EXPECT_EQ(nightly->missed_runs, MissedRunPolicy::kSkip);
  EXPECT_EQ(nightly->state_machine_arn, "nightly-report");
  EXPECT_EQ(nightly->input, R"js({"day": "yesterday"})js");
  EXPECT_TRUE(FindSchedule(*set, "basin-batch-hourly")->enabled) << "untouched default";
}

TEST(WorkflowSet, ABadSchedulesFileNamesTheFieldAndTheProblem) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"not json", "schedules.json: $"},
      {R"js({"Schedules": {}})js", "expected {\"Schedules\": [...]}"},
      {R"js({"Schedules": [{"ScheduleExpression": "rate(1 hour)", "Target": {"Arn": "x"}}]})js",
       "$.Schedules[0]: Name is required"},
      {R"js({"Schedules": [{"Name": "a", "Target": {"Arn": "x"}}]})js",
       "ScheduleExpression is required"},
      {R"js({"Schedules": [{"Name": "a", "ScheduleExpression": "rate(1 hour)"}]
})js",
       "Target.Arn is required"},
      {R"js({"Schedules": [{"Name": "a", "ScheduleExpression": "rate(0 hours)",
          "Target": {"Arn": "x"}}]
})js",
       "$.Schedules[0]: "},
      {R"js({"Schedules": [{"Name": "a", "ScheduleExpression": "rate(1 hour)",
          "ScheduleExpressionTimezone": "Mars/Base", "Target": {"Arn": "x"}}]
})js",
       "Mars/Base"},
      {R"js({"Schedules": [{"Name": "a", "ScheduleExpression": "rate(1 hour)", "State": "ON",
          "Target": {"Arn": "x"}}]
})js",
       "$.Schedules[0].State: must be ENABLED or DISABLED"},
      {R"js({"Schedules": [{"Name": "a", "ScheduleExpression": "rate(1 hour)",
          "MissedRuns": "ALL", "Target": {"Arn": "x"}}]
})js",
       "$.Schedules[0].MissedRuns"},
      {R"js({"Schedules": [{"Name": "a", "ScheduleExpression": "rate(1 hour)",
          "Target": {"Arn": "x", "Input": "{not json"}}]
})js",
       "$.Schedules[0].Target.Input"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseSchedulesFile(c.text, "schedules.json");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidDefinition) << c.text;
    EXPECT_NE(parsed.status().message().find(c.want), std::string::npos)
        << c.text << " -> " << parsed.status().message();
  }
}

TEST(WorkflowSet, InstallCreatesUpdatesAndSchedulesAndIsIdempotent) {
  TempDir dir;
  FakeClock clock(1'767'225'600'000'000);
  FakeClockSleeper sleeper(clock);
  auto catalog = catalog::Catalog::Open(dir.path() + "/basin.db", &clock);
  ASSERT_TRUE(catalog.ok());
  ExecutionServiceOptions options;
  options.catalog = catalog->get();
  options.clock = &clock;
  options.sleeper = &sleeper;
  auto service = ExecutionService::Open(std::move(options));
  ASSERT_TRUE(service.ok());
  ExecutionService& s = **service;

  WorkflowSet set;
  set.state_machines.push_back(
      {"hello", R"js({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})js"});
  ScheduleRecord every_hour;
  every_hour.name = "hello-hourly";
  every_hour.expression = "rate(1 hour)";
  every_hour.state_machine_arn = "hello";
  set.schedules.push_back(every_hour);
  ASSERT_TRUE(InstallWorkflowSet(s, set).ok());
  ASSERT_TRUE(InstallWorkflowSet(s, set).ok()) << "installing the same set again changes nothing";
  auto machines = s.ListStateMachines();
  ASSERT_TRUE(machines.ok());
  ASSERT_EQ(machines->size(), 1u);
  const int64_t created = machines->front().update_micros;
  auto schedules = s.ListSchedules();
  ASSERT_TRUE(schedules.ok());
  ASSERT_EQ(schedules->size(), 1u);
  EXPECT_EQ(schedules->front().state_machine_arn, s.StateMachineArn("hello"));

  // A changed file updates the machine in place.
  clock.Advance(1'000'000);
  set.state_machines[0].definition =
      R"js({"StartAt": "Q", "States": {"Q": {"Type": "Succeed"}}})js";
  ASSERT_TRUE(InstallWorkflowSet(s, set).ok());
  auto updated = s.DescribeStateMachine(s.StateMachineArn("hello"));
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->definition, set.state_machines[0].definition);
  EXPECT_GT(updated->update_micros, created);

  // No role given (a default-constructed view, as the API passes for a missing field) keeps the
  // machine's role: an empty text, never SQL NULL.
  auto same_role =
      s.UpdateStateMachine(s.StateMachineArn("hello"), updated->definition, std::string_view());
  ASSERT_TRUE(same_role.ok()) << same_role.status().ToString();

  // An invalid definition stops the install and names the workflow and the pointer.
  set.state_machines[0].definition = R"js({"StartAt": "Nowhere", "States": {}})js";
  Status bad = InstallWorkflowSet(s, set);
  EXPECT_EQ(bad.code(), ErrorCode::kValidationFailed) << bad.ToString();
  EXPECT_NE(bad.message().find("workflow hello"), std::string::npos) << bad.ToString();
}

}  // namespace
}  // namespace basin::workflow
