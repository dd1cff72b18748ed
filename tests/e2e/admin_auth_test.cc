// End-to-end tests of the admin API's second factor and of the failed-authentication limit:
// multi-factor tokens (amr, acr), client certificates from the configured CA (mutual TLS), and
// 429 with Retry-After once an address has failed to authenticate too often.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

const std::string kCheckpoint = "/admin/audit/acme/checkpoint";
const std::vector<std::string> kAuditor = {"--role", "auditor"};

std::vector<std::string> With(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

// issue[0].code and issue[0].details.coding[0].code of an OperationOutcome ("" if absent).
std::string IssueCode(const std::string& body) {
  rapidjson::Document doc = ParseJson(body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("issue") ||
      !doc["issue"].IsArray() || doc["issue"].Empty()) {
    return "";
  }
  return JsonString(doc["issue"][0], "code");
}
std::string DetailsCode(const std::string& body) {
  rapidjson::Document doc = ParseJson(body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("issue") ||
      !doc["issue"].IsArray() || doc["issue"].Empty()) {
    return "";
  }
  const rapidjson::Value& issue = doc["issue"][0];
  if (!issue.HasMember("details") || !issue["details"].HasMember("coding") ||
      !issue["details"]["coding"].IsArray() || issue["details"]["coding"].Empty()) {
    return "";
  }
  return JsonString(issue["details"]["coding"][0], "code");
}

// Creates a Patient (so the tenant's trail has records) and returns its id.
std::string CreatePatient(HttpClient& c, const std::string& base, const std::string& token) {
  HttpResponse r = c.Fhir("POST", base + "/Patient", token,
                          R"({"resourceType":"Patient","name":[{"family":"Doe"}]})");
  EXPECT_EQ(r.status, 201) << r.body;
  rapidjson::Document doc = ParseJson(r.body);
  return doc.HasParseError() ? std::string() : JsonString(doc, "id");
}

// GETs the checkpoint until the trail has one (a checkpoint is cut about once a second).
HttpResponse GetCheckpoint(HttpClient& c, const std::string& token) {
  HttpResponse r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    r = c.Fhir("GET", kCheckpoint, token);
    if (r.status != 404) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

// ---- Mutual TLS: certificates and a TLS client ----

// Runs a shell command; true on exit status 0.
bool Shell(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return rc == 0;
}

// Makes `dir`/NAME-ca.pem (a CA) and `dir`/NAME-client.{pem,key} (a client certificate it
// signed) with the openssl command line. EC P-256 keys, one day of validity.
bool MakeCaAndClient(const std::string& dir, const std::string& name) {
  const std::string p = dir + "/" + name;
  const std::string ext = p + "-client.ext";
  return Shell(
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
             " -subj '/CN=" +
             name + " test CA' -keyout " + p + "-ca.key -out " + p +
             "-ca.pem -addext basicConstraints=critical,CA:TRUE"
             " -addext keyUsage=critical,keyCertSign,cRLSign") &&
         Shell("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + name +
               " admin' -keyout " + p + "-client.key -out " + p + "-client.csr") &&
         Shell(
             "printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
             "extendedKeyUsage=clientAuth\\n' > " +
             ext) &&
         Shell("openssl x509 -req -days 1 -in " + p + "-client.csr -CA " + p + "-ca.pem -CAkey " +
               p + "-ca.key -CAcreateserial -out " + p + "-client.pem -extfile " + ext);
}

struct TlsExchange {
  bool handshake_ok = false;
  std::string error;
  std::string response;  // everything read after the request (Connection: close)
  int status = 0;        // from the status line, 0 if none
  std::string body;
};

// One HTTP/1.1 request over TLS (verifying the server against `server_ca` for "localhost"),
// presenting `cert`/`key` when they are not empty.
TlsExchange TlsRequest(uint16_t port, const std::string& server_ca, const std::string& cert,
                       const std::string& key, const std::string& request, int max_version = 0) {
  TlsExchange out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = "socket";
    return out;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    out.error = "connect";
    return out;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  auto fail = [&](const std::string& what) {
    unsigned long e = ERR_get_error();
    char reason[256] = {0};
    if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
    out.error = what + (e != 0 ? std::string(": ") + reason : std::string());
    ERR_clear_error();
  };
  do {
    if (ctx == nullptr) {
      fail("SSL_CTX_new");
      break;
    }
    if (SSL_CTX_load_verify_locations(ctx, server_ca.c_str(), nullptr) != 1) {
      fail("server CA");
      break;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx, max_version);
    if (!cert.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        fail("client certificate");
        break;
      }
    }
    ssl = SSL_new(ctx);
    if (ssl == nullptr) {
      fail("SSL_new");
      break;
    }
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      fail("handshake");
      break;
    }
    out.handshake_ok = true;
    if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) {
      fail("write");
      break;
    }
    char buf[16384];
    for (;;) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) {
        // With TLS 1.3 the server judges the client's certificate after the client's side of
        // the handshake is done: a refusal arrives here, as an alert.
        if (out.response.empty()) fail("read");
        break;
      }
      out.response.append(buf, static_cast<size_t>(n));
    }
    ERR_clear_error();
  } while (false);
  if (ssl != nullptr) SSL_free(ssl);
  if (ctx != nullptr) SSL_CTX_free(ctx);
  ::close(fd);
  if (out.response.starts_with("HTTP/1.1 ") && out.response.size() >= 12) {
    out.status = std::atoi(out.response.substr(9, 3).c_str());
  }
  size_t split = out.response.find("\r\n\r\n");
  if (split != std::string::npos) out.body = out.response.substr(split + 4);
  return out;
}

