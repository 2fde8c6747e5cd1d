#include "api/s3_api.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/s3_checksum.h"
#include "api/s3_xml.h"
#include "base/base64.h"
#include "base/clock.h"
#include "base/hash.h"
#include "unit/temp_dir.h"

namespace basin::api {
namespace {

using s3::XmlElement;

constexpr size_t kMiB = 1 << 20;

// ---- XML ------------------------------------------------------------------------------------

TEST(S3XmlTest, WriterEscapesAndParserReadsItBack) {
  s3::XmlWriter w;
  w.Open("Root", {{"xmlns", s3::kXmlNamespace}})
      .Element("Key", " a<b>&\"c'\t\r\n\x01 ")
      .Element("N", 42)
      .Bool("B", true)
      .Open("Inner")
      .Element("X", "y");
  const std::string xml = w.Take();
  EXPECT_EQ(xml.substr(0, 38), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
  EXPECT_NE(xml.find("<Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"),
            std::string::npos);
  EXPECT_NE(xml.find("</Inner></Root>"), std::string::npos);
  auto root = s3::ParseXml(xml);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->name, "Root");
  ASSERT_NE(root->Child("Key"), nullptr);
  EXPECT_EQ(root->Child("Key")->text, " a<b>&\"c'\t\r\n\x01 ");
  EXPECT_EQ(root->Child("N")->text, "42");
  EXPECT_EQ(root->Child("B")->text, "true");
  EXPECT_EQ(root->Child("Inner")->Child("X")->text, "y");
}

TEST(S3XmlTest, ParserAcceptsWhatClientsSend) {
  auto root = s3::ParseXml(
      "\xEF\xBB\xBF<?xml version='1.0' encoding='UTF-8'?>\n<!-- hi -->\n"
      "<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key><![CDATA[a<b]]>"
      "&#x41;&#66;&amp;</Key></Object><Empty/></s3:Delete>\n");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->name, "Delete");
  EXPECT_EQ(root->Child("Object")->Child("Key")->text, "a<bAB&");
  ASSERT_NE(root->Child("Empty"), nullptr);
  EXPECT_EQ(root->Child("Empty")->text, "");
}

TEST(S3XmlTest, ParserRejectsMalformedDocuments) {
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "<a>",
      "<a></b>",
      "<a><b></a></b>",
      "<a>&unknown;</a>",
      "<a>&#0;</a>",
      "<a>&#xD800;</a>",
      "<a></a><b></b>",
      "<a></a>trailing",
      "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
      "<a b=c></a>",
      "<a b=\"1\"c=\"2\"></a>",
      "<1a></1a>",
      "<a><!-- unterminated </a>",
      std::string(20, '<'),
  };
  for (const auto& body : bad) {
    auto root = s3::ParseXml(body);
    EXPECT_FALSE(root.ok()) << body;
    if (!root.ok()) {
      EXPECT_EQ(root.status().message().substr(0, 13), "MalformedXML:") << body;
    }
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  for (int i = 0; i < 40; ++i) deep += "</a>";
  EXPECT_FALSE(s3::ParseXml(deep).ok());
  s3::XmlLimits small;
  small.max_bytes = 10;
  EXPECT_FALSE(s3::ParseXml("<a>0123456789</a>", small).ok());
}

std::string DeleteBody(size_t count, bool quiet = false) {
  std::string body = "<Delete>";
  if (quiet) body += "<Quiet>true</Quiet>";
  for (size_t i = 0; i < count; ++i)
    body += "<Object><Key>k" + std::to_string(i) + "</Key></Object>";
  return body + "</Delete>";
}

TEST(S3XmlTest, DeleteObjectsBody) {
  auto input = s3::ParseDeleteObjects(
      "<Delete><Quiet>true</Quiet><Object><Key> spaced key </Key><VersionId>null</VersionId>"
      "</Object><Object><Key>b</Key></Object></Delete>");
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  EXPECT_TRUE(input->quiet);
  ASSERT_EQ(input->objects.size(), 2u);
  EXPECT_EQ(input->objects[0].key, " spaced key ");
  EXPECT_EQ(input->objects[0].version_id, "null");
  EXPECT_EQ(input->objects[1].version_id, "");
  EXPECT_TRUE(s3::ParseDeleteObjects(DeleteBody(1000)).ok());
  EXPECT_FALSE(s3::ParseDeleteObjects(DeleteBody(1001)).ok());
  EXPECT_FALSE(s3::ParseDeleteObjects("<Delete></Delete>").ok());
  EXPECT_FALSE(s3::ParseDeleteObjects("<Delete><Object></Object></Delete>").ok());
  EXPECT_FALSE(s3::ParseDeleteObjects("<Other><Object><Key>a</Key></Object></Other>").ok());
  EXPECT_FALSE(
      s3::ParseDeleteObjects("<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>")
          .ok());
}

TEST(S3XmlTest, CompleteMultipartUploadBody) {
  auto parts = s3::ParseCompleteMultipartUpload(
      "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Part><ETag>\"aa\"</ETag><PartNumber> 2 </PartNumber><ChecksumCRC32>x</ChecksumCRC32>"
      "</Part><Part><PartNumber>1</PartNumber><ETag>bb</ETag></Part></CompleteMultipartUpload>");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].part_number, 2);
  EXPECT_EQ((*parts)[0].etag, "\"aa\"");
  EXPECT_EQ((*parts)[1].part_number, 1);
  EXPECT_FALSE(s3::ParseCompleteMultipartUpload("<CompleteMultipartUpload/>").ok());
  EXPECT_FALSE(s3::ParseCompleteMultipartUpload(
                   "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag>"
                   "</Part></CompleteMultipartUpload>")
                   .ok());
  EXPECT_FALSE(s3::ParseCompleteMultipartUpload(
                   "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
                   "</CompleteMultipartUpload>")
                   .ok());
  EXPECT_FALSE(s3::ParseCompleteMultipartUpload("not xml at all").ok());
}

