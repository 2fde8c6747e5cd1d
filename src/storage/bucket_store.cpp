#include "storage/bucket_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "base/file_util.h"
#include "base/hash.h"
#include "base/logging.h"
#include "storage/bucket_blob_writer.h"
#include "storage/bucket_codec.h"
#include "storage/bucket_listing.h"
#include "storage/bucket_sqlite.h"
#include "storage/bucket_zone.h"
#include "storage/object_store.h"

namespace basin::storage {
namespace fs = std::filesystem;
using bucket_internal::Database;
using bucket_internal::DecodeMap;
using bucket_internal::DecodeMd5Hex;
using bucket_internal::EncodeMap;
using bucket_internal::IsUploadId;
using bucket_internal::IsValidUtf8;
using bucket_internal::KeyCursor;
using bucket_internal::NormalizeEtag;
using bucket_internal::RandomHex;
using bucket_internal::Statement;
using bucket_internal::WriteFileDurably;

namespace {

constexpr std::string_view kLandingBucket = "landing";
constexpr std::string_view kZoneBuckets[] = {"curated", "processed", "quarantine", "raw"};
constexpr size_t kMaxKeyBytes = 1024;
constexpr int kMaxPartNumber = 10'000;
// Open removes blobs no row names once they are this old.
constexpr auto kOrphanBlobAge = std::chrono::hours(1);
// From this size on, a PUT computes its MD5 on a second thread.
constexpr size_t kParallelMd5Bytes = 1 << 20;

constexpr std::string_view kS3ErrorNames[] = {
    "AccessDenied",    "BucketAlreadyExists", "BucketAlreadyOwnedByYou",
    "BucketNotEmpty",  "EntityTooLarge",      "EntityTooSmall",
    "InternalError",   "InvalidArgument",     "InvalidBucketName",
    "InvalidPart",     "InvalidPartOrder",    "InvalidRequest",
    "KeyTooLongError", "MalformedXML",        "NoSuchBucket",
    "NoSuchKey",       "NoSuchUpload",
};

// Schema version 1. Keys are BLOBs: every comparison is memcmp, i.e. UTF-8 byte order, which is
// S3's listing order. Attribute columns are shared by objects and uploads (kAttributeColumns).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS buckets (
  name TEXT PRIMARY KEY,
  created_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  parts_count INTEGER NOT NULL,
  last_modified_us INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  content_encoding TEXT NOT NULL,
  cache_control TEXT NOT NULL,
  content_disposition TEXT NOT NULL,
  content_language TEXT NOT NULL,
  expires TEXT NOT NULL,
  user_metadata BLOB NOT NULL,
  checksums BLOB NOT NULL,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_blob ON objects (sha256);
CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  initiated_us INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  content_encoding TEXT NOT NULL,
  cache_control TEXT NOT NULL,
  content_disposition TEXT NOT NULL,
  content_language TEXT NOT NULL,
  expires TEXT NOT NULL,
  user_metadata BLOB NOT NULL,
  checksums BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, initiated_us);
CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  file TEXT NOT NULL,
  size INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  last_modified_us INTEGER NOT NULL,
  checksums BLOB NOT NULL,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_gc (
  sha256 TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS zone_etags (
  path BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  etag TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

constexpr const char* kAttributeColumns =
    "content_type, content_encoding, cache_control, content_disposition, content_language, "
    "expires, user_metadata, checksums";

const std::string kObjectColumns =
    std::string("key, sha256, size, etag, parts_count, last_modified_us, ") + kAttributeColumns;
const std::string kSelectObject =
    "SELECT " + kObjectColumns + " FROM objects WHERE bucket = ?1 AND key = ?2";
const std::string kSeekObjects =
    "SELECT " + kObjectColumns + " FROM objects WHERE bucket = ?1 AND key >= ?2 ORDER BY key";
const std::string kUpsertObject =
    "INSERT OR REPLACE INTO objects (bucket, " + kObjectColumns +
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
const std::string kInsertUpload = std::string(
                                      "INSERT INTO uploads (upload_id, bucket, key, "
                                      "initiated_us, ") +
                                  kAttributeColumns +
                                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
const std::string kSelectUpload = std::string("SELECT bucket, key, initiated_us, ") +
                                  kAttributeColumns + " FROM uploads WHERE upload_id = ?1";

Status S3Error(ErrorCode code, std::string_view s3_code, std::string_view text) {
  std::string message(s3_code);
  message += ": ";
  message += text;
  return Error(code, std::move(message));
}

Status NoSuchBucket(std::string_view bucket) {
  return S3Error(ErrorCode::kNotFound, "NoSuchBucket",
                 "The specified bucket does not exist: " + std::string(bucket));
}
Status NoSuchKey(std::string_view key) {
  return S3Error(ErrorCode::kNotFound, "NoSuchKey",
                 "The specified key does not exist: " + std::string(key));
}
Status NoSuchUpload(std::string_view upload_id) {
  return S3Error(ErrorCode::kNotFound, "NoSuchUpload",
                 "The specified multipart upload does not exist: " + std::string(upload_id));
}
Status ReadOnlyBucket(std::string_view bucket) {
  return S3Error(ErrorCode::kAccessDenied, "AccessDenied",
                 "bucket " + std::string(bucket) + " is a read-only view of a lake zone");
}
Status TooLarge(uint64_t limit) {
  return S3Error(ErrorCode::kPayloadTooLarge, "EntityTooLarge",
                 "Your proposed upload exceeds the maximum allowed size of " +
                     std::to_string(limit) + " bytes");
}

Status CheckKey(std::string_view key) {
  if (key.size() > kMaxKeyBytes) {
    return S3Error(ErrorCode::kInvalidArgument, "KeyTooLongError", "Your key is too long");
  }
  if (!BucketStore::IsValidKey(key)) {
    return S3Error(ErrorCode::kInvalidArgument, "InvalidArgument",
                   "object keys are 1 to 1024 bytes of UTF-8 without NUL");
  }
  return Status::Ok();
}

bool IsZoneName(std::string_view bucket) {
  return std::find(std::begin(kZoneBuckets), std::end(kZoneBuckets), bucket) !=
         std::end(kZoneBuckets);
}

std::string Quote(std::string_view hex) { return "\"" + std::string(hex) + "\""; }

void BindAttributes(Statement& s, int first, const ObjectAttributes& a) {
  s.Bind(first, a.content_type)
      .Bind(first + 1, a.content_encoding)
      .Bind(first + 2, a.cache_control)
      .Bind(first + 3, a.content_disposition)
      .Bind(first + 4, a.content_language)
      .Bind(first + 5, a.expires)
      .BindBlob(first + 6, EncodeMap(a.user_metadata))
      .BindBlob(first + 7, EncodeMap(a.checksums));
}

ObjectAttributes ReadAttributes(const Statement& s, int first) {
  ObjectAttributes a;
  a.content_type = s.Text(first);
  a.content_encoding = s.Text(first + 1);
  a.cache_control = s.Text(first + 2);
  a.content_disposition = s.Text(first + 3);
  a.content_language = s.Text(first + 4);
  a.expires = s.Text(first + 5);
  a.user_metadata = DecodeMap(s.View(first + 6));
  a.checksums = DecodeMap(s.View(first + 7));
  return a;
}

void SetAttributes(ObjectInfo& info, ObjectAttributes a) {
  info.content_type = std::move(a.content_type);
  info.content_encoding = std::move(a.content_encoding);
  info.cache_control = std::move(a.cache_control);
  info.content_disposition = std::move(a.content_disposition);
  info.content_language = std::move(a.content_language);
  info.expires = std::move(a.expires);
  info.user_metadata = std::move(a.user_metadata);
  info.checksums = std::move(a.checksums);
}

ObjectAttributes AttributesOf(const ObjectInfo& info) {
  ObjectAttributes a;
  a.content_type = info.content_type;
  a.content_encoding = info.content_encoding;
  a.cache_control = info.cache_control;
  a.content_disposition = info.content_disposition;
  a.content_language = info.content_language;
  a.expires = info.expires;
  a.user_metadata = info.user_metadata;
  a.checksums = info.checksums;
  return a;
}

// A row of kObjectColumns (after `bucket`).
ObjectInfo ReadObject(const Statement& s, std::string_view bucket) {
  ObjectInfo info;
  info.bucket = std::string(bucket);
  info.key = s.Text(0);
  info.sha256 = s.Text(1);
  info.size = static_cast<uint64_t>(s.Int(2));
  info.etag = s.Text(3);
  info.parts_count = static_cast<int>(s.Int(4));
  info.last_modified_us = s.Int(5);
  SetAttributes(info, ReadAttributes(s, 6));
  return info;
}

// A stored part of a multipart upload.
struct PartRow {
  int part_number = 0;
  std::string file;
  uint64_t size = 0;
  std::string md5;  // hex, no quotes
  int64_t last_modified_us = 0;
  std::map<std::string, std::string> checksums;
};

struct UploadRow {
  std::string bucket, key;
  int64_t initiated_us = 0;
  ObjectAttributes attributes;
};

}  // namespace

std::string_view S3ErrorName(const Status& status) {
  if (status.ok()) return {};
  const std::string& message = status.message();
  const size_t colon = message.find(": ");
  if (colon == std::string::npos) return {};
  const std::string_view name = std::string_view(message).substr(0, colon);
  for (std::string_view known : kS3ErrorNames) {
    if (known == name) return known;
  }
  return {};
}

struct BucketStore::Impl {
  BucketStoreOptions options;
  std::string root;         // <data_dir>/buckets
  std::string uploads_dir;  // <root>/uploads
  std::unique_ptr<ObjectStore> blobs;
  // One connection; every method holds this for its whole transaction, never while hashing or
  // writing object bytes.
  mutable std::mutex mu;
  std::unique_ptr<Database> db;
  // Blobs written by a PUT that has not committed yet, with how many such PUTs: never collected.
  std::unordered_map<std::string, int> pinned;

  bool HasZones() const { return !options.lake_root.empty(); }
  bool IsZone(std::string_view bucket) const { return HasZones() && IsZoneName(bucket); }
  std::string ZoneRoot(std::string_view zone) const {
    return options.lake_root + "/" + std::string(zone);
  }
  std::string UploadDir(std::string_view upload_id) const {
    return uploads_dir + "/" + std::string(upload_id);
  }
  int64_t Now() const { return options.clock->NowMicros(); }

  // ---- Index helpers; the caller holds `mu`. ----

  Result<bool> BucketExistsLocked(std::string_view bucket) const {
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("SELECT 1 FROM buckets WHERE name = ?1"));
    s->Bind(1, bucket);
    return s->Step();
  }

  Status CheckStoredBucketLocked(std::string_view bucket) const {
    BASIN_ASSIGN_OR_RETURN(bool exists, BucketExistsLocked(bucket));
    if (!exists) return NoSuchBucket(bucket);
    return Status::Ok();
  }

  // Zone buckets are AccessDenied for writes; other buckets must exist.
  Status CheckWritableBucket(std::string_view bucket) const {
    if (IsZone(bucket)) return ReadOnlyBucket(bucket);
    std::lock_guard lock(mu);
    return CheckStoredBucketLocked(bucket);
  }

  Result<std::optional<ObjectInfo>> FindObjectLocked(std::string_view bucket,
                                                     std::string_view key) const {
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare(kSelectObject));
    s->Bind(1, bucket).BindBlob(2, key);
    BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return std::optional<ObjectInfo>();
    return std::optional<ObjectInfo>(ReadObject(*s, bucket));
  }

