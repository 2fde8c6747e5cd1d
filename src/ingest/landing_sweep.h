#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "ingest/batch_loader.h"

namespace basin::ingest {

// What the sweep did with one file of the landing folder.
struct SweepResult {
  std::string path;   // the landing file (or folder, for a folder that is not a table name)
  std::string table;  // raw.<folder>
  enum class Outcome { kLoaded, kAlreadyLoaded, kRejected, kSkipped, kFailed } outcome;
  Status status;      // why it was rejected, skipped or failed
  LoadReport report;  // kLoaded / kAlreadyLoaded
};

struct LandingSweepOptions {
  int64_t settle_ms = 2'000;  // a file modified more recently may still be being copied
};

// The S3-landing-prefix part of batch ingest: every regular file under
// `<landing_root>/<table>/` is loaded into raw.<table> by the BatchLoader. A loaded (or already
// loaded) file is deleted from the landing folder (the original is kept in raw/_files/); a file
// refused with a typed error is moved to `<landing_root>/<table>/_rejected/` next to a
// `<name>.error.json`. Names starting with '.' or '_' are ignored, and so are files modified in
// the last settle_ms (by the Clock, against the file's mtime). A folder whose name is not a
// table name is reported (kSkipped) and left alone. An I/O failure of the loader (disk full) is
// kFailed and the file stays for the next sweep.
//
// Not thread-safe: one sweeper calls SweepOnce (a scheduler thread).
class LandingSweep {
 public:
  LandingSweep(BatchLoader* loader, std::string landing_root, Clock* clock,
               LandingSweepOptions options = {});

  Result<std::vector<SweepResult>> SweepOnce();

 private:
  SweepResult SweepFile(const std::string& table_name, const std::string& path);

  BatchLoader* loader_;
  std::string landing_root_;
  Clock* clock_;
  LandingSweepOptions options_;
};

}  // namespace basin::ingest
