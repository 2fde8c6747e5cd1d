#include "catalog/catalog_internal.h"

#include <utility>

#include "base/logging.h"

namespace basin::catalog::internal {

Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Error(ErrorCode::kUnavailable, std::move(message));
    case SQLITE_FULL: return Error(ErrorCode::kDiskFull, std::move(message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return Error(ErrorCode::kIoError, std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Error(ErrorCode::kCorruption, std::move(message));
    case SQLITE_CONSTRAINT: return Error(ErrorCode::kConflict, std::move(message));
    default: return Error(ErrorCode::kInternal, std::move(message));
  }
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache) sqlite3_finalize(stmt);
  if (db != nullptr) sqlite3_close(db);
}

Result<std::unique_ptr<Statement>> Connection::Prepare(const std::string& sql) const {
  auto it = cache.find(sql);
  if (it == cache.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      Status s = SqliteStatus(rc, db, "prepare");
      sqlite3_finalize(stmt);
      return s;
    }
    it = cache.emplace(sql, stmt).first;
  }
  return std::make_unique<Statement>(db, it->second);
}

Status Connection::Exec(const char* sql) const {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Status s = SqliteStatus(rc, nullptr, "catalog");
    return Error(s.code(), "catalog: " + message);
  }
  return Status::Ok();
}

Status Connection::InTransaction(bool write, const std::function<Status()>& body) const {
  BASIN_RETURN_IF_ERROR(Exec(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  Status s = body();
  if (s.ok()) {
    s = Exec("COMMIT");
    if (s.ok()) return s;
  }
  Status rollback = Exec("ROLLBACK");
  if (!rollback.ok()) {
    BASIN_LOG(Warn, "catalog") << "rollback failed: " << rollback.ToString();
  }
  return s;
}

}  // namespace basin::catalog::internal
