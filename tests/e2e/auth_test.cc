// End-to-end tests of authentication and authorization: every way of presenting a bad token
// gets 401, scopes limit what a good token does (403), and refusals write nothing.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "auth/token.h"
#include "cli/installation.h"
#include "core/clock.h"
#include "support/harness.h"
#include "support/jwt_forge.h"

namespace hygie::e2e {
namespace {

const std::string kPatient = R"({"resourceType":"Patient","active":true})";

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    errors_before_ = ServerErrorResponses();
    dep_.inst().CreateTenant("beta");
    HttpResponse r = client_.Fhir("POST", dep_.Base() + "/Patient", dep_.token(), kPatient);
    ASSERT_EQ(r.status, 201);
    patient_id_ = JsonString(ParseJson(r.body), "id");
    patient_body_ = r.body;
    total_before_ = Total();
  }
  void TearDown() override {
    EXPECT_EQ(Total(), total_before_) << "a refused request wrote something";
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
  }
  int64_t Total() { return HistoryTotal(client_, dep_.token(), dep_.Base() + "/_history"); }

  // GET of the known patient with `authorization` as the header value ("" = no header).
  HttpResponse ReadWith(const std::string& authorization, const std::string& tenant = "acme") {
    std::map<std::string, std::string> headers;
    if (!authorization.empty()) headers["Authorization"] = authorization;
    return client_.Request("GET", "/fhir/" + tenant + "/Patient/" + patient_id_, "", headers);
  }

  void Expect401(const HttpResponse& r, const std::string& what) {
    EXPECT_EQ(r.status, 401) << what << "\n" << r.body;
    EXPECT_TRUE(IsOperationOutcome(r.body)) << what;
    EXPECT_NE(r.Header("www-authenticate").find("Bearer"), std::string::npos) << what;
    EXPECT_EQ(r.body.find(patient_id_), std::string::npos) << what;
  }
  // Tries `token` on a read and a create.
  void ExpectTokenRefused(const std::string& token, const std::string& what,
                          const std::string& tenant = "acme") {
    Expect401(ReadWith("Bearer " + token, tenant), what + " (read)");
    Expect401(client_.Fhir("POST", "/fhir/" + tenant + "/Patient", token, kPatient),
              what + " (create)");
  }

  Deployment dep_;
  HttpClient client_{dep_.port()};
  std::string patient_id_;
  std::string patient_body_;
  int64_t errors_before_ = 0;
  int64_t total_before_ = 0;
};

TEST_F(AuthTest, ValidTokenWorks) {
  HttpResponse r = ReadWith("Bearer " + dep_.token());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, patient_body_);
}