std::string Get(const std::string& target, const std::string& token) {
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  return req + "\r\n";
}

// One fixture for the suite; the mutual-TLS test starts its server with StartMtlsServer().
class AdminAuthTest : public ::testing::Test {
 protected:
  void StartMtlsServer() {
    ASSERT_TRUE(MakeCaAndClient(certs_.path(), "trusted")) << "openssl could not make the CA";
    ASSERT_TRUE(MakeCaAndClient(certs_.path(), "rogue")) << "openssl could not make the CA";
    inst_ = std::make_unique<Installation>();
    inst_->CreateTenant("acme");
    ServeOptions o;
    // Loopback with a client CA: TLS with the installation's own certificate.
    o.extra_args = {"--tls-client-ca", Path("trusted-ca.pem")};
    o.tls = true;
    server_ = ServerProcess::Launch(inst_->data(), o);
    ASSERT_NE(server_->port(), 0);
  }

  std::string Path(const std::string& name) const { return certs_.path() + "/" + name; }
  Installation& inst() { return *inst_; }
  std::string ServerCa() const { return inst_->data() + "/tls/server.crt"; }
  TlsExchange WithCert(const std::string& who, const std::string& request, int max_version = 0) {
    return TlsRequest(server_->port(), ServerCa(), Path(who + "-client.pem"),
                      Path(who + "-client.key"), request, max_version);
  }
  TlsExchange WithoutCert(const std::string& request) {
    return TlsRequest(server_->port(), ServerCa(), "", "", request);
  }

  TempDir certs_;
  std::unique_ptr<Installation> inst_;  // made by StartMtlsServer
  std::unique_ptr<ServerProcess> server_;
};

// ---- 1. Multi-factor tokens ----

