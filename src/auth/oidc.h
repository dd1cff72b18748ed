#pragma once
// OidcVerifier: verifies access tokens from the external OpenID Connect providers a tenant
// trusts (tenancy/issuers.h), e.g. Pro Santé Connect or a hospital's identity provider.
//
// For each trusted issuer it reads the discovery document ({issuer}/.well-known/
// openid-configuration, whose "issuer" must equal the configured one exactly and whose
// "jwks_uri" must be https, or http on a loopback host), then the JWK set, and keeps the keys
// for Options::jwks_max_age_seconds. A token whose "kid" is not in the set makes it fetch the
// set again, at most once per Options::refetch_interval_seconds per issuer (a flood of tokens
// with made-up kids costs the provider one request per interval). When a refresh fails, the keys
// already held stay in use for Options::jwks_stale_seconds past their age; a provider never
// reached gives kUnavailable, retried at most once per interval.
//
// A token is accepted only when: it is a strict compact JWS (auth/jwt.h: canonical base64url,
// no duplicate JSON members, no "crit", at most Options::max_token_bytes); "alg" is RS256,
// ES256 or EdDSA (never "none" or HMAC) and fits the key named by "kid" (a key whose JWK names
// an alg verifies only that alg); the signature holds; "iss" is one of the tenant's trusted
// issuers; "aud" (string or array) holds that issuer's audience; "exp" is present and not past,
// "nbf" and "iat" not in the future, all with the clock skew (default 60 s, at most 300).
//
// Claims are mapped by the issuer's configuration: the tenant always comes from the
// configuration (a token never chooses its tenant); scope from scope_claim (a space-separated
// string or an array of strings); role from roles_claim through role_map (the first of the
// token's roles, in its order, that the map knows; with an empty map, a role that is already a
// Hygie role is kept as is), else default_role; patient from patient_claim (a FHIR id);
// professional id from professional_id_claim; sub; client_id, else azp; jti.
//
// Verified tokens are cached (LRU by SHA-256 of tenant and token text, Options::cache_capacity
// entries); expiry and not-before are checked again on every use. SetIssuers clears the cache.
//
// Failures are kUnauthenticated with a short reason that never echoes the token, or
// kUnavailable when the provider's keys cannot be fetched.
//
// Thread-safety: thread-safe. The fetcher is called without any lock held by other issuers'
// verifications; fetches for one issuer are serialized.

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/token.h"
#include "core/clock.h"
#include "core/status.h"
#include "tenancy/issuers.h"

namespace hygie::auth {

using TrustedIssuer = tenancy::TrustedIssuer;

// Fetches a URL with GET and returns the body of a 200 answer (http/client.h's HttpGet in the
// server; a fake in tests). Must be safe to call from several threads.
using Fetcher = std::function<Result<std::string>(const std::string& url)>;

// The "iss" of a token, read without verifying anything (to choose a verifier); nullopt when
// the token is not a well-formed JWS or has no string "iss".
std::optional<std::string> UnverifiedIssuer(std::string_view token);

// Who an unverified token claims to be, for limiting failed authentications per client:
// "<iss> <client_id or azp or sub>"; nullopt when the token is not a well-formed JWS. Never
// trust it for anything else.
std::optional<std::string> UnverifiedClient(std::string_view token);

class OidcVerifier {
 public:
  struct Options {
    int64_t clock_skew_seconds = 60;  // clamped to [0, kMaxClockSkewSeconds]
    int64_t jwks_max_age_seconds = 3600;
    int64_t refetch_interval_seconds = 30;
    int64_t jwks_stale_seconds = 6 * 3600;
    size_t cache_capacity = 10000;  // 0 disables the cache of verified tokens
    size_t max_token_bytes = 16384;
    size_t max_document_bytes = 1 << 20;  // discovery document and JWK set
  };
  static constexpr int64_t kMaxClockSkewSeconds = 300;

  // `clock` must outlive the verifier. No issuer is trusted until SetIssuers.
  OidcVerifier(Options options, Fetcher fetcher, const Clock& clock);
  OidcVerifier(const OidcVerifier&) = delete;
  OidcVerifier& operator=(const OidcVerifier&) = delete;

  // Replaces the trusted issuers of every tenant. kInvalidArgument (and nothing changes) when
  // one does not validate or a tenant lists an issuer twice. Keys already fetched for issuers
  // that stay are kept; the cache of verified tokens is cleared.
  Status SetIssuers(std::vector<TrustedIssuer> issuers);
  std::vector<TrustedIssuer> Issuers() const;
  bool TrustsAnyIssuer(std::string_view tenant) const;

  // Verifies `token` for `tenant`: the issuer is chosen by the token's (unverified) "iss" among
  // that tenant's trusted issuers; an issuer the tenant does not trust gives kUnauthenticated
  // "token issuer not trusted".
  Result<std::shared_ptr<const Claims>> Verify(std::string_view token,
                                               std::string_view tenant) const;

 private:
  struct IssuerState;
  struct KeySet;

  Result<std::shared_ptr<const Claims>> VerifyUncached(std::string_view token,
                                                       std::string_view tenant) const;
  std::shared_ptr<IssuerState> StateOf(const std::string& issuer) const;
  // The keys of an issuer: cached, or fetched when missing, too old, or (force) when a kid was
  // not found, within the rate limit.
  Result<std::shared_ptr<const KeySet>> Keys(const TrustedIssuer& issuer, IssuerState& state,
                                             bool force) const;
  Result<std::shared_ptr<const KeySet>> Fetch(const TrustedIssuer& issuer) const;

  Options options_;
  Fetcher fetcher_;
  const Clock& clock_;

  mutable std::mutex mu_;
  // GUARDED_BY(mu_): the configuration, tenant -> its issuers.
  std::map<std::string, std::vector<TrustedIssuer>, std::less<>> issuers_;
  // GUARDED_BY(mu_): per issuer URL, its keys and fetch state.
  mutable std::map<std::string, std::shared_ptr<IssuerState>> states_;

  ClaimsCache cache_;  // by SHA-256(tenant, token)
};

}  // namespace hygie::auth
