#include "backup/chain.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
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
  // The pack to remove is one the first entry names, so that it stays named after the entries are
  // damaged (pack names are random: the first in order may belong to the removed entry 5).
  std::string manifest_dir = dir_.Path("target") + "/" + ChainPrefix(chain_) + "manifest/";
  auto list_entries = [&] {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(manifest_dir)) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  };
  Write("p0", 1);
  Ship(/*max_pack_bytes=*/100);
  std::vector<std::string> first_packs = Packs();
  ASSERT_FALSE(first_packs.empty());
  // Its entries come before the ones damaged below (2, 3 and 5).
  ASSERT_LE(list_entries().size(), 2u);
  for (int i = 1; i < 20; ++i) Write("p" + std::to_string(i), 1);
  Ship(/*max_pack_bytes=*/100);
  std::vector<std::string> entries = list_entries();
  ASSERT_GE(entries.size(), 6u);
  // Swap entries 2 and 3, remove entry 5, remove one pack, add a stray object.
  std::string two = ReadAll(entries[2]), three = ReadAll(entries[3]);
  WriteAll(entries[2], three);
  WriteAll(entries[3], two);
  fs::remove(entries[5]);
  fs::remove(first_packs[0]);
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

// --- Base snapshots and retention ---

// A target that fails every Delete after `allowed` of them (a prune cut short).
class FailingDeletes final : public Target {
 public:
  FailingDeletes(Target& inner, size_t allowed) : inner_(inner), allowed_(allowed) {}
  std::string Describe() const override { return inner_.Describe(); }
  Status Put(const std::string& name, std::string_view bytes) override {
    return inner_.Put(name, bytes);
  }
  Result<std::string> Get(const std::string& name) override { return inner_.Get(name); }
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    return inner_.List(prefix);
  }
  Status Delete(const std::string& name) override {
    if (allowed_ == 0) return PermissionDenied("locked until its retention date");
    allowed_ -= 1;
    return inner_.Delete(name);
  }

 private:
  Target& inner_;
  size_t allowed_;
};

