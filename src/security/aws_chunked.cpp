#include "security/aws_chunked.h"

#include <algorithm>

#include "base/hash.h"

namespace basin::security {
namespace {

constexpr std::string_view kChunkSignaturePrefix = ";chunk-signature=";
constexpr std::string_view kTrailerSignatureName = "x-amz-trailer-signature";

AuthError Incomplete(std::string message) {
  return MakeAuthError(ErrorCode::kMalformedBody, "IncompleteBody", std::move(message));
}
AuthError BadChunk(std::string message) {
  return MakeAuthError(ErrorCode::kMalformedBody, "InvalidChunkSizeError", std::move(message));
}
AuthError BadTrailer(std::string message) {
  return MakeAuthError(ErrorCode::kMalformedBody, "MalformedTrailerError", std::move(message));
}
AuthError BadSignature(std::string message) {
  return MakeAuthError(ErrorCode::kUnauthenticated, "SignatureDoesNotMatch", std::move(message));
}

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Reads one CRLF-terminated line starting at `*pos`, at most `max_size` bytes before the CRLF.
// Distinguishes a body that simply ended (IncompleteBody) from a line that is too long.
AuthResult<std::string_view> ReadLine(std::string_view body, size_t* pos, size_t max_size,
                                      std::string_view what) {
  std::string_view rest = body.substr(*pos);
  size_t end = rest.substr(0, std::min(rest.size(), max_size + 2)).find("\r\n");
  if (end == std::string_view::npos) {
    if (rest.size() < max_size + 2)
      return Incomplete("the body ends inside a " + std::string(what));
    return BadChunk("the " + std::string(what) + " is longer than " + std::to_string(max_size) +
                    " bytes");
  }
  *pos += end + 2;
  return rest.substr(0, end);
}

}  // namespace

std::optional<ChunkedMode> ChunkedModeFor(PayloadMode mode) {
  switch (mode) {
    case PayloadMode::kStreamingSigned: return ChunkedMode::kSigned;
    case PayloadMode::kStreamingSignedTrailer: return ChunkedMode::kSignedTrailer;
    case PayloadMode::kStreamingUnsignedTrailer: return ChunkedMode::kUnsignedTrailer;
    case PayloadMode::kHashed:
    case PayloadMode::kUnsigned: return std::nullopt;
  }
  return std::nullopt;
}

StreamingSigningContext StreamingSigningContext::FromPrincipal(const SigV4Principal& principal) {
  return StreamingSigningContext{principal.signing_key, principal.amz_date, principal.Scope(),
                                 principal.seed_signature};
}

std::string ChunkSignature(const SigningKey& key, std::string_view amz_date, std::string_view scope,
                           std::string_view previous_signature, std::string_view chunk) {
  std::string to_sign = "AWS4-HMAC-SHA256-PAYLOAD\n";
  to_sign.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  to_sign.append("\n").append(kEmptySha256).append("\n").append(HexEncode(Sha256(chunk)));
  return SignString(key, to_sign);
}

std::string TrailerSignature(const SigningKey& key, std::string_view amz_date,
                             std::string_view scope, std::string_view previous_signature,
                             std::string_view canonical_trailers) {
  std::string to_sign = "AWS4-HMAC-SHA256-TRAILER\n";
  to_sign.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  to_sign.append("\n").append(HexEncode(Sha256(canonical_trailers)));
  return SignString(key, to_sign);
}

std::string CanonicalTrailers(const std::vector<std::pair<std::string, std::string>>& trailers) {
  std::string out;
  for (const auto& [name, value] : trailers) {
    out.append(Lower(TrimSpaces(name))).append(":").append(TrimSpaces(value)).append("\n");
  }
  return out;
}

AuthResult<DecodedAwsChunked> DecodeAwsChunked(std::string_view body, ChunkedMode mode,
                                               const StreamingSigningContext* signing,
                                               const AwsChunkedLimits& limits,
                                               std::optional<uint64_t> decoded_content_length) {
  const bool signed_chunks = mode != ChunkedMode::kUnsignedTrailer;
  if (signed_chunks && signing == nullptr) {
    return MakeAuthError(ErrorCode::kInternal, "InternalFailure",
                         "signed aws-chunked body without a signing context");
  }
  if (decoded_content_length && *decoded_content_length > limits.max_decoded_size) {
    return MakeAuthError(ErrorCode::kPayloadTooLarge, "EntityTooLarge",
                         "x-amz-decoded-content-length exceeds the maximum allowed size");
  }
  DecodedAwsChunked out;
  // The claimed length only sizes the buffer as far as the body could possibly fill it.
  if (decoded_content_length) {
    out.payload.reserve(std::min<uint64_t>(*decoded_content_length, body.size()));
  }
  std::string previous_signature = signed_chunks ? signing->seed_signature : std::string();
  size_t pos = 0;

  // Chunks, up to and including the 0-length one.
  while (true) {
    auto line = ReadLine(body, &pos, limits.max_chunk_header_size, "chunk header");
    if (!line.ok()) return line.error();
    std::string_view header = line.value();
    size_t semicolon = header.find(';');
    std::string_view size_text = header.substr(0, semicolon);
    if (size_text.empty() || size_text.size() > 16) {
      return BadChunk("malformed chunk size '" + std::string(size_text) + "'");
    }
    uint64_t size = 0;
    for (char c : size_text) {
      int digit = HexDigit(c);
      if (digit < 0) return BadChunk("malformed chunk size '" + std::string(size_text) + "'");
      size = size * 16 + static_cast<uint64_t>(digit);
    }
    std::string_view signature;
    if (signed_chunks) {
      std::string_view extension =
          semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon);
      if (extension.substr(0, kChunkSignaturePrefix.size()) != kChunkSignaturePrefix) {
        return BadChunk("a chunk of a signed stream lacks its chunk-signature");
      }
      signature = extension.substr(kChunkSignaturePrefix.size());
      if (!IsLowerHex64(signature)) return BadChunk("malformed chunk-signature");
    }
    if (size > limits.max_chunk_size) {
      return MakeAuthError(ErrorCode::kPayloadTooLarge, "EntityTooLarge",
                           "chunk of " + std::to_string(size) + " bytes exceeds the limit");
    }
    if (size >
        limits.max_decoded_size - std::min<uint64_t>(out.payload.size(), limits.max_decoded_size)) {
      return MakeAuthError(ErrorCode::kPayloadTooLarge, "EntityTooLarge",
                           "the decoded body exceeds the maximum allowed size");
    }
    if (body.size() - pos < size) return Incomplete("the body ends inside a chunk");
    std::string_view data = body.substr(pos, size);
    pos += size;
    if (signed_chunks) {
      std::string expected = ChunkSignature(signing->signing_key, signing->amz_date, signing->scope,
                                            previous_signature, data);
      if (!ConstantTimeEquals(expected, signature)) {
        return BadSignature("chunk signature does not match at decoded offset " +
                            std::to_string(out.payload.size()));
      }
      previous_signature = std::string(signature);
    }
    if (size == 0) break;
    if (body.size() - pos < 2) return Incomplete("the body ends after a chunk's data");
    if (body.substr(pos, 2) != "\r\n") return BadChunk("chunk data is not followed by CRLF");
    pos += 2;
    out.payload.append(data);
  }

