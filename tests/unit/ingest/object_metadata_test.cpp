#include "ingest/object_metadata.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "unit/temp_dir.h"

namespace basin::ingest {
namespace {
namespace fs = std::filesystem;

// tests/data/objects in the source tree: small real files of several types.
std::string ObjectTestFile(const std::string& name) {
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "objects" / name)
      .string();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ObjectMetadata Extract(const std::string& name) {
  auto from_file = ExtractObjectMetadata(ObjectTestFile(name));
  EXPECT_TRUE(from_file.ok()) << name << ": " << from_file.status().ToString();
  if (!from_file.ok()) return {};
  // The in-memory path (uploads) must agree with the file path.
  auto from_bytes = ExtractObjectMetadataFromBytes(ReadBytes(ObjectTestFile(name)));
  EXPECT_TRUE(from_bytes.ok());
  if (from_bytes.ok()) {
    EXPECT_EQ(from_bytes->content_type, from_file->content_type) << name;
    EXPECT_EQ(from_bytes->image_format, from_file->image_format) << name;
    EXPECT_EQ(from_bytes->width, from_file->width) << name;
    EXPECT_EQ(from_bytes->height, from_file->height) << name;
    EXPECT_EQ(from_bytes->text_encoding, from_file->text_encoding) << name;
    EXPECT_EQ(from_bytes->line_count, from_file->line_count) << name;
    EXPECT_EQ(from_bytes->word_count, from_file->word_count) << name;
  }
  return *from_file;
}

void ExpectImage(const std::string& name, const std::string& content_type,
                 const std::string& format, int32_t width, int32_t height) {
  SCOPED_TRACE(name);
  ObjectMetadata m = Extract(name);
  EXPECT_EQ(m.content_type, content_type);
  EXPECT_EQ(m.image_format, format);
  EXPECT_EQ(m.width, width);
  EXPECT_EQ(m.height, height);
  EXPECT_FALSE(m.text_encoding.has_value());
  EXPECT_FALSE(m.line_count.has_value());
  EXPECT_FALSE(m.word_count.has_value());
}

void ExpectText(const std::string& name, const std::string& content_type,
                const std::string& encoding, int64_t lines, int64_t words) {
  SCOPED_TRACE(name);
  ObjectMetadata m = Extract(name);
  EXPECT_EQ(m.content_type, content_type);
  EXPECT_EQ(m.text_encoding, encoding);
  EXPECT_EQ(m.line_count, lines);
  EXPECT_EQ(m.word_count, words);
  EXPECT_FALSE(m.image_format.has_value());
  EXPECT_FALSE(m.width.has_value());
}

void ExpectOpaque(const std::string& name, const std::string& content_type) {
  SCOPED_TRACE(name);
  ObjectMetadata m = Extract(name);
  EXPECT_EQ(m.content_type, content_type);
  EXPECT_FALSE(m.image_format.has_value());
  EXPECT_FALSE(m.width.has_value());
  EXPECT_FALSE(m.height.has_value());
  EXPECT_FALSE(m.text_encoding.has_value());
  EXPECT_FALSE(m.line_count.has_value());
  EXPECT_FALSE(m.word_count.has_value());
}

TEST(ObjectMetadataTest, ImagesOfEachFormat) {
  ExpectImage("gradient.png", "image/png", "png", 40, 24);
  ExpectImage("python.jpg", "image/jpeg", "jpeg", 16, 16);
  ExpectImage("exif.jpg", "image/jpeg", "jpeg", 16, 16);  // APP1 and COM before the frame
  ExpectImage("banner.gif", "image/gif", "gif", 150, 35);
  ExpectImage("python.webp", "image/webp", "webp", 16, 16);  // VP8X
  ExpectImage("python.bmp", "image/bmp", "bmp", 16, 16);
}

TEST(ObjectMetadataTest, TextOfEachEncoding) {
  ExpectText("ascii.txt", "text/plain", "us-ascii", 2, 5);
  // The last line has no newline; one line is empty; runs of spaces separate one word.
  ExpectText("notes_utf8.txt", "text/plain", "utf-8", 5, 15);
  ExpectText("notes_latin1.txt", "text/plain", "iso-8859-1", 2, 5);
  ExpectText("notes_utf16.txt", "text/plain", "utf-16le", 2, 5);
  ExpectText("orders.csv", "text/csv", "us-ascii", 4, 4);
  ExpectText("event.json", "application/json", "us-ascii", 1, 8);
}

TEST(ObjectMetadataTest, OtherTypesHaveOnlyAContentType) {
  ExpectOpaque("hello.pdf", "application/pdf");
  ExpectOpaque("ascii.txt.gz", "application/gzip");
}

TEST(ObjectMetadataTest, ElfBinary) {
  auto m = ExtractObjectMetadata("/bin/true");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->content_type == "application/x-pie-executable" ||
              m->content_type == "application/x-executable" ||
              m->content_type == "application/x-sharedlib")
      << m->content_type;
  EXPECT_FALSE(m->image_format.has_value());
  EXPECT_FALSE(m->text_encoding.has_value());
}

TEST(ObjectMetadataTest, TypeComesFromTheBytesNotTheName) {
  test::TempDir temp;
  // A PNG named like text, text named like a PNG.
  fs::copy_file(ObjectTestFile("gradient.png"), temp.path() + "/photo.txt");
  fs::copy_file(ObjectTestFile("ascii.txt"), temp.path() + "/photo.png");
  auto png = ExtractObjectMetadata(temp.path() + "/photo.txt");
  auto text = ExtractObjectMetadata(temp.path() + "/photo.png");
  ASSERT_TRUE(png.ok() && text.ok());
  EXPECT_EQ(png->content_type, "image/png");
  EXPECT_EQ(png->image_format, "png");
  EXPECT_EQ(text->content_type, "text/plain");
  EXPECT_FALSE(text->image_format.has_value());
}

TEST(ObjectMetadataTest, MissingFileIsNotFound) {
  auto m = ExtractObjectMetadata("/nonexistent/basin/file");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kNotFound);
}

