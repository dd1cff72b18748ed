#include "storage/sqlite/sqlite_db.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/sqlite/testing_util.h"

namespace hygie::storage::sqlite {
namespace {

using storage::testing::TempDir;
using ::testing::HasSubstr;

TEST(SqliteStatusTest, MapsResultCodes) {
  EXPECT_TRUE(SqliteStatus(SQLITE_OK, nullptr, "x").ok());
  EXPECT_TRUE(SqliteStatus(SQLITE_DONE, nullptr, "x").ok());
  EXPECT_EQ(SqliteCode(SQLITE_IOERR), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_IOERR_FSYNC), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_IOERR_WRITE), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_FULL), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_BUSY), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_BUSY_SNAPSHOT), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_CANTOPEN), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_READONLY), Code::kUnavailable);
  EXPECT_EQ(SqliteCode(SQLITE_CORRUPT), Code::kDataLoss);
  EXPECT_EQ(SqliteCode(SQLITE_NOTADB), Code::kDataLoss);
  EXPECT_EQ(SqliteCode(SQLITE_MISUSE), Code::kInternal);
  EXPECT_EQ(SqliteCode(SQLITE_ERROR), Code::kInternal);
  EXPECT_EQ(SqliteCode(SQLITE_CONSTRAINT_UNIQUE), Code::kInternal);
  Status s = SqliteStatus(SQLITE_FULL, nullptr, "commit");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("commit"));
  EXPECT_THAT(s.message(), HasSubstr("full"));
}

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open(tmp_.path() + "/t.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(ConfigureConnection(db_, 1024, 1000).ok());
    ASSERT_TRUE(db_.Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)").ok());
  }
  int64_t RowCount() {
    auto n = db_.QueryInt("SELECT count(*) FROM t");
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  }
  TempDir tmp_;
  Db db_;
};

TEST_F(SqliteDbTest, ConfigureConnectionSetsDurableAndSecurePragmas) {
  EXPECT_EQ(*db_.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(*db_.QueryInt("PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(*db_.QueryInt("PRAGMA secure_delete"), 1);
  EXPECT_EQ(*db_.QueryInt("PRAGMA foreign_keys"), 0);
  EXPECT_EQ(*db_.QueryInt("PRAGMA temp_store"), 2);  // MEMORY
  EXPECT_EQ(*db_.QueryInt("PRAGMA cache_size"), -1024);
  EXPECT_EQ(*db_.QueryInt("PRAGMA busy_timeout"), 1000);
}

TEST_F(SqliteDbTest, TransactionGuardRollsBackUnlessCommitted) {
  auto statements = TransactionStatements::Prepare(db_.get(), /*immediate=*/true);
  ASSERT_TRUE(statements.ok());
  auto insert = Stmt::Prepare(db_.get(), "INSERT INTO t(v) VALUES (?1)");
  ASSERT_TRUE(insert.ok());
  const Bytes value = {1, 2, 3};
  {
    Transaction txn(db_, *statements);
    ASSERT_TRUE(txn.Begin().ok());
    EXPECT_TRUE(db_.in_transaction());
    ScopedReset reset(*insert);
    ASSERT_TRUE(insert->BindBlob(1, value).ok());
    ASSERT_TRUE(insert->Run().ok());
  }  // destroyed without Commit
  EXPECT_FALSE(db_.in_transaction());
  EXPECT_EQ(RowCount(), 0);
  {
    Transaction txn(db_, *statements);
    ASSERT_TRUE(txn.Begin().ok());
    EXPECT_EQ(txn.Begin().code(), Code::kInternal);  // already open
    ScopedReset reset(*insert);
    ASSERT_TRUE(insert->BindBlob(1, value).ok());
    ASSERT_TRUE(insert->Run().ok());
    insert->Reset();
    ASSERT_TRUE(txn.Commit().ok());
  }
  EXPECT_EQ(RowCount(), 1);
  {
    Transaction txn(db_, *statements);
    ASSERT_TRUE(txn.Begin().ok());
    ASSERT_TRUE(db_.Exec("DELETE FROM t").ok());
    txn.Rollback();
    txn.Rollback();  // idempotent
    EXPECT_FALSE(db_.in_transaction());
  }
  EXPECT_EQ(RowCount(), 1);
}

TEST_F(SqliteDbTest, StatementsBindStepAndReportErrors) {
  auto insert = Stmt::Prepare(db_.get(), "INSERT INTO t(k, v) VALUES (?1, ?2)");
  ASSERT_TRUE(insert.ok());
  {
    ScopedReset reset(*insert);
    ASSERT_TRUE(insert->BindInt64(1, 5).ok());
    ASSERT_TRUE(insert->BindBlob(2, Bytes{}).ok());  // empty, not NULL
    ASSERT_TRUE(insert->Run().ok());
  }
  {
    ScopedReset reset(*insert);
    ASSERT_TRUE(insert->BindInt64(1, 5).ok());
    ASSERT_TRUE(insert->BindBlob(2, Bytes{9}).ok());
    Status s = insert->Run();
    EXPECT_EQ(s.code(), Code::kInternal);  // primary key constraint
    EXPECT_THAT(s.message(), HasSubstr("constraint"));
  }
  EXPECT_EQ(insert->BindInt64(3, 1).code(), Code::kInternal);  // no such parameter
  auto select = Stmt::Prepare(db_.get(), "SELECT v FROM t WHERE k = ?1");
  ASSERT_TRUE(select.ok());
  ScopedReset reset(*select);
  ASSERT_TRUE(select->BindInt64(1, 5).ok());
  auto row = select->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_TRUE(select->ColumnBlob(0).empty());
  EXPECT_EQ(Stmt::Prepare(db_.get(), "SELECT nope FROM").status().code(), Code::kInternal);
  EXPECT_EQ(db_.QueryInt("SELECT 1 WHERE 0").status().code(), Code::kInternal);
}

TEST(SqliteDbOpenTest, MissingFileWithoutCreateIsUnavailable) {
  TempDir tmp;
  auto db = Db::Open(tmp.path() + "/missing/x.db", SQLITE_OPEN_READWRITE);
  EXPECT_EQ(db.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace hygie::storage::sqlite
