#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace basin::storage {

// S3 semantics over Basin's storage: named buckets of keyed objects, with ETags, user metadata,
// listing in key order, copies and multipart uploads. The S3 front end (api::S3Api) is a thin wire
// layer over this; nothing here knows HTTP or XML.
//
// Two kinds of bucket:
//  - Stored buckets (created by CreateBucket, plus `landing`, which Open creates): object bytes
//    are kept content-addressed in a storage::ObjectStore under `<data_dir>/buckets/blobs`
//    (identical bytes stored once; a blob is removed when no object names it any more), and the
//    index (bucket, key -> blob, size, ETag, content type, metadata, time) in SQLite at
//    `<data_dir>/buckets/index.db` (WAL). A key is only ever a column value, never a path, so no
//    key can reach outside its bucket.
//  - Zone buckets `raw`, `processed`, `curated` (and `quarantine`): read-only views of
//    `<lake_root>/<zone>/`, key = path relative to the zone folder. Listing walks the folder;
//    internal folders whose names start with `_` (temp files) are hidden. A key naming anything
//    outside the folder (`..`, empty segments, NUL, leading `/`, a symlink leading out) is
//    NoSuchKey; so is one naming a hidden file (any segment starting with `_` or `.`, or a `*.tmp`
//    file). Writes are AccessDenied. ETags are the MD5 of the file, computed once per
//    (path, size, mtime) and cached in the index.
//
// Errors are Basin Status codes carrying the S3 error name as the message prefix
// "<S3Code>: <text>", e.g. Error(kNotFound, "NoSuchKey: ..."); S3ErrorName(status) gives the name.
// Thread-safe. Concurrent PUTs of one key: the last commit wins, as on S3.

struct BucketStoreOptions {
  std::string data_dir;   // <data_dir>/buckets/ holds the index and blobs
  std::string lake_root;  // for the zone buckets; empty: no zone buckets
  uint64_t max_object_bytes = 5ULL << 30;
  uint64_t min_part_bytes = 5ULL << 20;  // every part but the last (EntityTooSmall)
  int max_parts = 10'000;
  Clock* clock = &SystemClock::Instance();
};

struct BucketInfo {
  std::string name;
  int64_t created_us = 0;
  bool read_only = false;  // a zone bucket
};

struct ObjectInfo {
  std::string bucket;
  std::string key;
  uint64_t size = 0;
  std::string etag;          // with quotes: "\"<md5 hex>\"" or "\"<hex>-<N>\"" for multipart
  std::string content_type;  // "" -> binary/octet-stream when served
  std::string content_encoding;
  std::string cache_control, content_disposition, content_language, expires;
  std::map<std::string, std::string> user_metadata;  // x-amz-meta-<name> (name lower-case)
  // Checksums the client sent and we verified, by algorithm ("crc32", "crc32c", "sha1",
  // "sha256", "crc64nvme") -> base64 value, echoed on GET/HEAD with x-amz-checksum-mode.
  std::map<std::string, std::string> checksums;
  int64_t last_modified_us = 0;
  std::string sha256;   // hex content address (empty for zone objects)
  int parts_count = 0;  // multipart: number of parts; 0 for a single PUT
};

// What a PUT or a multipart completion carries besides the bytes.
struct ObjectAttributes {
  std::string content_type;
  std::string content_encoding;  // "aws-chunked" already removed by the caller
  std::string cache_control, content_disposition, content_language, expires;
  std::map<std::string, std::string> user_metadata;
  std::map<std::string, std::string> checksums;  // verified by the caller
};

struct ListRequest {
  std::string prefix;
  std::string delimiter;    // empty: no grouping
  std::string start_after;  // keys strictly greater (v1 marker, v2 start-after / token)
  int max_keys = 1000;      // 0..1000
};

struct ListResult {
  std::vector<ObjectInfo> objects;           // in UTF-8 byte order of key
  std::vector<std::string> common_prefixes;  // in order, each counted against max_keys
  bool truncated = false;
  std::string next_marker;  // the last key or common prefix returned, when truncated
};

struct MultipartUpload {
  std::string bucket, key, upload_id;
  int64_t initiated_us = 0;
};

struct PartInfo {
  int part_number = 0;
  uint64_t size = 0;
  std::string etag;  // "\"<md5 hex>\""
  int64_t last_modified_us = 0;
  std::map<std::string, std::string> checksums;
};

struct CompletedPart {
  int part_number = 0;
  std::string etag;  // as the client sent it, quotes optional
};

