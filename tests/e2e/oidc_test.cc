// End-to-end tests of access tokens from an external OpenID Connect provider: a real one
// (oidc-provider, tests/oidc/provider.mjs, run with Node.js) issues JWT access tokens signed
// with RS256, ES256 and EdDSA by client credentials and by the authorization code flow with
// PKCE; the tenant trusts it with `hygie issuer add`. Its tokens read and write; tampered,
// expired, foreign-audience, untrusted-issuer and other-tenant tokens get 401.
//
// Needs Node.js (HYGIE_NODE, else `node` on the PATH; the tests are skipped without it) and, the
// first time, the npm registry (tests/oidc/install.sh runs `npm ci`).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/jwt_forge.h"

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kOidcDir = std::string(HYGIE_SOURCE_DIR) + "/tests/oidc";
const std::string kAudience = "hygie-test";
const std::string kPatient = R"({"resourceType":"Patient","active":true})";
const std::vector<std::string> kAlgs = {"RS256", "ES256", "EdDSA"};

// ---- Child processes other than hygie ----

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The Node.js executable: the HYGIE_NODE environment variable, else the HYGIE_NODE compile
// definition, else "node" looked up on the PATH.
std::string NodeProgram() {
  if (const char* env = std::getenv("HYGIE_NODE"); env != nullptr && *env != '\0') return env;
#ifdef HYGIE_NODE
  return HYGIE_NODE;
#else
  return "node";
#endif
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// ---- The provider ----

// tests/oidc/provider.mjs as a child process on 127.0.0.1 with an ephemeral port; fresh keys.
class OidcProvider {
 public:
  OidcProvider() {
    const std::string ready = dir_.path() + "/ready.json";
    log_path_ = dir_.path() + "/provider.log";
    pid_ = SpawnProgram(
        {NodeProgram(), kOidcDir + "/provider.mjs", "--port", "0", "--ready-file", ready},
        {"OIDC_AUDIENCE=" + kAudience}, dir_.path() + "/provider.out", log_path_);
    if (pid_ < 0) {
      ADD_FAILURE() << "cannot start " << NodeProgram();
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "the OpenID provider exited at start: " << ReadFile(log_path_);
        return;
      }
      if (fs::exists(ready)) {  // written whole, then renamed
        ready_line_ = ReadFile(ready);
        rapidjson::Document doc = ParseJson(ready_line_);
        if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("port") ||
            !doc["port"].IsInt()) {
          ADD_FAILURE() << "bad ready line: " << ready_line_;
          return;
        }
        issuer_ = JsonString(doc, "issuer");
        port_ = static_cast<uint16_t>(doc["port"].GetInt());
        ready_file_ = ready;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the OpenID provider was not ready within 60 s: " << ReadFile(log_path_);
  }
  ~OidcProvider() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      Reap(pid_);
    }
  }
  OidcProvider(const OidcProvider&) = delete;
  OidcProvider& operator=(const OidcProvider&) = delete;

  bool ok() const { return port_ != 0; }
  const std::string& issuer() const { return issuer_; }
  uint16_t port() const { return port_; }

  // An access token from `node flows.mjs args...` (empty, and a test failure, on error).
  std::string Token(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {NodeProgram(), kOidcDir + "/flows.mjs"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--ready-file", ready_file_});
    CommandResult r = RunProgram(argv, {}, 180);
    std::string joined;
    for (const auto& a : args) joined += " " + a;
    EXPECT_EQ(r.exit_code, 0) << "flows.mjs" << joined << ": " << r.err;
    return r.exit_code == 0 ? FirstLine(r.out) : "";
  }
  std::string ClientCredentials(const std::string& alg) const {
    return Token({"client-credentials", "--alg", alg});
  }
  std::string Log() const { return ReadFile(log_path_); }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::string log_path_;
  std::string ready_file_;
  std::string ready_line_;
  std::string issuer_;
  uint16_t port_ = 0;
};

// ---- JWT surgery (the rest is in support/jwt_forge.h) ----

