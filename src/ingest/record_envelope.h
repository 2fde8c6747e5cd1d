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
//   accepted: u8 version (1) | u8 source | u16 ip_len | ip | u16 ua_len | user_agent | payload
//   rejected: u8 version (2) | u8 source | u16 ip_len | ip | u16 ua_len | user_agent
//             | u16 reason_len | reason | payload
// little-endian; the user agent and the reason are cut at 1 KiB. The log frame's append time is
// the ingest time. A rejected record is an event ingest refused (with the reason it told the
// client): it is kept in the log so that the loader puts it in the quarantine, never in a table.
struct RecordEnvelope {
  RecordSource source = RecordSource::kApi;
  std::string_view client_ip;
  std::string_view user_agent;
  std::string_view payload;    // the event's JSON text (or raw bytes for raw streams)
  std::string_view rejection;  // why ingest refused the payload; empty for an accepted record

  std::string Encode() const;
  // Views point into `data`. Corruption on a short or unknown envelope.
  static Result<RecordEnvelope> Decode(std::string_view data);
};

}  // namespace basin::ingest
