#pragma once
// S3Client: a synchronous client for one bucket of an S3-compatible object store with Object
// Lock (tested against Ceph RGW 16), for shipping backups to a distinct site. Path-style
// addressing (ENDPOINT/BUCKET/KEY), requests signed with AWS Signature Version 4 in the
// Authorization header (sigv4.h), payloads hashed (x-amz-content-sha256), one connection per
// request over http/client.h (TLS with ca_file, or plain http on loopback only), no redirects.
//
// Errors: the S3 XML error body (Code, Message) is parsed with expat and mapped as
//   403 -> kPermissionDenied, 404 -> kNotFound, 409 -> kFailedPrecondition,
//   400 -> kInvalidArgument, other 4xx -> kFailedPrecondition,
//   5xx, 3xx, network failures and timeouts -> kUnavailable.
// Messages name the operation, the key and the S3 error code ("S3 PutObject packs/p1:
// AccessDenied (HTTP 403)"), never the credentials: the secret key stays in a
// crypto::SecretKey, credentials never appear in URLs (header authentication only), and this
// module logs nothing.
//
// Thread-safety: an S3Client is immutable after construction; every method may be called from
// several threads at once (each request has its own connection and io_context).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "crypto/secret.h"

namespace hygie::backup {

struct S3ClientConfig {
  std::string endpoint;  // "http://127.0.0.1:PORT" (loopback only) or "https://host[:port]"
  std::string region = "us-east-1";
  std::string bucket;
  std::string access_key_id;
  crypto::SecretKey secret_key;                   // the secret access key's characters
  std::string ca_file;                            // PEM bundle for https; empty: the system's CAs
  int timeout_ms = 30000;                         // per request, the whole exchange
  size_t max_response_bytes = size_t{256} << 20;  // GetObject bodies included
};

enum class LockMode { kNone, kGovernance, kCompliance };
// "COMPLIANCE", "GOVERNANCE" or "" for kNone.
const char* LockModeName(LockMode mode);

struct PutObjectOptions {
  LockMode lock_mode = LockMode::kNone;
  int64_t retain_until = 0;  // Unix seconds; required with a lock mode
  // Content-MD5 (base64): computed from the body when send_content_md5 and content_md5 is
  // empty; a given content_md5 is sent as is (the store answers 400 BadDigest if it is wrong).
  bool send_content_md5 = true;
  std::string content_md5;
};

struct PutObjectResult {
  std::string etag;        // without quotes
  std::string version_id;  // empty if the bucket is not versioned
};

struct S3ObjectInfo {
  int64_t size = 0;
  std::string etag;  // without quotes
  std::string version_id;
  LockMode lock_mode = LockMode::kNone;
  int64_t retain_until = 0;  // Unix seconds; 0 without retention
  bool delete_marker = false;
};

struct GetObjectResult {
  std::string body;
  S3ObjectInfo info;
};

struct ListedObject {
  std::string key;
  int64_t size = 0;
  std::string etag;  // without quotes
};

struct ObjectVersion {
  std::string key;
  std::string version_id;
  bool is_latest = false;
  bool is_delete_marker = false;
  int64_t size = 0;  // 0 for delete markers
  std::string etag;  // empty for delete markers
};

struct DeleteObjectOptions {
  std::string version_id;          // empty: the latest (a versioned bucket adds a delete marker)
  bool bypass_governance = false;  // x-amz-bypass-governance-retention: true
};

struct DeleteObjectResult {
  std::string version_id;  // of the delete marker made, or of the version deleted
  bool delete_marker = false;
};

struct ObjectLockConfiguration {
  bool enabled = false;
  // The bucket's default retention, if any.
  LockMode default_mode = LockMode::kNone;
  int default_days = 0;
};

class S3Client {
 public:
  // `clock` signs the requests (x-amz-date); it must outlive the client.
  explicit S3Client(S3ClientConfig config, const Clock& clock = SystemClock::Get());

  const std::string& bucket() const { return config_.bucket; }

  // Creates the bucket (with Object Lock, which also enables versioning, when asked).
  // kFailedPrecondition if another account owns the name (409 BucketAlreadyExists); a bucket
  // already owned by these credentials is an answer of 200 on RGW and us-east-1 (ok), of 409
  // BucketAlreadyOwnedByYou elsewhere.
  [[nodiscard]] Status CreateBucket(bool object_lock_enabled) const;

  // Stores body under key; with a lock mode, the new version is retained until
  // options.retain_until.
  Result<PutObjectResult> PutObject(const std::string& key, const std::string& body,
                                    const PutObjectOptions& options = {}) const;

  // The object's bytes (the latest version, or version_id). kNotFound if there is none (or the
  // latest is a delete marker).
  Result<GetObjectResult> GetObject(const std::string& key,
                                    const std::string& version_id = "") const;

  // The object's metadata; nullopt if there is no such object (or version).
  Result<std::optional<S3ObjectInfo>> HeadObject(const std::string& key,
                                                 const std::string& version_id = "") const;

  // Every object whose key starts with prefix, in key order (ListObjectsV2, following
  // continuation tokens; page_size keys per request, at most 1000).
  Result<std::vector<ListedObject>> ListObjects(const std::string& prefix,
                                                int page_size = 1000) const;

  // Every version and delete marker whose key starts with prefix (ListObjectVersions,
  // following key and version-id markers).
  Result<std::vector<ObjectVersion>> ListObjectVersions(const std::string& prefix,
                                                        int page_size = 1000) const;

  Result<DeleteObjectResult> DeleteObject(const std::string& key,
                                          const DeleteObjectOptions& options = {}) const;

  // Sets the retention of one version (PutObjectRetention). Object Lock refuses (403) to
  // shorten a COMPLIANCE retention or to weaken its mode.
  [[nodiscard]] Status PutObjectRetention(const std::string& key, const std::string& version_id,
                                          LockMode mode, int64_t retain_until,
                                          bool bypass_governance = false) const;

  // Replaces the bucket policy (a JSON document).
  [[nodiscard]] Status PutBucketPolicy(const std::string& policy_json) const;

  // Enables or suspends versioning (Object Lock buckets refuse suspension: 409).
  [[nodiscard]] Status PutBucketVersioning(bool enabled) const;

  Result<ObjectLockConfiguration> GetObjectLockConfiguration() const;
  // Sets the bucket's default retention (mode and days; kNone: no default rule).
  [[nodiscard]] Status PutObjectLockConfiguration(LockMode default_mode, int default_days) const;

 private:
  struct Response;
  struct Call;
  Result<Response> Send(const Call& call) const;

  S3ClientConfig config_;
  const Clock& clock_;
};

}  // namespace hygie::backup
