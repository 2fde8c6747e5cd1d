#include "security/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "base/hash.h"
#include "base/time_format.h"

namespace basin::security {
namespace {

constexpr size_t kMaxCachedKeys = 4096;

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsLowerHex(std::string_view s, size_t length) {
  if (s.size() != length) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsHexDigest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return HexValue(c) >= 0; });
}

bool IsAllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = s.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::optional<std::string_view> FindHeader(const SigV4Request& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

// Splits a request target into its raw path and raw query; an absolute-form target
// ("http://host/p?q") loses its scheme and authority.
std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target) {
  size_t scheme = target.find("://");
  if (scheme != std::string_view::npos && target.find('/') > scheme) {
    size_t path_start = target.find_first_of("/?", scheme + 3);
    target = path_start == std::string_view::npos ? std::string_view() : target.substr(path_start);
  }
  size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

// Decoded query parameters, in order; nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> DecodeQuery(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> params;
  if (raw.empty()) return params;
  for (std::string_view pair : Split(raw, '&')) {
    if (pair.empty()) continue;
    size_t equals = pair.find('=');
    std::string_view name = pair.substr(0, equals);
    std::string_view value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    auto decoded_name = UriDecode(name);
    auto decoded_value = UriDecode(value);
    if (!decoded_name || !decoded_value) return std::nullopt;
    params.emplace_back(std::move(*decoded_name), std::move(*decoded_value));
  }
  return params;
}

const std::string* FindParam(const std::vector<std::pair<std::string, std::string>>& params,
                             std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string FormatAmzDate(int64_t epoch_seconds) {
  CivilTime t = ToCivil(epoch_seconds * 1'000'000);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%04d%02d%02dT%02d%02d%02dZ", t.year, t.month, t.day,
                t.hour, t.minute, t.second);
  return buffer;
}

// A whole decimal field, nullopt unless every character is a digit.
std::optional<int> ParseDecimal(std::string_view text) {
  int value = 0;
  if (!IsAllDigits(text) || text.size() > 4) return std::nullopt;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

int64_t EpochSeconds(int year, int month, int day, int hour, int minute, int second) {
  return DaysFromCivil(year, month, day) * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 +
         second;
}

// "Sun, 30 Aug 2015 12:36:00 GMT" (the RFC 7231 preferred form) as epoch seconds.
std::optional<int64_t> ParseHttpDate(std::string_view text) {
  size_t comma = text.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields = Split(Trim(text.substr(comma + 1)), ' ');
  if (fields.size() != 5 || fields[4] != "GMT") return std::nullopt;
  std::vector<std::string_view> clock = Split(fields[3], ':');
  if (clock.size() != 3) return std::nullopt;
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (kMonths[i] == fields[1]) month = i + 1;
  }
  auto day = ParseDecimal(fields[0]);
  auto year = ParseDecimal(fields[2]);
  auto hour = ParseDecimal(clock[0]);
  auto minute = ParseDecimal(clock[1]);
  auto second = ParseDecimal(clock[2]);
  if (month == 0 || !day || !year || !hour || !minute || !second || *day < 1 || *day > 31 ||
      *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  return EpochSeconds(*year, month, *day, *hour, *minute, *second);
}

AuthError Malformed(bool presigned, std::string message) {
  return MakeAuthError(
      ErrorCode::kInvalidArgument,
      presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
      std::move(message));
}

// Credential = <akid>/<yyyymmdd>/<region>/<service>/aws4_request
struct CredentialParts {
  std::string access_key_id, date, region, service;
};
std::optional<CredentialParts> ParseCredential(std::string_view credential) {
  std::vector<std::string_view> parts = Split(credential, '/');
  if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8 || !IsAllDigits(parts[1]) ||
      parts[2].empty() || parts[3].empty() || parts[4] != "aws4_request") {
    return std::nullopt;
  }
  return CredentialParts{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
                         std::string(parts[3])};
}

