#include "log/log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "base/file_util.h"
#include "base/logging.h"
#include "log/frame_cursor.h"
#include "log/segment_format.h"
#include "log/stream.h"
#include "log/stream_meta.h"
#include "log/stream_reader.h"
#include "log/stream_recovery.h"
#include "observe/metrics.h"

namespace basin::log {
namespace {

namespace fs = std::filesystem;

// Kinesis limits a partition key to 256 Unicode characters; counted as UTF-8 code points here so
// that a valid non-ASCII key is never refused (it is at most 1024 bytes).
constexpr size_t kMaxPartitionKeyChars = 256;
constexpr size_t kMaxPartitionKeyBytes = 4 * kMaxPartitionKeyChars;
// One group commit writes at most about this much; the rest waits for the next one, so that a
// burst cannot make the writer build an unbounded buffer.
constexpr uint64_t kMaxGroupBytes = 32ULL << 20;
constexpr uint64_t kMinSegmentBytes = 1024;
constexpr uint64_t kMaxSegmentBytes = 1ULL << 40;

// Directory names that can never be stream names ('~' is not allowed in one), so that Open can
// tell half-created and half-deleted streams from real ones.
constexpr std::string_view kCreatingPrefix = "~creating-";
constexpr std::string_view kDeletingPrefix = "~deleting-";
constexpr const char* kLockFileName = "LOCK";

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

// The code a failed group reports: DiskFull stays DiskFull, every other failure is IoError.
Status GroupFailure(const Status& cause) {
  if (cause.code() == ErrorCode::kDiskFull || cause.code() == ErrorCode::kIoError) return cause;
  return Error(ErrorCode::kIoError, cause.message());
}

std::vector<double> GroupSizeBounds() {
  std::vector<double> bounds;
  for (double b = 1; b <= 65536; b *= 2) bounds.push_back(b);
  return bounds;
}

// Which Log's writer the current thread is, if any (a callback may call Close()).
thread_local const void* tls_writer_of = nullptr;

struct PendingAppend {
  std::shared_ptr<Stream> stream;
  std::vector<RecordInput> records;
  std::vector<uint32_t> shards;
  AppendCallback callback;
  uint64_t frame_bytes = 0;
};

}  // namespace

struct Log::Impl {
  explicit Impl(LogOptions opts) : options(std::move(opts)) {}
  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  LogOptions options;
  RecoveryReport report;
  int lock_fd = -1;

  // Serialises CreateStream / DeleteStream (directory renames) against each other.
  std::mutex ddl_mu;
  // Guards `streams`, `queue`, `closing`.
  mutable std::mutex mu;
  std::condition_variable queue_cv;
  std::map<std::string, std::shared_ptr<Stream>> streams;
  std::deque<PendingAppend> queue;
  bool closing = false;

  std::mutex close_mu;
  std::thread writer;

  observe::Histogram* fsync_seconds = nullptr;
  observe::Histogram* group_records = nullptr;

  // Writer-thread scratch buffer, reused across groups.
  std::string frames;

  Status Hook(FaultPoint point) const {
    return options.fault_hook ? options.fault_hook(point) : Status::Ok();
  }
  std::string StreamDir(const std::string& name) const { return options.dir + "/" + name; }

  void AttachCounters(Stream& stream);
  std::shared_ptr<Stream> Find(const std::string& name) const;

