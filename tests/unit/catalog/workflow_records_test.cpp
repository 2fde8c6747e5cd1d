#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "catalog/catalog.h"
#include "unit/temp_dir.h"

namespace basin::catalog {
namespace {

using test::TempDir;

constexpr char kMachineArn[] = "arn:aws:states:us-east-1:000000000000:stateMachine:orders";

class WorkflowRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    catalog_.reset();
    auto opened = Catalog::Open(dir_.path() + "/basin.db", &clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened).value();
  }
  StateMachineRow Machine(const std::string& name = "orders") {
    StateMachineRow row;
    row.name = name;
    row.arn = "arn:aws:states:us-east-1:000000000000:stateMachine:" + name;
    row.definition = R"({"StartAt":"A","States":{"A":{"Type":"Succeed"}}})";
    row.role_arn = "arn:aws:iam::000000000000:role/r";
    row.created_micros = row.updated_micros = 100;
    return row;
  }
  ExecutionRow Execution(const std::string& name, int64_t start = 1000,
                         const std::string& machine_arn = kMachineArn) {
    ExecutionRow row;
    row.name = name;
    row.arn = machine_arn + ":" + name;
    row.state_machine_arn = machine_arn;
    row.definition = "{}";
    row.input = R"({"n":1})";
    row.start_micros = start;
    return row;
  }
  static ExecutionEventRow Event(int64_t id, const std::string& type) {
    return ExecutionEventRow{id, id - 1, 1000 + id, type,
                             R"({"x":{"n":)" + std::to_string(id) + "}}"};
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000'000};
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(WorkflowRecordsTest, MigrationFourIsRecorded) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/basin.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_migrations", -1, &stmt, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt, 0), 4);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(WorkflowRecordsTest, StateMachinesInsertFindUpdateListDelete) {
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine("orders")).ok());
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine("billing")).ok());
  EXPECT_EQ(catalog_->InsertStateMachine(Machine("orders")).code(), ErrorCode::kAlreadyExists);

  auto found = catalog_->FindStateMachine(kMachineArn);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, "orders");
  EXPECT_EQ((*found)->type, "STANDARD");
  auto by_name = catalog_->FindStateMachineByName("billing");
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_EQ((*by_name)->arn, "arn:aws:states:us-east-1:000000000000:stateMachine:billing");
  auto missing = catalog_->FindStateMachine("arn:nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(catalog_->UpdateStateMachine(kMachineArn, "{\"new\":1}", "", 200).ok());
  found = catalog_->FindStateMachine(kMachineArn);
  EXPECT_EQ((*found)->definition, "{\"new\":1}");
  EXPECT_EQ((*found)->role_arn, "arn:aws:iam::000000000000:role/r");  // kept: empty role
  EXPECT_EQ((*found)->updated_micros, 200);
  EXPECT_EQ((*found)->created_micros, 100);
  ASSERT_TRUE(catalog_->UpdateStateMachine(kMachineArn, "{}", "arn:role2", 300).ok());
  EXPECT_EQ((*catalog_->FindStateMachine(kMachineArn))->role_arn, "arn:role2");
  EXPECT_EQ(catalog_->UpdateStateMachine("arn:nope", "{}", "", 1).code(), ErrorCode::kNotFound);

  auto list = catalog_->ListStateMachines();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "billing");
  EXPECT_EQ((*list)[1].name, "orders");

  ASSERT_TRUE(catalog_->DeleteStateMachine(kMachineArn).ok());
  EXPECT_EQ(catalog_->DeleteStateMachine(kMachineArn).code(), ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->ListStateMachines()->size(), 1u);
}

TEST_F(WorkflowRecordsTest, ExecutionNamesAreUniquePerMachineAndTheLimitCountsRunning) {
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine("orders")).ok());
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine("billing")).ok());
  EXPECT_EQ(catalog_->InsertExecution(Execution("e1", 1000, "arn:nope"), 10).code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(catalog_->InsertExecution(Execution("e1"), 2).ok());
  EXPECT_EQ(catalog_->InsertExecution(Execution("e1"), 10).code(), ErrorCode::kAlreadyExists);
  // The same name under another machine is fine.
  const std::string billing = "arn:aws:states:us-east-1:000000000000:stateMachine:billing";
  ASSERT_TRUE(catalog_->InsertExecution(Execution("e1", 1000, billing), 2).ok());
  // Two RUNNING now: a third is over a limit of 2.
  EXPECT_EQ(catalog_->InsertExecution(Execution("e2"), 2).code(), ErrorCode::kConflict);
  ExecutionProgress done;
  done.execution_arn = Execution("e1").arn;
  done.end = ExecutionEnd{"SUCCEEDED", "{}", "", "", 2000};
  ASSERT_TRUE(catalog_->RecordExecutionProgress(done).ok());
  EXPECT_TRUE(catalog_->InsertExecution(Execution("e2"), 2).ok());
}

