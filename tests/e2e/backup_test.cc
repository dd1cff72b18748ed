// Backups end to end: the real server ships to a directory target while it serves; restore,
// point in time, a target that is down, kill -9 during shipping, bad input to the commands.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "core/clock.h"
#include "support/harness.h"

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string PatientJson(const std::string& family) {
  return R"({"resourceType":"Patient","name":[{"family":")" + family +
         R"(","given":["Léa"]}],"birthDate":"1970-01-01"})";
}

class BackupE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    inst_.CreateTenant("acme");
    token_ = inst_.Token("acme");
    // The data on one site, backups on another (HDS EXI 28: both in the EEA).
    AddBackupSites(inst_.data());
    target_ = dir_.Path("offsite");
    CommandResult add = RunHygie({"backup", "target", "add", "offsite", "--data", inst_.data(),
                                  "--dir", target_, "--site", "dc2"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
  }

  std::unique_ptr<ServerProcess> Serve() {
    ServeOptions so;
    so.extra_args = {"--backup-interval-s", "1"};
    return ServerProcess::Launch(inst_.data(), so);
  }

  // The JSON of `backup status` for tenant acme, parsed.
  rapidjson::Document Status(const std::string& data_dir, const std::string& tenant = "acme") {
    CommandResult r =
        RunHygie({"backup", "status", "--data", data_dir, "--tenant", tenant, "--json"});
    rapidjson::Document d = ParseJson(r.out);
    EXPECT_FALSE(d.HasParseError()) << r.out << r.err;
    return d;
  }
  uint64_t Lag(const std::string& data_dir) {
    rapidjson::Document d = Status(data_dir);
    if (d.HasParseError() || !d.IsArray() || d.Empty()) return ~uint64_t{0};
    return d[0]["lag_versions"].GetUint64();
  }
  uint64_t Shipped(const std::string& data_dir) {
    rapidjson::Document d = Status(data_dir);
    if (d.HasParseError() || !d.IsArray() || d.Empty()) return 0;
    return d[0]["shipped_seq"].GetUint64();
  }

  std::string Create(HttpClient& c, const std::string& family) {
    HttpResponse r = c.Fhir("POST", "/fhir/acme/Patient", token_, PatientJson(family));
    EXPECT_EQ(r.status, 201) << r.body;
    rapidjson::Document d = ParseJson(r.body);
    return d.HasParseError() ? "" : JsonString(d, "id");
  }

  TempDir dir_{"hygie-e2e-backup"};
  Installation inst_;
  std::string token_;
  std::string target_;
};

