#include "demo/shop_simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <random>

#include "base/logging.h"
#include "demo/collector_client.h"
#include "observe/metrics.h"

namespace basin::demo {
namespace {

constexpr auto kTick = std::chrono::milliseconds(20);
// After a stall (a paused process, a full queue) the shop skips ahead instead of replaying it.
constexpr double kMaxStepSeconds = 0.25;
constexpr int64_t kErrorLogIntervalMs = 30'000;
// A lone 503 is the server asking for patience, not news: retries are silent until this many
// attempts in a row have failed.
constexpr uint64_t kFailuresBeforeWarning = 3;
constexpr uint64_t kSenderSeedStream = 0x5E4D;
constexpr uint64_t kBatchSeedStream = 0xBA7C;
constexpr double kUsdPerEur = 1.08;  // the catalog's list-price conversion

// Statuses worth retrying: overload and outages, and 404 because the stream may not be
// created yet while the server is still starting.
bool Retryable(int status) {
  return status == 404 || status == 408 || status == 429 || status >= 500;
}

uint64_t FreshRunSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device() ^
         static_cast<uint64_t>(MonotonicNanos());
}

void AtomicMax(std::atomic<int64_t>& target, int64_t value) {
  int64_t current = target.load();
  while (value > current && !target.compare_exchange_weak(current, value)) {
  }
}

}  // namespace

struct ShopSimulator::Counters {
  std::atomic<uint64_t> events_generated{0}, events_sent{0}, events_acked{0}, events_rejected{0},
      bad_events_sent{0}, events_dropped{0}, requests{0}, retries{0}, failed_requests{0},
      duplicate_batches_sent{0}, duplicate_events_sent{0}, sessions_started{0}, active_sessions{0},
      sessions_dropped{0}, purchases{0}, queued_events{0}, consecutive_failures{0};
  std::atomic<int64_t> revenue_cents_eur{0}, newest_acked_event_ms{0};
  std::atomic<double> shop_hour{0}, target_rate{0};
};

struct ShopSimulator::Metrics {
  explicit Metrics(observe::MetricsRegistry& r)
      : sent(r.GetCounter("basin_demo_events_sent_total", "Demo shop events posted")),
        acked(r.GetCounter("basin_demo_events_acked_total", "Demo shop events accepted")),
        rejected(r.GetCounter("basin_demo_events_rejected_total", "Demo shop events refused")),
        retries(r.GetCounter("basin_demo_request_retries_total",
                             "Demo shop batches resent after a failure")),
        duplicates(r.GetCounter("basin_demo_duplicate_events_sent_total",
                                "Demo shop events resent on purpose to exercise dedup")),
        active_sessions(r.GetGauge("basin_demo_active_sessions", "Demo shop sessions in progress")),
        latency(r.GetHistogram("basin_demo_request_duration_seconds",
                               "Demo shop collector request latency",
                               observe::Histogram::LatencySeconds())) {}
  observe::Counter& sent;
  observe::Counter& acked;
  observe::Counter& rejected;
  observe::Counter& retries;
  observe::Counter& duplicates;
  observe::Gauge& active_sessions;
  observe::Histogram& latency;
};

ShopSimulator::ShopSimulator(ShopSimulatorOptions options)
    : options_(std::move(options)),
      catalog_(options_.catalog),
      visitors_(catalog_, options_.visitors),
      sessions_(catalog_, visitors_, options_.sessions),
      target_("/v1/streams/" + options_.stream + "/records"),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock::Instance()),
      counters_(std::make_unique<Counters>()) {
  if (options_.metrics != nullptr) metrics_ = std::make_unique<Metrics>(*options_.metrics);
}

ShopSimulator::~ShopSimulator() { Stop(); }

Status ShopSimulator::ValidateOptions() const {
  const auto& o = options_;
  auto invalid = [](std::string what) {
    return Error(ErrorCode::kInvalidArgument, "demo shop: " + std::move(what));
  };
  if (!(o.events_per_second > 0)) return invalid("events_per_second must be positive");
  if (!(o.day_seconds > 0)) return invalid("day_seconds must be positive");
  if (o.max_batch_events < 1) return invalid("max_batch_events must be at least 1");
  if (o.flush_interval_ms < 1) return invalid("flush_interval_ms must be at least 1");
  if (o.connections < 1 || o.connections > 64) return invalid("connections must be 1..64");
  if (o.duplicate_batch_fraction < 0 || o.duplicate_batch_fraction > 1) {
    return invalid("duplicate_batch_fraction must be within [0, 1]");
  }
  if (o.bad_event_fraction < 0 || o.bad_event_fraction >= 0.5) {
    return invalid("bad_event_fraction must be within [0, 0.5)");
  }
  if (o.request_timeout_ms < 1 || o.initial_backoff_ms < 1 ||
      o.max_backoff_ms < o.initial_backoff_ms) {
    return invalid("timeouts and backoffs must be positive, max >= initial");
  }
  if (o.max_queued_events < o.max_batch_events) {
    return invalid("max_queued_events must hold at least one batch");
  }
  return Status::Ok();
}

