#pragma once
// Cryptographic primitives over OpenSSL 3: random bytes, SHA-256, HMAC-SHA256, HKDF,
// AES-256-GCM, base64url, constant-time comparison. Stateless free functions; thread-safe.

#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/secret.h"

namespace hygie::crypto {

inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceSize + kAeadTagSize;

Result<Bytes> RandomBytes(size_t n);
// A random identifier of 128 bits, as 26 lowercase base32 characters ([a-z2-7]), usable as a
// FHIR id.
std::string RandomId();
// An identifier of the same shape (26 characters of [2-7a-z]) whose first 10 characters encode
// `micros` in milliseconds, in an alphabet ascending in ASCII, followed by 80 random bits: ids
// made later sort after earlier ones as bytes (so that B-tree inserts stay local). For resource
// ids: they reveal their creation time to the millisecond, which meta.lastUpdated of the first
// version shows anyway.
std::string TimeOrderedId(int64_t micros);

Bytes Sha256(ByteView data);
// SHA-256(a || b || c) into out[0..32), with a digest fetched once and a per-thread context:
// no allocation (for the Merkle trees of the audit journal).
void Sha256Concat(ByteView a, ByteView b, ByteView c, uint8_t* out);
Bytes HmacSha256(const SecretKey& key, ByteView data);
// HKDF-SHA256 (RFC 5869).
Result<SecretKey> Hkdf(const SecretKey& ikm, ByteView salt, ByteView info, size_t length);

// AES-256-GCM with a random 96-bit nonce. Output layout: nonce(12) || ciphertext || tag(16).
// key must be 32 bytes.
Result<Bytes> AeadSeal(const SecretKey& key, ByteView plaintext, ByteView aad);
// Inverse of AeadSeal. Any change to key, sealed bytes or aad gives kDataLoss, never data.
Result<Bytes> AeadOpen(const SecretKey& key, ByteView sealed, ByteView aad);

bool ConstantTimeEquals(ByteView a, ByteView b);

std::string Base64UrlEncode(ByteView data);            // no padding
Result<Bytes> Base64UrlDecode(std::string_view text);  // rejects padding and bad characters
std::string Base64Encode(ByteView data);               // standard alphabet, padded
Result<Bytes> Base64Decode(std::string_view text);

}  // namespace hygie::crypto
