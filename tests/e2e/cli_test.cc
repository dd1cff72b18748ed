// End-to-end tests of the `hygie` command line: help, usage errors, init, tenants, tokens,
// passphrase installations and key rotation under a running server.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "support/harness.h"

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;

// Every file and directory under `dir` with its mode and (for files) its bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> snap;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::lstat(entry.path().c_str(), &st);
    std::string value = std::to_string(st.st_mode);
    if (entry.is_regular_file()) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      value += ":" + ss.str();
    }
    snap[entry.path().string()] = value;
  }
  return snap;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

TEST(CliTest, HelpOnEveryCommandExitsZero) {
  const std::vector<std::vector<std::string>> commands = {
      {"--help"},
      {"init", "--help"},
      {"serve", "--help"},
      {"tenant", "--help"},
      {"tenant", "create", "--help"},
      {"tenant", "list", "--help"},
      {"token", "--help"},
      {"token", "issue", "--help"},
      {"key", "--help"},
      {"key", "rotate", "--help"},
      {"-h"},
      {"token", "issue", "-h"},
  };
  for (const auto& args : commands) {
    CommandResult r = RunHygie(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 0) << joined << r.err;
    EXPECT_NE((r.out + r.err).find("Usage"), std::string::npos) << joined;
  }
  // Help for a subcommand describes that subcommand's own options.
  CommandResult issue = RunHygie({"token", "issue", "--help"});
  EXPECT_NE(issue.out.find("--ttl"), std::string::npos);
  EXPECT_NE(issue.out.find("--scope"), std::string::npos);
}

