#include "cli/backup_commands.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/codec.h"
#include "api/reindex.h"
#include "audit/journal.h"
#include "audit/verify.h"
#include "backup/chain.h"
#include "backup/s3_target.h"
#include "backup/targets.h"
#include "cli/cli_support.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/file_lock.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/thread_name.h"
#include "crypto/keyed_hash.h"
#include "crypto/primitives.h"
#include "fhir/resource.h"
#include "fhir/search/indexer.h"
#include "tenancy/sites.h"
#include "tenancy/tenant.h"

namespace hygie::cli {
namespace {

namespace fs = std::filesystem;

struct BackupOptions {
  std::string data_dir;
  std::string passphrase_env;
  std::string name;
  std::string site;
  std::string dir;
  std::string endpoint;
  std::string bucket;
  std::string region = "us-east-1";
  int retention_days = 30;
  std::string credentials_file;
  std::string ca_file;
  std::string target;
  std::string tenant;
  std::string to;
  std::string at;
  std::string as;
  bool json = false;
  bool dry_run = false;
  std::string prune_credentials;
  int64_t from_base = -1;
  std::optional<uint32_t> daily, weekly, monthly;
};

std::function<void()> Run(int (*fn)(const BackupOptions&), std::shared_ptr<BackupOptions> o) {
  return [fn, o] {
    const int rc = fn(*o);
    std::cout.flush();
    std::cerr.flush();
    std::exit(rc);
  };
}

// The installation's shipping lock (one shipper per installation: a server, or `backup now`).
Result<std::unique_ptr<FileLock>> TakeShipLock(const std::string& data_dir) {
  HYGIE_RETURN_IF_ERROR(Env::Default().CreateDirs(data_dir + "/backup", 0700));
  auto lock = FileLock::TryTake(data_dir + "/backup/ship.lock");
  if (lock.status().code() == Code::kFailedPrecondition) {
    return FailedPrecondition(
        "another process ships this installation's backups (a running hygie serve ships "
        "continuously)");
  }
  HYGIE_RETURN_IF_ERROR(lock.status());
  return std::make_unique<FileLock>(std::move(*lock));
}

std::string StatusFile(const std::string& data_dir) { return data_dir + "/backup/status.json"; }

Result<Installation> OpenFor(const BackupOptions& o) {
  HYGIE_ASSIGN_OR_RETURN(Installation inst, OpenInstallation(o.data_dir, o.passphrase_env));
  if (inst.audit_dir.empty()) inst.audit_dir = o.data_dir + "/audit";
  if (!o.tenant.empty() && !inst.keyring->HasTenant(o.tenant)) {
    return NotFound("unknown tenant " + o.tenant);
  }
  return inst;
}

Result<backup::TargetConfig> FindTarget(const std::string& data_dir, const std::string& name) {
  HYGIE_ASSIGN_OR_RETURN(auto targets, backup::LoadTargets(data_dir));
  for (backup::TargetConfig& t : targets) {
    if (t.name == name) return std::move(t);
  }
  if (targets.empty()) {
    return NotFound("this installation has no backup target (hygie backup target add)");
  }
  return NotFound("no backup target named " + name);
}

std::string Instant(int64_t us) { return us == 0 ? "-" : FormatInstant(us); }

std::string HumanBytes(uint64_t n) {
  char buf[64];
  if (n >= (1u << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1u << 30));
  } else if (n >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(n) / (1u << 20));
  } else if (n >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  }
  return buf;
}

// The progress of a long operation on stderr (core/progress.h).
std::unique_ptr<Progress> MakeProgress(std::string what, std::optional<uint64_t> units,
                                       std::optional<uint64_t> bytes, const char* unit) {
  ProgressOptions po;
  po.unit = unit;
  return std::make_unique<Progress>(std::move(what), units, bytes, SystemClock::Get(), stderr,
                                    ::isatty(2) == 1, po);
}

// --- target ---

int RunTargetAdd(const BackupOptions& o) {
  backup::TargetConfig t;
  t.name = o.name;
  t.site = o.site;
  if (!o.dir.empty() == !o.endpoint.empty()) {
    return Usage("a target is either a directory (--dir) or an S3 store (--s3-endpoint)");
  }
  if (!o.dir.empty()) {
    t.kind = backup::TargetConfig::Kind::kDirectory;
    t.path = o.dir;
  } else {
    t.kind = backup::TargetConfig::Kind::kS3;
    t.endpoint = o.endpoint;
    t.bucket = o.bucket;
    t.region = o.region;
    t.retention_days = o.retention_days;
    t.credentials_file = o.credentials_file;
    t.ca_file = o.ca_file;
  }
  if (Status v = backup::ValidateTarget(t, o.data_dir); !v.ok()) return Usage(v.message());
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "backup-target-add";
  act.action = 'C';
  act.query = {
      {"target", t.name}, {"kind", std::string(backup::KindName(t.kind))}, {"site", t.site}};
  if (auto existing = FindTarget(o.data_dir, t.name); existing.ok()) {
    return Fail(AlreadyExists("a target named " + t.name + " exists"));
  }
  // HDS EXI 28 and a distinct site: checked before anything is recorded or written.
  auto sites = tenancy::LoadSites(o.data_dir);
  if (!sites.ok()) return Fail(sites.status());
  if (Status site = tenancy::CheckBackupSite(*sites, t.site,
                                             tenancy::UtcDate(SystemClock::Get().NowMicros()));
      !site.ok()) {
    return Fail(site);
  }
  int rc = Recorded(*inst, act, [&]() -> Status {
    // The target must answer before it is registered.
    HYGIE_ASSIGN_OR_RETURN(auto target, backup::OpenTarget(t));
    HYGIE_RETURN_IF_ERROR(target->List("hygie-backup/").status());
    if (auto* s3 = dynamic_cast<backup::S3Target*>(target.get())) {
      HYGIE_RETURN_IF_ERROR(s3->CheckObjectLock());
    }
    return backup::AddTarget(o.data_dir, t);
  });
  if (rc == 0) {
    std::cerr << "hygie: backups now go to " << t.name << " (" << backup::KindName(t.kind)
              << ", site " << t.site << "); a running server starts shipping there when it "
              << "restarts\n";
  }
  return rc;
}

int RunTargetList(const BackupOptions& o) {
  auto targets = backup::LoadTargets(o.data_dir);
  if (!targets.ok()) return Fail(targets.status());
  for (const backup::TargetConfig& t : *targets) {
    std::cout << t.name << "\t" << backup::KindName(t.kind) << "\tsite=" << t.site;
    if (t.kind == backup::TargetConfig::Kind::kDirectory) {
      std::cout << "\tdir=" << t.path;
    } else {
      std::cout << "\tendpoint=" << t.endpoint << "\tbucket=" << t.bucket << "\tregion=" << t.region
                << "\tretention_days=" << t.retention_days;
    }
    std::cout << "\n";
  }
  return 0;
}

int RunTargetRemove(const BackupOptions& o) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "backup-target-remove";
  act.action = 'D';
  act.query = {{"target", o.name}};
  int rc = Recorded(*inst, act, [&] { return backup::RemoveTarget(o.data_dir, o.name); });
  if (rc == 0) {
    std::cerr << "hygie: backups no longer go to " << o.name
              << " (what it holds is left there, under its retention)\n";
  }
  return rc;
}

// --- now / status / verify ---

Result<std::vector<backup::TargetConfig>> SelectTargets(const BackupOptions& o) {
  if (!o.target.empty()) {
    HYGIE_ASSIGN_OR_RETURN(backup::TargetConfig t, FindTarget(o.data_dir, o.target));
    return std::vector<backup::TargetConfig>{std::move(t)};
  }
  HYGIE_ASSIGN_OR_RETURN(auto targets, backup::LoadTargets(o.data_dir));
  if (targets.empty()) {
    return NotFound("this installation has no backup target (hygie backup target add)");
  }
  return targets;
}

