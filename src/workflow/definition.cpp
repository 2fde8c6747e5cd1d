#include "workflow/definition.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "base/time_format.h"
#include "workflow/intrinsics.h"

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

namespace {

const std::set<std::string, std::less<>>& AllowedFields(StateType type) {
  static const std::map<StateType, std::set<std::string, std::less<>>> kAllowed = {
      {StateType::kPass,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters",
        "Result", "QueryLanguage"}},
      {StateType::kTask,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters",
        "ResultSelector", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
        "HeartbeatSecondsPath", "Retry", "Catch", "Credentials", "QueryLanguage"}},
      {StateType::kChoice,
       {"Type", "Comment", "InputPath", "OutputPath", "Choices", "Default", "QueryLanguage"}},
      {StateType::kWait,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath",
        "Timestamp", "TimestampPath", "QueryLanguage"}},
      {StateType::kSucceed, {"Type", "Comment", "InputPath", "OutputPath", "QueryLanguage"}},
      {StateType::kFail,
       {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath", "QueryLanguage"}},
      {StateType::kParallel,
       {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters",
        "ResultSelector", "Branches", "Retry", "Catch", "QueryLanguage"}},
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
        "Label",
        "QueryLanguage"}},
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
    if (const JsonValue* ql = doc.Find("QueryLanguage")) CheckQueryLanguage(*ql, pointer);
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
    } else if (!start->IsString()) {
      Add(pointer + "/StartAt", "must be a string");
    } else {
      machine->start_at = start->AsString();
    }
    const JsonValue* states = doc.Find("States");
    if (states == nullptr) {
      Add(pointer + "/States", "missing required field States");
      return machine;
    }
    if (!states->IsObject() || states->keys().empty()) {
      Add(pointer + "/States", "must be a non-empty object");
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
    return machine;
  }

 private:
  void Add(std::string pointer, std::string message) {
    errors_.push_back({std::move(pointer), std::move(message)});
  }

  void CheckQueryLanguage(const JsonValue& v, const std::string& pointer) {
    if (!v.IsString() || (v.AsString() != "JSONPath" && v.AsString() != "JSONata")) {
      Add(pointer + "/QueryLanguage", "must be \"JSONPath\" or \"JSONata\"");
    } else if (v.AsString() == "JSONata") {
      Add(pointer + "/QueryLanguage", "JSONata is not supported yet");
    }
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
    static const std::set<std::string, std::less<>> kFields = {"ErrorEquals", "Next", "ResultPath",
                                                               "Comment"};
    ForEachEntry(v, p, kFields, [&](const JsonValue& e, const std::string& ep, bool last) {
      Catcher c;
      c.error_equals = ErrorEquals(e, ep, last);
      const JsonValue* next = e.Find("Next");
      if (next == nullptr || !next->IsString()) {
        Add(ep + "/Next", "missing required field Next");
      } else {
        c.next = next->AsString();
      }
      c.result_path = NullablePath(e, "ResultPath", ep, true, false);
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

  ChoiceRule ParseRule(const JsonValue& v, const std::string& p, bool top) {
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
    std::vector<std::string> ops;
    for (const std::string& key : v.keys()) {
      if (key == "Next" || key == "Variable" || key == "Comment") continue;
      if (key == "And" || key == "Or" || key == "Not" || IsCompareOp(key)) {
        ops.push_back(key);
      } else {
        Add(p + "/" + Escape(key), "unknown Choice rule field");
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
        rule.children.push_back(ParseRule(arg.items()[i], ap + "/" + std::to_string(i), false));
      }
      return rule;
    }
    if (op == "Not") {
      rule.kind = ChoiceRule::Kind::kNot;
      if (v.Has("Variable")) Add(p + "/Variable", "Not rules take no Variable");
      rule.children.push_back(ParseRule(arg, ap, false));
      return rule;
    }
    rule.kind = ChoiceRule::Kind::kCompare;
    rule.op = op;
    const JsonValue* var = v.Find("Variable");
    if (var == nullptr) {
      Add(p + "/Variable", "a comparison needs Variable");
    } else {
      rule.variable = Path(*var, p + "/Variable", false, true);
    }
    if (std::string_view(op).ends_with("Path")) {
      rule.operand_path = Path(arg, ap, false, true);
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
    const auto& allowed = AllowedFields(s.type);
    for (const std::string& key : v.keys()) {
      if (!allowed.count(key)) {
        Add(sp + "/" + Escape(key),
            "field not allowed in a " + std::string(StateTypeName(s.type)) + " state");
      }
    }
    if (const JsonValue* ql = v.Find("QueryLanguage")) CheckQueryLanguage(*ql, sp);
    bool flows =
        s.type != StateType::kChoice && s.type != StateType::kSucceed && s.type != StateType::kFail;
    if (flows) NextOrEnd(v, sp, s);
    s.input_path = NullablePath(v, "InputPath", sp, false, true);
    s.output_path = NullablePath(v, "OutputPath", sp, false, true);
    s.result_path = NullablePath(v, "ResultPath", sp, true, false);
    if (s.type != StateType::kMap) Template(v, "Parameters", sp, s.parameters);
    Template(v, "ResultSelector", sp, s.result_selector);
    if (const JsonValue* r = v.Find("Result")) s.result = *r;
    if (const JsonValue* r = v.Find("Retry")) ParseRetry(*r, sp + "/Retry", s);
    if (const JsonValue* c = v.Find("Catch")) ParseCatch(*c, sp + "/Catch", s);

    switch (s.type) {
      case StateType::kTask: {
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
        if (const JsonValue* t = v.Find("TimeoutSeconds")) {
          s.timeout_seconds = PositiveInt(*t, sp + "/TimeoutSeconds");
        }
        if (const JsonValue* t = v.Find("HeartbeatSeconds")) {
          s.heartbeat_seconds = PositiveInt(*t, sp + "/HeartbeatSeconds");
        }
        if (s.timeout_seconds && s.heartbeat_seconds &&
            *s.heartbeat_seconds >= *s.timeout_seconds) {
          Add(sp + "/HeartbeatSeconds", "must be smaller than TimeoutSeconds");
        }
        if (const JsonValue* t = v.Find("TimeoutSecondsPath")) {
          s.timeout_seconds_path = Path(*t, sp + "/TimeoutSecondsPath", true, true);
        }
        if (const JsonValue* t = v.Find("HeartbeatSecondsPath")) {
          s.heartbeat_seconds_path = Path(*t, sp + "/HeartbeatSecondsPath", true, true);
        }
        break;
      }
      case StateType::kChoice: {
        const JsonValue* choices = v.Find("Choices");
        if (choices == nullptr || !choices->IsArray() || choices->size() == 0) {
          Add(sp + "/Choices", "must be a non-empty array");
        } else {
          for (size_t i = 0; i < choices->size(); ++i) {
            s.choices.push_back(
                ParseRule(choices->items()[i], sp + "/Choices/" + std::to_string(i), true));
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
      case StateType::kWait: {
        int count = 0;
        for (const char* f : {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"}) {
          count += v.Has(f) ? 1 : 0;
        }
        if (count != 1) {
          Add(sp,
              "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, "
              "TimestampPath");
        }
        if (const JsonValue* x = v.Find("Seconds")) {
          s.seconds = PositiveInt(*x, sp + "/Seconds", 0);
        }
        if (const JsonValue* x = v.Find("Timestamp")) {
          if (!x->IsString() || !(s.timestamp_micros = ParseAslTimestamp(x->AsString()))) {
            Add(sp + "/Timestamp", "must be an RFC 3339 timestamp");
          }
        }
        if (const JsonValue* x = v.Find("SecondsPath")) {
          s.seconds_path = Path(*x, sp + "/SecondsPath", true, true);
        }
        if (const JsonValue* x = v.Find("TimestampPath")) {
          s.timestamp_path = Path(*x, sp + "/TimestampPath", true, true);
        }
        break;
      }
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
              Result<IntrinsicCall> call = IntrinsicCall::Parse(x->AsString());
              if (!call.ok()) Add(p, call.status().message());
            } else {
              Path(*x, p, false, true);
            }
          }
          out = x->AsString();
        };
        if (v.Has("Error") && v.Has("ErrorPath")) Add(sp, "Error and ErrorPath are exclusive");
        if (v.Has("Cause") && v.Has("CausePath")) Add(sp, "Cause and CausePath are exclusive");
        text("Error", s.error, false);
        text("Cause", s.cause, false);
        text("ErrorPath", s.error_path, true);
        text("CausePath", s.cause_path, true);
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
      case StateType::kMap: {
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
            if (mode != nullptr && !(mode->IsString() && mode->AsString() == "INLINE")) {
              Add(pp + "/ProcessorConfig/Mode", "only INLINE Map is supported");
            }
          }
          s.processor = Nested(*proc, pp);
        }
        if (v.Has("Parameters") && v.Has("ItemSelector")) {
          Add(sp, "Parameters and ItemSelector are mutually exclusive");
        }
        // Parameters is the deprecated name of ItemSelector on Map.
        Template(v, v.Has("ItemSelector") ? "ItemSelector" : "Parameters", sp, s.item_selector);
        if (const JsonValue* x = v.Find("ItemsPath")) {
          s.items_path = Path(*x, sp + "/ItemsPath", true, true);
        }
        if (const JsonValue* x = v.Find("MaxConcurrency")) {
          if (auto n = PositiveInt(*x, sp + "/MaxConcurrency", 0)) s.max_concurrency = *n;
        }
        if (const JsonValue* x = v.Find("ToleratedFailurePercentage")) {
          if (!x->IsNumber() || x->AsDouble() < 0 || x->AsDouble() > 100) {
            Add(sp + "/ToleratedFailurePercentage", "must be a number from 0 to 100");
          } else {
            s.tolerated_failure_percentage = x->AsDouble();
          }
        }
        if (const JsonValue* x = v.Find("ToleratedFailureCount")) {
          s.tolerated_failure_count = PositiveInt(*x, sp + "/ToleratedFailureCount", 0);
        }
        break;
      }
      default: break;
    }
    return s;
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

  std::vector<ValidationError>& errors_;
  std::set<std::string> all_names_;
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
      Result<IntrinsicCall> call = IntrinsicCall::Parse(text);
      if (!call.ok()) errors.push_back({p, call.status().message()});
    } else {
      Result<JsonPath> path = JsonPath::Parse(text);
      if (!path.ok()) errors.push_back({p, path.status().message()});
    }
  }
}

ParsedDefinition ParseDefinition(const JsonValue& document) {
  ParsedDefinition out;
  Parser parser(out.errors);
  out.machine = parser.ParseMachine(document, "", true);
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
