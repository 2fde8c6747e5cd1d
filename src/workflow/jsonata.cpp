// JSONata evaluator: values, path/sequence semantics, operators, lambdas, and the Step Functions
// `{% ... %}` template helper. Builtin functions live in jsonata_functions.cpp.

#include "workflow/jsonata.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>

#include "workflow/jsonata_internal.h"

namespace basin::workflow {
namespace jsonata {

// ---------------------------------------------------------------------------------------------
// Values

std::optional<size_t> Object::IndexOf(std::string_view key) const {
  if (keys.size() <= kIndexedObjectSize) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return i;
    }
    return std::nullopt;
  }
  if (index_.size() != keys.size()) {
    // Built lazily (objects from FromJson fill `keys` directly); first occurrence wins.
    index_.clear();
    for (size_t i = 0; i < keys.size(); ++i) index_.emplace(keys[i], i);
  }
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

const Value* Object::Find(std::string_view key) const {
  std::optional<size_t> i = IndexOf(key);
  return i ? &values[*i] : nullptr;
}

void Object::Set(std::string_view key, Value value) {
  if (std::optional<size_t> i = IndexOf(key)) {
    values[*i] = std::move(value);
    return;
  }
  keys.emplace_back(key);
  values.push_back(std::move(value));
  if (keys.size() > kIndexedObjectSize && index_.size() + 1 == keys.size()) {
    index_.emplace(keys.back(), keys.size() - 1);  // else rebuilt on the next lookup
  }
}

Value Value::Null() {
  Value v;
  v.kind = Kind::kNull;
  return v;
}
Value Value::Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}
Value Value::Number(double d) {
  Value v;
  v.kind = Kind::kNumber;
  v.number = d;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.string = std::move(s);
  return v;
}
Value Value::MakeArray(Array items, bool is_sequence) {
  Value v;
  v.kind = Kind::kArray;
  v.sequence = is_sequence;
  uint32_t depth = 0;
  for (const Value& item : items) depth = std::max(depth, item.depth);
  v.depth = depth + 1;
  v.array = std::make_shared<const Array>(std::move(items));
  return v;
}
Value Value::MakeObject(Object object) {
  Value v;
  v.kind = Kind::kObject;
  uint32_t depth = 0;
  for (const Value& item : object.values) depth = std::max(depth, item.depth);
  v.depth = depth + 1;
  v.object = std::make_shared<const Object>(std::move(object));
  return v;
}

const Array& Value::items() const {
  static const Array kEmpty;
  return array ? *array : kEmpty;
}

Value Sequence(Array items) { return Value::MakeArray(std::move(items), true); }

Array ToArray(const Value& value) {
  if (value.IsUndefined()) return {};
  if (value.IsArray()) return value.items();
  return {value};
}

int Function::Arity() const {
  if (lambda != nullptr) return static_cast<int>(lambda->params.size());
  if (compose_first) return compose_first->function->Arity();
  if (partial_target) {
    return static_cast<int>(std::count(partial_args.begin(), partial_args.end(), std::nullopt));
  }
  if (builtin == nullptr) return 1;  // regex
  // Higher-order functions pass a builtin only its required arguments ($map(xs, $string)).
  return std::max(1, builtin->min_args);
}

Value FromJson(const JsonValue& json) {
  switch (json.kind()) {
    case JsonValue::Kind::kNull: return Value::Null();
    case JsonValue::Kind::kBool: return Value::Bool(json.AsBool());
    case JsonValue::Kind::kInt:
    case JsonValue::Kind::kDouble: return Value::Number(json.AsDouble());
    case JsonValue::Kind::kString: return Value::String(json.AsString());
    case JsonValue::Kind::kArray: {
      Array items;
      items.reserve(json.size());
      for (const JsonValue& item : json.items()) items.push_back(FromJson(item));
      return Value::MakeArray(std::move(items));
    }
    case JsonValue::Kind::kObject: {
      Object object;
      object.keys = json.keys();
      object.values.reserve(json.items().size());
      for (const JsonValue& item : json.items()) object.values.push_back(FromJson(item));
      return Value::MakeObject(std::move(object));
    }
  }
  return Value();
}

JsonValue ToJson(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull:
    case Value::Kind::kFunction: return JsonValue::Null();
    case Value::Kind::kBool: return JsonValue::Bool(value.boolean);
    case Value::Kind::kNumber: {
      double d = value.number;
      if (!std::isfinite(d)) return JsonValue::Null();  // operators and functions reject these
      if (std::nearbyint(d) == d && std::fabs(d) < 9.2e18) {
        return JsonValue::Int(static_cast<int64_t>(d));
      }
      return JsonValue::Double(d);
    }
    case Value::Kind::kString: return JsonValue::String(value.string);
    case Value::Kind::kArray: {
      std::vector<JsonValue> items;
      items.reserve(value.items().size());
      for (const Value& item : value.items()) {
        if (!item.IsUndefined()) items.push_back(ToJson(item));
      }
      return JsonValue::Array(std::move(items));
    }
    case Value::Kind::kObject: {
      JsonValue out = JsonValue::Object();
      for (size_t i = 0; i < value.object->keys.size(); ++i) {
        const Value& v = value.object->values[i];
        if (v.IsUndefined() || v.IsFunction()) continue;
        out.Set(value.object->keys[i], ToJson(v));
      }
      return out;
    }
  }
  return JsonValue::Null();
}