// What ForEachChain hands each (target, chain) pair.
struct ChainCall {
  const Installation& inst;
  const backup::TargetConfig& config;
  backup::Target& target;
  const backup::ChainSpec& spec;
  const backup::ChainKeys& keys;
};

// Opens the installation, its store and the targets the options select, derives each chain's
// keys and calls `each` for every target and chain; returns 1 if any call returned 1, and fails
// at once on what makes every call impossible (the installation, a target, a key).
int ForEachChain(const BackupOptions& o, bool ship_lock,
                 const std::function<int(const ChainCall&)>& each) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  auto targets = SelectTargets(o);
  if (!targets.ok()) return Fail(targets.status());
  std::unique_ptr<FileLock> lock;
  if (ship_lock) {
    auto taken = TakeShipLock(o.data_dir);
    if (!taken.ok()) return Fail(taken.status());
    lock = std::move(*taken);
  }
  auto store = storage::OpenSqliteStore(inst->tenants_dir());
  if (!store.ok()) return Fail(store.status());
  auto chains = InstallationChains(*inst, **store, o.tenant);
  if (!chains.ok()) return Fail(chains.status());
  int rc = 0;
  for (const backup::TargetConfig& tc : *targets) {
    auto target = backup::OpenTarget(tc);
    if (!target.ok()) return Fail(target.status());
    for (const backup::ChainSpec& spec : *chains) {
      auto seed = spec.seed();
      if (!seed.ok()) return Fail(seed.status());
      auto keys = backup::ChainKeys::Derive(*seed);
      if (!keys.ok()) return Fail(keys.status());
      rc = std::max(rc, each({*inst, tc, **target, spec, *keys}));
    }
  }
  (*store)->Close();
  return rc;
}

int ChainError(const ChainCall& c, const Status& s) {
  std::cerr << "hygie: " << c.spec.id.tenant << " on " << c.config.name << ": " << s.message()
            << "\n";
  return 1;
}

// Ships what the chain's store and journal hold beyond the target's newest entry; *head is
// then the target's head.
Result<backup::ShipResult> ShipWhatIsNew(const ChainCall& c, backup::ChainHead* head) {
  HYGIE_ASSIGN_OR_RETURN(*head, backup::ReadHead(c.target, c.spec.id, c.keys));
  return backup::ShipChain(c.target, c.spec.id, c.keys, {c.spec.store.get(), c.spec.tree_dir},
                           SystemClock::Get(), {}, head);
}

int RunNow(const BackupOptions& o) {
  return ForEachChain(o, /*ship_lock=*/true, [](const ChainCall& c) {
    backup::ChainHead head;
    auto shipped = ShipWhatIsNew(c, &head);
    if (!shipped.ok()) return ChainError(c, shipped.status());
    std::cout << c.config.name << "\t" << c.spec.id.tenant << "\tpacks=" << shipped->packs
              << "\tversions=" << shipped->versions << "\tjournal_bytes=" << shipped->journal_bytes
              << "\tbytes=" << shipped->bytes << "\n";
    return 0;
  });
}

int RunStatus(const BackupOptions& o) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  auto targets = SelectTargets(o);
  if (!targets.ok()) return Fail(targets.status());
  auto store = storage::OpenSqliteStore(inst->tenants_dir());
  if (!store.ok()) return Fail(store.status());
  auto chains = InstallationChains(*inst, **store, o.tenant);
  if (!chains.ok()) return Fail(chains.status());
  std::map<std::pair<std::string, std::string>, backup::ChainStatus> server;
  if (auto file = backup::ReadStatusFile(StatusFile(o.data_dir)); file.ok()) {
    for (backup::ChainStatus& s : *file) server[{s.target, s.chain}] = std::move(s);
  }
  std::map<std::pair<std::string, std::string>, DrillRecord> last_drill;
  if (auto drills = LoadDrills(o.data_dir); drills.ok()) {
    for (DrillRecord& d : *drills) last_drill[{d.target, d.tenant}] = std::move(d);
  }
  int64_t now = SystemClock::Get().NowMicros();
  int rc = 0;
  rapidjson::StringBuffer json_text;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> json(json_text);
  json.StartArray();
  for (const backup::TargetConfig& tc : *targets) {
    auto target = backup::OpenTarget(tc);
    for (const backup::ChainSpec& spec : *chains) {
      std::string error;
      backup::ChainHead head;
      if (!target.ok()) {
        error = target.status().message();
      } else {
        auto seed = spec.seed();
        auto keys =
            seed.ok() ? backup::ChainKeys::Derive(*seed) : Result<backup::ChainKeys>(seed.status());
        auto read = keys.ok() ? backup::ReadHead(**target, spec.id, *keys)
                              : Result<backup::ChainHead>(keys.status());
        if (read.ok()) {
          head = std::move(*read);
        } else {
          error = read.status().message();
        }
      }
      // What the store holds that the target does not.
      uint64_t pending = 0, pending_bytes = 0;
      int64_t oldest_pending_us = 0;
      if (spec.store != nullptr && error.empty()) {
        uint64_t after = head.empty ? 0 : head.last.shipped_seq;
        for (int pages = 0; pages < 200; ++pages) {
          auto log = spec.store->ScanLog(after, 1000);
          if (!log.ok() || log->empty()) break;
          for (const storage::HistoryEntry& e : *log) {
            if (oldest_pending_us == 0) oldest_pending_us = e.record.last_updated_us;
            pending += 1;
            pending_bytes += e.record.body.size();
            after = e.seq;
          }
        }
      }
      int64_t lag_us = pending == 0 ? 0 : now - oldest_pending_us;
      auto srv = server.find({tc.name, spec.id.tenant});
      std::string server_error = srv != server.end() ? srv->second.error : std::string();
      if (!error.empty() || !server_error.empty()) rc = 1;
      auto drill = last_drill.find({tc.name, spec.id.tenant});
      std::string drill_text = "never";
      char rto[32] = "0";
      if (drill != last_drill.end()) {
        std::snprintf(rto, sizeof rto, "%.3f", static_cast<double>(drill->second.rto_us) / 1e6);
        drill_text = Instant(drill->second.when_us) + (drill->second.ok ? ",passed" : ",FAILED") +
                     ",rto_s=" + rto;
      }
      std::optional<int64_t> base_us;
      if (!head.empty && head.last.last_base) base_us = head.last.last_base_us;
      if (o.json) {
        auto str = [&json](const std::string& v) {
          json.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
        };
        json.StartObject();
        json.Key("target");
        str(tc.name);
        json.Key("chain");
        str(spec.id.tenant);
        json.Key("entries");
        json.Uint64(head.entries);
        json.Key("shipped_seq");
        json.Uint64(head.empty ? 0 : head.last.shipped_seq);
        json.Key("last_shipped");
        str(head.empty ? "" : Instant(head.last.created_us));
        json.Key("lag_seconds");
        json.Double(static_cast<double>(lag_us) / 1e6);
        json.Key("lag_versions");
        json.Uint64(pending);
        json.Key("lag_bytes");
        json.Uint64(pending_bytes);
        json.Key("packs");
        json.Uint64(head.entries);
        json.Key("packs_bytes");
        json.Uint64(head.empty ? 0 : head.last.total_bytes);
        json.Key("last_base_snapshot");
        if (base_us) {
          json.StartObject();
          json.Key("entry");
          json.Uint64(*head.last.last_base);
          json.Key("when");
          str(Instant(*base_us));
          json.EndObject();
        } else {
          json.Null();
        }
        json.Key("last_drill");
        if (drill != last_drill.end()) {
          json.StartObject();
          json.Key("when");
          str(Instant(drill->second.when_us));
          json.Key("passed");
          json.Bool(drill->second.ok);
          json.Key("rto_seconds");
          json.Double(static_cast<double>(drill->second.rto_us) / 1e6);
          json.EndObject();
        } else {
          json.Null();
        }
        json.Key("error");
        str(!error.empty() ? "target unreadable"
                           : (!server_error.empty() ? "shipping failing" : ""));
        json.EndObject();
      } else {
        std::cout << tc.name << "\t" << spec.id.tenant << "\tlast_shipped="
                  << (head.empty ? std::string("never") : Instant(head.last.created_us))
                  << "\tshipped_seq=" << (head.empty ? 0 : head.last.shipped_seq);
        char lag[32];
        std::snprintf(lag, sizeof lag, "%.1f", static_cast<double>(lag_us) / 1e6);
        std::cout << "\tlag_s=" << lag << "\tlag_versions=" << pending
                  << "\tlag_bytes=" << pending_bytes << "\tpacks=" << head.entries
                  << "\tpacks_size=" << HumanBytes(head.empty ? 0 : head.last.total_bytes)
                  << "\tlast_base_snapshot="
                  << (base_us ? Instant(*base_us) + ",entry=" + std::to_string(*head.last.last_base)
                              : std::string("none"))
                  << "\tlast_drill=" << drill_text;
        if (!error.empty()) std::cout << "\terror=" << error;
        if (!server_error.empty()) std::cout << "\tserver_error=" << server_error;
        std::cout << "\n";
      }
    }
  }
  json.EndArray();
  if (o.json) std::cout << json_text.GetString() << "\n";
  (*store)->Close();
  return rc;
}

