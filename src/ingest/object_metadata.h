#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin::ingest {

// What Basin learns about an object from its bytes (never from its name). The rules are in
// docs/formats/objects.md.
struct ObjectMetadata {
  std::string content_type;  // libmagic's MIME type of the bytes, e.g. "image/png", "text/csv"
  // Images whose header parses: "png", "jpeg", "gif", "webp", "bmp" and the pixel size.
  std::optional<std::string> image_format;
  std::optional<int32_t> width;
  std::optional<int32_t> height;
  // Text (text/*, JSON, CSV, XML): "us-ascii", "utf-8", "iso-8859-1", "utf-16le", "utf-16be".
  std::optional<std::string> text_encoding;
  std::optional<int64_t> line_count;  // newlines, plus one for a last line without one
  std::optional<int64_t> word_count;  // runs of non-whitespace (ASCII space, \t \n \v \f \r)
};

// The format and pixel size read from an image's header.
struct ImageInfo {
  std::string format;  // "png", "jpeg", "gif", "webp", "bmp"
  int32_t width = 0;   // > 0
  int32_t height = 0;  // > 0
};

// How many leading bytes the content type and image header are read from: JPEG's frame header
// may follow up to a few 64 KiB APPn segments (Exif thumbnails, ICC profiles).
inline constexpr size_t kMetadataPrefixBytes = 1 << 20;

// The metadata of the file at `path`: the type and image header from its first
// kMetadataPrefixBytes, text statistics over all of it (read once more, in blocks).
Result<ObjectMetadata> ExtractObjectMetadata(const std::string& path);
// The metadata of bytes in memory (an upload).
Result<ObjectMetadata> ExtractObjectMetadataFromBytes(std::string_view bytes);

// libmagic's MIME type (MAGIC_MIME_TYPE) of `prefix`, the first bytes of an object.
// "application/octet-stream" if libmagic cannot tell; Internal if libmagic cannot be loaded.
Result<std::string> SniffContentType(std::string_view prefix);
// The same with the character set (MAGIC_MIME_TYPE | MAGIC_MIME_ENCODING):
// "text/plain; charset=us-ascii", "application/octet-stream; charset=binary".
Result<std::string> SniffContentTypeAndCharset(std::string_view prefix);

// The image format and size from the first bytes of a PNG (IHDR), JPEG (the first SOFn frame
// header, skipping APPn and other segments), GIF (logical screen), WebP (VP8, VP8L, VP8X) or BMP
// (BITMAPCOREHEADER or BITMAPINFOHEADER and later). nullopt for anything else, a truncated
// header or a zero size. Every read is bounds-checked: any bytes are safe to pass.
std::optional<ImageInfo> ParseImageHeader(std::string_view prefix);

// Whether a content type is text Basin counts lines and words of: text/*, application/json,
// application/csv, application/xml and any "+json" or "+xml" type.
bool IsTextContentType(std::string_view content_type);

// Whether `bytes` is valid UTF-8 (the rules of TextStatsCounter; a byte order mark is allowed).
bool IsValidUtf8(std::string_view bytes);

// Counts lines and words of text given in pieces, and finds its encoding: UTF-16 (LE or BE) if
// it starts with a UTF-16 byte order mark, else us-ascii if every byte is below 0x80, utf-8 if
// the whole text is valid UTF-8 (a UTF-8 BOM is allowed), else iso-8859-1. For UTF-16 the
// counts are over 16-bit code units; the BOM is not counted as a word.
class TextStatsCounter {
 public:
  void Update(std::string_view chunk);
  struct Stats {
    std::string encoding;
    int64_t line_count = 0;
    int64_t word_count = 0;
  };
  Stats Finish();

 private:
  void CountUnit(uint32_t unit);
  void ValidateUtf8(std::string_view chunk);

  enum class Mode { kUndecided, kBytes, kUtf16Le, kUtf16Be };
  Mode mode_ = Mode::kUndecided;
  std::string head_;       // the first bytes, until the BOM question is decided
  int pending_byte_ = -1;  // UTF-16: the first byte of a code unit split across chunks
  bool all_ascii_ = true;
  bool valid_utf8_ = true;
  int utf8_continuations_left_ = 0;  // continuation bytes still expected
  uint32_t utf8_code_point_ = 0;     // the code point being decoded, to refuse overlong forms
  int utf8_sequence_length_ = 0;
  int64_t newlines_ = 0;
  int64_t words_ = 0;
  bool in_word_ = false;
  bool any_unit_ = false;
  bool last_unit_was_newline_ = false;
};

}  // namespace basin::ingest
