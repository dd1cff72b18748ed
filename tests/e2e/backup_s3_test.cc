// Backups to a real S3 store with Object Lock (Ceph RGW on loopback): the server ships with a
// credential that cannot delete, overwrite or shorten the retention of anything it put; a
// restore comes back from the bucket; the store going down stops no write.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backup/chain.h"
#include "backup/s3_client.h"
#include "backup/s3_target.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "storage/store.h"
#include "support/harness.h"
#include "support/rgw.h"

namespace hygie::e2e {
namespace {

using backup::LockMode;

std::string PatientJson(const std::string& family) {
  return R"({"resourceType":"Patient","name":[{"family":")" + family + R"("}]})";
}

class BackupS3 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Rgw::Get().ok()) << Rgw::Get().error();
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    bucket_ = "b-";
    for (char c : name) bucket_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (bucket_.size() > 50) bucket_.resize(50);
    backup::S3Client owner = Rgw::Get().Client("owner", bucket_);
    ASSERT_TRUE(owner.CreateBucket(/*object_lock_enabled=*/true).ok());
    ASSERT_TRUE(owner.PutBucketPolicy(ServerPolicy(bucket_)).ok());
    // The server's credential, in a file of mode 0600 (never on a command line).
    credentials_ = dir_.Path("s3-credentials.json");
    {
      std::ofstream f(credentials_);
      f << R"({"access_key_id":")" << Rgw::Get().Value("server_access_key")
        << R"(","secret_access_key":")" << Rgw::Get().Value("server_secret_key") << "\"}";
    }
    ::chmod(credentials_.c_str(), 0600);
    inst_.CreateTenant("acme");
    token_ = inst_.Token("acme");
    // The data on one site, backups on another (HDS EXI 28: both in the EEA).
    AddBackupSites(inst_.data());
    CommandResult add =
        RunHygie({"backup", "target", "add", "cloud", "--data", inst_.data(), "--site", "dc2",
                  "--s3-endpoint", Rgw::Get().endpoint(), "--bucket", bucket_, "--retention-days",
                  "1", "--credentials-file", credentials_});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    // No credential in the registry, the journal or the command's output.
    const std::string secret = Rgw::Get().Value("server_secret_key");
    EXPECT_TRUE(FilesContaining(inst_.data(), secret).empty());
    EXPECT_EQ(add.err.find(secret), std::string::npos);
  }

  uint64_t Shipped() {
    CommandResult r =
        RunHygie({"backup", "status", "--data", inst_.data(), "--tenant", "acme", "--json"});
    rapidjson::Document d = ParseJson(r.out);
    if (d.HasParseError() || !d.IsArray() || d.Empty()) return 0;
    if (d[0]["lag_versions"].GetUint64() != 0) return 0;
    return d[0]["shipped_seq"].GetUint64();
  }

  std::unique_ptr<ServerProcess> Serve() {
    ServeOptions so;
    so.extra_args = {"--backup-interval-s", "1"};
    return ServerProcess::Launch(inst_.data(), so);
  }

  TempDir dir_{"hygie-e2e-s3"};
  Installation inst_;
  std::string token_;
  std::string bucket_;
  std::string credentials_;
};

