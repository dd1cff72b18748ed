#pragma once
// SMART on FHIR scopes (v2 "user/Patient.cruds", "patient/Observation.rs?category=laboratory",
// and v1 "user/Patient.read|write|*" read as their v2 equivalents). A ScopeSet answers what an
// interaction on a resource type reaches: every resource, or the token's patient compartment
// and/or the resources matching a query (the API turns those into search clauses, see
// api/fhir_access.cc). Immutable value type; thread-safe to share.

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
// or v1 "read" (= rs), "write" (= cud), "*" (= cruds), and query is a form-encoded list of
// name=value pairs joined by '&' (each with a non-empty name; what the names mean is checked by
// the API against the search parameters of the type). Any other word containing '/' is an
// error (kInvalidArgument); any other word without '/' is ignored (nullopt).
Result<std::optional<Scope>> ParseScope(std::string_view text);

// What a scope set reaches of one resource type for one interaction (see ScopeSet::Reach).
struct Restriction {
  bool compartment = false;  // only resources in the Patient compartment of ScopeSet::patient()
  std::string query;         // only resources matching this search of the type (empty: all)
  bool operator==(const Restriction&) const = default;
};
struct Reach {
  bool all = false;  // every resource of the type
  // When !all: the union of these (a resource is reached if it satisfies one of them).
  std::vector<Restriction> restrictions;
  // True when something of the type may be reached (the interaction is not refused outright).
  bool any() const { return all || !restrictions.empty(); }
};

// The rules (SMART App Launch v2):
//  - user/ and system/ scopes reach every resource of their type; a query after '?' narrows
//    them to the resources that match it as a FHIR search of that type.
//  - patient/ scopes reach only the Patient compartment (R4 CompartmentDefinition) of the
//    token's patient claim, narrowed further by their query if any. A patient/ scope of a type
//    outside the compartment (Practitioner, Organization, ...) reaches nothing, and a patient/
//    scope in a token without a patient claim grants nothing.
//  - Several scopes: per interaction, the union of what every scope granting that interaction
//    reaches. A token with user/Observation.rs and patient/Observation.cruds reads and searches
//    every Observation but writes only its patient's; one with user/Observation.r and
//    patient/Observation.s reads any Observation by id but searches only its patient's.
//  - The query of a scope is checked when the token is used: a parameter that is unknown for
//    the scope's type, a result parameter (_count, _include, _sort, ...) or a value the server
//    cannot search exactly makes the whole token refused as malformed (fail closed). On a "*"
//    scope, a parameter that is not defined for a given type makes the scope reach nothing of
//    that type.
class ScopeSet {
 public:
  ScopeSet() = default;
  // Space-separated scopes; malformed resource scopes are an error (kInvalidArgument).
  // `patient` is the token's patient claim (SMART launch context), empty when absent.
  static Result<ScopeSet> Parse(std::string_view text, std::string_view patient = {});

  // What the scopes granting `permission` reach of `type` (the rules above).
  Reach ReachOf(std::string_view type, Permission permission) const;
  // True if some scope grants `permission` on `type` (exact type or "*"), even if only on part
  // of its resources (patient compartment, query): the caller then restricts with ReachOf.
  bool Allows(std::string_view type, Permission permission) const {
    return ReachOf(type, permission).any();
  }
  // True if the scopes grant `permission` on every resource of `type`.
  bool AllowsAll(std::string_view type, Permission permission) const {
    return ReachOf(type, permission).all;
  }
  // Like AllowsAll, but only a user/ or system/ scope without query naming `type` itself
  // counts, not "*" (for the audit trail, which a wildcard does not open).
  bool AllowsNamed(std::string_view type, Permission permission) const;
  const std::vector<Scope>& scopes() const { return scopes_; }
  // The patient claim the patient/ scopes are bound to (empty: none, they grant nothing).
  const std::string& patient() const { return patient_; }

 private:
  std::vector<Scope> scopes_;
  std::string patient_;
};

}  // namespace hygie::auth
