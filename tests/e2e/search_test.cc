// End-to-end tests of FHIR search against the real server: every parameter type and modifier,
// chaining, AND/OR, the special parameters (_id, _lastUpdated, _tag, _profile, _security),
// paging through `next` links (with writes between pages), sorting, _include/_revinclude,
// _summary/_elements/_total, unknown and hostile parameters, the tenant wall, the Patient
// compartment and Patient/$everything.

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

using Ids = std::set<std::string>;  // "Type/id"

// One searchset page, taken apart.
struct Page {
  int status = 0;
  std::string body;
  bool bundle = false;                // a searchset Bundle
  int64_t total = -1;                 // -1: absent
  std::vector<std::string> matches;   // "Type/id", in order
  std::vector<std::string> includes;  // "Type/id", in order
  std::vector<std::string> outcomes;  // serialized OperationOutcome entries
  std::vector<std::string> full_urls;
  size_t entries = 0;
  std::string next;  // path of the next link, empty when none
  std::string self;
};

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

Page ParsePage(const HttpResponse& res) {
  Page p;
  p.status = res.status;
  p.body = res.body;
  rapidjson::Document doc = ParseJson(res.body);
  if (doc.HasParseError() || !doc.IsObject() || JsonString(doc, "resourceType") != "Bundle" ||
      JsonString(doc, "type") != "searchset") {
    return p;
  }
  p.bundle = true;
  if (doc.HasMember("total") && doc["total"].IsInt64()) p.total = doc["total"].GetInt64();
  if (doc.HasMember("link") && doc["link"].IsArray()) {
    for (const auto& l : doc["link"].GetArray()) {
      if (JsonString(l, "relation") == "next") p.next = PathOfUrl(JsonString(l, "url"));
      if (JsonString(l, "relation") == "self") p.self = PathOfUrl(JsonString(l, "url"));
    }
  }
  if (doc.HasMember("entry") && doc["entry"].IsArray()) {
    for (const auto& e : doc["entry"].GetArray()) {
      ++p.entries;
      std::string mode;
      if (e.HasMember("search")) mode = JsonString(e["search"], "mode");
      if (!e.HasMember("resource")) continue;
      const auto& r = e["resource"];
      std::string ref = JsonString(r, "resourceType") + "/" + JsonString(r, "id");
      if (mode == "match") {
        p.matches.push_back(ref);
        p.full_urls.push_back(JsonString(e, "fullUrl"));
      } else if (mode == "include") {
        p.includes.push_back(ref);
      } else if (mode == "outcome") {
        p.outcomes.push_back(Serialize(r));
      } else {
        p.matches.push_back("?mode=" + mode + "?" + ref);
      }
    }
  }
  return p;
}

// Request targets carry '|' percent-encoded, as RFC 3986 wants (the server parses strictly).
std::string Enc(std::string path) {
  for (size_t i = path.find('|'); i != std::string::npos; i = path.find('|', i)) {
    path.replace(i, 1, "%7C");
  }
  return path;
}

// The first issue's expression (or the first of its expressions), empty if none.
std::string FirstIssueCode(const std::string& outcome) {
  rapidjson::Document doc = ParseJson(outcome);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("issue")) return "";
  const auto& issue = doc["issue"][0];
  if (!issue.HasMember("details") || !issue["details"].HasMember("coding")) return "";
  return JsonString(issue["details"]["coding"][0], "code");
}

class SearchTest : public ::testing::Test {
 protected:
  void SetUp() override { errors_before_ = ServerErrorResponses(); }
  void TearDown() override {
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
  }

  // Creates a resource; returns "Type/id" (empty and a test failure on error).
  std::string Create(const std::string& body) {
    rapidjson::Document doc = ParseJson(body);
    const std::string type = JsonString(doc, "resourceType");
    HttpResponse r = client_.Fhir("POST", dep_.Base() + "/" + type, dep_.token(), body);
    EXPECT_EQ(r.status, 201) << body << " -> " << r.body;
    if (r.status != 201) return "";
    return type + "/" + JsonString(ParseJson(r.body), "id");
  }
  static std::string IdOf(const std::string& ref) { return ref.substr(ref.find('/') + 1); }

  Page Get(const std::string& query, const std::map<std::string, std::string>& headers = {}) {
    return ParsePage(client_.Fhir("GET", Enc(dep_.Base() + query), dep_.token(), "", headers));
  }
  // The matches of a search that must succeed, as a set.
  Ids Match(const std::string& query) {
    Page p = Get(query);
    EXPECT_EQ(p.status, 200) << query << " -> " << p.body;
    EXPECT_TRUE(p.bundle) << query;
    EXPECT_TRUE(p.outcomes.empty()) << query << " has warnings: " << p.body;
    Ids ids(p.matches.begin(), p.matches.end());
    EXPECT_EQ(ids.size(), p.matches.size()) << query << ": a resource listed twice";
    return ids;
  }
  // A search that must be refused with a 400 OperationOutcome.
  void ExpectBadRequest(const std::string& query) {
    HttpResponse r = client_.Fhir("GET", Enc(dep_.Base() + query), dep_.token());
    EXPECT_EQ(r.status, 400) << query << " -> " << r.body.substr(0, 300);
    EXPECT_TRUE(IsOperationOutcome(r.body)) << query;
  }
  // Follows the next links from `query`; every page must be a 200 searchset.
  std::vector<std::string> Walk(const std::string& query, int* pages, int64_t* first_total) {
    std::vector<std::string> all;
    std::string path = dep_.Base() + query;
    *pages = 0;
    while (!path.empty() && *pages < 100) {
      Page p = ParsePage(client_.Fhir("GET", path, dep_.token()));
      EXPECT_EQ(p.status, 200) << path << " -> " << p.body;
      if (p.status != 200) break;
      if (*pages == 0 && first_total != nullptr) *first_total = p.total;
      ++*pages;
      all.insert(all.end(), p.matches.begin(), p.matches.end());
      path = p.next;
    }
    return all;
  }

  Deployment dep_;
  HttpClient client_{dep_.port()};
  int64_t errors_before_ = 0;
};

std::string PatientJson(const std::string& family, const std::string& given,
                        const std::string& extra = "") {
  return R"({"resourceType":"Patient","name":[{"family":")" + family + R"(","given":[")" + given +
         R"("]}])" + (extra.empty() ? "" : "," + extra) + "}";
}

std::string ObservationJson(const std::string& subject, const std::string& code,
                            const std::string& extra = "") {
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":)"
         R"("http://loinc.org","code":")" +
         code + R"("}]},"subject":{"reference":")" + subject + R"("})" +
         (extra.empty() ? "" : "," + extra) + "}";
}

