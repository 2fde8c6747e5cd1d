#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace basin::demo {

// An HTTP response as the client saw it.
struct HttpReply {
  int status = 0;
  std::string body;
};

// One rejected record of a collector reply.
struct RejectedRecord {
  int64_t index = -1;  // position in the request's array
  std::string code;    // stable error code name, e.g. "ValidationFailed"
  std::string reason;
};

// The collector's answer to a batch:
// {"stream":"clickstream","accepted":N,"rejected":[{"index":i,"code":"...","reason":"..."}]}.
struct IngestReply {
  int64_t accepted = 0;
  std::vector<RejectedRecord> rejected;
};

// MalformedJson / ValidationFailed when the body is not such a reply.
Result<IngestReply> ParseIngestReply(std::string_view body);

// A minimal HTTP/1.1 client for posting event batches to Basin's collector over one kept-alive
// connection (Boost.Beast underneath; kept out of this header). Every request is bounded by the
// timeout; a kept-alive connection the server has closed meanwhile is reopened and the request
// sent again once (safe: the collector deduplicates on event_id). Post() is called from one
// thread at a time; Interrupt() may be called from any thread.
class CollectorClient {
 public:
  CollectorClient(std::string host, uint16_t port, int timeout_ms);
  ~CollectorClient();
  CollectorClient(const CollectorClient&) = delete;
  CollectorClient& operator=(const CollectorClient&) = delete;

  // POSTs `body`. Any HTTP status is a reply (the caller decides what 503 means); Unavailable
  // when the server cannot be reached or does not answer in time, ShuttingDown once interrupted.
  Result<HttpReply> Post(std::string_view target, std::string_view content_type,
                         std::string_view user_agent, std::string body);

  // Aborts the request in flight and makes every later Post() fail at once; for shutdown.
  void Interrupt();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::demo
