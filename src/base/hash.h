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

// SHA-256 over data given in pieces (a file read in blocks, a request body as it arrives).
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  // The digest of everything given so far; the hasher may not be used afterwards.
  Sha256Digest Finish();

 private:
  void* ctx_;  // EVP_MD_CTX
};

// Lower-case hex of any bytes.
std::string HexEncode(const uint8_t* data, size_t size);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& digest) {
  return HexEncode(digest.data(), N);
}

// A fast 64-bit non-cryptographic hash (for in-memory tables, never on disk).
uint64_t Hash64(std::string_view data, uint64_t seed = 0);

}  // namespace basin
