// The workflow records of the catalog (migration 4): state machines, executions with their
// history events and checkpoint, schedules. The workflow subsystem gives these rows meaning; here
// they are plain rows, checked only for what the database itself must guarantee (unique names,
// the running-execution limit, an ended execution staying ended).

#include <string>
#include <utility>

#include "catalog/catalog.h"
#include "catalog/catalog_internal.h"

namespace basin::catalog {
namespace {

using internal::Connection;
using internal::Statement;

constexpr const char* kSelectStateMachineColumns =
    "SELECT arn, name, definition, role_arn, type, created_micros, updated_micros "
    "FROM state_machines ";

StateMachineRow StateMachineFromRow(const Statement& s) {
  StateMachineRow row;
  row.arn = s.Text(0);
  row.name = s.Text(1);
  row.definition = s.Text(2);
  row.role_arn = s.Text(3);
  row.type = s.Text(4);
  row.created_micros = s.Int(5);
  row.updated_micros = s.Int(6);
  return row;
}

constexpr const char* kSelectExecutionColumns =
    "SELECT arn, name, state_machine_arn, definition, status, input, output, error, cause, "
    "start_micros, stop_micros, resume_count, checkpoint FROM executions ";

ExecutionRow ExecutionFromRow(const Statement& s) {
  ExecutionRow row;
  row.arn = s.Text(0);
  row.name = s.Text(1);
  row.state_machine_arn = s.Text(2);
  row.definition = s.Text(3);
  row.status = s.Text(4);
  row.input = s.Text(5);
  if (!s.IsNull(6)) row.output = s.Text(6);
  row.error = s.Text(7);
  row.cause = s.Text(8);
  row.start_micros = s.Int(9);
  if (!s.IsNull(10)) row.stop_micros = s.Int(10);
  row.resume_count = s.Int(11);
  if (!s.IsNull(12)) row.checkpoint = s.Text(12);
  return row;
}

constexpr const char* kSelectScheduleColumns =
    "SELECT name, expression, timezone, state_machine_arn, input, enabled, missed_runs, "
    "last_run_micros, created_micros, updated_micros FROM schedules ";

ScheduleRow ScheduleFromRow(const Statement& s) {
  ScheduleRow row;
  row.name = s.Text(0);
  row.expression = s.Text(1);
  row.timezone = s.Text(2);
  row.state_machine_arn = s.Text(3);
  row.input = s.Text(4);
  row.enabled = s.Int(5) != 0;
  row.missed_runs = s.Text(6);
  if (!s.IsNull(7)) row.last_run_micros = s.Int(7);
  row.created_micros = s.Int(8);
  row.updated_micros = s.Int(9);
  return row;
}

Status NotFound(std::string_view what, std::string_view name) {
  return Error(ErrorCode::kNotFound,
               std::string(what) + " " + std::string(name) + " does not exist");
}

// Reads every row of a prepared statement with `from_row`.
template <typename Row, typename FromRow>
Result<std::vector<Row>> ReadAll(Statement& s, FromRow from_row) {
  std::vector<Row> out;
  for (;;) {
    BASIN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(from_row(s));
  }
  return out;
}

// The one row a lookup by key finds, or nullopt.
template <typename Row, typename FromRow>
Result<std::optional<Row>> ReadOne(Statement& s, FromRow from_row) {
  BASIN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<Row>();
  return std::optional<Row>(from_row(s));
}

Result<bool> Exists(const Connection& c, const std::string& sql, std::string_view key) {
  BASIN_ASSIGN_OR_RETURN(auto s, c.Prepare(sql));
  s->Bind(1, key);
  return s->Step();
}

void BindOptional(Statement& s, int index, const std::optional<std::string>& value) {
  if (value)
    s.Bind(index, *value);
  else
    s.BindNull(index);
}

void BindOptional(Statement& s, int index, const std::optional<int64_t>& value) {
  if (value)
    s.Bind(index, *value);
  else
    s.BindNull(index);
}

}  // namespace

// ---- State machines ----------------------------------------------------------------------------

Status Catalog::InsertStateMachine(const StateMachineRow& row) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(bool taken,
                           Exists(c, "SELECT 1 FROM state_machines WHERE name = ?1", row.name));
    if (!taken) {
      BASIN_ASSIGN_OR_RETURN(taken,
                             Exists(c, "SELECT 1 FROM state_machines WHERE arn = ?1", row.arn));
    }
    if (taken) {
      return Error(ErrorCode::kAlreadyExists, "state machine " + row.name + " already exists");
    }
    BASIN_ASSIGN_OR_RETURN(
        auto s, c.Prepare("INSERT INTO state_machines (arn, name, definition, role_arn, type, "
                          "created_micros, updated_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    s->Bind(1, row.arn)
        .Bind(2, row.name)
        .Bind(3, row.definition)
        .Bind(4, row.role_arn)
        .Bind(5, row.type)
        .Bind(6, row.created_micros)
        .Bind(7, row.updated_micros);
    return s->Run();
  });
}

