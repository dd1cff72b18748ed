#include "crypto/keyring.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "core/clock.h"
#include "crypto/primitives.h"

namespace hygie::crypto {
namespace {

constexpr int kFormatVersion = 1;
constexpr size_t kKeySize = 32;
constexpr size_t kSaltSize = 16;
constexpr size_t kMaxKeyringFileSize = size_t{64} << 20;
constexpr std::string_view kCheckAad = "hygie-keyring-check";
constexpr std::string_view kCheckPlaintext = "hygie keyring key-encryption key check v1";
constexpr std::string_view kWrongKek = "wrong key-encryption key or passphrase";
constexpr const char* kJsonName = "keyring.json";
constexpr const char* kTmpName = "keyring.json.tmp";
constexpr const char* kLockName = "keyring.lock";
// Scrypt bounds: Create refuses weaker than kMinScryptN; Open refuses parameters that would
// make a tampered file exhaust memory.
constexpr uint64_t kMinScryptN = uint64_t{1} << 14;
constexpr uint64_t kMaxScryptN = uint64_t{1} << 24;
constexpr uint64_t kMaxScryptMemory = uint64_t{2} << 30;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string Join(const std::string& dir, const char* name) { return dir + "/" + name; }

bool ValidTenantName(std::string_view t) {
  if (t.size() < 2 || t.size() > 63) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Status CheckTenantName(std::string_view t) {
  if (!ValidTenantName(t)) return InvalidArgument("tenant name must match [a-z0-9-]{2,63}");
  return Status::Ok();
}

std::string WrapAad(std::string_view tenant, std::string_view purpose, uint32_t id) {
  std::string aad = "hygie-keyring|";
  aad += tenant;
  aad += '|';
  aad += purpose;
  aad += '|';
  aad += std::to_string(id);
  return aad;
}

// Distinct from WrapAad's prefix ("hygie-keyring|") and from kCheckAad.
std::string KekAad(std::string_view purpose) {
  std::string aad = "hygie-keyring-kek|";
  aad += purpose;
  return aad;
}

// Identity of one version of keyring.json, to notice a change made by another process.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileId&) const = default;
};

FileId IdOf(const struct stat& st) {
  FileId id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  return id;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes now, reporting the error.
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, ByteView data, const std::string& path) {
  size_t pos = 0;
  while (pos < data.size()) {
    ssize_t n = ::write(fd, data.data() + pos, data.size() - pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable(Errno("cannot write " + path));
    pos += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Reads a whole (non-secret) file of at most `limit` bytes.
Result<Bytes> ReadAll(int fd, size_t limit, const std::string& path) {
  Bytes out;
  uint8_t buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Unavailable(Errno("cannot read " + path));
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > limit) {
      return ResourceExhausted(path + " is too large");
    }
    out.insert(out.end(), buf, buf + n);
  }
}

Status FsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Unavailable(Errno("cannot open directory " + dir));
  if (::fsync(fd.get()) != 0) return Unavailable(Errno("cannot fsync directory " + dir));
  return Status::Ok();
}

// The KEK from a key file: exactly 32 bytes, not accessible to group or others.
Result<SecretKey> ReadKeyFile(const std::string& path) {
  if (path.empty()) return InvalidArgument("no key file given");
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound("key file " + path + " does not exist");
    return Unavailable(Errno("cannot open key file " + path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Unavailable(Errno("cannot stat key file " + path));
  if (!S_ISREG(st.st_mode)) return FailedPrecondition("key file " + path + " is not a file");
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition("key file " + path +
                              " is accessible by group or others; run: chmod 600 " + path);
  }
  if (st.st_size != static_cast<off_t>(kKeySize)) {
    return FailedPrecondition("key file " + path + " must hold exactly 32 bytes");
  }
  // One byte more than needed, to notice a file that grew since fstat.
  uint8_t raw[kKeySize + 1];
  size_t got = 0;
  while (got < sizeof(raw)) {
    ssize_t n = ::read(fd.get(), raw + got, sizeof(raw) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Wipe(raw);
      return Unavailable(Errno("cannot read key file " + path));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != kKeySize) {
    Wipe(raw);
    return FailedPrecondition("key file " + path + " must hold exactly 32 bytes");
  }
  SecretKey key = SecretKey::FromBytes(ByteView(raw, kKeySize));
  Wipe(raw);
  return key;
}

// Creates the key file with O_EXCL and mode 0600, holding a fresh random KEK.
Result<SecretKey> CreateKeyFile(const std::string& path) {
  if (path.empty()) return InvalidArgument("no key file given");
  HYGIE_ASSIGN_OR_RETURN(SecretKey key, SecretKey::Generate(kKeySize));
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST) return AlreadyExists("key file " + path + " already exists");
    return Unavailable(Errno("cannot create key file " + path));
  }
  Status s = WriteAll(fd.get(), key.bytes(), path);
  if (s.ok() && ::fchmod(fd.get(), 0600) != 0) s = Unavailable(Errno("cannot chmod " + path));
  if (s.ok() && ::fsync(fd.get()) != 0) s = Unavailable(Errno("cannot fsync " + path));
  if (fd.Close() != 0 && s.ok()) s = Unavailable(Errno("cannot close " + path));
  if (s.ok()) {
    std::string parent = path.find('/') == std::string::npos
                             ? std::string(".")
                             : path.substr(0, std::max<size_t>(path.rfind('/'), 1));
    s = FsyncDir(parent);
  }
  if (!s.ok()) {
    ::unlink(path.c_str());
    return s;
  }
  return key;
}

Status CheckScrypt(const ScryptParams& p) {
  if (p.n < 2 || (p.n & (p.n - 1)) != 0 || p.n > kMaxScryptN) {
    return InvalidArgument("scrypt n must be a power of two, at most 2^24");
  }
  if (p.r < 1 || p.r > 64 || p.p < 1 || p.p > 16) {
    return InvalidArgument("scrypt r must be in [1, 64] and p in [1, 16]");
  }
  if (uint64_t{128} * p.r * p.n > kMaxScryptMemory) {
    return InvalidArgument("scrypt parameters need more than 2 GiB of memory");
  }
  return Status::Ok();
}

Result<SecretKey> Scrypt(std::string_view passphrase, ByteView salt, const ScryptParams& p) {
  if (passphrase.empty()) return InvalidArgument("the passphrase is empty");
  HYGIE_RETURN_IF_ERROR(CheckScrypt(p));
  const uint64_t maxmem = 2 * uint64_t{128} * p.r * p.n + uint64_t{128} * p.r * p.p + (1u << 20);
  uint8_t out[kKeySize];
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), p.n, p.r, p.p,
                     maxmem, out, sizeof(out)) != 1) {
    ERR_clear_error();
    Wipe(out);
    return ResourceExhausted("scrypt key derivation failed (memory?)");
  }
  SecretKey key = SecretKey::FromBytes(out);
  Wipe(out);
  return key;
}