  Result<bool> BlobReferencedLocked(std::string_view sha256) const {
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("SELECT 1 FROM objects WHERE sha256 = ?1 LIMIT 1"));
    s->Bind(1, sha256);
    return s->Step();
  }

  // Records that `sha256` may have lost its last reference; CollectBlobsLocked deletes it after
  // the commit if it still has none. In the same transaction as the change that dropped it, so a
  // crash in between leaves the note for the next Open.
  Status NoteBlobDroppedLocked(std::string_view sha256) {
    BASIN_ASSIGN_OR_RETURN(bool referenced, BlobReferencedLocked(sha256));
    if (referenced) return Status::Ok();
    BASIN_ASSIGN_OR_RETURN(auto s,
                           db->Prepare("INSERT OR IGNORE INTO blob_gc (sha256) VALUES (?1)"));
    s->Bind(1, sha256);
    return s->Run();
  }

  // Deletes the noted blobs that no object names. Under `mu`, so no commit can start naming one
  // between the check and the unlink (commits check that their blob exists under `mu` too).
  void CollectBlobsLocked() {
    std::vector<std::string> candidates;
    {
      auto s = db->Prepare("SELECT sha256 FROM blob_gc");
      if (!s.ok()) return;
      for (;;) {
        Result<bool> row = (*s)->Step();
        if (!row.ok() || !*row) break;
        candidates.push_back((*s)->Text(0));
      }
    }
    bool wal_synced = false;
    for (const std::string& sha : candidates) {
      if (pinned.count(sha) != 0) continue;  // a commit is about to name it; stays noted
      Result<bool> referenced = BlobReferencedLocked(sha);
      if (!referenced.ok()) continue;
      if (!*referenced) {
        // The commit that dropped the last reference must be durable before the blob goes, or a
        // power loss could bring back a row naming a missing blob.
        if (!wal_synced) {
          Status synced = db->SyncWal();
          if (!synced.ok()) {
            BASIN_LOG(Warn, "storage") << "blob collection postponed: " << synced.ToString();
            return;
          }
          wal_synced = true;
        }
        // No fsync of the folder: a removal undone by a power loss only leaves a blob no row
        // names, which Open's sweep removes; it is not worth an fsync under the mutex.
        Result<std::string> path = blobs->Path(sha);
        if (path.ok() && ::unlink(path->c_str()) != 0 && errno != ENOENT) {
          BASIN_LOG(Warn, "storage")
              << "could not remove blob " << sha << ": " << ErrnoStatus(errno, "unlink").ToString();
          continue;  // stays noted; retried after the next change or Open
        }
      }
      auto del = db->Prepare("DELETE FROM blob_gc WHERE sha256 = ?1");
      if (del.ok()) {
        (*del)->Bind(1, sha);
        Status s = (*del)->Run();
        if (!s.ok()) BASIN_LOG(Warn, "storage") << "blob_gc: " << s.ToString();
      }
    }
  }

  // Whether the blob file is there; checked under `mu` right before a commit names it.
  bool BlobPresent(std::string_view sha256) const {
    Result<std::string> path = blobs->Path(sha256);
    struct stat st {};
    return path.ok() && ::stat(path->c_str(), &st) == 0;
  }

  // Inserts or replaces the object row, noting the blob it replaced.
  Status UpsertObjectLocked(const ObjectInfo& info) {
    BASIN_ASSIGN_OR_RETURN(std::optional<ObjectInfo> old, FindObjectLocked(info.bucket, info.key));
    {
      BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare(kUpsertObject));
      s->Bind(1, info.bucket)
          .BindBlob(2, info.key)
          .Bind(3, info.sha256)
          .Bind(4, static_cast<int64_t>(info.size))
          .Bind(5, info.etag)
          .Bind(6, info.parts_count)
          .Bind(7, info.last_modified_us);
      BindAttributes(*s, 8, AttributesOf(info));
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    if (old && old->sha256 != info.sha256) return NoteBlobDroppedLocked(old->sha256);
    return Status::Ok();
  }

  // After a failed commit (the bucket or upload went away meanwhile): the blob just written may
  // be named by nothing; collect it now rather than at a later Open.
  void ForgetBlobLocked(const std::string& sha256) {
    Status noted =
        db->InTransaction(true, [&]() -> Status { return NoteBlobDroppedLocked(sha256); });
    if (noted.ok()) CollectBlobsLocked();
  }

  // Runs `body` in one write transaction under the mutex (then collects noted blobs if asked),
  // and makes the commit durable after releasing the mutex. `*committed` tells a failed commit
  // from a failed fsync after it.
  Status Write(const std::function<Status()>& body, bool collect_blobs = false,
               bool* committed = nullptr) {
    {
      std::lock_guard lock(mu);
      BASIN_RETURN_IF_ERROR(db->InTransaction(true, body));
      if (committed != nullptr) *committed = true;
      if (collect_blobs) CollectBlobsLocked();
    }
    return db->SyncWal();
  }

  void UnpinLocked(const std::string& sha256) {
    auto it = pinned.find(sha256);
    if (it != pinned.end() && --it->second == 0) pinned.erase(it);
  }

  // Writes a blob with `put` (outside the lock) and commits `info` naming it, together with
  // whatever `also_in_transaction` does. The blob may have been collected between the write and
  // the commit (it already existed, and the last object naming it was deleted meanwhile): the
  // blob is pinned (collection skips it) and, if it is gone, written once more before the commit.
  Result<ObjectInfo> PublishObject(ObjectInfo info, const std::function<Result<PutResult>()>& put,
                                   const std::function<Status()>& also_in_transaction = nullptr) {
    auto write = [&]() -> Result<PutResult> {
      Result<PutResult> stored = put();
      if (!stored.ok() && stored.status().code() == ErrorCode::kPayloadTooLarge) {
        return TooLarge(options.max_object_bytes);
      }
      return stored;
    };
    BASIN_ASSIGN_OR_RETURN(PutResult stored, write());
    info.sha256 = stored.sha256;
    info.size = stored.size_bytes;
    bool present = false;
    {
      std::lock_guard lock(mu);
      ++pinned[info.sha256];
      present = BlobPresent(info.sha256);
    }
    if (!present) {
      Result<PutResult> again = write();
      if (!again.ok() || again->sha256 != info.sha256) {
        std::lock_guard lock(mu);
        UnpinLocked(info.sha256);
        if (!again.ok()) return again.status();
        return Error(ErrorCode::kInternal, "InternalError: the same bytes hashed differently");
      }
    }
    {
      std::lock_guard lock(mu);
      UnpinLocked(info.sha256);  // the commit below happens under this same lock
      if (!BlobPresent(info.sha256)) {
        return Error(ErrorCode::kInternal, "InternalError: a pinned blob disappeared");
      }
      Status committed = db->InTransaction(true, [&]() -> Status {
        BASIN_RETURN_IF_ERROR(CheckStoredBucketLocked(info.bucket));
        if (also_in_transaction) BASIN_RETURN_IF_ERROR(also_in_transaction());
        return UpsertObjectLocked(info);
      });
      if (!committed.ok()) {
        ForgetBlobLocked(info.sha256);
        return committed;
      }
      CollectBlobsLocked();
    }
    BASIN_RETURN_IF_ERROR(db->SyncWal());
    return info;
  }

  // ---- Zone buckets ----

  // The ETag of a zone file: cached by (path, size, mtime), else hashed (without the lock).
  Result<std::string> ZoneEtag(std::string_view zone, const bucket_internal::ZoneFile& file,
                               const std::string& path) const {
    const std::string cache_key = std::string(zone) + "/" + file.key;
    {
      std::lock_guard lock(mu);
      BASIN_ASSIGN_OR_RETURN(
          auto s, db->Prepare("SELECT etag FROM zone_etags WHERE path = ?1 AND size = ?2 AND "
                              "mtime_ns = ?3"));
      s->BindBlob(1, cache_key).Bind(2, static_cast<int64_t>(file.size)).Bind(3, file.mtime_ns);
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) return s->Text(0);
    }
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    BASIN_ASSIGN_OR_RETURN(std::string md5, bucket_internal::Md5OfFile(path, &size, &mtime_ns));
    std::string etag = Quote(md5);
    std::lock_guard lock(mu);
    BASIN_ASSIGN_OR_RETURN(
        auto s, db->Prepare("INSERT OR REPLACE INTO zone_etags (path, size, mtime_ns, etag) "
                            "VALUES (?1, ?2, ?3, ?4)"));
    s->BindBlob(1, cache_key).Bind(2, static_cast<int64_t>(size)).Bind(3, mtime_ns).Bind(4, etag);
    Status cached = s->Run();
    if (!cached.ok()) BASIN_LOG(Warn, "storage") << "zone etag cache: " << cached.ToString();
    return etag;
  }

  Result<ObjectInfo> ZoneObjectInfo(std::string_view zone, const bucket_internal::ZoneFile& file,
                                    const std::string& path) const {
    ObjectInfo info;
    info.bucket = std::string(zone);
    info.key = file.key;
    info.size = file.size;
    info.last_modified_us = file.mtime_ns / 1000;
    BASIN_ASSIGN_OR_RETURN(info.etag, ZoneEtag(zone, file, path));
    return info;
  }

  Result<ObjectReader> OpenZoneObject(std::string_view zone, std::string_view key) const {
    bucket_internal::ZoneFile file;
    Result<std::string> path = bucket_internal::ResolveZoneFile(ZoneRoot(zone), key, &file);
    if (!path.ok()) return NoSuchKey(key);
    BASIN_ASSIGN_OR_RETURN(ObjectInfo info, ZoneObjectInfo(zone, file, *path));
    return ObjectReader{std::move(info), std::move(*path)};
  }

  // ---- Multipart; the caller holds `mu`. ----

  Result<UploadRow> FindUploadLocked(std::string_view bucket, std::string_view key,
                                     std::string_view upload_id) const {
    if (!IsUploadId(upload_id)) return NoSuchUpload(upload_id);
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare(kSelectUpload));
    s->Bind(1, upload_id);
    BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return NoSuchUpload(upload_id);
    UploadRow upload;
    upload.bucket = s->Text(0);
    upload.key = s->Text(1);
    upload.initiated_us = s->Int(2);
    upload.attributes = ReadAttributes(*s, 3);
    if (upload.bucket != bucket || upload.key != key) return NoSuchUpload(upload_id);
    return upload;
  }

  Result<std::vector<PartRow>> PartsLocked(std::string_view upload_id, int after, int limit) const {
    BASIN_ASSIGN_OR_RETURN(
        auto s, db->Prepare("SELECT part_number, file, size, md5, last_modified_us, checksums "
                            "FROM parts WHERE upload_id = ?1 AND part_number > ?2 "
                            "ORDER BY part_number LIMIT ?3"));
    s->Bind(1, upload_id).Bind(2, after).Bind(3, limit);
    std::vector<PartRow> parts;
    for (;;) {
      BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      PartRow part;
      part.part_number = static_cast<int>(s->Int(0));
      part.file = s->Text(1);
      part.size = static_cast<uint64_t>(s->Int(2));
      part.md5 = s->Text(3);
      part.last_modified_us = s->Int(4);
      part.checksums = DecodeMap(s->View(5));
      parts.push_back(std::move(part));
    }
    return parts;
  }

  Status DeleteUploadLocked(std::string_view upload_id) {
    {
      BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("DELETE FROM parts WHERE upload_id = ?1"));
      s->Bind(1, upload_id);
      BASIN_RETURN_IF_ERROR(s->Run());
    }
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("DELETE FROM uploads WHERE upload_id = ?1"));
    s->Bind(1, upload_id);
    return s->Run();
  }

  void RemoveUploadDir(std::string_view upload_id) const {
    std::error_code ec;
    fs::remove_all(UploadDir(upload_id), ec);
    if (ec) {
      BASIN_LOG(Warn, "storage") << "could not remove staging of upload " << upload_id << ": "
                                 << ec.message();
    }
  }

  // ---- Open-time recovery ----

  Status Recover() {
    std::lock_guard lock(mu);
    // Blobs noted for collection before a crash.
    CollectBlobsLocked();
    // Blobs written but never committed (a crash between write and commit): no row names them.
    const auto orphan_cutoff = fs::file_time_type::clock::now() - kOrphanBlobAge;
    std::error_code ec;
    for (const auto& shard : fs::directory_iterator(blobs->root(), ec)) {
      const std::string shard_name = shard.path().filename().string();
      if (shard_name.size() != 2 || !shard.is_directory()) continue;
      std::error_code shard_ec;
      for (const auto& entry : fs::directory_iterator(shard.path(), shard_ec)) {
        const std::string sha = entry.path().filename().string();
        if (!ObjectStore::IsValidKey(sha)) continue;
        // A young blob may be another process's PUT between its write and its commit.
        std::error_code time_ec;
        if (entry.last_write_time(time_ec) > orphan_cutoff || time_ec) continue;
        BASIN_ASSIGN_OR_RETURN(bool referenced, BlobReferencedLocked(sha));
        if (referenced) continue;
        Status removed = blobs->Remove(sha);
        if (removed.ok()) BASIN_LOG(Info, "storage") << "removed unreferenced blob " << sha;
      }
    }
    // Staging of uploads that were completed or aborted before a crash, and part files whose row
    // was never committed.
    std::set<std::string> live_uploads;
    {
      BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("SELECT upload_id FROM uploads"));
      for (;;) {
        BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        live_uploads.insert(s->Text(0));
      }
    }
    for (const auto& entry : fs::directory_iterator(uploads_dir, ec)) {
      const std::string id = entry.path().filename().string();
      if (live_uploads.count(id) == 0) {
        std::error_code rm_ec;
        fs::remove_all(entry.path(), rm_ec);
        continue;
      }
      BASIN_ASSIGN_OR_RETURN(std::vector<PartRow> parts, PartsLocked(id, 0, kMaxPartNumber + 1));
      std::set<std::string> files;
      for (const PartRow& part : parts) files.insert(part.file);
      std::error_code part_ec;
      for (const auto& file : fs::directory_iterator(entry.path(), part_ec)) {
        if (files.count(file.path().filename().string()) == 0) {
          std::error_code rm_ec;
          fs::remove(file.path(), rm_ec);
        }
      }
    }
    return Status::Ok();
  }
};

