#pragma once
// Installation: a Hygie data directory and what it holds.
//
//   DIR/                 mode 0700
//     hygie.json         installation settings (id, token issuer and audience, KEK kind)
//     kek.key            the key-encryption key, when it is a key file (mode 0600; may be
//                        placed elsewhere with --kek-file)
//     keyring/           tenant keys wrapped by the KEK (see crypto/keyring.h)
//     issuer/signing.key the built-in token issuer's private key, sealed by the KEK
//     tls/               self-signed certificate and key for non-loopback listeners
//     tenants/<name>/    one storage namespace per tenant
//     audit/             the audit journal, one tree per tenant plus _system
//                        (docs/audit-journal.md); may live elsewhere with --audit-dir
//     audit-system.key   the seed of the _system tree's keys, sealed by the KEK
//
// Not thread-safe; used by the command line at start-up.

#include <memory>
#include <string>

#include "audit/journal.h"
#include "audit/record.h"
#include "auth/token.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/status.h"
#include "crypto/keyring.h"

namespace hygie::cli {

struct InitOptions {
  std::string data_dir;
  std::string kek_file;        // empty: DIR/kek.key
  std::string passphrase_env;  // non-empty: the KEK comes from this environment variable
  Env* env = &Env::Default();  // writes the keyring and the settings files
};

struct Installation {
  std::string data_dir;
  std::string installation_id;
  std::string issuer;
  std::string audience;
  std::unique_ptr<crypto::Keyring> keyring;
  std::string audit_dir;       // DATA/audit unless --audit-dir says otherwise
  Env* env = &Env::Default();  // writes the keyring and the settings files

  std::string tenants_dir() const { return data_dir + "/tenants"; }
  std::string tls_cert() const { return data_dir + "/tls/server.crt"; }
  std::string tls_key() const { return data_dir + "/tls/server.key"; }

  Result<crypto::SigningKey> IssuerKey() const;
  // The seed of the _system audit tree (created on first use).
  Result<crypto::SecretKey> SystemAuditSeed() const;
  // Checkpoint origins are "<prefix>/<tree>".
  std::string AuditOriginPrefix() const { return "hygie/" + installation_id; }
  // The audit journal, keyed by the keyring (tenant trees) and SystemAuditSeed (_system).
  // `batch_window_us`: JournalOptions::batch_window_us (a server's --audit-batch-window-us).
  Result<std::unique_ptr<audit::Journal>> OpenJournal(const Clock& clock,
                                                      int64_t batch_window_us = 1000) const;
};

// Records an act of the command line in the _system tree: directly when no server owns the
// journal, else through the spool that the server ingests. The act must not proceed on error.
Status RecordCliAct(const Installation& inst, audit::Record record);

// Appends `record` to `tree` of the journal, durably; when a running server owns the journal,
// spools it instead (numbered and sealed, audit/spool.h) for the server to move in.
Status JournalOrSpool(const Installation& inst, std::string_view tree, const audit::Record& record);

// Creates a new data directory. Refuses an existing non-empty directory. On failure, removes
// what it created.
Status InitInstallation(const InitOptions& options);

// Opens an existing data directory. passphrase_env names the environment variable holding the
// passphrase when the installation uses one.
Result<Installation> OpenInstallation(const std::string& data_dir,
                                      const std::string& passphrase_env, Env& env = Env::Default());

}  // namespace hygie::cli
