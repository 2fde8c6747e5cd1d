#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "storage/bucket_store.h"

namespace basin::api::s3 {

// The namespace of every S3 answer body.
inline constexpr std::string_view kXmlNamespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// Writes the XML answers of the S3 API: an `<?xml ...?>` declaration, then elements opened and
// closed in order. Text and attribute values are escaped; characters XML 1.0 cannot carry (C0
// controls other than tab, CR, LF) are written as numeric references so no key is lost.
class XmlWriter {
 public:
  XmlWriter();
  // `<name attr="v" ...>`; pass {"xmlns", kXmlNamespace} for the root.
  XmlWriter& Open(
      std::string_view name,
      const std::vector<std::pair<std::string_view, std::string_view>>& attributes = {});
  XmlWriter& Close();  // closes the innermost open element
  // `<name>text</name>`
  XmlWriter& Element(std::string_view name, std::string_view text);
  XmlWriter& Element(std::string_view name, int64_t value);
  XmlWriter& Bool(std::string_view name, bool value);
  // Closes every open element and returns the document.
  std::string Take();

 private:
  std::string out_;
  std::vector<std::string> open_;
};

// Escapes text for element content or a double-quoted attribute.
void AppendXmlEscaped(std::string& out, std::string_view text);

// A parsed element: local name (any `prefix:` dropped), its direct character data (entity and
// character references resolved, CDATA included, whitespace kept as sent) and child elements.
// Attributes (xmlns) are checked for syntax and dropped: no S3 request body needs them.
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
};

struct XmlLimits {
  size_t max_bytes = 4u << 20;  // 10,000 parts of a CompleteMultipartUpload fit with room to spare
  size_t max_elements = 100'000;
  size_t max_depth = 16;
};

// A small strict parser for the request bodies S3 clients send (CompleteMultipartUpload, Delete,
// CreateBucketConfiguration): one root element, optional declaration, comments; no DTD (so no
// entity expansion), no unknown entities, matching end tags, nothing after the root. Any failure
// is kInvalidArgument "MalformedXML: ...".
Result<XmlElement> ParseXml(std::string_view body, const XmlLimits& limits = {});

// ---- The request bodies -------------------------------------------------------------------

struct ObjectToDelete {
  std::string key;         // exactly as sent (whitespace is part of a key)
  std::string version_id;  // "" when absent
};
struct DeleteObjectsInput {
  bool quiet = false;
  std::vector<ObjectToDelete> objects;
};
inline constexpr size_t kMaxDeleteObjects = 1000;
// `<Delete><Quiet>true</Quiet><Object><Key>k</Key><VersionId>v</VersionId></Object>...</Delete>`.
// MalformedXML for bad XML, no objects, an object without a key, or more than 1,000 objects.
Result<DeleteObjectsInput> ParseDeleteObjects(std::string_view body);

// `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"…"</ETag></Part>…`, parts in
// the order sent (the store checks the order). MalformedXML for bad XML, no parts, a part without
// number or ETag, or a number that is not an integer; checksum members are ignored.
Result<std::vector<storage::CompletedPart>> ParseCompleteMultipartUpload(std::string_view body);

// The LocationConstraint of a `<CreateBucketConfiguration>` body ("" when the body is empty or
// has none). MalformedXML for a body that is not that document.
Result<std::string> ParseCreateBucketConfiguration(std::string_view body);

}  // namespace basin::api::s3
