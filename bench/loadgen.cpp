// basin-loadgen: an HTTP/1.1 load generator for Basin's event collector.
//
// Raw non-blocking sockets and one epoll loop per thread, so that the generator's own cost per
// request is small and predictable (a few microseconds) next to the server's. Each connection
// keeps at most one request in flight (keep-alive, no pipelining), like a browser or SDK client.
//
// Two modes:
//   closed loop (no --rate): each connection sends its next request as soon as the previous one
//     is answered. Measures maximum throughput; its latencies hide stalls (coordinated omission).
//   open loop (--rate R): requests are scheduled at fixed intervals per connection, R per second
//     in total, and latency is measured from the *intended* send time. A slow reply delays the
//     connection's next send, and that delay is charged to the requests that waited, as a real
//     client population would experience it (the wrk2 method).
//
// Output: one JSON line on stdout. Diagnostics go to stderr.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/gzip.h"
#include "base/json_writer.h"

namespace basin::bench {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kNanosPerMilli = 1'000'000;

int64_t NowNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

int64_t WallMillis() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / kNanosPerMilli;
}

enum class BodyFormat { kAuto, kObject, kArray, kNdjson };

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string path = "/v1/streams/clickstream/records";
  int connections = 50;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 2;
  int events_per_request = 1;
  int event_bytes = 356;
  double rate = 0;  // requests/s in total; 0 = closed loop
  bool gzip = false;
  BodyFormat body_format = BodyFormat::kAuto;
  double timeout_s = 30;  // a request unanswered this long counts as an error
  std::string verify_acked_path;
  std::string run_id;  // event_id prefix; random when empty
  bool print_sample_event = false;
};

[[noreturn]] void Usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "basin-loadgen: %s\n", why);
  std::fprintf(stderr,
               "usage: basin-loadgen [--host H] [--port N] [--path P] [--connections N]\n"
               "         [--threads T] [--duration S] [--warmup S] [--events-per-request K]\n"
               "         [--event-bytes B] [--rate R] [--gzip] [--body-format "
               "auto|object|array|ndjson]\n"
               "         [--timeout S] [--verify-acked FILE] [--run-id ID] "
               "[--print-sample-event]\n"
               "  --rate R: open loop, R requests/s in total, latency from the intended send "
               "time;\n"
               "            without it: closed loop (max throughput).\n");
  std::exit(2);
}

double ParseNumber(std::string_view flag, const char* text, double min, double max) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) {
    std::string why = std::string(flag) + ": expected a number in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + text + "'";
    Usage(why.c_str());
  }
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage((std::string(a) + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--host") {
      o.host = value();
    } else if (a == "--port") {
      o.port = static_cast<int>(ParseNumber(a, value(), 1, 65535));
    } else if (a == "--path") {
      o.path = value();
    } else if (a == "--connections") {
      o.connections = static_cast<int>(ParseNumber(a, value(), 1, 100000));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(ParseNumber(a, value(), 1, 256));
    } else if (a == "--duration") {
      o.duration_s = ParseNumber(a, value(), 0.1, 86400);
    } else if (a == "--warmup") {
      o.warmup_s = ParseNumber(a, value(), 0, 3600);
    } else if (a == "--events-per-request") {
      o.events_per_request = static_cast<int>(ParseNumber(a, value(), 1, 100000));
    } else if (a == "--event-bytes") {
      o.event_bytes = static_cast<int>(ParseNumber(a, value(), 64, 1 << 20));
    } else if (a == "--rate") {
      o.rate = ParseNumber(a, value(), 0.001, 1e8);
    } else if (a == "--gzip") {
      o.gzip = true;
    } else if (a == "--body-format") {
      std::string_view f = value();
      if (f == "auto")
        o.body_format = BodyFormat::kAuto;
      else if (f == "object")
        o.body_format = BodyFormat::kObject;
      else if (f == "array")
        o.body_format = BodyFormat::kArray;
      else if (f == "ndjson")
        o.body_format = BodyFormat::kNdjson;
      else
        Usage("--body-format: auto, object, array or ndjson");
    } else if (a == "--timeout") {
      o.timeout_s = ParseNumber(a, value(), 0.01, 3600);
    } else if (a == "--verify-acked") {
      o.verify_acked_path = value();
    } else if (a == "--run-id") {
      o.run_id = value();
    } else if (a == "--print-sample-event") {
      o.print_sample_event = true;
    } else if (a == "--help" || a == "-h") {
      Usage(nullptr);
    } else {
      Usage(("unknown option " + std::string(a)).c_str());
    }
  }
  if (o.threads > o.connections) o.threads = o.connections;
  if (o.body_format == BodyFormat::kAuto) {
    o.body_format = o.events_per_request == 1 ? BodyFormat::kObject : BodyFormat::kArray;
  }
  if (o.body_format == BodyFormat::kObject && o.events_per_request != 1) {
    Usage("--body-format object needs --events-per-request 1");
  }
  for (char c : o.run_id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      Usage("--run-id: letters, digits, '-' and '_' only (it goes into JSON unescaped)");
    }
  }
  return o;
}

