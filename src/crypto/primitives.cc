#include "crypto/primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace hygie::crypto {
namespace {

constexpr size_t kAes256KeySize = 32;
constexpr size_t kSha256Size = 32;
// Largest chunk handed to one OpenSSL call that takes an int length.
constexpr size_t kMaxChunk = size_t{1} << 30;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

// OpenSSL wants a non-null pointer even for empty buffers in a few places.
const uint8_t kEmpty[1] = {0};
const uint8_t* DataOrEmpty(ByteView v) { return v.empty() ? kEmpty : v.data(); }

// For failures that cannot happen short of a broken OpenSSL installation, in functions whose
// signature has no error channel. Failing closed beats returning a wrong hash or id.
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "hygie: fatal OpenSSL failure in %s\n", what);
  std::abort();
}

void WipeString(std::string& s) {
  Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

bool IsStdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}
bool IsUrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Decodes `text`, which holds only standard-alphabet characters with its length a multiple
// of 4 ('=' padding already replaced by 'A', which decodes to zero bits), then drops the
// `pad` trailing bytes that the padding produced.
Result<Bytes> DecodeBlocks(std::string_view text, size_t pad) {
  Bytes out(text.size() / 4 * 3);
  size_t in_pos = 0;
  size_t out_pos = 0;
  while (in_pos < text.size()) {
    size_t n = std::min(text.size() - in_pos, kMaxChunk);  // kMaxChunk is a multiple of 4
    int got = EVP_DecodeBlock(out.data() + out_pos,
                              reinterpret_cast<const unsigned char*>(text.data() + in_pos),
                              static_cast<int>(n));
    if (got < 0 || static_cast<size_t>(got) != n / 4 * 3) {
      ERR_clear_error();
      Wipe(out);
      return InvalidArgument("invalid base64");
    }
    in_pos += n;
    out_pos += static_cast<size_t>(got);
  }
  out.resize(out.size() - pad);
  return out;
}

}  // namespace

Result<Bytes> RandomBytes(size_t n) {
  Bytes out(n);
  size_t pos = 0;
  while (pos < n) {
    size_t chunk = std::min(n - pos, kMaxChunk);
    if (RAND_bytes(out.data() + pos, static_cast<int>(chunk)) != 1) {
      ERR_clear_error();
      return Unavailable("the OpenSSL random generator failed");
    }
    pos += chunk;
  }
  return out;
}

namespace {

// Appends the bytes as base32 digits of `alphabet` (5 bits each, the last one zero-padded).
void AppendBase32(const uint8_t* raw, size_t n, const char* alphabet, std::string* out) {
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    buffer = (buffer << 8) | raw[i];
    bits += 8;
    while (bits >= 5) {
      out->push_back(alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out->push_back(alphabet[(buffer << (5 - bits)) & 31]);
}

}  // namespace

std::string RandomId() {
  std::array<uint8_t, 16> raw;
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) Fatal("RAND_bytes");
  std::string id;
  id.reserve(26);
  AppendBase32(raw.data(), raw.size(), "abcdefghijklmnopqrstuvwxyz234567", &id);
  return id;
}

std::string TimeOrderedId(int64_t micros) {
  // Ascending in ASCII, so that ids sort by time as bytes.
  static constexpr char kOrdered[] = "234567abcdefghijklmnopqrstuvwxyz";
  uint64_t ms = micros < 0 ? 0 : static_cast<uint64_t>(micros / 1000);
  std::string id;
  id.reserve(26);
  for (int shift = 45; shift >= 0; shift -= 5) id.push_back(kOrdered[(ms >> shift) & 31]);
  std::array<uint8_t, 10> raw;  // 80 bits: 16 digits exactly
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) Fatal("RAND_bytes");
  AppendBase32(raw.data(), raw.size(), kOrdered, &id);
  return id;
}

Bytes Sha256(ByteView data) {
  Bytes out(kSha256Size);
  unsigned int len = 0;
  if (EVP_Digest(DataOrEmpty(data), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != kSha256Size) {
    Fatal("EVP_Digest");
  }
  return out;
}

void Sha256Concat(ByteView a, ByteView b, ByteView c, uint8_t* out) {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) Fatal("EVP_MD_fetch(SHA256)");
    return m;
  }();
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), DataOrEmpty(a), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), DataOrEmpty(b), b.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), DataOrEmpty(c), c.size()) != 1) {
    Fatal("SHA-256");
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &len) != 1 || len != kSha256Size) Fatal("SHA-256");
}

