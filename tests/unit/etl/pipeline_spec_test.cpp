#include "etl/pipeline_spec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "unit/temp_dir.h"

namespace basin::etl {
namespace {

constexpr char kFull[] = R"json({
  "name": "orders",
  "description": "Cleaned orders.",
  "sources": [
    {"name": "orders", "table": "raw.orders", "read": "new"},
    {"name": "customers", "table": "processed.customers", "read": "all"}
  ],
  "cleaning": [
    {"rule": "required", "columns": ["order_id", "customer_id"]},
    {"rule": "trim", "columns": ["status"]},
    {"rule": "lower", "columns": ["status"]},
    {"rule": "upper", "columns": ["currency"]},
    {"rule": "cast", "column": "order_time", "type": "TIMESTAMP", "on_failure": "quarantine",
     "formats": ["%d/%m/%Y %H:%M"]},
    {"rule": "utc", "column": "order_time", "time_zone": "Europe/Berlin"},
    {"rule": "cast", "column": "total_amount", "type": "DECIMAL(18,2)", "on_failure": "default",
     "default": 0},
    {"rule": "range", "column": "total_amount", "min": 0, "max": 1e6, "on_failure": "null"},
    {"rule": "allowed_values", "column": "status", "values": ["placed", "paid"],
     "case_insensitive": true},
    {"rule": "regex", "column": "currency", "pattern": "^[A-Z]{3}$", "on_failure": "null"},
    {"rule": "default", "column": "currency", "value": "EUR"}
  ],
  "deduplicate": {"keys": ["order_id"], "keep_latest_by": "order_time"},
  "transform": "SELECT *, CAST(order_time AS DATE) AS dt FROM orders;\n",
  "output": {"table": "processed.orders", "mode": "merge", "keys": ["order_id"],
             "partition_by": ["dt"]},
  "quality": [
    {"rule": "RowCount > 0"},
    {"rule": "IsUnique \"order_id\"", "on_failure": "stop"}
  ]
})json";

TEST(PipelineSpec, ParsesEveryField) {
  auto spec = ParsePipelineSpec(kFull);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "orders");
  ASSERT_EQ(spec->sources.size(), 2u);
  EXPECT_EQ(spec->primary().table, (catalog::TableRef{"raw", "orders"}));
  EXPECT_EQ(spec->sources[1].read, ReadMode::kAll);
  ASSERT_EQ(spec->cleaning.size(), 11u);
  EXPECT_EQ(spec->cleaning[4].kind, CleaningRuleKind::kCast);
  EXPECT_EQ(spec->cleaning[4].formats, std::vector<std::string>{"%d/%m/%Y %H:%M"});
  EXPECT_EQ(spec->cleaning[6].on_failure, FailurePolicy::kDefault);
  EXPECT_EQ(spec->cleaning[6].default_value->ToSql(), "0");
  EXPECT_EQ(spec->cleaning[7].max->text, "1000000.0");
  EXPECT_TRUE(spec->cleaning[8].case_insensitive);
  EXPECT_EQ(spec->cleaning[10].default_value->ToSql(), "'EUR'");
  EXPECT_EQ(spec->cleaning[3].path, "$.cleaning[3]");
  EXPECT_EQ(spec->deduplicate->keep_latest_by, "order_time");
  EXPECT_EQ(spec->transform, "SELECT *, CAST(order_time AS DATE) AS dt FROM orders");
  EXPECT_EQ(spec->output.mode, OutputMode::kMerge);
  EXPECT_EQ(spec->output.partition_by, std::vector<std::string>{"dt"});
  ASSERT_EQ(spec->quality.size(), 2u);
  EXPECT_EQ(spec->quality[0].on_failure, QualityAction::kWarn);
  EXPECT_EQ(spec->quality[1].on_failure, QualityAction::kStop);
  EXPECT_EQ(spec->quality[1].rule.type, DqRuleType::kIsUnique);
}

TEST(PipelineSpec, DefaultsForAMinimalDefinition) {
  auto spec = ParsePipelineSpec(R"({"name": "m", "sources": [{"name": "e", "table": "raw.e"}],
                                    "output": {"table": "curated.m"}})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->primary().read, ReadMode::kNew);
  EXPECT_EQ(spec->transform, "SELECT * FROM \"e\"");
  EXPECT_EQ(spec->output.mode, OutputMode::kAppend);
  EXPECT_FALSE(spec->deduplicate.has_value());
}

