#include "demo/product_images.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "base/gzip.h"
#include "demo/fashion_mnist.h"
#include "demo/product_image_uploader.h"
#include "unit/demo/png_decode.h"
#include "unit/demo/test_http_server.h"
#include "unit/temp_dir.h"

namespace basin::demo {
namespace {

using testing::DecodePng;
using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

std::string BigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A tiny IDX pair: `labels.size()` images of rows × columns whose pixels encode their index.
struct Idx {
  std::string images, labels;
};
Idx MakeIdx(const std::vector<uint8_t>& labels, uint32_t rows, uint32_t columns) {
  Idx idx;
  idx.images = BigEndian(0x803) + BigEndian(static_cast<uint32_t>(labels.size())) +
               BigEndian(rows) + BigEndian(columns);
  for (size_t i = 0; i < labels.size(); ++i) {
    for (uint32_t p = 0; p < rows * columns; ++p) {
      idx.images.push_back(static_cast<char>(i * 10 + p));
    }
  }
  idx.labels = BigEndian(0x801) + BigEndian(static_cast<uint32_t>(labels.size()));
  for (uint8_t l : labels) idx.labels.push_back(static_cast<char>(l));
  return idx;
}

TEST(FashionMnistTest, ParsesImagesAndLabels) {
  const Idx idx = MakeIdx({7, 0, 7, 9}, 2, 3);
  auto set = FashionMnist::Parse(idx.images, idx.labels);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 4u);
  EXPECT_EQ(set->rows(), 2);
  EXPECT_EQ(set->columns(), 3);
  EXPECT_EQ(set->label(3), FashionLabel::kAnkleBoot);
  EXPECT_EQ(set->WithLabel(FashionLabel::kSneaker), (std::vector<size_t>{0, 2}));
  EXPECT_TRUE(set->WithLabel(FashionLabel::kBag).empty());
  const RasterImage image = set->Image(2);
  EXPECT_EQ(image.width, 3);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{20, 21, 22, 23, 24, 25}));
  EXPECT_EQ(FashionLabelName(FashionLabel::kAnkleBoot), "ankle boot");
}

TEST(FashionMnistTest, LoadsGzipFilesFromADirectory) {
  test::TempDir dir;
  const Idx idx = MakeIdx({1, 2, 3}, 4, 4);
  std::ofstream(dir.path() + "/t10k-images-idx3-ubyte.gz", std::ios::binary) << Gzip(idx.images);
  std::ofstream(dir.path() + "/t10k-labels-idx1-ubyte.gz", std::ios::binary) << Gzip(idx.labels);
  auto set = FashionMnist::Load(dir.path());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->label(1), FashionLabel::kPullover);

  auto missing = FashionMnist::Load(dir.path(), "train");
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

TEST(FashionMnistTest, RejectsMalformedFiles) {
  const Idx good = MakeIdx({1, 2}, 2, 2);
  Idx bad_magic = good;
  bad_magic.images[3] = 0x01;
  EXPECT_EQ(FashionMnist::Parse(bad_magic.images, bad_magic.labels).status().code(),
            ErrorCode::kMalformedBody);
  Idx truncated = good;
  truncated.images.pop_back();
  EXPECT_EQ(FashionMnist::Parse(truncated.images, truncated.labels).status().code(),
            ErrorCode::kMalformedBody);
  const Idx more_labels = MakeIdx({1, 2, 3}, 2, 2);
  EXPECT_EQ(FashionMnist::Parse(good.images, more_labels.labels).status().code(),
            ErrorCode::kMalformedBody);
  Idx bad_label = good;
  bad_label.labels.back() = 10;
  EXPECT_EQ(FashionMnist::Parse(bad_label.images, bad_label.labels).status().code(),
            ErrorCode::kMalformedBody);
}

