#include "auth/scopes.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hygie::auth {
namespace {

constexpr uint8_t kC = static_cast<uint8_t>(Permission::kCreate);
constexpr uint8_t kR = static_cast<uint8_t>(Permission::kRead);
constexpr uint8_t kU = static_cast<uint8_t>(Permission::kUpdate);
constexpr uint8_t kD = static_cast<uint8_t>(Permission::kDelete);
constexpr uint8_t kS = static_cast<uint8_t>(Permission::kSearch);
constexpr uint8_t kAll = kC | kR | kU | kD | kS;

struct ValidCase {
  std::string_view text;
  ScopeContext context;
  std::string_view type;
  uint8_t permissions;
  std::string_view query;
};

TEST(ParseScopeTest, ValidResourceScopes) {
  const std::vector<ValidCase> cases = {
      {"patient/Patient.rs", ScopeContext::kPatient, "Patient", kR | kS, ""},
      {"user/Observation.cruds", ScopeContext::kUser, "Observation", kAll, ""},
      {"system/*.c", ScopeContext::kSystem, "*", kC, ""},
      {"user/MedicationRequest.u", ScopeContext::kUser, "MedicationRequest", kU, ""},
      {"user/Patient.d", ScopeContext::kUser, "Patient", kD, ""},
      {"user/Patient.s", ScopeContext::kUser, "Patient", kS, ""},
      {"user/Patient.cd", ScopeContext::kUser, "Patient", kC | kD, ""},
      {"user/Patient.cud", ScopeContext::kUser, "Patient", kC | kU | kD, ""},
      {"user/Patient.rds", ScopeContext::kUser, "Patient", kR | kD | kS, ""},
      {"user/Patient.crs", ScopeContext::kUser, "Patient", kC | kR | kS, ""},
      // v1 forms, read as their v2 equivalents.
      {"user/Patient.read", ScopeContext::kUser, "Patient", kR | kS, ""},
      {"patient/Observation.write", ScopeContext::kPatient, "Observation", kC | kU | kD, ""},
      {"user/Patient.*", ScopeContext::kUser, "Patient", kAll, ""},
      {"patient/*.*", ScopeContext::kPatient, "*", kAll, ""},
      {"system/*.read", ScopeContext::kSystem, "*", kR | kS, ""},
      // Queries are kept verbatim, even with '.', '/', '?' and '|' inside.
      {"user/Observation.rs?category=laboratory", ScopeContext::kUser, "Observation", kR | kS,
       "category=laboratory"},
      {"patient/Observation.rs?code=http://loinc.org|1234-5&x=a.b?c", ScopeContext::kPatient,
       "Observation", kR | kS, "code=http://loinc.org|1234-5&x=a.b?c"},
  };
  for (const ValidCase& c : cases) {
    SCOPED_TRACE(c.text);
    Result<std::optional<Scope>> parsed = ParseScope(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    ASSERT_TRUE(parsed->has_value());
    const Scope& scope = **parsed;
    EXPECT_EQ(scope.context, c.context);
    EXPECT_EQ(scope.type, c.type);
    EXPECT_EQ(scope.permissions, c.permissions);
    EXPECT_EQ(scope.query, c.query);
  }
}

TEST(ParseScopeTest, NonResourceScopesAreIgnored) {
  for (std::string_view text : {"openid", "fhirUser", "profile", "launch", "launch/patient",
                                "launch/encounter", "offline_access", "online_access", "", "email",
                                "Patient.read", "my-custom-scope", "user", "read"}) {
    SCOPED_TRACE(text);
    Result<std::optional<Scope>> parsed = ParseScope(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_FALSE(parsed->has_value());
  }
}

TEST(ParseScopeTest, MalformedResourceScopesAreErrors) {
  for (std::string_view text : {
           "user/Patient.rc",              // wrong order
           "user/Patient.sr",              // wrong order
           "user/Patient.rr",              // repeat
           "user/Patient.crudss",          // repeat
           "user/Patient.",                // empty permissions
           "user/Patient.x",               // unknown letter
           "user/Patient.rsx",             // unknown letter
           "user/Patient.READ",            // case-sensitive
           "user/Patient.Read",            //
           "user/Patient.reads",           //
           "user/Patient.rs.x",            // trailing garbage
           "user/Patient.**",              //
           "user/Patient",                 // no permissions
           "user/",                        //
           "user/.rs",                     // empty type
           "user/patient.rs",              // type must start uppercase
           "user/Pat1ent.rs",              // letters only
           "user/Pat_ient.rs",             //
           "user/**.rs",                   //
           "user/*Patient.rs",             //
           "user//Patient.rs",             //
           "user/Patient.rs?",             // empty query
           "user/Patient.rs?name",         // no value
           "user/Patient.rs?=x",           // no name
           "user/Patient.rs?name=x&",      // empty pair
           "user/Patient.rs?name=x&&a=b",  //
           "admin/Patient.rs",             // unknown context
           "User/Patient.rs",              // contexts are case-sensitive
           "/Patient.rs",                  // empty context
           "launch/other",                 // unknown launch context
           "user/Patient.r\x7fs",          // not an RFC 6749 scope character
           "user/Pa\xc3\xa9tient.rs",
           "user/Patient.rs?a=\"b\"",
       }) {
    SCOPED_TRACE(text);
    Result<std::optional<Scope>> parsed = ParseScope(text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
  }
}

TEST(ScopeSetTest, ParseKeepsOnlyResourceScopes) {
  Result<ScopeSet> set = ScopeSet::Parse(
      "openid fhirUser  launch/patient patient/Patient.rs   patient/Observation.rs?category=vital"
      " offline_access");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->scopes().size(), 2u);
  EXPECT_EQ(set->scopes()[0].type, "Patient");
  EXPECT_EQ(set->scopes()[1].type, "Observation");
  EXPECT_EQ(set->scopes()[1].query, "category=vital");
}

TEST(ScopeSetTest, EmptyTextGivesEmptySet) {
  for (std::string_view text : {"", " ", "   ", "openid profile"}) {
    Result<ScopeSet> set = ScopeSet::Parse(text);
    ASSERT_TRUE(set.ok());
    EXPECT_TRUE(set->scopes().empty());
    EXPECT_FALSE(set->Allows("Patient", Permission::kRead));
  }
}

TEST(ScopeSetTest, OneMalformedScopeFailsTheWholeSet) {
  for (std::string_view text : {"user/Patient.rs user/Observation.rc", "user/Patient.rc",
                                "openid admin/*.*", "user/Patient.rs\tuser/Observation.rs"}) {
    SCOPED_TRACE(text);
    Result<ScopeSet> set = ScopeSet::Parse(text);
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.status().code(), Code::kInvalidArgument);
  }
}

struct AllowsCase {
  std::string_view scopes;
  std::string_view type;
  Permission permission;
  bool allowed;
};

TEST(ScopeSetTest, Allows) {
  const std::vector<AllowsCase> cases = {
      {"user/Patient.rs", "Patient", Permission::kRead, true},
      {"user/Patient.rs", "Patient", Permission::kSearch, true},
      {"user/Patient.rs", "Patient", Permission::kCreate, false},
      {"user/Patient.rs", "Patient", Permission::kUpdate, false},
      {"user/Patient.rs", "Patient", Permission::kDelete, false},
      {"user/Patient.rs", "Observation", Permission::kRead, false},
      {"user/Patient.rs", "PatientX", Permission::kRead, false},
      {"user/Patient.rs", "patient", Permission::kRead, false},
      {"user/Patient.rs", "Patien", Permission::kRead, false},
      {"user/Patient.rs", "*", Permission::kRead, false},
      {"user/Patient.read", "Patient", Permission::kSearch, true},
      {"user/Patient.write", "Patient", Permission::kRead, false},
      {"user/Patient.write", "Patient", Permission::kDelete, true},
      {"system/*.c", "Encounter", Permission::kCreate, true},
      {"system/*.c", "Encounter", Permission::kRead, false},
      // patient/ scopes in a token without a patient claim grant nothing (fail closed).
      {"patient/*.*", "Observation", Permission::kDelete, false},
      {"patient/Patient.rs", "Patient", Permission::kRead, false},
      {"patient/Patient.rs user/Patient.r", "Patient", Permission::kRead, true},
      {"user/Patient.r user/Observation.s", "Patient", Permission::kSearch, false},
      {"user/Patient.r user/Observation.s", "Observation", Permission::kSearch, true},
      {"user/Patient.r user/Patient.u", "Patient", Permission::kUpdate, true},
      // Scopes with a query grant the interaction on part of the type (see ReachOf).
      {"user/Observation.rs?category=laboratory", "Observation", Permission::kRead, true},
      {"user/Observation.rs?category=laboratory", "Observation", Permission::kUpdate, false},
      {"user/Observation.rs?category=laboratory", "Condition", Permission::kRead, false},
      {"user/*.cruds?_security=R", "Observation", Permission::kRead, true},
      {"user/Observation.rs?category=laboratory user/Observation.s", "Observation",
       Permission::kSearch, true},
      {"openid fhirUser launch/patient", "Patient", Permission::kRead, false},
  };
  for (const AllowsCase& c : cases) {
    SCOPED_TRACE(std::string(c.scopes) + " -> " + std::string(c.type));
    Result<ScopeSet> set = ScopeSet::Parse(c.scopes);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->Allows(c.type, c.permission), c.allowed);
  }
}

TEST(ScopeSetTest, AllowsAllOnlyWithAnUnrestrictedScope) {
  Result<ScopeSet> set = ScopeSet::Parse(
      "user/Observation.rs?category=laboratory patient/Condition.rs user/Patient.r", "p-1");
  ASSERT_TRUE(set.ok());
  EXPECT_FALSE(set->AllowsAll("Observation", Permission::kRead));
  EXPECT_FALSE(set->AllowsAll("Condition", Permission::kRead));
  EXPECT_TRUE(set->AllowsAll("Patient", Permission::kRead));
  EXPECT_FALSE(set->AllowsAll("Patient", Permission::kSearch));
}

TEST(ScopeSetTest, PatientScopesNeedAPatientClaim) {
  Result<ScopeSet> without = ScopeSet::Parse("patient/Observation.rs");
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->patient().empty());
  EXPECT_FALSE(without->ReachOf("Observation", Permission::kRead).any());

