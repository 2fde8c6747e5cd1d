// The default e-commerce pipelines (pipelines/*.pipeline.json) over small fixtures
// (tests/data/ecommerce): each definition loads with the etl parser, its cleaning rules are
// compiled by the etl cleaning compiler, and its transform runs in a real DuckDB over tables
// named like its sources. The chain runs stage by stage as the engine would: raw fixtures,
// cleaning, deduplication, processed tables, curated tables.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "etl/cleaning.h"
#include "etl/pipeline_runner.h"
#include "etl/pipeline_set.h"
#include "etl/pipeline_spec.h"
#include "query/duck_db.h"
#include "runner_fixture.h"

namespace basin::etl {
namespace {

namespace fs = std::filesystem;
using Row = std::vector<std::string>;
using Rows = std::vector<Row>;

// The repository root: four levels above this file (tests/unit/etl/...). If the compiler saw
// a relative __FILE__, walk up from the working directory instead.
fs::path RepoDir() {
  std::error_code ec;
  fs::path from_file = fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  if (from_file.is_absolute() && fs::is_directory(from_file / "pipelines", ec)) return from_file;
  for (fs::path dir = fs::current_path(ec); !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / "pipelines", ec) && fs::is_directory(dir / "tests", ec)) return dir;
    if (dir == dir.parent_path()) break;
  }
  return from_file;
}

std::string Fixture(const std::string& name) {
  return query::QuoteLiteral((RepoDir() / "tests" / "data" / "ecommerce" / name).string());
}

// raw.clickstream as the loader writes it (src/ingest/clickstream_event.cpp), with its
// partition columns.
constexpr const char* kClickstreamColumns =
    "{'event_id': 'VARCHAR', 'event_type': 'VARCHAR', 'event_time': 'TIMESTAMP', "
    "'ingest_time': 'TIMESTAMP', 'app_id': 'VARCHAR', 'user_id': 'VARCHAR', "
    "'anonymous_id': 'VARCHAR', 'device_id': 'VARCHAR', 'session_id': 'VARCHAR', "
    "'page_url': 'VARCHAR', 'page_title': 'VARCHAR', 'referrer': 'VARCHAR', "
    "'product_id': 'VARCHAR', 'items': 'JSON', 'revenue': 'DECIMAL(18,2)', "
    "'currency': 'VARCHAR', 'platform': 'VARCHAR', 'locale': 'VARCHAR', "
    "'user_agent': 'VARCHAR', 'client_ip': 'VARCHAR', 'attributes': 'JSON', "
    "'user_attributes': 'JSON', 'source': 'VARCHAR'}";

class EcommercePipelinesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = LoadPipelineDirectory((RepoDir() / "pipelines").string());
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    specs_ = new std::map<std::string, PipelineSpec>();
    for (PipelineSpec& spec : *loaded) (*specs_)[spec.name] = std::move(spec);
  }
  static void TearDownTestSuite() {
    delete specs_;
    specs_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(specs_, nullptr);
    auto db = query::DuckDb::Open();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }

  static const PipelineSpec& Spec(const std::string& name) {
    auto it = specs_->find(name);
    EXPECT_NE(it, specs_->end()) << "no pipeline " << name;
    return it->second;
  }

  void Exec(const std::string& sql) {
    Status status = db_->Execute(sql);
    ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << sql;
  }

  // Every value as text ("NULL" for null), rows in the query's order.
  Rows Query(const std::string& sql) {
    auto result = db_->Query("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + ")");
    EXPECT_TRUE(result.ok()) << result.status().ToString() << "\n" << sql;
    Rows rows;
    if (!result.ok()) return rows;
    for (const auto& row : result->rows) {
      Row texts;
      for (const auto& value : row) texts.push_back(value.ToText());
      rows.push_back(std::move(texts));
    }
    return rows;
  }

  std::string One(const std::string& sql) {
    Rows rows = Query(sql);
    EXPECT_EQ(rows.size(), 1u) << sql;
    return rows.empty() || rows[0].empty() ? "<none>" : rows[0][0];
  }

  // Runs `pipeline`'s transform with each source name bound to a table, into `output`.
  void RunTransform(const std::string& pipeline, const std::map<std::string, std::string>& tables,
                    const std::string& output) {
    const PipelineSpec& spec = Spec(pipeline);
    for (const SourceSpec& source : spec.sources) {
      auto it = tables.find(source.name);
      ASSERT_NE(it, tables.end()) << pipeline << ": no table for source " << source.name;
      Exec("CREATE OR REPLACE VIEW " + query::QuoteIdentifier(source.name) + " AS SELECT * FROM " +
           it->second);
    }
    Exec("CREATE TABLE " + output + " AS " + spec.transform);
    for (const SourceSpec& source : spec.sources) {
      Exec("DROP VIEW " + query::QuoteIdentifier(source.name));
    }
  }

  std::vector<catalog::Column> ColumnsOf(const std::string& table) {
    std::vector<catalog::Column> columns;
    for (const Row& row : Query("SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = " +
                                query::QuoteLiteral(table) + " ORDER BY ordinal_position")) {
      columns.push_back({row[0], row[1]});
    }
    return columns;
  }

  // Applies `pipeline`'s cleaning rules to `raw` (compiled by the etl cleaning compiler) into
  // `<cleaned>_all` (every row, with __basin_rule/__basin_reason/__basin_record), then keeps
  // the rows that passed, latest per deduplication key as the engine's `deduplicate` does, in
  // `cleaned`.
  void Clean(const std::string& pipeline, const std::string& raw, const std::string& cleaned) {
    const PipelineSpec& spec = Spec(pipeline);
    auto plan = CompileCleaning(spec.cleaning, ColumnsOf(raw), raw);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    Status check = CheckCleaning(*db_, spec.cleaning, *plan);
    ASSERT_TRUE(check.ok()) << check.ToString();
    Exec("CREATE TABLE " + cleaned + "_all AS " + plan->sql);
    std::string sql = "CREATE TABLE " + cleaned +
                      " AS SELECT * EXCLUDE (__basin_rule, __basin_reason, __basin_record) FROM " +
                      cleaned + "_all WHERE __basin_rule IS NULL";
    if (spec.deduplicate) {
      std::string keys;
      for (const auto& key : spec.deduplicate->keys) {
        keys += (keys.empty() ? "" : ", ") + query::QuoteIdentifier(key);
      }
      sql += " QUALIFY row_number() OVER (PARTITION BY " + keys + " ORDER BY " +
             query::QuoteIdentifier(spec.deduplicate->keep_latest_by) +
             " DESC NULLS LAST, rowid DESC) = 1";
    }
    Exec(sql);
  }

  // (key column of the original record, rule) of every quarantined row, ordered.
  Rows Quarantined(const std::string& cleaned, const std::string& key) {
    return Query("SELECT coalesce(json_extract_string(__basin_record, " +
                 query::QuoteLiteral("$." + key) + "), '') AS k, __basin_rule FROM " + cleaned +
                 "_all WHERE __basin_rule IS NOT NULL ORDER BY k, __basin_rule");
  }

  // A batch file as the batch loader lands it in raw: every column text, plus lineage.
  void LoadCsv(const std::string& table, const std::vector<std::string>& files) {
    std::string sql = "CREATE TABLE " + table + " AS ";
    for (size_t i = 0; i < files.size(); ++i) {
      if (i > 0) sql += " UNION ALL BY NAME ";
      sql += "SELECT *, " + query::QuoteLiteral(files[i]) +
             " AS _source_file, TIMESTAMP '2026-03-03 01:00:00' + INTERVAL (" + std::to_string(i) +
             ") HOUR AS _loaded_at FROM read_csv(" + Fixture(files[i]) +
             ", header = true, all_varchar = true)";
    }
    Exec(sql);
  }

  // raw.clickstream from the fixture, then processed.events.
  void BuildEvents() {
    Exec(std::string("CREATE TABLE raw_clickstream AS SELECT *, CAST(event_time AS DATE) AS dt, "
                     "CAST(hour(event_time) AS INTEGER) AS hour FROM read_json(") +
         Fixture("clickstream.ndjson") +
         ", format = 'newline_delimited', columns = " + kClickstreamColumns + ")");
    RunTransform("events", {{"clickstream", "raw_clickstream"}}, "processed_events");
  }

  void BuildSessions() {
    BuildEvents();
    RunTransform("sessions", {{"new_events", "processed_events"}, {"events", "processed_events"}},
                 "curated_sessions");
  }

  // processed.orders, processed.order_items, processed.products, processed.customers.
  void BuildProcessedBatch() {
    LoadCsv("raw_orders", {"orders_day1.csv", "orders_day2.csv"});
    LoadCsv("raw_order_items", {"order_items.csv"});
    LoadCsv("raw_products", {"products.csv"});
    LoadCsv("raw_customers", {"customers.csv"});
    Clean("orders", "raw_orders", "clean_orders");
    Clean("order_items", "raw_order_items", "clean_order_items");
    Clean("products", "raw_products", "clean_products");
    Clean("customers", "raw_customers", "clean_customers");
    RunTransform("orders", {{"orders", "clean_orders"}}, "processed_orders");
    RunTransform("order_items", {{"order_items", "clean_order_items"}}, "processed_order_items");
    RunTransform("products", {{"products", "clean_products"}}, "processed_products");
    RunTransform("customers", {{"customers", "clean_customers"}}, "processed_customers");
  }

  static std::map<std::string, PipelineSpec>* specs_;
  std::unique_ptr<query::DuckDb> db_;
};

