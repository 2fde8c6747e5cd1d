#include "demo/batch_export.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>

#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "base/time_format.h"

namespace basin::demo {
namespace {

using Row = std::vector<std::string>;  // one record; an empty string is a missing value

constexpr std::string_view kOrdersHeader =
    "order_id,customer_id,order_time,status,currency,total_amount,shipping_country,channel";
constexpr std::string_view kOrderItemsHeader =
    "order_id,line_no,product_id,quantity,unit_price,discount";
constexpr std::string_view kProductsHeader =
    "product_id,name,category,subcategory,brand,price,currency,created_at,active,image_key";
constexpr std::string_view kCustomersHeader =
    "customer_id,email,signup_time,birth_year,gender,country,city,segment,marketing_opt_in";

// Order statuses as data-model.md lists them, and how an order moves between them.
constexpr std::array<std::string_view, 6> kStatuses = {"placed",    "paid",      "shipped",
                                                       "delivered", "cancelled", "returned"};
constexpr int kPlaced = 0, kPaid = 1, kShipped = 2, kDelivered = 3, kCancelled = 4, kReturned = 5;
constexpr size_t kMaxOpenOrders = 5000;
// Customer attributes are the population's, fixed like the catalog, whatever the export seed.
constexpr uint64_t kCustomerSeed = 0xC057'0E45;

// Which values of a JSON record are numbers or booleans rather than strings.
enum class JsonType { kString, kNumber, kBool };

struct DirtSlot {
  DirtKind kind;
  double rate;
};

// Draws exactly one number per record whatever the outcome, so that the dirt of later records
// does not depend on the rates of earlier kinds.
std::optional<DirtKind> ChooseDirt(SeededRandom& rng, const std::vector<DirtSlot>& slots) {
  double u = rng.Uniform();
  for (const DirtSlot& slot : slots) {
    if (u < slot.rate) return slot.kind;
    u -= slot.rate;
  }
  return std::nullopt;
}

std::string FormatSeconds(int64_t epoch_micros) {
  const CivilTime t = ToCivil(epoch_micros);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return text;
}

// "2026-02-30 10:00:00" or "2026-13-01 10:00:00": dates no calendar has.
std::string ImpossibleDate(int64_t epoch_micros, SeededRandom& rng, bool with_time) {
  const CivilTime t = ToCivil(epoch_micros);
  char text[32];
  if (rng.Chance(0.5)) {
    std::snprintf(text, sizeof text, "%04d-02-30", t.year);
  } else {
    std::snprintf(text, sizeof text, "%04d-13-01", t.year);
  }
  std::string out = text;
  if (with_time) {
    std::snprintf(text, sizeof text, " %02d:%02d:%02d", t.hour, t.minute, t.second);
    out += text;
  }
  return out;
}

// "ana.lopez12@example.com" -> "  Ana.Lopez12@Example.COM "
std::string MessyEmail(const std::string& email) {
  std::string out;
  bool word_start = true;
  const size_t last_dot = email.rfind('.');
  for (size_t i = 0; i < email.size(); ++i) {
    char c = email[i];
    if (i > last_dot) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else if (word_start) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    word_start = c == '.' || c == '@';
    out.push_back(c);
  }
  return "  " + out + " ";
}

std::string MessyStatus(std::string_view status, SeededRandom& rng) {
  std::string s(status);
  if (rng.Chance(0.5)) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s + " ";
  }
  s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return " " + s;
}

std::string CsvField(const std::string& value) {
  const bool quote = value.find_first_of(",\"\r\n") != std::string::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string CsvLine(const Row& row) {
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) line.push_back(',');
    line += CsvField(row[i]);
  }
  return line;
}

// The second field opens a quote that nothing closes: a reader runs into the end of the file.
std::string UnterminatedCsvLine(const Row& row) {
  std::string line = CsvField(row[0]) + ",\"";
  for (size_t i = 1; i < row.size(); ++i) {
    if (i > 1) line.push_back(',');
    for (char c : row[i]) {
      if (c != '"') line.push_back(c);
    }
  }
  return line;
}

void AppendJsonFields(std::string& out, std::string_view header, const Row& row,
                      const std::vector<JsonType>& types) {
  size_t start = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    const size_t comma = header.find(',', start);
    const std::string_view name = header.substr(start, comma - start);
    start = comma + 1;
    if (i > 0) out.push_back(',');
    AppendJsonString(out, name);
    out.push_back(':');
    if (row[i].empty()) {
      out += "null";
    } else if (types[i] == JsonType::kString) {
      AppendJsonString(out, row[i]);
    } else {
      out += row[i];  // numbers and booleans are written as their CSV text
    }
  }
}

