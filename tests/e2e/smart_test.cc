// End-to-end tests of SMART App Launch v2 scopes: a patient-context token (patient/ scopes and a
// patient claim) reaches its patient's compartment only, through reads, searches (totals and
// pages), includes, $everything, history, bundles and writes; a narrowed scope
// (user/Observation.rs?category=laboratory) reaches the matching resources only.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

using Ids = std::set<std::string>;  // "Type/id"

struct Page {
  int status = 0;
  std::string body;
  int64_t total = -1;  // -1: absent
  Ids matches;
  Ids includes;
  std::string next;  // path of the next link, empty when none
};

Page ParsePage(const HttpResponse& res) {
  Page p;
  p.status = res.status;
  p.body = res.body;
  rapidjson::Document doc = ParseJson(res.body);
  if (doc.HasParseError() || !doc.IsObject() || JsonString(doc, "resourceType") != "Bundle") {
    return p;
  }
  if (doc.HasMember("total") && doc["total"].IsInt64()) p.total = doc["total"].GetInt64();
  if (doc.HasMember("link") && doc["link"].IsArray()) {
    for (const auto& l : doc["link"].GetArray()) {
      if (JsonString(l, "relation") == "next") p.next = PathOfUrl(JsonString(l, "url"));
    }
  }
  if (doc.HasMember("entry") && doc["entry"].IsArray()) {
    for (const auto& e : doc["entry"].GetArray()) {
      if (!e.HasMember("resource")) continue;
      const auto& r = e["resource"];
      std::string ref = JsonString(r, "resourceType") + "/" + JsonString(r, "id");
      std::string mode;
      if (e.HasMember("search")) mode = JsonString(e["search"], "mode");
      (mode == "include" ? p.includes : p.matches).insert(ref);
    }
  }
  return p;
}

std::string Observation(const std::string& id, const std::string& patient,
                        const std::string& category, const std::string& extra = "") {
  std::string json = R"({"resourceType":"Observation",)";
  if (!id.empty()) json += R"("id":")" + id + R"(",)";
  json += R"("status":"final","category":[{"coding":[{"system":)"
          R"("http://terminology.hl7.org/CodeSystem/observation-category","code":")" +
          category + R"("}]}],"code":{"text":"x"},"subject":{"reference":"Patient/)" + patient +
          R"("})" + extra + "}";
  return json;
}

class SmartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    errors_before_ = ServerErrorResponses();
    const std::string admin = dep_.token();
    for (const std::string id : {"p-1", "p-2"}) {
      Put("Patient/" + id, R"({"resourceType":"Patient","id":")" + id + R"("})");
    }
    Put("Practitioner/pr-1", R"({"resourceType":"Practitioner","id":"pr-1"})");
    // o1a's performers: a practitioner and another patient, neither in p-1's compartment.
    Put("Observation/o1a", Observation("o1a", "p-1", "laboratory",
                                       R"(,"performer":[{"reference":"Practitioner/pr-1"},)"
                                       R"({"reference":"Patient/p-2"}])"));
    Put("Observation/o1b", Observation("o1b", "p-1", "vital-signs"));
    Put("Observation/o2a", Observation("o2a", "p-2", "laboratory"));
    Put("Observation/o2b", Observation("o2b", "p-2", "vital-signs"));
    // o3 moved from p-2 to p-1: its first version is p-2's.
    Put("Observation/o3", Observation("o3", "p-2", "vital-signs"));
    Put("Observation/o3", Observation("o3", "p-1", "vital-signs"));
    p1_ = IssueToken("patient/*.cruds", "p-1");
  }
  void TearDown() override {
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
  }

  void Put(const std::string& path, const std::string& body) {
    HttpResponse r = client_.Fhir("PUT", dep_.Base() + "/" + path, dep_.token(), body);
    ASSERT_TRUE(r.status == 200 || r.status == 201) << path << " " << r.body;
  }
  std::string IssueToken(const std::string& scope, const std::string& patient = "") {
    std::vector<std::string> args = {"token",    "issue", "--data",  dep_.data(),
                                     "--tenant", "acme",  "--scope", scope};
    if (!patient.empty()) {
      args.push_back("--patient");
      args.push_back(patient);
    }
    CommandResult r = RunHygie(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }
  HttpResponse Get(const std::string& path, const std::string& token) {
    return client_.Fhir("GET", dep_.Base() + "/" + path, token);
  }
  Page Search(const std::string& path, const std::string& token) {
    return ParsePage(Get(path, token));
  }
  // Every match of a search, following next links.
  Ids AllPages(const std::string& path, const std::string& token, int* pages) {
    Ids all;
    *pages = 0;
    std::string next = dep_.Base() + "/" + path;
    while (!next.empty() && *pages < 20) {
      Page p = ParsePage(client_.Fhir("GET", next, token));
      EXPECT_EQ(p.status, 200) << p.body;
      if (p.status != 200) break;
      ++*pages;
      all.insert(p.matches.begin(), p.matches.end());
      next = p.next;
    }
    return all;
  }
  int64_t ObservationCount() { return Search("Observation?_summary=count", dep_.token()).total; }
  // The answer for an id that does not exist, to compare with the answer for one out of reach.
  std::string MissingBody(const std::string& token) {
    HttpResponse r = Get("Observation/no-such-id", token);
    EXPECT_EQ(r.status, 404);
    return r.body;
  }

  Deployment dep_;
  HttpClient client_{dep_.port()};
  std::string p1_;
  int64_t errors_before_ = 0;
};

