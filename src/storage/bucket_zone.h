#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace basin::storage::bucket_internal {

// A file in a zone folder, as a zone bucket shows it.
struct ZoneFile {
  std::string key;  // path relative to the zone folder, '/'-separated
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

// Whether a path segment is internal to the lake and hidden from zone buckets: names starting with
// '_' (temp folders) or '.' (also "." and ".."), and "*.tmp" files being written.
bool IsHiddenZoneSegment(std::string_view segment);

// Whether `key` can name a visible file in a zone: non-empty, no NUL, no leading '/', no empty,
// "." or ".." segment, no hidden segment.
bool IsValidZoneKey(std::string_view key);

// The visible regular files under `zone_root` whose keys start with `prefix`, sorted by key bytes.
// Symbolic links are neither followed nor listed. Only the folder named by the prefix's part up to
// its last '/' is walked. A missing zone folder is empty.
Result<std::vector<ZoneFile>> WalkZone(const std::string& zone_root, std::string_view prefix);

// The file `key` names under `zone_root`, resolved with realpath and checked to lie strictly inside
// the zone folder's real path (a symlink cannot lead out), and to be a regular file. NotFound
// otherwise (the caller makes it NoSuchKey).
Result<std::string> ResolveZoneFile(const std::string& zone_root, std::string_view key,
                                    ZoneFile* file);

// Lower-case hex MD5 of a file's bytes, with the size and mtime of the file it hashed (so a cache
// keyed by them never pairs a digest with other contents).
Result<std::string> Md5OfFile(const std::string& path, uint64_t* size, int64_t* mtime_ns);

}  // namespace basin::storage::bucket_internal
