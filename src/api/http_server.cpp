#include "api/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/error_response.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/logging.h"
#include "observe/metrics.h"

namespace basin::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Big enough for SigV4 authorization and long presigned targets, small enough to bound memory.
constexpr uint32_t kHeaderLimit = 64 * 1024;
// After an error answer with request bytes still unread, the socket is drained for a while before
// closing: closing with unread input sends RST, which can discard the error answer at the client.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 4 << 20;
constexpr size_t kLingerReadSize = 16 * 1024;
// Read sizes for request bodies: the rest of a Content-Length body up to kMaxReadBytes at a time;
// chunked bodies (length unknown) kChunkedReadBytes.
constexpr uint64_t kMaxReadBytes = 64 * 1024;
constexpr uint64_t kChunkedReadBytes = 16 * 1024;
// How long Stop() lets the I/O threads close the remaining connections after the grace period.
constexpr auto kCloseWait = std::chrono::seconds(1);
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// The methods that get their own label value; anything else counts as OTHER, so that clients
// cannot create unbounded metric series by inventing methods.
constexpr std::array<std::string_view, 8> kMethodLabels = {"GET",  "POST",  "PUT",     "DELETE",
                                                           "HEAD", "PATCH", "OPTIONS", "OTHER"};
constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 599;

int MethodLabelOf(http::verb verb) {
  switch (verb) {
    case http::verb::get: return 0;
    case http::verb::post: return 1;
    case http::verb::put: return 2;
    case http::verb::delete_: return 3;
    case http::verb::head: return 4;
    case http::verb::patch: return 5;
    case http::verb::options: return 6;
    default: return 7;
  }
}

// Header names and values that would break the framing of the response (response splitting).
bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

class Session;

// State shared by the server, its sessions and outstanding responders. Responders hold it by
// shared_ptr, so a handler that answers after the server stopped touches live memory (and its
// answer is dropped). Members used by sessions are declared before `ioc`: sessions still queued
// in the io_context are destroyed with it and unregister themselves here.
struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(HttpServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}

  void StartAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  observe::Counter* RequestCounter(int method_label, int status);
  void RecordRequest(int method_label, int status, int64_t start_nanos);

  const HttpServerOptions options;
  const Handler handler;

  std::mutex mu;
  std::condition_variable cv;  // in_flight or open_connections reached 0 while stopping
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mu
  // Requests handed to the handler and not yet answered on the wire; Stop() waits for 0.
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> open_connections{0};
  std::atomic<bool> stopping{false};  // finish in-flight requests, read no new ones
  std::atomic<bool> closed{false};    // the I/O threads are gone: answers are dropped
  std::atomic<uint16_t> port{0};

  // Metrics; the request counters are looked up once per (method, status) and kept, so the hot
  // path neither locks the registry nor builds label maps.
  std::array<std::array<std::atomic<observe::Counter*>, kMaxStatus - kMinStatus + 1>,
             kMethodLabels.size()>
      request_counters{};
  observe::Histogram* latency = nullptr;
  observe::Gauge* connections = nullptr;

  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer accept_retry{acceptor.get_executor()};
};

// The session whose handler is running on this thread; a Responder called synchronously from
// inside the handler hands its answer straight to the session instead of posting it.
thread_local Session* tls_handling_session = nullptr;

