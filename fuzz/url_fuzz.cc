// The API's reading of request targets and forms (api/fhir_internal.h: ParseTarget, ParseForm,
// over Boost.URL) and the links it writes back (Link, the self and next links of searches).
// Input: a request target (or form body).
// Invariants: a link written from the parameters of a target reads back as exactly those
// parameters (a client following `next` repeats the search it asked for).
#include <string>

#include "api/fhir_internal.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

void CheckLinkRoundTrip(const Params& params) {
  const std::string link = api::Link("/fhir/acme/Patient", params);
  std::vector<std::string> segments;
  Params again;
  FUZZ_CHECK(api::ParseTarget(link, &segments, &again));
  FUZZ_CHECK(again == params);
  FUZZ_CHECK((segments == std::vector<std::string>{"fhir", "acme", "Patient"}));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::Text(data, size);
  std::vector<std::string> segments;
  Params params;
  if (api::ParseTarget(text, &segments, &params)) CheckLinkRoundTrip(params);
  Params form;
  if (api::ParseForm(text, &form)) CheckLinkRoundTrip(form);
  return 0;
}
