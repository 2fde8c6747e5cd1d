#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "ingest/ingest_limits.h"
#include "ingest/record_envelope.h"
#include "log/log.h"

namespace basin::observe {
class MetricsRegistry;
class Counter;
class Histogram;
}  // namespace basin::observe

namespace basin::ingest {

// How a stream's records are checked before they are acknowledged.
enum class StreamFormat {
  kClickstream,  // the clickstream event schema (ClickstreamEvent)
  kJson,         // any JSON object
};

// An event the caller refused before ingest (the Clickstream SDK mapping does), as it came.
struct RefusedEvent {
  std::string payload;
  std::string reason;
};

struct IngestRequest {
  std::string stream;
  std::string body;              // as received (maybe gzip)
  std::string content_type;      // "application/x-ndjson" selects NDJSON
  std::string content_encoding;  // "", "identity" or "gzip"
  std::string client_ip;
  std::string user_agent;
  RecordSource source = RecordSource::kApi;
  // Kept in the log as rejected records with the body's events (so the loader quarantines them);
  // not reported again in the IngestResult: the caller has their indexes already.
  std::vector<RefusedEvent> refused_before;
};

struct RejectedRecord {
  size_t index = 0;  // position in the request
  ErrorCode code = ErrorCode::kValidationFailed;
  std::string reason;
};

// The outcome of a request whose body could be read: every event was either accepted or
// rejected with its index and reason. Both are durable in the log when this is delivered: a
// rejected event is appended as a rejected record (RecordEnvelope::rejection), which the loader
// puts in the stream's quarantine table with the reason, so nothing the client sent is lost.
struct IngestResult {
  std::string stream;
  size_t accepted = 0;
  std::vector<RejectedRecord> rejected;
};
using IngestCallback = std::function<void(Result<IngestResult>)>;

// Validates and enriches events and appends the good ones to the log; the callback runs once
// they are durable (on the log's writer thread: keep it short). Whole-request failures come back
// as a Status: MalformedBody/MalformedJson, PayloadTooLarge, DecompressedTooLarge,
// UnsupportedEncoding, StreamNotFound, and the log's DiskFull/IoError/ShuttingDown (then nothing
// of the request is acknowledged).
//
// Called by the HTTP routes (and later the Kinesis and Clickstream SDK endpoints) from any
// thread. Thread-safe.
class StreamIngestor {
 public:
  StreamIngestor(log::Log* log, IngestLimits limits, Clock* clock,
                 observe::MetricsRegistry* metrics);

  // Declares how a stream is validated; streams not declared are checked as kJson.
  void SetStreamFormat(const std::string& stream, StreamFormat format);

  void Ingest(IngestRequest request, IngestCallback done);

  const IngestLimits& limits() const { return limits_; }

 private:
  StreamFormat FormatOf(const std::string& stream) const;
  log::RecordInput RejectedRecordInput(RecordEnvelope envelope, std::string_view payload,
                                       std::string reason) const;

  log::Log* log_;
  IngestLimits limits_;
  Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, StreamFormat> formats_;
  observe::Counter* requests_ = nullptr;
  observe::Counter* accepted_ = nullptr;
  observe::Counter* rejected_ = nullptr;
  observe::Histogram* ack_seconds_ = nullptr;
};

}  // namespace basin::ingest