// Latency histogram with log-linear buckets (the HdrHistogram layout): values below 128 ns get
// one bucket each; above, every power-of-two range is split into 64 equal buckets, so any
// recorded value is known to within 1/64 (1.6%) whatever its magnitude, in fixed memory.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int64_t kSub = int64_t{1} << kSubBits;  // 128
  static constexpr int64_t kHalf = kSub / 2;               // 64
  static constexpr int kMaxShift = 42;                     // 2^48 ns ≈ 78 h: far past any timeout
  static constexpr size_t kBuckets = kSub + kMaxShift * kHalf;

  LatencyHistogram() : counts_(kBuckets, 0) {}

  void Record(int64_t nanos) {
    if (nanos < 0) nanos = 0;
    ++counts_[Index(nanos)];
    ++count_;
    sum_ += static_cast<double>(nanos);
    max_ = std::max(max_, nanos);
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
  }

  // The value at quantile q in [0, 1], as the midpoint of its bucket (clamped to the true max).
  int64_t ValueAt(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(BucketMid(i), max_);
    }
    return max_;
  }

  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

 private:
  static size_t Index(int64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(static_cast<uint64_t>(v));
    int shift = std::min(msb - (kSubBits - 1), kMaxShift);
    int64_t sub = std::min<int64_t>(v >> shift, kSub - 1);
    return static_cast<size_t>(kSub + (shift - 1) * kHalf + (sub - kHalf));
  }
  static int64_t BucketMid(size_t i) {
    if (i < static_cast<size_t>(kSub)) return static_cast<int64_t>(i);
    int64_t k = static_cast<int64_t>(i) - kSub;
    int shift = static_cast<int>(k / kHalf) + 1;
    int64_t low = (kHalf + k % kHalf) << shift;
    return low + (int64_t{1} << shift) / 2;
  }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
  int64_t max_ = 0;
};

// Builds clickstream events shaped like the AWS Clickstream Web SDK's: a pool of pre-rendered
// variants (users, sessions, pages, products, event types) with fixed-width slots for the
// event_id counter and the timestamp, patched in place per event. Rendering an event is then a
// memcpy and two digit writes, so the generator stays far cheaper than the server it measures.
// One per worker thread; not thread-safe.
class EventFactory {
 public:
  static constexpr int kCounterDigits = 12;
  static constexpr int kTimestampDigits = 13;

  EventFactory(const Options& options, const std::string& run_id, int thread_index)
      : target_bytes_(options.event_bytes) {
    char thread_tag[8];
    std::snprintf(thread_tag, sizeof thread_tag, "%03d", thread_index);
    id_prefix_ = run_id + "-" + thread_tag + "-";
    // A prime count so that the variant sequence does not line up with connection counts.
    constexpr int kVariants = 97;
    uint64_t seed = 0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(thread_index + 1);
    for (int v = 0; v < kVariants; ++v) variants_.push_back(Render(v, seed));
  }

  // Appends one event; writes its event_id to `id_out` when given.
  void Append(std::string& out, std::string* id_out) {
    const Variant& v = variants_[next_variant_];
    next_variant_ = (next_variant_ + 1) % variants_.size();
    size_t base = out.size();
    out.append(v.text);
    WriteDigits(out.data() + base + v.counter_pos, kCounterDigits, counter_);
    WriteDigits(out.data() + base + v.timestamp_pos, kTimestampDigits,
                static_cast<uint64_t>(WallMillis()));
    ++counter_;
    if (id_out != nullptr) {
      id_out->append(out, base + v.id_pos, v.id_len);
      id_out->push_back('\n');
    }
  }

  size_t event_size() const { return variants_.empty() ? 0 : variants_[0].text.size(); }

 private:
  struct Variant {
    std::string text;
    size_t id_pos = 0, id_len = 0, counter_pos = 0, timestamp_pos = 0;
  };

  static uint64_t NextRandom(uint64_t& s) {  // splitmix64: deterministic, good enough spread
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  static void WriteDigits(char* p, int width, uint64_t value) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  }

