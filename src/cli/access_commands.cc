#include "cli/access_commands.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "audit/journal.h"
#include "audit/record.h"
#include "auth/grants.h"
#include "cli/cli_support.h"
#include "cli/installation.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "tenancy/tenant.h"

namespace hygie::cli {

namespace {

struct AccessOptions {
  std::string data_dir;
  std::string passphrase_env;
  std::string tenant;
  std::string subject;
  std::string role;
  std::string reason;
  std::string start;
  std::string end;
  std::string duration;
  std::string owner;
  std::string id;
  bool break_glass = false;
  bool emergency = false;
  bool json = false;
};

// The system user running the command (who grants, when --owner is absent).
std::string SystemUser() {
  const char* user = std::getenv("SUDO_USER");
  if (user == nullptr) user = std::getenv("USER");
  return user != nullptr ? user : "unknown";
}

std::string Instant(int64_t seconds) { return FormatInstant(seconds * 1000000); }

Result<Installation> OpenData(const AccessOptions& o) {
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return inst.status();
  inst->audit_dir = o.data_dir + "/audit";
  if (!inst->keyring->HasTenant(o.tenant)) return NotFound("unknown tenant " + o.tenant);
  return inst;
}

audit::Record Act(std::string interaction, char action, const std::string& tenant,
                  const std::string& request_id) {
  audit::Record r;
  r.interaction = std::move(interaction);
  r.action = action;
  r.tenant = tenant;
  r.status = 200;
  r.request_id = request_id;
  return r;
}

// Records `record` in the tenant's own tree (which only this process may write: a running
// server owns the trees, and the spool feeds the system tree only).
Status RecordInTenantTree(const Installation& inst, const std::string& tenant,
                          audit::Record record) {
  record.time_us = SystemClock::Get().NowMicros();
  record.peer = "local";
  return JournalOrSpool(inst, tenant, record);
}

// Records the act in the system tree (and, when `tenant_record` is set, in the tenant's tree)
// before doing it; records the failure if the act fails. Fail closed.
int Recorded(const Installation& inst, audit::Record record,
             const std::optional<audit::Record>& tenant_record,
             const std::function<Status()>& act) {
  Status s = RecordCliAct(inst, record);
  if (s.ok() && tenant_record) s = RecordInTenantTree(inst, record.tenant, *tenant_record);
  Status done = s.ok() ? act() : Status::Ok();
  if (!s.ok() || !done.ok()) {
    record.status = 500;
    record.detail = s.ok() ? "the act recorded above failed"
                           : "the act was not done: the tenant's trail cannot record it";
    Status again = RecordCliAct(inst, record);
    if (!again.ok()) std::cerr << "hygie: audit journal: " << again.message() << "\n";
  }
  if (!s.ok()) {
    std::cerr << "hygie: the audit journal cannot record this act, so it was not done: "
              << s.message() << "\n";
    return 1;
  }
  if (!done.ok()) return Fail(done);
  return 0;
}

Result<int64_t> ParseTime(const std::string& option, const std::string& text) {
  auto t = ParseInstant(text);
  if (!t.ok()) return InvalidArgument(option + " must be an ISO 8601 date-time with a time zone");
  return *t / 1000000;
}

int RunGrant(const AccessOptions& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) return Usage("--tenant is not a valid tenant name");
  auth::GrantRequest rq;
  rq.tenant = o.tenant;
  rq.subject = o.subject;
  rq.kind = o.break_glass ? auth::GrantKind::kBreakGlass : auth::GrantKind::kNormal;
  rq.emergency = o.emergency;
  if (o.emergency && !o.break_glass) return Usage("--emergency needs --break-glass");
  if (o.role.empty()) {
    if (!o.break_glass) return Usage("--role is required (except with --break-glass)");
    rq.role = auth::Role::kHostOperator;
  } else {
    auto role = auth::ParseRole(o.role);
    if (!role) return Usage("--role must be tenant-admin, practitioner, service or auditor");
    rq.role = *role;
  }
  rq.owner = o.owner.empty() ? SystemUser() : o.owner;
  rq.reason = o.reason;
  int64_t now = SystemClock::Get().NowSeconds();
  if (!o.start.empty()) {
    auto start = ParseTime("--start", o.start);
    if (!start.ok()) return Usage(start.status().message());
    rq.start = *start;
  }
  if (o.end.empty() == o.duration.empty()) return Usage("give exactly one of --end and --duration");
  if (!o.end.empty()) {
    auto end = ParseTime("--end", o.end);
    if (!end.ok()) return Usage(end.status().message());
    rq.end = *end;
  } else {
    auto d = auth::ParseDurationSeconds(o.duration);
    if (!d.ok()) return Usage("--duration: " + d.status().message());
    rq.end = (rq.start != 0 ? rq.start : now) + *d;
  }
  rq.id = crypto::RandomId();
  Status valid = auth::ValidateGrantRequest(rq, now);
  if (!valid.ok()) return Usage(valid.message());

