#include "api/router.h"

#include <algorithm>

#include "api/error_response.h"
#include "base/assert.h"

namespace basin::api {
namespace {

// Until authentication exists every caller is the same principal; policies can still name it.
constexpr std::string_view kAnonymous = "anonymous";

bool IsPlaceholder(std::string_view segment) {
  return segment.size() >= 3 && segment.front() == '{' && segment.back() == '}';
}

// Walks the '/'-separated segments of `pattern` and the still-encoded `path` side by side.
// Segments are decoded one by one, after splitting, so "%2F" inside a name stays in that segment.
// Placeholders match any non-empty segment and, when `params` is given, are stored decoded.
bool MatchPath(std::string_view pattern, std::string_view path,
               std::map<std::string, std::string>* params) {
  if (path.empty() || path.front() != '/') return false;
  size_t pi = 1;
  size_t qi = 1;
  while (true) {
    const size_t pend = std::min(pattern.find('/', pi), pattern.size());
    const size_t qend = std::min(path.find('/', qi), path.size());
    const std::string_view pseg = pattern.substr(pi, pend - pi);
    const std::string_view qseg = path.substr(qi, qend - qi);
    if (IsPlaceholder(pseg)) {
      if (qseg.empty()) return false;
      if (params != nullptr) {
        std::optional<std::string> value = PercentDecode(qseg);
        if (!value) return false;
        (*params)[std::string(pseg.substr(1, pseg.size() - 2))] = std::move(*value);
      }
    } else if (qseg.find('%') == std::string_view::npos) {
      if (qseg != pseg) return false;
    } else {
      std::optional<std::string> decoded = PercentDecode(qseg);
      if (!decoded || *decoded != pseg) return false;
    }
    const bool pattern_done = pend == pattern.size();
    const bool path_done = qend == path.size();
    if (pattern_done || path_done) return pattern_done && path_done;
    pi = pend + 1;
    qi = qend + 1;
  }
}

// "arn:basin:stream:::{stream}" with {stream} replaced by its path parameter.
std::string FillTemplate(std::string_view tmpl, const std::map<std::string, std::string>& params) {
  std::string out;
  out.reserve(tmpl.size() + 32);
  while (!tmpl.empty()) {
    const size_t open = tmpl.find('{');
    const size_t close = open == std::string_view::npos ? open : tmpl.find('}', open);
    if (close == std::string_view::npos) {
      out += tmpl;
      break;
    }
    out += tmpl.substr(0, open);
    auto it = params.find(std::string(tmpl.substr(open + 1, close - open - 1)));
    // Add() checked that every placeholder names a path parameter.
    if (it != params.end()) out += it->second;
    tmpl.remove_prefix(close + 1);
  }
  return out;
}

// The placeholder names of a pattern, checking it is well formed (a programming error if not).
std::vector<std::string_view> PatternParams(std::string_view pattern) {
  BASIN_CHECK(!pattern.empty() && pattern.front() == '/');
  std::vector<std::string_view> names;
  size_t i = 1;
  while (true) {
    const size_t end = std::min(pattern.find('/', i), pattern.size());
    const std::string_view seg = pattern.substr(i, end - i);
    if (IsPlaceholder(seg)) {
      const std::string_view name = seg.substr(1, seg.size() - 2);
      BASIN_CHECK(name.find_first_of("{}") == std::string_view::npos);
      BASIN_CHECK(std::find(names.begin(), names.end(), name) == names.end());
      names.push_back(name);
    } else {
      // Braces only as a whole segment: "/a/{x}", never "/a/x{y}".
      BASIN_CHECK(seg.find_first_of("{}") == std::string_view::npos);
    }
    if (end == pattern.size()) return names;
    i = end + 1;
  }
}

}  // namespace

void Router::Add(Route route) {
  BASIN_CHECK(authorizer_ != nullptr);  // every route goes through the authorization point
  BASIN_CHECK(!route.method.empty());
  BASIN_CHECK(route.handler != nullptr);
  const std::vector<std::string_view> names = PatternParams(route.pattern);
  // Every {placeholder} of the resource template must be a path parameter.
  std::string_view tmpl = route.resource;
  for (size_t open = tmpl.find('{'); open != std::string_view::npos; open = tmpl.find('{', open)) {
    const size_t close = tmpl.find('}', open);
    BASIN_CHECK(close != std::string_view::npos);
    const std::string_view name = tmpl.substr(open + 1, close - open - 1);
    BASIN_CHECK(std::find(names.begin(), names.end(), name) != names.end());
    open = close;
  }
  routes_.push_back(std::move(route));
}

void Router::Dispatch(HttpRequest& request, Responder respond) const {
  // Match on the encoded path so that an encoded '/' inside a name does not split it; requests
  // built by hand (tests, internal calls) may only carry the decoded path.
  const std::string_view path =
      request.target.empty() ? std::string_view(request.path) : RawPathOf(request.target);
  const Route* route = nullptr;
  for (const Route& candidate : routes_) {
    if (candidate.method == request.method && MatchPath(candidate.pattern, path, nullptr)) {
      route = &candidate;
      break;
    }
  }

  if (route == nullptr) {
    std::string allow;
    for (const Route& candidate : routes_) {
      if (!MatchPath(candidate.pattern, path, nullptr)) continue;
      // Listed once each, in the order the routes were added.
      bool seen = false;
      for (const Route& earlier : routes_) {
        if (&earlier == &candidate) break;
        if (earlier.method == candidate.method && MatchPath(earlier.pattern, path, nullptr)) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      if (!allow.empty()) allow += ", ";
      allow += candidate.method;
    }
    if (allow.empty()) {
      respond(ErrorResponse(Error(ErrorCode::kRouteNotFound,
                                  "no route for " + request.method + " " + std::string(path))));
      return;
    }
    HttpResponse response = ErrorResponse(Error(
        ErrorCode::kMethodNotAllowed,
        request.method + " is not allowed on " + std::string(path) + " (allowed: " + allow + ")"));
    response.headers.emplace_back("Allow", std::move(allow));
    respond(std::move(response));
    return;
  }

  request.path_params.clear();
  if (!MatchPath(route->pattern, path, &request.path_params)) {
    // Matched without decoding but a parameter has a bad escape (the server rejects those
    // before dispatch; this is for requests that did not come through it).
    respond(
        ErrorResponse(Error(ErrorCode::kInvalidArgument, "malformed percent-encoding in path")));
    return;
  }

  security::AccessRequest access{std::string(kAnonymous), route->action,
                                 FillTemplate(route->resource, request.path_params)};
  Status allowed = authorizer_->Authorize(access);
  if (!allowed.ok()) {
    respond(ErrorResponse(allowed));
    return;
  }
  route->handler(request, std::move(respond));
}

}  // namespace basin::api
