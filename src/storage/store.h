#pragma once
// Store: the storage interface of Hygie. An engine (embedded SQLite, later PostgreSQL) keeps
// one isolated namespace per tenant; the FHIR layer talks only to this interface.
//
// A resource version is a row (type, id, version, last_updated, deleted, key_id, body) where
// body is the AEAD-sealed JSON produced by the caller: a Store never sees clear health data.
// The version log is the source of truth; the current-version table is derived from it.
//
// Writes go through Commit(): batches from concurrent callers are group-committed (one
// storage transaction and one fsync for many batches), each batch all-or-nothing. The
// callback runs once the batch is durable on stable storage, or failed.
//
// Thread-safety: Store and TenantStore are thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::storage {

struct VersionRecord {
  std::string type;
  std::string id;
  uint64_t version = 0;         // 1, 2, 3, ... per (type, id)
  int64_t last_updated_us = 0;  // microseconds since the epoch
  bool deleted = false;         // a tombstone; body is empty
  uint32_t key_id = 0;          // which tenant data key sealed body
  Bytes body;                   // sealed resource JSON
};

// Search index entries of one resource's current version, computed by the FHIR layer. A Store
// never sees a clear search value: exact-match values (tokens, strings and their prefixes,
// references, uris, presence markers) arrive as keyed hashes that already fold in the resource
// type and the parameter; order-based values (dates, numbers, quantities) arrive as ranges
// tagged with such a keyed hash. Duplicates are allowed (the Store removes them).
struct DateEntry {
  uint64_t key = 0;  // keyed hash of (type, parameter)
  int64_t lo = 0;    // microseconds since the epoch, inclusive
  int64_t hi = 0;    // inclusive
};
struct NumberEntry {
  uint64_t key = 0;  // keyed hash of (type, parameter[, system, unit])
  double lo = 0;     // inclusive
  double hi = 0;     // inclusive
};
struct IndexEntries {
  std::vector<uint64_t> hashes;
  std::vector<DateEntry> dates;
  std::vector<NumberEntry> numbers;
};

// One version to append. The precondition is checked inside the transaction:
// `expected_current` must be the version that is current for (type, id) right now, 0 meaning
// that no version exists yet. A mismatch fails the whole batch with kConflict.
// `index` replaces the resource's index entries (a tombstone's must be empty: a deleted
// resource is found by no search).
struct VersionWrite {
  VersionRecord record;
  uint64_t expected_current = 0;
  IndexEntries index;
};

// Replaces the index entries of a resource's current version without writing a version (used
// to rebuild the index). kNotFound fails the batch when the resource does not exist or its
// current version is not `version`.
struct IndexWrite {
  std::string type;
  std::string id;
  uint64_t version = 0;
  IndexEntries index;
};

struct WriteBatch {
  std::vector<VersionWrite> versions;
  std::vector<IndexWrite> reindex;
  // When set, the tenant's index format version is set to this value in the same transaction.
  std::optional<int64_t> set_index_version;
};

using CommitCallback = std::function<void(Status)>;

// --- Search ---
// A search is a conjunction of clauses; a clause is a disjunction of terms; a term selects
// current, non-deleted resources. The FHIR layer plans FHIR searches into this form.

// Comparison of an index range [lo, hi] (or of a resource's last_updated, where lo = hi) with a
// bound: e.g. {kLo, kGe, x} is "lo >= x".
struct RangeCmp {
  enum Column { kLo, kHi } column = kLo;
  enum Op { kLt, kLe, kGt, kGe } op = kGe;
  double number = 0;    // for number terms
  int64_t instant = 0;  // for date and last-updated terms
};

struct SearchTerm {
  enum Kind {
    kHash,         // the resource has an index hash among `hashes`
    kDate,         // a date entry with `key` satisfies one of `ranges` (each a conjunction)
    kNumber,       // a number entry with `key` satisfies one of `ranges`
    kId,           // the resource's id is among `ids`
    kLastUpdated,  // last_updated satisfies one of `ranges` (each a conjunction)
    kNone,         // matches nothing (e.g. a chained search that found no target)
  };
  Kind kind = kHash;
  bool negate = false;  // selects the resources the term does not select
  std::vector<uint64_t> hashes;
  uint64_t key = 0;
  std::vector<std::vector<RangeCmp>> ranges;
  std::vector<std::string> ids;
};

using SearchClause = std::vector<SearchTerm>;  // OR

struct SortKey {
  enum Kind { kLastUpdated, kId, kDate, kNumber } kind = kLastUpdated;
  uint64_t key = 0;  // kDate / kNumber: the index key; a resource without entry sorts last
  bool descending = false;
  // kDate/kNumber ascending sorts by the smallest lo of the resource's entries, descending by
  // the largest hi.
};

struct SearchHit {
  uint64_t rowid = 0;    // stable per (type, id) for the life of the resource row
  VersionRecord record;  // the current version
};