TEST_F(SearchTest, StringParametersAndModifiers) {
  const std::string durand = Create(PatientJson("Durand", "Ana", R"("gender":"female")"));
  const std::string dupont = Create(PatientJson("Dupont", "Louis", R"("gender":"male")"));
  const std::string emile = Create(PatientJson("Émilien", "Zoé"));
  const std::string martin = Create(PatientJson("Martin", "Ana-Marie", R"("gender":"female")"));
  const std::string long_family = "Abcdefghijklmnopqrstuvwxyz-Longfamilyname";
  const std::string longp = Create(PatientJson(long_family, "X"));
  const std::string longq = Create(PatientJson("Abcdefghijklmnopqrstuvwxyz-Other", "X"));

  // Starts-with, case-insensitive, on family and on the whole name.
  EXPECT_EQ(Match("/Patient?family=Durand"), Ids({durand}));
  EXPECT_EQ(Match("/Patient?family=dur"), Ids({durand}));
  EXPECT_EQ(Match("/Patient?family=DU"), Ids({durand, dupont}));
  EXPECT_EQ(Match("/Patient?name=ana"), Ids({durand, martin}));
  EXPECT_EQ(Match("/Patient?given=ana-m"), Ids({martin}));
  // Not a contains search: a suffix finds nothing.
  EXPECT_EQ(Match("/Patient?family=rand"), Ids());
  EXPECT_EQ(Match("/Patient?family=Durandx"), Ids());
  // Accents are ignored both ways.
  EXPECT_EQ(Match("/Patient?family=emil"), Ids({emile}));
  EXPECT_EQ(Match("/Patient?family=%C3%89MILIEN"), Ids({emile}));
  EXPECT_EQ(Match("/Patient?given=zoe"), Ids({emile}));
  // :exact: the whole value, case and accents as written.
  EXPECT_EQ(Match("/Patient?family:exact=Durand"), Ids({durand}));
  EXPECT_EQ(Match("/Patient?family:exact=durand"), Ids());
  EXPECT_EQ(Match("/Patient?family:exact=Dur"), Ids());
  EXPECT_EQ(Match("/Patient?family:exact=%C3%89milien"), Ids({emile}));
  EXPECT_EQ(Match("/Patient?family:exact=Emilien"), Ids());
  // OR with commas, AND by repeating.
  EXPECT_EQ(Match("/Patient?family=Durand,Martin"), Ids({durand, martin}));
  EXPECT_EQ(Match("/Patient?family=Du&given=ana"), Ids({durand}));
  EXPECT_EQ(Match("/Patient?family=Du&family=Dup"), Ids({dupont}));
  EXPECT_EQ(Match("/Patient?family=Durand&family=Martin"), Ids());
  // Values longer than the indexed prefixes are checked against the resource.
  EXPECT_EQ(Match("/Patient?family=" + long_family), Ids({longp}));
  EXPECT_EQ(Match("/Patient?family=abcdefghijklmnopqrstuvwxyz-long"), Ids({longp}));
  EXPECT_EQ(Match("/Patient?family=abcdefghijklmnopqrstuvwxyz"), Ids({longp, longq}));
  EXPECT_EQ(Match("/Patient?family=abcdefghijklmnopqrstuvwxyz-Lonx"), Ids());
  // :contains and :text are refused rather than ignored.
  ExpectBadRequest("/Patient?family:contains=ura");
  ExpectBadRequest("/Patient?family:text=ura");
  ExpectBadRequest("/Patient?family:below=ura");
  ExpectBadRequest("/Patient?family=");
}

TEST_F(SearchTest, TokenParametersAndModifiers) {
  const std::string a = Create(
      PatientJson("A", "A",
                  R"("gender":"female","identifier":[{"system":"urn:oid:1.2.3","value":"123"}],)"
                  R"("active":true,"telecom":[{"system":"phone","value":"0102030405"}])"));
  const std::string b = Create(PatientJson(
      "B", "B", R"("gender":"male","identifier":[{"system":"urn:oid:9.9","value":"123"}])"));
  const std::string c =
      Create(PatientJson("C", "C", R"("identifier":[{"value":"123"}],"active":false)"));
  const std::string d = Create(PatientJson("D", "D", R"("gender":"female")"));

  EXPECT_EQ(Match("/Patient?gender=female"), Ids({a, d}));
  EXPECT_EQ(Match("/Patient?gender=male"), Ids({b}));
  EXPECT_EQ(Match("/Patient?gender=female,male"), Ids({a, b, d}));
  // Codes are exact: no prefix, no case folding.
  EXPECT_EQ(Match("/Patient?gender=fem"), Ids());
  EXPECT_EQ(Match("/Patient?gender=FEMALE"), Ids());
  // system|code, code alone, |code (no system), system|.
  EXPECT_EQ(Match("/Patient?identifier=urn:oid:1.2.3%7C123"), Ids({a}));
  EXPECT_EQ(Match("/Patient?identifier=urn:oid:9.9|123"), Ids({b}));
  EXPECT_EQ(Match("/Patient?identifier=123"), Ids({a, b, c}));
  EXPECT_EQ(Match("/Patient?identifier=%7C123"), Ids({c}));
  EXPECT_EQ(Match("/Patient?identifier=urn:oid:1.2.3|"), Ids({a}));
  EXPECT_EQ(Match("/Patient?identifier=urn:oid:1.2.3|124"), Ids());
  EXPECT_EQ(Match("/Patient?identifier=urn:oid:1.2.4|123"), Ids());
  // Booleans and telecom values are tokens too.
  EXPECT_EQ(Match("/Patient?active=true"), Ids({a}));
  EXPECT_EQ(Match("/Patient?active=false"), Ids({c}));
  EXPECT_EQ(Match("/Patient?phone=0102030405"), Ids({a}));
  // :not includes the resources without any value.
  EXPECT_EQ(Match("/Patient?gender:not=female"), Ids({b, c}));
  EXPECT_EQ(Match("/Patient?gender:not=female,male"), Ids({c}));
  // :missing.
  EXPECT_EQ(Match("/Patient?gender:missing=true"), Ids({c}));
  EXPECT_EQ(Match("/Patient?gender:missing=false"), Ids({a, b, d}));
  EXPECT_EQ(Match("/Patient?active:missing=true"), Ids({b, d}));
  EXPECT_EQ(Match("/Patient?gender:missing=false&identifier=123"), Ids({a, b}));
  ExpectBadRequest("/Patient?gender:missing=maybe");
  ExpectBadRequest("/Patient?gender:exact=female");
  ExpectBadRequest("/Patient?gender:in=http://hl7.org/fhir/ValueSet/administrative-gender");
  ExpectBadRequest("/Patient?identifier=a|b|c");
  ExpectBadRequest("/Patient?identifier=%7C");
}

TEST_F(SearchTest, ReferenceParametersTypeModifierAndChaining) {
  const std::string p1 = Create(PatientJson("Chained", "One", R"("gender":"female")"));
  const std::string p2 = Create(PatientJson("Other", "Two", R"("gender":"male")"));
  const std::string group =
      Create(R"({"resourceType":"Group","type":"person","actual":true,"name":"Chained"})");
  const std::string o1 = Create(ObservationJson(p1, "1-1"));
  const std::string o2 = Create(ObservationJson(p2, "1-1"));
  const std::string o3 = Create(ObservationJson(group, "1-1"));
  // An absolute reference to this server's base is the same local reference.
  const std::string o4 = Create(ObservationJson(
      "http://127.0.0.1:" + std::to_string(dep_.port()) + dep_.Base() + "/" + p1, "1-2"));
  // A reference to another server is not local.
  const std::string o5 = Create(ObservationJson("https://other.example.org/" + p1, "1-3"));
  const std::string id1 = IdOf(p1);
  const std::string gid = IdOf(group);

  EXPECT_EQ(Match("/Observation?subject=" + p1), Ids({o1, o4}));
  EXPECT_EQ(Match("/Observation?subject=" + id1), Ids({o1, o4}));
  EXPECT_EQ(Match("/Observation?subject:Patient=" + id1), Ids({o1, o4}));
  EXPECT_EQ(Match("/Observation?subject:Group=" + id1), Ids());
  EXPECT_EQ(Match("/Observation?subject:Group=" + gid), Ids({o3}));
  EXPECT_EQ(Match("/Observation?subject=" + group), Ids({o3}));
  EXPECT_EQ(Match("/Observation?patient=" + p1), Ids({o1, o4}));
  EXPECT_EQ(Match("/Observation?patient=" + gid), Ids());
  EXPECT_EQ(Match("/Observation?subject=" + p1 + "," + p2), Ids({o1, o2, o4}));
  EXPECT_EQ(Match("/Observation?subject=https://other.example.org/" + p1), Ids({o5}));
  EXPECT_EQ(Match("/Observation?subject=Patient/no-such-patient"), Ids());
  EXPECT_EQ(Match("/Observation?subject:missing=true"), Ids());
  // A reference whose type differs from the modifier's.
  ExpectBadRequest("/Observation?subject:Patient=" + group);
  ExpectBadRequest("/Observation?subject:Nope=" + id1);
  ExpectBadRequest("/Observation?subject=not%20a%20reference");

  // Chaining, one level.
  EXPECT_EQ(Match("/Observation?subject:Patient.family=chained"), Ids({o1, o4}));
  EXPECT_EQ(Match("/Observation?subject:Patient.gender=male"), Ids({o2}));
  EXPECT_EQ(Match("/Observation?subject.family=Chained"), Ids({o1, o4}));
  EXPECT_EQ(Match("/Observation?patient.family=Other"), Ids({o2}));
  EXPECT_EQ(Match("/Observation?subject:Patient.family=nobody"), Ids());
  EXPECT_EQ(Match("/Observation?subject:Group.type=person"), Ids({o3}));
  // `name` exists on several targets of subject (Patient, Group, Location): ambiguous.
  ExpectBadRequest("/Observation?subject.name=Chained");
  ExpectBadRequest("/Observation?subject:Nope.name=x");
  ExpectBadRequest("/Observation?subject:Patient.family.given=x");
  ExpectBadRequest("/Observation?code.family=x");
  ExpectBadRequest("/Observation?subject:Patient.nosuchparam=x");
}