TEST_F(AuthTest, MissingOrMalformedAuthorization) {
  const std::string& tok = dep_.token();
  Expect401(ReadWith(""), "no header");
  Expect401(ReadWith("Basic x"), "Basic x");
  Expect401(ReadWith("Basic YWRtaW46YWRtaW4="), "Basic admin:admin");
  Expect401(ReadWith("Bearer"), "Bearer alone");
  Expect401(ReadWith("Bearer "), "Bearer and a space");
  Expect401(ReadWith("Bearer garbage"), "garbage");
  Expect401(ReadWith("Bearer a.b.c"), "a.b.c");
  Expect401(ReadWith("Bearer ..."), "dots");
  Expect401(ReadWith("Bearer " + tok + " extra"), "token and more");
  Expect401(ReadWith("Bearer " + tok + "."), "extra segment");
  Expect401(ReadWith("Bearer  " + tok), "two spaces");
  Expect401(ReadWith("Token " + tok), "Token scheme");
  Expect401(ReadWith(tok), "no scheme");
  Expect401(ReadWith("Bearer " + std::string(10000, 'a')), "10 KB token");
  Expect401(ReadWith("Bearer " + tok + std::string(9000, 'a')), "valid token, 9 KB appended");
  // Over the header limit: refused by the HTTP layer.
  std::string huge = RawExchange(dep_.port(), "GET " + dep_.Base() + "/Patient/" + patient_id_ +
                                                  " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                                  std::string(100000, 'a') + "\r\n\r\n");
  EXPECT_TRUE(huge.starts_with("HTTP/1.1 431")) << huge.substr(0, 100);
  Expect401(ReadWith("Bearer " + tok.substr(0, tok.size() - 1)), "truncated");
  // The token in the URL is not a way in (secrets never in URLs).
  Expect401(
      client_.Request("GET", dep_.Base() + "/Patient/" + patient_id_ + "?access_token=" + tok),
      "access_token query parameter");
  // Writes are refused the same way.
  Expect401(client_.Request("POST", dep_.Base() + "/Patient", kPatient), "create, no header");
  Expect401(client_.Request("DELETE", dep_.Base() + "/Patient/" + patient_id_, "",
                            {{"Authorization", "Basic x"}}),
            "delete, Basic");
  // The lower-case scheme is the same scheme (RFC 7235).
  EXPECT_EQ(ReadWith("bearer " + tok).status, 200);
}

TEST_F(AuthTest, TamperedTokensAreRefused) {
  dep_.inst().CreateTenant("gamma");
  const std::string tok = dep_.inst().Token("acme", "user/Patient.r");
  ASSERT_EQ(ReadWith("Bearer " + tok).status, 200);
  Jwt jwt = DecodeJwt(tok);
  ASSERT_NE(jwt.payload.find("\"tenant\":\"acme\""), std::string::npos) << jwt.payload;

  const std::string other_tenant =
      ReplaceOnce(jwt.payload, "\"tenant\":\"acme\"", "\"tenant\":\"beta\"");
  ExpectTokenRefused(EncodeJwt(jwt.header, other_tenant, jwt.signature_b64), "tenant changed",
                     "beta");
  const std::string wider =
      ReplaceOnce(jwt.payload, "\"scope\":\"user/Patient.r\"", "\"scope\":\"user/*.cruds\"");
  ExpectTokenRefused(EncodeJwt(jwt.header, wider, jwt.signature_b64), "scope changed");
  const std::string duplicate =
      ReplaceOnce(jwt.payload, "\"tenant\":\"acme\"", "\"tenant\":\"acme\",\"tenant\":\"beta\"");
  ExpectTokenRefused(EncodeJwt(jwt.header, duplicate, jwt.signature_b64), "duplicate tenant",
                     "beta");
  const std::string later = ReplaceOnce(jwt.payload, "\"exp\":", "\"exp\":1");
  ExpectTokenRefused(EncodeJwt(jwt.header, later, jwt.signature_b64), "exp changed");
  // Same JSON, but re-encoded: any byte change breaks the signature.
  ExpectTokenRefused(EncodeJwt(jwt.header, jwt.payload + " ", jwt.signature_b64),
                     "payload + space");
  ExpectTokenRefused(EncodeJwt(jwt.header + " ", jwt.payload, jwt.signature_b64), "header + space");
  // Header tampering.
  ExpectTokenRefused(
      EncodeJwt(ReplaceOnce(jwt.header, "ES256", "ES384"), jwt.payload, jwt.signature_b64),
      "alg ES384");
  ExpectTokenRefused(EncodeJwt(ReplaceOnce(jwt.header, "\"kid\":\"", "\"kid\":\"x"), jwt.payload,
                               jwt.signature_b64),
                     "kid changed");
  // Signature tampering.
  std::string flipped = jwt.signature_b64;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  ExpectTokenRefused(B64(jwt.header) + "." + B64(jwt.payload) + "." + flipped, "signature bit");
  ExpectTokenRefused(B64(jwt.header) + "." + B64(jwt.payload) + ".", "empty signature");
  ExpectTokenRefused(B64(jwt.header) + "." + B64(jwt.payload), "two segments");
  const std::string beta_tok = dep_.inst().Token("beta", "user/*.cruds");
  ExpectTokenRefused(
      B64(jwt.header) + "." + B64(other_tenant) + "." + DecodeJwt(beta_tok).signature_b64,
      "signature of another token", "beta");
  // The standard base64 alphabet with padding is not the token's encoding.
  std::string padded = tok.substr(0, tok.find('.')) + "=" + tok.substr(tok.find('.'));
  ExpectTokenRefused(padded, "padded header");
}

TEST_F(AuthTest, AlgNoneIsRefused) {
  Jwt jwt = DecodeJwt(dep_.token());
  for (const std::string alg : {"none", "None", "NONE", "nOnE", ""}) {
    const std::string header = R"({"alg":")" + alg + R"(","typ":"JWT"})";
    ExpectTokenRefused(EncodeJwt(header, jwt.payload, ""), "alg " + alg + ", empty signature");
    ExpectTokenRefused(EncodeJwt(header, jwt.payload, jwt.signature_b64),
                       "alg " + alg + ", original signature");
  }
  ExpectTokenRefused(EncodeJwt(R"({"typ":"JWT"})", jwt.payload, ""), "no alg");
  ExpectTokenRefused(EncodeJwt(R"({"alg":"ES256","alg":"none"})", jwt.payload, jwt.signature_b64),
                     "duplicate alg");
}

TEST_F(AuthTest, HmacAlgorithmsAreRefused) {
  Jwt jwt = DecodeJwt(dep_.token());
  rapidjson::Document h = ParseJson(jwt.header);
  const std::string kid = JsonString(h, "kid");
  // The classic confusion attack: HMAC keyed with the verifier's public key.
  auto inst = cli::OpenInstallation(dep_.data(), "");
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  auto key = inst->IssuerKey();
  ASSERT_TRUE(key.ok());
  auto pem = key->Public().Pem();
  ASSERT_TRUE(pem.ok());
  const std::vector<std::string> secrets = {"secret", "", *pem, key->Public().JwkJson(), kid};
  for (const std::string alg : {"HS256", "HS384", "HS512", "hs256"}) {
    for (size_t i = 0; i < secrets.size(); ++i) {
      const std::string header =
          R"({"alg":")" + alg + R"(","typ":"at+jwt","kid":")" + kid + R"("})";
      const std::string signing_input = B64(header) + "." + B64(jwt.payload);
      ExpectTokenRefused(signing_input + "." + HmacSha256B64(secrets[i], signing_input),
                         alg + " with secret #" + std::to_string(i));
    }
  }
}

TEST_F(AuthTest, TokensFromElsewhereAreRefused) {
  // Another installation, same tenant name and scopes.
  Installation other;
  other.CreateTenant("acme");
  ExpectTokenRefused(other.Token("acme"), "other installation");
  // Right key, wrong issuer or audience.
  LibTokenOptions o;
  o.tenant = "acme";
  o.issuer = "urn:hygie:issuer:someone-else";
  ExpectTokenRefused(LibToken(dep_.data(), o), "wrong issuer");
  o.issuer.clear();
  o.audience = "urn:hygie:fhir:someone-else";
  ExpectTokenRefused(LibToken(dep_.data(), o), "wrong audience");
  // The other installation's key with this installation's issuer and audience.
  auto mine = cli::OpenInstallation(dep_.data(), "");
  ASSERT_TRUE(mine.ok());
  auto other_inst = cli::OpenInstallation(other.data(), "");
  ASSERT_TRUE(other_inst.ok());
  auto other_key = other_inst->IssuerKey();
  ASSERT_TRUE(other_key.ok());
  auth::TokenIssuer forger(std::move(other_key).value(), mine->issuer, mine->audience,
                           SystemClock::Get());
  auth::Claims claims;
  claims.subject = "forger";
  claims.tenant = "acme";
  claims.scope = "user/*.cruds";
  auto forged = forger.Issue(claims, 3600);
  ASSERT_TRUE(forged.ok());
  ExpectTokenRefused(*forged, "right issuer and audience, foreign key");
}

TEST_F(AuthTest, ExpiredAndFutureTokensAreRefused) {
  LibTokenOptions o;
  o.tenant = "acme";
  o.clock_offset_seconds = -2 * 3600;
  o.ttl_seconds = 60;
  ExpectTokenRefused(LibToken(dep_.data(), o), "expired two hours ago");
  o.clock_offset_seconds = -10 * 60;
  ExpectTokenRefused(LibToken(dep_.data(), o), "expired nine minutes ago");
  o.clock_offset_seconds = 2 * 3600;
  o.ttl_seconds = 3600;
  ExpectTokenRefused(LibToken(dep_.data(), o), "issued two hours in the future");
  // Control: the same path with a current clock is accepted.
  o.clock_offset_seconds = 0;
  EXPECT_EQ(ReadWith("Bearer " + LibToken(dep_.data(), o)).status, 200);
}

TEST_F(AuthTest, ScopesLimitInteractions) {
  const std::string base = dep_.Base();
  const std::string obs = R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})";
  HttpResponse o = client_.Fhir("POST", base + "/Observation", dep_.token(), obs);
  ASSERT_EQ(o.status, 201);
  const std::string obs_id = JsonString(ParseJson(o.body), "id");
  total_before_ = Total();
  const std::string put_body =
      R"({"resourceType":"Patient","id":")" + patient_id_ + R"(","active":false})";

  auto expect403 = [&](const HttpResponse& r, const std::string& what) {
    EXPECT_EQ(r.status, 403) << what << "\n" << r.body;
    EXPECT_TRUE(IsOperationOutcome(r.body)) << what;
    EXPECT_EQ(r.body.find("\"active\""), std::string::npos) << what << ": no data";
  };

  const std::string r_only = dep_.inst().Token("acme", "user/Patient.r");
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + patient_id_, r_only).status, 200);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + patient_id_ + "/_history/1", r_only).status,
            200);
  expect403(client_.Fhir("POST", base + "/Patient", r_only, kPatient), "r: create Patient");
  expect403(client_.Fhir("GET", base + "/Observation/" + obs_id, r_only), "r: read Observation");
  expect403(client_.Fhir("PUT", base + "/Patient/" + patient_id_, r_only, put_body),
            "r: update Patient");
  expect403(client_.Fhir("DELETE", base + "/Patient/" + patient_id_, r_only), "r: delete");
  expect403(client_.Fhir("GET", base + "/Patient/_history", r_only), "r: type history");
  expect403(client_.Fhir("GET", base + "/_history", r_only), "r: system history");

  const std::string rs = dep_.inst().Token("acme", "user/Patient.rs");
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + patient_id_, rs).status, 200);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/_history", rs).status, 200);
  expect403(client_.Fhir("PUT", base + "/Patient/" + patient_id_, rs, put_body), "rs: update");
  expect403(client_.Fhir("GET", base + "/_history", rs), "rs: system history");
  expect403(client_.Fhir("GET", base + "/Observation/_history", rs), "rs: Observation history");

  // Update may not create without the create permission.
  const std::string ru = dep_.inst().Token("acme", "user/Patient.ru");
  expect403(client_.Fhir("PUT", base + "/Patient/brand-new", ru,
                         R"({"resourceType":"Patient","id":"brand-new"})"),
            "ru: update as create");
  EXPECT_EQ(Total(), total_before_);
  HttpResponse upd = client_.Fhir("PUT", base + "/Patient/" + patient_id_, ru, put_body);
  EXPECT_EQ(upd.status, 200) << upd.body;

  // Create-only: may write, may not read back.
  const std::string c_only = dep_.inst().Token("acme", "user/Observation.c");
  HttpResponse made = client_.Fhir("POST", base + "/Observation", c_only, obs);
  EXPECT_EQ(made.status, 201);
  expect403(client_.Fhir("GET", PathOfUrl(made.Header("location")), c_only), "c: vread");
  expect403(client_.Fhir("GET", base + "/Patient/" + patient_id_, c_only), "c: other type");
  // v1 scopes.
  const std::string v1 = dep_.inst().Token("acme", "user/Patient.read");
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + patient_id_, v1).status, 200);
  expect403(client_.Fhir("POST", base + "/Patient", v1, kPatient), "v1 read: create");
  total_before_ = Total();
}

