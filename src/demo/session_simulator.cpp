#include "demo/session_simulator.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>

#include "demo/daily_rhythm.h"

namespace basin::demo {
namespace {

constexpr const char* kShopName = "Basin Shop";

// The traffic-source mix of sessions that do not follow the visitor's habit.
constexpr std::array<double, kTrafficSourceCount> kSourceMix = {
    /*direct*/ 0.22,  /*organic*/ 0.30, /*paid*/ 0.15, /*social*/ 0.13, /*email*/ 0.10,
    /*referral*/ 0.10};
// Bounce rate relative to the average, and cart rate relative to the average, by source: ads
// and social bring curious visitors, email and direct bring intent.
constexpr std::array<double, kTrafficSourceCount> kBounceFactor = {0.80, 1.00, 1.25,
                                                                   1.30, 0.80, 1.00};
constexpr std::array<double, kTrafficSourceCount> kCartFactor = {1.25, 0.95, 1.00,
                                                                 0.60, 1.35, 0.90};
// Chance that a session follows the visitor's usual source rather than the current mix.
constexpr double kHabitualSource = 0.6;
constexpr double kRelatedClick = 0.25;  // next product is a "customers also viewed" one
constexpr double kFocusFollow = 0.8;    // next product comes from the listing / search just seen
constexpr int kMaxBrowseSteps = 30;

struct Campaign {
  const char* utm_campaign;
  const char* path;  // landing path for promo pages
};
constexpr std::array<Campaign, 3> kEmailCampaigns = {{
    {"weekly_picks", "/sale/weekly-picks"},
    {"summer_sale", "/sale/summer"},
    {"back_in_stock", "/new/back-in-stock"},
}};

const char* PaymentMethod(SeededRandom& rng) {
  const double u = rng.Uniform();
  if (u < 0.55) return "card";
  if (u < 0.80) return "paypal";
  if (u < 0.92) return "apple_pay";
  return "klarna";
}

std::string UrlEncodeQuery(std::string_view text) {
  std::string out;
  for (char ch : text) {
    if (ch == ' ') {
      out += '+';
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-') {
      out += ch;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[(static_cast<unsigned char>(ch) >> 4) & 0xF];
      out += kHex[static_cast<unsigned char>(ch) & 0xF];
    }
  }
  return out;
}

std::string Slugify(std::string_view name) {
  std::string out;
  for (char ch : name) {
    if (ch >= 'A' && ch <= 'Z') {
      out += static_cast<char>(ch - 'A' + 'a');
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
      out += ch;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

// Builds one session's events in order; lives for one Plan() call.
class SessionBuilder {
 public:
  SessionBuilder(const SessionSimulator& sim, size_t visitor, double shop_hour, SeededRandom& rng)
      : catalog_(sim.catalog()),
        options_(sim.options()),
        visitor_(sim.visitors().visitor(visitor)),
        shop_hour_(shop_hour),
        rng_(rng) {
    plan_.visitor = visitor;
    plan_.session_id = rng_.Uuid();
    plan_.currency = visitor_.currency;
    const bool app = visitor_.platform != "web";
    logged_in_ = visitor_.user_id.has_value() && rng_.Chance(app ? 0.95 : options_.login_rate);
  }

  SessionPlan Build() {
    plan_.source = ChooseSource();
    const size_t src = static_cast<size_t>(plan_.source);
    ChooseReferrerAndUtm();
    Land();

    const double bounce = std::min(0.9, options_.bounce_rate * kBounceFactor[src]);
    if (rng_.Chance(bounce)) return std::move(plan_);

    const double cart_p =
        std::min(0.9, options_.cart_rate * visitor_.buyer_propensity * kCartFactor[src]);
    const bool will_cart = rng_.Chance(cart_p);
    const bool will_checkout = will_cart && rng_.Chance(options_.checkout_rate);
    const bool will_purchase = will_checkout && rng_.Chance(options_.purchase_rate);

    int steps = 1 + static_cast<int>(rng_.Exponential(options_.mean_browse_steps - 1));
    steps = std::min(steps, kMaxBrowseSteps);
    if (will_cart) steps = std::max(steps, 2);
    int adds_wanted = !will_cart ? 0 : rng_.Chance(0.7) ? 1 : rng_.Chance(0.7) ? 2 : 3;

    for (int step = 0; step < steps; ++step) {
      const double u = rng_.Uniform();
      if (u < 0.55) {
        ViewProduct(NextProduct(), rng_.LogNormal(7, 0.6));
      } else if (u < 0.70) {
        ViewListing();
      } else if (u < 0.82) {
        Search();
      } else {
        Click();
      }
      const bool last = step == steps - 1;
      if (adds_wanted > 0 && current_ && (rng_.Chance(0.35) || last)) {
        AddToCart(*current_);
        --adds_wanted;
      }
    }
    if (will_cart && cart_.empty()) {
      if (!current_) ViewProduct(NextProduct(), rng_.LogNormal(7, 0.6));
      AddToCart(*current_);
    }

    // Second thoughts: take one line out, or empty a one-line cart and leave.
    if (cart_.size() >= 2 && rng_.Chance(0.3)) {
      ViewPage("/cart", std::string("Your cart | ") + kShopName, rng_.LogNormal(5, 0.5));
      RemoveFromCart(cart_.size() - 1);
    } else if (cart_.size() == 1 && !will_checkout && rng_.Chance(0.2)) {
      ViewPage("/cart", std::string("Your cart | ") + kShopName, rng_.LogNormal(5, 0.5));
      RemoveFromCart(0);
    }

    if (will_checkout && !cart_.empty()) {
      if (page_path_ != "/cart") {
        ViewPage("/cart", std::string("Your cart | ") + kShopName, rng_.LogNormal(5, 0.5));
      }
      ViewPage("/checkout", std::string("Checkout | ") + kShopName, rng_.LogNormal(6, 0.4));
      ShopEvent& checkout = Emit("begin_checkout", rng_.UniformBetween(0.2, 0.8));
      checkout.items = cart_;
      checkout.currency = visitor_.currency;
      checkout.attributes.emplace_back("value",
                                       ShopCatalog::FormatCents(checkout.ItemsTotalCents()));
      if (will_purchase) {
        Purchase();
      } else if (rng_.Chance(0.4)) {
        ViewPage("/", std::string(kShopName) + " - Everyday things, delivered",
                 rng_.LogNormal(40, 0.5));
      }
    }
    return std::move(plan_);
  }

 private:
  TrafficSource ChooseSource() {
    if (rng_.Chance(kHabitualSource)) return visitor_.usual_source;
    std::vector<double> weights(kSourceMix.begin(), kSourceMix.end());
    weights[static_cast<size_t>(TrafficSource::kEmail)] *= DailyRhythm::EmailBoost(shop_hour_);
    if (shop_hour_ >= 19 && shop_hour_ < 23) {
      weights[static_cast<size_t>(TrafficSource::kSocial)] *= 1.5;  // evening scrolling
    }
    return static_cast<TrafficSource>(DiscreteSampler(weights).Sample(rng_));
  }

  void ChooseReferrerAndUtm() {
    switch (plan_.source) {
      case TrafficSource::kDirect: break;
      case TrafficSource::kOrganicSearch: {
        const double u = rng_.Uniform();
        referrer_ = u < 0.82   ? "https://www.google.com/"
                    : u < 0.93 ? "https://www.bing.com/"
                               : "https://duckduckgo.com/";
        break;
      }
      case TrafficSource::kPaidSearch:
        referrer_ = "https://www.google.com/";
        utm_ =
            "utm_source=google&utm_medium=cpc&utm_campaign=" +
            std::string(rng_.Chance(0.4) ? "brand_search" : "shopping_" + FavouriteCategory().slug);
        break;
      case TrafficSource::kSocial: {
        const double u = rng_.Uniform();
        const char* network = u < 0.5 ? "facebook" : u < 0.85 ? "instagram" : "tiktok";
        referrer_ = u < 0.5    ? "https://www.facebook.com/"
                    : u < 0.85 ? "https://l.instagram.com/"
                               : "https://www.tiktok.com/";
        // Paid social carries UTM tags; shared links usually do not.
        if (rng_.Chance(0.6)) {
          utm_ = std::string("utm_source=") + network + "&utm_medium=paid_social&utm_campaign=" +
                 (rng_.Chance(0.5) ? "summer_sale" : "new_arrivals");
        }
        break;
      }
      case TrafficSource::kEmail:
        // Mail clients send no referrer; the UTM tags are the only trace.
        campaign_ = &kEmailCampaigns[rng_.Below(kEmailCampaigns.size())];
        utm_ = std::string("utm_source=newsletter&utm_medium=email&utm_campaign=") +
               campaign_->utm_campaign;
        break;
      case TrafficSource::kReferral: {
        const double u = rng_.Uniform();
        referrer_ = u < 0.4   ? "https://www.reddit.com/"
                    : u < 0.7 ? "https://www.pinterest.com/"
                              : "https://blog.example.org/gift-guide";
        break;
      }
    }
  }

  // The landing page: ads and social links go to products, newsletters to promotions, direct
  // visitors mostly to the home page.
  void Land() {
    const double u = rng_.Uniform();
    double product_p = 0, listing_p = 0;  // the rest lands on home (or the campaign page)
    switch (plan_.source) {
      case TrafficSource::kDirect:
        product_p = 0.15;
        listing_p = 0.15;
        break;
      case TrafficSource::kOrganicSearch:
        product_p = 0.45;
        listing_p = 0.35;
        break;
      case TrafficSource::kPaidSearch:
        product_p = 0.70;
        listing_p = 0.30;
        break;
      case TrafficSource::kSocial:
        product_p = 0.70;
        listing_p = 0.20;
        break;
      case TrafficSource::kEmail:
        product_p = 0.15;
        listing_p = 0.45;
        break;
      case TrafficSource::kReferral:
        product_p = 0.60;
        listing_p = 0.25;
        break;
    }
    if (u < product_p) {
      ViewProduct(NextProduct(), 0);
    } else if (u < product_p + listing_p) {
      ViewListing(0);
    } else if (campaign_ != nullptr) {
      ViewPage(campaign_->path, std::string("Offers | ") + kShopName, 0);
    } else {
      ViewPage("/", std::string(kShopName) + " - Everyday things, delivered", 0);
    }
  }

  const Category& FavouriteCategory() {
    return catalog_.category(rng_.Pick(visitor_.favourite_categories));
  }

  // The category a browsing step looks at: a favourite most of the time.
  size_t InterestCategory() {
    if (rng_.Chance(visitor_.preference_strength)) return FavouriteCategory().index;
    return catalog_.product(catalog_.SamplePopular(rng_)).category;
  }

  size_t NextProduct() {
    if (current_ && rng_.Chance(kRelatedClick)) {
      const auto& related = catalog_.Related(*current_);
      if (!related.empty()) return rng_.Pick(related);
    }
    if (focus_category_ && rng_.Chance(kFocusFollow)) {
      return focus_subcategory_.empty()
                 ? catalog_.SampleInCategory(*focus_category_, rng_)
                 : catalog_.SampleInSubcategory(*focus_category_, focus_subcategory_, rng_);
    }
    if (rng_.Chance(visitor_.preference_strength)) {
      return catalog_.SampleInCategory(FavouriteCategory().index, rng_);
    }
    return catalog_.SamplePopular(rng_);
  }

  ShopEvent& Emit(const char* type, double gap_seconds) {
    clock_s_ += std::max(0.0, gap_seconds);
    PlannedEvent planned;
    planned.offset_seconds = clock_s_;
    ShopEvent& e = planned.event;
    e.event_id = rng_.Uuid();
    e.event_type = type;
    e.app_id = options_.app_id;
    if (logged_in_) e.user_id = visitor_.user_id;
    e.anonymous_id = visitor_.anonymous_id;
    e.device_id = visitor_.device_id;
    e.session_id = plan_.session_id;
    e.page_url = page_url_;
    e.page_title = page_title_;
    e.referrer = referrer_;
    e.platform = visitor_.platform;
    e.locale = visitor_.locale;
    plan_.events.push_back(std::move(planned));
    return plan_.events.back().event;
  }

  // A page load: the first one of the session carries the campaign's UTM tags.
  void ViewPage(const std::string& path, std::string title, double gap_seconds) {
    page_path_ = path;
    page_url_ = options_.site + path;
    if (!utm_.empty() && plan_.events.empty()) {
      page_url_ += (path.find('?') == std::string::npos ? "?" : "&") + utm_;
    }
    page_title_ = std::move(title);
    Emit("page_view", gap_seconds);
  }

  EventItem Item(size_t product, int quantity) const {
    const Product& p = catalog_.product(product);
    return EventItem{p.id, p.name, catalog_.category(p.category).name,
                     ShopCatalog::PriceCents(p, visitor_.currency), quantity};
  }

  void ViewProduct(size_t product, double gap_seconds) {
    const Product& p = catalog_.product(product);
    ViewPage(p.path, p.name + " | " + kShopName, gap_seconds);
    ShopEvent& e = Emit("product_view", rng_.UniformBetween(0.2, 1.0));
    e.product_id = p.id;
    e.items = {Item(product, 1)};
    e.currency = visitor_.currency;
    current_ = product;
    focus_category_.reset();
    focus_subcategory_.clear();
  }

  void ViewListing(double gap_seconds = -1) {
    const Category& c = catalog_.category(InterestCategory());
    std::string path = "/c/" + c.slug;
    std::string title = c.name;
    focus_subcategory_.clear();
    if (rng_.Chance(0.5)) {
      focus_subcategory_ = rng_.Pick(c.subcategories);
      path += "/" + Slugify(focus_subcategory_);
      title = focus_subcategory_ + " - " + c.name;
    }
    ViewPage(path, title + " | " + kShopName,
             gap_seconds < 0 ? rng_.LogNormal(5, 0.6) : gap_seconds);
    focus_category_ = c.index;
  }

  void Search() {
    const Category& c = catalog_.category(InterestCategory());
    const std::string& term = rng_.Pick(c.search_terms);
    page_path_ = "/search?q=" + UrlEncodeQuery(term);
    page_url_ = options_.site + page_path_;
    page_title_ = "Search results for '" + term + "' | " + kShopName;
    ShopEvent& e = Emit("search", rng_.LogNormal(4, 0.5));
    e.AddAttribute("search_term", term);
    e.AddAttribute("search_results", static_cast<int64_t>(rng_.Between(3, 60)));
    focus_category_ = c.index;
    focus_subcategory_.clear();
    // Most searches lead straight to a result.
    if (rng_.Chance(0.7)) ViewProduct(NextProduct(), rng_.LogNormal(4, 0.5));
  }

  void Click() {
    const double gap = rng_.LogNormal(3, 0.6);
    if (current_ && rng_.Chance(0.45)) {
      const auto& related = catalog_.Related(*current_);
      if (!related.empty()) {
        const size_t target = rng_.Pick(related);
        ShopEvent& e = Emit("click", gap);
        e.AddAttribute("element_id", "recommendation-carousel");
        e.AddAttribute("element_text", "Customers also viewed");
        e.AddAttribute("target_product_id", catalog_.product(target).id);
        ViewProduct(target, rng_.UniformBetween(0.5, 1.5));
        return;
      }
    }
    static constexpr std::array<std::pair<const char*, const char*>, 5> kElements = {{
        {"image-gallery", "Next image"},
        {"reviews-tab", "Reviews"},
        {"size-guide", "Size guide"},
        {"filter-brand", "Brand"},
        {"sort-price", "Price: low to high"},
    }};
    const auto& [id, text] = kElements[rng_.Below(kElements.size())];
    ShopEvent& e = Emit("click", gap);
    e.AddAttribute("element_id", id);
    e.AddAttribute("element_text", text);
  }

  void AddToCart(size_t product) {
    const Product& p = catalog_.product(product);
    const double u = rng_.Uniform();
    // Cheap things are bought by two or three.
    const int quantity = p.price_cents < 2000 && u < 0.25 ? (u < 0.08 ? 3 : 2) : u < 0.06 ? 2 : 1;
    ShopEvent& e = Emit("add_to_cart", rng_.LogNormal(6, 0.5));
    e.product_id = p.id;
    e.items = {Item(product, quantity)};
    e.currency = visitor_.currency;
    for (EventItem& line : cart_) {
      if (line.id == p.id) {
        line.quantity += quantity;
        return;
      }
    }
    cart_.push_back(Item(product, quantity));
  }

  void RemoveFromCart(size_t line) {
    const EventItem removed = cart_[line];
    ShopEvent& e = Emit("remove_from_cart", rng_.LogNormal(4, 0.5));
    e.product_id = removed.id;
    e.items = {removed};
    e.currency = visitor_.currency;
    cart_.erase(cart_.begin() + static_cast<std::ptrdiff_t>(line));
  }

  void Purchase() {
    plan_.order_id = "ord-" + rng_.Hex(12);
    // Filling in the address and paying takes a minute or so.
    const double form_time = std::min(180.0, rng_.LogNormal(50, 0.4));
    ViewPage("/checkout/confirmation?order=" + plan_.order_id,
             std::string("Thank you for your order | ") + kShopName, form_time);
    ShopEvent& e = Emit("purchase", rng_.UniformBetween(0.2, 0.8));
    e.items = cart_;
    e.revenue_cents = e.ItemsTotalCents();
    e.currency = visitor_.currency;
    e.AddAttribute("order_id", plan_.order_id);
    e.AddAttribute("payment_method", PaymentMethod(rng_));
    e.AddAttribute("shipping_country", visitor_.country);
    plan_.purchased = true;
    plan_.revenue_cents = *e.revenue_cents;
  }

  const ShopCatalog& catalog_;
  const SessionOptions& options_;
  const Visitor& visitor_;
  double shop_hour_;
  SeededRandom& rng_;
  SessionPlan plan_;
  bool logged_in_ = false;
  double clock_s_ = 0;
  std::optional<std::string> referrer_;
  std::string utm_;
  const Campaign* campaign_ = nullptr;
  std::string page_path_, page_url_, page_title_;
  std::optional<size_t> current_;         // the product on screen
  std::optional<size_t> focus_category_;  // the listing or search just seen
  std::string focus_subcategory_;
  std::vector<EventItem> cart_;
};

}  // namespace

SessionSimulator::SessionSimulator(const ShopCatalog& catalog, const VisitorPopulation& visitors,
                                   SessionOptions options)
    : catalog_(catalog), visitors_(visitors), options_(std::move(options)) {}

SessionPlan SessionSimulator::Plan(size_t visitor, double shop_hour, SeededRandom& rng) const {
  return SessionBuilder(*this, visitor, shop_hour, rng).Build();
}

}  // namespace basin::demo
