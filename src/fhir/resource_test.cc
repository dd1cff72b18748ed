#include "fhir/resource.h"

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fhir/parse_errors.h"

namespace hygie::fhir {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kPatient = R"({
  "resourceType": "Patient",
  "id": "pat-1",
  "meta": {"versionId": "3", "lastUpdated": "2024-01-01T00:00:00Z",
           "profile": ["http://example.org/StructureDefinition/p"],
           "tag": [{"system": "http://example.org/tags", "code": "vip"}],
           "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                         "code": "R"}]},
  "active": true,
  "name": [{"family": "Durand", "given": ["Ana\u00efs", "Marie"]}],
  "gender": "female",
  "birthDate": "1984-03-12",
  "_birthDate": {"extension": [{"url": "http://example.org/x", "valueBoolean": true}]},
  "multipleBirthInteger": 2,
  "address": [{"line": ["12 rue des Lilas\tB\u00e2t. C"], "city": "Lyon"}],
  "extension": [{"url": "http://example.org/weight", "valueDecimal": 61.25}]
})";

std::string Nested(size_t depth) {
  // {"resourceType":"Patient","x":[[...]]}: the object is level 1, each array one more.
  std::string s = R"({"resourceType":"Patient","x":)";
  s.append(depth - 1, '[');
  s.append(depth - 1, ']');
  s += "}";
  return s;
}

Status ParseError(std::string_view json, const ParseLimits& limits = {}) {
  auto r = Resource::Parse(json, limits);
  EXPECT_FALSE(r.ok()) << json.substr(0, 200);
  if (r.ok()) return Status();
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status();
}

TEST(ResourceParseTest, ValidPatient) {
  auto r = Resource::Parse(kPatient);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->resource_type(), "Patient");
  ASSERT_TRUE(r->id().has_value());
  EXPECT_EQ(*r->id(), "pat-1");
  EXPECT_EQ(std::string(r->doc()["name"][0]["given"][0].GetString()), "Ana\xC3\xAFs");
  EXPECT_EQ(NumberText(r->doc()["extension"][0]["valueDecimal"]), "61.25");
  EXPECT_EQ(NumberAsDouble(r->doc()["extension"][0]["valueDecimal"]), 61.25);
}

TEST(ResourceParseTest, IdAbsentOrNotString) {
  auto a = Resource::Parse(R"({"resourceType":"Observation"})");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->id().has_value());
  auto b = Resource::Parse(R"({"resourceType":"Observation","id":12})");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->id().has_value());
}

TEST(ResourceParseTest, MalformedJson) {
  for (std::string_view bad : {
           std::string_view(R"({"resourceType":"Patient","name":[{"family":"Du)"),  // truncated
           std::string_view(R"({"resourceType":"Patient"} x)"),     // trailing garbage
           std::string_view(R"({"resourceType":"Patient"}{})"),     // two documents
           std::string_view(R"({'resourceType':'Patient'})"),       // single quotes
           std::string_view(R"({"resourceType":"Patient",})"),      // trailing comma
           std::string_view(R"({"resourceType":"Patient"/*c*/})"),  // comment
           std::string_view(R"({"resourceType":"Patient","x":NaN})"),
           std::string_view(R"({"resourceType":"Patient","x":1e999})"),        // overflow
           std::string_view(R"({"resourceType":"Patient","x":"a\qb"})"),       // bad escape
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"a\nb\"}"),  // raw LF in string
           std::string_view(""),
           std::string_view("   "),
       }) {
    Status s = ParseError(bad);
    EXPECT_THAT(s.message(), StartsWith("body is not valid JSON at offset ")) << bad;
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-SYNTAX");
  }
}

TEST(ResourceParseTest, SyntaxErrorNamesOffsetAndReason) {
  Status s = ParseError(R"({"resourceType":"Patient"} x)");
  EXPECT_EQ(s.message(),
            "body is not valid JSON at offset 27: The document root must not be followed by "
            "other values.");
}

TEST(ResourceParseTest, MessagesNeverEchoTheBody) {
  Status s = ParseError(R"({"resourceType":"Patient","name":"SECRET-CANARY)");
  EXPECT_THAT(s.message(), Not(HasSubstr("CANARY")));
  s = ParseError(R"({"resourceType":"Patient","name":"SECRET-CANARY"}}})");
  EXPECT_THAT(s.message(), Not(HasSubstr("CANARY")));
}

TEST(ResourceParseTest, NulByteIsRefusedEvenAfterACompleteDocument) {
  // RapidJSON's stream reads '\0' as end of input; "{...}\0junk" must not pass as "{...}".
  const std::string body = std::string(R"({"resourceType":"Patient"})") + '\0' + "junk";
  Status s = ParseError(body);
  EXPECT_THAT(s.message(), StartsWith("body is not valid JSON at offset 26"));
  const std::string in_string = std::string(R"({"resourceType":"Patient","x":"a)") + '\0' + "b\"}";
  ParseError(in_string).IgnoreError();
}