TEST_F(AuthTest, PatientScopesDoNotReachOtherPatients) {
  // A patient-context token (SMART "patient/" scopes) for patient p-1 must not read another
  // patient's record: either the compartment is enforced, or such scopes grant nothing.
  const std::string base = dep_.Base();
  for (const std::string id : {"p-1", "p-2"}) {
    ASSERT_EQ(client_
                  .Fhir("PUT", base + "/Patient/" + id, dep_.token(),
                        R"({"resourceType":"Patient","id":")" + id + R"("})")
                  .status,
              201);
  }
  total_before_ = Total();
  CommandResult r = RunHygie({"token", "issue", "--data", dep_.data(), "--tenant", "acme",
                              "--scope", "patient/Patient.rs", "--patient", "p-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string tok = r.out.substr(0, r.out.find('\n'));
  HttpResponse other = client_.Fhir("GET", base + "/Patient/p-2", tok);
  EXPECT_TRUE(other.status == 403 || other.status == 404)
      << "patient/ token for p-1 read Patient/p-2: " << other.status << " " << other.body;
  HttpResponse all = client_.Fhir("GET", base + "/Patient/_history", tok);
  EXPECT_NE(all.status, 200) << "patient/ token for p-1 read every Patient's history";
}

}  // namespace
}  // namespace hygie::e2e
