#include "support/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "auth/token.h"
#include "cli/installation.h"
#include "core/clock.h"

extern char** environ;

namespace hygie::e2e {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

std::atomic<int64_t> g_server_errors{0};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `hygie args...`.
std::vector<std::string> HygieArgv(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {HYGIE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

pid_t SpawnProgram(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& out_path, const std::string& err_path) {
  if (args.empty()) return -1;
  std::vector<std::string> argv_s = args;
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

CommandResult RunProgram(const std::vector<std::string>& args, const std::vector<std::string>& env,
                         int timeout_seconds) {
  TempDir io;
  const std::string out = io.path() + "/out", err = io.path() + "/err";
  CommandResult r;
  const pid_t pid = SpawnProgram(args, env, out, err);
  if (pid < 0) {
    r.err = "cannot start " + (args.empty() ? std::string("(nothing)") : args[0]);
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  for (;;) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (w < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      Reap(pid);
      r.exit_code = -2;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

CommandResult RunHygie(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  TempDir io;
  std::string out = io.path() + "/out", err = io.path() + "/err";
  CommandResult r;
  pid_t pid = SpawnProgram(HygieArgv(args), env, out, err);
  if (pid < 0) return r;
  r.exit_code = Reap(pid);
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

CommandResult RunHygieFor(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          int timeout_seconds) {
  return RunProgram(HygieArgv(args), env, timeout_seconds);
}

Installation::Installation() : data_(dir_.path() + "/data") {
  CommandResult r = RunHygie({"init", "--data", data_});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "hygie init failed: " << r.err;
  }
}

void Installation::CreateTenant(const std::string& name) {
  CommandResult r = RunHygie({"tenant", "create", name, "--data", data_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

std::string Installation::Token(const std::string& tenant, const std::string& scope,
                                const std::string& ttl, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"token", "issue",   "--data", data_,   "--tenant",
                                   tenant,  "--scope", scope,    "--ttl", ttl};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = RunHygie(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string t = r.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

ServerProcess::ServerProcess(const std::string& data_dir,
                             const std::vector<std::string>& extra_args) {
  ServeOptions options;
  options.extra_args = extra_args;
  Start(data_dir, options);
}

ServerProcess::ServerProcess(const std::string& data_dir, const ServeOptions& options, int) {
  Start(data_dir, options);
}

std::unique_ptr<ServerProcess> ServerProcess::Launch(const std::string& data_dir,
                                                     const ServeOptions& options) {
  return std::unique_ptr<ServerProcess>(new ServerProcess(data_dir, options, 0));
}

void ServerProcess::Start(const std::string& data_dir, const ServeOptions& options) {
  std::string port_file = run_dir_.path() + "/port";
  log_path_ = run_dir_.path() + "/server.log";
  std::vector<std::string> args = {"serve",        "--data",      data_dir, "--listen",
                                   options.listen, "--port-file", port_file};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  // Tests refuse many tokens on purpose: the failed-authentication limit stays out of their
  // way unless a test sets it.
  if (std::find(args.begin(), args.end(), "--auth-failure-burst") == args.end()) {
    args.insert(args.end(), {"--auth-failure-burst", "1000000"});
  }
  pid_ = SpawnProgram(HygieArgv(args), options.env, run_dir_.path() + "/server.out", log_path_);
  if (pid_ < 0) {
    ADD_FAILURE() << "cannot start hygie serve";
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "hygie serve exited at start: " << Log();
      return;
    }
    std::string p = ReadAll(port_file);
    if (!p.empty() && p.back() == '\n') {
      port_ = static_cast<uint16_t>(std::stoi(p));
      if (options.tls) {
        TlsProbe probe;
        probe.request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        TlsResult r = TlsConnect(port_, probe, options.connect_host);
        if (r.handshake_ok && r.response.starts_with("HTTP/1.1 200")) return;
      } else {
        HttpClient c(port_, options.connect_host);
        if (c.Request("GET", "/readyz").status == 200) return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "hygie serve did not become ready: " << Log();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap(pid_);
  pid_ = -1;
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int code = Reap(pid_);
  pid_ = -1;
  return code;
}

std::string ServerProcess::Log() const { return ReadAll(log_path_); }

bool ServerProcess::WaitForLog(const std::string& text, int timeout_ms) const {
  return WaitUntil([&] { return Log().find(text) != std::string::npos; }, timeout_ms);
}

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  asio::io_context ioc;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  uint16_t port;
  std::string host;

  bool Connect() {
    stream = std::make_unique<beast::tcp_stream>(ioc);
    boost::system::error_code ec;
    stream->socket().connect({asio::ip::make_address(host), port}, ec);
    buffer.clear();
    return !ec;
  }
};

HttpClient::HttpClient(uint16_t port, std::string host) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->host = std::move(host);
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Request(const std::string& method, const std::string& target,
                                 const std::string& body,
                                 const std::map<std::string, std::string>& headers) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->stream && !impl_->Connect()) return {};
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, impl_->host + ":" + std::to_string(impl_->port));
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.body() = body;
      if (req.find(bhttp::field::content_type) == req.end()) {
        req.set(bhttp::field::content_type, "application/fhir+json");
      }
    }
    req.prepare_payload();
    boost::system::error_code ec;
    impl_->stream->expires_after(std::chrono::seconds(60));
    bhttp::write(*impl_->stream, req, ec);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    if (!ec) bhttp::read(*impl_->stream, impl_->buffer, parser, ec);
    if (ec) {
      impl_->stream.reset();
      continue;  // the server may have closed an idle keep-alive connection
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    if (out.status >= 500) g_server_errors.fetch_add(1);
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) impl_->stream.reset();
    return out;
  }
  return {};
}

HttpResponse HttpClient::Fhir(const std::string& method, const std::string& target,
                              const std::string& token, const std::string& body,
                              std::map<std::string, std::string> headers) {
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  return Request(method, target, body, headers);
}

std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file()) continue;
    std::string content = ReadAll(it->path().string());
    if (content.find(needle) != std::string::npos) hits.push_back(it->path().string());
  }
  return hits;
}

}  // namespace hygie::e2e

namespace hygie::e2e {

int64_t ServerErrorResponses() { return g_server_errors.load(); }

namespace {

// A blocking TCP connection to host:port with send/receive timeouts; -1 on failure.
int ConnectTcp(const std::string& host, uint16_t port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string RawExchange(uint16_t port, std::string_view bytes, int timeout_ms,
                        const std::string& host) {
  int fd = ConnectTcp(host, port, timeout_ms);
  if (fd < 0) return {};
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early (e.g. after refusing the headers)
    off += static_cast<size_t>(n);
  }
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got;
}

TlsResult TlsConnect(uint16_t port, const TlsProbe& probe, const std::string& host) {
  TlsResult result;
  int fd = ConnectTcp(host, port, 10000);
  if (fd < 0) {
    result.error = "cannot connect";
    return result;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  auto fail = [&](const std::string& what) {
    unsigned long e = ERR_get_error();
    char reason[256] = {0};
    if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
    result.error = what + (e != 0 ? std::string(": ") + reason : std::string());
    ERR_clear_error();
  };
  do {
    if (ctx == nullptr) {
      fail("SSL_CTX_new");
      break;
    }
    if (probe.allow_legacy) {
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
    }
    if (probe.min_version != 0) SSL_CTX_set_min_proto_version(ctx, probe.min_version);
    if (probe.max_version != 0) SSL_CTX_set_max_proto_version(ctx, probe.max_version);
    if (!probe.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, probe.ciphers.c_str()) != 1) {
      fail("cipher list");
      break;
    }
    if (!probe.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, probe.ca_file.c_str(), nullptr) != 1) {
        fail("load CA file");
        break;
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    }
    ssl = SSL_new(ctx);
    if (ssl == nullptr) {
      fail("SSL_new");
      break;
    }
    if (!probe.verify_host.empty()) {
      SSL_set_tlsext_host_name(ssl, probe.verify_host.c_str());
      SSL_set1_host(ssl, probe.verify_host.c_str());
    }
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      fail("handshake");
      break;
    }
    result.handshake_ok = true;
    result.protocol = SSL_get_version(ssl);
    result.cipher = SSL_get_cipher_name(ssl);
    if (probe.request.empty()) break;
    if (SSL_write(ssl, probe.request.data(), static_cast<int>(probe.request.size())) <= 0) {
      fail("write");
      break;
    }
    char buf[16384];
    for (;;) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      result.response.append(buf, static_cast<size_t>(n));
    }
    ERR_clear_error();
  } while (false);
  if (ssl != nullptr) SSL_free(ssl);
  if (ctx != nullptr) SSL_CTX_free(ctx);
  ::close(fd);
  return result;
}

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
  return doc;
}

bool IsOperationOutcome(const std::string& body) {
  rapidjson::Document doc = ParseJson(body);
  if (doc.HasParseError() || !doc.IsObject()) return false;
  if (JsonString(doc, "resourceType") != "OperationOutcome") return false;
  auto it = doc.FindMember("issue");
  return it != doc.MemberEnd() && it->value.IsArray() && !it->value.Empty();
}

std::string JsonString(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return {};
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::string PathOfUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

std::string RandomToken(size_t n) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kAlphabet[pick(rng)]);
  return s;
}

}  // namespace hygie::e2e