  void WriterLoop();
  void CommitGroup(std::vector<PendingAppend>& group);
  void CommitStream(Stream& stream, std::vector<PendingAppend*>& appends, int64_t now);
  Status WriteGroup(Stream& stream, std::vector<PendingAppend*>& appends, int64_t now,
                    uint64_t group_bytes);
  Status Roll(Stream& stream);
  Status Rollback(Stream& stream, const Status& cause);
};

void Log::Impl::AttachCounters(Stream& stream) {
  if (options.metrics == nullptr) return;
  const observe::Labels labels{{"stream", stream.name}};
  auto& m = *options.metrics;
  stream.counters.append_requests =
      &m.GetCounter("basin_log_append_requests_total", "Append requests acknowledged", labels);
  stream.counters.records =
      &m.GetCounter("basin_log_records_total", "Records acknowledged (durable)", labels);
  stream.counters.bytes = &m.GetCounter(
      "basin_log_bytes_total", "Bytes of acknowledged records (partition key + data)", labels);
  stream.counters.fsyncs =
      &m.GetCounter("basin_log_fsyncs_total", "fdatasync calls of group commits", labels);
}

std::shared_ptr<Stream> Log::Impl::Find(const std::string& name) const {
  std::lock_guard lock(mu);
  auto it = streams.find(name);
  return it == streams.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------------------------
// Open / Close

Result<std::unique_ptr<Log>> Log::Open(LogOptions options) {
  if (options.dir.empty()) return Error(ErrorCode::kInvalidArgument, "log dir is empty");
  if (options.segment_bytes < kMinSegmentBytes || options.segment_bytes > kMaxSegmentBytes) {
    return Error(ErrorCode::kInvalidArgument,
                 "segment_bytes must be " + std::to_string(kMinSegmentBytes) + " to 2^40");
  }
  if (options.max_record_bytes < 1 || options.max_record_bytes > kMaxRecordBytesLimit) {
    return Error(ErrorCode::kInvalidArgument, "max_record_bytes must be 1 to 64 MiB");
  }
  if (options.clock == nullptr) return Error(ErrorCode::kInvalidArgument, "clock is null");

  BASIN_RETURN_IF_ERROR(CreateDirectories(options.dir));
  auto impl = std::make_unique<Impl>(std::move(options));
  const LogOptions& opts = impl->options;

  // Two Logs on one directory would interleave writes to the same segments.
  const std::string lock_path = opts.dir + "/" + kLockFileName;
  impl->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (impl->lock_fd < 0) return ErrnoStatus(errno, "open " + lock_path);
  if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(impl->lock_fd);
    impl->lock_fd = -1;
    if (err == EWOULDBLOCK) {
      return Error(ErrorCode::kUnavailable, "log directory " + opts.dir + " is in use");
    }
    return ErrnoStatus(err, "lock " + lock_path);
  }

  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(opts.dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    const std::string name = it->path().filename().string();
    if (name.starts_with(kCreatingPrefix) || name.starts_with(kDeletingPrefix)) {
      // A CreateStream or DeleteStream that a crash interrupted: finish it by removing the rest.
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
      continue;
    }
    if (IsValidStreamName(name)) names.push_back(name);
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + opts.dir);
  std::sort(names.begin(), names.end());

  for (const std::string& name : names) {
    RecoveryReport::StreamRecovery entry;
    Result<std::shared_ptr<Stream>> stream =
        RecoverStream(impl->StreamDir(name), name, opts, &entry);
    if (!stream.ok()) {
      // Leave the directory untouched for a person to look at; the rest of the log still opens.
      entry.reason = "not loaded: " + stream.status().ToString() +
                     (entry.reason.empty() ? "" : "; " + entry.reason);
      BASIN_LOG(Error, "log") << "stream " << name << " " << entry.reason;
    } else {
      impl->AttachCounters(**stream);
      impl->streams.emplace(name, std::move(stream).value());
    }
    impl->report.streams.push_back(std::move(entry));
  }

  if (opts.metrics != nullptr) {
    impl->fsync_seconds = &opts.metrics->GetHistogram("basin_log_fsync_seconds",
                                                      "Duration of group commit fdatasync calls",
                                                      observe::Histogram::LatencySeconds());
    impl->group_records = &opts.metrics->GetHistogram(
        "basin_log_group_commit_records", "Records made durable by one group commit of one stream",
        GroupSizeBounds());
  }

  Impl* raw = impl.get();
  impl->writer = std::thread([raw] { raw->WriterLoop(); });
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

Log::Log(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Log::~Log() { Close(); }

void Log::Close() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    impl.closing = true;
  }
  impl.queue_cv.notify_all();
  // A callback calling Close() runs on the writer thread, which cannot join itself; the writer
  // exits on its own once the queue is drained.
  if (tls_writer_of == &impl) return;
  std::lock_guard close_lock(impl.close_mu);
  if (impl.writer.joinable()) impl.writer.join();
}

const RecoveryReport& Log::recovery_report() const { return impl_->report; }

// ---------------------------------------------------------------------------------------------
// Streams

Status Log::CreateStream(const std::string& name, const StreamOptions& options) {
  if (!IsValidStreamName(name)) {
    return Error(ErrorCode::kInvalidArgument,
                 "stream name must be 1-128 characters of [a-zA-Z0-9_.-] (and not . or ..)");
  }
  BASIN_RETURN_IF_ERROR(ValidateStreamOptions(options));
  Impl& impl = *impl_;
  const LogOptions& opts = impl.options;
  std::lock_guard ddl(impl.ddl_mu);
  {
    std::lock_guard lock(impl.mu);
    if (impl.closing) return Error(ErrorCode::kShuttingDown, "log is closed");
    if (impl.streams.count(name) != 0) {
      return Error(ErrorCode::kAlreadyExists, "stream " + name + " already exists");
    }
  }
  const std::string final_dir = impl.StreamDir(name);
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    // A stream directory that Open could not load (see the recovery report): never overwrite it.
    return Error(ErrorCode::kAlreadyExists,
                 "directory " + final_dir + " exists but holds no loadable stream");
  }
  // Build the stream in a directory no stream can be named after, then rename it into place, so
  // that a crash never leaves half a stream under a real name.
  const std::string tmp_dir = opts.dir + "/" + std::string(kCreatingPrefix) + name;
  fs::remove_all(tmp_dir, ec);
  BASIN_RETURN_IF_ERROR(CreateDirectories(tmp_dir));
  auto fail = [&](Status status) {
    std::error_code ignored;
    fs::remove_all(tmp_dir, ignored);
    return status.WithContext("create stream " + name);
  };
  StreamMeta meta{options, opts.clock->NowMicros()};
  Status status = WriteFileAtomically(tmp_dir + "/stream.json", meta.ToJson(name));
  if (!status.ok()) return fail(status);
  Result<SegmentFile> segment = SegmentFile::Create(tmp_dir, 0, opts.segment_bytes, opts.durable);
  if (!segment.ok()) return fail(segment.status());
  segment->Close();
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) return fail(ErrnoStatus(errno, "rename"));
  if (opts.durable) {
    Status synced = SyncDirectory(opts.dir);
    if (!synced.ok()) {
      // Not known to be durable, so not acknowledged: take it back rather than leave a
      // directory that is neither a loaded stream nor free for a retry.
      std::error_code ignored;
      fs::remove_all(final_dir, ignored);
      return synced.WithContext("create stream " + name);
    }
  }

  RecoveryReport::StreamRecovery unused;
  BASIN_ASSIGN_OR_RETURN(std::shared_ptr<Stream> stream,
                         RecoverStream(final_dir, name, opts, &unused));
  impl.AttachCounters(*stream);
  std::lock_guard lock(impl.mu);
  impl.streams.emplace(name, std::move(stream));
  return Status::Ok();
}

