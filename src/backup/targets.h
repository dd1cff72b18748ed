#pragma once
// The registry of backup targets of an installation: DATA/backup/targets.json (mode 0600),
// written through Env::WriteFileAtomic. A target names where backups go (a directory, or an
// S3-compatible object store with Object Lock) and the site it is on. Credentials are never
// in the registry: an S3 target names a credentials file (mode 0600) that holds them.
//
// Not thread-safe by itself: the command line changes it; a server reads it at start.

#include <memory>
#include <string>
#include <vector>

#include "backup/chain.h"
#include "backup/target.h"
#include "core/env.h"
#include "core/status.h"

namespace hygie::backup {

struct TargetConfig {
  enum class Kind { kDirectory, kS3 };
  std::string name;  // [a-z0-9-]{2,63}
  Kind kind = Kind::kDirectory;
  std::string site;  // a site of the site registry (tenancy/sites.h)
  // kDirectory: an absolute path outside the data directory.
  std::string path;
  // kS3: endpoint URL (https://, or http:// on loopback), region, bucket, Object Lock retention
  // in days (compliance mode), a credentials file (JSON {"access_key_id", "secret_access_key"},
  // mode 0600) and an optional CA bundle.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  int retention_days = 30;
  std::string credentials_file;
  std::string ca_file;
  // The restore points `hygie backup prune` keeps (hygie backup retention).
  RetentionPolicy keep;
};

std::string_view KindName(TargetConfig::Kind kind);

// Checks a target's fields (not the site: see tenancy/sites.h). kInvalidArgument with a clear
// message. `data_dir` is the installation's: a directory target inside it is refused.
Status ValidateTarget(const TargetConfig& target, const std::string& data_dir);

// Targets in name order; none when the file does not exist. kDataLoss for a damaged file.
Result<std::vector<TargetConfig>> LoadTargets(const std::string& data_dir,
                                              Env& env = Env::Default());
// kAlreadyExists for a name already used.
Status AddTarget(const std::string& data_dir, const TargetConfig& target,
                 Env& env = Env::Default());
// kNotFound for an unknown name.
Status RemoveTarget(const std::string& data_dir, const std::string& name,
                    Env& env = Env::Default());

// Sets the restore points a target keeps. kNotFound for an unknown name; kInvalidArgument for a
// policy that keeps nothing or more than 1,000 points of a kind.
Status SetRetention(const std::string& data_dir, const std::string& name,
                    const RetentionPolicy& keep, Env& env = Env::Default());

// The target object for a configuration (reads an S3 target's credentials file).
Result<std::unique_ptr<Target>> OpenTarget(const TargetConfig& target, Env& env = Env::Default());

}  // namespace hygie::backup
