#include "ingest/object_metadata.h"

#include <fcntl.h>
#include <magic.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/file_util.h"

namespace basin::ingest {

namespace {

constexpr size_t kReadBlockBytes = 256 * 1024;

// Bounds-checked little- and big-endian reads: false if [offset, offset + width) is not inside.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  size_t size() const { return bytes_.size(); }
  bool Has(size_t offset, size_t width) const {
    return offset <= bytes_.size() && width <= bytes_.size() - offset;
  }
  bool Equals(size_t offset, std::string_view expected) const {
    return Has(offset, expected.size()) && bytes_.substr(offset, expected.size()) == expected;
  }
  uint8_t U8(size_t offset) const { return static_cast<uint8_t>(bytes_[offset]); }
  bool Be16(size_t offset, uint32_t* out) const { return Read(offset, 2, false, out); }
  bool Be32(size_t offset, uint32_t* out) const { return Read(offset, 4, false, out); }
  bool Le16(size_t offset, uint32_t* out) const { return Read(offset, 2, true, out); }
  bool Le24(size_t offset, uint32_t* out) const { return Read(offset, 3, true, out); }
  bool Le32(size_t offset, uint32_t* out) const { return Read(offset, 4, true, out); }

 private:
  bool Read(size_t offset, size_t width, bool little_endian, uint32_t* out) const {
    if (!Has(offset, width)) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < width; ++i) {
      const size_t at = little_endian ? offset + width - 1 - i : offset + i;
      v = (v << 8) | U8(at);
    }
    *out = v;
    return true;
  }
  std::string_view bytes_;
};

std::optional<ImageInfo> MakeImage(const char* format, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0 || width > INT32_MAX || height > INT32_MAX) return std::nullopt;
  return ImageInfo{format, static_cast<int32_t>(width), static_cast<int32_t>(height)};
}

std::optional<ImageInfo> ParsePng(const ByteReader& r) {
  // Signature, then the first chunk, which must be IHDR: length, type, width, height.
  if (!r.Equals(0, "\x89PNG\r\n\x1a\n") || !r.Equals(12, "IHDR")) return std::nullopt;
  uint32_t width = 0, height = 0;
  if (!r.Be32(16, &width) || !r.Be32(20, &height)) return std::nullopt;
  return MakeImage("png", width, height);
}

