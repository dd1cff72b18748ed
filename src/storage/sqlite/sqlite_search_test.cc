// Search index and search of the embedded engine: index maintenance on write, reindex, index
// version, the term kinds, sort, paging, count, query plans, migration from schema version 1.

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/sqlite/sqlite_store.h"
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

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::TempDir;

constexpr uint64_t kMale = 0x8000000000000001ull;  // high bit set: stored as a negative int64
constexpr uint64_t kFemale = 2;
constexpr uint64_t kNameA = 3;
constexpr uint64_t kNameB = 4;
constexpr uint64_t kBirth = 100;   // date key
constexpr uint64_t kWeight = 200;  // number key

VersionWrite Write(std::string type, std::string id, uint64_t version, IndexEntries index,
                   int64_t ts = 1000, bool deleted = false) {
  VersionWrite w = testing::MakeWrite(std::move(type), id, version, version - 1,
                                      deleted ? "" : "body-" + id, ts, deleted);
  w.index = std::move(index);
  return w;
}

IndexEntries Hashes(std::vector<uint64_t> hashes) {
  IndexEntries e;
  e.hashes = std::move(hashes);
  return e;
}

SearchTerm HashTerm(std::vector<uint64_t> hashes, bool negate = false) {
  SearchTerm t;
  t.kind = SearchTerm::kHash;
  t.hashes = std::move(hashes);
  t.negate = negate;
  return t;
}

RangeCmp Cmp(RangeCmp::Column column, RangeCmp::Op op, int64_t instant) {
  RangeCmp c;
  c.column = column;
  c.op = op;
  c.instant = instant;
  c.number = static_cast<double>(instant);
  return c;
}

SearchTerm RangeTerm(SearchTerm::Kind kind, uint64_t key,
                     std::vector<std::vector<RangeCmp>> ranges) {
  SearchTerm t;
  t.kind = kind;
  t.key = key;
  t.ranges = std::move(ranges);
  return t;
}

SearchQuery Query(std::vector<SearchClause> clauses, std::vector<std::string> types = {"Patient"}) {
  SearchQuery q;
  q.types = std::move(types);
  q.clauses = std::move(clauses);
  q.limit = 1000;
  return q;
}

class SqliteSearchTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    auto store = OpenSqliteStore(tmp_.path(), options_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto tenant = store_->OpenTenant("acme");
    ASSERT_TRUE(tenant.ok()) << tenant.status().ToString();
    t_ = std::move(tenant).value();
  }

  void Reopen() {
    t_.reset();
    store_->Close();
    store_.reset();
    Open();
  }

  void Commit(std::vector<VersionWrite> writes) {
    Status s = t_->CommitAndWait(testing::MakeBatch(std::move(writes)));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::vector<SearchHit> Hits(const SearchQuery& q) {
    auto r = t_->Search(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<SearchHit>{};
  }

  // Ids of the hits, in order.
  std::vector<std::string> Ids(const SearchQuery& q) {
    std::vector<std::string> ids;
    for (const SearchHit& h : Hits(q)) ids.push_back(h.record.id);
    return ids;
  }

  std::vector<std::string> SortedIds(const SearchQuery& q) {
    std::vector<std::string> ids = Ids(q);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  uint64_t Count(const SearchQuery& q) {
    auto n = t_->SearchCount(q);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }

  // The index block of a resource row and the number of blocks, read from the file.
  int64_t QueryFile(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((tmp_.path() + "/acme/data.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t v = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
  }
  int64_t BlockOf(uint64_t rowid) {
    return QueryFile("SELECT coalesce(b, rid >> 12) FROM resource_current WHERE rid = " +
                     std::to_string(rowid));
  }

  TempDir tmp_;
  SqliteOptions options_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<TenantStore> t_;
};

TEST_F(SqliteSearchTest, HashTermFindsIndexedResourcesWithBodies) {
  Commit({Write("Patient", "a", 1, Hashes({kMale, kNameA, kMale})),
          Write("Patient", "b", 1, Hashes({kFemale, kNameA})),
          Write("Observation", "o", 1, Hashes({kMale}))});
  auto hits = Hits(Query({{HashTerm({kMale})}}));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].record.type, "Patient");
  EXPECT_EQ(hits[0].record.id, "a");
  EXPECT_EQ(hits[0].record.version, 1u);
  EXPECT_EQ(hits[0].record.key_id, 7u);
  EXPECT_EQ(AsChars(hits[0].record.body), "body-a");
  EXPECT_GT(hits[0].rowid, 0u);

  EXPECT_THAT(SortedIds(Query({{HashTerm({kNameA})}})), ElementsAre("a", "b"));
  // Every type.
  EXPECT_THAT(SortedIds(Query({{HashTerm({kMale})}}, {})), ElementsAre("a", "o"));
  // Two types.
  EXPECT_THAT(SortedIds(Query({{HashTerm({kMale})}}, {"Observation", "Patient"})),
              ElementsAre("a", "o"));
  // Without bodies.
  SearchQuery q = Query({{HashTerm({kMale})}});
  q.with_bodies = false;
  hits = Hits(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_TRUE(hits[0].record.body.empty());
  EXPECT_EQ(hits[0].record.id, "a");
  // No clause: every resource of the type.
  EXPECT_THAT(SortedIds(Query({})), ElementsAre("a", "b"));
  EXPECT_EQ(Count(Query({})), 2u);
  EXPECT_EQ(Count(Query({}, {})), 3u);
}

TEST_F(SqliteSearchTest, UpdateReplacesIndexEntriesAndKeepsRowId) {
  IndexEntries first = Hashes({kMale, kNameA});
  first.dates = {{kBirth, 10, 20}};
  first.numbers = {{kWeight, 70.5, 70.5}};
  Commit({Write("Patient", "a", 1, first)});
  auto before = Hits(Query({{HashTerm({kMale})}}));
  ASSERT_EQ(before.size(), 1u);

  IndexEntries second = Hashes({kFemale, kNameA});
  second.dates = {{kBirth, 30, 40}};
  Commit({Write("Patient", "a", 2, second)});
  EXPECT_THAT(Ids(Query({{HashTerm({kMale})}})), IsEmpty());
  auto after = Hits(Query({{HashTerm({kFemale})}}));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].rowid, before[0].rowid);
  EXPECT_EQ(after[0].record.version, 2u);
  EXPECT_EQ(AsChars(after[0].record.body), "body-a");
  EXPECT_THAT(Ids(Query({{HashTerm({kNameA})}})), ElementsAre("a"));
  EXPECT_THAT(Ids(Query({{RangeTerm(SearchTerm::kDate, kBirth,
                                    {{Cmp(RangeCmp::kLo, RangeCmp::kLe, 20)}})}})),
              IsEmpty());
  EXPECT_THAT(Ids(Query({{RangeTerm(SearchTerm::kDate, kBirth,
                                    {{Cmp(RangeCmp::kLo, RangeCmp::kGe, 30)}})}})),
              ElementsAre("a"));
  EXPECT_THAT(Ids(Query({{RangeTerm(SearchTerm::kNumber, kWeight, {{}})}})), IsEmpty());
}

TEST_F(SqliteSearchTest, TombstoneRemovesFromSearchAndScan) {
  Commit({Write("Patient", "a", 1, Hashes({kMale})), Write("Patient", "b", 1, Hashes({kMale}))});
  Commit({Write("Patient", "a", 2, {}, 2000, /*deleted=*/true)});
  EXPECT_THAT(Ids(Query({{HashTerm({kMale})}})), ElementsAre("b"));
  EXPECT_THAT(Ids(Query({})), ElementsAre("b"));
  EXPECT_EQ(Count(Query({{HashTerm({kMale}, /*negate=*/true)}})), 0u);
  auto scan = t_->ScanCurrent("Patient", 0, 10);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->size(), 1u);
  EXPECT_EQ((*scan)[0].record.id, "b");
  // Recreated after deletion: found again, same row id.
  auto b_rowid = (*scan)[0].rowid;
  Commit({Write("Patient", "a", 3, Hashes({kFemale}))});
  EXPECT_THAT(Ids(Query({{HashTerm({kFemale})}})), ElementsAre("a"));
  EXPECT_LT(Hits(Query({{HashTerm({kFemale})}}))[0].rowid, b_rowid);
  // A tombstone with index entries is refused.
  VersionWrite bad = Write("Patient", "b", 2, Hashes({kMale}), 3000, /*deleted=*/true);
  EXPECT_EQ(t_->CommitAndWait(testing::MakeBatch({bad})).code(), Code::kInvalidArgument);
}

