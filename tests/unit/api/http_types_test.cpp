#include "api/http_types.h"

#include <gtest/gtest.h>

namespace basin::api {
namespace {

TEST(PercentDecode, DecodesEscapes) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc%2f"), "a b/c/");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode("a+b", /*plus_as_space=*/true), "a b");
  EXPECT_EQ(PercentDecode("%E2%82%AC"), "\xE2\x82\xAC");
  EXPECT_EQ(PercentDecode(""), "");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  EXPECT_FALSE(PercentDecode("%"));
  EXPECT_FALSE(PercentDecode("%4"));
  EXPECT_FALSE(PercentDecode("ab%4"));
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_FALSE(PercentDecode("%g0"));
}

TEST(RawPathOf, StripsQueryAndAuthority) {
  EXPECT_EQ(RawPathOf("/a%2Fb?x=1"), "/a%2Fb");
  EXPECT_EQ(RawPathOf("/a"), "/a");
  EXPECT_EQ(RawPathOf("http://host:80/a/b?q"), "/a/b");
  EXPECT_EQ(RawPathOf("http://host"), "/");
  EXPECT_EQ(RawPathOf("http://host?x"), "/");
  EXPECT_EQ(RawPathOf("*"), "*");
}

TEST(ParseQueryString, DecodesPairs) {
  auto q = ParseQueryString("a=1&b=x%20y&c&a=2&&d=e=f&plus=a+b");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->count("a"), 2u);
  EXPECT_EQ(q->find("b")->second, "x y");
  EXPECT_EQ(q->find("c")->second, "");
  EXPECT_EQ(q->find("d")->second, "e=f");
  EXPECT_EQ(q->find("plus")->second, "a b");
  EXPECT_FALSE(ParseQueryString("a=%zz"));
  EXPECT_TRUE(ParseQueryString("")->empty());
}

TEST(HttpRequest, HeaderLookupIsCaseInsensitiveAndFirstWins) {
  HttpRequest r;
  r.headers.emplace("Content-Type", "application/json");
  r.headers.emplace("X-Amz-Target", "first");
  r.headers.emplace("x-amz-target", "second");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(r.Header("X-AMZ-TARGET"), "first");
  EXPECT_EQ(r.Header("missing"), "");
  EXPECT_EQ(r.Header("Content-Typ"), "");
}

TEST(HttpRequest, QueryParamFirstValue) {
  HttpRequest r;
  r.query.emplace("a", "1");
  r.query.emplace("a", "2");
  r.query.emplace("ab", "3");
  EXPECT_EQ(r.QueryParam("a"), "1");
  EXPECT_EQ(r.QueryParam("ab"), "3");
  EXPECT_EQ(r.QueryParam("b"), "");
}

TEST(CaseInsensitiveLess, OrdersIgnoringCase) {
  CaseInsensitiveLess less;
  EXPECT_FALSE(less("ABC", "abc"));
  EXPECT_FALSE(less("abc", "ABC"));
  EXPECT_TRUE(less("abc", "ABD"));
  EXPECT_TRUE(less("ab", "ABC"));
  EXPECT_FALSE(less("abc", "AB"));
}

}  // namespace
}  // namespace basin::api
