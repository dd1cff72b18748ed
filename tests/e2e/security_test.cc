// End-to-end security tests: no health data in clear at rest (canaries), the tenant wall, and
// ciphertexts moved between rows or tenants fail their integrity check instead of answering
// with someone else's data.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "support/harness.h"

namespace hygie::e2e {
namespace {

// Forms in which a canary could leak: as is, upper/lower case, UTF-16 (both byte orders),
// hex, and base64 at each of the three alignments (the part independent of neighbours).
std::vector<std::pair<std::string, std::string>> LeakForms(const std::string& canary) {
  std::vector<std::pair<std::string, std::string>> forms;
  forms.emplace_back("plain", canary);
  std::string lower = canary, upper = canary;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  forms.emplace_back("lower", lower);
  forms.emplace_back("upper", upper);
  std::string le, be;
  for (char c : canary) {
    le += c;
    le += '\0';
    be += '\0';
    be += c;
  }
  forms.emplace_back("utf16le", le);
  forms.emplace_back("utf16be", be);
  forms.emplace_back("hex", HexEncode(AsBytes(canary)));
  for (int shift = 0; shift < 3; ++shift) {
    std::string data = std::string(static_cast<size_t>(shift), 'x') + canary;
    std::string b64 = crypto::Base64Encode(AsBytes(data));
    // Drop the first group (mixes the prefix) when shifted and the last group (padding).
    size_t start = shift == 0 ? 0 : 4;
    std::string core = b64.substr(start, b64.size() - start - 4);
    forms.emplace_back("base64+" + std::to_string(shift), core);
    std::string url = core;
    std::replace(url.begin(), url.end(), '+', '-');
    std::replace(url.begin(), url.end(), '/', '_');
    forms.emplace_back("base64url+" + std::to_string(shift), url);
  }
  return forms;
}

TEST(SecurityTest, CanariesNeverReachTheDisk) {
  const int64_t errors_before = ServerErrorResponses();
  Deployment dep;
  HttpClient c(dep.port());
  const std::string base = dep.Base();
  const std::string& tok = dep.token();
  const std::string r = RandomToken(12);
  const std::string name = "CANARY-" + r + "-NAME";
  std::string digits;
  for (char ch : RandomToken(40)) {
    if (std::isdigit(static_cast<unsigned char>(ch)) && digits.size() < 8) digits += ch;
  }
  while (digits.size() < 8) digits += '7';
  const std::string phone = "+33 6 " + digits.substr(0, 2) + " " + digits.substr(2, 2) + " " +
                            digits.substr(4, 2) + " " + digits.substr(6, 2);
  const std::string note = "CANARY-" + r + "-NOTE patient reports chest pain";
  const std::string ident = "CANARY-" + r + "-IDENT";  // only in a client-chosen field
  const std::string updated = "CANARY-" + r + "-UPDATED";
  const std::string refused = "CANARY-" + r + "-REFUSED";
  const std::string big = "CANARY-" + r + "-BIG";
  const std::vector<std::string> canaries = {name, phone, note, ident, updated, refused, big};

  std::vector<std::string> patients, observations, conditions;
  for (int i = 0; i < 8; ++i) {
    std::string body = R"({"resourceType":"Patient","identifier":[{"system":"urn:test","value":")" +
                       ident + R"("}],"name":[{"family":")" + name + R"(","given":["Ana"]}],)" +
                       R"("telecom":[{"system":"phone","value":")" + phone + R"("}]})";
    HttpResponse res = c.Fhir("POST", base + "/Patient", tok, body);
    ASSERT_EQ(res.status, 201) << res.body;
    patients.push_back(JsonString(ParseJson(res.body), "id"));
  }
  for (int i = 0; i < 8; ++i) {
    // Some small (stored raw), some large (stored compressed).
    std::string padding = i % 2 == 0 ? "" : std::string(600, 'p');
    std::string body = R"({"resourceType":"Observation","status":"final","code":{"text":"note"},)"
                       R"("subject":{"reference":"Patient/)" +
                       patients[static_cast<size_t>(i)] + R"("},"valueString":")" + note + padding +
                       R"(","note":[{"text":")" + note + R"("}]})";
    HttpResponse res = c.Fhir("POST", base + "/Observation", tok, body);
    ASSERT_EQ(res.status, 201) << res.body;
    observations.push_back(JsonString(ParseJson(res.body), "id"));
  }
  for (int i = 0; i < 4; ++i) {
    std::string body = R"({"resourceType":"Condition","subject":{"reference":"Patient/)" +
                       patients[0] + R"("},"note":[{"text":")" + note + R"("}]})";
    HttpResponse res = c.Fhir("POST", base + "/Condition", tok, body);
    ASSERT_EQ(res.status, 201) << res.body;
    conditions.push_back(JsonString(ParseJson(res.body), "id"));
  }
  // A large body that compresses very well: the canary repeated.
  std::string many;
  for (int i = 0; i < 500; ++i) many += big + " ";
  HttpResponse big_res = c.Fhir("POST", base + "/Observation", tok,
                                R"({"resourceType":"Observation","status":"final",)"
                                R"("code":{"text":"big"},"valueString":")" +
                                    many + R"("})");
  ASSERT_EQ(big_res.status, 201);
  // Updates, a delete, reads, history.
  for (size_t i = 0; i < 4; ++i) {
    HttpResponse res = c.Fhir(
        "PUT", base + "/Patient/" + patients[i], tok,
        R"({"resourceType":"Patient","id":")" + patients[i] + R"(","name":[{"family":")" + updated +
            R"("}],"telecom":[{"system":"phone",)" + R"("value":")" + phone + R"("}]})");
    ASSERT_EQ(res.status, 200) << res.body;
  }
  ASSERT_EQ(c.Fhir("DELETE", base + "/Condition/" + conditions[0], tok).status, 204);
  for (const auto& id : patients)
    ASSERT_EQ(c.Fhir("GET", base + "/Patient/" + id, tok).status, 200);
  HttpResponse hist = c.Fhir("GET", base + "/_history", tok);
  ASSERT_EQ(hist.status, 200);
  ASSERT_NE(hist.body.find(name), std::string::npos) << "the API does return the data";
  // A refused write carrying a canary.
  EXPECT_EQ(c.Fhir("POST", base + "/Patient", tok,
                   R"({"resourceType":"Patient","name":[{"family":")" + refused + R"("}],)")
                .status,
            400);
  EXPECT_EQ(
      c.Fhir("PUT", base + "/Patient/" + patients[0], tok,
             R"({"resourceType":"Patient","id":"other","name":[{"family":")" + refused + R"("}]})")
          .status,
      400);

  ASSERT_EQ(dep.server().Stop(), 0);
  const std::string log = dep.server().Log();
  size_t checked = 0;
  for (const auto& canary : canaries) {
    for (const auto& [form, needle] : LeakForms(canary)) {
      std::vector<std::string> hits = FilesContaining(dep.data(), needle);
      EXPECT_TRUE(hits.empty()) << "canary '" << canary << "' (" << form << ") found in "
                                << hits.front();
      EXPECT_EQ(log.find(needle), std::string::npos)
          << "canary '" << canary << "' (" << form << ") in the server log";
      ++checked;
    }
  }
  // Control: the search does find what is there (the tenant's data file exists and is not
  // empty), so an empty result above means something.
  EXPECT_FALSE(FilesContaining(dep.data(), "resource_version").empty());
  EXPECT_FALSE(FilesContaining(dep.data(), patients[0]).empty()) << "ids are stored in clear";
  std::cout << "[ canary ] " << canaries.size() << " canaries, " << checked
            << " encodings checked, 0 found\n";
  EXPECT_EQ(ServerErrorResponses(), errors_before);
}

class TenantWallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    errors_before_ = ServerErrorResponses();
    dep_.inst().CreateTenant("beta");
    beta_token_ = dep_.inst().Token("beta");
  }
  void TearDown() override { EXPECT_EQ(ServerErrorResponses(), errors_before_); }

  Deployment dep_;  // tenant "acme"
  HttpClient client_{dep_.port()};
  std::string beta_token_;
  int64_t errors_before_ = 0;
};

// The same answer, ignoring headers that differ per request.
void ExpectSameAnswer(const HttpResponse& a, const HttpResponse& b, const std::string& what) {
  EXPECT_EQ(a.status, b.status) << what;
  EXPECT_EQ(a.body, b.body) << what;
  for (const char* h : {"etag", "last-modified", "location", "content-location"}) {
    EXPECT_EQ(a.Header(h), b.Header(h)) << what << " header " << h;
  }
}

TEST_F(TenantWallTest, AnotherTenantsTokenLearnsNothing) {
  const std::string secret = "WALL-" + RandomToken(10);
  const std::string a = dep_.Base();
  HttpResponse created =
      client_.Fhir("POST", a + "/Patient", dep_.token(),
                   R"({"resourceType":"Patient","name":[{"family":")" + secret + R"("}]})");
  ASSERT_EQ(created.status, 201);
  const std::string id = JsonString(ParseJson(created.body), "id");
  ASSERT_EQ(client_
                .Fhir("PUT", a + "/Patient/known-id", dep_.token(),
                      R"({"resourceType":"Patient","id":"known-id","name":[{"family":")" + secret +
                          R"("}]})")
                .status,
            201);
  const int64_t total = HistoryTotal(client_, dep_.token(), a + "/_history");

  const std::string put_existing =
      R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":"Evil"}]})";
  const std::string put_missing =
      R"({"resourceType":"Patient","id":"missing-id","name":[{"family":"Evil"}]})";
  struct Probe {
    std::string what, method, existing, missing, body_existing, body_missing;
  };
  const std::vector<Probe> probes = {
      {"read", "GET", a + "/Patient/" + id, a + "/Patient/missing-id", "", ""},
      {"read client id", "GET", a + "/Patient/known-id", a + "/Patient/missing-id", "", ""},
      {"vread", "GET", a + "/Patient/" + id + "/_history/1", a + "/Patient/missing-id/_history/1",
       "", ""},
      {"instance history", "GET", a + "/Patient/" + id + "/_history",
       a + "/Patient/missing-id/_history", "", ""},
      {"update", "PUT", a + "/Patient/" + id, a + "/Patient/missing-id", put_existing, put_missing},
      {"delete", "DELETE", a + "/Patient/" + id, a + "/Patient/missing-id", "", ""},
      {"delete client id", "DELETE", a + "/Patient/known-id", a + "/Patient/missing-id", "", ""},
  };
  for (const auto& p : probes) {
    HttpResponse on_existing = client_.Fhir(p.method, p.existing, beta_token_, p.body_existing);
    HttpResponse on_missing = client_.Fhir(p.method, p.missing, beta_token_, p.body_missing);
    ExpectSameAnswer(on_existing, on_missing, p.what);
    EXPECT_GE(on_existing.status, 400) << p.what;
    EXPECT_LT(on_existing.status, 500) << p.what;
    EXPECT_TRUE(IsOperationOutcome(on_existing.body)) << p.what;
    EXPECT_EQ(on_existing.body.find(secret), std::string::npos) << p.what;
    EXPECT_EQ(on_existing.body.find(id), std::string::npos) << p.what;
  }
  for (const std::string& path : {a + "/_history", a + "/Patient/_history"}) {
    HttpResponse h = client_.Fhir("GET", path, beta_token_);
    EXPECT_EQ(h.status, 403) << path;
    EXPECT_EQ(h.body.find(secret), std::string::npos);
  }
  // Creating in a's namespace with b's token.
  EXPECT_EQ(
      client_.Fhir("POST", a + "/Patient", beta_token_, R"({"resourceType":"Patient"})").status,
      403);

  // In b's own namespace a's ids do not exist: the same answer as any missing id.
  const std::string b = "/fhir/beta";
  ExpectSameAnswer(client_.Fhir("GET", b + "/Patient/" + id, beta_token_),
                   client_.Fhir("GET", b + "/Patient/missing-id", beta_token_), "b read a's id");
  EXPECT_EQ(client_.Fhir("GET", b + "/Patient/" + id, beta_token_).status, 404);
  EXPECT_EQ(HistoryTotal(client_, beta_token_, b + "/_history"), 0);

  // a's data is unchanged.
  HttpResponse after = client_.Fhir("GET", a + "/Patient/" + id, dep_.token());
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, created.body);
  EXPECT_EQ(after.Header("etag"), "W/\"1\"");
  EXPECT_EQ(client_.Fhir("GET", a + "/Patient/known-id", dep_.token()).status, 200);
  EXPECT_EQ(HistoryTotal(client_, dep_.token(), a + "/_history"), total);
  EXPECT_EQ(client_.Fhir("GET", a + "/Patient/missing-id", dep_.token()).status, 404);
}

