#include "fhir/json_patch.h"

#include <memory>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/resource.h"

namespace hygie::fhir {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<rapidjson::Document> Json(std::string_view text) {
  auto parsed = ParseJson(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << " in " << text;
  if (!parsed.ok()) return std::make_unique<rapidjson::Document>();
  return std::move(parsed).value();
}

// Compact JSON, numbers written back as text, like Resource::Serialize.
std::string Dump(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Applies patch to doc and expects success and a result equal to expected (RapidJSON's
// equality: objects regardless of member order, numbers kept as text by their text).
void ExpectPatched(std::string_view doc, std::string_view patch, std::string_view expected) {
  auto target = Json(doc);
  auto ops = Json(patch);
  const Status status = ApplyJsonPatch(*ops, *target);
  ASSERT_TRUE(status.ok()) << status.ToString() << " for " << patch;
  auto want = Json(expected);
  EXPECT_TRUE(*target == *want) << Dump(*target) << " != " << expected;
}

// Applies patch to doc, expects kInvalidArgument whose message contains every part, and the
// target unchanged.
void ExpectRefused(std::string_view doc, std::string_view patch,
                   std::initializer_list<std::string_view> parts) {
  auto target = Json(doc);
  const std::string before = Dump(*target);
  auto ops = Json(patch);
  const Status status = ApplyJsonPatch(*ops, *target);
  ASSERT_FALSE(status.ok()) << patch;
  EXPECT_EQ(status.code(), Code::kInvalidArgument);
  for (std::string_view part : parts) {
    EXPECT_THAT(status.message(), HasSubstr(std::string(part))) << patch;
  }
  EXPECT_EQ(Dump(*target), before);
}

// RFC 6902, appendix A.
TEST(JsonPatchRfcTest, A1AddObjectMember) {
  ExpectPatched(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
                R"({"baz":"qux","foo":"bar"})");
}

TEST(JsonPatchRfcTest, A2AddArrayElement) {
  ExpectPatched(R"({"foo":["bar","baz"]})", R"([{"op":"add","path":"/foo/1","value":"qux"}])",
                R"({"foo":["bar","qux","baz"]})");
}

TEST(JsonPatchRfcTest, A3RemoveObjectMember) {
  ExpectPatched(R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])",
                R"({"foo":"bar"})");
}

TEST(JsonPatchRfcTest, A4RemoveArrayElement) {
  ExpectPatched(R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])",
                R"({"foo":["bar","baz"]})");
}

TEST(JsonPatchRfcTest, A5ReplaceValue) {
  ExpectPatched(R"({"baz":"qux","foo":"bar"})", R"([{"op":"replace","path":"/baz","value":"boo"}])",
                R"({"baz":"boo","foo":"bar"})");
}

TEST(JsonPatchRfcTest, A6MoveValue) {
  ExpectPatched(R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
                R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
                R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})");
}

TEST(JsonPatchRfcTest, A7MoveArrayElement) {
  ExpectPatched(R"({"foo":["all","grass","cows","eat"]})",
                R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
                R"({"foo":["all","cows","eat","grass"]})");
}

TEST(JsonPatchRfcTest, A8TestSuccess) {
  ExpectPatched(R"({"baz":"qux","foo":["a",2,"c"]})",
                R"([{"op":"test","path":"/baz","value":"qux"},
                    {"op":"test","path":"/foo/1","value":2}])",
                R"({"baz":"qux","foo":["a",2,"c"]})");
}

TEST(JsonPatchRfcTest, A9TestError) {
  ExpectRefused(R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])",
                {"operation 0 (test)", "value differs", "/baz"});
}

TEST(JsonPatchRfcTest, A10AddNestedMemberObject) {
  ExpectPatched(R"({"foo":"bar"})", R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
                R"({"foo":"bar","child":{"grandchild":{}}})");
}

TEST(JsonPatchRfcTest, A11IgnoresUnrecognizedMembers) {
  ExpectPatched(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])",
                R"({"foo":"bar","baz":"qux"})");
}

TEST(JsonPatchRfcTest, A12AddToNonexistentTarget) {
  ExpectRefused(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])",
                {"operation 0 (add)", "does not exist"});
}

TEST(JsonPatchRfcTest, A13DuplicateOpIsInvalidDocument) {
  // The project's JSON parser refuses duplicate member names, so such a patch never applies.
  EXPECT_FALSE(ParseJson(R"([{"op":"add","path":"/baz","value":"qux","op":"remove"}])").ok());
}

TEST(JsonPatchRfcTest, A14TildeEscapeOrdering) {
  ExpectPatched(R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
                R"({"/":9,"~1":10})");
  ExpectPatched(R"({"/":9,"~1":10})", R"([{"op":"replace","path":"/~1","value":8}])",
                R"({"/":8,"~1":10})");
}

TEST(JsonPatchRfcTest, A15ComparingStringsAndNumbers) {
  ExpectRefused(R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])",
                {"operation 0 (test)", "value differs"});
}