TEST_F(BackupE2e, TheServerShipsWhileServingAndARestoreGivesEveryResourceBack) {
  const std::string canary = "Canary" + RandomToken(10);
  std::map<std::string, std::string> bodies;
  {
    auto server = Serve();
    HttpClient c(server->port());
    std::vector<std::string> ids;
    for (int i = 0; i < 30; ++i) ids.push_back(Create(c, canary + std::to_string(i)));
    // Updates and a delete: history comes back too.
    for (int i = 0; i < 30; i += 5) {
      std::string body = PatientJson(canary + "u" + std::to_string(i));
      body.insert(1, R"("id":")" + ids[i] + R"(",)");
      ASSERT_EQ(c.Fhir("PUT", "/fhir/acme/Patient/" + ids[i], token_, body).status, 200);
    }
    ASSERT_EQ(c.Fhir("DELETE", "/fhir/acme/Patient/" + ids[1], token_).status, 204);
    for (const std::string& id : ids) {
      HttpResponse r = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_);
      if (r.status == 200) bodies[id] = r.body;
    }
    // Within the shipping delay, everything is on the target.
    ASSERT_TRUE(WaitUntil([&] { return Shipped(inst_.data()) >= 37 && Lag(inst_.data()) == 0; }))
        << RunHygie({"backup", "status", "--data", inst_.data()}).out;
    EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
    ASSERT_EQ(server->Stop(), 0);
  }
  // Nothing on the target is readable: no name, no resource type, no id.
  EXPECT_TRUE(FilesContaining(target_, canary).empty());
  EXPECT_TRUE(FilesContaining(target_, "Patient").empty());
  EXPECT_TRUE(FilesContaining(target_, bodies.begin()->first).empty());

  CommandResult verify = RunHygie({"backup", "verify", "--data", inst_.data()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("offsite\tacme\tok"), std::string::npos) << verify.out;

  std::string restored = dir_.Path("restored");
  CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite", "--tenant",
                              "acme", "--to", restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("37 versions"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("restore acme:"), std::string::npos) << "progress is shown: " << r.err;
  CommandResult audit = RunHygie({"audit", "verify", "--data", restored, "--tenant", "acme"});
  EXPECT_EQ(audit.exit_code, 0) << audit.out << audit.err;

  ServerProcess server(restored);
  HttpClient c(server.port());
  for (const auto& [id, body] : bodies) {
    HttpResponse got = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_);
    EXPECT_EQ(got.status, 200) << id;
    EXPECT_EQ(got.body, body) << id;
  }
  EXPECT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + std::string("missing"), token_).status, 404);
  // The index was rebuilt: a search finds the restored resources.
  HttpResponse found = c.Fhir("GET", "/fhir/acme/Patient?family=" + canary + "u0", token_);
  ASSERT_EQ(found.status, 200);
  EXPECT_NE(found.body.find("\"total\":1"), std::string::npos) << found.body;
  // A restore into a place that holds data refuses: the same tenant again, or another
  // installation's directory.
  CommandResult again = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite",
                                  "--tenant", "acme", "--to", restored});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("holds tenant acme already"), std::string::npos) << again.err;
  Installation other;
  CommandResult foreign = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite",
                                    "--tenant", "acme", "--to", other.data()});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_NE(foreign.err.find("not empty"), std::string::npos) << foreign.err;
}

TEST_F(BackupE2e, AWholeInstallationComesBackOneTenantAfterTheOther) {
  inst_.CreateTenant("beta");
  const std::string beta_token = inst_.Token("beta");
  std::string a, b;
  {
    auto server = Serve();
    HttpClient c(server->port());
    a = Create(c, "Alpha");
    HttpResponse r = c.Fhir("POST", "/fhir/beta/Patient", beta_token, PatientJson("Beta"));
    ASSERT_EQ(r.status, 201);
    b = JsonString(ParseJson(r.body), "id");
    ASSERT_TRUE(WaitUntil([&] { return Lag(inst_.data()) == 0 && Shipped(inst_.data()) >= 1; }));
    server->Stop();
  }
  std::string restored = dir_.Path("whole");
  for (const char* tenant : {"acme", "beta"}) {
    CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite",
                                "--tenant", tenant, "--to", restored});
    ASSERT_EQ(r.exit_code, 0) << tenant << ": " << r.err;
  }
  EXPECT_EQ(RunHygie({"audit", "verify", "--data", restored, "--tenant", "beta"}).exit_code, 0);
  ServerProcess server(restored);
  HttpClient c(server.port());
  EXPECT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + a, token_).status, 200);
  EXPECT_EQ(c.Fhir("GET", "/fhir/beta/Patient/" + b, beta_token).status, 200);
}

