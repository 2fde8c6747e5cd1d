#pragma once

// The bucket index's SQLite connection: the shared plumbing of base/sqlite.h plus what the index
// adds (WAL, synchronous = NORMAL and SyncWal). Keys are bound with BindBlob so that every
// comparison is a memcmp (UTF-8 byte order); other strings with Bind, as TEXT.

#include <memory>
#include <string>

#include "base/sqlite.h"
#include "base/status.h"

namespace basin::storage::bucket_internal {

using Statement = sqlite::Statement;

// One SQLite connection (WAL, synchronous = NORMAL; see SyncWal) with a statement cache. Not
// thread-safe: the owner serialises all use with its own mutex.
class Database : public sqlite::Connection {
 public:
  static Result<std::unique_ptr<Database>> Open(const std::string& path);

  // Makes every transaction committed so far durable: fsync of the WAL file. The connection runs
  // with synchronous = NORMAL (commits write the WAL without fsync), and writers call this after
  // releasing their mutex, so concurrent commits share their fsyncs instead of queueing behind one
  // another's. Safe to call from any thread, without the owner's mutex.
  Status SyncWal() const;

 private:
  Database() : sqlite::Connection("bucket index") {}
};

}  // namespace basin::storage::bucket_internal