bool IsJpegFrameHeader(uint8_t marker) {
  // SOF0..SOF15 are C0..CF, except C4 (DHT), C8 (reserved JPG) and CC (DAC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

std::optional<ImageInfo> ParseJpeg(const ByteReader& r) {
  if (!r.Equals(0, "\xFF\xD8")) return std::nullopt;
  size_t pos = 2;
  for (;;) {
    if (!r.Has(pos, 1) || r.U8(pos) != 0xFF) return std::nullopt;
    while (r.Has(pos, 1) && r.U8(pos) == 0xFF) ++pos;  // fill bytes before a marker
    if (!r.Has(pos, 1)) return std::nullopt;
    const uint8_t marker = r.U8(pos++);
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    // A scan or the end before any frame header, or a stuffed zero outside entropy data.
    if (marker == 0xDA || marker == 0xD9 || marker == 0x00) return std::nullopt;
    uint32_t length = 0;
    if (!r.Be16(pos, &length) || length < 2) return std::nullopt;
    if (IsJpegFrameHeader(marker)) {
      // length, precision, height, width.
      uint32_t height = 0, width = 0;
      if (!r.Be16(pos + 3, &height) || !r.Be16(pos + 5, &width)) return std::nullopt;
      return MakeImage("jpeg", width, height);
    }
    pos += length;
  }
}

std::optional<ImageInfo> ParseGif(const ByteReader& r) {
  if (!r.Equals(0, "GIF87a") && !r.Equals(0, "GIF89a")) return std::nullopt;
  uint32_t width = 0, height = 0;
  if (!r.Le16(6, &width) || !r.Le16(8, &height)) return std::nullopt;
  return MakeImage("gif", width, height);
}

std::optional<ImageInfo> ParseWebp(const ByteReader& r) {
  if (!r.Equals(0, "RIFF") || !r.Equals(8, "WEBP")) return std::nullopt;
  constexpr size_t kData = 20;  // after the first chunk's fourcc (12) and size (16)
  uint32_t width = 0, height = 0;
  if (r.Equals(12, "VP8 ")) {
    // Lossy: a 3-byte frame tag, the start code 9D 01 2A, then 14-bit width and height.
    if (!r.Equals(kData + 3, "\x9D\x01\x2A")) return std::nullopt;
    if (!r.Le16(kData + 6, &width) || !r.Le16(kData + 8, &height)) return std::nullopt;
    return MakeImage("webp", width & 0x3FFF, height & 0x3FFF);
  }
  if (r.Equals(12, "VP8L")) {
    // Lossless: signature 0x2F, then width - 1 and height - 1 in 14 bits each.
    uint32_t bits = 0;
    if (!r.Has(kData, 1) || r.U8(kData) != 0x2F || !r.Le32(kData + 1, &bits)) return std::nullopt;
    return MakeImage("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
  }
  if (r.Equals(12, "VP8X")) {
    // Extended: flags and 3 reserved bytes, then canvas width - 1 and height - 1 in 24 bits.
    if (!r.Le24(kData + 4, &width) || !r.Le24(kData + 7, &height)) return std::nullopt;
    return MakeImage("webp", int64_t{width} + 1, int64_t{height} + 1);
  }
  return std::nullopt;
}

std::optional<ImageInfo> ParseBmp(const ByteReader& r) {
  if (!r.Equals(0, "BM")) return std::nullopt;
  uint32_t header_size = 0;
  if (!r.Le32(14, &header_size)) return std::nullopt;
  uint32_t width = 0, height = 0;
  if (header_size == 12) {  // BITMAPCOREHEADER: unsigned 16-bit sizes
    if (!r.Le16(18, &width) || !r.Le16(20, &height)) return std::nullopt;
    return MakeImage("bmp", width, height);
  }
  if (header_size < 16) return std::nullopt;
  // BITMAPINFOHEADER and later (and OS/2 2.x): signed 32-bit; a negative height is top-down.
  if (!r.Le32(18, &width) || !r.Le32(22, &height)) return std::nullopt;
  const int64_t signed_height = static_cast<int32_t>(height);
  return MakeImage("bmp", static_cast<int32_t>(width),
                   signed_height < 0 ? -signed_height : signed_height);
}

bool IsAsciiSpace(uint32_t unit) { return unit == ' ' || (unit >= '\t' && unit <= '\r'); }

// One libmagic handle per thread: a magic_t is not thread-safe, and loading the database
// (mmap of magic.mgc) on every call would cost more than the sniffing.
class MagicHandle {
 public:
  explicit MagicHandle(int flags) : cookie_(magic_open(flags | MAGIC_ERROR)) {
    if (cookie_ == nullptr) {
      error_ = std::strerror(errno);
      return;
    }
    if (magic_load(cookie_, nullptr) != 0) {
      error_ = magic_error(cookie_) ? magic_error(cookie_) : "magic_load failed";
      magic_close(cookie_);
      cookie_ = nullptr;
    }
  }
  ~MagicHandle() {
    if (cookie_ != nullptr) magic_close(cookie_);
  }
  MagicHandle(const MagicHandle&) = delete;
  MagicHandle& operator=(const MagicHandle&) = delete;

  Result<std::string> MimeType(std::string_view bytes) {
    if (cookie_ == nullptr) {
      return Error(ErrorCode::kInternal, "libmagic could not be loaded: " + error_);
    }
    const char* type = magic_buffer(cookie_, bytes.data(), bytes.size());
    if (type == nullptr || *type == '\0') return std::string("application/octet-stream");
    return std::string(type);
  }

 private:
  magic_t cookie_;
  std::string error_;
};

ObjectMetadata MetadataFromPrefix(std::string_view prefix, std::string content_type) {
  ObjectMetadata metadata;
  metadata.content_type = std::move(content_type);
  if (auto image = ParseImageHeader(prefix)) {
    metadata.image_format = image->format;
    metadata.width = image->width;
    metadata.height = image->height;
  }
  return metadata;
}

void SetTextStats(TextStatsCounter& counter, ObjectMetadata* metadata) {
  TextStatsCounter::Stats stats = counter.Finish();
  metadata->text_encoding = stats.encoding;
  metadata->line_count = stats.line_count;
  metadata->word_count = stats.word_count;
}

}  // namespace

std::optional<ImageInfo> ParseImageHeader(std::string_view prefix) {
  const ByteReader r(prefix);
  for (auto* parse : {ParsePng, ParseJpeg, ParseGif, ParseWebp, ParseBmp}) {
    if (auto image = parse(r)) return image;
  }
  return std::nullopt;
}

Result<std::string> SniffContentType(std::string_view prefix) {
  thread_local MagicHandle handle(MAGIC_MIME_TYPE);
  return handle.MimeType(prefix);
}

Result<std::string> SniffContentTypeAndCharset(std::string_view prefix) {
  thread_local MagicHandle handle(MAGIC_MIME_TYPE | MAGIC_MIME_ENCODING);
  return handle.MimeType(prefix);
}

bool IsValidUtf8(std::string_view bytes) {
  if (bytes.empty()) return true;
  TextStatsCounter counter;
  counter.Update(bytes);
  const std::string encoding = counter.Finish().encoding;
  return encoding == "us-ascii" || encoding == "utf-8";
}

bool IsTextContentType(std::string_view type) {
  auto ends_with = [&](std::string_view suffix) {
    return type.size() >= suffix.size() && type.substr(type.size() - suffix.size()) == suffix;
  };
  return type.starts_with("text/") || type == "application/json" || type == "application/csv" ||
         type == "application/xml" || ends_with("+json") || ends_with("+xml");
}

Result<ObjectMetadata> ExtractObjectMetadataFromBytes(std::string_view bytes) {
  const std::string_view prefix = bytes.substr(0, kMetadataPrefixBytes);
  BASIN_ASSIGN_OR_RETURN(std::string type, SniffContentType(prefix));
  ObjectMetadata metadata = MetadataFromPrefix(prefix, std::move(type));
  if (IsTextContentType(metadata.content_type)) {
    TextStatsCounter counter;
    counter.Update(bytes);
    SetTextStats(counter, &metadata);
  }
  return metadata;
}

Result<ObjectMetadata> ExtractObjectMetadata(const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));

  std::vector<char> buffer(kMetadataPrefixBytes);
  BASIN_ASSIGN_OR_RETURN(size_t prefix_size, file.ReadUpTo(buffer.data(), buffer.size()));
  const std::string_view prefix(buffer.data(), prefix_size);
  BASIN_ASSIGN_OR_RETURN(std::string type, SniffContentType(prefix));
  ObjectMetadata metadata = MetadataFromPrefix(prefix, std::move(type));
  if (!IsTextContentType(metadata.content_type)) return metadata;

  TextStatsCounter counter;
  counter.Update(prefix);
  for (;;) {
    BASIN_ASSIGN_OR_RETURN(size_t n, file.ReadUpTo(buffer.data(), kReadBlockBytes));
    if (n == 0) break;
    counter.Update(std::string_view(buffer.data(), n));
  }
  SetTextStats(counter, &metadata);
  return metadata;
}