// The first `"name":` member's raw value text, e.g. `"hygie-test"` or `1796075275`.
std::string RawMember(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t pos = json.find(key);
  EXPECT_NE(pos, std::string::npos) << name << " not in " << json;
  if (pos == std::string::npos) return "";
  const size_t start = pos + key.size();
  size_t end = start;
  if (json[start] == '"') {
    end = json.find('"', start + 1) + 1;
  } else if (json[start] == '[') {
    end = json.find(']', start) + 1;
  } else {
    end = json.find_first_of(",}", start);
  }
  return json.substr(start, end - start);
}

// ---- The suite ----

// One installation for the whole suite: tenant "acme" trusts `provider_`, tenant "beta" trusts
// `other_provider_` (a second instance: another issuer URL and other keys).
class OidcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (RunProgram({NodeProgram(), "--version"}, {}, 30).exit_code != 0) {
      // scripts/install-deps.sh installs Node.js: its absence is a failure, not a reason to skip.
      setup_error_ = "Node.js not found (set HYGIE_NODE or put node on the PATH)";
      return;
    }
    CommandResult install = RunProgram({"bash", kOidcDir + "/install.sh"}, {}, 600);
    if (install.exit_code != 0) {
      setup_error_ = "tests/oidc/install.sh failed: " + install.err;
      return;
    }
    provider_ = std::make_unique<OidcProvider>();
    other_provider_ = std::make_unique<OidcProvider>();
    if (!provider_->ok() || !other_provider_->ok()) {
      setup_error_ = "an OpenID provider did not start";
      return;
    }
    inst_ = std::make_unique<Installation>();
    inst_->CreateTenant("acme");
    inst_->CreateTenant("beta");
    for (const auto& [tenant, provider] :
         {std::pair{"acme", provider_.get()}, std::pair{"beta", other_provider_.get()}}) {
      CommandResult r =
          RunHygie({"issuer", "add", "--data", inst_->data(), "--tenant", tenant, "--issuer",
                    provider->issuer(), "--audience", kAudience, "--roles-claim", "roles"});
      if (r.exit_code != 0) {
        setup_error_ = "hygie issuer add failed (" + std::to_string(r.exit_code) + "): " + r.err;
        return;
      }
    }
    admin_token_ = inst_->Token("acme");
    server_ = ServerProcess::Launch(inst_->data(), {});
    if (server_->port() == 0) {
      setup_error_ = "hygie serve did not start";
      return;
    }
    HttpClient client(server_->port());
    HttpResponse r = client.Fhir("POST", "/fhir/acme/Patient", admin_token_, kPatient);
    if (r.status != 201) {
      setup_error_ = "cannot create the fixture Patient: " + std::to_string(r.status) + r.body;
      return;
    }
    patient_id_ = JsonString(ParseJson(r.body), "id");
    patient_body_ = r.body;
  }

  static void TearDownTestSuite() {
    server_.reset();
    inst_.reset();
    provider_.reset();
    other_provider_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    client_ = std::make_unique<HttpClient>(server_->port());
    errors_before_ = ServerErrorResponses();
    total_before_ = Total();
    ASSERT_GE(total_before_, 1);
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    EXPECT_EQ(Total(), total_before_) << "a refused request wrote something";
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
    if (HasFailure()) {
      std::cerr << "---- hygie serve log ----\n"
                << server_->Log() << "\n---- OpenID provider log ----\n"
                << provider_->Log() << "\n";
    }
  }

  int64_t Total() { return HistoryTotal(*client_, admin_token_, "/fhir/acme/_history"); }

  HttpResponse Read(const std::string& token, const std::string& tenant = "acme") {
    return client_->Fhir("GET", "/fhir/" + tenant + "/Patient/" + patient_id_, token);
  }

  // The token reads the fixture Patient and creates one (which moves total_before_).
  void ExpectTokenWorks(const std::string& token, const std::string& what) {
    ASSERT_FALSE(token.empty()) << what;
    HttpResponse read = Read(token);
    EXPECT_EQ(read.status, 200) << what << "\n" << read.body;
    EXPECT_EQ(read.body, patient_body_) << what;
    HttpResponse made = client_->Fhir("POST", "/fhir/acme/Patient", token, kPatient);
    EXPECT_EQ(made.status, 201) << what << "\n" << made.body;
    EXPECT_EQ(JsonString(ParseJson(made.body), "resourceType"), "Patient") << what;
    total_before_ = Total();
  }

  void Expect401(const HttpResponse& r, const std::string& what) {
    EXPECT_EQ(r.status, 401) << what << "\n" << r.body;
    EXPECT_TRUE(IsOperationOutcome(r.body)) << what << "\n" << r.body;
    EXPECT_NE(r.Header("www-authenticate").find("Bearer"), std::string::npos) << what;
    EXPECT_EQ(r.body.find(patient_id_), std::string::npos) << what;
  }

  // Tries `token` on a read and a create in `tenant`.
  void ExpectTokenRefused(const std::string& token, const std::string& what,
                          const std::string& tenant = "acme") {
    ASSERT_FALSE(token.empty()) << what;
    Expect401(Read(token, tenant), what + " (read)");
    Expect401(client_->Fhir("POST", "/fhir/" + tenant + "/Patient", token, kPatient),
              what + " (create)");
  }

  static inline std::string setup_error_;
  static inline std::unique_ptr<OidcProvider> provider_;
  static inline std::unique_ptr<OidcProvider> other_provider_;
  static inline std::unique_ptr<Installation> inst_;
  static inline std::unique_ptr<ServerProcess> server_;
  static inline std::string admin_token_;  // hygie's own token for acme
  static inline std::string patient_id_;
  static inline std::string patient_body_;

  std::unique_ptr<HttpClient> client_;
  int64_t errors_before_ = 0;
  int64_t total_before_ = 0;
};

