#include "crypto/keyed_hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace hygie::crypto {
namespace {

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "hygie: fatal OpenSSL failure in %s\n", what);
  std::abort();
}

struct MacDeleter {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

}  // namespace

struct KeyedHasher::Impl {
  std::unique_ptr<EVP_MAC, MacDeleter> mac;
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> keyed;  // initialized with the key; never updated
  uint64_t serial = 0;  // tells this hasher's per-thread contexts from another's
};

namespace {
std::atomic<uint64_t> next_serial{1};

// Each thread keeps one keyed context, copied from the hasher it last served and re-initialized
// (same key) for each hash: no allocation per hash. It is freed with the thread, or replaced
// when the thread hashes for another hasher.
struct ThreadContext {
  uint64_t serial = 0;
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx;
};
thread_local ThreadContext thread_context;
}  // namespace

KeyedHasher::KeyedHasher(const SecretKey& key) : impl_(std::make_unique<Impl>()) {
  impl_->serial = next_serial.fetch_add(1);
  if (key.empty()) Fatal("KeyedHasher: empty key");
  impl_->mac.reset(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!impl_->mac) Fatal("EVP_MAC_fetch(HMAC)");
  impl_->keyed.reset(EVP_MAC_CTX_new(impl_->mac.get()));
  if (!impl_->keyed) Fatal("EVP_MAC_CTX_new");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(impl_->keyed.get(), key.bytes().data(), key.size(), params) != 1) {
    Fatal("EVP_MAC_init");
  }
}

KeyedHasher::~KeyedHasher() = default;

void KeyedHasher::Hash256(std::string_view data, uint8_t* out) const {
  ThreadContext& tc = thread_context;
  if (tc.serial != impl_->serial || !tc.ctx) {
    tc.ctx.reset(EVP_MAC_CTX_dup(impl_->keyed.get()));
    if (!tc.ctx) Fatal("EVP_MAC_CTX_dup");
    tc.serial = impl_->serial;
  } else if (EVP_MAC_init(tc.ctx.get(), nullptr, 0, nullptr) != 1) {  // same key, fresh state
    Fatal("EVP_MAC_init");
  }
  EVP_MAC_CTX* ctx = tc.ctx.get();
  if (EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    Fatal("EVP_MAC_update");
  }
  size_t len = 0;
  if (EVP_MAC_final(ctx, out, &len, 32) != 1 || len != 32) Fatal("EVP_MAC_final");
}

uint64_t KeyedHasher::Hash64(std::string_view data) const {
  uint8_t out[32];
  Hash256(data, out);
  uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h = (h << 8) | out[i];
  return h;
}

}  // namespace hygie::crypto
