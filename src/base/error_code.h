#pragma once

#include <cstdint>
#include <string_view>

namespace basin {

// Every expected failure in Basin has one of these codes. The names are stable: tests, clients and
// the HTTP error bodies use them, never the message text. Add new codes at the end of a group;
// never rename one. `api/error_response.cpp` is the one place that maps them to HTTP status codes.
enum class ErrorCode : uint16_t {
  kOk = 0,
  // Bad input from a client.
  kInvalidArgument,
  kMalformedBody,
  kMalformedJson,
  kValidationFailed,
  kPayloadTooLarge,
  kRecordTooLarge,
  kDecompressedTooLarge,
  kUnsupportedMediaType,
  kUnsupportedEncoding,
  // Things that are not there, or are there already.
  kNotFound,
  kStreamNotFound,
  kTableNotFound,
  kRouteNotFound,
  kMethodNotAllowed,
  kAlreadyExists,
  kConflict,
  // Access.
  kUnauthenticated,
  kAccessDenied,
  // Queries.
  kSqlError,
  kQueryTimeout,
  kQueryMemoryLimit,
  kQueryCancelled,
  // The platform itself.
  kUnavailable,
  kShuttingDown,
  kDiskFull,
  kIoError,
  kCorruption,
  kInternal,
};

// The stable name of a code, e.g. "StreamNotFound".
std::string_view ErrorCodeName(ErrorCode code);

}  // namespace basin
