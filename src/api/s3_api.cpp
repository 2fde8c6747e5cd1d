#include "api/s3_api.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "api/s3_checksum.h"
#include "api/s3_xml.h"
#include "base/base64.h"
#include "base/hash.h"
#include "base/logging.h"
#include "base/time_format.h"

namespace basin::api {
namespace {

using s3::XmlWriter;
using storage::BucketStore;
using storage::ObjectInfo;

constexpr std::string_view kXmlContentType = "application/xml";
constexpr std::string_view kDefaultObjectType = "binary/octet-stream";
constexpr std::string_view kLandingBucket = "landing";
constexpr size_t kMaxUserMetadataBytes = 2048;  // as S3: names and values of x-amz-meta-*
constexpr int kMaxListKeys = 1000;

// ---- Errors ---------------------------------------------------------------------------------
//
// Errors travel as Status values whose message starts with the S3 code ("NoSuchKey: ..."), the
// convention of storage::BucketStore; one function turns any Status into the S3 answer.

struct S3Code {
  std::string_view code;
  int http_status;
  ErrorCode basin_code;
};

constexpr S3Code kS3Codes[] = {
    {"AccessDenied", 403, ErrorCode::kAccessDenied},
    {"AuthorizationHeaderMalformed", 400, ErrorCode::kInvalidArgument},
    {"AuthorizationQueryParametersError", 400, ErrorCode::kInvalidArgument},
    {"BadDigest", 400, ErrorCode::kInvalidArgument},
    {"BucketAlreadyExists", 409, ErrorCode::kAlreadyExists},
    {"BucketAlreadyOwnedByYou", 409, ErrorCode::kAlreadyExists},
    {"BucketNotEmpty", 409, ErrorCode::kConflict},
    {"EntityTooLarge", 400, ErrorCode::kPayloadTooLarge},
    {"EntityTooSmall", 400, ErrorCode::kInvalidArgument},
    {"IllegalLocationConstraintException", 400, ErrorCode::kInvalidArgument},
    {"IncompleteBody", 400, ErrorCode::kMalformedBody},
    {"InternalError", 500, ErrorCode::kInternal},
    {"InvalidAccessKeyId", 403, ErrorCode::kUnauthenticated},
    {"InvalidArgument", 400, ErrorCode::kInvalidArgument},
    {"InvalidBucketName", 400, ErrorCode::kInvalidArgument},
    {"InvalidChunkSizeError", 400, ErrorCode::kMalformedBody},
    {"InvalidDigest", 400, ErrorCode::kInvalidArgument},
    {"InvalidPart", 400, ErrorCode::kInvalidArgument},
    {"InvalidPartOrder", 400, ErrorCode::kInvalidArgument},
    {"InvalidRange", 416, ErrorCode::kInvalidArgument},
    {"InvalidRequest", 400, ErrorCode::kInvalidArgument},
    {"InvalidURI", 400, ErrorCode::kInvalidArgument},
    {"KeyTooLongError", 400, ErrorCode::kInvalidArgument},
    {"MalformedTrailerError", 400, ErrorCode::kMalformedBody},
    {"MalformedXML", 400, ErrorCode::kInvalidArgument},
    {"MetadataTooLarge", 400, ErrorCode::kInvalidArgument},
    {"MethodNotAllowed", 405, ErrorCode::kMethodNotAllowed},
    {"MissingAuthenticationToken", 403, ErrorCode::kUnauthenticated},
    {"MissingContentLength", 411, ErrorCode::kInvalidArgument},
    {"NoSuchBucket", 404, ErrorCode::kNotFound},
    {"NoSuchKey", 404, ErrorCode::kNotFound},
    {"NoSuchUpload", 404, ErrorCode::kNotFound},
    {"NoSuchVersion", 404, ErrorCode::kNotFound},
    {"NotImplemented", 501, ErrorCode::kInvalidArgument},
    {"OperationAborted", 409, ErrorCode::kConflict},
    {"PreconditionFailed", 412, ErrorCode::kInvalidArgument},
    {"RequestTimeTooSkewed", 403, ErrorCode::kUnauthenticated},
    {"ServiceUnavailable", 503, ErrorCode::kUnavailable},
    {"SignatureDoesNotMatch", 403, ErrorCode::kUnauthenticated},
    {"SlowDown", 503, ErrorCode::kUnavailable},
    {"TooManyParts", 400, ErrorCode::kInvalidArgument},
    {"XAmzContentSHA256Mismatch", 400, ErrorCode::kInvalidArgument},
};

const S3Code* FindS3Code(std::string_view code) {
  for (const auto& entry : kS3Codes) {
    if (entry.code == code) return &entry;
  }
  return nullptr;
}

// An S3 error as a Status: Error(<basin code>, "<S3Code>: message").
Status S3Status(std::string_view code, std::string_view message) {
  const S3Code* entry = FindS3Code(code);
  return Error(entry ? entry->basin_code : ErrorCode::kInternal,
               std::string(code) + ": " + std::string(message));
}

struct S3Error {
  int http_status = 500;
  std::string code;
  std::string message;
};

// The S3 code a Status names ("<Code>: ..."), or a code chosen from the Basin error code.
S3Error ToS3Error(const Status& status) {
  std::string_view name = storage::S3ErrorName(status);
  std::string_view message = status.message();
  if (name.empty()) {
    const size_t colon = message.find(": ");
    if (colon != std::string_view::npos && FindS3Code(message.substr(0, colon))) {
      name = message.substr(0, colon);
    }
  }
  if (const S3Code* entry = name.empty() ? nullptr : FindS3Code(name)) {
    if (message.substr(0, name.size()) == name && message.substr(name.size(), 2) == ": ") {
      message.remove_prefix(name.size() + 2);
    }
    return {entry->http_status, std::string(entry->code), std::string(message)};
  }
  switch (status.code()) {
    case ErrorCode::kNotFound: return {404, "NoSuchKey", std::string(message)};
    case ErrorCode::kAccessDenied:
    case ErrorCode::kUnauthenticated: return {403, "AccessDenied", std::string(message)};
    case ErrorCode::kPayloadTooLarge: return {400, "EntityTooLarge", std::string(message)};
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kValidationFailed: return {400, "InvalidArgument", std::string(message)};
    case ErrorCode::kMalformedBody: return {400, "IncompleteBody", std::string(message)};
    case ErrorCode::kConflict: return {409, "OperationAborted", std::string(message)};
    case ErrorCode::kUnavailable:
    case ErrorCode::kShuttingDown: return {503, "ServiceUnavailable", std::string(message)};
    default: return {500, "InternalError", status.ToString()};
  }
}

// ---- Formats --------------------------------------------------------------------------------

// 16 upper-case hex characters, as S3's x-amz-request-id.
std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llX", static_cast<unsigned long long>(rng()));
  return buf;
}

// RFC 1123, as Last-Modified: "Fri, 27 Nov 2026 10:20:07 GMT".
std::string HttpDate(int64_t micros) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const CivilTime t = ToCivil(micros);
  const int64_t days = DaysFromCivil(t.year, t.month, t.day);
  const int64_t weekday = ((days % 7) + 7) % 7;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[weekday], t.day,
                kMonths[t.month - 1], t.year, t.hour, t.minute, t.second);
  return buf;
}

// Parses an RFC 1123 date ("Fri, 27 Nov 2026 10:20:07 GMT") to epoch microseconds.
std::optional<int64_t> ParseHttpDate(std::string_view text) {
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  char weekday[4] = {}, month[4] = {}, zone[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", weekday, &day, month, &year, &hour,
                  &minute, &second, zone) != 8) {
    return std::nullopt;
  }
  const size_t index = kMonths.find(month);
  if (index == std::string_view::npos || index % 3 != 0 || std::string_view(zone) != "GMT") {
    return std::nullopt;
  }
  const int64_t days = DaysFromCivil(year, static_cast<int>(index / 3) + 1, day);
  return ((days * 24 + hour) * 60 + minute) * 60'000'000LL + second * 1'000'000LL;
}

