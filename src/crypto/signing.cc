#include "crypto/signing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "crypto/primitives.h"
#include "crypto/secret.h"

namespace hygie::crypto {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;
struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
struct BnCtxDeleter {
  void operator()(BN_CTX* c) const { BN_CTX_free(c); }
};
struct EcGroupDeleter {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509ExtDeleter {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
struct OpenSslFree {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};

constexpr size_t kP256CoordSize = 32;
constexpr size_t kEs256SigSize = 64;
constexpr size_t kEd25519KeySize = 32;
constexpr size_t kEd25519SigSize = 64;
constexpr int kCertValidityDays = 825;

// Builds a message from the first queued OpenSSL error, and empties this thread's queue (a
// stale entry would confuse later TLS calls on the same thread).
std::string OpenSslMessage(std::string_view what) {
  std::string msg(what);
  unsigned long err = ERR_get_error();
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return msg;
}

const uint8_t kEmpty[1] = {0};
const uint8_t* DataOrEmpty(ByteView v) { return v.empty() ? kEmpty : v.data(); }

// Never prompts on a terminal for the password of an encrypted PEM.
int NoPassword(char*, int, int, void*) { return -1; }

Result<BioPtr> ReadBio(std::string_view text) {
  if (text.size() > static_cast<size_t>(INT_MAX)) return InvalidArgument("PEM text too large");
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return Internal(OpenSslMessage("BIO_new_mem_buf failed"));
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(len));
}

// The algorithm of a key, if it is one Hygie signs with: EC on P-256, or Ed25519.
Result<SignatureAlg> AlgOf(const EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "ED25519")) return SignatureAlg::kEdDsa;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1) {
      ERR_clear_error();
      return InvalidArgument("EC key without a named curve");
    }
    std::string_view name(group, len);
    if (name == "prime256v1" || name == "P-256") return SignatureAlg::kEs256;
    return InvalidArgument("unsupported EC curve (only P-256 is accepted)");
  }
  return InvalidArgument("unsupported key type (only EC P-256 and Ed25519 are accepted)");
}

// Copies out the public half of a key, so a PublicKey never holds private material.
Result<PkeyPtr> PublicOnly(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return Internal(OpenSslMessage("i2d_PUBKEY failed"));
  std::unique_ptr<unsigned char, OpenSslFree> owned(der);
  const unsigned char* p = der;
  PkeyPtr pub(d2i_PUBKEY(nullptr, &p, len));
  if (!pub) return Internal(OpenSslMessage("d2i_PUBKEY failed"));
  return pub;
}

Status CheckPublicPoint(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx) return Internal(OpenSslMessage("EVP_PKEY_CTX_new_from_pkey failed"));
  if (EVP_PKEY_public_check(ctx.get()) != 1) {
    return InvalidArgument(OpenSslMessage("invalid public key"));
  }
  return Status::Ok();
}

struct JwkCoords {
  std::string x;
  std::string y;  // empty for Ed25519
};

Result<JwkCoords> Coordinates(EVP_PKEY* pkey, SignatureAlg alg) {
  JwkCoords c;
  if (alg == SignatureAlg::kEdDsa) {
    uint8_t raw[kEd25519KeySize];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != kEd25519KeySize) {
      return Internal(OpenSslMessage("cannot read the Ed25519 public key"));
    }
    c.x = Base64UrlEncode(ByteView(raw, len));
    return c;
  }
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  int ok_x = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
  int ok_y = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  BnPtr xp(x);
  BnPtr yp(y);
  if (ok_x != 1 || ok_y != 1) return Internal(OpenSslMessage("cannot read the EC public point"));
  uint8_t buf[kP256CoordSize];
  if (BN_bn2binpad(x, buf, sizeof(buf)) != static_cast<int>(sizeof(buf))) {
    return Internal("EC coordinate too large");
  }
  c.x = Base64UrlEncode(buf);
  if (BN_bn2binpad(y, buf, sizeof(buf)) != static_cast<int>(sizeof(buf))) {
    return Internal("EC coordinate too large");
  }
  c.y = Base64UrlEncode(buf);
  return c;
}

