#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "workflow/execution_service.h"

namespace basin::workflow {

// A state machine definition from a `<name>.asl.json` file.
struct WorkflowFile {
  std::string name;        // the file name without ".asl.json": the state machine's name
  std::string definition;  // ASL text
};

// The workflows a data directory runs on its own: the defaults built into the binary
// (workflows/*.asl.json and workflows/schedules.json of the repository) overlaid by
// `<data_dir>/workflows/`: a file of the same name replaces a default, a new one adds a machine,
// and a schedule of the same Name replaces the default one (State DISABLED turns it off).
struct WorkflowSet {
  std::vector<WorkflowFile> state_machines;  // by name
  std::vector<ScheduleRecord> schedules;     // by name; state_machine_arn holds the target name
};

// Reads the defaults and `user_dir` (missing folder: defaults only). Errors: kInvalidDefinition
// naming the file and field for a malformed schedules.json, kIoError for unreadable files.
// Definitions are validated later, when they are installed.
Result<WorkflowSet> LoadWorkflowSet(const std::string& user_dir);

// Parses a schedules file: {"Schedules": [CreateSchedule-shaped objects]} with Name,
// ScheduleExpression, ScheduleExpressionTimezone (default UTC), State (ENABLED|DISABLED),
// Target.Arn (a state machine ARN; only its name is kept), Target.Input (JSON text), and
// Basin's MissedRuns (RUN_ONCE|SKIP, default RUN_ONCE). Each expression is parsed to check it.
Result<std::vector<ScheduleRecord>> ParseSchedulesFile(std::string_view text,
                                                       std::string_view file_name);

// Creates or updates every state machine of the set (an unchanged definition is left alone) and
// puts every schedule with its target resolved to the service's ARN. The first failure stops
// and names the workflow.
Status InstallWorkflowSet(ExecutionService& service, const WorkflowSet& set);

}  // namespace basin::workflow
