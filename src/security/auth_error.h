#pragma once

#include <string>
#include <utility>
#include <variant>

#include "base/assert.h"
#include "base/status.h"

namespace basin::security {

// Why a request failed authentication: the Basin code (kUnauthenticated, kAccessDenied,
// kInvalidArgument) for logs and generic mapping, plus the AWS error name
// ("SignatureDoesNotMatch", "RequestTimeTooSkewed", …) so the S3 and Kinesis front ends can
// render their own error shapes without re-deriving it from the message text.
struct AuthError {
  ErrorCode code = ErrorCode::kUnauthenticated;
  std::string aws_error;
  std::string message;

  // "SignatureDoesNotMatch: <message>" with the Basin code.
  Status ToStatus() const { return Status(code, aws_error + ": " + message); }
};

inline AuthError MakeAuthError(ErrorCode code, std::string aws_error, std::string message) {
  return AuthError{code, std::move(aws_error), std::move(message)};
}

// A value or the AuthError saying why there is none; the authentication twin of Result<T>.
template <typename T>
class [[nodiscard]] AuthResult {
 public:
  AuthResult(T value) : state_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  AuthResult(AuthError error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return state_.index() == 0; }
  const AuthError& error() const {
    BASIN_CHECK(!ok());
    return std::get<1>(state_);
  }
  Status status() const { return ok() ? Status::Ok() : error().ToStatus(); }

  T& value() & {
    BASIN_CHECK(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    BASIN_CHECK(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    BASIN_CHECK(ok());
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, AuthError> state_;
};

}  // namespace basin::security
