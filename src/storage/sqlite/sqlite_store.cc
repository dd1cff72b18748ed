#include "storage/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/thread_name.h"
#include "storage/sqlite/sqlite_db.h"

namespace hygie::storage {

using sqlite::Db;
using sqlite::ScopedReset;
using sqlite::Stmt;
using sqlite::Transaction;
using sqlite::TransactionStatements;

namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

// The version log, as in schema version 1.
constexpr const char* kVersionLogSql =
    "CREATE TABLE IF NOT EXISTS resource_version("
    "  seq INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL,"
    "  key_id INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  UNIQUE(type, id, version));"
    "CREATE INDEX IF NOT EXISTS resource_version_type_seq ON resource_version(type, seq);";

// Schema version 3 beside the version log: the current versions (rid is the SearchHit row
// id, never reused since current rows are never deleted; idx holds the resource's index hashes,
// sorted, 8 bytes little-endian each; b its index block, NULL for rid >> kBlockShift), the index
// tables (a hash is stored bit-cast to int64) and the meta table. (type, deleted) serves type
// scans in row id order.
// The index tables are partitioned by row id block (b, increasing with rid): their search keys
// lead with b, so that the entries of new resources go to the pages of the newest block only
// instead of every page of one big b-tree. idx_blocks lists the blocks in use; a search probes
// each block in order. idx_date and idx_num keep a primary key led by rid (append-only; cheap
// correlated tests and deletion on update) beside their (b, k, lo, hi) search index.
constexpr const char* kCurrentSchemaSql =
    "CREATE TABLE resource_current("
    "  rid INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL,"
    "  idx BLOB,"
    "  b INTEGER,"
    "  UNIQUE(type, id));"
    "CREATE INDEX resource_current_type ON resource_current(type, deleted);"
    "CREATE TABLE idx_blocks(b INTEGER PRIMARY KEY);"
    "CREATE TABLE idx_hash("
    "  b INTEGER NOT NULL,"
    "  h INTEGER NOT NULL,"
    "  rid INTEGER NOT NULL,"
    "  PRIMARY KEY(b, h, rid)) WITHOUT ROWID;"
    "CREATE TABLE idx_date("
    "  rid INTEGER NOT NULL,"
    "  k INTEGER NOT NULL,"
    "  lo INTEGER NOT NULL,"
    "  hi INTEGER NOT NULL,"
    "  b INTEGER NOT NULL,"
    "  PRIMARY KEY(rid, k, lo, hi)) WITHOUT ROWID;"
    "CREATE INDEX idx_date_k ON idx_date(b, k, lo, hi);"
    "CREATE TABLE idx_num("
    "  rid INTEGER NOT NULL,"
    "  k INTEGER NOT NULL,"
    "  lo REAL NOT NULL,"
    "  hi REAL NOT NULL,"
    "  b INTEGER NOT NULL,"
    "  PRIMARY KEY(rid, k, lo, hi)) WITHOUT ROWID;"
    "CREATE INDEX idx_num_k ON idx_num(b, k, lo, hi);"
    "CREATE TABLE meta("
    "  name TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL) WITHOUT ROWID;";

// From schema version 1: resource_current(type, id, version, seq) WITHOUT ROWID is replaced,
// rebuilt from the version log (the newest version of each resource; row ids in the order the
// resources were created). The index starts empty.
constexpr const char* kMigrateV1Sql = "DROP TABLE resource_current;";
constexpr const char* kRebuildCurrentSql =
    "INSERT INTO resource_current(type, id, version, seq, ts, deleted, idx) "
    "SELECT v.type, v.id, v.version, v.seq, v.ts, v.deleted, NULL "
    "FROM (SELECT type, id, min(seq) AS first, max(version) AS last FROM resource_version "
    "      GROUP BY type, id) g "
    "JOIN resource_version v ON v.type = g.type AND v.id = g.id AND v.version = g.last "
    "ORDER BY g.first;"
    "INSERT INTO idx_blocks(b) SELECT DISTINCT rid >> 12 FROM resource_current;";
// From schema version 2: resource_current.b, NULL for the resources written before (their
// block is rid >> kBlockShift).
constexpr const char* kMigrateV2Sql = "ALTER TABLE resource_current ADD COLUMN b INTEGER;";
static_assert(kBlockShift == 12, "the SQL above and kBlockSql spell the block shift");
// The block of the resource row c, in SQL.
constexpr const char* kBlockSql = "coalesce(c.b, c.rid >> 12)";

constexpr const char* kIndexVersionName = "index_version";

// History scopes, in the order of the statement arrays of ReadConn.
enum Scope { kSystem = 0, kType = 1, kInstance = 2, kScopeCount = 3 };

// Columns: seq, type, id, version, ts, deleted, key_id, body. Parameters, numbered in order:
// [type] [id] since before_seq limit. Instance history is ordered by version, which within one
// resource follows seq, so that the (type, id, version) index serves it without a sort.
std::string HistorySql(int scope, bool count) {
  std::string sql = count ? "SELECT count(*) FROM resource_version WHERE "
                          : "SELECT seq, type, id, version, ts, deleted, key_id, body "
                            "FROM resource_version WHERE ";
  int param = 1;
  auto next = [&param] {
    std::string p = "?";
    p += std::to_string(param++);
    return p;
  };
  if (scope >= kType) sql += "type = " + next() + " AND ";
  if (scope == kInstance) sql += "id = " + next() + " AND ";
  sql += "ts >= " + next();
  if (count) return sql;
  // For an instance, "+seq" keeps the planner off the (type, seq) index, which would scan every
  // version of the type.
  sql += scope == kInstance ? " AND +seq < " : " AND seq < ";
  sql += next();
  sql += scope == kInstance ? " ORDER BY version DESC" : " ORDER BY seq DESC";
  sql += " LIMIT " + next();
  return sql;
}

Status ErrnoStatus(std::string_view what, int err) {
  return Unavailable("storage: " + std::string(what) + ": " + std::strerror(err));
}

Status FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) return ErrnoStatus("open directory for fsync", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync directory", err);
  return Status::Ok();
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates `path` as a directory with mode 0700 if missing (then syncs its parent); refuses
// anything that is not a real directory (a symlink included); enforces mode 0700.
Status EnsurePrivateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) {
    HYGIE_RETURN_IF_ERROR(FsyncPath(ParentDir(path)));
  } else if (errno != EEXIST) {
    return ErrnoStatus("create directory", errno);
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat directory", errno);
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition("storage: data path is not a directory");
  if ((st.st_mode & 07777) != 0700 && ::chmod(path.c_str(), 0700) != 0) {
    return ErrnoStatus("chmod directory", errno);
  }
  return Status::Ok();
}

// Creates the database file with mode 0600 before SQLite opens it (SQLite gives its -wal and
// -shm files the mode of the database file); a new file and its directory entry are synced.
Status EnsurePrivateFile(const std::string& path) {
  bool created = true;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) {
    created = false;
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) return ErrnoStatus("open database file", errno);
  Status status;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    status = ErrnoStatus("stat database file", errno);
  } else if (!S_ISREG(st.st_mode)) {
    status = FailedPrecondition("storage: database path is not a regular file");
  } else if ((st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0) {
    status = ErrnoStatus("chmod database file", errno);
  } else if (created && ::fsync(fd) != 0) {
    status = ErrnoStatus("fsync database file", errno);
  }
  ::close(fd);
  HYGIE_RETURN_IF_ERROR(status);
  if (created) HYGIE_RETURN_IF_ERROR(FsyncPath(ParentDir(path)));
  return Status::Ok();
}

Status RunStmt(Stmt& stmt) {
  ScopedReset reset(stmt);
  return stmt.Run();
}

std::string ResourceName(std::string_view type, std::string_view id) {
  std::string name;
  name.reserve(type.size() + 1 + id.size());
  name += type;
  name += '/';
  name += id;
  return name;
}

Status ValidateIndex(const IndexEntries& index) {
  for (const NumberEntry& e : index.numbers) {
    if (std::isnan(e.lo) || std::isnan(e.hi)) {
      return InvalidArgument("storage: number index entry is not a number");
    }
  }
  return Status::Ok();
}

// Checks what can be checked without the database.
Status ValidateBatch(const WriteBatch& batch) {
  for (const VersionWrite& w : batch.versions) {
    const VersionRecord& r = w.record;
    if (r.type.empty() || r.id.empty()) {
      return InvalidArgument("storage: version write without type or id");
    }
    if (w.expected_current >= static_cast<uint64_t>(kMaxInt64) ||
        r.version != w.expected_current + 1) {
      return InvalidArgument("storage: version " + std::to_string(r.version) + " of " +
                             ResourceName(r.type, r.id) + " does not follow expected version " +
                             std::to_string(w.expected_current));
    }
    if (r.deleted &&
        (!w.index.hashes.empty() || !w.index.dates.empty() || !w.index.numbers.empty())) {
      return InvalidArgument("storage: tombstone of " + ResourceName(r.type, r.id) +
                             " with index entries");
    }
    HYGIE_RETURN_IF_ERROR(ValidateIndex(w.index));
  }
  for (const IndexWrite& w : batch.reindex) {
    if (w.type.empty() || w.id.empty()) {
      return InvalidArgument("storage: index write without type or id");
    }
    HYGIE_RETURN_IF_ERROR(ValidateIndex(w.index));
  }
  return Status::Ok();
}

