#include <algorithm>
#include <set>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "fhir/resource.h"

namespace hygie::fhir {
namespace {

// FHIR R4 (4.0.1) has 146 concrete resource types: the 148 codes of the ResourceType value set
// less the abstract Resource and DomainResource.
TEST(R4TypesTest, CountIsTheR4Count) { EXPECT_EQ(ResourceTypes().size(), 146u); }

TEST(R4TypesTest, SortedAndUnique) {
  const auto& types = ResourceTypes();
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  EXPECT_EQ(std::set<std::string_view>(types.begin(), types.end()).size(), types.size());
  EXPECT_EQ(types.front(), "Account");
  EXPECT_EQ(types.back(), "VisionPrescription");
}

TEST(R4TypesTest, KnownTypesPresent) {
  for (std::string_view t :
       {"Account", "AuditEvent", "Binary", "Bundle", "CapabilityStatement", "Consent",
        "EffectEvidenceSynthesis", "MedicinalProductUndesirableEffect", "Observation",
        "OperationOutcome", "Parameters", "Patient", "SubstanceSpecification", "ValueSet",
        "VisionPrescription"}) {
    EXPECT_TRUE(IsResourceType(t)) << t;
  }
}

TEST(R4TypesTest, AbstractAndForeignTypesAbsent) {
  for (std::string_view t :
       {"Resource", "DomainResource", "SubscriptionTopic", "Citation", "Evidencereport",
        "ActorDefinition", "patient", "PATIENT", "Patient ", " Patient", "", "Observation\n",
        "HumanName", "Reference", "Element", "BackboneElement"}) {
    EXPECT_FALSE(IsResourceType(t)) << "'" << t << "'";
  }
  // A string_view that embeds a NUL after a real name is not that name.
  EXPECT_FALSE(IsResourceType(std::string_view("Patient\0", 8)));
}

TEST(R4TypesTest, EveryListedTypeIsAcceptedByIsResourceType) {
  for (std::string_view t : ResourceTypes()) EXPECT_TRUE(IsResourceType(t)) << t;
}

}  // namespace
}  // namespace hygie::fhir
