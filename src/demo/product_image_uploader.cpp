#include "demo/product_image_uploader.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>

#include "base/logging.h"
#include "demo/collector_client.h"

namespace basin::demo {
namespace {

// The same statuses the clickstream sender retries: outages, overload, and 404 while the
// server is still starting.
bool Retryable(int status) {
  return status == 404 || status == 408 || status == 429 || status >= 500;
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string QueryEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace

ProductImageUploader::ProductImageUploader(const ProductImages& images,
                                           ProductImageUploaderOptions options)
    : images_(images), options_(std::move(options)) {}

ProductImageUploader::~ProductImageUploader() { Stop(); }

std::string ProductImageUploader::UploadTarget(const Product& product) {
  return "/v1/objects?name=" + QueryEscape(ProductImageName(product)) +
         "&product_id=" + QueryEscape(product.id);
}

void ProductImageUploader::AddCatalog(const ShopCatalog& catalog) {
  {
    std::lock_guard lock(mu_);
    for (const Product& p : catalog.products()) queue_.push_back(p);
  }
  cv_.notify_all();
}

void ProductImageUploader::Add(const Product& product) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(product);
  }
  cv_.notify_all();
}

Status ProductImageUploader::Start() {
  if (running_) return Error(ErrorCode::kAlreadyExists, "image uploader is already running");
  if (!(options_.uploads_per_second > 0) || options_.request_timeout_ms < 1 ||
      options_.initial_backoff_ms < 1 || options_.max_backoff_ms < options_.initial_backoff_ms) {
    return Error(ErrorCode::kInvalidArgument,
                 "image uploader: rate, timeout and backoffs must be positive, max >= initial");
  }
  stopping_ = false;
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void ProductImageUploader::Stop() {
  if (!running_) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (client_ != nullptr) client_->Interrupt();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  running_ = false;
  const ProductImageUploaderStats s = stats();
  BASIN_LOG(Info, "demo") << "image uploader stopped: " << s.uploaded << " pictures uploaded, "
                          << s.pending << " not uploaded";
}

ProductImageUploaderStats ProductImageUploader::stats() const {
  ProductImageUploaderStats s;
  s.uploaded = uploaded_;
  s.photos_uploaded = photos_uploaded_;
  s.bytes_uploaded = bytes_uploaded_;
  s.failed_attempts = failed_attempts_;
  s.given_up = given_up_;
  std::lock_guard lock(mu_);
  s.pending = queue_.size() + in_flight_;
  s.last_error = last_error_;
  return s;
}

bool ProductImageUploader::WaitFor(int64_t ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_.load(); });
  return !stopping_;
}

void ProductImageUploader::Loop() {
  try {
    CollectorClient client(options_.host, options_.port, options_.request_timeout_ms);
    {
      std::lock_guard lock(mu_);
      client_ = &client;
      if (stopping_) client.Interrupt();
    }
    const auto pause_ms = static_cast<int64_t>(1000.0 / options_.uploads_per_second);
    while (true) {
      Product product;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        product = std::move(queue_.front());
        queue_.pop_front();
        ++in_flight_;
      }
      const bool uploaded = Upload(client, product);
      if (!uploaded && stopping_) {
        std::lock_guard lock(mu_);
        queue_.push_front(std::move(product));  // still owed: counted as pending
      }
      --in_flight_;
      if (!WaitFor(pause_ms)) break;
    }
    std::lock_guard lock(mu_);
    client_ = nullptr;
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mu_);
      client_ = nullptr;
    }
    RecordError(std::string("image uploader stopped: ") + e.what(), /*log=*/true);
  }
}

bool ProductImageUploader::Upload(CollectorClient& client, const Product& product) {
  const std::string target = UploadTarget(product);
  const std::string png = images_.Png(product);
  int backoff_ms = options_.initial_backoff_ms;
  for (int attempt = 1; !stopping_; ++attempt) {
    Result<HttpReply> reply = client.Post(target, "image/png", options_.user_agent, png);
    if (reply.ok() && reply->status >= 200 && reply->status < 300) {
      ++uploaded_;
      bytes_uploaded_ += png.size();
      if (images_.UsesPhoto(product)) ++photos_uploaded_;
      return true;
    }
    if (stopping_) return false;
    ++failed_attempts_;
    std::string message = reply.ok() ? "HTTP " + std::to_string(reply->status) + " for " + target +
                                           ": " + reply->body.substr(0, 200)
                                     : "uploading " + target + ": " + reply.status().ToString();
    if (reply.ok() && !Retryable(reply->status)) {
      ++given_up_;
      RecordError(message + " (not retried)", /*log=*/true);
      return false;
    }
    // Quiet for a hiccup, logged when it persists.
    RecordError(std::move(message), /*log=*/attempt == 3);
    if (!WaitFor(backoff_ms)) return false;
    backoff_ms = std::min(backoff_ms * 2, options_.max_backoff_ms);
  }
  return false;
}

void ProductImageUploader::RecordError(std::string message, bool log) {
  if (log) BASIN_LOG(Warn, "demo") << message;
  std::lock_guard lock(mu_);
  last_error_ = std::move(message);
}

}  // namespace basin::demo
