#include "workflow/interpreter.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <thread>

#include "base/time_format.h"
#include "workflow/intrinsics.h"

namespace basin::workflow {

void FakeClockSleeper::SleepUntil(int64_t epoch_micros) {
  if (epoch_micros > clock_.NowMicros()) clock_.Set(epoch_micros);
}

void RealSleeper::SleepUntil(int64_t epoch_micros) {
  int64_t now = SystemClock::Instance().NowMicros();
  if (epoch_micros > now)
    std::this_thread::sleep_for(std::chrono::microseconds(epoch_micros - now));
}

JsonValue HistoryEvent::ToJson() const {
  JsonValue o = JsonValue::Object();
  o.Set("id", JsonValue::Int(id));
  o.Set("previousEventId", JsonValue::Int(previous_event_id));
  o.Set("timestamp", JsonValue::String(FormatIso8601Millis(timestamp_micros)));
  o.Set("type", JsonValue::String(type));
  if (!details_key.empty()) o.Set(details_key, details);
  return o;
}

double RetryDelaySeconds(const Retrier& r, int64_t n) {
  double delay = r.interval_seconds * std::pow(r.backoff_rate, static_cast<double>(n - 1));
  if (r.max_delay_seconds) delay = std::min(delay, *r.max_delay_seconds);
  // Large backoff exponents overflow to infinity; no delay may exceed the duration limit.
  return std::min(delay, static_cast<double>(kMaxDurationSeconds));
}

bool ErrorMatches(std::string_view pattern, std::string_view error) {
  if (pattern == error) return true;
  bool uncatchable = error == kErrRuntime || error == kErrDataLimitExceeded;
  if (pattern == kErrAll) return !uncatchable;
  if (pattern == kErrTaskFailed) return !uncatchable && error != kErrTimeout;
  return false;
}

bool StringMatchesPattern(std::string_view text, std::string_view pattern) {
  // Iterative glob with backtracking to the last '*'.
  struct Token {
    bool star;
    char c;
  };
  std::vector<Token> tokens;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      tokens.push_back({false, pattern[++i]});
    } else {
      tokens.push_back({pattern[i] == '*', pattern[i]});
    }
  }
  size_t t = 0, p = 0, star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < tokens.size() && tokens[p].star) {
      star_p = p++;
      star_t = t;
    } else if (p < tokens.size() && tokens[p].c == text[t]) {
      ++p;
      ++t;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < tokens.size() && tokens[p].star) ++p;
  return p == tokens.size();
}

namespace {

// Where a state goes next and what it passes on.
struct Step {
  JsonValue output;
  std::string next;
  bool end = false;
};

std::string Truncated(const JsonValue& v) {
  std::string s = v.Serialize();
  if (s.size() > 256) s = s.substr(0, 256) + "...";
  return s;
}

// One run of a state machine: history, counters, context object and the abort switch that
// execution-wide failures (execution timeout, transition limit) use to bypass Retry/Catch.
class Execution {
 public:
  Execution(const InterpreterOptions& options, std::mt19937_64& rng, const JsonValue& input)
      : options_(options), rng_(rng), input_(input) {}

  ExecutionResult Run(const StateMachine& machine) {
    start_ = options_.clock->NowMicros();
    if (machine.timeout_seconds) deadline_ = start_ + *machine.timeout_seconds * 1'000'000;
    JsonValue details = JsonValue::Object();
    details.Set("input", JsonValue::String(input_.Serialize()));
    details.Set("roleArn", JsonValue::String(options_.role_arn));
    Emit("ExecutionStarted", "executionStartedEventDetails", std::move(details));

    Outcome<JsonValue> out = MakeError(kErrRuntime, "not run");
    if (input_.Serialize().size() > kMaxPayloadBytes) {
      out = MakeError(kErrDataLimitExceeded, "The execution input exceeds 262144 bytes");
    } else {
      out = RunMachine(machine, input_);
    }
    ExecutionResult result;
    if (out.ok()) {
      result.status = ExecutionStatus::kSucceeded;
      result.output = std::move(out).value();
      JsonValue d = JsonValue::Object();
      d.Set("output", JsonValue::String(result.output.Serialize()));
      Emit("ExecutionSucceeded", "executionSucceededEventDetails", std::move(d));
    } else {
      result.status = timed_out_ ? ExecutionStatus::kTimedOut : ExecutionStatus::kFailed;
      result.error = out.error().error;
      result.cause = out.error().cause;
      JsonValue d = JsonValue::Object();
      d.Set("error", JsonValue::String(result.error));
      d.Set("cause", JsonValue::String(result.cause));
      Emit(timed_out_ ? "ExecutionTimedOut" : "ExecutionFailed",
           timed_out_ ? "executionTimedOutEventDetails" : "executionFailedEventDetails",
           std::move(d));
    }
    result.history = std::move(history_);
    return result;
  }

