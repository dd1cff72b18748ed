#include "cli/issuer_commands.h"

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "audit/record.h"
#include "cli/cli_support.h"
#include "cli/installation.h"
#include "crypto/primitives.h"
#include "tenancy/issuers.h"
#include "tenancy/tenant.h"

namespace hygie::cli {
namespace {

struct IssuerOptions {
  std::string data_dir;
  std::string passphrase_env;
  std::string tenant;
  std::string issuer;
  std::string audience;
  std::string scope_claim = "scope";
  std::string roles_claim;
  std::vector<std::string> role_map;
  std::string default_role;
  std::string patient_claim = "patient";
  std::string professional_id_claim;
};

// Runs a subcommand and ends the process with its exit code.
std::function<void()> Run(int (*fn)(const IssuerOptions&), std::shared_ptr<IssuerOptions> o) {
  return [fn, o] {
    const int rc = fn(*o);
    std::cout.flush();
    std::cerr.flush();
    std::exit(rc);
  };
}

// Opens the installation (which checks the keyring passphrase) and checks the tenant exists.
Result<Installation> OpenFor(const IssuerOptions& o) {
  HYGIE_ASSIGN_OR_RETURN(Installation inst, OpenInstallation(o.data_dir, o.passphrase_env));
  if (inst.audit_dir.empty()) inst.audit_dir = o.data_dir + "/audit";
  if (!inst.keyring->HasTenant(o.tenant)) return NotFound("unknown tenant " + o.tenant);
  return inst;
}

int RunAdd(const IssuerOptions& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) return Usage("invalid tenant name");
  tenancy::TrustedIssuer t;
  t.tenant = o.tenant;
  t.issuer = o.issuer;
  t.audience = o.audience;
  t.scope_claim = o.scope_claim;
  t.roles_claim = o.roles_claim;
  t.default_role = o.default_role;
  t.patient_claim = o.patient_claim;
  t.professional_id_claim = o.professional_id_claim;
  for (const std::string& entry : o.role_map) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      return Usage("--role-map takes FROM=TO, e.g. medecin=practitioner");
    }
    if (!t.role_map.emplace(entry.substr(0, eq), entry.substr(eq + 1)).second) {
      return Usage("--role-map maps " + entry.substr(0, eq) + " twice");
    }
  }
  if (Status valid = tenancy::ValidateTrustedIssuer(t); !valid.ok()) return Usage(valid.message());
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "issuer-add";
  act.action = 'C';
  act.tenant = o.tenant;
  act.query = {{"issuer", t.issuer}, {"audience", t.audience}};
  if (!t.default_role.empty()) act.query.emplace_back("default_role", t.default_role);
  for (const auto& [from, to] : t.role_map) act.query.emplace_back("role_map", from + "=" + to);
  const int rc = Recorded(*inst, act, [&] { return tenancy::AddTrustedIssuer(o.data_dir, t); });
  if (rc == 0) {
    std::cerr << "hygie: tenant " << o.tenant << " now trusts tokens from " << t.issuer
              << " for audience " << t.audience
              << " (a running server picks this up when it reloads its configuration)\n";
  }
  return rc;
}

int RunList(const IssuerOptions& o) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  auto issuers = tenancy::ListTrustedIssuers(o.data_dir, o.tenant);
  if (!issuers.ok()) return Fail(issuers.status());
  for (const tenancy::TrustedIssuer& t : *issuers) {
    std::cout << t.issuer << "\taudience=" << t.audience << "\tscope_claim=" << t.scope_claim;
    if (!t.roles_claim.empty()) std::cout << "\troles_claim=" << t.roles_claim;
    for (const auto& [from, to] : t.role_map) std::cout << "\trole_map=" << from << "=" << to;
    if (!t.default_role.empty()) std::cout << "\tdefault_role=" << t.default_role;
    if (!t.patient_claim.empty()) std::cout << "\tpatient_claim=" << t.patient_claim;
    if (!t.professional_id_claim.empty()) {
      std::cout << "\tprofessional_id_claim=" << t.professional_id_claim;
    }
    std::cout << "\n";
  }
  return 0;
}

int RunRemove(const IssuerOptions& o) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "issuer-remove";
  act.action = 'D';
  act.tenant = o.tenant;
  act.query = {{"issuer", o.issuer}};
  const int rc = Recorded(
      *inst, act, [&] { return tenancy::RemoveTrustedIssuer(o.data_dir, o.tenant, o.issuer); });
  if (rc == 0) {
    std::cerr << "hygie: tenant " << o.tenant << " no longer trusts " << o.issuer << "\n";
  }
  return rc;
}

}  // namespace

void AddIssuerCommands(CLI::App& app) {
  auto o = std::make_shared<IssuerOptions>();
  auto* issuer = app.add_subcommand(
      "issuer", "External OpenID Connect providers whose access tokens a tenant accepts");
  issuer->require_subcommand(1);

  auto common = [o](CLI::App* cmd) {
    cmd->add_option("--data", o->data_dir, "Data directory")->required();
    cmd->add_option("--tenant", o->tenant, "Tenant")->required();
    cmd->add_option("--passphrase-env", o->passphrase_env,
                    "Environment variable holding the keyring passphrase");
  };

  auto* add = issuer->add_subcommand("add", "Trust an issuer's access tokens for a tenant");
  common(add);
  add->add_option("--issuer", o->issuer,
                  "Issuer URL, exactly as in its tokens' \"iss\" (https; http only on loopback)")
      ->required();
  add->add_option("--audience", o->audience, "The \"aud\" value its tokens must carry")->required();
  add->add_option("--scope-claim", o->scope_claim,
                  "Claim holding the SMART scopes (string or array)")
      ->capture_default_str();
  add->add_option("--roles-claim", o->roles_claim,
                  "Claim holding the user's roles (string or array; a dotted path such as "
                  "realm_access.roles reaches into objects)");
  add->add_option("--role-map", o->role_map,
                  "FROM=TO: a role of the token and the Hygie role it grants (practitioner, "
                  "service, auditor, tenant-admin); repeatable");
  add->add_option("--default-role", o->default_role,
                  "Role when no mapped role is found (practitioner, service, auditor, "
                  "tenant-admin)");
  add->add_option("--patient-claim", o->patient_claim,
                  "Claim holding the patient context (\"\" for none)")
      ->capture_default_str();
  add->add_option("--professional-id-claim", o->professional_id_claim,
                  "Claim holding the professional id (e.g. RPPS), recorded in the audit trail");
  add->final_callback(Run(RunAdd, o));

  auto* list = issuer->add_subcommand("list", "List the issuers a tenant trusts");
  common(list);
  list->final_callback(Run(RunList, o));

  auto* remove = issuer->add_subcommand("remove", "Stop trusting an issuer for a tenant");
  common(remove);
  remove->add_option("--issuer", o->issuer, "Issuer URL")->required();
  remove->final_callback(Run(RunRemove, o));
}

}  // namespace hygie::cli
