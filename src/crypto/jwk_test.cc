#include "crypto/jwk.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/jwk_test_keys.h"
#include "crypto/primitives.h"

namespace hygie::crypto {
namespace {

using testing::TestKey;

constexpr std::string_view kMessage = "eyJhbGciOiJ0ZXN0In0.eyJzdWIiOiJhbGljZSJ9";

const TestKey& RsaKey() {
  static const TestKey* key = new TestKey(TestKey::Rsa());
  return *key;
}
const TestKey& EcKey() {
  static const TestKey* key = new TestKey(TestKey::Ec());
  return *key;
}
const TestKey& EdKey() {
  static const TestKey* key = new TestKey(TestKey::Ed25519());
  return *key;
}

class JwkAlgTest : public ::testing::TestWithParam<int> {
 protected:
  const TestKey& Key() const {
    switch (GetParam()) {
      case 0:
        return RsaKey();
      case 1:
        return EcKey();
      default:
        return EdKey();
    }
  }
};

TEST_P(JwkAlgTest, VerifiesItsOwnSignature) {
  const TestKey& k = Key();
  Result<JwkKey> key = JwkKey::ParseText(k.Jwk("k1"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->kid(), "k1");
  EXPECT_EQ(key->NaturalAlg(), k.alg());
  EXPECT_TRUE(key->Allows(k.alg()));
  const Bytes sig = k.Sign(kMessage);
  EXPECT_TRUE(key->Verify(k.alg(), AsBytes(kMessage), sig).ok());
}

TEST_P(JwkAlgTest, RefusesEveryBitFlip) {
  const TestKey& k = Key();
  Result<JwkKey> key = JwkKey::ParseText(k.Jwk("k1"));
  ASSERT_TRUE(key.ok());
  const Bytes sig = k.Sign(kMessage);
  // Flip one bit in each byte of the signature (a sample of positions for RSA's 256 bytes).
  const size_t step = sig.size() > 64 ? 7 : 1;
  for (size_t i = 0; i < sig.size(); i += step) {
    Bytes bad = sig;
    bad[i] ^= static_cast<uint8_t>(1u << (i % 8));
    const Status s = key->Verify(k.alg(), AsBytes(kMessage), bad);
    EXPECT_EQ(s.code(), Code::kUnauthenticated) << "byte " << i;
  }
  std::string message(kMessage);
  for (size_t i = 0; i < message.size(); ++i) {
    std::string bad = message;
    bad[i] ^= 0x01;
    EXPECT_FALSE(key->Verify(k.alg(), AsBytes(bad), sig).ok()) << "message byte " << i;
  }
  // Truncated, extended and empty signatures.
  Bytes shorter(sig.begin(), sig.end() - 1);
  Bytes longer = sig;
  longer.push_back(0);
  EXPECT_FALSE(key->Verify(k.alg(), AsBytes(kMessage), shorter).ok());
  EXPECT_FALSE(key->Verify(k.alg(), AsBytes(kMessage), longer).ok());
  EXPECT_FALSE(key->Verify(k.alg(), AsBytes(kMessage), Bytes{}).ok());
}

TEST_P(JwkAlgTest, RefusesOtherAlgorithms) {
  const TestKey& k = Key();
  Result<JwkKey> key = JwkKey::ParseText(k.Jwk("k1"));
  ASSERT_TRUE(key.ok());
  const Bytes sig = k.Sign(kMessage);
  for (const char* alg : {"RS256", "ES256", "EdDSA", "none", "HS256", "PS256", "RS384", "ES384"}) {
    if (alg == k.alg()) continue;
    EXPECT_FALSE(key->Allows(alg)) << alg;
    EXPECT_EQ(key->Verify(alg, AsBytes(kMessage), sig).code(), Code::kInvalidArgument) << alg;
  }
}

TEST_P(JwkAlgTest, HonoursUseAndAlgMembers) {
  const TestKey& k = Key();
  EXPECT_TRUE(JwkKey::ParseText(k.Jwk("k", "\"use\":\"sig\"")).ok());
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"use\":\"enc\"")).ok());
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"use\":1")).ok());
  Result<JwkKey> named = JwkKey::ParseText(k.Jwk("k", "\"alg\":\"" + k.alg() + "\""));
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->alg(), k.alg());
  EXPECT_TRUE(named->Allows(k.alg()));
  // An alg that does not fit the key type is refused.
  const std::string other = k.alg() == "ES256" ? "RS256" : "ES256";
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"alg\":\"" + other + "\"")).ok());
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"alg\":\"none\"")).ok());
  EXPECT_TRUE(JwkKey::ParseText(k.Jwk("k", "\"key_ops\":[\"verify\"]")).ok());
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"key_ops\":[\"encrypt\"]")).ok());
  // Private material and duplicate members are refused.
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"d\":\"AAAA\"")).ok());
  EXPECT_FALSE(JwkKey::ParseText(k.Jwk("k", "\"kid\":\"again\"")).ok());
}

INSTANTIATE_TEST_SUITE_P(Algs, JwkAlgTest, ::testing::Values(0, 1, 2), [](const auto& info) {
  return std::string(info.param == 0 ? "RS256" : info.param == 1 ? "ES256" : "EdDSA");
});