 private:
  void Emit(std::string type, std::string key, JsonValue details) {
    HistoryEvent e;
    e.id = static_cast<int64_t>(history_.size()) + 1;
    e.previous_event_id = e.id - 1;
    e.timestamp_micros = options_.clock->NowMicros();
    e.type = std::move(type);
    e.details_key = std::move(key);
    e.details = std::move(details);
    history_.push_back(std::move(e));
  }

  StateError Abort(StateError error, bool timed_out) {
    aborted_ = true;
    timed_out_ = timed_out;
    abort_error_ = error;
    return error;
  }

  // Sleeps, but not past the execution deadline. False when the execution timed out.
  bool SleepUntil(int64_t when) {
    if (deadline_ && when > *deadline_) {
      options_.sleeper->SleepUntil(*deadline_);
      Abort(MakeError(kErrTimeout, "The execution timed out"), true);
      return false;
    }
    options_.sleeper->SleepUntil(when);
    return true;
  }

  JsonValue Context(const State& s, int64_t retry_count) const {
    JsonValue exec = JsonValue::Object();
    exec.Set("Id", JsonValue::String("arn:aws:states:us-east-1:000000000000:execution:" +
                                     options_.state_machine_name + ":" + options_.execution_name));
    exec.Set("Input", input_);
    exec.Set("Name", JsonValue::String(options_.execution_name));
    exec.Set("RoleArn", JsonValue::String(options_.role_arn));
    exec.Set("StartTime", JsonValue::String(FormatIso8601Millis(start_)));
    exec.Set("RedriveCount", JsonValue::Int(0));
    JsonValue state = JsonValue::Object();
    state.Set("EnteredTime", JsonValue::String(FormatIso8601Millis(options_.clock->NowMicros())));
    state.Set("Name", JsonValue::String(s.name));
    state.Set("RetryCount", JsonValue::Int(retry_count));
    JsonValue sm = JsonValue::Object();
    sm.Set("Id", JsonValue::String("arn:aws:states:us-east-1:000000000000:stateMachine:" +
                                   options_.state_machine_name));
    sm.Set("Name", JsonValue::String(options_.state_machine_name));
    JsonValue ctx = JsonValue::Object();
    ctx.Set("Execution", std::move(exec));
    ctx.Set("State", std::move(state));
    ctx.Set("StateMachine", std::move(sm));
    return ctx;
  }

  Outcome<JsonValue> EvalTemplate(const JsonValue& tpl, const JsonValue& input,
                                  const JsonValue& ctx) {
    if (tpl.IsArray()) {
      JsonValue out = JsonValue::Array();
      for (const JsonValue& item : tpl.items()) {
        WF_ASSIGN_OR_RAISE(JsonValue v, EvalTemplate(item, input, ctx));
        out.Append(std::move(v));
      }
      return out;
    }
    if (!tpl.IsObject()) return tpl;
    JsonValue out = JsonValue::Object();
    for (size_t i = 0; i < tpl.keys().size(); ++i) {
      const std::string& key = tpl.keys()[i];
      const JsonValue& value = tpl.items()[i];
      if (!(key.size() > 2 && key.ends_with(".$"))) {
        WF_ASSIGN_OR_RAISE(JsonValue v, EvalTemplate(value, input, ctx));
        out.Set(key, std::move(v));
        continue;
      }
      std::string name = key.substr(0, key.size() - 2);
      const std::string& text = value.AsString();  // validated at parse time
      if (IntrinsicCall::Looks(text)) {
        IntrinsicEnv env{&input, &ctx, &rng_};
        WF_ASSIGN_OR_RAISE(JsonValue v, EvaluateIntrinsic(text, env));
        out.Set(name, std::move(v));
        continue;
      }
      Result<JsonPath> path = JsonPath::Parse(text);
      if (!path.ok()) return MakeError(kErrParameterPathFailure, path.status().message());
      std::optional<JsonValue> v = path->Evaluate(path->is_context() ? ctx : input);
      if (!v) {
        return MakeError(kErrParameterPathFailure,
                         "The JSONPath '" + text + "' specified for the field '" + key +
                             "' could not be found in the input '" + Truncated(input) + "'");
      }
      out.Set(name, std::move(*v));
    }
    return out;
  }