// ----- keyring.json -------------------------------------------------------------------------

struct DataKeyRecord {
  uint32_t id = 0;
  int64_t created_us = 0;
  Bytes wrapped;
  bool operator==(const DataKeyRecord&) const = default;
};

struct TenantRecord {
  uint32_t active = 0;
  std::vector<DataKeyRecord> data_keys;  // ascending ids
  Bytes index_wrapped;
  Bytes audit_wrapped;
  bool operator==(const TenantRecord&) const = default;
};

struct KeyringFile {
  int format = kFormatVersion;
  KekSource::Kind kind = KekSource::Kind::kKeyFile;
  Bytes salt;           // kPassphrase
  ScryptParams scrypt;  // kPassphrase
  Bytes check;          // AeadSeal(kek, kCheckPlaintext, kCheckAad)
  std::map<std::string, TenantRecord, std::less<>> tenants;
};

using JsonValue = rapidjson::Value;

Status Malformed(const std::string& what) { return DataLoss("keyring.json is malformed: " + what); }

Result<const JsonValue*> Member(const JsonValue& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return Malformed(std::string("missing \"") + name + "\"");
  return &it->value;
}

Result<std::string_view> StringMember(const JsonValue& obj, const char* name) {
  HYGIE_ASSIGN_OR_RETURN(const JsonValue* v, Member(obj, name));
  if (!v->IsString()) return Malformed(std::string("\"") + name + "\" is not a string");
  return std::string_view(v->GetString(), v->GetStringLength());
}