// Most rows of one multi-row INSERT into an index table.
constexpr size_t kInsertRows = 64;

// Rows waiting to be inserted into one index table, written by multi-row INSERTs of up to
// kInsertRows rows (one statement per row count, prepared on first use). The value buffer is
// kept between batches: no allocation per row once warm.
class InsertBuffer {
 public:
  // `head` is the statement up to VALUES (e.g. "INSERT OR IGNORE INTO t(a, b) VALUES ").
  void Init(sqlite3* db, std::string head, int columns) {
    db_ = db;
    head_ = std::move(head);
    columns_ = columns;
    stmts_.clear();
    stmts_.resize(kInsertRows);
    values_.reserve(kInsertRows * static_cast<size_t>(columns));
  }

  bool empty() const { return values_.empty(); }
  void Clear() { values_.clear(); }

  void AddInt(int64_t v) { values_.push_back(Value{v, 0, false}); }
  void AddReal(double v) { values_.push_back(Value{0, v, true}); }
  // Ends a row; writes the buffer when it holds kInsertRows rows.
  Status EndRow() {
    if (values_.size() >= kInsertRows * static_cast<size_t>(columns_)) return Flush();
    return Status::Ok();
  }

  // Inserts the buffered rows and empties the buffer (also on failure).
  Status Flush() {
    const size_t rows = values_.size() / static_cast<size_t>(columns_);
    if (rows == 0) return Status::Ok();
    Stmt& stmt = stmts_[rows - 1];
    if (!stmt.valid()) {
      std::string sql = head_;
      for (size_t r = 0; r < rows; ++r) {
        sql += r == 0 ? "(" : ", (";
        for (int c = 0; c < columns_; ++c) sql += c == 0 ? "?" : ", ?";
        sql += ")";
      }
      auto prepared = Stmt::Prepare(db_, sql);
      if (!prepared.ok()) {
        values_.clear();
        return prepared.status();
      }
      stmt = std::move(*prepared);
    }
    ScopedReset reset(stmt);
    int rc = SQLITE_OK;
    for (size_t i = 0; i < values_.size() && rc == SQLITE_OK; ++i) {
      const Value& v = values_[i];
      int index = static_cast<int>(i) + 1;
      rc = v.real ? sqlite3_bind_double(stmt.get(), index, v.d)
                  : sqlite3_bind_int64(stmt.get(), index, v.i);
    }
    values_.clear();
    if (rc != SQLITE_OK) return sqlite::SqliteStatus(rc, db_, "bind index row");
    return stmt.Run();
  }

 private:
  struct Value {
    int64_t i;
    double d;
    bool real;
  };
  sqlite3* db_ = nullptr;
  std::string head_;
  int columns_ = 1;
  std::vector<Value> values_;
  std::vector<Stmt> stmts_;  // by row count - 1
};

// The statements of the write connection that apply a batch.
struct WriteStatements {
  Stmt select_current;
  Stmt insert_version;
  Stmt insert_current;
  Stmt update_current;
  Stmt update_idx;
  Stmt insert_block;
  Stmt delete_hash;
  Stmt delete_dates;
  Stmt delete_numbers;
  Stmt set_meta;
  InsertBuffer hashes;   // (b, h, rid)
  InsertBuffer dates;    // (rid, k, lo, hi, b)
  InsertBuffer numbers;  // (rid, k, lo, hi, b)
};

// The newest index block, as the writer fills it. Updated as batches run; a batch or a group
// that rolls back leaves it ahead (a block closed a little early or a number skipped), never
// behind, so blocks still increase with row ids.
struct BlockState {
  int64_t block = -1;  // -1: none yet
  int64_t rows = 0;    // index rows written into it (an estimate after a rollback)
  int64_t max_rows = 65536;
};

bool HasWork(const WriteBatch& batch) {
  return !batch.versions.empty() || !batch.reindex.empty() || batch.set_index_version;
}

}  // namespace

struct SqliteTenantStore::Private {};

struct SqliteTenantStore::Writer {
  Db db;
  TransactionStatements txn;
  Stmt savepoint;
  Stmt release;
  Stmt rollback_to;
  WriteStatements stmts;
  BlockState block;
};

struct SqliteTenantStore::ReadConn {
  Db db;
  Stmt read_current;
  Stmt read_version;
  Stmt history[kScopeCount];
  Stmt count[kScopeCount];
  Stmt scan_all;
  Stmt scan_type;
  Stmt read_body;
  Stmt index_version;
  Stmt max_rowid;
  Stmt scan_log;
  Stmt max_seq;
  // Search statements by SQL text (the query's shape); cleared when full.
  std::unordered_map<std::string, Stmt> searches;
};

// Holds a read connection for the duration of one read.
class SqliteTenantStore::ReadLease {
 public:
  ReadLease(SqliteTenantStore& store, ReadConn* conn) : store_(store), conn_(conn) {}
  ~ReadLease() { store_.ReleaseRead(conn_); }
  ReadLease(const ReadLease&) = delete;
  ReadLease& operator=(const ReadLease&) = delete;
  ReadConn& operator*() const { return *conn_; }
  ReadConn* operator->() const { return conn_; }

 private:
  SqliteTenantStore& store_;
  ReadConn* conn_;
};

SqliteTenantStore::SqliteTenantStore(const Private&, std::string db_path,
                                     const SqliteOptions& options)
    : db_path_(std::move(db_path)), options_(options) {}

SqliteTenantStore::~SqliteTenantStore() { Close(); }

Result<std::shared_ptr<SqliteTenantStore>> SqliteTenantStore::Open(const std::string& tenant_dir,
                                                                   const SqliteOptions& options) {
  HYGIE_RETURN_IF_ERROR(EnsurePrivateDir(tenant_dir));
  std::string db_path = tenant_dir + "/data.db";
  HYGIE_RETURN_IF_ERROR(EnsurePrivateFile(db_path));
  auto store = std::make_shared<SqliteTenantStore>(Private{}, std::move(db_path), options);
  HYGIE_RETURN_IF_ERROR(store->Start());
  return store;
}

