#include "api/kinesis_api.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "base/base64.h"
#include "base/hash.h"
#include "base/json_writer.h"
#include "base/time_format.h"
#include "ingest/record_envelope.h"
#include "ingest/record_format.h"
#include "log/shard_router.h"
#include "security/sigv4.h"

namespace basin::api {
namespace {

namespace dom = simdjson::dom;

// ---- Errors ---------------------------------------------------------------------------------

// An AWS error answer: the `__type` name, the message and the HTTP status.
struct KinesisError {
  std::string_view type;
  std::string message;
  int status = 400;
};

KinesisError Serialization(std::string message) {
  return {"SerializationException", std::move(message)};
}
KinesisError Validation(std::string message) { return {"ValidationException", std::move(message)}; }
KinesisError InvalidArgument(std::string message) {
  return {"InvalidArgumentException", std::move(message)};
}
KinesisError NotFound(std::string message) {
  return {"ResourceNotFoundException", std::move(message)};
}
KinesisError InUse(std::string message) { return {"ResourceInUseException", std::move(message)}; }
KinesisError Internal(std::string message) { return {"InternalFailure", std::move(message), 500}; }

// Maps a Status from the log to the Kinesis error a client expects.
KinesisError FromStatus(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kStreamNotFound:
    case ErrorCode::kNotFound: return NotFound(status.message());
    case ErrorCode::kAlreadyExists: return InUse(status.message());
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kValidationFailed:
    case ErrorCode::kRecordTooLarge: return Validation(status.message());
    default: return Internal(status.ToString());
  }
}

// What a synchronous operation answers: an error or the JSON body of a 200.
struct Answer {
  Answer(KinesisError e) : error(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  Answer(std::string b) : body(std::move(b)) {}    // NOLINT(google-explicit-constructor)
  std::optional<KinesisError> error;
  std::string body;
};

#define BASIN_KINESIS_TRY(expr)                                                      \
  do {                                                                               \
    if (auto basin_kinesis_error_ = (expr)) return std::move(*basin_kinesis_error_); \
  } while (false)

// ---- Encodings ------------------------------------------------------------------------------

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
bool GetU32(std::string_view& in, uint32_t* v) {
  if (in.size() < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}
bool GetU64(std::string_view& in, uint64_t* v) {
  if (in.size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) *v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  in.remove_prefix(8);
  return true;
}

constexpr size_t kMacBytes = 16;

// Epoch seconds with millisecond precision, as a JSON number: 1795746788.979
std::string EpochSecondsJson(int64_t micros) {
  const int64_t millis = micros / 1000;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(millis / 1000),
                static_cast<long long>(millis % 1000));
  return buf;
}

std::string RandomHex(size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string raw;
  raw.reserve(bytes);
  for (size_t i = 0; i < bytes; ++i) raw.push_back(static_cast<char>(rng() & 0xFF));
  return HexEncode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
}

// 8-4-4-4-12 hex, the shape of AWS request ids.
std::string NewRequestId() {
  std::string hex = RandomHex(16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<uint8_t>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool ValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// "shardId-000000000003" (any number of digits) -> 3.
std::optional<uint32_t> ParseShardId(std::string_view id) {
  constexpr std::string_view kPrefix = "shardId-";
  if (id.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  id.remove_prefix(kPrefix.size());
  if (id.empty() || id.size() > 12) return std::nullopt;
  uint64_t v = 0;
  for (char c : id) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// ---- JSON input -----------------------------------------------------------------------------

// Typed access to the members of a request object. Absent and null members are "not given"; a
// member of the wrong JSON type is a SerializationException, as AWS answers.
class Input {
 public:
  explicit Input(dom::object object) : object_(object) {}

  std::optional<KinesisError> String(std::string_view key,
                                     std::optional<std::string_view>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    std::string_view v;
    if (e.get_string().get(v) != simdjson::SUCCESS) return WrongType(key, "a string");
    *out = v;
    return std::nullopt;
  }

  std::optional<KinesisError> Int(std::string_view key, std::optional<int64_t>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    int64_t v;
    if (e.get_int64().get(v) == simdjson::SUCCESS) {
      *out = v;
      return std::nullopt;
    }
    return WrongType(key, "an integer");
  }

  // An epoch-seconds number (fraction allowed) or an ISO-8601 string, as epoch microseconds.
  std::optional<KinesisError> Timestamp(std::string_view key, std::optional<int64_t>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    double seconds;
    if (e.get_double().get(seconds) == simdjson::SUCCESS) {
      // Clamped to year ~5138 so that the conversion to microseconds cannot overflow.
      *out = static_cast<int64_t>(std::clamp(seconds, 0.0, 1e11) * 1e6);
      return std::nullopt;
    }
    std::string_view text;
    if (e.get_string().get(text) == simdjson::SUCCESS) {
      if (auto us = ParseIso8601(text)) {
        *out = *us;
        return std::nullopt;
      }
    }
    return WrongType(key, "a timestamp");
  }

  std::optional<KinesisError> Array(std::string_view key, std::optional<dom::array>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    dom::array v;
    if (e.get_array().get(v) != simdjson::SUCCESS) return WrongType(key, "a list");
    *out = v;
    return std::nullopt;
  }

  std::optional<KinesisError> Object(std::string_view key, std::optional<dom::object>* out) const {
    dom::element e;
    if (!Find(key, &e)) return std::nullopt;
    dom::object v;
    if (e.get_object().get(v) != simdjson::SUCCESS) return WrongType(key, "an object");
    *out = v;
    return std::nullopt;
  }

 private:
  bool Find(std::string_view key, dom::element* e) const {
    if (object_.at_key(key).get(*e) != simdjson::SUCCESS) return false;
    return !e->is_null();
  }
  static KinesisError WrongType(std::string_view key, std::string_view what) {
    return Serialization("member '" + std::string(key) + "' must be " + std::string(what));
  }
  dom::object object_;
};

// ---- Tokens ---------------------------------------------------------------------------------

// What a shard iterator points at. Sealed with an HMAC so that clients cannot forge or corrupt
// one; `created_us` ties it to one incarnation of the stream (a re-created stream is another).
struct IteratorState {
  std::string stream;
  uint32_t shard = 0;
  uint64_t next_offset = 0;
  int64_t issued_us = 0;
  int64_t created_us = 0;
  int64_t min_time_us = 0;  // AT_TIMESTAMP: skip records appended before this (0 = none)
};

constexpr char kIteratorKind = 'I';
constexpr char kShardTokenKind = 'S';
constexpr char kStreamTokenKind = 'L';
constexpr uint8_t kTokenVersion = 1;

struct ShardTokenState {
  std::string stream;
  uint32_t next_shard = 0;
  int64_t issued_us = 0;
  int64_t created_us = 0;
};

constexpr int64_t kNextTokenLifetimeUs = 300'000'000;  // ListShards NextToken, as AWS

}  // namespace

// ---- The API --------------------------------------------------------------------------------

struct KinesisApi::Impl : std::enable_shared_from_this<KinesisApi::Impl> {
  log::Log* log;
  Clock* clock;
  KinesisApiOptions options;
  std::string secret;

  // base64(kind | version | payload | HMAC(kind | version | payload)[0..16])
  std::string Seal(char kind, std::string payload) const {
    std::string msg;
    msg.reserve(payload.size() + 2 + kMacBytes);
    msg.push_back(kind);
    msg.push_back(static_cast<char>(kTokenVersion));
    msg += payload;
    const Sha256Digest mac = security::HmacSha256(secret, msg);
    msg.append(reinterpret_cast<const char*>(mac.data()), kMacBytes);
    return Base64Encode(msg);
  }

  std::optional<std::string> Unseal(char kind, std::string_view token) const {
    auto raw = Base64Decode(token, Base64Padding::kOptional);
    if (!raw || raw->size() < 2 + kMacBytes) return std::nullopt;
    std::string_view msg(raw->data(), raw->size() - kMacBytes);
    std::string_view mac(raw->data() + msg.size(), kMacBytes);
    const Sha256Digest expected = security::HmacSha256(secret, msg);
    uint8_t diff = 0;  // constant time: no early exit that would leak how much matched
    for (size_t i = 0; i < kMacBytes; ++i) {
      diff |= static_cast<uint8_t>(mac[i]) ^ expected[i];
    }
    if (diff != 0 || msg[0] != kind || static_cast<uint8_t>(msg[1]) != kTokenVersion) {
      return std::nullopt;
    }
    return std::string(msg.substr(2));
  }

  std::string EncodeIterator(const IteratorState& s) const {
    std::string p;
    PutU32(p, s.shard);
    PutU64(p, s.next_offset);
    PutU64(p, static_cast<uint64_t>(s.issued_us));
    PutU64(p, static_cast<uint64_t>(s.created_us));
    PutU64(p, static_cast<uint64_t>(s.min_time_us));
    p += s.stream;
    return Seal(kIteratorKind, std::move(p));
  }

  std::optional<IteratorState> DecodeIterator(std::string_view text) const {
    auto payload = Unseal(kIteratorKind, text);
    if (!payload) return std::nullopt;
    std::string_view in = *payload;
    IteratorState s;
    uint64_t issued, created, min_time;
    if (!GetU32(in, &s.shard) || !GetU64(in, &s.next_offset) || !GetU64(in, &issued) ||
        !GetU64(in, &created) || !GetU64(in, &min_time)) {
      return std::nullopt;
    }
    s.issued_us = static_cast<int64_t>(issued);
    s.created_us = static_cast<int64_t>(created);
    s.min_time_us = static_cast<int64_t>(min_time);
    s.stream = std::string(in);
    return s;
  }

  std::string StreamArn(std::string_view stream) const {
    return "arn:aws:kinesis:" + options.region + ":" + options.account_id + ":stream/" +
           std::string(stream);
  }

  // StreamName or StreamARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`).
  std::optional<KinesisError> StreamOf(const Input& in, std::string* name) const {
    std::optional<std::string_view> stream_name, arn;
    BASIN_KINESIS_TRY(in.String("StreamName", &stream_name));
    BASIN_KINESIS_TRY(in.String("StreamARN", &arn));
    if (arn) {
      constexpr std::string_view kPrefix = "arn:aws:kinesis:";
      std::string_view rest = *arn;
      size_t colon1, colon2;
      if (rest.substr(0, kPrefix.size()) != kPrefix ||
          (colon1 = rest.find(':', kPrefix.size())) == std::string_view::npos ||
          (colon2 = rest.find(':', colon1 + 1)) == std::string_view::npos ||
          rest.substr(colon2 + 1, 7) != "stream/") {
        return Validation("StreamARN '" + std::string(*arn) + "' is not a Kinesis stream ARN");
      }
      std::string_view from_arn = rest.substr(colon2 + 1 + 7);
      if (stream_name && *stream_name != from_arn) {
        return InvalidArgument("StreamName and StreamARN name different streams");
      }
      stream_name = from_arn;
    }
    if (!stream_name) return Validation("StreamName or StreamARN is required");
    if (!ValidStreamName(*stream_name)) {
      return Validation("Value '" + std::string(*stream_name) +
                        "' at 'streamName' failed to satisfy constraint: Member must be 1-128 "
                        "characters of [a-zA-Z0-9_.-]");
    }
    *name = std::string(*stream_name);
    return std::nullopt;
  }

  std::optional<KinesisError> Describe(const std::string& name, log::StreamInfo* info) const {
    auto described = log->DescribeStream(name);
    if (!described.ok()) {
      if (described.status().code() == ErrorCode::kStreamNotFound) {
        return NotFound("Stream " + name + " under account " + options.account_id + " not found.");
      }
      return FromStatus(described.status());
    }
    *info = std::move(described).value();
    return std::nullopt;
  }

  KinesisError ShardNotFound(std::string_view shard_id, const std::string& stream) const {
    return NotFound("Shard " + std::string(shard_id) + " in stream " + stream + " under account " +
                    options.account_id + " does not exist");
  }

  void WriteShard(JsonWriter& w, const log::ShardRouter& router, uint32_t shard) const {
    w.BeginObject();
    w.Key("ShardId").String(log::ShardIdName(shard));
    w.Key("HashKeyRange").BeginObject();
    w.Key("StartingHashKey").String(router.range(shard).start.ToDecimal());
    w.Key("EndingHashKey").String(router.range(shard).end.ToDecimal());
    w.EndObject();
    w.Key("SequenceNumberRange").BeginObject();
    w.Key("StartingSequenceNumber").String(KinesisApi::SequenceNumber(0, shard));
    w.EndObject();
    w.EndObject();
  }

  void WriteStreamHeader(JsonWriter& w, const log::StreamInfo& info) const {
    w.Key("StreamName").String(info.name);
    w.Key("StreamARN").String(StreamArn(info.name));
    w.Key("StreamStatus").String("ACTIVE");
    w.Key("StreamModeDetails").BeginObject().Key("StreamMode").String("PROVISIONED").EndObject();
    w.Key("RetentionPeriodHours").Int(info.options.retention_hours);
    w.Key("StreamCreationTimestamp").Raw(EpochSecondsJson(info.created_time_us));
    w.Key("EnhancedMonitoring").BeginArray().BeginObject();
    w.Key("ShardLevelMetrics").BeginArray().EndArray();
    w.EndObject().EndArray();
    w.Key("EncryptionType").String("NONE");
  }

  // ---- Admin operations ----

  void CreateStream(const Input& in, Responder respond) {
    std::string name;
    if (auto e = StreamOf(in, &name)) return respond(ErrorAnswer(*e));
    std::optional<int64_t> shard_count;
    if (auto e = in.Int("ShardCount", &shard_count)) return respond(ErrorAnswer(*e));
    std::optional<dom::object> mode_details;
    if (auto e = in.Object("StreamModeDetails", &mode_details)) return respond(ErrorAnswer(*e));
    if (mode_details) {
      std::optional<std::string_view> mode;
      if (auto e = Input(*mode_details).String("StreamMode", &mode)) {
        return respond(ErrorAnswer(*e));
      }
      if (!mode || (*mode != "PROVISIONED" && *mode != "ON_DEMAND")) {
        return respond(ErrorAnswer(
            Validation("StreamModeDetails.StreamMode must be PROVISIONED or ON_DEMAND")));
      }
    }
    if (shard_count && (*shard_count < 1 || *shard_count > 1024)) {
      return respond(ErrorAnswer(Validation(
          "Value '" + std::to_string(*shard_count) +
          "' at 'shardCount' failed to satisfy constraint: Member must be between 1 and 1024")));
    }
    log::StreamOptions stream_options;
    stream_options.shard_count =
        shard_count ? static_cast<uint32_t>(*shard_count) : options.default_shard_count;
    RunBlocking([self = shared_from_this(), name = std::move(name), stream_options,
                 respond = std::move(respond)]() mutable {
      Status status = self->log->CreateStream(name, stream_options);
      if (status.code() == ErrorCode::kAlreadyExists) {
        return respond(ErrorAnswer(InUse("Stream " + name + " under account " +
                                         self->options.account_id + " already exists.")));
      }
      if (!status.ok()) return respond(ErrorAnswer(FromStatus(status)));
      if (self->options.on_stream_created) {
        Status accepted = self->options.on_stream_created(name);
        if (!accepted.ok()) {
          // Refused (its lake table is taken): the stream must not stay without a loader.
          Status undone = self->log->DeleteStream(name);
          if (!undone.ok() && undone.code() != ErrorCode::kStreamNotFound) {
            return respond(ErrorAnswer(FromStatus(undone)));
          }
          return respond(ErrorAnswer(FromStatus(accepted)));
        }
      }
      respond(OkAnswer(""));
    });
  }

  void DeleteStream(const Input& in, Responder respond) {
    std::string name;
    if (auto e = StreamOf(in, &name)) return respond(ErrorAnswer(*e));
    RunBlocking([self = shared_from_this(), name = std::move(name),
                 respond = std::move(respond)]() mutable {
      Status status = self->log->DeleteStream(name);
      if (status.code() == ErrorCode::kStreamNotFound) {
        return respond(ErrorAnswer(NotFound("Stream " + name + " under account " +
                                            self->options.account_id + " not found.")));
      }
      if (!status.ok()) return respond(ErrorAnswer(FromStatus(status)));
      if (self->options.on_stream_deleted) self->options.on_stream_deleted(name);
      respond(OkAnswer(""));
    });
  }

  Answer ListStreams(const Input& in) const {
    std::optional<int64_t> limit;
    std::optional<std::string_view> exclusive_start, next_token;
    BASIN_KINESIS_TRY(in.Int("Limit", &limit));
    BASIN_KINESIS_TRY(in.String("ExclusiveStartStreamName", &exclusive_start));
    BASIN_KINESIS_TRY(in.String("NextToken", &next_token));
    if (limit && (*limit < 1 || *limit > 10000)) {
      return Validation("Limit must be between 1 and 10000");
    }
    std::string after;
    if (exclusive_start) after = std::string(*exclusive_start);
    if (next_token) {
      auto payload = Unseal(kStreamTokenKind, *next_token);
      if (!payload) return InvalidArgument("Invalid NextToken.");
      after = std::max(after, *payload);
    }
    std::vector<log::StreamInfo> streams = log->ListStreams();
    std::sort(streams.begin(), streams.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    const size_t max = limit ? static_cast<size_t>(*limit) : 100;
    std::vector<const log::StreamInfo*> page;
    bool more = false;
    for (const auto& s : streams) {
      if (!after.empty() && s.name <= after) continue;
      if (page.size() == max) {
        more = true;
        break;
      }
      page.push_back(&s);
    }
    JsonWriter w;
    w.BeginObject();
    w.Key("StreamNames").BeginArray();
    for (const auto* s : page) w.String(s->name);
    w.EndArray();
    w.Key("HasMoreStreams").Bool(more);
    if (more) w.Key("NextToken").String(Seal(kStreamTokenKind, page.back()->name));
    w.Key("StreamSummaries").BeginArray();
    for (const auto* s : page) {
      w.BeginObject();
      w.Key("StreamName").String(s->name);
      w.Key("StreamARN").String(StreamArn(s->name));
      w.Key("StreamStatus").String("ACTIVE");
      w.Key("StreamModeDetails").BeginObject().Key("StreamMode").String("PROVISIONED").EndObject();
      w.Key("StreamCreationTimestamp").Raw(EpochSecondsJson(s->created_time_us));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return w.Take();
  }

  // The first shard index after ExclusiveStartShardId (0 without one).
  std::optional<KinesisError> FirstShardAfter(const Input& in, uint32_t* first) const {
    std::optional<std::string_view> exclusive_start;
    BASIN_KINESIS_TRY(in.String("ExclusiveStartShardId", &exclusive_start));
    *first = 0;
    if (exclusive_start) {
      auto shard = ParseShardId(*exclusive_start);
      if (!shard) return Validation("ExclusiveStartShardId is not a shard id");
      *first = *shard + 1;
    }
    return std::nullopt;
  }

  Answer DescribeStream(const Input& in) const {
    std::string name;
    BASIN_KINESIS_TRY(StreamOf(in, &name));
    std::optional<int64_t> limit;
    BASIN_KINESIS_TRY(in.Int("Limit", &limit));
    if (limit && (*limit < 1 || *limit > 10000)) {
      return Validation("Limit must be between 1 and 10000");
    }
    uint32_t first = 0;
    BASIN_KINESIS_TRY(FirstShardAfter(in, &first));
    log::StreamInfo info;
    BASIN_KINESIS_TRY(Describe(name, &info));
    const log::ShardRouter router(info.options.shard_count);
    const uint64_t max = limit ? static_cast<uint64_t>(*limit) : 100;
    const uint64_t end = std::min<uint64_t>(router.shard_count(), uint64_t{first} + max);
    JsonWriter w;
    w.BeginObject().Key("StreamDescription").BeginObject();
    WriteStreamHeader(w, info);
    w.Key("Shards").BeginArray();
    for (uint64_t s = first; s < end; ++s) WriteShard(w, router, static_cast<uint32_t>(s));
    w.EndArray();
    w.Key("HasMoreShards").Bool(end < router.shard_count());
    w.EndObject().EndObject();
    return w.Take();
  }

  Answer DescribeStreamSummary(const Input& in) const {
    std::string name;
    BASIN_KINESIS_TRY(StreamOf(in, &name));
    log::StreamInfo info;
    BASIN_KINESIS_TRY(Describe(name, &info));
    JsonWriter w;
    w.BeginObject().Key("StreamDescriptionSummary").BeginObject();
    WriteStreamHeader(w, info);
    w.Key("OpenShardCount").Uint(info.options.shard_count);
    w.Key("ConsumerCount").Uint(0);
    w.EndObject().EndObject();
    return w.Take();
  }

  Answer ListShards(const Input& in) const {
    std::optional<std::string_view> next_token, stream_name, arn;
    std::optional<int64_t> max_results;
    BASIN_KINESIS_TRY(in.String("NextToken", &next_token));
    BASIN_KINESIS_TRY(in.String("StreamName", &stream_name));
    BASIN_KINESIS_TRY(in.String("StreamARN", &arn));
    BASIN_KINESIS_TRY(in.Int("MaxResults", &max_results));
    if (max_results && (*max_results < 1 || *max_results > 10000)) {
      return Validation("MaxResults must be between 1 and 10000");
    }
    const size_t max = max_results ? static_cast<size_t>(*max_results) : 1000;
    std::string name;
    uint32_t first = 0;
    int64_t expected_created_us = -1;
    if (next_token) {
      if (stream_name || arn) {
        return InvalidArgument("NextToken and StreamName cannot be provided together.");
      }
      auto payload = Unseal(kShardTokenKind, *next_token);
      std::string_view p = payload ? std::string_view(*payload) : std::string_view();
      uint64_t issued = 0, created = 0;
      if (!payload || !GetU32(p, &first) || !GetU64(p, &issued) || !GetU64(p, &created)) {
        return InvalidArgument("Invalid NextToken.");
      }
      if (clock->NowMicros() - static_cast<int64_t>(issued) > kNextTokenLifetimeUs) {
        return KinesisError{"ExpiredNextTokenException", "The NextToken has expired."};
      }
      name = std::string(p);
      expected_created_us = static_cast<int64_t>(created);
    } else {
      BASIN_KINESIS_TRY(StreamOf(in, &name));
      BASIN_KINESIS_TRY(FirstShardAfter(in, &first));
      std::optional<dom::object> filter;
      BASIN_KINESIS_TRY(in.Object("ShardFilter", &filter));
      if (filter) {
        // Every shard is open and none has a parent, so only AFTER_SHARD_ID narrows the list.
        std::optional<std::string_view> type, shard_id;
        BASIN_KINESIS_TRY(Input(*filter).String("Type", &type));
        BASIN_KINESIS_TRY(Input(*filter).String("ShardId", &shard_id));
        if (!type) return Validation("ShardFilter.Type is required");
        if (*type == "AFTER_SHARD_ID") {
          auto shard = shard_id ? ParseShardId(*shard_id) : std::nullopt;
          if (!shard) return InvalidArgument("ShardFilter AFTER_SHARD_ID needs a ShardId");
          first = std::max(first, *shard + 1);
        } else if (*type != "AT_TRIM_HORIZON" && *type != "FROM_TRIM_HORIZON" &&
                   *type != "AT_LATEST" && *type != "AT_TIMESTAMP" && *type != "FROM_TIMESTAMP") {
          return Validation("ShardFilter.Type '" + std::string(*type) + "' is not valid");
        }
      }
    }
    log::StreamInfo info;
    BASIN_KINESIS_TRY(Describe(name, &info));
    if (expected_created_us >= 0 && info.created_time_us != expected_created_us) {
      return NotFound("Stream " + name + " under account " + options.account_id + " not found.");
    }
    const log::ShardRouter router(info.options.shard_count);
    const uint64_t end = std::min<uint64_t>(router.shard_count(), uint64_t{first} + max);
    JsonWriter w;
    w.BeginObject().Key("Shards").BeginArray();
    for (uint64_t s = first; s < end; ++s) WriteShard(w, router, static_cast<uint32_t>(s));
    w.EndArray();
    if (end < router.shard_count()) {
      std::string p;
      PutU32(p, static_cast<uint32_t>(end));
      PutU64(p, static_cast<uint64_t>(clock->NowMicros()));
      PutU64(p, static_cast<uint64_t>(info.created_time_us));
      p += name;
      w.Key("NextToken").String(Seal(kShardTokenKind, std::move(p)));
    }
    w.EndObject();
    return w.Take();
  }

  // ---- Producers ----

  struct ParsedRecord {
    std::string partition_key;
    std::string data;  // decoded
    std::optional<log::Uint128> explicit_hash_key;
  };

  // Checks one record. A SerializationException is a malformed request; any other error is
  // about this record only.
  std::optional<KinesisError> ParseRecord(const Input& in, ParsedRecord* out) const {
    std::optional<std::string_view> data, key, explicit_hash_key;
    BASIN_KINESIS_TRY(in.String("Data", &data));
    BASIN_KINESIS_TRY(in.String("PartitionKey", &key));
    BASIN_KINESIS_TRY(in.String("ExplicitHashKey", &explicit_hash_key));
    if (!data) return Validation("Data is required");
    auto decoded = Base64Decode(*data, Base64Padding::kOptional);
    if (!decoded) return Serialization("Data is not valid base64");
    out->data = std::move(*decoded);
    if (!key) return Validation("PartitionKey is required");
    const size_t chars = CodePoints(*key);
    if (chars < 1 || chars > 256) {
      return Validation("PartitionKey must be 1-256 characters, got " + std::to_string(chars));
    }
    out->partition_key = std::string(*key);
    if (explicit_hash_key) {
      out->explicit_hash_key = log::Uint128::FromDecimal(*explicit_hash_key);
      if (!out->explicit_hash_key) {
        return InvalidArgument("ExplicitHashKey '" + std::string(*explicit_hash_key) +
                               "' is not a decimal number in 0..2^128-1");
      }
    }
    const uint64_t size = out->data.size() + out->partition_key.size();
    if (size > options.max_record_bytes) {
      return Validation("Record size " + std::to_string(size) + " (Data + PartitionKey) is over " +
                        std::to_string(options.max_record_bytes) + " bytes");
    }
    return std::nullopt;
  }

  log::RecordInput ToLogRecord(ParsedRecord record, const KinesisCallContext& call) const {
    ingest::RecordEnvelope envelope;
    envelope.source = ingest::RecordSource::kKinesis;
    envelope.client_ip = call.client_ip;
    envelope.user_agent = call.user_agent;
    envelope.payload = record.data;
    return {std::move(record.partition_key), envelope.Encode(), record.explicit_hash_key};
  }

  void PutRecord(const Input& in, const KinesisCallContext& call, Responder respond) {
    std::string name;
    if (auto e = StreamOf(in, &name)) return respond(ErrorAnswer(*e));
    std::optional<std::string_view> ordering;
    if (auto e = in.String("SequenceNumberForOrdering", &ordering)) {
      return respond(ErrorAnswer(*e));
    }
    ParsedRecord record;
    if (auto e = ParseRecord(in, &record)) return respond(ErrorAnswer(*e));
    if (!log->HasStream(name)) {
      return respond(ErrorAnswer(
          NotFound("Stream " + name + " under account " + options.account_id + " not found.")));
    }
    std::vector<log::RecordInput> records;
    records.push_back(ToLogRecord(std::move(record), call));
    log->AppendAsync(name, std::move(records),
                     [respond = std::move(respond)](Result<log::AppendAck> ack) {
                       if (!ack.ok()) return respond(ErrorAnswer(FromStatus(ack.status())));
                       JsonWriter w;
                       w.BeginObject();
                       w.Key("ShardId").String(log::ShardIdName(ack->shards[0]));
                       w.Key("SequenceNumber")
                           .String(KinesisApi::SequenceNumber(ack->first_offset, ack->shards[0]));
                       w.EndObject();
                       respond(OkAnswer(w.Take()));
                     });
  }

  void PutRecords(const Input& in, const KinesisCallContext& call, Responder respond) {
    std::string name;
    if (auto e = StreamOf(in, &name)) return respond(ErrorAnswer(*e));
    std::optional<dom::array> list;
    if (auto e = in.Array("Records", &list)) return respond(ErrorAnswer(*e));
    if (!list) return respond(ErrorAnswer(Validation("Records is required")));
    const size_t count = list->size();
    if (count < 1 || count > 500) {
      return respond(ErrorAnswer(Validation(
          "Value at 'records' failed to satisfy constraint: Member must have length between 1 "
          "and 500, got " +
          std::to_string(count))));
    }
    // As AWS does, an invalid entry fails the whole request (ValidationException naming it) and
    // nothing is appended; per-entry errors are only for an append that fails (InternalFailure).
    std::vector<ParsedRecord> parsed;
    parsed.reserve(count);
    uint64_t total = 0;
    size_t index = 0;
    for (dom::element element : *list) {
      dom::object object;
      if (element.get_object().get(object) != simdjson::SUCCESS) {
        return respond(ErrorAnswer(Serialization("each member of Records must be an object")));
      }
      ParsedRecord record;
      if (auto e = ParseRecord(Input(object), &record)) {
        if (e->type != "SerializationException") {
          e->message = "Records[" + std::to_string(index) + "]: " + e->message;
        }
        return respond(ErrorAnswer(*e));
      }
      ++index;
      total += record.data.size() + record.partition_key.size();
      parsed.push_back(std::move(record));
    }
    if (total > options.max_put_records_bytes) {
      return respond(ErrorAnswer(InvalidArgument("Records total " + std::to_string(total) +
                                                 " bytes, over the limit of " +
                                                 std::to_string(options.max_put_records_bytes))));
    }
    if (!log->HasStream(name)) {
      return respond(ErrorAnswer(
          NotFound("Stream " + name + " under account " + options.account_id + " not found.")));
    }
    std::vector<log::RecordInput> records;
    records.reserve(parsed.size());
    for (auto& record : parsed) records.push_back(ToLogRecord(std::move(record), call));
    auto finish = [count, respond](const Result<log::AppendAck>& ack) {
      JsonWriter w;
      w.BeginObject();
      w.Key("FailedRecordCount").Uint(ack.ok() ? 0 : count);
      w.Key("Records").BeginArray();
      for (size_t i = 0; i < count; ++i) {
        w.BeginObject();
        if (!ack.ok()) {
          // The append failed as a whole (disk, shutdown): the client may resend these.
          w.Key("ErrorCode").String("InternalFailure");
          w.Key("ErrorMessage").String(ack.status().ToString());
        } else {
          const uint32_t shard = ack->shards[i];
          w.Key("SequenceNumber").String(KinesisApi::SequenceNumber(ack->first_offset + i, shard));
          w.Key("ShardId").String(log::ShardIdName(shard));
        }
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      respond(OkAnswer(w.Take()));
    };
    log->AppendAsync(name, std::move(records),
                     [finish = std::move(finish), respond](Result<log::AppendAck> ack) {
                       if (!ack.ok() && ack.status().code() == ErrorCode::kStreamNotFound) {
                         return respond(ErrorAnswer(FromStatus(ack.status())));
                       }
                       finish(ack);
                     });
  }

  // ---- Consumers ----

  Answer GetShardIterator(const Input& in) const {
    std::string name;
    BASIN_KINESIS_TRY(StreamOf(in, &name));
    std::optional<std::string_view> shard_id, type, starting;
    std::optional<int64_t> timestamp_us;
    BASIN_KINESIS_TRY(in.String("ShardId", &shard_id));
    BASIN_KINESIS_TRY(in.String("ShardIteratorType", &type));
    BASIN_KINESIS_TRY(in.String("StartingSequenceNumber", &starting));
    BASIN_KINESIS_TRY(in.Timestamp("Timestamp", &timestamp_us));
    if (!shard_id) return Validation("ShardId is required");
    if (!type) return Validation("ShardIteratorType is required");
    log::StreamInfo info;
    BASIN_KINESIS_TRY(Describe(name, &info));
    auto shard = ParseShardId(*shard_id);
    if (!shard || *shard >= info.options.shard_count) return ShardNotFound(*shard_id, name);
    IteratorState state;
    state.stream = name;
    state.shard = *shard;
    state.issued_us = clock->NowMicros();
    state.created_us = info.created_time_us;
    if (*type == "TRIM_HORIZON") {
      state.next_offset = info.start_offset;
    } else if (*type == "LATEST") {
      state.next_offset = info.end_offset;
    } else if (*type == "AT_SEQUENCE_NUMBER" || *type == "AFTER_SEQUENCE_NUMBER") {
      if (!starting) {
        return InvalidArgument("StartingSequenceNumber is required for " + std::string(*type));
      }
      auto seq = KinesisApi::ParseSequenceNumber(*starting);
      if (!seq || seq->shard != *shard || seq->offset >= info.end_offset) {
        return InvalidArgument("StartingSequenceNumber " + std::string(*starting) +
                               " used in GetShardIterator on shard " + std::string(*shard_id) +
                               " in stream " + name + " under account " + options.account_id +
                               " is invalid.");
      }
      state.next_offset = seq->offset + (*type == "AFTER_SEQUENCE_NUMBER" ? 1 : 0);
    } else if (*type == "AT_TIMESTAMP") {
      if (!timestamp_us) return InvalidArgument("Timestamp is required for AT_TIMESTAMP");
      // Found lazily by GetRecords, which skips older records: no scan here.
      state.next_offset = info.start_offset;
      state.min_time_us = std::max<int64_t>(*timestamp_us, 1);
    } else {
      return Validation("Value '" + std::string(*type) +
                        "' at 'shardIteratorType' failed to satisfy constraint: Member must "
                        "satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, "
                        "AT_TIMESTAMP, TRIM_HORIZON, LATEST]");
    }
    JsonWriter w;
    w.BeginObject().Key("ShardIterator").String(EncodeIterator(state)).EndObject();
    return w.Take();
  }

  void GetRecords(const Input& in, Responder respond) {
    std::optional<std::string_view> iterator_text;
    std::optional<int64_t> limit;
    if (auto e = in.String("ShardIterator", &iterator_text)) return respond(ErrorAnswer(*e));
    if (auto e = in.Int("Limit", &limit)) return respond(ErrorAnswer(*e));
    if (!iterator_text) return respond(ErrorAnswer(Validation("ShardIterator is required")));
    if (iterator_text->empty() || iterator_text->size() > 512) {
      return respond(ErrorAnswer(Validation("ShardIterator must be 1-512 characters")));
    }
    if (limit && (*limit < 1 || *limit > 10000)) {
      return respond(ErrorAnswer(Validation("Limit must be between 1 and 10000")));
    }
    auto state = DecodeIterator(*iterator_text);
    if (!state) return respond(ErrorAnswer(InvalidArgument("Invalid ShardIterator.")));
    const int64_t now = clock->NowMicros();
    if (now - state->issued_us > options.iterator_lifetime_us) {
      return respond(ErrorAnswer(KinesisError{
          "ExpiredIteratorException", "Iterator expired. The iterator was created at time " +
                                          FormatIso8601Millis(state->issued_us) +
                                          " while right now it is " + FormatIso8601Millis(now) +
                                          " which is further in the future than the tolerated "
                                          "delay of 300000 milliseconds."}));
    }
    log::StreamInfo info;
    if (auto e = Describe(state->stream, &info)) return respond(ErrorAnswer(*e));
    if (info.created_time_us != state->created_us || state->shard >= info.options.shard_count) {
      return respond(ErrorAnswer(NotFound("Stream " + state->stream + " under account " +
                                          options.account_id + " not found.")));
    }
    const size_t max_records = limit ? static_cast<size_t>(*limit) : 10000;
    RunBlocking([self = shared_from_this(), state = std::move(*state), max_records,
                 respond = std::move(respond)]() mutable {
      respond(self->ReadRecords(std::move(state), max_records));
    });
  }

  // The blocking part of GetRecords: reads the stream from the iterator's offset and keeps the
  // iterator's shard's records.
  HttpResponse ReadRecords(IteratorState state, size_t max_records) const {
    constexpr size_t kReadBatchRecords = 1000;
    constexpr size_t kReadBatchBytes = 1ULL << 20;
    auto opened = log->OpenReader(state.stream, state.next_offset);
    if (!opened.ok()) return ErrorAnswer(FromStatus(opened.status()));
    std::unique_ptr<log::LogReader> reader = std::move(opened).value();
    std::vector<log::LogRecord> out;
    uint64_t out_bytes = 0;
    uint64_t scanned_bytes = 0;
    uint64_t next = std::max(state.next_offset, reader->position());
    int64_t last_seen_time_us = 0;
    bool caught_up = false;
    bool full = false;
    bool reopened = false;
    while (!full && !caught_up && scanned_bytes < options.max_scan_bytes) {
      auto batch = reader->ReadBatch(kReadBatchRecords, kReadBatchBytes);
      if (!batch.ok()) {
        // Retention deleted the segment under the reader: start again at the oldest record.
        if (batch.status().code() == ErrorCode::kNotFound && !reopened) {
          reopened = true;
          auto again = log->OpenReader(state.stream, next);
          if (!again.ok()) return ErrorAnswer(FromStatus(again.status()));
          reader = std::move(again).value();
          next = std::max(next, reader->position());
          continue;
        }
        return ErrorAnswer(FromStatus(batch.status()));
      }
      if (batch->empty()) {
        caught_up = true;
        next = std::max(next, reader->position());
        break;
      }
      for (log::LogRecord& record : *batch) {
        if (scanned_bytes >= options.max_scan_bytes) break;
        last_seen_time_us = record.append_time_us;
        scanned_bytes += record.data.size() + record.partition_key.size();
        if (state.min_time_us != 0 && record.append_time_us >= state.min_time_us) {
          state.min_time_us = 0;  // found the starting point; later records all count
        }
        if (record.shard != state.shard || state.min_time_us != 0) {
          next = record.offset + 1;
          continue;
        }
        auto envelope = ingest::RecordEnvelope::Decode(record.data);
        if (envelope.ok() && !envelope->rejection.empty()) {
          next = record.offset + 1;  // refused at ingest: kept for the quarantine, not a record
          continue;
        }
        if (envelope.ok()) {
          // The payload is the tail of the data: cut the header in place, no copy.
          record.data.erase(0, static_cast<size_t>(envelope->payload.data() - record.data.data()));
        }
        if (out.size() == max_records ||
            (!out.empty() && out_bytes + record.data.size() > options.max_get_records_bytes)) {
          full = true;
          break;
        }
        out_bytes += record.data.size();
        next = record.offset + 1;
        out.push_back(std::move(record));
      }
    }
    state.next_offset = next;
    const int64_t now = clock->NowMicros();
    state.issued_us = now;
    JsonWriter w;
    w.BeginObject();
    w.Key("Records").BeginArray();
    for (const auto& record : out) {
      w.BeginObject();
      w.Key("SequenceNumber").String(KinesisApi::SequenceNumber(record.offset, record.shard));
      w.Key("ApproximateArrivalTimestamp").Raw(EpochSecondsJson(record.append_time_us));
      w.Key("Data").String(Base64Encode(record.data));
      w.Key("PartitionKey").String(record.partition_key);
      w.EndObject();
    }
    w.EndArray();
    w.Key("NextShardIterator").String(EncodeIterator(state));
    const int64_t behind_ms =
        caught_up ? 0 : std::max<int64_t>(0, (now - last_seen_time_us) / 1000);
    w.Key("MillisBehindLatest").Int(behind_ms);
    w.EndObject();
    return OkAnswer(w.Take());
  }

  // ---- Plumbing ----

  void RunBlocking(std::function<void()> task) const {
    if (options.run_blocking) {
      options.run_blocking(std::move(task));
    } else {
      task();
    }
  }

  static HttpResponse OkAnswer(std::string body) {
    HttpResponse response;
    response.status = 200;
    response.content_type = std::string(KinesisApi::kContentType);
    response.body = std::move(body);
    return response;
  }

  static HttpResponse ErrorAnswer(const KinesisError& error) {
    JsonWriter w;
    w.BeginObject().Key("__type").String(error.type).Key("message").String(error.message);
    w.EndObject();
    HttpResponse response;
    response.status = error.status;
    response.content_type = std::string(KinesisApi::kContentType);
    response.body = w.Take();
    response.headers.emplace_back("x-amzn-ErrorType", std::string(error.type));
    return response;
  }

  static void Reply(Answer answer, const Responder& respond) {
    respond(answer.error ? ErrorAnswer(*answer.error) : OkAnswer(std::move(answer.body)));
  }

  void Handle(std::string_view operation, std::string_view body, const KinesisCallContext& call,
              Responder respond) {
    if (operation.substr(0, KinesisApi::kTargetPrefix.size()) == KinesisApi::kTargetPrefix) {
      operation.remove_prefix(KinesisApi::kTargetPrefix.size());
    }
    thread_local dom::parser parser;
    dom::element document;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) body = "{}";
    if (parser.parse(body.data(), body.size(), true).get(document) != simdjson::SUCCESS) {
      return respond(ErrorAnswer(Serialization("the request body is not valid JSON")));
    }
    dom::object object;
    if (document.get_object().get(object) != simdjson::SUCCESS) {
      return respond(ErrorAnswer(Serialization("the request body must be a JSON object")));
    }
    const Input in(object);
    if (operation == "PutRecord") return PutRecord(in, call, std::move(respond));
    if (operation == "PutRecords") return PutRecords(in, call, std::move(respond));
    if (operation == "GetRecords") return GetRecords(in, std::move(respond));
    if (operation == "GetShardIterator") return Reply(GetShardIterator(in), respond);
    if (operation == "ListShards") return Reply(ListShards(in), respond);
    if (operation == "DescribeStream") return Reply(DescribeStream(in), respond);
    if (operation == "DescribeStreamSummary") return Reply(DescribeStreamSummary(in), respond);
    if (operation == "ListStreams") return Reply(ListStreams(in), respond);
    if (operation == "CreateStream") return CreateStream(in, std::move(respond));
    if (operation == "DeleteStream") return DeleteStream(in, std::move(respond));
    respond(
        ErrorAnswer(KinesisError{"UnknownOperationException",
                                 "operation '" + std::string(operation) + "' is not supported"}));
  }
};

KinesisApi::KinesisApi(log::Log* log, Clock* clock, KinesisApiOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->log = log;
  impl_->clock = clock;
  impl_->options = std::move(options);
  impl_->secret = impl_->options.token_secret.empty() ? RandomHex(32) : impl_->options.token_secret;
}

void KinesisApi::Handle(std::string_view operation, std::string_view body,
                        const KinesisCallContext& call, Responder respond) {
  std::string request_id = NewRequestId();
  impl_->Handle(
      operation, body, call,
      [request_id = std::move(request_id), respond = std::move(respond)](HttpResponse response) {
        response.headers.emplace_back("x-amzn-RequestId", request_id);
        respond(std::move(response));
      });
}

void KinesisApi::Handle(std::string_view operation, std::string_view body, Responder respond) {
  Handle(operation, body, KinesisCallContext{}, std::move(respond));
}

std::string KinesisApi::StreamArn(std::string_view stream) const {
  return impl_->StreamArn(stream);
}

std::string KinesisApi::SequenceNumber(uint64_t offset, uint32_t shard) {
  return ingest::KinesisSequenceNumber(offset, shard);
}

std::optional<KinesisApi::ParsedSequenceNumber> KinesisApi::ParseSequenceNumber(
    std::string_view text) {
  if (text.size() != 26 || text.substr(0, 2) != "49") return std::nullopt;
  ParsedSequenceNumber out;
  for (size_t i = 2; i < 26; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    const unsigned digit = static_cast<unsigned>(c - '0');
    if (i < 22) {
      if (out.offset > (UINT64_MAX - digit) / 10) return std::nullopt;
      out.offset = out.offset * 10 + digit;
    } else {
      out.shard = out.shard * 10 + digit;
    }
  }
  if (out.shard >= 1024) return std::nullopt;
  return out;
}

}  // namespace basin::api
