#include "workflow/definition.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <string_view>

#include "base/time_format.h"
#include "workflow/intrinsics.h"
#include "workflow/jsonata.h"

namespace basin::workflow {

std::string_view StateTypeName(StateType type) {
  switch (type) {
    case StateType::kPass: return "Pass";
    case StateType::kTask: return "Task";
    case StateType::kChoice: return "Choice";
    case StateType::kWait: return "Wait";
    case StateType::kSucceed: return "Succeed";
    case StateType::kFail: return "Fail";
    case StateType::kParallel: return "Parallel";
    case StateType::kMap: return "Map";
  }
  return "?";
}

std::optional<int64_t> ParseAslTimestamp(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  auto digits = [&](size_t at, size_t n) {
    if (at + n > t.size()) return false;
    for (size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4) || t.size() < 20 || t[4] != '-' || !digits(5, 2) || t[7] != '-' ||
      !digits(8, 2) || t[10] != 'T' || !digits(11, 2) || t[13] != ':' || !digits(14, 2) ||
      t[16] != ':' || !digits(17, 2)) {
    return std::nullopt;
  }
  size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    ++i;
    size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == start) return std::nullopt;
  }
  bool zulu = i + 1 == t.size() && t[i] == 'Z';
  bool offset = i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && digits(i + 1, 2) &&
                t[i + 3] == ':' && digits(i + 4, 2);
  if (!zulu && !offset) return std::nullopt;
  auto num = [&](size_t at, size_t n) { return std::stoi(std::string(t.substr(at, n))); };
  int month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2),
      second = num(17, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  return ParseIso8601(t);
}

bool IsValidVariableName(std::string_view name) {
  if (name.empty() || name.size() > 80 || name == "states") return false;
  if (name[0] >= '0' && name[0] <= '9') return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

Result<DataPath> ParseDataPath(std::string_view text) {
  DataPath out;
  out.text = std::string(text);
  bool variable =
      text.size() >= 2 && text[0] == '$' &&
      ((text[1] >= 'a' && text[1] <= 'z') || (text[1] >= 'A' && text[1] <= 'Z') || text[1] == '_');
  if (!variable) {
    BASIN_ASSIGN_OR_RETURN(out.path, JsonPath::Parse(text));
    return out;
  }
  size_t end = 1;
  while (end < text.size() && text[end] != '.' && text[end] != '[') ++end;
  std::string name(text.substr(1, end - 1));
  if (!IsValidVariableName(name)) {
    return Error(ErrorCode::kInvalidArgument,
                 "invalid variable name '" + name + "' in path '" + out.text + "'");
  }
  BASIN_ASSIGN_OR_RETURN(out.path, JsonPath::Parse("$" + std::string(text.substr(end))));
  out.variable = std::move(name);
  return out;
}

std::string RewriteIntrinsicVariables(std::string_view text, bool* rewritten) {
  std::string out;
  char quote = 0;
  bool changed = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    bool starts_name =
        i + 1 < text.size() && ((text[i + 1] >= 'a' && text[i + 1] <= 'z') ||
                                (text[i + 1] >= 'A' && text[i + 1] <= 'Z') || text[i + 1] == '_');
    bool after_dollar = i > 0 && text[i - 1] == '$';
    if (c == '$' && starts_name && !after_dollar) {
      out += std::string("$$.") + kIntrinsicVariablesKey + ".";
      changed = true;
      continue;
    }
    out += c;
  }
  if (rewritten != nullptr) *rewritten = changed;
  return out;
}

