// The items of a Map state's ItemReader: S3 listings and object contents (lake zones included,
// through the bucket store) and lake table rows. Part of BasinTaskRunner (workflow_tasks.h).
#include <fstream>
#include <iterator>

#include "base/time_format.h"
#include "catalog/catalog.h"
#include "cli/workflow_tasks.h"
#include "query/duck_db.h"
#include "storage/bucket_store.h"

namespace basin::cli {
namespace {

using workflow::JsonValue;
using workflow::Outcome;
using workflow::StateError;

constexpr std::string_view kListObjects = "arn:aws:states:::s3:listObjectsV2";
constexpr std::string_view kGetObject = "arn:aws:states:::s3:getObject";
constexpr std::string_view kReadTable = "arn:basin:states:::lake:readTable";

// A Map holds its items in memory: these bound what one reader may produce.
constexpr int64_t kMaxItems = 100'000;
constexpr uint64_t kMaxObjectBytes = 64ULL << 20;
constexpr int kListPageKeys = 1000;

StateError ReaderFailed(std::string_view what) {
  return StateError{"States.ItemReaderFailed", std::string(what)};
}

std::string StringField(const JsonValue& object, std::string_view field) {
  const JsonValue* v = object.IsObject() ? object.Find(field) : nullptr;
  return v != nullptr && v->IsString() ? v->AsString() : std::string();
}

// ReaderConfig.MaxItems (0 or absent: no limit but ours).
int64_t MaxItems(const JsonValue& reader_config) {
  const JsonValue* v = reader_config.IsObject() ? reader_config.Find("MaxItems") : nullptr;
  if (v == nullptr || !v->IsIntegral() || v->AsInt() <= 0) return kMaxItems;
  return std::min<int64_t>(v->AsInt(), kMaxItems);
}

StateError TooManyItems() {
  return ReaderFailed("the reader produced more than " + std::to_string(kMaxItems) +
                      " items; set ReaderConfig.MaxItems or narrow the Prefix");
}

// A bucket store error as an S3 error name, e.g. "S3.NoSuchKey", as Step Functions names the
// errors of its S3 integration.
StateError S3Failure(const Status& status) {
  std::string_view name = storage::S3ErrorName(status);
  return StateError{"S3." + std::string(name.empty() ? "S3Exception" : name), status.ToString()};
}

char CsvDelimiter(std::string_view name) {
  if (name == "PIPE") return '|';
  if (name == "SEMICOLON") return ';';
  if (name == "SPACE") return ' ';
  if (name == "TAB") return '\t';
  return ',';
}

// RFC 4180 records: quoted fields may hold the delimiter, newlines and doubled quotes. A CR
// before a record's LF is dropped.
std::vector<std::vector<std::string>> SplitCsv(std::string_view text, char delimiter) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, any = false;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
  };
  auto end_record = [&] {
    end_field();
    records.push_back(std::move(record));
    record.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
      continue;
    }
    if (c == '"') {
      quoted = any = true;
    } else if (c == delimiter) {
      end_field();
      any = true;
    } else if (c == '\n') {
      if (!field.empty() && field.back() == '\r') field.pop_back();
      if (any || !field.empty()) end_record();
    } else {
      field += c;
      any = true;
    }
  }
  if (any || !field.empty()) end_record();
  return records;
}

}  // namespace

bool IsIdempotentResource(std::string_view resource) {
  return resource.find(":::glue:startJobRun") != std::string_view::npos ||
         resource.find(":::athena:startQueryExecution") != std::string_view::npos ||
         resource == "arn:basin:states:::landing:sweep" ||
         resource == "arn:basin:states:::loader:flush" || resource == kListObjects ||
         resource == kGetObject || resource == kReadTable;
}

std::string BasinTaskRunner::UnsupportedItemReader(std::string_view resource) const {
  if (resource == kListObjects || resource == kGetObject) {
    return services_.buckets ? std::string() : "S3 item readers cannot run here";
  }
  if (resource == kReadTable) {
    return services_.run_query ? std::string() : "table item readers cannot run here";
  }
  return "Basin cannot read Map items from this resource (supported: "
         "arn:aws:states:::s3:listObjectsV2, arn:aws:states:::s3:getObject, "
         "arn:basin:states:::lake:readTable)";
}

