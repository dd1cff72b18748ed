// The readers of S3 answers (backup/s3_xml.h): the error body and the pages of ListObjectsV2
// and ListObjectVersions, and the Object Lock configuration, all from a store on another site.
// Input: an answer's body, given to every reader.
// Invariants: a refusal is kUnavailable (the store misbehaves; never a crash or a hang, however
// deep or entity-laden the XML).
#include <string>

#include "backup/s3_xml.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body = fuzz::Text(data, size);
  (void)backup::ParseS3Error(body);
  auto objects = backup::ParseListObjectsPage(body);
  if (!objects.ok()) FUZZ_CHECK(objects.status().code() == Code::kUnavailable);
  auto versions = backup::ParseListVersionsPage(body);
  if (!versions.ok()) FUZZ_CHECK(versions.status().code() == Code::kUnavailable);
  auto lock = backup::ParseObjectLockConfiguration(body);
  if (!lock.ok()) FUZZ_CHECK(lock.status().code() == Code::kUnavailable);
  const std::string text(body.substr(0, 32));
  (void)backup::ParseS3Int(text);
  (void)backup::StripQuotes(text);
  (void)backup::ParseLockMode(text);
  return 0;
}
