#include "storage/bucket_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "base/hash.h"
#include "storage/bucket_listing.h"
#include "unit/temp_dir.h"

namespace basin::storage {
namespace {
namespace fs = std::filesystem;

// MD5 of "hello\n" (md5sum).
constexpr const char* kHelloEtag = "\"b1946ac92492d2347c6235b4d2611184\"";
// MD5 of nothing.
constexpr const char* kEmptyEtag = "\"d41d8cd98f00b204e9800998ecf8427e\"";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, std::string_view bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

class BucketStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  BucketStoreOptions Options() {
    BucketStoreOptions options;
    options.data_dir = temp_.path() + "/data";
    options.lake_root = lake();
    options.min_part_bytes = 1024;
    options.clock = &clock_;
    return options;
  }

  void Reopen() { Reopen(Options()); }
  void Reopen(BucketStoreOptions options) {
    store_.reset();
    auto store = BucketStore::Open(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::string lake() const { return temp_.path() + "/lake"; }
  std::string blobs() const { return temp_.path() + "/data/buckets/blobs"; }
  std::string uploads() const { return temp_.path() + "/data/buckets/uploads"; }

  // Blob files (not temp files) in the store.
  size_t BlobCount() const {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(blobs())) {
      if (e.is_regular_file() && e.path().parent_path().filename() != "_tmp") ++n;
    }
    return n;
  }

  ObjectInfo Put(std::string_view bucket, std::string_view key, std::string_view bytes,
                 const ObjectAttributes& attributes = {}) {
    auto put = store_->PutObject(bucket, key, bytes, attributes);
    EXPECT_TRUE(put.ok()) << put.status().ToString();
    return put.ok() ? *put : ObjectInfo{};
  }

  std::string Get(std::string_view bucket, std::string_view key) {
    auto reader = store_->OpenObject(bucket, key);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return "<missing>";
    return ReadAll(reader->path);
  }

  // All keys and common prefixes, page by page.
  std::vector<std::string> ListAll(std::string_view bucket, ListRequest request, int* pages) {
    std::vector<std::string> out;
    *pages = 0;
    for (;;) {
      auto page = store_->ListObjects(bucket, request);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      ++*pages;
      EXPECT_LE(static_cast<int>(page->objects.size() + page->common_prefixes.size()),
                request.max_keys);
      // Objects and prefixes interleave in key order; merge them back.
      std::vector<std::string> items;
      for (const ObjectInfo& o : page->objects) items.push_back(o.key);
      for (const std::string& p : page->common_prefixes) items.push_back(p);
      std::sort(items.begin(), items.end());
      out.insert(out.end(), items.begin(), items.end());
      if (!page->truncated) break;
      EXPECT_FALSE(page->next_marker.empty());
      EXPECT_EQ(page->next_marker, items.back());
      request.start_after = page->next_marker;
      if (*pages > 10'000) break;
    }
    return out;
  }

  std::string S3Code(const Status& s) { return std::string(S3ErrorName(s)); }

  test::TempDir temp_;
  FakeClock clock_;
  std::unique_ptr<BucketStore> store_;
};

TEST_F(BucketStoreTest, BucketNamesFollowS3Rules) {
  for (const char* good :
       {"abc", "my-bucket", "my.bucket.name", "a1b2c3", "123", "1.2.3", "a-b.c-d"}) {
    EXPECT_TRUE(BucketStore::IsValidBucketName(good)) << good;
  }
  for (const char* bad : {"ab", "", "My-Bucket", "my_bucket", "-abc", "abc-", ".abc", "abc.",
                          "a..b", "192.168.1.1", "10.0.0.255", "a b", "abc/", "ümlaut"}) {
    EXPECT_FALSE(BucketStore::IsValidBucketName(bad)) << bad;
  }
  EXPECT_TRUE(BucketStore::IsValidBucketName(std::string(63, 'a')));
  EXPECT_FALSE(BucketStore::IsValidBucketName(std::string(64, 'a')));
  Status s = store_->CreateBucket("Bad_Name");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(S3Code(s), "InvalidBucketName");
}

TEST_F(BucketStoreTest, KeysAreUtf8WithoutNul) {
  EXPECT_TRUE(BucketStore::IsValidKey("a"));
  EXPECT_TRUE(BucketStore::IsValidKey("dir/sub dir/ü+%.txt"));
  EXPECT_TRUE(BucketStore::IsValidKey(std::string(1024, 'k')));
  EXPECT_FALSE(BucketStore::IsValidKey(""));
  EXPECT_FALSE(BucketStore::IsValidKey(std::string(1025, 'k')));
  EXPECT_FALSE(BucketStore::IsValidKey(std::string("a\0b", 3)));
  EXPECT_FALSE(BucketStore::IsValidKey("\xff\xfe"));
  EXPECT_FALSE(BucketStore::IsValidKey("\xc3"));          // truncated sequence
  EXPECT_FALSE(BucketStore::IsValidKey("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(BucketStore::IsValidKey("\xed\xa0\x80"));  // surrogate
  auto too_long = store_->PutObject("landing", std::string(1025, 'k'), "x", {});
  EXPECT_EQ(S3Code(too_long.status()), "KeyTooLongError");
  auto bad = store_->PutObject("landing", "\xff", "x", {});
  EXPECT_EQ(S3Code(bad.status()), "InvalidArgument");
}

TEST_F(BucketStoreTest, CreateListAndDeleteBuckets) {
  clock_.Set(1'700'000'000'000'000);
  ASSERT_TRUE(store_->CreateBucket("alpha").ok());
  Status again = store_->CreateBucket("alpha");
  EXPECT_EQ(again.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(S3Code(again), "BucketAlreadyOwnedByYou");

  std::vector<std::string> names;
  for (const BucketInfo& b : store_->ListBuckets()) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "curated", "landing", "processed",
                                             "quarantine", "raw"}));
  auto alpha = store_->GetBucket("alpha");
  ASSERT_TRUE(alpha.ok());
  EXPECT_EQ(alpha->created_us, 1'700'000'000'000'000);
  EXPECT_FALSE(alpha->read_only);
  auto raw = store_->GetBucket("raw");
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(raw->read_only);
  EXPECT_EQ(S3Code(store_->GetBucket("nope").status()), "NoSuchBucket");

  Put("alpha", "k", "v");
  Status not_empty = store_->DeleteBucket("alpha");
  EXPECT_EQ(not_empty.code(), ErrorCode::kConflict);
  EXPECT_EQ(S3Code(not_empty), "BucketNotEmpty");
  ASSERT_TRUE(store_->DeleteObject("alpha", "k").ok());
  ASSERT_TRUE(store_->DeleteBucket("alpha").ok());
  EXPECT_EQ(S3Code(store_->DeleteBucket("alpha")), "NoSuchBucket");
  EXPECT_EQ(S3Code(store_->GetBucket("alpha").status()), "NoSuchBucket");

  for (const char* protected_bucket : {"landing", "raw", "curated"}) {
    Status s = store_->DeleteBucket(protected_bucket);
    EXPECT_EQ(s.code(), ErrorCode::kAccessDenied) << protected_bucket;
    EXPECT_EQ(S3Code(s), "AccessDenied");
  }
  EXPECT_EQ(S3Code(store_->CreateBucket("raw")), "BucketAlreadyOwnedByYou");
}

TEST_F(BucketStoreTest, DeletingABucketAbortsItsUploads) {
  ASSERT_TRUE(store_->CreateBucket("gone").ok());
  auto upload = store_->CreateMultipartUpload("gone", "k", {});
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE(store_->UploadPart("gone", "k", upload->upload_id, 1, "abc", {}).ok());
  ASSERT_TRUE(store_->DeleteBucket("gone").ok());
  EXPECT_FALSE(fs::exists(uploads() + "/" + upload->upload_id));
  ASSERT_TRUE(store_->CreateBucket("gone").ok());
  EXPECT_EQ(S3Code(store_->UploadPart("gone", "k", upload->upload_id, 2, "x", {}).status()),
            "NoSuchUpload");
}

TEST_F(BucketStoreTest, PutHeadGetDelete) {
  clock_.Set(1'750'000'000'000'000);
  ObjectAttributes attributes;
  attributes.content_type = "text/plain";
  ObjectInfo put = Put("landing", "greeting.txt", "hello\n", attributes);
  EXPECT_EQ(put.etag, kHelloEtag);
  EXPECT_EQ(put.size, 6u);
  EXPECT_EQ(put.last_modified_us, 1'750'000'000'000'000);
  EXPECT_EQ(put.sha256, HexEncode(Sha256("hello\n")));
  EXPECT_EQ(put.parts_count, 0);

  auto head = store_->HeadObject("landing", "greeting.txt");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, kHelloEtag);
  EXPECT_EQ(head->size, 6u);
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(head->bucket, "landing");
  EXPECT_EQ(head->key, "greeting.txt");
  EXPECT_EQ(Get("landing", "greeting.txt"), "hello\n");
  auto reader = store_->OpenObject("landing", "greeting.txt");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->path.rfind(blobs(), 0), 0u) << reader->path;

  auto missing = store_->HeadObject("landing", "nope");
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(S3Code(missing.status()), "NoSuchKey");
  EXPECT_EQ(S3Code(store_->HeadObject("nobucket", "k").status()), "NoSuchBucket");
  EXPECT_EQ(S3Code(store_->PutObject("nobucket", "k", "x", {}).status()), "NoSuchBucket");

  ASSERT_TRUE(store_->DeleteObject("landing", "greeting.txt").ok());
  EXPECT_EQ(S3Code(store_->HeadObject("landing", "greeting.txt").status()), "NoSuchKey");
  EXPECT_TRUE(store_->DeleteObject("landing", "greeting.txt").ok());  // missing key: still Ok
  EXPECT_EQ(S3Code(store_->DeleteObject("nobucket", "k")), "NoSuchBucket");
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(BucketStoreTest, EmptyObject) {
  ObjectInfo put = Put("landing", "empty", "");
  EXPECT_EQ(put.etag, kEmptyEtag);
  EXPECT_EQ(put.size, 0u);
  EXPECT_EQ(Get("landing", "empty"), "");
}

TEST_F(BucketStoreTest, OverwriteReplacesAndCollectsTheOldBlob) {
  Put("landing", "k", "first version");
  EXPECT_EQ(BlobCount(), 1u);
  ObjectInfo second = Put("landing", "k", "second version");
  EXPECT_EQ(Get("landing", "k"), "second version");
  EXPECT_EQ(store_->HeadObject("landing", "k")->etag, second.etag);
  EXPECT_EQ(BlobCount(), 1u);  // the first version's blob is gone
}

TEST_F(BucketStoreTest, IdenticalBytesAreStoredOnceUntilTheLastDelete) {
  ASSERT_TRUE(store_->CreateBucket("other").ok());
  ObjectInfo a = Put("landing", "a", "same bytes");
  ObjectInfo b = Put("landing", "b", "same bytes");
  ObjectInfo c = Put("other", "c", "same bytes");
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_EQ(a.sha256, c.sha256);
  EXPECT_EQ(BlobCount(), 1u);
  const std::string path = store_->OpenObject("landing", "a")->path;
  ASSERT_TRUE(store_->DeleteObject("landing", "a").ok());
  ASSERT_TRUE(store_->DeleteObject("other", "c").ok());
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(Get("landing", "b"), "same bytes");
  ASSERT_TRUE(store_->DeleteObject("landing", "b").ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(BucketStoreTest, AttributesAndUserMetadataRoundTrip) {
  ObjectAttributes attributes;
  attributes.content_type = "application/json; charset=utf-8";
  attributes.content_encoding = "gzip";
  attributes.cache_control = "max-age=60";
  attributes.content_disposition = "attachment; filename=\"a:b.json\"";
  attributes.content_language = "en";
  attributes.expires = "Thu, 01 Dec 2030 16:00:00 GMT";
  attributes.user_metadata = {
      {"author", "Zoë"}, {"empty", ""}, {"colons", "1:2:3"}, {"n12", "34:5"}};
  attributes.checksums = {{"crc32", "AAAAAA=="}, {"sha256", "abc="}};
  Put("landing", "doc.json", "{}", attributes);
  Reopen();
  auto head = store_->HeadObject("landing", "doc.json");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->content_type, attributes.content_type);
  EXPECT_EQ(head->content_encoding, "gzip");
  EXPECT_EQ(head->cache_control, "max-age=60");
  EXPECT_EQ(head->content_disposition, attributes.content_disposition);
  EXPECT_EQ(head->content_language, "en");
  EXPECT_EQ(head->expires, attributes.expires);
  EXPECT_EQ(head->user_metadata, attributes.user_metadata);
  EXPECT_EQ(head->checksums, attributes.checksums);
}

TEST_F(BucketStoreTest, CopyKeepsOrReplacesMetadata) {
  ASSERT_TRUE(store_->CreateBucket("dest").ok());
  ObjectAttributes attributes;
  attributes.content_type = "text/plain";
  attributes.user_metadata = {{"color", "blue"}};
  ObjectInfo source = Put("landing", "src", "copy me", attributes);

  clock_.Advance(5'000'000);
  auto copied = store_->CopyObject("landing", "src", "dest", "copy", std::nullopt);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(copied->etag, source.etag);
  EXPECT_EQ(copied->sha256, source.sha256);
  EXPECT_EQ(copied->last_modified_us, source.last_modified_us + 5'000'000);
  auto head = store_->HeadObject("dest", "copy");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(head->user_metadata, attributes.user_metadata);
  EXPECT_EQ(Get("dest", "copy"), "copy me");
  EXPECT_EQ(BlobCount(), 1u);

  ObjectAttributes replacement;
  replacement.content_type = "application/octet-stream";
  replacement.user_metadata = {{"shape", "round"}};
  auto replaced = store_->CopyObject("landing", "src", "dest", "copy", replacement);
  ASSERT_TRUE(replaced.ok());
  head = store_->HeadObject("dest", "copy");
  EXPECT_EQ(head->content_type, "application/octet-stream");
  EXPECT_EQ(head->user_metadata, replacement.user_metadata);
  EXPECT_EQ(head->etag, source.etag);

  // Onto itself: only with REPLACE.
  EXPECT_EQ(S3Code(store_->CopyObject("landing", "src", "landing", "src", std::nullopt).status()),
            "InvalidRequest");
  ASSERT_TRUE(store_->CopyObject("landing", "src", "landing", "src", replacement).ok());
  EXPECT_EQ(store_->HeadObject("landing", "src")->user_metadata, replacement.user_metadata);

  EXPECT_EQ(S3Code(store_->CopyObject("landing", "nope", "dest", "x", std::nullopt).status()),
            "NoSuchKey");
  EXPECT_EQ(S3Code(store_->CopyObject("nob", "src", "dest", "x", std::nullopt).status()),
            "NoSuchBucket");
  EXPECT_EQ(S3Code(store_->CopyObject("landing", "src", "nob", "x", std::nullopt).status()),
            "NoSuchBucket");
  EXPECT_EQ(S3Code(store_->CopyObject("landing", "src", "raw", "x", std::nullopt).status()),
            "AccessDenied");

  // The blob stays while any copy names it.
  ASSERT_TRUE(store_->DeleteObject("landing", "src").ok());
  EXPECT_EQ(Get("dest", "copy"), "copy me");
  ASSERT_TRUE(store_->DeleteObject("dest", "copy").ok());
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(BucketStoreTest, ListingWithPrefixDelimiterAndPagination) {
  ASSERT_TRUE(store_->CreateBucket("many").ok());
  std::set<std::string> keys;
  for (int i = 0; i < 2'500; ++i) {
    std::string n = std::to_string(i);
    switch (i % 5) {
      case 0: keys.insert("dir" + std::to_string(i % 7) + "/file " + n + ".txt"); break;
      case 1: keys.insert("plus+percent%" + n); break;
      case 2: keys.insert("ünïcode/日本/" + n); break;
      case 3: keys.insert("folder" + std::to_string(i % 3) + "/" + n + "/"); break;
      default: keys.insert("top-" + n); break;
    }
  }
  keys.insert("dir0/");
  keys.insert("a");
  keys.insert("a/b");
  // The same bytes for every key: one blob, so the test costs one commit per key.
  for (const std::string& key : keys) Put("many", key, "v");

  // Everything, 1,000 at a time, in byte order.
  int pages = 0;
  ListRequest all;
  std::vector<std::string> listed = ListAll("many", all, &pages);
  EXPECT_EQ(listed, std::vector<std::string>(keys.begin(), keys.end()));
  EXPECT_EQ(pages, 3);

  // Small pages.
  ListRequest small;
  small.max_keys = 7;
  listed = ListAll("many", small, &pages);
  EXPECT_EQ(listed, std::vector<std::string>(keys.begin(), keys.end()));
  EXPECT_EQ(pages, static_cast<int>((keys.size() + 6) / 7));

  // Delimiter at the top: common prefixes plus top-level keys, each counted once.
  std::set<std::string> top;
  for (const std::string& key : keys) {
    size_t slash = key.find('/');
    top.insert(slash == std::string::npos ? key : key.substr(0, slash + 1));
  }
  ListRequest grouped;
  grouped.delimiter = "/";
  grouped.max_keys = 10;
  listed = ListAll("many", grouped, &pages);
  EXPECT_EQ(listed, std::vector<std::string>(top.begin(), top.end()));

  // One page with a delimiter: prefixes land in common_prefixes, not objects, and count against
  // max_keys (1,013 top-level entries: the page is truncated after the 1,000th).
  ASSERT_GT(top.size(), 1000u);
  grouped.max_keys = 1000;
  auto page = store_->ListObjects("many", grouped);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->objects.size() + page->common_prefixes.size(), 1000u);
  EXPECT_EQ(page->next_marker, *std::next(top.begin(), 999));
  std::set<std::string> prefixes(page->common_prefixes.begin(), page->common_prefixes.end());
  EXPECT_TRUE(prefixes.count("dir0/"));
  EXPECT_TRUE(prefixes.count("a/"));
  EXPECT_FALSE(prefixes.count("ünïcode/"));  // sorts after every ASCII key: on the next page
  EXPECT_TRUE(std::is_sorted(page->common_prefixes.begin(), page->common_prefixes.end()));
  for (const ObjectInfo& o : page->objects) EXPECT_EQ(o.key.find('/'), std::string::npos);

  // Prefix and delimiter together, with a key equal to the prefix folder itself.
  ListRequest in_dir;
  in_dir.prefix = "dir0/";
  in_dir.delimiter = "/";
  std::vector<std::string> expected;
  for (const std::string& key : keys) {
    if (key.rfind("dir0/", 0) == 0) expected.push_back(key);
  }
  listed = ListAll("many", in_dir, &pages);
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(listed.front(), "dir0/");

  // Nested: the second level of unicode folders.
  ListRequest nested;
  nested.prefix = "ünïcode/";
  nested.delimiter = "/";
  page = store_->ListObjects("many", nested);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"ünïcode/日本/"});
  EXPECT_TRUE(page->objects.empty());

  // Prefix that matches nothing; prefix with '+' and '%'.
  ListRequest none;
  none.prefix = "zzz";
  page = store_->ListObjects("many", none);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_FALSE(page->truncated);
  ListRequest plus;
  plus.prefix = "plus+percent%1";
  size_t expected_plus = 0;
  for (const std::string& key : keys) expected_plus += key.rfind(plus.prefix, 0) == 0;
  listed = ListAll("many", plus, &pages);
  EXPECT_EQ(listed.size(), expected_plus);

  // start_after is exclusive; a marker equal to a common prefix skips everything under it.
  ListRequest after;
  after.start_after = "a";
  after.max_keys = 2;
  page = store_->ListObjects("many", after);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a/b");
  EXPECT_TRUE(page->truncated);
  ListRequest after_prefix;
  after_prefix.delimiter = "/";
  after_prefix.start_after = "dir0/";
  page = store_->ListObjects("many", after_prefix);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->common_prefixes.empty());
  EXPECT_EQ(page->common_prefixes.front(), "dir1/");

  // Listed objects carry their info.
  ListRequest one;
  one.prefix = "top-4";
  one.max_keys = 1;
  page = store_->ListObjects("many", one);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "top-4");
  EXPECT_EQ(page->objects[0].size, 1u);
  EXPECT_EQ(page->objects[0].etag, "\"" + HexEncode(Md5("v")) + "\"");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_marker, "top-4");

  ListRequest zero;
  zero.max_keys = 0;
  page = store_->ListObjects("many", zero);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());