TEST_F(SmartTest, PatientTokenReadsOnlyItsCompartment) {
  EXPECT_EQ(Get("Observation/o1a", p1_).status, 200);
  EXPECT_EQ(Get("Observation/o3", p1_).status, 200);
  EXPECT_EQ(Get("Patient/p-1", p1_).status, 200);
  const std::string missing = MissingBody(p1_);
  for (const std::string path : {"Observation/o2a", "Observation/o2b", "Patient/p-2",
                                 "Practitioner/pr-1", "Observation/o2a/_history/1"}) {
    HttpResponse r = Get(path, p1_);
    EXPECT_EQ(r.status, 404) << path << " " << r.body;
    if (path.find("_history") == std::string::npos) {
      EXPECT_EQ(r.body, missing) << path << ": the refusal must not differ from a missing id";
    }
    // Control: the unrestricted token reads it.
    EXPECT_EQ(Get(path, dep_.token()).status, 200) << path;
  }
  // vread: o3's first version was p-2's, its second is p-1's.
  EXPECT_EQ(Get("Observation/o3/_history/1", p1_).status, 404);
  EXPECT_EQ(Get("Observation/o3/_history/2", p1_).status, 200);
}

TEST_F(SmartTest, PatientScopesWithoutPatientClaimGrantNothing) {
  const std::string no_claim = IssueToken("patient/*.cruds");
  HttpResponse r = Get("Observation/o1a", no_claim);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.body.find("laboratory"), std::string::npos);
  EXPECT_EQ(Get("Observation", no_claim).status, 403);
}

TEST_F(SmartTest, PatientTokenSearchesOnlyItsCompartment) {
  Page all = Search("Observation?_total=accurate", p1_);
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.matches, (Ids{"Observation/o1a", "Observation/o1b", "Observation/o3"}));
  EXPECT_EQ(all.total, 3);
  Page admin = Search("Observation?_total=accurate", dep_.token());
  EXPECT_EQ(admin.total, 5);  // control: the restriction is what removed the others

  Page lab = Search("Observation?category=laboratory&_total=accurate", p1_);
  EXPECT_EQ(lab.matches, (Ids{"Observation/o1a"}));
  EXPECT_EQ(lab.total, 1);
  Page count = Search("Observation?_summary=count", p1_);
  EXPECT_EQ(count.total, 3);

  // Pages of one: three pages, only p-1's resources.
  int pages = 0;
  Ids paged = AllPages("Observation?_count=1", p1_, &pages);
  EXPECT_EQ(paged, (Ids{"Observation/o1a", "Observation/o1b", "Observation/o3"}));
  EXPECT_EQ(pages, 3);

  // Asking for another patient's data by query finds nothing.
  EXPECT_TRUE(Search("Observation?subject=Patient/p-2", p1_).matches.empty());
  EXPECT_TRUE(Search("Patient?_id=p-2", p1_).matches.empty());
  EXPECT_EQ(Search("Patient", p1_).matches, (Ids{"Patient/p-1"}));
  // o1a names p-2 as a performer: it is in both compartments.
  EXPECT_EQ(Search("Patient/p-2/Observation", p1_).matches, (Ids{"Observation/o1a"}));
  EXPECT_EQ(Search("Patient/p-2/Observation", dep_.token()).matches.size(), 3u);
  EXPECT_TRUE(Search("Practitioner", p1_).matches.empty());

  // System level, across types: several queries merged, still only p-1's.
  Page sys = Search("?_type=Observation,Patient,Practitioner&_total=accurate", p1_);
  ASSERT_EQ(sys.status, 200) << sys.body;
  EXPECT_EQ(sys.matches,
            (Ids{"Patient/p-1", "Observation/o1a", "Observation/o1b", "Observation/o3"}));
  EXPECT_EQ(sys.total, 4);
  Ids sys_paged = AllPages("?_type=Observation,Patient&_count=2", p1_, &pages);
  EXPECT_EQ(sys_paged,
            (Ids{"Patient/p-1", "Observation/o1a", "Observation/o1b", "Observation/o3"}));
  EXPECT_EQ(pages, 2);
}