TEST(ResourceParseTest, InvalidUtf8) {
  for (std::string_view bad : {
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"\xC0\xAF\"}"),  // overlong '/'
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"\xE0\x80\xAF\"}"),  // overlong
           std::string_view(
               "{\"resourceType\":\"Patient\",\"x\":\"a\x80z\"}"),  // lone continuation
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"\xED\xA0\x80\"}"),  // D800
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"\xED\xBF\xBF\"}"),  // DFFF
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"\xE2\x82\"}"),      // truncated
           std::string_view(
               "{\"resourceType\":\"Patient\",\"x\":\"\xF4\x90\x80\x80\"}"),  // >10FFFF
           std::string_view("{\"resourceType\":\"Patient\",\"x\":\"\xFF\"}"),
           std::string_view("{\"resourceType\":\"Patient\",\"\xC3\":1}"),  // in a key
       }) {
    Status s = ParseError(bad);
    EXPECT_EQ(s.message(), "body is not valid UTF-8");
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-UTF8");
  }
  // Truncated multibyte sequence at the very end of the body (outside a string).
  ParseError("{\"resourceType\":\"Patient\"}\xE2\x82").IgnoreError();
  // Valid multibyte text passes: 2, 3 and 4 byte forms.
  EXPECT_TRUE(Resource::Parse(
                  "{\"resourceType\":\"Patient\",\"x\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}")
                  .ok());
}

