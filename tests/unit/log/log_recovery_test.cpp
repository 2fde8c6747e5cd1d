#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "base/logging.h"
#include "log/log.h"
#include "log/segment_file.h"
#include "log/segment_format.h"
#include "unit/log/log_test_util.h"

namespace basin::log {
namespace {

namespace fs = std::filesystem;
using testing::OpenOrDie;
using testing::Payload;
using testing::ReadAll;
using testing::ReadBytes;
using testing::Rec;
using testing::SegmentPaths;
using testing::TempDir;
using testing::TestOptions;
using testing::WriteBytes;

constexpr uint64_t kSegmentBytes = 64 << 10;

// Byte positions where each frame of a segment image ends.
std::vector<uint64_t> FrameEnds(const std::string& bytes) {
  std::vector<uint64_t> ends;
  size_t pos = kSegmentHeaderSize;
  for (;;) {
    Frame frame;
    size_t size = 0;
    if (DecodeFrame(bytes.data() + pos, bytes.size() - pos, &frame, &size) != FrameDecode::kOk) {
      return ends;
    }
    pos += size;
    ends.push_back(pos);
  }
}

// One past the last non-zero byte in [from, to) of `bytes`, or `from`.
uint64_t LastNonZero(const std::string& bytes, uint64_t from, uint64_t to) {
  for (uint64_t i = to; i > from; --i) {
    if (bytes[i - 1] != 0) return i;
  }
  return from;
}

// A log with one stream "s" holding `count` records (offset i has Payload(i)), closed.
class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);  // every recovery below warns, on purpose
    options_ = TestOptions(dir_.path(), kSegmentBytes);
    options_.durable = false;  // recovery is what is tested here, not the fsyncs
  }
  void TearDown() override { SetLogLevel(LogLevel::kInfo); }

  void WriteRecords(uint64_t count) {
    auto log = OpenOrDie(options_);
    ASSERT_TRUE(log->CreateStream("s", {.shard_count = 2}).ok());
    for (uint64_t i = 0; i < count; ++i) {
      ASSERT_TRUE(log->Append("s", {Rec("key" + std::to_string(i), Payload(i))}).ok());
    }
  }

  std::string LastSegment() { return SegmentPaths(dir_.path(), "s").back(); }

  // Opens the log, checks it holds exactly records [0, expected) and that appending continues
  // densely, durably across another reopen. Returns the recovery entry of "s".
  RecoveryReport::StreamRecovery CheckRecovers(uint64_t expected, const std::string& context) {
    RecoveryReport::StreamRecovery report;
    {
      auto log = OpenOrDie(options_);
      if (!log) return report;
      const auto& streams = log->recovery_report().streams;
      EXPECT_EQ(streams.size(), 1u) << context;
      if (!streams.empty()) report = streams[0];
      EXPECT_EQ(report.records_recovered, expected) << context;
      EXPECT_EQ(log->DescribeStream("s")->end_offset, expected) << context;
      auto records = ReadAll(*log, "s");
      EXPECT_TRUE(records.ok()) << context << ": " << records.status().ToString();
      if (!records.ok()) return report;
      EXPECT_EQ(records->size(), expected) << context;
      for (uint64_t i = 0; i < std::min<uint64_t>(expected, records->size()); ++i) {
        EXPECT_EQ((*records)[i].offset, i) << context;
        EXPECT_EQ((*records)[i].data, Payload(i)) << context;
      }
      Result<AppendAck> ack = log->Append("s", {Rec("after", "recovery")});
      EXPECT_TRUE(ack.ok()) << context;
      if (ack.ok()) {
        EXPECT_EQ(ack->first_offset, expected) << context;
      }
    }
    auto log = OpenOrDie(options_);
    if (!log) return report;
    EXPECT_EQ(log->recovery_report().streams.at(0).reason, "") << context;
    auto records = ReadAll(*log, "s");
    EXPECT_TRUE(records.ok()) << context;
    if (records.ok()) {
      EXPECT_EQ(records->size(), expected + 1) << context;
      if (records->size() == expected + 1) {
        EXPECT_EQ(records->back().data, "recovery") << context;
      }
    }
    return report;
  }

  TempDir dir_;
  LogOptions options_;
};

