#include "storage/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/sqlite/testing_util.h"

namespace hygie::storage {
namespace {

using testing::CallbackLog;
using testing::Gate;
using ::testing::HasSubstr;
using testing::MakeBatch;
using testing::MakeWrite;
using ::testing::Not;
using testing::TempDir;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(tmp_.path().empty()); }

  std::unique_ptr<Store> OpenStore(const SqliteOptions& options = {}) {
    auto store = OpenSqliteStore(tmp_.path(), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static std::shared_ptr<TenantStore> Tenant(Store& store, std::string_view name) {
    auto tenant = store.OpenTenant(name);
    EXPECT_TRUE(tenant.ok()) << tenant.status().ToString();
    return tenant.ok() ? std::move(tenant).value() : nullptr;
  }

  static SqliteTenantStats Stats(TenantStore& t) {
    return dynamic_cast<SqliteTenantStore&>(t).stats();
  }

  static std::optional<VersionRecord> Current(TenantStore& t, std::string_view type,
                                              std::string_view id) {
    auto r = t.ReadCurrent(type, id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

  static uint64_t Count(TenantStore& t, const HistoryQuery& q) {
    auto n = t.HistoryCount(q);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }

  static std::vector<HistoryEntry> History(TenantStore& t, const HistoryQuery& q) {
    auto h = t.History(q);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : std::vector<HistoryEntry>{};
  }

  // Every byte of every file under `dir`.
  static std::string ReadAllFiles(const std::string& dir) {
    std::string all;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return all;
  }

  TempDir tmp_;
};

TEST_F(SqliteStoreTest, WriteThenReadCurrentAndOldVersions) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(
      t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 1, 0, "sealed-v1", 100)})).ok());
  ASSERT_TRUE(
      t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 2, 1, "sealed-v2", 200)})).ok());

  auto cur = Current(*t, "Patient", "p1");
  ASSERT_TRUE(cur.has_value());
  EXPECT_EQ(cur->type, "Patient");
  EXPECT_EQ(cur->id, "p1");
  EXPECT_EQ(cur->version, 2u);
  EXPECT_EQ(cur->last_updated_us, 200);
  EXPECT_FALSE(cur->deleted);
  EXPECT_EQ(cur->key_id, 7u);
  EXPECT_EQ(AsChars(cur->body), "sealed-v2");

  auto v1 = t->ReadVersion("Patient", "p1", 1);
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(v1->has_value());
  EXPECT_EQ((*v1)->version, 1u);
  EXPECT_EQ((*v1)->last_updated_us, 100);
  EXPECT_EQ(AsChars((*v1)->body), "sealed-v1");

  auto v3 = t->ReadVersion("Patient", "p1", 3);
  ASSERT_TRUE(v3.ok());
  EXPECT_FALSE(v3->has_value());
  auto v0 = t->ReadVersion("Patient", "p1", 0);
  ASSERT_TRUE(v0.ok());
  EXPECT_FALSE(v0->has_value());
  EXPECT_FALSE(Current(*t, "Patient", "nope").has_value());
  EXPECT_FALSE(Current(*t, "Observation", "p1").has_value());
}

TEST_F(SqliteStoreTest, BinaryBodyAndLargeKeyIdRoundTrip) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  VersionWrite w = MakeWrite("Binary", "b", 1, 0, "");
  w.record.body = {0x00, 0xff, 0x00, 0x01, 0x80};
  w.record.key_id = 0xfffffffeu;
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({w})).ok());
  auto cur = Current(*t, "Binary", "b");
  ASSERT_TRUE(cur.has_value());
  EXPECT_EQ(cur->body, w.record.body);
  EXPECT_EQ(cur->key_id, 0xfffffffeu);
}

