#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace basin::log {

// The byte layout of log segment files: the segment header, record frames and file names.
// Pure functions over bytes; no I/O. The layout is specified in docs/formats/log.md; keep the two
// in step. Thread-safe (stateless).

// Segment header: magic, version, header size, base offset, reserved, CRC-32C of bytes 0-27.
inline constexpr char kSegmentMagic[8] = {'B', 'A', 'S', 'I', 'N', 'L', 'O', 'G'};
inline constexpr uint32_t kSegmentFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;

// Frame: u32 body_len | u32 crc32c(body_len bytes ‖ body) | body, where
// body = u64 offset | i64 append_time_us | u32 shard | u16 key_len | key | data.
inline constexpr size_t kFrameHeaderSize = 8;
inline constexpr size_t kFrameBodyFixedSize = 22;
// Upper bound on body_len accepted when decoding, so that a garbage length cannot make a reader
// allocate gigabytes. Records are limited far below it (LogOptions::max_record_bytes).
inline constexpr uint32_t kMaxFrameBodySize = 128u << 20;
inline constexpr uint64_t kMaxRecordBytesLimit = 64ULL << 20;

// Bytes a frame takes on disk for a record with this key and data size.
inline constexpr uint64_t FrameSize(uint64_t key_size, uint64_t data_size) {
  return kFrameHeaderSize + kFrameBodyFixedSize + key_size + data_size;
}

// A decoded frame; `key` and `data` point into the buffer it was decoded from.
struct Frame {
  uint64_t offset = 0;
  int64_t append_time_us = 0;
  uint32_t shard = 0;
  std::string_view key;
  std::string_view data;
};

enum class FrameDecode {
  kOk,
  kEndMarker,    // body_len is zero (or fewer than 8 bytes are left and all are zero): no more data
  kTruncated,    // the frame runs past the bytes available
  kBadLength,    // body_len is below the fixed body size or above kMaxFrameBodySize
  kBadChecksum,  // the CRC does not match
  kBadBody,      // key_len runs past the body
};
std::string_view FrameDecodeName(FrameDecode result);

// Appends one encoded frame to `out`. The key must fit in u16 (callers limit it far lower).
void AppendFrame(std::string& out, uint64_t offset, int64_t append_time_us, uint32_t shard,
                 std::string_view key, std::string_view data);

// Decodes the frame starting at `p`, with `avail` bytes readable there. On kOk fills `frame`
// and `frame_size` (bytes the frame occupies). Never reads outside [p, p + avail).
FrameDecode DecodeFrame(const char* p, size_t avail, Frame* frame, size_t* frame_size);

std::string EncodeSegmentHeader(uint64_t base_offset);

enum class HeaderDecode { kOk, kShort, kBadMagic, kBadVersion, kBadChecksum };
std::string_view HeaderDecodeName(HeaderDecode result);
HeaderDecode DecodeSegmentHeader(const char* p, size_t avail, uint64_t* base_offset);

// "00000000000000000042.seg"
std::string SegmentFileName(uint64_t base_offset);
// The base offset of a segment file name, or nullopt when `name` is not one.
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);

}  // namespace basin::log