// A record line cut off inside its first string value.
std::string UnterminatedJsonLine(const std::string& line) {
  const size_t value = line.find("\":\"");
  if (value == std::string::npos) return line.substr(0, line.size() / 2);
  return line.substr(0, std::min(line.size() - 1, value + 3 + 3));
}

struct NameSet {
  std::vector<const char*> female, male, last, cities;
};

const NameSet& NamesFor(std::string_view country) {
  static const std::map<std::string_view, NameSet> kNames = {
      {"US",
       {{"Emma", "Olivia", "Ava", "Grace", "Chloe"},
        {"Liam", "Noah", "James", "Ethan", "Owen"},
        {"Smith", "Johnson", "Brown", "Taylor", "Miller", "Davis"},
        {"New York", "Chicago", "Austin", "Seattle", "Denver", "Washington, D.C."}}},
      {"CA",
       {{"Emma", "Olivia", "Charlotte", "Amelia"},
        {"Liam", "Noah", "William", "Benjamin"},
        {"Tremblay", "Roy", "Campbell", "Wilson"},
        {"Toronto", "Montreal", "Vancouver", "Calgary", "Ottawa"}}},
      {"IE",
       {{"Aoife", "Saoirse", "Grace", "Emily"},
        {"Jack", "Conor", "Sean", "Cian"},
        {"Murphy", "Kelly", "Walsh", "Byrne", "Ryan"},
        {"Dublin", "Cork", "Galway", "Limerick"}}},
      {"DE",
       {{"Anna", "Lena", "Marie", "Sophie", "Hannah"},
        {"Lukas", "Jonas", "Felix", "Paul", "Leon"},
        {"Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"},
        {"Berlin", "Hamburg", "Munich", "Cologne", "Leipzig"}}},
      {"AT",
       {{"Anna", "Laura", "Lena", "Sarah"},
        {"Tobias", "David", "Maximilian", "Elias"},
        {"Gruber", "Huber", "Wagner", "Pichler"},
        {"Vienna", "Graz", "Linz", "Salzburg"}}},
      {"FR",
       {{"Camille", "Chloe", "Lea", "Manon", "Ines"},
        {"Louis", "Hugo", "Lucas", "Jules", "Arthur"},
        {"Martin", "Bernard", "Dubois", "Laurent", "Moreau"},
        {"Paris", "Lyon", "Marseille", "Toulouse", "Nantes"}}},
      {"ES",
       {{"Ana", "Lucia", "Maria", "Carmen", "Sofia"},
        {"Pablo", "Diego", "Javier", "Carlos", "Mateo"},
        {"Lopez", "Garcia", "Martinez", "Sanchez", "Romero"},
        {"Madrid", "Barcelona", "Valencia", "Seville", "Bilbao"}}},
      {"IT",
       {{"Giulia", "Chiara", "Sara", "Francesca", "Aurora"},
        {"Luca", "Marco", "Matteo", "Alessandro", "Lorenzo"},
        {"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi"},
        {"Rome", "Milan", "Naples", "Turin", "Bologna"}}},
      {"NL",
       {{"Emma", "Sanne", "Fleur", "Julia", "Noor"},
        {"Daan", "Sem", "Bram", "Lars", "Thijs"},
        {"Jansen", "Visser", "Smit", "Bakker", "Mulder"},
        {"Amsterdam", "Rotterdam", "Utrecht", "The Hague", "Eindhoven"}}},
  };
  const auto it = kNames.find(country);
  return it != kNames.end() ? it->second : kNames.at("US");
}

constexpr std::array<const char*, 4> kEmailDomains = {"example.com", "example.org", "example.net",
                                                      "mail.example.com"};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The number part of "cust-000123" ("123"), or the first hex digits of a guest id.
std::string EmailNumber(const std::string& customer_id) {
  const size_t dash = customer_id.find('-');
  std::string digits = customer_id.substr(dash == std::string::npos ? 0 : dash + 1);
  if (customer_id.starts_with("guest-")) return digits.substr(0, 4);
  const size_t first = digits.find_first_not_of('0');
  return first == std::string::npos ? "0" : digits.substr(first);
}

std::string Email(const std::string& first, const std::string& last, const std::string& id,
                  std::string_view domain) {
  return Lower(first) + "." + Lower(last) + EmailNumber(id) + "@" + std::string(domain);
}