// One connection: reads requests one at a time (pipelined requests wait in the buffer, so they
// are answered in order), calls the handler, writes the answer, repeats while keep-alive. All of
// its methods run on its strand, except the constructor, the destructor and Stop()'s last
// ForceClose (once the I/O threads are joined).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore* core, tcp::socket socket)
      : core_(core), socket_(std::move(socket)), idle_timer_(socket_.get_executor()) {
    beast::error_code ec;
    tcp::endpoint peer = socket_.remote_endpoint(ec);
    if (!ec) request_.remote_ip = peer.address().to_string();
    core_->open_connections.fetch_add(1);
    if (core_->connections != nullptr) core_->connections->Add(1);
  }

  ~Session() {
    LeaveInFlight();
    CountClosed();  // the socket closes with the stream
    std::lock_guard lock(core_->mu);
    core_->sessions.erase(this);
  }

  void Start() {
    {
      std::lock_guard lock(core_->mu);
      core_->sessions.emplace(this, weak_from_this());
    }
    // Start on the strand: the handlers of this session must never run concurrently.
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->Touch();
      self->ArmIdleTimer(self->IdleTimeout());
      self->DoRead();
    });
  }

  asio::any_io_executor executor() { return socket_.get_executor(); }

  // An answer from the handler, on the strand.
  void Deliver(HttpResponse response) {
    if (state_ != State::kHandling) return;  // the connection was closed meanwhile
    WriteResponse(std::move(response));
  }

  // The handler answered synchronously on this thread while it was still running.
  void StashSyncResponse(HttpResponse response) { sync_response_ = std::move(response); }

  // Stop(): connections waiting for a request are closed now; those with a request in flight
  // finish it (and then close, since `stopping` is set).
  void CloseIfIdle() {
    if (state_ == State::kReading || state_ == State::kLingering) Close();
  }

  // Stop() after the grace period, on the strand; or after the I/O threads are joined, when
  // nothing else touches the session.
  void ForceClose() { Close(); }

 private:
  enum class State { kReading, kHandling, kWriting, kLingering, kClosed };

  std::chrono::steady_clock::duration IdleTimeout() const {
    return std::chrono::seconds(std::max(1, core_->options.idle_timeout_seconds));
  }

  // Timeouts: one timer per connection, re-armed only when it fires, and a timestamp of the last
  // progress that every step updates. Arming a timer around each read and write (as
  // beast::tcp_stream does) costs timerfd system calls on every request.
  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }

  void ArmIdleTimer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait(beast::bind_front_handler(&Session::OnIdleTimer, shared_from_this()));
  }

  void OnIdleTimer(beast::error_code ec) {
    if (ec || state_ == State::kClosed) return;  // cancelled: closed, or re-armed elsewhere
    if (state_ == State::kHandling) {
      // The time a handler takes is not idleness; the write that follows gets its own period.
      ArmIdleTimer(IdleTimeout());
      return;
    }
    // Waiting for the next request (or its body), for the client to take the answer, or to
    // finish draining after an error.
    const auto limit = state_ == State::kLingering ? kLingerTimeout : IdleTimeout();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_activity_ >= limit) {
      Close();
      return;
    }
    ArmIdleTimer(last_activity_ + limit - now);
  }

  void DoRead() {
    if (state_ == State::kClosed) return;
    state_ = State::kReading;
    if (core_->stopping.load()) {
      // Accepted while Stop() ran (after its sweep over the sessions): no new requests.
      Close();
      return;
    }
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The header read checks Content-Length against this; OnHeader narrows it per request.
    body_limit_ = std::max(core_->options.max_body_bytes, core_->options.max_upload_body_bytes);
    parser_->body_limit(body_limit_);
    Touch();
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (state_ == State::kClosed) return;
    Touch();
    start_nanos_ = MonotonicNanos();
    if (ec) {
      OnReadError(ec);
      return;
    }
    {
      const auto& header = parser_->get();
      const bool upload = core_->options.is_upload &&
                          core_->options.is_upload(std::string_view(header.method_string()),
                                                   RawPathOf(std::string_view(header.target())));
      body_limit_ = upload ? core_->options.max_upload_body_bytes : core_->options.max_body_bytes;
      if (parser_->content_length().value_or(0) > body_limit_) {
        OnReadError(http::error::body_limit);
        return;
      }
      parser_->body_limit(body_limit_);
    }
    // A small body usually arrives with its header and is already buffered: parse it here
    // rather than through one more asynchronous read (a post through the strand).
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) {
        OnReadError(ec);
        return;
      }
      if (used == 0) break;
    }
    // Clients that ask (the aws CLI does) wait for this before sending the body. A Content-Length
    // over the limit never gets here: the header read already failed with body_limit.
    const auto& message = parser_->get();
    const bool expects_continue =
        message.version() >= 11 && beast::iequals(message[http::field::expect], "100-continue");
    if (parser_->is_done()) {
      if (expects_continue) {
        // Sent even when the body is already complete (Content-Length: 0, or sent with the
        // header): botocore, answered with a final status instead, keeps that status line for
        // the connection's next 100-continue request and misreads that answer (after an empty
        // file, `aws s3 sync` fails a later part upload on the same connection).
        asio::async_write(
            socket_, asio::const_buffer(kContinue.data(), kContinue.size()),
            beast::bind_front_handler(&Session::OnContinueBeforeHandling, shared_from_this()));
        return;
      }
      HandleRequest();
      return;
    }
    if (expects_continue) {
      asio::async_write(socket_, asio::const_buffer(kContinue.data(), kContinue.size()),
                        beast::bind_front_handler(&Session::OnContinueWritten, shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueBeforeHandling(beast::error_code ec, size_t) {
    if (state_ == State::kClosed) return;
    if (ec) {
      Close();
      return;
    }
    HandleRequest();
  }

  void OnContinueWritten(beast::error_code ec, size_t) {
    if (state_ == State::kClosed) return;
    if (ec) {
      Close();
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // Beast sizes each read by the buffer's spare capacity (at least 512 bytes): without room
    // made here, an 18 KB body takes ~36 recv calls. Only connections that upload get the room.
    const uint64_t expected = parser_->content_length_remaining().value_or(kChunkedReadBytes);
    buffer_.reserve(buffer_.size() +
                    static_cast<size_t>(std::min<uint64_t>(expected, kMaxReadBytes)));
    Touch();
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (state_ == State::kClosed) return;
    if (ec) {
      OnReadError(ec);
      return;
    }
    HandleRequest();
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      FailRequest(Error(ErrorCode::kPayloadTooLarge,
                        "request body exceeds " + std::to_string(body_limit_) + " bytes"));
    } else if (ec == http::error::header_limit) {
      FailRequest(Error(ErrorCode::kMalformedBody,
                        "request header exceeds " + std::to_string(kHeaderLimit) + " bytes"));
    } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
      FailRequest(Error(ErrorCode::kMalformedBody, "malformed HTTP request: " + ec.message()));
    } else {
      // The peer closed or reset, the idle timeout passed, or we are closing: nothing to answer.
      Close();
    }
  }

  // Answers an error found before any handler ran, then closes: the input may be unreadable (or
  // a body is still on its way), so the connection cannot carry another request.
  void FailRequest(const Status& status) {
    method_label_ = MethodLabelOf(parser_->get().method());
    head_request_ = false;
    keep_alive_ = false;
    version_ = 11;
    linger_ = true;
    state_ = State::kHandling;
    WriteResponse(ErrorResponse(status));
  }

  void HandleRequest() {
    auto& message = parser_->get();
    method_label_ = MethodLabelOf(message.method());
    head_request_ = message.method() == http::verb::head;
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    linger_ = false;
    state_ = State::kHandling;

    // Fill the request in place: its strings keep their capacity from one request to the next.
    request_.method.assign(message.method_string());
    request_.target.assign(message.target());
    std::optional<std::string> path = PercentDecode(RawPathOf(request_.target));
    const size_t question = request_.target.find('?');
    auto query = ParseQueryString(question == std::string::npos
                                      ? std::string_view()
                                      : std::string_view(request_.target).substr(question + 1));
    if (!path || !query) {
      parser_.reset();
      WriteResponse(ErrorResponse(
          Error(ErrorCode::kInvalidArgument, "malformed percent-encoding in the request target")));
      return;
    }
    request_.path = std::move(*path);
    request_.query = std::move(*query);
    request_.path_params.clear();
    request_.headers.clear();
    for (const auto& field : message) {
      request_.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    request_.body = std::move(message.body());
    request_.keep_alive = keep_alive_;
    parser_.reset();

    EnterInFlight();
    auto pending = std::make_shared<PendingResponse>(core_->shared_from_this(), shared_from_this());
    tls_handling_session = this;
    try {
      core_->handler(request_,
                     [pending](HttpResponse response) { pending->Respond(std::move(response)); });
    } catch (const std::exception& e) {
      BASIN_LOG(Error, "api") << "handler for " << request_.method << " " << request_.target
                              << " threw: " << e.what();
      if (pending->Claim()) {
        StashSyncResponse(ErrorResponse(Error(ErrorCode::kInternal, "internal error")));
      }
    } catch (...) {
      BASIN_LOG(Error, "api") << "handler for " << request_.method << " " << request_.target
                              << " threw a non-exception";
      if (pending->Claim()) {
        StashSyncResponse(ErrorResponse(Error(ErrorCode::kInternal, "internal error")));
      }
    }
    // If the handler kept no copy of the responder and did not answer, this answers 500 (into
    // sync_response_, as the session is still marked as handling on this thread).
    pending.reset();
    tls_handling_session = nullptr;
    if (sync_response_) {
      HttpResponse response = std::move(*sync_response_);
      sync_response_.reset();
      WriteResponse(std::move(response));
    }
    // Otherwise the answer comes later, posted to this strand by Deliver().
  }

  void WriteResponse(HttpResponse response) {
    bool close = !keep_alive_ || linger_ || core_->stopping.load();
    try {
      BuildResponse(std::move(response), close);
    } catch (const std::exception& e) {
      // Beast rejects some malformed fields (e.g. oversized); answer a plain 500 instead.
      BASIN_LOG(Error, "api") << "cannot serialize the response: " << e.what();
      BuildResponse(ErrorResponse(Error(ErrorCode::kInternal, "internal error")), close);
    }
    close_after_write_ = close;
    state_ = State::kWriting;
    Touch();
    http::async_write(socket_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void BuildResponse(HttpResponse response, bool& close) {
    if (response.status < 200 || response.status > kMaxStatus) {
      BASIN_LOG(Error, "api") << "handler answered with invalid status " << response.status;
      response = ErrorResponse(Error(ErrorCode::kInternal, "internal error"));
    }
    response_.clear();
    response_.result(static_cast<unsigned>(response.status));
    response_.version(version_ == 10 ? 10 : 11);
    response_.set(http::field::server, core_->options.server_name);
    if (!response.content_type.empty()) {
      response_.set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) {
        BASIN_LOG(Error, "api") << "dropping a response header with a line break: " << name;
        continue;
      }
      // The server owns the framing headers.
      if (beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding")) {
        continue;
      }
      if (beast::iequals(name, "Connection")) {
        if (beast::iequals(value, "close")) close = true;
        continue;
      }
      response_.insert(name, value);
    }
    response_.keep_alive(!close);
    if (response.status == 204 || response.status == 304) {
      // No body and no Content-Length (RFC 9110 8.6), whatever the handler put there.
      response_.body().clear();
    } else {
      response_.body() = std::move(response.body);
      response_.prepare_payload();
    }
    // HEAD: the Content-Length of the body that a GET would get, but no body. A handler that
    // does not build that body (S3 HeadObject) states its length in a Content-Length header.
    if (head_request_) {
      response_.body().clear();
      for (const auto& [name, value] : response.headers) {
        uint64_t length = 0;
        if (!beast::iequals(name, "Content-Length")) continue;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
        if (ec == std::errc() && end == value.data() + value.size()) {
          response_.content_length(length);
        }
      }
    }
    status_ = response.status;
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (state_ == State::kClosed) return;
    core_->RecordRequest(method_label_, status_, start_nanos_);
    const bool keep = !ec && !close_after_write_ && !core_->stopping.load();
    if (keep) {
      LeaveInFlight();
      DoRead();
    } else if (!ec && linger_) {
      LingeringClose();
      LeaveInFlight();
    } else {
      Close();  // leaves in-flight after the close, so Stop() sees the connection done
    }
  }

  void LingeringClose() {
    state_ = State::kLingering;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.consume(buffer_.size());
    drained_ = 0;
    Touch();
    ArmIdleTimer(kLingerTimeout);  // cancels the wait for the longer idle timeout
    DoDrain();
  }

  void DoDrain() {
    socket_.async_read_some(buffer_.prepare(kLingerReadSize),
                            beast::bind_front_handler(&Session::OnDrain, shared_from_this()));
  }

  void OnDrain(beast::error_code ec, size_t n) {
    if (state_ != State::kLingering) return;
    drained_ += n;
    if (ec || drained_ > kLingerMaxBytes) {
      Close();
      return;
    }
    DoDrain();
  }

  void Close() {
    if (state_ != State::kClosed) {
      state_ = State::kClosed;
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      socket_.close(ignored);
      idle_timer_.cancel();
      CountClosed();
    }
    LeaveInFlight();
  }

  void CountClosed() {
    if (!open_) return;
    open_ = false;
    if (core_->connections != nullptr) core_->connections->Add(-1);
    if (core_->open_connections.fetch_sub(1) == 1 && core_->stopping.load()) {
      std::lock_guard lock(core_->mu);
      core_->cv.notify_all();
    }
  }

  void EnterInFlight() {
    in_flight_ = true;
    core_->in_flight.fetch_add(1);
  }

  void LeaveInFlight() {
    if (!in_flight_) return;
    in_flight_ = false;
    // seq_cst on both sides (here and in Stop) so that either Stop sees the decrement or this
    // sees `stopping` and wakes it.
    if (core_->in_flight.fetch_sub(1) == 1 && core_->stopping.load()) {
      std::lock_guard lock(core_->mu);
      core_->cv.notify_all();
    }
  }

  // One request's answer slot; the Responder given to the handler wraps it. The first answer
  // goes through, later ones are logged and dropped; if every copy of the Responder is dropped
  // without an answer, the client gets a 500 instead of a connection that hangs.
  class PendingResponse {
   public:
    PendingResponse(std::shared_ptr<ServerCore> core, std::shared_ptr<Session> session)
        : core_(std::move(core)), session_(std::move(session)) {}
    ~PendingResponse() {
      if (Claim()) {
        BASIN_LOG(Error, "api") << "a handler dropped its responder without answering";
        Route(ErrorResponse(Error(ErrorCode::kInternal, "internal error")));
      }
    }
    void Respond(HttpResponse response) {
      if (!Claim()) {
        BASIN_LOG(Error, "api") << "a responder was called more than once; answer dropped";
        return;
      }
      Route(std::move(response));
    }
    bool Claim() { return !answered_.exchange(true); }

   private:
    void Route(HttpResponse response) {
      if (tls_handling_session == session_.get()) {
        session_->StashSyncResponse(std::move(response));
        return;
      }
      if (core_->closed.load()) return;
      asio::post(session_->executor(),
                 [session = session_, response = std::move(response)]() mutable {
                   session->Deliver(std::move(response));
                 });
    }

    // Declared first so it is destroyed last: the session's destructor uses the core.
    std::shared_ptr<ServerCore> core_;
    std::shared_ptr<Session> session_;
    std::atomic<bool> answered_{false};
  };

  ServerCore* core_;
  tcp::socket socket_;
  asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;  // valid for the handler until it answers
  http::response<http::string_body> response_;
  std::optional<HttpResponse> sync_response_;
  State state_ = State::kReading;
  bool open_ = true;  // counted in open_connections
  bool in_flight_ = false;
  bool close_after_write_ = false;
  bool linger_ = false;
  bool keep_alive_ = true;
  bool head_request_ = false;
  unsigned version_ = 11;
  int method_label_ = 0;
  int status_ = 200;
  int64_t start_nanos_ = 0;
  uint64_t body_limit_ = 0;  // of the request being read
  size_t drained_ = 0;
};

// Handlers queued in `ioc` refer to the core by raw pointer: the core owns the io_context, so it
// outlives them, and a shared_ptr there would be a cycle that leaks when Stop() abandons them.
void ServerCore::StartAccept() {
  acceptor.async_accept(asio::make_strand(ioc),
                        beast::bind_front_handler(&ServerCore::OnAccept, this));
}

void ServerCore::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    // Usually out of file descriptors: back off instead of spinning on the error.
    BASIN_LOG(Warn, "api") << "accept failed: " << ec.message();
    accept_retry.expires_after(std::chrono::milliseconds(50));
    accept_retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open()) StartAccept();
    });
    return;
  }
  if (stopping.load()) return;  // the socket closes as it goes out of scope
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Session>(this, std::move(socket))->Start();
  StartAccept();
}