TEST_F(TenantWallTest, SameIdInTwoTenantsStaysApart) {
  for (const auto& [tenant, token] : std::vector<std::pair<std::string, std::string>>{
           {"acme", dep_.token()}, {"beta", beta_token_}}) {
    HttpResponse r = client_.Fhir("PUT", "/fhir/" + tenant + "/Patient/same-id", token,
                                  R"({"resourceType":"Patient","id":"same-id","name":[)"
                                  R"({"family":"OWNER-)" +
                                      tenant + R"("}]})");
    ASSERT_EQ(r.status, 201) << tenant;
  }
  HttpResponse ra = client_.Fhir("GET", "/fhir/acme/Patient/same-id", dep_.token());
  HttpResponse rb = client_.Fhir("GET", "/fhir/beta/Patient/same-id", beta_token_);
  EXPECT_NE(ra.body.find("OWNER-acme"), std::string::npos);
  EXPECT_EQ(ra.body.find("OWNER-beta"), std::string::npos);
  EXPECT_NE(rb.body.find("OWNER-beta"), std::string::npos);
  EXPECT_EQ(rb.body.find("OWNER-acme"), std::string::npos);
  // Deleting in one leaves the other.
  EXPECT_EQ(client_.Fhir("DELETE", "/fhir/beta/Patient/same-id", beta_token_).status, 204);
  EXPECT_EQ(client_.Fhir("GET", "/fhir/acme/Patient/same-id", dep_.token()).status, 200);
  // Each tenant's history holds only its own.
  HttpResponse ha = client_.Fhir("GET", "/fhir/acme/_history", dep_.token());
  EXPECT_EQ(ha.body.find("OWNER-beta"), std::string::npos);
}

