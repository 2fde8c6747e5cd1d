#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "demo/seeded_random.h"
#include "demo/shop_catalog.h"
#include "demo/traffic_generator.h"
#include "demo/visitor_population.h"

namespace basin::demo {

// The kinds of dirt the shop's exports carry on purpose, so that the batch loader, the
// quarantine and the cleaning pipelines have something to catch.
enum class DirtKind {
  kDuplicateRow,        // a record written twice, byte for byte
  kMissingCustomerId,   // orders: empty customer_id
  kMissingPrice,        // products.price, order_items.unit_price empty
  kImpossibleDate,      // "2026-02-30 10:00:00", "2026-13-01"
  kMessyEmail,          // customers: "  Ana.Lopez12@Example.COM " (normalisable)
  kNegativeAmount,      // orders.total_amount, products.price, order_items.unit_price < 0
  kNormalisableStatus,  // orders: "SHIPPED " (case and spaces)
  kUnknownStatus,       // orders: "lost"
  kRaggedRow,           // CSV: a field short; NDJSON: a line cut in half (invalid JSON)
  kUnterminatedQuote,   // the last line of a file opens a quote (or JSON string) and never ends
};
inline constexpr int kDirtKindCount = 10;
std::string_view DirtKindName(DirtKind kind);  // "duplicate_row"

// How many records of each dirt kind were written. A record carries at most one kind; a
// duplicate is counted once (the copy), and only clean records are duplicated.
struct DirtCounts {
  std::array<uint64_t, kDirtKindCount> by_kind{};

  uint64_t& operator[](DirtKind kind) { return by_kind[static_cast<size_t>(kind)]; }
  uint64_t operator[](DirtKind kind) const { return by_kind[static_cast<size_t>(kind)]; }
  uint64_t total() const;
  DirtCounts& operator+=(const DirtCounts& other);
  // "duplicate_row=3 impossible_date=1" (kinds with a zero count left out)
  std::string ToString() const;
};

// Probability per record of each kind of dirt (kUnterminatedQuote: per file). The missing-value
// rate applies to customer ids and to prices alike.
struct BatchDirtRates {
  double duplicate_row = 0.02;
  double missing_value = 0.02;
  double impossible_date = 0.02;
  double messy_email = 0.02;
  double negative_amount = 0.02;
  double normalisable_status = 0.02;
  double unknown_status = 0.01;
  double ragged_row = 0.005;
  double unterminated_quote = 0.05;

  static BatchDirtRates None() { return Uniform(0); }
  static BatchDirtRates Uniform(double rate);
};

struct BatchExporterOptions {
  // `<data-dir>/lake/landing`: files go to `<landing_dir>/<table>/`, folders made as needed.
  std::string landing_dir;
  uint64_t seed = 1;  // dirt, formats, catalog and customer changes: same seed, same files
  // Wall seconds between the exports of Start()'s thread; 0 means one shop hour
  // (day_seconds / 24), the shop's nominal "hourly" export.
  double interval_seconds = 0;
  double day_seconds = 600;
  BatchDirtRates dirt;
  double nested_orders_fraction = 0.25;     // exports whose orders are NDJSON with nested items
  int full_export_every = 24;               // products and customers in full every N exports
  double product_change_fraction = 0.02;    // products repriced or (de)activated per export
  double new_products_per_export = 0.1;     // mean new products per export
  double customer_change_fraction = 0.005;  // registered customers changing email/city/opt-in
  double status_update_fraction = 0.2;      // open orders moving one status on per export
  // Called (on the exporting thread) for each product the export adds, e.g. to upload its
  // picture.
  std::function<void(const Product&)> on_new_product;
  const Clock* clock = nullptr;  // Start()'s exports; default SystemClock
};

// One file an export wrote.
struct ExportedFile {
  std::string table;          // "orders", "order_items", "products", "customers"
  std::string path;           // final path, e.g. <landing>/orders/orders-20261127T07-1534.csv
  std::string format;         // "csv" or "ndjson"
  uint64_t records = 0;       // data lines (CSV: after the header), dirt included
  uint64_t nested_items = 0;  // NDJSON orders: item objects inside well-formed lines
  DirtCounts dirt;
};

// What one WriteExport() wrote.
struct BatchExport {
  uint64_t sequence = 0;  // 1 for the first export of this exporter
  int64_t time_us = 0;
  bool full = false;  // products and customers written in full (else changed rows only)
  uint64_t new_orders = 0;
  uint64_t order_updates = 0;  // earlier orders re-exported with a new status
  std::vector<ExportedFile> files;
  DirtCounts dirt;
};

struct BatchExporterStats {
  uint64_t exports = 0;
  uint64_t files = 0;
  uint64_t records = 0;
  uint64_t orders = 0;
  uint64_t failed_exports = 0;
  DirtCounts dirt;
  std::string last_error;
};

// The demo shop's back office: every hour (of the shop's day, by default) it drops CSV and
// NDJSON exports of its orders, order lines, products and customers into the lake's landing
// folder, as an ERP or a shop system would, for the batch loader to pick up.
// - Orders and order lines come from the purchases the simulator made (RecordPurchase, fed by
//   the on_purchase hook): same order ids, product ids, customer ids (cust-000123; a guest's
//   `guest-<anonymous id>`) and times as the clickstream's purchase events, so curated tables
//   join up. Earlier orders come back with a new status (paid → shipped → delivered, ...), so
//   merging on order_id matters. A fraction of exports write orders as NDJSON with a nested
//   `items` array and no order_items file.
// - Products (from ShopCatalog) and customers (the registered visitors, and guests once they
//   buy) are written in full on the first export and every full_export_every exports, and as
//   changed rows in between (new prices, new products, changed emails and cities).
// - Dirt at the configured rates (see DirtKind), counted per file.
// Each file is written as `.<name>.partial` (hidden from the loader's sweep), fsync'ed and
// renamed to `<table>-<yyyymmddThh>-<mmss>.<csv|ndjson>`, so the sweep never reads half a file.
// Everything but the purchases themselves derives from the seed and the export times.
//
// Threads: RecordPurchase() and stats() from any thread; WriteExport() from one thread at a time
// (Start()'s thread, or a test); Start()/Stop() from one controlling thread.
class BatchExporter {
 public:
  BatchExporter(const ShopCatalog& catalog, const VisitorPopulation& visitors,
                BatchExporterOptions options);
  ~BatchExporter();  // Stop()s
  BatchExporter(const BatchExporter&) = delete;
  BatchExporter& operator=(const BatchExporter&) = delete;