TEST_F(SqliteStoreTest, TombstoneIsCurrentAndOldVersionsRemain) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 1, 0, "sealed-v1")})).ok());
  ASSERT_TRUE(
      t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 2, 1, "", 300, /*deleted=*/true)}))
          .ok());
  auto cur = Current(*t, "Patient", "p1");
  ASSERT_TRUE(cur.has_value());
  EXPECT_TRUE(cur->deleted);
  EXPECT_EQ(cur->version, 2u);
  EXPECT_TRUE(cur->body.empty());
  auto v1 = t->ReadVersion("Patient", "p1", 1);
  ASSERT_TRUE(v1.ok() && v1->has_value());
  EXPECT_FALSE((*v1)->deleted);
  EXPECT_EQ(AsChars((*v1)->body), "sealed-v1");
  // Re-creation after deletion continues the version chain.
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 3, 2, "sealed-v3")})).ok());
  EXPECT_EQ(Current(*t, "Patient", "p1")->version, 3u);
}

TEST_F(SqliteStoreTest, CreateTwiceConflictsAndWritesNothing) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 1, 0, "first")})).ok());
  Status s = t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 1, 0, "SECRET-BODY")}));
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_THAT(s.message(), HasSubstr("Patient/p1"));
  EXPECT_THAT(s.message(), Not(HasSubstr("SECRET-BODY")));
  EXPECT_EQ(AsChars(Current(*t, "Patient", "p1")->body), "first");
  EXPECT_EQ(Count(*t, {.type = "Patient", .id = "p1"}), 1u);
  EXPECT_EQ(Stats(*t).batches_rejected, 1u);
}

TEST_F(SqliteStoreTest, StaleUpdateConflictsAndWritesNothing) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 1, 0, "v1")})).ok());
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 2, 1, "v2")})).ok());
  Status s = t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 2, 1, "stale")}));
  EXPECT_EQ(s.code(), Code::kConflict);
  // Update of something that does not exist.
  s = t->CommitAndWait(MakeBatch({MakeWrite("Patient", "ghost", 2, 1, "x")}));
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(AsChars(Current(*t, "Patient", "p1")->body), "v2");
  EXPECT_EQ(Count(*t, {}), 2u);
  EXPECT_FALSE(Current(*t, "Patient", "ghost").has_value());
}

TEST_F(SqliteStoreTest, VersionThatDoesNotFollowExpectedIsInvalid) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  Status s = t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 2, 0, "x")}));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  s = t->CommitAndWait(MakeBatch({MakeWrite("", "p1", 1, 0, "x")}));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  s = t->CommitAndWait(MakeBatch({MakeWrite("Patient", "", 1, 0, "x")}));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(Count(*t, {}), 0u);
}

TEST_F(SqliteStoreTest, BatchIsAllOrNothing) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p1", 1, 0, "v1")})).ok());
  // The last write's precondition fails: the first two must not be written.
  Status s = t->CommitAndWait(
      MakeBatch({MakeWrite("Observation", "o1", 1, 0, "o"), MakeWrite("Patient", "p2", 1, 0, "p2"),
                 MakeWrite("Patient", "p1", 1, 0, "again")}));
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_FALSE(Current(*t, "Observation", "o1").has_value());
  EXPECT_FALSE(Current(*t, "Patient", "p2").has_value());
  EXPECT_EQ(Count(*t, {}), 1u);
  // Same with an invalid write in the batch.
  s = t->CommitAndWait(MakeBatch(
      {MakeWrite("Observation", "o1", 1, 0, "o"), MakeWrite("Patient", "p3", 5, 0, "bad")}));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(Current(*t, "Observation", "o1").has_value());
  // And a valid batch of several writes, two of them on the same resource, goes in whole.
  s = t->CommitAndWait(
      MakeBatch({MakeWrite("Observation", "o1", 1, 0, "o"), MakeWrite("Patient", "p1", 2, 1, "v2"),
                 MakeWrite("Patient", "p1", 3, 2, "v3")}));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Current(*t, "Patient", "p1")->version, 3u);
  EXPECT_TRUE(Current(*t, "Observation", "o1").has_value());
  EXPECT_EQ(Count(*t, {}), 4u);
}

