#include "tenancy/sites.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/temp_dir.h"

namespace hygie::tenancy {
namespace {

using namespace std::string_literals;

Site Paris() {
  Site s;
  s.name = "paris-1";
  s.country = "FR";
  s.operator_name = "Hébergeur Santé SAS";
  s.hds_certificate = "HDS-2024-0042";
  s.hds_valid_until = "2027-06-30";
  s.holds_data = true;
  return s;
}

Site Frankfurt() {
  Site s;
  s.name = "fra-backup";
  s.country = "DE";
  s.operator_name = "Rechenzentrum GmbH";
  s.hds_certificate = "HDS-2025-0107";
  s.hds_valid_until = "2026-12-31";
  return s;
}

Site Virginia() {
  Site s = Frankfurt();
  s.name = "us-east";
  s.country = "US";
  s.operator_name = "Cloud Inc.";
  return s;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Spit(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The file system, except that every file it opens for writing fails.
class NoWriteEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string&, OpenMode,
                                                     mode_t) override {
    return Unavailable("disk on fire");
  }
  Result<std::string> ReadFile(const std::string& p, uint64_t max) override {
    return Env::Default().ReadFile(p, max);
  }
  Result<bool> FileExists(const std::string& p) override { return Env::Default().FileExists(p); }
  Result<uint64_t> FileSize(const std::string& p) override { return Env::Default().FileSize(p); }
  Result<std::vector<std::string>> ListDir(const std::string& d) override {
    return Env::Default().ListDir(d);
  }
  Status CreateDirs(const std::string& d, mode_t m) override {
    return Env::Default().CreateDirs(d, m);
  }
  Status RenameFile(const std::string& a, const std::string& b) override {
    return Env::Default().RenameFile(a, b);
  }
  Status RemoveFile(const std::string& p) override { return Env::Default().RemoveFile(p); }
  Status SyncDir(const std::string& d) override { return Env::Default().SyncDir(d); }
};

TEST(SiteFieldsTest, Names) {
  for (const std::string& good : {"ab"s, "paris-1"s, "0-9"s, std::string(63, 'a')}) {
    EXPECT_TRUE(IsValidSiteName(good)) << good;
  }
  for (const std::string& bad : {""s, "a"s, std::string(64, 'a'), "Paris"s, "par is"s, "paris_1"s,
                                 "paris.1"s, "é-site"s, "a\0b"s}) {
    EXPECT_FALSE(IsValidSiteName(bad)) << bad;
  }
}

TEST(SiteFieldsTest, CountryCodes) {
  for (const char* code : {"FR", "DE", "US", "GB", "CH", "AX", "RE", "ZW", "AD", "SS", "BQ"}) {
    EXPECT_TRUE(IsCountryCode(code)) << code;
  }
  for (const char* code : {"XX", "fr", "Fr", "FRA", "F", "", "UK", "EL", "EU", "ZZ", "AA", "F1"}) {
    EXPECT_FALSE(IsCountryCode(code)) << code;
  }
  // The table is the whole ISO 3166-1 list: 249 assigned codes out of the 676 pairs.
  int assigned = 0;
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) assigned += IsCountryCode(std::string{a, b}) ? 1 : 0;
  }
  EXPECT_EQ(assigned, 249);
}

TEST(SiteFieldsTest, Eea) {
  for (const char* eu :
       {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}) {
    EXPECT_TRUE(IsEea(eu)) << eu;
  }
  for (const char* efta : {"IS", "LI", "NO"}) EXPECT_TRUE(IsEea(efta)) << efta;
  // Parts of member states with their own ISO code that are in the EU.
  for (const char* part : {"RE", "GP", "MQ", "GF", "YT", "MF", "AX"}) {
    EXPECT_TRUE(IsEea(part)) << part;
  }
  for (const char* outside : {"US", "CH", "GB", "NC", "PF", "GL", "FO", "SJ", "BL", "PM", "TR",
                              "CN", "IN", "fr", "EL", "EU", ""}) {
    EXPECT_FALSE(IsEea(outside)) << outside;
  }
  int eea = 0;
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) {
      const std::string code{a, b};
      if (IsEea(code)) {
        ++eea;
        EXPECT_TRUE(IsCountryCode(code)) << code;
      }
    }
  }
  EXPECT_EQ(eea, 37);  // 27 + 3 + 7
}

