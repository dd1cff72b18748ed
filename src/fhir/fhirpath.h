#pragma once
// The subset of FHIRPath (http://hl7.org/fhirpath/N1) that the R4 search parameter expressions
// use, evaluated over a RapidJSON document of a resource (fhir/resource.h):
//   - paths: Type.a.b (the leading type name selects the root when it matches the resource's
//     type, else yields nothing), members of arrays flattened as FHIRPath collections;
//   - choice elements: `Observation.value` yields valueQuantity, valueString, ... each node
//     typed by its suffix;
//   - `|` union, parentheses;
//   - `where(criteria)` with criteria: `path = 'literal'`, `path != 'literal'`, `and`, `or`,
//     `resolve() is Type`, `exists()`, `empty()`, and a bare path (true when not empty);
//   - `as Type`, `is Type` operators and `.as(Type)`, `.ofType(Type)`, `.is(Type)` functions;
//   - `exists()`, `empty()`, `first()`, `extension('url')`, `resolve()` (a Reference node stays
//     itself: `resolve() is Patient` tests the type named by its `reference`).
// Anything else is refused by Parse with kInvalidArgument naming what is not supported.
//
// Typing: every node carries its FHIR type, found through the element definitions
// (fhir/r4/definitions.h): a data type name ("HumanName", "string", "Reference"), or, for a
// backbone element, its definition path ("Patient.contact"), whose children are looked up as
// path + "." + name. contentReference elements take the referenced path.
//
// Expression is immutable after Parse: Evaluate is thread-safe.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "core/status.h"

namespace hygie::fhir::fhirpath {

struct Node {
  const rapidjson::Value* value = nullptr;  // object, string (numbers are strings, see
                                            // resource.h), bool
  // FHIR type: "HumanName", "CodeableConcept", "dateTime", "Reference", or a backbone path such
  // as "Patient.contact". Views static storage (definitions tables or literals).
  std::string_view type;
};

class Expression {
 public:
  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  ~Expression();

  static Result<Expression> Parse(std::string_view text);

  // Nodes selected in `resource` (the root object of a resource whose resourceType is
  // `resource_type`), in document order, duplicates kept.
  std::vector<Node> Evaluate(const rapidjson::Value& resource,
                             std::string_view resource_type) const;

  const std::string& text() const;

  struct Impl;

 private:
  explicit Expression(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hygie::fhir::fhirpath
