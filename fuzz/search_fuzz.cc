// The search query parser and planner (fhir/search/query.h), chained parameters and _has
// included, fed as the API feeds it: a request target read by ParseTarget. Input: a target
// relative to the tenant's base ("Patient?name=x&subject:Patient.name=y", "?_type=...").
// Invariants: a refusal is kInvalidArgument (a 400, never a 5xx); a plan's page size is within
// the limits; the planner asks the chain resolver for no more than it allows.
#include <string>

#include "api/fhir_internal.h"
#include "crypto/keyed_hash.h"
#include "fhir/resource.h"
#include "fhir/search/query.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

const crypto::KeyedHasher& Hasher() {
  static const crypto::KeyedHasher* hasher =
      new crypto::KeyedHasher(crypto::SecretKey::FromBytes(Bytes(32, 9)));
  return *hasher;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte: how many ids each chained step resolves to, and the search's options.
  const uint8_t control = data[0];
  std::vector<std::string> segments;
  fhir::search::PlanInput in;
  if (!api::ParseTarget("/" + std::string(fuzz::Text(data + 1, size - 1)), &segments, &in.params)) {
    return 0;
  }
  if (!segments.empty() && fhir::IsResourceType(segments[0])) in.type = segments[0];
  if (segments.size() >= 3 && segments[0] == "Patient" && fhir::IsValidId(segments[1])) {
    in.compartment_patient = segments[1];  // Patient/{id}/{type}
    in.type = fhir::IsResourceType(segments[2]) ? segments[2] : "";
  }
  in.tenant = "acme";
  in.hasher = &Hasher();
  in.strict = control & 1;
  in.max_chain_ids = 8;
  in.now_us = 1642204800000000;
  const size_t chain_ids = (control >> 1) % 12;
  size_t resolved = 0;
  in.resolve_chain =
      [&](const storage::SearchQuery& q,
          const std::vector<fhir::search::StringCheck>&) -> Result<std::vector<std::string>> {
    FUZZ_CHECK(q.limit <= in.max_chain_ids + 1);
    if (++resolved > 64) return FailedPrecondition("too many chained lookups");
    std::vector<std::string> ids;
    for (size_t i = 0; i < chain_ids; ++i) ids.push_back("id" + std::to_string(i));
    return ids;
  };
  auto plan = fhir::search::PlanSearch(in);
  if (!plan.ok()) {
    FUZZ_CHECK(plan.status().code() == Code::kInvalidArgument ||
               plan.status().code() == Code::kFailedPrecondition);
    return 0;
  }
  FUZZ_CHECK(plan->count <= in.max_count);
  for (const auto& [k, v] : in.params) (void)fhir::search::SplitOr(v);
  return 0;
}