// Mutated request bodies (flipped, inserted, deleted bytes; truncation) never crash the parsers
// and fail only with MalformedXML.
TEST(S3XmlTest, MutatedBodiesAreRejectedCleanly) {
  const std::vector<std::string> seeds = {
      "<?xml version=\"1.0\"?><CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/"
      "2006-03-01/\"><Part><PartNumber>1</PartNumber><ETag>&quot;ab&quot;</ETag></Part>"
      "<!-- c --><Part><PartNumber>2</PartNumber><ETag><![CDATA[\"cd\"]]></ETag></Part>"
      "</CompleteMultipartUpload>",
      "<Delete><Quiet>true</Quiet><Object><Key>a&#x41;&lt;</Key><VersionId>null</VersionId>"
      "</Object><Object><Key>b</Key></Object></Delete>",
  };
  static constexpr char kInteresting[] = "<>/&;#x\"'=![]-?: \n\x00\xff";
  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string body = seeds[i % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng() % body.size();
      switch (rng() % 4) {
        case 0: body[at] = kInteresting[rng() % (sizeof(kInteresting) - 1)]; break;
        case 1: body.insert(at, 1, kInteresting[rng() % (sizeof(kInteresting) - 1)]); break;
        case 2: body.erase(at, 1 + rng() % 8); break;
        default: body.resize(at); break;
      }
    }
    for (const Status& status : {s3::ParseXml(body).status(), s3::ParseDeleteObjects(body).status(),
                                 s3::ParseCompleteMultipartUpload(body).status()}) {
      if (status.ok()) {
        ++accepted;
      } else {
        ASSERT_EQ(status.message().substr(0, 13), "MalformedXML:") << body;
      }
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations stay well-formed (inside text): the seeds parse
}

TEST(S3XmlTest, CreateBucketConfiguration) {
  EXPECT_EQ(*s3::ParseCreateBucketConfiguration(""), "");
  EXPECT_EQ(*s3::ParseCreateBucketConfiguration(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"),
            "eu-west-1");
  EXPECT_FALSE(s3::ParseCreateBucketConfiguration("<Nope/>").ok());
}

// ---- Checksums ------------------------------------------------------------------------------

std::string HexOf(std::string_view base64) {
  auto raw = Base64Decode(base64);
  return raw ? HexEncode(reinterpret_cast<const uint8_t*>(raw->data()), raw->size()) : "?";
}

TEST(S3ChecksumTest, KnownVectors) {
  // CRC-64/NVME check value (CRC catalogue), NVMe NVM Command Set spec 1.0 (4 KiB of 0x00 /
  // 0xFF), crc64fast-nvme's "hello world!" example.
  EXPECT_EQ(s3::Crc64Nvme("123456789"), 0xAE8B14860A799888ULL);
  EXPECT_EQ(s3::Crc64Nvme(std::string(4096, '\0')), 0x6482D367EB22B64EULL);
  EXPECT_EQ(s3::Crc64Nvme(std::string(4096, '\xFF')), 0xC0DDBA7302ECA3ACULL);
  EXPECT_EQ(s3::Crc64Nvme("hello world!"), 0xd9160d1fa8e418e3ULL);
  EXPECT_EQ(s3::Crc64NvmeExtend(s3::Crc64Nvme("hello "), "world!"), s3::Crc64Nvme("hello world!"));
  // The aws-chunked example of the S3 documentation: "hello world\n" has crc32 rwg7LQ==.
  EXPECT_EQ(*s3::ChecksumBase64("crc32", "hello world\n"), "rwg7LQ==");
  EXPECT_EQ(HexOf(*s3::ChecksumBase64("crc32c", "123456789")), "e3069283");
  EXPECT_EQ(HexOf(*s3::ChecksumBase64("crc64nvme", "123456789")), "ae8b14860a799888");
  EXPECT_EQ(HexOf(*s3::ChecksumBase64("sha1", "abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(HexOf(*s3::ChecksumBase64("sha256", "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(s3::ChecksumBase64("md4", "abc").has_value());
}

TEST(S3ChecksumTest, VerifyFromHeadersAndTrailers) {
  Headers headers;
  headers.emplace("X-Amz-Checksum-Crc32", "rwg7LQ==");
  auto ok = s3::VerifyChecksums(headers, {}, "hello world\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->at("crc32"), "rwg7LQ==");
  auto bad = s3::VerifyChecksums(headers, {}, "hello world!");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().substr(0, 10), "BadDigest:");
  auto from_trailer =
      s3::VerifyChecksums({}, {{"x-amz-checksum-sha256", *s3::ChecksumBase64("sha256", "x")}}, "x");
  ASSERT_TRUE(from_trailer.ok());
  EXPECT_EQ(from_trailer->count("sha256"), 1u);
  Headers malformed;
  malformed.emplace("x-amz-checksum-crc32c", "AAAA");  // 3 bytes, not 4
  auto invalid = s3::VerifyChecksums(malformed, {}, "x");
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().message().substr(0, 15), "InvalidRequest:");
  EXPECT_TRUE(s3::VerifyContentMd5("", "anything").ok());
  const Md5Digest md5 = Md5("body");
  const std::string good = Base64Encode(std::string(md5.begin(), md5.end()));
  EXPECT_TRUE(s3::VerifyContentMd5(good, "body").ok());
  EXPECT_EQ(s3::VerifyContentMd5(good, "other").message().substr(0, 10), "BadDigest:");
  EXPECT_EQ(s3::VerifyContentMd5("not-base64!", "body").message().substr(0, 14), "InvalidDigest:");
  EXPECT_EQ(s3::VerifyContentMd5("AAAA", "body").message().substr(0, 14), "InvalidDigest:");
}

// ---- The API over a real BucketStore --------------------------------------------------------

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        return v;
      }
    }
    return std::nullopt;
  }
  XmlElement Xml() const {
    auto root = s3::ParseXml(body);
    EXPECT_TRUE(root.ok()) << root.status().ToString() << "\n" << body;
    return root.ok() ? *root : XmlElement{};
  }
  std::string ErrorCode() const {
    auto root = s3::ParseXml(body);
    if (!root.ok() || root->name != "Error" || root->Child("Code") == nullptr) return "";
    return root->Child("Code")->text;
  }
};

// Pointers into `e`: never call it on a temporary.
std::vector<const XmlElement*> Children(XmlElement&& e, std::string_view name) = delete;
std::vector<const XmlElement*> Children(const XmlElement& e, std::string_view name) {
  std::vector<const XmlElement*> out;
  for (const auto& child : e.children) {
    if (child.name == name) out.push_back(&child);
  }
  return out;
}

std::string Text(const XmlElement& e, std::string_view name) {
  const XmlElement* child = e.Child(name);
  return child ? child->text : "<absent>";
}

std::string Md5Base64(std::string_view data) {
  const Md5Digest d = Md5(data);
  return Base64Encode(std::string(d.begin(), d.end()));
}
std::string Md5Hex(std::string_view data) { return HexEncode(Md5(data)); }

// Query-string encoding of a value (tokens are base64: '+', '/' and '=' must be escaped).
std::string UrlEncodeForTest(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class S3ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(uint64_t min_part_bytes = 5 * kMiB) {
    api_.reset();
    store_.reset();
    storage::BucketStoreOptions options;
    options.data_dir = dir_.path() + "/data";
    options.lake_root = dir_.path() + "/lake";
    options.clock = &clock_;
    options.min_part_bytes = min_part_bytes;
    std::filesystem::create_directories(options.lake_root + "/raw/orders");
    auto store = storage::BucketStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    S3ApiOptions api_options;
    api_options.run_blocking = [this](std::function<void()> task) {
      ++blocking_tasks_;
      task();
    };
    api_options.on_landing_object = [this](const storage::ObjectInfo& info,
                                           const std::string& path) {
      landed_.push_back({info.key, path});
      LandingOutcome outcome;
      if (info.key.find("bad") != std::string::npos) {
        outcome.error = Error(ErrorCode::kSchemaIncompatible, "column x\nis wrong");
      } else {
        outcome.ingested = true;
        outcome.summary = "loaded 2 rows into raw.orders";
      }
      return outcome;
    };
    api_ = std::make_unique<S3Api>(store_.get(), api_options);
  }

  Answer Send(std::string method, std::string target, std::string body = "",
              std::vector<std::pair<std::string, std::string>> headers = {},
              std::string host = "127.0.0.1:4566") {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    const size_t question = request.target.find('?');
    auto path = PercentDecode(RawPathOf(request.target));
    EXPECT_TRUE(path.has_value()) << request.target;
    request.path = path.value_or("");
    if (question != std::string::npos) {
      auto query = ParseQueryString(std::string_view(request.target).substr(question + 1));
      EXPECT_TRUE(query.has_value()) << request.target;
      if (query) request.query = std::move(*query);
    }
    request.headers.emplace("Host", host);
    for (auto& [k, v] : headers) request.headers.emplace(k, v);
    request.body = std::move(body);
    AwsRequestContext context = context_;
    context.request_id = "0123456789ABCDEF";
    int calls = 0;
    Answer answer;
    api_->Handle(request, context, [&](HttpResponse response) {
      ++calls;
      answer.status = response.status;
      answer.content_type = response.content_type;
      answer.body = std::move(response.body);
      answer.headers = std::move(response.headers);
    });
    EXPECT_EQ(calls, 1) << request.method << " " << request.target;
    EXPECT_EQ(answer.Header("x-amz-request-id").value_or(""), "0123456789ABCDEF");
    return answer;
  }

  Answer Put(std::string target, std::string body,
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Send("PUT", std::move(target), std::move(body), std::move(headers));
  }

  void MakeBucket(const std::string& name) {
    Answer a = Send("PUT", "/" + name);
    ASSERT_EQ(a.status, 200) << a.body;
  }

  std::string StartUpload(const std::string& target) {
    Answer a = Send("POST", target + "?uploads");
    EXPECT_EQ(a.status, 200) << a.body;
    return Text(a.Xml(), "UploadId");
  }

  test::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<storage::BucketStore> store_;
  std::unique_ptr<S3Api> api_;
  AwsRequestContext context_;
  std::atomic<int> blocking_tasks_{0};
  std::vector<std::pair<std::string, std::string>> landed_;
};

