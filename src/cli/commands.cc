#include "cli/commands.h"

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "api/fhir_api.h"

#include <boost/asio/post.hpp>
#include "audit/journal.h"
#include "audit/proof_json.h"
#include "audit/syslog_export.h"
#include "audit/verify.h"
#include "auth/grants.h"
#include "auth/oidc.h"
#include "auth/scopes.h"
#include "auth/token.h"
#include "cli/backup_commands.h"
#include "cli/cli_support.h"
#include "cli/installation.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "crypto/primitives.h"
#include "fhir/resource.h"
#include "http/client.h"
#include "http/server.h"
#include "storage/store.h"
#include "tenancy/issuers.h"
#include "tenancy/retention.h"
#include "tenancy/tenant.h"

namespace hygie::cli {

namespace {

// Splits "ADDR:PORT" or "[v6]:PORT".
bool ParseListen(const std::string& listen, std::string* addr, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string a = listen.substr(0, colon);
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  std::string p = listen.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  int v = std::stoi(p);
  if (v > 65535) return false;
  *addr = a;
  *port = static_cast<uint16_t>(v);
  return true;
}

// Opens the installation and applies --audit-dir.
Result<Installation> Open(const Options& o) {
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return inst.status();
  inst->audit_dir = o.audit_dir.empty() ? o.data_dir + "/audit" : o.audit_dir;
  return inst;
}

// The record of a command-line act on the installation.
audit::Record Act(std::string interaction, char action, std::string tenant) {
  audit::Record r;
  r.interaction = std::move(interaction);
  r.action = action;
  r.tenant = std::move(tenant);
  r.status = 200;
  return r;
}

}  // namespace

int64_t ParseTtl(const std::string& text) {
  if (text.empty()) return -1;
  int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      digits.pop_back();
      break;
    case 'm':
      unit = 60;
      digits.pop_back();
      break;
    case 'h':
      unit = 3600;
      digits.pop_back();
      break;
    default:
      break;
  }
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  return std::stoll(digits) * unit;
}

int RunInit(const Options& o) {
  InitOptions init{o.data_dir, o.kek_file, o.passphrase_env};
  Status s = InitInstallation(init);
  if (!s.ok()) return Fail(s);
  std::cerr << "hygie: data directory " << o.data_dir << " created\n"
            << "  next: hygie tenant create NAME --data " << o.data_dir << "\n";
  return 0;
}

int RunTenantCreate(const Options& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) {
    return Usage(
        "tenant name must be 2 to 63 characters of a-z, 0-9 and '-', not starting or "
        "ending with '-'");
  }
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  int rc = Recorded(*inst, Act("tenant-create", 'C', o.tenant),
                    [&] { return inst->keyring->AddTenant(o.tenant); });
  if (rc == 0) std::cerr << "hygie: tenant " << o.tenant << " created\n";
  return rc;
}

int RunTenantList(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  for (const std::string& t : inst->keyring->Tenants()) std::cout << t << "\n";
  return 0;
}

int RunKeyRotate(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  if (!inst->keyring->HasTenant(o.tenant)) return Fail(NotFound("unknown tenant " + o.tenant));
  uint32_t new_id = 0;
  int rc = Recorded(*inst, Act("key-rotate", 'U', o.tenant), [&]() -> Status {
    auto id = inst->keyring->RotateDataKey(o.tenant);
    if (!id.ok()) return id.status();
    new_id = *id;
    return Status::Ok();
  });
  if (rc != 0) return rc;
  auto id = &new_id;
  std::cerr << "hygie: tenant " << o.tenant << " now seals new data with data key " << *id
            << "; older keys stay for reading\n";
  return 0;
}

