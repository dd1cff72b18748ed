#include "api/admin_issuers.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/temp_dir.h"
#include "tenancy/issuers.h"

namespace hygie::api {
namespace {

struct Fixture {
  test_support::TempDir dir;
  std::vector<std::pair<std::string, audit::Record>> recorded;
  bool journal_ok = true;
  int reloads = 0;
  IssuerAdminHooks hooks;
  Fixture() {
    hooks.data_dir = dir.path();
    hooks.record_in_tenant_tree = [this](const std::string& t, audit::Record r) -> Status {
      if (!journal_ok) return Unavailable("disk full");
      recorded.emplace_back(t, std::move(r));
      return Status::Ok();
    };
    hooks.reload = [this] { ++reloads; };
  }
  http::Response Call(std::string_view method, std::string_view body, std::string_view role,
                      std::vector<std::pair<std::string, std::string>> query = {}) {
    return HandleIssuerAdmin(method, "acme", {}, query, body, role, audit::Record{}, hooks);
  }
  size_t Trusted() {
    auto list = tenancy::ListTrustedIssuers(dir.path(), "acme");
    EXPECT_TRUE(list.ok());
    return list.ok() ? list->size() : 0;
  }
};

constexpr std::string_view kBody =
    R"({"issuer":"https://idp.example.fr/realms/care","audience":"hygie-acme",)"
    R"("roles_claim":"roles","role_map":{"medecin":"practitioner"}})";

TEST(IssuerAdminTest, TenantAdminAddsListsAndRemoves) {
  Fixture f;
  http::Response added = f.Call("POST", kBody, "tenant-admin");
  ASSERT_EQ(added.result_int(), 201) << added.body();
  EXPECT_NE(added.body().find("idp.example.fr"), std::string::npos);
  EXPECT_EQ(f.Trusted(), 1u);
  ASSERT_EQ(f.recorded.size(), 1u);
  EXPECT_EQ(f.recorded[0].first, "acme");
  EXPECT_EQ(f.recorded[0].second.interaction, "issuer-add");
  EXPECT_EQ(f.reloads, 1);

  http::Response listed = f.Call("GET", "", "host-operator");
  EXPECT_EQ(listed.result_int(), 200);
  EXPECT_NE(listed.body().find("\"medecin\":\"practitioner\""), std::string::npos) << listed.body();

  EXPECT_EQ(f.Call("POST", kBody, "tenant-admin").result_int(), 409);
  EXPECT_EQ(f.Call("DELETE", "", "tenant-admin").result_int(), 400) << "no ?issuer=";
  http::Response removed =
      f.Call("DELETE", "", "tenant-admin", {{"issuer", "https://idp.example.fr/realms/care"}});
  EXPECT_EQ(removed.result_int(), 200) << removed.body();
  EXPECT_EQ(f.Trusted(), 0u);
  EXPECT_EQ(f.recorded.back().second.interaction, "issuer-remove");
  EXPECT_EQ(f.Call("DELETE", "", "tenant-admin", {{"issuer", "https://idp.example.fr/realms/care"}})
                .result_int(),
            404);
}

TEST(IssuerAdminTest, OnlyTheTenantAdminChanges) {
  Fixture f;
  for (std::string_view role : {"practitioner", "auditor", "host-operator", "service", ""}) {
    EXPECT_EQ(f.Call("POST", kBody, role).result_int(), 403) << role;
  }
  EXPECT_EQ(f.Call("GET", "", "practitioner").result_int(), 403);
  EXPECT_EQ(f.Trusted(), 0u);
  EXPECT_TRUE(f.recorded.empty());
}

TEST(IssuerAdminTest, BadBodiesChangeNothing) {
  Fixture f;
  for (
      std::string_view body : {
          std::string_view("not json"),
          std::string_view("[]"),
          std::string_view(R"({"issuer":"https://idp.example.fr"})"),
          std::string_view(R"({"issuer":"http://idp.example.fr","audience":"a"})"),
          std::string_view(R"({"issuer":"https://idp.example.fr","audience":"a","x":1})"),
          std::string_view(R"({"issuer":"https://idp.example.fr","audience":7})"),
          std::string_view(
              R"({"issuer":"https://idp.example.fr","audience":"a","default_role":"host-operator"})"),
          std::string_view(R"({"issuer":"https://u:p@idp.example.fr","audience":"a"})"),
      }) {
    http::Response r = f.Call("POST", body, "tenant-admin");
    EXPECT_EQ(r.result_int(), 400) << body << " -> " << r.body();
  }
  EXPECT_EQ(f.Trusted(), 0u);
  EXPECT_TRUE(f.recorded.empty());
}

TEST(IssuerAdminTest, NoRecordNoChange) {
  Fixture f;
  f.journal_ok = false;
  EXPECT_EQ(f.Call("POST", kBody, "tenant-admin").result_int(), 503);
  EXPECT_EQ(f.Trusted(), 0u);
  EXPECT_EQ(f.reloads, 0);
}

TEST(IssuerAdminTest, MethodsAndPaths) {
  Fixture f;
  EXPECT_EQ(f.Call("PUT", kBody, "tenant-admin").result_int(), 405);
  EXPECT_EQ(
      HandleIssuerAdmin("GET", "acme", {"x"}, {}, "", "tenant-admin", {}, f.hooks).result_int(),
      404);
}

}  // namespace
}  // namespace hygie::api
