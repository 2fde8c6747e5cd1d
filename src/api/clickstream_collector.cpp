#include "api/clickstream_collector.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>

#include "api/error_response.h"
#include "api/ingest_answer.h"
#include "base/clock.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "ingest/stream_ingestor.h"
#include "observe/metrics.h"

namespace basin::api {
namespace {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxEchoedHeaderBytes = 1024;
// How long a browser may reuse a preflight answer (Chromium caps it at two hours).
constexpr std::string_view kPreflightMaxAgeSeconds = "3600";

bool ContainsContentType(std::string_view list) {
  for (size_t start = 0; start <= list.size();) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view name = list.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    constexpr std::string_view kContentType = "content-type";
    if (name.size() == kContentType.size() &&
        std::equal(name.begin(), name.end(), kContentType.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

HttpResponse WithHeaders(HttpResponse response, const HeaderList& headers) {
  response.headers.insert(response.headers.end(), headers.begin(), headers.end());
  return response;
}

// The SDK never reads the answer, so rejected events would go unnoticed: say so in the log, at
// most once a second (a broken client could otherwise fill it).
void LogRejections(std::string_view app_id, size_t events, const ingest::IngestResult& result) {
  if (result.rejected.empty()) return;
  static std::atomic<int64_t> last_log_ns{0};
  const int64_t now = MonotonicNanos();
  int64_t last = last_log_ns.load(std::memory_order_relaxed);
  if (now - last < 1'000'000'000 ||
      !last_log_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    return;
  }
  const auto& first = result.rejected.front();
  BASIN_LOG(Warn, "collector") << "appId " << app_id << ": rejected " << result.rejected.size()
                               << " of " << events << " SDK events; first: event " << first.index
                               << ": " << first.reason;
}

}  // namespace

ClickstreamCollector::ClickstreamCollector(ingest::StreamIngestor* ingestor,
                                           ClickstreamCollectorOptions options)
    : ingestor_(ingestor), options_(std::move(options)) {
  if (options_.metrics != nullptr) {
    accepted_ = &options_.metrics->GetCounter("basin_collector_events_accepted_total",
                                              "Clickstream SDK events acknowledged.");
    rejected_ = &options_.metrics->GetCounter(
        "basin_collector_events_rejected_total",
        "Clickstream SDK events rejected with a reason (mapping or schema).");
  }
}

HeaderList ClickstreamCollector::CorsHeaders(const HttpRequest& request) {
  HeaderList headers;
  const std::string_view origin = request.Header("Origin");
  if (origin.empty()) return headers;
  headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  headers.emplace_back("Access-Control-Allow-Credentials", "true");
  headers.emplace_back("Access-Control-Allow-Methods", "POST, OPTIONS");
  std::string allow_headers(request.Header("Access-Control-Request-Headers"));
  if (allow_headers.size() > kMaxEchoedHeaderBytes) allow_headers.clear();
  if (!ContainsContentType(allow_headers)) {
    allow_headers += allow_headers.empty() ? "Content-Type" : ", Content-Type";
  }
  headers.emplace_back("Access-Control-Allow-Headers", std::move(allow_headers));
  headers.emplace_back("Vary", "Origin, Access-Control-Request-Headers");
  return headers;
}

void ClickstreamCollector::AddRoutes(Router& router) {
  const std::string resource = "arn:basin:stream:::" + options_.stream;
  router.Add(
      {"POST", "/collect", "basin:PutClickstreamEvents", resource,
       [this](HttpRequest& request, Responder respond) { Collect(request, std::move(respond)); }});
  router.Add({"OPTIONS", "/collect", "basin:PutClickstreamEvents", resource,
              [](HttpRequest& request, Responder respond) {
                HttpResponse r;
                r.status = 204;
                r.content_type.clear();
                r.headers = CorsHeaders(request);
                if (!r.headers.empty()) {
                  r.headers.emplace_back("Access-Control-Max-Age", kPreflightMaxAgeSeconds);
                }
                respond(std::move(r));
              }});
}

void ClickstreamCollector::Collect(HttpRequest& request, Responder respond) const {
  HeaderList cors = CorsHeaders(request);
  const std::string app_id(request.QueryParam("appId"));
  if (!options_.app_ids.contains(app_id)) {
    Status denied(ErrorCode::kAccessDenied,
                  app_id.empty() ? std::string("the appId parameter is required")
                                 : "appId '" + app_id.substr(0, 256) + "' is not registered");
    return respond(WithHeaders(ErrorResponse(denied), cors));
  }
  ingest::ClickstreamSdkParams params;
  params.app_id = app_id;
  params.platform = request.QueryParam("platform");
  params.hash_code = request.QueryParam("hashCode");
  params.compression = request.QueryParam("compression");
  params.event_bundle_sequence_id = request.QueryParam("event_bundle_sequence_id");
  params.upload_timestamp = request.QueryParam("upload_timestamp");
  auto batch = ingest::ConvertClickstreamSdkRequest(request.body, params, options_.limits,
                                                    ingestor_->limits());
  if (!batch.ok()) return respond(WithHeaders(ErrorResponse(batch.status()), cors));

  auto shared_batch = std::make_shared<ingest::ClickstreamSdkBatch>(std::move(batch).value());
  auto answer = [shared_batch, cors = std::move(cors), respond, app_id, accepted = accepted_,
                 rejected = rejected_](Result<ingest::IngestResult> ingested) {
    if (!ingested.ok()) return respond(WithHeaders(ErrorResponse(ingested.status()), cors));
    ingest::ToSdkIndexes(*shared_batch, &*ingested);
    if (accepted != nullptr) accepted->Increment(ingested->accepted);
    if (rejected != nullptr) rejected->Increment(ingested->rejected.size());
    LogRejections(app_id, shared_batch->sdk_events, *ingested);
    respond(WithHeaders(JsonResponse(IngestResultJson(*ingested)), cors));
  };
  if (shared_batch->sdk_index.empty() && shared_batch->refused.empty()) {
    // Nothing to append (an empty array).
    ingest::IngestResult result;
    result.stream = options_.stream;
    return answer(std::move(result));
  }
  ingest::IngestRequest in;
  in.stream = options_.stream;
  // Only refused events: no body (an empty array is not a request StreamIngestor takes).
  if (!shared_batch->sdk_index.empty()) in.body = std::move(shared_batch->native_body);
  in.content_type = "application/json";
  in.client_ip = ClientIp(request);
  in.user_agent = std::string(request.Header("User-Agent"));
  in.source = ingest::RecordSource::kClickstreamSdk;
  in.refused_before = std::move(shared_batch->refused);
  ingestor_->Ingest(std::move(in), std::move(answer));
}

}  // namespace basin::api