TEST(JwkTest, RefusesSmallRsaKeys) {
  const TestKey small = TestKey::Rsa(1024);
  Result<JwkKey> key = JwkKey::ParseText(small.Jwk("small"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  EXPECT_NE(key.status().message().find("2048"), std::string::npos);
  Result<JwkKey> big = JwkKey::ParseText(RsaKey().Jwk("big"));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->rsa_bits(), 2048);
}

TEST(JwkTest, RefusesBadRsaExponents) {
  // Replace e with even, 1 and huge values.
  const std::string jwk = RsaKey().Jwk("k");
  const size_t at = jwk.find("\"e\":\"");
  ASSERT_NE(at, std::string::npos);
  const size_t end = jwk.find('"', at + 5);
  for (const Bytes& e : {Bytes{0x01, 0x00, 0x00}, Bytes{0x01}, Bytes(9, 0x01)}) {
    std::string bad = jwk;
    bad.replace(at + 5, end - at - 5, Base64UrlEncode(e));
    EXPECT_FALSE(JwkKey::ParseText(bad).ok()) << bad.substr(at, 20);
  }
}

TEST(JwkTest, RefusesOtherCurves) {
  const TestKey p384 = TestKey::Ec("P-384");
  // The P-384 coordinates do not fit P-256, and P-384 is not accepted by name.
  EXPECT_FALSE(JwkKey::ParseText(p384.Jwk("k")).ok());
  std::string renamed = EcKey().Jwk("k");
  renamed.replace(renamed.find("P-256"), 5, "P-384");
  EXPECT_FALSE(JwkKey::ParseText(renamed).ok());
  std::string ed448 = EdKey().Jwk("k");
  ed448.replace(ed448.find("Ed25519"), 7, "Ed448");
  EXPECT_FALSE(JwkKey::ParseText(ed448).ok());
  std::string x25519 = EdKey().Jwk("k");
  x25519.replace(x25519.find("Ed25519"), 7, "X25519");
  EXPECT_FALSE(JwkKey::ParseText(x25519).ok());
}

TEST(JwkTest, RefusesPointsOffTheCurve) {
  const Bytes x(32, 0x01), y(32, 0x02);
  const std::string jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + Base64UrlEncode(x) +
                          "\",\"y\":\"" + Base64UrlEncode(y) + "\"}";
  EXPECT_EQ(JwkKey::ParseText(jwk).status().code(), Code::kInvalidArgument);
}

TEST(JwkTest, RefusesMalformedMembers) {
  const std::string ec = EcKey().JwkMembers();
  const std::vector<std::string> bad = {
      "[]",
      "\"text\"",
      "{}",
      "{\"kty\":\"oct\",\"k\":\"AAAA\"}",
      "{\"kty\":7}",
      "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",                      // no n
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\"}",     // no y
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",  // too short
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + Base64UrlEncode(Bytes(32, 1)) + "=\"}",
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + Base64UrlEncode(Bytes(32, 1)) +
          "\",\"y\":\"AA\"}",
      "{" + ec + ",\"kid\":5}",
      "{" + ec + ",\"alg\":\"\"}",
      "{" + ec + ",\"key_ops\":\"verify\"}",
      "{" + ec,  // not JSON
  };
  for (const std::string& text : bad) {
    EXPECT_FALSE(JwkKey::ParseText(text).ok()) << text;
  }
  // A non-canonical base64url x (stray low bits in the last character).
  const Bytes x(32, 0x01);
  std::string x_text = Base64UrlEncode(x);
  x_text.back() = static_cast<char>(x_text.back() + 1);
  EXPECT_FALSE(
      JwkKey::ParseText("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + x_text + "\"}").ok());
}

TEST(JwksTest, SkipsUnusableKeysAndKeepsTheRest) {
  const std::string jwks = "{\"keys\":[" + RsaKey().Jwk("rsa", "\"use\":\"sig\"") + "," +
                           RsaKey().Jwk("enc", "\"use\":\"enc\"") + "," +
                           "{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"c2VjcmV0\"}," +
                           EcKey().Jwk("ec") + "," + TestKey::Rsa(1024).Jwk("small") + "," +
                           "{\"kty\":\"RSA\",\"kid\":\"oaep\",\"alg\":\"RSA-OAEP\"," +
                           RsaKey().JwkMembers().substr(12) + "}," + EdKey().Jwk("ed") + "]}";
  Result<JwkSet> set = ParseJwks(jwks);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 3u);
  EXPECT_EQ(set->keys[0].kid(), "rsa");
  EXPECT_EQ(set->keys[1].kid(), "ec");
  EXPECT_EQ(set->keys[2].kid(), "ed");
  EXPECT_EQ(set->skipped, 4u);
}

TEST(JwksTest, RefusesMalformedSets) {
  EXPECT_FALSE(ParseJwks("").ok());
  EXPECT_FALSE(ParseJwks("[]").ok());
  EXPECT_FALSE(ParseJwks("{}").ok());
  EXPECT_FALSE(ParseJwks("{\"keys\":{}}").ok());
  EXPECT_FALSE(ParseJwks("{\"keys\":[],\"keys\":[]}").ok());
  std::string many = "{\"keys\":[";
  for (size_t i = 0; i <= kMaxJwksKeys; ++i) many += (i ? "," : "") + std::string("{}");
  EXPECT_FALSE(ParseJwks(many + "]}").ok());
  Result<JwkSet> empty = ParseJwks("{\"keys\":[]}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->keys.empty());
}

}  // namespace
}  // namespace hygie::crypto
