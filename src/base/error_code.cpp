#include "base/error_code.h"

namespace basin {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "Ok";
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kMalformedBody: return "MalformedBody";
    case ErrorCode::kMalformedJson: return "MalformedJson";
    case ErrorCode::kValidationFailed: return "ValidationFailed";
    case ErrorCode::kPayloadTooLarge: return "PayloadTooLarge";
    case ErrorCode::kRecordTooLarge: return "RecordTooLarge";
    case ErrorCode::kDecompressedTooLarge: return "DecompressedTooLarge";
    case ErrorCode::kUnsupportedMediaType: return "UnsupportedMediaType";
    case ErrorCode::kUnsupportedEncoding: return "UnsupportedEncoding";
    case ErrorCode::kEmptyInput: return "EmptyInput";
    case ErrorCode::kInvalidTextEncoding: return "InvalidTextEncoding";
    case ErrorCode::kSchemaIncompatible: return "SchemaIncompatible";
    case ErrorCode::kInvalidDefinition: return "InvalidDefinition";
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kStreamNotFound: return "StreamNotFound";
    case ErrorCode::kTableNotFound: return "TableNotFound";
    case ErrorCode::kRouteNotFound: return "RouteNotFound";
    case ErrorCode::kMethodNotAllowed: return "MethodNotAllowed";
    case ErrorCode::kAlreadyExists: return "AlreadyExists";
    case ErrorCode::kConflict: return "Conflict";
    case ErrorCode::kPipelineNotFound: return "PipelineNotFound";
    case ErrorCode::kUnauthenticated: return "Unauthenticated";
    case ErrorCode::kAccessDenied: return "AccessDenied";
    case ErrorCode::kSqlError: return "SqlError";
    case ErrorCode::kQueryTimeout: return "QueryTimeout";
    case ErrorCode::kQueryMemoryLimit: return "QueryMemoryLimit";
    case ErrorCode::kQueryCancelled: return "QueryCancelled";
    case ErrorCode::kDataQualityFailed: return "DataQualityFailed";
    case ErrorCode::kUnavailable: return "Unavailable";
    case ErrorCode::kShuttingDown: return "ShuttingDown";
    case ErrorCode::kDiskFull: return "DiskFull";
    case ErrorCode::kIoError: return "IoError";
    case ErrorCode::kCorruption: return "Corruption";
    case ErrorCode::kInternal: return "Internal";
  }
  return "Unknown";
}

}  // namespace basin
