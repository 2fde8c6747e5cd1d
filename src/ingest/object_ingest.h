#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "ingest/object_metadata.h"
#include "storage/object_store.h"

namespace basin::ingest {

// One object to ingest.
struct ObjectSource {
  // The bytes: the local file at `local_path`, or `bytes` when set (an upload held in memory;
  // it must outlive the call).
  std::string local_path;
  std::optional<std::string_view> bytes;
  // The name the client gave ("products/sku-00001.png", "/home/me/a.pdf"); only ever recorded
  // and matched, never used as a path. Empty: the file name of `local_path` (an upload must be
  // named: InvalidArgument).
  std::string original_name;
  std::string source = "cli";  // "cli", "upload", "s3", "demo": [a-z0-9_-], 1-32 bytes
  // The product the object belongs to; if unset it is looked up in the product map, then derived
  // from the name (ProductIdFromName).
  std::optional<std::string> product_id;
};

// original name -> product id (see LoadProductMap).
using ProductMap = std::unordered_map<std::string, std::string>;

struct ObjectIngestOptions {
  uint64_t max_object_bytes = storage::kDefaultMaxObjectBytes;  // PayloadTooLarge past it
  size_t max_name_bytes = 1024;                                 // InvalidArgument past it
  size_t max_rows_per_commit = 10'000;  // IngestMany commits (one Parquet file) per this many
  ProductMap product_map;
};

struct ObjectIngestReport {
  std::string object_key;     // "sha256/<hex>" (ObjectKeyOf)
  std::string sha256;         // 64 lower-case hex digits
  std::string original_name;  // the recorded name: the client's name without its folders
  uint64_t size_bytes = 0;
  std::string source;  // ObjectSource::source
  // True if these bytes were ingested before (by an earlier call, or earlier in the same
  // IngestMany): no new row was written and `metadata`, `product_id` and `ingest_time_us` are
  // left empty; the existing row under `object_key` stands.
  bool duplicate = false;
  ObjectMetadata metadata;
  std::optional<std::string> product_id;
  int64_t ingest_time_us = 0;
};

// Ingests unstructured objects: stores each one's bytes once in the content-addressed
// storage::ObjectStore, sniffs its metadata from the bytes, and appends one row per distinct
// content to `raw.objects` (a Parquet file per commit, committed with the idempotency key
// `object:<sha256>` per object, so the same bytes never get a second row, also across processes
// and restarts).
//
// Called by the CLI (`basin ingest object`), the upload route (`POST /v1/objects`) and the demo.
// Thread-safe: it keeps no state between calls; concurrent ingests of the same bytes are settled
// by the catalog (the loser reports duplicate). Format and rules: docs/formats/objects.md.
class ObjectIngestor {
 public:
  ObjectIngestor(catalog::Catalog* catalog, storage::ObjectStore* store, std::string lake_root,
                 ObjectIngestOptions options = {}, Clock* clock = &SystemClock::Instance());

  // Ingests one object and commits its row. Errors (nothing committed, no blob left that was not
  // there before, except after a failed commit; see docs): InvalidArgument (a bad name, source
  // or product id), EmptyInput (zero bytes), PayloadTooLarge, NotFound (no such file), IoError,
  // DiskFull, and the catalog's errors.
  Result<ObjectIngestReport> Ingest(const ObjectSource& source);

  // Ingests many objects with one commit (one Parquet file) per max_rows_per_commit new objects.
  // One result per source, in order: an object that fails does not stop the others.
  std::vector<Result<ObjectIngestReport>> IngestMany(const std::vector<ObjectSource>& sources);

  // The table: `raw.objects`, location `raw/objects`, partitioned by `dt` (of ingest_time).
  static catalog::TableRef Table();
  static catalog::TableSchema Schema();

 private:
  struct Pending;
  Result<ObjectIngestReport> Prepare(const ObjectSource& source) const;
  // Writes and commits the rows of `pending`, filling in their results.
  void CommitPending(const catalog::TableInfo& table, std::vector<Pending>& pending,
                     std::unordered_set<std::string>& in_batch,
                     std::vector<std::optional<Result<ObjectIngestReport>>>& results);
  Result<catalog::DataFile> WriteRows(const std::vector<Pending>& pending, int64_t now_us) const;

  catalog::Catalog* catalog_;
  storage::ObjectStore* store_;
  std::string lake_root_;
  ObjectIngestOptions options_;
  Clock* clock_;
};

// "sha256/<hex>": the value of raw.objects.object_key (and what products.image_key holds).
std::string ObjectKeyOf(std::string_view sha256_hex);

// The name recorded for an object: `name` without its folders (after the last '/' or '\').
// InvalidArgument for an empty name, a name with a NUL or other control character, invalid
// UTF-8, a `..` part (a name trying to leave its folder), a name ending in a folder separator,
// or a name longer than `max_bytes`.
Result<std::string> SanitizeObjectName(std::string_view name, size_t max_bytes);

// The product an object belongs to by its name, or nullopt:
//  1. the file name without its extension is `product_<id>` (prefix case-insensitive), or
//  2. the folder holding the file is named `products` (case-insensitive): <id> = the file name
//     without its extension,
// where <id> must be 1-128 characters of [A-Za-z0-9._-]. `product_sku-00001.png` and
// `catalog/products/sku-00001.jpg` both give `sku-00001`.
std::optional<std::string> ProductIdFromName(std::string_view name);

// Reads a CSV file of `original_name,product_id` lines (an optional header line with exactly
// those names; fields may be quoted as in RFC 4180). A name is matched against an object's
// original name as given, then against its file name. InvalidArgument (with the line number) for
// a line without exactly two non-empty fields or a name mapped to two products; NotFound,
// PayloadTooLarge (over 64 MiB).
Result<ProductMap> LoadProductMap(const std::string& path);

}  // namespace basin::ingest
