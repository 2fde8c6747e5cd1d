#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/aws_request.h"
#include "api/http_types.h"
#include "api/kinesis_api.h"  // BlockingExecutor
#include "storage/bucket_store.h"

namespace basin::api {

// What became of an object written to the `landing` bucket (see S3ApiOptions::on_landing_object).
struct LandingOutcome {
  bool ingested = false;  // a batch load or an object ingest happened
  std::string summary;    // "loaded 120 rows into raw.orders" / "stored object sha256/…"
  Status error;           // the ingest failed: the object stays stored; the reason is kept
};

struct S3ApiOptions {
  std::string region = "us-east-1";
  // Runs store operations that touch the disk (every operation but the cheapest). Empty: inline.
  BlockingExecutor run_blocking;
  // Called (on the blocking executor) after an object is stored in the `landing` bucket by
  // PutObject, CompleteMultipartUpload or CopyObject, with the stored object's info and the path
  // of its bytes. The caller wires it to batch ingest (keys `<table>/<file>.csv|json|ndjson|
  // jsonl`) or object ingest (anything else). The outcome is reported to the client in the
  // `x-basin-ingest` (summary) or `x-basin-ingest-error` (reason) response header; the S3
  // answer itself stays 200, because the object is stored either way.
  std::function<LandingOutcome(const storage::ObjectInfo& object, const std::string& path)>
      on_landing_object;
};

// The S3 REST API (path style: `/<bucket>/<key>`; virtual-host style `<bucket>.<host>` is mapped
// onto it) over a storage::BucketStore, independent of the transport and of authentication: the
// AWS endpoint verifies SigV4 and decodes aws-chunked bodies first (see AwsRequestContext), then
// calls Handle. Answers in S3's shapes: XML bodies in the 2006-03-01 namespace, S3 error XML
// (`<Error><Code>…`), no body for HEAD errors, `x-amz-request-id` on every answer.
//
// Supported operations and the choices where AWS is silent: docs/aws-compatibility.md.
// Thread-safe; Handle never blocks the calling thread on disk when run_blocking is set.
class S3Api {
 public:
  S3Api(storage::BucketStore* store, S3ApiOptions options);
  ~S3Api();

  // Calls `respond` exactly once, now or later, from any thread. GET bodies are read into the
  // response (HttpResponse holds the whole body).
  void Handle(HttpRequest& request, const AwsRequestContext& context, Responder respond);

  // An S3 error answer (also used by the endpoint for authentication failures):
  // status, `<Error><Code>code</Code><Message>…</Message><Resource>…</Resource><RequestId>…`.
  // HEAD requests get the status and headers without a body.
  static HttpResponse ErrorResponse(const HttpRequest& request, int status, std::string_view code,
                                    std::string_view message, std::string_view request_id);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace basin::api
