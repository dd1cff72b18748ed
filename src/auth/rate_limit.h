#pragma once
// FailureLimiter: limits failed authentications per key (a client's address, or the client an
// unverified token names) with token buckets. Each failure takes one token from the key's
// bucket; the bucket refills at `per_second` up to `burst`. While a key's bucket holds less than
// one token, requests under that key are refused before their token is even checked (HTTP 429
// with Retry-After), so a guessing client costs neither signature checks nor log volume.
//
// Memory is bounded: at most `max_keys` buckets are kept; a full bucket is the same as no bucket
// and is dropped first, then the least recently failed key.
//
// Thread-safety: thread-safe (sharded locks).

#include <array>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace hygie::auth {

struct RateLimitOptions {
  double per_second = 1.0;  // failures forgiven per second, per key (> 0)
  int burst = 20;           // failures allowed in a row before refusals start (>= 1)
  size_t max_keys = 100000;
};

class FailureLimiter {
 public:
  FailureLimiter(RateLimitOptions options, const Clock& clock);

  // 0 when `key` may try now; otherwise the whole seconds to wait (at least 1).
  int64_t RetryAfter(std::string_view key) const;
  // Takes one token from `key`'s bucket.
  void RecordFailure(std::string_view key);
  // Buckets currently kept (for tests and metrics).
  size_t size() const;
  const RateLimitOptions& options() const { return options_; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_us = 0;
    std::list<std::string>::iterator lru;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // GUARDED_BY(mu)
    std::list<std::string> lru;                       // GUARDED_BY(mu): oldest first
  };
  static constexpr size_t kShards = 16;
  Shard& ShardFor(std::string_view key) const;
  double Refilled(const Bucket& b, int64_t now_us) const;

  RateLimitOptions options_;
  const Clock& clock_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace hygie::auth
