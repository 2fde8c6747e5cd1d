#include "workflow/interpreter.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <thread>

#include "base/time_format.h"
#include "workflow/intrinsics.h"
#include "workflow/jsonata.h"

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
  JsonValue assigned = JsonValue::Object();  // variables the state sets (Assign)
};

std::string Truncated(const JsonValue& v) {
  std::string s = v.Serialize();
  if (s.size() > 256) s = s.substr(0, 256) + "...";
  return s;
}

// Workflow variables (Assign) of one machine run. Parallel branches and Map iterations get a
// child scope: they read the outer variables, and their own assignments end with them.
struct Scope {
  JsonValue vars = JsonValue::Object();
  const Scope* parent = nullptr;

  const JsonValue* Find(std::string_view name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent) {
      if (const JsonValue* v = s->vars.Find(name)) return v;
    }
    return nullptr;
  }
};

// One run of a state machine: history, counters, context object and the abort switch that
// execution-wide failures (execution timeout, transition limit) use to bypass Retry/Catch.
class Execution {
 public:
  Execution(const InterpreterOptions& options, std::mt19937_64& rng, const JsonValue& input)
      : options_(options), rng_(rng), input_(input) {}

  // A fresh execution: ExecutionStarted, then the machine from StartAt.
  ExecutionResult Run(const StateMachine& machine) {
    start_ = options_.clock->NowMicros();
    if (machine.timeout_seconds) deadline_ = start_ + *machine.timeout_seconds * 1'000'000;
    JsonValue details = JsonValue::Object();
    details.Set("input", JsonValue::String(input_.Serialize()));
    details.Set("roleArn", JsonValue::String(options_.role_arn));
    Emit("ExecutionStarted", "executionStartedEventDetails", std::move(details));

    Outcome<JsonValue> out = MakeError(kErrRuntime, "not run");
    const State* start = machine.Find(machine.start_at);
    if (input_.Serialize().size() > kMaxPayloadBytes) {
      out = MakeError(kErrDataLimitExceeded, "The execution input exceeds 262144 bytes");
    } else if (start == nullptr) {  // only for machines that skipped validation
      out = MakeError(kErrRuntime, "StartAt '" + machine.start_at + "' is not a state");
    } else {
      out = RunMachine(machine, start, input_, top_scope_, true);
    }
    return Finish(std::move(out));
  }

  // Continues at a checkpoint: same start time (and so the same machine deadline), counters,
  // variables and event numbering as the run that wrote it.
  ExecutionResult Resume(const StateMachine& machine, int64_t start_micros,
                         const Checkpoint& checkpoint) {
    start_ = start_micros;
    if (machine.timeout_seconds) deadline_ = start_ + *machine.timeout_seconds * 1'000'000;
    transitions_ = checkpoint.transitions;
    next_event_id_ = checkpoint.next_event_id;
    if (checkpoint.variables.IsObject()) top_scope_.vars = checkpoint.variables;
    Outcome<JsonValue> out = MakeError(kErrRuntime, "not run");
    if (const State* s = machine.Find(checkpoint.next_state)) {
      out = RunMachine(machine, s, checkpoint.input, top_scope_, true);
    } else {
      out = MakeError(kErrRuntime,
                      "Cannot resume: '" + checkpoint.next_state + "' is not a top-level state");
    }
    return Finish(std::move(out));
  }

 private:
  ExecutionResult Finish(Outcome<JsonValue> out) {
    ExecutionResult result;
    if (out.ok()) {
      result.status = ExecutionStatus::kSucceeded;
      result.output = std::move(out).value();
      JsonValue d = JsonValue::Object();
      d.Set("output", JsonValue::String(result.output.Serialize()));
      Emit("ExecutionSucceeded", "executionSucceededEventDetails", std::move(d));
    } else {
      result.status = end_status_;
      result.error = out.error().error;
      result.cause = out.error().cause;
      JsonValue d = JsonValue::Object();
      d.Set("error", JsonValue::String(result.error));
      d.Set("cause", JsonValue::String(result.cause));
      switch (end_status_) {
        case ExecutionStatus::kTimedOut:
          Emit("ExecutionTimedOut", "executionTimedOutEventDetails", std::move(d));
          break;
        case ExecutionStatus::kAborted:
          Emit("ExecutionAborted", "executionAbortedEventDetails", std::move(d));
          break;
        default: Emit("ExecutionFailed", "executionFailedEventDetails", std::move(d)); break;
      }
    }
    result.history = std::move(history_);
    return result;
  }

  void Emit(std::string type, std::string key, JsonValue details) {
    HistoryEvent e;
    e.id = next_event_id_++;
    e.previous_event_id = e.id - 1;
    e.timestamp_micros = options_.clock->NowMicros();
    e.type = std::move(type);
    e.details_key = std::move(key);
    e.details = std::move(details);
    if (options_.observer != nullptr) options_.observer->OnEvent(e);
    if (options_.keep_history) history_.push_back(std::move(e));
  }

  // Asks the observer whether the execution should stop; when so, aborts it. True = stop now.
  bool StopRequested() {
    if (aborted_) return true;
    if (options_.observer == nullptr) return false;
    std::optional<StateError> stop = options_.observer->StopRequested();
    if (!stop) return false;
    Abort(std::move(*stop), ExecutionStatus::kAborted);
    return true;
  }

  StateError Abort(StateError error, ExecutionStatus status) {
    aborted_ = true;
    end_status_ = status;
    abort_error_ = error;
    return error;
  }

