#include "api/kinesis_api.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/json_writer.h"
#include "ingest/record_envelope.h"
#include "log/shard_router.h"
#include "unit/temp_dir.h"

namespace basin::api {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kSecond = 1'000'000;

std::string B64(std::string_view raw) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8) | uint8_t(raw[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < raw.size()) {
    uint32_t v = uint8_t(raw[i]) << 16;
    if (i + 1 < raw.size()) v |= uint8_t(raw[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < raw.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string Unb64(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) break;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// A parsed response body that owns its parser.
struct Json {
  dom::parser parser;
  dom::element root;
  simdjson::simdjson_result<dom::element> operator[](std::string_view key) const {
    return root[key];
  }
};

std::unique_ptr<Json> ParseJson(const std::string& text) {
  auto json = std::make_unique<Json>();
  json->root = json->parser.parse(text);
  return json;
}

std::string Str(dom::element e) { return std::string(std::string_view(e)); }

// A partition key that MD5-routes to `shard` of `shard_count`.
std::string KeyForShard(uint32_t shard, uint32_t shard_count, int skip = 0) {
  log::ShardRouter router(shard_count);
  for (int i = 0;; ++i) {
    std::string key = "key-" + std::to_string(i);
    if (router.ShardFor(key) == shard && skip-- == 0) return key;
  }
}

class KinesisApiTest : public ::testing::Test {
 protected:
  KinesisApiTest() { Open(); }

  void Open(BlockingExecutor run_blocking = nullptr,
            std::function<void(KinesisApiOptions&)> tweak = nullptr,
            std::function<Status(log::FaultPoint)> fault_hook = nullptr) {
    api_.reset();
    log_.reset();
    log::LogOptions log_options;
    log_options.dir = dir_.path();
    log_options.durable = false;
    log_options.clock = &clock_;
    // Room for a full 1 MiB Kinesis record plus its envelope.
    log_options.max_record_bytes = (1ULL << 20) + KinesisApi::kMaxEnvelopeOverhead;
    log_options.fault_hook = std::move(fault_hook);
    log_ = std::move(log::Log::Open(log_options)).value();
    KinesisApiOptions options;
    options.region = "eu-west-1";
    options.account_id = "123456789012";
    options.run_blocking = std::move(run_blocking);
    if (tweak) tweak(options);
    api_ = std::make_unique<KinesisApi>(log_.get(), &clock_, options);
  }

  HttpResponse Call(std::string_view op, const std::string& body) {
    std::promise<HttpResponse> promise;
    auto future = promise.get_future();
    KinesisCallContext call{"10.1.2.3", "test-agent/1.0"};
    api_->Handle(op, body, call, [&promise](HttpResponse r) { promise.set_value(std::move(r)); });
    return future.get();
  }

  // Calls and expects 200; returns the parsed body.
  std::unique_ptr<Json> Ok(std::string_view op, const std::string& body) {
    HttpResponse r = Call(op, body);
    EXPECT_EQ(r.status, 200) << op << " " << r.body;
    EXPECT_EQ(r.content_type, "application/x-amz-json-1.1");
    return ParseJson(r.body.empty() ? "{}" : r.body);
  }

  // Calls and expects an error of `type`; returns the message.
  std::string Fails(std::string_view op, const std::string& body, std::string_view type,
                    int status = 400) {
    HttpResponse r = Call(op, body);
    EXPECT_EQ(r.status, status) << op << " " << r.body;
    auto json = ParseJson(r.body);
    EXPECT_EQ(Str((*json)["__type"]), type) << r.body;
    return Str((*json)["message"]);
  }

  void Create(const std::string& name, int shards) {
    HttpResponse r = Call("CreateStream", R"({"StreamName":")" + name + R"(","ShardCount":)" +
                                              std::to_string(shards) + "}");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "");
  }

  // {ShardId, SequenceNumber}
  std::pair<std::string, std::string> Put(const std::string& stream, const std::string& key,
                                          const std::string& data) {
    auto json = Ok("PutRecord", R"({"StreamName":")" + stream + R"(","PartitionKey":")" + key +
                                    R"(","Data":")" + B64(data) + R"("})");
    return {Str((*json)["ShardId"]), Str((*json)["SequenceNumber"])};
  }

  std::string Iterator(const std::string& stream, uint32_t shard, const std::string& type,
                       const std::string& extra = "") {
    auto json = Ok("GetShardIterator", R"({"StreamName":")" + stream + R"(","ShardId":")" +
                                           log::ShardIdName(shard) + R"(","ShardIteratorType":")" +
                                           type + "\"" + extra + "}");
    return Str((*json)["ShardIterator"]);
  }

  struct Got {
    std::vector<std::string> data;
    std::vector<std::string> keys;
    std::vector<std::string> sequence_numbers;
    std::string next;
    int64_t millis_behind = -1;
  };
  Got Get(const std::string& iterator, int limit = 0) {
    std::string body = R"({"ShardIterator":")" + iterator + "\"";
    if (limit > 0) body += R"(,"Limit":)" + std::to_string(limit);
    auto json = Ok("GetRecords", body + "}");
    Got got;
    for (dom::element r : dom::array((*json)["Records"])) {
      got.data.push_back(Unb64(std::string_view(r["Data"])));
      got.keys.push_back(Str(r["PartitionKey"]));
      got.sequence_numbers.push_back(Str(r["SequenceNumber"]));
      EXPECT_GT(double(r["ApproximateArrivalTimestamp"]), 1.6e9);
    }
    got.next = Str((*json)["NextShardIterator"]);
    got.millis_behind = int64_t((*json)["MillisBehindLatest"]);
    return got;
  }

  test::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<KinesisApi> api_;
};

