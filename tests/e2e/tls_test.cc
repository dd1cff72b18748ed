// End-to-end TLS tests: TLS 1.2 and 1.3 with the data directory's certificate, older
// protocols and weak ciphers refused, plain HTTP refused on a TLS port, TLS by default on
// non-loopback listeners, and bad TLS settings refused at start.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <filesystem>
#include <string>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kHealthz =
    "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

TlsProbe Verified(const std::string& data, int version) {
  TlsProbe p;
  p.min_version = version;
  p.max_version = version;
  p.ca_file = data + "/tls/server.crt";
  p.verify_host = "localhost";
  p.request = kHealthz;
  return p;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inst_.CreateTenant("acme");
    ServeOptions o;
    o.extra_args = {"--tls-cert", inst_.data() + "/tls/server.crt", "--tls-key",
                    inst_.data() + "/tls/server.key"};
    o.tls = true;
    server_ = ServerProcess::Launch(inst_.data(), o);
    ASSERT_NE(server_->port(), 0);
  }

  Installation inst_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsTest, Tls12And13WorkWithTheDataDirectoryCertificate) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsResult r = TlsConnect(server_->port(), Verified(inst_.data(), version));
    ASSERT_TRUE(r.handshake_ok) << version << ": " << r.error;
    EXPECT_EQ(r.protocol, version == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3");
    EXPECT_TRUE(r.response.starts_with("HTTP/1.1 200")) << r.response;
  }
  // A FHIR write over TLS: the Location is https.
  const std::string token = inst_.Token("acme");
  const std::string body = R"({"resourceType":"Patient","active":true})";
  TlsProbe p = Verified(inst_.data(), TLS1_3_VERSION);
  p.request =
      "POST /fhir/acme/Patient HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
      "Authorization: Bearer " +
      token +
      "\r\nContent-Type: application/fhir+json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  TlsResult w = TlsConnect(server_->port(), p);
  ASSERT_TRUE(w.handshake_ok) << w.error;
  EXPECT_TRUE(w.response.starts_with("HTTP/1.1 201")) << w.response;
  EXPECT_NE(w.response.find("Location: https://"), std::string::npos) << w.response;
}

TEST_F(TlsTest, AnotherCertificateDoesNotVerify) {
  // The server presents this installation's certificate, not some other one.
  Installation other;
  TlsProbe p = Verified(other.data(), TLS1_3_VERSION);
  TlsResult r = TlsConnect(server_->port(), p);
  EXPECT_FALSE(r.handshake_ok);
  // And the certificate names localhost, not anything else.
  TlsProbe wrong_name = Verified(inst_.data(), TLS1_3_VERSION);
  wrong_name.verify_host = "example.org";
  EXPECT_FALSE(TlsConnect(server_->port(), wrong_name).handshake_ok);
}

TEST_F(TlsTest, OldProtocolsAndWeakCiphersAreRefused) {
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    TlsProbe p;
    p.min_version = version;
    p.max_version = version;
    p.allow_legacy = true;  // the client would accept it: the refusal must come from the server
    p.request = kHealthz;
    TlsResult r = TlsConnect(server_->port(), p);
    EXPECT_FALSE(r.handshake_ok) << "protocol " << std::hex << version << " accepted ("
                                 << r.protocol << ")";
    EXPECT_TRUE(r.response.empty());
  }
  // TLS 1.2 with only weak or non-forward-secret suites offered.
  for (const std::string ciphers :
       {"AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA",
        "DES-CBC3-SHA", "NULL-SHA256", "ECDHE-ECDSA-NULL-SHA"}) {
    TlsProbe p;
    p.min_version = TLS1_2_VERSION;
    p.max_version = TLS1_2_VERSION;
    p.allow_legacy = true;
    p.ciphers = ciphers + ":@SECLEVEL=0";
    TlsResult r = TlsConnect(server_->port(), p);
    EXPECT_FALSE(r.handshake_ok) << ciphers << " accepted";
  }
  // The legacy-tolerant client does connect with TLS 1.2 when the server may choose: the
  // refusals above come from the protocol and suite, not from the probe.
  TlsProbe control;
  control.allow_legacy = true;
  control.min_version = TLS1_VERSION;
  control.request = kHealthz;
  TlsResult ok = TlsConnect(server_->port(), control);
  EXPECT_TRUE(ok.handshake_ok) << ok.error;
  EXPECT_TRUE(ok.protocol == "TLSv1.2" || ok.protocol == "TLSv1.3") << ok.protocol;
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortFails) {
  HttpClient plain(server_->port());
  HttpResponse r = plain.Request("GET", "/healthz");
  EXPECT_EQ(r.status, 0) << "plain HTTP answered on a TLS port: " << r.body;
  std::string raw = RawExchange(server_->port(), kHealthz, 3000);
  EXPECT_FALSE(raw.starts_with("HTTP/")) << raw;
  // The server still serves TLS afterwards.
  EXPECT_TRUE(TlsConnect(server_->port(), Verified(inst_.data(), TLS1_3_VERSION)).handshake_ok);
}

