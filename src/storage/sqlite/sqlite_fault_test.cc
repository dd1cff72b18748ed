// I/O failures during a group commit, injected through a wrapping SQLite VFS.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/sqlite/sqlite_store.h"
#include "storage/sqlite/testing_fault_vfs.h"
#include "storage/sqlite/testing_util.h"

namespace hygie::storage {
namespace {

// prefix followed by n in decimal.
template <typename N>
std::string Numbered(std::string_view prefix, N n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

using testing::CallbackLog;
using testing::FaultVfs;
using testing::Gate;
using testing::MakeBatch;
using testing::MakeWrite;
using testing::TempDir;

class SqliteFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(tmp_.path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto tenant = store_->OpenTenant("acme");
    ASSERT_TRUE(tenant.ok()) << tenant.status().ToString();
    tenant_ = std::move(tenant).value();
    ASSERT_TRUE(
        tenant_->CommitAndWait(MakeBatch({MakeWrite("Patient", "base", 1, 0, "base")})).ok());
  }
  void TearDown() override {
    vfs_.FailWalWrites(false);
    vfs_.FailWalSyncs(false);
    if (store_) store_->Close();
    tenant_.reset();
    store_.reset();
  }

  // Queues `n` creates behind a held writer, turns faults on with `inject`, releases the
  // writer, and returns the callback log: the n batches form one group.
  void CommitOneGroup(size_t n, CallbackLog& log, const std::function<void()>& inject) {
    Gate gate;
    tenant_->Commit(MakeBatch({MakeWrite("Gate", Numbered("g", gates_++), 1, 0, "")}),
                    [&](Status) { gate.Wait(); });
    gate.WaitEntered();
    for (size_t i = 0; i < n; ++i) {
      tenant_->Commit(MakeBatch({MakeWrite("Patient", Numbered("p", i), 1, 0, "x")}), log.Slot(i));
    }
    inject();
    gate.Open();
    log.WaitForCalls(n);
  }

  bool Exists(const std::string& id) {
    auto r = tenant_->ReadCurrent("Patient", id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->has_value();
  }

  FaultVfs vfs_;  // before the store: every connection goes through it
  TempDir tmp_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<TenantStore> tenant_;
  int gates_ = 0;
};

TEST_F(SqliteFaultTest, WalWriteFailureFailsTheWholeGroupAndWritesNothing) {
  constexpr size_t kBatches = 6;
  CallbackLog log(kBatches);
  CommitOneGroup(kBatches, log, [&] { vfs_.FailWalWrites(true); });
  vfs_.FailWalWrites(false);
  EXPECT_GT(vfs_.injected_faults(), 0u);
  for (size_t i = 0; i < kBatches; ++i) {
    EXPECT_EQ(log.status(i).code(), Code::kUnavailable) << log.status(i).ToString();
    EXPECT_EQ(log.calls(i), 1);
  }
  for (size_t i = 0; i < kBatches; ++i) EXPECT_FALSE(Exists(Numbered("p", i)));
  auto stats = dynamic_cast<SqliteTenantStore&>(*tenant_).stats();
  EXPECT_EQ(stats.failed_groups, 1u);

  // The store recovers: the same creates now succeed (nothing of the failed group remained).
  for (size_t i = 0; i < kBatches; ++i) {
    std::string id = Numbered("p", i);
    EXPECT_TRUE(tenant_->CommitAndWait(MakeBatch({MakeWrite("Patient", id, 1, 0, "y")})).ok());
  }
  EXPECT_TRUE(Exists("base"));
  EXPECT_EQ(*tenant_->HistoryCount({.type = "Patient"}), 1 + kBatches);
}

TEST_F(SqliteFaultTest, WalSyncFailureIsNeverAcknowledged) {
  constexpr size_t kBatches = 4;
  CallbackLog log(kBatches);
  CommitOneGroup(kBatches, log, [&] { vfs_.FailWalSyncs(true); });
  vfs_.FailWalSyncs(false);
  EXPECT_GT(vfs_.injected_faults(), 0u);
  for (size_t i = 0; i < kBatches; ++i) {
    EXPECT_EQ(log.status(i).code(), Code::kUnavailable) << log.status(i).ToString();
  }
  // Readers do not see the group that failed to become durable.
  for (size_t i = 0; i < kBatches; ++i) EXPECT_FALSE(Exists(Numbered("p", i)));
  // Later commits work and see a consistent state.
  EXPECT_TRUE(
      tenant_->CommitAndWait(MakeBatch({MakeWrite("Patient", "base", 2, 1, "base2")})).ok());
  EXPECT_TRUE(tenant_->CommitAndWait(MakeBatch({MakeWrite("Patient", "p0", 1, 0, "z")})).ok());
}

TEST_F(SqliteFaultTest, FailureOnASingleCommitAndWait) {
  vfs_.FailWalWrites(true);
  Status s = tenant_->CommitAndWait(MakeBatch({MakeWrite("Patient", "q", 1, 0, "SECRET")}));
  vfs_.FailWalWrites(false);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message().find("SECRET"), std::string::npos);
  EXPECT_FALSE(Exists("q"));
  EXPECT_TRUE(tenant_->CommitAndWait(MakeBatch({MakeWrite("Patient", "q", 1, 0, "ok")})).ok());
}

}  // namespace
}  // namespace hygie::storage
