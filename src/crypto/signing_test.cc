#include "crypto/signing.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/temp_dir.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/primitives.h"

namespace hygie::crypto {
namespace {

using ::testing::HasSubstr;

using test_support::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// PKCS#8 PEM of an OpenSSL key, built here with OpenSSL directly (test fixture input).
std::string Pkcs8Pem(EVP_PKEY* pkey, const EVP_CIPHER* cipher = nullptr,
                     const char* password = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, pkey, cipher, nullptr, 0, nullptr,
                                          const_cast<char*>(password)),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

// The P-256 group order n.
const char kP256Order[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

// n - s, for a 32-byte big-endian s.
Bytes NegateModOrder(ByteView s) {
  BIGNUM* n = nullptr;
  BN_hex2bn(&n, kP256Order);
  BIGNUM* v = BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr);
  BN_sub(v, n, v);
  Bytes out(32);
  BN_bn2binpad(v, out.data(), 32);
  BN_free(v);
  BN_free(n);
  return out;
}

bool IsLowS(ByteView s) {
  BIGNUM* n = nullptr;
  BN_hex2bn(&n, kP256Order);
  BN_rshift1(n, n);
  BIGNUM* v = BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr);
  bool low = BN_cmp(v, n) <= 0;
  BN_free(v);
  BN_free(n);
  return low;
}

TEST(SigningTest, AlgNames) {
  EXPECT_EQ(AlgName(SignatureAlg::kEs256), "ES256");
  EXPECT_EQ(AlgName(SignatureAlg::kEdDsa), "EdDSA");
}

class SignVerifyTest : public ::testing::TestWithParam<SignatureAlg> {};

INSTANTIATE_TEST_SUITE_P(Algs, SignVerifyTest,
                         ::testing::Values(SignatureAlg::kEs256, SignatureAlg::kEdDsa),
                         [](const auto& info) { return std::string(AlgName(info.param)); });

TEST_P(SignVerifyTest, SignsAndVerifies) {
  auto key = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->alg(), GetParam());
  PublicKey pub = key->Public();
  EXPECT_EQ(pub.alg(), GetParam());
  auto sig = key->Sign(AsBytes("checkpoint 42"));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(pub.Verify(AsBytes("checkpoint 42"), *sig));
  auto empty_sig = key->Sign({});
  ASSERT_TRUE(empty_sig.ok());
  EXPECT_TRUE(pub.Verify({}, *empty_sig));
}

TEST_P(SignVerifyTest, RefusesWrongMessageKeyAndLength) {
  auto key = SigningKey::Generate(GetParam());
  auto other = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok() && other.ok());
  const Bytes msg = ToBytes("header.payload");
  auto sig = key->Sign(msg);
  ASSERT_TRUE(sig.ok());
  PublicKey pub = key->Public();

  EXPECT_FALSE(pub.Verify(AsBytes("header.payloaD"), *sig));
  EXPECT_FALSE(pub.Verify({}, *sig));
  EXPECT_FALSE(other->Public().Verify(msg, *sig));

  for (size_t n = 0; n <= 140; ++n) {
    if (n == 64) continue;
    Bytes resized = *sig;
    resized.resize(n, 0);
    EXPECT_FALSE(pub.Verify(msg, resized)) << n;
  }
  EXPECT_FALSE(pub.Verify(msg, Bytes(64, 0)));
  EXPECT_FALSE(pub.Verify(msg, Bytes(64, 0xff)));
  for (int i = 0; i < 200; ++i) {
    auto garbage = RandomBytes(64);
    ASSERT_TRUE(garbage.ok());
    EXPECT_FALSE(pub.Verify(msg, *garbage));
  }
}