// A cursor over one stored bucket's keys: an index range scan from each Seek. The caller holds
// `mu` for the whole listing.
class StoredKeyCursor final : public KeyCursor {
 public:
  StoredKeyCursor(Database& db, std::string_view bucket) : db_(db), bucket_(bucket) {}
  Result<bool> Seek(std::string_view lower) override {
    stmt_.reset();
    BASIN_ASSIGN_OR_RETURN(stmt_, db_.Prepare(kSeekObjects));
    stmt_->Bind(1, bucket_).BindBlob(2, lower);
    return Next();
  }
  Result<bool> Next() override {
    BASIN_ASSIGN_OR_RETURN(bool row, stmt_->Step());
    key_ = row ? stmt_->View(0) : std::string_view();
    return row;
  }
  std::string_view key() const override { return key_; }
  Result<std::optional<ObjectInfo>> Info() override {
    return std::optional<ObjectInfo>(ReadObject(*stmt_, bucket_));
  }

 private:
  Database& db_;
  std::string bucket_;
  std::unique_ptr<Statement> stmt_;
  std::string_view key_;
};

// A cursor over a zone folder's sorted walk; ETags are looked up (or hashed) per returned object.
class ZoneKeyCursor final : public KeyCursor {
 public:
  using InfoFn = std::function<Result<ObjectInfo>(const bucket_internal::ZoneFile&)>;
  ZoneKeyCursor(std::vector<bucket_internal::ZoneFile> files, InfoFn info)
      : files_(std::move(files)), info_(std::move(info)) {}
  Result<bool> Seek(std::string_view lower) override {
    at_ = static_cast<size_t>(
        std::lower_bound(files_.begin(), files_.end(), lower,
                         [](const bucket_internal::ZoneFile& f, std::string_view k) {
                           return std::string_view(f.key) < k;
                         }) -
        files_.begin());
    return at_ < files_.size();
  }
  Result<bool> Next() override {
    ++at_;
    return at_ < files_.size();
  }
  std::string_view key() const override { return files_[at_].key; }
  Result<std::optional<ObjectInfo>> Info() override {
    Result<ObjectInfo> info = info_(files_[at_]);
    // A lake file replaced (compaction) between the walk and now is simply not listed.
    if (!info.ok() && info.status().code() == ErrorCode::kNotFound) {
      return std::optional<ObjectInfo>();
    }
    if (!info.ok()) return info.status();
    return std::optional<ObjectInfo>(std::move(info).value());
  }

