#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/hash.h"
#include "base/status.h"

namespace basin::storage::bucket_internal {

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, no truncated sequence.
bool IsValidUtf8(std::string_view s);

// An ETag as a client sent it, for comparing: without quotes, lower case.
std::string NormalizeEtag(std::string_view etag);

// A map as stored in the index: "<len>:<name><len>:<value>..." (decimal byte lengths; any bytes,
// no escaping). DecodeMap stops at the first malformed field.
std::string EncodeMap(const std::map<std::string, std::string>& map);
std::map<std::string, std::string> DecodeMap(std::string_view text);

// `bytes` random bytes from getrandom(2), as lower-case hex (upload ids, part file names).
std::string RandomHex(size_t bytes);
// Whether `id` has the shape of an upload id (32 lower-case hex digits), checked before an id
// becomes part of a path.
bool IsUploadId(std::string_view id);
// 32 lower-case hex digits to the 16 bytes of an MD5 digest.
std::optional<Md5Digest> DecodeMd5Hex(std::string_view hex);

// Creates `path` (which must not exist) with `bytes`, fsync()ed; removed again on failure. The
// caller syncs the folder.
Status WriteFileDurably(const std::string& path, std::string_view bytes);

}  // namespace basin::storage::bucket_internal
