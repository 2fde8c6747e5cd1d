#include "ingest/object_ingest.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "base/hash.h"
#include "catalog/catalog.h"
#include "query/query_engine.h"
#include "storage/object_store.h"
#include "unit/temp_dir.h"

namespace basin::ingest {
namespace {
namespace fs = std::filesystem;

// 2026-11-20T10:15:00Z
constexpr int64_t kNowUs = 1'795'169'700'000'000;

std::string ObjectTestFile(const std::string& name) {
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "objects" / name)
      .string();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ObjectSource FileSource(const std::string& name, std::string original_name = "") {
  ObjectSource s;
  s.local_path = ObjectTestFile(name);
  s.original_name = original_name.empty() ? name : std::move(original_name);
  return s;
}

// A data directory with a catalog, an object store and a query engine, as basin opens them.
class ObjectIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = catalog::Catalog::Open(temp_.path() + "/basin.db", &clock_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    auto store = storage::ObjectStore::Open(storage::ObjectStore::RootUnderLake(lake()));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto engine = query::QueryEngine::Create(catalog_.get(), lake());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    MakeIngestor({});
  }

  void MakeIngestor(ObjectIngestOptions options) {
    ingestor_ = std::make_unique<ObjectIngestor>(catalog_.get(), store_.get(), lake(),
                                                 std::move(options), &clock_);
  }

  std::string lake() const { return temp_.path() + "/lake"; }

  query::QueryResult Sql(const std::string& sql) {
    auto result = engine_->Execute(sql);
    EXPECT_TRUE(result.ok()) << sql << ": " << result.status().ToString();
    return result.ok() ? *result : query::QueryResult{};
  }

  int64_t RowCount() { return Sql("SELECT count(*) FROM raw.objects").rows[0][0].i; }

  // Blobs in the store: files in its two-hex-digit folders.
  size_t BlobCount() const {
    size_t n = 0;
    for (const auto& e :
         fs::recursive_directory_iterator(storage::ObjectStore::RootUnderLake(lake()))) {
      if (e.is_regular_file() && e.path().parent_path().filename().string().size() == 2) ++n;
    }
    return n;
  }

  size_t LiveFileCount() {
    auto snapshot = catalog_->CurrentSnapshot(ObjectIngestor::Table());
    EXPECT_TRUE(snapshot.ok());
    return snapshot.ok() ? snapshot->files.size() : 0;
  }

  std::string WriteLocalFile(const std::string& name, const std::string& bytes) {
    const std::string path = temp_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  test::TempDir temp_;
  FakeClock clock_{kNowUs};
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<storage::ObjectStore> store_;
  std::unique_ptr<query::QueryEngine> engine_;
  std::unique_ptr<ObjectIngestor> ingestor_;
};

TEST_F(ObjectIngestTest, RealFilesOfSeveralTypesBecomeRowsInOneCommit) {
  const std::vector<std::string> names = {
      "gradient.png", "python.jpg",     "banner.gif",       "python.webp", "python.bmp",
      "hello.pdf",    "notes_utf8.txt", "notes_latin1.txt", "orders.csv",  "ascii.txt.gz"};
  std::vector<ObjectSource> sources;
  for (const auto& n : names) sources.push_back(FileSource(n));
  auto results = ingestor_->IngestMany(sources);
  ASSERT_EQ(results.size(), names.size());
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << names[i] << ": " << results[i].status().ToString();
    EXPECT_FALSE(results[i]->duplicate);
    EXPECT_EQ(results[i]->ingest_time_us, kNowUs);
    const std::string bytes = ReadBytes(ObjectTestFile(names[i]));
    EXPECT_EQ(results[i]->sha256, HexEncode(Sha256(bytes)));
    EXPECT_EQ(results[i]->object_key, "sha256/" + results[i]->sha256);
    EXPECT_EQ(results[i]->size_bytes, bytes.size());
  }
  EXPECT_EQ(LiveFileCount(), 1u);  // one Parquet file for the whole batch
  EXPECT_EQ(BlobCount(), names.size());
  EXPECT_EQ(RowCount(), static_cast<int64_t>(names.size()));