  // InputPath / OutputPath: absent = `$`, null = {}.
  Outcome<JsonValue> SelectPath(const OptionalPath& p, const char* field, const JsonValue& data,
                                const JsonValue& ctx) {
    if (!p.present) return data;
    if (p.is_null) return JsonValue::Object();
    std::optional<JsonValue> v = p.path->Evaluate(p.path->is_context() ? ctx : data);
    if (!v) {
      return MakeError(kErrRuntime, std::string("Invalid ") + field + " '" + p.path->text() +
                                        "': no match in '" + Truncated(data) + "'");
    }
    return std::move(*v);
  }

  // ResultPath: absent = `$` (result replaces input), null = keep input and drop the result.
  Outcome<JsonValue> ApplyResultPath(const OptionalPath& p, const JsonValue& raw_input,
                                     JsonValue result) {
    if (!p.present) return result;
    if (p.is_null) return raw_input;
    JsonValue out = raw_input;
    WF_ASSIGN_OR_RAISE(bool ignored, p.path->Assign(out, std::move(result)));
    (void)ignored;
    return out;
  }

  // ResultSelector -> ResultPath -> OutputPath, shared by Task, Parallel and Map.
  Outcome<JsonValue> FinishResult(const State& s, const JsonValue& raw_input, JsonValue result,
                                  const JsonValue& ctx) {
    if (s.result_selector) {
      WF_ASSIGN_OR_RAISE(result, EvalTemplate(*s.result_selector, result, ctx));
    }
    WF_ASSIGN_OR_RAISE(JsonValue combined, ApplyResultPath(s.result_path, raw_input, result));
    return SelectPath(s.output_path, "OutputPath", combined, ctx);
  }

  Outcome<JsonValue> RunMachine(const StateMachine& m, const JsonValue& input) {
    const State* s = m.Find(m.start_at);
    JsonValue data = input;
    while (true) {
      if (aborted_) return abort_error_;
      if (++transitions_ > options_.max_state_transitions) {
        return Abort(MakeError(kErrRuntime, "The execution exceeded " +
                                                std::to_string(options_.max_state_transitions) +
                                                " state transitions"),
                     false);
      }
      if (deadline_ && options_.clock->NowMicros() > *deadline_) {
        return Abort(MakeError(kErrTimeout, "The execution timed out"), true);
      }
      std::string type(StateTypeName(s->type));
      JsonValue entered = JsonValue::Object();
      entered.Set("name", JsonValue::String(s->name));
      entered.Set("input", JsonValue::String(data.Serialize()));
      Emit(type + "StateEntered", "stateEnteredEventDetails", std::move(entered));
      Outcome<Step> step = RunState(*s, data);
      if (!step.ok()) return step.error();
      if (aborted_) return abort_error_;
      Step st = std::move(step).value();
      if (st.output.Serialize().size() > kMaxPayloadBytes) {
        return MakeError(kErrDataLimitExceeded, "The state/task '" + s->name +
                                                    "' returned a result with a size exceeding "
                                                    "the maximum number of bytes service limit.");
      }
      if (s->type != StateType::kFail) {
        JsonValue exited = JsonValue::Object();
        exited.Set("name", JsonValue::String(s->name));
        exited.Set("output", JsonValue::String(st.output.Serialize()));
        Emit(type + "StateExited", "stateExitedEventDetails", std::move(exited));
      }
      if (st.end) return std::move(st.output);
      s = m.Find(st.next);
      data = std::move(st.output);
    }
  }