TEST_F(BackupE2e, APointInTimeRestoreHoldsWhatWasCommittedBeforeTheInstantAndNothingAfter) {
  std::string id, v1_body;
  std::string at;
  {
    auto server = Serve();
    HttpClient c(server->port());
    id = Create(c, "Before");
    HttpResponse v1 = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_);
    v1_body = v1.body;
    rapidjson::Document d = ParseJson(v1.body);
    auto v1_ms = ParseInstant(d["meta"]["lastUpdated"].GetString());
    ASSERT_TRUE(v1_ms.ok());
    // The instant just after version 1; version 2 comes strictly later.
    at = FormatInstant(*v1_ms + 1000);
    ASSERT_TRUE(WaitUntil([&] { return SystemClock::Get().NowMicros() > *v1_ms + 5000; }));
    std::string body = PatientJson("After");
    body.insert(1, R"("id":")" + id + R"(",)");
    ASSERT_EQ(c.Fhir("PUT", "/fhir/acme/Patient/" + id, token_, body).status, 200);
    std::string other = Create(c, "Later");
    ASSERT_TRUE(WaitUntil([&] { return Lag(inst_.data()) == 0 && Shipped(inst_.data()) >= 3; }));
    ASSERT_EQ(server->Stop(), 0);
  }
  std::string restored = dir_.Path("pitr");
  CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite", "--tenant",
                              "acme", "--to", restored, "--at", at});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(": 1 versions"), std::string::npos) << r.out;
  CommandResult audit = RunHygie({"audit", "verify", "--data", restored, "--tenant", "acme"});
  EXPECT_EQ(audit.exit_code, 0) << audit.out << audit.err;
  ServerProcess server(restored);
  HttpClient c(server.port());
  HttpResponse got = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, v1_body);
  HttpResponse history = c.Fhir("GET", "/fhir/acme/Patient/" + id + "/_history", token_);
  EXPECT_NE(history.body.find("\"total\":1"), std::string::npos) << history.body;
  HttpResponse all = c.Fhir("GET", "/fhir/acme/Patient", token_);
  EXPECT_NE(all.body.find("\"total\":1"), std::string::npos) << all.body;
}

TEST_F(BackupE2e, ATargetThatIsDownStopsNoWriteAndShippingCatchesUpWhenItReturns) {
  auto server = Serve();
  HttpClient c(server->port());
  Create(c, "First");
  ASSERT_TRUE(WaitUntil([&] { return Shipped(inst_.data()) >= 1; }));
  // The target's directory goes away: a file stands where it was.
  fs::rename(target_, target_ + ".away");
  std::ofstream(target_) << "not a directory";
  int64_t errors_before = ServerErrorResponses();
  for (int i = 0; i < 10; ++i) Create(c, "While" + std::to_string(i));
  EXPECT_EQ(ServerErrorResponses(), errors_before);
  EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
  ASSERT_TRUE(server->WaitForLog("backup: acme to offsite")) << server->Log();
  CommandResult st = RunHygie({"backup", "status", "--data", inst_.data()});
  EXPECT_EQ(st.exit_code, 1) << st.out;
  // It comes back: the shipper catches up by itself.
  fs::remove(target_);
  fs::rename(target_ + ".away", target_);
  ASSERT_TRUE(WaitUntil([&] { return Shipped(inst_.data()) >= 11 && Lag(inst_.data()) == 0; }))
      << RunHygie({"backup", "status", "--data", inst_.data()}).out;
  // The entries are on the target before the round that wrote them logs its end: wait for it.
  EXPECT_TRUE(server->WaitForLog("reaches offsite again", 30000)) << server->Log();
  server->Stop();
  EXPECT_EQ(RunHygie({"backup", "verify", "--data", inst_.data()}).exit_code, 0);
}

