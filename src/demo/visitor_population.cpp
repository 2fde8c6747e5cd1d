#include "demo/visitor_population.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace basin::demo {
namespace {

struct LocaleSpec {
  const char* locale;
  const char* country;
  const char* currency;
  double weight;
};

const std::vector<LocaleSpec> kLocales = {
    {"en-US", "US", "USD", 0.30}, {"de-DE", "DE", "EUR", 0.18}, {"fr-FR", "FR", "EUR", 0.13},
    {"en-IE", "IE", "EUR", 0.05}, {"es-ES", "ES", "EUR", 0.09}, {"it-IT", "IT", "EUR", 0.08},
    {"nl-NL", "NL", "EUR", 0.08}, {"de-AT", "AT", "EUR", 0.04}, {"en-CA", "CA", "USD", 0.05},
};

// Device and client families with realistic User-Agent strings. Native apps identify themselves
// with the shop app's own agent, as mobile SDKs do.
struct ClientSpec {
  DeviceType device;
  const char* platform;
  double weight;
  std::vector<const char*> user_agents;
};

const std::vector<ClientSpec> kClients = {
    {DeviceType::kDesktop,
     "web",
     0.25,
     {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"}},
    {DeviceType::kDesktop,
     "web",
     0.08,
     {"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
      "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"}},
    {DeviceType::kDesktop,
     "web",
     0.09,
     {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/17.5 Safari/605.1.15"}},
    {DeviceType::kMobile,
     "web",
     0.18,
     {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"}},
    {DeviceType::kMobile,
     "web",
     0.17,
     {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.6478.71 Mobile Safari/537.36",
      "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.6478.71 Mobile Safari/537.36"}},
    {DeviceType::kTablet,
     "web",
     0.06,
     {"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/17.5 Mobile/15E148 Safari/604.1"}},
    {DeviceType::kMobile, "ios", 0.09, {"BasinShop/4.12.0 (iPhone; iOS 17.5; Scale/3.00)"}},
    {DeviceType::kMobile, "android", 0.08, {"BasinShop/4.12.0 (Linux; Android 14; Pixel 8)"}},
};

// Each visitor has a habitual way in; the session picks it most of the time (SessionSimulator).
const std::vector<double> kUsualSourceWeights = {
    /*direct*/ 0.24,  /*organic*/ 0.30, /*paid*/ 0.14, /*social*/ 0.12, /*email*/ 0.12,
    /*referral*/ 0.08};

}  // namespace

std::string_view TrafficSourceName(TrafficSource source) {
  switch (source) {
    case TrafficSource::kDirect: return "direct";
    case TrafficSource::kOrganicSearch: return "organic_search";
    case TrafficSource::kPaidSearch: return "paid_search";
    case TrafficSource::kSocial: return "social";
    case TrafficSource::kEmail: return "email";
    case TrafficSource::kReferral: return "referral";
  }
  return "direct";
}

VisitorPopulation::VisitorPopulation(const ShopCatalog& catalog, VisitorPopulationOptions options) {
  BASIN_CHECK(options.visitor_count > 0);
  SeededRandom rng(options.seed);

  std::vector<double> locale_weights, client_weights, category_weights;
  for (const auto& l : kLocales) locale_weights.push_back(l.weight);
  for (const auto& c : kClients) client_weights.push_back(c.weight);
  for (const auto& c : catalog.categories()) category_weights.push_back(c.traffic_share);
  const DiscreteSampler locale_sampler(locale_weights);
  const DiscreteSampler client_sampler(client_weights);
  const DiscreteSampler category_sampler(category_weights);
  const DiscreteSampler source_sampler(kUsualSourceWeights);

  int registered = 0;
  std::vector<double> activity;
  visitors_.reserve(options.visitor_count);
  for (int i = 0; i < options.visitor_count; ++i) {
    Visitor v;
    v.index = static_cast<size_t>(i);
    v.anonymous_id = rng.Uuid();
    const bool is_registered = rng.Chance(options.registered_fraction);
    if (is_registered) {
      char id[32];
      std::snprintf(id, sizeof id, "cust-%06d", ++registered);
      v.user_id = id;
    }
    const ClientSpec& client = kClients[client_sampler.Sample(rng)];
    v.device = client.device;
    v.platform = client.platform;
    v.user_agent = rng.Pick(client.user_agents);
    // App installs have a vendor-style upper-case id; browsers a generated one.
    v.device_id = rng.Uuid();
    if (v.platform != "web") {
      std::transform(v.device_id.begin(), v.device_id.end(), v.device_id.begin(),
                     [](char ch) { return static_cast<char>(std::toupper(ch)); });
    }
    const LocaleSpec& locale = kLocales[locale_sampler.Sample(rng)];
    v.locale = locale.locale;
    v.country = locale.country;
    v.currency = locale.currency;

    v.favourite_categories.push_back(category_sampler.Sample(rng));
    if (rng.Chance(0.4) && catalog.categories().size() > 1) {
      size_t second = category_sampler.Sample(rng);
      while (second == v.favourite_categories[0]) second = category_sampler.Sample(rng);
      v.favourite_categories.push_back(second);
    }
    v.preference_strength = rng.UniformBetween(0.75, 0.92);
    v.usual_source = static_cast<TrafficSource>(source_sampler.Sample(rng));
    // Heavy-tailed activity: a few regulars, many occasional visitors. Customers with an
    // account and app users come back more.
    v.activity =
        rng.LogNormal(1.0, 0.9) * (is_registered ? 2.0 : 1.0) * (v.platform == "web" ? 1.0 : 1.5);
    v.buyer_propensity = rng.LogNormal(1.0, 0.35) * (is_registered ? 1.6 : 0.75);
    activity.push_back(v.activity);
    visitors_.push_back(std::move(v));
  }
  by_activity_ = DiscreteSampler(activity);
}

}  // namespace basin::demo
