#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "log/log.h"
#include "unit/log/log_test_util.h"

namespace basin::log {
namespace {

using testing::OpenOrDie;
using testing::Payload;
using testing::ReadAll;
using testing::ReadBytes;
using testing::Rec;
using testing::SegmentPaths;
using testing::TempDir;
using testing::TestOptions;
using testing::WriteBytes;

void ExpectRecords(const std::vector<LogRecord>& records, uint64_t first, uint64_t count) {
  ASSERT_EQ(records.size(), count);
  for (uint64_t i = 0; i < count; ++i) {
    ASSERT_EQ(records[i].offset, first + i);
    ASSERT_EQ(records[i].data, Payload(first + i)) << "offset " << first + i;
  }
}

Status AppendOneByOne(Log& log, const std::string& stream, uint64_t from, uint64_t count) {
  for (uint64_t i = from; i < from + count; ++i) {
    Result<AppendAck> ack = log.Append(stream, {Rec("k" + std::to_string(i % 7), Payload(i))});
    if (!ack.ok()) return ack.status();
    if (ack->first_offset != i) return Error(ErrorCode::kInternal, "unexpected offset");
  }
  return Status::Ok();
}

TEST(LogReader, SeesOnlyAcknowledgedRecords) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path());
  // Stop the writer between write and fsync: the bytes are in the file, not yet acknowledged.
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;
  bool held = false;
  options.fault_hook = [&](FaultPoint point) {
    if (point == FaultPoint::kBeforeSync) {
      std::unique_lock lock(mu);
      if (hold) {
        held = true;
        cv.notify_all();
        cv.wait(lock, [&] { return !hold; });
      }
    }
    return Status::Ok();
  };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  ASSERT_TRUE(AppendOneByOne(*log, "s", 0, 3).ok());
  auto reader = log->OpenReader("s", 0);
  ASSERT_TRUE(reader.ok());

  {
    std::lock_guard lock(mu);
    hold = true;
  }
  std::atomic<bool> acked{false};
  log->AppendAsync("s", {Rec("k", Payload(3)), Rec("k", Payload(4))},
                   [&](Result<AppendAck> r) { acked = r.ok(); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return held; });
  }
  // Written to the file but not durable: invisible.
  auto batch = (*reader)->ReadBatch(100, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ExpectRecords(*batch, 0, 3);
  batch = (*reader)->ReadBatch(100, 1 << 20);
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch->empty());
  EXPECT_EQ((*reader)->position(), 3u);
  EXPECT_EQ(log->DescribeStream("s")->end_offset, 3u);
  EXPECT_FALSE(acked.load());

  {
    std::lock_guard lock(mu);
    hold = false;
  }
  cv.notify_all();
  while (!acked.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  batch = (*reader)->ReadBatch(100, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ExpectRecords(*batch, 3, 2);
}

TEST(LogReader, FollowsSegmentRolls) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path(), 1024));
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  ASSERT_TRUE(AppendOneByOne(*log, "s", 0, 200).ok());
  Result<StreamInfo> info = log->DescribeStream("s");
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->segment_count, 10u);
  EXPECT_EQ(SegmentPaths(dir.path(), "s").size(), info->segment_count);
  // Segment files are named by their base offsets, and sealed ones are trimmed to their data.
  for (const std::string& path : SegmentPaths(dir.path(), "s")) {
    EXPECT_LE(std::filesystem::file_size(path), 1024u) << path;
  }

  for (size_t batch : {1, 3, 7, 64, 1000}) {
    auto records = ReadAll(*log, "s", 0, batch);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    ExpectRecords(*records, 0, 200);
  }
  // Starting anywhere, including exactly at segment boundaries.
  for (uint64_t from : {0, 1, 12, 13, 14, 26, 100, 199}) {
    auto records = ReadAll(*log, "s", from, 5);
    ASSERT_TRUE(records.ok());
    ExpectRecords(*records, from, 200 - from);
  }
  // Past the end: nothing yet, then the records as they arrive.
  auto reader = log->OpenReader("s", 205);
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE((*reader)->ReadBatch(10, 1 << 20)->empty());
  ASSERT_TRUE(AppendOneByOne(*log, "s", 200, 10).ok());
  auto tail = (*reader)->ReadBatch(10, 1 << 20);
  ASSERT_TRUE(tail.ok());
  ExpectRecords(*tail, 205, 5);
}

TEST(LogReader, RespectsRecordAndByteLimits) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(log->Append("s", {Rec("k", std::string(99, static_cast<char>('a' + i)))}).ok());
  }
  auto reader = log->OpenReader("s", 0);
  ASSERT_TRUE(reader.ok());
  // 100 bytes a record (key + data): 250 bytes allow two.
  auto batch = (*reader)->ReadBatch(100, 250);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 2u);
  // Always at least one, even when it is larger than the limit.
  batch = (*reader)->ReadBatch(100, 10);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 1u);
  EXPECT_EQ((*batch)[0].offset, 2u);
  batch = (*reader)->ReadBatch(3, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_EQ((*batch)[0].offset, 3u);
  EXPECT_EQ((*reader)->position(), 6u);
  EXPECT_TRUE((*reader)->ReadBatch(0, 1 << 20)->empty());
  batch = (*reader)->ReadBatch(100, 1 << 20);
  ASSERT_EQ(batch->size(), 4u);
  EXPECT_EQ((*batch)[3].data, std::string(99, 'j'));
}

