#include "api/error_response.h"

#include "base/json_writer.h"

namespace basin::api {

int HttpStatusFor(ErrorCode code) {
  // No default: -Wswitch (an error here) makes a new ErrorCode fail to compile until it is mapped.
  switch (code) {
    case ErrorCode::kOk: return 200;

    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMalformedBody:
    case ErrorCode::kMalformedJson:
    case ErrorCode::kValidationFailed:
    case ErrorCode::kUnsupportedEncoding:
    case ErrorCode::kEmptyInput:
    case ErrorCode::kInvalidTextEncoding:
    case ErrorCode::kInvalidDefinition: return 400;
    // The file is well-formed but cannot join the table as it is: the client must change the file
    // or the table, so not a retryable failure.
    case ErrorCode::kSchemaIncompatible: return 422;
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kRecordTooLarge:
    case ErrorCode::kDecompressedTooLarge: return 413;
    case ErrorCode::kUnsupportedMediaType: return 415;

    case ErrorCode::kNotFound:
    case ErrorCode::kStreamNotFound:
    case ErrorCode::kTableNotFound:
    case ErrorCode::kRouteNotFound:
    case ErrorCode::kPipelineNotFound: return 404;
    case ErrorCode::kMethodNotAllowed: return 405;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict: return 409;

    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kAccessDenied: return 403;

    case ErrorCode::kSqlError: return 400;
    // The server gave up waiting for its own query engine: a server-side timeout (504), not the
    // client being slow to send (408, which also makes HTTP clients retry on a reused connection
    // and asks the server to close it).
    case ErrorCode::kQueryTimeout: return 504;
    // A query over its memory limit fails again the same way: the client has to change the query
    // (or the limit), so it is a 4xx, and not a 5xx that SDKs would retry.
    case ErrorCode::kQueryMemoryLimit: return 400;
    // Someone cancelled the query on purpose: the request conflicts with the query's state. Not a
    // server fault (500), and not to be retried blindly. Cancellation by shutdown is ShuttingDown.
    case ErrorCode::kQueryCancelled: return 409;
    // The run was refused by its own quality rules: the data must change, not the request.
    case ErrorCode::kDataQualityFailed: return 409;

    case ErrorCode::kUnavailable:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kDiskFull: return 503;
    case ErrorCode::kIoError:
    case ErrorCode::kCorruption:
    case ErrorCode::kInternal: return 500;
  }
  return 500;  // a value outside the enum
}

HttpResponse ErrorResponse(const Status& status) {
  // An ok Status here is a caller bug; answer it as an internal error rather than a 200 that
  // claims to be an error.
  const ErrorCode code = status.ok() ? ErrorCode::kInternal : status.code();
  HttpResponse response;
  response.status = HttpStatusFor(code);
  response.content_type = "application/json";
  std::string& body = response.body;
  body.reserve(40 + status.message().size());
  body += R"({"error":{"code":)";
  AppendJsonString(body, ErrorCodeName(code));
  body += R"(,"message":)";
  AppendJsonString(body, status.ok() ? std::string_view("error response without an error")
                                     : std::string_view(status.message()));
  body += "}}";
  return response;
}

HttpResponse JsonResponse(std::string body, int status) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace basin::api