class BaseTest : public ChainTest {
 protected:
  Result<BaseResult> Base(BaseOptions options = {}) {
    auto head = ReadHead(*target_, chain_, keys_);
    if (!head.ok()) return head.status();
    return MakeBase(*target_, chain_, keys_, clock_, options, &*head);
  }
  ManifestEntry Entry(uint64_t n) {
    auto object = target_->Get(ManifestName(chain_, n));
    EXPECT_TRUE(object.ok());
    auto e = DecodeManifestEntry(object.ok() ? *object : "", chain_, *keys_.verifier);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? *e : ManifestEntry{};
  }
  // The log of a restore, or of the live tenant, as comparable strings.
  static std::vector<std::string> Lines(const std::vector<storage::HistoryEntry>& log) {
    std::vector<std::string> out;
    for (const storage::HistoryEntry& e : log) {
      const storage::VersionRecord& r = e.record;
      out.push_back(r.type + "/" + r.id + "/" + std::to_string(r.version) + "/" +
                    std::to_string(r.last_updated_us) + "/" + (r.deleted ? "d" : "-") + "/" +
                    std::string(r.body.begin(), r.body.end()));
    }
    return out;
  }
  Restored RestoreWith(const std::string& name, RestoreOptions o) {
    Restored r;
    auto store = storage::OpenSqliteStore(dir_.Path(name));
    EXPECT_TRUE(store.ok());
    r.store = std::move(*store);
    r.tenant = *r.store->OpenTenant("acme");
    r.status = RestoreChain(*target_, chain_, keys_, r.tenant.get(), dir_.Path(name + "-audit"), o,
                            &r.report);
    return r;
  }
  // One simulated day: a few versions shipped in small rounds, then a base snapshot.
  void Day(int day, int versions_per_round = 3, int rounds = 4) {
    for (int round = 0; round < rounds; ++round) {
      for (int i = 0; i < versions_per_round; ++i) {
        std::string id =
            "d" + std::to_string(day) + "r" + std::to_string(round) + "i" + std::to_string(i);
        Write(id, 1);
        clock_.Advance(1'000'000);
      }
      Ship(/*max_pack_bytes=*/512);
      clock_.Advance(3'600'000'000);  // an hour
    }
    auto base = Base();
    ASSERT_TRUE(base.ok()) << base.status().message();
    EXPECT_TRUE(base->made);
    clock_.Advance(86'400'000'000 - int64_t{rounds} * 3'600'000'000);
  }
};

TEST_F(BaseTest, ABaseSnapshotReusesWhatTheTargetHoldsAndRestoresTheSame) {
  for (int i = 0; i < 40; ++i) {
    Write("p" + std::to_string(i), 1);
    clock_.Advance(1000);
    if (i % 5 == 4) Ship(/*max_pack_bytes=*/512);
  }
  size_t packs_before = Packs().size();
  EXPECT_EQ(Base(BaseOptions{}).status().code(), Code::kOk);
  ManifestEntry first = Entry(ReadHead(*target_, chain_, keys_)->last.n);
  ASSERT_TRUE(first.is_base());
  // Small packs are merged into one: the base adds one pack, not a copy of each.
  EXPECT_EQ(first.base_new, 1u);
  EXPECT_EQ(first.base.size(), 1u);
  EXPECT_EQ(Packs().size(), packs_before + 1);
  EXPECT_EQ(first.total_versions, 40u);

  // More versions, one large pack (kept as is) and small ones (merged).
  for (int i = 0; i < 40; i += 2) Write("p" + std::to_string(i), 2);
  clock_.Advance(1000);
  int64_t between = clock_.NowMicros();
  clock_.Advance(1000);
  Ship();
  for (int i = 40; i < 50; ++i) {
    Write("p" + std::to_string(i), 1);
    Ship(/*max_pack_bytes=*/512);
  }
  packs_before = Packs().size();
  BaseOptions reuse_large;
  reuse_large.reuse_pack_bytes = 8192;  // the 20-version pack is larger than that once sealed
  auto second = Base(reuse_large);
  ASSERT_TRUE(second.ok()) << second.status().message();
  ManifestEntry b2 = Entry(second->n);
  ASSERT_TRUE(b2.is_base());
  // The first base's pack is reused as it is, never shipped again.
  EXPECT_EQ(b2.base.front(), first.base.front());
  EXPECT_EQ(Packs().size(), packs_before + b2.base_new);
  EXPECT_EQ(b2.total_versions, 70u);
  EXPECT_EQ(second->merged + second->reused, b2.base.size() - b2.base_new + second->merged);
  // A base at the head again changes nothing.
  auto again = Base();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->made);

  auto report = VerifyChain(*target_, chain_, keys_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0].detail);
  EXPECT_EQ(report->versions, 70u);

  // From the newest base, from the log alone, and at an instant: the same versions.
  std::vector<std::string> live = Lines(Log(*tenant_));
  Restored from_base = RestoreWith("rb", {});
  ASSERT_TRUE(from_base.status.ok()) << from_base.status.message();
  ASSERT_TRUE(from_base.report.base.has_value());
  EXPECT_EQ(*from_base.report.base, second->n);
  EXPECT_EQ(Lines(Log(*from_base.tenant)), live);
  RestoreOptions no_base;
  no_base.use_base = false;
  Restored from_log = RestoreWith("rl", no_base);
  ASSERT_TRUE(from_log.status.ok()) << from_log.status.message();
  EXPECT_FALSE(from_log.report.base.has_value());
  EXPECT_EQ(Lines(Log(*from_log.tenant)), live);
  RestoreOptions at;
  at.at_us = between;
  Restored pitr = RestoreWith("rp", at);
  ASSERT_TRUE(pitr.status.ok()) << pitr.status.message();
  at.use_base = false;
  Restored pitr_log = RestoreWith("rpl", at);
  ASSERT_TRUE(pitr_log.status.ok());
  EXPECT_EQ(pitr.report.versions, 60u);
  EXPECT_EQ(Lines(Log(*pitr.tenant)), Lines(Log(*pitr_log.tenant)));
}

