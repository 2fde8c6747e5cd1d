#include "api/aws_endpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/kinesis_api.h"
#include "api/s3_api.h"
#include "base/base64.h"
#include "base/hash.h"
#include "security/authorizer.h"
#include "security/aws_chunked.h"
#include "security/sigv4.h"
#include "unit/temp_dir.h"

namespace basin::api {
namespace {

using security::CanonicalHeaderValue;
using security::ChunkSignature;
using security::CredentialScope;
using security::DeriveSigningKey;
using security::SigningKey;
using security::SignString;
using security::StringToSign;

// 2027-01-15T08:30:00Z
constexpr int64_t kNowSeconds = 1'800'001'800;
constexpr char kAmzDate[] = "20270115T083000Z";
constexpr char kKeyId[] = "AKIAEXAMPLEKEY000001";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kRegion[] = "us-east-1";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

// Signs like an SDK does, written out here from the SigV4 documentation rather than taken from
// the verifier: every header of the request is signed; `path` and `query` are already canonical
// (the tests use plain ones).
struct Signer {
  std::string key_id = kKeyId;
  std::string secret = kSecret;
  std::string amz_date = kAmzDate;
  std::string region = kRegion;

  std::string Scope(std::string_view service) const {
    return CredentialScope(amz_date.substr(0, 8), region, service);
  }
  SigningKey Key(std::string_view service) const {
    return DeriveSigningKey(secret, amz_date.substr(0, 8), region, service);
  }

  std::string CanonicalRequest(const HttpRequest& request, std::string_view path,
                               std::string_view query, std::string_view payload_hash,
                               std::string* signed_headers) const {
    std::map<std::string, std::string> headers;
    for (const auto& [name, value] : request.headers) {
      if (Lower(name) == "authorization") continue;
      std::string& joined = headers[Lower(name)];
      if (!joined.empty()) joined += ",";
      joined += CanonicalHeaderValue(value);
    }
    std::string canonical =
        request.method + "\n" + std::string(path) + "\n" + std::string(query) + "\n";
    signed_headers->clear();
    for (const auto& [name, value] : headers) {
      canonical += name + ":" + value + "\n";
      if (!signed_headers->empty()) *signed_headers += ";";
      *signed_headers += name;
    }
    canonical += "\n" + *signed_headers + "\n" + std::string(payload_hash);
    return canonical;
  }

  // Adds X-Amz-Date and the Authorization header; returns the signature.
  std::string Sign(HttpRequest& request, std::string_view service, std::string_view path,
                   std::string_view payload_hash) const {
    request.headers.emplace("X-Amz-Date", amz_date);
    std::string signed_headers;
    std::string canonical = CanonicalRequest(request, path, "", payload_hash, &signed_headers);
    std::string signature =
        SignString(Key(service), StringToSign(amz_date, Scope(service), canonical));
    request.headers.emplace("Authorization",
                            "AWS4-HMAC-SHA256 Credential=" + key_id + "/" + Scope(service) +
                                ", SignedHeaders=" + signed_headers + ", Signature=" + signature);
    return signature;
  }
};

HttpRequest KinesisRequest(std::string_view operation, std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.path = "/";
  request.remote_ip = "10.0.0.7";
  request.headers.emplace("Host", "localhost:4566");
  request.headers.emplace("Content-Type", "application/x-amz-json-1.1");
  request.headers.emplace("X-Amz-Target", "Kinesis_20131202." + std::string(operation));
  request.body = std::move(body);
  return request;
}

HttpRequest S3Request(std::string method, std::string path, std::string body = "") {
  HttpRequest request;
  request.method = std::move(method);
  request.target = path;
  request.path = std::move(path);
  request.remote_ip = "10.0.0.7";
  request.headers.emplace("Host", "localhost:4566");
  request.body = std::move(body);
  return request;
}

std::string JsonField(const std::string& json, const std::string& field) {
  std::string key = "\"" + field + "\":\"";
  size_t at = json.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return json.substr(at, json.find('"', at) - at);
}

std::string XmlField(const std::string& xml, const std::string& element) {
  size_t at = xml.find("<" + element + ">");
  if (at == std::string::npos) return "";
  at += element.size() + 2;
  return xml.substr(at, xml.find("</" + element + ">", at) - at);
}

std::string HeaderOf(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (Lower(key) == Lower(std::string(name))) return value;
  }
  return "";
}

bool IsRequestId(const std::string& id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
         });
}

