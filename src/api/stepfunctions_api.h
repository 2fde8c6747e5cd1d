#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/http_types.h"

namespace basin::workflow {
class ExecutionService;
}

namespace basin::api {

// What a Step Functions operation answers: 200 and the JSON body, or an AWS error
// (`{"__type":"<Name>","message":"..."}`, HTTP 400, 500 for InternalFailure, 503 for
// ServiceUnavailable) with `error_type` set to the name.
struct StepFunctionsAnswer {
  int status = 200;
  std::string body;
  std::string error_type;  // empty on success

  bool ok() const { return error_type.empty(); }
  // The answer as the AWS endpoint sends it: `application/x-amz-json-1.0`, `x-amzn-RequestId`,
  // and `x-amzn-ErrorType` for errors.
  HttpResponse ToHttpResponse(std::string_view request_id) const;
};

// The Step Functions API (JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`) over
// workflow::ExecutionService, independent of any transport: `basin serve`'s AWS endpoint and
// `basin workflow ...` over a data directory both call Handle, so the two answer the same.
//
// Operations: CreateStateMachine, UpdateStateMachine, DescribeStateMachine, ListStateMachines,
// DeleteStateMachine, StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
// StopExecution, DescribeStateMachineForExecution. Field names, epoch-second timestamps and
// exception names are AWS's; what differs is in docs/aws-compatibility.md, "Step Functions".
//
// Thread-safe (the service is). Handle blocks: every operation reads or writes the catalog, so
// the endpoint calls it off the I/O thread.
class StepFunctionsApi {
 public:
  // `service` may be null: every operation then answers ServiceUnavailable.
  explicit StepFunctionsApi(workflow::ExecutionService* service);

  // `operation` is "StartExecution" or the whole target "AWSStepFunctions.StartExecution";
  // `body` the request's JSON object (empty = `{}`).
  StepFunctionsAnswer Handle(std::string_view operation, std::string_view body) const;

  // The IAM resource a request acts on, for the endpoint's authorization: the ARN in
  // `stateMachineArn` / `executionArn`, the ARN CreateStateMachine would make from `name`, or
  // "*" (ListStateMachines, bodies that do not parse).
  std::string ResourceOf(std::string_view operation, std::string_view body) const;

  static constexpr std::string_view kContentType = "application/x-amz-json-1.0";
  static constexpr std::string_view kTargetPrefix = "AWSStepFunctions.";
  // A definition may be 1 MiB and JSON-escaping can grow it; bodies above this are refused
  // before they are parsed.
  static constexpr size_t kMaxBodyBytes = size_t{4} << 20;
  static constexpr size_t kMaxDefinitionBytes = size_t{1} << 20;
  static constexpr size_t kMaxInputBytes = size_t{256} << 10;

 private:
  workflow::ExecutionService* service_;
};

}  // namespace basin::api
