// End-to-end tests of the S3 client (src/backup/s3_client.h) against a real Ceph RGW with
// Object Lock on loopback, started by tests/s3/rgw.sh in a fresh directory: a bucket with
// Object Lock, COMPLIANCE retention, versions, pagination, and a bucket policy that lets the
// server's credential write and read but never delete, shorten a retention, suspend
// versioning or change the policy.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backup/s3_client.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "crypto/secret.h"
#include "support/harness.h"
#include "support/rgw.h"

namespace hygie::e2e {
namespace {

using backup::LockMode;
using backup::S3Client;
using backup::S3ClientConfig;

class S3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Rgw::Get().ok()) << Rgw::Get().error();
    // One bucket per test: lower-case, from the test's name.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    bucket_ = "t-";
    for (char c : name) bucket_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (bucket_.size() > 50) bucket_.resize(50);
  }

  static int64_t Now() { return SystemClock::Get().NowSeconds(); }

  // A bucket with Object Lock, created by the owner.
  void CreateLockedBucket() {
    S3Client owner = Rgw::Get().Client("owner", bucket_);
    Status created = owner.CreateBucket(/*object_lock_enabled=*/true);
    ASSERT_TRUE(created.ok()) << created.ToString();
  }

  std::string bucket_;
};

TEST_F(S3ClientTest, PutsGetsAndHeadsAnObjectUnderComplianceRetention) {
  std::printf("RGW started in %.2f s\n", Rgw::Get().start_seconds());
  CreateLockedBucket();
  S3Client owner = Rgw::Get().Client("owner", bucket_);
  // The name is taken: another account's create is a conflict (409 BucketAlreadyExists).
  // (RGW answers the owner's own repeated create with 200, as S3 in us-east-1 does.)
  Status taken = Rgw::Get().Client("server", bucket_).CreateBucket(true);
  EXPECT_EQ(taken.code(), Code::kFailedPrecondition);
  EXPECT_NE(taken.message().find("BucketAlreadyExists"), std::string::npos) << taken.message();

  Result<backup::ObjectLockConfiguration> lock = owner.GetObjectLockConfiguration();
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_TRUE(lock->enabled);

  const std::string body = "pack 0001: \x01\x02\x03 not health data";
  const int64_t until = Now() + 3600;
  backup::PutObjectOptions put_options;
  put_options.lock_mode = LockMode::kCompliance;
  put_options.retain_until = until;
  Result<backup::PutObjectResult> put = owner.PutObject("packs/0001 $a+b.pack", body, put_options);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_FALSE(put->version_id.empty());
  EXPECT_EQ(put->etag.size(), 32u) << put->etag;

  Result<backup::GetObjectResult> got = owner.GetObject("packs/0001 $a+b.pack");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->body, body);
  EXPECT_EQ(got->info.version_id, put->version_id);

  Result<std::optional<backup::S3ObjectInfo>> head = owner.HeadObject("packs/0001 $a+b.pack");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  ASSERT_TRUE(head->has_value());
  EXPECT_EQ((*head)->size, static_cast<int64_t>(body.size()));
  EXPECT_EQ((*head)->etag, put->etag);
  EXPECT_EQ((*head)->version_id, put->version_id);
  EXPECT_EQ((*head)->lock_mode, LockMode::kCompliance);
  EXPECT_EQ((*head)->retain_until, until);

  // Absent objects.
  Result<std::optional<backup::S3ObjectInfo>> none = owner.HeadObject("packs/absent");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  Result<backup::GetObjectResult> missing = owner.GetObject("packs/absent");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("NoSuchKey"), std::string::npos)
      << missing.status().message();

  // A wrong Content-MD5 is refused (400 BadDigest) and nothing is stored.
  backup::PutObjectOptions bad_md5;
  bad_md5.content_md5 = "AAAAAAAAAAAAAAAAAAAAAA==";
  Result<backup::PutObjectResult> bad = owner.PutObject("packs/bad", "payload", bad_md5);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("BadDigest"), std::string::npos) << bad.status().message();
  Result<std::optional<backup::S3ObjectInfo>> bad_head = owner.HeadObject("packs/bad");
  ASSERT_TRUE(bad_head.ok());
  EXPECT_FALSE(bad_head->has_value());
}

