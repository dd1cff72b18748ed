#include "cli/site_commands.h"

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "audit/record.h"
#include "cli/cli_support.h"
#include "cli/installation.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "tenancy/sites.h"

namespace hygie::cli {
namespace {

struct SiteOptions {
  std::string data_dir;
  std::string passphrase_env;
  std::string name;
  std::string country;
  std::string operator_name;
  std::string hds_certificate;
  std::string hds_valid_until;
  bool data_site = false;
  bool json = false;
};

// Runs a subcommand and ends the process with its exit code.
std::function<void()> Run(int (*fn)(const SiteOptions&), std::shared_ptr<SiteOptions> o) {
  return [fn, o] {
    const int rc = fn(*o);
    std::cout.flush();
    std::cerr.flush();
    std::exit(rc);
  };
}

Result<Installation> OpenFor(const SiteOptions& o) {
  HYGIE_ASSIGN_OR_RETURN(Installation inst, OpenInstallation(o.data_dir, o.passphrase_env));
  if (inst.audit_dir.empty()) inst.audit_dir = o.data_dir + "/audit";
  return inst;
}

// Records the act before doing it (fail closed), and its failure if it fails.
std::string Today() { return tenancy::UtcDate(SystemClock::Get().NowMicros()); }

// The date 90 days after `today` (both YYYY-MM-DD).
std::string NinetyDaysAfterToday() {
  return tenancy::UtcDate(SystemClock::Get().NowMicros() + int64_t{90} * 86400 * 1000000);
}

int RunAdd(const SiteOptions& o) {
  tenancy::Site site;
  site.name = o.name;
  site.country = o.country;
  site.operator_name = o.operator_name;
  site.hds_certificate = o.hds_certificate;
  site.hds_valid_until = o.hds_valid_until;
  site.holds_data = o.data_site;
  if (Status valid = tenancy::ValidateSite(site); !valid.ok()) return Usage(valid.message());
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "site-add";
  act.action = 'C';
  act.query = {{"site", site.name},
               {"country", site.country},
               {"operator", site.operator_name},
               {"hds_certificate", site.hds_certificate},
               {"hds_valid_until", site.hds_valid_until},
               {"holds_data", site.holds_data ? "true" : "false"}};
  const int rc = Recorded(*inst, act, [&] { return tenancy::AddSite(o.data_dir, site); });
  if (rc != 0) return rc;
  std::cerr << "hygie: site " << site.name << " (" << site.country << ", " << site.operator_name
            << ") registered" << (site.holds_data ? " as the site holding the data directory" : "")
            << "\n";
  if (!tenancy::IsEea(site.country)) {
    std::cerr << "hygie: warning: " << site.country
              << " is outside the European Economic Area: no health data may be stored, "
                 "replicated or backed up on site "
              << site.name << " (HDS EXI 28)\n";
  }
  if (site.hds_valid_until < Today()) {
    std::cerr << "hygie: warning: its HDS certificate was valid until " << site.hds_valid_until
              << "; it has expired\n";
  } else if (site.hds_valid_until < NinetyDaysAfterToday()) {
    std::cerr << "hygie: warning: its HDS certificate expires on " << site.hds_valid_until
              << ", in less than 90 days\n";
  }
  return 0;
}

int RunList(const SiteOptions& o) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  auto sites = tenancy::LoadSites(o.data_dir);
  if (!sites.ok()) return Fail(sites.status());
  if (o.json) {
    std::cout << tenancy::SitesToJson(*sites);
    return 0;
  }
  if (sites->empty()) {
    std::cerr << "hygie: no site is registered; register them with `hygie site add`\n";
    return 0;
  }
  const std::string today = Today();
  std::cout << "NAME\tCOUNTRY\tEEA\tROLE\tHDS-CERTIFICATE\tVALID-UNTIL\tOPERATOR\n";
  for (const tenancy::Site& s : *sites) {
    std::cout << s.name << "\t" << s.country << "\t" << (tenancy::IsEea(s.country) ? "yes" : "no")
              << "\t" << (s.holds_data ? "data" : "other") << "\t" << s.hds_certificate << "\t"
              << s.hds_valid_until << (s.hds_valid_until < today ? " (expired)" : "") << "\t"
              << s.operator_name << "\n";
  }
  if (!tenancy::DataSite(*sites).ok()) {
    std::cerr << "hygie: warning: no site is declared as holding the data directory "
                 "(hygie site add ... --data-site)\n";
  }
  return 0;
}

int RunRemove(const SiteOptions& o) {
  if (!tenancy::IsValidSiteName(o.name)) {
    return Usage("site name must be 2 to 63 characters among a-z, 0-9 and '-'");
  }
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "site-remove";
  act.action = 'D';
  act.query = {{"site", o.name}};
  const int rc = Recorded(*inst, act, [&] { return tenancy::RemoveSite(o.data_dir, o.name); });
  if (rc == 0) std::cerr << "hygie: site " << o.name << " removed from the registry\n";
  return rc;
}

}  // namespace

void AddSiteCommands(CLI::App& app) {
  auto o = std::make_shared<SiteOptions>();
  auto* site = app.add_subcommand(
      "site", "Sites of the data and its copies: country, operator, HDS certificate (EEA only)");
  site->require_subcommand(1);

  auto common = [o](CLI::App* cmd) {
    cmd->add_option("--data", o->data_dir, "Data directory")->required();
    cmd->add_option("--passphrase-env", o->passphrase_env,
                    "Environment variable holding the keyring passphrase");
  };

  auto* add = site->add_subcommand("add", "Register a site");
  add->add_option("name", o->name, "Site name, [a-z0-9-]{2,63}")->required();
  common(add);
  add->add_option("--country", o->country,
                  "Country of the site: ISO 3166-1 alpha-2 code in upper case (FR, DE...)")
      ->required();
  add->add_option("--operator", o->operator_name, "Who operates the site (1 to 200 characters)")
      ->required();
  add->add_option("--hds-cert", o->hds_certificate,
                  "Number of the operator's HDS certificate for this site (1 to 100 characters)")
      ->required();
  add->add_option("--hds-valid-until", o->hds_valid_until,
                  "Last day the HDS certificate is valid, YYYY-MM-DD")
      ->required();
  add->add_flag("--data-site", o->data_site,
                "This site holds the data directory (at most one site; it must be in the EEA)");
  add->final_callback(Run(RunAdd, o));

  auto* list = site->add_subcommand("list", "List the registered sites");
  common(list);
  list->add_flag("--json", o->json, "JSON output ({\"sites\": [...]})");
  list->final_callback(Run(RunList, o));

  auto* remove = site->add_subcommand("remove", "Remove a site from the registry");
  remove->add_option("name", o->name, "Site name")->required();
  common(remove);
  remove->final_callback(Run(RunRemove, o));
}

}  // namespace hygie::cli
