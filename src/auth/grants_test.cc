#include "auth/grants.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/fault_env.h"
#include "core/temp_dir.h"

namespace hygie::auth {
namespace {

using test_support::TempDir;

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

std::unique_ptr<GrantStore> OpenStore(const std::string& dir, GrantStore::Options o = {}) {
  auto s = GrantStore::Open(dir, std::move(o));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

GrantRequest Normal(std::string subject, Role role, int64_t end = kNow + 30 * kDay) {
  GrantRequest r;
  r.tenant = "acme";
  r.subject = std::move(subject);
  r.role = role;
  r.owner = "admin-1";
  r.reason = "quarterly audit of the care team";
  r.end = end;
  return r;
}

GrantRequest BreakGlass(std::string subject, int64_t end = kNow + 8 * kHour) {
  GrantRequest r = Normal(std::move(subject), Role::kHostOperator, end);
  r.kind = GrantKind::kBreakGlass;
  r.reason = "ticket 4521: restore check requested by the customer";
  return r;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RoleTest, NamesRoundTrip) {
  for (Role r : {Role::kTenantAdmin, Role::kPractitioner, Role::kService, Role::kAuditor,
                 Role::kHostOperator}) {
    auto back = ParseRole(RoleName(r));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, r);
  }
  EXPECT_FALSE(ParseRole("").has_value());
  EXPECT_FALSE(ParseRole("admin").has_value());
  EXPECT_FALSE(ParseRole("Auditor").has_value());
  EXPECT_EQ(ParseGrantKind("break-glass"), GrantKind::kBreakGlass);
  EXPECT_EQ(ParseGrantKind("normal"), GrantKind::kNormal);
  EXPECT_FALSE(ParseGrantKind("emergency").has_value());
}

TEST(DurationTest, Parses) {
  EXPECT_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_EQ(*ParseDurationSeconds("15m"), 900);
  EXPECT_EQ(*ParseDurationSeconds("8h"), 8 * kHour);
  EXPECT_EQ(*ParseDurationSeconds("30d"), 30 * kDay);
  for (const char* bad : {"", "h", "0h", "-1h", "1.5h", "8w", "1234567890", " 8h"}) {
    EXPECT_FALSE(ParseDurationSeconds(bad).ok()) << bad;
  }
}

// A crash while a grant is saved leaves the tenant's previous grants or the new list: the file
// is never damaged, and a grant Create reported as stored survives.
TEST(GrantStoreCrashTest, CrashDuringSaveKeepsOldOrNewGrants) {
  bool saw_old = false, saw_new = false;
  for (uint64_t k = 0; k <= 8; ++k) {
    SCOPED_TRACE("crash after call " + std::to_string(k));
    TempDir dir;
    FaultInjectionEnv env;
    Status created;
    {
      GrantStore::Options o;
      o.env = &env;
      auto store = OpenStore(dir.path(), std::move(o));
      ASSERT_NE(store, nullptr);
      ASSERT_TRUE(store->Create(Normal("dr-first", Role::kAuditor), kNow).ok());
      FaultInjectionEnv::FaultSpec crash;
      crash.skip = k;
      crash.count = FaultInjectionEnv::kForever;
      env.FailCalls(crash);
      created = store->Create(Normal("dr-second", Role::kAuditor), kNow).status();
      if (!created.ok()) {
        EXPECT_EQ(created.code(), Code::kUnavailable);
      }
    }
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    auto reopened = OpenStore(dir.path());
    ASSERT_NE(reopened, nullptr);
    std::vector<Grant> grants = reopened->List("acme");
    ASSERT_TRUE(grants.size() == 1 || grants.size() == 2) << grants.size();
    EXPECT_EQ(grants[0].subject, "dr-first");
    if (created.ok()) {
      ASSERT_EQ(grants.size(), 2u);
    }
    if (grants.size() == 2) {
      EXPECT_EQ(grants[1].subject, "dr-second");
    }
    saw_old = saw_old || grants.size() == 1;
    saw_new = saw_new || grants.size() == 2;
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

TEST(GrantCreateTest, ValidatesRequests) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  auto expect_invalid = [&](GrantRequest r, const char* why) {
    auto g = store->Create(r, kNow);
    ASSERT_FALSE(g.ok()) << why;
    EXPECT_EQ(g.status().code(), Code::kInvalidArgument) << why;
  };
  GrantRequest r = Normal("dr-lee", Role::kAuditor);
  r.reason = "";
  expect_invalid(r, "empty reason");
  r.reason = "   ";
  expect_invalid(r, "blank reason");
  r.reason = std::string(kMaxReasonBytes + 1, 'x');
  expect_invalid(r, "long reason");
  r.reason = "line\nbreak";
  expect_invalid(r, "control character");
  r = Normal("", Role::kAuditor);
  expect_invalid(r, "no subject");
  r = Normal("pro:", Role::kAuditor);
  expect_invalid(r, "empty professional id");
  r = Normal("dr-lee", Role::kAuditor);
  r.owner = "";
  expect_invalid(r, "no owner");
  r = Normal("dr-lee", Role::kAuditor);
  r.tenant = "Bad_Tenant";
  expect_invalid(r, "bad tenant");
  r = Normal("dr-lee", Role::kAuditor, 0);
  expect_invalid(r, "no end");
  r = Normal("dr-lee", Role::kAuditor, kNow);
  expect_invalid(r, "end == now");
  r = Normal("dr-lee", Role::kAuditor, kNow + 367 * kDay);
  expect_invalid(r, "longer than a year");
  r = Normal("dr-lee", Role::kAuditor);
  r.start = kNow - kMaxBackdateSeconds - 1;
  expect_invalid(r, "back-dated");
  r = Normal("dr-lee", Role::kAuditor);
  r.start = kNow + kMaxGrantSeconds + 1;
  r.end = r.start + kDay;
  expect_invalid(r, "starts more than a year ahead");
  r = Normal("dr-lee", Role::kAuditor);
  r.start = kNow + 2 * kDay;
  r.end = kNow + kDay;
  expect_invalid(r, "end before start");
  r = Normal("ops-1", Role::kHostOperator);
  expect_invalid(r, "normal grant of host-operator");
  r = Normal("dr-lee", Role::kAuditor);
  r.emergency = true;
  expect_invalid(r, "emergency on a normal grant");
  r = BreakGlass("ops-1", kNow + 72 * kHour + 1);
  expect_invalid(r, "break-glass longer than 72 h");
  r = BreakGlass("ops-1");
  r.role = Role::kPractitioner;
  expect_invalid(r, "break-glass for a non-operator role");
  r = Normal("dr-lee", Role::kAuditor);
  r.id = "Not/An/Id";
  expect_invalid(r, "bad id");
  EXPECT_TRUE(store->List("acme").empty()) << "a refused request stores nothing";

  // The limits themselves are allowed.
  EXPECT_TRUE(store->Create(BreakGlass("ops-1", kNow + 72 * kHour), kNow).ok());
  r = Normal("dr-lee", Role::kAuditor, kNow + kMaxGrantSeconds);
  EXPECT_TRUE(store->Create(r, kNow).ok());
  r = Normal("dr-lee", Role::kAuditor);
  r.start = kNow - kMaxBackdateSeconds;
  EXPECT_TRUE(store->Create(r, kNow).ok());
  EXPECT_EQ(store->List("acme").size(), 3u);
}

TEST(GrantCreateTest, EmergencyBreakGlassNeedsReasonAndAlerts) {
  TempDir dir;
  std::vector<std::string> alerts;
  GrantStore::Options o;
  o.on_emergency = [&](const Grant& g) { alerts.push_back(g.tenant + "/" + g.id); };
  auto store = OpenStore(dir.path(), o);
  GrantRequest r = BreakGlass("ops-1");
  r.emergency = true;
  r.owner = "ops-1";
  r.reason = "";
  auto refused = store->Create(r, kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(alerts.empty());
  r.reason = "database corruption reported at 03:10, on-call check";
  auto g = store->Create(r, kNow);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->emergency);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0], "acme/" + g->id);
  // A non-emergency grant raises no alert.
  ASSERT_TRUE(store->Create(BreakGlass("ops-2"), kNow).ok());
  EXPECT_EQ(alerts.size(), 1u);
}

TEST(GrantCreateTest, ChosenIdsAreUnique) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  GrantRequest r = Normal("dr-lee", Role::kAuditor);
  r.id = "grant-1";
  ASSERT_TRUE(store->Create(r, kNow).ok());
  auto again = store->Create(r, kNow);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  r.tenant = "globex";
  again = store->Create(r, kNow);
  ASSERT_FALSE(again.ok()) << "an id is unique across tenants";
  auto random1 = store->Create(Normal("a", Role::kAuditor), kNow);
  auto random2 = store->Create(Normal("b", Role::kAuditor), kNow);
  ASSERT_TRUE(random1.ok() && random2.ok());
  EXPECT_NE(random1->id, random2->id);
  EXPECT_EQ(random1->id.size(), 26u);
}