  auto inst = OpenData(o);
  if (!inst.ok()) return Fail(inst.status());
  auto store = auth::GrantStore::Open(o.data_dir);
  if (!store.ok()) return Fail(store.status());

  std::string request_id = crypto::RandomId();
  std::string kind(auth::GrantKindName(rq.kind));
  audit::Record act = Act("access-grant", 'C', o.tenant, request_id);
  act.resource_id = rq.id;
  act.query = {{"subject", rq.subject},
               {"role", std::string(auth::RoleName(rq.role))},
               {"kind", kind},
               {"start", Instant(rq.start != 0 ? rq.start : now)},
               {"end", Instant(rq.end)}};
  if (rq.emergency) act.query.emplace_back("emergency", "true");
  std::optional<audit::Record> tenant_record;
  if (rq.kind == auth::GrantKind::kBreakGlass) {
    // The tenant sees, in its own trail, that the host's staff may read its health data.
    audit::Record t = Act("access-break-glass", 'C', o.tenant, request_id);
    t.subject = rq.owner;
    t.role = rq.emergency ? "host-operator" : "cli";
    t.staff = true;
    t.resource_id = rq.id;
    t.detail = std::string(rq.emergency ? "emergency break-glass" : "break-glass") +
               ": read access to health data for host staff " + rq.subject + " until " +
               Instant(rq.end);
    tenant_record = std::move(t);
  }
  Result<auth::Grant> made = NotFound("not made");
  int rc = Recorded(*inst, act, tenant_record, [&]() -> Status {
    made = (*store)->Create(rq, now);
    return made.status();
  });
  if (rc != 0) return rc;
  std::cout << made->id << "\n";
  std::cerr << "hygie: " << kind << " grant " << made->id << " gives " << made->subject << " "
            << (made->kind == auth::GrantKind::kBreakGlass
                    ? std::string("read access to health data")
                    : "the role " + o.role)
            << " in " << o.tenant << " from " << Instant(made->start) << " to "
            << Instant(made->end) << "\n";
  if (made->emergency) {
    std::cerr << "hygie: emergency access: the tenant's audit trail shows it; revoke it as soon "
                 "as the work is done (hygie access revoke)\n";
  }
  return 0;
}

int RunRevoke(const AccessOptions& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) return Usage("--tenant is not a valid tenant name");
  if (o.reason.empty()) return Usage("--reason is required");
  auto inst = OpenData(o);
  if (!inst.ok()) return Fail(inst.status());
  auto store = auth::GrantStore::Open(o.data_dir);
  if (!store.ok()) return Fail(store.status());
  auto grant = (*store)->Get(o.tenant, o.id);
  if (!grant.ok()) return Fail(NotFound("no grant " + o.id + " in tenant " + o.tenant));
  if (grant->revoked != 0) return Fail(FailedPrecondition("grant " + o.id + " is already revoked"));
  std::string revoker = o.owner.empty() ? SystemUser() : o.owner;
  std::string request_id = crypto::RandomId();
  audit::Record act = Act("access-revoke", 'D', o.tenant, request_id);
  act.resource_id = o.id;
  act.query = {{"subject", grant->subject},
               {"kind", std::string(auth::GrantKindName(grant->kind))}};
  std::optional<audit::Record> tenant_record;
  if (grant->kind == auth::GrantKind::kBreakGlass) {
    audit::Record t = Act("access-break-glass", 'D', o.tenant, request_id);
    t.subject = revoker;
    t.role = "cli";
    t.staff = true;
    t.resource_id = o.id;
    t.detail = "break-glass access of host staff " + grant->subject + " revoked";
    tenant_record = std::move(t);
  }
  int64_t now = SystemClock::Get().NowSeconds();
  int rc = Recorded(*inst, act, tenant_record, [&]() -> Status {
    return (*store)->Revoke(o.tenant, o.id, revoker, o.reason, now).status();
  });
  if (rc == 0) std::cerr << "hygie: grant " << o.id << " revoked\n";
  return rc;
}

