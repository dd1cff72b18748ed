#include "tenancy/retention.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace hygie::tenancy