Status Catalog::UpdateStateMachine(std::string_view arn, std::string_view definition,
                                   std::string_view role_arn, int64_t updated_micros) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(auto s,
                           c.Prepare("UPDATE state_machines SET definition = ?2, "
                                     "role_arn = CASE WHEN ?3 = '' THEN role_arn ELSE ?3 END, "
                                     "updated_micros = ?4 WHERE arn = ?1"));
    s->Bind(1, arn).Bind(2, definition).Bind(3, role_arn).Bind(4, updated_micros);
    BASIN_RETURN_IF_ERROR(s->Run());
    if (c.Changes() == 0) return NotFound("state machine", arn);
    return Status::Ok();
  });
}

Result<std::optional<StateMachineRow>> Catalog::FindStateMachine(std::string_view arn) const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(auto s,
                         c.Prepare(std::string(kSelectStateMachineColumns) + "WHERE arn = ?1"));
  s->Bind(1, arn);
  return ReadOne<StateMachineRow>(*s, StateMachineFromRow);
}

Result<std::optional<StateMachineRow>> Catalog::FindStateMachineByName(
    std::string_view name) const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(auto s,
                         c.Prepare(std::string(kSelectStateMachineColumns) + "WHERE name = ?1"));
  s->Bind(1, name);
  return ReadOne<StateMachineRow>(*s, StateMachineFromRow);
}

Result<std::vector<StateMachineRow>> Catalog::ListStateMachines() const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(auto s,
                         c.Prepare(std::string(kSelectStateMachineColumns) + "ORDER BY name"));
  return ReadAll<StateMachineRow>(*s, StateMachineFromRow);
}

Status Catalog::DeleteStateMachine(std::string_view arn) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(bool exists,
                           Exists(c, "SELECT 1 FROM state_machines WHERE arn = ?1", arn));
    if (!exists) return NotFound("state machine", arn);
    BASIN_ASSIGN_OR_RETURN(bool running,
                           Exists(c,
                                  "SELECT 1 FROM executions WHERE state_machine_arn = ?1 AND "
                                  "status = 'RUNNING'",
                                  arn));
    if (running) {
      return Error(ErrorCode::kConflict,
                   "state machine " + std::string(arn) + " has running executions");
    }
    for (const char* sql : {"DELETE FROM execution_events WHERE execution_arn IN "
                            "(SELECT arn FROM executions WHERE state_machine_arn = ?1)",
                            "DELETE FROM executions WHERE state_machine_arn = ?1",
                            "DELETE FROM state_machines WHERE arn = ?1"}) {
      BASIN_ASSIGN_OR_RETURN(auto s, c.Prepare(sql));
      s->Bind(1, arn);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    return Status::Ok();
  });
}

// ---- Executions --------------------------------------------------------------------------------