bool DeepEqual(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull: return true;
    case Value::Kind::kBool: return a.boolean == b.boolean;
    case Value::Kind::kNumber: return a.number == b.number;
    case Value::Kind::kString: return a.string == b.string;
    case Value::Kind::kFunction: return a.function == b.function;
    case Value::Kind::kArray: {
      const Array& x = a.items();
      const Array& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!DeepEqual(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kObject: {
      if (a.object->keys.size() != b.object->keys.size()) return false;
      for (size_t i = 0; i < a.object->keys.size(); ++i) {
        const Value* other = b.object->Find(a.object->keys[i]);
        if (other == nullptr || !DeepEqual(a.object->values[i], *other)) return false;
      }
      return true;
    }
  }
  return false;
}

std::optional<bool> ToBoolean(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined: return std::nullopt;
    case Value::Kind::kNull:
    case Value::Kind::kFunction: return false;
    case Value::Kind::kBool: return value.boolean;
    case Value::Kind::kNumber: return value.number != 0;
    case Value::Kind::kString: return !value.string.empty();
    case Value::Kind::kObject: return !value.object->keys.empty();
    case Value::Kind::kArray: {
      const Array& items = value.items();
      if (items.size() == 1) return ToBoolean(items[0]).value_or(false);
      for (const Value& item : items) {
        if (ToBoolean(item).value_or(false)) return true;
      }
      return false;
    }
  }
  return false;
}

std::string_view TypeName(const Value& value) {
  switch (value.kind) {
    case Value::Kind::kUndefined: return "undefined";
    case Value::Kind::kNull: return "null";
    case Value::Kind::kBool: return "boolean";
    case Value::Kind::kNumber: return "number";
    case Value::Kind::kString: return "string";
    case Value::Kind::kArray: return "array";
    case Value::Kind::kObject: return "object";
    case Value::Kind::kFunction: return "function";
  }
  return "undefined";
}

std::string FormatNumber(double d) {
  if (d == 0) return "0";
  // toPrecision(15), then JavaScript's Number->String: fixed notation for 1e-7 <= |d| < 1e21.
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.14e", d);
  std::string s(buf);
  size_t e = s.find('e');
  int exponent = std::atoi(s.c_str() + e + 1);
  std::string mantissa = s.substr(0, e);
  bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= 21 || exponent < -6) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exponent < 0 ? "e-" : "e+";
    out += std::to_string(std::abs(exponent));
  } else if (exponent < 0) {
    out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else if (static_cast<int>(digits.size()) <= exponent + 1) {
    out += digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0');
  } else {
    out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
  }
  return out;
}

