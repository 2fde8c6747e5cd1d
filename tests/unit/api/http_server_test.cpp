#include "api/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/error_response.h"
#include "api/router.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "observe/metrics.h"

namespace basin::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A blocking connection to the server under test. Reads time out after 10 s so that a bug makes
// a test fail instead of hang.
class Connection {
 public:
  explicit Connection(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  http::response<http::string_body> Request(
      http::verb verb, std::string target, std::string body = "",
      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(socket_, req);
    return Read();
  }

  http::response<http::string_body> Read() {
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }

  // The answer to a HEAD request: a header that announces a body that is not sent.
  http::response<http::string_body> ReadHeadResponse() {
    http::response_parser<http::string_body> parser;
    parser.skip(true);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

  void Write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads until `n` bytes are there (from the buffer first).
  std::string ReadExactly(size_t n) {
    while (buffer_.size() < n) {
      buffer_.commit(socket_.read_some(buffer_.prepare(n - buffer_.size())));
    }
    std::string out = beast::buffers_to_string(buffer_.data()).substr(0, n);
    buffer_.consume(n);
    return out;
  }

  // True when the server closed the connection (the next read sees EOF or a reset).
  bool ClosedByPeer() {
    if (buffer_.size() > 0) return false;
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

HttpResponse Text(std::string body, int status = 200) {
  return HttpResponse{status, "text/plain", std::move(body), {}};
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(Handler handler, HttpServerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    if (options.threads == 0) options.threads = 2;
    server_ = std::make_unique<HttpServer>(std::move(options), std::move(handler));
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->Stop(1);
    std::lock_guard lock(helpers_mu_);
    for (auto& t : helpers_) t.join();
  }

  uint16_t port() const { return server_->port(); }

  // Runs `fn` on a new thread (handlers answer from there), joined in TearDown.
  void Spawn(std::function<void()> fn) {
    std::lock_guard lock(helpers_mu_);
    helpers_.emplace_back(std::move(fn));
  }

  observe::MetricsRegistry metrics_;  // outlives server_
  std::unique_ptr<HttpServer> server_;

 private:
  std::mutex helpers_mu_;
  std::vector<std::thread> helpers_;
};

// Echoes what the server parsed, as JSON.
void EchoRequest(HttpRequest& r, Responder respond) {
  JsonWriter w;
  w.BeginObject();
  w.Key("method").String(r.method);
  w.Key("target").String(r.target);
  w.Key("path").String(r.path);
  w.Key("query").BeginArray();
  for (const auto& [k, v] : r.query) w.BeginArray().String(k).String(v).EndArray();
  w.EndArray();
  w.Key("body").String(r.body);
  w.Key("remote").String(r.remote_ip);
  w.Key("keep_alive").Bool(r.keep_alive);
  w.Key("x_test").String(r.Header("x-test"));
  w.EndObject();
  respond(HttpResponse{200, "application/json", w.Take(), {{"X-Echo", "1"}}});
}

TEST_F(HttpServerTest, FillsTheRequest) {
  StartServer(EchoRequest);
  Connection c(port());
  auto res = c.Request(http::verb::post, "/echo/a%20b%2Fc?x=1&y=hello+world&z=%2F&x=2", "payload",
                       {{"X-Test", "yes"}});
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::server], "basin");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res["X-Echo"], "1");
  EXPECT_EQ(res.body(),
            R"({"method":"POST","target":"/echo/a%20b%2Fc?x=1&y=hello+world&z=%2F&x=2",)"
            R"("path":"/echo/a b/c","query":[["x","1"],["x","2"],["y","hello world"],["z","/"]],)"
            R"("body":"payload","remote":"127.0.0.1","keep_alive":true,"x_test":"yes"})");
}

TEST_F(HttpServerTest, BadPercentEncodingIs400AndKeepsTheConnection) {
  StartServer(EchoRequest);
  Connection c(port());
  auto res = c.Request(http::verb::get, "/a%zz");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_NE(res.body().find(R"("code":"InvalidArgument")"), std::string::npos);
  res = c.Request(http::verb::get, "/a?q=%4");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(c.Request(http::verb::get, "/ok").result_int(), 200);
}

TEST_F(HttpServerTest, RoutesThroughTheRouter) {
  class DenySecret final : public security::Authorizer {
   public:
    Status Authorize(const security::AccessRequest& r) const override {
      if (r.resource == "arn:basin:stream:::secret") {
        return Error(ErrorCode::kAccessDenied, r.principal + " may not " + r.action);
      }
      return Status::Ok();
    }
  } authorizer;
  Router router(&authorizer);
  router.Add({"POST", "/v1/streams/{stream}/records", "basin:PutRecords",
              "arn:basin:stream:::{stream}", [](HttpRequest& r, Responder respond) {
                respond(Text("put " + r.path_params.at("stream") + ": " + r.body));
              }});
  router.Add({"GET", "/v1/streams/{stream}", "basin:DescribeStream", "arn:basin:stream:::{stream}",
              [](HttpRequest& r, Responder respond) {
                respond(Text("stream " + r.path_params.at("stream")));
              }});
  StartServer(
      [&router](HttpRequest& r, Responder respond) { router.Dispatch(r, std::move(respond)); });

  Connection c(port());
  auto res = c.Request(http::verb::post, "/v1/streams/click%2Fs/records", "e1");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "put click/s: e1");
  EXPECT_EQ(c.Request(http::verb::get, "/v1/streams/a%20b").body(), "stream a b");