Status ShopSimulator::Start() {
  if (running_) return Error(ErrorCode::kAlreadyExists, "demo shop is already running");
  BASIN_RETURN_IF_ERROR(ValidateOptions());
  // Counters keep counting across a Stop() and a new Start(): stats() may be read at any time.
  queue_.clear();
  generator_done_ = false;
  stopping_ = false;
  hard_stop_ = false;
  const uint64_t run_seed = options_.run_seed != 0 ? options_.run_seed : FreshRunSeed();
  SeededRandom seeds(run_seed);
  TrafficOptions traffic;
  traffic.events_per_second = options_.events_per_second;
  traffic.day_seconds = options_.day_seconds;
  traffic.start_hour = options_.start_hour;
  traffic.bad_event_fraction = options_.bad_event_fraction;
  traffic.seed = seeds.Next();
  generator_state_ = std::make_unique<TrafficGenerator>(sessions_, traffic);
  // Published before the first tick so that the first status frame already shows the shop.
  counters_->shop_hour = generator_state_->shop_hour();
  counters_->target_rate = generator_state_->target_rate();
  counters_->active_sessions = generator_state_->active_sessions();
  counters_->sessions_started = generator_state_->sessions_started();
  BASIN_RETURN_IF_ERROR(StartBackOffice(seeds.Fork(kBatchSeedStream).Next()));
  running_ = true;
  generator_ = std::thread([this] { GeneratorLoop(*generator_state_); });
  for (int i = 0; i < options_.connections; ++i) {
    const uint64_t seed = seeds.Fork(kSenderSeedStream + static_cast<uint64_t>(i)).Next();
    senders_.emplace_back([this, i, seed] { SenderLoop(static_cast<size_t>(i), seed); });
  }
  BASIN_LOG(Info, "demo") << "shop simulator started: " << options_.events_per_second
                          << " events/s to " << options_.host << ":" << options_.port << target_;
  return Status::Ok();
}

void ShopSimulator::Stop() {
  if (!running_) return;
  stopping_ = true;
  work_cv_.notify_all();
  if (generator_.joinable()) generator_.join();  // it flushes its partial batches first
  {
    std::lock_guard lock(mu_);
    generator_done_ = true;
  }
  work_cv_.notify_all();

  {
    // Give the senders a moment to deliver what is queued, then cut them off.
    std::unique_lock lock(mu_);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.stop_grace_ms);
    idle_cv_.wait_until(lock, deadline, [&] { return queue_.empty() && in_flight_ == 0; });
    hard_stop_ = true;
    for (CollectorClient* client : clients_) client->Interrupt();
  }
  work_cv_.notify_all();
  for (std::thread& t : senders_) t.join();
  senders_.clear();

  uint64_t unsent = 0;
  for (const auto& batch : queue_) {
    if (!batch->deliberate_duplicate) unsent += batch->events;
  }
  queue_.clear();
  counters_->events_dropped += unsent;
  counters_->queued_events = 0;
  if (exporter_) exporter_->Stop();  // writes the orders of the last moments
  if (uploader_) uploader_->Stop();
  running_ = false;
  const ShopSimulatorStats s = stats();
  BASIN_LOG(Info, "demo") << "shop simulator stopped: " << s.events_sent << " events sent, "
                          << s.events_acked << " acknowledged, " << s.events_rejected
                          << " rejected, " << s.events_dropped << " not delivered";
}

