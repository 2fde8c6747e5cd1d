#pragma once

#include <string>
#include <vector>

#include "api/http_types.h"
#include "security/authorizer.h"

namespace basin::api {

// A route: method, a path pattern with {named} segments, the IAM-style action it performs and a
// resource template ("arn:basin:stream:::{stream}"), filled from the path parameters.
struct Route {
  std::string method;
  std::string pattern;   // "/v1/streams/{stream}/records"
  std::string action;    // "basin:PutRecords"
  std::string resource;  // "arn:basin:stream:::{stream}"
  Handler handler;
};

// Matches requests to routes and sends each through the one authorization point before its
// handler: (principal, action, resource) -> allow or AccessDenied. Unknown paths get 404
// RouteNotFound, a known path with another method 405 MethodNotAllowed. Routes are added before
// the server starts; Dispatch is thread-safe after that.
class Router {
 public:
  explicit Router(security::Authorizer* authorizer) : authorizer_(authorizer) {}
  void Add(Route route);
  void Dispatch(HttpRequest& request, Responder respond) const;

 private:
  std::vector<Route> routes_;
  security::Authorizer* authorizer_;
};

}  // namespace basin::api
