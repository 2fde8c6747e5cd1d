#pragma once

#include <cstddef>
#include <cstdint>

namespace basin::ingest {

// Limits on every untrusted size that reaches ingest. The HTTP server enforces the request body
// limit before the body is read; these are checked again here so that every path (HTTP, CLI,
// later Kinesis) has the same rules.
struct IngestLimits {
  size_t max_request_bytes = 10ULL << 20;       // compressed or not, as received
  size_t max_decompressed_bytes = 64ULL << 20;  // a gzip body may not inflate past this
  size_t max_record_bytes = 1ULL << 20;         // one event, as JSON text
  size_t max_records_per_request = 100'000;
  size_t max_nesting_depth = 64;  // JSON depth inside one event
  size_t max_id_bytes = 256;      // event_id and other id fields
};

}  // namespace basin::ingest