Outcome<JsonValue> BasinTaskRunner::ReadItems(const workflow::TaskRequest& request) {
  std::string why = UnsupportedItemReader(request.resource);
  if (!why.empty()) return ReaderFailed(request.resource + ": " + why);
  if (request.resource == kListObjects) return ListObjectItems(request);
  if (request.resource == kGetObject) return ObjectContentItems(request);
  return TableRowItems(request);
}

Outcome<JsonValue> BasinTaskRunner::ListObjectItems(const workflow::TaskRequest& request) {
  const std::string bucket = StringField(request.input, "Bucket");
  if (bucket.empty()) return ReaderFailed("s3:listObjectsV2 needs a string 'Bucket'");
  const int64_t max_items = MaxItems(request.reader_config);
  storage::ListRequest list;
  list.prefix = StringField(request.input, "Prefix");
  list.max_keys = kListPageKeys;
  JsonValue items = JsonValue::Array();
  auto buckets = services_.buckets();
  if (!buckets.ok()) return ReaderFailed("cannot open the buckets: " + buckets.status().ToString());
  while (true) {
    auto page = (*buckets)->ListObjects(bucket, list);
    if (!page.ok()) return S3Failure(page.status());
    for (const storage::ObjectInfo& object : page->objects) {
      if (static_cast<int64_t>(items.size()) == max_items) {
        if (max_items == kMaxItems) return TooManyItems();
        return items;
      }
      JsonValue item = JsonValue::Object();
      item.Set("Etag", JsonValue::String(object.etag));
      item.Set("Key", JsonValue::String(object.key));
      item.Set("LastModified", JsonValue::String(FormatIso8601Millis(object.last_modified_us)));
      item.Set("Size", JsonValue::Int(static_cast<int64_t>(object.size)));
      item.Set("StorageClass", JsonValue::String("STANDARD"));
      items.Append(std::move(item));
    }
    if (!page->truncated) return items;
    list.start_after = page->next_marker;
  }
}