std::string_view JwkKty(SignatureAlg alg) { return alg == SignatureAlg::kEs256 ? "EC" : "OKP"; }
std::string_view JwkCrv(SignatureAlg alg) {
  return alg == SignatureAlg::kEs256 ? "P-256" : "Ed25519";
}

void WriteMember(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view name,
                 std::string_view value) {
  w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// RFC 7638: SHA-256 over the required members, in lexicographic order, without whitespace.
std::string Thumbprint(SignatureAlg alg, const JwkCoords& c) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  WriteMember(w, "crv", JwkCrv(alg));
  WriteMember(w, "kty", JwkKty(alg));
  WriteMember(w, "x", c.x);
  if (alg == SignatureAlg::kEs256) WriteMember(w, "y", c.y);
  w.EndObject();
  return Base64UrlEncode(Sha256(AsBytes(std::string_view(sb.GetString(), sb.GetSize()))));
}

// r||s (JOSE) from a DER ECDSA signature, with s normalized to the lower half of the order so
// the signatures Hygie makes are canonical.
Result<Bytes> DerToJose(ByteView der) {
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return Internal(OpenSslMessage("cannot parse the ECDSA signature"));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::unique_ptr<EC_GROUP, EcGroupDeleter> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnPtr half(BN_new());
  BnPtr low_s(BN_new());
  if (!group || !half || !low_s) return Internal(OpenSslMessage("out of memory"));
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  if (BN_rshift1(half.get(), order) != 1) return Internal(OpenSslMessage("BN_rshift1 failed"));
  if (BN_cmp(s, half.get()) > 0) {
    if (BN_sub(low_s.get(), order, s) != 1) return Internal(OpenSslMessage("BN_sub failed"));
    s = low_s.get();
  }
  Bytes out(kEs256SigSize);
  if (BN_bn2binpad(r, out.data(), kP256CoordSize) != static_cast<int>(kP256CoordSize) ||
      BN_bn2binpad(s, out.data() + kP256CoordSize, kP256CoordSize) !=
          static_cast<int>(kP256CoordSize)) {
    return Internal("ECDSA signature component too large");
  }
  return out;
}

// DER from r||s; empty on failure.
Bytes JoseToDer(ByteView jose) {
  BnPtr r(BN_bin2bn(jose.data(), kP256CoordSize, nullptr));
  BnPtr s(BN_bin2bn(jose.data() + kP256CoordSize, kP256CoordSize, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return {};
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
  (void)r.release();  // owned by sig now
  (void)s.release();
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return {};
  std::unique_ptr<unsigned char, OpenSslFree> owned(der);
  return Bytes(der, der + len);
}

// Writes `data` to `path` with exactly `mode`, never following a symlink at `path`. The file
// is created with `mode` (never wider, whatever the umask) and an existing file is truncated
// and re-moded before a byte is written.
Status WriteFileWithMode(const std::string& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    return Unavailable("cannot create " + path + ": " + std::strerror(errno));
  }
  Status status;
  if (::fchmod(fd, mode) != 0) {
    status = Unavailable("cannot chmod " + path + ": " + std::strerror(errno));
  }
  size_t pos = 0;
  while (status.ok() && pos < data.size()) {
    ssize_t n = ::write(fd, data.data() + pos, data.size() - pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = Unavailable("cannot write " + path + ": " + std::strerror(errno));
      break;
    }
    pos += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = Unavailable("cannot fsync " + path + ": " + std::strerror(errno));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = Unavailable("cannot close " + path + ": " + std::strerror(errno));
  }
  return status;
}

bool IsHostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, X509ExtDeleter> ext(
      X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext) return Internal(OpenSslMessage("cannot build certificate extension"));
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return Internal(OpenSslMessage("cannot add certificate extension"));
  }
  return Status::Ok();
}

}  // namespace

