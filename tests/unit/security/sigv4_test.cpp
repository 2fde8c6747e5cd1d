// Negative and S3-profile tests of SigV4Verifier. Requests are signed with the same canonicaliser
// the AWS vectors prove (sigv4_vectors_test.cpp), so a failure here is the verifier's rules.

#include "security/sigv4.h"

#include <gtest/gtest.h>

#include <random>

#include "base/clock.h"
#include "base/hash.h"
#include "sigv4_test_util.h"

namespace basin::security {
namespace {

using testing::MicrosOf;
using testing::Presign;
using testing::SignWithHeader;
using testing::TestRequest;

constexpr char kKeyId[] = "AKIDEXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kAmzDate[] = "20261127T050000Z";
constexpr char kRegion[] = "us-east-1";

class SigV4S3Test : public ::testing::Test {
 protected:
  SigV4S3Test()
      : clock_(MicrosOf(kAmzDate)),
        verifier_(
            [](std::string_view key) -> std::optional<std::string> {
              if (key == kKeyId) return std::string(kSecret);
              return std::nullopt;
            },
            clock_) {}

  // A botocore-style PutObject with a hashed body.
  TestRequest PutObject(const std::string& body = "hello world") {
    TestRequest request;
    request.method = "PUT";
    request.target = "/bucket/dir%20with%20space/%C3%BC%2Bx%3D1%26y.txt";
    request.body = body;
    request.headers = {{"Host", "localhost:9000"},
                       {"X-Amz-Date", kAmzDate},
                       {"X-Amz-Content-SHA256", HexEncode(Sha256(body))},
                       {"Content-Length", std::to_string(body.size())}};
    return request;
  }

  std::string Sign(
      TestRequest& request,
      const std::string& signed_headers = "content-length;host;x-amz-content-sha256;x-amz-date",
      const std::string& secret = kSecret, const std::string& key_id = kKeyId,
      const std::string& amz_date = kAmzDate) {
    return SignWithHeader(request, verifier_, key_id, secret, amz_date, kRegion, "s3",
                          signed_headers);
  }

  void ExpectError(const TestRequest& request, const std::string& aws_error, ErrorCode code) {
    auto result = verifier_.Verify(request.View());
    ASSERT_FALSE(result.ok()) << "expected " << aws_error;
    EXPECT_EQ(result.error().aws_error, aws_error) << result.error().message;
    EXPECT_EQ(result.error().code, code) << result.error().message;
  }