class MovedCiphertextTest : public ::testing::Test {
 protected:
  std::string Db(const std::string& tenant) {
    return dep_.data() + "/tenants/" + tenant + "/data.db";
  }
  std::string Create(HttpClient& c, const std::string& family) {
    HttpResponse r =
        c.Fhir("POST", dep_.Base() + "/Patient", dep_.token(),
               R"({"resourceType":"Patient","name":[{"family":")" + family + R"("}]})");
    EXPECT_EQ(r.status, 201);
    return JsonString(ParseJson(r.body), "id");
  }
  // Body (and key id) of one row.
  std::pair<std::string, std::string> Row(const std::string& tenant, const std::string& id,
                                          int version) {
    SqlResult q = Sql(Db(tenant),
                      "SELECT body, key_id FROM resource_version WHERE type='Patient'"
                      " AND id='" +
                          id + "' AND version=" + std::to_string(version));
    EXPECT_TRUE(q.ok) << q.error;
    EXPECT_EQ(q.rows.size(), 1u);
    if (q.rows.size() != 1) return {};
    return {q.rows[0][0], q.rows[0][1]};
  }
  void SetBody(const std::string& tenant, const std::string& id, int version,
               const std::string& body, const std::string& key_id = "") {
    std::string sql = "UPDATE resource_version SET body=?" +
                      (key_id.empty() ? std::string() : ", key_id=" + key_id) +
                      " WHERE type='Patient' AND id='" + id +
                      "' AND version=" + std::to_string(version);
    SqlResult q = Sql(Db(tenant), sql, {body});
    ASSERT_TRUE(q.ok) << q.error;
  }
  // A read that must fail its integrity check: 5xx OperationOutcome, none of `forbidden`.
  void ExpectIntegrityFailure(const HttpResponse& r, const std::vector<std::string>& forbidden,
                              const std::string& what) {
    EXPECT_GE(r.status, 500) << what << ": " << r.body;
    EXPECT_LT(r.status, 600) << what;
    EXPECT_TRUE(IsOperationOutcome(r.body)) << what << ": " << r.body;
    for (const auto& f : forbidden) {
      EXPECT_EQ(r.body.find(f), std::string::npos) << what << " leaked " << f;
    }
  }