TEST_F(SqliteSearchTest, NegateOrAndAndEmptyTerms) {
  Commit({Write("Patient", "a", 1, Hashes({kMale, kNameA})),
          Write("Patient", "b", 1, Hashes({kFemale, kNameA})),
          Write("Patient", "c", 1, Hashes({kFemale, kNameB})), Write("Patient", "d", 1, {})});
  // OR within a clause: across terms and within one term.
  EXPECT_THAT(SortedIds(Query({{HashTerm({kMale}), HashTerm({kNameB})}})), ElementsAre("a", "c"));
  EXPECT_THAT(SortedIds(Query({{HashTerm({kMale, kNameB})}})), ElementsAre("a", "c"));
  // AND across clauses, driven by either.
  EXPECT_THAT(Ids(Query({{HashTerm({kFemale})}, {HashTerm({kNameA})}})), ElementsAre("b"));
  EXPECT_THAT(Ids(Query({{HashTerm({kFemale, kMale})}, {HashTerm({kNameB})}})), ElementsAre("c"));
  // Negation (a resource without any entry is selected by a negated term).
  EXPECT_THAT(SortedIds(Query({{HashTerm({kFemale}, true)}})), ElementsAre("a", "d"));
  EXPECT_THAT(Ids(Query({{HashTerm({kNameA})}, {HashTerm({kMale}, true)}})), ElementsAre("b"));
  EXPECT_THAT(SortedIds(Query({{HashTerm({kMale}, true), HashTerm({kNameA})}})),
              ElementsAre("a", "b", "c", "d"));
  // Empty hash list, kNone, empty clause: nothing; negated: everything.
  EXPECT_THAT(Ids(Query({{HashTerm({})}})), IsEmpty());
  SearchTerm none;
  none.kind = SearchTerm::kNone;
  EXPECT_THAT(Ids(Query({{none}})), IsEmpty());
  EXPECT_THAT(Ids(Query({{none, HashTerm({kMale})}})), ElementsAre("a"));
  none.negate = true;
  EXPECT_EQ(Ids(Query({{none}})).size(), 4u);
  EXPECT_THAT(Ids(Query({SearchClause{}})), IsEmpty());
  EXPECT_EQ(Count(Query({{HashTerm({kFemale})}, {HashTerm({kNameA}, true)}})), 1u);
}

TEST_F(SqliteSearchTest, DateRangesWithEachOperator) {
  // a: [10, 19], b: [20, 29], c: [30, 39] and [50, 59], d: no date.
  IndexEntries a, b, c;
  a.dates = {{kBirth, 10, 19}};
  b.dates = {{kBirth, 20, 29}};
  c.dates = {{kBirth, 30, 39}, {kBirth, 50, 59}, {kBirth + 1, 0, 100}};
  Commit({Write("Patient", "a", 1, a), Write("Patient", "b", 1, b), Write("Patient", "c", 1, c),
          Write("Patient", "d", 1, {})});
  auto ids = [&](std::vector<std::vector<RangeCmp>> ranges, bool negate = false) {
    SearchTerm t = RangeTerm(SearchTerm::kDate, kBirth, std::move(ranges));
    t.negate = negate;
    return SortedIds(Query({{t}}));
  };
  using C = RangeCmp;
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kLt, 20)}}), ElementsAre("a"));
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kLe, 20)}}), ElementsAre("a", "b"));
  EXPECT_THAT(ids({{Cmp(C::kHi, C::kGt, 39)}}), ElementsAre("c"));
  EXPECT_THAT(ids({{Cmp(C::kHi, C::kGe, 29)}}), ElementsAre("b", "c"));
  EXPECT_THAT(ids({{Cmp(C::kHi, C::kLt, 29)}}), ElementsAre("a"));
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kGt, 30)}}), ElementsAre("c"));  // [50, 59]
  // A conjunction is met by one entry: [lo >= 31 and hi <= 39] by none of c's.
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kGe, 31), Cmp(C::kHi, C::kLe, 39)}}), IsEmpty());
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kGe, 20), Cmp(C::kHi, C::kLe, 29)}}), ElementsAre("b"));
  // A disjunction of ranges.
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kGe, 20), Cmp(C::kHi, C::kLe, 29)}, {Cmp(C::kHi, C::kLe, 19)}}),
              ElementsAre("a", "b"));
  EXPECT_THAT(ids({{Cmp(C::kLo, C::kLe, 20)}}, /*negate=*/true), ElementsAre("c", "d"));
  EXPECT_THAT(ids({}), IsEmpty());
  EXPECT_THAT(ids({{}}), ElementsAre("a", "b", "c"));  // any entry with the key
  // Dates sorted and counted, with the date term as driver.
  SearchQuery q = Query({{RangeTerm(SearchTerm::kDate, kBirth, {{Cmp(C::kHi, C::kGe, 15)}})}});
  EXPECT_EQ(Count(q), 3u);
  q.sort = {SortKey{SortKey::kDate, kBirth, /*descending=*/true}};
  EXPECT_THAT(Ids(q), ElementsAre("c", "b", "a"));
}