std::map<std::string, PipelineSpec>* EcommercePipelinesTest::specs_ = nullptr;

TEST_F(EcommercePipelinesTest, EveryDefinitionLoadsWithItsOutputAndMode) {
  const std::map<std::string, std::pair<std::string, OutputMode>> expected = {
      {"events", {"processed.events", OutputMode::kAppend}},
      {"sessions", {"curated.sessions", OutputMode::kReplacePartitions}},
      {"funnel_daily", {"curated.funnel_daily", OutputMode::kReplacePartitions}},
      {"product_metrics_daily", {"curated.product_metrics_daily", OutputMode::kReplacePartitions}},
      {"user_item_interactions", {"curated.user_item_interactions", OutputMode::kAppend}},
      {"orders", {"processed.orders", OutputMode::kMerge}},
      {"order_items", {"processed.order_items", OutputMode::kMerge}},
      {"products", {"processed.products", OutputMode::kMerge}},
      {"customers", {"processed.customers", OutputMode::kMerge}},
      {"fact_orders", {"curated.fact_orders", OutputMode::kReplace}},
      {"dim_products", {"curated.dim_products", OutputMode::kReplace}},
      {"dim_customers", {"curated.dim_customers", OutputMode::kReplace}},
  };
  ASSERT_EQ(specs_->size(), expected.size());
  for (const auto& [name, output] : expected) {
    const PipelineSpec& spec = Spec(name);
    EXPECT_EQ(spec.output.table.zone + "." + spec.output.table.name, output.first) << name;
    EXPECT_EQ(spec.output.mode, output.second) << name;
    EXPECT_FALSE(spec.quality.empty()) << name << " checks no data-quality rule";
  }
}

// The definitions built into the binary load as one set, every pipeline after the writers of
// its sources.
TEST_F(EcommercePipelinesTest, TheBuiltInSetRunsWritersBeforeReaders) {
  auto set = LoadPipelineSet("");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  std::vector<std::string> order;
  for (const PipelineSpec& spec : set->pipelines) order.push_back(spec.name);
  auto position = [&](const std::string& name) {
    return std::find(order.begin(), order.end(), name) - order.begin();
  };
  const std::vector<std::pair<std::string, std::string>> before = {
      {"events", "sessions"},
      {"sessions", "funnel_daily"},
      {"events", "product_metrics_daily"},
      {"events", "user_item_interactions"},
      {"orders", "fact_orders"},
      {"order_items", "fact_orders"},
      {"products", "dim_products"},
      {"customers", "dim_customers"},
      {"orders", "dim_customers"},
  };
  for (const auto& [writer, reader] : before) {
    ASSERT_LT(position(reader), static_cast<std::ptrdiff_t>(order.size())) << reader;
    EXPECT_LT(position(writer), position(reader)) << writer << " before " << reader;
  }
}

// The daily aggregates recompute whole partitions: their primary reads what is new (which
// partitions changed), a second source reads those partitions whole.
TEST_F(EcommercePipelinesTest, DailyAggregatesReadTouchedPartitionsWhole) {
  for (const std::string name : {"sessions", "funnel_daily", "product_metrics_daily"}) {
    const PipelineSpec& spec = Spec(name);
    ASSERT_EQ(spec.sources.size(), 2u) << name;
    EXPECT_EQ(spec.sources[0].read, ReadMode::kNew) << name;
    EXPECT_EQ(spec.sources[1].read, ReadMode::kTouchedPartitions) << name;
    EXPECT_EQ(spec.sources[0].table, spec.sources[1].table) << name;
    EXPECT_EQ(spec.output.partition_by, std::vector<std::string>{"dt"}) << name;
  }
}

