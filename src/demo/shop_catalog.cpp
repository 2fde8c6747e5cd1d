#include "demo/shop_catalog.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "base/time_format.h"

namespace basin::demo {
namespace {

struct SubcategorySpec {
  const char* name;
  std::vector<const char*> nouns;
  double min_price;  // EUR
  double max_price;
};

struct CategorySpec {
  const char* name;
  const char* slug;
  double share;  // of the catalog and of visitors' interest
  std::vector<const char*> brands;
  std::vector<const char*> models;  // name suffixes that make products distinct
  std::vector<SubcategorySpec> subcategories;
  std::vector<const char*> search_terms;
};

// Invented brands, so the demo never looks like it endorses a real one.
const std::vector<CategorySpec>& CategorySpecs() {
  static const std::vector<CategorySpec> specs = {
      {"Electronics",
       "electronics",
       0.20,
       {"Voltra", "Nimbus", "Kestrel Audio", "Lumen", "Pixelon"},
       {"X2", "Pro", "Mini", "Max", "SE", "Air", "3", "Ultra"},
       {{"Headphones", {"Wireless Headphones", "Noise-Cancelling Headphones", "Earbuds"}, 25, 350},
        {"Smartphones", {"Smartphone"}, 180, 1200},
        {"Laptops", {"Laptop", "Ultrabook", "Chromebook"}, 350, 2200},
        {"Smart Home", {"Smart Speaker", "Smart Plug", "Video Doorbell", "Smart Bulb"}, 15, 250},
        {"Accessories", {"USB-C Charger", "Power Bank", "Phone Case", "HDMI Cable"}, 8, 80}},
       {"wireless headphones", "earbuds", "laptop", "smartphone", "usb-c charger", "power bank",
        "smart speaker", "noise cancelling"}},
      {"Fashion",
       "fashion",
       0.19,
       {"Marlowe", "Tidewater", "Fenwick & Rye", "Oslo Row", "Cinder"},
       {"Classic", "Slim Fit", "Relaxed", "Organic", "Essential", "Heritage"},
       {{"Shoes",
         {"Running Shoes", "Leather Sneakers", "Chelsea Boots", "Canvas Trainers"},
         35,
         220},
        {"Jackets", {"Rain Jacket", "Down Jacket", "Denim Jacket", "Wool Coat"}, 50, 380},
        {"Tops", {"T-Shirt", "Linen Shirt", "Hoodie", "Merino Sweater"}, 12, 120},
        {"Bags", {"Backpack", "Tote Bag", "Crossbody Bag", "Weekender"}, 25, 260}},
       {"sneakers", "rain jacket", "hoodie", "backpack", "linen shirt", "boots", "t-shirt"}},
      {"Home & Kitchen",
       "home-kitchen",
       0.16,
       {"Hearthline", "Copperleaf", "Nordhaus", "Bramble"},
       {"Classic", "Pro", "Compact", "Deluxe", "Stoneware", "Eco"},
       {{"Cookware",
         {"Cast Iron Skillet", "Nonstick Pan Set", "Dutch Oven", "Chef's Knife"},
         18,
         240},
        {"Coffee",
         {"Espresso Machine", "Pour-Over Kettle", "Burr Grinder", "French Press"},
         20,
         650},
        {"Bedding", {"Linen Duvet Cover", "Down Pillow", "Weighted Blanket"}, 25, 220},
        {"Decor", {"Table Lamp", "Ceramic Vase", "Wall Mirror", "Scented Candle"}, 9, 180}},
       {"espresso machine", "frying pan", "knife", "duvet cover", "lamp", "candle", "grinder"}},
      {"Sports & Outdoors",
       "sports-outdoors",
       0.12,
       {"Summit Forge", "Stride", "Trailhead", "Aquila"},
       {"Trail", "Pro", "Lite", "Expedition", "Sport"},
       {{"Camping", {"2-Person Tent", "Sleeping Bag", "Camping Stove", "Headlamp"}, 15, 420},
        {"Fitness",
         {"Yoga Mat", "Adjustable Dumbbells", "Resistance Bands", "Kettlebell"},
         12,
         320},
        {"Cycling", {"Bike Helmet", "Bike Light Set", "Cycling Jersey", "Bike Lock"}, 15, 160}},
       {"tent", "yoga mat", "dumbbells", "bike helmet", "sleeping bag", "headlamp"}},
      {"Beauty",
       "beauty",
       0.10,
       {"Velvetine", "Botanica Lab", "Lune"},
       {"Hydrating", "Daily", "Night", "Gentle", "Radiance"},
       {{"Skincare", {"Face Serum", "Moisturiser", "Cleanser", "Sunscreen SPF 50"}, 9, 75},
        {"Fragrance", {"Eau de Parfum", "Body Mist"}, 19, 140},
        {"Hair", {"Shampoo", "Hair Oil", "Hair Dryer"}, 7, 190}},
       {"serum", "sunscreen", "moisturiser", "perfume", "shampoo", "hair dryer"}},
      {"Books",
       "books",
       0.09,
       {"Paperkite Press", "Harbor House", "Quill & Co"},
       {"Paperback", "Hardcover"},
       {{"Fiction",
         {"The Silent Orchard", "Midnight Atlas", "The Last Lighthouse", "Paper Kingdoms"},
         9,
         28},
        {"Cookbooks", {"Simple Weeknight Suppers", "The Sourdough Year", "Plant Kitchen"}, 15, 40},
        {"Science",
         {"The Curious Cosmos", "A Short History of Rivers", "Thinking in Systems Today"},
         12,
         35},
        {"Children", {"The Brave Little Fox", "Counting Clouds", "Dragons at Bedtime"}, 7, 20}},
       {"novel", "cookbook", "sourdough", "children's book", "science book"}},
      {"Toys & Games",
       "toys-games",
       0.08,
       {"Brickwell", "Tinker Fox", "Meeple Works"},
       {"Deluxe", "Starter", "Family Edition", "Junior"},
       {{"Building Sets", {"Castle Building Set", "Space Station Kit", "City Tram Set"}, 15, 180},
        {"Board Games",
         {"Strategy Board Game", "Party Card Game", "Cooperative Adventure Game"},
         12,
         70},
        {"Outdoor Play", {"Kite", "Water Blaster", "Balance Bike"}, 9, 140}},
       {"board game", "building set", "kite", "card game", "balance bike"}},
      {"Grocery & Gourmet",
       "grocery-gourmet",
       0.06,
       {"Olive Grove", "Roastery 17", "Verde"},
       {"Organic", "Single Origin", "Reserve", "Family Pack"},
       {{"Coffee & Tea", {"Coffee Beans 1kg", "Ground Coffee", "Green Tea", "Chai Blend"}, 6, 45},
        {"Pantry",
         {"Extra Virgin Olive Oil", "Aged Balsamic", "Sea Salt Flakes", "Wildflower Honey"},
         4,
         38}},
       {"coffee beans", "olive oil", "green tea", "honey"}},
  };
  return specs;
}

// Shop prices end in .99, and expensive ones on a round ten: 12.99, 89.99, 249.99.
int64_t ShopPriceCents(double euros) {
  double whole;
  if (euros < 100) {
    whole = std::max(1.0, std::round(euros));
  } else {
    whole = std::round(euros / 10.0) * 10.0;
  }
  return static_cast<int64_t>(whole) * 100 - 1;
}

// Products were listed between 2023-01-01 and 2025-06-30.
const int64_t kCatalogStartDay = DaysFromCivil(2023, 1, 1);
const int64_t kCatalogEndDay = DaysFromCivil(2025, 6, 30);

constexpr int kRelatedPerProduct = 4;
constexpr double kActiveFraction = 0.96;

}  // namespace

ShopCatalog::ShopCatalog(ShopCatalogOptions options) {
  BASIN_CHECK(options.product_count > 0);
  SeededRandom rng(options.seed);
  const auto& specs = CategorySpecs();

  std::vector<double> shares;
  for (size_t c = 0; c < specs.size(); ++c) {
    Category category;
    category.index = c;
    category.name = specs[c].name;
    category.slug = specs[c].slug;
    category.traffic_share = specs[c].share;
    for (const auto& sub : specs[c].subcategories) category.subcategories.push_back(sub.name);
    for (const char* term : specs[c].search_terms) category.search_terms.push_back(term);
    categories_.push_back(std::move(category));
    shares.push_back(specs[c].share);
  }
  const DiscreteSampler category_sampler(shares);

  std::set<std::string> names;
  products_.reserve(options.product_count);
  for (int i = 0; i < options.product_count; ++i) {
    Product p;
    p.index = static_cast<size_t>(i);
    char id[32];
    std::snprintf(id, sizeof id, "sku-%05d", i + 1);
    p.id = id;
    p.path = "/p/" + p.id;
    // The first products go round the categories so that every category has some, however
    // small the catalog.
    p.category =
        i < static_cast<int>(specs.size()) ? static_cast<size_t>(i) : category_sampler.Sample(rng);
    const CategorySpec& spec = specs[p.category];
    const SubcategorySpec& sub = rng.Pick(spec.subcategories);
    p.subcategory = sub.name;
    p.brand = rng.Pick(spec.brands);
    const std::string noun = rng.Pick(sub.nouns);
    // Books are titles with a format; everything else is "<brand> <noun> <model>".
    const bool is_book = std::string_view(spec.slug) == "books";
    std::string name = is_book ? noun + " (" + rng.Pick(spec.models) + ")"
                               : p.brand + " " + noun + " " + rng.Pick(spec.models);
    for (int edition = 2; names.contains(name); ++edition) {
      name =
          (is_book ? noun + ", Vol. " : p.brand + " " + noun + " Gen ") + std::to_string(edition);
    }
    names.insert(name);
    p.name = std::move(name);
    // Log-uniform between the subcategory's bounds: many cheap items, a few expensive ones.
    const double log_price = rng.UniformBetween(std::log(sub.min_price), std::log(sub.max_price));
    p.price_cents = ShopPriceCents(std::exp(log_price));
    const int64_t day = rng.Between(kCatalogStartDay, kCatalogEndDay);
    p.created_at_us = (day * 86'400 + rng.Between(8 * 3600, 18 * 3600)) * 1'000'000;
    p.active = rng.Chance(kActiveFraction);
    products_.push_back(std::move(p));
  }

  // Popularity ranks are a random permutation, so best-sellers are spread across categories.
  std::vector<size_t> order(products_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.Shuffle(order);
  double total = 0;
  for (size_t r = 0; r < order.size(); ++r) {
    Product& p = products_[order[r]];
    p.popularity_rank = static_cast<int>(r + 1);
    p.popularity = std::pow(static_cast<double>(r + 1), -options.zipf_exponent);
    total += p.popularity;
  }
  std::vector<double> weights;
  for (Product& p : products_) {
    p.popularity /= total;
    weights.push_back(p.active ? p.popularity : 0.0);
    if (p.active) categories_[p.category].products.push_back(p.index);
  }
  popular_ = DiscreteSampler(weights);

  for (Category& c : categories_) {
    if (c.products.empty()) {
      // A tiny catalog may leave a category without active products; keep it usable.
      for (const Product& p : products_) {
        if (p.category == c.index) c.products.push_back(p.index);
      }
    }
    std::vector<double> w;
    for (size_t idx : c.products) w.push_back(products_[idx].popularity);
    by_category_.emplace_back(w);

    subcategory_offset_.push_back(subcategory_products_.size());
    for (const std::string& sub : c.subcategories) {
      std::vector<size_t> members;
      std::vector<double> sw;
      for (size_t idx : c.products) {
        if (products_[idx].subcategory == sub) {
          members.push_back(idx);
          sw.push_back(products_[idx].popularity);
        }
      }
      by_subcategory_.push_back(members.empty() ? DiscreteSampler() : DiscreteSampler(sw));
      subcategory_products_.push_back(std::move(members));
    }
  }

  // "Customers also viewed": a fixed handful per product, from its subcategory when possible.
  related_.resize(products_.size());
  for (const Product& p : products_) {
    std::vector<size_t> same_sub, same_cat;
    for (size_t idx : categories_[p.category].products) {
      if (idx == p.index) continue;
      (products_[idx].subcategory == p.subcategory ? same_sub : same_cat).push_back(idx);
    }
    rng.Shuffle(same_sub);
    rng.Shuffle(same_cat);
    auto& related = related_[p.index];
    for (size_t idx : same_sub) {
      if (related.size() == kRelatedPerProduct - 1) break;
      related.push_back(idx);
    }
    for (size_t idx : same_cat) {
      if (related.size() == kRelatedPerProduct) break;
      related.push_back(idx);
    }
  }
}

const Product* ShopCatalog::Find(std::string_view id) const {
  // Ids are "sku-NNNNN" with N = index + 1; check rather than trust the shape.
  if (id.size() == 9 && id.substr(0, 4) == "sku-") {
    size_t n = 0;
    for (char ch : id.substr(4)) {
      if (ch < '0' || ch > '9') return nullptr;
      n = n * 10 + static_cast<size_t>(ch - '0');
    }
    if (n >= 1 && n <= products_.size() && products_[n - 1].id == id) return &products_[n - 1];
  }
  return nullptr;
}

size_t ShopCatalog::SamplePopular(SeededRandom& rng) const { return popular_.Sample(rng); }

size_t ShopCatalog::SampleInCategory(size_t category, SeededRandom& rng) const {
  const Category& c = categories_.at(category);
  return c.products[by_category_[category].Sample(rng)];
}

size_t ShopCatalog::SampleInSubcategory(size_t category, std::string_view subcategory,
                                        SeededRandom& rng) const {
  const Category& c = categories_.at(category);
  for (size_t s = 0; s < c.subcategories.size(); ++s) {
    if (c.subcategories[s] != subcategory) continue;
    const size_t slot = subcategory_offset_[category] + s;
    if (subcategory_products_[slot].empty()) break;
    return subcategory_products_[slot][by_subcategory_[slot].Sample(rng)];
  }
  return SampleInCategory(category, rng);
}

int64_t ShopCatalog::PriceCents(const Product& product, std::string_view currency) {
  if (currency == "USD") {
    // A fixed list-price conversion (shops set USD prices, they do not float them daily).
    return ShopPriceCents(static_cast<double>(product.price_cents + 1) / 100.0 * 1.08);
  }
  return product.price_cents;
}

std::string ShopCatalog::FormatCents(int64_t cents) {
  char buf[32];
  const char* sign = cents < 0 ? "-" : "";
  const int64_t abs = cents < 0 ? -cents : cents;
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld", sign, static_cast<long long>(abs / 100),
                static_cast<long long>(abs % 100));
  return buf;
}

}  // namespace basin::demo