// The shop's price points: whole euros minus a cent, tens of euros above 100.
int64_t ShopPrice(double euros) {
  const double whole =
      euros < 100 ? std::max(1.0, std::round(euros)) : std::round(euros / 10.0) * 10.0;
  return static_cast<int64_t>(whole) * 100 - 1;
}

}  // namespace

std::string_view DirtKindName(DirtKind kind) {
  static constexpr std::array<std::string_view, kDirtKindCount> kNames = {
      "duplicate_row", "missing_customer_id", "missing_price",       "impossible_date",
      "messy_email",   "negative_amount",     "normalisable_status", "unknown_status",
      "ragged_row",    "unterminated_quote"};
  return kNames.at(static_cast<size_t>(kind));
}

uint64_t DirtCounts::total() const {
  uint64_t sum = 0;
  for (uint64_t n : by_kind) sum += n;
  return sum;
}

DirtCounts& DirtCounts::operator+=(const DirtCounts& other) {
  for (size_t i = 0; i < by_kind.size(); ++i) by_kind[i] += other.by_kind[i];
  return *this;
}

std::string DirtCounts::ToString() const {
  std::string out;
  for (int i = 0; i < kDirtKindCount; ++i) {
    if (by_kind[i] == 0) continue;
    if (!out.empty()) out.push_back(' ');
    out += std::string(DirtKindName(static_cast<DirtKind>(i))) + "=" + std::to_string(by_kind[i]);
  }
  return out;
}

BatchDirtRates BatchDirtRates::Uniform(double rate) {
  BatchDirtRates r;
  r.duplicate_row = r.missing_value = r.impossible_date = r.messy_email = r.negative_amount =
      r.normalisable_status = r.unknown_status = r.ragged_row = r.unterminated_quote = rate;
  return r;
}

// The text of one export file, with its record and dirt counts.
class BatchExporter::FileBuilder {
 public:
  FileBuilder(std::string table, bool ndjson) : table_(std::move(table)), ndjson_(ndjson) {}

  void Header(std::string_view header) {
    text_ += header;
    text_ += '\n';
  }
  void Record(const std::string& line, std::optional<DirtKind> dirt) {
    text_ += line;
    text_ += '\n';
    ++records_;
    if (dirt) ++dirt_[*dirt];
  }
  void Count(DirtKind kind) { ++dirt_[kind]; }
  void CountNestedItems(uint64_t n) { nested_items_ += n; }

  // Writes every row of a CSV table with the dirt drawn for it; `apply` puts a value dirt into
  // a row.
  void CsvRows(const std::vector<Row>& rows, SeededRandom& rng, const std::vector<DirtSlot>& slots,
               double unterminated_rate, const std::function<void(DirtKind, Row&)>& apply) {
    const bool unterminated = !rows.empty() && rng.Chance(unterminated_rate);
    for (size_t i = 0; i < rows.size(); ++i) {
      Row row = rows[i];
      const std::optional<DirtKind> dirt = ChooseDirt(rng, slots);
      if (unterminated && i + 1 == rows.size()) {
        Record(UnterminatedCsvLine(row), DirtKind::kUnterminatedQuote);
      } else if (!dirt) {
        Record(CsvLine(row), std::nullopt);
      } else if (*dirt == DirtKind::kDuplicateRow) {
        const std::string line = CsvLine(row);
        Record(line, std::nullopt);
        Record(line, DirtKind::kDuplicateRow);
      } else if (*dirt == DirtKind::kRaggedRow) {
        row.pop_back();
        Record(CsvLine(row), DirtKind::kRaggedRow);
      } else {
        apply(*dirt, row);
        Record(CsvLine(row), *dirt);
      }
    }
  }

  const std::string& table() const { return table_; }
  bool ndjson() const { return ndjson_; }
  const std::string& text() const { return text_; }
  uint64_t records() const { return records_; }
  uint64_t nested_items() const { return nested_items_; }
  const DirtCounts& dirt() const { return dirt_; }

 private:
  std::string table_;
  bool ndjson_;
  std::string text_;
  uint64_t records_ = 0;
  uint64_t nested_items_ = 0;
  DirtCounts dirt_;
};

BatchExporter::BatchExporter(const ShopCatalog& catalog, const VisitorPopulation& visitors,
                             BatchExporterOptions options)
    : catalog_(catalog),
      visitors_(visitors),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock::Instance()) {
  for (const Product& p : catalog_.products()) products_.push_back({p, false});
  // Registered customers signed up between 2021 and late 2025.
  const int64_t first_day = DaysFromCivil(2021, 1, 1), last_day = DaysFromCivil(2025, 10, 31);
  for (const Visitor& v : visitors_.visitors()) {
    visitor_by_anonymous_.emplace(v.anonymous_id, v.index);
    if (!v.user_id) continue;
    SeededRandom rng = SeededRandom(kCustomerSeed).Fork(v.index);
    const int64_t day = rng.Between(first_day, last_day);
    AddCustomer(v.index, *v.user_id, (day * 86'400 + rng.Between(0, 86'399)) * 1'000'000);
  }
}

