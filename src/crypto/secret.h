#pragma once
// SecretKey: key material that cannot be copied, printed or logged, and is wiped
// (OPENSSL_cleanse) when released. Movable; a moved-from key is empty. Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::crypto {

class SecretKey {
 public:
  SecretKey() = default;
  ~SecretKey();
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;

  // Fresh random key of n bytes from the OpenSSL CSPRNG.
  static Result<SecretKey> Generate(size_t n = 32);
  // Copies the bytes in; the caller wipes its own copy.
  static SecretKey FromBytes(ByteView bytes);

  ByteView bytes() const { return {data_.data(), data_.size()}; }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

 private:
  void Wipe();
  std::vector<uint8_t> data_;
};

// Wipes a buffer that held secret bytes.
void Wipe(std::span<uint8_t> buffer);

}  // namespace hygie::crypto
