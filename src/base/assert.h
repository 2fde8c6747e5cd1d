#pragma once

// BASIN_CHECK: an always-on invariant; a failure is a bug and aborts with the location.
// BASIN_ASSERT: the same, in debug builds only (hot paths). Never use either on input: input
// errors are Status values.
namespace basin::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace basin::internal

#define BASIN_CHECK(expr) \
  ((expr) ? static_cast<void>(0) : ::basin::internal::CheckFailed(#expr, __FILE__, __LINE__))

#ifdef NDEBUG
#define BASIN_ASSERT(expr) static_cast<void>(0)
#else
#define BASIN_ASSERT(expr) BASIN_CHECK(expr)
#endif
