#include "cli/installation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.h"
#include "core/env.h"
#include "crypto/primitives.h"
#include "crypto/signing.h"

namespace hygie::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kIssuerPurpose = "token-issuer";
constexpr std::string_view kAuditSystemPurpose = "audit-system";

// Replaces a settings or sealed-key file whole (Env::WriteFileAtomic).
Status WriteFileAtomic(Env& env, const std::string& path, std::string_view content, mode_t mode) {
  Status s = env.WriteFileAtomic(path, content, mode);
  if (!s.ok()) return Unavailable("cannot write " + path + ": " + s.message());
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Unavailable("cannot create directory " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<crypto::KekSource> KekFrom(const std::string& kind, const std::string& key_file,
                                  const std::string& passphrase_env) {
  crypto::KekSource kek;
  if (kind == "key-file") {
    kek.kind = crypto::KekSource::Kind::kKeyFile;
    kek.key_file = key_file;
    return kek;
  }
  if (kind != "passphrase") return FailedPrecondition("hygie.json names an unknown KEK kind");
  if (passphrase_env.empty()) {
    return InvalidArgument(
        "this data directory's key-encryption key comes from a passphrase: pass "
        "--passphrase-env VAR with the passphrase in the environment variable VAR");
  }
  const char* pass = std::getenv(passphrase_env.c_str());
  if (pass == nullptr || *pass == '\0') {
    return InvalidArgument("environment variable " + passphrase_env + " is not set or empty");
  }
  kek.kind = crypto::KekSource::Kind::kPassphrase;
  kek.passphrase = pass;
  return kek;
}

Status DoInit(const InitOptions& options, const std::string& dir) {
  Env& env = *options.env;
  std::string kek_file = options.kek_file.empty() ? dir + "/kek.key" : options.kek_file;
  HYGIE_ASSIGN_OR_RETURN(crypto::KekSource kek,
                         KekFrom(options.passphrase_env.empty() ? "key-file" : "passphrase",
                                 kek_file, options.passphrase_env));
  HYGIE_ASSIGN_OR_RETURN(auto keyring, crypto::Keyring::Create(dir + "/keyring", kek, env));

  HYGIE_RETURN_IF_ERROR(MakeDir(dir + "/tls"));
  HYGIE_RETURN_IF_ERROR(crypto::WriteSelfSignedCertificate(dir + "/tls/server.crt",
                                                           dir + "/tls/server.key", "localhost"));

  HYGIE_RETURN_IF_ERROR(MakeDir(dir + "/issuer"));
  HYGIE_ASSIGN_OR_RETURN(auto signing, crypto::SigningKey::Generate(crypto::SignatureAlg::kEs256));
  HYGIE_ASSIGN_OR_RETURN(std::string pem, signing.PrivatePem());
  auto sealed = keyring->SealWithKek(AsBytes(pem), kIssuerPurpose);
  crypto::Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(pem.data()), pem.size()));
  if (!sealed.ok()) return sealed.status();
  HYGIE_RETURN_IF_ERROR(WriteFileAtomic(env, dir + "/issuer/signing.key",
                                        crypto::Base64Encode(*sealed) + "\n", 0600));

  HYGIE_RETURN_IF_ERROR(MakeDir(dir + "/tenants"));

  std::string id = crypto::RandomId();
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("format");
  w.Int(1);
  w.Key("installation_id");
  w.String(id);
  w.Key("issuer");
  w.String("urn:hygie:issuer:" + id);
  w.Key("audience");
  w.String("urn:hygie:fhir:" + id);
  w.Key("kek");
  w.StartObject();
  w.Key("kind");
  w.String(options.passphrase_env.empty() ? "key-file" : "passphrase");
  if (options.passphrase_env.empty()) {
    w.Key("key_file");
    w.String(fs::absolute(kek_file).string());
  }
  w.EndObject();
  w.Key("created");
  w.String(FormatInstant(SystemClock::Get().NowMicros()));
  w.EndObject();
  std::string json = std::string(sb.GetString()) + "\n";
  return WriteFileAtomic(env, dir + "/hygie.json", json, 0600);
}

}  // namespace

Status InitInstallation(const InitOptions& options) {
  if (options.data_dir.empty()) return InvalidArgument("--data is required");
  const std::string& dir = options.data_dir;
  std::error_code ec;
  bool existed = fs::exists(dir, ec);
  if (existed) {
    if (!fs::is_directory(dir, ec)) return AlreadyExists(dir + " exists and is not a directory");
    if (!fs::is_empty(dir, ec)) {
      return AlreadyExists("data directory " + dir +
                           " exists and is not empty; Hygie will not touch it");
    }
    ::chmod(dir.c_str(), 0700);
  }
  // The outermost folder this init creates (missing parents are created too, mode 0700).
  fs::path created;
  if (!existed) {
    fs::path p = fs::absolute(dir, ec);
    while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) {
      created = p;
      p = p.parent_path();
    }
    Status made = Env::Default().CreateDirs(dir, 0700);
    if (!made.ok()) return Unavailable("cannot create " + dir + ": " + made.message());
  }
  Status s = DoInit(options, dir);
  if (!s.ok()) {
    // Leave nothing half-made behind.
    for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
    if (!existed && !created.empty()) fs::remove_all(created, ec);
    if (!options.kek_file.empty()) fs::remove(options.kek_file, ec);
  }
  return s;
}