  Variant Render(int v, uint64_t& seed) {
    // Weights follow a typical shop funnel: mostly page views and engagement, few purchases.
    static constexpr std::string_view kTypes[] = {
        "_page_view", "_page_view", "_page_view",  "_user_engagement", "_scroll", "_click",
        "_click",     "_search",    "add_to_cart", "view_item",        "purchase"};
    static constexpr std::string_view kPages[] = {
        "/", "/category/shoes", "/category/outdoor", "/product", "/cart", "/checkout", "/search"};
    static constexpr std::string_view kCountries[] = {"US", "DE", "GB", "FR", "JP", "BR", "IN"};
    static constexpr std::string_view kLocales[] = {"en-US", "de-DE", "en-GB", "fr-FR",
                                                    "ja-JP", "pt-BR", "en-IN"};
    static constexpr std::string_view kUserAgent =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51 (X11; Linux x86_64; rv:125.0) "
        "Gecko/20100101 Firefox/125.0 (Macintosh; Intel Mac OS X 10_15_7) Version/17.4.1 ";

    uint64_t r = NextRandom(seed);
    uint64_t user = 100000 + r % 900000;
    uint64_t product = 10000 + (r >> 20) % 90000;
    size_t country = (r >> 40) % std::size(kCountries);
    char device[40];
    uint64_t d1 = NextRandom(seed), d2 = NextRandom(seed);
    std::snprintf(device, sizeof device, "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(d1),
                  static_cast<unsigned>((d1 >> 32) & 0xffff),
                  static_cast<unsigned>((d1 >> 48) & 0xfff), static_cast<unsigned>(d2 & 0xfff),
                  static_cast<unsigned long long>((d2 >> 12) & 0xffffffffffffULL));

    Variant out;
    std::string& s = out.text;
    s += "{\"event_id\":\"";
    out.id_pos = s.size();
    s += id_prefix_;
    out.counter_pos = s.size();
    s.append(kCounterDigits, '0');
    out.id_len = s.size() - out.id_pos;
    s += "\",\"event_type\":\"";
    s += kTypes[static_cast<size_t>(v) % std::size(kTypes)];
    s += "\",\"timestamp\":";
    out.timestamp_pos = s.size();
    s.append(kTimestampDigits, '0');
    s += ",\"app_id\":\"shop\",\"user_id\":\"u";
    s += std::to_string(user);
    s += "\",\"session_id\":\"";
    s += device + 28;  // last 8 hex of the device id, like the SDK's _session_id prefix
    s += "-20240501-";
    s += std::to_string(100000 + (r >> 8) % 900000);
    s += "\",\"page_url\":\"https://shop.example.com";
    s += kPages[(r >> 12) % std::size(kPages)];
    s += "\",\"product_id\":\"sku-";
    s += std::to_string(product);
    s += "\",\"price\":";
    s += std::to_string(5 + (r >> 24) % 195);
    s += ".99,\"country_code\":\"";
    s += kCountries[country];
    s += "\",\"locale\":\"";
    s += kLocales[country];
    s += "\",\"user_agent\":\"";
    // The user agent takes up the slack so that every event is exactly --event-bytes long
    // (when the target leaves room for at least a short one).
    size_t fixed = s.size() + 2;  // closing quote and brace
    size_t ua_len = target_bytes_ > static_cast<int>(fixed + 16) ? target_bytes_ - fixed : 16;
    for (size_t i = 0; i < ua_len; ++i) s.push_back(kUserAgent[i % kUserAgent.size()]);
    s += "\"}";
    return out;
  }

  int target_bytes_;
  std::string id_prefix_;
  std::vector<Variant> variants_;
  size_t next_variant_ = 0;
  uint64_t counter_ = 0;
};

// What a worker measured; merged across workers at the end.
struct WorkerStats {
  LatencyHistogram latency;
  uint64_t requests = 0;       // 200 responses completed inside the measurement window
  uint64_t events = 0;         // events those responses accepted
  uint64_t payload_bytes = 0;  // uncompressed request bodies of those requests
  uint64_t wire_bytes = 0;     // bytes on the wire (headers + possibly gzip'd body)
  uint64_t partial = 0;        // 200 with accepted < events sent
  uint64_t unsent = 0;         // open loop: scheduled sends the window ended before
  uint64_t acked_total = 0;    // events acknowledged over the whole run (incl. warm-up)
  std::map<std::string, uint64_t> errors;

  void Merge(const WorkerStats& o) {
    latency.Merge(o.latency);
    requests += o.requests;
    events += o.events;
    payload_bytes += o.payload_bytes;
    wire_bytes += o.wire_bytes;
    partial += o.partial;
    unsent += o.unsent;
    acked_total += o.acked_total;
    for (const auto& [k, v] : o.errors) errors[k] += v;
  }
};

