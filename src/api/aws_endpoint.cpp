#include "api/aws_endpoint.h"

#include <simdjson.h>

#include <charconv>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "api/kinesis_api.h"
#include "api/stepfunctions_api.h"
#include "base/json_writer.h"
#include "base/logging.h"
#include "security/authorizer.h"
#include "security/sigv4.h"

namespace basin::api {
namespace {

using security::AuthError;
using security::SigV4Principal;

constexpr size_t kMaxCachedKeys = 10'000;
constexpr std::string_view kJsonTargetHeader = "X-Amz-Target";

enum class Service { kS3, kKinesis, kStepFunctions, kUnknownTarget };

Service ServiceOf(const HttpRequest& request) {
  std::string_view target = request.Header(kJsonTargetHeader);
  if (target.empty()) return Service::kS3;
  if (target.starts_with(KinesisApi::kTargetPrefix)) return Service::kKinesis;
  if (target.starts_with(StepFunctionsApi::kTargetPrefix)) return Service::kStepFunctions;
  return Service::kUnknownTarget;
}

// The JSON protocols (Kinesis 1.1, Step Functions 1.0) answer in their own content type.
bool IsJsonService(Service service) {
  return service == Service::kKinesis || service == Service::kStepFunctions;
}
std::string_view JsonContentType(Service service) {
  return service == Service::kStepFunctions ? StepFunctionsApi::kContentType
                                            : KinesisApi::kContentType;
}

std::string AmzDate(int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Used only when no S3 service is wired: the shape of S3's error document.
HttpResponse MinimalS3Error(const HttpRequest& request, int status, std::string_view code,
                            std::string_view message, std::string_view request_id) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/xml";
  response.headers.emplace_back("x-amz-request-id", std::string(request_id));
  if (request.method == "HEAD") return response;
  response.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + XmlEscape(code) +
                  "</Code><Message>" + XmlEscape(message) + "</Message><Resource>" +
                  XmlEscape(request.path) + "</Resource><RequestId>" + XmlEscape(request_id) +
                  "</RequestId></Error>";
  return response;
}

// The error shape of the JSON services (Kinesis, Step Functions).
HttpResponse JsonError(int status, std::string_view type, std::string_view message,
                       std::string_view request_id,
                       std::string_view content_type = KinesisApi::kContentType) {
  JsonWriter w;
  w.BeginObject().Key("__type").String(type).Key("message").String(message).EndObject();
  HttpResponse response;
  response.status = status;
  response.content_type = std::string(content_type);
  response.body = w.Take();
  response.headers.emplace_back("x-amzn-RequestId", std::string(request_id));
  response.headers.emplace_back("x-amzn-ErrorType", std::string(type));
  return response;
}

// S3's status for an authentication failure (aws-wire.md §2.5).
int S3StatusFor(const AuthError& error) {
  const std::string& name = error.aws_error;
  if (name == "AccessDenied" || name == "SignatureDoesNotMatch" || name == "InvalidAccessKeyId" ||
      name == "RequestTimeTooSkewed" || name == "MissingAuthenticationToken") {
    return 403;
  }
  if (name == "InternalFailure") return 500;
  return 400;
}

struct KinesisAuthAnswer {
  int status;
  std::string type;
  std::string message;
};

// Kinesis (and Step Functions, the same JSON protocol family) names its authentication failures
// differently from S3 (kinesalite, aws-wire.md §1.5).
KinesisAuthAnswer KinesisAnswerFor(const AuthError& error, int64_t now_seconds) {
  const std::string& name = error.aws_error;
  if (name == "MissingAuthenticationToken") {
    return {400, "MissingAuthenticationTokenException", "Missing Authentication Token"};
  }
  if (name == "InvalidAccessKeyId") {
    return {400, "UnrecognizedClientException",
            "The security token included in the request is invalid."};
  }
  if (name == "SignatureDoesNotMatch" || name == "XAmzContentSHA256Mismatch") {
    return {400, "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details."};
  }
  if (name == "RequestTimeTooSkewed" ||
      (name == "AccessDenied" && error.message.find("expired") != std::string::npos)) {
    // botocore recognises "Signature expired" and retries with its clock corrected.
    return {400, "InvalidSignatureException",
            "Signature expired: " + error.message + "; the server's time is " +
                AmzDate(now_seconds) + " and requests may be at most 15 min. off"};
  }
  if (name == "InternalFailure") return {500, "InternalFailure", error.message};
  return {400, "IncompleteSignatureException", error.message};
}

// The IAM resource of a Kinesis request: the stream's ARN from StreamARN or StreamName, or "*"
// for operations that name no stream (ListStreams, GetRecords by iterator) and bodies that do
// not parse (KinesisApi answers those with SerializationException).
std::string KinesisResource(const KinesisApi& kinesis, std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (body.empty() ||
      parser.parse(body.data(), body.size(), true).get(document) != simdjson::SUCCESS) {
    return "*";
  }
  simdjson::dom::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) return "*";
  std::string_view value;
  if (object["StreamARN"].get_string().get(value) == simdjson::SUCCESS && !value.empty()) {
    // KinesisApi acts on the name in the ARN whatever its region and account say, so the
    // resource is the canonical ARN of that name: a policy on it cannot be dodged by another
    // account id in the request.
    constexpr std::string_view kStreamPart = ":stream/";
    const size_t at = value.find(kStreamPart);
    if (at == std::string_view::npos) return std::string(value);  // KinesisApi refuses it
    return kinesis.StreamArn(value.substr(at + kStreamPart.size()));
  }
  if (object["StreamName"].get_string().get(value) == simdjson::SUCCESS && !value.empty()) {
    return kinesis.StreamArn(value);
  }
  return "*";
}

// Removes `aws-chunked` from a Content-Encoding list ("aws-chunked,gzip" -> "gzip").
std::string WithoutAwsChunked(std::string_view encodings) {
  std::string out;
  size_t start = 0;
  while (start <= encodings.size()) {
    size_t comma = encodings.find(',', start);
    if (comma == std::string_view::npos) comma = encodings.size();
    std::string_view item = encodings.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty() && item != "aws-chunked") {
      if (!out.empty()) out += ",";
      out += item;
    }
    start = comma + 1;
  }
  return out;
}

