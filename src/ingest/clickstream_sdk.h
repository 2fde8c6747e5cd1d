#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "ingest/ingest_limits.h"
#include "ingest/stream_ingestor.h"

namespace basin::ingest {

// What the AWS Clickstream SDKs (`@aws/clickstream-web`, clickstream-android) send to a
// collector, and how it becomes Basin's native clickstream events (docs/aws-compatibility.md,
// "Clickstream SDK collector"; wire facts in the brief's facts/clickstream.md).
//
// One request: `POST <endpoint>?platform=Web&appId=..&event_bundle_sequence_id=..&
// upload_timestamp=..&hashCode=..[&compression=gzip]` with a body that is a JSON array of SDK
// events, or (mobile) base64(gzip(that array)). `hashCode` is the first 8 lower-case hex digits of
// SHA-256 over the body exactly as sent.

// Sizes a collector request may have. Web SDK requests are at most 512 KiB (batch mode cuts
// there); the AWS solution's load balancer answers 413 above 1 MiB, and so does Basin.
struct ClickstreamSdkLimits {
  size_t max_body_bytes = 1ULL << 20;          // as sent (base64 for the mobile variant)
  size_t max_decompressed_bytes = 8ULL << 20;  // the mobile variant's gzip may not inflate past
};

// The query parameters of a collector request that decoding and mapping read.
struct ClickstreamSdkParams {
  std::string_view app_id;       // appId (already checked against the registered apps)
  std::string_view platform;     // platform ("Web", "Android", ...)
  std::string_view hash_code;    // hashCode; empty: not checked
  std::string_view compression;  // compression ("gzip" or "")
  std::string_view event_bundle_sequence_id;
  std::string_view upload_timestamp;  // client ms epoch when the request was built
};

// The SDK events of one request turned into native clickstream events.
struct ClickstreamSdkBatch {
  // A JSON array of native events (clickstream_event.h), the body for StreamIngestor.
  std::string native_body;
  // For each native event, the position of its SDK event in the request.
  std::vector<size_t> sdk_index;
  // SDK events that could not be mapped, with their position in the request and why; and the
  // same events as they came, for the log to keep (IngestRequest::refused_before).
  std::vector<RejectedRecord> rejected;
  std::vector<RefusedEvent> refused;
  size_t sdk_events = 0;  // events in the request
};

// The hashCode the SDKs send for `body`: the first 8 lower-case hex digits of its SHA-256.
std::string ClickstreamSdkHashCode(std::string_view body);

// Ok when `hash_code` is empty or equals ClickstreamSdkHashCode(body) (hex case ignored);
// ValidationFailed "hashCode mismatch" otherwise (a body changed in transit, or not what the SDK
// hashed).
Status VerifyClickstreamSdkHash(std::string_view body, std::string_view hash_code);

// The JSON text of a request body: the body itself, or for the mobile variant (compression=gzip,
// or a body that does not start with '[' or '{' after leading whitespace) base64-decoded then
// gunzipped. PayloadTooLarge past max_body_bytes, DecompressedTooLarge past
// max_decompressed_bytes, MalformedBody for bad base64 or gzip, EmptyInput for an empty body.
Result<std::string> DecodeClickstreamSdkBody(std::string_view body, std::string_view compression,
                                             const ClickstreamSdkLimits& limits);

// Maps each SDK event of `json` (an array, or a single object) onto a native event:
//   event_id, event_type, timestamp, device_id, platform, locale, items  -> same names
//   app_id (the request's appId when absent; another app's id is rejected) -> app_id
//   unique_id -> anonymous_id;  user -> user_attributes;  user._user_id.value -> user_id
//   attributes._session_id/_page_url/_page_title/_latest_referrer/_value/_currency
//     -> session_id/page_url/page_title/referrer/revenue/currency
//   first item's id -> product_id
// Every other SDK field and attribute is kept as a field of the native event, so that it lands in
// the `attributes` column; a name the native schema would read as a column of its own is kept as
// "sdk.<name>" (a top-level field) or "attributes.<name>" (an attribute). The request's
// event_bundle_sequence_id and upload_timestamp are added the same way.
//
// A body that is not JSON (or nested deeper than the limit) fails as a whole (MalformedJson), as
// does one with more than max_records_per_request events (PayloadTooLarge). An event that cannot
// be mapped is rejected with its index and reason; the native schema's own checks (required
// event_id, event_type, timestamp, sizes) run later, in StreamIngestor.
Result<ClickstreamSdkBatch> MapClickstreamSdkEvents(std::string_view json,
                                                    const ClickstreamSdkParams& params,
                                                    const IngestLimits& limits);

// All of the above for one request body: size, hashCode (over the body as sent), decoding,
// mapping.
Result<ClickstreamSdkBatch> ConvertClickstreamSdkRequest(std::string_view body,
                                                         const ClickstreamSdkParams& params,
                                                         const ClickstreamSdkLimits& sdk_limits,
                                                         const IngestLimits& limits);

// Rewrites the result of ingesting `batch.native_body` in terms of the SDK request: rejected
// indexes become positions in the request, the mapping's own rejections are merged in, sorted by
// index.
void ToSdkIndexes(const ClickstreamSdkBatch& batch, IngestResult* result);

}  // namespace basin::ingest