// ---- Admin ----------------------------------------------------------------------------------

TEST_F(KinesisApiTest, CreateDescribeSummaryListDelete) {
  Create("orders", 2);
  auto d = Ok("DescribeStream", R"({"StreamName":"orders"})");
  dom::element desc = (*d)["StreamDescription"];
  EXPECT_EQ(Str(desc["StreamName"]), "orders");
  EXPECT_EQ(Str(desc["StreamARN"]), "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
  EXPECT_EQ(Str(desc["StreamStatus"]), "ACTIVE");
  EXPECT_EQ(Str(desc["StreamModeDetails"]["StreamMode"]), "PROVISIONED");
  EXPECT_EQ(int64_t(desc["RetentionPeriodHours"]), 24);
  EXPECT_DOUBLE_EQ(double(desc["StreamCreationTimestamp"]), 1'700'000'000.0);
  EXPECT_FALSE(bool(desc["HasMoreShards"]));
  EXPECT_EQ(Str(desc["EncryptionType"]), "NONE");
  dom::array shards = desc["Shards"];
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(Str(shards.at(0)["ShardId"]), "shardId-000000000000");
  EXPECT_EQ(Str(shards.at(0)["HashKeyRange"]["StartingHashKey"]), "0");
  EXPECT_EQ(Str(shards.at(0)["HashKeyRange"]["EndingHashKey"]),
            "170141183460469231731687303715884105727");
  EXPECT_EQ(Str(shards.at(1)["ShardId"]), "shardId-000000000001");
  EXPECT_EQ(Str(shards.at(1)["HashKeyRange"]["StartingHashKey"]),
            "170141183460469231731687303715884105728");
  EXPECT_EQ(Str(shards.at(1)["HashKeyRange"]["EndingHashKey"]),
            "340282366920938463463374607431768211455");
  EXPECT_EQ(Str(shards.at(1)["SequenceNumberRange"]["StartingSequenceNumber"]),
            "49000000000000000000000001");
  EXPECT_TRUE(shards.at(1)["SequenceNumberRange"]["EndingSequenceNumber"].error() ==
              simdjson::NO_SUCH_FIELD);

  auto s = Ok("DescribeStreamSummary", R"({"StreamName":"orders"})");
  dom::element summary = (*s)["StreamDescriptionSummary"];
  EXPECT_EQ(Str(summary["StreamName"]), "orders");
  EXPECT_EQ(uint64_t(summary["OpenShardCount"]), 2u);
  EXPECT_EQ(uint64_t(summary["ConsumerCount"]), 0u);
  EXPECT_EQ(dom::array(summary["EnhancedMonitoring"]).size(), 1u);

  auto l = Ok("ListStreams", "{}");
  dom::array names = (*l)["StreamNames"];
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(Str(names.at(0)), "orders");
  EXPECT_FALSE(bool((*l)["HasMoreStreams"]));
  EXPECT_TRUE((*l)["NextToken"].error() == simdjson::NO_SUCH_FIELD);
  dom::element sum0 = dom::array((*l)["StreamSummaries"]).at(0);
  EXPECT_EQ(Str(sum0["StreamARN"]), "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
  EXPECT_EQ(Str(sum0["StreamStatus"]), "ACTIVE");

  HttpResponse deleted = Call("DeleteStream", R"({"StreamName":"orders"})");
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(deleted.body, "");
  Fails("DescribeStream", R"({"StreamName":"orders"})", "ResourceNotFoundException");
  Fails("DeleteStream", R"({"StreamName":"orders"})", "ResourceNotFoundException");
}

TEST_F(KinesisApiTest, CreateStreamDefaultsAndErrors) {
  ASSERT_EQ(
      Call("CreateStream", R"({"StreamName":"d","StreamModeDetails":{"StreamMode":"ON_DEMAND"}})")
          .status,
      200);
  auto s = Ok("DescribeStreamSummary", R"({"StreamName":"d"})");
  EXPECT_EQ(uint64_t((*s)["StreamDescriptionSummary"]["OpenShardCount"]), 4u);
  Fails("CreateStream", R"({"StreamName":"d","ShardCount":1})", "ResourceInUseException");
  Fails("CreateStream", R"({"StreamName":"e","ShardCount":0})", "ValidationException");
  Fails("CreateStream", R"({"StreamName":"e","ShardCount":1025})", "ValidationException");
  Fails("CreateStream", R"({"StreamName":"bad name","ShardCount":1})", "ValidationException");
  Fails("CreateStream", R"({"ShardCount":1})", "ValidationException");
  Fails("CreateStream", R"({"StreamName":"e","ShardCount":"2"})", "SerializationException");
}

TEST_F(KinesisApiTest, ResponsesCarryRequestIdAndErrorType) {
  HttpResponse ok = Call("ListStreams", "{}");
  HttpResponse err = Call("DescribeStream", R"({"StreamName":"nope"})");
  for (const HttpResponse* r : {&ok, &err}) {
    bool has_id = false;
    for (const auto& [k, v] : r->headers) has_id |= (k == "x-amzn-RequestId" && v.size() == 36);
    EXPECT_TRUE(has_id);
  }
  EXPECT_EQ(err.content_type, "application/x-amz-json-1.1");
  auto json = ParseJson(err.body);
  EXPECT_EQ(Str((*json)["message"]), "Stream nope under account 123456789012 not found.");
}

TEST_F(KinesisApiTest, ListStreamsPaginates) {
  for (const char* name : {"c", "a", "b"}) Create(name, 1);
  auto p1 = Ok("ListStreams", R"({"Limit":2})");
  dom::array n1 = (*p1)["StreamNames"];
  ASSERT_EQ(n1.size(), 2u);
  EXPECT_EQ(Str(n1.at(0)), "a");
  EXPECT_EQ(Str(n1.at(1)), "b");
  EXPECT_EQ(dom::array((*p1)["StreamSummaries"]).size(), 2u);
  EXPECT_TRUE(bool((*p1)["HasMoreStreams"]));
  std::string token = Str((*p1)["NextToken"]);
  auto p2 = Ok("ListStreams", R"({"Limit":2,"NextToken":")" + token + "\"}");
  dom::array n2 = (*p2)["StreamNames"];
  ASSERT_EQ(n2.size(), 1u);
  EXPECT_EQ(Str(n2.at(0)), "c");
  EXPECT_FALSE(bool((*p2)["HasMoreStreams"]));

  auto p3 = Ok("ListStreams", R"({"ExclusiveStartStreamName":"a"})");
  EXPECT_EQ(dom::array((*p3)["StreamNames"]).size(), 2u);
  Fails("ListStreams", R"({"Limit":0})", "ValidationException");
  Fails("ListStreams", R"({"NextToken":"garbage"})", "InvalidArgumentException");
}

TEST_F(KinesisApiTest, ListShardsPaginates) {
  Create("five", 5);
  auto p1 = Ok("ListShards", R"({"StreamName":"five","MaxResults":2})");
  dom::array s1 = (*p1)["Shards"];
  ASSERT_EQ(s1.size(), 2u);
  EXPECT_EQ(Str(s1.at(0)["ShardId"]), "shardId-000000000000");
  EXPECT_EQ(Str(s1.at(1)["ShardId"]), "shardId-000000000001");
  std::string token = Str((*p1)["NextToken"]);

  auto p2 = Ok("ListShards", R"({"NextToken":")" + token + R"(","MaxResults":2})");
  dom::array s2 = (*p2)["Shards"];
  ASSERT_EQ(s2.size(), 2u);
  EXPECT_EQ(Str(s2.at(0)["ShardId"]), "shardId-000000000002");
  auto p3 = Ok("ListShards", R"({"NextToken":")" + Str((*p2)["NextToken"]) + "\"}");
  dom::array s3 = (*p3)["Shards"];
  ASSERT_EQ(s3.size(), 1u);
  EXPECT_EQ(Str(s3.at(0)["ShardId"]), "shardId-000000000004");
  EXPECT_TRUE((*p3)["NextToken"].error() == simdjson::NO_SUCH_FIELD);

  auto after =
      Ok("ListShards", R"({"StreamName":"five","ExclusiveStartShardId":"shardId-000000000002"})");
  EXPECT_EQ(dom::array((*after)["Shards"]).size(), 2u);
  auto filtered = Ok(
      "ListShards",
      R"({"StreamName":"five","ShardFilter":{"Type":"AFTER_SHARD_ID","ShardId":"shardId-000000000003"}})");
  EXPECT_EQ(dom::array((*filtered)["Shards"]).size(), 1u);
  auto all = Ok("ListShards", R"({"StreamName":"five","ShardFilter":{"Type":"AT_LATEST"}})");
  EXPECT_EQ(dom::array((*all)["Shards"]).size(), 5u);

  Fails("ListShards", R"({"StreamName":"five","NextToken":")" + token + "\"}",
        "InvalidArgumentException");
  Fails("ListShards", R"({"NextToken":"AAAA"})", "InvalidArgumentException");
  Fails("ListShards", R"({"StreamName":"five","MaxResults":0})", "ValidationException");
  clock_.Advance(301 * kSecond);
  Fails("ListShards", R"({"NextToken":")" + token + "\"}", "ExpiredNextTokenException");
}