TEST_P(SignVerifyTest, EveryBitFlipOfTheSignatureIsRefused) {
  auto key = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  const Bytes msg = ToBytes("root hash and tree size");
  auto sig = key->Sign(msg);
  ASSERT_TRUE(sig.ok());
  PublicKey pub = key->Public();
  for (size_t i = 0; i < sig->size() * 8; ++i) {
    Bytes bad = *sig;
    bad[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_FALSE(pub.Verify(msg, bad)) << "bit " << i;
  }
}

TEST_P(SignVerifyTest, PemRoundTripKeepsTheKey) {
  auto key = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  auto pem = key->PrivatePem();
  ASSERT_TRUE(pem.ok());
  EXPECT_THAT(*pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));  // PKCS#8
  auto loaded = SigningKey::FromPrivatePem(*pem);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->alg(), GetParam());
  EXPECT_EQ(loaded->Public().KeyId(), key->Public().KeyId());
  auto sig = loaded->Sign(AsBytes("m"));
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(key->Public().Verify(AsBytes("m"), *sig));

  auto pub_pem = key->Public().Pem();
  ASSERT_TRUE(pub_pem.ok());
  EXPECT_THAT(*pub_pem, HasSubstr("-----BEGIN PUBLIC KEY-----"));  // SubjectPublicKeyInfo
  EXPECT_THAT(*pub_pem, ::testing::Not(HasSubstr("PRIVATE")));
  auto pub = PublicKey::FromPem(*pub_pem);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->KeyId(), key->Public().KeyId());
  EXPECT_EQ(pub->JwkJson(), key->Public().JwkJson());
  EXPECT_TRUE(pub->Verify(AsBytes("m"), *sig));
  // A public key PEM is not a private key.
  EXPECT_FALSE(SigningKey::FromPrivatePem(*pub_pem).ok());
}

TEST_P(SignVerifyTest, JwkRoundTripThroughFromJwkFields) {
  auto key = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  PublicKey pub = key->Public();
  const std::string json = pub.JwkJson();
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(json.find(' '), std::string::npos);  // compact
  std::vector<std::string> names;
  for (const auto& m : doc.GetObject()) names.emplace_back(m.name.GetString());
  const bool ec = GetParam() == SignatureAlg::kEs256;
  const std::vector<std::string> ec_names = {"kty", "crv", "x", "y", "kid", "alg", "use"};
  const std::vector<std::string> okp_names = {"kty", "crv", "x", "kid", "alg", "use"};
  EXPECT_EQ(names, ec ? ec_names : okp_names);
  EXPECT_STREQ(doc["kty"].GetString(), ec ? "EC" : "OKP");
  EXPECT_STREQ(doc["crv"].GetString(), ec ? "P-256" : "Ed25519");
  EXPECT_EQ(doc["alg"].GetString(), AlgName(GetParam()));
  EXPECT_STREQ(doc["use"].GetString(), "sig");
  EXPECT_EQ(doc["kid"].GetString(), pub.KeyId());
  EXPECT_FALSE(doc.HasMember("d"));

  auto rebuilt = PublicKey::FromJwkFields(doc["kty"].GetString(), doc["crv"].GetString(),
                                          doc["x"].GetString(), ec ? doc["y"].GetString() : "");
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ(rebuilt->KeyId(), pub.KeyId());
  EXPECT_EQ(rebuilt->JwkJson(), json);
  auto sig = key->Sign(AsBytes("token"));
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(rebuilt->Verify(AsBytes("token"), *sig));
}

TEST_P(SignVerifyTest, KeyIdIsStableAndDiffersBetweenKeys) {
  auto a = SigningKey::Generate(GetParam());
  auto b = SigningKey::Generate(GetParam());
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string kid = a->Public().KeyId();
  EXPECT_EQ(kid.size(), 43u);  // base64url of 32 bytes
  EXPECT_TRUE(Base64UrlDecode(kid).ok());
  EXPECT_EQ(a->Public().KeyId(), kid);
  EXPECT_NE(b->Public().KeyId(), kid);
  auto pem = a->PrivatePem();
  ASSERT_TRUE(pem.ok());
  auto reloaded = SigningKey::FromPrivatePem(*pem);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->Public().KeyId(), kid);
}

TEST_P(SignVerifyTest, ConcurrentVerifyOnASharedKey) {
  auto key = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  const PublicKey pub = key->Public();
  auto sig = key->Sign(AsBytes("shared"));
  ASSERT_TRUE(sig.ok());
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        good[t] += pub.Verify(AsBytes("shared"), *sig) && !pub.Verify(AsBytes("other"), *sig);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int g : good) EXPECT_EQ(g, 200);
}

// ----- ES256 specifics ----------------------------------------------------------------------

