#include "ingest/schema_inference.h"

#include <gtest/gtest.h>

#include <memory>

#include "ingest/text_encoding.h"
#include "query/duck_db.h"

namespace basin::ingest {
namespace {

class SchemaInferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = query::DuckDb::Open();
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Execute("SET TimeZone = 'UTC'").ok());
  }
  // Evaluates an expression over `v` = the text given.
  std::string Eval(std::string (*make)(std::string_view), const std::string& text) {
    auto r =
        db_->Query("SELECT " + make("v") + " FROM (SELECT " + query::QuoteLiteral(text) + " AS v)");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->rows[0][0].ToText() : "error";
  }
  std::string Cast(const std::string& text, const std::string& type) {
    auto r = db_->Query("SELECT CAST(" + CastTextSql("v", type) + " AS VARCHAR) FROM (SELECT " +
                        query::QuoteLiteral(text) + " AS v)");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->rows[0][0].ToText() : "error";
  }
  std::unique_ptr<query::DuckDb> db_;
};

TEST_F(SchemaInferenceTest, Booleans) {
  for (const char* yes : {"true", "FALSE", "True", " false "}) {
    EXPECT_EQ(Eval(FitsBooleanSql, yes), "true") << yes;
  }
  for (const char* no : {"t", "yes", "1", "0", "truth"}) {
    EXPECT_EQ(Eval(FitsBooleanSql, no), "false") << no;
  }
  EXPECT_EQ(Cast("TRUE", "BOOLEAN"), "true");
}

TEST_F(SchemaInferenceTest, Integers) {
  for (const char* yes : {"0", "42", "-7", "+3", "9223372036854775807"}) {
    EXPECT_EQ(Eval(FitsBigintSql, yes), "true") << yes;
  }
  // Leading zeros are identifiers (zip codes), not numbers; out of range is not a BIGINT.
  for (const char* no : {"007", "1.0", "1e3", "9223372036854775808", "12,5", "", "0x10"}) {
    EXPECT_EQ(Eval(FitsBigintSql, no), "false") << no;
  }
}

TEST_F(SchemaInferenceTest, Doubles) {
  for (const char* yes : {"0.5", "-1.25", "1e3", "2.5E-3", ".5", "10", "3."}) {
    EXPECT_EQ(Eval(FitsDoubleSql, yes), "true") << yes;
  }
  for (const char* no : {"nan", "inf", "1,5", "007.5", "1e999", "abc"}) {
    EXPECT_EQ(Eval(FitsDoubleSql, no), "false") << no;
  }
}

TEST_F(SchemaInferenceTest, DatesInBothLayouts) {
  EXPECT_EQ(Eval(FitsDateSql, "2026-11-27"), "true");
  EXPECT_EQ(Eval(FitsDateSql, "2026/11/27"), "true");
  for (const char* no :
       {"2026-13-01", "2026-02-30", "27/11/2026", "11/27/2026", "2026-11-27 10:00", "20261127"}) {
    EXPECT_EQ(Eval(FitsDateSql, no), "false") << no;
  }
  EXPECT_EQ(Cast("2026/11/27", "DATE"), "2026-11-27");
}

TEST_F(SchemaInferenceTest, TimestampsAreConvertedToUtc) {
  EXPECT_EQ(Cast("2026-11-27T04:22:29", "TIMESTAMP"), "2026-11-27 04:22:29");
  EXPECT_EQ(Cast("2026-11-27 04:22:29", "TIMESTAMP"), "2026-11-27 04:22:29");
  EXPECT_EQ(Cast("2026-11-27 04:22", "TIMESTAMP"), "2026-11-27 04:22:00");
  EXPECT_EQ(Cast("2026-11-27T04:22:29.250Z", "TIMESTAMP"), "2026-11-27 04:22:29.25");
  EXPECT_EQ(Cast("2026-11-27T04:22:29+02:00", "TIMESTAMP"), "2026-11-27 02:22:29");
  EXPECT_EQ(Cast("2026-11-27T04:22:29-0530", "TIMESTAMP"), "2026-11-27 09:52:29");
  EXPECT_EQ(Cast("2026-11-27", "TIMESTAMP"), "2026-11-27 00:00:00");  // a date is midnight
  for (const char* no :
       {"2026-11-27T25:00:00", "27.11.2026 10:00", "2026-11-27T04", "now", "1732681349"}) {
    EXPECT_EQ(Eval(FitsTimestampSql, no), "false") << no;
  }
}

