#include "auth/scopes.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace hygie::auth {
namespace {

// Scopes that are not about resources: they carry no data permission and are ignored here.
constexpr std::array<std::string_view, 8> kNonResourceScopes = {
    "openid",         "fhirUser",         "profile",        "launch",
    "launch/patient", "launch/encounter", "offline_access", "online_access",
};

// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool IsScopeTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
}

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLetter(char c) { return IsUpper(c) || (c >= 'a' && c <= 'z'); }

bool IsValidType(std::string_view type) {
  if (type == "*") return true;
  if (type.empty() || !IsUpper(type.front())) return false;
  for (char c : type) {
    if (!IsLetter(c)) return false;
  }
  return true;
}

constexpr uint8_t kAllPermissions =
    static_cast<uint8_t>(Permission::kCreate) | static_cast<uint8_t>(Permission::kRead) |
    static_cast<uint8_t>(Permission::kUpdate) | static_cast<uint8_t>(Permission::kDelete) |
    static_cast<uint8_t>(Permission::kSearch);

// v1 words or v2 letters ("cruds" subset, in that order, no repeats, not empty).
std::optional<uint8_t> ParsePermissions(std::string_view text) {
  if (text == "read") {
    return static_cast<uint8_t>(Permission::kRead) | static_cast<uint8_t>(Permission::kSearch);
  }
  if (text == "write") {
    return static_cast<uint8_t>(Permission::kCreate) | static_cast<uint8_t>(Permission::kUpdate) |
           static_cast<uint8_t>(Permission::kDelete);
  }
  if (text == "*") return kAllPermissions;
  if (text.empty()) return std::nullopt;
  constexpr std::string_view kOrder = "cruds";
  constexpr std::array<Permission, 5> kBits = {Permission::kCreate, Permission::kRead,
                                               Permission::kUpdate, Permission::kDelete,
                                               Permission::kSearch};
  uint8_t bits = 0;
  size_t next = 0;  // letters must appear at increasing positions of kOrder
  for (char c : text) {
    const size_t pos = kOrder.find(c, next);
    if (pos == std::string_view::npos) return std::nullopt;  // unknown, repeated or disordered
    bits |= static_cast<uint8_t>(kBits[pos]);
    next = pos + 1;
  }
  return bits;
}

// name=value pairs joined by '&', every name non-empty.
bool IsValidQuery(std::string_view query) {
  if (query.empty()) return false;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(pos, end - pos);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    pos = end + 1;
  }
  return true;
}

Status BadScope() { return InvalidArgument("malformed SMART scope"); }

}  // namespace

Result<std::optional<Scope>> ParseScope(std::string_view text) {
  for (std::string_view known : kNonResourceScopes) {
    if (text == known) return std::optional<Scope>();
  }
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::optional<Scope>();  // unknown word: ignored

  for (char c : text) {
    if (!IsScopeTokenChar(c)) return BadScope();
  }
  Scope scope;
  const std::string_view context = text.substr(0, slash);
  if (context == "patient") {
    scope.context = ScopeContext::kPatient;
  } else if (context == "user") {
    scope.context = ScopeContext::kUser;
  } else if (context == "system") {
    scope.context = ScopeContext::kSystem;
  } else {
    return BadScope();
  }

  std::string_view rest = text.substr(slash + 1);
  const size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    const std::string_view query = rest.substr(question + 1);
    if (!IsValidQuery(query)) return BadScope();
    scope.query = std::string(query);
    rest = rest.substr(0, question);
  }
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return BadScope();
  const std::string_view type = rest.substr(0, dot);
  if (!IsValidType(type)) return BadScope();
  const std::optional<uint8_t> permissions = ParsePermissions(rest.substr(dot + 1));
  if (!permissions) return BadScope();
  scope.type = std::string(type);
  scope.permissions = *permissions;
  return std::optional<Scope>(std::move(scope));
}

Result<ScopeSet> ScopeSet::Parse(std::string_view text, std::string_view patient) {
  ScopeSet set;
  set.patient_ = std::string(patient);
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    if (!word.empty()) {
      HYGIE_ASSIGN_OR_RETURN(std::optional<Scope> scope, ParseScope(word));
      if (scope) set.scopes_.push_back(std::move(*scope));
    }
    pos = end + 1;
  }
  return set;
}

Reach ScopeSet::ReachOf(std::string_view type, Permission permission) const {
  const auto bit = static_cast<uint8_t>(permission);
  Reach reach;
  for (const Scope& scope : scopes_) {
    if (scope.type != "*" && scope.type != type) continue;
    if ((scope.permissions & bit) == 0) continue;
    Restriction r;
    if (scope.context == ScopeContext::kPatient) {
      // No patient claim: the scope has no compartment to reach (fail closed).
      if (patient_.empty()) continue;
      r.compartment = true;
    }
    r.query = scope.query;
    if (!r.compartment && r.query.empty()) {
      reach.all = true;
      reach.restrictions.clear();
      return reach;
    }
    if (std::find(reach.restrictions.begin(), reach.restrictions.end(), r) ==
        reach.restrictions.end()) {
      reach.restrictions.push_back(std::move(r));
    }
  }
  return reach;
}

bool ScopeSet::AllowsNamed(std::string_view type, Permission permission) const {
  const auto bit = static_cast<uint8_t>(permission);
  for (const Scope& scope : scopes_) {
    if (!scope.query.empty() || scope.context == ScopeContext::kPatient) continue;
    if (scope.type == type && (scope.permissions & bit) != 0) return true;
  }
  return false;
}

}  // namespace hygie::auth
