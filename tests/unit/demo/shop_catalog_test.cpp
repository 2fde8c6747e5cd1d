#include "demo/shop_catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo/seeded_random.h"
#include "demo/visitor_population.h"

namespace basin::demo {
namespace {

TEST(SeededRandom, SameSeedSameSequence) {
  SeededRandom a(99), b(99), c(100);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    EXPECT_NE(x, c.Next());
  }
}

TEST(SeededRandom, DrawsStayInRange) {
  SeededRandom rng(1);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    const int64_t k = rng.Between(-3, 3);
    ASSERT_GE(k, -3);
    ASSERT_LE(k, 3);
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
  double poisson = 0;
  for (int i = 0; i < 20000; ++i) poisson += static_cast<double>(rng.Poisson(3.5));
  EXPECT_NEAR(poisson / 20000, 3.5, 0.1);
}

TEST(SeededRandom, UuidShape) {
  SeededRandom rng(5);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = rng.Uuid();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '4');                                          // version
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // variant
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(DiscreteSampler, FollowsWeights) {
  DiscreteSampler sampler({1.0, 0.0, 3.0});
  SeededRandom rng(3);
  std::vector<int> counts(3);
  for (int i = 0; i < 40000; ++i) ++counts[sampler.Sample(rng)];
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[2] / 40000.0, 0.75, 0.01);
  EXPECT_DOUBLE_EQ(sampler.Probability(0), 0.25);
}

TEST(ShopCatalog, DeterministicFromSeed) {
  ShopCatalog a({.seed = 42}), b({.seed = 42}), c({.seed = 43});
  ASSERT_EQ(a.products().size(), 500u);
  bool any_difference = false;
  for (size_t i = 0; i < a.products().size(); ++i) {
    EXPECT_EQ(a.product(i).name, b.product(i).name);
    EXPECT_EQ(a.product(i).price_cents, b.product(i).price_cents);
    EXPECT_EQ(a.product(i).popularity_rank, b.product(i).popularity_rank);
    any_difference |= a.product(i).name != c.product(i).name;
  }
  EXPECT_TRUE(any_difference);
}