TEST_F(SqliteSearchTest, NumberRanges) {
  IndexEntries a, b, c;
  a.numbers = {{kWeight, 1.5, 1.5}};
  b.numbers = {{kWeight, 2.25, 2.75}};
  c.numbers = {{kWeight, -1e300, -1e300}, {kWeight + 1, 2.5, 2.5}};
  Commit({Write("Patient", "a", 1, a), Write("Patient", "b", 1, b), Write("Patient", "c", 1, c)});
  auto ids = [&](std::vector<std::vector<RangeCmp>> ranges) {
    return SortedIds(Query({{RangeTerm(SearchTerm::kNumber, kWeight, std::move(ranges))}}));
  };
  auto num = [](RangeCmp::Column col, RangeCmp::Op op, double v) {
    RangeCmp c;
    c.column = col;
    c.op = op;
    c.number = v;
    return c;
  };
  using C = RangeCmp;
  EXPECT_THAT(ids({{num(C::kLo, C::kLe, 2.5), num(C::kHi, C::kGe, 2.5)}}), ElementsAre("b"));
  EXPECT_THAT(ids({{num(C::kLo, C::kLt, 2.0)}}), ElementsAre("a", "c"));
  EXPECT_THAT(ids({{num(C::kHi, C::kGt, 1.5)}}), ElementsAre("b"));
  EXPECT_THAT(ids({{num(C::kHi, C::kGe, 1.5)}}), ElementsAre("a", "b"));
  EXPECT_THAT(ids({{num(C::kLo, C::kGe, 1.5), num(C::kHi, C::kLe, 1.5)}}), ElementsAre("a"));
  // A NaN bound matches nothing; a NaN entry is refused.
  EXPECT_THAT(ids({{num(C::kLo, C::kLe, std::nan(""))}}), IsEmpty());
  IndexEntries bad;
  bad.numbers = {{kWeight, std::nan(""), 1}};
  EXPECT_EQ(t_->CommitAndWait(testing::MakeBatch({Write("Patient", "x", 1, bad)})).code(),
            Code::kInvalidArgument);
  // Sort by number: ascending by smallest lo, descending by largest hi, missing last.
  Commit({Write("Patient", "d", 1, {})});
  SearchQuery q = Query({});
  q.sort = {SortKey{SortKey::kNumber, kWeight, false}};
  EXPECT_THAT(Ids(q), ElementsAre("c", "a", "b", "d"));
  q.sort[0].descending = true;
  EXPECT_THAT(Ids(q), ElementsAre("b", "a", "c", "d"));
}

TEST_F(SqliteSearchTest, IdAndLastUpdatedTerms) {
  Commit({Write("Patient", "a", 1, Hashes({kMale}), 100),
          Write("Patient", "b", 1, Hashes({kMale}), 200),
          Write("Patient", "c", 1, Hashes({kFemale}), 300),
          Write("Observation", "a", 1, Hashes({kMale}), 100)});
  SearchTerm id;
  id.kind = SearchTerm::kId;
  id.ids = {"a", "c", "zz"};
  EXPECT_THAT(SortedIds(Query({{id}})), ElementsAre("a", "c"));
  EXPECT_THAT(Ids(Query({{id}, {HashTerm({kMale})}})), ElementsAre("a"));
  EXPECT_EQ(Count(Query({{id}}, {})), 3u);
  id.negate = true;
  EXPECT_THAT(Ids(Query({{id}})), ElementsAre("b"));
  SearchTerm empty_ids;
  empty_ids.kind = SearchTerm::kId;
  EXPECT_THAT(Ids(Query({{empty_ids}})), IsEmpty());

  using C = RangeCmp;
  auto lu = [&](std::vector<std::vector<RangeCmp>> ranges) {
    return SortedIds(Query({{RangeTerm(SearchTerm::kLastUpdated, 0, std::move(ranges))}}));
  };
  EXPECT_THAT(lu({{Cmp(C::kLo, C::kGe, 200)}}), ElementsAre("b", "c"));
  EXPECT_THAT(lu({{Cmp(C::kHi, C::kLt, 200)}}), ElementsAre("a"));
  EXPECT_THAT(lu({{Cmp(C::kLo, C::kGt, 100), Cmp(C::kHi, C::kLe, 200)}}), ElementsAre("b"));
  EXPECT_THAT(lu({{Cmp(C::kLo, C::kLt, 150)}, {Cmp(C::kLo, C::kGt, 250)}}), ElementsAre("a", "c"));
}

