// End-to-end tests of the site registry (`hygie site add|list|remove`): the data's site and a
// backup site are registered, malformed fields and a second data site are refused, a site
// outside the EEA is never a backup target (HDS EXI 28), and every change is in the audit
// journal's system trail.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "support/harness.h"
#include "tenancy/sites.h"

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The records of the _system tree, as written.
std::string SystemRecords(const std::string& data) {
  std::string records;
  for (const auto& e : fs::directory_iterator(data + "/audit/_system")) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".log" && name.rfind("seg-", 0) == 0) records += Slurp(e.path());
  }
  return records;
}

std::vector<std::string> AddArgs(const std::string& data, const std::string& name,
                                 const std::string& country, const std::string& valid_until,
                                 bool data_site = false) {
  std::vector<std::string> args = {"site",
                                   "add",
                                   name,
                                   "--data",
                                   data,
                                   "--country",
                                   country,
                                   "--operator",
                                   "Hébergeur Santé SAS",
                                   "--hds-cert",
                                   "HDS-2024-0042",
                                   "--hds-valid-until",
                                   valid_until};
  if (data_site) args.push_back("--data-site");
  return args;
}

TEST(SiteTest, RegistryFromTheCommandLine) {
  Installation inst;
  const std::string data = inst.data();

  for (const std::vector<std::string>& help : {std::vector<std::string>{"site", "--help"},
                                               {"site", "add", "--help"},
                                               {"site", "list", "--help"},
                                               {"site", "remove", "--help"}}) {
    CommandResult r = RunHygie(help);
    EXPECT_EQ(r.exit_code, 0) << help[1] << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(RunHygie({"site", "add", "--help"}).out.find("--hds-valid-until"), std::string::npos);

  // An empty registry lists nothing.
  CommandResult empty = RunHygie({"site", "list", "--data", data});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, "");
  EXPECT_NE(empty.err.find("no site is registered"), std::string::npos) << empty.err;

  // The data's own site, in France; a backup site in Germany; a site in the US (registered: a
  // fact worth recording, but never a place for health data).
  CommandResult paris = RunHygie(AddArgs(data, "paris-1", "FR", "2099-12-31", true));
  ASSERT_EQ(paris.exit_code, 0) << paris.err;
  EXPECT_NE(paris.err.find("holding the data directory"), std::string::npos) << paris.err;
  CommandResult fra = RunHygie(AddArgs(data, "fra-backup", "DE", "2099-06-30"));
  ASSERT_EQ(fra.exit_code, 0) << fra.err;
  CommandResult us = RunHygie(AddArgs(data, "us-east", "US", "2099-06-30"));
  ASSERT_EQ(us.exit_code, 0) << us.err;
  EXPECT_NE(us.err.find("outside the European Economic Area"), std::string::npos) << us.err;
  struct stat st {};
  ASSERT_EQ(::stat(tenancy::SitesPath(data).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The backup target check: the German site may take a backup, the US site and the data's own
  // site may not.
  auto sites = tenancy::LoadSites(data);
  ASSERT_TRUE(sites.ok()) << sites.status().ToString();
  const std::string today = tenancy::UtcDate(SystemClock::Get().NowMicros());
  EXPECT_TRUE(tenancy::CheckBackupSite(*sites, "fra-backup", today).ok());
  Status refused = tenancy::CheckBackupSite(*sites, "us-east", today);
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_EQ(refused.message(),
            "site us-east is in US, outside the European Economic Area: health data may not be "
            "stored or backed up there (HDS EXI 28)");
  EXPECT_EQ(tenancy::CheckBackupSite(*sites, "paris-1", today).code(), Code::kFailedPrecondition);

  // Malformed fields: usage errors (2), nothing recorded, nothing written.
  const std::string before = Slurp(tenancy::SitesPath(data));
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {AddArgs(data, "lyon-1", "XX", "2099-01-01"), "XX is not an assigned ISO 3166-1"},
      {AddArgs(data, "lyon-1", "fr", "2099-01-01"), "upper case (FR)"},
      {AddArgs(data, "lyon-1", "FRA", "2099-01-01"), "not two letters"},
      {AddArgs(data, "lyon-1", "FR", "2026-02-30"), "not a real date"},
      {AddArgs(data, "Lyon 1", "FR", "2099-01-01"), "site name"},
      {{"site", "add", "lyon-1", "--data", data, "--country", "FR", "--operator", "Op",
        "--hds-cert", std::string(101, '7'), "--hds-valid-until", "2099-01-01"},
       "HDS certificate number is too long"},
      {{"site", "add", "lyon-1", "--data", data, "--country", "FR", "--operator", "Op\xff",
        "--hds-cert", "C", "--hds-valid-until", "2099-01-01"},
       "not valid UTF-8"},
      {{"site", "add", "lyon-1", "--data", data, "--operator", "Op", "--hds-cert", "C",
        "--hds-valid-until", "2099-01-01"},
       "--country"},
      {{"site", "add", "--data", data}, ""},
      {{"site", "remove", "--data", data}, ""},
      {{"site", "list"}, "--data"},
      {{"site"}, ""},
  };
  for (const Bad& b : bad) {
    CommandResult r = RunHygie(b.args);
    EXPECT_EQ(r.exit_code, 2) << b.message << ": " << r.err;
    EXPECT_NE(r.err.find(b.message), std::string::npos) << r.err;
  }

  // Refused acts (1): a second data site, a name taken, a data site outside the EEA.
  CommandResult second = RunHygie(AddArgs(data, "lyon-1", "FR", "2099-01-01", true));
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("paris-1 already holds the data directory"), std::string::npos)
      << second.err;
  CommandResult taken = RunHygie(AddArgs(data, "fra-backup", "IT", "2099-01-01"));
  EXPECT_EQ(taken.exit_code, 1) << taken.err;
  EXPECT_NE(taken.err.find("a site named fra-backup exists"), std::string::npos) << taken.err;
  EXPECT_EQ(Slurp(tenancy::SitesPath(data)), before);

  // The list, as text and as JSON.
  CommandResult list = RunHygie({"site", "list", "--data", data});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("NAME\tCOUNTRY\tEEA\tROLE"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("fra-backup\tDE\tyes\tother\tHDS-2024-0042\t2099-06-30\tHébergeur"),
            std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("paris-1\tFR\tyes\tdata\t"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("us-east\tUS\tno\tother\t"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("lyon-1"), std::string::npos) << list.out;
  CommandResult json = RunHygie({"site", "list", "--data", data, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  rapidjson::Document doc = ParseJson(json.out);
  ASSERT_FALSE(doc.HasParseError()) << json.out;
  ASSERT_TRUE(doc["sites"].IsArray());
  ASSERT_EQ(doc["sites"].Size(), 3u);
  EXPECT_EQ(JsonString(doc["sites"][1], "name"), "paris-1");
  EXPECT_TRUE(doc["sites"][1]["holds_data"].GetBool());
  EXPECT_EQ(JsonString(doc["sites"][0], "country"), "DE");

  // Removal.
  CommandResult removed = RunHygie({"site", "remove", "us-east", "--data", data});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  CommandResult again = RunHygie({"site", "remove", "us-east", "--data", data});
  EXPECT_EQ(again.exit_code, 1) << again.err;
  EXPECT_NE(again.err.find("no site is named"), std::string::npos) << again.err;
  list = RunHygie({"site", "list", "--data", data});
  EXPECT_EQ(list.out.find("us-east"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("fra-backup"), std::string::npos) << list.out;
  // The data site may be removed (to correct it) and then declared again.
  ASSERT_EQ(RunHygie({"site", "remove", "paris-1", "--data", data}).exit_code, 0);
  CommandResult lyon = RunHygie(AddArgs(data, "lyon-1", "FR", "2099-01-01", true));
  EXPECT_EQ(lyon.exit_code, 0) << lyon.err;

  // Every act, done or refused, is in the system trail, and the journal verifies.
  CommandResult verify = RunHygie({"audit", "verify", "--data", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("_system: OK"), std::string::npos) << verify.out;
  const std::string records = SystemRecords(data);
  // 4 adds done (paris-1, fra-backup, us-east, lyon-1), 2 refused (each recorded, then its
  // failure), none of the malformed ones.
  EXPECT_EQ(Count(records, "\"int\":\"site-add\""), 4u + 2 * 2) << records;
  EXPECT_EQ(Count(records, "\"int\":\"site-remove\""), 2u + 2) << records;
  EXPECT_NE(records.find("\"fra-backup\""), std::string::npos);
  EXPECT_NE(records.find("\"st\":412"), std::string::npos);  // the second data site
  EXPECT_NE(records.find("\"st\":409"), std::string::npos);  // the name taken
  EXPECT_NE(records.find("\"st\":404"), std::string::npos);  // removing us-east twice
  EXPECT_EQ(records.find("Lyon 1"), std::string::npos);
}

TEST(SiteTest, DataSiteOutsideTheEeaAndDamagedRegistryAreRefused) {
  Installation inst;
  const std::string data = inst.data();
  CommandResult us = RunHygie(AddArgs(data, "us-east", "US", "2099-06-30", true));
  EXPECT_EQ(us.exit_code, 1) << us.err;
  EXPECT_NE(us.err.find("outside the European Economic Area"), std::string::npos) << us.err;
  EXPECT_FALSE(fs::exists(tenancy::SitesPath(data)));

  // No data site yet: a backup target is refused, saying how to declare one.
  ASSERT_EQ(RunHygie(AddArgs(data, "fra-backup", "DE", "2099-06-30")).exit_code, 0);
  auto sites = tenancy::LoadSites(data);
  ASSERT_TRUE(sites.ok());
  Status s = tenancy::CheckBackupSite(*sites, "fra-backup",
                                      tenancy::UtcDate(SystemClock::Get().NowMicros()));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("--data-site"), std::string::npos) << s.message();

  // An expired certificate is registered with a warning, and never a backup target.
  CommandResult old = RunHygie(AddArgs(data, "old-backup", "NL", "2020-01-31"));
  EXPECT_EQ(old.exit_code, 0) << old.err;
  EXPECT_NE(old.err.find("it has expired"), std::string::npos) << old.err;
  CommandResult list = RunHygie({"site", "list", "--data", data});
  EXPECT_NE(list.out.find("2020-01-31 (expired)"), std::string::npos) << list.out;
  EXPECT_NE(list.err.find("no site is declared as holding the data"), std::string::npos);

  // A damaged registry: reported, never rewritten.
  { std::ofstream(tenancy::SitesPath(data), std::ios::trunc) << "{\"sites\": [ oops"; }
  CommandResult damaged = RunHygie({"site", "list", "--data", data});
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.err.find("sites.json is damaged"), std::string::npos) << damaged.err;
  CommandResult add = RunHygie(AddArgs(data, "paris-1", "FR", "2099-12-31", true));
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(Slurp(tenancy::SitesPath(data)), "{\"sites\": [ oops");

  // A directory that is not a Hygie installation.
  TempDir other;
  CommandResult nowhere = RunHygie(AddArgs(other.path(), "paris-1", "FR", "2099-12-31", true));
  EXPECT_EQ(nowhere.exit_code, 1) << nowhere.err;
  EXPECT_FALSE(fs::exists(tenancy::SitesPath(other.path())));
}

}  // namespace
}  // namespace hygie::e2e
