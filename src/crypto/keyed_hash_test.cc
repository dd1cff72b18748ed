#include "crypto/keyed_hash.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "crypto/primitives.h"

namespace hygie::crypto {
namespace {

SecretKey KeyOf(uint8_t fill) {
  Bytes b(32, fill);
  return SecretKey::FromBytes(b);
}

TEST(KeyedHasherTest, IsTheTruncatedHmac) {
  SecretKey key = KeyOf(7);
  KeyedHasher hasher(key);
  std::string data = "Patient\x1fname\x1fp\x1fmar";
  Bytes mac = HmacSha256(key, ByteView(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  uint64_t want = 0;
  for (int i = 0; i < 8; ++i) want = (want << 8) | mac[i];
  EXPECT_EQ(hasher.Hash64(data), want);
  EXPECT_EQ(hasher.Hash64(data), hasher.Hash64(data));  // the keyed state is not consumed
}

TEST(KeyedHasherTest, ThreadsAndAlternatingHashersAgree) {
  SecretKey k1 = KeyOf(1);
  SecretKey k2 = KeyOf(2);
  KeyedHasher a(k1);
  KeyedHasher b(k2);
  auto want = [](const SecretKey& key, const std::string& data) {
    Bytes mac =
        HmacSha256(key, ByteView(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    uint64_t h = 0;
    for (int i = 0; i < 8; ++i) h = (h << 8) | mac[i];
    return h;
  };
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string data = std::to_string(t) + ":" + std::to_string(i);
        if (a.Hash64(data) != want(k1, data)) bad++;
        if (b.Hash64(data) != want(k2, data)) bad++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(KeyedHasherTest, DependsOnKeyAndData) {
  KeyedHasher a(KeyOf(1));
  KeyedHasher b(KeyOf(2));
  EXPECT_NE(a.Hash64("x"), b.Hash64("x"));
  EXPECT_NE(a.Hash64("x"), a.Hash64("y"));
  EXPECT_NE(a.Hash64(""), a.Hash64(std::string(1, '\0')));
}

}  // namespace
}  // namespace hygie::crypto
