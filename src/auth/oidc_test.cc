#include "auth/oidc.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "crypto/jwk_test_keys.h"
#include "crypto/primitives.h"

namespace hygie::auth {
namespace {

using crypto::testing::TestKey;

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kMicros = 1'000'000;
constexpr std::string_view kIssuer = "https://idp.example.test/realms/care";
constexpr std::string_view kJwksUri = "https://idp.example.test/realms/care/certs";
constexpr std::string_view kAudience = "hygie-acme";

const TestKey& Rsa() {
  static const TestKey* key = new TestKey(TestKey::Rsa());
  return *key;
}
const TestKey& Ec() {
  static const TestKey* key = new TestKey(TestKey::Ec());
  return *key;
}
const TestKey& Ed() {
  static const TestKey* key = new TestKey(TestKey::Ed25519());
  return *key;
}

std::string B64(std::string_view text) { return crypto::Base64UrlEncode(AsBytes(text)); }

// A fake web: URL -> body, counting requests. Thread-safe.
class FakeWeb {
 public:
  void Serve(const std::string& url, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    pages_[url] = std::move(body);
  }
  void Drop(const std::string& url) {
    std::lock_guard<std::mutex> lock(mu_);
    pages_.erase(url);
  }
  int Hits(const std::string& url) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = hits_.find(url);
    return it == hits_.end() ? 0 : it->second;
  }
  Fetcher fetcher() {
    return [this](const std::string& url) -> Result<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      ++hits_[url];
      const auto it = pages_.find(url);
      if (it == pages_.end()) return Unavailable("HTTP 404");
      return it->second;
    };
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> pages_;
  std::map<std::string, int> hits_;
};

std::string Discovery(std::string_view issuer, std::string_view jwks_uri) {
  return "{\"issuer\":\"" + std::string(issuer) + "\",\"jwks_uri\":\"" + std::string(jwks_uri) +
         "\",\"id_token_signing_alg_values_supported\":[\"RS256\",\"ES256\"]}";
}

std::string Jwks(const std::vector<std::string>& jwks) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < jwks.size(); ++i) out += (i ? "," : "") + jwks[i];
  return out + "]}";
}

std::string SignedToken(const TestKey& key, const std::string& header, const std::string& payload) {
  const std::string input = B64(header) + "." + B64(payload);
  return input + "." + crypto::Base64UrlEncode(key.Sign(input));
}

std::string Header(const TestKey& key, std::string_view kid) {
  return "{\"alg\":\"" + key.alg() + "\",\"typ\":\"JWT\",\"kid\":\"" + std::string(kid) + "\"}";
}

// Payload members after the standard ones (text to follow a comma, or "").
std::string Payload(std::string_view extra = "", int64_t exp = kNow + 300,
                    std::string_view aud = "\"hygie-acme\"", std::string_view iss = kIssuer) {
  std::string out = "{\"iss\":\"" + std::string(iss) +
                    "\",\"sub\":\"f:550-dr-house\",\"aud\":" + std::string(aud) +
                    ",\"exp\":" + std::to_string(exp) + ",\"iat\":" + std::to_string(kNow - 10) +
                    ",\"scope\":\"user/Patient.rs openid\",\"azp\":\"dmp-app\"";
  if (!extra.empty()) out += "," + std::string(extra);
  return out + "}";
}

TrustedIssuer AcmeIssuer() {
  TrustedIssuer t;
  t.issuer = std::string(kIssuer);
  t.audience = std::string(kAudience);
  t.tenant = "acme";
  return t;
}

class OidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    web_.Serve(std::string(kIssuer) + "/.well-known/openid-configuration",
               Discovery(kIssuer, kJwksUri));
    ServeKeys({Rsa().Jwk("rsa-1", "\"use\":\"sig\",\"alg\":\"RS256\""), Ec().Jwk("ec-1"),
               Ed().Jwk("ed-1")});
    ASSERT_TRUE(verifier_.SetIssuers({AcmeIssuer()}).ok());
  }
  void ServeKeys(const std::vector<std::string>& jwks) {
    web_.Serve(std::string(kJwksUri), Jwks(jwks));
  }
  int JwksHits() const { return web_.Hits(std::string(kJwksUri)); }

  // Refused with kUnauthenticated and exactly `reason`, echoing no part of the token.
  void ExpectRefused(const std::string& token, std::string_view reason,
                     std::string_view tenant = "acme") {
    Result<std::shared_ptr<const Claims>> r = verifier_.Verify(token, tenant);
    ASSERT_FALSE(r.ok()) << reason;
    EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << r.status().ToString();
    EXPECT_EQ(r.status().message(), reason);
    size_t start = 0;
    while (start < token.size()) {
      const size_t dot = token.find('.', start);
      const std::string part = token.substr(start, dot == std::string::npos ? dot : dot - start);
      if (part.size() >= 8) {
        EXPECT_EQ(r.status().message().find(part), std::string::npos);
      }
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }

  FakeClock clock_{kNow * kMicros};
  FakeWeb web_;
  OidcVerifier verifier_{OidcVerifier::Options{}, web_.fetcher(), clock_};
};

TEST_F(OidcTest, AcceptsEachAlgorithm) {
  const std::pair<const TestKey*, const char*> cases[] = {
      {&Rsa(), "rsa-1"}, {&Ec(), "ec-1"}, {&Ed(), "ed-1"}};
  for (const auto& [key, kid] : cases) {
    const std::string token = SignedToken(*key, Header(*key, kid), Payload());
    Result<std::shared_ptr<const Claims>> r = verifier_.Verify(token, "acme");
    ASSERT_TRUE(r.ok()) << key->alg() << ": " << r.status().ToString();
    EXPECT_EQ((*r)->issuer, kIssuer);
    EXPECT_EQ((*r)->tenant, "acme");
    EXPECT_EQ((*r)->audience, kAudience);
    EXPECT_EQ((*r)->subject, "f:550-dr-house");
    EXPECT_EQ((*r)->scope, "user/Patient.rs openid");
    EXPECT_EQ((*r)->client_id, "dmp-app");
    EXPECT_EQ((*r)->expires_at, kNow + 300);
    EXPECT_EQ((*r)->issued_at, kNow - 10);
    EXPECT_TRUE((*r)->role.empty());
    EXPECT_FALSE((*r)->patient.has_value());
  }
  // One discovery and one JWK set fetch served all three.
  EXPECT_EQ(JwksHits(), 1);
}

TEST_F(OidcTest, AcceptsATokenWithoutKidWhenAKeyVerifiesIt) {
  const std::string token = SignedToken(Ec(), "{\"alg\":\"ES256\"}", Payload());
  EXPECT_TRUE(verifier_.Verify(token, "acme").ok());
}

TEST_F(OidcTest, RefusesTamperedPayloadAndSignature) {
  const std::string token = SignedToken(Ec(), Header(Ec(), "ec-1"), Payload());
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  // Another payload under the same signature (a wider scope).
  const std::string forged_payload =
      B64(Payload().replace(Payload().find("user/Patient.rs"), 15, "user/*.cruds   "));
  ExpectRefused(token.substr(0, dot1 + 1) + forged_payload + token.substr(dot2),
                "token signature invalid");
  // One bit of the signature flipped (decode, flip, re-encode canonically).
  Result<Bytes> sig = crypto::Base64UrlDecode(token.substr(dot2 + 1));
  ASSERT_TRUE(sig.ok());
  for (size_t i : {size_t{0}, size_t{31}, size_t{63}}) {
    Bytes bad = *sig;
    bad[i] ^= 0x10;
    ExpectRefused(token.substr(0, dot2 + 1) + crypto::Base64UrlEncode(bad),
                  "token signature invalid");
  }
  // A signature by another key of the same type under this kid.
  const TestKey other = TestKey::Ec();
  ExpectRefused(SignedToken(other, Header(other, "ec-1"), Payload()), "token signature invalid");
}

TEST_F(OidcTest, ChecksTimesWithSkew) {
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("", kNow - 61)), "token expired");
  // Within the 60 s skew.
  EXPECT_TRUE(
      verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("", kNow - 30)), "acme")
          .ok());
  ExpectRefused(
      SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("\"nbf\":" + std::to_string(kNow + 120))),
      "token not yet valid");
  EXPECT_TRUE(verifier_
                  .Verify(SignedToken(Ec(), Header(Ec(), "ec-1"),
                                      Payload("\"nbf\":" + std::to_string(kNow + 30))),
                          "acme")
                  .ok());
  std::string future_iat = Payload();
  future_iat.replace(future_iat.find(std::to_string(kNow - 10)), 10, std::to_string(kNow + 500));
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"), future_iat), "token not yet valid");
  std::string no_exp = Payload();
  no_exp.replace(no_exp.find("\"exp\":"), 6 + 10 + 1, "");
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"), no_exp), "token has no expiry");
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("", -5)), "malformed token");
}