TEST_F(KinesisApiTest, DescribeStreamPagesShards) {
  Create("three", 3);
  auto p1 = Ok("DescribeStream", R"({"StreamName":"three","Limit":2})");
  dom::array s1 = (*p1)["StreamDescription"]["Shards"];
  ASSERT_EQ(s1.size(), 2u);
  EXPECT_TRUE(bool((*p1)["StreamDescription"]["HasMoreShards"]));
  auto p2 = Ok("DescribeStream",
               R"({"StreamName":"three","ExclusiveStartShardId":"shardId-000000000001"})");
  dom::array s2 = (*p2)["StreamDescription"]["Shards"];
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(Str(s2.at(0)["ShardId"]), "shardId-000000000002");
  EXPECT_EQ(Str(s2.at(0)["HashKeyRange"]["EndingHashKey"]),
            "340282366920938463463374607431768211455");
  EXPECT_FALSE(bool((*p2)["StreamDescription"]["HasMoreShards"]));
  Fails("DescribeStream", R"({"StreamName":"three","Limit":0})", "ValidationException");
}

TEST_F(KinesisApiTest, IteratorsFitIn512CharactersForTheLongestName) {
  const std::string name(128, 'n');
  Create(name, 1);
  EXPECT_LE(Iterator(name, 0, "TRIM_HORIZON").size(), 512u);
  EXPECT_LE(Iterator(name, 0, "AT_TIMESTAMP", R"(,"Timestamp":"2023-11-14T22:13:20Z")").size(),
            512u);
  Fails("CreateStream", R"({"StreamName":")" + std::string(129, 'n') + "\"}",
        "ValidationException");
}