  auto png = Sql(
      "SELECT object_key, sha256, original_name, size_bytes, content_type, ingest_time, source, "
      "image_format, width, height, text_encoding, line_count, word_count, product_id, dt "
      "FROM raw.objects WHERE original_name = 'gradient.png'");
  ASSERT_EQ(png.rows.size(), 1u);
  const auto& r = png.rows[0];
  EXPECT_EQ(r[0].s, results[0]->object_key);
  EXPECT_EQ(r[1].s, results[0]->sha256);
  EXPECT_EQ(r[2].s, "gradient.png");
  EXPECT_EQ(r[3].i, 1862);
  EXPECT_EQ(r[4].s, "image/png");
  EXPECT_EQ(r[5].ToText(), "2026-11-20 10:15:00");
  EXPECT_EQ(r[6].s, "cli");
  EXPECT_EQ(r[7].s, "png");
  EXPECT_EQ(r[8].i, 40);
  EXPECT_EQ(r[9].i, 24);
  EXPECT_EQ(r[10].kind, query::Value::Kind::kNull);
  EXPECT_EQ(r[11].kind, query::Value::Kind::kNull);
  EXPECT_EQ(r[12].kind, query::Value::Kind::kNull);
  EXPECT_EQ(r[13].kind, query::Value::Kind::kNull);
  EXPECT_EQ(r[14].ToText(), "2026-11-20");

  auto text =
      Sql("SELECT original_name, content_type, text_encoding, line_count, word_count, image_format "
          "FROM raw.objects WHERE text_encoding IS NOT NULL ORDER BY original_name");
  ASSERT_EQ(text.rows.size(), 3u);
  EXPECT_EQ(text.rows[0][0].s, "notes_latin1.txt");
  EXPECT_EQ(text.rows[0][2].s, "iso-8859-1");
  EXPECT_EQ(text.rows[0][3].i, 2);
  EXPECT_EQ(text.rows[0][4].i, 5);
  EXPECT_EQ(text.rows[1][0].s, "notes_utf8.txt");
  EXPECT_EQ(text.rows[1][2].s, "utf-8");
  EXPECT_EQ(text.rows[1][3].i, 5);
  EXPECT_EQ(text.rows[1][4].i, 15);
  EXPECT_EQ(text.rows[2][0].s, "orders.csv");
  EXPECT_EQ(text.rows[2][1].s, "text/csv");
  EXPECT_EQ(text.rows[2][3].i, 4);
  EXPECT_EQ(text.rows[2][5].kind, query::Value::Kind::kNull);

