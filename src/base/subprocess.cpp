#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/clock.h"

extern char** environ;

namespace basin {
namespace {

// A pipe whose ends close themselves.
struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() {
    if (fds[0] >= 0) ::close(fds[0]);
    fds[0] = -1;
  }
  void CloseWrite() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
};

Status MakePipe(Pipe& pipe) {
  if (::pipe2(pipe.fds, O_CLOEXEC) != 0) {
    return Status(ErrorCode::kIoError, std::string("pipe: ") + std::strerror(errno));
  }
  return Status::Ok();
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Appends what `fd` has to `out` (up to `limit` bytes kept); false at end of file.
bool Drain(int fd, std::string& out, size_t limit, bool* truncated) {
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      const size_t room = out.size() < limit ? limit - out.size() : 0;
      out.append(buffer, std::min(room, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) > room) *truncated = true;
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

}  // namespace

Result<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                       std::string_view stdin_text,
                                       const SubprocessOptions& options) {
  if (argv.empty()) return Status(ErrorCode::kInvalidArgument, "no program to run");
  // A child that exits without reading all its input would otherwise kill this process with
  // SIGPIPE on the next write; the write then fails with EPIPE instead.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  Pipe in, out, err;
  BASIN_RETURN_IF_ERROR(MakePipe(in));
  BASIN_RETURN_IF_ERROR(MakePipe(out));
  BASIN_RETURN_IF_ERROR(MakePipe(err));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fds[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.fds[1], STDERR_FILENO);
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // The child starts with default signal handling and nothing blocked (the server blocks
  // SIGINT/SIGTERM in its threads; the child must not inherit that).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    return Status(ErrorCode::kNotFound,
                  "cannot run '" + argv[0] + "': " + std::string(std::strerror(spawned)));
  }
  in.CloseRead();
  out.CloseWrite();
  err.CloseWrite();
  SetNonBlocking(in.fds[1]);
  SetNonBlocking(out.fds[0]);
  SetNonBlocking(err.fds[0]);

  SubprocessResult result;
  size_t written = 0;
  if (stdin_text.empty()) in.CloseWrite();
  bool out_open = true, err_open = true;
  const int64_t deadline_ms = MonotonicNanos() / 1'000'000 + options.timeout_ms;
  while (out_open || err_open) {
    const int64_t left_ms = deadline_ms - MonotonicNanos() / 1'000'000;
    if (left_ms <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    int count = 0;
    const int out_slot = out_open ? count++ : -1;
    if (out_open) fds[out_slot] = {out.fds[0], POLLIN, 0};
    const int err_slot = err_open ? count++ : -1;
    if (err_open) fds[err_slot] = {err.fds[0], POLLIN, 0};
    const int in_slot = in.fds[1] >= 0 ? count++ : -1;
    if (in_slot >= 0) fds[in_slot] = {in.fds[1], POLLOUT, 0};
    const int ready = ::poll(fds, count, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (in_slot >= 0 && fds[in_slot].revents != 0) {
      const ssize_t n =
          ::write(in.fds[1], stdin_text.data() + written, stdin_text.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // Done, or the child closed its input (it need not read it all): stop feeding it.
      if (written == stdin_text.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        in.CloseWrite();
      }
    }
    if (out_open && fds[out_slot].revents != 0) {
      out_open =
          Drain(out.fds[0], result.stdout_text, options.max_output_bytes, &result.output_truncated);
    }
    if (err_open && fds[err_slot].revents != 0) {
      err_open =
          Drain(err.fds[0], result.stderr_text, options.max_output_bytes, &result.output_truncated);
    }
  }
  in.CloseWrite();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (result.timed_out) return result;
  if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.term_signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace basin