TEST_F(EcommercePipelinesTest, EventsParseUserAgents) {
  BuildEvents();
  EXPECT_EQ(Query("SELECT event_id, browser, os, device_type FROM processed_events "
                  "WHERE event_id LIKE 'ua-%' ORDER BY event_id"),
            (Rows{
                {"ua-adsbot", "AdsBot-Google", "Other", "bot"},
                {"ua-android", "Chrome", "Android", "mobile"},
                {"ua-app", "BasinShop", "Android", "mobile"},
                {"ua-bingbot", "bingbot", "Other", "bot"},
                {"ua-chrome", "Chrome", "Windows", "desktop"},
                {"ua-cubot", "Chrome", "Android", "mobile"},
                {"ua-edge", "Edge", "Windows", "desktop"},
                {"ua-firefox", "Firefox", "Linux", "desktop"},
                {"ua-googlebot", "Googlebot", "Other", "bot"},
                {"ua-ios", "Safari", "iOS", "mobile"},
                {"ua-ipad", "Safari", "iOS", "tablet"},
                {"ua-none", "NULL", "NULL", "NULL"},
                {"ua-safari", "Safari", "macOS", "desktop"},
            }));
}

TEST_F(EcommercePipelinesTest, EventsParsePageUrlsIntoPathAndUtm) {
  BuildEvents();
  EXPECT_EQ(
      Query("SELECT event_id, page_host, page_path, utm_source, utm_medium, utm_campaign "
            "FROM processed_events WHERE event_id IN ('ch-direct', 'ch-paid', "
            "'ch-social-utm', 'ch-email', 'ch-relative', 'ch-port', 'ch-nopath', "
            "'p1-5') ORDER BY event_id"),
      (Rows{
          {"ch-direct", "shop.example.com", "/", "NULL", "NULL", "NULL"},
          {"ch-email", "shop.example.com", "/offers/spring", "newsletter", "email", "spring deals"},
          {"ch-nopath", "shop.example.com", "/", "newsletter", "NULL", "NULL"},
          {"ch-paid", "shop.example.com", "/p/sku-1", "google", "cpc", "brand_search"},
          {"ch-port", "shop.example.com", "/Cart", "NULL", "Email", "NULL"},
          {"ch-relative", "NULL", "/p/sku-2", "NULL", "NULL", "NULL"},
          {"ch-social-utm", "shop.example.com", "/p/sku-2", "facebook", "paid_social",
           "summer sale"},
          {"p1-5", "shop.example.com", "/checkout/confirmation", "NULL", "NULL", "NULL"},
      }));
}

TEST_F(EcommercePipelinesTest, EventsClassifyTrafficChannels) {
  BuildEvents();
  EXPECT_EQ(Query("SELECT event_id, channel FROM processed_events WHERE event_id LIKE 'ch-%' "
                  "ORDER BY event_id"),
            (Rows{
                {"ch-direct", "direct"},
                {"ch-email", "email"},
                {"ch-gclid", "paid_search"},
                {"ch-internal", "direct"},
                {"ch-nopath", "email"},
                {"ch-organic", "organic_search"},
                {"ch-organic-ddg", "organic_search"},
                {"ch-other", "other"},
                {"ch-paid", "paid_search"},
                {"ch-port", "email"},
                {"ch-referral", "referral"},
                {"ch-relative", "direct"},
                {"ch-social-ref", "social"},
                {"ch-social-tco", "social"},
                {"ch-social-utm", "social"},
                {"ch-www-internal", "direct"},
            }));
}

TEST_F(EcommercePipelinesTest, EventsNormaliseNamesProductsAndOrders) {
  BuildEvents();
  EXPECT_EQ(Query("SELECT event_id, event_type, product_id, order_id, dt FROM processed_events "
                  "WHERE event_id IN ('p1-1', 'p1-3', 'p1-6', 's1-4') ORDER BY event_id"),
            (Rows{
                {"p1-1", "page_view", "NULL", "NULL", "2026-03-02"},
                {"p1-3", "add_to_cart", "sku-1", "NULL", "2026-03-02"},
                {"p1-6", "purchase", "NULL", "ord-1", "2026-03-02"},
                {"s1-4", "add_to_cart", "sku-3", "NULL", "2026-03-02"},
            }));
  EXPECT_EQ(One("SELECT count(*) FROM processed_events"),
            One("SELECT count(*) FROM raw_clickstream"));
}

// The columns of processed.events, in order, as docs/data-model.md lists them.
TEST_F(EcommercePipelinesTest, EventsHaveTheDocumentedColumns) {
  BuildEvents();
  std::string names;
  for (const auto& c : ColumnsOf("processed_events")) names += c.name + ":" + c.type + " ";
  EXPECT_EQ(names,
            "event_id:VARCHAR event_type:VARCHAR event_time:TIMESTAMP ingest_time:TIMESTAMP "
            "app_id:VARCHAR user_id:VARCHAR anonymous_id:VARCHAR device_id:VARCHAR "
            "session_id:VARCHAR page_url:VARCHAR page_title:VARCHAR referrer:VARCHAR "
            "product_id:VARCHAR items:JSON revenue:DECIMAL(18,2) currency:VARCHAR "
            "platform:VARCHAR locale:VARCHAR user_agent:VARCHAR client_ip:VARCHAR "
            "attributes:JSON user_attributes:JSON source:VARCHAR order_id:VARCHAR "
            "page_host:VARCHAR page_path:VARCHAR referrer_host:VARCHAR utm_source:VARCHAR "
            "utm_medium:VARCHAR utm_campaign:VARCHAR browser:VARCHAR os:VARCHAR "
            "device_type:VARCHAR channel:VARCHAR dt:DATE hour:INTEGER ");
}

