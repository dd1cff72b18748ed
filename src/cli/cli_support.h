#pragma once
// What every `hygie` subcommand shares: its exit codes (0 success, 1 failure, 2 usage error)
// with the message on stderr, and audited acts (recorded before they are done, fail closed).

#include <functional>
#include <string>

#include "audit/record.h"
#include "cli/installation.h"
#include "core/status.h"

namespace hygie::cli {

// Prints "hygie: <message>" and returns 1.
int Fail(const Status& s);
// Prints "hygie: <message>" and returns 2.
int Usage(const std::string& message);
// The HTTP status an act's failure is recorded with (400, 404, 409, 412 or 500).
int HttpStatusOf(const Status& s);
// Records the act in the _system tree before doing it (the act is not done when it cannot be
// recorded), and a second record when the act fails. Returns the exit code.
int Recorded(const Installation& inst, audit::Record record, const std::function<Status()>& act);

}  // namespace hygie::cli
