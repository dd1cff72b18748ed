#include "audit/audit_event.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "fhir/resource.h"
#include "fhir/validator.h"

namespace hygie::audit {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

int64_t At(std::string_view instant) {
  auto t = ParseInstant(instant);
  EXPECT_TRUE(t.ok()) << instant;
  return t.ok() ? *t : 0;
}

Record ReadRecord() {
  Record r;
  r.index = 123;
  r.time_us = At("2026-11-25T04:05:29.123456Z");
  r.request_id = "01JDQ8Z3K4ABCDEF";
  r.tenant = "acme";
  r.subject = "dr-house";
  r.client_id = "telemed-app";
  r.issuer = "https://idp.example.org/realms/care";
  r.role = "practitioner";
  r.professional_id = "10003456789";
  r.peer = "192.0.2.10";
  r.purpose = "TREAT";
  r.interaction = "vread";
  r.action = 'R';
  r.resource_type = "Observation";
  r.resource_id = "obs-1";
  r.version = 3;
  r.status = 200;
  return r;
}

Record SearchRecord() {
  Record r = ReadRecord();
  r.index = 124;
  r.interaction = "search-type";
  r.action = 'E';
  r.resource_id.clear();
  r.version = 0;
  r.query = {{"patient", "hmac-sha256:0123456789abcdef"}, {"_count", "10"}};
  return r;
}

Record CreateRecord() {
  Record r = ReadRecord();
  r.index = 125;
  r.interaction = "create";
  r.action = 'C';
  r.resource_type = "Patient";
  r.resource_id = "p-7";
  r.version = 1;
  r.status = 201;
  r.purpose = "care coordination";  // not an ActReason code: kept as text
  return r;
}

Record RefusedLoginRecord() {
  Record r;
  r.index = 126;
  r.time_us = At("2026-11-25T05:00:00Z");
  r.request_id = "01JDQ8Z3K4XYZ";
  r.tenant = "acme";
  r.peer = "2001:db8::7";
  r.interaction = "login";
  r.action = 'E';
  r.status = 401;
  r.detail = "expired token";
  return r;
}

Record StaffRecord() {
  Record r = ReadRecord();
  r.index = 127;
  r.subject = "ops-alice";
  r.issuer = "hygie";
  r.client_id.clear();
  r.role = "host-operator";
  r.professional_id.clear();
  r.staff = true;
  r.interaction = "read";
  r.resource_type = "Patient";
  r.resource_id = "p-7";
  r.version = 0;
  r.purpose = "support ticket 4411";
  return r;
}

Record SystemRecord() {
  Record r;
  r.index = 0;
  r.time_us = At("2026-11-24T23:59:59.999Z");
  r.subject = "root";
  r.role = "cli";
  r.peer = "local";
  r.interaction = "tenant-create";
  r.action = 'C';
  r.resource_id = "acme";
  r.status = 500;
  r.detail = "disk full";
  return r;
}

std::unique_ptr<rapidjson::Document> Parse(const std::string& json) {
  auto doc = fhir::ParseJson(json);
  EXPECT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << json;
  return doc.ok() ? std::move(*doc) : nullptr;
}

std::string Describe(const std::vector<fhir::Issue>& issues) {
  std::string out;
  for (const auto& i : issues) {
    out += i.severity + " " + i.details_code + " @" + i.expression + ": " + i.diagnostics + "\n";
  }
  return out;
}

// Renders, checks the resource is a valid R4 AuditEvent, returns it parsed.
std::unique_ptr<rapidjson::Document> RenderValid(const Record& r) {
  const std::string json = RenderAuditEvent(r);
  auto doc = Parse(json);
  if (!doc) return nullptr;
  const auto issues = fhir::ValidateResource(*doc);
  EXPECT_TRUE(issues.empty()) << Describe(issues) << json;
  return doc;
}

std::string Str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength())
                      : std::string("<not a string>");
}

