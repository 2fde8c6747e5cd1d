#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin::ingest {

// Where a record came in.
enum class RecordSource : uint8_t { kApi = 1, kClickstreamSdk = 2, kKinesis = 3 };
std::string_view RecordSourceName(RecordSource source);

// The data of one log record written by ingest: what the server knew about the request, then
// the event exactly as the client sent it. Byte format (docs/formats/log.md, "Record data"):
//   u8 version (1) | u8 source | u16 ip_len | ip | u16 ua_len | user_agent | payload
// little-endian; the user agent is cut at 1 KiB. The log frame's append time is the ingest time.
struct RecordEnvelope {
  RecordSource source = RecordSource::kApi;
  std::string_view client_ip;
  std::string_view user_agent;
  std::string_view payload;  // the event's JSON text (or raw bytes for raw streams)

  std::string Encode() const;
  // Views point into `data`. Corruption on a short or unknown envelope.
  static Result<RecordEnvelope> Decode(std::string_view data);
};

}  // namespace basin::ingest