TEST_F(S3ApiTest, BucketLifecycle) {
  Answer none = Send("GET", "/");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(none.content_type, "application/xml");
  XmlElement list = none.Xml();
  EXPECT_EQ(list.name, "ListAllMyBucketsResult");
  EXPECT_NE(list.Child("Owner"), nullptr);

  EXPECT_EQ(Send("PUT", "/alpha").status, 200);
  Answer with_location = Send("PUT", "/beta/",
                              "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                              "2006-03-01/\"><LocationConstraint>eu-west-1</LocationConstraint>"
                              "</CreateBucketConfiguration>");
  EXPECT_EQ(with_location.status, 200) << with_location.body;
  EXPECT_EQ(with_location.Header("Location").value_or(""), "/beta");
  // Re-creating a bucket one owns is a success in us-east-1.
  EXPECT_EQ(Send("PUT", "/alpha").status, 200);
  Answer bad_name = Send("PUT", "/Bad_Name");
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(bad_name.ErrorCode(), "InvalidBucketName");
  Answer garbage = Send("PUT", "/gamma", "<CreateBucketConfiguration>");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(garbage.ErrorCode(), "MalformedXML");

  std::vector<std::string> names;
  const XmlElement all_buckets = Send("GET", "/").Xml();
  for (const XmlElement* b : Children(*all_buckets.Child("Buckets"), "Bucket")) {
    names.push_back(Text(*b, "Name"));
    EXPECT_EQ(Text(*b, "CreationDate").size(), 24u);
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "alpha"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "beta"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "landing"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "gamma"), names.end());

  Answer head = Send("HEAD", "/alpha");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("x-amz-bucket-region").value_or(""), "us-east-1");
  Answer missing = Send("HEAD", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.body.empty());

  Answer location = Send("GET", "/alpha?location");
  ASSERT_EQ(location.status, 200);
  EXPECT_EQ(location.Xml().name, "LocationConstraint");
  EXPECT_EQ(location.Xml().text, "");
  Answer versioning = Send("GET", "/alpha?versioning");
  EXPECT_EQ(versioning.status, 200);
  EXPECT_EQ(versioning.Xml().name, "VersioningConfiguration");

  ASSERT_EQ(Put("/alpha/k", "v").status, 200);
  Answer not_empty = Send("DELETE", "/alpha");
  EXPECT_EQ(not_empty.status, 409);
  EXPECT_EQ(not_empty.ErrorCode(), "BucketNotEmpty");
  EXPECT_EQ(Send("DELETE", "/alpha/k").status, 204);
  EXPECT_EQ(Send("DELETE", "/alpha").status, 204);
  EXPECT_EQ(Send("HEAD", "/alpha").status, 404);
  Answer gone = Send("DELETE", "/alpha");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.ErrorCode(), "NoSuchBucket");
  EXPECT_GT(blocking_tasks_.load(), 0);
}

TEST_F(S3ApiTest, PutGetHeadObject) {
  MakeBucket("bkt");
  const std::string body = "hello, s3";
  Answer put = Put("/bkt/dir/file.txt", body,
                   {{"Content-Type", "text/plain"},
                    {"Content-MD5", Md5Base64(body)},
                    {"X-Amz-Meta-Color", "blue"},
                    {"x-amz-meta-Empty", ""},
                    {"Cache-Control", "max-age=60"},
                    {"x-amz-acl", "private"},
                    {"x-amz-unknown-header", "ignored"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Header("ETag").value_or(""), "\"" + Md5Hex(body) + "\"");

  Answer get = Send("GET", "/bkt/dir/file.txt");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body, body);
  EXPECT_EQ(get.content_type, "text/plain");
  EXPECT_EQ(get.Header("ETag").value_or(""), "\"" + Md5Hex(body) + "\"");
  EXPECT_EQ(get.Header("Last-Modified").value_or(""), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(get.Header("Accept-Ranges").value_or(""), "bytes");
  EXPECT_EQ(get.Header("x-amz-meta-color").value_or(""), "blue");
  EXPECT_EQ(get.Header("x-amz-meta-empty").value_or("absent"), "");
  EXPECT_EQ(get.Header("Cache-Control").value_or(""), "max-age=60");

  Answer head = Send("HEAD", "/bkt/dir/file.txt");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.Header("Content-Length").value_or(""), std::to_string(body.size()));
  EXPECT_EQ(head.Header("ETag"), get.Header("ETag"));

  // No Content-Type: served as binary/octet-stream. Overrides from the query.
  ASSERT_EQ(Put("/bkt/raw", "xyz").status, 200);
  EXPECT_EQ(Send("GET", "/bkt/raw").content_type, "binary/octet-stream");
  Answer overridden = Send(
      "GET", "/bkt/raw?response-content-type=text%2Fcsv&response-content-disposition=attachment");
  EXPECT_EQ(overridden.content_type, "text/csv");
  EXPECT_EQ(overridden.Header("Content-Disposition").value_or(""), "attachment");

  // An empty object.
  ASSERT_EQ(Put("/bkt/empty", "").status, 200);
  Answer empty = Send("GET", "/bkt/empty");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(empty.Header("ETag").value_or(""), "\"d41d8cd98f00b204e9800998ecf8427e\"");

  Answer missing = Send("GET", "/bkt/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.ErrorCode(), "NoSuchKey");
  EXPECT_EQ(Text(missing.Xml(), "Resource"), "/bkt/nope");
  EXPECT_EQ(Text(missing.Xml(), "RequestId"), "0123456789ABCDEF");
  Answer head_missing = Send("HEAD", "/bkt/nope");
  EXPECT_EQ(head_missing.status, 404);
  EXPECT_TRUE(head_missing.body.empty());
  Answer no_bucket = Put("/nobucket/k", "x");
  EXPECT_EQ(no_bucket.status, 404);
  EXPECT_EQ(no_bucket.ErrorCode(), "NoSuchBucket");
}

TEST_F(S3ApiTest, ConditionalGet) {
  MakeBucket("bkt");
  Answer put = Put("/bkt/k", "data");
  const std::string etag = *put.Header("ETag");
  EXPECT_EQ(Send("GET", "/bkt/k", "", {{"If-None-Match", etag}}).status, 304);
  EXPECT_EQ(Send("GET", "/bkt/k", "", {{"If-None-Match", "\"other\""}}).status, 200);
  Answer failed = Send("GET", "/bkt/k", "", {{"If-Match", "\"other\""}});
  EXPECT_EQ(failed.status, 412);
  EXPECT_EQ(failed.ErrorCode(), "PreconditionFailed");
  EXPECT_EQ(Send("GET", "/bkt/k", "", {{"If-Match", etag}}).status, 200);
  EXPECT_EQ(
      Send("GET", "/bkt/k", "", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}}).status,
      304);
  EXPECT_EQ(
      Send("GET", "/bkt/k", "", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}}).status,
      200);
  EXPECT_EQ(
      Send("GET", "/bkt/k", "", {{"If-Unmodified-Since", "Mon, 13 Nov 2023 00:00:00 GMT"}}).status,
      412);
}

TEST_F(S3ApiTest, Ranges) {
  MakeBucket("bkt");
  std::string body;
  for (int i = 0; i < 1000; ++i) body.push_back(static_cast<char>('a' + i % 26));
  ASSERT_EQ(Put("/bkt/k", body).status, 200);
  struct Case {
    std::string range;
    int status;
    std::string content_range;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"bytes=0-9", 206, "bytes 0-9/1000", body.substr(0, 10)},
      {"bytes=990-", 206, "bytes 990-999/1000", body.substr(990)},
      {"bytes=-5", 206, "bytes 995-999/1000", body.substr(995)},
      {"bytes=-5000", 206, "bytes 0-999/1000", body},
      {"bytes=500-5000", 206, "bytes 500-999/1000", body.substr(500)},
      {"bytes=0-0", 206, "bytes 0-0/1000", body.substr(0, 1)},
      {"bytes=0-1,5-6", 200, "", body},  // several ranges: the whole object, as S3
      {"bytes=9-3", 200, "", body},      // invalid syntax is ignored
      {"items=0-3", 200, "", body},
  };
  for (const auto& c : cases) {
    Answer a = Send("GET", "/bkt/k", "", {{"Range", c.range}});
    EXPECT_EQ(a.status, c.status) << c.range;
    EXPECT_EQ(a.Header("Content-Range").value_or(""), c.content_range) << c.range;
    EXPECT_EQ(a.body, c.bytes) << c.range;
  }
  Answer head = Send("HEAD", "/bkt/k", "", {{"Range", "bytes=0-99"}});
  EXPECT_EQ(head.status, 206);
  EXPECT_EQ(head.Header("Content-Length").value_or(""), "100");
  for (std::string range : {"bytes=1000-", "bytes=5000-6000", "bytes=-0"}) {
    Answer a = Send("GET", "/bkt/k", "", {{"Range", range}});
    EXPECT_EQ(a.status, 416) << range;
    EXPECT_EQ(a.ErrorCode(), "InvalidRange") << range;
  }
  ASSERT_EQ(Put("/bkt/empty", "").status, 200);
  EXPECT_EQ(Send("GET", "/bkt/empty", "", {{"Range", "bytes=0-"}}).status, 416);
}

