#include "demo/shop_event.h"

#include "base/json_writer.h"
#include "demo/shop_catalog.h"

namespace basin::demo {
namespace {

// 2100-01-01T00:00:00Z: far beyond the server's one-day clock-skew allowance.
constexpr int64_t kYear2100Millis = 4'102'444'800'000;

void OptionalString(JsonWriter& w, std::string_view key, const std::optional<std::string>& v) {
  if (v) w.Key(key).String(*v);
}

void NonEmptyString(JsonWriter& w, std::string_view key, const std::string& v) {
  if (!v.empty()) w.Key(key).String(v);
}

}  // namespace

void ShopEvent::AddAttribute(std::string key, std::string_view string_value) {
  std::string json;
  AppendJsonString(json, string_value);
  attributes.emplace_back(std::move(key), std::move(json));
}

void ShopEvent::AddAttribute(std::string key, int64_t number) {
  attributes.emplace_back(std::move(key), std::to_string(number));
}

int64_t ShopEvent::ItemsTotalCents() const {
  int64_t total = 0;
  for (const EventItem& item : items) total += item.price_cents * item.quantity;
  return total;
}

std::string ShopEvent::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("event_id").String(event_id);
  if (defect != EventDefect::kMissingEventType) w.Key("event_type").String(event_type);
  w.Key("timestamp");
  switch (defect) {
    case EventDefect::kTimestampNotANumber: w.String("yesterday"); break;
    case EventDefect::kTimestampOutOfRange: w.Int(kYear2100Millis); break;
    default: w.Int(timestamp_ms); break;
  }
  NonEmptyString(w, "app_id", app_id);
  // Anonymous visitors send an explicit null, as the web SDKs do before login.
  w.Key("user_id");
  if (user_id) {
    w.String(*user_id);
  } else {
    w.Null();
  }
  NonEmptyString(w, "anonymous_id", anonymous_id);
  NonEmptyString(w, "device_id", device_id);
  NonEmptyString(w, "session_id", session_id);
  NonEmptyString(w, "page_url", page_url);
  NonEmptyString(w, "page_title", page_title);
  OptionalString(w, "referrer", referrer);
  OptionalString(w, "product_id", product_id);
  if (!items.empty()) {
    w.Key("items").BeginArray();
    for (const EventItem& item : items) {
      w.BeginObject();
      w.Key("id").String(item.id);
      w.Key("name").String(item.name);
      w.Key("category").String(item.category);
      w.Key("price").Raw(ShopCatalog::FormatCents(item.price_cents));
      w.Key("quantity").Int(item.quantity);
      w.EndObject();
    }
    w.EndArray();
  }
  if (revenue_cents) w.Key("revenue").Raw(ShopCatalog::FormatCents(*revenue_cents));
  OptionalString(w, "currency", currency);
  NonEmptyString(w, "platform", platform);
  NonEmptyString(w, "locale", locale);
  for (const auto& [key, json] : attributes) w.Key(key).Raw(json);
  w.EndObject();
  return w.Take();
}

}  // namespace basin::demo