TEST(JsonPatchRfcTest, A16AddArrayValue) {
  ExpectPatched(R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
                R"({"foo":["bar",["abc","def"]]})");
}

TEST(JsonPatchTest, CopyAndRootOperations) {
  ExpectPatched(R"({"a":{"b":[1,2]}})", R"([{"op":"copy","from":"/a/b","path":"/c"},
                                            {"op":"add","path":"/c/0","value":0}])",
                R"({"a":{"b":[1,2]},"c":[0,1,2]})");
  ExpectPatched(R"({"a":1})", R"([{"op":"replace","path":"","value":{"b":2}}])", R"({"b":2})");
  ExpectPatched(R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])", R"([1])");
  ExpectPatched(R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])", R"({"a":1})");
  ExpectPatched(R"({"a":1})", R"([])", R"({"a":1})");
  ExpectPatched(R"({"":1,"a b":{"":2}})", R"([{"op":"remove","path":"/"},
                                              {"op":"replace","path":"/a b/","value":3}])",
                R"({"a b":{"":3}})");
  // add on an existing member replaces it.
  ExpectPatched(R"({"a":1})", R"([{"op":"add","path":"/a","value":null}])", R"({"a":null})");
}

TEST(JsonPatchTest, RemoveKeepsMemberOrder) {
  auto target = Json(R"({"a":"1","b":"2","c":"3","d":"4"})");
  auto ops = Json(R"([{"op":"remove","path":"/b"},{"op":"add","path":"/b","value":"5"}])");
  ASSERT_TRUE(ApplyJsonPatch(*ops, *target).ok());
  EXPECT_EQ(Dump(*target), R"({"a":"1","c":"3","d":"4","b":"5"})");
}

TEST(JsonPatchTest, NumbersKeptAsText) {
  auto target = Json(R"({"resourceType":"Observation","valueQuantity":{"value":1.5}})");
  auto ops = Json(R"([{"op":"replace","path":"/valueQuantity/value","value":1.50},
                      {"op":"add","path":"/x","value":[1E+2,-0.0]}])");
  ASSERT_TRUE(ApplyJsonPatch(*ops, *target).ok());
  EXPECT_EQ(NumberText((*target)["valueQuantity"]["value"]), "1.50");
  EXPECT_EQ(NumberText((*target)["x"][0]), "1E+2");
  EXPECT_EQ(NumberText((*target)["x"][1]), "-0.0");

  // test compares by the text: a decimal's precision is significant.
  auto precise = Json(R"([{"op":"test","path":"/valueQuantity/value","value":1.50}])");
  EXPECT_TRUE(ApplyJsonPatch(*precise, *target).ok());
  auto coarse = Json(R"([{"op":"test","path":"/valueQuantity/value","value":1.5}])");
  EXPECT_FALSE(ApplyJsonPatch(*coarse, *target).ok());
  auto as_string = Json(R"([{"op":"test","path":"/valueQuantity/value","value":"1.50"}])");
  EXPECT_FALSE(ApplyJsonPatch(*as_string, *target).ok());

  // A patch built in code with native RapidJSON numbers: stored as text all the same.
  rapidjson::Document patch(rapidjson::kArrayType);
  auto& a = patch.GetAllocator();
  rapidjson::Value op(rapidjson::kObjectType);
  op.AddMember("op", "add", a);
  op.AddMember("path", "/n", a);
  rapidjson::Value numbers(rapidjson::kArrayType);
  numbers.PushBack(42, a).PushBack(-7, a).PushBack(0.25, a);
  op.AddMember("value", numbers, a);
  patch.PushBack(op, a);
  ASSERT_TRUE(ApplyJsonPatch(patch, *target).ok());
  EXPECT_EQ(NumberText((*target)["n"][0]), "42");
  EXPECT_EQ(NumberText((*target)["n"][1]), "-7");
  EXPECT_EQ(NumberText((*target)["n"][2]), "0.25");
  auto check = Json(R"([{"op":"test","path":"/n","value":[42,-7,0.25]}])");
  EXPECT_TRUE(ApplyJsonPatch(*check, *target).ok());
}

TEST(JsonPatchTest, TestComparesObjectsRegardlessOfOrder) {
  ExpectPatched(R"({"a":{"x":1,"y":[true,null,"s"]}})",
                R"([{"op":"test","path":"/a","value":{"y":[true,null,"s"],"x":1}}])",
                R"({"a":{"x":1,"y":[true,null,"s"]}})");
  ExpectRefused(R"({"a":{"x":1,"y":2}})", R"([{"op":"test","path":"/a","value":{"x":1}}])",
                {"value differs"});
  ExpectRefused(R"({"a":[1,2]})", R"([{"op":"test","path":"/a","value":[2,1]}])",
                {"value differs"});
  ExpectRefused(R"({"a":true})", R"([{"op":"test","path":"/a","value":false}])", {"value differs"});
  ExpectRefused(R"({"a":null})", R"([{"op":"test","path":"/b","value":null}])", {"does not exist"});
}