struct SearchQuery {
  std::vector<std::string> types;     // empty: every type (system-level search)
  std::vector<SearchClause> clauses;  // AND
  std::vector<SortKey> sort;  // empty: by row id (insertion order of the resource), ascending
  // Paging. Without sort keys: only resources whose row id is > after_rowid (keyset paging that
  // stays valid while resources are added and removed). With sort keys: `offset` rows skipped.
  uint64_t after_rowid = 0;
  uint64_t offset = 0;
  // When not 0, only resources whose row id is <= max_rowid (a snapshot bound: resources created
  // after the first page of a sorted search do not shift its later pages).
  uint64_t max_rowid = 0;
  size_t limit = 50;
  bool with_bodies = true;  // false: records come without body (ids and versions only)
  // When set, the clauses select candidates and a candidate is a result only if `filter` (called
  // with its body, on the caller's thread) returns true: the FHIR layer decides there what the
  // index cannot (a string value longer than its indexed prefixes, checked on the decrypted
  // resource). `offset`, `limit` and SearchCount() then count results, not candidates, so pages
  // and totals stay exact. An error from `filter` fails the search.
  std::function<Result<bool>(const SearchHit&)> filter;
};

// For engines: Search() and SearchCount() of a query with a filter, from pages of unfiltered
// candidates that `search` returns (the same query without filter, with bodies, its own limit,
// offset and after_rowid). Candidates are read in growing pages and filtered one at a time,
// so that a page of results costs about as many filter calls as it has candidates before its end.
using CandidateSearch = std::function<Result<std::vector<SearchHit>>(const SearchQuery&)>;
Result<std::vector<SearchHit>> SearchFiltered(const SearchQuery& query,
                                              const CandidateSearch& search);
Result<uint64_t> CountFiltered(const SearchQuery& query, const CandidateSearch& search);

struct HistoryQuery {
  std::string type;         // empty: every type (system history)
  std::string id;           // empty: every id of the type (type history); needs type
  int64_t since_us = 0;     // only versions with last_updated_us >= since_us (0: no bound)
  uint64_t before_seq = 0;  // paging cursor: only entries with seq < before_seq (0: none)
  size_t limit = 50;
};

struct HistoryEntry {
  uint64_t seq = 0;  // position in the tenant's version log, increasing with commit order
  VersionRecord record;
};

class TenantStore {
 public:
  virtual ~TenantStore() = default;

  // The current version (possibly a tombstone), or nullopt if the resource never existed.
  virtual Result<std::optional<VersionRecord>> ReadCurrent(std::string_view type,
                                                           std::string_view id) = 0;
  virtual Result<std::optional<VersionRecord>> ReadVersion(std::string_view type,
                                                           std::string_view id,
                                                           uint64_t version) = 0;
  // Newest first.
  virtual Result<std::vector<HistoryEntry>> History(const HistoryQuery& query) = 0;
  // Number of entries History() would return without limit and cursor.
  virtual Result<uint64_t> HistoryCount(const HistoryQuery& query) = 0;

  // Current, non-deleted resources matching `query`, in its order, at most query.limit.
  virtual Result<std::vector<SearchHit>> Search(const SearchQuery& query) = 0;
  // How many resources Search() would return without paging and limit.
  virtual Result<uint64_t> SearchCount(const SearchQuery& query) = 0;
  // Current, non-deleted resources of the given type (every type if empty), in row id order,
  // with row id > after_rowid, at most `limit`, with bodies (to rebuild the index).
  virtual Result<std::vector<SearchHit>> ScanCurrent(std::string_view type, uint64_t after_rowid,
                                                     size_t limit) = 0;
  // The version log in commit order: versions with seq > after_seq, ascending, at most `limit`,
  // with bodies. Every version of a committed batch has a seq below those of later batches, and
  // a batch is seen whole or not at all, so a reader that resumes after the last seq it saw
  // never skips a version (backups ship the log this way).
  virtual Result<std::vector<HistoryEntry>> ScanLog(uint64_t after_seq, size_t limit) = 0;
  // The largest seq of the version log (0 for an empty store).
  virtual Result<uint64_t> MaxSeq() = 0;
  // The largest row id given so far (0 for an empty store).
  virtual Result<uint64_t> MaxRowid() = 0;
  // The tenant's index format version: 0 for a store whose index was never built.
  virtual Result<int64_t> IndexVersion() = 0;

  // Queues the batch for the next group commit. `done` is called exactly once, from the
  // store's writer thread, with ok once durable, kConflict on a failed precondition (nothing of
  // the batch written), or kUnavailable on an I/O failure. `done` must not block.
  virtual void Commit(WriteBatch batch, CommitCallback done) = 0;
  // Commit() and wait.
  Status CommitAndWait(WriteBatch batch);
};

class Store {
 public:
  virtual ~Store() = default;
  // Opens the tenant's namespace, creating it on first use. Tenant names are validated by
  // the caller ([a-z0-9-]{2,63}).
  virtual Result<std::shared_ptr<TenantStore>> OpenTenant(std::string_view tenant) = 0;
  // Stops writer threads after flushing queued batches. Further commits fail.
  virtual void Close() = 0;
};

struct SqliteOptions {
  // Longest a batch may wait for others to join its group commit.
  int64_t max_group_delay_us = 0;
  // Most batches in one group commit.
  size_t max_group_batches = 512;
  // Read connections per tenant.
  size_t read_connections = 4;
  // SQLite page cache per connection, KiB.
  int cache_kib = 8192;
  // Index rows per block of the index tables (a new block opens with the first resource created
  // once the newest block holds this many rows; see sqlite_store.h).
  size_t index_block_rows = 65536;
};

// Embedded engine: one SQLite database per tenant at `dir`/<tenant>/data.db (directories mode
// 0700), WAL journal with synchronous=FULL, one writer thread per open tenant.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir,
                                               const SqliteOptions& options = {});

}  // namespace hygie::storage