namespace hygie::e2e {

SqlResult Sql(const std::string& db_path, const std::string& sql,
              const std::vector<std::string>& blob_params) {
  SqlResult result;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    result.error = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return result;
  }
  sqlite3_busy_timeout(db, 10000);
  const char* tail = sql.c_str();
  const char* end = sql.c_str() + sql.size();
  result.ok = true;
  while (tail < end && result.ok) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, tail, static_cast<int>(end - tail), &stmt, &tail) != SQLITE_OK) {
      result.ok = false;
      result.error = sqlite3_errmsg(db);
      break;
    }
    if (stmt == nullptr) continue;  // whitespace or a comment
    for (size_t i = 0;
         i < blob_params.size() && static_cast<int>(i) < sqlite3_bind_parameter_count(stmt); ++i) {
      sqlite3_bind_blob(stmt, static_cast<int>(i + 1), blob_params[i].data(),
                        static_cast<int>(blob_params[i].size()), SQLITE_TRANSIENT);
    }
    result.rows.clear();
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        result.ok = false;
        result.error = sqlite3_errmsg(db);
        break;
      }
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const void* data = sqlite3_column_blob(stmt, c);
        int n = sqlite3_column_bytes(stmt, c);
        row.emplace_back(data != nullptr ? static_cast<const char*>(data) : "",
                         data != nullptr ? static_cast<size_t>(n) : 0);
      }
      result.rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return result;
}

