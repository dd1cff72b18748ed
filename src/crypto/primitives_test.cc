#include "crypto/primitives.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/bytes.h"
#include "crypto/secret.h"

namespace hygie::crypto {
namespace {

using ::testing::HasSubstr;

Bytes Hex(std::string_view hex) {
  auto b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

SecretKey KeyFromHex(std::string_view hex) {
  Bytes b = Hex(hex);
  SecretKey k = SecretKey::FromBytes(b);
  Wipe(b);
  return k;
}

// ----- SecretKey ----------------------------------------------------------------------------

TEST(SecretKeyTest, GenerateGivesDistinctKeysOfTheAskedSize) {
  auto a = SecretKey::Generate();
  auto b = SecretKey::Generate(64);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(b->size(), 64u);
  EXPECT_FALSE(ConstantTimeEquals(a->bytes(), ByteView(b->bytes()).first(32)));
  EXPECT_FALSE(SecretKey::Generate(0).ok());
}

TEST(SecretKeyTest, MoveLeavesTheSourceEmpty) {
  SecretKey a = SecretKey::FromBytes(ToBytes("0123456789abcdef0123456789abcdef"));
  SecretKey b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(AsChars(b.bytes()), "0123456789abcdef0123456789abcdef");

  SecretKey c = SecretKey::FromBytes(ToBytes("other"));
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(AsChars(c.bytes()), "0123456789abcdef0123456789abcdef");
}

TEST(SecretKeyTest, WipeZeroesTheBuffer) {
  Bytes buf = ToBytes("secret material");
  Wipe(buf);
  EXPECT_EQ(buf, Bytes(15, 0));
  Wipe(std::span<uint8_t>());  // empty span is fine
}

// ----- Random -------------------------------------------------------------------------------

TEST(RandomTest, RandomBytesHasTheSizeAndVaries) {
  auto a = RandomBytes(32);
  auto b = RandomBytes(32);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  auto empty = RandomBytes(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(RandomTest, RandomIdIs26LowercaseBase32Characters) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = RandomId();
    ASSERT_EQ(id.size(), 26u);
    for (char c : id) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << id;
    }
    // 128 bits in 26 characters: the last character carries 3 bits and 2 zero bits.
    EXPECT_EQ(std::string_view("abcdefghijklmnopqrstuvwxyz234567").find(id.back()) % 4, 0u) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

// ----- Hashes -------------------------------------------------------------------------------

TEST(HashTest, Sha256KnownAnswers) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256(ByteView())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(HashTest, HmacSha256Rfc4231) {
  // RFC 4231 test case 1.
  SecretKey key1 = KeyFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  EXPECT_EQ(HexEncode(HmacSha256(key1, AsBytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // RFC 4231 test case 2.
  SecretKey key2 = SecretKey::FromBytes(AsBytes("Jefe"));
  EXPECT_EQ(HexEncode(HmacSha256(key2, AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HashTest, HkdfRfc5869TestCase1) {
  SecretKey ikm = KeyFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto okm = Hkdf(ikm, Hex("000102030405060708090a0b0c"), Hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(HexEncode(okm->bytes()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HashTest, HkdfRfc5869TestCase3EmptySaltAndInfo) {
  SecretKey ikm = KeyFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto okm = Hkdf(ikm, {}, {}, 42);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(HexEncode(okm->bytes()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HashTest, HkdfRefusesBadLengths) {
  SecretKey ikm = SecretKey::FromBytes(AsBytes("input key material"));
  EXPECT_EQ(Hkdf(ikm, {}, {}, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Hkdf(ikm, {}, {}, 255 * 32 + 1).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Hkdf(ikm, {}, {}, 255 * 32).ok());
}

// ----- AEAD ---------------------------------------------------------------------------------

TEST(AeadTest, NistGcmTestCase16Opens) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV).
  SecretKey key = KeyFromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  Bytes sealed =
      Hex("cafebabefacedbaddecaf888"
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
          "56828838c5f61e6393ba7a0abcc9f662"
          "76fc6ece0f4e1768cddf8853bb2d551b");
  Bytes aad = Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto plain = AeadOpen(key, sealed, aad);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(HexEncode(*plain),
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
            "2449a6b525b16aedf5aa0de657ba637b39");
}

TEST(AeadTest, RoundTripAndLayout) {
  auto key = SecretKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::string plain = "{\"resourceType\":\"Patient\",\"name\":\"CANARY-DUPONT\"}";
  auto sealed = AeadSeal(*key, AsBytes(plain), AsBytes("acme|Patient|1|1"));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), plain.size() + kAeadOverhead);
  EXPECT_EQ(AsChars(*sealed).find("CANARY"), std::string_view::npos);
  auto opened = AeadOpen(*key, *sealed, AsBytes("acme|Patient|1|1"));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsChars(*opened), plain);

  // Fresh nonce each time: same input, different output.
  auto again = AeadSeal(*key, AsBytes(plain), AsBytes("acme|Patient|1|1"));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *sealed);

  auto empty = AeadSeal(*key, {}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), kAeadOverhead);
  auto empty_open = AeadOpen(*key, *empty, {});
  ASSERT_TRUE(empty_open.ok());
  EXPECT_TRUE(empty_open->empty());
}

TEST(AeadTest, EveryBitFlipOfSealedBytesIsDataLoss) {
  auto key = SecretKey::Generate();
  ASSERT_TRUE(key.ok());
  const Bytes aad = ToBytes("acme|Observation|42|3");
  auto sealed = AeadSeal(*key, AsBytes("heart rate 72"), aad);
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size() * 8; ++i) {
    Bytes bad = *sealed;
    bad[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    auto r = AeadOpen(*key, bad, aad);
    ASSERT_FALSE(r.ok()) << "bit " << i;
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << "bit " << i;
    EXPECT_THAT(r.status().message(), HasSubstr("decryption failed"));
  }
}

TEST(AeadTest, EveryBitFlipOfAadIsDataLoss) {
  auto key = SecretKey::Generate();
  ASSERT_TRUE(key.ok());
  const Bytes aad = ToBytes("acme|Patient|7|1");
  auto sealed = AeadSeal(*key, AsBytes("body"), aad);
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < aad.size() * 8; ++i) {
    Bytes bad = aad;
    bad[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_EQ(AeadOpen(*key, *sealed, bad).status().code(), Code::kDataLoss) << "bit " << i;
  }
  EXPECT_EQ(AeadOpen(*key, *sealed, {}).status().code(), Code::kDataLoss);
  Bytes longer = aad;
  longer.push_back('x');
  EXPECT_EQ(AeadOpen(*key, *sealed, longer).status().code(), Code::kDataLoss);
}

TEST(AeadTest, WrongKeyTruncationAndExtensionAreDataLoss) {
  auto key = SecretKey::Generate();
  auto other = SecretKey::Generate();
  ASSERT_TRUE(key.ok() && other.ok());
  auto sealed = AeadSeal(*key, AsBytes("payload"), AsBytes("aad"));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(AeadOpen(*other, *sealed, AsBytes("aad")).status().code(), Code::kDataLoss);
  for (size_t n = 0; n < sealed->size(); ++n) {
    EXPECT_EQ(AeadOpen(*key, ByteView(*sealed).first(n), AsBytes("aad")).status().code(),
              Code::kDataLoss)
        << n;
  }
  Bytes extended = *sealed;
  extended.push_back(0);
  EXPECT_EQ(AeadOpen(*key, extended, AsBytes("aad")).status().code(), Code::kDataLoss);
}

TEST(AeadTest, KeySizeOtherThan32IsInvalidArgument) {
  SecretKey short_key = SecretKey::FromBytes(Bytes(16, 1));
  SecretKey long_key = SecretKey::FromBytes(Bytes(33, 1));
  EXPECT_EQ(AeadSeal(short_key, AsBytes("x"), {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AeadSeal(long_key, AsBytes("x"), {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AeadSeal(SecretKey(), AsBytes("x"), {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AeadOpen(short_key, Bytes(40, 0), {}).status().code(), Code::kInvalidArgument);
}

// ----- Comparison ---------------------------------------------------------------------------

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("ab")));
  EXPECT_TRUE(ConstantTimeEquals({}, {}));
  EXPECT_FALSE(ConstantTimeEquals({}, AsBytes("a")));
}

// ----- Base64 -------------------------------------------------------------------------------

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<std::string, std::string> kVectors[] = {{"", ""},
                                                          {"f", "Zg=="},
                                                          {"fo", "Zm8="},
                                                          {"foo", "Zm9v"},
                                                          {"foob", "Zm9vYg=="},
                                                          {"fooba", "Zm9vYmE="},
                                                          {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(AsChars(*decoded), plain);

    std::string url = encoded;
    while (!url.empty() && url.back() == '=') url.pop_back();
    EXPECT_EQ(Base64UrlEncode(AsBytes(plain)), url);
    auto url_decoded = Base64UrlDecode(url);
    ASSERT_TRUE(url_decoded.ok()) << url;
    EXPECT_EQ(AsChars(*url_decoded), plain);
  }
}

TEST(Base64Test, UrlAlphabetRoundTripsAllLengthsAndBytes) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(255 - i);
  for (size_t n = 0; n <= all.size(); ++n) {
    ByteView data = ByteView(all).first(n);
    std::string url = Base64UrlEncode(data);
    EXPECT_EQ(url.find_first_of("+/="), std::string::npos) << url;
    auto back = Base64UrlDecode(url);
    ASSERT_TRUE(back.ok()) << url;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), data.begin(), data.end()));

    std::string std_text = Base64Encode(data);
    EXPECT_EQ(std_text.size() % 4, 0u);
    auto std_back = Base64Decode(std_text);
    ASSERT_TRUE(std_back.ok()) << std_text;
    EXPECT_TRUE(std::equal(std_back->begin(), std_back->end(), data.begin(), data.end()));
  }
  EXPECT_EQ(Base64UrlEncode(Bytes{0xfb, 0xff}), "-_8");
  EXPECT_EQ(Base64Encode(Bytes{0xfb, 0xff}), "+/8=");
}

TEST(Base64Test, UrlDecodeRejectsPaddingAndForeignCharacters) {
  const std::string_view kBad[] = {
      "Zg==", "Zm8=",  "Zg=",    "Z",     "Zm9vY",   "Zm+v",
      "Zm/v", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9\x80", std::string_view("Zm\0v", 4),
      "Zh",   "Zm9=",  "====",   "Z===",  "é"};
  for (std::string_view bad : kBad) {
    EXPECT_EQ(Base64UrlDecode(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(Base64Test, StandardDecodeRejectsMalformedInput) {
  const std::string_view kBad[] = {"Zg",    "Zg=",    "Zg===", "=Zg=", "Z=g=",     "Zm-v", "Zm_v",
                                   "Zm9v ", "Zm9v\n", "Zh==",  "Zm9=", "Zm9vYg=A", "===="};
  for (std::string_view bad : kBad) {
    EXPECT_EQ(Base64Decode(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace hygie::crypto

namespace hygie::crypto {
namespace {

TEST(TimeOrderedIdTest, SortsByTimeAndIsAValidId) {
  std::string a = TimeOrderedId(1700000000000000);
  std::string b = TimeOrderedId(1700000000001000);  // one millisecond later
  std::string c = TimeOrderedId(1800000000000000);
  EXPECT_EQ(a.size(), 26u);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(a.substr(0, 10), TimeOrderedId(1700000000000999).substr(0, 10));
  EXPECT_NE(a, TimeOrderedId(1700000000000000));  // random tail
  for (char ch : a) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || (ch >= '2' && ch <= '7')) << a;
}

}  // namespace
}  // namespace hygie::crypto