const Value* Frame::Lookup(const std::string& name) const {
  for (const Frame* f = this; f != nullptr; f = f->parent.get()) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return &it->second;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Evaluator

Evaluator::Evaluator(const JsonataOptions& options, const Value& root)
    : options_(options), root_(root) {}

Evaluator::~Evaluator() {
  // Every frame a lambda holds is kept alive by this list, so clearing them one by one never
  // recurses down a long chain of closures.
  for (auto& frame : captured_frames_) {
    frame->vars.clear();
    frame->parent.reset();
  }
}

std::shared_ptr<Frame> Evaluator::NewFrame(std::shared_ptr<Frame> parent) {
  auto frame = std::make_shared<Frame>();
  frame->parent = std::move(parent);
  return frame;
}

int64_t Evaluator::NowMillis() {
  if (!now_millis_) {
    const Clock& clock = options_.clock ? *options_.clock : SystemClock::Instance();
    now_millis_ = clock.NowMillis();
  }
  return *now_millis_;
}

std::mt19937_64& Evaluator::Rng() {
  if (options_.rng) return *options_.rng;
  if (!own_rng_) own_rng_ = std::make_unique<std::mt19937_64>(std::random_device{}());
  return *own_rng_;
}

StateError Evaluator::Fail(const Node* node, std::string_view code,
                           std::string_view message) const {
  std::string cause(code);
  cause += ": ";
  cause += message;
  if (node != nullptr) cause += " (at position " + std::to_string(node->position) + ")";
  return MakeError(kErrJsonataQueryEvaluation, std::move(cause));
}

Outcome<bool> Evaluator::Charge(int64_t n, const Node* node) {
  steps_ += n;
  if (steps_ > options_.max_steps) {
    return Fail(
        node, "U1001",
        "evaluation exceeded the budget of " + std::to_string(options_.max_steps) + " steps");
  }
  return true;
}

Outcome<std::optional<Regex::Match>> Evaluator::RegexSearch(const Regex& regex,
                                                            std::string_view text, size_t from,
                                                            const Node* node) {
  int64_t remaining = std::max<int64_t>(0, options_.max_steps - steps_);
  int64_t budget = remaining;
  std::optional<Regex::Match> match = regex.Search(text, from, budget);
  steps_ += remaining - budget;
  if (budget < 0) {
    return Fail(node, "U1001",
                "evaluation exceeded the budget of " + std::to_string(options_.max_steps) +
                    " steps (in a regular expression)");
  }
  return match;
}

namespace {

struct DepthGuard {
  explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
  ~DepthGuard() { --depth_; }
  int& depth_;
};

}  // namespace

Outcome<Value> Evaluator::Eval(const Node* node, const Value& input,
                               const std::shared_ptr<Frame>& env) {
  DepthGuard guard(depth_);
  if (depth_ > options_.max_depth) {
    return Fail(node, "U1002",
                "evaluation nested deeper than " + std::to_string(options_.max_depth) +
                    " levels (runaway recursion?)");
  }
  WF_ASSIGN_OR_RAISE(bool charged, Charge(1, node));
  (void)charged;
  WF_ASSIGN_OR_RAISE(Value result, EvalNode(node, input, env));
  return Finish(node, std::move(result), env);
}

Outcome<Value> Evaluator::Finish(const Node* node, Value result,
                                 const std::shared_ptr<Frame>& env) {
  if (result.depth > kMaxJsonataValueDepth) {
    return Fail(node, "U1003",
                "the result nests arrays/objects deeper than " +
                    std::to_string(kMaxJsonataValueDepth) + " levels");
  }
  for (const auto& predicate : node->predicates) {
    WF_ASSIGN_OR_RAISE(result, ApplyFilter(predicate.get(), result, env));
  }
  if (result.IsArray() && result.sequence) {
    if (node->keep_array) result.keep_singleton = true;
    if (result.items().empty()) return Value();
    if (result.items().size() == 1 && !result.keep_singleton) {
      Value only = result.items()[0];
      return only;
    }
  }
  return result;
}

namespace {

void AppendFlattened(Array& out, const Value& value) {
  if (value.IsArray()) {
    for (const Value& item : value.items()) out.push_back(item);
  } else if (!value.IsUndefined()) {
    out.push_back(value);
  }
}

// JSONata's lookup(): a field of an object, mapped and flattened over arrays.
Value Lookup(const Value& input, const std::string& key) {
  if (input.IsArray()) {
    Array out;
    for (const Value& item : input.items()) AppendFlattened(out, Lookup(item, key));
    return Sequence(std::move(out));
  }
  if (input.IsObject()) {
    const Value* found = input.object->Find(key);
    if (found != nullptr) return *found;
  }
  return Value();
}

void Descendants(const Value& input, Array& out, int depth) {
  if (depth > static_cast<int>(kMaxJsonDepth) * 2) return;
  if (input.IsArray()) {
    for (const Value& item : input.items()) Descendants(item, out, depth + 1);
    return;
  }
  out.push_back(input);
  if (input.IsObject()) {
    for (const Value& v : input.object->values) Descendants(v, out, depth + 1);
  }
}

void FlattenInto(Array& out, const Value& value, int depth) {
  if (value.IsArray() && depth < 2 * static_cast<int>(kMaxJsonDepth)) {
    for (const Value& item : value.items()) FlattenInto(out, item, depth + 1);
  } else {
    out.push_back(value);
  }
}

}  // namespace

Outcome<Value> Evaluator::EvalNode(const Node* node, const Value& input,
                                   const std::shared_ptr<Frame>& env) {
  switch (node->type) {
    case NodeType::kString: return Value::String(node->str);
    case NodeType::kNumber: return Value::Number(node->number);
    case NodeType::kBool: return Value::Bool(node->boolean);
    case NodeType::kNull: return Value::Null();
    case NodeType::kRegex: {
      auto fn = std::make_shared<Function>();
      fn->regex = node->regex;
      Value f;
      f.kind = Value::Kind::kFunction;
      f.function = std::move(fn);
      return f;
    }
    case NodeType::kName: return Lookup(input, node->str);
    case NodeType::kVariable: {
      if (node->str.empty()) return input.outer_wrapper ? input.items()[0] : input;
      if (node->str == "$") return root_.outer_wrapper ? root_.items()[0] : root_;
      const Value* v = env->Lookup(node->str);
      if (v != nullptr) return *v;
      if (const Builtin* b = FindBuiltin(node->str)) {
        Value f;
        f.kind = Value::Kind::kFunction;
        auto fn = std::make_shared<Function>();
        fn->builtin = b;
        f.function = std::move(fn);
        return f;
      }
      return Value();
    }
    case NodeType::kWildcard: {
      Array out;
      const Value& target = input.outer_wrapper ? input.items()[0] : input;
      if (target.IsObject()) {
        for (const Value& v : target.object->values) {
          if (v.IsArray()) {
            FlattenInto(out, v, 0);
          } else {
            out.push_back(v);
          }
        }
      } else if (target.IsArray()) {
        for (const Value& v : target.items()) FlattenInto(out, v, 0);
      }
      WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(out.size()), node));
      (void)ok;
      return Sequence(std::move(out));
    }
    case NodeType::kDescendant: {
      if (input.IsUndefined()) return Value();
      Array out;
      Descendants(input, out, 0);
      WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(out.size()), node));
      (void)ok;
      return Sequence(std::move(out));
    }
    case NodeType::kPath: return EvalPath(node, input, env);
    case NodeType::kUnaryMinus: {
      WF_ASSIGN_OR_RAISE(Value v, Eval(node->children[0].get(), input, env));
      if (v.IsUndefined()) return Value();
      if (!v.IsNumber()) {
        return Fail(node, "D1002", "cannot negate a " + std::string(TypeName(v)));
      }
      return Value::Number(-v.number);
    }
    case NodeType::kArray: return EvalArray(node, input, env);
    case NodeType::kObject: return EvalObject(node, input, env);
    case NodeType::kBlock: {
      auto frame = NewFrame(env);
      Value last;
      for (const auto& child : node->children) {
        WF_ASSIGN_OR_RAISE(last, Eval(child.get(), input, frame));
      }
      return last;
    }
    case NodeType::kBinary: return EvalBinary(node, input, env);
    case NodeType::kAnd:
    case NodeType::kOr: {
      bool is_and = node->type == NodeType::kAnd;
      WF_ASSIGN_OR_RAISE(Value lhs, Eval(node->children[0].get(), input, env));
      bool l = ToBoolean(lhs).value_or(false);
      if (is_and && !l) return Value::Bool(false);
      if (!is_and && l) return Value::Bool(true);
      WF_ASSIGN_OR_RAISE(Value rhs, Eval(node->children[1].get(), input, env));
      return Value::Bool(ToBoolean(rhs).value_or(false));
    }
    case NodeType::kCondition: {
      WF_ASSIGN_OR_RAISE(Value condition, Eval(node->children[0].get(), input, env));
      if (ToBoolean(condition).value_or(false)) return Eval(node->children[1].get(), input, env);
      if (node->children.size() > 2) return Eval(node->children[2].get(), input, env);
      return Value();
    }
    case NodeType::kBind: {
      WF_ASSIGN_OR_RAISE(Value v, Eval(node->children[0].get(), input, env));
      env->vars[node->str] = v;
      return v;
    }
    case NodeType::kCall: return EvalCall(node, input, env, nullptr);
    case NodeType::kLambda: {
      auto fn = std::make_shared<Function>();
      fn->lambda = node;
      fn->closure = env;
      fn->closure_input = input;
      if (captured_frames_.empty() || captured_frames_.back() != env) {
        captured_frames_.push_back(env);
      }
      Value f;
      f.kind = Value::Kind::kFunction;
      f.function = std::move(fn);
      return f;
    }
    case NodeType::kApply: {
      WF_ASSIGN_OR_RAISE(Value lhs, Eval(node->children[0].get(), input, env));
      const Node* rhs = node->children[1].get();
      bool partial = rhs->type == NodeType::kCall &&
                     std::any_of(rhs->children.begin(), rhs->children.end(),
                                 [](const auto& c) { return c->type == NodeType::kPlaceholder; });
      // `x ~> $f(a)` calls $f(x, a); `x ~> $f(?, a)` applies the partial function to x.
      if (rhs->type == NodeType::kCall && !partial) {
        WF_ASSIGN_OR_RAISE(Value result, EvalCall(rhs, input, env, &lhs));
        return Finish(rhs, std::move(result), env);
      }
      WF_ASSIGN_OR_RAISE(Value fn, Eval(rhs, input, env));
      if (!fn.IsFunction()) {
        return Fail(node, "T2006", "the right side of ~> must be a function");
      }
      if (lhs.IsFunction()) {  // $f ~> $g: a function that applies $f, then $g
        auto composed = std::make_shared<Function>();
        composed->compose_first = std::make_shared<Value>(lhs);
        composed->compose_second = std::make_shared<Value>(fn);
        Value f;
        f.kind = Value::Kind::kFunction;
        f.function = std::move(composed);
        f.depth = std::max(lhs.depth, fn.depth) + 1;  // long chains are refused like deep values
        return f;
      }
      return Call(fn, {lhs}, CallSite{node, &input});
    }
    case NodeType::kRange: return EvalRange(node, input, env);
    case NodeType::kGroup: {
      WF_ASSIGN_OR_RAISE(Value lhs, Eval(node->children[0].get(), input, env));
      return EvalObject(node->children[1].get(), lhs, env);
    }
    case NodeType::kSort: return EvalSort(node, input, env);
    case NodeType::kPlaceholder:
      return Fail(node, "S0215", "? is only allowed as a function argument");
    case NodeType::kFilter:
    case NodeType::kDot: break;
  }
  return Fail(node, "U1000", "internal error: unprocessed syntax node");
}