TEST(SiteFieldsTest, Dates) {
  for (const char* good : {"2026-02-28", "2024-02-29", "2000-02-29", "2026-12-31", "0001-01-01",
                           "9999-12-31", "2026-04-30"}) {
    EXPECT_TRUE(IsValidDate(good)) << good;
  }
  for (const char* bad :
       {"2026-02-30", "2026-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10",
        "2026-01-00", "0000-01-01", "2026-1-01", "26-01-01", "2026/01/01", "2026-01-01T00:00:00Z",
        "", "2026-01-0a", "+026-01-01", "2026-01- 1"}) {
    EXPECT_FALSE(IsValidDate(bad)) << bad;
  }
  EXPECT_EQ(UtcDate(0), "1970-01-01");
  EXPECT_EQ(UtcDate(1798761599LL * 1000000), "2026-12-31");  // 2026-12-31T23:59:59Z
  EXPECT_EQ(UtcDate(1798761600LL * 1000000), "2027-01-01");
  EXPECT_EQ(UtcDate(-1), "1969-12-31");
}

TEST(SiteFieldsTest, EachMalformedFieldIsNamed) {
  EXPECT_TRUE(ValidateSite(Paris()).ok());
  auto message = [](const Site& s) {
    Status st = ValidateSite(s);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    return st.message();
  };
  Site s = Paris();
  s.name = "Paris 1";
  EXPECT_NE(message(s).find("site name"), std::string::npos);
  s = Paris();
  s.country = "XX";
  EXPECT_NE(message(s).find("XX is not an assigned ISO 3166-1 alpha-2 code"), std::string::npos)
      << message(s);
  s.country = "fr";
  EXPECT_NE(message(s).find("upper case (FR)"), std::string::npos) << message(s);
  s.country = "FRA";
  EXPECT_NE(message(s).find("not two letters"), std::string::npos) << message(s);
  s.country = "UK";
  EXPECT_NE(message(s).find("use GB"), std::string::npos) << message(s);
  s.country = "EL";
  EXPECT_NE(message(s).find("use GR"), std::string::npos) << message(s);
  s.country = "";
  EXPECT_NE(message(s).find("country"), std::string::npos);

  s = Paris();
  s.operator_name = "";
  EXPECT_NE(message(s).find("operator is empty"), std::string::npos) << message(s);
  s.operator_name = "   ";
  EXPECT_NE(message(s).find("operator is empty"), std::string::npos);
  s.operator_name = std::string(200, 'x');
  EXPECT_TRUE(ValidateSite(s).ok());
  s.operator_name = std::string(201, 'x');
  EXPECT_NE(message(s).find("operator is too long"), std::string::npos) << message(s);
  // Characters, not bytes: 200 two-byte characters fit.
  s.operator_name.clear();
  for (int i = 0; i < 200; ++i) s.operator_name += "é";
  EXPECT_TRUE(ValidateSite(s).ok());
  s.operator_name += "é";
  EXPECT_NE(message(s).find("too long"), std::string::npos);
  for (const std::string& bad_utf8 : {"Op\xff"s, "Op\xc3"s,
                                      "\xc0\xaf"s,          // overlong '/'
                                      "\xed\xa0\x80"s,      // a surrogate
                                      "\xf4\x90\x80\x80"s,  // past U+10FFFF
                                      "\xe9t\xe9"s}) {      // Latin-1
    s.operator_name = bad_utf8;
    EXPECT_NE(message(s).find("operator is not valid UTF-8"), std::string::npos) << bad_utf8;
  }
  for (const std::string& control : {"Op\nInjected"s, "Op\tX"s, "Op\x7f"s, "Op\xc2\x85"s,
                                     "Op\xe2\x80\xae"
                                     "evil"s,
                                     "\0"s}) {
    s.operator_name = control;
    EXPECT_NE(message(s).find("control character"), std::string::npos) << control;
  }

  s = Paris();
  s.hds_certificate = "";
  EXPECT_NE(message(s).find("HDS certificate number is empty"), std::string::npos);
  s.hds_certificate = std::string(100, '7');
  EXPECT_TRUE(ValidateSite(s).ok());
  s.hds_certificate = std::string(101, '7');
  EXPECT_NE(message(s).find("HDS certificate number is too long"), std::string::npos);
  s.hds_certificate = "\xff";
  EXPECT_NE(message(s).find("not valid UTF-8"), std::string::npos);

  s = Paris();
  for (const char* bad : {"2026-02-30", "31/12/2026", "", "2026-12-31Z"}) {
    s.hds_valid_until = bad;
    EXPECT_NE(message(s).find("valid-until date"), std::string::npos) << bad;
  }
}

