#pragma once
// Asymmetric signing keys for tokens and checkpoints: ES256 (ECDSA P-256 with SHA-256,
// signatures in JOSE raw r||s form, 64 bytes) and Ed25519 ("EdDSA"). Wraps OpenSSL EVP_PKEY.
// Objects are immutable after construction and safe to share between threads for Sign/Verify.

#include <memory>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::crypto {

enum class SignatureAlg { kEs256, kEdDsa };

// "ES256" / "EdDSA", as JOSE names them.
std::string_view AlgName(SignatureAlg alg);

class PublicKey;

class SigningKey {
 public:
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  static Result<SigningKey> Generate(SignatureAlg alg);
  // PKCS#8 PEM, unencrypted (the caller seals it at rest).
  static Result<SigningKey> FromPrivatePem(std::string_view pem);
  // An Ed25519 key from its 32-byte RFC 8032 private key (the seed). kInvalidArgument when
  // seed32 is not 32 bytes.
  static Result<SigningKey> FromEd25519Seed(ByteView seed32);
  Result<std::string> PrivatePem() const;

  SignatureAlg alg() const;
  Result<Bytes> Sign(ByteView message) const;
  PublicKey Public() const;

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class PublicKey {
 public:
  ~PublicKey();
  PublicKey(PublicKey&&) noexcept;
  PublicKey& operator=(PublicKey&&) noexcept;
  PublicKey(const PublicKey&);
  PublicKey& operator=(const PublicKey&);

  static Result<PublicKey> FromPem(std::string_view pem);
  // A JWK object's fields: kty "EC" with crv "P-256", x, y; or kty "OKP" with crv "Ed25519", x.
  // (Parsing the JSON is the caller's job; this takes the fields.)
  static Result<PublicKey> FromJwkFields(std::string_view kty, std::string_view crv,
                                         std::string_view x_b64url, std::string_view y_b64url);
  // An Ed25519 public key from its 32-byte RFC 8032 encoding. kInvalidArgument when pub32 is
  // not 32 bytes or not a valid encoding.
  static Result<PublicKey> FromEd25519Raw(ByteView pub32);

  SignatureAlg alg() const;
  Result<std::string> Pem() const;
  // The JWK as compact JSON text with "kty","crv","x"(,"y"),"kid","alg","use":"sig".
  std::string JwkJson() const;
  // RFC 7638 thumbprint, base64url; used as "kid".
  std::string KeyId() const;
  // The 32-byte RFC 8032 encoding of an Ed25519 public key; kInvalidArgument for an ES256 key.
  Result<Bytes> RawBytes() const;
  // True only for a valid signature by this key over message. Wrong lengths give false.
  bool Verify(ByteView message, ByteView signature) const;

 private:
  friend class SigningKey;
  struct Impl;
  explicit PublicKey(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Writes a self-signed X.509 certificate (ECDSA P-256, SHA-256, 825 days, subjectAltName
// DNS:localhost, IP:127.0.0.1, IP:::1 plus `extra_names`) and its PKCS#8 key (mode 0600).
Status WriteSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                  std::string_view common_name);

}  // namespace hygie::crypto