BatchExporter::~BatchExporter() { Stop(); }

std::string_view BatchExporter::CsvHeader(std::string_view table) {
  if (table == "orders") return kOrdersHeader;
  if (table == "order_items") return kOrderItemsHeader;
  if (table == "products") return kProductsHeader;
  if (table == "customers") return kCustomersHeader;
  return {};
}

size_t BatchExporter::AddCustomer(size_t visitor, const std::string& customer_id,
                                  int64_t signup_us) {
  const Visitor& v = visitors_.visitor(visitor);
  // Attributes depend on the visitor alone (not on the export seed), like the population.
  SeededRandom rng = SeededRandom(kCustomerSeed ^ 0x9E37).Fork(visitor);
  const NameSet& names = NamesFor(v.country);
  CustomerState c;
  c.customer_id = customer_id;
  c.visitor = visitor;
  const double g = rng.Uniform();
  c.gender = g < 0.48 ? "female" : g < 0.96 ? "male" : "unspecified";
  const bool female = c.gender == "female" || (c.gender == "unspecified" && rng.Chance(0.5));
  c.first_name = rng.Pick(female ? names.female : names.male);
  c.last_name = rng.Pick(names.last);
  c.email = Email(c.first_name, c.last_name, customer_id,
                  rng.Pick(std::vector<const char*>(kEmailDomains.begin(), kEmailDomains.end())));
  c.city = rng.Pick(names.cities);
  c.birth_year = static_cast<int>(std::clamp(std::lround(1988 + 12 * rng.Normal()), 1940L, 2008L));
  c.signup_us = signup_us;
  const bool guest = customer_id.starts_with("guest-");
  const double value = v.activity * v.buyer_propensity;
  c.segment = guest ? "guest" : value >= 3 ? "vip" : value >= 1 ? "regular" : "occasional";
  c.marketing_opt_in = v.usual_source == TrafficSource::kEmail || rng.Chance(0.35);
  c.changed = true;
  customer_index_.emplace(customer_id, customers_.size());
  customers_.push_back(std::move(c));
  return customers_.size() - 1;
}

std::string BatchExporter::CustomerIdFor(const PurchaseRecord& purchase, int64_t time_us) {
  if (purchase.customer_id) return *purchase.customer_id;
  const auto it = visitor_by_anonymous_.find(purchase.anonymous_id);
  const size_t visitor = it != visitor_by_anonymous_.end() ? it->second : 0;
  // A registered customer who browsed logged out signs in at checkout.
  if (it != visitor_by_anonymous_.end() && visitors_.visitor(visitor).user_id) {
    return *visitors_.visitor(visitor).user_id;
  }
  std::string hex;
  for (char c : purchase.anonymous_id) {
    if (c != '-' && hex.size() < 12) hex.push_back(c);
  }
  const std::string id = "guest-" + hex;
  if (!customer_index_.contains(id)) AddCustomer(visitor, id, time_us);
  return id;
}

void BatchExporter::RecordPurchase(const PurchaseRecord& purchase) {
  std::lock_guard lock(mu_);
  pending_.push_back(purchase);
}

void BatchExporter::ChangeCatalog(SeededRandom& rng, int64_t now_us) {
  for (ProductState& p : products_) {
    if (!rng.Chance(options_.product_change_fraction)) continue;
    if (rng.Chance(0.8)) {
      const double euros = static_cast<double>(p.product.price_cents + 1) / 100.0;
      const int64_t price = ShopPrice(euros * rng.UniformBetween(0.85, 1.15));
      if (price == p.product.price_cents) continue;
      p.product.price_cents = price;
    } else {
      p.product.active = !p.product.active;
    }
    p.changed = true;
  }
  const uint64_t added = rng.Poisson(options_.new_products_per_export);
  for (uint64_t i = 0; i < added; ++i) {
    const Product& model = catalog_.product(rng.Below(catalog_.products().size()));
    Product p = model;
    p.index = products_.size();
    char id[32];
    std::snprintf(id, sizeof id, "sku-%05zu", products_.size() + 1);
    p.id = id;
    p.path = "/p/" + p.id;
    p.name = model.brand + " " + model.subcategory + " Edition " + std::to_string(p.index + 1);
    p.price_cents =
        ShopPrice(static_cast<double>(model.price_cents) / 100.0 * rng.UniformBetween(0.9, 1.3));
    p.created_at_us = now_us;
    p.active = true;
    p.popularity = 0;
    p.popularity_rank = 0;
    products_.push_back({p, true});
    if (options_.on_new_product) options_.on_new_product(p);
  }
}