Outcome<JsonValue> BasinTaskRunner::ObjectContentItems(const workflow::TaskRequest& request) {
  const std::string bucket = StringField(request.input, "Bucket");
  const std::string key = StringField(request.input, "Key");
  if (bucket.empty() || key.empty()) {
    return ReaderFailed("s3:getObject needs string 'Bucket' and 'Key'");
  }
  const std::string input_type = StringField(request.reader_config, "InputType");
  if (input_type != "JSON" && input_type != "JSONL" && input_type != "CSV") {
    return ReaderFailed("ReaderConfig.InputType must be JSON, JSONL or CSV (got '" + input_type +
                        "')");
  }
  auto buckets = services_.buckets();
  if (!buckets.ok()) return ReaderFailed("cannot open the buckets: " + buckets.status().ToString());
  auto object = (*buckets)->OpenObject(bucket, key);
  if (!object.ok()) return S3Failure(object.status());
  if (object->info.size > kMaxObjectBytes) {
    return ReaderFailed("s3://" + bucket + "/" + key + " is larger than " +
                        std::to_string(kMaxObjectBytes >> 20) + " MiB");
  }
  std::ifstream in(object->path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return ReaderFailed("cannot read s3://" + bucket + "/" + key);
  const int64_t max_items = MaxItems(request.reader_config);
  const auto full = [&](const JsonValue& items) {
    return static_cast<int64_t>(items.size()) >= max_items;
  };

  JsonValue items = JsonValue::Array();
  if (input_type == "JSON") {
    auto doc = workflow::ParseJson(text, kMaxObjectBytes);
    if (!doc.ok())
      return ReaderFailed("s3://" + bucket + "/" + key + ": " + doc.status().message());
    if (!doc->IsArray()) return ReaderFailed("s3://" + bucket + "/" + key + " is not a JSON array");
    for (const JsonValue& item : doc->items()) {
      if (full(items)) break;
      items.Append(item);
    }
  } else if (input_type == "JSONL") {
    size_t line_no = 0;
    for (size_t start = 0; start < text.size() && !full(items); ++line_no) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + start, end - start);
      start = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      auto item = workflow::ParseJson(line);
      if (!item.ok()) {
        return ReaderFailed("s3://" + bucket + "/" + key + " line " + std::to_string(line_no + 1) +
                            ": " + item.status().message());
      }
      items.Append(std::move(item).value());
    }
  } else {
    auto records = SplitCsv(text, CsvDelimiter(StringField(request.reader_config, "CSVDelimiter")));
    std::vector<std::string> headers;
    size_t first = 0;
    if (StringField(request.reader_config, "CSVHeaderLocation") == "GIVEN") {
      const JsonValue* given = request.reader_config.Find("CSVHeaders");
      if (given == nullptr || !given->IsArray() || given->size() == 0) {
        return ReaderFailed("CSVHeaderLocation GIVEN needs ReaderConfig.CSVHeaders");
      }
      for (const JsonValue& h : given->items()) {
        if (!h.IsString()) return ReaderFailed("ReaderConfig.CSVHeaders must be strings");
        headers.push_back(h.AsString());
      }
    } else if (!records.empty()) {
      headers = records[0];
      first = 1;
    }
    for (size_t r = first; r < records.size() && !full(items); ++r) {
      if (records[r].size() != headers.size()) {
        return ReaderFailed("s3://" + bucket + "/" + key + " row " + std::to_string(r + 1) +
                            " has " + std::to_string(records[r].size()) + " fields, the header " +
                            std::to_string(headers.size()));
      }
      JsonValue item = JsonValue::Object();
      for (size_t c = 0; c < headers.size(); ++c) {
        item.Set(headers[c], JsonValue::String(std::move(records[r][c])));
      }
      items.Append(std::move(item));
    }
  }
  return items;
}

Outcome<JsonValue> BasinTaskRunner::TableRowItems(const workflow::TaskRequest& request) {
  const std::string table = StringField(request.input, "Table");
  auto ref = catalog::TableRef::Parse(table);
  if (!ref.ok()) return ReaderFailed("lake:readTable needs 'Table' as <zone>.<name>");
  std::string sql = "SELECT * FROM " + query::QuoteIdentifier(ref->zone) + "." +
                    query::QuoteIdentifier(ref->name);
  const std::string where = StringField(request.input, "Where");
  if (!where.empty()) sql += " WHERE " + where;
  const int64_t max_items = MaxItems(request.reader_config);
  // One row more than allowed tells "exactly the limit" from "too many".
  sql += " LIMIT " + std::to_string(max_items + 1);
  auto result = services_.run_query(sql);
  if (!result.ok())
    return ReaderFailed("lake:readTable " + table + ": " + result.status().ToString());
  if (static_cast<int64_t>(result->rows.size()) > max_items && max_items == kMaxItems) {
    return TooManyItems();
  }
  JsonValue items = JsonValue::Array();
  for (const auto& row : result->rows) {
    if (static_cast<int64_t>(items.size()) == max_items) break;
    JsonValue item = JsonValue::Object();
    for (size_t c = 0; c < row.size() && c < result->columns.size(); ++c) {
      const query::Value& v = row[c];
      JsonValue cell;
      switch (v.kind) {
        case query::Value::Kind::kNull: cell = JsonValue::Null(); break;
        case query::Value::Kind::kBool: cell = JsonValue::Bool(v.b); break;
        case query::Value::Kind::kInt: cell = JsonValue::Int(v.i); break;
        case query::Value::Kind::kDouble: cell = JsonValue::Double(v.d); break;
        default: cell = JsonValue::String(v.s); break;
      }
      item.Set(result->columns[c].name, std::move(cell));
    }
    items.Append(std::move(item));
  }
  return items;
}

}  // namespace basin::cli
