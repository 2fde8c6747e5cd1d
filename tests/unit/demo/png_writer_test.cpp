#include "demo/png_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "unit/demo/png_decode.h"
#include "unit/temp_dir.h"

namespace basin::demo {
namespace {

using testing::DecodePng;

RasterImage Pattern(int width, int height, PngColor color) {
  RasterImage image = RasterImage::Blank(width, height, color);
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    image.pixels[i] = static_cast<uint8_t>((i * 37 + i / 7) % 256);
  }
  return image;
}

TEST(PngWriterTest, GrayImageDecodesToTheSamePixels) {
  const RasterImage image = Pattern(28, 17, PngColor::kGray);
  const std::string png = EncodePng(image);
  const auto decoded = DecodePng(png);
  ASSERT_EQ(decoded.error, "");
  EXPECT_EQ(decoded.width, 28u);
  EXPECT_EQ(decoded.height, 17u);
  EXPECT_EQ(decoded.color_type, 0);
  EXPECT_EQ(decoded.bit_depth, 8);
  EXPECT_EQ(decoded.chunk_types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(PngWriterTest, RgbImageDecodesToTheSamePixels) {
  const RasterImage image = Pattern(5, 112, PngColor::kRgb);
  const auto decoded = DecodePng(EncodePng(image));
  ASSERT_EQ(decoded.error, "");
  EXPECT_EQ(decoded.width, 5u);
  EXPECT_EQ(decoded.height, 112u);
  EXPECT_EQ(decoded.color_type, 2);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(PngWriterTest, CorruptedByteIsCaughtByTheChunkCrc) {
  // The reader really checks CRCs, so the test above would catch a writer computing them wrong.
  std::string png = EncodePng(Pattern(8, 8, PngColor::kGray));
  png[20] ^= 0x01;  // inside IHDR's data
  EXPECT_EQ(DecodePng(png).error, "bad CRC in IHDR");
}

TEST(PngWriterTest, PythonZlibInflatesTheIdatToTheExactPixels) {
  // A second, independent inflater: Python's zlib (skipped where python3 is missing).
  if (std::system("python3 -c 'import zlib' 2>/dev/null") != 0) {
    GTEST_SKIP() << "python3 with zlib is not available";
  }
  test::TempDir dir;
  const RasterImage image = Pattern(9, 4, PngColor::kRgb);
  const std::string path = dir.path() + "/image.png";
  std::ofstream(path, std::ios::binary) << EncodePng(image);
  const std::string script =
      "import struct,sys,zlib\n"
      "d=open(sys.argv[1],'rb').read()\n"
      "i=8;idat=b''\n"
      "while i<len(d):\n"
      "  n=struct.unpack('>I',d[i:i+4])[0];t=d[i+4:i+8]\n"
      "  if t==b'IDAT': idat+=d[i+8:i+8+n]\n"
      "  i+=12+n\n"
      "raw=zlib.decompress(idat)\n"
      "rows=[raw[r*28+1:(r+1)*28] for r in range(4)]\n"
      "sys.stdout.write(','.join(str(b) for row in rows for b in row))\n";
  const std::string script_path = dir.path() + "/inflate.py";
  std::ofstream(script_path) << script;
  const std::string command = "python3 " + script_path + " " + path;
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0);
  std::string expected;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    if (i > 0) expected += ',';
    expected += std::to_string(image.pixels[i]);
  }
  EXPECT_EQ(output, expected);
}

TEST(PngWriterTest, BilinearScaleKeepsFlatAreasAndInterpolatesEdges) {
  RasterImage image = RasterImage::Blank(2, 1, PngColor::kGray);
  image.pixels = {0, 200};
  const RasterImage scaled = ScaleBilinear(image, 4);
  ASSERT_EQ(scaled.width, 8);
  ASSERT_EQ(scaled.height, 4);
  for (int y = 0; y < 4; ++y) {
    const uint8_t* row = &scaled.pixels[static_cast<size_t>(y) * 8];
    // The outer pixels clamp to the source values; in between the ramp rises monotonically.
    EXPECT_EQ(row[0], 0);
    EXPECT_EQ(row[1], 0);
    EXPECT_EQ(row[6], 200);
    EXPECT_EQ(row[7], 200);
    for (int x = 1; x < 8; ++x) EXPECT_LE(row[x - 1], row[x]);
    EXPECT_EQ(row[3], 75);   // centre 3.5/4 - 0.5 = 0.375 of the way
    EXPECT_EQ(row[4], 125);  // 0.625 of the way
  }
  RasterImage flat = RasterImage::Blank(3, 3, PngColor::kRgb);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 99);
  const RasterImage flat_scaled = ScaleBilinear(flat, 4);
  EXPECT_EQ(flat_scaled.pixels, std::vector<uint8_t>(12 * 12 * 3, 99));
}

}  // namespace
}  // namespace basin::demo
