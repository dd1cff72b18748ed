// JSON Patch (fhir/json_patch.h), as PATCH applies it: the patch document parsed by ParseJson,
// applied to a resource parsed by Resource::Parse. Input: the resource, a NUL byte, the patch
// (either part may be anything; a missing resource is replaced by a small Patient).
// Invariants: failure is kInvalidArgument and leaves the target unchanged (atomic); success
// leaves a document that serializes to JSON that parses again.
#include <string>

#include "fhir/json_patch.h"
#include "fhir/resource.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> parts = fuzz::Parts(fuzz::Text(data, size), 2);
  auto patch = fhir::ParseJson(parts[1]);
  if (!patch.ok()) return 0;
  std::string_view target_text = parts[0];
  if (target_text.empty()) {
    target_text =
        R"({"resourceType":"Patient","id":"p1","active":true,"name":[{"family":"Lefèvre",)"
        R"("given":["Éloïse","Marie"]}],"birthDate":"1980-01-02","multipleBirthInteger":2})";
  }
  auto target = fhir::ParseJson(target_text);
  if (!target.ok()) return 0;

  const std::string before = fhir::SerializeJson(**target);
  Status s = fhir::ApplyJsonPatch(**patch, **target);
  const std::string after = fhir::SerializeJson(**target);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Code::kInvalidArgument);
    FUZZ_CHECK(after == before);
    return 0;
  }
  // A patch nests its values at most as deep as the patch and the target together.
  auto again = fhir::ParseJson(after, fhir::ParseLimits{.max_depth = 256});
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(fhir::SerializeJson(**again) == after);
  return 0;
}