void ReplaceHeader(Headers& headers, std::string_view name, std::optional<std::string> value) {
  auto [begin, end] = headers.equal_range(name);
  headers.erase(begin, end);
  if (value) headers.emplace(std::string(name), std::move(*value));
}

// Set by the secret lookup when the key store failed (rather than not knowing the key), so that
// the answer is an internal error instead of InvalidAccessKeyId. Verify calls the lookup on the
// calling thread.
thread_local bool tls_key_lookup_failed = false;

}  // namespace

struct AwsEndpoint::Impl {
  AwsEndpointOptions options;
  // Work posted to run_blocking holds the Impl alive through a lock of this.
  std::weak_ptr<Impl> weak_self;
  std::unique_ptr<security::SigV4Verifier> s3_verifier;
  std::unique_ptr<security::SigV4Verifier> kinesis_verifier;
  std::unique_ptr<security::SigV4Verifier> states_verifier;
  std::unique_ptr<StepFunctionsApi> step_functions;  // when options.workflows is set

  struct CachedKey {
    std::optional<AwsCredential> credential;
    int64_t expires_us = 0;
  };
  mutable std::mutex cache_mu;
  mutable std::map<std::string, CachedKey, std::less<>> key_cache;

  // The credential of a key id, from the cache or the lookup. nullopt for unknown keys and
  // failed lookups (which also set tls_key_lookup_failed).
  std::optional<AwsCredential> CredentialFor(std::string_view access_key_id) const {
    const int64_t now = options.clock->NowMicros();
    {
      std::lock_guard lock(cache_mu);
      auto it = key_cache.find(access_key_id);
      if (it != key_cache.end() && it->second.expires_us > now) return it->second.credential;
    }
    auto found = options.keys(access_key_id);
    if (!found.ok()) {
      BASIN_LOG(Warn, "aws") << "access key lookup failed: " << found.status().ToString();
      tls_key_lookup_failed = true;
      return std::nullopt;
    }
    CachedKey entry;
    entry.credential = std::move(*found);
    entry.expires_us =
        now + (entry.credential ? options.key_cache_ttl_us : options.unknown_key_cache_ttl_us);
    std::lock_guard lock(cache_mu);
    if (key_cache.size() >= kMaxCachedKeys) key_cache.clear();
    key_cache[std::string(access_key_id)] = entry;
    return entry.credential;
  }