  Outcome<Step> RunState(const State& s, const JsonValue& raw) {
    switch (s.type) {
      case StateType::kPass: return RunPass(s, raw);
      case StateType::kSucceed: {
        JsonValue ctx = Context(s, 0);
        WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
        WF_ASSIGN_OR_RAISE(JsonValue out, SelectPath(s.output_path, "OutputPath", in, ctx));
        return Step{std::move(out), "", true};
      }
      case StateType::kFail: return RunFail(s, raw);
      case StateType::kChoice: return RunChoice(s, raw);
      case StateType::kWait: return RunWait(s, raw);
      case StateType::kTask:
      case StateType::kParallel:
      case StateType::kMap: return RunWithRetry(s, raw);
    }
    return MakeError(kErrRuntime, "unknown state type");
  }

  Outcome<Step> RunPass(const State& s, const JsonValue& raw) {
    JsonValue ctx = Context(s, 0);
    WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
    JsonValue result = in;
    if (s.parameters) {
      WF_ASSIGN_OR_RAISE(result, EvalTemplate(*s.parameters, in, ctx));
    }
    if (s.result) result = *s.result;
    WF_ASSIGN_OR_RAISE(JsonValue combined, ApplyResultPath(s.result_path, raw, std::move(result)));
    WF_ASSIGN_OR_RAISE(JsonValue out, SelectPath(s.output_path, "OutputPath", combined, ctx));
    return Step{std::move(out), s.next, s.end};
  }

  Outcome<Step> RunFail(const State& s, const JsonValue& raw) {
    JsonValue ctx = Context(s, 0);
    auto dynamic = [&](const std::optional<std::string>& text,
                       const char* field) -> Outcome<std::string> {
      if (IntrinsicCall::Looks(*text)) {
        IntrinsicEnv env{&raw, &ctx, &rng_};
        WF_ASSIGN_OR_RAISE(JsonValue v, EvaluateIntrinsic(*text, env));
        if (!v.IsString()) return MakeError(kErrRuntime, std::string(field) + " must be a string");
        return v.AsString();
      }
      Result<JsonPath> path = JsonPath::Parse(*text);
      std::optional<JsonValue> v =
          path.ok() ? path->Evaluate(path->is_context() ? ctx : raw) : std::nullopt;
      if (!v || !v->IsString()) {
        return MakeError(kErrRuntime, std::string(field) + " '" + *text +
                                          "' does not select a string in the input");
      }
      return v->AsString();
    };
    std::string error = s.error.value_or(""), cause = s.cause.value_or("");
    if (s.error_path) {
      WF_ASSIGN_OR_RAISE(error, dynamic(s.error_path, "ErrorPath"));
    }
    if (s.cause_path) {
      WF_ASSIGN_OR_RAISE(cause, dynamic(s.cause_path, "CausePath"));
    }
    return MakeError(error, cause);
  }

  // --- Choice -------------------------------------------------------------------------------