Status Catalog::InsertExecution(const ExecutionRow& row, int64_t max_running) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(bool machine, Exists(c, "SELECT 1 FROM state_machines WHERE arn = ?1",
                                                row.state_machine_arn));
    if (!machine) return NotFound("state machine", row.state_machine_arn);
    {
      BASIN_ASSIGN_OR_RETURN(auto s, c.Prepare("SELECT 1 FROM executions WHERE arn = ?1 OR "
                                               "(state_machine_arn = ?2 AND name = ?3)"));
      s->Bind(1, row.arn).Bind(2, row.state_machine_arn).Bind(3, row.name);
      BASIN_ASSIGN_OR_RETURN(bool taken, s->Step());
      if (taken) {
        return Error(ErrorCode::kAlreadyExists,
                     "execution " + row.name + " of " + row.state_machine_arn + " already exists");
      }
    }
    {
      BASIN_ASSIGN_OR_RETURN(auto s,
                             c.Prepare("SELECT COUNT(*) FROM executions WHERE status = 'RUNNING'"));
      BASIN_ASSIGN_OR_RETURN(bool counted, s->Step());
      if (counted && s->Int(0) >= max_running) {
        return Error(ErrorCode::kConflict,
                     "execution limit exceeded: " + std::to_string(s->Int(0)) +
                         " executions are running (at most " + std::to_string(max_running) + ")");
      }
    }
    BASIN_ASSIGN_OR_RETURN(
        auto s, c.Prepare("INSERT INTO executions (arn, name, state_machine_arn, definition, "
                          "status, input, output, error, cause, start_micros, stop_micros, "
                          "resume_count, checkpoint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                          "?10, ?11, ?12, ?13)"));
    s->Bind(1, row.arn)
        .Bind(2, row.name)
        .Bind(3, row.state_machine_arn)
        .Bind(4, row.definition)
        .Bind(5, row.status)
        .Bind(6, row.input);
    BindOptional(*s, 7, row.output);
    s->Bind(8, row.error).Bind(9, row.cause).Bind(10, row.start_micros);
    BindOptional(*s, 11, row.stop_micros);
    s->Bind(12, row.resume_count);
    BindOptional(*s, 13, row.checkpoint);
    return s->Run();
  });
}

Result<std::optional<ExecutionRow>> Catalog::FindExecution(std::string_view arn) const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(auto s,
                         c.Prepare(std::string(kSelectExecutionColumns) + "WHERE arn = ?1"));
  s->Bind(1, arn);
  return ReadOne<ExecutionRow>(*s, ExecutionFromRow);
}

Result<std::vector<ExecutionRow>> Catalog::ListExecutions(std::string_view state_machine_arn,
                                                          std::optional<std::string> status,
                                                          int64_t limit) const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(
      auto s, c.Prepare(std::string(kSelectExecutionColumns) +
                        "WHERE (?1 = '' OR state_machine_arn = ?1) AND (?2 IS NULL OR status = ?2) "
                        "ORDER BY start_micros DESC, rowid DESC LIMIT ?3"));
  s->Bind(1, state_machine_arn);
  BindOptional(*s, 2, status);
  s->Bind(3, limit > 0 ? limit : int64_t{-1});  // SQLite: a negative LIMIT is none
  return ReadAll<ExecutionRow>(*s, ExecutionFromRow);
}

Result<bool> Catalog::RecordExecutionProgress(const ExecutionProgress& progress) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  bool ended = false;
  BASIN_RETURN_IF_ERROR(c.InTransaction(true, [&]() -> Status {
    ended = false;
    BASIN_ASSIGN_OR_RETURN(
        bool exists, Exists(c, "SELECT 1 FROM executions WHERE arn = ?1", progress.execution_arn));
    if (!exists) return NotFound("execution", progress.execution_arn);
    for (const ExecutionEventRow& e : progress.events) {
      BASIN_ASSIGN_OR_RETURN(
          auto s, c.Prepare("INSERT INTO execution_events (execution_arn, id, previous_event_id, "
                            "timestamp_micros, type, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      s->Bind(1, progress.execution_arn)
          .Bind(2, e.id)
          .Bind(3, e.previous_event_id)
          .Bind(4, e.timestamp_micros)
          .Bind(5, e.type)
          .Bind(6, e.details);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    if (progress.checkpoint) {
      BASIN_ASSIGN_OR_RETURN(auto s,
                             c.Prepare("UPDATE executions SET checkpoint = ?2 WHERE arn = ?1"));
      s->Bind(1, progress.execution_arn).Bind(2, *progress.checkpoint);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    if (progress.end) {
      const ExecutionEnd& end = *progress.end;
      BASIN_ASSIGN_OR_RETURN(
          auto s, c.Prepare("UPDATE executions SET status = ?2, output = ?3, error = ?4, "
                            "cause = ?5, stop_micros = ?6 WHERE arn = ?1 AND status = 'RUNNING'"));
      s->Bind(1, progress.execution_arn).Bind(2, end.status);
      BindOptional(*s, 3, end.output);
      s->Bind(4, end.error).Bind(5, end.cause).Bind(6, end.stop_micros);
      BASIN_RETURN_IF_ERROR(s->Run());
      ended = c.Changes() > 0;
    }
    return Status::Ok();
  }));
  return ended;
}

Status Catalog::RestartExecution(std::string_view arn, int64_t first_discarded_event_id) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    {
      BASIN_ASSIGN_OR_RETURN(
          auto s,
          c.Prepare("UPDATE executions SET resume_count = resume_count + 1 WHERE arn = ?1"));
      s->Bind(1, arn);
      BASIN_RETURN_IF_ERROR(s->Run());
      if (c.Changes() == 0) return NotFound("execution", arn);
    }
    BASIN_ASSIGN_OR_RETURN(
        auto s, c.Prepare("DELETE FROM execution_events WHERE execution_arn = ?1 AND id >= ?2"));
    s->Bind(1, arn).Bind(2, first_discarded_event_id);
    return s->Run();
  });
}

