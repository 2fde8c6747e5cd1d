#include "base/subprocess.h"

#include <gtest/gtest.h>

#include <string>

namespace basin {
namespace {

TEST(Subprocess, FeedsStdinAndCollectsStdout) {
  auto r = RunSubprocess({"cat"}, "hello\nworld\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text, "hello\nworld\n");
  EXPECT_FALSE(r->timed_out);
}

TEST(Subprocess, ExitStatusAndStderrAreReported) {
  auto r = RunSubprocess({"sh", "-c", "echo oops >&2; exit 3"}, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stderr_text, "oops\n");
  EXPECT_FALSE(r->signaled);
}

TEST(Subprocess, AProgramThatNeverEndsIsKilledAtTheTimeout) {
  SubprocessOptions options;
  options.timeout_ms = 200;
  auto r = RunSubprocess({"sleep", "30"}, "", options);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
}

TEST(Subprocess, ACrashIsASignalNotAnExitCode) {
  auto r = RunSubprocess({"sh", "-c", "kill -SEGV $$"}, "");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->signaled);
  EXPECT_EQ(r->term_signal, SIGSEGV);
}

TEST(Subprocess, OutputPastTheLimitIsCutAndFlagged) {
  SubprocessOptions options;
  options.max_output_bytes = 1000;
  auto r = RunSubprocess({"head", "-c", "100000", "/dev/zero"}, "", options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text.size(), 1000u);
  EXPECT_TRUE(r->output_truncated);
}

TEST(Subprocess, AChildThatIgnoresItsInputDoesNotHurtTheParent) {
  const std::string big(8 << 20, 'x');  // far more than a pipe holds
  auto r = RunSubprocess({"true"}, big);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
}

TEST(Subprocess, MissingProgramsAndEmptyCommandsAreErrors) {
  EXPECT_EQ(RunSubprocess({"/nonexistent/program"}, "").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(RunSubprocess({}, "").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace basin
