#include "tenancy/issuers.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/fault_env.h"
#include "core/temp_dir.h"

namespace hygie::tenancy {
namespace {

TrustedIssuer Psc() {
  TrustedIssuer t;
  t.issuer = "https://auth.esante.gouv.fr/auth/realms/esante-wallet";
  t.audience = "hygie-acme";
  t.tenant = "acme";
  t.roles_claim = "realm_access.roles";
  t.role_map = {{"medecin", "practitioner"}};
  t.default_role = "service";
  t.professional_id_claim = "SubjectRefPro";
  return t;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(IssuerUrlTest, ParsesAndChecksUrls) {
  Result<HttpUrl> url = ParseHttpUrl("https://idp.example.test:8443/realms/a?x=1");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "idp.example.test");
  EXPECT_EQ(url->port, 8443);
  EXPECT_EQ(url->target, "/realms/a?x=1");
  url = ParseHttpUrl("http://[::1]/jwks");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 80);
  url = ParseHttpUrl("https://idp.example.test");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/");
  for (const char* bad :
       {"", "ftp://x/", "idp.example.test/x", "https://", "https://user@idp.example.test/",
        "https://idp.example.test/#frag", "https://idp.example.test/a b",
        "https://idp.example.test:99999/", "https://idp.example.test\\@evil.test/", "HTTPS//idp"}) {
    EXPECT_FALSE(ParseHttpUrl(bad).ok()) << bad;
  }
}

TEST(IssuerUrlTest, Loopback) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "localhost", "LocalHost"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"128.0.0.1", "10.0.0.1", "::2", "localhost.evil.test", "127.0.0.1.evil",
                           "0177.0.0.1", "::ffff:8.8.8.8", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
  EXPECT_TRUE(CheckSecureUrl("https://idp.example.test/").ok());
  EXPECT_TRUE(CheckSecureUrl("http://127.0.0.1:8080/").ok());
  EXPECT_TRUE(CheckSecureUrl("http://[::1]:8080/").ok());
  EXPECT_FALSE(CheckSecureUrl("http://idp.example.test/").ok());
  EXPECT_FALSE(CheckSecureUrl("http://10.0.0.1/").ok());
}

TEST(TrustedIssuerTest, Validation) {
  EXPECT_TRUE(ValidateTrustedIssuer(Psc()).ok());
  auto refused = [](TrustedIssuer t) { return ValidateTrustedIssuer(t).code(); };
  TrustedIssuer t = Psc();
  t.issuer = "http://auth.esante.gouv.fr/";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t.issuer = "http://localhost:9000/realms/dev";
  EXPECT_TRUE(ValidateTrustedIssuer(t).ok());
  t = Psc();
  t.issuer += "?tenant=x";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.audience = "";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.tenant = "Not A Tenant";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.scope_claim = "";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.roles_claim = "has space";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.role_map = {{"admin", "host-operator"}};
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.default_role = "host-operator";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);
  t = Psc();
  t.roles_claim = "";
  EXPECT_EQ(refused(t), Code::kInvalidArgument);  // a role map without a roles claim
}

