#include "storage/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

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

constexpr const char* kSchemaSql =
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
    "CREATE INDEX IF NOT EXISTS resource_version_type_seq ON resource_version(type, seq);"
    "CREATE TABLE IF NOT EXISTS resource_current("
    "  type TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY(type, id)) WITHOUT ROWID;";

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
  auto next = [&param] { return "?" + std::to_string(param++); };
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
  }
  return Status::Ok();
}

}  // namespace

struct SqliteTenantStore::Private {};

struct SqliteTenantStore::Writer {
  Db db;
  TransactionStatements txn;
  Stmt savepoint;
  Stmt release;
  Stmt rollback_to;
  Stmt select_current;
  Stmt insert_version;
  Stmt upsert_current;
};

struct SqliteTenantStore::ReadConn {
  Db db;
  Stmt read_current;
  Stmt read_version;
  Stmt history[kScopeCount];
  Stmt count[kScopeCount];
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
  HYGIE_RETURN_IF_ERROR(
      sqlite::ConfigureConnection(writer->db, options_.cache_kib, kBusyTimeoutMs));
  sqlite3* db = writer->db.get();
  HYGIE_ASSIGN_OR_RETURN(writer->txn, TransactionStatements::Prepare(db, /*immediate=*/true));

  // Schema, created or checked in one transaction.
  {
    Transaction txn(writer->db, writer->txn);
    HYGIE_RETURN_IF_ERROR(txn.Begin());
    HYGIE_ASSIGN_OR_RETURN(int64_t version, writer->db.QueryInt("PRAGMA user_version"));
    if (version == 0) {
      HYGIE_RETURN_IF_ERROR(writer->db.Exec(kSchemaSql));
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
  HYGIE_ASSIGN_OR_RETURN(
      writer->select_current,
      Stmt::Prepare(db, "SELECT version FROM resource_current WHERE type = ?1 AND id = ?2"));
  HYGIE_ASSIGN_OR_RETURN(
      writer->insert_version,
      Stmt::Prepare(db,
                    "INSERT INTO resource_version(type, id, version, ts, deleted, key_id, body) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  HYGIE_ASSIGN_OR_RETURN(
      writer->upsert_current,
      Stmt::Prepare(db,
                    "INSERT INTO resource_current(type, id, version, seq) VALUES (?1, ?2, ?3, ?4) "
                    "ON CONFLICT(type, id) DO UPDATE SET version = excluded.version, "
                    "seq = excluded.seq"));
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
  checkpoint_thread_ = std::thread([this] { CheckpointLoop(); });
  writer_thread_ = std::thread([this] {
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

// Appends the versions of one batch inside the open savepoint. Returns a non-ok Status for a
// failure of the whole group; sets *outcome to a non-ok Status when only this batch fails.
Status WriteVersions(Db& db, Stmt& select_current, Stmt& insert_version, Stmt& upsert_current,
                     const WriteBatch& batch, Status* outcome) {
  // A statement error is the batch's own (e.g. a constraint) unless it is an I/O-class error
  // or SQLite has abandoned the transaction.
  auto classify = [&](Status status) -> Status {
    if (status.code() == Code::kUnavailable || !db.in_transaction()) return status;
    *outcome = std::move(status);
    return Status::Ok();
  };
  for (const VersionWrite& w : batch.versions) {
    const VersionRecord& r = w.record;
    uint64_t current = 0;
    {
      ScopedReset reset(select_current);
      Status s = select_current.BindText(1, r.type);
      if (s.ok()) s = select_current.BindText(2, r.id);
      if (!s.ok()) return classify(std::move(s));
      Result<bool> row = select_current.Step();
      if (!row.ok()) return classify(row.status());
      if (*row) current = static_cast<uint64_t>(select_current.ColumnInt64(0));
    }
    if (current != w.expected_current) {
      *outcome = Conflict("storage: version conflict on " + ResourceName(r.type, r.id) +
                          ": current version is " + std::to_string(current) + ", expected " +
                          std::to_string(w.expected_current));
      return Status::Ok();
    }
    {
      ScopedReset reset(insert_version);
      Status s = insert_version.BindText(1, r.type);
      if (s.ok()) s = insert_version.BindText(2, r.id);
      if (s.ok()) s = insert_version.BindInt64(3, static_cast<int64_t>(r.version));
      if (s.ok()) s = insert_version.BindInt64(4, r.last_updated_us);
      if (s.ok()) s = insert_version.BindInt64(5, r.deleted ? 1 : 0);
      if (s.ok()) s = insert_version.BindInt64(6, static_cast<int64_t>(r.key_id));
      if (s.ok()) s = insert_version.BindBlob(7, r.body);
      if (s.ok()) s = insert_version.Run();
      if (!s.ok()) return classify(std::move(s));
    }
    int64_t seq = sqlite3_last_insert_rowid(db.get());
    {
      ScopedReset reset(upsert_current);
      Status s = upsert_current.BindText(1, r.type);
      if (s.ok()) s = upsert_current.BindText(2, r.id);
      if (s.ok()) s = upsert_current.BindInt64(3, static_cast<int64_t>(r.version));
      if (s.ok()) s = upsert_current.BindInt64(4, seq);
      if (s.ok()) s = upsert_current.Run();
      if (!s.ok()) return classify(std::move(s));
    }
  }
  return Status::Ok();
}

}  // namespace

void SqliteTenantStore::RunGroup(std::vector<Pending>& group, std::vector<Status>& statuses) {
  Writer& w = *writer_;
  statuses.assign(group.size(), Status::Ok());
  std::vector<bool> invalid(group.size(), false);
  for (size_t i = 0; i < group.size(); ++i) {
    statuses[i] = ValidateBatch(group[i].batch);
    invalid[i] = !statuses[i].ok();
  }

  Status fatal;
  {
    Transaction txn(w.db, w.txn);
    fatal = txn.Begin();
    for (size_t i = 0; fatal.ok() && i < group.size(); ++i) {
      const WriteBatch& batch = group[i].batch;
      if (invalid[i] || batch.versions.empty()) continue;
      fatal = RunStmt(w.savepoint);
      if (!fatal.ok()) break;
      Status outcome;
      fatal = WriteVersions(w.db, w.select_current, w.insert_version, w.upsert_current, batch,
                            &outcome);
      if (!fatal.ok()) break;
      if (!outcome.ok()) {
        // Undo this batch alone; the savepoint stays on the stack until released.
        fatal = RunStmt(w.rollback_to);
        if (fatal.ok()) fatal = RunStmt(w.release);
        statuses[i] = std::move(outcome);
      } else {
        fatal = RunStmt(w.release);
      }
    }
    if (fatal.ok()) fatal = txn.Commit();  // one WAL fsync for the group (synchronous=FULL)
    // On failure the guard rolls back what remains of the transaction.
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
  while (true) {
    HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    HistoryEntry& e = entries.emplace_back();
    e.seq = static_cast<uint64_t>(stmt.ColumnInt64(0));
    e.record.type = stmt.ColumnText(1);
    e.record.id = stmt.ColumnText(2);
    ReadRecordColumns(stmt, 3, &e.record);
  }
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
