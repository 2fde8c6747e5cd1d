#include <gtest/gtest.h>

#include <filesystem>

#include "ingest/batch_loader.h"
#include "unit/ingest/batch_test_util.h"

namespace basin::ingest::test {
namespace {

namespace fs = std::filesystem;

class BatchEvolutionTest : public BatchFixture {};

TEST_F(BatchEvolutionTest, NewColumnAndSafeWidenings) {
  auto v1 = LoadData("products_v1.csv", "products");
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(v1->schema_version, 1);
  EXPECT_EQ(Types("SELECT product_id, price, created FROM raw.products"),
            "product_id VARCHAR, price BIGINT, created DATE");
  auto v2 = LoadData("products_v2.csv", "products");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->schema_version, 2);
  EXPECT_EQ(v2->columns_added, std::vector<std::string>{"brand"});
  EXPECT_EQ(v2->columns_widened,
            (std::vector<std::string>{"price BIGINT->DOUBLE", "created DATE->TIMESTAMP"}));
  EXPECT_EQ(Types("SELECT * EXCLUDE (_source_file, _loaded_at) FROM raw.products"),
            "product_id VARCHAR, price DOUBLE, created TIMESTAMP, brand VARCHAR");
  // Old files read under the new schema: widened values, NULL for the new column.
  EXPECT_EQ(Rows("SELECT product_id, price, created, brand FROM raw.products ORDER BY 1"),
            "p1|10.0|2026-01-01 00:00:00|NULL\np2|20.0|2026-01-02 00:00:00|NULL\n"
            "p3|19.99|2026-01-03 10:30:00|Acme\n");
  // A narrower file is cast up, and a file lacking a column reads NULL there.
  auto v3 = LoadData("products_v1.csv", "products");  // already loaded
  ASSERT_TRUE(v3.ok());
  EXPECT_TRUE(v3->already_loaded);
  auto v4 = LoadFile(WriteTemp("p.csv", "product_id,price\np9,3\n"), "products");
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->schema_version, 2);
  EXPECT_EQ(Rows("SELECT price, created, brand FROM raw.products WHERE product_id = 'p9'"),
            "3.0|NULL|NULL\n");
}

TEST_F(BatchEvolutionTest, TextInANumberColumnRejectsTheWholeFileAndKeepsItAside) {
  ASSERT_TRUE(LoadData("products_v1.csv", "products").ok());
  auto bad = LoadData("products_bad.csv", "products");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kSchemaIncompatible);
  const std::string& message = bad.status().message();
  EXPECT_NE(message.find("column 'price' of raw.products is BIGINT"), std::string::npos) << message;
  EXPECT_NE(message.find("'ten euros' at row 2 (line 3)"), std::string::npos) << message;
  // Nothing of it entered the table (its good row p4 neither), and the schema did not move.
  EXPECT_EQ(Count("raw.products"), 2);
  EXPECT_EQ(Rows("SELECT count(*) FROM raw.products WHERE product_id = 'p4'"), "0\n");
  EXPECT_EQ(catalog_->GetTable({"raw", "products"})->schema.version, 1);
  // Kept aside with its error, and recorded.
  int kept = 0;
  std::string error_json;
  for (const auto& e : fs::directory_iterator(lake_ + "/raw/_rejected/products")) {
    const std::string name = e.path().filename().string();
    if (name.ends_with("-products_bad.csv")) {
      ++kept;
      EXPECT_EQ(ReadAll(e.path().string()), ReadAll(BatchData("products_bad.csv")));
    }
    if (name.ends_with(".error.json")) error_json = ReadAll(e.path().string());
  }
  EXPECT_EQ(kept, 1);
  EXPECT_NE(error_json.find("\"code\":\"SchemaIncompatible\""), std::string::npos) << error_json;
  EXPECT_EQ(Rows("SELECT status, original_name, error LIKE 'SchemaIncompatible:%' FROM "
                 "ops.batch_loads ORDER BY loaded_at, status"),
            "loaded|products_v1.csv|NULL\nrejected|products_bad.csv|true\n");
  // A rejected file is not "loaded": once the table can take it, it loads.
  EXPECT_FALSE(catalog_->HasCommitKey("batch:raw.products:" + std::string(64, '0')).value());
}

TEST_F(BatchEvolutionTest, TheMisfitIsLocatedByItsLineAcrossQuotedNewlinesAndRejectedRows) {
  ASSERT_TRUE(LoadFile(WriteTemp("a.csv", "id,note,price\n0,first,5\n"), "located").ok());
  auto bad = LoadFile(
      WriteTemp("b.csv", "id,note,price\n1,\"two\nlines\",10\n2,ragged\n\n3,ok,abc\n"), "located");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kSchemaIncompatible);
  EXPECT_NE(bad.status().message().find("value 'abc' at row 2 (line 6)"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(Count("raw.located"), 1);
  // A rejected file quarantines nothing either.
  EXPECT_EQ(catalog_->GetTable({"quarantine", "located"}).status().code(),
            ErrorCode::kTableNotFound);
}

TEST_F(BatchEvolutionTest, DoubleColumnTakesIntegersAndTimestampColumnTakesDates) {
  ASSERT_TRUE(LoadFile(WriteTemp("a.csv", "k,x,t\na,1.5,2026-01-01T00:00:00Z\n"), "w").ok());
  auto narrower = LoadFile(WriteTemp("b.csv", "k,x,t\nb,2,2026-01-02\n"), "w");
  ASSERT_TRUE(narrower.ok()) << narrower.status().ToString();
  EXPECT_TRUE(narrower->columns_widened.empty());
  EXPECT_EQ(Rows("SELECT k, x, t FROM raw.w ORDER BY k"),
            "a|1.5|2026-01-01 00:00:00\nb|2.0|2026-01-02 00:00:00\n");
  // Booleans stay booleans: a number in a BOOLEAN column is incompatible.
  ASSERT_TRUE(LoadFile(WriteTemp("c.csv", "k,f\na,true\n"), "flags").ok());
  auto number = LoadFile(WriteTemp("d.csv", "k,f\nb,1\n"), "flags");
  ASSERT_FALSE(number.ok());
  EXPECT_EQ(number.status().code(), ErrorCode::kSchemaIncompatible);
}

TEST_F(BatchEvolutionTest, LineageNamesInTheFileAreRejected) {
  auto report = LoadFile(WriteTemp("l.csv", "id,_loaded_at\n1,x\n"), "lineage");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kSchemaIncompatible);
}

}  // namespace
}  // namespace basin::ingest::test
