#include "crypto/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "crypto/primitives.h"

namespace hygie::crypto {

struct JwkKey::Pkey {
  explicit Pkey(EVP_PKEY* p) : pkey(p) {}
  ~Pkey() { EVP_PKEY_free(pkey); }
  Pkey(const Pkey&) = delete;
  Pkey& operator=(const Pkey&) = delete;
  EVP_PKEY* pkey;
};

namespace {

constexpr size_t kP256CoordSize = 32;
constexpr size_t kEd25519Size = 32;
constexpr int kMaxJsonDepth = 8;

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigDeleter {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

std::string_view StringOf(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

const rapidjson::Value* Member(const rapidjson::Value& object, std::string_view name) {
  const auto it = object.FindMember(rapidjson::Value(
      rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

bool NoDuplicateMembers(const rapidjson::Value& value, int depth) {
  if (depth > kMaxJsonDepth) return false;
  if (value.IsObject()) {
    std::unordered_set<std::string_view> names;
    for (const auto& m : value.GetObject()) {
      if (!names.insert(StringOf(m.name)).second) return false;
      if (!NoDuplicateMembers(m.value, depth + 1)) return false;
    }
  } else if (value.IsArray()) {
    for (const auto& e : value.GetArray()) {
      if (!NoDuplicateMembers(e, depth + 1)) return false;
    }
  }
  return true;
}

// An optional string member: absent gives "", present must be a string.
Result<std::string> OptionalString(const rapidjson::Value& jwk, std::string_view name) {
  const rapidjson::Value* v = Member(jwk, name);
  if (v == nullptr) return std::string();
  if (!v->IsString()) return InvalidArgument("JWK \"" + std::string(name) + "\" must be a string");
  return std::string(StringOf(*v));
}

// A required member in canonical base64url (no padding, no stray bits).
Result<Bytes> B64Member(const rapidjson::Value& jwk, std::string_view name) {
  const std::string what = "JWK \"" + std::string(name) + "\"";
  const rapidjson::Value* v = Member(jwk, name);
  if (v == nullptr || !v->IsString()) return InvalidArgument(what + " missing");
  const std::string_view text = StringOf(*v);
  if (text.empty()) return InvalidArgument(what + " is empty");
  Result<Bytes> bytes = Base64UrlDecode(text);
  if (!bytes.ok() || Base64UrlEncode(*bytes) != text) {
    return InvalidArgument(what + " is not canonical base64url");
  }
  return bytes;
}

std::string OpenSslError() {
  // The queue is cleared so that a later call does not report this failure.
  ERR_clear_error();
  return "rejected by OpenSSL";
}

Result<EVP_PKEY*> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    OpenSslError();
    return Internal("EVP_PKEY_fromdata_init failed");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 ||
      raw == nullptr) {
    return InvalidArgument(std::string("JWK key ") + OpenSslError());
  }
  return raw;
}

// Strips the leading zero octets some libraries put in front of an unsigned integer.
ByteView StripZeros(const Bytes& b) {
  size_t i = 0;
  while (i < b.size() && b[i] == 0) ++i;
  return ByteView(b).subspan(i);
}

Result<EVP_PKEY*> RsaKey(const rapidjson::Value& jwk, int* bits) {
  HYGIE_ASSIGN_OR_RETURN(Bytes n_bytes, B64Member(jwk, "n"));
  HYGIE_ASSIGN_OR_RETURN(Bytes e_bytes, B64Member(jwk, "e"));
  const ByteView n = StripZeros(n_bytes);
  const ByteView e = StripZeros(e_bytes);
  if (n.size() * 8 > static_cast<size_t>(kMaxRsaModulusBits) + 8) {
    return InvalidArgument("RSA modulus too large");
  }
  if (e.empty() || e.size() > 8 || (e.back() & 1) == 0 || (e.size() == 1 && e[0] < 3)) {
    return InvalidArgument("RSA exponent must be odd, at least 3 and at most 64 bits");
  }
  BnPtr bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) return Internal("BN_bin2bn failed");
  *bits = BN_num_bits(bn_n.get());
  if (*bits < kMinRsaModulusBits) {
    return InvalidArgument("RSA modulus smaller than " + std::to_string(kMinRsaModulusBits) +
                           " bits");
  }
  if (*bits > kMaxRsaModulusBits) return InvalidArgument("RSA modulus too large");
  if (!BN_is_odd(bn_n.get())) return InvalidArgument("RSA modulus must be odd");
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    OpenSslError();
    return Internal("OSSL_PARAM_BLD failed");
  }
  return FromData("RSA", bld.get());
}

Result<EVP_PKEY*> EcKey(const rapidjson::Value& jwk) {
  HYGIE_ASSIGN_OR_RETURN(std::string crv, OptionalString(jwk, "crv"));
  if (crv != "P-256") return InvalidArgument("unsupported EC curve (only P-256)");
  HYGIE_ASSIGN_OR_RETURN(Bytes x, B64Member(jwk, "x"));
  HYGIE_ASSIGN_OR_RETURN(Bytes y, B64Member(jwk, "y"));
  if (x.size() != kP256CoordSize || y.size() != kP256CoordSize) {
    return InvalidArgument("P-256 JWK \"x\" and \"y\" must be 32 bytes each");
  }
  std::array<uint8_t, 1 + 2 * kP256CoordSize> point;
  point[0] = 0x04;  // uncompressed
  std::memcpy(point.data() + 1, x.data(), kP256CoordSize);
  std::memcpy(point.data() + 1 + kP256CoordSize, y.data(), kP256CoordSize);
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    OpenSslError();
    return Internal("OSSL_PARAM_BLD failed");
  }
  // OpenSSL refuses a point that is not on the curve.
  return FromData("EC", bld.get());
}

Result<EVP_PKEY*> OkpKey(const rapidjson::Value& jwk) {
  HYGIE_ASSIGN_OR_RETURN(std::string crv, OptionalString(jwk, "crv"));
  if (crv != "Ed25519") return InvalidArgument("unsupported OKP curve (only Ed25519)");
  if (Member(jwk, "y") != nullptr) return InvalidArgument("an Ed25519 JWK has no \"y\"");
  HYGIE_ASSIGN_OR_RETURN(Bytes x, B64Member(jwk, "x"));
  if (x.size() != kEd25519Size) return InvalidArgument("Ed25519 JWK \"x\" must be 32 bytes");
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, x.data(), x.size());
  if (raw == nullptr) return InvalidArgument("Ed25519 JWK key " + OpenSslError());
  return raw;
}

// JOSE r||s (64 bytes) to the DER ECDSA-Sig-Value OpenSSL verifies.
Result<Bytes> JoseToDer(ByteView signature) {
  if (signature.size() != 2 * kP256CoordSize) return Unauthenticated("signature invalid");
  std::unique_ptr<ECDSA_SIG, SigDeleter> sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(signature.data(), kP256CoordSize, nullptr));
  BnPtr s(BN_bin2bn(signature.data() + kP256CoordSize, kP256CoordSize, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return Internal("ECDSA_SIG_set0 failed");
  }
  r.release();  // owned by sig now
  s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return Internal("i2d_ECDSA_SIG failed");
  Bytes der(static_cast<size_t>(len));
  uint8_t* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return Internal("i2d_ECDSA_SIG failed");
  return der;
}

}  // namespace