std::optional<PayloadMode> SpecialPayloadMode(std::string_view value) {
  if (value == kUnsignedPayload) return PayloadMode::kUnsigned;
  if (value == kStreamingSignedPayload) return PayloadMode::kStreamingSigned;
  if (value == kStreamingSignedPayloadTrailer) return PayloadMode::kStreamingSignedTrailer;
  if (value == kStreamingUnsignedPayloadTrailer) return PayloadMode::kStreamingUnsignedTrailer;
  return std::nullopt;
}

}  // namespace

std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data) {
  std::array<uint8_t, 32> out{};
  unsigned int length = 0;
  unsigned char* result =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &length);
  BASIN_CHECK(result != nullptr && length == out.size());
  return out;
}

namespace {
std::string_view AsView(const std::array<uint8_t, 32>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
}  // namespace

SigningKey DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service) {
  std::string seed = "AWS4";
  seed.append(secret);
  auto k_date = HmacSha256(seed, date);
  OPENSSL_cleanse(seed.data(), seed.size());
  auto k_region = HmacSha256(AsView(k_date), region);
  auto k_service = HmacSha256(AsView(k_region), service);
  return HmacSha256(AsView(k_service), "aws4_request");
}

std::string SignString(const SigningKey& key, std::string_view string_to_sign) {
  return HexEncode(HmacSha256(AsView(key), string_to_sign));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string UriEncode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> UriDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = HexValue(text[i + 1]);
    int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

std::optional<std::string> CanonicalUri(std::string_view raw_path, UriMode mode) {
  if (mode == UriMode::kS3) {
    if (raw_path.empty()) return std::string("/");
    // Segment by segment, so that an encoded slash inside a key ("a%2Fb") stays "%2F" as the
    // client signed it instead of turning into a path separator.
    std::string out;
    bool first = true;
    for (std::string_view segment : Split(raw_path, '/')) {
      if (!first) out.push_back('/');
      first = false;
      auto decoded = UriDecode(segment);
      if (!decoded) return std::nullopt;
      out.append(UriEncode(*decoded, /*keep_slash=*/false));
    }
    return out;
  }
  // RFC 3986 dot-segment removal plus dropping empty segments, as the SDK signers do for
  // non-S3 services; a path ending in '/', '.' or '..' keeps its trailing slash.
  std::vector<std::string_view> kept;
  std::vector<std::string_view> segments = Split(raw_path, '/');
  bool trailing_slash = false;
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view segment = segments[i];
    bool last = i + 1 == segments.size();
    if (segment.empty() || segment == ".") {
      if (last) trailing_slash = true;
      continue;
    }
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
      if (last) trailing_slash = true;
      continue;
    }
    kept.push_back(segment);
  }
  std::string normalized = "/";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) normalized.push_back('/');
    normalized.append(kept[i]);
  }
  if (trailing_slash && !kept.empty()) normalized.push_back('/');
  return UriEncode(normalized, /*keep_slash=*/true);
}

std::optional<std::string> CanonicalQuery(std::string_view raw_query, bool drop_signature) {
  auto params = DecodeQuery(raw_query);
  if (!params) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params->size());
  for (const auto& [name, value] : *params) {
    if (drop_signature && name == "X-Amz-Signature") continue;
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out.append(name);
    out.push_back('=');
    out.append(value);
  }
  return out;
}

std::string CanonicalHeaderValue(std::string_view value) {
  value = Trim(value);
  std::string out;
  out.reserve(value.size());
  bool in_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
  return out;
}

std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service) {
  std::string scope;
  scope.reserve(date.size() + region.size() + service.size() + 16);
  scope.append(date).append("/").append(region).append("/").append(service).append("/aws4_request");
  return scope;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out(kSigV4Algorithm);
  out.append("\n").append(amz_date).append("\n").append(scope).append("\n");
  out.append(HexEncode(Sha256(canonical_request)));
  return out;
}

std::optional<int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !IsAllDigits(s.substr(0, 8)) ||
      !IsAllDigits(s.substr(9, 6))) {
    return std::nullopt;
  }
  auto number = [&](size_t pos, size_t len) {
    int value = 0;
    std::from_chars(s.data() + pos, s.data() + pos + len, value);
    return value;
  };
  int year = number(0, 4), month = number(4, 2), day = number(6, 2);
  int hour = number(9, 2), minute = number(11, 2), second = number(13, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  return EpochSeconds(year, month, day, hour, minute, second);
}