TEST_F(SqliteSearchTest, SortKeysAscDescWithMissingValuesLast) {
  IndexEntries a, b, c;
  a.dates = {{kBirth, 50, 60}};
  b.dates = {{kBirth, 10, 20}, {kBirth, 70, 80}};  // smallest lo 10, largest hi 80
  c.dates = {{kBirth, 30, 40}};
  Commit({Write("Patient", "a", 1, a, 300), Write("Patient", "b", 1, b, 100),
          Write("Patient", "c", 1, c, 200), Write("Patient", "d", 1, {}, 200)});
  SearchQuery q = Query({});
  q.sort = {SortKey{SortKey::kDate, kBirth, false}};
  EXPECT_THAT(Ids(q), ElementsAre("b", "c", "a", "d"));
  q.sort[0].descending = true;
  EXPECT_THAT(Ids(q), ElementsAre("b", "a", "c", "d"));
  q.sort = {SortKey{SortKey::kLastUpdated, 0, false}};
  EXPECT_THAT(Ids(q), ElementsAre("b", "c", "d", "a"));  // ties by row id
  q.sort = {SortKey{SortKey::kLastUpdated, 0, true}, SortKey{SortKey::kId, 0, true}};
  EXPECT_THAT(Ids(q), ElementsAre("a", "d", "c", "b"));
  q.sort = {SortKey{SortKey::kId, 0, true}};
  EXPECT_THAT(Ids(q), ElementsAre("d", "c", "b", "a"));
  // Sort with a driving hash clause and a limit.
  Commit({Write("Patient", "a", 2,
                [&] {
                  IndexEntries e = a;
                  e.hashes = {kMale};
                  return e;
                }()),
          Write("Patient", "c", 2, [&] {
            IndexEntries e = c;
            e.hashes = {kMale};
            return e;
          }())});
  q = Query({{HashTerm({kMale})}});
  q.sort = {SortKey{SortKey::kDate, kBirth, true}};
  q.limit = 1;
  EXPECT_THAT(Ids(q), ElementsAre("a"));
  q.offset = 1;
  EXPECT_THAT(Ids(q), ElementsAre("c"));
}

TEST_F(SqliteSearchTest, KeysetPagingStaysValidAcrossInserts) {
  for (int i = 0; i < 10; ++i) {
    Commit({Write("Patient", Numbered("p", i), 1, Hashes({kMale}))});
  }
  for (bool with_clause : {false, true}) {
    SearchQuery q = with_clause ? Query({{HashTerm({kMale})}}) : Query({});
    q.limit = 4;
    std::vector<std::string> seen;
    uint64_t after = 0;
    int inserted = 0;
    while (true) {
      q.after_rowid = after;
      auto page = Hits(q);
      if (page.empty()) break;
      for (const SearchHit& h : page) {
        EXPECT_GT(h.rowid, after);
        after = h.rowid;
        seen.push_back(h.record.id);
      }
      // Between pages: a new resource (found later) and a deleted one from a later page.
      if (inserted++ == 0) {
        Commit({Write("Patient", with_clause ? "late-c" : "late", 1, Hashes({kMale}))});
        if (!with_clause) Commit({Write("Patient", "p9", 2, {}, 5000, /*deleted=*/true)});
      }
    }
    if (!with_clause) {
      EXPECT_THAT(seen, ElementsAre("p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "late"));
    } else {
      EXPECT_THAT(seen, ElementsAre("p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "late",
                                    "late-c"));
    }
  }
}

TEST_F(SqliteSearchTest, OffsetPagingAndCount) {
  for (int i = 0; i < 7; ++i) {
    Commit({Write("Patient", Numbered("p", i), 1, Hashes({kMale}), 1000 - i)});
  }
  SearchQuery q = Query({{HashTerm({kMale})}});
  q.sort = {SortKey{SortKey::kLastUpdated, 0, false}};
  q.limit = 3;
  EXPECT_THAT(Ids(q), ElementsAre("p6", "p5", "p4"));
  q.offset = 3;
  EXPECT_THAT(Ids(q), ElementsAre("p3", "p2", "p1"));
  q.offset = 6;
  EXPECT_THAT(Ids(q), ElementsAre("p0"));
  q.offset = 60;
  EXPECT_THAT(Ids(q), IsEmpty());
  EXPECT_EQ(Count(q), 7u);  // paging and limit ignored
  q.limit = 0;
  EXPECT_THAT(Ids(q), IsEmpty());
  EXPECT_EQ(Count(Query({{HashTerm({kFemale})}})), 0u);
}

// Many candidates share the driving hash, few pass the filter (every 37th, by its body): pages,
// offsets and counts are those of the results, across many pages of candidates.
TEST_F(SqliteSearchTest, FilterPagesAndCountsResultsNotCandidates) {
  constexpr int kCandidates = 5000;
  std::vector<std::string> want;
  std::vector<VersionWrite> writes;
  for (int i = 0; i < kCandidates; ++i) {
    std::string id = Numbered("p", i);
    if (i % 37 == 5) want.push_back(id);
    // Timestamps descend, so that a sort by _lastUpdated reverses the row id order.
    writes.push_back(Write("Patient", id, 1, Hashes({kMale}), 1000000 - i));
  }
  Commit(std::move(writes));
  const std::vector<std::string> want_sorted(want.rbegin(), want.rend());
  int calls = 0;
  auto filter = [&calls](const SearchHit& h) -> Result<bool> {
    ++calls;
    EXPECT_FALSE(h.record.body.empty());  // the filter sees the body, whatever with_bodies
    int n = std::stoi(h.record.id.substr(1));
    return n % 37 == 5;
  };
  SearchQuery q = Query({{HashTerm({kMale})}});
  q.filter = filter;
  q.with_bodies = false;
  EXPECT_EQ(Count(q), want.size());
  EXPECT_EQ(calls, kCandidates);
  // Keyset pages of 7 results.
  q.limit = 7;
  std::vector<std::string> seen;
  for (int pages = 0; pages < 100; ++pages) {
    std::vector<SearchHit> page = Hits(q);
    for (const SearchHit& h : page) {
      EXPECT_TRUE(h.record.body.empty());
      seen.push_back(h.record.id);
    }
    if (page.size() < q.limit) break;
    q.after_rowid = page.back().rowid;
  }
  EXPECT_EQ(seen, want);
  // A first page stops reading candidates soon after its last result.
  q.after_rowid = 0;
  q.limit = 2;
  calls = 0;
  EXPECT_THAT(Ids(q), ElementsAre("p5", "p42"));
  EXPECT_LE(calls, 64);
  // Sorted pages by offset: the offset counts results.
  q.sort = {SortKey{SortKey::kLastUpdated, 0, false}};
  q.limit = 10;
  seen.clear();
  for (q.offset = 0; q.offset < want.size() + 10; q.offset += q.limit) {
    for (const std::string& id : Ids(q)) seen.push_back(id);
  }
  EXPECT_EQ(seen, want_sorted);
  EXPECT_EQ(Count(q), want.size());
  // An error from the filter fails the search and the count.
  q.filter = [](const SearchHit&) -> Result<bool> { return DataLoss("cannot open"); };
  EXPECT_EQ(t_->Search(q).status().code(), Code::kDataLoss);
  EXPECT_EQ(t_->SearchCount(q).status().code(), Code::kDataLoss);
  // Nothing passes: empty pages, a zero count.
  q.filter = [](const SearchHit&) -> Result<bool> { return false; };
  q.offset = 0;
  EXPECT_THAT(Ids(q), IsEmpty());
  EXPECT_EQ(Count(q), 0u);
}

TEST_F(SqliteSearchTest, ReindexReplacesEntriesOfTheCurrentVersion) {
  Commit({Write("Patient", "a", 1, Hashes({kMale})), Write("Patient", "b", 1, Hashes({kMale}))});
  Commit({Write("Patient", "b", 2, Hashes({kMale}))});
  WriteBatch batch;
  IndexWrite ra;
  ra.type = "Patient";
  ra.id = "a";
  ra.version = 1;
  ra.index = Hashes({kFemale, kNameA});
  ra.index.dates = {{kBirth, 5, 6}};
  batch.reindex.push_back(ra);
  batch.set_index_version = 3;
  ASSERT_TRUE(t_->CommitAndWait(std::move(batch)).ok());
  EXPECT_THAT(Ids(Query({{HashTerm({kFemale})}})), ElementsAre("a"));
  EXPECT_THAT(Ids(Query({{HashTerm({kMale})}})), ElementsAre("b"));
  EXPECT_THAT(Ids(Query({{RangeTerm(SearchTerm::kDate, kBirth, {{}})}})), ElementsAre("a"));
  auto version = t_->IndexVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 3);
  // The current version of b is 2: the whole batch fails with kNotFound, nothing changes.
  for (auto [id, v] : {std::pair<std::string, uint64_t>{"b", 1}, {"nope", 1}}) {
    WriteBatch stale;
    IndexWrite ok = ra;
    ok.index = Hashes({kNameB});
    stale.reindex.push_back(ok);
    IndexWrite bad;
    bad.type = "Patient";
    bad.id = id;
    bad.version = v;
    stale.reindex.push_back(bad);
    stale.set_index_version = 4;
    EXPECT_EQ(t_->CommitAndWait(std::move(stale)).code(), Code::kNotFound) << id;
  }
  EXPECT_THAT(Ids(Query({{HashTerm({kNameB})}})), IsEmpty());
  EXPECT_EQ(*t_->IndexVersion(), 3);
  // A deleted resource cannot be reindexed.
  Commit({Write("Patient", "b", 3, {}, 9, /*deleted=*/true)});
  WriteBatch deleted;
  IndexWrite rb;
  rb.type = "Patient";
  rb.id = "b";
  rb.version = 3;
  rb.index = Hashes({kMale});
  deleted.reindex.push_back(rb);
  EXPECT_EQ(t_->CommitAndWait(std::move(deleted)).code(), Code::kNotFound);
  EXPECT_THAT(Ids(Query({{HashTerm({kMale})}})), IsEmpty());
}

TEST_F(SqliteSearchTest, IndexVersionPersistsAcrossReopen) {
  auto v = t_->IndexVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0);
  WriteBatch batch;
  batch.versions.push_back(Write("Patient", "a", 1, Hashes({kMale})));
  batch.set_index_version = 7;
  ASSERT_TRUE(t_->CommitAndWait(std::move(batch)).ok());
  Reopen();
  v = t_->IndexVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  EXPECT_THAT(Ids(Query({{HashTerm({kMale})}})), ElementsAre("a"));
  // A failed batch does not set it.
  WriteBatch conflict;
  conflict.versions.push_back(Write("Patient", "a", 1, {}));
  conflict.set_index_version = 8;
  EXPECT_EQ(t_->CommitAndWait(std::move(conflict)).code(), Code::kConflict);
  EXPECT_EQ(*t_->IndexVersion(), 7);
}

