#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace basin::demo {

// One line of a cart, checkout or order, as the event's `items` array carries it.
struct EventItem {
  std::string id;  // product id
  std::string name;
  std::string category;
  int64_t price_cents = 0;  // unit price in the event's currency
  int quantity = 1;
};

// How a deliberately bad event is broken, so that the server's rejection path (and the
// quarantine) sees some traffic.
enum class EventDefect {
  kNone,
  kMissingEventType,     // no `event_type` field
  kTimestampNotANumber,  // `"timestamp": "yesterday"`
  kTimestampOutOfRange,  // a timestamp in the year 2100
};

// One clickstream event of the native API (see data-model.md). Built by SessionSimulator without
// a timestamp; the traffic generator stamps the real time when the event is due and serialises
// it. A value type; not thread-safe.
struct ShopEvent {
  std::string event_id;
  std::string event_type;
  int64_t timestamp_ms = 0;
  std::string app_id;
  std::optional<std::string> user_id;
  std::string anonymous_id;
  std::string device_id;
  std::string session_id;
  std::string page_url;
  std::string page_title;
  std::optional<std::string> referrer;
  std::optional<std::string> product_id;
  std::vector<EventItem> items;          // serialised only when not empty
  std::optional<int64_t> revenue_cents;  // purchases
  std::optional<std::string> currency;   // events that carry money
  std::string platform;
  std::string locale;
  // Extra attributes as already-serialised JSON values: {"search_term", "\"boots\""}.
  std::vector<std::pair<std::string, std::string>> attributes;
  EventDefect defect = EventDefect::kNone;

  void AddAttribute(std::string key, std::string_view string_value);
  void AddAttribute(std::string key, int64_t number);

  // Sum of price × quantity over `items`, in cents.
  int64_t ItemsTotalCents() const;
  // The event as one JSON object (no trailing newline), with the defect applied.
  std::string ToJson() const;
};

}  // namespace basin::demo