Outcome<Value> Evaluator::EvalPath(const Node* node, const Value& input,
                                   const std::shared_ptr<Frame>& env) {
  const auto& steps = node->children;
  Array sequence;
  if (input.IsArray() && steps[0]->type != NodeType::kVariable) {
    sequence = input.items();
  } else {
    sequence.push_back(input);
  }
  Value result;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Node* step = steps[i].get();
    if (i == 0 && step->cons_array) {
      // A leading [...] is evaluated once, not per context item.
      WF_ASSIGN_OR_RAISE(result, Eval(step, Sequence(sequence), env));
      if (!result.IsArray()) result = Sequence(ToArray(result));
    } else {
      WF_ASSIGN_OR_RAISE(result, EvalStep(step, sequence, env, i + 1 == steps.size()));
    }
    if (result.IsUndefined() || (result.IsArray() && result.items().empty())) break;
    sequence = ToArray(result);
  }
  if (node->keep_array) {
    if (result.IsUndefined()) return result;
    if (!result.IsArray() || (result.cons && !result.sequence)) {
      result = Sequence(Array{result});  // a constructed array stays one item: [[...]]
    }
    result.keep_singleton = true;
  }
  return result;
}

Outcome<Value> Evaluator::EvalStep(const Node* step, const Array& input,
                                   const std::shared_ptr<Frame>& env, bool last_step) {
  Array results;
  for (const Value& item : input) {
    WF_ASSIGN_OR_RAISE(Value res, Eval(step, item, env));
    for (const auto& stage : step->stages) {
      WF_ASSIGN_OR_RAISE(res, ApplyFilter(stage.get(), res, env));
    }
    if (!res.IsUndefined()) results.push_back(std::move(res));
  }
  if (last_step && results.size() == 1 && results[0].IsArray() && !results[0].sequence) {
    return results[0];
  }
  Array flat;
  for (Value& res : results) {
    if (!res.IsArray() || res.cons) {
      flat.push_back(std::move(res));
    } else {
      for (const Value& v : res.items()) flat.push_back(v);
    }
  }
  WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(flat.size()) / 16, step));
  (void)ok;
  return Sequence(std::move(flat));
}