Status SqliteTenantStore::Start() {
  auto writer = std::make_unique<Writer>();
  HYGIE_ASSIGN_OR_RETURN(writer->db, Db::Open(db_path_, SQLITE_OPEN_READWRITE));
  HYGIE_RETURN_IF_ERROR(sqlite::ConfigureConnection(
      writer->db, std::max(options_.cache_kib, kWriterCacheKib), kBusyTimeoutMs));
  sqlite3* db = writer->db.get();
  HYGIE_ASSIGN_OR_RETURN(writer->txn, TransactionStatements::Prepare(db, /*immediate=*/true));

  // Schema, created or checked in one transaction.
  {
    Transaction txn(writer->db, writer->txn);
    HYGIE_RETURN_IF_ERROR(txn.Begin());
    HYGIE_ASSIGN_OR_RETURN(int64_t version, writer->db.QueryInt("PRAGMA user_version"));
    if (version == 0 || version == 1) {
      HYGIE_RETURN_IF_ERROR(writer->db.Exec(kVersionLogSql));
      if (version == 1) HYGIE_RETURN_IF_ERROR(writer->db.Exec(kMigrateV1Sql));
      HYGIE_RETURN_IF_ERROR(writer->db.Exec(kCurrentSchemaSql));
      if (version == 1) HYGIE_RETURN_IF_ERROR(writer->db.Exec(kRebuildCurrentSql));
      HYGIE_RETURN_IF_ERROR(
          writer->db.Exec("PRAGMA user_version=" + std::to_string(kSqliteSchemaVersion)));
    } else if (version == 2) {
      HYGIE_RETURN_IF_ERROR(writer->db.Exec(kMigrateV2Sql));
      HYGIE_RETURN_IF_ERROR(
          writer->db.Exec("PRAGMA user_version=" + std::to_string(kSqliteSchemaVersion)));
    } else if (version != kSqliteSchemaVersion) {
      return FailedPrecondition("storage: database schema version " + std::to_string(version) +
                                " is not supported (expected " +
                                std::to_string(kSqliteSchemaVersion) + ")");
    }
    HYGIE_RETURN_IF_ERROR(txn.Commit());
  }

  HYGIE_ASSIGN_OR_RETURN(writer->savepoint, Stmt::Prepare(db, "SAVEPOINT batch"));
  HYGIE_ASSIGN_OR_RETURN(writer->release, Stmt::Prepare(db, "RELEASE batch"));
  HYGIE_ASSIGN_OR_RETURN(writer->rollback_to, Stmt::Prepare(db, "ROLLBACK TO batch"));
  struct {
    Stmt* stmt;
    const char* sql;
  } const statements[] = {
      {&writer->stmts.select_current,
       "SELECT rid, version, deleted, idx, coalesce(b, rid >> 12) FROM resource_current "
       "WHERE type = ?1 AND id = ?2"},
      {&writer->stmts.insert_version,
       "INSERT INTO resource_version(type, id, version, ts, deleted, key_id, body) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
      {&writer->stmts.insert_current,
       "INSERT INTO resource_current(type, id, version, seq, ts, deleted, idx, b) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&writer->stmts.update_current,
       "UPDATE resource_current SET version = ?2, seq = ?3, ts = ?4, deleted = ?5, idx = ?6 "
       "WHERE rid = ?1"},
      {&writer->stmts.update_idx, "UPDATE resource_current SET idx = ?2 WHERE rid = ?1"},
      {&writer->stmts.insert_block, "INSERT OR IGNORE INTO idx_blocks(b) VALUES (?1)"},
      {&writer->stmts.delete_hash, "DELETE FROM idx_hash WHERE b = ?1 AND h = ?2 AND rid = ?3"},
      {&writer->stmts.delete_dates, "DELETE FROM idx_date WHERE rid = ?1"},
      {&writer->stmts.delete_numbers, "DELETE FROM idx_num WHERE rid = ?1"},
      {&writer->stmts.set_meta,
       "INSERT INTO meta(name, value) VALUES (?1, ?2) "
       "ON CONFLICT(name) DO UPDATE SET value = excluded.value"},
  };
  for (const auto& [stmt, sql] : statements) {
    HYGIE_ASSIGN_OR_RETURN(*stmt, Stmt::Prepare(db, sql));
  }
  // The newest block and its rows (a version-2 database: its last block of 4,096 row ids).
  writer->block.max_rows = static_cast<int64_t>(std::max<size_t>(
      1, std::min<size_t>(options_.index_block_rows, static_cast<size_t>(kMaxInt64))));
  HYGIE_ASSIGN_OR_RETURN(writer->block.block,
                         writer->db.QueryInt("SELECT coalesce(max(b), -1) FROM idx_blocks"));
  if (writer->block.block >= 0) {
    HYGIE_ASSIGN_OR_RETURN(writer->block.rows,
                           writer->db.QueryInt("SELECT count(*) FROM idx_hash WHERE b = " +
                                               std::to_string(writer->block.block)));
  }
  writer->stmts.hashes.Init(db, "INSERT OR IGNORE INTO idx_hash(b, h, rid) VALUES ", 3);
  writer->stmts.dates.Init(db, "INSERT OR IGNORE INTO idx_date(rid, k, lo, hi, b) VALUES ", 5);
  writer->stmts.numbers.Init(db, "INSERT OR IGNORE INTO idx_num(rid, k, lo, hi, b) VALUES ", 5);
  // Checkpoints are run by the checkpointer (and by the writer past the hard limit), not by
  // every commit that crosses SQLite's default threshold.
  HYGIE_RETURN_IF_ERROR(writer->db.Exec("PRAGMA wal_autocheckpoint=0"));
  auto checkpoint_db = std::make_unique<Db>();
  HYGIE_ASSIGN_OR_RETURN(*checkpoint_db, Db::Open(db_path_, SQLITE_OPEN_READWRITE));
  HYGIE_RETURN_IF_ERROR(
      sqlite::ConfigureConnection(*checkpoint_db, /*cache_kib=*/256, kBusyTimeoutMs));
  HYGIE_RETURN_IF_ERROR(checkpoint_db->Exec("PRAGMA wal_autocheckpoint=0"));
  sqlite3_wal_hook(db, &SqliteTenantStore::OnWalCommit, this);

  writer_ = std::move(writer);
  checkpoint_db_ = std::move(checkpoint_db);
  // Threads named after the tenant: the database's folder (<dir>/<tenant>/data.db).
  const std::string tenant = std::filesystem::path(db_path_).parent_path().filename().string();
  checkpoint_thread_ = std::thread([this, tenant] {
    SetThreadName("wal:" + tenant);
    CheckpointLoop();
  });
  writer_thread_ = std::thread([this, tenant] {
    SetThreadName("store:" + tenant);
    writer_id_.store(std::this_thread::get_id());
    WriterLoop();
  });
  return Status::Ok();
}

int SqliteTenantStore::OnWalCommit(void* arg, sqlite3* db, const char* name, int pages) {
  auto* self = static_cast<SqliteTenantStore*>(arg);
  if (pages >= kWalHardLimitPages) {
    // The checkpointer has not kept up: checkpoint here, while no frame is being appended, so
    // the WAL can be fully backfilled and restart from its beginning.
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    self->writer_checkpoints_.fetch_add(1, std::memory_order_relaxed);
  } else if (pages >= kCheckpointPages) {
    {
      std::lock_guard<std::mutex> lock(self->checkpoint_mu_);
      self->checkpoint_wanted_ = true;
    }
    self->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;  // a checkpoint failure does not fail the commit, which is durable already
}

void SqliteTenantStore::CheckpointLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(checkpoint_mu_);
      checkpoint_cv_.wait(lock, [this] { return checkpoint_wanted_ || checkpoint_stopping_; });
      if (checkpoint_stopping_) return;
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what it can without waiting for readers or blocking the writer. A
    // failure (busy, I/O) is retried at the next request; the WAL still holds the data.
    int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->get(), "main", SQLITE_CHECKPOINT_PASSIVE,
                                       nullptr, nullptr);
    if (rc == SQLITE_OK) checkpoints_.fetch_add(1, std::memory_order_relaxed);
  }
}

// --- Writes ---

void SqliteTenantStore::Commit(WriteBatch batch, CommitCallback done) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(batch), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  if (done) done(Unavailable("storage: tenant store is closed"));
}

void SqliteTenantStore::WriterLoop() {
  const size_t max_batches = std::max<size_t>(1, options_.max_group_batches);
  std::vector<Pending> group;
  std::vector<Status> statuses;
  group.reserve(std::min<size_t>(max_batches, 1024));
  while (true) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued has been committed
      if (options_.max_group_delay_us > 0 && queue_.size() < max_batches && !stopping_) {
        auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::microseconds(options_.max_group_delay_us);
        queue_cv_.wait_until(lock, deadline, [this, max_batches] {
          return queue_.size() >= max_batches || stopping_;
        });
      }
      size_t n = std::min(queue_.size(), max_batches);
      for (size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunGroup(group, statuses);
    group.clear();
  }
}

namespace {

// A resource's hashes as kept in resource_current.idx: sorted, distinct, 8 bytes little-endian.
Bytes EncodeHashes(const std::vector<uint64_t>& sorted) {
  Bytes out(sorted.size() * 8);
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (int b = 0; b < 8; ++b) out[i * 8 + b] = static_cast<uint8_t>(sorted[i] >> (8 * b));
  }
  return out;
}

std::vector<uint64_t> DecodeHashes(const Stmt& stmt, int col) {
  const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt.get(), col));
  int size = sqlite3_column_bytes(stmt.get(), col);
  std::vector<uint64_t> out;
  if (data == nullptr || size <= 0) return out;
  out.resize(static_cast<size_t>(size) / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t h = 0;
    for (int b = 0; b < 8; ++b) h |= static_cast<uint64_t>(data[i * 8 + b]) << (8 * b);
    out[i] = h;
  }
  return out;
}

