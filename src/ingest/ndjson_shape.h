#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace basin::ingest {

// What one streamed pass of simdjson over an NDJSON file found.
//
// `plain` holds when every line is one JSON object whose keys are all different, with no blank
// line except after the file's last newline: then each line is a row, the n-th object is line n,
// and DuckDB's read_json can stage the file directly. Anything else (a malformed line, a line
// that is not an object, a blank line, a repeated key, a number simdjson cannot hold) leaves
// `plain` false, and the loader stages the file line by line, keeping every bad line with its
// number. `keys` are in order of first appearance (by line, then within the line) and
// `objects` counts the object lines; both are complete only when `plain`.
struct NdjsonShape {
  bool plain = true;
  std::vector<std::string> keys;
  int64_t objects = 0;
};

// IoError if the file cannot be read. A line is cut at LF, a CR before it is dropped, and a
// UTF-8 byte order mark opens line 1 (the file is known to be UTF-8).
Result<NdjsonShape> ScanNdjsonShape(const std::string& path);

}  // namespace basin::ingest