TEST_F(KinesisApiTest, AcceptsStreamArn) {
  Create("arned", 1);
  const std::string arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/arned";
  EXPECT_EQ(api_->StreamArn("arned"), arn);
  auto d = Ok("DescribeStreamSummary", R"({"StreamARN":")" + arn + "\"}");
  EXPECT_EQ(Str((*d)["StreamDescriptionSummary"]["StreamName"]), "arned");
  auto put = Ok("PutRecord", R"({"StreamARN":")" + arn + R"(","PartitionKey":"k","Data":"aGk="})");
  EXPECT_EQ(Str((*put)["ShardId"]), "shardId-000000000000");
  auto it = Ok("GetShardIterator",
               R"({"StreamARN":")" + arn +
                   R"(","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"})");
  EXPECT_EQ(Get(Str((*it)["ShardIterator"])).data, std::vector<std::string>{"hi"});
  auto shards = Ok("ListShards", R"({"StreamARN":")" + arn + "\"}");
  EXPECT_EQ(dom::array((*shards)["Shards"]).size(), 1u);
  Fails("DescribeStream", R"({"StreamARN":"arn:aws:s3:::bucket"})", "ValidationException");
  Fails("DescribeStream", R"({"StreamARN":"arn:aws:kinesis:eu-west-1:123456789012:stream/other"})",
        "ResourceNotFoundException");
  HttpResponse deleted = Call("DeleteStream", R"({"StreamARN":")" + arn + "\"}");
  EXPECT_EQ(deleted.status, 200);
}

// ---- Errors common to every operation ---------------------------------------------------------

TEST_F(KinesisApiTest, BadRequests) {
  Fails("ListStreams", "{not json", "SerializationException");
  Fails("ListStreams", "[1,2]", "SerializationException");
  Fails("DescribeStream", R"({"StreamName":5})", "SerializationException");
  Fails("SubscribeToShard", "{}", "UnknownOperationException");
  // The whole X-Amz-Target is accepted too.
  auto l = Ok("Kinesis_20131202.ListStreams", "");
  EXPECT_EQ(dom::array((*l)["StreamNames"]).size(), 0u);
}

TEST_F(KinesisApiTest, UnknownStreamAndShard) {
  Fails("PutRecord", R"({"StreamName":"ghost","PartitionKey":"k","Data":""})",
        "ResourceNotFoundException");
  Fails("PutRecords", R"({"StreamName":"ghost","Records":[{"PartitionKey":"k","Data":""}]})",
        "ResourceNotFoundException");
  Fails("GetShardIterator",
        R"({"StreamName":"ghost","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"})",
        "ResourceNotFoundException");
  Fails("ListShards", R"({"StreamName":"ghost"})", "ResourceNotFoundException");
  Create("one", 1);
  Fails("GetShardIterator",
        R"({"StreamName":"one","ShardId":"shardId-000000000001","ShardIteratorType":"LATEST"})",
        "ResourceNotFoundException");
  Fails("GetShardIterator",
        R"({"StreamName":"one","ShardId":"shardId-000000000000","ShardIteratorType":"SOMETIME"})",
        "ValidationException");
}

// ---- Producers --------------------------------------------------------------------------------

TEST_F(KinesisApiTest, PutRecordWritesAnEnvelopeAndSequenceNumbersIncrease) {
  Create("s", 1);
  std::string previous;
  for (int i = 0; i < 5; ++i) {
    auto [shard, seq] = Put("s", "k" + std::to_string(i), "payload-" + std::to_string(i));
    EXPECT_EQ(shard, "shardId-000000000000");
    EXPECT_EQ(seq.size(), 26u);
    EXPECT_EQ(seq, KinesisApi::SequenceNumber(i, 0));
    // Same width, so string order is numeric order.
    EXPECT_GT(seq, previous);
    previous = seq;
  }
  auto reader = std::move(log_->OpenReader("s", 0)).value();
  auto batch = std::move(reader->ReadBatch(100, 1 << 20)).value();
  ASSERT_EQ(batch.size(), 5u);
  auto envelope = ingest::RecordEnvelope::Decode(batch[2].data);
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope->source, ingest::RecordSource::kKinesis);
  EXPECT_EQ(envelope->client_ip, "10.1.2.3");
  EXPECT_EQ(envelope->payload, "payload-2");
  EXPECT_EQ(batch[2].partition_key, "k2");
}

