// The JSON and FHIR resource reader (fhir/resource.h), the validator (fhir/validator.h) and the
// blind indexer (fhir/search/indexer.h, which runs the FHIRPath of every search parameter over
// what a client sent). Input: a request body.
// Invariants: ParseJson and Resource::Parse fail only with kInvalidArgument; what they accept
// serializes to JSON that parses again and serializes to the same bytes; the validator stays
// within its issue limit and its OperationOutcome is JSON; SetId/SetVersionMeta keep a resource
// that parses again with that id.
#include <string>

#include "crypto/keyed_hash.h"
#include "fhir/outcome.h"
#include "fhir/resource.h"
#include "fhir/search/indexer.h"
#include "fhir/validator.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace hygie;

const crypto::KeyedHasher& Hasher() {
  static const crypto::KeyedHasher* hasher =
      new crypto::KeyedHasher(crypto::SecretKey::FromBytes(Bytes(32, 7)));
  return *hasher;
}

// Serialize(Parse(x)) is a fixed point.
void CheckRoundTrip(const std::string& serialized) {
  auto again = fhir::ParseJson(serialized);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(fhir::SerializeJson(**again) == serialized);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::Text(data, size);

  auto json = fhir::ParseJson(text);
  if (!json.ok()) {
    FUZZ_CHECK(json.status().code() == Code::kInvalidArgument);
  } else {
    CheckRoundTrip(fhir::SerializeJson(**json));
  }

  auto parsed = fhir::Resource::Parse(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == Code::kInvalidArgument);
    return 0;
  }
  fhir::Resource resource = std::move(parsed).value();
  FUZZ_CHECK(fhir::IsResourceType(resource.resource_type()));
  const std::string serialized = resource.Serialize();
  CheckRoundTrip(serialized);

  std::vector<fhir::Issue> issues = fhir::ValidateResource(resource.doc());
  FUZZ_CHECK(issues.size() <= fhir::kMaxValidationIssues + 1);
  FUZZ_CHECK(fhir::ParseJson(fhir::OperationOutcomeJson(issues)).ok());

  const std::string type(resource.resource_type());
  storage::IndexEntries entries =
      fhir::search::Indexer::Get().Index(resource.doc(), type, Hasher(), "acme");
  (void)entries;

  resource.SetId("fuzz-1");
  resource.SetVersionMeta(7, "2024-02-29T12:00:00.000Z");
  auto again = fhir::Resource::Parse(resource.Serialize(), {});
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->id() == std::optional<std::string_view>("fuzz-1"));
  FUZZ_CHECK(again->resource_type() == type);
  return 0;
}
