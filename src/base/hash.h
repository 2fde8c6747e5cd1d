#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace basin {

using Md5Digest = std::array<uint8_t, 16>;
using Sha256Digest = std::array<uint8_t, 32>;

Md5Digest Md5(std::string_view data);
Sha256Digest Sha256(std::string_view data);

// Lower-case hex of any bytes.
std::string HexEncode(const uint8_t* data, size_t size);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& digest) {
  return HexEncode(digest.data(), N);
}

// A fast 64-bit non-cryptographic hash (for in-memory tables, never on disk).
uint64_t Hash64(std::string_view data, uint64_t seed = 0);

}  // namespace basin
