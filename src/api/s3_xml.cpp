#include "api/s3_xml.h"

#include <charconv>
#include <cstdio>

#include "base/utf8.h"

namespace basin::api::s3 {

// ---- Writing --------------------------------------------------------------------------------

void AppendXmlEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;  // a literal CR would be normalised away by the reader
      case '\0': out += "\xEF\xBF\xBD"; break;  // XML cannot carry NUL at all: U+FFFD
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "&#%d;", static_cast<int>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
}

XmlWriter::XmlWriter() { out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"; }

XmlWriter& XmlWriter::Open(
    std::string_view name,
    const std::vector<std::pair<std::string_view, std::string_view>>& attributes) {
  out_.push_back('<');
  out_.append(name);
  for (const auto& [attribute, value] : attributes) {
    out_.push_back(' ');
    out_.append(attribute);
    out_ += "=\"";
    AppendXmlEscaped(out_, value);
    out_.push_back('"');
  }
  out_.push_back('>');
  open_.emplace_back(name);
  return *this;
}

XmlWriter& XmlWriter::Close() {
  if (open_.empty()) return *this;
  out_ += "</";
  out_ += open_.back();
  out_.push_back('>');
  open_.pop_back();
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view name, std::string_view text) {
  out_.push_back('<');
  out_.append(name);
  out_.push_back('>');
  AppendXmlEscaped(out_, text);
  out_ += "</";
  out_.append(name);
  out_.push_back('>');
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view name, int64_t value) {
  return Element(name, std::to_string(value));
}

XmlWriter& XmlWriter::Bool(std::string_view name, bool value) {
  return Element(name, value ? "true" : "false");
}

std::string XmlWriter::Take() {
  while (!open_.empty()) Close();
  return std::move(out_);
}

// ---- Parsing --------------------------------------------------------------------------------

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const auto& child : children) {
    if (child.name == child_name) return &child;
  }
  return nullptr;
}

namespace {

Status Malformed(std::string_view what) {
  return Error(ErrorCode::kInvalidArgument,
               "MalformedXML: The XML you provided was not well-formed or did not validate "
               "against our published schema (" +
                   std::string(what) + ")");
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsNameChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || u >= 0x80;
}

class XmlParser {
 public:
  XmlParser(std::string_view in, const XmlLimits& limits) : in_(in), limits_(limits) {}

  Result<XmlElement> Document() {
    if (in_.size() > limits_.max_bytes) return Malformed("the body is too large");
    if (in_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte order mark
    if (Peek("<?xml")) {
      const size_t end = in_.find("?>", pos_);
      if (end == std::string_view::npos) return Malformed("unterminated declaration");
      pos_ = end + 2;
    }
    BASIN_RETURN_IF_ERROR(SkipMisc());
    if (Peek("<!")) return Malformed("document type declarations are not accepted");
    if (!Peek("<")) return Malformed("no root element");
    XmlElement root;
    BASIN_RETURN_IF_ERROR(ParseElement(root, 1));
    BASIN_RETURN_IF_ERROR(SkipMisc());
    if (pos_ != in_.size()) return Malformed("content after the root element");
    return root;
  }

 private:
  bool Peek(std::string_view s) const { return in_.substr(pos_, s.size()) == s; }

  void SkipSpace() {
    while (pos_ < in_.size() && IsSpace(in_[pos_])) ++pos_;
  }

  // Whitespace, comments and processing instructions outside the root.
  Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (Peek("<!--")) {
        BASIN_RETURN_IF_ERROR(SkipComment());
      } else if (Peek("<?")) {
        const size_t end = in_.find("?>", pos_ + 2);
        if (end == std::string_view::npos) return Malformed("unterminated processing instruction");
        pos_ = end + 2;
      } else {
        return Status::Ok();
      }
    }
  }

  Status SkipComment() {
    const size_t end = in_.find("-->", pos_ + 4);
    if (end == std::string_view::npos) return Malformed("unterminated comment");
    pos_ = end + 3;
    return Status::Ok();
  }

