// End-to-end SIEM export tests: `hygie serve --syslog` streams the audit journal to a real
// rsyslog (imtcp, RFC 5424 messages, octet-counted frames) over TCP and over TLS (gtls). The
// collector is stopped while requests go on and started again on the same port: every record
// reaches it at least once, none is missing.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

constexpr const char* kRsyslogd = "/usr/sbin/rsyslogd";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// True if a TCP connection to 127.0.0.1:port is accepted.
bool Accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// TLS material for the collector, made with the openssl command line: a CA and a server
// certificate for 127.0.0.1 (IP SAN) and localhost.
struct Pki {
  std::string ca, cert, key;
};

Pki MakePki(const TempDir& dir) {
  const std::string d = dir.path();
  WriteFile(d + "/ext.cnf",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  const std::string cmd =
      "cd '" + d +
      "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2"
      " -subj '/CN=Hygie syslog test CA' >openssl.log 2>&1"
      " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
      " -subj '/CN=127.0.0.1' >>openssl.log 2>&1"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
      " -out server.pem -days 2 -extfile ext.cnf >>openssl.log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << ReadFile(d + "/openssl.log");
  return {d + "/ca.pem", d + "/server.pem", d + "/server.key"};
}

// A real rsyslogd (Debian's) listening on 127.0.0.1:port with imtcp, writing the messages of
// app "hygie" to a file in RFC 5424 form (template RSYSLOG_SyslogProtocol23Format). With a
// Pki, the listener speaks TLS (gtls driver, mode 1, anonymous clients).
class Rsyslog {
 public:
  Rsyslog(uint16_t port, const Pki* pki) : port_(port) {
    const std::string d = dir_.path();
    std::filesystem::create_directories(d + "/work");
    std::string conf = "global(workDirectory=\"" + d + "/work\" maxMessageSize=\"64k\"";
    if (pki != nullptr) {
      conf += "\n       defaultNetstreamDriver=\"gtls\"\n       defaultNetstreamDriverCAFile=\"" +
              pki->ca + "\"\n       defaultNetstreamDriverCertFile=\"" + pki->cert +
              "\"\n       defaultNetstreamDriverKeyFile=\"" + pki->key + "\"";
    }
    conf += ")\n";
    conf += pki != nullptr ? "module(load=\"imtcp\" streamDriver.name=\"gtls\" "
                             "streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n"
                           : "module(load=\"imtcp\")\n";
    conf += "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" + std::to_string(port) +
            "\")\n"
            "if ($app-name == \"hygie\") then {\n"
            "  action(type=\"omfile\" file=\"" +
            ReceivedPath() +
            "\" template=\"RSYSLOG_SyslogProtocol23Format\")\n"
            "}\n";
    WriteFile(conf_path(), conf);
  }
  ~Rsyslog() { Stop(); }

  std::string conf_path() const { return dir_.Path("rsyslog.conf"); }
  std::string ReceivedPath() const { return dir_.Path("received.log"); }
  std::string Log() const { return ReadFile(dir_.Path("rsyslogd.out")); }

  // Starts rsyslogd in the foreground and waits until its port accepts connections.
  void Start() {
    ASSERT_EQ(pid_, -1);
    const std::string out = dir_.Path("rsyslogd.out");
    const std::string pidfile = dir_.Path("rsyslogd.pid");
    const std::string conf = conf_path();
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl(kRsyslogd, kRsyslogd, "-n", "-f", conf.c_str(), "-i", pidfile.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_TRUE(WaitUntil([&] { return Accepts(port_); }, 15000))
        << "rsyslogd did not listen on " << port_ << ": " << Log();
  }

  // SIGTERM and reap.
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  TempDir dir_{"hygie-rsyslog"};
  uint16_t port_;
  pid_t pid_ = -1;
};

// What the collector holds: for each tree, the indices received (with repeats counted).
struct Received {
  std::map<std::string, std::map<uint64_t, int>> trees;
  std::vector<std::string> lines;
};

Received Parse(const std::string& file) {
  static const std::regex kId(R"( id="([a-z0-9_-]+)/([0-9]+)\")");
  Received r;
  std::istringstream in(ReadFile(file));
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, kId)) continue;
    r.trees[m[1]][std::stoull(m[2])]++;
    r.lines.push_back(line);
  }
  return r;
}

// The indices of `tree` from 0 to the largest received that are missing.
std::vector<uint64_t> Holes(const Received& r, const std::string& tree) {
  std::vector<uint64_t> holes;
  auto it = r.trees.find(tree);
  if (it == r.trees.end() || it->second.empty()) return holes;
  const uint64_t last = it->second.rbegin()->first;
  for (uint64_t i = 0; i <= last; ++i) {
    if (!it->second.count(i)) holes.push_back(i);
  }
  return holes;
}

// True when every created resource id appears in a received record of the tenant.
bool HoldsAll(const std::string& file, const std::vector<std::string>& ids) {
  const Received r = Parse(file);
  for (const auto& id : ids) {
    const std::string needle = "\"id\":\"" + id + "\"";
    bool found = false;
    for (const auto& line : r.lines) {
      if (line.find(needle) != std::string::npos) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::string CreatePatient(HttpClient& client, const Deployment& dep, int n) {
  const std::string body = R"({"resourceType":"Patient","active":true,"name":[{"family":"Syslog)" +
                           std::to_string(n) + R"("}]})";
  HttpResponse r = client.Fhir("POST", dep.Base() + "/Patient", dep.token(), body);
  EXPECT_EQ(r.status, 201) << r.body;
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject()) return "";
  return JsonString(doc, "id");
}