TEST_F(AdminAuthTest, AdminApiNeedsMultiFactorTokenOnPlainLoopback) {
  Deployment dep;
  HttpClient c(dep.port());
  const std::string id = CreatePatient(c, dep.Base(), dep.token());
  auto auditor = [&](const std::vector<std::string>& extra) {
    return dep.inst().Token("acme", "user/AuditEvent.rs", "1h", With(kAuditor, extra));
  };

  // Two factors shown: amr "mfa", or a knowledge factor and a possession factor.
  HttpResponse mfa = GetCheckpoint(c, auditor({"--amr", "mfa"}));
  EXPECT_EQ(mfa.status, 200) << mfa.body;
  EXPECT_FALSE(mfa.body.empty());
  HttpResponse two = c.Fhir("GET", kCheckpoint, auditor({"--amr", "pwd", "--amr", "otp"}));
  EXPECT_EQ(two.status, 200) << two.body;
  // The answer is the signed checkpoint note.
  EXPECT_EQ(two.Header("content-type").rfind("text/plain", 0), 0u) << two.Header("content-type");
  // Something held and something the person is count as two factors as well.
  EXPECT_EQ(c.Fhir("GET", kCheckpoint, auditor({"--amr", "otp", "--amr", "fpt"})).status, 200);

  // One factor, two of the same kind, or none: 403 with the second-factor code.
  for (const auto& extra :
       std::vector<std::vector<std::string>>{{},
                                             {"--amr", "pwd"},
                                             {"--amr", "otp"},
                                             {"--amr", "pwd", "--amr", "pin"},
                                             // An acr the server was not told to accept.
                                             {"--acr", "urn:example:loa:high"}}) {
    HttpResponse r = c.Fhir("GET", kCheckpoint, auditor(extra));
    EXPECT_EQ(r.status, 403) << ::testing::PrintToString(extra) << ": " << r.body;
    EXPECT_EQ(DetailsCode(r.body), "HYGIE-ADMIN-SECOND-FACTOR")
        << ::testing::PrintToString(extra) << ": " << r.body;
    EXPECT_EQ(IssueCode(r.body), "security") << r.body;
  }

  // The second factor is for /admin only: FHIR reads with plain tokens still work, the
  // auditor's AuditEvent reads included.
  EXPECT_EQ(c.Fhir("GET", dep.Base() + "/Patient/" + id, dep.token()).status, 200);
  HttpResponse events = c.Fhir("GET", dep.Base() + "/AuditEvent?_count=5", auditor({}));
  EXPECT_EQ(events.status, 200) << events.body;
  // And a bad token on /admin is a 401, not a 403: the second factor is checked after the first.
  HttpResponse bad = c.Fhir("GET", kCheckpoint, "not-a-token");
  EXPECT_EQ(bad.status, 401) << bad.body;
}

TEST_F(AdminAuthTest, ConfiguredAcrOpensTheAdminApi) {
  ServeOptions serve;
  serve.extra_args = {"--admin-acr", "urn:example:loa:high", "--admin-acr",
                      "http://eidas.europa.eu/LoA/substantial"};
  Deployment dep("acme", serve);
  HttpClient c(dep.port());
  CreatePatient(c, dep.Base(), dep.token());
  auto auditor = [&](const std::vector<std::string>& extra) {
    return dep.inst().Token("acme", "user/AuditEvent.rs", "1h", With(kAuditor, extra));
  };
  HttpResponse high = GetCheckpoint(c, auditor({"--acr", "urn:example:loa:high"}));
  EXPECT_EQ(high.status, 200) << high.body;
  HttpResponse eidas =
      c.Fhir("GET", kCheckpoint, auditor({"--acr", "http://eidas.europa.eu/LoA/substantial"}));
  EXPECT_EQ(eidas.status, 200) << eidas.body;
  for (const std::string acr : {"urn:example:loa:low", "urn:example:loa:hig",
                                "URN:EXAMPLE:LOA:HIGH", "http://eidas.europa.eu/LoA/low"}) {
    HttpResponse r = c.Fhir("GET", kCheckpoint, auditor({"--acr", acr}));
    EXPECT_EQ(r.status, 403) << acr << ": " << r.body;
    EXPECT_EQ(DetailsCode(r.body), "HYGIE-ADMIN-SECOND-FACTOR") << acr << ": " << r.body;
  }
  // amr "mfa" is accepted whatever acr values are configured.
  EXPECT_EQ(c.Fhir("GET", kCheckpoint, auditor({"--amr", "mfa"})).status, 200);
}

// ---- 2. Mutual TLS ----

