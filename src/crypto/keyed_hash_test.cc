#include "crypto/keyed_hash.h"

#include <gtest/gtest.h>

#include <string>

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

TEST(KeyedHasherTest, DependsOnKeyAndData) {
  KeyedHasher a(KeyOf(1));
  KeyedHasher b(KeyOf(2));
  EXPECT_NE(a.Hash64("x"), b.Hash64("x"));
  EXPECT_NE(a.Hash64("x"), a.Hash64("y"));
  EXPECT_NE(a.Hash64(""), a.Hash64(std::string(1, '\0')));
}

}  // namespace
}  // namespace hygie::crypto
