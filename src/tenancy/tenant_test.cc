#include "tenancy/tenant.h"

#include <gtest/gtest.h>

namespace hygie::tenancy {
namespace {

TEST(TenantNameTest, AcceptsAndRefuses) {
  EXPECT_TRUE(IsValidTenantName("acme"));
  EXPECT_TRUE(IsValidTenantName("clinique-du-lac-2"));
  EXPECT_TRUE(IsValidTenantName(std::string(63, 'a')));
  EXPECT_FALSE(IsValidTenantName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidTenantName("a"));
  EXPECT_FALSE(IsValidTenantName("Acme"));
  EXPECT_FALSE(IsValidTenantName("-acme"));
  EXPECT_FALSE(IsValidTenantName("acme-"));
  EXPECT_FALSE(IsValidTenantName("ac_me"));
  EXPECT_FALSE(IsValidTenantName("../etc"));
  EXPECT_FALSE(IsValidTenantName("ac me"));
  EXPECT_FALSE(IsValidTenantName(std::string_view("ac\0me", 5)));
}

}  // namespace
}  // namespace hygie::tenancy