TEST_F(BaseTest, ADamagedBasePackStopsTheRestoreAndAnOlderBaseStillRestores) {
  for (int i = 0; i < 10; ++i) Write("p" + std::to_string(i), 1);
  Ship(/*max_pack_bytes=*/512);
  auto older = Base();
  ASSERT_TRUE(older.ok());
  for (int i = 10; i < 20; ++i) Write("p" + std::to_string(i), 1);
  Ship(/*max_pack_bytes=*/512);
  auto newer = Base();
  ASSERT_TRUE(newer.ok());
  ManifestEntry b = Entry(newer->n);
  ASSERT_EQ(b.base_new, 1u);
  std::string merged = dir_.Path("target") + "/" + PackName(chain_, b.base.back());
  std::string bytes = ReadAll(merged);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteAll(merged, bytes);

  auto report = VerifyChain(*target_, chain_, keys_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  Restored r = RestoreWith("bad", {});
  EXPECT_EQ(r.status.code(), Code::kDataLoss);
  EXPECT_NE(r.status.message().find(b.base.back()), std::string::npos) << r.status.message();
  RestoreOptions o;
  o.base = older->n;
  Restored ok = RestoreWith("older", o);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  // The older base and the log entries after it (they are not pruned): everything.
  EXPECT_EQ(ok.report.versions, 20u);
}

TEST_F(BaseTest, PruneKeepsTheRestorePointsAndEveryInstantStillRestores) {
  std::vector<int64_t> instants;
  for (int day = 0; day < 12; ++day) {
    Day(day);
    instants.push_back(clock_.NowMicros() - 43'200'000'000);  // the middle of the day after
  }
  // After the last base, entries that are not in any base yet.
  Write("tail", 1);
  Ship();
  std::vector<std::string> live = Lines(Log(*tenant_));
  std::map<int64_t, std::vector<std::string>> before;
  for (int64_t t : instants) {
    RestoreOptions o;
    o.at_us = t;
    Restored r = RestoreWith("before" + std::to_string(t), o);
    ASSERT_TRUE(r.status.ok());
    before[t] = Lines(Log(*r.tenant));
  }
  size_t files_before = TargetFiles().size();

  RetentionPolicy keep{3, 2, 1};
  auto plan = PlanPrune(*target_, chain_, keys_, keep, clock_.NowMicros());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_TRUE(plan->anchor.has_value());
  // 3 daily + 2 weekly + 1 monthly, overlapping: the newest base of days 11, 10, 9, of the week
  // before, and the newest of the month.
  EXPECT_GE(plan->kept_bases.size(), 3u);
  EXPECT_LE(plan->kept_bases.size(), 6u);
  EXPECT_EQ(plan->kept_bases.front(), *plan->anchor);
  EXPECT_FALSE(plan->entries.empty());
  EXPECT_FALSE(plan->packs.empty());
  PruneReport pruned;
  ASSERT_TRUE(ApplyPrune(*target_, *plan, &pruned).ok());
  EXPECT_TRUE(pruned.failed.empty());
  EXPECT_EQ(pruned.entries, plan->entries.size());
  EXPECT_EQ(pruned.packs, plan->packs.size());
  EXPECT_EQ(TargetFiles().size(), files_before - pruned.entries - pruned.packs);

  auto report = VerifyChain(*target_, chain_, keys_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty())
      << report->problems[0].object << ": " << report->problems[0].detail;
  EXPECT_EQ(report->versions, live.size());
  Restored all = RestoreWith("after", {});
  ASSERT_TRUE(all.status.ok()) << all.status.message();
  EXPECT_EQ(Lines(Log(*all.tenant)), live);
  for (int64_t t : instants) {
    RestoreOptions o;
    o.at_us = t;
    Restored r = RestoreWith("after" + std::to_string(t), o);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_EQ(Lines(Log(*r.tenant)), before[t]) << "instant " << t;
  }
  // Every restore point kept restores on its own.
  for (uint64_t n : plan->kept_bases) {
    RestoreOptions o;
    o.base = n;
    Restored r = RestoreWith("kept" + std::to_string(n), o);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_EQ(r.report.versions,
              Entry(n).total_versions + (n == *plan->anchor ? 1u : 0u));  // + the tail after it
  }
  // A second prune finds nothing more to delete.
  auto again = PlanPrune(*target_, chain_, keys_, keep, clock_.NowMicros());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->entries.empty());
  EXPECT_TRUE(again->packs.empty());
}

TEST_F(BaseTest, APruneCutShortAnywhereLeavesAChainThatVerifiesAndRestores) {
  for (int day = 0; day < 4; ++day) Day(day, 2, 3);
  std::vector<std::string> live = Lines(Log(*tenant_));
  auto plan = PlanPrune(*target_, chain_, keys_, RetentionPolicy{1, 0, 0}, clock_.NowMicros());
  ASSERT_TRUE(plan.ok());
  size_t deletes = plan->entries.size() + plan->packs.size();
  ASSERT_GT(deletes, 4u);
  fs::path pristine = dir_.Path("pristine");
  fs::copy(dir_.Path("target"), pristine, fs::copy_options::recursive);
  for (size_t allowed = 0; allowed <= deletes; ++allowed) {
    fs::remove_all(dir_.Path("target"));
    fs::copy(pristine, dir_.Path("target"), fs::copy_options::recursive);
    FailingDeletes deleter(*target_, allowed);
    PruneReport report;
    ASSERT_TRUE(ApplyPrune(deleter, *plan, &report).ok());
    EXPECT_EQ(report.failed.empty(), allowed >= deletes) << allowed;
    auto verified = VerifyChain(*target_, chain_, keys_);
    ASSERT_TRUE(verified.ok());
    EXPECT_TRUE(verified->ok()) << "after " << allowed
                                << " deletions: " << verified->problems[0].object << " "
                                << verified->problems[0].detail;
    Restored r = RestoreWith("cut" + std::to_string(allowed), {});
    ASSERT_TRUE(r.status.ok()) << allowed << ": " << r.status.message();
    EXPECT_EQ(Lines(Log(*r.tenant)), live) << allowed;
  }
}

TEST_F(BaseTest, PruneWaitsForRetentionAndRefusesAChainThatDoesNotVerify) {
  // No base: nothing is prunable.
  Write("a", 1);
  Ship();
  auto plan = PlanPrune(*target_, chain_, keys_, {}, clock_.NowMicros());
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->nothing_because.empty());
  EXPECT_TRUE(plan->entries.empty());
  for (int day = 0; day < 3; ++day) Day(day);
  // Every base is younger than the retention: nothing is deleted.
  plan = PlanPrune(*target_, chain_, keys_, {}, kStart - 1);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->anchor.has_value());
  EXPECT_TRUE(plan->entries.empty());
  EXPECT_TRUE(plan->packs.empty());
  // A base made before the cut: what precedes it goes, what follows stays.
  plan = PlanPrune(*target_, chain_, keys_, {1, 0, 0}, kStart + 86'400'000'000 + 1);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->anchor.has_value());
  EXPECT_LT(*plan->anchor, ReadHead(*target_, chain_, keys_)->last.n);
  // An altered entry: the prune refuses to act.
  std::string entry = dir_.Path("target") + "/" + ManifestName(chain_, 2);
  std::string bytes = ReadAll(entry);
  bytes[10] ^= 0x01;
  WriteAll(entry, bytes);
  plan = PlanPrune(*target_, chain_, keys_, {}, clock_.NowMicros());
  EXPECT_EQ(plan.status().code(), Code::kDataLoss);
}