// Records what it is asked; denies actions listed in `denied`.
class RecordingAuthorizer final : public security::Authorizer {
 public:
  Status Authorize(const security::AccessRequest& request) const override {
    std::lock_guard lock(mu_);
    seen_.push_back(request);
    if (denied_.count(request.action) > 0) {
      return Error(ErrorCode::kAccessDenied, request.principal + " may not " + request.action);
    }
    return Status::Ok();
  }
  void Deny(std::string action) { denied_.insert(std::move(action)); }
  std::vector<security::AccessRequest> Seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<security::AccessRequest> seen_;
  std::set<std::string> denied_;
};

// What the fake S3 service saw.
struct S3Call {
  std::string method, path, body, content_encoding, content_length;
  AwsRequestContext context;
  Status authorized;
};

class AwsEndpointTest : public ::testing::Test {
 protected:
  AwsEndpointTest() {
    keys_[kKeyId] = AwsCredential{kSecret, "alice"};
    log::LogOptions log_options;
    log_options.dir = dir_.path();
    log_options.durable = false;
    log_options.clock = &clock_;
    log_ = std::move(log::Log::Open(log_options)).value();
    kinesis_ = std::make_unique<KinesisApi>(log_.get(), &clock_, KinesisApiOptions{});
    MakeEndpoint();
  }

  void MakeEndpoint() {
    AwsEndpointOptions options;
    options.keys = [this](std::string_view id) -> Result<std::optional<AwsCredential>> {
      std::lock_guard lock(keys_mu_);
      ++lookups_;
      if (!lookup_error_.ok()) return lookup_error_;
      auto it = keys_.find(std::string(id));
      if (it == keys_.end()) return std::optional<AwsCredential>();
      return std::optional<AwsCredential>(it->second);
    };
    options.authorizer = &authorizer_;
    options.clock = &clock_;
    options.kinesis = kinesis_.get();
    options.s3.handle = [this](HttpRequest& request, const AwsRequestContext& context,
                               Responder respond) {
      S3Call call;
      call.method = request.method;
      call.path = request.path;
      call.body = request.body;
      call.content_encoding = std::string(request.Header("Content-Encoding"));
      call.content_length = std::string(request.Header("Content-Length"));
      call.context = context;
      call.authorized = context.authorize("s3:GetObject", "arn:aws:s3:::" + request.path.substr(1));
      s3_calls_.push_back(call);
      HttpResponse response;
      response.status = 200;
      response.body = "s3 ok";
      respond(std::move(response));
    };
    endpoint_ = std::make_unique<AwsEndpoint>(std::move(options));
  }

  HttpResponse Call(HttpRequest& request) {
    std::promise<HttpResponse> promise;
    auto future = promise.get_future();
    endpoint_->Handle(request, [&promise](HttpResponse r) { promise.set_value(std::move(r)); });
    return future.get();
  }

  HttpResponse SignedKinesis(std::string_view operation, const std::string& body,
                             const Signer& signer = Signer()) {
    HttpRequest request = KinesisRequest(operation, body);
    signer.Sign(request, "kinesis", "/", Sha256Hex(body));
    return Call(request);
  }

  // Expects a Kinesis JSON error of `type` (status 400); returns its message.
  std::string KinesisFails(const HttpResponse& response, std::string_view type) {
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(response.content_type, "application/x-amz-json-1.1");
    EXPECT_EQ(JsonField(response.body, "__type"), type) << response.body;
    EXPECT_TRUE(IsRequestId(HeaderOf(response, "x-amzn-RequestId"))) << response.body;
    return JsonField(response.body, "message");
  }