std::vector<uint64_t> SortedDistinct(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// The current row of a resource, as the writer reads it.
struct CurrentRow {
  bool exists = false;
  int64_t rid = 0;
  int64_t block = 0;  // its index block
  uint64_t version = 0;
  bool deleted = false;
  std::vector<uint64_t> hashes;  // sorted, distinct
};

// Applies one batch inside the open savepoint. Returns a non-ok Status for a failure of the
// whole group; sets *outcome to a non-ok Status when only this batch fails.
class BatchWriter {
 public:
  BatchWriter(Db& db, WriteStatements& s, BlockState& block, Status* outcome)
      : db_(db), s_(s), block_(block), outcome_(outcome) {}

  Status Apply(const WriteBatch& batch) {
    ClearBuffers();  // rows left by a batch that failed
    for (const VersionWrite& w : batch.versions) {
      if (!outcome_->ok()) break;
      HYGIE_RETURN_IF_ERROR(WriteVersion(w));
    }
    for (const IndexWrite& w : batch.reindex) {
      if (!outcome_->ok()) break;
      HYGIE_RETURN_IF_ERROR(Reindex(w));
    }
    if (!outcome_->ok()) {
      ClearBuffers();  // the batch is rolled back
      return Status::Ok();
    }
    for (InsertBuffer* buffer : {&s_.hashes, &s_.dates, &s_.numbers}) {
      HYGIE_RETURN_IF_ERROR(Classify(buffer->Flush()));
      if (!outcome_->ok()) {
        ClearBuffers();
        return Status::Ok();
      }
    }
    if (batch.set_index_version) {
      ScopedReset reset(s_.set_meta);
      Status st = s_.set_meta.BindText(1, kIndexVersionName);
      if (st.ok()) st = s_.set_meta.BindInt64(2, *batch.set_index_version);
      if (st.ok()) st = s_.set_meta.Run();
      return Classify(std::move(st));
    }
    return Status::Ok();
  }

 private:
  void ClearBuffers() {
    s_.hashes.Clear();
    s_.dates.Clear();
    s_.numbers.Clear();
  }

  // A statement error is the batch's own (e.g. a constraint) unless it is an I/O-class error
  // or SQLite has abandoned the transaction.
  Status Classify(Status status) {
    if (status.ok()) return status;
    if (status.code() == Code::kUnavailable || !db_.in_transaction()) return status;
    *outcome_ = std::move(status);
    return Status::Ok();
  }

  Status ReadCurrentRow(const std::string& type, const std::string& id, CurrentRow* row) {
    Stmt& st = s_.select_current;
    ScopedReset reset(st);
    Status s = st.BindText(1, type);
    if (s.ok()) s = st.BindText(2, id);
    if (!s.ok()) return s;
    HYGIE_ASSIGN_OR_RETURN(bool found, st.Step());
    row->exists = found;
    if (found) {
      row->rid = st.ColumnInt64(0);
      row->version = static_cast<uint64_t>(st.ColumnInt64(1));
      row->deleted = st.ColumnInt64(2) != 0;
      row->hashes = DecodeHashes(st, 3);
      row->block = st.ColumnInt64(4);
    }
    return Status::Ok();
  }

  Status WriteVersion(const VersionWrite& w) {
    const VersionRecord& r = w.record;
    CurrentRow cur;
    HYGIE_RETURN_IF_ERROR(Classify(ReadCurrentRow(r.type, r.id, &cur)));
    if (!outcome_->ok()) return Status::Ok();
    uint64_t current = cur.exists ? cur.version : 0;
    if (current != w.expected_current) {
      *outcome_ = Conflict("storage: version conflict on " + ResourceName(r.type, r.id) +
                           ": current version is " + std::to_string(current) + ", expected " +
                           std::to_string(w.expected_current));
      return Status::Ok();
    }
    {
      Stmt& st = s_.insert_version;
      ScopedReset reset(st);
      Status s = st.BindText(1, r.type);
      if (s.ok()) s = st.BindText(2, r.id);
      if (s.ok()) s = st.BindInt64(3, static_cast<int64_t>(r.version));
      if (s.ok()) s = st.BindInt64(4, r.last_updated_us);
      if (s.ok()) s = st.BindInt64(5, r.deleted ? 1 : 0);
      if (s.ok()) s = st.BindInt64(6, static_cast<int64_t>(r.key_id));
      if (s.ok()) s = st.BindBlob(7, r.body);
      if (s.ok()) s = st.Run();
      if (!s.ok()) return Classify(std::move(s));
    }
    int64_t seq = sqlite3_last_insert_rowid(db_.get());
    // A new resource goes to the newest block, or opens the next one when that one is full.
    int64_t block = cur.block;
    if (!cur.exists) {
      if (block_.block < 0 || block_.rows >= block_.max_rows) {
        block_.block = std::max<int64_t>(block_.block + 1, 0);
        block_.rows = 0;
      }
      block = block_.block;
    }
    std::vector<uint64_t> hashes = SortedDistinct(w.index.hashes);
    Bytes idx = EncodeHashes(hashes);
    Stmt& st = cur.exists ? s_.update_current : s_.insert_current;
    {
      ScopedReset reset(st);
      Status s;
      if (cur.exists) {
        s = st.BindInt64(1, cur.rid);
        if (s.ok()) s = st.BindInt64(2, static_cast<int64_t>(r.version));
        if (s.ok()) s = st.BindInt64(3, seq);
        if (s.ok()) s = st.BindInt64(4, r.last_updated_us);
        if (s.ok()) s = st.BindInt64(5, r.deleted ? 1 : 0);
        if (s.ok()) s = st.BindBlob(6, idx);
      } else {
        s = st.BindText(1, r.type);
        if (s.ok()) s = st.BindText(2, r.id);
        if (s.ok()) s = st.BindInt64(3, static_cast<int64_t>(r.version));
        if (s.ok()) s = st.BindInt64(4, seq);
        if (s.ok()) s = st.BindInt64(5, r.last_updated_us);
        if (s.ok()) s = st.BindInt64(6, r.deleted ? 1 : 0);
        if (s.ok()) s = st.BindBlob(7, idx);
        if (s.ok()) s = st.BindInt64(8, block);
      }
      if (s.ok()) s = st.Run();
      if (!s.ok()) return Classify(std::move(s));
    }
    int64_t rid = cur.exists ? cur.rid : sqlite3_last_insert_rowid(db_.get());
    if (!cur.exists && block != last_block_) {
      // Registered by each batch that uses it: a batch rolled back takes its row with it.
      Stmt& st = s_.insert_block;
      ScopedReset reset(st);
      Status s = st.BindInt64(1, block);
      if (s.ok()) s = st.Run();
      if (!s.ok()) return Classify(std::move(s));
      last_block_ = block;
    }
    return Classify(ReplaceEntries(rid, block, cur.exists, cur.hashes, hashes, w.index));
  }

  Status Reindex(const IndexWrite& w) {
    CurrentRow cur;
    HYGIE_RETURN_IF_ERROR(Classify(ReadCurrentRow(w.type, w.id, &cur)));
    if (!outcome_->ok()) return Status::Ok();
    if (!cur.exists || cur.deleted || cur.version != w.version) {
      *outcome_ = NotFound("storage: cannot reindex " + ResourceName(w.type, w.id) + " version " +
                           std::to_string(w.version) + ": not the current version");
      return Status::Ok();
    }
    std::vector<uint64_t> hashes = SortedDistinct(w.index.hashes);
    if (hashes != cur.hashes) {
      Bytes idx = EncodeHashes(hashes);
      Stmt& st = s_.update_idx;
      ScopedReset reset(st);
      Status s = st.BindInt64(1, cur.rid);
      if (s.ok()) s = st.BindBlob(2, idx);
      if (s.ok()) s = st.Run();
      if (!s.ok()) return Classify(std::move(s));
    }
    return Classify(ReplaceEntries(cur.rid, cur.block, true, cur.hashes, hashes, w.index));
  }

  // Deletes the entries of `rid` that are not in the new set, inserts those that are new.
  // Dates and numbers (few per resource) are deleted and inserted whole. Inserts are buffered
  // (see InsertBuffer); a buffer is written out before a delete from its table, which may
  // concern rows of the same resource written earlier in the batch.
  Status ReplaceEntries(int64_t rid, int64_t block, bool existed,
                        const std::vector<uint64_t>& old_hashes,
                        const std::vector<uint64_t>& new_hashes, const IndexEntries& index) {
    int64_t added = static_cast<int64_t>(index.dates.size() + index.numbers.size());
    size_t i = 0;
    size_t j = 0;
    while (i < old_hashes.size() || j < new_hashes.size()) {
      if (j == new_hashes.size() || (i < old_hashes.size() && old_hashes[i] < new_hashes[j])) {
        HYGIE_RETURN_IF_ERROR(s_.hashes.Flush());
        Stmt& st = s_.delete_hash;
        ScopedReset reset(st);
        HYGIE_RETURN_IF_ERROR(st.BindInt64(1, block));
        HYGIE_RETURN_IF_ERROR(st.BindInt64(2, static_cast<int64_t>(old_hashes[i++])));
        HYGIE_RETURN_IF_ERROR(st.BindInt64(3, rid));
        HYGIE_RETURN_IF_ERROR(st.Run());
      } else if (i == old_hashes.size() || new_hashes[j] < old_hashes[i]) {
        s_.hashes.AddInt(block);
        s_.hashes.AddInt(static_cast<int64_t>(new_hashes[j++]));
        s_.hashes.AddInt(rid);
        ++added;
        HYGIE_RETURN_IF_ERROR(s_.hashes.EndRow());
      } else {
        ++i;
        ++j;
      }
    }
    if (existed) {
      HYGIE_RETURN_IF_ERROR(s_.dates.Flush());
      HYGIE_RETURN_IF_ERROR(s_.numbers.Flush());
      for (Stmt* st : {&s_.delete_dates, &s_.delete_numbers}) {
        ScopedReset reset(*st);
        HYGIE_RETURN_IF_ERROR(st->BindInt64(1, rid));
        HYGIE_RETURN_IF_ERROR(st->Run());
      }
    }
    for (const DateEntry& e : index.dates) {
      s_.dates.AddInt(rid);
      s_.dates.AddInt(static_cast<int64_t>(e.key));
      s_.dates.AddInt(e.lo);
      s_.dates.AddInt(e.hi);
      s_.dates.AddInt(block);
      HYGIE_RETURN_IF_ERROR(s_.dates.EndRow());
    }
    for (const NumberEntry& e : index.numbers) {
      s_.numbers.AddInt(rid);
      s_.numbers.AddInt(static_cast<int64_t>(e.key));
      s_.numbers.AddReal(e.lo);
      s_.numbers.AddReal(e.hi);
      s_.numbers.AddInt(block);
      HYGIE_RETURN_IF_ERROR(s_.numbers.EndRow());
    }
    if (block == block_.block) block_.rows += added;
    return Status::Ok();
  }

  Db& db_;
  WriteStatements& s_;
  BlockState& block_;
  Status* outcome_;
  int64_t last_block_ = -1;  // block registered in idx_blocks by this batch
};

}  // namespace

