// The loader of a stream without a schema of its own (RecordFormat::kRecords): every record of
// any stream made through Kinesis or the native API becomes one row of raw.<stream>.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/base64.h"
#include "base/time_format.h"
#include "catalog/catalog.h"
#include "ingest/loader.h"
#include "ingest/record_envelope.h"
#include "ingest/record_format.h"
#include "log/log.h"
#include "observe/metrics.h"
#include "query/query_engine.h"
#include "unit/ingest/loader_fixture.h"

namespace basin::ingest {
namespace {
namespace fs = std::filesystem;

constexpr char kStream[] = "Orders-Feed";

class LoaderRecordsTest : public LoaderFixture {
 protected:
  LoaderRecordsTest() : LoaderFixture(/*durable=*/false) {}
  void SetUp() override { SetUpWithStream(kStream, 3); }

  LoaderOptions Options(const std::string& stream = kStream) {
    return TestOptions(LoaderOptionsFor(stream, RecordFormat::kRecords));
  }
  void StartLoader() { StartLoaderWith(Options()); }

  // Appends `data` as Kinesis would (an envelope) with `key`; returns its sequence number.
  std::string Put(const std::string& key, const std::string& payload) {
    RecordEnvelope envelope;
    envelope.source = RecordSource::kKinesis;
    envelope.client_ip = "198.51.100.7";
    envelope.user_agent = "aws-cli/2";
    envelope.payload = payload;
    return AppendData(key, envelope.Encode());
  }
  std::string AppendData(const std::string& key, const std::string& data) {
    auto ack = log_->Append(kStream, {log::RecordInput{key, data, std::nullopt}});
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    if (!ack.ok()) return "";
    return KinesisSequenceNumber(ack->first_offset, ack->shards[0]);
  }
};

TEST(StreamRecordsTableTest, LowerCasesAndReplacesWhatATableNameCannotHave) {
  EXPECT_EQ(StreamRecordsTable("Orders-Feed.v2"), (catalog::TableRef{"raw", "orders_feed_v2"}));
  EXPECT_EQ(StreamRecordsTable("a_b9"), (catalog::TableRef{"raw", "a_b9"}));
  EXPECT_EQ(StreamRecordsTable("orders-feed"), StreamRecordsTable("orders_feed"));
  EXPECT_TRUE(catalog::TableRef::Parse(StreamRecordsTable(std::string(128, '.')).Qualified()).ok());
  EXPECT_EQ(LoaderOptionsFor("x.y", RecordFormat::kRecords).quarantine_table,
            (catalog::TableRef{"quarantine", "x_y"}));
  EXPECT_EQ(KinesisSequenceNumber(123, 7), "49000000000000000001230007");
}

TEST_F(LoaderRecordsTest, JsonPayloadsGoToDataAndAnythingElseToDataBase64) {
  StartLoader();
  const std::string json = R"({"order_id":"o-1","total":12.5,"items":[1,2]})";
  const std::string binary = std::string("\x00\xff\xfe binary", 10);
  const std::string text = "not json at all";
  const std::string seq_json = Put("p-1", json);
  const std::string seq_binary = Put("p-2", binary);
  const std::string seq_text = Put("p-3", text);
  ASSERT_TRUE(loader_->Flush(10'000).ok());

  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.orders_feed"), 3);
  auto r = Query(
      "SELECT sequence_number, partition_key, data->>'order_id', CAST(data->>'total' AS DOUBLE), "
      "data_base64, source, client_ip, user_agent, shard FROM raw.orders_feed "
      "ORDER BY sequence_number");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0][0].s, seq_json);
  EXPECT_EQ(r.rows[0][1].s, "p-1");
  EXPECT_EQ(r.rows[0][2].s, "o-1");
  EXPECT_DOUBLE_EQ(r.rows[0][3].d, 12.5);
  EXPECT_EQ(r.rows[0][4].kind, query::Value::Kind::kNull);
  EXPECT_EQ(r.rows[0][5].s, "kinesis");
  EXPECT_EQ(r.rows[0][6].s, "198.51.100.7");
  EXPECT_EQ(r.rows[0][7].s, "aws-cli/2");
  EXPECT_EQ(r.rows[0][8].i, std::stoll(seq_json.substr(22)));

  EXPECT_EQ(r.rows[1][0].s, seq_binary);
  EXPECT_EQ(r.rows[1][2].kind, query::Value::Kind::kNull);
  EXPECT_EQ(Base64Decode(r.rows[1][4].s, Base64Padding::kRequired).value_or("?"), binary);
  EXPECT_EQ(r.rows[2][0].s, seq_text);
  EXPECT_EQ(Base64Decode(r.rows[2][4].s, Base64Padding::kRequired).value_or("?"), text);

  // Partitioned by the hour the records arrived.
  const std::string today = FormatDate(SystemClock::Instance().NowMicros());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.orders_feed WHERE dt = DATE '" + today +
                     "' AND hour = hour(ingest_time)"),
            3);
  // The whole JSON document is kept as sent.
  EXPECT_EQ(Query("SELECT CAST(data AS VARCHAR) FROM raw.orders_feed WHERE partition_key = 'p-1'")
                .rows[0][0]
                .s,
            json);
  EXPECT_EQ(*catalog_->GetStreamOffset(kStream, "loader"), 3u);
  EXPECT_EQ(loader_->stats().rows_committed, 3u);
}

