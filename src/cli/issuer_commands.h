#pragma once
// `hygie issuer add|list|remove`: the external OpenID Connect providers a tenant trusts
// (tenancy/issuers.h, DATA/trusted-issuers.json). Adding and removing are administrative acts,
// recorded in the audit journal's _system tree before they happen (fail closed).
//
//   hygie issuer add    --data DIR --tenant T --issuer URL --audience AUD [--scope-claim C]
//                       [--roles-claim C] [--role-map FROM=TO ...] [--default-role R]
//                       [--patient-claim C] [--professional-id-claim C] [--passphrase-env VAR]
//   hygie issuer list   --data DIR --tenant T [--passphrase-env VAR]
//   hygie issuer remove --data DIR --tenant T --issuer URL [--passphrase-env VAR]
//
// Each subcommand runs from its CLI11 callback once the command line is parsed and ends the
// process with its exit code (0 success, 1 failure, 2 usage error).
//
// Thread-safety: command-line use only (one thread).

#include <CLI/CLI.hpp>

namespace hygie::cli {

void AddIssuerCommands(CLI::App& app);

}  // namespace hygie::cli
