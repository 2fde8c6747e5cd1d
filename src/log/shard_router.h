#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace basin::log {

// An unsigned 128-bit integer: Kinesis hash keys. Compared as numbers.
struct Uint128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend auto operator<=>(const Uint128&, const Uint128&) = default;

  // Decimal text, as Kinesis prints StartingHashKey / EndingHashKey.
  std::string ToDecimal() const;
  // Parses decimal text 0 … 2^128-1; nullopt on anything else (used for ExplicitHashKey).
  static std::optional<Uint128> FromDecimal(std::string_view text);
  static Uint128 Max() { return {~0ULL, ~0ULL}; }
};

// The hash key range a shard owns, inclusive at both ends.
struct HashKeyRange {
  Uint128 start;
  Uint128 end;
};

// Routes records to shards exactly as Kinesis Data Streams does: the hash key is MD5 of the
// UTF-8 partition key read as a big-endian unsigned 128-bit integer (or an explicit hash key),
// and N shards split [0, 2^128-1] into N ranges of floor(2^128/N), the last one ending at
// 2^128-1. Immutable; thread-safe.
class ShardRouter {
 public:
  explicit ShardRouter(uint32_t shard_count);

  static Uint128 HashKey(std::string_view partition_key);
  uint32_t ShardFor(std::string_view partition_key) const {
    return ShardForHash(HashKey(partition_key));
  }
  uint32_t ShardForHash(Uint128 hash_key) const;

  uint32_t shard_count() const { return static_cast<uint32_t>(ranges_.size()); }
  const HashKeyRange& range(uint32_t shard) const { return ranges_[shard]; }

 private:
  std::vector<HashKeyRange> ranges_;
};

// "shardId-000000000003"
std::string ShardIdName(uint32_t shard);

}  // namespace basin::log
