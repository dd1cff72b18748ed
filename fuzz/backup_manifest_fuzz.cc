// The backup manifest reader (backup/manifest.h DecodeManifestEntry, what verify, restore and
// prune read from a target) and manifest object names (ParseManifestName). Input: the first byte
// chooses the form:
//   even: the rest is a manifest object (JSON line, signature line), checked with the chain's
//         key;
//   odd:  the rest is an entry's JSON line, signed here with the chain's key as
//         EncodeManifestEntry signs, so that the reader is reached past the signature.
// Invariants: refusals are kDataLoss; an entry read encodes to an object that reads back as
// the same entry (and encodes to the same bytes); another chain's reader refuses it.
#include <string>

#include "backup/backup_format.h"
#include "backup/manifest.h"
#include "crypto/primitives.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

const backup::ChainId kChain{"abcd1234", "acme"};

const backup::ChainKeys& Keys() {
  static const auto* keys = new backup::ChainKeys(
      std::move(backup::ChainKeys::Derive(crypto::SecretKey::FromBytes(Bytes(32, 6)))).value());
  return *keys;
}

void Decode(std::string_view object) {
  auto entry = backup::DecodeManifestEntry(object, kChain, *Keys().verifier);
  if (!entry.ok()) {
    FUZZ_CHECK(entry.status().code() == Code::kDataLoss);
    return;
  }
  auto encoded = backup::EncodeManifestEntry(*entry, kChain, *Keys().signer);
  FUZZ_CHECK(encoded.ok());
  auto again = backup::DecodeManifestEntry(*encoded, kChain, *Keys().verifier);
  FUZZ_CHECK(again.ok());
  auto encoded_again = backup::EncodeManifestEntry(*again, kChain, *Keys().signer);
  FUZZ_CHECK(encoded_again.ok());
  // Ed25519 signatures are deterministic: the same entry gives the same object.
  FUZZ_CHECK(*encoded_again == *encoded);
  FUZZ_CHECK(!backup::DecodeManifestEntry(*encoded, backup::ChainId{"abcd1234", "globex"},
                                          *Keys().verifier)
                  .ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = fuzz::Text(data + 1, size - 1);
  uint64_t n = 0;
  if (backup::ParseManifestName(rest, &n)) {
    FUZZ_CHECK(backup::ManifestName(kChain, n) == backup::ChainPrefix(kChain) + std::string(rest));
  }
  if ((data[0] & 1) == 0) {
    Decode(rest);
    return 0;
  }
  std::string text(backup::format::kManifestSigLabel);
  text.append(rest);
  auto signature = Keys().signer->Sign(AsBytes(text));
  FUZZ_CHECK(signature.ok());
  Decode(std::string(rest) + "\n" + crypto::Base64Encode(*signature) + "\n");
  return 0;
}
