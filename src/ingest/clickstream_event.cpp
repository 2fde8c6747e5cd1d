#include "ingest/clickstream_event.h"

#include <simdjson.h>

#include <cmath>

#include "base/json_writer.h"
#include "base/time_format.h"

namespace basin::ingest {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kMinEventTimeUs = 946'684'800'000'000;  // 2000-01-01T00:00:00Z
constexpr int64_t kFutureSkewUs = 86'400'000'000;         // one day

Status FieldError(std::string_view field, std::string_view rule) {
  std::string message = "field '";
  message += field;
  message += "' ";
  message += rule;
  return Status(ErrorCode::kValidationFailed, std::move(message));
}

// Text of a scalar for a VARCHAR column: strings as they are, numbers and booleans as their JSON
// text (ids are sometimes sent as numbers), nested values as JSON.
std::optional<std::string> ScalarText(dom::element value) {
  switch (value.type()) {
    case dom::element_type::NULL_VALUE: return std::nullopt;
    case dom::element_type::STRING: return std::string(std::string_view(value.get_string()));
    default: return simdjson::minify(value);
  }
}

Result<std::string> RequiredString(dom::element value, std::string_view field, size_t max_bytes) {
  std::string_view s;
  if (value.get_string().get(s)) return FieldError(field, "must be a string");
  if (s.empty()) return FieldError(field, "must not be empty");
  if (s.size() > max_bytes) {
    return FieldError(field, "is longer than " + std::to_string(max_bytes) + " bytes");
  }
  return std::string(s);
}

Result<int64_t> EventTime(dom::element value, int64_t now_us) {
  int64_t micros;
  switch (value.type()) {
    case dom::element_type::INT64:
      micros = value.get_int64().value_unsafe() * 1000;
      break;
    case dom::element_type::UINT64:
      return FieldError("timestamp", "is out of range");
    case dom::element_type::DOUBLE: {
      double ms = value.get_double().value_unsafe();
      if (!std::isfinite(ms) || std::abs(ms) > 1e16) return FieldError("timestamp", "is out of range");
      micros = static_cast<int64_t>(std::llround(ms * 1000.0));
      break;
    }
    case dom::element_type::STRING: {
      auto parsed = ParseIso8601(std::string_view(value.get_string()));
      if (!parsed) {
        return FieldError("timestamp", "must be epoch milliseconds or an ISO-8601 date-time");
      }
      micros = *parsed;
      break;
    }
    default:
      return FieldError("timestamp", "must be epoch milliseconds or an ISO-8601 date-time");
  }
  if (micros < kMinEventTimeUs || micros > now_us + kFutureSkewUs) {
    return FieldError("timestamp", "is out of range (before 2000 or more than a day ahead)");
  }
  return micros;
}

Result<double> Revenue(dom::element value) {
  double d;
  switch (value.type()) {
    case dom::element_type::INT64: d = static_cast<double>(value.get_int64().value_unsafe()); break;
    case dom::element_type::UINT64: d = static_cast<double>(value.get_uint64().value_unsafe()); break;
    case dom::element_type::DOUBLE: d = value.get_double().value_unsafe(); break;
    case dom::element_type::STRING: {
      std::string s(std::string_view(value.get_string()));
      char* end = nullptr;
      d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size()) return FieldError("revenue", "must be a number");
      break;
    }
    default: return FieldError("revenue", "must be a number");
  }
  // DECIMAL(18,2) holds up to 10^16 in magnitude.
  if (!std::isfinite(d) || std::abs(d) >= 1e16) return FieldError("revenue", "is out of range");
  return d;
}

}  // namespace

Result<ClickstreamEvent> ParseClickstreamEvent(dom::parser& parser, std::string_view json,
                                               const IngestLimits& limits, int64_t now_us) {
  if (json.size() > limits.max_record_bytes) {
    return Status(ErrorCode::kRecordTooLarge,
                  "event over " + std::to_string(limits.max_record_bytes) + " bytes");
  }
  if (parser.max_depth() != limits.max_nesting_depth) {
    parser = dom::parser();
    if (parser.allocate(4096, limits.max_nesting_depth)) {
      return Status(ErrorCode::kInternal, "cannot allocate JSON parser");
    }
  }
  dom::element root;
  auto error = parser.parse(json.data(), json.size()).get(root);
  if (error == simdjson::DEPTH_ERROR) {
    return Status(ErrorCode::kMalformedJson,
                  "JSON nested deeper than " + std::to_string(limits.max_nesting_depth));
  }
  if (error) return Status(ErrorCode::kMalformedJson, simdjson::error_message(error));
  return ClickstreamEventFromJson(root, limits, now_us);
}