// The agent whose first type coding has this code, or nullptr.
const rapidjson::Value* AgentOfType(const rapidjson::Value& event, std::string_view code) {
  for (const auto& a : event["agent"].GetArray()) {
    if (Str(a["type"]["coding"][0]["code"]) == code) return &a;
  }
  return nullptr;
}

// The entity whose role (or type, without role) has this code, or nullptr.
const rapidjson::Value* EntityWithRole(const rapidjson::Value& event, std::string_view code) {
  if (!event.HasMember("entity")) return nullptr;
  for (const auto& e : event["entity"].GetArray()) {
    if (e.HasMember("role") && Str(e["role"]["code"]) == code) return &e;
  }
  return nullptr;
}

TEST(AuditEventTest, EveryKindOfRecordIsAValidAuditEvent) {
  for (const Record& r : {ReadRecord(), SearchRecord(), CreateRecord(), RefusedLoginRecord(),
                          StaffRecord(), SystemRecord()}) {
    SCOPED_TRACE(r.interaction);
    auto doc = RenderValid(r);
    ASSERT_NE(doc, nullptr);
    EXPECT_EQ(Str((*doc)["resourceType"]), "AuditEvent");
    EXPECT_EQ(Str((*doc)["id"]), "a" + std::to_string(r.index));
    EXPECT_EQ(Str((*doc)["recorded"]), FormatInstant(r.time_us));
    EXPECT_EQ(Str((*doc)["meta"]["lastUpdated"]), FormatInstant(r.time_us));
    EXPECT_EQ(Str((*doc)["action"]), std::string(1, r.action));
    EXPECT_EQ(Str((*doc)["source"]["observer"]["display"]), "Hygie");
  }
}

TEST(AuditEventTest, Read) {
  auto doc = RenderValid(ReadRecord());
  ASSERT_NE(doc, nullptr);
  const auto& e = *doc;
  EXPECT_EQ(Str(e["id"]), "a123");
  EXPECT_EQ(Str(e["recorded"]), "2026-11-25T04:05:29.123Z");
  EXPECT_EQ(Str(e["type"]["system"]), "http://terminology.hl7.org/CodeSystem/audit-event-type");
  EXPECT_EQ(Str(e["type"]["code"]), "rest");
  EXPECT_EQ(Str(e["subtype"][0]["system"]), "http://hl7.org/fhir/restful-interaction");
  EXPECT_EQ(Str(e["subtype"][0]["code"]), "vread");
  EXPECT_EQ(Str(e["outcome"]), "0");
  EXPECT_FALSE(e.HasMember("outcomeDesc"));
  EXPECT_EQ(Str(e["purposeOfEvent"][0]["coding"][0]["code"]), "TREAT");
  EXPECT_EQ(Str(e["source"]["site"]), "acme");

  const auto* user = AgentOfType(e, "IRCP");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(Str((*user)["who"]["identifier"]["system"]), "https://idp.example.org/realms/care");
  EXPECT_EQ(Str((*user)["who"]["identifier"]["value"]), "dr-house");
  EXPECT_TRUE((*user)["requestor"].GetBool());
  EXPECT_EQ(Str((*user)["altId"]), "10003456789");
  EXPECT_EQ(Str((*user)["role"][0]["coding"][0]["code"]), "practitioner");
  EXPECT_FALSE(user->HasMember("network"));  // users are not network devices (BALP)

  // BALP read: the client receives (Destination Role ID), the server sends (Source Role ID).
  const auto* client = AgentOfType(e, "110152");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(Str((*client)["who"]["identifier"]["value"]), "telemed-app");
  EXPECT_EQ(Str((*client)["network"]["address"]), "192.0.2.10");
  EXPECT_EQ(Str((*client)["network"]["type"]), "2");
  EXPECT_FALSE((*client)["requestor"].GetBool());
  const auto* server = AgentOfType(e, "110153");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Str((*server)["who"]["display"]), "Hygie");

  const auto* data = EntityWithRole(e, "4");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(Str((*data)["what"]["reference"]), "Observation/obs-1/_history/3");
  EXPECT_EQ(Str((*data)["type"]["code"]), "2");
  EXPECT_EQ(EntityWithRole(e, "24"), nullptr);  // no query
  bool request_entity = false;
  for (const auto& en : e["entity"].GetArray()) {
    if (Str(en["type"]["code"]) == "XrequestId") {
      request_entity = true;
      EXPECT_EQ(Str(en["what"]["identifier"]["value"]), "01JDQ8Z3K4ABCDEF");
    }
  }
  EXPECT_TRUE(request_entity);
  EXPECT_FALSE(e["meta"].HasMember("tag"));
}