Outcome<Value> Evaluator::ApplyFilter(const Node* predicate, const Value& input,
                                      const std::shared_ptr<Frame>& env) {
  Array items = ToArray(input);
  Array out;
  if (predicate->type == NodeType::kNumber) {
    double index = std::floor(predicate->number);
    if (index < 0) index += static_cast<double>(items.size());
    if (index >= 0 && index < static_cast<double>(items.size())) {
      const Value& item = items[static_cast<size_t>(index)];
      if (item.IsArray()) return Sequence(item.items());
      out.push_back(item);
    }
    return Sequence(std::move(out));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    WF_ASSIGN_OR_RAISE(Value res, Eval(predicate, items[i], env));
    Array indexes;
    bool numeric = false;
    if (res.IsNumber()) {
      indexes.push_back(res);
      numeric = true;
    } else if (res.IsArray() && !res.items().empty()) {
      numeric = true;
      for (const Value& v : res.items()) numeric = numeric && v.IsNumber();
      if (numeric) indexes = res.items();
    }
    if (numeric) {
      for (const Value& v : indexes) {
        double index = std::floor(v.number);
        if (index < 0) index += static_cast<double>(items.size());
        if (index == static_cast<double>(i)) out.push_back(items[i]);
      }
    } else if (ToBoolean(res).value_or(false)) {
      out.push_back(items[i]);
    }
  }
  return Sequence(std::move(out));
}

namespace {

bool IsComparable(const Value& v) { return v.IsUndefined() || v.IsString() || v.IsNumber(); }

}  // namespace

Outcome<Value> Evaluator::EvalBinary(const Node* node, const Value& input,
                                     const std::shared_ptr<Frame>& env) {
  const std::string& op = node->str;
  WF_ASSIGN_OR_RAISE(Value lhs, Eval(node->children[0].get(), input, env));
  if (op == "??") {
    if (!lhs.IsUndefined()) return lhs;
    return Eval(node->children[1].get(), input, env);
  }
  if (op == "?:") {
    if (ToBoolean(lhs).value_or(false)) return lhs;
    return Eval(node->children[1].get(), input, env);
  }
  WF_ASSIGN_OR_RAISE(Value rhs, Eval(node->children[1].get(), input, env));
  if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") {
    if (!lhs.IsUndefined() && !lhs.IsNumber()) {
      return Fail(node, "T2001",
                  "the left side of the " + op + " operator must evaluate to a number, got a " +
                      std::string(TypeName(lhs)));
    }
    if (!rhs.IsUndefined() && !rhs.IsNumber()) {
      return Fail(node, "T2002",
                  "the right side of the " + op + " operator must evaluate to a number, got a " +
                      std::string(TypeName(rhs)));
    }
    if (lhs.IsUndefined() || rhs.IsUndefined()) return Value();
    double a = lhs.number;
    double b = rhs.number;
    double r = 0;
    if (op == "+") {
      r = a + b;
    } else if (op == "-") {
      r = a - b;
    } else if (op == "*") {
      r = a * b;
    } else if (op == "/") {
      r = a / b;
    } else {
      r = std::fmod(a, b);
    }
    if (!std::isfinite(r)) {
      return Fail(node, "D1001", "number out of range: the result of " + op + " is not finite");
    }
    return Value::Number(r);
  }
  if (op == "&") {
    std::string out;
    for (const Value* v : {&lhs, &rhs}) {
      if (v->IsUndefined()) continue;
      WF_ASSIGN_OR_RAISE(std::string text, Stringify(*this, *v, node));
      out += text;
    }
    if (out.size() > kMaxJsonataStringBytes) {
      return Fail(node, "D1001",
                  "string result longer than " + std::to_string(kMaxJsonataStringBytes) + " bytes");
    }
    WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(out.size() / 256), node));
    (void)ok;
    return Value::String(std::move(out));
  }
  if (op == "=" || op == "!=") {
    if (lhs.IsUndefined() || rhs.IsUndefined()) return Value::Bool(false);
    bool equal = DeepEqual(lhs, rhs);
    return Value::Bool(op == "=" ? equal : !equal);
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    if (!IsComparable(lhs) || !IsComparable(rhs)) {
      const Value& bad = IsComparable(lhs) ? rhs : lhs;
      return Fail(node, "T2010",
                  "the " + op + " operator needs numbers or strings on both sides, got a " +
                      std::string(TypeName(bad)));
    }
    if (lhs.IsUndefined() || rhs.IsUndefined()) return Value();
    if (lhs.kind != rhs.kind) {
      return Fail(node, "T2009",
                  "the values on both sides of " + op + " must be of the same type (" +
                      std::string(TypeName(lhs)) + " vs " + std::string(TypeName(rhs)) + ")");
    }
    int cmp = 0;
    if (lhs.IsNumber()) {
      cmp = lhs.number < rhs.number ? -1 : (lhs.number > rhs.number ? 1 : 0);
    } else {
      cmp = lhs.string.compare(rhs.string);
    }
    bool r = op == "<" ? cmp < 0 : op == "<=" ? cmp <= 0 : op == ">" ? cmp > 0 : cmp >= 0;
    return Value::Bool(r);
  }
  if (op == "in") {
    if (lhs.IsUndefined()) return Value::Bool(false);
    for (const Value& v : ToArray(rhs)) {
      if (DeepEqual(lhs, v)) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  return Fail(node, "U1000", "unknown operator " + op);
}

Outcome<Value> Evaluator::EvalArray(const Node* node, const Value& input,
                                    const std::shared_ptr<Frame>& env) {
  Array out;
  for (const auto& child : node->children) {
    WF_ASSIGN_OR_RAISE(Value v, Eval(child.get(), input, env));
    if (v.IsUndefined()) continue;
    if (child->type == NodeType::kArray) {
      out.push_back(std::move(v));
    } else {
      AppendFlattened(out, v);
    }
  }
  WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(out.size()) / 16, node));
  (void)ok;
  Value result = Value::MakeArray(std::move(out));
  result.cons = node->cons_array;
  return result;
}

