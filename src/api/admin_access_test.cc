#include "api/admin_access.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "core/temp_dir.h"

namespace hygie::api {
namespace {

constexpr int64_t kNow = 1'800'000'000;

struct Fixture {
  test_support::TempDir dir;
  std::unique_ptr<auth::GrantStore> store;
  std::vector<std::pair<std::string, audit::Record>> recorded;
  bool journal_ok = true;
  AccessAdminHooks hooks;
  Fixture() {
    store = std::move(auth::GrantStore::Open(dir.path())).value();
    hooks.record_in_tenant_tree = [this](const std::string& t, audit::Record r) -> Status {
      if (!journal_ok) return Unavailable("disk full");
      recorded.emplace_back(t, std::move(r));
      return Status::Ok();
    };
    hooks.tenant_exists = [](const std::string& t) { return t == "acme" || t == "globex"; };
  }
  http::Response Call(std::string_view method, std::vector<std::string> segs, std::string_view body,
                      const AdminCaller& c, int64_t now = kNow) {
    return HandleAccessAdmin(*store, method, segs, body, c, now, hooks);
  }
};

AdminCaller Caller(std::string sub, std::string role, std::string tenant = "acme") {
  AdminCaller c;
  c.subject = std::move(sub);
  c.role = std::move(role);
  c.tenant = std::move(tenant);
  c.peer = "10.0.0.1";
  return c;
}

std::string DetailsCode(const http::Response& res) {
  rapidjson::Document d;
  d.Parse(res.body().c_str());
  if (!d.IsObject() || !d.HasMember("issue")) return "";
  const auto& issue = d["issue"][0];
  if (!issue.HasMember("details")) return "";
  return issue["details"]["coding"][0]["code"].GetString();
}

TEST(AdminAccessTest, TenantAdminGrantsListsRevokes) {
  Fixture f;
  AdminCaller admin = Caller("alice", "tenant-admin");
  auto res = f.Call("POST", {"acme", "grants"},
                    R"({"subject":"dr-lee","role":"auditor","reason":"audit Q1","duration":"30d"})",
                    admin);
  ASSERT_EQ(res.result_int(), 201) << res.body();
  rapidjson::Document g;
  g.Parse(res.body().c_str());
  std::string id = g["id"].GetString();
  EXPECT_STREQ(g["owner"].GetString(), "alice");
  EXPECT_STREQ(g["status"].GetString(), "active");
  ASSERT_EQ(f.recorded.size(), 1u);
  EXPECT_EQ(f.recorded[0].first, "acme");
  EXPECT_EQ(f.recorded[0].second.interaction, "access-grant");
  EXPECT_EQ(f.recorded[0].second.resource_id, id);

  res = f.Call("GET", {"acme", "grants"}, "", admin);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find(id), std::string::npos);
  res = f.Call("GET", {"acme", "review"}, "", Caller("dr-lee", "auditor"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find("\"flags\""), std::string::npos);

  res = f.Call("DELETE", {"acme", "grants", id}, "", admin);
  EXPECT_EQ(res.result_int(), 400) << "a reason is required";
  res = f.Call("DELETE", {"acme", "grants", id}, R"({"reason":"done"})", admin);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_NE(res.body().find("\"status\":\"revoked\""), std::string::npos);
  res = f.Call("DELETE", {"acme", "grants", id}, R"({"reason":"again"})", admin);
  EXPECT_EQ(res.result_int(), 409);
  res = f.Call("DELETE", {"acme", "grants", "nope"}, R"({"reason":"x"})", admin);
  EXPECT_EQ(res.result_int(), 404);
}

TEST(AdminAccessTest, WallsAndRoles) {
  Fixture f;
  std::string body = R"({"subject":"x","role":"auditor","reason":"r","duration":"1d"})";
  auto res = f.Call("POST", {"acme", "grants"}, body, Caller("alice", "tenant-admin", "globex"));
  EXPECT_EQ(res.result_int(), 403);
  EXPECT_EQ(DetailsCode(res), "HYGIE-TENANT-MISMATCH");
  res = f.Call("GET", {"nope", "grants"}, "", Caller("alice", "tenant-admin", "nope"));
  EXPECT_EQ(res.result_int(), 404);
  for (const char* role : {"practitioner", "service", "auditor", "host-operator", ""}) {
    res = f.Call("POST", {"acme", "grants"}, body, Caller("bob", role));
    EXPECT_EQ(res.result_int(), 403) << role;
  }
  res = f.Call("GET", {"acme", "grants"}, "", Caller("bob", "practitioner"));
  EXPECT_EQ(res.result_int(), 403);
  res = f.Call("GET", {"acme", "grants"}, "", Caller("ops", "host-operator"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(f.recorded.empty());
  res = f.Call("PUT", {"acme", "grants"}, "", Caller("alice", "tenant-admin"));
  EXPECT_EQ(res.result_int(), 405);
  res = f.Call("GET", {"acme", "other"}, "", Caller("alice", "tenant-admin"));
  EXPECT_EQ(res.result_int(), 404);
}

TEST(AdminAccessTest, BadBodies) {
  Fixture f;
  AdminCaller admin = Caller("alice", "tenant-admin");
  for (
      const char* body :
      {"", "[]", "{", R"({"subject":"x","role":"auditor","reason":"r"})",
       R"({"subject":"x","role":"auditor","reason":"r","duration":"1d","end":"2027-02-01T00:00:00Z"})",
       R"({"subject":"x","role":"auditor","reason":"","duration":"1d"})",
       R"({"subject":"x","role":"boss","reason":"r","duration":"1d"})",
       R"({"subject":"x","role":"auditor","reason":"r","duration":"1d","extra":1})",
       R"({"subject":"x","role":"auditor","reason":"r","duration":"400d"})",
       R"({"subject":"x","role":"host-operator","reason":"r","duration":"1d"})",
       R"({"subject":"x","kind":"break-glass","reason":"r","duration":"73h"})"}) {
    auto res = f.Call("POST", {"acme", "grants"}, body, admin);
    EXPECT_EQ(res.result_int(), 400) << body << " -> " << res.body();
    EXPECT_EQ(DetailsCode(res), "HYGIE-ACCESS-INVALID") << body;
  }
  EXPECT_TRUE(f.store->List("acme").empty());
  EXPECT_TRUE(f.recorded.empty());
}

TEST(AdminAccessTest, EmergencyBreakGlassByTheOperatorItself) {
  Fixture f;
  AdminCaller ops = Caller("ops-1", "host-operator");
  std::string body =
      R"({"subject":"ops-1","kind":"break-glass","emergency":true,"reason":"incident 12","duration":"4h"})";
  auto res = f.Call("POST", {"acme", "grants"}, body, Caller("ops-2", "host-operator"));
  EXPECT_EQ(res.result_int(), 403) << "for itself only";
  res = f.Call("POST", {"acme", "grants"}, body, Caller("alice", "tenant-admin"));
  EXPECT_EQ(res.result_int(), 403) << "an emergency is the operator's";
  f.journal_ok = false;
  res = f.Call("POST", {"acme", "grants"}, body, ops);
  EXPECT_EQ(res.result_int(), 503) << "fail closed";
  EXPECT_TRUE(f.store->List("acme").empty());
  f.journal_ok = true;
  res = f.Call("POST", {"acme", "grants"}, body, ops);
  ASSERT_EQ(res.result_int(), 201) << res.body();
  ASSERT_EQ(f.recorded.size(), 1u);
  EXPECT_EQ(f.recorded[0].second.interaction, "access-break-glass");
  EXPECT_TRUE(f.recorded[0].second.staff);
  EXPECT_NE(f.recorded[0].second.detail.find("emergency"), std::string::npos);
  auth::AccessDecision d = f.store->Decide({"ops-1", "host-operator", ""}, "acme", kNow + 1,
                                           auth::Intent::kReadHealthData);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.emergency);
  // The operator may end it.
  rapidjson::Document g;
  g.Parse(res.body().c_str());
  res = f.Call("DELETE", {"acme", "grants", g["id"].GetString()}, R"({"reason":"fixed"})", ops);
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_FALSE(
      f.store
          ->Decide({"ops-1", "host-operator", ""}, "acme", kNow + 2, auth::Intent::kReadHealthData)
          .allowed);
}

TEST(AdminAccessTest, Interactions) {
  EXPECT_EQ(AccessAdminInteraction("GET", {"acme", "grants"}), "access-list");
  EXPECT_EQ(AccessAdminInteraction("POST", {"acme", "grants"}), "access-grant");
  EXPECT_EQ(AccessAdminInteraction("DELETE", {"acme", "grants", "x"}), "access-revoke");
  EXPECT_EQ(AccessAdminInteraction("GET", {"acme", "review"}), "access-review");
  EXPECT_EQ(AccessAdminInteraction("PATCH", {"acme", "review"}), "access-admin");
}

}  // namespace
}  // namespace hygie::api
