#include "auth/token.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "crypto/signing.h"

namespace hygie::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;  // seconds
constexpr int64_t kMicros = 1'000'000;
constexpr std::string_view kIssuer = "https://hygie.test";
constexpr std::string_view kAudience = "https://hygie.test/fhir";

// Raw JSON members, in order; the value is JSON text.
using Members = std::vector<std::pair<std::string, std::string>>;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string ToJson(const Members& members) {
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ",";
    out += Quote(members[i].first) + ":" + members[i].second;
  }
  return out + "}";
}

Members With(Members members, std::string_view name, std::string value) {
  for (auto& member : members) {
    if (member.first == name) {
      member.second = std::move(value);
      return members;
    }
  }
  members.emplace_back(std::string(name), std::move(value));
  return members;
}

Members Without(Members members, std::string_view name) {
  std::erase_if(members, [&](const auto& m) { return m.first == name; });
  return members;
}

std::string B64(std::string_view text) { return crypto::Base64UrlEncode(AsBytes(text)); }

std::string Decode(std::string_view segment) {
  Result<Bytes> bytes = crypto::Base64UrlDecode(segment);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? std::string(AsChars(*bytes)) : std::string();
}

std::vector<std::string> Split(std::string_view token) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    const size_t dot = token.find('.', pos);
    parts.emplace_back(token.substr(pos, dot == std::string_view::npos ? dot : dot - pos));
    if (dot == std::string_view::npos) return parts;
    pos = dot + 1;
  }
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? "." : "") + parts[i];
  return out;
}

// Signs already-encoded segments with `key`.
std::string SignSegments(std::string_view header_b64, std::string_view payload_b64,
                         const crypto::SigningKey& key) {
  const std::string input = std::string(header_b64) + "." + std::string(payload_b64);
  Result<Bytes> signature = key.Sign(AsBytes(input));
  EXPECT_TRUE(signature.ok());
  return input + "." + crypto::Base64UrlEncode(*signature);
}

std::string SignRaw(std::string_view header_json, std::string_view payload_json,
                    const crypto::SigningKey& key) {
  return SignSegments(B64(header_json), B64(payload_json), key);
}

class TokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    es_key_ = new crypto::SigningKey(*crypto::SigningKey::Generate(crypto::SignatureAlg::kEs256));
    ed_key_ = new crypto::SigningKey(*crypto::SigningKey::Generate(crypto::SignatureAlg::kEdDsa));
    other_es_key_ =
        new crypto::SigningKey(*crypto::SigningKey::Generate(crypto::SignatureAlg::kEs256));
  }
  static void TearDownTestSuite() {
    delete es_key_;
    delete ed_key_;
    delete other_es_key_;
  }

  TokenVerifier::Options DefaultOptions(size_t cache_capacity = 0) const {
    TokenVerifier::Options options;
    options.issuer = std::string(kIssuer);
    options.audience = std::string(kAudience);
    options.cache_capacity = cache_capacity;
    return options;
  }

  TokenVerifier MakeVerifier(TokenVerifier::Options options) const {
    return TokenVerifier(std::move(options), {es_key_->Public(), ed_key_->Public()}, clock_);
  }
  TokenVerifier MakeVerifier() const { return MakeVerifier(DefaultOptions()); }

  static Members Header(const crypto::SigningKey& key) {
    return {{"alg", Quote(crypto::AlgName(key.alg()))},
            {"typ", Quote("at+jwt")},
            {"kid", Quote(key.Public().KeyId())}};
  }

  static Members Payload() {
    return {{"iss", Quote(kIssuer)},
            {"sub", Quote("dr-house")},
            {"aud", Quote(kAudience)},
            {"tenant", Quote("acme")},
            {"scope", Quote("user/Patient.rs")},
            {"jti", Quote("abc")},
            {"iat", std::to_string(kNow)},
            {"exp", std::to_string(kNow + 300)}};
  }

  static std::string Sign(const Members& header, const Members& payload,
                          const crypto::SigningKey& key) {
    return SignRaw(ToJson(header), ToJson(payload), key);
  }
  static std::string SignPayload(const Members& payload, const crypto::SigningKey& key = *es_key_) {
    return Sign(Header(key), payload, key);
  }

  // Refused with kUnauthenticated and exactly `reason`, and the message echoes no part of the
  // token.
  static void ExpectRefused(const TokenVerifier& verifier, std::string_view token,
                            std::string_view reason) {
    Result<std::shared_ptr<const Claims>> result = verifier.Verify(token);
    ASSERT_FALSE(result.ok()) << "accepted: " << token;
    EXPECT_EQ(result.status().code(), Code::kUnauthenticated);
    EXPECT_EQ(result.status().message(), reason);
    for (const std::string& part : Split(token)) {
      if (part.size() >= 8) {
        EXPECT_EQ(result.status().message().find(part), std::string::npos);
      }
    }
  }

  static void ExpectAccepted(const TokenVerifier& verifier, std::string_view token) {
    Result<std::shared_ptr<const Claims>> result = verifier.Verify(token);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
  }

  static crypto::SigningKey* es_key_;
  static crypto::SigningKey* ed_key_;
  static crypto::SigningKey* other_es_key_;  // not known to the verifiers
  FakeClock clock_{kNow * kMicros};
};

