#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "ingest/ingest_limits.h"

namespace simdjson::dom {
class element;
class parser;
}  // namespace simdjson::dom

namespace basin::ingest {

// A clickstream event as the native API defines it (docs/api.md, ../shared data-model):
// required `event_id` (string), `event_type` (string), `timestamp` (epoch milliseconds, or an
// ISO-8601 string); the known optional fields become typed columns; every other field is kept in
// `attributes_json`.
struct ClickstreamEvent {
  std::string event_id;
  std::string event_type;
  int64_t event_time_us = 0;
  std::optional<std::string> app_id, user_id, anonymous_id, device_id, session_id, page_url,
      page_title, referrer, product_id, currency, platform, locale;
  std::optional<std::string> items_json;            // JSON array
  std::optional<std::string> user_attributes_json;  // JSON object
  std::optional<double> revenue;
  std::optional<std::string> attributes_json;  // JSON object of the unmapped fields
};

// Validates one parsed event object and types its fields. ValidationFailed names the field and
// the rule. Timestamps must lie between 2000-01-01 and one day past `now_us` (clock skew).
Result<ClickstreamEvent> ClickstreamEventFromJson(const simdjson::dom::element& object,
                                                  const IngestLimits& limits, int64_t now_us);

// The same checks without building the event (the ingest path): Ok or the same error, and the
// event's partition key (see ClickstreamPartitionKey).
Status ValidateClickstreamEvent(const simdjson::dom::element& object, const IngestLimits& limits,
                                int64_t now_us, std::string* partition_key);

// The same from JSON text; MalformedJson for bad syntax or nesting deeper than the limit.
// Reuse one parser per thread.
Result<ClickstreamEvent> ParseClickstreamEvent(simdjson::dom::parser& parser, std::string_view json,
                                               const IngestLimits& limits, int64_t now_us);

// The partition key a clickstream event is routed by: the visitor (user_id, else anonymous_id,
// else session_id, else event_id), so one visitor's events stay in order on one shard. Reads the
// parsed event.
std::string_view ClickstreamPartitionKey(const ClickstreamEvent& event);

// The columns of raw.clickstream in the data files, in order, and its partition columns.
const std::vector<catalog::Column>& ClickstreamColumns();
const std::vector<catalog::Column>& ClickstreamPartitionColumns();

}  // namespace basin::ingest