TEST(AuditEventTest, SearchCarriesTheHashedQuery) {
  auto doc = RenderValid(SearchRecord());
  ASSERT_NE(doc, nullptr);
  const auto& e = *doc;
  EXPECT_EQ(Str(e["type"]["code"]), "rest");
  EXPECT_EQ(Str(e["subtype"][0]["code"]), "search-type");
  EXPECT_EQ(Str(e["action"]), "E");
  const auto* query = EntityWithRole(e, "24");
  ASSERT_NE(query, nullptr);
  const std::string expected = "Observation?patient=hmac-sha256:0123456789abcdef&_count=10";
  EXPECT_EQ(Str((*query)["description"]), expected);
  auto decoded = crypto::Base64Decode(Str((*query)["query"]));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(AsChars(*decoded), expected);
  // A type-level act names the type, not an instance.
  const auto* data = EntityWithRole(e, "4");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(Str((*data)["what"]["type"]), "Observation");
  // BALP query: the client sends the query (Source Role ID).
  EXPECT_NE(AgentOfType(e, "110153"), nullptr);
  EXPECT_EQ(Str((*AgentOfType(e, "110153"))["who"]["identifier"]["value"]), "telemed-app");
}

TEST(AuditEventTest, CreateOfAPatient) {
  auto doc = RenderValid(CreateRecord());
  ASSERT_NE(doc, nullptr);
  const auto& e = *doc;
  EXPECT_EQ(Str(e["subtype"][0]["code"]), "create");
  EXPECT_EQ(Str(e["action"]), "C");
  EXPECT_EQ(Str(e["outcome"]), "0");
  EXPECT_EQ(Str(e["purposeOfEvent"][0]["text"]), "care coordination");
  EXPECT_NE(AgentOfType(e, "AUT"), nullptr);
  EXPECT_EQ(Str((*EntityWithRole(e, "4"))["what"]["reference"]), "Patient/p-7/_history/1");
  const auto* patient = EntityWithRole(e, "1");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(Str((*patient)["what"]["reference"]), "Patient/p-7");
  EXPECT_EQ(Str((*patient)["type"]["code"]), "1");
}

TEST(AuditEventTest, RefusedLoginWithoutSubject) {
  auto doc = RenderValid(RefusedLoginRecord());
  ASSERT_NE(doc, nullptr);
  const auto& e = *doc;
  EXPECT_EQ(Str(e["type"]["system"]), "http://dicom.nema.org/resources/ontology/DCM");
  EXPECT_EQ(Str(e["type"]["code"]), "110114");
  EXPECT_EQ(Str(e["subtype"][0]["code"]), "110122");
  EXPECT_EQ(Str(e["outcome"]), "4");
  EXPECT_EQ(Str(e["outcomeDesc"]), "expired token");
  EXPECT_EQ(AgentOfType(e, "IRCP"), nullptr);
  // The client, known only by its address, is the requestor.
  const auto* client = AgentOfType(e, "110153");
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE((*client)["requestor"].GetBool());
  EXPECT_FALSE(client->HasMember("who"));
  EXPECT_EQ(Str((*client)["network"]["address"]), "2001:db8::7");
  EXPECT_EQ(Str((*client)["network"]["type"]), "2");
}