int RunVerify(const BackupOptions& o) {
  return ForEachChain(o, /*ship_lock=*/false, [](const ChainCall& c) {
    auto head = backup::ReadHead(c.target, c.spec.id, c.keys);
    std::optional<uint64_t> total_entries, total_bytes;
    if (head.ok() && !head->empty) {
      total_entries = head->entries;
      total_bytes = head->last.total_bytes;
    }
    auto progress = MakeProgress("verify " + c.config.name + " " + c.spec.id.tenant, total_entries,
                                 total_bytes, "entries");
    uint64_t seen = 0, seen_bytes = 0;
    auto report = backup::VerifyChain(c.target, c.spec.id, c.keys, [&](uint64_t n, uint64_t b) {
      progress->Add(n - seen, b - seen_bytes);
      seen = n;
      seen_bytes = b;
    });
    if (!report.ok()) return ChainError(c, report.status());
    progress->Finish();
    for (const backup::Problem& p : report->problems) {
      const char* kind = p.kind == backup::Problem::kMissing   ? "MISSING"
                         : p.kind == backup::Problem::kAltered ? "ALTERED"
                         : p.kind == backup::Problem::kChain   ? "CHAIN"
                                                               : "EXTRA";
      std::cout << kind << "\t" << p.object << "\t" << p.detail << "\n";
    }
    std::cout << c.config.name << "\t" << c.spec.id.tenant << "\t"
              << (report->ok() ? "ok" : "DAMAGED") << "\tentries=" << report->entries
              << "\tpacks=" << report->packs << "\tversions=" << report->versions
              << "\tnewest=" << Instant(report->newest_us) << "\n";
    return report->ok() ? 0 : 1;
  });
}

int RunSnapshot(const BackupOptions& o) {
  return ForEachChain(o, /*ship_lock=*/true, [](const ChainCall& c) {
    // What is committed now goes into the snapshot.
    backup::ChainHead head;
    auto shipped = ShipWhatIsNew(c, &head);
    if (!shipped.ok()) return ChainError(c, shipped.status());
    if (head.empty) {
      std::cout << c.config.name << "\t" << c.spec.id.tenant << "\tnothing to snapshot\n";
      return 0;
    }
    // The progress total: the entries after the last base, which the snapshot reads back. When
    // the newest entry is a base already there is no total, and progress shows counts only.
    std::optional<uint64_t> entries_to_read;
    if (!head.last.is_base()) {
      entries_to_read = head.entries - (head.last.last_base ? *head.last.last_base + 1 : 0);
    }
    auto progress = MakeProgress("snapshot " + c.config.name + " " + c.spec.id.tenant,
                                 entries_to_read, std::nullopt, "entries");
    uint64_t seen = 0;
    auto base = backup::MakeBase(c.target, c.spec.id, c.keys, SystemClock::Get(), {}, &head,
                                 [&](uint64_t done, uint64_t) {
                                   progress->Add(done - seen, 0);
                                   seen = done;
                                 });
    if (!base.ok()) return ChainError(c, base.status());
    progress->Finish();
    std::cout << c.config.name << "\t" << c.spec.id.tenant << "\tbase=" << base->n
              << (base->made ? "" : " (already the newest entry)") << "\tpacks=" << base->packs
              << "\treused=" << base->reused << "\tmerged=" << base->merged
              << "\tbytes=" << base->bytes << "\n";
    return 0;
  });
}

int RunRetention(const BackupOptions& o) {
  auto config = FindTarget(o.data_dir, o.target);
  if (!config.ok()) return Fail(config.status());
  if (!o.daily && !o.weekly && !o.monthly) {
    std::cout << config->name << "\tdaily=" << config->keep.daily
              << "\tweekly=" << config->keep.weekly << "\tmonthly=" << config->keep.monthly << "\n";
    return 0;
  }
  backup::RetentionPolicy keep = config->keep;
  if (o.daily) keep.daily = *o.daily;
  if (o.weekly) keep.weekly = *o.weekly;
  if (o.monthly) keep.monthly = *o.monthly;
  if (keep.daily == 0 && keep.weekly == 0 && keep.monthly == 0) {
    return Usage(
        "a retention keeps at least one daily, weekly or monthly restore point (the newest one "
        "is always kept)");
  }
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  audit::Record act;
  act.interaction = "backup-retention";
  act.action = 'U';
  act.query = {{"target", config->name},
               {"daily", std::to_string(keep.daily)},
               {"weekly", std::to_string(keep.weekly)},
               {"monthly", std::to_string(keep.monthly)}};
  int rc = Recorded(*inst, act, [&] { return backup::SetRetention(o.data_dir, o.target, keep); });
  if (rc == 0) {
    std::cerr << "hygie: " << config->name << " keeps " << keep.daily << " daily, " << keep.weekly
              << " weekly and " << keep.monthly
              << " monthly restore points; `hygie backup prune` applies it\n";
  }
  return rc;
}

