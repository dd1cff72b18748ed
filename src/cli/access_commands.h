#pragma once
// `hygie access …`: the access rights (grants, break-glass) of a tenant, from the command line.
//
//   hygie access grant  --data DIR --tenant T --subject S --role R --reason TEXT
//                       [--start ISO8601] (--end ISO8601 | --duration 8h)
//                       [--break-glass] [--emergency] [--owner NAME] [--passphrase-env VAR]
//   hygie access revoke --data DIR --tenant T --id ID --reason TEXT [--owner NAME]
//   hygie access list   --data DIR --tenant T [--json]
//   hygie access review --data DIR --tenant T [--json]
//
// grant, revoke and review are recorded in the audit journal's system tree before they are
// done (fail closed, as every act of the command line). A break-glass grant or its revocation
// is also recorded in the tenant's own tree, so the tenant sees it; that needs the tenant's tree
// to be writable by this process (no server running on the data directory): otherwise the act
// is refused and the admin API (POST /admin/access/{tenant}/grants) does it instead.
//
// Each subcommand runs from its CLI11 callback once the command line is parsed and ends the
// process with its exit code (0 success, 1 failure, 2 usage error). Not thread-safe.

#include <CLI/CLI.hpp>

namespace hygie::cli {

void AddAccessCommands(CLI::App& app);

}  // namespace hygie::cli
