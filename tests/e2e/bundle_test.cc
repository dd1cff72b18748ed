// End-to-end tests of the write side beyond plain CRUD, against the real server: batch and
// transaction Bundles (urn:uuid references, ifNoneExist, conditional update, PATCH entries,
// all-or-nothing, the entry limit), conditional create/update/delete/patch, JSON Patch,
// validation of every write against the R4 base definitions and $validate.

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "support/harness.h"

namespace hygie::e2e {
namespace {

// One entry of a batch-response or transaction-response.
struct EntryResult {
  std::string status;  // "201 Created"
  std::string location;
  std::string etag;
  std::string full_url;
  std::string resource_type;
  std::string id;
  std::string resource;  // serialized, when present
  std::string outcome;   // serialized response.outcome, when present
};

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// The entries of a *-response Bundle; `type` receives Bundle.type.
std::vector<EntryResult> ResponseEntries(const std::string& body, std::string* type) {
  std::vector<EntryResult> out;
  rapidjson::Document doc = ParseJson(body);
  if (doc.HasParseError() || !doc.IsObject()) return out;
  if (type != nullptr) *type = JsonString(doc, "type");
  if (!doc.HasMember("entry") || !doc["entry"].IsArray()) return out;
  for (const auto& e : doc["entry"].GetArray()) {
    EntryResult r;
    r.full_url = JsonString(e, "fullUrl");
    if (e.HasMember("response")) {
      const auto& res = e["response"];
      r.status = JsonString(res, "status");
      r.location = JsonString(res, "location");
      r.etag = JsonString(res, "etag");
      if (res.HasMember("outcome")) r.outcome = Serialize(res["outcome"]);
    }
    if (e.HasMember("resource")) {
      r.resource = Serialize(e["resource"]);
      r.resource_type = JsonString(e["resource"], "resourceType");
      r.id = JsonString(e["resource"], "id");
    }
    out.push_back(std::move(r));
  }
  return out;
}

// Every issue.expression of an OperationOutcome, flattened.
std::vector<std::string> IssueExpressions(const std::string& outcome) {
  std::vector<std::string> out;
  rapidjson::Document doc = ParseJson(outcome);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("issue")) return out;
  for (const auto& issue : doc["issue"].GetArray()) {
    if (!issue.HasMember("expression") || !issue["expression"].IsArray()) continue;
    for (const auto& x : issue["expression"].GetArray()) {
      if (x.IsString()) out.emplace_back(x.GetString());
    }
  }
  return out;
}

// Severities of the issues of an OperationOutcome.
std::multiset<std::string> IssueSeverities(const std::string& outcome) {
  std::multiset<std::string> out;
  rapidjson::Document doc = ParseJson(outcome);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("issue")) return out;
  for (const auto& issue : doc["issue"].GetArray()) out.insert(JsonString(issue, "severity"));
  return out;
}

std::string Entry(const std::string& method, const std::string& url,
                  const std::string& resource = "", const std::string& full_url = "",
                  const std::string& request_extra = "") {
  std::string e = "{";
  if (!full_url.empty()) e += R"("fullUrl":")" + full_url + R"(",)";
  if (!resource.empty()) e += R"("resource":)" + resource + ",";
  e += R"("request":{"method":")" + method + R"(","url":")" + url + "\"" +
       (request_extra.empty() ? "" : "," + request_extra) + "}}";
  return e;
}

std::string BundleOf(const std::string& type, const std::vector<std::string>& entries) {
  std::string b = R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)";
  for (size_t i = 0; i < entries.size(); ++i) b += (i == 0 ? "" : ",") + entries[i];
  return b + "]}";
}

std::string PatientJson(const std::string& family, const std::string& extra = "") {
  return R"({"resourceType":"Patient","name":[{"family":")" + family + R"("}])" +
         (extra.empty() ? "" : "," + extra) + "}";
}

std::string ObservationJson(const std::string& subject, const std::string& extra = "") {
  return R"({"resourceType":"Observation","status":"final","code":{"text":"t"},)"
         R"("subject":{"reference":")" +
         subject + R"("})" + (extra.empty() ? "" : "," + extra) + "}";
}

// A FHIR Binary carrying a JSON Patch, as a PATCH entry of a Bundle.
std::string PatchBinary(const std::string& json_patch) {
  return R"({"resourceType":"Binary","contentType":"application/json-patch+json","data":")" +
         crypto::Base64Encode(AsBytes(json_patch)) + R"("})";
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override { errors_before_ = ServerErrorResponses(); }
  void TearDown() override {
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
  }

  const std::string& tok() const { return dep_.token(); }
  std::string Base() const { return dep_.Base(); }

  HttpResponse Post(const std::string& bundle) {
    return client_.Fhir("POST", Base(), tok(), bundle);
  }
  // Creates a resource; returns its id.
  std::string Create(const std::string& body) {
    const std::string type = JsonString(ParseJson(body), "resourceType");
    HttpResponse r = client_.Fhir("POST", Base() + "/" + type, tok(), body);
    EXPECT_EQ(r.status, 201) << r.body;
    return JsonString(ParseJson(r.body), "id");
  }
  // The ids of the current resources matching a search (one page).
  std::set<std::string> Find(const std::string& query) {
    std::string target = Base() + query;
    for (size_t i = target.find('|'); i != std::string::npos; i = target.find('|', i)) {
      target.replace(i, 1, "%7C");
    }
    HttpResponse r = client_.Fhir("GET", target, tok());
    EXPECT_EQ(r.status, 200) << query << " -> " << r.body;
    std::set<std::string> ids;
    rapidjson::Document doc = ParseJson(r.body);
    if (doc.HasParseError() || !doc.HasMember("entry")) return ids;
    for (const auto& e : doc["entry"].GetArray()) {
      if (e.HasMember("search") && JsonString(e["search"], "mode") == "match") {
        ids.insert(JsonString(e["resource"], "id"));
      }
    }
    return ids;
  }
  int64_t Versions() { return HistoryTotal(client_, tok(), Base() + "/_history"); }
  rapidjson::Document Read(const std::string& path) {
    HttpResponse r = client_.Fhir("GET", Base() + "/" + path, tok());
    EXPECT_EQ(r.status, 200) << path << " -> " << r.body;
    return ParseJson(r.body);
  }

  Deployment dep_;
  HttpClient client_{dep_.port()};
  int64_t errors_before_ = 0;
};