// Each broken definition fails with InvalidDefinition and the JSON path of what is wrong.
TEST(PipelineSpec, ErrorsNameTheirJsonPath) {
  const std::string base_sources = R"("sources": [{"name": "o", "table": "raw.o"}])";
  const std::string base_output = R"("output": {"table": "processed.o"})";
  auto with = [&](const std::string& fields) { return "{\"name\": \"p\", " + fields + "}"; };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "$: not valid JSON"},
      {"[]", "$: must be an object"},
      {with(base_sources + ", " + base_output + R"(, "extra": 1)"), "$.extra: unknown field"},
      {R"({"name": "Bad-Name", )" + base_sources + ", " + base_output + "}", "$.name: must match"},
      {with(base_output), "$.sources: is required"},
      {with(R"("sources": [], )" + base_output), "$.sources: must be a non-empty array"},
      {with(R"("sources": [{"name": "o", "table": "nozone"}], )" + base_output),
       "$.sources[0].table: "},
      {with(R"("sources": [{"name": "o", "table": "raw.o", "read": "touched_partitions"}], )" +
            base_output),
       "$.sources[0].read: the primary source"},
      {with(R"("sources": [{"name": "o", "table": "raw.o"}, {"name": "o", "table": "raw.p"}], )" +
            base_output),
       "$.sources[1].name: 'o' is used twice"},
      {with(R"("sources": [{"name": "o", "table": "raw.o", "reed": "all"}], )" + base_output),
       "$.sources[0].reed: unknown field"},
      {with(base_sources + R"(, "cleaning": [{"rule": "cast", "column": "x"}], )" + base_output),
       "$.cleaning[0].type: is required"},
      {with(base_sources + R"(, "cleaning": [{"rule": "trim", "columns": []}], )" + base_output),
       "$.cleaning[0].columns: must not be empty"},
      {with(
           base_sources +
           R"(, "cleaning": [{"rule": "trim", "columns": ["a"]}, {"rule": "range", "column": "x", "min": 0, "on_failure": "drop"}], )" +
           base_output),
       "$.cleaning[1].on_failure: must be quarantine, null or default"},
      {with(
           base_sources +
           R"(, "cleaning": [{"rule": "regex", "column": "x", "pattern": "a", "on_failure": "default"}], )" +
           base_output),
       "$.cleaning[0].default: is required when on_failure is default"},
      {with(base_sources + R"(, "cleaning": [{"rule": "range", "column": "x"}], )" + base_output),
       "$.cleaning[0]: range needs min, max or both"},
      {with(base_sources +
            R"(, "cleaning": [{"rule": "required", "columns": ["a"], "on_failure": "null"}], )" +
            base_output),
       "$.cleaning[0].on_failure: unknown field"},
      {with(base_sources + R"(, "cleaning": [{"rule": "check", "name": "c"}], )" + base_output),
       "$.cleaning[0].condition: is required"},
      {with(base_sources +
            R"(, "cleaning": [{"rule": "check", "name": "Bad Name", "condition": "true"}], )" +
            base_output),
       "$.cleaning[0].name: must match"},
      {with(
           base_sources +
           R"(, "cleaning": [{"rule": "check", "name": "c", "condition": "x > 0", "on_failure": "null"}], )" +
           base_output),
       "$.cleaning[0].on_failure: a check can only quarantine its row"},
      {with(base_sources + R"(, "cleaning": [{"rule": "explode", "column": "x"}], )" + base_output),
       "$.cleaning[0].rule: unknown rule 'explode'"},
      {with(base_sources +
            R"(, "cleaning": [{"rule": "cast", "column": "x", "type": "INT'; DROP"}], )" +
            base_output),
       "$.cleaning[0].type: is not a plain DuckDB type"},
      {with(base_sources + R"(, "deduplicate": {"keys": ["a"]}, )" + base_output),
       "$.deduplicate.keep_latest_by: is required"},
      {with(base_sources + R"(, "transform": "  ;", )" + base_output),
       "$.transform: must not be empty"},
      {with(base_sources + R"(, "output": {"table": "raw.o2"})"),
       "$.output.table: must be in the processed or curated zone"},
      {with(base_sources + R"(, "output": {"table": "processed.o", "mode": "merge"})"),
       "$.output.keys: is required for mode merge"},
      {with(base_sources + R"(, "output": {"table": "processed.o", "mode": "upsert"})"),
       "$.output.mode: must be"},
      {with(base_sources + R"(, "output": {"table": "processed.o", "mode": "replace_partitions"})"),
       "$.output.partition_by: is required for mode replace_partitions"},
      {with(R"("sources": [{"name": "o", "table": "processed.o"}], )" + base_output),
       "$.output.table: must not be one of the pipeline's sources"},
      {with(base_sources + ", " + base_output + R"(, "quality": [{"rule": "RowCount >"}])"),
       "$.quality[0].rule: DQDL: expected a number"},
      {with(base_sources + ", " + base_output +
            R"(, "quality": [{"rule": "RowCount > 1", "on_failure": "panic"}])"),
       "$.quality[0].on_failure: must be warn or stop"},
  };
  for (const auto& [json, prefix] : cases) {
    auto spec = ParsePipelineSpec(json);
    ASSERT_FALSE(spec.ok()) << json;
    EXPECT_EQ(spec.status().code(), ErrorCode::kInvalidDefinition) << json;
    EXPECT_EQ(spec.status().message().substr(0, prefix.size()), prefix)
        << "got: " << spec.status().message() << "\nfor: " << json;
  }
}

TEST(PipelineSpec, LoadsAFolderAndNamesTheBrokenFile) {
  basin::test::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.path() + "/" + name) << text;
  };
  write("b.pipeline.json", R"({"name": "b", "sources": [{"name": "e", "table": "raw.e"}],
                              "output": {"table": "curated.b"}})");
  write("a.pipeline.json", R"({"name": "a", "sources": [{"name": "e", "table": "raw.e"}],
                              "output": {"table": "curated.a"}})");
  write("notes.json", "not a pipeline");
  auto specs = LoadPipelineDirectory(dir.path());
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].name, "a");
  write("c.pipeline.json", R"({"name": "other", "sources": [{"name": "e", "table": "raw.e"}],
                              "output": {"table": "curated.c"}})");
  auto mismatched = LoadPipelineDirectory(dir.path());
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("c.pipeline.json"), std::string::npos);
  write("c.pipeline.json", R"({"name": "c"})");
  auto broken = LoadPipelineDirectory(dir.path());
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), ErrorCode::kInvalidDefinition);
  EXPECT_NE(broken.status().message().find("c.pipeline.json: $.sources: is required"),
            std::string::npos)
      << broken.status().message();
}

}  // namespace
}  // namespace basin::etl
