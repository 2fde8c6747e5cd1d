#include "ingest/event_body.h"

#include <simdjson.h>

#include <vector>

namespace basin::ingest {
namespace {

namespace dom = simdjson::dom;

std::string_view TrimAscii(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

Status TooLarge(size_t size, const IngestLimits& limits) {
  return Status(ErrorCode::kRecordTooLarge, "event is " + std::to_string(size) +
                                                " bytes, over the limit of " +
                                                std::to_string(limits.max_record_bytes));
}

Status TooMany(const IngestLimits& limits) {
  return Status(
      ErrorCode::kPayloadTooLarge,
      "request has more than " + std::to_string(limits.max_records_per_request) + " events");
}

Status ParseError(simdjson::error_code error, const IngestLimits& limits) {
  if (error == simdjson::DEPTH_ERROR) {
    return Status(
        ErrorCode::kMalformedJson,
        "JSON nested deeper than " + std::to_string(limits.max_nesting_depth) + " levels");
  }
  return Status(ErrorCode::kMalformedJson,
                std::string("invalid JSON: ") + simdjson::error_message(error));
}

// A parser whose depth limit allows one more level than an event (for the enclosing array).
dom::parser& ThreadParser(const IngestLimits& limits) {
  thread_local dom::parser parser;
  thread_local size_t depth = 0;
  if (depth != limits.max_nesting_depth + 1) {
    depth = limits.max_nesting_depth + 1;
    parser = dom::parser();
    // On failure the parser stays unallocated and parse() reports the memory error itself.
    if (parser.allocate(64 * 1024, depth) != simdjson::SUCCESS) depth = 0;
  }
  return parser;
}

// The top-level elements of a JSON array, as spans of its text. `array` must be valid JSON (the
// DOM parse has checked it), so only strings and nesting need tracking.
std::vector<std::string_view> SplitArrayElements(std::string_view array) {
  std::vector<std::string_view> elements;
  size_t depth = 0;
  size_t start = 0;
  bool in_string = false;
  for (size_t i = 0; i < array.size(); ++i) {
    const char c = array[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (depth++ == 0) start = i + 1;
        break;
      case ']':
      case '}':
        if (--depth == 0) {
          std::string_view last = TrimAscii(array.substr(start, i - start));
          if (!last.empty()) elements.push_back(last);
        }
        break;
      case ',':
        if (depth == 1) {
          elements.push_back(TrimAscii(array.substr(start, i - start)));
          start = i + 1;
        }
        break;
      default: break;
    }
  }
  return elements;
}

Status VisitLines(std::string_view body, const IngestLimits& limits, const EventVisitor& visit) {
  dom::parser& parser = ThreadParser(limits);
  size_t index = 0;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = TrimAscii(body.substr(start, end - start));
    start = end + 1;
    if (line.empty()) continue;
    if (index >= limits.max_records_per_request) return TooMany(limits);
    if (line.size() > limits.max_record_bytes) {
      visit(index++, nullptr, {}, TooLarge(line.size(), limits));
      continue;
    }
    dom::element element;
    auto error = parser.parse(line.data(), line.size()).get(element);
    if (error) {
      visit(index++, nullptr, {}, ParseError(error, limits));
    } else if (!element.is_object()) {
      visit(index++, nullptr, {},
            Status(ErrorCode::kValidationFailed, "event is not a JSON object"));
    } else {
      visit(index++, &element, line, Status::Ok());
    }
  }
  if (index == 0) return Status(ErrorCode::kMalformedBody, "body holds no events");
  return Status::Ok();
}

}  // namespace

Status VisitEvents(std::string_view body, bool ndjson_content_type, const IngestLimits& limits,
                   const EventVisitor& visit) {
  std::string_view trimmed = TrimAscii(body);
  if (trimmed.empty()) return Status(ErrorCode::kMalformedBody, "empty body");
  if (trimmed.size() > limits.max_decompressed_bytes) {
    return Status(ErrorCode::kPayloadTooLarge, "body too large");
  }
  if (ndjson_content_type) return VisitLines(trimmed, limits, visit);

  dom::parser& parser = ThreadParser(limits);
  dom::element root;
  auto error = parser.parse(trimmed.data(), trimmed.size()).get(root);
  if (error == simdjson::TAPE_ERROR && trimmed.front() == '{' &&
      trimmed.find('\n') != std::string_view::npos) {
    // More than one document: NDJSON sent without its content type.
    return VisitLines(trimmed, limits, visit);
  }
  if (error) return ParseError(error, limits);

  if (root.is_object()) {
    if (trimmed.size() > limits.max_record_bytes) {
      visit(0, nullptr, {}, TooLarge(trimmed.size(), limits));
    } else {
      visit(0, &root, trimmed, Status::Ok());
    }
    return Status::Ok();
  }
  dom::array array;
  if (root.get_array().get(array)) {
    return Status(ErrorCode::kMalformedBody,
                  "body must be a JSON object, an array of objects, or NDJSON");
  }
  if (array.size() == 0) return Status(ErrorCode::kMalformedBody, "body holds no events");
  if (array.size() > limits.max_records_per_request) return TooMany(limits);
  // Each event keeps the bytes the client sent: its span of the body, not a re-serialisation.
  const std::vector<std::string_view> texts = SplitArrayElements(trimmed);
  if (texts.size() != array.size()) {  // cannot happen for JSON the parser accepted
    return Status(ErrorCode::kInternal, "array elements could not be delimited");
  }
  size_t index = 0;
  for (dom::element element : array) {
    const std::string_view text = texts[index];
    if (!element.is_object()) {
      visit(index++, nullptr, {},
            Status(ErrorCode::kValidationFailed, "event is not a JSON object"));
      continue;
    }
    if (text.size() > limits.max_record_bytes) {
      visit(index++, nullptr, {}, TooLarge(text.size(), limits));
      continue;
    }
    visit(index++, &element, text, Status::Ok());
  }
  return Status::Ok();
}

}  // namespace basin::ingest
