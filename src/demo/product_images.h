#pragma once

#include <optional>
#include <string>

#include "demo/fashion_mnist.h"
#include "demo/png_writer.h"
#include "demo/shop_catalog.h"

namespace basin::demo {

// The Fashion-MNIST class that pictures `product`, if any: shoes, boots, jackets, tops and bags
// of the Fashion category (and cycling jerseys), matched on the product's name and subcategory.
std::optional<FashionLabel> FashionLabelFor(const Product& product, const ShopCatalog& catalog);

// The upload name of a product's picture, which the products export uses as `image_key`:
// "product_sku-00042.png".
std::string ProductImageName(const Product& product);

// A picture for every product of the demo shop, as PNG bytes. Clothing, shoes and bags get a
// real article photo from Fashion-MNIST when the data set is available (inverted to a dark
// article on white, scaled 4× to 112×112); everything else, or everything when the data set is
// absent, gets a generated 112×112 tile: the category's colour, a shape per subcategory and a
// per-product variation. The choice of photo and the drawing depend only on the product id, so
// the same product always gets the same picture. Immutable after construction; thread-safe.
class ProductImages {
 public:
  static constexpr int kSize = 112;

  ProductImages(const ShopCatalog& catalog, std::optional<FashionMnist> photos);
  // Loads Fashion-MNIST from `dir` when it is there; logs and falls back to generated pictures
  // when it is not (or cannot be read).
  static ProductImages Load(const ShopCatalog& catalog,
                            const std::string& dir = std::string(kFashionMnistDir));

  bool has_photos() const { return photos_.has_value(); }
  // True when `product` gets a Fashion-MNIST photo rather than a generated tile.
  bool UsesPhoto(const Product& product) const;
  RasterImage Picture(const Product& product) const;
  std::string Png(const Product& product) const { return EncodePng(Picture(product)); }

  // The generated tile, whatever the data set (exposed for tests).
  RasterImage GeneratedPicture(const Product& product) const;

 private:
  RasterImage Photo(const Product& product, FashionLabel label) const;

  const ShopCatalog& catalog_;
  std::optional<FashionMnist> photos_;
};

}  // namespace basin::demo
