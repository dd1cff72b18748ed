#include "support/jwt_forge.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::e2e {

std::string B64(std::string_view bytes) { return crypto::Base64UrlEncode(AsBytes(bytes)); }

std::string B64Decode(std::string_view text) {
  auto d = crypto::Base64UrlDecode(text);
  return d.ok() ? std::string(AsChars(*d)) : std::string();
}

Jwt DecodeJwt(const std::string& token) {
  Jwt jwt;
  const size_t a = token.find('.');
  const size_t b = a == std::string::npos ? a : token.find('.', a + 1);
  EXPECT_TRUE(a != std::string::npos && b != std::string::npos) << token;
  if (a == std::string::npos || b == std::string::npos) return jwt;
  auto h = crypto::Base64UrlDecode(token.substr(0, a));
  auto p = crypto::Base64UrlDecode(token.substr(a + 1, b - a - 1));
  EXPECT_TRUE(h.ok() && p.ok()) << token;
  if (h.ok()) jwt.header = std::string(AsChars(*h));
  if (p.ok()) jwt.payload = std::string(AsChars(*p));
  jwt.signature_b64 = token.substr(b + 1);
  return jwt;
}

std::string EncodeJwt(const std::string& header, const std::string& payload,
                      const std::string& signature_b64) {
  return B64(header) + "." + B64(payload) + "." + signature_b64;
}

std::string ReplaceOnce(std::string s, const std::string& from, const std::string& to) {
  const size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from << " not in " << s;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

std::string HmacSha256B64(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return crypto::Base64UrlEncode(ByteView(mac, len));
}

}  // namespace hygie::e2e
