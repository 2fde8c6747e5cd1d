#include "base/sqlite.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/file_util.h"
#include "unit/temp_dir.h"

namespace basin {
namespace {

constexpr int kNoWaitMs = 0;

// A connection on a fresh file in `dir`, opened and in WAL mode.
std::unique_ptr<sqlite::Connection> OpenIn(const test::TempDir& dir, const std::string& label) {
  auto db = std::make_unique<sqlite::Connection>(label);
  Status opened = db->Open(dir.path() + "/test.db", kNoWaitMs);
  EXPECT_TRUE(opened.ok()) << opened.ToString();
  Status wal = db->EnableWal();
  EXPECT_TRUE(wal.ok()) << wal.ToString();
  return db;
}

// The type and length SQLite sees for ?1 after `bind`.
std::pair<std::string, int64_t> TypeAndLength(const sqlite::Connection& db,
                                              const std::function<void(sqlite::Statement&)>& bind) {
  auto s = db.Prepare("SELECT typeof(?1), length(?1)");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  bind(**s);
  auto row = (*s)->Step();
  EXPECT_TRUE(row.ok() && *row);
  return {(*s)->Text(0), (*s)->Int(1)};
}

int64_t CountRows(const sqlite::Connection& db) {
  auto s = db.Prepare("SELECT count(*) FROM t");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  auto row = (*s)->Step();
  EXPECT_TRUE(row.ok() && *row);
  return (*s)->Int(0);
}

TEST(Sqlite, EmptyTextBindsEmptyStringNotNull) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  using Pair = std::pair<std::string, int64_t>;
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.Bind(1, std::string_view()); }),
            Pair("text", 0));
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.Bind(1, std::string("")); }),
            Pair("text", 0));
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.Bind(1, "abc"); }), Pair("text", 3));
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.BindNull(1); }),
            Pair("null", 0));  // length(NULL) reads as 0
}

TEST(Sqlite, EmptyBlobStaysABlob) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  using Pair = std::pair<std::string, int64_t>;
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.BindBlob(1, std::string_view()); }),
            Pair("blob", 0));
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.BindBlob(1, ""); }), Pair("blob", 0));
  EXPECT_EQ(TypeAndLength(*db, [](sqlite::Statement& s) { s.BindBlob(1, std::string("a\0b", 3)); }),
            Pair("blob", 3));
}

TEST(Sqlite, BlobsCompareByBytesAndReadBackWithNuls) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  ASSERT_TRUE(db->Exec("CREATE TABLE k (key BLOB PRIMARY KEY)").ok());
  // 0xC3 0xA9 is U+00E9; byte order puts it after 'z' and a key with a NUL before "a".
  for (std::string key :
       {std::string("z"), std::string("\xC3\xA9"), std::string("a\0b", 3), std::string("a")}) {
    auto s = db->Prepare("INSERT INTO k (key) VALUES (?1)");
    ASSERT_TRUE(s.ok());
    (*s)->BindBlob(1, key);
    ASSERT_TRUE((*s)->Run().ok());
  }
  auto s = db->Prepare("SELECT key FROM k WHERE key >= ?1 ORDER BY key");
  ASSERT_TRUE(s.ok());
  (*s)->BindBlob(1, "a");
  std::vector<std::string> keys;
  while (true) {
    auto row = (*s)->Step();
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    if (!*row) break;
    keys.emplace_back((*s)->View(0));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a", std::string("a\0b", 3), "z", "\xC3\xA9"}));
}

TEST(Sqlite, ReadsColumnsAndNulls) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  auto s = db->Prepare("SELECT 42, NULL, 'text', 7");
  ASSERT_TRUE(s.ok());
  auto row = (*s)->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*s)->Int(0), 42);
  EXPECT_FALSE((*s)->IsNull(0));
  EXPECT_TRUE((*s)->IsNull(1));
  EXPECT_EQ((*s)->Text(1), "");
  EXPECT_EQ((*s)->Text(2), "text");
  EXPECT_EQ((*s)->View(2), "text");
  EXPECT_EQ((*s)->Text(3), "7");  // a number reads as its text
  row = (*s)->Step();
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(*row);
}