TEST_F(BundleTest, TransactionResolvesUrnUuidReferences) {
  const std::string pract = Create(R"({"resourceType":"Practitioner","name":[{"family":"Doc"}]})");
  const std::string up = "urn:uuid:8d3bb6a5-0c0e-4b0e-9a8e-000000000001";
  const std::string ue = "urn:uuid:8d3bb6a5-0c0e-4b0e-9a8e-000000000002";
  const std::string uo1 = "urn:uuid:8d3bb6a5-0c0e-4b0e-9a8e-000000000003";
  const std::string identifier = R"("identifier":[{"system":"urn:tx","value":"tx-1"}])";
  const std::string encounter =
      R"({"resourceType":"Encounter","status":"finished","class":{"system":)"
      R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},)"
      R"("subject":{"reference":")" +
      up + R"("},"participant":[{"individual":{"reference":"Practitioner/)" + pract + R"("}}]})";
  const int64_t before = Versions();
  // The references come before the entries they name; a GET reads what the transaction wrote.
  HttpResponse res =
      Post(BundleOf("transaction",
                    {Entry("POST", "Observation",
                           ObservationJson(up, R"("encounter":{"reference":")" + ue +
                                                   R"("},)"
                                                   R"("hasMember":[{"reference":")" +
                                                   uo1 + R"("}])"),
                           "urn:uuid:8d3bb6a5-0c0e-4b0e-9a8e-000000000004"),
                     Entry("GET", "Patient?identifier=urn:tx%7Ctx-1"),
                     Entry("POST", "Observation", ObservationJson(up, R"("valueString":"x")"), uo1),
                     Entry("POST", "Encounter", encounter, ue),
                     Entry("POST", "Patient", PatientJson("Tx", identifier), up)}));
  ASSERT_EQ(res.status, 200) << res.body;
  std::string type;
  std::vector<EntryResult> entries = ResponseEntries(res.body, &type);
  EXPECT_EQ(type, "transaction-response");
  ASSERT_EQ(entries.size(), 5u) << res.body;
  // In request order.
  EXPECT_EQ(entries[0].resource_type, "Observation");
  EXPECT_EQ(entries[1].status.substr(0, 3), "200");
  EXPECT_EQ(entries[2].resource_type, "Observation");
  EXPECT_EQ(entries[3].resource_type, "Encounter");
  EXPECT_EQ(entries[4].resource_type, "Patient");
  for (size_t i : {0u, 2u, 3u, 4u}) {
    EXPECT_EQ(entries[i].status, "201 Created") << i;
    EXPECT_EQ(entries[i].etag, "W/\"1\"") << i;
    EXPECT_TRUE(entries[i].location.ends_with(Base() + "/" + entries[i].resource_type + "/" +
                                              entries[i].id + "/_history/1"))
        << entries[i].location;
    EXPECT_FALSE(entries[i].id.empty());
    // The location is usable.
    EXPECT_EQ(client_.Fhir("GET", PathOfUrl(entries[i].location), tok()).status, 200);
  }
  const std::string pid = entries[4].id, eid = entries[3].id;
  const std::string o1 = entries[2].id, o0 = entries[0].id;
  // The GET ran after the writes: it finds the new patient.
  rapidjson::Document read_back = ParseJson(entries[1].resource);
  ASSERT_FALSE(read_back.HasParseError()) << entries[1].resource;
  EXPECT_EQ(JsonString(read_back, "resourceType"), "Bundle");
  ASSERT_TRUE(read_back.HasMember("entry"));
  EXPECT_EQ(read_back["entry"].Size(), 1u);
  EXPECT_EQ(JsonString(read_back["entry"][0]["resource"], "id"), pid);

  // References rewritten to Type/id, in the response and in storage.
  rapidjson::Document obs = Read("Observation/" + o0);
  EXPECT_EQ(JsonString(obs["subject"], "reference"), "Patient/" + pid);
  EXPECT_EQ(JsonString(obs["encounter"], "reference"), "Encounter/" + eid);
  EXPECT_EQ(JsonString(obs["hasMember"][0], "reference"), "Observation/" + o1);
  EXPECT_EQ(ParseJson(entries[0].resource)["subject"]["reference"].GetString(), "Patient/" + pid);
  rapidjson::Document enc = Read("Encounter/" + eid);
  EXPECT_EQ(JsonString(enc["subject"], "reference"), "Patient/" + pid);
  EXPECT_EQ(JsonString(enc["participant"][0]["individual"], "reference"), "Practitioner/" + pract);
  EXPECT_EQ(Find("/Observation?subject=Patient/" + pid), std::set<std::string>({o0, o1}));
  EXPECT_EQ(Find("/Observation?encounter=" + eid), std::set<std::string>({o0}));
  EXPECT_EQ(Versions(), before + 4);

  // A urn:uuid that names no entry: refused, nothing written.
  HttpResponse dangling = Post(BundleOf(
      "transaction", {Entry("POST", "Patient", PatientJson("Dangling"), up),
                      Entry("POST", "Observation", ObservationJson("urn:uuid:no-such-entry"))}));
  EXPECT_EQ(dangling.status, 400) << dangling.body;
  EXPECT_TRUE(IsOperationOutcome(dangling.body));
  EXPECT_EQ(Versions(), before + 4);
  EXPECT_TRUE(Find("/Patient?family=Dangling").empty());
}