// One line per grant: id, status, kind, role, subject, start, end, owner, last use, flags,
// reason (tab-separated).
void PrintLine(const auth::Grant& g, int64_t now, const std::vector<std::string>* flags) {
  std::cout << g.id << "\t" << auth::GrantStatusAt(g, now) << "\t" << auth::GrantKindName(g.kind)
            << (g.emergency ? "(emergency)" : "") << "\t" << auth::RoleName(g.role) << "\t"
            << g.subject << "\t" << Instant(g.start) << "\t" << Instant(g.end) << "\t" << g.owner
            << "\t" << (g.last_used != 0 ? Instant(g.last_used) : std::string("never"));
  if (flags != nullptr) {
    std::string f;
    for (const std::string& x : *flags) f += (f.empty() ? "" : ",") + x;
    std::cout << "\t" << (f.empty() ? "-" : f);
  }
  std::cout << "\t" << g.reason;
  if (g.revoked != 0) {
    std::cout << " [revoked " << Instant(g.revoked) << " by " << g.revoker << ": "
              << g.revoke_reason << "]";
  }
  std::cout << "\n";
}

int RunList(const AccessOptions& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) return Usage("--tenant is not a valid tenant name");
  auto store = auth::GrantStore::Open(o.data_dir);
  if (!store.ok()) return Fail(store.status());
  int64_t now = SystemClock::Get().NowSeconds();
  auto grants = (*store)->List(o.tenant);
  if (o.json) {
    std::cout << auth::GrantListJson(o.tenant, grants, now) << "\n";
    return 0;
  }
  std::cout << "ID\tSTATUS\tKIND\tROLE\tSUBJECT\tSTART\tEND\tOWNER\tLAST-USED\tREASON\n";
  for (const auth::Grant& g : grants) PrintLine(g, now, nullptr);
  return 0;
}

int RunReview(const AccessOptions& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) return Usage("--tenant is not a valid tenant name");
  // The review is itself evidence (HDS: internal audits review staff access): it is recorded.
  auto inst = OpenData(o);
  if (!inst.ok()) return Fail(inst.status());
  auto store = auth::GrantStore::Open(o.data_dir);
  if (!store.ok()) return Fail(store.status());
  int64_t now = SystemClock::Get().NowSeconds();
  std::vector<auth::GrantReview> review;
  int rc =
      Recorded(*inst, Act("access-review", 'R', o.tenant, crypto::RandomId()), std::nullopt, [&] {
        review = (*store)->Review(o.tenant, now);
        return Status::Ok();
      });
  if (rc != 0) return rc;
  if (o.json) {
    std::cout << auth::ReviewJson(o.tenant, review, now) << "\n";
    return 0;
  }
  std::cout << "ID\tSTATUS\tKIND\tROLE\tSUBJECT\tSTART\tEND\tOWNER\tLAST-USED\tFLAGS\tREASON\n";
  size_t flagged = 0;
  for (const auth::GrantReview& r : review) {
    std::vector<std::string> flags = auth::ReviewFlags(r);
    if (r.unused_90_days || r.grant.emergency) ++flagged;
    PrintLine(r.grant, now, &flags);
  }
  std::cerr << "hygie: " << review.size() << " grants reviewed, " << flagged
            << " to look at (unused for 90 days or emergency)\n";
  return 0;
}

}  // namespace