TEST_F(S3ClientTest, ListsObjectsAndVersionsAcrossPages) {
  CreateLockedBucket();
  S3Client owner = Rgw::Get().Client("owner", bucket_);
  std::vector<std::string> keys;
  for (int i = 0; i < 7; ++i) keys.push_back("packs/p" + std::to_string(i));
  for (const std::string& key : keys) {
    ASSERT_TRUE(owner.PutObject(key, "body of " + key).ok());
  }
  ASSERT_TRUE(owner.PutObject("manifests/m0", "manifest").ok());
  ASSERT_TRUE(owner.PutObject("packs/p3", "second version of packs/p3").ok());

  Result<std::vector<backup::ListedObject>> listed = owner.ListObjects("packs/", /*page_size=*/3);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ((*listed)[i].key, keys[i]);
    EXPECT_EQ((*listed)[i].etag.size(), 32u);
  }
  EXPECT_EQ((*listed)[3].size,
            static_cast<int64_t>(std::string("second version of packs/p3").size()));
  EXPECT_EQ((*listed)[0].size, static_cast<int64_t>(std::string("body of packs/p0").size()));

  Result<std::vector<backup::ListedObject>> all = owner.ListObjects("", 2);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), keys.size() + 1);

  Result<std::vector<backup::ObjectVersion>> versions = owner.ListObjectVersions("packs/", 2);
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  EXPECT_EQ(versions->size(), keys.size() + 1);
  int p3_versions = 0;
  int latest = 0;
  for (const auto& v : *versions) {
    EXPECT_FALSE(v.version_id.empty());
    EXPECT_FALSE(v.is_delete_marker);
    if (v.key == "packs/p3") ++p3_versions;
    if (v.is_latest) ++latest;
  }
  EXPECT_EQ(p3_versions, 2);
  EXPECT_EQ(latest, static_cast<int>(keys.size()));
}

TEST_F(S3ClientTest, ServerCredentialCannotDeleteOrWeakenLockedVersions) {
  CreateLockedBucket();
  S3Client owner = Rgw::Get().Client("owner", bucket_);
  // The server's writes are retained by the bucket's default rule.
  Status default_rule = owner.PutObjectLockConfiguration(LockMode::kCompliance, 1);
  ASSERT_TRUE(default_rule.ok()) << default_rule.ToString();
  Status policy = owner.PutBucketPolicy(ServerPolicy(bucket_));
  ASSERT_TRUE(policy.ok()) << policy.ToString();

  S3Client server = Rgw::Get().Client("server", bucket_);
  const int64_t until = Now() + 3600;
  backup::PutObjectOptions locked;
  locked.lock_mode = LockMode::kCompliance;
  locked.retain_until = until;
  Result<backup::PutObjectResult> first = server.PutObject("packs/a", "version one", locked);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<backup::GetObjectResult> read = server.GetObject("packs/a");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->body, "version one");
  Result<std::vector<backup::ListedObject>> listed = server.ListObjects("packs/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  Result<std::optional<backup::S3ObjectInfo>> head = server.HeadObject("packs/a");
  ASSERT_TRUE(head.ok() && head->has_value()) << head.status().ToString();
  EXPECT_EQ((*head)->lock_mode, LockMode::kCompliance);
  EXPECT_EQ((*head)->retain_until, until);

  // Deleting the locked version: refused, with and without bypass.
  backup::DeleteObjectOptions version;
  version.version_id = first->version_id;
  EXPECT_EQ(server.DeleteObject("packs/a", version).status().code(), Code::kPermissionDenied);
  version.bypass_governance = true;
  EXPECT_EQ(server.DeleteObject("packs/a", version).status().code(), Code::kPermissionDenied);
  // Shortening the retention, or weakening it to GOVERNANCE: refused.
  EXPECT_EQ(
      server.PutObjectRetention("packs/a", first->version_id, LockMode::kCompliance, Now() + 60)
          .code(),
      Code::kPermissionDenied);
  EXPECT_EQ(
      server.PutObjectRetention("packs/a", first->version_id, LockMode::kGovernance, until).code(),
      Code::kPermissionDenied);
  // Versioning, policy and lock configuration stay as the owner set them.
  EXPECT_EQ(server.PutBucketVersioning(false).code(), Code::kPermissionDenied);
  EXPECT_EQ(server.PutBucketPolicy(R"({"Version":"2012-10-17","Statement":[]})").code(),
            Code::kPermissionDenied);
  EXPECT_EQ(server.PutObjectLockConfiguration(LockMode::kNone, 0).code(), Code::kPermissionDenied);
  // Even a plain delete (a delete marker) is not the server's to make.
  Result<backup::DeleteObjectResult> plain = server.DeleteObject("packs/a");
  EXPECT_EQ(plain.status().code(), Code::kPermissionDenied);
  EXPECT_NE(plain.status().message().find("AccessDenied"), std::string::npos)
      << plain.status().message();

  // An overwrite makes a new version; the locked one stays readable by its id.
  Result<backup::PutObjectResult> second = server.PutObject("packs/a", "version two");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(second->version_id, first->version_id);
  Result<backup::GetObjectResult> latest = server.GetObject("packs/a");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->body, "version two");
  Result<backup::GetObjectResult> original = server.GetObject("packs/a", first->version_id);
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  EXPECT_EQ(original->body, "version one");
  // The overwrite itself is retained by the bucket's default rule.
  Result<std::optional<backup::S3ObjectInfo>> second_head =
      server.HeadObject("packs/a", second->version_id);
  ASSERT_TRUE(second_head.ok() && second_head->has_value());
  EXPECT_EQ((*second_head)->lock_mode, LockMode::kCompliance);
  EXPECT_GT((*second_head)->retain_until, Now() + 3600);
}

