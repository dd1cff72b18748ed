#pragma once
// Thin RAII wrappers over the SQLite C API used by the embedded engine: Db (a connection),
// Stmt (a prepared statement), Transaction (rolls back in its destructor unless committed),
// and the mapping of SQLite result codes to hygie::Status.
//
// Thread-safety: none of these types is thread-safe. Connections are opened with
// SQLITE_OPEN_NOMUTEX: one thread at a time uses a connection and its statements (the engine
// guarantees this with its writer thread and its read-connection pool).

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::storage::sqlite {

// Maps a SQLite result code to a Status: I/O, full disk, busy/locked, cannot open, out of
// memory, read-only or permission errors -> kUnavailable; corruption or not-a-database ->
// kDataLoss; anything else (misuse, SQL error, range, mismatch, constraint) -> kInternal.
// The message holds `what`, SQLite's message (from `db` when given) and the code; SQLite's
// messages name tables and columns, never bound values.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);
// The Code SqliteStatus() would use for `rc`.
Code SqliteCode(int rc);

class Db {
 public:
  Db() = default;
  ~Db();
  Db(Db&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens (flags: SQLITE_OPEN_READWRITE [| SQLITE_OPEN_CREATE]; NOMUTEX is added) a database.
  static Result<Db> Open(const std::string& path, int flags);

  // Runs one or more SQL statements that return no rows of interest (setup only: compiles
  // the SQL each time).
  Status Exec(const std::string& sql);
  // Runs a statement returning one integer (e.g. "PRAGMA user_version").
  Result<int64_t> QueryInt(const std::string& sql);
  // Runs a statement returning one text value (e.g. "PRAGMA journal_mode=WAL").
  Result<std::string> QueryText(const std::string& sql);

  sqlite3* get() const { return db_; }
  bool in_transaction() const { return db_ != nullptr && sqlite3_get_autocommit(db_) == 0; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// A prepared statement, kept for reuse (SQLITE_PREPARE_PERSISTENT). Bind* take text/blob
// with SQLITE_STATIC: the bound bytes must outlive the next Reset().
class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  static Result<Stmt> Prepare(sqlite3* db, std::string_view sql);

  Status BindText(int index, std::string_view value);
  Status BindInt64(int index, int64_t value);
  // A NaN binds as NULL (SQLite has no NaN).
  Status BindDouble(int index, double value);
  // An empty value binds a zero-length blob (not NULL).
  Status BindBlob(int index, ByteView value);

  // One step: true when a row is available, false when done; an error Status otherwise.
  Result<bool> Step();
  // Steps a statement that returns no row (or whose rows are ignored) to completion.
  Status Run();
  // Resets for the next execution (bindings are kept until rebound).
  void Reset() { sqlite3_reset(stmt_); }

  int64_t ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string ColumnText(int col) const;
  Bytes ColumnBlob(int col) const;

  sqlite3_stmt* get() const { return stmt_; }
  bool valid() const { return stmt_ != nullptr; }

 private:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Status BindError(int rc, int index);
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when leaving a scope, so no statement stays active (holding a read
// snapshot or blocking COMMIT) after use.
class ScopedReset {
 public:
  explicit ScopedReset(Stmt& stmt) : stmt_(stmt) {}
  ~ScopedReset() { stmt_.Reset(); }
  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;

 private:
  Stmt& stmt_;
};

// The statements a Transaction runs, prepared once per connection.
struct TransactionStatements {
  Stmt begin;     // BEGIN IMMEDIATE (or DEFERRED for readers)
  Stmt commit;    // COMMIT
  Stmt rollback;  // ROLLBACK

  static Result<TransactionStatements> Prepare(sqlite3* db, bool immediate);
};

// A transaction guard: Begin(), then Commit(); if the guard is destroyed (or Rollback() is
// called) while the transaction is still open, it is rolled back.
class Transaction {
 public:
  Transaction(Db& db, TransactionStatements& statements) : db_(db), statements_(statements) {}
  ~Transaction() { Rollback(); }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();
  // On failure the transaction has been rolled back.
  Status Commit();
  // Rolls back if a transaction is open on the connection (SQLite may already have rolled
  // back by itself after an I/O error); idempotent.
  void Rollback();

 private:
  Db& db_;
  TransactionStatements& statements_;
  bool open_ = false;
};

// Applies the per-connection settings of the engine: WAL journal, synchronous=FULL,
// secure_delete=ON, foreign_keys=OFF, temp_store=MEMORY, cache size (KiB), busy timeout (ms).
// Fails unless the journal mode really is WAL.
Status ConfigureConnection(Db& db, int cache_kib, int busy_timeout_ms);

}  // namespace hygie::storage::sqlite
