#pragma once
// Indexer: turns a resource into its blind search index entries, driven by the R4
// SearchParameter definitions (fhir/r4/definitions.h) and their FHIRPath expressions
// (fhir/fhirpath.h). Exact-match values become keyed hashes (index_keys.h); dates, numbers and
// quantities become ranges under a keyed hash of their parameter. A Store never sees a value.
//
// What is indexed, per parameter type:
//   token      Coding, CodeableConcept (its codings), Identifier, ContactPoint (value), code,
//              boolean, string, id, uri: code, system|code, system|, |code
//   string     string, markdown, HumanName (family, given, prefix, suffix, text), Address
//              (line, city, district, state, postalCode, country, text): prefixes of the
//              normalized value (normalize.h) and the exact value
//   reference  Reference.reference (local "Type/id"; other absolute URLs as uri),
//              canonical and uri values
//   uri        the value exactly
//   date       date, dateTime, instant, Period, Timing.event: their ranges
//   number     integer, decimal: their value
//   quantity   Quantity and its profiles, Money: the value under the parameter alone, under
//              system|code, under |code and under |unit
// Every parameter with at least one value also gets a presence hash (for :missing).
// Composite and special parameters are not indexed.
//
// Thread-safe: the compiled expressions are immutable once built (on first use).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "crypto/keyed_hash.h"
#include "fhir/fhirpath.h"
#include "fhir/r4/definitions.h"
#include "storage/store.h"

namespace hygie::fhir::search {

class Indexer {
 public:
  // The process-wide indexer (expressions of every type compiled on first use).
  static const Indexer& Get();

  storage::IndexEntries Index(const rapidjson::Value& resource, std::string_view type,
                              const crypto::KeyedHasher& hasher, std::string_view tenant) const;

  // The compiled expression of a parameter, or nullptr (unknown parameter, no expression, or an
  // expression outside the supported FHIRPath subset).
  const fhirpath::Expression* ExpressionFor(std::string_view type, std::string_view code) const;

  // The local references ("Type/id") that parameter `code` of `type` holds in `resource`, in
  // document order, without duplicates (for _include and $everything).
  std::vector<std::string> References(const rapidjson::Value& resource, std::string_view type,
                                      std::string_view code, std::string_view tenant) const;

  // The string values that string parameter `code` of `type` indexes in `resource`, normalized
  // (normalize.h) or as written (for :exact), to check search values on candidates.
  std::vector<std::string> StringValues(const rapidjson::Value& resource, std::string_view type,
                                        std::string_view code, bool normalized = true) const;

  // The parameter whose hashes a string parameter's values are indexed under: the first string
  // parameter of the type with the same expression (Patient.phonetic is Patient.name: its values
  // are indexed once, as name's), else `code` itself. The planner hashes search values of string
  // parameters (and their :missing) under it.
  std::string_view IndexedCode(std::string_view type, std::string_view code) const;
  // The parameter under whose hashes the values of string parameter `code` are found: a
  // parameter whose values include them (Patient.family and Patient.given are parts of
  // Patient.name, Patient.address-city of Patient.address), which `code` then does not hash on
  // its own (it keeps its :missing marker), or IndexedCode(). *covered tells the first case: the
  // candidates must then be checked on the parameter itself.
  std::string_view HashedCode(std::string_view type, std::string_view code, bool* covered) const;

  // Parameters whose expression could not be compiled ("Type.code: reason"), for diagnostics.
  const std::vector<std::string>& Unsupported() const { return unsupported_; }

 private:
  Indexer();
  struct Param {
    const r4::SearchParamDef* def;
    std::unique_ptr<fhirpath::Expression> expression;
    std::string_view indexed_code;  // see IndexedCode(); not indexed on its own when not def->code
    std::string_view covered_by;    // see HashedCode(); only its :missing marker when not empty
  };
  struct TypeParams {
    std::string_view type;
    std::vector<Param> params;
  };
  const TypeParams* For(std::string_view type) const;
  std::vector<TypeParams> types_;  // sorted by type
  std::vector<std::string> unsupported_;
};

}  // namespace hygie::fhir::search