TEST_F(KinesisApiTest, SequenceNumberFormat) {
  EXPECT_EQ(KinesisApi::SequenceNumber(0, 0), "49000000000000000000000000");
  EXPECT_EQ(KinesisApi::SequenceNumber(123, 7), "49000000000000000001230007");
  EXPECT_EQ(KinesisApi::SequenceNumber(UINT64_MAX, 1023), "49184467440737095516151023");
  auto parsed = KinesisApi::ParseSequenceNumber("49000000000000000001230007");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->offset, 123u);
  EXPECT_EQ(parsed->shard, 7u);
  EXPECT_FALSE(KinesisApi::ParseSequenceNumber(""));
  EXPECT_FALSE(KinesisApi::ParseSequenceNumber("4900000000000000000123000"));
  EXPECT_FALSE(KinesisApi::ParseSequenceNumber("50000000000000000001230007"));
  EXPECT_FALSE(KinesisApi::ParseSequenceNumber("49000000000000000001230x07"));
  EXPECT_FALSE(KinesisApi::ParseSequenceNumber("49999999999999999999990000"));  // > 2^64-1
}

TEST_F(KinesisApiTest, PutRecordsAnswersInRequestOrderWithTheirShards) {
  Create("s", 2);
  auto r = Ok("PutRecords", R"({"StreamName":"s","Records":[)"
                            R"({"PartitionKey":"a","Data":")" +
                                B64("first") +
                                R"("},)"
                                R"({"PartitionKey":"b","Data":")" +
                                B64("second") +
                                R"("},)"
                                R"({"PartitionKey":"c","Data":")" +
                                B64("third") + R"("}]})");
  EXPECT_EQ(uint64_t((*r)["FailedRecordCount"]), 0u);
  dom::array records = (*r)["Records"];
  ASSERT_EQ(records.size(), 3u);
  log::ShardRouter router(2);
  const char* keys[] = {"a", "b", "c"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(records.at(i)["ErrorCode"].error() == simdjson::NO_SUCH_FIELD);
    EXPECT_EQ(Str(records.at(i)["ShardId"]), log::ShardIdName(router.ShardFor(keys[i])));
    auto seq = KinesisApi::ParseSequenceNumber(Str(records.at(i)["SequenceNumber"]));
    ASSERT_TRUE(seq);
    EXPECT_EQ(seq->offset, i);
  }
  EXPECT_EQ(log_->DescribeStream("s")->end_offset, 3u);
}

TEST_F(KinesisApiTest, PutRecordsWithAnInvalidEntryFailsWholeAndAppendsNothing) {
  Create("s", 2);
  const std::string big(1 << 20, 'x');  // with its key, one byte over 1 MiB
  Fails("PutRecords",
        R"({"StreamName":"s","Records":[{"PartitionKey":"a","Data":")" + B64("first") +
            R"("},{"PartitionKey":"b","Data":")" + B64(big) + R"("}]})",
        "ValidationException");
  Fails("PutRecords",
        R"({"StreamName":"s","Records":[{"PartitionKey":"a","Data":"AA=="},)"
        R"({"PartitionKey":"","Data":"AA=="}]})",
        "ValidationException");
  EXPECT_EQ(log_->DescribeStream("s")->end_offset, 0u);
}

TEST_F(KinesisApiTest, PutRecordsLimits) {
  Create("s", 1);
  auto records = [](size_t n, size_t data_bytes) {
    const std::string data = B64(std::string(data_bytes, 'd'));
    std::string body = R"({"StreamName":"s","Records":[)";
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) body += ",";
      body += R"({"PartitionKey":"k","Data":")" + data + "\"}";
    }
    return body + "]}";
  };
  Fails("PutRecords", records(501, 1), "ValidationException");
  Fails("PutRecords", records(0, 1), "ValidationException");
  Fails("PutRecords", R"({"StreamName":"s"})", "ValidationException");
  auto ok = Ok("PutRecords", records(500, 1));
  EXPECT_EQ(uint64_t((*ok)["FailedRecordCount"]), 0u);
  // 6 records of 1000000 bytes: each is fine, the request is over 5 MiB.
  Fails("PutRecords", records(6, 1'000'000), "InvalidArgumentException");
  auto five = Ok("PutRecords", records(5, 1'000'000));
  EXPECT_EQ(uint64_t((*five)["FailedRecordCount"]), 0u);
  Fails("PutRecords", R"({"StreamName":"s","Records":[{"PartitionKey":"k","Data":"!!"}]})",
        "SerializationException");
  Fails("PutRecords", R"({"StreamName":"s","Records":[5]})", "SerializationException");
}

