#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "log/log.h"
#include "observe/metrics.h"
#include "unit/log/log_test_util.h"

namespace basin::log {
namespace {

using testing::OpenOrDie;
using testing::Payload;
using testing::ReadAll;
using testing::Rec;
using testing::TempDir;
using testing::TestOptions;

TEST(LogAppend, AppendThenReadBack) {
  TempDir dir;
  FakeClock clock(5'000'000);
  LogOptions options = TestOptions(dir.path());
  options.clock = &clock;
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {.shard_count = 4}).ok());

  Result<AppendAck> a = log->Append("s", {Rec("a", "one"), Rec("partitionKey", "two")});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->first_offset, 0u);
  EXPECT_EQ(a->append_time_us, 5'000'000);
  EXPECT_EQ(a->shards, (std::vector<uint32_t>{0, 2}));  // see shard_router_test
  clock.Advance(10);
  Result<AppendAck> b = log->Append("s", {Rec("user-42", std::string("\0bin\0", 5))});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first_offset, 2u);
  EXPECT_EQ(b->shards, (std::vector<uint32_t>{1}));

  auto records = ReadAll(*log, "s");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].partition_key, "a");
  EXPECT_EQ((*records)[0].data, "one");
  EXPECT_EQ((*records)[1].shard, 2u);
  EXPECT_EQ((*records)[2].offset, 2u);
  EXPECT_EQ((*records)[2].data, std::string("\0bin\0", 5));
  EXPECT_EQ((*records)[2].append_time_us, 5'000'010);

  Result<StreamInfo> info = log->DescribeStream("s");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->start_offset, 0u);
  EXPECT_EQ(info->end_offset, 3u);
  EXPECT_EQ(info->segment_count, 1u);
  EXPECT_EQ(info->options.shard_count, 4u);
  EXPECT_EQ(info->created_time_us, 5'000'000);
  EXPECT_EQ(info->size_bytes,
            kSegmentHeaderSize + FrameSize(1, 3) + FrameSize(12, 3) + FrameSize(7, 5));
}

TEST(LogAppend, ExplicitHashKeyOverridesPartitionKey) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(log->CreateStream("s", {.shard_count = 2}).ok());
  RecordInput r = Rec("a", "x");  // "a" alone routes to shard 0
  r.explicit_hash_key = Uint128::FromDecimal("170141183460469231731687303715884105728");
  RecordInput low = Rec("partitionKey", "y");  // alone routes to shard 1
  low.explicit_hash_key = Uint128{};
  Result<AppendAck> ack = log->Append("s", {r, low, Rec("a", "z")});
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->shards, (std::vector<uint32_t>{1, 0, 0}));
  auto records = ReadAll(*log, "s");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].shard, 1u);
  EXPECT_EQ((*records)[1].shard, 0u);
}