  res = c.Request(http::verb::get, "/v1/nope");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(res.body(),
            R"({"error":{"code":"RouteNotFound","message":"no route for GET /v1/nope"}})");

  res = c.Request(http::verb::delete_, "/v1/streams/x");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[http::field::allow], "GET");
  EXPECT_NE(res.body().find(R"("code":"MethodNotAllowed")"), std::string::npos);

  res = c.Request(http::verb::post, "/v1/streams/secret/records", "e2");
  EXPECT_EQ(res.result_int(), 403);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(),
            R"({"error":{"code":"AccessDenied","message":"anonymous may not basin:PutRecords"}})");
  server_->Stop(1);  // before the router and authorizer go away
}

TEST_F(HttpServerTest, ContentLengthOverTheLimitIs413WithoutReadingTheBody) {
  std::atomic<int> calls{0};
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(
      [&calls](HttpRequest&, Responder respond) {
        ++calls;
        respond(Text("ok"));
      },
      options);

  // Only the header is sent: the answer must come without the body.
  Connection c(port());
  c.Write("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(res.body(),
            R"({"error":{"code":"PayloadTooLarge","message":"request body exceeds 1024 bytes"}})");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.ClosedByPeer());

  // A client that sends the whole body anyway still gets the 413 (not a reset).
  Connection c2(port());
  auto res2 = c2.Request(http::verb::post, "/big", std::string(4096, 'x'));
  EXPECT_EQ(res2.result_int(), 413);

  // At the limit is fine.
  Connection c3(port());
  EXPECT_EQ(c3.Request(http::verb::post, "/ok", std::string(1024, 'x')).result_int(), 200);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(HttpServerTest, UploadRoutesHaveTheirOwnBodyLimit) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  options.max_upload_body_bytes = 64 * 1024;
  options.is_upload = [](std::string_view method, std::string_view path) {
    return method == "POST" && path.starts_with("/upload");
  };
  StartServer(EchoRequest, options);
  // An upload may be larger than other requests...
  Connection c(port());
  auto big = c.Request(http::verb::post, "/upload?name=a.csv", std::string(32 * 1024, 'u'));
  EXPECT_EQ(big.result_int(), 200);
  EXPECT_NE(big.body().find(std::string(100, 'u')), std::string::npos);
  // ...but not past its own limit, and other requests keep theirs.
  Connection c2(port());
  c2.Write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n");
  auto over = c2.Read();
  EXPECT_EQ(over.result_int(), 413);
  EXPECT_NE(over.body().find("exceeds 65536 bytes"), std::string::npos) << over.body();
  Connection c3(port());
  auto other = c3.Request(http::verb::post, "/other", std::string(2048, 'x'));
  EXPECT_EQ(other.result_int(), 413);
  EXPECT_NE(other.body().find("exceeds 1024 bytes"), std::string::npos) << other.body();
  Connection c4(port());
  EXPECT_EQ(c4.Request(http::verb::get, "/upload", std::string(2048, 'x')).result_int(), 413);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(EchoRequest, options);
  Connection c(port());
  c.Write("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "200\r\n" + std::string(0x200, 'a') + "\r\n";
  c.Write(chunk);
  c.Write(chunk);
  c.Write(chunk);  // 1536 bytes > 1024
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find("PayloadTooLarge"), std::string::npos);

  // Under the limit, chunked bodies are assembled.
  Connection ok(port());
  ok.Write(
      "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  auto res2 = ok.Read();
  EXPECT_EQ(res2.result_int(), 200);
  EXPECT_NE(res2.body().find(R"("body":"abcde")"), std::string::npos);
}