int RunPrune(const BackupOptions& o) {
  auto config = FindTarget(o.data_dir, o.target);
  if (!config.ok()) return Fail(config.status());
  bool s3 = config->kind == backup::TargetConfig::Kind::kS3;
  if (s3 && o.prune_credentials.empty() && !o.dry_run) {
    return Usage(
        "an S3 target is pruned with its own credential, not the server's: --prune-credentials "
        "FILE (mode 0600, {\"access_key_id\", \"secret_access_key\"}) of a user that may delete "
        "object versions");
  }
  if (!s3 && !o.prune_credentials.empty()) {
    return Usage("--prune-credentials is for S3 targets");
  }
  if (s3 && !o.prune_credentials.empty() &&
      fs::weakly_canonical(o.prune_credentials) == fs::weakly_canonical(config->credentials_file)) {
    return Usage("--prune-credentials names the server's own credential; give the prune one");
  }
  std::unique_ptr<backup::Target> deleter;
  if (!o.dry_run) {
    backup::TargetConfig pc = *config;
    if (s3) pc.credentials_file = o.prune_credentials;
    auto opened = backup::OpenTarget(pc);
    if (!opened.ok()) return Fail(opened.status());
    deleter = std::move(*opened);
  }
  int64_t now = SystemClock::Get().NowMicros();
  // Objects are locked until their retention ends (by the store's clock: 5 minutes of margin).
  int64_t locked_after =
      s3 ? now - int64_t{config->retention_days} * 86'400'000'000 - 300'000'000 : now;
  BackupOptions one = o;
  one.target = config->name;
  return ForEachChain(one, /*ship_lock=*/false, [&](const ChainCall& c) {
    auto plan = backup::PlanPrune(c.target, c.spec.id, c.keys, c.config.keep, locked_after);
    if (!plan.ok()) return ChainError(c, plan.status());
    std::string kept;
    for (uint64_t n : plan->kept_bases) kept += (kept.empty() ? "" : ",") + std::to_string(n);
    std::cout << c.config.name << "\t" << c.spec.id.tenant << "\trestore_points=" << kept;
    if (!plan->nothing_because.empty()) {
      std::cout << "\tnothing to prune: " << plan->nothing_because << "\n";
      return 0;
    }
    if (o.dry_run) {
      std::cout << "\twould_delete_entries=" << plan->entries.size()
                << "\twould_delete_packs=" << plan->packs.size()
                << "\twould_free=" << HumanBytes(plan->pack_bytes) << "\n";
      return 0;
    }
    audit::Record act;
    act.interaction = "backup-prune";
    act.action = 'D';
    act.query = {{"target", c.config.name},
                 {"chain", c.spec.id.tenant},
                 {"entries", std::to_string(plan->entries.size())},
                 {"packs", std::to_string(plan->packs.size())}};
    backup::PruneReport report;
    int rc = Recorded(c.inst, act, [&] { return backup::ApplyPrune(*deleter, *plan, &report); });
    std::cout << "\tdeleted_entries=" << report.entries << "\tdeleted_packs=" << report.packs
              << "\tfreed=" << HumanBytes(report.bytes) << "\n";
    for (const backup::Problem& p : report.failed) {
      std::cout << "LEFT\t" << p.object << "\t" << p.detail << "\n";
    }
    return rc != 0 || !report.failed.empty() ? 1 : 0;
  });
}

// --- restore ---

// Prepares restored versions for the store, on several threads at once: each version opened
// under `from`'s keys, its index entries computed under `to`'s index key and, when `to` is
// another tenant, sealed again under `to`'s data key (the associated data names the tenant).
std::function<Status(storage::VersionWrite&)> RestorePrepare(const crypto::TenantKeys& from,
                                                             const crypto::TenantKeys& to,
                                                             const crypto::KeyedHasher& hasher) {
  return [&from, &to, &hasher](storage::VersionWrite& w) -> Status {
    storage::VersionRecord& r = w.record;
    if (r.deleted) return Status::Ok();
    HYGIE_ASSIGN_OR_RETURN(std::string json,
                           api::OpenResource(from, r.type, r.id, r.version, r.key_id, r.body));
    auto wipe = [&json] {
      crypto::Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(json.data()), json.size()));
    };
    auto resource = fhir::Resource::Parse(json);
    if (!resource.ok()) {
      wipe();
      return DataLoss("restore: a restored version of " + r.type + " does not parse");
    }
    w.index = fhir::search::Indexer::Get().Index(resource->doc(), r.type, hasher, to.tenant());
    if (&from != &to) {
      auto sealed = api::SealResource(to, r.type, r.id, r.version, json);
      if (!sealed.ok()) {
        wipe();
        return sealed.status();
      }
      r.key_id = sealed->key_id;
      r.body = std::move(sealed->sealed);
    }
    wipe();
    return Status::Ok();
  };
}

// The restore options that index every version as it comes back, on every core.
backup::RestoreOptions IndexingRestore(int64_t at_us, const crypto::TenantKeys& from,
                                       const crypto::TenantKeys& to,
                                       const crypto::KeyedHasher& hasher) {
  backup::RestoreOptions ro;
  ro.at_us = at_us;
  ro.prepare = RestorePrepare(from, to, hasher);
  ro.prepare_threads = std::max(1u, std::thread::hardware_concurrency());
  ro.index_version = api::kIndexVersion;
  return ro;
}

// Current, not deleted resources of a store.
uint64_t CurrentResources(storage::TenantStore& store) {
  auto n = store.SearchCount(storage::SearchQuery{});
  return n.ok() ? *n : 0;
}