TEST_F(SearchTest, DateNumberQuantityAndUriParameters) {
  const std::string p = Create(PatientJson("Dates", "D", R"("birthDate":"1980-05-03")"));
  const std::string p_old = Create(PatientJson("Dates", "Old", R"("birthDate":"1931")"));
  const std::string o2020 =
      Create(ObservationJson(p, "a",
                             R"("effectiveDateTime":"2020-01-15","valueQuantity":{"value":72.5,)"
                             R"("unit":"kg","system":"http://unitsofmeasure.org","code":"kg"})"));
  const std::string o2021 = Create(
      ObservationJson(p, "b",
                      R"("effectiveDateTime":"2021-06-01T10:00:00Z","valueQuantity":{"value":180,)"
                      R"("unit":"cm","system":"http://unitsofmeasure.org","code":"cm"})"));
  const std::string o2022 = Create(ObservationJson(
      p, "c",
      R"("effectivePeriod":{"start":"2022-12-30","end":"2022-12-31"},)"
      R"("valueQuantity":{"value":60,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"})"));

  // Dates: precision ranges and every prefix.
  EXPECT_EQ(Match("/Observation?date=2021"), Ids({o2021}));
  EXPECT_EQ(Match("/Observation?date=2021-06"), Ids({o2021}));
  EXPECT_EQ(Match("/Observation?date=2021-06-01"), Ids({o2021}));
  EXPECT_EQ(Match("/Observation?date=2021-06-02"), Ids());
  EXPECT_EQ(Match("/Observation?date=eq2020-01-15"), Ids({o2020}));
  EXPECT_EQ(Match("/Observation?date=ne2020-01-15"), Ids({o2021, o2022}));
  EXPECT_EQ(Match("/Observation?date=gt2021-01-01"), Ids({o2021, o2022}));
  EXPECT_EQ(Match("/Observation?date=ge2021-06-01"), Ids({o2021, o2022}));
  EXPECT_EQ(Match("/Observation?date=lt2021-06-01"), Ids({o2020}));
  EXPECT_EQ(Match("/Observation?date=le2021-06-01"), Ids({o2020, o2021}));
  EXPECT_EQ(Match("/Observation?date=sa2021-12-31"), Ids({o2022}));
  EXPECT_EQ(Match("/Observation?date=eb2021-01-01"), Ids({o2020}));
  EXPECT_EQ(Match("/Observation?date=2022-12-30T12:00:00Z"), Ids());  // the period is wider
  EXPECT_EQ(Match("/Observation?date=ge2020-01-01&date=lt2021-01-01"), Ids({o2020}));
  EXPECT_EQ(Match("/Observation?date=2020,2022"), Ids({o2020, o2022}));
  EXPECT_EQ(Match("/Patient?birthdate=1980-05-03"), Ids({p}));
  EXPECT_EQ(Match("/Patient?birthdate=lt1950"), Ids({p_old}));
  EXPECT_EQ(Match("/Patient?birthdate=1931-07-01"), Ids());  // the year is wider than the day
  EXPECT_EQ(Match("/Patient?birthdate:missing=true"), Ids());
  ExpectBadRequest("/Observation?date=notadate");
  ExpectBadRequest("/Observation?date=2021-13-01");
  ExpectBadRequest("/Observation?date=2021-02-30");
  ExpectBadRequest("/Observation?date=xx2021");
  ExpectBadRequest("/Observation?date:exact=2021");

  // Quantities: the value alone, with system and code, and prefixes.
  EXPECT_EQ(Match("/Observation?value-quantity=72.5"), Ids({o2020}));
  EXPECT_EQ(Match("/Observation?value-quantity=180"), Ids({o2021}));
  EXPECT_EQ(Match("/Observation?value-quantity=gt70"), Ids({o2020, o2021}));
  EXPECT_EQ(Match("/Observation?value-quantity=lt70"), Ids({o2022}));
  EXPECT_EQ(Match("/Observation?value-quantity=le60"), Ids({o2022}));
  EXPECT_EQ(Match("/Observation?value-quantity=ge72.5|http://unitsofmeasure.org|kg"), Ids({o2020}));
  EXPECT_EQ(Match("/Observation?value-quantity=gt0|http://unitsofmeasure.org|kg"),
            Ids({o2020, o2022}));
  EXPECT_EQ(Match("/Observation?value-quantity=180|http://unitsofmeasure.org|kg"), Ids());
  EXPECT_EQ(Match("/Observation?value-quantity=1000"), Ids());
  ExpectBadRequest("/Observation?value-quantity=abc");
  ExpectBadRequest("/Observation?value-quantity=1|2");

  // Numbers.
  auto risk = [&](const std::string& probability) {
    return Create(R"({"resourceType":"RiskAssessment","status":"final","subject":{"reference":")" +
                  p + R"("},"prediction":[{"probabilityDecimal":)" + probability + "}]}");
  };
  const std::string r10 = risk("0.1");
  const std::string r85 = risk("0.85");
  EXPECT_EQ(Match("/RiskAssessment?probability=0.85"), Ids({r85}));
  EXPECT_EQ(Match("/RiskAssessment?probability=gt0.5"), Ids({r85}));
  EXPECT_EQ(Match("/RiskAssessment?probability=lt0.5"), Ids({r10}));
  EXPECT_EQ(Match("/RiskAssessment?probability=ge0.1"), Ids({r10, r85}));
  EXPECT_EQ(Match("/RiskAssessment?probability=0.5"), Ids());
  ExpectBadRequest("/RiskAssessment?probability=high");
  ExpectBadRequest("/RiskAssessment?probability=0.1|a|b");

  // Uri.
  const std::string vs1 = Create(
      R"({"resourceType":"ValueSet","status":"active","url":"http://example.org/fhir/ValueSet/one"})");
  const std::string vs2 = Create(
      R"({"resourceType":"ValueSet","status":"draft","url":"http://example.org/fhir/ValueSet/two"})");
  EXPECT_EQ(Match("/ValueSet?url=http://example.org/fhir/ValueSet/one"), Ids({vs1}));
  EXPECT_EQ(Match("/ValueSet?url=http://example.org/fhir/ValueSet/one,"
                  "http://example.org/fhir/ValueSet/two"),
            Ids({vs1, vs2}));
  EXPECT_EQ(Match("/ValueSet?url=http://example.org/fhir/ValueSet/"), Ids());
  EXPECT_EQ(Match("/ValueSet?url=HTTP://EXAMPLE.ORG/fhir/ValueSet/one"), Ids());
  EXPECT_EQ(Match("/ValueSet?url:missing=false"), Ids({vs1, vs2}));
  ExpectBadRequest("/ValueSet?url:below=http://example.org/fhir");
}

TEST_F(SearchTest, IdLastUpdatedTagProfileSecurity) {
  const std::string tagged = Create(PatientJson(
      "Meta", "Tagged",
      R"("meta":{"tag":[{"system":"urn:tags","code":"vip"}],)"
      R"("security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality",)"
      R"("code":"R"}],"profile":["http://example.org/fhir/StructureDefinition/special"]})"));
  const std::string plain = Create(PatientJson("Meta", "Plain"));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  HttpResponse later =
      client_.Fhir("POST", dep_.Base() + "/Patient", dep_.token(), PatientJson("Meta", "Later"));
  ASSERT_EQ(later.status, 201);
  const std::string later_ref = "Patient/" + JsonString(ParseJson(later.body), "id");
  const std::string later_updated = JsonString(ParseJson(later.body)["meta"], "lastUpdated");
  ASSERT_FALSE(later_updated.empty());
  const std::string obs = Create(ObservationJson(plain, "x"));

  EXPECT_EQ(Match("/Patient?_id=" + IdOf(tagged)), Ids({tagged}));
  EXPECT_EQ(Match("/Patient?_id=" + IdOf(tagged) + "," + IdOf(plain)), Ids({tagged, plain}));
  EXPECT_EQ(Match("/Patient?_id=" + IdOf(obs)), Ids());  // an Observation's id
  EXPECT_EQ(Match("/Patient?_id:not=" + IdOf(tagged)), Ids({plain, later_ref}));
  EXPECT_EQ(Match("/Patient?_id=no-such-id"), Ids());
  ExpectBadRequest("/Patient?_id=bad%20id");

  EXPECT_EQ(Match("/Patient?_tag=urn:tags|vip"), Ids({tagged}));
  EXPECT_EQ(Match("/Patient?_tag=vip"), Ids({tagged}));
  EXPECT_EQ(Match("/Patient?_tag=urn:tags|other"), Ids());
  EXPECT_EQ(Match("/Patient?_tag:not=vip"), Ids({plain, later_ref}));
  EXPECT_EQ(Match("/Patient?_security=R"), Ids({tagged}));
  EXPECT_EQ(Match("/Patient?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"),
            Ids({tagged}));
  EXPECT_EQ(Match("/Patient?_security=N"), Ids());
  EXPECT_EQ(Match("/Patient?_profile=http://example.org/fhir/StructureDefinition/special"),
            Ids({tagged}));
  EXPECT_EQ(Match("/Patient?_profile=http://example.org/fhir/StructureDefinition/other"), Ids());

  // _lastUpdated, against the instant the server wrote.
  EXPECT_EQ(Match("/Patient?_lastUpdated=ge" + later_updated), Ids({later_ref}));
  EXPECT_EQ(Match("/Patient?_lastUpdated=lt" + later_updated), Ids({tagged, plain}));
  EXPECT_EQ(Match("/Patient?_lastUpdated=gt2000-01-01"), Ids({tagged, plain, later_ref}));
  EXPECT_EQ(Match("/Patient?_lastUpdated=lt2000-01-01"), Ids());
  EXPECT_EQ(Match("/Patient?_lastUpdated=ge" + later_updated + "&family=Meta"), Ids({later_ref}));
  ExpectBadRequest("/Patient?_lastUpdated=yesterday");
  ExpectBadRequest("/Patient?_lastUpdated:missing=maybe");

  // System level: every type, or those named in _type.
  EXPECT_EQ(Match("?_id=" + IdOf(tagged) + "," + IdOf(obs)), Ids({tagged, obs}));
  EXPECT_EQ(Match("?_type=Observation&_id=" + IdOf(tagged) + "," + IdOf(obs)), Ids({obs}));
  EXPECT_EQ(Match("?_type=Patient,Observation&_tag=vip"), Ids({tagged}));
  EXPECT_EQ(Match("?_tag=urn:tags|vip"), Ids({tagged}));
  ExpectBadRequest("?_type=Nope");
  // POST _search with a form body, type and system level: the same answers.
  HttpResponse post =
      client_.Fhir("POST", dep_.Base() + "/Patient/_search", dep_.token(), "family=Meta&given=tag",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  Page pp = ParsePage(post);
  EXPECT_EQ(pp.status, 200) << post.body;
  EXPECT_EQ(Ids(pp.matches.begin(), pp.matches.end()), Ids({tagged}));
  HttpResponse post_both =
      client_.Fhir("POST", dep_.Base() + "/Patient/_search?family=Meta", dep_.token(),
                   "given=Later", {{"Content-Type", "application/x-www-form-urlencoded"}});
  Page pb = ParsePage(post_both);
  EXPECT_EQ(Ids(pb.matches.begin(), pb.matches.end()), Ids({later_ref})) << post_both.body;
  HttpResponse post_sys =
      client_.Fhir("POST", dep_.Base() + "/_search", dep_.token(), "_tag=vip&_type=Patient",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  Page ps = ParsePage(post_sys);
  EXPECT_EQ(ps.status, 200) << post_sys.body;
  EXPECT_EQ(Ids(ps.matches.begin(), ps.matches.end()), Ids({tagged}));
  // A JSON body is not a search form.
  HttpResponse post_json =
      client_.Fhir("POST", dep_.Base() + "/Patient/_search", dep_.token(), "{\"family\":\"Meta\"}");
  EXPECT_EQ(post_json.status, 415) << post_json.body;
  EXPECT_TRUE(IsOperationOutcome(post_json.body));
  // GET on _search is not a search.
  EXPECT_EQ(client_.Fhir("GET", dep_.Base() + "/Patient/_search", dep_.token()).status, 405);
}

TEST_F(SearchTest, PagingVisitsEachResourceOnce) {
  std::vector<std::string> created;
  for (int i = 0; i < 23; ++i) {
    created.push_back(Create(PatientJson("Pager", "P" + std::to_string(i))));
  }
  Create(PatientJson("Noise", "N"));
  const Ids all(created.begin(), created.end());

  int pages = 0;
  int64_t total = -1;
  std::vector<std::string> seen = Walk("/Patient?family=Pager&_count=5", &pages, &total);
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(seen.size(), 23u);
  EXPECT_EQ(Ids(seen.begin(), seen.end()), all);
  // Page sizes 5,5,5,5,3 and the total on demand.
  Page first = Get("/Patient?family=Pager&_count=5&_total=accurate");
  EXPECT_EQ(first.total, 23);
  EXPECT_EQ(first.matches.size(), 5u);
  ASSERT_FALSE(first.next.empty());
  // The next link carries the search: following it never returns the noise patient.
  EXPECT_NE(first.next.find("family=Pager"), std::string::npos) << first.next;
  EXPECT_NE(first.next.find("_count=5"), std::string::npos) << first.next;
  // Without _total, a first page that is complete carries its total.
  EXPECT_EQ(Get("/Patient?family=Noise").total, 1);

  // Sorted paging (by _id) also visits each resource once, in order.
  std::vector<std::string> sorted =
      Walk("/Patient?family=Pager&_count=5&_sort=_id", &pages, nullptr);
  EXPECT_EQ(pages, 5);
  std::vector<std::string> expect_sorted(all.begin(), all.end());
  EXPECT_EQ(sorted, expect_sorted);
  std::vector<std::string> desc =
      Walk("/Patient?family=Pager&_count=7&_sort=-_id", &pages, nullptr);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(desc, std::vector<std::string>(expect_sorted.rbegin(), expect_sorted.rend()));

  // _count=0 and _summary=count: the total and no entries.
  Page none = Get("/Patient?family=Pager&_summary=count");
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.total, 23);
  EXPECT_EQ(none.entries, 0u);
  EXPECT_TRUE(none.next.empty());
  Page zero = Get("/Patient?family=Pager&_count=0&_total=accurate");
  EXPECT_EQ(zero.total, 23);
  EXPECT_EQ(zero.entries, 0u);
  // A huge _count is capped, not refused.
  Page big = Get("/Patient?family=Pager&_count=100000");
  EXPECT_EQ(big.status, 200);
  EXPECT_EQ(big.matches.size(), 23u);
}

// The index keeps string prefixes of a few lengths only (1, 2, 3, 4, 6, 8, 12 characters): a
// value of another length is looked up by its longest indexed prefix and checked on the
// candidates. Here most candidates fail the check: pages, next links, totals, sorted pages,
// chains and conditional creates must count only the resources that match.
TEST_F(SearchTest, ManyCandidatesShareAnIndexedPrefixFewMatch) {
  // 7 characters: driven by the 6-character prefix "martin", shared by 60 others.
  std::vector<std::string> match7;
  for (int i = 0; i < 60; ++i) Create(PatientJson("Martin", "C" + std::to_string(i)));
  for (int i = 0; i < 5; ++i) {
    match7.push_back(Create(PatientJson("Martinez", "M" + std::to_string(i))));
    for (int j = 0; j < 4; ++j) Create(PatientJson("Martin", "D" + std::to_string(i * 4 + j)));
  }
  // Longer than any indexed length: driven by "bernadotte-l" (12), shared by 30 others.
  std::vector<std::string> match16;
  for (int i = 0; i < 30; ++i) Create(PatientJson("Bernadotte-Leblanc", "L" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) {
    match16.push_back(Create(PatientJson("Bernadotte-Lebœuf", "B" + std::to_string(i))));
  }
  const Ids all7(match7.begin(), match7.end());

  EXPECT_EQ(Match("/Patient?family=Martine"), Ids(all7));
  EXPECT_EQ(Match("/Patient?family=MARTINEZ"), Ids(all7));
  EXPECT_EQ(Match("/Patient?family=bernadotte-leboeuf"), Ids(match16.begin(), match16.end()));
  EXPECT_EQ(Match("/Patient?family=bernadotte-leb%C5%93"), Ids(match16.begin(), match16.end()));
  EXPECT_EQ(Match("/Patient?family=bernadotte-leboeufs"), Ids());
  EXPECT_EQ(Match("/Patient?family=bernadotte-leb").size(), 33u);
  // An OR of a checked value and an indexed one keeps both.
  Ids or_ids(match16.begin(), match16.end());
  or_ids.insert(match7.begin(), match7.end());
  EXPECT_EQ(Match("/Patient?family=bernadotte-leboe,martinez"), or_ids);

  // Pages of 2 in creation order: 3 pages, each full but the last, no total until asked.
  int pages = 0;
  int64_t total = -2;
  std::vector<std::string> seen = Walk("/Patient?family=Martine&_count=2", &pages, &total);
  EXPECT_EQ(seen, match7);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(total, -1);
  Page first = Get("/Patient?family=Martine&_count=2&_total=accurate");
  EXPECT_EQ(first.total, 5);
  EXPECT_EQ(first.matches, std::vector<std::string>(match7.begin(), match7.begin() + 2));
  EXPECT_FALSE(first.next.empty());
  // A first page holding every match carries the exact total.
  EXPECT_EQ(Get("/Patient?family=Martine&_count=5").total, 5);
  EXPECT_EQ(Get("/Patient?family=Martine&_count=5").next, "");
  EXPECT_EQ(Get("/Patient?family=bernadotte-leboeuf").total, 3);
  Page count = Get("/Patient?family=Martine&_summary=count");
  EXPECT_EQ(count.total, 5);
  EXPECT_EQ(count.entries, 0u);
  EXPECT_EQ(Get("/Patient?family=Martine&_count=0&_total=accurate").total, 5);
  EXPECT_EQ(Get("/Patient?family=bernadotte-leboeuf&_summary=count").total, 3);
  // Sorted pages (offsets count matches): each match once, in order.
  std::vector<std::string> by_id(all7.begin(), all7.end());
  EXPECT_EQ(Walk("/Patient?family=Martine&_count=2&_sort=_id", &pages, nullptr), by_id);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(Walk("/Patient?family=Martine&_count=3&_sort=-_id", &pages, nullptr),
            std::vector<std::string>(by_id.rbegin(), by_id.rend()));
  EXPECT_EQ(Get("/Patient?family=Martine&_count=2&_sort=_id&_total=accurate").total, 5);
  // AND of a checked value and another parameter.
  EXPECT_EQ(Match("/Patient?family=Martine&given=M3"), Ids({match7[3]}));
  EXPECT_EQ(Match("/Patient?family=Martine&given=D3"), Ids());

  // Chaining through a checked value: only the observations of the matching patients.
  const std::string o_match = Create(ObservationJson(match16[1], "chain"));
  Create(ObservationJson(match7[0], "chain"));
  EXPECT_EQ(Match("/Observation?subject:Patient.family=bernadotte-leboeuf"), Ids({o_match}));
  EXPECT_EQ(Match("/Observation?patient.family=Bernadotte-Leb%C5%93u&code=chain"), Ids({o_match}));

  // Conditional create: the condition matches the one resource that passes the check.
  HttpResponse again = client_.Fhir("POST", dep_.Base() + "/Patient", dep_.token(),
                                    PatientJson("Bernadotte-Lebœuf", "B1"),
                                    {{"If-None-Exist", "family=bernadotte-leboeuf&given=B1"}});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ("Patient/" + JsonString(ParseJson(again.body), "id"), match16[1]);
  HttpResponse fresh = client_.Fhir("POST", dep_.Base() + "/Patient", dep_.token(),
                                    PatientJson("Bernadotte-Lebœuf", "Z"),
                                    {{"If-None-Exist", "family=bernadotte-leboeuf&given=Z"}});
  EXPECT_EQ(fresh.status, 201) << fresh.body;

  // A narrowed scope whose query needs the check: searches, totals and reads stay within it.
  const std::string narrowed = dep_.inst().Token("acme", "user/Patient.rs?family=Martine");
  Page scoped =
      ParsePage(client_.Fhir("GET", dep_.Base() + "/Patient?_count=2&_total=accurate", narrowed));
  EXPECT_EQ(scoped.status, 200) << scoped.body;
  EXPECT_EQ(scoped.total, 5);
  EXPECT_EQ(scoped.matches, std::vector<std::string>(match7.begin(), match7.begin() + 2));
  Page scoped_all = ParsePage(client_.Fhir("GET", dep_.Base() + "/Patient?given=M1,C1", narrowed));
  EXPECT_EQ(scoped_all.matches, std::vector<std::string>{match7[1]});
  EXPECT_EQ(client_.Fhir("GET", dep_.Base() + "/" + match7[2], narrowed).status, 200);
  EXPECT_EQ(client_.Fhir("GET", dep_.Base() + "/" + match16[0], narrowed).status, 404);
}

// A tenant whose index is of an older format (version 1 kept every prefix of 1 to 24
// characters) is reindexed when the server opens it: the rows only the old format had are gone,
// and searches find what they found.
TEST_F(SearchTest, AnIndexOfAnOlderFormatIsRebuiltWhenOpened) {
  const std::string a = Create(PatientJson("Lefèvre-Dubois", "Ana"));
  const std::string b = Create(PatientJson("Lefebvre", "Léa"));
  const std::string db = dep_.data() + "/tenants/acme/data.db";
  dep_.StopServer();
  SqlResult rows = Sql(db, "SELECT count(*) FROM idx_hash");
  ASSERT_TRUE(rows.ok) << rows.error;
  const std::string count_before = rows.rows.at(0).at(0);
  // What version 1 left: its version number and, for each resource, a row of a prefix length
  // that version 2 does not keep (hash 1, the smallest, first in each resource's sorted list).
  for (const char* sql :
       {"UPDATE meta SET value = 1 WHERE name = 'index_version'",
        "UPDATE resource_current SET idx = x'0100000000000000' || idx",
        "INSERT INTO idx_hash(b, h, rid) SELECT rid >> 12, 1, rid FROM resource_current"}) {
    SqlResult r = Sql(db, sql);
    ASSERT_TRUE(r.ok) << sql << ": " << r.error;
  }
  dep_.StartServer();
  HttpClient client(dep_.port());  // the server listens on a new port
  auto match = [&](const std::string& query) {
    Page p = ParsePage(client.Fhir("GET", Enc(dep_.Base() + query), dep_.token()));
    EXPECT_EQ(p.status, 200) << query << " -> " << p.body;
    return Ids(p.matches.begin(), p.matches.end());
  };
  EXPECT_EQ(match("/Patient?family=lefevre-dubo"), Ids({a}));
  EXPECT_EQ(match("/Patient?family=lef"), Ids({a, b}));
  EXPECT_EQ(match("/Patient?name=lea"), Ids({b}));
  dep_.StopServer();
  EXPECT_EQ(Sql(db, "SELECT value FROM meta WHERE name = 'index_version'").rows.at(0).at(0), "2");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM idx_hash WHERE h = 1").rows.at(0).at(0), "0");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM idx_hash").rows.at(0).at(0), count_before);
  dep_.StartServer();
}

TEST_F(SearchTest, WritesBetweenPagesNeitherSkipNorRepeat) {
  std::vector<std::string> created;
  for (int i = 0; i < 12; ++i) created.push_back(Create(PatientJson("Between", "B")));

  for (const std::string& sort :
       std::vector<std::string>{"", "&_sort=_lastUpdated", "&_sort=-_lastUpdated"}) {
    SCOPED_TRACE("sort '" + sort + "'");
    Page p1 = Get("/Patient?family=Between&_count=4" + sort);
    ASSERT_EQ(p1.status, 200) << p1.body;
    ASSERT_EQ(p1.matches.size(), 4u);
    ASSERT_FALSE(p1.next.empty());
    // A new match arrives between two pages.
    const std::string late = Create(PatientJson("Between", "Late"));
    std::vector<std::string> seen = p1.matches;
    std::string path = p1.next;
    int guard = 0;
    while (!path.empty() && ++guard < 20) {
      Page p = ParsePage(client_.Fhir("GET", path, dep_.token()));
      ASSERT_EQ(p.status, 200) << p.body;
      seen.insert(seen.end(), p.matches.begin(), p.matches.end());
      path = p.next;
    }
    Ids unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), seen.size()) << "a resource was returned twice";
    for (const std::string& c : created) {
      EXPECT_EQ(unique.count(c), 1u) << c << " was skipped";
    }
    unique.erase(late);
    EXPECT_EQ(unique.size(), created.size()) << "something else was returned";
    created.push_back(late);
  }
}

TEST_F(SearchTest, DeletedAndUpdatedResources) {
  const std::string keep = Create(PatientJson("Lifecycle", "Keep", R"("gender":"female")"));
  const std::string gone = Create(PatientJson("Lifecycle", "Gone", R"("gender":"female")"));
  const std::string moved = Create(PatientJson("Lifecycle", "Moved", R"("gender":"female")"));
  const std::string obs = Create(ObservationJson(gone, "del"));
  EXPECT_EQ(Match("/Patient?family=Lifecycle"), Ids({keep, gone, moved}));

  ASSERT_EQ(client_.Fhir("DELETE", dep_.Base() + "/" + gone, dep_.token()).status, 204);
  ASSERT_EQ(client_.Fhir("DELETE", dep_.Base() + "/" + obs, dep_.token()).status, 204);
  HttpResponse up =
      client_.Fhir("PUT", dep_.Base() + "/" + moved, dep_.token(),
                   R"({"resourceType":"Patient","id":")" + IdOf(moved) +
                       R"(","name":[{"family":"Relocated","given":["Moved"]}],"gender":"male"})");
  ASSERT_EQ(up.status, 200) << up.body;

  EXPECT_EQ(Match("/Patient?family=Lifecycle"), Ids({keep}));
  EXPECT_EQ(Match("/Patient?_id=" + IdOf(gone)), Ids());
  EXPECT_EQ(Match("/Patient?gender=female"), Ids({keep}));
  EXPECT_EQ(Match("/Patient?gender=male"), Ids({moved}));
  EXPECT_EQ(Match("/Patient?family=Relocated"), Ids({moved}));
  EXPECT_EQ(Match("/Patient?given=gone"), Ids());
  EXPECT_EQ(Match("/Observation?subject=" + gone), Ids());
  EXPECT_EQ(Match("/Observation?code=del"), Ids());
  Page count = Get("/Patient?_summary=count");
  EXPECT_EQ(count.total, 2);
  // Re-created after the delete: found again, with its new values only.
  HttpResponse back = client_.Fhir(
      "PUT", dep_.Base() + "/" + gone, dep_.token(),
      R"({"resourceType":"Patient","id":")" + IdOf(gone) + R"(","name":[{"family":"Revived"}]})");
  ASSERT_EQ(back.status, 201) << back.body;
  EXPECT_EQ(Match("/Patient?family=Revived"), Ids({gone}));
  EXPECT_EQ(Match("/Patient?family=Lifecycle"), Ids({keep}));
  EXPECT_EQ(Match("/Patient?gender:missing=true"), Ids({gone}));
}

TEST_F(SearchTest, SortByDateNumberAndLastUpdated) {
  const std::string p = Create(PatientJson("Sort", "S"));
  const std::vector<std::string> dates = {"2021-03-01", "2019-07-15", "2023-01-02", "2020-11-30",
                                          "2022-05-05"};
  std::vector<std::pair<std::string, std::string>> by_date;  // date, ref
  std::vector<std::string> in_creation;
  for (size_t i = 0; i < dates.size(); ++i) {
    std::string ref = Create(ObservationJson(p, "sort",
                                             R"("effectiveDateTime":")" + dates[i] +
                                                 R"(","valueQuantity":{"value":)" +
                                                 std::to_string(10 * (i + 1)) + "}"));
    by_date.emplace_back(dates[i], ref);
    in_creation.push_back(ref);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  std::sort(by_date.begin(), by_date.end());
  std::vector<std::string> asc, desc;
  for (const auto& [d, ref] : by_date) asc.push_back(ref);
  desc.assign(asc.rbegin(), asc.rend());

  EXPECT_EQ(Get("/Observation?code=sort&_sort=date").matches, asc);
  EXPECT_EQ(Get("/Observation?code=sort&_sort=-date").matches, desc);
  int pages = 0;
  EXPECT_EQ(Walk("/Observation?code=sort&_sort=-date&_count=2", &pages, nullptr), desc);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(Get("/Observation?code=sort&_sort=-value-quantity").matches,
            std::vector<std::string>(in_creation.rbegin(), in_creation.rend()));
  EXPECT_EQ(Get("/Observation?code=sort&_sort=_lastUpdated").matches, in_creation);
  EXPECT_EQ(Get("/Observation?code=sort&_sort=-_lastUpdated").matches,
            std::vector<std::string>(in_creation.rbegin(), in_creation.rend()));
  // Strings and codes cannot be sorted (the index keeps no clear values); unknown keys refused.
  ExpectBadRequest("/Patient?_sort=family");
  ExpectBadRequest("/Observation?_sort=nosuchparam");
  ExpectBadRequest("?_sort=date");
}

TEST_F(SearchTest, IncludeAndRevinclude) {
  const std::string pract =
      Create(R"({"resourceType":"Practitioner","name":[{"family":"Doctor"}]})");
  const std::string p1 = Create(
      PatientJson("Inc", "One", R"("generalPractitioner":[{"reference":")" + pract + R"("}])"));
  const std::string p2 = Create(PatientJson("Inc", "Two"));
  const std::string enc =
      Create(R"({"resourceType":"Encounter","status":"finished","class":{"system":)"
             R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},)"
             R"("subject":{"reference":")" +
             p1 + R"("}})");
  const std::string o1 =
      Create(ObservationJson(p1, "inc",
                             R"("encounter":{"reference":")" + enc +
                                 R"("},"performer":[{"reference":")" + pract + R"("}])"));
  const std::string o2 = Create(ObservationJson(p1, "inc"));
  const std::string o3 = Create(ObservationJson(p2, "inc"));
  const std::string dangling = Create(ObservationJson("Patient/never-existed", "inc"));

  Page inc = Get("/Observation?code=inc&_include=Observation:subject");
  ASSERT_EQ(inc.status, 200) << inc.body;
  EXPECT_EQ(Ids(inc.matches.begin(), inc.matches.end()), Ids({o1, o2, o3, dangling}));
  EXPECT_EQ(inc.matches.size(), 4u);
  EXPECT_EQ(Ids(inc.includes.begin(), inc.includes.end()), Ids({p1, p2}));
  EXPECT_EQ(inc.includes.size(), 2u) << "each included resource once";
  EXPECT_EQ(inc.total, 4) << "the total counts matches only";

  Page typed = Get("/Observation?_id=" + IdOf(o1) + "&_include=Observation:performer:Practitioner");
  EXPECT_EQ(typed.matches, std::vector<std::string>({o1}));
  EXPECT_EQ(typed.includes, std::vector<std::string>({pract}));
  Page wrong_target =
      Get("/Observation?_id=" + IdOf(o1) + "&_include=Observation:performer:Organization");
  EXPECT_TRUE(wrong_target.includes.empty());
  Page all_refs = Get("/Observation?_id=" + IdOf(o1) + "&_include=Observation:*");
  EXPECT_EQ(Ids(all_refs.includes.begin(), all_refs.includes.end()), Ids({p1, enc, pract}));

  Page rev = Get("/Patient?family=Inc&_revinclude=Observation:subject");
  EXPECT_EQ(Ids(rev.matches.begin(), rev.matches.end()), Ids({p1, p2}));
  EXPECT_EQ(Ids(rev.includes.begin(), rev.includes.end()), Ids({o1, o2, o3}));
  EXPECT_EQ(rev.total, 2);
  Page rev_enc = Get("/Patient?_id=" + IdOf(p1) +
                     "&_revinclude=Observation:subject&_revinclude=Encounter:subject");
  EXPECT_EQ(Ids(rev_enc.includes.begin(), rev_enc.includes.end()), Ids({o1, o2, enc}));
  // :iterate follows the included resources' references once more.
  Page iter = Get("/Patient?_id=" + IdOf(p2) + "," + IdOf(p1) +
                  "&_revinclude=Observation:subject&_include:iterate=Observation:performer");
  EXPECT_EQ(Ids(iter.includes.begin(), iter.includes.end()), Ids({o1, o2, o3, pract}));
  // A resource already matched is not repeated as an include.
  Page self = Get("/Patient?_id=" + IdOf(p1) + "&_include=Patient:link");
  EXPECT_TRUE(self.includes.empty());
  // Deleted targets are not included.
  ASSERT_EQ(client_.Fhir("DELETE", dep_.Base() + "/" + p2, dep_.token()).status, 204);
  Page after = Get("/Observation?code=inc&_include=Observation:subject");
  EXPECT_EQ(after.includes, std::vector<std::string>({p1}));
  // Refused forms.
  ExpectBadRequest("/Patient?_include=Observation:subject");  // not a type searched
  ExpectBadRequest("/Observation?_include=Observation:code");
  ExpectBadRequest("/Observation?_include=Observation");
  ExpectBadRequest("/Observation?_include=Nope:subject");
  ExpectBadRequest("/Patient?_revinclude=Observation:*");
}

