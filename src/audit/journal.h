#pragma once
// Journal: the tamper-evident audit journal. One append-only Merkle tree (RFC 9162 hashing) per
// tenant, plus kSystemTree for acts on the installation; signed checkpoints (C2SP
// tlog-checkpoint, Ed25519) at least every checkpoint_interval while records arrive. The
// on-disk format is written down in docs/audit-journal.md and in journal_format.h.
//
// Append() is a group commit: a writer thread per tree takes every record queued while it was
// writing, appends them, fsyncs once, then completes every waiter. A record is durable when its
// callback reports OK; on any failure (disk full, I/O error, unwritable directory) the callback
// reports kUnavailable, nothing of the batch is kept, and the next batch retries from the last
// durable state. The caller must then refuse to answer (fail closed).
//
// Keys: each tree has a 32-byte seed (a tenant's audit seed from the keyring; for kSystemTree a
// seed sealed by the KEK). From it: the Ed25519 checkpoint signing key, the key of the record
// chain MAC (which lets `hygie audit verify` name the first altered record) and the key of the
// query-value hashes.
//
// One process owns a tree at a time (an exclusive flock on DIR/<tree>/lock); a second process
// opening the same journal gets kFailedPrecondition on Append. Reads (RecordSource, proofs,
// checkpoints) work from any process.
//
// Thread-safety: all methods are thread-safe.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "audit/record.h"
#include "audit/record_source.h"
#include "audit/spool.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/status.h"
#include "crypto/keyed_hash.h"
#include "crypto/secret.h"

namespace hygie::audit {

// The three keys derived from a tree's seed.
struct TreeKeys {
  crypto::SecretKey signing_seed;  // Ed25519 seed of the checkpoint signer
  crypto::SecretKey chain_key;     // HMAC key of the record chain
  crypto::SecretKey query_key;     // HMAC key of query values in records
  // HMAC-SHA256 under chain_key and query_key, ready to use (no key setup per record).
  std::shared_ptr<const crypto::KeyedHasher> chain;
  std::shared_ptr<const crypto::KeyedHasher> query;
  static Result<TreeKeys> Derive(ByteView seed);
};

struct JournalOptions {
  std::string dir;  // the journal directory (DATA/audit by default)
  // Origin prefix of checkpoints: "<prefix>/<tree>" names each log, e.g. "hygie/ab12cd34".
  std::string origin_prefix = "hygie";
  int64_t checkpoint_interval_us = 1000000;
  uint64_t segment_bytes = 64u << 20;  // a new segment also starts with each UTC day
  // Group commit under load. When the last batch held at least batch_busy_records records, the
  // next one waits until batch_window_us after the last one began, or until batch_max_records
  // records are queued, whichever comes first: fewer, bigger syncs when many requests arrive,
  // no wait for a lone request. 0 disables the window (every batch syncs as soon as it can).
  int64_t batch_window_us = 1000;
  size_t batch_busy_records = 4;
  size_t batch_max_records = 256;
  // The seed of a tree (32 bytes); called once per tree when it is first used.
  std::function<Result<crypto::SecretKey>(const std::string& tree)> seed_for;
  // Test hook: called before each write and sync with its name ("write", "sync",
  // "checkpoint"); a non-OK status makes that operation fail as an I/O error would.
  std::function<Status(std::string_view op)> fault;
  // Writes the small files replaced whole (verifier.key, pruned segments) with
  // WriteFileAtomic. Must outlive the journal.
  Env* env = &Env::Default();
};

// Records encoded for Journal::Append by the thread that makes them (which spares the writer
// thread that work and keeps their memory on the thread that allocated it). Their index is left
// at 0 and set by the journal.
class EncodedRecords {
 public:
  void Add(const Record& record);  // record.index is ignored
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  int64_t first_time_us() const { return first_time_us_; }
  // Calls f(tail) for each record in order, `tail` being its text after `{"i":0`.
  template <typename F>
  void ForEach(F&& f) const {
    size_t pos = 0;
    for (size_t k = 0; k < count_; ++k) {
      size_t end = text_.find('\n', pos);
      f(std::string_view(text_).substr(pos, end - pos));
      pos = end + 1;
    }
  }
  size_t bytes() const { return text_.size(); }