// RFC 7515 appendix A.3: an ES256 JWS made by another implementation.
constexpr char kRfc7515X[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr char kRfc7515Y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr char kRfc7515Input[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
    "bS9pc19yb290Ijp0cnVlfQ";
constexpr char kRfc7515Sig[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

TEST(Es256Test, VerifiesTheRfc7515Example) {
  auto pub = PublicKey::FromJwkFields("EC", "P-256", kRfc7515X, kRfc7515Y);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  auto sig = Base64UrlDecode(kRfc7515Sig);
  ASSERT_TRUE(sig.ok());
  // The RFC's signature has s > n/2 (high-S). It is a valid ECDSA signature and JOSE issuers
  // (OpenID providers) produce such signatures half of the time, so it must verify.
  EXPECT_FALSE(IsLowS(ByteView(*sig).subspan(32)));
  EXPECT_TRUE(pub->Verify(AsBytes(kRfc7515Input), *sig));
  std::string altered = kRfc7515Input;
  altered[5] ^= 1;
  EXPECT_FALSE(pub->Verify(AsBytes(altered), *sig));
  // Its DER form is not accepted where JOSE r||s is expected.
  EXPECT_FALSE(pub->Verify(AsBytes(kRfc7515Input), ByteView(*sig).first(63)));
}

TEST(Es256Test, Rfc7638ThumbprintOfTheRfc7515Key) {
  // Computed independently: SHA-256 of {"crv":"P-256","kty":"EC","x":"...","y":"..."}.
  auto pub = PublicKey::FromJwkFields("EC", "P-256", kRfc7515X, kRfc7515Y);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->KeyId(), "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
  const std::string canonical = std::string("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"") +
                                kRfc7515X + "\",\"y\":\"" + kRfc7515Y + "\"}";
  EXPECT_EQ(pub->KeyId(), Base64UrlEncode(Sha256(AsBytes(canonical))));
}

TEST(Es256Test, SignaturesAreLowSAndOutOfRangeValuesAreRefused) {
  auto key = SigningKey::Generate(SignatureAlg::kEs256);
  ASSERT_TRUE(key.ok());
  PublicKey pub = key->Public();
  for (int i = 0; i < 50; ++i) {
    auto sig = key->Sign(AsBytes("m"));
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(IsLowS(ByteView(*sig).subspan(32)));
    // (r, n - s) is the other valid form of the same signature (see VerifiesTheRfc7515Example).
    Bytes high = *sig;
    Bytes neg = NegateModOrder(ByteView(*sig).subspan(32));
    std::copy(neg.begin(), neg.end(), high.begin() + 32);
    EXPECT_TRUE(pub.Verify(AsBytes("m"), high));
    EXPECT_FALSE(pub.Verify(AsBytes("n"), high));
  }
  auto sig = key->Sign(AsBytes("m"));
  ASSERT_TRUE(sig.ok());
  Bytes order = *HexDecode(kP256Order);
  Bytes r_is_n = *sig;
  std::copy(order.begin(), order.end(), r_is_n.begin());
  EXPECT_FALSE(pub.Verify(AsBytes("m"), r_is_n));
  Bytes s_is_n = *sig;
  std::copy(order.begin(), order.end(), s_is_n.begin() + 32);
  EXPECT_FALSE(pub.Verify(AsBytes("m"), s_is_n));
  Bytes s_zero = *sig;
  std::fill(s_zero.begin() + 32, s_zero.end(), 0);
  EXPECT_FALSE(pub.Verify(AsBytes("m"), s_zero));
  // An Ed25519 key never accepts an ES256 signature, and the reverse.
  auto ed = SigningKey::Generate(SignatureAlg::kEdDsa);
  ASSERT_TRUE(ed.ok());
  EXPECT_FALSE(ed->Public().Verify(AsBytes("m"), *sig));
}

TEST(Es256Test, FromJwkFieldsRejectsBadPoints) {
  // Flipping one bit of y moves the point off the curve.
  Bytes y = *Base64UrlDecode(kRfc7515Y);
  y[31] ^= 1;
  auto off = PublicKey::FromJwkFields("EC", "P-256", kRfc7515X, Base64UrlEncode(y));
  EXPECT_EQ(off.status().code(), Code::kInvalidArgument);
  const std::string zero = Base64UrlEncode(Bytes(32, 0));
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "P-256", zero, zero).ok());
  // Coordinates >= p.
  const std::string ff = Base64UrlEncode(Bytes(32, 0xff));
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "P-256", ff, kRfc7515Y).ok());
  // Wrong lengths: 31 and 33 bytes, and a missing y.
  Bytes x = *Base64UrlDecode(kRfc7515X);
  EXPECT_FALSE(
      PublicKey::FromJwkFields("EC", "P-256", Base64UrlEncode(ByteView(x).first(31)), kRfc7515Y)
          .ok());
  Bytes x33 = x;
  x33.insert(x33.begin(), 0);
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "P-256", Base64UrlEncode(x33), kRfc7515Y).ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "P-256", kRfc7515X, "").ok());
  // Padding, standard alphabet, unknown kty or curve.
  EXPECT_FALSE(
      PublicKey::FromJwkFields("EC", "P-256", std::string(kRfc7515X) + "=", kRfc7515Y).ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "P-256", Base64Encode(x), kRfc7515Y).ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "P-384", kRfc7515X, kRfc7515Y).ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("RSA", "P-256", kRfc7515X, kRfc7515Y).ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("ec", "P-256", kRfc7515X, kRfc7515Y).ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "P-256", kRfc7515X, "").ok());
}