// Copies what a restored data directory needs of the installation (never tenant data, never
// backup settings): settings, keyring, issuer key, TLS certificate, the _system seed.
Status PrepareDataDir(const Installation& inst, const std::string& to) {
  std::error_code ec;
  if (fs::exists(to, ec) && !fs::is_empty(to, ec)) {
    return FailedPrecondition(to + " exists and is not empty; a restore never writes over data");
  }
  HYGIE_RETURN_IF_ERROR(Env::Default().CreateDirs(to, 0700));
  for (const char* name :
       {"hygie.json", "keyring", "issuer", "tls", "audit-system.key", "audit-retention.json",
        "trusted-issuers.json", "grants", "sites.json"}) {
    fs::path from = fs::path(inst.data_dir) / name;
    if (!fs::exists(from, ec)) continue;
    fs::copy(from, fs::path(to) / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return Unavailable("cannot copy " + from.string() + ": " + ec.message());
  }
  // A key file inside the source directory comes along; the settings name the copy.
  std::string kek_in_source = inst.data_dir + "/kek.key";
  if (fs::exists(kek_in_source, ec)) {
    auto json = Env::Default().ReadFile(to + "/hygie.json");
    if (!json.ok()) return json.status();
    std::string abs_source = fs::absolute(kek_in_source).string();
    size_t at = json->find("\"" + abs_source + "\"");
    if (at != std::string::npos) {
      fs::copy_file(kek_in_source, to + "/kek.key", ec);
      if (ec) return Unavailable("cannot copy the key file: " + ec.message());
      fs::permissions(to + "/kek.key", fs::perms::owner_read | fs::perms::owner_write, ec);
      json->replace(at + 1, abs_source.size(), fs::absolute(to + "/kek.key").string());
      HYGIE_RETURN_IF_ERROR(Env::Default().WriteFileAtomic(to + "/hygie.json", *json, 0600));
    }
  }
  return Env::Default().CreateDirs(to + "/tenants", 0700);
}

// Restores tenant X of the installation's own chain into the same installation, as the new
// tenant `o.as`: every version opened under X's keys and sealed again under the new tenant's
// (the associated data names the tenant), the index rebuilt; X's audit trail as restored goes
// beside, in DATA/restores/<new>/audit/<X>, and is verified there. No server may run meanwhile.
int RestoreAs(const BackupOptions& o, const Installation& inst, const crypto::TenantKeys& from,
              backup::Target& target, const backup::ChainId& chain,
              const backup::ChainKeys& chain_keys, int64_t at_us) {
  if (!tenancy::IsValidTenantName(o.as)) return Usage("--as: invalid tenant name");
  if (inst.keyring->HasTenant(o.as)) {
    return Fail(AlreadyExists("tenant " + o.as + " exists: restore under a new name"));
  }
  std::error_code ec;
  const std::string tenant_dir = inst.tenants_dir() + "/" + o.as;
  const std::string archive = inst.data_dir + "/restores/" + o.as;
  for (const std::string& dir : {tenant_dir, archive}) {
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
      return Fail(FailedPrecondition(dir + " exists and is not empty"));
    }
  }
  auto lock = TakeShipLock(inst.data_dir);
  if (!lock.ok()) {
    return Fail(FailedPrecondition(
        "a server runs on this data directory: stop it first, or restore into a new data "
        "directory with --to"));
  }
  audit::Record act;
  act.interaction = "backup-restore";
  act.action = 'C';
  act.tenant = o.as;
  act.query = {{"target", o.target}, {"from_tenant", o.tenant}};
  if (!o.at.empty()) act.query.emplace_back("at", o.at);
  backup::RestoreReport report;
  uint64_t indexed = 0;
  bool trail_ok = false;
  int64_t started = SystemClock::Get().NowMicros();
  auto restore = [&]() -> Status {
    HYGIE_RETURN_IF_ERROR(inst.keyring->AddTenant(o.as));
    HYGIE_ASSIGN_OR_RETURN(auto to, inst.keyring->Tenant(o.as));
    HYGIE_ASSIGN_OR_RETURN(auto store, storage::OpenSqliteStore(inst.tenants_dir()));
    HYGIE_ASSIGN_OR_RETURN(auto tenant, store->OpenTenant(o.as));
    crypto::KeyedHasher hasher(to->index_key());
    backup::RestoreOptions ro = IndexingRestore(at_us, from, *to, hasher);
    if (o.from_base >= 0) ro.base = static_cast<uint64_t>(o.from_base);
    auto progress =
        MakeProgress("restore " + o.tenant + " as " + o.as, std::nullopt, std::nullopt, "versions");
    uint64_t seen = 0, seen_bytes = 0;
    const std::string tree = archive + "/audit/" + o.tenant;
    Status s = backup::RestoreChain(target, chain, chain_keys, tenant.get(), tree, ro, &report,
                                    [&](uint64_t v, uint64_t b) {
                                      progress->Add(v - seen, b - seen_bytes);
                                      seen = v;
                                      seen_bytes = b;
                                    });
    if (!s.ok()) return s;
    progress->Finish();
    indexed = CurrentResources(*tenant);
    tenant.reset();
    store->Close();
    if (report.journal_records == 0) return Status::Ok();
    if (report.journal_records > report.journal_covered) {
      audit::JournalOptions jo;
      jo.dir = archive + "/audit";
      jo.origin_prefix = inst.AuditOriginPrefix();
      jo.seed_for = [&](const std::string&) -> Result<crypto::SecretKey> {
        return crypto::SecretKey::FromBytes(from.audit_seed().bytes());
      };
      HYGIE_ASSIGN_OR_RETURN(auto journal, audit::Journal::Open(jo, SystemClock::Get()));
      HYGIE_RETURN_IF_ERROR(journal->Flush(o.tenant));
      journal->Close();
    }
    HYGIE_ASSIGN_OR_RETURN(audit::TreeKeys tree_keys,
                           audit::TreeKeys::Derive(from.audit_seed().bytes()));
    audit::VerifyReport vr;
    Status v = audit::VerifyTree(tree, inst.AuditOriginPrefix() + "/" + o.tenant, tree_keys, &vr);
    if (!v.ok()) return DataLoss("the restored audit trail does not verify: " + v.message());
    trail_ok = true;
    return Status::Ok();
  };
  int rc = Recorded(inst, act, [&]() -> Status {
    Status s = restore();
    if (!s.ok()) {
      std::error_code ignored;
      fs::remove_all(tenant_dir, ignored);
      fs::remove_all(archive, ignored);
      if (inst.keyring->HasTenant(o.as)) {
        std::cerr << "hygie: tenant " << o.as << " was created and is left empty\n";
      }
    }
    return s;
  });
  if (rc == 0) {
    double secs = static_cast<double>(SystemClock::Get().NowMicros() - started) / 1e6;
    std::cout << "restored tenant " << o.tenant << " as tenant " << o.as << ": " << report.versions
              << " versions (" << HumanBytes(report.bytes) << "), " << indexed
              << " current resources indexed, up to " << Instant(report.point_us) << ", in " << secs
              << " s\n";
    if (report.journal_records > 0) {
      std::cout << "the audit trail of " << o.tenant << " as restored (" << report.journal_records
                << " records, " << (trail_ok ? "verified" : "not verified") << ") is in " << archive
                << "/audit/" << o.tenant << "\n";
    }
  }
  return rc;
}

int RunRestore(const BackupOptions& o) {
  if (o.tenant.empty()) return Usage("--tenant is required");
  if (o.to.empty() == o.as.empty()) {
    return Usage(
        "restore into a new data directory (--to DIR) or as a new tenant of this one "
        "(--as NAME)");
  }
  int64_t at_us = std::numeric_limits<int64_t>::max();
  if (!o.at.empty()) {
    auto at = ParseInstant(o.at);
    if (!at.ok()) return Usage("--at takes an instant such as 2026-12-01T10:15:00Z");
    at_us = *at;
  }
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  auto keys = inst->keyring->Tenant(o.tenant);
  if (!keys.ok()) {
    return Fail(Status(keys.status().code(),
                       "restoring tenant " + o.tenant + " needs its keys: the keyring of " +
                           o.data_dir + " does not hold them (restore the keyring from its " +
                           "escrow copy first)"));
  }
  auto tc = FindTarget(o.data_dir, o.target);
  if (!tc.ok()) return Fail(tc.status());
  auto target = backup::OpenTarget(*tc);
  if (!target.ok()) return Fail(target.status());
  auto chain_keys = backup::ChainKeys::Derive((*keys)->audit_seed());
  if (!chain_keys.ok()) return Fail(chain_keys.status());
  backup::ChainId chain{inst->installation_id, o.tenant};

  audit::Record act;
  act.interaction = "backup-restore";
  act.action = 'E';
  act.tenant = o.tenant;
  act.query = {{"target", tc->name}};
  if (!o.at.empty()) act.query.emplace_back("at", o.at);
  int64_t started = SystemClock::Get().NowMicros();
  backup::RestoreReport report;
  uint64_t indexed = 0;
  if (!o.as.empty()) return RestoreAs(o, *inst, **keys, **target, chain, *chain_keys, at_us);
  // A new place, or a data directory restored before from the same installation that lacks
  // this tenant (a whole installation comes back one tenant at a time).
  std::error_code ec;
  const bool fresh = !fs::exists(o.to, ec) || fs::is_empty(o.to, ec);
  const std::string tenant_dir = o.to + "/tenants/" + o.tenant;
  const std::string tree_dir = o.to + "/audit/" + o.tenant;
  if (!fresh) {
    bool same = false;
    if (auto text = Env::Default().ReadFile(o.to + "/hygie.json", 1 << 20); text.ok()) {
      rapidjson::Document d;
      d.Parse(text->data(), text->size());
      same = !d.HasParseError() && d.IsObject() && d.HasMember("installation_id") &&
             d["installation_id"].IsString() &&
             inst->installation_id == d["installation_id"].GetString();
    }
    bool tenant_free = (!fs::exists(tenant_dir, ec) || fs::is_empty(tenant_dir, ec)) &&
                       (!fs::exists(tree_dir, ec) || fs::is_empty(tree_dir, ec));
    if (!same || !tenant_free) {
      return Fail(
          FailedPrecondition(o.to + " exists and is not empty" +
                             (same ? ": it holds tenant " + o.tenant + " already"
                                   : ", nor a data directory restored from this installation") +
                             "; a restore never writes over data"));
    }
  }
  auto restore_into = [&]() -> Status {
    if (fresh) HYGIE_RETURN_IF_ERROR(PrepareDataDir(*inst, o.to));
    HYGIE_ASSIGN_OR_RETURN(auto store, storage::OpenSqliteStore(o.to + "/tenants"));
    HYGIE_ASSIGN_OR_RETURN(auto tenant, store->OpenTenant(o.tenant));
    std::optional<uint64_t> total_versions;
    if (auto head = backup::ReadHead(**target, chain, *chain_keys); head.ok() && !head->empty) {
      total_versions = head->last.total_versions;
    }
    auto progress = MakeProgress("restore " + o.tenant, total_versions, std::nullopt, "versions");
    uint64_t seen = 0, seen_bytes = 0;
    crypto::KeyedHasher hasher((*keys)->index_key());
    backup::RestoreOptions ro = IndexingRestore(at_us, **keys, **keys, hasher);
    if (o.from_base >= 0) ro.base = static_cast<uint64_t>(o.from_base);
    Status s =
        backup::RestoreChain(**target, chain, *chain_keys, tenant.get(),
                             o.to + "/audit/" + o.tenant, ro, &report, [&](uint64_t v, uint64_t b) {
                               progress->Add(v - seen, b - seen_bytes);
                               seen = v;
                               seen_bytes = b;
                             });
    if (!s.ok()) return s;
    progress->Finish();
    indexed = CurrentResources(*tenant);
    tenant.reset();
    store->Close();
    if (report.journal_records > report.journal_covered) {
      // Sign a checkpoint of the restored tree as cut (with the tenant's own tree key).
      HYGIE_ASSIGN_OR_RETURN(Installation restored, OpenInstallation(o.to, o.passphrase_env));
      if (restored.audit_dir.empty()) restored.audit_dir = o.to + "/audit";
      HYGIE_ASSIGN_OR_RETURN(auto journal, restored.OpenJournal(SystemClock::Get()));
      HYGIE_RETURN_IF_ERROR(journal->Flush(o.tenant));
      journal->Close();
    }
    return Status::Ok();
  };
  int rc = Recorded(*inst, act, [&]() -> Status {
    Status s = restore_into();
    if (!s.ok()) {
      // Nothing half-made stays: the place (or the tenant's part of it) was empty before.
      std::error_code ignored;
      if (fresh) {
        fs::remove_all(o.to, ignored);
      } else {
        fs::remove_all(tenant_dir, ignored);
        fs::remove_all(tree_dir, ignored);
      }
    }
    return s;
  });
  if (rc == 0) {
    double secs = static_cast<double>(SystemClock::Get().NowMicros() - started) / 1e6;
    std::cout << "restored tenant " << o.tenant << " into " << o.to << ": " << report.versions
              << " versions (" << HumanBytes(report.bytes) << "), " << indexed
              << " current resources indexed, " << report.journal_records
              << " audit records, up to " << Instant(report.point_us) << ", in " << secs << " s\n";
    std::cout << "check it: hygie audit verify --data " << o.to << " --tenant " << o.tenant << "\n";
  }
  return rc;
}