int RunTokenIssue(const Options& o) {
  int64_t ttl = ParseTtl(o.ttl);
  if (ttl <= 0 || ttl > 24 * 3600) return Usage("--ttl must be between 1s and 24h");
  auto scopes = auth::ScopeSet::Parse(o.scope);
  if (!scopes.ok()) return Usage("--scope: " + scopes.status().message());
  if (scopes->scopes().empty()) return Usage("--scope names no resource scope");
  for (const auth::Scope& sc : scopes->scopes()) {
    if (sc.type != "*" && !fhir::IsResourceType(sc.type)) {
      return Usage("--scope names an unknown resource type: " + sc.type);
    }
  }
  if (!o.patient.empty() && !fhir::IsValidId(o.patient)) {
    return Usage("--patient must be a FHIR id");
  }
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  if (!inst->keyring->HasTenant(o.tenant)) return Fail(NotFound("unknown tenant " + o.tenant));
  // Issuing a token grants rights: the act is recorded, with the subject and scopes.
  audit::Record act = Act("token-issue", 'C', o.tenant);
  act.query = {{"subject", o.subject}, {"scope", o.scope}, {"ttl", o.ttl}};
  if (!o.patient.empty()) act.query.emplace_back("patient", "set");
  if (!o.role.empty()) act.query.emplace_back("role", o.role);
  Status recorded = RecordCliAct(*inst, act);
  if (!recorded.ok()) {
    std::cerr << "hygie: the audit journal cannot record this act, so it was not done: "
              << recorded.message() << "\n";
    return 1;
  }
  auto key = inst->IssuerKey();
  if (!key.ok()) return Fail(key.status());
  auth::TokenIssuer issuer(std::move(key).value(), inst->issuer, inst->audience,
                           SystemClock::Get());
  auth::Claims claims;
  claims.subject = o.subject;
  claims.tenant = o.tenant;
  claims.scope = o.scope;
  if (!o.patient.empty()) claims.patient = o.patient;
  claims.client_id = "hygie-cli";
  claims.role = o.role;
  claims.professional_id = o.professional_id;
  claims.purpose_of_use = o.purpose;
  claims.acr = o.acr;
  claims.amr = o.amr;
  auto token = issuer.Issue(claims, ttl);
  if (!token.ok()) return Fail(token.status());
  std::cout << *token << "\n";
  return 0;
}

