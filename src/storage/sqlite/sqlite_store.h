#pragma once
// The embedded storage engine: one SQLite database per tenant at <dir>/<tenant>/data.db
// (directories 0700, files 0600), WAL journal, synchronous=FULL, secure_delete=ON.
//
// Writes: one writer thread per open tenant owns the write connection. Commit() queues the
// batch; the writer takes every queued batch (up to max_group_batches, optionally waiting
// max_group_delay_us for more), runs them in one transaction (one SAVEPOINT per batch, so a
// batch whose precondition fails is undone alone), COMMITs (one WAL fsync for the group) and
// only then calls the callbacks. An I/O failure fails every batch of the group with
// kUnavailable; nothing of it is acknowledged.
// Reads: a pool of read connections per tenant, each with its prepared statements; WAL lets
// them run during writes and they see only committed data.
// Search index: idx_hash (block, hash, row id) and idx_date / idx_num (row id, key, lo, hi,
// block) hold the index entries of current versions, partitioned by row id block so that a
// commit dirties only the pages of the newest block(s); idx_blocks lists the blocks.
// resource_current keeps each resource's hashes (a blob) so that an update deletes and inserts
// only the entries that changed; entries are inserted with multi-row INSERTs. A search is one
// SQL statement built from the query's shape (values always bound as parameters), cached per
// read connection; it is driven from idx_hash, block by block in row id order, when a clause is
// made of plain hash terms.
// Checkpoints: copying the WAL back into the database file (and syncing it) is kept off the
// commit path: a checkpointer thread per tenant, with its own connection, runs a PASSIVE
// checkpoint when the WAL passes kCheckpointPages; only past kWalHardLimitPages does the
// writer checkpoint itself, which bounds the WAL under sustained load.
//
// Thread-safety: SqliteStore and SqliteTenantStore are thread-safe.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"

struct sqlite3;

namespace hygie::storage {
namespace sqlite {
class Db;
}  // namespace sqlite

// Schema version written to PRAGMA user_version. A version-1 database is migrated in place at
// open (its index is empty and its index version 0, to be rebuilt by the caller); a version-2
// one gains resource_current.b (its rows keep the block rid >> kBlockShift).
inline constexpr int kSqliteSchemaVersion = 3;
// Most parameters a search may bind (hashes, ids, types, bounds); beyond: kInvalidArgument.
inline constexpr size_t kMaxSearchParams = 30000;
// The writer's page cache, KiB (at least SqliteOptions::cache_kib): it holds the upper levels
// of every b-tree and the pages of the newest row id blocks, so that a commit reads almost
// nothing back from disk. Pages are allocated as used: a small tenant costs what it touches.
inline constexpr int kWriterCacheKib = 64 * 1024;
// The index tables are partitioned by blocks of consecutive row ids: inserts stay in the newest
// block's pages; a search probes each block in order. Since schema version 3 a block holds about
// SqliteOptions::index_block_rows index rows, whatever the resources' sizes (a resource's block
// is resource_current.b): within a block the hashes are random, so a group commit dirties about
// min(its index rows, the block's pages) pages, and a block of a bounded size bounds what a
// commit writes per resource. Resources of schema version 2 (b NULL) keep the block of
// 2^kBlockShift row ids they were written in.
inline constexpr int kBlockShift = 12;
// WAL size (pages) that wakes the checkpointer, and the size at which the writer checkpoints.
inline constexpr int kCheckpointPages = 1000;
inline constexpr int kWalHardLimitPages = 8000;

struct SqliteTenantStats {
  uint64_t group_commits = 0;       // transactions committed by the writer
  uint64_t batches_committed = 0;   // batches acknowledged ok
  uint64_t batches_rejected = 0;    // batches failed with kConflict, kNotFound or kInvalidArgument
  uint64_t failed_groups = 0;       // groups that failed as a whole (I/O)
  uint64_t checkpoints = 0;         // background checkpoints run
  uint64_t writer_checkpoints = 0;  // checkpoints the writer ran itself (WAL past hard limit)
};

class SqliteTenantStore final : public TenantStore {
 public:
  // Opens (creating if needed) the database at `tenant_dir`/data.db and starts the writer.
  static Result<std::shared_ptr<SqliteTenantStore>> Open(const std::string& tenant_dir,
                                                         const SqliteOptions& options);
  ~SqliteTenantStore() override;

