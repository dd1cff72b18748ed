#include "auth/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace hygie::auth {

FailureLimiter::FailureLimiter(RateLimitOptions options, const Clock& clock)
    : options_(options), clock_(clock) {
  if (!(options_.per_second > 0)) options_.per_second = 1.0;
  options_.burst = std::max(options_.burst, 1);
  options_.max_keys = std::max<size_t>(options_.max_keys, kShards);
}

FailureLimiter::Shard& FailureLimiter::ShardFor(std::string_view key) const {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

double FailureLimiter::Refilled(const Bucket& b, int64_t now_us) const {
  double elapsed = static_cast<double>(std::max<int64_t>(0, now_us - b.updated_us)) / 1e6;
  return std::min(static_cast<double>(options_.burst), b.tokens + elapsed * options_.per_second);
}

int64_t FailureLimiter::RetryAfter(std::string_view key) const {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) return 0;
  double tokens = Refilled(it->second, clock_.NowMicros());
  if (tokens >= 1.0) return 0;
  return std::max<int64_t>(1,
                           static_cast<int64_t>(std::ceil((1.0 - tokens) / options_.per_second)));
}

void FailureLimiter::RecordFailure(std::string_view key) {
  Shard& shard = ShardFor(key);
  const int64_t now = clock_.NowMicros();
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    const size_t cap = options_.max_keys / kShards;
    if (shard.buckets.size() >= cap) {
      // Drop the buckets that refilled (they equal no bucket), then the least recently failed.
      for (auto lit = shard.lru.begin(); lit != shard.lru.end();) {
        auto bit = shard.buckets.find(*lit);
        if (Refilled(bit->second, now) >= options_.burst) {
          shard.buckets.erase(bit);
          lit = shard.lru.erase(lit);
        } else {
          ++lit;
        }
      }
      while (shard.buckets.size() >= cap && !shard.lru.empty()) {
        shard.buckets.erase(shard.lru.front());
        shard.lru.pop_front();
      }
    }
    shard.lru.emplace_back(key);
    Bucket b;
    b.tokens = static_cast<double>(options_.burst) - 1.0;
    b.updated_us = now;
    b.lru = std::prev(shard.lru.end());
    shard.buckets.emplace(std::string(key), b);
    return;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now) - 1.0;
  // A client that keeps failing while refused digs no deeper than one burst of debt.
  b.tokens = std::max(b.tokens, -static_cast<double>(options_.burst));
  b.updated_us = now;
  shard.lru.splice(shard.lru.end(), shard.lru, b.lru);
}

size_t FailureLimiter::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace hygie::auth