  Outcome<bool> Evaluate(const ChoiceRule& rule, const JsonValue& in, const JsonValue& ctx) {
    switch (rule.kind) {
      case ChoiceRule::Kind::kAnd:
        for (const ChoiceRule& c : rule.children) {
          WF_ASSIGN_OR_RAISE(bool v, Evaluate(c, in, ctx));
          if (!v) return false;
        }
        return true;
      case ChoiceRule::Kind::kOr:
        for (const ChoiceRule& c : rule.children) {
          WF_ASSIGN_OR_RAISE(bool v, Evaluate(c, in, ctx));
          if (v) return true;
        }
        return false;
      case ChoiceRule::Kind::kNot: {
        WF_ASSIGN_OR_RAISE(bool v, Evaluate(rule.children[0], in, ctx));
        return !v;
      }
      case ChoiceRule::Kind::kCompare: break;
    }
    const JsonPath& var = *rule.variable;
    std::optional<JsonValue> value = var.Evaluate(var.is_context() ? ctx : in);
    std::string_view op = rule.op;
    if (op == "IsPresent") return value.has_value() == rule.operand.AsBool();
    if (!value) {
      return MakeError(kErrRuntime, "Invalid path '" + var.text() +
                                        "': The choice state's condition path references an "
                                        "invalid value.");
    }
    JsonValue operand = rule.operand;
    if (rule.operand_path) {
      const JsonPath& p = *rule.operand_path;
      std::optional<JsonValue> o = p.Evaluate(p.is_context() ? ctx : in);
      if (!o) {
        return MakeError(kErrRuntime, "Invalid path '" + p.text() +
                                          "': The choice state's condition path references an "
                                          "invalid value.");
      }
      operand = std::move(*o);
      op = op.substr(0, op.size() - 4);
    }
    if (op == "IsNull") return value->IsNull() == operand.AsBool();
    if (op == "IsNumeric") return value->IsNumber() == operand.AsBool();
    if (op == "IsString") return value->IsString() == operand.AsBool();
    if (op == "IsBoolean") return value->IsBool() == operand.AsBool();
    if (op == "IsTimestamp") {
      bool ts = value->IsString() && ParseAslTimestamp(value->AsString()).has_value();
      return ts == operand.AsBool();
    }
    if (op == "BooleanEquals") {
      return value->IsBool() && operand.IsBool() && value->AsBool() == operand.AsBool();
    }
    if (op == "StringMatches") {
      return value->IsString() && StringMatchesPattern(value->AsString(), operand.AsString());
    }
    // Ordering operators: compute -1/0/1, or "no match" when the types differ.
    std::optional<int> cmp;
    std::string_view rel;
    if (op.starts_with("String")) {
      rel = op.substr(6);
      if (value->IsString() && operand.IsString()) {
        int c = value->AsString().compare(operand.AsString());
        cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
      }
    } else if (op.starts_with("Numeric")) {
      rel = op.substr(7);
      if (value->IsNumber() && operand.IsNumber()) {
        if (value->IsInt() && operand.IsInt()) {
          cmp = value->AsInt() < operand.AsInt() ? -1 : value->AsInt() > operand.AsInt() ? 1 : 0;
        } else {
          double a = value->AsDouble(), b = operand.AsDouble();
          cmp = a < b ? -1 : a > b ? 1 : 0;
        }
      }
    } else if (op.starts_with("Timestamp")) {
      rel = op.substr(9);
      if (value->IsString() && operand.IsString()) {
        std::optional<int64_t> a = ParseAslTimestamp(value->AsString());
        std::optional<int64_t> b = ParseAslTimestamp(operand.AsString());
        if (a && b) cmp = *a < *b ? -1 : *a > *b ? 1 : 0;
      }
    } else {
      return MakeError(kErrRuntime, "unknown operator " + rule.op);
    }
    if (!cmp) return false;
    if (rel == "Equals") return *cmp == 0;
    if (rel == "LessThan") return *cmp < 0;
    if (rel == "GreaterThan") return *cmp > 0;
    if (rel == "LessThanEquals") return *cmp <= 0;
    if (rel == "GreaterThanEquals") return *cmp >= 0;
    return MakeError(kErrRuntime, "unknown operator " + rule.op);
  }

  Outcome<Step> RunChoice(const State& s, const JsonValue& raw) {
    JsonValue ctx = Context(s, 0);
    WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
    std::string next;
    for (const ChoiceRule& rule : s.choices) {
      WF_ASSIGN_OR_RAISE(bool matched, Evaluate(rule, in, ctx));
      if (matched) {
        next = rule.next;
        break;
      }
    }
    if (next.empty()) next = s.default_next;
    if (next.empty()) {
      return MakeError(kErrNoChoiceMatched,
                       "No Choice rule matched and no Default in state '" + s.name + "'");
    }
    WF_ASSIGN_OR_RAISE(JsonValue out, SelectPath(s.output_path, "OutputPath", in, ctx));
    return Step{std::move(out), next, false};
  }

  // --- Wait ---------------------------------------------------------------------------------

  Outcome<Step> RunWait(const State& s, const JsonValue& raw) {
    JsonValue ctx = Context(s, 0);
    WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
    int64_t now = options_.clock->NowMicros();
    int64_t until = now;
    if (s.seconds) until = now + *s.seconds * 1'000'000;
    if (s.timestamp_micros) until = *s.timestamp_micros;
    if (s.seconds_path) {
      std::optional<JsonValue> v =
          s.seconds_path->Evaluate(s.seconds_path->is_context() ? ctx : in);
      if (!v || !v->IsIntegral() || v->AsInt() < 0 || v->AsInt() > kMaxDurationSeconds) {
        return MakeError(kErrRuntime, "SecondsPath '" + s.seconds_path->text() +
                                          "' must select an integer from 0 to " +
                                          std::to_string(kMaxDurationSeconds));
      }
      until = now + v->AsInt() * 1'000'000;
    }
    if (s.timestamp_path) {
      std::optional<JsonValue> v =
          s.timestamp_path->Evaluate(s.timestamp_path->is_context() ? ctx : in);
      std::optional<int64_t> t =
          v && v->IsString() ? ParseAslTimestamp(v->AsString()) : std::nullopt;
      if (!t) {
        return MakeError(kErrRuntime, "TimestampPath '" + s.timestamp_path->text() +
                                          "' must select an RFC 3339 timestamp");
      }
      until = *t;
    }
    if (!SleepUntil(until)) return abort_error_;
    WF_ASSIGN_OR_RAISE(JsonValue out, SelectPath(s.output_path, "OutputPath", in, ctx));
    return Step{std::move(out), s.next, s.end};
  }