// Runs the scenario: N requests reach rsyslog; rsyslog stops; M more requests; rsyslog starts
// again on the same port; every record of the tenant arrives, none missing.
void StopAndRestartCollector(const std::vector<std::string>& syslog_args, const Pki* pki,
                             uint16_t port) {
  constexpr int kFirst = 12;
  constexpr int kWhileDown = 9;
  Rsyslog collector(port, pki);
  collector.Start();
  if (::testing::Test::HasFatalFailure()) return;

  ServeOptions serve;
  serve.extra_args = syslog_args;
  Deployment dep("acme", serve);
  HttpClient client(dep.port());

  std::vector<std::string> ids;
  for (int i = 0; i < kFirst; ++i) ids.push_back(CreatePatient(client, dep, i));
  ASSERT_TRUE(WaitUntil([&] { return HoldsAll(collector.ReceivedPath(), ids); }, 30000))
      << "rsyslog did not receive the first records\nserver log:\n"
      << dep.server().Log() << "\nrsyslog:\n"
      << collector.Log();

  collector.Stop();
  const int64_t errors_before = ServerErrorResponses();
  for (int i = 0; i < kWhileDown; ++i) ids.push_back(CreatePatient(client, dep, kFirst + i));
  // The collector's absence never fails a request: the journal keeps the records.
  EXPECT_EQ(ServerErrorResponses(), errors_before);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a few refused reconnects

  collector.Start();
  ASSERT_TRUE(WaitUntil([&] { return HoldsAll(collector.ReceivedPath(), ids); }, 30000))
      << "records made while rsyslog was down did not arrive\nserver log:\n"
      << dep.server().Log() << "\nrsyslog:\n"
      << collector.Log();
  // Settle: anything still in flight lands before the final count.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));

  const Received got = Parse(collector.ReceivedPath());
  ASSERT_TRUE(got.trees.count("acme")) << ReadFile(collector.ReceivedPath());
  const auto& acme = got.trees.at("acme");
  EXPECT_EQ(acme.begin()->first, 0u);
  EXPECT_GE(acme.size(), static_cast<size_t>(kFirst + kWhileDown));
  EXPECT_EQ(Holes(got, "acme"), std::vector<uint64_t>{}) << ReadFile(collector.ReceivedPath());
  EXPECT_EQ(Holes(got, "_system"), std::vector<uint64_t>{});
  // Every message is a well-formed RFC 5424 line of app "hygie" with the record as MSG.
  static const std::regex kLine(
      R"(^<1[0-9]{2}>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[^ ]* [!-~]+ hygie - [!-~]+ )"
      R"(\[hygie@32473 tree="[a-z0-9_-]+" index="\d+" id="[a-z0-9_-]+/\d+" status="\d+"\] \{.*\}$)");
  for (const auto& line : got.lines) EXPECT_TRUE(std::regex_match(line, kLine)) << line;
  for (const auto& [tree, indices] : got.trees) {
    for (const auto& [index, times] : indices) {
      // At least once; a repeat is only the batch in flight when the collector went away.
      EXPECT_GE(times, 1) << tree << "/" << index;
    }
  }
}

class SyslogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/install-deps.sh installs rsyslog: its absence is a failure, not a reason to skip.
    ASSERT_EQ(::access(kRsyslogd, X_OK), 0) << kRsyslogd << " is not installed";
  }
};

TEST_F(SyslogTest, TcpCollectorStoppedAndRestartedMissesNothing) {
  const uint16_t port = FreePort();
  ASSERT_NE(port, 0);
  StopAndRestartCollector({"--syslog", "tcp://127.0.0.1:" + std::to_string(port)}, nullptr, port);
}

TEST_F(SyslogTest, TlsCollectorStoppedAndRestartedMissesNothing) {
  TempDir pki_dir("hygie-syslog-pki");
  const Pki pki = MakePki(pki_dir);
  ASSERT_FALSE(HasFatalFailure());
  const uint16_t port = FreePort();
  ASSERT_NE(port, 0);
  StopAndRestartCollector(
      {"--syslog", "tls://127.0.0.1:" + std::to_string(port), "--syslog-ca", pki.ca}, &pki, port);
}

TEST_F(SyslogTest, TlsCollectorWithAnUntrustedCertificateGetsNothing) {
  // The collector's certificate is signed by a CA the server was not given: no record leaves.
  TempDir trusted_dir("hygie-syslog-pki");
  TempDir other_dir("hygie-syslog-pki");
  const Pki trusted = MakePki(trusted_dir);
  const Pki other = MakePki(other_dir);
  ASSERT_FALSE(HasFatalFailure());
  const uint16_t port = FreePort();
  Rsyslog collector(port, &other);
  collector.Start();
  ASSERT_FALSE(HasFatalFailure());
  ServeOptions serve;
  serve.extra_args = {"--syslog", "tls://127.0.0.1:" + std::to_string(port), "--syslog-ca",
                      trusted.ca};
  Deployment dep("acme", serve);
  HttpClient client(dep.port());
  for (int i = 0; i < 3; ++i) CreatePatient(client, dep, i);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(Parse(collector.ReceivedPath()).lines.empty()) << ReadFile(collector.ReceivedPath());
}

}  // namespace
}  // namespace hygie::e2e