  // Expects an S3 XML error; returns its message.
  std::string S3Fails(const HttpResponse& response, int status, std::string_view code) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(XmlField(response.body, "Code"), code) << response.body;
    std::string request_id = HeaderOf(response, "x-amz-request-id");
    EXPECT_TRUE(IsRequestId(request_id)) << request_id;
    EXPECT_EQ(XmlField(response.body, "RequestId"), request_id);
    EXPECT_TRUE(s3_calls_.empty()) << "the S3 service must not see a rejected request";
    return XmlField(response.body, "Message");
  }

  void CreateStream(const std::string& name) {
    HttpResponse created =
        SignedKinesis("CreateStream", R"({"StreamName":")" + name + R"(","ShardCount":1})");
    ASSERT_EQ(created.status, 200) << created.body;
  }

  test::TempDir dir_;
  FakeClock clock_{kNowSeconds * 1'000'000};
  std::mutex keys_mu_;
  std::map<std::string, AwsCredential> keys_;
  Status lookup_error_;
  int lookups_ = 0;
  RecordingAuthorizer authorizer_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<KinesisApi> kinesis_;
  std::vector<S3Call> s3_calls_;
  std::unique_ptr<AwsEndpoint> endpoint_;
};

TEST_F(AwsEndpointTest, SignedKinesisRequestsReachTheStreamAndAreAuthorized) {
  CreateStream("orders");
  HttpResponse put =
      SignedKinesis("PutRecord", R"({"StreamName":"orders","PartitionKey":"k","Data":")" +
                                     Base64Encode("{\"order\":1}") + R"("})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.content_type, "application/x-amz-json-1.1");
  EXPECT_EQ(JsonField(put.body, "ShardId"), "shardId-000000000000");
  EXPECT_TRUE(IsRequestId(HeaderOf(put, "x-amzn-RequestId"))) << HeaderOf(put, "x-amzn-RequestId");

  HttpResponse listed = SignedKinesis("ListStreams", "{}");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_NE(listed.body.find("\"orders\""), std::string::npos) << listed.body;

  auto seen = authorizer_.Seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].principal, "alice");
  EXPECT_EQ(seen[0].action, "kinesis:CreateStream");
  EXPECT_EQ(seen[1].action, "kinesis:PutRecord");
  EXPECT_EQ(seen[1].resource, kinesis_->StreamArn("orders"));
  EXPECT_EQ(seen[2].action, "kinesis:ListStreams");
  EXPECT_EQ(seen[2].resource, "*");
}

TEST_F(AwsEndpointTest, KinesisStreamArnInTheBodyIsTheResource) {
  CreateStream("orders");
  const std::string arn = kinesis_->StreamArn("orders");
  HttpResponse described =
      SignedKinesis("DescribeStreamSummary", R"({"StreamARN":")" + arn + R"("})");
  ASSERT_EQ(described.status, 200) << described.body;
  EXPECT_EQ(authorizer_.Seen().back().resource, arn);
  // Another region or account in the ARN still names the same stream to KinesisApi, so the
  // authorizer sees the canonical ARN.
  HttpResponse other =
      SignedKinesis("DescribeStreamSummary",
                    R"({"StreamARN":"arn:aws:kinesis:eu-west-1:999999999999:stream/orders"})");
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(authorizer_.Seen().back().resource, arn);
}

TEST_F(AwsEndpointTest, KinesisDeniedByTheAuthorizer) {
  authorizer_.Deny("kinesis:DeleteStream");
  CreateStream("orders");
  std::string message = KinesisFails(SignedKinesis("DeleteStream", R"({"StreamName":"orders"})"),
                                     "AccessDeniedException");
  EXPECT_NE(message.find("kinesis:DeleteStream"), std::string::npos) << message;
  EXPECT_TRUE(log_->HasStream("orders"));
}

TEST_F(AwsEndpointTest, KinesisWrongSecretIsInvalidSignature) {
  Signer signer;
  signer.secret = "not-the-secret-not-the-secret-not-the-se";
  KinesisFails(SignedKinesis("ListStreams", "{}", signer), "InvalidSignatureException");
}

