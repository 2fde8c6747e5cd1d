#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/time_format.h"
#include "security/sigv4.h"

namespace basin::security::testing {

// An owned HTTP request that hands the verifier views into itself.
struct TestRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool include_body = true;

  SigV4Request View() const {
    SigV4Request view;
    view.method = method;
    view.target = target;
    for (const auto& [name, value] : headers) view.headers.emplace_back(name, value);
    if (include_body) view.body = body;
    return view;
  }

  void SetHeader(const std::string& name, const std::string& value) {
    for (auto& [key, existing] : headers) {
      if (key == name) {
        existing = value;
        return;
      }
    }
    headers.emplace_back(name, value);
  }

  void RemoveHeader(const std::string& name) {
    std::erase_if(headers, [&](const auto& header) { return header.first == name; });
  }
};

inline constexpr char kZeroSignature[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Signs `request` with an Authorization header the way an SDK would: the canonical form comes
// from the verifier's own canonicaliser (proven against the AWS vectors), the signature from the
// key derivation. Returns the signature.
inline std::string SignWithHeader(TestRequest& request, const SigV4Verifier& verifier,
                                  const std::string& access_key_id, const std::string& secret,
                                  const std::string& amz_date, const std::string& region,
                                  const std::string& service, const std::string& signed_headers) {
  std::string scope = CredentialScope(amz_date.substr(0, 8), region, service);
  std::string prefix = "AWS4-HMAC-SHA256 Credential=" + access_key_id + "/" + scope +
                       ", SignedHeaders=" + signed_headers + ", Signature=";
  request.SetHeader("Authorization", prefix + kZeroSignature);
  auto canonical = verifier.Canonicalize(request.View());
  if (!canonical.ok()) return "canonicalize failed: " + canonical.error().ToStatus().ToString();
  SigningKey key = DeriveSigningKey(secret, amz_date.substr(0, 8), region, service);
  std::string signature = SignString(key, canonical->string_to_sign);
  request.SetHeader("Authorization", prefix + signature);
  return signature;
}

// Presigns `request` by appending the X-Amz-* query parameters. Returns the signature.
inline std::string Presign(TestRequest& request, const SigV4Verifier& verifier,
                           const std::string& access_key_id, const std::string& secret,
                           const std::string& amz_date, const std::string& region,
                           const std::string& service, const std::string& expires,
                           const std::string& signed_headers = "host") {
  std::string scope = CredentialScope(amz_date.substr(0, 8), region, service);
  request.target += request.target.find('?') == std::string::npos ? "?" : "&";
  request.target += "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
                    UriEncode(access_key_id + "/" + scope, false) + "&X-Amz-Date=" + amz_date +
                    "&X-Amz-Expires=" + expires +
                    "&X-Amz-SignedHeaders=" + UriEncode(signed_headers, false) +
                    "&X-Amz-Signature=";
  std::string unsigned_target = request.target;
  request.target = unsigned_target + kZeroSignature;
  auto canonical = verifier.Canonicalize(request.View());
  if (!canonical.ok()) return "canonicalize failed: " + canonical.error().ToStatus().ToString();
  SigningKey key = DeriveSigningKey(secret, amz_date.substr(0, 8), region, service);
  std::string signature = SignString(key, canonical->string_to_sign);
  request.target = unsigned_target + signature;
  return signature;
}

// Epoch microseconds of "yyyymmddTHHMMSSZ".
inline int64_t MicrosOf(const std::string& amz_date) { return *ParseAmzDate(amz_date) * 1'000'000; }

}  // namespace basin::security::testing
