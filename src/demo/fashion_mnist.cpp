#include "demo/fashion_mnist.h"

#include <array>
#include <filesystem>

#include "base/file_util.h"
#include "base/gzip.h"

namespace basin::demo {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
// The training set is 47 MB decompressed; anything larger is not Fashion-MNIST.
constexpr size_t kMaxDecompressedBytes = 64ull << 20;
constexpr size_t kMaxCompressedBytes = 40ull << 20;

uint32_t BigEndian32(std::string_view bytes, size_t offset) {
  return static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + 1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + 2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + 3]));
}

Status Malformed(std::string what) {
  return Error(ErrorCode::kMalformedBody, "fashion-mnist: " + std::move(what));
}

Result<std::string> ReadGzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Error(ErrorCode::kNotFound, path + " not found");
  BASIN_ASSIGN_OR_RETURN(std::string compressed, ReadFile(path, kMaxCompressedBytes));
  return GunzipLimited(compressed, kMaxDecompressedBytes);
}

}  // namespace

std::string_view FashionLabelName(FashionLabel label) {
  static constexpr std::array<std::string_view, kFashionLabelCount> kNames = {
      "t-shirt", "trouser", "pullover", "dress", "coat",
      "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};
  const auto index = static_cast<size_t>(label);
  return index < kNames.size() ? kNames[index] : "unknown";
}

Result<FashionMnist> FashionMnist::Load(const std::string& dir, std::string_view prefix) {
  const std::string base = dir + "/" + std::string(prefix);
  BASIN_ASSIGN_OR_RETURN(std::string images, ReadGzip(base + "-images-idx3-ubyte.gz"));
  BASIN_ASSIGN_OR_RETURN(std::string labels, ReadGzip(base + "-labels-idx1-ubyte.gz"));
  return Parse(images, labels);
}

Result<FashionMnist> FashionMnist::Parse(std::string_view images_idx, std::string_view labels_idx) {
  if (images_idx.size() < 16 || BigEndian32(images_idx, 0) != kImagesMagic) {
    return Malformed("not an IDX3 image file");
  }
  if (labels_idx.size() < 8 || BigEndian32(labels_idx, 0) != kLabelsMagic) {
    return Malformed("not an IDX1 label file");
  }
  const uint64_t count = BigEndian32(images_idx, 4);
  const uint64_t rows = BigEndian32(images_idx, 8);
  const uint64_t columns = BigEndian32(images_idx, 12);
  if (rows == 0 || columns == 0 || rows > 1024 || columns > 1024) {
    return Malformed("implausible image size");
  }
  if (images_idx.size() - 16 != count * rows * columns) {
    return Malformed("image file holds " + std::to_string(images_idx.size() - 16) +
                     " pixel bytes, header says " + std::to_string(count * rows * columns));
  }
  if (BigEndian32(labels_idx, 4) != count || labels_idx.size() - 8 != count) {
    return Malformed("label count does not match the image count");
  }
  FashionMnist set;
  set.rows_ = static_cast<int>(rows);
  set.columns_ = static_cast<int>(columns);
  set.pixels_ = std::string(images_idx.substr(16));
  set.labels_ = std::string(labels_idx.substr(8));
  set.by_label_.resize(kFashionLabelCount);
  for (size_t i = 0; i < set.labels_.size(); ++i) {
    const auto label = static_cast<uint8_t>(set.labels_[i]);
    if (label >= kFashionLabelCount) {
      return Malformed("label " + std::to_string(label) + " of image " + std::to_string(i));
    }
    set.by_label_[label].push_back(i);
  }
  return set;
}

RasterImage FashionMnist::Image(size_t index) const {
  BASIN_CHECK(index < size());
  RasterImage image = RasterImage::Blank(columns_, rows_, PngColor::kGray);
  const size_t bytes = static_cast<size_t>(rows_) * columns_;
  const char* first = pixels_.data() + index * bytes;
  std::copy(first, first + bytes, image.pixels.begin());
  return image;
}

}  // namespace basin::demo