TEST_F(WorkflowRecordsTest, ProgressAppendsEventsSetsCheckpointAndEndsOnlyOnce) {
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine()).ok());
  ExecutionRow row = Execution("e1");
  ASSERT_TRUE(catalog_->InsertExecution(row, 10).ok());

  ExecutionProgress p;
  p.execution_arn = row.arn;
  p.events = {Event(1, "ExecutionStarted"), Event(2, "PassStateEntered")};
  p.checkpoint = R"({"next_state":"B"})";
  auto ended = catalog_->RecordExecutionProgress(p);
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_FALSE(*ended);

  // An event id that is there already fails the whole write.
  ExecutionProgress dup;
  dup.execution_arn = row.arn;
  dup.events = {Event(3, "PassStateExited"), Event(2, "Again")};
  dup.checkpoint = R"({"next_state":"C"})";
  EXPECT_EQ(catalog_->RecordExecutionProgress(dup).status().code(), ErrorCode::kConflict);

  auto events = catalog_->ExecutionEvents(row.arn);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].type, "PassStateEntered");
  EXPECT_EQ((*events)[1].previous_event_id, 1);
  EXPECT_EQ((*events)[1].timestamp_micros, 1002);
  EXPECT_EQ((*events)[1].details, R"({"x":{"n":2}})");
  EXPECT_EQ(*(*catalog_->FindExecution(row.arn))->checkpoint, R"({"next_state":"B"})");

  ExecutionProgress abort;
  abort.execution_arn = row.arn;
  abort.end = ExecutionEnd{"ABORTED", std::nullopt, "Stop", "by hand", 1500};
  ASSERT_TRUE(*catalog_->RecordExecutionProgress(abort));
  // The thread's own end, later, does not overwrite the abort (but its events are kept).
  ExecutionProgress late;
  late.execution_arn = row.arn;
  late.events = {Event(3, "ExecutionAborted")};
  late.end = ExecutionEnd{"SUCCEEDED", "{\"r\":1}", "", "", 1600};
  ASSERT_FALSE(*catalog_->RecordExecutionProgress(late));

  Reopen();
  auto found = catalog_->FindExecution(row.arn);
  ASSERT_TRUE(found.ok() && found->has_value());
  const ExecutionRow& e = **found;
  EXPECT_EQ(e.status, "ABORTED");
  EXPECT_EQ(e.error, "Stop");
  EXPECT_EQ(e.cause, "by hand");
  EXPECT_FALSE(e.output.has_value());
  EXPECT_EQ(e.stop_micros, 1500);
  EXPECT_EQ(e.input, R"({"n":1})");
  EXPECT_EQ(catalog_->ExecutionEvents(row.arn)->size(), 3u);

  ExecutionProgress unknown;
  unknown.execution_arn = "arn:nope";
  EXPECT_EQ(catalog_->RecordExecutionProgress(unknown).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->ExecutionEvents("arn:nope").status().code(), ErrorCode::kNotFound);
}

TEST_F(WorkflowRecordsTest, RestartDropsTheEventsOfTheRerunStateAndCountsResumes) {
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine()).ok());
  ExecutionRow row = Execution("e1");
  ASSERT_TRUE(catalog_->InsertExecution(row, 10).ok());
  ExecutionProgress p;
  p.execution_arn = row.arn;
  for (int64_t id = 1; id <= 5; ++id) p.events.push_back(Event(id, "E"));
  ASSERT_TRUE(catalog_->RecordExecutionProgress(p).ok());

  ASSERT_TRUE(catalog_->RestartExecution(row.arn, 4).ok());
  auto events = catalog_->ExecutionEvents(row.arn);
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ(events->back().id, 3);
  EXPECT_EQ((*catalog_->FindExecution(row.arn))->resume_count, 1);
  // The ids are free again.
  ExecutionProgress again;
  again.execution_arn = row.arn;
  again.events = {Event(4, "E2")};
  EXPECT_TRUE(catalog_->RecordExecutionProgress(again).ok());
  EXPECT_EQ(catalog_->RestartExecution("arn:nope", 1).code(), ErrorCode::kNotFound);
}

