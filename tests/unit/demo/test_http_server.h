#pragma once

// A tiny HTTP/1.1 server for the demo's tests: listens on 127.0.0.1 on a free port, keeps
// connections alive, and answers each request with whatever the test's handler says (or never,
// to simulate a hung server). One I/O thread; the handler runs on it.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace basin::demo::testing {

namespace test_http = boost::beast::http;

struct TestRequest {
  std::string target;
  std::string content_type;
  std::string user_agent;
  std::string body;
};

struct TestResponse {
  int status = 200;
  std::string body;
  bool stall = false;  // never answer; the connection stays open until the server stops

  static TestResponse Stall() {
    TestResponse r;
    r.stall = true;
    return r;
  }
};

class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;

  explicit TestHttpServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestHttpServer() { Stop(); }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return port_; }

  void Stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  class Connection;
  using Stalled = std::vector<std::shared_ptr<Connection>>;

  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(boost::asio::ip::tcp::socket socket, const Handler& handler, Stalled& stalled)
        : socket_(std::move(socket)), handler_(handler), stalled_(stalled) {}

    void Read() {
      request_ = {};
      test_http::async_read(socket_, buffer_, request_,
                            [self = shared_from_this()](boost::beast::error_code ec, size_t) {
                              if (!ec) self->Answer();
                            });
    }

   private:
    void Answer() {
      TestRequest r;
      r.target = std::string(request_.target());
      r.content_type = std::string(request_[test_http::field::content_type]);
      r.user_agent = std::string(request_[test_http::field::user_agent]);
      r.body = request_.body();
      TestResponse answer = handler_(r);
      if (answer.stall) {
        stalled_.push_back(shared_from_this());  // keep the socket open, say nothing
        return;
      }
      response_ = {};
      response_.version(11);
      response_.result(static_cast<unsigned>(answer.status));
      response_.set(test_http::field::content_type, "application/json");
      response_.keep_alive(request_.keep_alive());
      response_.body() = std::move(answer.body);
      response_.prepare_payload();
      test_http::async_write(socket_, response_,
                             [self = shared_from_this()](boost::beast::error_code ec, size_t) {
                               if (!ec && self->response_.keep_alive()) self->Read();
                             });
    }

    boost::asio::ip::tcp::socket socket_;
    const Handler& handler_;
    boost::beast::flat_buffer buffer_;
    test_http::request<test_http::string_body> request_;
    test_http::response<test_http::string_body> response_;
    Stalled& stalled_;
  };

  void Accept() {
    acceptor_.async_accept(
        [this](boost::beast::error_code ec, boost::asio::ip::tcp::socket socket) {
          if (ec) return;
          std::make_shared<Connection>(std::move(socket), handler_, stalled_)->Read();
          Accept();
        });
  }

  Handler handler_;
  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  Stalled stalled_;  // used on the I/O thread only; destroyed before the io_context
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace basin::demo::testing
