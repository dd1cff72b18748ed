#include "auth/oidc.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "auth/jwt.h"
#include "core/bytes.h"
#include "core/log.h"
#include "crypto/jwk.h"
#include "crypto/primitives.h"

namespace hygie::auth {

struct OidcVerifier::KeySet {
  std::vector<crypto::JwkKey> keys;
};

struct OidcVerifier::IssuerState {
  std::mutex fetch_mu;  // serializes fetches for this issuer; taken before mu
  std::mutex mu;
  // GUARDED_BY(mu)
  std::shared_ptr<const KeySet> keys;
  int64_t fetched_at = 0;  // seconds; when `keys` were fetched
  int64_t last_attempt = std::numeric_limits<int64_t>::min() / 2;  // seconds
  Status last_error = Status::Ok();
  uint64_t attempts = 0;  // fetches finished (a waiter that sees it move uses their result)
};

namespace {

constexpr std::string_view kAllowedAlgs[] = {"RS256", "ES256", "EdDSA"};
constexpr size_t kMaxClaimBytes = 4096;

using jwt::kMalformed;
using jwt::Refuse;

// A claim by name; when no top-level member has the name and it holds dots, the dotted path
// into nested objects ("realm_access.roles").
const rapidjson::Value* FindClaim(const rapidjson::Value& payload, std::string_view name) {
  if (name.empty()) return nullptr;
  if (const rapidjson::Value* v = jwt::FindMember(payload, name); v != nullptr) return v;
  const rapidjson::Value* at = &payload;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string_view part = name.substr(start, dot - start);
    if (part.empty() || !at->IsObject()) return nullptr;
    at = jwt::FindMember(*at, part);
    if (at == nullptr) return nullptr;
    if (dot == std::string_view::npos) return at;
    start = dot + 1;
  }
}

bool CleanText(std::string_view text) {
  return text.size() <= kMaxClaimBytes && text.find('\0') == std::string_view::npos;
}

// A string claim, or a list of strings: every value, in order. Absent: empty. Anything else
// is malformed.
Status ReadStrings(const rapidjson::Value& payload, std::string_view name,
                   std::vector<std::string>* out) {
  const rapidjson::Value* v = FindClaim(payload, name);
  if (v == nullptr) return Status::Ok();
  if (v->IsString()) {
    if (!CleanText(jwt::StringOf(*v))) return Refuse(kMalformed);
    out->emplace_back(jwt::StringOf(*v));
    return Status::Ok();
  }
  if (!v->IsArray()) return Refuse(kMalformed);
  for (const auto& e : v->GetArray()) {
    if (!e.IsString() || !CleanText(jwt::StringOf(e))) return Refuse(kMalformed);
    out->emplace_back(jwt::StringOf(e));
  }
  return Status::Ok();
}

// A string claim (nested names allowed); absent leaves *out alone.
Status ReadString(const rapidjson::Value& payload, std::string_view name, std::string* out,
                  bool* present) {
  *present = false;
  const rapidjson::Value* v = FindClaim(payload, name);
  if (v == nullptr) return Status::Ok();
  if (!v->IsString() || !CleanText(jwt::StringOf(*v))) return Refuse(kMalformed);
  *out = std::string(jwt::StringOf(*v));
  *present = true;
  return Status::Ok();
}

// FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool IsFhirId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c < 0x7f; });
}

std::string DiscoveryUrl(std::string_view issuer) {
  std::string base(issuer);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/.well-known/openid-configuration";
}

Status CheckTimes(const Claims& c, int64_t now, int64_t skew) {
  return jwt::CheckTimes(c.expires_at, c.not_before, c.issued_at, now, skew);
}

}  // namespace

std::optional<std::string> UnverifiedIssuer(std::string_view token) {
  Result<jwt::CompactJws> jws = jwt::ParseCompactJws(token, kAllowedAlgs);
  if (!jws.ok()) {
    // The built-in issuer's algorithms are a subset; anything else is not a token we read.
    return std::nullopt;
  }
  rapidjson::Document payload;
  if (!jwt::ParseObject(jws->payload, &payload).ok()) return std::nullopt;
  std::string iss;
  bool present = false;
  if (!jwt::ReadOptionalString(payload, "iss", &iss, &present).ok() || !present) {
    return std::nullopt;
  }
  return iss;
}

