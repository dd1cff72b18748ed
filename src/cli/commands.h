#pragma once
// The `hygie` subcommands. Each returns the process exit code: 0 success, 1 failure,
// 2 usage error; messages go to stderr, results (token, tenant list) to stdout.

#include <cstdint>
#include <string>
#include <vector>

namespace hygie::cli {

struct Options {
  std::string data_dir;
  std::string kek_file;
  std::string passphrase_env;
  std::string listen = "127.0.0.1:8080";
  int threads = 2;
  int backup_interval_s = 10;      // continuous backups: the longest a version waits to be shipped
  std::string backup_drill_every;  // empty: no scheduled restore drills
  std::string backup_base_every = "24h";  // base snapshots of every chain; "0": never
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // mutual TLS: CA of client certificates (admin API)
  // Failed authentications, per client address and per client: failures forgiven per minute,
  // and how many in a row before 429.
  double auth_failures_per_minute = 60;
  int auth_failure_burst = 20;
  // Group commit of the audit journal under load (JournalOptions::batch_window_us).
  int64_t audit_batch_window_us = 1000;
  // acr values that show a multi-factor sign-in (admin API tokens).
  std::vector<std::string> admin_acr;
  uint64_t max_body_bytes = 16u << 20;
  size_t max_json_depth = 64;
  std::string public_url;
  std::string port_file;
  std::string log_level = "info";
  std::string tenant;
  std::string scope;
  std::string subject = "hygie-cli";
  std::string ttl = "1h";
  std::string patient;
  std::string role;
  std::string professional_id;
  std::string purpose;
  std::string acr;
  std::vector<std::string> amr;
  // Audit journal.
  std::string audit_dir;  // empty: DATA/audit
  std::string syslog;     // tcp://host:port or tls://host:port
  std::string syslog_ca;  // CA bundle for tls://
  std::string syslog_cert;
  std::string syslog_key;
  uint64_t index = 0;
  uint64_t size = 0;  // 0: the newest checkpoint's
  uint64_t size1 = 0;
  uint64_t size2 = 0;
  int retention_days = 0;  // 0: show
};

int RunInit(const Options& o);
int RunServe(const Options& o);
int RunTenantCreate(const Options& o);
int RunTenantList(const Options& o);
int RunTokenIssue(const Options& o);
int RunKeyRotate(const Options& o);
int RunAuditVerify(const Options& o);
int RunAuditCheckpoint(const Options& o);
int RunAuditInclusion(const Options& o);
int RunAuditConsistency(const Options& o);
int RunAuditPrune(const Options& o);
int RunAuditRetention(const Options& o);

// "3600", "30s", "15m", "1h" -> seconds; -1 when malformed.
int64_t ParseTtl(const std::string& text);

}  // namespace hygie::cli