TEST(FashionMnistTest, ReadsTheDebianPackage) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed (apt-get install "
                    "dataset-fashion-mnist); the generated pictures are tested separately";
  }
  auto set = FashionMnist::Load(std::string(kFashionMnistDir));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 10000u);
  EXPECT_EQ(set->rows(), 28);
  EXPECT_EQ(set->columns(), 28);
  for (int label = 0; label < kFashionLabelCount; ++label) {
    EXPECT_EQ(set->WithLabel(static_cast<FashionLabel>(label)).size(), 1000u);
  }
  // The first test image of Fashion-MNIST is an ankle boot.
  EXPECT_EQ(set->label(0), FashionLabel::kAnkleBoot);

  const ShopCatalog catalog;
  ProductImages images(catalog, std::move(set).value());
  int photos = 0;
  for (const Product& p : catalog.products()) {
    if (!images.UsesPhoto(p)) continue;
    ++photos;
    const auto decoded = DecodePng(images.Png(p));
    ASSERT_EQ(decoded.error, "");
    EXPECT_EQ(decoded.width, 112u);
    EXPECT_EQ(decoded.color_type, 0);
    // Inverted: a white background around a darker article.
    EXPECT_EQ(decoded.pixels.front(), 255);
    EXPECT_LT(*std::min_element(decoded.pixels.begin(), decoded.pixels.end()), 128);
  }
  EXPECT_GT(photos, 20);  // the Fashion category's shoes, jackets, tops and bags
}

TEST(ProductImagesTest, MapsFashionProductsToLabels) {
  const ShopCatalog catalog;
  std::map<FashionLabel, int> seen;
  for (const Product& p : catalog.products()) {
    const auto label = FashionLabelFor(p, catalog);
    const std::string& category = catalog.category(p.category).name;
    if (!label) {
      EXPECT_NE(category, "Fashion") << p.name;
      continue;
    }
    ++seen[*label];
    if (p.name.find("Boots") != std::string::npos) {
      EXPECT_EQ(*label, FashionLabel::kAnkleBoot) << p.name;
    }
    if (p.name.find("Hoodie") != std::string::npos) {
      EXPECT_EQ(*label, FashionLabel::kPullover) << p.name;
    }
    if (p.subcategory == "Bags") {
      EXPECT_EQ(*label, FashionLabel::kBag) << p.name;
    }
    if (p.subcategory == "Jackets") {
      EXPECT_EQ(*label, FashionLabel::kCoat) << p.name;
    }
  }
  EXPECT_GE(seen.size(), 5u);
}

TEST(ProductImagesTest, GeneratedPicturesAreDeterministicAndDistinct) {
  const ShopCatalog catalog;
  ProductImages images(catalog, std::nullopt);
  EXPECT_FALSE(images.has_photos());
  std::set<std::string> distinct;
  for (size_t i = 0; i < 16; ++i) {
    const Product& p = catalog.product(i);
    EXPECT_FALSE(images.UsesPhoto(p));
    const std::string png = images.Png(p);
    EXPECT_EQ(png, images.Png(p));
    EXPECT_EQ(png, ProductImages(catalog, std::nullopt).Png(p));
    const auto decoded = DecodePng(png);
    ASSERT_EQ(decoded.error, "");
    EXPECT_EQ(decoded.width, 112u);
    EXPECT_EQ(decoded.height, 112u);
    EXPECT_EQ(decoded.color_type, 2);
    distinct.insert(png);
  }
  EXPECT_EQ(distinct.size(), 16u);
  EXPECT_EQ(ProductImageName(catalog.product(41)), "product_sku-00042.png");
}

TEST(ProductImagesTest, MissingDataSetFallsBackToGeneratedPictures) {
  test::TempDir empty;
  const ShopCatalog catalog;
  const ProductImages images = ProductImages::Load(catalog, empty.path());
  EXPECT_FALSE(images.has_photos());
  for (const Product& p : catalog.products()) EXPECT_FALSE(images.UsesPhoto(p));
}

TEST(ProductImagesTest, PhotosComeFromTheMatchingLabel) {
  // Every sneaker image is filled with 10, every other with 200: a sneaker product's picture
  // must come out inverted as 245.
  std::vector<uint8_t> labels;
  std::string pixels;
  for (int i = 0; i < 30; ++i) {
    labels.push_back(static_cast<uint8_t>(i % kFashionLabelCount));
    pixels += std::string(28 * 28, static_cast<char>(i % kFashionLabelCount == 7 ? 10 : 200));
  }
  std::string images_idx =
      BigEndian(0x803) + BigEndian(30) + BigEndian(28) + BigEndian(28) + pixels;
  std::string labels_idx = BigEndian(0x801) + BigEndian(30);
  for (uint8_t l : labels) labels_idx.push_back(static_cast<char>(l));
  auto set = FashionMnist::Parse(images_idx, labels_idx);
  ASSERT_TRUE(set.ok());
  const ShopCatalog catalog;
  ProductImages images(catalog, std::move(set).value());
  int sneakers = 0;
  for (const Product& p : catalog.products()) {
    if (FashionLabelFor(p, catalog) != FashionLabel::kSneaker) continue;
    ++sneakers;
    ASSERT_TRUE(images.UsesPhoto(p));
    const RasterImage picture = images.Picture(p);
    EXPECT_EQ(picture.width, 112);
    EXPECT_EQ(picture.pixels, std::vector<uint8_t>(112 * 112, 245)) << p.name;
  }
  EXPECT_GT(sneakers, 0);
}