Result<ClickstreamEvent> ClickstreamEventFromJson(const dom::element& root,
                                                  const IngestLimits& limits, int64_t now_us) {
  dom::object object;
  if (root.get_object().get(object)) {
    return Status(ErrorCode::kValidationFailed, "event is not a JSON object");
  }

  ClickstreamEvent event;
  bool has_id = false, has_type = false, has_time = false;
  std::string attributes;
  for (dom::key_value_pair field : object) {
    std::string_view key = field.key;
    dom::element value = field.value;
    if (key == "event_id") {
      BASIN_ASSIGN_OR_RETURN(event.event_id, RequiredString(value, key, limits.max_id_bytes));
      has_id = true;
    } else if (key == "event_type") {
      BASIN_ASSIGN_OR_RETURN(event.event_type, RequiredString(value, key, limits.max_id_bytes));
      has_type = true;
    } else if (key == "timestamp") {
      BASIN_ASSIGN_OR_RETURN(event.event_time_us, EventTime(value, now_us));
      has_time = true;
    } else if (key == "app_id") { event.app_id = ScalarText(value);
    } else if (key == "user_id") { event.user_id = ScalarText(value);
    } else if (key == "anonymous_id") { event.anonymous_id = ScalarText(value);
    } else if (key == "device_id") { event.device_id = ScalarText(value);
    } else if (key == "session_id") { event.session_id = ScalarText(value);
    } else if (key == "url" || key == "page_url") {
      if (!event.page_url || key == "page_url") event.page_url = ScalarText(value);
    } else if (key == "page_title") { event.page_title = ScalarText(value);
    } else if (key == "referrer") { event.referrer = ScalarText(value);
    } else if (key == "product_id") { event.product_id = ScalarText(value);
    } else if (key == "currency") { event.currency = ScalarText(value);
    } else if (key == "platform") { event.platform = ScalarText(value);
    } else if (key == "locale") { event.locale = ScalarText(value);
    } else if (key == "items") {
      if (value.is_null()) continue;
      if (!value.is_array()) return FieldError(key, "must be an array");
      event.items_json = simdjson::minify(value);
    } else if (key == "user_attributes") {
      if (value.is_null()) continue;
      if (!value.is_object()) return FieldError(key, "must be an object");
      event.user_attributes_json = simdjson::minify(value);
    } else if (key == "revenue") {
      if (value.is_null()) continue;
      BASIN_ASSIGN_OR_RETURN(event.revenue, Revenue(value));
    } else {
      attributes += attributes.empty() ? "{" : ",";
      AppendJsonString(attributes, key);
      attributes += ':';
      attributes += simdjson::minify(value);
    }
  }
  if (!has_id) return FieldError("event_id", "is required");
  if (!has_type) return FieldError("event_type", "is required");
  if (!has_time) return FieldError("timestamp", "is required");
  for (const auto* id : {&event.user_id, &event.anonymous_id, &event.session_id, &event.device_id}) {
    if (*id && (*id)->size() > limits.max_id_bytes) {
      return FieldError("user_id/anonymous_id/session_id/device_id",
                        "is longer than " + std::to_string(limits.max_id_bytes) + " bytes");
    }
  }
  if (!attributes.empty()) event.attributes_json = attributes + "}";
  return event;
}

std::string_view ClickstreamPartitionKey(const ClickstreamEvent& event) {
  for (const auto* id : {&event.user_id, &event.anonymous_id, &event.session_id}) {
    if (*id && !(*id)->empty()) return **id;
  }
  return event.event_id;
}

const std::vector<catalog::Column>& ClickstreamColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"event_id", "VARCHAR"},     {"event_type", "VARCHAR"},   {"event_time", "TIMESTAMP"},
      {"ingest_time", "TIMESTAMP"}, {"app_id", "VARCHAR"},      {"user_id", "VARCHAR"},
      {"anonymous_id", "VARCHAR"}, {"device_id", "VARCHAR"},    {"session_id", "VARCHAR"},
      {"page_url", "VARCHAR"},     {"page_title", "VARCHAR"},   {"referrer", "VARCHAR"},
      {"product_id", "VARCHAR"},   {"items", "JSON"},           {"revenue", "DECIMAL(18,2)"},
      {"currency", "VARCHAR"},     {"platform", "VARCHAR"},     {"locale", "VARCHAR"},
      {"user_agent", "VARCHAR"},   {"client_ip", "VARCHAR"},    {"attributes", "JSON"},
      {"user_attributes", "JSON"}, {"source", "VARCHAR"},
  };
  return kColumns;
}

const std::vector<catalog::Column>& ClickstreamPartitionColumns() {
  static const std::vector<catalog::Column> kColumns = {{"dt", "DATE"}, {"hour", "INTEGER"}};
  return kColumns;
}

}  // namespace basin::ingest