Outcome<Value> Evaluator::EvalObject(const Node* node, const Value& input,
                                     const std::shared_ptr<Frame>& env) {
  // JSONata groups the context items by key: each pair's value is evaluated once per distinct
  // key, against all the items that produced that key.
  Array items = ToArray(input);
  if (items.empty()) items.push_back(Value());
  struct Group {
    std::string key;
    Array data;
    size_t pair;
  };
  std::vector<Group> groups;
  std::unordered_map<std::string, size_t> group_index;
  size_t pairs = node->children.size() / 2;
  for (const Value& item : items) {
    for (size_t p = 0; p < pairs; ++p) {
      WF_ASSIGN_OR_RAISE(Value key, Eval(node->children[2 * p].get(), item, env));
      if (key.IsUndefined()) continue;
      if (!key.IsString()) {
        return Fail(node->children[2 * p].get(), "T1003",
                    "object keys must evaluate to strings, got a " + std::string(TypeName(key)));
      }
      auto found = group_index.find(key.string);
      Group* group = found == group_index.end() ? nullptr : &groups[found->second];
      if (group == nullptr) {
        group_index.emplace(key.string, groups.size());
        groups.push_back(Group{key.string, {item}, p});
      } else if (group->pair != p) {
        return Fail(node->children[2 * p].get(), "D1009",
                    "multiple key definitions evaluate to the same key: " + key.string);
      } else {
        group->data.push_back(item);
      }
    }
  }
  Object object;
  for (const Group& g : groups) {
    Value context = g.data.size() == 1 ? g.data[0] : Sequence(g.data);
    WF_ASSIGN_OR_RAISE(Value v, Eval(node->children[2 * g.pair + 1].get(), context, env));
    if (!v.IsUndefined()) object.Set(g.key, std::move(v));
  }
  return Value::MakeObject(std::move(object));
}

Outcome<Value> Evaluator::EvalSort(const Node* node, const Value& input,
                                   const std::shared_ptr<Frame>& env) {
  WF_ASSIGN_OR_RAISE(Value lhs, Eval(node->children[0].get(), input, env));
  Array items = ToArray(lhs);
  if (items.size() <= 1) return lhs;
  // Each key is evaluated once per item, with the item as context.
  size_t key_count = node->children.size() - 1;
  std::vector<std::vector<Value>> keys(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t k = 0; k < key_count; ++k) {
      WF_ASSIGN_OR_RAISE(Value key, Eval(node->children[k + 1].get(), items[i], env));
      if (!key.IsUndefined() && !key.IsNumber() && !key.IsString()) {
        return Fail(node->children[k + 1].get(), "T2008",
                    "sort keys must be numbers or strings, got a " + std::string(TypeName(key)));
      }
      keys[i].push_back(std::move(key));
    }
  }
  for (size_t k = 0; k < key_count; ++k) {
    std::optional<Value::Kind> kind;
    for (const auto& item_keys : keys) {
      if (item_keys[k].IsUndefined()) continue;
      if (kind && *kind != item_keys[k].kind) {
        return Fail(node->children[k + 1].get(), "T2007",
                    "sort keys must all be numbers or all be strings");
      }
      kind = item_keys[k].kind;
    }
  }
  // Stable: equal keys keep their order; undefined keys go last.
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    for (size_t k = 0; k < key_count; ++k) {
      const Value& x = keys[a][k];
      const Value& y = keys[b][k];
      if (x.IsUndefined() || y.IsUndefined()) {
        if (x.IsUndefined() == y.IsUndefined()) continue;
        return y.IsUndefined();
      }
      int cmp = x.IsNumber() ? (x.number < y.number ? -1 : (x.number > y.number ? 1 : 0))
                             : x.string.compare(y.string);
      if (cmp == 0) continue;
      if (node->params[k] == ">") cmp = -cmp;
      return cmp < 0;
    }
    return false;
  });
  WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(items.size()), node));
  (void)ok;
  Array sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(items[i]);
  return Sequence(std::move(sorted));
}

Outcome<Value> Evaluator::EvalRange(const Node* node, const Value& input,
                                    const std::shared_ptr<Frame>& env) {
  WF_ASSIGN_OR_RAISE(Value lhs, Eval(node->children[0].get(), input, env));
  WF_ASSIGN_OR_RAISE(Value rhs, Eval(node->children[1].get(), input, env));
  auto integral = [](const Value& v) {
    return v.IsUndefined() || (v.IsNumber() && std::nearbyint(v.number) == v.number);
  };
  if (!integral(lhs)) return Fail(node, "T2003", "the start of a range must be an integer");
  if (!integral(rhs)) return Fail(node, "T2004", "the end of a range must be an integer");
  if (lhs.IsUndefined() || rhs.IsUndefined()) return Value();
  if (lhs.number > rhs.number) return Value::MakeArray({});
  double size = rhs.number - lhs.number + 1;
  if (size > static_cast<double>(kMaxJsonataRangeSize)) {
    return Fail(node, "D2014",
                "a range of " + FormatNumber(size) + " items is more than the limit of " +
                    std::to_string(kMaxJsonataRangeSize));
  }
  WF_ASSIGN_OR_RAISE(bool ok, Charge(static_cast<int64_t>(size), node));
  (void)ok;
  Array out;
  out.reserve(static_cast<size_t>(size));
  for (double d = lhs.number; d <= rhs.number; d += 1) out.push_back(Value::Number(d));
  return Value::MakeArray(std::move(out));
}

