#pragma once
// End-to-end test harness: runs the real `hygie` binary (commands and server) and talks to it
// over HTTP with a Beast client. Not thread-safe unless stated; HttpClient is one connection.

#include <sys/types.h>

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/temp_dir.h"

namespace hygie::e2e {

// A fresh directory under /tmp, removed (recursively) on destruction.
using TempDir = test_support::TempDir;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Starts args[0] (looked up on the PATH unless it is a path) with the environment plus `env`
// (NAME=VALUE), stdin from /dev/null, stdout and stderr to the given files. -1 on failure.
pid_t SpawnProgram(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& out_path, const std::string& err_path);
// Waits for a child: its exit status (WEXITSTATUS), -1 if it was signalled or on error.
int Reap(pid_t pid);
// Runs a program to completion, killing it (SIGKILL) after `timeout_seconds`; a killed run has
// exit_code -2, one that could not start -1 with the reason in `err`.
CommandResult RunProgram(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {}, int timeout_seconds = 120);

// Runs `hygie args...` to completion. `env` adds environment variables (NAME=VALUE).
CommandResult RunHygie(const std::vector<std::string>& args,
                       const std::vector<std::string>& env = {});

// Runs `hygie args...`, killing it (SIGKILL) after `timeout_seconds`; a killed run has
// exit_code -2. For commands that are expected to fail but could otherwise run forever (serve).
CommandResult RunHygieFor(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          int timeout_seconds);

// A data directory made by `hygie init`, with tenants, and tokens issued by `hygie token issue`.
class Installation {
 public:
  Installation();  // runs hygie init in a TempDir
  const std::string& data() const { return data_; }
  void CreateTenant(const std::string& name);
  // `extra`: more `hygie token issue` options, e.g. {"--role", "auditor"}.
  std::string Token(const std::string& tenant, const std::string& scope = "user/*.cruds",
                    const std::string& ttl = "1h", const std::vector<std::string>& extra = {});

 private:
  TempDir dir_;
  std::string data_;
};

// How ServerProcess::Launch starts `hygie serve`.
struct ServeOptions {
  std::string listen = "127.0.0.1:0";
  std::vector<std::string> extra_args;     // after --data, --listen and --port-file
  std::vector<std::string> env;            // NAME=VALUE added to the environment
  bool tls = false;                        // the listener speaks TLS: probe /readyz over TLS
  std::string connect_host = "127.0.0.1";  // where the readiness probe connects
};

// `hygie serve` as a child process on 127.0.0.1 with an ephemeral port.
class ServerProcess {
 public:
  // Starts with the given options and waits until /readyz answers 200 (a test failure after
  // 30 s, as the constructor).
  static std::unique_ptr<ServerProcess> Launch(const std::string& data_dir,
                                               const ServeOptions& options);

  // Starts and waits until /readyz answers 200 (aborts the test on failure after 30 s).
  explicit ServerProcess(const std::string& data_dir,
                         const std::vector<std::string>& extra_args = {});
  ~ServerProcess();  // SIGTERM and wait, if still running
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // SIGKILL and reap.
  void Kill();
  // SIGTERM and reap; returns the exit status (as from waitpid's WEXITSTATUS, -1 if signalled).
  int Stop();
  // What the server wrote to stderr so far.
  std::string Log() const;
  // Polls the log (as WaitUntil) until it holds `text`; whether it does.
  bool WaitForLog(const std::string& text, int timeout_ms = 60000) const;