TEST(AuditEventTest, StaffAccessIsMarked) {
  auto doc = RenderValid(StaffRecord());
  ASSERT_NE(doc, nullptr);
  const auto& e = *doc;
  ASSERT_TRUE(e["meta"].HasMember("tag"));
  EXPECT_EQ(Str(e["meta"]["tag"][0]["system"]), kAuditCodeSystem);
  EXPECT_EQ(Str(e["meta"]["tag"][0]["code"]), kStaffAccessCode);
  const auto* user = AgentOfType(e, "IRCP");
  ASSERT_NE(user, nullptr);
  ASSERT_EQ((*user)["type"]["coding"].Size(), 2u);
  EXPECT_EQ(Str((*user)["type"]["coding"][1]["code"]), kStaffAccessCode);
  EXPECT_EQ(Str((*user)["role"][0]["coding"][0]["code"]), "host-operator");
  // "hygie" is not a uri with a scheme, but a uri all the same (no white space).
  EXPECT_EQ(Str((*user)["who"]["identifier"]["system"]), "hygie");
  EXPECT_EQ(Str(e["purposeOfEvent"][0]["text"]), "support ticket 4411");
  // Without a client id, the client agent is still there for its address.
  EXPECT_NE(AgentOfType(e, "110152"), nullptr);
}

TEST(AuditEventTest, SystemActFailure) {
  auto doc = RenderValid(SystemRecord());
  ASSERT_NE(doc, nullptr);
  const auto& e = *doc;
  EXPECT_EQ(Str(e["id"]), "a0");
  EXPECT_EQ(Str(e["type"]["code"]), "110113");
  ASSERT_EQ(e["subtype"].Size(), 2u);
  EXPECT_EQ(Str(e["subtype"][0]["code"]), "110129");
  EXPECT_EQ(Str(e["subtype"][1]["system"]), kActCodeSystem);
  EXPECT_EQ(Str(e["subtype"][1]["code"]), "tenant-create");
  EXPECT_EQ(Str(e["outcome"]), "8");
  EXPECT_EQ(Str(e["outcomeDesc"]), "disk full");
  EXPECT_FALSE(e["source"].HasMember("site"));
  const auto* client = AgentOfType(e, "110153");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(Str((*client)["network"]["address"]), "local");
  EXPECT_EQ(Str((*client)["network"]["type"]), "1");  // a machine name, not an IP address
  const auto* data = EntityWithRole(e, "4");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(Str((*data)["what"]["identifier"]["value"]), "acme");
}

TEST(AuditEventTest, OddStringsStayValid) {
  Record r = SystemRecord();
  r.issuer = "not a uri";
  r.role = "two  spaces";
  r.interaction = "odd act name";
  r.resource_type = "Some Type";
  r.resource_id.clear();
  r.status = 0;
  auto doc = RenderValid(r);
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(Str((*doc)["outcome"]), "12");
  EXPECT_EQ(Str((*doc)["agent"][0]["role"][0]["text"]), "two  spaces");
  EXPECT_FALSE((*doc)["agent"][0]["who"]["identifier"].HasMember("system"));
}

TEST(AuditEventTest, TheValidatorWouldSeeAnAlteredEvent) {
  // The validity checks above are meaningful: the same text with a code outside R4's required
  // bindings, or a member R4 does not define, is refused.
  const std::string json = RenderAuditEvent(ReadRecord());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"outcome\":\"0\"", "\"outcome\":\"5\""},
           {"\"action\":\"R\"", "\"action\":\"X\""},
           {"\"type\":\"2\"", "\"type\":\"9\""},
           {"\"requestor\":true", "\"requestor\":true,\"network2\":1"}}) {
    std::string altered = json;
    const size_t at = altered.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    altered.replace(at, from.size(), to);
    auto doc = Parse(altered);
    ASSERT_NE(doc, nullptr);
    EXPECT_TRUE(fhir::HasErrors(fhir::ValidateResource(*doc))) << to;
  }
}