ShopSimulatorStats ShopSimulator::stats() const {
  const Counters& c = *counters_;
  ShopSimulatorStats s;
  s.events_generated = c.events_generated;
  s.events_sent = c.events_sent;
  s.events_acked = c.events_acked;
  s.events_rejected = c.events_rejected;
  s.bad_events_sent = c.bad_events_sent;
  s.events_dropped = c.events_dropped;
  s.requests = c.requests;
  s.retries = c.retries;
  s.failed_requests = c.failed_requests;
  s.duplicate_batches_sent = c.duplicate_batches_sent;
  s.duplicate_events_sent = c.duplicate_events_sent;
  s.sessions_started = c.sessions_started;
  s.active_sessions = c.active_sessions;
  s.sessions_dropped = c.sessions_dropped;
  s.purchases = c.purchases;
  s.revenue_cents_eur = c.revenue_cents_eur;
  s.newest_acked_event_ms = c.newest_acked_event_ms;
  s.queued_events = c.queued_events;
  s.shop_hour = c.shop_hour;
  s.target_events_per_second = c.target_rate;
  s.consecutive_failures = c.consecutive_failures;
  s.collector_failing = s.consecutive_failures >= kFailuresBeforeWarning;
  {
    std::lock_guard lock(mu_);
    s.last_error = last_error_;
    s.last_error_ms = last_error_ms_;
  }
  if (exporter_) s.batch = exporter_->stats();
  if (uploader_) s.images = uploader_->stats();
  return s;
}

Status ShopSimulator::StartBackOffice(uint64_t seed) {
  exporter_.reset();
  uploader_.reset();
  if (options_.upload_product_images) {
    if (!product_images_) {
      product_images_ = std::make_unique<ProductImages>(
          ProductImages::Load(catalog_, options_.fashion_mnist_dir));
    }
    ProductImageUploaderOptions images = options_.images;
    images.host = options_.host;
    images.port = options_.port;
    uploader_ = std::make_unique<ProductImageUploader>(*product_images_, images);
    uploader_->AddCatalog(catalog_);
    BASIN_RETURN_IF_ERROR(uploader_->Start());
  }
  if (!options_.batch.landing_dir.empty()) {
    BatchExporterOptions batch = options_.batch;
    batch.seed = seed;
    batch.day_seconds = options_.day_seconds;
    if (batch.clock == nullptr) batch.clock = &clock_;
    if (uploader_) {
      ProductImageUploader* uploader = uploader_.get();
      batch.on_new_product = [uploader, also = std::move(batch.on_new_product)](const Product& p) {
        uploader->Add(p);
        if (also) also(p);
      };
    }
    exporter_ = std::make_unique<BatchExporter>(catalog_, visitors_, std::move(batch));
    Status started = exporter_->Start();
    if (!started.ok()) {
      if (uploader_) uploader_->Stop();
      return started;
    }
  }
  return Status::Ok();
}

void ShopSimulator::GeneratorLoop(TrafficGenerator& generator) {
  try {
    // Events wait in one buffer per User-Agent, since the header belongs to the whole request.
    struct Pending {
      std::vector<OutgoingEvent> events;
      int64_t first_nanos = 0;
    };
    std::map<std::string, Pending> pending;
    const int64_t flush_nanos = int64_t{options_.flush_interval_ms} * 1'000'000;
    const size_t max_batch = static_cast<size_t>(options_.max_batch_events);

    auto flush = [&](const std::string& user_agent, Pending& p, size_t count) {
      auto batch = std::make_shared<Batch>();
      batch->user_agent = user_agent;
      batch->body = options_.ndjson ? "" : "[";
      for (size_t i = 0; i < count; ++i) {
        const OutgoingEvent& e = p.events[i];
        if (!options_.ndjson && i > 0) batch->body += ',';
        batch->body += e.json;
        if (options_.ndjson) batch->body += '\n';
        batch->newest_timestamp_ms = std::max(batch->newest_timestamp_ms, e.timestamp_ms);
      }
      if (!options_.ndjson) batch->body += ']';
      batch->events = count;
      p.events.erase(p.events.begin(), p.events.begin() + static_cast<std::ptrdiff_t>(count));
      p.first_nanos = MonotonicNanos();
      Enqueue(std::move(batch));
    };

    std::vector<OutgoingEvent> out;
    std::vector<PurchaseRecord> purchases;
    int64_t last = MonotonicNanos();
    while (!stopping_) {
      {
        std::unique_lock lock(mu_);
        work_cv_.wait_for(lock, kTick, [&] { return stopping_.load(); });
      }
      const int64_t now = MonotonicNanos();
      const double dt = std::min(kMaxStepSeconds, static_cast<double>(now - last) / 1e9);
      last = now;
      // A full queue means the server is not keeping up or is down: the shop pauses rather
      // than pile up memory, and its day resumes when the queue drains.
      if (counters_->queued_events.load() < static_cast<uint64_t>(options_.max_queued_events)) {
        out.clear();
        purchases.clear();
        generator.Advance(dt, clock_.NowMillis(), out, &purchases);
        for (OutgoingEvent& e : out) {
          ++counters_->events_generated;
          if (e.bad) ++counters_->bad_events_sent;
          Pending& p = pending[visitors_.visitor(e.visitor).user_agent];
          if (p.events.empty()) p.first_nanos = now;
          p.events.push_back(std::move(e));
        }
        for (const PurchaseRecord& purchase : purchases) AccountPurchase(purchase);
      }
      counters_->shop_hour = generator.shop_hour();
      counters_->target_rate = generator.target_rate();
      counters_->sessions_started = generator.sessions_started();
      counters_->active_sessions = generator.active_sessions();
      if (generator.arrivals_dropped() > 0 &&
          counters_->sessions_dropped.exchange(generator.arrivals_dropped()) == 0) {
        BASIN_LOG(Warn, "demo") << "the shop has too few visitors for "
                                << options_.events_per_second
                                << " events/s (every visitor is busy in a session); raise "
                                   "the visitor count or lower the rate";
      }
      if (metrics_) metrics_->active_sessions.Set(static_cast<double>(generator.active_sessions()));

      for (auto& [user_agent, p] : pending) {
        while (p.events.size() >= max_batch) flush(user_agent, p, max_batch);
        if (!p.events.empty() && now - p.first_nanos >= flush_nanos) {
          flush(user_agent, p, p.events.size());
        }
      }
    }
    for (auto& [user_agent, p] : pending) {
      while (!p.events.empty()) flush(user_agent, p, std::min(max_batch, p.events.size()));
    }
  } catch (const std::exception& e) {
    RecordError(std::string("demo shop generator stopped: ") + e.what(), /*always_log=*/true);
  }
}