TEST_F(LoaderRecordsTest, IdenticalRecordsAreAllKept) {
  StartLoader();
  for (int i = 0; i < 3; ++i) Put("same", R"({"event_id":"e1"})");
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.orders_feed"), 3);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT sequence_number) FROM raw.orders_feed"), 3);
  EXPECT_EQ(loader_->stats().duplicates_dropped, 0u);
}

TEST_F(LoaderRecordsTest, RejectedAndUndecodableRecordsGoToTheStreamsQuarantine) {
  StartLoader();
  RecordEnvelope refused;
  refused.payload = R"({"x":1})";
  refused.rejection = "ValidationFailed: the body must be a JSON object";
  AppendData("k", refused.Encode());
  AppendData("k", "\x07garbage that is no envelope");
  Put("k", R"({"x":2})");
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.orders_feed"), 1);
  EXPECT_EQ(QueryInt("SELECT CAST(data->>'x' AS INTEGER) FROM raw.orders_feed"), 2);
  auto r = Query(
      "SELECT rule, reason, record, source_stream, source_offset FROM quarantine.orders_feed "
      "ORDER BY source_offset");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0][0].s, "ingest");
  EXPECT_NE(r.rows[0][1].s.find("must be a JSON object"), std::string::npos) << r.rows[0][1].s;
  EXPECT_EQ(r.rows[0][2].s, R"({"x":1})");
  EXPECT_EQ(r.rows[0][3].s, kStream);
  EXPECT_EQ(r.rows[0][4].i, 0);
  EXPECT_EQ(r.rows[1][0].s, "envelope");
  EXPECT_EQ(r.rows[1][4].i, 1);
  EXPECT_EQ(loader_->stats().records_quarantined, 2u);
  EXPECT_EQ(loader_->stats().committed_offset, 3u);
}

TEST_F(LoaderRecordsTest, EveryRecordLandsOnceAcrossRestarts) {
  StartLoader();
  Put("a", R"({"n":1})");
  Put("b", R"({"n":2})");
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  Put("c", R"({"n":3})");  // acknowledged, not flushed: Stop() commits it or leaves it in the log
  CloseAll();
  OpenAll();
  Put("d", R"({"n":4})");
  StartLoader();
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.orders_feed"), 4);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT sequence_number) FROM raw.orders_feed"), 4);
  EXPECT_EQ(
      QueryInt("SELECT CAST(sum(CAST(data->>'n' AS INTEGER)) AS BIGINT) FROM raw.orders_feed"), 10);
  EXPECT_EQ(*catalog_->GetStreamOffset(kStream, "loader"), 4u);

  // A crash between writing a file and committing it leaves a file no commit names; the next
  // start removes it and loads those records again from the committed offset.
  loader_->Stop();
  loader_.reset();
  auto snapshot = catalog_->CurrentSnapshot({"raw", "orders_feed"});
  ASSERT_TRUE(snapshot.ok());
  ASSERT_FALSE(snapshot->files.empty());
  const fs::path orphan = fs::path(lake()) / snapshot->files[0].path;
  fs::copy_file(orphan, orphan.parent_path() / "part-orphan.parquet");
  Put("e", R"({"n":5})");
  StartLoader();
  ASSERT_TRUE(loader_->Flush(10'000).ok());
  EXPECT_FALSE(fs::exists(orphan.parent_path() / "part-orphan.parquet"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM raw.orders_feed"), 5);
  EXPECT_EQ(
      QueryInt("SELECT CAST(sum(CAST(data->>'n' AS INTEGER)) AS BIGINT) FROM raw.orders_feed"), 15);
}

TEST_F(LoaderRecordsTest, RefusesATableThatIsNotAStreamsTable) {
  // raw.orders as the batch loader declares it: text columns of the shop's export.
  ASSERT_TRUE(
      catalog_->CreateTable({"raw", "orders"}, {0, {{"order_id", "VARCHAR"}}, {}}, "raw/orders")
          .ok());
  ASSERT_TRUE(log_->CreateStream("orders", log::StreamOptions{}).ok());
  auto loader = Loader::Start(log_.get(), catalog_.get(), Options("orders"),
                              &SystemClock::Instance(), &metrics_);
  ASSERT_FALSE(loader.ok());
  EXPECT_EQ(loader.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(loader.status().message().find("raw.orders"), std::string::npos)
      << loader.status().ToString();
  auto table = catalog_->GetTable({"raw", "orders"});
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->schema.columns.size(), 1u);  // untouched
  // Nor when only its quarantine is taken; then neither table is made.
  ASSERT_TRUE(catalog_
                  ->CreateTable({"quarantine", "widgets"}, {0, {{"note", "VARCHAR"}}, {}},
                                "quarantine/widgets")
                  .ok());
  ASSERT_TRUE(log_->CreateStream("widgets", log::StreamOptions{}).ok());
  loader = Loader::Start(log_.get(), catalog_.get(), Options("widgets"), &SystemClock::Instance(),
                         &metrics_);
  EXPECT_EQ(loader.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(catalog_->GetTable({"raw", "widgets"}).status().code(), ErrorCode::kTableNotFound);
  // A stream table made earlier (the stream deleted and made again) is reused as it is.
  StartLoader();
  loader_->Stop();
  loader_.reset();
  StartLoader();
}

}  // namespace
}  // namespace basin::ingest