  Result<ScopeSet> with = ScopeSet::Parse("patient/Observation.rs", "p-1");
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->patient(), "p-1");
  Reach reach = with->ReachOf("Observation", Permission::kRead);
  EXPECT_TRUE(reach.any());
  EXPECT_FALSE(reach.all);
  ASSERT_EQ(reach.restrictions.size(), 1u);
  EXPECT_TRUE(reach.restrictions[0].compartment);
  EXPECT_EQ(reach.restrictions[0].query, "");
  EXPECT_FALSE(with->ReachOf("Observation", Permission::kCreate).any());
  EXPECT_FALSE(with->ReachOf("Condition", Permission::kRead).any());
}

TEST(ScopeSetTest, ReachIsTheUnionOfTheGrantingScopes) {
  // An unrestricted scope for the interaction wins over every restricted one.
  Result<ScopeSet> set = ScopeSet::Parse(
      "patient/Observation.cruds user/Observation.rs?category=laboratory user/Observation.r",
      "p-1");
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->ReachOf("Observation", Permission::kRead).all);
  EXPECT_TRUE(set->ReachOf("Observation", Permission::kRead).restrictions.empty());

  // Search: the compartment or the laboratory Observations.
  Reach search = set->ReachOf("Observation", Permission::kSearch);
  EXPECT_FALSE(search.all);
  ASSERT_EQ(search.restrictions.size(), 2u);
  EXPECT_TRUE(search.restrictions[0].compartment);
  EXPECT_EQ(search.restrictions[0].query, "");
  EXPECT_FALSE(search.restrictions[1].compartment);
  EXPECT_EQ(search.restrictions[1].query, "category=laboratory");

  // Writes: only the compartment.
  Reach update = set->ReachOf("Observation", Permission::kUpdate);
  EXPECT_FALSE(update.all);
  ASSERT_EQ(update.restrictions.size(), 1u);
  EXPECT_TRUE(update.restrictions[0].compartment);
}

