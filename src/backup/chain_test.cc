#include "backup/chain.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "audit/journal.h"
#include "audit/verify.h"
#include "core/fault_env.h"
#include "core/temp_dir.h"
#include "crypto/primitives.h"

namespace hygie::backup {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

constexpr int64_t kStart = 1796000000LL * 1000000;  // 2026-11-30
constexpr std::string_view kCanary = "CANARY-7f3a9c-Dupont";

crypto::SecretKey Seed(std::string_view s) {
  return crypto::SecretKey::FromBytes(crypto::Sha256(AsBytes(s)));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenSqliteStore(dir_.Path("data"));
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    auto tenant = store_->OpenTenant("acme");
    ASSERT_TRUE(tenant.ok());
    tenant_ = *tenant;
    auto keys = ChainKeys::Derive(Seed("acme"));
    ASSERT_TRUE(keys.ok());
    keys_ = std::move(*keys);
    target_ = std::make_unique<DirectoryTarget>(dir_.Path("target"));
  }

  // Writes version `version` of Patient/`id` (a fake sealed body carrying the canary, so that
  // the target can be searched for it) at the clock's time.
  void Write(const std::string& id, uint64_t version, bool deleted = false) {
    storage::VersionWrite w;
    w.record.type = "Patient";
    w.record.id = id;
    w.record.version = version;
    w.record.last_updated_us = clock_.NowMicros();
    w.record.deleted = deleted;
    w.record.key_id = 1;
    if (!deleted) {
      w.record.body = ToBytes(std::string(kCanary) + " " + id + " v" + std::to_string(version));
    }
    w.expected_current = version - 1;
    storage::WriteBatch batch;
    batch.versions.push_back(std::move(w));
    ASSERT_TRUE(tenant_->CommitAndWait(std::move(batch)).ok());
  }

  std::vector<storage::HistoryEntry> Log(storage::TenantStore& store) {
    auto log = store.ScanLog(0, 1000000);
    EXPECT_TRUE(log.ok());
    return log.ok() ? *log : std::vector<storage::HistoryEntry>{};
  }

  ShipResult Ship(size_t max_pack_bytes = 8u << 20, const std::string& tree_dir = "") {
    auto head = ReadHead(*target_, chain_, keys_);
    EXPECT_TRUE(head.ok()) << head.status().message();
    ShipOptions o;
    o.max_pack_bytes = max_pack_bytes;
    auto r = ShipChain(*target_, chain_, keys_, {tenant_.get(), tree_dir}, clock_, o, &*head);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : ShipResult{};
  }

  struct Restored {
    std::unique_ptr<storage::Store> store;
    std::shared_ptr<storage::TenantStore> tenant;
    Status status;
    RestoreReport report;
  };
  Restored Restore(const std::string& name, int64_t at_us = std::numeric_limits<int64_t>::max()) {
    Restored r;
    auto store = storage::OpenSqliteStore(dir_.Path(name));
    EXPECT_TRUE(store.ok());
    r.store = std::move(*store);
    r.tenant = *r.store->OpenTenant("acme");
    RestoreOptions o;
    o.at_us = at_us;
    r.status = RestoreChain(*target_, chain_, keys_, r.tenant.get(), dir_.Path(name + "-audit"), o,
                            &r.report);
    return r;
  }

  std::vector<std::string> TargetFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_.Path("target"))) {
      if (e.is_regular_file()) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> Packs() {
    std::vector<std::string> out;
    for (const std::string& f : TargetFiles()) {
      if (f.find("/packs/") != std::string::npos) out.push_back(f);
    }
    return out;
  }

  TempDir dir_{"hygie-backup"};
  FakeClock clock_{kStart};
  std::unique_ptr<storage::Store> store_;
  std::shared_ptr<storage::TenantStore> tenant_;
  ChainKeys keys_;
  ChainId chain_{"inst1", "acme"};
  std::unique_ptr<DirectoryTarget> target_;
};