std::string_view AlgName(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::kEs256:
      return "ES256";
    case SignatureAlg::kEdDsa:
      return "EdDSA";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// PublicKey

struct PublicKey::Impl {
  PkeyPtr pkey;  // public half only
  SignatureAlg alg = SignatureAlg::kEs256;
  JwkCoords coords;
  std::string kid;

  static Result<std::shared_ptr<const Impl>> Make(PkeyPtr pkey) {
    HYGIE_ASSIGN_OR_RETURN(SignatureAlg alg, AlgOf(pkey.get()));
    if (alg == SignatureAlg::kEs256) HYGIE_RETURN_IF_ERROR(CheckPublicPoint(pkey.get()));
    HYGIE_ASSIGN_OR_RETURN(JwkCoords coords, Coordinates(pkey.get(), alg));
    auto impl = std::make_shared<Impl>();
    impl->kid = Thumbprint(alg, coords);
    impl->pkey = std::move(pkey);
    impl->alg = alg;
    impl->coords = std::move(coords);
    return std::shared_ptr<const Impl>(std::move(impl));
  }
};

PublicKey::PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
PublicKey::~PublicKey() = default;
PublicKey::PublicKey(PublicKey&&) noexcept = default;
PublicKey& PublicKey::operator=(PublicKey&&) noexcept = default;
PublicKey::PublicKey(const PublicKey&) = default;
PublicKey& PublicKey::operator=(const PublicKey&) = default;

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  HYGIE_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem));
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr));
  if (!pkey) return InvalidArgument(OpenSslMessage("not a PEM public key"));
  HYGIE_ASSIGN_OR_RETURN(auto impl, Impl::Make(std::move(pkey)));
  return PublicKey(std::move(impl));
}

Result<PublicKey> PublicKey::FromJwkFields(std::string_view kty, std::string_view crv,
                                           std::string_view x_b64url, std::string_view y_b64url) {
  if (kty == "OKP") {
    if (crv != "Ed25519") return InvalidArgument("unsupported OKP curve (only Ed25519)");
    if (!y_b64url.empty()) return InvalidArgument("an Ed25519 JWK has no \"y\"");
    auto x = Base64UrlDecode(x_b64url);
    if (!x.ok() || x->size() != kEd25519KeySize) {
      return InvalidArgument("Ed25519 JWK \"x\" must be 32 bytes in base64url");
    }
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, x->data(), x->size()));
    if (!pkey) return InvalidArgument(OpenSslMessage("invalid Ed25519 public key"));
    HYGIE_ASSIGN_OR_RETURN(auto impl, Impl::Make(std::move(pkey)));
    return PublicKey(std::move(impl));
  }
  if (kty != "EC") return InvalidArgument("unsupported JWK kty (only EC and OKP)");
  if (crv != "P-256") return InvalidArgument("unsupported EC curve (only P-256)");
  auto x = Base64UrlDecode(x_b64url);
  auto y = Base64UrlDecode(y_b64url);
  if (!x.ok() || !y.ok() || x->size() != kP256CoordSize || y->size() != kP256CoordSize) {
    return InvalidArgument("P-256 JWK \"x\" and \"y\" must be 32 bytes each in base64url");
  }
  std::array<uint8_t, 1 + 2 * kP256CoordSize> point;
  point[0] = 0x04;  // uncompressed
  std::memcpy(point.data() + 1, x->data(), kP256CoordSize);
  std::memcpy(point.data() + 1 + kP256CoordSize, y->data(), kP256CoordSize);

  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return Internal(OpenSslMessage("OSSL_PARAM_BLD failed"));
  }
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return Internal(OpenSslMessage("EVP_PKEY_fromdata_init failed"));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || !raw) {
    return InvalidArgument(OpenSslMessage("invalid P-256 public key (point not on the curve?)"));
  }
  HYGIE_ASSIGN_OR_RETURN(auto impl, Impl::Make(PkeyPtr(raw)));
  return PublicKey(std::move(impl));
}

Result<PublicKey> PublicKey::FromEd25519Raw(ByteView pub32) {
  if (pub32.size() != kEd25519KeySize) {
    return InvalidArgument("an Ed25519 public key must be 32 bytes");
  }
  PkeyPtr pkey(
      EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, pub32.data(), pub32.size()));
  if (!pkey) return InvalidArgument(OpenSslMessage("invalid Ed25519 public key"));
  HYGIE_ASSIGN_OR_RETURN(auto impl, Impl::Make(std::move(pkey)));
  return PublicKey(std::move(impl));
}

SignatureAlg PublicKey::alg() const { return impl_->alg; }

