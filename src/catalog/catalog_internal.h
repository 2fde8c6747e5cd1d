#pragma once

// Private to src/catalog/*.cpp: the connection that the Catalog's methods share, so that groups
// of methods (tables and files in catalog.cpp, workflow records in workflow_records.cpp) can live
// in their own files. Not part of the catalog's interface. The SQLite plumbing itself (statements,
// statement cache, transactions, error mapping) is base/sqlite.h.

#include <mutex>

#include "base/clock.h"
#include "base/sqlite.h"

namespace basin::catalog::internal {

using Statement = sqlite::Statement;

// The catalog's one SQLite connection (base/sqlite.h) and what the catalog adds to it: every
// Catalog method holds `mu` for its whole transaction, and `clock` stamps what it writes.
struct Connection : sqlite::Connection {
  Clock* clock = nullptr;
  mutable std::mutex mu;

  Connection() : sqlite::Connection("catalog") {}
};

}  // namespace basin::catalog::internal
