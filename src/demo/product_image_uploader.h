#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "demo/product_images.h"
#include "demo/shop_catalog.h"

namespace basin::demo {

class CollectorClient;

struct ProductImageUploaderOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  double uploads_per_second = 4;  // gentle: the pictures trickle in beside the clickstream
  int request_timeout_ms = 10000;
  int initial_backoff_ms = 500;  // after a failed attempt; doubles up to the max
  int max_backoff_ms = 30000;
  std::string user_agent = "basin-demo-shop/1.0 (product images)";
};

// Counters since construction.
struct ProductImageUploaderStats {
  uint64_t uploaded = 0;         // pictures the server acknowledged (2xx)
  uint64_t photos_uploaded = 0;  // of which Fashion-MNIST photos
  uint64_t bytes_uploaded = 0;
  uint64_t pending = 0;          // queued, not yet acknowledged
  uint64_t failed_attempts = 0;  // attempts without a 2xx (each retried)
  uint64_t given_up = 0;         // refused for good (4xx other than 404/408/429)
  std::string last_error;
};

// Uploads one picture per product to the server's object API, once per run, in the background:
// `POST /v1/objects?name=product_<id>.png&product_id=<id>` with the PNG as the body
// (Content-Type image/png). Runs at `uploads_per_second`; a failed attempt (connection error,
// timeout, 404 while the route is not up yet, 429, 5xx) is retried with exponential backoff,
// a request refused for good is given up and logged. Stop() interrupts a request in flight and
// joins the thread; what was not uploaded by then is not.
//
// Threads: one uploader thread, started by Start() and joined by Stop() (both from one
// controlling thread). Add() and stats() are thread-safe.
class ProductImageUploader {
 public:
  ProductImageUploader(const ProductImages& images, ProductImageUploaderOptions options);
  ~ProductImageUploader();  // Stop()s
  ProductImageUploader(const ProductImageUploader&) = delete;
  ProductImageUploader& operator=(const ProductImageUploader&) = delete;

  // Queues every product of `catalog` (active or not: the products export lists them all).
  void AddCatalog(const ShopCatalog& catalog);
  // Queues one product, e.g. one the products export adds later.
  void Add(const Product& product);

  // InvalidArgument for options that cannot work; AlreadyExists if running.
  Status Start();
  void Stop();

  ProductImageUploaderStats stats() const;
  // "/v1/objects?name=product_sku-00042.png&product_id=sku-00042"
  static std::string UploadTarget(const Product& product);

 private:
  void Loop();
  // Tries until acknowledged, refused for good, or stopped. True when acknowledged.
  bool Upload(CollectorClient& client, const Product& product);
  void RecordError(std::string message, bool log);
  // Waits `ms` or until Stop(); false when stopping.
  bool WaitFor(int64_t ms);

  const ProductImages& images_;
  ProductImageUploaderOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Product> queue_;          // guarded by mu_
  CollectorClient* client_ = nullptr;  // guarded by mu_; for Interrupt()
  std::string last_error_;             // guarded by mu_

  std::atomic<uint64_t> uploaded_{0}, photos_uploaded_{0}, bytes_uploaded_{0}, failed_attempts_{0},
      given_up_{0}, in_flight_{0};
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace basin::demo
