#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "demo/seeded_random.h"

namespace basin::demo {

// One product of the demo shop. Prices are integer cents so that revenue sums are exact.
struct Product {
  size_t index = 0;         // position in ShopCatalog::products()
  std::string id;           // "sku-00042"
  std::string name;         // "Voltra Wireless Headphones X2"
  size_t category = 0;      // index into ShopCatalog::categories()
  std::string subcategory;  // "Headphones"
  std::string brand;
  int64_t price_cents = 0;  // in EUR (ShopCatalog::PriceCents converts)
  int popularity_rank = 0;  // 1 = the most viewed product
  double popularity = 0;    // Zipf weight 1 / rank^s, normalised to sum 1 over the catalog
  int64_t created_at_us = 0;
  bool active = true;  // inactive products stay in the catalog file but are never shown
  std::string path;    // "/p/sku-00042"
};

// A top-level category: "Electronics" with slug "electronics" and its subcategories.
struct Category {
  size_t index = 0;
  std::string name;
  std::string slug;
  std::vector<std::string> subcategories;
  double traffic_share = 0;               // relative interest, used to pick visitors' favourites
  std::vector<size_t> products;           // indices of its active products
  std::vector<std::string> search_terms;  // what people type when looking for these things
};

struct ShopCatalogOptions {
  uint64_t seed = 42;
  int product_count = 500;
  double zipf_exponent = 1.1;
};

// The demo shop's product catalog: products across eight categories with subcategories, brands
// and prices, and a Zipf popularity over them (the product of rank r is viewed in proportion to
// 1 / r^s). Everything is derived from the seed, so the same options give the same catalog on
// every run and platform; the batch-file generator (products.csv) and the clickstream therefore
// agree on ids, names, categories and prices. Immutable after construction; thread-safe to share.
class ShopCatalog {
 public:
  explicit ShopCatalog(ShopCatalogOptions options = {});

  const std::vector<Product>& products() const { return products_; }
  const std::vector<Category>& categories() const { return categories_; }
  const Product& product(size_t index) const { return products_.at(index); }
  const Category& category(size_t index) const { return categories_.at(index); }
  // nullptr when no product has that id.
  const Product* Find(std::string_view id) const;

  // An active product drawn by global popularity.
  size_t SamplePopular(SeededRandom& rng) const;
  // An active product of one category, drawn by popularity within it.
  size_t SampleInCategory(size_t category, SeededRandom& rng) const;
  // An active product of one subcategory (by name), drawn by popularity; falls back to the
  // category when the subcategory has no active product.
  size_t SampleInSubcategory(size_t category, std::string_view subcategory,
                             SeededRandom& rng) const;
  // Up to four products shown as "customers also viewed" next to `product`: same subcategory
  // first, then same category. Planted so that item-to-item recommenders find co-visitation.
  const std::vector<size_t>& Related(size_t product) const { return related_.at(product); }

  // A price in `currency` ("EUR" or "USD"; USD at a fixed list-price conversion, ending in .99).
  static int64_t PriceCents(const Product& product, std::string_view currency);
  // "12.99"
  static std::string FormatCents(int64_t cents);

 private:
  std::vector<Product> products_;
  std::vector<Category> categories_;
  std::vector<std::vector<size_t>> related_;
  DiscreteSampler popular_;                                // over products_ (inactive ones weigh 0)
  std::vector<DiscreteSampler> by_category_;               // over categories_[c].products
  std::vector<std::vector<size_t>> subcategory_products_;  // per (category, subcategory) slot
  std::vector<DiscreteSampler> by_subcategory_;
  std::vector<size_t> subcategory_offset_;  // first slot of each category
};

}  // namespace basin::demo
