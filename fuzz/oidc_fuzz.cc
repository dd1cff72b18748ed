// The OpenID Connect verifier (auth/oidc.h) over what a provider serves and what a client
// sends: the discovery document, the JWK set, the token, and the trusted issuer's settings
// (tenancy/issuers.h TrustedIssuerFromJson, the admin API's body). Input, in parts split at NUL
// bytes: control byte | discovery document | JWK set | JOSE header | payload | issuer settings.
// Control bit 0 set: the JWK set is the target's own (an EC key, kid "k1", then the fuzzed
// set's keys are not used) and the token is signed with its key, so that claim mapping is
// reached; clear: the token is header.payload.signature-of-zeros against the fuzzed set.
// Issuer settings that do not parse give the fixed issuer https://idp.example.test/realms/care.
// Invariants: refusals are kUnauthenticated, or kUnavailable when the provider's documents are
// unusable; verified claims carry the configured tenant, issuer and audience.
#include <string>

#include "auth/oidc.h"
#include "core/clock.h"
#include "crypto/jwk_test_keys.h"
#include "crypto/primitives.h"
#include "fuzz/fuzz_support.h"
#include "tenancy/issuers.h"

using namespace hygie;

namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr std::string_view kIssuer = "https://idp.example.test/realms/care";

const crypto::testing::TestKey& Key() {
  static const auto* key = new crypto::testing::TestKey(crypto::testing::TestKey::Ec());
  return *key;
}

std::string B64(std::string_view text) { return crypto::Base64UrlEncode(AsBytes(text)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> p = fuzz::Parts(fuzz::Text(data, size), 6);
  const bool own_keys = !p[0].empty() && (p[0][0] & 1);
  const std::string discovery(p[1]);
  const std::string jwks = own_keys ? "{\"keys\":[" + Key().Jwk("k1") + "]}" : std::string(p[2]);

  tenancy::TrustedIssuer issuer;
  auto configured = tenancy::TrustedIssuerFromJson(p[5], "acme");
  if (configured.ok() && tenancy::ValidateTrustedIssuer(*configured).ok()) {
    issuer = *configured;
  } else {
    issuer.issuer = std::string(kIssuer);
    issuer.audience = "hygie-acme";
    issuer.tenant = "acme";
    issuer.roles_claim = "realm_access.roles";
    issuer.role_map = {{"doctor", "practitioner"}};
    issuer.professional_id_claim = "rpps";
  }

  FakeClock clock(kNow * 1'000'000);
  std::string discovery_url = issuer.issuer;
  while (!discovery_url.empty() && discovery_url.back() == '/') discovery_url.pop_back();
  discovery_url += "/.well-known/openid-configuration";
  auth::OidcVerifier verifier(
      auth::OidcVerifier::Options{},
      [&](const std::string& url) -> Result<std::string> {
        return url == discovery_url ? discovery : jwks;
      },
      clock);
  if (!verifier.SetIssuers({issuer}).ok()) return 0;

  const std::string input = B64(p[3]) + "." + B64(p[4]);
  const Bytes signature = own_keys ? Key().Sign(input) : Bytes(64, 0);
  const std::string token = input + "." + crypto::Base64UrlEncode(signature);
  for (int i = 0; i < 2; ++i) {  // the second time from the cache of keys
    auto claims = verifier.Verify(token, "acme");
    if (!claims.ok()) {
      FUZZ_CHECK(claims.status().code() == Code::kUnauthenticated ||
                 claims.status().code() == Code::kUnavailable);
      continue;
    }
    FUZZ_CHECK((*claims)->tenant == "acme");
    FUZZ_CHECK((*claims)->issuer == issuer.issuer);
    FUZZ_CHECK((*claims)->audience == issuer.audience);
  }
  FUZZ_CHECK(!verifier.Verify(token, "globex").ok());
  return 0;
}