void TextStatsCounter::CountUnit(uint32_t unit) {
  any_unit_ = true;
  last_unit_was_newline_ = unit == '\n';
  if (last_unit_was_newline_) ++newlines_;
  if (IsAsciiSpace(unit)) {
    in_word_ = false;
  } else if (!in_word_) {
    in_word_ = true;
    ++words_;
  }
}

void TextStatsCounter::ValidateUtf8(std::string_view chunk) {
  for (char c : chunk) {
    const auto b = static_cast<uint8_t>(c);
    if (b >= 0x80) all_ascii_ = false;
    if (!valid_utf8_) continue;
    if (utf8_continuations_left_ == 0) {
      if (b < 0x80) continue;
      // The lead byte says how many continuation bytes follow and carries the top bits.
      if (b >= 0xC2 && b <= 0xDF) {
        utf8_sequence_length_ = 2;
      } else if (b >= 0xE0 && b <= 0xEF) {
        utf8_sequence_length_ = 3;
      } else if (b >= 0xF0 && b <= 0xF4) {
        utf8_sequence_length_ = 4;
      } else {
        valid_utf8_ = false;
        continue;
      }
      utf8_continuations_left_ = utf8_sequence_length_ - 1;
      utf8_code_point_ = b & (0x7F >> utf8_sequence_length_);
      continue;
    }
    if ((b & 0xC0) != 0x80) {
      valid_utf8_ = false;
      continue;
    }
    utf8_code_point_ = (utf8_code_point_ << 6) | (b & 0x3F);
    if (--utf8_continuations_left_ > 0) continue;
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    const uint32_t cp = utf8_code_point_;
    if ((utf8_sequence_length_ == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (utf8_sequence_length_ == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      valid_utf8_ = false;
    }
  }
}

void TextStatsCounter::Update(std::string_view chunk) {
  if (mode_ == Mode::kUndecided) {
    head_.append(chunk);
    if (head_.size() < 3) return;  // enough to see a byte order mark
    mode_ = head_.starts_with("\xFF\xFE")   ? Mode::kUtf16Le
            : head_.starts_with("\xFE\xFF") ? Mode::kUtf16Be
                                            : Mode::kBytes;
    std::string head = std::move(head_);
    head_.clear();
    std::string_view rest(head);
    if (mode_ == Mode::kUtf16Le || mode_ == Mode::kUtf16Be) {
      rest.remove_prefix(2);
    } else if (rest.starts_with("\xEF\xBB\xBF")) {
      ValidateUtf8(rest.substr(0, 3));
      rest.remove_prefix(3);
    }
    Update(rest);
    return;
  }
  if (mode_ == Mode::kBytes) {
    ValidateUtf8(chunk);
    for (char c : chunk) CountUnit(static_cast<uint8_t>(c));
    return;
  }
  for (char c : chunk) {
    const auto b = static_cast<uint8_t>(c);
    if (pending_byte_ < 0) {
      pending_byte_ = b;
      continue;
    }
    const uint32_t unit = mode_ == Mode::kUtf16Le ? (uint32_t{b} << 8) | pending_byte_
                                                  : (uint32_t(pending_byte_) << 8) | b;
    pending_byte_ = -1;
    CountUnit(unit);
  }
}

TextStatsCounter::Stats TextStatsCounter::Finish() {
  if (mode_ == Mode::kUndecided) {
    // Fewer than 3 bytes in all: decide now (a 2-byte BOM alone is empty UTF-16 text).
    std::string head = std::move(head_);
    head_.clear();
    mode_ = head.starts_with("\xFF\xFE")   ? Mode::kUtf16Le
            : head.starts_with("\xFE\xFF") ? Mode::kUtf16Be
                                           : Mode::kBytes;
    std::string_view rest(head);
    if (mode_ != Mode::kBytes) rest.remove_prefix(2);
    Update(rest);
  }
  Stats stats;
  switch (mode_) {
    case Mode::kUtf16Le: stats.encoding = "utf-16le"; break;
    case Mode::kUtf16Be: stats.encoding = "utf-16be"; break;
    default:
      if (all_ascii_) {
        stats.encoding = "us-ascii";
      } else if (valid_utf8_ && utf8_continuations_left_ == 0) {
        stats.encoding = "utf-8";
      } else {
        stats.encoding = "iso-8859-1";
      }
  }
  stats.line_count = newlines_ + (any_unit_ && !last_unit_was_newline_ ? 1 : 0);
  stats.word_count = words_;
  return stats;
}

}  // namespace basin::ingest