TEST_F(AdminAuthTest, ClientCertificateIsTheSecondFactor) {
  ASSERT_NO_FATAL_FAILURE(StartMtlsServer());
  const std::string token = inst().Token("acme");
  // A record in the trail, so that a checkpoint is cut.
  const std::string body = R"({"resourceType":"Patient","active":true})";
  TlsExchange created = WithoutCert(
      "POST /fhir/acme/Patient HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
      "Authorization: Bearer " +
      token + "\r\nContent-Type: application/fhir+json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_TRUE(created.handshake_ok) << created.error;
  ASSERT_EQ(created.status, 201) << created.response;
  rapidjson::Document doc = ParseJson(created.body);
  ASSERT_FALSE(doc.HasParseError()) << created.body;
  const std::string id = JsonString(doc, "id");

  // An auditor token without amr: the client certificate is its second factor.
  const std::string auditor = inst().Token("acme", "user/AuditEvent.rs", "1h", kAuditor);
  TlsExchange admin;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    admin = WithCert("trusted", Get(kCheckpoint, auditor));
    if (admin.status != 404) break;  // no checkpoint yet
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(admin.handshake_ok) << admin.error;
  EXPECT_EQ(admin.status, 200) << admin.response;

  // The same token without a client certificate: 403, second factor missing.
  TlsExchange bare = WithoutCert(Get(kCheckpoint, auditor));
  ASSERT_TRUE(bare.handshake_ok) << bare.error;
  EXPECT_EQ(bare.status, 403) << bare.response;
  EXPECT_EQ(DetailsCode(bare.body), "HYGIE-ADMIN-SECOND-FACTOR") << bare.body;
  // Without a certificate a multi-factor token still opens it.
  const std::string mfa =
      inst().Token("acme", "user/AuditEvent.rs", "1h", With(kAuditor, {"--amr", "mfa"}));
  EXPECT_EQ(WithoutCert(Get(kCheckpoint, mfa)).status, 200);

  // The certificate is a second factor, not a first: no token, or a bad one, is still a 401.
  TlsExchange no_token = WithCert("trusted", Get(kCheckpoint, ""));
  EXPECT_EQ(no_token.status, 401) << no_token.response;
  TlsExchange bad_token = WithCert("trusted", Get(kCheckpoint, "not-a-token"));
  EXPECT_EQ(bad_token.status, 401) << bad_token.response;
  // Nor does it widen the token: a token without the audit scope is refused.
  TlsExchange no_scope = WithCert("trusted", Get(kCheckpoint, token));
  EXPECT_EQ(no_scope.status, 403) << no_scope.response;
  EXPECT_NE(DetailsCode(no_scope.body), "HYGIE-ADMIN-SECOND-FACTOR") << no_scope.body;

  // A certificate from another CA: refused with an "unknown CA" alert. With TLS 1.2 the
  // handshake fails; with TLS 1.3 the client's side of the handshake completes first and the
  // alert arrives instead of an answer.
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsExchange rogue = WithCert("rogue", Get(kCheckpoint, auditor), version);
    EXPECT_EQ(rogue.status, 0) << version << ": " << rogue.response;
    EXPECT_TRUE(rogue.response.empty()) << "a certificate from an untrusted CA was served";
    EXPECT_NE(rogue.error.find("unknown ca"), std::string::npos) << version << ": " << rogue.error;
    if (version == TLS1_2_VERSION) {
      EXPECT_FALSE(rogue.handshake_ok);
    }
    // The trusted certificate works with either version.
    EXPECT_EQ(WithCert("trusted", Get(kCheckpoint, auditor), version).status, 200) << version;
  }

  // FHIR reads need no client certificate on this listener, and work with one.
  TlsExchange read = WithoutCert(Get("/fhir/acme/Patient/" + id, token));
  ASSERT_TRUE(read.handshake_ok) << read.error;
  EXPECT_EQ(read.status, 200) << read.response;
  EXPECT_EQ(WithCert("trusted", Get("/fhir/acme/Patient/" + id, token)).status, 200);
  // The server is still serving after the refused handshake.
  EXPECT_EQ(WithCert("trusted", Get(kCheckpoint, auditor)).status, 200);
}

// ---- 3. Failed-authentication limit ----