// The columns of every other output, in order, as docs/data-model.md lists them.
TEST_F(EcommercePipelinesTest, OutputsHaveTheDocumentedColumns) {
  BuildSessions();
  BuildProcessedBatch();
  RunTransform("funnel_daily",
               {{"new_sessions", "curated_sessions"}, {"sessions", "curated_sessions"}},
               "curated_funnel_daily");
  RunTransform("product_metrics_daily",
               {{"new_events", "processed_events"}, {"events", "processed_events"}},
               "curated_product_metrics_daily");
  RunTransform("user_item_interactions", {{"events", "processed_events"}},
               "curated_user_item_interactions");
  RunTransform("fact_orders",
               {{"order_items", "processed_order_items"}, {"orders", "processed_orders"}},
               "curated_fact_orders");
  RunTransform("dim_products", {{"products", "processed_products"}}, "curated_dim_products");
  RunTransform("dim_customers",
               {{"customers", "processed_customers"}, {"orders", "processed_orders"}},
               "curated_dim_customers");
  const std::map<std::string, std::string> expected = {
      {"curated_sessions",
       "session_id:VARCHAR user_id:VARCHAR anonymous_id:VARCHAR start_time:TIMESTAMP "
       "end_time:TIMESTAMP duration_s:BIGINT events:BIGINT page_views:BIGINT product_views:BIGINT "
       "add_to_carts:BIGINT checkouts:BIGINT purchases:BIGINT landing_page:VARCHAR "
       "exit_page:VARCHAR channel:VARCHAR referrer_host:VARCHAR utm_source:VARCHAR "
       "utm_medium:VARCHAR utm_campaign:VARCHAR device_type:VARCHAR browser:VARCHAR os:VARCHAR "
       "converted:BOOLEAN revenue:DECIMAL(18,2) currency:VARCHAR dt:DATE "},
      {"curated_funnel_daily",
       "dt:DATE step_number:INTEGER step:VARCHAR sessions:BIGINT users:BIGINT "
       "conversion_from_previous:DOUBLE "},
      {"curated_product_metrics_daily",
       "dt:DATE product_id:VARCHAR currency:VARCHAR views:BIGINT add_to_carts:BIGINT "
       "purchases:BIGINT units:BIGINT revenue:DECIMAL(18,2) "},
      {"curated_user_item_interactions",
       "user_id:VARCHAR product_id:VARCHAR event_type:VARCHAR weight:DOUBLE event_time:TIMESTAMP "
       "event_id:VARCHAR quantity:INTEGER dt:DATE "},
      {"processed_orders",
       "order_id:VARCHAR customer_id:VARCHAR order_time:TIMESTAMP status:VARCHAR currency:VARCHAR "
       "total_amount:DECIMAL(18,2) shipping_country:VARCHAR channel:VARCHAR items:JSON "
       "_source_file:VARCHAR _loaded_at:TIMESTAMP dt:DATE "},
      {"processed_order_items",
       "order_id:VARCHAR line_no:INTEGER product_id:VARCHAR quantity:INTEGER "
       "unit_price:DECIMAL(18,2) discount:DECIMAL(18,2) _source_file:VARCHAR "
       "_loaded_at:TIMESTAMP "},
      {"processed_products",
       "product_id:VARCHAR name:VARCHAR category:VARCHAR subcategory:VARCHAR brand:VARCHAR "
       "price:DECIMAL(18,2) currency:VARCHAR created_at:TIMESTAMP active:BOOLEAN image_key:VARCHAR "
       "_source_file:VARCHAR _loaded_at:TIMESTAMP "},
      {"processed_customers",
       "customer_id:VARCHAR email:VARCHAR signup_time:TIMESTAMP birth_year:INTEGER gender:VARCHAR "
       "country:VARCHAR city:VARCHAR segment:VARCHAR marketing_opt_in:BOOLEAN _source_file:VARCHAR "
       "_loaded_at:TIMESTAMP "},
      {"curated_fact_orders",
       "order_id:VARCHAR line_no:INTEGER order_time:TIMESTAMP customer_id:VARCHAR "
       "product_id:VARCHAR quantity:INTEGER unit_price:DECIMAL(18,2) discount:DECIMAL(18,2) "
       "gross_amount:DECIMAL(18,2) net_amount:DECIMAL(18,2) currency:VARCHAR status:VARCHAR "
       "shipping_country:VARCHAR channel:VARCHAR dt:DATE "},
      {"curated_dim_products",
       "product_id:VARCHAR name:VARCHAR category:VARCHAR subcategory:VARCHAR brand:VARCHAR "
       "price:DECIMAL(18,2) currency:VARCHAR created_at:TIMESTAMP active:BOOLEAN "
       "image_key:VARCHAR "},
      {"curated_dim_customers",
       "customer_id:VARCHAR email:VARCHAR signup_time:TIMESTAMP birth_year:INTEGER gender:VARCHAR "
       "country:VARCHAR city:VARCHAR segment:VARCHAR marketing_opt_in:BOOLEAN orders:BIGINT "
       "first_order_time:TIMESTAMP last_order_time:TIMESTAMP "},
  };
  for (const auto& [table, columns] : expected) {
    std::string names;
    for (const auto& c : ColumnsOf(table)) names += c.name + ":" + c.type + " ";
    EXPECT_EQ(names, columns) << table;
  }
}

TEST_F(EcommercePipelinesTest, SessionsSplitAfterThirtyMinutesOfInactivity) {
  BuildSessions();
  // 10:00 -> 10:29 (29 minutes) stays one session; 10:29 -> 11:00 (31 minutes) starts another,
  // which gets a derived id because the SDK's id already names the first; the login at 11:05
  // does not split it.
  EXPECT_EQ(
      Query("SELECT session_id, user_id, start_time, end_time, duration_s, events, "
            "page_views, landing_page, exit_page, channel, utm_campaign FROM "
            "curated_sessions WHERE anonymous_id = 'anon-s1' ORDER BY start_time"),
      (Rows{
          {"sdk-1", "NULL", "2026-03-02 10:00:00", "2026-03-02 10:29:00", "1740", "2", "1", "/",
           "/", "paid_search", "brand_search"},
          {One("SELECT md5('anon-s1|2026-03-02T11:00:00.000000')"), "cust-1", "2026-03-02 11:00:00",
           "2026-03-02 11:05:00", "300", "2", "1", "/c/shoes", "/c/shoes", "direct", "NULL"},
      }));
}

TEST_F(EcommercePipelinesTest, SessionsFollowSdkIdsAndCutAtMidnight) {
  BuildSessions();
  EXPECT_EQ(
      Query("SELECT anonymous_id, session_id, dt FROM curated_sessions WHERE anonymous_id "
            "IN ('anon-rot', 'anon-night', 'anon-nosid') ORDER BY anonymous_id, start_time"),
      (Rows{
          {"anon-night", "sdk-9", "2026-03-01"},
          {"anon-night", One("SELECT md5('anon-night|2026-03-02T00:10:00.000000')"), "2026-03-02"},
          {"anon-nosid", One("SELECT md5('anon-nosid|2026-03-02T16:00:00.000000')"), "2026-03-02"},
          {"anon-rot", "sdk-r1", "2026-03-02"},
          {"anon-rot", "sdk-r2", "2026-03-02"},
      }));
  EXPECT_EQ(One("SELECT count(*) - count(DISTINCT session_id) FROM curated_sessions"), "0");
  // Bots make no sessions.
  EXPECT_EQ(One("SELECT count(*) FROM curated_sessions WHERE anonymous_id IN ('bot-1', "
                "'ua-bingbot')"),
            "0");
}

TEST_F(EcommercePipelinesTest, SessionsRecordConversionAndRevenue) {
  BuildSessions();
  EXPECT_EQ(Query("SELECT anonymous_id, user_id, duration_s, events, page_views, product_views, "
                  "add_to_carts, checkouts, purchases, landing_page, exit_page, channel, "
                  "device_type, converted, revenue, currency FROM curated_sessions WHERE "
                  "anonymous_id IN ('anon-p1', 'anon-v1', 'anon-v2', 'anon-v3') "
                  "ORDER BY anonymous_id"),
            (Rows{
                {"anon-p1", "cust-2", "181", "6", "2", "1", "1", "1", "1", "/p/sku-1",
                 "/checkout/confirmation", "direct", "desktop", "true", "45.50", "EUR"},
                {"anon-v1", "NULL", "120", "3", "1", "1", "1", "0", "0", "/p/sku-2", "/p/sku-2",
                 "organic_search", "desktop", "false", "0.00", "NULL"},
                {"anon-v2", "NULL", "0", "1", "1", "0", "0", "0", "0", "/", "/", "social",
                 "desktop", "false", "0.00", "NULL"},
                {"anon-v3", "NULL", "180", "5", "1", "1", "1", "1", "1", "/p/sku-1", "/p/sku-1",
                 "direct", "mobile", "true", "21.99", "USD"},
            }));
}