HistoryWalk WalkHistory(HttpClient& client, const std::string& token, const std::string& path,
                        int max_pages) {
  HistoryWalk walk;
  std::string next = path;
  while (!next.empty()) {
    if (walk.pages >= max_pages) {
      walk.error = "too many pages";
      return walk;
    }
    HttpResponse res = client.Fhir("GET", next, token);
    ++walk.pages;
    if (res.status != 200) {
      walk.error = "GET " + next + " -> " + std::to_string(res.status) + " " + res.body;
      return walk;
    }
    rapidjson::Document doc = ParseJson(res.body);
    if (doc.HasParseError() || JsonString(doc, "resourceType") != "Bundle" ||
        JsonString(doc, "type") != "history") {
      walk.error = "not a history Bundle: " + res.body.substr(0, 200);
      return walk;
    }
    if (walk.pages == 1) {
      auto t = doc.FindMember("total");
      if (t != doc.MemberEnd() && t->value.IsInt64()) walk.total = t->value.GetInt64();
    }
    next.clear();
    auto links = doc.FindMember("link");
    if (links != doc.MemberEnd() && links->value.IsArray()) {
      for (const auto& l : links->value.GetArray()) {
        if (JsonString(l, "relation") == "next") next = PathOfUrl(JsonString(l, "url"));
      }
    }
    auto entries = doc.FindMember("entry");
    if (entries != doc.MemberEnd() && entries->value.IsArray()) {
      for (const auto& e : entries->value.GetArray()) {
        std::string full = JsonString(e, "fullUrl");
        std::string etag;
        auto r = e.FindMember("response");
        if (r != e.MemberEnd()) etag = JsonString(r->value, "etag");
        // fullUrl: .../fhir/<tenant>/<Type>/<id>; etag: W/"n".
        size_t id_slash = full.rfind('/');
        size_t type_slash = id_slash == std::string::npos || id_slash == 0
                                ? std::string::npos
                                : full.rfind('/', id_slash - 1);
        if (type_slash == std::string::npos || etag.size() < 5) {
          walk.error = "entry without fullUrl or etag";
          return walk;
        }
        walk.entries.push_back(full.substr(type_slash + 1) + "/" + etag.substr(3, etag.size() - 4));
      }
    }
  }
  walk.ok = true;
  return walk;
}