  Result<std::optional<VersionRecord>> ReadCurrent(std::string_view type,
                                                   std::string_view id) override;
  Result<std::optional<VersionRecord>> ReadVersion(std::string_view type, std::string_view id,
                                                   uint64_t version) override;
  Result<std::vector<HistoryEntry>> History(const HistoryQuery& query) override;
  Result<uint64_t> HistoryCount(const HistoryQuery& query) override;
  // Without bodies, records carry no key_id (0) either.
  Result<std::vector<SearchHit>> Search(const SearchQuery& query) override;
  Result<uint64_t> SearchCount(const SearchQuery& query) override;
  Result<std::vector<SearchHit>> ScanCurrent(std::string_view type, uint64_t after_rowid,
                                             size_t limit) override;
  Result<std::vector<HistoryEntry>> ScanLog(uint64_t after_seq, size_t limit) override;
  Result<uint64_t> MaxSeq() override;
  Result<uint64_t> MaxRowid() override;
  Result<int64_t> IndexVersion() override;
  // After Close(), `done` is called at once, on the caller's thread, with kUnavailable.
  void Commit(WriteBatch batch, CommitCallback done) override;

  // Stops accepting commits, commits what is queued, joins the writer, then waits for reads
  // in progress and closes every connection. Later reads fail with kUnavailable. Idempotent.
  // Must not be called from a commit callback, and a callback must not hold the last
  // reference to the store (the writer thread cannot join itself: the process aborts).
  void Close();

  SqliteTenantStats stats() const;
  const std::string& db_path() const { return db_path_; }

  struct Private;  // construction tag (public so make_shared can see it)
  SqliteTenantStore(const Private&, std::string db_path, const SqliteOptions& options);

 private:
  struct Pending {
    WriteBatch batch;
    CommitCallback done;
  };
  struct Writer;    // the write connection and its statements
  struct ReadConn;  // a read connection and its statements

  class ReadLease;

  Status Start();
  void WriterLoop();
  void CheckpointLoop();
  // sqlite3_wal_hook callback of the write connection, run after each commit.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  void RunGroup(std::vector<Pending>& group, std::vector<Status>& statuses);
  Result<std::unique_ptr<ReadConn>> OpenReadConn();
  Result<ReadConn*> AcquireRead();
  void ReleaseRead(ReadConn* conn);

  const std::string db_path_;
  const SqliteOptions options_;

  // Commit queue.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;  // guarded by queue_mu_
  bool stopping_ = false;      // guarded by queue_mu_
  std::thread writer_thread_;
  std::atomic<std::thread::id> writer_id_{};  // to detect Close() from a callback
  std::unique_ptr<Writer> writer_;            // used by the writer thread only (and Start/Close)
  // Checkpointer.
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;    // guarded by checkpoint_mu_
  bool checkpoint_stopping_ = false;  // guarded by checkpoint_mu_
  std::thread checkpoint_thread_;
  std::unique_ptr<sqlite::Db> checkpoint_db_;  // used by the checkpointer thread only

  std::mutex close_mu_;  // serializes Close()
  bool closed_ = false;  // guarded by close_mu_

  // Read pool.
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<ReadConn>> read_conns_;  // guarded by pool_mu_
  std::vector<ReadConn*> free_reads_;                  // guarded by pool_mu_
  size_t reads_in_use_ = 0;                            // guarded by pool_mu_
  bool pool_closed_ = false;                           // guarded by pool_mu_

  std::atomic<uint64_t> group_commits_{0};
  std::atomic<uint64_t> batches_committed_{0};
  std::atomic<uint64_t> batches_rejected_{0};
  std::atomic<uint64_t> failed_groups_{0};
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> writer_checkpoints_{0};
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string dir, const SqliteOptions& options);
  ~SqliteStore() override;

  // Tenant names must match [a-z0-9-]{2,63} (checked again here: they become directory
  // names). The same tenant gets the same SqliteTenantStore while the store is open.
  Result<std::shared_ptr<TenantStore>> OpenTenant(std::string_view tenant) override;
  // Closes every open tenant (see SqliteTenantStore::Close); later OpenTenant calls fail
  // with kUnavailable.
  void Close() override;

  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
  const SqliteOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<SqliteTenantStore>, std::less<>> tenants_;  // mu_
  bool closed_ = false;                                                             // mu_
};

// The SQL the engine runs for `query` (count: for SearchCount), parameters unbound; for
// checking query plans.
Result<std::string> SqliteSearchSql(const SearchQuery& query, bool count);

// True if `tenant` matches [a-z0-9-]{2,63}.
bool IsValidTenantName(std::string_view tenant);

}  // namespace hygie::storage
