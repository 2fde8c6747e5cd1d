#include "storage/bucket_zone.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>

#include "base/file_util.h"
#include "base/hash.h"

namespace basin::storage::bucket_internal {
namespace fs = std::filesystem;

namespace {

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

Status NoSuchFile(std::string_view key) {
  return Error(ErrorCode::kNotFound, "no visible file '" + std::string(key) + "' in the zone");
}

// realpath(3) as a string; nullopt when the path does not resolve.
std::optional<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> resolved(::realpath(path.c_str(), nullptr), &::free);
  if (!resolved) return std::nullopt;
  return std::string(resolved.get());
}

// Appends the visible regular files under `dir` (whose key prefix is `dir_key`, "" or ending in
// '/') to `out`, skipping subtrees that cannot hold a key starting with `prefix`.
Status Walk(const std::string& dir, const std::string& dir_key, std::string_view prefix,
            std::vector<ZoneFile>* out) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) {
      return Status::Ok();
    }
    return Error(ErrorCode::kIoError, "list " + dir + ": " + ec.message());
  }
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (IsHiddenZoneSegment(name)) continue;
    const std::string key = dir_key + name;
    std::error_code entry_ec;
    const fs::file_status status = entry.symlink_status(entry_ec);
    if (entry_ec) continue;  // removed while we walked
    if (fs::is_directory(status)) {
      const std::string sub_key = key + "/";
      const size_t common = std::min(sub_key.size(), prefix.size());
      if (sub_key.compare(0, common, prefix.substr(0, common)) != 0) continue;
      BASIN_RETURN_IF_ERROR(Walk(entry.path().string(), sub_key, prefix, out));
      continue;
    }
    if (!fs::is_regular_file(status)) continue;  // symlinks, sockets, ...
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    out->push_back(ZoneFile{key, static_cast<uint64_t>(st.st_size), MtimeNs(st)});
  }
  return Status::Ok();
}

}  // namespace

bool IsHiddenZoneSegment(std::string_view segment) {
  if (segment.empty()) return true;
  if (segment.front() == '_' || segment.front() == '.') return true;
  return segment.size() >= 4 && segment.substr(segment.size() - 4) == ".tmp";
}

bool IsValidZoneKey(std::string_view key) {
  if (key.empty() || key.size() > 1024 || key.front() == '/') return false;
  if (key.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  for (;;) {
    const size_t slash = key.find('/', start);
    const std::string_view segment =
        key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (IsHiddenZoneSegment(segment)) return false;  // also "", "." and ".."
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

Result<std::vector<ZoneFile>> WalkZone(const std::string& zone_root, std::string_view prefix) {
  std::vector<ZoneFile> files;
  if (prefix.find('\0') != std::string_view::npos) return files;
  // Start at the folder the prefix names, if every one of its segments is a real (not symlinked),
  // visible folder; otherwise nothing can match.
  const size_t last_slash = prefix.rfind('/');
  std::string dir = zone_root;
  std::string dir_key;
  if (last_slash != std::string_view::npos) {
    const std::string_view folder = prefix.substr(0, last_slash);
    if (!IsValidZoneKey(folder)) return files;
    size_t start = 0;
    while (start <= folder.size()) {
      size_t slash = folder.find('/', start);
      if (slash == std::string_view::npos) slash = folder.size();
      dir += "/";
      dir.append(folder.substr(start, slash - start));
      struct stat st {};
      if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return files;
      start = slash + 1;
    }
    dir_key = std::string(folder) + "/";
  }
  BASIN_RETURN_IF_ERROR(Walk(dir, dir_key, prefix, &files));
  std::sort(files.begin(), files.end(),
            [](const ZoneFile& a, const ZoneFile& b) { return a.key < b.key; });
  return files;
}

Result<std::string> ResolveZoneFile(const std::string& zone_root, std::string_view key,
                                    ZoneFile* file) {
  if (!IsValidZoneKey(key)) return NoSuchFile(key);
  std::optional<std::string> root = RealPath(zone_root);
  if (!root) return NoSuchFile(key);
  std::optional<std::string> path = RealPath(zone_root + "/" + std::string(key));
  if (!path || path->size() <= root->size() + 1 || path->compare(0, root->size(), *root) != 0 ||
      (*path)[root->size()] != '/') {
    return NoSuchFile(key);
  }
  struct stat st {};
  if (::stat(path->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NoSuchFile(key);
  if (file != nullptr)
    *file = ZoneFile{std::string(key), static_cast<uint64_t>(st.st_size), MtimeNs(st)};
  return std::move(*path);
}

Result<std::string> Md5OfFile(const std::string& path, uint64_t* size, int64_t* mtime_ns) {
  BASIN_ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));
  struct stat before {};
  if (::fstat(file.fd(), &before) != 0) return ErrnoStatus(errno, "stat " + path);
  const size_t length = static_cast<size_t>(before.st_size);
  std::string hex;
  if (length == 0) {
    hex = HexEncode(Md5(std::string_view()));
  } else {
    void* map = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, file.fd(), 0);
    if (map == MAP_FAILED) return ErrnoStatus(errno, "map " + path);
    ::madvise(map, length, MADV_SEQUENTIAL);
    hex = HexEncode(Md5(std::string_view(static_cast<const char*>(map), length)));
    ::munmap(map, length);
  }
  struct stat after {};
  if (::fstat(file.fd(), &after) != 0) return ErrnoStatus(errno, "stat " + path);
  if (after.st_size != before.st_size || MtimeNs(after) != MtimeNs(before)) {
    return Error(ErrorCode::kConflict, path + " changed while it was hashed");
  }
  *size = static_cast<uint64_t>(before.st_size);
  *mtime_ns = MtimeNs(before);
  return hex;
}

}  // namespace basin::storage::bucket_internal
