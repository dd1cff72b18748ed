#include "crypto/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <climits>
#include <utility>

namespace hygie::crypto {

void Wipe(std::span<uint8_t> buffer) {
  if (!buffer.empty()) OPENSSL_cleanse(buffer.data(), buffer.size());
}

SecretKey::~SecretKey() { Wipe(); }

SecretKey::SecretKey(SecretKey&& other) noexcept : data_(std::move(other.data_)) {
  // A moved-from vector is empty in practice; make it a guarantee.
  other.Wipe();
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.Wipe();
  }
  return *this;
}

Result<SecretKey> SecretKey::Generate(size_t n) {
  if (n == 0 || n > static_cast<size_t>(INT_MAX)) {
    return InvalidArgument("secret key size must be between 1 and INT_MAX bytes");
  }
  SecretKey key;
  key.data_.resize(n);
  if (RAND_bytes(key.data_.data(), static_cast<int>(n)) != 1) {
    return Unavailable("the OpenSSL random generator failed");
  }
  return key;
}

SecretKey SecretKey::FromBytes(ByteView bytes) {
  SecretKey key;
  key.data_.assign(bytes.begin(), bytes.end());
  return key;
}

void SecretKey::Wipe() {
  crypto::Wipe(std::span<uint8_t>(data_.data(), data_.size()));
  data_.clear();
  data_.shrink_to_fit();
}

}  // namespace hygie::crypto
