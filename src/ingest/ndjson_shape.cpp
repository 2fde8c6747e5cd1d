#include "ingest/ndjson_shape.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "base/file_util.h"

namespace basin::ingest {
namespace {

constexpr size_t kBlockBytes = 8 << 20;

class ShapeBuilder {
 public:
  explicit ShapeBuilder(NdjsonShape& shape) : shape_(shape) {}

  // One line without its LF; SIMDJSON_PADDING readable bytes must follow it.
  void Line(std::string_view line) {
    if (first_line_) {
      first_line_ = false;
      if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    }
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (blank_before_) shape_.plain = false;  // a blank line, and then more
    if (line.empty()) {
      blank_before_ = true;  // fine only as the text after the last LF
      return;
    }
    simdjson::dom::element doc;
    simdjson::dom::object object;
    if (parser_.parse(line.data(), line.size(), /*realloc_if_needed=*/false).get(doc) ||
        doc.get_object().get(object)) {
      shape_.plain = false;
      return;
    }
    ++shape_.objects;
    keys_.clear();
    for (auto field : object) keys_.push_back(field.key);
    // Most lines repeat the previous line's keys in the same order: nothing new to look at.
    if (std::equal(keys_.begin(), keys_.end(), previous_.begin(), previous_.end())) return;
    std::vector<std::string_view> sorted = keys_;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      shape_.plain = false;  // which value of a repeated key counts is the line reader's call
      return;
    }
    for (std::string_view key : keys_) {
      if (seen_.emplace(key).second) shape_.keys.emplace_back(key);
    }
    previous_.assign(keys_.begin(), keys_.end());
  }

 private:
  NdjsonShape& shape_;
  simdjson::dom::parser parser_;
  std::vector<std::string_view> keys_;  // of the current line (views into the read buffer)
  std::vector<std::string> previous_;   // of the previous line whose keys changed
  std::unordered_set<std::string> seen_;
  bool first_line_ = true;
  bool blank_before_ = false;
};

}  // namespace

Result<NdjsonShape> ScanNdjsonShape(const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));
  NdjsonShape shape;
  ShapeBuilder builder(shape);
  // [0, filled) holds bytes read and not yet cut into lines; SIMDJSON_PADDING bytes follow.
  std::vector<char> buffer(kBlockBytes + simdjson::SIMDJSON_PADDING);
  size_t filled = 0;
  bool eof = false;
  while (!eof && shape.plain) {
    if (buffer.size() - simdjson::SIMDJSON_PADDING - filled < kBlockBytes / 2) {
      buffer.resize(buffer.size() + kBlockBytes);  // a line longer than what is left
    }
    BASIN_ASSIGN_OR_RETURN(
        size_t n,
        file.ReadUpTo(buffer.data() + filled, buffer.size() - simdjson::SIMDJSON_PADDING - filled));
    eof = n == 0;
    filled += n;
    size_t start = 0;
    while (shape.plain) {
      const void* lf = std::memchr(buffer.data() + start, '\n', filled - start);
      if (lf == nullptr) break;
      const size_t end = static_cast<size_t>(static_cast<const char*>(lf) - buffer.data());
      builder.Line(std::string_view(buffer.data() + start, end - start));
      start = end + 1;
    }
    if (eof && shape.plain) {
      builder.Line(std::string_view(buffer.data() + start, filled - start));
      start = filled;
    }
    std::memmove(buffer.data(), buffer.data() + start, filled - start);
    filled -= start;
  }
  return shape;
}

}  // namespace basin::ingest
