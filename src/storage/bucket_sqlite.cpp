#include "storage/bucket_sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <memory>

#include "base/file_util.h"
#include "base/logging.h"

namespace basin::storage::bucket_internal {
namespace {

// Long enough to ride out another connection's commit, short enough that a wedged writer surfaces
// as Unavailable instead of hanging a request.
constexpr int kBusyTimeoutMs = 10'000;

}  // namespace

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

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  std::unique_ptr<Database> db(new Database());
  int rc =
      sqlite3_open_v2(path.c_str(), &db->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db->db_, "open bucket index " + path);
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, kBusyTimeoutMs);
  {
    // journal_mode answers with the mode it ended up in: a file system without shared memory
    // silently stays in rollback mode.
    BASIN_ASSIGN_OR_RETURN(auto s, db->Prepare("PRAGMA journal_mode = WAL"));
    BASIN_ASSIGN_OR_RETURN(bool row, s->Step());
    std::string mode = row ? s->Text(0) : "";
    for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (mode != "wal") {
      return Error(ErrorCode::kIoError, "bucket index " + path + " cannot use WAL mode");
    }
  }
  // NORMAL: a commit does not fsync; the writer calls SyncWal() after releasing its mutex and
  // before acknowledging, so acknowledged writes survive power loss as with FULL, without
  // serialising every fsync behind the mutex.
  BASIN_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = NORMAL"));
  db->path_ = path;
  return db;
}

Status Database::SyncWal() const {
  // While a connection is open in WAL mode the -wal file exists once anything was written; if it
  // does not, everything is in the database file itself.
  for (const std::string& file : {path_ + "-wal", path_}) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && file != path_) continue;
      return ErrnoStatus(errno, "open " + file);
    }
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(err, "fsync " + file);
    return Status::Ok();
  }
  return Status::Ok();
}

Database::~Database() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  if (db_ != nullptr) sqlite3_close(db_);
}

Result<std::unique_ptr<Statement>> Database::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      Status s = SqliteStatus(rc, db_, "prepare");
      sqlite3_finalize(stmt);
      return s;
    }
    it = cache_.emplace(sql, stmt).first;
  }
  return std::make_unique<Statement>(db_, it->second);
}

Status Database::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Status s = SqliteStatus(rc, nullptr, "bucket index");
    return Error(s.code(), "bucket index: " + message);
  }
  return Status::Ok();
}

Status Database::InTransaction(bool write, const std::function<Status()>& body) {
  BASIN_RETURN_IF_ERROR(Exec(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  Status s = body();
  if (s.ok()) {
    s = Exec("COMMIT");
    if (s.ok()) return s;
  }
  Status rollback = Exec("ROLLBACK");
  if (!rollback.ok()) {
    BASIN_LOG(Warn, "storage") << "bucket index rollback failed: " << rollback.ToString();
  }
  return s;
}

}  // namespace basin::storage::bucket_internal
