#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin::log {

// An open segment file: owns the file descriptor and offers the few positioned, Status-returning
// operations the log needs (pread, pwrite, fdatasync, truncate, preallocate). Knows nothing of
// frames. Movable, not copyable. The writer thread owns the active segment's SegmentFile; each
// reader opens its own read-only one. pread/pwrite do not share a file position, so concurrent
// use of one object from several threads is safe for ReadAt only.
class SegmentFile {
 public:
  SegmentFile() = default;
  ~SegmentFile();
  SegmentFile(SegmentFile&& other) noexcept;
  SegmentFile& operator=(SegmentFile&& other) noexcept;
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  // Creates `<dir>/<SegmentFileName(base_offset)>` holding only a segment header and
  // preallocated to `preallocate_bytes`. The file appears under its name only when complete: it
  // is written as `<name>.tmp`, synced, renamed, and the directory synced (syncs are skipped
  // when `durable` is false). A crash leaves either no segment or a complete empty one.
  static Result<SegmentFile> Create(const std::string& dir, uint64_t base_offset,
                                    uint64_t preallocate_bytes, bool durable);
  static Result<SegmentFile> Open(const std::string& path, bool writable);

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Reads up to `size` bytes at `pos`; fewer only at end of file. Returns the count read.
  Result<size_t> ReadAt(uint64_t pos, char* out, size_t size) const;
  Status WriteAt(uint64_t pos, std::string_view data);
  Status Sync();  // fdatasync
  Status Truncate(uint64_t size);
  // Allocates disk blocks up to `size` bytes (growing the file with zeros if shorter) so that
  // later writes below `size` do not change the file size; falls back to ftruncate where the
  // file system cannot preallocate.
  Status Preallocate(uint64_t size);
  Result<uint64_t> Size() const;
  void Close();

 private:
  SegmentFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Returns one past the last non-zero byte in [from, to) of `file`, or `from` when every byte
// there is zero. Skips holes cheaply where the file system reports them (SEEK_DATA).
Result<uint64_t> FindDataEnd(const SegmentFile& file, uint64_t from, uint64_t to);

}  // namespace basin::log