void BatchExporter::ChangeCustomers(SeededRandom& rng) {
  for (CustomerState& c : customers_) {
    if (c.segment == "guest" || !rng.Chance(options_.customer_change_fraction)) continue;
    const double what = rng.Uniform();
    if (what < 0.5) {
      // A new address at another provider.
      const size_t at = c.email.find('@');
      std::string domain = c.email.substr(at + 1);
      while (domain == c.email.substr(at + 1)) domain = kEmailDomains[rng.Below(4)];
      c.email = c.email.substr(0, at + 1) + domain;
    } else if (what < 0.8) {
      const NameSet& names = NamesFor(visitors_.visitor(c.visitor).country);
      c.city = rng.Pick(names.cities);
    } else {
      c.marketing_opt_in = !c.marketing_opt_in;
    }
    c.changed = true;
  }
}

void BatchExporter::AdvanceStatuses(SeededRandom& rng, std::vector<const OrderState*>& updated) {
  // Walks the orders exported before; the updates are copied out by the caller before the
  // finished orders are dropped.
  for (OrderState& o : open_orders_) {
    if (!rng.Chance(options_.status_update_fraction)) continue;
    switch (o.status) {
      case kPlaced: o.status = rng.Chance(0.85) ? kPaid : kCancelled; break;
      case kPaid: o.status = rng.Chance(0.95) ? kShipped : kCancelled; break;
      case kShipped: o.status = kDelivered; break;
      case kDelivered:
        if (!rng.Chance(0.08)) continue;
        o.status = kReturned;
        break;
      default: continue;
    }
    updated.push_back(&o);
  }
}

Result<BatchExport> BatchExporter::WriteExport(int64_t now_us) {
  if (options_.landing_dir.empty()) {
    return Error(ErrorCode::kInvalidArgument, "batch exporter: landing_dir is required");
  }
  std::lock_guard export_lock(export_mu_);
  std::vector<PurchaseRecord> purchases;
  {
    std::lock_guard lock(mu_);
    purchases.swap(pending_);
  }
  ++sequence_;
  SeededRandom rng = SeededRandom(options_.seed).Fork(sequence_);
  BatchExport out;
  out.sequence = sequence_;
  out.time_us = now_us;
  out.full = sequence_ == 1 || options_.full_export_every <= 1 ||
             (sequence_ - 1) % static_cast<uint64_t>(options_.full_export_every) == 0;

  // Status changes of orders from earlier exports, then this period's new orders.
  std::vector<const OrderState*> updated;
  AdvanceStatuses(rng, updated);
  std::vector<OrderState> rows;
  for (const OrderState* o : updated) {
    rows.push_back(*o);
    rows.back().update = true;
  }
  out.order_updates = rows.size();
  for (PurchaseRecord& p : purchases) {
    OrderState o;
    o.customer_id = CustomerIdFor(p, p.time_ms * 1000);
    o.status = rng.Chance(0.75) ? kPaid : kPlaced;
    o.purchase = std::move(p);
    rows.push_back(o);
    open_orders_.push_back(std::move(o));
  }
  out.new_orders = purchases.size();
  // Orders that can no longer change are forgotten; so are the oldest beyond the cap.
  std::erase_if(open_orders_, [](const OrderState& o) {
    return o.status == kCancelled || o.status == kReturned;
  });
  while (open_orders_.size() > kMaxOpenOrders) open_orders_.pop_front();

  if (!out.full) {
    ChangeCatalog(rng, now_us);
    ChangeCustomers(rng);
  }

  const CivilTime t = ToCivil(now_us);
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%04d%02d%02dT%02d-%02d%02d", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  const bool nested = rng.Chance(options_.nested_orders_fraction);
  std::vector<const OrderState*> order_rows;
  for (const OrderState& o : rows) order_rows.push_back(&o);

  Status status = WriteOrders(out, rng, stamp, order_rows, nested);
  if (status.ok()) status = WriteProducts(out, rng, stamp, out.full);
  if (status.ok()) status = WriteCustomers(out, rng, stamp, out.full);

  std::lock_guard lock(mu_);
  if (!status.ok()) {
    ++stats_.failed_exports;
    stats_.last_error = status.ToString();
  }
  ++stats_.exports;
  stats_.orders += out.new_orders;
  for (const ExportedFile& f : out.files) {
    ++stats_.files;
    stats_.records += f.records;
  }
  stats_.dirt += out.dirt;
  if (!status.ok()) return status;
  return out;
}

