// End-to-end tests of the audit journal: every interaction and refusal is recorded and readable
// as AuditEvent (read-only, behind its own scope); `hygie audit verify`, checkpoints and proofs
// from the CLI and the admin API; command-line acts recorded; a journal that cannot write
// makes the server answer 503 with no data.

#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "crypto/primitives.h"
#include "support/harness.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string CreatePatient(HttpClient& c, const std::string& base, const std::string& tok,
                          const std::string& family) {
  HttpResponse r = c.Fhir("POST", base + "/Patient", tok,
                          R"({"resourceType":"Patient","name":[{"family":")" + family + "\"}]}");
  EXPECT_EQ(r.status, 201) << r.body;
  rapidjson::Document d = ParseJson(r.body);
  return d.HasParseError() ? "" : JsonString(d, "id");
}

// The AuditEvents of a search (all pages).
std::vector<std::string> AuditEvents(HttpClient& c, const std::string& path,
                                     const std::string& tok) {
  std::vector<std::string> out;
  std::string next = path;
  for (int page = 0; page < 50 && !next.empty(); ++page) {
    HttpResponse r = c.Fhir("GET", next, tok);
    EXPECT_EQ(r.status, 200) << next << " -> " << r.body;
    if (r.status != 200) break;
    rapidjson::Document d = ParseJson(r.body);
    next.clear();
    if (d.HasMember("entry")) {
      for (const auto& e : d["entry"].GetArray()) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        e["resource"].Accept(w);
        out.emplace_back(buf.GetString(), buf.GetSize());
      }
    }
    if (d.HasMember("link")) {
      for (const auto& l : d["link"].GetArray()) {
        if (JsonString(l, "relation") == "next") next = PathOfUrl(JsonString(l, "url"));
      }
    }
  }
  return out;
}

std::string Subtype(const std::string& event) {
  rapidjson::Document d = ParseJson(event);
  if (!d.HasMember("subtype")) return "";
  return JsonString(d["subtype"][0], "code");
}

std::string OutcomeOf(const std::string& event) { return JsonString(ParseJson(event), "outcome"); }