TEST_F(S3ApiTest, DigestsAndChecksums) {
  MakeBucket("bkt");
  Answer bad_md5 = Put("/bkt/k", "abc", {{"Content-MD5", Md5Base64("abd")}});
  EXPECT_EQ(bad_md5.status, 400);
  EXPECT_EQ(bad_md5.ErrorCode(), "BadDigest");
  Answer malformed_md5 = Put("/bkt/k", "abc", {{"Content-MD5", "zzz"}});
  EXPECT_EQ(malformed_md5.status, 400);
  EXPECT_EQ(malformed_md5.ErrorCode(), "InvalidDigest");
  Answer bad_crc = Put("/bkt/k", "hello world!", {{"x-amz-checksum-crc32", "rwg7LQ=="}});
  EXPECT_EQ(bad_crc.status, 400);
  EXPECT_EQ(bad_crc.ErrorCode(), "BadDigest");
  Answer bad_value = Put("/bkt/k", "abc", {{"x-amz-checksum-sha256", "abc"}});
  EXPECT_EQ(bad_value.status, 400);
  EXPECT_EQ(bad_value.ErrorCode(), "InvalidRequest");
  // Nothing was stored by the failed PUTs.
  EXPECT_EQ(Send("HEAD", "/bkt/k").status, 404);

  Answer good =
      Put("/bkt/k", "hello world\n",
          {{"x-amz-checksum-crc32", "rwg7LQ=="},
           {"x-amz-sdk-checksum-algorithm", "CRC32"},
           {"x-amz-checksum-crc64nvme", *s3::ChecksumBase64("crc64nvme", "hello world\n")}});
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(good.Header("x-amz-checksum-crc32").value_or(""), "rwg7LQ==");
  EXPECT_TRUE(good.Header("x-amz-checksum-crc64nvme").has_value());

  // Echoed on full GET/HEAD only when asked, never on a ranged GET.
  EXPECT_FALSE(Send("GET", "/bkt/k").Header("x-amz-checksum-crc32").has_value());
  EXPECT_EQ(Send("GET", "/bkt/k", "", {{"x-amz-checksum-mode", "ENABLED"}})
                .Header("x-amz-checksum-crc32")
                .value_or(""),
            "rwg7LQ==");
  EXPECT_EQ(Send("HEAD", "/bkt/k", "", {{"x-amz-checksum-mode", "ENABLED"}})
                .Header("x-amz-checksum-crc32")
                .value_or(""),
            "rwg7LQ==");
  EXPECT_FALSE(
      Send("GET", "/bkt/k", "", {{"x-amz-checksum-mode", "ENABLED"}, {"Range", "bytes=0-1"}})
          .Header("x-amz-checksum-crc32")
          .has_value());

  // A checksum from the aws-chunked trailer.
  context_.trailers["x-amz-checksum-crc32c"] = *s3::ChecksumBase64("crc32c", "trailer body");
  Answer trailer = Put("/bkt/t", "trailer body");
  ASSERT_EQ(trailer.status, 200) << trailer.body;
  EXPECT_TRUE(trailer.Header("x-amz-checksum-crc32c").has_value());
  Answer trailer_bad = Put("/bkt/t2", "other body");
  EXPECT_EQ(trailer_bad.status, 400);
  EXPECT_EQ(trailer_bad.ErrorCode(), "BadDigest");
  EXPECT_EQ(Send("HEAD", "/bkt/t2").status, 404);
}

TEST_F(S3ApiTest, KeysAreBytesNotPaths) {
  MakeBucket("bkt");
  // `/b//k` is the key "/k"; dot segments and doubled slashes are key bytes.
  const std::vector<std::pair<std::string, std::string>> keys = {
      {"/bkt//lead", "/lead"},
      {"/bkt/a/../../escape", "a/../../escape"},
      {"/bkt/x//y", "x//y"},
      {"/bkt/..", ".."},
      {"/bkt/sp%20ace%2Bplus%3F%23", "sp ace+plus?#"},
      {"/bkt/%C3%BC", "\xC3\xBC"},
  };
  for (const auto& [target, key] : keys) {
    Answer put = Put(target, "body of " + key);
    ASSERT_EQ(put.status, 200) << target << " " << put.body;
    Answer get = Send("GET", target);
    EXPECT_EQ(get.body, "body of " + key) << target;
  }
  Answer listed = Send("GET", "/bkt?list-type=2");
  std::vector<std::string> names;
  const XmlElement listed_xml = listed.Xml();
  for (const XmlElement* c : Children(listed_xml, "Contents")) names.push_back(Text(*c, "Key"));
  for (const auto& [target, key] : keys) {
    EXPECT_NE(std::find(names.begin(), names.end(), key), names.end()) << key;
  }
  // Nothing was written as a file named after a key.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find("escape"), std::string::npos) << entry.path();
    EXPECT_EQ(entry.path().filename().string().find("lead"), std::string::npos) << entry.path();
  }
  Answer nul = Put("/bkt/a%00b", "x");
  EXPECT_EQ(nul.status, 400);
  EXPECT_EQ(nul.ErrorCode(), "InvalidArgument");
  Answer too_long = Put("/bkt/" + std::string(1025, 'k'), "x");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(too_long.ErrorCode(), "KeyTooLongError");
  EXPECT_EQ(Put("/bkt/" + std::string(1024, 'k'), "x").status, 200);
  // Deleting a key that cannot exist is the 204 of a missing key.
  EXPECT_EQ(Send("DELETE", "/bkt/a%00b").status, 204);
}

TEST_F(S3ApiTest, DeleteObjectAndDeleteObjects) {
  MakeBucket("bkt");
  EXPECT_EQ(Send("DELETE", "/bkt/missing").status, 204);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Put("/bkt/k" + std::to_string(i), "x").status, 200);

  const std::string body =
      "<Delete><Object><Key>k0</Key></Object><Object><Key>k1</Key><VersionId>null</VersionId>"
      "</Object><Object><Key>never</Key></Object></Delete>";
  Answer no_md5 = Send("POST", "/bkt?delete", body);
  EXPECT_EQ(no_md5.status, 400);
  EXPECT_EQ(no_md5.ErrorCode(), "InvalidRequest");
  Answer bad_md5 = Send("POST", "/bkt?delete", body, {{"Content-MD5", Md5Base64("x")}});
  EXPECT_EQ(bad_md5.ErrorCode(), "BadDigest");
  EXPECT_EQ(Send("HEAD", "/bkt/k0").status, 200);  // nothing deleted

  Answer deleted = Send("POST", "/bkt?delete", body, {{"Content-MD5", Md5Base64(body)}});
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  XmlElement result = deleted.Xml();
  EXPECT_EQ(result.name, "DeleteResult");
  auto entries = Children(result, "Deleted");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(Text(*entries[1], "VersionId"), "null");
  EXPECT_EQ(Send("HEAD", "/bkt/k0").status, 404);
  EXPECT_EQ(Send("HEAD", "/bkt/k1").status, 404);

  const std::string quiet =
      "<Delete><Quiet>true</Quiet><Object><Key>k2</Key></Object>"
      "<Object><Key>k3</Key><VersionId>v7</VersionId></Object></Delete>";
  Answer quiet_answer = Send("POST", "/bkt?delete", quiet,
                             {{"x-amz-checksum-crc32", *s3::ChecksumBase64("crc32", quiet)}});
  ASSERT_EQ(quiet_answer.status, 200) << quiet_answer.body;
  XmlElement quiet_result = quiet_answer.Xml();
  EXPECT_TRUE(Children(quiet_result, "Deleted").empty());
  auto errors = Children(quiet_result, "Error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(Text(*errors[0], "Key"), "k3");
  EXPECT_EQ(Text(*errors[0], "Code"), "NoSuchVersion");
  EXPECT_EQ(Send("HEAD", "/bkt/k3").status, 200);

  const std::string too_many = DeleteBody(1001);
  Answer over = Send("POST", "/bkt?delete", too_many, {{"Content-MD5", Md5Base64(too_many)}});
  EXPECT_EQ(over.status, 400);
  EXPECT_EQ(over.ErrorCode(), "MalformedXML");
  const std::string garbage = "<Delete><Object><Key>k3</Key>";
  Answer malformed = Send("POST", "/bkt?delete", garbage, {{"Content-MD5", Md5Base64(garbage)}});
  EXPECT_EQ(malformed.ErrorCode(), "MalformedXML");
  EXPECT_EQ(Send("HEAD", "/bkt/k3").status, 200);
}