TEST(ShopCatalog, ProductsAreWellFormed) {
  ShopCatalog catalog;
  std::set<std::string> ids, names;
  std::set<int> ranks;
  int active = 0;
  for (const Product& p : catalog.products()) {
    EXPECT_EQ(p.id.size(), 9u);
    EXPECT_EQ(p.id.substr(0, 4), "sku-");
    EXPECT_EQ(p.path, "/p/" + p.id);
    EXPECT_EQ(catalog.Find(p.id), &p);
    ids.insert(p.id);
    names.insert(p.name);
    ranks.insert(p.popularity_rank);
    EXPECT_GT(p.price_cents, 0);
    EXPECT_EQ(p.price_cents % 100, 99) << p.name;  // shop prices end in .99
    EXPECT_LT(p.price_cents, 300000);
    ASSERT_LT(p.category, catalog.categories().size());
    const auto& subs = catalog.category(p.category).subcategories;
    EXPECT_NE(std::find(subs.begin(), subs.end(), p.subcategory), subs.end());
    EXPECT_FALSE(p.brand.empty());
    EXPECT_GT(p.created_at_us, 1'672'531'200'000'000);  // 2023-01-01
    active += p.active;
  }
  EXPECT_EQ(ids.size(), 500u);
  EXPECT_EQ(names.size(), 500u);
  EXPECT_EQ(ranks.size(), 500u);
  EXPECT_GT(active, 450);
  EXPECT_EQ(catalog.categories().size(), 8u);
  for (const Category& c : catalog.categories()) {
    EXPECT_GE(c.products.size(), 10u) << c.name;
    EXPECT_FALSE(c.search_terms.empty());
  }
  EXPECT_EQ(catalog.Find("sku-99999"), nullptr);
  EXPECT_EQ(catalog.Find("nope"), nullptr);
  EXPECT_EQ(ShopCatalog::FormatCents(1299), "12.99");
  EXPECT_EQ(ShopCatalog::FormatCents(5), "0.05");
}

TEST(ShopCatalog, RelatedProductsShareTheCategory) {
  ShopCatalog catalog;
  for (const Product& p : catalog.products()) {
    const auto& related = catalog.Related(p.index);
    EXPECT_FALSE(related.empty());
    for (size_t r : related) {
      EXPECT_NE(r, p.index);
      EXPECT_EQ(catalog.product(r).category, p.category);
      EXPECT_TRUE(catalog.product(r).active);
    }
  }
}

// Views drawn by popularity follow Zipf's law: frequency ∝ rank^-1.1, so log(frequency) against
// log(rank) is a line of slope about -1.1, and the head of the catalog takes most views.
TEST(ShopCatalog, PopularityIsZipf) {
  ShopCatalog catalog;
  SeededRandom rng(11);
  constexpr int kDraws = 400000;
  std::vector<int> by_rank(catalog.products().size() + 1);
  for (int i = 0; i < kDraws; ++i) {
    const Product& p = catalog.product(catalog.SamplePopular(rng));
    ASSERT_TRUE(p.active);
    ++by_rank[p.popularity_rank];
  }
  // Least squares over the 100 top ranks (skipping inactive products, which are never shown).
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (const Product& p : catalog.products()) {
    if (!p.active || p.popularity_rank > 100) continue;
    const double x = std::log(p.popularity_rank);
    const double y = std::log(by_rank[p.popularity_rank]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, ++n;
  }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  EXPECT_NEAR(slope, -1.1, 0.12);

  std::vector<int> counts(by_rank.begin() + 1, by_rank.end());
  std::sort(counts.rbegin(), counts.rend());
  int top50 = 0;
  for (int i = 0; i < 50; ++i) top50 += counts[i];
  EXPECT_GT(top50, kDraws * 0.6) << "the top 10% of products should get most views";
  EXPECT_GT(counts[0], counts[9] * 8);
}

TEST(ShopCatalog, UsdPricesAreConvertedAndRounded) {
  ShopCatalog catalog;
  for (const Product& p : catalog.products()) {
    const int64_t usd = ShopCatalog::PriceCents(p, "USD");
    EXPECT_EQ(usd % 100, 99);
    EXPECT_GE(usd, p.price_cents);
    EXPECT_EQ(ShopCatalog::PriceCents(p, "EUR"), p.price_cents);
  }
}

TEST(VisitorPopulation, MixOfVisitors) {
  ShopCatalog catalog;
  VisitorPopulation population(catalog);
  ASSERT_EQ(population.size(), 5000u);
  std::set<std::string> anonymous_ids, user_ids;
  std::map<std::string, int> platforms;
  int registered = 0, two_favourites = 0;
  for (const Visitor& v : population.visitors()) {
    anonymous_ids.insert(v.anonymous_id);
    if (v.user_id) {
      ++registered;
      user_ids.insert(*v.user_id);
      EXPECT_EQ(v.user_id->substr(0, 5), "cust-");
    }
    ++platforms[v.platform];
    ASSERT_GE(v.favourite_categories.size(), 1u);
    ASSERT_LE(v.favourite_categories.size(), 2u);
    two_favourites += v.favourite_categories.size() == 2;
    if (v.favourite_categories.size() == 2) {
      EXPECT_NE(v.favourite_categories[0], v.favourite_categories[1]);
    }
    EXPECT_GE(v.preference_strength, 0.6);
    EXPECT_TRUE(v.currency == "EUR" || v.currency == "USD");
    EXPECT_EQ(v.locale.size(), 5u);
    if (v.platform == "web") {
      EXPECT_EQ(v.user_agent.substr(0, 11), "Mozilla/5.0");
    } else {
      EXPECT_EQ(v.user_agent.substr(0, 10), "BasinShop/");
    }
    EXPECT_GT(v.activity, 0);
  }
  EXPECT_EQ(anonymous_ids.size(), 5000u);
  EXPECT_EQ(user_ids.size(), static_cast<size_t>(registered));
  EXPECT_NEAR(registered / 5000.0, 0.3, 0.03);
  EXPECT_NEAR(two_favourites / 5000.0, 0.4, 0.04);
  EXPECT_GT(platforms["web"], 3500);
  EXPECT_GT(platforms["ios"], 200);
  EXPECT_GT(platforms["android"], 200);

  VisitorPopulation again(catalog);
  EXPECT_EQ(again.visitor(1234).anonymous_id, population.visitor(1234).anonymous_id);
}

}  // namespace
}  // namespace basin::demo