TEST(AuditTest, EveryInteractionIsRecordedAndReadableAsAuditEvent) {
  Deployment dep;
  dep.inst().CreateTenant("other");
  HttpClient c(dep.port());
  const std::string base = dep.Base();
  const std::string& tok = dep.token();
  const std::string auditor =
      dep.inst().Token("acme", "user/AuditEvent.rs", "1h", {"--role", "auditor"});
  const std::string secret_family = "Zorglub" + RandomToken(8);

  std::string id = CreatePatient(c, base, tok, secret_family);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id, tok, "", {{"X-Purpose-Of-Use", "TREAT"}}).status,
            200);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id + "/_history/1", tok).status, 200);
  EXPECT_EQ(c.Fhir("PUT", base + "/Patient/" + id, tok,
                   R"({"resourceType":"Patient","id":")" + id + R"(","active":true})")
                .status,
            200);
  EXPECT_EQ(c.Fhir("PATCH", base + "/Patient/" + id, tok,
                   R"([{"op":"add","path":"/gender","value":"female"}])",
                   {{"Content-Type", "application/json-patch+json"}})
                .status,
            200);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?family=" + secret_family, tok).status, 200);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id + "/_history", tok).status, 200);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id + "/$everything", tok).status, 200);
  EXPECT_EQ(
      c.Fhir("POST", base + "/Patient/$validate", tok, R"({"resourceType":"Patient"})").status,
      200);
  HttpResponse batch = c.Fhir(
      "POST", base, tok,
      R"({"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/)" +
          id +
          R"("}},{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]})");
  EXPECT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(c.Fhir("DELETE", base + "/Patient/" + id, tok).status, 204);
  // Refusals: no token, a forged token, another tenant's token, a scope that does not allow.
  EXPECT_EQ(c.Request("GET", base + "/Patient/" + id).status, 401);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id, "e30.e30.sig").status, 401);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id, dep.inst().Token("other")).status, 403);
  EXPECT_EQ(c.Fhir("GET", base + "/Patient/" + id, dep.inst().Token("acme", "user/Observation.rs"))
                .status,
            403);

  // An access by the host's staff, and one by a health professional.
  CommandResult staff =
      RunHygie({"token", "issue", "--data", dep.data(), "--tenant", "acme", "--scope",
                "user/Patient.rs", "--subject", "op-jdoe", "--role", "host-operator"});
  ASSERT_EQ(staff.exit_code, 0) << staff.err;
  std::string staff_token = staff.out.substr(0, staff.out.find('\n'));
  // Host staff read nothing without a break-glass grant of the tenant.
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?_count=1", staff_token).status, 403);
  CommandResult glass =
      RunHygie({"access", "grant", "--data", dep.data(), "--tenant", "acme", "--subject", "op-jdoe",
                "--role", "host-operator", "--break-glass", "--duration", "1h", "--reason",
                "ticket 4711: restore a record", "--owner", "acme-admin"});
  ASSERT_EQ(glass.exit_code, 0) << glass.err;
  int staff_status = 0;
  for (int i = 0; i < 40 && staff_status != 200; ++i) {  // the server rereads grants each second
    staff_status = c.Fhir("GET", base + "/Patient?_count=1", staff_token).status;
    if (staff_status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(staff_status, 200);
  CommandResult pro =
      RunHygie({"token", "issue", "--data", dep.data(), "--tenant", "acme", "--scope",
                "user/Patient.rs", "--subject", "dr-martin", "--role", "practitioner",
                "--professional-id", "810000000001", "--purpose", "TREAT"});
  ASSERT_EQ(pro.exit_code, 0) << pro.err;
  std::string pro_token = pro.out.substr(0, pro.out.find('\n'));
  EXPECT_EQ(c.Fhir("GET", base + "/Patient?_count=2", pro_token).status, 200);

  // The trail is read-only and needs a scope naming AuditEvent.
  EXPECT_EQ(c.Fhir("GET", base + "/AuditEvent", tok).status, 403);
  EXPECT_EQ(
      c.Fhir("POST", base + "/AuditEvent", auditor, R"({"resourceType":"AuditEvent"})").status,
      405);
  EXPECT_EQ(
      c.Fhir("PUT", base + "/AuditEvent/a0", auditor, R"({"resourceType":"AuditEvent"})").status,
      405);
  EXPECT_EQ(c.Fhir("DELETE", base + "/AuditEvent/a0", auditor).status, 405);

  std::vector<std::string> events = AuditEvents(c, base + "/AuditEvent?_count=20", auditor);
  std::multiset<std::string> subtypes;
  int refused = 0;
  for (const std::string& e : events) {
    subtypes.insert(Subtype(e));
    if (OutcomeOf(e) == "4") ++refused;
  }
  for (const char* want : {"create", "read", "vread", "update", "patch", "search-type",
                           "history-instance", "operation", "batch", "delete"}) {
    EXPECT_GE(subtypes.count(want), 1u) << "no AuditEvent with subtype " << want;
  }
  // The batch's two entries have their own records (a read and a create), besides the batch's.
  EXPECT_GE(subtypes.count("read"), 3u);  // direct read, batch read, + refused reads
  EXPECT_GE(subtypes.count("create"), 2u);
  // 2 x 401 + 2 x 403 on Patient, 1 x 403 on AuditEvent, 3 x 405 on AuditEvent.
  EXPECT_GE(refused, 8);

  // Fields of a read: who, from where, why, what.
  bool found_read = false;
  for (const std::string& e : events) {
    rapidjson::Document d = ParseJson(e);
    if (Subtype(e) != "read" || OutcomeOf(e) != "0") continue;
    if (e.find("TREAT") == std::string::npos) continue;
    found_read = true;
    EXPECT_NE(e.find("Patient/" + id), std::string::npos) << e;
    EXPECT_NE(e.find("hygie-cli"), std::string::npos) << e;  // the token's subject
    EXPECT_NE(e.find("127.0.0.1"), std::string::npos) << e;
  }
  EXPECT_TRUE(found_read) << "the read with X-Purpose-Of-Use TREAT is missing";
  // Staff access is marked; the professional's id, role and purpose are there.
  int staff_marked = 0, pro_seen = 0, glass_used = 0;
  for (const std::string& e : events) {
    bool marked = e.find("staff-access") != std::string::npos;
    if (marked) {
      EXPECT_NE(e.find("op-jdoe"), std::string::npos) << e;
      glass_used += e.find("break-glass grant") != std::string::npos ? 1 : 0;
    }
    staff_marked += marked ? 1 : 0;
    if (e.find("dr-martin") != std::string::npos) {
      ++pro_seen;
      EXPECT_NE(e.find("810000000001"), std::string::npos) << e;
      EXPECT_NE(e.find("TREAT"), std::string::npos) << e;
    }
  }
  EXPECT_GE(staff_marked, 2);  // the refused read and the one the grant allowed
  EXPECT_GE(glass_used, 1);    // the allowed read names its break-glass grant
  EXPECT_EQ(pro_seen, 1);
  // A searched value never appears in the trail, nor in any journal file.
  for (const std::string& e : events) {
    EXPECT_EQ(e.find(secret_family), std::string::npos) << e;
  }
  EXPECT_TRUE(FilesContaining(dep.data() + "/audit", secret_family).empty());

  // Search by action, outcome, agent, entity, date; read one by id.
  for (const std::string& e : AuditEvents(c, base + "/AuditEvent?action=D", auditor)) {
    EXPECT_EQ(JsonString(ParseJson(e), "action"), "D");
  }
  std::vector<std::string> failures = AuditEvents(c, base + "/AuditEvent?outcome=4", auditor);
  EXPECT_GE(failures.size(), 8u);
  for (const std::string& e : failures) EXPECT_EQ(OutcomeOf(e), "4");
  std::vector<std::string> about =
      AuditEvents(c, base + "/AuditEvent?entity=Patient/" + id, auditor);
  EXPECT_GE(about.size(), 8u);
  for (const std::string& e : about) EXPECT_NE(e.find(id), std::string::npos);
  EXPECT_GE(AuditEvents(c, base + "/AuditEvent?agent=hygie-cli", auditor).size(), 10u);
  EXPECT_TRUE(AuditEvents(c, base + "/AuditEvent?date=lt2001-01-01", auditor).empty());
  EXPECT_GE(AuditEvents(c, base + "/AuditEvent?date=ge2001-01-01", auditor).size(), 20u);
  HttpResponse one = c.Fhir("GET", base + "/AuditEvent/a0", auditor);
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(JsonString(ParseJson(one.body), "id"), "a0");
  EXPECT_EQ(c.Fhir("GET", base + "/AuditEvent?nosuch=1", auditor).status, 400);

  // Reading the trail is itself in the trail.
  std::vector<std::string> reads =
      AuditEvents(c, base + "/AuditEvent?entity-type=AuditEvent&outcome=0", auditor);
  EXPECT_GE(reads.size(), 5u);
  // The other tenant's trail holds nothing of acme's.
  const std::string other_auditor =
      dep.inst().Token("other", "user/AuditEvent.rs", "1h", {"--role", "auditor"});
  for (const std::string& e : AuditEvents(c, "/fhir/other/AuditEvent", other_auditor)) {
    EXPECT_EQ(e.find(id), std::string::npos) << e;
  }
}

// Runs `hygie audit checkpoint` and opens the note with the key it prints.
audit::Checkpoint CliCheckpoint(const std::string& data, const std::string& tenant) {
  CommandResult r = RunHygie({"audit", "checkpoint", "--data", data, "--tenant", tenant});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  size_t at = r.err.find("verifier key: ");
  EXPECT_NE(at, std::string::npos) << r.err;
  std::string key = r.err.substr(at + 14);
  key = key.substr(0, key.find('\n'));
  auto verifier = audit::NoteVerifier::Parse(key);
  EXPECT_TRUE(verifier.ok()) << key;
  auto cp = verifier->Open(r.out);
  EXPECT_TRUE(cp.ok()) << r.out;
  return cp.ok() ? *cp : audit::Checkpoint{};
}

std::vector<audit::Hash> Hashes(const rapidjson::Value& array) {
  std::vector<audit::Hash> out;
  for (const auto& v : array.GetArray()) {
    auto bytes = crypto::Base64Decode(v.GetString());
    audit::Hash h{};
    if (bytes.ok() && bytes->size() == h.size()) std::copy(bytes->begin(), bytes->end(), h.begin());
    out.push_back(h);
  }
  return out;
}

audit::Hash OneHash(const rapidjson::Value& v) {
  std::vector<audit::Hash> hs;
  rapidjson::Document arr(rapidjson::kArrayType);
  rapidjson::Value copy(v, arr.GetAllocator());
  arr.PushBack(copy, arr.GetAllocator());
  return Hashes(arr)[0];
}

TEST(AuditTest, VerifyProofsAndCommandLineActs) {
  Deployment dep;
  HttpClient c(dep.port());
  const std::string base = dep.Base();
  for (int i = 0; i < 5; ++i) CreatePatient(c, base, dep.token(), "Doe");
  // A command-line act while the server owns the journal goes through the spool.
  dep.inst().CreateTenant("beta");
  // Proofs from the admin API, with the tenant's audit scope only.
  const std::string auditor =
      dep.inst().Token("acme", "system/AuditEvent.rs", "1h", {"--role", "auditor", "--amr", "mfa"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a checkpoint per second
  EXPECT_EQ(c.Fhir("GET", "/admin/audit/acme/checkpoint", dep.token()).status, 403);
  EXPECT_EQ(c.Fhir("GET", "/admin/audit/acme/checkpoint",
                   dep.inst().Token("beta", "system/AuditEvent.rs", "1h",
                                    {"--role", "auditor", "--amr", "mfa"}))
                .status,
            403);
  HttpResponse incl = c.Fhir("GET", "/admin/audit/acme/proof/inclusion?index=2", auditor);
  ASSERT_EQ(incl.status, 200) << incl.body;
  rapidjson::Document pj = ParseJson(incl.body);
  auto verifier = audit::NoteVerifier::Parse(JsonString(pj, "verifier_key"));
  ASSERT_TRUE(verifier.ok());
  auto cp = verifier->Open(JsonString(pj, "checkpoint"));
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(pj["size"].GetUint64(), cp->size);
  audit::Hash leaf = OneHash(pj["leaf_hash"]);
  std::vector<audit::Hash> proof = Hashes(pj["proof"]);
  EXPECT_TRUE(audit::VerifyInclusion(2, cp->size, leaf, proof, cp->root).ok());
  leaf[3] ^= 1;
  EXPECT_FALSE(audit::VerifyInclusion(2, cp->size, leaf, proof, cp->root).ok());
  EXPECT_EQ(c.Fhir("GET", "/admin/audit/acme/proof/inclusion?index=999999", auditor).status, 400);
  EXPECT_EQ(c.Fhir("GET", "/admin/audit/acme/proof/consistency?size1=1", auditor).status, 200);
  dep.StopServer();

  // The CLI: checkpoint, inclusion and consistency proofs that verify.
  const std::string data = dep.data();
  audit::Checkpoint first = CliCheckpoint(data, "acme");
  ASSERT_GT(first.size, 5u);
  dep.StartServer();
  HttpClient c2(dep.port());
  for (int i = 0; i < 5; ++i) CreatePatient(c2, base, dep.token(), "Roe");
  dep.StopServer();
  audit::Checkpoint second = CliCheckpoint(data, "acme");
  ASSERT_GT(second.size, first.size);
  CommandResult cons = RunHygie({"audit", "proof", "consistency", "--data", data, "--tenant",
                                 "acme", "--size1", std::to_string(first.size)});
  ASSERT_EQ(cons.exit_code, 0) << cons.err;
  rapidjson::Document cj = ParseJson(cons.out);
  ASSERT_FALSE(cj.HasParseError()) << cons.out;
  EXPECT_TRUE(audit::VerifyConsistency(first.size, second.size, first.root, second.root,
                                       Hashes(cj["proof"]))
                  .ok());
  CommandResult inc =
      RunHygie({"audit", "proof", "inclusion", "--data", data, "--tenant", "acme", "--index", "4"});
  ASSERT_EQ(inc.exit_code, 0) << inc.err;
  rapidjson::Document ij = ParseJson(inc.out);
  ASSERT_FALSE(ij.HasParseError()) << inc.out;
  EXPECT_TRUE(audit::VerifyInclusion(4, second.size, OneHash(ij["leaf_hash"]), Hashes(ij["proof"]),
                                     second.root)
                  .ok());
  EXPECT_EQ(ij["record"]["i"].GetUint64(), 4u);

  // The whole journal verifies; the command-line acts are in the system trail.
  CommandResult ok = RunHygie({"audit", "verify", "--data", data});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("acme: OK"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("_system: OK"), std::string::npos) << ok.out;
  std::string system_records;
  for (const auto& e : fs::directory_iterator(data + "/audit/_system")) {
    if (e.path().extension() == ".log" && e.path().filename().string().rfind("seg-", 0) == 0) {
      system_records += Slurp(e.path());
    }
  }
  size_t creates = 0;
  for (size_t at = system_records.find("tenant-create"); at != std::string::npos;
       at = system_records.find("tenant-create", at + 1)) {
    ++creates;
  }
  EXPECT_EQ(creates, 2u) << "acme (before the server) and beta (through the spool)";
  EXPECT_NE(system_records.find("token-issue"), std::string::npos);
  for (const auto& e : fs::directory_iterator(data + "/audit/_spool")) {
    EXPECT_NE(e.path().extension(), ".rec") << "moved into the journal: " << e.path();
  }

  // One changed byte in a record: verify fails and names the record.
  std::string seg = data + "/audit/acme/seg-00000000000000000000.log";
  std::string bytes = Slurp(seg);
  size_t at = bytes.find("\"i\":3,");
  ASSERT_NE(at, std::string::npos);
  size_t created = bytes.find("create", at);
  ASSERT_NE(created, std::string::npos);
  bytes[created] = 'k';
  { std::ofstream(seg, std::ios::binary | std::ios::trunc) << bytes; }
  CommandResult bad = RunHygie({"audit", "verify", "--data", data, "--tenant", "acme"});
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("record 3:"), std::string::npos) << bad.out;
}

// A journal on a full disk: the server refuses to answer with data (503), changes nothing,
// and recovers when space comes back.
TEST(AuditTest, JournalOnAFullDiskFailsClosed) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (CI runs as root)";
  Installation inst;
  const std::string audit_dir = inst.data() + "/audit";
  fs::create_directories(audit_dir);
  ASSERT_EQ(::mount("tmpfs", audit_dir.c_str(), "tmpfs", 0, "size=4m,mode=0700"), 0)
      << std::strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{audit_dir};
  inst.CreateTenant("acme");
  const std::string tok = inst.Token("acme");
  auto server = std::make_unique<ServerProcess>(inst.data());
  HttpClient c(server->port());
  const std::string canary = "Cnry" + RandomToken(10);
  std::string id = CreatePatient(c, "/fhir/acme", tok, canary);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(c.Fhir("GET", "/fhir/acme/Patient/" + id, tok).status, 200);

  // Fill the journal's disk.
  {
    std::ofstream filler(audit_dir + "/filler", std::ios::binary);
    std::string block(1 << 16, '\0');
    while (filler.write(block.data(), block.size())) {
    }
  }
  // Records still fit in the zeros the journal laid ahead of them (up to 1 MiB); the first batch
  // that needs new space fails, and from then on no answer carries data.
  int answered = 0;
  for (; answered < 20000; ++answered) {
    HttpResponse r = c.Fhir("GET", "/fhir/acme/Patient/" + id, tok);
    if (r.status == 503) break;
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_LT(answered, 20000) << "the journal never ran out of space";
  std::printf("[ full disk ] %d reads answered from the journal's reserve before the first 503\n",
              answered);
  const int64_t errors_before = ServerErrorResponses();
  for (const std::string& path : {"/fhir/acme/Patient/" + id, "/fhir/acme/Patient?family=" + canary,
                                  "/fhir/acme/Patient/" + id + "/_history"}) {
    HttpResponse r = c.Fhir("GET", path, tok);
    EXPECT_EQ(r.status, 503) << path << " -> " << r.body;
    EXPECT_TRUE(IsOperationOutcome(r.body)) << r.body;
    EXPECT_EQ(r.body.find(canary), std::string::npos) << "data left with a 503: " << r.body;
    EXPECT_EQ(r.body.find(id), std::string::npos) << r.body;
  }
  HttpResponse create =
      c.Fhir("POST", "/fhir/acme/Patient", tok,
             R"({"resourceType":"Patient","name":[{"family":")" + canary + "2\"}]}");
  EXPECT_EQ(create.status, 503) << create.body;
  EXPECT_EQ(ServerErrorResponses() - errors_before, 4);

  // Space again: the server records and answers, and the refused create wrote nothing.
  fs::remove(audit_dir + "/filler");
  HttpResponse again = c.Fhir("GET", "/fhir/acme/Patient/" + id, tok);
  EXPECT_EQ(again.status, 200) << again.body;
  HttpResponse search = c.Fhir("GET", "/fhir/acme/Patient?family=" + canary + "2", tok);
  ASSERT_EQ(search.status, 200);
  rapidjson::Document found = ParseJson(search.body);
  EXPECT_FALSE(found.HasMember("entry")) << search.body;
  server->Stop();
  CommandResult v = RunHygie({"audit", "verify", "--data", inst.data(), "--tenant", "acme"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// Someone with access to the data directory slips records into the spool while the server runs:
// an unsealed one, one sealed by another key. Neither reaches the journal; both are recorded as
// rejected, /readyz warns (and stays 200: the service goes on) and `hygie audit verify` fails,
// naming them.
TEST(AuditTest, ASpooledRecordThatIsNotSealedIsRejectedReportedAndVerifyFails) {
  Installation inst;
  inst.CreateTenant("acme");
  ServerProcess server(inst.data());
  HttpClient c(server.port());
  // A command-line act while the server runs: spooled, sealed, moved in.
  CommandResult beta = RunHygie({"tenant", "create", "beta", "--data", inst.data()});
  ASSERT_EQ(beta.exit_code, 0) << beta.err;
  const std::string spool = inst.data() + "/audit/_spool";
  auto pending = [&] {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(spool)) n += e.path().extension() == ".rec";
    return n;
  };
  ASSERT_TRUE(WaitUntil([&] { return pending() == 0; }));
  CommandResult clean = RunHygie({"audit", "verify", "--data", inst.data()});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("spool: OK"), std::string::npos) << clean.out;

  const std::string forged =
      R"({"i":"forged","t":1,"int":"tenant-delete","act":"D","ten":"acme","st":200})";
  {
    std::ofstream(spool + "/00000000000000000099.rec") << R"({"v":1,"n":99,"tree":"_system"})"
                                                       << "\n"
                                                       << forged << "\n"
                                                       << "AAAA\n";
    std::ofstream(spool + "/20261207-x.json") << forged;
  }
  // Found (ALTERED), then set aside and reported until the operator looks (REJECTED).
  ASSERT_TRUE(WaitUntil(
      [&] { return c.Request("GET", "/readyz").body.find("REJECTED") != std::string::npos; }));
  HttpResponse ready = c.Request("GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_NE(ready.body.find("00000000000000000099.rec"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("REJECTED"), std::string::npos) << ready.body;
  EXPECT_EQ(pending(), 0u);
  EXPECT_TRUE(fs::exists(spool + "/rejected/00000000000000000099.rec"));
  CommandResult damaged = RunHygie({"audit", "verify", "--data", inst.data()});
  EXPECT_EQ(damaged.exit_code, 1) << damaged.out;
  EXPECT_NE(damaged.out.find("spool: REJECTED"), std::string::npos) << damaged.out;
  EXPECT_NE(damaged.out.find("00000000000000000099.rec"), std::string::npos) << damaged.out;
  EXPECT_NE(damaged.out.find("_system: OK"), std::string::npos) << damaged.out;
  ASSERT_EQ(server.Stop(), 0);
  // The forged act is nowhere in the journal; the rejection is.
  std::string system_records;
  for (const auto& e : fs::directory_iterator(inst.data() + "/audit/_system")) {
    if (e.path().filename().string().rfind("seg-", 0) == 0) system_records += Slurp(e.path());
  }
  EXPECT_EQ(system_records.find("forged"), std::string::npos);
  EXPECT_NE(system_records.find("audit-spool-rejected"), std::string::npos);
}

}  // namespace
}  // namespace hygie::e2e
