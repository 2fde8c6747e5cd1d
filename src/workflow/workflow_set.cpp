#include "workflow/workflow_set.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "base/file_util.h"
#include "workflow/default_workflows.h"
#include "workflow/json_value.h"
#include "workflow/schedule.h"

namespace basin::workflow {
namespace {

constexpr std::string_view kDefinitionSuffix = ".asl.json";
constexpr std::string_view kSchedulesFile = "schedules.json";
// Step Functions takes definitions up to 1 MiB; a schedules file is far smaller.
constexpr uint64_t kMaxFileBytes = 1 << 20;

// The files of one layer (defaults or the user folder) by file name.
using Layer = std::map<std::string, std::string, std::less<>>;

Result<Layer> ReadUserLayer(const std::string& dir) {
  Layer layer;
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return layer;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec)) continue;
    if (!name.ends_with(kDefinitionSuffix) && name != kSchedulesFile) continue;
    BASIN_ASSIGN_OR_RETURN(std::string content, ReadFile(entry.path().string(), kMaxFileBytes));
    layer.emplace(name, std::move(content));
  }
  if (ec) return Status(ErrorCode::kIoError, "cannot list " + dir + ": " + ec.message());
  return layer;
}

Status Bad(std::string_view file, const std::string& where, const std::string& why) {
  return Status(ErrorCode::kInvalidDefinition, std::string(file) + ": " + where + ": " + why);
}

const JsonValue* StringAt(const JsonValue& object, std::string_view field) {
  const JsonValue* v = object.Find(field);
  return v != nullptr && v->IsString() ? v : nullptr;
}

}  // namespace

Result<std::vector<ScheduleRecord>> ParseSchedulesFile(std::string_view text,
                                                       std::string_view file_name) {
  auto doc = ParseJson(text, kMaxFileBytes);
  if (!doc.ok()) return Bad(file_name, "$", doc.status().message());
  const JsonValue* list = doc->IsObject() ? doc->Find("Schedules") : nullptr;
  if (list == nullptr || !list->IsArray()) {
    return Bad(file_name, "$", "expected {\"Schedules\": [...]}");
  }
  std::vector<ScheduleRecord> schedules;
  for (size_t i = 0; i < list->size(); ++i) {
    const JsonValue& item = list->items()[i];
    const std::string where = "$.Schedules[" + std::to_string(i) + "]";
    if (!item.IsObject()) return Bad(file_name, where, "expected an object");
    ScheduleRecord s;
    const JsonValue* name = StringAt(item, "Name");
    const JsonValue* expression = StringAt(item, "ScheduleExpression");
    const JsonValue* target = item.Find("Target");
    const JsonValue* arn =
        target != nullptr && target->IsObject() ? StringAt(*target, "Arn") : nullptr;
    if (name == nullptr || name->AsString().empty())
      return Bad(file_name, where, "Name is required");
    if (expression == nullptr) return Bad(file_name, where, "ScheduleExpression is required");
    if (arn == nullptr) return Bad(file_name, where, "Target.Arn is required");
    s.name = name->AsString();
    s.expression = expression->AsString();
    if (const JsonValue* tz = StringAt(item, "ScheduleExpressionTimezone"))
      s.timezone = tz->AsString();
    if (const JsonValue* state = StringAt(item, "State")) {
      if (state->AsString() != "ENABLED" && state->AsString() != "DISABLED") {
        return Bad(file_name, where + ".State", "must be ENABLED or DISABLED");
      }
      s.enabled = state->AsString() == "ENABLED";
    }
    if (const JsonValue* missed = StringAt(item, "MissedRuns")) {
      if (missed->AsString() != "RUN_ONCE" && missed->AsString() != "SKIP") {
        return Bad(file_name, where + ".MissedRuns", "must be RUN_ONCE or SKIP");
      }
      s.missed_runs =
          missed->AsString() == "SKIP" ? MissedRunPolicy::kSkip : MissedRunPolicy::kRunOnce;
    }
    // Only the machine's name carries over: the account and region are the service's own.
    const std::string& target_arn = arn->AsString();
    const size_t at = target_arn.rfind(":stateMachine:");
    s.state_machine_arn = at == std::string::npos
                              ? target_arn
                              : target_arn.substr(at + std::size(":stateMachine:") - 1);
    if (const JsonValue* input = StringAt(*target, "Input")) {
      auto parsed = ParseJson(input->AsString());
      if (!parsed.ok()) return Bad(file_name, where + ".Target.Input", parsed.status().message());
      s.input = input->AsString();
    }
    auto checked = ParseSchedule(s.expression, s.timezone);
    if (!checked.ok()) return Bad(file_name, where, checked.status().message());
    schedules.push_back(std::move(s));
  }
  return schedules;
}

Result<WorkflowSet> LoadWorkflowSet(const std::string& user_dir) {
  Layer defaults;
  for (EmbeddedFile& file : DefaultWorkflowFiles()) {
    defaults.emplace(std::move(file.name), std::move(file.content));
  }
  BASIN_ASSIGN_OR_RETURN(Layer user, ReadUserLayer(user_dir));

  WorkflowSet set;
  Layer definitions;
  for (const Layer* layer : {&defaults, &user}) {
    for (const auto& [name, content] : *layer) {
      if (name.ends_with(kDefinitionSuffix)) definitions[name] = content;
    }
  }
  for (auto& [file, content] : definitions) {
    set.state_machines.push_back(
        {file.substr(0, file.size() - kDefinitionSuffix.size()), std::move(content)});
  }
  std::map<std::string, ScheduleRecord> schedules;
  for (const Layer* layer : {&defaults, &user}) {
    auto it = layer->find(kSchedulesFile);
    if (it == layer->end()) continue;
    const std::string file = layer == &user ? user_dir + "/" + it->first : "workflows/" + it->first;
    BASIN_ASSIGN_OR_RETURN(auto parsed, ParseSchedulesFile(it->second, file));
    for (ScheduleRecord& s : parsed) schedules[s.name] = std::move(s);
  }
  for (auto& [name, s] : schedules) set.schedules.push_back(std::move(s));
  return set;
}

Status InstallWorkflowSet(ExecutionService& service, const WorkflowSet& set) {
  BASIN_ASSIGN_OR_RETURN(std::vector<StateMachineRecord> existing, service.ListStateMachines());
  for (const WorkflowFile& file : set.state_machines) {
    auto found = std::find_if(existing.begin(), existing.end(),
                              [&](const StateMachineRecord& r) { return r.name == file.name; });
    Result<StateMachineRecord> done =
        found == existing.end()
            ? service.CreateStateMachine(file.name, file.definition, "")
            : (found->definition == file.definition
                   ? Result<StateMachineRecord>(*found)
                   : service.UpdateStateMachine(found->arn, file.definition, ""));
    if (!done.ok()) {
      return Status(done.status().code(), "workflow " + file.name + ": " + done.status().message());
    }
  }
  for (ScheduleRecord schedule : set.schedules) {
    schedule.state_machine_arn = service.StateMachineArn(schedule.state_machine_arn);
    Status put = service.PutSchedule(schedule);
    if (!put.ok()) {
      return Status(put.code(), "schedule " + schedule.name + ": " + put.message());
    }
  }
  return Status::Ok();
}

}  // namespace basin::workflow