TEST_F(SqliteSearchTest, ScanCurrentPagesInRowIdOrderWithBodies) {
  Commit({Write("Patient", "a", 1, {}), Write("Observation", "o", 1, {}),
          Write("Patient", "b", 1, {})});
  Commit({Write("Patient", "a", 2, {})});
  auto all = t_->ScanCurrent("", 0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].record.id, "a");
  EXPECT_EQ((*all)[0].record.version, 2u);
  EXPECT_EQ(AsChars((*all)[0].record.body), "body-a");
  EXPECT_EQ((*all)[1].record.type, "Observation");
  auto page = t_->ScanCurrent("Patient", (*all)[0].rowid, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].record.id, "b");
  auto limited = t_->ScanCurrent("Patient", 0, 1);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 1u);
}

TEST_F(SqliteSearchTest, TooManyValuesIsInvalidNotACrash) {
  Commit({Write("Patient", "a", 1, Hashes({kMale}))});
  std::vector<uint64_t> many(40000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = i + 1000;
  SearchQuery q = Query({{HashTerm(many)}});
  EXPECT_EQ(t_->Search(q).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(t_->SearchCount(q).status().code(), Code::kInvalidArgument);
  // Below the cap, many values work.
  many.resize(20000);
  many.push_back(kMale);
  EXPECT_THAT(Ids(Query({{HashTerm(many)}})), ElementsAre("a"));
  // Many clauses.
  std::vector<SearchClause> clauses(500, SearchClause{HashTerm({kMale})});
  EXPECT_THAT(Ids(Query(clauses)), ElementsAre("a"));
  // Extreme paging values.
  SearchQuery extreme = Query({});
  extreme.after_rowid = std::numeric_limits<uint64_t>::max();
  extreme.limit = std::numeric_limits<size_t>::max();
  EXPECT_THAT(Ids(extreme), IsEmpty());
  extreme.after_rowid = 0;
  extreme.sort = {SortKey{}};
  extreme.offset = std::numeric_limits<uint64_t>::max();
  EXPECT_THAT(Ids(extreme), IsEmpty());
}

// The index is partitioned by blocks of row ids: a search probes every block, in order, and
// pages by row id across blocks.
TEST_F(SqliteSearchTest, SearchAcrossManyBlocksInRowIdOrder) {
  options_.index_block_rows = 3000;  // 1,000 resources of 3 index rows
  Reopen();
  constexpr size_t kTotal = 3 * 4096 + 10;
  constexpr size_t kEdge = 5;  // matches at each end
  std::vector<std::string> expected;
  std::vector<VersionWrite> writes;
  for (size_t i = 0; i < kTotal; ++i) {
    bool match = i < kEdge || i >= kTotal - kEdge;
    std::string id = Numbered("p", i);
    IndexEntries e = Hashes({match ? kMale : kFemale, kNameA});
    e.dates = {{kBirth, static_cast<int64_t>(i), static_cast<int64_t>(i)}};
    writes.push_back(Write("Patient", id, 1, e));
    if (match) expected.push_back(id);
    if (writes.size() == 1000 || i + 1 == kTotal) {
      Commit(std::move(writes));
      writes.clear();
    }
  }
  // Row ids follow creation order, so the matches sit in the first and last blocks.
  SearchQuery all = Query({{HashTerm({kMale})}});
  std::vector<SearchHit> hits = Hits(all);
  ASSERT_EQ(hits.size(), expected.size());
  EXPECT_EQ(BlockOf(hits[kEdge - 1].rowid), 0);
  EXPECT_EQ(BlockOf(hits[kEdge].rowid), static_cast<int64_t>((kTotal - 1) / 1000));
  EXPECT_EQ(QueryFile("SELECT count(*) FROM idx_blocks"), static_cast<int64_t>(kTotal / 1000 + 1));
  EXPECT_EQ(QueryFile("SELECT max(rows) FROM (SELECT count(*) AS rows FROM idx_hash GROUP BY b)"),
            2000);
  EXPECT_EQ(Ids(all), expected);
  EXPECT_EQ(Count(all), expected.size());
  // Keyset paging, 3 at a time, with the hash driving (alone, with a hash test, with a date).
  SearchTerm any_date =
      RangeTerm(SearchTerm::kDate, kBirth, {{Cmp(RangeCmp::kLo, RangeCmp::kGe, 0)}});
  for (const SearchQuery& base :
       {all, Query({{HashTerm({kMale})}, {HashTerm({kNameA})}}),
        Query({{HashTerm({kMale})}, {any_date}}), Query({{HashTerm({kMale, 999})}})}) {
    std::vector<std::string> paged;
    uint64_t after = 0;
    uint64_t last_rowid = 0;
    for (int page = 0; page < 10; ++page) {
      SearchQuery q = base;
      q.limit = 3;
      q.after_rowid = after;
      std::vector<SearchHit> got = Hits(q);
      for (const SearchHit& h : got) {
        EXPECT_GT(h.rowid, last_rowid);
        last_rowid = h.rowid;
        paged.push_back(h.record.id);
      }
      if (got.size() < 3) break;
      after = got.back().rowid;
    }
    EXPECT_EQ(paged, expected);
  }
  // A date range in the last block only, driving a sorted query.
  SearchQuery late = Query(
      {{RangeTerm(SearchTerm::kDate, kBirth,
                  {{Cmp(RangeCmp::kLo, RangeCmp::kGe, static_cast<int64_t>(kTotal - kEdge))}})}});
  late.sort = {SortKey{SortKey::kDate, kBirth, true}};
  std::vector<std::string> late_ids = Ids(late);
  std::vector<std::string> want(expected.rbegin(), expected.rbegin() + kEdge);
  EXPECT_EQ(late_ids, want);
  // A snapshot bound: only rows up to max_rowid, in every driver shape.
  auto max_rowid = t_->MaxRowid();
  ASSERT_TRUE(max_rowid.ok());
  EXPECT_EQ(*max_rowid, hits.back().rowid);
  std::vector<std::string> first(expected.begin(), expected.begin() + kEdge);
  for (SearchQuery q : {all, Query({{HashTerm({kMale, 999})}}), late}) {
    q.max_rowid = hits[kEdge - 1].rowid;
    q.sort.clear();
    EXPECT_EQ(Ids(q),
              q.clauses[0][0].kind == SearchTerm::kDate ? std::vector<std::string>{} : first);
    q.max_rowid = hits[kEdge].rowid;
    EXPECT_EQ(Count(q), q.clauses[0][0].kind == SearchTerm::kDate ? 1u : kEdge + 1);
  }
  // An update moves the hashes of a resource of the middle block, found in its block.
  std::string middle = Numbered("p", kTotal / 2);
  Commit({Write("Patient", middle, 2, Hashes({kMale}))});
  EXPECT_EQ(Count(all), expected.size() + 1);
  EXPECT_EQ(Ids(all)[kEdge], middle);
  EXPECT_EQ(Count(Query({{HashTerm({kNameA})}})), kTotal - 1);
}

// The query plans of the common shapes never scan resource_current.
TEST_F(SqliteSearchTest, CommonShapesDoNotScanTheResourceTable) {
  std::string path = tmp_.path() + "/acme/data.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto plan = [db](const std::string& sql) {
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr),
              SQLITE_OK)
        << sql;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      out += "\n";
    }
    sqlite3_finalize(stmt);
    return out;
  };
  using C = RangeCmp;
  SearchTerm date = RangeTerm(SearchTerm::kDate, kBirth, {{Cmp(C::kHi, C::kGe, 5)}});
  SearchQuery token = Query({{HashTerm({kMale})}});
  SearchQuery token_date = Query({{HashTerm({kMale})}, {date}});
  SearchQuery ref_sorted = Query({{HashTerm({kNameA})}});
  ref_sorted.sort = {SortKey{SortKey::kDate, kBirth, true}};
  ref_sorted.limit = 50;
  SearchQuery two_hashes = Query({{HashTerm({kMale, kFemale})}, {HashTerm({kNameA}, true)}});
  for (const SearchQuery* q : {&token, &token_date, &ref_sorted, &two_hashes}) {
    for (bool count : {false, true}) {
      auto sql = SqliteSearchSql(*q, count);
      ASSERT_TRUE(sql.ok());
      std::string p = plan(*sql);
      EXPECT_THAT(p, Not(HasSubstr("SCAN c"))) << *sql << "\n" << p;
      EXPECT_THAT(p, Not(HasSubstr("resource_current_type"))) << *sql << "\n" << p;
      // Driven by the hash index, one seek per row id block: a join from the blocks (k) to d
      // (idx_hash) or a row id list from them; the index tables are never scanned.
      EXPECT_THAT(p, HasSubstr("SEARCH d USING PRIMARY KEY (b=? AND h=?")) << *sql << "\n" << p;
      EXPECT_THAT(p, Not(HasSubstr("SCAN d"))) << *sql << "\n" << p;
      EXPECT_THAT(p, Not(HasSubstr("SCAN idx_"))) << *sql << "\n" << p;
    }
  }
  // A single hash walks idx_hash block by block in row id order: no sort for paging by row id,
  // also with a date clause and after a keyset cursor.
  SearchQuery token_date_page = token_date;
  token_date_page.after_rowid = 10000;
  for (const SearchQuery* q : {&token, &token_date, &token_date_page}) {
    std::string p = plan(*SqliteSearchSql(*q, false));
    EXPECT_THAT(p, Not(HasSubstr("TEMP B-TREE"))) << p;
    EXPECT_THAT(p, HasSubstr("SEARCH d USING PRIMARY KEY (b=? AND h=?")) << p;
  }
  EXPECT_THAT(plan(*SqliteSearchSql(token_date_page, false)),
              HasSubstr("SEARCH k USING INTEGER PRIMARY KEY (rowid>?)"));
  // A date driver (sorted, without hash clause) seeks the (b, k, lo, hi) index per block.
  SearchQuery date_sorted = Query({{date}});
  date_sorted.sort = {SortKey{SortKey::kDate, kBirth, false}};
  std::string p = plan(*SqliteSearchSql(date_sorted, false));
  EXPECT_THAT(p, HasSubstr("SEARCH d USING COVERING INDEX idx_date_k (b=? AND k=?")) << p;
  EXPECT_THAT(p, Not(HasSubstr("SCAN c"))) << p;
  // Values are bound, never in the SQL text.
  SearchTerm id;
  id.kind = SearchTerm::kId;
  id.ids = {"x'; DROP TABLE resource_current; --"};
  auto sql = SqliteSearchSql(Query({{id}, {HashTerm({12345})}}), false);
  ASSERT_TRUE(sql.ok());
  EXPECT_THAT(*sql, Not(HasSubstr("DROP")));
  EXPECT_THAT(*sql, Not(HasSubstr("12345")));
  EXPECT_THAT(plan(*sql), HasSubstr("sqlite_autoindex_resource_current"));
  sqlite3_close(db);
}