  auto by_name =
      Sql("SELECT original_name, content_type, image_format, width, height FROM raw.objects "
          "WHERE text_encoding IS NULL ORDER BY original_name");
  ASSERT_EQ(by_name.rows.size(), 7u);
  const std::vector<std::vector<std::string>> expected = {
      {"ascii.txt.gz", "application/gzip", "NULL", "NULL", "NULL"},
      {"banner.gif", "image/gif", "gif", "150", "35"},
      {"gradient.png", "image/png", "png", "40", "24"},
      {"hello.pdf", "application/pdf", "NULL", "NULL", "NULL"},
      {"python.bmp", "image/bmp", "bmp", "16", "16"},
      {"python.jpg", "image/jpeg", "jpeg", "16", "16"},
      {"python.webp", "image/webp", "webp", "16", "16"},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    for (size_t c = 0; c < expected[i].size(); ++c) {
      EXPECT_EQ(by_name.rows[i][c].ToText(), expected[i][c]) << i << "," << c;
    }
  }
}

TEST_F(ObjectIngestTest, SameBytesUnderTwoNamesAreOneRowAndOneBlob) {
  auto first = ingestor_->Ingest(FileSource("gradient.png", "a.png"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->duplicate);
  auto second = ingestor_->Ingest(FileSource("gradient.png", "copy of a.png"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->object_key, first->object_key);
  EXPECT_EQ(second->original_name, "copy of a.png");
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(BlobCount(), 1u);
  EXPECT_EQ(Sql("SELECT original_name FROM raw.objects").rows[0][0].s, "a.png");

  // The same bytes twice in one batch, and once more from memory (an upload).
  const std::string jpeg = ReadBytes(ObjectTestFile("python.jpg"));
  ObjectSource upload;
  upload.bytes = jpeg;
  upload.original_name = "upload.jpg";
  upload.source = "upload";
  auto batch =
      ingestor_->IngestMany({FileSource("python.jpg", "x.jpg"), FileSource("python.jpg", "y.jpg"),
                             upload, FileSource("gradient.png", "b.png")});
  ASSERT_EQ(batch.size(), 4u);
  for (const auto& r : batch) ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(batch[0]->duplicate);
  EXPECT_TRUE(batch[1]->duplicate);
  EXPECT_TRUE(batch[2]->duplicate);
  EXPECT_TRUE(batch[3]->duplicate);
  EXPECT_EQ(batch[1]->object_key, batch[0]->object_key);
  EXPECT_EQ(RowCount(), 2);
  EXPECT_EQ(BlobCount(), 2u);
  EXPECT_EQ(LiveFileCount(), 2u);
}

TEST_F(ObjectIngestTest, UploadFromMemory) {
  ObjectSource upload;
  const std::string csv = ReadBytes(ObjectTestFile("orders.csv"));
  upload.bytes = csv;
  upload.original_name = "C:\\Users\\me\\orders export.csv";
  upload.source = "upload";
  auto r = ingestor_->Ingest(upload);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->original_name, "orders export.csv");
  EXPECT_EQ(r->metadata.content_type, "text/csv");
  auto row = Sql("SELECT original_name, source, line_count, word_count FROM raw.objects");
  ASSERT_EQ(row.rows.size(), 1u);
  EXPECT_EQ(row.rows[0][0].s, "orders export.csv");
  EXPECT_EQ(row.rows[0][1].s, "upload");
  EXPECT_EQ(row.rows[0][2].i, 4);
  EXPECT_EQ(row.rows[0][3].i, 4);
  EXPECT_EQ(*store_->Read(r->sha256, 1000), csv);
}

TEST_F(ObjectIngestTest, ProductLinkByConventionMapAndExplicitId) {
  const std::string png = ReadBytes(ObjectTestFile("gradient.png"));
  // Different bytes per object (a trailing byte after IEND is still a PNG to libmagic).
  auto variant = [&](int i) {
    return WriteLocalFile("v" + std::to_string(i), png + char('a' + i));
  };
  ObjectIngestOptions options;
  options.product_map = {{"photos/IMG_0001.png", "sku-00042"}, {"IMG_0002.png", "sku-00043"}};
  MakeIngestor(options);
  std::vector<ObjectSource> sources;
  const std::vector<std::string> names = {
      "product_sku-00001.png",        // convention 1
      "shop/products/sku-00002.png",  // convention 2
      "Product_SKU-7.PNG",            // prefix is case-insensitive
      "photos/IMG_0001.png",          // map, by the name as given
      "other/IMG_0002.png",           // map, by the file name
      "banner.png",                   // no link
      "product_sku-00009.png",        // explicit id wins over the convention
      "products/bad id.png",          // not a derivable id
  };
  for (size_t i = 0; i < names.size(); ++i) {
    ObjectSource s;
    s.local_path = variant(static_cast<int>(i));
    s.original_name = names[i];
    if (i == 6) s.product_id = "sku-99999";
    sources.push_back(s);
  }
  auto results = ingestor_->IngestMany(sources);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto rows =
      Sql("SELECT original_name, coalesce(product_id, '-') FROM raw.objects ORDER BY size_bytes");
  ASSERT_EQ(rows.rows.size(), names.size());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"product_sku-00001.png", "sku-00001"}, {"sku-00002.png", "sku-00002"},
      {"Product_SKU-7.PNG", "SKU-7"},         {"IMG_0001.png", "sku-00042"},
      {"IMG_0002.png", "sku-00043"},          {"banner.png", "-"},
      {"product_sku-00009.png", "sku-99999"}, {"bad id.png", "-"},
  };
  // Rows sorted by size: all variants have the same size, so compare as sets.
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& row : rows.rows) got.insert({row[0].s, row[1].s});
  const std::set<std::pair<std::string, std::string>> want(expected.begin(), expected.end());
  EXPECT_EQ(got, want);
  // products.image_key joins to object_key.
  EXPECT_EQ(results[0]->product_id, "sku-00001");
  EXPECT_EQ(results[0]->object_key, "sha256/" + HexEncode(Sha256(png + 'a')));
}