  EXPECT_EQ(S3Code(store_->ListObjects("nob", all).status()), "NoSuchBucket");
}

TEST_F(BucketStoreTest, ListingOrderIsUtf8ByteOrder) {
  // Byte order: "A" < "B" < "a" < "é" (0xC3 0xA9) < "𝄞" (0xF0 ...); case and accents do not fold.
  for (const char* key : {"é", "a", "B", "𝄞", "A", "a/", "a b", "a+b", "a%b"}) {
    Put("landing", key, "x");
  }
  auto page = store_->ListObjects("landing", {});
  ASSERT_TRUE(page.ok());
  std::vector<std::string> keys;
  for (const ObjectInfo& o : page->objects) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"A", "B", "a", "a b", "a%b", "a+b", "a/", "é", "𝄞"}));
}

TEST_F(BucketStoreTest, MultipartOutOfOrderAndReplacedParts) {
  const std::string part1(2048, 'a');
  const std::string part2(3000, 'b');
  const std::string part3 = "tail";
  ObjectAttributes attributes;
  attributes.content_type = "application/x-big";
  attributes.user_metadata = {{"origin", "multipart"}};
  auto upload = store_->CreateMultipartUpload("landing", "big.bin", attributes);
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  EXPECT_EQ(upload->upload_id.size(), 32u);
  EXPECT_TRUE(fs::is_directory(uploads() + "/" + upload->upload_id));

  const std::string id = upload->upload_id;
  auto p3 = store_->UploadPart("landing", "big.bin", id, 3, part3, {});
  ASSERT_TRUE(p3.ok()) << p3.status().ToString();
  auto wrong1 = store_->UploadPart("landing", "big.bin", id, 1, std::string(2048, 'z'), {});
  ASSERT_TRUE(wrong1.ok());
  auto p2 = store_->UploadPart("landing", "big.bin", id, 2, part2, {{"crc32", "QUJD"}});
  ASSERT_TRUE(p2.ok());
  auto p1 = store_->UploadPart("landing", "big.bin", id, 1, part1, {});  // replaces part 1
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->etag, "\"" + HexEncode(Md5(part1)) + "\"");
  EXPECT_NE(p1->etag, wrong1->etag);

  bool truncated = true;
  auto parts = store_->ListParts("landing", "big.bin", id, 0, 1000, &truncated);
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_FALSE(truncated);
  EXPECT_EQ((*parts)[0].part_number, 1);
  EXPECT_EQ((*parts)[0].etag, p1->etag);
  EXPECT_EQ((*parts)[1].size, part2.size());
  EXPECT_EQ((*parts)[1].checksums, (std::map<std::string, std::string>{{"crc32", "QUJD"}}));
  parts = store_->ListParts("landing", "big.bin", id, 1, 1, &truncated);
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].part_number, 2);
  EXPECT_TRUE(truncated);
  // The replaced part's file is gone from staging: three part files remain.
  size_t staged = 0;
  for (const auto& e : fs::directory_iterator(uploads() + "/" + id)) staged += e.is_regular_file();
  EXPECT_EQ(staged, 3u);

  auto uploads_listed = store_->ListMultipartUploads("landing", "big");
  ASSERT_TRUE(uploads_listed.ok());
  ASSERT_EQ(uploads_listed->size(), 1u);
  EXPECT_EQ((*uploads_listed)[0].upload_id, id);
  EXPECT_TRUE(store_->ListMultipartUploads("landing", "other")->empty());

  // Quotes on the client's ETags are optional.
  std::vector<CompletedPart> completed = {
      {1, p1->etag}, {2, p2->etag.substr(1, p2->etag.size() - 2)}, {3, p3->etag}};
  auto done = store_->CompleteMultipartUpload("landing", "big.bin", id, completed);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  const std::string digests = std::string(reinterpret_cast<const char*>(Md5(part1).data()), 16) +
                              std::string(reinterpret_cast<const char*>(Md5(part2).data()), 16) +
                              std::string(reinterpret_cast<const char*>(Md5(part3).data()), 16);
  EXPECT_EQ(done->etag, "\"" + HexEncode(Md5(digests)) + "-3\"");
  EXPECT_EQ(done->size, part1.size() + part2.size() + part3.size());
  EXPECT_EQ(done->parts_count, 3);
  EXPECT_EQ(done->sha256, HexEncode(Sha256(part1 + part2 + part3)));
  EXPECT_EQ(Get("landing", "big.bin"), part1 + part2 + part3);
  auto head = store_->HeadObject("landing", "big.bin");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, done->etag);
  EXPECT_EQ(head->content_type, "application/x-big");
  EXPECT_EQ(head->user_metadata, attributes.user_metadata);
  EXPECT_EQ(head->parts_count, 3);

  // Staging is gone, and the upload with it.
  EXPECT_FALSE(fs::exists(uploads() + "/" + id));
  EXPECT_EQ(S3Code(store_->CompleteMultipartUpload("landing", "big.bin", id, completed).status()),
            "NoSuchUpload");
  EXPECT_TRUE(store_->ListMultipartUploads("landing", "")->empty());
}