JwkKey::~JwkKey() = default;

Result<JwkKey> JwkKey::Parse(const rapidjson::Value& jwk) {
  if (!jwk.IsObject()) return InvalidArgument("a JWK must be a JSON object");
  if (!NoDuplicateMembers(jwk, 0)) return InvalidArgument("JWK has duplicate members");
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (Member(jwk, secret) != nullptr) {
      return InvalidArgument("JWK holds private or secret key material");
    }
  }
  HYGIE_ASSIGN_OR_RETURN(std::string kty, OptionalString(jwk, "kty"));
  HYGIE_ASSIGN_OR_RETURN(std::string use, OptionalString(jwk, "use"));
  if (Member(jwk, "use") != nullptr && use != "sig") {
    return InvalidArgument("JWK \"use\" is not \"sig\"");
  }
  if (const rapidjson::Value* ops = Member(jwk, "key_ops"); ops != nullptr) {
    bool verify = false;
    if (!ops->IsArray()) return InvalidArgument("JWK \"key_ops\" must be an array");
    for (const auto& op : ops->GetArray()) {
      if (!op.IsString()) return InvalidArgument("JWK \"key_ops\" must hold strings");
      verify = verify || StringOf(op) == "verify";
    }
    if (!verify) return InvalidArgument("JWK \"key_ops\" does not allow \"verify\"");
  }

  JwkKey key;
  HYGIE_ASSIGN_OR_RETURN(key.kid_, OptionalString(jwk, "kid"));
  HYGIE_ASSIGN_OR_RETURN(key.alg_, OptionalString(jwk, "alg"));
  if (Member(jwk, "alg") != nullptr && key.alg_.empty()) {
    return InvalidArgument("JWK \"alg\" is empty");
  }
  EVP_PKEY* raw = nullptr;
  if (kty == "RSA") {
    key.type_ = JwkType::kRsa;
    HYGIE_ASSIGN_OR_RETURN(raw, RsaKey(jwk, &key.rsa_bits_));
  } else if (kty == "EC") {
    key.type_ = JwkType::kEc;
    HYGIE_ASSIGN_OR_RETURN(raw, EcKey(jwk));
  } else if (kty == "OKP") {
    key.type_ = JwkType::kOkp;
    HYGIE_ASSIGN_OR_RETURN(raw, OkpKey(jwk));
  } else {
    return InvalidArgument("unsupported JWK kty (only RSA, EC and OKP)");
  }
  key.pkey_ = std::make_shared<const Pkey>(raw);
  if (!key.alg_.empty() && key.alg_ != key.NaturalAlg()) {
    return InvalidArgument("JWK \"alg\" " + key.alg_ + " does not fit its key type");
  }
  return key;
}

