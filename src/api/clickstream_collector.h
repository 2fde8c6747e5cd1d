#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/router.h"
#include "ingest/clickstream_sdk.h"

namespace basin::ingest {
class StreamIngestor;
}
namespace basin::observe {
class Counter;
class MetricsRegistry;
}  // namespace basin::observe

namespace basin::api {

struct ClickstreamCollectorOptions {
  // The appIds the collector takes events for; any other appId is answered 403.
  std::set<std::string, std::less<>> app_ids;
  std::string stream = "clickstream";
  ingest::ClickstreamSdkLimits limits;
  // Optional: basin_collector_events_{accepted,rejected}_total (the SDK never reads the answer, so
  // this is where rejected events show).
  observe::MetricsRegistry* metrics = nullptr;
};

// The collector of the AWS Clickstream SDKs (`@aws/clickstream-web`, clickstream-android) on the
// main port: `POST /collect` and its CORS preflight `OPTIONS /collect` (docs/api.md, "Clickstream
// SDK collector"; docs/aws-compatibility.md). A request's SDK events are checked (appId,
// hashCode, size), decoded, mapped onto native clickstream events (ingest/clickstream_sdk.h) and
// handed to the StreamIngestor with source `clickstream-sdk`, the client's IP and User-Agent.
//
// The Web SDK counts only an exact 200 as success (anything else is retried, then cached), so a
// request whose body could be read is answered 200 even when some of its events were rejected;
// the body lists them. Every answer, errors included, carries credentialed CORS headers for the
// request's Origin, because the SDK sends with `credentials: 'include'` from the shop's origin.
//
// Stateless after construction; thread-safe. The ingestor must outlive the routes.
class ClickstreamCollector {
 public:
  ClickstreamCollector(ingest::StreamIngestor* ingestor, ClickstreamCollectorOptions options);

  void AddRoutes(Router& router);

  // The CORS headers of an answer to `request`: none without an Origin header; else the exact
  // Origin (never "*": browsers refuse "*" for credentialed requests), credentials, the methods,
  // the requested headers (at least Content-Type) and Vary.
  static std::vector<std::pair<std::string, std::string>> CorsHeaders(const HttpRequest& request);

 private:
  void Collect(HttpRequest& request, Responder respond) const;

  ingest::StreamIngestor* ingestor_;
  ClickstreamCollectorOptions options_;
  observe::Counter* accepted_ = nullptr;
  observe::Counter* rejected_ = nullptr;
};

}  // namespace basin::api