TEST(ProductIdFromNameTest, Rules) {
  EXPECT_EQ(ProductIdFromName("product_sku-00001.png"), "sku-00001");
  EXPECT_EQ(ProductIdFromName("/data/x/product_123.large.jpg"), "123.large");
  EXPECT_EQ(ProductIdFromName("products/123.jpg"), "123");
  EXPECT_EQ(ProductIdFromName("a\\Products\\p-9.webp"), "p-9");
  EXPECT_EQ(ProductIdFromName("product_42"), "42");
  EXPECT_EQ(ProductIdFromName("product_.png"), std::nullopt);
  EXPECT_EQ(ProductIdFromName("product.png"), std::nullopt);
  EXPECT_EQ(ProductIdFromName("products.png"), std::nullopt);
  EXPECT_EQ(ProductIdFromName("products/sub/123.png"), std::nullopt);
  EXPECT_EQ(ProductIdFromName("123.png"), std::nullopt);
  EXPECT_EQ(ProductIdFromName("product_a b.png"), std::nullopt);
  EXPECT_EQ(ProductIdFromName("product_" + std::string(129, 'x') + ".png"), std::nullopt);
}

TEST(SanitizeObjectNameTest, Rules) {
  EXPECT_EQ(*SanitizeObjectName("a.png", 100), "a.png");
  EXPECT_EQ(*SanitizeObjectName("/home/me/a.png", 100), "a.png");
  EXPECT_EQ(*SanitizeObjectName("dir\\sub\\K\xC3\xB6ln.txt", 100), "K\xC3\xB6ln.txt");
  for (std::string bad :
       {std::string(""), std::string("../../etc/passwd"), std::string("a/../b.png"),
        std::string("..\\x.png"), std::string(".."), std::string("dir/"), std::string("."),
        std::string("a\nb.png"), std::string("a\0b.png", 7), std::string("tab\t.png"),
        std::string("del\x7F.png"), std::string("bad\xFFutf8.png"), std::string(101, 'n')}) {
    auto r = SanitizeObjectName(bad, 100);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST_F(ObjectIngestTest, BadInputIsATypedErrorAndNothingIsStored) {
  ObjectIngestOptions options;
  options.max_object_bytes = 1000;
  MakeIngestor(options);
  const std::string empty = WriteLocalFile("empty.bin", "");
  const std::string big = WriteLocalFile("big.bin", std::string(1001, 'x'));
  const std::string ok_path = WriteLocalFile("ok.txt", "fine\n");
  auto source = [](std::string path, std::string name) {
    ObjectSource s;
    s.local_path = std::move(path);
    s.original_name = std::move(name);
    return s;
  };
  ObjectSource bad_source = source(ok_path, "ok.txt");
  bad_source.source = "Not Allowed";
  ObjectSource bad_product = source(ok_path, "ok.txt");
  bad_product.product_id = std::string("p\n1");
  ObjectSource empty_upload;
  empty_upload.bytes = std::string_view();
  empty_upload.original_name = "empty upload";
  auto results = ingestor_->IngestMany({
      source(empty, "empty.bin"),                        // 0
      source(big, "big.bin"),                            // 1
      source(ok_path, "../../etc/passwd"),               // 2
      source(ok_path, "evil\r\nname.txt"),               // 3
      source(temp_.path() + "/missing", "missing.txt"),  // 4
      source(temp_.path(), "folder"),                    // 5
      bad_source,                                        // 6
      bad_product,                                       // 7
      empty_upload,                                      // 8
  });
  const std::vector<ErrorCode> expected = {
      ErrorCode::kEmptyInput,      ErrorCode::kPayloadTooLarge, ErrorCode::kInvalidArgument,
      ErrorCode::kInvalidArgument, ErrorCode::kNotFound,        ErrorCode::kInvalidArgument,
      ErrorCode::kInvalidArgument, ErrorCode::kInvalidArgument, ErrorCode::kEmptyInput,
  };
  ASSERT_EQ(results.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_FALSE(results[i].ok()) << i;
    EXPECT_EQ(results[i].status().code(), expected[i])
        << i << ": " << results[i].status().ToString();
  }
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_EQ(RowCount(), 0);
  EXPECT_EQ(LiveFileCount(), 0u);
  // No temp file or Parquet file was left either.
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(lake())) files += e.is_regular_file();
  EXPECT_EQ(files, 0u);

  // A bad object does not stop good ones in the same batch.
  auto mixed = ingestor_->IngestMany({source(empty, "empty.bin"), source(ok_path, "ok.txt")});
  EXPECT_EQ(mixed[0].status().code(), ErrorCode::kEmptyInput);
  ASSERT_TRUE(mixed[1].ok()) << mixed[1].status().ToString();
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(BlobCount(), 1u);
}

TEST_F(ObjectIngestTest, BlobWithoutRowFromACrashIsCommittedOnReingest) {
  // A crash after the blob was stored and before the commit: only the blob exists.
  auto put = store_->PutFile(ObjectTestFile("banner.gif"));
  ASSERT_TRUE(put.ok());
  auto r = ingestor_->Ingest(FileSource("banner.gif"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->duplicate);
  EXPECT_EQ(r->sha256, put->sha256);
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(BlobCount(), 1u);
}

TEST_F(ObjectIngestTest, CommitsInChunksOfMaxRows) {
  ObjectIngestOptions options;
  options.max_rows_per_commit = 2;
  MakeIngestor(options);
  std::vector<ObjectSource> sources;
  for (int i = 0; i < 5; ++i) {
    ObjectSource s;
    s.local_path = WriteLocalFile("f" + std::to_string(i), "object number " + std::to_string(i));
    s.original_name = "f" + std::to_string(i) + ".txt";
    sources.push_back(s);
  }
  auto results = ingestor_->IngestMany(sources);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(LiveFileCount(), 3u);
  EXPECT_EQ(RowCount(), 5);
  EXPECT_EQ(Sql("SELECT sum(word_count) FROM raw.objects").rows[0][0].ToText(), "15");
}

TEST_F(ObjectIngestTest, ConcurrentIngestsOfTheSameBytesCommitOneRow) {
  // Several ingestors (as several processes would) race on the same bytes: the catalog's commit
  // key lets exactly one row in, the others report duplicate.
  constexpr int kThreads = 6;
  std::vector<std::unique_ptr<ObjectIngestor>> ingestors;
  for (int t = 0; t < kThreads; ++t) {
    ingestors.push_back(std::make_unique<ObjectIngestor>(catalog_.get(), store_.get(), lake(),
                                                         ObjectIngestOptions{}, &clock_));
  }
  std::vector<std::optional<Result<ObjectIngestReport>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      results[t] = ingestors[t]->Ingest(FileSource("notes_utf8.txt", "n" + std::to_string(t)));
    });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r->ok()) << r->status().ToString();
    created += (*r)->duplicate ? 0 : 1;
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(LiveFileCount(), 1u);
  EXPECT_EQ(BlobCount(), 1u);
  // Losers' Parquet files were removed.
  size_t parquet = 0;
  for (const auto& e : fs::recursive_directory_iterator(lake())) {
    parquet += e.path().extension() == ".parquet";
  }
  EXPECT_EQ(parquet, 1u);
}