TEST(AuditEventTest, OutcomeCodes) {
  const std::vector<std::pair<int, std::string_view>> table = {
      {200, "0"}, {201, "0"}, {304, "0"}, {399, "0"}, {400, "4"}, {404, "4"},
      {499, "4"}, {500, "8"}, {503, "8"}, {0, "12"},  {600, "12"}};
  for (const auto& [status, code] : table) EXPECT_EQ(OutcomeCode(status), code) << status;
}

TEST(AuditEventTest, WriterEmbedsInABundle) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Bundle");
  w.Key("type");
  w.String("searchset");
  w.Key("entry");
  w.StartArray();
  for (const Record& r : {ReadRecord(), RefusedLoginRecord()}) {
    w.StartObject();
    w.Key("resource");
    WriteAuditEvent(r, w);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  ASSERT_TRUE(w.IsComplete());
  auto doc = Parse(std::string(sb.GetString(), sb.GetSize()));
  ASSERT_NE(doc, nullptr);
  const auto issues = fhir::ValidateResource(*doc);
  EXPECT_TRUE(issues.empty()) << Describe(issues);
  EXPECT_EQ(Str((*doc)["entry"][1]["resource"]["id"]), "a126");
}

// ---------------------------------------------------------------------------------------------
// AuditQuery

AuditQuery MustParse(const Params& params) {
  auto q = AuditQuery::Parse(params);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return q.ok() ? *q : *AuditQuery::Parse({});
}

