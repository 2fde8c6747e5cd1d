#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "workflow/json_value.h"
#include "workflow/state_error.h"

namespace basin::workflow {

// A parsed JSONPath as ASL uses it (SPEC "Paths"). Supported syntax:
//   $            the root ($$ for the context object)
//   .name        a field; ['name'] / ["name"] for any key (\' and \\ escapes)
//   [n]          an array index, negative counts from the end
//   [*] / .*     every element / member value
//   [a:b]        an array slice (either bound may be omitted)
//   ..name       recursive descent to every `name` field
// Filters (`[?(...)]`), unions (`[0,1]`) and script expressions are not supported; parsing them
// fails. A path without `*`, slices or `..` is a Reference Path (definite, one node); the others
// select many nodes and yield an array. Immutable and thread-safe after parsing.
class JsonPath {
 public:
  struct Segment {
    enum class Type { kField, kIndex, kWildcard, kSlice, kDescend };
    Type type;
    std::string name;                   // kField, kDescend
    int64_t index = 0;                  // kIndex
    std::optional<int64_t> start, end;  // kSlice
  };

  // Errors: kInvalidArgument with the reason.
  static Result<JsonPath> Parse(std::string_view text);

  const std::string& text() const { return text_; }
  // True for `$$...` paths, which read the context object.
  bool is_context() const { return context_; }
  // True for a Reference Path: selects at most one node.
  bool is_definite() const { return definite_; }
  const std::vector<Segment>& segments() const { return segments_; }

  // The selected node for a definite path, or an array of every match for an indefinite one.
  // nullopt when a definite path selects nothing (an indefinite one yields []).
  std::optional<JsonValue> Evaluate(const JsonValue& root) const;

  // ResultPath semantics: puts `value` at this path inside `root`, creating missing parent
  // objects. `$` replaces the root. Fails with States.ResultPathMatchFailure when a parent is
  // not an object (or an index is out of range). Only definite, non-context paths are accepted.
  Outcome<bool> Assign(JsonValue& root, JsonValue value) const;

 private:
  std::string text_;
  bool context_ = false;
  bool definite_ = true;
  std::vector<Segment> segments_;
};

}  // namespace basin::workflow