Status Log::DeleteStream(const std::string& name) {
  Impl& impl = *impl_;
  std::lock_guard ddl(impl.ddl_mu);
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(impl.mu);
    if (impl.closing) return Error(ErrorCode::kShuttingDown, "log is closed");
    auto it = impl.streams.find(name);
    if (it == impl.streams.end()) {
      return Error(ErrorCode::kStreamNotFound, "stream " + name + " does not exist");
    }
    stream = it->second;
  }
  static std::atomic<uint64_t> counter{0};
  const std::string trash = impl.options.dir + "/" + std::string(kDeletingPrefix) + name + "-" +
                            std::to_string(::getpid()) + "-" + std::to_string(counter++);
  {
    // Waits for a group commit of this stream in flight, and keeps the next one out.
    std::lock_guard write_lock(stream->write_mu);
    if (::rename(stream->dir.c_str(), trash.c_str()) != 0) {
      return ErrnoStatus(errno, "delete stream " + name);
    }
    // If this sync fails the rename may not survive a crash: the stream would come back, whole.
    Status synced = SyncDirectory(impl.options.dir);
    if (!synced.ok()) {
      BASIN_LOG(Warn, "log") << "delete stream " << name << ": " << synced.ToString();
    }
    {
      std::lock_guard lock(stream->mu);
      stream->deleted = true;
    }
    stream->active.Close();
  }
  {
    std::lock_guard lock(impl.mu);
    impl.streams.erase(name);
  }
  std::error_code ec;
  fs::remove_all(trash, ec);
  if (ec) {
    BASIN_LOG(Warn, "log") << "removing " << trash << ": " << ec.message();
  }
  return Status::Ok();
}