Bytes HmacSha256(const SecretKey& key, ByteView data) {
  if (key.size() > static_cast<size_t>(INT_MAX)) Fatal("HMAC key size");
  Bytes out(kSha256Size);
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), DataOrEmpty(key.bytes()), static_cast<int>(key.size()), DataOrEmpty(data),
           data.size(), out.data(), &len) == nullptr ||
      len != kSha256Size) {
    Fatal("HMAC");
  }
  return out;
}

Result<SecretKey> Hkdf(const SecretKey& ikm, ByteView salt, ByteView info, size_t length) {
  if (length == 0 || length > 255 * kSha256Size) {
    return InvalidArgument("HKDF-SHA256 output length must be between 1 and 8160 bytes");
  }
  if (ikm.empty()) return InvalidArgument("HKDF input key material is empty");
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (!kdf) {
    ERR_clear_error();
    return Internal("HKDF is not available in this OpenSSL");
  }
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Internal("EVP_KDF_CTX_new failed");

  char digest[] = "SHA256";
  std::array<OSSL_PARAM, 5> params;
  size_t i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.bytes().data()), ikm.size());
  // An absent salt is, per RFC 5869, a string of HashLen zeros; HMAC gives the same result
  // for an empty key, so leaving the parameter out is equivalent.
  if (!salt.empty()) {
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<uint8_t*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<uint8_t*>(info.data()), info.size());
  }
  params[i] = OSSL_PARAM_construct_end();

  Bytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    ERR_clear_error();
    Wipe(out);
    return Internal("HKDF derivation failed");
  }
  SecretKey key = SecretKey::FromBytes(out);
  Wipe(out);
  return key;
}

Result<Bytes> AeadSeal(const SecretKey& key, ByteView plaintext, ByteView aad) {
  if (key.size() != kAes256KeySize) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  Bytes out(kAeadNonceSize + plaintext.size() + kAeadTagSize);
  if (RAND_bytes(out.data(), static_cast<int>(kAeadNonceSize)) != 1) {
    ERR_clear_error();
    return Unavailable("the OpenSSL random generator failed");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return Internal("EVP_CIPHER_CTX_new failed");
  // The default GCM IV length is 12 bytes (kAeadNonceSize).
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes().data(), out.data()) !=
      1) {
    ERR_clear_error();
    return Internal("AES-256-GCM init failed");
  }
  int len = 0;
  for (size_t pos = 0; pos < aad.size(); pos += kMaxChunk) {
    size_t n = std::min(aad.size() - pos, kMaxChunk);
    if (EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data() + pos, static_cast<int>(n)) != 1) {
      ERR_clear_error();
      return Internal("AES-256-GCM aad failed");
    }
  }
  uint8_t* ct = out.data() + kAeadNonceSize;
  size_t written = 0;
  for (size_t pos = 0; pos < plaintext.size(); pos += kMaxChunk) {
    size_t n = std::min(plaintext.size() - pos, kMaxChunk);
    if (EVP_EncryptUpdate(ctx.get(), ct + written, &len, plaintext.data() + pos,
                          static_cast<int>(n)) != 1) {
      ERR_clear_error();
      Wipe(out);
      return Internal("AES-256-GCM encryption failed");
    }
    written += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ct + written, &len) != 1) {
    ERR_clear_error();
    Wipe(out);
    return Internal("AES-256-GCM encryption failed");
  }
  written += static_cast<size_t>(len);
  if (written != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAeadTagSize),
                          ct + written) != 1) {
    ERR_clear_error();
    Wipe(out);
    return Internal("AES-256-GCM tag failed");
  }
  return out;
}