std::optional<std::string> UnverifiedClient(std::string_view token) {
  // Any algorithm name: a forged token must still count against the client it names.
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= token.size(); ++i) {
    if (i == token.size() || token[i] == '.') {
      parts.push_back(token.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 3 || parts[1].size() > 16384) return std::nullopt;
  Result<Bytes> bytes = jwt::DecodeSegment(parts[1]);
  if (!bytes.ok()) return std::nullopt;
  rapidjson::Document payload;
  if (!jwt::ParseObject(*bytes, &payload).ok()) return std::nullopt;
  std::string iss;
  std::string who;
  bool present = false;
  (void)jwt::ReadOptionalString(payload, "iss", &iss);
  for (const char* name : {"client_id", "azp", "sub"}) {
    if (jwt::ReadOptionalString(payload, name, &who, &present).ok() && present && !who.empty()) {
      break;
    }
  }
  if (iss.empty() && who.empty()) return std::nullopt;
  return iss.substr(0, 256) + " " + who.substr(0, 256);
}

OidcVerifier::OidcVerifier(Options options, Fetcher fetcher, const Clock& clock)
    : options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      clock_(clock),
      cache_(options_.cache_capacity, clock) {
  options_.clock_skew_seconds =
      std::clamp<int64_t>(options_.clock_skew_seconds, 0, kMaxClockSkewSeconds);
  options_.refetch_interval_seconds = std::max<int64_t>(options_.refetch_interval_seconds, 1);
  options_.jwks_max_age_seconds =
      std::max<int64_t>(options_.jwks_max_age_seconds, options_.refetch_interval_seconds);
  options_.jwks_stale_seconds = std::max<int64_t>(options_.jwks_stale_seconds, 0);
}

Status OidcVerifier::SetIssuers(std::vector<TrustedIssuer> issuers) {
  std::map<std::string, std::vector<TrustedIssuer>, std::less<>> by_tenant;
  std::set<std::pair<std::string, std::string>> seen;
  for (TrustedIssuer& t : issuers) {
    HYGIE_RETURN_IF_ERROR(tenancy::ValidateTrustedIssuer(t));
    if (!seen.emplace(t.tenant, t.issuer).second) {
      return InvalidArgument("tenant " + t.tenant + " lists issuer " + t.issuer + " twice");
    }
    by_tenant[t.tenant].push_back(std::move(t));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    issuers_ = std::move(by_tenant);
    // Forget the keys of issuers no tenant trusts any more.
    for (auto it = states_.begin(); it != states_.end();) {
      bool used = false;
      for (const auto& [tenant, list] : issuers_) {
        for (const TrustedIssuer& t : list) used = used || t.issuer == it->first;
      }
      it = used ? std::next(it) : states_.erase(it);
    }
  }
  cache_.Clear();
  return Status::Ok();
}

std::vector<TrustedIssuer> OidcVerifier::Issuers() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TrustedIssuer> out;
  for (const auto& [tenant, list] : issuers_) out.insert(out.end(), list.begin(), list.end());
  return out;
}

bool OidcVerifier::TrustsAnyIssuer(std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  return issuers_.find(tenant) != issuers_.end();
}

Result<std::shared_ptr<const Claims>> OidcVerifier::Verify(std::string_view token,
                                                           std::string_view tenant) const {
  if (token.size() > options_.max_token_bytes) return Refuse("token too large");
  if (!cache_.enabled()) return VerifyUncached(token, tenant);

  // The tenant is part of the key: a token verified for one tenant says nothing for another.
  std::string keyed(tenant);
  keyed.push_back('\0');
  keyed.append(token);
  const std::string key = HexEncode(crypto::Sha256(AsBytes(keyed)));
  if (auto hit = cache_.Find(key, options_.clock_skew_seconds)) return *hit;
  HYGIE_ASSIGN_OR_RETURN(std::shared_ptr<const Claims> claims, VerifyUncached(token, tenant));
  return cache_.Insert(key, std::move(claims));
}

std::shared_ptr<OidcVerifier::IssuerState> OidcVerifier::StateOf(const std::string& issuer) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<IssuerState>& state = states_[issuer];
  if (!state) state = std::make_shared<IssuerState>();
  return state;
}