TEST_F(EcommercePipelinesTest, FunnelCountsSessionsThatReachedEachStep) {
  BuildSessions();
  RunTransform("funnel_daily",
               {{"new_sessions", "curated_sessions"}, {"sessions", "curated_sessions"}},
               "curated_funnel_daily");
  EXPECT_EQ(Query("SELECT step, sessions, users, conversion_from_previous FROM "
                  "curated_funnel_daily WHERE dt = DATE '2026-03-02' ORDER BY step_number"),
            (Rows{
                {"view", "10", "9", "NULL"},
                {"product_view", "4", "4", "0.4"},
                {"add_to_cart", "3", "3", "0.75"},
                {"begin_checkout", "2", "2", "0.6667"},
                {"purchase", "2", "2", "1.0"},
            }));
  EXPECT_EQ(One("SELECT count(*) FROM curated_funnel_daily WHERE dt = DATE '2026-03-01'"), "5");
}

TEST_F(EcommercePipelinesTest, ProductMetricsPerDayProductAndCurrency) {
  BuildEvents();
  RunTransform("product_metrics_daily",
               {{"new_events", "processed_events"}, {"events", "processed_events"}},
               "curated_product_metrics_daily");
  EXPECT_EQ(Query("SELECT dt, product_id, currency, views, add_to_carts, purchases, units, "
                  "revenue FROM curated_product_metrics_daily ORDER BY product_id, currency"),
            (Rows{
                {"2026-03-02", "sku-1", "EUR", "2", "1", "1", "2", "40.00"},
                {"2026-03-02", "sku-1", "USD", "1", "1", "1", "1", "21.99"},
                {"2026-03-02", "sku-2", "EUR", "1", "1", "1", "1", "5.50"},
                {"2026-03-02", "sku-3", "EUR", "0", "1", "0", "0", "0.00"},
            }));
}

TEST_F(EcommercePipelinesTest, InteractionsWeighViewsCartsAndPurchases) {
  BuildEvents();
  RunTransform("user_item_interactions", {{"events", "processed_events"}},
               "curated_user_item_interactions");
  EXPECT_EQ(Query("SELECT user_id, product_id, event_type, weight, quantity, event_id FROM "
                  "curated_user_item_interactions ORDER BY event_time, product_id"),
            (Rows{
                {"anon-s1", "sku-1", "product_view", "1.0", "1", "s1-2"},
                {"cust-1", "sku-3", "add_to_cart", "3.0", "1", "s1-4"},
                {"cust-2", "sku-1", "product_view", "1.0", "1", "p1-2"},
                {"cust-2", "sku-1", "add_to_cart", "3.0", "2", "p1-3"},
                {"cust-2", "sku-1", "purchase", "5.0", "2", "p1-6"},
                {"cust-2", "sku-2", "purchase", "5.0", "1", "p1-6"},
                {"anon-v1", "sku-2", "product_view", "1.0", "1", "v1-2"},
                {"anon-v1", "sku-2", "add_to_cart", "3.0", "1", "v1-3"},
                {"anon-v3", "sku-1", "product_view", "1.0", "1", "v3-2"},
                {"anon-v3", "sku-1", "add_to_cart", "3.0", "1", "v3-3"},
                {"anon-v3", "sku-1", "purchase", "5.0", "1", "v3-5"},
            }));
}

TEST_F(EcommercePipelinesTest, OrdersCleaningQuarantinesEachKindOfDirt) {
  BuildProcessedBatch();
  EXPECT_EQ(Quarantined("clean_orders", "order_id"), (Rows{
                                                         {"ord-13", "regex"},
                                                         {"ord-3", "required"},
                                                         {"ord-4", "cast"},
                                                         {"ord-5", "range"},
                                                         {"ord-6", "allowed_values"},
                                                         {"ord-8", "cast"},
                                                     }));
  EXPECT_EQ(One("SELECT __basin_reason FROM clean_orders_all WHERE __basin_rule = 'cast' AND "
                "__basin_record LIKE '%ord-4%'"),
            "order_time: '2026-02-30 10:00:00' is not a TIMESTAMP");
  // Trimmed, lower-case statuses, upper-case codes, the default currency, other time formats;
  // the duplicate row is gone and the later export of ord-1 wins.
  EXPECT_EQ(Query("SELECT order_id, customer_id, order_time, status, currency, total_amount, "
                  "shipping_country, channel, _source_file, dt FROM processed_orders "
                  "ORDER BY order_id"),
            (Rows{
                {"ord-1", "cust-2", "2026-03-02 12:03:01", "shipped", "EUR", "45.50", "DE", "web",
                 "orders_day2.csv", "2026-03-02"},
                {"ord-2", "cust-3", "2026-03-02 15:03:00", "paid", "USD", "21.99", "US", "app",
                 "orders_day1.csv", "2026-03-02"},
                {"ord-7", "cust-1", "2026-03-01 10:00:00", "placed", "EUR", "9.00", "NULL", "NULL",
                 "orders_day1.csv", "2026-03-01"},
                {"ord-9", "cust-4", "2026-03-02 08:30:00", "delivered", "EUR", "11.00", "FR", "web",
                 "orders_day1.csv", "2026-03-02"},
            }));
}

TEST_F(EcommercePipelinesTest, OrderItemsCleaningQuarantinesEachKindOfDirt) {
  BuildProcessedBatch();
  EXPECT_EQ(Query("SELECT json_extract_string(__basin_record, '$.line_no') AS line, __basin_rule "
                  "FROM clean_order_items_all WHERE __basin_rule IS NOT NULL ORDER BY line"),
            (Rows{
                {"1", "required"},
                {"2", "range"},
                {"3", "range"},
                {"4", "cast"},
                {"5", "range"},
                {"six", "cast"},
            }));
  EXPECT_EQ(Query("SELECT order_id, line_no, product_id, quantity, unit_price, discount FROM "
                  "processed_order_items ORDER BY order_id, line_no"),
            (Rows{
                {"ord-1", "1", "sku-1", "2", "20.00", "0.00"},
                {"ord-1", "2", "sku-2", "1", "5.50", "0.00"},
                {"ord-2", "1", "sku-1", "1", "21.99", "0.00"},
                {"ord-4", "1", "sku-1", "1", "1.00", "0.00"},
                {"ord-9", "1", "sku-3", "3", "4.00", "1.00"},
            }));
}