TEST_F(OidcTest, SkewIsBounded) {
  OidcVerifier::Options options;
  options.clock_skew_seconds = 100000;
  OidcVerifier wide(options, web_.fetcher(), clock_);
  ASSERT_TRUE(wide.SetIssuers({AcmeIssuer()}).ok());
  const std::string token = SignedToken(Ec(), Header(Ec(), "ec-1"),
                                        Payload("", kNow - OidcVerifier::kMaxClockSkewSeconds));
  EXPECT_EQ(wide.Verify(token, "acme").status().message(), "token expired");
  const std::string recent = SignedToken(
      Ec(), Header(Ec(), "ec-1"), Payload("", kNow - OidcVerifier::kMaxClockSkewSeconds + 5));
  EXPECT_TRUE(wide.Verify(recent, "acme").ok());
}

TEST_F(OidcTest, ChecksAudience) {
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("", kNow + 300, "\"other\"")),
                "token audience mismatch");
  ExpectRefused(
      SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("", kNow + 300, "[\"account\",\"other\"]")),
      "token audience mismatch");
  EXPECT_TRUE(verifier_
                  .Verify(SignedToken(Ec(), Header(Ec(), "ec-1"),
                                      Payload("", kNow + 300, "[\"account\",\"hygie-acme\"]")),
                          "acme")
                  .ok());
}

TEST_F(OidcTest, RefusesUntrustedIssuersAndOtherTenants) {
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"),
                            Payload("", kNow + 300, "\"hygie-acme\"", "https://evil.test")),
                "token issuer not trusted");
  // A trailing slash makes another issuer.
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"),
                            Payload("", kNow + 300, "\"hygie-acme\"", std::string(kIssuer) + "/")),
                "token issuer not trusted");
  // A valid token of acme's issuer is worth nothing for a tenant that does not trust it.
  const std::string token = SignedToken(Ec(), Header(Ec(), "ec-1"), Payload());
  ASSERT_TRUE(verifier_.Verify(token, "acme").ok());
  ExpectRefused(token, "token issuer not trusted", "globex");
  // And the token cannot choose its tenant.
  Result<std::shared_ptr<const Claims>> r = verifier_.Verify(
      SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("\"tenant\":\"globex\"")), "acme");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->tenant, "acme");
  // Without iss.
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"),
                            "{\"aud\":\"hygie-acme\",\"exp\":" + std::to_string(kNow + 60) + "}"),
                "token issuer not trusted");
}

TEST_F(OidcTest, UnknownKidRefetchesAtMostOncePerInterval) {
  ASSERT_TRUE(verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload()), "acme").ok());
  ASSERT_EQ(JwksHits(), 1);
  const TestKey rotated = TestKey::Ec();
  const std::string token = SignedToken(rotated, Header(rotated, "ec-2"), Payload());
  // The set was fetched moments ago: fetching it again now would not help.
  ExpectRefused(token, "unknown signing key");
  EXPECT_EQ(JwksHits(), 1);
  clock_.Advance(31 * kMicros);
  ExpectRefused(token, "unknown signing key");
  EXPECT_EQ(JwksHits(), 2);  // one refetch
  for (int i = 0; i < 20; ++i) {
    ExpectRefused(SignedToken(rotated, Header(rotated, "made-up-" + std::to_string(i)), Payload()),
                  "unknown signing key");
  }
  EXPECT_EQ(JwksHits(), 2);  // rate-limited
  // The provider publishes the new key; within the interval it is not fetched yet.
  ServeKeys({Ec().Jwk("ec-1"), rotated.Jwk("ec-2")});
  clock_.Advance(10 * kMicros);
  ExpectRefused(token, "unknown signing key");
  EXPECT_EQ(JwksHits(), 2);
  clock_.Advance(21 * kMicros);
  EXPECT_TRUE(verifier_.Verify(token, "acme").ok());
  EXPECT_EQ(JwksHits(), 3);
  // Known kids do not fetch.
  EXPECT_TRUE(verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload()), "acme").ok());
  EXPECT_EQ(JwksHits(), 3);
}