// The shared timeline: every worker uses the same start, so the measurement windows agree.
struct Timeline {
  int64_t start_ns = 0;    // warm-up begins
  int64_t measure_ns = 0;  // measurement window begins
  int64_t end_ns = 0;      // window ends; no new sends after this
  int64_t drain_ns = 0;    // in-flight requests are abandoned after this
};

// Writes acknowledged event ids; shared by all workers.
class AckedIdSink {
 public:
  explicit AckedIdSink(const std::string& path) {
    if (path.empty()) return;
    file_ = std::fopen(path.c_str(), "w");
    if (file_ == nullptr) {
      std::fprintf(stderr, "basin-loadgen: cannot open %s: %s\n", path.c_str(),
                   std::strerror(errno));
      std::exit(1);
    }
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  }
  ~AckedIdSink() {
    if (file_ != nullptr) std::fclose(file_);
  }
  bool enabled() const { return file_ != nullptr; }
  void Write(const std::string& ids) {
    std::lock_guard lock(mu_);
    std::fwrite(ids.data(), 1, ids.size(), file_);
  }

 private:
  std::mutex mu_;
  FILE* file_ = nullptr;
};

// One keep-alive connection with at most one request in flight.
struct Connection {
  enum class State { kClosed, kConnecting, kIdle, kSending, kAwaiting };
  int fd = -1;
  State state = State::kClosed;
  std::string out;  // the request being sent
  size_t out_off = 0;
  std::string in;           // response bytes received so far
  std::string ids;          // ids of the in-flight request's events (when verifying)
  int64_t intended_ns = 0;  // when the in-flight request was meant to go out
  int64_t sent_ns = 0;
  int64_t next_ns = 0;  // open loop: the next intended send; closed loop: reconnect time
  int events = 0;
  size_t payload = 0;
  bool want_write = false;
};

// The parsed outcome of a complete HTTP response.
struct Response {
  int status = 0;
  bool close = false;
  size_t consumed = 0;  // bytes of the buffer it used
  std::string body;     // a copy: replies are small, and a copy survives the buffer's erase
};

Response Malformed() {
  Response r;
  r.status = -1;
  return r;
}

// Not complete yet; at end of stream that means the reply was cut short.
std::optional<Response> Incomplete(bool eof) {
  if (eof) return Malformed();
  return std::nullopt;
}

// Parses one HTTP/1.1 response from the front of `buf`. Returns nullopt while incomplete;
// a Response with status -1 when the bytes are not HTTP.
std::optional<Response> ParseResponse(const std::string& buf, bool eof) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (eof || buf.size() > 65536) return Malformed();
    return std::nullopt;
  }
  Response r;
  std::string_view head(buf.data(), head_end);
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return Malformed();
  size_t sp = head.find(' ');
  if (sp == std::string_view::npos ||
      std::from_chars(head.data() + sp + 1, head.data() + head.size(), r.status).ec !=
          std::errc()) {
    return Malformed();
  }
  bool http10 = head.substr(0, 8) == "HTTP/1.0";
  r.close = http10;
  std::optional<size_t> content_length;
  bool chunked = false;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    size_t next = head.find("\r\n", pos + 2);
    std::string_view line =
        head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
    pos = next;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    std::string lower_value(value);
    std::transform(lower_value.begin(), lower_value.end(), lower_value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "content-length") {
      size_t n = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc()) {
        content_length = n;
      }
    } else if (name == "transfer-encoding") {
      chunked = lower_value.find("chunked") != std::string::npos;
    } else if (name == "connection") {
      if (lower_value.find("close") != std::string::npos) r.close = true;
      if (lower_value.find("keep-alive") != std::string::npos) r.close = false;
    }
  }
  size_t body_start = head_end + 4;
  bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
  if (no_body) {
    r.consumed = body_start;
    return r;
  }
  if (chunked) {
    size_t p = body_start;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      size_t line_end = buf.find("\r\n", p);
      if (line_end == std::string::npos) return Incomplete(eof);
      size_t size = 0;
      auto res = std::from_chars(buf.data() + p, buf.data() + line_end, size, 16);
      if (res.ec != std::errc()) return Malformed();
      if (size == 0) {
        size_t trailer_end = buf.find("\r\n", line_end + 2);
        if (trailer_end == std::string::npos) return Incomplete(eof);
        r.consumed = trailer_end + 2;  // no trailers expected: the empty line ends the body
        return r;
      }
      if (buf.size() < line_end + 2 + size + 2) return Incomplete(eof);
      r.body.append(buf, line_end + 2, size);
      p = line_end + 2 + size + 2;
    }
    return Malformed();
  }
  if (content_length) {
    if (buf.size() < body_start + *content_length) return Incomplete(eof);
    r.consumed = body_start + *content_length;
    r.body.assign(buf, body_start, *content_length);
    return r;
  }
  // No length: the body runs to the end of the connection.
  if (!eof) return std::nullopt;
  r.close = true;
  r.consumed = buf.size();
  r.body.assign(buf, body_start);
  return r;
}

