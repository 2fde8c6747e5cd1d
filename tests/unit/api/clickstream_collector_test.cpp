#include "api/clickstream_collector.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "base/base64.h"
#include "base/clock.h"
#include "base/gzip.h"
#include "ingest/clickstream_event.h"
#include "ingest/record_envelope.h"
#include "ingest/stream_ingestor.h"
#include "log/log.h"
#include "observe/metrics.h"
#include "security/authorizer.h"
#include "unit/temp_dir.h"

namespace basin::api {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kNowUs = 1'719'000'100'000'000;
constexpr std::string_view kOrigin = "http://127.0.0.1:8123";

// A `_page_view` and a custom e-commerce event, shaped as @aws/clickstream-web sends them.
std::string SdkBody() {
  return R"([{"event_type":"_page_view","event_id":"pv-1","device_id":"d-1","unique_id":"anon-1",)"
         R"("app_id":"shopApp","timestamp":1719000000000,"platform":"Web","locale":"en-US",)"
         R"("sdk_name":"aws-solution-clickstream-sdk","sdk_version":"0.12.6","user":{},)"
         R"("attributes":{"_session_id":"s-1","_page_url":"http://127.0.0.1:8123/p",)"
         R"("_page_title":"Shop"}},)"
         R"({"event_type":"purchase","event_id":"buy-1","device_id":"d-1","unique_id":"anon-1",)"
         R"("app_id":"shopApp","timestamp":1719000001000,"platform":"Web",)"
         R"("items":[{"id":"sku-9","price":10.5,"quantity":2}],)"
         R"("user":{"_user_id":{"value":"u-7","set_timestamp":1719000000500}},)"
         R"("attributes":{"_session_id":"s-1","_value":21,"_currency":"USD"}}])";
}

class ClickstreamCollectorTest : public ::testing::Test {
 protected:
  ClickstreamCollectorTest() : clock_(kNowUs), router_(&authorizer_) {
    log::LogOptions log_options;
    log_options.dir = dir_.path();
    log_options.durable = false;
    log_options.clock = &clock_;
    log_ = std::move(log::Log::Open(log_options)).value();
    EXPECT_TRUE(log_->CreateStream("clickstream", log::StreamOptions{}).ok());
    ingestor_ = std::make_unique<ingest::StreamIngestor>(log_.get(), ingest::IngestLimits{},
                                                         &clock_, nullptr);
    ingestor_->SetStreamFormat("clickstream", ingest::StreamFormat::kClickstream);
    ClickstreamCollectorOptions options;
    options.app_ids = {"shopApp", "otherApp"};
    options.limits.max_body_bytes = 64 * 1024;
    options.metrics = &metrics_;
    collector_ = std::make_unique<ClickstreamCollector>(ingestor_.get(), options);
    collector_->AddRoutes(router_);
  }

  static HttpRequest Post(std::string body, std::string app_id = "shopApp") {
    HttpRequest request;
    request.method = "POST";
    request.path = "/collect";
    request.query = {{"platform", "Web"},
                     {"appId", app_id},
                     {"event_bundle_sequence_id", "3"},
                     {"upload_timestamp", "1719000002000"},
                     {"hashCode", ingest::ClickstreamSdkHashCode(body)}};
    request.headers = {{"Origin", std::string(kOrigin)},
                       {"Content-Type", "application/json; charset=utf-8"},
                       {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156"}};
    request.remote_ip = "10.1.2.3";
    request.body = std::move(body);
    return request;
  }

  HttpResponse Call(HttpRequest request) {
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    auto future = promise->get_future();
    router_.Dispatch(request, [promise](HttpResponse r) { promise->set_value(std::move(r)); });
    return future.get();
  }

  // The accepted events in the log (rejected ones are kept there too, see Rejections).
  std::vector<log::LogRecord> Records() { return LogRecords(/*rejected=*/false); }

  // The rejected events kept in the log: (payload, reason), for the loader's quarantine.
  std::vector<std::pair<std::string, std::string>> Rejections() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const log::LogRecord& record : LogRecords(/*rejected=*/true)) {
      auto envelope = ingest::RecordEnvelope::Decode(record.data);
      out.emplace_back(std::string(envelope->payload), std::string(envelope->rejection));
    }
    return out;
  }

  std::vector<log::LogRecord> LogRecords(bool rejected) {
    auto reader = std::move(log_->OpenReader("clickstream", 0)).value();
    std::vector<log::LogRecord> all = std::move(reader->ReadBatch(1000, 1 << 24)).value();
    std::vector<log::LogRecord> out;
    for (log::LogRecord& record : all) {
      auto envelope = ingest::RecordEnvelope::Decode(record.data);
      EXPECT_TRUE(envelope.ok());
      if (envelope.ok() && envelope->rejection.empty() != rejected) {
        out.push_back(std::move(record));
      }
    }
    return out;
  }

  static std::string Header(const HttpResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "<none>";
  }

