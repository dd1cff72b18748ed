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

// One version to append. The precondition is checked inside the transaction:
// `expected_current` must be the version that is current for (type, id) right now, 0 meaning
// that no version exists yet. A mismatch fails the whole batch with kConflict.
struct VersionWrite {
  VersionRecord record;
  uint64_t expected_current = 0;
};

struct WriteBatch {
  std::vector<VersionWrite> versions;
};

using CommitCallback = std::function<void(Status)>;

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
  int cache_kib = 2048;
};

// Embedded engine: one SQLite database per tenant at `dir`/<tenant>/data.db (directories mode
// 0700), WAL journal with synchronous=FULL, one writer thread per open tenant.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir,
                                               const SqliteOptions& options = {});

}  // namespace hygie::storage