Result<std::string> PublicKey::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->pkey.get()) != 1) {
    return Internal(OpenSslMessage("cannot write the public key as PEM"));
  }
  return BioContents(bio.get());
}

std::string PublicKey::JwkJson() const {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  WriteMember(w, "kty", JwkKty(impl_->alg));
  WriteMember(w, "crv", JwkCrv(impl_->alg));
  WriteMember(w, "x", impl_->coords.x);
  if (impl_->alg == SignatureAlg::kEs256) WriteMember(w, "y", impl_->coords.y);
  WriteMember(w, "kid", impl_->kid);
  WriteMember(w, "alg", AlgName(impl_->alg));
  WriteMember(w, "use", "sig");
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string PublicKey::KeyId() const { return impl_->kid; }

Result<Bytes> PublicKey::RawBytes() const {
  if (impl_->alg != SignatureAlg::kEdDsa) {
    return InvalidArgument("only an Ed25519 key has a raw 32-byte encoding");
  }
  Bytes raw(kEd25519KeySize);
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(impl_->pkey.get(), raw.data(), &len) != 1 ||
      len != kEd25519KeySize) {
    return Internal(OpenSslMessage("cannot read the Ed25519 public key"));
  }
  return raw;
}

bool PublicKey::Verify(ByteView message, ByteView signature) const {
  Bytes der;
  ByteView to_check;
  const EVP_MD* md = nullptr;
  if (impl_->alg == SignatureAlg::kEs256) {
    if (signature.size() != kEs256SigSize) return false;
    der = JoseToDer(signature);
    if (der.empty()) {
      ERR_clear_error();
      return false;
    }
    to_check = der;
    md = EVP_sha256();
  } else {
    if (signature.size() != kEd25519SigSize) return false;
    to_check = signature;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, impl_->pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), to_check.data(), to_check.size(), DataOrEmpty(message),
                             message.size()) == 1;
  ERR_clear_error();
  return ok;
}

// ---------------------------------------------------------------------------------------------
// SigningKey

struct SigningKey::Impl {
  PkeyPtr pkey;
  SignatureAlg alg;
  PublicKey pub;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

Result<SigningKey> SigningKey::Generate(SignatureAlg alg) {
  PkeyPtr pkey(alg == SignatureAlg::kEs256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!pkey) return Internal(OpenSslMessage("key generation failed"));
  HYGIE_ASSIGN_OR_RETURN(PkeyPtr pub, PublicOnly(pkey.get()));
  HYGIE_ASSIGN_OR_RETURN(auto pub_impl, PublicKey::Impl::Make(std::move(pub)));
  return SigningKey(
      std::unique_ptr<Impl>(new Impl{std::move(pkey), alg, PublicKey(std::move(pub_impl))}));
}

Result<SigningKey> SigningKey::FromPrivatePem(std::string_view pem) {
  HYGIE_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem));
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (!pkey) return InvalidArgument(OpenSslMessage("not an unencrypted PEM private key"));
  HYGIE_ASSIGN_OR_RETURN(SignatureAlg alg, AlgOf(pkey.get()));
  HYGIE_ASSIGN_OR_RETURN(PkeyPtr pub, PublicOnly(pkey.get()));
  HYGIE_ASSIGN_OR_RETURN(auto pub_impl, PublicKey::Impl::Make(std::move(pub)));
  return SigningKey(
      std::unique_ptr<Impl>(new Impl{std::move(pkey), alg, PublicKey(std::move(pub_impl))}));
}

Result<SigningKey> SigningKey::FromEd25519Seed(ByteView seed32) {
  if (seed32.size() != kEd25519KeySize) {
    return InvalidArgument("an Ed25519 private key (seed) must be 32 bytes");
  }
  PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, seed32.data(), seed32.size()));
  if (!pkey) return InvalidArgument(OpenSslMessage("invalid Ed25519 private key"));
  HYGIE_ASSIGN_OR_RETURN(PkeyPtr pub, PublicOnly(pkey.get()));
  HYGIE_ASSIGN_OR_RETURN(auto pub_impl, PublicKey::Impl::Make(std::move(pub)));
  return SigningKey(std::unique_ptr<Impl>(
      new Impl{std::move(pkey), SignatureAlg::kEdDsa, PublicKey(std::move(pub_impl))}));
}