// Lists every key of a bucket through ListObjectsV2 pages of `max_keys`.
TEST_F(S3ApiTest, ListObjectsV2PagingAndUrlEncoding) {
  MakeBucket("bkt");
  std::vector<std::string> keys = {"a+b c",         "dir/one", "dir/two",
                                   "dir/sub/three", "e%f",     "z\xC3\xBC"};
  for (int i = 0; i < 7; ++i) keys.push_back("many/" + std::to_string(i));
  for (const auto& k : keys) {
    std::string target = "/bkt/";
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : k) {
      if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.') {
        target.push_back(static_cast<char>(c));
      } else {
        target += '%';
        target += kHex[c >> 4];
        target += kHex[c & 15];
      }
    }
    ASSERT_EQ(Put(target, k).status, 200) << target;
  }
  std::sort(keys.begin(), keys.end());

  // Paging without delimiter, url encoding on; decode with '+' as '+' (unquote_plus style).
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  for (;;) {
    std::string target = "/bkt?list-type=2&max-keys=4&encoding-type=url";
    if (!token.empty()) {
      target += "&continuation-token=" + UrlEncodeForTest(token);
    }
    Answer a = Send("GET", target);
    ASSERT_EQ(a.status, 200) << a.body;
    XmlElement r = a.Xml();
    EXPECT_EQ(Text(r, "EncodingType"), "url");
    EXPECT_EQ(Text(r, "MaxKeys"), "4");
    const auto contents = Children(r, "Contents");
    EXPECT_EQ(Text(r, "KeyCount"), std::to_string(contents.size()));
    for (const XmlElement* c : contents) {
      const std::string raw = Text(*c, "Key");
      EXPECT_EQ(raw.find('+'), std::string::npos) << raw;
      EXPECT_EQ(raw.find(' '), std::string::npos) << raw;
      auto decoded = PercentDecode(raw, /*plus_as_space=*/true);
      ASSERT_TRUE(decoded.has_value());
      seen.push_back(*decoded);
      EXPECT_EQ(Text(*c, "StorageClass"), "STANDARD");
      EXPECT_EQ(Text(*c, "ETag").front(), '"');
      EXPECT_EQ(c->Child("Owner"), nullptr);
    }
    ++pages;
    if (Text(r, "IsTruncated") != "true") {
      EXPECT_EQ(r.Child("NextContinuationToken"), nullptr);
      break;
    }
    token = Text(r, "NextContinuationToken");
    ASSERT_FALSE(token.empty());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen, keys);
  EXPECT_EQ(pages, 4);

  // Delimiter, prefix, common prefixes counted against max-keys, fetch-owner.
  std::vector<std::string> items;
  token.clear();
  for (int guard = 0; guard < 10; ++guard) {
    std::string target = "/bkt?list-type=2&delimiter=%2F&max-keys=2&fetch-owner=true";
    if (!token.empty()) target += "&continuation-token=" + UrlEncodeForTest(token);
    XmlElement r = Send("GET", target).Xml();
    EXPECT_EQ(Text(r, "Delimiter"), "/");
    for (const XmlElement* c : Children(r, "Contents")) {
      items.push_back(Text(*c, "Key"));
      EXPECT_NE(c->Child("Owner"), nullptr);
    }
    for (const XmlElement* p : Children(r, "CommonPrefixes")) items.push_back(Text(*p, "Prefix"));
    if (Text(r, "IsTruncated") != "true") break;
    token = Text(r, "NextContinuationToken");
  }
  EXPECT_EQ(items, (std::vector<std::string>{"a+b c", "dir/", "e%f", "many/", "z\xC3\xBC"}));

  XmlElement dir = Send("GET", "/bkt?list-type=2&prefix=dir%2F&delimiter=%2F").Xml();
  EXPECT_EQ(Text(dir, "Prefix"), "dir/");
  ASSERT_EQ(Children(dir, "Contents").size(), 2u);
  ASSERT_EQ(Children(dir, "CommonPrefixes").size(), 1u);
  EXPECT_EQ(Text(*Children(dir, "CommonPrefixes")[0], "Prefix"), "dir/sub/");

  XmlElement after = Send("GET", "/bkt?list-type=2&start-after=many%2F5").Xml();
  EXPECT_EQ(Text(after, "StartAfter"), "many/5");
  ASSERT_FALSE(Children(after, "Contents").empty());
  EXPECT_EQ(Text(*Children(after, "Contents")[0], "Key"), "many/6");

  EXPECT_EQ(Send("GET", "/bkt?list-type=2&continuation-token=%21%21").ErrorCode(),
            "InvalidArgument");
  EXPECT_EQ(Send("GET", "/bkt?list-type=2&max-keys=abc").ErrorCode(), "InvalidArgument");
  EXPECT_EQ(Send("GET", "/bkt?list-type=2&encoding-type=xml").ErrorCode(), "InvalidArgument");
  EXPECT_EQ(Text(Send("GET", "/bkt?list-type=2&max-keys=5000").Xml(), "MaxKeys"), "1000");
  EXPECT_EQ(Send("GET", "/nobucket?list-type=2").ErrorCode(), "NoSuchBucket");
}

