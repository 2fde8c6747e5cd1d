#include "ingest/record_envelope.h"

#include <gtest/gtest.h>

#include <random>

#include "ingest/dedup_index.h"

namespace basin::ingest {
namespace {

TEST(RecordEnvelope, RoundTrip) {
  RecordEnvelope e;
  e.source = RecordSource::kClickstreamSdk;
  e.client_ip = "203.0.113.9";
  e.user_agent = "Mozilla/5.0";
  e.payload = "{\"event_id\":\"x\"}";
  std::string bytes = e.Encode();
  auto d = RecordEnvelope::Decode(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->source, RecordSource::kClickstreamSdk);
  EXPECT_EQ(d->client_ip, "203.0.113.9");
  EXPECT_EQ(d->user_agent, "Mozilla/5.0");
  EXPECT_EQ(d->payload, "{\"event_id\":\"x\"}");
  EXPECT_EQ(RecordSourceName(d->source), "clickstream-sdk");
}

TEST(RecordEnvelope, RejectedRecordsCarryTheirReasonAndAcceptedOnesKeepVersionOne) {
  RecordEnvelope accepted;
  accepted.payload = "{}";
  EXPECT_EQ(accepted.Encode()[0], '\x01');  // the format of every record written before
  RecordEnvelope rejected;
  rejected.source = RecordSource::kClickstreamSdk;
  rejected.user_agent = "ua";
  rejected.payload = "{\"event_id\":1}";
  std::string long_reason(3000, 'r');
  rejected.rejection = long_reason;
  std::string bytes = rejected.Encode();
  EXPECT_EQ(bytes[0], '\x02');
  auto d = RecordEnvelope::Decode(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->user_agent, "ua");
  EXPECT_EQ(d->rejection.size(), 1024u);  // cut, like the user agent
  EXPECT_EQ(d->payload, "{\"event_id\":1}");
  EXPECT_TRUE(RecordEnvelope::Decode(accepted.Encode())->rejection.empty());
  // Version 2 without a reason is not something Encode writes: corruption.
  EXPECT_EQ(
      RecordEnvelope::Decode(std::string("\x02\x01\x00\x00\x00\x00\x00\x00{}", 10)).status().code(),
      ErrorCode::kCorruption);
}

TEST(RecordEnvelope, CutsLongUserAgent) {
  RecordEnvelope e;
  std::string ua(5000, 'u');
  e.user_agent = ua;
  auto d = RecordEnvelope::Decode(e.Encode());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->user_agent.size(), 1024u);
}

TEST(RecordEnvelope, GarbageIsCorruptionNeverACrash) {
  EXPECT_EQ(RecordEnvelope::Decode("").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(RecordEnvelope::Decode("\x02\x01").status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(RecordEnvelope::Decode(std::string("\x01\x09\x00\x00\x00\x00", 6)).status().code(),
            ErrorCode::kCorruption);
  EXPECT_EQ(RecordEnvelope::Decode(std::string("\x01\x01\xff\x00"
                                               "ab",
                                               6))
                .status()
                .code(),
            ErrorCode::kCorruption);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 40, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    auto d = RecordEnvelope::Decode(junk);
    if (d.ok()) {
      EXPECT_LE(d->client_ip.size() + d->user_agent.size() + d->payload.size(), junk.size());
    }
  }
}

TEST(DedupIndex, WindowAndCapacity) {
  DedupIndex index(/*window_us=*/1000, /*max_entries=*/3);
  auto k = [](const char* id) { return DedupIndex::KeyOf(id); };
  EXPECT_FALSE(k("a") == k("b"));
  index.Insert(k("a"), 100);
  index.Insert(k("b"), 200);
  index.Insert(k("c"), 300);
  EXPECT_TRUE(index.Contains(k("a")));
  index.Insert(k("d"), 400);  // over capacity: the oldest goes
  EXPECT_FALSE(index.Contains(k("a")));
  EXPECT_TRUE(index.Contains(k("d")));
  index.Expire(1250);  // window 1000: b (200) goes, c (300) stays
  EXPECT_FALSE(index.Contains(k("b")));
  EXPECT_TRUE(index.Contains(k("c")));
  EXPECT_EQ(index.size(), 2u);
  index.Insert(k("c"), 2000);  // already there: no double entry
  EXPECT_EQ(index.size(), 2u);
}

}  // namespace
}  // namespace basin::ingest
