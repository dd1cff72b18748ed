// Writes the seeds of the fuzz targets whose inputs must be made by Hygie's own writers: keys,
// signed notes, journal trees, sealed packs and signed manifest entries (fuzz/make_corpus.sh
// runs it; the other seeds come from the tests' inputs). Usage: corpus_gen CORPUS_DIR.
// Deterministic where the formats allow (fixed seeds; RSA and EC test keys are random).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "audit/checkpoint.h"
#include "audit/journal.h"
#include "backup/manifest.h"
#include "backup/pack.h"
#include "core/clock.h"
#include "core/temp_dir.h"
#include "crypto/jwk_test_keys.h"
#include "crypto/primitives.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;
namespace fs = std::filesystem;

namespace {

std::string out_dir;
const std::string kZero(1, '\0');  // a first byte of 0 ("\x00" + ... would be empty)

void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(out_dir + "/" + target);
  std::ofstream(out_dir + "/" + target + "/" + name, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    std::cerr << "corpus_gen: " << r.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}

void Jwks() {
  using crypto::testing::TestKey;
  const TestKey rsa = TestKey::Rsa(), ec = TestKey::Ec(), ed = TestKey::Ed25519();
  Write("jwk", "rsa.json", rsa.Jwk("rsa-1", "\"use\":\"sig\",\"alg\":\"RS256\""));
  Write("jwk", "ec.json", ec.Jwk("ec-1", "\"key_ops\":[\"verify\"]"));
  Write("jwk", "ed.json", ed.Jwk("ed-1"));
  Write("jwk", "set.json",
        "{\"keys\":[" + rsa.Jwk("rsa-1") + "," + ec.Jwk("ec-1", "\"use\":\"enc\"") + "," +
            ed.Jwk("ed-1", "\"alg\":\"EdDSA\"") + ",{\"kty\":\"oct\",\"k\":\"AAAA\"}]}");
  Write("jwk", "private.json", "{\"keys\":[" + ec.Jwk("ec-2", "\"d\":\"AAAA\"") + "]}");
  // OIDC: control | discovery | JWK set | header | payload | issuer settings.
  const std::string discovery =
      R"({"issuer":"https://idp.example.test/realms/care","jwks_uri":)"
      R"("https://idp.example.test/realms/care/certs","id_token_signing_alg_values_supported":["ES256"]})";
  const std::string payload =
      R"({"iss":"https://idp.example.test/realms/care","sub":"f:550-dr-house","aud":"hygie-acme",)"
      R"("exp":1700000300,"iat":1699999990,"scope":"user/Patient.rs openid","azp":"dmp-app",)"
      R"("realm_access":{"roles":["doctor","nurse"]},"rpps":"10001234567","patient":"p1"})";
  const std::string sep(1, '\0');
  Write("oidc", "own-keys",
        "\x01" + sep + discovery + sep + sep + R"({"alg":"ES256","typ":"JWT","kid":"k1"})" + sep +
            payload + sep);
  Write("oidc", "fuzzed-keys",
        kZero + sep + discovery + sep + "{\"keys\":[" + ec.Jwk("k1") + "]}" + sep +
            R"({"alg":"ES256","kid":"k1"})" + sep + payload + sep);
  Write(
      "oidc", "issuer-settings",
      "\x01" + sep + discovery + sep + sep + R"({"alg":"ES256","kid":"k1"})" + sep + payload + sep +
          R"({"issuer":"https://idp.example.test/realms/care","audience":"hygie-acme",)"
          R"("roles_claim":"realm_access.roles","role_map":{"doctor":"practitioner"},)"
          R"("default_role":"service","patient_claim":"patient","professional_id_claim":"rpps"})");
  Write("oidc", "array-aud",
        "\x01" + sep + discovery + sep + sep + R"({"alg":"ES256","kid":"k1","typ":"at+jwt"})" +
            sep +
            R"({"iss":"https://idp.example.test/realms/care","aud":["x","hygie-acme"],)"
            R"("exp":1700000300,"nbf":1699999000,"scope":["user/Observation.r"],"client_id":"c"})" +
            sep);
}

void Checkpoints() {
  const Bytes seed(32, 3);
  audit::NoteSigner signer =
      Must(audit::NoteSigner::FromSeed("hygie.local/abcd1234/audit/acme", seed));
  Write("audit_checkpoint", "verifier-key", kZero + signer.VerifierKey());
  audit::Checkpoint c;
  c.origin = "hygie.local/abcd1234/audit/acme";
  c.size = 1234;
  c.root.fill(0xab);
  c.time_seconds = 1700000000;
  const std::string note = Must(signer.Sign(c));
  Write("audit_checkpoint", "note", "\x01" + note);
  Write("audit_checkpoint", "body", "\x02" + audit::CheckpointBody(c));
  c.size = 0;
  c.root.fill(0);
  Write("audit_checkpoint", "body-empty", "\x02" + audit::CheckpointBody(c));
  audit::NoteSigner other = Must(audit::NoteSigner::FromSeed("other", Bytes(32, 8)));
  const std::string other_note = Must(other.Sign(c));
  Write("audit_checkpoint", "two-signatures",
        "\x01" + note + other_note.substr(other_note.find("\n\n") + 2));
  Write("audit_checkpoint", "fields", std::string("\x03hygie/acme\x05\x00\x00", 13));
}

// A journal tree: 3 records a day over 3 days (segments 0, 3, 6), a checkpoint per batch;
// pruned: the bodies of the segments older than a day and a half removed.
void Journals() {
  const auto& files = fuzz::kAuditTreeFiles;
  for (bool prune : {false, true}) {
    test_support::TempDir dir("hygie-corpus");
    const int64_t day = 86400LL * 1000000;
    FakeClock clock(1700000000LL * 1000000);
    audit::JournalOptions o;
    o.dir = dir.path();
    o.origin_prefix = "hygie";
    o.checkpoint_interval_us = 0;
    o.seed_for = [](const std::string&) -> Result<crypto::SecretKey> {
      return crypto::SecretKey::FromBytes(Bytes(32, 1));
    };
    {
      auto journal = Must(audit::Journal::Open(o, clock));
      for (int d = 0; d < 3; ++d) {
        for (int i = 0; i < 3; ++i) {
          audit::Record r;
          r.time_us = clock.NowMicros();
          r.request_id = "req" + std::to_string(d * 3 + i);
          r.tenant = "acme";
          r.subject = "dr-house";
          r.interaction = i == 0 ? "create" : "read";
          r.action = i == 0 ? 'C' : 'R';
          r.resource_type = "Patient";
          r.resource_id = "p" + std::to_string(d);
          r.status = 200;
          if (!journal->AppendSync("acme", {r}).ok()) std::exit(1);
        }
        clock.Set(clock.NowMicros() + day);
      }
      if (prune && Must(journal->Prune("acme", clock.NowMicros() - 2 * day + 1)) == 0) {
        std::cerr << "corpus_gen: nothing pruned\n";
        std::exit(1);
      }
      journal->Close();
    }
    std::string input;
    for (size_t k = 0; k < std::size(files); ++k) {
      std::string bytes = Slurp(dir.path() + "/acme/" + files[k]);
      // The zeros laid ahead of the records end the frames as the end of the file does.
      while (!bytes.empty() && bytes.back() == '\0' && std::string(files[k]).ends_with(".log") &&
             std::string(files[k]).starts_with("seg-")) {
        bytes.pop_back();
      }
      if (bytes.empty() && !fs::exists(dir.path() + "/acme/" + files[k])) continue;
      // Files longer than a u16 length go in pieces (the target appends them).
      for (size_t at = 0; at < bytes.size() || at == 0; at += 65535) {
        const size_t n = std::min<size_t>(65535, bytes.size() - at);
        input.push_back(static_cast<char>(k));
        input.push_back(static_cast<char>(n & 0xff));
        input.push_back(static_cast<char>(n >> 8));
        input.append(bytes, at, n);
        if (bytes.empty()) break;
      }
    }
    Write("audit_segment", prune ? "tree-pruned" : "tree", input);
  }
}

void Packs() {
  const backup::ChainId chain{"abcd1234", "acme"};
  const crypto::SecretKey key = crypto::SecretKey::FromBytes(Bytes(32, 4));
  backup::PackContents contents;
  for (uint64_t i = 1; i <= 3; ++i) {
    backup::PackVersion v;
    v.seq = i;
    v.record.type = i == 2 ? "Observation" : "Patient";
    v.record.id = "id" + std::to_string(i);
    v.record.version = i;
    v.record.last_updated_us = 1700000000000000 + static_cast<int64_t>(i);
    v.record.deleted = i == 3;
    v.record.key_id = 1;
    if (i != 3) v.record.body = Bytes(40, static_cast<uint8_t>(i));
    contents.versions.push_back(std::move(v));
  }
  contents.journal.push_back({"seg-00000000000000000000.log", 0, "HYGIEJ1\n"});
  contents.journal.push_back({"verifier.key", 0, "hygie/acme+01234567+AQ==\n"});
  const std::string object = Must(backup::SealPack(contents, key, chain));
  Write("backup_pack", "object", "\x01" + object);
  Write("backup_pack", "empty-object", "\x01" + Must(backup::SealPack({}, key, chain)));
  // The plaintext inside, as form 2 seals it again.
  const Bytes plain = Must(crypto::AeadOpen(
      key, AsBytes(std::string_view(object).substr(8)),
      AsBytes(std::string("hygie backup pack v1\n") + "abcd1234" + std::string(1, '\0') + "acme")));
  std::string p(AsChars(plain));
  while (!p.empty() && p.back() == '\0') p.pop_back();
  Write("backup_pack", "plaintext", "\x02" + p);

  const backup::ChainKeys keys =
      Must(backup::ChainKeys::Derive(crypto::SecretKey::FromBytes(Bytes(32, 6))));
  backup::ManifestEntry e;
  e.n = 0;
  e.created_us = 1700000000000000;
  e.pack = backup::ObjectDigest(object);
  e.pack_bytes = object.size();
  e.first_seq = 1;
  e.last_seq = 3;
  e.versions = 3;
  e.max_ts_us = 1700000000000003;
  e.shipped_seq = 3;
  e.journal = {{"seg-00000000000000000000.log", 0, 8}, {"verifier.key", 0, 25}};
  e.journal_cursor = {true, 0, 0, 8, 0, 0};
  e.total_versions = 3;
  e.total_bytes = object.size();
  auto put = [&](const std::string& name, const backup::ManifestEntry& entry) {
    const std::string obj = Must(backup::EncodeManifestEntry(entry, chain, *keys.signer));
    Write("backup_manifest", name, kZero + obj);
    Write("backup_manifest", name + "-json", "\x01" + obj.substr(0, obj.find('\n')));
  };
  put("first", e);
  e.n = 1;
  e.prev = std::string(64, 'a');
  e.first_seq = e.last_seq = e.versions = 0;
  e.journal.clear();
  put("no-versions", e);
  e.n = 2;
  e.pack.clear();
  e.base = {std::string(64, 'b'), std::string(64, 'c')};
  e.base_new = 1;
  e.last_base = 2;
  e.last_base_us = 1700000000000000;
  put("base", e);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: corpus_gen CORPUS_DIR\n";
    return 2;
  }
  out_dir = argv[1];
  Jwks();
  Checkpoints();
  Journals();
  Packs();
  return 0;
}