TEST_F(BundleTest, IfNoneExistReusesTheExistingResource) {
  const std::string existing =
      Create(PatientJson("Existing", R"("identifier":[{"system":"urn:mrn","value":"77"}])"));
  const std::string up = "urn:uuid:1b0e2a47-6c3f-4d7e-8a51-0000000000aa";
  auto bundle = [&](const std::string& mrn) {
    return BundleOf(
        "transaction",
        {Entry("POST", "Patient",
               PatientJson("New", R"("identifier":[{"system":"urn:mrn","value":")" + mrn + "\"}]"),
               up, R"("ifNoneExist":"identifier=urn:mrn%7C)" + mrn + "\""),
         Entry("POST", "Observation", ObservationJson(up))});
  };
  const int64_t before = Versions();
  HttpResponse res = Post(bundle("77"));
  ASSERT_EQ(res.status, 200) << res.body;
  std::vector<EntryResult> entries = ResponseEntries(res.body, nullptr);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].status.substr(0, 3), "200");
  EXPECT_EQ(entries[0].id, existing);
  EXPECT_EQ(entries[1].status, "201 Created");
  EXPECT_EQ(JsonString(Read("Observation/" + entries[1].id)["subject"], "reference"),
            "Patient/" + existing);
  EXPECT_EQ(Versions(), before + 1) << "only the Observation was written";
  EXPECT_EQ(Find("/Patient?identifier=urn:mrn|77"), std::set<std::string>({existing}));
  EXPECT_EQ(JsonString(Read("Patient/" + existing)["meta"], "versionId"), "1");

  // No match: created once, then reused by the same transaction sent again.
  HttpResponse first = Post(bundle("88"));
  ASSERT_EQ(first.status, 200) << first.body;
  std::vector<EntryResult> e1 = ResponseEntries(first.body, nullptr);
  ASSERT_EQ(e1.size(), 2u);
  EXPECT_EQ(e1[0].status, "201 Created");
  HttpResponse second = Post(bundle("88"));
  ASSERT_EQ(second.status, 200) << second.body;
  std::vector<EntryResult> e2 = ResponseEntries(second.body, nullptr);
  ASSERT_EQ(e2.size(), 2u);
  EXPECT_EQ(e2[0].status.substr(0, 3), "200");
  EXPECT_EQ(e2[0].id, e1[0].id);
  EXPECT_EQ(Find("/Patient?identifier=urn:mrn|88"), std::set<std::string>({e1[0].id}));
  EXPECT_EQ(Find("/Observation?subject=Patient/" + e1[0].id),
            std::set<std::string>({e1[1].id, e2[1].id}));

  // Two matches: 412 and nothing written.
  Create(PatientJson("Dup", R"("identifier":[{"system":"urn:mrn","value":"99"}])"));
  Create(PatientJson("Dup", R"("identifier":[{"system":"urn:mrn","value":"99"}])"));
  const int64_t mid = Versions();
  HttpResponse dup = Post(bundle("99"));
  EXPECT_EQ(dup.status, 412) << dup.body;
  EXPECT_TRUE(IsOperationOutcome(dup.body));
  EXPECT_EQ(Versions(), mid);
  // An ifNoneExist that is not a valid search: 400, nothing written.
  HttpResponse bad = Post(BundleOf("transaction", {Entry("POST", "Patient", PatientJson("Bad"), "",
                                                         R"("ifNoneExist":"nosuchparam=1")")}));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(Versions(), mid);
}

