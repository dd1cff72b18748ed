#include "audit/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>

#include "audit/journal_io.h"
#include "audit/verify.h"
#include "core/fault_env.h"
#include "core/temp_dir.h"
#include "crypto/primitives.h"

namespace hygie::audit {
namespace {

namespace fs = std::filesystem;
using namespace journal_io;  // NOLINT(build/namespaces)

constexpr int64_t kDay = 86400LL * 1000000;
constexpr int64_t kStart = 1795000000LL * 1000000;  // 2026-11-18

crypto::SecretKey SeedFor(const std::string& tree) {
  Bytes b = crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(tree.data()), tree.size()));
  return crypto::SecretKey::FromBytes(b);
}

Record MakeRecord(int64_t time_us, int n) {
  Record r;
  r.time_us = time_us;
  r.request_id = "req" + std::to_string(n);
  r.tenant = "acme";
  r.subject = "dr-house";
  r.client_id = "app";
  r.peer = "127.0.0.1";
  r.interaction = n % 3 == 0 ? "read" : "create";
  r.action = n % 3 == 0 ? 'R' : 'C';
  r.resource_type = "Patient";
  r.resource_id = "p" + std::to_string(n);
  r.version = 1;
  r.status = n % 3 == 0 ? 200 : 201;
  return r;
}

std::string Slurp(const std::string& path);
void Spit(const std::string& path, const std::string& bytes);

class JournalTest : public ::testing::Test {
 protected:
  JournalOptions Options() {
    JournalOptions o;
    o.dir = dir_.path() + "/audit";
    o.origin_prefix = "hygie/test";
    o.segment_bytes = 8 << 10;
    o.seed_for = [](const std::string& tree) -> Result<crypto::SecretKey> { return SeedFor(tree); };
    o.fault = [this](std::string_view op) -> Status {
      if (fail_op_ == op) return Unavailable("injected fault");
      return Status::Ok();
    };
    return o;
  }
  std::unique_ptr<Journal> OpenJournal() {
    auto j = Journal::Open(Options(), clock_);
    EXPECT_TRUE(j.ok()) << j.status().message();
    return j.ok() ? std::move(j).value() : nullptr;
  }
  Status Verify(const std::string& audit_dir, const std::string& tree, VerifyReport* report) {
    auto keys = TreeKeys::Derive(SeedFor(tree).bytes());
    EXPECT_TRUE(keys.ok());
    return VerifyTree(audit_dir + "/" + tree, "hygie/test/" + tree, *keys, report);
  }
  // Appends `n` records, one second apart in batches of `batch`, so that checkpoints follow.
  void Fill(Journal& j, int n, int batch = 7) {
    for (int i = 0; i < n; i += batch) {
      std::vector<Record> rs;
      for (int k = i; k < std::min(n, i + batch); ++k)
        rs.push_back(MakeRecord(clock_.NowMicros(), next_record_++));
      ASSERT_TRUE(j.AppendSync("acme", std::move(rs)).ok());
      clock_.Advance(1100000);
    }
  }

  test_support::TempDir dir_;
  FakeClock clock_{kStart};
  std::string fail_op_;
  int next_record_ = 0;  // records are numbered across Fill calls: resource ids p0, p1, ...
};

TEST_F(JournalTest, AppendsReadsSignsAndVerifies) {
  auto j = OpenJournal();
  ASSERT_NE(j, nullptr);
  Fill(*j, 100);
  EXPECT_EQ(j->Size("acme"), 100u);
  std::vector<std::string> out;
  uint64_t next = 0;
  ASSERT_TRUE(j->Read("acme", 10, 50, &out, &next).ok());
  ASSERT_EQ(out.size(), 50u);
  EXPECT_EQ(next, 60u);
  auto r = DecodeRecord(out[0]);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->index, 10u);
  EXPECT_EQ(r->resource_id, "p10");

  auto note = j->LatestCheckpoint("acme");
  ASSERT_TRUE(note.ok());
  auto verifier = NoteVerifier::Parse(*j->VerifierKey("acme"));
  ASSERT_TRUE(verifier.ok());
  auto cp = verifier->Open(*note);
  ASSERT_TRUE(cp.ok()) << cp.status().message();
  EXPECT_EQ(cp->size, 100u);
  auto all = j->Checkpoints("acme");
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->size(), 10u);  // one per second of appends

  // Inclusion of every record, consistency from every earlier checkpoint.
  for (uint64_t i = 0; i < cp->size; i += 7) {
    auto proof = j->InclusionProof("acme", i, cp->size);
    ASSERT_TRUE(proof.ok()) << proof.status().message();
    auto leaf = j->LeafHash("acme", i);
    ASSERT_TRUE(leaf.ok());
    EXPECT_TRUE(VerifyInclusion(i, cp->size, *leaf, *proof, cp->root).ok());
    Hash wrong = *leaf;
    wrong[0] ^= 1;
    EXPECT_FALSE(VerifyInclusion(i, cp->size, wrong, *proof, cp->root).ok());
  }
  for (const std::string& old_note : *all) {
    auto old = verifier->Open(old_note);
    ASSERT_TRUE(old.ok());
    auto proof = j->ConsistencyProof("acme", old->size, cp->size);
    ASSERT_TRUE(proof.ok());
    EXPECT_TRUE(VerifyConsistency(old->size, cp->size, old->root, cp->root, *proof).ok());
  }
  j.reset();
  VerifyReport report;
  Status s = Verify(dir_.path() + "/audit", "acme", &report);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(report.records, 100u);
  EXPECT_GT(report.segments, 1u);
}