TEST_F(OidcTest, ClientCredentialsTokensOfEveryAlgorithmWork) {
  for (const std::string& alg : kAlgs) {
    const std::string token = provider_->ClientCredentials(alg);
    const Jwt jwt = DecodeJwt(token);
    EXPECT_NE(jwt.header.find("\"alg\":\"" + alg + "\""), std::string::npos) << jwt.header;
    EXPECT_NE(jwt.payload.find("\"iss\":\"" + provider_->issuer() + "\""), std::string::npos)
        << jwt.payload;
    ExpectTokenWorks(token, "client credentials, " + alg);
  }
}

TEST_F(OidcTest, AuthorizationCodeWithPkceTokenWorks) {
  for (const std::string alg : {"ES256", "EdDSA"}) {
    const std::string token = provider_->Token({"authorization-code", "--alg", alg});
    const Jwt jwt = DecodeJwt(token);
    EXPECT_NE(jwt.payload.find("\"client_id\":\"hygie-app\""), std::string::npos) << jwt.payload;
    EXPECT_NE(jwt.payload.find("\"sub\":\"practitioner\""), std::string::npos) << jwt.payload;
    ExpectTokenWorks(token, "authorization code, " + alg);
  }
}

TEST_F(OidcTest, TamperedTokensAreRefused) {
  for (const std::string& alg : kAlgs) {
    const std::string token = provider_->ClientCredentials(alg);
    ASSERT_EQ(Read(token).status, 200) << alg;
    const Jwt jwt = DecodeJwt(token);
    const std::string& sig = jwt.signature_b64;
    // Payload changed, signature kept.
    const std::string exp = RawMember(jwt.payload, "exp");
    ExpectTokenRefused(
        EncodeJwt(jwt.header, ReplaceOnce(jwt.payload, "\"exp\":" + exp, "\"exp\":" + exp + "0"),
                  sig),
        alg + ": exp extended");
    ExpectTokenRefused(EncodeJwt(jwt.header,
                                 ReplaceOnce(jwt.payload, "\"sub\":\"hygie-practitioner\"",
                                             "\"sub\":\"hygie-practitionex\""),
                                 sig),
                       alg + ": sub changed");
    ExpectTokenRefused(
        EncodeJwt(jwt.header, ReplaceOnce(jwt.payload, "[\"practitioner\"]", "[\"tenant-admin\"]"),
                  sig),
        alg + ": roles changed");
    ExpectTokenRefused(EncodeJwt(jwt.header, jwt.payload + " ", sig), alg + ": payload + space");
    // Signature changed.
    std::string flipped = sig;
    flipped[sig.size() / 2] = flipped[sig.size() / 2] == 'A' ? 'B' : 'A';
    ExpectTokenRefused(B64(jwt.header) + "." + B64(jwt.payload) + "." + flipped,
                       alg + ": signature changed");
    ExpectTokenRefused(B64(jwt.header) + "." + B64(jwt.payload) + ".", alg + ": no signature");
    const Jwt other = DecodeJwt(provider_->ClientCredentials(alg));
    ExpectTokenRefused(EncodeJwt(jwt.header, jwt.payload, other.signature_b64),
                       alg + ": another token's signature");
    // Header changed: alg none, and HMAC keyed with the provider's public key (alg confusion).
    ExpectTokenRefused(EncodeJwt(R"({"alg":"none","typ":"at+jwt"})", jwt.payload, ""),
                       alg + ": alg none");
    const std::string kid = JsonString(ParseJson(jwt.header), "kid");
    HttpClient jwks_client(provider_->port());
    HttpResponse jwks = jwks_client.Request("GET", "/jwks");
    ASSERT_EQ(jwks.status, 200);
    const std::string hs_header = R"({"alg":"HS256","typ":"at+jwt","kid":")" + kid + R"("})";
    const std::string input = B64(hs_header) + "." + B64(jwt.payload);
    ExpectTokenRefused(input + "." + HmacSha256B64(jwks.body, input), alg + ": HS256 with JWKS");
  }
  // The signing algorithm swapped for another one the provider uses.
  const Jwt rs = DecodeJwt(provider_->ClientCredentials("RS256"));
  ExpectTokenRefused(
      EncodeJwt(ReplaceOnce(rs.header, "RS256", "ES256"), rs.payload, rs.signature_b64),
      "RS256 token relabelled ES256");
}

