#include "backup/pack.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "backup/manifest.h"
#include "crypto/primitives.h"

namespace hygie::backup {
namespace {

crypto::SecretKey Seed(std::string_view s) {
  return crypto::SecretKey::FromBytes(crypto::Sha256(AsBytes(s)));
}

PackContents Sample() {
  PackContents c;
  for (int i = 1; i <= 3; ++i) {
    PackVersion v;
    v.seq = static_cast<uint64_t>(i);
    v.record.type = "Observation";
    v.record.id = "o" + std::to_string(i);
    v.record.version = 1;
    v.record.last_updated_us = 1796000000000000 + i;
    v.record.key_id = 1;
    v.record.body = ToBytes("sealed body " + std::to_string(i));
    c.versions.push_back(std::move(v));
  }
  c.journal.push_back({"seg-00000000000000000000.log", 0, "HYGIEJ1\n..."});
  return c;
}

TEST(PackTest, SealedPacksOpenToWhatWasSealed) {
  auto keys = ChainKeys::Derive(Seed("acme"));
  ASSERT_TRUE(keys.ok());
  ChainId chain{"inst", "acme"};
  PackContents in = Sample();
  auto sealed = SealPack(in, keys->pack_key, chain);
  ASSERT_TRUE(sealed.ok());
  auto out = OpenPack(*sealed, keys->pack_key, chain);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->versions.size(), 3u);
  EXPECT_EQ(out->versions[2].record.id, "o3");
  EXPECT_EQ(out->versions[1].record.body, in.versions[1].record.body);
  ASSERT_EQ(out->journal.size(), 1u);
  EXPECT_EQ(out->journal[0].bytes, in.journal[0].bytes);
}

TEST(PackTest, OutOfBoundsFieldsAreRefusedWhenSealing) {
  auto keys = ChainKeys::Derive(Seed("acme"));
  ASSERT_TRUE(keys.ok());
  PackContents c = Sample();
  c.versions[0].record.id = std::string(65, 'x');
  EXPECT_EQ(SealPack(c, keys->pack_key, {"i", "acme"}).status().code(), Code::kInvalidArgument);
  c = Sample();
  c.journal[0].file = "../escape";
  auto sealed = SealPack(c, keys->pack_key, {"i", "acme"});
  ASSERT_TRUE(sealed.ok());  // names are checked when read
  EXPECT_EQ(OpenPack(*sealed, keys->pack_key, {"i", "acme"}).status().code(), Code::kDataLoss);
}

// The readers of untrusted bytes (a pack body, a manifest entry) never crash and never accept
// a mutated input that the writer did not make: random bit flips, cuts and insertions.
TEST(PackTest, MutatedBodiesAndEntriesAreRefusedNotMisread) {
  uint32_t seed = std::random_device{}();
  std::printf("mutation seed: %u\n", seed);
  std::mt19937 rng(seed);
  auto keys = ChainKeys::Derive(Seed("acme"));
  ASSERT_TRUE(keys.ok());
  ChainId chain{"inst", "acme"};

  // A valid body, written by hand in the layout of docs/backup-format.md (the plaintext inside a
  // pack): 4 entries.
  std::string body = "HYGIEPK1";
  body += std::string("\x04\x00\x00\x00", 4);
  PackContents sample = Sample();
  auto le = [&body](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) body.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  for (const PackVersion& v : sample.versions) {
    body.push_back(1);
    le(v.seq, 8);
    le(v.record.version, 8);
    le(static_cast<uint64_t>(v.record.last_updated_us), 8);
    body.push_back(0);
    le(v.record.key_id, 4);
    le(v.record.type.size(), 2);
    body += v.record.type;
    le(v.record.id.size(), 2);
    body += v.record.id;
    le(v.record.body.size(), 4);
    body += std::string(AsChars(v.record.body));
  }
  body.push_back(2);
  le(sample.journal[0].file.size(), 2);
  body += sample.journal[0].file;
  le(0, 8);
  le(sample.journal[0].bytes.size(), 4);
  body += sample.journal[0].bytes;
  auto parsed = ParsePackBody(body);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->versions.size(), 3u);

  ManifestEntry e;
  e.n = 0;
  e.pack = std::string(64, 'a');
  e.first_seq = 1;
  e.last_seq = 3;
  e.versions = 3;
  e.shipped_seq = 3;
  e.total_versions = 3;
  auto entry = EncodeManifestEntry(e, chain, *keys->signer);
  ASSERT_TRUE(entry.ok());
  ASSERT_TRUE(DecodeManifestEntry(*entry, chain, *keys->verifier).ok());

  int accepted_bodies = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string m = round % 2 == 0 ? body : *entry;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !m.empty(); ++k) {
      size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0:
          m[at] = static_cast<char>(m[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          m.erase(at, 1 + rng() % 8);
          break;
        default:
          m.insert(at, 1 + rng() % 4, static_cast<char>(rng()));
      }
    }
    if (round % 2 == 0) {
      auto r = ParsePackBody(m);
      if (r.ok())
        ++accepted_bodies;  // a flip inside a body or an id stays well-formed
      else
        EXPECT_EQ(r.status().code(), Code::kDataLoss);
    } else if (m != *entry) {
      // Every change to a signed entry is refused.
      EXPECT_FALSE(DecodeManifestEntry(m, chain, *keys->verifier).ok()) << round;
    }
  }
  std::printf("well-formed mutated bodies: %d of 10000 (caught later by the AEAD tag)\n",
              accepted_bodies);
}

}  // namespace
}  // namespace hygie::backup