TEST_F(AwsEndpointTest, KinesisUnknownKeyIsUnrecognizedClient) {
  Signer signer;
  signer.key_id = "AKIAUNKNOWNUNKNOWN00";
  KinesisFails(SignedKinesis("ListStreams", "{}", signer), "UnrecognizedClientException");
}

TEST_F(AwsEndpointTest, KinesisSkewedClockIsSignatureExpired) {
  Signer signer;
  signer.amz_date = "20270115T080000Z";  // 30 minutes early
  std::string message =
      KinesisFails(SignedKinesis("ListStreams", "{}", signer), "InvalidSignatureException");
  EXPECT_TRUE(message.starts_with("Signature expired")) << message;
  // 14 minutes is within the allowed skew.
  signer.amz_date = "20270115T081600Z";
  EXPECT_EQ(SignedKinesis("ListStreams", "{}", signer).status, 200);
}

TEST_F(AwsEndpointTest, KinesisBodyChangedAfterSigningIsRejected) {
  CreateStream("orders");
  HttpRequest request = KinesisRequest("DeleteStream", R"({"StreamName":"orders"})");
  Signer().Sign(request, "kinesis", "/", Sha256Hex(request.body));
  request.body = R"({"StreamName":"ordersX"})";
  KinesisFails(Call(request), "InvalidSignatureException");
  EXPECT_TRUE(log_->HasStream("orders"));
}

TEST_F(AwsEndpointTest, KinesisSignedForAnotherServiceIsIncompleteSignature) {
  HttpRequest request = KinesisRequest("ListStreams", "{}");
  Signer().Sign(request, "s3", "/", Sha256Hex(request.body));
  KinesisFails(Call(request), "IncompleteSignatureException");
}

TEST_F(AwsEndpointTest, AnonymousRequestsAreRefusedInEachServicesShape) {
  HttpRequest kinesis = KinesisRequest("ListStreams", "{}");
  std::string message = KinesisFails(Call(kinesis), "MissingAuthenticationTokenException");
  EXPECT_EQ(message, "Missing Authentication Token");

  HttpRequest s3 = S3Request("GET", "/landing/a.csv");
  S3Fails(Call(s3), 403, "AccessDenied");
  EXPECT_EQ(lookups_, 0);
}

TEST_F(AwsEndpointTest, UnknownTargetIsUnknownOperation) {
  HttpRequest request = KinesisRequest("ListStreams", "{}");
  request.headers.erase("X-Amz-Target");
  request.headers.emplace("X-Amz-Target", "DynamoDB_20120810.ListTables");
  Signer().Sign(request, "dynamodb", "/", Sha256Hex(request.body));
  KinesisFails(Call(request), "UnknownOperationException");
  // An unknown Kinesis operation is the Kinesis API's to refuse, after authentication.
  KinesisFails(SignedKinesis("SubscribeToShard", "{}"), "UnknownOperationException");
}

TEST_F(AwsEndpointTest, CborBodiesAreRefusedWithAHint) {
  HttpRequest request = KinesisRequest("ListStreams", "\xa0");
  request.headers.erase("Content-Type");
  request.headers.emplace("Content-Type", "application/x-amz-cbor-1.1");
  Signer().Sign(request, "kinesis", "/", Sha256Hex(request.body));
  std::string message = KinesisFails(Call(request), "SerializationException");
  EXPECT_NE(message.find("CBOR"), std::string::npos);
}

TEST_F(AwsEndpointTest, KeyLookupFailureIsAnInternalError) {
  lookup_error_ = Error(ErrorCode::kUnavailable, "catalog busy");
  HttpResponse response = SignedKinesis("ListStreams", "{}");
  EXPECT_EQ(response.status, 500) << response.body;
  EXPECT_EQ(JsonField(response.body, "__type"), "InternalFailure");
}