// Everything taken from the request before a secret is involved.
struct SigV4Verifier::Parsed {
  bool presigned = false;
  CredentialParts credential;
  std::string signature;
  std::string amz_date;
  int64_t request_time = 0;  // epoch seconds
  int64_t expires = 0;       // presigned only
  std::string session_token;
  PayloadMode payload_mode = PayloadMode::kHashed;
  std::string payload_hash;
  std::string canonical_request;
  std::string string_to_sign;
};

SigV4Verifier::SigV4Verifier(SecretLookup secrets, const Clock& clock, SigV4Options options)
    : secrets_(std::move(secrets)), clock_(clock), options_(std::move(options)) {}

AuthResult<SigV4Verifier::Parsed> SigV4Verifier::Parse(const SigV4Request& request) const {
  Parsed parsed;
  auto [raw_path, raw_query] = SplitTarget(request.target);
  auto params = DecodeQuery(raw_query);
  if (!params) {
    return MakeAuthError(ErrorCode::kInvalidArgument, "InvalidArgument",
                         "malformed percent-escape in the query string");
  }
  std::optional<std::string_view> authorization = FindHeader(request, "authorization");
  bool has_query_auth = FindParam(*params, "X-Amz-Algorithm") != nullptr ||
                        FindParam(*params, "X-Amz-Credential") != nullptr ||
                        FindParam(*params, "X-Amz-Signature") != nullptr;
  if (authorization && has_query_auth) {
    return MakeAuthError(ErrorCode::kInvalidArgument, "InvalidArgument",
                         "only one auth mechanism allowed: the Authorization header or the "
                         "X-Amz-Algorithm query parameters, not both");
  }
  if (!authorization && !has_query_auth) {
    return MakeAuthError(ErrorCode::kUnauthenticated, "MissingAuthenticationToken",
                         "the request carries no Authorization header and no X-Amz-Signature");
  }
  parsed.presigned = has_query_auth;
  const bool presigned = parsed.presigned;
  std::vector<std::string> signed_headers;

  if (!presigned) {
    std::string_view auth = Trim(*authorization);
    if (auth.substr(0, kSigV4Algorithm.size()) != kSigV4Algorithm ||
        auth.size() == kSigV4Algorithm.size() || !IsSpace(auth[kSigV4Algorithm.size()])) {
      return Malformed(false, "the authorization header must start with AWS4-HMAC-SHA256");
    }
    std::optional<std::string_view> credential, headers_list, signature;
    for (std::string_view item : Split(auth.substr(kSigV4Algorithm.size() + 1), ',')) {
      item = Trim(item);
      size_t equals = item.find('=');
      if (equals == std::string_view::npos) {
        return Malformed(false, "authorization component without '=': " + std::string(item));
      }
      std::string_view key = item.substr(0, equals);
      std::string_view value = item.substr(equals + 1);
      std::optional<std::string_view>* slot = key == "Credential"      ? &credential
                                              : key == "SignedHeaders" ? &headers_list
                                              : key == "Signature"     ? &signature
                                                                       : nullptr;
      if (slot == nullptr) {
        return Malformed(false, "unknown authorization component: " + std::string(key));
      }
      if (slot->has_value()) {
        return Malformed(false, "repeated authorization component: " + std::string(key));
      }
      *slot = value;
    }
    if (!credential || !headers_list || !signature) {
      return Malformed(false,
                       "the authorization header needs Credential, SignedHeaders and "
                       "Signature");
    }
    auto parts = ParseCredential(*credential);
    if (!parts) {
      return Malformed(false,
                       "the Credential must be <key id>/<yyyymmdd>/<region>/<service>/"
                       "aws4_request");
    }
    parsed.credential = std::move(*parts);
    parsed.signature = std::string(*signature);
    for (std::string_view name : Split(*headers_list, ';')) signed_headers.push_back(ToLower(name));

    if (auto amz_date = FindHeader(request, "x-amz-date")) {
      auto time = ParseAmzDate(Trim(*amz_date));
      if (!time) {
        return MakeAuthError(ErrorCode::kAccessDenied, "AccessDenied",
                             "X-Amz-Date must be yyyymmddTHHMMSSZ");
      }
      parsed.request_time = *time;
      parsed.amz_date = std::string(Trim(*amz_date));
    } else if (auto date = FindHeader(request, "date")) {
      auto time = ParseHttpDate(*date);
      if (!time) {
        return MakeAuthError(ErrorCode::kAccessDenied, "AccessDenied",
                             "the Date header is not an RFC 7231 date");
      }
      parsed.request_time = *time;
      parsed.amz_date = FormatAmzDate(*time);
    } else {
      return MakeAuthError(ErrorCode::kAccessDenied, "AccessDenied",
                           "a signed request needs an X-Amz-Date or Date header");
    }
    if (auto token = FindHeader(request, "x-amz-security-token")) {
      parsed.session_token = std::string(Trim(*token));
    }
  } else {
    const std::string* algorithm = FindParam(*params, "X-Amz-Algorithm");
    const std::string* credential = FindParam(*params, "X-Amz-Credential");
    const std::string* date = FindParam(*params, "X-Amz-Date");
    const std::string* expires = FindParam(*params, "X-Amz-Expires");
    const std::string* headers_list = FindParam(*params, "X-Amz-SignedHeaders");
    const std::string* signature = FindParam(*params, "X-Amz-Signature");
    if (!algorithm || !credential || !date || !expires || !headers_list || !signature) {
      return Malformed(true,
                       "a presigned request needs X-Amz-Algorithm, X-Amz-Credential, "
                       "X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and "
                       "X-Amz-Signature");
    }
    if (*algorithm != kSigV4Algorithm) {
      return Malformed(true, "X-Amz-Algorithm must be AWS4-HMAC-SHA256");
    }
    auto parts = ParseCredential(*credential);
    if (!parts) {
      return Malformed(true,
                       "X-Amz-Credential must be <key id>/<yyyymmdd>/<region>/<service>/"
                       "aws4_request");
    }
    parsed.credential = std::move(*parts);
    auto time = ParseAmzDate(*date);
    if (!time) return Malformed(true, "X-Amz-Date must be yyyymmddTHHMMSSZ");
    parsed.request_time = *time;
    parsed.amz_date = *date;
    int64_t expiry = 0;
    auto [end, ec] = std::from_chars(expires->data(), expires->data() + expires->size(), expiry);
    if (ec != std::errc() || end != expires->data() + expires->size() || !IsAllDigits(*expires) ||
        expiry <= 0) {
      return Malformed(true, "X-Amz-Expires must be a positive number of seconds");
    }
    if (expiry > kMaxPresignedExpirySeconds) {
      return Malformed(true, "X-Amz-Expires must be less than a week (604800 seconds)");
    }
    parsed.expires = expiry;
    parsed.signature = *signature;
    for (std::string_view name : Split(*headers_list, ';')) signed_headers.push_back(ToLower(name));
    if (const std::string* token = FindParam(*params, "X-Amz-Security-Token")) {
      parsed.session_token = *token;
    }
  }

  if (!IsLowerHex(parsed.signature, 64)) {
    return Malformed(presigned, "the signature must be 64 lower-case hex digits");
  }
  if (parsed.credential.date != std::string_view(parsed.amz_date).substr(0, 8)) {
    return Malformed(presigned, "invalid credential date: it is not the date of X-Amz-Date");
  }
  if (options_.expected_region && parsed.credential.region != *options_.expected_region) {
    return Malformed(presigned, "the credential scope names region '" + parsed.credential.region +
                                    "', expected '" + *options_.expected_region + "'");
  }
  if (options_.expected_service && parsed.credential.service != *options_.expected_service) {
    return Malformed(presigned, "the credential scope names service '" + parsed.credential.service +
                                    "', expected '" + *options_.expected_service + "'");
  }
  for (const std::string& name : signed_headers) {
    if (name.empty()) return Malformed(presigned, "SignedHeaders has an empty name");
  }
  if (std::find(signed_headers.begin(), signed_headers.end(), "host") == signed_headers.end()) {
    return Malformed(presigned, "the host header must be signed");
  }
  // Headers that change the meaning of the request must be covered by the signature; S3 demands
  // it of every x-amz-* header, every service of the session token.
  for (const auto& [name, value] : request.headers) {
    std::string lower = ToLower(name);
    bool must_sign = lower == "x-amz-security-token" ||
                     (options_.s3_payload_rules && lower.rfind("x-amz-", 0) == 0);
    if (must_sign &&
        std::find(signed_headers.begin(), signed_headers.end(), lower) == signed_headers.end()) {
      return MakeAuthError(
          ErrorCode::kAccessDenied, "AccessDenied",
          "there were headers present in the request which were not signed: " + lower);
    }
  }

  // Payload.
  std::optional<std::string_view> content_sha = FindHeader(request, "x-amz-content-sha256");
  if (content_sha) content_sha = Trim(*content_sha);
  if (content_sha) {
    if (auto mode = SpecialPayloadMode(*content_sha)) {
      bool streaming = *mode != PayloadMode::kUnsigned;
      if (!options_.s3_payload_rules || (streaming && presigned)) {
        return MakeAuthError(
            ErrorCode::kInvalidArgument, "InvalidArgument",
            "x-amz-content-sha256 '" + std::string(*content_sha) + "' is not allowed here");
      }
      parsed.payload_mode = *mode;
    } else if (!IsHexDigest(*content_sha)) {
      return MakeAuthError(ErrorCode::kInvalidArgument, "InvalidArgument",
                           "x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a "
                           "STREAMING-… mode");
    }
    parsed.payload_hash = std::string(*content_sha);
  } else if (options_.s3_payload_rules) {
    if (!presigned) {
      return MakeAuthError(ErrorCode::kInvalidArgument, "InvalidRequest",
                           "missing required header for this request: x-amz-content-sha256");
    }
    parsed.payload_mode = PayloadMode::kUnsigned;
    parsed.payload_hash = std::string(kUnsignedPayload);
  } else {
    if (!request.body) {
      return MakeAuthError(ErrorCode::kInternal, "InternalFailure",
                           "the body is needed to verify this request");
    }
    parsed.payload_hash = HexEncode(Sha256(*request.body));
  }

  // Canonical request.
  auto uri = CanonicalUri(raw_path, options_.uri_mode);
  if (!uri) {
    return MakeAuthError(ErrorCode::kInvalidArgument, "InvalidURI",
                         "malformed percent-escape in the path");
  }
  auto query = CanonicalQuery(raw_query, presigned);
  BASIN_CHECK(query.has_value());  // DecodeQuery above accepted the same text
  std::string canonical;
  canonical.reserve(512);
  canonical.append(request.method).append("\n").append(*uri).append("\n").append(*query);
  canonical.append("\n");
  for (const std::string& name : signed_headers) {
    bool found = false;
    std::string joined;
    for (const auto& [key, value] : request.headers) {
      if (!EqualsIgnoreCase(key, name)) continue;
      if (found) joined.push_back(',');
      joined.append(CanonicalHeaderValue(value));
      found = true;
    }
    if (!found) {
      return MakeAuthError(ErrorCode::kUnauthenticated, "SignatureDoesNotMatch",
                           "signed header '" + name + "' is not in the request");
    }
    canonical.append(name).append(":").append(joined).append("\n");
  }
  canonical.append("\n");
  for (size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) canonical.push_back(';');
    canonical.append(signed_headers[i]);
  }
  canonical.append("\n").append(parsed.payload_hash);

  parsed.string_to_sign = StringToSign(
      parsed.amz_date,
      CredentialScope(parsed.credential.date, parsed.credential.region, parsed.credential.service),
      canonical);
  parsed.canonical_request = std::move(canonical);
  return parsed;
}