TEST_F(OidcTest, RefreshesKeysAfterMaxAgeAndKeepsStaleKeysWhenTheProviderIsDown) {
  ASSERT_TRUE(verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload()), "acme").ok());
  EXPECT_EQ(JwksHits(), 1);
  clock_.Advance(3601 * kMicros);
  // exp moves with the clock: a fresh token.
  const int64_t now = kNow + 3601;
  std::string payload = Payload("", now + 300);
  EXPECT_TRUE(verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), payload), "acme").ok());
  EXPECT_EQ(JwksHits(), 2);
  // The provider goes away: the keys held serve past their age (stale window).
  web_.Drop(std::string(kJwksUri));
  clock_.Advance(3601 * kMicros);
  payload = Payload("", now + 3601 + 300);
  EXPECT_TRUE(verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), payload), "acme").ok());
  EXPECT_EQ(JwksHits(), 3);
}

TEST_F(OidcTest, ProviderNeverReachedIsUnavailableAndRetriedPerInterval) {
  web_.Drop(std::string(kJwksUri));
  const std::string token = SignedToken(Ec(), Header(Ec(), "ec-1"), Payload());
  Result<std::shared_ptr<const Claims>> r = verifier_.Verify(token, "acme");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message().find(token.substr(0, 20)), std::string::npos);
  EXPECT_EQ(JwksHits(), 1);
  EXPECT_EQ(verifier_.Verify(token, "acme").status().code(), Code::kUnavailable);
  EXPECT_EQ(JwksHits(), 1);  // not hammered
  ServeKeys({Ec().Jwk("ec-1")});
  clock_.Advance(31 * kMicros);
  EXPECT_TRUE(verifier_.Verify(token, "acme").ok());
  EXPECT_EQ(JwksHits(), 2);
}

TEST_F(OidcTest, RefusesAlgNoneAndHmac) {
  ExpectRefused(B64("{\"alg\":\"none\",\"kid\":\"ec-1\"}") + "." + B64(Payload()) + ".",
                "malformed token");
  ExpectRefused(
      B64("{\"alg\":\"none\",\"kid\":\"ec-1\"}") + "." + B64(Payload()) + "." + B64("sig"),
      "token algorithm not allowed");
  // HS256 with the public key's bytes as the HMAC secret (the classic key-confusion attack),
  // both the JWK text and the raw Ed25519 key.
  for (const std::string& secret : {Rsa().Jwk("rsa-1"), Ec().Jwk("ec-1"), Ed().Jwk("ed-1")}) {
    const std::string input = B64("{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}") + "." + B64(Payload());
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
    ExpectRefused(input + "." + crypto::Base64UrlEncode(ByteView(mac, mac_len)),
                  "token algorithm not allowed");
  }
  for (const char* alg : {"HS384", "PS256", "RS512", "ES384", "Ed25519", "rs256"}) {
    ExpectRefused(B64("{\"alg\":\"" + std::string(alg) + "\",\"kid\":\"rsa-1\"}") + "." +
                      B64(Payload()) + "." + B64("signature"),
                  "token algorithm not allowed");
  }
}

TEST_F(OidcTest, TheAlgorithmMustFitTheKey) {
  // An ES256 signature presented under the RSA key's kid.
  const std::string header = "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}";
  ExpectRefused(SignedToken(Ec(), header, Payload()), "unknown signing key");
  // An EdDSA key's kid with RS256.
  ExpectRefused(SignedToken(Rsa(), "{\"alg\":\"RS256\",\"kid\":\"ed-1\"}", Payload()),
                "unknown signing key");
}