observe::Counter* ServerCore::RequestCounter(int method_label, int status) {
  std::atomic<observe::Counter*>& slot = request_counters[method_label][status - kMinStatus];
  observe::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Two threads may race here; the registry hands both the same counter.
    counter = &options.metrics->GetCounter(
        "basin_http_requests_total", "HTTP requests answered, by method and status",
        {{"method", std::string(kMethodLabels[method_label])}, {"status", std::to_string(status)}});
    slot.store(counter, std::memory_order_release);
  }
  return counter;
}

void ServerCore::RecordRequest(int method_label, int status, int64_t start_nanos) {
  if (options.metrics == nullptr) return;
  RequestCounter(method_label, std::clamp(status, kMinStatus, kMaxStatus))->Increment();
  latency->Observe(static_cast<double>(MonotonicNanos() - start_nanos) * 1e-9);
}

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<ServerCore> core;
  std::vector<std::thread> threads;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler) : impl_(new Impl) {
  impl_->core = std::make_shared<ServerCore>(std::move(options), std::move(handler));
}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->core->port.load(); }

Status HttpServer::Start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started || impl_->stopped) {
    return Error(ErrorCode::kInvalidArgument, "the HTTP server was already started");
  }
  ServerCore& core = *impl_->core;
  const HttpServerOptions& options = core.options;
  BASIN_CHECK(core.handler != nullptr);

  beast::error_code ec;
  tcp::endpoint endpoint;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(core.ioc);
    auto results = resolver.resolve(options.address, std::to_string(options.port), ec);
    if (ec || results.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "cannot resolve listen address '" + options.address + "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  const std::string where = options.address + ":" + std::to_string(options.port);
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    core.acceptor.close(ignored);
    return Error(ErrorCode::kIoError, std::string(what) + " " + where + ": " + ec.message());
  };
  if (core.acceptor.open(endpoint.protocol(), ec)) return fail("opening a socket for");
  if (core.acceptor.set_option(asio::socket_base::reuse_address(true), ec)) {
    return fail("setting SO_REUSEADDR on");
  }
  if (core.acceptor.bind(endpoint, ec)) return fail("binding");
  if (core.acceptor.listen(asio::socket_base::max_listen_connections, ec))
    return fail("listening on");
  core.port = core.acceptor.local_endpoint(ec).port();

  if (options.metrics != nullptr) {
    core.latency = &options.metrics->GetHistogram(
        "basin_http_request_seconds",
        "HTTP request latency, from the end of the request header to the answer written",
        observe::Histogram::LatencySeconds());
    core.connections =
        &options.metrics->GetGauge("basin_http_connections", "Open HTTP connections");
  }

  // Keeps run() from returning while Stop() waits for in-flight answers with nothing else to do.
  impl_->work.emplace(asio::make_work_guard(core.ioc));
  core.StartAccept();
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  for (int i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([core = impl_->core] {
      while (true) {
        try {
          core->ioc.run();
          return;
        } catch (const std::exception& e) {
          // The catch-all of the thread: log and keep serving.
          BASIN_LOG(Error, "api") << "I/O thread caught: " << e.what();
        }
      }
    });
  }
  impl_->started = true;
  BASIN_LOG(Info, "api") << "listening on " << endpoint.address().to_string() << ":"
                         << core.port.load();
  return Status::Ok();
}