// Answers the first `refuse` uploads with 503, then 201; remembers what it was sent.
class FakeObjectStore {
 public:
  explicit FakeObjectStore(int refuse) : refuse_(refuse) {}
  TestResponse Handle(const TestRequest& r) {
    std::lock_guard lock(mu_);
    if (refuse_ > 0) {
      --refuse_;
      return {503, R"({"code":"Unavailable"})"};
    }
    ++uploads_[r.target];
    content_types_.insert(r.content_type);
    bodies_[r.target] = r.body;
    return {201, R"({"object_key":"x"})"};
  }
  std::mutex mu_;
  int refuse_;
  std::map<std::string, int> uploads_;
  std::map<std::string, std::string> bodies_;
  std::set<std::string> content_types_;
};

TEST(ProductImageUploaderTest, UploadsEachProductOnceAndRetriesRefusals) {
  ShopCatalogOptions small;
  small.product_count = 12;
  const ShopCatalog catalog(small);
  const ProductImages images(catalog, std::nullopt);
  FakeObjectStore store(/*refuse=*/3);
  TestHttpServer server([&](const TestRequest& r) { return store.Handle(r); });

  ProductImageUploaderOptions options;
  options.port = server.port();
  options.uploads_per_second = 1000;
  options.initial_backoff_ms = 1;
  options.max_backoff_ms = 4;
  ProductImageUploader uploader(images, options);
  uploader.AddCatalog(catalog);
  ASSERT_TRUE(uploader.Start().ok());
  // Waits for the outcome, not for a time: the deadline only bounds a broken uploader.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (uploader.stats().uploaded < 12 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  uploader.Stop();
  const ProductImageUploaderStats stats = uploader.stats();
  EXPECT_EQ(stats.uploaded, 12u);
  EXPECT_EQ(stats.pending, 0u);
  EXPECT_EQ(stats.failed_attempts, 3u);
  EXPECT_EQ(stats.given_up, 0u);

  std::lock_guard lock(store.mu_);
  EXPECT_EQ(store.uploads_.size(), 12u);
  for (const auto& [target, count] : store.uploads_) EXPECT_EQ(count, 1) << target;
  EXPECT_EQ(store.content_types_, std::set<std::string>{"image/png"});
  const std::string target = "/v1/objects?name=product_sku-00003.png&product_id=sku-00003";
  ASSERT_TRUE(store.bodies_.contains(target));
  EXPECT_EQ(store.bodies_[target], images.Png(*catalog.Find("sku-00003")));
  EXPECT_EQ(DecodePng(store.bodies_[target]).error, "");
}

TEST(ProductImageUploaderTest, StopInterruptsAHungServer) {
  ShopCatalogOptions small;
  small.product_count = 12;
  const ShopCatalog catalog(small);
  const ProductImages images(catalog, std::nullopt);
  std::atomic<int> requests{0};
  TestHttpServer server([&](const TestRequest&) {
    ++requests;
    return TestResponse::Stall();
  });
  ProductImageUploaderOptions options;
  options.port = server.port();
  options.request_timeout_ms = 60'000;
  ProductImageUploader uploader(images, options);
  uploader.AddCatalog(catalog);
  ASSERT_TRUE(uploader.Start().ok());
  while (requests.load() == 0) std::this_thread::yield();
  const auto started = std::chrono::steady_clock::now();
  uploader.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(uploader.stats().uploaded, 0u);
  EXPECT_EQ(uploader.stats().pending, 12u);
}

}  // namespace
}  // namespace basin::demo
