#pragma once
// Validation of a FHIR R4 resource, in its JSON form (fhir/resource.h), against the base
// definitions of FHIR R4 (fhir/r4/definitions.h). Stateless function over immutable tables
// (the per-type lookup indexes are built once, on first use, under a lock): thread-safe.
//
// What is checked, each failure one Issue whose `expression` is the FHIRPath location of the
// element at fault ("Patient.name[0].given[1]", "Observation.valueQuantity.value",
// "Bundle.entry[0].resource.gender"; a primitive's "_name" companion is located at its
// primitive, "Patient.birthDate.extension[0].url") and whose `details_code` is one of the
// constants below:
//   - element names: unknown names, choice elements with a type suffix the choice does not
//     allow (Observation.valueFoo), two types of one choice, `_name` companions of anything but
//     a primitive, `resourceType` anywhere but at the root of a resource (the resource itself,
//     contained resources, Bundle.entry.resource, Parameters.parameter.resource, ... which are
//     validated by their own type), `fhir_comments`;
//   - JSON forms: booleans as true/false; integer, decimal, unsignedInt and positiveInt as
//     numbers; the other primitives as strings; complex types and backbone elements as objects;
//     an array exactly where the element repeats (max > 1); no empty object, array or string;
//     null only in a repeating primitive's array where its `_name` companion array holds an
//     object at the same index (and the reverse), the two arrays of equal length;
//   - primitive values: the formats of the R4 specification (date, dateTime, instant, time with
//     real calendar days, id, code, uri/url/canonical, oid, uuid, base64Binary, xhtml starting
//     with a <div>), integer within 32 bits, unsignedInt >= 0, positiveInt >= 1;
//   - cardinality: min and max of every element, a choice counted across its types;
//   - required bindings: a code (or string-like primitive), Coding or CodeableConcept whose
//     element has a required binding must be in its value set when r4::ValueSetContains can
//     tell (an unknown or non-expandable value set accepts everything); a CodeableConcept needs
//     one coding in the value set; one with only text gets a warning;
//   - invariants: ext-1 (an extension has a value[x] or nested extensions, not both), dom-2
//     (a contained resource contains no resources), dom-4 (nor meta.versionId/lastUpdated).
// meta.profile changes nothing: profiles are not validated, the base definitions always apply.
// Diagnostics name elements and types, never values of the resource.
//
// Limits: objects nested deeper than kMaxValidationDepth are not descended into (one issue);
// after kMaxValidationIssues issues the walk stops and one more issue says so.

#include <cstddef>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/outcome.h"

namespace hygie::fhir {

inline constexpr size_t kMaxValidationIssues = 100;
inline constexpr size_t kMaxValidationDepth = 64;

// Details codes (OperationOutcome.issue.details.coding.code) of the issues.
inline constexpr std::string_view kValidateUnknownElement = "HYGIE-VALIDATE-UNKNOWN-ELEMENT";
inline constexpr std::string_view kValidateType = "HYGIE-VALIDATE-TYPE";    // JSON kind
inline constexpr std::string_view kValidateArray = "HYGIE-VALIDATE-ARRAY";  // array or not
inline constexpr std::string_view kValidateEmpty = "HYGIE-VALIDATE-EMPTY";  // {} [] ""
inline constexpr std::string_view kValidateNull = "HYGIE-VALIDATE-NULL";    // misplaced null
inline constexpr std::string_view kValidateCompanion = "HYGIE-VALIDATE-COMPANION";  // _x arrays
inline constexpr std::string_view kValidateCardinality = "HYGIE-VALIDATE-CARDINALITY";
inline constexpr std::string_view kValidateChoice = "HYGIE-VALIDATE-CHOICE";        // two types
inline constexpr std::string_view kValidatePrimitive = "HYGIE-VALIDATE-PRIMITIVE";  // format
inline constexpr std::string_view kValidateCode = "HYGIE-VALIDATE-CODE";  // required binding
inline constexpr std::string_view kValidateResourceType = "HYGIE-VALIDATE-RESOURCE-TYPE";
inline constexpr std::string_view kValidateInvariant = "HYGIE-VALIDATE-INVARIANT";
inline constexpr std::string_view kValidateDepth = "HYGIE-VALIDATE-DEPTH";
inline constexpr std::string_view kValidateTooManyIssues = "HYGIE-VALIDATE-TOO-MANY-ISSUES";

// The issues of resource, in document order (cardinality issues of an object after those of its
// members). Empty: the resource is valid. Issues have severity "error" except the warning for
// a CodeableConcept with only text under a required binding; a caller that refuses invalid
// resources should refuse on any "error".
std::vector<Issue> ValidateResource(const rapidjson::Value& resource);

// True when issues holds at least one issue of severity error or fatal.
bool HasErrors(const std::vector<Issue>& issues);

}  // namespace hygie::fhir
