#include "storage/bucket_blob_writer.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/logging.h"

namespace basin::storage::bucket_internal {
namespace {

constexpr size_t kReadBlockBytes = 1 << 20;

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

uint64_t RandomU64() {
  uint64_t value = 0;
  if (::getrandom(&value, sizeof value, 0) != sizeof value) {
    value = static_cast<uint64_t>(::getpid()) ^ static_cast<uint64_t>(MonotonicNanos());
  }
  return value;
}

}  // namespace

Result<std::unique_ptr<StreamingBlobWriter>> StreamingBlobWriter::Create(const ObjectStore& store) {
  const std::string dir = store.root() + "/_tmp";
  for (int attempt = 0; attempt < 8; ++attempt) {
    char name[64];
    std::snprintf(name, sizeof name, "put-%d-%016llx", static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(RandomU64()));
    std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      return std::unique_ptr<StreamingBlobWriter>(
          new StreamingBlobWriter(store, std::move(path), fd));
    }
    if (errno != EEXIST) return ErrnoStatus(errno, "create " + path);
  }
  return Error(ErrorCode::kIoError, "could not create a unique temp file in " + dir);
}

StreamingBlobWriter::~StreamingBlobWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

Status StreamingBlobWriter::Append(std::string_view data) {
  hasher_.Update(data);
  size_ += data.size();
  return WriteAll(fd_, data, path_);
}

Result<uint64_t> StreamingBlobWriter::AppendFile(const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));
  ::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> block(kReadBlockBytes);
  uint64_t appended = 0;
  for (;;) {
    ssize_t n = ::read(file.fd(), block.data(), block.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path);
    }
    if (n == 0) return appended;
    BASIN_RETURN_IF_ERROR(Append(std::string_view(block.data(), static_cast<size_t>(n))));
    appended += static_cast<uint64_t>(n);
  }
}

Result<PutResult> StreamingBlobWriter::Publish() {
  if (::fsync(fd_) != 0) return ErrnoStatus(errno, "fsync " + path_);
  ::close(fd_);
  fd_ = -1;
  const std::string hex = HexEncode(hasher_.Finish());
  BASIN_ASSIGN_OR_RETURN(std::string final_path, store_.Path(hex));
  const std::string dir = store_.root() + "/" + hex.substr(0, 2);
  if (::mkdir(dir.c_str(), 0755) == 0) {
    BASIN_RETURN_IF_ERROR(SyncDirectory(store_.root()));
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "create directory " + dir);
  }
  // link() fails with EEXIST if the address is taken: identical bytes are stored once.
  if (::link(path_.c_str(), final_path.c_str()) == 0) {
    BASIN_RETURN_IF_ERROR(SyncDirectory(dir));
    return PutResult{hex, size_, false};
  }
  const int err = errno;
  if (err == EEXIST) {
    struct stat st {};
    if (::stat(final_path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == size_) {
      return PutResult{hex, size_, true};
    }
    BASIN_LOG(Error, "storage") << "blob " << hex << " had the wrong size on disk; rewritten";
  } else if (err != EPERM && err != EOPNOTSUPP && err != EXDEV && err != EMLINK) {
    return ErrnoStatus(err, "link blob " + hex);
  }
  // No hard links here (or a repair): rename, which may replace an identical blob.
  if (::rename(path_.c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus(errno, "rename blob " + hex);
  }
  path_.clear();
  BASIN_RETURN_IF_ERROR(SyncDirectory(dir));
  return PutResult{hex, size_, false};
}

}  // namespace basin::storage::bucket_internal