namespace {
StreamInfo Describe(const Stream& stream) {
  std::lock_guard lock(stream.mu);
  StreamInfo info;
  info.name = stream.name;
  info.options = stream.options;
  info.created_time_us = stream.created_time_us;
  info.start_offset = stream.start_offset;
  info.end_offset = stream.end_offset;
  for (const SegmentEntry& s : stream.segments) info.size_bytes += s.data_end;
  info.segment_count = static_cast<uint32_t>(stream.segments.size());
  return info;
}
}  // namespace

std::vector<StreamInfo> Log::ListStreams() const {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [name, stream] : impl_->streams) streams.push_back(stream);
  }
  std::vector<StreamInfo> out;
  out.reserve(streams.size());
  for (const auto& stream : streams) out.push_back(Describe(*stream));
  return out;
}

Result<StreamInfo> Log::DescribeStream(const std::string& name) const {
  std::shared_ptr<Stream> stream = impl_->Find(name);
  if (!stream) return Error(ErrorCode::kStreamNotFound, "stream " + name + " does not exist");
  return Describe(*stream);
}

bool Log::HasStream(const std::string& name) const { return impl_->Find(name) != nullptr; }

// ---------------------------------------------------------------------------------------------
// Appends

void Log::AppendAsync(const std::string& stream_name, std::vector<RecordInput> records,
                      AppendCallback callback) {
  Impl& impl = *impl_;
  std::shared_ptr<Stream> stream;
  bool closing = false;
  {
    std::lock_guard lock(impl.mu);
    closing = impl.closing;
    auto it = impl.streams.find(stream_name);
    if (it != impl.streams.end()) stream = it->second;
  }
  // Callbacks never run under a lock of ours: they may call back into the Log.
  if (closing) {
    callback(Error(ErrorCode::kShuttingDown, "log is closed"));
    return;
  }
  if (!stream) {
    callback(Error(ErrorCode::kStreamNotFound, "stream " + stream_name + " does not exist"));
    return;
  }
  PendingAppend pending;
  pending.shards.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordInput& r = records[i];
    const size_t key_chars = Utf8Length(r.partition_key);
    if (key_chars < 1 || key_chars > kMaxPartitionKeyChars ||
        r.partition_key.size() > kMaxPartitionKeyBytes) {
      callback(Error(ErrorCode::kInvalidArgument,
                     "record " + std::to_string(i) + ": partition key must be 1-256 characters"));
      return;
    }
    if (r.partition_key.size() + r.data.size() > impl.options.max_record_bytes) {
      callback(Error(ErrorCode::kRecordTooLarge,
                     "record " + std::to_string(i) + " is " +
                         std::to_string(r.partition_key.size() + r.data.size()) +
                         " bytes with its partition key, over the limit of " +
                         std::to_string(impl.options.max_record_bytes)));
      return;
    }
    pending.shards.push_back(r.explicit_hash_key ? stream->router.ShardForHash(*r.explicit_hash_key)
                                                 : stream->router.ShardFor(r.partition_key));
    pending.frame_bytes += FrameSize(r.partition_key.size(), r.data.size());
  }
  if (records.empty()) {
    AppendAck ack;
    ack.append_time_us = impl.options.clock->NowMicros();
    {
      std::lock_guard lock(stream->mu);
      ack.first_offset = stream->end_offset;
    }
    callback(std::move(ack));
    return;
  }
  pending.stream = std::move(stream);
  pending.records = std::move(records);
  pending.callback = std::move(callback);
  {
    std::unique_lock lock(impl.mu);
    if (!impl.closing) {
      impl.queue.push_back(std::move(pending));
      lock.unlock();
      impl.queue_cv.notify_one();
      return;
    }
  }
  pending.callback(Error(ErrorCode::kShuttingDown, "log is closed"));
}