TEST_F(KinesisApiTest, PutRecordLimits) {
  Create("s", 1);
  auto put = [](const std::string& key, size_t data_bytes) {
    return R"({"StreamName":"s","PartitionKey":")" + key + R"(","Data":")" +
           B64(std::string(data_bytes, 'd')) + "\"}";
  };
  // Data + key of exactly 1 MiB is allowed, one byte more is not.
  Ok("PutRecord", put("k", (1 << 20) - 1));
  Fails("PutRecord", put("k", 1 << 20), "ValidationException");
  Fails("PutRecord", put("", 1), "ValidationException");
  Fails("PutRecord", put(std::string(257, 'k'), 1), "ValidationException");
  Ok("PutRecord", put(std::string(256, 'k'), 1));
  // 256 characters of two bytes each: the limit counts characters.
  std::string accented;
  for (int i = 0; i < 256; ++i) accented += "\xC3\xA9";
  Ok("PutRecord", put(accented, 1));
  Fails("PutRecord", R"({"StreamName":"s","PartitionKey":"k"})", "ValidationException");
  Fails("PutRecord", R"({"StreamName":"s","Data":""})", "ValidationException");
  Fails("PutRecord", R"({"StreamName":"s","PartitionKey":"k","Data":"a"})",
        "SerializationException");
  Fails(
      "PutRecord",
      R"({"StreamName":"s","PartitionKey":"k","Data":"","ExplicitHashKey":"340282366920938463463374607431768211456"})",
      "InvalidArgumentException");
  Ok("PutRecord", R"({"StreamName":"s","PartitionKey":"k","Data":""})");
}

// ---- Routing ----------------------------------------------------------------------------------

TEST_F(KinesisApiTest, RecordsLandOnlyInTheirShard) {
  Create("two", 2);
  std::vector<std::string> in0, in1;
  for (int i = 0; i < 4; ++i) {
    in0.push_back(KeyForShard(0, 2, i));
    in1.push_back(KeyForShard(1, 2, i));
  }
  std::string body = R"({"StreamName":"two","Records":[)";
  for (int i = 0; i < 4; ++i) {
    if (i > 0) body += ",";
    body += R"({"PartitionKey":")" + in1[i] + R"(","Data":")" + B64("one-" + in1[i]) + "\"},";
    body += R"({"PartitionKey":")" + in0[i] + R"(","Data":")" + B64("zero-" + in0[i]) + "\"}";
  }
  auto r = Ok("PutRecords", body + "]}");
  dom::array records = (*r)["Records"];
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(Str(records.at(i)["ShardId"]), log::ShardIdName(i % 2 == 0 ? 1 : 0));
  }
  Got one = Get(Iterator("two", 1, "TRIM_HORIZON"));
  EXPECT_EQ(one.keys, in1);
  ASSERT_EQ(one.data.size(), 4u);
  EXPECT_EQ(one.data[0], "one-" + in1[0]);
  Got zero = Get(Iterator("two", 0, "TRIM_HORIZON"));
  EXPECT_EQ(zero.keys, in0);
  for (size_t i = 1; i < one.sequence_numbers.size(); ++i) {
    EXPECT_GT(one.sequence_numbers[i], one.sequence_numbers[i - 1]);
  }
}

TEST_F(KinesisApiTest, ExplicitHashKeyOverridesThePartitionKey) {
  Create("two", 2);
  const std::string key = KeyForShard(0, 2);
  auto r =
      Ok("PutRecord",
         R"({"StreamName":"two","PartitionKey":")" + key +
             R"(","Data":"eA==","ExplicitHashKey":"170141183460469231731687303715884105728"})");
  EXPECT_EQ(Str((*r)["ShardId"]), "shardId-000000000001");
  auto rs =
      Ok("PutRecords",
         R"({"StreamName":"two","Records":[{"PartitionKey":")" + key +
             R"(","Data":"eQ==","ExplicitHashKey":"170141183460469231731687303715884105727"}]})");
  EXPECT_EQ(Str(dom::array((*rs)["Records"]).at(0)["ShardId"]), "shardId-000000000000");
  EXPECT_EQ(Get(Iterator("two", 1, "TRIM_HORIZON")).data, std::vector<std::string>{"x"});
  EXPECT_EQ(Get(Iterator("two", 0, "TRIM_HORIZON")).data, std::vector<std::string>{"y"});
}

// ---- Consumers --------------------------------------------------------------------------------

TEST_F(KinesisApiTest, AllIteratorTypes) {
  Create("s", 1);
  std::vector<std::string> seqs;
  for (int i = 0; i < 3; ++i) seqs.push_back(Put("s", "k", "early-" + std::to_string(i)).second);
  const std::string latest = Iterator("s", 0, "LATEST");
  clock_.Advance(10 * kSecond);
  const int64_t later_seconds = clock_.NowMicros() / kSecond;
  for (int i = 0; i < 2; ++i) seqs.push_back(Put("s", "k", "late-" + std::to_string(i)).second);

  EXPECT_EQ(Get(Iterator("s", 0, "TRIM_HORIZON")).data.size(), 5u);
  EXPECT_EQ(Get(latest).data, (std::vector<std::string>{"late-0", "late-1"}));
  EXPECT_EQ(Get(Iterator("s", 0, "LATEST")).data.size(), 0u);
  EXPECT_EQ(
      Get(Iterator("s", 0, "AT_SEQUENCE_NUMBER", R"(,"StartingSequenceNumber":")" + seqs[1] + "\""))
          .data,
      (std::vector<std::string>{"early-1", "early-2", "late-0", "late-1"}));
  Got after = Get(
      Iterator("s", 0, "AFTER_SEQUENCE_NUMBER", R"(,"StartingSequenceNumber":")" + seqs[3] + "\""));
  EXPECT_EQ(after.data, std::vector<std::string>{"late-1"});
  EXPECT_EQ(after.sequence_numbers, std::vector<std::string>{seqs[4]});
  EXPECT_EQ(
      Get(Iterator("s", 0, "AT_TIMESTAMP", R"(,"Timestamp":)" + std::to_string(later_seconds - 5)))
          .data,
      (std::vector<std::string>{"late-0", "late-1"}));
  EXPECT_EQ(Get(Iterator("s", 0, "AT_TIMESTAMP", R"(,"Timestamp":1000000000.5)")).data.size(), 5u);
  Got future = Get(
      Iterator("s", 0, "AT_TIMESTAMP", R"(,"Timestamp":)" + std::to_string(later_seconds + 60)));
  EXPECT_TRUE(future.data.empty());
  clock_.Advance(120 * kSecond);
  Put("s", "k", "future");
  EXPECT_EQ(Get(future.next).data, std::vector<std::string>{"future"});
}

