#pragma once
// Test support: key pairs made with OpenSSL, their public JWK text and JOSE signatures, for the
// tests of JWK parsing and token verification. Not part of the library. Thread-compatible.

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::crypto::testing {

// A private key and the JOSE algorithm it signs with ("RS256", "ES256" or "EdDSA").
class TestKey {
 public:
  static TestKey Rsa(int bits = 2048) {
    return TestKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)), "RS256");
  }
  static TestKey Ec(const char* group = "P-256") {
    return TestKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group), "ES256");
  }
  static TestKey Ed25519() {
    return TestKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), "EdDSA");
  }

  const std::string& alg() const { return alg_; }
  EVP_PKEY* pkey() const { return pkey_.get(); }

  // The members of the public JWK, without braces, e.g. "\"kty\":\"EC\",...".
  std::string JwkMembers() const {
    if (alg_ == "RS256") {
      return "\"kty\":\"RSA\",\"n\":\"" + BnParam(OSSL_PKEY_PARAM_RSA_N) + "\",\"e\":\"" +
             BnParam(OSSL_PKEY_PARAM_RSA_E) + "\"";
    }
    if (alg_ == "ES256") {
      return "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + BnParam(OSSL_PKEY_PARAM_EC_PUB_X, 32) +
             "\",\"y\":\"" + BnParam(OSSL_PKEY_PARAM_EC_PUB_Y, 32) + "\"";
    }
    uint8_t raw[32];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), raw, &len) != 1) Throw("raw public key");
    return "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + Base64UrlEncode(ByteView(raw, len)) +
           "\"";
  }
  // The public JWK with a kid and extra members (text to put after a comma, or "").
  std::string Jwk(std::string_view kid, std::string_view extra = "") const {
    std::string out = "{" + JwkMembers() + ",\"kid\":\"" + std::string(kid) + "\"";
    if (!extra.empty()) out += "," + std::string(extra);
    return out + "}";
  }

  // The JOSE signature of message (ES256: raw r||s).
  Bytes Sign(std::string_view message) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const char* digest = alg_ == "EdDSA" ? nullptr : "SHA256";
    if (EVP_DigestSignInit_ex(md.get(), nullptr, digest, nullptr, nullptr, pkey_.get(), nullptr) !=
        1) {
      Throw("sign init");
    }
    size_t len = 0;
    const auto* data = reinterpret_cast<const uint8_t*>(message.data());
    if (EVP_DigestSign(md.get(), nullptr, &len, data, message.size()) != 1) Throw("sign size");
    Bytes sig(len);
    if (EVP_DigestSign(md.get(), sig.data(), &len, data, message.size()) != 1) Throw("sign");
    sig.resize(len);
    if (alg_ != "ES256") return sig;
    const uint8_t* p = sig.data();
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ecdsa(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())), ECDSA_SIG_free);
    if (!ecdsa) Throw("d2i_ECDSA_SIG");
    Bytes raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), raw.data() + 32, 32);
    return raw;
  }

 private:
  TestKey(EVP_PKEY* pkey, std::string alg) : pkey_(pkey, EVP_PKEY_free), alg_(std::move(alg)) {
    if (pkey == nullptr) Throw("keygen");
  }
  [[noreturn]] static void Throw(const char* what) {
    throw std::runtime_error(std::string("OpenSSL test key: ") + what);
  }
  std::string BnParam(const char* name, int pad = 0) const {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey_.get(), name, &bn) != 1) Throw(name);
    Bytes bytes(static_cast<size_t>(pad > 0 ? pad : BN_num_bytes(bn)));
    BN_bn2binpad(bn, bytes.data(), static_cast<int>(bytes.size()));
    BN_free(bn);
    return Base64UrlEncode(bytes);
  }

  std::shared_ptr<EVP_PKEY> pkey_;
  std::string alg_;
};

}  // namespace hygie::crypto::testing
