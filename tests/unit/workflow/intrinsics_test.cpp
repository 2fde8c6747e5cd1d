#include "workflow/intrinsics.h"

#include <gtest/gtest.h>

namespace basin::workflow {
namespace {

JsonValue Input() { return ParseJson(R"({"a":[1,2,3],"s":"x","o":{"k":"v"},"it's":1})").value(); }

std::string Eval(std::string_view text, uint64_t seed = 1) {
  JsonValue input = Input();
  JsonValue ctx = ParseJson(R"({"State":{"Name":"S"}})").value();
  std::mt19937_64 rng(seed);
  IntrinsicEnv env{&input, &ctx, &rng};
  Outcome<JsonValue> out = EvaluateIntrinsic(text, env);
  if (!out.ok()) return out.error().error + ": " + out.error().cause;
  return out.value().Serialize();
}

TEST(IntrinsicParse, ArgumentKinds) {
  Result<IntrinsicCall> call = IntrinsicCall::Parse(
      "States.Array( 'a\\'b' , -1.5, 7, null, true, $.a[0], $$.State.Name, "
      "States.UUID() )");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  ASSERT_EQ(call->args().size(), 8u);
  EXPECT_EQ(call->args()[0].literal.AsString(), "a'b");
  EXPECT_EQ(call->args()[1].literal.Serialize(), "-1.5");
  EXPECT_TRUE(call->args()[2].literal.IsInt());
  EXPECT_TRUE(call->args()[3].literal.IsNull());
  EXPECT_EQ(call->args()[5].kind, IntrinsicCall::Arg::Kind::kPath);
  EXPECT_TRUE(call->args()[6].path->is_context());
  EXPECT_EQ(call->args()[7].kind, IntrinsicCall::Arg::Kind::kCall);
}

TEST(IntrinsicParse, Errors) {
  for (const char* bad :
       {"States.Nope()", "States.Array(", "States.Array('x)", "States.Array(x)",
        "States.Array(1) extra", "States.UUID(1)", "States.Format()", "States.Hash('a')",
        "States.MathRandom(1,2,3,4)", "States.Array('\\q')", "States.Array(1,,2)"}) {
    EXPECT_FALSE(IntrinsicCall::Parse(bad).ok()) << bad;
  }
  std::string deep;
  for (int i = 0; i < 10; ++i) deep += "States.Array(";
  deep += std::string(10, ')');
  EXPECT_TRUE(IntrinsicCall::Parse(deep).ok());
  EXPECT_FALSE(IntrinsicCall::Parse("States.Array(" + deep + ")").ok());
}

TEST(IntrinsicEval, PathsWithBracketsAndQuotes) {
  EXPECT_EQ(Eval("States.Array($['it\\'s'], $.a[1], $.o['k'])"), R"([1,2,"v"])");
  EXPECT_EQ(Eval("States.Format('{}', $$.State.Name)"), R"("S")");
}

TEST(IntrinsicEval, UuidIsV4AndSeeded) {
  std::string a = Eval("States.UUID()", 5), b = Eval("States.UUID()", 5),
              c = Eval("States.UUID()", 6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_EQ(a.size(), 38u);  // 36 + quotes
  EXPECT_EQ(a[15], '4');
  EXPECT_TRUE(a[20] == '8' || a[20] == '9' || a[20] == 'a' || a[20] == 'b') << a;
}

TEST(IntrinsicEval, MathRandomRangeAndSeed) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    int64_t v = std::stoll(Eval("States.MathRandom(-3, 4)", seed));
    EXPECT_GE(v, -3);
    EXPECT_LT(v, 4);
  }
  EXPECT_EQ(Eval("States.MathRandom(0, 1000000, 9)", 1),
            Eval("States.MathRandom(0, 1000000, 9)", 2));
  EXPECT_NE(Eval("States.MathRandom(-9223372036854775807, 9223372036854775807)"), "");
}

TEST(IntrinsicEval, OverflowIsAFailureNotUndefined) {
  EXPECT_EQ(Eval("States.MathAdd(9223372036854775807, 1)").rfind("States.IntrinsicFailure", 0), 0u);
  EXPECT_EQ(Eval("States.ArrayRange(9223372036854775806, 9223372036854775807, 5)"),
            "[9223372036854775806]");
}

TEST(IntrinsicEval, SizeLimits) {
  JsonValue input = JsonValue::Object();
  input.Set("big", JsonValue::String(std::string(10001, 'a')));
  input.Set("ok", JsonValue::String(std::string(10000, 'a')));
  std::mt19937_64 rng(1);
  IntrinsicEnv env{&input, &input, &rng};
  EXPECT_FALSE(EvaluateIntrinsic("States.Base64Encode($.big)", env).ok());
  EXPECT_FALSE(EvaluateIntrinsic("States.Hash($.big, 'MD5')", env).ok());
  EXPECT_TRUE(EvaluateIntrinsic("States.Base64Encode($.ok)", env).ok());
  EXPECT_TRUE(EvaluateIntrinsic("States.Hash($.ok, 'SHA-256')", env).ok());
}

}  // namespace
}  // namespace basin::workflow
