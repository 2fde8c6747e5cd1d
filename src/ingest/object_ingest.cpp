#include "ingest/object_ingest.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <random>
#include <unordered_set>

#include "base/file_util.h"
#include "base/logging.h"
#include "base/time_format.h"
#include "query/parquet_file_writer.h"

namespace basin::ingest {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCommitKeyPrefix = "object:";
constexpr const char* kFilePrefix = "objects-";
constexpr int kCommitAttempts = 4;
constexpr uint64_t kMaxProductMapBytes = 64ULL << 20;
constexpr size_t kMaxProductIdBytes = 128;

std::string CommitKeyOf(std::string_view sha256) { return kCommitKeyPrefix + std::string(sha256); }

bool IsProductIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsDerivableProductId(std::string_view id) {
  if (id.empty() || id.size() > kMaxProductIdBytes) return false;
  for (char c : id) {
    if (!IsProductIdChar(c)) return false;
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The parts of a name split at '/' and '\' (empty parts kept).
std::vector<std::string_view> NameParts(std::string_view name) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/' || name[i] == '\\') {
      parts.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// "photo.large.png" -> "photo.large"; a leading dot is not an extension.
std::string_view StemOf(std::string_view file_name) {
  const size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return file_name;
  return file_name.substr(0, dot);
}

Status CheckSourceLabel(std::string_view source) {
  bool ok = !source.empty() && source.size() <= 32;
  for (char c : source) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  if (ok) return Status::Ok();
  return Error(ErrorCode::kInvalidArgument, "object source must be 1-32 of [a-z0-9_-]");
}

Status CheckGivenProductId(std::string_view id) {
  bool ok = !id.empty() && id.size() <= 256 && IsValidUtf8(id);
  for (char c : id) ok = ok && static_cast<unsigned char>(c) >= 0x20 && c != 0x7F;
  if (ok) return Status::Ok();
  return Error(ErrorCode::kInvalidArgument,
               "product id must be 1-256 bytes of UTF-8 without control characters");
}

void AppendOptionalText(query::Appender& a, const std::optional<std::string>& v) {
  if (v) {
    a.AppendVarchar(*v);
  } else {
    a.AppendNull();
  }
}

template <typename T>
void AppendOptionalInt(query::Appender& a, const std::optional<T>& v) {
  if (!v) {
    a.AppendNull();
  } else if constexpr (sizeof(T) == 4) {
    a.AppendInt32(*v);
  } else {
    a.AppendInt64(*v);
  }
}

// Splits one CSV line into fields (RFC 4180 quoting; no newlines inside quotes).
Result<std::vector<std::string>> SplitCsvLine(std::string_view line, size_t line_no) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) {
    return Error(ErrorCode::kInvalidArgument,
                 "product map line " + std::to_string(line_no) + ": unterminated quote");
  }
  return fields;
}

}  // namespace

struct ObjectIngestor::Pending {
  size_t index = 0;  // into the caller's sources
  ObjectIngestReport report;
};

std::string ObjectKeyOf(std::string_view sha256_hex) { return "sha256/" + std::string(sha256_hex); }

Result<std::string> SanitizeObjectName(std::string_view name, size_t max_bytes) {
  if (name.empty()) return Error(ErrorCode::kInvalidArgument, "object name is empty");
  if (name.size() > max_bytes) {
    return Error(ErrorCode::kInvalidArgument,
                 "object name is longer than " + std::to_string(max_bytes) + " bytes");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return Error(ErrorCode::kInvalidArgument, "object name contains a control character");
    }
  }
  if (!IsValidUtf8(name)) {
    return Error(ErrorCode::kInvalidArgument, "object name is not valid UTF-8");
  }
  const std::vector<std::string_view> parts = NameParts(name);
  for (std::string_view part : parts) {
    if (part == "..") {
      return Error(ErrorCode::kInvalidArgument, "object name tries to leave its folder (..)");
    }
  }
  const std::string_view file_name = parts.back();
  if (file_name.empty() || file_name == ".") {
    return Error(ErrorCode::kInvalidArgument, "object name has no file name");
  }
  return std::string(file_name);
}