Status BatchExporter::WriteOrders(BatchExport& out, SeededRandom& rng, const std::string& stamp,
                                  const std::vector<const OrderState*>& orders, bool nested) {
  if (orders.empty()) return Status::Ok();
  const BatchDirtRates& d = options_.dirt;
  const std::vector<DirtSlot> order_slots = {{DirtKind::kDuplicateRow, d.duplicate_row},
                                             {DirtKind::kMissingCustomerId, d.missing_value},
                                             {DirtKind::kImpossibleDate, d.impossible_date},
                                             {DirtKind::kNegativeAmount, d.negative_amount},
                                             {DirtKind::kNormalisableStatus, d.normalisable_status},
                                             {DirtKind::kUnknownStatus, d.unknown_status},
                                             {DirtKind::kRaggedRow, d.ragged_row}};
  const std::vector<DirtSlot> item_slots = {{DirtKind::kDuplicateRow, d.duplicate_row},
                                            {DirtKind::kMissingPrice, d.missing_value},
                                            {DirtKind::kNegativeAmount, d.negative_amount},
                                            {DirtKind::kRaggedRow, d.ragged_row}};
  auto order_row = [](const OrderState& o) {
    const PurchaseRecord& p = o.purchase;
    return Row{p.order_id,
               o.customer_id,
               FormatSeconds(p.time_ms * 1000),
               std::string(kStatuses[static_cast<size_t>(o.status)]),
               p.currency,
               ShopCatalog::FormatCents(p.total_cents),
               p.country,
               p.platform};
  };
  auto item_rows = [](const OrderState& o) {
    std::vector<Row> rows;
    for (size_t i = 0; i < o.purchase.items.size(); ++i) {
      const EventItem& item = o.purchase.items[i];
      rows.push_back(Row{o.purchase.order_id, std::to_string(i + 1), item.id,
                         std::to_string(item.quantity), ShopCatalog::FormatCents(item.price_cents),
                         "0.00"});
    }
    return rows;
  };
  auto dirty_order = [&](DirtKind kind, Row& row) {
    switch (kind) {
      case DirtKind::kMissingCustomerId: row[1].clear(); break;
      case DirtKind::kImpossibleDate:
        row[2] = ImpossibleDate(ParseIso8601(row[2]).value_or(0), rng, /*with_time=*/true);
        break;
      case DirtKind::kNegativeAmount: row[5] = "-" + row[5]; break;
      case DirtKind::kNormalisableStatus: row[3] = MessyStatus(row[3], rng); break;
      case DirtKind::kUnknownStatus: row[3] = "lost"; break;
      default: break;
    }
  };
  auto dirty_item = [](DirtKind kind, Row& row) {
    if (kind == DirtKind::kMissingPrice) row[4].clear();
    if (kind == DirtKind::kNegativeAmount) row[4] = "-" + row[4];
  };

  if (!nested) {
    std::vector<Row> rows, items;
    // Order lines go out once, with the new order; a status change repeats only the order.
    for (const OrderState* o : orders) {
      rows.push_back(order_row(*o));
      if (o->update) continue;
      for (Row& item : item_rows(*o)) items.push_back(std::move(item));
    }
    FileBuilder file("orders", /*ndjson=*/false);
    file.Header(kOrdersHeader);
    file.CsvRows(rows, rng, order_slots, d.unterminated_quote, dirty_order);
    BASIN_RETURN_IF_ERROR(Publish(out, "orders", stamp, "csv", file));
    if (items.empty()) return Status::Ok();
    FileBuilder lines("order_items", /*ndjson=*/false);
    lines.Header(kOrderItemsHeader);
    lines.CsvRows(items, rng, item_slots, d.unterminated_quote, dirty_item);
    return Publish(out, "order_items", stamp, "csv", lines);
  }

  // NDJSON: one order per line with its lines nested. An order line and each of its items carry
  // at most one dirt each; a duplicated or broken line carries no other.
  static const std::vector<JsonType> kOrderTypes = {
      JsonType::kString, JsonType::kString, JsonType::kString, JsonType::kString,
      JsonType::kString, JsonType::kNumber, JsonType::kString, JsonType::kString};
  static const std::vector<JsonType> kItemTypes = {JsonType::kString, JsonType::kNumber,
                                                   JsonType::kString, JsonType::kNumber,
                                                   JsonType::kNumber, JsonType::kNumber};
  const std::vector<DirtSlot> nested_item_slots = {{DirtKind::kMissingPrice, d.missing_value},
                                                   {DirtKind::kNegativeAmount, d.negative_amount}};
  FileBuilder file("orders", /*ndjson=*/true);
  const bool unterminated = rng.Chance(d.unterminated_quote);
  for (size_t i = 0; i < orders.size(); ++i) {
    const OrderState& o = *orders[i];
    Row row = order_row(o);
    const std::optional<DirtKind> dirt = ChooseDirt(rng, order_slots);
    const bool last_broken = unterminated && i + 1 == orders.size();
    const bool whole_line =
        last_broken ||
        (dirt && (*dirt == DirtKind::kDuplicateRow || *dirt == DirtKind::kRaggedRow));
    if (dirt && !whole_line) dirty_order(*dirt, row);
    std::string line = "{";
    AppendJsonFields(line, kOrdersHeader, row, kOrderTypes);
    line += ",\"items\":[";
    std::vector<DirtKind> item_dirt;
    const std::vector<Row> items = item_rows(o);
    for (size_t k = 0; k < items.size(); ++k) {
      Row item(items[k].begin() + 1, items[k].end());  // the order id is the parent's
      if (!whole_line) {
        if (const auto kind = ChooseDirt(rng, nested_item_slots)) {
          Row full = items[k];
          dirty_item(*kind, full);
          item.assign(full.begin() + 1, full.end());
          item_dirt.push_back(*kind);
        }
      }
      if (k > 0) line.push_back(',');
      line.push_back('{');
      AppendJsonFields(line, kOrderItemsHeader.substr(kOrderItemsHeader.find(',') + 1), item,
                       std::vector<JsonType>(kItemTypes.begin() + 1, kItemTypes.end()));
      line.push_back('}');
    }
    line += "]}";
    if (last_broken) {
      file.Record(UnterminatedJsonLine(line), DirtKind::kUnterminatedQuote);
    } else if (dirt && *dirt == DirtKind::kRaggedRow) {
      file.Record(line.substr(0, line.size() / 2), DirtKind::kRaggedRow);
    } else if (dirt && *dirt == DirtKind::kDuplicateRow) {
      file.Record(line, std::nullopt);
      file.Record(line, DirtKind::kDuplicateRow);
      file.CountNestedItems(2 * items.size());
    } else {
      file.Record(line, dirt);
      file.CountNestedItems(items.size());
      for (DirtKind kind : item_dirt) file.Count(kind);
    }
  }
  return Publish(out, "orders", stamp, "ndjson", file);
}