TEST_F(BackupS3, TheServersCredentialCanAddButNeverRemoveAndARestoreComesBack) {
  const std::string canary = "Canary" + RandomToken(10);
  std::map<std::string, std::string> bodies;
  {
    auto server = Serve();
    HttpClient c(server->port());
    for (int i = 0; i < 12; ++i) {
      HttpResponse r = c.Fhir("POST", "/fhir/acme/Patient", token_, PatientJson(canary));
      ASSERT_EQ(r.status, 201);
      std::string id = JsonString(ParseJson(r.body), "id");
      bodies[id] = c.Fhir("GET", "/fhir/acme/Patient/" + id, token_).body;
    }
    ASSERT_TRUE(WaitUntil([&] { return Shipped() >= 12; }, 60000));
    ASSERT_EQ(server->Stop(), 0);
  }
  backup::S3Client owner = Rgw::Get().Client("owner", bucket_);
  backup::S3Client server = Rgw::Get().Client("server", bucket_);
  auto versions = owner.ListObjectVersions("");
  ASSERT_TRUE(versions.ok()) << versions.status().message();
  ASSERT_GE(versions->size(), 4u);
  const int64_t now = SystemClock::Get().NowSeconds();
  for (const backup::ObjectVersion& v : *versions) {
    // (Objects belong to the credential that put them: the owner lists, the server reads.)
    auto got = server.GetObject(v.key, v.version_id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    // Nothing readable in any object or name.
    EXPECT_EQ(got->body.find(canary), std::string::npos) << v.key;
    EXPECT_EQ(got->body.find("Patient"), std::string::npos) << v.key;
    EXPECT_EQ(v.key.find("Patient"), std::string::npos) << v.key;
    for (const auto& [id, body] : bodies) EXPECT_EQ(v.key.find(id), std::string::npos);
    // Locked in compliance mode, about a day ahead.
    EXPECT_EQ(got->info.lock_mode, LockMode::kCompliance) << v.key;
    EXPECT_GT(got->info.retain_until, now + 86000) << v.key;
    // With the server's own credential: no delete, no shorter retention.
    backup::DeleteObjectOptions del;
    del.version_id = v.version_id;
    EXPECT_EQ(server.DeleteObject(v.key, del).status().code(), Code::kPermissionDenied) << v.key;
    EXPECT_EQ(server.DeleteObject(v.key).status().code(), Code::kPermissionDenied) << v.key;
    EXPECT_FALSE(
        server.PutObjectRetention(v.key, v.version_id, LockMode::kCompliance, now + 60).ok())
        << v.key;
    EXPECT_FALSE(
        server.PutObjectRetention(v.key, v.version_id, LockMode::kGovernance, now + 2 * 86400).ok())
        << v.key;
  }
  // Putting other bytes under a name leaves the original version in place, and Hygie reads the
  // original: the restore below is unaffected.
  const backup::ObjectVersion& first = versions->front();
  auto original = server.GetObject(first.key, first.version_id);
  ASSERT_TRUE(original.ok());
  ASSERT_TRUE(server.PutObject(first.key, "overwritten").ok());
  auto still = server.GetObject(first.key, first.version_id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->body, original->body);
  EXPECT_FALSE(owner.PutBucketVersioning(false).ok()) << "versioning cannot be suspended";
  EXPECT_FALSE(server.PutBucketPolicy("{}").ok());

  CommandResult verify = RunHygie({"backup", "verify", "--data", inst_.data()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  ExpectRestoreGivesBack(inst_.data(), "cloud", "acme", dir_.Path("restored"), token_, bodies);
}

TEST_F(BackupS3, TheStoreGoingDownStopsNoWriteAndShippingCatchesUp) {
  auto server = Serve();
  HttpClient c(server->port());
  ASSERT_EQ(c.Fhir("POST", "/fhir/acme/Patient", token_, PatientJson("One")).status, 201);
  ASSERT_TRUE(WaitUntil([&] { return Shipped() >= 1; }, 60000));
  ASSERT_TRUE(Rgw::Get().Pause());
  int64_t errors = ServerErrorResponses();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(c.Fhir("POST", "/fhir/acme/Patient", token_, PatientJson("Down")).status, 201);
  }
  EXPECT_EQ(ServerErrorResponses(), errors);
  EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
  ASSERT_TRUE(server->WaitForLog("backup: acme to cloud")) << server->Log();
  ASSERT_TRUE(Rgw::Get().Resume());
  ASSERT_TRUE(WaitUntil([&] { return Shipped() >= 11; }, 90000));
  // The objects are on the store before the round that put them logs its end: wait for the line.
  EXPECT_TRUE(server->WaitForLog("reaches cloud again", 30000)) << server->Log();
  server->Stop();
  EXPECT_EQ(RunHygie({"backup", "verify", "--data", inst_.data()}).exit_code, 0);
}

// Base snapshots and prune on the real store: the server's credential can delete nothing, the
// prune credential deletes what no restore point needs once its retention has passed, and the
// chain still verifies and restores everything.
TEST_F(BackupS3, PruneDeletesWithItsOwnCredentialOnlyWhatNoRestorePointNeeds) {
  // From the command line: a base, then prune refused without the prune credential or with the
  // server's, and nothing to delete while every object is under its 1-day retention.
  {
    auto server = Serve();
    HttpClient c(server->port());
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(c.Fhir("POST", "/fhir/acme/Patient", token_, PatientJson("P")).status, 201);
    }
    ASSERT_TRUE(WaitUntil([&] { return Shipped() >= 4; }, 60000));
    ASSERT_EQ(server->Stop(), 0);
  }
  CommandResult snap = RunHygie({"backup", "snapshot", "--data", inst_.data(), "--tenant", "acme"});
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  CommandResult no_cred =
      RunHygie({"backup", "prune", "--data", inst_.data(), "--target", "cloud"});
  EXPECT_NE(no_cred.exit_code, 0);
  EXPECT_NE(no_cred.err.find("--prune-credentials"), std::string::npos) << no_cred.err;
  CommandResult own = RunHygie({"backup", "prune", "--data", inst_.data(), "--target", "cloud",
                                "--prune-credentials", credentials_});
  EXPECT_NE(own.exit_code, 0);
  EXPECT_NE(own.err.find("server's own credential"), std::string::npos) << own.err;
  std::string prune_credentials = dir_.Path("prune-credentials.json");
  {
    std::ofstream f(prune_credentials);
    f << R"({"access_key_id":")" << Rgw::Get().Value("prune_access_key")
      << R"(","secret_access_key":")" << Rgw::Get().Value("prune_secret_key") << "\"}";
  }
  ::chmod(prune_credentials.c_str(), 0600);
  backup::S3Client owner = Rgw::Get().Client("owner", bucket_);
  size_t objects = owner.ListObjectVersions("")->size();
  CommandResult locked = RunHygie({"backup", "prune", "--data", inst_.data(), "--target", "cloud",
                                   "--prune-credentials", prune_credentials});
  EXPECT_EQ(locked.exit_code, 0) << locked.out << locked.err;
  EXPECT_NE(locked.out.find("nothing to prune"), std::string::npos) << locked.out;
  EXPECT_EQ(owner.ListObjectVersions("")->size(), objects);

  // Through the library, with a retention of 2 seconds: a chain of small packs and two bases.
  TempDir local("hygie-s3-prune");
  auto store = storage::OpenSqliteStore(local.Path("data"));
  ASSERT_TRUE(store.ok());
  auto tenant = (*store)->OpenTenant("acme");
  ASSERT_TRUE(tenant.ok());
  auto keys = backup::ChainKeys::Derive(
      crypto::SecretKey::FromBytes(crypto::Sha256(AsBytes(std::string_view("prune test")))));
  ASSERT_TRUE(keys.ok());
  backup::ChainId chain{"inst-prune", "acme"};
  backup::S3Target as_server(Rgw::Get().Config("server", bucket_), 2);
  backup::S3Target as_prune(Rgw::Get().Config("prune", bucket_), 2);
  auto head = backup::ReadHead(as_server, chain, *keys);
  ASSERT_TRUE(head.ok());
  uint64_t version = 0;
  auto write_and_ship = [&](int n) {
    for (int i = 0; i < n; ++i) {
      storage::VersionWrite w;
      w.record.type = "Patient";
      w.record.id = "p" + std::to_string(version);
      w.record.version = 1;
      w.record.last_updated_us = SystemClock::Get().NowMicros();
      w.record.key_id = 1;
      w.record.body = ToBytes("sealed bytes " + std::to_string(version++));
      w.expected_current = 0;
      storage::WriteBatch batch;
      batch.versions.push_back(std::move(w));
      ASSERT_TRUE((*tenant)->CommitAndWait(std::move(batch)).ok());
      backup::ShipOptions so;
      so.max_pack_bytes = 256;
      auto shipped = backup::ShipChain(as_server, chain, *keys, {tenant->get(), ""},
                                       SystemClock::Get(), so, &*head);
      ASSERT_TRUE(shipped.ok()) << shipped.status().message();
    }
  };
  write_and_ship(5);
  ASSERT_TRUE(backup::MakeBase(as_server, chain, *keys, SystemClock::Get(), {}, &*head).ok());
  write_and_ship(5);
  auto second = backup::MakeBase(as_server, chain, *keys, SystemClock::Get(), {}, &*head);
  ASSERT_TRUE(second.ok()) << second.status().message();
  write_and_ship(2);

  backup::RetentionPolicy keep{1, 0, 0};
  Result<backup::PrunePlan> plan = Status(Code::kInternal, "not planned");
  // Once the second base is older than the retention, everything before it may go.
  ASSERT_TRUE(WaitUntil(
      [&] {
        plan = backup::PlanPrune(as_server, chain, *keys, keep,
                                 SystemClock::Get().NowMicros() - 3'000'000);
        return plan.ok() && plan->anchor == second->n;
      },
      20000));
  ASSERT_FALSE(plan->entries.empty());
  ASSERT_FALSE(plan->packs.empty());
  // The server's credential deletes nothing.
  backup::PruneReport refused;
  ASSERT_TRUE(backup::ApplyPrune(as_server, *plan, &refused).ok());
  EXPECT_EQ(refused.entries, 0u);
  ASSERT_EQ(refused.failed.size(), 1u);
  EXPECT_NE(refused.failed[0].detail.find("AccessDenied"), std::string::npos)
      << refused.failed[0].detail;
  // The prune credential deletes what the plan names, and only that.
  backup::PruneReport pruned;
  ASSERT_TRUE(backup::ApplyPrune(as_prune, *plan, &pruned).ok());
  EXPECT_TRUE(pruned.failed.empty()) << pruned.failed[0].object << ": " << pruned.failed[0].detail;
  EXPECT_EQ(pruned.entries, plan->entries.size());
  EXPECT_EQ(pruned.packs, plan->packs.size());
  for (const std::string& name : plan->entries) {
    EXPECT_EQ(as_server.Get(name).status().code(), Code::kNotFound) << name;
  }
  auto verified = backup::VerifyChain(as_server, chain, *keys);
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->problems.empty())
      << verified->problems[0].object << ": " << verified->problems[0].detail;
  EXPECT_EQ(verified->versions, 12u);
  auto restored_store = storage::OpenSqliteStore(local.Path("restored"));
  ASSERT_TRUE(restored_store.ok());
  auto restored = (*restored_store)->OpenTenant("acme");
  ASSERT_TRUE(restored.ok());
  backup::RestoreReport report;
  Status s = backup::RestoreChain(as_server, chain, *keys, restored->get(),
                                  local.Path("restored-audit"), {}, &report);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(report.versions, 12u);
  ASSERT_TRUE(report.base.has_value());
  EXPECT_EQ(*report.base, second->n);
  auto live = (*tenant)->ScanLog(0, 100);
  auto back = (*restored)->ScanLog(0, 100);
  ASSERT_TRUE(live.ok() && back.ok());
  ASSERT_EQ(live->size(), back->size());
  for (size_t i = 0; i < live->size(); ++i) {
    EXPECT_EQ((*live)[i].record.body, (*back)[i].record.body);
  }
}

}  // namespace
}  // namespace hygie::e2e