TEST_F(BundleTest, FailingTransactionWritesNothing) {
  const std::string victim = Create(PatientJson("Victim"));
  const std::string updated = Create(PatientJson("Updated"));
  const std::string patched = Create(PatientJson("ToPatch"));
  const int64_t before = Versions();
  const std::string good1 = Entry("POST", "Patient", PatientJson("AllOrNothing"));
  const std::string good2 = Entry("POST", "Observation", ObservationJson("Patient/" + victim));
  const std::string del = Entry("DELETE", "Patient/" + victim);
  const std::string put = Entry(
      "PUT", "Patient/" + updated,
      R"({"resourceType":"Patient","id":")" + updated + R"(","name":[{"family":"Changed"}]})");
  const std::string patch =
      Entry("PATCH", "Patient/" + patched,
            PatchBinary(R"([{"op":"replace","path":"/name/0/family","value":"Patched"}])"));

  struct Case {
    std::string what;
    std::string failing;
    std::set<int> statuses;
  };
  const std::vector<Case> cases = {
      {"invalid resource", Entry("POST", "Patient", PatientJson("Bad", R"("gender":"m")")), {400}},
      {"unknown element",
       Entry("POST", "Patient", R"({"resourceType":"Patient","nope":1})"),
       {400}},
      {"If-Match conflict",
       Entry("PUT", "Patient/" + updated,
             R"({"resourceType":"Patient","id":")" + updated + R"(","active":true})", "",
             R"("ifMatch":"W/\"7\"")"),
       {412}},
      {"failing patch test",
       Entry("PATCH", "Patient/" + victim,
             PatchBinary(R"([{"op":"test","path":"/name/0/family","value":"Wrong"}])")),
       {400, 422}},
      {"update without an id",
       Entry("PUT", "Observation/x", ObservationJson("Patient/" + victim)),
       {400}},
      {"patch of a missing resource",
       Entry("PATCH", "Patient/no-such-patient",
             PatchBinary(R"([{"op":"add","path":"/active","value":true}])")),
       {404}},
      {"resource type differs from the url",
       Entry("POST", "Observation", PatientJson("Mismatch")),
       {400}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    // The failing entry first, last and in the middle.
    for (int where = 0; where < 3; ++where) {
      std::vector<std::string> entries = {good1, del, put, patch, good2};
      entries.insert(entries.begin() + (where == 0 ? 0 : where == 1 ? 3 : 5), c.failing);
      HttpResponse res = Post(BundleOf("transaction", entries));
      EXPECT_EQ(c.statuses.count(res.status), 1u) << res.status << " " << res.body;
      EXPECT_TRUE(IsOperationOutcome(res.body)) << res.body;
      EXPECT_EQ(Versions(), before);
      EXPECT_TRUE(Find("/Patient?family=AllOrNothing").empty());
      EXPECT_TRUE(Find("/Observation?subject=Patient/" + victim).empty());
      EXPECT_EQ(client_.Fhir("GET", Base() + "/Patient/" + victim, tok()).status, 200);
      EXPECT_EQ(JsonString(Read("Patient/" + updated)["meta"], "versionId"), "1");
      EXPECT_EQ(HistoryTotal(client_, tok(), Base() + "/Patient/" + updated + "/_history"), 1);
      EXPECT_EQ(HistoryTotal(client_, tok(), Base() + "/Patient/" + patched + "/_history"), 1);
    }
  }
  // The same entries without the failing one all apply.
  HttpResponse ok = Post(BundleOf("transaction", {good1, del, put, patch, good2}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  std::vector<EntryResult> entries = ResponseEntries(ok.body, nullptr);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].status, "201 Created");
  EXPECT_EQ(entries[1].status.substr(0, 3), "204");
  EXPECT_EQ(entries[2].status, "200 OK");
  EXPECT_EQ(entries[3].status, "200 OK");
  EXPECT_EQ(entries[4].status, "201 Created");
  EXPECT_EQ(Versions(), before + 5);
  EXPECT_EQ(client_.Fhir("GET", Base() + "/Patient/" + victim, tok()).status, 410);
  EXPECT_EQ(Find("/Patient?family=Changed"), std::set<std::string>({updated}));
  EXPECT_EQ(Find("/Patient?family=Patched"), std::set<std::string>({patched}));
  // One resource written twice in a transaction: refused, nothing written.
  const int64_t after = Versions();
  HttpResponse twice = Post(BundleOf(
      "transaction", {put, Entry("PATCH", "Patient/" + updated,
                                 PatchBinary(R"([{"op":"add","path":"/active","value":true}])"))}));
  EXPECT_GE(twice.status, 400) << twice.body;
  EXPECT_LT(twice.status, 500) << twice.body;
  EXPECT_EQ(Versions(), after);
}

TEST_F(BundleTest, BatchHasOneOutcomePerEntry) {
  const std::string existing = Create(PatientJson("Batch"));
  const std::string doomed = Create(PatientJson("Doomed"));
  const int64_t before = Versions();
  HttpResponse res = Post(BundleOf(
      "batch", {Entry("POST", "Patient", PatientJson("BatchNew")),
                Entry("POST", "Patient", PatientJson("BatchBad", R"("gender":"m")")),
                Entry("GET", "Patient/" + existing), Entry("GET", "Patient/no-such-id"),
                Entry("DELETE", "Patient/" + doomed),
                Entry("PUT", "Patient/" + existing,
                      R"({"resourceType":"Patient","id":")" + existing + R"(","active":true})", "",
                      R"("ifMatch":"W/\"3\"")"),
                Entry("GET", "Patient?family=BatchNew"),
                Entry("PATCH", "Patient/" + existing,
                      PatchBinary(R"([{"op":"add","path":"/active","value":false}])"))}));
  ASSERT_EQ(res.status, 200) << res.body;
  std::string type;
  std::vector<EntryResult> e = ResponseEntries(res.body, &type);
  EXPECT_EQ(type, "batch-response");
  ASSERT_EQ(e.size(), 8u) << res.body;
  EXPECT_EQ(e[0].status, "201 Created");
  EXPECT_EQ(e[1].status.substr(0, 3), "400");
  EXPECT_TRUE(IsOperationOutcome(e[1].outcome)) << e[1].outcome;
  EXPECT_EQ(e[2].status, "200 OK");
  EXPECT_EQ(e[2].id, existing);
  EXPECT_EQ(e[3].status.substr(0, 3), "404");
  EXPECT_EQ(e[4].status.substr(0, 3), "204");
  EXPECT_EQ(e[5].status.substr(0, 3), "412");
  EXPECT_EQ(e[6].status, "200 OK");
  EXPECT_EQ(e[7].status, "200 OK");
  EXPECT_EQ(e[7].etag, "W/\"2\"");
  // What succeeded is stored, what failed is not.
  EXPECT_EQ(Versions(), before + 3);
  EXPECT_EQ(Find("/Patient?family=BatchNew"), std::set<std::string>({e[0].id}));
  EXPECT_TRUE(Find("/Patient?family=BatchBad").empty());
  EXPECT_EQ(client_.Fhir("GET", Base() + "/Patient/" + doomed, tok()).status, 410);
  rapidjson::Document patched = Read("Patient/" + existing);
  EXPECT_FALSE(patched["active"].GetBool());
  // A batch reads after its own earlier entries, in order (unlike a transaction).
  rapidjson::Document search = ParseJson(e[6].resource);
  ASSERT_TRUE(search.HasMember("entry")) << e[6].resource;
  EXPECT_EQ(search["entry"].Size(), 1u);
}

TEST_F(BundleTest, ConditionalUpdateAndPatchEntries) {
  const std::string up = "urn:uuid:5f1b1e5e-7d2c-4a0b-9a77-0000000000c1";
  auto tx = [&](const std::string& family) {
    return BundleOf(
        "transaction",
        {Entry("PUT", "Patient?identifier=urn:cu%7C1",
               PatientJson(family, R"("identifier":[{"system":"urn:cu","value":"1"}])"), up),
         Entry("POST", "Observation", ObservationJson(up))});
  };
  HttpResponse first = Post(tx("CondCreated"));
  ASSERT_EQ(first.status, 200) << first.body;
  std::vector<EntryResult> e1 = ResponseEntries(first.body, nullptr);
  ASSERT_EQ(e1.size(), 2u);
  EXPECT_EQ(e1[0].status, "201 Created");
  const std::string pid = e1[0].id;
  EXPECT_EQ(JsonString(Read("Observation/" + e1[1].id)["subject"], "reference"), "Patient/" + pid);

  // PATCH entries in a transaction, with ifMatch.
  HttpResponse patched = Post(BundleOf(
      "transaction",
      {Entry("PATCH", "Patient/" + pid,
             PatchBinary(R"([{"op":"replace","path":"/name/0/family","value":"CondPatched"},)"
                         R"({"op":"add","path":"/gender","value":"other"}])"),
             "", R"("ifMatch":"W/\"1\"")")}));
  ASSERT_EQ(patched.status, 200) << patched.body;
  std::vector<EntryResult> e3 = ResponseEntries(patched.body, nullptr);
  ASSERT_EQ(e3.size(), 1u);
  EXPECT_EQ(e3[0].status, "200 OK");
  EXPECT_EQ(e3[0].etag, "W/\"2\"");
  rapidjson::Document p = Read("Patient/" + pid);
  EXPECT_EQ(JsonString(p["name"][0], "family"), "CondPatched");
  EXPECT_EQ(JsonString(p, "gender"), "other");
  // The same transaction again: the condition now matches, the patient is updated (its body
  // carries no id: the match gives it).
  HttpResponse second = Post(tx("CondUpdated"));
  EXPECT_EQ(second.status, 200) << second.body;
  std::vector<EntryResult> e2 = ResponseEntries(second.body, nullptr);
  if (e2.size() == 2u) {
    EXPECT_EQ(e2[0].status, "200 OK");
    EXPECT_EQ(e2[0].id, pid);
    EXPECT_EQ(e2[0].etag, "W/\"3\"");
    EXPECT_EQ(JsonString(Read("Observation/" + e2[1].id)["subject"], "reference"),
              "Patient/" + pid);
  }
  EXPECT_EQ(Find("/Patient?identifier=urn:cu%7C1"), std::set<std::string>({pid}));
  EXPECT_EQ(Find("/Patient?family=CondUpdated"), std::set<std::string>({pid}));
  EXPECT_TRUE(Find("/Patient?family=CondPatched").empty());

  // A PATCH entry whose Binary holds no valid base64: refused, nothing written.
  const int64_t before = Versions();
  HttpResponse bad = Post(BundleOf(
      "transaction",
      {Entry(
          "PATCH", "Patient/" + pid,
          R"({"resourceType":"Binary","contentType":"application/json-patch+json","data":"%%%"})")}));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(Versions(), before);
  // A conditional update matching two resources: 412, nothing written.
  Create(PatientJson("Two", R"("identifier":[{"system":"urn:cu","value":"2"}])"));
  Create(PatientJson("Two", R"("identifier":[{"system":"urn:cu","value":"2"}])"));
  const int64_t mid = Versions();
  HttpResponse two = Post(BundleOf(
      "transaction",
      {Entry("PUT", "Patient?identifier=urn:cu%7C2",
             PatientJson("Three", R"("identifier":[{"system":"urn:cu","value":"2"}])"), up)}));
  EXPECT_EQ(two.status, 412) << two.body;
  EXPECT_EQ(Versions(), mid);
}

TEST_F(BundleTest, MalformedAndOversizedBundles) {
  const int64_t before = Versions();
  // 1001 entries: refused before anything runs.
  std::vector<std::string> many;
  for (int i = 0; i < 1001; ++i) many.push_back(Entry("POST", "Patient", PatientJson("Many")));
  for (const std::string& type : std::vector<std::string>{"transaction", "batch"}) {
    HttpResponse res = Post(BundleOf(type, many));
    EXPECT_EQ(res.status, 413) << res.body.substr(0, 300);
    EXPECT_TRUE(IsOperationOutcome(res.body));
  }
  EXPECT_EQ(Versions(), before);
  EXPECT_TRUE(Find("/Patient?family=Many").empty());
  // 1000 entries are accepted.
  std::vector<std::string> reads;
  for (int i = 0; i < 1000; ++i)
    reads.push_back(Entry("GET", "Patient/missing-" + std::to_string(i)));
  HttpResponse thousand = Post(BundleOf("batch", reads));
  ASSERT_EQ(thousand.status, 200) << thousand.body.substr(0, 300);
  std::vector<EntryResult> e = ResponseEntries(thousand.body, nullptr);
  ASSERT_EQ(e.size(), 1000u);
  for (const EntryResult& r : e) EXPECT_EQ(r.status.substr(0, 3), "404");

  const std::vector<std::string> bad = {
      "not json",
      R"({"resourceType":"Patient"})",
      R"({"resourceType":"Bundle","type":"collection","entry":[]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":{}})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[1]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"FROB","url":"Patient"}}]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"}}]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"https://evil.example/fhir/acme/Patient"}}]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient/abc"}}]})",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Bundle","type":"batch"},"request":{"method":"POST","url":""}}]})",
  };
  for (const std::string& b : bad) {
    HttpResponse res = Post(b);
    EXPECT_EQ(res.status, 400) << b << " -> " << res.body;
    EXPECT_TRUE(IsOperationOutcome(res.body)) << b;
  }
  HttpResponse xml =
      client_.Fhir("POST", Base(), tok(), "<Bundle/>", {{"Content-Type", "application/fhir+xml"}});
  EXPECT_EQ(xml.status, 415);
  EXPECT_EQ(Versions(), before);
  // An empty transaction is fine and writes nothing.
  HttpResponse empty = Post(R"({"resourceType":"Bundle","type":"transaction"})");
  EXPECT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Versions(), before);
}