  void Handle(HttpRequest& request, Responder respond) {
    std::string request_id = NewRequestId();
    const Service service = ServiceOf(request);
    if (service == Service::kUnknownTarget || (service == Service::kKinesis && !options.kinesis)) {
      return respond(JsonError(
          400, "UnknownOperationException",
          "operation '" + std::string(request.Header(kJsonTargetHeader)) + "' is not supported",
          request_id));
    }
    if (service == Service::kStepFunctions && !step_functions) {
      return respond(JsonError(400, "UnknownOperationException",
                               "Step Functions is not available on this endpoint (the server runs "
                               "no workflow service)",
                               request_id, StepFunctionsApi::kContentType));
    }
    // Verifying hashes the whole body (and an aws-chunked body is decoded chunk by chunk): for
    // large bodies that is work the I/O thread must not do.
    if (options.run_blocking && request.body.size() >= options.inline_body_bytes) {
      return options.run_blocking([this, self = weak_self.lock(), &request, service,
                                   request_id = std::move(request_id),
                                   respond = std::move(respond)]() mutable {
        Authenticate(request, service, std::move(request_id), std::move(respond));
      });
    }
    Authenticate(request, service, std::move(request_id), std::move(respond));
  }

  void Authenticate(HttpRequest& request, Service service, std::string request_id,
                    Responder respond) {
    security::SigV4Request signed_request;
    signed_request.method = request.method;
    signed_request.target = request.target;
    signed_request.headers.reserve(request.headers.size());
    for (const auto& [name, value] : request.headers) {
      signed_request.headers.emplace_back(name, value);
    }
    signed_request.body = request.body;

    tls_key_lookup_failed = false;
    const auto& verifier = service == Service::kKinesis         ? *kinesis_verifier
                           : service == Service::kStepFunctions ? *states_verifier
                                                                : *s3_verifier;
    auto verified = verifier.Verify(signed_request);
    std::optional<AwsCredential> credential;
    if (verified.ok()) {
      credential = CredentialFor(verified->access_key_id);  // a cache hit: Verify just used it
      if (!credential) {
        verified = security::MakeAuthError(ErrorCode::kUnauthenticated, "InvalidAccessKeyId",
                                           "the access key id was removed");
      }
    }
    if (!verified.ok()) {
      AuthError error = verified.error();
      if (tls_key_lookup_failed) {
        error = security::MakeAuthError(ErrorCode::kInternal, "InternalFailure",
                                        "the access keys cannot be read right now");
      }
      BASIN_LOG(Debug, "aws") << request.method << " " << request.target << " ("
                              << request.remote_ip << "): " << error.aws_error << ": "
                              << error.message;
      return respond(AuthFailure(service, request, error, request_id));
    }

    auto context = std::make_shared<AwsRequestContext>();
    context->principal = credential->user_name;
    context->access_key_id = verified->access_key_id;
    context->request_id = request_id;
    context->authorize = [authorizer = options.authorizer, user = credential->user_name](
                             std::string_view action, std::string_view resource) {
      return authorizer->Authorize(
          security::AccessRequest{user, std::string(action), std::string(resource)});
    };
    if (service == Service::kKinesis) {
      return HandleKinesis(request, std::move(context), std::move(respond));
    }
    if (service == Service::kStepFunctions) {
      return HandleStepFunctions(request, std::move(context), std::move(respond));
    }
    HandleS3(request, *verified, std::move(context), std::move(respond));
  }

