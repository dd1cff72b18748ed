#pragma once
// The admin API twin of `hygie issuer add|list|remove`: the OpenID Connect issuers a tenant
// trusts, under /admin/issuers/{tenant}:
//
//   GET    /admin/issuers/{tenant}                 the tenant's issuers (JSON)
//   POST   /admin/issuers/{tenant}                 trust one more issuer -> 201 (JSON body below)
//   DELETE /admin/issuers/{tenant}?issuer=URL      stop trusting an issuer -> 200
//
// POST body: {"issuer": "https://...", "audience": "...", "scope_claim": "scope",
// "roles_claim": "roles", "role_map": {"from": "to"}, "default_role": "practitioner",
// "patient_claim": "patient", "professional_id_claim": "rpps"}; issuer and audience are required,
// any other member is refused.
//
// Who: the token's tenant must be the URL's (checked by the caller), and its role claim
// tenant-admin (a customer chooses whom it trusts; the host does it with the command line).
// Every change is recorded in the tenant's audit trail before it is made (hook; fail closed),
// then the server's verifier is reloaded (hook).
//
// Thread-safety: concurrent calls are serialized (one process-wide mutex around the file).

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.h"
#include "core/status.h"
#include "http/server.h"

namespace hygie::api {

struct IssuerAdminHooks {
  std::string data_dir;
  // Appends the record to the tenant's tree and waits until durable; non-OK refuses the change.
  std::function<Status(const std::string& tenant, audit::Record record)> record_in_tenant_tree;
  // Called after a change, to make the verifier trust the new list at once.
  std::function<void()> reload;
};

// `tenant` is the URL's; `caller_role` the verified token's role claim; `query` the decoded
// query parameters.
http::Response HandleIssuerAdmin(std::string_view method, const std::string& tenant,
                                 const std::vector<std::string>& rest,
                                 const std::vector<std::pair<std::string, std::string>>& query,
                                 std::string_view body, std::string_view caller_role,
                                 const audit::Record& base_record, const IssuerAdminHooks& hooks);

}  // namespace hygie::api