Status BatchExporter::WriteProducts(BatchExport& out, SeededRandom& rng, const std::string& stamp,
                                    bool full) {
  std::vector<Row> rows;
  std::vector<const Product*> products;
  for (ProductState& p : products_) {
    if (!full && !p.changed) continue;
    p.changed = false;
    const Product& x = p.product;
    rows.push_back(Row{x.id, x.name, catalog_.category(x.category).name, x.subcategory, x.brand,
                       ShopCatalog::FormatCents(x.price_cents), "EUR",
                       FormatSeconds(x.created_at_us), x.active ? "true" : "false",
                       "product_" + x.id + ".png"});
    products.push_back(&x);
  }
  if (rows.empty()) return Status::Ok();
  const BatchDirtRates& d = options_.dirt;
  FileBuilder file("products", /*ndjson=*/false);
  file.Header(kProductsHeader);
  file.CsvRows(rows, rng,
               {{DirtKind::kDuplicateRow, d.duplicate_row},
                {DirtKind::kMissingPrice, d.missing_value},
                {DirtKind::kNegativeAmount, d.negative_amount},
                {DirtKind::kImpossibleDate, d.impossible_date},
                {DirtKind::kRaggedRow, d.ragged_row}},
               d.unterminated_quote, [&](DirtKind kind, Row& row) {
                 if (kind == DirtKind::kMissingPrice) row[5].clear();
                 if (kind == DirtKind::kNegativeAmount) row[5] = "-" + row[5];
                 if (kind == DirtKind::kImpossibleDate) {
                   const std::optional<int64_t> created = ParseIso8601(row[7]);
                   row[7] = ImpossibleDate(created.value_or(0), rng, /*with_time=*/true);
                 }
               });
  return Publish(out, "products", stamp, "csv", file);
}