// Orders that arrive as JSON keep their nested items in processed.orders (so that a later
// export of an order replaces its lines whole); curated.fact_orders flattens them for orders
// that no order-item file lists.
TEST_F(EcommercePipelinesTest, NestedOrderItemsAreFlattenedIntoFactOrders) {
  BuildProcessedBatch();
  Exec(
      "CREATE TABLE raw_orders_json AS SELECT *, 'orders.json' AS _source_file, "
      "TIMESTAMP '2026-03-03 01:00:00' AS _loaded_at FROM read_json(" +
      Fixture("orders_nested.ndjson") +
      ", format = 'newline_delimited', columns = {'order_id': 'VARCHAR', 'customer_id': "
      "'VARCHAR', 'order_time': 'VARCHAR', 'status': 'VARCHAR', 'currency': 'VARCHAR', "
      "'total_amount': 'VARCHAR', 'shipping_country': 'VARCHAR', 'channel': 'VARCHAR', "
      "'items': 'JSON'})");
  // The same file as a loader that kept the items as text would have it.
  Exec(
      "CREATE TABLE raw_orders_text AS SELECT * REPLACE (CAST(items AS VARCHAR) AS items) FROM "
      "raw_orders_json");
  for (const std::string variant : {"json", "text"}) {
    SCOPED_TRACE(variant);
    Clean("orders", "raw_orders_" + variant, "clean_orders_" + variant);
    RunTransform("orders", {{"orders", "clean_orders_" + variant}}, "processed_orders_" + variant);
    // An order whose items are not all valid lines is quarantined whole, with the check's
    // name and the items in its reason: a line without a product (13), a negative price (14),
    // a position that repeats an explicit line_no (15), items that are not an array (16).
    EXPECT_EQ(Quarantined("clean_orders_" + variant, "order_id"), (Rows{
                                                                      {"ord-13", "check"},
                                                                      {"ord-14", "check"},
                                                                      {"ord-15", "check"},
                                                                      {"ord-16", "check"},
                                                                  }));
    EXPECT_EQ(Query("SELECT count(*) FROM clean_orders_" + variant +
                    "_all WHERE __basin_rule = 'check' AND __basin_reason LIKE "
                    "'items_are_order_lines: items must be a JSON array of order lines%sku-%'"),
              (Rows{{"4"}}));
    EXPECT_EQ(Query("SELECT order_id, json_array_length(items) FROM processed_orders_" + variant +
                    " ORDER BY order_id"),
              (Rows{{"ord-10", "2"}, {"ord-11", "0"}, {"ord-12", "NULL"}, {"ord-9", "1"}}));
    RunTransform(
        "fact_orders",
        {{"order_items", "processed_order_items"}, {"orders", "processed_orders_" + variant}},
        "fact_orders_" + variant);
    // ord-10: the item's own line_no, else its position. ord-9: an order-item file lists its
    // lines, so they win over its nested items. Every nested line is written: none is left out.
    EXPECT_EQ(Query("SELECT order_id, line_no, product_id, quantity, unit_price, discount, "
                    "net_amount FROM fact_orders_" +
                    variant + " ORDER BY order_id, line_no"),
              (Rows{
                  {"ord-10", "1", "sku-5", "2", "3.50", "0.00", "7.00"},
                  {"ord-10", "7", "sku-6", "1", "10.00", "1.00", "9.00"},
                  {"ord-9", "1", "sku-3", "3", "4.00", "1.00", "11.00"},
              }));
  }
  // CSV orders have no items column: processed.orders has one all the same, of type JSON.
  EXPECT_EQ(Query("SELECT data_type, (SELECT count(items) FROM processed_orders) FROM "
                  "information_schema.columns WHERE table_name = 'processed_orders' AND "
                  "column_name = 'items'"),
            (Rows{{"JSON", "0"}}));
}

TEST_F(EcommercePipelinesTest, ProductsCleaningQuarantinesEachKindOfDirt) {
  BuildProcessedBatch();
  EXPECT_EQ(Quarantined("clean_products", "product_id"), (Rows{
                                                             {"sku-3", "range"},
                                                             {"sku-4", "required"},
                                                             {"sku-5", "cast"},
                                                             {"sku-6", "cast"},
                                                             {"sku-7", "regex"},
                                                         }));
  EXPECT_EQ(
      Query("SELECT product_id, name, category, subcategory, brand, price, currency, "
            "created_at, active, image_key FROM processed_products ORDER BY product_id"),
      (Rows{
          {"sku-1", "Red Runner", "Shoes", "Sneakers", "Acme", "19.99", "EUR",
           "2025-01-10 00:00:00", "true", "img-1"},
          {"sku-2", "Canvas Tote", "Bags", "NULL", "Acme", "5.50", "EUR", "NULL", "true", "NULL"},
          {"sku-8", "Beanie", "Accessories", "Hats", "Acme", "8.00", "USD", "2025-01-16 09:30:00",
           "NULL", "img-8"},
      }));
}

TEST_F(EcommercePipelinesTest, CustomersCleaningNormalisesEmailsAndQuarantinesDirt) {
  BuildProcessedBatch();
  EXPECT_EQ(Quarantined("clean_customers", "customer_id"), (Rows{
                                                               {"", "required"},
                                                               {"cust-3", "cast"},
                                                           }));
  EXPECT_EQ(Query("SELECT customer_id, email, signup_time, birth_year, gender, country, city, "
                  "segment, marketing_opt_in FROM processed_customers ORDER BY customer_id"),
            (Rows{
                {"cust-1", "john.doe@example.com", "2025-05-01 10:00:00", "1985", "male", "DE",
                 "Berlin", "vip", "true"},
                {"cust-2", "NULL", "2025-06-01 00:00:00", "1990", "female", "FR", "Paris",
                 "regular", "false"},
                {"cust-4", "ann@example.co.uk", "2025-07-01 08:00:00", "NULL", "diverse", "NULL",
                 "NULL", "NULL", "NULL"},
            }));
}

TEST_F(EcommercePipelinesTest, FactOrdersHasOneRowPerLineWithNetAmount) {
  BuildProcessedBatch();
  RunTransform("fact_orders",
               {{"order_items", "processed_order_items"}, {"orders", "processed_orders"}},
               "curated_fact_orders");
  // ord-4's order was quarantined (impossible date): its line stays out.
  EXPECT_EQ(Query("SELECT order_id, line_no, order_time, customer_id, product_id, quantity, "
                  "gross_amount, net_amount, currency, status, dt FROM curated_fact_orders "
                  "ORDER BY order_id, line_no"),
            (Rows{
                {"ord-1", "1", "2026-03-02 12:03:01", "cust-2", "sku-1", "2", "40.00", "40.00",
                 "EUR", "shipped", "2026-03-02"},
                {"ord-1", "2", "2026-03-02 12:03:01", "cust-2", "sku-2", "1", "5.50", "5.50", "EUR",
                 "shipped", "2026-03-02"},
                {"ord-2", "1", "2026-03-02 15:03:00", "cust-3", "sku-1", "1", "21.99", "21.99",
                 "USD", "paid", "2026-03-02"},
                {"ord-9", "1", "2026-03-02 08:30:00", "cust-4", "sku-3", "3", "12.00", "11.00",
                 "EUR", "delivered", "2026-03-02"},
            }));
}