Result<Bytes> AeadOpen(const SecretKey& key, ByteView sealed, ByteView aad) {
  if (key.size() != kAes256KeySize) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  if (sealed.size() < kAeadOverhead) return DataLoss("decryption failed: input too short");
  const uint8_t* nonce = sealed.data();
  const uint8_t* ct = sealed.data() + kAeadNonceSize;
  const size_t ct_size = sealed.size() - kAeadOverhead;
  const uint8_t* tag = ct + ct_size;

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return Internal("EVP_CIPHER_CTX_new failed");
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes().data(), nonce) != 1) {
    ERR_clear_error();
    return Internal("AES-256-GCM init failed");
  }
  int len = 0;
  for (size_t pos = 0; pos < aad.size(); pos += kMaxChunk) {
    size_t n = std::min(aad.size() - pos, kMaxChunk);
    if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data() + pos, static_cast<int>(n)) != 1) {
      ERR_clear_error();
      return Internal("AES-256-GCM aad failed");
    }
  }
  Bytes out(ct_size);
  size_t written = 0;
  for (size_t pos = 0; pos < ct_size; pos += kMaxChunk) {
    size_t n = std::min(ct_size - pos, kMaxChunk);
    if (EVP_DecryptUpdate(ctx.get(), out.data() + written, &len, ct + pos, static_cast<int>(n)) !=
        1) {
      ERR_clear_error();
      Wipe(out);
      return Internal("AES-256-GCM decryption failed");
    }
    written += static_cast<size_t>(len);
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAeadTagSize),
                          const_cast<uint8_t*>(tag)) != 1) {
    ERR_clear_error();
    Wipe(out);
    return Internal("AES-256-GCM tag setup failed");
  }
  uint8_t final_block[16];
  if (EVP_DecryptFinal_ex(ctx.get(), final_block, &len) != 1 || len != 0 || written != ct_size) {
    ERR_clear_error();
    Wipe(out);
    return DataLoss(
        "decryption failed: authentication failed (wrong key, wrong associated data or altered "
        "bytes)");
  }
  return out;
}

bool ConstantTimeEquals(ByteView a, ByteView b) {
  // The lengths are not secret; the contents are compared in constant time.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Base64Encode(ByteView data) {
  std::string out;
  out.resize((data.size() + 2) / 3 * 4 + 1);            // EVP_EncodeBlock writes a trailing NUL
  constexpr size_t kInChunk = (kMaxChunk / 4 / 3) * 3;  // multiple of 3: no padding mid-way
  size_t out_pos = 0;
  for (size_t pos = 0; pos < data.size(); pos += kInChunk) {
    size_t n = std::min(data.size() - pos, kInChunk);
    int got = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + out_pos),
                              data.data() + pos, static_cast<int>(n));
    out_pos += static_cast<size_t>(got);
  }
  out.resize(out_pos);
  return out;
}

std::string Base64UrlEncode(ByteView data) {
  std::string out = Base64Encode(data);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') {
      c = '-';
    } else if (c == '/') {
      c = '_';
    }
  }
  return out;
}

Result<Bytes> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("invalid base64: length");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') {
    if (pad == 0) return InvalidArgument("invalid base64: misplaced padding");
    ++pad;
  }
  std::string buffer(text);
  for (size_t i = 0; i < buffer.size() - pad; ++i) {
    if (!IsStdChar(buffer[i])) {
      WipeString(buffer);
      return InvalidArgument("invalid base64: bad character");
    }
  }
  for (size_t i = buffer.size() - pad; i < buffer.size(); ++i) buffer[i] = 'A';
  auto decoded = DecodeBlocks(buffer, pad);
  WipeString(buffer);
  if (!decoded.ok()) return decoded.status();
  // Only the canonical encoding is accepted (unused trailing bits must be zero).
  if (Base64Encode(*decoded) != text) {
    Wipe(*decoded);
    return InvalidArgument("invalid base64: non-canonical encoding");
  }
  return decoded;
}

Result<Bytes> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return InvalidArgument("invalid base64url: length");
  const size_t pad = (4 - text.size() % 4) % 4;
  std::string buffer;
  buffer.reserve(text.size() + pad);
  for (char c : text) {
    if (!IsUrlChar(c)) {
      WipeString(buffer);
      return InvalidArgument("invalid base64url: bad character");
    }
    buffer.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  buffer.append(pad, 'A');
  auto decoded = DecodeBlocks(buffer, pad);
  WipeString(buffer);
  if (!decoded.ok()) return InvalidArgument("invalid base64url");
  if (Base64UrlEncode(*decoded) != text) {
    Wipe(*decoded);
    return InvalidArgument("invalid base64url: non-canonical encoding");
  }
  return decoded;
}

}  // namespace hygie::crypto