TEST(LogAppend, ValidatesRecords) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path());
  options.max_record_bytes = 100;
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());

  EXPECT_EQ(log->Append("nope", {Rec("k", "d")}).status().code(), ErrorCode::kStreamNotFound);
  EXPECT_EQ(log->Append("s", {Rec("", "d")}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(log->Append("s", {Rec(std::string(257, 'k'), "")}).status().code(),
            ErrorCode::kInvalidArgument);
  // Key + data count against the limit, as in Kinesis.
  EXPECT_EQ(log->Append("s", {Rec("k", std::string(100, 'd'))}).status().code(),
            ErrorCode::kRecordTooLarge);
  // One bad record rejects the whole batch: nothing of it is appended.
  EXPECT_EQ(log->Append("s", {Rec("k", "fine"), Rec("k", std::string(200, 'd'))}).status().code(),
            ErrorCode::kRecordTooLarge);
  EXPECT_EQ(log->DescribeStream("s")->end_offset, 0u);

  // The limits themselves are allowed. 256 two-byte characters are 256 characters.
  EXPECT_TRUE(log->Append("s", {Rec("k", std::string(99, 'd'))}).ok());
  EXPECT_TRUE(log->Append("s", {Rec(std::string(100, 'k'), "")}).ok());
  LogOptions big = options;
  big.dir = dir.path() + "/other";
  big.max_record_bytes = 4096;
  auto log2 = OpenOrDie(big);
  ASSERT_TRUE(log2->CreateStream("s", {}).ok());
  std::string e_acute_256;
  for (int i = 0; i < 256; ++i) e_acute_256 += "\xc3\xa9";
  EXPECT_TRUE(log2->Append("s", {Rec(std::string(256, 'k'), "")}).ok());
  EXPECT_TRUE(log2->Append("s", {Rec(e_acute_256, "")}).ok());
  EXPECT_EQ(log2->Append("s", {Rec(e_acute_256 + "x", "")}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadAll(*log2, "s")->at(1).partition_key, e_acute_256);
}

TEST(LogAppend, EmptyBatchIsAckedAtOnce) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  ASSERT_TRUE(log->Append("s", {Rec("k", "1"), Rec("k", "2")}).ok());
  bool called = false;
  log->AppendAsync("s", {}, [&](Result<AppendAck> ack) {
    called = true;
    ASSERT_TRUE(ack.ok());
    EXPECT_EQ(ack->first_offset, 2u);
    EXPECT_TRUE(ack->shards.empty());
  });
  EXPECT_TRUE(called);  // synchronously
  EXPECT_EQ(log->Append("nope", {}).status().code(), ErrorCode::kStreamNotFound);
}

TEST(LogAppend, StreamNamesAndOptions) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
        std::string("a b"), std::string(129, 'x'), std::string("~creating-x")}) {
    EXPECT_EQ(log->CreateStream(bad, {}).code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(log->CreateStream("s", {.shard_count = 0}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(log->CreateStream("s", {.shard_count = 1025}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(log->CreateStream("s", {.retention_hours = 0}).code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(log->HasStream("s"));
  EXPECT_TRUE(log->CreateStream(std::string(128, 'x'), {}).ok());
  ASSERT_TRUE(log->CreateStream("s", {.shard_count = 1024}).ok());
  EXPECT_EQ(log->CreateStream("s", {}).code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(log->HasStream("s"));
  std::vector<StreamInfo> all = log->ListStreams();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "s");
  EXPECT_EQ(all[1].name, std::string(128, 'x'));
  EXPECT_EQ(log->DescribeStream("zzz").status().code(), ErrorCode::kStreamNotFound);
  EXPECT_EQ(log->OpenReader("zzz", 0).status().code(), ErrorCode::kStreamNotFound);
  EXPECT_EQ(log->DeleteStream("zzz").code(), ErrorCode::kStreamNotFound);
  EXPECT_EQ(log->ApplyRetention("zzz", 0).status().code(), ErrorCode::kStreamNotFound);
}

TEST(LogAppend, BadLogOptions) {
  TempDir dir;
  LogOptions o = TestOptions(dir.path());
  o.segment_bytes = 100;
  EXPECT_EQ(Log::Open(o).status().code(), ErrorCode::kInvalidArgument);
  o = TestOptions(dir.path());
  o.max_record_bytes = 0;
  EXPECT_EQ(Log::Open(o).status().code(), ErrorCode::kInvalidArgument);
  o.max_record_bytes = (64 << 20) + 1;
  EXPECT_EQ(Log::Open(o).status().code(), ErrorCode::kInvalidArgument);
  o = TestOptions("");
  EXPECT_EQ(Log::Open(o).status().code(), ErrorCode::kInvalidArgument);
  o = TestOptions(dir.path());
  o.clock = nullptr;
  EXPECT_EQ(Log::Open(o).status().code(), ErrorCode::kInvalidArgument);
}

TEST(LogAppend, OneLogPerDirectory) {
  TempDir dir;
  auto first = OpenOrDie(TestOptions(dir.path()));
  EXPECT_EQ(Log::Open(TestOptions(dir.path())).status().code(), ErrorCode::kUnavailable);
  first.reset();
  EXPECT_TRUE(Log::Open(TestOptions(dir.path())).ok());
}

TEST(LogAppend, StreamsSurviveReopenWithOptions) {
  TempDir dir;
  FakeClock clock(42);
  LogOptions options = TestOptions(dir.path());
  options.clock = &clock;
  {
    auto log = OpenOrDie(options);
    ASSERT_TRUE(
        log->CreateStream("s", {.shard_count = 3, .retention_hours = 48, .retention_bytes = 9})
            .ok());
    ASSERT_TRUE(log->Append("s", {Rec("k", "v")}).ok());
  }
  auto log = OpenOrDie(options);
  Result<StreamInfo> info = log->DescribeStream("s");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->options.shard_count, 3u);
  EXPECT_EQ(info->options.retention_hours, 48);
  EXPECT_EQ(info->options.retention_bytes, 9u);
  EXPECT_EQ(info->created_time_us, 42);
  EXPECT_EQ(info->end_offset, 1u);
  ASSERT_EQ(log->recovery_report().streams.size(), 1u);
  EXPECT_EQ(log->recovery_report().streams[0].records_recovered, 1u);
  EXPECT_EQ(log->recovery_report().streams[0].reason, "");
  EXPECT_EQ(log->recovery_report().streams[0].bytes_truncated, 0u);
}

TEST(LogAppend, DeleteStreamRemovesItAndTheNameCanBeReused) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  ASSERT_TRUE(log->Append("s", {Rec("k", "old")}).ok());
  auto reader = log->OpenReader("s", 0);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(log->DeleteStream("s").ok());
  EXPECT_FALSE(log->HasStream("s"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/s"));
  EXPECT_EQ(log->Append("s", {Rec("k", "v")}).status().code(), ErrorCode::kStreamNotFound);
  EXPECT_EQ((*reader)->ReadBatch(10, 1 << 20).status().code(), ErrorCode::kStreamNotFound);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  Result<AppendAck> ack = log->Append("s", {Rec("k", "new")});
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->first_offset, 0u);
  auto records = ReadAll(*log, "s");
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].data, "new");
  // Only the stream directories and the lock file are left behind.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
}

TEST(LogAppend, CloseCommitsQueuedAppendsThenRefusesNewOnes) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path());
  // Hold the first group in fsync so that the others queue up behind it.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  bool in_sync = false;
  options.fault_hook = [&](FaultPoint point) {
    if (point == FaultPoint::kBeforeSync) {
      std::unique_lock lock(mu);
      in_sync = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
    return Status::Ok();
  };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  auto count = [&](Result<AppendAck> r) {
    if (r.ok()) ++ok;
    ++done;
  };
  log->AppendAsync("s", {Rec("k", "first")}, count);
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_sync; });
  }
  for (int i = 0; i < 20; ++i) log->AppendAsync("s", {Rec("k", Payload(i))}, count);
  std::thread closer([&] { log->Close(); });
  // Close must wait for the queue; let the writer go.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  closer.join();
  EXPECT_EQ(done.load(), 21);
  EXPECT_EQ(ok.load(), 21);
  EXPECT_EQ(log->Append("s", {Rec("k", "late")}).status().code(), ErrorCode::kShuttingDown);
  EXPECT_EQ(log->CreateStream("t", {}).code(), ErrorCode::kShuttingDown);
  EXPECT_EQ(log->DeleteStream("s").code(), ErrorCode::kShuttingDown);
  EXPECT_EQ(log->ApplyRetention("s", 0).status().code(), ErrorCode::kShuttingDown);
  log->Close();  // idempotent
  // Reading still works after Close.
  auto records = ReadAll(*log, "s");
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 21u);
  log.reset();
  auto reopened = OpenOrDie(TestOptions(dir.path()));
  EXPECT_EQ(reopened->DescribeStream("s")->end_offset, 21u);
}

