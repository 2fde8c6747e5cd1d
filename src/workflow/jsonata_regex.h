#pragma once

// Regular expressions for JSONata `/re/flags` literals. A Pike VM (Thompson NFA simulation with
// captures): time is linear in text length x program size and nothing recurses on the text, so
// hostile patterns or inputs cannot hang or overflow the stack. JavaScript syntax without
// backreferences and lookaround.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace basin::workflow::jsonata {

class Regex {
 public:
  struct Match {
    size_t start = 0;
    size_t end = 0;
    // Byte ranges of the capture groups 1..n; nullopt when a group did not take part.
    std::vector<std::optional<std::pair<size_t, size_t>>> groups;
  };

  // Flags: `i` (ASCII case-insensitive), `m` (^/$ at line breaks); `g` is accepted (JSONata
  // functions always find every match). Errors: kInvalidDefinition with a message.
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern,
                                                      std::string_view flags);

  // The first (leftmost, then by JavaScript priority) match starting at byte `from` or later.
  // `steps` is decremented per VM thread step; when it would go below zero the search stops
  // and returns nullopt with `steps` < 0.
  std::optional<Match> Search(std::string_view text, size_t from, int64_t& steps) const;

  const std::string& pattern() const { return pattern_; }

  struct Instruction;
  struct CharClass;

 private:
  Regex() = default;
  friend class RegexCompiler;

  std::string pattern_;
  bool ignore_case_ = false;
  bool multiline_ = false;
  int group_count_ = 0;
  std::vector<Instruction> program_;
  std::vector<CharClass> classes_;
};

struct Regex::CharClass {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool negated = false;
};

struct Regex::Instruction {
  enum class Op {
    kChar,
    kAny,
    kClass,
    kSplit,
    kJmp,
    kSave,
    kBol,
    kEol,
    kWordBoundary,
    kNotWordBoundary,
    kMatch
  };
  Op op = Op::kMatch;
  uint32_t c = 0;  // kChar code point; kClass index; kSave slot
  int x = 0;       // kSplit preferred / kJmp target
  int y = 0;       // kSplit alternative
};

}  // namespace basin::workflow::jsonata