TEST_F(OidcTest, ExpiredTokenIsRefused) {
  // Signed by the trusted provider, expired an hour ago.
  const std::string token = provider_->Token({"expired"});
  const Jwt jwt = DecodeJwt(token);
  const int64_t exp = std::stoll(RawMember(jwt.payload, "exp"));
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_LT(exp, now - 600) << jwt.payload;
  ExpectTokenRefused(token, "expired an hour ago");
  // Control: a current token of the same provider and client is accepted.
  EXPECT_EQ(Read(provider_->ClientCredentials("ES256")).status, 200);
}

TEST_F(OidcTest, ShortLivedTokenExpiresWhileInUse) {
  // Lives 1 s: accepted at once (so verified and possibly cached), refused once its exp and the
  // server's clock skew (60 s) have passed.
  const std::string token =
      provider_->Token({"client-credentials", "--resource", "urn:hygie-test:short"});
  EXPECT_EQ(Read(token).status, 200);
  const int64_t exp = std::stoll(RawMember(DecodeJwt(token).payload, "exp"));
  const auto expiry = std::chrono::system_clock::time_point(std::chrono::seconds(exp + 62));
  std::this_thread::sleep_until(expiry);
  ExpectTokenRefused(token, "1 s token, 62 s after its exp");
}

TEST_F(OidcTest, WrongAudienceIsRefused) {
  const std::string token =
      provider_->Token({"client-credentials", "--resource", "urn:hygie-test:other-audience"});
  EXPECT_EQ(RawMember(DecodeJwt(token).payload, "aud"), "\"hygie-other\"");
  ExpectTokenRefused(token, "audience hygie-other");
  // Control: the same provider's token for the configured audience is accepted.
  EXPECT_EQ(Read(provider_->ClientCredentials("ES256")).status, 200);
}

TEST_F(OidcTest, UntrustedIssuerIsRefused) {
  // The second provider: a valid token for the audience, but acme does not trust its issuer.
  const std::string token = other_provider_->ClientCredentials("ES256");
  ExpectTokenRefused(token, "issuer not trusted by acme");
  // Its issuer claim rewritten to the trusted one: the signature no longer holds (and its key
  // is not the trusted provider's).
  const Jwt jwt = DecodeJwt(token);
  ExpectTokenRefused(
      EncodeJwt(jwt.header,
                ReplaceOnce(jwt.payload, "\"iss\":\"" + other_provider_->issuer() + "\"",
                            "\"iss\":\"" + provider_->issuer() + "\""),
                jwt.signature_b64),
      "iss rewritten to the trusted issuer");
  // Control: beta trusts that provider, and its token works there.
  HttpResponse made = client_->Fhir("POST", "/fhir/beta/Patient", token, kPatient);
  EXPECT_EQ(made.status, 201) << made.body;
}

