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
  kEmptyInput,           // a zero-byte file, a file with no rows where rows are needed
  kInvalidTextEncoding,  // bytes that are not text in the declared encoding (invalid UTF-8)
  kSchemaIncompatible,   // a file whose columns cannot join the table's schema
  kInvalidDefinition,    // a pipeline (or workflow) definition that does not validate
  // Things that are not there, or are there already.
  kNotFound,
  kStreamNotFound,
  kTableNotFound,
  kRouteNotFound,
  kMethodNotAllowed,
  kAlreadyExists,
  kConflict,
  kPipelineNotFound,
  // Access.
  kUnauthenticated,
  kAccessDenied,
  // Queries.
  kSqlError,
  kQueryTimeout,
  kQueryMemoryLimit,
  kQueryCancelled,
  // Pipelines.
  kDataQualityFailed,  // a data-quality rule with on_failure "stop" failed; nothing was committed
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