TEST(GrantStoreTest, RevokeListGet) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto g = store->Create(Normal("dr-lee", Role::kAuditor), kNow);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(store->Revoke("acme", g->id, "admin-2", "", kNow + 10).ok());
  auto unknown = store->Revoke("acme", "nope", "admin-2", "left the team", kNow + 10);
  EXPECT_EQ(unknown.status().code(), Code::kNotFound);
  auto other_tenant = store->Revoke("globex", g->id, "admin-2", "left the team", kNow + 10);
  EXPECT_EQ(other_tenant.status().code(), Code::kNotFound) << "tenants are walls";
  auto revoked = store->Revoke("acme", g->id, "admin-2", "left the team", kNow + 10);
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_EQ(revoked->revoked, kNow + 10);
  EXPECT_EQ(revoked->revoker, "admin-2");
  EXPECT_EQ(revoked->revoke_reason, "left the team");
  auto twice = store->Revoke("acme", g->id, "admin-2", "again", kNow + 20);
  EXPECT_EQ(twice.status().code(), Code::kFailedPrecondition);
  auto got = store->Get("acme", g->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked, kNow + 10);
  EXPECT_FALSE(store->Get("globex", g->id).ok());
  ASSERT_EQ(store->List("acme").size(), 1u) << "revoked grants stay as evidence";
  EXPECT_TRUE(store->List("globex").empty());
}

