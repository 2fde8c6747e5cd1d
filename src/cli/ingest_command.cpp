// `basin ingest FILE... --table raw.<name>`: batch files into the raw zone, the same load path as
// uploads and the landing sweep (ingest::BatchLoader). `basin ingest object PATH...`: objects.
#include <cstdio>
#include <filesystem>

#include "base/logging.h"
#include "cli/commands.h"
#include "cli/platform.h"
#include "cli/progress_bar.h"
#include "ingest/batch_loader.h"
#include "ingest/object_ingest.h"
#include "storage/object_store.h"

namespace basin::cli {
namespace {

struct IngestOptions {
  std::string data_dir = "./basin-data";
  std::string table;
  std::vector<std::string> files;
  ingest::BatchFileOptions file_options;
  uint64_t max_file_bytes = 1ULL << 30;
};

// "loaded orders.csv -> raw.orders: 1,000 rows, 3 quarantined, schema v2 (+discount), 0.42 s"
std::string LoadSummary(const ingest::LoadReport& r) {
  if (r.already_loaded) {
    return "skipped " + r.original_name + ": already loaded into " + r.table.Qualified() +
           " (sha256 " + r.sha256.substr(0, 12) + ")";
  }
  std::string line = "loaded " + r.original_name + " -> " + r.table.Qualified() + ": " +
                     WithThousands(r.rows_loaded) + " rows, " + WithThousands(r.rows_quarantined) +
                     " quarantined, " + r.format + " " + r.encoding + ", schema v" +
                     std::to_string(r.schema_version);
  for (const std::string& c : r.columns_added) line += " +" + c;
  for (const std::string& c : r.columns_widened) line += " ~" + c;
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), ", %.2f s", r.duration_ms / 1000.0);
  return line + seconds;
}

int RunIngestFiles(const IngestOptions& opts) {
  SetLogLevel(LogLevel::kWarn);
  auto table = catalog::TableRef::Parse(opts.table);
  if (!table.ok() || table->zone != "raw") {
    std::fprintf(stderr, "basin ingest: --table must be raw.<name>, e.g. raw.orders\n");
    return 2;
  }
  auto lake = OpenLake(opts.data_dir);
  if (!lake.ok()) {
    std::fprintf(stderr, "basin ingest: %s\n", lake.status().ToString().c_str());
    return 1;
  }
  ingest::BatchLimits limits;
  limits.max_file_bytes = opts.max_file_bytes;
  ingest::BatchLoader loader((*lake)->catalog.get(), (*lake)->lake_root, limits);
  int failures = 0;
  for (const std::string& path : opts.files) {
    ingest::BatchSource source;
    source.path = path;
    source.original_name = std::filesystem::path(path).filename().string();
    source.table = *table;
    source.source = "cli";
    source.options = opts.file_options;
    ProgressBar bar(source.original_name);
    auto report =
        loader.Load(source, [&](uint64_t done, uint64_t total) { bar.Update(done, total); });
    bar.Finish();
    if (!report.ok()) {
      ++failures;
      std::fprintf(stderr, "failed %s: %s\n", path.c_str(), report.status().ToString().c_str());
      continue;
    }
    std::printf("%s\n", LoadSummary(*report).c_str());
  }
  return failures == 0 ? 0 : 1;
}

struct ObjectOptions {
  std::string data_dir = "./basin-data";
  std::vector<std::string> paths;
  std::string product_id;
  std::string product_map;
};

// "stored product_sku-1.png -> sha256/ab12…: image/png 112x112, product sku-1"
std::string ObjectSummary(const std::string& path, const ingest::ObjectIngestReport& r) {
  if (r.duplicate) return "skipped " + path + ": already stored as " + r.object_key;
  std::string line = "stored " + path + " -> " + r.object_key + ": " + r.metadata.content_type +
                     ", " + WithThousands(static_cast<int64_t>(r.size_bytes)) + " bytes";
  if (r.metadata.width && r.metadata.height) {
    line += ", " + std::to_string(*r.metadata.width) + "x" + std::to_string(*r.metadata.height);
  }
  if (r.metadata.line_count) line += ", " + WithThousands(*r.metadata.line_count) + " lines";
  if (r.product_id) line += ", product " + *r.product_id;
  return line;
}

