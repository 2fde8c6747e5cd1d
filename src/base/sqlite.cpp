#include "base/sqlite.h"

#include <cctype>
#include <utility>

#include "base/assert.h"
#include "base/logging.h"

namespace basin::sqlite {
namespace {

ErrorCode CodeOf(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorCode::kUnavailable;
    case SQLITE_FULL: return ErrorCode::kDiskFull;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return ErrorCode::kIoError;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ErrorCode::kCorruption;
    case SQLITE_CONSTRAINT: return ErrorCode::kConflict;
    default: return ErrorCode::kInternal;
  }
}

}  // namespace

Status ToStatus(int rc, sqlite3* db, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error(CodeOf(rc), std::move(message));
}

// ---- Statement ---------------------------------------------------------------------------------

Statement& Statement::Bind(int index, int64_t value) {
  Check(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  // A default-constructed string_view has a null data(), which SQLite would bind as NULL.
  const char* data = value.data() != nullptr ? value.data() : "";
  Check(sqlite3_bind_text(stmt_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view value) {
  // sqlite3_bind_blob with a null pointer binds NULL, so an empty value points at a static byte.
  static const char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  Check(sqlite3_bind_blob(stmt_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::BindNull(int index) {
  Check(sqlite3_bind_null(stmt_, index));
  return *this;
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_status_ = Status::Ok();
}

Result<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ToStatus(rc, db_, what_);
}

Status Statement::Run() {
  Result<bool> r = Step();
  if (!r.ok()) return r.status();
  return Status::Ok();
}

std::string_view Statement::View(int col) const {
  // sqlite3_column_blob gives the bytes of a text value as they are (and those of a number as
  // text), without the terminating NUL that sqlite3_column_text would add.
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p == nullptr ? std::string_view()
                      : std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

void Statement::Check(int rc) {
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = ToStatus(rc, db_, "bind");
}

// ---- Connection --------------------------------------------------------------------------------

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  if (db_ != nullptr) sqlite3_close(db_);
}

Status Connection::Open(const std::string& path, int busy_timeout_ms) {
  BASIN_CHECK(db_ == nullptr);
  path_ = path;
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return ToStatus(rc, db_, "open " + label_ + " " + path);
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  return Status::Ok();
}

Status Connection::EnableWal() const {
  BASIN_ASSIGN_OR_RETURN(auto s, Prepare("PRAGMA journal_mode = WAL"));
  BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
  std::string mode = row ? s->Text(0) : "";
  for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (mode != "wal") {
    return Error(ErrorCode::kIoError, label_ + " " + path_ + " cannot use WAL mode");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Statement>> Connection::Prepare(const std::string& sql) const {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      Status s = ToStatus(rc, db_, "prepare");
      sqlite3_finalize(stmt);
      return s;
    }
    it = cache_.emplace(sql, stmt).first;
  }
  return std::make_unique<Statement>(db_, it->second, label_);
}

Status Connection::Exec(const char* sql) const {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return Error(CodeOf(rc), label_ + ": " + message);
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
    BASIN_LOG(Warn, "sqlite") << label_ << " rollback failed: " << rollback.ToString();
  }
  return s;
}

}  // namespace basin::sqlite