  // Sleeps, but not past the execution deadline. False when the execution timed out or was
  // stopped meanwhile.
  bool SleepUntil(int64_t when) {
    if (deadline_ && when > *deadline_) {
      options_.sleeper->SleepUntil(*deadline_);
      if (StopRequested()) return false;
      Abort(MakeError(kErrTimeout, "The execution timed out"), ExecutionStatus::kTimedOut);
      return false;
    }
    options_.sleeper->SleepUntil(when);
    return !StopRequested();
  }

  JsonValue Context(const State& s, int64_t retry_count) const {
    // Nothing in the state can read it (State::reads_context): skip the copy of the input.
    if (!s.reads_context) return JsonValue::Object();
    JsonValue exec = JsonValue::Object();
    exec.Set("Id", JsonValue::String(!options_.execution_arn.empty()
                                         ? options_.execution_arn
                                         : "arn:aws:states:us-east-1:000000000000:execution:" +
                                               options_.state_machine_name + ":" +
                                               options_.execution_name));
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
    sm.Set("Id", JsonValue::String(!options_.state_machine_arn.empty()
                                       ? options_.state_machine_arn
                                       : "arn:aws:states:us-east-1:000000000000:stateMachine:" +
                                             options_.state_machine_name));
    sm.Set("Name", JsonValue::String(options_.state_machine_name));
    JsonValue ctx = JsonValue::Object();
    ctx.Set("Execution", std::move(exec));
    ctx.Set("State", std::move(state));
    ctx.Set("StateMachine", std::move(sm));
    return ctx;
  }

  // --- Expressions ---------------------------------------------------------------------------

  // A Path that may start at a variable ($name...), the context ($$...) or the data ($...).
  std::optional<JsonValue> Resolve(const DataPath& p, const JsonValue& data,
                                   const JsonValue& ctx) const {
    if (!p.variable.empty()) {
      const JsonValue* v = scope_->Find(p.variable);
      if (v == nullptr) return std::nullopt;
      return p.path.Evaluate(*v);
    }
    return p.path.Evaluate(p.path.is_context() ? ctx : data);
  }

