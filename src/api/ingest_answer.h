#pragma once

#include <string>

#include "api/http_types.h"
#include "ingest/stream_ingestor.h"

namespace basin::api {

// What the routes that take events (the native stream API, the Clickstream SDK collector) share.

// The client's address: the connection's peer, or the first X-Forwarded-For entry when the peer
// is loopback (a local reverse proxy; from anyone else the header could be forged).
std::string ClientIp(const HttpRequest& request);

// `{"stream":"clickstream","accepted":2,"rejected":[{"index":1,"code":"ValidationFailed",
// "reason":"..."}]}`: the answer to an ingest request (docs/api.md).
std::string IngestResultJson(const ingest::IngestResult& result);

}  // namespace basin::api