void SqliteTenantStore::RunGroup(std::vector<Pending>& group, std::vector<Status>& statuses) {
  Writer& w = *writer_;
  statuses.assign(group.size(), Status::Ok());
  std::vector<bool> invalid(group.size(), false);
  for (size_t i = 0; i < group.size(); ++i) {
    statuses[i] = ValidateBatch(group[i].batch);
    invalid[i] = !statuses[i].ok();
  }

  // First without savepoints: a savepoint makes SQLite copy every page a batch first touches
  // into its statement journal (a malloc and a page copy each), which cost the writer about a
  // fifth of its time. When a batch fails, the whole transaction is rolled back and the group
  // runs again with a savepoint per batch, so that the failed batch alone is undone.
  Status fatal;
  for (bool savepoints : {false, true}) {
    Transaction txn(w.db, w.txn);
    fatal = txn.Begin();
    bool retry = false;
    for (size_t i = 0; fatal.ok() && i < group.size(); ++i) {
      const WriteBatch& batch = group[i].batch;
      if (invalid[i] || !HasWork(batch)) continue;
      if (savepoints) fatal = RunStmt(w.savepoint);
      if (!fatal.ok()) break;
      Status outcome;
      fatal = BatchWriter(w.db, w.stmts, w.block, &outcome).Apply(batch);
      if (!fatal.ok()) break;
      if (!outcome.ok() && !savepoints) {
        retry = true;  // the guard rolls the transaction back
        break;
      }
      if (!outcome.ok()) {
        // Undo this batch alone; the savepoint stays on the stack until released.
        fatal = RunStmt(w.rollback_to);
        if (fatal.ok()) fatal = RunStmt(w.release);
        statuses[i] = std::move(outcome);
      } else if (savepoints) {
        fatal = RunStmt(w.release);
      }
    }
    if (retry && fatal.ok()) continue;
    if (fatal.ok()) fatal = txn.Commit();  // one WAL fsync for the group (synchronous=FULL)
    // On failure the guard rolls back what remains of the transaction.
    break;
  }

  uint64_t committed = 0;
  uint64_t rejected = 0;
  if (fatal.ok()) {
    group_commits_.fetch_add(1, std::memory_order_relaxed);
    for (const Status& s : statuses) (s.ok() ? committed : rejected)++;
  } else {
    // Nothing of the group is durable: every batch fails, none is acknowledged.
    failed_groups_.fetch_add(1, std::memory_order_relaxed);
    for (size_t i = 0; i < group.size(); ++i) {
      if (invalid[i]) {
        rejected++;
      } else {
        statuses[i] = fatal;
      }
    }
  }
  batches_committed_.fetch_add(committed, std::memory_order_relaxed);
  batches_rejected_.fetch_add(rejected, std::memory_order_relaxed);
  for (size_t i = 0; i < group.size(); ++i) {
    CommitCallback done = std::move(group[i].done);
    if (done) done(std::move(statuses[i]));
  }
}

SqliteTenantStats SqliteTenantStore::stats() const {
  SqliteTenantStats s;
  s.group_commits = group_commits_.load(std::memory_order_relaxed);
  s.batches_committed = batches_committed_.load(std::memory_order_relaxed);
  s.batches_rejected = batches_rejected_.load(std::memory_order_relaxed);
  s.failed_groups = failed_groups_.load(std::memory_order_relaxed);
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.writer_checkpoints = writer_checkpoints_.load(std::memory_order_relaxed);
  return s;
}

void SqliteTenantStore::Close() {
  if (std::this_thread::get_id() == writer_id_.load()) {
    // A commit callback closed the store or dropped its last reference: the writer cannot
    // join itself. A programmer error, reported plainly rather than as a deadlock.
    std::fputs("hygie storage: TenantStore closed or destroyed from a commit callback\n", stderr);
    std::abort();
  }
  std::lock_guard<std::mutex> close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  checkpoint_db_.reset();
  writer_.reset();

  std::vector<std::unique_ptr<ReadConn>> conns;
  {
    std::unique_lock<std::mutex> lock(pool_mu_);
    pool_closed_ = true;
    pool_cv_.notify_all();
    pool_cv_.wait(lock, [this] { return reads_in_use_ == 0; });
    conns = std::move(read_conns_);
    read_conns_.clear();
    free_reads_.clear();
  }
  // conns (and their statements and connections) are destroyed here.
}

// --- Reads ---

Result<std::unique_ptr<SqliteTenantStore::ReadConn>> SqliteTenantStore::OpenReadConn() {
  auto conn = std::make_unique<ReadConn>();
  HYGIE_ASSIGN_OR_RETURN(conn->db, Db::Open(db_path_, SQLITE_OPEN_READWRITE));
  HYGIE_RETURN_IF_ERROR(sqlite::ConfigureConnection(conn->db, options_.cache_kib, kBusyTimeoutMs));
  HYGIE_RETURN_IF_ERROR(conn->db.Exec("PRAGMA query_only=ON"));
  sqlite3* db = conn->db.get();
  HYGIE_ASSIGN_OR_RETURN(
      conn->read_current,
      Stmt::Prepare(db,
                    "SELECT v.version, v.ts, v.deleted, v.key_id, v.body "
                    "FROM resource_current c JOIN resource_version v ON v.seq = c.seq "
                    "WHERE c.type = ?1 AND c.id = ?2"));
  HYGIE_ASSIGN_OR_RETURN(
      conn->read_version,
      Stmt::Prepare(db,
                    "SELECT version, ts, deleted, key_id, body FROM resource_version "
                    "WHERE type = ?1 AND id = ?2 AND version = ?3"));
  for (int scope = 0; scope < kScopeCount; ++scope) {
    HYGIE_ASSIGN_OR_RETURN(conn->history[scope], Stmt::Prepare(db, HistorySql(scope, false)));
    HYGIE_ASSIGN_OR_RETURN(conn->count[scope], Stmt::Prepare(db, HistorySql(scope, true)));
  }
  constexpr const char* kScanSql =
      "SELECT c.rid, c.type, c.id, c.version, c.ts, c.deleted, v.key_id, v.body "
      "FROM resource_current c CROSS JOIN resource_version v ON v.seq = c.seq "
      "WHERE c.deleted = 0 AND c.rid > ?1 ";
  HYGIE_ASSIGN_OR_RETURN(conn->scan_all,
                         Stmt::Prepare(db, std::string(kScanSql) + "ORDER BY c.rid LIMIT ?2"));
  HYGIE_ASSIGN_OR_RETURN(
      conn->scan_type,
      Stmt::Prepare(db, std::string(kScanSql) + "AND c.type = ?3 ORDER BY c.rid LIMIT ?2"));
  HYGIE_ASSIGN_OR_RETURN(
      conn->read_body,
      Stmt::Prepare(db, "SELECT key_id, body FROM resource_version WHERE seq = ?1"));
  HYGIE_ASSIGN_OR_RETURN(conn->index_version,
                         Stmt::Prepare(db, "SELECT value FROM meta WHERE name = ?1"));
  HYGIE_ASSIGN_OR_RETURN(conn->max_rowid,
                         Stmt::Prepare(db, "SELECT coalesce(max(rid), 0) FROM resource_current"));
  HYGIE_ASSIGN_OR_RETURN(
      conn->scan_log,
      Stmt::Prepare(
          db,
          "SELECT seq, type, id, version, ts, deleted, key_id, body FROM resource_version "
          "WHERE seq > ?1 ORDER BY seq LIMIT ?2"));
  HYGIE_ASSIGN_OR_RETURN(conn->max_seq,
                         Stmt::Prepare(db, "SELECT coalesce(max(seq), 0) FROM resource_version"));
  return conn;
}

Result<SqliteTenantStore::ReadConn*> SqliteTenantStore::AcquireRead() {
  const size_t max_conns = std::max<size_t>(1, options_.read_connections);
  std::unique_lock<std::mutex> lock(pool_mu_);
  while (true) {
    if (pool_closed_) return Unavailable("storage: tenant store is closed");
    if (!free_reads_.empty()) {
      ReadConn* conn = free_reads_.back();
      free_reads_.pop_back();
      ++reads_in_use_;
      return conn;
    }
    if (read_conns_.size() < max_conns) {
      // Connections are opened on first need; opening is quick and rare.
      HYGIE_ASSIGN_OR_RETURN(std::unique_ptr<ReadConn> conn, OpenReadConn());
      read_conns_.push_back(std::move(conn));
      ++reads_in_use_;
      return read_conns_.back().get();
    }
    pool_cv_.wait(lock);
  }
}

void SqliteTenantStore::ReleaseRead(ReadConn* conn) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    free_reads_.push_back(conn);
    --reads_in_use_;
  }
  // Both a reader waiting for a connection and Close() waiting for the pool to drain.
  pool_cv_.notify_all();
}