// LastModified in XML bodies: ISO 8601 with whole seconds, as S3 ("...T10:20:07.000Z").
std::string XmlTime(int64_t micros) {
  return FormatIso8601Millis(micros - (((micros % 1'000'000) + 1'000'000) % 1'000'000));
}

// encoding-type=url: every byte but unreserved characters and '/' as %XX. botocore decodes with
// unquote_plus, so '+' must never appear literally (it is %2B here).
std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) { return ToLower(a) == ToLower(b); }

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> ParseInt(std::string_view text) {
  text = TrimSpace(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string Arn(std::string_view bucket, std::string_view key = {}) {
  std::string arn = "arn:aws:s3:::" + std::string(bucket);
  if (!key.empty()) arn += "/" + std::string(key);
  return arn;
}

// The single owner of everything here: S3 clients want an Owner in listings and ACLs.
const std::string& OwnerId() {
  static const std::string id = HexEncode(Sha256("basin"));
  return id;
}
constexpr std::string_view kOwnerName = "basin";

void WriteOwner(XmlWriter& w, std::string_view element = "Owner") {
  w.Open(element).Element("ID", OwnerId()).Element("DisplayName", kOwnerName).Close();
}

std::string StripLineBreaks(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

// ---- Requests -------------------------------------------------------------------------------

// What a request addresses: path style `/<bucket>/<key>`, or virtual-host style.
struct S3Target {
  std::string bucket;
  std::string key;  // "" for service and bucket requests
};

// `<bucket>.localhost` and `<bucket>.s3.<anything>` name the bucket in the host; anything else
// (IP addresses, localhost, a plain host name) is path style.
std::optional<std::string> VirtualHostBucket(std::string_view host) {
  if (host.empty() || host.front() == '[') return std::nullopt;  // IPv6 literal
  if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  const std::string lower = ToLower(host);
  const size_t s3 = lower.find(".s3.");
  if (s3 != std::string::npos && s3 > 0) return lower.substr(0, s3);
  constexpr std::string_view kLocalhost = ".localhost";
  if (lower.size() > kLocalhost.size() &&
      lower.compare(lower.size() - kLocalhost.size(), kLocalhost.size(), kLocalhost) == 0) {
    return lower.substr(0, lower.size() - kLocalhost.size());
  }
  return std::nullopt;
}

S3Target ResolveTarget(const HttpRequest& request) {
  S3Target target;
  std::string_view path = request.path;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (auto bucket = VirtualHostBucket(request.Header("Host"))) {
    target.bucket = std::move(*bucket);
    target.key = std::string(path);
    return target;
  }
  const size_t slash = path.find('/');
  target.bucket = std::string(path.substr(0, slash));
  if (slash != std::string_view::npos) target.key = std::string(path.substr(slash + 1));
  return target;
}

bool HasQuery(const HttpRequest& request, std::string_view name) {
  return request.query.find(std::string(name)) != request.query.end();
}

// The attributes a PUT or CreateMultipartUpload carries in its headers.
Result<storage::ObjectAttributes> AttributesFromHeaders(const HttpRequest& request) {
  storage::ObjectAttributes attributes;
  attributes.content_type = std::string(request.Header("Content-Type"));
  // The endpoint removes aws-chunked already; drop it here too so framing never gets stored.
  std::string encoding;
  std::string_view sent = request.Header("Content-Encoding");
  while (!sent.empty()) {
    const size_t comma = sent.find(',');
    const std::string_view token = TrimSpace(sent.substr(0, comma));
    if (!token.empty() && !IEquals(token, "aws-chunked")) {
      if (!encoding.empty()) encoding += ",";
      encoding += token;
    }
    if (comma == std::string_view::npos) break;
    sent.remove_prefix(comma + 1);
  }
  attributes.content_encoding = std::move(encoding);
  attributes.cache_control = std::string(request.Header("Cache-Control"));
  attributes.content_disposition = std::string(request.Header("Content-Disposition"));
  attributes.content_language = std::string(request.Header("Content-Language"));
  attributes.expires = std::string(request.Header("Expires"));
  constexpr std::string_view kMetaPrefix = "x-amz-meta-";
  size_t metadata_bytes = 0;
  for (const auto& [name, value] : request.headers) {
    if (name.size() <= kMetaPrefix.size() ||
        !IEquals(name.substr(0, kMetaPrefix.size()), kMetaPrefix)) {
      continue;
    }
    const std::string meta_name = ToLower(std::string_view(name).substr(kMetaPrefix.size()));
    metadata_bytes += meta_name.size() + value.size();
    auto [it, inserted] = attributes.user_metadata.emplace(meta_name, value);
    if (!inserted) it->second += "," + value;
  }
  if (metadata_bytes > kMaxUserMetadataBytes) {
    return S3Status("MetadataTooLarge",
                    "Your metadata headers exceed the maximum allowed metadata size (2 KB).");
  }
  return attributes;
}

// Canned ACLs a single-owner store grants anyway; anything else is NotImplemented.
Status CheckCannedAcl(const HttpRequest& request) {
  const std::string_view acl = TrimSpace(request.Header("x-amz-acl"));
  if (!acl.empty() && acl != "private" && acl != "bucket-owner-full-control") {
    return S3Status("NotImplemented", "Only the canned ACL 'private' is supported.");
  }
  for (const auto& [name, value] : request.headers) {
    if (IEquals(std::string_view(name).substr(0, 12), "x-amz-grant-")) {
      return S3Status("NotImplemented", "ACL grants are not supported.");
    }
  }
  return Status::Ok();
}

// A `Range: bytes=...` header against an object of `size` bytes.
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
// nullopt: no range (absent, several ranges, or a syntax S3 ignores: the whole object is sent).
// InvalidRange when the range cannot be satisfied.
Result<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size) {
  header = TrimSpace(header);
  constexpr std::string_view kPrefix = "bytes=";
  if (header.empty() || header.substr(0, kPrefix.size()) != kPrefix) {
    return std::optional<ByteRange>();
  }
  std::string_view spec = TrimSpace(header.substr(kPrefix.size()));
  if (spec.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  const std::string_view first_text = TrimSpace(spec.substr(0, dash));
  const std::string_view last_text = TrimSpace(spec.substr(dash + 1));
  auto parse = [](std::string_view t) -> std::optional<uint64_t> {
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
    return v;
  };
  const Status unsatisfiable = S3Status("InvalidRange", "The requested range is not satisfiable");
  if (first_text.empty()) {  // suffix: the last N bytes
    auto suffix = parse(last_text);
    if (!suffix) return std::optional<ByteRange>();
    if (*suffix == 0 || size == 0) return unsatisfiable;
    const uint64_t length = std::min(*suffix, size);
    return std::optional<ByteRange>(ByteRange{size - length, length});
  }
  auto first = parse(first_text);
  if (!first) return std::optional<ByteRange>();
  uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    auto parsed = parse(last_text);
    if (!parsed || *parsed < *first) return std::optional<ByteRange>();
    last = std::min(last, *parsed);
  }
  if (*first >= size) return unsatisfiable;
  return std::optional<ByteRange>(ByteRange{*first, last - *first + 1});
}

// x-amz-copy-source-range: exactly "bytes=first-last" with first <= last < size (no clamping,
// no suffix form, unlike Range).
std::optional<ByteRange> ParseCopyRange(std::string_view header, uint64_t size) {
  header = TrimSpace(header);
  constexpr std::string_view kPrefix = "bytes=";
  if (header.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  header.remove_prefix(kPrefix.size());
  const size_t dash = header.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  uint64_t first = 0, last = 0;
  const std::string_view a = header.substr(0, dash), b = header.substr(dash + 1);
  auto [pa, ea] = std::from_chars(a.data(), a.data() + a.size(), first);
  auto [pb, eb] = std::from_chars(b.data(), b.data() + b.size(), last);
  if (a.empty() || b.empty() || ea != std::errc() || eb != std::errc() ||
      pa != a.data() + a.size() || pb != b.data() + b.size() || first > last || last >= size) {
    return std::nullopt;
  }
  return ByteRange{first, last - first + 1};
}

Result<std::string> ReadFileRange(const std::string& path, uint64_t offset, uint64_t length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error(ErrorCode::kIoError,
                 "InternalError: cannot open object bytes: " + std::string(std::strerror(errno)));
  }
  std::string out(length, '\0');
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = n < 0 ? std::strerror(errno) : "the file is shorter than its size";
      ::close(fd);
      return Error(ErrorCode::kIoError, "InternalError: cannot read object bytes: " + reason);
    }
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return out;
}

// x-amz-copy-source: "[/]bucket/key[?versionId=null]", URL-encoded.
struct CopySource {
  std::string bucket, key;
};
Result<CopySource> ParseCopySource(std::string_view header) {
  header = TrimSpace(header);
  if (const size_t question = header.find('?'); question != std::string_view::npos) {
    const std::string_view query = header.substr(question + 1);
    if (query != "versionId=null") {
      return S3Status("InvalidArgument", "Only the version 'null' of a copy source exists.");
    }
    header = header.substr(0, question);
  }
  auto decoded = PercentDecode(header);
  if (!decoded) return S3Status("InvalidArgument", "Copy Source is not URL-encoded correctly.");
  std::string_view source = *decoded;
  if (!source.empty() && source.front() == '/') source.remove_prefix(1);
  const size_t slash = source.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == source.size()) {
    return S3Status("InvalidArgument",
                    "Copy Source must mention the source bucket and key: "
                    "sourcebucket/sourcekey.");
  }
  return CopySource{std::string(source.substr(0, slash)), std::string(source.substr(slash + 1))};
}

