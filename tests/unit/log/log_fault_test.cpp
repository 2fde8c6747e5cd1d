#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>

#include "log/log.h"
#include "unit/log/log_test_util.h"

namespace basin::log {
namespace {

using testing::OpenOrDie;
using testing::ReadAll;
using testing::Rec;
using testing::SegmentPaths;
using testing::TempDir;
using testing::TestOptions;

// Fails every call at `point` while armed.
struct Injector {
  std::atomic<bool> armed{false};
  std::atomic<int> hits{0};
  FaultPoint point = FaultPoint::kBeforeWrite;
  Status failure{ErrorCode::kIoError, "injected"};
  FaultPoint second_point = FaultPoint::kBeforeRollback;
  bool also_fail_second = false;

  Status operator()(FaultPoint p) {
    if (!armed.load()) return Status::Ok();
    if (p == point || (also_fail_second && p == second_point)) {
      ++hits;
      return failure;
    }
    return Status::Ok();
  }
};

std::vector<RecordInput> Batch(const std::string& tag, int n) {
  std::vector<RecordInput> out;
  for (int i = 0; i < n; ++i) out.push_back(Rec("k" + std::to_string(i), tag + std::to_string(i)));
  return out;
}

// 12 frames of 79 bytes fill a 1 KiB segment to byte 980: a group of one more such record has
// to roll, a tiny one (32 bytes) would still fit.
constexpr int kFill = 12;
std::string FillData(int i) {
  std::string s = "a" + std::to_string(i);
  s.resize(48, 'x');
  return s;
}

std::vector<std::string> Datas(const std::vector<LogRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.data);
  return out;
}

std::string Name(FaultPoint p) {
  switch (p) {
    case FaultPoint::kBeforeRoll: return "BeforeRoll";
    case FaultPoint::kAfterRoll: return "AfterRoll";
    case FaultPoint::kBeforeWrite: return "BeforeWrite";
    case FaultPoint::kAfterWrite: return "AfterWrite";
    case FaultPoint::kBeforeSync: return "BeforeSync";
    case FaultPoint::kAfterSync: return "AfterSync";
    case FaultPoint::kBeforeRollback: return "BeforeRollback";
  }
  return "?";
}

class FaultTest : public ::testing::TestWithParam<FaultPoint> {};

// A failure at any step of a group commit: the group is not acknowledged, later appends work
// and take its offsets, readers never see it, and after a reopen every acknowledged record is
// there and nothing of the failed group is.
TEST_P(FaultTest, FailedGroupIsNeverAcknowledgedNorVisible) {
  const FaultPoint point = GetParam();
  const bool roll = point == FaultPoint::kBeforeRoll || point == FaultPoint::kAfterRoll;
  TempDir dir;
  auto injector = std::make_shared<Injector>();
  injector->point = point;
  LogOptions options = TestOptions(dir.path(), roll ? 1024 : 64 << 10);
  options.fault_hook = [injector](FaultPoint p) { return (*injector)(p); };

  std::vector<std::string> acked;
  {
    auto log = OpenOrDie(options);
    ASSERT_TRUE(log->CreateStream("s", {}).ok());
    for (int i = 0; i < kFill; ++i) {
      ASSERT_TRUE(log->Append("s", {Rec("k", FillData(i))}).ok());
      acked.push_back(FillData(i));
    }
    injector->armed = true;
    // Several appends, in one or more groups: all of them fail. (Only the group that rolls hits
    // a roll step, so those get a single append.)
    const int failing = roll ? 1 : 3;
    std::atomic<int> failed{0};
    std::atomic<int> done{0};
    for (int i = 0; i < failing; ++i) {
      std::vector<RecordInput> b = {Rec("k", FillData(100 + i)), Rec("k", FillData(200 + i))};
      log->AppendAsync("s", std::move(b), [&](Result<AppendAck> r) {
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kIoError) << r.status().ToString();
        failed += !r.ok();
        ++done;
      });
    }
    while (done.load() < failing) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(failed.load(), failing);
    EXPECT_GE(injector->hits.load(), 1);
    EXPECT_EQ(log->DescribeStream("s")->end_offset, uint64_t{kFill});
    EXPECT_EQ(Datas(*ReadAll(*log, "s")), acked);

    injector->armed = false;
    auto ack = log->Append("s", Batch("c-", 2));
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    EXPECT_EQ(ack->first_offset, uint64_t{kFill});  // the failed group's offsets are reused
    acked.push_back("c-0");
    acked.push_back("c-1");
    EXPECT_EQ(Datas(*ReadAll(*log, "s")), acked);
    if (roll) {
      EXPECT_EQ(log->DescribeStream("s")->segment_count, 2u);
    }
  }
  auto log = OpenOrDie(options);
  EXPECT_EQ(log->recovery_report().streams.at(0).reason, "");
  EXPECT_EQ(Datas(*ReadAll(*log, "s")), acked);
  ASSERT_TRUE(log->Append("s", Batch("d-", 1)).ok());
  EXPECT_EQ(log->DescribeStream("s")->end_offset, uint64_t{kFill} + 3);
}