TEST(ResourceParseTest, UnpairedSurrogateEscapesAreRefused) {
  for (std::string_view bad : {
           std::string_view(R"({"resourceType":"Patient","x":"\udc00"})"),   // lone low
           std::string_view(R"({"resourceType":"Patient","x":"\ud800"})"),   // lone high
           std::string_view(R"({"resourceType":"Patient","x":"\ud800x"})"),  // high then text
           std::string_view(R"({"resourceType":"Patient","x":"\ud800\u0041"})"),
           std::string_view(R"({"resourceType":"Patient","\udfff":1})"),
       }) {
    Status s = ParseError(bad);
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-UTF8") << bad << " -> " << s.message();
  }
  // A proper pair is fine and decodes to U+1F600.
  auto ok = Resource::Parse(R"({"resourceType":"Patient","x":"\ud83d\ude00"})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(std::string(ok->doc()["x"].GetString()), "\xF0\x9F\x98\x80");
}

TEST(ResourceParseTest, ControlCharactersRefusedExceptTabCrLf) {
  for (std::string_view bad : {
           std::string_view(R"({"resourceType":"Patient","x":"a\u0000b"})"),
           std::string_view(R"({"resourceType":"Patient","x":"\u0001"})"),
           std::string_view(R"({"resourceType":"Patient","x":"\u001f"})"),
           std::string_view(R"({"resourceType":"Patient","x":"\b\f"})"),
           std::string_view(R"({"resourceType":"Patient","a\u0000":1})"),
       }) {
    Status s = ParseError(bad);
    EXPECT_EQ(s.message(), "string contains a control character (only tab, CR and LF are allowed)");
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-CONTROL-CHAR");
  }
  EXPECT_TRUE(Resource::Parse(R"({"resourceType":"Patient","x":"a\tb\r\nc\u0020\u007f"})").ok());
}

TEST(ResourceParseTest, DepthLimitIsExact) {
  ParseLimits limits;
  limits.max_depth = 10;
  EXPECT_TRUE(Resource::Parse(Nested(10), limits).ok());
  Status s = ParseError(Nested(11), limits);
  EXPECT_EQ(s.message(), "JSON nested deeper than 10 levels");
  EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-DEPTH");

  // The default limit, and objects count as well as arrays.
  EXPECT_TRUE(Resource::Parse(Nested(64)).ok());
  EXPECT_EQ(ParseError(Nested(65)).message(), "JSON nested deeper than 64 levels");
  std::string objects = R"({"resourceType":"Patient","x":)";
  for (int i = 0; i < 64; ++i) objects += R"({"a":)";
  objects += "1";
  for (int i = 0; i < 64; ++i) objects += "}";
  objects += "}";
  EXPECT_EQ(ParseError(objects).message(), "JSON nested deeper than 64 levels");
}

TEST(ResourceParseTest, HostileNestingDoesNotRecurse) {
  // Refused at level 65 by the handler...
  const std::string deep(100000, '[');
  EXPECT_EQ(ParseError(deep).message(), "JSON nested deeper than 64 levels");
  // ...and, with the limit lifted, the iterative reader still goes through a million levels
  // without using the call stack (a recursive descent would overflow it here).
  ParseLimits unlimited;
  unlimited.max_depth = 10000000;
  constexpr size_t kLevels = 1000000;
  std::string balanced(kLevels, '[');
  balanced.append(kLevels, ']');
  EXPECT_EQ(ParseError(balanced, unlimited).message(), "resource is not a JSON object");
  const std::string unbalanced(kLevels, '[');
  EXPECT_THAT(ParseError(unbalanced, unlimited).message(),
              StartsWith("body is not valid JSON at offset 1000000"));
  std::string objects;
  for (size_t i = 0; i < kLevels / 4; ++i) objects += R"({"a":)";
  EXPECT_THAT(ParseError(objects, unlimited).message(), StartsWith("body is not valid JSON"));
}

TEST(ResourceParseTest, DuplicateMemberNames) {
  Status s = ParseError(R"({"resourceType":"Patient","gender":"male","gender":"female"})");
  EXPECT_EQ(s.message(), "duplicate member name 'gender'");
  EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-DUPLICATE-KEY");
  // Nested objects each have their own names; a duplicate inside a nested object is caught.
  EXPECT_TRUE(Resource::Parse(R"({"resourceType":"Patient","a":{"x":1},"b":{"x":1},"x":2})").ok());
  EXPECT_EQ(ParseError(R"({"resourceType":"Patient","a":[{"x":1,"y":2,"x":3}]})").message(),
            "duplicate member name 'x'");
  // A name seen in an inner object that closed does not count against the outer one...
  EXPECT_TRUE(Resource::Parse(R"({"a":{"resourceType":1},"resourceType":"Patient"})").ok());
  // ...but the outer object's names are still tracked after an inner one closes.
  EXPECT_EQ(
      ParseError(R"({"resourceType":"Patient","a":{"b":1},"resourceType":"Patient"})").message(),
      "duplicate member name 'resourceType'");
  // Same name after escape decoding ("\u0061" is "a").
  EXPECT_EQ(ParseError(R"({"resourceType":"Patient","a":1,"\u0061":2})").message(),
            "duplicate member name 'a'");
  // FHIR primitive extension names keep their leading underscore.
  EXPECT_EQ(ParseError(R"({"resourceType":"Patient","_a":{},"_a":{}})").message(),
            "duplicate member name '_a'");
}

TEST(ResourceParseTest, DuplicateNamesInLargeObjects) {
  // Past the linear-scan threshold the check switches to a set; both halves are checked.
  std::string body = R"({"resourceType":"Patient")";
  for (int i = 0; i < 1000; ++i) body += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  EXPECT_TRUE(Resource::Parse(body + "}").ok());
  EXPECT_EQ(ParseError(body + R"(,"k5":0})").message(), "duplicate member name");
  EXPECT_EQ(ParseError(body + R"(,"k999":0})").message(), "duplicate member name");
  EXPECT_EQ(ParseError(body + R"(,"resourceType":"Patient"})").message(),
            "duplicate member name 'resourceType'");
}

TEST(ResourceParseTest, DuplicateNameEchoIsRestricted) {
  // Not letters: not echoed (could be data).
  Status s = ParseError(R"({"resourceType":"Patient","1234567890123":1,"1234567890123":2})");
  EXPECT_EQ(s.message(), "duplicate member name");
  s = ParseError(R"({"resourceType":"Patient","Jean Dupont":1,"Jean Dupont":2})");
  EXPECT_EQ(s.message(), "duplicate member name");
  // Long letter names are truncated to 64 characters.
  const std::string longname(100, 'a');
  s = ParseError(R"({"resourceType":"Patient",")" + longname + R"(":1,")" + longname + R"(":2})");
  EXPECT_EQ(s.message(), "duplicate member name '" + std::string(64, 'a') + "'");
}

TEST(ResourceParseTest, TopLevelMustBeAnObject) {
  for (std::string_view bad :
       {"[]", "1", "\"Patient\"", "null", "true", R"([{"resourceType":"Patient"}])"}) {
    Status s = ParseError(bad);
    EXPECT_EQ(s.message(), "resource is not a JSON object") << bad;
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-FHIR-NOT-OBJECT");
  }
}

TEST(ResourceParseTest, ResourceTypeChecks) {
  Status s = ParseError(R"({"id":"x"})");
  EXPECT_EQ(s.message(), "resource has no resourceType");
  EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-FHIR-NO-RESOURCE-TYPE");
  // Only the top level counts.
  EXPECT_EQ(ParseError(R"({"contained":[{"resourceType":"Patient"}]})").message(),
            "resource has no resourceType");

  for (std::string_view bad :
       {R"({"resourceType":1})", R"({"resourceType":null})", R"({"resourceType":["Patient"]})",
        R"({"resourceType":{"x":"Patient"}})"}) {
    s = ParseError(bad);
    EXPECT_EQ(s.message(), "resourceType is not a string") << bad;
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-FHIR-BAD-RESOURCE-TYPE");
  }

  s = ParseError(R"({"resourceType":"Patients"})");
  EXPECT_EQ(s.message(), "unknown resource type 'Patients'");
  EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-FHIR-UNKNOWN-RESOURCE-TYPE");
  EXPECT_EQ(ParseError(R"({"resourceType":"DomainResource"})").message(),
            "unknown resource type 'DomainResource'");
  EXPECT_EQ(ParseError(R"({"resourceType":"SubscriptionTopic"})").message(),
            "unknown resource type 'SubscriptionTopic'");
  // Not [A-Za-z]{1,64}: not echoed.
  for (std::string_view bad : {R"({"resourceType":"Dupont Jean 1984"})", R"({"resourceType":""})",
                               R"({"resourceType":"Pati\u00e9nt"})"}) {
    EXPECT_EQ(ParseError(bad).message(), "unknown resource type") << bad;
  }
  const std::string long_type(65, 'P');
  EXPECT_EQ(ParseError(R"({"resourceType":")" + long_type + R"("})").message(),
            "unknown resource type");
}

TEST(ResourceTest, SetIdReplacesOrAdds) {
  auto r = Resource::Parse(kPatient);
  ASSERT_TRUE(r.ok());
  r->SetId("new-id");
  EXPECT_EQ(*r->id(), "new-id");
  auto o = Resource::Parse(R"({"resourceType":"Observation"})");
  ASSERT_TRUE(o.ok());
  o->SetId("obs.1");
  EXPECT_EQ(*o->id(), "obs.1");
  EXPECT_EQ(o->Serialize(), R"({"resourceType":"Observation","id":"obs.1"})");
  // The id member stays single.
  o->SetId("obs.2");
  EXPECT_EQ(o->Serialize(), R"({"resourceType":"Observation","id":"obs.2"})");
}

TEST(ResourceTest, SetIdCopiesItsArgument) {
  auto o = Resource::Parse(R"({"resourceType":"Observation"})");
  ASSERT_TRUE(o.ok());
  {
    std::string temporary = "transient-id";
    o->SetId(temporary);
    temporary.assign("XXXXXXXXXXXX");
  }
  EXPECT_EQ(*o->id(), "transient-id");
}

TEST(ResourceTest, SetVersionMetaKeepsOtherMetaMembers) {
  auto r = Resource::Parse(kPatient);
  ASSERT_TRUE(r.ok());
  r->SetVersionMeta(4, "2024-06-01T10:20:30.123Z");
  const auto& meta = r->doc()["meta"];
  EXPECT_EQ(std::string(meta["versionId"].GetString()), "4");
  EXPECT_EQ(std::string(meta["lastUpdated"].GetString()), "2024-06-01T10:20:30.123Z");
  ASSERT_TRUE(meta.HasMember("profile"));
  EXPECT_EQ(std::string(meta["profile"][0].GetString()),
            "http://example.org/StructureDefinition/p");
  ASSERT_TRUE(meta.HasMember("tag"));
  EXPECT_EQ(std::string(meta["tag"][0]["code"].GetString()), "vip");
  ASSERT_TRUE(meta.HasMember("security"));
  EXPECT_EQ(meta.MemberCount(), 5u);
}

TEST(ResourceTest, SetVersionMetaCreatesMeta) {
  auto r = Resource::Parse(R"({"resourceType":"Patient","id":"a"})");
  ASSERT_TRUE(r.ok());
  r->SetVersionMeta(1, "2024-01-01T00:00:00Z");
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Patient","id":"a","meta":{"versionId":"1",)"
                            R"("lastUpdated":"2024-01-01T00:00:00Z"}})");
  r->SetVersionMeta(18446744073709551615ull, "2024-01-02T00:00:00Z");
  EXPECT_EQ(std::string(r->doc()["meta"]["versionId"].GetString()), "18446744073709551615");
  EXPECT_EQ(r->doc()["meta"].MemberCount(), 2u);
}