TEST_F(S3ApiTest, ListObjectsV1Markers) {
  MakeBucket("bkt");
  for (std::string k : {"a", "b/1", "b/2", "c", "d/1", "e"})
    ASSERT_EQ(Put("/bkt/" + k, k).status, 200);
  // Without delimiter: no NextMarker; the client continues from the last key.
  XmlElement first = Send("GET", "/bkt?max-keys=2").Xml();
  EXPECT_EQ(first.name, "ListBucketResult");
  EXPECT_EQ(first.Child("KeyCount"), nullptr);
  EXPECT_EQ(Text(first, "IsTruncated"), "true");
  EXPECT_EQ(first.Child("NextMarker"), nullptr);
  EXPECT_EQ(Text(first, "Marker"), "");
  auto contents = Children(first, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_NE(contents[0]->Child("Owner"), nullptr);
  XmlElement second = Send("GET", "/bkt?max-keys=2&marker=b%2F1").Xml();
  EXPECT_EQ(Text(second, "Marker"), "b/1");
  EXPECT_EQ(Text(*Children(second, "Contents")[0], "Key"), "b/2");

  // With delimiter (s3cmd, rclone): NextMarker, and a marker that is a common prefix skips it.
  std::vector<std::string> items;
  std::string marker;
  for (int guard = 0; guard < 10; ++guard) {
    XmlElement r = Send("GET", "/bkt/?delimiter=%2F&max-keys=2&marker=" + marker).Xml();
    for (const XmlElement* c : Children(r, "Contents")) items.push_back(Text(*c, "Key"));
    for (const XmlElement* p : Children(r, "CommonPrefixes")) items.push_back(Text(*p, "Prefix"));
    if (Text(r, "IsTruncated") != "true") break;
    marker = Text(r, "NextMarker");
    ASSERT_FALSE(marker.empty());
  }
  EXPECT_EQ(items, (std::vector<std::string>{"a", "b/", "c", "d/", "e"}));
  // rclone's shape: empty delimiter and prefix.
  XmlElement all = Send("GET", "/bkt?delimiter=&max-keys=1000&prefix=").Xml();
  EXPECT_EQ(Children(all, "Contents").size(), 6u);
}

TEST_F(S3ApiTest, ListObjectVersionsShowsCurrentObjectsAsNullVersions) {
  MakeBucket("bkt");
  ASSERT_EQ(Put("/bkt/x", "1").status, 200);
  ASSERT_EQ(Put("/bkt/y", "2").status, 200);
  Answer a = Send("GET", "/bkt?versions");
  ASSERT_EQ(a.status, 200) << a.body;
  XmlElement r = a.Xml();
  EXPECT_EQ(r.name, "ListVersionsResult");
  auto versions = Children(r, "Version");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(Text(*versions[0], "Key"), "x");
  EXPECT_EQ(Text(*versions[0], "VersionId"), "null");
  EXPECT_EQ(Text(*versions[0], "IsLatest"), "true");
  XmlElement paged = Send("GET", "/bkt?versions&max-keys=1").Xml();
  EXPECT_EQ(Text(paged, "IsTruncated"), "true");
  EXPECT_EQ(Text(paged, "NextKeyMarker"), "x");
  XmlElement rest = Send("GET", "/bkt?versions&key-marker=x").Xml();
  ASSERT_EQ(Children(rest, "Version").size(), 1u);
  EXPECT_EQ(Text(*Children(rest, "Version")[0], "Key"), "y");
  EXPECT_EQ(Send("GET", "/bkt/x?versionId=null").body, "1");
  EXPECT_EQ(Send("GET", "/bkt/x?versionId=abc").ErrorCode(), "NoSuchVersion");
  EXPECT_EQ(Send("DELETE", "/bkt/x?versionId=null").status, 204);
  EXPECT_EQ(Send("HEAD", "/bkt/x").status, 404);
}

TEST_F(S3ApiTest, CopyObject) {
  MakeBucket("bkt");
  MakeBucket("cpy");
  ASSERT_EQ(
      Put("/bkt/src key+1", "copy me", {{"Content-Type", "text/plain"}, {"x-amz-meta-a", "1"}})
          .status,
      200);
  Answer copied = Put("/cpy/dst", "", {{"x-amz-copy-source", "/bkt/src%20key%2B1"}});
  ASSERT_EQ(copied.status, 200) << copied.body;
  XmlElement result = copied.Xml();
  EXPECT_EQ(result.name, "CopyObjectResult");
  EXPECT_EQ(Text(result, "ETag"), "\"" + Md5Hex("copy me") + "\"");
  Answer got = Send("GET", "/cpy/dst");
  EXPECT_EQ(got.body, "copy me");
  EXPECT_EQ(got.content_type, "text/plain");
  EXPECT_EQ(got.Header("x-amz-meta-a").value_or(""), "1");

  Answer replaced = Put("/cpy/dst2", "",
                        {{"x-amz-copy-source", "bkt/src%20key%2B1?versionId=null"},
                         {"x-amz-metadata-directive", "REPLACE"},
                         {"Content-Type", "application/json"},
                         {"x-amz-meta-b", "2"}});
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  Answer got2 = Send("GET", "/cpy/dst2");
  EXPECT_EQ(got2.content_type, "application/json");
  EXPECT_FALSE(got2.Header("x-amz-meta-a").has_value());
  EXPECT_EQ(got2.Header("x-amz-meta-b").value_or(""), "2");

  Answer self = Put("/bkt/src%20key%2B1", "", {{"x-amz-copy-source", "bkt/src%20key%2B1"}});
  EXPECT_EQ(self.status, 400);
  EXPECT_EQ(self.ErrorCode(), "InvalidRequest");
  EXPECT_EQ(
      Put("/bkt/src%20key%2B1", "",
          {{"x-amz-copy-source", "bkt/src%20key%2B1"}, {"x-amz-metadata-directive", "REPLACE"}})
          .status,
      200);
  EXPECT_EQ(Put("/cpy/x", "", {{"x-amz-copy-source", "/bkt/missing"}}).ErrorCode(), "NoSuchKey");
  EXPECT_EQ(Put("/cpy/x", "", {{"x-amz-copy-source", "/bkt"}}).ErrorCode(), "InvalidArgument");
  EXPECT_EQ(Put("/cpy/x", "", {{"x-amz-copy-source", "/bkt/src?versionId=7"}}).ErrorCode(),
            "InvalidArgument");
  EXPECT_EQ(Put("/cpy/x", "",
                {{"x-amz-copy-source", "/bkt/src%20key%2B1"}, {"x-amz-metadata-directive", "MOVE"}})
                .ErrorCode(),
            "InvalidArgument");
}

TEST_F(S3ApiTest, MultipartUpload) {
  Open(/*min_part_bytes=*/1024);
  MakeBucket("bkt");
  const std::string upload = StartUpload("/bkt/big");
  ASSERT_FALSE(upload.empty());
  const std::string part1(1500, 'x'), part2(1024, 'y'), part3 = "tail";
  const std::string base = "/bkt/big?uploadId=" + upload + "&partNumber=";
  // Out of order, as the CLI's parallel uploads arrive.
  Answer p3 = Put(base + "3", part3, {{"Content-MD5", Md5Base64(part3)}});
  Answer p1 = Put(base + "1", part1, {{"Content-MD5", Md5Base64(part1)}});
  Answer p2 =
      Put(base + "2", part2, {{"x-amz-checksum-crc32", *s3::ChecksumBase64("crc32", part2)}});
  ASSERT_EQ(p1.status, 200) << p1.body;
  ASSERT_EQ(p2.status, 200) << p2.body;
  ASSERT_EQ(p3.status, 200) << p3.body;
  EXPECT_EQ(*p1.Header("ETag"), "\"" + Md5Hex(part1) + "\"");
  EXPECT_TRUE(p2.Header("x-amz-checksum-crc32").has_value());
  Answer bad_part = Put(base + "4", "zz", {{"Content-MD5", Md5Base64("z")}});
  EXPECT_EQ(bad_part.ErrorCode(), "BadDigest");
  EXPECT_EQ(Put(base + "0", "zz").ErrorCode(), "InvalidArgument");
  EXPECT_EQ(Put(base + "10001", "zz").ErrorCode(), "InvalidArgument");
  EXPECT_EQ(Put("/bkt/big?uploadId=nope&partNumber=1", "zz").ErrorCode(), "NoSuchUpload");

  Answer uploads = Send("GET", "/bkt?uploads");
  ASSERT_EQ(uploads.status, 200) << uploads.body;
  const XmlElement uploads_xml = uploads.Xml();
  auto listed = Children(uploads_xml, "Upload");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(Text(*listed[0], "UploadId"), upload);
  EXPECT_EQ(Text(*listed[0], "Key"), "big");

  Answer parts = Send("GET", "/bkt/big?uploadId=" + upload);
  ASSERT_EQ(parts.status, 200) << parts.body;
  const XmlElement parts_xml = parts.Xml();
  auto part_list = Children(parts_xml, "Part");
  ASSERT_EQ(part_list.size(), 3u);
  EXPECT_EQ(Text(*part_list[0], "PartNumber"), "1");
  EXPECT_EQ(Text(*part_list[0], "Size"), "1500");
  XmlElement paged =
      Send("GET", "/bkt/big?uploadId=" + upload + "&max-parts=1&part-number-marker=1").Xml();
  EXPECT_EQ(Text(paged, "IsTruncated"), "true");
  EXPECT_EQ(Text(paged, "NextPartNumberMarker"), "2");

  const auto complete_body = [&](std::vector<std::pair<int, std::string>> list) {
    std::string body = "<CompleteMultipartUpload>";
    for (const auto& [n, etag] : list) {
      body += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>" + etag +
              "</ETag></Part>";
    }
    return body + "</CompleteMultipartUpload>";
  };
  const std::string e1 = *p1.Header("ETag"), e2 = *p2.Header("ETag"), e3 = *p3.Header("ETag");
  const std::string complete = "/bkt/big?uploadId=" + upload;
  EXPECT_EQ(Send("POST", complete, "<CompleteMultipartUpload><Part>").ErrorCode(), "MalformedXML");
  EXPECT_EQ(Send("POST", complete, complete_body({{2, e2}, {1, e1}})).ErrorCode(),
            "InvalidPartOrder");
  EXPECT_EQ(Send("POST", complete, complete_body({{1, e1}, {2, "\"0000\""}})).ErrorCode(),
            "InvalidPart");
  EXPECT_EQ(Send("POST", complete, complete_body({{1, e1}, {3, e3}, {2, e2}})).ErrorCode(),
            "InvalidPartOrder");
  EXPECT_EQ(Send("HEAD", "/bkt/big").status, 404);

  Answer done = Send("POST", complete, complete_body({{1, e1}, {2, e2}, {3, e3}}));
  ASSERT_EQ(done.status, 200) << done.body;
  XmlElement result = done.Xml();
  EXPECT_EQ(result.name, "CompleteMultipartUploadResult");
  EXPECT_EQ(Text(result, "Key"), "big");
  EXPECT_EQ(Text(result, "Location"), "http://127.0.0.1:4566/bkt/big");
  std::string digests;
  for (const auto* p : {&part1, &part2, &part3}) {
    const Md5Digest d = Md5(*p);
    digests.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  EXPECT_EQ(Text(result, "ETag"), "\"" + Md5Hex(digests) + "-3\"");
  Answer got = Send("GET", "/bkt/big");
  EXPECT_EQ(got.body, part1 + part2 + part3);
  EXPECT_EQ(got.Header("ETag").value_or(""), Text(result, "ETag"));
  EXPECT_EQ(Send("GET", "/bkt/big?uploadId=" + upload).ErrorCode(), "NoSuchUpload");
  EXPECT_EQ(Send("GET", "/bkt?uploads").Xml().Child("Upload"), nullptr);

  // EntityTooSmall: a non-last part under the minimum; then abort.
  const std::string small = StartUpload("/bkt/small");
  Answer s1 = Put("/bkt/small?uploadId=" + small + "&partNumber=1", "tiny");
  Answer s2 = Put("/bkt/small?uploadId=" + small + "&partNumber=2", "tiny");
  Answer too_small = Send("POST", "/bkt/small?uploadId=" + small,
                          complete_body({{1, *s1.Header("ETag")}, {2, *s2.Header("ETag")}}));
  EXPECT_EQ(too_small.status, 400);
  EXPECT_EQ(too_small.ErrorCode(), "EntityTooSmall");
  EXPECT_EQ(Send("HEAD", "/bkt/small").status, 404);
  EXPECT_EQ(Send("DELETE", "/bkt/small?uploadId=" + small).status, 204);
  EXPECT_EQ(Send("GET", "/bkt/small?uploadId=" + small).ErrorCode(), "NoSuchUpload");
  EXPECT_EQ(Send("DELETE", "/bkt/small?uploadId=" + small).ErrorCode(), "NoSuchUpload");
}

TEST_F(S3ApiTest, UploadPartCopy) {
  Open(/*min_part_bytes=*/4);
  MakeBucket("bkt");
  ASSERT_EQ(Put("/bkt/src", "0123456789").status, 200);
  const std::string upload = StartUpload("/bkt/dst");
  Answer c1 = Put("/bkt/dst?uploadId=" + upload + "&partNumber=1", "",
                  {{"x-amz-copy-source", "bkt/src"}, {"x-amz-copy-source-range", "bytes=0-4"}});
  ASSERT_EQ(c1.status, 200) << c1.body;
  EXPECT_EQ(c1.Xml().name, "CopyPartResult");
  Answer c2 =
      Put("/bkt/dst?uploadId=" + upload + "&partNumber=2", "", {{"x-amz-copy-source", "bkt/src"}});
  ASSERT_EQ(c2.status, 200) << c2.body;
  for (std::string range : {"bytes=5-50", "bytes=-3", "bytes=4-2", "bytes=3-"}) {
    EXPECT_EQ(Put("/bkt/dst?uploadId=" + upload + "&partNumber=3", "",
                  {{"x-amz-copy-source", "bkt/src"}, {"x-amz-copy-source-range", range}})
                  .ErrorCode(),
              "InvalidArgument")
        << range;
  }
  const std::string body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" +
                           Text(c1.Xml(), "ETag") +
                           "</ETag></Part><Part><PartNumber>2</PartNumber>"
                           "<ETag>" +
                           Text(c2.Xml(), "ETag") +
                           "</ETag></Part>"
                           "</CompleteMultipartUpload>";
  ASSERT_EQ(Send("POST", "/bkt/dst?uploadId=" + upload, body).status, 200);
  EXPECT_EQ(Send("GET", "/bkt/dst").body, "012340123456789");
}

TEST_F(S3ApiTest, UnsupportedOperationsAre501) {
  MakeBucket("bkt");
  ASSERT_EQ(Put("/bkt/k", "x").status, 200);
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"GET", "/bkt?policy"},
      {"PUT", "/bkt?tagging"},
      {"GET", "/bkt/k?tagging"},
      {"PUT", "/bkt?versioning"},
      {"GET", "/bkt?lifecycle"},
      {"DELETE", "/bkt?cors"},
      {"POST", "/bkt/k?select"},
      {"POST", "/bkt/k?restore"},
      {"PATCH", "/bkt/k"},
      {"OPTIONS", "/bkt"},
      {"POST", "/bkt"},
      {"PUT", "/"},
      {"GET", "/bkt/k?partNumber=1"},
      {"POST", "/bkt/k"},
  };
  for (const auto& [method, target] : requests) {
    Answer a = Send(method, target);
    EXPECT_EQ(a.status, 501) << method << " " << target;
    EXPECT_EQ(a.ErrorCode(), "NotImplemented") << method << " " << target;
  }
  Answer head = Send("HEAD", "/bkt/k?tagging");
  EXPECT_EQ(head.status, 501);
  EXPECT_TRUE(head.body.empty());
  // Query parameters that are not subresources are ignored (JS v3 signs x-id).
  EXPECT_EQ(Send("GET", "/bkt/k?x-id=GetObject").body, "x");
}

