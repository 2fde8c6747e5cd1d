#include "ingest/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "base/time_format.h"
#include "catalog/catalog.h"
#include "ingest/compactor.h"
#include "ingest/record_envelope.h"
#include "ingest/stream_ingestor.h"
#include "log/log.h"
#include "observe/metrics.h"
#include "query/parquet_file_writer.h"
#include "query/query_engine.h"
#include "unit/ingest/loader_fixture.h"

namespace basin::ingest {
namespace {
namespace fs = std::filesystem;

// 2026-11-20T10:15:00Z: a closed hour, so the compactor may merge it.
constexpr int64_t kEventMs = 1'795'169'700'000;

class LoaderTest : public LoaderFixture {
 protected:
  void SetUp() override { SetUpWithStream("clickstream", 2); }

  void StartLoader(size_t dedup_entries = 1'000'000) {
    LoaderOptions options = TestOptions(LoaderOptions{});
    options.dedup_max_entries = dedup_entries;
    StartLoaderWith(options);
  }

  static std::string Event(const std::string& id, int64_t ms = kEventMs) {
    return R"({"event_id":")" + id + R"(","event_type":"page_view","timestamp":)" +
           std::to_string(ms) + "}";
  }

  // Appends raw record data (an envelope or anything else) straight to the log.
  void AppendData(const std::string& data) {
    auto ack = log_->Append("clickstream", {log::RecordInput{"k", data, std::nullopt}});
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  }
  void AppendEvents(const std::vector<std::string>& ids, int64_t ms = kEventMs) {
    for (const auto& id : ids) {
      RecordEnvelope envelope;
      envelope.client_ip = "192.0.2.1";
      envelope.user_agent = "test";
      const std::string event = Event(id, ms);
      envelope.payload = event;
      AppendData(envelope.Encode());
    }
  }
};

TEST_F(LoaderTest, CommitsTypedRowsAndOffsetTogether) {
  StartLoader();
  AppendEvents({"a", "b", "c"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream WHERE dt = DATE '2026-11-20' AND "
                     "hour = 10 AND client_ip = '192.0.2.1' AND source = 'api'"),
            3);
  EXPECT_EQ(*catalog_->GetStreamOffset("clickstream", "loader"), 3u);
  EXPECT_EQ(loader_->stats().rows_committed, 3u);
}

TEST_F(LoaderTest, DropsRepeatsWithinABatchAcrossBatchesAndAcrossRestarts) {
  StartLoader();
  AppendEvents({"a", "a", "b"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  AppendEvents({"b", "c"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(loader_->stats().duplicates_dropped, 2u);
  CloseAll();
  OpenAll();
  StartLoader();  // rebuilds the recent ids from the lake
  AppendEvents({"c", "d"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(loader_->stats().duplicates_dropped, 1u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 4);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT event_id) FROM raw.clickstream"), 4);
}

TEST_F(LoaderTest, RestartResumesFromTheCommittedOffsetWithoutRepeats) {
  StartLoader();
  AppendEvents({"a", "b"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  AppendEvents({"c"});  // acknowledged, not yet loaded
  loader_.reset();      // Stop() commits what it has
  CloseAll();
  OpenAll();
  AppendEvents({"d"});
  StartLoader();
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 4);
  EXPECT_EQ(*catalog_->GetStreamOffset("clickstream", "loader"), 4u);
}

TEST_F(LoaderTest, RemovesFilesNoCommitRefersTo) {
  StartLoader();
  AppendEvents({"a"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  loader_->Stop();
  loader_.reset();
  // What a crash between writing a file and committing it leaves behind.
  fs::path partition = fs::path(lake()) / "raw/clickstream/dt=2026-11-20/hour=10";
  std::ofstream(partition / "part-orphan.parquet") << "half a file";
  std::ofstream(partition / "part-x.parquet.tmp") << "half a file";
  StartLoader();
  EXPECT_FALSE(fs::exists(partition / "part-orphan.parquet"));
  EXPECT_FALSE(fs::exists(partition / "part-x.parquet.tmp"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 1);
}

TEST_F(LoaderTest, AFailedWriteIsRetriedAndLosesNothing) {
  StartLoader();
  // Make the partition folder impossible to create (a file stands in its place); root ignores
  // permissions, so this is how the test provokes a real I/O failure.
  fs::create_directories(fs::path(lake()) / "raw/clickstream/dt=2026-11-20");
  fs::path blocker = fs::path(lake()) / "raw/clickstream/dt=2026-11-20/hour=10";
  std::ofstream(blocker) << "in the way";
  AppendEvents({"a", "b"});
  Status flushed = loader_->Flush(500);
  EXPECT_EQ(flushed.code(), ErrorCode::kUnavailable) << flushed.ToString();
  EXPECT_GE(
      metrics_.GetCounter("basin_loader_commit_failures_total", "", {{"stream", "clickstream"}})
          .value(),
      1u);
  fs::remove(blocker);
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 2);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT event_id) FROM raw.clickstream"), 2);
}

TEST_F(LoaderTest, RecordsThatCannotBeTypedGoToQuarantineWithTheirReason) {
  StartLoader();
  AppendData("\x07garbage that is no envelope");
  RecordEnvelope envelope;
  envelope.payload = R"({"event_id":"x","event_type":"page_view"})";  // no timestamp
  AppendData(envelope.Encode());
  AppendEvents({"good"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 1);
  auto r = engine_->Execute(
      "SELECT rule, reason, record, source_offset FROM quarantine.clickstream ORDER BY "
      "source_offset");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[0][0].s, "envelope");
  EXPECT_EQ(r->rows[0][3].i, 0);
  EXPECT_EQ(r->rows[1][0].s, "schema");
  EXPECT_NE(r->rows[1][1].s.find("timestamp"), std::string::npos);
  EXPECT_EQ(r->rows[1][2].s, envelope.payload);
  EXPECT_EQ(loader_->stats().records_quarantined, 2u);
  // Every record is in exactly one place: rows + quarantined + duplicates = records read.
  EXPECT_EQ(loader_->stats().committed_offset, 3u);
}

TEST_F(LoaderTest, EventsRejectedAtIngestGoToQuarantineWithTheReasonTheClientWasGiven) {
  StartLoader();
  RecordEnvelope refused;
  // A valid event, refused by a front end (e.g. the Clickstream SDK mapping): it must not load.
  const std::string payload = Event("refused");
  refused.payload = payload;
  refused.rejection = "ValidationFailed: app_id 'other' is not the request's appId";
  AppendData(refused.Encode());
  AppendEvents({"good"});
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 1);
  auto r = engine_->Execute("SELECT rule, reason, record FROM quarantine.clickstream");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0].s, "ingest");
  EXPECT_NE(r->rows[0][1].s.find("not the request's appId"), std::string::npos) << r->rows[0][1].s;
  EXPECT_EQ(r->rows[0][2].s, payload);
  EXPECT_EQ(loader_->stats().records_quarantined, 1u);
}

TEST_F(LoaderTest, CompactionMergesSmallFilesDedupsAndKeepsSnapshots) {
  StartLoader(/*dedup_entries=*/0);  // let repeats through, for the compactor to catch
  for (int batch = 0; batch < 4; ++batch) {
    AppendEvents({"e" + std::to_string(batch), "e" + std::to_string(batch + 1)});
    ASSERT_TRUE(loader_->Flush(10'000).ok());
  }
  auto before = catalog_->CurrentSnapshot({"raw", "clickstream"});
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->files.size(), 4u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 8);

  FakeClock clock(SystemClock::Instance().NowMicros());
  CompactorOptions options;
  options.lake_root = lake();
  options.tables.push_back({{"raw", "clickstream"}, "event_id", "ingest_time", "event_time"});
  Compactor compactor(catalog_.get(), options, &clock, &metrics_);
  auto outcome = compactor.RunOnce();
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->files_removed, 4);
  EXPECT_EQ(outcome->files_written, 1);
  EXPECT_EQ(outcome->rows_deduplicated, 3);  // e1, e2, e3 arrived twice

  auto after = catalog_->CurrentSnapshot({"raw", "clickstream"});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->files.size(), 1u);
  EXPECT_EQ(after->files[0].row_count, 5);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 5);
  // The old snapshot's files stay readable until the grace period has passed.
  for (const auto& f : before->files) EXPECT_TRUE(fs::exists(fs::path(lake()) / f.path));
  auto gc = compactor.RunOnce();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->files_deleted, 0);
  clock.Advance(options.removed_file_grace_us + 1'000'000);
  gc = compactor.RunOnce();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->files_deleted, 4);
  for (const auto& f : before->files) EXPECT_FALSE(fs::exists(fs::path(lake()) / f.path));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 5);
}

TEST_F(LoaderTest, CompactionLeavesFilesAPipelineHasNotReadYet) {
  StartLoader();
  for (int batch = 0; batch < 3; ++batch) {
    AppendEvents({"f" + std::to_string(batch)});
    ASSERT_TRUE(loader_->Flush(10'000).ok());
  }
  const catalog::TableRef table{"raw", "clickstream"};
  const std::string stream = catalog::TableConsumerStream(table);
  ASSERT_TRUE(catalog_->RegisterConsumer(stream, "pipeline:events").ok());

  FakeClock clock(SystemClock::Instance().NowMicros());
  CompactorOptions options;
  options.lake_root = lake();
  options.tables.push_back({table, "event_id", "ingest_time", "event_time"});
  Compactor compactor(catalog_.get(), options, &clock, &metrics_);
  auto outcome = compactor.RunOnce();
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->files_removed, 0);  // the pipeline has read nothing yet

  // The pipeline reads the first two commits; only those files may be merged.
  auto snapshot = catalog_->CurrentSnapshot(table);
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->files.size(), 3u);
  catalog::CommitRequest read;
  read.offsets.push_back(
      {stream, "pipeline:events", 0, static_cast<uint64_t>(snapshot->files[1].added_snapshot_id)});
  ASSERT_TRUE(catalog_->Commit(read).ok());
  outcome = compactor.RunOnce();
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->files_removed, 2);
  auto fresh = catalog_->NewFilesSince(snapshot->table_id, snapshot->files[1].added_snapshot_id,
                                       catalog_->CurrentSnapshot(table)->id);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ((*fresh)[0].path, snapshot->files[2].path);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.clickstream"), 3);
}