Outcome<Value> Evaluator::EvalCall(const Node* node, const Value& input,
                                   const std::shared_ptr<Frame>& env, const Value* first_arg) {
  WF_ASSIGN_OR_RAISE(Value fn, Eval(node->children[0].get(), input, env));
  if (!fn.IsFunction()) {
    std::string name = node->children[0]->type == NodeType::kVariable ? "$" + node->children[0]->str
                                                                      : "the expression";
    return Fail(
        node, "T1006",
        name + " is not a function" + (fn.IsUndefined() ? " (no such function or variable)" : ""));
  }
  std::vector<Value> args;
  if (first_arg != nullptr) args.push_back(*first_arg);
  bool partial = false;
  std::vector<std::optional<Value>> bound;
  if (first_arg != nullptr) bound.push_back(*first_arg);
  for (size_t i = 1; i < node->children.size(); ++i) {
    if (node->children[i]->type == NodeType::kPlaceholder) {
      partial = true;
      bound.push_back(std::nullopt);
      continue;
    }
    WF_ASSIGN_OR_RAISE(Value v, Eval(node->children[i].get(), input, env));
    bound.push_back(v);
    args.push_back(std::move(v));
  }
  if (node->tail_call && !partial && fn.function->lambda != nullptr) {
    auto thunk = std::make_shared<Function>();
    thunk->thunk_target = std::make_shared<Value>(fn);
    thunk->thunk_args = std::move(args);
    Value t;
    t.kind = Value::Kind::kFunction;
    t.function = std::move(thunk);
    return t;
  }
  if (partial) {  // $f(?, x): a function of the `?` arguments
    auto fn_value = std::make_shared<Function>();
    fn_value->partial_target = std::make_shared<Value>(fn);
    uint32_t depth = fn.depth;
    for (const auto& arg : bound) depth = std::max(depth, arg ? arg->depth : 0);
    fn_value->partial_args = std::move(bound);
    Value f;
    f.kind = Value::Kind::kFunction;
    f.function = std::move(fn_value);
    f.depth = depth + 1;
    return f;
  }
  return Call(fn, std::move(args), CallSite{node, &input});
}

Outcome<Value> Evaluator::Call(const Value& function, std::vector<Value> args,
                               const CallSite& site) {
  if (!function.IsFunction()) return Fail(site.node, "T1006", "not a function");
  DepthGuard guard(depth_);
  if (depth_ > options_.max_depth) {
    return Fail(site.node, "U1002",
                "evaluation nested deeper than " + std::to_string(options_.max_depth) +
                    " levels (runaway recursion?)");
  }
  const Function& fn = *function.function;
  if (fn.builtin != nullptr) {
    const Builtin& b = *fn.builtin;
    if (static_cast<int>(args.size()) < b.min_args && b.context_default && site.context) {
      args.insert(args.begin(), *site.context);
    }
    // Trailing undefined arguments count as absent (as in JavaScript).
    while (b.max_args >= 0 && !args.empty() && static_cast<int>(args.size()) > b.min_args &&
           args.back().IsUndefined()) {
      args.pop_back();
    }
    if (static_cast<int>(args.size()) < b.min_args ||
        (b.max_args >= 0 && static_cast<int>(args.size()) > b.max_args)) {
      std::string expected = b.max_args == b.min_args ? std::to_string(b.min_args)
                             : b.max_args < 0
                                 ? "at least " + std::to_string(b.min_args)
                                 : std::to_string(b.min_args) + " to " + std::to_string(b.max_args);
      return Fail(
          site.node, "T0410",
          "$" + b.name + " takes " + expected + " argument(s), got " + std::to_string(args.size()));
    }
    return b.impl(*this, site, args);
  }
  if (fn.compose_first) {
    WF_ASSIGN_OR_RAISE(Value first, Call(*fn.compose_first, std::move(args), site));
    return Call(*fn.compose_second, {std::move(first)}, site);
  }
  if (fn.partial_target) {
    std::vector<Value> filled;
    size_t next = 0;
    for (const auto& bound : fn.partial_args) {
      if (bound) {
        filled.push_back(*bound);
      } else {
        filled.push_back(next < args.size() ? args[next] : Value());
        ++next;
      }
    }
    return Call(*fn.partial_target, std::move(filled), site);
  }
  if (fn.regex) {
    return CallRegex(*this, *fn.regex, args.empty() ? Value() : args[0], site);
  }
  // Runs the lambda; a tail call in its body comes back as a thunk and runs in this loop.
  Value current = function;
  while (true) {
    const Function& target = *current.function;
    const Node* lambda = target.lambda;
    if (lambda->context_default && args.size() < lambda->params.size() && site.context != nullptr) {
      args.insert(args.begin(), *site.context);  // signature with `-`: context first
    }
    auto frame = NewFrame(target.closure);
    for (size_t i = 0; i < lambda->params.size(); ++i) {
      frame->vars[lambda->params[i]] = i < args.size() ? args[i] : Value();
    }
    WF_ASSIGN_OR_RAISE(Value result, Eval(lambda->children[0].get(), target.closure_input, frame));
    if (!result.IsFunction() || !result.function->thunk_target) return result;
    Value next = *result.function->thunk_target;
    args = result.function->thunk_args;
    current = std::move(next);
    WF_ASSIGN_OR_RAISE(bool ok, Charge(1, site.node));
    (void)ok;
  }
}

}  // namespace jsonata

