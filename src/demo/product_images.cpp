#include "demo/product_images.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

#include "base/logging.h"

namespace basin::demo {
namespace {

constexpr int kPhotoScale = 4;  // 28×28 → 112×112

// FNV-1a: a stable hash of the product id, the same on every platform and run.
uint64_t StableHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : text) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

bool Contains(std::string_view text, std::string_view word) {
  return text.find(word) != std::string_view::npos;
}

struct Rgb {
  double r, g, b;
};

// One colour per catalog category, in the catalog's category order.
constexpr std::array<Rgb, 8> kCategoryColours = {{
    {52, 101, 164},   // Electronics: blue
    {173, 62, 121},   // Fashion: plum
    {214, 122, 46},   // Home & Kitchen: orange
    {62, 142, 82},    // Sports & Outdoors: green
    {219, 112, 147},  // Beauty: pink
    {121, 85, 61},    // Books: brown
    {227, 180, 38},   // Toys & Games: yellow
    {128, 140, 48},   // Grocery & Gourmet: olive
}};

Rgb Mix(Rgb a, Rgb b, double t) {
  return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

Rgb Scale(Rgb c, double f) {
  return {std::min(255.0, c.r * f), std::min(255.0, c.g * f), std::min(255.0, c.b * f)};
}

void Put(RasterImage& image, int x, int y, Rgb c) {
  const size_t at = (static_cast<size_t>(y) * image.width + x) * 3;
  image.pixels[at] = static_cast<uint8_t>(std::lround(c.r));
  image.pixels[at + 1] = static_cast<uint8_t>(std::lround(c.g));
  image.pixels[at + 2] = static_cast<uint8_t>(std::lround(c.b));
}

// Whether (x, y) lies inside shape `kind` centred at (cx, cy) with half-size r.
bool InShape(int kind, double x, double y, double cx, double cy, double r) {
  const double dx = x - cx, dy = y - cy;
  switch (kind % 5) {
    case 0:  // disc
      return dx * dx + dy * dy <= r * r;
    case 1: {  // rounded square
      const double corner = r * 0.3;
      const double qx = std::max(std::abs(dx) - (r - corner), 0.0);
      const double qy = std::max(std::abs(dy) - (r - corner), 0.0);
      return std::abs(dx) <= r && std::abs(dy) <= r && qx * qx + qy * qy <= corner * corner;
    }
    case 2:  // triangle, point up
      return dy <= r && dy >= -r && std::abs(dx) <= (dy + r) / 2;
    case 3:  // diamond
      return std::abs(dx) + std::abs(dy) <= r;
    default: {  // ring
      const double d2 = dx * dx + dy * dy;
      return d2 <= r * r && d2 >= (r * 0.55) * (r * 0.55);
    }
  }
}

}  // namespace

std::optional<FashionLabel> FashionLabelFor(const Product& product, const ShopCatalog& catalog) {
  const std::string_view name = product.name;
  if (Contains(name, "Cycling Jersey")) return FashionLabel::kTShirt;
  if (catalog.category(product.category).slug != "fashion") return std::nullopt;
  if (Contains(name, "Boots")) return FashionLabel::kAnkleBoot;
  if (Contains(name, "Shoes") || Contains(name, "Sneakers") || Contains(name, "Trainers")) {
    return FashionLabel::kSneaker;
  }
  if (Contains(name, "Jacket") || Contains(name, "Coat")) return FashionLabel::kCoat;
  if (Contains(name, "T-Shirt")) return FashionLabel::kTShirt;
  if (Contains(name, "Shirt")) return FashionLabel::kShirt;
  if (Contains(name, "Hoodie") || Contains(name, "Sweater")) return FashionLabel::kPullover;
  // Names that do not say (products added later): go by the subcategory.
  const std::string_view sub = product.subcategory;
  if (sub == "Shoes") return FashionLabel::kSneaker;
  if (sub == "Jackets") return FashionLabel::kCoat;
  if (sub == "Tops") return FashionLabel::kTShirt;
  if (sub == "Bags") return FashionLabel::kBag;
  return std::nullopt;
}

std::string ProductImageName(const Product& product) { return "product_" + product.id + ".png"; }

ProductImages::ProductImages(const ShopCatalog& catalog, std::optional<FashionMnist> photos)
    : catalog_(catalog), photos_(std::move(photos)) {}

ProductImages ProductImages::Load(const ShopCatalog& catalog, const std::string& dir) {
  Result<FashionMnist> photos = FashionMnist::Load(dir);
  if (!photos.ok()) {
    BASIN_LOG(Info, "demo") << "product pictures are generated (no Fashion-MNIST photos: "
                            << photos.status().ToString()
                            << "; install Debian's dataset-fashion-mnist for real ones)";
    return ProductImages(catalog, std::nullopt);
  }
  BASIN_LOG(Info, "demo") << "product pictures use " << photos->size()
                          << " Fashion-MNIST photos from " << dir;
  return ProductImages(catalog, std::move(photos).value());
}

bool ProductImages::UsesPhoto(const Product& product) const {
  if (!photos_) return false;
  const std::optional<FashionLabel> label = FashionLabelFor(product, catalog_);
  return label.has_value() && !photos_->WithLabel(*label).empty();
}

RasterImage ProductImages::Picture(const Product& product) const {
  if (UsesPhoto(product)) return Photo(product, *FashionLabelFor(product, catalog_));
  return GeneratedPicture(product);
}

RasterImage ProductImages::Photo(const Product& product, FashionLabel label) const {
  const std::vector<size_t>& candidates = photos_->WithLabel(label);
  RasterImage photo = photos_->Image(candidates[StableHash(product.id) % candidates.size()]);
  // The data set shows a bright article on black; a shop shows a dark article on white.
  for (uint8_t& p : photo.pixels) p = static_cast<uint8_t>(255 - p);
  return ScaleBilinear(photo, kPhotoScale);
}

RasterImage ProductImages::GeneratedPicture(const Product& product) const {
  const uint64_t h = StableHash(product.id);
  const Category& category = catalog_.category(product.category);
  const Rgb base = kCategoryColours[product.category % kCategoryColours.size()];
  const auto sub_it =
      std::find(category.subcategories.begin(), category.subcategories.end(), product.subcategory);
  const int shape = static_cast<int>(sub_it - category.subcategories.begin());

  const double shade = 0.75 + static_cast<double>(h % 41) / 100.0;  // 0.75 .. 1.15
  const Rgb fill = Scale(base, shade);
  const Rgb accent = Mix(Rgb{255 - base.r, 255 - base.g, 255 - base.b}, base, 0.3);
  const double radius = 26 + static_cast<double>((h >> 8) % 15);                // 26 .. 40
  const double cx = kSize / 2.0 + static_cast<double>((h >> 16) % 17) - 8;      // ±8
  const double cy = kSize / 2.0 - 6 + static_cast<double>((h >> 24) % 13) - 6;  // ±6
  const double dot_x = 14 + static_cast<double>((h >> 32) % 84);
  const int band = 12;

  RasterImage image = RasterImage::Blank(kSize, kSize, PngColor::kRgb);
  for (int y = 0; y < kSize; ++y) {
    // A soft vertical gradient from near-white to a light tint of the category colour.
    const Rgb background = Mix(Rgb{252, 252, 250}, base, 0.08 + 0.14 * y / kSize);
    for (int x = 0; x < kSize; ++x) {
      Rgb c = background;
      if (y >= kSize - band) {
        c = Scale(base, 0.6);  // a label band at the bottom, as on a packaging shot
      } else if (InShape(shape, x + 0.5, y + 0.5, cx, cy, radius)) {
        // Lit from the top left.
        const double light = 1.1 - 0.25 * ((x - cx) + (y - cy)) / (2 * radius);
        c = Scale(fill, light);
      } else if ((x - dot_x) * (x - dot_x) + (y - 14.0) * (y - 14.0) <= 36) {
        c = accent;
      }
      Put(image, x, y, c);
    }
  }
  return image;
}

}  // namespace basin::demo
