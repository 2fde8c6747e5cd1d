#include "log/shard_router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace basin::log {
namespace {

const char* kMax = "340282366920938463463374607431768211455";  // 2^128 - 1

Uint128 Dec(const char* s) {
  std::optional<Uint128> v = Uint128::FromDecimal(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(Uint128{});
}

void ExpectRanges(uint32_t n, const std::vector<std::pair<const char*, const char*>>& expected) {
  ShardRouter router(n);
  ASSERT_EQ(router.shard_count(), n);
  ASSERT_EQ(expected.size(), n);
  for (uint32_t i = 0; i < n; ++i) {
    EXPECT_EQ(router.range(i).start.ToDecimal(), expected[i].first) << "shard " << i;
    EXPECT_EQ(router.range(i).end.ToDecimal(), expected[i].second) << "shard " << i;
    // Both ends of each range route to it; one past the end routes to the next shard.
    EXPECT_EQ(router.ShardForHash(router.range(i).start), i);
    EXPECT_EQ(router.ShardForHash(router.range(i).end), i);
  }
}

TEST(Uint128, DecimalRoundTrip) {
  EXPECT_EQ(Uint128{}.ToDecimal(), "0");
  EXPECT_EQ(Uint128::Max().ToDecimal(), kMax);
  EXPECT_EQ((Uint128{0, 1}).ToDecimal(), "1");
  EXPECT_EQ((Uint128{1, 0}).ToDecimal(), "18446744073709551616");  // 2^64
  for (const char* s : {"0", "1", "9", "10", "18446744073709551615", "18446744073709551616",
                        "170141183460469231731687303715884105728", kMax}) {
    EXPECT_EQ(Dec(s).ToDecimal(), s);
  }
  EXPECT_EQ(Dec("18446744073709551616"), (Uint128{1, 0}));
}

TEST(Uint128, RejectsAnythingElse) {
  for (const char* s : {"", "-1", "+1", " 1", "1 ", "01", "00", "1.0", "0x10", "abc",
                        "340282366920938463463374607431768211456",    // 2^128
                        "999999999999999999999999999999999999999",    // 39 digits, too big
                        "1000000000000000000000000000000000000000"})  // 40 digits
  {
    EXPECT_FALSE(Uint128::FromDecimal(s).has_value()) << s;
  }
}

TEST(Uint128, ComparesAsNumbers) {
  EXPECT_LT((Uint128{0, ~0ULL}), (Uint128{1, 0}));
  EXPECT_LT((Uint128{1, 5}), (Uint128{2, 0}));
  EXPECT_EQ((Uint128{3, 4}), (Uint128{3, 4}));
}

TEST(ShardRouter, OneShardOwnsEverything) { ExpectRanges(1, {{"0", kMax}}); }

TEST(ShardRouter, TwoShardsSplitWhereKinesisDoes) {
  ExpectRanges(2, {{"0", "170141183460469231731687303715884105727"},
                   {"170141183460469231731687303715884105728", kMax}});
  ShardRouter router(2);
  EXPECT_EQ(router.ShardForHash(Dec("170141183460469231731687303715884105727")), 0u);
  EXPECT_EQ(router.ShardForHash(Dec("170141183460469231731687303715884105728")), 1u);
}

TEST(ShardRouter, ThreeShards) {
  ExpectRanges(
      3, {{"0", "113427455640312821154458202477256070484"},
          {"113427455640312821154458202477256070485", "226854911280625642308916404954512140969"},
          {"226854911280625642308916404954512140970", kMax}});
}

TEST(ShardRouter, FourShards) {
  ExpectRanges(
      4, {{"0", "85070591730234615865843651857942052863"},
          {"85070591730234615865843651857942052864", "170141183460469231731687303715884105727"},
          {"170141183460469231731687303715884105728", "255211775190703847597530955573826158591"},
          {"255211775190703847597530955573826158592", kMax}});
}

TEST(ShardRouter, SevenShardsLastAbsorbsRemainder) {
  // floor(2^128 / 7) = 48611766702991209066196372490252601636; 7 steps fall 4 short of 2^128.
  ShardRouter router(7);
  EXPECT_EQ(router.range(1).start.ToDecimal(), "48611766702991209066196372490252601636");
  EXPECT_EQ(router.range(6).start.ToDecimal(), "291670600217947254397178234941515609816");
  EXPECT_EQ(router.range(6).end.ToDecimal(), kMax);
  EXPECT_EQ(router.ShardForHash(Uint128::Max()), 6u);
}

TEST(ShardRouter, RangesTileTheKeySpace) {
  for (uint32_t n : {2u, 3u, 5u, 16u, 100u, 1000u, 1024u}) {
    ShardRouter router(n);
    EXPECT_EQ(router.range(0).start, Uint128{});
    EXPECT_EQ(router.range(n - 1).end, Uint128::Max());
    for (uint32_t i = 0; i + 1 < n; ++i) {
      Uint128 next = router.range(i).end;
      if (++next.lo == 0) ++next.hi;
      ASSERT_EQ(next, router.range(i + 1).start) << n << " " << i;
      ASSERT_EQ(router.ShardForHash(router.range(i).end), i);
      ASSERT_EQ(router.ShardForHash(router.range(i + 1).start), i + 1);
    }
  }
}

TEST(ShardRouter, HashKeyIsBigEndianMd5) {
  // md5("partitionKey") = 916fb4607e9099fa19225279d711a12e
  EXPECT_EQ(ShardRouter::HashKey("partitionKey").ToDecimal(),
            "193318062818912349798954611745638949166");
  EXPECT_EQ(ShardRouter::HashKey("partitionKey"),
            (Uint128{0x916fb4607e9099faULL, 0x19225279d711a12eULL}));
  // md5("a") = 0cc175b9c0f1b6a831c399e269772661
  EXPECT_EQ(ShardRouter::HashKey("a").ToDecimal(), "16955237001963240173058271559858726497");
  ShardRouter two(2);
  EXPECT_EQ(two.ShardFor("partitionKey"), 1u);  // 0x91... >= 2^127
  EXPECT_EQ(two.ShardFor("a"), 0u);             // 0x0c... <  2^127
  ShardRouter four(4);
  EXPECT_EQ(four.ShardFor("partitionKey"), 2u);  // top two bits 10
  EXPECT_EQ(four.ShardFor("a"), 0u);
  // md5("user-42") = 7631bc07a1cc8fcd56e70fc6b2fb4a43: top bits 01
  EXPECT_EQ(four.ShardFor("user-42"), 1u);
}

TEST(ShardRouter, ShardIdNames) {
  EXPECT_EQ(ShardIdName(0), "shardId-000000000000");
  EXPECT_EQ(ShardIdName(3), "shardId-000000000003");
  EXPECT_EQ(ShardIdName(1023), "shardId-000000001023");
}

}  // namespace
}  // namespace basin::log
