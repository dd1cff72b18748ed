#include "auth/token.h"

#include <rapidjson/document.h>
#include <rapidjson/encodings.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::auth {
namespace {

// 9999-12-31T23:59:59Z: numeric dates beyond it (or negative) are refused, which also keeps
// every date comparison below far from integer overflow.
constexpr int64_t kMaxNumericDate = 253402300799;
// Nesting deeper than this in a header or payload is refused.
constexpr int kMaxJsonDepth = 16;

constexpr std::string_view kMalformed = "malformed token";

using JsonValue = rapidjson::Value;
using JsonWriter =
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                      rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

Status Refuse(std::string_view reason) { return Unauthenticated(std::string(reason)); }

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Strict base64url: non-empty, alphabet [A-Za-z0-9_-] only, no padding, canonical (the
// encoding of the decoded bytes gives back the same text, so no stray low bits).
Result<Bytes> DecodeSegment(std::string_view segment) {
  if (segment.empty()) return Refuse(kMalformed);
  for (char c : segment) {
    if (!IsBase64UrlChar(c)) return Refuse(kMalformed);
  }
  Result<Bytes> decoded = crypto::Base64UrlDecode(segment);
  if (!decoded.ok()) return Refuse(kMalformed);
  if (crypto::Base64UrlEncode(*decoded) != segment) return Refuse(kMalformed);
  return decoded;
}

// True if no object in `value` (recursively, up to kMaxJsonDepth) has two members with the
// same name.
bool NoDuplicateMembers(const JsonValue& value, int depth) {
  if (depth > kMaxJsonDepth) return false;
  if (value.IsObject()) {
    std::unordered_set<std::string_view> names;
    names.reserve(value.MemberCount());
    for (const auto& member : value.GetObject()) {
      const std::string_view name(member.name.GetString(), member.name.GetStringLength());
      if (!names.insert(name).second) return false;
      if (!NoDuplicateMembers(member.value, depth + 1)) return false;
    }
  } else if (value.IsArray()) {
    for (const auto& element : value.GetArray()) {
      if (!NoDuplicateMembers(element, depth + 1)) return false;
    }
  }
  return true;
}

// Parses a JSON object (valid UTF-8, nothing after it, no duplicate member names).
Status ParseObject(const Bytes& bytes, rapidjson::Document* doc) {
  doc->Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
      reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (doc->HasParseError() || !doc->IsObject() || !NoDuplicateMembers(*doc, 0)) {
    return Refuse(kMalformed);
  }
  return Status::Ok();
}

const JsonValue* FindMember(const JsonValue& object, std::string_view name) {
  const auto it = object.FindMember(
      JsonValue(rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string_view StringOf(const JsonValue& value) {
  return {value.GetString(), value.GetStringLength()};
}

// Reads an optional string claim. Absent: leaves *out alone. Present: must be a string with no
// NUL character.
Status ReadOptionalString(const JsonValue& payload, std::string_view name, std::string* out,
                          bool* present = nullptr) {
  const JsonValue* value = FindMember(payload, name);
  if (present != nullptr) *present = value != nullptr;
  if (value == nullptr) return Status::Ok();
  if (!value->IsString()) return Refuse(kMalformed);
  const std::string_view text = StringOf(*value);
  if (text.find('\0') != std::string_view::npos) return Refuse(kMalformed);
  *out = std::string(text);
  return Status::Ok();
}

// Reads an optional NumericDate (RFC 7519: seconds, integer or not). Absent: *present = false.
Status ReadOptionalDate(const JsonValue& payload, std::string_view name, int64_t* out,
                        bool* present) {
  const JsonValue* value = FindMember(payload, name);
  *present = value != nullptr;
  if (value == nullptr) return Status::Ok();
  if (value->IsInt64()) {
    const int64_t seconds = value->GetInt64();
    if (seconds < 0 || seconds > kMaxNumericDate) return Refuse(kMalformed);
    *out = seconds;
    return Status::Ok();
  }
  if (value->IsDouble()) {
    const double seconds = value->GetDouble();
    // Written so that NaN fails too.
    if (!(seconds >= 0.0 && seconds <= static_cast<double>(kMaxNumericDate))) {
      return Refuse(kMalformed);
    }
    *out = static_cast<int64_t>(std::floor(seconds));
    return Status::Ok();
  }
  return Refuse(kMalformed);  // a string, a bool, or an integer too large for int64
}

// The time checks, done on every verification including cache hits.
Status CheckTimes(const Claims& claims, int64_t now, int64_t skew) {
  if (now - skew >= claims.expires_at) return Refuse("token expired");
  if (claims.not_before - skew > now) return Refuse("token not yet valid");
  if (claims.issued_at - skew > now) return Refuse("token not yet valid");
  return Status::Ok();
}

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
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
    : options_(std::move(options)), keys_(std::move(keys)), clock_(clock) {
  key_ids_.reserve(keys_.size());
  for (const crypto::PublicKey& key : keys_) key_ids_.push_back(key.KeyId());
}

Result<std::shared_ptr<const Claims>> TokenVerifier::Verify(std::string_view token) const {
  if (token.size() > options_.max_token_bytes) return Refuse("token too large");
  if (options_.cache_capacity == 0) return VerifyUncached(token);

  const std::string key = HexEncode(crypto::Sha256(AsBytes(token)));
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      std::shared_ptr<const Claims> claims = it->second.first;
      Status times = CheckTimes(*claims, clock_.NowSeconds(), options_.clock_skew_seconds);
      if (!times.ok()) {
        cache_lru_.erase(it->second.second);
        cache_.erase(it);
        return times;
      }
      cache_lru_.splice(cache_lru_.begin(), cache_lru_, it->second.second);
      return claims;
    }
  }

  HYGIE_ASSIGN_OR_RETURN(std::shared_ptr<const Claims> claims, VerifyUncached(token));

  std::lock_guard<std::mutex> lock(cache_mu_);
  const auto it = cache_.find(key);
  if (it != cache_.end()) {  // another thread verified the same token meanwhile
    cache_lru_.splice(cache_lru_.begin(), cache_lru_, it->second.second);
    return it->second.first;
  }
  while (!cache_lru_.empty() && cache_.size() >= options_.cache_capacity) {
    cache_.erase(cache_lru_.back());
    cache_lru_.pop_back();
  }
  cache_lru_.push_front(key);
  cache_.emplace(key, std::make_pair(claims, cache_lru_.begin()));
  return claims;
}

Result<std::shared_ptr<const Claims>> TokenVerifier::VerifyUncached(std::string_view token) const {
  if (token.size() > options_.max_token_bytes) return Refuse("token too large");

  // Exactly three segments: header.payload.signature.
  const size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return Refuse(kMalformed);
  const size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) return Refuse(kMalformed);
  if (token.find('.', second_dot + 1) != std::string_view::npos) return Refuse(kMalformed);
  const std::string_view signing_input = token.substr(0, second_dot);
  HYGIE_ASSIGN_OR_RETURN(Bytes header_bytes, DecodeSegment(token.substr(0, first_dot)));
  HYGIE_ASSIGN_OR_RETURN(Bytes payload_bytes,
                         DecodeSegment(token.substr(first_dot + 1, second_dot - first_dot - 1)));
  HYGIE_ASSIGN_OR_RETURN(Bytes signature, DecodeSegment(token.substr(second_dot + 1)));

  // Header: alg from the allow-list, then the key named by kid, of that same algorithm.
  rapidjson::Document header;
  HYGIE_RETURN_IF_ERROR(ParseObject(header_bytes, &header));
  const JsonValue* alg_value = FindMember(header, "alg");
  if (alg_value == nullptr || !alg_value->IsString()) return Refuse("token algorithm not allowed");
  const std::string_view alg = StringOf(*alg_value);
  if (alg != crypto::AlgName(crypto::SignatureAlg::kEs256) &&
      alg != crypto::AlgName(crypto::SignatureAlg::kEdDsa)) {
    return Refuse("token algorithm not allowed");
  }
  if (const JsonValue* typ = FindMember(header, "typ"); typ != nullptr) {
    if (!typ->IsString()) return Refuse(kMalformed);
    const std::string_view text = StringOf(*typ);
    if (!EqualsIgnoreAsciiCase(text, "at+jwt") &&
        !EqualsIgnoreAsciiCase(text, "application/at+jwt") && !EqualsIgnoreAsciiCase(text, "JWT")) {
      return Refuse("token type not allowed");
    }
  }
  // RFC 7515 section 4.1.11: extensions we do not understand must make the token invalid.
  if (FindMember(header, "crit") != nullptr) return Refuse("token header not supported");
  const JsonValue* kid_value = FindMember(header, "kid");
  if (kid_value == nullptr || !kid_value->IsString()) return Refuse("unknown signing key");
  const std::string_view kid = StringOf(*kid_value);
  const crypto::PublicKey* key = nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (key_ids_[i] == kid && crypto::AlgName(keys_[i].alg()) == alg) {
      key = &keys_[i];
      break;
    }
  }
  if (key == nullptr) return Refuse("unknown signing key");
  if (!key->Verify(AsBytes(signing_input), signature)) return Refuse("token signature invalid");

  // Payload: only read once the signature holds.
  rapidjson::Document payload;
  HYGIE_RETURN_IF_ERROR(ParseObject(payload_bytes, &payload));
  auto claims = std::make_shared<Claims>();

  bool present = false;
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "iss", &claims->issuer, &present));
  if (!present || claims->issuer != options_.issuer) return Refuse("token issuer not trusted");

  const JsonValue* aud = FindMember(payload, "aud");
  if (aud == nullptr) return Refuse("token audience mismatch");
  bool audience_found = false;
  if (aud->IsString()) {
    audience_found = StringOf(*aud) == options_.audience;
  } else if (aud->IsArray()) {
    for (const auto& element : aud->GetArray()) {
      if (!element.IsString()) return Refuse(kMalformed);
      if (StringOf(element) == options_.audience) audience_found = true;
    }
  } else {
    return Refuse(kMalformed);
  }
  if (!audience_found) return Refuse("token audience mismatch");
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
  std::string patient;
  HYGIE_RETURN_IF_ERROR(ReadOptionalString(payload, "patient", &patient, &present));
  if (present) claims->patient = std::move(patient);

  HYGIE_RETURN_IF_ERROR(CheckTimes(*claims, clock_.NowSeconds(), options_.clock_skew_seconds));
  return std::shared_ptr<const Claims>(std::move(claims));
}

}  // namespace hygie::auth
