#pragma once
// SMART on FHIR scopes (v2 "user/Patient.cruds", and v1 "user/Patient.read|write|*" read as
// their v2 equivalents). A ScopeSet answers whether an interaction on a resource type is
// allowed. Immutable value type; thread-safe to share.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hygie::auth {

enum class Permission : uint8_t {
  kCreate = 1,
  kRead = 2,
  kUpdate = 4,
  kDelete = 8,
  kSearch = 16,
};

enum class ScopeContext { kPatient, kUser, kSystem };

struct Scope {
  ScopeContext context = ScopeContext::kUser;
  std::string type;         // a resource type, or "*"
  uint8_t permissions = 0;  // Permission bits
  std::string query;        // narrowing query after '?', kept verbatim (may be empty)
};

// Parses one scope. Non-resource scopes (openid, fhirUser, launch, launch/patient,
// offline_access, online_access, profile, ...) give nullopt; a resource scope with a bad shape
// (unknown context, bad permission letters or order, e.g. "user/Patient.rc") is an error.
// Grammar: ("patient"|"user"|"system") "/" type "." permissions ["?" query], where type is "*"
// or an uppercase ASCII letter followed by ASCII letters (the caller checks that it is a real R4
// type), permissions are v2 letters (a non-empty subset of "cruds", in that order, no repeats)
// or v1 "read" (= rs), "write" (= cud), "*" (= cruds). Any other word containing '/' is an
// error (kInvalidArgument); any other word without '/' is ignored (nullopt).
Result<std::optional<Scope>> ParseScope(std::string_view text);

class ScopeSet {
 public:
  ScopeSet() = default;
  // Space-separated scopes; malformed resource scopes are an error (kInvalidArgument).
  static Result<ScopeSet> Parse(std::string_view text);

  // True if any scope grants `permission` on `type` (exact type or "*"), in any context.
  // Scopes that carry a query ("patient/Observation.rs?category=laboratory") narrow access to
  // the matching resources; that narrowing is not implemented yet, so such scopes are ignored
  // here (they grant nothing: fail closed). Likewise patient/ scopes, which reach only the
  // token's patient compartment: until the compartment is enforced they grant nothing.
  bool Allows(std::string_view type, Permission permission) const;
  // Like Allows, but only a scope naming `type` itself counts, not "*" (for the audit trail,
  // which a wildcard does not open).
  bool AllowsNamed(std::string_view type, Permission permission) const;
  const std::vector<Scope>& scopes() const { return scopes_; }

 private:
  std::vector<Scope> scopes_;
};

}  // namespace hygie::auth