TEST_F(SearchTest, SummaryElementsAndTotal) {
  const std::string p = Create(
      PatientJson("Summary", "Sam",
                  R"("gender":"female","birthDate":"1990-01-01","text":{"status":"generated",)"
                  R"("div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Sam</div>"})"));
  Page elements = Get("/Patient?family=Summary&_elements=name,gender");
  ASSERT_EQ(elements.status, 200);
  rapidjson::Document doc = ParseJson(elements.body);
  const auto& res = doc["entry"][0]["resource"];
  EXPECT_TRUE(res.HasMember("name"));
  EXPECT_TRUE(res.HasMember("gender"));
  EXPECT_FALSE(res.HasMember("birthDate"));
  EXPECT_FALSE(res.HasMember("text"));
  EXPECT_EQ(JsonString(res, "id"), IdOf(p));
  bool subsetted = false;
  if (res.HasMember("meta") && res["meta"].HasMember("tag")) {
    for (const auto& t : res["meta"]["tag"].GetArray())
      subsetted |= JsonString(t, "code") == "SUBSETTED";
  }
  EXPECT_TRUE(subsetted) << elements.body;
  EXPECT_NE(elements.self.find("_elements=name"), std::string::npos) << elements.self;
  // The stored resource is unchanged.
  HttpResponse read = client_.Fhir("GET", dep_.Base() + "/" + p, dep_.token());
  EXPECT_NE(read.body.find("birthDate"), std::string::npos);
  EXPECT_EQ(read.body.find("SUBSETTED"), std::string::npos);

  Page text = Get("/Patient?family=Summary&_summary=text");
  rapidjson::Document t = ParseJson(text.body);
  EXPECT_TRUE(t["entry"][0]["resource"].HasMember("text"));
  EXPECT_FALSE(t["entry"][0]["resource"].HasMember("gender"));
  Page data = Get("/Patient?family=Summary&_summary=data");
  rapidjson::Document d = ParseJson(data.body);
  EXPECT_FALSE(d["entry"][0]["resource"].HasMember("text"));
  EXPECT_TRUE(d["entry"][0]["resource"].HasMember("gender"));

  Page count = Get("/Patient?_summary=count");
  EXPECT_EQ(count.total, 1);
  EXPECT_EQ(count.entries, 0u);
  EXPECT_EQ(Get("/Observation?_summary=count").total, 0);
  Page none = Get("/Patient?_total=none&family=Summary");
  EXPECT_EQ(none.matches.size(), 1u);
  ExpectBadRequest("/Patient?_summary=maybe");
  ExpectBadRequest("/Patient?_total=all");
}

