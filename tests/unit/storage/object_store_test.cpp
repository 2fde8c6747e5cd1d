#include "storage/object_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "base/hash.h"
#include "unit/temp_dir.h"

namespace basin::storage {
namespace {
namespace fs = std::filesystem;

// The SHA-256 of "hello\n" (sha256sum).
constexpr const char* kHelloSha =
    "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore({}); }

  void OpenStore(ObjectStoreOptions options) {
    store_.reset();
    auto store = ObjectStore::Open(root(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::string root() const { return ObjectStore::RootUnderLake(temp_.path() + "/lake"); }

  std::string WriteLocalFile(const std::string& name, const std::string& bytes) {
    const std::string path = temp_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Every regular file under the store root, blobs and temp files alike.
  std::vector<std::string> FilesInStore() const {
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(root())) {
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), root()).string());
    }
    return files;
  }

  test::TempDir temp_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(ObjectStoreTest, RootIsRawObjectsUnderTheLake) {
  EXPECT_EQ(ObjectStore::RootUnderLake("/data/lake"), "/data/lake/raw/objects");
  EXPECT_EQ(ObjectStore::RootUnderLake("/data/lake/"), "/data/lake/raw/objects");
  EXPECT_TRUE(fs::is_directory(root()));
}

TEST_F(ObjectStoreTest, PutBytesStoresUnderTheContentAddress) {
  auto put = store_->PutBytes("hello\n");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->sha256, kHelloSha);
  EXPECT_EQ(put->size_bytes, 6u);
  EXPECT_FALSE(put->already_stored);
  const std::string expected = root() + "/58/" + kHelloSha;
  EXPECT_EQ(*store_->Path(kHelloSha), expected);
  EXPECT_TRUE(fs::is_regular_file(expected));
  EXPECT_EQ(*store_->Read(kHelloSha, 100), "hello\n");
  EXPECT_EQ(*store_->Size(kHelloSha), 6u);
  EXPECT_TRUE(*store_->Exists(kHelloSha));
  EXPECT_EQ(FilesInStore(), std::vector<std::string>{std::string("58/") + kHelloSha});
}

TEST_F(ObjectStoreTest, PutFileStreamsAndHashesTheFile) {
  // Larger than one copy block, so the hash covers several reads.
  std::string bytes;
  for (int i = 0; i < 100'000; ++i) bytes += "line " + std::to_string(i) + "\n";
  const std::string path = WriteLocalFile("big.txt", bytes);
  auto put = store_->PutFile(path);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->sha256, HexEncode(Sha256(bytes)));
  EXPECT_EQ(put->size_bytes, bytes.size());
  EXPECT_EQ(*store_->Read(put->sha256, bytes.size()), bytes);
}

TEST_F(ObjectStoreTest, SameContentTwiceIsStoredOnce) {
  const std::string a = WriteLocalFile("a.txt", "hello\n");
  const std::string b = WriteLocalFile("b.bin", "hello\n");
  auto first = store_->PutFile(a);
  auto second = store_->PutFile(b);
  auto third = store_->PutBytes("hello\n");
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  EXPECT_FALSE(first->already_stored);
  EXPECT_TRUE(second->already_stored);
  EXPECT_TRUE(third->already_stored);
  EXPECT_EQ(first->sha256, second->sha256);
  EXPECT_EQ(FilesInStore().size(), 1u);  // one blob, no temp files left

  auto other = store_->PutBytes("hello!\n");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->already_stored);
  EXPECT_EQ(FilesInStore().size(), 2u);
}

TEST_F(ObjectStoreTest, SizeLimitLeavesNothingBehind) {
  OpenStore({.max_object_bytes = 10});
  auto at_limit = store_->PutBytes("0123456789");
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().ToString();
  auto over = store_->PutBytes("0123456789a");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), ErrorCode::kPayloadTooLarge);
  auto over_file = store_->PutFile(WriteLocalFile("big", std::string(11, 'x')));
  ASSERT_FALSE(over_file.ok());
  EXPECT_EQ(over_file.status().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(FilesInStore().size(), 1u);  // only the blob at the limit
}

