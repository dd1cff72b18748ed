#pragma once
// Strict parsing of JWTs in JWS compact serialization (RFC 7515, RFC 7519), shared by the
// built-in issuer's verifier (token.h) and the OpenID Connect verifier (oidc.h). These
// functions check form only; signatures are checked by the callers with their own keys.
//
// Stricter than the RFCs require, on purpose: exactly three segments; each segment canonical
// base64url (no padding, no stray bits); header and payload JSON objects, valid UTF-8, with no
// duplicate member names at any level and no nesting deeper than 16; header "alg" a string;
// "typ" if present "at+jwt", "application/at+jwt" or "JWT" (any case); no "crit" header;
// numeric dates between 0 and year 9999.
//
// Every failure is kUnauthenticated with a short reason that never echoes the token.
//
// Thread-safety: free functions over caller-owned values; thread-safe.

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::auth::jwt {

// 9999-12-31T23:59:59Z: numeric dates beyond it (or negative) are refused, which also keeps
// every date comparison far from integer overflow.
inline constexpr int64_t kMaxNumericDate = 253402300799;
// The reason given for any token that is not well formed.
inline constexpr std::string_view kMalformed = "malformed token";

// kUnauthenticated with `reason`.
Status Refuse(std::string_view reason);

// A JWS split and decoded. The payload is kept as bytes: callers parse it (ParseObject) once
// they know what to verify it with.
struct CompactJws {
  std::string_view signing_input;  // header "." payload, as in the token (borrowed)
  rapidjson::Document header;
  Bytes payload;
  Bytes signature;
  std::string alg;                 // header "alg"
  std::optional<std::string> kid;  // header "kid" when it is present (a string)
};

// Splits and checks the form of a compact JWS, and reads "alg" and "kid". Refuses an "alg"
// missing or not in `allowed_algs` ("token algorithm not allowed"), a "kid" that is not a
// string ("unknown signing key"), a "typ"
// outside the list above ("token type not allowed") and any "crit" ("token header not
// supported"). `token` must outlive the result (signing_input points into it).
Result<CompactJws> ParseCompactJws(std::string_view token,
                                   std::span<const std::string_view> allowed_algs);

// Strict base64url of one segment (see above).
Result<Bytes> DecodeSegment(std::string_view segment);

// Parses a JSON object: valid UTF-8, nothing after it, no duplicate member names.
Status ParseObject(ByteView bytes, rapidjson::Document* doc);
// True if no object in `value` (recursively, to depth 16) has two members of the same name.
bool NoDuplicateMembers(const rapidjson::Value& value, int depth = 0);

const rapidjson::Value* FindMember(const rapidjson::Value& object, std::string_view name);
std::string_view StringOf(const rapidjson::Value& value);

// Reads an optional string member. Absent: leaves *out alone (and *present = false). Present:
// must be a string with no NUL character.
Status ReadOptionalString(const rapidjson::Value& object, std::string_view name, std::string* out,
                          bool* present = nullptr);
// Reads an optional NumericDate (RFC 7519: seconds, integer or not, rounded down).
Status ReadOptionalDate(const rapidjson::Value& object, std::string_view name, int64_t* out,
                        bool* present);
// "aud" must be present and be `audience` or an array of strings holding it
// ("token audience mismatch" otherwise).
Status CheckAudience(const rapidjson::Value& payload, std::string_view audience);
// exp/nbf/iat against now, with `skew` seconds of tolerance; not_before and issued_at 0 mean
// absent. "token expired" / "token not yet valid".
Status CheckTimes(int64_t expires_at, int64_t not_before, int64_t issued_at, int64_t now,
                  int64_t skew);

}  // namespace hygie::auth::jwt
