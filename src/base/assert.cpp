#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace basin::internal {

void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "basin: check failed: %s at %s:%d\n", expr, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace basin::internal