namespace {

// Fills a record from columns version, ts, deleted, key_id, body starting at `col`.
void ReadRecordColumns(const Stmt& stmt, int col, VersionRecord* r) {
  r->version = static_cast<uint64_t>(stmt.ColumnInt64(col));
  r->last_updated_us = stmt.ColumnInt64(col + 1);
  r->deleted = stmt.ColumnInt64(col + 2) != 0;
  r->key_id = static_cast<uint32_t>(stmt.ColumnInt64(col + 3));
  r->body = stmt.ColumnBlob(col + 4);
}

// Steps a point query bound to (type, id, ...) whose columns start with the record's; nullopt
// when no row matches.
Result<std::optional<VersionRecord>> StepOneRecord(Stmt& stmt, std::string_view type,
                                                   std::string_view id) {
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<VersionRecord>();
  VersionRecord r;
  r.type = std::string(type);
  r.id = std::string(id);
  ReadRecordColumns(stmt, 0, &r);
  return std::optional<VersionRecord>(std::move(r));
}

int ScopeOf(const HistoryQuery& q) {
  if (q.type.empty()) return kSystem;
  return q.id.empty() ? kType : kInstance;
}

// Binds the [type] [id] since parameters shared by History and HistoryCount; returns the next
// parameter index.
Result<int> BindHistoryFilter(Stmt& stmt, const HistoryQuery& q) {
  int param = 1;
  int scope = ScopeOf(q);
  if (scope >= kType) HYGIE_RETURN_IF_ERROR(stmt.BindText(param++, q.type));
  if (scope == kInstance) HYGIE_RETURN_IF_ERROR(stmt.BindText(param++, q.id));
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(param++, q.since_us));
  return param;
}

Status ValidateHistoryQuery(const HistoryQuery& q) {
  if (q.type.empty() && !q.id.empty()) {
    return InvalidArgument("storage: history by id needs a type");
  }
  return Status::Ok();
}

// Appends the rows of a statement whose columns are seq, type, id, version, ts, deleted, key_id,
// body (history and the version log).
Status ReadHistoryRows(Stmt& stmt, std::vector<HistoryEntry>* entries) {
  while (true) {
    HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Status::Ok();
    HistoryEntry& e = entries->emplace_back();
    e.seq = static_cast<uint64_t>(stmt.ColumnInt64(0));
    e.record.type = stmt.ColumnText(1);
    e.record.id = stmt.ColumnText(2);
    ReadRecordColumns(stmt, 3, &e.record);
  }
}

}  // namespace

Result<std::optional<VersionRecord>> SqliteTenantStore::ReadCurrent(std::string_view type,
                                                                    std::string_view id) {
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->read_current;
  ScopedReset reset(stmt);
  HYGIE_RETURN_IF_ERROR(stmt.BindText(1, type));
  HYGIE_RETURN_IF_ERROR(stmt.BindText(2, id));
  return StepOneRecord(stmt, type, id);
}

Result<std::optional<VersionRecord>> SqliteTenantStore::ReadVersion(std::string_view type,
                                                                    std::string_view id,
                                                                    uint64_t version) {
  if (version == 0 || version > static_cast<uint64_t>(kMaxInt64)) {
    return std::optional<VersionRecord>();
  }
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->read_version;
  ScopedReset reset(stmt);
  HYGIE_RETURN_IF_ERROR(stmt.BindText(1, type));
  HYGIE_RETURN_IF_ERROR(stmt.BindText(2, id));
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(3, static_cast<int64_t>(version)));
  return StepOneRecord(stmt, type, id);
}

Result<std::vector<HistoryEntry>> SqliteTenantStore::History(const HistoryQuery& query) {
  HYGIE_RETURN_IF_ERROR(ValidateHistoryQuery(query));
  std::vector<HistoryEntry> entries;
  if (query.limit == 0) return entries;
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->history[ScopeOf(query)];
  ScopedReset reset(stmt);
  HYGIE_ASSIGN_OR_RETURN(int param, BindHistoryFilter(stmt, query));
  int64_t before = query.before_seq == 0 || query.before_seq > static_cast<uint64_t>(kMaxInt64)
                       ? kMaxInt64
                       : static_cast<int64_t>(query.before_seq);
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(param++, before));
  int64_t limit =
      query.limit > static_cast<size_t>(kMaxInt64) ? kMaxInt64 : static_cast<int64_t>(query.limit);
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(param++, limit));
  entries.reserve(std::min<size_t>(query.limit, 1024));
  HYGIE_RETURN_IF_ERROR(ReadHistoryRows(stmt, &entries));
  return entries;
}

Result<uint64_t> SqliteTenantStore::HistoryCount(const HistoryQuery& query) {
  HYGIE_RETURN_IF_ERROR(ValidateHistoryQuery(query));
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->count[ScopeOf(query)];
  ScopedReset reset(stmt);
  HYGIE_ASSIGN_OR_RETURN(int param, BindHistoryFilter(stmt, query));
  (void)param;
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("storage: count returned no row");
  return static_cast<uint64_t>(stmt.ColumnInt64(0));
}

// --- Search ---

namespace {

int64_t ClampToInt64(uint64_t v) {
  return v > static_cast<uint64_t>(kMaxInt64) ? kMaxInt64 : static_cast<int64_t>(v);
}

// A value bound to a search statement.
struct BoundValue {
  enum Kind { kInt, kReal, kText } kind = kInt;
  int64_t i = 0;
  double d = 0;
  std::string_view text;  // points into the query
};

// Builds the SQL of a search and the values it binds, numbered ?1, ?2, ... in order of use.
//
// Plan: the query runs over resource_current c. When a clause is made of plain (non-negated)
// hash terms, the one with the fewest hashes drives: a single hash as
// `idx_blocks k CROSS JOIN idx_hash d CROSS JOIN c` (one seek per block, in block order, then
// the (b, h, rid) primary key in row id order: ordered by (k.b, d.rid), so that paging by row id
// stops after `limit` rows), several as `c.rid IN (SELECT rid FROM idx_blocks, idx_hash ...)`. With
// a driver, the type and deleted tests are written `+c.type` / `+c.deleted` to keep the planner
// from scanning the (type, deleted) index instead. An id clause is left to the (type, id) index. A
// sorted or counted query without hash driver may be driven by a single date or number term. Every
// other clause is a correlated test: EXISTS on the (b, h, rid) or (rid, k) primary keys.
class SearchSqlBuilder {
 public:
  SearchSqlBuilder(const SearchQuery& q, bool count) : q_(q), count_(count) {}

  // Fails with kInvalidArgument when the query would bind more than kMaxSearchParams values.
  Status Build() {
    HYGIE_RETURN_IF_ERROR(CheckSize());
    ChooseDriver();
    const bool join = driver_ >= 0 && driver_join_;
    const std::string rid = join ? "d.rid" : "c.rid";
    sql_ = count_ ? "SELECT count(*) "
                  : "SELECT c.rid, c.type, c.id, c.version, c.ts, c.deleted, c.seq ";
    if (join) {
      sql_ +=
          "FROM idx_blocks k CROSS JOIN idx_hash d ON d.b = k.b "
          "CROSS JOIN resource_current c ON c.rid = d.rid WHERE d.h = ";
      sql_ += Int(static_cast<int64_t>(DriverHash()));
    } else {
      sql_ += "FROM resource_current c WHERE 1";
    }
    const char* plus = driver_ >= 0 ? "+" : "";
    sql_ += std::string(" AND ") + plus + "c.deleted = 0";
    if (!q_.types.empty()) {
      sql_ += std::string(" AND ") + plus + "c.type IN (";
      for (size_t i = 0; i < q_.types.size(); ++i) {
        if (i > 0) sql_ += ", ";
        sql_ += Text(q_.types[i]);
      }
      sql_ += ")";
    }
    const bool keyset = !count_ && q_.sort.empty();
    if (keyset && q_.after_rowid > 0) {
      if (join) sql_ += " AND k.b >= coalesce(" + BlockOf(q_.after_rowid) + ", 0)";
      sql_ += " AND " + rid + " > " + Int(ClampToInt64(q_.after_rowid));
    }
    if (q_.max_rowid > 0) {
      if (join) sql_ += " AND k.b <= coalesce(" + BlockOf(q_.max_rowid) + ", -1)";
      sql_ += " AND " + rid + " <= " + Int(ClampToInt64(q_.max_rowid));
    }
    for (size_t i = 0; i < q_.clauses.size(); ++i) {
      if (static_cast<int>(i) == driver_) {
        if (!join) sql_ += " AND " + DriverSql(q_.clauses[i]);
      } else {
        sql_ += " AND " + ClauseSql(q_.clauses[i]);
      }
    }
    if (count_) return Status::Ok();
    sql_ += " ORDER BY ";
    for (const SortKey& key : q_.sort) {
      sql_ += SortSql(key);
      sql_ += key.descending ? " DESC NULLS LAST, " : " ASC NULLS LAST, ";
    }
    if (join) sql_ += "k.b, ";  // the same order as d.rid, known to the planner
    sql_ += rid + " LIMIT " + Int(ClampToInt64(q_.limit));
    if (!keyset && q_.offset > 0) sql_ += " OFFSET " + Int(ClampToInt64(q_.offset));
    return Status::Ok();
  }

