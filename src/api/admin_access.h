#pragma once
// The admin API of access rights (grants and break-glass), under /admin/access/{tenant}/:
//
//   GET    /admin/access/{tenant}/grants        every grant of the tenant (JSON, GrantListJson)
//   POST   /admin/access/{tenant}/grants        create a grant (JSON body below) -> 201, the grant
//   DELETE /admin/access/{tenant}/grants/{id}   revoke (JSON body {"reason": "..."}) -> 200
//   GET    /admin/access/{tenant}/review        the access review (JSON, ReviewJson)
//
// POST body: {"subject": "...", "role": "auditor", "reason": "...", "kind": "normal" |
// "break-glass", "emergency": false, "start": "<instant>", "end": "<instant>" | "duration": "8h"}
// ("kind" defaults to normal, "role" to host-operator for break-glass, "start" to now; exactly
// one of "end" and "duration"; any other member is refused). The owner is always the caller.
//
// Who may do what (the caller's token has been verified; its role claim and the tenant's grants
// decide, see auth/grants.h):
//   - the token's tenant claim must name the URL's tenant (403 HYGIE-TENANT-MISMATCH first);
//   - list and review: tenant-admin, auditor, or host-operator (grants hold no health data);
//   - create a normal or a break-glass grant, revoke any grant: tenant-admin;
//   - create an emergency break-glass: a host-operator, for itself only (subject = its own sub);
//   - revoke a break-glass grant: also a host-operator (ending staff access is always allowed).
// Every change is first recorded in the tenant's own audit trail through
// AccessAdminHooks::record_in_tenant_tree (fail closed: without the hook, or when it fails, the
// change is refused with 503 and nothing changes); the caller records the request itself as it
// does for every admin request. Errors are OperationOutcomes with stable details codes
// (HYGIE-ACCESS-*).
//
// Thread-safety: stateless; safe to call concurrently (GrantStore is thread-safe).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.h"
#include "auth/grants.h"
#include "core/status.h"
#include "http/server.h"

namespace hygie::api {

// The verified caller of an admin request (from its token's claims).
struct AdminCaller {
  std::string subject;          // sub
  std::string role;             // role claim
  std::string professional_id;  // professional_id claim
  std::string tenant;           // tenant claim
  std::string client_id;        // client_id (for the records)
  std::string peer;             // client IP (for the records)
};

struct AccessAdminHooks {
  // Appends `record` to the tenant's tree and waits until it is durable. Called before every
  // change; a non-OK status refuses the change.
  std::function<Status(const std::string& tenant, audit::Record record)> record_in_tenant_tree;
  // Whether the tenant exists (404 HYGIE-TENANT-UNKNOWN otherwise). Absent: every valid name.
  std::function<bool(const std::string& tenant)> tenant_exists;
};

// Answers one request. `segments` are the path segments after /admin/access/ (tenant first);
// `now` is in seconds since the epoch.
http::Response HandleAccessAdmin(auth::GrantStore& store, std::string_view method,
                                 const std::vector<std::string>& segments, std::string_view body,
                                 const AdminCaller& caller, int64_t now,
                                 const AccessAdminHooks& hooks);

// The audit interaction name of such a request: "access-list", "access-grant", "access-revoke",
// "access-review", or "access-admin" for anything else.
std::string AccessAdminInteraction(std::string_view method,
                                   const std::vector<std::string>& segments);

}  // namespace hygie::api