 private:
  std::vector<bucket_internal::ZoneFile> files_;
  InfoFn info_;
  size_t at_ = 0;
};

BucketStore::BucketStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BucketStore::~BucketStore() = default;

Result<std::unique_ptr<BucketStore>> BucketStore::Open(BucketStoreOptions options) {
  if (options.data_dir.empty()) {
    return Error(ErrorCode::kInvalidArgument, "bucket store data_dir is empty");
  }
  if (options.clock == nullptr) options.clock = &SystemClock::Instance();
  while (options.lake_root.size() > 1 && options.lake_root.back() == '/') {
    options.lake_root.pop_back();
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->root = options.data_dir + "/buckets";
  impl->uploads_dir = impl->root + "/uploads";
  BASIN_RETURN_IF_ERROR(CreateDirectories(impl->uploads_dir));
  ObjectStoreOptions blob_options;
  blob_options.max_object_bytes = options.max_object_bytes;
  BASIN_ASSIGN_OR_RETURN(impl->blobs, ObjectStore::Open(impl->root + "/blobs", blob_options));
  BASIN_ASSIGN_OR_RETURN(impl->db, Database::Open(impl->root + "/index.db"));
  BASIN_RETURN_IF_ERROR(impl->db->InTransaction(true, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(impl->db->Exec(kSchema));
    BASIN_ASSIGN_OR_RETURN(
        auto s,
        impl->db->Prepare("INSERT OR IGNORE INTO buckets (name, created_us) VALUES (?1, ?2)"));
    s->Bind(1, kLandingBucket).Bind(2, impl->Now());
    return s->Run();
  }));
  BASIN_RETURN_IF_ERROR(impl->Recover());
  return std::unique_ptr<BucketStore>(new BucketStore(std::move(impl)));
}