  Deployment dep_;
};

TEST_F(MovedCiphertextTest, SwappedRowsFailInsteadOfAnsweringWithTheOtherResource) {
  const std::string x = "SWAP-" + RandomToken(8);
  std::string id_a, id_b, id_c, id_ok;
  {
    HttpClient c(dep_.port());
    id_a = Create(c, x + "-ALICE");
    id_b = Create(c, x + "-BOB");
    id_c = Create(c, x + "-CAROL-V1");
    ASSERT_EQ(c.Fhir("PUT", dep_.Base() + "/Patient/" + id_c, dep_.token(),
                     R"({"resourceType":"Patient","id":")" + id_c + R"(","name":[{"family":")" + x +
                         R"(-CAROL-V2"}]})")
                  .status,
              200);
    id_ok = Create(c, x + "-UNTOUCHED");
  }
  dep_.StopServer();
  // Swap the bodies of two Patients, and of two versions of a third.
  auto a1 = Row("acme", id_a, 1), b1 = Row("acme", id_b, 1);
  auto c1 = Row("acme", id_c, 1), c2 = Row("acme", id_c, 2);
  ASSERT_FALSE(a1.first.empty());
  ASSERT_FALSE(b1.first.empty());
  SetBody("acme", id_a, 1, b1.first);
  SetBody("acme", id_b, 1, a1.first);
  SetBody("acme", id_c, 1, c2.first);
  SetBody("acme", id_c, 2, c1.first);
  ASSERT_EQ(Row("acme", id_a, 1).first, b1.first) << "the swap did not happen";
  dep_.StartServer();

  HttpClient c(dep_.port());
  const std::string base = dep_.Base();
  const std::vector<std::string> names = {x + "-ALICE", x + "-BOB", x + "-CAROL"};
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/" + id_a, dep_.token()), names, "read a");
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/" + id_b, dep_.token()), names, "read b");
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/" + id_a + "/_history/1", dep_.token()),
                         names, "vread a");
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/" + id_c, dep_.token()), names,
                         "read c (v2 holds v1's body)");
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/" + id_c + "/_history/1", dep_.token()),
                         names, "vread c v1");
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/" + id_a + "/_history", dep_.token()),
                         names, "instance history a");
  ExpectIntegrityFailure(c.Fhir("GET", base + "/Patient/_history", dep_.token()), names,
                         "type history");
  // Untouched rows still read.
  HttpResponse ok = c.Fhir("GET", base + "/Patient/" + id_ok, dep_.token());
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find(x + "-UNTOUCHED"), std::string::npos);
}