INSTANTIATE_TEST_SUITE_P(AllSteps, FaultTest,
                         ::testing::Values(FaultPoint::kBeforeRoll, FaultPoint::kAfterRoll,
                                           FaultPoint::kBeforeWrite, FaultPoint::kAfterWrite,
                                           FaultPoint::kBeforeSync, FaultPoint::kAfterSync),
                         [](const auto& info) { return Name(info.param); });

TEST(Fault, DiskFullIsReportedAsDiskFull) {
  TempDir dir;
  auto injector = std::make_shared<Injector>();
  injector->point = FaultPoint::kAfterWrite;
  injector->failure = Status(ErrorCode::kDiskFull, "No space left on device");
  LogOptions options = TestOptions(dir.path());
  options.fault_hook = [injector](FaultPoint p) { return (*injector)(p); };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  injector->armed = true;
  EXPECT_EQ(log->Append("s", Batch("x", 1)).status().code(), ErrorCode::kDiskFull);
  // Any other failure code is an I/O error to the caller.
  injector->failure = Status(ErrorCode::kInternal, "odd");
  EXPECT_EQ(log->Append("s", Batch("x", 1)).status().code(), ErrorCode::kIoError);
  injector->armed = false;
  EXPECT_TRUE(log->Append("s", Batch("x", 1)).ok());
}

// If the failed group cannot even be undone, the stream stops taking appends (Unavailable)
// rather than risk exposing the unacknowledged bytes; reads of acknowledged records go on.
TEST(Fault, FailedUndoMakesTheStreamUnavailable) {
  TempDir dir;
  auto injector = std::make_shared<Injector>();
  injector->point = FaultPoint::kAfterWrite;
  injector->also_fail_second = true;  // kBeforeRollback
  LogOptions options = TestOptions(dir.path());
  options.fault_hook = [injector](FaultPoint p) { return (*injector)(p); };
  {
    auto log = OpenOrDie(options);
    ASSERT_TRUE(log->CreateStream("s", {}).ok());
    ASSERT_TRUE(log->CreateStream("other", {}).ok());
    ASSERT_TRUE(log->Append("s", Batch("a", 3)).ok());
    injector->armed = true;
    EXPECT_EQ(log->Append("s", Batch("b", 2)).status().code(), ErrorCode::kIoError);
    injector->armed = false;
    EXPECT_EQ(log->Append("s", Batch("c", 1)).status().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(log->DescribeStream("s")->end_offset, 3u);
    EXPECT_EQ(Datas(*ReadAll(*log, "s")), (std::vector<std::string>{"a0", "a1", "a2"}));
    // Other streams are unaffected.
    EXPECT_TRUE(log->Append("other", Batch("o", 1)).ok());
  }
  // Reopening recovers. The failed group's bytes were never cut, so (as documented) they may
  // come back as records after a restart; acknowledged ones are all there either way.
  auto log = OpenOrDie(options);
  auto records = ReadAll(*log, "s");
  ASSERT_TRUE(records.ok());
  std::vector<std::string> data = Datas(*records);
  ASSERT_TRUE(data.size() == 3 || data.size() == 5) << data.size();
  EXPECT_EQ(std::vector<std::string>(data.begin(), data.begin() + 3),
            (std::vector<std::string>{"a0", "a1", "a2"}));
  if (data.size() == 5) {
    EXPECT_EQ(data[3], "b0");
  }
  auto ack = log->Append("s", Batch("d", 1));
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->first_offset, data.size());
}

// A roll that fails after sealing the old segment (here: creating the successor fails) leaves
// the old segment closed for good: the next group rolls first even if it would fit.
TEST(Fault, FailedRollNeverReusesTheSealedSegment) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path(), 1024);
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  for (int i = 0; i < kFill; ++i) ASSERT_TRUE(log->Append("s", {Rec("k", FillData(i))}).ok());
  const std::string blocker = dir.path() + "/s/" + SegmentFileName(kFill) + ".tmp";
  std::filesystem::create_directory(blocker);  // the successor cannot be created
  auto failed = log->Append("s", {Rec("k", FillData(99))});
  EXPECT_EQ(failed.status().code(), ErrorCode::kIoError) << failed.status().ToString();
  const std::string first = SegmentPaths(dir.path(), "s")[0];
  EXPECT_EQ(std::filesystem::file_size(first), 980u);  // sealed: trimmed to its data
  std::filesystem::remove(blocker);
  auto ack = log->Append("s", {Rec("k", "c")});
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->first_offset, uint64_t{kFill});
  auto paths = SegmentPaths(dir.path(), "s");
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(std::filesystem::path(paths[1]).filename().string(), SegmentFileName(kFill));
  EXPECT_EQ(std::filesystem::file_size(first), 980u);
  log.reset();
  log = OpenOrDie(options);
  auto records = ReadAll(*log, "s");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), size_t{kFill} + 1);
  EXPECT_EQ(records->back().data, "c");
}

}  // namespace
}  // namespace basin::log