// The FHIR specification writes token searches with a bare '|' inside Bundle.entry.request
// (ifNoneExist, url) and in the If-None-Exist header, none of which is a request target.
TEST_F(BundleTest, BarePipesInConditionsAsTheSpecificationWritesThem) {
  const std::string up = "urn:uuid:0c6d2f3e-1111-4a2b-8c3d-0000000000d1";
  auto tx = [&] {
    return BundleOf(
        "transaction",
        {Entry("POST", "Patient",
               PatientJson("Pipe", R"("identifier":[{"system":"urn:raw","value":"1"}])"), up,
               R"("ifNoneExist":"identifier=urn:raw|1")"),
         Entry("PUT", "Patient?identifier=urn:raw|2",
               PatientJson("Pipe2", R"("identifier":[{"system":"urn:raw","value":"2"}])")),
         Entry("GET", "Patient?identifier=urn:raw|1")});
  };
  HttpResponse first = Post(tx());
  ASSERT_EQ(first.status, 200) << first.body;
  std::vector<EntryResult> e1 = ResponseEntries(first.body, nullptr);
  ASSERT_EQ(e1.size(), 3u);
  EXPECT_EQ(e1[0].status, "201 Created");
  EXPECT_EQ(e1[1].status, "201 Created");
  EXPECT_EQ(e1[2].status, "200 OK");
  HttpResponse second = Post(tx());
  ASSERT_EQ(second.status, 200) << second.body;
  std::vector<EntryResult> e2 = ResponseEntries(second.body, nullptr);
  ASSERT_EQ(e2.size(), 3u);
  EXPECT_EQ(e2[0].status.substr(0, 3), "200");
  EXPECT_EQ(e2[0].id, e1[0].id);
  EXPECT_EQ(e2[1].status, "200 OK");
  EXPECT_EQ(e2[1].id, e1[1].id);
  EXPECT_EQ(Find("/Patient?identifier=urn:raw%7C1"), std::set<std::string>({e1[0].id}));
  HttpResponse header = client_.Fhir("POST", Base() + "/Patient", tok(), PatientJson("Pipe"),
                                     {{"If-None-Exist", "identifier=urn:raw|1"}});
  EXPECT_EQ(header.status, 200) << header.body;
  EXPECT_EQ(JsonString(ParseJson(header.body), "id"), e1[0].id);
}