std::optional<std::string> ProductIdFromName(std::string_view name) {
  const std::vector<std::string_view> parts = NameParts(name);
  const std::string_view stem = StemOf(parts.back());
  constexpr std::string_view kPrefix = "product_";
  if (stem.size() > kPrefix.size() && EqualsIgnoreCase(stem.substr(0, kPrefix.size()), kPrefix)) {
    const std::string_view id = stem.substr(kPrefix.size());
    if (IsDerivableProductId(id)) return std::string(id);
  }
  if (parts.size() >= 2 && EqualsIgnoreCase(parts[parts.size() - 2], "products") &&
      IsDerivableProductId(stem)) {
    return std::string(stem);
  }
  return std::nullopt;
}

Result<ProductMap> LoadProductMap(const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxProductMapBytes));
  ProductMap map;
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    if (line.empty()) continue;
    BASIN_ASSIGN_OR_RETURN(std::vector<std::string> fields, SplitCsvLine(line, line_no));
    const std::string where = "product map line " + std::to_string(line_no);
    if (fields.size() != 2 || fields[0].empty() || fields[1].empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   where + ": expected two non-empty fields original_name,product_id");
    }
    if (line_no == 1 && fields[0] == "original_name" && fields[1] == "product_id") continue;
    BASIN_RETURN_IF_ERROR(CheckGivenProductId(fields[1]).WithContext(where));
    auto [it, inserted] = map.emplace(fields[0], fields[1]);
    if (!inserted && it->second != fields[1]) {
      return Error(ErrorCode::kInvalidArgument,
                   where + ": '" + fields[0] + "' is already mapped to '" + it->second + "'");
    }
  }
  return map;
}

ObjectIngestor::ObjectIngestor(catalog::Catalog* catalog, storage::ObjectStore* store,
                               std::string lake_root, ObjectIngestOptions options, Clock* clock)
    : catalog_(catalog),
      store_(store),
      lake_root_(std::move(lake_root)),
      options_(std::move(options)),
      clock_(clock) {}

catalog::TableRef ObjectIngestor::Table() { return {"raw", "objects"}; }

catalog::TableSchema ObjectIngestor::Schema() {
  catalog::TableSchema schema;
  schema.columns = {
      {"object_key", "VARCHAR"}, {"sha256", "VARCHAR"},        {"original_name", "VARCHAR"},
      {"size_bytes", "BIGINT"},  {"content_type", "VARCHAR"},  {"ingest_time", "TIMESTAMP"},
      {"source", "VARCHAR"},     {"image_format", "VARCHAR"},  {"width", "INTEGER"},
      {"height", "INTEGER"},     {"text_encoding", "VARCHAR"}, {"line_count", "BIGINT"},
      {"word_count", "BIGINT"},  {"product_id", "VARCHAR"},
  };
  schema.partition_columns = {{"dt", "DATE"}};
  return schema;
}

Result<ObjectIngestReport> ObjectIngestor::Ingest(const ObjectSource& source) {
  std::vector<Result<ObjectIngestReport>> results = IngestMany({source});
  return std::move(results.front());
}

