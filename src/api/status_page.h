#pragma once

#include <string_view>

namespace basin::api {

// The HTML of the page served at "/": a live overview of the platform (streams, tables, events
// by type, freshness) that polls the native API from the browser. The full dashboards are a
// later capability; this page is what the demo's banner points at until then.
std::string_view StatusPageHtml();

}  // namespace basin::api