TEST_F(AwsEndpointTest, KeysAreCachedBrieflyAndNewKeysWorkSoon) {
  Signer newcomer;
  newcomer.key_id = "AKIANEWCOMER00000001";
  newcomer.secret = "newcomer-secret-newcomer-secret-newcome";
  KinesisFails(SignedKinesis("ListStreams", "{}", newcomer), "UnrecognizedClientException");
  {
    std::lock_guard lock(keys_mu_);
    keys_[newcomer.key_id] = AwsCredential{newcomer.secret, "bob"};
  }
  // The unknown key is remembered for a second (clients retrying a bad key do not reach the
  // catalog every time), then looked up again.
  KinesisFails(SignedKinesis("ListStreams", "{}", newcomer), "UnrecognizedClientException");
  clock_.Advance(1'100'000);
  newcomer.amz_date = "20270115T083001Z";
  ASSERT_EQ(SignedKinesis("ListStreams", "{}", newcomer).status, 200);
  EXPECT_EQ(authorizer_.Seen().back().principal, "bob");

  // A found key is trusted for 10 s without a lookup; a deleted key stops working after that.
  const int lookups = lookups_;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(SignedKinesis("ListStreams", "{}", newcomer).status, 200);
  EXPECT_EQ(lookups_, lookups);
  {
    std::lock_guard lock(keys_mu_);
    keys_.erase(newcomer.key_id);
  }
  clock_.Advance(10'000'000);
  newcomer.amz_date = "20270115T083011Z";
  KinesisFails(SignedKinesis("ListStreams", "{}", newcomer), "UnrecognizedClientException");
}

// ---- S3 ----------------------------------------------------------------------------------------

TEST_F(AwsEndpointTest, SignedS3RequestReachesS3WithItsContext) {
  HttpRequest request = S3Request("PUT", "/landing/orders/a.csv", "id,total\n1,2.5\n");
  request.headers.emplace("x-amz-content-sha256", Sha256Hex(request.body));
  Signer().Sign(request, "s3", "/landing/orders/a.csv", Sha256Hex(request.body));
  HttpResponse response = Call(request);
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(s3_calls_.size(), 1u);
  const S3Call& call = s3_calls_[0];
  EXPECT_EQ(call.body, "id,total\n1,2.5\n");
  EXPECT_EQ(call.context.principal, "alice");
  EXPECT_EQ(call.context.access_key_id, kKeyId);
  EXPECT_TRUE(IsRequestId(call.context.request_id)) << call.context.request_id;
  EXPECT_TRUE(call.context.trailers.empty());
  EXPECT_TRUE(call.authorized.ok());
  auto seen = authorizer_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].principal, "alice");
  EXPECT_EQ(seen[0].action, "s3:GetObject");
  EXPECT_EQ(seen[0].resource, "arn:aws:s3:::landing/orders/a.csv");
}

TEST_F(AwsEndpointTest, S3DenialIsReportedToTheService) {
  authorizer_.Deny("s3:GetObject");
  HttpRequest request = S3Request("GET", "/landing/a.csv");
  request.headers.emplace("x-amz-content-sha256", security::kEmptySha256);
  Signer().Sign(request, "s3", "/landing/a.csv", security::kEmptySha256);
  ASSERT_EQ(Call(request).status, 200);
  ASSERT_EQ(s3_calls_.size(), 1u);
  EXPECT_EQ(s3_calls_[0].authorized.code(), ErrorCode::kAccessDenied);
}

