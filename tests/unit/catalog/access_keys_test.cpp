#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <string>

#include "catalog/catalog.h"
#include "unit/temp_dir.h"

namespace basin::catalog {
namespace {

using test::TempDir;

bool AllOf(std::string_view text, std::string_view alphabet) {
  return std::all_of(text.begin(), text.end(),
                     [&](char c) { return alphabet.find(c) != std::string_view::npos; });
}

class AccessKeysTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    catalog_.reset();
    auto opened = Catalog::Open(DbPath(), &clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened).value();
  }
  std::string DbPath() const { return dir_.path() + "/basin.db"; }
  AccessKey Create(std::string_view user) {
    auto key = catalog_->CreateAccessKey(user);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    return key.ok() ? *key : AccessKey{};
  }
  std::optional<AccessKey> Find(std::string_view id) {
    auto found = catalog_->FindActiveAccessKey(id);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : std::nullopt;
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000'000};
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(AccessKeysTest, NewKeysLookLikeAwsKeysAndAreDistinct) {
  std::set<std::string> ids, secrets;
  for (int i = 0; i < 50; ++i) {
    AccessKey key = Create("alice");
    EXPECT_EQ(key.access_key_id.size(), 20u);
    EXPECT_TRUE(key.access_key_id.starts_with("AKIA")) << key.access_key_id;
    EXPECT_TRUE(AllOf(key.access_key_id.substr(4), "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
        << key.access_key_id;
    EXPECT_EQ(key.secret.size(), 40u);
    EXPECT_TRUE(
        AllOf(key.secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
        << key.secret;
    EXPECT_EQ(key.user_name, "alice");
    EXPECT_EQ(key.created_time_us, clock_.NowMicros());
    EXPECT_TRUE(key.active);
    ids.insert(key.access_key_id);
    secrets.insert(key.secret);
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(secrets.size(), 50u);
}

TEST_F(AccessKeysTest, FindsOnlyActiveKeys) {
  AccessKey alice = Create("alice");
  AccessKey bob = Create("bob@example.com");
  auto found = Find(alice.access_key_id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->secret, alice.secret);
  EXPECT_EQ(found->user_name, "alice");
  EXPECT_EQ(Find(bob.access_key_id)->user_name, "bob@example.com");
  EXPECT_FALSE(Find("AKIAAAAAAAAAAAAAAAAA").has_value());
  EXPECT_FALSE(Find("").has_value());

  ASSERT_TRUE(catalog_->SetAccessKeyActive(alice.access_key_id, false).ok());
  EXPECT_FALSE(Find(alice.access_key_id).has_value());
  EXPECT_TRUE(Find(bob.access_key_id).has_value());
  ASSERT_TRUE(catalog_->SetAccessKeyActive(alice.access_key_id, true).ok());
  EXPECT_EQ(Find(alice.access_key_id)->secret, alice.secret);

  ASSERT_TRUE(catalog_->DeleteAccessKey(alice.access_key_id).ok());
  EXPECT_FALSE(Find(alice.access_key_id).has_value());
  EXPECT_EQ(catalog_->DeleteAccessKey(alice.access_key_id).code(), ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->SetAccessKeyActive(alice.access_key_id, true).code(), ErrorCode::kNotFound);
}

TEST_F(AccessKeysTest, ListsEveryKeyInCreationOrder) {
  AccessKey first = Create("alice");
  clock_.Advance(1'000);
  AccessKey second = Create("bob");
  ASSERT_TRUE(catalog_->SetAccessKeyActive(first.access_key_id, false).ok());
  auto keys = catalog_->ListAccessKeys();
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].access_key_id, first.access_key_id);
  EXPECT_FALSE((*keys)[0].active);
  EXPECT_EQ((*keys)[1].access_key_id, second.access_key_id);
  EXPECT_EQ((*keys)[1].user_name, "bob");
  EXPECT_TRUE((*keys)[1].active);
}

TEST_F(AccessKeysTest, RejectsBadUserNames) {
  for (std::string name : {std::string(), std::string(65, 'a'), std::string("a b"),
                           std::string("a/b"), std::string("ü"), std::string("a\nb")}) {
    auto key = catalog_->CreateAccessKey(name);
    ASSERT_FALSE(key.ok()) << name;
    EXPECT_EQ(key.status().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(catalog_->CreateAccessKey(std::string(64, 'a')).ok());
  EXPECT_TRUE(catalog_->CreateAccessKey("svc_ingest+eu=1,a.b@c-d").ok());
  EXPECT_TRUE(catalog_->ListAccessKeys()->size() == 2u);
}

// `basin keys create` writes while `basin serve` runs: the server's connection must see it.
TEST_F(AccessKeysTest, KeysCreatedByAnotherConnectionAreFound) {
  auto other = Catalog::Open(DbPath(), &clock_);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_FALSE(Find("AKIAAAAAAAAAAAAAAAAA").has_value());
  auto key = (*other)->CreateAccessKey("carol");
  ASSERT_TRUE(key.ok());
  auto found = Find(key->access_key_id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->secret, key->secret);
  ASSERT_TRUE((*other)->DeleteAccessKey(key->access_key_id).ok());
  EXPECT_FALSE(Find(key->access_key_id).has_value());
}

TEST_F(AccessKeysTest, KeysSurviveReopenAndTheFileIsOwnerOnly) {
  ASSERT_EQ(::chmod(DbPath().c_str(), 0644), 0);
  AccessKey key = Create("alice");
  for (const std::string& path : {DbPath(), DbPath() + "-wal"}) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
  }
  Reopen();
  auto found = Find(key.access_key_id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->secret, key.secret);
  EXPECT_EQ(found->created_time_us, key.created_time_us);
}

// A database made before access keys existed (version 2) gains the table when opened.
TEST_F(AccessKeysTest, OlderDatabaseIsMigrated) {
  catalog_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP TABLE access_keys; DROP TABLE execution_events; DROP TABLE executions; "
                   "DROP TABLE state_machines; DROP TABLE schedules; "
                   "DELETE FROM schema_migrations WHERE version >= 3",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  Reopen();
  AccessKey key = Create("alice");
  EXPECT_TRUE(Find(key.access_key_id).has_value());
}

}  // namespace
}  // namespace basin::catalog