TEST(ObjectMetadataTest, TextLongerThanThePrefixIsCountedToTheEnd) {
  std::string text;
  int64_t lines = 0;
  while (text.size() < kMetadataPrefixBytes + 300'000) {
    text += "alpha beta gamma\n";
    ++lines;
  }
  text += "caf\xC3\xA9";  // the only non-ASCII bytes, past the prefix
  test::TempDir temp;
  std::ofstream(temp.path() + "/long.txt", std::ios::binary) << text;
  auto m = ExtractObjectMetadata(temp.path() + "/long.txt");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->content_type, "text/plain");
  EXPECT_EQ(m->text_encoding, "utf-8");
  EXPECT_EQ(m->line_count, lines + 1);
  EXPECT_EQ(m->word_count, lines * 3 + 1);
}

TextStatsCounter::Stats CountInPieces(std::string_view text, size_t piece) {
  TextStatsCounter counter;
  for (size_t i = 0; i < text.size(); i += piece) counter.Update(text.substr(i, piece));
  return counter.Finish();
}

TEST(TextStatsCounterTest, CountsDoNotDependOnHowTheTextIsSplit) {
  const std::string samples[] = {
      "",
      "a",
      "\n",
      "one\r\ntwo\r\n",
      "\xEF\xBB\xBFhello world\n",  // UTF-8 BOM: not a word
      "Gr\xC3\xBC\xC3\x9F"
      "e\tk\xC3\xB6ln\n\n x",
      "caf\xE9 cr\xE8me\n",                            // Latin-1
      std::string("\xFF\xFEh\0i\0 \0y\0o\0\n\0", 14),  // UTF-16LE "hi yo\n"
      std::string("\xFE\xFF\0h\0i\0\n", 8),            // UTF-16BE "hi\n"
  };
  for (const std::string& s : samples) {
    const auto whole = CountInPieces(s, s.size() + 1);
    for (size_t piece = 1; piece <= 4; ++piece) {
      const auto split = CountInPieces(s, piece);
      EXPECT_EQ(split.encoding, whole.encoding) << piece;
      EXPECT_EQ(split.line_count, whole.line_count) << piece;
      EXPECT_EQ(split.word_count, whole.word_count) << piece;
    }
  }
  EXPECT_EQ(CountInPieces("", 1).line_count, 0);
  EXPECT_EQ(CountInPieces("", 1).word_count, 0);
  EXPECT_EQ(CountInPieces("a", 1).line_count, 1);
  EXPECT_EQ(CountInPieces("\n", 1).line_count, 1);
  EXPECT_EQ(CountInPieces("one\r\ntwo\r\n", 1).line_count, 2);
  EXPECT_EQ(CountInPieces("one\r\ntwo\r\n", 1).word_count, 2);
  EXPECT_EQ(CountInPieces("\xEF\xBB\xBFhello world\n", 2).word_count, 2);
  EXPECT_EQ(CountInPieces("\xEF\xBB\xBFhello world\n", 2).encoding, "utf-8");
  EXPECT_EQ(CountInPieces(samples[7], 3).encoding, "utf-16le");
  EXPECT_EQ(CountInPieces(samples[7], 3).word_count, 2);
  EXPECT_EQ(CountInPieces(samples[7], 3).line_count, 1);
  EXPECT_EQ(CountInPieces(samples[8], 1).encoding, "utf-16be");
  EXPECT_EQ(CountInPieces(samples[8], 1).word_count, 1);
}