TEST_F(WorkflowRecordsTest, ListExecutionsNewestFirstAndByStatus) {
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine("orders")).ok());
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine("billing")).ok());
  const std::string billing = "arn:aws:states:us-east-1:000000000000:stateMachine:billing";
  ASSERT_TRUE(catalog_->InsertExecution(Execution("a", 1000), 10).ok());
  ASSERT_TRUE(catalog_->InsertExecution(Execution("b", 3000), 10).ok());
  ASSERT_TRUE(catalog_->InsertExecution(Execution("c", 2000), 10).ok());
  ASSERT_TRUE(catalog_->InsertExecution(Execution("d", 2000, billing), 10).ok());
  ExecutionProgress p;
  p.execution_arn = Execution("c").arn;
  p.end = ExecutionEnd{"FAILED", std::nullopt, "E", "C", 2500};
  ASSERT_TRUE(catalog_->RecordExecutionProgress(p).ok());

  auto all = catalog_->ListExecutions(kMachineArn);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "b");
  EXPECT_EQ((*all)[1].name, "c");
  EXPECT_EQ((*all)[2].name, "a");
  auto running = catalog_->ListExecutions(kMachineArn, "RUNNING");
  ASSERT_EQ(running->size(), 2u);
  auto failed = catalog_->ListExecutions(kMachineArn, "FAILED");
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].error, "E");
  EXPECT_EQ(catalog_->ListExecutions("", "RUNNING")->size(), 3u);  // every machine
  auto newest = catalog_->ListExecutions(kMachineArn, std::nullopt, 2);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].name, "b");
  EXPECT_EQ((*newest)[1].name, "c");
}

TEST_F(WorkflowRecordsTest, DeletingAMachineNeedsNoRunningExecutionsAndTakesItsExecutions) {
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine()).ok());
  ExecutionRow row = Execution("e1");
  ASSERT_TRUE(catalog_->InsertExecution(row, 10).ok());
  ExecutionProgress p;
  p.execution_arn = row.arn;
  p.events = {Event(1, "ExecutionStarted")};
  ASSERT_TRUE(catalog_->RecordExecutionProgress(p).ok());
  EXPECT_EQ(catalog_->DeleteStateMachine(kMachineArn).code(), ErrorCode::kConflict);

  p.events.clear();
  p.end = ExecutionEnd{"SUCCEEDED", "{}", "", "", 5};
  ASSERT_TRUE(catalog_->RecordExecutionProgress(p).ok());
  ASSERT_TRUE(catalog_->DeleteStateMachine(kMachineArn).ok());
  EXPECT_FALSE(catalog_->FindExecution(row.arn)->has_value());
  // A machine of the same name starts afresh: the old execution name is free.
  ASSERT_TRUE(catalog_->InsertStateMachine(Machine()).ok());
  ASSERT_TRUE(catalog_->InsertExecution(row, 10).ok());
  EXPECT_TRUE(catalog_->ExecutionEvents(row.arn)->empty());
}

TEST_F(WorkflowRecordsTest, SchedulesPutReplaceListDeleteAndLastRunOnlyMovesForward) {
  ScheduleRow s;
  s.name = "nightly";
  s.expression = "cron(0 2 * * ? *)";
  s.timezone = "Europe/Berlin";
  s.state_machine_arn = kMachineArn;
  s.input = R"({"full":true})";
  s.missed_runs = "SKIP";
  s.created_micros = 10;
  s.updated_micros = 10;
  ASSERT_TRUE(catalog_->PutSchedule(s).ok());
  ScheduleRow hourly = s;
  hourly.name = "hourly";
  hourly.expression = "rate(1 hour)";
  hourly.enabled = false;
  hourly.missed_runs = "RUN_ONCE";
  ASSERT_TRUE(catalog_->PutSchedule(hourly).ok());

  ASSERT_TRUE(catalog_->SetScheduleLastRun("nightly", 500).ok());
  ASSERT_TRUE(catalog_->SetScheduleLastRun("nightly", 400).ok());  // older: ignored
  EXPECT_EQ(catalog_->SetScheduleLastRun("nope", 1).code(), ErrorCode::kNotFound);

  Reopen();
  auto list = catalog_->ListSchedules();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "hourly");
  EXPECT_FALSE((*list)[0].enabled);
  EXPECT_FALSE((*list)[0].last_run_micros.has_value());
  const ScheduleRow& n = (*list)[1];
  EXPECT_EQ(n.expression, "cron(0 2 * * ? *)");
  EXPECT_EQ(n.timezone, "Europe/Berlin");
  EXPECT_EQ(n.input, R"({"full":true})");
  EXPECT_EQ(n.missed_runs, "SKIP");
  EXPECT_EQ(n.last_run_micros, 500);

  s.expression = "cron(0 3 * * ? *)";
  s.last_run_micros.reset();
  s.updated_micros = 20;
  ASSERT_TRUE(catalog_->PutSchedule(s).ok());
  auto found = catalog_->FindSchedule("nightly");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->expression, "cron(0 3 * * ? *)");
  EXPECT_FALSE((*found)->last_run_micros.has_value());
  EXPECT_EQ((*found)->updated_micros, 20);

  ASSERT_TRUE(catalog_->DeleteSchedule("nightly").ok());
  EXPECT_EQ(catalog_->DeleteSchedule("nightly").code(), ErrorCode::kNotFound);
  EXPECT_FALSE(catalog_->FindSchedule("nightly")->has_value());
  EXPECT_EQ(catalog_->ListSchedules()->size(), 1u);
}

}  // namespace
}  // namespace basin::catalog