Result<Bytes> Base64Member(const JsonValue& obj, const char* name) {
  HYGIE_ASSIGN_OR_RETURN(std::string_view text, StringMember(obj, name));
  auto bytes = Base64Decode(text);
  if (!bytes.ok()) return Malformed(std::string("\"") + name + "\" is not base64");
  return bytes;
}

Result<uint64_t> UintMember(const JsonValue& obj, const char* name, uint64_t max) {
  HYGIE_ASSIGN_OR_RETURN(const JsonValue* v, Member(obj, name));
  if (!v->IsUint64() || v->GetUint64() > max) {
    return Malformed(std::string("\"") + name + "\" is not a valid number");
  }
  return v->GetUint64();
}

Result<TenantRecord> ParseTenant(const JsonValue& v) {
  if (!v.IsObject()) return Malformed("a tenant is not an object");
  TenantRecord t;
  HYGIE_ASSIGN_OR_RETURN(uint64_t active,
                         UintMember(v, "active_data_key", std::numeric_limits<uint32_t>::max()));
  t.active = static_cast<uint32_t>(active);
  HYGIE_ASSIGN_OR_RETURN(const JsonValue* keys, Member(v, "data_keys"));
  if (!keys->IsArray() || keys->Empty()) return Malformed("\"data_keys\" is not a list");
  bool active_found = false;
  for (const JsonValue& k : keys->GetArray()) {
    if (!k.IsObject()) return Malformed("a data key is not an object");
    DataKeyRecord r;
    HYGIE_ASSIGN_OR_RETURN(uint64_t id, UintMember(k, "id", std::numeric_limits<uint32_t>::max()));
    if (id == 0) return Malformed("data key id 0");
    r.id = static_cast<uint32_t>(id);
    HYGIE_ASSIGN_OR_RETURN(uint64_t created,
                           UintMember(k, "created_us", std::numeric_limits<int64_t>::max()));
    r.created_us = static_cast<int64_t>(created);
    HYGIE_ASSIGN_OR_RETURN(r.wrapped, Base64Member(k, "wrapped"));
    if (!t.data_keys.empty() && t.data_keys.back().id >= r.id) {
      return Malformed("data key ids are not increasing");
    }
    active_found |= r.id == t.active;
    t.data_keys.push_back(std::move(r));
  }
  if (!active_found) return Malformed("the active data key is missing");
  HYGIE_ASSIGN_OR_RETURN(t.index_wrapped, Base64Member(v, "index_key"));
  HYGIE_ASSIGN_OR_RETURN(t.audit_wrapped, Base64Member(v, "audit_seed"));
  return t;
}

