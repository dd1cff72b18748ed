#pragma once
// Verification keys read from JSON Web Keys (RFC 7517, RFC 7518, RFC 8037), for tokens signed
// by external OpenID Connect providers:
//   kty "RSA" (n, e; modulus of 2048 to 8192 bits)      -> RS256 (RSASSA-PKCS1-v1_5, SHA-256)
//   kty "EC", crv "P-256" (x, y; point on the curve)    -> ES256 (JOSE raw r||s, 64 bytes)
//   kty "OKP", crv "Ed25519" (x)                        -> EdDSA
// Members are read strictly: canonical base64url without padding, the right lengths, no private
// members ("d", "p", ...: a JWK set that publishes private keys is refused). "use", when
// present, must be "sig"; "alg", when present, is the only algorithm the key verifies and must
// match the key type; "key_ops", when present, must hold "verify".
//
// ParseJwks reads a JWK set and skips, rather than fails on, the keys it cannot use (another
// kty or curve, "use":"enc", an algorithm other than RS256/ES256/EdDSA, a malformed or too
// small key), so that one unusable key does not lock out the others.
//
// Thread-safety: JwkKey is immutable after parsing; copies share the OpenSSL key; Verify may be
// called from any number of threads.

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::crypto {

enum class JwkType { kRsa, kEc, kOkp };

inline constexpr int kMinRsaModulusBits = 2048;
inline constexpr int kMaxRsaModulusBits = 8192;
inline constexpr size_t kMaxJwksKeys = 64;

class JwkKey {
 public:
  JwkKey(const JwkKey&) = default;
  JwkKey& operator=(const JwkKey&) = default;
  JwkKey(JwkKey&&) noexcept = default;
  JwkKey& operator=(JwkKey&&) noexcept = default;
  ~JwkKey();

  // kInvalidArgument with a reason for any JWK this class does not accept.
  static Result<JwkKey> Parse(const rapidjson::Value& jwk);
  static Result<JwkKey> ParseText(std::string_view json);

  JwkType type() const { return type_; }
  // "kid" ("" when absent).
  const std::string& kid() const { return kid_; }
  // "alg" when the JWK names one, else "".
  const std::string& alg() const { return alg_; }
  // The algorithm this key's type verifies: "RS256", "ES256" or "EdDSA".
  std::string_view NaturalAlg() const;
  // True when `alg` is the algorithm of this key's type and, if the JWK names an alg, that one.
  bool Allows(std::string_view alg) const;
  // RSA modulus size in bits (0 for other types).
  int rsa_bits() const { return rsa_bits_; }

  // Ok only for a valid signature of signing_input by this key under `alg`. kInvalidArgument
  // when the key does not allow `alg`, kUnauthenticated for a bad signature (any length).
  Status Verify(std::string_view alg, ByteView signing_input, ByteView signature) const;

 private:
  struct Pkey;
  JwkKey() = default;
  JwkType type_ = JwkType::kRsa;
  std::string kid_;
  std::string alg_;
  int rsa_bits_ = 0;
  std::shared_ptr<const Pkey> pkey_;
};

struct JwkSet {
  std::vector<JwkKey> keys;
  size_t skipped = 0;  // keys present in the set but not usable here
};

// A JWK set ({"keys":[...]}); kInvalidArgument when the text is not a JSON object with a
// "keys" array (or holds duplicate member names), or holds more than kMaxJwksKeys keys.
Result<JwkSet> ParseJwks(std::string_view json);

}  // namespace hygie::crypto