class BundleConditionalTest : public BundleTest {};

TEST_F(BundleConditionalTest, ConditionalCreateUpdateDeleteAndPatch) {
  auto patient = [](const std::string& family, const std::string& mrn) {
    return PatientJson(family, R"("identifier":[{"system":"urn:c","value":")" + mrn + "\"}]");
  };
  // Conditional create: 0 matches creates, 1 returns the match, 2 is a 412.
  HttpResponse c0 = client_.Fhir("POST", Base() + "/Patient", tok(), patient("C", "1"),
                                 {{"If-None-Exist", "identifier=urn:c%7C1"}});
  ASSERT_EQ(c0.status, 201) << c0.body;
  const std::string id1 = JsonString(ParseJson(c0.body), "id");
  const int64_t after_create = Versions();
  HttpResponse c1 = client_.Fhir("POST", Base() + "/Patient", tok(), patient("C-again", "1"),
                                 {{"If-None-Exist", "identifier=urn:c%7C1"}});
  EXPECT_EQ(c1.status, 200) << c1.body;
  EXPECT_EQ(JsonString(ParseJson(c1.body), "id"), id1);
  EXPECT_EQ(Versions(), after_create);
  EXPECT_TRUE(Find("/Patient?family=C-again").empty());
  // The full-URL form of the header works too.
  HttpResponse c1b = client_.Fhir("POST", Base() + "/Patient", tok(), patient("C-again", "1"),
                                  {{"If-None-Exist", "Patient?identifier=urn:c%7C1"}});
  EXPECT_EQ(c1b.status, 200) << c1b.body;
  Create(patient("C2", "2"));
  Create(patient("C2", "2"));
  const int64_t with_dups = Versions();
  HttpResponse c2 = client_.Fhir("POST", Base() + "/Patient", tok(), patient("C3", "2"),
                                 {{"If-None-Exist", "identifier=urn:c%7C2"}});
  EXPECT_EQ(c2.status, 412) << c2.body;
  EXPECT_TRUE(IsOperationOutcome(c2.body));
  HttpResponse c_bad = client_.Fhir("POST", Base() + "/Patient", tok(), patient("C3", "3"),
                                    {{"If-None-Exist", "nosuchparam=2"}});
  EXPECT_EQ(c_bad.status, 400) << c_bad.body;
  EXPECT_EQ(Versions(), with_dups);

  // Conditional update: 0 creates, 1 updates, 2 is a 412.
  HttpResponse u0 =
      client_.Fhir("PUT", Base() + "/Patient?identifier=urn:c%7C5", tok(), patient("U", "5"));
  ASSERT_EQ(u0.status, 201) << u0.body;
  const std::string id5 = JsonString(ParseJson(u0.body), "id");
  EXPECT_FALSE(id5.empty());
  HttpResponse u1 =
      client_.Fhir("PUT", Base() + "/Patient?identifier=urn:c%7C5", tok(), patient("U-two", "5"));
  EXPECT_EQ(u1.status, 200) << u1.body;
  EXPECT_EQ(JsonString(ParseJson(u1.body), "id"), id5);
  EXPECT_EQ(u1.Header("etag"), "W/\"2\"");
  EXPECT_EQ(Find("/Patient?identifier=urn:c%7C5"), std::set<std::string>({id5}));
  // The body's id must agree with the match.
  HttpResponse u_id = client_.Fhir(
      "PUT", Base() + "/Patient?identifier=urn:c%7C5", tok(),
      R"({"resourceType":"Patient","id":"someone-else","identifier":[{"system":"urn:c","value":"5"}]})");
  EXPECT_EQ(u_id.status, 400) << u_id.body;
  const int64_t before_u2 = Versions();
  HttpResponse u2 =
      client_.Fhir("PUT", Base() + "/Patient?identifier=urn:c%7C2", tok(), patient("U2", "2"));
  EXPECT_EQ(u2.status, 412) << u2.body;
  EXPECT_TRUE(IsOperationOutcome(u2.body));
  HttpResponse u_none = client_.Fhir("PUT", Base() + "/Patient", tok(), patient("U", "9"));
  EXPECT_EQ(u_none.status, 400) << u_none.body;
  EXPECT_EQ(Versions(), before_u2);

  // Conditional patch: 0 is a 404, 1 patches, 2 is a 412.
  const std::string patch = R"([{"op":"replace","path":"/name/0/family","value":"P"}])";
  const std::map<std::string, std::string> jp = {{"Content-Type", "application/json-patch+json"}};
  HttpResponse p0 =
      client_.Fhir("PATCH", Base() + "/Patient?identifier=urn:c%7C404", tok(), patch, jp);
  EXPECT_EQ(p0.status, 404) << p0.body;
  HttpResponse p1 =
      client_.Fhir("PATCH", Base() + "/Patient?identifier=urn:c%7C5", tok(), patch, jp);
  EXPECT_EQ(p1.status, 200) << p1.body;
  EXPECT_EQ(p1.Header("etag"), "W/\"3\"");
  EXPECT_EQ(Find("/Patient?family=P"), std::set<std::string>({id5}));
  const int64_t before_p2 = Versions();
  HttpResponse p2 =
      client_.Fhir("PATCH", Base() + "/Patient?identifier=urn:c%7C2", tok(), patch, jp);
  EXPECT_EQ(p2.status, 412) << p2.body;
  EXPECT_EQ(Versions(), before_p2);

  // Conditional delete: 0 deletes nothing, 1 deletes it, 2 is a 412.
  HttpResponse d0 = client_.Fhir("DELETE", Base() + "/Patient?identifier=urn:c%7C404", tok());
  EXPECT_EQ(d0.status, 200) << d0.body;
  EXPECT_EQ(Versions(), before_p2);
  HttpResponse d2 = client_.Fhir("DELETE", Base() + "/Patient?identifier=urn:c%7C2", tok());
  EXPECT_EQ(d2.status, 412) << d2.body;
  EXPECT_EQ(Find("/Patient?identifier=urn:c%7C2").size(), 2u);
  HttpResponse d1 = client_.Fhir("DELETE", Base() + "/Patient?identifier=urn:c%7C5", tok());
  EXPECT_EQ(d1.status, 204) << d1.body;
  EXPECT_EQ(client_.Fhir("GET", Base() + "/Patient/" + id5, tok()).status, 410);
  EXPECT_TRUE(Find("/Patient?identifier=urn:c%7C5").empty());
  EXPECT_EQ(Versions(), before_p2 + 1);
  // A condition must have criteria and be a valid strict search.
  EXPECT_EQ(client_.Fhir("DELETE", Base() + "/Patient", tok()).status, 400);
  EXPECT_EQ(client_.Fhir("DELETE", Base() + "/Patient?nosuchparam=1", tok()).status, 400);
  EXPECT_EQ(client_.Fhir("DELETE", Base() + "/Patient?_count=5", tok()).status, 400);
  EXPECT_EQ(client_.Fhir("DELETE", Base() + "/Patient?family=%FF", tok()).status, 400);
  EXPECT_EQ(Versions(), before_p2 + 1);
  EXPECT_EQ(Find("/Patient?identifier=urn:c%7C1"), std::set<std::string>({id1}));
}