// --- drills ---

int RunDrillCommand(const BackupOptions& o) {
  auto inst = OpenFor(o);
  if (!inst.ok()) return Fail(inst.status());
  auto targets = SelectTargets(o);
  if (!targets.ok()) return Fail(targets.status());
  auto store = storage::OpenSqliteStore(inst->tenants_dir());
  if (!store.ok()) return Fail(store.status());
  std::vector<std::string> tenants;
  if (!o.tenant.empty()) {
    tenants.push_back(o.tenant);
  } else {
    tenants = inst->keyring->Tenants();
  }
  int rc = 0;
  for (const backup::TargetConfig& tc : *targets) {
    auto target = backup::OpenTarget(tc);
    if (!target.ok()) return Fail(target.status());
    for (const std::string& tenant : tenants) {
      auto live = (*store)->OpenTenant(tenant);
      if (!live.ok()) return Fail(live.status());
      auto drill = RunDrill(*inst, tc.name, **target, tenant, **live, "cli");
      if (!drill.ok()) {
        std::cerr << "hygie: drill of " << tenant << " on " << tc.name << ": "
                  << drill.status().message() << "\n";
        rc = 1;
        continue;
      }
      char rto[32];
      std::snprintf(rto, sizeof rto, "%.3f", static_cast<double>(drill->rto_us) / 1e6);
      std::cout << tc.name << "\t" << tenant << "\t" << (drill->ok ? "passed" : "FAILED")
                << "\trto_s=" << rto << "\tversions=" << drill->versions
                << "\tresources=" << drill->resources
                << "\taudit_records=" << drill->journal_records
                << "\tpoint=" << Instant(drill->point_us);
      if (!drill->detail.empty()) std::cout << "\t" << drill->detail;
      std::cout << "\n";
      if (!drill->ok) rc = 1;
    }
  }
  (*store)->Close();
  return rc;
}

std::string DrillsFile(const std::string& data_dir) { return data_dir + "/backup/drills.json"; }

constexpr size_t kDrillsKept = 500;

Status AppendDrill(const std::string& data_dir, const DrillRecord& d) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<DrillRecord> drills, LoadDrills(data_dir));
  drills.push_back(d);
  if (drills.size() > kDrillsKept) drills.erase(drills.begin(), drills.end() - kDrillsKept);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const DrillRecord& r : drills) {
    w.StartObject();
    w.Key("when_us");
    w.Int64(r.when_us);
    w.Key("target");
    w.String(r.target.c_str());
    w.Key("tenant");
    w.String(r.tenant.c_str());
    w.Key("ok");
    w.Bool(r.ok);
    w.Key("detail");
    w.String(r.detail.c_str());
    w.Key("versions");
    w.Uint64(r.versions);
    w.Key("resources");
    w.Uint64(r.resources);
    w.Key("journal_records");
    w.Uint64(r.journal_records);
    w.Key("rto_us");
    w.Int64(r.rto_us);
    w.Key("point_us");
    w.Int64(r.point_us);
    w.EndObject();
  }
  w.EndArray();
  HYGIE_RETURN_IF_ERROR(Env::Default().CreateDirs(data_dir + "/backup", 0700));
  return Env::Default().WriteFileAtomic(DrillsFile(data_dir),
                                        std::string(buf.GetString(), buf.GetSize()) + "\n", 0600);
}

// A digest of versions, seq aside (a restored log numbers its versions anew).
class LogDigest {
 public:
  void Add(const storage::VersionRecord& r) {
    std::string enc = state_;
    enc += r.type;
    enc.push_back('\0');
    enc += r.id;
    enc.push_back('\0');
    enc += std::to_string(r.version) + "|" + std::to_string(r.last_updated_us) + "|" +
           (r.deleted ? "1" : "0") + "|" + std::to_string(r.key_id) + "|";
    enc.append(AsChars(r.body));
    Bytes h = crypto::Sha256(AsBytes(enc));
    state_.assign(AsChars(h));
    ++count_;
  }
  std::string hex() const { return HexEncode(AsBytes(state_)); }
  uint64_t count() const { return count_; }

 private:
  std::string state_;
  uint64_t count_ = 0;
};

}  // namespace

Result<std::vector<backup::ChainSpec>> InstallationChains(const Installation& inst,
                                                          storage::Store& store,
                                                          const std::string& only_tenant) {
  std::vector<backup::ChainSpec> out;
  HYGIE_RETURN_IF_ERROR(inst.keyring->Reload());
  for (const std::string& tenant : inst.keyring->Tenants()) {
    if (!only_tenant.empty() && tenant != only_tenant) continue;
    backup::ChainSpec spec;
    spec.id = {inst.installation_id, tenant};
    const crypto::Keyring* ring = inst.keyring.get();
    spec.seed = [ring, tenant]() -> Result<crypto::SecretKey> {
      HYGIE_ASSIGN_OR_RETURN(auto keys, ring->Tenant(tenant));
      return crypto::SecretKey::FromBytes(keys->audit_seed().bytes());
    };
    HYGIE_ASSIGN_OR_RETURN(spec.store, store.OpenTenant(tenant));
    spec.tree_dir = inst.audit_dir + "/" + tenant;
    out.push_back(std::move(spec));
  }
  if (only_tenant.empty() || only_tenant == audit::kSystemTree) {
    backup::ChainSpec spec;
    spec.id = {inst.installation_id, std::string(audit::kSystemTree)};
    const Installation* self = &inst;
    spec.seed = [self]() { return self->SystemAuditSeed(); };
    spec.tree_dir = inst.audit_dir + "/" + std::string(audit::kSystemTree);
    out.push_back(std::move(spec));
  }
  return out;
}