TEST(GrantStoreTest, PersistsAcrossReopenWithPrivateFiles) {
  TempDir dir;
  std::string id;
  {
    auto store = OpenStore(dir.path());
    auto g = store->Create(Normal("pro:810001234567", Role::kPractitioner), kNow);
    ASSERT_TRUE(g.ok());
    id = g->id;
    ASSERT_TRUE(store->Create(BreakGlass("ops-1"), kNow).ok());
    ASSERT_TRUE(store->Revoke("acme", id, "admin-2", "done", kNow + 5).ok());
    GrantRequest other = Normal("x", Role::kService);
    other.tenant = "globex";
    ASSERT_TRUE(store->Create(other, kNow).ok());
  }
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/grants/acme.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() + "/grants").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_NE(::stat((dir.path() + "/grants/acme.json.tmp").c_str(), &st), 0);

  auto store = OpenStore(dir.path());
  auto list = store->List("acme");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, id);
  EXPECT_EQ(list[0].subject, "pro:810001234567");
  EXPECT_EQ(list[0].role, Role::kPractitioner);
  EXPECT_EQ(list[0].owner, "admin-1");
  EXPECT_EQ(list[0].reason, "quarterly audit of the care team");
  EXPECT_EQ(list[0].created, kNow);
  EXPECT_EQ(list[0].start, kNow);
  EXPECT_EQ(list[0].end, kNow + 30 * kDay);
  EXPECT_EQ(list[0].revoked, kNow + 5);
  EXPECT_EQ(list[0].revoker, "admin-2");
  EXPECT_EQ(list[1].kind, GrantKind::kBreakGlass);
  EXPECT_EQ(list[1].role, Role::kHostOperator);
  EXPECT_EQ(store->List("globex").size(), 1u);
}