TEST_F(MovedCiphertextTest, DamagedRowsFail) {
  const std::string x = "DAMAGE-" + RandomToken(8);
  std::vector<std::string> ids;
  {
    HttpClient c(dep_.port());
    for (int i = 0; i < 5; ++i) ids.push_back(Create(c, x + "-" + std::to_string(i)));
  }
  dep_.StopServer();
  auto r0 = Row("acme", ids[0], 1);
  ASSERT_GT(r0.first.size(), 40u);
  std::string flipped = r0.first;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x01);
  SetBody("acme", ids[0], 1, flipped);
  SetBody("acme", ids[1], 1, Row("acme", ids[1], 1).first.substr(0, 20));  // truncated
  SetBody("acme", ids[2], 1, "");                                          // emptied
  SetBody("acme", ids[3], 1, Row("acme", ids[3], 1).first, "99");          // unknown key id
  dep_.StartServer();
  HttpClient c(dep_.port());
  for (int i = 0; i < 4; ++i) {
    ExpectIntegrityFailure(
        c.Fhir("GET", dep_.Base() + "/Patient/" + ids[static_cast<size_t>(i)], dep_.token()), {x},
        "damage #" + std::to_string(i));
  }
  EXPECT_EQ(c.Fhir("GET", dep_.Base() + "/Patient/" + ids[4], dep_.token()).status, 200);
}

TEST_F(MovedCiphertextTest, CurrentIndexPointingAtAnotherResourceFails) {
  // resource_current is derived data: if it is made to point at another resource's row, the
  // read must fail, not serve the other resource under this id.
  const std::string x = "INDEX-" + RandomToken(8);
  std::string id_a, id_b;
  {
    HttpClient c(dep_.port());
    id_a = Create(c, x + "-ALICE");
    id_b = Create(c, x + "-BOB");
  }
  dep_.StopServer();
  SqlResult q = Sql(Db("acme"),
                    "UPDATE resource_current SET seq=(SELECT seq FROM resource_current"
                    " WHERE id='" +
                        id_b + "') WHERE id='" + id_a + "'");
  ASSERT_TRUE(q.ok) << q.error;
  dep_.StartServer();
  HttpClient c(dep_.port());
  ExpectIntegrityFailure(c.Fhir("GET", dep_.Base() + "/Patient/" + id_a, dep_.token()),
                         {x + "-BOB"}, "read a through a tampered index");
  HttpResponse b = c.Fhir("GET", dep_.Base() + "/Patient/" + id_b, dep_.token());
  EXPECT_EQ(b.status, 200);
}

TEST_F(MovedCiphertextTest, CiphertextCopiedToAnotherTenantFails) {
  dep_.inst().CreateTenant("beta");
  const std::string beta_token = dep_.inst().Token("beta");
  const std::string x = "COPY-" + RandomToken(8);
  {
    HttpClient c(dep_.port());
    for (const auto& [tenant, token] : std::vector<std::pair<std::string, std::string>>{
             {"acme", dep_.token()}, {"beta", beta_token}}) {
      HttpResponse r = c.Fhir("PUT", "/fhir/" + tenant + "/Patient/same-id", token,
                              R"({"resourceType":"Patient","id":"same-id","name":[{"family":")" +
                                  x + "-" + tenant + R"("}]})");
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }
  dep_.StopServer();
  // Same type, id, version and key id: only the tenant differs.
  auto from_a = Row("acme", "same-id", 1);
  ASSERT_FALSE(from_a.first.empty());
  SetBody("beta", "same-id", 1, from_a.first, from_a.second);
  ASSERT_EQ(Row("beta", "same-id", 1).first, from_a.first);
  dep_.StartServer();
  HttpClient c(dep_.port());
  ExpectIntegrityFailure(c.Fhir("GET", "/fhir/beta/Patient/same-id", beta_token),
                         {x + "-acme", x + "-beta"}, "beta reads a copy of acme's ciphertext");
  ExpectIntegrityFailure(c.Fhir("GET", "/fhir/beta/Patient/same-id/_history/1", beta_token),
                         {x + "-acme"}, "vread");
  HttpResponse a = c.Fhir("GET", "/fhir/acme/Patient/same-id", dep_.token());
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find(x + "-acme"), std::string::npos);
}