int64_t HistoryTotal(HttpClient& client, const std::string& token, const std::string& path) {
  HttpResponse res = client.Fhir(
      "GET", path + (path.find('?') == std::string::npos ? "?" : "&") + "_count=1", token);
  if (res.status != 200) return -1;
  rapidjson::Document doc = ParseJson(res.body);
  if (doc.HasParseError() || !doc.IsObject()) return -1;
  auto t = doc.FindMember("total");
  return t != doc.MemberEnd() && t->value.IsInt64() ? t->value.GetInt64() : -1;
}

Deployment::Deployment(std::string tenant, const ServeOptions& serve)
    : tenant_(std::move(tenant)), serve_(serve) {
  inst_.CreateTenant(tenant_);
  token_ = inst_.Token(tenant_);
  StartServer();
}

void Deployment::StopServer() {
  if (server_) {
    EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    server_.reset();
  }
}

void Deployment::StartServer() { server_ = ServerProcess::Launch(inst_.data(), serve_); }

void Deployment::Restart() {
  StopServer();
  StartServer();
}

}  // namespace hygie::e2e

namespace hygie::e2e {

std::string LibToken(const std::string& data_dir, const LibTokenOptions& options) {
  auto inst = cli::OpenInstallation(data_dir, "");
  if (!inst.ok()) {
    ADD_FAILURE() << "OpenInstallation: " << inst.status().ToString();
    return "";
  }
  auto key = inst->IssuerKey();
  if (!key.ok()) {
    ADD_FAILURE() << "IssuerKey: " << key.status().ToString();
    return "";
  }
  FakeClock clock(SystemClock::Get().NowMicros() + options.clock_offset_seconds * 1000000);
  auth::TokenIssuer issuer(std::move(key).value(),
                           options.issuer.empty() ? inst->issuer : options.issuer,
                           options.audience.empty() ? inst->audience : options.audience, clock);
  auth::Claims claims;
  claims.subject = options.subject;
  claims.tenant = options.tenant;
  claims.scope = options.scope;
  claims.client_id = "e2e-test";
  auto token = issuer.Issue(claims, options.ttl_seconds);
  if (!token.ok()) {
    ADD_FAILURE() << "Issue: " << token.status().ToString();
    return "";
  }
  return *token;
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool WaitUntil(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

void ExpectRestoreGivesBack(const std::string& data_dir, const std::string& target,
                            const std::string& tenant, const std::string& to,
                            const std::string& token,
                            const std::map<std::string, std::string>& bodies) {
  CommandResult r =
      RunHygie({"restore", "--data", data_dir, "--target", target, "--tenant", tenant, "--to", to});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RunHygie({"audit", "verify", "--data", to, "--tenant", tenant}).exit_code, 0);
  ServerProcess back(to);
  HttpClient c(back.port());
  for (const auto& [id, body] : bodies) {
    EXPECT_EQ(c.Fhir("GET", "/fhir/" + tenant + "/Patient/" + id, token).body, body) << id;
  }
}

void AddBackupSites(const std::string& data_dir) {
  for (const std::vector<std::string>& site :
       {std::vector<std::string>{"dc1", "--country", "FR", "--data-site"},
        std::vector<std::string>{"dc2", "--country", "DE"},
        std::vector<std::string>{"us-east", "--country", "US"}}) {
    std::vector<std::string> args = {
        "site",       "add",       site[0],      "--data", data_dir,
        "--operator", "Hébergeur", "--hds-cert", "HDS-1",  "--hds-valid-until",
        "2030-12-31"};
    args.insert(args.end(), site.begin() + 1, site.end());
    CommandResult r = RunHygie(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

}  // namespace hygie::e2e