TEST(GrantStoreTest, DamagedFileIsRefused) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->Create(Normal("dr-lee", Role::kAuditor), kNow).ok());
  }
  std::string path = dir.path() + "/grants/acme.json";
  std::string text = ReadAll(path);
  std::ofstream(path, std::ios::trunc) << text.substr(0, text.size() / 2);
  auto store = GrantStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kDataLoss);
}

TEST(GrantStoreTest, LastUseIsWrittenAtMostEveryIntervalAndOnFlush) {
  TempDir dir;
  GrantStore::Options o;
  o.use_flush_interval_seconds = 3600;
  auto a = OpenStore(dir.path(), o);
  auto g = a->Create(Normal("dr-lee", Role::kAuditor), kNow);
  ASSERT_TRUE(g.ok());
  std::string path = dir.path() + "/grants/acme.json";
  a->RecordUse(g->id, kNow + 10);  // the first use is written
  std::string after_first = ReadAll(path);
  a->RecordUse(g->id, kNow + 20);  // within the interval: memory only
  a->RecordUse(g->id, kNow + 30);
  EXPECT_EQ(ReadAll(path), after_first) << "the file is not written on every use";
  EXPECT_EQ(a->Get("acme", g->id)->last_used, kNow + 30) << "memory knows the newest use";
  {
    auto b = OpenStore(dir.path(), o);
    EXPECT_EQ(b->Get("acme", g->id)->last_used, kNow + 10);
  }
  ASSERT_TRUE(a->Flush().ok());
  {
    auto c = OpenStore(dir.path(), o);
    EXPECT_EQ(c->Get("acme", g->id)->last_used, kNow + 30);
  }
  a->RecordUse(g->id, kNow + 3610 + 10);  // past the interval: written
  auto d = OpenStore(dir.path(), o);
  EXPECT_EQ(d->Get("acme", g->id)->last_used, kNow + 3620);
  a->RecordUse("unknown-grant", kNow + 4000);  // ignored
  EXPECT_TRUE(a->Flush().ok());
}

TEST(GrantStoreTest, DestructorFlushesLastUse) {
  TempDir dir;
  GrantStore::Options o;
  o.use_flush_interval_seconds = 3600;
  std::string id;
  {
    auto a = OpenStore(dir.path(), o);
    auto g = a->Create(Normal("dr-lee", Role::kAuditor), kNow);
    id = g->id;
    a->RecordUse(id, kNow + 1);
    a->RecordUse(id, kNow + 2);
  }
  EXPECT_EQ(OpenStore(dir.path())->Get("acme", id)->last_used, kNow + 2);
}

TEST(GrantStoreTest, ConcurrentRecordUse) {
  TempDir dir;
  GrantStore::Options o;
  o.use_flush_interval_seconds = 5;  // some of the uses below trigger writes
  auto store = OpenStore(dir.path(), o);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto g = store->Create(Normal("user-" + std::to_string(i), Role::kAuditor), kNow);
    ASSERT_TRUE(g.ok());
    ids.push_back(g->id);
  }
  constexpr int kThreads = 8;
  constexpr int kUses = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUses; ++i) {
        store->RecordUse(ids[(t + i) % ids.size()], kNow + 1 + t * kUses + i);
        if (i % 50 == 0) (void)store->List("acme");
      }
    });
  }
  for (auto& th : threads) th.join();
  int64_t newest = kNow + (kThreads - 1) * kUses + kUses;  // kNow + 1 + 7*500 + 499
  int64_t best = 0;
  for (const Grant& g : store->List("acme")) best = std::max(best, g.last_used);
  EXPECT_EQ(best, newest);
  ASSERT_TRUE(store->Flush().ok());
  auto reopened = OpenStore(dir.path());
  int64_t on_disk = 0;
  for (const Grant& g : reopened->List("acme")) {
    EXPECT_GT(g.last_used, kNow) << "every grant was used";
    on_disk = std::max(on_disk, g.last_used);
  }
  EXPECT_EQ(on_disk, newest);
}

