#include "fhir/r4/definitions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "fhir/resource.h"

namespace hygie::fhir::r4 {
namespace {

bool Contains(const std::vector<std::string_view>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::vector<std::string_view> Paths(const std::vector<const ElementDef*>& elements) {
  std::vector<std::string_view> out;
  for (const ElementDef* e : elements) out.push_back(e->path);
  return out;
}

TEST(R4DefinitionsTest, EveryResourceTypeHasSearchParameters) {
  size_t with_params = 0;
  for (std::string_view type : ResourceTypes()) {
    const auto& params = SearchParamsFor(type);
    if (!params.empty()) ++with_params;
    EXPECT_NE(FindSearchParam(type, "_id"), nullptr) << type;
    EXPECT_NE(FindSearchParam(type, "_lastUpdated"), nullptr) << type;
    EXPECT_TRUE(std::is_sorted(
        params.begin(), params.end(),
        [](const SearchParamDef* a, const SearchParamDef* b) { return a->code < b->code; }))
        << type;
    // Every union member of an expression names this type (or the common bases).
    for (const SearchParamDef* p : params) {
      if (p->expression.empty() || p->code.starts_with("_")) continue;
      if (type == "InsurancePlan" && p->code == "name") continue;  // relative paths in R4
      std::string_view rest = p->expression;
      while (!rest.empty()) {
        size_t bar = rest.find(" | ");
        std::string_view member = rest.substr(0, bar);
        EXPECT_TRUE(member == type || member.starts_with(std::string(type) + ".") ||
                    member.starts_with("(" + std::string(type) + "."))
            << type << " " << p->code << ": " << p->expression;
        rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 3);
      }
    }
  }
  EXPECT_EQ(with_params, 146u);
  EXPECT_TRUE(SearchParamsFor("NotAType").empty());
  EXPECT_EQ(FindSearchParam("NotAType", "_id"), nullptr);
  EXPECT_EQ(FindSearchParam("Patient", "no-such-param"), nullptr);
}

TEST(R4DefinitionsTest, PatientSearchParameters) {
  struct Expected {
    std::string_view code;
    SearchParamType type;
  };
  for (const Expected& e :
       {Expected{"name", SearchParamType::kString}, Expected{"family", SearchParamType::kString},
        Expected{"birthdate", SearchParamType::kDate},
        Expected{"identifier", SearchParamType::kToken},
        Expected{"gender", SearchParamType::kToken},
        Expected{"general-practitioner", SearchParamType::kReference},
        Expected{"_id", SearchParamType::kToken}, Expected{"_lastUpdated", SearchParamType::kDate},
        Expected{"_profile", SearchParamType::kUri}, Expected{"_text", SearchParamType::kString}}) {
    const SearchParamDef* p = FindSearchParam("Patient", e.code);
    ASSERT_NE(p, nullptr) << e.code;
    EXPECT_EQ(p->code, e.code);
    EXPECT_EQ(p->type, e.type) << e.code << " is " << SearchParamTypeName(p->type);
  }
  EXPECT_EQ(FindSearchParam("Patient", "family")->expression, "Patient.name.family");
  EXPECT_EQ(FindSearchParam("Patient", "birthdate")->expression, "Patient.birthDate");
  EXPECT_EQ(FindSearchParam("Patient", "_id")->expression, "Resource.id");
  EXPECT_EQ(FindSearchParam("Patient", "_text")->expression, "");
  EXPECT_EQ(FindSearchParam("Patient", "name")->url,
            "http://hl7.org/fhir/SearchParameter/Patient-name");
}

TEST(R4DefinitionsTest, ObservationSearchParameters) {
  const SearchParamDef* code = FindSearchParam("Observation", "code");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(code->type, SearchParamType::kToken);
  EXPECT_EQ(code->expression, "Observation.code");

  const SearchParamDef* patient = FindSearchParam("Observation", "patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->type, SearchParamType::kReference);
  EXPECT_EQ(patient->expression, "Observation.subject.where(resolve() is Patient)");
  EXPECT_EQ(patient->targets, std::vector<std::string_view>{"Patient"});

  const SearchParamDef* subject = FindSearchParam("Observation", "subject");
  ASSERT_NE(subject, nullptr);
  EXPECT_TRUE(Contains(subject->targets, "Patient"));
  EXPECT_TRUE(Contains(subject->targets, "Group"));

  const SearchParamDef* composite = FindSearchParam("Observation", "code-value-quantity");
  ASSERT_NE(composite, nullptr);
  EXPECT_EQ(composite->type, SearchParamType::kComposite);
  EXPECT_EQ(SearchParamTypeName(composite->type), "composite");

  // A Resource-only type gets the Resource parameters but not DomainResource's _text.
  EXPECT_NE(FindSearchParam("Bundle", "_id"), nullptr);
  EXPECT_EQ(FindSearchParam("Bundle", "_text"), nullptr);
  EXPECT_NE(FindSearchParam("Observation", "_text"), nullptr);
}

TEST(R4DefinitionsTest, ElementLookups) {
  const ElementDef* value = FindElement("Observation.value[x]");
  ASSERT_NE(value, nullptr);
  EXPECT_TRUE(value->is_choice());
  EXPECT_EQ(value->name(), "value[x]");
  EXPECT_TRUE(Contains(value->types, "Quantity"));
  EXPECT_TRUE(Contains(value->types, "dateTime"));
  EXPECT_EQ(value->max, 1u);
  EXPECT_EQ(FindElement("Observation.valueQuantity"), nullptr);

  const ElementDef* contact = FindElement("Patient.contact");
  ASSERT_NE(contact, nullptr);
  EXPECT_EQ(contact->types, std::vector<std::string_view>{"BackboneElement"});
  EXPECT_EQ(contact->max, kUnbounded);
  EXPECT_FALSE(contact->is_choice());
  EXPECT_TRUE(Contains(Paths(ChildrenOf("Patient.contact")), "Patient.contact.name"));

  const ElementDef* item = FindElement("Questionnaire.item.item");
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->content_reference, "Questionnaire.item");
  EXPECT_TRUE(item->types.empty());
  EXPECT_TRUE(Contains(Paths(ChildrenOf("Questionnaire.item.item")), "Questionnaire.item.linkId"));

  const ElementDef* id = FindElement("Resource.id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->types, std::vector<std::string_view>{"id"});
  EXPECT_EQ(FindElement("Patient.id")->types, std::vector<std::string_view>{"id"});
  EXPECT_EQ(FindElement("Element.id")->types, std::vector<std::string_view>{"string"});
  EXPECT_EQ(FindElement("Extension.url")->types, std::vector<std::string_view>{"uri"});
  EXPECT_EQ(FindElement("Extension.url")->min, 1u);

  const ElementDef* gender = FindElement("Patient.gender");
  ASSERT_NE(gender, nullptr);
  EXPECT_EQ(gender->required_value_set, "http://hl7.org/fhir/ValueSet/administrative-gender");
  EXPECT_EQ(gender->types, std::vector<std::string_view>{"code"});
  EXPECT_EQ(FindElement("Patient.maritalStatus")->required_value_set, "");

  const ElementDef* family = FindElement("HumanName.family");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->types, std::vector<std::string_view>{"string"});
  EXPECT_EQ(family->name(), "family");
  EXPECT_EQ(FindElement("Quantity.value")->types, std::vector<std::string_view>{"decimal"});
  EXPECT_NE(FindElement("Age.value"), nullptr);
  EXPECT_NE(FindElement("Timing.repeat.bounds[x]"), nullptr);
  EXPECT_NE(FindElement("Dosage.doseAndRate.dose[x]"), nullptr);
  EXPECT_NE(FindElement("Meta.lastUpdated"), nullptr);
  EXPECT_NE(FindElement("Narrative.div"), nullptr);
  EXPECT_EQ(FindElement("Narrative.div")->types, std::vector<std::string_view>{"xhtml"});
  EXPECT_EQ(FindElement("Patient"), nullptr);
  EXPECT_EQ(FindElement("Patient.nope"), nullptr);
}

TEST(R4DefinitionsTest, ChildrenOfTypes) {
  auto patient = Paths(ChildrenOf("Patient"));
  for (std::string_view path : {"Patient.id", "Patient.meta", "Patient.text", "Patient.extension",
                                "Patient.name", "Patient.contact", "Patient.deceased[x]"}) {
    EXPECT_TRUE(Contains(patient, path)) << path;
  }
  EXPECT_FALSE(Contains(patient, "Patient.contact.name"));
  EXPECT_EQ(patient.front(), "Patient.id");  // definition order

  auto human_name = Paths(ChildrenOf("HumanName"));
  EXPECT_TRUE(Contains(human_name, "HumanName.family"));
  EXPECT_TRUE(Contains(human_name, "HumanName.given"));
  EXPECT_TRUE(Contains(Paths(ChildrenOf("Reference")), "Reference.reference"));
  EXPECT_TRUE(Contains(Paths(ChildrenOf("Extension")), "Extension.value[x]"));
  EXPECT_TRUE(Contains(Paths(ChildrenOf("Bundle.entry")), "Bundle.entry.resource"));
  EXPECT_TRUE(ChildrenOf("Patient.name").empty());
  EXPECT_TRUE(ChildrenOf("Nothing").empty());
  for (const ElementDef* child : ChildrenOf("Observation.component")) {
    EXPECT_TRUE(child->path.starts_with("Observation.component.")) << child->path;
  }
}

TEST(R4DefinitionsTest, TypeKinds) {
  for (std::string_view type :
       {"boolean",      "integer",  "string",      "decimal",     "uri",  "url",  "canonical",
        "base64Binary", "instant",  "date",        "dateTime",    "time", "code", "oid",
        "id",           "markdown", "unsignedInt", "positiveInt", "uuid", "xhtml"}) {
    EXPECT_TRUE(IsPrimitiveType(type)) << type;
    EXPECT_FALSE(IsComplexType(type)) << type;
  }
  for (std::string_view type :
       {"HumanName", "Coding", "CodeableConcept", "Quantity", "Age", "Duration", "Reference",
        "Meta", "Narrative", "Extension", "Element", "BackboneElement", "Dosage", "Timing"}) {
    EXPECT_TRUE(IsComplexType(type)) << type;
    EXPECT_FALSE(IsPrimitiveType(type)) << type;
  }
  EXPECT_FALSE(IsComplexType("Patient"));
  EXPECT_FALSE(IsPrimitiveType("Patient"));
  EXPECT_FALSE(IsComplexType("String"));
}

TEST(R4DefinitionsTest, TypeSuffix) {
  EXPECT_EQ(TypeSuffix("dateTime"), "DateTime");
  EXPECT_EQ(TypeSuffix("Quantity"), "Quantity");
  EXPECT_EQ(TypeSuffix("string"), "String");
  EXPECT_EQ(TypeSuffix(""), "");
}

TEST(R4DefinitionsTest, ValueSets) {
  constexpr std::string_view kGender = "http://hl7.org/fhir/ValueSet/administrative-gender";
  for (std::string_view code : {"male", "female", "other", "unknown"}) {
    EXPECT_EQ(ValueSetContains(kGender, "", code), true) << code;
    EXPECT_EQ(ValueSetContains(kGender, "http://hl7.org/fhir/administrative-gender", code), true);
  }
  EXPECT_EQ(ValueSetContains(kGender, "", "m"), false);
  EXPECT_EQ(ValueSetContains(kGender, "", "Male"), false);
  EXPECT_EQ(ValueSetContains(kGender, "http://example.org/other-system", "male"), false);

  constexpr std::string_view kObsStatus = "http://hl7.org/fhir/ValueSet/observation-status";
  EXPECT_EQ(ValueSetContains(kObsStatus, "", "final"), true);
  EXPECT_EQ(ValueSetContains(kObsStatus, "", "finished"), false);

  // Nested concepts of a whole code system are members.
  EXPECT_EQ(ValueSetContains("http://hl7.org/fhir/ValueSet/resource-types", "", "Patient"), true);
  // A value set over an external code system cannot be expanded here.
  EXPECT_EQ(ValueSetContains("http://hl7.org/fhir/ValueSet/mimetypes", "", "text/plain"),
            std::nullopt);
  EXPECT_EQ(ValueSetContains("http://hl7.org/fhir/ValueSet/ucum-units", "", "mg"), std::nullopt);
  // Not bound as required anywhere: unknown.
  EXPECT_EQ(ValueSetContains("http://example.org/ValueSet/none", "", "x"), std::nullopt);

  // Most required bindings of the resources can be checked; none accepts a made-up code.
  std::set<std::string_view> urls;
  std::vector<std::string_view> pending(ResourceTypes().begin(), ResourceTypes().end());
  while (!pending.empty()) {
    std::string_view path = pending.back();
    pending.pop_back();
    for (const ElementDef* e : ChildrenOf(path)) {
      if (!e->required_value_set.empty()) urls.insert(e->required_value_set);
      if (e->types.size() == 1 && (e->types[0] == "BackboneElement" || e->types[0] == "Element")) {
        pending.push_back(e->path);
      }
    }
  }
  size_t expanded = 0;
  for (std::string_view url : urls) {
    std::optional<bool> made_up = ValueSetContains(url, "", "no such code");
    if (made_up.has_value()) {
      ++expanded;
      EXPECT_FALSE(*made_up) << url;
    }
  }
  EXPECT_GT(urls.size(), 150u);
  EXPECT_GT(expanded, urls.size() * 9 / 10);
}

TEST(R4DefinitionsTest, PatientCompartment) {
  const auto& observation = PatientCompartmentParams("Observation");
  EXPECT_TRUE(Contains(observation, "subject"));
  EXPECT_TRUE(Contains(observation, "performer"));
  EXPECT_EQ(PatientCompartmentParams("Patient"), std::vector<std::string_view>{"link"});
  EXPECT_TRUE(PatientCompartmentParams("Organization").empty());
  EXPECT_TRUE(PatientCompartmentParams("NotAType").empty());

  const auto& types = PatientCompartmentTypes();
  EXPECT_TRUE(Contains(types, "Encounter"));
  EXPECT_TRUE(Contains(types, "Observation"));
  EXPECT_FALSE(Contains(types, "Organization"));
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  // Every compartment parameter is a search parameter of its type.
  for (std::string_view type : types) {
    EXPECT_TRUE(IsResourceType(type)) << type;
    for (std::string_view code : PatientCompartmentParams(type)) {
      EXPECT_NE(FindSearchParam(type, code), nullptr) << type << " " << code;
    }
  }
}

}  // namespace
}  // namespace hygie::fhir::r4