TEST_F(HttpServerTest, ExpectContinue) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(EchoRequest, options);
  Connection c(port());
  c.Write("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(c.ReadExactly(interim.size()), interim);
  c.Write("hello");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find(R"("body":"hello")"), std::string::npos);

  // Too large: a final 413 instead of 100 Continue, and the client never sends the body.
  Connection big(port());
  big.Write("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
  auto res2 = big.Read();
  EXPECT_EQ(res2.result_int(), 413);
}

TEST_F(HttpServerTest, ExpectContinueIsSentEvenWhenTheBodyIsAlreadyComplete) {
  // botocore keeps a final status sent in place of the interim one for the next 100-continue
  // request on the connection: always answer 100 first when it was asked for.
  StartServer(EchoRequest);
  Connection c(port());
  c.Write("PUT /empty HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(c.ReadExactly(interim.size()), interim);
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find(R"("body":"")"), std::string::npos) << res.body();
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpServerOptions options;
  options.metrics = &metrics_;
  StartServer(EchoRequest, options);
  Connection c(port());
  for (int i = 0; i < 20; ++i) {
    auto res = c.Request(http::verb::get, "/n?i=" + std::to_string(i));
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
    EXPECT_NE(res.body().find(R"(["i",")" + std::to_string(i) + R"("])"), std::string::npos);
  }
  EXPECT_EQ(metrics_.GetGauge("basin_http_connections", "").value(), 1);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  StartServer(EchoRequest);
  Connection c(port());
  auto res = c.Request(http::verb::get, "/x", "", {{"Connection", "close"}});
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.ClosedByPeer());

  // HTTP/1.0 without keep-alive closes too.
  Connection c10(port());
  c10.Write("GET /x HTTP/1.0\r\n\r\n");
  auto res10 = c10.Read();
  EXPECT_EQ(res10.result_int(), 200);
  EXPECT_EQ(res10.version(), 10);
  EXPECT_TRUE(c10.ClosedByPeer());
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  // The first request is answered last by its handler, yet comes back first.
  StartServer([this](HttpRequest& r, Responder respond) {
    const std::string n(r.QueryParam("n"));
    const auto delay = std::chrono::milliseconds(n == "1" ? 150 : n == "2" ? 50 : 0);
    Spawn([respond, n, delay] {
      std::this_thread::sleep_for(delay);
      respond(Text("answer " + n));
    });
  });
  Connection c(port());
  c.Write(
      "GET /p?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /p?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /p?n=3 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.Read().body(), "answer 1");
  EXPECT_EQ(c.Read().body(), "answer 2");
  EXPECT_EQ(c.Read().body(), "answer 3");
}

TEST_F(HttpServerTest, ResponderCalledFromAnotherThreadLater) {
  StartServer([this](HttpRequest& r, Responder respond) {
    // The request stays valid until the answer is given.
    Spawn([&r, respond] {
      std::this_thread::sleep_for(100ms);
      respond(Text("late " + r.body, 202));
    });
  });
  Connection c(port());
  const auto start = std::chrono::steady_clock::now();
  auto res = c.Request(http::verb::post, "/late", "x");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(res.result_int(), 202);
  EXPECT_EQ(res.body(), "late x");
  EXPECT_EQ(c.Request(http::verb::post, "/late", "y").body(), "late y");
}