TEST(GrantStoreTest, ConcurrentDecideCreateRevoke) {
  TempDir dir;
  GrantStore::Options o;
  o.use_flush_interval_seconds = 1;
  auto store = OpenStore(dir.path(), o);
  auto g = store->Create(BreakGlass("ops-1", kNow + 72 * kHour), kNow);
  ASSERT_TRUE(g.ok());
  std::atomic<int> allowed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        AccessDecision d = store->Decide({"ops-1", "host-operator", ""}, "acme", kNow + t * 300 + i,
                                         Intent::kReadHealthData);
        if (d.allowed) ++allowed;
      }
    });
  }
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) {
      auto n = store->Create(Normal("user-" + std::to_string(i), Role::kAuditor), kNow);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (i % 2 == 0) {
        ASSERT_TRUE(store->Revoke("acme", n->id, "admin", "test", kNow).ok());
      }
    }
  });
  for (auto& th : readers) th.join();
  writer.join();
  EXPECT_EQ(allowed.load(), 4 * 300) << "the break-glass grant stays in force throughout";
  ASSERT_TRUE(store->Flush().ok());
  auto reopened = OpenStore(dir.path());
  EXPECT_EQ(reopened->List("acme").size(), 21u);
  EXPECT_EQ(reopened->Get("acme", g->id)->last_used, kNow + 3 * 300 + 299);
}

TEST(GrantStoreTest, ReviewFlags) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto unused = store->Create(Normal("never-uses", Role::kAuditor, kNow + 200 * kDay), kNow);
  auto used = store->Create(Normal("uses", Role::kAuditor, kNow + 200 * kDay), kNow);
  auto short_one = store->Create(Normal("short", Role::kAuditor, kNow + 10 * kDay), kNow);
  auto revoked = store->Create(Normal("gone", Role::kAuditor, kNow + 200 * kDay), kNow);
  GrantRequest em = BreakGlass("ops-1");
  em.emergency = true;
  auto emergency = store->Create(em, kNow);
  ASSERT_TRUE(unused.ok() && used.ok() && short_one.ok() && revoked.ok() && emergency.ok());
  ASSERT_TRUE(store->Revoke("acme", revoked->id, "admin", "left", kNow + kDay).ok());
  store->RecordUse(used->id, kNow + 50 * kDay);

  auto find = [](const std::vector<GrantReview>& review, const std::string& id) {
    for (const GrantReview& r : review) {
      if (r.grant.id == id) return r;
    }
    ADD_FAILURE() << "missing " << id;
    return GrantReview();
  };
  // Day 89 after start: nothing is unused yet.
  auto day89 = store->Review("acme", kNow + 90 * kDay - 1);
  EXPECT_EQ(day89.size(), 5u);
  EXPECT_FALSE(find(day89, unused->id).unused_90_days);
  EXPECT_TRUE(find(day89, unused->id).active);
  // Day 90: the never-used grant is flagged; the used one counts from its last use.
  auto day90 = store->Review("acme", kNow + 90 * kDay);
  EXPECT_TRUE(find(day90, unused->id).unused_90_days);
  EXPECT_FALSE(find(day90, used->id).unused_90_days);
  EXPECT_EQ(find(day90, used->id).grant.last_used, kNow + 50 * kDay);
  GrantReview s = find(day90, short_one->id);
  EXPECT_TRUE(s.expired);
  EXPECT_FALSE(s.active);
  EXPECT_FALSE(s.unused_90_days) << "an expired grant is flagged expired, not unused";
  GrantReview r = find(day90, revoked->id);
  EXPECT_TRUE(r.revoked);
  EXPECT_FALSE(r.active);
  EXPECT_EQ(ReviewFlags(r), std::vector<std::string>{"revoked"});
  GrantReview e = find(day90, emergency->id);
  EXPECT_EQ(ReviewFlags(e), (std::vector<std::string>{"expired", "emergency", "break-glass"}));
  // Day 140 (90 days after the last use): the used one is flagged too.
  EXPECT_TRUE(find(store->Review("acme", kNow + 140 * kDay), used->id).unused_90_days);
  EXPECT_FALSE(find(store->Review("acme", kNow + 140 * kDay - 1), used->id).unused_90_days);

  std::string json = ReviewJson("acme", day90, kNow + 90 * kDay);
  EXPECT_NE(json.find("\"unused-90-days\""), std::string::npos);
  EXPECT_NE(json.find("\"status\":\"revoked\""), std::string::npos);
  EXPECT_NE(json.find("\"tenant\":\"acme\""), std::string::npos);
}