  // --- Task / Parallel / Map with Retry and Catch -------------------------------------------

  Outcome<Step> RunWithRetry(const State& s, const JsonValue& raw) {
    std::vector<int64_t> counters(s.retry.size(), 0);  // one per retrier, for this state visit
    int64_t attempt = 0;
    while (true) {
      JsonValue ctx = Context(s, attempt);
      Outcome<JsonValue> out = Attempt(s, raw, ctx, attempt);
      if (aborted_) return abort_error_;
      if (out.ok()) return Step{std::move(out).value(), s.next, s.end};
      const StateError& err = out.error();
      const Retrier* retrier = nullptr;
      size_t index = 0;
      for (; index < s.retry.size(); ++index) {
        bool match = false;
        for (const std::string& name : s.retry[index].error_equals) {
          match = match || ErrorMatches(name, err.error);
        }
        if (match) {
          retrier = &s.retry[index];
          break;
        }
      }
      if (retrier != nullptr && counters[index] < retrier->max_attempts) {
        ++counters[index];
        double delay = RetryDelaySeconds(*retrier, counters[index]);
        if (retrier->full_jitter) {
          delay = std::uniform_real_distribution<double>(0.0, delay)(rng_);
        }
        int64_t wake =
            options_.clock->NowMicros() + static_cast<int64_t>(std::llround(delay * 1e6));
        if (!SleepUntil(wake)) return abort_error_;
        ++attempt;
        continue;
      }
      for (const Catcher& c : s.catchers) {
        bool match = false;
        for (const std::string& name : c.error_equals)
          match = match || ErrorMatches(name, err.error);
        if (!match) continue;
        JsonValue error_output = JsonValue::Object();
        error_output.Set("Error", JsonValue::String(err.error));
        error_output.Set("Cause", JsonValue::String(err.cause));
        WF_ASSIGN_OR_RAISE(JsonValue caught,
                           ApplyResultPath(c.result_path, raw, std::move(error_output)));
        return Step{std::move(caught), c.next, false};
      }
      return err;
    }
  }

  Outcome<JsonValue> Attempt(const State& s, const JsonValue& raw, const JsonValue& ctx,
                             int64_t attempt) {
    WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
    if (s.type == StateType::kMap) return RunMap(s, raw, in, ctx);
    JsonValue effective = in;
    if (s.parameters) {
      WF_ASSIGN_OR_RAISE(effective, EvalTemplate(*s.parameters, in, ctx));
    }
    if (s.type == StateType::kParallel) return RunParallel(s, raw, effective, ctx);
    return RunTask(s, raw, std::move(effective), ctx, attempt);
  }