int RunIngestObjects(const ObjectOptions& opts) {
  SetLogLevel(LogLevel::kWarn);
  if (opts.paths.empty()) {
    std::fprintf(stderr, "basin ingest object: give the files to store\n");
    return 2;
  }
  auto lake = OpenLake(opts.data_dir);
  if (!lake.ok()) {
    std::fprintf(stderr, "basin ingest object: %s\n", lake.status().ToString().c_str());
    return 1;
  }
  ingest::ObjectIngestOptions options;
  if (!opts.product_map.empty()) {
    auto map = ingest::LoadProductMap(opts.product_map);
    if (!map.ok()) {
      std::fprintf(stderr, "basin ingest object: %s\n", map.status().ToString().c_str());
      return 1;
    }
    options.product_map = std::move(map).value();
  }
  auto store = storage::ObjectStore::Open(storage::ObjectStore::RootUnderLake((*lake)->lake_root));
  if (!store.ok()) {
    std::fprintf(stderr, "basin ingest object: %s\n", store.status().ToString().c_str());
    return 1;
  }
  ingest::ObjectIngestor ingestor((*lake)->catalog.get(), store->get(), (*lake)->lake_root,
                                  options);
  std::vector<ingest::ObjectSource> sources;
  for (const std::string& path : opts.paths) {
    ingest::ObjectSource source;
    source.local_path = path;
    source.original_name = path;
    source.source = "cli";
    if (!opts.product_id.empty()) source.product_id = opts.product_id;
    sources.push_back(std::move(source));
  }
  auto results = ingestor.IngestMany(sources);
  int failures = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      ++failures;
      std::fprintf(stderr, "failed %s: %s\n", opts.paths[i].c_str(),
                   results[i].status().ToString().c_str());
      continue;
    }
    std::printf("%s\n", ObjectSummary(opts.paths[i], *results[i]).c_str());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

CommandRunner AddIngestObjectCommand(CLI::App& ingest) {
  auto opts = std::make_shared<ObjectOptions>();
  CLI::App* sub = ingest.add_subcommand(
      "object", "Store files (images, documents, binaries) content-addressed in raw.objects");
  sub->add_option("paths", opts->paths, "Files to store")->required();
  sub->add_option("--data-dir", opts->data_dir, "Data directory")->capture_default_str();
  sub->add_option("--product-id", opts->product_id, "The product these objects belong to");
  sub->add_option("--product-map", opts->product_map,
                  "CSV of original_name,product_id lines linking objects to products");
  return [opts]() -> int { return RunIngestObjects(*opts); };
}

CommandRunner AddIngestCommand(CLI::App& app) {
  auto opts = std::make_shared<IngestOptions>();
  CLI::App* sub = app.add_subcommand(
      "ingest", "Load CSV/JSON files into a raw table (or objects: `basin ingest object`)");
  sub->add_option("files", opts->files, "CSV, JSON or NDJSON files");
  sub->add_option("--table", opts->table, "The raw table to load into, e.g. raw.orders");
  sub->add_option("--data-dir", opts->data_dir, "Data directory")->capture_default_str();
  sub->add_option("--format", opts->file_options.format, "File format")
      ->check(CLI::IsMember({"auto", "csv", "json", "ndjson"}))
      ->capture_default_str();
  sub->add_option("--delimiter", opts->file_options.delimiter,
                  "CSV delimiter (default: sniffed from the file)");
  sub->add_option("--header", opts->file_options.header, "CSV header row")
      ->check(CLI::IsMember({"auto", "yes", "no"}))
      ->capture_default_str();
  sub->add_option("--encoding", opts->file_options.encoding, "Text encoding")
      ->check(CLI::IsMember({"auto", "utf-8", "latin-1"}))
      ->capture_default_str();
  sub->add_option("--max-file-bytes", opts->max_file_bytes, "Largest file accepted")
      ->capture_default_str();
  CommandRunner objects = AddIngestObjectCommand(*sub);
  CLI::App* object_sub = sub->get_subcommands({}).back();
  return [opts, objects, object_sub, sub]() -> int {
    if (object_sub->parsed()) return objects();
    if (opts->files.empty() || opts->table.empty()) {
      std::fprintf(stderr, "basin ingest: give files and --table raw.<name>\n%s",
                   sub->help().c_str());
      return 2;
    }
    return RunIngestFiles(*opts);
  };
}

}  // namespace basin::cli
