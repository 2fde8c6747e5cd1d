#include "log/segment_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "base/file_util.h"
#include "log/segment_format.h"

namespace basin::log {

SegmentFile::~SegmentFile() { Close(); }

SegmentFile::SegmentFile(SegmentFile&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

SegmentFile& SegmentFile::operator=(SegmentFile&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

void SegmentFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<SegmentFile> SegmentFile::Create(const std::string& dir, uint64_t base_offset,
                                        uint64_t preallocate_bytes, bool durable) {
  const std::string path = dir + "/" + SegmentFileName(base_offset);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create " + tmp);
  SegmentFile file(fd, tmp);
  Status status = file.WriteAt(0, EncodeSegmentHeader(base_offset));
  if (status.ok())
    status = file.Preallocate(std::max<uint64_t>(preallocate_bytes, kSegmentHeaderSize));
  if (status.ok() && durable) status = file.Sync();
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename " + tmp);
  }
  if (!status.ok()) {
    file.Close();
    ::unlink(tmp.c_str());
    return status;
  }
  file.path_ = path;
  if (durable) {
    // Without this the new name may vanish in a crash after records in it were acknowledged.
    Status synced = SyncDirectory(dir);
    if (!synced.ok()) {
      file.Close();
      ::unlink(path.c_str());
      return synced;
    }
  }
  return file;
}

Result<SegmentFile> SegmentFile::Open(const std::string& path, bool writable) {
  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  return SegmentFile(fd, path);
}

Result<size_t> SegmentFile::ReadAt(uint64_t pos, char* out, size_t size) const {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, out + done, size - done, static_cast<off_t>(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path_);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status SegmentFile::WriteAt(uint64_t pos, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write " + path_);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status SegmentFile::Sync() {
  if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path_);
  return Status::Ok();
}

Status SegmentFile::Truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
    return ErrnoStatus(errno, "truncate " + path_);
  return Status::Ok();
}

Status SegmentFile::Preallocate(uint64_t size) {
  int rc = ::fallocate(fd_, 0, 0, static_cast<off_t>(size));
  if (rc == 0) return Status::Ok();
  const int err = errno;
  if (err != EOPNOTSUPP && err != ENOSYS) return ErrnoStatus(err, "preallocate " + path_);
  BASIN_ASSIGN_OR_RETURN(uint64_t current, Size());
  if (current >= size) return Status::Ok();
  return Truncate(size);
}

Result<uint64_t> SegmentFile::Size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat " + path_);
  return static_cast<uint64_t>(st.st_size);
}

Result<uint64_t> FindDataEnd(const SegmentFile& file, uint64_t from, uint64_t to) {
  constexpr size_t kChunk = 1 << 20;
  // Readahead would fill the page cache past each read with zero pages of the preallocated
  // region, which SEEK_DATA then reports as data: the scan would read the whole file.
  ::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_RANDOM);
  struct RestoreReadahead {
    int fd;
    ~RestoreReadahead() { ::posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL); }
  } restore{file.fd()};
  uint64_t end = from;
  uint64_t pos = from;
  std::vector<char> buf;
  while (pos < to) {
    uint64_t region_end = to;
    const off_t data = ::lseek(file.fd(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // nothing but a hole up to end of file
      // No SEEK_DATA support: read everything.
    } else {
      pos = static_cast<uint64_t>(data);
      if (pos >= to) break;
      const off_t hole = ::lseek(file.fd(), data, SEEK_HOLE);
      if (hole > data) region_end = std::min<uint64_t>(to, static_cast<uint64_t>(hole));
    }
    while (pos < region_end) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, region_end - pos));
      buf.resize(want);
      BASIN_ASSIGN_OR_RETURN(size_t got, file.ReadAt(pos, buf.data(), want));
      for (size_t i = got; i > 0; --i) {
        if (buf[i - 1] != 0) {
          end = pos + i;
          break;
        }
      }
      if (got < want) return end;  // end of file
      pos += got;
    }
  }
  return end;
}

}  // namespace basin::log
