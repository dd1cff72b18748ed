// Backups to a real S3 store with Object Lock (Ceph RGW on loopback): the server ships with a
// credential that cannot delete, overwrite or shorten the retention of anything it put; a
// restore comes back from the bucket; the store going down stops no write.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backup/s3_client.h"
#include "core/clock.h"
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
  std::string restored = dir_.Path("restored");
  CommandResult r = RunHygie({"restore", "--data", inst_.data(), "--target", "cloud", "--tenant",
                              "acme", "--to", restored});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RunHygie({"audit", "verify", "--data", restored, "--tenant", "acme"}).exit_code, 0);
  ServerProcess back(restored);
  HttpClient c(back.port());
  for (const auto& [id, body] : bodies) {
    EXPECT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + id, token_).body, body) << id;
  }
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
  ASSERT_TRUE(WaitUntil(
      [&] { return server->Log().find("backup: acme to cloud") != std::string::npos; }, 60000))
      << server->Log();
  ASSERT_TRUE(Rgw::Get().Resume());
  ASSERT_TRUE(WaitUntil([&] { return Shipped() >= 11; }, 90000));
  EXPECT_NE(server->Log().find("reaches cloud again"), std::string::npos);
  server->Stop();
  EXPECT_EQ(RunHygie({"backup", "verify", "--data", inst_.data()}).exit_code, 0);
}

}  // namespace
}  // namespace hygie::e2e