TEST(SiteRegistryTest, AddListRemove) {
  test_support::TempDir dir;
  auto sites = LoadSites(dir.path());
  ASSERT_TRUE(sites.ok()) << sites.status().ToString();
  EXPECT_TRUE(sites->empty());

  ASSERT_TRUE(AddSite(dir.path(), Paris()).ok());
  ASSERT_TRUE(AddSite(dir.path(), Frankfurt()).ok());
  ASSERT_TRUE(AddSite(dir.path(), Virginia()).ok());  // registered, never a target
  struct stat st {};
  ASSERT_EQ(::stat(SitesPath(dir.path()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(SitesPath(dir.path()) + ".tmp"));

  sites = LoadSites(dir.path());
  ASSERT_TRUE(sites.ok()) << sites.status().ToString();
  ASSERT_EQ(sites->size(), 3u);
  EXPECT_EQ((*sites)[0], Frankfurt());  // sorted by name
  EXPECT_EQ((*sites)[1], Paris());
  EXPECT_EQ((*sites)[2], Virginia());
  auto data = DataSite(*sites);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->name, "paris-1");

  Site again = Frankfurt();
  again.country = "IT";
  EXPECT_EQ(AddSite(dir.path(), again).code(), Code::kAlreadyExists);
  Site second_data = Frankfurt();
  second_data.name = "lyon-1";
  second_data.holds_data = true;
  Status refused = AddSite(dir.path(), second_data);
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("paris-1 already holds the data"), std::string::npos);
  Site bad = Frankfurt();
  bad.name = "lyon-2";
  bad.country = "XX";
  EXPECT_EQ(AddSite(dir.path(), bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(LoadSites(dir.path())->size(), 3u);

  EXPECT_EQ(RemoveSite(dir.path(), "nowhere").code(), Code::kNotFound);
  ASSERT_TRUE(RemoveSite(dir.path(), "paris-1").ok());
  sites = LoadSites(dir.path());
  ASSERT_TRUE(sites.ok());
  EXPECT_EQ(sites->size(), 2u);
  EXPECT_EQ(DataSite(*sites).status().code(), Code::kFailedPrecondition);
  // With the old data site gone, another may be declared.
  EXPECT_TRUE(AddSite(dir.path(), second_data).ok());
}

TEST(SiteRegistryTest, DataSiteMustBeInTheEea) {
  test_support::TempDir dir;
  Site s = Virginia();
  s.holds_data = true;
  Status refused = AddSite(dir.path(), s);
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("outside the European Economic Area"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(SitesPath(dir.path())));
}

TEST(SiteRegistryTest, AFailedWriteLeavesTheFileAsItWas) {
  test_support::TempDir dir;
  ASSERT_TRUE(AddSite(dir.path(), Paris()).ok());
  const std::string before = Slurp(SitesPath(dir.path()));
  NoWriteEnv env;
  EXPECT_EQ(AddSite(dir.path(), Frankfurt(), env).code(), Code::kUnavailable);
  EXPECT_EQ(RemoveSite(dir.path(), "paris-1", env).code(), Code::kUnavailable);
  EXPECT_EQ(Slurp(SitesPath(dir.path())), before);
  auto sites = LoadSites(dir.path(), env);
  ASSERT_TRUE(sites.ok());
  EXPECT_EQ(sites->size(), 1u);
}

TEST(SiteRegistryTest, DamagedFileIsDataLossAndNeverRewritten) {
  test_support::TempDir dir;
  const std::string path = SitesPath(dir.path());
  const std::string entry =
      R"({"name":"paris-1","country":"FR","operator":"Op","hds_certificate":"C1",)"
      R"("hds_valid_until":"2027-06-30","holds_data":true})";
  const std::string other =
      R"({"name":"fra-1","country":"DE","operator":"Op","hds_certificate":"C2",)"
      R"("hds_valid_until":"2027-06-30","holds_data":false})";
  Spit(path, R"({"sites":[)" + entry + "," + other + "]}");
  ASSERT_TRUE(LoadSites(dir.path()).ok()) << LoadSites(dir.path()).status().ToString();

  const std::string damaged[] = {
      "",
      "{",
      "[]",
      R"({"sites":{}})",
      R"({"sites":[],"more":1})",
      R"({"sites":[1]})",
      R"({"sites":[)" + entry + "," + entry + "]}",  // two sites named paris-1
      R"({"sites":[)" + entry + "," + std::string(other).replace(other.find("false"), 5, "true") +
          "]}",  // two data sites
      R"({"sites":[)" + std::string(entry).replace(entry.find("FR"), 2, "XX") + "]}",  // country
      R"({"sites":[)" + std::string(entry).replace(entry.find("06-30"), 5, "02-30") + "]}",
      R"({"sites":[)" + std::string(entry).replace(entry.find("true"), 4, "\"yes\"") + "]}",
      R"({"sites":[{"name":"paris-1","country":"FR"}]})",  // members missing
      R"({"sites":[)" + std::string(entry).replace(entry.size() - 1, 1, R"(,"x":1})") + "]}",
      R"({"sites":[)" + std::string(entry).replace(1, 0, R"("name":"a1",)") + "]}",  // twice
      std::string(R"({"sites":[{"name":"paris-1","country":"FR","operator":"Op)") + "\xff" +
          R"(","hds_certificate":"C1","hds_valid_until":"2027-06-30","holds_data":true}]})",
  };
  for (const std::string& text : damaged) {
    Spit(path, text);
    auto sites = LoadSites(dir.path());
    EXPECT_EQ(sites.status().code(), Code::kDataLoss) << text;
    EXPECT_NE(sites.status().message().find("sites.json is damaged"), std::string::npos);
    EXPECT_EQ(AddSite(dir.path(), Frankfurt()).code(), Code::kDataLoss) << text;
    EXPECT_EQ(RemoveSite(dir.path(), "paris-1").code(), Code::kDataLoss) << text;
    EXPECT_EQ(Slurp(path), text);
  }
}

