#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace basin::demo {

// The two PNG colour types the demo draws in: 8-bit grayscale and 8-bit RGB.
enum class PngColor { kGray, kRgb };

// An uncompressed 8-bit image: `pixels` holds height rows of width × channels bytes, top row
// first (1 channel for kGray, 3 for kRgb).
struct RasterImage {
  int width = 0;
  int height = 0;
  PngColor color = PngColor::kGray;
  std::vector<uint8_t> pixels;

  int channels() const { return color == PngColor::kRgb ? 3 : 1; }
  // A black image of the given size.
  static RasterImage Blank(int width, int height, PngColor color);
};

// Encodes `image` as a complete PNG file (signature, IHDR, one IDAT deflated by zlib, IEND;
// filter type 0 on every row, no interlace). The image must be non-empty and its pixel buffer
// the right size (checked: a wrong one is a bug of the caller, not input).
std::string EncodePng(const RasterImage& image);

// Scales by an integer factor with bilinear interpolation between pixel centres (edges clamp),
// which keeps the 28×28 Fashion-MNIST photos smooth at product-tile size.
RasterImage ScaleBilinear(const RasterImage& image, int factor);

}  // namespace basin::demo
