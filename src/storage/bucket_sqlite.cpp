#include "storage/bucket_sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "base/file_util.h"

namespace basin::storage::bucket_internal {
namespace {

// Long enough to ride out another connection's commit, short enough that a wedged writer surfaces
// as Unavailable instead of hanging a request.
constexpr int kBusyTimeoutMs = 10'000;

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  std::unique_ptr<Database> db(new Database());
  BASIN_RETURN_IF_ERROR(db->sqlite::Connection::Open(path, kBusyTimeoutMs));
  BASIN_RETURN_IF_ERROR(db->EnableWal());
  // NORMAL: a commit does not fsync; the writer calls SyncWal() after releasing its mutex and
  // before acknowledging, so acknowledged writes survive power loss as with FULL, without
  // serialising every fsync behind the mutex.
  BASIN_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = NORMAL"));
  return db;
}

Status Database::SyncWal() const {
  // While a connection is open in WAL mode the -wal file exists once anything was written; if it
  // does not, everything is in the database file itself. path() is set once by Open, before any
  // other thread can see the database.
  const std::string& db_path = path();
  for (const std::string& file : {db_path + "-wal", db_path}) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && file != db_path) continue;
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

}  // namespace basin::storage::bucket_internal
