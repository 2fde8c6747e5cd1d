// Parsers here read user-supplied definitions and payloads: random mutations of valid inputs
// must give a value or an error, never a crash, hang or sanitizer report.
#include <gtest/gtest.h>

#include <random>

#include "workflow/definition.h"
#include "workflow/intrinsics.h"
#include "workflow/json_path.h"

namespace basin::workflow {
namespace {

std::string Mutate(std::string s, std::mt19937_64& rng) {
  static constexpr char kAlphabet[] = "$.[]*'\"\\(),:{}0123456789-aZ ?@";
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 3) {
      case 0: s.insert(s.begin() + at, kAlphabet[rng() % (sizeof kAlphabet - 1)]); break;
      case 1:
        if (at < s.size()) s.erase(at, 1);
        break;
      default:
        if (at < s.size()) s[at] = kAlphabet[rng() % (sizeof kAlphabet - 1)];
        break;
    }
  }
  return s;
}

TEST(ParserRobustness, MutatedPathsIntrinsicsAndDefinitions) {
  std::mt19937_64 rng(20261127);
  const std::vector<std::string> paths = {"$.a['b c'][0][*]..d", "$$.Map.Item.Value", "$.x[1:3]"};
  const std::vector<std::string> calls = {
      "States.Format('a {} \\{\\}', $.a, States.Array(1, 'x', null))",
      "States.ArrayPartition(States.ArrayRange(1, 9, 2), 2)", "States.Hash($['k'], 'MD5')"};
  const std::string def =
      R"({"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a",)"
      R"("StringMatches":"a*","Next":"T"}],"Default":"T"},"T":{"Type":"Task","Resource":"r",)"
      R"j("Parameters":{"x.$":"States.UUID()"},"Retry":[{"ErrorEquals":["States.ALL"]}],"End":true}}})j";
  JsonValue doc = ParseJson(R"({"a":[{"b":1}],"k":"v","x":[1,2,3]})").value();
  IntrinsicEnv env{&doc, &doc, &rng};
  for (int i = 0; i < 3000; ++i) {
    Result<JsonPath> p = JsonPath::Parse(Mutate(paths[i % paths.size()], rng));
    if (p.ok()) (void)p->Evaluate(doc);
    (void)EvaluateIntrinsic(Mutate(calls[i % calls.size()], rng), env);
    ParsedDefinition parsed = ParseDefinition(Mutate(def, rng));
    (void)parsed;
  }
  SUCCEED();
}

}  // namespace
}  // namespace basin::workflow