TEST_F(AwsEndpointTest, S3AuthenticationFailures) {
  {
    Signer wrong;
    wrong.secret = "not-the-secret-not-the-secret-not-the-se";
    HttpRequest request = S3Request("GET", "/landing/a.csv");
    request.headers.emplace("x-amz-content-sha256", security::kEmptySha256);
    wrong.Sign(request, "s3", "/landing/a.csv", security::kEmptySha256);
    S3Fails(Call(request), 403, "SignatureDoesNotMatch");
  }
  {
    Signer unknown;
    unknown.key_id = "AKIAUNKNOWNUNKNOWN00";
    HttpRequest request = S3Request("GET", "/landing/a.csv");
    request.headers.emplace("x-amz-content-sha256", security::kEmptySha256);
    unknown.Sign(request, "s3", "/landing/a.csv", security::kEmptySha256);
    S3Fails(Call(request), 403, "InvalidAccessKeyId");
  }
  {
    Signer skewed;
    skewed.amz_date = "20270115T090000Z";  // 30 minutes late
    HttpRequest request = S3Request("GET", "/landing/a.csv");
    request.headers.emplace("x-amz-content-sha256", security::kEmptySha256);
    skewed.Sign(request, "s3", "/landing/a.csv", security::kEmptySha256);
    S3Fails(Call(request), 403, "RequestTimeTooSkewed");
  }
  {
    HttpRequest request = S3Request("PUT", "/landing/a.csv", "abc");
    request.headers.emplace("x-amz-content-sha256", Sha256Hex("abd"));
    Signer().Sign(request, "s3", "/landing/a.csv", Sha256Hex("abd"));
    S3Fails(Call(request), 400, "XAmzContentSHA256Mismatch");
  }
  {
    // HEAD errors carry the status and no body.
    HttpRequest request = S3Request("HEAD", "/landing/a.csv");
    HttpResponse response = Call(request);
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.body, "");
    EXPECT_TRUE(IsRequestId(HeaderOf(response, "x-amz-request-id")));
  }
}

TEST_F(AwsEndpointTest, S3PresignedUrlsWorkUntilTheyExpire) {
  auto presigned = [&](const std::string& amz_date, int expires) {
    Signer signer;
    signer.amz_date = amz_date;
    const std::string scope = signer.Scope("s3");
    // Already in canonical order (sorted by name) and encoding.
    std::string query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
                        security::UriEncode(std::string(kKeyId) + "/" + scope, false) +
                        "&X-Amz-Date=" + amz_date + "&X-Amz-Expires=" + std::to_string(expires) +
                        "&X-Amz-SignedHeaders=host";
    HttpRequest request = S3Request("GET", "/landing/a.csv");
    std::string canonical = "GET\n/landing/a.csv\n" + query + "\nhost:localhost:4566\n\nhost\n" +
                            std::string(security::kUnsignedPayload);
    std::string signature = SignString(signer.Key("s3"), StringToSign(amz_date, scope, canonical));
    request.target = "/landing/a.csv?" + query + "&X-Amz-Signature=" + signature;
    return request;
  };
  HttpRequest fresh = presigned("20270115T082500Z", 600);
  ASSERT_EQ(Call(fresh).status, 200);
  ASSERT_EQ(s3_calls_.size(), 1u);
  s3_calls_.clear();
  HttpRequest expired = presigned("20270115T081000Z", 600);
  std::string message = S3Fails(Call(expired), 403, "AccessDenied");
  EXPECT_NE(message.find("expired"), std::string::npos) << message;
}

// A signed aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), framed as SDKs send it.
struct ChunkedUpload {
  HttpRequest request;
  std::vector<std::string> chunks;
};

ChunkedUpload SignedChunkedPut(const std::vector<std::string>& chunks, bool tamper) {
  Signer signer;
  ChunkedUpload upload;
  upload.chunks = chunks;
  upload.request = S3Request("PUT", "/landing/blob.bin");
  HttpRequest& request = upload.request;
  std::string decoded;
  for (const std::string& c : chunks) decoded += c;
  request.headers.emplace("Content-Encoding", "aws-chunked,gzip");
  request.headers.emplace("x-amz-content-sha256", std::string(security::kStreamingSignedPayload));
  request.headers.emplace("x-amz-decoded-content-length", std::to_string(decoded.size()));
  std::string previous =
      signer.Sign(request, "s3", "/landing/blob.bin", security::kStreamingSignedPayload);
  const SigningKey key = signer.Key("s3");
  std::vector<std::string> framed = chunks;
  framed.push_back("");
  for (const std::string& chunk : framed) {
    std::string signature = ChunkSignature(key, kAmzDate, signer.Scope("s3"), previous, chunk);
    char size[32];
    std::snprintf(size, sizeof(size), "%zx", chunk.size());
    std::string data = chunk;
    if (tamper && !data.empty()) data[0] ^= 1;
    request.body += std::string(size) + ";chunk-signature=" + signature + "\r\n" + data + "\r\n";
    previous = signature;
  }
  request.headers.emplace("Content-Length", std::to_string(request.body.size()));
  return upload;
}