TEST_F(EcommercePipelinesTest, DimensionsHoldTheCurrentVersions) {
  BuildProcessedBatch();
  RunTransform("dim_products", {{"products", "processed_products"}}, "curated_dim_products");
  RunTransform("dim_customers",
               {{"customers", "processed_customers"}, {"orders", "processed_orders"}},
               "curated_dim_customers");
  EXPECT_EQ(One("SELECT string_agg(product_id, ',' ORDER BY product_id) FROM "
                "curated_dim_products"),
            "sku-1,sku-2,sku-8");
  EXPECT_EQ(
      Query("SELECT customer_id, email, orders, first_order_time, last_order_time FROM "
            "curated_dim_customers ORDER BY customer_id"),
      (Rows{
          {"cust-1", "john.doe@example.com", "1", "2026-03-01 10:00:00", "2026-03-01 10:00:00"},
          {"cust-2", "NULL", "1", "2026-03-02 12:03:01", "2026-03-02 12:03:01"},
          {"cust-4", "ann@example.co.uk", "1", "2026-03-02 08:30:00", "2026-03-02 08:30:00"},
      }));
}

// The whole chain through the real engine: raw tables with the fixtures' files, every pipeline
// run in dependency order by the PipelineRunner (cleaning, quarantine, deduplication, partition
// handling, quality rules), then again to show that nothing changes, then with a late event.
class EcommerceEndToEndTest : public test::RunnerTest {
 protected:
  void SetUp() override {
    RunnerTest::SetUp();
    auto loaded = LoadPipelineDirectory((RepoDir() / "pipelines").string());
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    auto ordered = OrderByDependencies(std::move(loaded).value());
    ASSERT_TRUE(ordered.ok()) << ordered.status().ToString();
    pipelines_ = std::move(ordered).value();
  }

  // raw.clickstream with the loader's columns, one file per dt/hour partition of `where`.
  void AddClickstream(const std::string& where) {
    const std::string rows = std::string("(SELECT * FROM read_json(") +
                             Fixture("clickstream.ndjson") +
                             ", format = 'newline_delimited', columns = " + kClickstreamColumns +
                             ") WHERE " + where + ")";
    auto parts = writer_db_->Query(
        "SELECT DISTINCT strftime(event_time, 'dt=%Y-%m-%d/hour=') || "
        "CAST(hour(event_time) AS VARCHAR), CAST(event_time AS DATE), "
        "hour(event_time) FROM " +
        rows + " ORDER BY 1");
    ASSERT_TRUE(parts.ok()) << parts.status().ToString();
    for (const auto& part : parts->rows) {
      AddFile("clickstream",
              "SELECT * FROM " + rows + " WHERE CAST(event_time AS DATE) = DATE '" +
                  part[1].ToText() + "' AND hour(event_time) = " + part[2].ToText(),
              part[0].s);
    }
  }

  void AddBatch(const std::string& table, const std::string& file, const std::string& loaded_at) {
    AddFile(table, "SELECT *, " + query::QuoteLiteral(file) + " AS _source_file, TIMESTAMP '" +
                       loaded_at + "' AS _loaded_at FROM read_csv(" + Fixture(file) +
                       ", header = true, all_varchar = true)");
  }

  // Runs every pipeline once, in order; each must succeed or find nothing new. The quality
  // rules that failed (all `warn`: a failed `stop` rule fails its run) go to failed_quality_.
  std::map<std::string, RunReport> RunAll() {
    std::map<std::string, RunReport> reports;
    failed_quality_.clear();
    for (const PipelineSpec& spec : pipelines_) {
      RunReport report = MustRun(spec);
      EXPECT_NE(report.record.status, RunStatus::kFailed)
          << spec.name << ": " << report.record.error;
      for (const QualityResult& q : report.quality) {
        if (!q.passed) failed_quality_.insert(spec.name + ": " + q.rule + " = " + q.actual_value);
      }
      reports[spec.name] = report;
    }
    return reports;
  }

  // Runs `sql` over the current snapshots of the lake's tables, each named `zone_table`
  // (curated_sessions for curated.sessions); every value as text.
  Rows Lake(const std::string& sql) {
    auto db = query::DuckDb::Open();
    EXPECT_TRUE(db.ok());
    if (!db.ok()) return {};
    for (const catalog::TableInfo& table : catalog_->ListTables()) {
      auto snapshot = catalog_->CurrentSnapshot(table.ref);
      EXPECT_TRUE(snapshot.ok());
      if (!snapshot.ok()) return {};
      Status view = (*db)->Execute(
          "CREATE VIEW " + query::QuoteIdentifier(table.ref.zone + "_" + table.ref.name) + " AS " +
          query::TableScanSql(snapshot->schema, snapshot->files, lake_));
      EXPECT_TRUE(view.ok()) << view.ToString();
    }
    auto result = (*db)->Query("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + ")");
    EXPECT_TRUE(result.ok()) << result.status().ToString() << "\n" << sql;
    Rows rows;
    if (!result.ok()) return rows;
    for (const auto& row : result->rows) {
      Row texts;
      for (const auto& v : row) texts.push_back(v.ToText());
      rows.push_back(std::move(texts));
    }
    return rows;
  }

  std::string LakeOne(const std::string& sql) {
    Rows rows = Lake(sql);
    return rows.size() == 1 && rows[0].size() == 1 ? rows[0][0] : "<not one value>";
  }

  std::set<std::string> failed_quality_;

  std::vector<PipelineSpec> pipelines_;
};

