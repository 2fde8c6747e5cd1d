#include "ingest/clickstream_sdk.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include "base/base64.h"
#include "base/gzip.h"
#include "base/hash.h"
#include "base/json_writer.h"

namespace basin::ingest {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kHashCodeDigits = 8;

// The fields ClickstreamEventFromJson reads into columns of their own. An unmapped SDK field with
// one of these names must not reach the native event under that name, or it would fill (or
// overwrite) the column.
constexpr std::string_view kNativeFields[] = {
    "event_id",   "event_type", "timestamp", "user_id",         "anonymous_id",
    "session_id", "device_id",  "items",     "user_attributes", "revenue",
    "app_id",     "url",        "page_url",  "page_title",      "referrer",
    "product_id", "currency",   "platform",  "locale",
};

bool IsNativeField(std::string_view name) {
  return std::find(std::begin(kNativeFields), std::end(kNativeFields), name) !=
         std::end(kNativeFields);
}

// SDK fields copied to the native event under the same name; the native schema checks them.
bool IsSameNameField(std::string_view name) {
  return name == "event_id" || name == "event_type" || name == "timestamp" || name == "device_id" ||
         name == "platform" || name == "locale";
}

Status Rejection(std::string message) {
  return Status(ErrorCode::kValidationFailed, std::move(message));
}

bool IsJsonStart(std::string_view body) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (body[first] == '[' || body[first] == '{');
}

// A query parameter as a JSON value: an integer when it is one (the SDK sends decimal numbers),
// else a string.
void WriteParamValue(JsonWriter& w, std::string_view text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) {
    w.Int(n);
  } else {
    w.String(text);
  }
}

// The SDK `attributes` that have columns of their own.
std::string_view ColumnOfAttribute(std::string_view name) {
  if (name == "_session_id") return "session_id";
  if (name == "_page_url") return "page_url";
  if (name == "_page_title") return "page_title";
  if (name == "_latest_referrer") return "referrer";
  if (name == "_value") return "revenue";
  if (name == "_currency") return "currency";
  return {};
}

using Fields = std::vector<std::pair<std::string_view, dom::element>>;

// One SDK event as the JSON text of a native event, or why it cannot be one.
Result<std::string> MapSdkEvent(dom::element event, const ClickstreamSdkParams& params) {
  dom::object object;
  if (event.get_object().get(object)) return Rejection("event is not a JSON object");
  JsonWriter w;
  w.BeginObject();
  Fields unmapped_fields, unmapped_attributes;
  bool has_app_id = false, has_platform = false;
  for (dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    const dom::element value = field.value;
    if (IsSameNameField(key)) {
      has_platform = has_platform || key == "platform";
      w.Key(key).Raw(simdjson::minify(value));
    } else if (key == "app_id") {
      std::string_view app_id;
      if (value.get_string().get(app_id)) return Rejection("field 'app_id' must be a string");
      if (app_id != params.app_id) {
        return Rejection("field 'app_id' ('" + std::string(app_id) +
                         "') does not match the request's appId");
      }
      has_app_id = true;
      w.Key("app_id").String(app_id);
    } else if (key == "unique_id") {
      w.Key("anonymous_id").Raw(simdjson::minify(value));
    } else if (key == "items") {
      if (value.is_null()) continue;
      dom::array items;
      if (value.get_array().get(items)) return Rejection("field 'items' must be an array");
      w.Key("items").Raw(simdjson::minify(value));
      dom::element first, id;
      if (!items.at(0).get(first) && !first["id"].get(id) && !id.is_null()) {
        w.Key("product_id").Raw(simdjson::minify(id));
      }
    } else if (key == "user") {
      if (value.is_null()) continue;
      if (!value.is_object()) return Rejection("field 'user' must be an object");
      w.Key("user_attributes").Raw(simdjson::minify(value));
      dom::element user_id;
      if (!value.at_pointer("/_user_id/value").get(user_id) && !user_id.is_null()) {
        w.Key("user_id").Raw(simdjson::minify(user_id));
      }
    } else if (key == "attributes") {
      if (value.is_null()) continue;
      dom::object attributes;
      if (value.get_object().get(attributes)) {
        return Rejection("field 'attributes' must be an object");
      }
      for (dom::key_value_pair attribute : attributes) {
        const std::string_view column = ColumnOfAttribute(attribute.key);
        // Checked here so that the reason names the SDK's attribute, not the native column.
        if (column == "revenue" && !attribute.value.is_number() && !attribute.value.is_null()) {
          return Rejection("attribute '_value' must be a number");
        }
        if (column.empty()) {
          unmapped_attributes.emplace_back(attribute.key, attribute.value);
        } else {
          w.Key(column).Raw(simdjson::minify(attribute.value));
        }
      }
    } else {
      unmapped_fields.emplace_back(key, value);
    }
  }
  if (!has_app_id) w.Key("app_id").String(params.app_id);
  if (!has_platform && !params.platform.empty()) w.Key("platform").String(params.platform);

  // The rest goes to the `attributes` column, by name; names that would land in a column, or
  // that a top-level field already took, are qualified by where they came from.
  std::set<std::string_view> taken;
  for (const auto& [key, value] : unmapped_fields) {
    if (IsNativeField(key)) {
      w.Key("sdk." + std::string(key));
    } else {
      w.Key(key);
      taken.insert(key);
    }
    w.Raw(simdjson::minify(value));
  }
  for (std::string_view param : {"event_bundle_sequence_id", "upload_timestamp"}) {
    const std::string_view text =
        param == "upload_timestamp" ? params.upload_timestamp : params.event_bundle_sequence_id;
    if (text.empty() || taken.contains(param)) continue;
    w.Key(param);
    WriteParamValue(w, text);
    taken.insert(param);
  }
  for (const auto& [key, value] : unmapped_attributes) {
    if (IsNativeField(key) || taken.contains(key)) {
      w.Key("attributes." + std::string(key));
    } else {
      w.Key(key);
    }
    w.Raw(simdjson::minify(value));
  }
  w.EndObject();
  return w.Take();
}

}  // namespace