class BundlePatchTest : public BundleTest {};

TEST_F(BundlePatchTest, JsonPatch) {
  const std::string id = Create(PatientJson("Patchy", R"("gender":"female")"));
  const std::string path = Base() + "/Patient/" + id;
  const std::map<std::string, std::string> jp = {{"Content-Type", "application/json-patch+json"}};
  auto version = [&] { return JsonString(Read("Patient/" + id)["meta"], "versionId"); };

  HttpResponse replaced = client_.Fhir("PATCH", path, tok(),
                                       R"([{"op":"replace","path":"/gender","value":"male"}])", jp);
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(replaced.Header("etag"), "W/\"2\"");
  rapidjson::Document doc = ParseJson(replaced.body);
  EXPECT_EQ(JsonString(doc, "gender"), "male");
  EXPECT_EQ(JsonString(doc["name"][0], "family"), "Patchy");
  EXPECT_EQ(JsonString(Read("Patient/" + id), "gender"), "male");
  EXPECT_EQ(Read("Patient/" + id)["meta"]["versionId"].GetString(), std::string("2"));
  // Search sees the new value only.
  EXPECT_EQ(Find("/Patient?gender=male"), std::set<std::string>({id}));
  EXPECT_TRUE(Find("/Patient?gender=female").empty());

  // A passing test op and an add in one patch.
  HttpResponse added = client_.Fhir("PATCH", path, tok(),
                                    R"([{"op":"test","path":"/gender","value":"male"},)"
                                    R"({"op":"add","path":"/birthDate","value":"1970-02-03"}])",
                                    jp);
  EXPECT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(Find("/Patient?birthdate=1970-02-03"), std::set<std::string>({id}));
  const std::string v = version();
  EXPECT_EQ(v, "3");

  struct Refused {
    std::string what, body;
    std::set<int> statuses;
  };
  const std::vector<Refused> refused = {
      {"failing test", R"([{"op":"test","path":"/gender","value":"female"}])", {400, 422}},
      {"test then replace",
       R"([{"op":"replace","path":"/gender","value":"other"},{"op":"test","path":"/gender","value":"male"}])",
       {400, 422}},
      {"changes the id", R"([{"op":"replace","path":"/id","value":"other-id"}])", {422}},
      {"removes the id", R"([{"op":"remove","path":"/id"}])", {422}},
      {"changes the type", R"([{"op":"replace","path":"/resourceType","value":"Group"}])", {422}},
      {"makes it invalid", R"([{"op":"replace","path":"/gender","value":"m"}])", {400}},
      {"adds an unknown element", R"([{"op":"add","path":"/nope","value":1}])", {400}},
      {"path that does not exist", R"([{"op":"remove","path":"/telecom/0"}])", {400, 422}},
      {"not an array", R"({"op":"replace","path":"/gender","value":"male"})", {400}},
      {"unknown op", R"([{"op":"frobnicate","path":"/gender"}])", {400}},
      {"not json", "[", {400}},
  };
  for (const Refused& r : refused) {
    HttpResponse res = client_.Fhir("PATCH", path, tok(), r.body, jp);
    EXPECT_EQ(r.statuses.count(res.status), 1u) << r.what << ": " << res.status << " " << res.body;
    EXPECT_TRUE(IsOperationOutcome(res.body)) << r.what;
    EXPECT_EQ(version(), v) << r.what << " changed the resource";
  }
  EXPECT_EQ(client_.Fhir("GET", Base() + "/Patient/other-id", tok()).status, 404);
  // The invalid result names the element.
  HttpResponse invalid =
      client_.Fhir("PATCH", path, tok(), R"([{"op":"replace","path":"/gender","value":"m"}])", jp);
  EXPECT_EQ(IssueExpressions(invalid.body), std::vector<std::string>({"Patient.gender"}))
      << invalid.body;

  // If-Match.
  HttpResponse stale =
      client_.Fhir("PATCH", path, tok(), R"([{"op":"replace","path":"/gender","value":"other"}])",
                   {{"Content-Type", "application/json-patch+json"}, {"If-Match", "W/\"1\""}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(version(), v);
  HttpResponse current = client_.Fhir(
      "PATCH", path, tok(), R"([{"op":"replace","path":"/gender","value":"other"}])",
      {{"Content-Type", "application/json-patch+json"}, {"If-Match", "W/\"" + v + "\""}});
  EXPECT_EQ(current.status, 200) << current.body;
  EXPECT_EQ(current.Header("etag"), "W/\"4\"");
  // Media type, missing and deleted resources.
  EXPECT_EQ(client_.Fhir("PATCH", path, tok(), R"([])").status, 415);
  EXPECT_EQ(client_.Fhir("PATCH", Base() + "/Patient/no-such", tok(), "[]", jp).status, 404);
  ASSERT_EQ(client_.Fhir("DELETE", path, tok()).status, 204);
  EXPECT_EQ(client_.Fhir("PATCH", path, tok(), "[]", jp).status, 410);
}

class BundleValidationTest : public BundleTest {};

TEST_F(BundleValidationTest, InvalidWritesAreRefusedWithTheElementPath) {
  const std::string id = Create(PatientJson("Valid"));
  struct Case {
    std::string what, type, body, expression;
  };
  const std::vector<Case> cases = {
      {"unknown element", "Patient", R"({"resourceType":"Patient","nickname":"x"})",
       "Patient.nickname"},
      {"unknown nested element", "Patient",
       R"({"resourceType":"Patient","name":[{"family":"x","middle":"y"}]})",
       "Patient.name[0].middle"},
      {"wrong type", "Patient", R"({"resourceType":"Patient","active":"yes"})", "Patient.active"},
      {"wrong type nested", "Patient", R"({"resourceType":"Patient","name":[{"family":["x"]}]})",
       "Patient.name[0].family"},
      {"not an array", "Patient", R"({"resourceType":"Patient","name":{"family":"x"}})",
       "Patient.name"},
      {"bad date", "Patient", R"({"resourceType":"Patient","birthDate":"1990-02-30"})",
       "Patient.birthDate"},
      {"required binding", "Patient", R"({"resourceType":"Patient","gender":"m"})",
       "Patient.gender"},
      {"missing required element", "Observation",
       R"({"resourceType":"Observation","code":{"text":"x"}})", "Observation.status"},
      {"bad choice type", "Observation",
       R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":1})",
       "Observation.valueFoo"},
      {"bad status code", "Observation",
       R"({"resourceType":"Observation","status":"done","code":{"text":"x"}})",
       "Observation.status"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const int64_t before = Versions();
    const int64_t type_before = HistoryTotal(client_, tok(), Base() + "/" + c.type + "/_history");
    HttpResponse created = client_.Fhir("POST", Base() + "/" + c.type, tok(), c.body);
    EXPECT_EQ(created.status, 400) << created.body;
    EXPECT_TRUE(IsOperationOutcome(created.body));
    std::vector<std::string> expressions = IssueExpressions(created.body);
    EXPECT_NE(std::find(expressions.begin(), expressions.end(), c.expression), expressions.end())
        << created.body;
    EXPECT_GE(IssueSeverities(created.body).count("error"), 1u) << created.body;
    // The same body as an update, and through a transaction.
    if (c.type == "Patient") {
      std::string with_id = c.body;
      with_id.insert(with_id.find(',') + 1, R"("id":")" + id + R"(",)");
      HttpResponse updated = client_.Fhir("PUT", Base() + "/Patient/" + id, tok(), with_id);
      EXPECT_EQ(updated.status, 400) << with_id << " -> " << updated.body;
      std::vector<std::string> ux = IssueExpressions(updated.body);
      EXPECT_NE(std::find(ux.begin(), ux.end(), c.expression), ux.end()) << updated.body;
    }
    HttpResponse tx = Post(BundleOf("transaction", {Entry("POST", c.type, c.body)}));
    EXPECT_EQ(tx.status, 400) << tx.body;
    std::vector<std::string> tx_x = IssueExpressions(tx.body);
    const std::string in_bundle =
        "Bundle.entry[0].resource" + c.expression.substr(c.expression.find('.'));
    EXPECT_TRUE(std::find(tx_x.begin(), tx_x.end(), c.expression) != tx_x.end() ||
                std::find(tx_x.begin(), tx_x.end(), in_bundle) != tx_x.end())
        << tx.body;
    // $validate reports the same, writes nothing.
    HttpResponse val = client_.Fhir("POST", Base() + "/" + c.type + "/$validate", tok(), c.body);
    EXPECT_EQ(val.status, 200) << val.body;
    std::vector<std::string> vx = IssueExpressions(val.body);
    EXPECT_NE(std::find(vx.begin(), vx.end(), c.expression), vx.end()) << val.body;
    EXPECT_GE(IssueSeverities(val.body).count("error"), 1u);
    // Nothing stored.
    EXPECT_EQ(Versions(), before);
    EXPECT_EQ(HistoryTotal(client_, tok(), Base() + "/" + c.type + "/_history"), type_before);
  }
  EXPECT_EQ(JsonString(Read("Patient/" + id)["meta"], "versionId"), "1");
}

TEST_F(BundleValidationTest, ValidateOperation) {
  const int64_t before = Versions();
  const std::string valid =
      R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":)"
      R"("http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":72,"unit":"/min"}})";
  HttpResponse ok = client_.Fhir("POST", Base() + "/Observation/$validate", tok(), valid);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(IsOperationOutcome(ok.body));
  EXPECT_EQ(IssueSeverities(ok.body), std::multiset<std::string>({"information"})) << ok.body;
  // Wrapped in Parameters.
  HttpResponse wrapped =
      client_.Fhir("POST", Base() + "/Observation/$validate", tok(),
                   R"({"resourceType":"Parameters","parameter":[{"name":"resource","resource":)" +
                       valid + "}]}");
  EXPECT_EQ(wrapped.status, 200) << wrapped.body;
  EXPECT_EQ(IssueSeverities(wrapped.body), std::multiset<std::string>({"information"}));
  // Several errors, each located.
  HttpResponse bad = client_.Fhir(
      "POST", Base() + "/Observation/$validate", tok(),
      R"({"resourceType":"Observation","code":{"text":"x"},"valueQuantity":{"value":"72"},)"
      R"("unknownThing":true})");
  ASSERT_EQ(bad.status, 200) << bad.body;
  std::vector<std::string> x = IssueExpressions(bad.body);
  std::set<std::string> xs(x.begin(), x.end());
  EXPECT_EQ(xs, std::set<std::string>({"Observation.status", "Observation.valueQuantity.value",
                                       "Observation.unknownThing"}))
      << bad.body;
  // The type must match the URL; the instance form works as well.
  HttpResponse wrong_type = client_.Fhir("POST", Base() + "/Patient/$validate", tok(), valid);
  EXPECT_EQ(wrong_type.status, 400) << wrong_type.body;
  EXPECT_EQ(client_.Fhir("GET", Base() + "/Patient/$validate", tok()).status, 405);
  HttpResponse no_res = client_.Fhir("POST", Base() + "/Observation/$validate", tok(),
                                     R"({"resourceType":"Parameters","parameter":[]})");
  EXPECT_EQ(no_res.status, 400) << no_res.body;
  EXPECT_EQ(client_.Fhir("POST", Base() + "/Observation/$validate", tok(), "{").status, 400);
  // Validation stores nothing.
  EXPECT_EQ(Versions(), before);
  EXPECT_EQ(HistoryTotal(client_, tok(), Base() + "/Observation/_history"), 0);
}

}  // namespace
}  // namespace hygie::e2e