  // An intrinsic call; variable arguments read the visible variables (see
  // RewriteIntrinsicVariables).
  Outcome<JsonValue> Intrinsic(const std::string& text, const JsonValue& input,
                               const JsonValue& ctx) {
    bool uses_variables = false;
    std::string rewritten = RewriteIntrinsicVariables(text, &uses_variables);
    if (!uses_variables) {
      IntrinsicEnv env{&input, &ctx, &rng_};
      return EvaluateIntrinsic(text, env);
    }
    JsonValue vars = JsonValue::Object();
    std::vector<const Scope*> chain;
    for (const Scope* s = scope_; s != nullptr; s = s->parent) chain.push_back(s);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {  // inner scopes win
      for (size_t i = 0; i < (*it)->vars.keys().size(); ++i) {
        vars.Set((*it)->vars.keys()[i], (*it)->vars.items()[i]);
      }
    }
    JsonValue with_vars = ctx;
    with_vars.Set(kIntrinsicVariablesKey, std::move(vars));
    IntrinsicEnv env{&input, &with_vars, &rng_};
    return EvaluateIntrinsic(rewritten, env);
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
        WF_ASSIGN_OR_RAISE(JsonValue v, Intrinsic(text, input, ctx));
        out.Set(name, std::move(v));
        continue;
      }
      Result<DataPath> path = ParseDataPath(text);
      if (!path.ok()) return MakeError(kErrParameterPathFailure, path.status().message());
      std::optional<JsonValue> v = Resolve(*path, input, ctx);
      if (!v) {
        std::string where = path->variable.empty() ? "the input '" + Truncated(input) + "'"
                                                   : "the variable '" + path->variable + "'";
        return MakeError(kErrParameterPathFailure, "The JSONPath '" + text +
                                                       "' specified for the field '" + key +
                                                       "' could not be found in " + where);
      }
      out.Set(name, std::move(*v));
    }
    return out;
  }

  // The $states variable of JSONata expressions.
  static JsonValue StatesVar(const JsonValue& input, const JsonValue& ctx,
                             const JsonValue* result = nullptr,
                             const JsonValue* error_output = nullptr) {
    JsonValue states = JsonValue::Object();
    states.Set("input", input);
    if (result != nullptr) states.Set("result", *result);
    if (error_output != nullptr) states.Set("errorOutput", *error_output);
    states.Set("context", ctx);
    return states;
  }

  // Evaluates a JSONata template (any JSON with "{% %}" strings) with the visible variables and
  // $states. Expressions see no bare input: `$` is null, data comes through $states.
  Outcome<JsonValue> Jsonata(const JsonValue& tpl, std::string_view field,
                             const JsonValue& states) {
    JsonataBindings bindings;
    std::vector<const Scope*> chain;
    for (const Scope* s = scope_; s != nullptr; s = s->parent) chain.push_back(s);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {  // inner scopes win
      const JsonValue& vars = (*it)->vars;
      for (size_t i = 0; i < vars.keys().size(); ++i) {
        bindings.insert_or_assign(vars.keys()[i], vars.items()[i]);
      }
    }
    bindings.insert_or_assign("states", states);
    JsonataOptions o;
    o.clock = options_.clock;
    o.rng = &rng_;
    Outcome<JsonValue> out = EvaluateJsonataTemplate(tpl, JsonValue::Null(), bindings, o);
    if (out.ok()) return out;
    // The evaluator names the pointer inside the template ("/a/0: ..."); prefix the field.
    std::string cause = out.error().cause;
    if (cause.starts_with("/: ")) {
      cause = std::string(field) + cause.substr(1);
    } else if (cause.starts_with("/")) {
      cause = std::string(field) + cause;
    }
    return MakeError(out.error().error, std::move(cause));
  }

  // A JSONata field that must produce an integer in [min, kMaxDurationSeconds].
  Outcome<int64_t> JsonataSeconds(const JsonValue& expr, std::string_view field,
                                  const JsonValue& states, int64_t min) {
    WF_ASSIGN_OR_RAISE(JsonValue v, Jsonata(expr, field, states));
    if (!v.IsIntegral() || v.AsInt() < min || v.AsInt() > kMaxDurationSeconds) {
      return MakeError(kErrJsonataQueryEvaluation,
                       std::string(field) + ": the expression must give an integer from " +
                           std::to_string(min) + " to " + std::to_string(kMaxDurationSeconds) +
                           ", got " + Truncated(v));
    }
    return v.AsInt();
  }

  // Assign of a state: JSONPath templates see `data` as `$`; JSONata ones see `states`. Every
  // value reads the variables as they were when the state was entered: nothing is stored here.
  Outcome<JsonValue> EvalAssign(const std::optional<JsonValue>& assign, const State& s,
                                const JsonValue& data, const JsonValue& ctx,
                                const JsonValue& states) {
    if (!assign) return JsonValue::Object();
    if (s.query_language == QueryLanguage::kJsonata) return Jsonata(*assign, "Assign", states);
    return EvalTemplate(*assign, data, ctx);
  }

  // Stores a state's assignments in the current scope, within the AWS size limits.
  Outcome<bool> StoreAssigned(const State& s, const JsonValue& assigned) {
    size_t total = 0;
    for (size_t i = 0; i < assigned.keys().size(); ++i) {
      size_t size = assigned.items()[i].Serialize().size();
      total += size;
      if (size > kMaxPayloadBytes || total > kMaxPayloadBytes) {
        return MakeError(kErrDataLimitExceeded, "The variables assigned by state '" + s.name +
                                                    "' exceed " + std::to_string(kMaxPayloadBytes) +
                                                    " bytes (variable '" + assigned.keys()[i] +
                                                    "')");
      }
    }
    for (size_t i = 0; i < assigned.keys().size(); ++i) {
      scope_->vars.Set(assigned.keys()[i], assigned.items()[i]);
    }
    return true;
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

  // What a Task/Parallel/Map attempt produces: the state output and its assignments.
  struct Produced {
    JsonValue output;
    JsonValue assigned;
  };

  // The end of a Task, Parallel or Map: JSONPath ResultSelector -> Assign -> ResultPath ->
  // OutputPath, or JSONata Assign and Output over $states.result.
  Outcome<Produced> FinishResult(const State& s, const JsonValue& raw_input, JsonValue result,
                                 const JsonValue& ctx) {
    if (s.query_language == QueryLanguage::kJsonata) {
      JsonValue states = StatesVar(raw_input, ctx, &result);
      WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(s.assign, s, result, ctx, states));
      JsonValue out = result;
      if (s.output) {
        WF_ASSIGN_OR_RAISE(out, Jsonata(*s.output, "Output", states));
      }
      return Produced{std::move(out), std::move(assigned)};
    }
    if (s.result_selector) {
      WF_ASSIGN_OR_RAISE(result, EvalTemplate(*s.result_selector, result, ctx));
    }
    WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(s.assign, s, result, ctx, JsonValue()));
    WF_ASSIGN_OR_RAISE(JsonValue combined, ApplyResultPath(s.result_path, raw_input, result));
    WF_ASSIGN_OR_RAISE(JsonValue out, SelectPath(s.output_path, "OutputPath", combined, ctx));
    return Produced{std::move(out), std::move(assigned)};
  }

  // Output of a state without a result (Pass/Choice/Wait/Succeed): JSONPath OutputPath over the
  // effective input, or JSONata Output (default: the state input).
  Outcome<JsonValue> PlainOutput(const State& s, const std::optional<JsonValue>& output,
                                 const JsonValue& in, const JsonValue& ctx,
                                 const JsonValue& states) {
    if (s.query_language == QueryLanguage::kJsonata) {
      if (!output) return in;
      return Jsonata(*output, "Output", states);
    }
    return SelectPath(s.output_path, "OutputPath", in, ctx);
  }

  // --- Machines ------------------------------------------------------------------------------

  // Runs `m` from state `s` until a terminal state. Top-level runs report checkpoints.
  Outcome<JsonValue> RunMachine(const StateMachine& m, const State* s, JsonValue data, Scope& scope,
                                bool top_level) {
    Scope* outer_scope = scope_;
    scope_ = &scope;
    struct Restore {
      Scope*& slot;
      Scope* value;
      ~Restore() { slot = value; }
    } restore{scope_, outer_scope};
    while (true) {
      if (StopRequested()) return abort_error_;
      if (++transitions_ > options_.max_state_transitions) {
        return Abort(MakeError(kErrRuntime, "The execution exceeded " +
                                                std::to_string(options_.max_state_transitions) +
                                                " state transitions"),
                     ExecutionStatus::kFailed);
      }
      if (deadline_ && options_.clock->NowMicros() > *deadline_) {
        return Abort(MakeError(kErrTimeout, "The execution timed out"), ExecutionStatus::kTimedOut);
      }
      std::string type(StateTypeName(s->type));
      JsonValue entered = JsonValue::Object();
      entered.Set("name", JsonValue::String(s->name));
      entered.Set("input", JsonValue::String(data.Serialize()));
      Emit(type + "StateEntered", "stateEnteredEventDetails", std::move(entered));
      Outcome<Step> step = RunState(*s, data);
      if (aborted_) return abort_error_;
      if (!step.ok()) return step.error();
      Step st = std::move(step).value();
      if (st.output.Serialize().size() > kMaxPayloadBytes) {
        return MakeError(kErrDataLimitExceeded, "The state/task '" + s->name +
                                                    "' returned a result with a size exceeding "
                                                    "the maximum number of bytes service limit.");
      }
      JsonValue exited = JsonValue::Object();
      exited.Set("name", JsonValue::String(s->name));
      exited.Set("output", JsonValue::String(st.output.Serialize()));
      if (st.assigned.IsObject() && !st.assigned.keys().empty()) {
        WF_ASSIGN_OR_RAISE(bool stored, StoreAssigned(*s, st.assigned));
        (void)stored;
        JsonValue shown = JsonValue::Object();
        for (size_t i = 0; i < st.assigned.keys().size(); ++i) {
          shown.Set(st.assigned.keys()[i], JsonValue::String(st.assigned.items()[i].Serialize()));
        }
        exited.Set("assignedVariables", std::move(shown));
        JsonValue details = JsonValue::Object();
        details.Set("truncated", JsonValue::Bool(false));
        exited.Set("assignedVariablesDetails", std::move(details));
      }
      Emit(type + "StateExited", "stateExitedEventDetails", std::move(exited));
      if (st.end) return std::move(st.output);
      s = m.Find(st.next);
      data = std::move(st.output);
      if (top_level && options_.observer != nullptr) {
        Checkpoint checkpoint;
        checkpoint.next_state = s->name;
        checkpoint.input = data;
        checkpoint.variables = scope.vars;
        checkpoint.transitions = transitions_;
        checkpoint.next_event_id = next_event_id_;
        options_.observer->OnCheckpoint(checkpoint);
      }
    }
  }

  Outcome<Step> RunState(const State& s, const JsonValue& raw) {
    switch (s.type) {
      case StateType::kPass: return RunPass(s, raw);
      case StateType::kSucceed: {
        JsonValue ctx = Context(s, 0);
        if (s.query_language == QueryLanguage::kJsonata) {
          WF_ASSIGN_OR_RAISE(JsonValue out,
                             PlainOutput(s, s.output, raw, ctx, StatesVar(raw, ctx)));
          return Step{std::move(out), "", true};
        }
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
    if (s.query_language == QueryLanguage::kJsonata) {
      JsonValue states = StatesVar(raw, ctx);
      WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(s.assign, s, raw, ctx, states));
      WF_ASSIGN_OR_RAISE(JsonValue out, PlainOutput(s, s.output, raw, ctx, states));
      return Step{std::move(out), s.next, s.end, std::move(assigned)};
    }
    WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
    JsonValue result = in;
    if (s.parameters) {
      WF_ASSIGN_OR_RAISE(result, EvalTemplate(*s.parameters, in, ctx));
    }
    if (s.result) result = *s.result;
    WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(s.assign, s, result, ctx, JsonValue()));
    WF_ASSIGN_OR_RAISE(JsonValue combined, ApplyResultPath(s.result_path, raw, std::move(result)));
    WF_ASSIGN_OR_RAISE(JsonValue out, SelectPath(s.output_path, "OutputPath", combined, ctx));
    return Step{std::move(out), s.next, s.end, std::move(assigned)};
  }

  Outcome<Step> RunFail(const State& s, const JsonValue& raw) {
    JsonValue ctx = Context(s, 0);
    if (s.query_language == QueryLanguage::kJsonata) {
      JsonValue states = StatesVar(raw, ctx);
      auto text = [&](const std::optional<std::string>& field,
                      const char* name) -> Outcome<std::string> {
        if (!field) return std::string();
        if (!IsJsonataTemplateString(*field)) return *field;
        WF_ASSIGN_OR_RAISE(JsonValue v, Jsonata(JsonValue::String(*field), name, states));
        if (!v.IsString()) {
          return MakeError(
              kErrJsonataQueryEvaluation,
              std::string(name) + ": the expression must give a string, got " + Truncated(v));
        }
        return v.AsString();
      };
      WF_ASSIGN_OR_RAISE(std::string error, text(s.error, "Error"));
      WF_ASSIGN_OR_RAISE(std::string cause, text(s.cause, "Cause"));
      return MakeError(error, cause);
    }
    auto dynamic = [&](const std::optional<std::string>& text,
                       const char* field) -> Outcome<std::string> {
      if (IntrinsicCall::Looks(*text)) {
        WF_ASSIGN_OR_RAISE(JsonValue v, Intrinsic(*text, raw, ctx));
        if (!v.IsString()) return MakeError(kErrRuntime, std::string(field) + " must be a string");
        return v.AsString();
      }
      Result<DataPath> path = ParseDataPath(*text);
      std::optional<JsonValue> v = path.ok() ? Resolve(*path, raw, ctx) : std::nullopt;
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

  Outcome<bool> Evaluate(const ChoiceRule& rule, const JsonValue& in, const JsonValue& ctx,
                         const JsonValue& states) {
    switch (rule.kind) {
      case ChoiceRule::Kind::kAnd:
        for (const ChoiceRule& c : rule.children) {
          WF_ASSIGN_OR_RAISE(bool v, Evaluate(c, in, ctx, states));
          if (!v) return false;
        }
        return true;
      case ChoiceRule::Kind::kOr:
        for (const ChoiceRule& c : rule.children) {
          WF_ASSIGN_OR_RAISE(bool v, Evaluate(c, in, ctx, states));
          if (v) return true;
        }
        return false;
      case ChoiceRule::Kind::kNot: {
        WF_ASSIGN_OR_RAISE(bool v, Evaluate(rule.children[0], in, ctx, states));
        return !v;
      }
      case ChoiceRule::Kind::kCondition: {
        WF_ASSIGN_OR_RAISE(JsonValue v, Jsonata(rule.condition, "Condition", states));
        if (!v.IsBool()) {
          return MakeError(
              kErrJsonataQueryEvaluation,
              "Condition: the expression must give true or false, got " + Truncated(v));
        }
        return v.AsBool();
      }
      case ChoiceRule::Kind::kCompare: break;
    }
    const DataPath& var = *rule.variable;
    std::optional<JsonValue> value = Resolve(var, in, ctx);
    std::string_view op = rule.op;
    if (op == "IsPresent") return value.has_value() == rule.operand.AsBool();
    if (!value) {
      return MakeError(kErrRuntime, "Invalid path '" + var.text +
                                        "': The choice state's condition path references an "
                                        "invalid value.");
    }
    JsonValue operand = rule.operand;
    if (rule.operand_path) {
      const DataPath& p = *rule.operand_path;
      std::optional<JsonValue> o = Resolve(p, in, ctx);
      if (!o) {
        return MakeError(kErrRuntime, "Invalid path '" + p.text +
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
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    JsonValue in = raw;
    if (!jsonata) {
      WF_ASSIGN_OR_RAISE(in, SelectPath(s.input_path, "InputPath", raw, ctx));
    }
    JsonValue states = jsonata ? StatesVar(raw, ctx) : JsonValue();
    // The matching rule's Output/Assign apply; the state's own ones only when Default is taken.
    const ChoiceRule* matched = nullptr;
    for (const ChoiceRule& rule : s.choices) {
      WF_ASSIGN_OR_RAISE(bool is_match, Evaluate(rule, in, ctx, states));
      if (is_match) {
        matched = &rule;
        break;
      }
    }
    std::string next = matched != nullptr ? matched->next : s.default_next;
    if (next.empty()) {
      return MakeError(kErrNoChoiceMatched,
                       "No Choice rule matched and no Default in state '" + s.name + "'");
    }
    const std::optional<JsonValue>& assign = matched != nullptr ? matched->assign : s.assign;
    const std::optional<JsonValue>& output = matched != nullptr ? matched->output : s.output;
    WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(assign, s, in, ctx, states));
    WF_ASSIGN_OR_RAISE(JsonValue out, PlainOutput(s, output, in, ctx, states));
    return Step{std::move(out), next, false, std::move(assigned)};
  }

  // --- Wait ---------------------------------------------------------------------------------

  Outcome<Step> RunWait(const State& s, const JsonValue& raw) {
    JsonValue ctx = Context(s, 0);
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    JsonValue in = raw;
    if (!jsonata) {
      WF_ASSIGN_OR_RAISE(in, SelectPath(s.input_path, "InputPath", raw, ctx));
    }
    JsonValue states = jsonata ? StatesVar(raw, ctx) : JsonValue();
    int64_t now = options_.clock->NowMicros();
    int64_t until = now;
    if (s.seconds) until = now + *s.seconds * 1'000'000;
    if (s.timestamp_micros) until = *s.timestamp_micros;
    if (s.seconds_expr) {
      WF_ASSIGN_OR_RAISE(int64_t seconds, JsonataSeconds(*s.seconds_expr, "Seconds", states, 0));
      until = now + seconds * 1'000'000;
    }
    if (s.timestamp_expr) {
      WF_ASSIGN_OR_RAISE(JsonValue v, Jsonata(*s.timestamp_expr, "Timestamp", states));
      std::optional<int64_t> t = v.IsString() ? ParseAslTimestamp(v.AsString()) : std::nullopt;
      if (!t) {
        return MakeError(
            kErrJsonataQueryEvaluation,
            "Timestamp: the expression must give an RFC 3339 timestamp, got " + Truncated(v));
      }
      until = *t;
    }
    if (s.seconds_path) {
      std::optional<JsonValue> v = Resolve(*s.seconds_path, in, ctx);
      if (!v || !v->IsIntegral() || v->AsInt() < 0 || v->AsInt() > kMaxDurationSeconds) {
        return MakeError(kErrRuntime, "SecondsPath '" + s.seconds_path->text +
                                          "' must select an integer from 0 to " +
                                          std::to_string(kMaxDurationSeconds));
      }
      until = now + v->AsInt() * 1'000'000;
    }
    if (s.timestamp_path) {
      std::optional<JsonValue> v = Resolve(*s.timestamp_path, in, ctx);
      std::optional<int64_t> t =
          v && v->IsString() ? ParseAslTimestamp(v->AsString()) : std::nullopt;
      if (!t) {
        return MakeError(kErrRuntime, "TimestampPath '" + s.timestamp_path->text +
                                          "' must select an RFC 3339 timestamp");
      }
      until = *t;
    }
    // Assign and Output read the state's input, so they can be computed before the wait.
    WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(s.assign, s, in, ctx, states));
    WF_ASSIGN_OR_RAISE(JsonValue out, PlainOutput(s, s.output, in, ctx, states));
    if (!SleepUntil(until)) return abort_error_;
    return Step{std::move(out), s.next, s.end, std::move(assigned)};
  }

  // --- Task / Parallel / Map with Retry and Catch -------------------------------------------

  Outcome<Step> RunWithRetry(const State& s, const JsonValue& raw) {
    std::vector<int64_t> counters(s.retry.size(), 0);  // one per retrier, for this state visit
    int64_t attempt = 0;
    while (true) {
      JsonValue ctx = Context(s, attempt);
      Outcome<Produced> out = Attempt(s, raw, ctx, attempt);
      if (aborted_) return abort_error_;
      if (out.ok()) {
        Produced p = std::move(out).value();
        return Step{std::move(p.output), s.next, s.end, std::move(p.assigned)};
      }
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
        return Catch(s, c, raw, ctx, err);
      }
      return err;
    }
  }

  // A matching Catcher: JSONPath puts the error output at ResultPath; JSONata's Output (default
  // the error output) replaces the state output. Assign sees the error output.
  Outcome<Step> Catch(const State& s, const Catcher& c, const JsonValue& raw, const JsonValue& ctx,
                      const StateError& err) {
    JsonValue error_output = JsonValue::Object();
    error_output.Set("Error", JsonValue::String(err.error));
    error_output.Set("Cause", JsonValue::String(err.cause));
    if (s.query_language == QueryLanguage::kJsonata) {
      JsonValue states = StatesVar(raw, ctx, nullptr, &error_output);
      WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(c.assign, s, error_output, ctx, states));
      JsonValue out = error_output;
      if (c.output) {
        WF_ASSIGN_OR_RAISE(out, Jsonata(*c.output, "Output", states));
      }
      return Step{std::move(out), c.next, false, std::move(assigned)};
    }
    WF_ASSIGN_OR_RAISE(JsonValue assigned, EvalAssign(c.assign, s, error_output, ctx, JsonValue()));
    WF_ASSIGN_OR_RAISE(JsonValue caught,
                       ApplyResultPath(c.result_path, raw, std::move(error_output)));
    return Step{std::move(caught), c.next, false, std::move(assigned)};
  }

  Outcome<Produced> Attempt(const State& s, const JsonValue& raw, const JsonValue& ctx,
                            int64_t attempt) {
    if (s.query_language == QueryLanguage::kJsonata) {
      if (s.type == StateType::kMap) return RunMap(s, raw, raw, ctx, attempt);
      JsonValue args = raw;
      if (s.arguments) {
        WF_ASSIGN_OR_RAISE(args, Jsonata(*s.arguments, "Arguments", StatesVar(raw, ctx)));
      }
      if (s.type == StateType::kParallel) return RunParallel(s, raw, args, ctx);
      return RunTask(s, raw, std::move(args), ctx, attempt);
    }
    WF_ASSIGN_OR_RAISE(JsonValue in, SelectPath(s.input_path, "InputPath", raw, ctx));
    if (s.type == StateType::kMap) return RunMap(s, raw, in, ctx, attempt);
    JsonValue effective = in;
    if (s.parameters) {
      WF_ASSIGN_OR_RAISE(effective, EvalTemplate(*s.parameters, in, ctx));
    }
    if (s.type == StateType::kParallel) return RunParallel(s, raw, effective, ctx);
    return RunTask(s, raw, std::move(effective), ctx, attempt);
  }

  // Task TimeoutSeconds/HeartbeatSeconds from a literal, a JSONPath path or a JSONata expression.
  Outcome<std::optional<int64_t>> TaskSeconds(const std::optional<int64_t>& literal,
                                              const std::optional<DataPath>& path,
                                              const std::optional<JsonValue>& expr,
                                              const char* field, const JsonValue& raw,
                                              const JsonValue& ctx) {
    if (expr) {
      WF_ASSIGN_OR_RAISE(int64_t v, JsonataSeconds(*expr, field, StatesVar(raw, ctx), 1));
      return std::optional<int64_t>(v);
    }
    if (!path) return literal;
    std::optional<JsonValue> v = Resolve(*path, raw, ctx);
    if (!v || !v->IsIntegral() || v->AsInt() <= 0 || v->AsInt() > kMaxDurationSeconds) {
      return MakeError(kErrRuntime, std::string(field) + "Path '" + path->text +
                                        "' must select an integer from 1 to " +
                                        std::to_string(kMaxDurationSeconds));
    }
    return std::optional<int64_t>(v->AsInt());
  }

  // Calls the task runner with history events, stop polling and the timeout checks.
  Outcome<JsonValue> CallRunner(const State& s, const TaskRequest& req) {
    JsonValue scheduled = JsonValue::Object();
    scheduled.Set("resource", JsonValue::String(req.resource));
    scheduled.Set("parameters", JsonValue::String(req.input.Serialize()));
    if (req.timeout_seconds)
      scheduled.Set("timeoutInSeconds", JsonValue::Int(*req.timeout_seconds));
    if (req.heartbeat_seconds) {
      scheduled.Set("heartbeatInSeconds", JsonValue::Int(*req.heartbeat_seconds));
    }
    Emit("TaskScheduled", "taskScheduledEventDetails", std::move(scheduled));
    JsonValue started = JsonValue::Object();
    started.Set("resource", JsonValue::String(req.resource));
    Emit("TaskStarted", "taskStartedEventDetails", std::move(started));

    int64_t t0 = options_.clock->NowMicros();
    Outcome<JsonValue> out =
        options_.task_runner != nullptr
            ? options_.task_runner->Run(req)
            : Outcome<JsonValue>(MakeError(kErrTaskFailed, "no TaskRunner configured"));
    if (StopRequested()) return abort_error_;
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
      d.Set("resource", JsonValue::String(req.resource));
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
      d.Set("resource", JsonValue::String(req.resource));
      d.Set("error", JsonValue::String(out.error().error));
      d.Set("cause", JsonValue::String(out.error().cause));
      Emit("TaskFailed", "taskFailedEventDetails", std::move(d));
      return out.error();
    }
    JsonValue d = JsonValue::Object();
    d.Set("resource", JsonValue::String(req.resource));
    d.Set("output", JsonValue::String(out.value().Serialize()));
    Emit("TaskSucceeded", "taskSucceededEventDetails", std::move(d));
    return out;
  }

  Outcome<Produced> RunTask(const State& s, const JsonValue& raw, JsonValue params,
                            const JsonValue& ctx, int64_t attempt) {
    TaskRequest req;
    req.resource = s.resource;
    req.state_name = s.name;
    req.attempt = attempt;
    WF_ASSIGN_OR_RAISE(req.timeout_seconds,
                       TaskSeconds(s.timeout_seconds, s.timeout_seconds_path,
                                   s.timeout_seconds_expr, "TimeoutSeconds", raw, ctx));
    WF_ASSIGN_OR_RAISE(req.heartbeat_seconds,
                       TaskSeconds(s.heartbeat_seconds, s.heartbeat_seconds_path,
                                   s.heartbeat_seconds_expr, "HeartbeatSeconds", raw, ctx));
    req.input = std::move(params);
    WF_ASSIGN_OR_RAISE(JsonValue result, CallRunner(s, req));
    return FinishResult(s, raw, std::move(result), ctx);
  }

  Outcome<Produced> RunParallel(const State& s, const JsonValue& raw, const JsonValue& in,
                                const JsonValue& ctx) {
    Emit("ParallelStateStarted", "", JsonValue());
    JsonValue results = JsonValue::Array();
    for (const auto& branch : s.branches) {
      Scope branch_scope{JsonValue::Object(), scope_};
      Outcome<JsonValue> out =
          RunMachine(*branch, branch->Find(branch->start_at), in, branch_scope, false);
      if (aborted_) return abort_error_;
      if (!out.ok()) {
        Emit("ParallelStateFailed", "", JsonValue());
        return out.error();
      }
      results.Append(std::move(out).value());
    }
    Emit("ParallelStateSucceeded", "", JsonValue());
    return FinishResult(s, raw, std::move(results), ctx);
  }

  // ItemReader: the task runner reads the items (a JSON array); ReaderConfig.MaxItems caps them.
  Outcome<JsonValue> ReadItems(const State& s, const JsonValue& raw, const JsonValue& in,
                               const JsonValue& ctx, int64_t attempt) {
    const ItemReader& reader = *s.item_reader;
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    JsonValue states = jsonata ? StatesVar(raw, ctx) : JsonValue();
    TaskRequest req;
    req.resource = reader.resource;
    req.state_name = s.name;
    req.attempt = attempt;
    req.item_reader = true;
    req.reader_config = reader.reader_config;
    req.input = JsonValue::Object();
    if (reader.parameters) {
      if (jsonata) {
        WF_ASSIGN_OR_RAISE(req.input, Jsonata(*reader.parameters, "ItemReader/Arguments", states));
      } else {
        WF_ASSIGN_OR_RAISE(req.input, EvalTemplate(*reader.parameters, in, ctx));
      }
    }
    std::optional<int64_t> max_items;
    if (reader.max_items && reader.max_items->IsIntegral()) {
      max_items = reader.max_items->AsInt();
    } else if (reader.max_items) {
      WF_ASSIGN_OR_RAISE(JsonValue v,
                         Jsonata(*reader.max_items, "ItemReader/ReaderConfig/MaxItems", states));
      if (!v.IsIntegral() || v.AsInt() < 0 || v.AsInt() > 100'000'000) {
        return MakeError(kErrJsonataQueryEvaluation,
                         "ItemReader/ReaderConfig/MaxItems: the expression must give an integer "
                         "from 0 to 100000000, got " +
                             Truncated(v));
      }
      max_items = v.AsInt();
    } else if (reader.max_items_path) {
      std::optional<JsonValue> v = Resolve(*reader.max_items_path, in, ctx);
      if (!v || !v->IsIntegral() || v->AsInt() < 0 || v->AsInt() > 100'000'000) {
        return MakeError(kErrRuntime, "MaxItemsPath '" + reader.max_items_path->text +
                                          "' must select an integer from 0 to 100000000");
      }
      max_items = v->AsInt();
    }
    if (max_items) req.reader_config.Set("MaxItems", JsonValue::Int(*max_items));
    WF_ASSIGN_OR_RAISE(JsonValue items, CallRunner(s, req));
    if (!items.IsArray()) {
      return MakeError(kErrRuntime, "The ItemReader '" + reader.resource +
                                        "' must return a JSON array, got " +
                                        std::string(items.TypeName()));
    }
    // MaxItems 0 means no limit [unv].
    if (max_items && *max_items > 0 && items.size() > static_cast<size_t>(*max_items)) {
      items.items().resize(static_cast<size_t>(*max_items));
    }
    return items;
  }

  Outcome<Produced> RunMap(const State& s, const JsonValue& raw, const JsonValue& in,
                           const JsonValue& ctx, int64_t attempt) {
    const bool jsonata = s.query_language == QueryLanguage::kJsonata;
    JsonValue items = in;
    if (s.item_reader) {
      WF_ASSIGN_OR_RAISE(items, ReadItems(s, raw, in, ctx, attempt));
    } else if (jsonata && s.items) {
      WF_ASSIGN_OR_RAISE(items, Jsonata(*s.items, "Items", StatesVar(raw, ctx)));
    } else if (s.items_path) {
      std::optional<JsonValue> v = Resolve(*s.items_path, in, ctx);
      if (!v) {
        return MakeError(kErrRuntime, "ItemsPath '" + s.items_path->text + "' selects nothing");
      }
      items = std::move(*v);
    }
    if (!items.IsArray()) {
      return MakeError(
          jsonata ? kErrJsonataQueryEvaluation : kErrRuntime,
          "The Map state's items must be a JSON array, got " + std::string(items.TypeName()));
    }
    JsonValue started = JsonValue::Object();
    started.Set("length", JsonValue::Int(static_cast<int64_t>(items.size())));
    Emit("MapStateStarted", "mapStateStartedEventDetails", std::move(started));
    std::optional<int64_t> tolerated_count = s.tolerated_failure_count;
    std::optional<double> tolerated_pct = s.tolerated_failure_percentage;
    if (s.tolerated_failure_count_expr) {
      WF_ASSIGN_OR_RAISE(JsonValue v, Jsonata(*s.tolerated_failure_count_expr,
                                              "ToleratedFailureCount", StatesVar(raw, ctx)));
      if (!v.IsIntegral() || v.AsInt() < 0) {
        return MakeError(kErrJsonataQueryEvaluation,
                         "ToleratedFailureCount: the expression must give a non-negative "
                         "integer, got " +
                             Truncated(v));
      }
      tolerated_count = v.AsInt();
    }
    if (s.tolerated_failure_percentage_expr) {
      WF_ASSIGN_OR_RAISE(JsonValue v, Jsonata(*s.tolerated_failure_percentage_expr,
                                              "ToleratedFailurePercentage", StatesVar(raw, ctx)));
      if (!v.IsNumber() || v.AsDouble() < 0 || v.AsDouble() > 100) {
        return MakeError(kErrJsonataQueryEvaluation,
                         "ToleratedFailurePercentage: the expression must give a number from 0 "
                         "to 100, got " +
                             Truncated(v));
      }
      tolerated_pct = v.AsDouble();
    }
    // JSONPath *Path forms, read from the state input like TimeoutSecondsPath.
    auto read_number = [&](const std::optional<DataPath>& path, const char* field, double max,
                           bool integral) -> Outcome<std::optional<double>> {
      if (!path) return std::optional<double>();
      std::optional<JsonValue> v = Resolve(*path, raw, ctx);
      if (!v || !v->IsNumber() || (integral && !v->IsIntegral()) || v->AsDouble() < 0 ||
          v->AsDouble() > max) {
        return MakeError(kErrRuntime, std::string(field) + " '" + path->text + "' must select " +
                                          (integral ? "an integer" : "a number") + " from 0 to " +
                                          (max >= 1e18 ? std::string("2^63")
                                                       : Truncated(JsonValue::Double(max))));
      }
      return std::optional<double>(v->AsDouble());
    };
    // MaxConcurrency only bounds parallelism, and iterations run one at a time here: checked only.
    WF_ASSIGN_OR_RAISE(auto max_concurrency,
                       read_number(s.max_concurrency_path, "MaxConcurrencyPath", 9.2e18, true));
    (void)max_concurrency;
    WF_ASSIGN_OR_RAISE(
        auto count_from_path,
        read_number(s.tolerated_failure_count_path, "ToleratedFailureCountPath", 9.2e18, true));
    if (count_from_path) tolerated_count = static_cast<int64_t>(*count_from_path);
    WF_ASSIGN_OR_RAISE(auto pct_from_path,
                       read_number(s.tolerated_failure_percentage_path,
                                   "ToleratedFailurePercentagePath", 100, false));
    if (pct_from_path) tolerated_pct = *pct_from_path;
    JsonValue results = JsonValue::Array();
    int64_t failures = 0;
    bool tolerant = tolerated_count || tolerated_pct;
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
        if (jsonata) {
          WF_ASSIGN_OR_RAISE(item_input,
                             Jsonata(*s.item_selector, "ItemSelector", StatesVar(raw, item_ctx)));
        } else {
          WF_ASSIGN_OR_RAISE(item_input, EvalTemplate(*s.item_selector, in, item_ctx));
        }
      }
      JsonValue it = JsonValue::Object();
      it.Set("name", JsonValue::String(s.name));
      it.Set("index", JsonValue::Int(static_cast<int64_t>(i)));
      Emit("MapIterationStarted", "mapIterationStartedEventDetails", it);
      Scope item_scope{JsonValue::Object(), scope_};
      Outcome<JsonValue> out = RunMachine(*s.processor, s.processor->Find(s.processor->start_at),
                                          item_input, item_scope, false);
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
      bool over_count = tolerated_count && failures > *tolerated_count;
      double pct = 100.0 * static_cast<double>(failures) / static_cast<double>(items.size());
      bool over_pct = tolerated_pct && pct > *tolerated_pct;
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
  int64_t next_event_id_ = 1;
  bool aborted_ = false;
  ExecutionStatus end_status_ = ExecutionStatus::kFailed;  // how an error ends the execution
  StateError abort_error_;
  Scope top_scope_;
  Scope* scope_ = &top_scope_;  // the variables of the machine (or branch/iteration) running
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

ExecutionResult Interpreter::Resume(const JsonValue& execution_input, int64_t start_micros,
                                    const Checkpoint& checkpoint) {
  Execution execution(options_, rng_, execution_input);
  return execution.Resume(*machine_, start_micros, checkpoint);
}

}  // namespace basin::workflow
