#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "demo/png_writer.h"

namespace basin::demo {

// Where Debian's `dataset-fashion-mnist` package installs the data set.
inline constexpr std::string_view kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The ten Fashion-MNIST classes, numbered as in the data set's label file.
enum class FashionLabel : uint8_t {
  kTShirt = 0,
  kTrouser = 1,
  kPullover = 2,
  kDress = 3,
  kCoat = 4,
  kSandal = 5,
  kShirt = 6,
  kSneaker = 7,
  kBag = 8,
  kAnkleBoot = 9,
};
inline constexpr int kFashionLabelCount = 10;
std::string_view FashionLabelName(FashionLabel label);  // "ankle boot"

// Zalando's Fashion-MNIST: 28×28 grayscale article photos (white article on black) with a class
// label each, read from the gzip'ed IDX files (images: magic 0x00000803, count, rows, columns,
// then pixels; labels: magic 0x00000801, count, then one byte each). Immutable after loading;
// thread-safe to share.
class FashionMnist {
 public:
  // Reads `<dir>/<prefix>-images-idx3-ubyte.gz` and `<dir>/<prefix>-labels-idx1-ubyte.gz`
  // (prefix "t10k": 10,000 images, or "train": 60,000). NotFound when the files are absent;
  // MalformedBody when they are not IDX files of matching size.
  static Result<FashionMnist> Load(const std::string& dir, std::string_view prefix = "t10k");
  // Parses already decompressed IDX contents; MalformedBody as above.
  static Result<FashionMnist> Parse(std::string_view images_idx, std::string_view labels_idx);

  size_t size() const { return labels_.size(); }
  int rows() const { return rows_; }
  int columns() const { return columns_; }
  FashionLabel label(size_t index) const { return static_cast<FashionLabel>(labels_.at(index)); }
  // Image `index` as stored (grayscale, article bright on black).
  RasterImage Image(size_t index) const;
  // Indices of the images with `label`, in file order.
  const std::vector<size_t>& WithLabel(FashionLabel label) const {
    return by_label_[static_cast<size_t>(label)];
  }

 private:
  int rows_ = 0;
  int columns_ = 0;
  std::string pixels_;  // size() × rows × columns bytes
  std::string labels_;  // one byte per image
  std::vector<std::vector<size_t>> by_label_;
};

}  // namespace basin::demo
