#pragma once
// Target: where backups go. A target is an object store seen through three calls: create an
// object (never replacing one), read an object, list names under a prefix. What a target
// guarantees beyond that (immutability until a retention date) is the target's own: Object
// Lock in compliance mode for S3, files created once and never written again for a directory.
//
// Thread-safety: implementations are thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/status.h"

namespace hygie::backup {

struct ObjectInfo {
  std::string name;
  uint64_t size = 0;
};

class Target {
 public:
  virtual ~Target() = default;
  // What the target is, for messages (never a credential).
  virtual std::string Describe() const = 0;
  // Creates the object `name` holding `bytes`, durable on ok. An object of that name already
  // holding exactly these bytes is ok (a retried put); holding other bytes: kAlreadyExists.
  virtual Status Put(const std::string& name, std::string_view bytes) = 0;
  // kNotFound when absent.
  virtual Result<std::string> Get(const std::string& name) = 0;
  // Objects whose name starts with `prefix`, sorted by name.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  // Removes the object (every version of it). Only `hygie backup prune` calls it, with a
  // target opened with the prune credential; the server's own credential cannot (an S3 target's
  // Object Lock and bucket policy refuse it: kPermissionDenied). kNotFound when absent.
  virtual Status Delete(const std::string& name) = 0;
};

// A directory (another disk, a mounted remote file system): objects are files under `root`,
// the name's slashes being directories. Files are created with O_EXCL, synced with their
// directory and made read-only (0400); nothing is ever rewritten, renamed or removed by Hygie.
class DirectoryTarget final : public Target {
 public:
  DirectoryTarget(std::string root, Env& env = Env::Default());
  std::string Describe() const override { return "directory " + root_; }
  Status Put(const std::string& name, std::string_view bytes) override;
  Result<std::string> Get(const std::string& name) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;

 private:
  Status CheckName(const std::string& name) const;
  std::string root_;
  Env& env_;
};

}  // namespace hygie::backup