namespace {

// True when `text` may reach the context object: a JSONPath `$$`, or a JSONata `$states` used
// other than as `$states.input`, `$states.result` or `$states.errorOutput`.
bool TextMentionsContext(std::string_view text) {
  if (text.find("$$") != std::string_view::npos) return true;
  for (size_t at = text.find("$states"); at != std::string_view::npos;
       at = text.find("$states", at + 1)) {
    std::string_view rest = text.substr(at + 7);
    bool plain_field = false;
    for (std::string_view field : {".input", ".result", ".errorOutput"}) {
      if (rest.starts_with(field) &&
          (rest.size() == field.size() ||
           !(std::isalnum(static_cast<unsigned char>(rest[field.size()])) ||
             rest[field.size()] == '_'))) {
        plain_field = true;
      }
    }
    if (!plain_field) return true;
  }
  return false;
}

// Whether a state's JSON (keys and strings, nested machines excluded) may read the context.
bool MentionsContext(const JsonValue& v, bool state_level) {
  if (v.IsString()) return TextMentionsContext(v.AsString());
  if (v.IsArray()) {
    for (const JsonValue& item : v.items()) {
      if (MentionsContext(item, false)) return true;
    }
    return false;
  }
  if (!v.IsObject()) return false;
  for (size_t i = 0; i < v.keys().size(); ++i) {
    const std::string& key = v.keys()[i];
    if (state_level && (key == "ItemProcessor" || key == "Iterator" || key == "Branches")) continue;
    if (TextMentionsContext(key) || MentionsContext(v.items()[i], false)) return true;
  }
  return false;
}

// Fields that belong to one query language only; the other rejects them.
const std::set<std::string, std::less<>> kJsonPathOnlyFields = {"InputPath",
                                                                "OutputPath",
                                                                "ResultPath",
                                                                "Parameters",
                                                                "ResultSelector",
                                                                "Result",
                                                                "ItemsPath",
                                                                "TimeoutSecondsPath",
                                                                "HeartbeatSecondsPath",
                                                                "SecondsPath",
                                                                "TimestampPath",
                                                                "ErrorPath",
                                                                "CausePath",
                                                                "MaxConcurrencyPath",
                                                                "ToleratedFailureCountPath",
                                                                "ToleratedFailurePercentagePath"};
const std::set<std::string, std::less<>> kJsonataOnlyFields = {"Arguments", "Output", "Items"};

const std::set<std::string, std::less<>>& AllowedFields(StateType type) {
  static const std::map<StateType, std::set<std::string, std::less<>>> kAllowed = {
      {StateType::kPass,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters",
        "Result", "QueryLanguage", "Output", "Assign"}},
      {StateType::kTask,
       {"Type",
        "Comment",
        "Next",
        "End",
        "InputPath",
        "OutputPath",
        "ResultPath",
        "Parameters",
        "ResultSelector",
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Retry",
        "Catch",
        "Credentials",
        "QueryLanguage",
        "Arguments",
        "Output",
        "Assign"}},
      {StateType::kChoice,
       {"Type", "Comment", "InputPath", "OutputPath", "Choices", "Default", "QueryLanguage",
        "Output", "Assign"}},
      {StateType::kWait,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath",
        "Timestamp", "TimestampPath", "QueryLanguage", "Output", "Assign"}},
      {StateType::kSucceed,
       {"Type", "Comment", "InputPath", "OutputPath", "QueryLanguage", "Output"}},
      {StateType::kFail,
       {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath", "QueryLanguage"}},
      {StateType::kParallel,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters",
        "ResultSelector", "Branches", "Retry", "Catch", "QueryLanguage", "Arguments", "Output",
        "Assign"}},
      {StateType::kMap,
       {"Type",
        "Comment",
        "Next",
        "End",
        "InputPath",
        "OutputPath",
        "ResultPath",
        "Parameters",
        "ResultSelector",
        "ItemsPath",
        "ItemSelector",
        "ItemProcessor",
        "Iterator",
        "MaxConcurrency",
        "Retry",
        "Catch",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
        "Label",
        "QueryLanguage",
        "Items",
        "Output",
        "Assign",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter"}},
  };
  return kAllowed.at(type);
}

const std::set<std::string, std::less<>> kCompareOps = {"StringEquals",
                                                        "StringLessThan",
                                                        "StringGreaterThan",
                                                        "StringLessThanEquals",
                                                        "StringGreaterThanEquals",
                                                        "StringMatches",
                                                        "NumericEquals",
                                                        "NumericLessThan",
                                                        "NumericGreaterThan",
                                                        "NumericLessThanEquals",
                                                        "NumericGreaterThanEquals",
                                                        "BooleanEquals",
                                                        "TimestampEquals",
                                                        "TimestampLessThan",
                                                        "TimestampGreaterThan",
                                                        "TimestampLessThanEquals",
                                                        "TimestampGreaterThanEquals",
                                                        "IsNull",
                                                        "IsPresent",
                                                        "IsNumeric",
                                                        "IsString",
                                                        "IsBoolean",
                                                        "IsTimestamp"};

bool IsCompareOp(std::string_view key) {
  if (kCompareOps.count(key)) return true;
  if (key.ends_with("Path") && key != "StringMatchesPath") {
    std::string_view base = key.substr(0, key.size() - 4);
    return kCompareOps.count(base) && !base.starts_with("Is");
  }
  return false;
}

std::string Escape(std::string_view name) {
  // JSON Pointer escaping, so a state called "a/b" stays unambiguous.
  std::string out;
  for (char c : name) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

// Builds one StateMachine from its JSON, recording errors under `pointer`.
class Parser {
 public:
  explicit Parser(std::vector<ValidationError>& errors) : errors_(errors) {}

  std::shared_ptr<StateMachine> ParseMachine(const JsonValue& doc, const std::string& pointer,
                                             bool top_level) {
    auto machine = std::make_shared<StateMachine>();
    if (!doc.IsObject()) {
      Add(pointer.empty() ? "/" : pointer, "must be an object");
      return machine;
    }
    static const std::set<std::string, std::less<>> kTop = {
        "StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"};
    static const std::set<std::string, std::less<>> kNested = {"StartAt", "States", "Comment",
                                                               "ProcessorConfig", "QueryLanguage"};
    CheckKnownFields(doc, pointer, top_level ? kTop : kNested);
    machine->query_language = current_ql_;
    if (const JsonValue* ql = doc.Find("QueryLanguage")) {
      if (auto lang = CheckQueryLanguage(*ql, pointer)) machine->query_language = *lang;
    }
    QueryLanguage outer_ql = current_ql_;
    current_ql_ = machine->query_language;
    std::vector<AssignedName>* outer_assigned = current_assigned_;
    current_assigned_ = &assigned_[machine.get()];
    if (top_level) {
      if (const JsonValue* t = doc.Find("TimeoutSeconds")) {
        machine->timeout_seconds = PositiveInt(*t, pointer + "/TimeoutSeconds");
      }
      if (const JsonValue* v = doc.Find("Version"); v && !v->IsString()) {
        Add(pointer + "/Version", "must be a string");
      }
    }
    const JsonValue* start = doc.Find("StartAt");
    if (start == nullptr) {
      Add(pointer + "/StartAt", "missing required field StartAt");
    } else if (!start->IsString() || start->AsString().empty()) {
      Add(pointer + "/StartAt", "must be a state name");
    } else {
      machine->start_at = start->AsString();
    }
    const JsonValue* states = doc.Find("States");
    if (states == nullptr || !states->IsObject() || states->keys().empty()) {
      Add(pointer + "/States",
          states == nullptr ? "missing required field States" : "must be a non-empty object");
      current_ql_ = outer_ql;
      current_assigned_ = outer_assigned;
      return machine;
    }
    for (size_t i = 0; i < states->keys().size(); ++i) {
      const std::string& name = states->keys()[i];
      std::string sp = pointer + "/States/" + Escape(name);
      if (name.empty() || name.size() > 80) Add(sp, "state names must be 1-80 characters");
      if (!all_names_.insert(name).second) Add(sp, "duplicate state name '" + name + "'");
      machine->index[name] = machine->states.size();
      machine->states.push_back(ParseState(name, states->items()[i], sp));
    }
    if (!machine->start_at.empty() && machine->Find(machine->start_at) == nullptr) {
      Add(pointer + "/StartAt", "StartAt '" + machine->start_at + "' is not a state");
    }
    CheckTransitions(*machine, pointer);
    current_ql_ = outer_ql;
    current_assigned_ = outer_assigned;
    return machine;
  }

  // A Parallel branch or Map processor may read the variables of the machines around it but must
  // not assign one of their names (its assignments end with it). Call after parsing.
  void CheckNestedAssignments(const StateMachine& m, const std::set<std::string>& outer) {
    for (const AssignedName& a : assigned_[&m]) {
      if (outer.count(a.name)) {
        Add(a.pointer, "variable '" + a.name +
                           "' belongs to an enclosing scope; a Parallel branch or Map iteration "
                           "cannot assign it");
      }
    }
    std::set<std::string> inner = outer;
    for (const AssignedName& a : assigned_[&m]) inner.insert(a.name);
    for (const State& s : m.states) {
      for (const auto& b : s.branches) {
        if (b) CheckNestedAssignments(*b, inner);
      }
      if (s.processor) CheckNestedAssignments(*s.processor, inner);
    }
  }

 private:
  void Add(std::string pointer, std::string message) {
    errors_.push_back({std::move(pointer), std::move(message)});
  }

  std::optional<QueryLanguage> CheckQueryLanguage(const JsonValue& v, const std::string& pointer) {
    if (v.IsString() && v.AsString() == "JSONPath") return QueryLanguage::kJsonPath;
    if (v.IsString() && v.AsString() == "JSONata") return QueryLanguage::kJsonata;
    Add(pointer + "/QueryLanguage", "must be \"JSONPath\" or \"JSONata\"");
    return std::nullopt;
  }

  // A JSONPath Path field that may also name a variable ($name...).
  std::optional<DataPath> VarPath(const JsonValue& v, const std::string& p, bool reference) {
    if (!v.IsString()) {
      Add(p, "must be a path string");
      return std::nullopt;
    }
    Result<DataPath> path = ParseDataPath(v.AsString());
    if (!path.ok()) {
      Add(p, path.status().message());
      return std::nullopt;
    }
    if (reference && !path->is_definite()) {
      Add(p, "must be a reference path (no *, .. or slices)");
      return std::nullopt;
    }
    return std::move(path).value();
  }

  // Assign: an object of variable names. JSONPath keys may end in `.$` (then the value is a path
  // or intrinsic); JSONata values may hold "{% %}" expressions.
  void ParseAssign(const JsonValue* v, const std::string& p, QueryLanguage ql,
                   std::optional<JsonValue>& out) {
    if (v == nullptr) return;
    if (!v->IsObject()) {
      Add(p, "must be an object of variable names");
      return;
    }
    for (const std::string& key : v->keys()) {
      bool dynamic = ql == QueryLanguage::kJsonPath && key.size() > 2 && key.ends_with(".$");
      std::string name = dynamic ? key.substr(0, key.size() - 2) : key;
      std::string kp = p + "/" + Escape(key);
      if (!IsValidVariableName(name)) {
        Add(kp, "invalid variable name '" + name +
                    "' (letters, digits and _, not starting with a digit, at most 80 characters, "
                    "not 'states')");
      } else if (current_assigned_ != nullptr) {
        current_assigned_->push_back({name, kp});
      }
    }
    if (ql == QueryLanguage::kJsonPath) {
      ValidatePayloadTemplate(*v, p, errors_);
    } else {
      ValidateJsonataExpressions(*v, p, errors_);
    }
    out = *v;
  }

  // A JSONata field that holds any JSON with "{% %}" expressions inside (Arguments, Output, ...).
  void JsonataField(const JsonValue& state, const char* field, const std::string& sp,
                    std::optional<JsonValue>& out) {
    const JsonValue* v = state.Find(field);
    if (v == nullptr) return;
    ValidateJsonataExpressions(*v, sp + "/" + field, errors_);
    out = *v;
  }

  // A field that is either a literal (checked by `literal`) or, in JSONata, a "{% %}" string.
  bool IsExpression(const JsonValue& v) {
    return v.IsString() && IsJsonataTemplateString(v.AsString());
  }

  std::optional<int64_t> PositiveInt(const JsonValue& v, const std::string& p, int64_t min = 1) {
    if (!v.IsIntegral() || v.AsInt() < min || v.AsInt() > kMaxDurationSeconds) {
      Add(p,
          std::string(min == 0 ? "must be a non-negative integer" : "must be a positive integer") +
              " up to " + std::to_string(kMaxDurationSeconds));
      return std::nullopt;
    }
    return v.AsInt();
  }

  std::optional<JsonPath> Path(const JsonValue& v, const std::string& p, bool reference,
                               bool allow_context) {
    if (!v.IsString()) {
      Add(p, "must be a path string");
      return std::nullopt;
    }
    Result<JsonPath> path = JsonPath::Parse(v.AsString());
    if (!path.ok()) {
      Add(p, path.status().message());
      return std::nullopt;
    }
    if (reference && !path->is_definite()) {
      Add(p, "must be a reference path (no *, .. or slices)");
      return std::nullopt;
    }
    if (!allow_context && path->is_context()) {
      Add(p, "must not use the context object ($$)");
      return std::nullopt;
    }
    return std::move(path).value();
  }

  OptionalPath NullablePath(const JsonValue& state, const char* field, const std::string& sp,
                            bool reference, bool allow_context) {
    OptionalPath out;
    const JsonValue* v = state.Find(field);
    if (v == nullptr) return out;
    out.present = true;
    if (v->IsNull()) {
      out.is_null = true;
      return out;
    }
    out.path = Path(*v, sp + "/" + field, reference, allow_context);
    return out;
  }

  std::vector<std::string> ErrorEquals(const JsonValue& entry, const std::string& p, bool last) {
    std::vector<std::string> out;
    const JsonValue* list = entry.Find("ErrorEquals");
    if (list == nullptr || !list->IsArray() || list->size() == 0) {
      Add(p + "/ErrorEquals", "must be a non-empty array of error names");
      return out;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const JsonValue& name = list->items()[i];
      std::string ip = p + "/ErrorEquals/" + std::to_string(i);
      if (!name.IsString() || name.AsString().empty()) {
        Add(ip, "must be a non-empty string");
        continue;
      }
      static const std::set<std::string, std::less<>> kStatesErrors = {
          kErrAll,
          kErrTimeout,
          kErrHeartbeatTimeout,
          kErrTaskFailed,
          "States.Permissions",
          kErrResultPathMatchFailure,
          kErrParameterPathFailure,
          "States.QueryEvaluationError",
          kErrBranchFailed,
          kErrNoChoiceMatched,
          kErrIntrinsicFailure,
          kErrExceedToleratedFailureThreshold,
          "States.ItemReaderFailed",
          "States.ResultWriterFailed",
          kErrDataLimitExceeded,
          kErrRuntime};
      // The States. prefix is reserved: a typo there would silently never match.
      if (name.AsString().starts_with("States.") && !kStatesErrors.count(name.AsString())) {
        Add(ip, "unknown predefined error '" + name.AsString() + "'");
      }
      if (name.AsString() == kErrAll) {
        if (list->size() != 1) Add(ip, "States.ALL must appear alone in ErrorEquals");
        if (!last) Add(ip, "States.ALL must be in the last retrier/catcher");
      }
      out.push_back(name.AsString());
    }
    return out;
  }

  // Flags every key of `object` that is not in `known` as an unknown field.
  void CheckKnownFields(const JsonValue& object, const std::string& pointer,
                        const std::set<std::string, std::less<>>& known) {
    for (const std::string& key : object.keys()) {
      if (!known.count(key)) Add(pointer + "/" + Escape(key), "unknown field");
    }
  }

  // Retry and Catch: an array of objects with known fields; `parse` gets each object, its
  // pointer and whether it is the last one.
  template <typename ParseEntry>
  void ForEachEntry(const JsonValue& v, const std::string& p,
                    const std::set<std::string, std::less<>>& known, ParseEntry parse) {
    if (!v.IsArray()) {
      Add(p, "must be an array");
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const JsonValue& e = v.items()[i];
      const std::string ep = p + "/" + std::to_string(i);
      if (!e.IsObject()) {
        Add(ep, "must be an object");
        continue;
      }
      CheckKnownFields(e, ep, known);
      parse(e, ep, i + 1 == v.size());
    }
  }

  void ParseRetry(const JsonValue& v, const std::string& p, State& s) {
    static const std::set<std::string, std::less<>> kFields = {
        "ErrorEquals",     "IntervalSeconds", "MaxAttempts", "BackoffRate",
        "MaxDelaySeconds", "JitterStrategy",  "Comment"};
    ForEachEntry(v, p, kFields, [&](const JsonValue& e, const std::string& ep, bool last) {
      Retrier r;
      r.error_equals = ErrorEquals(e, ep, last);
      if (const JsonValue* x = e.Find("IntervalSeconds")) {
        if (auto n = PositiveInt(*x, ep + "/IntervalSeconds")) r.interval_seconds = double(*n);
      }
      if (const JsonValue* x = e.Find("MaxAttempts")) {
        if (auto n = PositiveInt(*x, ep + "/MaxAttempts", 0)) r.max_attempts = *n;
      }
      if (const JsonValue* x = e.Find("BackoffRate")) {
        if (!x->IsNumber() || x->AsDouble() < 1.0) {
          Add(ep + "/BackoffRate", "must be a number >= 1.0");
        } else {
          r.backoff_rate = x->AsDouble();
        }
      }
      if (const JsonValue* x = e.Find("MaxDelaySeconds")) {
        if (auto n = PositiveInt(*x, ep + "/MaxDelaySeconds")) r.max_delay_seconds = double(*n);
      }
      if (const JsonValue* x = e.Find("JitterStrategy")) {
        if (!x->IsString() || (x->AsString() != "FULL" && x->AsString() != "NONE")) {
          Add(ep + "/JitterStrategy", "must be \"FULL\" or \"NONE\"");
        } else {
          r.full_jitter = x->AsString() == "FULL";
        }
      }
      s.retry.push_back(std::move(r));
    });
  }

  void ParseCatch(const JsonValue& v, const std::string& p, State& s) {
    static const std::set<std::string, std::less<>> kJsonPathFields = {
        "ErrorEquals", "Next", "ResultPath", "Assign", "Comment"};
    static const std::set<std::string, std::less<>> kJsonataFields = {
        "ErrorEquals", "Next", "Output", "Assign", "Comment"};
    bool jsonata = s.query_language == QueryLanguage::kJsonata;
    ForEachEntry(v, p, jsonata ? kJsonataFields : kJsonPathFields,
                 [&](const JsonValue& e, const std::string& ep, bool last) {
                   Catcher c;
                   c.error_equals = ErrorEquals(e, ep, last);
                   const JsonValue* next = e.Find("Next");
                   if (next == nullptr || !next->IsString()) {
                     Add(ep + "/Next", "missing required field Next");
                   } else {
                     c.next = next->AsString();
                   }
                   if (jsonata) {
                     JsonataField(e, "Output", ep, c.output);
                   } else {
                     c.result_path = NullablePath(e, "ResultPath", ep, true, false);
                   }
                   ParseAssign(e.Find("Assign"), ep + "/Assign", s.query_language, c.assign);
                   s.catchers.push_back(std::move(c));
                 });
  }

  void CheckOperand(const std::string& op, const JsonValue& v, const std::string& p) {
    std::string_view o = op;
    if (o.starts_with("Is") || o.starts_with("Boolean")) {
      if (!v.IsBool()) Add(p, op + " takes true or false");
    } else if (o.starts_with("String")) {
      if (!v.IsString()) Add(p, op + " takes a string");
    } else if (o.starts_with("Numeric")) {
      if (!v.IsNumber()) Add(p, op + " takes a number");
    } else if (o.starts_with("Timestamp")) {
      if (!v.IsString() || !ParseAslTimestamp(v.AsString())) {
        Add(p, op + " takes an RFC 3339 timestamp string");
      }
    }
  }

  ChoiceRule ParseRule(const JsonValue& v, const std::string& p, bool top, QueryLanguage ql) {
    ChoiceRule rule;
    if (!v.IsObject()) {
      Add(p, "a Choice rule must be an object");
      return rule;
    }
    const JsonValue* next = v.Find("Next");
    if (top) {
      if (next == nullptr || !next->IsString()) {
        Add(p + "/Next", "a top-level Choice rule needs Next");
      } else {
        rule.next = next->AsString();
      }
    } else if (next != nullptr) {
      Add(p + "/Next", "nested Choice rules must not have Next");
    }
    if (!top) {
      for (const char* f : {"Assign", "Output"}) {
        if (v.Has(f)) Add(p + "/" + f, std::string("nested Choice rules must not have ") + f);
      }
    } else {
      ParseAssign(v.Find("Assign"), p + "/Assign", ql, rule.assign);
    }
    if (ql == QueryLanguage::kJsonata) {
      rule.kind = ChoiceRule::Kind::kCondition;
      for (const std::string& key : v.keys()) {
        if (key == "Next" || key == "Condition" || key == "Comment" || key == "Assign" ||
            key == "Output") {
          continue;
        }
        Add(p + "/" + Escape(key),
            key == "Variable" || key == "And" || key == "Or" || key == "Not" || IsCompareOp(key)
                ? "a JSONPath Choice field; JSONata rules use Condition"
                : "unknown Choice rule field");
      }
      if (top) JsonataField(v, "Output", p, rule.output);
      const JsonValue* cond = v.Find("Condition");
      if (cond == nullptr) {
        Add(p + "/Condition", "a JSONata Choice rule needs Condition");
      } else if (!cond->IsBool() && !IsExpression(*cond)) {
        Add(p + "/Condition", "must be true, false or a {% %} expression");
      } else {
        ValidateJsonataExpressions(*cond, p + "/Condition", errors_);
        rule.condition = *cond;
      }
      return rule;
    }
    std::vector<std::string> ops;
    for (const std::string& key : v.keys()) {
      if (key == "Next" || key == "Variable" || key == "Comment" || key == "Assign") continue;
      if (key == "And" || key == "Or" || key == "Not" || IsCompareOp(key)) {
        ops.push_back(key);
      } else {
        Add(p + "/" + Escape(key), key == "Condition" || key == "Output"
                                       ? key +
                                             " is a JSONata field; not allowed in a JSONPath "
                                             "Choice rule"
                                       : "unknown Choice rule field");
      }
    }
    if (ops.size() != 1) {
      Add(p, "a Choice rule needs exactly one of And, Or, Not or a comparison operator");
      return rule;
    }
    const std::string& op = ops[0];
    const JsonValue& arg = *v.Find(op);
    std::string ap = p + "/" + op;
    if (op == "And" || op == "Or") {
      rule.kind = op == "And" ? ChoiceRule::Kind::kAnd : ChoiceRule::Kind::kOr;
      if (v.Has("Variable")) Add(p + "/Variable", op + " rules take no Variable");
      if (!arg.IsArray() || arg.size() == 0) {
        Add(ap, "must be a non-empty array of rules");
        return rule;
      }
      for (size_t i = 0; i < arg.size(); ++i) {
        rule.children.push_back(ParseRule(arg.items()[i], ap + "/" + std::to_string(i), false, ql));
      }
      return rule;
    }
    if (op == "Not") {
      rule.kind = ChoiceRule::Kind::kNot;
      if (v.Has("Variable")) Add(p + "/Variable", "Not rules take no Variable");
      rule.children.push_back(ParseRule(arg, ap, false, ql));
      return rule;
    }
    rule.kind = ChoiceRule::Kind::kCompare;
    rule.op = op;
    const JsonValue* var = v.Find("Variable");
    if (var == nullptr) {
      Add(p + "/Variable", "a comparison needs Variable");
    } else {
      rule.variable = VarPath(*var, p + "/Variable", false);
    }
    if (std::string_view(op).ends_with("Path")) {
      rule.operand_path = VarPath(arg, ap, false);
    } else {
      CheckOperand(op, arg, ap);
      rule.operand = arg;
    }
    return rule;
  }

  void NextOrEnd(const JsonValue& v, const std::string& sp, State& s) {
    const JsonValue* next = v.Find("Next");
    const JsonValue* end = v.Find("End");
    if (end != nullptr && !(end->IsBool())) Add(sp + "/End", "must be a boolean");
    bool is_end = end != nullptr && end->IsBool() && end->AsBool();
    if (next != nullptr && !next->IsString()) Add(sp + "/Next", "must be a string");
    if (next != nullptr && is_end) {
      Add(sp, "Next and End are mutually exclusive");
    } else if (next == nullptr && !is_end) {
      Add(sp + "/Next", "missing Next (or \"End\": true)");
    }
    if (next != nullptr && next->IsString()) s.next = next->AsString();
    s.end = is_end;
  }

  void Template(const JsonValue& state, const char* field, const std::string& sp,
                std::optional<JsonValue>& out) {
    const JsonValue* v = state.Find(field);
    if (v == nullptr) return;
    ValidatePayloadTemplate(*v, sp + "/" + field, errors_);
    out = *v;
  }

  State ParseState(const std::string& name, const JsonValue& v, const std::string& sp) {
    State s;
    s.name = name;
    s.query_language = current_ql_;
    s.reads_context = MentionsContext(v, /*state_level=*/true);
    if (!v.IsObject()) {
      Add(sp, "a state must be an object");
      s.type = StateType::kSucceed;  // inert placeholder so later checks stay quiet
      return s;
    }
    const JsonValue* type = v.Find("Type");
    static const std::map<std::string, StateType, std::less<>> kTypes = {
        {"Pass", StateType::kPass},         {"Task", StateType::kTask},
        {"Choice", StateType::kChoice},     {"Wait", StateType::kWait},
        {"Succeed", StateType::kSucceed},   {"Fail", StateType::kFail},
        {"Parallel", StateType::kParallel}, {"Map", StateType::kMap}};
    if (type == nullptr || !type->IsString()) {
      Add(sp + "/Type", "missing required field Type");
      s.type = StateType::kSucceed;
      return s;
    }
    auto it = kTypes.find(type->AsString());
    if (it == kTypes.end()) {
      Add(sp + "/Type", "unknown state type '" + type->AsString() + "'");
      s.type = StateType::kSucceed;
      return s;
    }
    s.type = it->second;
    if (const JsonValue* ql = v.Find("QueryLanguage")) {
      if (auto lang = CheckQueryLanguage(*ql, sp)) s.query_language = *lang;
    }
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    const auto& allowed = AllowedFields(s.type);
    for (const std::string& key : v.keys()) {
      if (!allowed.count(key)) {
        Add(sp + "/" + Escape(key),
            "field not allowed in a " + std::string(StateTypeName(s.type)) + " state");
      } else if (jsonata && kJsonPathOnlyFields.count(key)) {
        Add(sp + "/" + Escape(key), key + " is a JSONPath field; not allowed in a JSONata state");
      } else if (!jsonata && kJsonataOnlyFields.count(key)) {
        Add(sp + "/" + Escape(key), key + " is a JSONata field; not allowed in a JSONPath state");
      }
    }
    bool flows =
        s.type != StateType::kChoice && s.type != StateType::kSucceed && s.type != StateType::kFail;
    if (flows) NextOrEnd(v, sp, s);
    if (!jsonata) {
      s.input_path = NullablePath(v, "InputPath", sp, false, true);
      s.output_path = NullablePath(v, "OutputPath", sp, false, true);
      s.result_path = NullablePath(v, "ResultPath", sp, true, false);
      if (s.type != StateType::kMap) Template(v, "Parameters", sp, s.parameters);
      Template(v, "ResultSelector", sp, s.result_selector);
      if (const JsonValue* r = v.Find("Result")) s.result = *r;
    } else {
      JsonataField(v, "Arguments", sp, s.arguments);
      JsonataField(v, "Output", sp, s.output);
    }
    ParseAssign(v.Find("Assign"), sp + "/Assign", s.query_language, s.assign);
    if (const JsonValue* r = v.Find("Retry")) ParseRetry(*r, sp + "/Retry", s);
    if (const JsonValue* c = v.Find("Catch")) ParseCatch(*c, sp + "/Catch", s);

    switch (s.type) {
      case StateType::kTask: ParseTask(v, sp, s); break;
      case StateType::kChoice: {
        const JsonValue* choices = v.Find("Choices");
        if (choices == nullptr || !choices->IsArray() || choices->size() == 0) {
          Add(sp + "/Choices", "must be a non-empty array");
        } else {
          for (size_t i = 0; i < choices->size(); ++i) {
            s.choices.push_back(ParseRule(choices->items()[i], sp + "/Choices/" + std::to_string(i),
                                          true, s.query_language));
          }
        }
        if (const JsonValue* d = v.Find("Default")) {
          if (!d->IsString()) {
            Add(sp + "/Default", "must be a state name");
          } else {
            s.default_next = d->AsString();
          }
        }
        break;
      }
      case StateType::kWait: ParseWait(v, sp, s); break;
      case StateType::kFail: {
        auto text = [&](const char* field, std::optional<std::string>& out, bool dynamic) {
          const JsonValue* x = v.Find(field);
          if (x == nullptr) return;
          std::string p = sp + "/" + field;
          if (!x->IsString()) {
            Add(p, "must be a string");
            return;
          }
          if (dynamic) {
            if (IntrinsicCall::Looks(x->AsString())) {
              Result<IntrinsicCall> call =
                  IntrinsicCall::Parse(RewriteIntrinsicVariables(x->AsString()));
              if (!call.ok()) Add(p, call.status().message());
            } else {
              VarPath(*x, p, false);
            }
          } else if (jsonata) {
            ValidateJsonataExpressions(*x, p, errors_);
          }
          out = x->AsString();
        };
        if (v.Has("Error") && v.Has("ErrorPath")) Add(sp, "Error and ErrorPath are exclusive");
        if (v.Has("Cause") && v.Has("CausePath")) Add(sp, "Cause and CausePath are exclusive");
        text("Error", s.error, false);
        text("Cause", s.cause, false);
        if (!jsonata) {
          text("ErrorPath", s.error_path, true);
          text("CausePath", s.cause_path, true);
        }
        break;
      }
      case StateType::kParallel: {
        const JsonValue* branches = v.Find("Branches");
        if (branches == nullptr || !branches->IsArray() || branches->size() == 0) {
          Add(sp + "/Branches", "must be a non-empty array of state machines");
          break;
        }
        for (size_t i = 0; i < branches->size(); ++i) {
          s.branches.push_back(Nested(branches->items()[i], sp + "/Branches/" + std::to_string(i)));
        }
        break;
      }
      case StateType::kMap: ParseMap(v, sp, s); break;
      default: break;
    }
    return s;
  }

  // TimeoutSeconds / HeartbeatSeconds: a positive integer or, in JSONata, an expression.
  void Seconds(const JsonValue& v, const char* field, const std::string& sp, State& s,
               std::optional<int64_t>& literal, std::optional<JsonValue>& expr) {
    const JsonValue* t = v.Find(field);
    if (t == nullptr) return;
    if (s.query_language == QueryLanguage::kJsonata && IsExpression(*t)) {
      ValidateJsonataExpressions(*t, sp + "/" + field, errors_);
      expr = *t;
      return;
    }
    literal = PositiveInt(*t, sp + "/" + field);
  }

  void ParseTask(const JsonValue& v, const std::string& sp, State& s) {
    const JsonValue* res = v.Find("Resource");
    if (res == nullptr || !res->IsString() || res->AsString().empty()) {
      Add(sp + "/Resource", "missing required field Resource (a URI)");
    } else {
      s.resource = res->AsString();
    }
    if (v.Has("TimeoutSeconds") && v.Has("TimeoutSecondsPath")) {
      Add(sp, "TimeoutSeconds and TimeoutSecondsPath are mutually exclusive");
    }
    if (v.Has("HeartbeatSeconds") && v.Has("HeartbeatSecondsPath")) {
      Add(sp, "HeartbeatSeconds and HeartbeatSecondsPath are mutually exclusive");
    }
    Seconds(v, "TimeoutSeconds", sp, s, s.timeout_seconds, s.timeout_seconds_expr);
    Seconds(v, "HeartbeatSeconds", sp, s, s.heartbeat_seconds, s.heartbeat_seconds_expr);
    if (s.timeout_seconds && s.heartbeat_seconds && *s.heartbeat_seconds >= *s.timeout_seconds) {
      Add(sp + "/HeartbeatSeconds", "must be smaller than TimeoutSeconds");
    }
    if (s.query_language == QueryLanguage::kJsonata) return;
    if (const JsonValue* t = v.Find("TimeoutSecondsPath")) {
      s.timeout_seconds_path = VarPath(*t, sp + "/TimeoutSecondsPath", true);
    }
    if (const JsonValue* t = v.Find("HeartbeatSecondsPath")) {
      s.heartbeat_seconds_path = VarPath(*t, sp + "/HeartbeatSecondsPath", true);
    }
  }

  void ParseWait(const JsonValue& v, const std::string& sp, State& s) {
    int count = 0;
    for (const char* f : {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"}) {
      count += v.Has(f) ? 1 : 0;
    }
    if (count != 1) {
      Add(sp, s.query_language == QueryLanguage::kJsonata
                  ? "a Wait state needs exactly one of Seconds, Timestamp"
                  : "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, "
                    "TimestampPath");
    }
    bool jsonata = s.query_language == QueryLanguage::kJsonata;
    if (const JsonValue* x = v.Find("Seconds")) {
      if (jsonata && IsExpression(*x)) {
        ValidateJsonataExpressions(*x, sp + "/Seconds", errors_);
        s.seconds_expr = *x;
      } else {
        s.seconds = PositiveInt(*x, sp + "/Seconds", 0);
      }
    }
    if (const JsonValue* x = v.Find("Timestamp")) {
      if (jsonata && IsExpression(*x)) {
        ValidateJsonataExpressions(*x, sp + "/Timestamp", errors_);
        s.timestamp_expr = *x;
      } else if (!x->IsString() || !(s.timestamp_micros = ParseAslTimestamp(x->AsString()))) {
        Add(sp + "/Timestamp", "must be an RFC 3339 timestamp");
      }
    }
    if (jsonata) return;
    if (const JsonValue* x = v.Find("SecondsPath")) {
      s.seconds_path = VarPath(*x, sp + "/SecondsPath", true);
    }
    if (const JsonValue* x = v.Find("TimestampPath")) {
      s.timestamp_path = VarPath(*x, sp + "/TimestampPath", true);
    }
  }

  void ParseMap(const JsonValue& v, const std::string& sp, State& s) {
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    const JsonValue* proc = v.Find("ItemProcessor");
    std::string pp = sp + "/ItemProcessor";
    if (proc == nullptr) {
      proc = v.Find("Iterator");
      pp = sp + "/Iterator";
    }
    if (v.Has("ItemProcessor") && v.Has("Iterator")) {
      Add(sp, "ItemProcessor and Iterator are mutually exclusive");
    }
    if (proc == nullptr) {
      Add(sp + "/ItemProcessor", "missing required field ItemProcessor");
    } else {
      if (const JsonValue* cfg = proc->Find("ProcessorConfig")) {
        const JsonValue* mode = cfg->Find("Mode");
        // DISTRIBUTED runs like INLINE here (iterations in this execution, no child executions).
        if (mode != nullptr && !(mode->IsString() && (mode->AsString() == "INLINE" ||
                                                      mode->AsString() == "DISTRIBUTED"))) {
          Add(pp + "/ProcessorConfig/Mode", "must be \"INLINE\" or \"DISTRIBUTED\"");
        }
        const JsonValue* et = cfg->Find("ExecutionType");
        if (et != nullptr &&
            !(et->IsString() && (et->AsString() == "STANDARD" || et->AsString() == "EXPRESS"))) {
          Add(pp + "/ProcessorConfig/ExecutionType", "must be \"STANDARD\" or \"EXPRESS\"");
        }
      }
      s.processor = Nested(*proc, pp);
    }
    for (const char* unsupported : {"ItemBatcher", "ResultWriter"}) {
      if (v.Has(unsupported)) {
        Add(sp + "/" + unsupported, std::string(unsupported) + " is not supported by Basin");
      }
    }
    if (jsonata) {
      JsonataField(v, "ItemSelector", sp, s.item_selector);
      if (const JsonValue* items = v.Find("Items")) {
        if (!items->IsArray() && !IsExpression(*items)) {
          Add(sp + "/Items", "must be an array or a {% %} expression");
        } else {
          ValidateJsonataExpressions(*items, sp + "/Items", errors_);
          s.items = *items;
        }
      }
    } else {
      if (v.Has("Parameters") && v.Has("ItemSelector")) {
        Add(sp, "Parameters and ItemSelector are mutually exclusive");
      }
      // Parameters is the deprecated name of ItemSelector on Map.
      Template(v, v.Has("ItemSelector") ? "ItemSelector" : "Parameters", sp, s.item_selector);
      if (const JsonValue* x = v.Find("ItemsPath")) {
        s.items_path = VarPath(*x, sp + "/ItemsPath", true);
      }
    }
    if (const JsonValue* reader = v.Find("ItemReader")) {
      if (v.Has("ItemsPath") || v.Has("Items")) {
        Add(sp + "/ItemReader", "ItemReader and ItemsPath/Items are mutually exclusive");
      }
      ParseItemReader(*reader, sp + "/ItemReader", s);
    }
    // The *Path forms (JSONPath): a reference path into the state input, read when the state runs.
    for (const char* field :
         {"MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount"}) {
      const std::string path_field = std::string(field) + "Path";
      if (v.Has(field) && v.Has(path_field)) {
        Add(sp, std::string(field) + " and " + path_field + " are mutually exclusive");
      }
    }
    if (!jsonata) {
      if (const JsonValue* t = v.Find("MaxConcurrencyPath")) {
        s.max_concurrency_path = VarPath(*t, sp + "/MaxConcurrencyPath", true);
      }
      if (const JsonValue* t = v.Find("ToleratedFailurePercentagePath")) {
        s.tolerated_failure_percentage_path =
            VarPath(*t, sp + "/ToleratedFailurePercentagePath", true);
      }
      if (const JsonValue* t = v.Find("ToleratedFailureCountPath")) {
        s.tolerated_failure_count_path = VarPath(*t, sp + "/ToleratedFailureCountPath", true);
      }
    }
    if (const JsonValue* x = v.Find("MaxConcurrency")) {
      if (jsonata && IsExpression(*x)) {
        ValidateJsonataExpressions(*x, sp + "/MaxConcurrency", errors_);  // runs sequentially
      } else if (auto n = PositiveInt(*x, sp + "/MaxConcurrency", 0)) {
        s.max_concurrency = *n;
      }
    }
    if (const JsonValue* x = v.Find("ToleratedFailurePercentage");
        x != nullptr && jsonata && IsExpression(*x)) {
      ValidateJsonataExpressions(*x, sp + "/ToleratedFailurePercentage", errors_);
      s.tolerated_failure_percentage_expr = *x;
    } else if (x != nullptr) {
      if (!x->IsNumber() || x->AsDouble() < 0 || x->AsDouble() > 100) {
        Add(sp + "/ToleratedFailurePercentage", "must be a number from 0 to 100");
      } else {
        s.tolerated_failure_percentage = x->AsDouble();
      }
    }
    if (const JsonValue* x = v.Find("ToleratedFailureCount")) {
      if (jsonata && IsExpression(*x)) {
        ValidateJsonataExpressions(*x, sp + "/ToleratedFailureCount", errors_);
        s.tolerated_failure_count_expr = *x;
      } else {
        s.tolerated_failure_count = PositiveInt(*x, sp + "/ToleratedFailureCount", 0);
      }
    }
  }

  void ParseItemReader(const JsonValue& v, const std::string& p, State& s) {
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    if (!v.IsObject()) {
      Add(p, "must be an object");
      return;
    }
    static const std::set<std::string, std::less<>> kFields = {"Resource", "Parameters",
                                                               "Arguments", "ReaderConfig"};
    CheckKnownFields(v, p, kFields);
    ItemReader reader;
    const JsonValue* res = v.Find("Resource");
    if (res == nullptr || !res->IsString() || res->AsString().empty()) {
      Add(p + "/Resource", "missing required field Resource (a URI)");
    } else {
      reader.resource = res->AsString();
    }
    if (jsonata) {
      if (v.Has("Parameters")) {
        Add(p + "/Parameters", "Parameters is a JSONPath field; use Arguments in a JSONata state");
      }
      if (const JsonValue* a = v.Find("Arguments")) {
        ValidateJsonataExpressions(*a, p + "/Arguments", errors_);
        reader.parameters = *a;
      }
    } else {
      if (v.Has("Arguments")) {
        Add(p + "/Arguments", "Arguments is a JSONata field; use Parameters in a JSONPath state");
      }
      if (const JsonValue* a = v.Find("Parameters")) {
        ValidatePayloadTemplate(*a, p + "/Parameters", errors_);
        reader.parameters = *a;
      }
    }
    if (const JsonValue* cfg = v.Find("ReaderConfig")) {
      std::string cp = p + "/ReaderConfig";
      if (!cfg->IsObject()) {
        Add(cp, "must be an object");
      } else {
        ParseReaderConfig(*cfg, cp, jsonata, reader);
      }
    }
    s.item_reader = std::move(reader);
  }

  void ParseReaderConfig(const JsonValue& cfg, const std::string& cp, bool jsonata,
                         ItemReader& reader) {
    auto one_of = [&](const char* field, std::initializer_list<const char*> values) {
      const JsonValue* x = cfg.Find(field);
      if (x == nullptr) return;
      bool ok = false;
      for (const char* value : values) ok = ok || (x->IsString() && x->AsString() == value);
      if (!ok) Add(cp + "/" + field, "unsupported value");
    };
    one_of("InputType", {"CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"});
    one_of("CSVHeaderLocation", {"FIRST_ROW", "GIVEN"});
    if (const JsonValue* h = cfg.Find("CSVHeaders")) {
      bool ok = h->IsArray();
      for (size_t i = 0; ok && i < h->size(); ++i) ok = h->items()[i].IsString();
      if (!ok) Add(cp + "/CSVHeaders", "must be an array of strings");
    }
    if (const JsonValue* loc = cfg.Find("CSVHeaderLocation");
        loc != nullptr && loc->IsString() && loc->AsString() == "GIVEN" && !cfg.Has("CSVHeaders")) {
      Add(cp + "/CSVHeaders", "CSVHeaderLocation GIVEN needs CSVHeaders");
    }
    if (cfg.Has("MaxItems") && cfg.Has("MaxItemsPath")) {
      Add(cp, "MaxItems and MaxItemsPath are mutually exclusive");
    }
    for (size_t i = 0; i < cfg.keys().size(); ++i) {
      const std::string& key = cfg.keys()[i];
      const JsonValue& x = cfg.items()[i];
      if (key == "MaxItems") {
        if (jsonata && IsExpression(x)) {
          ValidateJsonataExpressions(x, cp + "/MaxItems", errors_);
          reader.max_items = x;
        } else if (!x.IsIntegral() || x.AsInt() < 0 || x.AsInt() > 100'000'000) {
          Add(cp + "/MaxItems", "must be an integer from 0 to 100000000");
        } else {
          reader.max_items = x;
        }
      } else if (key == "MaxItemsPath") {
        if (jsonata) {
          Add(cp + "/MaxItemsPath", "MaxItemsPath is a JSONPath field; not allowed in JSONata");
        } else {
          reader.max_items_path = VarPath(x, cp + "/MaxItemsPath", true);
        }
      } else {
        reader.reader_config.Set(key, x);
      }
    }
  }

  std::shared_ptr<StateMachine> Nested(const JsonValue& v, const std::string& p) {
    // Names are unique machine-wide, but a nested machine may only jump within itself.
    return ParseMachine(v, p, false);
  }

  void CheckTransitions(const StateMachine& m, const std::string& pointer) {
    auto edges = [&](const State& s) {
      std::vector<std::pair<std::string, std::string>> out;  // target, pointer
      std::string sp = pointer + "/States/" + Escape(s.name);
      if (!s.next.empty()) out.push_back({s.next, sp + "/Next"});
      for (size_t i = 0; i < s.choices.size(); ++i) {
        if (!s.choices[i].next.empty()) {
          out.push_back({s.choices[i].next, sp + "/Choices/" + std::to_string(i) + "/Next"});
        }
      }
      if (!s.default_next.empty()) out.push_back({s.default_next, sp + "/Default"});
      for (size_t i = 0; i < s.catchers.size(); ++i) {
        if (!s.catchers[i].next.empty()) {
          out.push_back({s.catchers[i].next, sp + "/Catch/" + std::to_string(i) + "/Next"});
        }
      }
      return out;
    };
    bool targets_ok = true;
    for (const State& s : m.states) {
      for (const auto& [target, p] : edges(s)) {
        if (m.Find(target) == nullptr) {
          Add(p, "'" + target + "' is not a state in this machine");
          targets_ok = false;
        }
      }
    }
    const State* start = m.Find(m.start_at);
    if (start == nullptr || !targets_ok) return;
    // Reachability from StartAt.
    std::set<std::string> seen{m.start_at};
    std::vector<const State*> work{start};
    while (!work.empty()) {
      const State* s = work.back();
      work.pop_back();
      for (const auto& e : edges(*s)) {
        if (seen.insert(e.first).second) work.push_back(m.Find(e.first));
      }
    }
    for (const State& s : m.states) {
      if (!seen.count(s.name)) {
        Add(pointer + "/States/" + Escape(s.name), "state '" + s.name + "' is unreachable");
      }
    }
    // States that can never reach a terminal: a loop with no exit would run forever.
    std::set<std::string> can_end;
    bool grew = true;
    while (grew) {
      grew = false;
      for (const State& s : m.states) {
        if (can_end.count(s.name)) continue;
        bool ends = s.end || s.type == StateType::kSucceed || s.type == StateType::kFail;
        for (const auto& e : edges(s)) ends = ends || can_end.count(e.first);
        if (ends) {
          can_end.insert(s.name);
          grew = true;
        }
      }
    }
    for (const State& s : m.states) {
      if (seen.count(s.name) && !can_end.count(s.name)) {
        Add(pointer + "/States/" + Escape(s.name),
            "state '" + s.name + "' can never reach a terminal state (loop with no exit)");
      }
    }
  }

  struct AssignedName {
    std::string name;
    std::string pointer;
  };

  std::vector<ValidationError>& errors_;
  std::set<std::string> all_names_;
  QueryLanguage current_ql_ = QueryLanguage::kJsonPath;
  std::map<const StateMachine*, std::vector<AssignedName>> assigned_;
  std::vector<AssignedName>* current_assigned_ = nullptr;
};

}  // namespace

void ValidatePayloadTemplate(const JsonValue& tpl, const std::string& pointer,
                             std::vector<ValidationError>& errors) {
  if (tpl.IsArray()) {
    for (size_t i = 0; i < tpl.size(); ++i) {
      ValidatePayloadTemplate(tpl.items()[i], pointer + "/" + std::to_string(i), errors);
    }
    return;
  }
  if (!tpl.IsObject()) return;
  std::set<std::string> names;
  for (size_t i = 0; i < tpl.keys().size(); ++i) {
    const std::string& key = tpl.keys()[i];
    const JsonValue& value = tpl.items()[i];
    std::string p = pointer + "/" + Escape(key);
    bool dynamic = key.size() > 2 && key.ends_with(".$");
    std::string name = dynamic ? key.substr(0, key.size() - 2) : key;
    if (!names.insert(name).second) {
      errors.push_back({p, "duplicate field '" + name + "' after removing '.$'"});
    }
    if (!dynamic) {
      ValidatePayloadTemplate(value, p, errors);
      continue;
    }
    if (!value.IsString()) {
      errors.push_back({p, "a '.$' field must hold a path or intrinsic string"});
      continue;
    }
    const std::string& text = value.AsString();
    if (IntrinsicCall::Looks(text)) {
      Result<IntrinsicCall> call = IntrinsicCall::Parse(RewriteIntrinsicVariables(text));
      if (!call.ok()) errors.push_back({p, call.status().message()});
    } else {
      Result<DataPath> path = ParseDataPath(text);
      if (!path.ok()) errors.push_back({p, path.status().message()});
    }
  }
}

void ValidateJsonataExpressions(const JsonValue& value, const std::string& pointer,
                                std::vector<ValidationError>& errors) {
  if (value.IsString() && IsJsonataTemplateString(value.AsString())) {
    const std::string& text = value.AsString();
    Result<std::shared_ptr<const JsonataExpression>> parsed =
        ParseJsonata(std::string_view(text).substr(2, text.size() - 4));
    if (!parsed.ok()) errors.push_back({pointer, parsed.status().message()});
  } else if (value.IsArray()) {
    for (size_t i = 0; i < value.size(); ++i) {
      ValidateJsonataExpressions(value.items()[i], pointer + "/" + std::to_string(i), errors);
    }
  } else if (value.IsObject()) {
    for (size_t i = 0; i < value.keys().size(); ++i) {
      ValidateJsonataExpressions(value.items()[i], pointer + "/" + Escape(value.keys()[i]), errors);
    }
  }
}

ParsedDefinition ParseDefinition(const JsonValue& document) {
  ParsedDefinition out;
  Parser parser(out.errors);
  out.machine = parser.ParseMachine(document, "", true);
  parser.CheckNestedAssignments(*out.machine, {});
  return out;
}

ParsedDefinition ParseDefinition(std::string_view text) {
  Result<JsonValue> doc = ParseJson(text);
  if (!doc.ok()) {
    ParsedDefinition out;
    out.errors.push_back({"/", doc.status().ToString()});
    return out;
  }
  return ParseDefinition(*doc);
}

Result<std::shared_ptr<StateMachine>> LoadDefinition(std::string_view text) {
  Result<JsonValue> doc = ParseJson(text);
  if (!doc.ok()) return doc.status();
  ParsedDefinition parsed = ParseDefinition(*doc);
  if (parsed.errors.empty()) return parsed.machine;
  std::string message;
  for (const ValidationError& e : parsed.errors) {
    if (!message.empty()) message += "; ";
    message += e.pointer + ": " + e.message;
  }
  return Status(ErrorCode::kValidationFailed, message);
}

}  // namespace basin::workflow