TEST_F(SqliteStoreTest, EmptyBatchSucceeds) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  EXPECT_TRUE(t->CommitAndWait(WriteBatch{}).ok());
  EXPECT_EQ(Count(*t, {}), 0u);
}

// Batches queued behind a held writer form one group: later batches see the writes of earlier
// ones, and a conflicting batch is undone alone.
TEST_F(SqliteStoreTest, OneGroupSerializesBatchesAndIsolatesConflicts) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  Gate gate;
  CallbackLog log(5);
  t->Commit(MakeBatch({MakeWrite("Gate", "g", 1, 0, "")}), [&](Status s) {
    EXPECT_TRUE(s.ok());
    gate.Wait();
  });
  gate.WaitEntered();
  t->Commit(MakeBatch({MakeWrite("Patient", "a", 1, 0, "a1")}), log.Slot(0));
  t->Commit(MakeBatch({MakeWrite("Patient", "a", 1, 0, "dup")}), log.Slot(1));
  t->Commit(MakeBatch({MakeWrite("Patient", "b", 1, 0, "b1")}), log.Slot(2));
  t->Commit(MakeBatch({MakeWrite("Patient", "a", 2, 1, "a2")}), log.Slot(3));
  t->Commit(
      MakeBatch({MakeWrite("Patient", "b", 2, 1, "b2"), MakeWrite("Patient", "a", 2, 1, "x")}),
      log.Slot(4));
  gate.Open();
  log.WaitForCalls(5);
  EXPECT_TRUE(log.status(0).ok());
  EXPECT_EQ(log.status(1).code(), Code::kConflict);
  EXPECT_TRUE(log.status(2).ok());
  EXPECT_TRUE(log.status(3).ok()) << log.status(3).ToString();
  EXPECT_EQ(log.status(4).code(), Code::kConflict);
  EXPECT_EQ(AsChars(Current(*t, "Patient", "a")->body), "a2");
  EXPECT_EQ(Current(*t, "Patient", "b")->version, 1u);
  SqliteTenantStats stats = Stats(*t);
  EXPECT_EQ(stats.group_commits, 2u);  // the gate's group and the five batches
  EXPECT_EQ(stats.batches_committed, 4u);
  EXPECT_EQ(stats.batches_rejected, 2u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(log.calls(i), 1);
}

TEST_F(SqliteStoreTest, ConcurrentCreatesAreAllAcknowledgedAndGroupCommitted) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  constexpr size_t kTotal = kThreads * kPerThread;
  SqliteOptions options;
  options.max_group_batches = 512;
  auto store = OpenStore(options);
  auto t = Tenant(*store, "acme");

  // Hold the writer so that every batch is queued before any group after the gate's runs.
  Gate gate;
  t->Commit(MakeBatch({MakeWrite("Gate", "g", 1, 0, "")}), [&](Status) { gate.Wait(); });
  gate.WaitEntered();
  CallbackLog log(kTotal);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kPerThread; ++i) {
        size_t slot = static_cast<size_t>(th * kPerThread + i);
        std::string id = "p-" + std::to_string(slot);
        t->Commit(MakeBatch({MakeWrite("Patient", id, 1, 0, "body-" + id)}), log.Slot(slot));
      }
    });
  }
  for (auto& th : threads) th.join();
  gate.Open();
  log.WaitForCalls(kTotal);

  for (size_t i = 0; i < kTotal; ++i) {
    ASSERT_TRUE(log.status(i).ok()) << i << ": " << log.status(i).ToString();
    ASSERT_EQ(log.calls(i), 1);
  }
  for (size_t i = 0; i < kTotal; ++i) {
    std::string id = "p-" + std::to_string(i);
    auto cur = Current(*t, "Patient", id);
    ASSERT_TRUE(cur.has_value()) << id;
    ASSERT_EQ(AsChars(cur->body), "body-" + id);
  }
  EXPECT_EQ(Count(*t, {.type = "Patient"}), kTotal);
  SqliteTenantStats stats = Stats(*t);
  EXPECT_EQ(stats.batches_committed, kTotal + 1);
  EXPECT_LT(stats.group_commits, kTotal + 1);
  // 4000 queued batches in groups of at most 512, plus the gate's group.
  EXPECT_LE(stats.group_commits, 1u + (kTotal + 511) / 512);
}