Result<KeyringFile> ParseKeyringFile(ByteView text) {
  rapidjson::Document doc;
  doc.Parse(reinterpret_cast<const char*>(text.data()), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return Malformed("not a JSON object");
  KeyringFile f;
  HYGIE_ASSIGN_OR_RETURN(uint64_t format, UintMember(doc, "format", 1000));
  if (format != kFormatVersion) {
    return FailedPrecondition("unsupported keyring format " + std::to_string(format));
  }
  HYGIE_ASSIGN_OR_RETURN(const JsonValue* kek, Member(doc, "kek"));
  if (!kek->IsObject()) return Malformed("\"kek\" is not an object");
  HYGIE_ASSIGN_OR_RETURN(std::string_view kind, StringMember(*kek, "kind"));
  if (kind == "key-file") {
    f.kind = KekSource::Kind::kKeyFile;
  } else if (kind == "passphrase") {
    f.kind = KekSource::Kind::kPassphrase;
    HYGIE_ASSIGN_OR_RETURN(std::string_view kdf, StringMember(*kek, "kdf"));
    if (kdf != "scrypt") return Malformed("unknown kdf");
    HYGIE_ASSIGN_OR_RETURN(f.salt, Base64Member(*kek, "salt"));
    if (f.salt.size() < kSaltSize) return Malformed("scrypt salt too short");
    HYGIE_ASSIGN_OR_RETURN(f.scrypt.n, UintMember(*kek, "n", kMaxScryptN));
    HYGIE_ASSIGN_OR_RETURN(uint64_t r, UintMember(*kek, "r", 64));
    HYGIE_ASSIGN_OR_RETURN(uint64_t p, UintMember(*kek, "p", 16));
    f.scrypt.r = static_cast<uint32_t>(r);
    f.scrypt.p = static_cast<uint32_t>(p);
    Status s = CheckScrypt(f.scrypt);
    if (!s.ok()) return Malformed(s.message());
  } else {
    return Malformed("unknown kek kind");
  }
  HYGIE_ASSIGN_OR_RETURN(f.check, Base64Member(doc, "kek_check"));
  HYGIE_ASSIGN_OR_RETURN(const JsonValue* tenants, Member(doc, "tenants"));
  if (!tenants->IsObject()) return Malformed("\"tenants\" is not an object");
  for (const auto& m : tenants->GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    if (!ValidTenantName(name)) return Malformed("invalid tenant name");
    HYGIE_ASSIGN_OR_RETURN(TenantRecord t, ParseTenant(m.value));
    if (!f.tenants.emplace(std::move(name), std::move(t)).second) {
      return Malformed("duplicate tenant");
    }
  }
  return f;
}

std::string SerializeKeyringFile(const KeyringFile& f) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  auto str = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("format");
  w.Int(f.format);
  w.Key("kek");
  w.StartObject();
  w.Key("kind");
  if (f.kind == KekSource::Kind::kKeyFile) {
    str("key-file");
  } else {
    str("passphrase");
    w.Key("kdf");
    str("scrypt");
    w.Key("salt");
    str(Base64Encode(f.salt));
    w.Key("n");
    w.Uint64(f.scrypt.n);
    w.Key("r");
    w.Uint(f.scrypt.r);
    w.Key("p");
    w.Uint(f.scrypt.p);
  }
  w.EndObject();
  w.Key("kek_check");
  str(Base64Encode(f.check));
  w.Key("tenants");
  w.StartObject();
  for (const auto& [name, t] : f.tenants) {
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.StartObject();
    w.Key("active_data_key");
    w.Uint(t.active);
    w.Key("data_keys");
    w.StartArray();
    for (const DataKeyRecord& k : t.data_keys) {
      w.StartObject();
      w.Key("id");
      w.Uint(k.id);
      w.Key("created_us");
      w.Int64(k.created_us);
      w.Key("wrapped");
      str(Base64Encode(k.wrapped));
      w.EndObject();
    }
    w.EndArray();
    w.Key("index_key");
    str(Base64Encode(t.index_wrapped));
    w.Key("audit_seed");
    str(Base64Encode(t.audit_wrapped));
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  std::string out(sb.GetString(), sb.GetSize());
  out += '\n';
  return out;
}

struct FileContents {
  Bytes text;
  FileId id;
};

Result<FileContents> ReadKeyringJson(const std::string& dir) {
  const std::string path = Join(dir, kJsonName);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound("no keyring in " + dir);
    return Unavailable(Errno("cannot open " + path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Unavailable(Errno("cannot stat " + path));
  if (!S_ISREG(st.st_mode)) return DataLoss(path + " is not a regular file");
  FileContents c;
  c.id = IdOf(st);
  HYGIE_ASSIGN_OR_RETURN(c.text, ReadAll(fd.get(), kMaxKeyringFileSize, path));
  return c;
}

// Replaces keyring.json with env.WriteFileAtomic (keyring.json.tmp created afresh with mode
// 0600, fsync, rename, fsync of the directory) and returns the identity of the new version.
// The caller holds the writer lock, so no other writer can replace it before the stat.
Result<FileId> WriteKeyringJson(Env& env, const std::string& dir, const std::string& text) {
  const std::string path = Join(dir, kJsonName);
  Status s = env.WriteFileAtomic(path, text, 0600);
  if (!s.ok()) return Unavailable("cannot write " + path + ": " + s.message());
  struct stat st;
  // After the rename, which may have changed the inode's ctime.
  if (::stat(path.c_str(), &st) != 0) return Unavailable(Errno("cannot stat " + path));
  return IdOf(st);
}

// Exclusive flock on keyring.lock, released on destruction (close).
class WriterLock {
 public:
  static Result<std::unique_ptr<WriterLock>> Acquire(const std::string& dir) {
    const std::string path = Join(dir, kLockName);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Unavailable(Errno("cannot open " + path));
    auto lock = std::unique_ptr<WriterLock>(new WriterLock(fd));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return Unavailable(Errno("cannot lock " + path));
    }
    return lock;
  }

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  Fd fd_;
};

Status CheckKek(const SecretKey& kek, const KeyringFile& f) {
  auto plain = AeadOpen(kek, f.check, AsBytes(kCheckAad));
  if (!plain.ok() || !ConstantTimeEquals(*plain, AsBytes(kCheckPlaintext))) {
    return PermissionDenied(std::string(kWrongKek));
  }
  return Status::Ok();
}

Result<SecretKey> Unwrap(const SecretKey& kek, ByteView wrapped, std::string_view tenant,
                         std::string_view purpose, uint32_t id) {
  auto plain = AeadOpen(kek, wrapped, AsBytes(WrapAad(tenant, purpose, id)));
  if (!plain.ok() || plain->size() != kKeySize) {
    if (plain.ok()) Wipe(*plain);
    return DataLoss("keyring.json: the " + std::string(purpose) + " key " + std::to_string(id) +
                    " of tenant " + std::string(tenant) +
                    " fails to decrypt (altered, or moved from another tenant or purpose)");
  }
  SecretKey key = SecretKey::FromBytes(*plain);
  Wipe(*plain);
  return key;
}

Result<Bytes> Wrap(const SecretKey& kek, const SecretKey& key, std::string_view tenant,
                   std::string_view purpose, uint32_t id) {
  return AeadSeal(kek, key.bytes(), AsBytes(WrapAad(tenant, purpose, id)));
}

Result<std::shared_ptr<const TenantKeys>> UnwrapTenant(const SecretKey& kek,
                                                       const std::string& name,
                                                       const TenantRecord& t) {
  std::map<uint32_t, SecretKey> data;
  for (const DataKeyRecord& r : t.data_keys) {
    HYGIE_ASSIGN_OR_RETURN(SecretKey k, Unwrap(kek, r.wrapped, name, "data", r.id));
    data.emplace(r.id, std::move(k));
  }
  HYGIE_ASSIGN_OR_RETURN(SecretKey index, Unwrap(kek, t.index_wrapped, name, "index", 0));
  HYGIE_ASSIGN_OR_RETURN(SecretKey audit, Unwrap(kek, t.audit_wrapped, name, "audit", 0));
  return std::make_shared<const TenantKeys>(name, std::move(data), t.active, std::move(index),
                                            std::move(audit));
}

}  // namespace

// ----- TenantKeys ---------------------------------------------------------------------------

TenantKeys::TenantKeys(std::string tenant, std::map<uint32_t, SecretKey> data_keys, uint32_t active,
                       SecretKey index_key, SecretKey audit_seed)
    : tenant_(std::move(tenant)),
      data_keys_(std::move(data_keys)),
      active_(active),
      index_key_(std::move(index_key)),
      audit_seed_(std::move(audit_seed)) {}

const SecretKey* TenantKeys::data_key(uint32_t id) const {
  auto it = data_keys_.find(id);
  return it == data_keys_.end() ? nullptr : &it->second;
}

// ----- Keyring ------------------------------------------------------------------------------

struct Keyring::State {
  KeyringFile file;
  std::map<std::string, std::shared_ptr<const TenantKeys>, std::less<>> keys;
  FileId id;
};

namespace {

// Unwraps every tenant of `file`, reusing the snapshots of `previous` for tenants whose
// records did not change (so holders keep comparing equal, and no work is redone).
template <typename State>
Result<std::unique_ptr<State>> BuildState(const SecretKey& kek, KeyringFile file, FileId id,
                                          const State* previous) {
  HYGIE_RETURN_IF_ERROR(CheckKek(kek, file));
  auto state = std::make_unique<State>();
  for (const auto& [name, record] : file.tenants) {
    if (previous != nullptr) {
      auto old_record = previous->file.tenants.find(name);
      auto old_keys = previous->keys.find(name);
      if (old_record != previous->file.tenants.end() && old_keys != previous->keys.end() &&
          old_record->second == record) {
        state->keys.emplace(name, old_keys->second);
        continue;
      }
    }
    HYGIE_ASSIGN_OR_RETURN(auto keys, UnwrapTenant(kek, name, record));
    state->keys.emplace(name, std::move(keys));
  }
  state->file = std::move(file);
  state->id = id;
  return state;
}

// Removes what a failed Create made: the key file it created, and the directory if it made
// it. Never keyring.json (Create removes its own under the writer lock).
class CreateCleanup {
 public:
  explicit CreateCleanup(std::string dir) : dir_(std::move(dir)) {}
  ~CreateCleanup() {
    if (done_) return;
    if (!key_file_.empty()) ::unlink(key_file_.c_str());
    if (made_dir_) {
      ::unlink(Join(dir_, kTmpName).c_str());
      ::unlink(Join(dir_, kLockName).c_str());
      ::rmdir(dir_.c_str());
    }
  }
  CreateCleanup(const CreateCleanup&) = delete;
  CreateCleanup& operator=(const CreateCleanup&) = delete;
  void MadeDir() { made_dir_ = true; }
  void MadeKeyFile(std::string path) { key_file_ = std::move(path); }
  void Done() { done_ = true; }

 private:
  std::string dir_;
  std::string key_file_;
  bool made_dir_ = false;
  bool done_ = false;
};

// True if `dir` holds nothing but, perhaps, a lock file left by an earlier failed Create.
Result<bool> IsEmptyDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Unavailable(Errno("cannot read directory " + dir));
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != ".." && name != kLockName) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

}  // namespace