TEST(DecideTest, BaselineRoles) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto decide = [&](const std::string& role, Intent intent) {
    return store->Decide({"someone", role, ""}, "acme", kNow, intent);
  };
  for (const char* role : {"practitioner", "service", ""}) {
    EXPECT_TRUE(decide(role, Intent::kReadHealthData).allowed) << role;
    EXPECT_TRUE(decide(role, Intent::kWriteHealthData).allowed) << role;
    EXPECT_FALSE(decide(role, Intent::kReadAudit).allowed) << role;
    EXPECT_FALSE(decide(role, Intent::kAdministerTenant).allowed) << role;
    EXPECT_FALSE(decide(role, Intent::kAdministerHost).allowed) << role;
    EXPECT_FALSE(decide(role, Intent::kReadHealthData).staff);
  }
  AccessDecision a = decide("auditor", Intent::kReadAudit);
  EXPECT_TRUE(a.allowed);
  EXPECT_TRUE(a.grant_id.empty());
  EXPECT_FALSE(decide("auditor", Intent::kReadHealthData).allowed);
  EXPECT_FALSE(decide("auditor", Intent::kWriteHealthData).allowed);
  EXPECT_EQ(decide("auditor", Intent::kReadHealthData).code, "HYGIE-ACCESS-ROLE");
  EXPECT_FALSE(decide("auditor", Intent::kAdministerTenant).allowed);
  EXPECT_TRUE(decide("tenant-admin", Intent::kAdministerTenant).allowed);
  EXPECT_TRUE(decide("tenant-admin", Intent::kReadAudit).allowed);
  EXPECT_FALSE(decide("tenant-admin", Intent::kReadHealthData).allowed);
  EXPECT_FALSE(decide("tenant-admin", Intent::kAdministerHost).allowed);

  AccessDecision host = decide("host-operator", Intent::kAdministerHost);
  EXPECT_TRUE(host.allowed);
  EXPECT_TRUE(host.staff);
  EXPECT_FALSE(decide("host-operator", Intent::kReadHealthData).allowed);
  EXPECT_EQ(decide("host-operator", Intent::kReadHealthData).code, "HYGIE-ACCESS-NO-BREAK-GLASS");
  EXPECT_FALSE(decide("host-operator", Intent::kReadAudit).allowed);
  EXPECT_FALSE(decide("host-operator", Intent::kAdministerTenant).allowed);

  AccessDecision unknown = decide("superuser", Intent::kReadHealthData);
  EXPECT_FALSE(unknown.allowed);
  EXPECT_EQ(unknown.code, "HYGIE-ACCESS-UNKNOWN-ROLE");
  EXPECT_FALSE(unknown.reason.empty());
}

