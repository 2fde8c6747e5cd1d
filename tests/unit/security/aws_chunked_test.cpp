#include "security/aws_chunked.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "base/clock.h"
#include "base/hash.h"
#include "sigv4_test_util.h"

namespace basin::security {
namespace {

using testing::MicrosOf;
using testing::TestRequest;

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%llx", static_cast<unsigned long long>(value));
  return buffer;
}

// Encodes `chunks` (the last should be empty) the way an SDK does, signing with the same chain
// the decoder verifies.
std::string EncodeChunked(const std::vector<std::string>& chunks, ChunkedMode mode,
                          const StreamingSigningContext& signing,
                          const std::vector<std::pair<std::string, std::string>>& trailers = {}) {
  std::string out;
  std::string previous = signing.seed_signature;
  for (const std::string& chunk : chunks) {
    out += Hex(chunk.size());
    if (mode != ChunkedMode::kUnsignedTrailer) {
      previous =
          ChunkSignature(signing.signing_key, signing.amz_date, signing.scope, previous, chunk);
      out += ";chunk-signature=" + previous;
    }
    out += "\r\n" + chunk;
    if (!chunk.empty()) out += "\r\n";
  }
  for (const auto& [name, value] : trailers) out += name + ":" + value + "\r\n";
  if (mode == ChunkedMode::kSignedTrailer) {
    out += "x-amz-trailer-signature:" +
           TrailerSignature(signing.signing_key, signing.amz_date, signing.scope, previous,
                            CanonicalTrailers(trailers)) +
           "\r\n";
  }
  out += "\r\n";
  return out;
}

StreamingSigningContext TestContext() {
  StreamingSigningContext context;
  context.signing_key = DeriveSigningKey("secret", "20261127", "us-east-1", "s3");
  context.amz_date = "20261127T050000Z";
  context.scope = CredentialScope("20261127", "us-east-1", "s3");
  context.seed_signature = std::string(64, 'a');
  return context;
}

// The example of the S3 docs (sigv4-streaming.html): the seed signature of the PUT, then the
// signatures of its 64 KiB, 1 KiB and final chunks. Reproducing the seed from the documented
// request also exercises the verifier end to end on a STREAMING request.
TEST(AwsChunkedKnownVector, S3DocumentationExample) {
  FakeClock clock(MicrosOf("20130524T000000Z"));
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  SigV4Verifier verifier([&](std::string_view) { return std::optional(secret); }, clock);
  TestRequest request;
  request.method = "PUT";
  request.target = "/examplebucket/chunkObject.txt";
  request.include_body = false;
  request.headers = {
      {"Host", "s3.amazonaws.com"},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
       "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
       "x-amz-decoded-content-length;x-amz-storage-class,"
       "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"},
      {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
      {"Content-Encoding", "aws-chunked"},
      {"x-amz-decoded-content-length", "66560"},
      {"Content-Length", "66824"}};
  auto principal = verifier.Verify(request.View());
  ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  EXPECT_EQ(principal->payload_mode, PayloadMode::kStreamingSigned);
  ASSERT_EQ(ChunkedModeFor(principal->payload_mode), ChunkedMode::kSigned);

  StreamingSigningContext context = StreamingSigningContext::FromPrincipal(*principal);
  std::string sig1 = ChunkSignature(context.signing_key, context.amz_date, context.scope,
                                    context.seed_signature, std::string(65536, 'a'));
  EXPECT_EQ(sig1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
  std::string sig2 = ChunkSignature(context.signing_key, context.amz_date, context.scope, sig1,
                                    std::string(1024, 'a'));
  EXPECT_EQ(sig2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
  std::string sig3 = ChunkSignature(context.signing_key, context.amz_date, context.scope, sig2, "");
  EXPECT_EQ(sig3, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");

  std::string body = EncodeChunked({std::string(65536, 'a'), std::string(1024, 'a'), ""},
                                   ChunkedMode::kSigned, context);
  EXPECT_EQ(body.size(), 66824u);  // the documented Content-Length
  auto decoded = DecodeAwsChunked(body, ChunkedMode::kSigned, &context, {}, 66560);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->payload, std::string(66560, 'a'));
}

// A header-signed S3 PUT in each streaming mode, verified and then its body decoded from the
// principal, as the S3 front end will do it.
TEST(AwsChunked, StreamingRequestsEndToEnd) {
  const std::string amz_date = "20261127T050000Z";
  FakeClock clock(MicrosOf(amz_date));
  SigV4Verifier verifier([](std::string_view) { return std::optional<std::string>("secret"); },
                         clock);
  const std::vector<std::pair<std::string, std::string>> trailers = {
      {"x-amz-checksum-crc32", "NSRBwg=="}};
  for (auto [header, mode] :
       {std::pair{kStreamingSignedPayload, ChunkedMode::kSigned},
        std::pair{kStreamingSignedPayloadTrailer, ChunkedMode::kSignedTrailer},
        std::pair{kStreamingUnsignedPayloadTrailer, ChunkedMode::kUnsignedTrailer}}) {
    SCOPED_TRACE(header);
    TestRequest request;
    request.method = "PUT";
    request.target = "/bucket/key";
    request.include_body = false;
    request.headers = {{"Host", "localhost:9000"},
                       {"X-Amz-Date", amz_date},
                       {"X-Amz-Content-SHA256", std::string(header)},
                       {"Content-Encoding", "aws-chunked"},
                       {"X-Amz-Decoded-Content-Length", "11"}};
    testing::SignWithHeader(request, verifier, "AKID", "secret", amz_date, "us-east-1", "s3",
                            "content-encoding;host;x-amz-content-sha256;x-amz-date;"
                            "x-amz-decoded-content-length");
    auto principal = verifier.Verify(request.View());
    ASSERT_TRUE(principal.ok()) << principal.status().ToString();
    ASSERT_EQ(ChunkedModeFor(principal->payload_mode), mode);
    StreamingSigningContext context = StreamingSigningContext::FromPrincipal(*principal);
    std::string body = EncodeChunked({"hello ", "world", ""}, mode, context,
                                     mode == ChunkedMode::kSigned
                                         ? std::vector<std::pair<std::string, std::string>>{}
                                         : trailers);
    auto decoded = DecodeAwsChunked(body, mode, &context, {}, 11);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->payload, "hello world");
    // The same body under another request's seed fails in the signed modes.
    StreamingSigningContext other = context;
    other.seed_signature = std::string(64, 'c');
    EXPECT_EQ(DecodeAwsChunked(body, mode, &other).ok(), mode == ChunkedMode::kUnsignedTrailer);
  }
}

TEST(AwsChunked, SignedRoundTrip) {
  StreamingSigningContext context = TestContext();
  std::string body = EncodeChunked({"hello ", "world", ""}, ChunkedMode::kSigned, context);
  auto decoded = DecodeAwsChunked(body, ChunkedMode::kSigned, &context, {}, 11);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->payload, "hello world");
  EXPECT_TRUE(decoded->trailers.empty());
}

TEST(AwsChunked, SignedTrailerRoundTrip) {
  StreamingSigningContext context = TestContext();
  std::string body = EncodeChunked({"abc", ""}, ChunkedMode::kSignedTrailer, context,
                                   {{"x-amz-checksum-crc32", "NSRBwg=="}});
  auto decoded = DecodeAwsChunked(body, ChunkedMode::kSignedTrailer, &context);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->payload, "abc");
  ASSERT_EQ(decoded->trailers.size(), 1u);
  EXPECT_EQ(decoded->trailers[0].first, "x-amz-checksum-crc32");
  EXPECT_EQ(decoded->trailers[0].second, "NSRBwg==");