// ----- EdDSA specifics ----------------------------------------------------------------------

// RFC 8037 appendix A: Ed25519 key, JWS signing input and signature, thumbprint.
constexpr char kRfc8037D[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr char kRfc8037X[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr char kRfc8037Input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kRfc8037Sig[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

TEST(EdDsaTest, Rfc8037KnownAnswers) {
  Bytes d = *Base64UrlDecode(kRfc8037D);
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, d.data(), d.size());
  ASSERT_NE(raw, nullptr);
  const std::string pem = Pkcs8Pem(raw);
  EVP_PKEY_free(raw);

  auto key = SigningKey::FromPrivatePem(pem);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->alg(), SignatureAlg::kEdDsa);
  auto sig = key->Sign(AsBytes(kRfc8037Input));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(Base64UrlEncode(*sig), kRfc8037Sig);  // Ed25519 is deterministic
  EXPECT_EQ(key->Public().KeyId(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  EXPECT_THAT(key->Public().JwkJson(), HasSubstr(std::string("\"x\":\"") + kRfc8037X + "\""));

  auto pub = PublicKey::FromJwkFields("OKP", "Ed25519", kRfc8037X, "");
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->Verify(AsBytes(kRfc8037Input), *Base64UrlDecode(kRfc8037Sig)));
  EXPECT_EQ(pub->KeyId(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST(EdDsaTest, FromJwkFieldsRejectsBadFields) {
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "Ed25519", kRfc8037X, kRfc8037X).ok());  // y
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "Ed448", kRfc8037X, "").ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "X25519", kRfc8037X, "").ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("EC", "Ed25519", kRfc8037X, "").ok());
  Bytes x = *Base64UrlDecode(kRfc8037X);
  EXPECT_FALSE(
      PublicKey::FromJwkFields("OKP", "Ed25519", Base64UrlEncode(ByteView(x).first(31)), "").ok());
  x.push_back(0);
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "Ed25519", Base64UrlEncode(x), "").ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "Ed25519", "", "").ok());
  EXPECT_FALSE(PublicKey::FromJwkFields("OKP", "Ed25519", "not base64!", "").ok());
}

// RFC 8032 section 7.1, TEST 1: private key (seed), public key, and the signature of the empty
// message.
constexpr char kRfc8032Seed[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kRfc8032Pub[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr char kRfc8032Sig[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b";

TEST(EdDsaTest, FromEd25519SeedMatchesRfc8032) {
  auto key = SigningKey::FromEd25519Seed(*HexDecode(kRfc8032Seed));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->alg(), SignatureAlg::kEdDsa);
  auto raw = key->Public().RawBytes();
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(HexEncode(*raw), kRfc8032Pub);
  auto sig = key->Sign({});
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig), kRfc8032Sig);

  // The same key through PKCS#8 gives the same public key.
  auto pem = key->PrivatePem();
  ASSERT_TRUE(pem.ok());
  auto again = SigningKey::FromPrivatePem(*pem);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(HexEncode(*again->Public().RawBytes()), kRfc8032Pub);
}

