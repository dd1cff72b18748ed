// The `hygie` command: init, serve, tenant, token, key.
// Exit codes: 0 success, 1 failure, 2 usage error.

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "cli/access_commands.h"
#include "cli/backup_commands.h"
#include "cli/commands.h"
#include "cli/issuer_commands.h"
#include "cli/site_commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
  using hygie::cli::Options;
  hygie::log::InitToStderr();
  Options o;
  CLI::App app{"Hygie: health data hosting server (HL7 FHIR R4, HDS)", "hygie"};
  app.set_version_flag("--version", std::string("hygie ") + HYGIE_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  // Every command that opens the keyring can take its passphrase from the environment.
  auto add_passphrase = [&o](CLI::App* cmd) {
    cmd->add_option("--passphrase-env", o.passphrase_env,
                    "Environment variable holding the keyring passphrase");
  };

  auto* init = app.add_subcommand("init",
                                  "Create a data directory: keyring, TLS certificate, "
                                  "token issuer key");
  init->add_option("--data", o.data_dir, "Data directory to create")->required();
  init->add_option("--kek-file", o.kek_file,
                   "Where to write the key-encryption key file (default DATA/kek.key)");
  init->add_option("--passphrase-env", o.passphrase_env,
                   "Derive the key-encryption key from the passphrase in this environment "
                   "variable (scrypt) instead of a key file");

  auto* serve = app.add_subcommand("serve", "Serve the FHIR API");
  serve->add_option("--data", o.data_dir, "Data directory")->required();
  serve
      ->add_option("--listen", o.listen,
                   "ADDR:PORT to listen on; loopback serves plain HTTP, anything else TLS only")
      ->capture_default_str();
  serve->add_option("--threads", o.threads, "I/O threads")->capture_default_str();
  serve
      ->add_option("--backup-interval-s", o.backup_interval_s,
                   "Longest time a committed version waits before it is shipped to the backup "
                   "targets")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve->add_option("--backup-drill-every", o.backup_drill_every,
                    "Run a restore drill of every tenant on every target this often (e.g. 24h, "
                    "7d); each drill is recorded with its measured RTO");
  serve
      ->add_option("--backup-base-every", o.backup_base_every,
                   "Make a base snapshot of every chain this often (e.g. 24h; 0: never), so that a "
                   "restore reads one list of packs and the entries after it")
      ->capture_default_str();
  serve->add_option("--tls-cert", o.tls_cert, "TLS certificate chain (PEM)");
  serve->add_option("--tls-key", o.tls_key, "TLS private key (PEM)");
  serve->add_option("--tls-client-ca", o.tls_client_ca,
                    "CA certificates (PEM) of the client certificates that open the admin API");
  serve
      ->add_option("--auth-failures-per-minute", o.auth_failures_per_minute,
                   "Failed authentications forgiven per minute, per address and per client")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1e6));
  serve
      ->add_option("--auth-failure-burst", o.auth_failure_burst,
                   "Failed authentications in a row before answers become 429")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--audit-batch-window-us", o.audit_batch_window_us,
                   "Under load, the audit journal syncs at most once per this many microseconds "
                   "(bigger batches, fewer syncs; a lone request never waits); 0: sync at once")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  serve->add_option("--admin-acr", o.admin_acr,
                    "acr value that shows a multi-factor sign-in, for admin API tokens "
                    "(repeatable; amr \"mfa\" or two factors are always accepted)");
  serve->add_option("--max-body", o.max_body_bytes, "Largest request body, bytes")
      ->capture_default_str();
  serve->add_option("--max-depth", o.max_json_depth, "Deepest JSON nesting accepted")
      ->capture_default_str();
  serve->add_option("--public-url", o.public_url,
                    "Base URL clients reach this server at (for Location headers)");
  serve->add_option("--port-file", o.port_file, "Write the bound port to this file");
  add_passphrase(serve);
  serve->add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  auto* tenant = app.add_subcommand("tenant", "Manage tenants (customers of the host)");
  tenant->require_subcommand(1);
  auto* tenant_create = tenant->add_subcommand("create", "Create a tenant");
  tenant_create->add_option("name", o.tenant, "Tenant name, [a-z0-9-]{2,63}")->required();
  tenant_create->add_option("--data", o.data_dir, "Data directory")->required();
  add_passphrase(tenant_create);
  auto* tenant_list = tenant->add_subcommand("list", "List tenants");
  tenant_list->add_option("--data", o.data_dir, "Data directory")->required();
  add_passphrase(tenant_list);

  auto* token = app.add_subcommand("token", "Access tokens from the built-in issuer");
  token->require_subcommand(1);
  auto* token_issue = token->add_subcommand("issue", "Print a signed access token (JWT)");
  token_issue->add_option("--data", o.data_dir, "Data directory")->required();
  token_issue->add_option("--tenant", o.tenant, "Tenant the token is for")->required();
  token_issue->add_option("--scope", o.scope, "SMART scopes, e.g. \"user/*.cruds\"")->required();
  token_issue->add_option("--subject", o.subject, "Subject (who the token stands for)")
      ->capture_default_str();
  token_issue->add_option("--ttl", o.ttl, "Lifetime: seconds, or with s, m or h (max 24h)")
      ->capture_default_str();
  token_issue->add_option("--patient", o.patient, "Patient context (SMART 'patient' claim)");
  token_issue
      ->add_option("--role", o.role,
                   "Role claim (practitioner, service, auditor, tenant-admin, "
                   "host-operator); a host operator's accesses are marked as staff access")
      ->check(
          CLI::IsMember({"practitioner", "service", "auditor", "tenant-admin", "host-operator"}));
  token_issue->add_option("--acr", o.acr, "Authentication context class (acr claim)");
  token_issue
      ->add_option("--amr", o.amr,
                   "Authentication methods (amr claim, RFC 8176: pwd, otp, hwk, mfa...), "
                   "repeatable")
      ->check([](const std::string& v) {
        return !v.empty() && v.size() <= 16 &&
                       v.find_first_not_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos
                   ? std::string()
                   : std::string("lower-case letters, at most 16");
      });
  token_issue
      ->add_option("--professional-id", o.professional_id,
                   "Professional id claim (e.g. RPPS), recorded in the audit trail")
      ->check([](const std::string& v) {
        return v.size() <= 32 && v.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-") ==
                                     std::string::npos
                   ? std::string()
                   : std::string("letters A-Z, digits and '-', at most 32");
      });
  token_issue
      ->add_option("--purpose", o.purpose,
                   "Purpose of use claim (e.g. TREAT), recorded in the audit trail")
      ->check([](const std::string& v) {
        return !v.empty() && v.size() <= 32 &&
                       v.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ-") == std::string::npos
                   ? std::string()
                   : std::string("upper-case letters and '-', at most 32");
      });
  add_passphrase(token_issue);

  auto* key = app.add_subcommand("key", "Manage tenant keys");
  key->require_subcommand(1);
  auto* key_rotate = key->add_subcommand("rotate", "Add a new data key for a tenant");
  key_rotate->add_option("--tenant", o.tenant, "Tenant")->required();
  key_rotate->add_option("--data", o.data_dir, "Data directory")->required();
  add_passphrase(key_rotate);

  serve->add_option("--syslog", o.syslog,
                    "Stream audit records to a SIEM: tcp://HOST:PORT or tls://HOST:PORT "
                    "(RFC 5424 syslog, octet-counted; RFC 5425 over TLS)");
  serve->add_option("--syslog-ca", o.syslog_ca, "CA bundle that verifies the collector (tls://)");
  serve->add_option("--syslog-cert", o.syslog_cert, "Client certificate for the collector (PEM)");
  serve->add_option("--syslog-key", o.syslog_key, "Key of --syslog-cert (PEM)");

  auto* audit = app.add_subcommand("audit", "The tamper-evident audit journal");
  audit->require_subcommand(1);
  auto tree_option = [&o](CLI::App* cmd) {
    cmd->add_option("--tenant", o.tenant, "Tenant whose trail (default: the system trail)");
  };
  auto* audit_verify = audit->add_subcommand(
      "verify",
      "Recompute every tree, check every checkpoint and consistency; exit 1 on any change");
  audit_verify->add_option("--data", o.data_dir, "Data directory")->required();
  audit_verify->add_option("--tenant", o.tenant, "Only this tenant's trail (default: every trail)");
  add_passphrase(audit_verify);
  auto* audit_checkpoint =
      audit->add_subcommand("checkpoint", "Print the newest signed checkpoint (C2SP signed note)");
  audit_checkpoint->add_option("--data", o.data_dir, "Data directory")->required();
  tree_option(audit_checkpoint);
  add_passphrase(audit_checkpoint);
  auto* audit_proof = audit->add_subcommand("proof", "RFC 9162 proofs over the journal");
  audit_proof->require_subcommand(1);
  auto* audit_inclusion =
      audit_proof->add_subcommand("inclusion", "Prove that a record is in a checkpointed tree");
  audit_inclusion->add_option("--data", o.data_dir, "Data directory")->required();
  tree_option(audit_inclusion);
  audit_inclusion->add_option("--index", o.index, "Index of the record")->required();
  audit_inclusion->add_option("--size", o.size, "Tree size (default: the newest checkpoint's)");
  add_passphrase(audit_inclusion);
  auto* audit_consistency =
      audit_proof->add_subcommand("consistency", "Prove that a later tree extends an earlier one");
  audit_consistency->add_option("--data", o.data_dir, "Data directory")->required();
  tree_option(audit_consistency);
  audit_consistency->add_option("--size1", o.size1, "Earlier tree size")->required();
  audit_consistency->add_option("--size2", o.size2, "Later tree size (default: the newest)");
  add_passphrase(audit_consistency);
  auto* audit_prune = audit->add_subcommand(
      "prune",
      "Replace record bodies past their retention by their hashes (the server does this hourly)");
  audit_prune->add_option("--data", o.data_dir, "Data directory")->required();
  audit_prune->add_option("--tenant", o.tenant, "Only this tenant's trail (default: every trail)");
  add_passphrase(audit_prune);
  auto* audit_retention = audit->add_subcommand(
      "retention", "Show or set how long audit records are kept (183 to 1096 days, default 365)");
  audit_retention->add_option("--data", o.data_dir, "Data directory")->required();
  tree_option(audit_retention);
  audit_retention->add_option("--days", o.retention_days, "New retention, in days");
  add_passphrase(audit_retention);

  hygie::cli::AddIssuerCommands(app);
  hygie::cli::AddSiteCommands(app);
  hygie::cli::AddAccessCommands(app);
  hygie::cli::AddBackupCommands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (init->parsed()) return hygie::cli::RunInit(o);
  if (serve->parsed()) return hygie::cli::RunServe(o);
  if (tenant_create->parsed()) return hygie::cli::RunTenantCreate(o);
  if (tenant_list->parsed()) return hygie::cli::RunTenantList(o);
  if (token_issue->parsed()) return hygie::cli::RunTokenIssue(o);
  if (key_rotate->parsed()) return hygie::cli::RunKeyRotate(o);
  if (audit_verify->parsed()) return hygie::cli::RunAuditVerify(o);
  if (audit_checkpoint->parsed()) return hygie::cli::RunAuditCheckpoint(o);
  if (audit_inclusion->parsed()) return hygie::cli::RunAuditInclusion(o);
  if (audit_consistency->parsed()) return hygie::cli::RunAuditConsistency(o);
  if (audit_prune->parsed()) return hygie::cli::RunAuditPrune(o);
  if (audit_retention->parsed()) return hygie::cli::RunAuditRetention(o);
  std::cerr << app.help();
  return 2;
}