TEST(BackupSiteTest, EachRule) {
  const std::string today = "2026-06-01";
  std::vector<Site> sites = {Frankfurt(), Paris(), Virginia()};
  EXPECT_TRUE(CheckBackupSite(sites, "fra-backup", today).ok());

  Status s = CheckBackupSite(sites, "nowhere", today);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("hygie site add"), std::string::npos);

  s = CheckBackupSite(sites, "us-east", today);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "site us-east is in US, outside the European Economic Area: health data may not be "
            "stored or backed up there (HDS EXI 28)");

  s = CheckBackupSite(sites, "paris-1", today);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("distinct"), std::string::npos);

  // The certificate is valid through its last day.
  EXPECT_TRUE(CheckBackupSite(sites, "fra-backup", "2026-12-31").ok());
  s = CheckBackupSite(sites, "fra-backup", "2027-01-01");
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("HDS certificate HDS-2025-0107 of site fra-backup was valid until "
                             "2026-12-31: it has expired"),
            std::string::npos)
      << s.message();

  std::vector<Site> no_data = {Frankfurt(), Virginia()};
  s = CheckBackupSite(no_data, "fra-backup", today);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("--data-site"), std::string::npos) << s.message();

  EXPECT_EQ(CheckBackupSite(sites, "fra-backup", "2026-13-01").code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckBackupSite({}, "fra-backup", today).code(), Code::kNotFound);
}

TEST(SiteRegistryTest, JsonRoundTrip) {
  test_support::TempDir dir;
  Site quoted = Frankfurt();
  quoted.operator_name = R"(Société "Données" \ Santé)";
  ASSERT_TRUE(AddSite(dir.path(), quoted).ok());
  auto sites = LoadSites(dir.path());
  ASSERT_TRUE(sites.ok());
  ASSERT_EQ(sites->size(), 1u);
  EXPECT_EQ((*sites)[0], quoted);
  EXPECT_EQ(SitesToJson(*sites), Slurp(SitesPath(dir.path())));
  EXPECT_EQ(SitesToJson({}), "{\n    \"sites\": []\n}\n");
}

}  // namespace
}  // namespace hygie::tenancy