TEST_F(SmartTest, IncludesStayInTheCompartment) {
  const std::string q =
      "Observation?_id=o1a&_include=Observation:subject"
      "&_include=Observation:performer";
  Page admin = Search(q, dep_.token());
  EXPECT_EQ(admin.includes, (Ids{"Patient/p-1", "Patient/p-2", "Practitioner/pr-1"}));
  Page mine = Search(q, p1_);
  EXPECT_EQ(mine.matches, (Ids{"Observation/o1a"}));
  EXPECT_EQ(mine.includes, (Ids{"Patient/p-1"}));

  const std::string rev = "Patient?_revinclude=Observation:subject";
  Page rev_mine = Search(rev, p1_);
  EXPECT_EQ(rev_mine.matches, (Ids{"Patient/p-1"}));
  EXPECT_EQ(rev_mine.includes, (Ids{"Observation/o1a", "Observation/o1b", "Observation/o3"}));
  // o1a names p-2 as a performer: p-1.s token does not get p-2 through it.
  // p-1's token must not see p-2's own Observations through it.
  Page rev_perf = Search("Observation?_id=o1a&_include=Observation:performer:Patient", p1_);
  EXPECT_TRUE(rev_perf.includes.empty());
}

TEST_F(SmartTest, EverythingOnlyForItsOwnPatient) {
  Page mine = Search("Patient/p-1/$everything", p1_);
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(mine.matches,
            (Ids{"Patient/p-1", "Observation/o1a", "Observation/o1b", "Observation/o3"}));
  Page admin = Search("Patient/p-1/$everything", dep_.token());
  EXPECT_TRUE(admin.matches.count("Practitioner/pr-1")) << "control: o1a refers to pr-1";
  HttpResponse other = Get("Patient/p-2/$everything", p1_);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body.find("o2a"), std::string::npos);
}

TEST_F(SmartTest, HistoryOnlyForReachedVersions) {
  Page o3 = Search("Observation/o3/_history", p1_);
  ASSERT_EQ(o3.status, 200) << o3.body;
  // The same resource appears once per version; only version 2 is p-1's.
  rapidjson::Document doc = ParseJson(o3.body);
  ASSERT_TRUE(doc.HasMember("entry"));
  EXPECT_EQ(doc["entry"].Size(), 1u);
  EXPECT_NE(o3.body.find("Patient/p-1"), std::string::npos);
  EXPECT_EQ(o3.body.find("Patient/p-2"), std::string::npos);
  rapidjson::Document admin = ParseJson(Get("Observation/o3/_history", dep_.token()).body);
  EXPECT_EQ(admin["entry"].Size(), 2u);

  EXPECT_EQ(Get("Observation/o2a/_history", p1_).status, 404);
  EXPECT_EQ(Get("Observation/_history", p1_).status, 403);
  EXPECT_EQ(Get("_history", p1_).status, 403);
}

