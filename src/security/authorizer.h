#pragma once

#include <string>

#include "base/status.h"

namespace basin::security {

// Who asks to do what to which thing. Actions and resources are IAM-style:
// ("anonymous", "basin:PutRecords", "arn:basin:stream:::clickstream").
struct AccessRequest {
  std::string principal;
  std::string action;
  std::string resource;
};

// The single authorization point: every request passes through Authorize() before it acts.
// Implementations must be thread-safe.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Ok, or AccessDenied with the reason.
  virtual Status Authorize(const AccessRequest& request) const = 0;
};

// Allows everything. The default until IAM policies are configured.
class AllowAllAuthorizer final : public Authorizer {
 public:
  Status Authorize(const AccessRequest&) const override { return Status::Ok(); }
};

}  // namespace basin::security