Result<ObjectIngestReport> ObjectIngestor::Prepare(const ObjectSource& source) const {
  // Everything about the input is checked before a byte is stored.
  std::string given_name = source.original_name;
  if (given_name.empty() && !source.bytes) {
    given_name = fs::path(source.local_path).filename().string();
  }
  BASIN_ASSIGN_OR_RETURN(std::string name, SanitizeObjectName(given_name, options_.max_name_bytes));
  BASIN_RETURN_IF_ERROR(CheckSourceLabel(source.source));
  if (source.product_id) BASIN_RETURN_IF_ERROR(CheckGivenProductId(*source.product_id));

  uint64_t size = 0;
  if (source.bytes) {
    size = source.bytes->size();
  } else {
    struct stat st {};
    if (::stat(source.local_path.c_str(), &st) != 0) {
      return ErrnoStatus(errno, "stat " + source.local_path);
    }
    if (!S_ISREG(st.st_mode)) {
      return Error(ErrorCode::kInvalidArgument, source.local_path + " is not a regular file");
    }
    size = static_cast<uint64_t>(st.st_size);
  }
  if (size == 0) return Error(ErrorCode::kEmptyInput, "'" + name + "' has no bytes");
  if (size > options_.max_object_bytes) {
    return Error(ErrorCode::kPayloadTooLarge, "'" + name + "' has " + std::to_string(size) +
                                                  " bytes, over the limit of " +
                                                  std::to_string(options_.max_object_bytes));
  }

  Result<storage::PutResult> put =
      source.bytes ? store_->PutBytes(*source.bytes) : store_->PutFile(source.local_path);
  if (!put.ok()) return put.status().WithContext("storing '" + name + "'");
  // The file changed between stat and copy. The blob stays: another ingest of the same bytes may
  // be using it, and an unreferenced blob is harmless.
  if (put->size_bytes == 0) return Error(ErrorCode::kEmptyInput, "'" + name + "' has no bytes");
  if (put->size_bytes > options_.max_object_bytes) {
    return Error(ErrorCode::kPayloadTooLarge, "'" + name + "' grew over the size limit");
  }

  ObjectIngestReport report;
  report.sha256 = put->sha256;
  report.object_key = ObjectKeyOf(put->sha256);
  report.original_name = name;
  report.size_bytes = put->size_bytes;
  report.source = source.source;
  BASIN_ASSIGN_OR_RETURN(bool known, catalog_->HasCommitKey(CommitKeyOf(put->sha256)));
  if (known) {
    report.duplicate = true;
    return report;
  }
  // Metadata comes from the stored blob: it is exactly the bytes that were hashed, even if the
  // source file changes meanwhile.
  BASIN_ASSIGN_OR_RETURN(std::string blob_path, store_->Path(put->sha256));
  BASIN_ASSIGN_OR_RETURN(report.metadata, ExtractObjectMetadata(blob_path));

  if (source.product_id) {
    report.product_id = source.product_id;
  } else if (auto it = options_.product_map.find(given_name); it != options_.product_map.end()) {
    report.product_id = it->second;
  } else if (auto by_file = options_.product_map.find(name);
             by_file != options_.product_map.end()) {
    report.product_id = by_file->second;
  } else {
    report.product_id = ProductIdFromName(given_name);
  }
  return report;
}

std::vector<Result<ObjectIngestReport>> ObjectIngestor::IngestMany(
    const std::vector<ObjectSource>& sources) {
  std::vector<std::optional<Result<ObjectIngestReport>>> results(sources.size());
  auto finish = [&] {
    std::vector<Result<ObjectIngestReport>> out;
    out.reserve(results.size());
    for (auto& r : results) out.push_back(std::move(*r));
    return out;
  };
  Result<catalog::TableInfo> table = catalog_->EnsureTable(Table(), Schema(), "raw/objects");
  if (!table.ok()) {
    for (auto& r : results) r = table.status();
    return finish();
  }

  std::vector<Pending> pending;
  std::unordered_set<std::string> in_batch;  // digests of the rows pending or committed here
  for (size_t i = 0; i < sources.size(); ++i) {
    Result<ObjectIngestReport> prepared = Prepare(sources[i]);
    if (prepared.ok() && !prepared->duplicate && !in_batch.insert(prepared->sha256).second) {
      prepared->duplicate = true;  // the same bytes earlier in this call
      prepared->metadata = {};
      prepared->product_id.reset();
    }
    if (!prepared.ok() || prepared->duplicate) {
      results[i] = std::move(prepared);
      continue;
    }
    pending.push_back(Pending{i, std::move(prepared).value()});
    if (pending.size() >= options_.max_rows_per_commit) {
      CommitPending(*table, pending, in_batch, results);
    }
  }
  CommitPending(*table, pending, in_batch, results);
  return finish();
}

