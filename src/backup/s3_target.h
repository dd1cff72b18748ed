#pragma once
// S3Target: a backup target on an S3-compatible object store with Object Lock (compliance mode),
// what HDS-certified clouds offer. Every object is put with COMPLIANCE retention until
// `retention_days` from now, so that nobody (the server's own credential included) can delete
// it or shorten its retention before that date. The server's credential should be limited by
// the bucket's policy to put, get and list (docs/backup.md shows one).
//
// An object is never replaced: a put of an existing name reads it back and succeeds only when
// it holds the same bytes. Since a versioned bucket keeps every version of a name, reads take
// the oldest version of a name: bytes put later under the same name (by a credential that could
// put) never take the place of the original.
//
// Thread-safe (S3Client is).

#include <cstdint>
#include <string>

#include "backup/s3_client.h"
#include "backup/target.h"
#include "core/clock.h"

namespace hygie::backup {

class S3Target final : public Target {
 public:
  // Every object put is retained (compliance mode) for retention_s seconds.
  S3Target(S3ClientConfig config, int64_t retention_s, const Clock& clock = SystemClock::Get());
  std::string Describe() const override;
  Status Put(const std::string& name, std::string_view bytes) override;
  Result<std::string> Get(const std::string& name) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  // Deletes every version of the name (a delete without a version id would only add a delete
  // marker). A version still under retention: kPermissionDenied.
  Status Delete(const std::string& name) override;
  // The bucket's Object Lock configuration must be enabled (checked when a target is added).
  Status CheckObjectLock() const;

 private:
  std::string endpoint_;
  S3Client client_;
  int64_t retention_s_;
  const Clock& clock_;
};

}  // namespace hygie::backup