  Outcome<JsonValue> RunTask(const State& s, const JsonValue& raw, JsonValue params,
                             const JsonValue& ctx, int64_t attempt) {
    TaskRequest req;
    req.resource = s.resource;
    req.state_name = s.name;
    req.attempt = attempt;
    req.timeout_seconds = s.timeout_seconds;
    req.heartbeat_seconds = s.heartbeat_seconds;
    auto seconds_from = [&](const std::optional<JsonPath>& p,
                            const char* field) -> Outcome<std::optional<int64_t>> {
      if (!p) return std::optional<int64_t>();
      std::optional<JsonValue> v = p->Evaluate(p->is_context() ? ctx : raw);
      if (!v || !v->IsIntegral() || v->AsInt() <= 0 || v->AsInt() > kMaxDurationSeconds) {
        return MakeError(kErrRuntime, std::string(field) + " '" + p->text() +
                                          "' must select an integer from 1 to " +
                                          std::to_string(kMaxDurationSeconds));
      }
      return std::optional<int64_t>(v->AsInt());
    };
    if (s.timeout_seconds_path) {
      WF_ASSIGN_OR_RAISE(req.timeout_seconds,
                         seconds_from(s.timeout_seconds_path, "TimeoutSecondsPath"));
    }
    if (s.heartbeat_seconds_path) {
      WF_ASSIGN_OR_RAISE(req.heartbeat_seconds,
                         seconds_from(s.heartbeat_seconds_path, "HeartbeatSecondsPath"));
    }
    req.input = std::move(params);
    JsonValue scheduled = JsonValue::Object();
    scheduled.Set("resource", JsonValue::String(s.resource));
    scheduled.Set("parameters", JsonValue::String(req.input.Serialize()));
    if (req.timeout_seconds)
      scheduled.Set("timeoutInSeconds", JsonValue::Int(*req.timeout_seconds));
    if (req.heartbeat_seconds) {
      scheduled.Set("heartbeatInSeconds", JsonValue::Int(*req.heartbeat_seconds));
    }
    Emit("TaskScheduled", "taskScheduledEventDetails", std::move(scheduled));
    JsonValue started = JsonValue::Object();
    started.Set("resource", JsonValue::String(s.resource));
    Emit("TaskStarted", "taskStartedEventDetails", std::move(started));

    int64_t t0 = options_.clock->NowMicros();
    Outcome<JsonValue> out =
        options_.task_runner != nullptr
            ? options_.task_runner->Run(req)
            : Outcome<JsonValue>(MakeError(kErrTaskFailed, "no TaskRunner configured"));
    int64_t elapsed = options_.clock->NowMicros() - t0;
    std::optional<StateError> timeout;
    if (req.heartbeat_seconds && elapsed > *req.heartbeat_seconds * 1'000'000) {
      timeout = MakeError(kErrHeartbeatTimeout, "The task did not send a heartbeat within " +
                                                    std::to_string(*req.heartbeat_seconds) + " s");
    } else if (req.timeout_seconds && elapsed > *req.timeout_seconds * 1'000'000) {
      timeout = MakeError(kErrTimeout, "The task did not finish within " +
                                           std::to_string(*req.timeout_seconds) + " s");
    }
    if (timeout) {
      JsonValue d = JsonValue::Object();
      d.Set("resource", JsonValue::String(s.resource));
      d.Set("error", JsonValue::String(timeout->error));
      d.Set("cause", JsonValue::String(timeout->cause));
      Emit("TaskTimedOut", "taskTimedOutEventDetails", std::move(d));
      return *timeout;
    }
    if (out.ok() && out.value().Serialize().size() > kMaxPayloadBytes) {
      out = MakeError(kErrDataLimitExceeded,
                      "The task '" + s.name + "' returned a result exceeding 262144 bytes");
    }
    if (!out.ok()) {
      JsonValue d = JsonValue::Object();
      d.Set("resource", JsonValue::String(s.resource));
      d.Set("error", JsonValue::String(out.error().error));
      d.Set("cause", JsonValue::String(out.error().cause));
      Emit("TaskFailed", "taskFailedEventDetails", std::move(d));
      return out.error();
    }
    JsonValue d = JsonValue::Object();
    d.Set("resource", JsonValue::String(s.resource));
    d.Set("output", JsonValue::String(out.value().Serialize()));
    Emit("TaskSucceeded", "taskSucceededEventDetails", std::move(d));
    return FinishResult(s, raw, std::move(out).value(), ctx);
  }

  Outcome<JsonValue> RunParallel(const State& s, const JsonValue& raw, const JsonValue& in,
                                 const JsonValue& ctx) {
    Emit("ParallelStateStarted", "", JsonValue());
    JsonValue results = JsonValue::Array();
    for (const auto& branch : s.branches) {
      Outcome<JsonValue> out = RunMachine(*branch, in);
      if (!out.ok()) {
        Emit("ParallelStateFailed", "", JsonValue());
        return out.error();
      }
      results.Append(std::move(out).value());
    }
    Emit("ParallelStateSucceeded", "", JsonValue());
    return FinishResult(s, raw, std::move(results), ctx);
  }