TEST_F(LoaderTest, CompactionMergesAnUnpartitionedTableAcrossSchemaVersions) {
  const catalog::TableRef runs{"ops", "runs"};
  auto table = catalog_->CreateTable(runs, {0, {{"id", "BIGINT"}}, {}}, "ops/runs");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  auto db = query::DuckDb::Open();
  ASSERT_TRUE(db.ok());
  auto append = [&](const std::string& name, const std::string& select) {
    auto written = query::WriteParquet(**db, select, lake() + "/ops/runs/" + name);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    catalog::DataFile file;
    file.path = "ops/runs/" + name;
    file.row_count = written->row_count;
    file.size_bytes = written->size_bytes;
    ASSERT_TRUE(catalog_->CommitAppend(table->id, {file}, std::nullopt).ok());
  };
  append("a.parquet", "SELECT 1::BIGINT AS id");
  // A later file has a column the first lacks.
  ASSERT_TRUE(
      catalog_->EvolveSchema(table->id, {0, {{"id", "BIGINT"}, {"note", "VARCHAR"}}, {}}).ok());
  append("b.parquet", "SELECT 2::BIGINT AS id, 'second' AS note");

  FakeClock clock(SystemClock::Instance().NowMicros());
  CompactorOptions options;
  options.lake_root = lake();
  options.open_partition_min_files = 2;
  options.tables.push_back({runs, "", "", "id"});
  Compactor compactor(catalog_.get(), options, &clock, &metrics_);
  auto outcome = compactor.RunOnce();
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->files_written, 1);
  auto after = catalog_->CurrentSnapshot(runs);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->files.size(), 1u);
  EXPECT_EQ(after->files[0].path.rfind("ops/runs/compact-", 0), 0u) << after->files[0].path;
  auto rows = engine_->Execute("SELECT id, coalesce(note, '-') FROM ops.runs ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->rows.size(), 2u);
  EXPECT_EQ(rows->rows[0][1].s, "-");
  EXPECT_EQ(rows->rows[1][1].s, "second");
}