TEST(LogAppend, CallbackMayCloseTheLog) {
  TempDir dir;
  auto log = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  std::atomic<bool> called{false};
  log->AppendAsync("s", {Rec("k", "v")}, [&](Result<AppendAck> r) {
    EXPECT_TRUE(r.ok());
    log->Close();  // from the writer thread: must not deadlock
    called = true;
  });
  log->Close();
  EXPECT_TRUE(called.load());
}

// Many threads appending at once: every append is acknowledged, offsets are unique and dense,
// each thread's appends keep its order, and group commit needs fewer fsyncs than appends.
TEST(LogGroupCommit, ConcurrentAppendsShareFsyncs) {
  TempDir dir;
  observe::MetricsRegistry metrics;
  LogOptions options = TestOptions(dir.path(), 1 << 20);
  options.metrics = &metrics;
  std::atomic<int> syncs{0};
  options.fault_hook = [&](FaultPoint point) {
    if (point == FaultPoint::kBeforeSync) ++syncs;
    return Status::Ok();
  };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {.shard_count = 4}).ok());

  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::mutex mu;
  std::vector<std::vector<uint64_t>> offsets(kThreads);
  std::atomic<int> failures{0};
  std::atomic<int> pending{kThreads * kPerThread};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<RecordInput> batch;
        const int n = 1 + (i % 3);
        for (int j = 0; j < n; ++j) {
          batch.push_back(
              Rec("t" + std::to_string(t), std::to_string(t) + ":" + std::to_string(i)));
        }
        log->AppendAsync("s", std::move(batch), [&, t](Result<AppendAck> r) {
          if (!r.ok()) {
            ++failures;
          } else {
            std::lock_guard lock(mu);
            for (size_t k = 0; k < r->shards.size(); ++k) offsets[t].push_back(r->first_offset + k);
          }
          --pending;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(failures.load(), 0);

  std::set<uint64_t> all;
  uint64_t total = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(std::is_sorted(offsets[t].begin(), offsets[t].end())) << "thread " << t;
    total += offsets[t].size();
    all.insert(offsets[t].begin(), offsets[t].end());
  }
  EXPECT_EQ(all.size(), total);         // unique
  EXPECT_EQ(*all.rbegin() + 1, total);  // dense from 0
  EXPECT_EQ(log->DescribeStream("s")->end_offset, total);

  // The records read back carry what each thread sent, at the offsets its acks named.
  auto records = ReadAll(*log, "s");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), total);
  for (int t = 0; t < kThreads; ++t) {
    for (uint64_t off : offsets[t]) {
      ASSERT_EQ((*records)[off].partition_key, "t" + std::to_string(t));
    }
  }

  const int appends = kThreads * kPerThread;
  EXPECT_GT(syncs.load(), 0);
  EXPECT_LT(syncs.load(), appends);
  const observe::Labels labels{{"stream", "s"}};
  EXPECT_EQ(metrics.GetCounter("basin_log_fsyncs_total", "", labels).value(),
            static_cast<uint64_t>(syncs.load()));
  EXPECT_EQ(metrics.GetCounter("basin_log_append_requests_total", "", labels).value(),
            static_cast<uint64_t>(appends));
  EXPECT_EQ(metrics.GetCounter("basin_log_records_total", "", labels).value(), total);
  EXPECT_GT(metrics.GetCounter("basin_log_bytes_total", "", labels).value(), total * 3);
  auto& fsync_seconds =
      metrics.GetHistogram("basin_log_fsync_seconds", "", observe::Histogram::LatencySeconds());
  EXPECT_EQ(fsync_seconds.count(), static_cast<uint64_t>(syncs.load()));
  std::vector<double> group_bounds;
  for (double b = 1; b <= 65536; b *= 2) group_bounds.push_back(b);
  auto& group = metrics.GetHistogram("basin_log_group_commit_records", "", group_bounds);
  EXPECT_EQ(group.count(), static_cast<uint64_t>(syncs.load()));
  EXPECT_EQ(static_cast<uint64_t>(group.sum()), total);
}