TEST_F(SmartTest, WritesStayInTheCompartment) {
  const int64_t before = ObservationCount();
  HttpResponse other =
      client_.Fhir("POST", dep_.Base() + "/Observation", p1_, Observation("", "p-2", "laboratory"));
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(ObservationCount(), before);
  HttpResponse mine =
      client_.Fhir("POST", dep_.Base() + "/Observation", p1_, Observation("", "p-1", "laboratory"));
  EXPECT_EQ(mine.status, 201) << mine.body;
  EXPECT_EQ(ObservationCount(), before + 1);

  // Moving one's own Observation to another patient, or taking over another's: refused.
  HttpResponse move = client_.Fhir("PUT", dep_.Base() + "/Observation/o1b", p1_,
                                   Observation("o1b", "p-2", "vital-signs"));
  EXPECT_EQ(move.status, 403) << move.body;
  HttpResponse take = client_.Fhir("PUT", dep_.Base() + "/Observation/o2b", p1_,
                                   Observation("o2b", "p-1", "vital-signs"));
  EXPECT_EQ(take.status, 404) << take.body;
  HttpResponse patch = client_.Fhir("PATCH", dep_.Base() + "/Observation/o2b", p1_,
                                    R"([{"op":"replace","path":"/status","value":"amended"}])",
                                    {{"Content-Type", "application/json-patch+json"}});
  EXPECT_EQ(patch.status, 404) << patch.body;
  HttpResponse patch_out =
      client_.Fhir("PATCH", dep_.Base() + "/Observation/o1b", p1_,
                   R"([{"op":"replace","path":"/subject/reference","value":"Patient/p-2"}])",
                   {{"Content-Type", "application/json-patch+json"}});
  EXPECT_EQ(patch_out.status, 403) << patch_out.body;
  EXPECT_EQ(client_.Fhir("DELETE", dep_.Base() + "/Observation/o2b", p1_).status, 404);
  // Conditional delete: the condition sees only p-1's resources.
  HttpResponse cond = client_.Fhir("DELETE", dep_.Base() + "/Observation?_id=o2a", p1_);
  EXPECT_EQ(cond.status, 200) << cond.body;
  for (const std::string id : {"o1b", "o2a", "o2b"}) {
    HttpResponse r = Get("Observation/" + id, dep_.token());
    EXPECT_EQ(r.status, 200) << id;
    EXPECT_EQ(r.body.find("amended"), std::string::npos);
  }
  EXPECT_NE(Get("Observation/o1b", dep_.token()).body.find("Patient/p-1"), std::string::npos);
  // Its own: allowed.
  EXPECT_EQ(client_.Fhir("DELETE", dep_.Base() + "/Observation/o1b", p1_).status, 204);
  EXPECT_EQ(ObservationCount(), before);
}

std::string Entry(const std::string& method, const std::string& url,
                  const std::string& resource = "") {
  std::string e = R"({"request":{"method":")" + method + R"(","url":")" + url + R"("})";
  if (!resource.empty()) e += R"(,"resource":)" + resource;
  return e + "}";
}

std::string BundleOf(const std::string& type, const std::vector<std::string>& entries) {
  std::string b = R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)";
  for (size_t i = 0; i < entries.size(); ++i) b += (i ? "," : "") + entries[i];
  return b + "]}";
}

std::vector<std::string> EntryStatuses(const std::string& body) {
  std::vector<std::string> out;
  rapidjson::Document doc = ParseJson(body);
  if (doc.HasParseError() || !doc.HasMember("entry")) return out;
  for (const auto& e : doc["entry"].GetArray()) {
    out.push_back(e.HasMember("response") ? JsonString(e["response"], "status") : "");
  }
  return out;
}

TEST_F(SmartTest, BundleEntriesAreCheckedLikeLoneRequests) {
  const int64_t before = ObservationCount();
  HttpResponse batch = client_.Fhir(
      "POST", dep_.Base(), p1_,
      BundleOf("batch", {Entry("GET", "Observation/o1a"), Entry("GET", "Observation/o2a"),
                         Entry("GET", "Observation?category=laboratory"),
                         Entry("POST", "Observation", Observation("", "p-2", "laboratory")),
                         Entry("POST", "Observation", Observation("", "p-1", "laboratory"))}));
  ASSERT_EQ(batch.status, 200) << batch.body << dep_.server().Log();
  std::vector<std::string> statuses = EntryStatuses(batch.body);
  ASSERT_EQ(statuses.size(), 5u);
  EXPECT_EQ(statuses[0].substr(0, 3), "200");
  EXPECT_EQ(statuses[1].substr(0, 3), "404");
  EXPECT_EQ(statuses[2].substr(0, 3), "200");
  EXPECT_EQ(statuses[3].substr(0, 3), "403");
  EXPECT_EQ(statuses[4].substr(0, 3), "201");
  EXPECT_EQ(batch.body.find("\"id\":\"o2a\""), std::string::npos) << "p-2's data in the batch";
  EXPECT_EQ(ObservationCount(), before + 1);

  // A transaction with one entry out of the compartment writes nothing.
  HttpResponse bad = client_.Fhir(
      "POST", dep_.Base(), p1_,
      BundleOf("transaction",
               {Entry("POST", "Observation", Observation("", "p-1", "laboratory")),
                Entry("PUT", "Observation/o2a", Observation("o2a", "p-1", "laboratory"))}));
  EXPECT_EQ(bad.status, 404) << bad.body;
  HttpResponse bad2 =
      client_.Fhir("POST", dep_.Base(), p1_,
                   BundleOf("transaction",
                            {Entry("POST", "Observation", Observation("", "p-1", "laboratory")),
                             Entry("POST", "Observation", Observation("", "p-2", "laboratory"))}));
  EXPECT_EQ(bad2.status, 403) << bad2.body;
  EXPECT_EQ(ObservationCount(), before + 1);
  HttpResponse good = client_.Fhir(
      "POST", dep_.Base(), p1_,
      BundleOf("transaction", {Entry("POST", "Observation", Observation("", "p-1", "laboratory")),
                               Entry("GET", "Observation?_id=o2a,o1a")}));
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(ObservationCount(), before + 2);
  EXPECT_EQ(good.body.find("\"id\":\"o2a\""), std::string::npos);
  EXPECT_NE(good.body.find("\"id\":\"o1a\""), std::string::npos);
}