int RunServe(const Options& o) {
  log::SetLevel(o.log_level);
  std::string addr;
  uint16_t port = 0;
  if (!ParseListen(o.listen, &addr, &port)) return Usage("--listen must be ADDR:PORT");
  if (o.threads < 1 || o.threads > 256) return Usage("--threads must be between 1 and 256");
  if (o.max_json_depth < 2 || o.max_json_depth > 10000) {
    return Usage("--max-depth must be between 2 and 10000");
  }
  int64_t drill_every_us = 0;
  if (!o.backup_drill_every.empty()) {
    auto every = ParseDuration(o.backup_drill_every);
    if (!every.ok()) return Usage("--backup-drill-every: " + every.status().message());
    drill_every_us = *every;
  }
  int64_t base_every_us = 0;
  if (o.backup_base_every != "0") {
    auto every = ParseDuration(o.backup_base_every);
    if (!every.ok()) return Usage("--backup-base-every: " + every.status().message());
    base_every_us = *every;
  }
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  auto key = inst->IssuerKey();
  if (!key.ok()) return Fail(key.status());
  auto journal = inst->OpenJournal(SystemClock::Get(), o.audit_batch_window_us);
  if (!journal.ok()) return Fail(journal.status());
  // The server owns every tree of the journal for its lifetime (CLI acts go through the spool).
  // Opening them now also signs the checkpoint that records written just before a crash lack.
  {
    for (const std::string& tree : (*journal)->Trees()) {
      Status owned = (*journal)->Flush(tree);
      if (!owned.ok()) {
        return Fail(Status(owned.code(), "audit journal " + tree + ": " + owned.message() +
                                             " (is another hygie serve running on this data?)"));
      }
    }
    audit::Record start = Act("server-start", 'E', "");
    start.request_id = crypto::RandomId();
    start.time_us = SystemClock::Get().NowMicros();
    start.peer = "local";
    start.role = "server";
    start.subject = "hygie";
    Status s = (*journal)->AppendSync(std::string(audit::kSystemTree), {start});
    if (!s.ok()) return Fail(Status(s.code(), "audit journal: " + s.message()));
  }
  std::unique_ptr<audit::SyslogExporter> exporter;
  if (!o.syslog.empty()) {
    audit::SyslogOptions so;
    so.url = o.syslog;
    so.ca_file = o.syslog_ca;
    so.cert_file = o.syslog_cert;
    so.key_file = o.syslog_key;
    so.state_dir = inst->audit_dir + "/_export";
    auto e = audit::SyslogExporter::Create(so, **journal, SystemClock::Get());
    if (!e.ok()) return Usage("--syslog: " + e.status().message());
    exporter = std::move(e).value();
    exporter->Start();
  }
  // External OpenID Connect issuers trusted by tenants (hygie issuer add), reloaded when their
  // file changes.
  auth::OidcVerifier oidc(
      {}, [](const std::string& url) { return http::HttpGet(url); }, SystemClock::Get());
  const std::string issuers_path = tenancy::TrustedIssuersPath(o.data_dir);
  auto issuers_stamp = [&issuers_path] {
    struct stat st {};
    if (::stat(issuers_path.c_str(), &st) != 0) return std::pair<int64_t, int64_t>{0, 0};
    return std::pair<int64_t, int64_t>{st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                                       static_cast<int64_t>(st.st_ino)};
  };
  auto loaded_issuers = issuers_stamp();
  {
    auto issuers = tenancy::LoadTrustedIssuers(o.data_dir);
    if (!issuers.ok()) return Fail(issuers.status());
    Status set = oidc.SetIssuers(*issuers);
    if (!set.ok()) return Fail(set);
    if (!issuers->empty()) log::Info("{} trusted OpenID Connect issuer(s)", issuers->size());
  }
  std::mutex issuers_mu;
  auto reload_issuers = [&](bool force) {
    std::lock_guard lock(issuers_mu);
    auto stamp = issuers_stamp();
    if (stamp == loaded_issuers && !force) return;
    auto issuers = tenancy::LoadTrustedIssuers(o.data_dir);
    Status set = issuers.ok() ? oidc.SetIssuers(*issuers) : issuers.status();
    if (!set.ok()) {
      log::Error("trusted issuers not reloaded: {}", set.message());
    } else {
      log::Info("trusted issuers reloaded: {}", issuers->size());
    }
    loaded_issuers = stamp;
  };
  // Housekeeping: spooled CLI records every second, retention every hour.
  std::mutex house_mu;
  std::condition_variable house_cv;
  bool house_stop = false;
  std::thread housekeeper([&] {
    int64_t next_prune = 0;
    std::unique_lock lock(house_mu);
    while (!house_stop) {
      lock.unlock();
      auto moved = (*journal)->IngestSpool();
      if (!moved.ok()) log::Error("audit journal: spool: {}", moved.status().message());
      int64_t now = SystemClock::Get().NowMicros();
      if (now >= next_prune) {
        next_prune = now + 3600LL * 1000000;
        for (const std::string& tree : (*journal)->Trees()) {
          auto days = tenancy::AuditRetentionDays(o.data_dir, tree);
          if (!days.ok()) continue;
          auto pruned = (*journal)->Prune(tree, now - int64_t{*days} * 86400 * 1000000);
          if (pruned.ok() && *pruned > 0) {
            log::Info("audit journal {}: {} records past {} days of retention pruned", tree,
                      *pruned, *days);
          }
        }
      }
      if (exporter) exporter->Notify();
      reload_issuers(false);
      lock.lock();
      house_cv.wait_for(lock, std::chrono::seconds(1));
    }
  });
  auto stop_housekeeper = [&] {
    {
      std::lock_guard lock(house_mu);
      house_stop = true;
    }
    house_cv.notify_all();
    if (housekeeper.joinable()) housekeeper.join();
  };

  http::ServerOptions so;
  so.address = addr;
  so.port = port;
  so.threads = o.threads;
  so.max_body_bytes = o.max_body_bytes;
  so.tls_cert_file = o.tls_cert;
  so.tls_key_file = o.tls_key;
  so.tls_client_ca_file = o.tls_client_ca;
  bool loopback = http::IsLoopbackAddress(addr);
  // Client certificates need TLS, on loopback too.
  if ((!loopback || !so.tls_client_ca_file.empty()) && so.tls_cert_file.empty()) {
    so.tls_cert_file = inst->tls_cert();
    so.tls_key_file = inst->tls_key();
  }

  auto store = storage::OpenSqliteStore(inst->tenants_dir());
  if (!store.ok()) return Fail(store.status());

  auth::TokenVerifier::Options vo;
  vo.issuer = inst->issuer;
  vo.audience = inst->audience;
  auth::TokenVerifier verifier(vo, {key->Public()}, SystemClock::Get());

  api::ApiOptions ao;
  ao.parse_limits.max_depth = o.max_json_depth;
  ao.public_base_url = o.public_url;
  while (!ao.public_base_url.empty() && ao.public_base_url.back() == '/') {
    ao.public_base_url.pop_back();
  }
  ao.auth_limit.per_second = o.auth_failures_per_minute / 60.0;
  ao.auth_limit.burst = o.auth_failure_burst;
  ao.admin_acr_values = o.admin_acr;
  ao.admin_mtls = !so.tls_client_ca_file.empty();
  ao.data_dir = o.data_dir;
  // Access rights: roles, grants and break-glass (DATA/grants/).
  auth::GrantStore::Options go;
  go.on_emergency = [](const auth::Grant& g) {
    // The tenant's audit trail already holds the act (recorded before the grant was made).
    log::Warn("emergency break-glass: {} may read tenant {} until {} (grant {})", g.subject,
              g.tenant, FormatInstant(g.end * 1000000), g.id);
  };
  auto grants = auth::GrantStore::Open(o.data_dir, go);
  if (!grants.ok()) return Fail(grants.status());
  api::FhirApi api(ao, *inst->keyring, **store, verifier, **journal, SystemClock::Get());
  api.SetOidcVerifier(&oidc);
  api.SetGrantStore(grants->get());
  api.SetIssuersChanged([&] { reload_issuers(true); });
  // Continuous backups to the installation's targets (none: no shipper).
  auto shipper =
      StartShipper(*inst, **store, int64_t{o.backup_interval_s} * 1000000, base_every_us);
  if (!shipper.ok()) {
    stop_housekeeper();
    if (exporter) exporter->Stop();
    (*journal)->Close();
    (*store)->Close();
    return Fail(Status(shipper.status().code(), "backup: " + shipper.status().message()));
  }
  std::unique_ptr<DrillScheduler> drills;
  if (drill_every_us > 0) drills = std::make_unique<DrillScheduler>(*inst, **store, drill_every_us);

  {
    http::Server server(
        so,
        [&api](http::Request& req, const http::RequestContext& ctx) {
          return api.Handle(req, ctx);
        },
        [&api](int status, std::string_view reason) { return api.ParserError(status, reason); });
    Status s = server.Start();
    if (!s.ok()) {
      stop_housekeeper();
      if (drills) drills->Stop();
      if (*shipper) (*shipper)->Stop();
      if (exporter) exporter->Stop();
      (*journal)->Close();
      (*store)->Close();
      return Fail(s);
    }
    api.SetReady(true);
    bool tls = !so.tls_cert_file.empty();
    log::Info("hygie {} serving {}://{}:{}/fhir/ (data {})", HYGIE_VERSION, tls ? "https" : "http",
              addr, server.port(), o.data_dir);
    if (!o.port_file.empty()) {
      // For scripts and tests waiting for the server; readable as before (0644 less the umask).
      Status written =
          Env::Default().WriteFileAtomic(o.port_file, std::to_string(server.port()) + "\n", 0644);
      if (!written.ok()) log::Warn("cannot write the port file: {}", written.message());
    }
    server.WaitForSignal();
    log::Info("shutting down: finishing requests in flight");
    api.SetReady(false);
    server.Stop();
    stop_housekeeper();
    (*journal)->Close();               // signs a last checkpoint of every tree
    if (*shipper) (*shipper)->Stop();  // ships it, and what the last requests wrote
    if (exporter) exporter->Stop();
    (*store)->Close();
  }
  log::Info("stopped");
  return 0;
}

