#include "ingest/landing_sweep.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "unit/ingest/batch_test_util.h"

namespace basin::ingest::test {
namespace {

namespace fs = std::filesystem;

int64_t MtimeMicros(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000;
}

class LandingSweepTest : public BatchFixture {
 protected:
  std::string Land(const std::string& folder, const std::string& name, const std::string& bytes) {
    const fs::path dir = fs::path(lake_) / "landing" / folder;
    fs::create_directories(dir);
    const std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  LandingSweep Sweep() { return LandingSweep(loader_.get(), lake_ + "/landing", &clock_); }
};

TEST_F(LandingSweepTest, LoadsSettledFilesAndDeletesThem) {
  const std::string path = Land("orders", "orders-1.csv", ReadAll(BatchData("orders_small.csv")));
  LandingSweep sweep = Sweep();
  // Modified 1 s ago: may still be being copied.
  clock_.Set(MtimeMicros(path) + 1'000'000);
  auto first = sweep.SweepOnce();
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->empty());
  EXPECT_TRUE(fs::exists(path));
  // Settled.
  clock_.Set(MtimeMicros(path) + 3'000'000);
  auto second = sweep.SweepOnce();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].outcome, SweepResult::Outcome::kLoaded);
  EXPECT_EQ((*second)[0].table, "raw.orders");
  EXPECT_EQ((*second)[0].report.rows_loaded, 2);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(Count("raw.orders"), 2);
  EXPECT_EQ(Rows("SELECT source, original_name FROM ops.batch_loads"), "landing|orders-1.csv\n");
  // The same bytes landing again: already loaded, deleted, no new rows.
  const std::string again =
      Land("orders", "orders-1-copy.csv", ReadAll(BatchData("orders_small.csv")));
  clock_.Set(MtimeMicros(again) + 3'000'000);
  auto third = sweep.SweepOnce();
  ASSERT_TRUE(third.ok());
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ((*third)[0].outcome, SweepResult::Outcome::kAlreadyLoaded);
  EXPECT_FALSE(fs::exists(again));
  EXPECT_EQ(Count("raw.orders"), 2);
}

TEST_F(LandingSweepTest, RejectedFilesAreMovedAsideWithTheirError) {
  ASSERT_TRUE(LoadData("products_v1.csv", "products").ok());
  const std::string bad = Land("products", "bad.csv", ReadAll(BatchData("products_bad.csv")));
  const std::string empty = Land("products", "empty.csv", "");
  clock_.Set(std::max(MtimeMicros(bad), MtimeMicros(empty)) + 3'000'000);
  auto results = Sweep().SweepOnce();
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 2u);
  for (const auto& r : *results) EXPECT_EQ(r.outcome, SweepResult::Outcome::kRejected);
  const fs::path rejected = fs::path(lake_) / "landing/products/_rejected";
  EXPECT_FALSE(fs::exists(bad));
  EXPECT_TRUE(fs::exists(rejected / "bad.csv"));
  EXPECT_NE(ReadAll((rejected / "bad.csv.error.json").string()).find("SchemaIncompatible"),
            std::string::npos);
  EXPECT_NE(ReadAll((rejected / "empty.csv.error.json").string()).find("EmptyInput"),
            std::string::npos);
  EXPECT_EQ(Count("raw.products"), 2);
  // The _rejected folder is not swept again.
  auto again = Sweep().SweepOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(LandingSweepTest, HiddenNamesAndBadFolderNamesAreLeftAlone) {
  const std::string hidden = Land("orders", ".partial.csv", "a,b\n1,2\n");
  const std::string underscore = Land("orders", "_manifest.csv", "a,b\n1,2\n");
  const std::string odd = Land("Bad-Name", "x.csv", "a,b\n1,2\n");
  clock_.Set(MtimeMicros(odd) + 3'000'000);
  auto results = Sweep().SweepOnce();
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].outcome, SweepResult::Outcome::kSkipped);
  EXPECT_EQ((*results)[0].status.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(hidden));
  EXPECT_TRUE(fs::exists(underscore));
  EXPECT_TRUE(fs::exists(odd));
  EXPECT_EQ(catalog_->GetTable({"raw", "orders"}).status().code(), ErrorCode::kTableNotFound);
}

}  // namespace
}  // namespace basin::ingest::test
