#pragma once
// Readers of the XML bodies of S3 answers (parsed with expat into a small tree), apart from the
// client (s3_client.h) so that tests and the fuzzer reach them without a server: the error body,
// a page of ListObjectsV2, a page of ListObjectVersions, and the bucket's Object Lock
// configuration. Bodies come from the network: each reader bounds the nesting depth
// (kMaxS3XmlDepth) and answers kUnavailable ("malformed S3 answer ...", "S3 <operation>:
// unexpected answer") for a body that is not the document it reads. Also the values S3 writes
// in headers and elements (ETags in quotes, decimal sizes, lock modes).
//
// Plain functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/s3_client.h"
#include "core/status.h"

namespace hygie::backup {

inline constexpr int kMaxS3XmlDepth = 32;

// <Error><Code>...</Code><Message>...</Message></Error>, the texts as sent (the caller
// sanitizes them before they reach a message).
struct S3ErrorBody {
  std::string code;
  std::string message;
};
// nullopt for a body that is not an S3 error (empty, not XML, another root).
std::optional<S3ErrorBody> ParseS3Error(std::string_view body);

// One page of ListObjectsV2 (<ListBucketResult>).
struct ListObjectsPage {
  std::vector<ListedObject> objects;
  bool truncated = false;  // IsTruncated is "true"
  std::string next_token;  // NextContinuationToken
};
Result<ListObjectsPage> ParseListObjectsPage(std::string_view body);

// One page of ListObjectVersions (<ListVersionsResult>): versions and delete markers.
struct ListVersionsPage {
  std::vector<ObjectVersion> versions;
  bool truncated = false;
  std::string next_key_marker;      // NextKeyMarker
  std::string next_version_marker;  // NextVersionIdMarker
};
Result<ListVersionsPage> ParseListVersionsPage(std::string_view body);

// GetObjectLockConfiguration's answer (<ObjectLockConfiguration>).
Result<ObjectLockConfiguration> ParseObjectLockConfiguration(std::string_view body);

// An ETag without its quotes.
std::string StripQuotes(std::string etag);
// A decimal integer as S3 writes sizes; 0 when it is not one (empty, trailing characters, out
// of range).
int64_t ParseS3Int(const std::string& text);
// "COMPLIANCE", "GOVERNANCE"; kNone for anything else.
LockMode ParseLockMode(const std::string& text);

}  // namespace hygie::backup