  HttpResponse AuthFailure(Service service, const HttpRequest& request, const AuthError& error,
                           const std::string& request_id) const {
    if (IsJsonService(service)) {
      KinesisAuthAnswer answer = KinesisAnswerFor(error, options.clock->NowMicros() / 1'000'000);
      return JsonError(answer.status, answer.type, answer.message, request_id,
                       JsonContentType(service));
    }
    if (error.aws_error == "MissingAuthenticationToken") {
      // S3 answers anonymous requests to private resources this way.
      return S3Error(request, 403, "AccessDenied", "Access Denied", request_id);
    }
    if (error.aws_error == "InternalFailure") {
      return S3Error(request, 500, "InternalError", error.message, request_id);
    }
    return S3Error(request, S3StatusFor(error), error.aws_error, error.message, request_id);
  }

  HttpResponse S3Error(const HttpRequest& request, int status, std::string_view code,
                       std::string_view message, std::string_view request_id) const {
    if (options.s3.error_response) {
      return options.s3.error_response(request, status, code, message, request_id);
    }
    return MinimalS3Error(request, status, code, message, request_id);
  }

  void HandleKinesis(HttpRequest& request, std::shared_ptr<AwsRequestContext> context,
                     Responder respond) {
    const std::string& request_id = context->request_id;
    std::string_view content_type = request.Header("Content-Type");
    if (content_type.find("cbor") != std::string_view::npos) {
      return respond(JsonError(400, "SerializationException",
                               "CBOR bodies are not supported: use JSON (Java SDK: set "
                               "AWS_CBOR_DISABLE / -Daws.cborEnabled=false)",
                               request_id));
    }
    std::string_view target = request.Header(kJsonTargetHeader);
    std::string_view operation = target.substr(KinesisApi::kTargetPrefix.size());
    Status allowed = context->authorize("kinesis:" + std::string(operation),
                                        KinesisResource(*options.kinesis, request.body));
    if (!allowed.ok()) {
      return respond(JsonError(400, "AccessDeniedException", allowed.message(), request_id));
    }
    KinesisCallContext call{request.remote_ip, std::string(request.Header("User-Agent"))};
    options.kinesis->Handle(target, request.body, call,
                            [request_id, respond = std::move(respond)](HttpResponse response) {
                              // One request id per request: the endpoint's, which its log lines
                              // carry too.
                              bool replaced = false;
                              for (auto& [name, value] : response.headers) {
                                if (name == "x-amzn-RequestId") {
                                  value = request_id;
                                  replaced = true;
                                }
                              }
                              if (!replaced)
                                response.headers.emplace_back("x-amzn-RequestId", request_id);
                              respond(std::move(response));
                            });
  }

  void HandleStepFunctions(HttpRequest& request, std::shared_ptr<AwsRequestContext> context,
                           Responder respond) {
    const std::string& request_id = context->request_id;
    std::string_view operation =
        request.Header(kJsonTargetHeader).substr(StepFunctionsApi::kTargetPrefix.size());
    if (request.Header("Content-Type").find("cbor") != std::string_view::npos) {
      return respond(JsonError(400, "SerializationException",
                               "CBOR bodies are not supported: use JSON", request_id,
                               StepFunctionsApi::kContentType));
    }
    Status allowed = context->authorize("states:" + std::string(operation),
                                        step_functions->ResourceOf(operation, request.body));
    if (!allowed.ok()) {
      return respond(JsonError(400, "AccessDeniedException", allowed.message(), request_id,
                               StepFunctionsApi::kContentType));
    }
    // Every operation reads or writes the catalog: not on the I/O thread.
    auto run = [self = weak_self.lock(), &request, operation, context,
                respond = std::move(respond)]() mutable {
      StepFunctionsAnswer answer = self->step_functions->Handle(operation, request.body);
      respond(answer.ToHttpResponse(context->request_id));
    };
    if (options.run_blocking) return options.run_blocking(std::move(run));
    run();
  }

