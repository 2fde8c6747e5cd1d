#include "storage/bucket_listing.h"

namespace basin::storage::bucket_internal {

std::optional<std::string> PrefixUpperBound(std::string_view prefix) {
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
  if (upper.empty()) return std::nullopt;
  upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  return upper;
}

Result<ListResult> ListKeys(KeyCursor& cursor, const ListRequest& request) {
  ListResult out;
  if (request.max_keys <= 0) return out;
  const std::string& prefix = request.prefix;
  const std::string& start_after = request.start_after;

  // Keys are valid UTF-8 without NUL, so start_after + '\0' is the first key after start_after.
  std::string lower = prefix;
  if (!start_after.empty() && start_after >= lower) {
    lower = start_after;
    lower.push_back('\0');
  }
  BASIN_ASSIGN_OR_RETURN(bool valid, cursor.Seek(lower));
  int count = 0;
  std::string last;
  while (valid) {
    const std::string_view key = cursor.key();
    if (key.substr(0, prefix.size()) != prefix) break;  // sorted: past the prefix range

    size_t at = std::string_view::npos;
    if (!request.delimiter.empty()) at = key.find(request.delimiter, prefix.size());
    if (at != std::string_view::npos) {
      std::string common(key.substr(0, at + request.delimiter.size()));
      if (common > start_after) {
        if (count == request.max_keys) {
          out.truncated = true;
          break;
        }
        out.common_prefixes.push_back(common);
        last = common;
        ++count;
      }
      std::optional<std::string> skip_to = PrefixUpperBound(common);
      if (!skip_to) break;
      BASIN_ASSIGN_OR_RETURN(valid, cursor.Seek(*skip_to));
      continue;
    }

    BASIN_ASSIGN_OR_RETURN(std::optional<ObjectInfo> info, cursor.Info());
    if (info) {
      if (count == request.max_keys) {
        out.truncated = true;
        break;
      }
      last = info->key;
      out.objects.push_back(std::move(*info));
      ++count;
    }
    BASIN_ASSIGN_OR_RETURN(valid, cursor.Next());
  }
  if (out.truncated) out.next_marker = std::move(last);
  return out;
}

}  // namespace basin::storage::bucket_internal