  static void ExpectCors(const HttpResponse& r) {
    EXPECT_EQ(Header(r, "Access-Control-Allow-Origin"), kOrigin);
    EXPECT_EQ(Header(r, "Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(Header(r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
    EXPECT_NE(Header(r, "Vary").find("Origin"), std::string::npos);
  }

  static std::string ErrorCodeOf(const HttpResponse& r) {
    dom::parser parser;
    std::string_view code;
    if (parser.parse(r.body)["error"]["code"].get(code)) return "<no error code>";
    return std::string(code);
  }

  test::TempDir dir_;
  FakeClock clock_;
  observe::MetricsRegistry metrics_;
  security::AllowAllAuthorizer authorizer_;
  Router router_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<ingest::StreamIngestor> ingestor_;
  std::unique_ptr<ClickstreamCollector> collector_;
};

TEST_F(ClickstreamCollectorTest, AppendsMappedEventsWithSdkSourceClientIpAndUserAgent) {
  HttpResponse r = Call(Post(SdkBody()));
  ASSERT_EQ(r.status, 200) << r.body;  // exactly 200: the Web SDK treats anything else as failure
  ExpectCors(r);
  EXPECT_EQ(r.body, R"({"stream":"clickstream","accepted":2,"rejected":[]})");

  auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  dom::parser parser;
  std::vector<ingest::ClickstreamEvent> events;
  for (const auto& record : records) {
    auto envelope = ingest::RecordEnvelope::Decode(record.data);
    ASSERT_TRUE(envelope.ok());
    EXPECT_EQ(envelope->source, ingest::RecordSource::kClickstreamSdk);
    EXPECT_EQ(ingest::RecordSourceName(envelope->source), "clickstream-sdk");
    EXPECT_EQ(envelope->client_ip, "10.1.2.3");
    EXPECT_EQ(envelope->user_agent, "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156");
    auto event =
        ingest::ParseClickstreamEvent(parser, envelope->payload, ingest::IngestLimits{}, kNowUs);
    ASSERT_TRUE(event.ok()) << event.status().ToString();
    events.push_back(std::move(event).value());
  }
  EXPECT_EQ(events[0].event_type, "_page_view");
  EXPECT_EQ(events[0].page_title, "Shop");
  EXPECT_FALSE(events[0].user_id.has_value());
  EXPECT_EQ(events[1].event_type, "purchase");
  EXPECT_EQ(events[1].user_id, "u-7");
  EXPECT_EQ(events[1].product_id, "sku-9");
  EXPECT_EQ(events[1].currency, "USD");
  EXPECT_EQ(events[1].revenue, 21.0);
  EXPECT_EQ(events[1].app_id, "shopApp");
  // Partitioned by visitor: the anonymous id until setUserId, then the user id.
  EXPECT_EQ(records[0].partition_key, "anon-1");
  EXPECT_EQ(records[1].partition_key, "u-7");
}

TEST_F(ClickstreamCollectorTest, UnknownOrMissingAppIdIs403WithCorsAndAppendsNothing) {
  HttpResponse unknown = Call(Post(SdkBody(), "strangerApp"));
  EXPECT_EQ(unknown.status, 403);
  EXPECT_EQ(ErrorCodeOf(unknown), "AccessDenied");
  EXPECT_NE(unknown.body.find("strangerApp"), std::string::npos);
  ExpectCors(unknown);  // else the browser shows a CORS error instead of the 403
  HttpRequest missing = Post(SdkBody());
  missing.query.erase("appId");
  EXPECT_EQ(Call(std::move(missing)).status, 403);
  EXPECT_TRUE(Records().empty());
}

TEST_F(ClickstreamCollectorTest, EventsOfAnotherRegisteredAppAreRejectedPerEvent) {
  // A registered appId in the URL does not let events claim another app.
  HttpResponse r = Call(Post(SdkBody(), "otherApp"));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("accepted":0)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"index":1,"code":"ValidationFailed")"), std::string::npos) << r.body;
  EXPECT_TRUE(Records().empty());
  // Kept as they came, with the reason, for the quarantine.
  auto rejections = Rejections();
  ASSERT_EQ(rejections.size(), 2u);
  EXPECT_NE(rejections[0].first.find("\"app_id\""), std::string::npos) << rejections[0].first;
  EXPECT_NE(rejections[0].second.find("request's appId"), std::string::npos)
      << rejections[0].second;
}

TEST_F(ClickstreamCollectorTest, HashMismatchIs400AndAppendsNothing) {
  HttpRequest request = Post(SdkBody());
  request.query.erase("hashCode");
  request.query.emplace("hashCode", "00000000");
  HttpResponse r = Call(std::move(request));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCodeOf(r), "ValidationFailed");
  EXPECT_NE(r.body.find("hashCode mismatch"), std::string::npos) << r.body;
  ExpectCors(r);
  EXPECT_TRUE(Records().empty());
}

TEST_F(ClickstreamCollectorTest, GarbageIs400AndOversizeIs413) {
  HttpResponse garbage = Call(Post("[{\"event_id\": nope"));
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(ErrorCodeOf(garbage), "MalformedJson");
  ExpectCors(garbage);
  HttpResponse not_base64 = Call(Post("definitely not an SDK body"));
  EXPECT_EQ(not_base64.status, 400);
  EXPECT_EQ(ErrorCodeOf(not_base64), "MalformedBody");
  HttpResponse big = Call(Post("[" + std::string(64 * 1024, ' ') + "]"));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(ErrorCodeOf(big), "PayloadTooLarge");
  ExpectCors(big);
  EXPECT_TRUE(Records().empty());
}

TEST_F(ClickstreamCollectorTest, PerEventRejectionsCarryRequestIndexesFromBothStages) {
  // 0: fine; 1: mapping rejects (attributes not an object); 2: the native schema rejects
  // (no timestamp); 3: fine.
  const std::string body =
      R"([{"event_type":"a","event_id":"e0","timestamp":1719000000000},)"
      R"({"event_type":"b","event_id":"e1","timestamp":1719000000000,"attributes":"x"},)"
      R"({"event_type":"c","event_id":"e2"},)"
      R"({"event_type":"d","event_id":"e3","timestamp":1719000000000}])";
  HttpResponse r = Call(Post(body));
  ASSERT_EQ(r.status, 200) << r.body;
  dom::parser parser;
  dom::element doc = parser.parse(r.body);
  EXPECT_EQ(int64_t(doc["accepted"]), 2);
  dom::array rejected = doc["rejected"];
  ASSERT_EQ(rejected.size(), 2u);
  EXPECT_EQ(int64_t(rejected.at(0)["index"]), 1);
  EXPECT_NE(std::string_view(rejected.at(0)["reason"]).find("attributes"), std::string::npos);
  EXPECT_EQ(int64_t(rejected.at(1)["index"]), 2);
  EXPECT_NE(std::string_view(rejected.at(1)["reason"]).find("timestamp"), std::string::npos);
  auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_NE(records[1].data.find("\"e3\""), std::string::npos);
  // Both rejected events are kept in the log with their reasons, whichever stage refused them.
  auto rejections = Rejections();
  ASSERT_EQ(rejections.size(), 2u);
  std::string reasons = rejections[0].second + " | " + rejections[1].second;
  EXPECT_NE(reasons.find("attributes"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("timestamp"), std::string::npos) << reasons;
  // The SDK never reads the answer: the rejections show in the metrics.
  EXPECT_EQ(metrics_.GetCounter("basin_collector_events_accepted_total", "").value(), 2u);
  EXPECT_EQ(metrics_.GetCounter("basin_collector_events_rejected_total", "").value(), 2u);
}

TEST_F(ClickstreamCollectorTest, AcceptsTheMobileGzipBase64Variant) {
  HttpRequest request = Post(Base64Encode(Gzip(SdkBody())));
  request.query.emplace("compression", "gzip");
  HttpResponse r = Call(std::move(request));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Records().size(), 2u);
}

TEST_F(ClickstreamCollectorTest, PreflightIs204WithCredentialedCorsForTheExactOrigin) {
  HttpRequest request;
  request.method = "OPTIONS";
  request.path = "/collect";
  request.query = {{"appId", "shopApp"}};
  request.headers = {{"Origin", std::string(kOrigin)},
                     {"Access-Control-Request-Method", "POST"},
                     {"Access-Control-Request-Headers", "content-type,x-custom"}};
  HttpResponse r = Call(request);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  ExpectCors(r);
  EXPECT_EQ(Header(r, "Access-Control-Allow-Headers"), "content-type,x-custom");
  EXPECT_EQ(Header(r, "Access-Control-Max-Age"), "3600");

  // Requested headers without Content-Type: it is added (the SDK always sends it).
  request.headers = {{"Origin", "https://shop.example.com"},
                     {"Access-Control-Request-Headers", "x-custom"}};
  r = Call(request);
  EXPECT_EQ(Header(r, "Access-Control-Allow-Origin"), "https://shop.example.com");
  EXPECT_EQ(Header(r, "Access-Control-Allow-Headers"), "x-custom, Content-Type");
  request.headers = {{"Origin", "https://shop.example.com"}};
  r = Call(request);
  EXPECT_EQ(Header(r, "Access-Control-Allow-Headers"), "Content-Type");
}

TEST_F(ClickstreamCollectorTest, NoOriginNoCorsHeadersAndOtherMethodsAre405) {
  HttpRequest request = Post(SdkBody());
  request.headers.erase("Origin");
  HttpResponse r = Call(std::move(request));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Header(r, "Access-Control-Allow-Origin"), "<none>");
  HttpRequest get;
  get.method = "GET";
  get.path = "/collect";
  EXPECT_EQ(Call(std::move(get)).status, 405);
}

TEST(ClickstreamCollectorCorsTest, NeverAnswersAWildcardOrigin) {
  HttpRequest request;
  request.headers = {{"Origin", "null"}};  // a sandboxed frame or a file:// page
  auto headers = ClickstreamCollector::CorsHeaders(request);
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(headers[0].first, "Access-Control-Allow-Origin");
  EXPECT_EQ(headers[0].second, "null");
  EXPECT_TRUE(ClickstreamCollector::CorsHeaders(HttpRequest{}).empty());
}

}  // namespace
}  // namespace basin::api