TEST_F(SmartTest, NarrowedScopeReachesMatchingResourcesOnly) {
  const std::string lab = IssueToken("user/Observation.rs?category=laboratory");
  EXPECT_EQ(Get("Observation/o1a", lab).status, 200);
  EXPECT_EQ(Get("Observation/o2a", lab).status, 200);
  const std::string missing = MissingBody(lab);
  for (const std::string id : {"o1b", "o2b", "o3"}) {
    HttpResponse r = Get("Observation/" + id, lab);
    EXPECT_EQ(r.status, 404) << id;
    EXPECT_EQ(r.body, missing) << id;
  }
  Page all = Search("Observation?_total=accurate", lab);
  EXPECT_EQ(all.matches, (Ids{"Observation/o1a", "Observation/o2a"}));
  EXPECT_EQ(all.total, 2);
  EXPECT_TRUE(Search("Observation?category=vital-signs", lab).matches.empty());
  EXPECT_EQ(Search("Observation?subject=Patient/p-2", lab).matches, (Ids{"Observation/o2a"}));
  int pages = 0;
  EXPECT_EQ(AllPages("Observation?_count=1", lab, &pages),
            (Ids{"Observation/o1a", "Observation/o2a"}));
  EXPECT_EQ(pages, 2);

  // Narrowing and compartment together.
  const std::string p1_lab = IssueToken("patient/Observation.rs?category=laboratory", "p-1");
  EXPECT_EQ(Search("Observation", p1_lab).matches, (Ids{"Observation/o1a"}));
  EXPECT_EQ(Get("Observation/o2a", p1_lab).status, 404);
  // Union: the laboratory Observations of anyone, or anything of p-1's.
  const std::string both =
      IssueToken("user/Observation.rs?category=laboratory patient/Observation.rs", "p-1");
  EXPECT_EQ(Search("Observation", both).matches,
            (Ids{"Observation/o1a", "Observation/o1b", "Observation/o2a", "Observation/o3"}));

  // Writes under a narrowed scope: the written resource must match.
  const std::string lab_write = IssueToken("user/Observation.cruds?category=laboratory");
  const int64_t before = ObservationCount();
  EXPECT_EQ(client_
                .Fhir("POST", dep_.Base() + "/Observation", lab_write,
                      Observation("", "p-1", "vital-signs"))
                .status,
            403);
  EXPECT_EQ(client_
                .Fhir("POST", dep_.Base() + "/Observation", lab_write,
                      Observation("", "p-1", "laboratory"))
                .status,
            201);
  EXPECT_EQ(client_.Fhir("DELETE", dep_.Base() + "/Observation/o1b", lab_write).status, 404);
  EXPECT_EQ(ObservationCount(), before + 1);
}

TEST_F(SmartTest, MalformedScopeQueryRefusesTheToken) {
  for (const std::string scope :
       {"user/Observation.rs?nosuchparam=1", "user/Observation.rs?_count=1",
        "user/Observation.rs?_include=Observation:subject"}) {
    const std::string tok = IssueToken(scope);
    HttpResponse r = Get("Observation/o1a", tok);
    EXPECT_EQ(r.status, 403) << scope << " " << r.body;
    EXPECT_NE(r.body.find("HYGIE-SCOPE-BAD"), std::string::npos) << scope;
  }
}

}  // namespace
}  // namespace hygie::e2e
