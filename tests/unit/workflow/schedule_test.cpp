#include "workflow/schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/time_format.h"
#include "workflow/time_zone.h"

namespace basin::workflow {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;

bool HaveZoneInfo() { return std::filesystem::exists("/usr/share/zoneinfo/America/New_York"); }

#define REQUIRE_TZDATA() \
  if (!HaveZoneInfo()) GTEST_SKIP() << "tzdata is not installed (scripts/setup.sh installs it)"

int64_t At(const char* iso) {
  std::optional<int64_t> t = ParseIso8601(iso);
  EXPECT_TRUE(t.has_value()) << iso;
  return t.value_or(0);
}

std::string Iso(std::optional<int64_t> us) {
  if (!us) return "none";
  std::string s = FormatIso8601Millis(*us);
  // "2026-01-01T10:00:00.000Z" -> "2026-01-01T10:00:00Z"
  return s.substr(0, 19) + "Z";
}

Schedule MustParse(std::string_view expression, std::string_view zone = "UTC") {
  Result<Schedule> s = ParseSchedule(expression, zone);
  EXPECT_TRUE(s.ok()) << expression << ": " << s.status().ToString();
  if (!s.ok()) return ParseSchedule("rate(1 day)").value();
  return std::move(s).value();
}

// The next `count` fire times after `after`, as ISO strings.
std::vector<std::string> Next(std::string_view expression, const char* after, size_t count,
                              std::string_view zone = "UTC") {
  const Schedule s = MustParse(expression, zone);
  std::vector<std::string> out;
  std::optional<int64_t> t = At(after);
  for (size_t i = 0; i < count; ++i) {
    t = s.NextAfter(*t);
    out.push_back(Iso(t));
    if (!t) break;
  }
  return out;
}

std::vector<int64_t> NextMicros(std::string_view expression, const char* after, size_t count,
                                std::string_view zone) {
  const Schedule s = MustParse(expression, zone);
  return s.FireTimesBetween(At(after), std::numeric_limits<int64_t>::max(), count);
}

void ExpectInvalid(std::string_view expression, std::string_view message_part,
                   std::string_view zone = "UTC") {
  Result<Schedule> s = ParseSchedule(expression, zone);
  ASSERT_FALSE(s.ok()) << expression << " parsed";
  EXPECT_EQ(s.status().code(), ErrorCode::kInvalidDefinition) << expression;
  EXPECT_THAT(s.status().message(), HasSubstr(message_part)) << expression;
}

// --- TimeZone ---------------------------------------------------------------------------------

TEST(TimeZoneTest, UtcNeedsNoFiles) {
  auto utc = TimeZone::Utc();
  EXPECT_EQ(utc->name(), "UTC");
  EXPECT_EQ(utc->OffsetAt(At("2026-07-01T00:00:00Z") / kSecond), 0);
  const LocalTimeResolution r = utc->Resolve(1'000'000);
  EXPECT_EQ(r.kind, LocalTimeKind::kUnique);
  EXPECT_EQ(r.earlier_utc_seconds, 1'000'000);
}

TEST(TimeZoneTest, NewYorkOffsetsFromTableAndFooterRule) {
  REQUIRE_TZDATA();
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok()) << ny.status().ToString();
  EXPECT_EQ((*ny)->OffsetAt(1768478400), -5 * 3600);  // 2026-01-15T12:00Z, EST
  EXPECT_EQ((*ny)->OffsetAt(1784116800), -4 * 3600);  // 2026-07-15T12:00Z, EDT
  // 2100 is past the last transition in the file: the footer TZ string decides.
  EXPECT_EQ((*ny)->OffsetAt(4103697600), -5 * 3600);  // 2100-01-15T12:00Z
  EXPECT_EQ((*ny)->OffsetAt(4119336000), -4 * 3600);  // 2100-07-15T12:00Z
  // The 2026 change itself: 2026-03-08 07:00Z (02:00 EST -> 03:00 EDT).
  EXPECT_EQ((*ny)->OffsetAt(At("2026-03-08T06:59:59Z") / kSecond), -5 * 3600);
  EXPECT_EQ((*ny)->OffsetAt(At("2026-03-08T07:00:00Z") / kSecond), -4 * 3600);
}

TEST(TimeZoneTest, ResolvesSkippedAndRepeatedLocalTimes) {
  REQUIRE_TZDATA();
  auto ny = TimeZone::Load("America/New_York").value();
  const auto local = [](const char* iso) { return At(iso) / kSecond; };  // wall clock as if UTC
  LocalTimeResolution gap = ny->Resolve(local("2026-03-08T02:30:00Z"));
  EXPECT_EQ(gap.kind, LocalTimeKind::kSkipped);
  EXPECT_EQ(gap.earlier_utc_seconds, 1772955000);  // 07:30Z = 03:30 EDT: shifted by the gap
  LocalTimeResolution fold = ny->Resolve(local("2026-11-01T01:30:00Z"));
  EXPECT_EQ(fold.kind, LocalTimeKind::kRepeated);
  EXPECT_EQ(fold.earlier_utc_seconds, 1793511000);  // 05:30Z, EDT
  EXPECT_EQ(fold.later_utc_seconds, 1793514600);    // 06:30Z, EST
  LocalTimeResolution plain = ny->Resolve(local("2026-11-01T03:00:00Z"));
  EXPECT_EQ(plain.kind, LocalTimeKind::kUnique);
  EXPECT_EQ(plain.earlier_utc_seconds, At("2026-11-01T08:00:00Z") / kSecond);
}