TEST_F(ChainTest, RestoreGivesBackEveryVersionByteForByte) {
  for (int i = 0; i < 50; ++i) {
    Write("p" + std::to_string(i), 1);
    clock_.Advance(1000);
  }
  for (int i = 0; i < 50; i += 3) Write("p" + std::to_string(i), 2);
  Write("p1", 2, /*deleted=*/true);
  ShipResult shipped = Ship(/*max_pack_bytes=*/2048);
  EXPECT_GT(shipped.packs, 1u);
  EXPECT_EQ(shipped.versions, 68u);

  Restored r = Restore("restored");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.report.versions, 68u);
  std::vector<storage::HistoryEntry> live = Log(*tenant_), back = Log(*r.tenant);
  ASSERT_EQ(live.size(), back.size());
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(live[i].record.type, back[i].record.type);
    EXPECT_EQ(live[i].record.id, back[i].record.id);
    EXPECT_EQ(live[i].record.version, back[i].record.version);
    EXPECT_EQ(live[i].record.last_updated_us, back[i].record.last_updated_us);
    EXPECT_EQ(live[i].record.deleted, back[i].record.deleted);
    EXPECT_EQ(live[i].record.key_id, back[i].record.key_id);
    EXPECT_EQ(live[i].record.body, back[i].record.body);
  }
  auto current = r.tenant->ReadCurrent("Patient", "p1");
  ASSERT_TRUE(current.ok() && current->has_value());
  EXPECT_TRUE((*current)->deleted);
}

TEST_F(ChainTest, NothingInTheTargetIsReadable) {
  for (int i = 0; i < 20; ++i) Write("patient-" + std::string(kCanary) + std::to_string(i), 1);
  Ship();
  ASSERT_FALSE(TargetFiles().empty());
  for (const std::string& f : TargetFiles()) {
    std::string bytes = ReadAll(f);
    EXPECT_EQ(bytes.find(kCanary), std::string::npos) << f;
    EXPECT_EQ(bytes.find("Patient"), std::string::npos) << f;
    EXPECT_EQ(f.find("Patient"), std::string::npos) << f;
    if (f.find("/packs/") != std::string::npos) {
      EXPECT_EQ((bytes.size() - 8 - 28) % 4096, 0u) << "packs are padded: " << f;
    }
  }
}

TEST_F(ChainTest, AVersionIsShippedOnceAndShippingResumesFromTheTarget) {
  Write("a", 1);
  Write("b", 1);
  EXPECT_EQ(Ship().versions, 2u);
  EXPECT_EQ(Ship().packs, 0u) << "nothing new: nothing shipped";
  Write("a", 2);
  // A new shipper (a restarted server) starts from what the target holds.
  ShipResult again = Ship();
  EXPECT_EQ(again.packs, 1u);
  EXPECT_EQ(again.versions, 1u);
  auto report = VerifyChain(*target_, chain_, keys_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->versions, 3u);
  EXPECT_EQ(report->entries, 2u);
}

TEST_F(ChainTest, PointInTimeRestoreStopsAtTheInstant) {
  Write("a", 1);
  clock_.Advance(5'000'000);
  int64_t between = clock_.NowMicros();
  clock_.Advance(5'000'000);
  Write("a", 2);
  Write("b", 1);
  Ship();
  Restored r = Restore("pitr", between);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.report.versions, 1u);
  auto a = r.tenant->ReadCurrent("Patient", "a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->version, 1u);
  auto b = r.tenant->ReadCurrent("Patient", "b");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());
}

