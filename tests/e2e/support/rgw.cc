#include "support/rgw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/bytes.h"
#include "crypto/secret.h"

namespace hygie::e2e {

namespace {

const std::string kRgwScript = std::string(HYGIE_SOURCE_DIR) + "/tests/s3/rgw.sh";

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

bool Rgw::Pause() {
  return RunProgram({"bash", kRgwScript, "stop", dir_.path()}, {}, 120).exit_code == 0;
}

bool Rgw::Resume() {
  return RunProgram({"bash", kRgwScript, "start", dir_.path(), std::to_string(port_)}, {}, 180)
             .exit_code == 0;
}

Rgw& Rgw::Get() {
  static Rgw* rgw = new Rgw();
  return *rgw;
}

backup::S3Client Rgw::Client(const std::string& user, const std::string& bucket,
                             const Clock& clock) const {
  return backup::S3Client(Config(user, bucket), clock);
}

backup::S3ClientConfig Rgw::Config(const std::string& user, const std::string& bucket) const {
  backup::S3ClientConfig config;
  config.endpoint = endpoint_;
  config.bucket = bucket;
  config.access_key_id = Value(user + "_access_key");
  config.secret_key = crypto::SecretKey::FromBytes(AsBytes(Value(user + "_secret_key")));
  config.timeout_ms = 20000;
  return config;
}

void Rgw::Stop() {
  if (!started_) return;
  // At exit: no gtest assertions here, the daemons are stopped and their data removed.
  CommandResult stop = RunProgram({"bash", kRgwScript, "stop", dir_.path()}, {}, 120);
  if (stop.exit_code != 0) std::fprintf(stderr, "rgw.sh stop failed: %s\n", stop.err.c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir_.path(), ec);
  started_ = false;
}

Rgw::Rgw() {
  port_ = FreePort();
  const auto t0 = std::chrono::steady_clock::now();
  CommandResult start =
      RunProgram({"bash", kRgwScript, "start", dir_.path(), std::to_string(port_)}, {}, 180);
  start_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  started_ = true;
  std::atexit([] { Rgw::Get().Stop(); });
  if (start.exit_code != 0) {
    error_ =
        "rgw.sh start failed (" + std::to_string(start.exit_code) + "): " + start.err + start.out;
    return;
  }
  std::istringstream lines(ReadWholeFile(dir_.Path("credentials")));
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) values_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (!values_.contains("endpoint") || !values_.contains("server_secret_key")) {
    error_ = "no credentials in " + dir_.Path("credentials");
    return;
  }
  endpoint_ = values_["endpoint"];
  // Ready means every user's signed requests are answered (a gateway that just started may not
  // know a user yet): a bucket that does not exist is NoSuchBucket (404) for each of them.
  std::string last;
  bool users_known = WaitUntil(
      [&] {
        for (const char* user : {"owner", "server", "prune"}) {
          backup::S3Client probe(Config(user, "hygie-readiness-probe"));
          auto listed = probe.ListObjects("");
          if (listed.status().code() != Code::kNotFound) {
            last = std::string(user) + ": " + listed.status().ToString();
            return false;
          }
        }
        return true;
      },
      60000);
  if (!users_known) {
    error_ = "the gateway does not know its users yet: " + last;
    return;
  }
  ok_ = true;
}

std::string ServerPolicy(const std::string& bucket) {
  const std::string resources =
      "[\"arn:aws:s3:::" + bucket + "\",\"arn:aws:s3:::" + bucket + "/*\"]";
  return R"({"Version":"2012-10-17","Statement":[)"
         R"({"Sid":"ServerWritesAndReads","Effect":"Allow",)"
         R"("Principal":{"AWS":["arn:aws:iam:::user/server"]},)"
         R"("Action":["s3:PutObject","s3:GetObject","s3:GetObjectVersion","s3:ListBucket",)"
         R"("s3:ListBucketVersions","s3:GetObjectRetention",)"
         R"("s3:GetBucketObjectLockConfiguration"],"Resource":)" +
         resources +
         R"(},{"Sid":"ServerNeverDeletesNorWeakens","Effect":"Deny",)"
         R"("Principal":{"AWS":["arn:aws:iam:::user/server"]},)"
         R"("Action":["s3:DeleteObject","s3:DeleteObjectVersion","s3:PutObjectRetention",)"
         R"("s3:BypassGovernanceRetention","s3:PutBucketVersioning","s3:PutBucketPolicy",)"
         R"("s3:DeleteBucketPolicy","s3:PutBucketObjectLockConfiguration",)"
         R"("s3:PutLifecycleConfiguration","s3:PutBucketAcl","s3:PutObjectAcl",)"
         R"("s3:DeleteBucket"],"Resource":)" +
         resources +
         R"(},{"Sid":"PruneDeletesVersions","Effect":"Allow",)"
         R"("Principal":{"AWS":["arn:aws:iam:::user/prune"]},)"
         R"("Action":["s3:ListBucket","s3:ListBucketVersions","s3:GetObjectRetention",)"
         R"("s3:DeleteObjectVersion"],"Resource":)" +
         resources + "}]}";
}

}  // namespace hygie::e2e