TEST(ResourceTest, SetVersionMetaReplacesANonObjectMeta) {
  auto r = Resource::Parse(R"({"resourceType":"Patient","meta":"junk"})");
  ASSERT_TRUE(r.ok());
  r->SetVersionMeta(2, "2024-01-01T00:00:00Z");
  ASSERT_TRUE(r->doc()["meta"].IsObject());
  EXPECT_EQ(std::string(r->doc()["meta"]["versionId"].GetString()), "2");
}

TEST(ResourceTest, SerializeRoundTrip) {
  auto r = Resource::Parse(kPatient);
  ASSERT_TRUE(r.ok());
  r->SetId("pat-2");
  r->SetVersionMeta(7, "2024-06-01T10:20:30Z");
  const std::string once = r->Serialize();
  EXPECT_THAT(once, Not(HasSubstr("\n")));  // compact
  auto again = Resource::Parse(once);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->doc() == r->doc());
  EXPECT_EQ(again->Serialize(), once);
  // Non-ASCII text, tabs and numbers survive.
  EXPECT_EQ(std::string(again->doc()["name"][0]["given"][0].GetString()), "Ana\xC3\xAFs");
  EXPECT_EQ(std::string(again->doc()["address"][0]["line"][0].GetString()),
            "12 rue des Lilas\tB\xC3\xA2t. C");
  EXPECT_EQ(NumberText(again->doc()["extension"][0]["valueDecimal"]), "61.25");
  EXPECT_EQ(NumberText(again->doc()["multipleBirthInteger"]), "2");
  EXPECT_EQ(NumberAsDouble(again->doc()["multipleBirthInteger"]), 2.0);
}