TEST(TrustedIssuerStoreTest, AddListRemove) {
  test_support::TempDir dir;
  Result<std::vector<TrustedIssuer>> none = ListTrustedIssuers(dir.path(), "acme");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  ASSERT_TRUE(AddTrustedIssuer(dir.path(), Psc()).ok());
  TrustedIssuer other = Psc();
  other.issuer = "https://login.hospital.test/";
  other.role_map.clear();
  other.roles_claim.clear();
  ASSERT_TRUE(AddTrustedIssuer(dir.path(), other).ok());
  TrustedIssuer globex = Psc();
  globex.tenant = "globex";
  globex.audience = "hygie-globex";
  ASSERT_TRUE(AddTrustedIssuer(dir.path(), globex).ok());

  EXPECT_EQ(AddTrustedIssuer(dir.path(), Psc()).code(), Code::kAlreadyExists);
  TrustedIssuer bad = Psc();
  bad.issuer = "http://example.test";
  EXPECT_EQ(AddTrustedIssuer(dir.path(), bad).code(), Code::kInvalidArgument);

  Result<std::vector<TrustedIssuer>> acme = ListTrustedIssuers(dir.path(), "acme");
  ASSERT_TRUE(acme.ok());
  ASSERT_EQ(acme->size(), 2u);
  EXPECT_EQ((*acme)[0], Psc());  // every field survives the round trip
  EXPECT_EQ((*acme)[1], other);
  Result<std::vector<TrustedIssuer>> all = LoadTrustedIssuers(dir.path());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);

  struct stat st;
  ASSERT_EQ(::stat(TrustedIssuersPath(dir.path()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(TrustedIssuersPath(dir.path()) + ".tmp"));

  EXPECT_EQ(RemoveTrustedIssuer(dir.path(), "acme", "https://nowhere.test").code(),
            Code::kNotFound);
  EXPECT_EQ(RemoveTrustedIssuer(dir.path(), "initech", Psc().issuer).code(), Code::kNotFound);
  ASSERT_TRUE(RemoveTrustedIssuer(dir.path(), "acme", Psc().issuer).ok());
  acme = ListTrustedIssuers(dir.path(), "acme");
  ASSERT_TRUE(acme.ok());
  ASSERT_EQ(acme->size(), 1u);
  EXPECT_EQ((*acme)[0].issuer, other.issuer);
  ASSERT_TRUE(RemoveTrustedIssuer(dir.path(), "acme", other.issuer).ok());
  acme = ListTrustedIssuers(dir.path(), "acme");
  ASSERT_TRUE(acme.ok());
  EXPECT_TRUE(acme->empty());
  EXPECT_EQ(ListTrustedIssuers(dir.path(), "globex")->size(), 1u);
}

// A crash while adding or removing an issuer leaves the previous list or the new one: the file
// is never damaged, never lost.
TEST(TrustedIssuerStoreTest, CrashDuringSaveKeepsOldOrNewList) {
  TrustedIssuer other = Psc();
  other.issuer = "https://login.hospital.test/";
  bool saw_old = false, saw_new = false;
  for (uint64_t k = 0; k <= 8; ++k) {
    for (bool remove : {false, true}) {
      SCOPED_TRACE("crash after call " + std::to_string(k) + (remove ? " of a removal" : ""));
      test_support::TempDir dir;
      ASSERT_TRUE(AddTrustedIssuer(dir.path(), Psc()).ok());
      if (remove) {
        ASSERT_TRUE(AddTrustedIssuer(dir.path(), other).ok());
      }
      FaultInjectionEnv env;
      FaultInjectionEnv::FaultSpec crash;
      crash.skip = k;
      crash.count = FaultInjectionEnv::kForever;
      env.FailCalls(crash);
      Status s = remove ? RemoveTrustedIssuer(dir.path(), "acme", other.issuer, env)
                        : AddTrustedIssuer(dir.path(), other, env);
      ASSERT_TRUE(env.DropUnsyncedData().ok());
      auto list = ListTrustedIssuers(dir.path(), "acme");
      ASSERT_TRUE(list.ok()) << list.status().ToString();
      const size_t before = remove ? 2 : 1, after = remove ? 1 : 2;
      EXPECT_TRUE(list->size() == before || list->size() == after) << list->size();
      EXPECT_EQ((*list)[0], Psc());
      if (s.ok()) {
        EXPECT_EQ(list->size(), after);
      }
      saw_old = saw_old || list->size() == before;
      saw_new = saw_new || list->size() == after;
    }
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

TEST(TrustedIssuerStoreTest, DamagedFileIsReportedAndNeverRewritten) {
  test_support::TempDir dir;
  const std::string path = TrustedIssuersPath(dir.path());
  for (const std::string& text :
       {std::string("{not json"), std::string("[]"), std::string("{\"acme\":{}}"),
        std::string("{\"acme\":[{\"issuer\":\"http://evil.test\",\"audience\":\"a\"}]}"),
        std::string("{\"acme\":[{\"issuer\":\"https://a.test\",\"audience\":\"a\",\"x\":1}]}"),
        std::string("{\"acme\":[],\"acme\":[]}")}) {
    {
      std::ofstream out(path, std::ios::trunc);
      out << text;
    }
    EXPECT_EQ(LoadTrustedIssuers(dir.path()).status().code(), Code::kDataLoss) << text;
    EXPECT_EQ(AddTrustedIssuer(dir.path(), Psc()).code(), Code::kDataLoss) << text;
    EXPECT_EQ(ReadFile(path), text);
  }
}

}  // namespace
}  // namespace hygie::tenancy
