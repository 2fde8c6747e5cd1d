#include "ingest/landing_sweep.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/logging.h"

namespace basin::ingest {
namespace fs = std::filesystem;

namespace {

bool Ignored(const std::string& name) { return name.empty() || name[0] == '.' || name[0] == '_'; }

// Errors that say the file itself is bad (moving it aside is right); anything else (disk full,
// I/O, a catalog conflict) may pass, so the file stays for the next sweep.
bool IsRejection(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMalformedBody:
    case ErrorCode::kMalformedJson:
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kUnsupportedMediaType:
    case ErrorCode::kEmptyInput:
    case ErrorCode::kInvalidTextEncoding:
    case ErrorCode::kSchemaIncompatible: return true;
    default: return false;
  }
}

Result<int64_t> ModifiedMicros(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000;
}

}  // namespace

LandingSweep::LandingSweep(BatchLoader* loader, std::string landing_root, Clock* clock,
                           LandingSweepOptions options)
    : loader_(loader), landing_root_(std::move(landing_root)), clock_(clock), options_(options) {}

Result<std::vector<SweepResult>> LandingSweep::SweepOnce() {
  std::vector<SweepResult> results;
  std::error_code ec;
  if (!fs::is_directory(landing_root_, ec)) return results;
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(landing_root_, ec)) {
    if (entry.is_directory(ec) && !Ignored(entry.path().filename().string())) {
      folders.push_back(entry.path());
    }
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + landing_root_);
  std::sort(folders.begin(), folders.end());
  for (const auto& folder : folders) {
    const std::string name = folder.filename().string();
    auto ref = catalog::TableRef::Parse("raw." + name);
    if (!ref.ok()) {
      SweepResult r{
          folder.string(), "raw." + name, SweepResult::Outcome::kSkipped, ref.status(), {}};
      results.push_back(std::move(r));
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      if (entry.is_regular_file(ec) && !Ignored(entry.path().filename().string())) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto modified = ModifiedMicros(file.string());
      if (!modified.ok()) continue;  // gone meanwhile
      if (clock_->NowMicros() - *modified < options_.settle_ms * 1000) continue;
      results.push_back(SweepFile(name, file.string()));
    }
  }
  return results;
}

SweepResult LandingSweep::SweepFile(const std::string& table_name, const std::string& path) {
  SweepResult result{path, "raw." + table_name, SweepResult::Outcome::kFailed, Status::Ok(), {}};
  BatchSource source;
  source.path = path;
  source.original_name = fs::path(path).filename().string();
  source.table = {"raw", table_name};
  source.source = "landing";
  auto loaded = loader_->Load(source);
  std::error_code ec;
  if (loaded.ok()) {
    result.outcome = loaded->already_loaded ? SweepResult::Outcome::kAlreadyLoaded
                                            : SweepResult::Outcome::kLoaded;
    result.report = *loaded;
    fs::remove(path, ec);
    if (ec) BASIN_LOG(Warn, "batch") << "cannot delete landed " << path << ": " << ec.message();
    return result;
  }
  result.status = loaded.status();
  if (!IsRejection(loaded.status().code())) {
    BASIN_LOG(Error, "batch") << "landing " << path << ": " << loaded.status().ToString()
                              << "; left for the next sweep";
    return result;
  }
  result.outcome = SweepResult::Outcome::kRejected;
  const fs::path rejected_dir = fs::path(path).parent_path() / "_rejected";
  const std::string name = fs::path(path).filename().string();
  Status made = CreateDirectories(rejected_dir.string());
  JsonWriter w;
  w.BeginObject();
  w.Key("code").String(ErrorCodeName(loaded.status().code()));
  w.Key("message").String(loaded.status().message());
  w.Key("table").String(result.table);
  w.EndObject();
  if (made.ok())
    made = WriteFileAtomically((rejected_dir / (name + ".error.json")).string(), w.str());
  if (made.ok()) {
    fs::rename(path, rejected_dir / name, ec);
    if (!ec) made = SyncDirectory(rejected_dir.string());
  }
  if (!made.ok() || ec) {
    BASIN_LOG(Error, "batch") << "cannot move rejected " << path << " aside";
  }
  return result;
}

}  // namespace basin::ingest