Result<std::string> SigningKey::PrivatePem() const {
  // Secure-heap BIO: the buffer holding the private key is cleansed when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0,
                                            nullptr, nullptr) != 1) {
    return Internal(OpenSslMessage("cannot write the private key as PEM"));
  }
  return BioContents(bio.get());
}

SignatureAlg SigningKey::alg() const { return impl_->alg; }

PublicKey SigningKey::Public() const { return impl_->pub; }

Result<Bytes> SigningKey::Sign(ByteView message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = impl_->alg == SignatureAlg::kEs256 ? EVP_sha256() : nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, impl_->pkey.get()) != 1) {
    return Internal(OpenSslMessage("EVP_DigestSignInit failed"));
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, DataOrEmpty(message), message.size()) != 1) {
    return Internal(OpenSslMessage("EVP_DigestSign failed"));
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, DataOrEmpty(message), message.size()) != 1) {
    return Internal(OpenSslMessage("EVP_DigestSign failed"));
  }
  sig.resize(len);
  if (impl_->alg == SignatureAlg::kEs256) return DerToJose(sig);
  if (sig.size() != kEd25519SigSize) return Internal("unexpected Ed25519 signature size");
  return sig;
}

// ---------------------------------------------------------------------------------------------
// Self-signed certificate

Status WriteSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                  std::string_view common_name) {
  // The name goes into an OpenSSL configuration string; only plain host names and IP
  // addresses are accepted, so nothing can be injected into the extension.
  if (common_name.empty() || common_name.size() > 64) {
    return InvalidArgument("certificate common name must be 1 to 64 characters");
  }
  const std::string cn(common_name);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  unsigned char addr[16];
  if (inet_pton(AF_INET, cn.c_str(), addr) == 1 || inet_pton(AF_INET6, cn.c_str(), addr) == 1) {
    if (cn != "127.0.0.1" && cn != "::1") san += ",IP:" + cn;
  } else {
    for (char c : cn) {
      if (!IsHostnameChar(c)) {
        return InvalidArgument("certificate common name must be a host name or an IP address");
      }
    }
    if (cn != "localhost") san += ",DNS:" + cn;
  }

  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::unique_ptr<X509, X509Deleter> cert(X509_new());
  if (!pkey || !cert) return Internal(OpenSslMessage("cannot create key or certificate"));
  if (X509_set_version(cert.get(), 2) != 1) return Internal(OpenSslMessage("X509_set_version"));

  uint8_t serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return Unavailable(OpenSslMessage("the OpenSSL random generator failed"));
  }
  serial_bytes[0] &= 0x7f;  // positive
  serial_bytes[0] |= 0x40;  // and never zero or short
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return Internal(OpenSslMessage("cannot set the serial number"));
  }
  // Valid from a minute ago (small clock skews) for 825 days in total.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), kCertValidityDays, -60, nullptr)) {
    return Internal(OpenSslMessage("cannot set the validity"));
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), pkey.get()) != 1) {
    return Internal(OpenSslMessage("cannot set the certificate names"));
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  HYGIE_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  HYGIE_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
  HYGIE_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth"));
  HYGIE_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  HYGIE_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_subject_alt_name, san));
  if (X509_sign(cert.get(), pkey.get(), EVP_sha256()) <= 0) {
    return Internal(OpenSslMessage("cannot sign the certificate"));
  }

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return Internal(OpenSslMessage("cannot write the certificate as PEM"));
  }
  BioPtr key_bio(BIO_new(BIO_s_secmem()));
  if (!key_bio || PEM_write_bio_PKCS8PrivateKey(key_bio.get(), pkey.get(), nullptr, nullptr, 0,
                                                nullptr, nullptr) != 1) {
    return Internal(OpenSslMessage("cannot write the private key as PEM"));
  }
  std::string key_pem = BioContents(key_bio.get());
  Status written = WriteFileWithMode(key_path, key_pem, 0600);
  Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(key_pem.data()), key_pem.size()));
  HYGIE_RETURN_IF_ERROR(written);
  return WriteFileWithMode(cert_path, BioContents(cert_bio.get()), 0644);
}

}  // namespace hygie::crypto
