#pragma once
// `hygie backup target add|list|remove`, `hygie backup now|status|verify` and `hygie restore`
// (docs/backup.md), and the server's continuous shipping.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backup/shipper.h"
#include "cli/installation.h"
#include "storage/store.h"

namespace hygie::cli {

void AddBackupCommands(CLI::App& app);

// The chains of an installation: every tenant of the keyring, and the _system audit tree.
// `only_tenant` non-empty: that tenant alone.
Result<std::vector<backup::ChainSpec>> InstallationChains(const Installation& inst,
                                                          storage::Store& store,
                                                          const std::string& only_tenant = "");

// The shipper a server runs, or null when the installation has no backup target. Holds the
// installation's shipping lock: kFailedPrecondition while another process ships.
Result<std::unique_ptr<backup::Shipper>> StartShipper(const Installation& inst,
                                                      storage::Store& store, int64_t interval_us,
                                                      int64_t base_interval_us);

// A restore drill: the latest point of a tenant's chain restored into a scratch directory,
// checked against the live tenant as of that point (version count and content hash, the
// restored audit tree verified), the scratch copy removed. Recorded in the _system audit tree
// and in DATA/backup/drills.json.
struct DrillRecord {
  int64_t when_us = 0;
  std::string target;
  std::string tenant;
  bool ok = false;
  std::string detail;
  uint64_t versions = 0;   // versions restored
  uint64_t resources = 0;  // current resources indexed
  uint64_t journal_records = 0;
  int64_t rto_us = 0;    // restore and index, measured
  int64_t point_us = 0;  // the newest version restored
};
// Runs one drill. An error is an operational failure (a drill that could not run); a drill
// that ran and found a difference is ok() with record.ok false.
Result<DrillRecord> RunDrill(const Installation& inst, const std::string& target_name,
                             backup::Target& target, const std::string& tenant,
                             storage::TenantStore& live, const std::string& role);
// The drills recorded, oldest first; none when there is no file.
Result<std::vector<DrillRecord>> LoadDrills(const std::string& data_dir);

// Drills every `interval_us` for every tenant on every target, on a thread of their own.
class DrillScheduler {
 public:
  DrillScheduler(const Installation& inst, storage::Store& store, int64_t interval_us);
  ~DrillScheduler();  // stops
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "24h", "90m", "3600s", "7d" -> microseconds; kInvalidArgument otherwise.
Result<int64_t> ParseDuration(const std::string& text);

}  // namespace hygie::cli