bool BucketStore::IsValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  if (name.front() == '-' || name.back() == '-' || name.front() == '.' || name.back() == '.') {
    return false;
  }
  if (name.find("..") != std::string_view::npos) return false;
  // Not shaped like an IPv4 address (four dot-separated groups of digits).
  int groups = 1;
  bool all_digits_or_dots = true;
  for (char c : name) {
    if (c == '.') {
      ++groups;
    } else if (c < '0' || c > '9') {
      all_digits_or_dots = false;
    }
  }
  return !(all_digits_or_dots && groups == 4);
}

bool BucketStore::IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  if (key.find('\0') != std::string_view::npos) return false;
  return IsValidUtf8(key);
}

std::vector<BucketInfo> BucketStore::ListBuckets() const {
  std::vector<BucketInfo> out;
  {
    std::lock_guard lock(impl_->mu);
    auto s = impl_->db->Prepare("SELECT name, created_us FROM buckets ORDER BY name");
    if (s.ok()) {
      for (;;) {
        Result<bool> row = (*s)->Step();
        if (!row.ok() || !*row) break;
        out.push_back(BucketInfo{(*s)->Text(0), (*s)->Int(1), false});
      }
    }
  }
  if (impl_->HasZones()) {
    for (std::string_view zone : kZoneBuckets) {
      struct stat st {};
      int64_t created_us = impl_->Now();  // a zone with no data yet has no folder
      if (::stat(impl_->ZoneRoot(zone).c_str(), &st) == 0) {
        created_us =
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000;
      }
      out.push_back(BucketInfo{std::string(zone), created_us, true});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const BucketInfo& a, const BucketInfo& b) { return a.name < b.name; });
  return out;
}

Result<BucketInfo> BucketStore::GetBucket(std::string_view bucket) const {
  if (impl_->IsZone(bucket)) {
    for (const BucketInfo& info : ListBuckets()) {
      if (info.name == bucket) return info;
    }
  }
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(
      auto s, impl_->db->Prepare("SELECT name, created_us FROM buckets WHERE name = ?1"));
  s->Bind(1, bucket);
  BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row) return NoSuchBucket(bucket);
  return BucketInfo{s->Text(0), s->Int(1), false};
}

Status BucketStore::CreateBucket(std::string_view bucket) {
  if (!IsValidBucketName(bucket)) {
    return S3Error(ErrorCode::kInvalidArgument, "InvalidBucketName",
                   "The specified bucket is not valid: " + std::string(bucket));
  }
  if (IsZoneName(bucket)) {
    if (impl_->HasZones()) {
      return S3Error(ErrorCode::kAlreadyExists, "BucketAlreadyOwnedByYou",
                     "bucket " + std::string(bucket) + " already exists (a lake zone)");
    }
    return S3Error(ErrorCode::kAccessDenied, "AccessDenied",
                   "bucket name " + std::string(bucket) + " is reserved for a lake zone");
  }
  return impl_->Write([&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(bool exists, impl_->BucketExistsLocked(bucket));
    if (exists) {
      return S3Error(ErrorCode::kAlreadyExists, "BucketAlreadyOwnedByYou",
                     "Your previous request to create the named bucket succeeded and you already "
                     "own it: " +
                         std::string(bucket));
    }
    BASIN_ASSIGN_OR_RETURN(
        auto s, impl_->db->Prepare("INSERT INTO buckets (name, created_us) VALUES (?1, ?2)"));
    s->Bind(1, bucket).Bind(2, impl_->Now());
    return s->Run();
  });
}