// While one fsync runs, new appends pile up and go out together in the next one.
TEST(LogGroupCommit, AppendsQueuedDuringAnFsyncShareTheNext) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path());
  std::mutex mu;
  std::condition_variable cv;
  int syncs = 0;
  bool release = false;
  options.fault_hook = [&](FaultPoint point) {
    if (point == FaultPoint::kBeforeSync) {
      std::unique_lock lock(mu);
      ++syncs;
      cv.notify_all();
      if (syncs == 1) cv.wait(lock, [&] { return release; });
    }
    return Status::Ok();
  };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("a", {}).ok());
  ASSERT_TRUE(log->CreateStream("b", {}).ok());
  std::atomic<int> done{0};
  std::vector<uint64_t> first_offsets(31);
  log->AppendAsync("a", {Rec("k", "0")}, [&](Result<AppendAck> r) {
    ASSERT_TRUE(r.ok());
    ++done;
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return syncs == 1; });
  }
  for (int i = 0; i < 30; ++i) {
    log->AppendAsync(i % 2 ? "a" : "b", {Rec("k", Payload(i))}, [&, i](Result<AppendAck> r) {
      ASSERT_TRUE(r.ok());
      first_offsets[i] = r->first_offset;
      ++done;
    });
  }
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  while (done.load() < 31) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::lock_guard lock(mu);
  // One fsync for the first append, then one per stream for the 30 that waited.
  EXPECT_EQ(syncs, 3);
  // Offsets follow queue order within each stream.
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(first_offsets[i], static_cast<uint64_t>(i % 2 ? 1 + i / 2 : i / 2)) << i;
  }
}

TEST(LogGroupCommit, NonDurableModeNeverSyncs) {
  TempDir dir;
  LogOptions options = TestOptions(dir.path());
  options.durable = false;
  std::atomic<int> syncs{0};
  options.fault_hook = [&](FaultPoint point) {
    if (point == FaultPoint::kBeforeSync || point == FaultPoint::kAfterSync) ++syncs;
    return Status::Ok();
  };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log->CreateStream("s", {}).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->Append("s", {Rec("k", Payload(i))}).ok());
  EXPECT_EQ(syncs.load(), 0);
  EXPECT_EQ(ReadAll(*log, "s")->size(), 50u);
}

}  // namespace
}  // namespace basin::log