TEST(ResourceTest, SetIdAndVersionMetaPutIdAndMetaFirst) {
  auto r =
      Resource::Parse(R"({"active":true,"name":[{"family":"Durand"}],"resourceType":"Patient",)"
                      R"("meta":{"tag":[{"code":"vip"}]},"gender":"female","id":"old"})");
  ASSERT_TRUE(r.ok());
  r->SetId("new");
  EXPECT_EQ(r->Serialize(),
            R"({"resourceType":"Patient","id":"new","meta":{"tag":[{"code":"vip"}]},)"
            R"("active":true,"name":[{"family":"Durand"}],"gender":"female"})");
  r->SetVersionMeta(2, "2024-01-01T00:00:00Z");
  const std::string expected = R"({"resourceType":"Patient","id":"new","meta":{"versionId":"2",)"
                               R"("lastUpdated":"2024-01-01T00:00:00Z","tag":[{"code":"vip"}]},)"
                               R"("active":true,"name":[{"family":"Durand"}],"gender":"female"})";
  EXPECT_EQ(r->Serialize(), expected);
  // Again: stable, nothing duplicated.
  r->SetId("new");
  r->SetVersionMeta(2, "2024-01-01T00:00:00Z");
  EXPECT_EQ(r->Serialize(), expected);
  // What was serialized parses back to the same document.
  auto again = Resource::Parse(expected);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->doc() == r->doc());
}

TEST(ResourceTest, MemberOrderWithoutIdOrWithoutMeta) {
  auto a = Resource::Parse(R"({"gender":"male","resourceType":"Patient","active":false})");
  ASSERT_TRUE(a.ok());
  a->SetVersionMeta(1, "2024-01-01T00:00:00Z");
  EXPECT_EQ(a->Serialize(), R"({"resourceType":"Patient","meta":{"versionId":"1",)"
                            R"("lastUpdated":"2024-01-01T00:00:00Z"},"gender":"male",)"
                            R"("active":false})");
  auto b = Resource::Parse(R"({"gender":"male","resourceType":"Patient","active":false})");
  ASSERT_TRUE(b.ok());
  b->SetId("b");
  EXPECT_EQ(b->Serialize(),
            R"({"resourceType":"Patient","id":"b","gender":"male","active":false})");
}

