#include "log/shard_router.h"

#include <algorithm>
#include <cstdio>

#include "base/assert.h"
#include "base/hash.h"

namespace basin::log {
namespace {

using U128 = unsigned __int128;

U128 ToNative(Uint128 v) { return (static_cast<U128>(v.hi) << 64) | v.lo; }
Uint128 FromNative(U128 v) { return {static_cast<uint64_t>(v >> 64), static_cast<uint64_t>(v)}; }

// 2^128 - 1 has 39 decimal digits.
constexpr size_t kMaxDecimalDigits = 39;

}  // namespace

std::string Uint128::ToDecimal() const {
  U128 v = ToNative(*this);
  if (v == 0) return "0";
  char buf[kMaxDecimalDigits + 1];
  size_t n = 0;
  while (v != 0) {
    buf[n++] = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  }
  std::reverse(buf, buf + n);
  return std::string(buf, n);
}

std::optional<Uint128> Uint128::FromDecimal(std::string_view text) {
  // Kinesis's ExplicitHashKey pattern is 0|([1-9]\d{0,38}): no sign, no spaces, no leading zeros.
  if (text.empty() || text.size() > kMaxDecimalDigits) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  const U128 max = ~static_cast<U128>(0);
  U128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const unsigned digit = static_cast<unsigned>(c - '0');
    if (v > (max - digit) / 10) return std::nullopt;  // v * 10 + digit would pass 2^128-1
    v = v * 10 + digit;
  }
  return FromNative(v);
}

ShardRouter::ShardRouter(uint32_t shard_count) {
  BASIN_CHECK(shard_count >= 1);
  ranges_.resize(shard_count);
  if (shard_count == 1) {
    ranges_[0] = {Uint128{}, Uint128::Max()};
    return;
  }
  // floor(2^128 / N) without a 129-bit type: floor((2^128-1) / N), plus one when N divides 2^128.
  const U128 max = ~static_cast<U128>(0);
  U128 step = max / shard_count;
  if (max % shard_count == shard_count - 1) ++step;
  for (uint32_t i = 0; i < shard_count; ++i) {
    const U128 start = step * i;
    const U128 end = (i + 1 == shard_count) ? max : start + step - 1;
    ranges_[i] = {FromNative(start), FromNative(end)};
  }
}

Uint128 ShardRouter::HashKey(std::string_view partition_key) {
  const Md5Digest digest = Md5(partition_key);
  Uint128 key;
  for (int i = 0; i < 8; ++i) key.hi = (key.hi << 8) | digest[i];
  for (int i = 8; i < 16; ++i) key.lo = (key.lo << 8) | digest[i];
  return key;
}

uint32_t ShardRouter::ShardForHash(Uint128 hash_key) const {
  const uint32_t n = shard_count();
  if (n == 1) return 0;
  // Every range but the last is exactly `step` wide, so division finds the shard; keys past the
  // last full step belong to the last shard, which absorbs the remainder.
  const U128 step = ToNative(ranges_[1].start);
  const U128 index = ToNative(hash_key) / step;
  return index >= n ? n - 1 : static_cast<uint32_t>(index);
}

std::string ShardIdName(uint32_t shard) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "shardId-%012u", shard);
  return buf;
}

}  // namespace basin::log