crypto::SigningKey* TokenTest::es_key_ = nullptr;
crypto::SigningKey* TokenTest::ed_key_ = nullptr;
crypto::SigningKey* TokenTest::other_es_key_ = nullptr;

// ----------------------------------------------------------------------------- round trips

void RoundTrip(crypto::SignatureAlg alg, const Clock& clock, const TokenVerifier& verifier,
               crypto::SigningKey key) {
  const std::string kid = key.Public().KeyId();
  TokenIssuer issuer(std::move(key), std::string(kIssuer), std::string(kAudience), clock);
  Claims claims;
  claims.subject = "dr-house";
  claims.tenant = "acme";
  claims.scope = "user/Patient.rs launch/patient";
  claims.patient = "p-123";
  claims.client_id = "app";
  claims.not_before = kNow - 10;
  Result<std::string> token = issuer.Issue(claims, 300);
  ASSERT_TRUE(token.ok()) << token.status().ToString();

  const std::vector<std::string> parts = Split(*token);
  ASSERT_EQ(parts.size(), 3u);
  rapidjson::Document header;
  header.Parse(Decode(parts[0]).c_str());
  ASSERT_TRUE(header.IsObject());
  EXPECT_EQ(std::string(header["alg"].GetString()), crypto::AlgName(alg));
  EXPECT_EQ(std::string(header["typ"].GetString()), "at+jwt");
  EXPECT_EQ(std::string(header["kid"].GetString()), kid);

  Result<std::shared_ptr<const Claims>> verified = verifier.Verify(*token);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  const Claims& got = **verified;
  EXPECT_EQ(got.issuer, kIssuer);
  EXPECT_EQ(got.audience, kAudience);
  EXPECT_EQ(got.subject, "dr-house");
  EXPECT_EQ(got.tenant, "acme");
  EXPECT_EQ(got.scope, "user/Patient.rs launch/patient");
  EXPECT_EQ(got.patient, std::optional<std::string>("p-123"));
  EXPECT_EQ(got.client_id, "app");
  EXPECT_EQ(got.jwt_id.size(), 26u);
  EXPECT_EQ(got.issued_at, kNow);
  EXPECT_EQ(got.expires_at, kNow + 300);
  EXPECT_EQ(got.not_before, kNow - 10);

  // Two tokens from the same claims differ (random jti).
  Result<std::string> again = issuer.Issue(claims, 300);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *token);
}

TEST_F(TokenTest, RoundTripEs256) {
  RoundTrip(crypto::SignatureAlg::kEs256, clock_, MakeVerifier(),
            std::move(*crypto::SigningKey::FromPrivatePem(*es_key_->PrivatePem())));
}

TEST_F(TokenTest, RoundTripEdDsa) {
  RoundTrip(crypto::SignatureAlg::kEdDsa, clock_, MakeVerifier(),
            std::move(*crypto::SigningKey::FromPrivatePem(*ed_key_->PrivatePem())));
}

TEST_F(TokenTest, OptionalClaimsAbsentWhenUnset) {
  TokenIssuer issuer(std::move(*crypto::SigningKey::FromPrivatePem(*es_key_->PrivatePem())),
                     std::string(kIssuer), std::string(kAudience), clock_);
  Claims claims;
  claims.tenant = "acme";
  Result<std::string> token = issuer.Issue(claims, 60);
  ASSERT_TRUE(token.ok());
  const std::string payload = Decode(Split(*token)[1]);
  EXPECT_EQ(payload.find("patient"), std::string::npos);
  EXPECT_EQ(payload.find("client_id"), std::string::npos);
  EXPECT_EQ(payload.find("nbf"), std::string::npos);
  Result<std::shared_ptr<const Claims>> verified = MakeVerifier().Verify(*token);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_FALSE((*verified)->patient.has_value());
  EXPECT_EQ((*verified)->not_before, 0);
}