// `"accepted":N` from Basin's ingest reply; nullopt when absent (other servers, errors).
std::optional<int64_t> AcceptedCount(std::string_view body) {
  size_t p = body.find("\"accepted\"");
  if (p == std::string_view::npos) return std::nullopt;
  p = body.find(':', p);
  if (p == std::string_view::npos) return std::nullopt;
  ++p;
  while (p < body.size() && body[p] == ' ') ++p;
  int64_t n = 0;
  if (std::from_chars(body.data() + p, body.data() + body.size(), n).ec != std::errc()) {
    return std::nullopt;
  }
  return n;
}

// Drives a share of the connections from one thread with one epoll loop. Owns its sockets,
// its event factory and its stats; shares only the read-only timeline, the address and the
// acked-id sink.
class Worker {
 public:
  Worker(const Options& options, const sockaddr_storage& addr, socklen_t addr_len,
         const Timeline& timeline, AckedIdSink& sink, const std::string& run_id, int index,
         int first_connection, int connection_count)
      : options_(options),
        addr_(addr),
        addr_len_(addr_len),
        timeline_(timeline),
        sink_(sink),
        factory_(options, run_id, index),
        conns_(static_cast<size_t>(connection_count)) {
    open_loop_ = options.rate > 0;
    if (open_loop_) {
      interval_ns_ = static_cast<int64_t>(static_cast<double>(options.connections) *
                                          kNanosPerSecond / options.rate);
      if (interval_ns_ < 1) interval_ns_ = 1;
      // Stagger the connections over one interval so the arrivals are evenly spread.
      for (int i = 0; i < connection_count; ++i) {
        conns_[static_cast<size_t>(i)].next_ns =
            timeline.start_ns + (interval_ns_ * (first_connection + i)) / options.connections;
      }
    }
    header_prefix_ =
        "POST " + options.path + " HTTP/1.1\r\nHost: " + options.host + ":" +
        std::to_string(options.port) + "\r\nUser-Agent: basin-loadgen\r\n" + "Content-Type: " +
        (options.body_format == BodyFormat::kNdjson ? "application/x-ndjson" : "application/json") +
        "\r\n" + (options.gzip ? "Content-Encoding: gzip\r\n" : "") + "Content-Length: ";
  }