TEST_F(AwsEndpointTest, S3ChunkedBodyIsDecodedBeforeS3SeesIt) {
  ChunkedUpload upload =
      SignedChunkedPut({std::string(70'000, 'a'), std::string(1'000, 'b')}, false);
  HttpResponse response = Call(upload.request);
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(s3_calls_.size(), 1u);
  EXPECT_EQ(s3_calls_[0].body, std::string(70'000, 'a') + std::string(1'000, 'b'));
  EXPECT_EQ(s3_calls_[0].content_encoding, "gzip");
  EXPECT_EQ(s3_calls_[0].content_length, "71000");
}

TEST_F(AwsEndpointTest, S3TamperedChunkIsRejected) {
  ChunkedUpload upload = SignedChunkedPut({"hello ", "world"}, true);
  S3Fails(Call(upload.request), 403, "SignatureDoesNotMatch");
}

HttpRequest UnsignedTrailerPut(const std::string& body) {
  HttpRequest request = S3Request("PUT", "/landing/t.txt", body);
  request.headers.emplace("Content-Encoding", "aws-chunked");
  request.headers.emplace("x-amz-content-sha256",
                          std::string(security::kStreamingUnsignedPayloadTrailer));
  request.headers.emplace("x-amz-trailer", "x-amz-checksum-crc32");
  request.headers.emplace("x-amz-decoded-content-length", "11");
  Signer().Sign(request, "s3", "/landing/t.txt", security::kStreamingUnsignedPayloadTrailer);
  return request;
}