Status BucketStore::DeleteBucket(std::string_view bucket) {
  if (impl_->IsZone(bucket) || bucket == kLandingBucket) {
    return S3Error(ErrorCode::kAccessDenied, "AccessDenied",
                   "bucket " + std::string(bucket) + " cannot be deleted");
  }
  std::vector<std::string> aborted;
  {
    BASIN_RETURN_IF_ERROR(impl_->Write([&]() -> Status {
      BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
      {
        BASIN_ASSIGN_OR_RETURN(
            auto s, impl_->db->Prepare("SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1"));
        s->Bind(1, bucket);
        BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (row) {
          return S3Error(ErrorCode::kConflict, "BucketNotEmpty",
                         "The bucket you tried to delete is not empty: " + std::string(bucket));
        }
      }
      // Unfinished multipart uploads go with the bucket.
      {
        BASIN_ASSIGN_OR_RETURN(
            auto s, impl_->db->Prepare("SELECT upload_id FROM uploads WHERE bucket = ?1"));
        s->Bind(1, bucket);
        for (;;) {
          BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
          if (!row) break;
          aborted.push_back(s->Text(0));
        }
      }
      for (const std::string& id : aborted) BASIN_RETURN_IF_ERROR(impl_->DeleteUploadLocked(id));
      BASIN_ASSIGN_OR_RETURN(auto s, impl_->db->Prepare("DELETE FROM buckets WHERE name = ?1"));
      s->Bind(1, bucket);
      return s->Run();
    }));
  }
  for (const std::string& id : aborted) impl_->RemoveUploadDir(id);
  return Status::Ok();
}

Result<ObjectInfo> BucketStore::PutObject(std::string_view bucket, std::string_view key,
                                          std::string_view bytes,
                                          const ObjectAttributes& attributes) {
  BASIN_RETURN_IF_ERROR(impl_->CheckWritableBucket(bucket));
  BASIN_RETURN_IF_ERROR(CheckKey(key));
  if (bytes.size() > impl_->options.max_object_bytes) {
    return TooLarge(impl_->options.max_object_bytes);
  }
  ObjectInfo info;
  info.bucket = std::string(bucket);
  info.key = std::string(key);
  info.last_modified_us = impl_->Now();
  SetAttributes(info, attributes);
  if (bytes.size() < kParallelMd5Bytes) {
    info.etag = Quote(HexEncode(Md5(bytes)));
    return impl_->PublishObject(std::move(info), [&] { return impl_->blobs->PutBytes(bytes); });
  }
  // A large body: MD5 (the ETag) on another thread while this one hashes SHA-256 (the address)
  // and writes the blob, so the PUT costs max(MD5, SHA-256 + write) instead of the sum.
  std::future<Md5Digest> md5 = std::async(std::launch::async, [bytes] { return Md5(bytes); });
  std::optional<Result<PutResult>> first(impl_->blobs->PutBytes(bytes));
  info.etag = Quote(HexEncode(md5.get()));
  return impl_->PublishObject(std::move(info), [&]() -> Result<PutResult> {
    if (first) {
      Result<PutResult> stored = std::move(*first);
      first.reset();
      return stored;
    }
    return impl_->blobs->PutBytes(bytes);
  });
}

Result<ObjectInfo> BucketStore::HeadObject(std::string_view bucket, std::string_view key) const {
  BASIN_ASSIGN_OR_RETURN(ObjectReader reader, OpenObject(bucket, key));
  return std::move(reader.info);
}

Result<ObjectReader> BucketStore::OpenObject(std::string_view bucket, std::string_view key) const {
  if (impl_->IsZone(bucket)) return impl_->OpenZoneObject(bucket, key);
  std::lock_guard lock(impl_->mu);
  BASIN_ASSIGN_OR_RETURN(std::optional<ObjectInfo> info, impl_->FindObjectLocked(bucket, key));
  if (!info) {
    BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
    return NoSuchKey(key);
  }
  BASIN_ASSIGN_OR_RETURN(std::string path, impl_->blobs->Path(info->sha256));
  return ObjectReader{std::move(*info), std::move(path)};
}

Status BucketStore::DeleteObject(std::string_view bucket, std::string_view key) {
  if (impl_->IsZone(bucket)) return ReadOnlyBucket(bucket);
  return impl_->Write(
      [&]() -> Status {
        BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
        BASIN_ASSIGN_OR_RETURN(std::optional<ObjectInfo> old, impl_->FindObjectLocked(bucket, key));
        if (!old) return Status::Ok();
        BASIN_ASSIGN_OR_RETURN(
            auto s, impl_->db->Prepare("DELETE FROM objects WHERE bucket = ?1 AND key = ?2"));
        s->Bind(1, bucket).BindBlob(2, key);
        BASIN_RETURN_IF_ERROR(s->Run());
        return impl_->NoteBlobDroppedLocked(old->sha256);
      },
      /*collect_blobs=*/true);
}

Result<ObjectInfo> BucketStore::CopyObject(std::string_view src_bucket, std::string_view src_key,
                                           std::string_view dst_bucket, std::string_view dst_key,
                                           const std::optional<ObjectAttributes>& replace) {
  BASIN_RETURN_IF_ERROR(impl_->CheckWritableBucket(dst_bucket));
  BASIN_RETURN_IF_ERROR(CheckKey(dst_key));
  if (src_bucket == dst_bucket && src_key == dst_key && !replace) {
    return S3Error(ErrorCode::kInvalidArgument, "InvalidRequest",
                   "This copy request is illegal because it is trying to copy an object to itself "
                   "without changing the object's metadata");
  }
  auto apply = [&](ObjectInfo& info) {
    if (!replace) return;
    std::map<std::string, std::string> checksums = std::move(info.checksums);
    SetAttributes(info, *replace);
    if (info.checksums.empty()) info.checksums = std::move(checksums);  // same bytes, still valid
  };

  if (impl_->IsZone(src_bucket)) {
    BASIN_ASSIGN_OR_RETURN(ObjectReader source, impl_->OpenZoneObject(src_bucket, src_key));
    ObjectInfo info = std::move(source.info);
    info.bucket = std::string(dst_bucket);
    info.key = std::string(dst_key);
    info.last_modified_us = impl_->Now();
    apply(info);
    return impl_->PublishObject(std::move(info),
                                [&] { return impl_->blobs->PutFile(source.path); });
  }

  // Stored to stored: the new row names the same blob, in one transaction with reading the
  // source, so the blob cannot be collected in between.
  std::optional<ObjectInfo> copied;
  BASIN_RETURN_IF_ERROR(impl_->Write(
      [&]() -> Status {
        BASIN_ASSIGN_OR_RETURN(std::optional<ObjectInfo> source,
                               impl_->FindObjectLocked(src_bucket, src_key));
        if (!source) {
          BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(src_bucket));
          return NoSuchKey(src_key);
        }
        BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(dst_bucket));
        ObjectInfo info = std::move(*source);
        info.bucket = std::string(dst_bucket);
        info.key = std::string(dst_key);
        info.last_modified_us = impl_->Now();
        apply(info);
        BASIN_RETURN_IF_ERROR(impl_->UpsertObjectLocked(info));
        copied = std::move(info);
        return Status::Ok();
      },
      /*collect_blobs=*/true));
  return std::move(*copied);
}