// One plain HTTP/1.1 request to 127.0.0.1:`port` from the loopback address `source` (any of
// 127.0.0.0/8 on Linux), so that the server sees another client address. Status 0 on failure.
HttpResponse GetFrom(const std::string& source, uint16_t port, const std::string& target,
                     const std::string& token) {
  HttpResponse out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ADD_FAILURE() << "cannot connect from " << source;
    ::close(fd);
    return out;
  }
  std::string req = Get(target, token);
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string got;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!got.starts_with("HTTP/1.1 ") || got.size() < 12) return out;
  out.status = std::atoi(got.substr(9, 3).c_str());
  size_t end = got.find("\r\n\r\n");
  if (end == std::string::npos) return out;
  out.body = got.substr(end + 4);
  size_t line = got.find("\r\n");
  while (line < end) {
    size_t next = got.find("\r\n", line + 2);
    std::string field = got.substr(line + 2, next - line - 2);
    size_t colon = field.find(':');
    if (colon != std::string::npos) {
      std::string name = field.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t v = field.find_first_not_of(' ', colon + 1);
      out.headers[name] = v == std::string::npos ? "" : field.substr(v);
    }
    line = next;
  }
  return out;
}

// `token` with its signature altered: it no longer verifies, but still names its issuer and
// client (unverified).
std::string Forged(std::string token) {
  size_t sig = token.rfind('.');
  if (sig == std::string::npos || token.size() < sig + 10) return "";
  char& ch = token[sig + 5];
  ch = ch == 'A' ? 'B' : 'A';
  return token;
}

TEST_F(AdminAuthTest, RepeatedFailuresFromAnAddressAreThrottled) {
  Installation inst;
  inst.CreateTenant("acme");
  const std::string good = inst.Token("acme");
  ServeOptions o;
  o.extra_args = {"--auth-failure-burst", "5", "--auth-failures-per-minute", "60"};
  auto server = ServerProcess::Launch(inst.data(), o);
  ASSERT_NE(server->port(), 0);
  HttpClient c(server->port());
  const std::string target = "/fhir/acme/Patient?_count=1";

  // The burst: five bad tokens are answered 401 each.
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = c.Fhir("GET", target, "bad-token-" + std::to_string(i));
    ASSERT_EQ(r.status, 401) << i << ": " << r.body;
  }
  // The sixth: 429, with Retry-After in whole seconds and a "throttled" OperationOutcome.
  HttpResponse throttled = c.Fhir("GET", target, "bad-token-5");
  ASSERT_EQ(throttled.status, 429) << throttled.body;
  const std::string retry = throttled.Header("retry-after");
  ASSERT_FALSE(retry.empty());
  ASSERT_EQ(retry.find_first_not_of("0123456789"), std::string::npos) << retry;
  const int wait = std::stoi(retry);
  EXPECT_GE(wait, 1);
  EXPECT_LE(wait, 5) << "one failure is forgiven per second";
  EXPECT_TRUE(IsOperationOutcome(throttled.body)) << throttled.body;
  EXPECT_EQ(IssueCode(throttled.body), "throttled") << throttled.body;
  EXPECT_EQ(DetailsCode(throttled.body), "HYGIE-AUTH-THROTTLED") << throttled.body;

  // The limit is per address and is checked before the token is: while 127.0.0.1 is throttled,
  // a valid token from it is refused too (so a guessing client cannot tell a good token from a
  // bad one, and costs no signature checks). The admin API shares the limit.
  HttpResponse valid = c.Fhir("GET", target, good);
  EXPECT_EQ(valid.status, 429) << valid.body;
  EXPECT_FALSE(valid.Header("retry-after").empty());
  EXPECT_EQ(c.Fhir("GET", kCheckpoint, good).status, 429);
  // Requests without a token at all are throttled the same way.
  EXPECT_EQ(c.Request("GET", target).status, 429);
  // Endpoints that need no authentication are not throttled.
  EXPECT_EQ(c.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(c.Request("GET", "/fhir/acme/metadata").status, 200);
  // Another address is not throttled: the limit holds the guessing address, not the server.
  HttpResponse other = GetFrom("127.0.0.2", server->port(), target, good);
  EXPECT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(GetFrom("127.0.0.2", server->port(), target, "bad").status, 401);

  // After Retry-After seconds, the valid token works again.
  std::this_thread::sleep_for(std::chrono::seconds(wait) + std::chrono::milliseconds(100));
  HttpResponse again = c.Fhir("GET", target, good);
  EXPECT_EQ(again.status, 200) << again.body;
  // One failure was forgiven, not the whole burst: one bad token is a 401, the next a 429.
  EXPECT_EQ(c.Fhir("GET", target, "bad-token-6").status, 401);
  HttpResponse next = c.Fhir("GET", target, "bad-token-7");
  EXPECT_EQ(next.status, 429) << next.body;
  EXPECT_EQ(server->Stop(), 0) << server->Log();
}