AuthResult<SigV4Verifier::Canonical> SigV4Verifier::Canonicalize(
    const SigV4Request& request) const {
  auto parsed = Parse(request);
  if (!parsed.ok()) return parsed.error();
  return Canonical{std::move(parsed->canonical_request), std::move(parsed->string_to_sign)};
}

SigningKey SigV4Verifier::SigningKeyFor(std::string_view access_key_id, std::string_view secret,
                                        std::string_view date, std::string_view region,
                                        std::string_view service) const {
  std::string cache_key;
  cache_key.append(access_key_id).append("\n").append(date).append("\n").append(region);
  cache_key.append("\n").append(service);
  {
    std::lock_guard lock(cache_mutex_);
    auto it = key_cache_.find(cache_key);
    // A rotated secret must not keep verifying with the old key.
    if (it != key_cache_.end() && it->second.secret == secret) return it->second.key;
  }
  SigningKey key = DeriveSigningKey(secret, date, region, service);
  std::lock_guard lock(cache_mutex_);
  if (key_cache_.size() >= kMaxCachedKeys) key_cache_.clear();
  key_cache_[cache_key] = CachedKey{std::string(secret), key};
  return key;
}

AuthResult<SigV4Principal> SigV4Verifier::Verify(const SigV4Request& request) const {
  auto parsed_result = Parse(request);
  if (!parsed_result.ok()) return parsed_result.error();
  Parsed& parsed = parsed_result.value();

  const int64_t now = clock_.NowMicros() / 1'000'000;
  if (!parsed.presigned) {
    int64_t skew =
        now > parsed.request_time ? now - parsed.request_time : parsed.request_time - now;
    if (skew > options_.max_clock_skew_seconds) {
      return MakeAuthError(ErrorCode::kUnauthenticated, "RequestTimeTooSkewed",
                           "the difference between the request time (" + parsed.amz_date +
                               ") and the server's time is too large");
    }
  } else {
    if (parsed.request_time - now > options_.max_clock_skew_seconds) {
      return MakeAuthError(ErrorCode::kAccessDenied, "AccessDenied", "request is not valid yet");
    }
    if (now > parsed.request_time + parsed.expires) {
      return MakeAuthError(ErrorCode::kAccessDenied, "AccessDenied", "request has expired");
    }
  }

  std::optional<std::string> secret =
      secrets_ ? secrets_(parsed.credential.access_key_id) : std::nullopt;
  if (!secret) {
    return MakeAuthError(
        ErrorCode::kUnauthenticated, "InvalidAccessKeyId",
        "the access key id '" + parsed.credential.access_key_id + "' does not exist");
  }
  SigningKey key = SigningKeyFor(parsed.credential.access_key_id, *secret, parsed.credential.date,
                                 parsed.credential.region, parsed.credential.service);
  std::string expected = SignString(key, parsed.string_to_sign);
  if (!ConstantTimeEquals(expected, parsed.signature)) {
    return MakeAuthError(ErrorCode::kUnauthenticated, "SignatureDoesNotMatch",
                         "the request signature does not match the signature calculated with "
                         "the secret of '" +
                             parsed.credential.access_key_id + "'");
  }
  // Checked after the signature so that an unauthenticated client learns nothing from it.
  if (parsed.payload_mode == PayloadMode::kHashed && request.body &&
      ToLower(parsed.payload_hash) != HexEncode(Sha256(*request.body))) {
    return MakeAuthError(ErrorCode::kInvalidArgument, "XAmzContentSHA256Mismatch",
                         "the x-amz-content-sha256 header does not match the body");
  }

  SigV4Principal principal;
  principal.access_key_id = std::move(parsed.credential.access_key_id);
  principal.date = std::move(parsed.credential.date);
  principal.amz_date = std::move(parsed.amz_date);
  principal.region = std::move(parsed.credential.region);
  principal.service = std::move(parsed.credential.service);
  principal.session_token = std::move(parsed.session_token);
  principal.presigned = parsed.presigned;
  principal.payload_mode = parsed.payload_mode;
  principal.payload_hash = std::move(parsed.payload_hash);
  principal.signing_key = key;
  principal.seed_signature = std::move(parsed.signature);
  return principal;
}

}  // namespace basin::security