TEST_F(LoaderTest, IngestorAcknowledgesOnlyDurableRecordsAndReportsRejections) {
  StreamIngestor ingestor(log_.get(), IngestLimits{}, &SystemClock::Instance(), &metrics_);
  ingestor.SetStreamFormat("clickstream", StreamFormat::kClickstream);
  IngestRequest request;
  request.stream = "clickstream";
  request.body = "[" + Event("a") + ",{\"event_id\":\"b\"}," + Event("c") + "]";
  std::promise<Result<IngestResult>> promise;
  ingestor.Ingest(request, [&](Result<IngestResult> r) { promise.set_value(std::move(r)); });
  auto result = promise.get_future().get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->accepted, 2u);
  ASSERT_EQ(result->rejected.size(), 1u);
  EXPECT_EQ(result->rejected[0].index, 1u);
  // The rejected event is kept in the log too, marked with its reason.
  EXPECT_EQ(log_->DescribeStream("clickstream")->end_offset, 3u);

  request.stream = "nope";
  std::promise<Result<IngestResult>> missing;
  ingestor.Ingest(request, [&](Result<IngestResult> r) { missing.set_value(std::move(r)); });
  EXPECT_EQ(missing.get_future().get().status().code(), ErrorCode::kStreamNotFound);

  request.stream = "clickstream";
  request.content_encoding = "br";
  std::promise<Result<IngestResult>> brotli;
  ingestor.Ingest(request, [&](Result<IngestResult> r) { brotli.set_value(std::move(r)); });
  EXPECT_EQ(brotli.get_future().get().status().code(), ErrorCode::kUnsupportedEncoding);
}

}  // namespace
}  // namespace basin::ingest