TEST(EdDsaTest, FromEd25519RawVerifiesAndRoundTrips) {
  const Bytes pub_bytes = *HexDecode(kRfc8032Pub);
  auto pub = PublicKey::FromEd25519Raw(pub_bytes);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->alg(), SignatureAlg::kEdDsa);
  EXPECT_TRUE(pub->Verify({}, *HexDecode(kRfc8032Sig)));
  EXPECT_FALSE(pub->Verify(AsBytes("x"), *HexDecode(kRfc8032Sig)));
  EXPECT_EQ(*pub->RawBytes(), pub_bytes);
  // Same key as the JWK form of the same bytes.
  auto jwk = PublicKey::FromJwkFields("OKP", "Ed25519", Base64UrlEncode(pub_bytes), "");
  ASSERT_TRUE(jwk.ok());
  EXPECT_EQ(pub->KeyId(), jwk->KeyId());

  // A generated key survives RawBytes -> FromEd25519Raw.
  auto gen = SigningKey::Generate(SignatureAlg::kEdDsa);
  ASSERT_TRUE(gen.ok());
  auto gen_raw = gen->Public().RawBytes();
  ASSERT_TRUE(gen_raw.ok());
  auto gen_pub = PublicKey::FromEd25519Raw(*gen_raw);
  ASSERT_TRUE(gen_pub.ok());
  auto msg_sig = gen->Sign(AsBytes("checkpoint"));
  ASSERT_TRUE(msg_sig.ok());
  EXPECT_TRUE(gen_pub->Verify(AsBytes("checkpoint"), *msg_sig));
}

TEST(EdDsaTest, RawFormsRejectBadLengthsAndEcKeys) {
  const Bytes seed = *HexDecode(kRfc8032Seed);
  EXPECT_EQ(SigningKey::FromEd25519Seed(ByteView(seed).first(31)).status().code(),
            Code::kInvalidArgument);
  Bytes longer = seed;
  longer.push_back(0);
  EXPECT_EQ(SigningKey::FromEd25519Seed(longer).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromEd25519Seed({}).status().code(), Code::kInvalidArgument);

  const Bytes pub = *HexDecode(kRfc8032Pub);
  EXPECT_EQ(PublicKey::FromEd25519Raw(ByteView(pub).first(31)).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(PublicKey::FromEd25519Raw({}).status().code(), Code::kInvalidArgument);

  auto ec = SigningKey::Generate(SignatureAlg::kEs256);
  ASSERT_TRUE(ec.ok());
  EXPECT_EQ(ec->Public().RawBytes().status().code(), Code::kInvalidArgument);
}

// ----- PEM input validation -----------------------------------------------------------------

TEST(PemTest, RefusesGarbageUnsupportedAndEncryptedKeys) {
  EXPECT_EQ(SigningKey::FromPrivatePem("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromPrivatePem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
                                       "KEY-----\n")
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(PublicKey::FromPem("garbage").status().code(), Code::kInvalidArgument);

  // P-384 and X25519 keys are valid keys of the wrong kind.
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(p384, nullptr);
  EXPECT_EQ(SigningKey::FromPrivatePem(Pkcs8Pem(p384)).status().code(), Code::kInvalidArgument);
  EVP_PKEY* x25519 = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  ASSERT_NE(x25519, nullptr);
  EXPECT_EQ(SigningKey::FromPrivatePem(Pkcs8Pem(x25519)).status().code(), Code::kInvalidArgument);

  // An encrypted PKCS#8 key is refused without prompting for a password.
  EVP_PKEY* p256 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(p256, nullptr);
  const std::string encrypted = Pkcs8Pem(p256, EVP_aes_256_cbc(), "pw");
  EXPECT_THAT(encrypted, HasSubstr("ENCRYPTED PRIVATE KEY"));
  EXPECT_EQ(SigningKey::FromPrivatePem(encrypted).status().code(), Code::kInvalidArgument);
  // The same key unencrypted (and in PKCS#8) loads.
  EXPECT_TRUE(SigningKey::FromPrivatePem(Pkcs8Pem(p256)).ok());

  // A public PEM of an unsupported curve.
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, p384), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  EXPECT_EQ(PublicKey::FromPem(std::string(data, static_cast<size_t>(len))).status().code(),
            Code::kInvalidArgument);
  BIO_free(bio);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(x25519);
  EVP_PKEY_free(p256);
}

// ----- Self-signed certificate --------------------------------------------------------------

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

std::set<std::string> SubjectAltNames(X509* cert) {
  std::set<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      out.insert("DNS:" +
                 std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                             ASN1_STRING_length(n->d.dNSName)));
    } else if (n->type == GEN_IPADD) {
      const int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {0};
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), text,
                sizeof(text));
      out.insert(std::string("IP:") + text);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::unique_ptr<X509, X509Free> LoadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  EXPECT_NE(f, nullptr);
  if (f == nullptr) return nullptr;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return std::unique_ptr<X509, X509Free>(cert);
}