Result<std::unique_ptr<backup::Shipper>> StartShipper(const Installation& inst,
                                                      storage::Store& store, int64_t interval_us,
                                                      int64_t base_interval_us) {
  HYGIE_ASSIGN_OR_RETURN(auto configs, backup::LoadTargets(inst.data_dir));
  if (configs.empty()) return std::unique_ptr<backup::Shipper>();
  HYGIE_ASSIGN_OR_RETURN(auto lock, TakeShipLock(inst.data_dir));
  std::vector<backup::Shipper::NamedTarget> targets;
  for (const backup::TargetConfig& c : configs) {
    HYGIE_ASSIGN_OR_RETURN(auto target, backup::OpenTarget(c));
    targets.push_back({c.name, std::move(target)});
  }
  backup::ShipperOptions so;
  so.interval_us = interval_us;
  so.base_interval_us = base_interval_us;
  so.status_file = StatusFile(inst.data_dir);
  std::shared_ptr<FileLock> held(std::move(lock));
  auto shipper = std::make_unique<backup::Shipper>(
      so, std::move(targets), [&inst, &store, held]() { return InstallationChains(inst, store); },
      SystemClock::Get());
  shipper->Start();
  return shipper;
}

Result<DrillRecord> RunDrill(const Installation& inst, const std::string& target_name,
                             backup::Target& target, const std::string& tenant,
                             storage::TenantStore& live, const std::string& role) {
  HYGIE_ASSIGN_OR_RETURN(auto keys, inst.keyring->Tenant(tenant));
  HYGIE_ASSIGN_OR_RETURN(backup::ChainKeys chain_keys,
                         backup::ChainKeys::Derive(keys->audit_seed()));
  backup::ChainId chain{inst.installation_id, tenant};
  DrillRecord d;
  d.when_us = SystemClock::Get().NowMicros();
  d.target = target_name;
  d.tenant = tenant;
  std::string scratch = inst.data_dir + "/backup/drill-" + crypto::RandomId();
  Status s = Env::Default().CreateDirs(scratch + "/tenants", 0700);
  backup::RestoreReport report;
  uint64_t indexed = 0;
  if (s.ok()) {
    int64_t started = SystemClock::Get().NowMicros();
    auto store = storage::OpenSqliteStore(scratch + "/tenants");
    s = store.status();
    if (s.ok()) {
      auto restored = (*store)->OpenTenant(tenant);
      s = restored.status();
      if (s.ok()) {
        crypto::KeyedHasher hasher(keys->index_key());
        s = backup::RestoreChain(
            target, chain, chain_keys, restored->get(), scratch + "/audit/" + tenant,
            IndexingRestore(std::numeric_limits<int64_t>::max(), *keys, *keys, hasher), &report);
        if (s.ok()) indexed = CurrentResources(**restored);
        d.rto_us = SystemClock::Get().NowMicros() - started;
        if (s.ok()) {
          // The live tenant as of the restored point, against what came back.
          LogDigest want, got;
          uint64_t after = 0;
          while (s.ok()) {
            auto page = live.ScanLog(after, 2000);
            if (!page.ok()) {
              s = page.status();
              break;
            }
            for (const storage::HistoryEntry& e : *page) {
              if (e.seq > report.last_seq) break;
              want.Add(e.record);
            }
            if (page->empty() || page->back().seq >= report.last_seq) break;
            after = page->back().seq;
          }
          after = 0;
          while (s.ok()) {
            auto page = (*restored)->ScanLog(after, 2000);
            if (!page.ok()) {
              s = page.status();
              break;
            }
            for (const storage::HistoryEntry& e : *page) got.Add(e.record);
            if (page->empty()) break;
            after = page->back().seq;
          }
          if (s.ok()) {
            d.versions = got.count();
            d.resources = indexed;
            d.journal_records = report.journal_records;
            d.point_us = report.point_us;
            if (want.count() != got.count() || want.hex() != got.hex()) {
              d.detail = "restored " + std::to_string(got.count()) + " versions, the live tenant " +
                         "held " + std::to_string(want.count()) + " as of that point" +
                         (want.count() == got.count() ? " (contents differ)" : "");
            } else if (report.journal_records > 0 &&
                       report.journal_covered == report.journal_records) {
              HYGIE_ASSIGN_OR_RETURN(audit::TreeKeys tree_keys,
                                     audit::TreeKeys::Derive(keys->audit_seed().bytes()));
              audit::VerifyReport vr;
              Status v = audit::VerifyTree(scratch + "/audit/" + tenant,
                                           inst.AuditOriginPrefix() + "/" + tenant, tree_keys, &vr);
              if (!v.ok()) {
                d.detail = "the restored audit journal does not verify: " + v.message();
              } else {
                d.ok = true;
              }
            } else {
              d.ok = true;
            }
          }
        }
        restored->reset();
      }
      (*store)->Close();
    }
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!s.ok()) {
    d.ok = false;
    d.detail = s.message();
  }
  // The drill is recorded, passed or failed.
  audit::Record act;
  act.interaction = "backup-drill";
  act.action = 'E';
  act.tenant = tenant;
  act.role = role;
  act.status = d.ok ? 200 : 500;
  act.query = {{"target", target_name},
               {"result", d.ok ? "passed" : "failed"},
               {"rto_ms", std::to_string(d.rto_us / 1000)},
               {"versions", std::to_string(d.versions)}};
  if (!d.ok) act.detail = "restore drill failed";
  HYGIE_RETURN_IF_ERROR(RecordCliAct(inst, act));
  HYGIE_RETURN_IF_ERROR(AppendDrill(inst.data_dir, d));
  if (!d.ok && !s.ok()) return s;
  return d;
}

Result<std::vector<DrillRecord>> LoadDrills(const std::string& data_dir) {
  std::vector<DrillRecord> out;
  auto text = Env::Default().ReadFile(DrillsFile(data_dir), 64 << 20);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return out;
    return text.status();
  }
  rapidjson::Document doc;
  doc.Parse(text->data(), text->size());
  if (doc.HasParseError() || !doc.IsArray()) return DataLoss(DrillsFile(data_dir) + " is damaged");
  for (const auto& v : doc.GetArray()) {
    if (!v.IsObject()) return DataLoss(DrillsFile(data_dir) + " is damaged");
    DrillRecord r;
    auto str = [&v](const char* k) {
      auto it = v.FindMember(k);
      return it != v.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString())
                                                         : std::string();
    };
    auto num = [&v](const char* k) -> int64_t {
      auto it = v.FindMember(k);
      return it != v.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
    };
    r.when_us = num("when_us");
    r.target = str("target");
    r.tenant = str("tenant");
    auto ok = v.FindMember("ok");
    r.ok = ok != v.MemberEnd() && ok->value.IsBool() && ok->value.GetBool();
    r.detail = str("detail");
    r.versions = static_cast<uint64_t>(num("versions"));
    r.resources = static_cast<uint64_t>(num("resources"));
    r.journal_records = static_cast<uint64_t>(num("journal_records"));
    r.rto_us = num("rto_us");
    r.point_us = num("point_us");
    out.push_back(std::move(r));
  }
  return out;
}

struct DrillScheduler::Impl {
  const Installation& inst;
  storage::Store& store;
  int64_t interval_us;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;

  void Loop() {
    SetThreadName("backup-drill");
    std::unique_lock lock(mu);
    while (!stop) {
      if (cv.wait_for(lock, std::chrono::microseconds(interval_us), [this] { return stop; })) {
        break;
      }
      lock.unlock();
      RunAll();
      lock.lock();
    }
  }