TEST_F(SqliteStoreTest, ConcurrentCommitAndWaitFromManyThreads) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = std::to_string(th) + "-" + std::to_string(i);
        if (!t->CommitAndWait(MakeBatch({MakeWrite("Patient", id, 1, 0, id)})).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(*t, {}), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LE(Stats(*t).group_commits, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(SqliteStoreTest, ConcurrentUpdatesFormAGaplessVersionChain) {
  constexpr int kThreads = 6;
  constexpr int kAttempts = 30;
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 1, 0, "v1")})).ok());
  std::atomic<int> wins{0};
  std::atomic<int> conflicts{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kAttempts; ++i) {
        auto cur = t->ReadCurrent("Patient", "p");
        if (!cur.ok() || !cur->has_value()) {
          other++;
          continue;
        }
        uint64_t v = (*cur)->version;
        Status s = t->CommitAndWait(MakeBatch({MakeWrite(
            "Patient", "p", v + 1, v, "t" + std::to_string(th) + "-" + std::to_string(i))}));
        if (s.ok()) {
          wins++;
        } else if (s.code() == Code::kConflict) {
          conflicts++;
        } else {
          other++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(wins.load() + conflicts.load(), kThreads * kAttempts);
  EXPECT_GE(wins.load(), 1);
  const uint64_t n = 1 + static_cast<uint64_t>(wins.load());
  EXPECT_EQ(Current(*t, "Patient", "p")->version, n);
  auto history = History(*t, {.type = "Patient", .id = "p", .limit = 100000});
  ASSERT_EQ(history.size(), n);
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].record.version, n - i);  // newest first, no gap, no duplicate
    if (i > 0) {
      EXPECT_LT(history[i].seq, history[i - 1].seq);
    }
  }
}