  void HandleS3(HttpRequest& request, const SigV4Principal& principal,
                std::shared_ptr<AwsRequestContext> context, Responder respond) {
    const std::string& request_id = context->request_id;
    if (auto mode = security::ChunkedModeFor(principal.payload_mode)) {
      std::optional<uint64_t> decoded_length;
      std::string_view declared = request.Header("x-amz-decoded-content-length");
      if (!declared.empty()) {
        uint64_t n = 0;
        auto [end, ec] = std::from_chars(declared.data(), declared.data() + declared.size(), n);
        if (ec != std::errc() || end != declared.data() + declared.size()) {
          return respond(S3Error(request, 400, "InvalidArgument",
                                 "x-amz-decoded-content-length must be a number", request_id));
        }
        decoded_length = n;
      }
      const auto signing = security::StreamingSigningContext::FromPrincipal(principal);
      auto decoded = security::DecodeAwsChunked(request.body, *mode, &signing,
                                                options.chunked_limits, decoded_length);
      if (!decoded.ok()) {
        const AuthError& error = decoded.error();
        return respond(
            S3Error(request, S3StatusFor(error), error.aws_error, error.message, request_id));
      }
      request.body = std::move(decoded->payload);
      for (auto& [name, value] : decoded->trailers) context->trailers[name] = std::move(value);
      std::string encodings = WithoutAwsChunked(request.Header("Content-Encoding"));
      ReplaceHeader(request.headers, "Content-Encoding",
                    encodings.empty() ? std::nullopt : std::optional<std::string>(encodings));
      if (!request.Header("Content-Length").empty()) {
        ReplaceHeader(request.headers, "Content-Length", std::to_string(request.body.size()));
      }
    }
    if (!options.s3.handle) {
      return respond(S3Error(request, 501, "NotImplemented", "S3 is not available on this endpoint",
                             request_id));
    }
    // The context lives until the answer, whatever the service keeps of it.
    options.s3.handle(request, *context,
                      [context, respond = std::move(respond)](HttpResponse response) {
                        respond(std::move(response));
                      });
  }
};

AwsEndpoint::AwsEndpoint(AwsEndpointOptions options) : impl_(std::make_shared<Impl>()) {
  BASIN_CHECK(options.keys != nullptr);
  BASIN_CHECK(options.authorizer != nullptr);
  BASIN_CHECK(options.clock != nullptr);
  impl_->options = std::move(options);
  impl_->weak_self = impl_;
  Impl* impl = impl_.get();
  security::SecretLookup secrets = [impl](std::string_view access_key_id) {
    std::optional<AwsCredential> credential = impl->CredentialFor(access_key_id);
    return credential ? std::optional<std::string>(credential->secret) : std::nullopt;
  };
  security::SigV4Options s3_profile;  // the defaults are S3's rules
  s3_profile.expected_service = "s3";
  impl_->s3_verifier =
      std::make_unique<security::SigV4Verifier>(secrets, *impl_->options.clock, s3_profile);
  security::SigV4Options kinesis_profile;
  kinesis_profile.uri_mode = security::UriMode::kNormalized;
  kinesis_profile.s3_payload_rules = false;
  kinesis_profile.expected_service = "kinesis";
  impl_->kinesis_verifier =
      std::make_unique<security::SigV4Verifier>(secrets, *impl_->options.clock, kinesis_profile);
  security::SigV4Options states_profile = kinesis_profile;
  states_profile.expected_service = "states";
  impl_->states_verifier =
      std::make_unique<security::SigV4Verifier>(secrets, *impl_->options.clock, states_profile);
  if (impl_->options.workflows != nullptr) {
    impl_->step_functions = std::make_unique<StepFunctionsApi>(impl_->options.workflows);
  }
}

AwsEndpoint::~AwsEndpoint() = default;

void AwsEndpoint::Handle(HttpRequest& request, Responder respond) {
  impl_->Handle(request, std::move(respond));
}

std::string AwsEndpoint::NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789ABCDEF";
  uint64_t bits = rng();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, bits >>= 4) id[i] = kHex[bits & 0xF];
  return id;
}

}  // namespace basin::api
