// The access matrix: every endpoint family (read, search, write, bundle, history, operations,
// AuditEvent, admin) x the token's own tenant and another tenant x every kind of token (none,
// expired, alg none, HMAC keyed with the public key, wrong audience, wrong issuer, unknown key,
// patient context, narrowed scope, host staff without and with a break-glass grant, full user,
// auditor, tenant admin; with and without a second factor). Each cell's answer is compared with
// the one the rules give (status, details code, bundle entry statuses) and, for answers that
// carry data, with the exact resources it may hold; no answer may carry the other tenant's ids.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/token.h"
#include "cli/installation.h"
#include "core/clock.h"
#include "support/harness.h"
#include "support/jwt_forge.h"

namespace hygie::e2e {
namespace {

using Ids = std::set<std::string>;  // "Type/id"

std::string Observation(const std::string& patient, const std::string& category) {
  std::string json =
      R"({"resourceType":"Observation","status":"final","category":[{"coding":[{"system":)"
      R"("http://terminology.hl7.org/CodeSystem/observation-category","code":")" +
      category + R"("}]}],"code":{"text":"matrix"})";
  if (!patient.empty()) json += R"(,"subject":{"reference":"Patient/)" + patient + R"("})";
  return json + "}";
}

// What the write cells create: an Observation of no patient, so that the compartments and
// searches the other cells look at do not change.
const std::string kWritten = Observation("", "vital-signs");

// The resources of one tenant.
struct TenantData {
  std::string p1, p2;            // Patient ids
  std::string o1_lab, o1_vital;  // p1's Observations (laboratory, vital-signs)
  std::string o2_lab;            // p2's laboratory Observation
  std::vector<std::string> All() const { return {p1, p2, o1_lab, o1_vital, o2_lab}; }
};

enum class Kind {
  kBad,          // refused at authentication
  kFull,         // practitioner, user/*.cruds
  kPatient,      // patient/*.rs for p1
  kNarrowed,     // user/Observation.rs?category=laboratory
  kStaff,        // host-operator, user/*.rs
  kAuditor,      // auditor, user/AuditEvent.rs
  kTenantAdmin,  // tenant-admin, user/AuditEvent.rs
};

struct TokenCase {
  std::string name;
  std::string token;  // "" = no Authorization header
  Kind kind = Kind::kBad;
  bool mfa = false;
  bool granted = false;  // staff: asked after the break-glass grant
};

enum class Family {
  kRead,
  kSearch,
  kWrite,
  kBundle,
  kHistory,
  kEverything,
  kAuditEvent,
  kAdminCheckpoint,
  kAdminGrants,
};

struct Endpoint {
  std::string name;
  Family family;
  bool other_patient = false;  // about p2 instead of p1
};

struct Expect {
  int status = 0;
  std::string code;                         // details code; "" = not checked
  std::optional<std::vector<int>> entries;  // batch-response entry statuses
  std::optional<Ids> ids;                   // exact resources in a 2xx answer
};

struct Got {
  int status = 0;
  std::string code;
  std::vector<int> entries;
  Ids ids;
  std::vector<std::string> problems;  // content that no answer may hold
};

std::string Join(const Ids& ids) {
  std::string s;
  for (const auto& i : ids) s += (s.empty() ? "" : ",") + i;
  return "{" + s + "}";
}

std::string Join(const std::vector<int>& v) {
  std::string s;
  for (int i : v) s += (s.empty() ? "" : ",") + std::to_string(i);
  return "[" + s + "]";
}

std::string Describe(const Expect& e) {
  std::string s = std::to_string(e.status);
  if (!e.code.empty()) s += " " + e.code;
  if (e.entries) s += " entries" + Join(*e.entries);
  if (e.ids) s += " ids" + Join(*e.ids);
  return s;
}

std::string Describe(const Got& g, const Expect& e) {
  std::string s = std::to_string(g.status);
  if (!g.code.empty()) s += " " + g.code;
  if (e.entries || !g.entries.empty()) s += " entries" + Join(g.entries);
  if (e.ids) s += " ids" + Join(g.ids);
  for (const auto& p : g.problems) s += "; " + p;
  return s;
}

bool Matches(const Expect& e, const Got& g) {
  if (g.status != e.status || !g.problems.empty()) return false;
  if (!e.code.empty() && g.code != e.code) return false;
  if (e.entries && g.entries != *e.entries) return false;
  if (e.ids && g.status >= 200 && g.status < 300 && g.ids != *e.ids) return false;
  return true;
}