TEST_F(SqliteStoreTest, HistoryScopesSinceAndPaging) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  // ts: a1=1000 a2=2000 b1=3000 o1=4000 a3=5000 o2=6000
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "a", 1, 0, "a1", 1000)})).ok());
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "a", 2, 1, "a2", 2000)})).ok());
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "b", 1, 0, "b1", 3000)})).ok());
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Observation", "o", 1, 0, "o1", 4000)})).ok());
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "a", 3, 2, "", 5000, true)})).ok());
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Observation", "o", 2, 1, "o2", 6000)})).ok());

  auto bodies = [](const std::vector<HistoryEntry>& h) {
    std::vector<std::string> out;
    for (const auto& e : h) {
      out.push_back(e.record.type + "/" + e.record.id + "/" + std::to_string(e.record.version));
    }
    return out;
  };
  using V = std::vector<std::string>;

  auto instance = History(*t, {.type = "Patient", .id = "a"});
  EXPECT_EQ(bodies(instance), (V{"Patient/a/3", "Patient/a/2", "Patient/a/1"}));
  EXPECT_TRUE(instance[0].record.deleted);
  EXPECT_EQ(AsChars(instance[1].record.body), "a2");
  EXPECT_EQ(instance[2].record.last_updated_us, 1000);

  auto type = History(*t, {.type = "Patient"});
  EXPECT_EQ(bodies(type), (V{"Patient/a/3", "Patient/b/1", "Patient/a/2", "Patient/a/1"}));

  auto system = History(*t, {});
  EXPECT_EQ(bodies(system), (V{"Observation/o/2", "Patient/a/3", "Observation/o/1", "Patient/b/1",
                               "Patient/a/2", "Patient/a/1"}));
  for (size_t i = 1; i < system.size(); ++i) EXPECT_LT(system[i].seq, system[i - 1].seq);

  // since_us: ts >= since.
  EXPECT_EQ(bodies(History(*t, {.since_us = 4000})),
            (V{"Observation/o/2", "Patient/a/3", "Observation/o/1"}));
  EXPECT_EQ(bodies(History(*t, {.type = "Patient", .since_us = 2000})),
            (V{"Patient/a/3", "Patient/b/1", "Patient/a/2"}));
  EXPECT_EQ(bodies(History(*t, {.type = "Patient", .id = "a", .since_us = 2001})),
            (V{"Patient/a/3"}));

  // Paging with the seq cursor, for each scope.
  for (HistoryQuery q : {HistoryQuery{}, HistoryQuery{.type = "Patient"},
                         HistoryQuery{.type = "Patient", .id = "a"}}) {
    auto full = History(*t, q);
    std::vector<HistoryEntry> paged;
    q.limit = 2;
    for (int page = 0; page < 10; ++page) {
      auto entries = History(*t, q);
      ASSERT_LE(entries.size(), 2u);
      if (entries.empty()) break;
      paged.insert(paged.end(), entries.begin(), entries.end());
      q.before_seq = entries.back().seq;
    }
    EXPECT_EQ(bodies(paged), bodies(full)) << q.type << "/" << q.id;
  }

  // Counts ignore limit and cursor, honour since.
  EXPECT_EQ(Count(*t, {}), 6u);
  EXPECT_EQ(Count(*t, {.before_seq = 0, .limit = 1}), 6u);
  EXPECT_EQ(Count(*t, {.type = "Patient", .before_seq = system[2].seq, .limit = 1}), 4u);
  EXPECT_EQ(Count(*t, {.type = "Patient", .id = "a"}), 3u);
  EXPECT_EQ(Count(*t, {.type = "Observation"}), 2u);
  EXPECT_EQ(Count(*t, {.type = "Encounter"}), 0u);
  EXPECT_EQ(Count(*t, {.since_us = 4000}), 3u);
  EXPECT_EQ(Count(*t, {.type = "Patient", .since_us = 2000}), 3u);

  EXPECT_TRUE(History(*t, {.limit = 0}).empty());
  EXPECT_EQ(History(*t, {.limit = 1}).size(), 1u);
  EXPECT_EQ(t->History({.id = "a"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(t->HistoryCount({.id = "a"}).status().code(), Code::kInvalidArgument);
}

TEST_F(SqliteStoreTest, TenantsAreIsolated) {
  auto store = OpenStore();
  auto acme = Tenant(*store, "acme");
  auto beta = Tenant(*store, "beta-2");
  ASSERT_NE(acme.get(), beta.get());
  ASSERT_TRUE(
      acme->CommitAndWait(MakeBatch({MakeWrite("Patient", "1", 1, 0, "ACME-CANARY")})).ok());
  // The same type/id in another tenant is a different resource: a create succeeds there.
  ASSERT_TRUE(
      beta->CommitAndWait(MakeBatch({MakeWrite("Patient", "1", 1, 0, "BETA-CANARY")})).ok());
  ASSERT_TRUE(
      beta->CommitAndWait(MakeBatch({MakeWrite("Patient", "1", 2, 1, "BETA-CANARY2")})).ok());
  EXPECT_EQ(AsChars(Current(*acme, "Patient", "1")->body), "ACME-CANARY");
  EXPECT_EQ(Current(*acme, "Patient", "1")->version, 1u);
  EXPECT_EQ(Current(*beta, "Patient", "1")->version, 2u);
  EXPECT_FALSE(Current(*acme, "Patient", "2").has_value());
  auto beta_only = beta->CommitAndWait(MakeBatch({MakeWrite("Patient", "only-beta", 1, 0, "x")}));
  ASSERT_TRUE(beta_only.ok());
  EXPECT_FALSE(Current(*acme, "Patient", "only-beta").has_value());
  EXPECT_EQ(Count(*acme, {}), 1u);
  EXPECT_EQ(Count(*beta, {}), 3u);

  // Separate files: nothing of one tenant in the other's directory.
  std::string acme_dir = tmp_.path() + "/acme";
  std::string beta_dir = tmp_.path() + "/beta-2";
  EXPECT_TRUE(std::filesystem::exists(acme_dir + "/data.db"));
  EXPECT_TRUE(std::filesystem::exists(beta_dir + "/data.db"));
  EXPECT_EQ(dynamic_cast<SqliteTenantStore&>(*acme).db_path(), acme_dir + "/data.db");
  std::string acme_bytes = ReadAllFiles(acme_dir);
  std::string beta_bytes = ReadAllFiles(beta_dir);
  EXPECT_THAT(acme_bytes, HasSubstr("ACME-CANARY"));
  EXPECT_THAT(acme_bytes, Not(HasSubstr("BETA-CANARY")));
  EXPECT_THAT(beta_bytes, HasSubstr("BETA-CANARY"));
  EXPECT_THAT(beta_bytes, Not(HasSubstr("ACME-CANARY")));
}

TEST_F(SqliteStoreTest, OpenTenantReturnsTheSameStoreAndValidatesNames) {
  auto store = OpenStore();
  auto a = Tenant(*store, "acme");
  auto b = Tenant(*store, "acme");
  EXPECT_EQ(a.get(), b.get());
  for (std::string_view bad :
       {"", "a", "Acme", "../acme", "acme/x", "ac me", ".", "..", "acme\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto r = store->OpenTenant(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(
      store->OpenTenant("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").ok());
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/../acme/data.db") &&
               !std::filesystem::equivalent(tmp_.path() + "/../acme", tmp_.path() + "/acme"));
}

TEST_F(SqliteStoreTest, ReopenAfterCloseKeepsEverything) {
  {
    auto store = OpenStore();
    auto t = Tenant(*store, "acme");
    ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 1, 0, "v1", 10)})).ok());
    ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 2, 1, "v2", 20)})).ok());
    ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "q", 1, 0, "q1", 30)})).ok());
    store->Close();
  }
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  auto cur = Current(*t, "Patient", "p");
  ASSERT_TRUE(cur.has_value());
  EXPECT_EQ(cur->version, 2u);
  EXPECT_EQ(AsChars(cur->body), "v2");
  EXPECT_EQ(Count(*t, {}), 3u);
  // The current-version table survived too: preconditions still hold.
  EXPECT_EQ(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 2, 1, "stale")})).code(),
            Code::kConflict);
  EXPECT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 3, 2, "v3")})).ok());
  // New seqs follow the old ones.
  auto h = History(*t, {});
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].record.version, 3u);
  EXPECT_GT(h[0].seq, h[1].seq);
}

