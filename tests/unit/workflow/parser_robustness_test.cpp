// Parsers here read user-supplied definitions and payloads: random mutations of valid inputs
// must give a value or an error, never a crash, hang or sanitizer report.
#include <gtest/gtest.h>

#include <random>

#include "unit/workflow/fake_task_runner.h"
#include "workflow/definition.h"
#include "workflow/interpreter.h"
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

// JSONata states, variables and item readers: mutated definitions either fail validation or run
// to some end (success or an ASL error) on a fake clock.
TEST(ParserRobustness, MutatedJsonataAndVariableDefinitionsParseAndRun) {
  std::mt19937_64 rng(20261128);
  const std::vector<std::string> defs = {
      R"j({"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass",)j"
      R"j("Assign":{"x":"{% $states.input.n %}"},"Next":"C"},"C":{"Type":"Choice","Choices":[)j"
      R"j({"Condition":"{% $x > 1 %}","Output":"{% $x %}","Next":"M"}],"Default":"W"},)j"
      R"j("W":{"Type":"Wait","Seconds":"{% $x %}","Next":"M"},"M":{"Type":"Map",)j"
      R"j("Items":"{% [1, 2, $x] %}","ItemSelector":{"v":"{% $states.context.Map.Item.Value %}"},)j"
      R"j("ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",)j"
      R"j("Arguments":{"a":"{% $states.input.v %}"},"Output":"{% $states.result %}","End":true}}},)j"
      R"j("Catch":[{"ErrorEquals":["States.ALL"],"Output":"{% $states.errorOutput %}","Next":"F"}],)j"
      R"j("End":true},"F":{"Type":"Fail","Error":"{% 'E' %}"}}})j",
      R"j({"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"v.$":"$.n","l":[1]},"Next":"M"},)j"
      R"j("M":{"Type":"Map","ItemReader":{"Resource":"r","Parameters":{"k.$":"$v"},)j"
      R"j("ReaderConfig":{"MaxItemsPath":"$v"}},"ItemProcessor":{"StartAt":"P","States":{"P":)j"
      R"j({"Type":"Pass","Parameters":{"s.$":"States.Format('{}', $v)"},"End":true}}},"End":true}}})j"};
  JsonValue input = ParseJson(R"({"n":2})").value();
  int ran = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string text = Mutate(defs[i % defs.size()], rng);
    (void)ParseDataPath(Mutate("$var.a[0]", rng));
    (void)RewriteIntrinsicVariables(Mutate("States.Format('{} $x', $y, $.z)", rng));
    ParsedDefinition parsed = ParseDefinition(text);
    if (!parsed.errors.empty()) continue;
    if (parsed.machine->Find(parsed.machine->start_at) == nullptr) {
      ADD_FAILURE() << "accepted without a start state: " << text;
      continue;
    }
    FakeClock clock;
    FakeClockSleeper sleeper(clock);
    testing::FakeTaskRunner tasks(clock);
    tasks.Script("r", {{true, ParseJson("[1,2,3]").value(), "", "", 1}});
    InterpreterOptions o;
    o.clock = &clock;
    o.sleeper = &sleeper;
    o.task_runner = &tasks;
    o.max_state_transitions = 200;
    ExecutionResult r = Interpreter(parsed.machine, o).Execute(input);
    EXPECT_FALSE(r.history.empty());
    ++ran;
  }
  EXPECT_GT(ran, 0);
}

}  // namespace
}  // namespace basin::workflow