Result<ListResult> BucketStore::ListObjects(std::string_view bucket,
                                            const ListRequest& request) const {
  if (impl_->IsZone(bucket)) {
    BASIN_ASSIGN_OR_RETURN(std::vector<bucket_internal::ZoneFile> files,
                           bucket_internal::WalkZone(impl_->ZoneRoot(bucket), request.prefix));
    const std::string zone_root = impl_->ZoneRoot(bucket);
    ZoneKeyCursor cursor(std::move(files), [&](const bucket_internal::ZoneFile& file) {
      return impl_->ZoneObjectInfo(bucket, file, zone_root + "/" + file.key);
    });
    return bucket_internal::ListKeys(cursor, request);
  }
  std::lock_guard lock(impl_->mu);
  std::optional<ListResult> result;
  BASIN_RETURN_IF_ERROR(impl_->db->InTransaction(false, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
    StoredKeyCursor cursor(*impl_->db, bucket);
    BASIN_ASSIGN_OR_RETURN(ListResult listed, bucket_internal::ListKeys(cursor, request));
    result = std::move(listed);
    return Status::Ok();
  }));
  return std::move(*result);
}

Result<MultipartUpload> BucketStore::CreateMultipartUpload(std::string_view bucket,
                                                           std::string_view key,
                                                           const ObjectAttributes& attributes) {
  BASIN_RETURN_IF_ERROR(impl_->CheckWritableBucket(bucket));
  BASIN_RETURN_IF_ERROR(CheckKey(key));
  MultipartUpload upload;
  upload.bucket = std::string(bucket);
  upload.key = std::string(key);
  upload.upload_id = RandomHex(16);
  upload.initiated_us = impl_->Now();
  // The staging folder first: a crash before the row leaves an empty folder that Open removes.
  const std::string dir = impl_->UploadDir(upload.upload_id);
  if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoStatus(errno, "create " + dir);
  BASIN_RETURN_IF_ERROR(SyncDirectory(impl_->uploads_dir));
  bool row_committed = false;
  Status committed = impl_->Write(
      [&]() -> Status {
        BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
        BASIN_ASSIGN_OR_RETURN(auto s, impl_->db->Prepare(kInsertUpload));
        s->Bind(1, upload.upload_id).Bind(2, bucket).BindBlob(3, key).Bind(4, upload.initiated_us);
        BindAttributes(*s, 5, attributes);
        return s->Run();
      },
      /*collect_blobs=*/false, &row_committed);
  if (!committed.ok()) {
    if (!row_committed) impl_->RemoveUploadDir(upload.upload_id);
    return committed;
  }
  return upload;
}

Result<PartInfo> BucketStore::UploadPart(std::string_view bucket, std::string_view key,
                                         std::string_view upload_id, int part_number,
                                         std::string_view bytes,
                                         const std::map<std::string, std::string>& checksums) {
  if (impl_->IsZone(bucket)) return ReadOnlyBucket(bucket);
  const int max_part = std::min(impl_->options.max_parts, kMaxPartNumber);
  if (part_number < 1 || part_number > max_part) {
    return S3Error(ErrorCode::kInvalidArgument, "InvalidArgument",
                   "Part number must be an integer between 1 and " + std::to_string(max_part));
  }
  if (bytes.size() > impl_->options.max_object_bytes) {
    return TooLarge(impl_->options.max_object_bytes);
  }
  {
    std::lock_guard lock(impl_->mu);
    BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
    BASIN_RETURN_IF_ERROR(impl_->FindUploadLocked(bucket, key, upload_id).status());
  }
  PartInfo part;
  part.part_number = part_number;
  part.size = bytes.size();
  part.last_modified_us = impl_->Now();
  part.checksums = checksums;

  char name[64];
  std::snprintf(name, sizeof name, "part-%05d-%s", part_number, RandomHex(8).c_str());
  const std::string dir = impl_->UploadDir(upload_id);
  const std::string path = dir + "/" + name;
  // As for a PUT, a large part's MD5 is computed on a second thread while this one writes.
  std::future<Md5Digest> md5_digest =
      std::async(bytes.size() >= kParallelMd5Bytes ? std::launch::async : std::launch::deferred,
                 [bytes] { return Md5(bytes); });
  Status written = WriteFileDurably(path, bytes);
  const std::string md5 = HexEncode(md5_digest.get());
  part.etag = Quote(md5);
  if (!written.ok()) {
    if (written.code() == ErrorCode::kNotFound) return NoSuchUpload(upload_id);  // aborted
    return written;
  }
  Status synced = SyncDirectory(dir);
  if (!synced.ok()) {
    ::unlink(path.c_str());
    return synced;
  }

  std::string replaced_file;
  bool row_committed = false;
  Status committed = impl_->Write(
      [&]() -> Status {
        BASIN_RETURN_IF_ERROR(impl_->FindUploadLocked(bucket, key, upload_id).status());
        {
          BASIN_ASSIGN_OR_RETURN(
              auto s, impl_->db->Prepare(
                          "SELECT file FROM parts WHERE upload_id = ?1 AND part_number = ?2"));
          s->Bind(1, upload_id).Bind(2, part_number);
          BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
          if (row) replaced_file = s->Text(0);
        }
        BASIN_ASSIGN_OR_RETURN(
            auto s,
            impl_->db->Prepare("INSERT OR REPLACE INTO parts (upload_id, part_number, file, "
                               "size, md5, last_modified_us, checksums) VALUES (?1, ?2, ?3, "
                               "?4, ?5, ?6, ?7)"));
        s->Bind(1, upload_id)
            .Bind(2, part_number)
            .Bind(3, name)
            .Bind(4, static_cast<int64_t>(part.size))
            .Bind(5, md5)
            .Bind(6, part.last_modified_us)
            .BindBlob(7, EncodeMap(checksums));
        return s->Run();
      },
      /*collect_blobs=*/false, &row_committed);
  if (!committed.ok()) {
    if (!row_committed) ::unlink(path.c_str());
    return committed;
  }
  if (!replaced_file.empty()) ::unlink((dir + "/" + replaced_file).c_str());
  return part;
}