TEST_F(S3ClientTest, ObjectLockHoldsAgainstTheBucketOwner) {
  CreateLockedBucket();
  S3Client owner = Rgw::Get().Client("owner", bucket_);
  const int64_t until = Now() + 3600;
  backup::PutObjectOptions locked;
  locked.lock_mode = LockMode::kCompliance;
  locked.retain_until = until;
  Result<backup::PutObjectResult> put = owner.PutObject("packs/b", "locked bytes", locked);
  ASSERT_TRUE(put.ok()) << put.status().ToString();

  // Not even the owner may delete the version or shorten its retention.
  backup::DeleteObjectOptions version;
  version.version_id = put->version_id;
  version.bypass_governance = true;
  Result<backup::DeleteObjectResult> refused = owner.DeleteObject("packs/b", version);
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(owner.PutObjectRetention("packs/b", put->version_id, LockMode::kCompliance, Now() + 60)
                .code(),
            Code::kPermissionDenied);
  // Extending it is allowed.
  ASSERT_TRUE(
      owner.PutObjectRetention("packs/b", put->version_id, LockMode::kCompliance, until + 60).ok());
  Result<std::optional<backup::S3ObjectInfo>> head = owner.HeadObject("packs/b", put->version_id);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->retain_until, until + 60);
  // Versioning cannot be suspended on an Object Lock bucket.
  EXPECT_EQ(owner.PutBucketVersioning(false).code(), Code::kFailedPrecondition);

  // A plain delete only adds a delete marker: the latest is gone, the version is not.
  Result<backup::DeleteObjectResult> marker = owner.DeleteObject("packs/b");
  ASSERT_TRUE(marker.ok()) << marker.status().ToString();
  EXPECT_TRUE(marker->delete_marker);
  EXPECT_FALSE(marker->version_id.empty());
  EXPECT_EQ(owner.GetObject("packs/b").status().code(), Code::kNotFound);
  Result<backup::GetObjectResult> still = owner.GetObject("packs/b", put->version_id);
  ASSERT_TRUE(still.ok()) << still.status().ToString();
  EXPECT_EQ(still->body, "locked bytes");
  Result<std::vector<backup::ObjectVersion>> versions = owner.ListObjectVersions("packs/b");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  int markers = 0;
  for (const auto& v : *versions) markers += v.is_delete_marker ? 1 : 0;
  EXPECT_EQ(markers, 1);
}

