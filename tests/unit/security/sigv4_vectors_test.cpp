// Runs every case of the official AWS SigV4 test suite (awslabs/aws-c-auth
// tests/aws-signing-test-suite/v4, copied to shared/testdata) through the verifier: it must
// reproduce the canonical request, string to sign and signature of both the header and the
// presigned form, and accept both signed requests at the case's timestamp.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/clock.h"
#include "base/time_format.h"
#include "security/sigv4.h"
#include "sigv4_test_util.h"

namespace basin::security {
namespace {

namespace fs = std::filesystem;
using testing::TestRequest;

// BASIN_SIGV4_TEST_SUITE overrides; otherwise <repo>/../shared/testdata/… found from this file.
fs::path SuiteDir() {
  if (const char* env = std::getenv("BASIN_SIGV4_TEST_SUITE")) return env;
  fs::path repo = fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  return repo.parent_path() / "shared" / "testdata" / "aws-sigv4-test-suite" / "v4";
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(SuiteDir(), ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "context.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// The few context.json fields the cases vary; the files are flat enough for string search.
struct Context {
  std::string access_key_id;
  std::string secret;
  std::string token;
  std::string region;
  std::string service;
  std::string amz_date;
  bool normalize = true;
  bool omit_session_token = false;
};

std::string JsonString(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  size_t open = json.find('"', json.find(':', at) + 1);
  size_t close = json.find('"', open + 1);
  return json.substr(open + 1, close - open - 1);
}

bool JsonTrue(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return false;
  size_t value = json.find_first_not_of(" \t\n", json.find(':', at) + 1);
  return json.compare(value, 4, "true") == 0;
}

Context ReadContext(const fs::path& dir) {
  std::string json = ReadText(dir / "context.json");
  Context context;
  context.access_key_id = JsonString(json, "access_key_id");
  context.secret = JsonString(json, "secret_access_key");
  context.token = JsonString(json, "token");
  context.region = JsonString(json, "region");
  context.service = JsonString(json, "service");
  context.normalize = JsonTrue(json, "normalize");
  context.omit_session_token = JsonTrue(json, "omit_session_token");
  std::string timestamp = JsonString(json, "timestamp");  // 2015-08-30T12:36:00Z
  int64_t micros = *ParseIso8601(timestamp);
  CivilTime t = ToCivil(micros);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%04d%02d%02dT%02d%02d%02dZ", t.year, t.month, t.day,
                t.hour, t.minute, t.second);
  context.amz_date = buffer;
  return context;
}

// Parses the suite's HTTP/1.1 text: request line, headers (with obs-fold continuation lines
// joined by a space), blank line, body.
TestRequest ParseRequestFile(const std::string& text) {
  TestRequest request;
  size_t line_end = text.find('\n');
  std::string request_line = text.substr(0, line_end);
  size_t first_space = request_line.find(' ');
  size_t last_space = request_line.rfind(' ');
  request.method = request_line.substr(0, first_space);
  request.target = request_line.substr(first_space + 1, last_space - first_space - 1);
  size_t pos = line_end + 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !request.headers.empty()) {
      request.headers.back().second += " " + line;
      continue;
    }
    size_t colon = line.find(':');
    request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  request.body = pos < text.size() ? text.substr(pos) : "";
  return request;
}

class SigV4VectorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = SuiteDir() / GetParam();
    context_ = ReadContext(dir_);
    clock_.Set(testing::MicrosOf(context_.amz_date));
    options_.uri_mode = context_.normalize ? UriMode::kNormalized : UriMode::kS3;
    options_.s3_payload_rules = false;  // the suite signs for a generic service
    options_.expected_region = context_.region;
    options_.expected_service = context_.service;
  }

  SigV4Verifier MakeVerifier() const {
    Context context = context_;
    return SigV4Verifier(
        [context](std::string_view key) -> std::optional<std::string> {
          if (key == context.access_key_id) return context.secret;
          return std::nullopt;
        },
        clock_, options_);
  }

  // Checks one form ("header" or "query") of the case.
  void CheckForm(const std::string& form) {
    SCOPED_TRACE(form);
    TestRequest request = ParseRequestFile(ReadText(dir_ / (form + "-signed-request.txt")));
    std::string expected_canonical = Trimmed(ReadText(dir_ / (form + "-canonical-request.txt")));
    std::string expected_sts = Trimmed(ReadText(dir_ / (form + "-string-to-sign.txt")));
    std::string expected_signature = Trimmed(ReadText(dir_ / (form + "-signature.txt")));
    SigV4Verifier verifier = MakeVerifier();

    if (context_.omit_session_token) {
      // The client added the token after signing; a server must refuse that request…
      auto rejected = verifier.Verify(request.View());
      ASSERT_FALSE(rejected.ok());
      EXPECT_TRUE(rejected.error().aws_error == "AccessDenied" ||
                  rejected.error().aws_error == "SignatureDoesNotMatch")
          << rejected.error().aws_error;
      // …and the request it did sign (without the token) must still reproduce the vectors.
      request.RemoveHeader("X-Amz-Security-Token");
      size_t token = request.target.find("&X-Amz-Security-Token=");
      if (token != std::string::npos) {
        size_t end = request.target.find('&', token + 1);
        request.target.erase(token, end - token);
      }
    }

    auto canonical = verifier.Canonicalize(request.View());
    ASSERT_TRUE(canonical.ok()) << canonical.status().ToString();
    EXPECT_EQ(canonical->canonical_request, expected_canonical);
    EXPECT_EQ(canonical->string_to_sign, expected_sts);

    auto principal = verifier.Verify(request.View());
    ASSERT_TRUE(principal.ok()) << principal.status().ToString();
    EXPECT_EQ(principal->seed_signature, expected_signature);
    EXPECT_EQ(principal->access_key_id, context_.access_key_id);
    EXPECT_EQ(principal->region, context_.region);
    EXPECT_EQ(principal->service, context_.service);
    EXPECT_EQ(principal->presigned, form == "query");
    if (!context_.token.empty() && !context_.omit_session_token) {
      EXPECT_EQ(principal->session_token, context_.token);
    }
    // The signing key also reproduces the expected signature from the expected string to sign.
    EXPECT_EQ(SignString(principal->signing_key, expected_sts), expected_signature);
  }

  fs::path dir_;
  Context context_;
  FakeClock clock_;
  SigV4Options options_;
};

TEST_P(SigV4VectorTest, HeaderForm) { CheckForm("header"); }
TEST_P(SigV4VectorTest, QueryForm) { CheckForm("query"); }

INSTANTIATE_TEST_SUITE_P(AwsSuite, SigV4VectorTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// Guards against the data-driven suite silently running zero cases.
TEST(SigV4VectorSuite, AllCasesPresent) {
  std::vector<std::string> names = CaseNames();
  EXPECT_GE(names.size(), 38u) << "suite dir: " << SuiteDir();
  for (const std::string& name : names) {
    for (const char* file :
         {"request.txt", "header-canonical-request.txt", "header-string-to-sign.txt",
          "header-signature.txt", "header-signed-request.txt", "query-canonical-request.txt",
          "query-string-to-sign.txt", "query-signature.txt", "query-signed-request.txt"}) {
      EXPECT_TRUE(fs::exists(SuiteDir() / name / file)) << name << "/" << file;
    }
  }
}

}  // namespace
}  // namespace basin::security