Result<std::shared_ptr<const OidcVerifier::KeySet>> OidcVerifier::Fetch(
    const TrustedIssuer& issuer) const {
  const std::string discovery_url = DiscoveryUrl(issuer.issuer);
  Result<std::string> discovery = fetcher_(discovery_url);
  if (!discovery.ok()) {
    return Unavailable("cannot fetch " + discovery_url + ": " + discovery.status().message());
  }
  if (discovery->size() > options_.max_document_bytes) {
    return Unavailable(discovery_url + " is too large");
  }
  rapidjson::Document doc;
  if (!jwt::ParseObject(AsBytes(*discovery), &doc).ok()) {
    return Unavailable(discovery_url + " is not a JSON object");
  }
  std::string doc_issuer;
  std::string jwks_uri;
  bool present = false;
  if (!jwt::ReadOptionalString(doc, "issuer", &doc_issuer, &present).ok() || !present ||
      doc_issuer != issuer.issuer) {
    // OpenID Connect Discovery 1.0, section 4.3: the issuers must be identical.
    return Unavailable(discovery_url + " names another issuer");
  }
  if (!jwt::ReadOptionalString(doc, "jwks_uri", &jwks_uri, &present).ok() || !present) {
    return Unavailable(discovery_url + " has no jwks_uri");
  }
  if (Status secure = tenancy::CheckSecureUrl(jwks_uri); !secure.ok()) {
    return Unavailable(discovery_url + ": jwks_uri refused: " + secure.message());
  }
  Result<std::string> jwks = fetcher_(jwks_uri);
  if (!jwks.ok()) return Unavailable("cannot fetch " + jwks_uri + ": " + jwks.status().message());
  if (jwks->size() > options_.max_document_bytes) return Unavailable(jwks_uri + " is too large");
  Result<crypto::JwkSet> set = crypto::ParseJwks(*jwks);
  if (!set.ok()) return Unavailable(jwks_uri + ": " + set.status().message());
  if (set->skipped > 0) {
    log::Debug("{}: {} keys of the JWK set skipped (not usable for RS256, ES256 or EdDSA)",
               jwks_uri, set->skipped);
  }
  auto keys = std::make_shared<KeySet>();
  keys->keys = std::move(set->keys);
  return std::shared_ptr<const KeySet>(std::move(keys));
}

Result<std::shared_ptr<const OidcVerifier::KeySet>> OidcVerifier::Keys(const TrustedIssuer& issuer,
                                                                       IssuerState& state,
                                                                       bool force) const {
  uint64_t seen_attempt = 0;
  {
    const int64_t now = clock_.NowSeconds();
    std::lock_guard<std::mutex> lock(state.mu);
    const bool fresh = state.keys && now - state.fetched_at < options_.jwks_max_age_seconds;
    const bool limited = now - state.last_attempt < options_.refetch_interval_seconds;
    if (fresh && (!force || limited)) return state.keys;
    if (limited) {
      // A fetch was tried moments ago: use what it left.
      if (state.keys &&
          now - state.fetched_at < options_.jwks_max_age_seconds + options_.jwks_stale_seconds) {
        return state.keys;
      }
      if (!state.last_error.ok()) return state.last_error;
      if (state.keys) return Unavailable("keys of " + issuer.issuer + " are too old");
    }
    seen_attempt = state.attempts;
  }

  std::lock_guard<std::mutex> fetch_lock(state.fetch_mu);
  {
    // Another thread may have fetched while this one waited.
    std::lock_guard<std::mutex> lock(state.mu);
    if (state.attempts != seen_attempt) {
      const int64_t now = clock_.NowSeconds();
      if (state.keys &&
          (state.last_error.ok() ||
           now - state.fetched_at < options_.jwks_max_age_seconds + options_.jwks_stale_seconds)) {
        return state.keys;
      }
      if (!state.last_error.ok()) return state.last_error;
    }
    state.last_attempt = clock_.NowSeconds();
  }
  Result<std::shared_ptr<const KeySet>> fetched = Fetch(issuer);
  const int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(state.mu);
  ++state.attempts;
  if (fetched.ok()) {
    state.keys = *fetched;
    state.fetched_at = now;
    state.last_error = Status::Ok();
    return state.keys;
  }
  log::Warn("trusted issuer {}: {}", issuer.issuer, fetched.status().message());
  state.last_error = fetched.status();
  if (state.keys &&
      now - state.fetched_at < options_.jwks_max_age_seconds + options_.jwks_stale_seconds) {
    return state.keys;
  }
  return fetched.status();
}