TEST_F(HttpServerTest, ThrowingHandlerGets500AndTheServerKeepsServing) {
  SetLogLevel(LogLevel::kError);
  StartServer([](HttpRequest& r, Responder respond) {
    if (r.path == "/throw") throw std::runtime_error("boom");
    if (r.path == "/throw-int") throw 42;
    respond(Text("fine"));
  });
  Connection c(port());
  auto res = c.Request(http::verb::get, "/throw");
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_EQ(res.body(), R"({"error":{"code":"Internal","message":"internal error"}})");
  EXPECT_EQ(c.Request(http::verb::get, "/throw-int").result_int(), 500);
  EXPECT_EQ(c.Request(http::verb::get, "/fine").body(), "fine");
  Connection c2(port());
  EXPECT_EQ(c2.Request(http::verb::get, "/fine").body(), "fine");
}

TEST_F(HttpServerTest, DroppedResponderGets500AndDoubleAnswersAreIgnored) {
  SetLogLevel(LogLevel::kError);
  StartServer([](HttpRequest& r, Responder respond) {
    if (r.path == "/drop") return;  // never answers
    respond(Text("first"));
    respond(Text("second"));
  });
  Connection c(port());
  EXPECT_EQ(c.Request(http::verb::get, "/drop").result_int(), 500);
  EXPECT_EQ(c.Request(http::verb::get, "/twice").body(), "first");
  EXPECT_EQ(c.Request(http::verb::get, "/twice").body(), "first");
}

TEST_F(HttpServerTest, MalformedRequestIs400ThenClose) {
  StartServer(EchoRequest);
  for (const char* garbage : {"THIS IS NOT HTTP\r\n\r\n", "GET /x HTTQ/1.1\r\n\r\n",
                              "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
                              "POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n"}) {
    Connection c(port());
    c.Write(garbage);
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 400) << garbage;
    EXPECT_NE(res.body().find(R"("code":"MalformedBody")"), std::string::npos) << garbage;
    EXPECT_TRUE(c.ClosedByPeer()) << garbage;
  }
}

TEST_F(HttpServerTest, OversizedHeaderIs400) {
  StartServer(EchoRequest);
  Connection c(port());
  c.Write("GET /x HTTP/1.1\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 400);
}

TEST_F(HttpServerTest, HeadAndNoContent) {
  StartServer([](HttpRequest& r, Responder respond) {
    respond(r.path == "/empty" ? HttpResponse{204, "", "ignored", {}} : Text("twelve bytes"));
  });
  Connection c(port());
  c.Write("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
  // A HEAD answer has the Content-Length of the GET body but no body: the 204 right after it
  // must parse cleanly.
  auto head = c.ReadHeadResponse();
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[http::field::content_length], "12");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 204);
  EXPECT_EQ(res.body(), "");
  EXPECT_EQ(res.count(http::field::content_length), 0u);
  EXPECT_EQ(c.Request(http::verb::get, "/x").body(), "twelve bytes");
}