  // A changed trailer value or trailer signature fails.
  std::string tampered = body;
  tampered.replace(tampered.find("NSRBwg=="), 8, "AAAAAA==");
  auto result = DecodeAwsChunked(tampered, ChunkedMode::kSignedTrailer, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "SignatureDoesNotMatch");
  tampered = body;
  size_t sig = tampered.find("x-amz-trailer-signature:") + 24;
  tampered[sig] = tampered[sig] == '0' ? '1' : '0';
  result = DecodeAwsChunked(tampered, ChunkedMode::kSignedTrailer, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "SignatureDoesNotMatch");
  // Dropping the trailer signature fails.
  tampered = body;
  size_t line = tampered.find("x-amz-trailer-signature:");
  tampered.erase(line, tampered.find("\r\n", line) + 2 - line);
  result = DecodeAwsChunked(tampered, ChunkedMode::kSignedTrailer, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "MalformedTrailerError");
}

TEST(AwsChunked, UnsignedTrailer) {
  std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: DUoRhQ== \r\n\r\n";
  auto decoded = DecodeAwsChunked(body, ChunkedMode::kUnsignedTrailer, nullptr, {}, 11);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->payload, "hello world");
  ASSERT_EQ(decoded->trailers.size(), 1u);
  EXPECT_EQ(decoded->trailers[0].second, "DUoRhQ==");
  // Wrong decoded length.
  auto wrong = DecodeAwsChunked(body, ChunkedMode::kUnsignedTrailer, nullptr, {}, 12);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().aws_error, "IncompleteBody");
}

