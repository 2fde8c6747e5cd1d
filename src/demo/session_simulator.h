#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "demo/seeded_random.h"
#include "demo/shop_catalog.h"
#include "demo/shop_event.h"
#include "demo/visitor_population.h"

namespace basin::demo {

// An event of a session with its delay from the session's first event.
struct PlannedEvent {
  double offset_seconds = 0;
  ShopEvent event;  // timestamp_ms is filled when the event is emitted
};

// One visit, planned from landing to exit before any of it is sent.
struct SessionPlan {
  size_t visitor = 0;
  std::string session_id;
  TrafficSource source = TrafficSource::kDirect;
  std::vector<PlannedEvent> events;  // offsets non-decreasing
  bool purchased = false;
  std::string order_id;       // when purchased
  int64_t revenue_cents = 0;  // when purchased, in `currency`
  std::string currency;
};

// Funnel rates and site constants. The defaults give ~38% bounces and ~3% of sessions ending in
// a purchase (cart 15% of engaged sessions × checkout 50% × purchase 62%, scaled per visitor and
// traffic source).
struct SessionOptions {
  double bounce_rate = 0.38;
  double cart_rate = 0.15;       // engaged sessions that add something to the cart
  double checkout_rate = 0.50;   // carts that reach checkout
  double purchase_rate = 0.62;   // checkouts that complete
  double mean_browse_steps = 5;  // actions after landing in an engaged session
  double login_rate = 0.8;       // sessions of registered visitors that are logged in (web)
  std::string app_id = "basin-demo-shop";
  std::string site = "https://shop.example.com";
};

// Plans sessions as an e-commerce funnel: a landing page_view (with the referrer and UTM tags of
// its traffic source) → browsing (product_view, search, click, listing pages) → add_to_cart
// (sometimes remove_from_cart) → begin_checkout → purchase with items, revenue and an order id.
// Gaps between events are seconds of dwell time. Product choice follows the visitor's planted
// favourite categories, the catalog's Zipf popularity and "customers also viewed" links.
// Stateless apart from references to the catalog and visitors; thread-safe to share.
class SessionSimulator {
 public:
  SessionSimulator(const ShopCatalog& catalog, const VisitorPopulation& visitors,
                   SessionOptions options = {});

  // A session of `visitor` starting at `shop_hour` (which shifts the traffic-source mix). Ids
  // (event, session, order) come from `rng`.
  SessionPlan Plan(size_t visitor, double shop_hour, SeededRandom& rng) const;

  const ShopCatalog& catalog() const { return catalog_; }
  const VisitorPopulation& visitors() const { return visitors_; }
  const SessionOptions& options() const { return options_; }

 private:
  const ShopCatalog& catalog_;
  const VisitorPopulation& visitors_;
  SessionOptions options_;
};

}  // namespace basin::demo
