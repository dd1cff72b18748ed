#include "auth/rate_limit.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace hygie::auth {
namespace {

constexpr int64_t kSecond = 1000000;

TEST(FailureLimiterTest, RefusesAfterTheBurstAndForgivesAtTheRate) {
  FakeClock clock(1000 * kSecond);
  FailureLimiter limiter({.per_second = 0.5, .burst = 3, .max_keys = 1000}, clock);
  EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 0) << i;
    limiter.RecordFailure("10.0.0.1");
  }
  // Three failures at 0.5/s: one token comes back after 2 s.
  EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 2);
  EXPECT_EQ(limiter.RetryAfter("10.0.0.2"), 0) << "another key is not affected";
  clock.Advance(kSecond);
  EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 1);
  clock.Advance(kSecond);
  EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 0);
  limiter.RecordFailure("10.0.0.1");
  EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 2);
  // After burst / rate seconds the bucket is full again: a whole burst is allowed.
  clock.Advance(6 * kSecond);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.RetryAfter("10.0.0.1"), 0) << i;
    limiter.RecordFailure("10.0.0.1");
  }
  EXPECT_GT(limiter.RetryAfter("10.0.0.1"), 0);
}

TEST(FailureLimiterTest, DebtIsBounded) {
  FakeClock clock(1000 * kSecond);
  FailureLimiter limiter({.per_second = 1, .burst = 2, .max_keys = 1000}, clock);
  for (int i = 0; i < 1000; ++i) limiter.RecordFailure("k");
  // At most one burst of debt: 2 tokens owed + 1 needed = 3 s.
  EXPECT_EQ(limiter.RetryAfter("k"), 3);
}

TEST(FailureLimiterTest, MemoryIsBounded) {
  FakeClock clock(1000 * kSecond);
  FailureLimiter limiter({.per_second = 1, .burst = 1, .max_keys = 160}, clock);
  limiter.RecordFailure("attacker");
  ASSERT_GT(limiter.RetryAfter("attacker"), 0);
  clock.Advance(10 * kSecond);
  for (int i = 0; i < 5000; ++i) limiter.RecordFailure("k" + std::to_string(i));
  EXPECT_LE(limiter.size(), 160u);
  EXPECT_GT(limiter.RetryAfter("k4999"), 0) << "the newest key is kept";
}

TEST(FailureLimiterTest, ConcurrentFailuresAreAllCounted) {
  FakeClock clock(1000 * kSecond);
  FailureLimiter limiter({.per_second = 0.001, .burst = 4000, .max_keys = 1000}, clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) limiter.RecordFailure("shared");
    });
  }
  for (auto& t : threads) t.join();
  // 4000 failures took the whole burst: about 1/0.001 s to wait for one token.
  EXPECT_GE(limiter.RetryAfter("shared"), 999);
}

TEST(FailureLimiterTest, BadOptionsAreClampedToSafeValues) {
  FakeClock clock(1000 * kSecond);
  FailureLimiter limiter({.per_second = 0, .burst = 0, .max_keys = 0}, clock);
  EXPECT_GT(limiter.options().per_second, 0);
  EXPECT_EQ(limiter.options().burst, 1);
  limiter.RecordFailure("x");
  EXPECT_GT(limiter.RetryAfter("x"), 0);
}

}  // namespace
}  // namespace hygie::auth
