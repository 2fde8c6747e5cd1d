#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/http_types.h"
#include "base/status.h"

namespace basin::observe {
class MetricsRegistry;
}

namespace basin::api {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;                   // 0: pick a free port (see HttpServer::port())
  int threads = 0;                        // 0: one per core
  uint64_t max_body_bytes = 10ULL << 20;  // larger bodies get 413 PayloadTooLarge before reading
  // Uploads (batch files, objects) may be larger: requests for which `is_upload(method, path)`
  // holds get this limit instead. Bodies are still read whole into memory, so it stays modest;
  // bigger files go through the landing folder or the CLI.
  uint64_t max_upload_body_bytes = 0;
  std::function<bool(std::string_view method, std::string_view path)> is_upload = nullptr;
  int idle_timeout_seconds = 60;  // keep-alive connections idle longer are closed
  std::string server_name = "basin";
  observe::MetricsRegistry* metrics = nullptr;  // optional: http request counters and latency
};

// An HTTP/1.1 server (Boost.Beast over Asio) with keep-alive. Reads each request whole (up to
// the body limit), hands it to the handler on an I/O thread, and writes the response when the
// handler's Responder is called (from any thread). Errors that happen before a handler runs
// (malformed HTTP, body too large) are answered here with Basin's JSON error body.
//
// Stop() stops accepting, lets in-flight requests finish (up to a grace period), then closes
// connections and joins the threads. Thread-safe.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();  // Stop()s

  // Binds and starts the I/O threads. IoError/InvalidArgument when the address is unusable.
  Status Start();
  uint16_t port() const;  // the bound port (after Start)
  void Stop(int grace_seconds = 10);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::api
