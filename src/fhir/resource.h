#pragma once
// FHIR R4 resources as JSON documents (RapidJSON), with the limits that keep hostile input
// harmless: UTF-8 validated, nesting depth bounded, size bounded by the HTTP layer.
// Resource is movable, not copyable; thread-compatible.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "core/status.h"

namespace hygie::fhir {

// Every resource type of FHIR R4 (4.0.1), sorted. "Resource"/"DomainResource" are abstract and
// not in the list.
const std::vector<std::string_view>& ResourceTypes();
bool IsResourceType(std::string_view type);
// FHIR id: [A-Za-z0-9\-\.]{1,64}
bool IsValidId(std::string_view id);

// Numbers. FHIR says a decimal's precision is significant: 1.50 is not 1.5, 1e2 is not 100, and
// a decimal or integer may hold more digits than a double or an int64 keeps. So Resource never
// converts numbers: it keeps each one as the text it was written with, and Serialize writes
// that text back verbatim.
//
// Representation in the Document: a number is a String value whose first byte is '\0',
// followed by the number's text exactly as in the body (the body's 1.50 is stored as the five
// bytes "\0" "1.50"). No string of a parsed body can take that form: Parse refuses control
// characters, NUL included, in strings and member names, raw or escaped (\u0000). Serialize
// writes such a value as a raw JSON number only if the text after the '\0' is a JSON number;
// any other string, including one with a leading NUL set through doc() by mistake, is written
// as an escaped JSON string, so Serialize always yields valid JSON.
//
// Consequences for code that reads doc() directly: for a number, value.IsString() is true and
// value.IsNumber()/GetDouble()/GetInt() do not apply. Use the functions below instead of
// IsString/IsNumber. Native RapidJSON numbers (which Parse never produces) are still accepted
// and written by Serialize, and IsJsonNumber/NumberAsDouble handle them.

// True for a number kept as text (see above) and for a native RapidJSON number.
bool IsJsonNumber(const rapidjson::Value& value);
// True for a string that is not a number kept as text. Use it instead of IsString().
bool IsJsonString(const rapidjson::Value& value);
// The text of a number kept as text, as written in the body (e.g. "1.50", "-0.0", "1E+2");
// empty for anything else, native RapidJSON numbers included.
std::string_view NumberText(const rapidjson::Value& value);
// The double nearest to a number (kept as text or native); -0.0/+0.0 when it is too small for
// a double. nullopt when value is not a number or its magnitude exceeds the largest double
// (Parse refuses such numbers).
std::optional<double> NumberAsDouble(const rapidjson::Value& value);
// Makes value the number whose text is text, copied with allocator. Returns false and leaves
// value unchanged when text is not a JSON number (RFC 8259 grammar: no '+' sign, no leading
// zeros, no NaN/Infinity).
bool SetNumberText(rapidjson::Value& value, std::string_view text,
                   rapidjson::Document::AllocatorType& allocator);

struct ParseLimits {
  size_t max_depth = 64;  // objects and arrays nested deeper are refused
};

// Parses any JSON text (object, array, string, number, literal at the top level) with the
// checks of Resource::Parse: valid JSON, valid UTF-8 (overlong forms and lone surrogates
// refused), no duplicate member names, no control characters in strings (tab, CR, LF aside),
// no NUL byte, no number beyond the range of a double, depth within limits; numbers kept as
// written (see "Numbers" above). kInvalidArgument with a message of fhir/parse_errors.h
// otherwise (never echoing the body). For bodies that are not resources (JSON Patch).
Result<std::unique_ptr<rapidjson::Document>> ParseJson(std::string_view json,
                                                       const ParseLimits& limits = {});

// Compact JSON of any value of a parsed document, numbers written back as they were parsed
// (what Resource::Serialize does for a whole resource).
std::string SerializeJson(const rapidjson::Value& value);

class Resource {
 public:
  Resource(Resource&&) noexcept = default;
  Resource& operator=(Resource&&) noexcept = default;

  // Parses a resource body: valid JSON, valid UTF-8 (overlong forms and lone surrogates
  // refused), no duplicate member names, no control characters in strings (tab, CR, LF
  // aside), no number beyond the range of a double, depth within limits, a top-level object
  // whose "resourceType" is a string naming an R4 resource type. Numbers are kept as written
  // (see "Numbers" above). kInvalidArgument with a message fit for an OperationOutcome
  // otherwise (never echoing the body).
  static Result<Resource> Parse(std::string_view json, const ParseLimits& limits = {});
  // A copy of a value of a document made by Parse or ParseJson (so already checked for UTF-8,
  // depth, duplicates and numbers), e.g. a bundle entry's resource: the same resourceType checks
  // as Parse, without parsing text again.
  static Result<Resource> FromValue(const rapidjson::Value& value);

  std::string_view resource_type() const;
  std::optional<std::string_view> id() const;  // nullopt when absent or not a string
  // Sets the top-level id (a valid FHIR id, see IsValidId). Like SetVersionMeta, it moves
  // resourceType, id and meta, those present, to the front of the top-level object in that
  // order; the other members keep their order.
  void SetId(std::string_view id);
  // Sets meta.versionId and meta.lastUpdated, keeping the other members of meta, and orders
  // the top level as SetId does. Inside meta: id, extension (when present), versionId,
  // lastUpdated, then the other members in their order (FHIR's element order).
  void SetVersionMeta(uint64_t version, std::string_view last_updated_instant);
  // Compact JSON, members in document order, numbers written back as they were parsed.
  std::string Serialize() const;

  rapidjson::Document& doc() { return *doc_; }
  const rapidjson::Document& doc() const { return *doc_; }

 private:
  explicit Resource(std::unique_ptr<rapidjson::Document> doc) : doc_(std::move(doc)) {}
  static Result<Resource> FromDocument(std::unique_ptr<rapidjson::Document> doc);
  std::unique_ptr<rapidjson::Document> doc_;
};

}  // namespace hygie::fhir