// Encoded records keep their order and their bytes, whatever their text holds: a newline in a
// member is escaped by the JSON text, so it never splits a record.
TEST_F(JournalTest, EncodedRecordsKeepOrderAndBytes) {
  EncodedRecords encoded;
  std::vector<Record> records;
  for (int n = 0; n < 5; ++n) {
    Record r = MakeRecord(kStart + n, n);
    r.detail = "line one\nline two \xff";  // a newline and a byte that is not UTF-8
    r.query = {{"name", "a\nb"}};
    records.push_back(r);
    encoded.Add(r);
  }
  EXPECT_EQ(encoded.size(), 5u);
  EXPECT_EQ(encoded.first_time_us(), kStart);
  std::vector<std::string> tails;
  encoded.ForEach([&](std::string_view tail) { tails.emplace_back(tail); });
  ASSERT_EQ(tails.size(), 5u);
  for (size_t k = 0; k < tails.size(); ++k) {
    // The journal's text of the record is its index followed by the tail.
    auto back = DecodeRecord("{\"i\":" + std::to_string(k + 40) + tails[k]);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->index, k + 40);
    EXPECT_EQ(back->request_id, records[k].request_id);
    EXPECT_EQ(back->detail, "line one\nline two \xEF\xBF\xBD");
    ASSERT_EQ(back->query.size(), 1u);
    EXPECT_EQ(back->query[0].second, "a\nb");
  }

  // Appended, they are the journal's records in the same order.
  auto j = OpenJournal();
  ASSERT_NE(j, nullptr);
  std::promise<Status> done;
  j->Append("acme", encoded, [&done](Status s) { done.set_value(std::move(s)); });
  ASSERT_TRUE(done.get_future().get().ok());
  std::vector<std::string> out;
  uint64_t next = 0;
  ASSERT_TRUE(j->Read("acme", 0, 10, &out, &next).ok());
  ASSERT_EQ(out.size(), 5u);
  for (size_t k = 0; k < out.size(); ++k) {
    auto r = DecodeRecord(out[k]);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->index, k);
    EXPECT_EQ(r->request_id, records[k].request_id);
  }
}

