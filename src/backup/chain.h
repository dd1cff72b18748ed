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

// --- Base snapshots ---
// A base snapshot entry lists the packs that hold the whole chain up to its head (every version
// and the journal), so that a restore reads that list and the entries after it, not years of
// entries, and so that the entries before it can be pruned. A new base reuses what the target
// already holds: the previous base's packs as they are, and the packs shipped since, as they
// are when they are large, or read back and merged into packs of up to max_pack_bytes when
// they are small (continuous shipping makes one small pack every few seconds).
struct BaseOptions {
  size_t max_pack_bytes = 8u << 20;      // body bytes of a merged pack
  uint64_t reuse_pack_bytes = 1u << 20;  // a pack at least this large (sealed) is kept as is
};

struct BaseResult {
  bool made = false;  // false when the head is already a base snapshot
  uint64_t n = 0;     // the base entry's number
  uint64_t packs = 0;
  uint64_t reused = 0;  // packs the target already held
  uint64_t merged = 0;  // small packs read back and merged into new ones
  uint64_t bytes = 0;   // sealed bytes put
};

// Writes a base snapshot entry at the chain's head (a chain with no entry has nothing to
// snapshot: kFailedPrecondition). Reads and checks the entries since the previous base and the
// small packs it merges (kDataLoss, naming the object, when one does not verify). `progress`
// (optional) is called after each entry with the entries done and their count.
Result<BaseResult> MakeBase(Target& target, const ChainId& chain, const ChainKeys& keys,
                            const Clock& clock, const BaseOptions& options, ChainHead* head,
                            const std::function<void(uint64_t, uint64_t)>& progress = {});

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
  // Where the replay starts: the newest base snapshot (default), the base entry `base`, or,
  // with use_base false, entry 0 (when the target still holds it).
  bool use_base = true;
  std::optional<uint64_t> base;
};

struct RestoreReport {
  std::optional<uint64_t> base;  // the base snapshot the replay started from
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

// --- Retention ---
// Restore points are base snapshots. A policy keeps the newest base of each of the last `daily`
// days, `weekly` weeks (Monday to Sunday, UTC) and `monthly` months that have one, and always the
// newest base and every entry after the anchor (below). Since every base holds every version up
// to its point, a restore at any instant before the anchor is served by the anchor itself: what
// a prune removes is never needed by a restore point.
struct RetentionPolicy {
  uint32_t daily = 7;
  uint32_t weekly = 8;
  uint32_t monthly = 12;
};

struct PrunePlan {
  // The newest base made at or before `locked_after_us`: every entry from it on is kept.
  std::optional<uint64_t> anchor;
  std::vector<uint64_t> kept_bases;  // restore points kept, newest first
  std::vector<std::string> entries;  // manifest entries to delete, newest first
  std::vector<ObjectInfo> packs;     // packs that no kept entry names
  uint64_t pack_bytes = 0;
  std::string nothing_because;  // when there is nothing to delete
};

// Plans a prune of the chain from what the target holds. `locked_after_us`: objects made after
// it may still be under their retention (now minus the target's retention), so the anchor is a
// base made before it. Refuses (kDataLoss) a chain whose entries do not verify: run verify.
Result<PrunePlan> PlanPrune(Target& target, const ChainId& chain, const ChainKeys& keys,
                            const RetentionPolicy& policy, int64_t locked_after_us);

struct PruneReport {
  uint64_t entries = 0;
  uint64_t packs = 0;
  uint64_t bytes = 0;
  std::vector<Problem> failed;  // objects that could not be deleted (kind kExtra: left there)
};

// Deletes what the plan names through `deleter` (a target opened with the prune credential):
// entries newest first, then packs, so that an interrupted prune leaves a chain that verifies
// (its gaps end at a base) and at worst packs that no entry names. Stops deleting entries at
// the first that fails (later attempts would leave a gap before an entry that is not a base).
Status ApplyPrune(Target& deleter, const PrunePlan& plan, PruneReport* report);

}  // namespace hygie::backup