TEST(TextStatsCounterTest, InvalidUtf8IsLatin1) {
  for (const char* bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC3",
                          "ok \xC3 ok", "\x80", "\xF8\x88\x80\x80\x80"}) {
    EXPECT_EQ(CountInPieces(bad, 1).encoding, "iso-8859-1") << bad;
  }
  EXPECT_EQ(CountInPieces("\xF0\x9F\x98\x80 smile", 1).encoding, "utf-8");
  EXPECT_EQ(CountInPieces("\xE2\x82\xAC", 2).encoding, "utf-8");
}

// Builds a WebP header: RIFF, size, WEBP, then one chunk.
std::string Webp(std::string_view fourcc, std::string payload) {
  std::string out = "RIFF";
  out += std::string("\x40\x00\x00\x00", 4);
  out += "WEBP";
  out += fourcc;
  out += std::string("\x20\x00\x00\x00", 4);
  out += payload;
  return out;
}

TEST(ImageHeaderTest, WebpVariants) {
  // Lossy: frame tag, start code, 14-bit width 300 and height 200 (upper scale bits set).
  auto lossy =
      ParseImageHeader(Webp("VP8 ", std::string("\x30\x01\x00\x9D\x01\x2A\x2C\x41\xC8\xC0", 10)));
  ASSERT_TRUE(lossy.has_value());
  EXPECT_EQ(lossy->format, "webp");
  EXPECT_EQ(lossy->width, 300);
  EXPECT_EQ(lossy->height, 200);
  // Lossless: width - 1 = 99, height - 1 = 49 packed into 14-bit fields.
  const uint32_t bits = 99 | (49u << 14);
  std::string vp8l = "\x2F";
  for (int i = 0; i < 4; ++i) vp8l += static_cast<char>((bits >> (8 * i)) & 0xFF);
  auto lossless = ParseImageHeader(Webp("VP8L", vp8l));
  ASSERT_TRUE(lossless.has_value());
  EXPECT_EQ(lossless->width, 100);
  EXPECT_EQ(lossless->height, 50);
  // Extended: 24-bit canvas width - 1 = 1919, height - 1 = 1079.
  auto extended =
      ParseImageHeader(Webp("VP8X", std::string("\x10\x00\x00\x00\x7F\x07\x00\x37\x04\x00", 10)));
  ASSERT_TRUE(extended.has_value());
  EXPECT_EQ(extended->width, 1920);
  EXPECT_EQ(extended->height, 1080);
}