// Under load the writer gathers bigger batches: after a busy batch, the next waits for the batch
// window or for batch_max_records records. A lone request, a Flush and a synchronous append never
// wait for it. The window here is a minute, so a wait that should not happen shows as a timeout.
TEST_F(JournalTest, BatchWindowGathersRecordsUnderLoadOnly) {
  JournalOptions o = Options();
  o.batch_window_us = 60LL * 1000000;
  o.batch_busy_records = 2;
  o.batch_max_records = 3;
  auto opened = Journal::Open(o, clock_);
  ASSERT_TRUE(opened.ok());
  Journal& j = **opened;
  auto append = [&j](std::vector<Record> rs) {
    auto p = std::make_shared<std::promise<Status>>();
    j.Append("acme", std::move(rs), [p](Status s) { p->set_value(std::move(s)); });
    return p->get_future();
  };
  using namespace std::chrono_literals;
  // A lone record, then another: the last batch was not busy, so neither waits.
  ASSERT_EQ(append({MakeRecord(kStart, 0)}).wait_for(30s), std::future_status::ready);
  ASSERT_EQ(append({MakeRecord(kStart, 1)}).wait_for(30s), std::future_status::ready);
  // A busy batch (two records), then one record: it waits for company...
  ASSERT_EQ(append({MakeRecord(kStart, 2), MakeRecord(kStart, 3)}).wait_for(30s),
            std::future_status::ready);
  auto waiting = append({MakeRecord(kStart, 4)});
  EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout);
  EXPECT_EQ(j.Size("acme"), 4u);
  // ...and goes as soon as batch_max_records are queued, in one batch with them.
  auto second = append({MakeRecord(kStart, 5), MakeRecord(kStart, 6)});
  ASSERT_EQ(waiting.wait_for(30s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(waiting.get().ok());
  EXPECT_TRUE(second.get().ok());
  EXPECT_EQ(j.Size("acme"), 7u);
  // The last batch was busy again: a record waits, and a Flush takes it along at once.
  auto third = append({MakeRecord(kStart, 7)});
  EXPECT_EQ(third.wait_for(100ms), std::future_status::timeout);
  ASSERT_TRUE(j.Flush("acme").ok());
  ASSERT_EQ(third.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(third.get().ok());
  EXPECT_EQ(j.Size("acme"), 8u);
  // The Flush's batch held one record: two go at once, and make the next record wait again,
  // until a synchronous append, which is never held, takes it along.
  ASSERT_EQ(append({MakeRecord(kStart, 8), MakeRecord(kStart, 9)}).wait_for(30s),
            std::future_status::ready);
  auto fourth = append({MakeRecord(kStart, 10)});
  EXPECT_EQ(fourth.wait_for(100ms), std::future_status::timeout);
  ASSERT_TRUE(j.AppendSync("acme", {MakeRecord(kStart, 11)}).ok());
  ASSERT_EQ(fourth.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(fourth.get().ok());
  EXPECT_EQ(j.Size("acme"), 12u);
  j.Close();
  VerifyReport report;
  Status s = Verify(o.dir, "acme", &report);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(report.records, 12u);
}

TEST_F(JournalTest, ReopensWhereItStopped) {
  {
    auto j = OpenJournal();
    Fill(*j, 40);
  }
  {
    auto j = OpenJournal();
    EXPECT_EQ(j->Size("acme"), 40u);
    Fill(*j, 30);
    EXPECT_EQ(j->Size("acme"), 70u);
  }
  // Tree nodes lost (a crash before they reached the disk) are rebuilt from the records.
  fs::resize_file(dir_.path() + "/audit/acme/level-00.hash", 32 * 5);
  fs::remove(dir_.path() + "/audit/acme/level-02.hash");
  {
    auto j = OpenJournal();
    EXPECT_EQ(j->Size("acme"), 70u);
    Fill(*j, 5);
  }
  VerifyReport report;
  Status s = Verify(dir_.path() + "/audit", "acme", &report);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(report.records, 75u);
}

TEST_F(JournalTest, TornTailIsCutButCheckpointedRecordsAreNot) {
  {
    auto j = OpenJournal();
    Fill(*j, 12);
  }
  std::string seg = dir_.path() + "/audit/acme/seg-00000000000000000000.log";
  const uintmax_t clean = fs::file_size(seg);
  {
    // A write cut short by a crash: a length, part of a record, then the zeros laid ahead.
    std::ofstream out(seg, std::ios::binary | std::ios::app);
    std::string torn = std::string("\x40\x01\x00\x00", 4) + "{\"i\":12,\"t\":1";
    out << torn << std::string(4096, '\0');
  }
  {
    auto j = OpenJournal();
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->Size("acme"), 12u);
    EXPECT_EQ(fs::file_size(seg), clean);
    Fill(*j, 3);
    EXPECT_EQ(j->Size("acme"), 15u);
  }
  VerifyReport report;
  Status s = Verify(dir_.path() + "/audit", "acme", &report);
  EXPECT_TRUE(s.ok()) << s.message();
  // Damage inside what a checkpoint covers is not a torn tail: the journal refuses to open.
  std::string bytes = Slurp(seg);
  size_t at = bytes.find("\"i\":5,");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] ^= 1;
  Spit(seg, bytes);
  auto j = Journal::Open(Options(), clock_);
  ASSERT_TRUE(j.ok());
  Status appended = (*j)->AppendSync("acme", {MakeRecord(clock_.NowMicros(), 1)});
  EXPECT_FALSE(appended.ok());
  EXPECT_EQ(Slurp(seg), bytes) << "the damaged segment must be left as found";
}

TEST_F(JournalTest, AReaderToleratesAWriterAheadOfItsSnapshot) {
  auto j = OpenJournal();
  Fill(*j, 5);
  std::string seg = dir_.path() + "/audit/acme/seg-00000000000000000000.log";
  std::string before = Slurp(seg);
  Fill(*j, 5);
  // A reader that read the segment before the writer's last batch and the checkpoints after it
  // (the writer still holds the tree): it sees 5 records and a checkpoint of 10, and carries on.
  std::string after = Slurp(seg);
  Spit(seg, before);
  auto reader = Journal::Open(Options(), clock_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->Size("acme"), 5u);
  EXPECT_TRUE((*reader)->LatestCheckpoint("acme").ok());
  // Appending from the reader still says the tree is held elsewhere (the spool's cue).
  EXPECT_EQ((*reader)->AppendSync("acme", {MakeRecord(kStart, 1)}).code(),
            Code::kFailedPrecondition);
  Spit(seg, after);
}

TEST_F(JournalTest, SecondProcessCannotAppend) {
  auto j = OpenJournal();
  Fill(*j, 3);
  // flock is per open file description: a second journal on the same files is a second owner.
  auto other = Journal::Open(Options(), clock_);
  ASSERT_TRUE(other.ok());
  Status s = (*other)->AppendSync("acme", {MakeRecord(kStart, 1)});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ((*other)->Size("acme"), 3u);
}

TEST_F(JournalTest, FailedWritesKeepNothingAndRecover) {
  auto j = OpenJournal();
  Fill(*j, 10);
  for (std::string op : {"write", "sync", "checkpoint"}) {
    fail_op_ = op;
    clock_.Advance(2000000);  // a checkpoint is due with the next batch
    Status s = j->AppendSync("acme", {MakeRecord(clock_.NowMicros(), 99)});
    EXPECT_EQ(s.code(), Code::kUnavailable) << op;
    EXPECT_EQ(j->Size("acme"), 10u) << op;
  }
  fail_op_.clear();
  ASSERT_TRUE(j->AppendSync("acme", {MakeRecord(clock_.NowMicros(), 11)}).ok());
  EXPECT_EQ(j->Size("acme"), 11u);
  std::vector<std::string> out;
  uint64_t next = 0;
  ASSERT_TRUE(j->Read("acme", 10, 5, &out, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(DecodeRecord(out[0])->resource_id, "p11");
  j.reset();
  VerifyReport report;
  Status s = Verify(dir_.path() + "/audit", "acme", &report);
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(JournalTest, FullDiskFailsClosed) {
  // A real full disk: a small tmpfs. Needs root (as CI runs); elsewhere the fault hook above
  // covers the same path.
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  std::string mnt = dir_.path() + "/small";
  fs::create_directories(mnt);
  ASSERT_EQ(std::system(("mount -t tmpfs -o size=256k tmpfs " + mnt).c_str()), 0);
  {
    JournalOptions o = Options();
    o.dir = mnt + "/audit";
    o.fault = nullptr;
    auto j = Journal::Open(o, clock_);
    ASSERT_TRUE(j.ok());
    uint64_t ok = 0;
    Status last;
    for (int i = 0; i < 5000; ++i) {
      last = (*j)->AppendSync("acme", {MakeRecord(clock_.NowMicros(), i)});
      if (!last.ok()) break;
      ++ok;
    }
    EXPECT_EQ(last.code(), Code::kUnavailable) << "the disk never filled";
    EXPECT_EQ((*j)->Size("acme"), ok);
    // Still failing, never partially kept.
    EXPECT_FALSE((*j)->AppendSync("acme", {MakeRecord(clock_.NowMicros(), 1)}).ok());
    EXPECT_EQ((*j)->Size("acme"), ok);
  }
  ASSERT_EQ(std::system(("umount " + mnt).c_str()), 0);
}

TEST_F(JournalTest, RetentionPrunesBodiesAndKeepsProofs) {
  auto j = OpenJournal();
  for (int day = 0; day < 5; ++day) {
    clock_.Set(kStart + day * kDay);
    Fill(*j, 20, 5);
  }
  EXPECT_EQ(j->Size("acme"), 100u);
  auto pruned = j->Prune("acme", kStart + 3 * kDay);
  ASSERT_TRUE(pruned.ok()) << pruned.status().message();
  EXPECT_EQ(*pruned, 60u);  // days 0, 1 and 2
  std::vector<std::string> out;
  uint64_t next = 0;
  ASSERT_TRUE(j->Read("acme", 0, 1000, &out, &next).ok());
  EXPECT_EQ(out.size(), 40u);
  EXPECT_EQ(DecodeRecord(out[0])->index, 60u);
  EXPECT_EQ(next, 100u);
  // No pruned body is left in any file.
  for (const auto& e : fs::directory_iterator(dir_.path() + "/audit/acme")) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    for (int k : {0, 5, 59}) {
      std::string id = "\"p" + std::to_string(k) + "\"";
      EXPECT_EQ(bytes.find(id), std::string::npos) << e.path() << " holds " << id;
    }
  }
  // Proofs still hold, for kept and pruned records alike.
  Fill(*j, 3);
  auto verifier = NoteVerifier::Parse(*j->VerifierKey("acme"));
  auto cp = verifier->Open(*j->LatestCheckpoint("acme"));
  ASSERT_TRUE(cp.ok());
  for (uint64_t i : {5u, 59u, 60u, 99u}) {
    auto proof = j->InclusionProof("acme", i, cp->size);
    ASSERT_TRUE(proof.ok());
    EXPECT_TRUE(VerifyInclusion(i, cp->size, *j->LeafHash("acme", i), *proof, cp->root).ok());
  }
  j.reset();
  VerifyReport report;
  Status s = Verify(dir_.path() + "/audit", "acme", &report);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(report.pruned_records, 60u);
  // Reopening after pruning keeps appending.
  j = OpenJournal();
  EXPECT_EQ(j->Size("acme"), 103u);
}

// ---- Tampering: every change, removal, insertion, reordering or truncation is detected. ----

struct Frame {
  std::string path;
  uint64_t begin = 0, end = 0;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<Frame> Frames(const std::string& dir) {
  std::vector<Frame> frames;
  auto list = ListSegments(dir);
  std::vector<std::pair<uint64_t, bool>> segments = list.ok() ? *list : decltype(segments){};
  for (auto [first, pruned] : segments) {
    if (pruned) continue;
    std::string path = dir + "/" + SegmentName(first, false);
    std::string data = Slurp(path);
    uint64_t off = format::kSegmentMagic.size();
    for (;;) {
      uint64_t begin = off;
      std::string_view json;
      Mac mac;
      auto more = NextFrame(data, &off, &json, &mac);
      if (!more.ok() || !*more) break;
      frames.push_back({path, begin, off});
    }
  }
  return frames;
}

TEST_F(JournalTest, ThousandRandomMutationsAreAllDetected) {
  {
    auto j = OpenJournal();
    for (int day = 0; day < 3; ++day) {
      clock_.Set(kStart + day * kDay);
      Fill(*j, 60, 6);
    }
    ASSERT_TRUE(j->Prune("acme", kStart + kDay).ok());
  }
  std::string pristine = dir_.path() + "/audit/acme";
  VerifyReport report;
  ASSERT_TRUE(Verify(dir_.path() + "/audit", "acme", &report).ok());
  ASSERT_EQ(report.records, 180u);
  ASSERT_EQ(report.pruned_records, 60u);

  const std::vector<Frame> frames = Frames(pristine);
  ASSERT_EQ(frames.size(), 120u);
  std::vector<std::string> pruned_files;
  auto listed = ListSegments(pristine);
  ASSERT_TRUE(listed.ok());
  const std::vector<std::pair<uint64_t, bool>> segments = *listed;
  for (auto [first, pruned] : segments) {
    if (pruned) pruned_files.push_back(SegmentName(first, true));
  }
  ASSERT_FALSE(pruned_files.empty());

  std::mt19937_64 rng(20261130);
  auto pick = [&rng](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  const std::vector<std::string> kinds = {"change",   "remove",     "insert", "reorder",
                                          "truncate", "checkpoint", "pruned", "node"};
  std::map<std::string, int> applied, detected;
  std::string work = dir_.path() + "/work";
  const int kMutations = 1200;
  for (int m = 0; m < kMutations; ++m) {
    fs::remove_all(work);
    fs::copy(pristine, work, fs::copy_options::recursive);
    const std::string kind = kinds[m % kinds.size()];
    auto local = [&](const Frame& f) {
      return Frame{work + f.path.substr(pristine.size()), f.begin, f.end};
    };
    if (kind == "change") {
      Frame f = local(frames[pick(frames.size())]);
      std::string data = Slurp(f.path);
      uint64_t at = f.begin + pick(f.end - f.begin);
      data[at] = static_cast<char>(data[at] ^ (1 << pick(8)));
      Spit(f.path, data);
    } else if (kind == "remove") {
      Frame f = local(frames[pick(frames.size())]);
      std::string data = Slurp(f.path);
      data.erase(f.begin, f.end - f.begin);
      Spit(f.path, data);
    } else if (kind == "insert") {
      Frame src = local(frames[pick(frames.size())]);
      Frame dst = local(frames[pick(frames.size())]);
      std::string copy = Slurp(src.path).substr(src.begin, src.end - src.begin);
      std::string data = Slurp(dst.path);
      data.insert(pick(2) ? dst.begin : dst.end, copy);
      Spit(dst.path, data);
    } else if (kind == "reorder") {
      uint64_t a = pick(frames.size()), b = pick(frames.size());
      while (b == a) b = pick(frames.size());
      if (a > b) std::swap(a, b);
      Frame fa = local(frames[a]), fb = local(frames[b]);
      std::string ba = Slurp(fa.path).substr(fa.begin, fa.end - fa.begin);
      std::string bb = Slurp(fb.path).substr(fb.begin, fb.end - fb.begin);
      if (fa.path == fb.path) {
        std::string data = Slurp(fa.path);
        data.replace(fb.begin, fb.end - fb.begin, ba);
        data.replace(fa.begin, fa.end - fa.begin, bb);
        Spit(fa.path, data);
      } else {
        std::string da = Slurp(fa.path), db = Slurp(fb.path);
        da.replace(fa.begin, fa.end - fa.begin, bb);
        db.replace(fb.begin, fb.end - fb.begin, ba);
        Spit(fa.path, da);
        Spit(fb.path, db);
      }
    } else if (kind == "truncate") {
      // Cut a segment, or the checkpoint file, at a random byte; or drop the newest segment.
      uint64_t which = pick(3);
      if (which == 0) {
        Frame f = local(frames[pick(frames.size())]);
        fs::resize_file(f.path, pick(fs::file_size(f.path)));
      } else if (which == 1) {
        std::string cps = work + "/checkpoints.log";
        fs::resize_file(cps, pick(fs::file_size(cps)));
      } else {
        fs::remove(local(frames.back()).path);
      }
    } else if (kind == "checkpoint") {
      std::string cps = work + "/checkpoints.log";
      std::string data = Slurp(cps);
      uint64_t at = pick(data.size());
      data[at] = static_cast<char>(data[at] ^ (1 << pick(8)));
      Spit(cps, data);
    } else if (kind == "pruned") {
      std::string path = work + "/" + pruned_files[pick(pruned_files.size())];
      std::string data = Slurp(path);
      uint64_t at = pick(data.size());
      data[at] = static_cast<char>(data[at] ^ (1 << pick(8)));
      Spit(path, data);
    } else if (kind == "node") {
      std::string path = work + "/" + LevelName(static_cast<int>(pick(4)));
      std::string data = Slurp(path);
      uint64_t at = pick(data.size());
      data[at] = static_cast<char>(data[at] ^ (1 << pick(8)));
      Spit(path, data);
    }
    applied[kind]++;
    auto keys = TreeKeys::Derive(SeedFor("acme").bytes());
    VerifyReport r;
    Status s = VerifyTree(work, "hygie/test/acme", *keys, &r);
    if (!s.ok()) {
      detected[kind]++;
      EXPECT_EQ(s.code(), Code::kDataLoss) << s.message();
    } else {
      ADD_FAILURE() << "mutation " << m << " (" << kind << ") went undetected";
    }
  }
  int total = 0;
  for (const auto& [kind, n] : applied) {
    std::printf("[ mutations ] %-10s applied %4d detected %4d\n", kind.c_str(), n, detected[kind]);
    total += detected[kind];
  }
  std::printf("[ mutations ] total %d of %d detected\n", total, kMutations);
  EXPECT_EQ(total, kMutations);
}

TEST_F(JournalTest, VerifyNamesTheFirstBadRecord) {
  {
    auto j = OpenJournal();
    Fill(*j, 30);
  }
  std::string dir = dir_.path() + "/audit/acme";
  std::vector<Frame> frames = Frames(dir);
  Frame f = frames[17];
  std::string data = Slurp(f.path);
  size_t at = data.find("\"p17\"", f.begin);
  ASSERT_NE(at, std::string::npos);
  data[at + 2] = '9';  // p17 -> p97
  Spit(f.path, data);
  VerifyReport r;
  Status s = Verify(dir_.path() + "/audit", "acme", &r);
  EXPECT_EQ(s.code(), Code::kDataLoss);
  EXPECT_NE(s.message().find("record 17:"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace hygie::audit

namespace hygie::audit {
namespace {

crypto::SecretKey TestSpoolKey() {
  auto key = SpoolKey(SeedFor(std::string(kSystemTree)));
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

std::vector<std::string> SpoolFiles(const std::string& dir, std::string_view suffix = ".rec") {
  std::vector<std::string> out;
  auto names = Env::Default().ListDir(dir);
  if (!names.ok()) return out;
  for (const std::string& n : *names) {
    if (n.ends_with(suffix)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A crash while a command-line act is spooled leaves no record or the whole record, never a
// torn one or a temporary; a spool reported as done survives and is ingested, and the spool
// stays sound (a record without its counter update is numbered by its name).
TEST_F(JournalTest, CrashDuringSpoolLeavesNoRecordOrAWholeOne) {
  auto j = OpenJournal();
  ASSERT_NE(j, nullptr);
  const std::string dir = dir_.path() + "/audit";
  const crypto::SecretKey key = TestSpoolKey();
  uint64_t ingested = 0;
  bool saw_none = false, saw_one = false;
  for (uint64_t k = 0; k <= 12; ++k) {
    SCOPED_TRACE("crash after call " + std::to_string(k));
    FaultInjectionEnv env;
    FaultInjectionEnv::FaultSpec crash;
    crash.skip = k;
    crash.count = FaultInjectionEnv::kForever;
    crash.path_prefix = dir + "/_spool";
    env.FailCalls(crash);
    Status s = SpoolRecord(
        dir, key, MakeRecord(clock_.NowMicros() + static_cast<int64_t>(k), static_cast<int>(k)),
        kSystemTree, env);
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    std::vector<std::string> names = SpoolFiles(dir + "/_spool");
    ASSERT_LE(names.size(), 1u);
    if (s.ok()) {
      EXPECT_EQ(names.size(), 1u);
    }
    EXPECT_TRUE(SpoolFiles(dir + "/_spool", ".tmp").empty());
    auto scan = ScanSpool(dir, key);
    ASSERT_TRUE(scan.ok());
    EXPECT_TRUE(scan->ok()) << scan->problems[0].file << ": " << scan->problems[0].detail;
    auto moved = j->IngestSpool();
    ASSERT_TRUE(moved.ok()) << moved.status().message();
    EXPECT_EQ(*moved, names.size());  // a whole record each: none is left as malformed
    ingested += *moved;
    EXPECT_EQ(j->Size(std::string(kSystemTree)), ingested);
    saw_none = saw_none || names.empty();
    saw_one = saw_one || names.size() == 1;
  }
  EXPECT_TRUE(saw_none);
  EXPECT_TRUE(saw_one);
  EXPECT_TRUE(j->SpoolProblems().empty());
}

TEST_F(JournalTest, SpooledRecordsReachTheirTree) {
  auto j = OpenJournal();
  ASSERT_NE(j, nullptr);
  const std::string dir = dir_.path() + "/audit";
  const crypto::SecretKey key = TestSpoolKey();
  ASSERT_TRUE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros(), 1), kSystemTree).ok());
  ASSERT_TRUE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros() + 1, 2), "acme").ok());
  ASSERT_TRUE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros() + 2, 3), "two-part").ok());
  EXPECT_FALSE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros(), 4), "../etc").ok());
  EXPECT_FALSE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros(), 4), "A").ok());
  auto moved = j->IngestSpool();
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(*moved, 3u);
  EXPECT_EQ(j->Size(std::string(kSystemTree)), 1u);
  EXPECT_EQ(j->Size("acme"), 1u);
  EXPECT_EQ(j->Size("two-part"), 1u);
  std::vector<std::string> out;
  uint64_t next = 0;
  ASSERT_TRUE(j->Read("two-part", 0, 1, &out, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].find("\"p3\""), std::string::npos) << out[0];
  auto again = j->IngestSpool();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u) << "ingested records leave the spool";
  // Nothing in a spooled file is usable without the seal: a record from another installation's
  // key is refused.
  auto other = SpoolKey(SeedFor("another installation"));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(
      SpoolRecord(dir + "-other", *other, MakeRecord(clock_.NowMicros(), 9), kSystemTree).ok());
  fs::copy_file(dir + "-other/_spool/00000000000000000001.rec",
                dir + "/_spool/00000000000000000004.rec");
  auto scan = ScanSpool(dir, key);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->problems.size(), 1u);
  EXPECT_EQ(scan->problems[0].kind, SpoolProblem::kAltered);
}