  void Run() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      std::perror("epoll_create1");
      std::exit(1);
    }
    int64_t now = NowNanos();
    for (size_t i = 0; i < conns_.size(); ++i) Connect(i, now);
    std::vector<epoll_event> events(std::max<size_t>(conns_.size(), 16));
    int64_t last_timeout_scan = now;
    // Bounded by the drain deadline: every iteration re-reads the clock.
    while (true) {
      now = NowNanos();
      if (now >= timeline_.drain_ns) break;
      if (now >= timeline_.end_ns && InFlight() == 0) break;
      StartDueSends(now);
      int64_t wake = NextWake(now);
      timespec ts{static_cast<time_t>(wake / kNanosPerSecond),
                  static_cast<long>(wake % kNanosPerSecond)};
      int n = epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_pwait2");
        std::exit(1);
      }
      now = NowNanos();
      for (int e = 0; e < n; ++e) {
        size_t i = events[static_cast<size_t>(e)].data.u64;
        uint32_t what = events[static_cast<size_t>(e)].events;
        OnEvent(i, what, now);
      }
      if (now - last_timeout_scan > 50 * kNanosPerMilli) {
        ScanTimeouts(now);
        last_timeout_scan = now;
      }
    }
    // Whatever is still in flight at the drain deadline never got an answer.
    for (size_t i = 0; i < conns_.size(); ++i) {
      Connection& c = conns_[i];
      if ((c.state == Connection::State::kSending || c.state == Connection::State::kAwaiting) &&
          c.intended_ns >= timeline_.measure_ns) {
        ++stats_.errors["unanswered_at_end"];
      }
      if (open_loop_) CountUnsent(c);
      Close(i);
    }
    close(epoll_fd_);
  }

  WorkerStats& stats() { return stats_; }

 private:
  size_t InFlight() const {
    size_t n = 0;
    for (const Connection& c : conns_) {
      n += c.state == Connection::State::kSending || c.state == Connection::State::kAwaiting;
    }
    return n;
  }

  void CountUnsent(const Connection& c) {
    int64_t from = std::max(c.next_ns, timeline_.measure_ns);
    if (from < timeline_.end_ns) {
      stats_.unsent +=
          static_cast<uint64_t>((timeline_.end_ns - from + interval_ns_ - 1) / interval_ns_);
    }
  }

  void CountError(const std::string& kind, int64_t when_ns) {
    if (when_ns >= timeline_.measure_ns) ++stats_.errors[kind];
  }

  void Connect(size_t i, int64_t now) {
    Connection& c = conns_[i];
    c.fd = socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      std::perror("socket");
      std::exit(1);
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.in.clear();
    int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (rc == 0) {
      c.state = Connection::State::kIdle;
    } else if (errno == EINPROGRESS) {
      c.state = Connection::State::kConnecting;
    } else {
      CountError("connect", now);
      close(c.fd);
      c.fd = -1;
      c.state = Connection::State::kClosed;
      retry_at_[i] = now + 50 * kNanosPerMilli;
      return;
    }
    c.want_write = c.state == Connection::State::kConnecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c.want_write ? uint32_t{EPOLLOUT} : 0u);
    ev.data.u64 = i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void Close(size_t i) {
    Connection& c = conns_[i];
    if (c.fd >= 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
    }
    c.fd = -1;
    c.state = Connection::State::kClosed;
    c.in.clear();
    c.out.clear();
  }

  // A connection failed: count the in-flight request as an error and reconnect shortly.
  void Fail(size_t i, const std::string& kind, int64_t now) {
    Connection& c = conns_[i];
    bool had_request =
        c.state == Connection::State::kSending || c.state == Connection::State::kAwaiting;
    CountError(kind, had_request ? c.intended_ns : now);
    Close(i);
    retry_at_[i] = now + 10 * kNanosPerMilli;
  }

  void SetWantWrite(size_t i, bool want) {
    Connection& c = conns_[i];
    if (c.want_write == want) return;
    c.want_write = want;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? uint32_t{EPOLLOUT} : 0u);
    ev.data.u64 = i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Starts requests on idle connections whose turn has come, and reconnects closed ones.
  void StartDueSends(int64_t now) {
    for (size_t i = 0; i < conns_.size(); ++i) {
      Connection& c = conns_[i];
      if (c.state == Connection::State::kClosed) {
        auto it = retry_at_.find(i);
        if (now < timeline_.end_ns && (it == retry_at_.end() || it->second <= now)) {
          retry_at_.erase(i);
          Connect(i, now);
        }
        continue;
      }
      if (c.state != Connection::State::kIdle || now >= timeline_.end_ns) continue;
      if (open_loop_) {
        if (c.next_ns > now || c.next_ns >= timeline_.end_ns) continue;
        Send(i, c.next_ns, now);
        c.next_ns += interval_ns_;
      } else {
        Send(i, now, now);
      }
    }
  }

  // How long epoll may sleep: until the next scheduled send or reconnect, at most 10 ms so the
  // end of the run and timeouts are noticed promptly.
  int64_t NextWake(int64_t now) const {
    int64_t wake = now + 10 * kNanosPerMilli;
    if (now < timeline_.end_ns) wake = std::min(wake, timeline_.end_ns);
    for (const Connection& c : conns_) {
      if (open_loop_ && c.state == Connection::State::kIdle) wake = std::min(wake, c.next_ns);
    }
    // After the window no reconnects happen, so pending ones must not wake the loop.
    if (now < timeline_.end_ns) {
      for (const auto& [i, at] : retry_at_) wake = std::min(wake, at);
    }
    return std::max<int64_t>(wake - now, 0);
  }

  void Send(size_t i, int64_t intended, int64_t now) {
    Connection& c = conns_[i];
    std::string& body = body_scratch_;
    body.clear();
    c.ids.clear();
    std::string* ids = sink_.enabled() ? &c.ids : nullptr;
    int k = options_.events_per_request;
    if (options_.body_format == BodyFormat::kArray) body.push_back('[');
    for (int e = 0; e < k; ++e) {
      if (e > 0) body.push_back(options_.body_format == BodyFormat::kNdjson ? '\n' : ',');
      factory_.Append(body, ids);
    }
    if (options_.body_format == BodyFormat::kArray) body.push_back(']');
    if (options_.body_format == BodyFormat::kNdjson) body.push_back('\n');
    c.payload = body.size();
    c.out.clear();
    c.out += header_prefix_;
    if (options_.gzip) {
      std::string z = Gzip(body);
      c.out += std::to_string(z.size());
      c.out += "\r\n\r\n";
      c.out += z;
    } else {
      c.out += std::to_string(body.size());
      c.out += "\r\n\r\n";
      c.out += body;
    }
    c.out_off = 0;
    c.events = k;
    c.intended_ns = intended;
    c.sent_ns = now;
    c.state = Connection::State::kSending;
    WriteSome(i, now);
  }

  void WriteSome(size_t i, int64_t now) {
    Connection& c = conns_[i];
    while (c.out_off < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetWantWrite(i, true);
        return;
      }
      if (n < 0 && errno == EINTR) continue;
      Fail(i, "send", now);
      return;
    }
    c.state = Connection::State::kAwaiting;
    SetWantWrite(i, false);
  }

  void OnEvent(size_t i, uint32_t what, int64_t now) {
    Connection& c = conns_[i];
    if (c.fd < 0) return;
    if (c.state == Connection::State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (what & (EPOLLERR | EPOLLHUP))) {
        Fail(i, "connect", now);
        retry_at_[i] = now + 50 * kNanosPerMilli;
        return;
      }
      c.state = Connection::State::kIdle;
      SetWantWrite(i, false);
      return;
    }
    if ((what & EPOLLOUT) && c.state == Connection::State::kSending) WriteSome(i, now);
    if (c.fd < 0) return;
    if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ReadSome(i, now);
  }

  void ReadSome(size_t i, int64_t now) {
    Connection& c = conns_[i];
    bool eof = false;
    for (int guard = 0; guard < 64; ++guard) {
      char buf[16384];
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      Fail(i, "recv", now);
      return;
    }
    if (c.state != Connection::State::kAwaiting && c.state != Connection::State::kSending) {
      // Bytes or a close on an idle connection: the server timed it out or misbehaved.
      if (eof || !c.in.empty()) {
        Close(i);
        retry_at_[i] = now;
      }
      return;
    }
    if (c.in.empty() && eof) {
      Fail(i, "closed_by_server", now);
      return;
    }
    std::optional<Response> r = ParseResponse(c.in, eof);
    if (!r) return;
    if (r->status < 0) {
      Fail(i, "bad_response", now);
      return;
    }
    Complete(i, *r, now);
    if (c.fd < 0) return;
    c.in.erase(0, r->consumed);
    if (r->close || eof) {
      Close(i);
      retry_at_[i] = now;
    }
  }

  void Complete(size_t i, const Response& r, int64_t now) {
    Connection& c = conns_[i];
    bool in_window_intent =
        c.intended_ns >= timeline_.measure_ns && c.intended_ns < timeline_.end_ns;
    bool in_window_done = now >= timeline_.measure_ns && now < timeline_.end_ns;
    if (r.status == 200) {
      int64_t accepted = AcceptedCount(r.body).value_or(c.events);
      if (accepted == c.events) {
        stats_.acked_total += static_cast<uint64_t>(accepted);
        if (sink_.enabled()) sink_.Write(c.ids);
      } else if (in_window_intent) {
        ++stats_.partial;  // ids are not written: we cannot tell which ones were rejected
      }
      if (in_window_done) {
        ++stats_.requests;
        stats_.events += static_cast<uint64_t>(std::max<int64_t>(accepted, 0));
        stats_.payload_bytes += c.payload;
        stats_.wire_bytes += c.out.size();
      }
      if (in_window_intent) stats_.latency.Record(now - c.intended_ns);
    } else if (in_window_intent) {
      ++stats_.errors[std::to_string(r.status)];
    }
    c.state = Connection::State::kIdle;
    c.out.clear();
  }

  void ScanTimeouts(int64_t now) {
    int64_t limit = static_cast<int64_t>(options_.timeout_s * kNanosPerSecond);
    for (size_t i = 0; i < conns_.size(); ++i) {
      Connection& c = conns_[i];
      if ((c.state == Connection::State::kSending || c.state == Connection::State::kAwaiting) &&
          now - c.sent_ns > limit) {
        Fail(i, "timeout", now);
      }
    }
  }

  const Options& options_;
  sockaddr_storage addr_;
  socklen_t addr_len_;
  const Timeline& timeline_;
  AckedIdSink& sink_;
  EventFactory factory_;
  std::vector<Connection> conns_;
  std::map<size_t, int64_t> retry_at_;  // closed connections: when to reconnect
  bool open_loop_ = false;
  int64_t interval_ns_ = 0;
  std::string header_prefix_;
  std::string body_scratch_;
  int epoll_fd_ = -1;
  WorkerStats stats_;
};