TEST_F(BucketStoreTest, MultipartEtagMatchesAnIndependentlyComputedValue) {
  // Parts of 5 MiB of 'a' and "hello multipart", with the default minimum part size. Expected
  // value from Python: md5(md5(p1).digest() + md5(p2).digest()).hexdigest() + "-2".
  BucketStoreOptions options = Options();
  options.min_part_bytes = 5ULL << 20;
  Reopen(options);
  auto upload = store_->CreateMultipartUpload("landing", "five", {});
  ASSERT_TRUE(upload.ok());
  auto p1 =
      store_->UploadPart("landing", "five", upload->upload_id, 1, std::string(5 << 20, 'a'), {});
  auto p2 = store_->UploadPart("landing", "five", upload->upload_id, 2, "hello multipart", {});
  ASSERT_TRUE(p1.ok() && p2.ok());
  auto done = store_->CompleteMultipartUpload("landing", "five", upload->upload_id,
                                              {{1, p1->etag}, {2, p2->etag}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->etag, "\"a64b4f7b74ca8098f6c70d9c356efd08-2\"");
}

TEST_F(BucketStoreTest, MultipartValidation) {
  auto upload = store_->CreateMultipartUpload("landing", "k", {});
  ASSERT_TRUE(upload.ok());
  const std::string id = upload->upload_id;
  auto p1 = store_->UploadPart("landing", "k", id, 1, std::string(2000, 'x'), {});
  auto p2 = store_->UploadPart("landing", "k", id, 2, std::string(10, 'y'), {});
  auto p3 = store_->UploadPart("landing", "k", id, 3, std::string(10, 'z'), {});
  ASSERT_TRUE(p1.ok() && p2.ok() && p3.ok());

  EXPECT_EQ(S3Code(store_->UploadPart("landing", "k", id, 0, "x", {}).status()), "InvalidArgument");
  EXPECT_EQ(S3Code(store_->UploadPart("landing", "k", id, 10'001, "x", {}).status()),
            "InvalidArgument");
  EXPECT_EQ(
      S3Code(store_->UploadPart("landing", "k", "0123456789abcdef0123456789abcdef", 1, "x", {})
                 .status()),
      "NoSuchUpload");
  EXPECT_EQ(S3Code(store_->UploadPart("landing", "k", "../../etc", 1, "x", {}).status()),
            "NoSuchUpload");
  EXPECT_EQ(S3Code(store_->UploadPart("landing", "other-key", id, 1, "x", {}).status()),
            "NoSuchUpload");
  EXPECT_EQ(S3Code(store_->UploadPart("raw", "k", id, 1, "x", {}).status()), "AccessDenied");

  auto complete = [&](std::vector<CompletedPart> parts) {
    return store_->CompleteMultipartUpload("landing", "k", id, parts).status();
  };
  EXPECT_EQ(S3Code(complete({{2, p2->etag}, {1, p1->etag}})), "InvalidPartOrder");
  EXPECT_EQ(S3Code(complete({{1, p1->etag}, {1, p1->etag}})), "InvalidPartOrder");
  EXPECT_EQ(S3Code(complete({{1, p1->etag}, {2, p3->etag}})), "InvalidPart");  // wrong ETag
  EXPECT_EQ(S3Code(complete({{1, p1->etag}, {4, p3->etag}})), "InvalidPart");  // never uploaded
  // Part 2 (10 bytes) is below the 1 KiB minimum and not last.
  Status too_small = complete({{1, p1->etag}, {2, p2->etag}, {3, p3->etag}});
  EXPECT_EQ(S3Code(too_small), "EntityTooSmall");
  EXPECT_EQ(S3Code(complete({})), "MalformedXML");
  EXPECT_EQ(
      S3Code(store_->CompleteMultipartUpload("landing", "wrong", id, {{1, p1->etag}}).status()),
      "NoSuchUpload");

  // None of that touched the upload: skipping part 2 works (parts need not be contiguous).
  auto done = store_->CompleteMultipartUpload("landing", "k", id, {{1, p1->etag}, {3, p3->etag}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(Get("landing", "k"), std::string(2000, 'x') + std::string(10, 'z'));
  EXPECT_EQ(done->etag.substr(done->etag.size() - 3), "-2\"");
}

TEST_F(BucketStoreTest, ADamagedStagedPartIsNeverCompleted) {
  auto upload = store_->CreateMultipartUpload("landing", "k", {});
  ASSERT_TRUE(upload.ok());
  auto p1 = store_->UploadPart("landing", "k", upload->upload_id, 1, "some part bytes", {});
  ASSERT_TRUE(p1.ok());
  for (const auto& e : fs::directory_iterator(uploads() + "/" + upload->upload_id)) {
    fs::resize_file(e.path(), 4);
  }
  auto done = store_->CompleteMultipartUpload("landing", "k", upload->upload_id, {{1, p1->etag}});
  EXPECT_EQ(S3Code(done.status()), "InvalidPart");
  EXPECT_EQ(S3Code(store_->HeadObject("landing", "k").status()), "NoSuchKey");
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(BucketStoreTest, AbortRemovesTheUploadAndItsParts) {
  auto upload = store_->CreateMultipartUpload("landing", "k", {});
  ASSERT_TRUE(upload.ok());
  const std::string id = upload->upload_id;
  ASSERT_TRUE(store_->UploadPart("landing", "k", id, 1, "abc", {}).ok());
  EXPECT_EQ(S3Code(store_->AbortMultipartUpload("landing", "other", id)), "NoSuchUpload");
  ASSERT_TRUE(store_->AbortMultipartUpload("landing", "k", id).ok());
  EXPECT_FALSE(fs::exists(uploads() + "/" + id));
  EXPECT_EQ(S3Code(store_->AbortMultipartUpload("landing", "k", id)), "NoSuchUpload");
  EXPECT_EQ(S3Code(store_->UploadPart("landing", "k", id, 2, "x", {}).status()), "NoSuchUpload");
  EXPECT_EQ(S3Code(store_->ListParts("landing", "k", id, 0, 10, nullptr).status()), "NoSuchUpload");
  EXPECT_EQ(S3Code(store_->HeadObject("landing", "k").status()), "NoSuchKey");
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(BucketStoreTest, ConcurrentPartsAndPuts) {
  auto upload = store_->CreateMultipartUpload("landing", "parallel", {});
  ASSERT_TRUE(upload.ok());
  const int kParts = 8;
  std::vector<std::string> bodies(kParts);
  for (int i = 0; i < kParts; ++i) bodies[i] = std::string(1500 + i, static_cast<char>('a' + i));
  std::vector<std::string> etags(kParts);
  std::vector<std::thread> threads;
  for (int i = kParts - 1; i >= 0; --i) {
    threads.emplace_back([&, i] {
      auto part =
          store_->UploadPart("landing", "parallel", upload->upload_id, i + 1, bodies[i], {});
      if (part.ok()) etags[i] = part->etag;
      // Meanwhile, plain PUTs of shared and distinct bytes.
      Put("landing", "p" + std::to_string(i), "shared");
      Put("landing", "q" + std::to_string(i), bodies[i]);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<CompletedPart> completed;
  std::string whole;
  for (int i = 0; i < kParts; ++i) {
    ASSERT_FALSE(etags[i].empty()) << i;
    completed.push_back({i + 1, etags[i]});
    whole += bodies[i];
  }
  auto done = store_->CompleteMultipartUpload("landing", "parallel", upload->upload_id, completed);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(Get("landing", "parallel"), whole);
  for (int i = 0; i < kParts; ++i) EXPECT_EQ(Get("landing", "p" + std::to_string(i)), "shared");
}

TEST_F(BucketStoreTest, ConcurrentPutsAndDeletesOfTheSameBytesNeverLoseABlob) {
  // Every thread keeps putting and deleting its own key with the same bytes, so the shared blob
  // keeps losing its last reference and being collected while other PUTs are about to name it.
  const int kThreads = 4;
  const int kRounds = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = "k" + std::to_string(t);
      for (int i = 0; i < kRounds; ++i) {
        Put("landing", key, "contended bytes");
        EXPECT_EQ(Get("landing", key), "contended bytes");
        if (i + 1 < kRounds) {
          EXPECT_TRUE(store_->DeleteObject("landing", key).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Get("landing", "k" + std::to_string(t)), "contended bytes");
  }
  EXPECT_EQ(BlobCount(), 1u);
  Reopen();
  EXPECT_EQ(Get("landing", "k0"), "contended bytes");
}

TEST_F(BucketStoreTest, PutIntoADeletedBucketStoresNothing) {
  ASSERT_TRUE(store_->CreateBucket("short-lived").ok());
  ASSERT_TRUE(store_->DeleteBucket("short-lived").ok());
  EXPECT_EQ(S3Code(store_->PutObject("short-lived", "k", "bytes", {}).status()), "NoSuchBucket");
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(BucketStoreTest, ReopenKeepsEverything) {
  ASSERT_TRUE(store_->CreateBucket("kept").ok());
  Put("kept", "a/b", "bytes of b");
  auto upload = store_->CreateMultipartUpload("kept", "mp", {});
  ASSERT_TRUE(upload.ok());
  auto p1 = store_->UploadPart("kept", "mp", upload->upload_id, 1, "part one", {});
  ASSERT_TRUE(p1.ok());
  Reopen();
  EXPECT_TRUE(store_->GetBucket("kept").ok());
  EXPECT_EQ(Get("kept", "a/b"), "bytes of b");
  auto parts = store_->ListParts("kept", "mp", upload->upload_id, 0, 100, nullptr);
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 1u);
  auto done = store_->CompleteMultipartUpload("kept", "mp", upload->upload_id, {{1, p1->etag}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  Reopen();
  EXPECT_EQ(Get("kept", "mp"), "part one");
  EXPECT_EQ(store_->HeadObject("kept", "mp")->etag, done->etag);
  EXPECT_TRUE(store_->GetBucket("landing").ok());
}

TEST_F(BucketStoreTest, OpenRemovesWhatACrashLeftBehind) {
  Put("landing", "kept", "kept bytes");
  auto upload = store_->CreateMultipartUpload("landing", "mp", {});
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE(store_->UploadPart("landing", "mp", upload->upload_id, 1, "part", {}).ok());
  store_.reset();
  // A blob written but never committed, staging of an upload that is gone, and a part file whose
  // row was never committed.
  const std::string orphan_sha = HexEncode(Sha256("orphan"));
  const std::string orphan = blobs() + "/" + orphan_sha.substr(0, 2) + "/" + orphan_sha;
  WriteFile(orphan, "orphan");
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(2));
  // A young one may be another process's PUT about to commit: it stays.
  const std::string young_sha = HexEncode(Sha256("young"));
  const std::string young = blobs() + "/" + young_sha.substr(0, 2) + "/" + young_sha;
  WriteFile(young, "young");
  WriteFile(uploads() + "/ffffffffffffffffffffffffffffffff/part-00001-x", "stale");
  WriteFile(uploads() + "/" + upload->upload_id + "/part-00002-uncommitted", "stale");
  Reopen();
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(young));
  fs::remove(young);
  EXPECT_FALSE(fs::exists(uploads() + "/ffffffffffffffffffffffffffffffff"));
  EXPECT_FALSE(fs::exists(uploads() + "/" + upload->upload_id + "/part-00002-uncommitted"));
  EXPECT_EQ(Get("landing", "kept"), "kept bytes");
  EXPECT_EQ(store_->ListParts("landing", "mp", upload->upload_id, 0, 10, nullptr)->size(), 1u);
  EXPECT_EQ(BlobCount(), 1u);
}

TEST_F(BucketStoreTest, SizeLimits) {
  BucketStoreOptions options = Options();
  options.max_object_bytes = 100;
  Reopen(options);
  auto big = store_->PutObject("landing", "big", std::string(101, 'x'), {});
  EXPECT_EQ(big.status().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(S3Code(big.status()), "EntityTooLarge");
  EXPECT_TRUE(store_->PutObject("landing", "ok", std::string(100, 'x'), {}).ok());
}

// ---- Zone buckets ----

class ZoneBucketTest : public BucketStoreTest {
 protected:
  void SetUp() override {
    WriteFile(lake() + "/raw/events/part-0.parquet", "parquet zero");
    WriteFile(lake() + "/raw/events/date=2024-01-01/part-1.parquet", "parquet one");
    WriteFile(lake() + "/raw/objects/ab/abcdef", "blob");
    WriteFile(lake() + "/raw/_tmp/hidden", "hidden");
    WriteFile(lake() + "/raw/events/_staging/x.parquet", "hidden");
    WriteFile(lake() + "/raw/events/.hidden", "hidden");
    WriteFile(lake() + "/raw/events/part-2.parquet.tmp", "being written");
    WriteFile(lake() + "/raw/top.json", "{}");
    WriteFile(temp_.path() + "/secret.txt", "outside the lake");
    WriteFile(lake() + "/curated/c.csv", "a,b\n");
    BucketStoreTest::SetUp();
  }
};

TEST_F(ZoneBucketTest, ListsVisibleFilesInKeyOrder) {
  int pages = 0;
  std::vector<std::string> listed = ListAll("raw", {}, &pages);
  EXPECT_EQ(listed,
            (std::vector<std::string>{"events/date=2024-01-01/part-1.parquet",
                                      "events/part-0.parquet", "objects/ab/abcdef", "top.json"}));
  ListRequest grouped;
  grouped.delimiter = "/";
  auto page = store_->ListObjects("raw", grouped);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"events/", "objects/"}));
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "top.json");
  EXPECT_EQ(page->objects[0].etag, "\"" + HexEncode(Md5("{}")) + "\"");
  EXPECT_EQ(page->objects[0].size, 2u);

  ListRequest in_events;
  in_events.prefix = "events/part";
  page = store_->ListObjects("raw", in_events);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "events/part-0.parquet");

  ListRequest paged;
  paged.max_keys = 1;
  listed = ListAll("raw", paged, &pages);
  EXPECT_EQ(listed.size(), 4u);
  EXPECT_EQ(pages, 4);

  EXPECT_TRUE(store_->ListObjects("processed", {})->objects.empty());  // no folder yet
  EXPECT_EQ(store_->ListObjects("curated", {})->objects.size(), 1u);
  ListRequest hidden;
  hidden.prefix = "_tmp/";
  EXPECT_TRUE(store_->ListObjects("raw", hidden)->objects.empty());
  ListRequest escape;
  escape.prefix = "../";
  EXPECT_TRUE(store_->ListObjects("raw", escape)->objects.empty());
}

TEST_F(ZoneBucketTest, ReadsFilesWithCachedEtags) {
  auto reader = store_->OpenObject("raw", "events/part-0.parquet");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(ReadAll(reader->path), "parquet zero");
  EXPECT_EQ(reader->info.etag, "\"" + HexEncode(Md5("parquet zero")) + "\"");
  EXPECT_EQ(reader->info.size, 12u);
  EXPECT_TRUE(reader->info.sha256.empty());
  EXPECT_GT(reader->info.last_modified_us, 0);

  // The ETag is cached by (path, size, mtime); a rewritten file gets a fresh one.
  WriteFile(lake() + "/raw/events/part-0.parquet", "parquet zero, rewritten");
  auto head = store_->HeadObject("raw", "events/part-0.parquet");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->etag, "\"" + HexEncode(Md5("parquet zero, rewritten")) + "\"");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((temp_.path() + "/data/buckets/index.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM zone_etags", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(ZoneBucketTest, KeysCannotEscapeTheZone) {
  fs::create_symlink(temp_.path() + "/secret.txt", lake() + "/raw/link-out");
  fs::create_symlink(temp_.path(), lake() + "/raw/dir-out");
  fs::create_symlink(lake() + "/raw/top.json", lake() + "/raw/events/link-in");
  for (const std::string& key : std::vector<std::string>{
           "../secret.txt", "events/../../secret.txt", "events/../top.json", "./top.json",
           "events//part-0.parquet", "/top.json", std::string("top.json\0x", 10), "link-out",
           "dir-out/secret.txt", "_tmp/hidden", "events/.hidden", "events/part-2.parquet.tmp",
           "events", "events/", "", "nope"}) {
    auto reader = store_->OpenObject("raw", key);
    EXPECT_EQ(reader.status().code(), ErrorCode::kNotFound) << key;
    EXPECT_EQ(S3Code(reader.status()), "NoSuchKey") << key;
  }
  // A link inside the zone to a file inside the zone is fine to read, but is not listed.
  auto inside = store_->OpenObject("raw", "events/link-in");
  ASSERT_TRUE(inside.ok());
  EXPECT_EQ(ReadAll(inside->path), "{}");
  int pages = 0;
  std::vector<std::string> listed = ListAll("raw", {}, &pages);
  EXPECT_EQ(std::count(listed.begin(), listed.end(), "link-out"), 0);
  EXPECT_EQ(std::count(listed.begin(), listed.end(), "events/link-in"), 0);
  ListRequest through_link;
  through_link.prefix = "dir-out/";
  EXPECT_TRUE(store_->ListObjects("raw", through_link)->objects.empty());
}

TEST_F(ZoneBucketTest, WritesAreDenied) {
  for (const char* zone : {"raw", "processed", "curated", "quarantine"}) {
    auto put = store_->PutObject(zone, "x", "y", {});
    EXPECT_EQ(put.status().code(), ErrorCode::kAccessDenied) << zone;
    EXPECT_EQ(S3Code(put.status()), "AccessDenied");
    EXPECT_EQ(S3Code(store_->DeleteObject(zone, "top.json")), "AccessDenied");
    EXPECT_EQ(S3Code(store_->CreateMultipartUpload(zone, "x", {}).status()), "AccessDenied");
  }
  EXPECT_TRUE(fs::exists(lake() + "/raw/top.json"));
}

TEST_F(ZoneBucketTest, CopyFromAZoneIntoAStoredBucket) {
  auto copied = store_->CopyObject("raw", "top.json", "landing", "copied.json", std::nullopt);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(copied->etag, "\"" + HexEncode(Md5("{}")) + "\"");
  EXPECT_EQ(Get("landing", "copied.json"), "{}");
  EXPECT_EQ(
      S3Code(store_->CopyObject("raw", "../secret.txt", "landing", "s", std::nullopt).status()),
      "NoSuchKey");
}

TEST_F(ZoneBucketTest, NoZoneBucketsWithoutALake) {
  BucketStoreOptions options = Options();
  options.lake_root.clear();
  Reopen(options);
  std::vector<std::string> names;
  for (const BucketInfo& b : store_->ListBuckets()) names.push_back(b.name);
  EXPECT_EQ(names, std::vector<std::string>{"landing"});
  EXPECT_EQ(S3Code(store_->OpenObject("raw", "top.json").status()), "NoSuchBucket");
  EXPECT_EQ(S3Code(store_->CreateBucket("raw")), "AccessDenied");
}

// A sorted list of keys; keys in `vanished` were found but are gone when their info is read.
class VectorCursor final : public bucket_internal::KeyCursor {
 public:
  VectorCursor(std::vector<std::string> keys, std::set<std::string> vanished)
      : keys_(std::move(keys)), vanished_(std::move(vanished)) {}
  Result<bool> Seek(std::string_view lower) override {
    ++seeks;
    at_ = std::lower_bound(keys_.begin(), keys_.end(), lower) - keys_.begin();
    return at_ < keys_.size();
  }
  Result<bool> Next() override { return ++at_ < keys_.size(); }
  std::string_view key() const override { return keys_[at_]; }
  Result<std::optional<ObjectInfo>> Info() override {
    if (vanished_.count(keys_[at_])) return std::optional<ObjectInfo>();
    ObjectInfo info;
    info.key = keys_[at_];
    return std::optional<ObjectInfo>(info);
  }
  int seeks = 0;

 private:
  std::vector<std::string> keys_;
  std::set<std::string> vanished_;
  size_t at_ = 0;
};

TEST(ListKeysTest, SkipsVanishedObjectsAndSeeksPastCommonPrefixes) {
  std::vector<std::string> keys = {"a", "b", "c/1", "c/2", "c/3", "d"};
  VectorCursor cursor(keys, {"b"});
  ListRequest request;
  request.delimiter = "/";
  request.max_keys = 2;
  auto page = bucket_internal::ListKeys(cursor, request);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "a");
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"c/"});
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_marker, "c/");
  EXPECT_EQ(cursor.seeks, 2);  // the start, and once past "c/" (not one step per key under it)

  request.start_after = page->next_marker;
  page = bucket_internal::ListKeys(cursor, request);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "d");
  EXPECT_TRUE(page->common_prefixes.empty());
  EXPECT_FALSE(page->truncated);
}

TEST(ListKeysTest, PrefixUpperBound) {
  EXPECT_EQ(bucket_internal::PrefixUpperBound("abc"), "abd");
  EXPECT_EQ(bucket_internal::PrefixUpperBound("a/"), "a0");
  EXPECT_EQ(bucket_internal::PrefixUpperBound("a\xff\xff"), "b");
  EXPECT_EQ(bucket_internal::PrefixUpperBound("\xff"), std::nullopt);
  EXPECT_EQ(bucket_internal::PrefixUpperBound(""), std::nullopt);
}

TEST(S3ErrorNameTest, OnlyKnownPrefixes) {
  EXPECT_EQ(S3ErrorName(Error(ErrorCode::kNotFound, "NoSuchKey: gone")), "NoSuchKey");
  EXPECT_EQ(S3ErrorName(Error(ErrorCode::kIoError, "write /x: disk")), "");
  EXPECT_EQ(S3ErrorName(Error(ErrorCode::kIoError, "no colon")), "");
  EXPECT_EQ(S3ErrorName(Status::Ok()), "");
}

}  // namespace
}  // namespace basin::storage