// Someone with access to the files alters, removes, reorders and replays spooled records while
// a server runs: each is found (ScanSpool, which `hygie audit verify` prints), none reaches a
// tree, each is recorded in the system tree, and what was wrong stays in _spool/rejected.
TEST_F(JournalTest, AlteredRemovedReorderedAndReplayedSpooledRecordsAreEachCaught) {
  auto j = OpenJournal();
  ASSERT_NE(j, nullptr);
  const std::string dir = dir_.path() + "/audit";
  const std::string spool = dir + "/_spool";
  const crypto::SecretKey key = TestSpoolKey();
  auto spool_one = [&](int n) {
    ASSERT_TRUE(
        SpoolRecord(dir, key, MakeRecord(clock_.NowMicros() + n, n), std::string("acme")).ok());
  };
  auto name = [](uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%020llu.rec", static_cast<unsigned long long>(n));
    return std::string(buf);
  };
  for (int n = 1; n <= 3; ++n) spool_one(n);
  const std::string two = Slurp(spool + "/" + name(2));
  ASSERT_EQ(*j->IngestSpool(), 3u);
  for (int n = 4; n <= 9; ++n) spool_one(n);
  // 4: one changed byte in the record. 5: removed. 6 and 7: swapped. 8 and 9 stay sound.
  std::string four = Slurp(spool + "/" + name(4));
  size_t at = four.find("dr-house");
  ASSERT_NE(at, std::string::npos);
  four[at] = 'D';
  fs::permissions(spool + "/" + name(4), fs::perms::owner_read | fs::perms::owner_write);
  Spit(spool + "/" + name(4), four);
  fs::remove(spool + "/" + name(5));
  fs::rename(spool + "/" + name(6), spool + "/swap");
  fs::rename(spool + "/" + name(7), spool + "/" + name(6));
  fs::rename(spool + "/swap", spool + "/" + name(7));
  auto scan = ScanSpool(dir, key);
  ASSERT_TRUE(scan.ok());
  std::map<std::string, SpoolProblem::Kind> found;
  for (const SpoolProblem& p : scan->problems) found[p.file.substr(p.file.rfind('/') + 1)] = p.kind;
  EXPECT_EQ(found[name(4)], SpoolProblem::kAltered);
  EXPECT_EQ(found[name(5)], SpoolProblem::kMissing);
  EXPECT_EQ(found[name(6)], SpoolProblem::kAltered);
  EXPECT_EQ(found[name(7)], SpoolProblem::kAltered);
  EXPECT_EQ(found.count(name(8)), 0u);
  EXPECT_EQ(found.count(name(9)), 0u);
  ASSERT_EQ(scan->pending.size(), 2u);

  uint64_t system_before = j->Size(std::string(kSystemTree));
  auto moved = j->IngestSpool();
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(*moved, 2u) << "only records 8 and 9 reach their tree";
  EXPECT_EQ(j->Size("acme"), 5u);
  EXPECT_EQ(j->Size(std::string(kSystemTree)), system_before + 4) << "one record per problem";
  std::vector<std::string> evidence;
  uint64_t next = 0;
  ASSERT_TRUE(j->Read(std::string(kSystemTree), system_before, 4, &evidence, &next).ok());
  std::string all;
  for (const std::string& e : evidence) all += e;
  EXPECT_NE(all.find("audit-spool-rejected"), std::string::npos) << all;
  EXPECT_NE(all.find("audit-spool-missing"), std::string::npos) << all;
  // Set aside, reported on every later scan (and so on /readyz) until the operator looks.
  EXPECT_EQ(SpoolFiles(spool + "/rejected", "").size(), 4u);
  auto later = ScanSpool(dir, key);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->ok());
  for (const SpoolProblem& p : later->problems) EXPECT_EQ(p.kind, SpoolProblem::kRejected);
  ASSERT_TRUE(j->IngestSpool().ok());
  EXPECT_EQ(j->SpoolProblems().size(), 4u);
  EXPECT_EQ(j->Size(std::string(kSystemTree)), system_before + 4) << "recorded once";

  // A replay: a sound record that was moved in long ago (record 2), put back under its name.
  spool_one(10);
  std::string ten = Slurp(spool + "/" + name(10));
  ASSERT_EQ(*j->IngestSpool(), 1u);
  Spit(spool + "/" + name(2), two);
  auto replayed = ScanSpool(dir, key);
  ASSERT_TRUE(replayed.ok());
  bool saw_replay = false;
  for (const SpoolProblem& p : replayed->problems) {
    saw_replay = saw_replay || (p.kind == SpoolProblem::kReplayed && p.file.ends_with(name(2)));
  }
  EXPECT_TRUE(saw_replay);
  // A record of the last batch put back looks like what a crash leaves: removed, not journaled.
  Spit(spool + "/" + name(10), ten);
  uint64_t acme = j->Size("acme");
  ASSERT_TRUE(j->IngestSpool().ok());
  EXPECT_EQ(j->Size("acme"), acme) << "a replayed record is not journaled twice";
  EXPECT_TRUE(SpoolFiles(spool).empty());

  // The newest record and the counter removed together: the ingested mark still tells.
  fs::remove_all(spool + "/rejected");
  spool_one(11);
  fs::remove(spool + "/" + name(11));
  fs::remove(spool + "/counter");
  auto gone = ScanSpool(dir, key);
  ASSERT_TRUE(gone.ok());
  ASSERT_FALSE(gone->ok());
  EXPECT_EQ(gone->problems[0].kind, SpoolProblem::kCounter);
  // Meanwhile the command line refuses to spool on an unsound counter (fail closed).
  EXPECT_EQ(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros(), 12), kSystemTree).code(),
            Code::kDataLoss);
  // The server records it, seals the counter again, and the command line spools on.
  ASSERT_TRUE(j->IngestSpool().ok());
  EXPECT_TRUE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros(), 12), kSystemTree).ok());
}