TEST(ImageHeaderTest, JpegWidthAndHeightAreNotSwapped) {
  // SOI, APP0 (4 bytes of payload), a DQT-like segment, SOF2 (progressive) 640 wide, 480 high.
  std::string jpeg(
      "\xFF\xD8\xFF\xE0\x00\x06JFIF\xFF\xDB\x00\x03\x00\xFF\xFF\xC2\x00\x11\x08"
      "\x01\xE0\x02\x80\x03",
      26);
  auto image = ParseImageHeader(jpeg);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->format, "jpeg");
  EXPECT_EQ(image->width, 640);
  EXPECT_EQ(image->height, 480);
  // DHT (C4) has a frame-header-like marker number but is not one.
  std::string dht("\xFF\xD8\xFF\xC4\x00\x07\x08\x01\xE0\x02\x80", 11);
  EXPECT_FALSE(ParseImageHeader(dht).has_value());
  // A scan before any frame header: no size.
  EXPECT_FALSE(ParseImageHeader(std::string("\xFF\xD8\xFF\xDA\x00\x02", 6)).has_value());
}

TEST(ImageHeaderTest, BmpTopDownAndCoreHeader) {
  std::string top_down = "BM" + std::string(12, '\0');
  top_down += std::string("\x28\x00\x00\x00", 4);                  // BITMAPINFOHEADER
  top_down += std::string("\x20\x00\x00\x00\xF6\xFF\xFF\xFF", 8);  // 32 x -10
  auto image = ParseImageHeader(top_down);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->width, 32);
  EXPECT_EQ(image->height, 10);
  std::string core =
      "BM" + std::string(12, '\0') + std::string("\x0C\x00\x00\x00\x07\x00\x05\x00", 8);
  image = ParseImageHeader(core);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->width, 7);
  EXPECT_EQ(image->height, 5);
}

TEST(ImageHeaderTest, ZeroSizesAndTruncatedHeadersAreNotImages) {
  const std::string png = ReadBytes(ObjectTestFile("gradient.png"));
  for (size_t n = 0; n < 24; ++n) {
    EXPECT_FALSE(ParseImageHeader(png.substr(0, n)).has_value()) << n;
  }
  EXPECT_TRUE(ParseImageHeader(png.substr(0, 24)).has_value());
  std::string zero_width = png.substr(0, 24);
  zero_width.replace(16, 4, std::string(4, '\0'));
  EXPECT_FALSE(ParseImageHeader(zero_width).has_value());
  EXPECT_FALSE(ParseImageHeader(std::string("GIF89a\x00\x00\x05\x00", 10)).has_value());
}

// Every parser on random bytes, on every truncation and on single-byte corruptions of real
// images: nothing may crash or read out of bounds (the ASan build checks the latter), and a
// parsed size is always positive.
TEST(ImageHeaderTest, GarbageNeverCrashes) {
  std::mt19937_64 rng(20261127);
  std::vector<std::string> seeds;
  for (const char* name :
       {"gradient.png", "python.jpg", "exif.jpg", "banner.gif", "python.webp", "python.bmp"}) {
    seeds.push_back(ReadBytes(ObjectTestFile(name)));
  }
  auto check = [](std::string_view bytes) {
    auto image = ParseImageHeader(bytes);
    if (image) {
      EXPECT_GT(image->width, 0);
      EXPECT_GT(image->height, 0);
    }
    TextStatsCounter counter;
    counter.Update(bytes);
    auto stats = counter.Finish();
    EXPECT_GE(stats.word_count, 0);
  };
  for (const std::string& seed : seeds) {
    for (size_t n = 0; n <= std::min<size_t>(seed.size(), 400); ++n) check(seed.substr(0, n));
    for (int i = 0; i < 2000; ++i) {
      std::string mutated = seed.substr(0, 64 + rng() % 200);
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        mutated[rng() % mutated.size()] = static_cast<char>(rng() & 0xFF);
      }
      check(mutated);
    }
  }
  // Pure noise, with each format's magic bytes in front so the parsers go past their first check.
  const std::string magics[] = {"\x89PNG\r\n\x1a\n", "\xFF\xD8", "GIF89a",
                                "RIFF\0\0\0\0WEBP",  "BM",       ""};
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = magics[i % 6];
    if (i % 6 == 3) bytes = std::string("RIFF\0\0\0\0WEBP", 12);
    const size_t n = rng() % 64;
    for (size_t k = 0; k < n; ++k) bytes += static_cast<char>(rng() & 0xFF);
    check(bytes);
  }
}

}  // namespace
}  // namespace basin::ingest
