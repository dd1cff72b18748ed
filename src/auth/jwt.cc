#include "auth/jwt.h"

#include <cmath>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "crypto/primitives.h"

namespace hygie::auth::jwt {
namespace {

// Nesting deeper than this in a header or payload is refused.
constexpr int kMaxJsonDepth = 16;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
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

}  // namespace

Status Refuse(std::string_view reason) { return Unauthenticated(std::string(reason)); }

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

bool NoDuplicateMembers(const rapidjson::Value& value, int depth) {
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

Status ParseObject(ByteView bytes, rapidjson::Document* doc) {
  doc->Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
      reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (doc->HasParseError() || !doc->IsObject() || !NoDuplicateMembers(*doc, 0)) {
    return Refuse(kMalformed);
  }
  return Status::Ok();
}

const rapidjson::Value* FindMember(const rapidjson::Value& object, std::string_view name) {
  const auto it = object.FindMember(rapidjson::Value(
      rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string_view StringOf(const rapidjson::Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

Status ReadOptionalString(const rapidjson::Value& object, std::string_view name, std::string* out,
                          bool* present) {
  const rapidjson::Value* value = FindMember(object, name);
  if (present != nullptr) *present = value != nullptr;
  if (value == nullptr) return Status::Ok();
  if (!value->IsString()) return Refuse(kMalformed);
  const std::string_view text = StringOf(*value);
  if (text.find('\0') != std::string_view::npos) return Refuse(kMalformed);
  *out = std::string(text);
  return Status::Ok();
}

Status ReadOptionalDate(const rapidjson::Value& object, std::string_view name, int64_t* out,
                        bool* present) {
  const rapidjson::Value* value = FindMember(object, name);
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

Status CheckAudience(const rapidjson::Value& payload, std::string_view audience) {
  const rapidjson::Value* aud = FindMember(payload, "aud");
  if (aud == nullptr) return Refuse("token audience mismatch");
  bool found = false;
  if (aud->IsString()) {
    found = StringOf(*aud) == audience;
  } else if (aud->IsArray()) {
    for (const auto& element : aud->GetArray()) {
      if (!element.IsString()) return Refuse(kMalformed);
      if (StringOf(element) == audience) found = true;
    }
  } else {
    return Refuse(kMalformed);
  }
  if (!found) return Refuse("token audience mismatch");
  return Status::Ok();
}

Status CheckTimes(int64_t expires_at, int64_t not_before, int64_t issued_at, int64_t now,
                  int64_t skew) {
  if (now - skew >= expires_at) return Refuse("token expired");
  if (not_before - skew > now) return Refuse("token not yet valid");
  if (issued_at - skew > now) return Refuse("token not yet valid");
  return Status::Ok();
}

Result<CompactJws> ParseCompactJws(std::string_view token,
                                   std::span<const std::string_view> allowed_algs) {
  // Exactly three segments: header.payload.signature.
  const size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return Refuse(kMalformed);
  const size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) return Refuse(kMalformed);
  if (token.find('.', second_dot + 1) != std::string_view::npos) return Refuse(kMalformed);

  CompactJws jws;
  jws.signing_input = token.substr(0, second_dot);
  HYGIE_ASSIGN_OR_RETURN(Bytes header_bytes, DecodeSegment(token.substr(0, first_dot)));
  HYGIE_ASSIGN_OR_RETURN(jws.payload,
                         DecodeSegment(token.substr(first_dot + 1, second_dot - first_dot - 1)));
  HYGIE_ASSIGN_OR_RETURN(jws.signature, DecodeSegment(token.substr(second_dot + 1)));

  HYGIE_RETURN_IF_ERROR(ParseObject(header_bytes, &jws.header));
  const rapidjson::Value* alg = FindMember(jws.header, "alg");
  if (alg == nullptr || !alg->IsString()) return Refuse("token algorithm not allowed");
  jws.alg = std::string(StringOf(*alg));
  bool allowed = false;
  for (std::string_view name : allowed_algs) allowed = allowed || name == jws.alg;
  if (!allowed) return Refuse("token algorithm not allowed");
  if (const rapidjson::Value* typ = FindMember(jws.header, "typ"); typ != nullptr) {
    if (!typ->IsString()) return Refuse(kMalformed);
    const std::string_view text = StringOf(*typ);
    if (!EqualsIgnoreAsciiCase(text, "at+jwt") &&
        !EqualsIgnoreAsciiCase(text, "application/at+jwt") && !EqualsIgnoreAsciiCase(text, "JWT")) {
      return Refuse("token type not allowed");
    }
  }
  // RFC 7515 section 4.1.11: extensions we do not understand must make the token invalid.
  if (FindMember(jws.header, "crit") != nullptr) return Refuse("token header not supported");
  if (const rapidjson::Value* kid = FindMember(jws.header, "kid"); kid != nullptr) {
    if (!kid->IsString()) return Refuse("unknown signing key");
    jws.kid = std::string(StringOf(*kid));
  }
  return jws;
}

}  // namespace hygie::auth::jwt