TEST_F(KinesisApiTest, BadStartingPoints) {
  Create("s", 2);
  const std::string seq1 = Put("s", KeyForShard(1, 2), "x").second;
  auto req = [](const std::string& shard, const std::string& type, const std::string& extra) {
    return R"({"StreamName":"s","ShardId":")" + shard + R"(","ShardIteratorType":")" + type + "\"" +
           extra + "}";
  };
  // A sequence number of another shard, one never issued, or garbage.
  Fails("GetShardIterator",
        req("shardId-000000000000", "AT_SEQUENCE_NUMBER",
            R"(,"StartingSequenceNumber":")" + seq1 + "\""),
        "InvalidArgumentException");
  Fails("GetShardIterator",
        req("shardId-000000000001", "AT_SEQUENCE_NUMBER",
            R"(,"StartingSequenceNumber":")" + KinesisApi::SequenceNumber(5, 1) + "\""),
        "InvalidArgumentException");
  Fails("GetShardIterator",
        req("shardId-000000000001", "AFTER_SEQUENCE_NUMBER", R"(,"StartingSequenceNumber":"12")"),
        "InvalidArgumentException");
  Fails("GetShardIterator", req("shardId-000000000001", "AT_SEQUENCE_NUMBER", ""),
        "InvalidArgumentException");
  Fails("GetShardIterator", req("shardId-000000000001", "AT_TIMESTAMP", ""),
        "InvalidArgumentException");
  Fails("GetShardIterator", req("shardId-000000000001", "AT_TIMESTAMP", R"(,"Timestamp":[])"),
        "SerializationException");
}

TEST_F(KinesisApiTest, GetRecordsLimitAndNextIterator) {
  Create("s", 1);
  for (int i = 0; i < 5; ++i) Put("s", "k", std::to_string(i));
  Got a = Get(Iterator("s", 0, "TRIM_HORIZON"), 2);
  EXPECT_EQ(a.data, (std::vector<std::string>{"0", "1"}));
  EXPECT_GE(a.millis_behind, 0);
  Got b = Get(a.next, 2);
  EXPECT_EQ(b.data, (std::vector<std::string>{"2", "3"}));
  Got c = Get(b.next, 2);
  EXPECT_EQ(c.data, (std::vector<std::string>{"4"}));
  Got d = Get(c.next);
  EXPECT_TRUE(d.data.empty());
  EXPECT_EQ(d.millis_behind, 0);
  EXPECT_FALSE(d.next.empty());
  Put("s", "k", "5");
  EXPECT_EQ(Get(d.next).data, std::vector<std::string>{"5"});
  Fails("GetRecords", R"({"ShardIterator":")" + d.next + R"(","Limit":0})", "ValidationException");
  Fails("GetRecords", R"({"ShardIterator":")" + d.next + R"(","Limit":10001})",
        "ValidationException");
  Fails("GetRecords", "{}", "ValidationException");
}

TEST_F(KinesisApiTest, GetRecordsStopsAtTenMiB) {
  Create("s", 1);
  const std::string mib(1'000'000, 'm');
  for (int round = 0; round < 3; ++round) {
    std::string body = R"({"StreamName":"s","Records":[)";
    for (int i = 0; i < 4; ++i) {
      if (i > 0) body += ",";
      body += R"({"PartitionKey":"k","Data":")" + B64(mib) + "\"}";
    }
    Ok("PutRecords", body + "]}");
  }
  Got first = Get(Iterator("s", 0, "TRIM_HORIZON"));
  EXPECT_EQ(first.data.size(), 10u);
  EXPECT_GE(first.millis_behind, 0);
  EXPECT_EQ(Get(first.next).data.size(), 2u);
}

TEST_F(KinesisApiTest, RawLogRecordsAreReturnedAsTheyAre) {
  Create("s", 1);
  ASSERT_TRUE(log_->Append("s", {{"pk", std::string("\x00\xFF raw", 6), std::nullopt}}).ok());
  Put("s", "pk", std::string("\x01\x02\x03", 3));
  Got got = Get(Iterator("s", 0, "TRIM_HORIZON"));
  ASSERT_EQ(got.data.size(), 2u);
  EXPECT_EQ(got.data[0], std::string("\x00\xFF raw", 6));
  EXPECT_EQ(got.data[1], std::string("\x01\x02\x03", 3));
}

