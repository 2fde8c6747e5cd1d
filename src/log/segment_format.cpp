#include "log/segment_format.h"

#include <cstdio>
#include <cstring>

#include "base/assert.h"
#include "base/crc32c.h"

namespace basin::log {
namespace {

// Explicit byte-by-byte little-endian coding: the format does not depend on the host.
void PutU16(char* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint16_t GetU16(const char* p) {
  uint16_t v = 0;
  for (int i = 1; i >= 0; --i) v = static_cast<uint16_t>((v << 8) | static_cast<uint8_t>(p[i]));
  return v;
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

constexpr size_t kSegmentNameDigits = 20;
constexpr std::string_view kSegmentSuffix = ".seg";

}  // namespace

std::string_view FrameDecodeName(FrameDecode result) {
  switch (result) {
    case FrameDecode::kOk: return "ok";
    case FrameDecode::kEndMarker: return "end marker";
    case FrameDecode::kTruncated: return "truncated frame";
    case FrameDecode::kBadLength: return "bad frame length";
    case FrameDecode::kBadChecksum: return "bad frame checksum";
    case FrameDecode::kBadBody: return "bad frame body";
  }
  return "?";
}

std::string_view HeaderDecodeName(HeaderDecode result) {
  switch (result) {
    case HeaderDecode::kOk: return "ok";
    case HeaderDecode::kShort: return "short segment header";
    case HeaderDecode::kBadMagic: return "bad segment magic";
    case HeaderDecode::kBadVersion: return "unsupported segment version";
    case HeaderDecode::kBadChecksum: return "bad segment header checksum";
  }
  return "?";
}

void AppendFrame(std::string& out, uint64_t offset, int64_t append_time_us, uint32_t shard,
                 std::string_view key, std::string_view data) {
  BASIN_CHECK(key.size() <= UINT16_MAX);
  const uint64_t body_len = kFrameBodyFixedSize + key.size() + data.size();
  BASIN_CHECK(body_len <= kMaxFrameBodySize);
  const size_t start = out.size();
  out.resize(start + kFrameHeaderSize + kFrameBodyFixedSize);
  char* p = out.data() + start;
  PutU32(p, static_cast<uint32_t>(body_len));
  PutU64(p + 8, offset);
  PutU64(p + 16, static_cast<uint64_t>(append_time_us));
  PutU32(p + 24, shard);
  PutU16(p + 28, static_cast<uint16_t>(key.size()));
  out.append(key);
  out.append(data);
  // The CRC covers the length too, so a damaged length is caught directly rather than by luck.
  p = out.data() + start;
  const uint32_t crc = Crc32cExtend(Crc32c(p, 4), p + kFrameHeaderSize, body_len);
  PutU32(p + 4, crc);
}

FrameDecode DecodeFrame(const char* p, size_t avail, Frame* frame, size_t* frame_size) {
  if (avail < kFrameHeaderSize) {
    // Too short for a frame header: the zero padding of a preallocated file looks like this at
    // the very end, anything else is a torn header.
    for (size_t i = 0; i < avail; ++i) {
      if (p[i] != 0) return FrameDecode::kTruncated;
    }
    return FrameDecode::kEndMarker;
  }
  const uint32_t body_len = GetU32(p);
  if (body_len == 0) return FrameDecode::kEndMarker;
  if (body_len < kFrameBodyFixedSize || body_len > kMaxFrameBodySize)
    return FrameDecode::kBadLength;
  if (avail - kFrameHeaderSize < body_len) return FrameDecode::kTruncated;
  const char* body = p + kFrameHeaderSize;
  if (Crc32cExtend(Crc32c(p, 4), body, body_len) != GetU32(p + 4)) return FrameDecode::kBadChecksum;
  const uint16_t key_len = GetU16(body + 20);
  if (key_len > body_len - kFrameBodyFixedSize) return FrameDecode::kBadBody;
  frame->offset = GetU64(body);
  frame->append_time_us = static_cast<int64_t>(GetU64(body + 8));
  frame->shard = GetU32(body + 16);
  frame->key = std::string_view(body + kFrameBodyFixedSize, key_len);
  frame->data = std::string_view(body + kFrameBodyFixedSize + key_len,
                                 body_len - kFrameBodyFixedSize - key_len);
  *frame_size = kFrameHeaderSize + body_len;
  return FrameDecode::kOk;
}

std::string EncodeSegmentHeader(uint64_t base_offset) {
  std::string out(kSegmentHeaderSize, '\0');
  char* p = out.data();
  std::memcpy(p, kSegmentMagic, sizeof(kSegmentMagic));
  PutU32(p + 8, kSegmentFormatVersion);
  PutU32(p + 12, static_cast<uint32_t>(kSegmentHeaderSize));
  PutU64(p + 16, base_offset);
  PutU32(p + 24, 0);
  PutU32(p + 28, Crc32c(p, 28));
  return out;
}

HeaderDecode DecodeSegmentHeader(const char* p, size_t avail, uint64_t* base_offset) {
  if (avail < kSegmentHeaderSize) return HeaderDecode::kShort;
  if (std::memcmp(p, kSegmentMagic, sizeof(kSegmentMagic)) != 0) return HeaderDecode::kBadMagic;
  if (Crc32c(p, 28) != GetU32(p + 28)) return HeaderDecode::kBadChecksum;
  // Checked after the CRC so that a flipped bit reads as damage, not as a future version.
  if (GetU32(p + 8) != kSegmentFormatVersion || GetU32(p + 12) != kSegmentHeaderSize) {
    return HeaderDecode::kBadVersion;
  }
  *base_offset = GetU64(p + 16);
  return HeaderDecode::kOk;
}

std::string SegmentFileName(uint64_t base_offset) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu.seg", static_cast<unsigned long long>(base_offset));
  return buf;
}

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSegmentNameDigits + kSegmentSuffix.size()) return std::nullopt;
  if (name.substr(kSegmentNameDigits) != kSegmentSuffix) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < kSegmentNameDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

}  // namespace basin::log