TEST_F(SqliteStoreTest, DestructorClosesAndKeepsData) {
  {
    auto store = OpenStore();
    auto t = Tenant(*store, "acme");
    CallbackLog log(100);
    for (size_t i = 0; i < 100; ++i) {
      t->Commit(MakeBatch({MakeWrite("Patient", std::to_string(i), 1, 0, "x")}), log.Slot(i));
    }
    store.reset();  // Close: drains the queue before the writer stops
    ASSERT_EQ(log.total(), 100u);
    for (size_t i = 0; i < 100; ++i) EXPECT_TRUE(log.status(i).ok()) << i;
  }
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  EXPECT_EQ(Count(*t, {}), 100u);
}

TEST_F(SqliteStoreTest, FilesAndDirectoriesArePrivate) {
  std::string data = tmp_.path() + "/data/nested";
  auto opened = OpenSqliteStore(data);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto store = std::move(opened).value();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 1, 0, "v1")})).ok());
  auto mode = [](const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode(data), 0700u);
  EXPECT_EQ(mode(data + "/acme"), 0700u);
  EXPECT_EQ(mode(data + "/acme/data.db"), 0600u);
  ASSERT_TRUE(std::filesystem::exists(data + "/acme/data.db-wal"));
  EXPECT_EQ(mode(data + "/acme/data.db-wal"), 0600u);
  if (std::filesystem::exists(data + "/acme/data.db-shm")) {
    EXPECT_EQ(mode(data + "/acme/data.db-shm"), 0600u);
  }
  store->Close();

  // Loosened modes are tightened again on open.
  ASSERT_EQ(::chmod((data + "/acme").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((data + "/acme/data.db").c_str(), 0644), 0);
  auto again = OpenSqliteStore(data);
  ASSERT_TRUE(again.ok());
  Tenant(**again, "acme");
  EXPECT_EQ(mode(data + "/acme"), 0700u);
  EXPECT_EQ(mode(data + "/acme/data.db"), 0600u);
}

