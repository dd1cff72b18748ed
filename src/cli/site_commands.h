#pragma once
// `hygie site add|list|remove`: the physical sites where the host keeps health data
// (tenancy/sites.h, DATA/sites.json), with their country, operator and HDS certificate. Adding
// and removing are administrative acts, recorded in the audit journal's _system tree before they
// happen (fail closed).
//
//   hygie site add NAME --data DIR --country CC --operator TEXT --hds-cert NUMBER
//                       --hds-valid-until YYYY-MM-DD [--data-site] [--passphrase-env VAR]
//   hygie site list     --data DIR [--json] [--passphrase-env VAR]
//   hygie site remove NAME --data DIR [--passphrase-env VAR]
//
// `--data DIR` is the data directory, as for every other command; `--data-site` marks the site
// that holds it (at most one, inside the EEA).
//
// Each subcommand runs from its CLI11 callback once the command line is parsed and ends the
// process with its exit code (0 success, 1 refused or failed, 2 usage error or malformed field).
//
// Thread-safety: command-line use only (one thread).

#include <CLI/CLI.hpp>

namespace hygie::cli {

void AddSiteCommands(CLI::App& app);

}  // namespace hygie::cli