TEST_F(BackupE2e, KillDuringShippingNeverLeavesATargetThatClaimsMoreThanItRestores) {
  uint32_t seed = std::random_device{}();
  std::printf("kill schedule seed: %u\n", seed);
  std::mt19937 rng(seed);
  std::set<std::string> acknowledged;
  for (int round = 0; round < 20; ++round) {
    auto server = Serve();
    HttpClient c(server->port());
    int writes = 5 + static_cast<int>(rng() % 20);
    for (int i = 0; i < writes; ++i) {
      HttpResponse r = c.Fhir("POST", "/fhir/acme/Patient", token_, PatientJson("K"));
      if (r.status == 201) acknowledged.insert(JsonString(ParseJson(r.body), "id"));
    }
    // Kill at a random point of the next shipping rounds.
    uint64_t before = Shipped(inst_.data());
    if (rng() % 2 == 0) WaitUntil([&] { return Shipped(inst_.data()) > before; }, 5000);
    server->Kill();
    CommandResult v = RunHygie({"backup", "verify", "--data", inst_.data(), "--tenant", "acme"});
    ASSERT_EQ(v.exit_code, 0) << "round " << round << ": " << v.out << v.err;
  }
  // A last clean run ships the rest; the restore holds every acknowledged write.
  {
    auto server = Serve();
    ASSERT_TRUE(WaitUntil([&] { return Lag(inst_.data()) == 0; }));
    server->Stop();
  }
  rapidjson::Document st = Status(inst_.data());
  std::string restored = dir_.Path("after-kills");
  CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite", "--tenant",
                              "acme", "--to", restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(": " + std::to_string(acknowledged.size()) + " versions"), std::string::npos)
      << r.out;
  ServerProcess server(restored);
  HttpClient c(server.port());
  for (const std::string& id : acknowledged) {
    EXPECT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + id, token_).status, 200) << id;
  }
}

TEST_F(BackupE2e, ADrillRestoresTheLatestPointChecksItAndIsRecorded) {
  {
    auto server = Serve();
    HttpClient c(server->port());
    for (int i = 0; i < 5; ++i) Create(c, "Drill" + std::to_string(i));
    ASSERT_TRUE(WaitUntil([&] { return Shipped(inst_.data()) >= 5 && Lag(inst_.data()) == 0; }));
    server->Stop();
  }
  CommandResult drill = RunHygie({"backup", "drill", "--data", inst_.data(), "--tenant", "acme"});
  ASSERT_EQ(drill.exit_code, 0) << drill.out << drill.err;
  EXPECT_NE(drill.out.find("offsite\tacme\tpassed"), std::string::npos) << drill.out;
  EXPECT_NE(drill.out.find("versions=5"), std::string::npos) << drill.out;
  // The scratch copy is gone; the drill is in the journal and in the status.
  for (const auto& e : fs::directory_iterator(inst_.data() + "/backup")) {
    EXPECT_EQ(e.path().filename().string().rfind("drill-", 0), std::string::npos) << e.path();
  }
  EXPECT_FALSE(FilesContaining(inst_.data() + "/audit/_system", "backup-drill").empty());
  rapidjson::Document st = Status(inst_.data());
  ASSERT_TRUE(st.IsArray() && !st.Empty());
  ASSERT_TRUE(st[0]["last_drill"].IsObject());
  EXPECT_TRUE(st[0]["last_drill"]["passed"].GetBool());

  // Damaged packs: the drill fails, and says so in its record.
  std::vector<std::string> packs;
  for (const auto& e : fs::recursive_directory_iterator(target_)) {
    if (e.is_regular_file() && e.path().string().find("/acme/packs/") != std::string::npos) {
      packs.push_back(e.path().string());
    }
  }
  ASSERT_FALSE(packs.empty());
  // Every pack: a pack merged into the base snapshot is no longer one the restore reads.
  for (const std::string& pack : packs) {
    fs::permissions(pack, fs::perms::owner_read | fs::perms::owner_write);
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  CommandResult bad = RunHygie({"backup", "drill", "--data", inst_.data(), "--tenant", "acme"});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  st = Status(inst_.data());
  ASSERT_TRUE(st.IsArray() && !st.Empty() && st[0]["last_drill"].IsObject());
  EXPECT_FALSE(st[0]["last_drill"]["passed"].GetBool());
}

TEST_F(BackupE2e, TheServerRunsDrillsOnASchedule) {
  ServeOptions so;
  so.extra_args = {"--backup-interval-s", "1", "--backup-drill-every", "1s"};
  auto server = ServerProcess::Launch(inst_.data(), so);
  HttpClient c(server->port());
  Create(c, "Scheduled");
  ASSERT_TRUE(server->WaitForLog("backup drill of acme on offsite passed: 1 versions"))
      << server->Log();
  EXPECT_EQ(RunHygie({"serve", "--data", inst_.data(), "--backup-drill-every", "soon"}).exit_code,
            2);
}

TEST_F(BackupE2e, ATenantComesBackBesideTheLiveOneUnderANewName) {
  std::map<std::string, std::string> bodies;
  std::string changed;
  {
    auto server = Serve();
    HttpClient c(server->port());
    for (int i = 0; i < 5; ++i) {
      std::string id = Create(c, "Beside" + std::to_string(i));
      bodies[id] = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_).body;
    }
    ASSERT_TRUE(WaitUntil([&] { return Shipped(inst_.data()) >= 5 && Lag(inst_.data()) == 0; }));
    // With the server running, a restore into its data directory refuses.
    CommandResult busy = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite",
                                   "--tenant", "acme", "--as", "acme-copy"});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("stop it first"), std::string::npos) << busy.err;
    // A delete just before the server stops: the server ships it on its way out.
    changed = bodies.begin()->first;
    ASSERT_EQ(c.Fhir("DELETE", "/fhir/acme/Patient/" + changed, token_).status, 204);
    bodies.erase(changed);
    server->Stop();
  }
  CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite", "--tenant",
                              "acme", "--as", "acme-copy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
  EXPECT_EQ(RunHygie({"restore", "--data", inst_.data(), "--target", "offsite", "--tenant", "acme",
                      "--as", "acme-copy"})
                .exit_code,
            1)
      << "the name is taken now";
  ServerProcess server(inst_.data());
  HttpClient c(server.port());
  std::string copy_token = inst_.Token("acme-copy");
  for (const auto& [id, body] : bodies) {
    HttpResponse got = c.Fhir("GET", "/fhir/acme-copy/Patient/" + id, copy_token);
    EXPECT_EQ(got.status, 200) << id;
    EXPECT_EQ(got.body, body) << id;
  }
  EXPECT_EQ(c.Fhir("GET", "/fhir/acme-copy/Patient/" + changed, copy_token).status, 410);
  // The copy is a tenant of its own: the live one changes alone, and each wall holds.
  const std::string other = bodies.begin()->first;
  ASSERT_EQ(c.Fhir("DELETE", "/fhir/acme/Patient/" + other, token_).status, 204);
  EXPECT_EQ(c.Fhir("GET", "/fhir/acme-copy/Patient/" + other, copy_token).status, 200);
  EXPECT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + other, copy_token).status, 403);
}

