// The JWT/JWS readers (auth/jwt.h) and the built-in issuer's verifier (auth/token.h), as a
// bearer token reaches them. Input: the first byte chooses the form:
//   even: the rest is a token as sent;
//   odd:  the rest is a JOSE header, a NUL byte and a payload, which the target signs with the
//         verifier's own key (Ed25519, "$KID" in the header replaced by its key id) so that
//         what follows the signature check (claims, dates, audience) is reached too.
// Invariants: every refusal is kUnauthenticated; a segment DecodeSegment accepts is canonical
// (base64url-encoding its bytes gives it back); a verified token names a tenant and an expiry.
#include <string>

#include "auth/jwt.h"
#include "auth/oidc.h"
#include "auth/token.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "crypto/signing.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

constexpr int64_t kNow = 1'700'000'000;

struct Fixture {
  crypto::SigningKey key = std::move(crypto::SigningKey::FromEd25519Seed(Bytes(32, 5))).value();
  FakeClock clock{kNow * 1'000'000};
  auth::TokenVerifier verifier{
      auth::TokenVerifier::Options{
          .issuer = "https://hygie.example.test", .audience = "hygie", .cache_capacity = 0},
      {key.Public()},
      clock};
};

Fixture& F() {
  static Fixture* f = new Fixture;
  return *f;
}

std::string B64(std::string_view text) { return crypto::Base64UrlEncode(AsBytes(text)); }

void CheckToken(std::string_view token) {
  static constexpr std::string_view kAlgs[] = {"ES256", "EdDSA", "RS256", "none", "HS256"};
  auto jws = auth::jwt::ParseCompactJws(token, kAlgs);
  if (!jws.ok()) FUZZ_CHECK(jws.status().code() == Code::kUnauthenticated);
  size_t start = 0;
  for (int i = 0; i < 4 && start <= token.size(); ++i) {
    size_t dot = token.find('.', start);
    std::string_view segment =
        token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    auto bytes = auth::jwt::DecodeSegment(segment);
    if (bytes.ok()) {
      FUZZ_CHECK(crypto::Base64UrlEncode(*bytes) == segment);
    } else {
      FUZZ_CHECK(bytes.status().code() == Code::kUnauthenticated);
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  (void)auth::UnverifiedIssuer(token);
  (void)auth::UnverifiedClient(token);
  auto claims = F().verifier.Verify(token);
  if (!claims.ok()) {
    FUZZ_CHECK(claims.status().code() == Code::kUnauthenticated);
    return;
  }
  FUZZ_CHECK(!(*claims)->tenant.empty());
  FUZZ_CHECK((*claims)->expires_at > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = fuzz::Text(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    CheckToken(rest);
    return 0;
  }
  std::vector<std::string_view> parts = fuzz::Parts(rest, 2);
  std::string header(parts[0]);
  const std::string kid = F().key.Public().KeyId();
  for (size_t at = header.find("$KID"); at != std::string::npos; at = header.find("$KID")) {
    header.replace(at, 4, kid);
  }
  const std::string input = B64(header) + "." + B64(parts[1]);
  auto signature = F().key.Sign(AsBytes(input));
  FUZZ_CHECK(signature.ok());
  CheckToken(input + "." + crypto::Base64UrlEncode(*signature));
  return 0;
}
