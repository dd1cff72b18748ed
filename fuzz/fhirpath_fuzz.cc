// FHIRPath (fhir/fhirpath.h): expressions parsed and evaluated over resources. Input: the
// expression, a NUL byte, a resource (when it is not one, a few fixed resources are used).
// Invariants: Parse fails only with kInvalidArgument; an expression keeps its text; every node
// Evaluate yields points at a value and has a type.
#include <string>

#include "fhir/fhirpath.h"
#include "fhir/resource.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

const std::vector<fhir::Resource>& FixedResources() {
  static const auto* resources = [] {
    auto* out = new std::vector<fhir::Resource>;
    for (
        const char* json : {
            R"({"resourceType":"Patient","id":"p1","name":[{"family":"Martin","given":["Léa"]}],)"
            R"("gender":"female","birthDate":"1990-05-01","managingOrganization":)"
            R"({"reference":"Organization/o1"},"extension":[{"url":"http://x/e","valueString":"v"}]})",
            R"({"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[)"
            R"({"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},)"
            R"("valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org",)"
            R"("code":"/min"},"effectiveDateTime":"2022-01-15T10:00:00Z"})",
        }) {
      out->push_back(std::move(fhir::Resource::Parse(json)).value());
    }
    return out;
  }();
  return *resources;
}

void Evaluate(const fhir::fhirpath::Expression& e, const fhir::Resource& r) {
  for (const fhir::fhirpath::Node& node : e.Evaluate(r.doc(), r.resource_type())) {
    FUZZ_CHECK(node.value != nullptr);
    FUZZ_CHECK(!node.type.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> parts = fuzz::Parts(fuzz::Text(data, size), 2);
  auto expression = fhir::fhirpath::Expression::Parse(parts[0]);
  if (!expression.ok()) {
    FUZZ_CHECK(expression.status().code() == Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(expression->text() == parts[0]);
  auto resource = fhir::Resource::Parse(parts[1]);
  if (resource.ok()) {
    Evaluate(*expression, *resource);
  } else {
    for (const fhir::Resource& r : FixedResources()) Evaluate(*expression, r);
  }
  return 0;
}
