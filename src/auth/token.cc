#include "auth/token.h"

#include <rapidjson/document.h>
#include <rapidjson/encodings.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <utility>

#include "auth/jwt.h"
#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::auth {
namespace {

using JsonWriter =
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                      rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

using jwt::kMalformed;
using jwt::kMaxNumericDate;
using jwt::ReadOptionalDate;
using jwt::ReadOptionalString;
using jwt::Refuse;

// The time checks, done on every verification including cache hits.
Status CheckTimes(const Claims& claims, int64_t now, int64_t skew) {
  return jwt::CheckTimes(claims.expires_at, claims.not_before, claims.issued_at, now, skew);
}

bool WriteString(JsonWriter& writer, std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return false;
  return writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

bool WriteMember(JsonWriter& writer, std::string_view name, std::string_view value) {
  return WriteString(writer, name) && WriteString(writer, value);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TokenIssuer

TokenIssuer::TokenIssuer(crypto::SigningKey key, std::string issuer, std::string audience,
                         const Clock& clock)
    : key_(std::move(key)),
      public_(key_.Public()),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      clock_(clock) {}

Result<std::string> TokenIssuer::Issue(Claims claims, int64_t ttl_seconds) const {
  if (ttl_seconds <= 0) return InvalidArgument("token lifetime must be positive");
  if (claims.tenant.empty()) return InvalidArgument("token needs a tenant");
  const int64_t now = clock_.NowSeconds();
  if (now < 0 || ttl_seconds > kMaxNumericDate - now) {
    return InvalidArgument("token lifetime out of range");
  }
  if (claims.not_before < 0 || claims.not_before > kMaxNumericDate) {
    return InvalidArgument("token not-before out of range");
  }
  claims.issuer = issuer_;
  claims.audience = audience_;
  claims.issued_at = now;
  claims.expires_at = now + ttl_seconds;
  claims.jwt_id = crypto::RandomId();

  rapidjson::StringBuffer header_buffer;
  JsonWriter header(header_buffer);
  bool ok = header.StartObject() && WriteMember(header, "alg", crypto::AlgName(key_.alg())) &&
            WriteMember(header, "typ", "at+jwt") && WriteMember(header, "kid", public_.KeyId()) &&
            header.EndObject();
  if (!ok) return Internal("cannot write token header");

  rapidjson::StringBuffer payload_buffer;
  JsonWriter payload(payload_buffer);
  ok = payload.StartObject() && WriteMember(payload, "iss", claims.issuer) &&
       WriteMember(payload, "sub", claims.subject) &&
       WriteMember(payload, "aud", claims.audience) &&
       WriteMember(payload, "tenant", claims.tenant) && WriteMember(payload, "scope", claims.scope);
  if (ok && claims.patient) ok = WriteMember(payload, "patient", *claims.patient);
  if (ok && !claims.client_id.empty()) ok = WriteMember(payload, "client_id", claims.client_id);
  if (ok && !claims.role.empty()) ok = WriteMember(payload, "role", claims.role);
  if (ok && !claims.professional_id.empty()) {
    ok = WriteMember(payload, "professional_id", claims.professional_id);
  }
  if (ok && !claims.purpose_of_use.empty()) {
    ok = WriteMember(payload, "purpose_of_use", claims.purpose_of_use);
  }
  if (ok && !claims.acr.empty()) ok = WriteMember(payload, "acr", claims.acr);
  if (ok && !claims.amr.empty()) {
    ok = WriteString(payload, "amr") && payload.StartArray();
    for (const std::string& m : claims.amr) ok = ok && payload.String(m.data(), m.size());
    ok = ok && payload.EndArray();
  }
  ok = ok && WriteMember(payload, "jti", claims.jwt_id) && WriteString(payload, "iat") &&
       payload.Int64(claims.issued_at) && WriteString(payload, "exp") &&
       payload.Int64(claims.expires_at);
  if (ok && claims.not_before != 0) {
    ok = WriteString(payload, "nbf") && payload.Int64(claims.not_before);
  }
  ok = ok && payload.EndObject();
  // Strings that are not valid UTF-8 or hold a NUL character cannot be carried.
  if (!ok) return InvalidArgument("token claims are not valid text");

  std::string signing_input = crypto::Base64UrlEncode(
      AsBytes(std::string_view(header_buffer.GetString(), header_buffer.GetSize())));
  signing_input += '.';
  signing_input += crypto::Base64UrlEncode(
      AsBytes(std::string_view(payload_buffer.GetString(), payload_buffer.GetSize())));
  HYGIE_ASSIGN_OR_RETURN(Bytes signature, key_.Sign(AsBytes(signing_input)));
  signing_input += '.';
  signing_input += crypto::Base64UrlEncode(signature);
  return signing_input;
}

std::string TokenIssuer::JwksJson() const { return "{\"keys\":[" + public_.JwkJson() + "]}"; }

// ---------------------------------------------------------------------------------------------
// TokenVerifier

TokenVerifier::TokenVerifier(Options options, std::vector<crypto::PublicKey> keys,
                             const Clock& clock)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      clock_(clock),
      cache_(options_.cache_capacity, clock) {
  key_ids_.reserve(keys_.size());
  for (const crypto::PublicKey& key : keys_) key_ids_.push_back(key.KeyId());
}

Result<std::shared_ptr<const Claims>> TokenVerifier::Verify(std::string_view token) const {
  if (token.size() > options_.max_token_bytes) return Refuse("token too large");
  if (!cache_.enabled()) return VerifyUncached(token);

  const std::string key = HexEncode(crypto::Sha256(AsBytes(token)));
  if (auto hit = cache_.Find(key, options_.clock_skew_seconds)) return *hit;
  HYGIE_ASSIGN_OR_RETURN(std::shared_ptr<const Claims> claims, VerifyUncached(token));
  return cache_.Insert(key, std::move(claims));
}

std::optional<Result<std::shared_ptr<const Claims>>> ClaimsCache::Find(const std::string& key,
                                                                       int64_t skew_seconds) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  std::shared_ptr<const Claims> claims = it->second.first;
  Status times = CheckTimes(*claims, clock_.NowSeconds(), skew_seconds);
  if (!times.ok()) {
    lru_.erase(it->second.second);
    entries_.erase(it);
    return Result<std::shared_ptr<const Claims>>(times);
  }
  lru_.splice(lru_.begin(), lru_, it->second.second);
  return Result<std::shared_ptr<const Claims>>(std::move(claims));
}

std::shared_ptr<const Claims> ClaimsCache::Insert(const std::string& key,
                                                  std::shared_ptr<const Claims> claims) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(key);
  if (it != entries_.end()) {  // another thread verified the same token meanwhile
    lru_.splice(lru_.begin(), lru_, it->second.second);
    return it->second.first;
  }
  while (!lru_.empty() && entries_.size() >= capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  entries_.emplace(key, std::make_pair(claims, lru_.begin()));
  return claims;
}

void ClaimsCache::Clear() const {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  lru_.clear();
}

Result<std::shared_ptr<const Claims>> TokenVerifier::VerifyUncached(std::string_view token) const {
  if (token.size() > options_.max_token_bytes) return Refuse("token too large");

  static constexpr std::string_view kAllowedAlgs[] = {"ES256", "EdDSA"};
  HYGIE_ASSIGN_OR_RETURN(jwt::CompactJws jws, jwt::ParseCompactJws(token, kAllowedAlgs));

  // The key named by kid, of the token's algorithm.
  if (!jws.kid) return Refuse("unknown signing key");
  const crypto::PublicKey* key = nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (key_ids_[i] == *jws.kid && crypto::AlgName(keys_[i].alg()) == jws.alg) {
      key = &keys_[i];
      break;
    }
  }
  if (key == nullptr) return Refuse("unknown signing key");
  if (!key->Verify(AsBytes(jws.signing_input), jws.signature)) {
    return Refuse("token signature invalid");
  }

  // Payload: only read once the signature holds.
  rapidjson::Document payload;
  HYGIE_RETURN_IF_ERROR(jwt::ParseObject(jws.payload, &payload));
  auto claims = std::make_shared<Claims>();

  bool present = false;
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "iss", &claims->issuer, &present));
  if (!present || claims->issuer != options_.issuer) return Refuse("token issuer not trusted");

  HYGIE_RETURN_IF_ERROR(jwt::CheckAudience(payload, options_.audience));
  claims->audience = options_.audience;

  HYGIE_RETURN_IF_ERROR(ReadOptionalDate(payload, "exp", &claims->expires_at, &present));
  if (!present) return Refuse("token has no expiry");
  HYGIE_RETURN_IF_ERROR(ReadOptionalDate(payload, "nbf", &claims->not_before, &present));
  HYGIE_RETURN_IF_ERROR(ReadOptionalDate(payload, "iat", &claims->issued_at, &present));

  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "tenant", &claims->tenant));
  if (claims->tenant.empty()) return Refuse("token has no tenant");
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "sub", &claims->subject));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "scope", &claims->scope));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "client_id", &claims->client_id));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "role", &claims->role));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "professional_id", &claims->professional_id));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "purpose_of_use", &claims->purpose_of_use));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "jti", &claims->jwt_id));
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "acr", &claims->acr));
  if (const rapidjson::Value* amr = jwt::FindMember(payload, "amr")) {
    if (!amr->IsArray() || amr->Size() > 16) return Refuse("malformed token");
    for (const auto& m : amr->GetArray()) {
      if (!m.IsString() || m.GetStringLength() == 0 || m.GetStringLength() > 32) {
        return Refuse("malformed token");
      }
      claims->amr.emplace_back(jwt::StringOf(m));
    }
  }
  std::string patient;
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "patient", &patient, &present));
  if (present) claims->patient = std::move(patient);

  HYGIE_RETURN_IF_ERROR(CheckTimes(*claims, clock_.NowSeconds(), options_.clock_skew_seconds));
  return std::shared_ptr<const Claims>(std::move(claims));
}

}  // namespace hygie::auth
