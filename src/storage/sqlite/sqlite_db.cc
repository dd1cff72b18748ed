#include "storage/sqlite/sqlite_db.h"

#include <limits>
#include <utility>

namespace hygie::storage::sqlite {

Code SqliteCode(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Code::kOk;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
    case SQLITE_NOLFS:
      return Code::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Code::kDataLoss;
    default:
      return Code::kInternal;
  }
}

Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  Code code = SqliteCode(rc);
  if (code == Code::kOk) return Status::Ok();
  std::string message = "sqlite: ";
  message += what;
  message += ": ";
  // sqlite3_errmsg describes the connection's most recent error; sqlite3_errstr the code.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    message += sqlite3_errmsg(db);
  } else {
    message += sqlite3_errstr(rc);
  }
  message += " (code ";
  message += std::to_string(rc);
  message += ")";
  return Status(code, std::move(message));
}

// --- Db ---

Db::~Db() { sqlite3_close_v2(db_); }

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Result<Db> Db::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // owns the handle even on failure
  if (rc != SQLITE_OK) return SqliteStatus(rc, raw, "open database");
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status Db::Exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  return SqliteStatus(rc, db_, "exec");
}

Result<int64_t> Db::QueryInt(const std::string& sql) {
  HYGIE_ASSIGN_OR_RETURN(Stmt stmt, Stmt::Prepare(db_, sql));
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("sqlite: query returned no row");
  return stmt.ColumnInt64(0);
}

Result<std::string> Db::QueryText(const std::string& sql) {
  HYGIE_ASSIGN_OR_RETURN(Stmt stmt, Stmt::Prepare(db_, sql));
  HYGIE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("sqlite: query returned no row");
  return stmt.ColumnText(0);
}

// --- Stmt ---

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Result<Stmt> Stmt::Prepare(sqlite3* db, std::string_view sql) {
  if (sql.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Internal("sqlite: statement too long");
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db, "prepare");
  if (raw == nullptr) return Internal("sqlite: empty statement");
  return stmt;
}

Status Stmt::BindError(int rc, int index) {
  if (rc == SQLITE_OK) return Status::Ok();
  return SqliteStatus(rc, sqlite3_db_handle(stmt_), "bind parameter " + std::to_string(index));
}

Status Stmt::BindText(int index, std::string_view value) {
  if (value.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return ResourceExhausted("sqlite: text value too large");
  }
  return BindError(
      sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC),
      index);
}

Status Stmt::BindInt64(int index, int64_t value) {
  return BindError(sqlite3_bind_int64(stmt_, index, value), index);
}

Status Stmt::BindDouble(int index, double value) {
  return BindError(sqlite3_bind_double(stmt_, index, value), index);
}

Status Stmt::BindBlob(int index, ByteView value) {
  if (value.empty()) return BindError(sqlite3_bind_zeroblob(stmt_, index, 0), index);
  if (value.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return ResourceExhausted("sqlite: blob value too large");
  }
  return BindError(
      sqlite3_bind_blob(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC),
      index);
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, sqlite3_db_handle(stmt_), "step");
}

Status Stmt::Run() {
  while (true) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE) return Status::Ok();
    if (rc != SQLITE_ROW) return SqliteStatus(rc, sqlite3_db_handle(stmt_), "step");
  }
}

std::string Stmt::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  int size = sqlite3_column_bytes(stmt_, col);
  if (text == nullptr || size <= 0) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

Bytes Stmt::ColumnBlob(int col) const {
  const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  int size = sqlite3_column_bytes(stmt_, col);
  if (data == nullptr || size <= 0) return {};
  return Bytes(data, data + size);
}

// --- Transaction ---

Result<TransactionStatements> TransactionStatements::Prepare(sqlite3* db, bool immediate) {
  TransactionStatements s;
  HYGIE_ASSIGN_OR_RETURN(s.begin, Stmt::Prepare(db, immediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  HYGIE_ASSIGN_OR_RETURN(s.commit, Stmt::Prepare(db, "COMMIT"));
  HYGIE_ASSIGN_OR_RETURN(s.rollback, Stmt::Prepare(db, "ROLLBACK"));
  return s;
}

Status Transaction::Begin() {
  if (open_) return Internal("sqlite: transaction already open");
  ScopedReset reset(statements_.begin);
  HYGIE_RETURN_IF_ERROR(statements_.begin.Run());
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  if (!open_) return Internal("sqlite: no open transaction to commit");
  Status status;
  {
    ScopedReset reset(statements_.commit);
    status = statements_.commit.Run();
  }
  if (status.ok()) {
    open_ = false;
    return status;
  }
  Rollback();
  return status;
}

void Transaction::Rollback() {
  if (!open_) return;
  open_ = false;
  if (!db_.in_transaction()) return;  // SQLite already rolled back (e.g. after an I/O error)
  ScopedReset reset(statements_.rollback);
  statements_.rollback.Run().IgnoreError();
}

// --- Connection settings ---

Status ConfigureConnection(Db& db, int cache_kib, int busy_timeout_ms) {
  int rc = sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  HYGIE_RETURN_IF_ERROR(SqliteStatus(rc, db.get(), "busy_timeout"));
  HYGIE_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode=WAL"));
  if (mode != "wal")
    return Unavailable("sqlite: cannot enable WAL journal mode (got " + mode + ")");
  // A negative cache_size is a size in KiB.
  HYGIE_RETURN_IF_ERROR(
      db.Exec("PRAGMA synchronous=FULL;"
              "PRAGMA secure_delete=ON;"
              "PRAGMA foreign_keys=OFF;"
              "PRAGMA temp_store=MEMORY;"
              "PRAGMA journal_size_limit=16777216;"
              "PRAGMA cache_size=-" +
              std::to_string(cache_kib > 0 ? cache_kib : 1) + ";"));
  return Status::Ok();
}

}  // namespace hygie::storage::sqlite