TEST(TimeZoneTest, RejectsNamesThatLeaveTheZoneinfoRoot) {
  for (const char* name :
       {"../etc/passwd", "America/../../etc/passwd", "/etc/passwd", "..", "America/..", "./UTC", "",
        "America//New_York", "America/New_York/", "Europe/Berlin\n", "a b"}) {
    auto zone = TimeZone::Load(name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_EQ(zone.status().code(), ErrorCode::kInvalidArgument) << name;
  }
}

TEST(TimeZoneTest, UnknownZoneAndDirectoryAreNotFound) {
  REQUIRE_TZDATA();
  for (const char* name : {"Mars/Olympus_Mons", "America"}) {
    auto zone = TimeZone::Load(name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_EQ(zone.status().code(), ErrorCode::kNotFound) << name;
  }
}

TEST(TimeZoneTest, GarbageAndTruncatedFilesAreCorruption) {
  REQUIRE_TZDATA();
  EXPECT_EQ(TimeZone::ParseTzif("x", "not a tzif file at all, not at all, no no no no no no")
                .status()
                .code(),
            ErrorCode::kCorruption);
  std::ifstream in("/usr/share/zoneinfo/Europe/Berlin", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 200u);
  EXPECT_TRUE(TimeZone::ParseTzif("Europe/Berlin", bytes).ok());
  for (size_t cut : {size_t{10}, size_t{60}, bytes.size() / 2, bytes.size() - 3}) {
    EXPECT_EQ(TimeZone::ParseTzif("Europe/Berlin", bytes.substr(0, cut)).status().code(),
              ErrorCode::kCorruption)
        << cut;
  }
}

// A v2 file with no transitions at all: every offset comes from the footer.
std::string FooterOnlyTzif(std::string_view footer) {
  std::string header("TZif2");
  header.append(15, '\0');
  const auto u32 = [](std::string& s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(v >> shift));
  };
  for (uint32_t count : {0u, 0u, 0u, 0u, 1u, 4u}) u32(header, count);
  std::string block;
  u32(block, static_cast<uint32_t>(-5 * 3600));  // ttinfo: utoff, isdst, abbreviation index
  block += '\0';
  block += '\0';
  block += std::string("EST", 4);
  return header + block + header + block + "\n" + std::string(footer) + "\n";
}

TEST(TimeZoneTest, FooterOnlyFileUsesThePosixRule) {
  auto zone = TimeZone::ParseTzif("Test/Footer", FooterOnlyTzif("EST5EDT,M3.2.0,M11.1.0"));
  ASSERT_TRUE(zone.ok()) << zone.status().ToString();
  EXPECT_EQ((*zone)->OffsetAt(At("2026-03-08T06:59:59Z") / kSecond), -5 * 3600);
  EXPECT_EQ((*zone)->OffsetAt(At("2026-03-08T07:00:00Z") / kSecond), -4 * 3600);
  EXPECT_EQ((*zone)->OffsetAt(At("2026-11-01T05:59:59Z") / kSecond), -4 * 3600);
  EXPECT_EQ((*zone)->OffsetAt(At("2026-11-01T06:00:00Z") / kSecond), -5 * 3600);
  EXPECT_FALSE(TimeZone::ParseTzif("Test/Bad", FooterOnlyTzif("EST5EDT,M13.2.0,M11.1.0")).ok());
}

TEST(TimeZoneTest, ParsesPosixTzStrings) {
  auto lord_howe = TimeZone::ParsePosixTz("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  ASSERT_TRUE(lord_howe.ok());
  EXPECT_EQ(lord_howe->std_offset, 10 * 3600 + 1800);
  EXPECT_EQ(lord_howe->dst_offset, 11 * 3600);
  EXPECT_EQ(lord_howe->dst_start.month, 10);
  EXPECT_EQ(lord_howe->dst_end.week, 1);

  auto berlin = TimeZone::ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(berlin.ok());
  EXPECT_EQ(berlin->dst_offset, 2 * 3600);  // default: one hour ahead of standard time
  EXPECT_EQ(berlin->dst_end.time_seconds, 3 * 3600);

  auto nuuk = TimeZone::ParsePosixTz("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  ASSERT_TRUE(nuuk.ok());
  EXPECT_EQ(nuuk->dst_start.time_seconds, -3600);

  auto julian = TimeZone::ParsePosixTz("XXX3YYY,J60/2,300/25:30");
  ASSERT_TRUE(julian.ok());
  EXPECT_EQ(julian->dst_start.kind, TimeZone::PosixRule::DateKind::kJulianNoLeap);
  EXPECT_EQ(julian->dst_end.kind, TimeZone::PosixRule::DateKind::kZeroBasedDay);
  EXPECT_EQ(julian->dst_end.time_seconds, 25 * 3600 + 1800);

  auto fixed = TimeZone::ParsePosixTz("<-03>3");
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(fixed->has_dst);
  EXPECT_EQ(fixed->std_offset, -3 * 3600);

  for (const char* bad :
       {"", "E5", "EST", "EST5EDT,M3.2.0", "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J10", "EST25", "<AB>5", "EST5EDT,M3.2.0,M11.1.0,"}) {
    EXPECT_FALSE(TimeZone::ParsePosixTz(bad).ok()) << bad;
  }
}

TEST(TimeZoneTest, EveryInstalledZoneLoads) {
  REQUIRE_TZDATA();
  const std::filesystem::path root("/usr/share/zoneinfo");
  int loaded = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().lexically_relative(root).string();
    if (name.rfind("right/", 0) == 0 || name.rfind("posix/", 0) == 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    if (std::string(magic, 4) != "TZif") continue;  // zone.tab, tzdata.zi, leapseconds, ...
    auto zone = TimeZone::Load(name);
    EXPECT_TRUE(zone.ok()) << name << ": " << zone.status().ToString();
    ++loaded;
  }
  EXPECT_GT(loaded, 300);
}

TEST(TimeZoneTest, MutatedTzifNeverCrashes) {
  REQUIRE_TZDATA();
  std::ifstream in("/usr/share/zoneinfo/America/New_York", std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  std::mt19937 rng(42);
  int parsed = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = original;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    auto zone = TimeZone::ParseTzif("Fuzz/Zone", bytes);
    if (!zone.ok()) {
      EXPECT_EQ(zone.status().code(), ErrorCode::kCorruption);
      continue;
    }
    ++parsed;
    for (int64_t t :
         {std::numeric_limits<int64_t>::min(), int64_t{-1'000'000'000}, int64_t{0},
          int64_t{1'790'000'000}, int64_t{5'000'000'000}, std::numeric_limits<int64_t>::max()}) {
      const int32_t offset = (*zone)->OffsetAt(t);
      EXPECT_LE(std::abs(offset), 26 * 3600);
    }
    for (int64_t local : {int64_t{1'772'955'000}, int64_t{1'793'511'000}}) {
      const LocalTimeResolution r = (*zone)->Resolve(local);
      EXPECT_LE(r.earlier_utc_seconds, r.later_utc_seconds);
    }
  }
  EXPECT_GT(parsed, 0);  // flips inside transition data still parse
}

// --- Parsing: rate and at ---------------------------------------------------------------------

TEST(ScheduleParseTest, RateExpressions) {
  EXPECT_EQ(MustParse("rate(1 minute)").rate_period_us(), kMinute);
  EXPECT_EQ(MustParse("rate(5 minutes)").rate_period_us(), 5 * kMinute);
  EXPECT_EQ(MustParse("rate(1 hour)").rate_period_us(), kHour);
  EXPECT_EQ(MustParse("rate(12 hours)").rate_period_us(), 12 * kHour);
  EXPECT_EQ(MustParse("rate(1 day)").rate_period_us(), 24 * kHour);
  EXPECT_EQ(MustParse("rate(7 days)").rate_period_us(), 7 * 24 * kHour);
  EXPECT_EQ(MustParse("rate(1 day)").kind(), Schedule::Kind::kRate);

  ExpectInvalid("rate(1 minutes)", "must be 'minute' for a value of 1");
  ExpectInvalid("rate(2 hour)", "must be 'hours' for a value above 1");
  ExpectInvalid("rate(0 minutes)", "must be a whole number >= 1");
  ExpectInvalid("rate(-5 minutes)", "must be a whole number >= 1");
  ExpectInvalid("rate(1.5 hours)", "must be a whole number >= 1");
  ExpectInvalid("rate(30 seconds)", "must be minute(s), hour(s) or day(s)");
  ExpectInvalid("rate(5 Minutes)", "must be minute(s), hour(s) or day(s)");
  ExpectInvalid("rate(5)", "needs 'value unit'");
  ExpectInvalid("rate()", "needs 'value unit'");
  ExpectInvalid("rate(5 minutes", "must be rate(...), cron(...) or at(...)");
  ExpectInvalid("every(5 minutes)", "must be rate(...), cron(...) or at(...)");
  ExpectInvalid("rate(999999999 days)", "longer than 100 years");
}

TEST(ScheduleParseTest, AtExpressions) {
  EXPECT_EQ(Next("at(2026-12-24T18:30:00)", "2026-01-01T00:00:00Z", 2),
            (std::vector<std::string>{"2026-12-24T18:30:00Z", "none"}));
  ExpectInvalid("at(2026-02-29T00:00:00)", "no such day in that month");
  ExpectInvalid("at(2028-02-30T00:00:00)", "no such day in that month");
  ExpectInvalid("at(2026-13-01T00:00:00)", "month must be 01-12");
  ExpectInvalid("at(2026-01-01T24:00:00)", "time out of range");
  ExpectInvalid("at(2026-01-01 10:00:00)", "wrong format");
  ExpectInvalid("at(2026-01-01T10:00)", "wrong format");
  ExpectInvalid("at(2026-01-01T10:00:00Z)", "wrong format");
  ExpectInvalid("at(1969-12-31T23:59:59)", "year must be 1970-2199");
  ExpectInvalid("at(2026-0a-01T10:00:00)", "non-digit");
  EXPECT_TRUE(ParseSchedule("at(2028-02-29T00:00:00)").ok());
}

TEST(ScheduleParseTest, AtIsWallClockTimeInTheZone) {
  REQUIRE_TZDATA();
  EXPECT_EQ(Next("at(2026-07-01T12:00:00)", "2026-01-01T00:00:00Z", 1, "Europe/Berlin"),
            (std::vector<std::string>{"2026-07-01T10:00:00Z"}));
  // Skipped local time: shifted forward by the gap (02:30 -> 03:30 EDT).
  EXPECT_EQ(Next("at(2026-03-08T02:30:00)", "2026-01-01T00:00:00Z", 1, "America/New_York"),
            (std::vector<std::string>{"2026-03-08T07:30:00Z"}));
  // Repeated local time: the first occurrence (EDT).
  EXPECT_EQ(Next("at(2026-11-01T01:30:00)", "2026-01-01T00:00:00Z", 1, "America/New_York"),
            (std::vector<std::string>{"2026-11-01T05:30:00Z"}));
}

TEST(ScheduleParseTest, TimeZoneErrors) {
  ExpectInvalid("rate(1 day)", "unknown time zone 'Mars/Olympus_Mons'", "Mars/Olympus_Mons");
  ExpectInvalid("rate(1 day)", "not a relative IANA name", "../../etc/passwd");
  ExpectInvalid("rate(1 day)", "not a relative IANA name", "/usr/share/zoneinfo/UTC");
  EXPECT_EQ(MustParse("rate(1 day)", "").time_zone().name(), "UTC");
}

TEST(ScheduleParseTest, MutatedExpressionsFailCleanly) {
  const std::vector<std::string> seeds = {"cron(0/15 9-17 ? * MON-FRI *)",
                                          "cron(0 10 L * ? 2026-2030/2)",
                                          "cron(5 4 ? * 6#3 *)",
                                          "cron(0 12 15W JAN,JUL ? *)",
                                          "rate(5 minutes)",
                                          "at(2026-05-04T10:00:00)",
                                          "cron(0 18 LW * ? *)",
                                          "cron(0 0 ? * 5L *)"};
  const std::string alphabet = "0123456789*/,-?LW#() ADFJMNOSTUWaemr\t";
  std::mt19937 rng(7);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string e = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !e.empty(); ++k) {
      const size_t pos = rng() % e.size();
      switch (rng() % 3) {
        case 0: e[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: e.erase(pos, 1); break;
        case 2: e.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    Result<Schedule> s = ParseSchedule(e);
    if (!s.ok()) {
      ASSERT_EQ(s.status().code(), ErrorCode::kInvalidDefinition) << e;
      ASSERT_FALSE(s.status().message().empty()) << e;
      continue;
    }
    ++parsed;
    std::optional<int64_t> next = s->NextAfter(At("2026-01-01T00:00:00Z"));
    if (next) {
      EXPECT_GT(*next, At("2026-01-01T00:00:00Z")) << e;
    }
  }
  EXPECT_GT(parsed, 100);
}

// --- Parsing: cron ----------------------------------------------------------------------------

TEST(ScheduleCronParseTest, FieldCountAndQuestionMarks) {
  ExpectInvalid("cron(0 10 * * ?)", "needs 6 fields");
  ExpectInvalid("cron(0 10 * * ? * *)", "got 7");
  ExpectInvalid("cron()", "got 0");
  ExpectInvalid("cron(0 10 ? * ? *)", "exactly one of the two must be '?'");
  ExpectInvalid("cron(0 10 * * * *)", "exactly one of the two must be '?'");
  ExpectInvalid("cron(0 10 1 * MON *)", "exactly one of the two must be '?'");
  EXPECT_TRUE(ParseSchedule("cron(0 10 * * ? *)").ok());
  EXPECT_TRUE(ParseSchedule("cron(0 10 ? * * *)").ok());
  EXPECT_TRUE(ParseSchedule("cron(0  10\t* *   ? *)").ok());  // any whitespace between fields
}

TEST(ScheduleCronParseTest, OutOfRangeValuesNameTheField) {
  ExpectInvalid("cron(60 10 * * ? *)", "cron Minutes: value 60 is out of range 0-59");
  ExpectInvalid("cron(0 24 * * ? *)", "cron Hours: value 24 is out of range 0-23");
  ExpectInvalid("cron(0 10 0 * ? *)", "cron Day-of-month: value 0 is out of range 1-31");
  ExpectInvalid("cron(0 10 32 * ? *)", "cron Day-of-month: value 32 is out of range 1-31");
  ExpectInvalid("cron(0 10 * 13 ? *)", "cron Month: value 13 is out of range 1-12");
  ExpectInvalid("cron(0 10 * 0 ? *)", "cron Month: value 0 is out of range 1-12");
  ExpectInvalid("cron(0 10 ? * 0 *)", "cron Day-of-week: value 0 is out of range 1-7");
  ExpectInvalid("cron(0 10 ? * 8 *)", "cron Day-of-week: value 8 is out of range 1-7");
  ExpectInvalid("cron(0 10 * * ? 1969)", "cron Year: value 1969 is out of range 1970-2199");
  ExpectInvalid("cron(0 10 * * ? 2200)", "cron Year: value 2200 is out of range 1970-2199");
  ExpectInvalid("cron(0 10-25 * * ? *)", "cron Hours: value 25");
  ExpectInvalid("cron(-1 10 * * ? *)", "cron Minutes: '' is not a number");
}

TEST(ScheduleCronParseTest, BadStepsListsAndNames) {
  ExpectInvalid("cron(0/0 10 * * ? *)", "cron Minutes: step '0' must be a number from 1 to 59");
  ExpectInvalid("cron(*/60 10 * * ? *)", "cron Minutes: step '60'");
  ExpectInvalid("cron(*/x 10 * * ? *)", "cron Minutes: step 'x'");
  ExpectInvalid("cron(0/ 10 * * ? *)", "cron Minutes: step ''");
  ExpectInvalid("cron(0/5/5 10 * * ? *)", "more than one '/'");
  ExpectInvalid("cron(0 10 ? * 1/2 *)", "cron Day-of-week: '/' is not allowed");
  ExpectInvalid("cron(1,,2 10 * * ? *)", "cron Minutes: empty item");
  ExpectInvalid("cron(5- 10 * * ? *)", "cron Minutes: '' is not a number");
  ExpectInvalid("cron(0 10 * JANUARY ? *)", "cron Month: 'JANUARY' is not a month");
  ExpectInvalid("cron(0 10 * MON ? *)", "cron Month: 'MON' is not a month");
  ExpectInvalid("cron(0 10 ? * FRIDAY *)", "cron Day-of-week: 'FRIDAY' is not a day");
  ExpectInvalid("cron(0 10 ? * JAN *)", "cron Day-of-week: 'JAN' is not a day");
  ExpectInvalid("cron(MON 10 * * ? *)", "cron Minutes: 'MON' is not a number");
  ExpectInvalid("cron(0 10 * * ? 2030-2020)", "cron Year: range '2030-2020' runs backwards");
}

TEST(ScheduleCronParseTest, SpecialCharacterMisuse) {
  ExpectInvalid("cron(0 10 1,L * ? *)", "cron Day-of-month: '1,L': L and W stand alone");
  ExpectInvalid("cron(0 10 1-5W * ? *)", "cron Day-of-month: '1-5W': W needs one day");
  ExpectInvalid("cron(0 10 32W * ? *)", "W needs one day from 1 to 31");
  ExpectInvalid("cron(0 10 W * ? *)", "L and W stand alone");
  ExpectInvalid("cron(0 10 L-3 * ? *)", "L and W stand alone");
  ExpectInvalid("cron(0 10 ? * 3#1,6#3 *)", "# takes one day and one occurrence");
  ExpectInvalid("cron(0 10 ? * 3#6 *)", "the occurrence after # must be 1 to 5");
  ExpectInvalid("cron(0 10 ? * 3#0 *)", "the occurrence after # must be 1 to 5");
  ExpectInvalid("cron(0 10 ? * 8#1 *)", "cron Day-of-week: value 8");
  ExpectInvalid("cron(0 10 ? * 3#2#1 *)", "# takes one day");
  ExpectInvalid("cron(0 10 ? * 2-5L *)", "L takes one day");
  ExpectInvalid("cron(0 10 ? * 9L *)", "value 9 is out of range 1-7");
  ExpectInvalid("cron(0 10 L * 5L *)", "exactly one of the two must be '?'");
  ExpectInvalid("cron(L 10 * * ? *)", "cron Minutes: 'L' is not a number");
}

TEST(ScheduleCronParseTest, FieldsAreDecodedAsEventBridgeNumbersThem) {
  const CronFields f =
      MustParse("cron(0,30 22-2 1-10/3 jan,Mar-APR/1 ? 2026-2030/2)").cron();  // wrap-around hours
  EXPECT_TRUE(f.minutes.test(0) && f.minutes.test(30));
  EXPECT_EQ(f.minutes.count(), 2u);
  EXPECT_EQ(f.hours.count(), 5u);
  for (int h : {22, 23, 0, 1, 2}) EXPECT_TRUE(f.hours.test(h)) << h;
  EXPECT_EQ(f.days_of_month.count(), 4u);
  for (int d : {1, 4, 7, 10}) EXPECT_TRUE(f.days_of_month.test(d)) << d;
  EXPECT_EQ(f.months.count(), 3u);
  for (int m : {1, 3, 4}) EXPECT_TRUE(f.months.test(m)) << m;
  EXPECT_TRUE(f.day_of_week_any);
  EXPECT_EQ(f.years.count(), 3u);
  for (int y : {2026, 2028, 2030}) EXPECT_TRUE(f.years.test(y - 1970)) << y;

  const CronFields w = MustParse("cron(0 10 ? * FRI-MON *)").cron();  // 6,7,1,2
  EXPECT_EQ(w.days_of_week.count(), 4u);
  for (int d : {6, 7, 1, 2}) EXPECT_TRUE(w.days_of_week.test(d)) << d;
  EXPECT_EQ(MustParse("cron(0 10 ? * 5L *)").cron().last_day_of_week, 5);
  EXPECT_EQ(MustParse("cron(0 10 ? * FRIL *)").cron().last_day_of_week, 6);
  EXPECT_EQ(MustParse("cron(0 10 ? * TUE#2 *)").cron().nth_day_of_week, 3);
  EXPECT_EQ(MustParse("cron(0 10 15W * ? *)").cron().nearest_weekday_to, 15);
  const CronFields every_fifth = MustParse("cron(5/15 * * * ? *)").cron();
  EXPECT_EQ(every_fifth.minutes.count(), 4u);  // 5, 20, 35, 50
  EXPECT_TRUE(every_fifth.minutes.test(50));
}

// --- NextAfter: cron in UTC -------------------------------------------------------------------

TEST(ScheduleCronNextTest, MinutesHoursStepsAndLists) {
  EXPECT_EQ(Next("cron(0/15 9-10 * * ? *)", "2026-05-04T09:20:00Z", 7),
            (std::vector<std::string>{"2026-05-04T09:30:00Z", "2026-05-04T09:45:00Z",
                                      "2026-05-04T10:00:00Z", "2026-05-04T10:15:00Z",
                                      "2026-05-04T10:30:00Z", "2026-05-04T10:45:00Z",
                                      "2026-05-05T09:00:00Z"}));
  EXPECT_EQ(Next("cron(5,10 22-1 * * ? *)", "2026-05-04T23:07:00Z", 4),
            (std::vector<std::string>{"2026-05-04T23:10:00Z", "2026-05-05T00:05:00Z",
                                      "2026-05-05T00:10:00Z", "2026-05-05T01:05:00Z"}));
}

TEST(ScheduleCronNextTest, StrictlyAfter) {
  const Schedule s = MustParse("cron(0 10 * * ? *)");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:00:00Z"))), "2026-05-05T10:00:00Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:00:00Z") - 1)), "2026-05-04T10:00:00Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T09:59:59.999Z"))), "2026-05-04T10:00:00Z");
}

TEST(ScheduleCronNextTest, DayOfWeekNamesAndNumbers) {
  // 1 = SUN ... 7 = SAT. 2026-05-04 is a Monday.
  EXPECT_EQ(Next("cron(0 8 ? * MON-FRI *)", "2026-05-07T12:00:00Z", 3),
            (std::vector<std::string>{"2026-05-08T08:00:00Z", "2026-05-11T08:00:00Z",
                                      "2026-05-12T08:00:00Z"}));
  EXPECT_EQ(Next("cron(0 8 ? * 1,7 *)", "2026-05-04T00:00:00Z", 3),
            (std::vector<std::string>{"2026-05-09T08:00:00Z", "2026-05-10T08:00:00Z",
                                      "2026-05-16T08:00:00Z"}));
  EXPECT_EQ(Next("cron(0 8 ? * L *)", "2026-05-04T00:00:00Z", 2),  // L alone: Saturday
            (std::vector<std::string>{"2026-05-09T08:00:00Z", "2026-05-16T08:00:00Z"}));
}

TEST(ScheduleCronNextTest, MonthAndYearEnds) {
  EXPECT_EQ(Next("cron(59 23 L * ? *)", "2026-01-31T23:59:00Z", 3),
            (std::vector<std::string>{"2026-02-28T23:59:00Z", "2026-03-31T23:59:00Z",
                                      "2026-04-30T23:59:00Z"}));
  EXPECT_EQ(Next("cron(0 0 L 2 ? *)", "2027-03-01T00:00:00Z", 2),
            (std::vector<std::string>{"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}));
  EXPECT_EQ(Next("cron(30 23 31 12 ? *)", "2026-12-31T23:30:00Z", 1),
            (std::vector<std::string>{"2027-12-31T23:30:00Z"}));
  EXPECT_EQ(Next("cron(0 0 1 JAN,JUL ? *)", "2026-07-01T00:00:00Z", 2),
            (std::vector<std::string>{"2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"}));
  // The 31st only exists in some months.
  EXPECT_EQ(Next("cron(0 12 31 * ? *)", "2026-03-31T12:00:00Z", 3),
            (std::vector<std::string>{"2026-05-31T12:00:00Z", "2026-07-31T12:00:00Z",
                                      "2026-08-31T12:00:00Z"}));
}

TEST(ScheduleCronNextTest, TwentyNinthOfFebruaryWaitsForALeapYear) {
  EXPECT_EQ(Next("cron(0 0 29 2 ? *)", "2026-01-01T00:00:00Z", 3),
            (std::vector<std::string>{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z",
                                      "2036-02-29T00:00:00Z"}));
  // 2100 is not a leap year.
  EXPECT_EQ(Next("cron(0 0 29 2 ? *)", "2096-03-01T00:00:00Z", 1),
            (std::vector<std::string>{"2104-02-29T00:00:00Z"}));
  // A day that never exists parses but never fires.
  EXPECT_EQ(Next("cron(0 0 30 2 ? *)", "2026-01-01T00:00:00Z", 1),
            (std::vector<std::string>{"none"}));
}

TEST(ScheduleCronNextTest, YearsRunOut) {
  EXPECT_EQ(Next("cron(0 0 1 1 ? 2030)", "2026-01-01T00:00:00Z", 2),
            (std::vector<std::string>{"2030-01-01T00:00:00Z", "none"}));
  EXPECT_EQ(Next("cron(0 0 1 1 ? 2026/2)", "2027-06-01T00:00:00Z", 2),
            (std::vector<std::string>{"2028-01-01T00:00:00Z", "2030-01-01T00:00:00Z"}));
  EXPECT_EQ(Next("cron(59 23 31 12 ? *)", "2199-12-31T23:59:00Z", 1),
            (std::vector<std::string>{"none"}));
  EXPECT_EQ(Next("cron(0 0 1 1 ? *)", "1960-01-01T00:00:00Z", 1),
            (std::vector<std::string>{"1970-01-01T00:00:00Z"}));
  const Schedule s = MustParse("cron(* * * * ? *)");
  EXPECT_FALSE(s.NextAfter(std::numeric_limits<int64_t>::max()).has_value());
  EXPECT_EQ(Iso(s.NextAfter(std::numeric_limits<int64_t>::min())), "1970-01-01T00:00:00Z");
}

// The literals below were computed by a brute-force Python script run by hand while writing
// this test: walk UTC minute by minute and test hand-written predicates for the fields (no shared
// code with the parser); see the comment on each.
TEST(ScheduleCronNextTest, NthLastAndNearestWeekdayCrossChecked) {
  // Python: fifth Friday, 12:00 UTC, after 2026-01-01 -> Jan 30, May 29, Jul 31.
  EXPECT_EQ(NextMicros("cron(0 12 ? * 6#5 *)", "2026-01-01T00:00:00Z", 3, "UTC"),
            (std::vector<int64_t>{1769774400000000, 1780056000000000, 1785499200000000}));
  // Python: weekday nearest the 15th at 09:00 -> Feb 16 (15th a Sunday), Mar 16 (Sunday),
  // Apr 15, May 15.
  EXPECT_EQ(NextMicros("cron(0 9 15W * ? *)", "2026-02-01T00:00:00Z", 4, "UTC"),
            (std::vector<int64_t>{1771232400000000, 1773651600000000, 1776243600000000,
                                  1778835600000000}));
  // Python: 1W -> Aug 3 (the 1st is a Saturday: Monday the 3rd, not July 31), Sep 1.
  EXPECT_EQ(NextMicros("cron(0 9 1W * ? *)", "2026-07-15T00:00:00Z", 2, "UTC"),
            (std::vector<int64_t>{1785747600000000, 1788253200000000}));
  // Python: LW at 18:00 -> Jan 30 (31st a Saturday), Feb 27, Mar 31, Apr 30.
  EXPECT_EQ(NextMicros("cron(0 18 LW * ? *)", "2026-01-01T00:00:00Z", 4, "UTC"),
            (std::vector<int64_t>{1769796000000000, 1772215200000000, 1774980000000000,
                                  1777572000000000}));
  // Python: 31W -> Mar 31, then no April/June (30 days), May 29 (31st a Sunday), Jul 31.
  EXPECT_EQ(NextMicros("cron(0 0 31W * ? *)", "2026-03-01T00:00:00Z", 3, "UTC"),
            (std::vector<int64_t>{1774915200000000, 1780012800000000, 1785456000000000}));
}

TEST(ScheduleCronNextTest, LastWeekdayOfMonthAndFifthOccurrence) {
  // 6L = last Friday (1 = SUN, so Friday is 6): 2026-05-29, 2026-06-26.
  EXPECT_EQ(Next("cron(0 17 ? * 6L *)", "2026-05-01T00:00:00Z", 2),
            (std::vector<std::string>{"2026-05-29T17:00:00Z", "2026-06-26T17:00:00Z"}));
  // 5L = last Thursday: 2026-05-28, 2026-06-25.
  EXPECT_EQ(Next("cron(0 17 ? * 5L *)", "2026-05-01T00:00:00Z", 2),
            (std::vector<std::string>{"2026-05-28T17:00:00Z", "2026-06-25T17:00:00Z"}));
  // Second Tuesday (3#2): 2026-05-12, 2026-06-09.
  EXPECT_EQ(Next("cron(0 9 ? * 3#2 *)", "2026-05-01T00:00:00Z", 2),
            (std::vector<std::string>{"2026-05-12T09:00:00Z", "2026-06-09T09:00:00Z"}));
  // Fifth Thursday (5#5) skips months without one: 2026-04-30, then 2026-07-30.
  EXPECT_EQ(Next("cron(0 9 ? * 5#5 *)", "2026-04-01T00:00:00Z", 2),
            (std::vector<std::string>{"2026-04-30T09:00:00Z", "2026-07-30T09:00:00Z"}));
  // Fifth Sunday in February only happens when Feb 1 is a Sunday of a leap year: 2032.
  EXPECT_EQ(Next("cron(0 9 ? 2 1#5 *)", "2026-01-01T00:00:00Z", 1),
            (std::vector<std::string>{"2032-02-29T09:00:00Z"}));
}

TEST(ScheduleCronNextTest, StartAndEndWindow) {
  Schedule s = MustParse("cron(0 10 * * ? *)");
  s.set_start_us(At("2026-05-10T10:00:00Z"));
  s.set_end_us(At("2026-05-12T10:00:00Z"));
  EXPECT_EQ(Iso(s.NextAfter(At("2026-01-01T00:00:00Z"))), "2026-05-10T10:00:00Z");  // inclusive
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-10T10:00:00Z"))), "2026-05-11T10:00:00Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-11T10:00:00Z"))), "none");  // end is exclusive
}

// --- NextAfter: cron across DST (cross-checked) -----------------------------------------------

// Every literal below comes from a brute-force Python script run by hand: walk UTC minute by
// minute, convert with zoneinfo.ZoneInfo(zone), skip fold == 1 (the second occurrence of a
// repeated local time), and test the cron fields with hand-written predicates.
TEST(ScheduleDstTest, NewYorkSpringForwardSkipsTheMissingTime) {
  REQUIRE_TZDATA();
  // 02:30 does not exist on 2026-03-08: Python -> 2026-03-09T06:30Z, 2026-03-10T06:30Z.
  EXPECT_EQ(NextMicros("cron(30 2 * * ? *)", "2026-03-07T12:00:00Z", 2, "America/New_York"),
            (std::vector<int64_t>{1773037800000000, 1773124200000000}));
}

TEST(ScheduleDstTest, NewYorkFallBackRunsOnce) {
  REQUIRE_TZDATA();
  // 01:30 happens twice on 2026-11-01: Python -> 05:30Z (EDT) only, then 2026-11-02T06:30Z.
  EXPECT_EQ(NextMicros("cron(30 1 * * ? *)", "2026-10-31T12:00:00Z", 2, "America/New_York"),
            (std::vector<int64_t>{1793511000000000, 1793601000000000}));
  // Every 20 minutes in hour 1: Python -> 05:00Z, 05:20Z, 05:40Z, then 2026-11-02T06:00Z.
  EXPECT_EQ(NextMicros("cron(0/20 1 * * ? *)", "2026-10-31T12:00:00Z", 4, "America/New_York"),
            (std::vector<int64_t>{1793509200000000, 1793510400000000, 1793511600000000,
                                  1793599200000000}));
  // Asking from inside the second 01:xx (EST) does not fire the repeated times again.
  const Schedule s = MustParse("cron(0/20 1 * * ? *)", "America/New_York");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-11-01T06:05:00Z"))), "2026-11-02T06:00:00Z");
  // Hourly jobs keep running through the fold: 00:00 EDT, 01:00 EDT, 02:00 EST.
  EXPECT_EQ(Next("cron(0 * * * ? *)", "2026-11-01T03:30:00Z", 3, "America/New_York"),
            (std::vector<std::string>{"2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z",
                                      "2026-11-01T07:00:00Z"}));
}

TEST(ScheduleDstTest, BerlinBothTransitions) {
  REQUIRE_TZDATA();
  // Last Sunday of March 02:30 is skipped on 2026-03-29: Python -> 2026-04-26T00:30Z,
  // 2026-05-31T00:30Z.
  EXPECT_EQ(NextMicros("cron(30 2 ? * 1L *)", "2026-03-01T00:00:00Z", 2, "Europe/Berlin"),
            (std::vector<int64_t>{1777163400000000, 1780187400000000}));
  // 02:15 twice on 2026-10-25: Python -> 00:15Z (CEST) only, then 2026-10-26T01:15Z (CET).
  EXPECT_EQ(NextMicros("cron(15 2 * * ? *)", "2026-10-24T12:00:00Z", 2, "Europe/Berlin"),
            (std::vector<int64_t>{1792887300000000, 1792977300000000}));
  // Weekdays at 09:00 across the year end: Python -> Dec 31 08:00Z, Jan 1 08:00Z, Jan 4 08:00Z.
  EXPECT_EQ(NextMicros("cron(0 9 ? * MON-FRI *)", "2026-12-30T12:00:00Z", 3, "Europe/Berlin"),
            (std::vector<int64_t>{1798704000000000, 1798790400000000, 1799049600000000}));
}

TEST(ScheduleDstTest, LordHoweHalfHourShift) {
  REQUIRE_TZDATA();
  // +10:30 -> +11 on 2026-10-04 02:00 (02:15 skipped): Python -> 2026-10-02T15:45Z,
  // 2026-10-04T15:15Z.
  EXPECT_EQ(NextMicros("cron(15 2 * * ? *)", "2026-10-02T00:00:00Z", 2, "Australia/Lord_Howe"),
            (std::vector<int64_t>{1790955900000000, 1791126900000000}));
  // +11 -> +10:30 on 2026-04-05 02:00 (01:45 twice): Python -> 2026-04-04T14:45Z (+11) only,
  // then 2026-04-05T15:15Z.
  EXPECT_EQ(NextMicros("cron(45 1 * * ? *)", "2026-04-04T00:00:00Z", 2, "Australia/Lord_Howe"),
            (std::vector<int64_t>{1775313900000000, 1775402100000000}));
}

TEST(ScheduleDstTest, TokyoNewYearIsTheDayBeforeInUtc) {
  REQUIRE_TZDATA();
  // Python -> 2026-12-31T15:00Z.
  EXPECT_EQ(NextMicros("cron(0 0 1 1 ? *)", "2026-06-01T00:00:00Z", 1, "Asia/Tokyo"),
            (std::vector<int64_t>{1798729200000000}));
}

// --- rate and at ------------------------------------------------------------------------------

TEST(ScheduleRateTest, AnchoredAtStartOrEpoch) {
  Schedule s = MustParse("rate(5 minutes)");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:02:00Z"))), "2026-05-04T10:05:00Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:05:00Z"))), "2026-05-04T10:10:00Z");
  s.set_start_us(At("2026-05-04T10:01:30Z"));
  EXPECT_EQ(Iso(s.NextAfter(At("2026-01-01T00:00:00Z"))), "2026-05-04T10:01:30Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:01:30Z"))), "2026-05-04T10:06:30Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:08:00Z"))), "2026-05-04T10:11:30Z");
  s.set_end_us(At("2026-05-04T10:11:30Z"));
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:08:00Z"))), "none");
  EXPECT_FALSE(s.NextAfter(std::numeric_limits<int64_t>::max()).has_value());
}

TEST(ScheduleRateTest, DaysAreTwentyFourHoursEvenAcrossDst) {
  REQUIRE_TZDATA();
  Schedule s = MustParse("rate(1 day)", "America/New_York");
  s.set_start_us(At("2026-03-07T15:00:00Z"));  // 10:00 EST
  // 2026-03-08 is 23 hours long locally; the rate stays 24 h, so 11:00 EDT.
  EXPECT_EQ(Iso(s.NextAfter(At("2026-03-07T15:00:00Z"))), "2026-03-08T15:00:00Z");
}

TEST(ScheduleAtTest, FiresOnceThenNever) {
  Schedule s = MustParse("at(2026-05-04T10:00:00)");
  EXPECT_EQ(s.kind(), Schedule::Kind::kAt);
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T09:59:59Z"))), "2026-05-04T10:00:00Z");
  EXPECT_EQ(Iso(s.NextAfter(At("2026-05-04T10:00:00Z"))), "none");
  EXPECT_EQ(Iso(s.NextAfter(At("2027-01-01T00:00:00Z"))), "none");
}

// --- Missed runs ------------------------------------------------------------------------------

TEST(ScheduleMissedRunTest, RunOnceRunsTheLatestAndDropsTheRest) {
  const Schedule s = MustParse("rate(1 hour)");
  const MissedRunDecision d = DecideMissedRuns(
      s, At("2026-05-04T10:00:00Z"), At("2026-05-04T13:30:00Z"), MissedRunPolicy::kRunOnce);
  EXPECT_EQ(Iso(d.run_now_us), "2026-05-04T13:00:00Z");
  EXPECT_EQ(Iso(d.next_us), "2026-05-04T14:00:00Z");
  EXPECT_EQ(d.dropped_count, 2);  // 11:00 and 12:00
  EXPECT_FALSE(d.dropped_count_is_lower_bound);
}

TEST(ScheduleMissedRunTest, SkipDropsEverythingLate) {
  const Schedule s = MustParse("cron(0 * * * ? *)");
  const MissedRunDecision d = DecideMissedRuns(s, At("2026-05-04T10:00:00Z"),
                                               At("2026-05-04T13:30:00Z"), MissedRunPolicy::kSkip);
  EXPECT_FALSE(d.run_now_us.has_value());
  EXPECT_EQ(Iso(d.next_us), "2026-05-04T14:00:00Z");
  EXPECT_EQ(d.dropped_count, 3);  // 11:00, 12:00, 13:00
}

TEST(ScheduleMissedRunTest, OnTimeRunIsNotMissed) {
  const Schedule s = MustParse("cron(0 * * * ? *)");
  for (MissedRunPolicy policy : {MissedRunPolicy::kSkip, MissedRunPolicy::kRunOnce}) {
    const MissedRunDecision d =
        DecideMissedRuns(s, At("2026-05-04T12:00:00Z"), At("2026-05-04T13:00:30Z"), policy);
    EXPECT_EQ(Iso(d.run_now_us), "2026-05-04T13:00:00Z");
    EXPECT_EQ(d.dropped_count, 0);
  }
  // Older than the grace: late, so kSkip drops it.
  const MissedRunDecision late = DecideMissedRuns(
      s, At("2026-05-04T12:00:00Z"), At("2026-05-04T13:01:00Z"), MissedRunPolicy::kSkip);
  EXPECT_FALSE(late.run_now_us.has_value());
  EXPECT_EQ(late.dropped_count, 1);
}

TEST(ScheduleMissedRunTest, NothingDue) {
  const Schedule s = MustParse("cron(0 * * * ? *)");
  const MissedRunDecision d = DecideMissedRuns(
      s, At("2026-05-04T12:00:00Z"), At("2026-05-04T12:59:00Z"), MissedRunPolicy::kRunOnce);
  EXPECT_FALSE(d.run_now_us.has_value());
  EXPECT_EQ(d.dropped_count, 0);
  EXPECT_EQ(Iso(d.next_us), "2026-05-04T13:00:00Z");
}

TEST(ScheduleMissedRunTest, LongOutageOfADenseCronIsBounded) {
  const Schedule s = MustParse("cron(* * * * ? *)");
  const MissedRunDecision d = DecideMissedRuns(
      s, At("2025-05-04T00:00:00Z"), At("2026-05-04T12:34:56Z"), MissedRunPolicy::kRunOnce);
  EXPECT_EQ(Iso(d.run_now_us), "2026-05-04T12:34:00Z");
  EXPECT_EQ(Iso(d.next_us), "2026-05-04T12:35:00Z");
  EXPECT_EQ(d.dropped_count, kMaxCountedFireTimes - 1);
  EXPECT_TRUE(d.dropped_count_is_lower_bound);
}

TEST(ScheduleMissedRunTest, RateCountsWithoutWalking) {
  const Schedule s = MustParse("rate(1 minute)");
  const MissedRunDecision d = DecideMissedRuns(s, At("2016-05-04T00:00:00Z"),
                                               At("2026-05-04T00:05:30Z"), MissedRunPolicy::kSkip);
  EXPECT_EQ(Iso(d.run_now_us), "2026-05-04T00:05:00Z");  // 30 s old: on time, not missed
  EXPECT_EQ(d.dropped_count, 5'258'884);  // 3652 days x 1440 minutes + 00:01 ... 00:04
  EXPECT_FALSE(d.dropped_count_is_lower_bound);
}

TEST(ScheduleMissedRunTest, MissedOneTimeSchedule) {
  const Schedule s = MustParse("at(2026-05-04T10:00:00)");
  const MissedRunDecision run = DecideMissedRuns(
      s, At("2026-05-01T00:00:00Z"), At("2026-05-05T00:00:00Z"), MissedRunPolicy::kRunOnce);
  EXPECT_EQ(Iso(run.run_now_us), "2026-05-04T10:00:00Z");
  EXPECT_EQ(Iso(run.next_us), "none");
  const MissedRunDecision skip = DecideMissedRuns(
      s, At("2026-05-01T00:00:00Z"), At("2026-05-05T00:00:00Z"), MissedRunPolicy::kSkip);
  EXPECT_FALSE(skip.run_now_us.has_value());
  EXPECT_EQ(skip.dropped_count, 1);
}

}  // namespace
}  // namespace basin::workflow