TEST_F(SqliteStoreTest, TenantPathThatIsNotADirectoryIsRefused) {
  auto store = OpenStore();
  std::filesystem::create_directory(tmp_.path() + "/elsewhere");
  std::filesystem::create_directory_symlink(tmp_.path() + "/elsewhere", tmp_.path() + "/linked");
  auto r = store->OpenTenant("linked");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/elsewhere/data.db"));
}

TEST_F(SqliteStoreTest, DatabaseSettingsAndSchemaVersion) {
  {
    auto store = OpenStore();
    Tenant(*store, "acme");
    store->Close();
  }
  std::string path = tmp_.path() + "/acme/data.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto query = [db](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    std::string out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
  };
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");  // persistent in the file
  EXPECT_EQ(query("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion));
  EXPECT_EQ(query("SELECT count(*) FROM sqlite_master WHERE name IN "
                  "('resource_version', 'resource_current', 'resource_version_type_seq')"),
            "3");
  // A database from a future schema is refused rather than misread.
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenStore();
  auto r = store->OpenTenant("acme");
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, CommitAfterCloseFailsOnceWithUnavailable) {
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 1, 0, "v1")})).ok());
  store->Close();
  store->Close();  // idempotent

  int calls = 0;
  Status seen;
  t->Commit(MakeBatch({MakeWrite("Patient", "p", 2, 1, "v2")}), [&](Status s) {
    calls++;
    seen = std::move(s);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen.code(), Code::kUnavailable);
  EXPECT_EQ(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "q", 1, 0, "q")})).code(),
            Code::kUnavailable);
  EXPECT_EQ(t->ReadCurrent("Patient", "p").status().code(), Code::kUnavailable);
  EXPECT_EQ(t->History({}).status().code(), Code::kUnavailable);
  EXPECT_EQ(store->OpenTenant("acme").status().code(), Code::kUnavailable);
  EXPECT_EQ(store->OpenTenant("other").status().code(), Code::kUnavailable);
  EXPECT_EQ(calls, 1);

  // Nothing was written after the close.
  auto reopened = OpenStore();
  auto t2 = Tenant(*reopened, "acme");
  EXPECT_EQ(Current(*t2, "Patient", "p")->version, 1u);
  EXPECT_FALSE(Current(*t2, "Patient", "q").has_value());
}