// The details code of an OperationOutcome's first issue.
std::string DetailsCode(const rapidjson::Value& oo) {
  if (!oo.IsObject() || JsonString(oo, "resourceType") != "OperationOutcome") return {};
  auto issue = oo.FindMember("issue");
  if (issue == oo.MemberEnd() || !issue->value.IsArray() || issue->value.Empty()) return {};
  const auto& first = issue->value[0];
  if (!first.IsObject() || !first.HasMember("details")) return {};
  const auto& details = first["details"];
  if (!details.IsObject() || !details.HasMember("coding") || !details["coding"].IsArray() ||
      details["coding"].Empty()) {
    return {};
  }
  return JsonString(details["coding"][0], "code");
}

// "Type/id" of the last two segments of a full URL.
std::string RefOfUrl(const std::string& url) {
  size_t id_slash = url.rfind('/');
  if (id_slash == std::string::npos || id_slash == 0) return url;
  size_t type_slash = url.rfind('/', id_slash - 1);
  return type_slash == std::string::npos ? url : url.substr(type_slash + 1);
}

int StatusOfLine(const std::string& line) {
  int n = 0;
  for (char c : line) {
    if (c < '0' || c > '9') break;
    n = n * 10 + (c - '0');
  }
  return n;
}

class Matrix {
 public:
  Matrix(HttpClient& client, const TenantData& acme, const TenantData& beta)
      : client_(client), acme_(acme), beta_(beta) {}

  // Runs one cell; a failure line is kept when the answer differs from the rules'.
  void Cell(const Endpoint& ep, const std::string& tenant, const TokenCase& tok, bool granted) {
    ++cells_;
    const Expect expect = Expected(ep, tenant, tok, granted);
    const Got got = Ask(ep, tenant, tok);
    if (got.status == 201) ++writes_seen_;
    for (int s : got.entries) writes_seen_ += s == 201 ? 1 : 0;
    if (expect.status == 201) ++writes_expected_;
    if (expect.entries) {
      for (int s : *expect.entries) writes_expected_ += s == 201 ? 1 : 0;
    }
    if (!Matches(expect, got)) {
      failures_.push_back(ep.name + " | tenant " + tenant + " | token " + tok.name +
                          " | expected " + Describe(expect) + " | got " + Describe(got, expect));
    }
  }

  int cells() const { return cells_; }
  const std::vector<std::string>& failures() const { return failures_; }
  int writes_expected() const { return writes_expected_; }
  int writes_seen() const { return writes_seen_; }

 private:
  const TenantData& Data(const std::string& tenant) const {
    return tenant == "acme" ? acme_ : beta_;
  }

