#include "audit/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/primitives.h"
#include "crypto/signing.h"

namespace hygie::audit {
namespace {

using ::testing::HasSubstr;

// The example key pair and signed note of golang.org/x/mod/sumdb/note (its documentation and
// tests): the private key is base64(0x01 || seed), the verifier key name+id+base64(0x01 || pub).
constexpr char kGoSignerKeyData[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr char kGoVerifierKey[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kGoText[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr char kGoSignature[] =
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

Bytes Seed(uint8_t first) {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(first + 7 * i);
  return seed;
}

Checkpoint Sample() {
  Checkpoint c;
  c.origin = "hygie.local/abcd1234/audit/acme";
  c.size = 1234;
  c.root = HashLeaf(AsBytes("root"));
  c.time_seconds = 1700000000;
  return c;
}

NoteSigner MakeSigner(const std::string& name, uint8_t seed_byte = 1) {
  auto signer = NoteSigner::FromSeed(name, Seed(seed_byte));
  EXPECT_TRUE(signer.ok()) << signer.status().ToString();
  return std::move(signer).value();
}

NoteVerifier VerifierOf(const NoteSigner& signer) {
  auto verifier = NoteVerifier::Parse(signer.VerifierKey());
  EXPECT_TRUE(verifier.ok()) << verifier.status().ToString();
  return std::move(verifier).value();
}

TEST(CheckpointTest, BodyHasTheC2spLayout) {
  const Checkpoint c = Sample();
  EXPECT_EQ(CheckpointBody(c),
            c.origin + "\n1234\n" + crypto::Base64Encode(c.root) + "\ntime 1700000000\n");
  Checkpoint empty;
  empty.origin = "o";
  empty.root = EmptyRoot();
  EXPECT_EQ(CheckpointBody(empty), "o\n0\n" + crypto::Base64Encode(EmptyRoot()) + "\ntime 0\n");
}

TEST(CheckpointTest, SignThenOpenRoundTrips) {
  const NoteSigner signer = MakeSigner("hygie.local/abcd1234/audit/acme");
  const NoteVerifier verifier = VerifierOf(signer);
  EXPECT_EQ(verifier.name(), signer.name());
  EXPECT_EQ(verifier.key_id(), signer.key_id());

  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{1234}, UINT64_MAX}) {
    Checkpoint c = Sample();
    c.size = size;
    c.time_seconds = size == UINT64_MAX ? INT64_MAX : static_cast<int64_t>(size);
    auto note = signer.Sign(c);
    ASSERT_TRUE(note.ok()) << note.status().ToString();
    // body, blank line, one signature line by the signer's name.
    const std::string body = CheckpointBody(c);
    ASSERT_TRUE(note->starts_with(body + "\n\xE2\x80\x94 " + signer.name() + " ")) << *note;
    ASSERT_TRUE(note->ends_with("\n"));
    const std::string sig_b64 = note->substr(body.size() + 1 + 4 + signer.name().size() + 1);
    auto blob = crypto::Base64Decode(sig_b64.substr(0, sig_b64.size() - 1));
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(blob->size(), 4u + 64u);

    auto opened = verifier.Open(*note);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, c);
  }
}

TEST(CheckpointTest, EverySingleByteChangeIsRejected) {
  const NoteSigner signer = MakeSigner("hygie.local/abcd1234/audit/acme");
  const NoteVerifier verifier = VerifierOf(signer);
  auto note = signer.Sign(Sample());
  ASSERT_TRUE(note.ok());
  ASSERT_TRUE(verifier.Open(*note).ok());
  int tried = 0;
  for (size_t i = 0; i < note->size(); ++i) {
    for (int v = 0; v < 256; ++v) {
      if (static_cast<char>(v) == (*note)[i]) continue;
      std::string bad = *note;
      bad[i] = static_cast<char>(v);
      auto opened = verifier.Open(bad);
      ASSERT_FALSE(opened.ok()) << "byte " << i << " set to " << v << " accepted";
      ASSERT_EQ(opened.status().code(), Code::kDataLoss) << opened.status().ToString();
      ++tried;
    }
    // Removing or doubling a byte is refused too.
    std::string removed = *note;
    removed.erase(i, 1);
    EXPECT_FALSE(verifier.Open(removed).ok()) << "byte " << i << " removed";
    std::string doubled = *note;
    doubled.insert(i, 1, (*note)[i]);
    EXPECT_FALSE(verifier.Open(doubled).ok()) << "byte " << i << " doubled";
  }
  EXPECT_EQ(tried, static_cast<int>(note->size()) * 255);
  // Truncations and trailing bytes.
  for (size_t n = 0; n < note->size(); ++n) {
    EXPECT_EQ(verifier.Open(std::string_view(*note).substr(0, n)).status().code(), Code::kDataLoss)
        << n;
  }
  for (const char* tail : {"\n", "x", "x\n", "\n\n", " ", "\xE2\x80\x94 x\n"}) {
    EXPECT_EQ(verifier.Open(*note + tail).status().code(), Code::kDataLoss) << tail;
  }
}

TEST(CheckpointTest, ANoteOfAnotherKeyIsRejected) {
  const std::string name = "hygie.local/abcd1234/audit/acme";
  const NoteSigner signer = MakeSigner(name, 1);
  const NoteVerifier verifier = VerifierOf(signer);
  // Same name, another key: the key id differs, so its signature is not ours.
  const NoteSigner other_key = MakeSigner(name, 2);
  EXPECT_NE(other_key.key_id(), signer.key_id());
  auto foreign = other_key.Sign(Sample());
  ASSERT_TRUE(foreign.ok());
  auto opened = verifier.Open(*foreign);
  EXPECT_EQ(opened.status().code(), Code::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr("no signature"));
  // Same key, another name.
  const NoteSigner other_name = MakeSigner("hygie.local/abcd1234/audit/other", 1);
  EXPECT_EQ(verifier.Open(*other_name.Sign(Sample())).status().code(), Code::kDataLoss);
  EXPECT_TRUE(VerifierOf(other_key).Open(*foreign).ok());
}

TEST(CheckpointTest, OtherSignaturesAreSkippedAndABadOneOfOursFails) {
  const NoteSigner signer = MakeSigner("log.example/a", 1);
  const NoteSigner witness = MakeSigner("witness.example/w", 3);
  const NoteVerifier verifier = VerifierOf(signer);
  const std::string note = *signer.Sign(Sample());
  const std::string witness_note = *witness.Sign(Sample());
  const std::string witness_line = witness_note.substr(CheckpointBody(Sample()).size() + 1);

  // A cosignature by another key, before or after ours, is ignored.
  auto with_cosig = verifier.Open(note + witness_line);
  ASSERT_TRUE(with_cosig.ok()) << with_cosig.status().ToString();
  EXPECT_EQ(*with_cosig, Sample());
  const std::string our_line = note.substr(CheckpointBody(Sample()).size() + 1);
  EXPECT_TRUE(verifier.Open(CheckpointBody(Sample()) + "\n" + witness_line + our_line).ok());
  EXPECT_TRUE(VerifierOf(witness).Open(note + witness_line).ok());

  // A second line claiming our name and key id with a wrong signature fails the note.
  Bytes blob = *crypto::Base64Decode(our_line.substr(
      4 + signer.name().size() + 1, our_line.size() - 4 - signer.name().size() - 2));
  blob.back() ^= 1;
  const std::string bad_line =
      "\xE2\x80\x94 " + signer.name() + " " + crypto::Base64Encode(blob) + "\n";
  EXPECT_EQ(verifier.Open(note + bad_line).status().code(), Code::kDataLoss);
  EXPECT_EQ(verifier.Open(CheckpointBody(Sample()) + "\n" + bad_line).status().code(),
            Code::kDataLoss);
}

TEST(CheckpointTest, MalformedBodiesAreRejectedEvenWhenSigned) {
  // Signed with the right key, but not a Hygie checkpoint body.
  const Bytes seed = Seed(1);
  auto key = crypto::SigningKey::FromEd25519Seed(seed);
  ASSERT_TRUE(key.ok());
  const NoteSigner signer = MakeSigner("log.example/a", 1);
  const NoteVerifier verifier = VerifierOf(signer);
  const std::string root = crypto::Base64Encode(Sample().root);
  auto sign_text = [&](const std::string& text) {
    Bytes blob = {
        static_cast<uint8_t>(signer.key_id() >> 24), static_cast<uint8_t>(signer.key_id() >> 16),
        static_cast<uint8_t>(signer.key_id() >> 8), static_cast<uint8_t>(signer.key_id())};
    Bytes sig = *key->Sign(AsBytes(text));
    blob.insert(blob.end(), sig.begin(), sig.end());
    return text + "\n\xE2\x80\x94 " + signer.name() + " " + crypto::Base64Encode(blob) + "\n";
  };
  // The helper itself makes notes the verifier accepts.
  ASSERT_TRUE(verifier.Open(sign_text(CheckpointBody(Sample()))).ok());
  for (const std::string& text : {
           std::string("o\n12\n") + root + "\n",                            // no time line
           std::string("o\n12\n") + root + "\ntime 5\nextra\n",             // extra extension
           std::string("o\n012\n") + root + "\ntime 5\n",                   // leading zero
           std::string("o\n-1\n") + root + "\ntime 5\n",                    // sign
           std::string("o\n18446744073709551616\n") + root + "\ntime 5\n",  // overflow
           std::string("o\n12\n") + root + "\ntime -5\n",                   // negative time
           std::string("o\n12\n") + root + "\ntime 05\n",                   // leading zero
           std::string("o\n12\n") + root + "\ntime  5\n",                   // two spaces
           std::string("o\n12\n") + root + "\nTime 5\n",                    // case
           std::string("o\n12\nAAAA\ntime 5\n"),                            // short root
           std::string("o\n12\n") + root.substr(0, 43) + "\ntime 5\n",      // no padding
           std::string("o o\n12\n") + root + "\ntime 5\n",                  // space in origin
           std::string("\n12\n") + root + "\ntime 5\n",                     // empty origin
           std::string("o\n\n12\n") + root + "\ntime 5\n",                  // blank line
           std::string("o\n12\n") + root + "\ntime 5",                      // no final newline
       }) {
    auto opened = verifier.Open(sign_text(text));
    EXPECT_EQ(opened.status().code(), Code::kDataLoss) << text;
  }
  // Control characters and invalid UTF-8 anywhere are refused.
  const std::string good = sign_text(CheckpointBody(Sample()));
  for (const std::string& insert :
       {std::string("\r"), std::string(1, '\0'), std::string("\t"), std::string("\xC0\xAF"),
        std::string("\xED\xA0\x80"), std::string("\xF8\x88\x80\x80\x80")}) {
    EXPECT_EQ(verifier.Open(good + insert).status().code(), Code::kDataLoss);
    EXPECT_EQ(verifier.Open(insert + good).status().code(), Code::kDataLoss);
  }
}

TEST(CheckpointTest, SignRefusesBadOriginsAndTimes) {
  const NoteSigner signer = MakeSigner("log.example/a");
  for (const char* origin : {"", "with space", "a+b", "line\nbreak", "caf\xC3\xA9", "tab\t"}) {
    Checkpoint c = Sample();
    c.origin = origin;
    EXPECT_EQ(signer.Sign(c).status().code(), Code::kInvalidArgument) << origin;
  }
  Checkpoint c = Sample();
  c.time_seconds = -1;
  EXPECT_EQ(signer.Sign(c).status().code(), Code::kInvalidArgument);
  for (const char* name : {"", "a b", "a+b", "a\n"}) {
    EXPECT_EQ(NoteSigner::FromSeed(name, Seed(1)).status().code(), Code::kInvalidArgument) << name;
  }
  EXPECT_EQ(NoteSigner::FromSeed("ok", Bytes(31)).status().code(), Code::kInvalidArgument);
}

TEST(CheckpointTest, VerifierKeyFormatParses) {
  const NoteSigner signer = MakeSigner("hygie.local/abcd1234/audit/acme");
  const std::string vkey = signer.VerifierKey();
  EXPECT_TRUE(std::regex_match(
      vkey, std::regex(R"(hygie\.local/abcd1234/audit/acme\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44})")))
      << vkey;
  auto verifier = NoteVerifier::Parse(vkey);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ(verifier->name(), "hygie.local/abcd1234/audit/acme");

  // The reference implementation's key parses, and every mangling of it is refused.
  ASSERT_TRUE(NoteVerifier::Parse(kGoVerifierKey).ok());
  const std::string go(kGoVerifierKey);
  for (size_t i = 0; i <= go.size(); ++i) {
    for (size_t j = i; j <= go.size(); ++j) {
      if (i == 0 && j == go.size()) continue;
      EXPECT_EQ(NoteVerifier::Parse(go.substr(i, j - i)).status().code(), Code::kInvalidArgument)
          << go.substr(i, j - i);
    }
  }
  for (size_t i = 0; i < go.size(); ++i) {
    std::string bad = go;
    ++bad[i];
    EXPECT_EQ(NoteVerifier::Parse(bad).status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(
      NoteVerifier::Parse("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
          .ok());  // upper-case id
  EXPECT_FALSE(NoteVerifier::Parse(go + "+").ok());
  // Another type byte (0x02, ECDSA) with the same key bytes.
  Bytes typed = *crypto::Base64Decode(go.substr(go.rfind('+') + 1));
  typed[0] = 0x02;
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeumann+c74f20a3+" + crypto::Base64Encode(typed)).ok());
}

// The key id computed here from the signed-note formula, independently of the code under test.
TEST(CheckpointTest, KeyIdFollowsTheSignedNoteFormula) {
  const std::string name = "hygie.local/abcd1234/audit/acme";
  const Bytes seed = Seed(9);
  auto key = crypto::SigningKey::FromEd25519Seed(seed);
  ASSERT_TRUE(key.ok());
  const Bytes pub = *key->Public().RawBytes();
  Bytes input(name.begin(), name.end());
  input.push_back(0x0A);
  input.push_back(0x01);
  input.insert(input.end(), pub.begin(), pub.end());
  const Bytes digest = crypto::Sha256(input);
  const std::string want_hex = HexEncode(ByteView(digest).first(4));

  auto signer = NoteSigner::FromSeed(name, seed);
  ASSERT_TRUE(signer.ok());
  Bytes typed = {0x01};
  typed.insert(typed.end(), pub.begin(), pub.end());
  EXPECT_EQ(signer->VerifierKey(), name + "+" + want_hex + "+" + crypto::Base64Encode(typed));
  EXPECT_EQ(HexEncode(Bytes{static_cast<uint8_t>(signer->key_id() >> 24),
                            static_cast<uint8_t>(signer->key_id() >> 16),
                            static_cast<uint8_t>(signer->key_id() >> 8),
                            static_cast<uint8_t>(signer->key_id())}),
            want_hex);
  EXPECT_EQ(NoteKeyId(name, pub), signer->key_id());

  // The signature line starts with the same four bytes, and the rest verifies over the body.
  const std::string note = *signer->Sign(Sample());
  const std::string body = CheckpointBody(Sample());
  const size_t b64_start = body.size() + 1 + 4 + name.size() + 1;
  const Bytes blob = *crypto::Base64Decode(note.substr(b64_start, note.size() - b64_start - 1));
  EXPECT_EQ(HexEncode(ByteView(blob).first(4)), want_hex);
  EXPECT_TRUE(key->Public().Verify(AsBytes(body), ByteView(blob).subspan(4)));
}

// Byte for byte the same keys and signatures as golang.org/x/mod/sumdb/note.
TEST(CheckpointTest, MatchesTheGoReferenceExample) {
  const Bytes signer_data = *crypto::Base64Decode(kGoSignerKeyData);
  ASSERT_EQ(signer_data.size(), 33u);
  ASSERT_EQ(signer_data[0], 0x01);
  const Bytes seed(signer_data.begin() + 1, signer_data.end());
  auto signer = NoteSigner::FromSeed("PeterNeumann", seed);
  ASSERT_TRUE(signer.ok());
  EXPECT_EQ(signer->VerifierKey(), kGoVerifierKey);

  auto key = crypto::SigningKey::FromEd25519Seed(seed);
  ASSERT_TRUE(key.ok());
  const Bytes sig = *key->Sign(AsBytes(kGoText));
  Bytes blob = *crypto::Base64Decode(kGoSignature);
  ASSERT_EQ(blob.size(), 68u);
  EXPECT_EQ(Bytes(blob.begin() + 4, blob.end()), sig);
  EXPECT_EQ(NoteKeyId("PeterNeumann", *key->Public().RawBytes()), 0xc74f20a3u);

  // The verifier accepts its signature, then refuses the text: it is not a checkpoint.
  auto verifier = NoteVerifier::Parse(kGoVerifierKey);
  ASSERT_TRUE(verifier.ok());
  const std::string go_note =
      std::string(kGoText) + "\n\xE2\x80\x94 PeterNeumann " + kGoSignature + "\n";
  auto opened = verifier->Open(go_note);
  EXPECT_EQ(opened.status().code(), Code::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr("checkpoint body"));
  std::string altered = go_note;
  altered[10] = 'X';
  EXPECT_THAT(verifier->Open(altered).status().message(), HasSubstr("bad signature"));
}

TEST(CheckpointTest, SignerAndVerifierAreShareableAcrossThreads) {
  const NoteSigner signer = MakeSigner("log.example/a");
  const NoteSigner copy = signer;  // copies share the key
  const NoteVerifier verifier = VerifierOf(signer);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Checkpoint c = Sample();
        c.size = static_cast<uint64_t>(t * 1000 + i);
        auto note = (i % 2 == 0 ? signer : copy).Sign(c);
        if (!note.ok()) {
          ++failures;
          continue;
        }
        auto opened = verifier.Open(*note);
        if (!opened.ok() || !(*opened == c)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace hygie::audit
