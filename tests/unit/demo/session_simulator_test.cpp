#include "demo/session_simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo/json_value.h"

namespace basin::demo {
namespace {

class SessionSimulatorTest : public ::testing::Test {
 protected:
  // Many sessions of visitors drawn by activity, across the day.
  std::vector<SessionPlan> PlanMany(int count, uint64_t seed) {
    SeededRandom rng(seed);
    std::vector<SessionPlan> plans;
    for (int i = 0; i < count; ++i) {
      plans.push_back(sim_.Plan(visitors_.SampleActive(rng), (i % 24) + 0.25, rng));
    }
    return plans;
  }

  ShopCatalog catalog_;
  VisitorPopulation visitors_{catalog_};
  SessionSimulator sim_{catalog_, visitors_};
};

const std::set<std::string> kEventTypes = {"page_view",        "product_view",   "add_to_cart",
                                           "remove_from_cart", "begin_checkout", "purchase",
                                           "search",           "click"};

TEST_F(SessionSimulatorTest, SessionsFollowTheFunnel) {
  const auto plans = PlanMany(20000, 1);
  int purchases = 0, bounces = 0, checkouts = 0, carts = 0;
  std::set<std::string> event_ids, session_ids;
  for (const SessionPlan& plan : plans) {
    ASSERT_FALSE(plan.events.empty());
    EXPECT_TRUE(session_ids.insert(plan.session_id).second);
    EXPECT_EQ(plan.events.front().event.event_type, "page_view");
    EXPECT_EQ(plan.events.front().offset_seconds, 0);
    // A bounce is the landing page alone (a product page logs page_view + product_view).
    bounces += plan.events.size() == 1 ||
               (plan.events.size() == 2 && plan.events[1].event.event_type == "product_view");

    std::map<std::string, int> cart;  // product id -> quantity
    bool added = false, checked_out = false, purchased = false;
    double previous = 0;
    for (const PlannedEvent& pe : plan.events) {
      const ShopEvent& e = pe.event;
      ASSERT_TRUE(kEventTypes.contains(e.event_type)) << e.event_type;
      EXPECT_GE(pe.offset_seconds, previous);
      previous = pe.offset_seconds;
      EXPECT_EQ(e.session_id, plan.session_id);
      EXPECT_TRUE(event_ids.insert(e.event_id).second);
      EXPECT_EQ(e.page_url.rfind("https://shop.example.com/", 0), 0u) << e.page_url;
      if (e.event_type == "add_to_cart") {
        added = true;
        ASSERT_EQ(e.items.size(), 1u);
        cart[e.items[0].id] += e.items[0].quantity;
      } else if (e.event_type == "remove_from_cart") {
        ASSERT_EQ(e.items.size(), 1u);
        ASSERT_TRUE(cart.contains(e.items[0].id)) << "removed something never added";
        EXPECT_EQ(cart[e.items[0].id], e.items[0].quantity);
        cart.erase(e.items[0].id);
      } else if (e.event_type == "begin_checkout") {
        ASSERT_TRUE(added) << "checkout without add_to_cart";
        checked_out = true;
        EXPECT_FALSE(e.items.empty());
      } else if (e.event_type == "purchase") {
        ASSERT_TRUE(added) << "purchase without add_to_cart";
        ASSERT_TRUE(checked_out) << "purchase without begin_checkout";
        ASSERT_FALSE(purchased) << "two purchases in one session";
        purchased = true;
        ASSERT_TRUE(e.revenue_cents.has_value());
        EXPECT_EQ(*e.revenue_cents, e.ItemsTotalCents());
        EXPECT_GT(*e.revenue_cents, 0);
        // The order is exactly what is left in the cart.
        std::map<std::string, int> ordered;
        for (const EventItem& item : e.items) ordered[item.id] += item.quantity;
        EXPECT_EQ(ordered, cart);
        EXPECT_EQ(plan.revenue_cents, *e.revenue_cents);
        EXPECT_EQ(plan.order_id.substr(0, 4), "ord-");
      }
    }
    EXPECT_EQ(purchased, plan.purchased);
    purchases += purchased;
    checkouts += checked_out;
    carts += added;
  }
  const double n = static_cast<double>(plans.size());
  // ~2-4% of sessions buy; funnel narrows at every step; a third or more bounce.
  EXPECT_GE(purchases / n, 0.02);
  EXPECT_LE(purchases / n, 0.04);
  EXPECT_GT(carts, checkouts);
  EXPECT_GT(checkouts, purchases);
  EXPECT_GE(bounces / n, 0.30);
  EXPECT_LE(bounces / n, 0.50);
}

TEST_F(SessionSimulatorTest, GapsAreSecondsOfDwellTime) {
  const auto plans = PlanMany(3000, 2);
  std::vector<double> gaps;
  double longest_session = 0;
  for (const SessionPlan& plan : plans) {
    for (size_t i = 1; i < plan.events.size(); ++i) {
      gaps.push_back(plan.events[i].offset_seconds - plan.events[i - 1].offset_seconds);
    }
    longest_session = std::max(longest_session, plan.events.back().offset_seconds);
  }
  std::sort(gaps.begin(), gaps.end());
  const double median = gaps[gaps.size() / 2];
  EXPECT_GT(median, 0.5);
  EXPECT_LT(median, 20);
  EXPECT_LT(gaps.back(), 240);
  EXPECT_LT(longest_session, 3600);
}

// The planted preferences: most product views of a visitor are in the visitor's favourite
// categories, which is what the recommender has to rediscover.
TEST_F(SessionSimulatorTest, ProductViewsComeMostlyFromFavourites) {
  SeededRandom rng(3);
  int visitors_checked = 0, visitors_above = 0;
  uint64_t views = 0, favourite_views = 0;
  for (size_t v = 0; v < 300; ++v) {
    const Visitor& visitor = visitors_.visitor(v * 13);
    int mine = 0, fav = 0;
    for (int s = 0; s < 40; ++s) {
      for (const PlannedEvent& pe : sim_.Plan(visitor.index, 12, rng).events) {
        if (pe.event.event_type != "product_view") continue;
        const Product* p = catalog_.Find(*pe.event.product_id);
        ASSERT_NE(p, nullptr);
        ++mine;
        const auto& favs = visitor.favourite_categories;
        fav += std::find(favs.begin(), favs.end(), p->category) != favs.end();
      }
    }
    views += mine;
    favourite_views += fav;
    if (mine >= 30) {
      ++visitors_checked;
      visitors_above += fav >= 0.6 * mine;
    }
  }
  EXPECT_GE(static_cast<double>(favourite_views) / views, 0.7);
  ASSERT_GT(visitors_checked, 200);
  EXPECT_GE(visitors_above, visitors_checked * 0.95);
}

TEST_F(SessionSimulatorTest, ViewedProductsAreHeadHeavy) {
  const auto plans = PlanMany(20000, 4);
  std::map<std::string, int> views;
  int total = 0;
  for (const SessionPlan& plan : plans) {
    for (const PlannedEvent& pe : plan.events) {
      if (pe.event.event_type == "product_view") ++views[*pe.event.product_id], ++total;
    }
  }
  std::vector<int> counts;
  for (const auto& [id, n] : views) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  int top = 0;
  for (size_t i = 0; i < 50 && i < counts.size(); ++i) top += counts[i];
  EXPECT_GT(top, total * 0.4) << "the top 10% of products should take a large share of views";
  EXPECT_GT(views.size(), 300u) << "the long tail is still visited";
}

TEST_F(SessionSimulatorTest, TrafficSourcesShapeLandingPages) {
  const auto plans = PlanMany(5000, 5);
  std::map<TrafficSource, int> sources;
  int with_utm = 0, email_with_campaign = 0, emails = 0;
  for (const SessionPlan& plan : plans) {
    ++sources[plan.source];
    const ShopEvent& landing = plan.events.front().event;
    const bool utm = landing.page_url.find("utm_source=") != std::string::npos;
    with_utm += utm;
    if (plan.source == TrafficSource::kEmail) {
      ++emails;
      email_with_campaign += landing.page_url.find("utm_medium=email") != std::string::npos;
      EXPECT_FALSE(landing.referrer.has_value());
    }
    if (plan.source == TrafficSource::kDirect) {
      EXPECT_FALSE(utm);
      EXPECT_FALSE(landing.referrer.has_value());
    }
    if (plan.source == TrafficSource::kOrganicSearch) {
      EXPECT_TRUE(landing.referrer.has_value());
    }
    // Only the landing page carries the campaign tags.
    for (size_t i = 1; i < plan.events.size(); ++i) {
      if (plan.events[i].event.event_type == "page_view") {
        EXPECT_EQ(plan.events[i].event.page_url.find("utm_"), std::string::npos);
      }
    }
  }
  EXPECT_EQ(sources.size(), 6u);
  EXPECT_EQ(email_with_campaign, emails);
  EXPECT_GT(with_utm, 500);
}

TEST_F(SessionSimulatorTest, EventJsonHasTheContractFields) {
  const auto plans = PlanMany(2000, 6);
  std::set<std::string> ids;
  int64_t ts = 1'750'000'000'000;
  int purchases = 0, anonymous = 0, known = 0;
  for (const SessionPlan& plan : plans) {
    for (const PlannedEvent& pe : plan.events) {
      ShopEvent e = pe.event;
      e.timestamp_ms = ++ts;
      const std::string json = e.ToJson();
      auto parsed = JsonValue::Parse(json);
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << json;
      const JsonValue& doc = *parsed;
      ASSERT_TRUE(doc.is_object());
      const JsonValue* id = doc.Find("event_id");
      ASSERT_TRUE(id && id->is_string() && !id->string().empty());
      EXPECT_TRUE(ids.insert(id->string()).second);
      const JsonValue* type = doc.Find("event_type");
      ASSERT_TRUE(type && type->is_string());
      EXPECT_TRUE(kEventTypes.contains(type->string()));
      const JsonValue* timestamp = doc.Find("timestamp");
      ASSERT_TRUE(timestamp && timestamp->is_number());
      EXPECT_EQ(static_cast<int64_t>(timestamp->number()), ts);
      for (const char* field : {"app_id", "anonymous_id", "device_id", "session_id", "page_url",
                                "page_title", "platform", "locale"}) {
        const JsonValue* v = doc.Find(field);
        ASSERT_TRUE(v && v->is_string()) << field;
      }
      const JsonValue* user = doc.Find("user_id");
      ASSERT_NE(user, nullptr);
      ASSERT_TRUE(user->is_null() || user->is_string());
      (user->is_null() ? anonymous : known)++;
      if (const JsonValue* items = doc.Find("items")) {
        ASSERT_TRUE(items->is_array());
        for (const JsonValue& item : items->items()) {
          ASSERT_TRUE(item.Find("id")->is_string());
          ASSERT_TRUE(item.Find("name")->is_string());
          ASSERT_TRUE(item.Find("category")->is_string());
          ASSERT_TRUE(item.Find("price")->is_number());
          ASSERT_TRUE(item.Find("quantity")->is_number());
        }
        ASSERT_TRUE(doc.Find("currency") && doc.Find("currency")->is_string());
      }
      if (type->string() == "purchase") {
        ++purchases;
        const JsonValue* revenue = doc.Find("revenue");
        ASSERT_TRUE(revenue && revenue->is_number());
        double sum = 0;
        for (const JsonValue& item : doc.Find("items")->items()) {
          sum += item.Find("price")->number() * item.Find("quantity")->number();
        }
        EXPECT_NEAR(revenue->number(), sum, 0.005);
        ASSERT_TRUE(doc.Find("order_id") && doc.Find("order_id")->is_string());
      }
      if (type->string() == "search") {
        ASSERT_TRUE(doc.Find("search_term") && doc.Find("search_term")->is_string());
      }
    }
  }
  EXPECT_GT(purchases, 20);
  EXPECT_GT(anonymous, known) << "most traffic is anonymous";
  EXPECT_GT(known, 0);
}

TEST(ShopEvent, DefectsBreakTheContract) {
  ShopEvent e;
  e.event_id = "e1";
  e.event_type = "click";
  e.timestamp_ms = 1'750'000'000'000;
  e.defect = EventDefect::kMissingEventType;
  auto doc = JsonValue::Parse(e.ToJson());
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("event_type"), nullptr);
  e.defect = EventDefect::kTimestampNotANumber;
  doc = JsonValue::Parse(e.ToJson());
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->Find("timestamp")->is_string());
  e.defect = EventDefect::kTimestampOutOfRange;
  doc = JsonValue::Parse(e.ToJson());
  ASSERT_TRUE(doc.ok());
  EXPECT_GT(doc->Find("timestamp")->number(), 4e12);
}

}  // namespace
}  // namespace basin::demo
