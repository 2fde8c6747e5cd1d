#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/aws_request.h"
#include "api/http_types.h"
#include "base/clock.h"
#include "base/status.h"
#include "security/aws_chunked.h"

namespace basin::security {
class Authorizer;
}
namespace basin::workflow {
class ExecutionService;
}

namespace basin::api {

class KinesisApi;

// The secret and the user of an active access key.
struct AwsCredential {
  std::string secret;
  std::string user_name;
};

// Looks an access key id up (the catalog's access_keys, see cli): the credential, nullopt when
// the key is unknown or inactive, or an error when the lookup itself failed.
using AwsKeyLookup =
    std::function<Result<std::optional<AwsCredential>>(std::string_view access_key_id)>;

// The S3 service as the endpoint calls it: api::S3Api::Handle and api::S3Api::ErrorResponse
// (wired by cli; tests plug in their own). Without `handle`, S3 requests answer 501
// NotImplemented; without `error_response`, errors use a minimal S3 error document.
struct AwsS3Service {
  std::function<void(HttpRequest&, const AwsRequestContext&, Responder)> handle;
  std::function<HttpResponse(const HttpRequest& request, int status, std::string_view code,
                             std::string_view message, std::string_view request_id)>
      error_response;
};

struct AwsEndpointOptions {
  AwsKeyLookup keys;                                 // required
  const security::Authorizer* authorizer = nullptr;  // required
  const Clock* clock = &SystemClock::Instance();     // request time vs. X-Amz-Date
  KinesisApi* kinesis = nullptr;  // null: Kinesis targets answer UnknownOperationException
  // Step Functions (api::StepFunctionsApi over it). Null: AWSStepFunctions targets answer
  // UnknownOperationException saying the service is not available. Must outlive the endpoint.
  workflow::ExecutionService* workflows = nullptr;
  AwsS3Service s3;
  // A found key is trusted this long before it is looked up again (so a deleted or deactivated
  // key keeps working at most this long); an unknown key is remembered for the shorter time, so
  // a key created after the server started works within it.
  int64_t key_cache_ttl_us = 10'000'000;
  int64_t unknown_key_cache_ttl_us = 1'000'000;
  security::AwsChunkedLimits chunked_limits;
  // Requests with bodies of at least `inline_body_bytes` are verified (body hash, aws-chunked
  // decoding) on this executor instead of the I/O thread. Empty: always inline.
  std::function<void(std::function<void()>)> run_blocking;
  uint64_t inline_body_bytes = 1ULL << 20;
};

// The single handler of the AWS-compatible port (`basin serve --aws-port`): every request is
// authenticated with SigV4 and then handed to the service its shape names:
//   - `X-Amz-Target: Kinesis_20131202.<Op>` -> Kinesis (normalised-URI profile, body hash
//     signed), authorized as ("kinesis:<Op>", the stream's ARN or "*"), then KinesisApi::Handle;
//   - `X-Amz-Target: AWSStepFunctions.<Op>` -> Step Functions (same profile, scope service
//     `states`), authorized as ("states:<Op>", the state machine / execution ARN or "*"), then
//     StepFunctionsApi::Handle on `run_blocking` (every operation touches the catalog);
//   - any other `X-Amz-Target` -> UnknownOperationException (JSON);
//   - everything else -> S3 (S3 profile). Streaming `aws-chunked` bodies are decoded and their
//     chunk signatures checked here; the service gets the decoded body, `aws-chunked` removed
//     from Content-Encoding, and the trailers in AwsRequestContext::trailers.
// Failures are answered in the service's own error shape (S3 XML with 403/400, Kinesis and Step
// Functions JSON `{"__type","message"}` with 400), with a 16-hex-digit request id in
// x-amz-request-id / x-amzn-RequestId. Anonymous requests are refused (S3 AccessDenied, Kinesis
// MissingAuthenticationTokenException).
//
// Thread-safe; Handle does no disk work itself except the access-key lookup on a cache miss (a
// SQLite primary-key read), and hands requests with large bodies to `run_blocking`.
class AwsEndpoint {
 public:
  explicit AwsEndpoint(AwsEndpointOptions options);
  ~AwsEndpoint();

  // The HTTP server's handler (see api::Handler).
  void Handle(HttpRequest& request, Responder respond);

  // 16 upper-case hex digits.
  static std::string NewRequestId();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace basin::api
