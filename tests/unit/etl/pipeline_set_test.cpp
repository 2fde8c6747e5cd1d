#include "etl/pipeline_set.h"

#include <gtest/gtest.h>

#include <fstream>

#include "unit/temp_dir.h"

namespace basin::etl {
namespace {

PipelineSpec Pipeline(const std::string& name, const std::vector<std::string>& sources,
                      const std::string& output) {
  PipelineSpec spec;
  spec.name = name;
  for (const std::string& s : sources) {
    spec.sources.push_back(
        {"s" + std::to_string(spec.sources.size()), *catalog::TableRef::Parse(s), ReadMode::kNew});
  }
  spec.output.table = *catalog::TableRef::Parse(output);
  return spec;
}

std::vector<std::string> Names(const std::vector<PipelineSpec>& specs) {
  std::vector<std::string> out;
  for (const auto& s : specs) out.push_back(s.name);
  return out;
}

size_t IndexOf(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) - names.begin();
}

TEST(PipelineSetTest, WritersRunBeforeTheirReaders) {
  auto ordered = OrderByDependencies({
      Pipeline("b_sessions", {"processed.events"}, "curated.sessions"),
      Pipeline("a_report", {"curated.sessions", "processed.orders"}, "curated.report"),
      Pipeline("z_events", {"raw.clickstream"}, "processed.events"),
      Pipeline("c_orders", {"raw.orders"}, "processed.orders"),
  });
  ASSERT_TRUE(ordered.ok()) << ordered.status().ToString();
  EXPECT_EQ(Names(*ordered),
            (std::vector<std::string>{"z_events", "b_sessions", "c_orders", "a_report"}));
}

TEST(PipelineSetTest, CyclesAndTwoWritersOfOneTableAreInvalid) {
  auto cycle = OrderByDependencies({
      Pipeline("a", {"processed.b"}, "processed.a"),
      Pipeline("b", {"processed.a"}, "processed.b"),
  });
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.status().code(), ErrorCode::kInvalidDefinition);
  EXPECT_NE(cycle.status().message().find("cycle"), std::string::npos);

  auto twice = OrderByDependencies({
      Pipeline("a", {"raw.x"}, "processed.t"),
      Pipeline("b", {"raw.y"}, "processed.t"),
  });
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("processed.t"), std::string::npos);
}

TEST(PipelineSetTest, RawTableDeclarationsAreValidatedWithTheirPath) {
  auto ok = ParseRawTableDeclarations(
      R"({"tables": [{"table": "raw.orders", "columns": [{"name": "order_id", "type": "VARCHAR"}]}]})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].table.Qualified(), "raw.orders");
  EXPECT_EQ((*ok)[0].columns[0].name, "order_id");

  struct Case {
    const char* json;
    const char* path;
  };
  for (
      const Case& c : {
          Case{"[", "$"},
          Case{R"({"tables": {}})", "$.tables"},
          Case{R"({"tabels": []})", "$.tabels"},
          Case{
              R"({"tables": [{"table": "processed.x", "columns": [{"name": "a", "type": "INT"}]}]})",
              "$.tables[0].table"},
          Case{R"({"tables": [{"table": "raw.x", "columns": []}]})", "$.tables[0].columns"},
          Case{R"({"tables": [{"table": "raw.x", "columns": [{"name": 1, "type": "INT"}]}]})",
               "$.tables[0].columns[0].name"},
      }) {
    auto bad = ParseRawTableDeclarations(c.json);
    ASSERT_FALSE(bad.ok()) << c.json;
    EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidDefinition);
    EXPECT_EQ(bad.status().message().rfind(c.path, 0), 0u) << bad.status().message();
  }
}

TEST(PipelineSetTest, DefaultPipelinesLoadInDependencyOrder) {
  auto set = LoadPipelineSet("");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const std::vector<std::string> names = Names(set->pipelines);
  for (const char* expected : {"events", "sessions", "funnel_daily", "product_metrics_daily",
                               "orders", "order_items", "products", "customers", "fact_orders",
                               "dim_products", "dim_customers", "user_item_interactions"}) {
    EXPECT_LT(IndexOf(names, expected), names.size()) << expected;
  }
  EXPECT_LT(IndexOf(names, "events"), IndexOf(names, "sessions"));
  EXPECT_LT(IndexOf(names, "orders"), IndexOf(names, "fact_orders"));
  EXPECT_LT(IndexOf(names, "order_items"), IndexOf(names, "fact_orders"));
  ASSERT_NE(set->WriterOf({"processed", "events"}), nullptr);
  EXPECT_EQ(set->WriterOf({"processed", "events"})->name, "events");
  EXPECT_EQ(set->Find("no_such_pipeline"), nullptr);
  // The shop's exports are declared raw tables, kept as text.
  bool orders_declared = false;
  for (const auto& d : set->raw_tables) {
    if (d.table.Qualified() == "raw.orders") orders_declared = true;
  }
  EXPECT_TRUE(orders_declared);
}

TEST(PipelineSetTest, UserPipelinesAddToAndReplaceTheDefaults) {
  test::TempDir dir;
  std::ofstream(dir.path() + "/my_report.pipeline.json") << R"({
    "name": "my_report",
    "sources": [{"name": "orders", "table": "processed.orders", "read": "all"}],
    "transform": "SELECT count(*) AS n FROM orders",
    "output": {"table": "curated.my_report", "mode": "replace"}
  })";
  auto set = LoadPipelineSet(dir.path());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const std::vector<std::string> names = Names(set->pipelines);
  EXPECT_LT(IndexOf(names, "orders"), IndexOf(names, "my_report"));

  // A broken user file fails the whole load, named.
  std::ofstream(dir.path() + "/broken.pipeline.json") << "{";
  auto broken = LoadPipelineSet(dir.path());
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("broken.pipeline.json"), std::string::npos);
}

TEST(PipelineSetTest, PositionsOfRemovedPipelinesAreForgotten) {
  test::TempDir dir;
  auto catalog = catalog::Catalog::Open(dir.path() + "/basin.db");
  ASSERT_TRUE(catalog.ok());
  const catalog::TableRef orders{"raw", "orders"};
  ASSERT_TRUE((*catalog)->CreateTable(orders, {0, {{"id", "VARCHAR"}}, {}}, "raw/orders").ok());
  const std::string stream = catalog::TableConsumerStream(orders);
  ASSERT_TRUE((*catalog)->RegisterConsumer(stream, "pipeline:orders").ok());
  ASSERT_TRUE((*catalog)->RegisterConsumer(stream, "pipeline:deleted_one").ok());
  ASSERT_TRUE((*catalog)->RegisterConsumer(stream, "someone_else").ok());
  auto set = LoadPipelineSet("");
  ASSERT_TRUE(set.ok());
  auto removed = ForgetRemovedPipelines(**catalog, *set);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, std::vector<std::string>{"table:raw.orders pipeline:deleted_one"});
  auto left = (*catalog)->ListConsumers(stream);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].consumer, "pipeline:orders");
  EXPECT_EQ((*left)[1].consumer, "someone_else");
}

}  // namespace
}  // namespace basin::etl