  Result<std::string_view> Name() {
    const size_t start = pos_;
    while (pos_ < in_.size() && IsNameChar(in_[pos_])) ++pos_;
    if (pos_ == start) return Malformed("a name was expected");
    const char first = in_[start];
    if ((first >= '0' && first <= '9') || first == '-' || first == '.') {
      return Malformed("a name starts with a digit, '-' or '.'");
    }
    return in_.substr(start, pos_ - start);
  }

  static std::string LocalName(std::string_view name) {
    const size_t colon = name.rfind(':');
    return std::string(colon == std::string_view::npos ? name : name.substr(colon + 1));
  }

  // After '&': a predefined entity or a character reference, appended to `out`.
  Status Reference(std::string& out) {
    const size_t end = in_.find(';', pos_);
    if (end == std::string_view::npos || end - pos_ > 12) return Malformed("bad reference");
    const std::string_view ref = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    if (ref == "lt") return out.push_back('<'), Status::Ok();
    if (ref == "gt") return out.push_back('>'), Status::Ok();
    if (ref == "amp") return out.push_back('&'), Status::Ok();
    if (ref == "quot") return out.push_back('"'), Status::Ok();
    if (ref == "apos") return out.push_back('\''), Status::Ok();
    if (ref.size() < 2 || ref[0] != '#') return Malformed("unknown entity");
    uint32_t cp = 0;
    const bool hex = ref[1] == 'x';
    const std::string_view digits = ref.substr(hex ? 2 : 1);
    if (digits.empty()) return Malformed("bad character reference");
    auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || cp == 0 || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return Malformed("bad character reference");
    }
    AppendUtf8(out, cp);
    return Status::Ok();
  }

  Status Attributes() {
    for (;;) {
      const size_t before = pos_;
      SkipSpace();
      if (pos_ >= in_.size()) return Malformed("unterminated start tag");
      if (in_[pos_] == '>' || in_[pos_] == '/') return Status::Ok();
      if (pos_ == before) return Malformed("attributes must be separated by whitespace");
      BASIN_RETURN_IF_ERROR(Name().status());
      SkipSpace();
      if (pos_ >= in_.size() || in_[pos_] != '=') return Malformed("attribute without value");
      ++pos_;
      SkipSpace();
      if (pos_ >= in_.size() || (in_[pos_] != '"' && in_[pos_] != '\'')) {
        return Malformed("attribute value not quoted");
      }
      const char quote = in_[pos_++];
      std::string ignored;
      while (pos_ < in_.size() && in_[pos_] != quote) {
        if (in_[pos_] == '<') return Malformed("'<' in an attribute value");
        if (in_[pos_] == '&') {
          ++pos_;
          BASIN_RETURN_IF_ERROR(Reference(ignored));
        } else {
          ++pos_;
        }
      }
      if (pos_ >= in_.size()) return Malformed("unterminated attribute value");
      ++pos_;
    }
  }

  // At '<' of a start tag.
  Status ParseElement(XmlElement& element, size_t depth) {
    if (depth > limits_.max_depth) return Malformed("elements nested too deeply");
    if (++elements_ > limits_.max_elements) return Malformed("too many elements");
    ++pos_;
    BASIN_ASSIGN_OR_RETURN(std::string_view name, Name());
    element.name = LocalName(name);
    BASIN_RETURN_IF_ERROR(Attributes());
    if (Peek("/>")) {
      pos_ += 2;
      return Status::Ok();
    }
    ++pos_;  // '>'
    for (;;) {
      if (pos_ >= in_.size()) return Malformed("unterminated element <" + element.name + ">");
      const char c = in_[pos_];
      if (c == '&') {
        ++pos_;
        BASIN_RETURN_IF_ERROR(Reference(element.text));
      } else if (c != '<') {
        if (c == '\r') {  // XML end-of-line handling: CR LF and lone CR become LF
          element.text.push_back('\n');
          ++pos_;
          if (pos_ < in_.size() && in_[pos_] == '\n') ++pos_;
        } else {
          element.text.push_back(c);
          ++pos_;
        }
      } else if (Peek("</")) {
        pos_ += 2;
        BASIN_ASSIGN_OR_RETURN(std::string_view end_name, Name());
        if (end_name != name) return Malformed("</" + std::string(end_name) + "> does not match");
        SkipSpace();
        if (pos_ >= in_.size() || in_[pos_] != '>') return Malformed("bad end tag");
        ++pos_;
        return Status::Ok();
      } else if (Peek("<!--")) {
        BASIN_RETURN_IF_ERROR(SkipComment());
      } else if (Peek("<![CDATA[")) {
        const size_t end = in_.find("]]>", pos_ + 9);
        if (end == std::string_view::npos) return Malformed("unterminated CDATA section");
        element.text.append(in_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (Peek("<?")) {
        const size_t end = in_.find("?>", pos_ + 2);
        if (end == std::string_view::npos) return Malformed("unterminated processing instruction");
        pos_ = end + 2;
      } else if (Peek("<!")) {
        return Malformed("declarations are not accepted inside elements");
      } else {
        element.children.emplace_back();
        BASIN_RETURN_IF_ERROR(ParseElement(element.children.back(), depth + 1));
      }
    }
  }

  std::string_view in_;
  const XmlLimits& limits_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<XmlElement> ParseXml(std::string_view body, const XmlLimits& limits) {
  return XmlParser(body, limits).Document();
}

Result<DeleteObjectsInput> ParseDeleteObjects(std::string_view body) {
  BASIN_ASSIGN_OR_RETURN(XmlElement root, ParseXml(body));
  if (root.name != "Delete") return Malformed("the root element must be <Delete>");
  DeleteObjectsInput input;
  for (const auto& child : root.children) {
    if (child.name == "Quiet") {
      const std::string_view value = Trim(child.text);
      if (value == "true") {
        input.quiet = true;
      } else if (value != "false") {
        return Malformed("<Quiet> must be true or false");
      }
    } else if (child.name == "Object") {
      if (input.objects.size() == kMaxDeleteObjects) {
        return Malformed("a Delete request names at most 1000 objects");
      }
      const XmlElement* key = child.Child("Key");
      if (key == nullptr) return Malformed("an <Object> without <Key>");
      ObjectToDelete object;
      object.key = key->text;
      if (const XmlElement* version = child.Child("VersionId")) {
        object.version_id = std::string(Trim(version->text));
      }
      input.objects.push_back(std::move(object));
    }
  }
  if (input.objects.empty()) return Malformed("a Delete request names no object");
  return input;
}

Result<std::vector<storage::CompletedPart>> ParseCompleteMultipartUpload(std::string_view body) {
  BASIN_ASSIGN_OR_RETURN(XmlElement root, ParseXml(body));
  if (root.name != "CompleteMultipartUpload") {
    return Malformed("the root element must be <CompleteMultipartUpload>");
  }
  std::vector<storage::CompletedPart> parts;
  for (const auto& child : root.children) {
    if (child.name != "Part") continue;
    const XmlElement* number = child.Child("PartNumber");
    const XmlElement* etag = child.Child("ETag");
    if (number == nullptr || etag == nullptr) {
      return Malformed("a <Part> needs <PartNumber> and <ETag>");
    }
    const std::string_view digits = Trim(number->text);
    int value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
      return Malformed("<PartNumber> is not an integer");
    }
    parts.push_back({value, std::string(Trim(etag->text))});
  }
  if (parts.empty()) return Malformed("a CompleteMultipartUpload request names no part");
  return parts;
}

Result<std::string> ParseCreateBucketConfiguration(std::string_view body) {
  if (Trim(body).empty()) return std::string();
  BASIN_ASSIGN_OR_RETURN(XmlElement root, ParseXml(body));
  if (root.name != "CreateBucketConfiguration") {
    return Malformed("the root element must be <CreateBucketConfiguration>");
  }
  const XmlElement* location = root.Child("LocationConstraint");
  return location == nullptr ? std::string() : std::string(Trim(location->text));
}

}  // namespace basin::api::s3