TEST_F(ChainTest, VerifyFindsEveryCorruptedPackAndRestoreRefusesPastTheDamage) {
  for (int i = 0; i < 300; ++i) Write("p" + std::to_string(i), 1);
  Ship(/*max_pack_bytes=*/100);  // about one version a pack
  std::vector<std::string> packs = Packs();
  ASSERT_GE(packs.size(), 100u);
  uint32_t seed = std::random_device{}();
  std::printf("corruption seed: %u\n", seed);
  std::mt19937 rng(seed);
  std::set<std::string> damaged;
  while (damaged.size() < std::max<size_t>(1, packs.size() / 100)) {
    damaged.insert(packs[rng() % packs.size()]);
  }
  for (const std::string& p : damaged) {
    std::string bytes = ReadAll(p);
    size_t bit = rng() % (bytes.size() * 8);
    bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
    WriteAll(p, bytes);
  }
  auto report = VerifyChain(*target_, chain_, keys_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  std::set<std::string> found;
  for (const Problem& pr : report->problems) {
    if (pr.kind == Problem::kAltered) found.insert(dir_.Path("target") + "/" + pr.object);
  }
  EXPECT_EQ(found, damaged);

  Restored r = Restore("damaged");
  EXPECT_EQ(r.status.code(), Code::kDataLoss);
  std::string first = *damaged.begin();
  EXPECT_NE(r.status.message().find("nothing past it was restored"), std::string::npos);
  EXPECT_LT(r.report.versions, 300u);
}

TEST_F(ChainTest, VerifyFindsRemovedReorderedAndExtraObjects) {
  for (int i = 0; i < 20; ++i) Write("p" + std::to_string(i), 1);
  Ship(/*max_pack_bytes=*/100);
  std::string manifest_dir = dir_.Path("target") + "/" + ChainPrefix(chain_) + "manifest/";
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(manifest_dir)) entries.push_back(e.path().string());
  std::sort(entries.begin(), entries.end());
  ASSERT_GE(entries.size(), 6u);
  // Swap entries 2 and 3, remove entry 5, remove one pack, add a stray object.
  std::string two = ReadAll(entries[2]), three = ReadAll(entries[3]);
  WriteAll(entries[2], three);
  WriteAll(entries[3], two);
  fs::remove(entries[5]);
  std::vector<std::string> packs = Packs();
  fs::remove(packs[0]);
  std::ofstream(dir_.Path("target") + "/" + ChainPrefix(chain_) + "packs/stray") << "x";

  auto report = VerifyChain(*target_, chain_, keys_);
  ASSERT_TRUE(report.ok());
  std::map<Problem::Kind, std::set<std::string>> by_kind;
  for (const Problem& p : report->problems) by_kind[p.kind].insert(p.object);
  EXPECT_TRUE(by_kind[Problem::kChain].count(ManifestName(chain_, 2)));
  EXPECT_TRUE(by_kind[Problem::kChain].count(ManifestName(chain_, 3)));
  EXPECT_TRUE(by_kind[Problem::kMissing].count(ManifestName(chain_, 5)));
  EXPECT_TRUE(by_kind[Problem::kChain].count(ManifestName(chain_, 6)));
  EXPECT_EQ(by_kind[Problem::kMissing].size(), 2u) << "the entry and the pack";
  EXPECT_TRUE(by_kind[Problem::kExtra].count(ChainPrefix(chain_) + "packs/stray"));
  EXPECT_FALSE(report->ok());
}

TEST_F(ChainTest, AnotherChainsKeyOpensNothing) {
  Write("a", 1);
  Ship();
  auto other = ChainKeys::Derive(Seed("globex"));
  ASSERT_TRUE(other.ok());
  auto head = ReadHead(*target_, chain_, *other);
  EXPECT_EQ(head.status().code(), Code::kDataLoss);
  std::string pack = ReadAll(Packs()[0]);
  EXPECT_EQ(OpenPack(pack, other->pack_key, chain_).status().code(), Code::kDataLoss);
  EXPECT_EQ(OpenPack(pack, keys_.pack_key, ChainId{"inst1", "globex"}).status().code(),
            Code::kDataLoss);
  EXPECT_TRUE(OpenPack(pack, keys_.pack_key, chain_).ok());
}

TEST_F(ChainTest, TheDirectoryTargetNeverReplacesAnObject) {
  ASSERT_TRUE(target_->Put("x/y", "one").ok());
  EXPECT_TRUE(target_->Put("x/y", "one").ok()) << "the same bytes again: a retried put";
  EXPECT_EQ(target_->Put("x/y", "two").code(), Code::kAlreadyExists);
  EXPECT_EQ(*target_->Get("x/y"), "one");
  EXPECT_EQ(target_->Put("../escape", "z").code(), Code::kInvalidArgument);
  EXPECT_EQ(target_->Put("a//b", "z").code(), Code::kInvalidArgument);
  auto perms = fs::status(dir_.Path("target") + "/x/y").permissions();
  EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read);
}

