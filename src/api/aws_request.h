#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin::api {

// What the AWS endpoint (api::AwsEndpoint) knows about a request once its SigV4 signature is
// verified, handed to the service that handles it (S3, Kinesis, later Step Functions).
//
// The endpoint has already:
//  - verified the signature (header or presigned) and the payload hash mode;
//  - for `aws-chunked` bodies: checked every chunk signature (or none, for the unsigned-trailer
//    mode), replaced `request.body` with the decoded bytes, removed `aws-chunked` from the
//    Content-Encoding header, and put the trailing headers (lower-case names, e.g.
//    "x-amz-checksum-crc32") into `trailers`. The service verifies checksums itself (it knows
//    which algorithm the operation needs), from the header or from `trailers`.
struct AwsRequestContext {
  std::string principal;      // the user the access key belongs to ("alice")
  std::string access_key_id;  // "AKIA..." (empty for anonymous requests, when allowed)
  std::string request_id;     // echoed as x-amz-request-id / x-amzn-RequestId
  std::map<std::string, std::string> trailers;
  // The single authorization point: Ok, or kAccessDenied with the reason. The service calls it
  // once it knows the IAM action and resource, e.g. ("s3:PutObject",
  // "arn:aws:s3:::landing/orders/a.csv") or ("kinesis:PutRecords",
  // "arn:aws:kinesis:us-east-1:000000000000:stream/clickstream").
  std::function<Status(std::string_view action, std::string_view resource)> authorize;
};

}  // namespace basin::api