TEST_F(S3ClientTest, PruneDeletesAVersionOnceItsRetentionExpired) {
  CreateLockedBucket();
  S3Client owner = Rgw::Get().Client("owner", bucket_);
  ASSERT_TRUE(owner.PutBucketPolicy(ServerPolicy(bucket_)).ok());
  backup::PutObjectOptions locked;
  locked.lock_mode = LockMode::kCompliance;
  locked.retain_until = Now() + 3;
  Result<backup::PutObjectResult> put = owner.PutObject("packs/old", "expiring", locked);
  ASSERT_TRUE(put.ok()) << put.status().ToString();

  S3Client prune = Rgw::Get().Client("prune", bucket_);
  backup::DeleteObjectOptions version;
  version.version_id = put->version_id;
  // Still retained: refused.
  EXPECT_EQ(prune.DeleteObject("packs/old", version).status().code(), Code::kPermissionDenied);
  // Once the date has passed, the same request succeeds.
  Status last;
  EXPECT_TRUE(WaitUntil(
      [&] {
        Result<backup::DeleteObjectResult> deleted = prune.DeleteObject("packs/old", version);
        last = deleted.status();
        return deleted.ok();
      },
      15000))
      << last.ToString();
  Result<std::optional<backup::S3ObjectInfo>> head = owner.HeadObject("packs/old", put->version_id);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_FALSE(head->has_value());
  // The prune credential reads nothing.
  ASSERT_TRUE(owner.PutObject("packs/new", "fresh").ok());
  EXPECT_EQ(prune.GetObject("packs/new").status().code(), Code::kPermissionDenied);
}

TEST_F(S3ClientTest, WrongSecretIsPermissionDeniedAndNotInTheMessage) {
  CreateLockedBucket();
  const std::string wrong = "wrong0secret0zzzzzzzzzzzzzzzzzzzzzzzzzzzz";
  S3ClientConfig config = Rgw::Get().Config("server", bucket_);
  config.secret_key = crypto::SecretKey::FromBytes(AsBytes(wrong));
  S3Client client(std::move(config));
  Result<backup::PutObjectResult> put = client.PutObject("packs/x", "bytes");
  EXPECT_EQ(put.status().code(), Code::kPermissionDenied);
  const std::string& message = put.status().message();
  EXPECT_NE(message.find("SignatureDoesNotMatch"), std::string::npos) << message;
  EXPECT_EQ(message.find(wrong), std::string::npos);
  EXPECT_EQ(message.find(Rgw::Get().Value("server_secret_key")), std::string::npos);
  EXPECT_EQ(message.find(Rgw::Get().Value("server_access_key")), std::string::npos);

  // An unknown access key is refused too.
  S3ClientConfig unknown = Rgw::Get().Config("server", bucket_);
  unknown.access_key_id = "HYGIEUNKNOWNKEY00000";
  EXPECT_EQ(S3Client(std::move(unknown)).GetObject("packs/x").status().code(),
            Code::kPermissionDenied);
}

TEST_F(S3ClientTest, RequestsSignedWithASkewedClockAreRefused) {
  CreateLockedBucket();
  FakeClock late((Now() - 20 * 60) * int64_t{1000000});
  S3Client client = Rgw::Get().Client("owner", bucket_, late);
  Result<backup::PutObjectResult> put = client.PutObject("packs/late", "bytes");
  EXPECT_EQ(put.status().code(), Code::kPermissionDenied);
  EXPECT_NE(put.status().message().find("RequestTimeTooSkewed"), std::string::npos)
      << put.status().message();
}

TEST_F(S3ClientTest, UnreachableEndpointIsUnavailable) {
  S3ClientConfig config = Rgw::Get().Config("owner", bucket_);
  config.endpoint = "http://127.0.0.1:" + std::to_string(FreePort());
  config.timeout_ms = 3000;
  EXPECT_EQ(S3Client(std::move(config)).GetObject("k").status().code(), Code::kUnavailable);
  // Plain http is for loopback only.
  S3ClientConfig remote = Rgw::Get().Config("owner", bucket_);
  remote.endpoint = "http://s3.example.test";
  EXPECT_EQ(S3Client(std::move(remote)).GetObject("k").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hygie::e2e
