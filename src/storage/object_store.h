#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin::storage {

// 5 GiB: the largest single PUT that S3 accepts.
inline constexpr uint64_t kDefaultMaxObjectBytes = 5ULL << 30;

struct ObjectStoreOptions {
  uint64_t max_object_bytes = kDefaultMaxObjectBytes;  // a larger Put fails with PayloadTooLarge
};

// What a Put stored.
struct PutResult {
  std::string sha256;  // the content address: 64 lower-case hex digits
  uint64_t size_bytes = 0;
  bool already_stored = false;  // the same bytes were in the store before this Put
};

// Blobs stored by content: the bytes with SHA-256 digest `<hex>` live in
// `<root>/<first 2 hex>/<hex>` (no extension), so identical content is stored once however often
// it is put. The root is `<lake>/raw/objects` (see RootUnderLake).
//
// A Put streams the bytes through SHA-256 into a private temp file under `<root>/_tmp/`, fsyncs
// it, and links it to its address; if the address exists already the temp is removed. A blob
// under its address is therefore always complete and durable, and a crash leaves at most a temp
// file (removed by the next Open once it is an hour old). Keys are only ever 64 lower-case hex
// digits, checked on every call, so no key can name a path outside the store.
//
// Layout and guarantees: docs/formats/objects.md. Thread-safe, also across processes sharing the
// root: concurrent Puts of the same bytes store one blob, and exactly one of them reports
// already_stored = false.
class ObjectStore {
 public:
  // Creates the root (and `_tmp`) if missing and removes temp files older than an hour.
  static Result<std::unique_ptr<ObjectStore>> Open(std::string root,
                                                   ObjectStoreOptions options = {});
  // `<lake_root>/raw/objects`.
  static std::string RootUnderLake(std::string_view lake_root);
  // Whether `key` is a valid content address (64 lower-case hex digits).
  static bool IsValidKey(std::string_view key);

  // Stores the bytes of the local file `path`, read once. NotFound/IoError for an unreadable
  // file, PayloadTooLarge past the limit, DiskFull; on any failure nothing is left behind.
  Result<PutResult> PutFile(const std::string& path);
  // Stores `bytes` (an upload already in memory). Same errors as PutFile.
  Result<PutResult> PutBytes(std::string_view bytes);

  // The file holding blob `key` (it may not exist). InvalidArgument for an invalid key.
  Result<std::string> Path(std::string_view key) const;
  Result<bool> Exists(std::string_view key) const;
  // The blob's size. NotFound if it is not stored.
  Result<uint64_t> Size(std::string_view key) const;
  // The blob's bytes, if it has at most `max_bytes`. NotFound, PayloadTooLarge.
  Result<std::string> Read(std::string_view key, uint64_t max_bytes) const;
  // Deletes the blob (lifecycle, garbage collection of blobs no catalog row names). NotFound if
  // it is not stored. The caller makes sure nothing references it any more.
  Status Remove(std::string_view key);

  const std::string& root() const { return root_; }
  const ObjectStoreOptions& options() const { return options_; }

 private:
  class TempBlob;
  ObjectStore(std::string root, ObjectStoreOptions options)
      : root_(std::move(root)), options_(options) {}
  Result<PutResult> Publish(TempBlob& temp, const std::string& hex, uint64_t size);
  void RemoveStaleTempFiles() const;

  std::string root_;
  ObjectStoreOptions options_;
};

}  // namespace basin::storage
