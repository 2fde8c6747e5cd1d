#include "demo/collector_client.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <exception>
#include <optional>

#include "demo/json_value.h"

namespace basin::demo {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr uint64_t kMaxReplyBytes = 1 << 20;

bool IsClosedByPeer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

}  // namespace

Result<IngestReply> ParseIngestReply(std::string_view body) {
  BASIN_ASSIGN_OR_RETURN(JsonValue doc, JsonValue::Parse(body));
  if (!doc.is_object()) return Error(ErrorCode::kValidationFailed, "reply is not an object");
  const JsonValue* accepted = doc.Find("accepted");
  if (accepted == nullptr || !accepted->is_number()) {
    return Error(ErrorCode::kValidationFailed, "reply has no numeric 'accepted'");
  }
  IngestReply reply;
  reply.accepted = static_cast<int64_t>(std::llround(accepted->number()));
  if (const JsonValue* rejected = doc.Find("rejected"); rejected != nullptr) {
    if (!rejected->is_array()) {
      return Error(ErrorCode::kValidationFailed, "reply's 'rejected' is not an array");
    }
    for (const JsonValue& item : rejected->items()) {
      RejectedRecord r;
      if (const JsonValue* v = item.Find("index"); v && v->is_number()) {
        r.index = static_cast<int64_t>(std::llround(v->number()));
      }
      if (const JsonValue* v = item.Find("code"); v && v->is_string()) r.code = v->string();
      if (const JsonValue* v = item.Find("reason"); v && v->is_string()) r.reason = v->string();
      reply.rejected.push_back(std::move(r));
    }
  }
  return reply;
}

struct CollectorClient::Impl {
  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc{1};
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::atomic<bool> interrupted{false};

  void Close() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->close();
      // Let the aborted handlers run so nothing refers to a finished request.
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(100));
      stream.reset();
    }
    buffer.clear();
  }

  // Runs the io_context until `done` is set by a completion handler. The stream's expiry bounds
  // every operation; Interrupt() stops the context early, and then the socket is closed.
  Status Run(const bool& done) {
    ioc.restart();
    if (interrupted.load()) {
      Close();
      return Error(ErrorCode::kShuttingDown, "collector client interrupted");
    }
    ioc.run();
    if (!done) {
      Close();
      return Error(ErrorCode::kShuttingDown, "collector client interrupted");
    }
    return Status::Ok();
  }

  Status Connect() {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Error(ErrorCode::kUnavailable, "resolving " + host + ": " + ec.message());
    stream.emplace(ioc);
    stream->expires_after(timeout);
    bool done = false;
    stream->async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    BASIN_RETURN_IF_ERROR(Run(done));
    if (ec) {
      Close();
      return Error(ErrorCode::kUnavailable,
                   "connecting to " + host + ":" + std::to_string(port) + ": " + ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    return Status::Ok();
  }

  // One exchange on the open connection. `*stale` tells the caller that the connection was
  // found closed or reset before any byte of a reply arrived: a kept-alive connection the server
  // had already given up on.
  Result<HttpReply> Exchange(const http::request<http::string_body>& request, bool* stale) {
    *stale = false;
    beast::error_code ec;
    bool done = false;
    stream->expires_after(timeout);
    http::async_write(*stream, request, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    BASIN_RETURN_IF_ERROR(Run(done));
    if (ec) {
      *stale = IsClosedByPeer(ec);
      Close();
      return Error(ErrorCode::kUnavailable, "sending request: " + ec.message());
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxReplyBytes);
    done = false;
    stream->expires_after(timeout);
    http::async_read(*stream, buffer, parser, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    BASIN_RETURN_IF_ERROR(Run(done));
    if (ec) {
      *stale = IsClosedByPeer(ec) && !parser.got_some() && buffer.size() == 0;
      Close();
      const std::string what = ec == beast::error::timeout
                                   ? "no reply within " + std::to_string(timeout.count()) + " ms"
                                   : ec.message();
      return Error(ErrorCode::kUnavailable, "reading reply: " + what);
    }
    auto response = parser.release();
    HttpReply reply;
    reply.status = static_cast<int>(response.result_int());
    reply.body = std::move(response.body());
    if (!response.keep_alive()) Close();
    return reply;
  }
};

CollectorClient::CollectorClient(std::string host, uint16_t port, int timeout_ms)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = std::chrono::milliseconds(timeout_ms);
}

CollectorClient::~CollectorClient() { impl_->Close(); }

void CollectorClient::Interrupt() {
  impl_->interrupted.store(true);
  impl_->ioc.stop();
}

Result<HttpReply> CollectorClient::Post(std::string_view target, std::string_view content_type,
                                        std::string_view user_agent, std::string body) {
  try {
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
    request.set(http::field::user_agent, user_agent);
    request.set(http::field::content_type, content_type);
    request.set(http::field::accept, "application/json");
    request.keep_alive(true);
    request.body() = std::move(body);
    request.prepare_payload();

    for (int attempt = 0;; ++attempt) {
      const bool reused = impl_->stream.has_value();
      if (!reused) BASIN_RETURN_IF_ERROR(impl_->Connect());
      bool stale = false;
      Result<HttpReply> reply = impl_->Exchange(request, &stale);
      // A server may close an idle kept-alive connection just as we reuse it; that is not a
      // failure of the server, so reconnect once without reporting it.
      if (!reply.ok() && reused && stale && attempt == 0) continue;
      return reply;
    }
  } catch (const std::exception& e) {
    impl_->Close();
    return Error(ErrorCode::kInternal, std::string("collector client: ") + e.what());
  }
}

}  // namespace basin::demo