Result<std::vector<ExecutionEventRow>> Catalog::ExecutionEvents(std::string_view arn) const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  std::vector<ExecutionEventRow> out;
  BASIN_RETURN_IF_ERROR(c.InTransaction(false, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(bool exists, Exists(c, "SELECT 1 FROM executions WHERE arn = ?1", arn));
    if (!exists) return NotFound("execution", arn);
    BASIN_ASSIGN_OR_RETURN(
        auto s, c.Prepare("SELECT id, previous_event_id, timestamp_micros, type, details FROM "
                          "execution_events WHERE execution_arn = ?1 ORDER BY id"));
    s->Bind(1, arn);
    BASIN_ASSIGN_OR_RETURN(
        out, ReadAll<ExecutionEventRow>(*s, [](const Statement& r) {
          return ExecutionEventRow{r.Int(0), r.Int(1), r.Int(2), r.Text(3), r.Text(4)};
        }));
    return Status::Ok();
  }));
  return out;
}

// ---- Schedules ---------------------------------------------------------------------------------

Status Catalog::PutSchedule(const ScheduleRow& row) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(
        auto s,
        c.Prepare("INSERT INTO schedules (name, expression, timezone, state_machine_arn, input, "
                  "enabled, missed_runs, last_run_micros, created_micros, updated_micros) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (name) DO UPDATE "
                  "SET expression = excluded.expression, timezone = excluded.timezone, "
                  "state_machine_arn = excluded.state_machine_arn, input = excluded.input, "
                  "enabled = excluded.enabled, missed_runs = excluded.missed_runs, "
                  "last_run_micros = excluded.last_run_micros, "
                  "created_micros = excluded.created_micros, "
                  "updated_micros = excluded.updated_micros"));
    s->Bind(1, row.name)
        .Bind(2, row.expression)
        .Bind(3, row.timezone)
        .Bind(4, row.state_machine_arn)
        .Bind(5, row.input)
        .Bind(6, int64_t{row.enabled ? 1 : 0})
        .Bind(7, row.missed_runs);
    BindOptional(*s, 8, row.last_run_micros);
    s->Bind(9, row.created_micros).Bind(10, row.updated_micros);
    return s->Run();
  });
}

Result<std::vector<ScheduleRow>> Catalog::ListSchedules() const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(auto s, c.Prepare(std::string(kSelectScheduleColumns) + "ORDER BY name"));
  return ReadAll<ScheduleRow>(*s, ScheduleFromRow);
}

Result<std::optional<ScheduleRow>> Catalog::FindSchedule(std::string_view name) const {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  BASIN_ASSIGN_OR_RETURN(auto s,
                         c.Prepare(std::string(kSelectScheduleColumns) + "WHERE name = ?1"));
  s->Bind(1, name);
  return ReadOne<ScheduleRow>(*s, ScheduleFromRow);
}

Status Catalog::DeleteSchedule(std::string_view name) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(auto s, c.Prepare("DELETE FROM schedules WHERE name = ?1"));
    s->Bind(1, name);
    BASIN_RETURN_IF_ERROR(s->Run());
    if (c.Changes() == 0) return NotFound("schedule", name);
    return Status::Ok();
  });
}

Status Catalog::SetScheduleLastRun(std::string_view name, int64_t last_run_micros) {
  Connection& c = connection();
  std::lock_guard lock(c.mu);
  return c.InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(bool exists, Exists(c, "SELECT 1 FROM schedules WHERE name = ?1", name));
    if (!exists) return NotFound("schedule", name);
    BASIN_ASSIGN_OR_RETURN(
        auto s, c.Prepare("UPDATE schedules SET last_run_micros = ?2 WHERE name = ?1 AND "
                          "(last_run_micros IS NULL OR last_run_micros < ?2)"));
    s->Bind(1, name).Bind(2, last_run_micros);
    return s->Run();
  });
}

}  // namespace basin::catalog