TEST(ResourceTest, MetaMembersFollowFhirOrder) {
  auto r = Resource::Parse(
      R"({"resourceType":"Patient","meta":{"source":"#s","lastUpdated":"2000-01-01T00:00:00Z",)"
      R"("profile":["http://p"],"extension":[{"url":"http://x","valueBoolean":true}],"id":"m"}})");
  ASSERT_TRUE(r.ok());
  r->SetVersionMeta(3, "2024-01-01T00:00:00Z");
  EXPECT_EQ(r->Serialize(),
            R"({"resourceType":"Patient","meta":{"id":"m",)"
            R"("extension":[{"url":"http://x","valueBoolean":true}],"versionId":"3",)"
            R"("lastUpdated":"2024-01-01T00:00:00Z","source":"#s","profile":["http://p"]}})");
}

// Numbers keep the text they were written with (FHIR: a decimal's precision is significant).
TEST(ResourceNumberTest, NumbersRoundTripVerbatim) {
  for (std::string_view number : {
           "1.50", "-0.0", "-0", "0", "1E+2", "1e2", "1e-2", "2.50E-3", "0.000001",
           "3.141592653589793238462643383279", "12345678901234567890.123",
           "18446744073709551616",            // 2^64: past uint64
           "-9223372036854775809",            // past int64
           "123456789012345678901234567890",  // past anything but a double
           "1e-400",                          // below the smallest double
           "1.7976931348623157e308",          // the largest double
       }) {
    const std::string body = R"({"resourceType":"Observation","valueQuantity":{"value":)" +
                             std::string(number) + R"(,"unit":"mg"},"x":[)" + std::string(number) +
                             "," + std::string(number) + R"(],"y":)" + std::string(number) + "}";
    auto r = Resource::Parse(body);
    ASSERT_TRUE(r.ok()) << number << ": " << r.status().ToString();
    EXPECT_EQ(r->Serialize(), body);
    const auto& value = r->doc()["valueQuantity"]["value"];
    EXPECT_TRUE(IsJsonNumber(value)) << number;
    EXPECT_FALSE(IsJsonString(value)) << number;
    EXPECT_EQ(NumberText(value), number);
    EXPECT_EQ(NumberText(r->doc()["x"][1]), number);
    EXPECT_EQ(NumberText(r->doc()["y"]), number);
    // Through the write path and back.
    r->SetId("o1");
    r->SetVersionMeta(1, "2024-01-01T00:00:00Z");
    auto again = Resource::Parse(r->Serialize());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(NumberText(again->doc()["valueQuantity"]["value"]), number);
  }
}

TEST(ResourceNumberTest, PatientIntegerComesBackVerbatim) {
  auto r = Resource::Parse(R"({"resourceType":"Patient","multipleBirthInteger":2,)"
                           R"("telecom":[{"system":"phone","rank":1}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Patient","multipleBirthInteger":2,)"
                            R"("telecom":[{"system":"phone","rank":1}]})");
}

TEST(ResourceNumberTest, NumberAsDouble) {
  auto r = Resource::Parse(
      R"({"resourceType":"Observation","a":[1.50,-0.0,1E+2,3.141592653589793238462643383279,)"
      R"(12345678901234567890.123,1e-400,-1e-400,4.9e-324,1.7976931348623157e308,-7,)"
      R"(0.000000000000000000000000000000000000000000000000000000000000000000000000000000)"
      R"(00000000000000000000000000000000000000000000000000000000000000000000000000000000)"
      R"(00000000000000000000000000000000000000000000000000000000000000000000000000000000)"
      R"(00000000000000000000000000000000000000000000000000000000000000000000000000000000)"
      R"(00000000000000000000000000000000000000000000000000000000000000000000000000000001],)"
      R"("s":"1.5","b":true,"n":null,"o":{}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& a = r->doc()["a"];
  EXPECT_EQ(NumberAsDouble(a[0]), 1.5);
  ASSERT_TRUE(NumberAsDouble(a[1]).has_value());
  EXPECT_EQ(*NumberAsDouble(a[1]), 0.0);
  EXPECT_TRUE(std::signbit(*NumberAsDouble(a[1])));
  EXPECT_EQ(NumberAsDouble(a[2]), 100.0);
  EXPECT_EQ(NumberAsDouble(a[3]), 3.141592653589793);
  EXPECT_EQ(NumberAsDouble(a[4]), 12345678901234567890.123);
  ASSERT_TRUE(NumberAsDouble(a[5]).has_value());  // underflow: zero, keeping the sign
  EXPECT_EQ(*NumberAsDouble(a[5]), 0.0);
  EXPECT_FALSE(std::signbit(*NumberAsDouble(a[5])));
  ASSERT_TRUE(NumberAsDouble(a[6]).has_value());
  EXPECT_TRUE(std::signbit(*NumberAsDouble(a[6])));
  EXPECT_EQ(NumberAsDouble(a[7]), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(NumberAsDouble(a[8]), std::numeric_limits<double>::max());
  EXPECT_EQ(NumberAsDouble(a[9]), -7.0);
  EXPECT_EQ(NumberAsDouble(a[10]), 0.0);  // 1e-400 written out in full
  // Not numbers.
  for (const char* name : {"s", "b", "n", "o"}) {
    EXPECT_FALSE(NumberAsDouble(r->doc()[name]).has_value()) << name;
    EXPECT_FALSE(IsJsonNumber(r->doc()[name])) << name;
    EXPECT_EQ(NumberText(r->doc()[name]), "") << name;
  }
  EXPECT_TRUE(IsJsonString(r->doc()["s"]));
  EXPECT_FALSE(IsJsonString(r->doc()["b"]));
  // A native RapidJSON number (Parse never makes one) is still a number.
  rapidjson::Value native(2.5);
  EXPECT_TRUE(IsJsonNumber(native));
  EXPECT_EQ(NumberAsDouble(native), 2.5);
  EXPECT_EQ(NumberText(native), "");
}

TEST(ResourceNumberTest, NumbersBeyondDoubleRangeAreRefused) {
  const std::string prefix = R"({"resourceType":"Observation","x":)";
  // 1e999 is caught by RapidJSON's reader, 10e308 and 1.8e308 only by Hygie's check.
  const std::string big_integer = "17976931348623159" + std::string(292, '0');  // 1.79..59e308
  for (std::string_view number :
       {std::string_view("1e999"), std::string_view("10e308"), std::string_view("1.8e308"),
        std::string_view("-1.8e308"), std::string_view("1.7976931348623159e308"),
        std::string_view("0.01e311"), std::string_view(big_integer)}) {
    Status s = ParseError(prefix + std::string(number) + "}");
    EXPECT_EQ(s.message(), "body is not valid JSON at offset " + std::to_string(prefix.size()) +
                               ": Number too big to be stored in double.")
        << number;
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-SYNTAX");
  }
}

TEST(ResourceNumberTest, NumberGrammarIsStrict) {
  for (std::string_view bad : {"01", "+1", ".5", "1.", "1e", "1e+", "-", "0x10", "1.5.2",
                               "Infinity", "-Infinity", "1_000", "--1"}) {
    Status s = ParseError(R"({"resourceType":"Observation","x":)" + std::string(bad) + "}");
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-SYNTAX") << bad;
  }
}

// The representation (a string starting with NUL) cannot be forged from a body.
TEST(ResourceNumberTest, StringsStartingWithNulAreStillRefused) {
  for (std::string_view bad : {
           std::string_view(R"({"resourceType":"Patient","x":"\u0000x"})"),
           std::string_view(R"({"resourceType":"Patient","x":"\u00001"})"),
           std::string_view(R"({"resourceType":"Patient","x":"\u00001.50"})"),
           std::string_view(R"({"resourceType":"Patient","x":"\u0000"})"),
           std::string_view(R"({"resourceType":"Patient","x":["\u00001"]})"),
           std::string_view(R"({"resourceType":"Patient","\u00001":1})"),
           std::string_view(R"({"resourceType":"\u00001"})"),
       }) {
    Status s = ParseError(bad);
    EXPECT_EQ(ParseErrorDetailsCode(s), "HYGIE-JSON-CONTROL-CHAR") << bad << " -> " << s.message();
  }
  // Raw NUL bytes are refused before the reader runs.
  ParseError(std::string(R"({"resourceType":"Patient","x":")") + '\0' + "1\"}").IgnoreError();
  // A number-looking string stays a string.
  auto r = Resource::Parse(R"({"resourceType":"Patient","x":"1.50"})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(IsJsonString(r->doc()["x"]));
  EXPECT_FALSE(IsJsonNumber(r->doc()["x"]));
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Patient","x":"1.50"})");
}

TEST(ResourceNumberTest, NumberAsResourceTypeOrIdIsNotAString) {
  EXPECT_EQ(ParseError(R"({"resourceType":1})").message(), "resourceType is not a string");
  EXPECT_EQ(ParseError(R"({"resourceType":1.5e3})").message(), "resourceType is not a string");
  auto r = Resource::Parse(R"({"resourceType":"Patient","id":1.50})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->id().has_value());
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Patient","id":1.50})");
  r->SetId("p");
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Patient","id":"p"})");
}

TEST(ResourceNumberTest, SerializeNeverEmitsAForgedRawValue) {
  // Code that puts a NUL-led string in the document by mistake gets an escaped string, never
  // raw JSON text.
  auto r = Resource::Parse(R"({"resourceType":"Patient"})");
  ASSERT_TRUE(r.ok());
  auto& allocator = r->doc().GetAllocator();
  const std::string forged = std::string(1, '\0') + R"(1,"admin":true)";
  r->doc().AddMember("x", rapidjson::Value(forged.data(), forged.size(), allocator), allocator);
  EXPECT_FALSE(IsJsonNumber(r->doc()["x"]));
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Patient","x":"\u00001,\"admin\":true"})");
}