void ShopSimulator::AccountPurchase(const PurchaseRecord& purchase) {
  ++counters_->purchases;
  if (exporter_) exporter_->RecordPurchase(purchase);
  const double eur = purchase.currency == "USD"
                         ? static_cast<double>(purchase.total_cents) / kUsdPerEur
                         : static_cast<double>(purchase.total_cents);
  counters_->revenue_cents_eur += static_cast<int64_t>(std::llround(eur));
  if (options_.on_purchase) {
    try {
      options_.on_purchase(purchase);
    } catch (const std::exception& e) {
      RecordError(std::string("on_purchase callback failed: ") + e.what(), /*always_log=*/false);
    }
  }
}

void ShopSimulator::Enqueue(std::shared_ptr<Batch> batch) {
  counters_->queued_events += batch->events;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(batch));
  }
  work_cv_.notify_one();
}

void ShopSimulator::SenderLoop(size_t index, uint64_t seed) {
  // Undoes a registration or an in-flight count however the scope is left, so that Stop()
  // never interrupts a destroyed client nor waits for a batch nobody is sending.
  struct OnExit {
    std::function<void()> undo;
    ~OnExit() { undo(); }
  };
  try {
    CollectorClient client(options_.host, options_.port, options_.request_timeout_ms);
    SeededRandom rng(seed);
    {
      std::lock_guard lock(mu_);
      clients_.push_back(&client);
      if (hard_stop_) client.Interrupt();
    }
    OnExit unregister{[&] {
      std::lock_guard lock(mu_);
      clients_.erase(std::find(clients_.begin(), clients_.end(), &client));
    }};
    while (true) {
      std::shared_ptr<Batch> batch;
      {
        std::unique_lock lock(mu_);
        // The generator is joined before senders may leave on an empty queue, so its last
        // flush is never stranded.
        work_cv_.wait(lock, [&] { return hard_stop_ || !queue_.empty() || generator_done_; });
        if (hard_stop_ || queue_.empty()) break;
        batch = std::move(queue_.front());
        queue_.pop_front();
        ++in_flight_;
      }
      OnExit done{[&] {
        {
          std::lock_guard lock(mu_);
          --in_flight_;
        }
        idle_cv_.notify_all();
      }};
      counters_->queued_events -= batch->events;
      Deliver(client, *batch, rng);
    }
  } catch (const std::exception& e) {
    RecordError("demo shop sender " + std::to_string(index) + " stopped: " + e.what(),
                /*always_log=*/true);
  }
}

