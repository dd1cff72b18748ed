#pragma once
// The manifest of a backup chain: one signed entry per shipped pack, numbered 0, 1, 2, ... and
// hash-chained (each entry names the SHA-256 of the previous entry's object), signed with the
// chain's Ed25519 manifest key. Reading the entries in order from 0 tells what the target must
// hold; verification finds a missing, altered, inserted or reordered entry or pack
// (format: backup_format.h, docs/backup-format.md).
//
// Also the chain's keys, derived from the tenant's (or the _system tree's) seed in the keyring,
// so that destroying the tenant's keys makes every backup of it unreadable (crypto-shredding).
//
// Plain values and functions; thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/journal_export.h"
#include "backup/pack.h"
#include "core/status.h"
#include "crypto/secret.h"
#include "crypto/signing.h"

namespace hygie::backup {

struct ChainKeys {
  crypto::SecretKey pack_key;
  std::unique_ptr<crypto::SigningKey> signer;
  std::unique_ptr<crypto::PublicKey> verifier;
  // From a 32-byte seed (TenantKeys::audit_seed(), or the _system tree's seed).
  static Result<ChainKeys> Derive(const crypto::SecretKey& seed);
};

struct JournalRange {
  std::string file;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct ManifestEntry {
  uint64_t n = 0;
  std::string prev;  // hex SHA-256 of entry n-1's object; empty for entry 0
  int64_t created_us = 0;
  std::string pack;  // hex SHA-256 of the pack object (its name)
  uint64_t pack_bytes = 0;
  // Versions in the pack: seqs first_seq..last_seq (0 and 0 when none), how many, the
  // newest last_updated_us among them.
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t versions = 0;
  int64_t max_ts_us = 0;
  // The newest seq shipped by the chain up to and including this entry.
  uint64_t shipped_seq = 0;
  // Journal bytes in the pack, and how far the tree is exported once they are applied.
  std::vector<JournalRange> journal;
  audit::ExportCursor journal_cursor;
  // Running totals over the chain up to and including this entry.
  uint64_t total_versions = 0;
  uint64_t total_bytes = 0;
  // A base snapshot entry ships no pack of its own ("pack" is empty, no versions, no journal
  // bytes): `base` lists, in order, the packs that together hold every version up to
  // shipped_seq and the journal up to journal_cursor, most of them packs the target already
  // held; base_new of them were written for this snapshot.
  std::vector<std::string> base;
  uint64_t base_new = 0;
  // The newest base snapshot entry at or before this one (this one for a base), if any.
  std::optional<uint64_t> last_base;
  int64_t last_base_us = 0;
  bool is_base() const { return !base.empty(); }
};

// The entry's object: JSON line and signature line.
Result<std::string> EncodeManifestEntry(const ManifestEntry& entry, const ChainId& chain,
                                        const crypto::SigningKey& signer);
// Parses and checks an entry object: the signature, the chain it names, the fields' types.
// kDataLoss for anything else.
Result<ManifestEntry> DecodeManifestEntry(std::string_view object, const ChainId& chain,
                                          const crypto::PublicKey& verifier);

// Object names within a chain's prefix.
std::string ChainPrefix(const ChainId& chain);
std::string ManifestName(const ChainId& chain, uint64_t n);
std::string PackName(const ChainId& chain, std::string_view digest);
// The n of a manifest object's name within the chain's prefix ("manifest/00000000000000000012"),
// or false for any other name.
bool ParseManifestName(std::string_view relative, uint64_t* n);

}  // namespace hygie::backup