// A readable object: its info and where its bytes are. For stored objects the path is the blob
// file; for zone objects the lake file. Read with pread from `offset`; the file is immutable
// (blobs never change, lake Parquet files are only ever replaced by new names). Open the path
// promptly: once the last object naming a blob is deleted or overwritten the blob is removed, so
// an open() that fails with ENOENT means the object is gone (NoSuchKey); an open fd keeps reading.
struct ObjectReader {
  ObjectInfo info;
  std::string path;
};

// The S3 error name of a Status made by BucketStore ("NoSuchKey"), or "" if it has none.
std::string_view S3ErrorName(const Status& status);

class BucketStore {
 public:
  static Result<std::unique_ptr<BucketStore>> Open(BucketStoreOptions options);
  ~BucketStore();

  // S3's naming rules (3-63, [a-z0-9.-], no "..", not IP-shaped, no leading/trailing '-').
  static bool IsValidBucketName(std::string_view name);
  // S3's key rules here: 1..1024 bytes of valid UTF-8, no NUL.
  static bool IsValidKey(std::string_view key);

  std::vector<BucketInfo> ListBuckets() const;
  Result<BucketInfo> GetBucket(std::string_view bucket) const;  // NoSuchBucket
  // InvalidBucketName; BucketAlreadyOwnedByYou (kAlreadyExists) when it exists.
  Status CreateBucket(std::string_view bucket);
  // NoSuchBucket, BucketNotEmpty (kConflict), AccessDenied (zone buckets and `landing`).
  Status DeleteBucket(std::string_view bucket);

  // Stores `bytes` under (bucket, key); ETag = MD5 of the bytes. NoSuchBucket, AccessDenied
  // (zone bucket), KeyTooLongError/InvalidArgument (bad key), EntityTooLarge.
  Result<ObjectInfo> PutObject(std::string_view bucket, std::string_view key,
                               std::string_view bytes, const ObjectAttributes& attributes);
  Result<ObjectInfo> HeadObject(std::string_view bucket, std::string_view key) const;
  Result<ObjectReader> OpenObject(std::string_view bucket, std::string_view key) const;
  // Deleting a missing key is Ok (S3 answers 204). NoSuchBucket, AccessDenied (zone).
  Status DeleteObject(std::string_view bucket, std::string_view key);
  // Copies bytes and (when `replace` is empty) metadata; the new object keeps the source ETag.
  // `replace` set: its attributes replace the source's (x-amz-metadata-directive: REPLACE).
  Result<ObjectInfo> CopyObject(std::string_view src_bucket, std::string_view src_key,
                                std::string_view dst_bucket, std::string_view dst_key,
                                const std::optional<ObjectAttributes>& replace);
  Result<ListResult> ListObjects(std::string_view bucket, const ListRequest& request) const;

  // Multipart. Upload ids are opaque, unguessable and never reused. NoSuchUpload when the id is
  // unknown, completed or aborted, or belongs to another bucket/key.
  Result<MultipartUpload> CreateMultipartUpload(std::string_view bucket, std::string_view key,
                                                const ObjectAttributes& attributes);
  // part_number 1..10000 (InvalidArgument); replaces an earlier part with the same number.
  Result<PartInfo> UploadPart(std::string_view bucket, std::string_view key,
                              std::string_view upload_id, int part_number, std::string_view bytes,
                              const std::map<std::string, std::string>& checksums);
  // Parts in ascending number order (InvalidPartOrder otherwise), each naming an uploaded part
  // with its ETag (InvalidPart), every part but the last >= min_part_bytes (EntityTooSmall).
  // ETag = "\"hex(md5(md5(p1)..md5(pN)))-N\"". The staged parts are removed.
  Result<ObjectInfo> CompleteMultipartUpload(std::string_view bucket, std::string_view key,
                                             std::string_view upload_id,
                                             const std::vector<CompletedPart>& parts);
  Status AbortMultipartUpload(std::string_view bucket, std::string_view key,
                              std::string_view upload_id);
  // Parts after `part_number_marker`, at most max_parts; *truncated set when more follow.
  Result<std::vector<PartInfo>> ListParts(std::string_view bucket, std::string_view key,
                                          std::string_view upload_id, int part_number_marker,
                                          int max_parts, bool* truncated) const;
  Result<std::vector<MultipartUpload>> ListMultipartUploads(std::string_view bucket,
                                                            std::string_view prefix) const;

 private:
  struct Impl;
  explicit BucketStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::storage
