#include "demo/batch_export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "base/clock.h"
#include "base/time_format.h"
#include "demo/json_value.h"
#include "demo/session_simulator.h"
#include "demo/shop_simulator.h"
#include "demo/traffic_generator.h"
#include "unit/demo/png_decode.h"
#include "unit/demo/test_http_server.h"
#include "unit/temp_dir.h"

namespace basin::demo {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNowUs = 1'795'000'000'000'000;  // 2026-11-18, a fixed export time

// RFC 4180, strictly: records of fields, "" inside quotes, and whether the file ended inside a
// quoted field (the last record is then reported as it stood).
struct ParsedCsv {
  std::vector<std::string> lines;  // each record's raw text, for duplicate detection
  std::vector<std::vector<std::string>> records;
  bool unterminated = false;
};

ParsedCsv ParseCsv(const std::string& text) {
  ParsedCsv out;
  std::vector<std::string> record;
  std::string field, raw;
  bool quoted = false, in_record = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    in_record = true;
    if (quoted) {
      raw.push_back(c);
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          raw.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
      continue;
    }
    if (c == '\n') {
      record.push_back(field);
      out.records.push_back(record);
      out.lines.push_back(raw);
      record.clear();
      field.clear();
      raw.clear();
      in_record = false;
      continue;
    }
    raw.push_back(c);
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
    } else {
      field.push_back(c);
    }
  }
  if (in_record) {
    out.unterminated = quoted;
    record.push_back(field);
    out.records.push_back(record);
    out.lines.push_back(raw);
  }
  return out;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(' '));
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS" naming a day some calendar has.
bool ValidDate(const std::string& text) {
  static const std::regex kDate(R"((\d{4})-(\d{2})-(\d{2})( \d{2}:\d{2}:\d{2})?)");
  std::smatch m;
  if (!std::regex_match(text, m, kDate)) return false;
  const int year = std::stoi(m[1]), month = std::stoi(m[2]), day = std::stoi(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

bool Negative(const std::string& amount) { return !amount.empty() && amount[0] == '-'; }

const std::set<std::string> kValidStatuses = {"placed",    "paid",      "shipped",
                                              "delivered", "cancelled", "returned"};

// Finds the dirt in a CSV export the way a cleaning pipeline would, independently of how the
// exporter decided it, and counts it per kind.
DirtCounts FindDirt(const std::string& table, const ParsedCsv& csv, size_t columns) {
  DirtCounts found;
  for (size_t i = 1; i < csv.records.size(); ++i) {  // record 0 is the header
    const auto& r = csv.records[i];
    if (csv.unterminated && i + 1 == csv.records.size()) {
      ++found[DirtKind::kUnterminatedQuote];
      continue;
    }
    if (r.size() < columns) {
      ++found[DirtKind::kRaggedRow];
      continue;
    }
    if (csv.lines[i] == csv.lines[i - 1]) {
      ++found[DirtKind::kDuplicateRow];
      continue;
    }
    if (table == "orders") {
      if (r[1].empty()) ++found[DirtKind::kMissingCustomerId];
      if (!ValidDate(r[2])) ++found[DirtKind::kImpossibleDate];
      if (Negative(r[5])) ++found[DirtKind::kNegativeAmount];
      if (!kValidStatuses.contains(Lower(Trim(r[3])))) {
        ++found[DirtKind::kUnknownStatus];
      } else if (!kValidStatuses.contains(r[3])) {
        ++found[DirtKind::kNormalisableStatus];
      }
    } else if (table == "order_items") {
      if (r[4].empty()) ++found[DirtKind::kMissingPrice];
      if (Negative(r[4])) ++found[DirtKind::kNegativeAmount];
    } else if (table == "products") {
      if (r[5].empty()) ++found[DirtKind::kMissingPrice];
      if (Negative(r[5])) ++found[DirtKind::kNegativeAmount];
      if (!ValidDate(r[7])) ++found[DirtKind::kImpossibleDate];
    } else if (table == "customers") {
      if (r[1] != Lower(Trim(r[1]))) ++found[DirtKind::kMessyEmail];
      if (!ValidDate(r[2])) ++found[DirtKind::kImpossibleDate];
    }
  }
  return found;
}

// A small shop and real purchases from its traffic generator, so that orders carry the same
// ids as the clickstream would.
class BatchExportTest : public ::testing::Test {
 protected:
  BatchExportTest()
      : catalog_(CatalogOptions()),
        visitors_(catalog_, VisitorOptions()),
        sessions_(catalog_, visitors_, BuyingSessions()) {}

  // Shoppers who mostly buy, so that a test needs few simulated events for its orders.
  static SessionOptions BuyingSessions() {
    SessionOptions o;
    o.bounce_rate = 0.05;
    o.cart_rate = 0.9;
    o.checkout_rate = 0.9;
    o.purchase_rate = 0.9;
    return o;
  }

  static ShopCatalogOptions CatalogOptions() {
    ShopCatalogOptions o;
    o.product_count = 80;
    return o;
  }
  static VisitorPopulationOptions VisitorOptions() {
    VisitorPopulationOptions o;
    o.visitor_count = 2000;
    return o;
  }

  // About `wanted` purchases from simulated traffic (deterministic for the seed).
  std::vector<PurchaseRecord> Purchases(size_t wanted, uint64_t seed = 3) {
    TrafficOptions traffic;
    traffic.events_per_second = 400;
    traffic.seed = seed;
    traffic.warmup_seconds = 0;
    TrafficGenerator generator(sessions_, traffic);
    std::vector<OutgoingEvent> events;
    std::vector<PurchaseRecord> purchases;
    int64_t now_ms = kNowUs / 1000;
    while (purchases.size() < wanted) {
      events.clear();
      now_ms += 1000;
      generator.Advance(1.0, now_ms, events, &purchases);
    }
    return purchases;
  }

  BatchExporterOptions Options(const std::string& dir) {
    BatchExporterOptions o;
    o.landing_dir = dir;
    o.seed = 11;
    return o;
  }

  static const ExportedFile* File(const BatchExport& e, const std::string& table) {
    for (const ExportedFile& f : e.files) {
      if (f.table == table) return &f;
    }
    return nullptr;
  }

  ShopCatalog catalog_;
  VisitorPopulation visitors_;
  SessionSimulator sessions_;
};

TEST_F(BatchExportTest, CleanExportMatchesThePurchases) {
  test::TempDir dir;
  BatchExporterOptions options = Options(dir.path());
  options.dirt = BatchDirtRates::None();
  options.nested_orders_fraction = 0;
  BatchExporter exporter(catalog_, visitors_, options);
  const std::vector<PurchaseRecord> purchases = Purchases(40);
  for (const PurchaseRecord& p : purchases) exporter.RecordPurchase(p);

  auto exported = exporter.WriteExport(kNowUs);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  EXPECT_TRUE(exported->full);
  EXPECT_EQ(exported->new_orders, purchases.size());
  EXPECT_EQ(exported->dirt.total(), 0u);
  ASSERT_EQ(exported->files.size(), 4u);

  // Files sit in <landing>/<table>/ under their final names; nothing half-written is left.
  const std::regex name(R"((orders|order_items|products|customers)-\d{8}T\d{2}-\d{4}\.csv)");
  for (const ExportedFile& f : exported->files) {
    EXPECT_EQ(fs::path(f.path).parent_path(), fs::path(dir.path()) / f.table);
    EXPECT_TRUE(std::regex_match(fs::path(f.path).filename().string(), name)) << f.path;
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
  }

  std::map<std::string, ParsedCsv> csv;
  for (const ExportedFile& f : exported->files) {
    const std::string text = Read(f.path);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    csv[f.table] = ParseCsv(text);
    ASSERT_FALSE(csv[f.table].unterminated);
    const std::string header = std::string(BatchExporter::CsvHeader(f.table));
    EXPECT_EQ(csv[f.table].lines[0], header);
    EXPECT_EQ(f.records, csv[f.table].records.size() - 1) << f.table;
    const size_t columns = static_cast<size_t>(std::count(header.begin(), header.end(), ',')) + 1;
    for (const auto& r : csv[f.table].records) ASSERT_EQ(r.size(), columns) << f.table;
  }
  EXPECT_EQ(csv["products"].records.size() - 1, catalog_.products().size());

  // Orders: the purchases' ids, times, currencies and totals; every customer and product known.
  std::set<std::string> customers, products;
  for (size_t i = 1; i < csv["customers"].records.size(); ++i) {
    customers.insert(csv["customers"].records[i][0]);
  }
  for (size_t i = 1; i < csv["products"].records.size(); ++i) {
    products.insert(csv["products"].records[i][0]);
  }
  ASSERT_EQ(csv["orders"].records.size() - 1, purchases.size());
  size_t lines = 0;
  for (size_t i = 0; i < purchases.size(); ++i) {
    const PurchaseRecord& p = purchases[i];
    const auto& order = csv["orders"].records[i + 1];
    EXPECT_EQ(order[0], p.order_id);
    if (p.customer_id) {
      EXPECT_EQ(order[1], *p.customer_id);
    }
    EXPECT_TRUE(customers.contains(order[1])) << order[1];
    EXPECT_EQ(order[2], FormatTimestamp(p.time_ms / 1000 * 1'000'000).substr(0, 19));
    EXPECT_TRUE(order[3] == "placed" || order[3] == "paid") << order[3];
    EXPECT_EQ(order[4], p.currency);
    EXPECT_EQ(order[5], ShopCatalog::FormatCents(p.total_cents));
    int64_t sum = 0;
    for (const EventItem& item : p.items) {
      const auto& line = csv["order_items"].records[1 + lines++];
      EXPECT_EQ(line[0], p.order_id);
      EXPECT_EQ(line[2], item.id);
      EXPECT_TRUE(products.contains(line[2]));
      EXPECT_EQ(line[3], std::to_string(item.quantity));
      EXPECT_EQ(line[4], ShopCatalog::FormatCents(item.price_cents));
      sum += item.price_cents * item.quantity;
    }
    EXPECT_EQ(sum, p.total_cents);
  }
  EXPECT_EQ(lines, csv["order_items"].records.size() - 1);

  // Customers: registered ones with a clean, lower-case email derived from the id.
  for (size_t i = 1; i < csv["customers"].records.size(); ++i) {
    const auto& c = csv["customers"].records[i];
    if (c[0] != "cust-000123") continue;
    EXPECT_TRUE(std::regex_match(c[1], std::regex(R"([a-z]+\.[a-z]+123@[a-z.]+)"))) << c[1];
  }
  // Product names with a comma are quoted and come back whole.
  for (size_t i = 1; i < csv["products"].records.size(); ++i) {
    const auto& row = csv["products"].records[i];
    const Product* p = catalog_.Find(row[0]);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(row[1], p->name);
    EXPECT_EQ(row[5], ShopCatalog::FormatCents(p->price_cents));
    EXPECT_EQ(row[9], "product_" + p->id + ".png");
  }
}

TEST_F(BatchExportTest, DirtCountsMatchWhatTheFilesHold) {
  test::TempDir dir;
  BatchExporterOptions options = Options(dir.path());
  options.dirt = BatchDirtRates::Uniform(0.04);
  options.dirt.unterminated_quote = 0.5;
  options.nested_orders_fraction = 0;
  options.full_export_every = 2;
  BatchExporter exporter(catalog_, visitors_, options);
  const std::vector<PurchaseRecord> purchases = Purchases(400);
  DirtCounts total_written, total_found;
  std::set<std::string> kinds_seen;
  for (int e = 0; e < 8; ++e) {
    for (size_t i = 0; i < 50; ++i) exporter.RecordPurchase(purchases[e * 50 + i]);
    auto exported = exporter.WriteExport(kNowUs + e * 60'000'000LL);
    ASSERT_TRUE(exported.ok()) << exported.status().ToString();
    for (const ExportedFile& f : exported->files) {
      const ParsedCsv csv = ParseCsv(Read(f.path));
      const std::string header(BatchExporter::CsvHeader(f.table));
      const size_t columns = static_cast<size_t>(std::count(header.begin(), header.end(), ',')) + 1;
      const DirtCounts found = FindDirt(f.table, csv, columns);
      EXPECT_EQ(found.ToString(), f.dirt.ToString()) << f.path;
      EXPECT_EQ(f.records, csv.records.size() - 1) << f.path;
      total_written += f.dirt;
      total_found += found;
    }
  }
  EXPECT_EQ(total_found.ToString(), total_written.ToString());
  // Every kind that a CSV export can carry showed up at these rates.
  for (int k = 0; k < kDirtKindCount; ++k) {
    EXPECT_GT(total_written.by_kind[k], 0u) << DirtKindName(static_cast<DirtKind>(k));
  }
  EXPECT_EQ(exporter.stats().dirt.ToString(), total_written.ToString());
  EXPECT_EQ(exporter.stats().exports, 8u);
  EXPECT_EQ(exporter.stats().orders, 400u);
}

TEST_F(BatchExportTest, NestedOrdersAreNdjsonWithItems) {
  test::TempDir dir;
  BatchExporterOptions options = Options(dir.path());
  options.dirt = BatchDirtRates::Uniform(0.05);
  options.dirt.unterminated_quote = 1;
  options.nested_orders_fraction = 1;
  BatchExporter exporter(catalog_, visitors_, options);
  const std::vector<PurchaseRecord> purchases = Purchases(200);
  std::map<std::string, const PurchaseRecord*> by_id;
  for (const PurchaseRecord& p : purchases) {
    exporter.RecordPurchase(p);
    by_id[p.order_id] = &p;
  }
  auto exported = exporter.WriteExport(kNowUs);
  ASSERT_TRUE(exported.ok());
  EXPECT_EQ(File(*exported, "order_items"), nullptr);
  const ExportedFile* orders = File(*exported, "orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->format, "ndjson");
  EXPECT_TRUE(orders->path.ends_with(".ndjson"));

  std::istringstream text(Read(orders->path));
  std::string line, previous;
  DirtCounts found;
  uint64_t records = 0, items = 0;
  while (std::getline(text, line)) {
    ++records;
    auto doc = JsonValue::Parse(line);
    if (!doc.ok()) {
      // A broken line: the unterminated last one, or a ragged one cut in half.
      ++found[text.peek() == EOF ? DirtKind::kUnterminatedQuote : DirtKind::kRaggedRow];
      previous = line;
      continue;
    }
    if (line == previous) {
      ++found[DirtKind::kDuplicateRow];
      items += doc->Find("items")->items().size();
      continue;
    }
    previous = line;
    const std::string id = doc->Find("order_id")->string();
    ASSERT_TRUE(by_id.contains(id));
    const PurchaseRecord& p = *by_id[id];
    const JsonValue* customer = doc->Find("customer_id");
    if (customer->is_null()) ++found[DirtKind::kMissingCustomerId];
    if (!ValidDate(doc->Find("order_time")->string())) ++found[DirtKind::kImpossibleDate];
    const double total = doc->Find("total_amount")->number();
    if (total < 0) ++found[DirtKind::kNegativeAmount];
    EXPECT_DOUBLE_EQ(std::abs(total), static_cast<double>(p.total_cents) / 100);
    const std::string status = doc->Find("status")->string();
    if (!kValidStatuses.contains(Lower(Trim(status)))) {
      ++found[DirtKind::kUnknownStatus];
    } else if (!kValidStatuses.contains(status)) {
      ++found[DirtKind::kNormalisableStatus];
    }
    const auto& lines = doc->Find("items")->items();
    ASSERT_EQ(lines.size(), p.items.size());
    items += lines.size();
    for (size_t k = 0; k < lines.size(); ++k) {
      EXPECT_EQ(lines[k].Find("line_no")->number(), static_cast<double>(k + 1));
      EXPECT_EQ(lines[k].Find("product_id")->string(), p.items[k].id);
      const JsonValue* price = lines[k].Find("unit_price");
      if (price->is_null()) {
        ++found[DirtKind::kMissingPrice];
      } else if (price->number() < 0) {
        ++found[DirtKind::kNegativeAmount];
      }
    }
  }
  EXPECT_EQ(records, orders->records);
  EXPECT_EQ(items, orders->nested_items);
  EXPECT_EQ(found.ToString(), orders->dirt.ToString());
  EXPECT_EQ(found[DirtKind::kUnterminatedQuote], 1u);
}

TEST_F(BatchExportTest, SameSeedSameFilesOtherSeedOtherDirt) {
  const std::vector<PurchaseRecord> purchases = Purchases(120);
  auto run = [&](uint64_t seed) {
    test::TempDir dir;
    BatchExporterOptions options = Options(dir.path());
    options.seed = seed;
    options.dirt = BatchDirtRates::Uniform(0.05);
    BatchExporter exporter(catalog_, visitors_, options);
    std::string all;
    for (int e = 0; e < 3; ++e) {
      for (size_t i = 0; i < 40; ++i) exporter.RecordPurchase(purchases[e * 40 + i]);
      auto exported = exporter.WriteExport(kNowUs + e * 3'600'000'000LL);
      EXPECT_TRUE(exported.ok());
      for (const ExportedFile& f : exported->files) {
        all += fs::path(f.path).filename().string() + "\n" + Read(f.path);
      }
    }
    return all;
  };
  const std::string first = run(5);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, run(5));
  EXPECT_NE(first, run(6));
}

TEST_F(BatchExportTest, LaterExportsCarryChangedRowsAndStatusUpdates) {
  test::TempDir dir;
  BatchExporterOptions options = Options(dir.path());
  options.dirt = BatchDirtRates::None();
  options.nested_orders_fraction = 0;
  options.product_change_fraction = 0.2;
  options.new_products_per_export = 3;
  options.customer_change_fraction = 0.05;
  options.status_update_fraction = 1;
  std::vector<std::string> new_products;
  options.on_new_product = [&](const Product& p) { new_products.push_back(p.id); };
  BatchExporter exporter(catalog_, visitors_, options);
  const std::vector<PurchaseRecord> purchases = Purchases(30);
  for (const PurchaseRecord& p : purchases) exporter.RecordPurchase(p);
  auto first = exporter.WriteExport(kNowUs);
  ASSERT_TRUE(first.ok());
  std::map<std::string, std::string> first_status;
  for (const auto& r : ParseCsv(Read(File(*first, "orders")->path)).records) {
    first_status[r[0]] = r[3];
  }

  auto second = exporter.WriteExport(kNowUs + 3'600'000'000LL);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->full);
  EXPECT_EQ(second->new_orders, 0u);
  // Every order moved on one step and came back with its new status, nothing else changed.
  EXPECT_EQ(second->order_updates, purchases.size());
  const ParsedCsv orders = ParseCsv(Read(File(*second, "orders")->path));
  ASSERT_EQ(orders.records.size() - 1, purchases.size());
  for (size_t i = 1; i < orders.records.size(); ++i) {
    const auto& r = orders.records[i];
    const std::string& before = first_status.at(r[0]);
    if (before == "placed") {
      EXPECT_TRUE(r[3] == "paid" || r[3] == "cancelled") << r[3];
    } else {
      EXPECT_TRUE(r[3] == "shipped" || r[3] == "cancelled") << r[3];
    }
  }
  // Order lines are exported once, with the new order; a status change does not repeat them.
  EXPECT_EQ(File(*second, "order_items"), nullptr);

  // Products: only changed ones, including the new products (announced to on_new_product).
  const ExportedFile* products = File(*second, "products");
  ASSERT_NE(products, nullptr);
  const ParsedCsv product_rows = ParseCsv(Read(products->path));
  EXPECT_GT(product_rows.records.size() - 1, 0u);
  EXPECT_LT(product_rows.records.size() - 1, catalog_.products().size());
  std::set<std::string> listed;
  for (size_t i = 1; i < product_rows.records.size(); ++i) {
    listed.insert(product_rows.records[i][0]);
  }
  EXPECT_FALSE(new_products.empty());
  for (const std::string& id : new_products) {
    EXPECT_TRUE(listed.contains(id)) << id;
    EXPECT_EQ(catalog_.Find(id), nullptr);
  }
  const size_t changed_catalog_products = static_cast<size_t>(std::count_if(
      listed.begin(), listed.end(), [&](const std::string& id) { return catalog_.Find(id); }));
  EXPECT_GT(changed_catalog_products, 0u);

  // Customers: a few changed ones only.
  const ExportedFile* customers = File(*second, "customers");
  ASSERT_NE(customers, nullptr);
  const size_t registered =
      static_cast<size_t>(std::count_if(visitors_.visitors().begin(), visitors_.visitors().end(),
                                        [](const Visitor& v) { return v.user_id.has_value(); }));
  EXPECT_GT(customers->records, 0u);
  EXPECT_LT(customers->records, registered);
}

TEST_F(BatchExportTest, GuestsBecomeCustomersSoEveryOrderJoins) {
  test::TempDir dir;
  BatchExporterOptions options = Options(dir.path());
  options.dirt = BatchDirtRates::None();
  options.nested_orders_fraction = 0;
  BatchExporter exporter(catalog_, visitors_, options);
  // A purchase by an anonymous visitor, and one by a registered visitor who was logged out.
  const Visitor* anonymous = nullptr;
  const Visitor* registered = nullptr;
  for (const Visitor& v : visitors_.visitors()) {
    if (!v.user_id && anonymous == nullptr) anonymous = &v;
    if (v.user_id && registered == nullptr) registered = &v;
  }
  ASSERT_TRUE(anonymous && registered);
  PurchaseRecord guest;
  guest.order_id = "ord-guest";
  guest.anonymous_id = anonymous->anonymous_id;
  guest.time_ms = kNowUs / 1000;
  guest.currency = "EUR";
  guest.items = {EventItem{"sku-00001", "x", "y", 999, 1}};
  guest.total_cents = 999;
  PurchaseRecord logged_out = guest;
  logged_out.order_id = "ord-logged-out";
  logged_out.anonymous_id = registered->anonymous_id;
  exporter.RecordPurchase(guest);
  exporter.RecordPurchase(logged_out);
  auto exported = exporter.WriteExport(kNowUs);
  ASSERT_TRUE(exported.ok());
  const ParsedCsv orders = ParseCsv(Read(File(*exported, "orders")->path));
  ASSERT_EQ(orders.records.size(), 3u);
  const std::string guest_id = orders.records[1][1];
  EXPECT_TRUE(guest_id.starts_with("guest-")) << guest_id;
  EXPECT_EQ(orders.records[2][1], *registered->user_id);
  const ParsedCsv customers = ParseCsv(Read(File(*exported, "customers")->path));
  bool found = false;
  for (const auto& r : customers.records) {
    if (r[0] != guest_id) continue;
    found = true;
    EXPECT_EQ(r[7], "guest");
    EXPECT_EQ(r[5], anonymous->country);
  }
  EXPECT_TRUE(found);
}

TEST_F(BatchExportTest, StopWritesThePendingOrders) {
  test::TempDir dir;
  FakeClock clock(kNowUs);
  BatchExporterOptions options = Options(dir.path());
  options.interval_seconds = 3600;  // the thread would not export on its own during the test
  options.clock = &clock;
  BatchExporter exporter(catalog_, visitors_, options);
  ASSERT_TRUE(exporter.Start().ok());
  EXPECT_EQ(exporter.Start().code(), ErrorCode::kAlreadyExists);
  for (const PurchaseRecord& p : Purchases(5)) exporter.RecordPurchase(p);
  exporter.Stop();
  EXPECT_EQ(exporter.stats().exports, 1u);
  EXPECT_GE(exporter.stats().orders, 5u);
  EXPECT_FALSE(fs::is_empty(fs::path(dir.path()) / "orders"));

  BatchExporter no_dir(catalog_, visitors_, BatchExporterOptions{});
  EXPECT_EQ(no_dir.Start().code(), ErrorCode::kInvalidArgument);
}

// The wiring `basin serve --demo` uses: the simulator exports on its interval, its purchases
// become the orders files (a purchasing session takes minutes of dwell time, so a short run may
// have none; the purchase-to-order mapping itself is tested above with the same generator), and
// every product's picture is uploaded once.
TEST(ShopBackOfficeTest, SimulatorWritesItsOrdersAndUploadsPictures) {
  test::TempDir dir;
  std::mutex mu;
  std::map<std::string, int> uploads;
  testing::TestHttpServer server([&](const testing::TestRequest& r) -> testing::TestResponse {
    if (r.target.starts_with("/v1/objects")) {
      std::lock_guard lock(mu);
      if (testing::DecodePng(r.body).error.empty()) ++uploads[r.target];
      return {201, R"({"object_key":"k"})"};
    }
    size_t events = 0;
    for (size_t at = r.body.find("\"event_id\""); at != std::string::npos;
         at = r.body.find("\"event_id\"", at + 1)) {
      ++events;
    }
    return {200, "{\"accepted\":" + std::to_string(events) + ",\"rejected\":[]}"};
  });

  std::set<std::string> purchased;
  ShopSimulatorOptions options;
  options.port = server.port();
  options.events_per_second = 200;
  options.run_seed = 17;
  options.catalog.product_count = 24;
  options.visitors.visitor_count = 3000;
  options.sessions.cart_rate = 0.9;
  options.sessions.checkout_rate = 0.9;
  options.sessions.purchase_rate = 0.9;
  options.on_purchase = [&](const PurchaseRecord& p) {
    std::lock_guard lock(mu);
    purchased.insert(p.order_id);
  };
  options.batch.landing_dir = dir.path();
  options.batch.interval_seconds = 0.05;
  options.batch.new_products_per_export = 0;  // the uploads are then exactly the catalog
  options.upload_product_images = true;
  options.images.uploads_per_second = 1000;
  options.fashion_mnist_dir = dir.path() + "/no-data-set";
  ShopSimulator shop(options);
  ASSERT_TRUE(shop.Start().ok());
  // Runs until the outcome is there; the deadline only bounds a broken shop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const ShopSimulatorStats s = shop.stats();
    if (s.images.uploaded == 24 && s.batch.exports >= 3) break;
    std::this_thread::yield();
  }
  shop.Stop();
  const ShopSimulatorStats stats = shop.stats();
  EXPECT_EQ(stats.images.uploaded, 24u);
  EXPECT_GE(stats.batch.exports, 3u);
  EXPECT_EQ(stats.batch.failed_exports, 0u);
  // Stop() exported the last orders: every purchase is in a file.
  EXPECT_EQ(stats.batch.orders, stats.purchases);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(uploads.size(), 24u);
    for (const auto& [target, n] : uploads) EXPECT_EQ(n, 1) << target;
    EXPECT_EQ(purchased.size(), stats.purchases);
  }

  // The first export lists the whole catalog and the registered customers.
  const fs::path landing(dir.path());
  ASSERT_TRUE(fs::exists(landing / "products"));
  ASSERT_TRUE(fs::exists(landing / "customers"));
  std::set<std::string> products;
  for (const auto& entry : fs::directory_iterator(landing / "products")) {
    const ParsedCsv csv = ParseCsv(Read(entry.path().string()));
    for (size_t i = 1; i < csv.records.size(); ++i) products.insert(csv.records[i][0]);
  }
  EXPECT_EQ(products.size(), 24u);

  std::set<std::string> exported;
  fs::create_directories(landing / "orders");
  for (const auto& entry : fs::directory_iterator(landing / "orders")) {
    const std::string text = Read(entry.path().string());
    if (entry.path().extension() == ".csv") {
      const ParsedCsv csv = ParseCsv(text);
      for (size_t i = 1; i < csv.records.size(); ++i) exported.insert(csv.records[i][0]);
    } else {
      std::istringstream lines(text);
      std::string line;
      while (std::getline(lines, line)) {
        if (auto doc = JsonValue::Parse(line); doc.ok()) {
          exported.insert(doc->Find("order_id")->string());
        }
      }
    }
  }
  // Broken lines lose a few ids; all others are the simulator's own orders.
  std::lock_guard lock(mu);
  for (const std::string& id : exported) EXPECT_TRUE(purchased.contains(id)) << id;
  EXPECT_GE(exported.size(), purchased.size() * 9 / 10);
}

}  // namespace
}  // namespace basin::demo
