#pragma once

// Internals of the JSONata evaluator shared by jsonata*.cpp; not for use outside them.

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "workflow/jsonata.h"
#include "workflow/jsonata_regex.h"

namespace basin::workflow::jsonata {

// ---------------------------------------------------------------------------------------------
// AST

enum class NodeType {
  kString,
  kNumber,
  kBool,
  kNull,
  kName,        // field name: str
  kRegex,       // /pattern/flags: regex
  kVariable,    // $str; "" is the context `$`, "$" is the root `$$`
  kWildcard,    // *
  kDescendant,  // **
  kPath,        // children = steps
  kUnaryMinus,  // children[0]
  kArray,       // children = items
  kObject,      // children = key0, value0, key1, value1, ...
  kBlock,       // children = expressions
  kBinary,      // str = operator; children = lhs, rhs
  kAnd,
  kOr,
  kCondition,    // children = condition, then[, else]
  kBind,         // str = variable; children[0] = value
  kCall,         // children[0] = procedure, rest = arguments
  kLambda,       // params; children[0] = body
  kApply,        // ~> children = lhs, rhs
  kRange,        // .. children = lhs, rhs
  kGroup,        // expr{k: v}: children = lhs, object constructor
  kSort,         // expr^(<a, >b): children = lhs, keys...; params[i] = "<" or ">" for key i
  kPlaceholder,  // `?` argument of a partial application
  kFilter,       // raw parse only: children = lhs, predicate (nullptr predicate for `[]`)
  kDot,          // raw parse only: children = lhs, rhs
};

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Iterative, so that a very deep tree (a 64 KiB chain of `+`) cannot overflow the stack.
  ~Node();

  NodeType type = NodeType::kNull;
  size_t position = 0;
  std::string str;
  double number = 0;
  bool boolean = false;
  std::vector<std::unique_ptr<Node>> children;
  // Predicates applied per input item of a path step (`a.b[0]`: first b of every a).
  std::vector<std::unique_ptr<Node>> stages;
  // Predicates applied to the whole result of a non-step expression (`$x[0]`, `(a.b)[0]`).
  std::vector<std::unique_ptr<Node>> predicates;
  bool keep_array = false;  // `[]` after the step: singleton results stay arrays
  bool cons_array = false;  // an array constructor as a path step: not flattened
  std::vector<std::string> params;
  // A lambda whose signature has `-`: called with too few arguments, the context comes first.
  bool context_default = false;
  // A call in tail position of a lambda body: evaluated as a thunk that the caller's loop runs,
  // so tail recursion does not grow the stack (as JSONata does).
  bool tail_call = false;
  std::shared_ptr<const Regex> regex;
};

// ---------------------------------------------------------------------------------------------
// Values

class Evaluator;
struct Function;
struct Value;

using Array = std::vector<Value>;
// Keys in insertion order. Objects with more than kIndexedObjectSize keys get a hash index,
// built on first lookup, so lookup tables and big $merge results stay O(1) per key. Values
// belong to one evaluation (one thread), so the lazily built index needs no lock.
struct Object {
  static constexpr size_t kIndexedObjectSize = 8;
  std::vector<std::string> keys;
  std::vector<Value> values;
  const Value* Find(std::string_view key) const;
  void Set(std::string_view key, Value value);

 private:
  std::optional<size_t> IndexOf(std::string_view key) const;
  mutable std::unordered_map<std::string, size_t> index_;
};

// A JSONata value: undefined, a JSON value, or a function. Arrays/objects share immutable
// storage so that passing values around is cheap. `sequence` marks the result sequences JSONata
// builds from paths (flattened, singleton-unwrapped); arrays from the input or from `[...]` are
// not sequences.
struct Value {
  enum class Kind : uint8_t {
    kUndefined,
    kNull,
    kBool,
    kNumber,
    kString,
    kArray,
    kObject,
    kFunction
  };
  Kind kind = Kind::kUndefined;
  bool sequence = false;
  bool keep_singleton = false;
  bool cons = false;
  bool outer_wrapper = false;  // the one-item sequence around an array input
  // Nesting depth of arrays/objects (0 for scalars), computed when built; the evaluator refuses
  // values deeper than kMaxJsonataValueDepth so recursion over them stays bounded.
  uint32_t depth = 0;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::shared_ptr<const Array> array;
  std::shared_ptr<const Object> object;
  std::shared_ptr<const Function> function;

  static Value Undefined() { return Value(); }
  static Value Null();
  static Value Bool(bool b);
  static Value Number(double d);
  static Value String(std::string s);
  static Value MakeArray(Array items, bool is_sequence = false);
  static Value MakeObject(Object object);

  bool IsUndefined() const { return kind == Kind::kUndefined; }
  bool IsNumber() const { return kind == Kind::kNumber; }
  bool IsString() const { return kind == Kind::kString; }
  bool IsArray() const { return kind == Kind::kArray; }
  bool IsObject() const { return kind == Kind::kObject; }
  bool IsFunction() const { return kind == Kind::kFunction; }
  const Array& items() const;
};

