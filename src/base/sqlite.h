#pragma once

// The SQLite plumbing shared by the catalog (basin.db) and the bucket index (buckets/index.db):
// result codes as Status, one use of a cached prepared statement, and a connection with its
// statement cache and transactions. Each owner adds its own pragmas, locking and durability.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"

namespace basin::sqlite {

// Maps an SQLite result code (plain or extended) to a Basin error "<what>: <SQLite's message>",
// the message being the connection's last error when `db` is given: busy/locked -> Unavailable,
// full -> DiskFull, I/O and permission problems -> IoError, corruption -> Corruption,
// constraints -> Conflict, anything else -> Internal.
Status ToStatus(int rc, sqlite3* db, std::string_view what);

// One use of a cached prepared statement; reset (bindings cleared) when it goes out of scope so
// that the cache can hand it out again. A failed bind is reported by the next Step.
class Statement {
 public:
  // `what` labels Step's errors and must outlive the statement (the connection owns it).
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string_view what)
      : db_(db), stmt_(stmt), what_(what) {}
  ~Statement() { Reset(); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value);
  // Binds TEXT. A default-constructed string_view binds '' like any empty one, not NULL.
  Statement& Bind(int index, std::string_view value);
  // Binds a BLOB, which compares by memcmp. A zero-length value stays a zero-length BLOB, not NULL.
  Statement& BindBlob(int index, std::string_view value);
  Statement& BindNull(int index);
  // Starts over with no bindings (a cursor that seeks again).
  void Reset();

  // True with a row, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // The bytes of a text or blob column; NULL reads as empty.
  std::string Text(int col) const { return std::string(View(col)); }
  // Text without the copy, valid until the next Step or Reset.
  std::string_view View(int col) const;

 private:
  void Check(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string_view what_;
  Status bind_status_;
};

// One SQLite connection with a cache of prepared statements, kept for the life of the
// connection. Not thread-safe: the owner serialises all use with its own mutex.
class Connection {
 public:
  // `label` names the database in error messages: "catalog", "bucket index".
  explicit Connection(std::string label) : label_(std::move(label)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens (or creates) the file read-write with extended result codes, without SQLite's own
  // mutex, waiting up to `busy_timeout_ms` for another connection's lock.
  Status Open(const std::string& path, int busy_timeout_ms);
  // Switches to WAL, so that readers never block the writer. journal_mode answers with the mode
  // it ended up in: on a file system without shared memory SQLite silently stays in rollback
  // mode, which is an IoError here.
  Status EnableWal() const;

  Result<std::unique_ptr<Statement>> Prepare(const std::string& sql) const;
  // Runs one or more statements that return no rows.
  Status Exec(const char* sql) const;
  // Runs `body` in one transaction: committed if it returns Ok, rolled back otherwise. Writers
  // take the write lock up front (BEGIN IMMEDIATE) so that two processes never both read and
  // then fail to upgrade; readers get one consistent snapshot for all their SELECTs.
  Status InTransaction(bool write, const std::function<Status()>& body) const;
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const { return sqlite3_changes64(db_); }
  // The rowid of the last successful INSERT on this connection.
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  // The file given to Open.
  const std::string& path() const { return path_; }

 private:
  std::string label_;
  std::string path_;
  sqlite3* db_ = nullptr;
  mutable std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace basin::sqlite