TEST_F(SqliteStoreTest, ReadsRunWhileTheWriterIsHeld) {
  SqliteOptions options;
  options.read_connections = 2;
  auto store = OpenStore(options);
  auto t = Tenant(*store, "acme");
  ASSERT_TRUE(t->CommitAndWait(MakeBatch({MakeWrite("Patient", "p", 1, 0, "v1")})).ok());
  Gate gate;
  t->Commit(MakeBatch({MakeWrite("Gate", "g", 1, 0, "")}), [&](Status) { gate.Wait(); });
  gate.WaitEntered();
  CallbackLog log(1);
  t->Commit(MakeBatch({MakeWrite("Patient", "p", 2, 1, "v2")}), log.Slot(0));
  // The writer is held; reads from several threads (more than the pool size) proceed and see
  // only what was committed.
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int i = 0; i < 6; ++i) {
    readers.emplace_back([&] {
      for (int j = 0; j < 50; ++j) {
        auto cur = t->ReadCurrent("Patient", "p");
        if (!cur.ok() || !cur->has_value() || (*cur)->version != 1) bad++;
        auto gate_row = t->ReadCurrent("Gate", "g");
        if (!gate_row.ok() || !gate_row->has_value()) bad++;
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(log.total(), 0u);
  gate.Open();
  log.WaitForCalls(1);
  EXPECT_TRUE(log.status(0).ok());
  EXPECT_EQ(Current(*t, "Patient", "p")->version, 2u);
}

TEST_F(SqliteStoreTest, GroupDelayAndSmallGroupLimit) {
  SqliteOptions options;
  options.max_group_delay_us = 2000;
  options.max_group_batches = 3;
  auto store = OpenStore(options);
  auto t = Tenant(*store, "acme");
  Gate gate;
  t->Commit(MakeBatch({MakeWrite("Gate", "g", 1, 0, "")}), [&](Status) { gate.Wait(); });
  gate.WaitEntered();
  CallbackLog log(10);
  for (size_t i = 0; i < 10; ++i) {
    t->Commit(MakeBatch({MakeWrite("Patient", std::to_string(i), 1, 0, "x")}), log.Slot(i));
  }
  gate.Open();
  log.WaitForCalls(10);
  for (size_t i = 0; i < 10; ++i) EXPECT_TRUE(log.status(i).ok());
  // Groups of at most 3: the gate's, then 3 + 3 + 3 + 1.
  EXPECT_EQ(Stats(*t).group_commits, 5u);
}

// Past the checkpoint threshold the WAL is copied back into the database file, and past the
// hard limit the writer checkpoints itself: the WAL stays bounded and nothing is lost.
TEST_F(SqliteStoreTest, WalIsCheckpointedAndStaysBounded) {
  constexpr size_t kRows = 4000;
  constexpr size_t kBodySize = 12000;  // 3 pages a row: about 12000 pages, well past the hard limit
  auto store = OpenStore();
  auto t = Tenant(*store, "acme");
  CallbackLog log(kRows);
  for (size_t i = 0; i < kRows; ++i) {
    std::string body(kBodySize, static_cast<char>('a' + i % 26));
    t->Commit(MakeBatch({MakeWrite("Binary", std::to_string(i), 1, 0, body)}), log.Slot(i));
  }
  log.WaitForCalls(kRows);
  for (size_t i = 0; i < kRows; ++i) ASSERT_TRUE(log.status(i).ok()) << i;
  SqliteTenantStats stats = Stats(*t);
  EXPECT_GT(stats.checkpoints + stats.writer_checkpoints, 0u);
  std::string wal = tmp_.path() + "/acme/data.db-wal";
  // Frames are a 24-byte header and a 4096-byte page; allow one large group past the limit.
  EXPECT_LE(std::filesystem::file_size(wal), (kWalHardLimitPages + 2000) * (4096u + 24u));
  for (size_t i = 0; i < kRows; i += 97) {
    auto cur = Current(*t, "Binary", std::to_string(i));
    ASSERT_TRUE(cur.has_value()) << i;
    ASSERT_EQ(cur->body.size(), kBodySize);
    ASSERT_EQ(cur->body[0], static_cast<uint8_t>('a' + i % 26));
  }
  store->Close();
  auto reopened = OpenStore();
  EXPECT_EQ(Count(*Tenant(*reopened, "acme"), {}), kRows);
}

TEST(SqliteStoreDeathTest, CloseFromACommitCallbackAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  EXPECT_DEATH(
      {
        auto store = std::move(OpenSqliteStore(tmp.path())).value();
        auto tenant = std::move(store->OpenTenant("acme")).value();
        auto* raw = dynamic_cast<SqliteTenantStore*>(tenant.get());
        tenant->Commit(MakeBatch({MakeWrite("Patient", "p", 1, 0, "x")}),
                       [raw](Status) { raw->Close(); });
        store->Close();
      },
      "closed or destroyed from a commit callback");
}

}  // namespace
}  // namespace hygie::storage
