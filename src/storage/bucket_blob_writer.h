#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/hash.h"
#include "base/status.h"
#include "storage/object_store.h"

namespace basin::storage::bucket_internal {

// Writes one blob into an ObjectStore's layout in a single streamed pass, for content that is not
// in memory (a multipart upload's parts, concatenated): the bytes go through SHA-256 into a temp
// file under `<root>/_tmp/` (where ObjectStore::Open sweeps stale ones), and Publish fsyncs it and
// links it to `<root>/<2 hex>/<hex>` exactly as ObjectStore::PutFile would, without writing the
// bytes a second time. The temp file is removed unless published.
class StreamingBlobWriter {
 public:
  static Result<std::unique_ptr<StreamingBlobWriter>> Create(const ObjectStore& store);
  ~StreamingBlobWriter();
  StreamingBlobWriter(const StreamingBlobWriter&) = delete;
  StreamingBlobWriter& operator=(const StreamingBlobWriter&) = delete;

  Status Append(std::string_view data);
  // Appends the whole file at `path`, read in large blocks; returns how many bytes it had.
  Result<uint64_t> AppendFile(const std::string& path);
  // fsync, link to the content address, fsync the folder. Call once.
  Result<PutResult> Publish();

 private:
  StreamingBlobWriter(const ObjectStore& store, std::string path, int fd)
      : store_(store), path_(std::move(path)), fd_(fd) {}
  const ObjectStore& store_;
  std::string path_;
  int fd_;
  Sha256Hasher hasher_;
  uint64_t size_ = 0;
};

}  // namespace basin::storage::bucket_internal
