#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace basin {

struct SubprocessOptions {
  int64_t timeout_ms = 60'000;           // then the process is killed (SIGKILL)
  size_t max_output_bytes = 1ULL << 20;  // stdout and stderr each; more is cut and flagged
  std::string working_dir;               // empty: the caller's
};

struct SubprocessResult {
  int exit_code = -1;     // valid when !signaled && !timed_out
  bool signaled = false;  // ended by a signal (term_signal)
  int term_signal = 0;
  bool timed_out = false;  // killed after timeout_ms
  bool output_truncated = false;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `argv` (argv[0] looked up in PATH) with `stdin_text` on its standard input and collects
// its standard output and error, without a shell. Errors (no result): InvalidArgument for an
// empty argv, NotFound when the program cannot be started, IoError for pipe failures. A program
// that fails, crashes or times out is a result, not an error. Thread-safe (each call owns its
// pipes and child).
Result<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                       std::string_view stdin_text,
                                       const SubprocessOptions& options = {});

}  // namespace basin
