#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"
#include "base/status.h"

namespace basin::api::s3 {

// CRC-64/NVME (the `crc64nvme` S3 checksum): reflected polynomial 0x9a6c9329ac4bc9b5, initial
// value and final XOR all ones. Crc64NvmeExtend(Crc64NvmeExtend(0, a), b) == Crc64Nvme(ab).
uint64_t Crc64NvmeExtend(uint64_t crc, std::string_view data);
inline uint64_t Crc64Nvme(std::string_view data) { return Crc64NvmeExtend(0, data); }

// The S3 flexible checksums: "crc32" (zlib), "crc32c", "crc64nvme", "sha1", "sha256".
inline constexpr std::string_view kChecksumAlgorithms[] = {"crc32", "crc32c", "crc64nvme", "sha1",
                                                           "sha256"};

// The big-endian digest of `data` under `algorithm` (4, 4, 8, 20 or 32 bytes), as S3 encodes it
// in `x-amz-checksum-<algorithm>`: standard base64. nullopt for an unknown algorithm.
std::optional<std::string> ChecksumBase64(std::string_view algorithm, std::string_view data);

// Checks every `x-amz-checksum-<algorithm>` of a request against `body`: from the headers, or
// from the aws-chunked trailers (lower-case names) the endpoint decoded. Returns the verified
// values (algorithm -> base64) to store and echo. Errors carry the S3 code as message prefix:
// "InvalidRequest: ..." for a value that is not base64 of the right length, "BadDigest: ..." for
// a mismatch.
Result<std::map<std::string, std::string>> VerifyChecksums(
    const Headers& headers, const std::map<std::string, std::string>& trailers,
    std::string_view body);

// Checks a `Content-MD5` header (absent: Ok). "InvalidDigest: ..." when it is not base64 of 16
// bytes, "BadDigest: ..." when it is not the MD5 of `body`.
Status VerifyContentMd5(std::string_view content_md5, std::string_view body);

}  // namespace basin::api::s3
