#pragma once
// FHIR R4 resources as JSON documents (RapidJSON), with the limits that keep hostile input
// harmless: UTF-8 validated, nesting depth bounded, size bounded by the HTTP layer.
// Resource is movable, not copyable; thread-compatible.

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

struct ParseLimits {
  size_t max_depth = 64;  // objects and arrays nested deeper are refused
};

class Resource {
 public:
  Resource(Resource&&) noexcept = default;
  Resource& operator=(Resource&&) noexcept = default;

  // Parses a resource body: valid JSON, valid UTF-8 (overlong forms and lone surrogates
  // refused), no duplicate member names, depth within limits, a top-level object whose
  // "resourceType" is a string naming an R4 resource type. kInvalidArgument with a message
  // fit for an OperationOutcome otherwise (never echoing the body).
  static Result<Resource> Parse(std::string_view json, const ParseLimits& limits = {});

  std::string_view resource_type() const;
  std::optional<std::string_view> id() const;  // nullopt when absent or not a string
  void SetId(std::string_view id);
  // Sets meta.versionId and meta.lastUpdated, keeping the other members of meta.
  void SetVersionMeta(uint64_t version, std::string_view last_updated_instant);
  std::string Serialize() const;

  rapidjson::Document& doc() { return *doc_; }
  const rapidjson::Document& doc() const { return *doc_; }

 private:
  explicit Resource(std::unique_ptr<rapidjson::Document> doc) : doc_(std::move(doc)) {}
  std::unique_ptr<rapidjson::Document> doc_;
};

}  // namespace hygie::fhir
