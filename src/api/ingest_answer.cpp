#include "api/ingest_answer.h"

#include "base/json_writer.h"

namespace basin::api {

std::string ClientIp(const HttpRequest& request) {
  // X-Forwarded-For is only honoured from loopback, where a local reverse proxy sits; anyone else
  // could forge it. The first address in the list is the original client.
  std::string_view forwarded = request.Header("X-Forwarded-For");
  if (!forwarded.empty() && (request.remote_ip == "127.0.0.1" || request.remote_ip == "::1")) {
    std::string_view first = forwarded.substr(0, forwarded.find(','));
    while (!first.empty() && first.front() == ' ') first.remove_prefix(1);
    while (!first.empty() && first.back() == ' ') first.remove_suffix(1);
    if (!first.empty() && first.size() <= 64) return std::string(first);
  }
  return request.remote_ip;
}

std::string IngestResultJson(const ingest::IngestResult& result) {
  JsonWriter w;
  w.BeginObject().Key("stream").String(result.stream).Key("accepted").Uint(result.accepted);
  w.Key("rejected").BeginArray();
  for (const auto& r : result.rejected) {
    w.BeginObject()
        .Key("index")
        .Uint(r.index)
        .Key("code")
        .String(ErrorCodeName(r.code))
        .Key("reason")
        .String(r.reason)
        .EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

}  // namespace basin::api
