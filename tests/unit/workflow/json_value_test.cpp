#include "workflow/json_value.h"

#include <gtest/gtest.h>

#include <string>

#include "workflow/json_path.h"

namespace basin::workflow {
namespace {

JsonValue J(std::string_view text) {
  Result<JsonValue> v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? v.value() : JsonValue();
}

TEST(JsonValue, RoundTripKeepsIntegerDoubleAndOrder) {
  EXPECT_EQ(J(R"({"b":1,"a":2.5,"c":[true,null,"x"],"d":1.0,"e":-0.125})").Serialize(),
            R"({"b":1,"a":2.5,"c":[true,null,"x"],"d":1.0,"e":-0.125})");
  EXPECT_EQ(J("12345678901234").Serialize(), "12345678901234");
  EXPECT_EQ(J("1e300").Serialize(), "1e+300");
  EXPECT_EQ(J("0.1").Serialize(), "0.1");
  EXPECT_EQ(J(R"("a\"\n\u00e9")").Serialize(), "\"a\\\"\\n\u00e9\"");
}

TEST(JsonValue, EqualityIsDeepAndNumeric) {
  EXPECT_EQ(J("1"), J("1.0"));
  EXPECT_EQ(J(R"({"a":1,"b":[1,2]})"), J(R"({"b":[1,2.0],"a":1})"));
  EXPECT_FALSE(J("[1,2]") == J("[2,1]"));
  EXPECT_FALSE(J("\"1\"") == J("1"));
  EXPECT_FALSE(J("null") == J("false"));
}

TEST(JsonValue, ParseErrors) {
  EXPECT_EQ(ParseJson("{").status().code(), ErrorCode::kMalformedJson);
  EXPECT_EQ(ParseJson("[1,]").status().code(), ErrorCode::kMalformedJson);
  EXPECT_EQ(ParseJson(std::string(300, '[') + std::string(300, ']')).status().code(),
            ErrorCode::kMalformedJson);
  std::string big = "\"" + std::string(kMaxPayloadBytes, 'x') + "\"";
  EXPECT_EQ(ParseJson(big).status().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_TRUE(ParseJson(big, 2 * kMaxPayloadBytes).ok());
}

TEST(JsonValue, SetReplacesInPlace) {
  JsonValue o = JsonValue::Object();
  o.Set("a", JsonValue::Int(1));
  o.Set("b", JsonValue::Int(2));
  o.Set("a", JsonValue::String("x"));
  EXPECT_EQ(o.Serialize(), R"({"a":"x","b":2})");
}

std::string Eval(std::string_view path, std::string_view doc) {
  Result<JsonPath> p = JsonPath::Parse(path);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return "<parse error>";
  std::optional<JsonValue> v = p->Evaluate(J(doc));
  return v ? v->Serialize() : "<none>";
}

TEST(JsonPath, Selectors) {
  const char* doc = R"({"a":{"b":[10,20,30],"c d":1,"x":{"b":5}},"e":null})";
  EXPECT_EQ(Eval("$", doc), doc);
  EXPECT_EQ(Eval("$.a.b[1]", doc), "20");
  EXPECT_EQ(Eval("$.a.b[-1]", doc), "30");
  EXPECT_EQ(Eval("$['a']['c d']", doc), "1");
  EXPECT_EQ(Eval("$.a.b[*]", doc), "[10,20,30]");
  EXPECT_EQ(Eval("$.a.b[0:2]", doc), "[10,20]");
  EXPECT_EQ(Eval("$..b", doc), "[[10,20,30],5]");
  EXPECT_EQ(Eval("$.e", doc), "null");
  EXPECT_EQ(Eval("$.missing", doc), "<none>");
  EXPECT_EQ(Eval("$.a.b[7]", doc), "<none>");
  EXPECT_EQ(Eval("$.missing[*]", doc), "[]");
}

TEST(JsonPath, ParseFlags) {
  EXPECT_TRUE(JsonPath::Parse("$$.Execution.Id")->is_context());
  EXPECT_TRUE(JsonPath::Parse("$.a[0]")->is_definite());
  EXPECT_FALSE(JsonPath::Parse("$.a[*]")->is_definite());
  EXPECT_FALSE(JsonPath::Parse("a.b").ok());
  EXPECT_FALSE(JsonPath::Parse("$.a[?(@.x)]").ok());
  EXPECT_FALSE(JsonPath::Parse("$.").ok());
  EXPECT_FALSE(JsonPath::Parse("$['a").ok());
}

TEST(JsonPath, AssignCreatesParents) {
  JsonValue doc = J(R"({"a":1})");
  ASSERT_TRUE(JsonPath::Parse("$.x.y.z")->Assign(doc, JsonValue::Int(7)).ok());
  EXPECT_EQ(doc.Serialize(), R"({"a":1,"x":{"y":{"z":7}}})");
  ASSERT_TRUE(JsonPath::Parse("$")->Assign(doc, JsonValue::Int(3)).ok());
  EXPECT_EQ(doc.Serialize(), "3");
  JsonValue s = J(R"({"a":"str"})");
  auto bad = JsonPath::Parse("$.a.b")->Assign(s, JsonValue::Int(1));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().error, "States.ResultPathMatchFailure");
}

}  // namespace
}  // namespace basin::workflow