void HttpServer::Stop(int grace_seconds) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  for (const std::thread& t : impl_->threads) {
    // Joining from an I/O thread would wait for itself.
    BASIN_CHECK(t.get_id() != std::this_thread::get_id());
  }
  const std::shared_ptr<ServerCore>& core = impl_->core;

  // 1. No new connections, no new requests.
  core->stopping = true;
  asio::post(core->acceptor.get_executor(), [raw = core.get()] {
    beast::error_code ignored;
    raw->acceptor.close(ignored);
    raw->accept_retry.cancel();
  });
  std::vector<std::shared_ptr<Session>> sessions;
  auto snapshot = [&] {
    std::lock_guard sessions_lock(core->mu);
    for (auto& [raw, weak] : core->sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  };
  snapshot();
  for (auto& session : sessions) {
    asio::post(session->executor(), [session] { session->CloseIfIdle(); });
  }
  sessions.clear();

  // 2. Let handlers that are still working answer, up to the grace period.
  {
    std::unique_lock wait_lock(core->mu);
    core->cv.wait_until(wait_lock,
                        std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds),
                        [&] { return core->in_flight.load() == 0; });
  }

  // 3. Later answers are dropped. Close what is left on the sessions' strands (a write to a
  // client that does not read would otherwise hold a thread), then stop the I/O threads.
  core->closed = true;
  snapshot();
  for (auto& session : sessions) {
    asio::post(session->executor(), [session] { session->ForceClose(); });
  }
  sessions.clear();
  {
    std::unique_lock wait_lock(core->mu);
    core->cv.wait_for(wait_lock, kCloseWait, [&] { return core->open_connections.load() == 0; });
  }
  impl_->work.reset();
  core->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();

  // 4. With no I/O thread left, close anything still open from here, then run what the stop
  // left queued (completions of cancelled operations; they only release their sessions), so that
  // no session outlives Stop() unless a handler still holds its responder.
  beast::error_code ignored;
  core->acceptor.close(ignored);
  snapshot();
  for (auto& session : sessions) session->ForceClose();
  sessions.clear();
  core->ioc.restart();
  core->ioc.poll();
}

}  // namespace basin::api