TEST_F(S3ApiTest, CannedAcls) {
  MakeBucket("bkt");
  ASSERT_EQ(Put("/bkt/k", "x").status, 200);
  EXPECT_EQ(Put("/bkt/k2", "x", {{"x-amz-acl", "public-read"}}).ErrorCode(), "NotImplemented");
  EXPECT_EQ(Send("HEAD", "/bkt/k2").status, 404);
  EXPECT_EQ(Put("/bkt/k2", "x", {{"x-amz-grant-read", "id=abc"}}).ErrorCode(), "NotImplemented");
  EXPECT_EQ(Put("/bkt/k?acl", "", {{"x-amz-acl", "private"}}).status, 200);
  EXPECT_EQ(Put("/bkt?acl", "", {{"x-amz-acl", "private"}}).status, 200);
  EXPECT_EQ(Put("/bkt?acl", "", {{"x-amz-acl", "public-read-write"}}).ErrorCode(),
            "NotImplemented");
  EXPECT_EQ(Put("/bkt/k?acl", "<AccessControlPolicy/>").ErrorCode(), "NotImplemented");
  EXPECT_EQ(Put("/bkt/missing?acl", "", {{"x-amz-acl", "private"}}).ErrorCode(), "NoSuchKey");
  for (std::string target : {"/bkt?acl", "/bkt/k?acl"}) {
    Answer a = Send("GET", target);
    ASSERT_EQ(a.status, 200) << a.body;
    XmlElement policy = a.Xml();
    EXPECT_EQ(policy.name, "AccessControlPolicy");
    const XmlElement* grant = policy.Child("AccessControlList")->Child("Grant");
    ASSERT_NE(grant, nullptr);
    EXPECT_EQ(Text(*grant, "Permission"), "FULL_CONTROL");
    EXPECT_EQ(Text(*grant->Child("Grantee"), "ID"), Text(*policy.Child("Owner"), "ID"));
  }
}