Keyring::Keyring(std::string dir, SecretKey kek, Env& env)
    : dir_(std::move(dir)), kek_(std::move(kek)), env_(env) {}
Keyring::~Keyring() = default;

Result<std::unique_ptr<Keyring>> Keyring::Create(const std::string& dir, const KekSource& kek,
                                                 Env& env) {
  if (dir.empty()) return InvalidArgument("no keyring directory given");
  if (kek.kind == KekSource::Kind::kPassphrase) {
    if (kek.passphrase.empty()) return InvalidArgument("the passphrase is empty");
    HYGIE_RETURN_IF_ERROR(CheckScrypt(kek.scrypt));
    if (kek.scrypt.n < kMinScryptN) return InvalidArgument("scrypt n must be at least 2^14");
  } else if (kek.key_file.empty()) {
    return InvalidArgument("no key file given");
  }

  CreateCleanup cleanup(dir);
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return AlreadyExists(dir + " exists and is not a directory");
    HYGIE_ASSIGN_OR_RETURN(bool empty, IsEmptyDir(dir));
    if (!empty) return AlreadyExists("keyring directory " + dir + " is not empty");
  } else if (errno == ENOENT) {
    if (::mkdir(dir.c_str(), 0700) != 0) {
      return Unavailable(Errno("cannot create keyring directory " + dir));
    }
    cleanup.MadeDir();
  } else {
    return Unavailable(Errno("cannot stat " + dir));
  }
  if (::chmod(dir.c_str(), 0700) != 0) return Unavailable(Errno("cannot chmod " + dir));

  KeyringFile file;
  file.kind = kek.kind;
  SecretKey key;
  if (kek.kind == KekSource::Kind::kKeyFile) {
    HYGIE_ASSIGN_OR_RETURN(key, CreateKeyFile(kek.key_file));
    cleanup.MadeKeyFile(kek.key_file);
  } else {
    HYGIE_ASSIGN_OR_RETURN(file.salt, RandomBytes(kSaltSize));
    file.scrypt = kek.scrypt;
    HYGIE_ASSIGN_OR_RETURN(key, Scrypt(kek.passphrase, file.salt, file.scrypt));
  }
  HYGIE_ASSIGN_OR_RETURN(file.check, AeadSeal(key, AsBytes(kCheckPlaintext), AsBytes(kCheckAad)));

  std::unique_ptr<Keyring> keyring(new Keyring(dir, std::move(key), env));
  {
    HYGIE_ASSIGN_OR_RETURN(auto lock, WriterLock::Acquire(dir));
    const std::string json_path = Join(dir, kJsonName);
    struct stat json_st;
    if (::lstat(json_path.c_str(), &json_st) == 0) {
      return AlreadyExists("a keyring already exists in " + dir);
    }
    auto id = WriteKeyringJson(env, dir, SerializeKeyringFile(file));
    if (!id.ok()) {
      ::unlink(json_path.c_str());  // ours: absent above, and the lock is held
      return id.status();
    }
    auto state = std::make_unique<State>();
    state->file = std::move(file);
    state->id = *id;
    keyring->state_ = std::move(state);
  }
  cleanup.Done();
  return keyring;
}