TEST(ResourceNumberTest, SetNumberText) {
  auto r = Resource::Parse(R"({"resourceType":"Observation","x":"a"})");
  ASSERT_TRUE(r.ok());
  auto& allocator = r->doc().GetAllocator();
  rapidjson::Value& x = r->doc()["x"];
  for (std::string_view bad : {"", "1.", "+1", "NaN", "1 ", " 1", "1,2", "0.1e"}) {
    EXPECT_FALSE(SetNumberText(x, bad, allocator)) << bad;
    EXPECT_TRUE(IsJsonString(x));
  }
  {
    std::string transient = "6.0200e23";
    ASSERT_TRUE(SetNumberText(x, transient, allocator));
    transient.assign("XXXXXXXXX");
  }
  EXPECT_EQ(NumberText(x), "6.0200e23");
  EXPECT_EQ(NumberAsDouble(x), 6.02e23);
  EXPECT_EQ(r->Serialize(), R"({"resourceType":"Observation","x":6.0200e23})");
}

TEST(ResourceTest, ResourceIsMovable) {
  auto r = Resource::Parse(kPatient);
  ASSERT_TRUE(r.ok());
  Resource moved = std::move(r).value();
  EXPECT_EQ(moved.resource_type(), "Patient");
  Resource other = std::move(moved);
  EXPECT_EQ(*other.id(), "pat-1");
}

