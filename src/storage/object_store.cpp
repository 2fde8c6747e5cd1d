#include "storage/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <random>
#include <vector>

#include "base/file_util.h"
#include "base/hash.h"
#include "base/logging.h"

namespace basin::storage {
namespace fs = std::filesystem;

namespace {

constexpr size_t kCopyBlockBytes = 256 * 1024;
constexpr auto kStaleTempAge = std::chrono::hours(1);
constexpr const char* kTempFolder = "_tmp";

Status TooLarge(uint64_t limit) {
  return Error(ErrorCode::kPayloadTooLarge,
               "object is larger than the limit of " + std::to_string(limit) + " bytes");
}

// Writes all of `data` to `fd`, retrying short writes.
Status WriteAll(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Creates `dir` if missing; a new folder's name is made durable by syncing its parent.
Status EnsureFolder(const std::string& dir, const std::string& parent) {
  if (::mkdir(dir.c_str(), 0755) == 0) return SyncDirectory(parent);
  if (errno == EEXIST) return Status::Ok();
  return ErrnoStatus(errno, "create directory " + dir);
}

}  // namespace

// A temp file in `<root>/_tmp/` that is deleted unless it was published.
class ObjectStore::TempBlob {
 public:
  static Result<std::unique_ptr<TempBlob>> Create(const std::string& root) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::string dir = root + "/" + kTempFolder;
    for (int attempt = 0; attempt < 8; ++attempt) {
      char name[64];
      std::snprintf(name, sizeof name, "put-%d-%016llx", static_cast<int>(::getpid()),
                    static_cast<unsigned long long>(rng()));
      std::string path = dir + "/" + name;
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd >= 0) return std::unique_ptr<TempBlob>(new TempBlob(std::move(path), fd));
      if (errno != EEXIST) return ErrnoStatus(errno, "create " + path);
    }
    return Error(ErrorCode::kIoError, "could not create a unique temp file in " + dir);
  }
  ~TempBlob() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempBlob(const TempBlob&) = delete;
  TempBlob& operator=(const TempBlob&) = delete;

  Status Append(std::string_view data) { return WriteAll(fd_, data, path_); }
  // fsync and close: after this the bytes are durable under the temp name.
  Status Seal() {
    int rc = ::fsync(fd_);
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus(err, "fsync " + path_);
    return Status::Ok();
  }
  const std::string& path() const { return path_; }

 private:
  TempBlob(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(std::string root,
                                                       ObjectStoreOptions options) {
  if (root.empty()) return Error(ErrorCode::kInvalidArgument, "object store root is empty");
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  BASIN_RETURN_IF_ERROR(CreateDirectories(root + "/" + kTempFolder));
  std::unique_ptr<ObjectStore> store(new ObjectStore(std::move(root), options));
  store->RemoveStaleTempFiles();
  return store;
}

std::string ObjectStore::RootUnderLake(std::string_view lake_root) {
  std::string root(lake_root);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root + "/raw/objects";
}

bool ObjectStore::IsValidKey(std::string_view key) {
  if (key.size() != 64) return false;
  for (char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void ObjectStore::RemoveStaleTempFiles() const {
  // Another process may be writing a young temp file right now: leave those alone.
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - kStaleTempAge;
  for (const auto& entry : fs::directory_iterator(root_ + "/" + kTempFolder, ec)) {
    std::error_code entry_ec;
    if (!entry.is_regular_file(entry_ec)) continue;
    if (entry.last_write_time(entry_ec) > cutoff || entry_ec) continue;
    if (fs::remove(entry.path(), entry_ec)) {
      BASIN_LOG(Info, "storage") << "removed stale temp file " << entry.path().string();
    }
  }
}

Result<std::string> ObjectStore::Path(std::string_view key) const {
  if (!IsValidKey(key)) {
    return Error(ErrorCode::kInvalidArgument, "not a SHA-256 content address (64 lower-case hex)");
  }
  std::string path = root_;
  path += '/';
  path.append(key.substr(0, 2));
  path += '/';
  path.append(key);
  return path;
}

Result<bool> ObjectStore::Exists(std::string_view key) const {
  BASIN_ASSIGN_OR_RETURN(std::string path, Path(key));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, "stat " + path);
}

Result<uint64_t> ObjectStore::Size(std::string_view key) const {
  BASIN_ASSIGN_OR_RETURN(std::string path, Path(key));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat object " + std::string(key));
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> ObjectStore::Read(std::string_view key, uint64_t max_bytes) const {
  BASIN_ASSIGN_OR_RETURN(std::string path, Path(key));
  return ReadFile(path, max_bytes);
}

Status ObjectStore::Remove(std::string_view key) {
  BASIN_ASSIGN_OR_RETURN(std::string path, Path(key));
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "remove object " + std::string(key));
  return SyncDirectory(fs::path(path).parent_path().string());
}

Result<PutResult> ObjectStore::PutFile(const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));
  const int fd = file.fd();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kInvalidArgument, path + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > options_.max_object_bytes) {
    return TooLarge(options_.max_object_bytes);
  }

