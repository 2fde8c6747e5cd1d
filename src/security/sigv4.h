#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "security/auth_error.h"

namespace basin::security {

// AWS Signature Version 4 (rules: shared/brief/facts/aws-wire.md §3). The free functions are the
// pieces of the algorithm, public so that tests (and the chunk decoder) can sign with the same code
// they verify with; SigV4Verifier puts them together for a request.

using SigningKey = std::array<uint8_t, 32>;

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayloadTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedPayloadTrailer =
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Allowed clock difference between client and server (S3: RequestTimeTooSkewed beyond it).
inline constexpr int64_t kMaxClockSkewSeconds = int64_t{15} * 60;
// Longest lifetime of a presigned URL (X-Amz-Expires).
inline constexpr int64_t kMaxPresignedExpirySeconds = 604800;

// How the path takes part in the canonical request.
enum class UriMode {
  // S3: the path as sent, decoded once and re-encoded; no dot-segment or "//" normalisation.
  kS3,
  // Every other service: dot segments and empty segments removed, then the (already encoded)
  // path is encoded once more, so a client's "%20" becomes "%2520".
  kNormalized,
};

// What x-amz-content-sha256 (or its absence) says about the body.
enum class PayloadMode {
  kHashed,                    // hex SHA-256 of the body, checked against the body when given
  kUnsigned,                  // UNSIGNED-PAYLOAD
  kStreamingSigned,           // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
  kStreamingSignedTrailer,    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
  kStreamingUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER
};

// HMAC-SHA256 of `data` under `key`.
std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
SigningKey DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service);
// Lower-case hex HMAC of the string to sign.
std::string SignString(const SigningKey& key, std::string_view string_to_sign);
// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// RFC 3986 encoding: every byte outside A-Za-z0-9-_.~ becomes upper-case %XX; '/' is kept when
// `keep_slash`.
std::string UriEncode(std::string_view bytes, bool keep_slash);
// Decodes %XX escapes ('+' stays '+'); nullopt on a malformed escape.
std::optional<std::string> UriDecode(std::string_view text);

// The canonical URI of a raw (as sent, still encoded) path; nullopt on a malformed escape.
std::optional<std::string> CanonicalUri(std::string_view raw_path, UriMode mode);
// The canonical query string of a raw query (without '?'): pairs decoded, strictly re-encoded and
// sorted; `drop_signature` leaves out X-Amz-Signature (presigned URLs). nullopt on a malformed
// escape.
std::optional<std::string> CanonicalQuery(std::string_view raw_query, bool drop_signature);
// A header value as it is signed: trimmed, inner whitespace runs collapsed to one space.
std::string CanonicalHeaderValue(std::string_view value);

// "<yyyymmdd>/<region>/<service>/aws4_request"
std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service);
// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\nhex(SHA256(canonical_request))"
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// Seconds since the epoch of "yyyymmddTHHMMSSZ"; nullopt when malformed.
std::optional<int64_t> ParseAmzDate(std::string_view amz_date);

// A request as the verifier needs it. Views into the caller's request; they must outlive the call.
struct SigV4Request {
  std::string_view method;
  // The request target exactly as sent: raw path plus "?query".
  std::string_view target;
  // Every header field in arrival order (names in any case; repeats allowed).
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The complete body if the caller has it: its hash is checked against x-amz-content-sha256
  // (kS3) or signed (kNormalized). nullopt when the body is checked later (the caller must then
  // compare the principal's payload_hash itself).
  std::optional<std::string_view> body;
};

// Who signed the request, and what a streaming body decoder needs to keep verifying.
struct SigV4Principal {
  std::string access_key_id;
  std::string date;      // yyyymmdd of the credential scope
  std::string amz_date;  // yyyymmddTHHMMSSZ
  std::string region;
  std::string service;
  std::string session_token;  // X-Amz-Security-Token, "" if none (it was signed if present)
  bool presigned = false;
  PayloadMode payload_mode = PayloadMode::kHashed;
  std::string payload_hash;  // the value that was signed as the payload
  SigningKey signing_key{};
  std::string seed_signature;  // the request signature: the first link of a chunk chain

  std::string Scope() const { return CredentialScope(date, region, service); }
};

// Returns the secret of an access key id, nullopt when the key is unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

struct SigV4Options {
  UriMode uri_mode = UriMode::kS3;
  // S3 requires x-amz-content-sha256 on header-signed requests and allows the UNSIGNED and
  // STREAMING payload modes; other services sign the body hash.
  bool s3_payload_rules = true;
  int64_t max_clock_skew_seconds = kMaxClockSkewSeconds;
  // When set, the credential scope must name this region / service.
  std::optional<std::string> expected_region;
  std::optional<std::string> expected_service;
};

// Verifies SigV4 header ("Authorization: AWS4-HMAC-SHA256 …") and presigned (X-Amz-* query)
// requests. Called by the S3 and Kinesis front ends before they route a request; failures carry
// the AWS error name to answer. Caches derived signing keys per key id/date/region/service (and
// secret, so a rotated secret takes effect at once). Thread-safe if the SecretLookup is.
class SigV4Verifier {
 public:
  SigV4Verifier(SecretLookup secrets, const Clock& clock, SigV4Options options = {});

  AuthResult<SigV4Principal> Verify(const SigV4Request& request) const;

  // The canonical request and string to sign a request would be checked against, without
  // looking up a secret or checking time (for debugging answers and for tests).
  struct Canonical {
    std::string canonical_request;
    std::string string_to_sign;
  };
  AuthResult<Canonical> Canonicalize(const SigV4Request& request) const;

 private:
  struct Parsed;
  AuthResult<Parsed> Parse(const SigV4Request& request) const;
  SigningKey SigningKeyFor(std::string_view access_key_id, std::string_view secret,
                           std::string_view date, std::string_view region,
                           std::string_view service) const;

  SecretLookup secrets_;
  const Clock& clock_;
  SigV4Options options_;

  struct CachedKey {
    std::string secret;
    SigningKey key;
  };
  mutable std::mutex cache_mutex_;
  mutable std::map<std::string, CachedKey, std::less<>> key_cache_;
};

}  // namespace basin::security
