// The API's reading of targets and forms (ParseTarget, ParseForm) and the links it writes
// (Link), as fuzz/url_fuzz.cc checks them.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "api/fhir_internal.h"

namespace hygie::api {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

Params ParamsOf(std::string_view target) {
  std::vector<std::string> segments;
  Params params;
  EXPECT_TRUE(ParseTarget(target, &segments, &params)) << target;
  return params;
}

TEST(UrlTest, ReadsTargetsLeniently) {
  EXPECT_EQ(ParamsOf("/fhir/acme/Patient?identifier=http://x|123&name=L%C3%A9a"),
            (Params{{"identifier", "http://x|123"},
                    {"name",
                     "L\xC3\xA9"
                     "a"}}));
  EXPECT_EQ(ParamsOf("/fhir/acme/Patient?name=a+b&x"), (Params{{"name", "a b"}, {"x", ""}}));
  std::vector<std::string> segments;
  Params params;
  EXPECT_FALSE(ParseTarget("/fhir/acme/Patient?x=%2", &segments, &params));
}

// Found by fuzz/url_fuzz.cc: Link left a value's '+' as it is, which ParseTarget reads as a
// space, so a search's next link changed what it searched for (a time zone's "+01:00").
TEST(UrlTest, LinksReadBackAsTheirParameters) {
  const Params params = {{"date", "ge2022-01-01T10:00:00+01:00"},
                         {"name", "a b&c=d"},
                         {"code", "http://loinc.org|8867-4,x\\,y"},
                         {"a+b", "%2B%"},
                         {"_count", "10"}};
  const std::string link = Link("/fhir/acme/Observation", params, "_cursor", "c+1");
  Params expected = params;
  expected.emplace_back("_cursor", "c+1");
  EXPECT_EQ(ParamsOf(link), expected) << link;
  EXPECT_EQ(Link("/fhir/acme/Observation", {}), "/fhir/acme/Observation");
}

TEST(UrlTest, FormsDecodePlusAsSpace) {
  Params form;
  ASSERT_TRUE(ParseForm("name=l%C3%A9a+x&given=%2B&empty", &form));
  EXPECT_EQ(form, (Params{{"name",
                           "l\xC3\xA9"
                           "a x"},
                          {"given", "+"},
                          {"empty", ""}}));
  EXPECT_EQ(ParamsOf(Link("/p", form)), form);
}

}  // namespace
}  // namespace hygie::api
