#include "workflow/jsonata_regex.h"

#include <algorithm>
#include <charconv>

namespace basin::workflow::jsonata {
namespace {

constexpr size_t kMaxProgramSize = 20000;
constexpr int kMaxGroupNesting = 100;
constexpr int kMaxRepeatCount = 1000;

// Decodes one UTF-8 code point at `i`; invalid bytes decode as themselves (length 1).
uint32_t DecodeAt(std::string_view s, size_t i, size_t& length) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (b < 0x80) {
    length = 1;
    return b;
  }
  if ((b & 0xE0) == 0xC0 && cont(1)) {
    length = 2;
    return ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
  }
  if ((b & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    length = 3;
    return ((b & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
  }
  if ((b & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    length = 4;
    return ((b & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
  }
  length = 1;
  return b;
}

uint32_t FoldCase(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

bool IsWordChar(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsLineBreak(uint32_t c) { return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029; }

struct RegexNode {
  enum class Type {
    kEmpty,
    kChar,
    kAny,
    kClass,
    kGroup,
    kAlt,
    kConcat,
    kRepeat,
    kBol,
    kEol,
    kWordBoundary,
    kNotWordBoundary
  };
  Type type = Type::kEmpty;
  uint32_t c = 0;
  int index = -1;  // class index, or capture group number (-1 = non-capturing)
  int min = 0;
  int max = -1;  // -1 = unbounded
  bool greedy = true;
  std::vector<std::unique_ptr<RegexNode>> children;
};

using Instruction = Regex::Instruction;
using Op = Regex::Instruction::Op;

}  // namespace

class RegexCompiler {
 public:
  RegexCompiler(std::string_view pattern, Regex& regex) : p_(pattern), regex_(regex) {}

  Status Compile() {
    BASIN_ASSIGN_OR_RETURN(auto root, Alternation(0));
    if (i_ < p_.size()) return Fail("unmatched ')'");
    Emit({Op::kSave, 0, 0, 0});
    BASIN_RETURN_IF_ERROR(EmitNode(*root));
    Emit({Op::kSave, 1, 0, 0});
    Emit({Op::kMatch, 0, 0, 0});
    if (regex_.program_.size() > kMaxProgramSize) return Fail("pattern too large");
    return Status::Ok();
  }

 private:
  Status Fail(std::string_view message) const {
    return Error(ErrorCode::kInvalidDefinition, "invalid regular expression /" + std::string(p_) +
                                                    "/: " + std::string(message) + " at " +
                                                    std::to_string(i_));
  }

  static std::unique_ptr<RegexNode> Make(RegexNode::Type type) {
    auto n = std::make_unique<RegexNode>();
    n->type = type;
    return n;
  }

  Result<std::unique_ptr<RegexNode>> Alternation(int depth) {
    if (depth > kMaxGroupNesting) return Fail("groups nested too deeply");
    auto alt = Make(RegexNode::Type::kAlt);
    while (true) {
      BASIN_ASSIGN_OR_RETURN(auto branch, Concatenation(depth));
      alt->children.push_back(std::move(branch));
      if (i_ < p_.size() && p_[i_] == '|') {
        ++i_;
        continue;
      }
      break;
    }
    if (alt->children.size() == 1) return std::move(alt->children[0]);
    return alt;
  }

  Result<std::unique_ptr<RegexNode>> Concatenation(int depth) {
    auto concat = Make(RegexNode::Type::kConcat);
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      BASIN_ASSIGN_OR_RETURN(auto atom, Atom(depth));
      BASIN_ASSIGN_OR_RETURN(atom, Quantified(std::move(atom)));
      concat->children.push_back(std::move(atom));
    }
    return concat;
  }

  bool ParseInt(int& out) {
    size_t start = i_;
    while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
    if (i_ == start) return false;
    auto r = std::from_chars(p_.data() + start, p_.data() + i_, out);
    return r.ec == std::errc();
  }

  Result<std::unique_ptr<RegexNode>> Quantified(std::unique_ptr<RegexNode> atom) {
    if (i_ >= p_.size()) return atom;
    int min = 0;
    int max = -1;
    char q = p_[i_];
    if (q == '*') {
      ++i_;
    } else if (q == '+') {
      min = 1;
      ++i_;
    } else if (q == '?') {
      max = 1;
      ++i_;
    } else if (q == '{') {
      size_t save = i_++;
      if (!ParseInt(min)) {
        i_ = save;  // a literal '{' as JavaScript allows
        return atom;
      }
      max = min;
      if (i_ < p_.size() && p_[i_] == ',') {
        ++i_;
        max = -1;
        if (i_ < p_.size() && p_[i_] != '}' && !ParseInt(max)) return Fail("bad {n,m}");
      }
      if (i_ >= p_.size() || p_[i_] != '}') return Fail("bad {n,m}");
      ++i_;
      if (min > kMaxRepeatCount || max > kMaxRepeatCount) return Fail("repeat count too large");
      if (max >= 0 && max < min) return Fail("{n,m} with m < n");
    } else {
      return atom;
    }
    if (atom->type == RegexNode::Type::kBol || atom->type == RegexNode::Type::kEol) {
      return Fail("nothing to repeat");
    }
    auto rep = Make(RegexNode::Type::kRepeat);
    rep->min = min;
    rep->max = max;
    if (i_ < p_.size() && p_[i_] == '?') {
      rep->greedy = false;
      ++i_;
    }
    rep->children.push_back(std::move(atom));
    if (i_ < p_.size() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '?')) {
      return Fail("nothing to repeat");
    }
    return rep;
  }

  void AddShorthand(Regex::CharClass& cls, char k) {
    if (k == 'd') {
      cls.ranges.push_back({'0', '9'});
    } else if (k == 'w') {
      cls.ranges.insert(cls.ranges.end(), {{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {'_', '_'}});
    } else if (k == 's') {
      cls.ranges.insert(cls.ranges.end(), {{' ', ' '},
                                           {'\t', '\r'},
                                           {0xA0, 0xA0},
                                           {0x1680, 0x1680},
                                           {0x2000, 0x200A},
                                           {0x2028, 0x2029},
                                           {0x202F, 0x202F},
                                           {0x205F, 0x205F},
                                           {0x3000, 0x3000},
                                           {0xFEFF, 0xFEFF}});
    }
  }

  // A single escaped character after '\' (not a class shorthand).
  Result<uint32_t> EscapedChar() {
    char e = p_[i_++];
    switch (e) {
      case 'n': return uint32_t{'\n'};
      case 'r': return uint32_t{'\r'};
      case 't': return uint32_t{'\t'};
      case 'f': return uint32_t{'\f'};
      case 'v': return uint32_t{'\v'};
      case '0': return uint32_t{0};
      case 'x':
      case 'u': {
        size_t digits = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        if (i_ + digits > p_.size()) return Fail("bad escape");
        auto r = std::from_chars(p_.data() + i_, p_.data() + i_ + digits, v, 16);
        if (r.ptr != p_.data() + i_ + digits) return Fail("bad escape");
        i_ += digits;
        return v;
      }
      default:
        if ((e >= '1' && e <= '9')) return Fail("backreferences are not supported");
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) return Fail("unknown escape");
        return static_cast<uint32_t>(static_cast<unsigned char>(e));
    }
  }

  uint32_t NextChar() {
    size_t length = 1;
    uint32_t c = DecodeAt(p_, i_, length);
    i_ += length;
    return c;
  }

  Result<std::unique_ptr<RegexNode>> ClassAtom() {
    Regex::CharClass cls;
    ++i_;  // [
    if (i_ < p_.size() && p_[i_] == '^') {
      cls.negated = true;
      ++i_;
    }
    while (true) {
      if (i_ >= p_.size()) return Fail("unterminated character class");
      if (p_[i_] == ']') {
        ++i_;
        break;
      }
      uint32_t lo = 0;
      if (p_[i_] == '\\') {
        ++i_;
        if (i_ >= p_.size()) return Fail("trailing backslash");
        char k = p_[i_];
        if (k == 'd' || k == 'w' || k == 's') {
          ++i_;
          AddShorthand(cls, k);
          continue;
        }
        if (k == 'D' || k == 'W' || k == 'S') return Fail("negated shorthand inside a class");
        if (k == 'b') {
          ++i_;
          lo = '\b';
        } else {
          BASIN_ASSIGN_OR_RETURN(lo, EscapedChar());
        }
      } else {
        lo = NextChar();
      }
      uint32_t hi = lo;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        if (p_[i_] == '\\') {
          ++i_;
          if (i_ >= p_.size()) return Fail("trailing backslash");
          BASIN_ASSIGN_OR_RETURN(hi, EscapedChar());
        } else {
          hi = NextChar();
        }
        if (hi < lo) return Fail("range out of order in character class");
      }
      cls.ranges.push_back({lo, hi});
    }
    return ClassNode(std::move(cls));
  }

  std::unique_ptr<RegexNode> ClassNode(Regex::CharClass cls) {
    if (regex_.ignore_case_) {
      std::vector<std::pair<uint32_t, uint32_t>> extra;
      for (auto [lo, hi] : cls.ranges) {
        uint32_t a = std::max<uint32_t>(lo, 'A');
        uint32_t b = std::min<uint32_t>(hi, 'Z');
        if (a <= b) extra.push_back({a + 32, b + 32});
        a = std::max<uint32_t>(lo, 'a');
        b = std::min<uint32_t>(hi, 'z');
        if (a <= b) extra.push_back({a - 32, b - 32});
      }
      cls.ranges.insert(cls.ranges.end(), extra.begin(), extra.end());
    }
    auto n = Make(RegexNode::Type::kClass);
    n->index = static_cast<int>(regex_.classes_.size());
    regex_.classes_.push_back(std::move(cls));
    return n;
  }

  Result<std::unique_ptr<RegexNode>> Atom(int depth) {
    char c = p_[i_];
    switch (c) {
      case '(': {
        ++i_;
        int group = -1;
        if (i_ + 1 < p_.size() && p_[i_] == '?') {
          if (p_[i_ + 1] != ':') return Fail("lookaround and named groups are not supported");
          i_ += 2;
        } else {
          group = ++regex_.group_count_;
        }
        BASIN_ASSIGN_OR_RETURN(auto inner, Alternation(depth + 1));
        if (i_ >= p_.size() || p_[i_] != ')') return Fail("missing ')'");
        ++i_;
        auto n = Make(RegexNode::Type::kGroup);
        n->index = group;
        n->children.push_back(std::move(inner));
        return n;
      }
      case '[': return ClassAtom();
      case '.': ++i_; return Make(RegexNode::Type::kAny);
      case '^': ++i_; return Make(RegexNode::Type::kBol);
      case '$': ++i_; return Make(RegexNode::Type::kEol);
      case '*':
      case '+':
      case '?': return Fail("nothing to repeat");
      case '\\': {
        ++i_;
        if (i_ >= p_.size()) return Fail("trailing backslash");
        char k = p_[i_];
        if (k == 'b' || k == 'B') {
          ++i_;
          return Make(k == 'b' ? RegexNode::Type::kWordBoundary
                               : RegexNode::Type::kNotWordBoundary);
        }
        if (k == 'd' || k == 'w' || k == 's' || k == 'D' || k == 'W' || k == 'S') {
          ++i_;
          Regex::CharClass cls;
          cls.negated = k == 'D' || k == 'W' || k == 'S';
          AddShorthand(cls, static_cast<char>(k | 0x20));
          return ClassNode(std::move(cls));
        }
        BASIN_ASSIGN_OR_RETURN(uint32_t ch, EscapedChar());
        auto n = Make(RegexNode::Type::kChar);
        n->c = ch;
        return n;
      }
      default: {
        auto n = Make(RegexNode::Type::kChar);
        n->c = NextChar();
        return n;
      }
    }
  }

  int Emit(Instruction inst) {
    regex_.program_.push_back(inst);
    return static_cast<int>(regex_.program_.size()) - 1;
  }
  int Here() const { return static_cast<int>(regex_.program_.size()); }

  Status EmitNode(const RegexNode& n) {
    if (regex_.program_.size() > kMaxProgramSize) return Fail("pattern too large");
    switch (n.type) {
      case RegexNode::Type::kEmpty: return Status::Ok();
      case RegexNode::Type::kChar:
        Emit({Op::kChar, regex_.ignore_case_ ? FoldCase(n.c) : n.c, 0, 0});
        return Status::Ok();
      case RegexNode::Type::kAny: Emit({Op::kAny, 0, 0, 0}); return Status::Ok();
      case RegexNode::Type::kClass:
        Emit({Op::kClass, static_cast<uint32_t>(n.index), 0, 0});
        return Status::Ok();
      case RegexNode::Type::kBol: Emit({Op::kBol, 0, 0, 0}); return Status::Ok();
      case RegexNode::Type::kEol: Emit({Op::kEol, 0, 0, 0}); return Status::Ok();
      case RegexNode::Type::kWordBoundary: Emit({Op::kWordBoundary, 0, 0, 0}); return Status::Ok();
      case RegexNode::Type::kNotWordBoundary:
        Emit({Op::kNotWordBoundary, 0, 0, 0});
        return Status::Ok();
      case RegexNode::Type::kConcat:
        for (const auto& child : n.children) BASIN_RETURN_IF_ERROR(EmitNode(*child));
        return Status::Ok();
      case RegexNode::Type::kGroup:
        if (n.index >= 0) Emit({Op::kSave, static_cast<uint32_t>(2 * n.index), 0, 0});
        BASIN_RETURN_IF_ERROR(EmitNode(*n.children[0]));
        if (n.index >= 0) Emit({Op::kSave, static_cast<uint32_t>(2 * n.index + 1), 0, 0});
        return Status::Ok();
      case RegexNode::Type::kAlt: {
        std::vector<int> jumps;
        for (size_t k = 0; k < n.children.size(); ++k) {
          if (k + 1 < n.children.size()) {
            int split = Emit({Op::kSplit, 0, 0, 0});
            regex_.program_[split].x = Here();
            BASIN_RETURN_IF_ERROR(EmitNode(*n.children[k]));
            jumps.push_back(Emit({Op::kJmp, 0, 0, 0}));
            regex_.program_[split].y = Here();
          } else {
            BASIN_RETURN_IF_ERROR(EmitNode(*n.children[k]));
          }
        }
        for (int j : jumps) regex_.program_[j].x = Here();
        return Status::Ok();
      }
      case RegexNode::Type::kRepeat: {
        const RegexNode& body = *n.children[0];
        for (int k = 0; k < n.min; ++k) BASIN_RETURN_IF_ERROR(EmitNode(body));
        if (n.max < 0) {
          int split = Emit({Op::kSplit, 0, 0, 0});
          BASIN_RETURN_IF_ERROR(EmitNode(body));
          Emit({Op::kJmp, 0, split, 0});
          SetSplit(split, split + 1, Here(), n.greedy);
          return Status::Ok();
        }
        std::vector<int> splits;
        for (int k = n.min; k < n.max; ++k) {
          splits.push_back(Emit({Op::kSplit, 0, 0, 0}));
          BASIN_RETURN_IF_ERROR(EmitNode(body));
        }
        for (int split : splits) SetSplit(split, split + 1, Here(), n.greedy);
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  void SetSplit(int split, int body, int out, bool greedy) {
    regex_.program_[split].x = greedy ? body : out;
    regex_.program_[split].y = greedy ? out : body;
  }

  std::string_view p_;
  size_t i_ = 0;
  Regex& regex_;
};

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern,
                                                    std::string_view flags) {
  std::shared_ptr<Regex> regex(new Regex());
  regex->pattern_ = std::string(pattern);
  for (char f : flags) {
    if (f == 'i') {
      regex->ignore_case_ = true;
    } else if (f == 'm') {
      regex->multiline_ = true;
    } else if (f != 'g') {
      return Error(ErrorCode::kInvalidDefinition,
                   std::string("unsupported regular expression flag '") + f + "'");
    }
  }
  if (pattern.empty()) {
    return Error(ErrorCode::kInvalidDefinition, "empty regular expression");
  }
  RegexCompiler compiler(pattern, *regex);
  BASIN_RETURN_IF_ERROR(compiler.Compile());
  return std::shared_ptr<const Regex>(std::move(regex));
}

std::optional<Regex::Match> Regex::Search(std::string_view text, size_t from,
                                          int64_t& steps) const {
  struct Thread {
    int pc;
    std::vector<int64_t> caps;
  };
  const size_t slots = 2 * (static_cast<size_t>(group_count_) + 1);
  std::vector<Thread> current;
  std::vector<Thread> next;
  std::vector<uint64_t> seen(program_.size(), 0);
  uint64_t generation = 0;
  std::optional<std::vector<int64_t>> matched;

  auto at_word = [&](size_t pos) {
    if (pos >= text.size()) return false;
    return IsWordChar(static_cast<unsigned char>(text[pos]));
  };
  auto before_word = [&](size_t pos) {
    if (pos == 0) return false;
    return IsWordChar(static_cast<unsigned char>(text[pos - 1]));
  };

  // Follows the epsilon moves from `pc` at `pos`, appending consuming threads to `list` in
  // priority order. Iterative: an explicit stack, so no recursion on the program either.
  std::vector<Thread> stack;
  auto add_thread = [&](std::vector<Thread>& list, int pc, std::vector<int64_t> caps, size_t pos) {
    stack.push_back(Thread{pc, std::move(caps)});
    while (!stack.empty()) {
      Thread t = std::move(stack.back());
      stack.pop_back();
      if (seen[static_cast<size_t>(t.pc)] == generation) continue;
      seen[static_cast<size_t>(t.pc)] = generation;
      --steps;
      const Instruction& inst = program_[static_cast<size_t>(t.pc)];
      switch (inst.op) {
        case Op::kJmp: stack.push_back(Thread{inst.x, std::move(t.caps)}); break;
        case Op::kSplit:
          stack.push_back(Thread{inst.y, t.caps});
          stack.push_back(Thread{inst.x, std::move(t.caps)});
          break;
        case Op::kSave:
          t.caps[inst.c] = static_cast<int64_t>(pos);
          stack.push_back(Thread{t.pc + 1, std::move(t.caps)});
          break;
        case Op::kBol: {
          bool ok =
              pos == 0 || (multiline_ && IsLineBreak(static_cast<unsigned char>(text[pos - 1])));
          if (ok) stack.push_back(Thread{t.pc + 1, std::move(t.caps)});
          break;
        }
        case Op::kEol: {
          bool ok = pos == text.size() ||
                    (multiline_ && IsLineBreak(static_cast<unsigned char>(text[pos])));
          if (ok) stack.push_back(Thread{t.pc + 1, std::move(t.caps)});
          break;
        }
        case Op::kWordBoundary:
        case Op::kNotWordBoundary: {
          bool boundary = at_word(pos) != before_word(pos);
          if (boundary == (inst.op == Op::kWordBoundary)) {
            stack.push_back(Thread{t.pc + 1, std::move(t.caps)});
          }
          break;
        }
        default: list.push_back(std::move(t));
      }
    }
  };

  size_t pos = from;
  ++generation;
  while (true) {
    if (!matched) add_thread(current, 0, std::vector<int64_t>(slots, -1), pos);
    if (steps < 0) return std::nullopt;
    size_t length = 1;
    uint32_t c = pos < text.size() ? DecodeAt(text, pos, length) : 0;
    if (current.empty()) {
      // Nothing alive here (e.g. an anchor failed): try the next start position.
      if (matched || pos >= text.size()) break;
      ++generation;
      pos += length;
      continue;
    }
    uint32_t folded = ignore_case_ ? FoldCase(c) : c;
    ++generation;
    next.clear();
    for (Thread& t : current) {
      const Instruction& inst = program_[static_cast<size_t>(t.pc)];
      if (inst.op == Op::kMatch) {
        matched = std::move(t.caps);
        break;  // lower-priority threads lose
      }
      if (pos >= text.size()) continue;
      bool ok = false;
      if (inst.op == Op::kChar) {
        ok = folded == inst.c;
      } else if (inst.op == Op::kAny) {
        ok = !IsLineBreak(c);
      } else if (inst.op == Op::kClass) {
        const CharClass& cls = classes_[inst.c];
        bool in = false;
        for (auto [lo, hi] : cls.ranges) {
          if (c >= lo && c <= hi) {
            in = true;
            break;
          }
        }
        ok = in != cls.negated;
      }
      if (ok) add_thread(next, t.pc + 1, std::move(t.caps), pos + length);
    }
    if (steps < 0) return std::nullopt;
    std::swap(current, next);
    if (pos >= text.size()) {
      // Threads left in `current` could only be Match instructions reached at the end.
      for (Thread& t : current) {
        if (program_[static_cast<size_t>(t.pc)].op == Op::kMatch) {
          matched = std::move(t.caps);
          break;
        }
      }
      break;
    }
    pos += length;
  }
  if (!matched) return std::nullopt;
  Match m;
  m.start = static_cast<size_t>((*matched)[0]);
  m.end = static_cast<size_t>((*matched)[1]);
  for (int g = 1; g <= group_count_; ++g) {
    int64_t a = (*matched)[2 * g];
    int64_t b = (*matched)[2 * g + 1];
    if (a >= 0 && b >= a) {
      m.groups.push_back(std::make_pair(static_cast<size_t>(a), static_cast<size_t>(b)));
    } else {
      m.groups.push_back(std::nullopt);
    }
  }
  return m;
}

}  // namespace basin::workflow::jsonata