TEST_F(SearchTest, UnknownParametersWarnOrFailWhenStrict) {
  const std::string p = Create(PatientJson("Unknown", "U"));
  Create(PatientJson("Other", "O"));
  Page lenient = Get("/Patient?family=Unknown&nosuchparam=1");
  ASSERT_EQ(lenient.status, 200) << lenient.body;
  EXPECT_EQ(lenient.matches, std::vector<std::string>({p}));
  ASSERT_EQ(lenient.outcomes.size(), 1u) << lenient.body;
  EXPECT_NE(lenient.outcomes[0].find("\"severity\":\"warning\""), std::string::npos);
  EXPECT_NE(lenient.outcomes[0].find("nosuchparam"), std::string::npos);
  EXPECT_EQ(FirstIssueCode(lenient.outcomes[0]), "HYGIE-SEARCH-PARAM-UNKNOWN");
  // The ignored parameter is not carried into the links.
  EXPECT_EQ(lenient.self.find("nosuchparam"), std::string::npos) << lenient.self;

  HttpResponse strict = client_.Fhir("GET", dep_.Base() + "/Patient?family=Unknown&nosuchparam=1",
                                     dep_.token(), "", {{"Prefer", "handling=strict"}});
  EXPECT_EQ(strict.status, 400) << strict.body;
  EXPECT_TRUE(IsOperationOutcome(strict.body));
  EXPECT_NE(strict.body.find("nosuchparam"), std::string::npos);
  HttpResponse strict_ok = client_.Fhir("GET", dep_.Base() + "/Patient?family=Unknown",
                                        dep_.token(), "", {{"Prefer", "handling=strict"}});
  EXPECT_EQ(strict_ok.status, 200);
  // Known but unsupported parameters are refused, never ignored.
  ExpectBadRequest("/Patient?_has:Observation:subject:code=1");
  ExpectBadRequest("/Patient?_filter=family%20eq%20x");
  ExpectBadRequest("/Observation?code-value-quantity=x$1");
}

