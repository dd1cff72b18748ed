#pragma once
// Access tokens: JWTs signed with ES256 or EdDSA by the built-in issuer (and, later, by
// trusted OpenID Connect providers). TokenIssuer makes them; TokenVerifier checks them.
//
// Verification refuses: a malformed token, "alg" other than ES256/EdDSA (so "none" and HMAC
// algorithms are refused), an unknown "kid", a bad signature, a wrong "iss" or "aud", past
// "exp", future "nbf"/"iat" beyond the clock skew, and a missing "tenant" or "exp".
// Verified tokens are cached by SHA-256 of the token text; a cached entry is still checked
// for expiry on every use.
//
// Stricter than the RFCs require, on purpose: base64url segments must be canonical (no
// padding, no stray bits), header and payload must be JSON objects with no duplicate member
// names at any level (so a second "tenant" or "alg" cannot be smuggled past the parser), "typ"
// if present must be "at+jwt", "application/at+jwt" or "JWT", a "crit" header is refused, and
// numeric dates must lie between 0 and year 9999. Only successful verifications are cached
// (LRU, Options::cache_capacity entries; 0 disables the cache).
//
// Thread-safety: both classes are thread-safe.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "crypto/signing.h"

namespace hygie::auth {

struct Claims {
  std::string issuer;    // iss
  std::string subject;   // sub
  std::string audience;  // aud (a single string; an array is accepted when verifying if
                         // it contains the expected audience)
  std::string tenant;    // tenant (Hygie claim)
  std::string scope;     // scope, space-separated SMART scopes
  std::optional<std::string> patient;  // patient (SMART launch context)
  std::string client_id;               // client_id
  // role (Hygie claim): "practitioner", "service", "auditor", "tenant-admin", "host-operator"...
  // A host operator's accesses are marked as staff access in the audit trail.
  std::string role;
  std::string professional_id;  // professional_id (Hygie claim): e.g. an RPPS or IDNPS number
  std::string purpose_of_use;   // purpose_of_use (Hygie claim), e.g. "TREAT"
  // How the person signed in (OpenID Connect): acr, the authentication context class, and amr,
  // the methods (RFC 8176: "pwd", "otp", "hwk", "mfa"...). The admin API looks at them.
  std::string acr;
  std::vector<std::string> amr;
  std::string jwt_id;      // jti
  int64_t issued_at = 0;   // iat, seconds
  int64_t not_before = 0;  // nbf, seconds (0: absent)
  int64_t expires_at = 0;  // exp, seconds
};

// The verified tokens' claims, kept by a digest of the token (and of whatever the verifier binds
// it to), least recently used dropped first. A hit has its times checked again: an expired entry
// is dropped and refused. Shared by the built-in and the OpenID Connect verifiers. Thread-safe.
class ClaimsCache {
 public:
  ClaimsCache(size_t capacity, const Clock& clock) : capacity_(capacity), clock_(clock) {}
  bool enabled() const { return capacity_ > 0; }
  // The claims cached under `key`, rechecked against `skew_seconds` of clock skew; nullopt on a
  // miss.
  std::optional<Result<std::shared_ptr<const Claims>>> Find(const std::string& key,
                                                            int64_t skew_seconds) const;
  // Keeps `claims` under `key` and returns them (or the entry another thread kept meanwhile).
  std::shared_ptr<const Claims> Insert(const std::string& key,
                                       std::shared_ptr<const Claims> claims) const;
  void Clear() const;

 private:
  size_t capacity_;
  const Clock& clock_;
  mutable std::mutex mu_;
  // GUARDED_BY(mu_): key -> claims; LRU order in lru_ (most recent first).
  mutable std::unordered_map<
      std::string, std::pair<std::shared_ptr<const Claims>, std::list<std::string>::iterator>>
      entries_;
  mutable std::list<std::string> lru_;
};

class TokenIssuer {
 public:
  TokenIssuer(crypto::SigningKey key, std::string issuer, std::string audience, const Clock& clock);
  // Fills iss, aud, iat, exp = now + ttl_seconds and a random jti, then signs. The header
  // carries alg and kid (the key's RFC 7638 thumbprint) and typ "at+jwt".
  Result<std::string> Issue(Claims claims, int64_t ttl_seconds) const;
  const crypto::PublicKey& public_key() const { return public_; }
  // {"keys":[<jwk>]}
  std::string JwksJson() const;

 private:
  crypto::SigningKey key_;
  crypto::PublicKey public_;
  std::string issuer_;
  std::string audience_;
  const Clock& clock_;
};

class TokenVerifier {
 public:
  struct Options {
    std::string issuer;
    std::string audience;
    int64_t clock_skew_seconds = 60;
    size_t cache_capacity = 100000;
    size_t max_token_bytes = 8192;
  };
  TokenVerifier(Options options, std::vector<crypto::PublicKey> keys, const Clock& clock);

  // kUnauthenticated with a short reason for any failure (the reason never echoes the token).
  Result<std::shared_ptr<const Claims>> Verify(std::string_view token) const;
  // The issuer ("iss") this verifier accepts.
  const std::string& issuer() const { return options_.issuer; }

 private:
  Result<std::shared_ptr<const Claims>> VerifyUncached(std::string_view token) const;
  Options options_;
  std::vector<crypto::PublicKey> keys_;
  std::vector<std::string> key_ids_;  // key_ids_[i] == keys_[i].KeyId(), computed once
  const Clock& clock_;
  ClaimsCache cache_;  // by SHA-256 of the token
};

}  // namespace hygie::auth
