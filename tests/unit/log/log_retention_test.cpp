#include <gtest/gtest.h>

#include <filesystem>

#include "log/log.h"
#include "unit/log/log_test_util.h"

namespace basin::log {
namespace {

namespace fs = std::filesystem;
using testing::OpenOrDie;
using testing::Payload;
using testing::ReadAll;
using testing::Rec;
using testing::SegmentPaths;
using testing::TempDir;
using testing::TestOptions;

constexpr int64_t kMinute = 60LL * 1'000'000;
constexpr int64_t kT0 = 1'700'000'000'000'000;

// Records of 71-byte frames: 13 fill a 1 KiB segment (to byte 955), the 14th rolls.
Status AppendRange(Log& log, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i) {
    Result<AppendAck> ack = log.Append("s", {Rec("k", Payload(i))});
    if (!ack.ok()) return ack.status();
  }
  return Status::Ok();
}

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = TestOptions(dir_.path(), 1024);
    options_.durable = false;
    options_.clock = &clock_;
  }

  // Segments [0,13) and [13,26) written at T0, [26,39) at T0+30m, [39,40) (active) at T0+90m.
  void Build(const StreamOptions& stream_options) {
    log_ = OpenOrDie(options_);
    ASSERT_TRUE(log_->CreateStream("s", stream_options).ok());
    ASSERT_TRUE(AppendRange(*log_, 0, 26).ok());
    clock_.Set(kT0 + 30 * kMinute);
    ASSERT_TRUE(AppendRange(*log_, 26, 39).ok());
    clock_.Set(kT0 + 90 * kMinute);
    ASSERT_TRUE(AppendRange(*log_, 39, 40).ok());
    ASSERT_EQ(log_->DescribeStream("s")->segment_count, 4u);
  }

  uint64_t Start() { return log_->DescribeStream("s")->start_offset; }

  TempDir dir_;
  FakeClock clock_{kT0};
  LogOptions options_;
  std::unique_ptr<Log> log_;
};

TEST_F(RetentionTest, DeletesWholeSegmentsPastTheAge) {
  Build({.retention_hours = 1});
  // At T0+90m the cutoff is T0+30m: the two T0 segments go, the T0+30m one stays (not older).
  auto deleted = log_->ApplyRetention("s", UINT64_MAX);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2u);
  EXPECT_EQ(Start(), 26u);
  EXPECT_EQ(log_->DescribeStream("s")->segment_count, 2u);
  auto paths = SegmentPaths(dir_.path(), "s");
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(fs::path(paths[0]).filename().string(), SegmentFileName(26));
  // Readers asking for deleted offsets start at the new start.
  auto records = ReadAll(*log_, "s", 0);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 14u);
  EXPECT_EQ(records->front().offset, 26u);
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 0u);

  // Much later everything sealed goes, but never the active segment.
  clock_.Set(kT0 + 24 * 60 * kMinute);
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 1u);
  EXPECT_EQ(Start(), 39u);
  EXPECT_EQ(log_->DescribeStream("s")->segment_count, 1u);
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 0u);
  EXPECT_EQ(ReadAll(*log_, "s")->size(), 1u);

  // The start survives a restart: the files are gone.
  log_.reset();
  log_ = OpenOrDie(options_);
  EXPECT_EQ(Start(), 39u);
  EXPECT_EQ(log_->DescribeStream("s")->end_offset, 40u);
  EXPECT_TRUE(log_->Append("s", {Rec("k", "more")}).ok());
}

TEST_F(RetentionTest, KeepsWhatAConsumerStillNeeds) {
  Build({.retention_hours = 1});
  clock_.Set(kT0 + 24 * 60 * kMinute);  // everything sealed is past the age
  // Offset 20 is still needed: only [0,13) may go.
  EXPECT_EQ(*log_->ApplyRetention("s", 20), 1u);
  EXPECT_EQ(Start(), 13u);
  EXPECT_EQ(*log_->ApplyRetention("s", 25), 0u);
  // keep_from_offset exactly at a segment's end frees that segment.
  EXPECT_EQ(*log_->ApplyRetention("s", 26), 1u);
  EXPECT_EQ(Start(), 26u);
  EXPECT_EQ(*log_->ApplyRetention("s", 0), 0u);
}

TEST_F(RetentionTest, DeletesOldestSegmentsPastTheSize) {
  // 3 x 955 + 103 bytes on disk; a 2500 byte limit needs one segment gone.
  Build({.retention_hours = 8760, .retention_bytes = 2500});
  EXPECT_EQ(log_->DescribeStream("s")->size_bytes, 3u * 955 + 103);
  EXPECT_EQ(*log_->ApplyRetention("s", 0), 0u);  // still needed from 0
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 1u);
  EXPECT_EQ(Start(), 13u);
  EXPECT_EQ(log_->DescribeStream("s")->size_bytes, 2u * 955 + 103);
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 0u);
}

TEST_F(RetentionTest, AgesOfSegmentsFoundAtOpenAreReadFromDisk) {
  Build({.retention_hours = 1});
  log_.reset();
  log_ = OpenOrDie(options_);
  clock_.Set(kT0 + 61 * kMinute);  // cutoff T0+1m: the T0 segments only
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 2u);
  EXPECT_EQ(Start(), 26u);
}

TEST_F(RetentionTest, AReaderOnADeletedSegmentGetsNotFound) {
  Build({.retention_hours = 1});
  auto reader = log_->OpenReader("s", 0);
  ASSERT_TRUE(reader.ok());
  auto batch = (*reader)->ReadBatch(5, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 5u);
  EXPECT_EQ(*log_->ApplyRetention("s", UINT64_MAX), 2u);
  EXPECT_EQ((*reader)->ReadBatch(5, 1 << 20).status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace basin::log
