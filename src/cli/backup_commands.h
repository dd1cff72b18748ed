#pragma once
// `hygie backup target add|list|remove`, `hygie backup now|status|verify` and `hygie restore`
// (docs/backup.md), and the server's continuous shipping.

#include <CLI/CLI.hpp>

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
                                                      storage::Store& store, int64_t interval_us);

}  // namespace hygie::cli