TEST(CliTest, VersionExitsZero) {
  CommandResult r = RunHygie({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hygie"), std::string::npos) << r.out;
}

TEST(CliTest, UsageErrorsExitTwo) {
  TempDir dir;
  const std::string d = dir.path() + "/data";
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"frobnicate"},
      {"--no-such-flag"},
      {"init"},
      {"init", "--data"},
      {"init", "--data", d, "--bogus"},
      {"init", "--data", d, "extra-positional"},
      {"serve"},
      {"tenant"},
      {"tenant", "delete", "x", "--data", d},
      {"tenant", "create", "--data", d},
      {"tenant", "list"},
      {"token"},
      {"token", "issue", "--data", d, "--tenant", "acme"},
      {"token", "issue", "--data", d, "--scope", "user/*.r"},
      {"key"},
      {"key", "rotate", "--data", d},
      {"key", "rotate", "--tenant", "acme"},
      {"serve", "--data", d, "--threads", "many"},
  };
  for (const auto& args : commands) {
    CommandResult r = RunHygie(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << "hygie " << joined << "\nstdout: " << r.out
                              << "\nstderr: " << r.err;
  }
  // A usage error creates nothing.
  EXPECT_FALSE(fs::exists(d));
}

TEST(CliTest, InitCreatesPrivateDirectoryAndKeyFile) {
  TempDir dir;
  const std::string d = dir.path() + "/data";
  CommandResult r = RunHygie({"init", "--data", d});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "init prints nothing on stdout: " << r.out;
  EXPECT_EQ(ModeOf(d), 0700u);
  EXPECT_EQ(ModeOf(d + "/kek.key"), 0600u);
  EXPECT_EQ(fs::file_size(d + "/kek.key"), 32u);
  EXPECT_TRUE(fs::exists(d + "/hygie.json"));
  EXPECT_TRUE(fs::exists(d + "/tls/server.crt"));
  EXPECT_TRUE(fs::exists(d + "/tls/server.key"));
  // Nothing but the public certificate is readable by group or others.
  for (const auto& entry : fs::recursive_directory_iterator(d)) {
    if (entry.path().filename() == "server.crt") continue;
    EXPECT_EQ(ModeOf(entry.path().string()) & 077, 0u) << entry.path();
  }
  // An existing empty directory is fine too.
  TempDir empty;
  EXPECT_EQ(RunHygie({"init", "--data", empty.path()}).exit_code, 0);
  EXPECT_EQ(ModeOf(empty.path()), 0700u);
  // Missing parent folders are created, private.
  TempDir parent;
  const std::string nested = parent.path() + "/srv/hygie/data";
  CommandResult made = RunHygie({"init", "--data", nested});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_TRUE(fs::exists(nested + "/hygie.json"));
  EXPECT_EQ(ModeOf(parent.path() + "/srv"), 0700u);
  EXPECT_EQ(ModeOf(parent.path() + "/srv/hygie"), 0700u);
  // A parent that is a file: a clear error, nothing left behind.
  std::ofstream(parent.path() + "/file") << "x";
  CommandResult under_file = RunHygie({"init", "--data", parent.path() + "/file/data"});
  EXPECT_NE(under_file.exit_code, 0);
  EXPECT_NE(under_file.err.find("not a directory"), std::string::npos) << under_file.err;
}

TEST(CliTest, InitRefusesNonEmptyDirectoryAndLeavesItUnchanged) {
  TempDir dir;
  const std::string precious = dir.path() + "/precious";
  fs::create_directory(precious);
  {
    std::ofstream f(precious + "/notes.txt");
    f << "do not touch\n";
  }
  ::chmod(precious.c_str(), 0755);
  auto before = Snapshot(precious);
  mode_t mode_before = ModeOf(precious);
  CommandResult r = RunHygie({"init", "--data", precious});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(r.err.empty());
  EXPECT_EQ(Snapshot(precious), before);
  EXPECT_EQ(ModeOf(precious), mode_before);

  // A second init over an existing installation changes nothing either (no new KEK!).
  Installation inst;
  auto inst_before = Snapshot(inst.data());
  EXPECT_EQ(RunHygie({"init", "--data", inst.data()}).exit_code, 1);
  EXPECT_EQ(Snapshot(inst.data()), inst_before);

  // A path that is a file.
  const std::string file = dir.path() + "/a-file";
  {
    std::ofstream f(file);
    f << "x";
  }
  EXPECT_EQ(RunHygie({"init", "--data", file}).exit_code, 1);
  EXPECT_EQ(fs::file_size(file), 1u);
}

TEST(CliTest, TenantNamesAreChecked) {
  Installation inst;
  const std::vector<std::string> good = {"ab", "a-b", "acme-01", "0x", std::string(63, 'z')};
  const std::vector<std::string> bad = {"a",
                                        "",
                                        "-ab",
                                        "ab-",
                                        "a_b",
                                        "Acme",
                                        "a b",
                                        "a.b",
                                        "../x",
                                        "a/b",
                                        "caf\xc3\xa9",
                                        "ab\n",
                                        std::string(64, 'z'),
                                        "--",
                                        "a\x01"
                                        "b"};
  for (const auto& name : good) {
    CommandResult r = RunHygie({"tenant", "create", name, "--data", inst.data()});
    EXPECT_EQ(r.exit_code, 0) << "'" << name << "': " << r.err;
  }
  for (const auto& name : bad) {
    CommandResult r = RunHygie({"tenant", "create", name, "--data", inst.data()});
    EXPECT_EQ(r.exit_code, 2) << "'" << name << "': " << r.err;
  }
  CommandResult list = RunHygie({"tenant", "list", "--data", inst.data()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::vector<std::string> lines = Lines(list.out);
  std::vector<std::string> expected = good;
  std::sort(expected.begin(), expected.end());
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, expected);
  // Nothing was created outside the data directory by "../x".
  EXPECT_FALSE(fs::exists(fs::path(inst.data()).parent_path() / "x"));
}

TEST(CliTest, DuplicateTenantFailsAndListShowsEachOnce) {
  Installation inst;
  EXPECT_EQ(RunHygie({"tenant", "list", "--data", inst.data()}).out, "");
  inst.CreateTenant("acme");
  inst.CreateTenant("globex");
  CommandResult dup = RunHygie({"tenant", "create", "acme", "--data", inst.data()});
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_FALSE(dup.err.empty());
  CommandResult list = RunHygie({"tenant", "list", "--data", inst.data()});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(list.out, "acme\nglobex\n");
  // Commands on something that is not a data directory fail (1), not usage (2).
  TempDir nothing;
  EXPECT_EQ(RunHygie({"tenant", "list", "--data", nothing.path()}).exit_code, 1);
  EXPECT_EQ(RunHygie({"tenant", "create", "zz", "--data", nothing.path()}).exit_code, 1);
}

TEST(CliTest, TokenIssuePrintsExactlyOneJwt) {
  Installation inst;
  inst.CreateTenant("acme");
  CommandResult r = RunHygie({"token", "issue", "--data", inst.data(), "--tenant", "acme",
                              "--scope", "user/Patient.rs user/Observation.cruds", "--ttl", "15m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  ASSERT_EQ(r.out.back(), '\n');
  std::string token = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(token.find('\n'), std::string::npos) << "more than one line: " << r.out;
  std::vector<std::string> parts = Split(token, '.');
  ASSERT_EQ(parts.size(), 3u) << token;
  for (const auto& part : parts) {
    EXPECT_FALSE(part.empty());
    EXPECT_EQ(
        part.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos)
        << part;
    EXPECT_TRUE(crypto::Base64UrlDecode(part).ok()) << part;
  }
  auto header = crypto::Base64UrlDecode(parts[0]);
  auto payload = crypto::Base64UrlDecode(parts[1]);
  ASSERT_TRUE(header.ok() && payload.ok());
  rapidjson::Document h = ParseJson(std::string(AsChars(*header)));
  rapidjson::Document p = ParseJson(std::string(AsChars(*payload)));
  ASSERT_FALSE(h.HasParseError());
  ASSERT_FALSE(p.HasParseError());
  EXPECT_EQ(JsonString(h, "alg"), "ES256");
  EXPECT_EQ(JsonString(p, "tenant"), "acme");
  EXPECT_EQ(JsonString(p, "scope"), "user/Patient.rs user/Observation.cruds");
  ASSERT_TRUE(p.HasMember("exp") && p["exp"].IsInt64() && p.HasMember("iat") && p["iat"].IsInt64());
  EXPECT_EQ(p["exp"].GetInt64() - p["iat"].GetInt64(), 15 * 60);
  // Two tokens are different (random jti).
  EXPECT_NE(inst.Token("acme"), inst.Token("acme"));
}

TEST(CliTest, TokenIssueRefusesUnknownTenantAndBadOptions) {
  Installation inst;
  inst.CreateTenant("acme");
  auto issue = [&](const std::string& tenant, const std::string& scope, const std::string& ttl,
                   std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"token", "issue",   "--data", inst.data(), "--tenant",
                                     tenant,  "--scope", scope,    "--ttl",     ttl};
    args.insert(args.end(), more.begin(), more.end());
    return RunHygie(args);
  };
  CommandResult unknown = issue("globex", "user/*.cruds", "1h");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  EXPECT_EQ(unknown.out, "");
  for (const std::string ttl : {"0", "-5", "abc", "25h", "86401", "1d", "1.5h", "", "h",
                                "9999999999", "1hh", " 1h", "0x10", "1441m"}) {
    CommandResult r = issue("acme", "user/*.cruds", ttl);
    EXPECT_EQ(r.exit_code, 2) << "ttl '" << ttl << "': " << r.err;
    EXPECT_EQ(r.out, "") << "ttl '" << ttl << "'";
  }
  for (const std::string ttl : {"1", "86400", "24h", "1440m", "30s"}) {
    EXPECT_EQ(issue("acme", "user/*.cruds", ttl).exit_code, 0) << ttl;
  }
  for (const std::string scope :
       {"user/Patient.xyz", "user/Foo.r", "openid", "", "user/Patient.rc", "admin/Patient.r"}) {
    CommandResult r = issue("acme", scope, "1h");
    EXPECT_EQ(r.exit_code, 2) << "scope '" << scope << "': " << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_EQ(issue("acme", "user/*.r", "1h", {"--patient", "bad id!"}).exit_code, 2);
  EXPECT_EQ(issue("acme", "patient/*.r", "1h", {"--patient", "p-1"}).exit_code, 0);
  TempDir nothing;
  EXPECT_EQ(RunHygie({"token", "issue", "--data", nothing.path(), "--tenant", "acme", "--scope",
                      "user/*.r"})
                .exit_code,
            1);
}

TEST(CliTest, PassphraseInstallation) {
  TempDir dir;
  const std::string d = dir.path() + "/data";
  const std::string pass = "correct horse " + RandomToken(12);
  const std::vector<std::string> env = {"HYGIE_TEST_PASS=" + pass};
  const std::vector<std::string> wrong = {"HYGIE_TEST_PASS=wrong " + pass};

  // The variable must be set.
  CommandResult unset = RunHygie({"init", "--data", d, "--passphrase-env", "HYGIE_NO_SUCH_VAR"});
  EXPECT_EQ(unset.exit_code, 1) << unset.err;
  EXPECT_TRUE(!fs::exists(d) || fs::is_empty(d));

  CommandResult init = RunHygie({"init", "--data", d, "--passphrase-env", "HYGIE_TEST_PASS"}, env);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_FALSE(fs::exists(d + "/kek.key"));
  EXPECT_EQ(
      RunHygie({"tenant", "create", "acme", "--data", d, "--passphrase-env", "HYGIE_TEST_PASS"},
               env)
          .exit_code,
      0);
  CommandResult list =
      RunHygie({"tenant", "list", "--data", d, "--passphrase-env", "HYGIE_TEST_PASS"}, env);
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "acme\n");

  CommandResult no_flag = RunHygie({"tenant", "list", "--data", d}, env);
  EXPECT_EQ(no_flag.exit_code, 1);
  EXPECT_NE(no_flag.err.find("--passphrase-env"), std::string::npos) << no_flag.err;
  EXPECT_EQ(no_flag.out, "");

  CommandResult bad =
      RunHygie({"tenant", "list", "--data", d, "--passphrase-env", "HYGIE_TEST_PASS"}, wrong);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err.find(pass), std::string::npos) << "the passphrase must not be echoed";

  CommandResult token_no_flag =
      RunHygie({"token", "issue", "--data", d, "--tenant", "acme", "--scope", "user/*.cruds"}, env);
  EXPECT_EQ(token_no_flag.exit_code, 1);
  EXPECT_EQ(token_no_flag.out, "");

  // The server needs the passphrase too: without it, it refuses to start (exit 1).
  CommandResult serve_no_pass =
      RunHygieFor({"serve", "--data", d, "--listen", "127.0.0.1:0"}, env, 60);
  EXPECT_EQ(serve_no_pass.exit_code, 1) << serve_no_pass.err;
  CommandResult serve_wrong = RunHygieFor(
      {"serve", "--data", d, "--listen", "127.0.0.1:0", "--passphrase-env", "HYGIE_TEST_PASS"},
      wrong, 60);
  EXPECT_EQ(serve_wrong.exit_code, 1) << serve_wrong.err;

  // With it, everything works end to end.
  CommandResult token = RunHygie({"token", "issue", "--data", d, "--tenant", "acme", "--scope",
                                  "user/*.cruds", "--passphrase-env", "HYGIE_TEST_PASS"},
                                 env);
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string tok = token.out.substr(0, token.out.find('\n'));
  ServeOptions so;
  so.extra_args = {"--passphrase-env", "HYGIE_TEST_PASS"};
  so.env = env;
  {
    auto server = ServerProcess::Launch(d, so);
    HttpClient c(server->port());
    HttpResponse created =
        c.Fhir("POST", "/fhir/acme/Patient", tok, R"({"resourceType":"Patient","active":true})");
    ASSERT_EQ(created.status, 201) << created.body;
    std::string id = JsonString(ParseJson(created.body), "id");
    HttpResponse read = c.Fhir("GET", "/fhir/acme/Patient/" + id, tok);
    EXPECT_EQ(read.status, 200);
    EXPECT_EQ(read.body, created.body);
    EXPECT_EQ(server->Stop(), 0);
  }
  // The passphrase is written nowhere.
  EXPECT_TRUE(FilesContaining(d, pass).empty());
}

TEST(CliTest, KeyRotateWhileServing) {
  const int64_t errors_before = ServerErrorResponses();
  Deployment dep("rot");
  HttpClient c(dep.port());
  const std::string base = dep.Base();
  const std::string db = dep.data() + "/tenants/rot/data.db";
  // (type/id/version) -> acknowledged body.
  std::map<std::string, std::string> acked;
  std::vector<std::string> ids;
  auto create = [&](const std::string& note) {
    HttpResponse r = c.Fhir("POST", base + "/Patient", dep.token(),
                            R"({"resourceType":"Patient","name":[{"text":")" + note + R"("}]})");
    EXPECT_EQ(r.status, 201) << r.body;
    std::string id = JsonString(ParseJson(r.body), "id");
    acked["Patient/" + id + "/1"] = r.body;
    ids.push_back(id);
    return id;
  };
  auto update = [&](const std::string& id, const std::string& note) {
    HttpResponse r = c.Fhir(
        "PUT", base + "/Patient/" + id, dep.token(),
        R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"text":")" + note + R"("}]})");
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc = ParseJson(r.body);
    acked["Patient/" + id + "/" + JsonString(doc["meta"], "versionId")] = r.body;
  };
  for (int i = 0; i < 5; ++i) update(create("before " + std::to_string(i)), "before updated");

  CommandResult rot = RunHygie({"key", "rotate", "--tenant", "rot", "--data", dep.data()});
  ASSERT_EQ(rot.exit_code, 0) << rot.err;

  // Write until the server seals with the new key (it re-reads the keyring by itself).
  bool rotated = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!rotated && std::chrono::steady_clock::now() < deadline) {
    create("during");
    SqlResult q = Sql(db, "SELECT max(key_id) FROM resource_version");
    ASSERT_TRUE(q.ok) << q.error;
    rotated = !q.rows.empty() && q.rows[0][0] == "2";
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(rotated) << "the server never sealed with data key 2";
  for (int i = 0; i < 5; ++i) create("after " + std::to_string(i));
  for (int i = 0; i < 3; ++i) update(ids[static_cast<size_t>(i)], "after rotation");

  auto check_all = [&](HttpClient& client) {
    for (const auto& [key, body] : acked) {
      std::vector<std::string> k = Split(key, '/');
      HttpResponse r =
          client.Fhir("GET", base + "/" + k[0] + "/" + k[1] + "/_history/" + k[2], dep.token());
      EXPECT_EQ(r.status, 200) << key << " " << r.body;
      EXPECT_EQ(r.body, body) << key;
    }
  };
  check_all(c);

  // Rotate once more, then restart: every version, under keys 1, 2 and 3, still reads.
  ASSERT_EQ(RunHygie({"key", "rotate", "--tenant", "rot", "--data", dep.data()}).exit_code, 0);
  dep.Restart();
  HttpClient c2(dep.port());
  check_all(c2);
  SqlResult keys = Sql(db, "SELECT DISTINCT key_id FROM resource_version ORDER BY key_id");
  ASSERT_TRUE(keys.ok) << keys.error;
  EXPECT_GE(keys.rows.size(), 2u);
  std::cout << "[ key rotate ] " << acked.size() << " versions checked under " << keys.rows.size()
            << " data keys\n";

  CommandResult unknown = RunHygie({"key", "rotate", "--tenant", "nobody", "--data", dep.data()});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  EXPECT_EQ(ServerErrorResponses(), errors_before);
}

}  // namespace
}  // namespace hygie::e2e

namespace hygie::e2e {
namespace {

// A tenant created by the CLI while the server runs is served at once, without a restart.
TEST(CliTest, TenantCreatedWhileServingIsServedAtOnce) {
  Installation inst;
  inst.CreateTenant("early");
  ServerProcess server(inst.data());
  ASSERT_GT(server.port(), 0);
  HttpClient client(server.port());
  const std::string body = R"({"resourceType":"Patient","name":[{"family":"Roux"}]})";
  // Before it exists, a token cannot even be issued for it.
  EXPECT_EQ(RunHygie({"token", "issue", "--data", inst.data(), "--tenant", "late", "--scope",
                      "user/*.cruds"})
                .exit_code,
            1);
  inst.CreateTenant("late");
  std::string token = inst.Token("late");
  HttpResponse created = client.Fhir("POST", "/fhir/late/Patient", token, body);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string location = created.Header("location");
  std::string path = location.substr(location.find("/fhir/"));
  EXPECT_EQ(client.Fhir("GET", path, token).status, 200);
  // The tenant that was there before still works.
  EXPECT_EQ(client.Fhir("POST", "/fhir/early/Patient", inst.Token("early"), body).status, 201);
}

}  // namespace
}  // namespace hygie::e2e