Result<AppendAck> Log::Append(const std::string& stream, std::vector<RecordInput> records) {
  std::promise<Result<AppendAck>> promise;
  std::future<Result<AppendAck>> future = promise.get_future();
  AppendAsync(stream, std::move(records),
              [&promise](Result<AppendAck> result) { promise.set_value(std::move(result)); });
  return future.get();
}

// ---------------------------------------------------------------------------------------------
// The writer thread: group commit

void Log::Impl::WriterLoop() {
  tls_writer_of = this;
  std::vector<PendingAppend> group;
  for (;;) {
    {
      std::unique_lock lock(mu);
      queue_cv.wait(lock, [this] { return !queue.empty() || closing; });
      if (queue.empty()) return;  // closing, and everything queued is committed
      uint64_t bytes = 0;
      while (!queue.empty() && (group.empty() || bytes < kMaxGroupBytes)) {
        bytes += queue.front().frame_bytes;
        group.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    CommitGroup(group);
    group.clear();
    if (frames.capacity() > 2 * kMaxGroupBytes) std::string().swap(frames);
  }
}

void Log::Impl::CommitGroup(std::vector<PendingAppend>& group) {
  const int64_t now = options.clock->NowMicros();
  // Per stream, in order of first appearance; offsets follow queue order within a stream.
  std::vector<std::pair<Stream*, std::vector<PendingAppend*>>> by_stream;
  for (PendingAppend& p : group) {
    auto it = std::find_if(by_stream.begin(), by_stream.end(),
                           [&](const auto& entry) { return entry.first == p.stream.get(); });
    if (it == by_stream.end()) {
      by_stream.emplace_back(p.stream.get(), std::vector<PendingAppend*>{});
      it = std::prev(by_stream.end());
    }
    it->second.push_back(&p);
  }
  for (auto& [stream, appends] : by_stream) CommitStream(*stream, appends, now);
}

void Log::Impl::CommitStream(Stream& stream, std::vector<PendingAppend*>& appends, int64_t now) {
  uint64_t group_bytes = 0;
  uint64_t record_count = 0;
  uint64_t payload_bytes = 0;
  for (const PendingAppend* p : appends) {
    group_bytes += p->frame_bytes;
    record_count += p->records.size();
    for (const RecordInput& r : p->records) payload_bytes += r.partition_key.size() + r.data.size();
  }
  uint64_t first_offset = 0;
  Status status;
  {
    std::lock_guard write_lock(stream.write_mu);
    first_offset = stream.next_offset;
    status = WriteGroup(stream, appends, now, group_bytes);
  }
  if (status.ok()) {
    if (stream.counters.append_requests != nullptr) {
      stream.counters.append_requests->Increment(appends.size());
      stream.counters.records->Increment(record_count);
      stream.counters.bytes->Increment(payload_bytes);
    }
    if (group_records != nullptr) group_records->Observe(static_cast<double>(record_count));
  }
  uint64_t offset = first_offset;
  for (PendingAppend* p : appends) {
    auto make_result = [&]() -> Result<AppendAck> {
      if (!status.ok()) return status;
      AppendAck ack;
      ack.first_offset = offset;
      ack.append_time_us = now;
      ack.shards = std::move(p->shards);
      offset += p->records.size();
      return ack;
    };
    Result<AppendAck> result = make_result();
    // The writer thread must survive a throwing callback; the records are durable regardless.
    try {
      p->callback(std::move(result));
    } catch (const std::exception& e) {
      BASIN_LOG(Error, "log") << "append callback threw: " << e.what();
    } catch (...) {
      BASIN_LOG(Error, "log") << "append callback threw";
    }
  }
}

Status Log::Impl::WriteGroup(Stream& stream, std::vector<PendingAppend*>& appends, int64_t now,
                             uint64_t group_bytes) {
  if (stream.deleted) {
    return Error(ErrorCode::kStreamNotFound, "stream " + stream.name + " was deleted");
  }
  if (!stream.failure.ok()) {
    return Error(
        ErrorCode::kUnavailable,
        "stream " + stream.name + " is unavailable until reopened: " + stream.failure.message());
  }
  // A group goes into one segment: roll first if it would not fit (unless the segment is empty,
  // in which case an oversized group gets a segment of its own).
  if (stream.sealed || (stream.write_pos > kSegmentHeaderSize &&
                        stream.write_pos + group_bytes > options.segment_bytes)) {
    Status rolled = Roll(stream);
    if (!rolled.ok()) return GroupFailure(rolled);
  }

  const uint64_t start_pos = stream.write_pos;
  std::vector<IndexPoint> new_points;
  uint64_t next_index_pos = stream.next_index_pos;
  frames.clear();
  frames.reserve(group_bytes);
  uint64_t offset = stream.next_offset;
  for (const PendingAppend* p : appends) {
    for (size_t i = 0; i < p->records.size(); ++i) {
      const uint64_t position = start_pos + frames.size();
      if (position >= next_index_pos) {
        new_points.push_back({offset, position});
        next_index_pos = position + kIndexInterval;
      }
      const RecordInput& r = p->records[i];
      AppendFrame(frames, offset++, now, p->shards[i], r.partition_key, r.data);
    }
  }
  BASIN_CHECK(frames.size() == group_bytes);

  Status status = Hook(FaultPoint::kBeforeWrite);
  if (status.ok()) status = stream.active.WriteAt(start_pos, frames);
  if (status.ok()) status = Hook(FaultPoint::kAfterWrite);
  if (status.ok() && options.durable) {
    status = Hook(FaultPoint::kBeforeSync);
    if (status.ok()) {
      const int64_t started = MonotonicNanos();
      status = stream.active.Sync();
      if (fsync_seconds != nullptr) {
        fsync_seconds->Observe(static_cast<double>(MonotonicNanos() - started) / 1e9);
      }
      if (stream.counters.fsyncs != nullptr) stream.counters.fsyncs->Increment();
    }
    if (status.ok()) status = Hook(FaultPoint::kAfterSync);
  }
  if (!status.ok()) return Rollback(stream, status);

  // Durable: publish, so that readers (and the callbacks that follow) see the records.
  stream.write_pos = start_pos + frames.size();
  stream.next_offset = offset;
  stream.next_index_pos = next_index_pos;
  std::lock_guard lock(stream.mu);
  SegmentEntry& active = stream.segments.back();
  active.data_end = stream.write_pos;
  active.max_append_time_us = std::max(active.max_append_time_us.value_or(now), now);
  active.index.insert(active.index.end(), new_points.begin(), new_points.end());
  stream.end_offset = offset;
  return Status::Ok();
}

Status Log::Impl::Roll(Stream& stream) {
  BASIN_RETURN_IF_ERROR(Hook(FaultPoint::kBeforeRoll));
  // Seal: trim the preallocated tail and make the segment durable before its successor exists,
  // so that only the last segment of a stream can ever have a torn tail. From here on nothing
  // more may go into it, even if creating the successor fails.
  stream.sealed = true;
  BASIN_RETURN_IF_ERROR(stream.active.Truncate(stream.write_pos));
  if (options.durable) BASIN_RETURN_IF_ERROR(stream.active.Sync());
  BASIN_ASSIGN_OR_RETURN(
      SegmentFile next,
      SegmentFile::Create(stream.dir, stream.next_offset, options.segment_bytes, options.durable));
  SegmentEntry entry;
  entry.base_offset = stream.next_offset;
  entry.path = next.path();
  entry.data_end = kSegmentHeaderSize;
  {
    std::lock_guard lock(stream.mu);
    stream.segments.push_back(std::move(entry));
  }
  stream.active = std::move(next);
  stream.write_pos = kSegmentHeaderSize;
  stream.next_index_pos = kSegmentHeaderSize + kIndexInterval;
  stream.sealed = false;
  return Hook(FaultPoint::kAfterRoll);
}

Status Log::Impl::Rollback(Stream& stream, const Status& cause) {
  // Cut the failed group's bytes so that they can never be read back as records (not now, not
  // after a restart), and restore the preallocation. If even that fails, the file's tail is
  // unknown: stop appending to the stream rather than risk exposing unacknowledged records.
  Status undo = Hook(FaultPoint::kBeforeRollback);
  if (undo.ok()) undo = stream.active.Truncate(stream.write_pos);
  if (undo.ok()) {
    Status again = stream.active.Preallocate(std::max(options.segment_bytes, stream.write_pos));
    if (!again.ok()) {
      BASIN_LOG(Warn, "log") << "stream " << stream.name
                             << ": re-preallocating after a failed write: " << again.ToString();
    }
  }
  if (undo.ok() && options.durable) undo = stream.active.Sync();
  if (!undo.ok()) {
    stream.failure = undo;
    BASIN_LOG(Error, "log") << "stream " << stream.name
                            << " is unavailable for appends until reopened: undoing a failed "
                               "write failed: "
                            << undo.ToString() << " (after " << cause.ToString() << ")";
  } else {
    BASIN_LOG(Warn, "log") << "stream " << stream.name
                           << ": group commit failed and was undone: " << cause.ToString();
  }
  return GroupFailure(cause);
}

// ---------------------------------------------------------------------------------------------
// Readers and retention

Result<std::unique_ptr<LogReader>> Log::OpenReader(const std::string& stream_name,
                                                   uint64_t from_offset) const {
  std::shared_ptr<Stream> stream = impl_->Find(stream_name);
  if (!stream)
    return Error(ErrorCode::kStreamNotFound, "stream " + stream_name + " does not exist");
  {
    std::lock_guard lock(stream->mu);
    from_offset = std::max(from_offset, stream->start_offset);
  }
  return std::unique_ptr<LogReader>(new StreamReader(std::move(stream), from_offset));
}

namespace {
// The newest append time among a sealed segment's records, by scanning it; nullopt when it has
// none. A damaged segment is an error: retention then keeps it.
Result<std::optional<int64_t>> NewestAppendTime(const std::string& path, uint64_t data_end) {
  BASIN_ASSIGN_OR_RETURN(SegmentFile file, SegmentFile::Open(path, false));
  FrameCursor cursor(&file, kSegmentHeaderSize, data_end);
  std::optional<int64_t> newest;
  for (;;) {
    Frame frame;
    BASIN_ASSIGN_OR_RETURN(FrameDecode result, cursor.Next(&frame));
    if (result == FrameDecode::kEndMarker) return newest;
    if (result != FrameDecode::kOk) {
      return Error(ErrorCode::kCorruption, path + ": " + std::string(FrameDecodeName(result)));
    }
    newest = std::max(newest.value_or(frame.append_time_us), frame.append_time_us);
  }
}
}  // namespace

Result<uint32_t> Log::ApplyRetention(const std::string& stream_name, uint64_t keep_from_offset) {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (impl.closing) return Error(ErrorCode::kShuttingDown, "log is closed");
  }
  std::shared_ptr<Stream> stream = impl.Find(stream_name);
  if (!stream)
    return Error(ErrorCode::kStreamNotFound, "stream " + stream_name + " does not exist");
  std::lock_guard retention_lock(stream->retention_mu);

  struct Candidate {
    uint64_t base_offset;
    uint64_t end_offset;
    uint64_t data_end;
    std::string path;
    std::optional<int64_t> newest;
    bool newest_known;
  };
  std::vector<Candidate> sealed;
  uint64_t total_bytes = 0;
  {
    std::lock_guard lock(stream->mu);
    if (stream->deleted) return Error(ErrorCode::kStreamNotFound, "stream was deleted");
    const auto& segs = stream->segments;
    for (size_t i = 0; i < segs.size(); ++i) {
      total_bytes += segs[i].data_end;
      if (i + 1 < segs.size()) {
        sealed.push_back({segs[i].base_offset, segs[i + 1].base_offset, segs[i].data_end,
                          segs[i].path, segs[i].max_append_time_us,
                          segs[i].max_append_time_us.has_value()});
      }
    }
  }

  const int64_t cutoff =
      impl.options.clock->NowMicros() - stream->options.retention_hours * 3600LL * 1'000'000LL;
  const uint64_t size_limit = stream->options.retention_bytes;
  size_t remove = 0;
  for (Candidate& c : sealed) {
    if (c.end_offset > keep_from_offset) break;  // a consumer still needs some of it
    bool expired = size_limit > 0 && total_bytes > size_limit;
    if (!expired) {
      if (!c.newest_known) {
        Result<std::optional<int64_t>> newest = NewestAppendTime(c.path, c.data_end);
        if (!newest.ok()) {
          BASIN_LOG(Warn, "log") << "retention keeps " << c.path << ": "
                                 << newest.status().ToString();
          break;
        }
        c.newest = *newest;
        c.newest_known = true;
        std::lock_guard lock(stream->mu);
        for (SegmentEntry& s : stream->segments) {
          if (s.base_offset == c.base_offset) s.max_append_time_us = c.newest;
        }
      }
      // A segment without records holds nothing worth keeping.
      expired = !c.newest.has_value() || *c.newest < cutoff;
    }
    if (!expired) break;
    total_bytes -= c.data_end;
    ++remove;
  }
  if (remove == 0) return 0u;

  {
    std::lock_guard lock(stream->mu);
    if (stream->deleted) return Error(ErrorCode::kStreamNotFound, "stream was deleted");
    // Only retention removes segments and it is serialised, so the front is what we examined.
    for (size_t i = 0; i < remove; ++i) {
      BASIN_CHECK(stream->segments.front().base_offset == sealed[i].base_offset);
      stream->segments.pop_front();
    }
    stream->start_offset = stream->segments.front().base_offset;
  }
  // Oldest first, so a crash part-way leaves a gap-free suffix; a file that fails to go away is
  // found again (and retained again) at the next Open.
  // Stop at the first failure: a later file gone but an earlier one left would be a gap.
  for (size_t i = 0; i < remove; ++i) {
    if (::unlink(sealed[i].path.c_str()) != 0 && errno != ENOENT) {
      BASIN_LOG(Warn, "log") << "retention could not delete " << sealed[i].path << ": "
                             << ErrnoStatus(errno, "unlink").ToString();
      break;
    }
  }
  if (impl.options.durable) {
    Status synced = SyncDirectory(stream->dir);
    if (!synced.ok()) {
      BASIN_LOG(Warn, "log") << "retention: " << synced.ToString();
    }
  }
  return static_cast<uint32_t>(remove);
}

}  // namespace basin::log