TEST_F(SchemaInferenceTest, OtherDeclaredTypesUseDuckDbCasts) {
  EXPECT_EQ(Cast("12.345", "DECIMAL(10,2)"), "12.35");
  EXPECT_EQ(Cast("ten", "DECIMAL(10,2)"), "NULL");
  EXPECT_EQ(Cast("anything", "VARCHAR"), "anything");
}

TEST(SchemaEvolutionRules, OnlySafeWidenings) {
  EXPECT_EQ(EvolveColumn("BIGINT", InferredType::kDouble).type, "DOUBLE");
  EXPECT_EQ(EvolveColumn("BIGINT", InferredType::kDouble).action, EvolutionAction::kWiden);
  EXPECT_EQ(EvolveColumn("DATE", InferredType::kTimestamp).type, "TIMESTAMP");
  // Narrower files are cast up; nothing is ever widened to VARCHAR.
  EXPECT_EQ(EvolveColumn("DOUBLE", InferredType::kBigint).action, EvolutionAction::kKeep);
  EXPECT_EQ(EvolveColumn("TIMESTAMP", InferredType::kDate).action, EvolutionAction::kKeep);
  EXPECT_EQ(EvolveColumn("BIGINT", InferredType::kVarchar).type, "BIGINT");
  EXPECT_EQ(EvolveColumn("BOOLEAN", InferredType::kBigint).type, "BOOLEAN");
  EXPECT_EQ(NormalizeType(" bigint "), "BIGINT");
}

TEST(Utf8ValidatorTest, AcceptsUtf8AcrossBlockBoundaries) {
  Utf8Validator v;
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  for (char c : text) ASSERT_TRUE(v.Feed(std::string_view(&c, 1)));
  EXPECT_TRUE(v.Finish());
}

TEST(Utf8ValidatorTest, ReportsTheFirstInvalidByteAndLine) {
  struct Case {
    std::string bytes;
    uint64_t offset;
    uint64_t line;
  };
  const Case cases[] = {
      {"ab\n\xFF", 3, 2},            // never valid
      {"x\xC0\xAF", 1, 1},           // overlong '/'
      {"\n\n\xED\xA0\x80", 2, 3},    // surrogate
      {"ok\xF4\x90\x80\x80", 2, 1},  // above U+10FFFF
      {"a\xC3(", 1, 1},              // missing continuation
  };
  for (const auto& c : cases) {
    Utf8Validator v;
    const bool ok = v.Feed(c.bytes) && v.Finish();
    EXPECT_FALSE(ok);
    EXPECT_EQ(v.error_offset(), c.offset);
    EXPECT_EQ(v.error_line(), c.line);
  }
  Utf8Validator cut;
  EXPECT_TRUE(cut.Feed("abc\xE2\x82"));
  EXPECT_FALSE(cut.Finish());  // ends inside a sequence
  EXPECT_EQ(cut.error_offset(), 3u);
}

TEST(LooksLikeTextTest, LibmagicTellsTextFromBinary) {
  std::string mime;
  EXPECT_TRUE(LooksLikeText("id,name\n1,caf\xC3\xA9\n", &mime));
  EXPECT_TRUE(LooksLikeText("id,name\n1,caf\xE9\n", &mime));  // Latin-1 is text
  EXPECT_FALSE(LooksLikeText(std::string("\x7F"
                                         "ELF\x02\x01\x01\x00\x00\x00\x00\x00",
                                         12),
                             &mime))
      << mime;
}

}  // namespace
}  // namespace basin::ingest