Result<int> MaxKeysParam(const HttpRequest& request, std::string_view name, int fallback) {
  if (!HasQuery(request, name)) return fallback;
  auto value = ParseInt(request.QueryParam(name));
  if (!value || *value < 0) {
    return S3Status("InvalidArgument", "Provided " + std::string(name) +
                                           " not an integer or "
                                           "within integer range");
  }
  return static_cast<int>(std::min<int64_t>(*value, kMaxListKeys));
}

Result<bool> UrlEncodingParam(const HttpRequest& request) {
  if (!HasQuery(request, "encoding-type")) return false;
  if (request.QueryParam("encoding-type") != "url") {
    return S3Status("InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  return true;
}

HttpResponse XmlResponse(std::string body, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::string(kXmlContentType);
  response.body = std::move(body);
  return response;
}

HttpResponse EmptyResponse(int status = 200) {
  HttpResponse response;
  response.status = status;
  response.content_type.clear();
  return response;
}

void AddChecksumHeaders(HttpResponse& response, const std::map<std::string, std::string>& sums) {
  for (const auto& [algorithm, value] : sums) {
    response.headers.emplace_back("x-amz-checksum-" + algorithm, value);
  }
}

std::string ContentTypeOf(const ObjectInfo& info) {
  return info.content_type.empty() ? std::string(kDefaultObjectType) : info.content_type;
}

}  // namespace

// ---- The API --------------------------------------------------------------------------------

struct S3Api::Impl : std::enable_shared_from_this<S3Api::Impl> {
  storage::BucketStore* store = nullptr;
  S3ApiOptions options;

  // One request being answered.
  struct Call {
    HttpRequest& request;
    const AwsRequestContext& context;
    const S3Target& target;
    std::string_view request_id;

    Status Authorize(std::string_view action, std::string_view resource) const {
      if (!context.authorize) return Status::Ok();
      Status status = context.authorize(action, resource);
      if (status.ok()) return status;
      return S3Status("AccessDenied",
                      status.message().empty() ? "Access Denied" : status.message());
    }
    bool head() const { return request.method == "HEAD"; }
  };

  using Operation = Result<HttpResponse> (Impl::*)(Call&);

  void RunBlocking(std::function<void()> task) {
    if (options.run_blocking) {
      options.run_blocking(std::move(task));
    } else {
      task();
    }
  }

  // ---- Dispatch -----------------------------------------------------------------------------

  static bool Unsupported(const HttpRequest& request) {
    static constexpr std::string_view kSubresources[] = {
        "accelerate",     "analytics",         "attributes",
        "cors",           "encryption",        "intelligent-tiering",
        "inventory",      "legal-hold",        "lifecycle",
        "logging",        "metrics",           "notification",
        "object-lock",    "ownershipControls", "policy",
        "policyStatus",   "publicAccessBlock", "replication",
        "requestPayment", "restore",           "retention",
        "select",         "tagging",           "torrent",
        "website"};
    for (std::string_view name : kSubresources) {
      if (HasQuery(request, name)) return true;
    }
    return false;
  }

  // The operation a request names, or an error (NotImplemented, MethodNotAllowed).
  Result<Operation> Route(const HttpRequest& request, const S3Target& target) {
    const std::string& method = request.method;
    const auto not_implemented = [&] {
      return S3Status("NotImplemented",
                      "A header or query you provided implies functionality that is not "
                      "implemented.");
    };
    if (Unsupported(request)) return not_implemented();
    if (target.bucket.empty()) {
      if (method == "GET") return &Impl::ListBuckets;
      return not_implemented();
    }
    if (target.key.empty()) {
      if (method == "GET" || method == "HEAD") {
        if (method == "HEAD") return &Impl::HeadBucket;
        if (HasQuery(request, "location")) return &Impl::GetBucketLocation;
        if (HasQuery(request, "acl")) return &Impl::GetAcl;
        if (HasQuery(request, "versioning")) return &Impl::GetBucketVersioning;
        if (HasQuery(request, "versions")) return &Impl::ListObjectVersions;
        if (HasQuery(request, "uploads")) return &Impl::ListMultipartUploads;
        if (request.QueryParam("list-type") == "2") return &Impl::ListObjectsV2;
        return &Impl::ListObjectsV1;
      }
      if (method == "PUT") {
        if (HasQuery(request, "acl")) return &Impl::PutAcl;
        if (HasQuery(request, "versioning")) return not_implemented();
        return &Impl::CreateBucket;
      }
      if (method == "DELETE") {
        if (HasQuery(request, "versioning")) return not_implemented();
        return &Impl::DeleteBucket;
      }
      if (method == "POST") {
        if (HasQuery(request, "delete")) return &Impl::DeleteObjects;
        return not_implemented();
      }
      return not_implemented();
    }
    if (method == "GET" || method == "HEAD") {
      if (HasQuery(request, "partNumber")) return not_implemented();
      if (method == "GET" && HasQuery(request, "uploadId")) return &Impl::ListParts;
      if (method == "GET" && HasQuery(request, "acl")) return &Impl::GetAcl;
      return &Impl::GetObject;
    }
    if (method == "PUT") {
      if (HasQuery(request, "acl")) return &Impl::PutAcl;
      const bool copy = !request.Header("x-amz-copy-source").empty();
      if (HasQuery(request, "uploadId") || HasQuery(request, "partNumber")) {
        return copy ? &Impl::UploadPartCopy : &Impl::UploadPart;
      }
      return copy ? &Impl::CopyObject : &Impl::PutObject;
    }
    if (method == "POST") {
      if (HasQuery(request, "uploads")) return &Impl::CreateMultipartUpload;
      if (HasQuery(request, "uploadId")) return &Impl::CompleteMultipartUpload;
      return not_implemented();
    }
    if (method == "DELETE") {
      if (HasQuery(request, "uploadId")) return &Impl::AbortMultipartUpload;
      return &Impl::DeleteObject;
    }
    return not_implemented();
  }

  void Handle(HttpRequest& request, AwsRequestContext context, Responder respond) {
    std::string request_id = context.request_id.empty() ? NewRequestId() : context.request_id;
    Responder reply = [request_id, &request, respond = std::move(respond)](HttpResponse response) {
      response.headers.emplace_back("x-amz-request-id", request_id);
      if (request.method == "HEAD" && response.status >= 300) response.body.clear();
      respond(std::move(response));
    };
    S3Target target = ResolveTarget(request);
    auto route = Route(request, target);
    if (!route.ok()) return reply(Fail(request, route.status(), request_id));
    RunBlocking([self = shared_from_this(), &request, context = std::move(context),
                 target = std::move(target), request_id = std::move(request_id), operation = *route,
                 reply = std::move(reply)]() mutable {
      Call call{request, context, target, request_id};
      HttpResponse response;
      try {
        auto answer = (self.get()->*operation)(call);
        response =
            answer.ok() ? std::move(answer).value() : Fail(request, answer.status(), request_id);
      } catch (const std::exception& e) {
        BASIN_LOG(Error, "s3") << request.method << " " << request.target << ": " << e.what();
        response =
            Fail(request, Error(ErrorCode::kInternal, "InternalError: " + std::string(e.what())),
                 request_id);
      }
      reply(std::move(response));
    });
  }

  static HttpResponse Fail(const HttpRequest& request, const Status& status,
                           std::string_view request_id) {
    const S3Error error = ToS3Error(status);
    if (error.http_status == 500) {
      BASIN_LOG(Warn, "s3") << request.method << " " << request.path << ": " << status.ToString();
    }
    HttpResponse response =
        S3Api::ErrorResponse(request, error.http_status, error.code, error.message, request_id);
    // ErrorResponse adds the request id; the reply wrapper adds it too: keep one.
    response.headers.erase(
        std::remove_if(response.headers.begin(), response.headers.end(),
                       [](const auto& h) { return h.first == "x-amz-request-id"; }),
        response.headers.end());
    return response;
  }

  // ---- Service and buckets ------------------------------------------------------------------

  Result<HttpResponse> ListBuckets(Call& call) {
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:ListAllMyBuckets", "arn:aws:s3:::*"));
    XmlWriter w;
    w.Open("ListAllMyBucketsResult", {{"xmlns", s3::kXmlNamespace}});
    WriteOwner(w);
    w.Open("Buckets");
    for (const auto& bucket : store->ListBuckets()) {
      w.Open("Bucket")
          .Element("Name", bucket.name)
          .Element("CreationDate", XmlTime(bucket.created_us))
          .Close();
    }
    return XmlResponse(w.Take());
  }

  Result<HttpResponse> CreateBucket(Call& call) {
    const std::string& bucket = call.target.bucket;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:CreateBucket", Arn(bucket)));
    BASIN_RETURN_IF_ERROR(CheckCannedAcl(call.request));
    BASIN_RETURN_IF_ERROR(s3::ParseCreateBucketConfiguration(call.request.body).status());
    Status created = store->CreateBucket(bucket);
    // As S3 in us-east-1: re-creating a bucket you own is a success.
    if (!created.ok() && !(storage::S3ErrorName(created) == "BucketAlreadyOwnedByYou" &&
                           options.region == "us-east-1")) {
      return created;
    }
    HttpResponse response = EmptyResponse();
    response.headers.emplace_back("Location", "/" + bucket);
    return response;
  }

  Result<HttpResponse> DeleteBucket(Call& call) {
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:DeleteBucket", Arn(call.target.bucket)));
    BASIN_RETURN_IF_ERROR(store->DeleteBucket(call.target.bucket));
    return EmptyResponse(204);
  }

  Result<HttpResponse> HeadBucket(Call& call) {
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:ListBucket", Arn(call.target.bucket)));
    BASIN_RETURN_IF_ERROR(store->GetBucket(call.target.bucket).status());
    HttpResponse response = EmptyResponse();
    response.headers.emplace_back("x-amz-bucket-region", options.region);
    return response;
  }

  Result<HttpResponse> GetBucketLocation(Call& call) {
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetBucketLocation", Arn(call.target.bucket)));
    BASIN_RETURN_IF_ERROR(store->GetBucket(call.target.bucket).status());
    XmlWriter w;
    // S3 names us-east-1 by an empty constraint.
    w.Open("LocationConstraint", {{"xmlns", s3::kXmlNamespace}});
    std::string body = w.Take();
    if (options.region != "us-east-1") {
      body.insert(body.size() - std::string_view("</LocationConstraint>").size(), options.region);
    }
    return XmlResponse(std::move(body));
  }

  Result<HttpResponse> GetBucketVersioning(Call& call) {
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetBucketVersioning", Arn(call.target.bucket)));
    BASIN_RETURN_IF_ERROR(store->GetBucket(call.target.bucket).status());
    XmlWriter w;  // never enabled: an empty configuration, as S3 answers
    w.Open("VersioningConfiguration", {{"xmlns", s3::kXmlNamespace}});
    return XmlResponse(w.Take());
  }

  Result<HttpResponse> GetAcl(Call& call) {
    const S3Target& t = call.target;
    if (t.key.empty()) {
      BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetBucketAcl", Arn(t.bucket)));
      BASIN_RETURN_IF_ERROR(store->GetBucket(t.bucket).status());
    } else {
      BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetObjectAcl", Arn(t.bucket, t.key)));
      BASIN_RETURN_IF_ERROR(store->HeadObject(t.bucket, t.key).status());
    }
    XmlWriter w;
    w.Open("AccessControlPolicy", {{"xmlns", s3::kXmlNamespace}});
    WriteOwner(w);
    w.Open("AccessControlList").Open("Grant");
    w.Open("Grantee", {{"xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"},
                       {"xsi:type", "CanonicalUser"}})
        .Element("ID", OwnerId())
        .Element("DisplayName", kOwnerName)
        .Close();
    w.Element("Permission", "FULL_CONTROL");
    return XmlResponse(w.Take());
  }

  Result<HttpResponse> PutAcl(Call& call) {
    const S3Target& t = call.target;
    if (t.key.empty()) {
      BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutBucketAcl", Arn(t.bucket)));
    } else {
      BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObjectAcl", Arn(t.bucket, t.key)));
    }
    if (TrimSpace(call.request.Header("x-amz-acl")).empty() || !call.request.body.empty()) {
      return S3Status("NotImplemented", "Only the canned ACL 'private' (x-amz-acl) is supported.");
    }
    BASIN_RETURN_IF_ERROR(CheckCannedAcl(call.request));
    if (t.key.empty()) {
      BASIN_RETURN_IF_ERROR(store->GetBucket(t.bucket).status());
    } else {
      BASIN_RETURN_IF_ERROR(store->HeadObject(t.bucket, t.key).status());
    }
    return EmptyResponse();
  }

  // ---- Listing ------------------------------------------------------------------------------

  static void WriteContents(XmlWriter& w, std::string_view element, const ObjectInfo& object,
                            bool url, bool owner, bool version) {
    w.Open(element).Element("Key", url ? UrlEncode(object.key) : object.key);
    if (version) w.Element("VersionId", "null").Bool("IsLatest", true);
    w.Element("LastModified", XmlTime(object.last_modified_us))
        .Element("ETag", object.etag)
        .Element("Size", static_cast<int64_t>(object.size));
    if (owner) WriteOwner(w);
    w.Element("StorageClass", "STANDARD").Close();
  }

  static void WriteCommonPrefixes(XmlWriter& w, const std::vector<std::string>& prefixes,
                                  bool url) {
    for (const auto& prefix : prefixes) {
      w.Open("CommonPrefixes").Element("Prefix", url ? UrlEncode(prefix) : prefix).Close();
    }
  }

  // What every listing reads from its query: authorization for `action` on the bucket,
  // encoding-type, max-keys, prefix and delimiter.
  struct ListQuery {
    bool url = false;
    storage::ListRequest list;
  };
  Result<ListQuery> ReadListQuery(Call& call, std::string_view action) {
    const HttpRequest& r = call.request;
    BASIN_RETURN_IF_ERROR(call.Authorize(action, Arn(call.target.bucket)));
    ListQuery query;
    BASIN_ASSIGN_OR_RETURN(query.url, UrlEncodingParam(r));
    BASIN_ASSIGN_OR_RETURN(query.list.max_keys, MaxKeysParam(r, "max-keys", kMaxListKeys));
    query.list.prefix = std::string(r.QueryParam("prefix"));
    query.list.delimiter = std::string(r.QueryParam("delimiter"));
    return query;
  }

  Result<HttpResponse> ListObjectsV1(Call& call) {
    const HttpRequest& r = call.request;
    BASIN_ASSIGN_OR_RETURN(ListQuery query, ReadListQuery(call, "s3:ListBucket"));
    const bool url = query.url;
    const int max_keys = query.list.max_keys;
    storage::ListRequest& list = query.list;
    const std::string marker(r.QueryParam("marker"));
    list.start_after = marker;  // a common prefix as marker skips its keys (the store's rule)
    BASIN_ASSIGN_OR_RETURN(auto result, store->ListObjects(call.target.bucket, list));
    const auto enc = [url](std::string_view s) { return url ? UrlEncode(s) : std::string(s); };
    XmlWriter w;
    w.Open("ListBucketResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Name", call.target.bucket)
        .Element("Prefix", enc(list.prefix))
        .Element("Marker", enc(marker))
        .Element("MaxKeys", max_keys);
    if (!list.delimiter.empty()) w.Element("Delimiter", enc(list.delimiter));
    if (url) w.Element("EncodingType", "url");
    w.Bool("IsTruncated", result.truncated);
    if (result.truncated && !list.delimiter.empty()) {
      w.Element("NextMarker", enc(result.next_marker));
    }
    for (const auto& object : result.objects) {
      WriteContents(w, "Contents", object, url, /*owner=*/true, /*version=*/false);
    }
    WriteCommonPrefixes(w, result.common_prefixes, url);
    return XmlResponse(w.Take());
  }

  Result<HttpResponse> ListObjectsV2(Call& call) {
    const HttpRequest& r = call.request;
    BASIN_ASSIGN_OR_RETURN(ListQuery query, ReadListQuery(call, "s3:ListBucket"));
    const bool url = query.url;
    const int max_keys = query.list.max_keys;
    storage::ListRequest& list = query.list;
    const std::string start_after(r.QueryParam("start-after"));
    const std::string token(r.QueryParam("continuation-token"));
    if (HasQuery(r, "continuation-token")) {
      // The token is base64 of the key to start after (opaque to clients).
      auto decoded = Base64Decode(token);
      if (!decoded || decoded->empty()) {
        return S3Status("InvalidArgument", "The continuation token provided is incorrect");
      }
      list.start_after = std::move(*decoded);
    } else {
      list.start_after = start_after;
    }
    BASIN_ASSIGN_OR_RETURN(auto result, store->ListObjects(call.target.bucket, list));
    const auto enc = [url](std::string_view s) { return url ? UrlEncode(s) : std::string(s); };
    XmlWriter w;
    w.Open("ListBucketResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Name", call.target.bucket)
        .Element("Prefix", enc(list.prefix));
    if (!list.delimiter.empty()) w.Element("Delimiter", enc(list.delimiter));
    w.Element("MaxKeys", max_keys);
    if (url) w.Element("EncodingType", "url");
    w.Element("KeyCount",
              static_cast<int64_t>(result.objects.size() + result.common_prefixes.size()))
        .Bool("IsTruncated", result.truncated);
    if (HasQuery(r, "continuation-token")) w.Element("ContinuationToken", token);
    if (result.truncated) {
      w.Element("NextContinuationToken", Base64Encode(result.next_marker));
    }
    if (HasQuery(r, "start-after")) w.Element("StartAfter", enc(start_after));
    const bool owner = r.QueryParam("fetch-owner") == "true";
    for (const auto& object : result.objects) {
      WriteContents(w, "Contents", object, url, owner, /*version=*/false);
    }
    WriteCommonPrefixes(w, result.common_prefixes, url);
    return XmlResponse(w.Take());
  }

  // No bucket is versioned: every current object is its only version, with VersionId "null".
  Result<HttpResponse> ListObjectVersions(Call& call) {
    const HttpRequest& r = call.request;
    BASIN_ASSIGN_OR_RETURN(ListQuery query, ReadListQuery(call, "s3:ListBucketVersions"));
    const bool url = query.url;
    const int max_keys = query.list.max_keys;
    storage::ListRequest& list = query.list;
    const std::string marker(r.QueryParam("key-marker"));
    list.start_after = marker;  // a common prefix as marker skips its keys (the store's rule)
    BASIN_ASSIGN_OR_RETURN(auto result, store->ListObjects(call.target.bucket, list));
    const auto enc = [url](std::string_view s) { return url ? UrlEncode(s) : std::string(s); };
    XmlWriter w;
    w.Open("ListVersionsResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Name", call.target.bucket)
        .Element("Prefix", enc(list.prefix))
        .Element("KeyMarker", enc(marker))
        .Element("VersionIdMarker", r.QueryParam("version-id-marker"))
        .Element("MaxKeys", max_keys);
    if (!list.delimiter.empty()) w.Element("Delimiter", enc(list.delimiter));
    if (url) w.Element("EncodingType", "url");
    w.Bool("IsTruncated", result.truncated);
    if (result.truncated) {
      w.Element("NextKeyMarker", enc(result.next_marker)).Element("NextVersionIdMarker", "null");
    }
    for (const auto& object : result.objects) {
      WriteContents(w, "Version", object, url, /*owner=*/true, /*version=*/true);
    }
    WriteCommonPrefixes(w, result.common_prefixes, url);
    return XmlResponse(w.Take());
  }

  Result<HttpResponse> ListMultipartUploads(Call& call) {
    const HttpRequest& r = call.request;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:ListBucketMultipartUploads", Arn(call.target.bucket)));
    BASIN_ASSIGN_OR_RETURN(const bool url, UrlEncodingParam(r));
    BASIN_ASSIGN_OR_RETURN(const int max_uploads, MaxKeysParam(r, "max-uploads", kMaxListKeys));
    const std::string prefix(r.QueryParam("prefix"));
    const std::string delimiter(r.QueryParam("delimiter"));
    const std::string key_marker(r.QueryParam("key-marker"));
    const std::string upload_marker(r.QueryParam("upload-id-marker"));
    BASIN_ASSIGN_OR_RETURN(auto uploads, store->ListMultipartUploads(call.target.bucket, prefix));
    std::sort(uploads.begin(), uploads.end(), [](const auto& a, const auto& b) {
      return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
    });
    std::vector<const storage::MultipartUpload*> page;
    std::vector<std::string> prefixes;
    bool truncated = false;
    std::string next_key, next_upload;
    for (const auto& upload : uploads) {
      if (!key_marker.empty()) {
        if (upload.key < key_marker) continue;
        if (upload.key == key_marker &&
            (upload_marker.empty() || upload.upload_id <= upload_marker)) {
          continue;
        }
      }
      std::string group;
      if (!delimiter.empty()) {
        const size_t at = upload.key.find(delimiter, prefix.size());
        if (at != std::string::npos) group = upload.key.substr(0, at + delimiter.size());
      }
      if (!group.empty() && !prefixes.empty() && prefixes.back() == group) continue;
      if (static_cast<int>(page.size() + prefixes.size()) == max_uploads) {
        truncated = true;
        break;
      }
      if (!group.empty()) {
        prefixes.push_back(group);
        next_key = group;
        next_upload.clear();
      } else {
        page.push_back(&upload);
        next_key = upload.key;
        next_upload = upload.upload_id;
      }
    }
    const auto enc = [url](std::string_view s) { return url ? UrlEncode(s) : std::string(s); };
    XmlWriter w;
    w.Open("ListMultipartUploadsResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Bucket", call.target.bucket)
        .Element("KeyMarker", enc(key_marker))
        .Element("UploadIdMarker", upload_marker);
    if (truncated) {
      w.Element("NextKeyMarker", enc(next_key)).Element("NextUploadIdMarker", next_upload);
    }
    w.Element("Prefix", enc(prefix));
    if (!delimiter.empty()) w.Element("Delimiter", enc(delimiter));
    if (url) w.Element("EncodingType", "url");
    w.Element("MaxUploads", max_uploads).Bool("IsTruncated", truncated);
    for (const auto* upload : page) {
      w.Open("Upload").Element("Key", enc(upload->key)).Element("UploadId", upload->upload_id);
      WriteOwner(w, "Initiator");
      WriteOwner(w);
      w.Element("StorageClass", "STANDARD")
          .Element("Initiated", XmlTime(upload->initiated_us))
          .Close();
    }
    WriteCommonPrefixes(w, prefixes, url);
    return XmlResponse(w.Take());
  }

  // ---- Objects ------------------------------------------------------------------------------

  // A key the store can hold: KeyTooLongError past 1024 bytes, InvalidArgument otherwise.
  static Status CheckKey(std::string_view key) {
    if (key.size() > 1024) return S3Status("KeyTooLongError", "Your key is too long");
    if (!BucketStore::IsValidKey(key)) {
      return S3Status("InvalidArgument", "Object key must be 1 to 1024 bytes of UTF-8 without NUL");
    }
    return Status::Ok();
  }

  // Content-MD5 and x-amz-checksum-* of an upload; returns the verified checksums.
  static Result<std::map<std::string, std::string>> VerifyBody(Call& call) {
    BASIN_RETURN_IF_ERROR(
        s3::VerifyContentMd5(TrimSpace(call.request.Header("Content-MD5")), call.request.body));
    return s3::VerifyChecksums(call.request.headers, call.context.trailers, call.request.body);
  }

  static Status RejectConditionalWrite(const HttpRequest& request) {
    if (!request.Header("If-None-Match").empty() || !request.Header("If-Match").empty()) {
      return S3Status("NotImplemented", "Conditional writes are not supported.");
    }
    return Status::Ok();
  }

  // Hands an object stored in `landing` to the ingest hook; reports the outcome in headers.
  void IngestLanding(const ObjectInfo& info, HttpResponse& response) {
    if (info.bucket != kLandingBucket || !options.on_landing_object) return;
    auto reader = store->OpenObject(info.bucket, info.key);
    if (!reader.ok()) {
      response.headers.emplace_back("x-basin-ingest-error",
                                    StripLineBreaks(reader.status().message()));
      return;
    }
    LandingOutcome outcome = options.on_landing_object(reader->info, reader->path);
    if (!outcome.error.ok()) {
      BASIN_LOG(Warn, "s3") << "ingest of landing/" << info.key
                            << " failed: " << outcome.error.ToString();
      response.headers.emplace_back("x-basin-ingest-error",
                                    StripLineBreaks(outcome.error.ToString()));
    } else if (outcome.ingested) {
      response.headers.emplace_back("x-basin-ingest", StripLineBreaks(outcome.summary));
    }
  }

  Result<HttpResponse> PutObject(Call& call) {
    const S3Target& t = call.target;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObject", Arn(t.bucket, t.key)));
    BASIN_RETURN_IF_ERROR(CheckKey(t.key));
    BASIN_RETURN_IF_ERROR(CheckCannedAcl(call.request));
    BASIN_RETURN_IF_ERROR(RejectConditionalWrite(call.request));
    BASIN_ASSIGN_OR_RETURN(auto attributes, AttributesFromHeaders(call.request));
    BASIN_ASSIGN_OR_RETURN(attributes.checksums, VerifyBody(call));
    BASIN_ASSIGN_OR_RETURN(ObjectInfo info,
                           store->PutObject(t.bucket, t.key, call.request.body, attributes));
    HttpResponse response = EmptyResponse();
    response.headers.emplace_back("ETag", info.etag);
    AddChecksumHeaders(response, attributes.checksums);
    IngestLanding(info, response);
    return response;
  }

  Result<HttpResponse> CopyObject(Call& call) {
    const S3Target& t = call.target;
    BASIN_ASSIGN_OR_RETURN(CopySource source,
                           ParseCopySource(call.request.Header("x-amz-copy-source")));
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetObject", Arn(source.bucket, source.key)));
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObject", Arn(t.bucket, t.key)));
    BASIN_RETURN_IF_ERROR(CheckKey(t.key));
    BASIN_RETURN_IF_ERROR(CheckCannedAcl(call.request));
    const std::string_view directive = TrimSpace(call.request.Header("x-amz-metadata-directive"));
    if (!directive.empty() && directive != "COPY" && directive != "REPLACE") {
      return S3Status("InvalidArgument", "Unknown metadata directive.");
    }
    std::optional<storage::ObjectAttributes> replace;
    if (directive == "REPLACE") {
      BASIN_ASSIGN_OR_RETURN(replace, AttributesFromHeaders(call.request));
    } else if (source.bucket == t.bucket && source.key == t.key) {
      return S3Status("InvalidRequest",
                      "This copy request is illegal because it is trying to copy an object to "
                      "itself without changing the object's metadata, storage class, website "
                      "redirect location or encryption attributes.");
    }
    BASIN_ASSIGN_OR_RETURN(ObjectInfo info,
                           store->CopyObject(source.bucket, source.key, t.bucket, t.key, replace));
    XmlWriter w;
    w.Open("CopyObjectResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("LastModified", XmlTime(info.last_modified_us))
        .Element("ETag", info.etag);
    HttpResponse response = XmlResponse(w.Take());
    IngestLanding(info, response);
    return response;
  }

  // Conditional GET/HEAD (If-Match, If-None-Match, If-(Un)Modified-Since): an answer or nullopt.
  static std::optional<HttpResponse> CheckPreconditions(const HttpRequest& r,
                                                        const ObjectInfo& info) {
    const auto etag_matches = [&](std::string_view header) {
      for (size_t start = 0; start <= header.size();) {
        const size_t comma = std::min(header.find(',', start), header.size());
        std::string_view tag = TrimSpace(header.substr(start, comma - start));
        if (tag == "*") return true;
        if (tag.size() >= 2 && tag.front() == '"') tag = tag.substr(1, tag.size() - 2);
        std::string_view own = info.etag;
        if (own.size() >= 2 && own.front() == '"') own = own.substr(1, own.size() - 2);
        if (tag == own) return true;
        start = comma + 1;
      }
      return false;
    };
    const int64_t modified_seconds = info.last_modified_us / 1'000'000;
    const std::string_view if_match = r.Header("If-Match");
    const std::string_view if_none_match = r.Header("If-None-Match");
    const auto failed = [] {
      return std::optional<HttpResponse>(EmptyResponse(412));  // body filled by the caller
    };
    if (!if_match.empty()) {
      if (!etag_matches(if_match)) return failed();
    } else if (auto since = ParseHttpDate(r.Header("If-Unmodified-Since"))) {
      if (modified_seconds > *since / 1'000'000) return failed();
    }
    if (!if_none_match.empty()) {
      if (etag_matches(if_none_match)) return EmptyResponse(304);
    } else if (auto since = ParseHttpDate(r.Header("If-Modified-Since"))) {
      if (modified_seconds <= *since / 1'000'000) return EmptyResponse(304);
    }
    return std::nullopt;
  }

  static void AddObjectHeaders(HttpResponse& response, const ObjectInfo& info) {
    response.headers.emplace_back("ETag", info.etag);
    response.headers.emplace_back("Last-Modified", HttpDate(info.last_modified_us));
    if (!info.content_encoding.empty()) {
      response.headers.emplace_back("Content-Encoding", info.content_encoding);
    }
    if (!info.cache_control.empty())
      response.headers.emplace_back("Cache-Control", info.cache_control);
    if (!info.content_disposition.empty()) {
      response.headers.emplace_back("Content-Disposition", info.content_disposition);
    }
    if (!info.content_language.empty()) {
      response.headers.emplace_back("Content-Language", info.content_language);
    }
    if (!info.expires.empty()) response.headers.emplace_back("Expires", info.expires);
    for (const auto& [name, value] : info.user_metadata) {
      response.headers.emplace_back("x-amz-meta-" + name, value);
    }
  }

  // GetObject and HeadObject.
  Result<HttpResponse> GetObject(Call& call) {
    const S3Target& t = call.target;
    const HttpRequest& r = call.request;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetObject", Arn(t.bucket, t.key)));
    if (HasQuery(r, "versionId") && r.QueryParam("versionId") != "null") {
      return S3Status("NoSuchVersion", "The specified version does not exist.");
    }
    BASIN_ASSIGN_OR_RETURN(storage::ObjectReader reader, store->OpenObject(t.bucket, t.key));
    const ObjectInfo& info = reader.info;
    if (auto answer = CheckPreconditions(r, info)) {
      if (answer->status == 412) {
        return S3Status("PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold");
      }
      AddObjectHeaders(*answer, info);
      return std::move(*answer);
    }
    BASIN_ASSIGN_OR_RETURN(std::optional<ByteRange> range,
                           ParseRange(r.Header("Range"), info.size));
    HttpResponse response = EmptyResponse(range ? 206 : 200);
    response.content_type = ContentTypeOf(info);
    AddObjectHeaders(response, info);
    response.headers.emplace_back("Accept-Ranges", "bytes");
    if (info.parts_count > 0 && !range) {
      response.headers.emplace_back("x-amz-mp-parts-count", std::to_string(info.parts_count));
    }
    if (!range && IEquals(TrimSpace(r.Header("x-amz-checksum-mode")), "ENABLED")) {
      AddChecksumHeaders(response, info.checksums);
    }
    const uint64_t first = range ? range->first : 0;
    const uint64_t length = range ? range->length : info.size;
    if (range) {
      response.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" +
                                                         std::to_string(first + length - 1) + "/" +
                                                         std::to_string(info.size));
    }
    // Response overrides (presigned downloads use them).
    static constexpr std::pair<std::string_view, std::string_view> kOverrides[] = {
        {"response-cache-control", "Cache-Control"},
        {"response-content-disposition", "Content-Disposition"},
        {"response-content-encoding", "Content-Encoding"},
        {"response-content-language", "Content-Language"},
        {"response-expires", "Expires"}};
    for (const auto& [param, header] : kOverrides) {
      if (!HasQuery(r, param)) continue;
      auto& headers = response.headers;
      headers.erase(std::remove_if(headers.begin(), headers.end(),
                                   [&](const auto& h) { return h.first == header; }),
                    headers.end());
      headers.emplace_back(std::string(header), std::string(r.QueryParam(param)));
    }
    if (HasQuery(r, "response-content-type")) {
      response.content_type = std::string(r.QueryParam("response-content-type"));
    }
    if (call.head()) {
      // No body: the server needs the length stated (see docs/aws-compatibility.md).
      response.headers.emplace_back("Content-Length", std::to_string(length));
      return response;
    }
    BASIN_ASSIGN_OR_RETURN(response.body, ReadFileRange(reader.path, first, length));
    return response;
  }

  Result<HttpResponse> DeleteObject(Call& call) {
    const S3Target& t = call.target;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:DeleteObject", Arn(t.bucket, t.key)));
    const HttpRequest& r = call.request;
    if (HasQuery(r, "versionId") && r.QueryParam("versionId") != "null") {
      return S3Status("InvalidArgument", "Invalid version id specified");
    }
    if (t.key.size() <= 1024 && BucketStore::IsValidKey(t.key)) {
      BASIN_RETURN_IF_ERROR(store->DeleteObject(t.bucket, t.key));
    } else {
      // No such key can exist; S3 answers a delete of a missing key with 204.
      BASIN_RETURN_IF_ERROR(store->GetBucket(t.bucket).status());
    }
    return EmptyResponse(204);
  }

  Result<HttpResponse> DeleteObjects(Call& call) {
    const HttpRequest& r = call.request;
    if (r.Header("Content-MD5").empty() && !HasChecksumHeader(call)) {
      return S3Status("InvalidRequest", "Missing required header for this request: Content-MD5");
    }
    BASIN_RETURN_IF_ERROR(VerifyBody(call).status());
    BASIN_ASSIGN_OR_RETURN(s3::DeleteObjectsInput input, s3::ParseDeleteObjects(r.body));
    BASIN_RETURN_IF_ERROR(store->GetBucket(call.target.bucket).status());
    XmlWriter w;
    w.Open("DeleteResult", {{"xmlns", s3::kXmlNamespace}});
    for (const auto& object : input.objects) {
      Status status = call.Authorize("s3:DeleteObject", Arn(call.target.bucket, object.key));
      if (status.ok() && !object.version_id.empty() && object.version_id != "null") {
        status = S3Status("NoSuchVersion", "The specified version does not exist.");
      }
      if (status.ok() && object.key.size() <= 1024 && BucketStore::IsValidKey(object.key)) {
        status = store->DeleteObject(call.target.bucket, object.key);
      }
      if (status.ok()) {
        if (input.quiet) continue;
        w.Open("Deleted").Element("Key", object.key);
        if (!object.version_id.empty()) w.Element("VersionId", object.version_id);
        w.Close();
      } else {
        const S3Error error = ToS3Error(status);
        w.Open("Error").Element("Key", object.key);
        if (!object.version_id.empty()) w.Element("VersionId", object.version_id);
        w.Element("Code", error.code).Element("Message", error.message).Close();
      }
    }
    return XmlResponse(w.Take());
  }

  static bool HasChecksumHeader(const Call& call) {
    for (std::string_view algorithm : s3::kChecksumAlgorithms) {
      const std::string name = "x-amz-checksum-" + std::string(algorithm);
      if (!call.request.Header(name).empty() || call.context.trailers.count(name) > 0) return true;
    }
    return false;
  }

  // ---- Multipart ----------------------------------------------------------------------------

  Result<HttpResponse> CreateMultipartUpload(Call& call) {
    const S3Target& t = call.target;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObject", Arn(t.bucket, t.key)));
    BASIN_RETURN_IF_ERROR(CheckKey(t.key));
    BASIN_RETURN_IF_ERROR(CheckCannedAcl(call.request));
    BASIN_ASSIGN_OR_RETURN(auto attributes, AttributesFromHeaders(call.request));
    BASIN_ASSIGN_OR_RETURN(auto upload, store->CreateMultipartUpload(t.bucket, t.key, attributes));
    XmlWriter w;
    w.Open("InitiateMultipartUploadResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Bucket", upload.bucket)
        .Element("Key", upload.key)
        .Element("UploadId", upload.upload_id);
    return XmlResponse(w.Take());
  }

  static Result<int> PartNumberParam(const HttpRequest& r) {
    auto number = ParseInt(r.QueryParam("partNumber"));
    if (!number || *number < 1 || *number > 10'000) {
      return S3Status("InvalidArgument",
                      "Part number must be an integer between 1 and 10000, inclusive");
    }
    return static_cast<int>(*number);
  }

  Result<HttpResponse> UploadPart(Call& call) {
    const S3Target& t = call.target;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObject", Arn(t.bucket, t.key)));
    BASIN_ASSIGN_OR_RETURN(const int part_number, PartNumberParam(call.request));
    BASIN_ASSIGN_OR_RETURN(auto checksums, VerifyBody(call));
    BASIN_ASSIGN_OR_RETURN(storage::PartInfo part,
                           store->UploadPart(t.bucket, t.key, call.request.QueryParam("uploadId"),
                                             part_number, call.request.body, checksums));
    HttpResponse response = EmptyResponse();
    response.headers.emplace_back("ETag", part.etag);
    AddChecksumHeaders(response, checksums);
    return response;
  }

  Result<HttpResponse> UploadPartCopy(Call& call) {
    const S3Target& t = call.target;
    const HttpRequest& r = call.request;
    BASIN_ASSIGN_OR_RETURN(CopySource source, ParseCopySource(r.Header("x-amz-copy-source")));
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:GetObject", Arn(source.bucket, source.key)));
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObject", Arn(t.bucket, t.key)));
    BASIN_ASSIGN_OR_RETURN(const int part_number, PartNumberParam(r));
    BASIN_ASSIGN_OR_RETURN(storage::ObjectReader reader,
                           store->OpenObject(source.bucket, source.key));
    uint64_t first = 0, length = reader.info.size;
    if (const std::string_view range_header = r.Header("x-amz-copy-source-range");
        !range_header.empty()) {
      auto range = ParseCopyRange(range_header, reader.info.size);
      if (!range) {
        return S3Status("InvalidArgument",
                        "The x-amz-copy-source-range value must be of the form bytes=first-last "
                        "where first and last are the zero-based offsets of the first and last "
                        "bytes to copy, within the source object");
      }
      first = range->first;
      length = range->length;
    }
    BASIN_ASSIGN_OR_RETURN(std::string bytes, ReadFileRange(reader.path, first, length));
    BASIN_ASSIGN_OR_RETURN(
        storage::PartInfo part,
        store->UploadPart(t.bucket, t.key, r.QueryParam("uploadId"), part_number, bytes, {}));
    XmlWriter w;
    w.Open("CopyPartResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("LastModified", XmlTime(part.last_modified_us))
        .Element("ETag", part.etag);
    return XmlResponse(w.Take());
  }

  Result<HttpResponse> CompleteMultipartUpload(Call& call) {
    const S3Target& t = call.target;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:PutObject", Arn(t.bucket, t.key)));
    BASIN_ASSIGN_OR_RETURN(auto parts, s3::ParseCompleteMultipartUpload(call.request.body));
    BASIN_ASSIGN_OR_RETURN(ObjectInfo info,
                           store->CompleteMultipartUpload(
                               t.bucket, t.key, call.request.QueryParam("uploadId"), parts));
    std::string host(call.request.Header("Host"));
    XmlWriter w;
    w.Open("CompleteMultipartUploadResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Location", "http://" + host + "/" + UrlEncode(t.bucket) + "/" + UrlEncode(t.key))
        .Element("Bucket", t.bucket)
        .Element("Key", t.key)
        .Element("ETag", info.etag);
    HttpResponse response = XmlResponse(w.Take());
    IngestLanding(info, response);
    return response;
  }

  Result<HttpResponse> AbortMultipartUpload(Call& call) {
    const S3Target& t = call.target;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:AbortMultipartUpload", Arn(t.bucket, t.key)));
    BASIN_RETURN_IF_ERROR(
        store->AbortMultipartUpload(t.bucket, t.key, call.request.QueryParam("uploadId")));
    return EmptyResponse(204);
  }

  Result<HttpResponse> ListParts(Call& call) {
    const S3Target& t = call.target;
    const HttpRequest& r = call.request;
    BASIN_RETURN_IF_ERROR(call.Authorize("s3:ListMultipartUploadParts", Arn(t.bucket, t.key)));
    BASIN_ASSIGN_OR_RETURN(const int max_parts, MaxKeysParam(r, "max-parts", kMaxListKeys));
    int marker = 0;
    if (HasQuery(r, "part-number-marker")) {
      auto value = ParseInt(r.QueryParam("part-number-marker"));
      if (!value || *value < 0 || *value > 10'000) {
        return S3Status("InvalidArgument", "part-number-marker must be an integer 0..10000");
      }
      marker = static_cast<int>(*value);
    }
    const std::string upload_id(r.QueryParam("uploadId"));
    bool truncated = false;
    BASIN_ASSIGN_OR_RETURN(
        auto parts, store->ListParts(t.bucket, t.key, upload_id, marker, max_parts, &truncated));
    XmlWriter w;
    w.Open("ListPartsResult", {{"xmlns", s3::kXmlNamespace}})
        .Element("Bucket", t.bucket)
        .Element("Key", t.key)
        .Element("UploadId", upload_id);
    WriteOwner(w, "Initiator");
    WriteOwner(w);
    w.Element("StorageClass", "STANDARD")
        .Element("PartNumberMarker", marker)
        .Element("NextPartNumberMarker", parts.empty() ? marker : parts.back().part_number)
        .Element("MaxParts", max_parts)
        .Bool("IsTruncated", truncated);
    for (const auto& part : parts) {
      w.Open("Part")
          .Element("PartNumber", part.part_number)
          .Element("LastModified", XmlTime(part.last_modified_us))
          .Element("ETag", part.etag)
          .Element("Size", static_cast<int64_t>(part.size));
      for (const auto& [algorithm, value] : part.checksums) {
        std::string name = "Checksum" + ToUpperAscii(algorithm);
        w.Element(name, value);
      }
      w.Close();
    }
    return XmlResponse(w.Take());
  }

  static std::string ToUpperAscii(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
  }
};

S3Api::S3Api(storage::BucketStore* store, S3ApiOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->store = store;
  impl_->options = std::move(options);
}

S3Api::~S3Api() = default;

void S3Api::Handle(HttpRequest& request, const AwsRequestContext& context, Responder respond) {
  impl_->Handle(request, context, std::move(respond));
}

HttpResponse S3Api::ErrorResponse(const HttpRequest& request, int status, std::string_view code,
                                  std::string_view message, std::string_view request_id) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("x-amz-request-id", std::string(request_id));
  if (request.method == "HEAD") {
    response.content_type.clear();
    return response;
  }
  XmlWriter w;
  w.Open("Error")
      .Element("Code", code)
      .Element("Message", message)
      .Element("Resource", request.path)
      .Element("RequestId", request_id);
  response.content_type = std::string(kXmlContentType);
  response.body = w.Take();
  return response;
}

}  // namespace basin::api