  Outcome<JsonValue> RunMap(const State& s, const JsonValue& raw, const JsonValue& in,
                            const JsonValue& ctx) {
    JsonValue items = in;
    if (s.items_path) {
      std::optional<JsonValue> v = s.items_path->Evaluate(s.items_path->is_context() ? ctx : in);
      if (!v) {
        return MakeError(kErrRuntime, "ItemsPath '" + s.items_path->text() + "' selects nothing");
      }
      items = std::move(*v);
    }
    if (!items.IsArray()) {
      return MakeError(kErrRuntime, "The Map state's items must be a JSON array, got " +
                                        std::string(items.TypeName()));
    }
    JsonValue started = JsonValue::Object();
    started.Set("length", JsonValue::Int(static_cast<int64_t>(items.size())));
    Emit("MapStateStarted", "mapStateStartedEventDetails", std::move(started));
    JsonValue results = JsonValue::Array();
    int64_t failures = 0;
    bool tolerant = s.tolerated_failure_count || s.tolerated_failure_percentage;
    for (size_t i = 0; i < items.size(); ++i) {
      JsonValue item_input = items.items()[i];
      if (s.item_selector) {
        JsonValue item_ctx = ctx;
        JsonValue item = JsonValue::Object();
        item.Set("Index", JsonValue::Int(static_cast<int64_t>(i)));
        item.Set("Value", items.items()[i]);
        JsonValue map = JsonValue::Object();
        map.Set("Item", std::move(item));
        item_ctx.Set("Map", std::move(map));
        WF_ASSIGN_OR_RAISE(item_input, EvalTemplate(*s.item_selector, in, item_ctx));
      }
      JsonValue it = JsonValue::Object();
      it.Set("name", JsonValue::String(s.name));
      it.Set("index", JsonValue::Int(static_cast<int64_t>(i)));
      Emit("MapIterationStarted", "mapIterationStartedEventDetails", it);
      Outcome<JsonValue> out = RunMachine(*s.processor, item_input);
      if (aborted_) return abort_error_;
      if (out.ok()) {
        Emit("MapIterationSucceeded", "mapIterationSucceededEventDetails", it);
        results.Append(std::move(out).value());
        continue;
      }
      Emit("MapIterationFailed", "mapIterationFailedEventDetails", it);
      if (!tolerant) {
        Emit("MapStateFailed", "", JsonValue());
        return out.error();
      }
      ++failures;
      JsonValue err = JsonValue::Object();
      err.Set("Error", JsonValue::String(out.error().error));
      err.Set("Cause", JsonValue::String(out.error().cause));
      results.Append(std::move(err));
    }
    if (tolerant && failures > 0) {
      bool over_count = s.tolerated_failure_count && failures > *s.tolerated_failure_count;
      double pct = 100.0 * static_cast<double>(failures) / static_cast<double>(items.size());
      bool over_pct = s.tolerated_failure_percentage && pct > *s.tolerated_failure_percentage;
      // With both set, exceeding either one fails the Map; with one set, only that one counts.
      if (over_count || over_pct) {
        Emit("MapStateFailed", "", JsonValue());
        return MakeError(kErrExceedToleratedFailureThreshold,
                         "The Map state's tolerated failure threshold was exceeded (" +
                             std::to_string(failures) + " of " + std::to_string(items.size()) +
                             " items failed)");
      }
    }
    Emit("MapStateSucceeded", "", JsonValue());
    return FinishResult(s, raw, std::move(results), ctx);
  }

  const InterpreterOptions& options_;
  std::mt19937_64& rng_;
  const JsonValue& input_;
  std::vector<HistoryEvent> history_;
  int64_t start_ = 0;
  std::optional<int64_t> deadline_;
  int64_t transitions_ = 0;
  bool aborted_ = false;
  bool timed_out_ = false;
  StateError abort_error_;
};

}  // namespace

Interpreter::Interpreter(std::shared_ptr<const StateMachine> machine, InterpreterOptions options)
    : machine_(std::move(machine)), options_(std::move(options)), rng_(options_.random_seed) {
  BASIN_CHECK(machine_ != nullptr);
  BASIN_CHECK(options_.clock != nullptr);
  BASIN_CHECK(options_.sleeper != nullptr);
}

ExecutionResult Interpreter::Execute(const JsonValue& input) {
  Execution execution(options_, rng_, input);
  return execution.Run(*machine_);
}

}  // namespace basin::workflow
