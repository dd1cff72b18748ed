// End-to-end tests of the FHIR REST interactions: create, read, update (and update as
// create), conditional update, delete, vread, the three kinds of history with paging,
// metadata and the ops endpoints.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

class CrudTest : public ::testing::Test {
 protected:
  void SetUp() override { errors_before_ = ServerErrorResponses(); }
  void TearDown() override {
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
  }

  std::string PatientBody(const std::string& family, const std::string& id = "") {
    std::string body = R"({"resourceType":"Patient",)";
    if (!id.empty()) body += R"("id":")" + id + R"(",)";
    return body + R"("name":[{"family":")" + family + R"(","given":["Ana"]}],"gender":"female"})";
  }

  Deployment dep_;
  HttpClient client_{dep_.port()};
  int64_t errors_before_ = 0;
};

std::string VersionIdOf(const std::string& body) {
  rapidjson::Document doc = ParseJson(body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("meta")) return "";
  return JsonString(doc["meta"], "versionId");
}

TEST_F(CrudTest, CreateReadUpdateDeleteLifecycle) {
  const std::string base = dep_.Base();
  const std::string& tok = dep_.token();

  HttpResponse created = client_.Fhir("POST", base + "/Patient", tok, PatientBody("Martin"));
  ASSERT_EQ(created.status, 201) << created.body;
  rapidjson::Document doc = ParseJson(created.body);
  ASSERT_FALSE(doc.HasParseError());
  const std::string id = JsonString(doc, "id");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(JsonString(doc, "resourceType"), "Patient");
  ASSERT_TRUE(doc.HasMember("meta"));
  EXPECT_EQ(JsonString(doc["meta"], "versionId"), "1");
  EXPECT_FALSE(JsonString(doc["meta"], "lastUpdated").empty());
  EXPECT_EQ(doc["name"][0]["family"].GetString(), std::string("Martin"));
  EXPECT_EQ(created.Header("etag"), "W/\"1\"");
  EXPECT_FALSE(created.Header("last-modified").empty());
  const std::string location = created.Header("location");
  EXPECT_TRUE(location.ends_with(base + "/Patient/" + id + "/_history/1")) << location;
  EXPECT_NE(created.Header("content-type").find("application/fhir+json"), std::string::npos);

  // The Location is usable as is.
  HttpResponse at_location = client_.Fhir("GET", PathOfUrl(location), tok);
  EXPECT_EQ(at_location.status, 200);
  EXPECT_EQ(at_location.body, created.body);

  HttpResponse read = client_.Fhir("GET", base + "/Patient/" + id, tok);
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(read.body, created.body);
  EXPECT_EQ(read.Header("etag"), "W/\"1\"");
  // Trailing slash and _format=json are the same read.
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id + "?_format=json", tok).body, created.body);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id + "/", tok).body, created.body);

  // Update: the id in the body, version 2.
  HttpResponse updated =
      client_.Fhir("PUT", base + "/Patient/" + id, tok, PatientBody("Martin-Durand", id));
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(VersionIdOf(updated.body), "2");
  EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
  EXPECT_NE(updated.body.find("Martin-Durand"), std::string::npos);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id, tok).body, updated.body);

  // If-Match on a stale version: 412, nothing written.
  HttpResponse stale = client_.Fhir("PUT", base + "/Patient/" + id, tok, PatientBody("Stale", id),
                                    {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_TRUE(IsOperationOutcome(stale.body));
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id, tok).body, updated.body);
  // If-Match on the current version: 200, version 3.
  HttpResponse matched = client_.Fhir("PUT", base + "/Patient/" + id, tok,
                                      PatientBody("Matched", id), {{"If-Match", "W/\"2\""}});
  EXPECT_EQ(matched.status, 200) << matched.body;
  EXPECT_EQ(VersionIdOf(matched.body), "3");
  // The strong form is accepted too.
  HttpResponse strong = client_.Fhir("PUT", base + "/Patient/" + id, tok, PatientBody("Strong", id),
                                     {{"If-Match", "\"3\""}});
  EXPECT_EQ(strong.status, 200) << strong.body;
  EXPECT_EQ(VersionIdOf(strong.body), "4");

  // A stale If-Match on delete: 412, nothing deleted.
  HttpResponse stale_delete =
      client_.Fhir("DELETE", base + "/Patient/" + id, tok, "", {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(stale_delete.status, 412);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id, tok).status, 200);

  HttpResponse deleted = client_.Fhir("DELETE", base + "/Patient/" + id, tok);
  EXPECT_EQ(deleted.status, 204);
  EXPECT_TRUE(deleted.body.empty());
  HttpResponse gone = client_.Fhir("GET", base + "/Patient/" + id, tok);
  EXPECT_EQ(gone.status, 410);
  EXPECT_TRUE(IsOperationOutcome(gone.body));
  // Deleting again changes nothing.
  EXPECT_EQ(client_.Fhir("DELETE", base + "/Patient/" + id, tok).status, 204);
  // Deleting what never existed.
  HttpResponse missing = client_.Fhir("DELETE", base + "/Patient/never-was", tok);
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(IsOperationOutcome(missing.body));
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/never-was", tok).status, 404);

  // Old versions stay readable.
  HttpResponse v1 = client_.Fhir("GET", base + "/Patient/" + id + "/_history/1", tok);
  EXPECT_EQ(v1.status, 200);
  EXPECT_EQ(v1.body, created.body);
  EXPECT_EQ(v1.Header("etag"), "W/\"1\"");
  HttpResponse v2 = client_.Fhir("GET", base + "/Patient/" + id + "/_history/2", tok);
  EXPECT_EQ(v2.status, 200);
  EXPECT_EQ(v2.body, updated.body);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id + "/_history/5", tok).status, 410);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id + "/_history/6", tok).status, 404);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/" + id + "/_history/0", tok).status, 400);

  // Instance history: all five versions, newest first.
  HttpResponse hist = client_.Fhir("GET", base + "/Patient/" + id + "/_history", tok);
  ASSERT_EQ(hist.status, 200) << hist.body;
  rapidjson::Document h = ParseJson(hist.body);
  ASSERT_FALSE(h.HasParseError());
  EXPECT_EQ(JsonString(h, "resourceType"), "Bundle");
  EXPECT_EQ(JsonString(h, "type"), "history");
  ASSERT_TRUE(h.HasMember("total"));
  EXPECT_EQ(h["total"].GetInt(), 5);
  ASSERT_TRUE(h.HasMember("entry") && h["entry"].IsArray());
  ASSERT_EQ(h["entry"].Size(), 5u);
  for (rapidjson::SizeType i = 0; i < 5; ++i) {
    const auto& e = h["entry"][i];
    EXPECT_EQ(JsonString(e["response"], "etag"), "W/\"" + std::to_string(5 - i) + "\"");
  }
  EXPECT_EQ(JsonString(h["entry"][0]["request"], "method"), "DELETE");
  EXPECT_FALSE(h["entry"][0].HasMember("resource"));
  EXPECT_EQ(JsonString(h["entry"][4]["resource"], "id"), id);
}