TEST(IdTest, IsValidId) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("pat-1.2"));
  EXPECT_TRUE(IsValidId("ABCxyz0123456789-."));
  EXPECT_TRUE(IsValidId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidId(""));
  for (std::string_view bad :
       {"a b", "a/b", "a_b", "a%2F", "../x", "a\n", "\xC3\xA9", "a:b", "a#", "a?b", "a*"}) {
    EXPECT_FALSE(IsValidId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidId(std::string_view("ab\0c", 4)));
}

TEST(ParseErrorDetailsCodeTest, OtherStatusesHaveNoCode) {
  EXPECT_EQ(ParseErrorDetailsCode(Status()), "");
  EXPECT_EQ(ParseErrorDetailsCode(NotFound("body is not valid UTF-8")), "");
  EXPECT_EQ(ParseErrorDetailsCode(InvalidArgument("something else")), "");
}

TEST(ParseJsonTest, AnyTopLevelValue) {
  auto array = ParseJson(R"([{"op":"add","path":"/a","value":1.50}])");
  ASSERT_TRUE(array.ok()) << array.status().ToString();
  ASSERT_TRUE((*array)->IsArray());
  ASSERT_EQ((*array)->Size(), 1u);
  EXPECT_EQ(NumberText((**array)[0]["value"]), "1.50");

  auto number = ParseJson("-0.0");
  ASSERT_TRUE(number.ok());
  EXPECT_EQ(NumberText(**number), "-0.0");

  auto text = ParseJson(R"("x")");
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(IsJsonString(**text));

  auto literal = ParseJson("null");
  ASSERT_TRUE(literal.ok());
  EXPECT_TRUE((*literal)->IsNull());

  // An object need not be a resource.
  auto object = ParseJson(R"({"a":{"b":[true]}})");
  ASSERT_TRUE(object.ok());
  EXPECT_TRUE((**object)["a"]["b"][0].GetBool());
}

// Found by fuzz/json_patch_fuzz.cc: an empty view (null data()) reached memchr, which must not
// get a null pointer (UndefinedBehaviorSanitizer stops the sanitizer suite on it).
TEST(ParseJsonTest, EmptyViewIsASyntaxError) {
  for (std::string_view empty : {std::string_view(), std::string_view("", 0)}) {
    auto parsed = ParseJson(empty);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
    auto resource = Resource::Parse(empty);
    ASSERT_FALSE(resource.ok());
    EXPECT_EQ(resource.status().code(), Code::kInvalidArgument);
  }
}

TEST(ParseJsonTest, SameChecksAsResourceParse) {
  struct Case {
    std::string_view json;
    std::string_view details;
  };
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  for (const Case& c : {
           Case{"[1,", "HYGIE-JSON-SYNTAX"},
           Case{"[1] [2]", "HYGIE-JSON-SYNTAX"},
           Case{std::string_view("[1]\0", 4), "HYGIE-JSON-SYNTAX"},
           Case{"[1e999]", "HYGIE-JSON-SYNTAX"},
           Case{"[\"\xC0\xAF\"]", "HYGIE-JSON-UTF8"},
           Case{R"(["\uDC00"])", "HYGIE-JSON-UTF8"},
           Case{R"([{"a":1,"a":2}])", "HYGIE-JSON-DUPLICATE-KEY"},
           Case{R"(["a\u0001"])", "HYGIE-JSON-CONTROL-CHAR"},
           Case{deep, "HYGIE-JSON-DEPTH"},
       }) {
    auto r = ParseJson(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(ParseErrorDetailsCode(r.status()), c.details) << c.json;
  }
  EXPECT_TRUE(ParseJson(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_FALSE(ParseJson("[[1]]", ParseLimits{.max_depth = 1}).ok());
  EXPECT_TRUE(ParseJson("[[1]]", ParseLimits{.max_depth = 2}).ok());
}

}  // namespace
}  // namespace hygie::fhir