Result<std::unique_ptr<Keyring>> Keyring::Open(const std::string& dir, const KekSource& kek,
                                               Env& env) {
  HYGIE_ASSIGN_OR_RETURN(FileContents contents, ReadKeyringJson(dir));
  HYGIE_ASSIGN_OR_RETURN(KeyringFile file, ParseKeyringFile(contents.text));
  if (file.kind != kek.kind) {
    return FailedPrecondition(file.kind == KekSource::Kind::kKeyFile
                                  ? "the keyring in " + dir + " is protected by a key file"
                                  : "the keyring in " + dir + " is protected by a passphrase");
  }
  SecretKey key;
  if (kek.kind == KekSource::Kind::kKeyFile) {
    HYGIE_ASSIGN_OR_RETURN(key, ReadKeyFile(kek.key_file));
  } else {
    HYGIE_ASSIGN_OR_RETURN(key, Scrypt(kek.passphrase, file.salt, file.scrypt));
  }
  HYGIE_ASSIGN_OR_RETURN(auto state, BuildState<State>(key, std::move(file), contents.id, nullptr));
  std::unique_ptr<Keyring> keyring(new Keyring(dir, std::move(key), env));
  keyring->state_ = std::move(state);
  return keyring;
}

Status Keyring::LoadLocked() {
  struct stat st;
  const std::string path = Join(dir_, kJsonName);
  if (::stat(path.c_str(), &st) != 0) return Unavailable(Errno("cannot stat " + path));
  if (state_ != nullptr && IdOf(st) == state_->id) return Status::Ok();
  HYGIE_ASSIGN_OR_RETURN(FileContents contents, ReadKeyringJson(dir_));
  HYGIE_ASSIGN_OR_RETURN(KeyringFile file, ParseKeyringFile(contents.text));
  if (state_ != nullptr && file.kind != state_->file.kind) {
    return FailedPrecondition("the keyring's key-encryption key kind changed");
  }
  HYGIE_ASSIGN_OR_RETURN(auto state,
                         BuildState<State>(kek_, std::move(file), contents.id, state_.get()));
  state_ = std::move(state);
  return Status::Ok();
}

