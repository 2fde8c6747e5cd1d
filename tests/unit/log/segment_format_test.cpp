#include "log/segment_format.h"

#include <gtest/gtest.h>

#include <string>

#include "base/crc32c.h"

namespace basin::log {
namespace {

std::string OneFrame(uint64_t offset, int64_t time, uint32_t shard, std::string_view key,
                     std::string_view data) {
  std::string out;
  AppendFrame(out, offset, time, shard, key, data);
  return out;
}

TEST(SegmentFormat, FrameRoundTrip) {
  const std::string binary("\0\x01\xff\0zero\0", 9);
  struct Case {
    uint64_t offset;
    int64_t time;
    uint32_t shard;
    std::string key;
    std::string data;
  } cases[] = {
      {0, 0, 0, "k", ""},
      {1, -5, 3, "user-42", "hello"},
      {UINT64_MAX, INT64_MAX, UINT32_MAX, std::string(1024, 'x'), binary},
      {123456789, 1'700'000'000'000'000, 1023, "ü", std::string(100000, '\0')},
  };
  std::string all;
  for (const Case& c : cases) AppendFrame(all, c.offset, c.time, c.shard, c.key, c.data);
  size_t pos = 0;
  for (const Case& c : cases) {
    Frame frame;
    size_t size = 0;
    ASSERT_EQ(DecodeFrame(all.data() + pos, all.size() - pos, &frame, &size), FrameDecode::kOk);
    EXPECT_EQ(size, FrameSize(c.key.size(), c.data.size()));
    EXPECT_EQ(frame.offset, c.offset);
    EXPECT_EQ(frame.append_time_us, c.time);
    EXPECT_EQ(frame.shard, c.shard);
    EXPECT_EQ(frame.key, c.key);
    EXPECT_EQ(frame.data, c.data);
    pos += size;
  }
  EXPECT_EQ(pos, all.size());
}

TEST(SegmentFormat, FrameBytesAreLittleEndianAsDocumented) {
  const std::string f = OneFrame(0x0102030405060708ULL, 0x1112131415161718LL, 0x21222324, "k", "D");
  ASSERT_EQ(f.size(), 8u + 22u + 1u + 1u);
  // body_len = 24 = 22 + key 1 + data 1
  EXPECT_EQ(f.substr(0, 4), std::string("\x18\0\0\0", 4));
  EXPECT_EQ(f.substr(8, 8), "\x08\x07\x06\x05\x04\x03\x02\x01");
  EXPECT_EQ(f.substr(16, 8), "\x18\x17\x16\x15\x14\x13\x12\x11");
  EXPECT_EQ(f.substr(24, 4), "\x24\x23\x22\x21");
  EXPECT_EQ(f.substr(28, 2), std::string("\x01\0", 2));
  EXPECT_EQ(f.substr(30), "kD");
  // The CRC covers the four length bytes and the body.
  const uint32_t crc = Crc32cExtend(Crc32c(f.data(), 4), f.data() + 8, f.size() - 8);
  const uint32_t stored = static_cast<uint8_t>(f[4]) | static_cast<uint8_t>(f[5]) << 8 |
                          static_cast<uint8_t>(f[6]) << 16 |
                          static_cast<uint32_t>(static_cast<uint8_t>(f[7])) << 24;
  EXPECT_EQ(stored, crc);
}

// The worked example of docs/formats/log.md, byte for byte.
TEST(SegmentFormat, MatchesTheDocumentedExample) {
  std::string s = EncodeSegmentHeader(0);
  AppendFrame(s, 0, 1700000000000000LL, 1, "k", "hi");
  const unsigned char expected[] = {
      0x42, 0x41, 0x53, 0x49, 0x4e, 0x4c, 0x4f, 0x47, 0x01, 0x00, 0x00, 0x00, 0x20,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x40, 0x66, 0xe1, 0x4b, 0x19, 0x00, 0x00, 0x00, 0x55, 0x29, 0x03,
      0x9b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x1e, 0x18,
      0x24, 0x0a, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x6b, 0x68, 0x69};
  EXPECT_EQ(s, std::string(reinterpret_cast<const char*>(expected), sizeof(expected)));
}

TEST(SegmentFormat, EveryTruncationIsDetected) {
  const std::string f = OneFrame(7, 1, 0, "key", "some data");
  for (size_t n = 0; n < f.size(); ++n) {
    Frame frame;
    size_t size = 0;
    const FrameDecode r = DecodeFrame(f.data(), n, &frame, &size);
    // Fewer than 8 bytes of a frame whose first byte is non-zero: torn header.
    if (n == 0) {
      EXPECT_EQ(r, FrameDecode::kEndMarker);
    } else {
      EXPECT_EQ(r, FrameDecode::kTruncated) << n;
    }
  }
}

TEST(SegmentFormat, EveryBitFlipIsDetected) {
  const std::string f = OneFrame(7, 1, 2, "key", "some data");
  for (size_t byte = 0; byte < f.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = f;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      Frame frame;
      size_t size = 0;
      const FrameDecode r = DecodeFrame(bad.data(), bad.size(), &frame, &size);
      EXPECT_NE(r, FrameDecode::kOk) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(SegmentFormat, ZerosAreTheEndMarker) {
  const std::string zeros(64, '\0');
  Frame frame;
  size_t size = 0;
  EXPECT_EQ(DecodeFrame(zeros.data(), zeros.size(), &frame, &size), FrameDecode::kEndMarker);
  EXPECT_EQ(DecodeFrame(zeros.data(), 5, &frame, &size), FrameDecode::kEndMarker);
}

TEST(SegmentFormat, BadLengthsAndBodies) {
  Frame frame;
  size_t size = 0;
  std::string f = OneFrame(1, 1, 1, "k", "d");
  std::string small = f;
  small[0] = 21;  // below the fixed body size
  EXPECT_EQ(DecodeFrame(small.data(), small.size(), &frame, &size), FrameDecode::kBadLength);
  std::string huge = f;
  huge[3] = 0x7f;  // ~2 GiB
  EXPECT_EQ(DecodeFrame(huge.data(), huge.size(), &frame, &size), FrameDecode::kBadLength);

  // A key_len past the body with a CRC that matches: only the structural check catches it.
  std::string body_bad = f;
  body_bad[28] = 50;
  const uint32_t crc =
      Crc32cExtend(Crc32c(body_bad.data(), 4), body_bad.data() + 8, body_bad.size() - 8);
  for (int i = 0; i < 4; ++i) body_bad[4 + i] = static_cast<char>(crc >> (8 * i));
  EXPECT_EQ(DecodeFrame(body_bad.data(), body_bad.size(), &frame, &size), FrameDecode::kBadBody);
}

TEST(SegmentFormat, HeaderRoundTripAndDamage) {
  const std::string h = EncodeSegmentHeader(42);
  ASSERT_EQ(h.size(), kSegmentHeaderSize);
  EXPECT_EQ(h.substr(0, 8), "BASINLOG");
  uint64_t base = 0;
  EXPECT_EQ(DecodeSegmentHeader(h.data(), h.size(), &base), HeaderDecode::kOk);
  EXPECT_EQ(base, 42u);
  EXPECT_EQ(DecodeSegmentHeader(h.data(), 31, &base), HeaderDecode::kShort);
  for (size_t byte = 0; byte < h.size(); ++byte) {
    std::string bad = h;
    bad[byte] = static_cast<char>(bad[byte] ^ 0x10);
    EXPECT_NE(DecodeSegmentHeader(bad.data(), bad.size(), &base), HeaderDecode::kOk) << byte;
  }
  std::string bad_magic = h;
  bad_magic[0] = 'X';
  EXPECT_EQ(DecodeSegmentHeader(bad_magic.data(), bad_magic.size(), &base),
            HeaderDecode::kBadMagic);
}

TEST(SegmentFormat, FileNames) {
  EXPECT_EQ(SegmentFileName(0), "00000000000000000000.seg");
  EXPECT_EQ(SegmentFileName(1234), "00000000000000001234.seg");
  EXPECT_EQ(SegmentFileName(UINT64_MAX), "18446744073709551615.seg");
  EXPECT_EQ(ParseSegmentFileName("00000000000000001234.seg"), 1234u);
  EXPECT_EQ(ParseSegmentFileName("18446744073709551615.seg"), UINT64_MAX);
  EXPECT_EQ(ParseSegmentFileName("18446744073709551616.seg"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("0000000000000000123.seg"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("00000000000000001234.seg.tmp"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("0000000000000000123x.seg"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("stream.json"), std::nullopt);
}

}  // namespace
}  // namespace basin::log
