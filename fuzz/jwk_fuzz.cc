// The JWK readers (crypto/jwk.h: one key, a JWK set) and the public key from JWK fields
// (crypto/signing.h). Input: a JWK or JWK set document.
// Invariants: refusals are kInvalidArgument; a set holds at most kMaxJwksKeys keys; a key read
// verifies no made-up signature and allows only its own algorithm.
#include <string>

#include "crypto/jwk.h"
#include "crypto/signing.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

void CheckKey(const crypto::JwkKey& key) {
  FUZZ_CHECK(key.Allows(key.NaturalAlg()) || !key.alg().empty());
  FUZZ_CHECK(!key.Allows("none") && !key.Allows("HS256"));
  if (key.type() == crypto::JwkType::kRsa) {
    FUZZ_CHECK(key.rsa_bits() >= crypto::kMinRsaModulusBits &&
               key.rsa_bits() <= crypto::kMaxRsaModulusBits);
  }
  const std::string input = "eyJhbGciOiJFUzI1NiJ9.e30";
  for (size_t n : {0, 1, 64, 256}) {
    Bytes signature(n, 0x41);
    Status s = key.Verify(key.NaturalAlg(), AsBytes(input), signature);
    FUZZ_CHECK(!s.ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::Text(data, size);
  auto key = crypto::JwkKey::ParseText(text);
  if (key.ok()) {
    CheckKey(*key);
  } else {
    FUZZ_CHECK(key.status().code() == Code::kInvalidArgument);
  }
  auto set = crypto::ParseJwks(text);
  if (set.ok()) {
    FUZZ_CHECK(set->keys.size() <= crypto::kMaxJwksKeys);
    for (const crypto::JwkKey& k : set->keys) CheckKey(k);
  } else {
    FUZZ_CHECK(set.status().code() == Code::kInvalidArgument);
  }
  std::vector<std::string_view> f = fuzz::Parts(text, 4);
  (void)crypto::PublicKey::FromJwkFields(f[0], f[1], f[2], f[3]);
  return 0;
}