std::string RandomRunId() {
  // Time and pid make ids unique across runs on one machine without a random device.
  uint64_t x = static_cast<uint64_t>(WallMillis()) * 1000003ULL ^
               static_cast<uint64_t>(getpid()) * 0x9E3779B97F4A7C15ULL ^
               static_cast<uint64_t>(NowNanos());
  char buf[16];
  std::snprintf(buf, sizeof buf, "lg%08llx", static_cast<unsigned long long>(x & 0xffffffffULL));
  return buf;
}

double Round3(double v) { return std::round(v * 1000.0) / 1000.0; }

int Main(int argc, char** argv) {
  Options options = ParseOptions(argc, argv);
  std::string run_id = options.run_id.empty() ? RandomRunId() : options.run_id;

  if (options.print_sample_event) {
    EventFactory factory(options, run_id, 0);
    std::string event;
    factory.Append(event, nullptr);
    std::printf("%s\n", event.c_str());
    return 0;
  }

  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(options.port);
    int rc = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      std::fprintf(stderr, "basin-loadgen: cannot resolve %s: %s\n", options.host.c_str(),
                   gai_strerror(rc));
      return 1;
    }
    std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
    addr_len = res->ai_addrlen;
    freeaddrinfo(res);
  }

  AckedIdSink sink(options.verify_acked_path);
  Timeline timeline;
  // A short head start so every thread has connected before the schedule begins.
  timeline.start_ns = NowNanos() + 100 * kNanosPerMilli;
  timeline.measure_ns =
      timeline.start_ns + static_cast<int64_t>(options.warmup_s * kNanosPerSecond);
  timeline.end_ns =
      timeline.measure_ns + static_cast<int64_t>(options.duration_s * kNanosPerSecond);
  timeline.drain_ns =
      timeline.end_ns + static_cast<int64_t>(std::min(options.timeout_s, 10.0) * kNanosPerSecond);

  std::vector<std::unique_ptr<Worker>> workers;
  int first = 0;
  for (int t = 0; t < options.threads; ++t) {
    int count = options.connections / options.threads + (t < options.connections % options.threads);
    workers.push_back(
        std::make_unique<Worker>(options, addr, addr_len, timeline, sink, run_id, t, first, count));
    first += count;
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->Run(); });
  for (auto& t : threads) t.join();

  WorkerStats total;
  for (auto& w : workers) total.Merge(w->stats());
  uint64_t error_count = 0;
  for (const auto& [k, v] : total.errors) error_count += v;

  double d = options.duration_s;
  JsonWriter w;
  w.BeginObject();
  w.Key("mode").String(options.rate > 0 ? "open" : "closed");
  w.Key("run_id").String(run_id);
  w.Key("connections").Int(options.connections);
  w.Key("threads").Int(options.threads);
  w.Key("events_per_request").Int(options.events_per_request);
  w.Key("event_bytes").Uint(EventFactory(options, run_id, 0).event_size());
  w.Key("gzip").Bool(options.gzip);
  if (options.rate > 0) w.Key("target_rate").Double(options.rate);
  w.Key("duration_s").Double(d);
  w.Key("warmup_s").Double(options.warmup_s);
  w.Key("requests").Uint(total.requests);
  w.Key("events").Uint(total.events);
  w.Key("errors").Uint(error_count);
  w.Key("errors_by_status").BeginObject();
  for (const auto& [k, v] : total.errors) w.Key(k).Uint(v);
  w.EndObject();
  w.Key("partial_accepts").Uint(total.partial);
  if (options.rate > 0) w.Key("unsent_scheduled").Uint(total.unsent);
  w.Key("acked_events_total").Uint(total.acked_total);
  w.Key("requests_per_s").Double(Round3(static_cast<double>(total.requests) / d));
  w.Key("events_per_s").Double(Round3(static_cast<double>(total.events) / d));
  w.Key("mb_per_s").Double(Round3(static_cast<double>(total.payload_bytes) / 1e6 / d));
  w.Key("wire_mb_per_s").Double(Round3(static_cast<double>(total.wire_bytes) / 1e6 / d));
  const LatencyHistogram& h = total.latency;
  auto ms = [](double ns) { return Round3(ns / 1e6); };
  w.Key("latency_ms").BeginObject();
  w.Key("samples").Uint(h.count());
  w.Key("mean").Double(ms(h.mean()));
  w.Key("p50").Double(ms(static_cast<double>(h.ValueAt(0.50))));
  w.Key("p90").Double(ms(static_cast<double>(h.ValueAt(0.90))));
  w.Key("p99").Double(ms(static_cast<double>(h.ValueAt(0.99))));
  w.Key("p999").Double(ms(static_cast<double>(h.ValueAt(0.999))));
  w.Key("max").Double(ms(static_cast<double>(h.max())));
  w.EndObject();
  w.EndObject();
  std::printf("%s\n", w.str().c_str());
  // Nothing acknowledged at all is a failed run (server down, wrong path): say so to scripts.
  return total.requests == 0 ? 3 : 0;
}

}  // namespace
}  // namespace basin::bench

int main(int argc, char** argv) { return basin::bench::Main(argc, argv); }
