#include "ingest/stream_ingestor.h"

#include <simdjson.h>

#include <memory>

#include "base/gzip.h"
#include "ingest/clickstream_event.h"
#include "ingest/event_body.h"
#include "observe/metrics.h"

namespace basin::ingest {
namespace {

bool IsNdjson(std::string_view content_type) {
  return content_type.find("ndjson") != std::string_view::npos ||
         content_type.find("jsonlines") != std::string_view::npos ||
         content_type.find("json-seq") != std::string_view::npos;
}

}  // namespace

StreamIngestor::StreamIngestor(log::Log* log, IngestLimits limits, Clock* clock,
                               observe::MetricsRegistry* metrics)
    : log_(log), limits_(limits), clock_(clock) {
  if (metrics != nullptr) {
    requests_ = &metrics->GetCounter("basin_ingest_requests_total", "Ingest requests received.");
    accepted_ = &metrics->GetCounter("basin_ingest_events_accepted_total",
                                     "Events acknowledged (durable in the log).");
    rejected_ = &metrics->GetCounter("basin_ingest_events_rejected_total",
                                     "Events rejected with a reason.");
    ack_seconds_ = &metrics->GetHistogram("basin_ingest_ack_seconds",
                                          "Time from a request's arrival to its acknowledgement.",
                                          observe::Histogram::LatencySeconds());
  }
}

// The log record that keeps a rejected event: the payload as sent and why it was rejected. The
// log takes records a little over the event limit (room for the envelope); a rejected payload
// larger than the limit less the room its reason needs is cut, and the reason says so.
log::RecordInput StreamIngestor::RejectedRecordInput(RecordEnvelope envelope,
                                                     std::string_view payload,
                                                     std::string reason) const {
  constexpr size_t kReasonRoom = 2048;
  const size_t keep = limits_.max_record_bytes > kReasonRoom
                          ? limits_.max_record_bytes - kReasonRoom
                          : limits_.max_record_bytes;
  if (payload.size() > keep) {
    payload = payload.substr(0, keep);
    reason += " (only the first " + std::to_string(payload.size()) + " bytes are kept)";
  }
  envelope.payload = payload;
  envelope.rejection = reason;
  return {"rejected", envelope.Encode(), std::nullopt};
}

void StreamIngestor::SetStreamFormat(const std::string& stream, StreamFormat format) {
  std::lock_guard lock(mu_);
  formats_[stream] = format;
}

StreamFormat StreamIngestor::FormatOf(const std::string& stream) const {
  std::lock_guard lock(mu_);
  auto it = formats_.find(stream);
  return it == formats_.end() ? StreamFormat::kJson : it->second;
}

void StreamIngestor::Ingest(IngestRequest request, IngestCallback done) {
  const int64_t start_ns = MonotonicNanos();
  if (requests_) requests_->Increment();
  if (!log_->HasStream(request.stream)) {
    done(Status(ErrorCode::kStreamNotFound, "stream '" + request.stream + "' does not exist"));
    return;
  }
  if (request.body.size() > limits_.max_request_bytes) {
    done(Status(ErrorCode::kPayloadTooLarge,
                "body over " + std::to_string(limits_.max_request_bytes) + " bytes"));
    return;
  }
  std::string_view encoding = request.content_encoding;
  if (encoding == "gzip" || encoding == "x-gzip") {
    auto inflated = GunzipLimited(request.body, limits_.max_decompressed_bytes);
    if (!inflated.ok()) {
      done(inflated.status());
      return;
    }
    request.body = std::move(inflated).value();
  } else if (!encoding.empty() && encoding != "identity") {
    done(Status(ErrorCode::kUnsupportedEncoding,
                "Content-Encoding '" + request.content_encoding + "' is not supported (gzip is)"));
    return;
  }

  const StreamFormat format = FormatOf(request.stream);
  const int64_t now_us = clock_->NowMicros();
  IngestResult result;
  result.stream = request.stream;
  std::vector<log::RecordInput> records;
  RecordEnvelope envelope;
  envelope.source = request.source;
  envelope.client_ip = request.client_ip;
  envelope.user_agent = request.user_agent;
  // A caller that refused every event itself sends no body, only what it refused.
  const bool only_refused = request.body.empty() && !request.refused_before.empty();
  Status body_status =
      only_refused
          ? Status::Ok()
          : VisitEvents(
                request.body, IsNdjson(request.content_type), limits_,
                [&](size_t index, const simdjson::dom::element* event, std::string_view json,
                    const Status& error) {
                  Status status = error;
                  std::string partition_key;
                  if (status.ok() && format == StreamFormat::kClickstream) {
                    status = ValidateClickstreamEvent(*event, limits_, now_us, &partition_key);
                  } else if (status.ok()) {
                    partition_key = std::to_string(index);
                  }
                  if (!status.ok()) {
                    result.rejected.push_back({index, status.code(), status.message()});
                    records.push_back(RejectedRecordInput(envelope, json, status.ToString()));
                    return;
                  }
                  envelope.payload = json;
                  envelope.rejection = {};
                  records.push_back({std::move(partition_key), envelope.Encode(), std::nullopt});
                  ++result.accepted;
                });
  if (!body_status.ok()) {
    done(body_status);
    return;
  }
  for (const RefusedEvent& refused : request.refused_before) {
    records.push_back(RejectedRecordInput(envelope, refused.payload, refused.reason));
  }
  if (rejected_) rejected_->Increment(result.rejected.size());
  if (records.empty()) {
    done(std::move(result));
    return;
  }

  auto shared_result = std::make_shared<IngestResult>(std::move(result));
  log_->AppendAsync(
      request.stream, std::move(records),
      [this, shared_result, done = std::move(done), start_ns](Result<log::AppendAck> ack) {
        if (!ack.ok()) {
          done(ack.status());
          return;
        }
        if (accepted_) accepted_->Increment(shared_result->accepted);
        if (ack_seconds_) {
          ack_seconds_->Observe(static_cast<double>(MonotonicNanos() - start_ns) / 1e9);
        }
        done(std::move(*shared_result));
      });
}

}  // namespace basin::ingest
