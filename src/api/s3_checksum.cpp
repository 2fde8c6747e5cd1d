#include "api/s3_checksum.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <array>

#include "base/base64.h"
#include "base/crc32c.h"
#include "base/hash.h"

namespace basin::api::s3 {
namespace {

constexpr uint64_t kCrc64NvmePolynomial = 0x9a6c9329ac4bc9b5ULL;  // reflected

std::array<uint64_t, 256> MakeCrc64NvmeTable() {
  std::array<uint64_t, 256> table{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t crc = i;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) ? (crc >> 1) ^ kCrc64NvmePolynomial : crc >> 1;
    }
    table[i] = crc;
  }
  return table;
}

std::string BigEndian(uint64_t value, int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  return out;
}

std::string EvpDigest(const EVP_MD* md, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, md, nullptr);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

// The raw big-endian digest, or nullopt for an unknown algorithm.
std::optional<std::string> RawChecksum(std::string_view algorithm, std::string_view data) {
  if (algorithm == "crc32") {
    const auto crc = crc32_z(0, reinterpret_cast<const Bytef*>(data.data()), data.size());
    return BigEndian(crc, 4);
  }
  if (algorithm == "crc32c") return BigEndian(Crc32c(data), 4);
  if (algorithm == "crc64nvme") return BigEndian(Crc64Nvme(data), 8);
  if (algorithm == "sha1") return EvpDigest(EVP_sha1(), data);
  if (algorithm == "sha256") {
    const Sha256Digest digest = Sha256(data);
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
  }
  return std::nullopt;
}

size_t DigestBytes(std::string_view algorithm) {
  if (algorithm == "crc32" || algorithm == "crc32c") return 4;
  if (algorithm == "crc64nvme") return 8;
  if (algorithm == "sha1") return 20;
  return 32;
}

}  // namespace

uint64_t Crc64NvmeExtend(uint64_t crc, std::string_view data) {
  static const std::array<uint64_t, 256> kTable = MakeCrc64NvmeTable();
  crc = ~crc;
  for (char c : data) {
    crc = kTable[(crc ^ static_cast<uint8_t>(c)) & 0xFF] ^ (crc >> 8);
  }
  return ~crc;
}

std::optional<std::string> ChecksumBase64(std::string_view algorithm, std::string_view data) {
  auto raw = RawChecksum(algorithm, data);
  if (!raw) return std::nullopt;
  return Base64Encode(*raw);
}

Result<std::map<std::string, std::string>> VerifyChecksums(
    const Headers& headers, const std::map<std::string, std::string>& trailers,
    std::string_view body) {
  std::map<std::string, std::string> verified;
  for (std::string_view algorithm : kChecksumAlgorithms) {
    const std::string name = "x-amz-checksum-" + std::string(algorithm);
    std::string_view sent;
    if (auto it = headers.find(name); it != headers.end()) {
      sent = it->second;
    } else if (auto trailer = trailers.find(name); trailer != trailers.end()) {
      sent = trailer->second;
    } else {
      continue;
    }
    while (!sent.empty() && (sent.front() == ' ' || sent.front() == '\t')) sent.remove_prefix(1);
    while (!sent.empty() && (sent.back() == ' ' || sent.back() == '\t')) sent.remove_suffix(1);
    auto decoded = Base64Decode(sent);
    if (!decoded || decoded->size() != DigestBytes(algorithm)) {
      return Error(ErrorCode::kInvalidArgument,
                   "InvalidRequest: Value for " + name + " header is invalid.");
    }
    auto actual = RawChecksum(algorithm, body);
    if (*actual != *decoded) {
      return Error(ErrorCode::kInvalidArgument, "BadDigest: The " + std::string(algorithm) +
                                                    " you specified did not match the calculated "
                                                    "checksum.");
    }
    verified.emplace(std::string(algorithm), Base64Encode(*actual));
  }
  return verified;
}

Status VerifyContentMd5(std::string_view content_md5, std::string_view body) {
  if (content_md5.empty()) return Status::Ok();
  auto decoded = Base64Decode(content_md5);
  if (!decoded || decoded->size() != 16) {
    return Error(ErrorCode::kInvalidArgument,
                 "InvalidDigest: The Content-MD5 you specified is not valid.");
  }
  const Md5Digest actual = Md5(body);
  if (std::string_view(reinterpret_cast<const char*>(actual.data()), actual.size()) != *decoded) {
    return Error(ErrorCode::kInvalidArgument,
                 "BadDigest: The Content-MD5 you specified did not match what we received.");
  }
  return Status::Ok();
}

}  // namespace basin::api::s3