  const std::string& sql() const { return sql_; }
  const std::vector<BoundValue>& values() const { return values_; }

 private:
  Status CheckSize() const {
    size_t n = q_.types.size() + q_.sort.size() + 8;
    for (const SearchClause& clause : q_.clauses) {
      for (const SearchTerm& t : clause) {
        n += t.hashes.size() + t.ids.size() + 1;
        for (const auto& range : t.ranges) n += range.size();
      }
    }
    if (n > kMaxSearchParams) {
      return InvalidArgument("storage: search has too many terms or values");
    }
    return Status::Ok();
  }

  static bool IsPlainHashClause(const SearchClause& clause) {
    return !clause.empty() && std::all_of(clause.begin(), clause.end(), [](const SearchTerm& t) {
      return t.kind == SearchTerm::kHash && !t.negate;
    });
  }

  static size_t HashCount(const SearchClause& clause) {
    size_t n = 0;
    for (const SearchTerm& t : clause) n += t.hashes.size();
    return n;
  }

  void ChooseDriver() {
    for (const SearchClause& clause : q_.clauses) {
      bool ids = !clause.empty() && std::all_of(clause.begin(), clause.end(), [](const auto& t) {
        return t.kind == SearchTerm::kId && !t.negate;
      });
      if (ids) return;  // the (type, id) index is better than any hash
    }
    size_t best = 0;
    for (size_t i = 0; i < q_.clauses.size(); ++i) {
      const SearchClause& clause = q_.clauses[i];
      if (!IsPlainHashClause(clause)) continue;
      size_t n = HashCount(clause);
      if (n == 0) continue;  // matches nothing; rendered as 0
      if (driver_ < 0 || n < best) {
        driver_ = static_cast<int>(i);
        best = n;
      }
    }
    if (driver_ >= 0) {
      driver_join_ = best == 1;
      return;
    }
    if (!count_ && q_.sort.empty()) return;  // a scan in row id order stops after `limit`
    for (size_t i = 0; i < q_.clauses.size(); ++i) {
      const SearchClause& clause = q_.clauses[i];
      if (clause.size() == 1 && !clause[0].negate && !clause[0].ranges.empty() &&
          (clause[0].kind == SearchTerm::kDate || clause[0].kind == SearchTerm::kNumber)) {
        driver_ = static_cast<int>(i);
        return;
      }
    }
  }

  uint64_t DriverHash() const {
    for (const SearchTerm& t : q_.clauses[driver_]) {
      if (!t.hashes.empty()) return t.hashes[0];
    }
    return 0;
  }

  // The driving clause as a row id list.
  std::string DriverSql(const SearchClause& clause) {
    const SearchTerm& first = clause[0];
    if (first.kind == SearchTerm::kHash) {
      std::string sql =
          "c.rid IN (SELECT d.rid FROM idx_blocks k CROSS JOIN idx_hash d ON d.b = k.b "
          "WHERE d.h IN (";
      bool any = false;
      for (const SearchTerm& t : clause) {
        for (uint64_t h : t.hashes) {
          if (any) sql += ", ";
          sql += Int(static_cast<int64_t>(h));
          any = true;
        }
      }
      return sql + "))";
    }
    const bool date = first.kind == SearchTerm::kDate;
    std::string sql = date ? "c.rid IN (SELECT d.rid FROM idx_blocks k CROSS JOIN idx_date d "
                             "ON d.b = k.b WHERE d.k = "
                           : "c.rid IN (SELECT d.rid FROM idx_blocks k CROSS JOIN idx_num d "
                             "ON d.b = k.b WHERE d.k = ";
    sql += Int(static_cast<int64_t>(first.key));
    return sql + " AND " + RangesSql(first, "d.lo", "d.hi") + ")";
  }

  std::string ClauseSql(const SearchClause& clause) {
    if (clause.empty()) return "0";
    std::string sql = "(";
    for (size_t i = 0; i < clause.size(); ++i) {
      if (i > 0) sql += " OR ";
      sql += TermSql(clause[i]);
    }
    return sql + ")";
  }

  std::string TermSql(const SearchTerm& t) {
    std::string sql;
    switch (t.kind) {
      case SearchTerm::kHash:
        if (t.hashes.empty()) {
          sql = "0";
        } else {
          sql = "EXISTS (SELECT 1 FROM idx_hash WHERE b = ";
          sql += kBlockSql;
          sql += " AND h IN (";
          for (size_t i = 0; i < t.hashes.size(); ++i) {
            if (i > 0) sql += ", ";
            sql += Int(static_cast<int64_t>(t.hashes[i]));
          }
          sql += ") AND rid = c.rid)";
        }
        break;
      case SearchTerm::kDate:
      case SearchTerm::kNumber:
        sql = t.kind == SearchTerm::kDate
                  ? "EXISTS (SELECT 1 FROM idx_date WHERE rid = c.rid AND k = "
                  : "EXISTS (SELECT 1 FROM idx_num WHERE rid = c.rid AND k = ";
        sql += Int(static_cast<int64_t>(t.key));
        sql += " AND " + RangesSql(t, "lo", "hi") + ")";
        break;
      case SearchTerm::kId:
        if (t.ids.empty()) {
          sql = "0";
        } else {
          sql = "c.id IN (";
          for (size_t i = 0; i < t.ids.size(); ++i) {
            if (i > 0) sql += ", ";
            sql += Text(t.ids[i]);
          }
          sql += ")";
        }
        break;
      case SearchTerm::kLastUpdated:
        sql = RangesSql(t, "c.ts", "c.ts");
        break;
      case SearchTerm::kNone:
        sql = "0";
        break;
    }
    return t.negate ? "NOT " + sql : sql;
  }

  // (cmp AND cmp ...) OR (...): an empty conjunction is true, an empty disjunction false.
  std::string RangesSql(const SearchTerm& t, const char* lo, const char* hi) {
    if (t.ranges.empty()) return "0";
    const bool number = t.kind == SearchTerm::kNumber;
    std::string sql = "(";
    for (size_t r = 0; r < t.ranges.size(); ++r) {
      if (r > 0) sql += " OR ";
      if (t.ranges[r].empty()) {
        sql += "1";
        continue;
      }
      sql += "(";
      for (size_t i = 0; i < t.ranges[r].size(); ++i) {
        const RangeCmp& cmp = t.ranges[r][i];
        if (i > 0) sql += " AND ";
        sql += cmp.column == RangeCmp::kLo ? lo : hi;
        switch (cmp.op) {
          case RangeCmp::kLt:
            sql += " < ";
            break;
          case RangeCmp::kLe:
            sql += " <= ";
            break;
          case RangeCmp::kGt:
            sql += " > ";
            break;
          case RangeCmp::kGe:
            sql += " >= ";
            break;
        }
        sql += number ? Real(cmp.number) : Int(cmp.instant);
      }
      sql += ")";
    }
    return sql + ")";
  }

  std::string SortSql(const SortKey& key) {
    switch (key.kind) {
      case SortKey::kLastUpdated:
        return "c.ts";
      case SortKey::kId:
        return "c.id";
      case SortKey::kDate:
      case SortKey::kNumber: {
        std::string sql = key.descending ? "(SELECT max(hi) FROM " : "(SELECT min(lo) FROM ";
        sql += key.kind == SortKey::kDate ? "idx_date" : "idx_num";
        sql += " WHERE rid = c.rid AND k = " + Int(static_cast<int64_t>(key.key)) + ")";
        return sql;
      }
    }
    return "c.rid";
  }

  // The block of the last resource row at or before row id r (blocks increase with row ids),
  // as a scalar subquery; NULL before the first row.
  std::string BlockOf(uint64_t r) {
    return "(SELECT coalesce(b, rid >> 12) FROM resource_current WHERE rid <= " +
           Int(ClampToInt64(r)) + " ORDER BY rid DESC LIMIT 1)";
  }

  std::string Int(int64_t v) {
    values_.push_back(BoundValue{BoundValue::kInt, v, 0, {}});
    return Param(values_.size());
  }
  std::string Real(double v) {
    values_.push_back(BoundValue{BoundValue::kReal, 0, v, {}});
    return Param(values_.size());
  }
  std::string Text(std::string_view v) {
    values_.push_back(BoundValue{BoundValue::kText, 0, 0, v});
    return Param(values_.size());
  }

  static std::string Param(size_t n) {
    std::string p = "?";
    p += std::to_string(n);
    return p;
  }