namespace {

std::string Hex(const audit::Hash& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : h) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// The tree a command is about: --tenant, or the system tree when --tenant is "_system" or
// absent (for commands that accept that).
std::string TreeOf(const Options& o) {
  return o.tenant.empty() ? std::string(audit::kSystemTree) : o.tenant;
}

Result<crypto::SecretKey> SeedOf(const Installation& inst, const std::string& tree) {
  if (tree == audit::kSystemTree) return inst.SystemAuditSeed();
  HYGIE_ASSIGN_OR_RETURN(auto keys, inst.keyring->Tenant(tree));
  return crypto::SecretKey::FromBytes(keys->audit_seed().bytes());
}

// The newest checkpoint of a tree, opened with the tree's key.
Result<audit::Checkpoint> NewestCheckpoint(audit::Journal& journal, const std::string& tree,
                                           std::string* note) {
  HYGIE_ASSIGN_OR_RETURN(*note, journal.LatestCheckpoint(tree));
  HYGIE_ASSIGN_OR_RETURN(std::string vkey, journal.VerifierKey(tree));
  HYGIE_ASSIGN_OR_RETURN(audit::NoteVerifier verifier, audit::NoteVerifier::Parse(vkey));
  return verifier.Open(*note);
}

}  // namespace

int RunAuditVerify(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  std::vector<std::string> trees;
  if (!o.tenant.empty()) {
    trees.push_back(o.tenant);
  } else {
    audit::JournalOptions jo;
    jo.dir = inst->audit_dir;
    jo.seed_for = [](const std::string&) -> Result<crypto::SecretKey> {
      return Unavailable("not used");
    };
    auto journal = audit::Journal::Open(jo, SystemClock::Get());
    if (!journal.ok()) return Fail(journal.status());
    trees = (*journal)->Trees();
  }
  if (trees.empty()) {
    std::cerr << "hygie: no audit journal in " << inst->audit_dir << "\n";
    return 1;
  }
  int failures = 0;
  for (const std::string& tree : trees) {
    std::string dir = inst->audit_dir + "/" + tree;
    if (!std::filesystem::is_directory(dir)) {
      std::cerr << tree << ": no journal at " << dir << "\n";
      ++failures;
      continue;
    }
    auto seed = SeedOf(*inst, tree);
    if (!seed.ok()) {
      std::cerr << tree << ": no key: " << seed.status().message() << "\n";
      ++failures;
      continue;
    }
    auto keys = audit::TreeKeys::Derive(seed->bytes());
    if (!keys.ok()) return Fail(keys.status());
    audit::VerifyReport report;
    Status s = audit::VerifyTree(dir, inst->AuditOriginPrefix() + "/" + tree, *keys, &report);
    if (!s.ok()) {
      std::cout << tree << ": FAILED: " << s.message() << "\n";
      ++failures;
      continue;
    }
    std::cout << tree << ": OK: " << report.records << " records (" << report.pruned_records
              << " pruned to their hashes) in " << report.segments << " segments, "
              << report.checkpoints << " signed checkpoints, tree size " << report.checked_size;
    if (report.live) {
      std::cout << "; a server is writing: " << report.uncovered
                << " newer records await their checkpoint";
    }
    std::cout << "\n";
  }
  if (o.tenant.empty()) {
    // Records the command line spooled while a server ran: sealed, numbered, none missing.
    auto seed = inst->SystemAuditSeed();
    auto key = seed.ok() ? audit::SpoolKey(*seed) : Result<crypto::SecretKey>(seed.status());
    auto scan = key.ok() ? audit::ScanSpool(inst->audit_dir, *key, *inst->env)
                         : Result<audit::SpoolScan>(key.status());
    if (!scan.ok()) {
      std::cout << "spool: FAILED: " << scan.status().message() << "\n";
      ++failures;
    } else {
      for (const audit::SpoolProblem& p : scan->problems) {
        std::cout << "spool: " << audit::SpoolProblemName(p.kind) << "\t" << p.file << "\t"
                  << p.detail << "\n";
      }
      if (!scan->ok()) ++failures;
      std::cout << "spool: " << (scan->ok() ? "OK" : "DAMAGED") << ": " << scan->pending.size()
                << " records waiting for the server, " << scan->ingested << " moved in, "
                << scan->problems.size() << " problems\n";
    }
  }
  return failures == 0 ? 0 : 1;
}

