#pragma once
// Taking tokens apart and putting them back together, for the tests that forge them (a changed
// claim, a stripped or foreign signature, another algorithm): base64url, JWT segments, HMAC.

#include <string>
#include <string_view>

namespace hygie::e2e {

// A compact JWT's parts: header and payload decoded (JSON text), the signature as sent.
struct Jwt {
  std::string header;
  std::string payload;
  std::string signature_b64;
};

std::string B64(std::string_view bytes);       // base64url, no padding
std::string B64Decode(std::string_view text);  // empty if not base64url
// Splits and decodes `token` (a failed expectation if it is not three base64url segments).
Jwt DecodeJwt(const std::string& token);
std::string EncodeJwt(const std::string& header, const std::string& payload,
                      const std::string& signature_b64);
// `s` with the first `from` replaced by `to` (a failed expectation if `from` is absent).
std::string ReplaceOnce(std::string s, const std::string& from, const std::string& to);
// HMAC-SHA256 of `data` under `key`, base64url (an HS256 signature).
std::string HmacSha256B64(const std::string& key, const std::string& data);

}  // namespace hygie::e2e