TEST_F(SqliteSearchTest, ConcurrentWritesAndSearches) {
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 60;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        std::string id = Numbered(Numbered("w", w) + "-", i);
        IndexEntries e = Hashes({kMale, static_cast<uint64_t>(1000 + w)});
        e.dates = {{kBirth, i, i}};
        if (!t_->CommitAndWait(testing::MakeBatch({Write("Patient", id, 1, e)})).ok()) {
          failures++;
        }
        // Every other one updated to female.
        if (i % 2 == 1 &&
            !t_->CommitAndWait(testing::MakeBatch({Write("Patient", id, 2, Hashes({kFemale}))}))
                 .ok()) {
          failures++;
        }
      }
    });
  }
  std::thread reader([&] {
    while (!done.load()) {
      SearchQuery q = Query({{HashTerm({kMale})}});
      q.with_bodies = true;
      auto hits = t_->Search(q);
      auto count = t_->SearchCount(Query({{HashTerm({kFemale})}}));
      if (!hits.ok() || !count.ok()) {
        failures++;
        continue;
      }
      for (const SearchHit& h : *hits) {
        if (h.record.version != 1 || AsChars(h.record.body) != "body-" + h.record.id) failures++;
      }
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(Query({{HashTerm({kMale})}})), static_cast<uint64_t>(kWriters * kPerWriter / 2));
  EXPECT_EQ(Count(Query({{HashTerm({kFemale})}})),
            static_cast<uint64_t>(kWriters * kPerWriter / 2));
  EXPECT_EQ(Count(Query({{HashTerm({1000})}, {HashTerm({kMale})}})),
            static_cast<uint64_t>(kPerWriter / 2));
  EXPECT_EQ(Count(Query({{RangeTerm(SearchTerm::kDate, kBirth, {{}})}})),
            static_cast<uint64_t>(kWriters * kPerWriter / 2));
}

// Schema version 1, as created by the previous release.
constexpr const char* kV1SchemaSql =
    "CREATE TABLE resource_version("
    "  seq INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, ts INTEGER NOT NULL, deleted INTEGER NOT NULL,"
    "  key_id INTEGER NOT NULL, body BLOB NOT NULL, UNIQUE(type, id, version));"
    "CREATE INDEX resource_version_type_seq ON resource_version(type, seq);"
    "CREATE TABLE resource_current("
    "  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY(type, id)) WITHOUT ROWID;"
    "PRAGMA journal_mode=WAL;"
    "PRAGMA user_version=1;";

TEST(SqliteMigrationTest, Version1DatabaseIsMigratedAtOpen) {
  TempDir tmp;
  std::string dir = tmp.path() + "/acme";
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/data.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, kV1SchemaSql, nullptr, nullptr, nullptr), SQLITE_OK);
    // b created first, then a (twice updated), then c deleted.
    const char* rows =
        "INSERT INTO resource_version(type, id, version, ts, deleted, key_id, body) VALUES"
        " ('Patient', 'b', 1, 10, 0, 3, x'62'),"
        " ('Patient', 'a', 1, 11, 0, 3, x'6131'),"
        " ('Patient', 'a', 2, 12, 0, 4, x'6132'),"
        " ('Patient', 'c', 1, 13, 0, 3, x'63'),"
        " ('Patient', 'c', 2, 14, 1, 3, x''),"
        " ('Patient', 'a', 3, 15, 0, 5, x'6133');"
        "INSERT INTO resource_current(type, id, version, seq) VALUES"
        " ('Patient', 'b', 1, 1), ('Patient', 'a', 3, 6), ('Patient', 'c', 2, 5);";
    ASSERT_EQ(sqlite3_exec(db, rows, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OpenSqliteStore(tmp.path());
  ASSERT_TRUE(store.ok());
  auto t = (*store)->OpenTenant("acme");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  TenantStore& tenant = **t;
  EXPECT_EQ(*tenant.IndexVersion(), 0);
  auto a = tenant.ReadCurrent("Patient", "a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->version, 3u);
  EXPECT_EQ(AsChars((*a)->body), "a3");
  EXPECT_TRUE((*tenant.ReadCurrent("Patient", "c"))->deleted);
  // Row ids follow creation order; the deleted resource is not scanned.
  auto scan = tenant.ScanCurrent("Patient", 0, 10);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->size(), 2u);
  EXPECT_EQ((*scan)[0].record.id, "b");
  EXPECT_EQ((*scan)[1].record.id, "a");
  EXPECT_EQ((*scan)[1].record.key_id, 5u);
  EXPECT_EQ(AsChars((*scan)[1].record.body), "a3");
  // History is intact; the index is rebuilt by reindexing, then searchable.
  HistoryQuery hq;
  hq.type = "Patient";
  EXPECT_EQ(*tenant.HistoryCount(hq), 6u);
  WriteBatch rebuild;
  for (const SearchHit& h : *scan) {
    IndexWrite w;
    w.type = h.record.type;
    w.id = h.record.id;
    w.version = h.record.version;
    w.index = Hashes({kMale});
    rebuild.reindex.push_back(w);
  }
  rebuild.set_index_version = 1;
  ASSERT_TRUE(tenant.CommitAndWait(std::move(rebuild)).ok());
  SearchQuery q = Query({{HashTerm({kMale})}});
  auto hits = tenant.Search(q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].record.id, "b");
  EXPECT_EQ(*tenant.IndexVersion(), 1);
  // Updates keep working on the migrated rows.
  ASSERT_TRUE(tenant.CommitAndWait(testing::MakeBatch({Write("Patient", "a", 4, {})})).ok());
  EXPECT_EQ(tenant.Search(q)->size(), 1u);
  (*store)->Close();
  // Opened again: already version 2, nothing migrated twice.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/data.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kSqliteSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  auto again = OpenSqliteStore(tmp.path());
  ASSERT_TRUE(again.ok());
  auto t2 = (*again)->OpenTenant("acme");
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ((*t2)->Search(q)->size(), 1u);
  EXPECT_EQ(*(*t2)->IndexVersion(), 1);
}