// A clock that runs `on_first_read` the first time the ingestor reads it: the ingestor reads
// the time after preparing its batch and before writing it, so this is where another process's
// commit of the same bytes lands in a lost race.
class RacingClock final : public Clock {
 public:
  explicit RacingClock(std::function<void()> on_first_read)
      : on_first_read_(std::move(on_first_read)) {}
  int64_t NowMicros() const override {
    if (!fired_.exchange(true)) on_first_read_();
    return kNowUs;
  }

 private:
  std::function<void()> on_first_read_;
  mutable std::atomic<bool> fired_{false};
};

TEST_F(ObjectIngestTest, LostCommitRaceMakesTheObjectADuplicateAndCommitsTheRest) {
  ObjectIngestor other(catalog_.get(), store_.get(), lake(), {}, &clock_);
  RacingClock racing([&] {
    auto won = other.Ingest(FileSource("banner.gif", "theirs.gif"));
    ASSERT_TRUE(won.ok()) << won.status().ToString();
    EXPECT_FALSE(won->duplicate);
  });
  ObjectIngestor mine(catalog_.get(), store_.get(), lake(), {}, &racing);
  auto results =
      mine.IngestMany({FileSource("banner.gif", "mine.gif"), FileSource("ascii.txt", "a.txt")});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  ASSERT_TRUE(results[1].ok()) << results[1].status().ToString();
  EXPECT_TRUE(results[0]->duplicate);
  EXPECT_FALSE(results[1]->duplicate);
  EXPECT_EQ(RowCount(), 2);
  EXPECT_EQ(Sql("SELECT string_agg(original_name, ',' ORDER BY original_name) FROM raw.objects")
                .rows[0][0]
                .s,
            "a.txt,theirs.gif");
  EXPECT_EQ(LiveFileCount(), 2u);
  size_t parquet = 0;
  for (const auto& e : fs::recursive_directory_iterator(lake())) {
    parquet += e.path().extension() == ".parquet";
  }
  EXPECT_EQ(parquet, 2u);  // the file of the failed attempt was removed
}

class ProductMapTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = temp_.path() + "/map.csv";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  test::TempDir temp_;
};

TEST_F(ProductMapTest, ReadsHeaderQuotesAndCrlf) {
  auto map = LoadProductMap(
      Write("original_name,product_id\r\nIMG_1.png,sku-1\r\n\"a, b.jpg\",\"sku \"\"2\"\"\"\r\n"
            "\r\nIMG_1.png,sku-1\n"));
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(map->size(), 2u);
  EXPECT_EQ(map->at("IMG_1.png"), "sku-1");
  EXPECT_EQ(map->at("a, b.jpg"), "sku \"2\"");
  auto no_header = LoadProductMap(Write("x.png,p1"));
  ASSERT_TRUE(no_header.ok());
  EXPECT_EQ(no_header->at("x.png"), "p1");
}

TEST_F(ProductMapTest, BadLinesAreInvalidArgumentWithTheLineNumber) {
  for (const std::string& text :
       {std::string("a.png\n"), std::string("a.png,p1,extra\n"), std::string("a.png,\n"),
        std::string("ok.png,p\nb.png,\"open\n"), std::string("a.png,p1\na.png,p2\n")}) {
    auto map = LoadProductMap(Write(text));
    ASSERT_FALSE(map.ok()) << text;
    EXPECT_EQ(map.status().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(map.status().message().find("line"), std::string::npos);
  }
  EXPECT_EQ(LoadProductMap(temp_.path() + "/none.csv").status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace basin::ingest