TEST(ScopeSetTest, PatientScopeWithAQueryNarrowsTheCompartment) {
  Result<ScopeSet> set =
      ScopeSet::Parse("patient/Observation.rs?category=laboratory patient/*.rs", "p-1");
  ASSERT_TRUE(set.ok());
  Reach obs = set->ReachOf("Observation", Permission::kRead);
  ASSERT_EQ(obs.restrictions.size(), 2u);
  EXPECT_TRUE(obs.restrictions[0].compartment);
  EXPECT_EQ(obs.restrictions[0].query, "category=laboratory");
  EXPECT_TRUE(obs.restrictions[1].compartment);
  EXPECT_EQ(obs.restrictions[1].query, "");
  // The same restriction granted twice appears once.
  Result<ScopeSet> twice = ScopeSet::Parse("patient/Condition.rs patient/*.r", "p-1");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->ReachOf("Condition", Permission::kRead).restrictions.size(), 1u);
}

TEST(ScopeSetTest, AllowsNamedIgnoresRestrictedScopes) {
  Result<ScopeSet> set =
      ScopeSet::Parse("patient/AuditEvent.rs user/AuditEvent.s?type=rest user/AuditEvent.r", "p-1");
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->AllowsNamed("AuditEvent", Permission::kRead));
  EXPECT_FALSE(set->AllowsNamed("AuditEvent", Permission::kSearch));
}

TEST(ScopeSetTest, DefaultSetAllowsNothing) {
  ScopeSet set;
  EXPECT_FALSE(set.Allows("Patient", Permission::kRead));
  EXPECT_FALSE(set.Allows("*", Permission::kCreate));
}

}  // namespace
}  // namespace hygie::auth