 private:
  // The tails, each ended by a newline (which the JSON text of a record never holds raw).
  std::string text_;
  size_t count_ = 0;
  int64_t first_time_us_ = 0;
};

class Journal final : public RecordSource {
 public:
  static Result<std::unique_ptr<Journal>> Open(JournalOptions options, const Clock& clock);
  ~Journal() override;  // Close()
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  using Done = std::function<void(Status)>;
  // Queues records for `tree` (a tenant name or kSystemTree); their index is set by the
  // journal. `done` runs on the tree's writer thread once they are durable (OK) or failed
  // (kUnavailable). It must not block.
  void Append(const std::string& tree, std::vector<Record> records, Done done);
  // The same with records encoded by the caller, which keeps `records` alive and unchanged
  // until `done` runs.
  void Append(const std::string& tree, const EncodedRecords& records, Done done) {
    Append(tree, &records, nullptr, std::move(done), false);
  }
  // Appends and waits; the writer syncs it at once (no batch window). It may be called from an
  // I/O thread (the admin API's rare changes): its completion needs no I/O thread.
  Status AppendSync(const std::string& tree, std::vector<Record> records);
  // Signs a checkpoint now if records arrived since the last one, and waits for it.
  Status Flush(const std::string& tree);
  // Stops the writers after a last checkpoint of each tree. Idempotent.
  void Close();

  // RecordSource.
  std::vector<std::string> Trees() const override;
  uint64_t Size(const std::string& tree) const override;
  Status Read(const std::string& tree, uint64_t from, size_t max, std::vector<std::string>* out,
              uint64_t* next) const override;

  // The key that verifies a tree's checkpoints ("name+keyid+base64").
  Result<std::string> VerifierKey(const std::string& tree);
  // The HMAC key of query values for a tree (to build records before appending them).
  Result<std::shared_ptr<const TreeKeys>> Keys(const std::string& tree);
  // The newest checkpoint of a tree (signed note text), or kNotFound when none exists yet.
  Result<std::string> LatestCheckpoint(const std::string& tree) const;
  // Every checkpoint of a tree, oldest first (signed note texts).
  Result<std::vector<std::string>> Checkpoints(const std::string& tree) const;
  // Proofs over durable records: RFC 9162 inclusion of leaf `index` in the tree of `size`
  // leaves, and consistency from size1 to size2.
  Result<std::vector<Hash>> InclusionProof(const std::string& tree, uint64_t index,
                                           uint64_t size) const;
  Result<std::vector<Hash>> ConsistencyProof(const std::string& tree, uint64_t size1,
                                             uint64_t size2) const;
  Result<Hash> LeafHash(const std::string& tree, uint64_t index) const;
  // Replaces the bodies of records older than `before_us` by their leaf hashes, a whole
  // segment at a time (never the segment being written). Returns how many records were pruned.
  Result<uint64_t> Prune(const std::string& tree, int64_t before_us);

  // Records made by other processes (the command line while a server owns the journal) wait
  // in DIR/_spool, numbered and sealed (audit/spool.h); the owner of the journal moves them into
  // their trees in number order. What is wrong with the spool (an altered, removed or replayed
  // record) is first recorded in the system tree, and kept for SpoolProblems. Returns how many
  // records were moved.
  Result<size_t> IngestSpool();
  // What the last IngestSpool found wrong (what waits in _spool/rejected for the operator
  // included), for /readyz.
  std::vector<SpoolProblem> SpoolProblems() const;

  // The state of one tree (internal to journal.cc).
  struct Tree;

 private:
  // `urgent`: the writer syncs at once, without waiting for a bigger batch.
  // `borrowed` or `owned` holds the records.
  void Append(const std::string& tree, const EncodedRecords* borrowed,
              std::unique_ptr<EncodedRecords> owned, Done done, bool urgent);
  Journal(JournalOptions options, const Clock& clock);
  // Loads a tree on first use (creating it when `create`).
  Result<Tree*> GetTree(const std::string& tree, bool create) const;
  const Tree* FindTree(const std::string& tree) const;

  JournalOptions options_;
  const Clock& clock_;
  mutable std::shared_mutex mu_;  // shared for lookups of loaded trees
  mutable std::map<std::string, std::unique_ptr<Tree>> trees_;  // GUARDED_BY(mu_)
  bool closed_ = false;                                         // GUARDED_BY(mu_)
  mutable std::mutex spool_mu_;
  std::vector<SpoolProblem> spool_problems_;  // GUARDED_BY(spool_mu_)
};

}  // namespace hygie::audit
