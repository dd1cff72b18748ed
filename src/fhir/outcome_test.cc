#include "fhir/outcome.h"

#include <set>
#include <string>
#include <string_view>
#include <type_traits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "fhir/resource.h"

namespace hygie::fhir {
namespace {

using ::testing::HasSubstr;

// Parses output strictly (same checks as request bodies: UTF-8, no duplicate names...).
rapidjson::Document ParseBack(const std::string& json) {
  auto r = Resource::Parse(json);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\n" << json.substr(0, 500);
  rapidjson::Document doc;
  if (r.ok()) doc.CopyFrom(r->doc(), doc.GetAllocator());
  return doc;
}

std::string Str(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

TEST(OperationOutcomeTest, OneIssueWithEverything) {
  auto doc = ParseBack(OperationOutcomeJson("error", "invalid", "JSON nested deeper than 64 levels",
                                            "Patient.name", "HYGIE-JSON-DEPTH"));
  EXPECT_EQ(Str(doc["resourceType"]), "OperationOutcome");
  ASSERT_EQ(doc["issue"].Size(), 1u);
  const auto& issue = doc["issue"][0];
  EXPECT_EQ(Str(issue["severity"]), "error");
  EXPECT_EQ(Str(issue["code"]), "invalid");
  EXPECT_EQ(Str(issue["diagnostics"]), "JSON nested deeper than 64 levels");
  ASSERT_TRUE(issue["expression"].IsArray());
  EXPECT_EQ(Str(issue["expression"][0]), "Patient.name");
  const auto& coding = issue["details"]["coding"][0];
  EXPECT_EQ(Str(coding["system"]), "https://hygie.health/fhir/CodeSystem/error");
  EXPECT_EQ(Str(coding["code"]), "HYGIE-JSON-DEPTH");
  EXPECT_EQ(Str(issue["details"]["text"]), "JSON nested deeper than 64 levels");
}

TEST(OperationOutcomeTest, OptionalMembersOmitted) {
  auto doc = ParseBack(OperationOutcomeJson("warning", "not-found", "no such resource"));
  const auto& issue = doc["issue"][0];
  EXPECT_EQ(Str(issue["severity"]), "warning");
  EXPECT_FALSE(issue.HasMember("details"));
  EXPECT_FALSE(issue.HasMember("expression"));
  EXPECT_EQ(Str(issue["diagnostics"]), "no such resource");
}

TEST(OperationOutcomeTest, SeveralIssuesAndEscaping) {
  Issue a;
  a.code = "invalid";
  a.diagnostics = "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') + " end";
  Issue b;
  b.severity = "warning";
  b.code = "processing";
  b.diagnostics = "second";
  const std::string json = OperationOutcomeJson({a, b});
  EXPECT_THAT(json, ::testing::Not(HasSubstr("\n")));
  auto doc = rapidjson::Document();
  doc.Parse(json.data(), json.size());  // the NUL is escaped: only RapidJSON's own checks here
  ASSERT_FALSE(doc.HasParseError());
  ASSERT_EQ(doc["issue"].Size(), 2u);
  EXPECT_EQ(Str(doc["issue"][0]["diagnostics"]), a.diagnostics);
  EXPECT_EQ(Str(doc["issue"][0]["severity"]), "error");
  EXPECT_EQ(Str(doc["issue"][1]["severity"]), "warning");
}

TEST(OperationOutcomeTest, InvalidUtf8InTextIsReplacedNotPassedThrough) {
  const std::string json = OperationOutcomeJson(
      "error", "invalid", std::string("bad \xC0\xAF bytes \xE2\x82 end \xC3\xA9"), {}, {});
  auto doc = ParseBack(json);  // strict parse: valid UTF-8 or the test fails
  EXPECT_EQ(Str(doc["issue"][0]["diagnostics"]),
            "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes \xEF\xBF\xBD\xEF\xBF\xBD end \xC3\xA9");
}

TEST(OperationOutcomeTest, EmptyIssueListStillHasOneIssue) {
  auto doc = ParseBack(OperationOutcomeJson(std::vector<Issue>{}));
  ASSERT_EQ(doc["issue"].Size(), 1u);
  EXPECT_EQ(Str(doc["issue"][0]["code"]), "informational");
}

TEST(MapStatusTest, Table) {
  struct Row {
    Code code;
    int http;
    const char* issue;
  };
  const Row rows[] = {
      {Code::kInvalidArgument, 400, "invalid"},
      {Code::kNotFound, 404, "not-found"},
      {Code::kGone, 410, "deleted"},
      {Code::kAlreadyExists, 409, "duplicate"},
      {Code::kConflict, 409, "conflict"},
      {Code::kFailedPrecondition, 412, "conflict"},
      {Code::kUnauthenticated, 401, "login"},
      {Code::kPermissionDenied, 403, "forbidden"},
      {Code::kResourceExhausted, 413, "too-long"},
      {Code::kDataLoss, 500, "exception"},
      {Code::kUnavailable, 503, "transient"},
      {Code::kInternal, 500, "exception"},
  };
  for (const Row& row : rows) {
    const HttpError e = MapStatus(Status(row.code, "m"));
    EXPECT_EQ(e.http_status, row.http) << CodeName(row.code);
    EXPECT_EQ(e.issue_code, row.issue) << CodeName(row.code);
  }
}

TEST(CapabilityStatementTest, Contents) {
  CapabilityOptions options;
  options.software_version = "0.1.0";
  options.implementation_url = "https://fhir.example.org/fhir/acme";
  options.date = "2024-06-01T00:00:00Z";
  auto doc = ParseBack(CapabilityStatementJson(options));
  EXPECT_EQ(Str(doc["resourceType"]), "CapabilityStatement");
  EXPECT_EQ(Str(doc["status"]), "active");
  EXPECT_EQ(Str(doc["date"]), "2024-06-01T00:00:00Z");
  EXPECT_EQ(Str(doc["kind"]), "instance");
  EXPECT_EQ(Str(doc["fhirVersion"]), "4.0.1");
  EXPECT_EQ(Str(doc["software"]["name"]), "Hygie");
  EXPECT_EQ(Str(doc["software"]["version"]), "0.1.0");
  EXPECT_EQ(Str(doc["implementation"]["url"]), "https://fhir.example.org/fhir/acme");
  EXPECT_TRUE(doc["implementation"].HasMember("description"));
  ASSERT_EQ(doc["format"].Size(), 2u);
  EXPECT_EQ(Str(doc["format"][0]), "application/fhir+json");
  EXPECT_EQ(Str(doc["format"][1]), "json");

  ASSERT_EQ(doc["rest"].Size(), 1u);
  const auto& rest = doc["rest"][0];
  EXPECT_EQ(Str(rest["mode"]), "server");
  EXPECT_FALSE(rest["security"]["cors"].GetBool());
  const auto& service = rest["security"]["service"][0]["coding"][0];
  EXPECT_EQ(Str(service["system"]),
            "http://terminology.hl7.org/CodeSystem/restful-security-service");
  EXPECT_EQ(Str(service["code"]), "SMART-on-FHIR");
  EXPECT_THAT(Str(rest["security"]["description"]), HasSubstr("Bearer"));
  std::set<std::string> system_codes;
  for (const auto& i : rest["interaction"].GetArray()) system_codes.insert(Str(i["code"]));
  EXPECT_EQ(system_codes,
            (std::set<std::string>{"transaction", "batch", "search-system", "history-system"}));

  const auto& resources = rest["resource"];
  ASSERT_EQ(resources.Size(), ResourceTypes().size());
  std::set<std::string> types;
  for (const auto& r : resources.GetArray()) {
    types.insert(Str(r["type"]));
    std::set<std::string> codes;
    for (const auto& i : r["interaction"].GetArray()) codes.insert(Str(i["code"]));
    if (Str(r["type"]) == "AuditEvent") {
      // The audit trail is read-only.
      EXPECT_EQ(codes, (std::set<std::string>{"read", "search-type"}));
      EXPECT_GE(r["searchParam"].Size(), 6u);
      continue;
    }
    EXPECT_EQ(codes, (std::set<std::string>{"read", "vread", "update", "patch", "delete", "create",
                                            "search-type", "history-instance", "history-type"}));
    EXPECT_EQ(Str(r["versioning"]), "versioned-update");
    EXPECT_TRUE(r["readHistory"].GetBool());
    EXPECT_TRUE(r["updateCreate"].GetBool());
    EXPECT_TRUE(r["conditionalCreate"].GetBool());
    EXPECT_TRUE(r["conditionalUpdate"].GetBool());
    EXPECT_EQ(Str(r["conditionalDelete"]), "single");
    // Search parameters come from the R4 definitions; every resource has _id.
    std::set<std::string> params;
    for (const auto& p : r["searchParam"].GetArray()) params.insert(Str(p["name"]));
    EXPECT_EQ(params.count("_id"), 1u) << Str(r["type"]);
    if (Str(r["type"]) == "Patient") {
      EXPECT_EQ(params.count("birthdate"), 1u);
      EXPECT_EQ(params.count("name"), 1u);
    }
  }
  EXPECT_EQ(types.size(), ResourceTypes().size());
  EXPECT_EQ(types.count("Patient"), 1u);
  EXPECT_EQ(types.count("Resource"), 0u);
}

TEST(BundleWriterTest, HistoryBundleWithDeletedVersion) {
  auto patient = Resource::Parse(R"({"resourceType":"Patient","name":[{"family":"Durand"}]})");
  ASSERT_TRUE(patient.ok());
  patient->SetId("p1");
  patient->SetVersionMeta(1, "2024-01-01T00:00:00Z");

  BundleWriter writer("history", "b-1", "2024-01-03T00:00:00Z");
  writer.SetTotal(2);
  writer.AddLink("self", "https://h.example/fhir/acme/Patient/p1/_history");
  BundleWriter::Entry deleted;
  deleted.full_url = "https://h.example/fhir/acme/Patient/p1";
  deleted.request_method = "DELETE";
  deleted.request_url = "Patient/p1";
  deleted.response_status = "204 No Content";
  deleted.response_etag = "W/\"2\"";
  deleted.response_last_modified = "2024-01-02T00:00:00Z";
  writer.AddEntry(deleted);
  BundleWriter::Entry created;
  created.full_url = "https://h.example/fhir/acme/Patient/p1";
  created.resource_json = patient->Serialize();
  created.request_method = "POST";
  created.request_url = "Patient";
  created.response_status = "201 Created";
  created.response_etag = "W/\"1\"";
  writer.AddEntry(created);
  auto doc = ParseBack(writer.Finish());

  EXPECT_EQ(Str(doc["resourceType"]), "Bundle");
  EXPECT_EQ(Str(doc["id"]), "b-1");
  EXPECT_EQ(Str(doc["meta"]["lastUpdated"]), "2024-01-03T00:00:00Z");
  EXPECT_EQ(Str(doc["type"]), "history");
  EXPECT_EQ(NumberText(doc["total"]), "2");
  ASSERT_EQ(doc["link"].Size(), 1u);
  EXPECT_EQ(Str(doc["link"][0]["relation"]), "self");
  ASSERT_EQ(doc["entry"].Size(), 2u);

  const auto& e0 = doc["entry"][0];
  EXPECT_FALSE(e0.HasMember("resource"));
  EXPECT_FALSE(e0.HasMember("search"));
  EXPECT_EQ(Str(e0["request"]["method"]), "DELETE");
  EXPECT_EQ(Str(e0["request"]["url"]), "Patient/p1");
  EXPECT_EQ(Str(e0["response"]["status"]), "204 No Content");
  EXPECT_EQ(Str(e0["response"]["etag"]), "W/\"2\"");
  EXPECT_EQ(Str(e0["response"]["lastModified"]), "2024-01-02T00:00:00Z");

  const auto& e1 = doc["entry"][1];
  EXPECT_EQ(Str(e1["fullUrl"]), "https://h.example/fhir/acme/Patient/p1");
  EXPECT_TRUE(e1["resource"] == patient->doc());  // embedded as is
  EXPECT_FALSE(e1["response"].HasMember("lastModified"));
}

TEST(BundleWriterTest, SearchsetWithoutRequestOrResponse) {
  BundleWriter writer("searchset", "b-2", "2024-01-03T00:00:00Z");
  writer.SetTotal(1);
  BundleWriter::Entry match;
  match.full_url = "https://h.example/fhir/acme/Observation/o1";
  match.resource_json = R"({"resourceType":"Observation","id":"o1"})";
  match.search_mode = "match";
  writer.AddEntry(match);
  auto doc = ParseBack(writer.Finish());
  EXPECT_EQ(Str(doc["type"]), "searchset");
  EXPECT_FALSE(doc.HasMember("link"));
  const auto& e = doc["entry"][0];
  EXPECT_EQ(Str(e["search"]["mode"]), "match");
  EXPECT_EQ(Str(e["resource"]["id"]), "o1");
  EXPECT_FALSE(e.HasMember("request"));
  EXPECT_FALSE(e.HasMember("response"));
}

TEST(BundleWriterTest, EmptyBundleHasNoEmptyArrays) {
  BundleWriter writer("searchset", "b-3", "2024-01-03T00:00:00Z");
  writer.SetTotal(0);
  const std::string json = writer.Finish();
  auto doc = ParseBack(json);
  EXPECT_EQ(NumberText(doc["total"]), "0");
  EXPECT_FALSE(doc.HasMember("entry"));  // FHIR JSON forbids empty arrays
  EXPECT_FALSE(doc.HasMember("link"));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("[]")));
}

TEST(BundleWriterTest, NoTotalWhenNotSet) {
  BundleWriter writer("batch-response", "b-4", "2024-01-03T00:00:00Z");
  BundleWriter::Entry e;
  e.response_status = "200 OK";
  writer.AddEntry(e);
  auto doc = ParseBack(writer.Finish());
  EXPECT_FALSE(doc.HasMember("total"));
  EXPECT_EQ(Str(doc["entry"][0]["response"]["status"]), "200 OK");
  EXPECT_FALSE(doc["entry"][0].HasMember("fullUrl"));
}

TEST(BundleWriterTest, ResourceNumbersAreEmbeddedVerbatim) {
  auto obs = Resource::Parse(
      R"({"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"}})");
  ASSERT_TRUE(obs.ok());
  BundleWriter writer("searchset", "b-6", "2024-01-03T00:00:00Z");
  BundleWriter::Entry e;
  e.resource_json = obs->Serialize();
  writer.AddEntry(e);
  const std::string json = writer.Finish();
  EXPECT_THAT(json, HasSubstr(R"("value":1.50,)"));
  auto doc = ParseBack(json);
  EXPECT_EQ(NumberText(doc["entry"][0]["resource"]["valueQuantity"]["value"]), "1.50");
}

// BundleWriter owns a buffer through a pointer: a copy would share or double-free it.
static_assert(!std::is_copy_constructible_v<BundleWriter>);
static_assert(!std::is_copy_assignable_v<BundleWriter>);

TEST(BundleWriterTest, ManyEntries) {
  BundleWriter writer("searchset", "b-5", "2024-01-03T00:00:00Z");
  writer.SetTotal(500);
  for (int i = 0; i < 500; ++i) {
    BundleWriter::Entry e;
    e.resource_json = R"({"resourceType":"Patient","id":"p)" + std::to_string(i) + R"("})";
    e.search_mode = "match";
    writer.AddEntry(e);
  }
  auto doc = ParseBack(writer.Finish());
  ASSERT_EQ(doc["entry"].Size(), 500u);
  EXPECT_EQ(Str(doc["entry"][499]["resource"]["id"]), "p499");
}

}  // namespace
}  // namespace hygie::fhir