TEST(LogReader, ReadsWhileTheWriterAppends) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path(), 16 << 10);
  options.durable = false;
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {.shard_count = 2}).ok());
  constexpr uint64_t kTotal = 5000;
  std::thread writer([&] {
    for (uint64_t i = 0; i < kTotal; i += 5) {
      std::vector<RecordInput> batch;
      for (uint64_t j = i; j < i + 5; ++j)
        batch.push_back(Rec("k" + std::to_string(j), Payload(j)));
      auto ack = log->Append("s", std::move(batch));
      ASSERT_TRUE(ack.ok());
    }
  });
  std::vector<LogRecord> seen;
  auto reader = log->OpenReader("s", 0);
  ASSERT_TRUE(reader.ok());
  while (seen.size() < kTotal) {
    auto batch = (*reader)->ReadBatch(37, 1 << 20);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    for (auto& r : *batch) seen.push_back(std::move(r));
    if (batch->empty()) std::this_thread::yield();
  }
  writer.join();
  ExpectRecords(seen, 0, kTotal);
  EXPECT_GT(log->DescribeStream("s")->segment_count, 5u);
}

TEST(LogReader, PositionsInsideLargeSegmentsAfterReopen) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path(), 512 << 10);
  options.durable = false;
  constexpr uint64_t kTotal = 12000;  // ~1 MB of frames: one sealed segment, one active
  {
    auto log = OpenOrDie(options);
    ASSERT_TRUE(log->CreateStream("s", {}).ok());
    for (uint64_t i = 0; i < kTotal; i += 100) {
      std::vector<RecordInput> batch;
      for (uint64_t j = i; j < i + 100; ++j) batch.push_back(Rec("k", Payload(j, 60)));
      ASSERT_TRUE(log->Append("s", std::move(batch)).ok());
    }
    for (uint64_t from : {0, 4321, 8765, 11999}) {
      auto r = log->OpenReader("s", from);
      auto batch = (*r)->ReadBatch(1, 1 << 20);
      ASSERT_EQ(batch->size(), 1u);
      EXPECT_EQ((*batch)[0].offset, from);
      EXPECT_EQ((*batch)[0].data, Payload(from, 60));
    }
  }
  auto log = OpenOrDie(options);
  EXPECT_GE(log->DescribeStream("s")->segment_count, 2u);
  for (uint64_t from : {0, 1, 4321, 8765, 11999}) {
    auto r = log->OpenReader("s", from);
    ASSERT_TRUE(r.ok());
    auto batch = (*r)->ReadBatch(2, 1 << 20);
    ASSERT_TRUE(batch.ok());
    ASSERT_GE(batch->size(), 1u);
    EXPECT_EQ((*batch)[0].offset, from);
    EXPECT_EQ((*batch)[0].data, Payload(from, 60));
  }
}

TEST(LogReader, DamageInsideTheAcknowledgedRangeIsCorruption) {
  TempDir dir;
  const LogOptions options = TestOptions(dir.path(), 1024);
  {
    auto log = OpenOrDie(options);
    ASSERT_TRUE(log->CreateStream("s", {}).ok());
    ASSERT_TRUE(AppendOneByOne(*log, "s", 0, 60).ok());
  }
  // Flip a bit inside the first (sealed) segment: recovery only checks the last one.
  const std::string first = SegmentPaths(dir.path(), "s").front();
  std::string bytes = ReadBytes(first);
  bytes[kSegmentHeaderSize + 40] ^= 0x04;
  WriteBytes(first, bytes);
  auto log = OpenOrDie(options);
  EXPECT_EQ(log->DescribeStream("s")->end_offset, 60u);
  auto reader = log->OpenReader("s", 0);
  ASSERT_TRUE(reader.ok());
  auto batch = (*reader)->ReadBatch(100, 1 << 20);
  EXPECT_EQ(batch.status().code(), ErrorCode::kCorruption);
  // Offsets in later segments still read.
  auto later = ReadAll(*log, "s", 30);
  ASSERT_TRUE(later.ok());
  ExpectRecords(*later, 30, 30);
}

TEST(LogReader, ReaderOutlivesTheLog) {
  TempDir dir;
  std::unique_ptr<LogReader> reader;
  {
    auto log = OpenOrDie(TestOptions(dir.path()));
    ASSERT_TRUE(log->CreateStream("s", {}).ok());
    ASSERT_TRUE(AppendOneByOne(*log, "s", 0, 5).ok());
    reader = std::move(log->OpenReader("s", 2)).value();
  }
  auto batch = reader->ReadBatch(10, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ExpectRecords(*batch, 2, 3);
}

}  // namespace
}  // namespace basin::log