std::string ClickstreamSdkHashCode(std::string_view body) {
  return HexEncode(Sha256(body)).substr(0, kHashCodeDigits);
}

Status VerifyClickstreamSdkHash(std::string_view body, std::string_view hash_code) {
  if (hash_code.empty()) return Status::Ok();
  const std::string expected = ClickstreamSdkHashCode(body);
  const bool match =
      hash_code.size() == expected.size() &&
      std::equal(hash_code.begin(), hash_code.end(), expected.begin(),
                 [](char a, char b) { return (a >= 'A' && a <= 'F' ? a - 'A' + 'a' : a) == b; });
  if (match) return Status::Ok();
  return Status(ErrorCode::kValidationFailed, "hashCode mismatch: the body hashes to '" + expected +
                                                  "', the request says '" +
                                                  std::string(hash_code.substr(0, 64)) + "'");
}

Result<std::string> DecodeClickstreamSdkBody(std::string_view body, std::string_view compression,
                                             const ClickstreamSdkLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return Status(ErrorCode::kPayloadTooLarge,
                  "body over " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (body.empty()) return Status(ErrorCode::kEmptyInput, "empty body");
  if (compression != "gzip" && IsJsonStart(body)) return std::string(body);
  // The mobile SDKs send base64(gzip(json)), the same rule as the AWS solution's ETL: a body that
  // is not JSON is taken to be that, whatever `compression` says.
  std::optional<std::string> compressed = Base64Decode(body, Base64Padding::kOptional);
  if (!compressed) {
    return Status(ErrorCode::kMalformedBody,
                  "body is neither a JSON array nor base64(gzip(JSON)): bad base64");
  }
  return GunzipLimited(*compressed, limits.max_decompressed_bytes);
}

Result<ClickstreamSdkBatch> MapClickstreamSdkEvents(std::string_view json,
                                                    const ClickstreamSdkParams& params,
                                                    const IngestLimits& limits) {
  dom::parser parser;
  // One level more than an event may have: the array around the events.
  if (parser.allocate(std::max<size_t>(json.size(), 64), limits.max_nesting_depth + 1)) {
    return Status(ErrorCode::kInternal, "cannot allocate JSON parser");
  }
  dom::element root;
  const auto error = parser.parse(json.data(), json.size()).get(root);
  if (error == simdjson::DEPTH_ERROR) {
    return Status(ErrorCode::kMalformedJson,
                  "JSON nested deeper than " + std::to_string(limits.max_nesting_depth));
  }
  if (error) {
    return Status(ErrorCode::kMalformedJson,
                  std::string("body is not JSON: ") + simdjson::error_message(error));
  }
  std::vector<dom::element> events;
  dom::array array;
  if (!root.get_array().get(array)) {
    for (dom::element event : array) {
      if (events.size() == limits.max_records_per_request) {
        return Status(ErrorCode::kPayloadTooLarge,
                      "more than " + std::to_string(limits.max_records_per_request) + " events");
      }
      events.push_back(event);
    }
  } else {
    events.push_back(root);  // the SDKs always send an array; one bare event is read as one
  }

  ClickstreamSdkBatch batch;
  batch.sdk_events = events.size();
  batch.native_body = "[";
  for (size_t i = 0; i < events.size(); ++i) {
    auto native = MapSdkEvent(events[i], params);
    if (!native.ok()) {
      batch.rejected.push_back({i, native.status().code(), native.status().message()});
      batch.refused.push_back({simdjson::minify(events[i]), native.status().ToString()});
      continue;
    }
    if (!batch.sdk_index.empty()) batch.native_body += ',';
    batch.native_body += *native;
    batch.sdk_index.push_back(i);
  }
  batch.native_body += ']';
  return batch;
}

Result<ClickstreamSdkBatch> ConvertClickstreamSdkRequest(std::string_view body,
                                                         const ClickstreamSdkParams& params,
                                                         const ClickstreamSdkLimits& sdk_limits,
                                                         const IngestLimits& limits) {
  if (body.size() > sdk_limits.max_body_bytes) {
    return Status(ErrorCode::kPayloadTooLarge,
                  "body over " + std::to_string(sdk_limits.max_body_bytes) + " bytes");
  }
  BASIN_RETURN_IF_ERROR(VerifyClickstreamSdkHash(body, params.hash_code));
  BASIN_ASSIGN_OR_RETURN(std::string json,
                         DecodeClickstreamSdkBody(body, params.compression, sdk_limits));
  return MapClickstreamSdkEvents(json, params, limits);
}

void ToSdkIndexes(const ClickstreamSdkBatch& batch, IngestResult* result) {
  for (RejectedRecord& rejected : result->rejected) {
    if (rejected.index < batch.sdk_index.size()) rejected.index = batch.sdk_index[rejected.index];
  }
  result->rejected.insert(result->rejected.end(), batch.rejected.begin(), batch.rejected.end());
  std::stable_sort(
      result->rejected.begin(), result->rejected.end(),
      [](const RejectedRecord& a, const RejectedRecord& b) { return a.index < b.index; });
}

}  // namespace basin::ingest