TEST(CertificateTest, SelfSignedCertificateHasTheExpectedShape) {
  TempDir dir;
  const std::string cert_path = dir.Path("server.crt");
  const std::string key_path = dir.Path("server.key");
  ASSERT_TRUE(WriteSelfSignedCertificate(cert_path, key_path, "hygie.example.org").ok());
  EXPECT_EQ(ModeOf(key_path), 0600u);
  EXPECT_EQ(ModeOf(cert_path), 0644u);

  auto cert = LoadCert(cert_path);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_get_version(cert.get()), 2);  // v3
  EXPECT_EQ(
      SubjectAltNames(cert.get()),
      (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:hygie.example.org"}));
  EXPECT_EQ(X509_check_host(cert.get(), "hygie.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "evil.example.org", 0, 0, nullptr), 1);

  // Subject CN, self-issued, ECDSA P-256 with SHA-256, and the signature is valid.
  char cn[128] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "hygie.example.org");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  EVP_PKEY* cert_key = X509_get0_pubkey(cert.get());
  ASSERT_NE(cert_key, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(cert_key, "EC"));
  EXPECT_EQ(EVP_PKEY_get_bits(cert_key), 256);
  EXPECT_EQ(X509_verify(cert.get(), cert_key), 1);

  // Extensions: not a CA, digitalSignature, serverAuth.
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_TRUE(X509_get_extension_flags(cert.get()) & EXFLAG_KUSAGE);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));

  // 825 days of validity, starting about now.
  int days = 0;
  int secs = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())),
      1);
  EXPECT_EQ(days, 825);
  EXPECT_EQ(secs, 0);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert.get())), 0);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
  BIGNUM* serial_bn = ASN1_INTEGER_to_BN(serial, nullptr);
  EXPECT_FALSE(BN_is_negative(serial_bn));
  EXPECT_GE(BN_num_bits(serial_bn), 120);
  BN_free(serial_bn);

  // The key file is PKCS#8 and matches the certificate.
  const std::string key_pem = ReadFile(key_path);
  EXPECT_THAT(key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  auto signing = SigningKey::FromPrivatePem(key_pem);
  ASSERT_TRUE(signing.ok());
  FILE* kf = std::fopen(key_path.c_str(), "r");
  ASSERT_NE(kf, nullptr);
  EVP_PKEY* pkey = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
  std::fclose(kf);
  ASSERT_NE(pkey, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), pkey), 1);
  EVP_PKEY_free(pkey);
}

TEST(CertificateTest, LocalhostAndIpCommonNames) {
  TempDir dir;
  ASSERT_TRUE(WriteSelfSignedCertificate(dir.Path("a.crt"), dir.Path("a.key"), "localhost").ok());
  auto a = LoadCert(dir.Path("a.crt"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(SubjectAltNames(a.get()),
            (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"}));

  ASSERT_TRUE(WriteSelfSignedCertificate(dir.Path("b.crt"), dir.Path("b.key"), "10.1.2.3").ok());
  auto b = LoadCert(dir.Path("b.crt"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(X509_check_ip_asc(b.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(SubjectAltNames(b.get()).count("DNS:10.1.2.3"), 0u);
}

TEST(CertificateTest, RefusesNamesThatCouldInjectExtensions) {
  TempDir dir;
  for (std::string_view bad : {"", "a,IP:1.2.3.4", "host name", "x\ny", "a:b", "caf\xc3\xa9",
                               "*.example.org", "critical,DNS:evil"}) {
    EXPECT_EQ(WriteSelfSignedCertificate(dir.Path("c.crt"), dir.Path("c.key"), bad).code(),
              Code::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(
      WriteSelfSignedCertificate(dir.Path("c.crt"), dir.Path("c.key"), std::string(65, 'a')).code(),
      Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.Path("c.key")));
}

TEST(CertificateTest, OverwritesAWideKeyFileWithMode0600AndRefusesSymlinks) {
  TempDir dir;
  const std::string key_path = dir.Path("server.key");
  { std::ofstream(key_path) << "old"; }
  ASSERT_EQ(::chmod(key_path.c_str(), 0644), 0);
  ASSERT_TRUE(WriteSelfSignedCertificate(dir.Path("server.crt"), key_path, "localhost").ok());
  EXPECT_EQ(ModeOf(key_path), 0600u);
  EXPECT_THAT(ReadFile(key_path), HasSubstr("BEGIN PRIVATE KEY"));

  // A symlink planted at the key path is not followed.
  const std::string target = dir.Path("elsewhere");
  const std::string link = dir.Path("link.key");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(WriteSelfSignedCertificate(dir.Path("s.crt"), link, "localhost").ok());
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace hygie::crypto
