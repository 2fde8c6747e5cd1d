#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "demo/batch_export.h"
#include "demo/fashion_mnist.h"
#include "demo/product_image_uploader.h"
#include "demo/session_simulator.h"
#include "demo/shop_catalog.h"
#include "demo/traffic_generator.h"
#include "demo/visitor_population.h"

namespace basin::observe {
class MetricsRegistry;
class Counter;
class Gauge;
class Histogram;
}  // namespace basin::observe

namespace basin::demo {

class CollectorClient;

struct ShopSimulatorOptions {
  // Where the collector listens. The demo only ever talks to this machine.
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string stream = "clickstream";  // POST /v1/streams/<stream>/records

  double events_per_second = 200;  // daily average; the shop's day moves it up and down
  double day_seconds = 600;        // real seconds per simulated shop day
  double start_hour = 9;           // shop time at start

  ShopCatalogOptions catalog;
  VisitorPopulationOptions visitors;
  SessionOptions sessions;
  // Seeds session/event/order ids and per-session choices; 0 picks a fresh one per run so a
  // restarted demo never repeats event ids into a lake that already has them. The catalog and
  // visitors stay fixed by their own seeds.
  uint64_t run_seed = 0;

  int max_batch_events = 50;    // events per request, at most
  int flush_interval_ms = 200;  // a partial batch waits no longer than this
  int connections = 4;          // sender threads, one kept-alive connection each
  bool ndjson = false;          // application/x-ndjson bodies instead of a JSON array

  // Fraction of acknowledged batches sent a second time, as a client retry would, so that the
  // server's deduplication has something to do.
  double duplicate_batch_fraction = 0.005;
  // Fraction of events that are deliberately invalid (missing event_type, bad timestamp).
  double bad_event_fraction = 0.001;

  int request_timeout_ms = 5000;
  int initial_backoff_ms = 100;  // after a 503 or connection error; doubles up to the max
  int max_backoff_ms = 5000;
  int max_queued_events = 20000;  // beyond this the shop pauses rather than buffer more
  int stop_grace_ms = 1500;       // Stop() spends at most this long sending what is queued

  const Clock* clock = nullptr;                 // event timestamps; default SystemClock
  observe::MetricsRegistry* metrics = nullptr;  // optional basin_demo_* metrics
  // Called on the generator thread for each completed order (e.g. to write orders files).
  std::function<void(const PurchaseRecord&)> on_purchase;

  // The shop's back office: with batch.landing_dir set (`<data-dir>/lake/landing`), a
  // BatchExporter drops orders, order_items, products and customers files there every
  // batch.interval_seconds (0: every shop hour). Its seed comes from the run seed.
  BatchExporterOptions batch;
  // Uploads a picture of every product to /v1/objects on host:port (Fashion-MNIST photos from
  // fashion_mnist_dir when present, generated ones otherwise).
  bool upload_product_images = false;
  ProductImageUploaderOptions images;  // its host and port are replaced by the shop's
  std::string fashion_mnist_dir = std::string(kFashionMnistDir);
};

// Counters since Start(). A snapshot; the fields are consistent individually, not jointly.
struct ShopSimulatorStats {
  uint64_t events_generated = 0;        // good and bad, excluding deliberate resends
  uint64_t events_sent = 0;             // unique events posted at least once
  uint64_t events_acked = 0;            // unique events the server accepted
  uint64_t events_rejected = 0;         // events the server refused (listed in "rejected")
  uint64_t bad_events_sent = 0;         // deliberately invalid events generated
  uint64_t events_dropped = 0;          // given up on: unsendable (4xx) or still queued at Stop()
  uint64_t requests = 0;                // HTTP requests attempted
  uint64_t retries = 0;                 // re-sends of a batch after a 503/timeout/connection error
  uint64_t failed_requests = 0;         // attempts that got no 2xx
  uint64_t duplicate_batches_sent = 0;  // deliberate client-retry resends
  uint64_t duplicate_events_sent = 0;
  uint64_t sessions_started = 0;
  uint64_t active_sessions = 0;
  uint64_t sessions_dropped = 0;  // could not start: too few visitors for the rate
  uint64_t purchases = 0;
  int64_t revenue_cents_eur = 0;      // USD orders converted at the catalog's list-price rate
  int64_t newest_acked_event_ms = 0;  // max timestamp among acknowledged events
  uint64_t queued_events = 0;
  double shop_hour = 0;
  double target_events_per_second = 0;
  uint64_t consecutive_failures = 0;  // failed attempts since the last success
  bool collector_failing = false;     // several attempts in a row failed: worth showing the user
  std::string last_error;             // empty if none yet
  int64_t last_error_ms = 0;          // wall time of last_error
  BatchExporterStats batch;           // zero unless batch files are on
  ProductImageUploaderStats images;   // zero unless image uploads are on
};

// The synthetic shop behind `basin serve --demo`: visitors from a fixed population browse,
// search, cart and buy (SessionSimulator), their events fall due in real time at the configured
// rate and daily rhythm (TrafficGenerator), and are sent to the collector in batches over
// kept-alive HTTP connections with the visitor's device's User-Agent. A 503 or a connection
// error is retried with exponential backoff, resending the same batch (same event ids); a small
// fraction of acknowledged batches is resent on purpose, and a few events are invalid on
// purpose, so that deduplication and quarantine are visible.
//
// Threads: one generator (20 ms ticks) and `connections` senders, all started by Start() and
// joined by Stop(), which takes at most stop_grace_ms plus a moment. stats() is thread-safe;
// Start()/Stop() are called from one controlling thread.
class ShopSimulator {
 public:
  explicit ShopSimulator(ShopSimulatorOptions options);
  ~ShopSimulator();  // Stop()s
  ShopSimulator(const ShopSimulator&) = delete;
  ShopSimulator& operator=(const ShopSimulator&) = delete;

