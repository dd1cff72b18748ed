#pragma once
// A real Ceph RGW (S3 with Object Lock) for the end-to-end tests, started by tests/s3/rgw.sh in a
// fresh directory on first use and stopped at exit: one per test process. Its users (owner,
// server, prune) and their keys come from DIR/credentials.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "backup/s3_client.h"
#include "core/clock.h"
#include "support/harness.h"

namespace hygie::e2e {

class Rgw {
 public:
  static Rgw& Get();

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& Value(const std::string& name) const { return values_.at(name); }
  backup::S3Client Client(const std::string& user, const std::string& bucket,
                          const Clock& clock = SystemClock::Get()) const;
  backup::S3ClientConfig Config(const std::string& user, const std::string& bucket) const;
  void Stop();
  // Stops the daemons and starts them again on the same data and port (a target that goes down
  // and comes back). False on failure.
  bool Pause();
  bool Resume();
  double start_seconds() const { return start_seconds_; }

 private:
  Rgw();
  TempDir dir_{"hygie-rgw"};
  uint16_t port_ = 0;
  bool started_ = false;
  bool ok_ = false;
  double start_seconds_ = 0;
  std::string error_;
  std::string endpoint_;
  std::map<std::string, std::string> values_;
};

// The bucket policy of a backup bucket: the `server` user puts, reads and lists but never
// deletes, shortens a retention, suspends versioning or changes the policy; the `prune` user
// deletes versions whose retention has passed.
std::string ServerPolicy(const std::string& bucket);

}  // namespace hygie::e2e