  FakeClock clock_;
  SigV4Verifier verifier_;
};

TEST(SigV4Pieces, S3UriIsDecodedOnceAndReEncoded) {
  EXPECT_EQ(*CanonicalUri("/dir%20with%20space/%C3%BC+x=1&y.txt", UriMode::kS3),
            "/dir%20with%20space/%C3%BC%2Bx%3D1%26y.txt");
  EXPECT_EQ(*CanonicalUri("/a/./b//c/../d", UriMode::kS3), "/a/./b//c/../d");
  EXPECT_EQ(*CanonicalUri("", UriMode::kS3), "/");
  EXPECT_EQ(*CanonicalUri("/bucket/a%2Fb%2fc", UriMode::kS3), "/bucket/a%2Fb%2Fc");
  EXPECT_EQ(*CanonicalUri("/bucket/%7euser%41", UriMode::kS3), "/bucket/~userA");
  EXPECT_FALSE(CanonicalUri("/bad%2", UriMode::kS3).has_value());
  EXPECT_FALSE(CanonicalUri("/bad%zz", UriMode::kS3).has_value());
}

TEST(SigV4Pieces, NormalizedUriIsDoubleEncoded) {
  EXPECT_EQ(*CanonicalUri("/a%20b", UriMode::kNormalized), "/a%2520b");
  EXPECT_EQ(*CanonicalUri("/a/./b//c/../d/", UriMode::kNormalized), "/a/b/d/");
  EXPECT_EQ(*CanonicalUri("", UriMode::kNormalized), "/");
}

TEST(SigV4Pieces, QueryIsSortedAndStrictlyEncoded) {
  EXPECT_EQ(*CanonicalQuery("list-type=2&prefix=&delimiter=%2F&encoding-type=url", false),
            "delimiter=%2F&encoding-type=url&list-type=2&prefix=");
  EXPECT_EQ(*CanonicalQuery("b=2&a=x y&a=1&uploads", false), "a=1&a=x%20y&b=2&uploads=");
  EXPECT_EQ(*CanonicalQuery("X-Amz-Signature=abc&a=1", true), "a=1");
  EXPECT_FALSE(CanonicalQuery("a=%G1", false).has_value());
}

TEST(SigV4Pieces, HeaderValuesTrimmedAndCollapsed) {
  EXPECT_EQ(CanonicalHeaderValue("  a   b \t c  "), "a b c");
  EXPECT_EQ(CanonicalHeaderValue(""), "");
}

TEST(SigV4Pieces, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(SigV4Pieces, AmzDate) {
  EXPECT_EQ(*ParseAmzDate("20150830T123600Z"), 1440938160);
  EXPECT_FALSE(ParseAmzDate("20150830T123600").has_value());
  EXPECT_FALSE(ParseAmzDate("2015-08-30T12:36:00Z").has_value());
  EXPECT_FALSE(ParseAmzDate("20151330T123600Z").has_value());
}

TEST_F(SigV4S3Test, AcceptsSignedPutAndExposesPrincipal) {
  TestRequest request = PutObject();
  std::string signature = Sign(request);
  auto result = verifier_.Verify(request.View());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->access_key_id, kKeyId);
  EXPECT_EQ(result->region, kRegion);
  EXPECT_EQ(result->service, "s3");
  EXPECT_EQ(result->date, "20261127");
  EXPECT_EQ(result->seed_signature, signature);
  EXPECT_EQ(result->payload_mode, PayloadMode::kHashed);
  EXPECT_FALSE(result->presigned);
  // A second verification uses the cached signing key and still agrees.
  EXPECT_TRUE(verifier_.Verify(request.View()).ok());
}

TEST_F(SigV4S3Test, AuthorizationWithoutSpacesAfterCommas) {
  TestRequest request = PutObject();
  std::string signature = Sign(request);
  request.SetHeader("Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/"
                    "s3/aws4_request,SignedHeaders=content-length;host;"
                    "x-amz-content-sha256;x-amz-date,Signature=" +
                        signature);
  EXPECT_TRUE(verifier_.Verify(request.View()).ok());
}

TEST_F(SigV4S3Test, WrongSecret) {
  TestRequest request = PutObject();
  Sign(request, "content-length;host;x-amz-content-sha256;x-amz-date", "not-the-secret");
  ExpectError(request, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
}

TEST_F(SigV4S3Test, RotatedSecretDoesNotReuseCachedKey) {
  std::string secret = kSecret;
  SigV4Verifier verifier([&secret](std::string_view) { return std::optional(secret); }, clock_);
  TestRequest request = PutObject();
  Sign(request);
  EXPECT_TRUE(verifier.Verify(request.View()).ok());
  secret = "rotated";
  EXPECT_FALSE(verifier.Verify(request.View()).ok());
}

TEST_F(SigV4S3Test, UnknownKeyId) {
  TestRequest request = PutObject();
  Sign(request, "content-length;host;x-amz-content-sha256;x-amz-date", kSecret, "AKIDUNKNOWN");
  ExpectError(request, "InvalidAccessKeyId", ErrorCode::kUnauthenticated);
}

TEST_F(SigV4S3Test, ClockSkewBeyondFifteenMinutesEitherWay) {
  TestRequest request = PutObject();
  Sign(request);
  clock_.Set(MicrosOf(kAmzDate) + 15 * 60 * 1'000'000LL);
  EXPECT_TRUE(verifier_.Verify(request.View()).ok());
  clock_.Set(MicrosOf(kAmzDate) + (15 * 60 + 1) * 1'000'000LL);
  ExpectError(request, "RequestTimeTooSkewed", ErrorCode::kUnauthenticated);
  clock_.Set(MicrosOf(kAmzDate) - (15 * 60 + 1) * 1'000'000LL);
  ExpectError(request, "RequestTimeTooSkewed", ErrorCode::kUnauthenticated);
}

TEST_F(SigV4S3Test, StaleDateOnEveryPayloadMode) {
  for (std::string_view mode : {std::string_view("UNSIGNED-PAYLOAD"), kStreamingSignedPayload,
                                kStreamingSignedPayloadTrailer, kStreamingUnsignedPayloadTrailer,
                                std::string_view("hashed")}) {
    SCOPED_TRACE(mode);
    TestRequest request = PutObject();
    if (mode != "hashed") request.SetHeader("X-Amz-Content-SHA256", std::string(mode));
    Sign(request);
    clock_.Set(MicrosOf(kAmzDate));
    EXPECT_TRUE(verifier_.Verify(request.View()).ok());
    clock_.Set(MicrosOf(kAmzDate) + 3600 * 1'000'000LL);
    ExpectError(request, "RequestTimeTooSkewed", ErrorCode::kUnauthenticated);
    clock_.Set(MicrosOf(kAmzDate));
  }
}

TEST_F(SigV4S3Test, BodyHashMismatch) {
  TestRequest request = PutObject("original body");
  Sign(request);
  request.body = "tampered body";
  ExpectError(request, "XAmzContentSHA256Mismatch", ErrorCode::kInvalidArgument);
  // Without the body the caller checks later; the signature itself is fine.
  request.include_body = false;
  EXPECT_TRUE(verifier_.Verify(request.View()).ok());
}

TEST_F(SigV4S3Test, ContentSha256IsRequiredAndMustBeValid) {
  TestRequest request = PutObject();
  request.RemoveHeader("X-Amz-Content-SHA256");
  Sign(request, "content-length;host;x-amz-date");
  ExpectError(request, "InvalidRequest", ErrorCode::kInvalidArgument);
  request = PutObject();
  request.SetHeader("X-Amz-Content-SHA256", "not-a-hash");
  Sign(request);
  ExpectError(request, "InvalidArgument", ErrorCode::kInvalidArgument);
}

TEST_F(SigV4S3Test, HostMustBeSigned) {
  TestRequest request = PutObject();
  Sign(request, "content-length;x-amz-content-sha256;x-amz-date");
  ExpectError(request, "AuthorizationHeaderMalformed", ErrorCode::kInvalidArgument);
}

TEST_F(SigV4S3Test, UnsignedAmzHeaderIsRejected) {
  TestRequest request = PutObject();
  request.headers.emplace_back("x-amz-meta-owner", "alice");
  Sign(request);
  ExpectError(request, "AccessDenied", ErrorCode::kAccessDenied);
}

TEST_F(SigV4S3Test, TamperedRequestParts) {
  TestRequest request = PutObject();
  Sign(request);
  TestRequest tampered = request;
  tampered.target = "/bucket/other.txt";
  ExpectError(tampered, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
  tampered = request;
  tampered.method = "DELETE";
  ExpectError(tampered, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
  tampered = request;
  tampered.SetHeader("Host", "evil.example.com");
  ExpectError(tampered, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
  tampered = request;
  tampered.target += "?acl=";
  ExpectError(tampered, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
}

TEST_F(SigV4S3Test, TamperedQuery) {
  TestRequest request = PutObject();
  request.method = "GET";
  request.target = "/bucket?list-type=2&prefix=a";
  Sign(request);
  EXPECT_TRUE(verifier_.Verify(request.View()).ok());
  request.target = "/bucket?list-type=2&prefix=b";
  ExpectError(request, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
}

TEST_F(SigV4S3Test, MalformedAuthorizationHeaders) {
  const std::string good_credential = "Credential=AKIDEXAMPLE/20261127/us-east-1/s3/aws4_request";
  const std::string good_headers = "SignedHeaders=host;x-amz-content-sha256;x-amz-date";
  const std::string good_signature = std::string("Signature=") + testing::kZeroSignature;
  const std::vector<std::string> variants = {
      "AWS4-HMAC-SHA256",
      "AWS4-HMAC-SHA256 ",
      "AWS4-HMAC-SHA1 " + good_credential + ", " + good_headers + ", " + good_signature,
      "AWS4-HMAC-SHA256" + good_credential,
      "AWS4-HMAC-SHA256 " + good_headers + ", " + good_signature,
      "AWS4-HMAC-SHA256 " + good_credential + ", " + good_signature,
      "AWS4-HMAC-SHA256 " + good_credential + ", " + good_headers,
      "AWS4-HMAC-SHA256 " + good_credential + ", " + good_credential + ", " + good_headers + ", " +
          good_signature,
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/s3, " + good_headers + ", " +
          good_signature,
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2026112/us-east-1/s3/aws4_request, " + good_headers +
          ", " + good_signature,
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/s3/aws5_request, " +
          good_headers + ", " + good_signature,
      "AWS4-HMAC-SHA256 Credential=/20261127/us-east-1/s3/aws4_request, " + good_headers + ", " +
          good_signature,
      // Credential date differs from X-Amz-Date.
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/s3/aws4_request, " +
          good_headers + ", " + good_signature,
      "AWS4-HMAC-SHA256 " + good_credential + ", " + good_headers + ", Signature=abc",
      "AWS4-HMAC-SHA256 " + good_credential + ", " + good_headers +
          ", Signature=" + std::string(64, 'G'),
      "AWS4-HMAC-SHA256 " + good_credential + ", SignedHeaders=host;;x-amz-date, " + good_signature,
      "AWS4-HMAC-SHA256 " + good_credential + ", Bogus, " + good_headers + ", " + good_signature,
      "AWS4-HMAC-SHA256 " + good_credential + ", Extra=1, " + good_headers + ", " + good_signature,
      "AWS abc:def",
  };
  for (const std::string& authorization : variants) {
    SCOPED_TRACE(authorization);
    TestRequest request = PutObject();
    request.RemoveHeader("Content-Length");
    request.SetHeader("Authorization", authorization);
    ExpectError(request, "AuthorizationHeaderMalformed", ErrorCode::kInvalidArgument);
  }
}

TEST_F(SigV4S3Test, MissingDateAndMissingAuthentication) {
  TestRequest request = PutObject();
  Sign(request);
  request.RemoveHeader("X-Amz-Date");
  auto result = verifier_.Verify(request.View());
  ASSERT_FALSE(result.ok());
  request.RemoveHeader("Authorization");
  ExpectError(request, "MissingAuthenticationToken", ErrorCode::kUnauthenticated);
}

TEST_F(SigV4S3Test, DateHeaderFallback) {
  TestRequest request = PutObject();
  request.RemoveHeader("X-Amz-Date");
  request.SetHeader("Date", "Fri, 27 Nov 2026 05:00:00 GMT");
  Sign(request, "content-length;date;host;x-amz-content-sha256");
  auto result = verifier_.Verify(request.View());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->amz_date, kAmzDate);
  for (const char* bad :
       {"garbage", "Fri, 27 Nov 2026 05:00:00 UTC", "Fri, 27 Foo 2026 05:00:00 GMT",
        "Fri, 27 Nov 2026 5:00 GMT", "Fri, 27 Nov 2026 25:00:00 GMT"}) {
    SCOPED_TRACE(bad);
    request.SetHeader("Date", bad);
    ExpectError(request, "AccessDenied", ErrorCode::kAccessDenied);
  }
}

TEST_F(SigV4S3Test, PresignedGetIsAcceptedUntilExpiry) {
  TestRequest request;
  request.target = "/bucket/key.txt";
  request.headers = {{"Host", "localhost:9000"}};
  Presign(request, verifier_, kKeyId, kSecret, kAmzDate, kRegion, "s3", "3600");
  auto result = verifier_.Verify(request.View());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->presigned);
  EXPECT_EQ(result->payload_mode, PayloadMode::kUnsigned);
  clock_.Set(MicrosOf(kAmzDate) + 3600 * 1'000'000LL);
  EXPECT_TRUE(verifier_.Verify(request.View()).ok());
  clock_.Set(MicrosOf(kAmzDate) + 3601 * 1'000'000LL);
  ExpectError(request, "AccessDenied", ErrorCode::kAccessDenied);
  clock_.Set(MicrosOf(kAmzDate) - 3600 * 1'000'000LL);
  ExpectError(request, "AccessDenied", ErrorCode::kAccessDenied);
}

TEST_F(SigV4S3Test, PresignedExpiryLimits) {
  for (const char* expires : {"604800", "604801", "0", "-1", "abc", "99999999999999999999"}) {
    SCOPED_TRACE(expires);
    TestRequest request;
    request.target = "/bucket/key.txt";
    request.headers = {{"Host", "localhost:9000"}};
    Presign(request, verifier_, kKeyId, kSecret, kAmzDate, kRegion, "s3", expires);
    if (std::string_view(expires) == "604800") {
      EXPECT_TRUE(verifier_.Verify(request.View()).ok());
    } else {
      ExpectError(request, "AuthorizationQueryParametersError", ErrorCode::kInvalidArgument);
    }
  }
}

TEST_F(SigV4S3Test, PresignedTamperedQueryAndMissingParameters) {
  TestRequest request;
  request.target = "/bucket/key.txt?versionId=1";
  request.headers = {{"Host", "localhost:9000"}};
  Presign(request, verifier_, kKeyId, kSecret, kAmzDate, kRegion, "s3", "3600");
  ASSERT_TRUE(verifier_.Verify(request.View()).ok());
  TestRequest tampered = request;
  tampered.target.replace(tampered.target.find("versionId=1"), 11, "versionId=2");
  ExpectError(tampered, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
  tampered = request;
  tampered.target.replace(tampered.target.find("X-Amz-Expires=3600"), 18, "X-Amz-Expires=7200");
  ExpectError(tampered, "SignatureDoesNotMatch", ErrorCode::kUnauthenticated);
  tampered = request;
  tampered.target.replace(tampered.target.find("&X-Amz-Date="), 12, "&X-Amz-Dati=");
  ExpectError(tampered, "AuthorizationQueryParametersError", ErrorCode::kInvalidArgument);
  tampered = request;
  tampered.target.replace(tampered.target.find("X-Amz-Algorithm=AWS4-HMAC-SHA256"), 32,
                          "X-Amz-Algorithm=AWS4-HMAC-SHA1");
  ExpectError(tampered, "AuthorizationQueryParametersError", ErrorCode::kInvalidArgument);
}

TEST_F(SigV4S3Test, PresignedHostMustBeSigned) {
  TestRequest request;
  request.target = "/bucket/key.txt";
  request.headers = {{"Host", "localhost:9000"}, {"Range", "bytes=0-1"}};
  Presign(request, verifier_, kKeyId, kSecret, kAmzDate, kRegion, "s3", "3600", "range");
  ExpectError(request, "AuthorizationQueryParametersError", ErrorCode::kInvalidArgument);
}

TEST_F(SigV4S3Test, HeaderAndQueryAuthTogetherIsAnError) {
  TestRequest request;
  request.target = "/bucket/key.txt";
  request.headers = {{"Host", "localhost:9000"}};
  Presign(request, verifier_, kKeyId, kSecret, kAmzDate, kRegion, "s3", "3600");
  request.SetHeader("Authorization", "AWS4-HMAC-SHA256 Credential=x");
  ExpectError(request, "InvalidArgument", ErrorCode::kInvalidArgument);
}

TEST_F(SigV4S3Test, ExpectedRegionAndService) {
  SigV4Options options;
  options.expected_region = "eu-west-1";
  SigV4Verifier verifier([](std::string_view) { return std::optional<std::string>(kSecret); },
                         clock_, options);
  TestRequest request = PutObject();
  Sign(request);
  auto result = verifier.Verify(request.View());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "AuthorizationHeaderMalformed");
}

// Random Authorization headers, query strings and dates must be rejected with a named error,
// never crash or be accepted (run under ASan/UBSan in CI).
TEST_F(SigV4S3Test, GarbageFuzz) {
  std::mt19937 rng(777);
  const std::string alphabet =
      "AWS4-HMAC-SHA256 Credential=/,;SignedHeaders=host%2Fx-amz-date"
      "Signature=0123456789abcdef&?=X-Amz-Expires\t\r\n\xff";
  TestRequest valid = PutObject();
  Sign(valid);
  TestRequest presigned;
  presigned.target = "/bucket/key.txt";
  presigned.headers = {{"Host", "localhost:9000"}};
  Presign(presigned, verifier_, kKeyId, kSecret, kAmzDate, kRegion, "s3", "3600");
  for (int i = 0; i < 5000; ++i) {
    TestRequest request = (i % 2 == 0) ? valid : presigned;
    std::string* field = (i % 2 == 0) ? &request.headers.back().second : &request.target;
    for (auto& [name, value] : request.headers) {
      if (name == "Authorization") field = &value;
    }
    if (i % 4 == 2) field = &request.headers[1].second;  // X-Amz-Date
    if (i % 4 == 3) field = &request.headers[0].second;  // Host
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = field->empty() ? 0 : rng() % field->size();
      char c = (rng() % 2) ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() & 0xFF);
      switch (rng() % 3) {
        case 0:
          if (!field->empty()) (*field)[at] = c;
          break;
        case 1:
          if (!field->empty()) field->erase(at, 1 + rng() % 8);
          break;
        default: field->insert(at, 1, c); break;
      }
    }
    auto result = verifier_.Verify(request.View());
    if (!result.ok()) {
      EXPECT_FALSE(result.error().aws_error.empty());
    }
  }
}

TEST(SigV4Generic, KinesisStyleBodyHashIsSigned) {
  FakeClock clock(MicrosOf(kAmzDate));
  SigV4Options options;
  options.uri_mode = UriMode::kNormalized;
  options.s3_payload_rules = false;
  SigV4Verifier verifier([](std::string_view) { return std::optional<std::string>(kSecret); },
                         clock, options);
  TestRequest request;
  request.method = "POST";
  request.target = "/";
  request.body = R"({"StreamName":"s","Data":"eA==","PartitionKey":"p"})";
  request.headers = {{"Host", "kinesis.us-east-1.amazonaws.com"},
                     {"X-Amz-Date", kAmzDate},
                     {"X-Amz-Target", "Kinesis_20131202.PutRecord"},
                     {"Content-Type", "application/x-amz-json-1.1"}};
  SignWithHeader(request, verifier, kKeyId, kSecret, kAmzDate, kRegion, "kinesis",
                 "content-type;host;x-amz-date;x-amz-target");
  ASSERT_TRUE(verifier.Verify(request.View()).ok());
  request.body += " ";
  auto result = verifier.Verify(request.View());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "SignatureDoesNotMatch");
}

}  // namespace
}  // namespace basin::security
