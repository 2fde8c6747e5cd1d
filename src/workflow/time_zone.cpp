#include "workflow/time_zone.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>

#include "base/time_format.h"

namespace basin::workflow {
namespace {

constexpr int64_t kSecondsPerDay = 86'400;
// TZif files are small (the largest in tzdata is well under 100 KiB).
constexpr size_t kMaxTzifBytes = 1 << 20;

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// 0 = Sunday.
int WeekdayOfDays(int64_t days_since_epoch) {
  return static_cast<int>(((days_since_epoch % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
}

Status Corrupt(std::string_view what) {
  return Error(ErrorCode::kCorruption, "TZif: " + std::string(what));
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool Has(size_t n) const { return pos_ <= bytes_.size() && bytes_.size() - pos_ >= n; }
  size_t pos() const { return pos_; }
  void Skip(size_t n) { pos_ += n; }
  uint8_t U8() { return static_cast<uint8_t>(bytes_[pos_++]); }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | U8();
    return v;
  }
  int64_t I64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | U8();
    return static_cast<int64_t>(v);
  }
  std::string_view Rest() const { return bytes_.substr(pos_); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct TzifCounts {
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

Result<TzifCounts> ReadHeader(ByteReader& in, char* version) {
  if (!in.Has(44)) return Corrupt("file shorter than its header");
  if (in.U8() != 'T' || in.U8() != 'Z' || in.U8() != 'i' || in.U8() != 'f') {
    return Corrupt("missing TZif magic");
  }
  *version = static_cast<char>(in.U8());
  in.Skip(15);
  TzifCounts c{};
  c.isutcnt = in.U32();
  c.isstdcnt = in.U32();
  c.leapcnt = in.U32();
  c.timecnt = in.U32();
  c.typecnt = in.U32();
  c.charcnt = in.U32();
  if (c.typecnt == 0 || c.typecnt > 256 || c.timecnt > 100'000 || c.leapcnt > 100'000 ||
      c.charcnt > 100'000 || (c.isutcnt != 0 && c.isutcnt != c.typecnt) ||
      (c.isstdcnt != 0 && c.isstdcnt != c.typecnt)) {
    return Corrupt("implausible counts in header");
  }
  return c;
}

size_t DataBlockSize(const TzifCounts& c, size_t time_size) {
  return c.timecnt * time_size + c.timecnt + c.typecnt * 6 + c.charcnt +
         c.leapcnt * (time_size + 4) + c.isstdcnt + c.isutcnt;
}

// --- POSIX TZ strings -------------------------------------------------------------------------

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  Result<TimeZone::PosixRule> Parse() {
    TimeZone::PosixRule rule;
    if (!ParseName()) return Fail("bad standard-time name");
    int32_t std_west = 0;
    if (!ParseOffset(24, &std_west)) return Fail("bad standard-time offset");
    rule.std_offset = -std_west;
    if (AtEnd()) return rule;
    rule.has_dst = true;
    if (!ParseName()) return Fail("bad daylight-time name");
    rule.dst_offset = rule.std_offset + 3600;
    if (!AtEnd() && Peek() != ',') {
      int32_t dst_west = 0;
      if (!ParseOffset(24, &dst_west)) return Fail("bad daylight-time offset");
      rule.dst_offset = -dst_west;
    }
    if (AtEnd()) {
      // POSIX leaves the default rule to the implementation; tzcode uses the US rules.
      rule.dst_start = {TimeZone::PosixRule::DateKind::kMonthWeekDay, 0, 3, 2, 7200};
      rule.dst_end = {TimeZone::PosixRule::DateKind::kMonthWeekDay, 0, 11, 1, 7200};
      return rule;
    }
    if (!Consume(',') || !ParseDate(&rule.dst_start) || !Consume(',') ||
        !ParseDate(&rule.dst_end) || !AtEnd()) {
      return Fail("bad daylight-time rule");
    }
    return rule;
  }

 private:
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  Status Fail(std::string_view what) const {
    return Corrupt("footer TZ string '" + std::string(s_) + "': " + std::string(what));
  }

  bool ParseName() {
    if (Consume('<')) {
      const size_t start = pos_;
      while (!AtEnd() && Peek() != '>') {
        const char c = Peek();
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return false;
        ++pos_;
      }
      return pos_ - start >= 3 && Consume('>');
    }
    const size_t start = pos_;
    while (!AtEnd() && std::isalpha(static_cast<unsigned char>(Peek()))) ++pos_;
    return pos_ - start >= 3;
  }

  bool ParseNumber(int max, int* out) {
    if (!std::isdigit(static_cast<unsigned char>(Peek()))) return false;
    int v = 0;
    while (std::isdigit(static_cast<unsigned char>(Peek()))) {
      v = v * 10 + (s_[pos_++] - '0');
      if (v > max) return false;
    }
    *out = v;
    return true;
  }

  // [+-]hh[:mm[:ss]] in seconds; the sign is returned as written (POSIX: positive = west).
  bool ParseOffset(int max_hours, int32_t* out) {
    int sign = 1;
    if (Consume('-')) {
      sign = -1;
    } else {
      Consume('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!ParseNumber(max_hours, &h)) return false;
    if (Consume(':')) {
      if (!ParseNumber(59, &m)) return false;
      if (Consume(':') && !ParseNumber(59, &sec)) return false;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool ParseDate(TimeZone::PosixRule::Date* date) {
    using Kind = TimeZone::PosixRule::DateKind;
    if (Consume('J')) {
      date->kind = Kind::kJulianNoLeap;
      if (!ParseNumber(365, &date->day) || date->day < 1) return false;
    } else if (Consume('M')) {
      date->kind = Kind::kMonthWeekDay;
      if (!ParseNumber(12, &date->month) || date->month < 1 || !Consume('.') ||
          !ParseNumber(5, &date->week) || date->week < 1 || !Consume('.') ||
          !ParseNumber(6, &date->day)) {
        return false;
      }
    } else {
      date->kind = Kind::kZeroBasedDay;
      if (!ParseNumber(365, &date->day)) return false;
    }
    date->time_seconds = 7200;
    if (Consume('/')) {
      // RFC 8536 extends the POSIX hour range to -167..167.
      if (!ParseOffset(167, &date->time_seconds)) return false;
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Local seconds (on the clock the rule is written in) at which a rule date falls in `year`.
int64_t RuleLocalSeconds(const TimeZone::PosixRule::Date& date, int64_t year) {
  using Kind = TimeZone::PosixRule::DateKind;
  const int64_t jan1 = DaysFromCivil(static_cast<int>(year), 1, 1);
  int64_t day = jan1;
  switch (date.kind) {
    case Kind::kJulianNoLeap:
      day = jan1 + date.day - 1 + (IsLeapYear(year) && date.day >= 60 ? 1 : 0);
      break;
    case Kind::kZeroBasedDay: day = jan1 + date.day; break;
    case Kind::kMonthWeekDay: {
      const int64_t first = DaysFromCivil(static_cast<int>(year), date.month, 1);
      const int shift = (date.day - WeekdayOfDays(first) + 7) % 7;
      int64_t d = first + shift + 7 * (date.week - 1);
      const int64_t last = first + DaysInMonth(year, date.month) - 1;
      while (d > last) d -= 7;
      day = d;
      break;
    }
  }
  return day * kSecondsPerDay + date.time_seconds;
}

bool IsSafeZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part.empty() || part.front() == '.' || part.front() == '-') return false;
    for (char c : part) {
      const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                      c == '+' || c == '.';
      if (!ok) return false;
    }
    if (part.find("..") != std::string_view::npos) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const std::shared_ptr<const TimeZone> utc = [] {
    std::shared_ptr<TimeZone> zone(new TimeZone());
    zone->name_ = "UTC";
    return zone;
  }();
  return utc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(std::string_view name,
                                                       std::string_view root) {
  if (!IsSafeZoneName(name)) {
    return Error(ErrorCode::kInvalidArgument,
                 "time zone name '" + std::string(name) +
                     "' is not a relative IANA name (letters, digits, '/_-+', no '..')");
  }
  if (name == "UTC" && root == kDefaultZoneInfoRoot) return Utc();
  const std::string path = std::string(root) + "/" + std::string(name);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Error(ErrorCode::kNotFound, "unknown time zone '" + std::string(name) + "'");
  }
  std::string bytes;
  bytes.resize(kMaxTzifBytes + 1);
  file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (file.bad()) {
    // A directory (e.g. "America") opens but cannot be read.
    return Error(ErrorCode::kNotFound, "unknown time zone '" + std::string(name) + "'");
  }
  bytes.resize(static_cast<size_t>(file.gcount()));
  if (bytes.size() > kMaxTzifBytes) return Corrupt("file '" + path + "' is too large");
  if (bytes.empty()) {
    return Error(ErrorCode::kNotFound, "unknown time zone '" + std::string(name) + "'");
  }
  return ParseTzif(std::string(name), bytes);
}

Result<std::shared_ptr<const TimeZone>> TimeZone::ParseTzif(std::string name,
                                                            std::string_view bytes) {
  ByteReader in(bytes);
  char version = 0;
  BASIN_ASSIGN_OR_RETURN(TzifCounts counts, ReadHeader(in, &version));
  size_t time_size = 4;
  if (version >= '2') {
    // Skip the v1 block; the v2+ block repeats the data with 64-bit times.
    const size_t v1_size = DataBlockSize(counts, 4);
    if (!in.Has(v1_size)) return Corrupt("truncated v1 data block");
    in.Skip(v1_size);
    char version2 = 0;
    BASIN_ASSIGN_OR_RETURN(counts, ReadHeader(in, &version2));
    time_size = 8;
  } else if (version != '\0') {
    return Corrupt("unknown version");
  }
  if (!in.Has(DataBlockSize(counts, time_size))) return Corrupt("truncated data block");

  std::vector<int64_t> times(counts.timecnt);
  for (auto& t : times) t = time_size == 8 ? in.I64() : static_cast<int32_t>(in.U32());
  std::vector<uint8_t> type_index(counts.timecnt);
  for (auto& i : type_index) {
    i = in.U8();
    if (i >= counts.typecnt) return Corrupt("transition names a missing local time type");
  }
  std::vector<int32_t> type_offsets(counts.typecnt);
  for (auto& off : type_offsets) {
    off = static_cast<int32_t>(in.U32());
    in.Skip(2);  // isdst, abbreviation index
    if (off < -25 * 3600 || off > 26 * 3600) return Corrupt("UTC offset out of range");
  }
  in.Skip(counts.charcnt + counts.leapcnt * (time_size + 4) + counts.isstdcnt + counts.isutcnt);
  for (size_t i = 1; i < times.size(); ++i) {
    if (times[i] <= times[i - 1]) return Corrupt("transition times not ascending");
  }

  std::shared_ptr<TimeZone> zone(new TimeZone());
  zone->name_ = std::move(name);
  zone->transitions_ = std::move(times);
  zone->transition_offsets_.reserve(type_index.size());
  for (uint8_t i : type_index) zone->transition_offsets_.push_back(type_offsets[i]);
  // RFC 8536 3.2: local time type 0 applies before the first transition.
  zone->initial_offset_ = type_offsets[0];

  if (time_size == 8) {
    const std::string_view rest = in.Rest();
    if (rest.size() < 2 || rest.front() != '\n') return Corrupt("missing footer");
    const size_t close = rest.find('\n', 1);
    if (close == std::string_view::npos) return Corrupt("unterminated footer");
    const std::string_view tz = rest.substr(1, close - 1);
    if (!tz.empty()) {
      BASIN_ASSIGN_OR_RETURN(zone->rule_, ParsePosixTz(tz));
      zone->has_rule_ = true;
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(zone));
}

Result<TimeZone::PosixRule> TimeZone::ParsePosixTz(std::string_view text) {
  return PosixParser(text).Parse();
}

int32_t TimeZone::RuleOffsetAt(int64_t utc_seconds) const {
  if (!rule_.has_dst) return rule_.std_offset;
  // Keep the year arithmetic far from overflow; +-1e12 s is about +-31,000 years.
  utc_seconds = std::clamp<int64_t>(utc_seconds, -1'000'000'000'000, 1'000'000'000'000);
  const int64_t year = ToCivil((utc_seconds + rule_.std_offset) * 1'000'000).year;
  // The start is written in standard local time, the end in daylight local time.
  const int64_t start = RuleLocalSeconds(rule_.dst_start, year) - rule_.std_offset;
  const int64_t end = RuleLocalSeconds(rule_.dst_end, year) - rule_.dst_offset;
  const bool dst = start < end ? (utc_seconds >= start && utc_seconds < end)
                               : !(utc_seconds >= end && utc_seconds < start);
  return dst ? rule_.dst_offset : rule_.std_offset;
}

int32_t TimeZone::OffsetAt(int64_t utc_seconds) const {
  if (transitions_.empty()) return has_rule_ ? RuleOffsetAt(utc_seconds) : initial_offset_;
  if (utc_seconds < transitions_.front()) return initial_offset_;
  if (utc_seconds >= transitions_.back() && has_rule_) return RuleOffsetAt(utc_seconds);
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc_seconds);
  return transition_offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

LocalTimeResolution TimeZone::Resolve(int64_t local_seconds) const {
  // Offsets in force around the local time; a zone changes its offset at most a few times a day,
  // and never by more than a day, so these cover both sides of any nearby transition.
  std::set<int32_t> offsets = {OffsetAt(local_seconds - 2 * kSecondsPerDay),
                               OffsetAt(local_seconds), OffsetAt(local_seconds + kSecondsPerDay)};
  for (int32_t o : std::set<int32_t>(offsets)) offsets.insert(OffsetAt(local_seconds - o));

  std::vector<int64_t> instants;
  for (int32_t o : offsets) {
    if (OffsetAt(local_seconds - o) == o) instants.push_back(local_seconds - o);
  }
  std::sort(instants.begin(), instants.end());
  LocalTimeResolution r;
  if (!instants.empty()) {
    r.kind = instants.size() == 1 ? LocalTimeKind::kUnique : LocalTimeKind::kRepeated;
    r.earlier_utc_seconds = instants.front();
    r.later_utc_seconds = instants.back();
    return r;
  }
  // A gap: find the transition (between the instants the largest and smallest offsets give)
  // and use the offset in force just before it.
  int64_t lo = local_seconds - *offsets.rbegin();  // offset before the gap at lo
  int64_t hi = local_seconds - *offsets.begin();
  const int32_t before = OffsetAt(lo);
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (OffsetAt(mid) == before ? lo : hi) = mid;
  }
  r.kind = LocalTimeKind::kSkipped;
  r.earlier_utc_seconds = r.later_utc_seconds = local_seconds - OffsetAt(lo);
  return r;
}

}  // namespace basin::workflow