TEST_F(AdminAuthTest, SuccessfulAuthenticationsAreNotCounted) {
  Installation inst;
  inst.CreateTenant("acme");
  const std::string good = inst.Token("acme");
  ServeOptions o;
  o.extra_args = {"--auth-failure-burst", "3", "--auth-failures-per-minute", "1"};
  auto server = ServerProcess::Launch(inst.data(), o);
  ASSERT_NE(server->port(), 0);
  HttpClient c(server->port());
  // Many valid requests, and requests the token authenticates but is not allowed (a tenant it
  // does not serve), take nothing from the address's bucket.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(c.Fhir("GET", "/fhir/acme/Patient?_count=1", good).status, 200) << i;
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(c.Fhir("GET", "/fhir/other/Patient?_count=1", good).status, 403) << i;
  }
  // The burst is whole: three failures, then a 429 (with one failure forgiven per minute,
  // Retry-After is up to a minute).
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c.Fhir("GET", "/fhir/acme/Patient", "bad").status, 401) << i;
  }
  HttpResponse r = c.Fhir("GET", "/fhir/acme/Patient", "bad");
  ASSERT_EQ(r.status, 429) << r.body;
  const int wait = std::stoi(r.Header("retry-after"));
  EXPECT_GT(wait, 30);
  EXPECT_LE(wait, 60);
}

TEST_F(AdminAuthTest, RepeatedFailuresNamingOneClientAreThrottledAcrossAddresses) {
  Installation inst;
  inst.CreateTenant("acme");
  const std::string good = inst.Token("acme");  // names the CLI's client
  const std::string forged = Forged(good);
  ASSERT_FALSE(forged.empty());
  ServeOptions o;
  o.extra_args = {"--auth-failure-burst", "3", "--auth-failures-per-minute", "1"};
  auto server = ServerProcess::Launch(inst.data(), o);
  ASSERT_NE(server->port(), 0);
  const uint16_t port = server->port();
  const std::string target = "/fhir/acme/Patient?_count=1";
  // Three addresses, one forged token each: each address has failed once, the client thrice.
  for (const std::string from : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    HttpResponse r = GetFrom(from, port, target, forged);
    EXPECT_EQ(r.status, 401) << from << ": " << r.body;
  }
  // A fourth address with a forged token naming the same client: 429, though that address
  // never failed before.
  HttpResponse r = GetFrom("127.0.0.5", port, target, forged);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_FALSE(r.Header("retry-after").empty());
  EXPECT_EQ(DetailsCode(r.body), "HYGIE-AUTH-THROTTLED") << r.body;
  // A bad token naming no client from a fresh address is a plain 401.
  EXPECT_EQ(GetFrom("127.0.0.6", port, target, "bad").status, 401);
  // The client's valid tokens still work, from any address: only failures are limited per
  // client, so a forger cannot lock the client out.
  HttpResponse valid = GetFrom("127.0.0.7", port, target, good);
  EXPECT_EQ(valid.status, 200) << valid.body;
  HttpClient c(port);
  EXPECT_EQ(c.Fhir("GET", target, good).status, 200);
}

}  // namespace
}  // namespace hygie::e2e
