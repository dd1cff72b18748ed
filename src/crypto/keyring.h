#pragma once
// Keyring: the key hierarchy of one Hygie installation.
//
//   KEK (32-byte key file with mode 0600, or a passphrase through scrypt)
//     -> per-tenant keys: data keys (numbered, rotated; old ones kept for reading),
//        an index key (keyed hashes of search values), an audit signing seed.
//
// On disk the keyring is a directory kept apart from tenant data: `keyring.json` holds
// every tenant key wrapped (AES-256-GCM) by the KEK, with associated data naming the tenant,
// purpose and key id, plus a KEK check value so a wrong KEK is reported as such. Writers take
// an exclusive flock on `keyring.lock` and replace `keyring.json` with Env::WriteFileAtomic
// (temporary file, fsync, rename, directory fsync); so the CLI can add tenants while a server
// runs, and a crash never leaves a half-written keyring.
//
// Thread-safe: all methods may be called concurrently. TenantKeys objects are immutable
// snapshots, shared by pointer; keys are wiped when the last holder releases them.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/status.h"
#include "crypto/secret.h"

namespace hygie::crypto {

struct ScryptParams {
  uint64_t n = 1u << 17;  // 128 MiB with r = 8
  uint32_t r = 8;
  uint32_t p = 1;
};

// Where the KEK comes from. Exactly one of key_file / passphrase is used.
struct KekSource {
  enum class Kind { kKeyFile, kPassphrase };
  Kind kind = Kind::kKeyFile;
  std::string key_file;    // kKeyFile: path of the 32-byte key file (must be mode 0600)
  std::string passphrase;  // kPassphrase: the passphrase (never logged)
  ScryptParams scrypt;     // kPassphrase, used by Create only (Open reads them from disk)
};

class TenantKeys {
 public:
  TenantKeys(std::string tenant, std::map<uint32_t, SecretKey> data_keys, uint32_t active,
             SecretKey index_key, SecretKey audit_seed);
  const std::string& tenant() const { return tenant_; }
  uint32_t active_data_key_id() const { return active_; }
  const SecretKey& active_data_key() const { return data_keys_.at(active_); }
  // nullptr for an unknown id.
  const SecretKey* data_key(uint32_t id) const;
  const SecretKey& index_key() const { return index_key_; }
  const SecretKey& audit_seed() const { return audit_seed_; }
  size_t data_key_count() const { return data_keys_.size(); }

 private:
  std::string tenant_;
  std::map<uint32_t, SecretKey> data_keys_;
  uint32_t active_;
  SecretKey index_key_;
  SecretKey audit_seed_;
};

class Keyring {
 public:
  ~Keyring();
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // Creates a keyring in `dir` (created with mode 0700; must not exist or be empty).
  // kKeyFile: generates a random KEK into key_file (mode 0600; must not exist).
  // kPassphrase: derives the KEK from the passphrase with scrypt and a random salt.
  // `env` writes keyring.json (tests pass a fault-injecting one); it must outlive the keyring.
  static Result<std::unique_ptr<Keyring>> Create(const std::string& dir, const KekSource& kek,
                                                 Env& env = Env::Default());
  // Opens an existing keyring. A wrong KEK gives kPermissionDenied with a clear message; a key
  // file readable by group or others gives kFailedPrecondition.
  static Result<std::unique_ptr<Keyring>> Open(const std::string& dir, const KekSource& kek,
                                               Env& env = Env::Default());

  // Re-reads keyring.json if another process changed it since the last read.
  Status Reload();

  // Adds a tenant with data key 1, an index key and an audit seed. kAlreadyExists if present.
  Status AddTenant(std::string_view tenant);
  // Adds a new data key and makes it active; returns its id. Older keys stay for reading.
  Result<uint32_t> RotateDataKey(std::string_view tenant);

  bool HasTenant(std::string_view tenant) const;
  std::vector<std::string> Tenants() const;  // sorted
  // kNotFound for an unknown tenant.
  Result<std::shared_ptr<const TenantKeys>> Tenant(std::string_view tenant) const;

  // Seals/opens a small secret (e.g. the token issuer's private key) under the KEK, bound to
  // `purpose`.
  Result<Bytes> SealWithKek(ByteView plaintext, std::string_view purpose) const;
  Result<Bytes> OpenWithKek(ByteView sealed, std::string_view purpose) const;

 private:
  struct State;
  Keyring(std::string dir, SecretKey kek, Env& env);
  Status LoadLocked();
  Status MutateAndSave(const std::function<Status(State&)>& mutate);

  std::string dir_;
  SecretKey kek_;
  Env& env_;
  mutable std::mutex mu_;
  std::unique_ptr<State> state_;  // GUARDED_BY(mu_)
};

}  // namespace hygie::crypto
