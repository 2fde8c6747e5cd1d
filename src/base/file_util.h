#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"

namespace basin {

// Thin, Status-returning wrappers over POSIX file calls, for the places that need durability
// (fsync of files and of the directories that name them). errno is mapped to a code:
// ENOSPC/EDQUOT -> DiskFull, ENOENT -> NotFound, anything else -> IoError.
Status ErrnoStatus(int err, std::string_view what);

Status CreateDirectories(const std::string& path);
// fsync()s a directory so that the names created or removed in it are durable.
Status SyncDirectory(const std::string& path);
// Writes `data` to `path` durably: temp file, fsync, rename, fsync of the directory.
Status WriteFileAtomically(const std::string& path, std::string_view data);
Result<std::string> ReadFile(const std::string& path, uint64_t max_size);
// fsync()s an existing file by path.
Status SyncFile(const std::string& path);

// A file opened for reading, closed when this goes out of scope.
class ReadOnlyFile {
 public:
  // NotFound / IoError (ErrnoStatus) if it cannot be opened.
  static Result<ReadOnlyFile> Open(const std::string& path);
  ReadOnlyFile(ReadOnlyFile&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
    other.fd_ = -1;
  }
  ReadOnlyFile& operator=(ReadOnlyFile&&) = delete;
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ~ReadOnlyFile();
  int fd() const { return fd_; }

  // Reads the next `want` bytes into `buffer`, fewer only at the end of the file (0 there);
  // retries interrupted reads. IoError (ErrnoStatus, naming the path) otherwise.
  Result<size_t> ReadUpTo(char* buffer, size_t want);

 private:
  ReadOnlyFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace basin