// Seen while writing fuzz/audit_spool_fuzz.cc, which times out on it (a sealed counter of 10^8):
// a sealed counter far ahead of the files (here as FinishIngest writes it for a scan that says
// so) made ScanSpool list every number in between, without end for a counter near 2^64. The scan
// now lists the first 100 and counts the others.
TEST_F(JournalTest, ASpoolCounterFarAheadIsOneBoundedScan) {
  const std::string dir = dir_.path() + "/audit";
  const crypto::SecretKey key = TestSpoolKey();
  ASSERT_TRUE(SpoolRecord(dir, key, MakeRecord(kStart, 1), std::string("acme")).ok());
  for (uint64_t counter : {uint64_t{1} << 40, ~uint64_t{0}}) {
    SpoolScan claimed;
    claimed.counter = counter;  // unsound: FinishIngest seals it again as this number
    ASSERT_TRUE(FinishIngest(dir, key, 0, {}, claimed).ok());
    auto scan = ScanSpool(dir, key);
    ASSERT_TRUE(scan.ok());
    EXPECT_EQ(scan->counter, counter);
    ASSERT_EQ(scan->pending.size(), 1u);
    ASSERT_EQ(scan->missing.size(), 100u);
    EXPECT_EQ(scan->missing.front(), 2u);
    EXPECT_EQ(scan->missing.back(), 101u);
    ASSERT_EQ(scan->problems.size(), 101u);
    EXPECT_EQ(scan->problems.back().kind, SpoolProblem::kMissing);
    EXPECT_NE(scan->problems.back().detail.find(std::to_string(counter - 101) + " more records"),
              std::string::npos)
        << scan->problems.back().detail;
  }
}