TEST(JsonPatchTest, Errors) {
  const std::string_view doc = R"({"a":[1,2],"b":{"c":"d"}})";
  ExpectRefused(doc, R"({"op":"add"})", {"not a JSON array"});
  ExpectRefused(doc, R"([1])", {"operation 0", "not a JSON object"});
  ExpectRefused(doc, R"([{"path":"/a"}])", {"operation 0", "'op' is missing"});
  ExpectRefused(doc, R"([{"op":"delete","path":"/a"}])", {"operation 0", "unknown op"});
  ExpectRefused(doc, R"([{"op":7,"path":"/a"}])", {"operation 0", "'op' is not a string"});
  ExpectRefused(doc, R"([{"op":"remove"}])", {"operation 0 (remove)", "'path' is missing"});
  ExpectRefused(doc, R"([{"op":"remove","path":3}])", {"'path' is not a string"});
  ExpectRefused(doc, R"([{"op":"remove","path":"a"}])", {"does not start with '/'"});
  ExpectRefused(doc, R"([{"op":"remove","path":"/b/~2"}])", {"'~' not followed"});
  ExpectRefused(doc, R"([{"op":"remove","path":"/x"}])", {"does not exist", "at /x"});
  ExpectRefused(doc, R"([{"op":"remove","path":""}])", {"whole document"});
  ExpectRefused(doc, R"([{"op":"remove","path":"/a/2"}])", {"index out of range", "/a/2"});
  ExpectRefused(doc, R"([{"op":"remove","path":"/a/-"}])", {"invalid array index"});
  ExpectRefused(doc, R"([{"op":"remove","path":"/a/01"}])", {"invalid array index"});
  ExpectRefused(doc, R"([{"op":"remove","path":"/a/+1"}])", {"invalid array index"});
  ExpectRefused(doc, R"([{"op":"add","path":"/a/3","value":0}])", {"index out of range"});
  ExpectRefused(doc, R"([{"op":"add","path":"/a/x","value":0}])", {"invalid array index"});
  ExpectRefused(doc, R"([{"op":"add","path":"/b/c/d","value":0}])", {"not an object or an array"});
  ExpectRefused(doc, R"([{"op":"add","path":"/z"}])", {"operation 0 (add)", "'value' is missing"});
  ExpectRefused(doc, R"([{"op":"replace","path":"/z","value":0}])", {"does not exist"});
  ExpectRefused(doc, R"([{"op":"replace","path":"/a/-","value":0}])", {"invalid array index"});
  ExpectRefused(doc, R"([{"op":"test","path":"/a"}])", {"'value' is missing"});
  ExpectRefused(doc, R"([{"op":"copy","path":"/z"}])", {"operation 0 (copy)", "'from' is missing"});
  ExpectRefused(doc, R"([{"op":"copy","from":"/q","path":"/z"}])", {"(from)", "at /q"});
  ExpectRefused(doc, R"([{"op":"move","from":"/b","path":"/b/e"}])", {"its own children"});
  ExpectRefused(doc, R"([{"op":"move","from":"/a/9","path":"/z"}])", {"(from)", "out of range"});
  // A pointer with characters outside the echoed set is not echoed.
  auto target = Json(doc);
  auto ops = Json(R"([{"op":"remove","path":"/secret value"}])");
  const Status status = ApplyJsonPatch(*ops, *target);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("secret")));
}

TEST(JsonPatchTest, AtomicOnFailure) {
  // The first two operations succeed, the third fails: nothing of the first two remains.
  ExpectRefused(R"({"resourceType":"Patient","active":true,"name":[{"family":"Durand"}]})",
                R"([{"op":"replace","path":"/active","value":false},
                    {"op":"remove","path":"/name/0"},
                    {"op":"test","path":"/name/0/family","value":"Durand"}])",
                {"operation 2 (test)", "index out of range"});
}

TEST(JsonPatchTest, WorksOnResourceDocuments) {
  auto resource = Resource::Parse(
      R"({"resourceType":"Patient","id":"p1","birthDate":"1970-01-01","name":[{"given":["A"]}]})");
  ASSERT_TRUE(resource.ok());
  auto ops = Json(R"([{"op":"add","path":"/name/0/given/-","value":"B"},
                      {"op":"replace","path":"/birthDate","value":"1971-02-03"},
                      {"op":"add","path":"/multipleBirthInteger","value":2}])");
  ASSERT_TRUE(ApplyJsonPatch(*ops, resource->doc()).ok());
  EXPECT_EQ(resource->Serialize(),
            R"({"resourceType":"Patient","id":"p1","birthDate":"1971-02-03",)"
            R"("name":[{"given":["A","B"]}],"multipleBirthInteger":2})");
}

}  // namespace
}  // namespace hygie::fhir