// Search values are blind-indexed: a canary written in searchable fields (a string, a token
// from an identifier and from a code) and then searched for, in every way a client can, is
// found by the API but never lands in clear (nor lower-cased, nor as an indexed prefix) in any
// file under the data directory (the SQLite index tables included) or in the server log.
TEST(SecurityTest, SearchedCanariesNeverReachTheDiskOrTheLog) {
  const int64_t errors_before = ServerErrorResponses();
  Deployment dep;
  HttpClient c(dep.port());
  const std::string base = dep.Base();
  const std::string& tok = dep.token();
  const std::string r = RandomToken(12);
  const std::string family = "Cnry" + r + "Family";
  const std::string ident = "CNRY" + r + "-IDENT";
  const std::string code = "cnry" + r + "-code";
  const std::string chained = "Cnry" + r + "Chain";
  const std::vector<std::string> canaries = {family, ident, code, chained};
  const std::map<std::string, std::string> form = {
      {"Content-Type", "application/x-www-form-urlencoded"}};

  std::vector<std::string> patients;
  for (int i = 0; i < 3; ++i) {
    HttpResponse res = c.Fhir(
        "POST", base + "/Patient", tok,
        R"({"resourceType":"Patient","identifier":[{"system":"urn:canary","value":")" + ident +
            R"("}],"name":[{"family":")" + family + R"(","given":[")" + chained + R"("]}]})");
    ASSERT_EQ(res.status, 201) << res.body;
    patients.push_back(JsonString(ParseJson(res.body), "id"));
    res =
        c.Fhir("POST", base + "/Observation", tok,
               R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":)"
               R"("urn:canary","code":")" +
                   code + R"("}]},"subject":{"reference":"Patient/)" + patients.back() + R"("}})");
    ASSERT_EQ(res.status, 201) << res.body;
  }
  // Every way of searching for them: the API finds them.
  struct Query {
    std::string path;
    size_t expected;
  };
  const std::vector<Query> queries = {
      {"/Patient?family=" + family, 3},
      {"/Patient?family:exact=" + family, 3},
      {"/Patient?family=" + family.substr(0, 10), 3},
      {"/Patient?name=" + chained, 3},
      {"/Patient?given=" + chained + "&_count=1", 1},
      {"/Patient?identifier=urn:canary%7C" + ident, 3},
      {"/Patient?identifier=" + ident + "&_summary=count", 0},
      {"/Observation?code=urn:canary%7C" + code, 3},
      {"/Observation?code=" + code + "&_include=Observation:subject", 3},
      {"/Observation?subject:Patient.family=" + family, 3},
      {"/Observation?subject:Patient.identifier=" + ident, 3},
      {"/Patient?family=" + family + "&_revinclude=Observation:subject", 3},
      {"?_type=Patient,Observation&identifier=" + ident, 3},
      {"/Patient/" + patients[0] + "/Observation?code=" + code, 1},
  };
  for (const Query& q : queries) {
    HttpResponse res = c.Fhir("GET", base + q.path, tok);
    ASSERT_EQ(res.status, 200) << q.path << " -> " << res.body;
    rapidjson::Document doc = ParseJson(res.body);
    size_t matches = 0;
    if (doc.HasMember("entry")) {
      for (const auto& e : doc["entry"].GetArray()) {
        matches += JsonString(e["search"], "mode") == "match" ? 1 : 0;
      }
    }
    EXPECT_EQ(matches, q.expected) << q.path;
  }
  // Conditional create and update carrying the canaries in their conditions.
  HttpResponse cond = c.Fhir("POST", base + "/Patient", tok,
                             R"({"resourceType":"Patient","name":[{"family":")" + family + "\"}]}",
                             {{"If-None-Exist", "identifier=urn:canary%7C" + ident}});
  // (What conditional interactions answer is tested with the bundles; here only what they
  // leave on disk matters.)
  EXPECT_LT(cond.status, 500) << cond.body;
  HttpResponse cond_put =
      c.Fhir("PUT", base + "/Patient?family:exact=" + chained, tok,
             R"({"resourceType":"Patient","name":[{"family":")" + chained + "\"}]}");
  EXPECT_LT(cond_put.status, 500) << cond_put.body;

  // Paging links carry the search; following them must not persist it anywhere.
  HttpResponse page = c.Fhir("GET", base + "/Patient?family=" + family + "&_count=1", tok);
  ASSERT_EQ(page.status, 200);
  std::string next;
  rapidjson::Document page_doc = ParseJson(page.body);  // outlives the loop over its links
  for (const auto& l : page_doc["link"].GetArray()) {
    if (JsonString(l, "relation") == "next") next = PathOfUrl(JsonString(l, "url"));
  }
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(c.Fhir("GET", next, tok).status, 200);
  // POST _search, conditional delete, and refused searches carrying the canaries.
  HttpResponse post = c.Fhir("POST", base + "/Patient/_search", tok,
                             "family=" + family + "&identifier=" + ident, form);
  EXPECT_EQ(post.status, 200) << post.body;
  EXPECT_LT(
      c.Fhir("DELETE", base + "/Patient?family:exact=" + chained + "&given=nobody", tok).status,
      500);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?birthdate=" + family, tok).status, 400);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?family:nosuch=" + family, tok).status, 400);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?" + family + "=" + ident, tok, "",
                   {{"Prefer", "handling=strict"}})
                .status,
            400);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?" + family + "=" + ident, tok).status, 200);
  EXPECT_EQ(c.Fhir("GET", base + "/Observation?subject:Nope." + family + "=" + ident, tok).status,
            400);
  // A transaction whose ifNoneExist carries them.
  HttpResponse tx = c.Fhir(
      "POST", base, tok,
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":)"
      R"("Patient","name":[{"family":")" +
          family +
          R"("}]},"request":{"method":"POST","url":"Patient","ifNoneExist":)"
          R"("family:exact=)" +
          chained + R"("}}]})");
  EXPECT_EQ(tx.status, 200) << tx.body;

  ASSERT_EQ(dep.server().Stop(), 0);
  const std::string log = dep.server().Log();
  size_t checked = 0;
  for (const auto& canary : canaries) {
    // The whole value in every encoding, and the prefix a string index would keep.
    auto forms = LeakForms(canary);
    std::string prefix = canary.substr(0, 12);
    std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    forms.emplace_back("normalized prefix", prefix);
    forms.emplace_back("random part", r);
    for (const auto& [form_name, needle] : forms) {
      std::vector<std::string> hits = FilesContaining(dep.data(), needle);
      EXPECT_TRUE(hits.empty()) << "canary '" << canary << "' (" << form_name << ") found in "
                                << hits.front();
      EXPECT_EQ(log.find(needle), std::string::npos)
          << "canary '" << canary << "' (" << form_name << ") in the server log";
      ++checked;
    }
  }
  // Control: the index tables exist and hold rows for these resources.
  EXPECT_FALSE(FilesContaining(dep.data(), patients[0]).empty()) << "ids are stored in clear";
  std::cout << "[ canary ] " << canaries.size() << " searched canaries, " << checked
            << " encodings checked\n";
  EXPECT_EQ(ServerErrorResponses(), errors_before);
}

}  // namespace
}  // namespace hygie::e2e
