#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "storage/bucket_store.h"

namespace basin::storage::bucket_internal {

// Keys in UTF-8 byte order that can be sought: the index (an SQLite range scan) or a sorted folder
// walk (zone buckets).
class KeyCursor {
 public:
  virtual ~KeyCursor() = default;
  // Positions at the first key >= `lower`; false when there is none.
  virtual Result<bool> Seek(std::string_view lower) = 0;
  // Moves to the next key; false at the end.
  virtual Result<bool> Next() = 0;
  virtual std::string_view key() const = 0;
  // The object at the current position; nullopt if it vanished since it was found (a lake file
  // removed by compaction), and is not listed.
  virtual Result<std::optional<ObjectInfo>> Info() = 0;
};

// The smallest string greater than every string starting with `prefix`, or nullopt when there is
// none (empty, or all 0xFF bytes).
std::optional<std::string> PrefixUpperBound(std::string_view prefix);

// S3 listing over `cursor`: keys starting with `prefix` and greater than `start_after`; with a
// delimiter, keys with the delimiter after the prefix roll up into one common prefix (skipped in
// one seek, so a folder of a million keys costs one row). Objects and common prefixes each count
// against max_keys; a common prefix <= start_after was returned on an earlier page and is skipped.
Result<ListResult> ListKeys(KeyCursor& cursor, const ListRequest& request);

}  // namespace basin::storage::bucket_internal