  // Trailers (none in kSigned), then the closing empty line.
  size_t trailer_bytes = 0;
  std::optional<std::string> trailer_signature;
  while (true) {
    size_t remaining = limits.max_trailer_size - std::min(trailer_bytes, limits.max_trailer_size);
    auto line = ReadLine(body, &pos, remaining, "trailer");
    if (!line.ok()) {
      if (line.error().aws_error == "InvalidChunkSizeError") {
        return BadTrailer("the trailers exceed " + std::to_string(limits.max_trailer_size) +
                          " bytes");
      }
      return line.error();
    }
    std::string_view text = line.value();
    if (text.empty()) break;
    trailer_bytes += text.size() + 2;
    if (mode == ChunkedMode::kSigned) return BadTrailer("trailers in a stream that has none");
    if (trailer_signature) return BadTrailer("a trailer follows x-amz-trailer-signature");
    size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return BadTrailer("malformed trailer line");
    }
    std::string name = Lower(TrimSpaces(text.substr(0, colon)));
    std::string value(TrimSpaces(text.substr(colon + 1)));
    if (name.empty()) return BadTrailer("malformed trailer line");
    if (name == kTrailerSignatureName) {
      if (mode != ChunkedMode::kSignedTrailer) {
        return BadTrailer("x-amz-trailer-signature in an unsigned stream");
      }
      trailer_signature = std::move(value);
      continue;
    }
    out.trailers.emplace_back(std::move(name), std::move(value));
  }
  if (pos != body.size()) return BadChunk("bytes after the end of the aws-chunked body");

  if (mode == ChunkedMode::kSignedTrailer) {
    if (!trailer_signature) return BadTrailer("the trailers lack x-amz-trailer-signature");
    std::string expected = TrailerSignature(signing->signing_key, signing->amz_date, signing->scope,
                                            previous_signature, CanonicalTrailers(out.trailers));
    if (!ConstantTimeEquals(expected, *trailer_signature)) {
      return BadSignature("the trailer signature does not match");
    }
  }
  if (decoded_content_length && *decoded_content_length != out.payload.size()) {
    return Incomplete("the decoded body has " + std::to_string(out.payload.size()) +
                      " bytes, x-amz-decoded-content-length says " +
                      std::to_string(*decoded_content_length));
  }
  return out;
}

}  // namespace basin::security
