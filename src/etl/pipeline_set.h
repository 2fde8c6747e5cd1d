#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "etl/pipeline_spec.h"

namespace basin::etl {

// A raw table whose schema is declared before its first file arrives (pipelines/raw_tables.json),
// so that the batch loader casts files to it instead of inferring a schema from the first file.
struct RawTableDeclaration {
  catalog::TableRef table;
  std::vector<catalog::Column> columns;
};

// Parses `{"tables": [{"table": "raw.orders", "columns": [{"name": .., "type": ..}]}]}`.
// InvalidDefinition (with the JSON path) on anything else; tables must be in the raw zone.
Result<std::vector<RawTableDeclaration>> ParseRawTableDeclarations(std::string_view json);

// The pipelines a data directory runs and the raw tables they expect, in the order they must
// run: a pipeline comes after every pipeline whose output it reads.
struct PipelineSet {
  std::vector<PipelineSpec> pipelines;  // in dependency order
  std::vector<RawTableDeclaration> raw_tables;

  // nullptr if there is no pipeline of that name.
  const PipelineSpec* Find(std::string_view name) const;
  // The pipeline that writes `table`, or nullptr.
  const PipelineSpec* WriterOf(const catalog::TableRef& table) const;
};

// Orders pipelines so that each runs after the writers of its sources (stable: otherwise by
// name). InvalidDefinition on two pipelines writing one table or on a cycle (naming them).
Result<std::vector<PipelineSpec>> OrderByDependencies(std::vector<PipelineSpec> pipelines);

// The default pipelines built into the binary (pipelines/ of the repository), then the user's
// `<dir>/*.pipeline.json` and `<dir>/raw_tables.json` if `dir` exists: a user pipeline with a
// default's name replaces it. Any definition that does not validate fails the whole load.
Result<PipelineSet> LoadPipelineSet(const std::string& user_dir);

// The sources of `spec` that are not in the catalog yet (no file of that kind has arrived, or
// the pipeline that writes it has not run yet). Scheduled and "run all" passes skip such a
// pipeline until they exist, instead of recording a failed run every time.
std::vector<catalog::TableRef> MissingSources(const catalog::Catalog& catalog,
                                              const PipelineSpec& spec);

// Forgets the source positions of pipelines that are no longer in `set` (a definition deleted
// from <data-dir>/pipelines/): left behind, they would hold back compaction of their sources
// forever. Returns the consumers removed ("table:raw.orders pipeline:old").
Result<std::vector<std::string>> ForgetRemovedPipelines(catalog::Catalog& catalog,
                                                        const PipelineSet& set);

// Creates each declared raw table that does not exist yet (an existing table is left as it is).
Status EnsureRawTables(catalog::Catalog& catalog, const std::vector<RawTableDeclaration>& tables);

}  // namespace basin::etl
