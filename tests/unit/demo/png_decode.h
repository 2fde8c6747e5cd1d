#pragma once

// A strict little PNG reader for the demo's tests: checks the signature and every chunk's
// CRC-32, reads IHDR, inflates the concatenated IDAT data with zlib and undoes filter type 0
// (the only one EncodePng writes). Written independently of png_writer.cpp so that a wrong
// writer cannot be confirmed by a reader sharing its mistakes.

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace basin::demo::testing {

struct DecodedPng {
  uint32_t width = 0;
  uint32_t height = 0;
  int color_type = -1;  // 0 gray, 2 RGB
  int bit_depth = 0;
  std::vector<std::string> chunk_types;
  std::vector<uint8_t> pixels;
  std::string error;  // empty when the file decoded
};

inline uint32_t PngBigEndian32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

inline DecodedPng DecodePng(const std::string& png) {
  DecodedPng out;
  if (png.size() < 8 || png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0) {
    out.error = "bad signature";
    return out;
  }
  std::string idat;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const uint32_t length = PngBigEndian32(png, at);
    if (at + 12 + length > png.size()) {
      out.error = "chunk runs past the end";
      return out;
    }
    const std::string type = png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, length);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(png.data() + at + 4), 4 + length);
    if (PngBigEndian32(png, at + 8 + length) != static_cast<uint32_t>(crc)) {
      out.error = "bad CRC in " + type;
      return out;
    }
    out.chunk_types.push_back(type);
    if (type == "IHDR") {
      out.width = PngBigEndian32(data, 0);
      out.height = PngBigEndian32(data, 4);
      out.bit_depth = static_cast<uint8_t>(data[8]);
      out.color_type = static_cast<uint8_t>(data[9]);
    } else if (type == "IDAT") {
      idat += data;
    }
    at += 12 + length;
  }
  if (at != png.size()) {
    out.error = "trailing bytes";
    return out;
  }
  const int channels = out.color_type == 2 ? 3 : 1;
  const size_t row_bytes = static_cast<size_t>(out.width) * channels;
  std::string raw((row_bytes + 1) * out.height, '\0');
  uLongf raw_size = static_cast<uLongf>(raw.size());
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                 reinterpret_cast<const Bytef*>(idat.data()),
                 static_cast<uLong>(idat.size())) != Z_OK ||
      raw_size != raw.size()) {
    out.error = "IDAT does not inflate to the image size";
    return out;
  }
  for (uint32_t y = 0; y < out.height; ++y) {
    const size_t row = y * (row_bytes + 1);
    if (raw[row] != 0) {
      out.error = "unexpected filter type";
      return out;
    }
    out.pixels.insert(out.pixels.end(), raw.begin() + row + 1, raw.begin() + row + 1 + row_bytes);
  }
  return out;
}

}  // namespace basin::demo::testing
