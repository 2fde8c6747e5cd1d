// KinesisApiOptions::on_stream_created / on_stream_deleted: how the platform starts and stops a
// stream's loader when Kinesis clients make and delete streams.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "api/kinesis_api.h"
#include "ingest/record_format.h"
#include "log/log.h"
#include "unit/temp_dir.h"

namespace basin::api {
namespace {

class KinesisStreamHooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::LogOptions log_options;
    log_options.dir = dir_.path();
    log_options.durable = false;
    log_ = std::move(log::Log::Open(log_options)).value();
    KinesisApiOptions options;
    options.on_stream_created = [this](const std::string& stream) {
      // Called once the stream exists, so that its loader can open it.
      created_.push_back(stream + (log_->HasStream(stream) ? "" : " (missing)"));
      return refuse_with_;
    };
    options.on_stream_deleted = [this](const std::string& stream) {
      deleted_.push_back(stream + (log_->HasStream(stream) ? " (still there)" : ""));
    };
    api_ = std::make_unique<KinesisApi>(log_.get(), &SystemClock::Instance(), options);
  }

  HttpResponse Call(std::string_view op, const std::string& body) {
    std::promise<HttpResponse> promise;
    api_->Handle(op, body, [&promise](HttpResponse r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  }

  test::TempDir dir_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<KinesisApi> api_;
  Status refuse_with_;
  std::vector<std::string> created_;
  std::vector<std::string> deleted_;
};

TEST_F(KinesisStreamHooksTest, CreateAndDeleteCallTheHooksAfterTheLogChanged) {
  ASSERT_EQ(Call("CreateStream", R"({"StreamName":"orders-feed","ShardCount":1})").status, 200);
  EXPECT_EQ(created_, std::vector<std::string>{"orders-feed"});
  // Not for a stream that exists already, nor for one that does not exist.
  EXPECT_EQ(Call("CreateStream", R"({"StreamName":"orders-feed","ShardCount":1})").status, 400);
  EXPECT_EQ(Call("DeleteStream", R"({"StreamName":"nope"})").status, 400);
  EXPECT_EQ(created_.size(), 1u);
  EXPECT_TRUE(deleted_.empty());
  ASSERT_EQ(Call("DeleteStream", R"({"StreamName":"orders-feed"})").status, 200);
  EXPECT_EQ(deleted_, std::vector<std::string>{"orders-feed"});
}

TEST_F(KinesisStreamHooksTest, ARefusedStreamIsDeletedAgainAndTheClientToldWhy) {
  refuse_with_ = Status(ErrorCode::kAlreadyExists,
                        "stream 'orders_feed' would load into raw.orders_feed, the table of "
                        "stream 'orders-feed'");
  HttpResponse r = Call("CreateStream", R"({"StreamName":"orders_feed","ShardCount":1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("ResourceInUseException"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("raw.orders_feed"), std::string::npos) << r.body;
  EXPECT_FALSE(log_->HasStream("orders_feed"));

  refuse_with_ = Status(ErrorCode::kIoError, "disk on fire");
  r = Call("CreateStream", R"({"StreamName":"other","ShardCount":1})");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(log_->HasStream("other"));

  refuse_with_ = Status::Ok();
  EXPECT_EQ(Call("CreateStream", R"({"StreamName":"orders_feed","ShardCount":1})").status, 200);
  EXPECT_TRUE(log_->HasStream("orders_feed"));
}

TEST(KinesisSequenceNumberTest, TheLakeAndTheApiNumberRecordsAlike) {
  for (uint64_t offset : {0ULL, 123ULL, 99'999'999'999ULL}) {
    for (uint32_t shard : {0u, 7u, 1023u}) {
      EXPECT_EQ(KinesisApi::SequenceNumber(offset, shard),
                ingest::KinesisSequenceNumber(offset, shard));
      auto parsed = KinesisApi::ParseSequenceNumber(ingest::KinesisSequenceNumber(offset, shard));
      ASSERT_TRUE(parsed.has_value());
      EXPECT_EQ(parsed->offset, offset);
      EXPECT_EQ(parsed->shard, shard);
    }
  }
}

}  // namespace
}  // namespace basin::api