Status Keyring::Reload() {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked();
}

Status Keyring::MutateAndSave(const std::function<Status(State&)>& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  HYGIE_ASSIGN_OR_RETURN(auto writer_lock, WriterLock::Acquire(dir_));
  // Another process may have written since our last read.
  HYGIE_RETURN_IF_ERROR(LoadLocked());
  State next = *state_;
  HYGIE_RETURN_IF_ERROR(mutate(next));
  HYGIE_ASSIGN_OR_RETURN(next.id, WriteKeyringJson(env_, dir_, SerializeKeyringFile(next.file)));
  *state_ = std::move(next);
  return Status::Ok();
}

Status Keyring::AddTenant(std::string_view tenant) {
  HYGIE_RETURN_IF_ERROR(CheckTenantName(tenant));
  const std::string name(tenant);
  return MutateAndSave([&](State& s) -> Status {
    if (s.file.tenants.contains(name)) {
      return AlreadyExists("tenant " + name + " already has keys");
    }
    HYGIE_ASSIGN_OR_RETURN(SecretKey data, SecretKey::Generate(kKeySize));
    HYGIE_ASSIGN_OR_RETURN(SecretKey index, SecretKey::Generate(kKeySize));
    HYGIE_ASSIGN_OR_RETURN(SecretKey audit, SecretKey::Generate(kKeySize));
    TenantRecord record;
    record.active = 1;
    DataKeyRecord first;
    first.id = 1;
    first.created_us = SystemClock::Get().NowMicros();
    HYGIE_ASSIGN_OR_RETURN(first.wrapped, Wrap(kek_, data, name, "data", 1));
    record.data_keys.push_back(std::move(first));
    HYGIE_ASSIGN_OR_RETURN(record.index_wrapped, Wrap(kek_, index, name, "index", 0));
    HYGIE_ASSIGN_OR_RETURN(record.audit_wrapped, Wrap(kek_, audit, name, "audit", 0));
    std::map<uint32_t, SecretKey> data_keys;
    data_keys.emplace(1, std::move(data));
    s.keys[name] = std::make_shared<const TenantKeys>(name, std::move(data_keys), 1,
                                                      std::move(index), std::move(audit));
    s.file.tenants.emplace(name, std::move(record));
    return Status::Ok();
  });
}

