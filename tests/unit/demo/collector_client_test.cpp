#include "demo/collector_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "demo/json_value.h"
#include "unit/demo/test_http_server.h"

namespace basin::demo {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

TEST(JsonValue, ParsesDocuments) {
  auto doc =
      JsonValue::Parse(R"( {"a": [1, -2.5e1, true, false, null], "s": "x\"\u00e9\n", "o": {}} )");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const JsonValue* a = doc->Find("a");
  ASSERT_TRUE(a && a->is_array());
  ASSERT_EQ(a->items().size(), 5u);
  EXPECT_EQ(a->items()[1].number(), -25);
  EXPECT_TRUE(a->items()[2].boolean());
  EXPECT_TRUE(a->items()[4].is_null());
  EXPECT_EQ(doc->Find("s")->string(), "x\"\xC3\xA9\n");
  EXPECT_TRUE(doc->Find("o")->is_object());
  EXPECT_EQ(doc->Find("missing"), nullptr);
  EXPECT_EQ(JsonValue::Parse("\"\\ud83d\\ude00\"")->string(), "\xF0\x9F\x98\x80");
}

TEST(JsonValue, RejectsMalformed) {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "1 2", "{\"a\":01x}", "[\"\x01\"]"}) {
    auto doc = JsonValue::Parse(bad);
    EXPECT_FALSE(doc.ok()) << bad;
    if (!doc.ok()) {
      EXPECT_EQ(doc.status().code(), ErrorCode::kMalformedJson);
    }
  }
  EXPECT_FALSE(JsonValue::Parse(std::string(100, '[') + std::string(100, ']')).ok());
}

TEST(IngestReply, ParsesAcceptedAndRejected) {
  auto reply = ParseIngestReply(
      R"({"stream":"clickstream","accepted":3,"rejected":[{"index":1,"code":"ValidationFailed","reason":"event_type is required"}]})");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->accepted, 3);
  ASSERT_EQ(reply->rejected.size(), 1u);
  EXPECT_EQ(reply->rejected[0].index, 1);
  EXPECT_EQ(reply->rejected[0].code, "ValidationFailed");
  EXPECT_FALSE(ParseIngestReply(R"({"stream":"clickstream"})").ok());
  EXPECT_FALSE(ParseIngestReply("<html>").ok());
}

TEST(CollectorClient, PostsOverOneKeptAliveConnection) {
  std::atomic<int> requests{0};
  TestRequest last;
  TestHttpServer server([&](const TestRequest& r) {
    ++requests;
    last = r;
    return TestResponse{200, R"({"stream":"clickstream","accepted":1,"rejected":[]})"};
  });
  CollectorClient client("127.0.0.1", server.port(), 2000);
  for (int i = 0; i < 5; ++i) {
    auto reply = client.Post("/v1/streams/clickstream/records", "application/json", "UA/1.0",
                             "[{\"event_id\":\"" + std::to_string(i) + "\"}]");
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(ParseIngestReply(reply->body)->accepted, 1);
  }
  EXPECT_EQ(requests.load(), 5);
  EXPECT_EQ(last.target, "/v1/streams/clickstream/records");
  EXPECT_EQ(last.user_agent, "UA/1.0");
  EXPECT_EQ(last.content_type, "application/json");
  EXPECT_EQ(last.body, "[{\"event_id\":\"4\"}]");
}

TEST(CollectorClient, ReportsStatusesAndOutages) {
  TestHttpServer server([](const TestRequest&) {
    return TestResponse{503, R"({"code":"Unavailable","message":"busy"})"};
  });
  CollectorClient client("127.0.0.1", server.port(), 2000);
  auto reply = client.Post("/x", "application/json", "UA", "[]");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->status, 503);

  const uint16_t port = server.port();
  server.Stop();
  CollectorClient nobody("127.0.0.1", port, 500);
  auto refused = nobody.Post("/x", "application/json", "UA", "[]");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnavailable);
}

TEST(CollectorClient, TimesOutAndInterrupts) {
  TestHttpServer server([](const TestRequest&) { return TestResponse::Stall(); });
  CollectorClient client("127.0.0.1", server.port(), 200);
  auto start = std::chrono::steady_clock::now();
  auto reply = client.Post("/x", "application/json", "UA", "[]");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  CollectorClient patient("127.0.0.1", server.port(), 60'000);
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    patient.Interrupt();
  });
  start = std::chrono::steady_clock::now();
  reply = patient.Post("/x", "application/json", "UA", "[]");
  interrupter.join();
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kShuttingDown);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(patient.Post("/x", "application/json", "UA", "[]").status().code(),
            ErrorCode::kShuttingDown);
}

}  // namespace
}  // namespace basin::demo