TEST(Sqlite, FailedStepMapsConstraintToConflictWithTheLabel) {
  test::TempDir dir;
  auto db = OpenIn(dir, "my index");
  ASSERT_TRUE(db->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)").ok());
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto s = db->Prepare("INSERT INTO t (name) VALUES (?1)");
    ASSERT_TRUE(s.ok());
    (*s)->Bind(1, "same");
    Status run = (*s)->Run();
    if (attempt == 0) {
      ASSERT_TRUE(run.ok()) << run.ToString();
      EXPECT_EQ(db->Changes(), 1);
      EXPECT_EQ(db->LastInsertRowId(), 1);
    } else {
      EXPECT_EQ(run.code(), ErrorCode::kConflict) << run.ToString();
      EXPECT_EQ(run.message().rfind("my index: ", 0), 0u) << run.message();
      EXPECT_NE(run.message().find("UNIQUE"), std::string::npos) << run.message();
    }
  }
}

TEST(Sqlite, MapsResultCodesIncludingExtendedOnes) {
  EXPECT_EQ(sqlite::ToStatus(SQLITE_BUSY, nullptr, "x").code(), ErrorCode::kUnavailable);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_LOCKED_SHAREDCACHE, nullptr, "x").code(),
            ErrorCode::kUnavailable);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_FULL, nullptr, "x").code(), ErrorCode::kDiskFull);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_IOERR_FSYNC, nullptr, "x").code(), ErrorCode::kIoError);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_CANTOPEN, nullptr, "x").code(), ErrorCode::kIoError);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_READONLY, nullptr, "x").code(), ErrorCode::kIoError);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_PERM, nullptr, "x").code(), ErrorCode::kIoError);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_CORRUPT, nullptr, "x").code(), ErrorCode::kCorruption);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_NOTADB, nullptr, "x").code(), ErrorCode::kCorruption);
  EXPECT_EQ(sqlite::ToStatus(SQLITE_CONSTRAINT_UNIQUE, nullptr, "x").code(), ErrorCode::kConflict);
  Status other = sqlite::ToStatus(SQLITE_ERROR, nullptr, "what");
  EXPECT_EQ(other.code(), ErrorCode::kInternal);
  EXPECT_EQ(other.message(), std::string("what: ") + sqlite3_errstr(SQLITE_ERROR));
}

TEST(Sqlite, PrepareAndBindErrorsAreReported) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  auto bad = db->Prepare("SELEC 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInternal);
  EXPECT_EQ(bad.status().message().rfind("prepare: ", 0), 0u) << bad.status().message();

  auto s = db->Prepare("SELECT ?1");
  ASSERT_TRUE(s.ok());
  (*s)->Bind(2, int64_t{5});  // out of range: reported by Step, which does not run
  auto row = (*s)->Step();
  ASSERT_FALSE(row.ok());
  EXPECT_EQ(row.status().message().rfind("bind: ", 0), 0u) << row.status().message();

  Status exec = db->Exec("CREATE TABLE t (a); CREATE TABLE t (a)");
  EXPECT_EQ(exec.code(), ErrorCode::kInternal);
  EXPECT_EQ(exec.message().rfind("test: ", 0), 0u) << exec.message();
}

TEST(Sqlite, CachedStatementComesBackWithoutItsBindings) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  {
    auto s = db->Prepare("SELECT ?1 IS NULL");
    ASSERT_TRUE(s.ok());
    (*s)->Bind(1, int64_t{1});
    auto row = (*s)->Step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ((*s)->Int(0), 0);
  }
  auto s = db->Prepare("SELECT ?1 IS NULL");
  ASSERT_TRUE(s.ok());
  auto row = (*s)->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*s)->Int(0), 1);
}