TEST_F(CrudTest, UpdateAsCreateWithClientId) {
  const std::string base = dep_.Base();
  HttpResponse r = client_.Fhir("PUT", base + "/Patient/client-chosen.1", dep_.token(),
                                PatientBody("Client", "client-chosen.1"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(VersionIdOf(r.body), "1");
  EXPECT_EQ(JsonString(ParseJson(r.body), "id"), "client-chosen.1");
  EXPECT_TRUE(r.Header("location").ends_with(base + "/Patient/client-chosen.1/_history/1"));
  HttpResponse again = client_.Fhir("PUT", base + "/Patient/client-chosen.1", dep_.token(),
                                    PatientBody("Client2", "client-chosen.1"));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(VersionIdOf(again.body), "2");
  // The longest id allowed (64 characters) works.
  const std::string long_id(64, 'a');
  EXPECT_EQ(
      client_.Fhir("PUT", base + "/Patient/" + long_id, dep_.token(), PatientBody("Long", long_id))
          .status,
      201);
  // If-Match on a resource that does not exist: nothing to match.
  HttpResponse no_match = client_.Fhir("PUT", base + "/Patient/absent", dep_.token(),
                                       PatientBody("X", "absent"), {{"If-Match", "W/\"1\""}});
  EXPECT_EQ(no_match.status, 412) << no_match.body;
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/absent", dep_.token()).status, 404);
  // Re-creating after delete continues the version sequence.
  EXPECT_EQ(client_.Fhir("DELETE", base + "/Patient/client-chosen.1", dep_.token()).status, 204);
  HttpResponse revived = client_.Fhir("PUT", base + "/Patient/client-chosen.1", dep_.token(),
                                      PatientBody("Back", "client-chosen.1"));
  EXPECT_EQ(revived.status, 201) << revived.body;
  EXPECT_EQ(VersionIdOf(revived.body), "4");
  // A server-assigned id is never taken from the body of a create.
  HttpResponse created = client_.Fhir("POST", base + "/Patient", dep_.token(),
                                      PatientBody("Ignored", "client-chosen.1"));
  ASSERT_EQ(created.status, 201);
  EXPECT_NE(JsonString(ParseJson(created.body), "id"), "client-chosen.1");
  EXPECT_EQ(VersionIdOf(client_.Fhir("GET", base + "/Patient/client-chosen.1", dep_.token()).body),
            "4");
}

TEST_F(CrudTest, PreferReturnMinimalAndOperationOutcome) {
  const std::string base = dep_.Base();
  HttpResponse minimal = client_.Fhir("POST", base + "/Patient", dep_.token(), PatientBody("M"),
                                      {{"Prefer", "return=minimal"}});
  EXPECT_EQ(minimal.status, 201);
  EXPECT_TRUE(minimal.body.empty());
  EXPECT_EQ(minimal.Header("etag"), "W/\"1\"");
  EXPECT_EQ(client_.Fhir("GET", PathOfUrl(minimal.Header("location")), dep_.token()).status, 200);
  HttpResponse oo = client_.Fhir("POST", base + "/Patient", dep_.token(), PatientBody("O"),
                                 {{"Prefer", "return=OperationOutcome"}});
  EXPECT_EQ(oo.status, 201);
  EXPECT_TRUE(IsOperationOutcome(oo.body));
}

TEST_F(CrudTest, HistoryPagingVisitsEveryVersionOnce) {
  const std::string base = dep_.Base();
  const std::string& tok = dep_.token();
  std::multiset<std::string> written;  // Type/id/version
  std::vector<std::string> patients;
  for (int i = 0; i < 7; ++i) {
    HttpResponse r =
        client_.Fhir("POST", base + "/Patient", tok, PatientBody("P" + std::to_string(i)));
    ASSERT_EQ(r.status, 201);
    std::string id = JsonString(ParseJson(r.body), "id");
    patients.push_back(id);
    written.insert("Patient/" + id + "/1");
  }
  // One patient with many versions, one deleted.
  for (int v = 2; v <= 9; ++v) {
    HttpResponse r = client_.Fhir("PUT", base + "/Patient/" + patients[0], tok,
                                  PatientBody("V" + std::to_string(v), patients[0]));
    ASSERT_EQ(r.status, 200);
    written.insert("Patient/" + patients[0] + "/" + std::to_string(v));
  }
  ASSERT_EQ(client_.Fhir("DELETE", base + "/Patient/" + patients[1], tok).status, 204);
  written.insert("Patient/" + patients[1] + "/2");
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = client_.Fhir(
        "POST", base + "/Observation", tok,
        R"({"resourceType":"Observation","status":"final","code":{"text":"hr"},"valueInteger":)" +
            std::to_string(60 + i) + "}");
    ASSERT_EQ(r.status, 201) << r.body;
    written.insert("Observation/" + JsonString(ParseJson(r.body), "id") + "/1");
  }

  auto subset = [&](const std::string& prefix) {
    std::multiset<std::string> s;
    for (const auto& w : written) {
      if (w.starts_with(prefix)) s.insert(w);
    }
    return s;
  };

  for (size_t count : {1u, 2u, 3u, 7u, 50u}) {
    const std::string q = "?_count=" + std::to_string(count);
    // System history.
    HistoryWalk sys = WalkHistory(client_, tok, base + "/_history" + q);
    ASSERT_TRUE(sys.ok) << sys.error;
    EXPECT_EQ(sys.total, static_cast<int64_t>(written.size()));
    EXPECT_EQ(std::multiset<std::string>(sys.entries.begin(), sys.entries.end()), written)
        << "count " << count;
    EXPECT_EQ(sys.pages, static_cast<int>((written.size() + count - 1) / count))
        << "count " << count;
    // Type history.
    HistoryWalk type = WalkHistory(client_, tok, base + "/Patient/_history" + q);
    ASSERT_TRUE(type.ok) << type.error;
    EXPECT_EQ(std::multiset<std::string>(type.entries.begin(), type.entries.end()),
              subset("Patient/"));
    EXPECT_EQ(type.total, static_cast<int64_t>(subset("Patient/").size()));
    // Instance history.
    HistoryWalk inst =
        WalkHistory(client_, tok, base + "/Patient/" + patients[0] + "/_history" + q);
    ASSERT_TRUE(inst.ok) << inst.error;
    EXPECT_EQ(inst.total, 9);
    ASSERT_EQ(inst.entries.size(), 9u);
    for (size_t i = 0; i < inst.entries.size(); ++i) {
      EXPECT_EQ(inst.entries[i], "Patient/" + patients[0] + "/" + std::to_string(9 - i))
          << "newest first";
    }
  }
  // _count=0: only the total.
  HttpResponse zero = client_.Fhir("GET", base + "/_history?_count=0", tok);
  ASSERT_EQ(zero.status, 200);
  rapidjson::Document z = ParseJson(zero.body);
  EXPECT_EQ(z["total"].GetInt64(), static_cast<int64_t>(written.size()));
  EXPECT_TRUE(!z.HasMember("entry") || z["entry"].Empty());
  // Writes made while paging do not make a page repeat or skip older entries.
  HistoryWalk first = WalkHistory(client_, tok, base + "/_history?_count=4", 1);
  ASSERT_EQ(first.entries.size(), 4u);
  HttpResponse page1 = client_.Fhir("GET", base + "/_history?_count=4", tok);
  rapidjson::Document p1 = ParseJson(page1.body);
  std::string next;
  for (const auto& l : p1["link"].GetArray()) {
    if (JsonString(l, "relation") == "next") next = PathOfUrl(JsonString(l, "url"));
  }
  ASSERT_FALSE(next.empty());
  ASSERT_EQ(client_.Fhir("POST", base + "/Patient", tok, PatientBody("Late")).status, 201);
  HistoryWalk rest = WalkHistory(client_, tok, next);
  ASSERT_TRUE(rest.ok) << rest.error;
  std::multiset<std::string> seen(first.entries.begin(), first.entries.end());
  seen.insert(rest.entries.begin(), rest.entries.end());
  EXPECT_EQ(seen, written);
}

TEST_F(CrudTest, MetadataAndOpsEndpointsNeedNoToken) {
  HttpResponse meta = client_.Request("GET", dep_.Base() + "/metadata");
  ASSERT_EQ(meta.status, 200) << meta.body;
  rapidjson::Document doc = ParseJson(meta.body);
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(JsonString(doc, "resourceType"), "CapabilityStatement");
  EXPECT_EQ(JsonString(doc, "fhirVersion"), "4.0.1");
  // The same for any tenant name, existing or not: it reveals nothing about tenants.
  EXPECT_EQ(client_.Request("GET", "/fhir/no-such-tenant/metadata").body, meta.body);
  EXPECT_EQ(client_.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(client_.Request("GET", "/readyz").status, 200);
  // Everything else needs a token.
  EXPECT_EQ(client_.Request("GET", dep_.Base() + "/Patient/x").status, 401);
  EXPECT_EQ(client_.Request("GET", dep_.Base() + "/_history").status, 401);
  // Unknown endpoints outside /fhir.
  HttpResponse nothing = client_.Request("GET", "/admin/secrets");
  EXPECT_EQ(nothing.status, 404);
  EXPECT_TRUE(IsOperationOutcome(nothing.body));
}

TEST_F(CrudTest, DataSurvivesRestart) {
  const std::string base = dep_.Base();
  std::map<std::string, std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = client_.Fhir("POST", base + "/Patient", dep_.token(), PatientBody("R"));
    ASSERT_EQ(r.status, 201);
    bodies[JsonString(ParseJson(r.body), "id")] = r.body;
  }
  dep_.Restart();
  HttpClient c(dep_.port());
  for (const auto& [id, body] : bodies) {
    HttpResponse r = c.Fhir("GET", base + "/Patient/" + id, dep_.token());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, body);
  }
}

}  // namespace
}  // namespace hygie::e2e