TEST_F(ChainTest, TheAuditJournalIsShippedAndVerifiesOnTheRestoredSide) {
  audit::JournalOptions jo;
  jo.dir = dir_.Path("audit");
  jo.origin_prefix = "hygie/inst1";
  jo.segment_bytes = 4 << 10;
  jo.seed_for = [](const std::string& tree) -> Result<crypto::SecretKey> { return Seed(tree); };
  auto journal = audit::Journal::Open(jo, clock_);
  ASSERT_TRUE(journal.ok());
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i) {
      audit::Record r;
      r.time_us = clock_.NowMicros();
      r.request_id = "req" + std::to_string(i);
      r.tenant = "acme";
      r.interaction = "read";
      r.action = 'R';
      r.resource_type = "Patient";
      r.resource_id = "p" + std::to_string(i);
      r.status = 200;
      ASSERT_TRUE((*journal)->AppendSync("acme", {r}).ok());
      clock_.Advance(100'000);
    }
    ASSERT_TRUE((*journal)->Flush("acme").ok());
  };
  append(40);
  Write("a", 1);
  std::string tree = dir_.Path("audit") + "/acme";
  Ship(/*max_pack_bytes=*/1024, tree);
  int64_t middle = clock_.NowMicros() - 1;  // after the first 40 records, before the next
  append(40);
  Ship(/*max_pack_bytes=*/1024, tree);
  (*journal)->Close();

  auto keys = audit::TreeKeys::Derive(Seed("acme").bytes());
  ASSERT_TRUE(keys.ok());
  Restored r = Restore("jr");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.report.journal_records, 80u);
  audit::VerifyReport vr;
  Status v = audit::VerifyTree(dir_.Path("jr-audit"), "hygie/inst1/acme", *keys, &vr);
  EXPECT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(vr.records, 80u);

  Restored half = Restore("jh", middle);
  ASSERT_TRUE(half.status.ok()) << half.status.message();
  EXPECT_EQ(half.report.journal_records, 40u);
  EXPECT_EQ(half.report.journal_covered, 40u);
  audit::VerifyReport hr;
  v = audit::VerifyTree(dir_.Path("jh-audit"), "hygie/inst1/acme", *keys, &hr);
  EXPECT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(hr.records, 40u);
}

// A crash at any file call of a shipping round (the target's Env drops every unsynced byte and
// name): the target never claims more than it holds, and the next round ships the rest once.
TEST_F(ChainTest, ACrashAtAnyCallOfShippingLeavesATargetThatRestoresWhatItClaims) {
  for (int i = 0; i < 12; ++i) Write("p" + std::to_string(i), 1);
  for (uint64_t k = 1;; ++k) {
    SCOPED_TRACE("crash at call " + std::to_string(k));
    TempDir dir("hygie-backup-crash");
    FaultInjectionEnv env;
    DirectoryTarget target(dir.Path("t"), env);
    FaultInjectionEnv::FaultSpec spec;
    spec.skip = k - 1;
    spec.count = FaultInjectionEnv::kForever;
    env.FailCalls(spec);
    ShipOptions o;
    o.max_pack_bytes = 300;  // several packs, several rounds of pack then entry
    auto head = ReadHead(target, chain_, keys_);
    ASSERT_TRUE(head.ok());
    auto shipped = ShipChain(target, chain_, keys_, {tenant_.get(), ""}, clock_, o, &*head);
    env.ClearFaults();
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    // What the target holds verifies, and restores exactly what its newest entry claims.
    auto after = ReadHead(target, chain_, keys_);
    ASSERT_TRUE(after.ok()) << after.status().message();
    auto report = VerifyChain(target, chain_, keys_);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok());
    uint64_t claimed = after->empty ? 0 : after->last.total_versions;
    EXPECT_EQ(report->versions, claimed);
    // A new round (a restarted server) completes the chain without shipping a version twice.
    auto again = ShipChain(target, chain_, keys_, {tenant_.get(), ""}, clock_, o, &*after);
    ASSERT_TRUE(again.ok()) << again.status().message();
    EXPECT_EQ(again->versions + claimed, 12u);
    report = VerifyChain(target, chain_, keys_);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok());
    EXPECT_EQ(report->versions, 12u);
    if (shipped.ok()) break;  // k passed every call of the round
  }
}

TEST_F(ChainTest, ARestoreIntoANonEmptyPlaceRefuses) {
  Write("a", 1);
  Ship();
  RestoreOptions o;
  RestoreReport report;
  Status s = RestoreChain(*target_, chain_, keys_, tenant_.get(), dir_.Path("x"), o, &report);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace hygie::backup
