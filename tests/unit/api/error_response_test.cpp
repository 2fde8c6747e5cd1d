#include "api/error_response.h"

#include <gtest/gtest.h>

namespace basin::api {
namespace {

TEST(HttpStatusFor, MapsEveryCode) {
  struct Case {
    ErrorCode code;
    int status;
  };
  const Case cases[] = {
      {ErrorCode::kOk, 200},
      {ErrorCode::kInvalidArgument, 400},
      {ErrorCode::kMalformedBody, 400},
      {ErrorCode::kMalformedJson, 400},
      {ErrorCode::kValidationFailed, 400},
      {ErrorCode::kPayloadTooLarge, 413},
      {ErrorCode::kRecordTooLarge, 413},
      {ErrorCode::kDecompressedTooLarge, 413},
      {ErrorCode::kUnsupportedMediaType, 415},
      {ErrorCode::kUnsupportedEncoding, 400},
      {ErrorCode::kEmptyInput, 400},
      {ErrorCode::kInvalidTextEncoding, 400},
      {ErrorCode::kSchemaIncompatible, 422},
      {ErrorCode::kInvalidDefinition, 400},
      {ErrorCode::kNotFound, 404},
      {ErrorCode::kStreamNotFound, 404},
      {ErrorCode::kTableNotFound, 404},
      {ErrorCode::kRouteNotFound, 404},
      {ErrorCode::kMethodNotAllowed, 405},
      {ErrorCode::kAlreadyExists, 409},
      {ErrorCode::kConflict, 409},
      {ErrorCode::kPipelineNotFound, 404},
      {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kAccessDenied, 403},
      {ErrorCode::kSqlError, 400},
      {ErrorCode::kQueryTimeout, 504},
      {ErrorCode::kQueryMemoryLimit, 400},
      {ErrorCode::kQueryCancelled, 409},
      {ErrorCode::kDataQualityFailed, 409},
      {ErrorCode::kUnavailable, 503},
      {ErrorCode::kShuttingDown, 503},
      {ErrorCode::kDiskFull, 503},
      {ErrorCode::kIoError, 500},
      {ErrorCode::kCorruption, 500},
      {ErrorCode::kInternal, 500},
  };
  // Every code of the enum is listed above (they are contiguous from kOk to kInternal).
  EXPECT_EQ(std::size(cases), static_cast<size_t>(ErrorCode::kInternal) + 1);
  for (const Case& c : cases) {
    EXPECT_EQ(HttpStatusFor(c.code), c.status) << ErrorCodeName(c.code);
  }
}

TEST(ErrorResponse, JsonBodyWithStableName) {
  HttpResponse r = ErrorResponse(Error(ErrorCode::kStreamNotFound, "stream \"x\" does not exist"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            R"({"error":{"code":"StreamNotFound","message":"stream \"x\" does not exist"}})");
}

TEST(ErrorResponse, OkStatusBecomesInternal) {
  HttpResponse r = ErrorResponse(Status::Ok());
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find(R"("code":"Internal")"), std::string::npos);
}

}  // namespace
}  // namespace basin::api