TEST_F(RecoveryTest, CleanShutdownReportsNothing) {
  WriteRecords(10);
  const auto report = CheckRecovers(10, "clean");
  EXPECT_EQ(report.stream, "s");
  EXPECT_EQ(report.reason, "");
  EXPECT_EQ(report.bytes_truncated, 0u);
}

// A crash can tear the tail anywhere: cut the file at every byte of its last frames, both as a
// shorter file and as a zero-filled (preallocated) one.
TEST_F(RecoveryTest, TornTailAtEveryByte) {
  WriteRecords(12);
  const std::string path = LastSegment();
  const std::string original = ReadBytes(path);
  ASSERT_EQ(original.size(), kSegmentBytes);
  const std::vector<uint64_t> ends = FrameEnds(original);
  ASSERT_EQ(ends.size(), 12u);
  const uint64_t from = ends[ends.size() - 4];
  for (uint64_t cut = from; cut <= ends.back(); ++cut) {
    const uint64_t complete =
        static_cast<uint64_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    const uint64_t boundary = complete == 0 ? kSegmentHeaderSize : ends[complete - 1];
    const uint64_t garbage = LastNonZero(original, boundary, cut) - boundary;
    for (bool zero_fill : {false, true}) {
      std::string image = original.substr(0, cut);
      if (zero_fill) image.resize(original.size(), '\0');
      WriteBytes(path, image);
      const std::string context =
          "cut at " + std::to_string(cut) + (zero_fill ? " zero-filled" : " short");
      const auto report = CheckRecovers(complete, context);
      EXPECT_EQ(report.bytes_truncated, garbage) << context;
      EXPECT_EQ(report.reason.empty(), garbage == 0) << context << ": " << report.reason;
      // Repaired: preallocated again, and everything past the valid data is zero.
      const std::string repaired = ReadBytes(path);
      EXPECT_EQ(repaired.size(), kSegmentBytes) << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST_F(RecoveryTest, FlippedBitsInTheTail) {
  WriteRecords(12);
  const std::string path = LastSegment();
  const std::string original = ReadBytes(path);
  const std::vector<uint64_t> ends = FrameEnds(original);
  for (uint64_t pos = ends[ends.size() - 4]; pos < ends.back(); ++pos) {
    for (uint8_t mask : {0x01, 0x80}) {
      std::string image = original;
      image[pos] = static_cast<char>(image[pos] ^ mask);
      WriteBytes(path, image);
      // Everything before the damaged frame survives; it and all after it are cut.
      const uint64_t damaged =
          static_cast<uint64_t>(std::upper_bound(ends.begin(), ends.end(), pos) - ends.begin());
      const std::string context = "flip at " + std::to_string(pos);
      const auto report = CheckRecovers(damaged, context);
      EXPECT_NE(report.reason, "") << context;
      const uint64_t boundary = damaged == 0 ? kSegmentHeaderSize : ends[damaged - 1];
      EXPECT_EQ(report.bytes_truncated, ends.back() - boundary) << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST_F(RecoveryTest, DamagedHeaderIsRewrittenAndFramesKept) {
  WriteRecords(5);
  const std::string path = LastSegment();
  for (size_t pos : {0, 8, 16, 28}) {
    std::string image = ReadBytes(path);
    image[pos] = static_cast<char>(image[pos] ^ 0x40);
    WriteBytes(path, image);
    const auto report = CheckRecovers(5, "header byte " + std::to_string(pos));
    EXPECT_NE(report.reason.find("header rewritten"), std::string::npos) << report.reason;
    EXPECT_EQ(report.bytes_truncated, 0u);
    // CheckRecovers appended one record; drop it for the next round by starting over.
    fs::remove_all(dir_.path() + "/s");
    WriteRecords(5);
  }
}

TEST_F(RecoveryTest, RandomGarbageAfterTheData) {
  WriteRecords(8);
  const std::string path = LastSegment();
  const std::string original = ReadBytes(path);
  const uint64_t data_end = FrameEnds(original).back();
  std::mt19937 rng(1234);
  for (size_t length : {1, 3, 7, 8, 9, 31, 100, 5000}) {
    for (bool leading_zeros : {false, true}) {
      std::string image = original;
      for (size_t i = 0; i < length; ++i) image[data_end + i] = static_cast<char>(rng() | 1);
      if (leading_zeros) {
        // A zero length word followed by garbage: still not a clean end.
        for (size_t i = 0; i < std::min<size_t>(4, length); ++i) image[data_end + i] = 0;
      }
      WriteBytes(path, image);
      const std::string context = "garbage " + std::to_string(length);
      const auto report = CheckRecovers(8, context);
      EXPECT_EQ(report.bytes_truncated, LastNonZero(image, data_end, image.size()) - data_end)
          << context;
      if (length > 4 || !leading_zeros) {
        EXPECT_NE(report.reason, "") << context;
      } else {
        EXPECT_EQ(report.reason, "") << context;
      }
      fs::remove_all(dir_.path() + "/s");
      WriteRecords(8);
    }
  }
}

TEST_F(RecoveryTest, SegmentOfRandomBytes) {
  WriteRecords(3);
  std::mt19937 rng(99);
  std::string junk(3000, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  WriteBytes(LastSegment(), junk);
  const auto report = CheckRecovers(0, "random segment");
  EXPECT_NE(report.reason, "");
  EXPECT_GT(report.bytes_truncated, 2900u);
}

TEST_F(RecoveryTest, ZeroByteAndShortHeaderSegments) {
  for (size_t size : {0, 1, 10, 31}) {
    WriteRecords(3);
    const std::string path = LastSegment();
    WriteBytes(path, ReadBytes(path).substr(0, size));
    const auto report = CheckRecovers(0, "segment of " + std::to_string(size) + " bytes");
    EXPECT_NE(report.reason.find("header rewritten"), std::string::npos) << report.reason;
    fs::remove_all(dir_.path() + "/s");
  }
}

TEST_F(RecoveryTest, TornTailOfTheLastOfManySegments) {
  options_.segment_bytes = 1024;
  WriteRecords(45);  // 13 records a segment: the last holds 6
  ASSERT_GT(SegmentPaths(dir_.path(), "s").size(), 3u);
  const std::string path = LastSegment();
  const std::string original = ReadBytes(path);
  const std::vector<uint64_t> ends = FrameEnds(original);
  ASSERT_GE(ends.size(), 2u);
  const uint64_t base = *ParseSegmentFileName(fs::path(path).filename().string());
  WriteBytes(path, original.substr(0, ends.back() - 3));
  CheckRecovers(base + ends.size() - 1, "last of many");
}

TEST_F(RecoveryTest, MissingOrBrokenStreamJsonSkipsOnlyThatStream) {
  WriteRecords(3);
  {
    auto log = OpenOrDie(options_);
    ASSERT_TRUE(log->CreateStream("other", {}).ok());
    ASSERT_TRUE(log->Append("other", {Rec("k", "v")}).ok());
    ASSERT_TRUE(log->CreateStream("third", {}).ok());
  }
  fs::remove(dir_.path() + "/s/stream.json");
  WriteBytes(dir_.path() + "/third/stream.json", "{\"format_version\":1,\"shard_cou");
  auto log = OpenOrDie(options_);
  const auto& streams = log->recovery_report().streams;
  ASSERT_EQ(streams.size(), 3u);
  EXPECT_EQ(streams[0].stream, "other");
  EXPECT_EQ(streams[0].reason, "");
  EXPECT_EQ(streams[1].stream, "s");
  EXPECT_NE(streams[1].reason.find("not loaded"), std::string::npos) << streams[1].reason;
  EXPECT_NE(streams[2].reason.find("not loaded"), std::string::npos);
  EXPECT_FALSE(log->HasStream("s"));
  EXPECT_FALSE(log->HasStream("third"));
  EXPECT_EQ(ReadAll(*log, "other")->size(), 1u);
  // The unloadable directory is left alone, not overwritten.
  EXPECT_EQ(log->CreateStream("s", {}).code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(SegmentPaths(dir_.path(), "s").front()));
}

TEST_F(RecoveryTest, StrayFilesAndDirectoriesAreHarmless) {
  WriteRecords(3);
  fs::create_directories(dir_.path() + "/~creating-x");
  WriteBytes(dir_.path() + "/~creating-x/stream.json", "{}");
  fs::create_directories(dir_.path() + "/~deleting-y-1-2");
  fs::create_directories(dir_.path() + "/not a stream");
  WriteBytes(dir_.path() + "/README", "hello");
  WriteBytes(dir_.path() + "/s/notes.txt", "not a segment");
  auto log = OpenOrDie(options_);
  EXPECT_EQ(log->ListStreams().size(), 1u);
  EXPECT_FALSE(fs::exists(dir_.path() + "/~creating-x"));
  EXPECT_FALSE(fs::exists(dir_.path() + "/~deleting-y-1-2"));
  EXPECT_EQ(ReadAll(*log, "s")->size(), 3u);
  EXPECT_EQ(log->recovery_report().streams.at(0).reason, "");
}

// The steps of a roll are: seal the old segment (trim + sync), create the new one as .tmp,
// rename it into place, sync the directory. A crash may stop after any of them.
TEST_F(RecoveryTest, CrashBetweenRollSteps) {
  WriteRecords(5);
  const std::string seg0 = LastSegment();
  const uint64_t data_end = FrameEnds(ReadBytes(seg0)).back();
  const std::string stream_dir = dir_.path() + "/s";

  // 1. Sealed, nothing else yet: a trimmed last segment is a clean one, preallocated again.
  fs::resize_file(seg0, data_end);
  auto report = CheckRecovers(5, "sealed only");
  EXPECT_EQ(report.reason, "");
  EXPECT_EQ(fs::file_size(seg0), kSegmentBytes);

  // 2. Successor half-written under its temporary name: removed.
  fs::remove_all(stream_dir);
  WriteRecords(5);
  fs::resize_file(seg0, data_end);
  WriteBytes(stream_dir + "/" + SegmentFileName(5) + ".tmp", std::string(100, 'x'));
  report = CheckRecovers(5, "tmp successor");
  EXPECT_NE(report.reason.find("leftover"), std::string::npos);
  EXPECT_FALSE(fs::exists(stream_dir + "/" + SegmentFileName(5) + ".tmp"));

  // 3. Successor complete under its name: the next append goes into it.
  fs::remove_all(stream_dir);
  WriteRecords(5);
  fs::resize_file(seg0, data_end);
  {
    auto created = SegmentFile::Create(stream_dir, 5, kSegmentBytes, false);
    ASSERT_TRUE(created.ok());
  }
  report = CheckRecovers(5, "complete successor");
  EXPECT_EQ(report.reason, "");
  EXPECT_EQ(SegmentPaths(dir_.path(), "s").size(), 2u);
  EXPECT_GT(FrameEnds(ReadBytes(stream_dir + "/" + SegmentFileName(5))).size(), 0u);

  // 4. Successor named but empty (its data never reached the disk): header rewritten.
  fs::remove_all(stream_dir);
  WriteRecords(5);
  fs::resize_file(seg0, data_end);
  WriteBytes(stream_dir + "/" + SegmentFileName(5), "");
  report = CheckRecovers(5, "empty successor");
  EXPECT_NE(report.reason.find("header rewritten"), std::string::npos);
}

TEST_F(RecoveryTest, SegmentsDeletedByHand) {
  WriteRecords(3);
  for (const std::string& p : SegmentPaths(dir_.path(), "s")) fs::remove(p);
  auto log = OpenOrDie(options_);
  EXPECT_NE(log->recovery_report().streams.at(0).reason.find("no segment files"),
            std::string::npos);
  EXPECT_EQ(log->DescribeStream("s")->end_offset, 0u);
  EXPECT_TRUE(log->Append("s", {Rec("k", "v")}).ok());
}

}  // namespace
}  // namespace basin::log