TEST_F(EcommerceEndToEndTest, TheChainRunsCleanIncrementallyAndIdempotently) {
  std::vector<catalog::Column> clickstream;
  for (const std::string column :
       {"event_id VARCHAR",      "event_type VARCHAR", "event_time TIMESTAMP",
        "ingest_time TIMESTAMP", "app_id VARCHAR",     "user_id VARCHAR",
        "anonymous_id VARCHAR",  "device_id VARCHAR",  "session_id VARCHAR",
        "page_url VARCHAR",      "page_title VARCHAR", "referrer VARCHAR",
        "product_id VARCHAR",    "items JSON",         "revenue DECIMAL(18,2)",
        "currency VARCHAR",      "platform VARCHAR",   "locale VARCHAR",
        "user_agent VARCHAR",    "client_ip VARCHAR",  "attributes JSON",
        "user_attributes JSON",  "source VARCHAR"}) {
    const size_t space = column.find(' ');
    clickstream.push_back({column.substr(0, space), column.substr(space + 1)});
  }
  CreateRaw("clickstream", clickstream, {{"dt", "DATE"}, {"hour", "INTEGER"}});
  auto text_table = [&](const std::string& name, const std::vector<std::string>& columns) {
    std::vector<catalog::Column> cols;
    for (const auto& c : columns) cols.push_back({c, "VARCHAR"});
    cols.push_back({"_source_file", "VARCHAR"});
    cols.push_back({"_loaded_at", "TIMESTAMP"});
    CreateRaw(name, cols);
  };
  text_table("orders", {"order_id", "customer_id", "order_time", "status", "currency",
                        "total_amount", "shipping_country", "channel"});
  text_table("order_items",
             {"order_id", "line_no", "product_id", "quantity", "unit_price", "discount"});
  text_table("products", {"product_id", "name", "category", "subcategory", "brand", "price",
                          "currency", "created_at", "active", "image_key"});
  text_table("customers", {"customer_id", "email", "signup_time", "birth_year", "gender", "country",
                           "city", "segment", "marketing_opt_in"});

  // Everything but the 17:00 visit, and the purchase p1-6 twice (a client retry).
  AddClickstream("event_id NOT IN ('rot-1', 'rot-2')");
  AddClickstream("event_id = 'p1-6'");
  AddBatch("orders", "orders_day1.csv", "2026-03-03 01:00:00");
  AddBatch("orders", "orders_day2.csv", "2026-03-04 01:00:00");
  AddBatch("order_items", "order_items.csv", "2026-03-03 01:00:00");
  AddBatch("products", "products.csv", "2026-03-03 01:00:00");
  AddBatch("customers", "customers.csv", "2026-03-03 01:00:00");

  std::map<std::string, RunReport> first = RunAll();
  ASSERT_EQ(first.size(), 12u);
  // The fixture has one customer in three with an invalid email: the warning says so.
  EXPECT_EQ(failed_quality_,
            (std::set<std::string>{"customers: Completeness \"email\" >= 0.9 = 0.6667"}));
  EXPECT_EQ(first["events"].record.rows_in, 52);
  EXPECT_EQ(first["events"].record.rows_duplicate, 1);
  EXPECT_EQ(first["orders"].record.rows_quarantined, 6);
  EXPECT_EQ(first["orders"].record.rows_duplicate, 2);  // the copy, and ord-1's older export
  EXPECT_EQ(first["order_items"].record.rows_quarantined, 6);
  EXPECT_EQ(first["products"].record.rows_quarantined, 5);
  EXPECT_EQ(first["customers"].record.rows_quarantined, 2);
  EXPECT_EQ(Lake("SELECT rule, count(*) FROM quarantine_processed_orders GROUP BY rule "
                 "ORDER BY rule"),
            (Rows{{"allowed_values", "1"},
                  {"cast", "2"},
                  {"range", "1"},
                  {"regex", "1"},
                  {"required", "1"}}));
  EXPECT_EQ(Lake("SELECT step, sessions FROM curated_funnel_daily WHERE dt = DATE '2026-03-02' "
                 "ORDER BY step_number"),
            (Rows{{"view", "8"},
                  {"product_view", "4"},
                  {"add_to_cart", "3"},
                  {"begin_checkout", "2"},
                  {"purchase", "2"}}));
  EXPECT_EQ(LakeOne("SELECT sum(net_amount) FROM curated_fact_orders"), "78.49");
  EXPECT_EQ(LakeOne("SELECT count(*) FROM curated_user_item_interactions"), "11");
  EXPECT_EQ(LakeOne("SELECT sum(revenue) FROM curated_product_metrics_daily"), "67.49");
  EXPECT_EQ(LakeOne("SELECT string_agg(customer_id || ':' || orders, ',' ORDER BY customer_id) "
                    "FROM curated_dim_customers"),
            "cust-1:1,cust-2:1,cust-4:1");

  // Again: nothing new anywhere, nothing changes.
  for (const auto& [name, report] : RunAll()) {
    EXPECT_EQ(report.record.status, RunStatus::kNothingNew) << name;
  }
  EXPECT_EQ(LakeOne("SELECT count(*) FROM curated_sessions"), "35");

  // A late visit on 2026-03-02: the day's sessions and funnel are recomputed whole.
  AddClickstream("event_id IN ('rot-1', 'rot-2')");
  std::map<std::string, RunReport> third = RunAll();
  EXPECT_EQ(third["events"].record.rows_in, 2);
  EXPECT_EQ(third["sessions"].record.status, RunStatus::kSucceeded);
  EXPECT_EQ(third["orders"].record.status, RunStatus::kNothingNew);
  EXPECT_TRUE(failed_quality_.empty());
  EXPECT_EQ(LakeOne("SELECT count(*) FROM curated_sessions"), "37");
  EXPECT_EQ(LakeOne("SELECT count(*) FROM curated_sessions WHERE dt = DATE '2026-03-01'"), "1");
  EXPECT_EQ(Lake("SELECT step, sessions FROM curated_funnel_daily WHERE dt = DATE '2026-03-02' "
                 "ORDER BY step_number"),
            (Rows{{"view", "10"},
                  {"product_view", "4"},
                  {"add_to_cart", "3"},
                  {"begin_checkout", "2"},
                  {"purchase", "2"}}));
  EXPECT_EQ(LakeOne("SELECT count(*) FROM curated_funnel_daily"), "10");

  // A later export sets ord-1 back to paid (a corrected file), with no new order line: the fact
  // table, rebuilt from whole tables, must follow its second source, not only its primary.
  AddBatch("orders", "orders_day1.csv", "2026-03-05 01:00:00");
  EXPECT_EQ(LakeOne("SELECT DISTINCT lower(status) FROM curated_fact_orders "
                    "WHERE order_id = 'ord-1'"),
            "shipped");
  std::map<std::string, RunReport> fourth = RunAll();
  EXPECT_EQ(fourth["orders"].record.status, RunStatus::kSucceeded);
  EXPECT_EQ(fourth["order_items"].record.status, RunStatus::kNothingNew);
  EXPECT_EQ(fourth["fact_orders"].record.status, RunStatus::kSucceeded);
  EXPECT_EQ(LakeOne("SELECT DISTINCT lower(status) FROM curated_fact_orders "
                    "WHERE order_id = 'ord-1'"),
            "paid");
  for (const auto& [name, report] : RunAll()) {
    EXPECT_EQ(report.record.status, RunStatus::kNothingNew)
        << name << " after the corrected export";
  }
}

}  // namespace
}  // namespace basin::etl