TEST_F(OidcTest, StrictForm) {
  const std::string payload = Payload();
  // Duplicate members, crit, and a bad typ.
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"),
                            payload.substr(0, payload.size() - 1) + ",\"iss\":\"x\"}"),
                "malformed token");
  ExpectRefused(
      SignedToken(Ec(), "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"crit\":[\"exp\"]}", payload),
      "token header not supported");
  ExpectRefused(
      SignedToken(Ec(), "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"dpop+jwt\"}", payload),
      "token type not allowed");
  // Padding on a segment.
  const std::string token = SignedToken(Ec(), Header(Ec(), "ec-1"), payload);
  ExpectRefused(token + "=", "malformed token");
  ExpectRefused(token + ".x", "malformed token");
  // Size limit.
  ExpectRefused(SignedToken(Ec(), Header(Ec(), "ec-1"),
                            Payload("\"pad\":\"" + std::string(20000, 'a') + "\"")),
                "token too large");
}

TEST_F(OidcTest, RefusesADiscoveryDocumentNamingAnotherIssuer) {
  web_.Serve(std::string(kIssuer) + "/.well-known/openid-configuration",
             Discovery("https://idp.example.test/realms/other", kJwksUri));
  Result<std::shared_ptr<const Claims>> r =
      verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload()), "acme");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("another issuer"), std::string::npos);
  EXPECT_EQ(JwksHits(), 0);
}

TEST_F(OidcTest, RefusesAPlainHttpJwksUriOffLoopback) {
  const std::string plain = "http://idp.example.test/realms/care/certs";
  web_.Serve(std::string(kIssuer) + "/.well-known/openid-configuration", Discovery(kIssuer, plain));
  web_.Serve(plain, Jwks({Ec().Jwk("ec-1")}));
  Result<std::shared_ptr<const Claims>> r =
      verifier_.Verify(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload()), "acme");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(web_.Hits(plain), 0);
}

TEST_F(OidcTest, AcceptsPlainHttpOnLoopback) {
  const std::string issuer = "http://127.0.0.1:8443/idp";
  const std::string jwks = "http://localhost:8443/idp/jwks";
  web_.Serve(issuer + "/.well-known/openid-configuration", Discovery(issuer, jwks));
  web_.Serve(jwks, Jwks({Ed().Jwk("ed-1")}));
  TrustedIssuer local = AcmeIssuer();
  local.issuer = issuer;
  ASSERT_TRUE(verifier_.SetIssuers({AcmeIssuer(), local}).ok());
  EXPECT_TRUE(verifier_
                  .Verify(SignedToken(Ed(), Header(Ed(), "ed-1"),
                                      Payload("", kNow + 300, "\"hygie-acme\"", issuer)),
                          "acme")
                  .ok());
  EXPECT_EQ(web_.Hits(jwks), 1);
}

TEST_F(OidcTest, MapsClaims) {
  TrustedIssuer t = AcmeIssuer();
  t.scope_claim = "scp";
  t.roles_claim = "realm_access.roles";
  t.role_map = {{"medecin", "practitioner"}, {"dpo", "auditor"}};
  t.default_role = "service";
  t.patient_claim = "launch_patient";
  t.professional_id_claim = "SubjectRefPro.rpps";
  ASSERT_TRUE(verifier_.SetIssuers({t}).ok());
  Result<std::shared_ptr<const Claims>> r = verifier_.Verify(
      SignedToken(
          Rsa(), Header(Rsa(), "rsa-1"),
          Payload("\"scp\":[\"patient/Observation.rs\",\"launch/patient\"],"
                  "\"realm_access\":{\"roles\":[\"offline\",\"medecin\",\"dpo\"]},"
                  "\"launch_patient\":\"pat-123\",\"client_id\":\"cid\","
                  "\"SubjectRefPro\":{\"rpps\":\"10001234567\"},\"role\":\"host-operator\"")),
      "acme");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->scope, "patient/Observation.rs launch/patient");
  EXPECT_EQ((*r)->role, "practitioner");  // the first mapped role, in token order
  ASSERT_TRUE((*r)->patient.has_value());
  EXPECT_EQ(*(*r)->patient, "pat-123");
  EXPECT_EQ((*r)->professional_id, "10001234567");
  EXPECT_EQ((*r)->client_id, "cid");  // client_id before azp

  // No mapped role: the default.
  r = verifier_.Verify(SignedToken(Rsa(), Header(Rsa(), "rsa-1"),
                                   Payload("\"realm_access\":{\"roles\":[\"offline\"]}")),
                       "acme");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->role, "service");
  EXPECT_TRUE((*r)->scope.empty());  // "scope" is not the configured claim

  // A patient claim that is not a FHIR id, and a roles claim of the wrong type.
  ExpectRefused(
      SignedToken(Rsa(), Header(Rsa(), "rsa-1"), Payload("\"launch_patient\":\"../Patient/1\"")),
      "token patient claim invalid");
  ExpectRefused(
      SignedToken(Rsa(), Header(Rsa(), "rsa-1"), Payload("\"realm_access\":{\"roles\":[1]}")),
      "malformed token");
}