 private:
  ServerProcess(const std::string& data_dir, const ServeOptions& options, int tag);
  void Start(const std::string& data_dir, const ServeOptions& options);

  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_path_;
  TempDir run_dir_;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const;
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port, std::string host = "127.0.0.1");
  ~HttpClient();
  // Sends one request on a keep-alive connection (reconnecting if needed).
  // Returns status 0 on a connection failure.
  HttpResponse Request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {});
  // Convenience for FHIR calls with a bearer token.
  HttpResponse Fhir(const std::string& method, const std::string& target, const std::string& token,
                    const std::string& body = "", std::map<std::string, std::string> headers = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A loopback port that was free a moment ago.
uint16_t FreePort();
// Polls `done` every 50 ms until it holds or `timeout_ms` passes; the last answer of `done`.
bool WaitUntil(const std::function<bool()>& done, int timeout_ms = 60000);

// Registers the sites of a backup test in the data directory: dc1 (FR, holds the data), dc2
// (DE) and us-east (US, outside the EEA). A test failure if a command fails.
void AddBackupSites(const std::string& data_dir);
// Restores tenant `tenant` of `data_dir` from backup target `target` into the new data directory
// `to`, then checks (gtest assertions) that its audit trail verifies and that every Patient of
// `bodies` (id -> body) reads back byte for byte through a server started on `to`.
void ExpectRestoreGivesBack(const std::string& data_dir, const std::string& target,
                            const std::string& tenant, const std::string& to,
                            const std::string& token,
                            const std::map<std::string, std::string>& bodies);

// Files under `dir` (recursively) whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle);

// ---- Helpers added for the end-to-end suites ----

// How many responses with a 5xx status every HttpClient of this process has received so far
// (thread-safe). Tests compare it before and after to prove that no request got a 5xx.
int64_t ServerErrorResponses();

// Writes `bytes` as-is on a new plain TCP connection, half-closes nothing, and returns what
// the server sends until it closes the connection or `timeout_ms` passes (empty if nothing).
std::string RawExchange(uint16_t port, std::string_view bytes, int timeout_ms = 5000,
                        const std::string& host = "127.0.0.1");

// A TLS client probe over OpenSSL: connects, handshakes with the given protocol bounds and
// ciphers, optionally sends `request` and reads the answer until close.
struct TlsProbe {
  int min_version = 0;        // e.g. TLS1_2_VERSION; 0: library default
  int max_version = 0;        // 0: library default
  std::string ciphers;        // TLS 1.2 cipher list; empty: default
  bool allow_legacy = false;  // security level 0 so the CLIENT would accept TLS 1.0/1.1
  std::string ca_file;        // non-empty: verify the server certificate against this file
  std::string verify_host;    // with ca_file: the name the certificate must carry
  std::string request;        // sent after the handshake (e.g. "GET /healthz HTTP/1.1...")
};
struct TlsResult {
  bool handshake_ok = false;
  std::string protocol;  // "TLSv1.2", "TLSv1.3"
  std::string cipher;    // the suite negotiated (OpenSSL's name)
  std::string error;     // OpenSSL's reason when the handshake failed
  std::string response;  // bytes read after sending `request`
};
TlsResult TlsConnect(uint16_t port, const TlsProbe& probe, const std::string& host = "127.0.0.1");

// Parses JSON (kParseFullPrecisionFlag); check HasParseError() on the result.
rapidjson::Document ParseJson(const std::string& text);
// True if `body` is a JSON object whose resourceType is "OperationOutcome" with an issue.
bool IsOperationOutcome(const std::string& body);
// String member `name` of a JSON object (empty if absent).
std::string JsonString(const rapidjson::Value& v, const char* name);
// "http://host:port/fhir/t/x?y" -> "/fhir/t/x?y".
std::string PathOfUrl(const std::string& url);
// A random lowercase alphanumeric string of n characters.
std::string RandomToken(size_t n);

// Runs SQL on an SQLite database file (e.g. DATA/tenants/<t>/data.db). Returns the rows of
// the last statement, each column as its raw bytes (NULL as ""). `ok` false and `error` set
// on failure.
struct SqlResult {
  bool ok = false;
  std::string error;
  std::vector<std::vector<std::string>> rows;
};
SqlResult Sql(const std::string& db_path, const std::string& sql,
              const std::vector<std::string>& blob_params = {});

// Follows a FHIR history Bundle from `path` through its "next" links until there is none.
// Each entry is recorded as "Type/id/version" (from fullUrl and response.etag).
struct HistoryWalk {
  bool ok = false;  // every page was a 200 history Bundle
  std::string error;
  int64_t total = -1;  // Bundle.total of the first page
  int pages = 0;
  std::vector<std::string> entries;
};
HistoryWalk WalkHistory(HttpClient& client, const std::string& token, const std::string& path,
                        int max_pages = 10000);
// Bundle.total of GET path (a history URL); -1 on failure.
int64_t HistoryTotal(HttpClient& client, const std::string& token, const std::string& path);

// Issues a token through hygie_lib with the installation's own issuer key, bypassing the
// CLI's checks: any tenant name or scope, a clock moved by `clock_offset_seconds`, and
// optionally another issuer or audience. Empty string (and a test failure) on error.
struct LibTokenOptions {
  std::string tenant;
  std::string scope = "user/*.cruds";
  int64_t ttl_seconds = 3600;
  int64_t clock_offset_seconds = 0;
  std::string issuer;    // empty: the installation's
  std::string audience;  // empty: the installation's
  std::string subject = "e2e-test";
};
std::string LibToken(const std::string& data_dir, const LibTokenOptions& options);

// An installation with one tenant, a token for it (user/*.cruds) and a running server.
class Deployment {
 public:
  explicit Deployment(std::string tenant = "acme", const ServeOptions& serve = {});
  Installation& inst() { return inst_; }
  const std::string& data() const { return inst_.data(); }
  const std::string& tenant() const { return tenant_; }
  const std::string& token() const { return token_; }
  ServerProcess& server() { return *server_; }
  uint16_t port() const { return server_->port(); }
  // "/fhir/<tenant>"
  std::string Base() const { return "/fhir/" + tenant_; }
  // Stops (SIGTERM) and starts the server again on the same data directory (new port).
  void Restart();
  void StopServer();
  void StartServer();

 private:
  Installation inst_;
  std::string tenant_;
  std::string token_;
  ServeOptions serve_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace hygie::e2e