TEST_F(TokenTest, IssueRefusesBadInput) {
  TokenIssuer issuer(std::move(*crypto::SigningKey::FromPrivatePem(*es_key_->PrivatePem())),
                     std::string(kIssuer), std::string(kAudience), clock_);
  Claims claims;
  claims.tenant = "acme";
  EXPECT_EQ(issuer.Issue(claims, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(issuer.Issue(claims, -5).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(issuer.Issue(claims, INT64_MAX).status().code(), Code::kInvalidArgument);
  Claims no_tenant;
  EXPECT_EQ(issuer.Issue(no_tenant, 60).status().code(), Code::kInvalidArgument);
  Claims bad_utf8;
  bad_utf8.tenant = "acme";
  bad_utf8.subject = "\xff\xfe";
  EXPECT_EQ(issuer.Issue(bad_utf8, 60).status().code(), Code::kInvalidArgument);
  Claims nul;
  nul.tenant = std::string("acme\0other", 10);
  EXPECT_EQ(issuer.Issue(nul, 60).status().code(), Code::kInvalidArgument);
}

TEST_F(TokenTest, JwksHoldsThePublicKey) {
  TokenIssuer issuer(std::move(*crypto::SigningKey::FromPrivatePem(*ed_key_->PrivatePem())),
                     std::string(kIssuer), std::string(kAudience), clock_);
  rapidjson::Document jwks;
  jwks.Parse(issuer.JwksJson().c_str());
  ASSERT_TRUE(jwks.IsObject());
  ASSERT_TRUE(jwks.HasMember("keys") && jwks["keys"].IsArray());
  ASSERT_EQ(jwks["keys"].Size(), 1u);
  const auto& jwk = jwks["keys"][0];
  ASSERT_TRUE(jwk.IsObject());
  EXPECT_EQ(std::string(jwk["kid"].GetString()), ed_key_->Public().KeyId());
  EXPECT_EQ(jwk.HasMember("d"), false);  // no private part
  EXPECT_EQ(issuer.public_key().KeyId(), ed_key_->Public().KeyId());
}

TEST_F(TokenTest, HandCraftedTokenAccepted) {
  // The helpers build valid tokens; the refusal tests below change one thing each.
  const TokenVerifier verifier = MakeVerifier();
  ExpectAccepted(verifier, SignPayload(Payload()));
  ExpectAccepted(verifier, SignPayload(Payload(), *ed_key_));
  ExpectAccepted(verifier, Sign(Without(Header(*es_key_), "typ"), Payload(), *es_key_));
  ExpectAccepted(verifier, Sign(With(Header(*es_key_), "typ", Quote("JWT")), Payload(), *es_key_));
  ExpectAccepted(verifier, SignPayload(Without(Payload(), "sub")));
  ExpectAccepted(verifier, SignPayload(Without(Payload(), "scope")));
  ExpectAccepted(verifier, SignPayload(Without(Payload(), "iat")));
  ExpectAccepted(verifier, SignPayload(With(Payload(), "ctx", R"({"a":[1,{"b":2}]})")));
}

// ----------------------------------------------------------------------------- algorithms

TEST_F(TokenTest, AlgNoneRefused) {
  const TokenVerifier verifier = MakeVerifier();
  const std::string payload = B64(ToJson(Payload()));
  for (std::string_view alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    const std::string header = B64(ToJson(With(Header(*es_key_), "alg", Quote(alg))));
    const std::string header_no_kid = B64(R"({"alg":")" + std::string(alg) + R"("})");
    // Empty signature, as RFC 7519 unsecured JWTs have.
    ExpectRefused(verifier, header + "." + payload + ".", "malformed token");
    ExpectRefused(verifier, header_no_kid + "." + payload + ".", "malformed token");
    // Any signature.
    ExpectRefused(verifier, header + "." + payload + "." + B64("whatever"),
                  "token algorithm not allowed");
    // A real ES256 signature over the same input.
    ExpectRefused(verifier, SignSegments(header, payload, *es_key_), "token algorithm not allowed");
  }
}

TEST_F(TokenTest, HmacKeyConfusionRefused) {
  // The classic attack: use the verifier's public key (PEM text) as an HMAC secret.
  const TokenVerifier verifier = MakeVerifier();
  for (const crypto::SigningKey* key : {es_key_, ed_key_}) {
    Result<std::string> pem = key->Public().Pem();
    ASSERT_TRUE(pem.ok());
    for (std::string_view alg : {"HS256", "ES256", "EdDSA"}) {
      SCOPED_TRACE(alg);
      const std::string input =
          B64(ToJson(With(Header(*key), "alg", Quote(alg)))) + "." + B64(ToJson(Payload()));
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      ASSERT_NE(
          HMAC(EVP_sha256(), pem->data(), static_cast<int>(pem->size()),
               reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len),
          nullptr);
      const std::string token = input + "." + crypto::Base64UrlEncode(ByteView(mac, mac_len));
      if (alg == "HS256") {
        ExpectRefused(verifier, token, "token algorithm not allowed");
      } else if (crypto::AlgName(key->alg()) == alg) {
        ExpectRefused(verifier, token, "token signature invalid");
      } else {
        ExpectRefused(verifier, token, "unknown signing key");
      }
    }
  }
}

TEST_F(TokenTest, OtherAlgorithmsRefused) {
  const TokenVerifier verifier = MakeVerifier();
  for (std::string_view alg_json :
       {R"("HS256")", R"("HS512")", R"("RS256")", R"("PS256")", R"("ES384")", R"("ES512")",
        R"("es256")", R"("ES256 ")", R"("eddsa")", R"("EDDSA")", R"("Ed25519")", R"("")", R"(null)",
        R"(1)", R"(["ES256"])", R"({"alg":"ES256"})"}) {
    SCOPED_TRACE(alg_json);
    ExpectRefused(verifier,
                  Sign(With(Header(*es_key_), "alg", std::string(alg_json)), Payload(), *es_key_),
                  "token algorithm not allowed");
  }
  ExpectRefused(verifier, Sign(Without(Header(*es_key_), "alg"), Payload(), *es_key_),
                "token algorithm not allowed");
}

TEST_F(TokenTest, KidMustNameAKeyOfTheHeaderAlgorithm) {
  const TokenVerifier verifier = MakeVerifier();
  // Unknown key, signing with itself and naming itself.
  ExpectRefused(verifier, SignPayload(Payload(), *other_es_key_), "unknown signing key");
  // Known kid, signature by an unknown key.
  ExpectRefused(verifier, Sign(Header(*es_key_), Payload(), *other_es_key_),
                "token signature invalid");
  // The EdDSA key's kid under alg ES256, and the reverse.
  ExpectRefused(verifier, Sign(With(Header(*ed_key_), "alg", Quote("ES256")), Payload(), *es_key_),
                "unknown signing key");
  ExpectRefused(verifier, Sign(With(Header(*es_key_), "alg", Quote("EdDSA")), Payload(), *ed_key_),
                "unknown signing key");
  // ES256 header and kid, signed by the EdDSA key.
  ExpectRefused(verifier, Sign(Header(*es_key_), Payload(), *ed_key_), "token signature invalid");
  // Missing, empty or non-string kid.
  ExpectRefused(verifier, Sign(Without(Header(*es_key_), "kid"), Payload(), *es_key_),
                "unknown signing key");
  for (std::string_view kid : {R"("")", "1", "null", R"(["x"])"}) {
    ExpectRefused(verifier,
                  Sign(With(Header(*es_key_), "kid", std::string(kid)), Payload(), *es_key_),
                  "unknown signing key");
  }
  // A verifier that only knows the EdDSA key refuses ES256 tokens.
  TokenVerifier ed_only(DefaultOptions(), {ed_key_->Public()}, clock_);
  ExpectRefused(ed_only, SignPayload(Payload(), *es_key_), "unknown signing key");
  ExpectAccepted(ed_only, SignPayload(Payload(), *ed_key_));
}

TEST_F(TokenTest, HeaderRulesEnforced) {
  const TokenVerifier verifier = MakeVerifier();
  ExpectRefused(verifier,
                Sign(With(Header(*es_key_), "typ", Quote("dpop+jwt")), Payload(), *es_key_),
                "token type not allowed");
  ExpectRefused(verifier, Sign(With(Header(*es_key_), "typ", "7"), Payload(), *es_key_),
                "malformed token");
  ExpectRefused(verifier, Sign(With(Header(*es_key_), "crit", R"(["exp"])"), Payload(), *es_key_),
                "token header not supported");
  for (std::string_view header : {"[]", "\"ES256\"", "null", "{", "{}x", "{}{}"}) {
    SCOPED_TRACE(header);
    ExpectRefused(verifier, SignRaw(header, ToJson(Payload()), *es_key_), "malformed token");
  }
}

// ----------------------------------------------------------------------------- tampering

TEST_F(TokenTest, PayloadSwapKeepsOriginalSignatureRefused) {
  const TokenVerifier verifier = MakeVerifier();
  for (const crypto::SigningKey* key : {es_key_, ed_key_}) {
    const std::string token = SignPayload(Payload(), *key);
    ExpectAccepted(verifier, token);
    std::vector<std::string> parts = Split(token);
    parts[1] = B64(ToJson(With(Payload(), "tenant", Quote("other-tenant"))));
    ExpectRefused(verifier, Join(parts), "token signature invalid");
    parts[1] = B64(ToJson(With(Payload(), "exp", std::to_string(kNow + 99999))));
    ExpectRefused(verifier, Join(parts), "token signature invalid");
    parts[1] = B64(ToJson(Payload()) + " ");  // same claims, other bytes
    ExpectRefused(verifier, Join(parts), "token signature invalid");
  }
}

TEST_F(TokenTest, HeaderChangeRefused) {
  const TokenVerifier verifier = MakeVerifier();
  const std::string token = SignPayload(Payload());
  std::vector<std::string> parts = Split(token);
  parts[0] = B64(ToJson(With(Header(*es_key_), "typ", Quote("JWT"))));
  ExpectRefused(verifier, Join(parts), "token signature invalid");
  parts[0] = B64(" " + ToJson(Header(*es_key_)));
  ExpectRefused(verifier, Join(parts), "token signature invalid");
}

TEST_F(TokenTest, SignatureBitFlipsRefused) {
  const TokenVerifier verifier = MakeVerifier();
  for (const crypto::SigningKey* key : {es_key_, ed_key_}) {
    const std::string token = SignPayload(Payload(), *key);
    std::vector<std::string> parts = Split(token);
    Result<Bytes> signature = crypto::Base64UrlDecode(parts[2]);
    ASSERT_TRUE(signature.ok());
    ASSERT_EQ(signature->size(), 64u);
    for (size_t bit = 0; bit < signature->size() * 8; ++bit) {
      Bytes flipped = *signature;
      flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      parts[2] = crypto::Base64UrlEncode(flipped);
      Result<std::shared_ptr<const Claims>> result = verifier.Verify(Join(parts));
      ASSERT_FALSE(result.ok()) << "bit " << bit;
      EXPECT_EQ(result.status().message(), "token signature invalid");
    }
  }
}

TEST_F(TokenTest, TruncatedOrExtendedSignatureRefused) {
  const TokenVerifier verifier = MakeVerifier();
  for (const crypto::SigningKey* key : {es_key_, ed_key_}) {
    std::vector<std::string> parts = Split(SignPayload(Payload(), *key));
    const Bytes signature = *crypto::Base64UrlDecode(parts[2]);
    for (size_t n : {size_t{0}, size_t{1}, size_t{32}, size_t{63}}) {
      SCOPED_TRACE(n);
      parts[2] = crypto::Base64UrlEncode(ByteView(signature.data(), n));
      ExpectRefused(verifier, Join(parts), n == 0 ? "malformed token" : "token signature invalid");
    }
    Bytes longer = signature;
    longer.push_back(0);
    parts[2] = crypto::Base64UrlEncode(longer);
    ExpectRefused(verifier, Join(parts), "token signature invalid");
    // Dropping the last character of the text.
    const std::string text = crypto::Base64UrlEncode(signature);
    parts[2] = text.substr(0, text.size() - 1);
    Result<std::shared_ptr<const Claims>> result = verifier.Verify(Join(parts));
    EXPECT_FALSE(result.ok());
  }
}

// ----------------------------------------------------------------------------- claims

TEST_F(TokenTest, ExpiryWithSkew) {
  const TokenVerifier verifier = MakeVerifier();     // skew 60 s, no cache
  const std::string token = SignPayload(Payload());  // exp = kNow + 300
  clock_.Set((kNow + 359) * kMicros);
  ExpectAccepted(verifier, token);
  clock_.Set((kNow + 360) * kMicros);
  ExpectRefused(verifier, token, "token expired");
  clock_.Set((kNow + 100000) * kMicros);
  ExpectRefused(verifier, token, "token expired");
}

TEST_F(TokenTest, NotBeforeAndIssuedAtInTheFutureRefused) {
  const TokenVerifier verifier = MakeVerifier();
  ExpectAccepted(verifier, SignPayload(With(Payload(), "nbf", std::to_string(kNow + 60))));
  ExpectRefused(verifier, SignPayload(With(Payload(), "nbf", std::to_string(kNow + 61))),
                "token not yet valid");
  ExpectAccepted(verifier, SignPayload(With(Payload(), "iat", std::to_string(kNow + 60))));
  ExpectRefused(verifier, SignPayload(With(Payload(), "iat", std::to_string(kNow + 61))),
                "token not yet valid");
}

TEST_F(TokenTest, IssuerMustMatch) {
  const TokenVerifier verifier = MakeVerifier();
  for (std::string_view iss :
       {R"("https://evil.test")", R"("https://hygie.test/")", R"("HTTPS://HYGIE.TEST")", R"("")"}) {
    ExpectRefused(verifier, SignPayload(With(Payload(), "iss", std::string(iss))),
                  "token issuer not trusted");
  }
  ExpectRefused(verifier, SignPayload(Without(Payload(), "iss")), "token issuer not trusted");
  ExpectRefused(verifier, SignPayload(With(Payload(), "iss", R"(["https://hygie.test"])")),
                "malformed token");
}

TEST_F(TokenTest, AudienceMustMatch) {
  const TokenVerifier verifier = MakeVerifier();
  ExpectRefused(verifier, SignPayload(With(Payload(), "aud", Quote("https://other.test"))),
                "token audience mismatch");
  ExpectRefused(verifier, SignPayload(Without(Payload(), "aud")), "token audience mismatch");
  ExpectRefused(verifier, SignPayload(With(Payload(), "aud", R"(["a","b"])")),
                "token audience mismatch");
  ExpectRefused(verifier, SignPayload(With(Payload(), "aud", "[]")), "token audience mismatch");
  ExpectRefused(verifier, SignPayload(With(Payload(), "aud", R"(["a",1])")), "malformed token");
  ExpectRefused(verifier, SignPayload(With(Payload(), "aud", "7")), "malformed token");
  ExpectRefused(verifier, SignPayload(With(Payload(), "aud", R"({"x":"y"})")), "malformed token");

  Result<std::shared_ptr<const Claims>> result = verifier.Verify(
      SignPayload(With(Payload(), "aud", R"(["a",")" + std::string(kAudience) + R"(","b"])")));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ((*result)->audience, kAudience);
}

TEST_F(TokenTest, TenantRequired) {
  const TokenVerifier verifier = MakeVerifier();
  ExpectRefused(verifier, SignPayload(Without(Payload(), "tenant")), "token has no tenant");
  ExpectRefused(verifier, SignPayload(With(Payload(), "tenant", R"("")")), "token has no tenant");
  for (std::string_view bad : {"1", "null", R"(["acme"])", R"({"id":"acme"})", "true"}) {
    ExpectRefused(verifier, SignPayload(With(Payload(), "tenant", std::string(bad))),
                  "malformed token");
  }
  // A NUL cannot cut the tenant short.
  ExpectRefused(verifier, SignPayload(With(Payload(), "tenant", R"("acme\u0000other")")),
                "malformed token");
}

TEST_F(TokenTest, ExpiryRequiredAndTyped) {
  const TokenVerifier verifier = MakeVerifier();
  ExpectRefused(verifier, SignPayload(Without(Payload(), "exp")), "token has no expiry");
  for (std::string_view bad :
       {R"("1700000300")", "true", "null", "[1700000300]", "-1", "1e300", "-1e300",
        "18446744073709551615", "9223372036854775807", "253402300800"}) {
    SCOPED_TRACE(bad);
    ExpectRefused(verifier, SignPayload(With(Payload(), "exp", std::string(bad))),
                  "malformed token");
  }
  // Doubles are NumericDates too.
  Result<std::shared_ptr<const Claims>> result =
      verifier.Verify(SignPayload(With(Payload(), "exp", "1700000300.75")));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ((*result)->expires_at, kNow + 300);
  ExpectAccepted(verifier, SignPayload(With(Payload(), "exp", "1.7000003e9")));
  ExpectRefused(verifier, SignPayload(With(Payload(), "nbf", R"("0")")), "malformed token");
  ExpectRefused(verifier, SignPayload(With(Payload(), "iat", "false")), "malformed token");
}

TEST_F(TokenTest, OtherClaimTypesChecked) {
  const TokenVerifier verifier = MakeVerifier();
  for (std::string_view claim : {"sub", "scope", "patient", "client_id", "jti"}) {
    SCOPED_TRACE(claim);
    ExpectRefused(verifier, SignPayload(With(Payload(), claim, "42")), "malformed token");
    ExpectRefused(verifier, SignPayload(With(Payload(), claim, R"(["x"])")), "malformed token");
  }
}

TEST_F(TokenTest, PayloadMustBeAnObject) {
  const TokenVerifier verifier = MakeVerifier();
  for (std::string_view payload :
       {"[]", R"(["tenant","acme"])", R"("acme")", "123", "null", "true", "{", "",
        R"({"tenant":"acme"} x)", "{}{}", "{\"tenant\":\"acme\",}"}) {
    SCOPED_TRACE(payload);
    const std::string token = payload.empty()
                                  ? SignSegments(B64(ToJson(Header(*es_key_))), "", *es_key_)
                                  : SignRaw(ToJson(Header(*es_key_)), payload, *es_key_);
    ExpectRefused(verifier, token, "malformed token");
  }
  // Not UTF-8.
  ExpectRefused(verifier, SignPayload(With(Payload(), "sub", "\"\xff\xfe\"")), "malformed token");
  // Nesting far deeper than any claim needs.
  ExpectRefused(verifier,
                SignPayload(With(Payload(), "ctx", std::string(40, '[') + std::string(40, ']'))),
                "malformed token");
}

TEST_F(TokenTest, DuplicateMembersRefused) {
  const TokenVerifier verifier = MakeVerifier();
  // A second tenant after the first: RapidJSON alone would silently pick one of them.
  Members twice = Payload();
  twice.emplace_back("tenant", Quote("victim"));
  ExpectRefused(verifier, SignPayload(twice), "malformed token");
  // The same name spelled with an escape.
  Members escaped = Payload();
  escaped.emplace_back("\\u0074enant", Quote("victim"));
  ExpectRefused(verifier, SignPayload(escaped), "malformed token");
  // Two exp, two aud.
  Members exp_twice = Payload();
  exp_twice.emplace_back("exp", std::to_string(kNow + 999999));
  ExpectRefused(verifier, SignPayload(exp_twice), "malformed token");
  // Nested duplicates.
  ExpectRefused(verifier, SignPayload(With(Payload(), "ctx", R"({"a":1,"a":2})")),
                "malformed token");
  // In the header: "none" first, then a real one.
  Members header = {{"alg", Quote("none")}};
  for (const auto& m : Header(*es_key_)) header.push_back(m);
  ExpectRefused(verifier, Sign(header, Payload(), *es_key_), "malformed token");
  Members kid_twice = Header(*es_key_);
  kid_twice.emplace_back("kid", Quote(ed_key_->Public().KeyId()));
  ExpectRefused(verifier, Sign(kid_twice, Payload(), *es_key_), "malformed token");
}

// ----------------------------------------------------------------------------- encoding

TEST_F(TokenTest, SegmentCountMustBeThree) {
  const TokenVerifier verifier = MakeVerifier();
  const std::string token = SignPayload(Payload());
  const std::vector<std::string> parts = Split(token);
  ExpectRefused(verifier, "", "malformed token");
  ExpectRefused(verifier, ".", "malformed token");
  ExpectRefused(verifier, "..", "malformed token");
  ExpectRefused(verifier, "...", "malformed token");
  ExpectRefused(verifier, parts[0], "malformed token");
  ExpectRefused(verifier, parts[0] + "." + parts[1], "malformed token");
  ExpectRefused(verifier, token + ".", "malformed token");
  ExpectRefused(verifier, token + "." + parts[2], "malformed token");
  ExpectRefused(verifier, "." + token, "malformed token");
  ExpectRefused(verifier, parts[0] + ".." + parts[2], "malformed token");
}

TEST_F(TokenTest, StrictBase64Url) {
  const TokenVerifier verifier = MakeVerifier();
  const std::string token = SignPayload(Payload());
  for (size_t segment = 0; segment < 3; ++segment) {
    SCOPED_TRACE(segment);
    for (std::string_view suffix : {"=", "==", " ", "\n", "+", "/", "*", "\xc3\xa9"}) {
      std::vector<std::string> parts = Split(token);
      parts[segment] += suffix;
      ExpectRefused(verifier, Join(parts), "malformed token");
    }
    for (char bad : {'+', '/', '=', ' ', '\0', '%', '\x80'}) {
      std::vector<std::string> parts = Split(token);
      parts[segment][parts[segment].size() / 2] = bad;
      ExpectRefused(verifier, Join(parts), "malformed token");
    }
  }
  // Standard base64 with padding for the payload (length chosen so that padding is needed).
  Members payload;
  for (size_t n = 1; n <= 3; ++n) {
    payload = With(Payload(), "pad", Quote(std::string(n, 'x')));
    if (ToJson(payload).size() % 3 != 0) break;
  }
  const std::string padded = crypto::Base64Encode(AsBytes(ToJson(payload)));
  ASSERT_EQ(padded.back(), '=');
  ExpectRefused(verifier, SignSegments(B64(ToJson(Header(*es_key_))), padded, *es_key_),
                "malformed token");
}

TEST_F(TokenTest, NonCanonicalBase64Refused) {
  // The signature (64 bytes) encodes to 86 characters; the last one carries 2 unused bits.
  // Setting them gives other text for the same bytes under a lenient decoder.
  const TokenVerifier verifier = MakeVerifier();
  std::vector<std::string> parts = Split(SignPayload(Payload()));
  ASSERT_EQ(parts[2].size(), 86u);
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t index = kAlphabet.find(parts[2].back());
  ASSERT_NE(index, std::string_view::npos);
  ASSERT_EQ(index & 3u, 0u);
  parts[2].back() = kAlphabet[index | 1u];
  ExpectRefused(verifier, Join(parts), "malformed token");
}

TEST_F(TokenTest, OversizedTokenRefused) {
  const TokenVerifier verifier = MakeVerifier();  // 8192 bytes
  const std::string big = SignPayload(With(Payload(), "pad", Quote(std::string(9000, 'x'))));
  ASSERT_GT(big.size(), 8192u);
  ExpectRefused(verifier, big, "token too large");

  const std::string token = SignPayload(Payload());
  TokenVerifier::Options exact = DefaultOptions(16);
  exact.max_token_bytes = token.size();
  ExpectAccepted(MakeVerifier(exact), token);
  TokenVerifier::Options smaller = DefaultOptions(16);
  smaller.max_token_bytes = token.size() - 1;
  const TokenVerifier small = MakeVerifier(smaller);
  ExpectRefused(small, token, "token too large");
  ExpectRefused(small, token, "token too large");  // and not from a cache
}

// ----------------------------------------------------------------------------- cache

TEST_F(TokenTest, SecondVerifyHitsCache) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(16));
  const std::string token = SignPayload(Payload());
  Result<std::shared_ptr<const Claims>> first = verifier.Verify(token);
  Result<std::shared_ptr<const Claims>> second = verifier.Verify(token);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());  // the same cached object

  // Without a cache every verification builds new claims.
  const TokenVerifier uncached = MakeVerifier(DefaultOptions(0));
  Result<std::shared_ptr<const Claims>> a = uncached.Verify(token);
  Result<std::shared_ptr<const Claims>> b = uncached.Verify(token);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->get(), b->get());
}

TEST_F(TokenTest, CachedTokenRefusedOnceExpired) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(16));
  const std::string token = SignPayload(Payload());  // exp = kNow + 300, skew 60
  ExpectAccepted(verifier, token);
  clock_.Set((kNow + 359) * kMicros);
  ExpectAccepted(verifier, token);
  clock_.Set((kNow + 360) * kMicros);
  ExpectRefused(verifier, token, "token expired");
  ExpectRefused(verifier, token, "token expired");
}

