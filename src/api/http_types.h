#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace basin::api {

// Case-insensitive header map (HTTP field names are case-insensitive).
struct CaseInsensitiveLess {
  using is_transparent = void;  // lets Headers be searched with a string_view, no allocation
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

struct HttpRequest {
  std::string method;                              // "GET", "POST", …
  std::string target;                              // as sent: path and query string
  std::string path;                                // decoded path without the query string
  std::multimap<std::string, std::string> query;   // decoded query parameters
  std::map<std::string, std::string> path_params;  // filled by the router: {stream} -> value
  Headers headers;
  std::string body;       // complete (the server enforces the body limit before handlers run)
  std::string remote_ip;  // peer address of the connection
  bool keep_alive = true;

  // The first value of a header, or "" if absent.
  std::string_view Header(std::string_view name) const;
  // The first value of a query parameter, or "" if absent.
  std::string_view QueryParam(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Decodes %XX escapes (and '+' as a space when `plus_as_space`, for query strings and form
// bodies); nullopt when an escape is malformed ("%4", "%zz").
std::optional<std::string> PercentDecode(std::string_view s, bool plus_as_space = false);

// The still-encoded path of a request target: "/a%2Fb" for "/a%2Fb?x=1"; for an absolute-form
// target ("http://host/a?x") the part after the authority ("/a").
std::string_view RawPathOf(std::string_view target);

// Parses "a=1&b=x%20y&c" into decoded pairs (c -> ""); nullopt on a malformed escape.
std::optional<std::multimap<std::string, std::string>> ParseQueryString(std::string_view query);

// Sends the response. May be called from any thread, exactly once.
using Responder = std::function<void(HttpResponse)>;
// Handles a request; must call `respond` exactly once, now or later (from any thread).
using Handler = std::function<void(HttpRequest& request, Responder respond)>;

}  // namespace basin::api