TEST_F(ObjectStoreTest, SizeLimitHoldsWhileStreamingAFileWhoseSizeWasNotKnown) {
  // /proc files are regular files that report size 0 to fstat, like a file that grows after it
  // was opened: only the check while copying can stop them.
  OpenStore({.max_object_bytes = 16});
  struct stat st {};
  ASSERT_EQ(::stat("/proc/self/status", &st), 0);
  ASSERT_EQ(st.st_size, 0);
  auto put = store_->PutFile("/proc/self/status");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_TRUE(FilesInStore().empty());
}

TEST_F(ObjectStoreTest, NotARegularFileOrMissingFileIsATypedError) {
  auto dir = store_->PutFile(temp_.path());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), ErrorCode::kInvalidArgument);
  auto missing = store_->PutFile(temp_.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(FilesInStore().empty());
}

TEST_F(ObjectStoreTest, InvalidKeysAreRejected) {
  for (std::string key :
       {std::string(""), std::string("../../etc/passwd"), std::string(kHelloSha).substr(0, 63),
        std::string(kHelloSha) + "0",
        std::string("5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03"),
        std::string("../") + std::string(kHelloSha).substr(3), std::string(64, 'g'),
        std::string("58/") + std::string(61, '0')}) {
    EXPECT_FALSE(ObjectStore::IsValidKey(key)) << key;
    auto path = store_->Path(key);
    ASSERT_FALSE(path.ok()) << key;
    EXPECT_EQ(path.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Exists(key).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Read(key, 10).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Remove(key).code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ObjectStore::IsValidKey(kHelloSha));
}

TEST_F(ObjectStoreTest, RemoveDeletesTheBlob) {
  ASSERT_TRUE(store_->PutBytes("hello\n").ok());
  ASSERT_TRUE(store_->Remove(kHelloSha).ok());
  EXPECT_FALSE(*store_->Exists(kHelloSha));
  EXPECT_EQ(store_->Remove(kHelloSha).code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->Size(kHelloSha).status().code(), ErrorCode::kNotFound);
  auto again = store_->PutBytes("hello\n");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->already_stored);
}

TEST_F(ObjectStoreTest, ConcurrentPutsOfTheSameContentStoreOneBlob) {
  std::string bytes(64 * 1024, 'z');
  const std::string path = WriteLocalFile("same", bytes);
  constexpr int kThreads = 8;
  std::atomic<int> created{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto put = (t % 2 == 0) ? store_->PutFile(path) : store_->PutBytes(bytes);
      if (!put.ok()) {
        failed++;
      } else if (!put->already_stored) {
        created++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(created.load(), 1);  // exactly one Put created the blob
  EXPECT_EQ(FilesInStore().size(), 1u);
  EXPECT_EQ(*store_->Read(HexEncode(Sha256(bytes)), bytes.size()), bytes);
}

TEST_F(ObjectStoreTest, DamagedBlobIsRepairedByTheNextPut) {
  ASSERT_TRUE(store_->PutBytes("hello\n").ok());
  std::ofstream(*store_->Path(kHelloSha), std::ios::binary | std::ios::trunc) << "hel";
  auto put = store_->PutFile(WriteLocalFile("h", "hello\n"));
  ASSERT_TRUE(put.ok());
  EXPECT_FALSE(put->already_stored);
  EXPECT_EQ(*store_->Read(kHelloSha, 100), "hello\n");
}

TEST_F(ObjectStoreTest, OpenRemovesOnlyStaleTempFiles) {
  const std::string tmp = root() + "/_tmp";
  std::ofstream(tmp + "/put-old") << "partial";
  std::ofstream(tmp + "/put-young") << "in flight";
  fs::last_write_time(tmp + "/put-old", fs::file_time_type::clock::now() - std::chrono::hours(2));
  OpenStore({});
  EXPECT_FALSE(fs::exists(tmp + "/put-old"));
  EXPECT_TRUE(fs::exists(tmp + "/put-young"));
}

}  // namespace
}  // namespace basin::storage
