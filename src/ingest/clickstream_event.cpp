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

Result<std::string_view> RequiredString(dom::element value, std::string_view field,
                                        size_t max_bytes) {
  std::string_view s;
  if (value.get_string().get(s)) return FieldError(field, "must be a string");
  if (s.empty()) return FieldError(field, "must not be empty");
  if (s.size() > max_bytes) {
    return FieldError(field, "is longer than " + std::to_string(max_bytes) + " bytes");
  }
  return s;
}

Result<int64_t> EventTime(dom::element value, int64_t now_us) {
  int64_t micros;
  switch (value.type()) {
    case dom::element_type::INT64: micros = value.get_int64().value_unsafe() * 1000; break;
    case dom::element_type::UINT64: return FieldError("timestamp", "is out of range");
    case dom::element_type::DOUBLE: {
      double ms = value.get_double().value_unsafe();
      if (!std::isfinite(ms) || std::abs(ms) > 1e16)
        return FieldError("timestamp", "is out of range");
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
    default: return FieldError("timestamp", "must be epoch milliseconds or an ISO-8601 date-time");
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
    case dom::element_type::UINT64:
      d = static_cast<double>(value.get_uint64().value_unsafe());
      break;
    case dom::element_type::DOUBLE: d = value.get_double().value_unsafe(); break;
    case dom::element_type::STRING: {
      std::string s(std::string_view(value.get_string()));
      char* end = nullptr;
      d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size())
        return FieldError("revenue", "must be a number");
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

namespace {

// The visitor's key: user_id, else anonymous_id, else session_id, else event_id.
std::string_view PartitionKeyOf(std::string_view user_id, std::string_view anonymous_id,
                                std::string_view session_id, std::string_view event_id) {
  for (std::string_view id : {user_id, anonymous_id, session_id}) {
    if (!id.empty()) return id;
  }
  return event_id;
}

// Text of an id-like field without copying strings: a view of a string, the JSON text of
// anything else (kept in `scratch`), empty for null.
std::string_view IdText(dom::element value, std::string& scratch) {
  if (value.is_null()) return {};
  if (value.is_string()) return std::string_view(value.get_string().value_unsafe());
  scratch = simdjson::minify(value);
  return scratch;
}

// The one reading of the clickstream rules. With kKeep the typed event is filled in; without,
// the same checks run but nothing is copied (the ingest path only needs the verdict and the
// partition key).
template <bool kKeep>
Status ReadEvent(const dom::element& root, const IngestLimits& limits, int64_t now_us,
                 ClickstreamEvent* event, std::string* partition_key) {
  dom::object object;
  if (root.get_object().get(object)) {
    return Status(ErrorCode::kValidationFailed, "event is not a JSON object");
  }
  bool has_id = false, has_type = false, has_time = false;
  std::string_view event_id, user_id, anonymous_id, session_id;
  std::string scratch[4];
  std::string attributes;
  auto check_id = [&](std::string_view key, dom::element value, std::string& text_scratch,
                      std::string_view* text) -> Status {
    *text = IdText(value, text_scratch);
    if (text->size() > limits.max_id_bytes) {
      return FieldError(key, "is longer than " + std::to_string(limits.max_id_bytes) + " bytes");
    }
    return Status::Ok();
  };
  for (dom::key_value_pair field : object) {
    std::string_view key = field.key;
    dom::element value = field.value;
    if (key == "event_id") {
      BASIN_ASSIGN_OR_RETURN(event_id, RequiredString(value, key, limits.max_id_bytes));
      if constexpr (kKeep) event->event_id = std::string(event_id);
      has_id = true;
    } else if (key == "event_type") {
      BASIN_ASSIGN_OR_RETURN(std::string_view type,
                             RequiredString(value, key, limits.max_id_bytes));
      if constexpr (kKeep) event->event_type = std::string(type);
      has_type = true;
    } else if (key == "timestamp") {
      BASIN_ASSIGN_OR_RETURN(int64_t time, EventTime(value, now_us));
      if constexpr (kKeep) event->event_time_us = time;
      has_time = true;
    } else if (key == "user_id") {
      BASIN_RETURN_IF_ERROR(check_id(key, value, scratch[0], &user_id));
      if constexpr (kKeep) event->user_id = ScalarText(value);
    } else if (key == "anonymous_id") {
      BASIN_RETURN_IF_ERROR(check_id(key, value, scratch[1], &anonymous_id));
      if constexpr (kKeep) event->anonymous_id = ScalarText(value);
    } else if (key == "session_id") {
      BASIN_RETURN_IF_ERROR(check_id(key, value, scratch[2], &session_id));
      if constexpr (kKeep) event->session_id = ScalarText(value);
    } else if (key == "device_id") {
      std::string_view ignored;
      BASIN_RETURN_IF_ERROR(check_id(key, value, scratch[3], &ignored));
      if constexpr (kKeep) event->device_id = ScalarText(value);
    } else if (key == "items") {
      if (value.is_null()) continue;
      if (!value.is_array()) return FieldError(key, "must be an array");
      if constexpr (kKeep) event->items_json = simdjson::minify(value);
    } else if (key == "user_attributes") {
      if (value.is_null()) continue;
      if (!value.is_object()) return FieldError(key, "must be an object");
      if constexpr (kKeep) event->user_attributes_json = simdjson::minify(value);
    } else if (key == "revenue") {
      if (value.is_null()) continue;
      BASIN_ASSIGN_OR_RETURN(double revenue, Revenue(value));
      if constexpr (kKeep) event->revenue = revenue;
    } else if constexpr (kKeep) {
      if (key == "app_id") {
        event->app_id = ScalarText(value);
      } else if (key == "url" || key == "page_url") {
        if (!event->page_url || key == "page_url") event->page_url = ScalarText(value);
      } else if (key == "page_title") {
        event->page_title = ScalarText(value);
      } else if (key == "referrer") {
        event->referrer = ScalarText(value);
      } else if (key == "product_id") {
        event->product_id = ScalarText(value);
      } else if (key == "currency") {
        event->currency = ScalarText(value);
      } else if (key == "platform") {
        event->platform = ScalarText(value);
      } else if (key == "locale") {
        event->locale = ScalarText(value);
      } else {
        attributes += attributes.empty() ? "{" : ",";
        AppendJsonString(attributes, key);
        attributes += ':';
        attributes += simdjson::minify(value);
      }
    }
  }
  if (!has_id) return FieldError("event_id", "is required");
  if (!has_type) return FieldError("event_type", "is required");
  if (!has_time) return FieldError("timestamp", "is required");
  if constexpr (kKeep) {
    if (!attributes.empty()) event->attributes_json = attributes + "}";
  }
  if (partition_key != nullptr) {
    *partition_key = std::string(PartitionKeyOf(user_id, anonymous_id, session_id, event_id));
  }
  return Status::Ok();
}

}  // namespace

Result<ClickstreamEvent> ClickstreamEventFromJson(const dom::element& root,
                                                  const IngestLimits& limits, int64_t now_us) {
  ClickstreamEvent event;
  BASIN_RETURN_IF_ERROR(ReadEvent<true>(root, limits, now_us, &event, nullptr));
  return event;
}

Status ValidateClickstreamEvent(const dom::element& root, const IngestLimits& limits,
                                int64_t now_us, std::string* partition_key) {
  return ReadEvent<false>(root, limits, now_us, nullptr, partition_key);
}

std::string_view ClickstreamPartitionKey(const ClickstreamEvent& event) {
  auto view = [](const std::optional<std::string>& s) {
    return s ? std::string_view(*s) : std::string_view();
  };
  return PartitionKeyOf(view(event.user_id), view(event.anonymous_id), view(event.session_id),
                        event.event_id);
}

const std::vector<catalog::Column>& ClickstreamColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"event_id", "VARCHAR"},      {"event_type", "VARCHAR"}, {"event_time", "TIMESTAMP"},
      {"ingest_time", "TIMESTAMP"}, {"app_id", "VARCHAR"},     {"user_id", "VARCHAR"},
      {"anonymous_id", "VARCHAR"},  {"device_id", "VARCHAR"},  {"session_id", "VARCHAR"},
      {"page_url", "VARCHAR"},      {"page_title", "VARCHAR"}, {"referrer", "VARCHAR"},
      {"product_id", "VARCHAR"},    {"items", "JSON"},         {"revenue", "DECIMAL(18,2)"},
      {"currency", "VARCHAR"},      {"platform", "VARCHAR"},   {"locale", "VARCHAR"},
      {"user_agent", "VARCHAR"},    {"client_ip", "VARCHAR"},  {"attributes", "JSON"},
      {"user_attributes", "JSON"},  {"source", "VARCHAR"},
  };
  return kColumns;
}

const std::vector<catalog::Column>& ClickstreamPartitionColumns() {
  static const std::vector<catalog::Column> kColumns = {{"dt", "DATE"}, {"hour", "INTEGER"}};
  return kColumns;
}

}  // namespace basin::ingest
