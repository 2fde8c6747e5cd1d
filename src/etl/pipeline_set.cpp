#include "etl/pipeline_set.h"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "base/file_util.h"
#include "etl/default_pipelines.h"

namespace basin::etl {
namespace {
namespace dom = simdjson::dom;

constexpr std::string_view kPipelineSuffix = ".pipeline.json";
constexpr std::string_view kRawTablesFile = "raw_tables.json";
constexpr uint64_t kMaxDeclarationBytes = 1 << 20;

Status Invalid(const std::string& path, const std::string& message) {
  return Error(ErrorCode::kInvalidDefinition, path + ": " + message);
}

Result<std::string> StringField(dom::object object, std::string_view key, const std::string& path) {
  std::string_view value;
  if (object[key].get_string().get(value))
    return Invalid(path + "." + std::string(key), "must be a string");
  return std::string(value);
}

// The name a pipeline file must declare: "orders.pipeline.json" holds "orders".
Status CheckFileName(const PipelineSpec& spec, const std::string& file_name) {
  const std::string stem = file_name.substr(0, file_name.size() - kPipelineSuffix.size());
  if (spec.name != stem) {
    return Invalid(file_name + ": $.name", "'" + spec.name + "' does not match the file name");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<RawTableDeclaration>> ParseRawTableDeclarations(std::string_view json) {
  dom::parser parser;
  dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root)) {
    return Invalid("$", std::string("not valid JSON: ") + simdjson::error_message(error));
  }
  dom::object object;
  if (root.get_object().get(object)) return Invalid("$", "must be an object");
  for (auto field : object) {
    if (field.key != "tables" && field.key != "description") {
      return Invalid("$." + std::string(field.key), "unknown field");
    }
  }
  dom::array tables;
  if (object["tables"].get_array().get(tables)) return Invalid("$.tables", "must be an array");
  std::vector<RawTableDeclaration> out;
  std::set<std::string> seen;
  size_t i = 0;
  for (dom::element t : tables) {
    const std::string path = "$.tables[" + std::to_string(i++) + "]";
    dom::object table;
    if (t.get_object().get(table)) return Invalid(path, "must be an object");
    for (auto field : table) {
      if (field.key != "table" && field.key != "columns") {
        return Invalid(path + "." + std::string(field.key), "unknown field");
      }
    }
    RawTableDeclaration declaration;
    BASIN_ASSIGN_OR_RETURN(std::string name, StringField(table, "table", path));
    auto ref = catalog::TableRef::Parse(name);
    if (!ref.ok() || ref->zone != "raw") return Invalid(path + ".table", "must be raw.<name>");
    if (!seen.insert(name).second) return Invalid(path + ".table", name + " is declared twice");
    declaration.table = *ref;
    dom::array columns;
    if (table["columns"].get_array().get(columns) || columns.size() == 0) {
      return Invalid(path + ".columns", "must be a non-empty array");
    }
    size_t j = 0;
    for (dom::element c : columns) {
      const std::string column_path = path + ".columns[" + std::to_string(j++) + "]";
      dom::object column;
      if (c.get_object().get(column)) return Invalid(column_path, "must be an object");
      catalog::Column col;
      BASIN_ASSIGN_OR_RETURN(col.name, StringField(column, "name", column_path));
      BASIN_ASSIGN_OR_RETURN(col.type, StringField(column, "type", column_path));
      declaration.columns.push_back(std::move(col));
    }
    out.push_back(std::move(declaration));
  }
  return out;
}

const PipelineSpec* PipelineSet::Find(std::string_view name) const {
  for (const PipelineSpec& p : pipelines) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const PipelineSpec* PipelineSet::WriterOf(const catalog::TableRef& table) const {
  for (const PipelineSpec& p : pipelines) {
    if (p.output.table == table) return &p;
  }
  return nullptr;
}

Result<std::vector<PipelineSpec>> OrderByDependencies(std::vector<PipelineSpec> pipelines) {
  std::sort(pipelines.begin(), pipelines.end(),
            [](const PipelineSpec& a, const PipelineSpec& b) { return a.name < b.name; });
  std::map<std::string, size_t> writer;  // output table -> pipeline index
  for (size_t i = 0; i < pipelines.size(); ++i) {
    const std::string table = pipelines[i].output.table.Qualified();
    auto [it, inserted] = writer.emplace(table, i);
    if (!inserted) {
      return Invalid(pipelines[i].name, "writes " + table + ", which pipeline " +
                                            pipelines[it->second].name + " writes too");
    }
  }
  // Depth-first: a pipeline is placed after the writers of all its sources.
  enum class Mark { kNone, kVisiting, kDone };
  std::vector<Mark> marks(pipelines.size(), Mark::kNone);
  std::vector<size_t> order;
  std::function<Status(size_t)> visit = [&](size_t i) -> Status {
    if (marks[i] == Mark::kDone) return Status::Ok();
    if (marks[i] == Mark::kVisiting) {
      return Invalid(pipelines[i].name,
                     "is part of a cycle: it reads, through other pipelines, "
                     "the table it writes");
    }
    marks[i] = Mark::kVisiting;
    for (const SourceSpec& source : pipelines[i].sources) {
      auto it = writer.find(source.table.Qualified());
      if (it != writer.end()) BASIN_RETURN_IF_ERROR(visit(it->second));
    }
    marks[i] = Mark::kDone;
    order.push_back(i);
    return Status::Ok();
  };
  for (size_t i = 0; i < pipelines.size(); ++i) BASIN_RETURN_IF_ERROR(visit(i));
  std::vector<PipelineSpec> out;
  for (size_t i : order) out.push_back(std::move(pipelines[i]));
  return out;
}

Result<PipelineSet> LoadPipelineSet(const std::string& user_dir) {
  std::map<std::string, PipelineSpec> by_name;
  std::vector<RawTableDeclaration> raw_tables;
  auto add_file = [&](const std::string& file_name, const std::string& content) -> Status {
    if (file_name == kRawTablesFile) {
      auto declared = ParseRawTableDeclarations(content);
      if (!declared.ok()) return declared.status().WithContext(file_name);
      for (RawTableDeclaration& d : *declared) {
        std::erase_if(raw_tables, [&](const auto& r) { return r.table == d.table; });
        raw_tables.push_back(std::move(d));
      }
      return Status::Ok();
    }
    if (!file_name.ends_with(kPipelineSuffix)) return Status::Ok();
    auto spec = ParsePipelineSpec(content);
    if (!spec.ok()) return spec.status().WithContext(file_name);
    BASIN_RETURN_IF_ERROR(CheckFileName(*spec, file_name));
    by_name[spec->name] = std::move(spec).value();
    return Status::Ok();
  };
  for (const EmbeddedFile& file : DefaultPipelineFiles()) {
    BASIN_RETURN_IF_ERROR(add_file(file.name, file.content));
  }
  std::error_code ec;
  if (!user_dir.empty() && std::filesystem::is_directory(user_dir, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(user_dir, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      BASIN_ASSIGN_OR_RETURN(std::string content, ReadFile(path.string(), kMaxDeclarationBytes));
      BASIN_RETURN_IF_ERROR(add_file(path.filename().string(), content));
    }
  }
  std::vector<PipelineSpec> specs;
  for (auto& [name, spec] : by_name) specs.push_back(std::move(spec));
  PipelineSet set;
  BASIN_ASSIGN_OR_RETURN(set.pipelines, OrderByDependencies(std::move(specs)));
  set.raw_tables = std::move(raw_tables);
  return set;
}

std::vector<catalog::TableRef> MissingSources(const catalog::Catalog& catalog,
                                              const PipelineSpec& spec) {
  std::vector<catalog::TableRef> missing;
  for (const SourceSpec& source : spec.sources) {
    if (catalog.GetTable(source.table).status().code() == ErrorCode::kTableNotFound &&
        std::find(missing.begin(), missing.end(), source.table) == missing.end()) {
      missing.push_back(source.table);
    }
  }
  return missing;
}

Result<std::vector<std::string>> ForgetRemovedPipelines(catalog::Catalog& catalog,
                                                        const PipelineSet& set) {
  constexpr std::string_view kPrefix = "pipeline:";
  std::vector<std::string> removed;
  for (const catalog::TableInfo& table : catalog.ListTables()) {
    const std::string stream = catalog::TableConsumerStream(table.ref);
    BASIN_ASSIGN_OR_RETURN(auto consumers, catalog.ListConsumers(stream));
    for (const catalog::ConsumerOffset& c : consumers) {
      if (!c.consumer.starts_with(kPrefix)) continue;
      if (set.Find(std::string_view(c.consumer).substr(kPrefix.size())) != nullptr) continue;
      BASIN_RETURN_IF_ERROR(catalog.RemoveConsumer(stream, c.consumer));
      removed.push_back(stream + " " + c.consumer);
    }
  }
  return removed;
}

Status EnsureRawTables(catalog::Catalog& catalog, const std::vector<RawTableDeclaration>& tables) {
  for (const RawTableDeclaration& d : tables) {
    catalog::TableSchema schema;
    schema.columns = d.columns;
    BASIN_RETURN_IF_ERROR(
        catalog.EnsureTable(d.table, schema, d.table.zone + "/" + d.table.name).status());
  }
  return Status::Ok();
}

}  // namespace basin::etl