TEST_F(KinesisApiTest, IteratorsExpireAfterFiveMinutes) {
  Create("s", 1);
  Put("s", "k", "v");
  const std::string it = Iterator("s", 0, "TRIM_HORIZON");
  EXPECT_LE(it.size(), 512u);
  clock_.Advance(299 * kSecond);
  Got got = Get(it);
  EXPECT_EQ(got.data.size(), 1u);
  clock_.Advance(2 * kSecond);
  Fails("GetRecords", R"({"ShardIterator":")" + it + "\"}", "ExpiredIteratorException");
  // The next iterator was issued at 299 s, so it is still good.
  EXPECT_TRUE(Get(got.next).data.empty());
}

TEST_F(KinesisApiTest, GarbageAndForgedIteratorsAreRejected) {
  Create("s", 1);
  Fails("GetRecords", R"({"ShardIterator":"not-an-iterator"})", "InvalidArgumentException");
  Fails("GetRecords", R"({"ShardIterator":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})",
        "InvalidArgumentException");
  std::string it = Iterator("s", 0, "TRIM_HORIZON");
  std::string forged = it;
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  Fails("GetRecords", R"({"ShardIterator":")" + forged + "\"}", "InvalidArgumentException");
  Fails("GetRecords", R"({"ShardIterator":")" + std::string(513, 'A') + "\"}",
        "ValidationException");
  // Iterators are sealed with the API's key: another instance does not take them.
  KinesisApiOptions other_options;
  other_options.token_secret = "another key";
  KinesisApi other(log_.get(), &clock_, other_options);
  std::promise<HttpResponse> promise;
  other.Handle("GetRecords", R"({"ShardIterator":")" + it + "\"}",
               [&](HttpResponse r) { promise.set_value(std::move(r)); });
  EXPECT_EQ(promise.get_future().get().status, 400);
}

TEST_F(KinesisApiTest, IteratorOfADeletedStreamIsNotFound) {
  Create("s", 1);
  Put("s", "k", "old");
  const std::string it = Iterator("s", 0, "TRIM_HORIZON");
  ASSERT_EQ(Call("DeleteStream", R"({"StreamName":"s"})").status, 200);
  Fails("GetRecords", R"({"ShardIterator":")" + it + "\"}", "ResourceNotFoundException");
  clock_.Advance(1);
  Create("s", 1);
  Fails("GetRecords", R"({"ShardIterator":")" + it + "\"}", "ResourceNotFoundException");
}

TEST_F(KinesisApiTest, BlockingWorkRunsOnTheExecutor) {
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  Open([&](std::function<void()> task) {
    ++ran;
    threads.emplace_back(std::move(task));
  });
  Create("s", 1);  // CreateStream runs on the executor
  Put("s", "k", "v");
  EXPECT_EQ(Get(Iterator("s", 0, "TRIM_HORIZON")).data, std::vector<std::string>{"v"});
  EXPECT_EQ(ran.load(), 2);
  for (auto& t : threads) t.join();
}

TEST_F(KinesisApiTest, GetRecordsBoundsTheScanOfOtherShards) {
  Open(nullptr, [](KinesisApiOptions& o) { o.max_scan_bytes = 10'000; });
  Create("two", 2);
  const std::string key0 = KeyForShard(0, 2);
  const std::string key1 = KeyForShard(1, 2);
  for (int i = 0; i < 10; ++i) Put("two", key0, std::string(3000, 'z'));
  Put("two", key1, "mine");
  // The first call gives up after ~10 KB of shard 0's records, with nothing yet but an
  // iterator past what it skipped; following it gets there.
  Got got = Get(Iterator("two", 1, "TRIM_HORIZON"));
  EXPECT_TRUE(got.data.empty());
  EXPECT_GT(got.millis_behind, -1);
  std::vector<std::string> data;
  for (int call = 0; call < 10 && data.empty(); ++call) {
    got = Get(got.next);
    data = got.data;
  }
  EXPECT_EQ(data, std::vector<std::string>{"mine"});
}

TEST_F(KinesisApiTest, FailedAppendsAreInternalFailures) {
  std::atomic<bool> fail{false};
  Open(nullptr, nullptr, [&fail](log::FaultPoint point) {
    if (fail && point == log::FaultPoint::kBeforeWrite) {
      return Status(ErrorCode::kIoError, "injected");
    }
    return Status::Ok();
  });
  Create("s", 1);
  fail = true;
  Fails("PutRecord", R"({"StreamName":"s","PartitionKey":"k","Data":"eA=="})", "InternalFailure",
        500);
  auto r = Ok("PutRecords", R"({"StreamName":"s","Records":[{"PartitionKey":"k","Data":"eA=="},)"
                            R"({"PartitionKey":"j","Data":"eA=="}]})");
  EXPECT_EQ(uint64_t((*r)["FailedRecordCount"]), 2u);
  dom::array records = (*r)["Records"];
  EXPECT_EQ(Str(records.at(0)["ErrorCode"]), "InternalFailure");
  EXPECT_EQ(Str(records.at(1)["ErrorCode"]), "InternalFailure");
  EXPECT_EQ(log_->DescribeStream("s")->end_offset, 0u);
  fail = false;
  auto ok =
      Ok("PutRecords", R"({"StreamName":"s","Records":[{"PartitionKey":"k","Data":"eA=="}]})");
  EXPECT_EQ(uint64_t((*ok)["FailedRecordCount"]), 0u);
}

}  // namespace
}  // namespace basin::api