  Expect Expected(const Endpoint& ep, const std::string& tenant, const TokenCase& tok,
                  bool granted) const {
    Expect e;
    auto refuse = [&e](int status, std::string code) {
      e.status = status;
      e.code = std::move(code);
      return e;
    };
    if (tok.kind == Kind::kBad) {
      return refuse(401, tok.token.empty() ? "HYGIE-AUTH-MISSING" : "HYGIE-AUTH-INVALID");
    }
    // Every valid token is for acme.
    if (tenant != "acme") return refuse(403, "HYGIE-TENANT-MISMATCH");
    const TenantData& d = acme_;
    const std::string p = ep.other_patient ? d.p2 : d.p1;
    const bool audit_role = tok.kind == Kind::kAuditor || tok.kind == Kind::kTenantAdmin;

    switch (ep.family) {
      case Family::kAdminCheckpoint:
        if (!tok.mfa) return refuse(403, "HYGIE-ADMIN-SECOND-FACTOR");
        if (!audit_role) return refuse(403, "HYGIE-ACCESS-ROLE");
        e.status = 200;
        return e;
      case Family::kAdminGrants:
        if (!tok.mfa) return refuse(403, "HYGIE-ADMIN-SECOND-FACTOR");
        if (!audit_role && tok.kind != Kind::kStaff) return refuse(403, "HYGIE-ACCESS-DENIED");
        e.status = 200;
        e.ids = granted ? Ids{"Grant/op-1"} : Ids{};
        return e;
      case Family::kAuditEvent:
        if (!audit_role) return refuse(403, "HYGIE-ACCESS-ROLE");
        e.status = 200;
        return e;
      default:
        break;
    }

    // Health data. First the access rights (role, break-glass), then the scopes.
    const bool write = ep.family == Family::kWrite;
    if (ep.family == Family::kBundle) {
      // Decided entry by entry: a GET of the patient and a POST of an Observation.
      Endpoint read{"read", Family::kRead, false};
      Endpoint create{"write", Family::kWrite, false};
      Expect r = Expected(read, tenant, tok, granted);
      Expect w = Expected(create, tenant, tok, granted);
      e.status = 200;
      e.entries = std::vector<int>{r.status, w.status};
      e.ids = r.status == 200 ? *r.ids : Ids{};
      return e;
    }
    if (audit_role) return refuse(403, "HYGIE-ACCESS-ROLE");
    if (tok.kind == Kind::kStaff) {
      if (write) return refuse(403, "HYGIE-ACCESS-STAFF-WRITE");
      if (!granted) return refuse(403, "HYGIE-ACCESS-NO-BREAK-GLASS");
    }
    if (write) {
      if (tok.kind != Kind::kFull) return refuse(403, "HYGIE-SCOPE-DENIED");
      e.status = 201;
      return e;
    }
    const bool patient_token = tok.kind == Kind::kPatient;
    const bool narrowed = tok.kind == Kind::kNarrowed;
    // Reads of the Patient (read, history, $everything) need a scope on Patient.
    if (narrowed && ep.family != Family::kSearch) return refuse(403, "HYGIE-SCOPE-DENIED");
    // A patient token does not see another patient: 404 as for a missing id.
    if (patient_token && ep.other_patient && ep.family != Family::kSearch) {
      return refuse(404, "HYGIE-NOT-FOUND");
    }
    e.status = 200;
    const bool is_p1 = !ep.other_patient;
    switch (ep.family) {
      case Family::kRead:
      case Family::kHistory:
        e.ids = Ids{"Patient/" + p};
        break;
      case Family::kSearch: {
        Ids ids;
        if (patient_token && !is_p1) {
          // Another patient's Observations are outside the compartment: an empty result.
        } else if (is_p1) {
          ids.insert("Observation/" + d.o1_lab);
          if (!narrowed) ids.insert("Observation/" + d.o1_vital);
        } else {
          ids.insert("Observation/" + d.o2_lab);
        }
        e.ids = ids;
        break;
      }
      case Family::kEverything:
        e.ids = is_p1 ? Ids{"Patient/" + p, "Observation/" + d.o1_lab, "Observation/" + d.o1_vital}
                      : Ids{"Patient/" + p, "Observation/" + d.o2_lab};
        break;
      default:
        break;
    }
    return e;
  }

