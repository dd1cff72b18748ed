#pragma once
// KeyedHasher: HMAC-SHA256 under one key, truncated to 64 bits, for blind search indexes: equal
// inputs give equal hashes under the same key, and nothing about an input can be learned from
// its hash without the key. The key schedule is computed once; Hash64 only copies it.
// Thread-safe: Hash64 may be called concurrently. Not copyable (holds key material).

#include <cstdint>
#include <memory>
#include <string_view>

#include "crypto/secret.h"

namespace hygie::crypto {

class KeyedHasher {
 public:
  // key must not be empty.
  explicit KeyedHasher(const SecretKey& key);
  ~KeyedHasher();
  KeyedHasher(const KeyedHasher&) = delete;
  KeyedHasher& operator=(const KeyedHasher&) = delete;

  // The first 8 bytes of HMAC-SHA256(key, data), big-endian.
  uint64_t Hash64(std::string_view data) const;
  // The whole HMAC-SHA256(key, data) into out[0..32).
  void Hash256(std::string_view data, uint8_t* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hygie::crypto
