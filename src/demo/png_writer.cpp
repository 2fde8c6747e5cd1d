#include "demo/png_writer.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "base/assert.h"

namespace basin::demo {
namespace {

constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);

void AppendBigEndian32(std::string& out, uint32_t value) {
  out.push_back(static_cast<char>(value >> 24));
  out.push_back(static_cast<char>(value >> 16));
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

// length, type, data, CRC-32 over type and data.
void AppendChunk(std::string& out, std::string_view type, std::string_view data) {
  AppendBigEndian32(out, static_cast<uint32_t>(data.size()));
  out.append(type);
  out.append(data);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(type.data()), static_cast<uInt>(type.size()));
  // crc32() with a null buffer answers its initial value instead of updating: IEND's empty data.
  if (!data.empty()) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  }
  AppendBigEndian32(out, static_cast<uint32_t>(crc));
}

std::string Deflate(const std::string& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(compressed.data()), &size,
                           reinterpret_cast<const Bytef*>(raw.data()),
                           static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION);
  BASIN_CHECK(rc == Z_OK);  // only fails for lack of memory or a too small buffer
  compressed.resize(size);
  return compressed;
}

}  // namespace

RasterImage RasterImage::Blank(int width, int height, PngColor color) {
  RasterImage image;
  image.width = width;
  image.height = height;
  image.color = color;
  image.pixels.assign(static_cast<size_t>(width) * height * image.channels(), 0);
  return image;
}

std::string EncodePng(const RasterImage& image) {
  BASIN_CHECK(image.width > 0 && image.height > 0);
  const size_t row_bytes = static_cast<size_t>(image.width) * image.channels();
  BASIN_CHECK(image.pixels.size() == row_bytes * image.height);

  std::string header;
  AppendBigEndian32(header, static_cast<uint32_t>(image.width));
  AppendBigEndian32(header, static_cast<uint32_t>(image.height));
  header.push_back(8);                                      // bit depth
  header.push_back(image.color == PngColor::kRgb ? 2 : 0);  // colour type
  header.append(std::string_view("\0\0\0", 3));             // deflate, adaptive, no interlace

  std::string raw;
  raw.reserve((row_bytes + 1) * image.height);
  for (int y = 0; y < image.height; ++y) {
    raw.push_back(0);  // filter type None
    const auto* row = image.pixels.data() + static_cast<size_t>(y) * row_bytes;
    raw.append(reinterpret_cast<const char*>(row), row_bytes);
  }

  std::string png(kSignature);
  AppendChunk(png, "IHDR", header);
  AppendChunk(png, "IDAT", Deflate(raw));
  AppendChunk(png, "IEND", {});
  return png;
}

RasterImage ScaleBilinear(const RasterImage& image, int factor) {
  BASIN_CHECK(factor >= 1 && image.width > 0 && image.height > 0);
  RasterImage out = RasterImage::Blank(image.width * factor, image.height * factor, image.color);
  const int channels = image.channels();
  auto at = [&](int x, int y, int c) -> double {
    x = std::clamp(x, 0, image.width - 1);
    y = std::clamp(y, 0, image.height - 1);
    return image.pixels[(static_cast<size_t>(y) * image.width + x) * channels + c];
  };
  for (int oy = 0; oy < out.height; ++oy) {
    // The centre of output pixel oy in source coordinates.
    const double sy = (oy + 0.5) / factor - 0.5;
    const int y0 = static_cast<int>(std::floor(sy));
    const double fy = sy - y0;
    for (int ox = 0; ox < out.width; ++ox) {
      const double sx = (ox + 0.5) / factor - 0.5;
      const int x0 = static_cast<int>(std::floor(sx));
      const double fx = sx - x0;
      for (int c = 0; c < channels; ++c) {
        const double top = at(x0, y0, c) * (1 - fx) + at(x0 + 1, y0, c) * fx;
        const double bottom = at(x0, y0 + 1, c) * (1 - fx) + at(x0 + 1, y0 + 1, c) * fx;
        const double value = top * (1 - fy) + bottom * fy;
        out.pixels[(static_cast<size_t>(oy) * out.width + ox) * channels + c] =
            static_cast<uint8_t>(std::clamp(std::lround(value), 0L, 255L));
      }
    }
  }
  return out;
}

}  // namespace basin::demo
