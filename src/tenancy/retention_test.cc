#include "tenancy/retention.h"

#include <gtest/gtest.h>

#include "core/fault_env.h"
#include "core/temp_dir.h"

namespace hygie::tenancy {
namespace {

TEST(RetentionTest, DefaultRangeAndPersistence) {
  test_support::TempDir dir;
  auto days = AuditRetentionDays(dir.path(), "acme");
  ASSERT_TRUE(days.ok());
  EXPECT_EQ(*days, 365);
  EXPECT_EQ(SetAuditRetentionDays(dir.path(), "acme", 182).code(), Code::kInvalidArgument);
  EXPECT_EQ(SetAuditRetentionDays(dir.path(), "acme", 1097).code(), Code::kInvalidArgument);
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "acme"), 365);
  ASSERT_TRUE(SetAuditRetentionDays(dir.path(), "acme", 183).ok());
  ASSERT_TRUE(SetAuditRetentionDays(dir.path(), "beta", 1096).ok());
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "acme"), 183);
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "beta"), 1096);
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "_system"), 365);
  ASSERT_TRUE(SetAuditRetentionDays(dir.path(), "acme", 730).ok());
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "acme"), 730);
}

// A crash at any point of a save leaves the previous settings or the new ones, never a damaged
// file.
TEST(RetentionTest, CrashDuringSaveKeepsOldOrNewSettings) {
  bool saw_old = false, saw_new = false;
  for (uint64_t k = 0; k <= 8; ++k) {
    SCOPED_TRACE("crash after call " + std::to_string(k));
    test_support::TempDir dir;
    ASSERT_TRUE(SetAuditRetentionDays(dir.path(), "acme", 200).ok());
    FaultInjectionEnv env;
    FaultInjectionEnv::FaultSpec crash;
    crash.skip = k;
    crash.count = FaultInjectionEnv::kForever;
    env.FailCalls(crash);
    Status s = SetAuditRetentionDays(dir.path(), "acme", 400, env);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), Code::kUnavailable);
    }
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    auto days = AuditRetentionDays(dir.path(), "acme");
    ASSERT_TRUE(days.ok()) << days.status().ToString();
    EXPECT_TRUE(*days == 200 || *days == 400) << *days;
    if (s.ok()) {
      EXPECT_EQ(*days, 400);
    }
    saw_old = saw_old || *days == 200;
    saw_new = saw_new || *days == 400;
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

// A settings file that cannot be read is not taken for "no settings": the save refuses and the
// other tenants' settings stay.
TEST(RetentionTest, AnUnreadableFileIsNotOverwritten) {
  test_support::TempDir dir;
  ASSERT_TRUE(SetAuditRetentionDays(dir.path(), "acme", 200).ok());
  ASSERT_TRUE(SetAuditRetentionDays(dir.path(), "globex", 300).ok());
  FaultInjectionEnv env;
  FaultInjectionEnv::FaultSpec reads;
  reads.count = FaultInjectionEnv::kForever;
  reads.reads_too = true;
  reads.code = Code::kUnavailable;
  env.FailCalls(reads);
  Status s = SetAuditRetentionDays(dir.path(), "acme", 400, env);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("cannot read"), std::string::npos) << s.ToString();
  EXPECT_EQ(env.counters().mutating(), 0u) << "no write was even tried";
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "acme"), 200);
  EXPECT_EQ(*AuditRetentionDays(dir.path(), "globex"), 300);
}

}  // namespace
}  // namespace hygie::tenancy