TEST(DecideTest, BreakGlassTimeBoundariesAndRevocation) {
  TempDir dir;
  GrantStore::Options o;
  o.use_flush_interval_seconds = 3600;
  auto store = OpenStore(dir.path(), o);
  GrantRequest r = BreakGlass("ops-1", kNow + 3 * kHour);
  r.start = kNow + kHour;
  auto g = store->Create(r, kNow);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Accessor ops{"ops-1", "host-operator", ""};
  auto at = [&](int64_t t, Intent intent = Intent::kReadHealthData) {
    return store->Decide(ops, "acme", t, intent);
  };
  EXPECT_FALSE(at(kNow + kHour - 1).allowed) << "before its start";
  AccessDecision d = at(kNow + kHour);
  EXPECT_TRUE(d.allowed) << "at its start";
  EXPECT_TRUE(d.staff);
  EXPECT_TRUE(d.break_glass);
  EXPECT_FALSE(d.emergency);
  EXPECT_EQ(d.grant_id, g->id);
  EXPECT_TRUE(at(kNow + 3 * kHour - 1).allowed) << "the last second";
  EXPECT_FALSE(at(kNow + 3 * kHour).allowed) << "at its end (exclusive)";
  EXPECT_FALSE(at(kNow + 2 * kHour, Intent::kWriteHealthData).allowed) << "staff never write";
  EXPECT_EQ(at(kNow + 2 * kHour, Intent::kWriteHealthData).code, "HYGIE-ACCESS-STAFF-WRITE");
  EXPECT_FALSE(at(kNow + 2 * kHour, Intent::kReadAudit).allowed) << "break-glass is health data";
  // Only that subject, only that tenant, only as host-operator.
  EXPECT_FALSE(store
                   ->Decide({"ops-2", "host-operator", ""}, "acme", kNow + 2 * kHour,
                            Intent::kReadHealthData)
                   .allowed);
  EXPECT_FALSE(store->Decide(ops, "globex", kNow + 2 * kHour, Intent::kReadHealthData).allowed);
  // The use is recorded.
  EXPECT_EQ(store->Get("acme", g->id)->last_used, kNow + 3 * kHour - 1);
  ASSERT_TRUE(store->Revoke("acme", g->id, "admin-1", "work finished", kNow + 2 * kHour).ok());
  EXPECT_FALSE(at(kNow + 2 * kHour).allowed) << "revoked";
  EXPECT_FALSE(at(kNow + kHour + 1).allowed) << "revocation is immediate";
}

TEST(DecideTest, EmergencyBreakGlassIsMarked) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  GrantRequest r = BreakGlass("ops-1");
  r.emergency = true;
  r.owner = "ops-1";
  ASSERT_TRUE(store->Create(r, kNow).ok());
  AccessDecision d =
      store->Decide({"ops-1", "host-operator", ""}, "acme", kNow + 1, Intent::kReadHealthData);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.staff);
  EXPECT_TRUE(d.emergency);
}