Result<JwkKey> JwkKey::ParseText(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                    json.size());
  if (doc.HasParseError()) return InvalidArgument("JWK is not valid JSON");
  return Parse(doc);
}

std::string_view JwkKey::NaturalAlg() const {
  switch (type_) {
    case JwkType::kRsa:
      return "RS256";
    case JwkType::kEc:
      return "ES256";
    case JwkType::kOkp:
      return "EdDSA";
  }
  return "";
}

bool JwkKey::Allows(std::string_view alg) const {
  return alg == NaturalAlg() && (alg_.empty() || alg_ == alg);
}

Status JwkKey::Verify(std::string_view alg, ByteView signing_input, ByteView signature) const {
  if (!Allows(alg)) return InvalidArgument("key does not verify " + std::string(alg));
  Bytes der;
  ByteView sig = signature;
  if (type_ == JwkType::kEc) {
    HYGIE_ASSIGN_OR_RETURN(der, JoseToDer(signature));
    sig = der;
  } else if (type_ == JwkType::kOkp && signature.size() != 64) {
    return Unauthenticated("signature invalid");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md(EVP_MD_CTX_new());
  if (!md) return Internal("EVP_MD_CTX_new failed");
  // Ed25519 hashes internally (no digest); RSA and ECDSA use SHA-256. RSA keeps OpenSSL's
  // default PKCS#1 v1.5 padding.
  const char* digest = type_ == JwkType::kOkp ? nullptr : "SHA256";
  if (EVP_DigestVerifyInit_ex(md.get(), nullptr, digest, nullptr, nullptr, pkey_->pkey, nullptr) !=
      1) {
    OpenSslError();
    return Internal("EVP_DigestVerifyInit_ex failed");
  }
  const int ok = EVP_DigestVerify(md.get(), sig.data(), sig.size(), signing_input.data(),
                                  signing_input.size());
  if (ok != 1) {
    ERR_clear_error();
    return Unauthenticated("signature invalid");
  }
  return Status::Ok();
}

Result<JwkSet> ParseJwks(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                    json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return InvalidArgument("JWK set is not a JSON object");
  if (!NoDuplicateMembers(doc, 0)) return InvalidArgument("JWK set has duplicate members");
  const rapidjson::Value* keys = Member(doc, "keys");
  if (keys == nullptr || !keys->IsArray()) return InvalidArgument("JWK set has no \"keys\" array");
  if (keys->Size() > kMaxJwksKeys) return InvalidArgument("JWK set holds too many keys");
  JwkSet set;
  for (const auto& jwk : keys->GetArray()) {
    Result<JwkKey> key = JwkKey::Parse(jwk);
    if (key.ok()) {
      set.keys.push_back(std::move(*key));
    } else {
      ++set.skipped;
    }
  }
  return set;
}

}  // namespace hygie::crypto