Result<std::shared_ptr<const Claims>> OidcVerifier::VerifyUncached(std::string_view token,
                                                                   std::string_view tenant) const {
  HYGIE_ASSIGN_OR_RETURN(jwt::CompactJws jws, jwt::ParseCompactJws(token, kAllowedAlgs));
  // The payload is read before the signature is checked, only to learn which issuer (hence
  // which keys) to check it with; nothing else in it is used until the signature holds.
  rapidjson::Document payload;
  HYGIE_RETURN_IF_ERROR(jwt::ParseObject(jws.payload, &payload));
  std::string iss;
  bool present = false;
  HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalString(payload, "iss", &iss, &present));
  if (!present) return Refuse("token issuer not trusted");

  std::optional<TrustedIssuer> issuer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = issuers_.find(tenant);
    if (it != issuers_.end()) {
      for (const TrustedIssuer& t : it->second) {
        if (t.issuer == iss) issuer = t;
      }
    }
  }
  if (!issuer) return Refuse("token issuer not trusted");
  const std::shared_ptr<IssuerState> state = StateOf(issuer->issuer);

  // The keys that may have signed it: the one named by kid (or, without a kid, every key) that
  // verifies the token's alg.
  auto candidates = [&](const KeySet& set) {
    std::vector<const crypto::JwkKey*> out;
    for (const crypto::JwkKey& k : set.keys) {
      if ((!jws.kid || k.kid() == *jws.kid) && k.Allows(jws.alg)) out.push_back(&k);
    }
    return out;
  };
  HYGIE_ASSIGN_OR_RETURN(std::shared_ptr<const KeySet> keys, Keys(*issuer, *state, false));
  std::vector<const crypto::JwkKey*> found = candidates(*keys);
  if (found.empty()) {
    // Perhaps the provider rotated its keys: fetch again (rate-limited).
    HYGIE_ASSIGN_OR_RETURN(keys, Keys(*issuer, *state, true));
    found = candidates(*keys);
  }
  if (found.empty()) return Refuse("unknown signing key");
  bool verified = false;
  for (const crypto::JwkKey* k : found) {
    if (k->Verify(jws.alg, AsBytes(jws.signing_input), jws.signature).ok()) {
      verified = true;
      break;
    }
  }
  if (!verified) return Refuse("token signature invalid");

  auto claims = std::make_shared<Claims>();
  claims->issuer = iss;
  HYGIE_RETURN_IF_ERROR(jwt::CheckAudience(payload, issuer->audience));
  claims->audience = issuer->audience;
  HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalDate(payload, "exp", &claims->expires_at, &present));
  if (!present) return Refuse("token has no expiry");
  HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalDate(payload, "nbf", &claims->not_before, &present));
  HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalDate(payload, "iat", &claims->issued_at, &present));
  HYGIE_RETURN_IF_ERROR(CheckTimes(*claims, clock_.NowSeconds(), options_.clock_skew_seconds));

  // The tenant is the configuration's, whatever the token says.
  claims->tenant = issuer->tenant;
  HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalString(payload, "sub", &claims->subject));
  HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalString(payload, "jti", &claims->jwt_id));
  HYGIE_RETURN_IF_ERROR(
      jwt::ReadOptionalString(payload, "client_id", &claims->client_id, &present));
  if (!present) HYGIE_RETURN_IF_ERROR(jwt::ReadOptionalString(payload, "azp", &claims->client_id));

  std::vector<std::string> scopes;
  HYGIE_RETURN_IF_ERROR(ReadStrings(payload, issuer->scope_claim, &scopes));
  for (const std::string& s : scopes) {
    if (s.empty()) continue;
    if (!claims->scope.empty()) claims->scope += ' ';
    claims->scope += s;
  }

  // How the person signed in, for the admin API's multi-factor rule.
  std::vector<std::string> acr;
  HYGIE_RETURN_IF_ERROR(ReadStrings(payload, "acr", &acr));
  if (acr.size() > 1) return Refuse(kMalformed);
  if (!acr.empty()) claims->acr = std::move(acr.front());
  HYGIE_RETURN_IF_ERROR(ReadStrings(payload, "amr", &claims->amr));
  if (claims->amr.size() > 16) return Refuse(kMalformed);

  if (!issuer->roles_claim.empty()) {
    std::vector<std::string> roles;
    HYGIE_RETURN_IF_ERROR(ReadStrings(payload, issuer->roles_claim, &roles));
    for (const std::string& r : roles) {
      if (issuer->role_map.empty()) {
        if (tenancy::IsGrantableRole(r)) {
          claims->role = r;
          break;
        }
      } else if (const auto it = issuer->role_map.find(r); it != issuer->role_map.end()) {
        claims->role = it->second;
        break;
      }
    }
  }
  if (claims->role.empty()) claims->role = issuer->default_role;

  if (!issuer->patient_claim.empty()) {
    std::string patient;
    HYGIE_RETURN_IF_ERROR(ReadString(payload, issuer->patient_claim, &patient, &present));
    if (present) {
      if (!IsFhirId(patient)) return Refuse("token patient claim invalid");
      claims->patient = std::move(patient);
    }
  }
  if (!issuer->professional_id_claim.empty()) {
    HYGIE_RETURN_IF_ERROR(
        ReadString(payload, issuer->professional_id_claim, &claims->professional_id, &present));
    if (present && (claims->professional_id.empty() || claims->professional_id.size() > 64 ||
                    !IsPrintableAscii(claims->professional_id))) {
      return Refuse("token professional id claim invalid");
    }
  }
  return std::shared_ptr<const Claims>(std::move(claims));
}

}  // namespace hygie::auth