  const SearchQuery& q_;
  const bool count_;
  int driver_ = -1;
  bool driver_join_ = false;
  std::string sql_;
  std::vector<BoundValue> values_;
};

constexpr size_t kMaxCachedSearches = 256;
// Statements binding more values are prepared for one use (their text can be large and is
// rarely repeated).
constexpr size_t kMaxCachedSearchValues = 512;

// The prepared statement for `sql`: from the connection's cache (or prepared into it), or,
// for a statement with many values, prepared into *one_off.
Result<Stmt*> SearchStatement(sqlite3* db, std::unordered_map<std::string, Stmt>& cache,
                              const std::string& sql, size_t values, Stmt* one_off) {
  if (values > kMaxCachedSearchValues) {
    HYGIE_ASSIGN_OR_RETURN(*one_off, Stmt::Prepare(db, sql));
    return one_off;
  }
  auto it = cache.find(sql);
  if (it != cache.end()) return &it->second;
  HYGIE_ASSIGN_OR_RETURN(Stmt stmt, Stmt::Prepare(db, sql));
  if (cache.size() >= kMaxCachedSearches) cache.clear();
  return &cache.emplace(sql, std::move(stmt)).first->second;
}

Status BindValues(Stmt& stmt, const std::vector<BoundValue>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    const BoundValue& v = values[i];
    int index = static_cast<int>(i) + 1;
    switch (v.kind) {
      case BoundValue::kInt:
        HYGIE_RETURN_IF_ERROR(stmt.BindInt64(index, v.i));
        break;
      case BoundValue::kReal:
        HYGIE_RETURN_IF_ERROR(stmt.BindDouble(index, v.d));
        break;
      case BoundValue::kText:
        HYGIE_RETURN_IF_ERROR(stmt.BindText(index, v.text));
        break;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> SqliteSearchSql(const SearchQuery& query, bool count) {
  SearchSqlBuilder builder(query, count);
  HYGIE_RETURN_IF_ERROR(builder.Build());
  return builder.sql();
}

Result<std::vector<SearchHit>> SqliteTenantStore::Search(const SearchQuery& query) {
  if (query.filter) {
    return SearchFiltered(query, [this](const SearchQuery& q) { return Search(q); });
  }
  SearchSqlBuilder builder(query, /*count=*/false);
  HYGIE_RETURN_IF_ERROR(builder.Build());
  std::vector<SearchHit> hits;
  if (query.limit == 0) return hits;
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt one_off;
  HYGIE_ASSIGN_OR_RETURN(Stmt * stmt, SearchStatement(conn->db.get(), conn->searches, builder.sql(),
                                                      builder.values().size(), &one_off));
  std::vector<int64_t> seqs;
  {
    ScopedReset reset(*stmt);
    HYGIE_RETURN_IF_ERROR(BindValues(*stmt, builder.values()));
    hits.reserve(std::min<size_t>(query.limit, 1024));
    while (true) {
      HYGIE_ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) break;
      SearchHit& hit = hits.emplace_back();
      hit.rowid = static_cast<uint64_t>(stmt->ColumnInt64(0));
      hit.record.type = stmt->ColumnText(1);
      hit.record.id = stmt->ColumnText(2);
      hit.record.version = static_cast<uint64_t>(stmt->ColumnInt64(3));
      hit.record.last_updated_us = stmt->ColumnInt64(4);
      hit.record.deleted = stmt->ColumnInt64(5) != 0;
      seqs.push_back(stmt->ColumnInt64(6));
    }
  }
  if (query.with_bodies) {
    // Version rows never change: reading them by seq after the search is consistent with it.
    Stmt& body = conn->read_body;
    for (size_t i = 0; i < hits.size(); ++i) {
      ScopedReset reset(body);
      HYGIE_RETURN_IF_ERROR(body.BindInt64(1, seqs[i]));
      HYGIE_ASSIGN_OR_RETURN(bool row, body.Step());
      if (!row) return DataLoss("storage: current version missing from the version log");
      hits[i].record.key_id = static_cast<uint32_t>(body.ColumnInt64(0));
      hits[i].record.body = body.ColumnBlob(1);
    }
  }
  return hits;
}

Result<uint64_t> SqliteTenantStore::SearchCount(const SearchQuery& query) {
  if (query.filter) {
    return CountFiltered(query, [this](const SearchQuery& q) { return Search(q); });
  }
  SearchSqlBuilder builder(query, /*count=*/true);
  HYGIE_RETURN_IF_ERROR(builder.Build());
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt one_off;
  HYGIE_ASSIGN_OR_RETURN(Stmt * stmt, SearchStatement(conn->db.get(), conn->searches, builder.sql(),
                                                      builder.values().size(), &one_off));
  ScopedReset reset(*stmt);
  HYGIE_RETURN_IF_ERROR(BindValues(*stmt, builder.values()));
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return Internal("storage: count returned no row");
  return static_cast<uint64_t>(stmt->ColumnInt64(0));
}

Result<std::vector<SearchHit>> SqliteTenantStore::ScanCurrent(std::string_view type,
                                                              uint64_t after_rowid, size_t limit) {
  std::vector<SearchHit> hits;
  if (limit == 0) return hits;
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = type.empty() ? conn->scan_all : conn->scan_type;
  ScopedReset reset(stmt);
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(1, ClampToInt64(after_rowid)));
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(2, ClampToInt64(limit)));
  if (!type.empty()) HYGIE_RETURN_IF_ERROR(stmt.BindText(3, type));
  hits.reserve(std::min<size_t>(limit, 1024));
  while (true) {
    HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    SearchHit& hit = hits.emplace_back();
    hit.rowid = static_cast<uint64_t>(stmt.ColumnInt64(0));
    hit.record.type = stmt.ColumnText(1);
    hit.record.id = stmt.ColumnText(2);
    hit.record.version = static_cast<uint64_t>(stmt.ColumnInt64(3));
    hit.record.last_updated_us = stmt.ColumnInt64(4);
    hit.record.deleted = stmt.ColumnInt64(5) != 0;
    hit.record.key_id = static_cast<uint32_t>(stmt.ColumnInt64(6));
    hit.record.body = stmt.ColumnBlob(7);
  }
  return hits;
}

Result<std::vector<HistoryEntry>> SqliteTenantStore::ScanLog(uint64_t after_seq, size_t limit) {
  std::vector<HistoryEntry> entries;
  if (limit == 0 || after_seq >= static_cast<uint64_t>(kMaxInt64)) return entries;
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->scan_log;
  ScopedReset reset(stmt);
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(1, static_cast<int64_t>(after_seq)));
  HYGIE_RETURN_IF_ERROR(stmt.BindInt64(
      2, limit > static_cast<size_t>(kMaxInt64) ? kMaxInt64 : static_cast<int64_t>(limit)));
  entries.reserve(std::min<size_t>(limit, 1024));
  HYGIE_RETURN_IF_ERROR(ReadHistoryRows(stmt, &entries));
  return entries;
}

Result<uint64_t> SqliteTenantStore::MaxSeq() {
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->max_seq;
  ScopedReset reset(stmt);
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<uint64_t>(stmt.ColumnInt64(0)) : 0;
}

Result<uint64_t> SqliteTenantStore::MaxRowid() {
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->max_rowid;
  ScopedReset reset(stmt);
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<uint64_t>(stmt.ColumnInt64(0)) : 0;
}

Result<int64_t> SqliteTenantStore::IndexVersion() {
  HYGIE_ASSIGN_OR_RETURN(ReadConn * raw, AcquireRead());
  ReadLease conn(*this, raw);
  Stmt& stmt = conn->index_version;
  ScopedReset reset(stmt);
  HYGIE_RETURN_IF_ERROR(stmt.BindText(1, kIndexVersionName));
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.ColumnInt64(0) : 0;
}

// --- SqliteStore ---

bool IsValidTenantName(std::string_view tenant) {
  if (tenant.size() < 2 || tenant.size() > 63) return false;
  return std::all_of(tenant.begin(), tenant.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

SqliteStore::SqliteStore(std::string dir, const SqliteOptions& options)
    : dir_(std::move(dir)), options_(options) {}

SqliteStore::~SqliteStore() { Close(); }

Result<std::shared_ptr<TenantStore>> SqliteStore::OpenTenant(std::string_view tenant) {
  if (!IsValidTenantName(tenant)) return InvalidArgument("storage: invalid tenant name");
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return Unavailable("storage: store is closed");
  auto it = tenants_.find(tenant);
  if (it != tenants_.end()) return std::shared_ptr<TenantStore>(it->second);
  std::string tenant_dir = dir_ + "/" + std::string(tenant);
  HYGIE_ASSIGN_OR_RETURN(std::shared_ptr<SqliteTenantStore> store,
                         SqliteTenantStore::Open(tenant_dir, options_));
  tenants_.emplace(std::string(tenant), store);
  return std::shared_ptr<TenantStore>(std::move(store));
}

void SqliteStore::Close() {
  std::map<std::string, std::shared_ptr<SqliteTenantStore>, std::less<>> tenants;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    tenants.swap(tenants_);
  }
  for (auto& [name, store] : tenants) store->Close();
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir,
                                               const SqliteOptions& options) {
  if (dir.empty()) return InvalidArgument("storage: empty data directory");
  std::error_code ec;
  bool exists = std::filesystem::exists(dir, ec);
  if (ec) return Unavailable("storage: cannot stat data directory: " + ec.message());
  if (!exists) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Unavailable("storage: cannot create data directory: " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0) return ErrnoStatus("chmod data directory", errno);
    HYGIE_RETURN_IF_ERROR(FsyncPath(ParentDir(dir)));
  } else if (!std::filesystem::is_directory(dir, ec)) {
    return FailedPrecondition("storage: data path is not a directory");
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(dir, options));
}

}  // namespace hygie::storage
