#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "demo/seeded_random.h"
#include "demo/shop_catalog.h"

namespace basin::demo {

enum class DeviceType { kDesktop, kMobile, kTablet };

// How a session reached the shop; decides the landing page, the referrer and the UTM tags.
enum class TrafficSource { kDirect, kOrganicSearch, kPaidSearch, kSocial, kEmail, kReferral };
inline constexpr int kTrafficSourceCount = 6;
std::string_view TrafficSourceName(TrafficSource source);  // "organic_search"

// One simulated shopper: a browser (or app install) with a stable anonymous id, and for the
// registered minority a customer id. Planted preferences: most of the products a visitor looks
// at come from `favourite_categories`, which is what a recommender should rediscover.
struct Visitor {
  size_t index = 0;
  std::string anonymous_id;            // first-party cookie or app install id (UUID)
  std::optional<std::string> user_id;  // "cust-000123" for registered customers
  std::string device_id;
  DeviceType device = DeviceType::kDesktop;
  std::string platform;                      // "web", "ios", "android"
  std::string user_agent;                    // sent as the request's User-Agent header
  std::string locale;                        // "de-DE"
  std::string country;                       // "DE"
  std::string currency;                      // "EUR" or "USD"
  std::vector<size_t> favourite_categories;  // 1 or 2 catalog category indices
  // Probability that a product this visitor browses to is picked from a favourite category
  // (otherwise from the whole catalog by popularity).
  double preference_strength = 0.8;
  TrafficSource usual_source = TrafficSource::kDirect;
  double activity = 1;          // relative chance of being the next visitor to start a session
  double buyer_propensity = 1;  // multiplies the chance of carting and buying
};

struct VisitorPopulationOptions {
  uint64_t seed = 7;
  int visitor_count = 5000;
  double registered_fraction = 0.3;
};

// The shop's audience: a fixed, seeded set of visitors with devices, locales, traffic-source
// habits, activity levels and planted favourite categories. Immutable after construction;
// thread-safe to share.
class VisitorPopulation {
 public:
  VisitorPopulation(const ShopCatalog& catalog, VisitorPopulationOptions options = {});

  const std::vector<Visitor>& visitors() const { return visitors_; }
  const Visitor& visitor(size_t index) const { return visitors_.at(index); }
  size_t size() const { return visitors_.size(); }
  // A visitor drawn by activity: regulars come back more often than one-off visitors.
  size_t SampleActive(SeededRandom& rng) const { return by_activity_.Sample(rng); }

 private:
  std::vector<Visitor> visitors_;
  DiscreteSampler by_activity_;
};

}  // namespace basin::demo