// ---------------------------------------------------------------------------------------------
// Public API

JsonataExpression::JsonataExpression(std::string text, std::unique_ptr<jsonata::Node> root)
    : text_(std::move(text)), root_(std::move(root)) {}

JsonataExpression::~JsonataExpression() = default;

Outcome<std::optional<JsonValue>> JsonataExpression::Evaluate(const JsonValue& input,
                                                              const JsonataBindings& variables,
                                                              const JsonataOptions& options) const {
  jsonata::Value root = jsonata::FromJson(input);
  if (root.IsArray()) {
    // As JSONata does: an array input is wrapped in a one-item sequence, so that a path such as
    // `phone[0]` treats the whole array as one context (first phone overall, not per item).
    root = jsonata::Sequence({root});
    root.outer_wrapper = true;
  }
  jsonata::Evaluator evaluator(options, root);
  auto env = evaluator.NewFrame(nullptr);
  for (const auto& [name, value] : variables) env->vars[name] = jsonata::FromJson(value);
  Outcome<jsonata::Value> result = evaluator.Eval(root_.get(), root, env);
  if (!result.ok()) return result.error();
  const jsonata::Value& value = result.value();
  if (value.IsUndefined()) return std::optional<JsonValue>();
  if (value.IsFunction()) {
    return MakeError(kErrJsonataQueryEvaluation,
                     "T1007: the expression evaluated to a function, which has no JSON value");
  }
  return std::optional<JsonValue>(jsonata::ToJson(value));
}

bool IsJsonataTemplateString(std::string_view text) {
  return text.size() >= 4 && text.substr(0, 2) == "{%" && text.substr(text.size() - 2) == "%}";
}

namespace {

std::string_view ExpressionText(std::string_view s) { return s.substr(2, s.size() - 4); }

std::string PointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Status ValidateAt(const JsonValue& value, const std::string& pointer) {
  if (value.IsString() && IsJsonataTemplateString(value.AsString())) {
    Result<std::shared_ptr<const JsonataExpression>> parsed =
        ParseJsonata(ExpressionText(value.AsString()));
    if (!parsed.ok()) {
      return Error(ErrorCode::kInvalidDefinition,
                   (pointer.empty() ? "/" : pointer) + ": " + parsed.status().message());
    }
  } else if (value.IsArray()) {
    for (size_t i = 0; i < value.size(); ++i) {
      BASIN_RETURN_IF_ERROR(ValidateAt(value.items()[i], pointer + "/" + std::to_string(i)));
    }
  } else if (value.IsObject()) {
    for (size_t i = 0; i < value.keys().size(); ++i) {
      BASIN_RETURN_IF_ERROR(
          ValidateAt(value.items()[i], pointer + "/" + PointerToken(value.keys()[i])));
    }
  }
  return Status::Ok();
}

Outcome<JsonValue> EvaluateAt(const JsonValue& value, const std::string& pointer,
                              const JsonValue& input, const JsonataBindings& variables,
                              const JsonataOptions& options) {
  std::string where = pointer.empty() ? "/" : pointer;
  if (value.IsString() && IsJsonataTemplateString(value.AsString())) {
    Result<std::shared_ptr<const JsonataExpression>> parsed =
        ParseJsonata(ExpressionText(value.AsString()));
    if (!parsed.ok()) {
      return MakeError(kErrJsonataQueryEvaluation, where + ": " + parsed.status().message());
    }
    Outcome<std::optional<JsonValue>> result = (*parsed)->Evaluate(input, variables, options);
    if (!result.ok()) {
      return MakeError(kErrJsonataQueryEvaluation, where + ": " + result.error().cause);
    }
    if (!result.value().has_value()) {
      return MakeError(
          kErrJsonataQueryEvaluation,
          where + ": the JSONata expression " + value.AsString() + " returned nothing (undefined)");
    }
    return std::move(*result.value());
  }
  if (value.IsArray()) {
    JsonValue out = JsonValue::Array();
    for (size_t i = 0; i < value.size(); ++i) {
      WF_ASSIGN_OR_RAISE(JsonValue item,
                         EvaluateAt(value.items()[i], pointer + "/" + std::to_string(i), input,
                                    variables, options));
      out.Append(std::move(item));
    }
    return out;
  }
  if (value.IsObject()) {
    JsonValue out = JsonValue::Object();
    for (size_t i = 0; i < value.keys().size(); ++i) {
      WF_ASSIGN_OR_RAISE(JsonValue item,
                         EvaluateAt(value.items()[i], pointer + "/" + PointerToken(value.keys()[i]),
                                    input, variables, options));
      out.Set(value.keys()[i], std::move(item));
    }
    return out;
  }
  return value;
}

}  // namespace

Status ValidateJsonataTemplate(const JsonValue& value) { return ValidateAt(value, ""); }

Outcome<JsonValue> EvaluateJsonataTemplate(const JsonValue& value, const JsonValue& input,
                                           const JsonataBindings& variables,
                                           const JsonataOptions& options) {
  return EvaluateAt(value, "", input, variables, options);
}

}  // namespace basin::workflow
