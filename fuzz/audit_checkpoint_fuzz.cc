// The checkpoint readers of the audit journal (audit/checkpoint.h: NoteVerifier::Parse of a
// verifier key, NoteVerifier::Open of a signed note). Input: the first byte chooses the form:
//   0: the rest is a verifier key;
//   1: the rest is a signed note, opened with the tree's verifier;
//   2: the rest is a note body, which the target signs with the tree's key, so that the body
//      reader is reached past the signature;
//   3: the rest drives the fields of a Checkpoint, which is signed.
// Invariants: refusals are kInvalidArgument (keys) or kDataLoss (notes); an opened checkpoint
// signs to a note that opens to the same checkpoint; a body opened is exactly the body of the
// checkpoint read.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "audit/checkpoint.h"
#include "crypto/primitives.h"
#include "crypto/signing.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

constexpr std::string_view kOrigin = "hygie.local/abcd1234/audit/acme";

struct Fixture {
  Bytes seed = Bytes(32, 3);
  audit::NoteSigner signer =
      std::move(audit::NoteSigner::FromSeed(std::string(kOrigin), seed)).value();
  audit::NoteVerifier verifier =
      std::move(audit::NoteVerifier::Parse(signer.VerifierKey())).value();
  crypto::SigningKey key = std::move(crypto::SigningKey::FromEd25519Seed(seed)).value();
};

const Fixture& F() {
  static const Fixture* f = new Fixture;
  return *f;
}

void CheckOpened(const audit::Checkpoint& c) {
  auto note = F().signer.Sign(c);
  FUZZ_CHECK(note.ok());
  auto again = F().verifier.Open(*note);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == c);
}

void Open(std::string_view note) {
  auto c = F().verifier.Open(note);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == Code::kDataLoss);
    return;
  }
  CheckOpened(*c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = fuzz::Text(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto v = audit::NoteVerifier::Parse(rest);
      if (!v.ok()) FUZZ_CHECK(v.status().code() == Code::kInvalidArgument);
      break;
    }
    case 1:
      Open(rest);
      break;
    case 2: {
      // As NoteSigner::Sign lays a note out: body, blank line, "— name base64(key id || sig)".
      auto signature = F().key.Sign(AsBytes(rest));
      FUZZ_CHECK(signature.ok());
      const uint32_t id = F().signer.key_id();
      Bytes blob = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                    static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
      blob.insert(blob.end(), signature->begin(), signature->end());
      const std::string note = std::string(rest) + "\n\xE2\x80\x94 " + std::string(kOrigin) + " " +
                               crypto::Base64Encode(blob) + "\n";
      auto c = F().verifier.Open(note);
      if (!c.ok()) {
        FUZZ_CHECK(c.status().code() == Code::kDataLoss);
        break;
      }
      FUZZ_CHECK(audit::CheckpointBody(*c) == rest);
      CheckOpened(*c);
      break;
    }
    default: {
      FuzzedDataProvider in(data + 1, size - 1);
      audit::Checkpoint c;
      c.origin = in.ConsumeRandomLengthString(80);
      c.size = in.ConsumeIntegral<uint64_t>();
      for (uint8_t& b : c.root) b = in.ConsumeIntegral<uint8_t>();
      c.time_seconds = in.ConsumeIntegral<int64_t>();
      auto note = F().signer.Sign(c);
      if (!note.ok()) {
        FUZZ_CHECK(note.status().code() == Code::kInvalidArgument);
        break;
      }
      auto again = F().verifier.Open(*note);
      // The verifier reads notes of any origin; the caller compares it.
      FUZZ_CHECK(again.ok());
      FUZZ_CHECK(*again == c);
      break;
    }
  }
  return 0;
}
