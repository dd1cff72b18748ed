// The audit record reader (audit/record.h DecodeRecord), which reads every record of the journal
// back (verification, AuditEvent, export). Input: the first byte chooses the form:
//   even: the rest is a record's JSON text, as found in a segment;
//   odd:  the rest drives the fields of a Record (any bytes in its strings), which is encoded.
// Invariants: a refusal is kDataLoss; what DecodeRecord accepts encodes to text it accepts again
// and that encodes to the same bytes; whatever EncodeRecord writes, DecodeRecord accepts, with
// the same fields when the strings were UTF-8 already.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "audit/record.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

// Decode(Encode(r)) is r, as Encode sees it.
void CheckStable(const std::string& encoded) {
  auto decoded = audit::DecodeRecord(encoded);
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(audit::EncodeRecord(*decoded) == encoded);
}

audit::Record Build(FuzzedDataProvider& in) {
  audit::Record r;
  r.index = in.ConsumeIntegral<uint64_t>();
  r.time_us = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
  std::string* strings[] = {&r.request_id, &r.tenant,      &r.subject,         &r.client_id,
                            &r.issuer,     &r.role,        &r.professional_id, &r.peer,
                            &r.purpose,    &r.interaction, &r.resource_type,   &r.resource_id,
                            &r.operation,  &r.detail};
  for (std::string* s : strings) *s = in.ConsumeRandomLengthString(64);
  r.staff = in.ConsumeBool();
  r.action = "CRUDE"[in.ConsumeIntegralInRange<int>(0, 4)];
  r.version = in.ConsumeIntegral<uint64_t>();
  r.status = in.ConsumeIntegralInRange<int>(0, 999);
  const size_t n = in.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < n; ++i) {
    std::string k = in.ConsumeRandomLengthString(16);
    r.query.emplace_back(std::move(k), in.ConsumeRandomLengthString(32));
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) == 0) {
    auto decoded = audit::DecodeRecord(fuzz::Text(data + 1, size - 1));
    if (!decoded.ok()) {
      FUZZ_CHECK(decoded.status().code() == Code::kDataLoss);
      return 0;
    }
    CheckStable(audit::EncodeRecord(*decoded));
    return 0;
  }
  FuzzedDataProvider in(data + 1, size - 1);
  audit::Record r = Build(in);
  const std::string encoded = audit::EncodeRecord(r);
  std::string appended = "x";
  audit::AppendEncodedRecord(r, appended);
  FUZZ_CHECK(appended == "x" + encoded);
  CheckStable(encoded);
  auto decoded = audit::DecodeRecord(encoded);
  FUZZ_CHECK(decoded->index == r.index && decoded->time_us == r.time_us);
  FUZZ_CHECK(decoded->action == r.action && decoded->status == r.status);
  FUZZ_CHECK(decoded->version == r.version && decoded->staff == r.staff);
  return 0;
}