TEST_F(HttpServerTest, HeadTakesTheLengthAHandlerStatesWithoutBuildingTheBody) {
  // S3 HeadObject answers the object's size without reading it.
  StartServer([](HttpRequest&, Responder respond) {
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("Content-Length", "73400320");
    respond(std::move(r));
  });
  Connection c(port());
  c.Write("HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.ReadHeadResponse();
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[http::field::content_length], "73400320");
  EXPECT_EQ(head.count(http::field::content_length), 1u);
  // The connection is still in step: no body was sent.
  auto again = c.Request(http::verb::get, "/big");
  EXPECT_EQ(again.result_int(), 200);
  EXPECT_EQ(again.body(), "");
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.idle_timeout_seconds = 1;
  StartServer(EchoRequest, options);
  Connection c(port());
  EXPECT_EQ(c.Request(http::verb::get, "/x").result_int(), 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(HttpServerTest, ConcurrentClients) {
  HttpServerOptions options;
  options.metrics = &metrics_;
  StartServer(EchoRequest, options);
  constexpr int kClients = 8;
  constexpr int kRequests = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      Connection c(port());
      for (int i = 0; i < kRequests; ++i) {
        const std::string body = std::to_string(t) + "-" + std::to_string(i);
        auto res = c.Request(http::verb::post, "/c", body);
        if (res.result_int() == 200 &&
            res.body().find("\"body\":\"" + body + "\"") != std::string::npos) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  server_->Stop(1);
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("basin_http_requests_total{method=\"POST\",status=\"200\"} 1600\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("basin_http_request_seconds_count 1600\n"), std::string::npos);
  EXPECT_NE(text.find("basin_http_connections 0\n"), std::string::npos);
}

TEST_F(HttpServerTest, StopDeliversPendingResponsesWithinGrace) {
  std::atomic<bool> entered{false};
  StartServer([this, &entered](HttpRequest&, Responder respond) {
    entered = true;
    Spawn([respond] {
      std::this_thread::sleep_for(300ms);
      respond(Text("finished"));
    });
  });
  Connection busy(port());
  Connection idle(port());
  EXPECT_EQ(idle.Request(http::verb::get, "/warm").body(), "finished");
  busy.Write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!entered) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);

  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([this] { server_->Stop(5); });
  auto res = busy.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "finished");
  EXPECT_FALSE(res.keep_alive());  // the server is going away
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(busy.ClosedByPeer());
  EXPECT_TRUE(idle.ClosedByPeer());
  // No longer accepting.
  asio::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec);
  server_->Stop(1);  // idempotent
}

TEST_F(HttpServerTest, StopGivesUpOnHandlersThatNeverAnswerAfterGrace) {
  std::mutex mu;
  std::vector<Responder> parked;
  std::atomic<bool> entered{false};
  StartServer([&](HttpRequest&, Responder respond) {
    std::lock_guard lock(mu);
    parked.push_back(std::move(respond));
    entered = true;
  });
  Connection c(port());
  c.Write("GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!entered) std::this_thread::sleep_for(1ms);
  const auto start = std::chrono::steady_clock::now();
  server_->Stop(1);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(c.ClosedByPeer());
  // Answering after the server stopped is harmless; so is dropping the responder.
  std::lock_guard lock(mu);
  parked[0](Text("too late"));
  parked.clear();
}

TEST_F(HttpServerTest, ResponderOutlivesTheServer) {
  std::mutex mu;
  std::vector<Responder> parked;
  std::atomic<bool> entered{false};
  StartServer([&](HttpRequest&, Responder respond) {
    std::lock_guard lock(mu);
    parked.push_back(std::move(respond));
    entered = true;
  });
  {
    Connection c(port());
    c.Write("GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!entered) std::this_thread::sleep_for(1ms);
    server_->Stop(0);
    server_.reset();  // the server object is gone
  }
  std::lock_guard lock(mu);
  parked[0](Text("after destruction"));
  parked.clear();  // last reference: frees the session and the I/O context here
}

TEST(HttpServer, StartFailsOnABadAddressOrAPortInUse) {
  HttpServer bad({.address = "definitely not an address", .port = 0}, EchoRequest);
  Status s = bad.Start();
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();

  HttpServer first({.address = "127.0.0.1", .port = 0, .threads = 1}, EchoRequest);
  ASSERT_TRUE(first.Start().ok());
  HttpServer second({.address = "127.0.0.1", .port = first.port(), .threads = 1}, EchoRequest);
  s = second.Start();
  EXPECT_EQ(s.code(), ErrorCode::kIoError) << s.ToString();
  EXPECT_FALSE(first.Start().ok());  // already started
}

TEST(HttpServer, StopWithoutStartAndDestroyWhileRunning) {
  HttpServer never({.address = "127.0.0.1", .port = 0}, EchoRequest);
  never.Stop();
  never.Stop();
  auto running = std::make_unique<HttpServer>(
      HttpServerOptions{.address = "127.0.0.1", .port = 0, .threads = 1}, EchoRequest);
  ASSERT_TRUE(running->Start().ok());
  Connection c(running->port());
  EXPECT_EQ(c.Request(http::verb::get, "/x").result_int(), 200);
  running.reset();  // the destructor stops it
  EXPECT_TRUE(c.ClosedByPeer());
}

}  // namespace
}  // namespace basin::api