  BASIN_ASSIGN_OR_RETURN(auto temp, TempBlob::Create(root_));
  Sha256Hasher hasher;
  uint64_t size = 0;
  std::vector<char> block(kCopyBlockBytes);
  for (;;) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path);
    }
    if (n == 0) break;
    size += static_cast<uint64_t>(n);
    // The file may have grown since fstat: the limit holds for what is actually read.
    if (size > options_.max_object_bytes) return TooLarge(options_.max_object_bytes);
    std::string_view chunk(block.data(), static_cast<size_t>(n));
    hasher.Update(chunk);
    BASIN_RETURN_IF_ERROR(temp->Append(chunk));
  }
  BASIN_RETURN_IF_ERROR(temp->Seal());
  return Publish(*temp, HexEncode(hasher.Finish()), size);
}

Result<PutResult> ObjectStore::PutBytes(std::string_view bytes) {
  if (bytes.size() > options_.max_object_bytes) return TooLarge(options_.max_object_bytes);
  const std::string hex = HexEncode(Sha256(bytes));
  // In memory the address is known before writing: skip the write when the blob is there.
  BASIN_ASSIGN_OR_RETURN(bool exists, Exists(hex));
  if (exists) {
    BASIN_ASSIGN_OR_RETURN(uint64_t stored_size, Size(hex));
    if (stored_size == bytes.size()) return PutResult{hex, bytes.size(), true};
  }
  BASIN_ASSIGN_OR_RETURN(auto temp, TempBlob::Create(root_));
  BASIN_RETURN_IF_ERROR(temp->Append(bytes));
  BASIN_RETURN_IF_ERROR(temp->Seal());
  return Publish(*temp, hex, bytes.size());
}

Result<PutResult> ObjectStore::Publish(TempBlob& temp, const std::string& hex, uint64_t size) {
  BASIN_ASSIGN_OR_RETURN(std::string final_path, Path(hex));
  const std::string dir = root_ + "/" + hex.substr(0, 2);
  BASIN_RETURN_IF_ERROR(EnsureFolder(dir, root_));

  // link() fails with EEXIST if the address is taken, atomically: of two concurrent Puts of the
  // same bytes exactly one creates the blob. rename() would silently replace it.
  if (::link(temp.path().c_str(), final_path.c_str()) == 0) {
    BASIN_RETURN_IF_ERROR(SyncDirectory(dir));
    return PutResult{hex, size, false};  // the temp name is unlinked by ~TempBlob
  }
  const int err = errno;
  if (err == EEXIST) {
    struct stat st {};
    if (::stat(final_path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == size) {
      return PutResult{hex, size, true};
    }
    // A blob of the wrong size under its address was damaged outside Basin: repair it.
    BASIN_LOG(Error, "storage") << "object " << hex << " had the wrong size on disk; rewritten";
  } else if (err != EPERM && err != EOPNOTSUPP && err != EXDEV && err != EMLINK) {
    return ErrnoStatus(err, "link object " + hex);
  }
  // No hard links on this file system (or a repair): rename, accepting that a concurrent Put of
  // the same bytes may replace the blob with an identical one.
  if (err != EEXIST) {
    BASIN_ASSIGN_OR_RETURN(bool exists, Exists(hex));
    if (exists) return PutResult{hex, size, true};
  }
  if (::rename(temp.path().c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus(errno, "rename object " + hex);
  }
  BASIN_RETURN_IF_ERROR(SyncDirectory(dir));
  return PutResult{hex, size, false};
}

}  // namespace basin::storage
