#include "ingest/record_envelope.h"

#include <algorithm>

namespace basin::ingest {
namespace {

constexpr uint8_t kAcceptedVersion = 1;
constexpr uint8_t kRejectedVersion = 2;
constexpr size_t kMaxUserAgentBytes = 1024;
constexpr size_t kMaxRejectionBytes = 1024;
constexpr size_t kMaxIpBytes = 64;

void PutU16(std::string& out, size_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}

bool GetU16(std::string_view& in, size_t* v) {
  if (in.size() < 2) return false;
  *v = static_cast<uint8_t>(in[0]) | (static_cast<size_t>(static_cast<uint8_t>(in[1])) << 8);
  in.remove_prefix(2);
  return true;
}

}  // namespace

std::string_view RecordSourceName(RecordSource source) {
  switch (source) {
    case RecordSource::kApi: return "api";
    case RecordSource::kClickstreamSdk: return "clickstream-sdk";
    case RecordSource::kKinesis: return "kinesis";
  }
  return "unknown";
}

std::string RecordEnvelope::Encode() const {
  std::string_view ip = client_ip.substr(0, std::min(client_ip.size(), kMaxIpBytes));
  std::string_view ua = user_agent.substr(0, std::min(user_agent.size(), kMaxUserAgentBytes));
  std::string_view reason = rejection.substr(0, std::min(rejection.size(), kMaxRejectionBytes));
  std::string out;
  out.reserve(8 + ip.size() + ua.size() + reason.size() + payload.size());
  out.push_back(static_cast<char>(reason.empty() ? kAcceptedVersion : kRejectedVersion));
  out.push_back(static_cast<char>(source));
  PutU16(out, ip.size());
  out += ip;
  PutU16(out, ua.size());
  out += ua;
  if (!reason.empty()) {
    PutU16(out, reason.size());
    out += reason;
  }
  out += payload;
  return out;
}

Result<RecordEnvelope> RecordEnvelope::Decode(std::string_view data) {
  auto corrupt = [] { return Status(ErrorCode::kCorruption, "bad record envelope"); };
  if (data.size() < 2) return corrupt();
  const auto version = static_cast<uint8_t>(data[0]);
  if (version != kAcceptedVersion && version != kRejectedVersion) return corrupt();
  RecordEnvelope env;
  auto source = static_cast<uint8_t>(data[1]);
  if (source < 1 || source > 3) return corrupt();
  env.source = static_cast<RecordSource>(source);
  data.remove_prefix(2);
  size_t len;
  if (!GetU16(data, &len) || data.size() < len) return corrupt();
  env.client_ip = data.substr(0, len);
  data.remove_prefix(len);
  if (!GetU16(data, &len) || data.size() < len) return corrupt();
  env.user_agent = data.substr(0, len);
  data.remove_prefix(len);
  if (version == kRejectedVersion) {
    if (!GetU16(data, &len) || data.size() < len || len == 0) return corrupt();
    env.rejection = data.substr(0, len);
    data.remove_prefix(len);
  }
  env.payload = data;
  return env;
}

}  // namespace basin::ingest