Result<catalog::DataFile> ObjectIngestor::WriteRows(const std::vector<Pending>& pending,
                                                    int64_t now_us) const {
  BASIN_ASSIGN_OR_RETURN(auto writer, query::ParquetFileWriter::Create(Schema().columns));
  for (const Pending& p : pending) {
    const ObjectIngestReport& r = p.report;
    query::Appender& a = writer->appender();
    a.AppendVarchar(r.object_key);
    a.AppendVarchar(r.sha256);
    a.AppendVarchar(r.original_name);
    a.AppendInt64(static_cast<int64_t>(r.size_bytes));
    a.AppendVarchar(r.metadata.content_type);
    a.AppendTimestampMicros(now_us);
    a.AppendVarchar(r.source);
    AppendOptionalText(a, r.metadata.image_format);
    AppendOptionalInt(a, r.metadata.width);
    AppendOptionalInt(a, r.metadata.height);
    AppendOptionalText(a, r.metadata.text_encoding);
    AppendOptionalInt(a, r.metadata.line_count);
    AppendOptionalInt(a, r.metadata.word_count);
    AppendOptionalText(a, r.product_id);
    BASIN_RETURN_IF_ERROR(writer->EndRow());
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char name[96];
  std::snprintf(name, sizeof name, "%s%020lld-%08llx.parquet", kFilePrefix,
                static_cast<long long>(now_us),
                static_cast<unsigned long long>(rng() & 0xFFFFFFFF));
  catalog::DataFile file;
  file.partition = "dt=" + FormatDate(now_us);
  file.path = "raw/objects/" + file.partition + "/" + name;
  BASIN_ASSIGN_OR_RETURN(query::WrittenFile written,
                         writer->Write((fs::path(lake_root_) / file.path).string()));
  file.row_count = written.row_count;
  file.size_bytes = written.size_bytes;
  file.min_time_us = now_us;
  file.max_time_us = now_us;
  return file;
}

void ObjectIngestor::CommitPending(
    const catalog::TableInfo& table, std::vector<Pending>& pending,
    std::unordered_set<std::string>& in_batch,
    std::vector<std::optional<Result<ObjectIngestReport>>>& results) {
  auto fail_all = [&](const Status& status) {
    for (Pending& p : pending) {
      in_batch.erase(p.report.sha256);  // a later copy of these bytes may still make the row
      results[p.index] = status;
    }
    pending.clear();
  };
  for (int attempt = 0; attempt < kCommitAttempts && !pending.empty(); ++attempt) {
    const int64_t now_us = clock_->NowMicros();
    Result<catalog::DataFile> file = WriteRows(pending, now_us);
    if (!file.ok()) return fail_all(file.status().WithContext("writing raw.objects"));

    catalog::CommitRequest request;
    request.changes.push_back(catalog::TableChange{table.id, catalog::ChangeKind::kAppend, {}, {}});
    request.changes.back().added.push_back(*file);
    for (const Pending& p : pending) request.keys.push_back(CommitKeyOf(p.report.sha256));
    Result<catalog::CommitResult> committed = catalog_->Commit(std::move(request));
    if (committed.ok()) {
      for (Pending& p : pending) {
        p.report.ingest_time_us = now_us;
        results[p.index] = std::move(p.report);
      }
      pending.clear();
      return;
    }
    std::error_code ec;
    fs::remove(fs::path(lake_root_) / file->path, ec);
    if (committed.status().code() != ErrorCode::kAlreadyExists) {
      return fail_all(committed.status().WithContext("committing raw.objects"));
    }
    // Another ingest committed some of these bytes first: those are duplicates now; retry the
    // rest with a new file.
    std::vector<Pending> still_new;
    for (Pending& p : pending) {
      Result<bool> known = catalog_->HasCommitKey(CommitKeyOf(p.report.sha256));
      if (!known.ok()) {
        in_batch.erase(p.report.sha256);
        results[p.index] = known.status();
      } else if (*known) {
        ObjectIngestReport duplicate = std::move(p.report);
        duplicate.duplicate = true;
        duplicate.metadata = {};
        duplicate.product_id.reset();
        results[p.index] = std::move(duplicate);
      } else {
        still_new.push_back(std::move(p));
      }
    }
    pending = std::move(still_new);
  }
  fail_all(Error(ErrorCode::kConflict, "raw.objects: commit kept racing other ingests"));
}

}  // namespace basin::ingest