  void RunAll() {
    auto configs = backup::LoadTargets(inst.data_dir);
    if (!configs.ok()) {
      log::Error("backup drill: {}", configs.status().message());
      return;
    }
    for (const backup::TargetConfig& tc : *configs) {
      auto target = backup::OpenTarget(tc);
      if (!target.ok()) {
        log::Error("backup drill on {}: {}", tc.name, target.status().message());
        continue;
      }
      for (const std::string& tenant : inst.keyring->Tenants()) {
        auto live = store.OpenTenant(tenant);
        if (!live.ok()) continue;
        auto d = RunDrill(inst, tc.name, **target, tenant, **live, "server");
        if (!d.ok()) {
          log::Error("backup drill of {} on {}: {}", tenant, tc.name, d.status().message());
        } else if (!d->ok) {
          log::Error("backup drill of {} on {} FAILED: {}", tenant, tc.name, d->detail);
        } else {
          log::Info("backup drill of {} on {} passed: {} versions back in {} ms", tenant, tc.name,
                    d->versions, d->rto_us / 1000);
        }
      }
    }
  }
};

DrillScheduler::DrillScheduler(const Installation& inst, storage::Store& store, int64_t interval_us)
    : impl_(new Impl{inst, store, interval_us, {}, {}, false, {}}) {
  impl_->thread = std::thread([this] { impl_->Loop(); });
}

DrillScheduler::~DrillScheduler() { Stop(); }

void DrillScheduler::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<int64_t> ParseDuration(const std::string& text) {
  auto bad = [&] {
    return InvalidArgument("a duration is a number and a unit: 3600s, 90m, 24h or 7d (got \"" +
                           text + "\")");
  };
  if (text.size() < 2 || text.size() > 12) return bad();
  char unit = text.back();
  int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (scale == 0) return bad();
  int64_t n = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return bad();
    n = n * 10 + (text[i] - '0');
  }
  if (n <= 0 || n * scale > 366 * 86400) return bad();
  return n * scale * 1000000;
}

void AddBackupCommands(CLI::App& app) {
  auto o = std::make_shared<BackupOptions>();
  auto* backup =
      app.add_subcommand("backup", "Backups on a distinct site: targets, status, verify");
  backup->require_subcommand(1);
  auto common = [o](CLI::App* cmd) {
    cmd->add_option("--data", o->data_dir, "Data directory")->required();
    cmd->add_option("--passphrase-env", o->passphrase_env,
                    "Environment variable holding the keyring passphrase");
  };

  // The commands that act on every target and tenant unless told one.
  auto selected = [o, common](CLI::App* cmd) {
    common(cmd);
    cmd->add_option("--target", o->target, "Only this target");
    cmd->add_option("--tenant", o->tenant, "Only this tenant");
  };

  auto* target = backup->add_subcommand("target", "Where backups go");
  target->require_subcommand(1);
  auto* add = target->add_subcommand("add", "Register a backup target");
  common(add);
  add->add_option("name", o->name, "Target name ([a-z0-9-]{2,63})")->required();
  add->add_option("--site", o->site, "Site the target is on (hygie site add)")->required();
  add->add_option("--dir", o->dir, "A directory on another disk or a mounted remote file system");
  add->add_option("--s3-endpoint", o->endpoint,
                  "S3-compatible object store with Object Lock (https://; http:// on loopback)");
  add->add_option("--bucket", o->bucket, "S3 bucket (created with Object Lock enabled)");
  add->add_option("--region", o->region, "S3 region")->capture_default_str();
  add->add_option("--retention-days", o->retention_days,
                  "Object Lock retention of every object, compliance mode")
      ->capture_default_str();
  add->add_option("--credentials-file", o->credentials_file,
                  "File (mode 0600) with {\"access_key_id\", \"secret_access_key\"}");
  add->add_option("--ca-file", o->ca_file, "CA bundle of the S3 endpoint");
  add->final_callback(Run(RunTargetAdd, o));

  auto* list = target->add_subcommand("list", "List backup targets");
  list->add_option("--data", o->data_dir, "Data directory")->required();
  list->final_callback(Run(RunTargetList, o));

  auto* remove = target->add_subcommand("remove", "Stop backing up to a target");
  common(remove);
  remove->add_option("name", o->name, "Target name")->required();
  remove->final_callback(Run(RunTargetRemove, o));

  auto* now = backup->add_subcommand(
      "now", "Ship what is new to the targets now (when no server runs; a server ships itself)");
  selected(now);
  now->final_callback(Run(RunNow, o));

  auto* status = backup->add_subcommand(
      "status", "Per tenant and target: last shipped point, lag, packs; exits 1 on errors");
  selected(status);
  status->add_flag("--json", o->json, "JSON output");
  status->final_callback(Run(RunStatus, o));

  auto* verify = backup->add_subcommand(
      "verify", "Check every manifest entry and pack of the targets; exits 1 on damage");
  selected(verify);
  verify->final_callback(Run(RunVerify, o));

  auto* drill = backup->add_subcommand(
      "drill",
      "Restore the latest point into a scratch place, check it against the live tenant, record "
      "the drill and its measured RTO");
  selected(drill);
  drill->final_callback(Run(RunDrillCommand, o));

  auto* snapshot = backup->add_subcommand(
      "snapshot",
      "Ship what is new, then make a base snapshot of each chain (a running server makes one "
      "every --backup-base-every)");
  selected(snapshot);
  snapshot->final_callback(Run(RunSnapshot, o));

  auto* retention = backup->add_subcommand(
      "retention", "Show or set the restore points a target keeps (applied by backup prune)");
  common(retention);
  retention->add_option("--target", o->target, "Backup target")->required();
  retention->add_option("--daily", o->daily, "Newest base snapshot of each of the last N days")
      ->check(CLI::Range(0, 1000));
  retention->add_option("--weekly", o->weekly, "... of each of the last N weeks")
      ->check(CLI::Range(0, 1000));
  retention->add_option("--monthly", o->monthly, "... of each of the last N months")
      ->check(CLI::Range(0, 1000));
  retention->final_callback(Run(RunRetention, o));

  auto* prune = backup->add_subcommand(
      "prune",
      "Delete what no kept restore point needs, with the prune credential (never the server's)");
  common(prune);
  prune->add_option("--target", o->target, "Backup target")->required();
  prune->add_option("--tenant", o->tenant, "Only this tenant");
  prune->add_option("--prune-credentials", o->prune_credentials,
                    "S3: file (mode 0600) with the credential that may delete object versions");
  prune->add_flag("--dry-run", o->dry_run, "Show what would be deleted; delete nothing");
  prune->final_callback(Run(RunPrune, o));

  auto* restore = app.add_subcommand(
      "restore",
      "Rebuild a tenant from a backup target, into a new data directory or as a new tenant");
  common(restore);
  restore->add_option("--target", o->target, "Backup target")->required();
  restore->add_option("--tenant", o->tenant, "Tenant to restore")->required();
  restore->add_option("--to", o->to, "New data directory (must not exist or be empty)");
  restore->add_option("--as", o->as,
                      "Restore into this data directory as a new tenant of this name (no "
                      "server may run meanwhile)");
  restore->add_option("--at", o->at,
                      "Point in time (e.g. 2026-12-01T10:15:00Z): versions and audit records "
                      "up to that instant; default: everything shipped");
  restore
      ->add_option("--from-base", o->from_base,
                   "Start from this base snapshot entry (default: the newest), e.g. when the "
                   "newest is damaged")
      ->check(CLI::NonNegativeNumber);
  restore->final_callback(Run(RunRestore, o));
}

}  // namespace hygie::cli
