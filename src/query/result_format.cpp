#include "query/result_format.h"

#include <algorithm>

#include "base/json_writer.h"

namespace basin::query {
namespace {

// Cells wider than this are cut with an ellipsis in FormatTable: a terminal table of JSON
// documents is unreadable anyway, and FormatJson / FormatCsv give the whole value.
constexpr size_t kMaxCellWidth = 60;

// Display width in code points (East Asian wide characters are counted as one).
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// One line of printable text: control characters would break the alignment.
std::string TableCell(const Value& v) {
  std::string text = v.ToText();
  std::string out;
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool starts_char = (c & 0xC0) != 0x80;
    if (starts_char && width == kMaxCellWidth - 1) {
      // Keep the last column for the ellipsis if anything is left to print.
      size_t rest = Width(std::string_view(text).substr(i));
      if (rest > 1) {
        out += "\u2026";
        return out;
      }
    }
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F)
      out += '?';
    else
      out.push_back(static_cast<char>(c));
    if (starts_char) ++width;
  }
  return out;
}

bool RightAligned(Value::Kind kind) {
  return kind == Value::Kind::kInt || kind == Value::Kind::kDouble ||
         kind == Value::Kind::kNumberText;
}

void AppendCsvField(std::string& out, std::string_view field, bool quote_empty) {
  const bool quote =
      (quote_empty && field.empty()) || field.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) {
    out += field;
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

std::string FormatJson(const QueryResult& result) {
  JsonWriter w;
  w.BeginObject().Key("columns").BeginArray();
  for (const ResultColumn& c : result.columns) {
    w.BeginObject().Key("name").String(c.name).Key("type").String(c.type).EndObject();
  }
  w.EndArray().Key("rows").BeginArray();
  for (const std::vector<Value>& row : result.rows) {
    w.BeginArray();
    for (const Value& v : row) {
      switch (v.kind) {
        case Value::Kind::kNull: w.Null(); break;
        case Value::Kind::kBool: w.Bool(v.b); break;
        case Value::Kind::kInt: w.Int(v.i); break;
        case Value::Kind::kDouble: w.Double(v.d); break;
        case Value::Kind::kString: w.String(v.s); break;
        // Exact numbers keep every digit: JSON numbers have no precision limit, parsers do.
        case Value::Kind::kNumberText: w.Raw(v.s); break;
      }
    }
    w.EndArray();
  }
  w.EndArray();
  if (result.truncated) w.Key("truncated").Bool(true);
  w.EndObject();
  return w.Take();
}

std::string FormatCsv(const QueryResult& result) {
  std::string out;
  for (size_t c = 0; c < result.columns.size(); ++c) {
    if (c > 0) out.push_back(',');
    AppendCsvField(out, result.columns[c].name, true);
  }
  out += "\r\n";
  for (const std::vector<Value>& row : result.rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) out.push_back(',');
      // NULL is an empty field; an empty string is quoted ("") so the two stay apart.
      if (row[c].kind != Value::Kind::kNull) AppendCsvField(out, row[c].ToText(), true);
    }
    out += "\r\n";
  }
  return out;
}

std::string FormatTable(const QueryResult& result) {
  const size_t n = result.columns.size();
  std::vector<std::vector<std::string>> cells(result.rows.size(), std::vector<std::string>(n));
  std::vector<size_t> widths(n);
  for (size_t c = 0; c < n; ++c) {
    widths[c] = std::max(Width(result.columns[c].name), Width(result.columns[c].type));
  }
  for (size_t r = 0; r < result.rows.size(); ++r) {
    for (size_t c = 0; c < n && c < result.rows[r].size(); ++c) {
      cells[r][c] = TableCell(result.rows[r][c]);
      widths[c] = std::max(widths[c], Width(cells[r][c]));
    }
  }
  auto rule = [&](std::string_view left, std::string_view mid, std::string_view right) {
    std::string line(left);
    for (size_t c = 0; c < n; ++c) {
      if (c > 0) line += mid;
      line += Repeat("\u2500", widths[c] + 2);
    }
    return line + std::string(right) + "\n";
  };
  auto line = [&](const std::vector<std::string>& texts, const std::vector<bool>& right) {
    std::string out = "\u2502";
    for (size_t c = 0; c < n; ++c) {
      const std::string pad(widths[c] - Width(texts[c]), ' ');
      out += " " + (right[c] ? pad + texts[c] : texts[c] + pad) + " \u2502";
    }
    return out + "\n";
  };

  std::string out;
  if (n > 0) {
    std::vector<std::string> names, types;
    for (const ResultColumn& col : result.columns) {
      names.push_back(col.name);
      types.push_back(col.type);
    }
    const std::vector<bool> left(n, false);
    out += rule("\u250C", "\u252C", "\u2510");
    out += line(names, left);
    out += line(types, left);
    out += rule("\u251C", "\u253C", "\u2524");
    for (size_t r = 0; r < result.rows.size(); ++r) {
      std::vector<bool> right(n);
      for (size_t c = 0; c < n && c < result.rows[r].size(); ++c) {
        right[c] = RightAligned(result.rows[r][c].kind);
      }
      out += line(cells[r], right);
    }
    out += rule("\u2514", "\u2534", "\u2518");
  }
  out += "(" + std::to_string(result.rows.size()) + (result.rows.size() == 1 ? " row" : " rows") +
         (result.truncated ? ", truncated at the row limit" : "") + ")\n";
  return out;
}

}  // namespace basin::query