Result<uint32_t> Keyring::RotateDataKey(std::string_view tenant) {
  HYGIE_RETURN_IF_ERROR(CheckTenantName(tenant));
  const std::string name(tenant);
  uint32_t new_id = 0;
  HYGIE_RETURN_IF_ERROR(MutateAndSave([&](State& s) -> Status {
    auto record = s.file.tenants.find(name);
    auto current = s.keys.find(name);
    if (record == s.file.tenants.end() || current == s.keys.end()) {
      return NotFound("no keys for tenant " + name);
    }
    const uint32_t last = record->second.data_keys.back().id;
    if (last == std::numeric_limits<uint32_t>::max()) {
      return ResourceExhausted("tenant " + name + " has no data key ids left");
    }
    new_id = last + 1;
    HYGIE_ASSIGN_OR_RETURN(SecretKey fresh, SecretKey::Generate(kKeySize));
    DataKeyRecord r;
    r.id = new_id;
    r.created_us = SystemClock::Get().NowMicros();
    HYGIE_ASSIGN_OR_RETURN(r.wrapped, Wrap(kek_, fresh, name, "data", new_id));

    const TenantKeys& old = *current->second;
    std::map<uint32_t, SecretKey> data_keys;
    for (const DataKeyRecord& k : record->second.data_keys) {
      data_keys.emplace(k.id, SecretKey::FromBytes(old.data_key(k.id)->bytes()));
    }
    data_keys.emplace(new_id, std::move(fresh));
    TenantRecord updated = record->second;
    updated.data_keys.push_back(std::move(r));
    updated.active = new_id;
    current->second = std::make_shared<const TenantKeys>(
        name, std::move(data_keys), new_id, SecretKey::FromBytes(old.index_key().bytes()),
        SecretKey::FromBytes(old.audit_seed().bytes()));
    record->second = std::move(updated);
    return Status::Ok();
  }));
  return new_id;
}

bool Keyring::HasTenant(std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_->keys.find(tenant) != state_->keys.end();
}

std::vector<std::string> Keyring::Tenants() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(state_->keys.size());
  for (const auto& [name, keys] : state_->keys) out.push_back(name);
  return out;  // std::map order: sorted
}

Result<std::shared_ptr<const TenantKeys>> Keyring::Tenant(std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_->keys.find(tenant);
  if (it == state_->keys.end()) return NotFound("no keys for tenant " + std::string(tenant));
  return it->second;
}

Result<Bytes> Keyring::SealWithKek(ByteView plaintext, std::string_view purpose) const {
  if (purpose.empty()) return InvalidArgument("a purpose is required");
  return AeadSeal(kek_, plaintext, AsBytes(KekAad(purpose)));
}

Result<Bytes> Keyring::OpenWithKek(ByteView sealed, std::string_view purpose) const {
  if (purpose.empty()) return InvalidArgument("a purpose is required");
  return AeadOpen(kek_, sealed, AsBytes(KekAad(purpose)));
}

}  // namespace hygie::crypto