// A full target disk: shipping fails, writes go on, the local data and the target stay sound,
// and shipping resumes when there is space again.
TEST_F(BackupE2e, AFullTargetDiskNeverCorruptsAnything) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (CI runs as root)";
  fs::create_directories(target_);
  ASSERT_EQ(::mount("tmpfs", target_.c_str(), "tmpfs", 0, "size=96k,mode=0700"), 0)
      << std::strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{target_};
  auto server = Serve();
  HttpClient c(server->port());
  std::vector<std::string> ids;
  int64_t errors = ServerErrorResponses();
  // About 1 KiB each after sealing: 300 of them do not fit in 96 KiB.
  for (int i = 0; i < 300; ++i) ids.push_back(Create(c, "Full" + std::to_string(i)));
  EXPECT_EQ(ServerErrorResponses(), errors);
  ASSERT_TRUE(server->WaitForLog("No space left on device")) << server->Log();
  EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
  for (const std::string& id : ids) {
    ASSERT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + id, token_).status, 200) << id;
  }
  // What the target holds still verifies: a pack cut short by the full disk is not left there.
  CommandResult v = RunHygie({"backup", "verify", "--data", inst_.data(), "--tenant", "acme"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // Space again: shipping catches up by itself.
  ASSERT_EQ(::mount("tmpfs", target_.c_str(), "tmpfs", MS_REMOUNT, "size=64m,mode=0700"), 0)
      << std::strerror(errno);
  ASSERT_TRUE(WaitUntil([&] { return Shipped(inst_.data()) >= 300 && Lag(inst_.data()) == 0; }))
      << RunHygie({"backup", "status", "--data", inst_.data()}).out;
  server->Stop();
  EXPECT_EQ(RunHygie({"audit", "verify", "--data", inst_.data()}).exit_code, 0);
  v = RunHygie({"backup", "verify", "--data", inst_.data(), "--tenant", "acme"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "offsite", "--tenant",
                              "acme", "--to", dir_.Path("after-full")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(": 300 versions"), std::string::npos) << r.out;
}

TEST_F(BackupE2e, BadInputToTheCommandsGetsAClearErrorAndChangesNothing) {
  std::string targets = inst_.data() + "/backup/targets.json";
  std::string before;
  {
    std::ifstream in(targets);
    before.assign(std::istreambuf_iterator<char>(in), {});
  }
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  std::string d = inst_.data();
  std::vector<Case> cases = {
      {{"backup", "target", "add", "BAD NAME", "--data", d, "--dir", "/tmp/x", "--site", "s"},
       2,
       "target name"},
      {{"backup", "target", "add", "rel", "--data", d, "--dir", "relative/path", "--site", "s"},
       2,
       "absolute path"},
      {{"backup", "target", "add", "inside", "--data", d, "--dir", d + "/bk", "--site", "s"},
       2,
       "outside the data directory"},
      {{"backup", "target", "add", "both", "--data", d, "--dir", "/tmp/x", "--s3-endpoint",
        "https://s3.example", "--site", "s"},
       2,
       "either a directory"},
      {{"backup", "target", "add", "plain", "--data", d, "--s3-endpoint", "http://s3.example",
        "--bucket", "b-1", "--credentials-file", "/tmp/c", "--site", "s"},
       2,
       "https://"},
      {{"backup", "target", "add", "offsite", "--data", d, "--dir", dir_.Path("other"), "--site",
        "dc2"},
       1,
       "exists"},
      {{"backup", "target", "add", "abroad", "--data", d, "--dir", dir_.Path("other"), "--site",
        "us-east"},
       1,
       "outside the European Economic Area"},
      {{"backup", "target", "add", "beside", "--data", d, "--dir", dir_.Path("other"), "--site",
        "dc1"},
       1,
       "distinct"},
      {{"backup", "target", "add", "nosite", "--data", d, "--dir", dir_.Path("other"), "--site",
        "atlantis"},
       1,
       "atlantis"},
      {{"restore", "--data", d, "--target", "offsite", "--tenant", "acme", "--to", dir_.Path("r"),
        "--at", "yesterday"},
       2,
       "--at takes an instant"},
      {{"restore", "--data", d, "--target", "offsite", "--tenant", "nobody", "--to",
        dir_.Path("r")},
       1,
       "unknown tenant"},
      {{"restore", "--data", d, "--target", "nowhere", "--tenant", "acme", "--to", dir_.Path("r")},
       1,
       "no backup target named nowhere"},
      {{"backup", "verify", "--data", d, "--target", "nowhere"}, 1, "no backup target"},
      {{"backup", "target", "remove", "nowhere", "--data", d}, 1, "no backup target"},
  };
  for (const Case& c : cases) {
    CommandResult r = RunHygie(c.args);
    EXPECT_EQ(r.exit_code, c.code) << c.args[3] << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args[3] << ": " << r.err;
  }
  std::string after;
  {
    std::ifstream in(targets);
    after.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(before, after);
  EXPECT_FALSE(fs::exists(dir_.Path("r")));
  EXPECT_FALSE(fs::exists(dir_.Path("other"))) << "a refused target is not created";
  EXPECT_EQ(RunHygie({"backup", "--help"}).exit_code, 0);
  EXPECT_EQ(RunHygie({"restore", "--help"}).exit_code, 0);
}

TEST_F(BackupE2e, BaseSnapshotsRetentionAndPruneKeepEveryResourceRestorable) {
  std::map<std::string, std::string> bodies;
  {
    ServeOptions so;
    so.extra_args = {"--backup-interval-s", "1", "--backup-base-every", "2s"};
    auto server = ServerProcess::Launch(inst_.data(), so);
    HttpClient c(server->port());
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 5; ++i) {
        std::string id = Create(c, "Base" + std::to_string(round) + "x" + std::to_string(i));
        bodies[id] = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_).body;
      }
      // The server makes base snapshots on its own schedule.
      uint64_t shipped = 0;
      ASSERT_TRUE(WaitUntil(
          [&] {
            rapidjson::Document d = Status(inst_.data());
            if (d.HasParseError() || !d.IsArray() || d.Empty() ||
                !d[0]["last_base_snapshot"].IsObject())
              return false;
            shipped = d[0]["shipped_seq"].GetUint64();
            return d[0]["lag_versions"].GetUint64() == 0 && shipped >= bodies.size();
          },
          30000))
          << RunHygie({"backup", "status", "--data", inst_.data()}).out;
    }
    ASSERT_EQ(server->Stop(), 0);
  }
  CommandResult st = RunHygie({"backup", "status", "--data", inst_.data(), "--tenant", "acme"});
  EXPECT_NE(st.out.find("last_base_snapshot=20"), std::string::npos) << st.out;

  // A base by hand, at the head.
  CommandResult snap = RunHygie({"backup", "snapshot", "--data", inst_.data(), "--tenant", "acme"});
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  EXPECT_NE(snap.out.find("offsite\tacme\tbase="), std::string::npos) << snap.out;

  // Retention: shown, set, and bad values refused without a change.
  CommandResult shown =
      RunHygie({"backup", "retention", "--data", inst_.data(), "--target", "offsite"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("daily=7\tweekly=8\tmonthly=12"), std::string::npos) << shown.out;
  CommandResult none = RunHygie({"backup", "retention", "--data", inst_.data(), "--target",
                                 "offsite", "--daily", "0", "--weekly", "0", "--monthly", "0"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("at least one"), std::string::npos) << none.err;
  EXPECT_NE(RunHygie({"backup", "retention", "--data", inst_.data(), "--target", "offsite",
                      "--daily", "-3"})
                .exit_code,
            0);
  EXPECT_NE(RunHygie({"backup", "retention", "--data", inst_.data(), "--target", "nowhere",
                      "--daily", "3"})
                .exit_code,
            0);
  ASSERT_EQ(RunHygie({"backup", "retention", "--data", inst_.data(), "--target", "offsite",
                      "--daily", "1", "--weekly", "0", "--monthly", "0"})
                .exit_code,
            0);
  shown = RunHygie({"backup", "retention", "--data", inst_.data(), "--target", "offsite"});
  EXPECT_NE(shown.out.find("daily=1\tweekly=0\tmonthly=0"), std::string::npos) << shown.out;
  EXPECT_NE(RunHygie({"backup", "prune", "--data", inst_.data(), "--target", "offsite",
                      "--prune-credentials", target_ + "/x"})
                .exit_code,
            0)
      << "a directory target has no prune credential";

  auto files = [&] {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(target_)) n += e.is_regular_file();
    return n;
  };
  size_t before = files();
  CommandResult dry =
      RunHygie({"backup", "prune", "--data", inst_.data(), "--target", "offsite", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would_delete_entries="), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find("would_delete_entries=0\t"), std::string::npos) << dry.out;
  EXPECT_EQ(files(), before) << "a dry run deletes nothing";
  CommandResult prune =
      RunHygie({"backup", "prune", "--data", inst_.data(), "--target", "offsite"});
  ASSERT_EQ(prune.exit_code, 0) << prune.out << prune.err;
  EXPECT_LT(files(), before);
  EXPECT_NE(prune.out.find("deleted_entries="), std::string::npos) << prune.out;

  CommandResult verify = RunHygie({"backup", "verify", "--data", inst_.data()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  ExpectRestoreGivesBack(inst_.data(), "offsite", "acme", dir_.Path("restored-after-prune"), token_,
                         bodies);
}

}  // namespace
}  // namespace hygie::e2e
