#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "security/auth_error.h"
#include "security/sigv4.h"

namespace basin::security {

// `Content-Encoding: aws-chunked` bodies (S3 streaming uploads, aws-wire.md §3.9):
//   <hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n … 0[;chunk-signature=<sig>]\r\n
//   [<trailer>:<value>\r\n …][x-amz-trailer-signature:<sig>\r\n]\r\n

enum class ChunkedMode {
  kSigned,           // STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed, no trailers
  kSignedTrailer,    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: chunks and trailers signed
  kUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER: plain chunks, unsigned trailers
};

// The chunked mode of a verified request; nullopt when its body is not aws-chunked.
std::optional<ChunkedMode> ChunkedModeFor(PayloadMode mode);

// What chunk signatures chain from: the request's signing key, time, scope and signature.
struct StreamingSigningContext {
  SigningKey signing_key{};
  std::string amz_date;
  std::string scope;
  std::string seed_signature;

  static StreamingSigningContext FromPrincipal(const SigV4Principal& principal);
};

// hex(HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" prev "\n" hex(SHA256(""))
// "\n" hex(SHA256(chunk)))).
std::string ChunkSignature(const SigningKey& key, std::string_view amz_date, std::string_view scope,
                           std::string_view previous_signature, std::string_view chunk);
// hex(HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" prev "\n"
// hex(SHA256(canonical_trailers)))).
std::string TrailerSignature(const SigningKey& key, std::string_view amz_date,
                             std::string_view scope, std::string_view previous_signature,
                             std::string_view canonical_trailers);
// "name:value\n" per trailer, names lower-cased, values trimmed, in the order given.
std::string CanonicalTrailers(const std::vector<std::pair<std::string, std::string>>& trailers);

// Bounds on what one body may make the decoder hold.
struct AwsChunkedLimits {
  uint64_t max_chunk_size = 64ull << 20;   // one chunk's data
  uint64_t max_decoded_size = 5ull << 30;  // the whole payload (S3's single PUT limit)
  size_t max_chunk_header_size = 256;      // "<hex>;chunk-signature=<64 hex>" is ~85
  size_t max_trailer_size = 16 << 10;      // all trailer lines together
};

struct DecodedAwsChunked {
  std::string payload;
  // Trailers in order, names lower-cased, values trimmed; x-amz-trailer-signature excluded.
  std::vector<std::pair<std::string, std::string>> trailers;
};

// Decodes and (for the signed modes) verifies a complete aws-chunked body. `signing` is required
// for kSigned and kSignedTrailer. `decoded_content_length` is x-amz-decoded-content-length when
// the client sent it. Every malformation is an AuthError (IncompleteBody, InvalidChunkSizeError,
// MalformedTrailerError, SignatureDoesNotMatch, EntityTooLarge); it never reads outside `body`.
// Stateless and thread-safe.
AuthResult<DecodedAwsChunked> DecodeAwsChunked(
    std::string_view body, ChunkedMode mode, const StreamingSigningContext* signing,
    const AwsChunkedLimits& limits = {},
    std::optional<uint64_t> decoded_content_length = std::nullopt);

}  // namespace basin::security