TEST(AuditQueryTest, Defaults) {
  const AuditQuery q = MustParse({});
  EXPECT_EQ(q.count(), AuditQuery::kDefaultCount);
  EXPECT_TRUE(q.newest_first());
  EXPECT_EQ(q.min_time_us(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(q.max_time_us(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(q.Matches(ReadRecord()));
  EXPECT_TRUE(q.Matches(RefusedLoginRecord()));
}

TEST(AuditQueryTest, CountAndSort) {
  EXPECT_EQ(MustParse({{"_count", "10"}}).count(), 10u);
  EXPECT_EQ(MustParse({{"_count", "0"}}).count(), 0u);
  EXPECT_EQ(MustParse({{"_count", "100000000000000000000000"}}).count(), AuditQuery::kMaxCount);
  EXPECT_EQ(MustParse({{"_count", "5000"}}).count(), AuditQuery::kMaxCount);
  EXPECT_FALSE(MustParse({{"_sort", "date"}}).newest_first());
  EXPECT_TRUE(MustParse({{"_sort", "-date"}}).newest_first());
  EXPECT_TRUE(MustParse({{"_format", "json"}, {"_pretty", "true"}}).Matches(ReadRecord()));
}

struct DateCase {
  Params params;
  std::string instant;  // the record's time
  bool match;
};

TEST(AuditQueryTest, DatePrefixesAndPartialDates) {
  const std::vector<DateCase> table = {
      // Partial dates are ranges.
      {{{"date", "2026"}}, "2026-01-01T00:00:00Z", true},
      {{{"date", "2026"}}, "2026-12-31T23:59:59.999Z", true},
      {{{"date", "2026"}}, "2027-01-01T00:00:00Z", false},
      {{{"date", "2026-11"}}, "2026-11-30T23:59:59.999999Z", true},
      {{{"date", "2026-11"}}, "2026-12-01T00:00:00Z", false},
      {{{"date", "2026-11"}}, "2026-10-31T23:59:59.999999Z", false},
      {{{"date", "eq2026-11-25"}}, "2026-11-25T04:05:29Z", true},
      {{{"date", "2026-11-25"}}, "2026-11-26T00:00:00Z", false},
      {{{"date", "2026-11-25T04:05"}}, "2026-11-25T04:05:59Z", true},
      {{{"date", "2026-11-25T04:05"}}, "2026-11-25T04:06:00Z", false},
      {{{"date", "2026-11-25T05:05:29+01:00"}}, "2026-11-25T04:05:29.5Z", true},
      // Prefixes against the range of the value.
      {{{"date", "gt2026-11"}}, "2026-11-30T12:00:00Z", false},
      {{{"date", "gt2026-11"}}, "2026-12-01T00:00:00Z", true},
      {{{"date", "ge2026-11"}}, "2026-11-01T00:00:00Z", true},
      {{{"date", "ge2026-11"}}, "2026-10-31T23:59:59Z", false},
      {{{"date", "lt2026-11"}}, "2026-11-01T00:00:00Z", false},
      {{{"date", "lt2026-11"}}, "2026-10-31T23:59:59Z", true},
      {{{"date", "le2026-11"}}, "2026-11-30T23:59:59Z", true},
      {{{"date", "le2026-11"}}, "2026-12-01T00:00:00Z", false},
      {{{"date", "ne2026-11"}}, "2026-11-15T00:00:00Z", false},
      {{{"date", "ne2026-11"}}, "2026-12-15T00:00:00Z", true},
      {{{"date", "sa2026-11-25"}}, "2026-11-26T00:00:00Z", true},
      {{{"date", "eb2026-11-25"}}, "2026-11-25T00:00:00Z", false},
      // A range from two parameters.
      {{{"date", "ge2026-11-01"}, {"date", "lt2026-11-03"}}, "2026-11-02T10:00:00Z", true},
      {{{"date", "ge2026-11-01"}, {"date", "lt2026-11-03"}}, "2026-11-03T00:00:00Z", false},
      {{{"date", "ge2026-11-01"}, {"date", "lt2026-11-03"}}, "2026-10-31T10:00:00Z", false},
      // Alternatives.
      {{{"date", "2026-01,2026-03"}}, "2026-03-10T00:00:00Z", true},
      {{{"date", "2026-01,2026-03"}}, "2026-02-10T00:00:00Z", false},
  };
  for (const auto& c : table) {
    const AuditQuery q = MustParse(c.params);
    Record r = ReadRecord();
    r.time_us = At(c.instant);
    std::string what;
    for (const auto& [n, v] : c.params) what += n + "=" + v + " ";
    EXPECT_EQ(q.Matches(r), c.match) << what << "at " << c.instant;
    // The bounds never exclude a matching record.
    if (c.match) {
      EXPECT_LE(q.min_time_us(), r.time_us) << what;
      EXPECT_GE(q.max_time_us(), r.time_us) << what;
    }
  }
}

TEST(AuditQueryTest, TimeBounds) {
  const AuditQuery month = MustParse({{"date", "2026-11"}});
  EXPECT_EQ(month.min_time_us(), At("2026-11-01T00:00:00Z"));
  EXPECT_EQ(month.max_time_us(), At("2026-12-01T00:00:00Z") - 1);
  const AuditQuery range = MustParse({{"date", "gt2026-11-01"}, {"date", "le2026-11-03"}});
  EXPECT_EQ(range.min_time_us(), At("2026-11-02T00:00:00Z"));
  EXPECT_EQ(range.max_time_us(), At("2026-11-04T00:00:00Z") - 1);
  const AuditQuery open = MustParse({{"date", "lt2026"}});
  EXPECT_EQ(open.min_time_us(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(open.max_time_us(), At("2026-01-01T00:00:00Z") - 1);
  const AuditQuery empty = MustParse({{"date", "lt2026"}, {"date", "gt2027"}});
  EXPECT_GT(empty.min_time_us(), empty.max_time_us());
  const AuditQuery either = MustParse({{"date", "2026-01,2026-03"}});
  EXPECT_EQ(either.min_time_us(), At("2026-01-01T00:00:00Z"));
  EXPECT_EQ(either.max_time_us(), At("2026-04-01T00:00:00Z") - 1);
}

struct MatchCase {
  Params params;
  bool read;   // matches ReadRecord()
  bool login;  // matches RefusedLoginRecord()
};

TEST(AuditQueryTest, FieldMatches) {
  const std::vector<MatchCase> table = {
      {{{"agent", "dr-house"}}, true, false},
      {{{"agent", "telemed-app"}}, true, false},
      {{{"agent", "https://idp.example.org/realms/care|dr-house"}}, true, false},
      {{{"agent", "https://other.example.org|dr-house"}}, false, false},
      {{{"agent", "someone"}}, false, false},
      {{{"entity", "Observation/obs-1"}}, true, false},
      {{{"entity", "obs-1"}}, true, false},
      {{{"entity", "Patient/obs-1"}}, false, false},
      {{{"entity-type", "Observation"}}, true, false},
      {{{"entity-type", "Patient"}}, false, false},
      {{{"action", "R"}}, true, false},
      {{{"action", "E"}}, false, true},
      {{{"action", "C,R"}}, true, false},
      {{{"outcome", "0"}}, true, false},
      {{{"outcome", "4"}}, false, true},
      {{{"outcome", "0,4"}}, true, true},
      {{{"outcome", "8"}}, false, false},
      {{{"subtype", "vread"}}, true, false},
      {{{"subtype", "http://hl7.org/fhir/restful-interaction|vread"}}, true, false},
      {{{"subtype", "login"}}, false, true},
      {{{"address", "192.0.2.10"}}, true, false},
      {{{"address", "2001:db8::7"}}, false, true},
      {{{"address", "192.0.2.10,2001:db8::7"}}, true, true},
      // Repeated parameters must all hold.
      {{{"action", "R"}, {"outcome", "0"}}, true, false},
      {{{"action", "R"}, {"outcome", "4"}}, false, false},
      {{{"date", "2026-11-25"}, {"entity-type", "Observation"}}, true, false},
  };
  for (const auto& c : table) {
    const AuditQuery q = MustParse(c.params);
    std::string what;
    for (const auto& [n, v] : c.params) what += n + "=" + v + " ";
    EXPECT_EQ(q.Matches(ReadRecord()), c.read) << what;
    EXPECT_EQ(q.Matches(RefusedLoginRecord()), c.login) << what;
  }
}

TEST(AuditQueryTest, EscapedCommaIsALiteral) {
  Record r = ReadRecord();
  r.subject = "a,b";
  EXPECT_TRUE(MustParse({{"agent", "a\\,b"}}).Matches(r));
  EXPECT_FALSE(MustParse({{"agent", "a,b"}}).Matches(r));  // "a" or "b"
}

TEST(AuditQueryTest, BadInput) {
  struct BadCase {
    Params params;
    std::string message_part;
  };
  const std::vector<BadCase> table = {
      {{{"patient", "Patient/1"}}, "unsupported search parameter for AuditEvent: patient"},
      {{{"agent:missing", "true"}}, "unsupported search parameter for AuditEvent: agent:missing"},
      {{{"_sort", "-_lastUpdated"}}, "_sort"},
      {{{"_sort", "date"}, {"_sort", "-date"}}, "_sort"},
      {{{"_count", "-1"}}, "_count"},
      {{{"_count", "ten"}}, "_count"},
      {{{"_count", "10"}, {"_count", "20"}}, "_count"},
      {{{"date", "ap2026-11"}}, "date"},
      {{{"date", "xx2026-11"}}, "date"},
      {{{"date", "2026-13"}}, "date"},
      {{{"date", "2026-02-30"}}, "date"},
      {{{"date", "26-11"}}, "date"},
      {{{"date", "2026-11-25T10"}}, "date"},
      {{{"date", "yesterday"}}, "date"},
      {{{"date", ""}}, "date"},
      {{{"date", "2026,"}}, "date"},
      {{{"action", "X"}}, "action"},
      {{{"action", "CR"}}, "action"},
      {{{"outcome", "1"}}, "outcome"},
      {{{"agent", ""}}, "agent"},
  };
  for (const auto& c : table) {
    auto q = AuditQuery::Parse(c.params);
    ASSERT_FALSE(q.ok()) << c.params[0].first << "=" << c.params[0].second;
    EXPECT_EQ(q.status().code(), Code::kInvalidArgument);
    EXPECT_NE(q.status().message().find(c.message_part), std::string::npos) << q.status().message();
  }
}

}  // namespace
}  // namespace hygie::audit