Result<Installation> OpenInstallation(const std::string& data_dir,
                                      const std::string& passphrase_env, Env& env) {
  if (data_dir.empty()) return InvalidArgument("--data is required");
  auto text = ReadFile(data_dir + "/hygie.json");
  if (!text.ok()) {
    return NotFound(data_dir + " is not a Hygie data directory (run 'hygie init --data " +
                    data_dir + "' first)");
  }
  rapidjson::Document doc;
  doc.Parse(text->data(), text->size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("installation_id") ||
      !doc["installation_id"].IsString() || !doc.HasMember("issuer") || !doc["issuer"].IsString() ||
      !doc.HasMember("audience") || !doc["audience"].IsString() || !doc.HasMember("kek") ||
      !doc["kek"].IsObject() || !doc["kek"].HasMember("kind") || !doc["kek"]["kind"].IsString()) {
    return DataLoss(data_dir + "/hygie.json is damaged");
  }
  Installation inst;
  inst.env = &env;
  inst.data_dir = data_dir;
  inst.installation_id = doc["installation_id"].GetString();
  inst.issuer = doc["issuer"].GetString();
  inst.audience = doc["audience"].GetString();
  std::string kind = doc["kek"]["kind"].GetString();
  std::string key_file = data_dir + "/kek.key";
  if (doc["kek"].HasMember("key_file") && doc["kek"]["key_file"].IsString()) {
    key_file = doc["kek"]["key_file"].GetString();
  }
  HYGIE_ASSIGN_OR_RETURN(crypto::KekSource kek, KekFrom(kind, key_file, passphrase_env));
  HYGIE_ASSIGN_OR_RETURN(inst.keyring, crypto::Keyring::Open(data_dir + "/keyring", kek, env));
  return inst;
}

Result<crypto::SigningKey> Installation::IssuerKey() const {
  HYGIE_ASSIGN_OR_RETURN(std::string text, ReadFile(data_dir + "/issuer/signing.key"));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  HYGIE_ASSIGN_OR_RETURN(Bytes sealed, crypto::Base64Decode(text));
  HYGIE_ASSIGN_OR_RETURN(Bytes pem, keyring->OpenWithKek(sealed, kIssuerPurpose));
  auto key = crypto::SigningKey::FromPrivatePem(AsChars(pem));
  crypto::Wipe(pem);
  return key;
}

Result<crypto::SecretKey> Installation::SystemAuditSeed() const {
  std::string path = data_dir + "/audit-system.key";
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (fs::exists(path)) return text.status();
    HYGIE_ASSIGN_OR_RETURN(crypto::SecretKey seed, crypto::SecretKey::Generate(32));
    HYGIE_ASSIGN_OR_RETURN(Bytes sealed, keyring->SealWithKek(seed.bytes(), kAuditSystemPurpose));
    HYGIE_RETURN_IF_ERROR(WriteFileAtomic(*env, path, crypto::Base64Encode(sealed) + "\n", 0600));
    return seed;
  }
  std::string t = std::move(text).value();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  HYGIE_ASSIGN_OR_RETURN(Bytes sealed, crypto::Base64Decode(t));
  HYGIE_ASSIGN_OR_RETURN(Bytes seed, keyring->OpenWithKek(sealed, kAuditSystemPurpose));
  crypto::SecretKey key = crypto::SecretKey::FromBytes(seed);
  crypto::Wipe(seed);
  return key;
}

Result<std::unique_ptr<audit::Journal>> Installation::OpenJournal(const Clock& clock,
                                                                  int64_t batch_window_us) const {
  audit::JournalOptions o;
  o.dir = audit_dir;
  o.origin_prefix = AuditOriginPrefix();
  o.batch_window_us = batch_window_us;
  o.env = env;
  const crypto::Keyring* ring = keyring.get();
  const Installation* self = this;
  o.seed_for = [ring, self](const std::string& tree) -> Result<crypto::SecretKey> {
    if (tree == audit::kSystemTree) return self->SystemAuditSeed();
    HYGIE_ASSIGN_OR_RETURN(auto keys, ring->Tenant(tree));
    return crypto::SecretKey::FromBytes(keys->audit_seed().bytes());
  };
  return audit::Journal::Open(std::move(o), clock);
}

Status RecordCliAct(const Installation& inst, audit::Record record) {
  if (record.time_us == 0) record.time_us = SystemClock::Get().NowMicros();
  if (record.request_id.empty()) record.request_id = crypto::RandomId();
  if (record.peer.empty()) record.peer = "local";
  if (record.role.empty()) record.role = "cli";
  if (record.subject.empty()) {
    const char* user = std::getenv("SUDO_USER");
    if (user == nullptr) user = std::getenv("USER");
    record.subject = user != nullptr ? user : "unknown";
  }
  return JournalOrSpool(inst, audit::kSystemTree, record);
}

Status JournalOrSpool(const Installation& inst, std::string_view tree,
                      const audit::Record& record) {
  HYGIE_ASSIGN_OR_RETURN(auto journal, inst.OpenJournal(SystemClock::Get()));
  Status s = journal->AppendSync(std::string(tree), {record});
  if (s.code() == Code::kFailedPrecondition) {
    // A server owns the journal: it moves the spooled record into the tree within a second.
    HYGIE_ASSIGN_OR_RETURN(crypto::SecretKey seed, inst.SystemAuditSeed());
    HYGIE_ASSIGN_OR_RETURN(crypto::SecretKey key, audit::SpoolKey(seed));
    return audit::SpoolRecord(inst.audit_dir, key, record, tree, *inst.env);
  }
  if (s.ok()) {
    // What waited in the spool (a server stopped before moving it) goes in now.
    auto moved = journal->IngestSpool();
    if (!moved.ok()) return moved.status();
  }
  return s;
}

}  // namespace hygie::cli