void ShopSimulator::Deliver(CollectorClient& client, const Batch& batch, SeededRandom& rng) {
  Counters& c = *counters_;
  const std::string_view content_type =
      options_.ndjson ? "application/x-ndjson" : "application/json";
  int backoff_ms = options_.initial_backoff_ms;
  for (bool first_attempt = true;; first_attempt = false) {
    if (hard_stop_) {
      if (!batch.deliberate_duplicate) c.events_dropped += batch.events;
      return;
    }
    if (first_attempt) {
      if (batch.deliberate_duplicate) {
        ++c.duplicate_batches_sent;
        c.duplicate_events_sent += batch.events;
        if (metrics_) metrics_->duplicates.Increment(batch.events);
      } else {
        c.events_sent += batch.events;
        if (metrics_) metrics_->sent.Increment(batch.events);
      }
    } else {
      ++c.retries;
      if (metrics_) metrics_->retries.Increment();
    }
    ++c.requests;
    const int64_t started = MonotonicNanos();
    Result<HttpReply> reply = client.Post(target_, content_type, batch.user_agent, batch.body);
    if (metrics_) {
      metrics_->latency.Observe(static_cast<double>(MonotonicNanos() - started) / 1e9);
    }

    if (reply.ok() && reply->status >= 200 && reply->status < 300) {
      const uint64_t failures = c.consecutive_failures.exchange(0);
      if (failures >= kFailuresBeforeWarning) {
        BASIN_LOG(Info, "demo") << "collector reachable again after " << failures
                                << " failed attempts";
      }
      if (batch.deliberate_duplicate) return;
      Result<IngestReply> parsed = ParseIngestReply(reply->body);
      uint64_t accepted = batch.events, rejected = 0;
      if (parsed.ok()) {
        accepted = static_cast<uint64_t>(
            std::clamp<int64_t>(parsed->accepted, 0, static_cast<int64_t>(batch.events)));
        rejected = std::min<uint64_t>(parsed->rejected.size(), batch.events - accepted);
      } else {
        RecordError("unreadable collector reply: " + parsed.status().ToString(),
                    /*always_log=*/false);
      }
      c.events_acked += accepted;
      c.events_rejected += rejected;
      if (metrics_) {
        metrics_->acked.Increment(accepted);
        metrics_->rejected.Increment(rejected);
      }
      if (accepted > 0) AtomicMax(c.newest_acked_event_ms, batch.newest_timestamp_ms);
      // Now and then, send the acknowledged batch again as a client that missed the reply
      // would: the server must count these events once.
      if (!stopping_ && rng.Chance(options_.duplicate_batch_fraction)) {
        auto copy = std::make_shared<Batch>(batch);
        copy->deliberate_duplicate = true;
        Enqueue(std::move(copy));
      }
      return;
    }

    if (hard_stop_) continue;  // interrupted: account for the batch above
    ++c.failed_requests;
    ++c.consecutive_failures;
    if (reply.ok()) {
      std::string message = "HTTP " + std::to_string(reply->status) + " from collector";
      if (!reply->body.empty()) message += ": " + reply->body.substr(0, 200);
      if (!Retryable(reply->status)) {
        // The request itself is wrong; sending it again cannot help.
        RecordError(message + " (batch dropped)", /*always_log=*/true);
        if (!batch.deliberate_duplicate) c.events_dropped += batch.events;
        return;
      }
      RecordError(message, c.consecutive_failures.load() == kFailuresBeforeWarning);
    } else {
      RecordError(reply.status().ToString(),
                  c.consecutive_failures.load() == kFailuresBeforeWarning);
    }
    // Exponential backoff with jitter, so that senders do not retry in lockstep.
    const auto wait =
        std::chrono::milliseconds(static_cast<int64_t>(backoff_ms * rng.UniformBetween(0.5, 1.5)));
    {
      std::unique_lock lock(mu_);
      work_cv_.wait_for(lock, wait, [&] { return hard_stop_.load(); });
    }
    backoff_ms = std::min(backoff_ms * 2, options_.max_backoff_ms);
  }
}

void ShopSimulator::RecordError(const std::string& message, bool always_log) {
  const int64_t now_ms = clock_.NowMillis();
  bool log = always_log;
  {
    std::lock_guard lock(mu_);
    // Besides the lines asked for, a persisting problem is logged once per interval.
    const bool persisting = counters_->consecutive_failures.load() >= kFailuresBeforeWarning;
    log |= persisting && now_ms - last_logged_error_ms_ >= kErrorLogIntervalMs;
    if (log) last_logged_error_ms_ = now_ms;
    last_error_ = message;
    last_error_ms_ = now_ms;
  }
  if (log) BASIN_LOG(Warn, "demo") << message;
}

}  // namespace basin::demo