// Schema version 2 had no resource_current.b: its resources keep their blocks of 4,096 row ids
// (rid >> kBlockShift), new ones go to blocks after them, and every search still sees both, in
// row id order.
TEST(SqliteMigrationTest, Version2BlocksAreKeptAndNewOnesFollow) {
  TempDir tmp;
  const std::string path = tmp.path() + "/acme/data.db";
  SqliteOptions options;
  options.index_block_rows = 10;
  {
    auto store = OpenSqliteStore(tmp.path(), options);
    ASSERT_TRUE(store.ok());
    auto t = (*store)->OpenTenant("acme");
    ASSERT_TRUE(t.ok());
    std::vector<VersionWrite> writes;
    for (int i = 0; i < 20; ++i)
      writes.push_back(Write("Patient", Numbered("old", i), 1, Hashes({kMale})));
    ASSERT_TRUE((*t)->CommitAndWait(testing::MakeBatch(std::move(writes))).ok());
    (*store)->Close();
  }
  {
    // As version 2 laid it out: one block per 4,096 row ids, no b column.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* v2 =
        "ALTER TABLE resource_current DROP COLUMN b;"
        "UPDATE idx_hash SET b = rid >> 12; UPDATE idx_date SET b = rid >> 12;"
        "DELETE FROM idx_blocks; INSERT INTO idx_blocks(b) SELECT DISTINCT rid >> 12 FROM "
        "resource_current;"
        "PRAGMA user_version=2;";
    ASSERT_EQ(sqlite3_exec(db, v2, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OpenSqliteStore(tmp.path(), options);
  ASSERT_TRUE(store.ok());
  auto t = (*store)->OpenTenant("acme");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  TenantStore& tenant = **t;
  std::vector<VersionWrite> writes;
  for (int i = 0; i < 25; ++i)
    writes.push_back(Write("Patient", Numbered("new", i), 1, Hashes({kMale})));
  ASSERT_TRUE(tenant.CommitAndWait(testing::MakeBatch(std::move(writes))).ok());
  // An old resource updated keeps its block; its old entry is replaced.
  ASSERT_TRUE(
      tenant.CommitAndWait(testing::MakeBatch({Write("Patient", "old3", 2, Hashes({kFemale}))}))
          .ok());
  SearchQuery q = Query({{HashTerm({kMale})}});
  std::vector<std::string> want;
  for (int i = 0; i < 20; ++i) {
    if (i != 3) want.push_back(Numbered("old", i));
  }
  for (int i = 0; i < 25; ++i) want.push_back(Numbered("new", i));
  std::vector<std::string> got;
  q.limit = 7;
  for (int page = 0; page < 20; ++page) {
    auto hits = tenant.Search(q);
    ASSERT_TRUE(hits.ok());
    for (const SearchHit& h : *hits) got.push_back(h.record.id);
    if (hits->size() < q.limit) break;
    q.after_rowid = hits->back().rowid;
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(*tenant.SearchCount(Query({{HashTerm({kMale})}})), want.size());
  EXPECT_EQ(*tenant.SearchCount(Query({{HashTerm({kFemale})}})), 1u);
  (*store)->Close();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  // Blocks: the old one (0), then new blocks of about 10 rows.
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*), max(b) FROM idx_blocks", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 4);  // 0 (old, 20 rows), then 1, 2, 3 (10, 10, 5)
  EXPECT_EQ(sqlite3_column_int(stmt, 1), 3);
  sqlite3_finalize(stmt);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kSqliteSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace hygie::storage