TEST(AwsChunked, TamperedChunkBodyAndSignature) {
  StreamingSigningContext context = TestContext();
  std::string body = EncodeChunked({"hello ", "world", ""}, ChunkedMode::kSigned, context);
  std::string tampered = body;
  tampered.replace(tampered.find("world"), 5, "WORLD");
  auto result = DecodeAwsChunked(tampered, ChunkedMode::kSigned, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "SignatureDoesNotMatch");
  EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);

  tampered = body;
  size_t sig = tampered.find("chunk-signature=") + 16;
  tampered[sig] = tampered[sig] == '0' ? '1' : '0';
  result = DecodeAwsChunked(tampered, ChunkedMode::kSigned, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "SignatureDoesNotMatch");

  // A different seed (another request's signature) breaks the chain at the first chunk.
  StreamingSigningContext other = context;
  other.seed_signature = std::string(64, 'b');
  result = DecodeAwsChunked(body, ChunkedMode::kSigned, &other);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "SignatureDoesNotMatch");

  // Reordered chunks break the chain.
  std::string reordered = EncodeChunked({"world", "hello ", ""}, ChunkedMode::kSigned, context);
  auto decoded = DecodeAwsChunked(reordered, ChunkedMode::kSigned, &context);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->payload, "worldhello ");  // (re-signed in that order, so valid)

  // A signed stream without chunk signatures is rejected.
  result = DecodeAwsChunked("5\r\nhello\r\n0\r\n\r\n", ChunkedMode::kSigned, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "InvalidChunkSizeError");
}

TEST(AwsChunked, EveryTruncationFails) {
  StreamingSigningContext context = TestContext();
  for (ChunkedMode mode :
       {ChunkedMode::kSigned, ChunkedMode::kSignedTrailer, ChunkedMode::kUnsignedTrailer}) {
    std::vector<std::pair<std::string, std::string>> trailers;
    if (mode != ChunkedMode::kSigned) trailers = {{"x-amz-checksum-crc32", "NSRBwg=="}};
    std::string body = EncodeChunked({"hello ", "world", ""}, mode, context, trailers);
    ASSERT_TRUE(DecodeAwsChunked(body, mode, &context).ok());
    for (size_t length = 0; length < body.size(); ++length) {
      auto result = DecodeAwsChunked(std::string_view(body).substr(0, length), mode, &context);
      EXPECT_FALSE(result.ok()) << "accepted a body truncated to " << length << " bytes";
    }
    auto extra = DecodeAwsChunked(body + "x", mode, &context);
    EXPECT_FALSE(extra.ok());
  }
}

TEST(AwsChunked, Limits) {
  StreamingSigningContext context = TestContext();
  AwsChunkedLimits limits;
  limits.max_chunk_size = 8;
  limits.max_decoded_size = 10;
  std::string body = EncodeChunked({"0123456789", ""}, ChunkedMode::kSigned, context);
  auto result = DecodeAwsChunked(body, ChunkedMode::kSigned, &context, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "EntityTooLarge");
  body = EncodeChunked({"0123456", "0123456", ""}, ChunkedMode::kSigned, context);
  result = DecodeAwsChunked(body, ChunkedMode::kSigned, &context, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "EntityTooLarge");
  result = DecodeAwsChunked(body, ChunkedMode::kSigned, &context, {}, uint64_t{1} << 40);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kPayloadTooLarge);

  // Huge declared size with no data: rejected on the size, not by reading past the end.
  result = DecodeAwsChunked("ffffffffffffffff\r\n", ChunkedMode::kUnsignedTrailer, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "EntityTooLarge");
  result = DecodeAwsChunked("fffffffffffffffff\r\n", ChunkedMode::kUnsignedTrailer, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "InvalidChunkSizeError");

  // Oversize chunk header (no CRLF within the limit).
  std::string long_header = "5;" + std::string(1000, 'x') + "\r\nhello\r\n0\r\n\r\n";
  result = DecodeAwsChunked(long_header, ChunkedMode::kUnsignedTrailer, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "InvalidChunkSizeError");

  // Oversize trailers.
  AwsChunkedLimits trailer_limits;
  trailer_limits.max_trailer_size = 64;
  std::string big_trailers = "0\r\nx-amz-checksum-crc32:" + std::string(100, 'A') + "\r\n\r\n";
  result = DecodeAwsChunked(big_trailers, ChunkedMode::kUnsignedTrailer, nullptr, trailer_limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "MalformedTrailerError");
}