TEST(TlsDefaultsTest, NonLoopbackListenerUsesTlsByDefault) {
  Installation inst;
  ServeOptions o;
  o.listen = "0.0.0.0:0";
  o.tls = true;
  auto server = ServerProcess::Launch(inst.data(), o);
  ASSERT_NE(server->port(), 0);
  TlsResult r = TlsConnect(server->port(), Verified(inst.data(), TLS1_3_VERSION));
  ASSERT_TRUE(r.handshake_ok) << r.error;
  EXPECT_TRUE(r.response.starts_with("HTTP/1.1 200")) << r.response;
  HttpClient plain(server->port());
  EXPECT_EQ(plain.Request("GET", "/healthz").status, 0);
  EXPECT_EQ(server->Stop(), 0);
}

TEST(TlsDefaultsTest, LoopbackAliasServesPlainHttp) {
  Installation inst;
  ServeOptions o;
  o.listen = "127.0.0.2:0";
  o.connect_host = "127.0.0.2";
  auto server = ServerProcess::Launch(inst.data(), o);
  ASSERT_NE(server->port(), 0);
  HttpClient c(server->port(), "127.0.0.2");
  EXPECT_EQ(c.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(server->Stop(), 0);
}

TEST(TlsDefaultsTest, BadTlsSettingsAreRefusedAtStart) {
  Installation inst;
  Installation other;
  const std::string d = inst.data();
  auto serve = [&](std::vector<std::string> extra, const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> args = {"serve", "--data", d, "--listen", listen};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunHygieFor(args, {}, 30);
  };
  CommandResult only_cert = serve({"--tls-cert", d + "/tls/server.crt"});
  EXPECT_EQ(only_cert.exit_code, 1) << only_cert.err;
  CommandResult only_key = serve({"--tls-key", d + "/tls/server.key"});
  EXPECT_EQ(only_key.exit_code, 1) << only_key.err;
  CommandResult missing =
      serve({"--tls-cert", d + "/tls/nope.crt", "--tls-key", d + "/tls/server.key"});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  CommandResult mismatched =
      serve({"--tls-cert", d + "/tls/server.crt", "--tls-key", other.data() + "/tls/server.key"});
  EXPECT_EQ(mismatched.exit_code, 1)
      << "a key that does not match the certificate: " << mismatched.err;
  CommandResult key_as_cert =
      serve({"--tls-cert", d + "/tls/server.key", "--tls-key", d + "/tls/server.key"});
  EXPECT_EQ(key_as_cert.exit_code, 1) << key_as_cert.err;
  // Without its certificate, a non-loopback listener refuses to start rather than serve
  // plain HTTP.
  fs::remove(d + "/tls/server.crt");
  fs::remove(d + "/tls/server.key");
  CommandResult no_cert = serve({}, "0.0.0.0:0");
  EXPECT_EQ(no_cert.exit_code, 1) << no_cert.err;
  CommandResult bad_listen = serve({}, "not-an-address");
  EXPECT_EQ(bad_listen.exit_code, 2) << bad_listen.err;
}

// What a scanner checks (tests/tls/testssl.sh runs testssl.sh itself, in the long suite): the
// server's order of suites wins over the client's, and every answer over TLS carries HSTS and
// the headers that keep health data out of caches and frames.
TEST_F(TlsTest, TheServerPicksTheSuiteAndAnswersWithSecurityHeaders) {
  TlsProbe p = Verified(inst_.data(), TLS1_2_VERSION);
  // The client prefers the weaker of two suites the server accepts.
  p.ciphers =
      "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384";
  TlsResult r = TlsConnect(server_->port(), p);
  ASSERT_TRUE(r.handshake_ok) << r.error;
  EXPECT_NE(r.cipher.find("AES256-GCM-SHA384"), std::string::npos) << r.cipher;
  EXPECT_NE(r.response.find("Strict-Transport-Security: max-age=31536000"), std::string::npos)
      << r.response;
  EXPECT_NE(r.response.find("X-Content-Type-Options: nosniff"), std::string::npos) << r.response;
  EXPECT_NE(r.response.find("Cache-Control: no-store"), std::string::npos) << r.response;
  // An error answer too (the router's 404).
  p.request = "GET /nowhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  TlsResult missing = TlsConnect(server_->port(), p);
  ASSERT_TRUE(missing.handshake_ok);
  EXPECT_TRUE(missing.response.starts_with("HTTP/1.1 404")) << missing.response;
  EXPECT_NE(missing.response.find("Strict-Transport-Security"), std::string::npos);
}

}  // namespace
}  // namespace hygie::e2e