TEST_F(AwsEndpointTest, S3UnsignedTrailerIsPassedOn) {
  HttpRequest request =
      UnsignedTrailerPut("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
  HttpResponse response = Call(request);
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(s3_calls_.size(), 1u);
  EXPECT_EQ(s3_calls_[0].body, "hello world");
  EXPECT_EQ(s3_calls_[0].content_encoding, "");
  EXPECT_EQ(s3_calls_[0].context.trailers,
            (std::map<std::string, std::string>{{"x-amz-checksum-crc32", "DUoRhQ=="}}));
}

TEST_F(AwsEndpointTest, S3UnsignedTrailerThatIsMalformedIsRejected) {
  HttpRequest bad_trailer =
      UnsignedTrailerPut("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32 DUoRhQ==\r\n\r\n");
  S3Fails(Call(bad_trailer), 400, "MalformedTrailerError");
  HttpRequest truncated = UnsignedTrailerPut("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:");
  S3Fails(Call(truncated), 400, "IncompleteBody");
  HttpRequest wrong_length = UnsignedTrailerPut("5\r\nhello\r\n0\r\n\r\n");
  HttpResponse response = Call(wrong_length);
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_TRUE(s3_calls_.empty());
}

TEST_F(AwsEndpointTest, S3WithoutAServiceIsNotImplemented) {
  AwsEndpointOptions options;
  options.keys = [](std::string_view) -> Result<std::optional<AwsCredential>> {
    return std::optional<AwsCredential>(AwsCredential{kSecret, "alice"});
  };
  options.authorizer = &authorizer_;
  options.clock = &clock_;
  AwsEndpoint bare(std::move(options));
  HttpRequest request = S3Request("GET", "/");
  request.headers.emplace("x-amz-content-sha256", security::kEmptySha256);
  Signer().Sign(request, "s3", "/", security::kEmptySha256);
  std::promise<HttpResponse> promise;
  bare.Handle(request, [&](HttpResponse r) { promise.set_value(std::move(r)); });
  HttpResponse response = promise.get_future().get();
  EXPECT_EQ(response.status, 501);
  EXPECT_EQ(XmlField(response.body, "Code"), "NotImplemented");
  // Kinesis targets without a Kinesis API are unknown operations.
  HttpRequest kinesis = KinesisRequest("ListStreams", "{}");
  Signer().Sign(kinesis, "kinesis", "/", Sha256Hex("{}"));
  std::promise<HttpResponse> kinesis_promise;
  bare.Handle(kinesis, [&](HttpResponse r) { kinesis_promise.set_value(std::move(r)); });
  HttpResponse kinesis_response = kinesis_promise.get_future().get();
  EXPECT_EQ(JsonField(kinesis_response.body, "__type"), "UnknownOperationException");
}

TEST_F(AwsEndpointTest, LargeBodiesAreVerifiedOnTheBlockingExecutor) {
  std::vector<std::thread> threads;
  std::atomic<int> posted{0};
  AwsEndpointOptions options;
  options.keys = [](std::string_view) -> Result<std::optional<AwsCredential>> {
    return std::optional<AwsCredential>(AwsCredential{kSecret, "alice"});
  };
  options.authorizer = &authorizer_;
  options.clock = &clock_;
  options.kinesis = kinesis_.get();
  options.run_blocking = [&](std::function<void()> task) {
    ++posted;
    threads.emplace_back(std::move(task));
  };
  options.inline_body_bytes = 1000;
  std::thread::id handled_on;
  options.s3.handle = [&](HttpRequest& request, const AwsRequestContext&, Responder respond) {
    handled_on = std::this_thread::get_id();
    HttpResponse response;
    response.body = std::to_string(request.body.size());
    respond(std::move(response));
  };
  AwsEndpoint endpoint(std::move(options));
  auto put = [&](size_t size) {
    ChunkedUpload upload = SignedChunkedPut({std::string(size, 'z')}, false);
    std::promise<HttpResponse> promise;
    endpoint.Handle(upload.request, [&](HttpResponse r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  };
  HttpResponse small = put(10);
  EXPECT_EQ(small.body, "10");
  EXPECT_EQ(posted, 0);
  EXPECT_EQ(handled_on, std::this_thread::get_id());
  HttpResponse large = put(5000);
  EXPECT_EQ(large.status, 200);
  EXPECT_EQ(large.body, "5000");
  EXPECT_EQ(posted, 1);
  EXPECT_NE(handled_on, std::this_thread::get_id());
  for (std::thread& t : threads) t.join();
}

// The wiring in cli renders S3 failures with S3Api::ErrorResponse: the same request id in the
// header and the document, and no body for HEAD.
TEST_F(AwsEndpointTest, S3FailuresUseTheS3ApiErrorDocument) {
  AwsEndpointOptions options;
  options.keys = [](std::string_view) -> Result<std::optional<AwsCredential>> {
    return std::optional<AwsCredential>(AwsCredential{kSecret, "alice"});
  };
  options.authorizer = &authorizer_;
  options.clock = &clock_;
  options.s3.error_response = &S3Api::ErrorResponse;
  AwsEndpoint endpoint(std::move(options));
  auto call = [&](HttpRequest& request) {
    std::promise<HttpResponse> promise;
    endpoint.Handle(request, [&](HttpResponse r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  };
  Signer wrong;
  wrong.secret = "not-the-secret-not-the-secret-not-the-se";
  HttpRequest get = S3Request("GET", "/landing/a.csv");
  get.headers.emplace("x-amz-content-sha256", security::kEmptySha256);
  wrong.Sign(get, "s3", "/landing/a.csv", security::kEmptySha256);
  HttpResponse response = call(get);
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(XmlField(response.body, "Code"), "SignatureDoesNotMatch") << response.body;
  EXPECT_TRUE(IsRequestId(HeaderOf(response, "x-amz-request-id")));
  EXPECT_EQ(XmlField(response.body, "RequestId"), HeaderOf(response, "x-amz-request-id"));
  HttpRequest head = S3Request("HEAD", "/landing/a.csv");
  HttpResponse head_response = call(head);
  EXPECT_EQ(head_response.status, 403);
  EXPECT_EQ(head_response.body, "");
}

TEST(AwsEndpointIds, RequestIdsAreSixteenUpperHexDigitsAndDiffer) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    std::string id = AwsEndpoint::NewRequestId();
    ASSERT_TRUE(IsRequestId(id)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace basin::api