TEST_F(OidcTest, RolesWithoutAMapKeepOnlyHygieRoles) {
  TrustedIssuer t = AcmeIssuer();
  t.roles_claim = "roles";
  ASSERT_TRUE(verifier_.SetIssuers({t}).ok());
  auto role_of = [&](const std::string& roles) {
    Result<std::shared_ptr<const Claims>> r = verifier_.Verify(
        SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("\"roles\":" + roles)), "acme");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)->role : std::string("?");
  };
  EXPECT_EQ(role_of("\"auditor\""), "auditor");
  EXPECT_EQ(role_of("[\"host-operator\",\"tenant-admin\"]"), "tenant-admin");
  EXPECT_EQ(role_of("[\"host-operator\"]"), "");
}

TEST_F(OidcTest, CachesVerifiedTokensAndRechecksExpiry) {
  OidcVerifier::Options options;
  OidcVerifier verifier(options, web_.fetcher(), clock_);
  ASSERT_TRUE(verifier.SetIssuers({AcmeIssuer()}).ok());
  const std::string token = SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("", kNow + 120));
  Result<std::shared_ptr<const Claims>> first = verifier.Verify(token, "acme");
  ASSERT_TRUE(first.ok());
  Result<std::shared_ptr<const Claims>> second = verifier.Verify(token, "acme");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get());  // the same cached claims
  clock_.Advance(200 * kMicros);
  EXPECT_EQ(verifier.Verify(token, "acme").status().message(), "token expired");
  // Removing the issuer clears the cache.
  clock_.Set(kNow * kMicros);
  ASSERT_TRUE(verifier.Verify(token, "acme").ok());
  ASSERT_TRUE(verifier.SetIssuers({}).ok());
  EXPECT_EQ(verifier.Verify(token, "acme").status().message(), "token issuer not trusted");
  EXPECT_FALSE(verifier.TrustsAnyIssuer("acme"));
}

TEST_F(OidcTest, SetIssuersValidates) {
  TrustedIssuer plain = AcmeIssuer();
  plain.issuer = "http://idp.example.test";
  EXPECT_EQ(verifier_.SetIssuers({plain}).code(), Code::kInvalidArgument);
  TrustedIssuer staff = AcmeIssuer();
  staff.default_role = "host-operator";
  EXPECT_EQ(verifier_.SetIssuers({staff}).code(), Code::kInvalidArgument);
  EXPECT_EQ(verifier_.SetIssuers({AcmeIssuer(), AcmeIssuer()}).code(), Code::kInvalidArgument);
  // Nothing changed.
  ASSERT_EQ(verifier_.Issuers().size(), 1u);
  EXPECT_EQ(verifier_.Issuers()[0], AcmeIssuer());
  EXPECT_TRUE(verifier_.TrustsAnyIssuer("acme"));
}

TEST_F(OidcTest, UnverifiedIssuer) {
  EXPECT_EQ(UnverifiedIssuer(SignedToken(Ec(), Header(Ec(), "ec-1"), Payload())),
            std::optional<std::string>(std::string(kIssuer)));
  EXPECT_FALSE(UnverifiedIssuer("not.a.token").has_value());
  EXPECT_FALSE(
      UnverifiedIssuer(SignedToken(Ec(), Header(Ec(), "ec-1"), "{\"sub\":\"x\"}")).has_value());
}

TEST_F(OidcTest, ConcurrentVerificationsFetchOnce) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) {
    tokens.push_back(
        SignedToken(Ec(), Header(Ec(), "ec-1"), Payload("\"jti\":\"" + std::to_string(i) + "\"")));
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 25; ++round) {
        for (const std::string& token : tokens) {
          if (verifier_.Verify(token, "acme").ok()) ++ok;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4 * 25 * 8);
  EXPECT_EQ(JwksHits(), 1);
}

}  // namespace
}  // namespace hygie::auth