  HttpResponse Send(const Endpoint& ep, const std::string& tenant, const std::string& token) {
    const TenantData& d = Data(tenant);
    const std::string p = ep.other_patient ? d.p2 : d.p1;
    const std::string base = "/fhir/" + tenant;
    switch (ep.family) {
      case Family::kRead:
        return client_.Fhir("GET", base + "/Patient/" + p, token);
      case Family::kSearch:
        return client_.Fhir("GET", base + "/Observation?subject=Patient/" + p, token);
      case Family::kWrite:
        return client_.Fhir("POST", base + "/Observation", token, kWritten);
      case Family::kBundle:
        return client_.Fhir("POST", base, token,
                            R"({"resourceType":"Bundle","type":"batch","entry":[)"
                            R"({"request":{"method":"GET","url":"Patient/)" +
                                p + R"("}},{"resource":)" + kWritten +
                                R"(,"request":{"method":"POST","url":"Observation"}}]})");
      case Family::kHistory:
        return client_.Fhir("GET", base + "/Patient/" + p + "/_history", token);
      case Family::kEverything:
        return client_.Fhir("GET", base + "/Patient/" + p + "/$everything", token);
      case Family::kAuditEvent:
        return client_.Fhir("GET", base + "/AuditEvent?_count=5", token);
      case Family::kAdminCheckpoint:
        return client_.Fhir("GET", "/admin/audit/" + tenant + "/checkpoint", token);
      case Family::kAdminGrants:
        return client_.Fhir("GET", "/admin/access/" + tenant + "/grants", token);
    }
    return {};
  }

  Got Ask(const Endpoint& ep, const std::string& tenant, const TokenCase& tok) {
    HttpResponse res = Send(ep, tenant, tok.token);
    Got g;
    g.status = res.status;
    const bool ok = res.status >= 200 && res.status < 300;
    rapidjson::Document doc = ParseJson(res.body);
    const bool json = !doc.HasParseError() && doc.IsObject();
    if (json) g.code = DetailsCode(doc);

    // No answer holds the other tenant's ids; a refusal holds no resource id at all.
    const std::string other = tenant == "acme" ? "beta" : "acme";
    for (const std::string& id : Data(other).All()) {
      if (res.body.find(id) != std::string::npos)
        g.problems.push_back("holds " + other + " id " + id);
    }
    if (!ok) {
      for (const std::string& id : Data(tenant).All()) {
        if (res.body.find(id) != std::string::npos) g.problems.push_back("refusal holds id " + id);
      }
    }
    if (res.status == 401 && !res.Header("www-authenticate").starts_with("Bearer")) {
      g.problems.push_back("401 without WWW-Authenticate: Bearer");
    }
    if (!ok) return g;

    const std::string tenant_base = "/fhir/" + tenant + "/";
    auto bundle_ids = [&](const char* want_type) {
      if (!json || JsonString(doc, "resourceType") != "Bundle" ||
          JsonString(doc, "type") != want_type) {
        g.problems.push_back(std::string("not a ") + want_type + " Bundle");
        return;
      }
      if (!doc.HasMember("entry")) return;
      for (const auto& entry : doc["entry"].GetArray()) {
        const std::string full = JsonString(entry, "fullUrl");
        if (full.find(tenant_base) == std::string::npos) {
          g.problems.push_back("entry outside the tenant: " + full);
        }
        g.ids.insert(RefOfUrl(full));
      }
    };
    switch (ep.family) {
      case Family::kRead:
        g.ids.insert(JsonString(doc, "resourceType") + "/" + JsonString(doc, "id"));
        break;
      case Family::kSearch:
      case Family::kEverything:
        bundle_ids("searchset");
        break;
      case Family::kHistory:
        bundle_ids("history");
        break;
      case Family::kAuditEvent:
        bundle_ids("searchset");
        if (g.ids.size() > 5) g.problems.push_back("more than _count=5 AuditEvents");
        for (const auto& id : g.ids) {
          if (!id.starts_with("AuditEvent/")) g.problems.push_back("not an AuditEvent: " + id);
        }
        break;
      case Family::kWrite:
        if (JsonString(doc, "resourceType") != "Observation") {
          g.problems.push_back("the created resource is not an Observation");
        }
        if (res.Header("location").find(tenant_base + "Observation/") == std::string::npos) {
          g.problems.push_back("Location outside the tenant: " + res.Header("location"));
        }
        break;
      case Family::kBundle: {
        if (!json || JsonString(doc, "type") != "batch-response" || !doc.HasMember("entry") ||
            !doc["entry"].IsArray()) {
          g.problems.push_back("not a batch-response");
          break;
        }
        for (const auto& entry : doc["entry"].GetArray()) {
          if (!entry.HasMember("response")) continue;
          g.entries.push_back(StatusOfLine(JsonString(entry["response"], "status")));
        }
        const auto& first = doc["entry"][0];
        if (first.HasMember("resource")) {
          g.ids.insert(JsonString(first["resource"], "resourceType") + "/" +
                       JsonString(first["resource"], "id"));
        }
        break;
      }
      case Family::kAdminCheckpoint: {
        // A signed note whose origin (first line) names the tenant's trail.
        const std::string origin = res.body.substr(0, res.body.find('\n'));
        if (!origin.ends_with("/" + tenant)) g.problems.push_back("checkpoint origin " + origin);
        break;
      }
      case Family::kAdminGrants:
        if (!json || JsonString(doc, "tenant") != tenant || !doc.HasMember("grants") ||
            !doc["grants"].IsArray()) {
          g.problems.push_back("not the tenant's grant list");
          break;
        }
        for (const auto& grant : doc["grants"].GetArray()) {
          if (JsonString(grant, "tenant") != tenant)
            g.problems.push_back("grant of another tenant");
          g.ids.insert("Grant/" + JsonString(grant, "subject"));
        }
        break;
    }
    return g;
  }

  HttpClient& client_;
  const TenantData& acme_;
  const TenantData& beta_;
  int cells_ = 0;
  int writes_expected_ = 0;
  int writes_seen_ = 0;
  std::vector<std::string> failures_;
};

std::string Create(HttpClient& client, const std::string& tenant, const std::string& token,
                   const std::string& type, const std::string& body) {
  HttpResponse r = client.Fhir("POST", "/fhir/" + tenant + "/" + type, token, body);
  EXPECT_EQ(r.status, 201) << tenant << " " << type << " " << r.body;
  return JsonString(ParseJson(r.body), "id");
}