Result<ObjectInfo> BucketStore::CompleteMultipartUpload(std::string_view bucket,
                                                        std::string_view key,
                                                        std::string_view upload_id,
                                                        const std::vector<CompletedPart>& parts) {
  if (impl_->IsZone(bucket)) return ReadOnlyBucket(bucket);
  UploadRow upload;
  std::map<int, PartRow> staged;
  {
    std::lock_guard lock(impl_->mu);
    BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
    BASIN_ASSIGN_OR_RETURN(upload, impl_->FindUploadLocked(bucket, key, upload_id));
    BASIN_ASSIGN_OR_RETURN(std::vector<PartRow> rows,
                           impl_->PartsLocked(upload_id, 0, kMaxPartNumber + 1));
    for (PartRow& row : rows) staged.emplace(row.part_number, std::move(row));
  }
  if (parts.empty()) {
    return S3Error(ErrorCode::kInvalidArgument, "MalformedXML",
                   "You must specify at least one part");
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].part_number <= parts[i - 1].part_number) {
      return S3Error(ErrorCode::kInvalidArgument, "InvalidPartOrder",
                     "The list of parts was not in ascending order");
    }
  }
  std::vector<const PartRow*> chosen;
  std::string md5_of_md5s;
  md5_of_md5s.reserve(parts.size() * 16);
  for (size_t i = 0; i < parts.size(); ++i) {
    auto it = staged.find(parts[i].part_number);
    if (it == staged.end() || NormalizeEtag(parts[i].etag) != it->second.md5) {
      return S3Error(ErrorCode::kInvalidArgument, "InvalidPart",
                     "One or more of the specified parts could not be found or the specified "
                     "entity tag might not have matched: part " +
                         std::to_string(parts[i].part_number));
    }
    if (i + 1 < parts.size() && it->second.size < impl_->options.min_part_bytes) {
      return S3Error(ErrorCode::kInvalidArgument, "EntityTooSmall",
                     "Your proposed upload is smaller than the minimum allowed size: part " +
                         std::to_string(parts[i].part_number));
    }
    std::optional<Md5Digest> digest = DecodeMd5Hex(it->second.md5);
    if (!digest) return Error(ErrorCode::kCorruption, "part with a malformed MD5 in the index");
    md5_of_md5s.append(reinterpret_cast<const char*>(digest->data()), digest->size());
    chosen.push_back(&it->second);
  }

  ObjectInfo info;
  info.bucket = std::string(bucket);
  info.key = std::string(key);
  info.etag = Quote(HexEncode(Md5(md5_of_md5s)) + "-" + std::to_string(parts.size()));
  info.parts_count = static_cast<int>(parts.size());
  info.last_modified_us = impl_->Now();
  SetAttributes(info, upload.attributes);
  const std::string dir = impl_->UploadDir(upload_id);

  // Streams the parts, in order, through SHA-256 into one new blob: one read and one write of the
  // bytes, one block in memory.
  auto concatenate = [&]() -> Result<PutResult> {
    BASIN_ASSIGN_OR_RETURN(auto writer,
                           bucket_internal::StreamingBlobWriter::Create(*impl_->blobs));
    for (const PartRow* part : chosen) {
      Result<uint64_t> appended = writer->AppendFile(dir + "/" + part->file);
      if (!appended.ok()) {
        if (appended.status().code() == ErrorCode::kNotFound) {
          return NoSuchUpload(upload_id);  // aborted meanwhile
        }
        return appended.status();
      }
      if (*appended != part->size) {
        // Damaged outside Basin: never build an object from it.
        return S3Error(ErrorCode::kInvalidArgument, "InvalidPart",
                       "part " + std::to_string(part->part_number) +
                           " is damaged in staging; upload it again");
      }
    }
    return writer->Publish();
  };
  // The upload must still be there at the commit (not aborted or completed meanwhile); it goes
  // in the same transaction that makes the object visible.
  BASIN_ASSIGN_OR_RETURN(info, impl_->PublishObject(std::move(info), concatenate, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(impl_->FindUploadLocked(bucket, key, upload_id).status());
    return impl_->DeleteUploadLocked(upload_id);
  }));
  impl_->RemoveUploadDir(upload_id);
  return info;
}

Status BucketStore::AbortMultipartUpload(std::string_view bucket, std::string_view key,
                                         std::string_view upload_id) {
  if (impl_->IsZone(bucket)) return ReadOnlyBucket(bucket);
  BASIN_RETURN_IF_ERROR(impl_->Write([&]() -> Status {
    BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
    BASIN_RETURN_IF_ERROR(impl_->FindUploadLocked(bucket, key, upload_id).status());
    return impl_->DeleteUploadLocked(upload_id);
  }));
  impl_->RemoveUploadDir(upload_id);
  return Status::Ok();
}

Result<std::vector<PartInfo>> BucketStore::ListParts(std::string_view bucket, std::string_view key,
                                                     std::string_view upload_id,
                                                     int part_number_marker, int max_parts,
                                                     bool* truncated) const {
  if (truncated != nullptr) *truncated = false;
  if (impl_->IsZone(bucket)) return NoSuchUpload(upload_id);
  max_parts = std::clamp(max_parts, 0, kMaxPartNumber);
  std::vector<PartRow> rows;
  {
    std::lock_guard lock(impl_->mu);
    BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
    BASIN_RETURN_IF_ERROR(impl_->FindUploadLocked(bucket, key, upload_id).status());
    BASIN_ASSIGN_OR_RETURN(
        rows, impl_->PartsLocked(upload_id, std::max(part_number_marker, 0), max_parts + 1));
  }
  if (static_cast<int>(rows.size()) > max_parts) {
    rows.resize(static_cast<size_t>(max_parts));
    if (truncated != nullptr) *truncated = true;
  }
  std::vector<PartInfo> out;
  out.reserve(rows.size());
  for (PartRow& row : rows) {
    out.push_back(PartInfo{row.part_number, row.size, Quote(row.md5), row.last_modified_us,
                           std::move(row.checksums)});
  }
  return out;
}

Result<std::vector<MultipartUpload>> BucketStore::ListMultipartUploads(
    std::string_view bucket, std::string_view prefix) const {
  std::vector<MultipartUpload> out;
  if (impl_->IsZone(bucket)) return out;
  std::lock_guard lock(impl_->mu);
  BASIN_RETURN_IF_ERROR(impl_->CheckStoredBucketLocked(bucket));
  BASIN_ASSIGN_OR_RETURN(
      auto s, impl_->db->Prepare("SELECT upload_id, key, initiated_us FROM uploads WHERE bucket = "
                                 "?1 AND key >= ?2 ORDER BY key, initiated_us"));
  s->Bind(1, bucket).BindBlob(2, prefix);
  for (;;) {
    BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    std::string_view key = s->View(1);
    if (key.substr(0, prefix.size()) != prefix) break;
    out.push_back(MultipartUpload{std::string(bucket), std::string(key), s->Text(0), s->Int(2)});
  }
  return out;
}

}  // namespace basin::storage
