#include "api/router.h"

#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <vector>

#include "base/json_writer.h"

namespace basin::api {
namespace {

// Records every question and denies resources on a block list.
class RecordingAuthorizer final : public security::Authorizer {
 public:
  Status Authorize(const security::AccessRequest& request) const override {
    std::lock_guard lock(mu_);
    seen_.push_back(request);
    for (const auto& r : denied_) {
      if (r == request.resource) {
        return Error(ErrorCode::kAccessDenied, "not allowed to " + request.action);
      }
    }
    return Status::Ok();
  }
  void Deny(std::string resource) { denied_.push_back(std::move(resource)); }
  std::vector<security::AccessRequest> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<security::AccessRequest> seen_;
  std::vector<std::string> denied_;
};

// Answers with the route name and its path parameters.
Handler Echo(std::string name) {
  return [name](HttpRequest& request, Responder respond) {
    JsonWriter w;
    w.BeginObject().Key("route").String(name);
    for (const auto& [k, v] : request.path_params) w.Key(k).String(v);
    w.EndObject();
    respond(HttpResponse{200, "application/json", w.Take(), {}});
  };
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : router_(&authorizer_) {
    router_.Add({"GET", "/v1/streams", "basin:ListStreams", "arn:basin:stream:::*", Echo("list")});
    router_.Add({"GET", "/v1/streams/{stream}", "basin:DescribeStream",
                 "arn:basin:stream:::{stream}", Echo("describe")});
    router_.Add({"DELETE", "/v1/streams/{stream}", "basin:DeleteStream",
                 "arn:basin:stream:::{stream}", Echo("delete")});
    router_.Add({"POST", "/v1/streams/{stream}/records", "basin:PutRecords",
                 "arn:basin:stream:::{stream}", Echo("put")});
    router_.Add({"GET", "/v1/tables/{db}/{table}", "basin:GetTable",
                 "arn:basin:table:::{db}/{table}", Echo("table")});
    router_.Add({"GET", "/", "basin:Root", "arn:basin:::", Echo("root")});
  }

  HttpResponse Send(std::string method, std::string target) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    std::optional<HttpResponse> out;
    router_.Dispatch(request, [&out](HttpResponse r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out.value_or(HttpResponse{});
  }

  RecordingAuthorizer authorizer_;
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralAndParameterSegments) {
  EXPECT_EQ(Send("GET", "/v1/streams").body, R"({"route":"list"})");
  EXPECT_EQ(Send("GET", "/v1/streams/clicks").body, R"({"route":"describe","stream":"clicks"})");
  EXPECT_EQ(Send("DELETE", "/v1/streams/clicks").body, R"({"route":"delete","stream":"clicks"})");
  EXPECT_EQ(Send("POST", "/v1/streams/clicks/records?x=1").body,
            R"({"route":"put","stream":"clicks"})");
  EXPECT_EQ(Send("GET", "/v1/tables/sales/orders").body,
            R"({"route":"table","db":"sales","table":"orders"})");
  EXPECT_EQ(Send("GET", "/").body, R"({"route":"root"})");
}

TEST_F(RouterTest, ParametersAreDecodedAfterSplitting) {
  // %2F stays inside the segment instead of adding one.
  EXPECT_EQ(Send("GET", "/v1/streams/a%2Fb%20c").body, R"({"route":"describe","stream":"a/b c"})");
  // Encoded literal segments match too.
  EXPECT_EQ(Send("GET", "/v1/str%65ams").body, R"({"route":"list"})");
  EXPECT_EQ(Send("GET", "/v1/streams/%zz").status, 400);
}

TEST_F(RouterTest, UnknownPathIs404) {
  for (const char* target : {"/v2/streams", "/v1/streams/", "/v1/streams/a/b", "/v1//streams",
                             "/v1/streams/a/records/x", "//"}) {
    HttpResponse r = Send("GET", target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_NE(r.body.find(R"("code":"RouteNotFound")"), std::string::npos) << target;
  }
}

TEST_F(RouterTest, KnownPathWithOtherMethodIs405WithAllow) {
  HttpResponse r = Send("PUT", "/v1/streams/clicks");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.body.find(R"("code":"MethodNotAllowed")"), std::string::npos);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET, DELETE");
}

TEST_F(RouterTest, AsksTheAuthorizerWithTheFilledResource) {
  Send("GET", "/v1/tables/sales/orders");
  auto seen = authorizer_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].principal, "anonymous");
  EXPECT_EQ(seen[0].action, "basin:GetTable");
  EXPECT_EQ(seen[0].resource, "arn:basin:table:::sales/orders");
}

TEST_F(RouterTest, DeniedIs403AndTheHandlerDoesNotRun) {
  authorizer_.Deny("arn:basin:stream:::secret");
  HttpResponse r = Send("POST", "/v1/streams/secret/records");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body,
            R"({"error":{"code":"AccessDenied","message":"not allowed to basin:PutRecords"}})");
  EXPECT_EQ(Send("POST", "/v1/streams/public/records").status, 200);
}

TEST_F(RouterTest, FallsBackToTheDecodedPathWithoutATarget) {
  HttpRequest request;
  request.method = "GET";
  request.path = "/v1/streams/x";
  std::optional<HttpResponse> out;
  router_.Dispatch(request, [&out](HttpResponse r) { out = std::move(r); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->body, R"({"route":"describe","stream":"x"})");
  EXPECT_EQ(request.path_params.at("stream"), "x");
}

TEST(RouterDeathTest, MalformedRoutesAreBugs) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  security::AllowAllAuthorizer allow;
  Router router(&allow);
  EXPECT_DEATH(router.Add({"GET", "/a/x{y}", "a", "r", Echo("x")}), "");
  EXPECT_DEATH(router.Add({"GET", "/a/{y}", "a", "r:{z}", Echo("x")}), "");
  EXPECT_DEATH(router.Add({"GET", "a", "a", "r", Echo("x")}), "");
  Router no_authorizer(nullptr);
  EXPECT_DEATH(no_authorizer.Add({"GET", "/a", "a", "r", Echo("x")}), "authorizer_");
}

}  // namespace
}  // namespace basin::api