TEST(AwsChunked, MalformedFraming) {
  const std::vector<std::string> bodies = {
      "",
      "\r\n",
      "zz\r\nhello\r\n0\r\n\r\n",
      "-5\r\nhello\r\n0\r\n\r\n",
      "5\r\nhelloXX0\r\n\r\n",
      "5\r\nhello\r\n0\r\nno-colon-trailer\r\n\r\n",
      "5\r\nhello\r\n0\r\n:empty-name\r\n\r\n",
      "5\r\nhello\r\n0\r\nx-amz-trailer-signature:abc\r\n\r\n",
      "5\r\nhello\r\n0\r\n\r\ntrailing",
      "5\nhello\n0\n\n",
  };
  for (const std::string& body : bodies) {
    SCOPED_TRACE(body);
    auto result = DecodeAwsChunked(body, ChunkedMode::kUnsignedTrailer, nullptr);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code == ErrorCode::kMalformedBody ||
                  result.error().code == ErrorCode::kPayloadTooLarge,
              true);
  }
  // Trailers in a mode without trailers.
  StreamingSigningContext context = TestContext();
  std::string body = EncodeChunked({"abc", ""}, ChunkedMode::kSigned, context);
  body.insert(body.size() - 2, "x-amz-checksum-crc32:AAAA\r\n");
  auto result = DecodeAwsChunked(body, ChunkedMode::kSigned, &context);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().aws_error, "MalformedTrailerError");
  // Signed mode needs a signing context.
  result = DecodeAwsChunked(body, ChunkedMode::kSigned, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kInternal);
}

// Random bytes, and random mutations of valid bodies, must be rejected or decoded, never crash
// (run under ASan/UBSan in CI).
TEST(AwsChunked, GarbageFuzz) {
  StreamingSigningContext context = TestContext();
  std::mt19937 rng(12345);
  const std::string alphabet = "0123456789abcdef;=\r\n:x-chunksignature ";
  std::vector<std::string> seeds;
  for (ChunkedMode mode :
       {ChunkedMode::kSigned, ChunkedMode::kSignedTrailer, ChunkedMode::kUnsignedTrailer}) {
    seeds.push_back(EncodeChunked({"hello ", "world", ""}, mode, context,
                                  mode == ChunkedMode::kSigned
                                      ? std::vector<std::pair<std::string, std::string>>{}
                                      : std::vector<std::pair<std::string, std::string>>{
                                            {"x-amz-checksum-crc32", "NSRBwg=="}}));
  }
  AwsChunkedLimits limits;
  limits.max_chunk_size = 1 << 16;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body;
    switch (i % 3) {
      case 0: {  // pure random bytes
        size_t size = rng() % 200;
        for (size_t j = 0; j < size; ++j) body.push_back(static_cast<char>(rng() & 0xFF));
        break;
      }
      case 1: {  // random framing-ish characters
        size_t size = rng() % 200;
        for (size_t j = 0; j < size; ++j) body.push_back(alphabet[rng() % alphabet.size()]);
        break;
      }
      default: {  // a valid body with a few bytes flipped, inserted or removed
        body = seeds[rng() % seeds.size()];
        int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits && !body.empty(); ++e) {
          size_t at = rng() % body.size();
          switch (rng() % 3) {
            case 0: body[at] = static_cast<char>(rng() & 0xFF); break;
            case 1: body.erase(at, 1); break;
            default: body.insert(at, 1, static_cast<char>(rng() & 0xFF)); break;
          }
        }
      }
    }
    for (ChunkedMode mode :
         {ChunkedMode::kSigned, ChunkedMode::kSignedTrailer, ChunkedMode::kUnsignedTrailer}) {
      auto result = DecodeAwsChunked(body, mode, &context, limits);
      if (result.ok()) {
        ++accepted;
      } else {
        EXPECT_FALSE(result.error().aws_error.empty());
      }
    }
  }
  // Mutations may hit trailer whitespace or unsigned data and stay valid; garbage may not often.
  EXPECT_LT(accepted, 20000);
}

}  // namespace
}  // namespace basin::security
