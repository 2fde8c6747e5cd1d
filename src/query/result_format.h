#pragma once

#include <string>

#include "query/duck_db.h"

namespace basin::query {

// {"columns":[{"name":..,"type":..}],"rows":[[..],..]} — numbers as JSON numbers, exact numbers
// (DECIMAL) as JSON numbers written from their text, everything else as strings; plus
// "truncated": true when rows were cut at the limit.
std::string FormatJson(const QueryResult& result);
// RFC 4180 CSV with a header line.
std::string FormatCsv(const QueryResult& result);
// An aligned text table with a border, for terminals.
std::string FormatTable(const QueryResult& result);

}  // namespace basin::query
