#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "base/assert.h"
#include "base/error_code.h"

namespace basin {

// The outcome of an operation that can fail for an expected reason (bad input, missing things,
// I/O). Cheap when ok: no allocation. Bugs are not Statuses; they are BASIN_CHECK failures.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "StreamNotFound: stream 'x' does not exist"
  std::string ToString() const;

  // Prefixes the message with context, keeping the code: "loading segment 3: <message>".
  Status WithContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    BASIN_CHECK(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    BASIN_CHECK(ok());
    return *value_;
  }
  const T& value() const& {
    BASIN_CHECK(ok());
    return *value_;
  }
  T&& value() && {
    BASIN_CHECK(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

inline Status Error(ErrorCode code, std::string message) {
  return Status(code, std::move(message));
}

}  // namespace basin

// Returns early from the enclosing function with the Status if it is not ok.
#define BASIN_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::basin::Status basin_status_ = (expr);        \
    if (!basin_status_.ok()) return basin_status_; \
  } while (false)

#define BASIN_CONCAT_INNER(a, b) a##b
#define BASIN_CONCAT(a, b) BASIN_CONCAT_INNER(a, b)

// `BASIN_ASSIGN_OR_RETURN(auto x, Compute());` binds the value or returns the Status.
#define BASIN_ASSIGN_OR_RETURN(lhs, expr) \
  BASIN_ASSIGN_OR_RETURN_IMPL(BASIN_CONCAT(basin_result_, __LINE__), lhs, expr)
#define BASIN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