// The journal and the newest checkpoint of the tree a command names. On failure, the exit code.
struct NewestTree {
  std::unique_ptr<audit::Journal> journal;
  std::string tree;
  std::string note;
  audit::Checkpoint checkpoint;
};
std::optional<int> OpenNewest(const Options& o, const Installation& inst, NewestTree* out) {
  auto journal = inst.OpenJournal(SystemClock::Get());
  if (!journal.ok()) return Fail(journal.status());
  out->journal = std::move(journal).value();
  out->tree = TreeOf(o);
  auto cp = NewestCheckpoint(*out->journal, out->tree, &out->note);
  if (!cp.ok()) return Fail(cp.status());
  out->checkpoint = std::move(cp).value();
  return std::nullopt;
}

int RunAuditCheckpoint(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  NewestTree t;
  if (auto failed = OpenNewest(o, *inst, &t)) return *failed;
  auto vkey = t.journal->VerifierKey(t.tree);
  if (!vkey.ok()) return Fail(vkey.status());
  std::cout << t.note;
  std::cerr << "verifier key: " << *vkey << "\n";
  return 0;
}

int RunAuditInclusion(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  NewestTree t;
  if (auto failed = OpenNewest(o, *inst, &t)) return *failed;
  uint64_t size = o.size == 0 ? t.checkpoint.size : o.size;
  if (o.index >= size) return Usage("--index must be below the tree size " + std::to_string(size));
  auto proof = t.journal->InclusionProof(t.tree, o.index, size);
  if (!proof.ok()) return Fail(proof.status());
  auto leaf = t.journal->LeafHash(t.tree, o.index);
  if (!leaf.ok()) return Fail(leaf.status());
  std::vector<std::string> record;
  uint64_t next = 0;
  Status rs = t.journal->Read(t.tree, o.index, 1, &record, &next);
  if (!rs.ok()) return Fail(rs);
  audit::ProofJson doc;
  doc.tree = t.tree;
  doc.index = o.index;
  doc.size = size;
  doc.leaf_hash = *leaf;
  doc.proof = std::move(proof).value();
  if (size == t.checkpoint.size) {
    Status v = audit::VerifyInclusion(o.index, size, *leaf, doc.proof, t.checkpoint.root);
    if (!v.ok()) return Fail(Status(Code::kDataLoss, "the proof does not verify: " + v.message()));
    doc.checkpoint = t.note;
  }
  doc.record = record.empty() ? std::string() : record[0];
  std::cout << audit::WriteProofJson(doc) << "\n";
  std::cerr << "leaf " << Hex(*leaf) << " is record " << o.index << " of the tree of size " << size
            << "\n";
  return 0;
}