// A crash after the records were moved in but before their files were removed: the next scan
// removes them silently (they are the last batch, by digest), never journaling them twice.
TEST_F(JournalTest, ACrashAfterIngestingLeavesNoDuplicateAndNoFalseAlarm) {
  auto j = OpenJournal();
  ASSERT_NE(j, nullptr);
  const std::string dir = dir_.path() + "/audit";
  const crypto::SecretKey key = TestSpoolKey();
  ASSERT_TRUE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros(), 1), "acme").ok());
  ASSERT_TRUE(SpoolRecord(dir, key, MakeRecord(clock_.NowMicros() + 1, 2), "acme").ok());
  auto scan = ScanSpool(dir, key);
  ASSERT_TRUE(scan.ok());
  // What IngestSpool does, cut before the files are removed.
  for (const SpoolEntry& e : scan->pending) ASSERT_TRUE(j->AppendSync(e.tree, {e.record}).ok());
  // The ingested mark is written; every call on a record file fails from then on.
  FaultInjectionEnv env;
  FaultInjectionEnv::FaultSpec crash;
  crash.count = FaultInjectionEnv::kForever;
  crash.path_prefix = dir + "/_spool/0";
  env.FailCalls(crash);
  EXPECT_FALSE(FinishIngest(dir, key, scan->counter, scan->pending, *scan, env).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  ASSERT_EQ(SpoolFiles(dir + "/_spool").size(), 2u);
  auto after = ScanSpool(dir, key);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->ok()) << after->problems[0].file << ": " << after->problems[0].detail;
  auto moved = j->IngestSpool();
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 0u);
  EXPECT_EQ(j->Size("acme"), 2u) << "journaled once";
  EXPECT_TRUE(SpoolFiles(dir + "/_spool").empty());
}

}  // namespace
}  // namespace hygie::audit