TEST_F(S3ApiTest, AuthorizationNamesActionsAndResources) {
  std::vector<std::pair<std::string, std::string>> asked;
  context_.authorize = [&](std::string_view action, std::string_view resource) -> Status {
    asked.emplace_back(action, resource);
    if (resource == "arn:aws:s3:::bkt/secret" || action == "s3:DeleteBucket") {
      return Error(ErrorCode::kAccessDenied, "alice may not " + std::string(action));
    }
    return Status::Ok();
  };
  MakeBucket("bkt");
  ASSERT_EQ(Put("/bkt/open", "x").status, 200);
  Answer denied = Put("/bkt/secret", "x");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.ErrorCode(), "AccessDenied");
  EXPECT_EQ(Send("HEAD", "/bkt/secret").status, 403);
  EXPECT_EQ(Send("DELETE", "/bkt").ErrorCode(), "AccessDenied");
  EXPECT_EQ(Send("GET", "/bkt/open").status, 200);
  EXPECT_EQ(Send("GET", "/").status, 200);
  EXPECT_EQ(Send("GET", "/bkt?list-type=2").status, 200);
  EXPECT_EQ(Put("/bkt/copy", "", {{"x-amz-copy-source", "/bkt/secret"}}).ErrorCode(),
            "AccessDenied");
  const std::string body =
      "<Delete><Object><Key>secret</Key></Object><Object><Key>open</Key>"
      "</Object></Delete>";
  XmlElement result = Send("POST", "/bkt?delete", body, {{"Content-MD5", Md5Base64(body)}}).Xml();
  ASSERT_EQ(Children(result, "Error").size(), 1u);
  EXPECT_EQ(Text(*Children(result, "Error")[0], "Code"), "AccessDenied");
  EXPECT_EQ(Children(result, "Deleted").size(), 1u);

  const auto asked_for = [&](std::string action, std::string resource) {
    return std::find(asked.begin(), asked.end(), std::make_pair(action, resource)) != asked.end();
  };
  EXPECT_TRUE(asked_for("s3:CreateBucket", "arn:aws:s3:::bkt"));
  EXPECT_TRUE(asked_for("s3:PutObject", "arn:aws:s3:::bkt/open"));
  EXPECT_TRUE(asked_for("s3:GetObject", "arn:aws:s3:::bkt/open"));
  EXPECT_TRUE(asked_for("s3:ListAllMyBuckets", "arn:aws:s3:::*"));
  EXPECT_TRUE(asked_for("s3:ListBucket", "arn:aws:s3:::bkt"));
  EXPECT_TRUE(asked_for("s3:DeleteObject", "arn:aws:s3:::bkt/open"));
  asked.clear();
  const std::string upload = StartUpload("/bkt/mp");
  Send("GET", "/bkt/mp?uploadId=" + upload);
  Send("GET", "/bkt?uploads");
  Send("DELETE", "/bkt/mp?uploadId=" + upload);
  EXPECT_TRUE(asked_for("s3:PutObject", "arn:aws:s3:::bkt/mp"));
  EXPECT_TRUE(asked_for("s3:ListMultipartUploadParts", "arn:aws:s3:::bkt/mp"));
  EXPECT_TRUE(asked_for("s3:ListBucketMultipartUploads", "arn:aws:s3:::bkt"));
  EXPECT_TRUE(asked_for("s3:AbortMultipartUpload", "arn:aws:s3:::bkt/mp"));
}

TEST_F(S3ApiTest, LandingObjectsAreHandedToIngest) {
  Answer put = Put("/landing/orders/x.csv", "id,total\n1,2\n3,4\n");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Header("x-basin-ingest").value_or(""), "loaded 2 rows into raw.orders");
  ASSERT_EQ(landed_.size(), 1u);
  EXPECT_EQ(landed_[0].first, "orders/x.csv");
  std::ifstream stored(landed_[0].second, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(stored), {}), "id,total\n1,2\n3,4\n");

  Answer bad = Put("/landing/orders/bad.csv", "x");
  EXPECT_EQ(bad.status, 200);  // the object is stored either way
  const std::string error = bad.Header("x-basin-ingest-error").value_or("");
  EXPECT_NE(error.find("column x is wrong"), std::string::npos) << error;
  EXPECT_EQ(Send("GET", "/landing/orders/bad.csv").body, "x");

  Answer copy = Put("/landing/orders/y.csv", "", {{"x-amz-copy-source", "landing/orders/x.csv"}});
  EXPECT_EQ(copy.status, 200) << copy.body;
  EXPECT_TRUE(copy.Header("x-basin-ingest").has_value());
  EXPECT_EQ(landed_.size(), 3u);
  MakeBucket("other");
  EXPECT_EQ(Put("/other/z.csv", "x").status, 200);
  EXPECT_EQ(landed_.size(), 3u);
}

TEST_F(S3ApiTest, ZoneBucketsAreReadOnly) {
  {
    std::ofstream f(dir_.path() + "/lake/raw/orders/part-0.parquet", std::ios::binary);
    f << "PAR1 not really";
  }
  Answer list = Send("GET", "/raw?list-type=2&prefix=orders%2F");
  ASSERT_EQ(list.status, 200) << list.body;
  const XmlElement list_xml = list.Xml();
  auto contents = Children(list_xml, "Contents");
  ASSERT_EQ(contents.size(), 1u);
  EXPECT_EQ(Text(*contents[0], "Key"), "orders/part-0.parquet");
  EXPECT_EQ(Send("GET", "/raw/orders/part-0.parquet").body, "PAR1 not really");
  EXPECT_EQ(Put("/raw/orders/new", "x").ErrorCode(), "AccessDenied");
  EXPECT_EQ(Send("GET", "/raw/../etc/passwd").status, 404);
}

TEST_F(S3ApiTest, VirtualHostStyle) {
  MakeBucket("vhb");
  Answer put = Send("PUT", "/dir/k", "vhost", {}, "vhb.localhost:4566");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Send("GET", "/vhb/dir/k").body, "vhost");
  EXPECT_EQ(Send("GET", "/dir/k", "", {}, "vhb.s3.us-east-1.amazonaws.com").body, "vhost");
  XmlElement list = Send("GET", "/?list-type=2", "", {}, "vhb.s3.localhost").Xml();
  EXPECT_EQ(Text(list, "Name"), "vhb");
  // IP addresses and plain localhost are path style.
  EXPECT_EQ(Send("GET", "/vhb/dir/k", "", {}, "localhost:4566").body, "vhost");
}

TEST(S3ApiErrorResponseTest, XmlBodyAndNoBodyForHead) {
  HttpRequest get;
  get.method = "GET";
  get.path = "/b/k";
  HttpResponse r = S3Api::ErrorResponse(get, 403, "SignatureDoesNotMatch", "bad <sig>", "ID1");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.content_type, "application/xml");
  auto root = s3::ParseXml(r.body);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->name, "Error");
  EXPECT_EQ(root->Child("Code")->text, "SignatureDoesNotMatch");
  EXPECT_EQ(root->Child("Message")->text, "bad <sig>");
  EXPECT_EQ(root->Child("Resource")->text, "/b/k");
  EXPECT_EQ(root->Child("RequestId")->text, "ID1");
  HttpRequest head = get;
  head.method = "HEAD";
  HttpResponse h = S3Api::ErrorResponse(head, 403, "AccessDenied", "no", "ID2");
  EXPECT_EQ(h.status, 403);
  EXPECT_TRUE(h.body.empty());
  bool has_id = false;
  for (const auto& [k, v] : h.headers) has_id |= k == "x-amz-request-id" && v == "ID2";
  EXPECT_TRUE(has_id);
}

TEST_F(S3ApiTest, AnswersFromAnotherThreadWhenExecutorIsAsync) {
  MakeBucket("bkt");
  ASSERT_EQ(Put("/bkt/k", "async").status, 200);
  std::vector<std::thread> threads;
  S3ApiOptions options;
  options.run_blocking = [&threads](std::function<void()> task) {
    threads.emplace_back(std::move(task));
  };
  S3Api api(store_.get(), options);
  HttpRequest request;
  request.method = "GET";
  request.target = request.path = "/bkt/k";
  std::promise<HttpResponse> answered;
  api.Handle(request, AwsRequestContext{},
             [&](HttpResponse response) { answered.set_value(std::move(response)); });
  HttpResponse response = answered.get_future().get();
  for (auto& t : threads) t.join();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "async");
  bool has_id = false;
  for (const auto& [k, v] : response.headers) has_id |= k == "x-amz-request-id" && v.size() == 16;
  EXPECT_TRUE(has_id);
}

}  // namespace
}  // namespace basin::api