  // InvalidArgument for options that cannot work; AlreadyExists if running.
  Status Start();
  void Stop();
  bool running() const { return running_; }

  ShopSimulatorStats stats() const;
  const ShopCatalog& catalog() const { return catalog_; }
  const VisitorPopulation& visitors() const { return visitors_; }
  const ShopSimulatorOptions& options() const { return options_; }

 private:
  struct Batch {
    std::string user_agent;
    std::string body;
    uint64_t events = 0;
    int64_t newest_timestamp_ms = 0;
    bool deliberate_duplicate = false;
  };
  struct Metrics;
  struct Counters;

  Status ValidateOptions() const;
  // Starts the batch exporter and the image uploader, when enabled.
  Status StartBackOffice(uint64_t seed);
  void GeneratorLoop(TrafficGenerator& generator);
  void SenderLoop(size_t index, uint64_t seed);
  void Enqueue(std::shared_ptr<Batch> batch);
  // Posts until acknowledged, refused for good, or hard-stopped.
  void Deliver(CollectorClient& client, const Batch& batch, SeededRandom& rng);
  // Keeps `message` as last_error; logs it if `always_log`, or once per interval while
  // failures persist.
  void RecordError(const std::string& message, bool always_log);
  void AccountPurchase(const PurchaseRecord& purchase);

  ShopSimulatorOptions options_;
  ShopCatalog catalog_;
  VisitorPopulation visitors_;
  SessionSimulator sessions_;
  std::string target_;
  const Clock& clock_;

  std::unique_ptr<Counters> counters_;
  std::unique_ptr<Metrics> metrics_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;           // senders wait for batches; everyone for stop flags
  std::condition_variable idle_cv_;           // Stop() waits for the queue to drain
  std::deque<std::shared_ptr<Batch>> queue_;  // guarded by mu_
  int in_flight_ = 0;                         // guarded by mu_
  std::string last_error_;                    // guarded by mu_
  int64_t last_error_ms_ = 0;                 // guarded by mu_
  int64_t last_logged_error_ms_ = 0;          // guarded by mu_
  bool generator_done_ = false;               // guarded by mu_; senders may leave when empty
  std::vector<CollectorClient*> clients_;     // guarded by mu_; for Interrupt()

  // Built by Start() on the caller's thread (calibration and warm-up take a moment), so that the
  // generator thread only ever runs the loop and Stop() never waits for a set-up.
  std::unique_ptr<TrafficGenerator> generator_state_;

  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};   // generator: flush and exit; senders: drain
  std::atomic<bool> hard_stop_{false};  // senders: exit now
  std::thread generator_;
  std::vector<std::thread> senders_;

  // Built by Start() when enabled, stopped by Stop() after the generator (so the last orders
  // reach the files); kept afterwards so that stats() still reads them.
  std::unique_ptr<ProductImages> product_images_;
  std::unique_ptr<ProductImageUploader> uploader_;
  std::unique_ptr<BatchExporter> exporter_;
};

}  // namespace basin::demo