TenantData Populate(HttpClient& client, const std::string& tenant, const std::string& token) {
  TenantData d;
  d.p1 = Create(client, tenant, token, "Patient", R"({"resourceType":"Patient","active":true})");
  d.p2 = Create(client, tenant, token, "Patient", R"({"resourceType":"Patient","active":true})");
  d.o1_lab = Create(client, tenant, token, "Observation", Observation(d.p1, "laboratory"));
  d.o1_vital = Create(client, tenant, token, "Observation", Observation(d.p1, "vital-signs"));
  d.o2_lab = Create(client, tenant, token, "Observation", Observation(d.p2, "laboratory"));
  return d;
}

TEST(MatrixTest, EveryEndpointTenantAndTokenKind) {
  const auto started = std::chrono::steady_clock::now();
  const int64_t errors_before = ServerErrorResponses();
  Deployment dep;
  Installation& inst = dep.inst();
  inst.CreateTenant("beta");
  HttpClient client(dep.port());
  const std::string full = inst.Token("acme", "user/*.cruds", "1h", {"--role", "practitioner"});
  const std::string beta_full =
      inst.Token("beta", "user/*.cruds", "1h", {"--role", "practitioner"});
  const TenantData acme = Populate(client, "acme", full);
  const TenantData beta = Populate(client, "beta", beta_full);
  ASSERT_FALSE(::testing::Test::HasFailure());

  // ---- Tokens ----
  std::vector<TokenCase> tokens;
  auto add = [&tokens](std::string name, std::string token, Kind kind, bool mfa = false) {
    ASSERT_TRUE(kind == Kind::kBad || !token.empty()) << name;
    tokens.push_back(TokenCase{std::move(name), std::move(token), kind, mfa});
  };
  add("none", "", Kind::kBad);
  {
    // Two hours past its expiry (beyond any clock skew), signed by the installation's key.
    LibTokenOptions o;
    o.tenant = "acme";
    o.clock_offset_seconds = -2 * 3600;
    o.ttl_seconds = 60;
    add("expired", LibToken(dep.data(), o), Kind::kBad);
  }
  const std::string payload =
      B64Decode(full.substr(full.find('.') + 1, full.rfind('.') - full.find('.') - 1));
  const std::string header = B64Decode(full.substr(0, full.find('.')));
  ASSERT_FALSE(payload.empty());
  add("alg-none", B64(R"({"alg":"none","typ":"at+jwt"})") + "." + B64(payload) + ".", Kind::kBad);
  {
    // HS256 keyed with the installation's public key (PEM), with its kid.
    auto mine = cli::OpenInstallation(dep.data(), "");
    ASSERT_TRUE(mine.ok()) << mine.status().ToString();
    auto key = mine->IssuerKey();
    ASSERT_TRUE(key.ok());
    auto pem = key->Public().Pem();
    ASSERT_TRUE(pem.ok());
    const std::string kid = JsonString(ParseJson(header), "kid");
    ASSERT_FALSE(kid.empty()) << header;
    const std::string input =
        B64(R"({"alg":"HS256","typ":"at+jwt","kid":")" + kid + R"("})") + "." + B64(payload);
    add("hs256-public-key", input + "." + HmacSha256B64(*pem, input), Kind::kBad);

    LibTokenOptions o;
    o.tenant = "acme";
    o.audience = "urn:hygie:fhir:someone-else";
    add("wrong-aud", LibToken(dep.data(), o), Kind::kBad);
    o.audience.clear();
    o.issuer = "urn:hygie:issuer:someone-else";
    add("wrong-iss", LibToken(dep.data(), o), Kind::kBad);

    // Right issuer and audience, signed by another installation's key: its kid is unknown here.
    Installation other;
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
    add("unknown-kid", *forged, Kind::kBad);
  }
  add("patient", inst.Token("acme", "patient/*.rs", "1h", {"--patient", acme.p1}), Kind::kPatient);
  add("narrowed", inst.Token("acme", "user/Observation.rs?category=laboratory"), Kind::kNarrowed);
  const std::string staff =
      inst.Token("acme", "user/*.rs", "1h", {"--role", "host-operator", "--subject", "op-1"});
  const std::string staff_mfa = inst.Token(
      "acme", "user/*.rs", "1h", {"--role", "host-operator", "--subject", "op-1", "--amr", "mfa"});
  add("staff", staff, Kind::kStaff);
  add("staff+mfa", staff_mfa, Kind::kStaff, true);
  add("full", full, Kind::kFull);
  add("full+mfa",
      inst.Token("acme", "user/*.cruds", "1h", {"--role", "practitioner", "--amr", "mfa"}),
      Kind::kFull, true);
  add("auditor", inst.Token("acme", "user/AuditEvent.rs", "1h", {"--role", "auditor"}),
      Kind::kAuditor);
  add("auditor+mfa",
      inst.Token("acme", "user/AuditEvent.rs", "1h", {"--role", "auditor", "--amr", "mfa"}),
      Kind::kAuditor, true);
  add("tenant-admin+mfa",
      inst.Token("acme", "user/AuditEvent.rs", "1h", {"--role", "tenant-admin", "--amr", "mfa"}),
      Kind::kTenantAdmin, true);
  ASSERT_FALSE(::testing::Test::HasFailure());

  const std::vector<Endpoint> endpoints = {
      {"read", Family::kRead},
      {"read-other-patient", Family::kRead, true},
      {"search", Family::kSearch},
      {"search-other-patient", Family::kSearch, true},
      {"write", Family::kWrite},
      {"bundle", Family::kBundle},
      {"history", Family::kHistory},
      {"$everything", Family::kEverything},
      {"$everything-other-patient", Family::kEverything, true},
      {"AuditEvent", Family::kAuditEvent},
      {"admin-audit-checkpoint", Family::kAdminCheckpoint},
      {"admin-access-grants", Family::kAdminGrants},
  };

  // The trail has a checkpoint (one per second) before the admin cells ask for it.
  for (int i = 0; i < 50; ++i) {
    if (client.Fhir("GET", "/admin/audit/acme/checkpoint", tokens.back().token).status == 200) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int64_t acme_before = HistoryTotal(client, full, "/fhir/acme/_history");
  const int64_t beta_before = HistoryTotal(client, beta_full, "/fhir/beta/_history");
  ASSERT_GT(acme_before, 0);
  ASSERT_GT(beta_before, 0);

  Matrix matrix(client, acme, beta);
  auto run_all = [&](const std::vector<TokenCase>& which, bool granted) {
    for (const Endpoint& ep : endpoints) {
      for (const std::string tenant : {"acme", "beta"}) {
        for (const TokenCase& tok : which) matrix.Cell(ep, tenant, tok, granted);
      }
    }
  };
  // 1. Before any grant.
  run_all(tokens, false);

  // 2. The tenant gives op-1 break-glass access; the server rereads grants within a second.
  CommandResult glass =
      RunHygie({"access", "grant", "--data", dep.data(), "--tenant", "acme", "--break-glass",
                "--subject", "op-1", "--duration", "1h", "--reason", "ticket 42: restore a record",
                "--owner", "acme-admin"});
  ASSERT_EQ(glass.exit_code, 0) << glass.err;
  int staff_status = 0;
  for (int i = 0; i < 50 && staff_status != 200; ++i) {
    staff_status = client.Fhir("GET", "/fhir/acme/Patient/" + acme.p2, staff).status;
    if (staff_status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(staff_status, 200) << "the break-glass grant was not taken into account";
  std::vector<TokenCase> granted;
  for (const TokenCase& t : tokens) {
    if (t.kind != Kind::kStaff) continue;
    TokenCase g = t;
    g.name += " (break-glass)";
    g.granted = true;
    granted.push_back(g);
  }
  // Staff with the grant, and the admin cells of everyone again (the grant list changed).
  run_all(granted, true);
  for (const std::string tenant : {"acme", "beta"}) {
    for (const TokenCase& tok : tokens) {
      if (tok.kind == Kind::kStaff) continue;
      matrix.Cell(endpoints.back(), tenant, tok, true);
    }
  }

  // Refused writes wrote nothing; allowed ones wrote exactly one version each, in acme only.
  EXPECT_EQ(HistoryTotal(client, beta_full, "/fhir/beta/_history"), beta_before);
  EXPECT_EQ(HistoryTotal(client, full, "/fhir/acme/_history") - acme_before,
            matrix.writes_expected());
  EXPECT_EQ(matrix.writes_seen(), matrix.writes_expected());
  EXPECT_EQ(ServerErrorResponses(), errors_before) << "a request got a 5xx";

  const int failures = static_cast<int>(matrix.failures().size());
  std::string lines;
  for (const std::string& f : matrix.failures()) lines += "  " + f + "\n";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("[ matrix ] %d cells, %d failures (%.1f s)\n", matrix.cells(), failures, seconds);
  EXPECT_EQ(failures, 0) << lines;
}

}  // namespace
}  // namespace hygie::e2e