TEST_F(BaseTest, TheBaseEntryFormatRejectsWhatItCannotBe) {
  Write("a", 1);
  Ship();
  auto base = Base();
  ASSERT_TRUE(base.ok());
  ManifestEntry e = Entry(base->n);
  ASSERT_TRUE(e.is_base());
  auto encoded = [&](const ManifestEntry& m) {
    auto object = EncodeManifestEntry(m, chain_, *keys_.signer);
    EXPECT_TRUE(object.ok());
    return DecodeManifestEntry(*object, chain_, *keys_.verifier).status().code();
  };
  EXPECT_EQ(encoded(e), Code::kOk);
  ManifestEntry with_pack = e;
  with_pack.pack = std::string(64, 'a');
  EXPECT_EQ(encoded(with_pack), Code::kDataLoss);
  ManifestEntry with_versions = e;
  with_versions.versions = 1;
  with_versions.first_seq = with_versions.last_seq = 1;
  EXPECT_EQ(encoded(with_versions), Code::kDataLoss);
  ManifestEntry bad_digest = e;
  bad_digest.base.push_back("not-a-digest");
  EXPECT_EQ(encoded(bad_digest), Code::kDataLoss);
  ManifestEntry other_base = e;
  other_base.last_base = e.n - 1;
  EXPECT_EQ(encoded(other_base), Code::kDataLoss);
  ManifestEntry too_new = e;
  too_new.base_new = e.base.size() + 1;
  EXPECT_EQ(encoded(too_new), Code::kDataLoss);
}

}  // namespace
}  // namespace hygie::backup