TEST(DecideTest, GrantedRoles) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto aud = store->Create(Normal("dr-lee", Role::kAuditor, kNow + 10 * kDay), kNow);
  auto pro = store->Create(Normal("pro:810001234567", Role::kPractitioner), kNow);
  ASSERT_TRUE(aud.ok() && pro.ok());
  // A tenant admin made dr-lee (token role practitioner) an auditor.
  Accessor lee{"dr-lee", "practitioner", ""};
  AccessDecision d = store->Decide(lee, "acme", kNow + 1, Intent::kReadAudit);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.grant_id, aud->id);
  EXPECT_FALSE(d.staff);
  EXPECT_EQ(store->Get("acme", aud->id)->last_used, kNow + 1);
  // The baseline role still works, without using the grant.
  d = store->Decide(lee, "acme", kNow + 2, Intent::kReadHealthData);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.grant_id.empty());
  EXPECT_FALSE(store->Decide(lee, "acme", kNow + 2, Intent::kAdministerTenant).allowed);
  EXPECT_FALSE(store->Decide(lee, "globex", kNow + 2, Intent::kReadAudit).allowed);
  EXPECT_FALSE(store->Decide(lee, "acme", kNow + 10 * kDay, Intent::kReadAudit).allowed)
      << "expired";
  // A professional id grant matches the professional_id claim, not the subject.
  Accessor by_pro{"someone", "auditor", "810001234567"};
  d = store->Decide(by_pro, "acme", kNow + 3, Intent::kWriteHealthData);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.grant_id, pro->id);
  Accessor sub_named_like_pro{"pro:810001234567", "auditor", ""};
  EXPECT_FALSE(
      store->Decide(sub_named_like_pro, "acme", kNow + 3, Intent::kWriteHealthData).allowed);
  // A host operator given auditor by the tenant reads the audit trail, as staff, but a normal
  // grant never opens health data to it.
  auto ops_aud = store->Create(Normal("ops-1", Role::kAuditor), kNow);
  auto ops_pra = store->Create(Normal("ops-1", Role::kPractitioner), kNow);
  ASSERT_TRUE(ops_aud.ok() && ops_pra.ok());
  Accessor ops{"ops-1", "host-operator", ""};
  d = store->Decide(ops, "acme", kNow + 4, Intent::kReadAudit);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.staff);
  EXPECT_EQ(d.grant_id, ops_aud->id);
  EXPECT_FALSE(store->Decide(ops, "acme", kNow + 4, Intent::kReadHealthData).allowed);
  // Nothing makes someone a host operator.
  EXPECT_FALSE(store->Decide(lee, "acme", kNow + 4, Intent::kAdministerHost).allowed);
}

TEST(DecideTest, SeesGrantsMadeByAnotherProcess) {
  TempDir dir;
  auto server = OpenStore(dir.path());
  Accessor ops{"ops-1", "host-operator", ""};
  EXPECT_FALSE(server->Decide(ops, "acme", kNow, Intent::kReadHealthData).allowed);
  std::string id;
  {
    auto cli = OpenStore(dir.path());
    auto g = cli->Create(BreakGlass("ops-1"), kNow);
    ASSERT_TRUE(g.ok());
    id = g->id;
  }
  // Within the same second the server may not look again; the next second it does.
  EXPECT_TRUE(server->Decide(ops, "acme", kNow + 1, Intent::kReadHealthData).allowed);
  {
    auto cli = OpenStore(dir.path());
    ASSERT_TRUE(cli->Revoke("acme", id, "admin-1", "done", kNow + 2).ok());
  }
  EXPECT_FALSE(server->Decide(ops, "acme", kNow + 3, Intent::kReadHealthData).allowed);
  // The server's later writes keep the other process's revocation.
  ASSERT_TRUE(server->Flush().ok());
  ASSERT_TRUE(server->Create(Normal("dr-lee", Role::kAuditor), kNow + 3).ok());
  auto fresh = OpenStore(dir.path());
  auto g = fresh->Get("acme", id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->revoked, kNow + 2);
  EXPECT_EQ(fresh->List("acme").size(), 2u);
}

TEST(GrantJsonTest, ShowsStatusAndTimes) {
  Grant g;
  g.id = "g1";
  g.tenant = "acme";
  g.subject = "ops-1";
  g.role = Role::kHostOperator;
  g.kind = GrantKind::kBreakGlass;
  g.owner = "admin";
  g.reason = "r";
  g.start = kNow;
  g.end = kNow + kHour;
  g.created = kNow;
  EXPECT_EQ(GrantStatusAt(g, kNow - 1), "pending");
  EXPECT_EQ(GrantStatusAt(g, kNow), "active");
  EXPECT_EQ(GrantStatusAt(g, kNow + kHour), "expired");
  std::string json = GrantJson(g, kNow);
  EXPECT_NE(json.find("\"kind\":\"break-glass\""), std::string::npos);
  EXPECT_NE(json.find("\"start\":\"2027-01-15T08:00:00.000Z\""), std::string::npos) << json;
  EXPECT_EQ(json.find("lastUsed"), std::string::npos);
  g.revoked = kNow + 1;
  EXPECT_EQ(GrantStatusAt(g, kNow + 2), "revoked");
}

}  // namespace
}  // namespace hygie::auth