Status BatchExporter::WriteCustomers(BatchExport& out, SeededRandom& rng, const std::string& stamp,
                                     bool full) {
  std::vector<Row> rows;
  for (CustomerState& c : customers_) {
    if (!full && !c.changed) continue;
    c.changed = false;
    rows.push_back(Row{c.customer_id, c.email, FormatSeconds(c.signup_us),
                       std::to_string(c.birth_year), c.gender, visitors_.visitor(c.visitor).country,
                       c.city, c.segment, c.marketing_opt_in ? "true" : "false"});
  }
  if (rows.empty()) return Status::Ok();
  const BatchDirtRates& d = options_.dirt;
  FileBuilder file("customers", /*ndjson=*/false);
  file.Header(kCustomersHeader);
  file.CsvRows(rows, rng,
               {{DirtKind::kDuplicateRow, d.duplicate_row},
                {DirtKind::kMessyEmail, d.messy_email},
                {DirtKind::kImpossibleDate, d.impossible_date},
                {DirtKind::kRaggedRow, d.ragged_row}},
               d.unterminated_quote, [&](DirtKind kind, Row& row) {
                 if (kind == DirtKind::kMessyEmail) row[1] = MessyEmail(row[1]);
                 if (kind == DirtKind::kImpossibleDate) {
                   const std::optional<int64_t> signup = ParseIso8601(row[2]);
                   row[2] = ImpossibleDate(signup.value_or(0), rng, /*with_time=*/false);
                 }
               });
  return Publish(out, "customers", stamp, "csv", file);
}

Status BatchExporter::Publish(BatchExport& out, const std::string& table, const std::string& stamp,
                              const std::string& extension, FileBuilder& file) {
  const std::string dir = options_.landing_dir + "/" + table;
  BASIN_RETURN_IF_ERROR(CreateDirectories(dir));
  std::string name = table + "-" + stamp + "." + extension;
  std::error_code ec;
  for (int n = 2; std::filesystem::exists(dir + "/" + name, ec); ++n) {
    name = table + "-" + stamp + "-" + std::to_string(n) + "." + extension;
  }
  // Hidden while incomplete: the sweep skips names that start with '.'.
  const std::string partial = dir + "/." + name + ".partial";
  const std::string path = dir + "/" + name;
  BASIN_RETURN_IF_ERROR(WriteFileAtomically(partial, file.text()));
  if (::rename(partial.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, "rename " + partial);
  }
  BASIN_RETURN_IF_ERROR(SyncDirectory(dir));
  ExportedFile f;
  f.table = table;
  f.path = path;
  f.format = extension;
  f.records = file.records();
  f.nested_items = file.nested_items();
  f.dirt = file.dirt();
  out.dirt += f.dirt;
  out.files.push_back(std::move(f));
  return Status::Ok();
}

double BatchExporter::interval_seconds() const {
  return options_.interval_seconds > 0 ? options_.interval_seconds : options_.day_seconds / 24;
}

Status BatchExporter::Start() {
  if (running_) return Error(ErrorCode::kAlreadyExists, "batch exporter is already running");
  if (options_.landing_dir.empty()) {
    return Error(ErrorCode::kInvalidArgument, "batch exporter: landing_dir is required");
  }
  if (!(interval_seconds() > 0)) {
    return Error(ErrorCode::kInvalidArgument, "batch exporter: the interval must be positive");
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void BatchExporter::Stop() {
  if (!running_) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  running_ = false;
}

void BatchExporter::Loop() {
  const auto interval =
      std::chrono::microseconds(static_cast<int64_t>(std::llround(interval_seconds() * 1e6)));
  while (true) {
    bool last = false;
    {
      std::unique_lock lock(mu_);
      last = cv_.wait_for(lock, interval, [&] { return stopping_; });
      // At Stop(), one more export only if there are orders nobody has written yet.
      if (last && pending_.empty()) break;
    }
    try {
      Result<BatchExport> exported = WriteExport(clock_.NowMicros());
      if (!exported.ok()) {
        BASIN_LOG(Warn, "demo") << "batch export failed: " << exported.status().ToString();
      } else {
        BASIN_LOG(Debug, "demo") << "batch export " << exported->sequence << ": "
                                 << exported->files.size() << " files, " << exported->new_orders
                                 << " new orders, dirt " << exported->dirt.ToString();
      }
    } catch (const std::exception& e) {
      BASIN_LOG(Error, "demo") << "batch export failed: " << e.what();
    }
    if (last) break;
  }
}

BatchExporterStats BatchExporter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace basin::demo