int RunAuditConsistency(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  NewestTree t;
  if (auto failed = OpenNewest(o, *inst, &t)) return *failed;
  uint64_t size2 = o.size2 == 0 ? t.checkpoint.size : o.size2;
  if (o.size1 == 0 || o.size1 > size2) return Usage("need 0 < --size1 <= --size2");
  auto proof = t.journal->ConsistencyProof(t.tree, o.size1, size2);
  if (!proof.ok()) return Fail(proof.status());
  audit::ProofJson doc;
  doc.tree = t.tree;
  doc.size1 = o.size1;
  doc.size2 = size2;
  doc.proof = std::move(proof).value();
  if (size2 == t.checkpoint.size) doc.checkpoint = t.note;
  std::cout << audit::WriteProofJson(doc) << "\n";
  return 0;
}

int RunAuditPrune(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  auto journal = inst->OpenJournal(SystemClock::Get());
  if (!journal.ok()) return Fail(journal.status());
  std::vector<std::string> trees =
      o.tenant.empty() ? (*journal)->Trees() : std::vector<std::string>{o.tenant};
  int64_t now = SystemClock::Get().NowMicros();
  return Recorded(*inst, Act("audit-prune", 'D', o.tenant), [&]() -> Status {
    for (const std::string& tree : trees) {
      HYGIE_ASSIGN_OR_RETURN(int days, tenancy::AuditRetentionDays(o.data_dir, tree));
      HYGIE_ASSIGN_OR_RETURN(uint64_t n,
                             (*journal)->Prune(tree, now - int64_t{days} * 86400 * 1000000));
      std::cout << tree << ": " << n << " records older than " << days
                << " days pruned to their hashes\n";
    }
    return Status::Ok();
  });
}

int RunAuditRetention(const Options& o) {
  auto inst = Open(o);
  if (!inst.ok()) return Fail(inst.status());
  std::string tree = TreeOf(o);
  if (tree != audit::kSystemTree && !inst->keyring->HasTenant(tree)) {
    return Fail(NotFound("unknown tenant " + tree));
  }
  if (o.retention_days != 0) {
    if (o.retention_days < tenancy::kMinAuditRetentionDays ||
        o.retention_days > tenancy::kMaxAuditRetentionDays) {
      return Usage("--days must be between 183 and 1096 (6 months to 3 years)");
    }
    audit::Record act = Act("audit-retention", 'U', o.tenant);
    act.query = {{"days", std::to_string(o.retention_days)}};
    int rc = Recorded(*inst, act, [&] {
      return tenancy::SetAuditRetentionDays(o.data_dir, tree, o.retention_days);
    });
    if (rc != 0) return rc;
  }
  auto days = tenancy::AuditRetentionDays(o.data_dir, tree);
  if (!days.ok()) return Fail(days.status());
  std::cout << tree << ": audit records are kept " << *days << " days\n";
  return 0;
}

}  // namespace hygie::cli