TEST_F(OidcTest, TrustedTokenIsRefusedInAnotherTenant) {
  for (const std::string& alg : kAlgs) {
    const std::string token = provider_->ClientCredentials(alg);
    ASSERT_EQ(Read(token).status, 200) << alg;
    ExpectTokenRefused(token, alg + " token of acme's issuer, in beta", "beta");
  }
  ExpectTokenRefused(provider_->Token({"authorization-code"}), "authorization code, in beta",
                     "beta");
}

TEST_F(OidcTest, PatientClaimLimitsTheToken) {
  // The hygie-patient client's tokens carry "patient": "p-1" and patient/*.rs.
  for (const std::string id : {"p-1", "p-2"}) {
    HttpResponse r = client_->Fhir("PUT", "/fhir/acme/Patient/" + id, admin_token_,
                                   R"({"resourceType":"Patient","id":")" + id + R"("})");
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r.status << " " << r.body;
  }
  total_before_ = Total();
  const std::string token = provider_->Token({"client-credentials", "--client", "hygie-patient"});
  EXPECT_NE(DecodeJwt(token).payload.find("\"patient\":\"p-1\""), std::string::npos);
  HttpResponse own = client_->Fhir("GET", "/fhir/acme/Patient/p-1", token);
  EXPECT_EQ(own.status, 200) << own.body;
  HttpResponse other = client_->Fhir("GET", "/fhir/acme/Patient/p-2", token);
  EXPECT_TRUE(other.status == 403 || other.status == 404)
      << "patient token for p-1 read Patient/p-2: " << other.status << " " << other.body;
  HttpResponse write = client_->Fhir("POST", "/fhir/acme/Patient", token, kPatient);
  EXPECT_EQ(write.status, 403) << "patient/*.rs created a Patient: " << write.body;
}

TEST_F(OidcTest, AdminApiMakesATenantTrustAnIssuerAtOnce) {
  inst_->CreateTenant("gamma");
  const std::string token = provider_->ClientCredentials("ES256");
  auto create = [&] { return client_->Fhir("POST", "/fhir/gamma/Patient", token, kPatient); };
  Expect401(create(), "before gamma trusts the issuer");
  const std::string body = R"({"issuer":")" + provider_->issuer() + R"(","audience":")" +
                           kAudience + R"(","roles_claim":"roles"})";
  const std::string admin = inst_->Token("gamma", "user/*.rs", "1h", {"--role", "tenant-admin"});
  const std::string admin_mfa =
      inst_->Token("gamma", "user/*.rs", "1h", {"--role", "tenant-admin", "--amr", "mfa"});
  const std::string practitioner_mfa =
      inst_->Token("gamma", "user/*.rs", "1h", {"--role", "practitioner", "--amr", "mfa"});
  HttpResponse no_mfa = client_->Fhir("POST", "/admin/issuers/gamma", admin, body);
  EXPECT_EQ(no_mfa.status, 403) << no_mfa.body;
  EXPECT_NE(no_mfa.body.find("HYGIE-ADMIN-SECOND-FACTOR"), std::string::npos) << no_mfa.body;
  EXPECT_EQ(client_->Fhir("POST", "/admin/issuers/gamma", practitioner_mfa, body).status, 403);
  EXPECT_EQ(client_->Fhir("POST", "/admin/issuers/gamma", admin_token_, body).status, 403)
      << "acme's token for gamma's admin API";
  Expect401(create(), "after refused admin calls");

  HttpResponse added = client_->Fhir("POST", "/admin/issuers/gamma", admin_mfa, body);
  ASSERT_EQ(added.status, 201) << added.body;
  HttpResponse made = create();
  EXPECT_EQ(made.status, 201) << "the verifier trusts the issuer as soon as it is added\n"
                              << made.body;
  HttpResponse listed = client_->Fhir("GET", "/admin/issuers/gamma", admin_mfa);
  EXPECT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find(provider_->issuer()), std::string::npos) << listed.body;

  HttpResponse removed =
      client_->Fhir("DELETE", "/admin/issuers/gamma?issuer=" + provider_->issuer(), admin_mfa);
  EXPECT_EQ(removed.status, 200) << removed.body;
  Expect401(create(), "after gamma stopped trusting the issuer");
}

}  // namespace
}  // namespace hygie::e2e