Value FromJson(const JsonValue& json);
// Functions inside arrays become null and inside objects are dropped (as JSON.stringify does).
JsonValue ToJson(const Value& value);
bool DeepEqual(const Value& a, const Value& b);
// JSONata boolean casting; undefined stays undefined (returned as nullopt).
std::optional<bool> ToBoolean(const Value& value);
std::string_view TypeName(const Value& value);
// Number to text as JavaScript prints it after toPrecision(15).
std::string FormatNumber(double d);

// ---------------------------------------------------------------------------------------------
// Functions and environments

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
  const Value* Lookup(const std::string& name) const;
};

struct CallSite {
  const Node* node;  // for error positions
  const Value* context;
};

using BuiltinImpl = std::function<Outcome<Value>(Evaluator&, const CallSite&, std::vector<Value>&)>;

struct Builtin {
  std::string name;
  int min_args;
  int max_args;  // -1 = variadic
  // When called with fewer than min_args arguments, the context value becomes the first one
  // (JSONata's `-` signature flag).
  bool context_default;
  BuiltinImpl impl;
};

struct Function {
  const Builtin* builtin = nullptr;
  // Lambda.
  const Node* lambda = nullptr;
  std::shared_ptr<Frame> closure;
  Value closure_input;
  // A regex literal: called with a string it gives a match object or undefined.
  std::shared_ptr<const Regex> regex;
  // `$f ~> $g` composition.
  std::shared_ptr<const Value> compose_first;
  std::shared_ptr<const Value> compose_second;
  // `$f(?, x)` partial application: nullopt marks a `?`.
  std::shared_ptr<const Value> partial_target;
  std::vector<std::optional<Value>> partial_args;
  // A pending tail call (internal; never escapes Evaluator::Call).
  std::shared_ptr<const Value> thunk_target;
  std::vector<Value> thunk_args;
  int Arity() const;
};

const Builtin* FindBuiltin(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Evaluator: one per Evaluate call.

class Evaluator {
 public:
  Evaluator(const JsonataOptions& options, const Value& root);
  ~Evaluator();

  Outcome<Value> Eval(const Node* node, const Value& input, const std::shared_ptr<Frame>& env);
  Outcome<Value> Call(const Value& function, std::vector<Value> args, const CallSite& site);

  // Counts `n` steps of work; fails once the budget is gone.
  Outcome<bool> Charge(int64_t n, const Node* node);
  StateError Fail(const Node* node, std::string_view code, std::string_view message) const;

  // Searches with the remaining step budget; U1001 when it runs out.
  Outcome<std::optional<Regex::Match>> RegexSearch(const Regex& regex, std::string_view text,
                                                   size_t from, const Node* node);

  std::shared_ptr<Frame> NewFrame(std::shared_ptr<Frame> parent);
  int64_t NowMillis();
  std::mt19937_64& Rng();

 private:
  // Applies a node's whole-result predicates and `[]`, then unwraps singleton sequences.
  Outcome<Value> Finish(const Node* node, Value result, const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalNode(const Node* node, const Value& input, const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalPath(const Node* node, const Value& input, const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalStep(const Node* step, const Array& input, const std::shared_ptr<Frame>& env,
                          bool last_step);
  Outcome<Value> ApplyFilter(const Node* predicate, const Value& input,
                             const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalBinary(const Node* node, const Value& input,
                            const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalArray(const Node* node, const Value& input, const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalObject(const Node* node, const Value& input,
                            const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalCall(const Node* node, const Value& input, const std::shared_ptr<Frame>& env,
                          const Value* first_arg);
  Outcome<Value> EvalSort(const Node* node, const Value& input, const std::shared_ptr<Frame>& env);
  Outcome<Value> EvalRange(const Node* node, const Value& input, const std::shared_ptr<Frame>& env);

  const JsonataOptions& options_;
  Value root_;
  int64_t steps_ = 0;
  int depth_ = 0;
  std::optional<int64_t> now_millis_;
  std::unique_ptr<std::mt19937_64> own_rng_;
  // Frames captured by lambdas; cleared at the end to break closure cycles (a recursive
  // function stored in the frame it captures). Frames no lambda captures free themselves.
  std::vector<std::shared_ptr<Frame>> captured_frames_;
};

// Calls a regex as a function: the match object {match, start, end, groups} or undefined.
Outcome<Value> CallRegex(Evaluator& evaluator, const Regex& regex, const Value& arg,
                         const CallSite& site);

// $string(value): strings as they are, other values as compact JSON with numbers printed by
// FormatNumber; fails (D3001) on non-finite numbers. Functions give "".
Outcome<std::string> Stringify(Evaluator& evaluator, const Value& value, const Node* node);

// Helpers for builtins.
Value Sequence(Array items);  // a result sequence (unwraps when it has one item)
// undefined -> empty; array -> its items; anything else -> one item.
Array ToArray(const Value& value);

}  // namespace basin::workflow::jsonata