TEST_F(SearchTest, HostileQueriesGetA400NeverA5xx) {
  const std::string p = Create(PatientJson("Hostile", "H"));
  const std::vector<std::string> bad = {
      "/Patient?family=%FF",
      "/Patient?family=%C3%28",
      "/Patient?%FF=1",
      "/Patient?_count=-1",
      "/Patient?_count=abc",
      "/Patient?_count=1e3",
      "/Patient?_count=99999999999999999999999",
      "/Patient?_offset=-5",
      "/Patient?_cursor=zz",
      "/Observation?date=notadate",
      "/Observation?date=",
      "/Observation?subject:Nope.name=x",
      "/Patient?family:nosuchmodifier=x",
      "/Patient?gender:nosuchmodifier=x",
      "/Observation?date:nosuchmodifier=2020",
      "/Patient?birthdate=ge",
      "/Patient?_include=",
      "/Patient?identifier=" + std::string(150, ','),
  };
  for (const std::string& q : bad) ExpectBadRequest(q);

  // A 10,000-character value: refused, or searched and matching nothing; never a 5xx.
  for (const std::string& param :
       std::vector<std::string>{"family", "identifier", "_id", "subject"}) {
    const std::string type = param == "subject" ? "/Observation" : "/Patient";
    HttpResponse r = client_.Fhir(
        "GET", dep_.Base() + type + "?" + param + "=" + std::string(10000, 'a'), dep_.token());
    SCOPED_TRACE(param);
    if (r.status == 200) {
      Page pg = ParsePage(r);
      EXPECT_TRUE(pg.matches.empty());
    } else {
      EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
      EXPECT_TRUE(IsOperationOutcome(r.body));
    }
  }
  // 1,000 repeated parameters.
  std::string many = "/Patient?";
  for (int i = 0; i < 1000; ++i) many += "family=a&";
  ExpectBadRequest(many);
  std::string many_unknown = "/Patient?";
  for (int i = 0; i < 1000; ++i) many_unknown += "x" + std::to_string(i) + "=1&";
  ExpectBadRequest(many_unknown);
  // The same in a POST _search body.
  HttpResponse post = client_.Fhir("POST", dep_.Base() + "/Patient/_search", dep_.token(),
                                   many.substr(std::string("/Patient?").size()),
                                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(post.status, 400);
  EXPECT_TRUE(IsOperationOutcome(post.body));
  HttpResponse post_utf8 =
      client_.Fhir("POST", dep_.Base() + "/Patient/_search", dep_.token(), "family=%FF",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(post_utf8.status, 400);
  // Nothing was harmed.
  EXPECT_EQ(Match("/Patient?family=Hostile"), Ids({p}));
}

class SearchTenantTest : public ::testing::Test {
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

TEST_F(SearchTenantTest, SearchNeverCrossesTheWall) {
  const std::string family = "Wall" + RandomToken(8);
  const std::string body =
      PatientJson(family, "Same", R"("identifier":[{"system":"urn:wall","value":"42"}])");
  std::map<std::string, std::string> ids;  // tenant -> id
  for (const auto& [tenant, token] : std::vector<std::pair<std::string, std::string>>{
           {"acme", dep_.token()}, {"beta", beta_token_}}) {
    HttpResponse r = client_.Fhir("POST", "/fhir/" + tenant + "/Patient", token, body);
    ASSERT_EQ(r.status, 201) << r.body;
    ids[tenant] = JsonString(ParseJson(r.body), "id");
    HttpResponse o = client_.Fhir("POST", "/fhir/" + tenant + "/Observation", token,
                                  ObservationJson("Patient/" + ids[tenant], "wall"));
    ASSERT_EQ(o.status, 201);
  }
  // Each tenant finds exactly its own.
  for (const auto& [tenant, token] : std::vector<std::pair<std::string, std::string>>{
           {"acme", dep_.token()}, {"beta", beta_token_}}) {
    const std::string other = tenant == "acme" ? "beta" : "acme";
    for (const std::string& q : std::vector<std::string>{
             "/Patient?family=" + family, "/Patient?identifier=urn:wall|42", "?_type=Patient",
             "/Patient?_id=" + ids["acme"] + "," + ids["beta"],
             "/Observation?subject:Patient.identifier=42&_include=Observation:subject"}) {
      Page p = ParsePage(client_.Fhir("GET", Enc("/fhir/" + tenant + q), token));
      ASSERT_EQ(p.status, 200) << q << p.body;
      for (const auto& m : p.matches) EXPECT_EQ(m.find(ids[other]), std::string::npos) << q;
      for (const auto& m : p.includes) EXPECT_EQ(m.find(ids[other]), std::string::npos) << q;
      // (The self link repeats the query, which may name the other tenant's id.)
      EXPECT_EQ(p.body.find("\"id\":\"" + ids[other] + "\""), std::string::npos) << q;
      EXPECT_EQ(p.body.find("Patient/" + ids[other]), std::string::npos) << q;
      EXPECT_EQ(p.body.find("/fhir/" + other + "/"), std::string::npos) << q;
    }
    Page own =
        ParsePage(client_.Fhir("GET", "/fhir/" + tenant + "/Patient?family=" + family, token));
    EXPECT_EQ(own.matches, std::vector<std::string>({"Patient/" + ids[tenant]}));
    EXPECT_EQ(own.total, 1);
  }
  // Another tenant's token searching acme: 403, whatever the search.
  const std::string a = dep_.Base();
  for (const std::string& q : std::vector<std::string>{
           "/Patient?family=" + family, "/Patient", "?_id=" + ids["acme"], "/Patient?family=nobody",
           "/Patient/" + ids["acme"] + "/Observation",
           "/Patient/" + ids["acme"] + "/$everything"}) {
    HttpResponse r = client_.Fhir("GET", a + q, beta_token_);
    EXPECT_EQ(r.status, 403) << q;
    EXPECT_TRUE(IsOperationOutcome(r.body));
    EXPECT_EQ(r.body.find(family), std::string::npos);
    EXPECT_EQ(r.body.find(ids["acme"]), std::string::npos);
  }
  HttpResponse post = client_.Fhir("POST", a + "/Patient/_search", beta_token_, "family=" + family,
                                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(post.status, 403);
  EXPECT_EQ(post.body.find(family), std::string::npos);
}

class SearchCompartmentTest : public SearchTest {};

TEST_F(SearchCompartmentTest, PatientCompartmentAndEverything) {
  const std::string pract =
      Create(R"({"resourceType":"Practitioner","name":[{"family":"Careful"}]})");
  const std::string org = Create(R"({"resourceType":"Organization","name":"Clinic"})");
  const std::string p = Create(PatientJson("Compart", "C",
                                           R"("generalPractitioner":[{"reference":")" + pract +
                                               R"("}],)"
                                               R"("managingOrganization":{"reference":")" +
                                               org + R"("})"));
  const std::string other = Create(PatientJson("Compart", "Other"));
  const std::string enc =
      Create(R"({"resourceType":"Encounter","status":"finished","class":{"system":)"
             R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},)"
             R"("subject":{"reference":")" +
             p + R"("}})");
  const std::string o1 = Create(ObservationJson(p, "c1", R"("effectiveDateTime":"2020-01-01")"));
  const std::string o2 = Create(ObservationJson(p, "c2", R"("effectiveDateTime":"2021-01-01")"));
  // In the compartment through performer, not subject.
  const std::string o3 =
      Create(ObservationJson(other, "c3", R"("performer":[{"reference":")" + p + R"("}])"));
  const std::string o_other = Create(ObservationJson(other, "c4"));
  const std::string cond =
      Create(R"({"resourceType":"Condition","subject":{"reference":")" + p + R"("}})");
  const std::string pid = IdOf(p);

  EXPECT_EQ(Match("/Patient/" + pid + "/Observation"), Ids({o1, o2, o3}));
  EXPECT_EQ(Match("/Patient/" + pid + "/Observation?code=c2"), Ids({o2}));
  EXPECT_EQ(Match("/Patient/" + pid + "/Observation?date=lt2020-06-01"), Ids({o1}));
  EXPECT_EQ(Match("/Patient/" + pid + "/Encounter"), Ids({enc}));
  EXPECT_EQ(Match("/Patient/" + pid + "/Condition"), Ids({cond}));
  EXPECT_EQ(Match("/Patient/" + pid + "/Patient"), Ids({p}));
  EXPECT_EQ(Match("/Patient/" + IdOf(other) + "/Observation"), Ids({o3, o_other}));
  EXPECT_EQ(Match("/Patient/no-such-patient/Observation"), Ids());
  // Paging inside a compartment keeps the compartment.
  int pages = 0;
  std::vector<std::string> walked =
      Walk("/Patient/" + pid + "/Observation?_count=1", &pages, nullptr);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(Ids(walked.begin(), walked.end()), Ids({o1, o2, o3}));
  // Types outside the Patient compartment.
  ExpectBadRequest("/Patient/" + pid + "/Practitioner");
  ExpectBadRequest("/Patient/" + pid + "/Organization");

  HttpResponse all =
      client_.Fhir("GET", dep_.Base() + "/Patient/" + pid + "/$everything", dep_.token());
  Page everything = ParsePage(all);
  ASSERT_EQ(everything.status, 200) << all.body;
  EXPECT_EQ(Ids(everything.matches.begin(), everything.matches.end()),
            Ids({p, enc, o1, o2, o3, cond, pract, org}));
  EXPECT_EQ(everything.matches.size(), 8u);
  EXPECT_EQ(everything.total, 8);
  ASSERT_FALSE(everything.matches.empty());
  EXPECT_EQ(everything.matches[0], p) << "the patient comes first";
  EXPECT_EQ(std::count(everything.matches.begin(), everything.matches.end(), other), 0);
  EXPECT_EQ(std::count(everything.matches.begin(), everything.matches.end(), o_other), 0);
  for (const std::string& url : everything.full_urls) {
    EXPECT_NE(url.find(dep_.Base() + "/"), std::string::npos) << url;
  }

  // Deleted resources leave $everything; a deleted or missing patient has none.
  ASSERT_EQ(client_.Fhir("DELETE", dep_.Base() + "/" + o1, dep_.token()).status, 204);
  Page after = ParsePage(
      client_.Fhir("GET", dep_.Base() + "/Patient/" + pid + "/$everything", dep_.token()));
  EXPECT_EQ(Ids(after.matches.begin(), after.matches.end()),
            Ids({p, enc, o2, o3, cond, pract, org}));
  HttpResponse missing =
      client_.Fhir("GET", dep_.Base() + "/Patient/no-such-patient/$everything", dep_.token());
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(IsOperationOutcome(missing.body));
  ASSERT_EQ(client_.Fhir("DELETE", dep_.Base() + "/" + other, dep_.token()).status, 204);
  HttpResponse gone = client_.Fhir("GET", dep_.Base() + "/" + other + "/$everything", dep_.token());
  EXPECT_EQ(gone.status, 410);
  EXPECT_EQ(client_.Fhir("POST", dep_.Base() + "/" + p + "/$everything", dep_.token(), "{}").status,
            405);
  EXPECT_EQ(
      client_.Fhir("GET", dep_.Base() + "/Observation/" + IdOf(o2) + "/$everything", dep_.token())
          .status,
      404);
}

}  // namespace
}  // namespace hygie::e2e