void AddAccessCommands(CLI::App& app) {
  auto o = std::make_shared<AccessOptions>();
  auto* access = app.add_subcommand("access", "Access rights of a tenant: grants and break-glass");
  access->require_subcommand(1);
  auto common = [o](CLI::App* cmd) {
    cmd->add_option("--data", o->data_dir, "Data directory")->required();
    cmd->add_option("--tenant", o->tenant, "Tenant")->required();
  };
  auto passphrase = [o](CLI::App* cmd) {
    cmd->add_option("--passphrase-env", o->passphrase_env,
                    "Environment variable holding the keyring passphrase");
  };
  auto run = [](int (*fn)(const AccessOptions&), std::shared_ptr<AccessOptions> opts) {
    return [fn, opts] {
      int rc = fn(*opts);
      std::cout.flush();
      std::cerr.flush();
      std::exit(rc);
    };
  };

  auto* grant = access->add_subcommand(
      "grant", "Give a subject a role in the tenant, or host staff break-glass access");
  common(grant);
  grant
      ->add_option("--subject", o->subject,
                   "Token subject (sub) the grant applies to, or pro:<professional id>")
      ->required();
  grant
      ->add_option("--role", o->role,
                   "Role given: tenant-admin, practitioner, service or auditor "
                   "(host-operator, the default, with --break-glass)")
      ->check(
          CLI::IsMember({"tenant-admin", "practitioner", "service", "auditor", "host-operator"}));
  grant->add_option("--reason", o->reason, "Why (required; no health data)")->required();
  grant->add_option("--start", o->start, "Start, ISO 8601 with a time zone (default: now)");
  auto* end = grant->add_option("--end", o->end, "End, ISO 8601 with a time zone");
  auto* duration =
      grant->add_option("--duration", o->duration, "Length from the start: 90m, 8h, 30d");
  end->excludes(duration);
  grant->add_flag("--break-glass", o->break_glass,
                  "Read access to the tenant's health data for a host operator (at most 72 h)");
  grant->add_flag("--emergency", o->emergency,
                  "A break-glass the host operator makes for itself; recorded in the tenant's "
                  "trail");
  grant->add_option("--owner", o->owner, "Who grants (default: the system user)");
  passphrase(grant);
  grant->final_callback(run(RunGrant, o));

  auto* revoke = access->add_subcommand("revoke", "End a grant now");
  common(revoke);
  revoke->add_option("--id", o->id, "Grant id")->required();
  revoke->add_option("--reason", o->reason, "Why (required)")->required();
  revoke->add_option("--owner", o->owner, "Who revokes (default: the system user)");
  passphrase(revoke);
  revoke->final_callback(run(RunRevoke, o));

  auto* list =
      access->add_subcommand("list", "List a tenant's grants, revoked and expired ones too");
  common(list);
  list->add_flag("--json", o->json, "JSON output");
  list->final_callback(run(RunList, o));

  auto* review = access->add_subcommand(
      "review",
      "Access review: every grant with its last use and flags (unused for 90 days, expired, "
      "revoked, emergency); recorded in the audit journal");
  common(review);
  review->add_flag("--json", o->json, "JSON output");
  passphrase(review);
  review->final_callback(run(RunReview, o));
}

}  // namespace hygie::cli