TEST_F(TokenTest, CachedTokenRefusedIfClockGoesBackBeforeNbf) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(16));
  const std::string token = SignPayload(With(Payload(), "nbf", std::to_string(kNow)));
  ExpectAccepted(verifier, token);
  clock_.Set((kNow - 61) * kMicros);
  ExpectRefused(verifier, token, "token not yet valid");
}

TEST_F(TokenTest, FailuresAreNotCached) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(16));
  const std::string token = SignPayload(With(Payload(), "nbf", std::to_string(kNow + 100)));
  ExpectRefused(verifier, token, "token not yet valid");
  clock_.Set((kNow + 100) * kMicros);
  ExpectAccepted(verifier, token);
}

TEST_F(TokenTest, CacheDoesNotAcceptTamperedVariants) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(16));
  const std::string token = SignPayload(Payload());
  ExpectAccepted(verifier, token);
  std::vector<std::string> parts = Split(token);
  parts[1] = B64(ToJson(With(Payload(), "tenant", Quote("other"))));
  ExpectRefused(verifier, Join(parts), "token signature invalid");
  ExpectRefused(verifier, token + "A", "token signature invalid");  // 65 bytes
}

TEST_F(TokenTest, CacheEvictsLeastRecentlyUsed) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(2));
  const std::string t1 = SignPayload(With(Payload(), "jti", Quote("1")));
  const std::string t2 = SignPayload(With(Payload(), "jti", Quote("2")));
  const std::string t3 = SignPayload(With(Payload(), "jti", Quote("3")));
  const auto c1 = *verifier.Verify(t1);
  const auto c2 = *verifier.Verify(t2);
  EXPECT_EQ(verifier.Verify(t1)->get(), c1.get());  // t1 is now the most recent
  const auto c3 = *verifier.Verify(t3);             // evicts t2
  EXPECT_EQ(verifier.Verify(t1)->get(), c1.get());
  EXPECT_EQ(verifier.Verify(t3)->get(), c3.get());
  const auto c2_again = *verifier.Verify(t2);  // a miss: verified anew, evicts t1
  EXPECT_NE(c2_again.get(), c2.get());
  EXPECT_EQ(c2_again->jwt_id, "2");
  EXPECT_EQ(verifier.Verify(t3)->get(), c3.get());
  EXPECT_NE(verifier.Verify(t1)->get(), c1.get());
}

TEST_F(TokenTest, ConcurrentVerification) {
  const TokenVerifier verifier = MakeVerifier(DefaultOptions(3));
  std::vector<std::string> tokens;
  for (int i = 0; i < 6; ++i) {
    tokens.push_back(SignPayload(With(Payload(), "jti", Quote(std::to_string(i))),
                                 i % 2 == 0 ? *es_key_ : *ed_key_));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        const size_t n = static_cast<size_t>(i + t) % tokens.size();
        Result<std::shared_ptr<const Claims>> result = verifier.Verify(tokens[n]);
        if (!result.ok() || (*result)->jwt_id != std::to_string(n)) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace hygie::auth