TEST(Sqlite, ResetStartsOverWithNewBindings) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  auto s = db->Prepare(
      "WITH RECURSIVE n(value) AS (SELECT ?1 UNION ALL SELECT value + 1 FROM n WHERE value < 3) "
      "SELECT value FROM n");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  (*s)->Bind(1, int64_t{1});
  auto row = (*s)->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*s)->Int(0), 1);
  (*s)->Reset();
  (*s)->Bind(1, int64_t{3});
  row = (*s)->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*s)->Int(0), 3);
  row = (*s)->Step();
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(*row);
}

TEST(Sqlite, InTransactionCommitsOnOkAndRollsBackOnError) {
  test::TempDir dir;
  auto db = OpenIn(dir, "test");
  ASSERT_TRUE(db->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY)").ok());
  auto insert = [&](int64_t id) -> Status {
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("INSERT INTO t (id) VALUES (?1)"));
    s->Bind(1, id);
    return s->Run();
  };
  ASSERT_TRUE(db->InTransaction(true, [&] { return insert(1); }).ok());
  EXPECT_EQ(CountRows(*db), 1);

  Status failed = db->InTransaction(true, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(insert(2));
    return Error(ErrorCode::kInvalidArgument, "changed my mind");
  });
  EXPECT_EQ(failed.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CountRows(*db), 1);

  // A failed statement inside the body rolls back what came before it, keeping its code.
  failed = db->InTransaction(true, [&]() -> Status {
    BASIN_RETURN_IF_ERROR(insert(3));
    return insert(1);
  });
  EXPECT_EQ(failed.code(), ErrorCode::kConflict) << failed.ToString();
  EXPECT_EQ(CountRows(*db), 1);

  // The connection is usable again: no transaction was left open.
  ASSERT_TRUE(db->InTransaction(true, [&] { return insert(4); }).ok());
  EXPECT_EQ(CountRows(*db), 2);
}

TEST(Sqlite, WritersTakeTheWriteLockUpFrontReadersDoNot) {
  test::TempDir dir;
  auto writer = OpenIn(dir, "writer");
  ASSERT_TRUE(writer->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY)").ok());
  sqlite::Connection other("other");
  ASSERT_TRUE(other.Open(dir.path() + "/test.db", kNoWaitMs).ok());

  Status outer = writer->InTransaction(true, [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(auto s, writer->Prepare("INSERT INTO t (id) VALUES (1)"));
    BASIN_RETURN_IF_ERROR(s->Run());
    // A second writer is refused at BEGIN IMMEDIATE, before its body runs.
    bool body_ran = false;
    Status second_writer = other.InTransaction(true, [&] {
      body_ran = true;
      return Status::Ok();
    });
    EXPECT_EQ(second_writer.code(), ErrorCode::kUnavailable) << second_writer.ToString();
    EXPECT_FALSE(body_ran);
    // A reader goes ahead and sees the last committed state.
    int64_t rows_seen = -1;
    Status reader = other.InTransaction(false, [&] {
      rows_seen = CountRows(other);
      return Status::Ok();
    });
    EXPECT_TRUE(reader.ok()) << reader.ToString();
    EXPECT_EQ(rows_seen, 0);
    return Status::Ok();
  });
  EXPECT_TRUE(outer.ok()) << outer.ToString();
}

TEST(Sqlite, OpenReportsANonDatabaseAsCorruption) {
  test::TempDir dir;
  const std::string path = dir.path() + "/not.db";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(4096, 'x')).ok());
  sqlite::Connection db("thing");
  Status opened = db.Open(path, kNoWaitMs);  // SQLite reads the header lazily
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  EXPECT_EQ(db.path(), path);
  Status wal = db.EnableWal();
  EXPECT_EQ(wal.code(), ErrorCode::kCorruption) << wal.ToString();
}

TEST(Sqlite, OpenReportsAMissingFolderAsIoError) {
  test::TempDir dir;
  sqlite::Connection db("thing");
  Status opened = db.Open(dir.path() + "/missing/x.db", kNoWaitMs);
  EXPECT_EQ(opened.code(), ErrorCode::kIoError) << opened.ToString();
  EXPECT_EQ(opened.message().rfind("open thing " + dir.path() + "/missing/x.db: ", 0), 0u)
      << opened.message();
}

}  // namespace
}  // namespace basin
