#pragma once

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <utility>

namespace basin::api {

// A thread pool for handlers that block (DuckDB queries, loader flushes, batch loads, pipeline
// runs): the server's I/O threads never wait on them. Destruction waits for posted work.
class BlockingWork {
 public:
  explicit BlockingWork(int threads) : pool_(static_cast<size_t>(std::max(1, threads))) {}
  ~BlockingWork() { pool_.join(); }
  template <typename F>
  void Post(F&& f) {
    boost::asio::post(pool_, std::forward<F>(f));
  }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace basin::api
