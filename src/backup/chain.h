#pragma once
// A backup chain: the packs and signed manifest entries of one tenant (or of the _system audit
// tree) on one target, and the three things done with it: ship what is new, verify what the
// target holds, restore from it (docs/backup.md, docs/backup-format.md).
//
// The target is the truth of what was shipped: a shipper starts from the newest manifest entry
// it finds there, so a shipper killed at any point resumes without shipping a version twice and
// without a gap. One shipper per chain at a time (the caller holds the installation's backup
// lock).
//
// Thread-safety: functions are thread-safe for distinct chains.

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "audit/journal_export.h"
#include "backup/manifest.h"
#include "backup/pack.h"
#include "backup/target.h"
#include "core/clock.h"
#include "core/status.h"
#include "storage/store.h"

namespace hygie::backup {

// What a target holds of a chain, from its newest manifest entry.
struct ChainHead {
  bool empty = true;     // no entry yet
  ManifestEntry last;    // when !empty
  std::string digest;    // hex SHA-256 of the newest entry's object
  uint64_t entries = 0;  // last.n + 1, or 0
};

// Reads the newest manifest entry of the chain (its signature checked). kDataLoss when it does
// not verify.
Result<ChainHead> ReadHead(Target& target, const ChainId& chain, const ChainKeys& keys);

// What a chain ships from: the tenant's store (null for the _system chain) and its audit tree
// directory (may not exist yet).
struct ChainSource {
  storage::TenantStore* store = nullptr;
  std::string tree_dir;
};

struct ShipOptions {
  size_t max_pack_bytes = 8u << 20;  // body bytes per pack (before compression)
  size_t max_packs = std::numeric_limits<size_t>::max();  // per call
};

struct ShipResult {
  uint64_t packs = 0;
  uint64_t versions = 0;
  uint64_t journal_bytes = 0;
  uint64_t bytes = 0;  // sealed bytes put
};

// Ships everything committed since the chain's head: packs of versions and journal bytes, each
// followed by its manifest entry. *head is advanced as entries are put. A failure leaves the
// target consistent (a pack without its entry is ignored by readers and reported by verify as
// extra) and *head at the last entry put.
Result<ShipResult> ShipChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                             const ChainSource& source, const Clock& clock,
                             const ShipOptions& options, ChainHead* head);

// --- Verification ---
struct Problem {
  enum Kind { kMissing, kAltered, kExtra, kChain } kind;
  std::string object;  // the object's name
  std::string detail;
};

struct VerifyReport {
  uint64_t entries = 0;  // manifest entries that verified
  uint64_t packs = 0;    // packs that verified
  uint64_t versions = 0;
  uint64_t bytes = 0;
  int64_t newest_us = 0;  // created_us of the newest good entry
  std::vector<Problem> problems;
  bool ok() const;  // no problem but extra objects
};

// Checks every manifest entry (signature, numbering, hash chain) and every pack (name = digest,
// opens with the chain's key, holds what its entry says, seqs continuous) and lists objects no
// entry names. `progress` (optional) is called after each pack with the packs and bytes done.
Result<VerifyReport> VerifyChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                                 const std::function<void(uint64_t, uint64_t)>& progress = {});

// --- Restore ---
struct RestoreOptions {
  // Versions whose last_updated_us <= at_us come back, none after; audit records likewise.
  int64_t at_us = std::numeric_limits<int64_t>::max();
  size_t batch_versions = 2000;
  // Called on each version write before it is committed, from `prepare_threads` threads at
  // once: fills its index entries, seals it again under another tenant's keys... An error stops
  // the restore.
  std::function<Status(storage::VersionWrite&)> prepare;
  size_t prepare_threads = 1;
  // When set, the store's index format version, set with the last batch (once `prepare` has
  // given every version its index entries).
  std::optional<int64_t> index_version;
};

struct RestoreReport {
  uint64_t entries = 0;
  uint64_t versions = 0;
  uint64_t bytes = 0;
  uint64_t journal_records = 0;  // records in the restored tree
  uint64_t journal_covered = 0;  // of which the newest restored checkpoint covers
  int64_t point_us = 0;          // the newest version restored (last_updated_us)
  uint64_t last_seq = 0;         // the seq of the newest version read from the chain
};

// Replays the chain into an empty `store` and `tree_dir` (created): every version up to at_us
// in log order, and the journal files, cut at at_us. Stops with kDataLoss at the first damaged
// entry or pack it needs, naming it: nothing past the damage is restored. `progress` (optional)
// is called after each pack with versions and bytes done.
Status RestoreChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                    storage::TenantStore* store, const std::string& tree_dir,
                    const RestoreOptions& options, RestoreReport* report,
                    const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace hygie::backup
