#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"

namespace basin::storage::bucket_internal {

// A Status for a failed SQLite call.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

// One use of a cached prepared statement; reset when it goes out of scope so the cache can hand it
// out again. Keys are bound as BLOBs so that every comparison is a memcmp (UTF-8 byte order).
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value) {
    Check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Statement& BindText(int index, std::string_view value) {
    Check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindBlob(int index, std::string_view value) {
    // A zero-length blob must still be a BLOB, not NULL: sqlite3_bind_blob with a null pointer
    // binds NULL, so point at a static byte.
    static const char kEmpty = 0;
    const char* data = value.empty() ? &kEmpty : value.data();
    Check(sqlite3_bind_blob(stmt_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT));
    return *this;
  }
  // Starts over with new bindings (a cursor that seeks).
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // True with a row, false when done.
  Result<bool> Step() {
    if (!bind_status_.ok()) return bind_status_;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(rc, db_, "bucket index");
  }
  Status Run() {
    Result<bool> r = Step();
    if (!r.ok()) return r.status();
    return Status::Ok();
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  // A view of a text or blob column, valid until the next Step or Reset.
  std::string_view View(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr
               ? std::string_view()
               : std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = SqliteStatus(rc, db_, "bind");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_status_;
};

// One SQLite connection (WAL, synchronous = NORMAL; see SyncWal) with a statement cache. Not
// thread-safe: the owner serialises all use with its own mutex.
class Database {
 public:
  static Result<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Result<std::unique_ptr<Statement>> Prepare(const std::string& sql);
  Status Exec(const char* sql);
  // Runs `body` in one transaction, committed if it returns Ok, rolled back otherwise. Writers
  // take the write lock up front (BEGIN IMMEDIATE).
  Status InTransaction(bool write, const std::function<Status()>& body);
  int64_t Changes() const { return sqlite3_changes64(db_); }

  // Makes every transaction committed so far durable: fsync of the WAL file. The connection runs
  // with synchronous = NORMAL (commits write the WAL without fsync), and writers call this after
  // releasing their mutex, so concurrent commits share their fsyncs instead of queueing behind one
  // another's. Safe to call from any thread, without the owner's mutex.
  Status SyncWal() const;

 private:
  Database() = default;
  std::string path_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace basin::storage::bucket_internal