  // Queues a completed order for the next export.
  void RecordPurchase(const PurchaseRecord& purchase);

  // Writes the files for the period since the last export, stamped `now_us`. Tables with
  // nothing to say this period get no file. IoError/DiskFull when a file cannot be written
  // (that table's rows are then lost from this export, as a failed upload's would be).
  Result<BatchExport> WriteExport(int64_t now_us);

  // Exports every interval on a thread of its own, and once more at Stop() for the purchases
  // still pending. InvalidArgument without a landing_dir; AlreadyExists if running.
  Status Start();
  void Stop();

  BatchExporterStats stats() const;
  double interval_seconds() const;

  // The header line of a table's CSV export (no newline): the columns of data-model.md.
  static std::string_view CsvHeader(std::string_view table);

 private:
  struct ProductState {
    Product product;
    bool changed = false;
  };
  struct CustomerState {
    std::string customer_id;
    size_t visitor = 0;
    std::string first_name, last_name, email, city, gender, segment;
    int birth_year = 0;
    int64_t signup_us = 0;
    bool marketing_opt_in = false;
    bool changed = false;
  };
  struct OrderState {
    PurchaseRecord purchase;
    std::string customer_id;
    int status = 0;       // index into the status list
    bool update = false;  // exported before; this time for its new status
  };
  class FileBuilder;

  void ChangeCatalog(SeededRandom& rng, int64_t now_us);
  void ChangeCustomers(SeededRandom& rng);
  size_t AddCustomer(size_t visitor, const std::string& customer_id, int64_t signup_us);
  std::string CustomerIdFor(const PurchaseRecord& purchase, int64_t time_us);
  void AdvanceStatuses(SeededRandom& rng, std::vector<const OrderState*>& updated);

  Status WriteOrders(BatchExport& out, SeededRandom& rng, const std::string& stamp,
                     const std::vector<const OrderState*>& orders, bool nested);
  Status WriteProducts(BatchExport& out, SeededRandom& rng, const std::string& stamp, bool full);
  Status WriteCustomers(BatchExport& out, SeededRandom& rng, const std::string& stamp, bool full);
  Status Publish(BatchExport& out, const std::string& table, const std::string& stamp,
                 const std::string& extension, FileBuilder& file);
  void Loop();

  const ShopCatalog& catalog_;
  const VisitorPopulation& visitors_;
  BatchExporterOptions options_;
  const Clock& clock_;

  // Export state; used by WriteExport() only.
  uint64_t sequence_ = 0;
  std::vector<ProductState> products_;
  std::vector<CustomerState> customers_;
  std::unordered_map<std::string, size_t> customer_index_;        // customer_id -> customers_
  std::unordered_map<std::string, size_t> visitor_by_anonymous_;  // anonymous_id -> visitor
  std::deque<OrderState> open_orders_;  // exported orders that may still change status

  mutable std::mutex mu_;
  std::vector<PurchaseRecord> pending_;  // guarded by mu_
  BatchExporterStats stats_;             // guarded by mu_
  std::condition_variable cv_;
  std::mutex export_mu_;  // one WriteExport() at a time

  std::atomic<bool> running_{false};
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace basin::demo
