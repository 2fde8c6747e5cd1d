#pragma once

// Private to src/catalog/*.cpp: the SQLite plumbing that the Catalog's methods share, so that
// groups of methods (tables and files in catalog.cpp, workflow records in workflow_records.cpp)
// can live in their own files. Not part of the catalog's interface.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"
#include "base/status.h"

namespace basin::catalog::internal {

// Maps an SQLite result code to a Basin error: busy/locked -> Unavailable, full -> DiskFull,
// I/O and permission problems -> IoError, corruption -> Corruption, constraints -> Conflict.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

// One use of a cached prepared statement; resets it when done so the cache can hand it out again.
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
  Statement& Bind(int index, std::string_view value) {
    // A default-constructed string_view has a null data(): SQLite would bind NULL, not ''.
    const char* data = value.data() != nullptr ? value.data() : "";
    Check(sqlite3_bind_text(stmt_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindNull(int index) {
    Check(sqlite3_bind_null(stmt_, index));
    return *this;
  }

  // True with a row, false when done.
  Result<bool> Step() {
    if (!bind_status_.ok()) return bind_status_;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(rc, db_, "catalog statement");
  }
  // Runs a statement that returns no rows.
  Status Run() {
    Result<bool> r = Step();
    if (!r.ok()) return r.status();
    return Status::Ok();
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = SqliteStatus(rc, db_, "bind");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_status_;
};

// The catalog's one SQLite connection. Every Catalog method holds `mu` for its whole
// transaction; the statement cache lives as long as the connection.
struct Connection {
  sqlite3* db = nullptr;
  Clock* clock = nullptr;
  std::string path;
  mutable std::mutex mu;
  // Prepared statements by SQL text, kept for the life of the connection.
  mutable std::unordered_map<std::string, sqlite3_stmt*> cache;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  Result<std::unique_ptr<Statement>> Prepare(const std::string& sql) const;
  Status Exec(const char* sql) const;
  // Runs `body` in one transaction: committed if it returns Ok, rolled back otherwise. Writers
  // take the write lock up front (BEGIN IMMEDIATE) so that two processes never both read and
  // then fail to upgrade; readers get one consistent WAL snapshot for all their SELECTs.
  Status InTransaction(bool write, const std::function<Status()>& body) const;
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const { return sqlite3_changes(db); }
};

}  // namespace basin::catalog::internal
