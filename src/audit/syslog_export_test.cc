#include "audit/syslog_export.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/record.h"
#include "audit/record_source.h"
#include "core/clock.h"
#include "core/temp_dir.h"

namespace hygie::audit {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using test_support::TempDir;

// ---- FormatSyslog ----

Record SampleRecord() {
  Record r;
  r.index = 42;
  r.time_us = 1795579529123456;  // 2026-11-25T04:05:29.123456Z
  r.request_id = "req-1";
  r.tenant = "acme";
  r.subject = "dr-house";
  r.role = "practitioner";
  r.peer = "10.0.0.7";
  r.interaction = "read";
  r.action = 'R';
  r.resource_type = "Patient";
  r.resource_id = "p1";
  r.status = 200;
  return r;
}

TEST(FormatSyslogTest, HeaderStructuredDataAndMessage) {
  Record r = SampleRecord();
  const std::string json = EncodeRecord(r);
  const std::string m = FormatSyslog("acme", r, json, "node-1.example");
  EXPECT_EQ(m,
            "<110>1 2026-11-25T04:05:29.123456Z node-1.example hygie - read "
            "[hygie@32473 tree=\"acme\" index=\"42\" id=\"acme/42\" status=\"200\"] " +
                json);
  // MSG is the record JSON as is, without a BOM.
  EXPECT_EQ(m.find("\xEF\xBB\xBF"), std::string::npos);
  EXPECT_TRUE(m.ends_with(json));
}

TEST(FormatSyslogTest, SeverityFollowsStatus) {
  Record r = SampleRecord();
  const std::map<int, std::string> expected = {{200, "<110>"}, {201, "<110>"}, {304, "<110>"},
                                               {400, "<108>"}, {404, "<108>"}, {499, "<108>"},
                                               {500, "<107>"}, {503, "<107>"}};
  for (const auto& [status, pri] : expected) {
    r.status = status;
    const std::string m = FormatSyslog("acme", r, "{}", "h");
    EXPECT_TRUE(m.starts_with(pri + "1 ")) << status << ": " << m;
    EXPECT_NE(m.find("status=\"" + std::to_string(status) + "\""), std::string::npos);
  }
}

TEST(FormatSyslogTest, TimestampIsUtcWithMicroseconds) {
  Record r = SampleRecord();
  r.time_us = 0;
  EXPECT_NE(FormatSyslog("t", r, "{}", "h").find(" 1970-01-01T00:00:00.000000Z "),
            std::string::npos);
  r.time_us = 951782400000007;  // 2000-02-29T00:00:00.000007Z
  EXPECT_NE(FormatSyslog("t", r, "{}", "h").find(" 2000-02-29T00:00:00.000007Z "),
            std::string::npos);
}

TEST(FormatSyslogTest, MsgIdOnlyWhenPrintableAndShort) {
  Record r = SampleRecord();
  r.interaction = "history-instance";
  EXPECT_NE(FormatSyslog("t", r, "{}", "h").find(" hygie - history-instance ["), std::string::npos);
  for (const std::string& bad : {std::string(""), std::string(33, 'x'), std::string("has space"),
                                 std::string("caf\xC3\xA9"), std::string("tab\t")}) {
    r.interaction = bad;
    EXPECT_NE(FormatSyslog("t", r, "{}", "h").find(" hygie - - ["), std::string::npos) << bad;
  }
  r.interaction = std::string(32, 'y');
  EXPECT_NE(FormatSyslog("t", r, "{}", "h").find(" hygie - " + std::string(32, 'y') + " ["),
            std::string::npos);
}

TEST(FormatSyslogTest, ParamValuesAreEscaped) {
  Record r = SampleRecord();
  r.index = 7;
  const std::string m = FormatSyslog("a\"b\\c]d", r, "{}", "h");
  EXPECT_NE(m.find("tree=\"a\\\"b\\\\c\\]d\""), std::string::npos) << m;
  EXPECT_NE(m.find("id=\"a\\\"b\\\\c\\]d/7\""), std::string::npos) << m;
}

TEST(FormatSyslogTest, HostnameIsPrintableAscii) {
  Record r = SampleRecord();
  EXPECT_NE(FormatSyslog("t", r, "{}", "my host\n").find("Z myhost hygie "), std::string::npos);
  EXPECT_NE(FormatSyslog("t", r, "{}", "").find("Z - hygie "), std::string::npos);
  const std::string m = FormatSyslog("t", r, "{}", std::string(300, 'h'));
  EXPECT_NE(m.find("Z " + std::string(255, 'h') + " hygie "), std::string::npos);
}

// ---- Create ----

TEST(SyslogExporterTest, CreateChecksOptions) {
  TempDir dir("syslog-opts");
  FakeClock clock(0);
  class Empty : public RecordSource {
   public:
    std::vector<std::string> Trees() const override { return {}; }
    uint64_t Size(const std::string&) const override { return 0; }
    Status Read(const std::string&, uint64_t from, size_t, std::vector<std::string>*,
                uint64_t* next) const override {
      *next = from;
      return Status::Ok();
    }
  } source;
  auto make = [&](SyslogOptions o) {
    if (o.state_dir.empty()) o.state_dir = dir.Path("state");
    return SyslogExporter::Create(o, source, clock).status().code();
  };
  EXPECT_EQ(make({.url = "udp://127.0.0.1:514"}), Code::kInvalidArgument);
  EXPECT_EQ(make({.url = "tcp://127.0.0.1"}), Code::kInvalidArgument);
  EXPECT_EQ(make({.url = "tcp://127.0.0.1:0"}), Code::kInvalidArgument);
  EXPECT_EQ(make({.url = "tcp://127.0.0.1:70000"}), Code::kInvalidArgument);
  EXPECT_EQ(make({.url = "tcp://:514"}), Code::kInvalidArgument);
  EXPECT_EQ(make({.url = "tls://127.0.0.1:6514"}), Code::kInvalidArgument);  // no CA
  EXPECT_EQ(make({.url = "tls://127.0.0.1:6514", .ca_file = dir.Path("missing.pem")}),
            Code::kUnavailable);
  EXPECT_EQ(make({.url = "tcp://127.0.0.1:514", .cert_file = "c.pem"}), Code::kInvalidArgument);
  EXPECT_EQ(make({.url = "tcp://127.0.0.1:514"}), Code::kOk);
  EXPECT_EQ(make({.url = "tcp://[::1]:514"}), Code::kOk);
  EXPECT_EQ(make({.url = "tcp://collector.example:514"}), Code::kOk);
}

// ---- Delivery, with an in-memory journal and a local collector ----

// A RecordSource over records kept in memory. Records can be marked pruned (skipped by Read).
class MemorySource : public RecordSource {
 public:
  uint64_t Append(const std::string& tree, int status = 200) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& records = trees_[tree];
    Record r;
    r.index = records.size();
    r.time_us = 1795665929000000 + static_cast<int64_t>(r.index);
    r.request_id = "req-" + std::to_string(r.index);
    r.tenant = tree;
    r.subject = "s";
    r.interaction = "read";
    r.resource_type = "Patient";
    r.resource_id = "p" + std::to_string(r.index);
    r.status = status;
    records.push_back(EncodeRecord(r));
    return r.index;
  }
  void Prune(const std::string& tree, uint64_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    pruned_[tree].insert(index);
  }

  std::vector<std::string> Trees() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> names;
    for (const auto& [name, records] : trees_) names.push_back(name);
    return names;
  }
  uint64_t Size(const std::string& tree) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = trees_.find(tree);
    return it == trees_.end() ? 0 : it->second.size();
  }
  Status Read(const std::string& tree, uint64_t from, size_t max, std::vector<std::string>* out,
              uint64_t* next) const override {
    std::lock_guard<std::mutex> lock(mu_);
    *next = from;
    auto it = trees_.find(tree);
    if (it == trees_.end()) return Status::Ok();
    auto pit = pruned_.find(tree);
    for (uint64_t i = from; i < it->second.size() && i < from + max; ++i) {
      *next = i + 1;
      if (pit != pruned_.end() && pit->second.count(i)) continue;
      out->push_back(it->second[i]);
    }
    return Status::Ok();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>> trees_;
  std::map<std::string, std::set<uint64_t>> pruned_;
};

// A syslog collector on 127.0.0.1: accepts connections and parses octet-counted frames
// ("LEN SP MSG"). Kill(kGraceful) closes the listener and half-closes each connection, reading
// on until the sender closes (as a collector that shuts down cleanly); Kill(kAbrupt) closes
// everything at once.
class Collector {
 public:
  enum class Kill { kGraceful, kAbrupt };

  // With `tls`, connections speak TLS with that server context.
  explicit Collector(uint16_t port = 0, bool read = true, asio::ssl::context* tls = nullptr)
      : acceptor_(io_), read_(read), tls_(tls) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    if (!read_) acceptor_.set_option(asio::socket_base::receive_buffer_size(4096));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Collector() { Stop(Kill::kAbrupt); }

  uint16_t port() const { return port_; }

  void Stop(Kill how) {
    if (!thread_.joinable()) return;
    asio::post(io_, [this, how] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      for (auto& c : conns_) {
        if (how == Kill::kGraceful) {
          c->socket.shutdown(tcp::socket::shutdown_send, ec);
        } else {
          c->socket.close(ec);
        }
      }
    });
    // A graceful stop ends when every sender has closed; do not wait forever.
    std::thread watchdog([this] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!done_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; })) io_.stop();
    });
    thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    done_cv_.notify_all();
    watchdog.join();
    conns_.clear();
  }

  std::vector<std::string> Messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  // Waits until `n` messages were read. An acknowledgement by the TCP stack comes before the
  // collector reads the bytes, so tests wait for both.
  bool WaitForMessages(size_t n) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Messages().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Messages().size() >= n;
  }
  size_t Connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  bool FramingError() const {
    std::lock_guard<std::mutex> lock(mu_);
    return framing_error_;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::optional<asio::ssl::stream<tcp::socket&>> tls;
    std::string pending;
    std::array<char, 8192> chunk;
  };

  void Accept() {
    auto conn = std::make_shared<Conn>(io_);
    acceptor_.async_accept(conn->socket, [this, conn](const boost::system::error_code& ec) {
      if (ec) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++accepted_;
      }
      conns_.push_back(conn);
      if (tls_ != nullptr) {
        conn->tls.emplace(conn->socket, *tls_);
        conn->tls->async_handshake(asio::ssl::stream_base::server,
                                   [this, conn](const boost::system::error_code& hec) {
                                     if (hec) {
                                       boost::system::error_code ignored;
                                       conn->socket.close(ignored);
                                       return;
                                     }
                                     if (read_) Read(conn);
                                   });
      } else if (read_) {
        Read(conn);
      }
      Accept();
    });
  }

  void Read(const std::shared_ptr<Conn>& conn) {
    auto on_read = [this, conn](const boost::system::error_code& ec, size_t n) {
      if (ec) {
        boost::system::error_code ignored;
        conn->socket.close(ignored);
        return;
      }
      conn->pending.append(conn->chunk.data(), n);
      Parse(*conn);
      Read(conn);
    };
    if (conn->tls) {
      conn->tls->async_read_some(asio::buffer(conn->chunk), on_read);
    } else {
      conn->socket.async_read_some(asio::buffer(conn->chunk), on_read);
    }
  }

  void Parse(Conn& conn) {
    std::lock_guard<std::mutex> lock(mu_);
    while (true) {
      size_t sp = conn.pending.find(' ');
      if (sp == std::string::npos) return;
      size_t len = 0;
      for (size_t i = 0; i < sp; ++i) {
        if (conn.pending[i] < '0' || conn.pending[i] > '9') framing_error_ = true;
        len = len * 10 + static_cast<size_t>(conn.pending[i] - '0');
      }
      if (sp == 0) framing_error_ = true;
      if (conn.pending.size() < sp + 1 + len) return;
      messages_.push_back(conn.pending.substr(sp + 1, len));
      conn.pending.erase(0, sp + 1 + len);
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  bool read_;
  asio::ssl::context* tls_;
  uint16_t port_ = 0;
  std::vector<std::shared_ptr<Conn>> conns_;  // io thread only
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::vector<std::string> messages_;
  size_t accepted_ = 0;
  bool framing_error_ = false;
};

// The ids ("tree/index") carried by messages, in arrival order.
std::vector<std::string> Ids(const std::vector<std::string>& messages) {
  static const std::regex kId(R"( id="([^"]+)\")");
  std::vector<std::string> ids;
  for (const auto& m : messages) {
    std::smatch match;
    if (std::regex_search(m, match, kId)) ids.push_back(match[1]);
  }
  return ids;
}

std::set<std::string> ExpectedIds(const std::string& tree, uint64_t from, uint64_t to) {
  std::set<std::string> ids;
  for (uint64_t i = from; i < to; ++i) ids.insert(tree + "/" + std::to_string(i));
  return ids;
}

bool WaitUntil(const std::function<bool()>& done, int timeout_ms = 20000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A port that was free a moment ago (bound then released).
uint16_t FreePort() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

class SyslogDeliveryTest : public ::testing::Test {
 protected:
  std::unique_ptr<SyslogExporter> MakeExporter(uint16_t port, int max_backoff_ms = 200,
                                               int io_timeout_ms = 10000) {
    SyslogOptions o;
    o.url = "tcp://127.0.0.1:" + std::to_string(port);
    o.hostname = "unit-host";
    o.state_dir = dir_.Path("state");
    o.max_backoff_ms = max_backoff_ms;
    o.io_timeout_ms = io_timeout_ms;
    auto e = SyslogExporter::Create(o, source_, clock_);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }

  TempDir dir_{"syslog-export"};
  FakeClock clock_{1795665929000000};
  MemorySource source_;
};

TEST_F(SyslogDeliveryTest, AllRecordsArriveInOrder) {
  Collector collector;
  for (int i = 0; i < 300; ++i) source_.Append("acme", i % 3 == 0 ? 404 : 200);
  for (int i = 0; i < 5; ++i) source_.Append(std::string(kSystemTree));
  auto exporter = MakeExporter(collector.port());
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return collector.Messages().size() >= 305; }));
  ASSERT_TRUE(WaitUntil(
      [&] { return exporter->Confirmed("acme") == 300 && exporter->Confirmed("_system") == 5; }));
  EXPECT_TRUE(exporter->connected());
  exporter->Stop();
  EXPECT_FALSE(exporter->connected());

  const auto messages = collector.Messages();
  ASSERT_EQ(messages.size(), 305u);
  EXPECT_FALSE(collector.FramingError());
  const auto ids = Ids(messages);
  ASSERT_EQ(ids.size(), 305u);
  // Trees in name order ("_system" < "acme"), each in index order.
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(ids[i], "_system/" + std::to_string(i));
  for (size_t i = 0; i < 300; ++i) EXPECT_EQ(ids[5 + i], "acme/" + std::to_string(i));
  // Each message carries its record JSON, which decodes to the record of that index.
  for (size_t i = 0; i < 300; ++i) {
    const std::string& m = messages[5 + i];
    EXPECT_TRUE(m.starts_with(i % 3 == 0 ? "<108>1 " : "<110>1 ")) << m;
    auto r = DecodeRecord(m.substr(m.find("] ") + 2));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->index, i);
    EXPECT_EQ(r->resource_id, "p" + std::to_string(i));
  }
}

TEST_F(SyslogDeliveryTest, NotifyWakesTheExporterForNewRecords) {
  Collector collector;
  auto exporter = MakeExporter(collector.port());
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return exporter->connected(); }));
  for (int round = 0; round < 20; ++round) {
    source_.Append("acme");
    exporter->Notify();
    // Well under the 500 ms idle wake: the notification, not the timer, sent it.
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == uint64_t(round) + 1; }));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  }
  ASSERT_TRUE(collector.WaitForMessages(20));
  EXPECT_EQ(Ids(collector.Messages()).size(), 20u);
}

TEST_F(SyslogDeliveryTest, CollectorStopsMidStreamNothingMissingAfterItReturns) {
  auto collector = std::make_unique<Collector>();
  const uint16_t port = collector->port();
  auto exporter = MakeExporter(port);
  exporter->Start();

  // A writer appends records all along, the collector goes away in the middle of the stream.
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int i = 0; i < 3000 && writing.load(); ++i) {
      source_.Append("acme");
      if (i % 10 == 0) exporter->Notify();
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  ASSERT_TRUE(WaitUntil([&] { return collector->Messages().size() >= 200; }));
  collector->Stop(Collector::Kill::kGraceful);
  const auto before = collector->Messages();
  ASSERT_TRUE(WaitUntil([&] { return !exporter->connected(); }));
  writer.join();
  const uint64_t total = source_.Size("acme");
  ASSERT_GT(total, before.size());  // records were appended while the collector was away
  EXPECT_LT(exporter->Confirmed("acme"), total);

  Collector again(port);
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == total; }));
  ASSERT_TRUE(again.WaitForMessages(static_cast<size_t>(total) - before.size()));
  EXPECT_TRUE(exporter->connected());
  exporter->Stop();

  std::set<std::string> seen;
  for (const auto& id : Ids(before)) seen.insert(id);
  const auto after = Ids(again.Messages());
  for (const auto& id : after) seen.insert(id);
  EXPECT_EQ(seen, ExpectedIds("acme", 0, total));
  // The second collector got a contiguous run that ends with the last record: it resumed at
  // the cursor, with at most the unconfirmed batch sent twice.
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back(), "acme/" + std::to_string(total - 1));
  EXPECT_LE(before.size() + after.size(), total + 256);
}

TEST_F(SyslogDeliveryTest, AbruptCollectorLossWhileIdleThenRecovery) {
  auto collector = std::make_unique<Collector>();
  const uint16_t port = collector->port();
  for (int i = 0; i < 50; ++i) source_.Append("acme");
  auto exporter = MakeExporter(port);
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 50; }));
  ASSERT_TRUE(collector->WaitForMessages(50));
  collector->Stop(Collector::Kill::kAbrupt);
  EXPECT_EQ(Ids(collector->Messages()).size(), 50u);
  collector.reset();

  for (int i = 0; i < 30; ++i) source_.Append("acme");
  exporter->Notify();
  ASSERT_TRUE(WaitUntil([&] { return !exporter->connected(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few refused attempts
  EXPECT_EQ(exporter->Confirmed("acme"), 50u);

  Collector again(port);
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 80; }));
  ASSERT_TRUE(again.WaitForMessages(30));
  EXPECT_TRUE(exporter->connected());
  const auto ids = Ids(again.Messages());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), ExpectedIds("acme", 50, 80));
  EXPECT_EQ(ids.size(), 30u);
}

TEST_F(SyslogDeliveryTest, NoCollectorAtStartThenOneAppears) {
  const uint16_t port = FreePort();
  for (int i = 0; i < 10; ++i) source_.Append("acme");
  auto exporter = MakeExporter(port);
  exporter->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_FALSE(exporter->connected());
  EXPECT_EQ(exporter->Confirmed("acme"), 0u);
  Collector collector(port);
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 10; }));
  ASSERT_TRUE(collector.WaitForMessages(10));
  EXPECT_EQ(Ids(collector.Messages()).size(), 10u);
}

TEST_F(SyslogDeliveryTest, CollectorThatDoesNotReadIsAbandonedAndRecordsResent) {
  // A collector that accepts but never reads: its buffers fill, the bytes are never all
  // acknowledged, the exporter gives up after io_timeout_ms, keeps its cursor and resends
  // everything to the next collector.
  auto stalled = std::make_unique<Collector>(0, /*read=*/false);
  const uint16_t port = stalled->port();
  for (int i = 0; i < 3000; ++i) source_.Append("acme");
  auto exporter = MakeExporter(port, /*max_backoff_ms=*/200, /*io_timeout_ms=*/300);
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return stalled->Connections() >= 2; }));  // gave up, retried
  EXPECT_LT(exporter->Confirmed("acme"), 3000u);
  stalled->Stop(Collector::Kill::kAbrupt);
  stalled.reset();

  Collector collector(port);
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 3000; }));
  ASSERT_TRUE(collector.WaitForMessages(3000));
  exporter->Stop();
  const auto ids = Ids(collector.Messages());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), ExpectedIds("acme", 0, 3000));
}

TEST_F(SyslogDeliveryTest, CursorPersistsAcrossExporters) {
  {
    Collector collector;
    for (int i = 0; i < 40; ++i) source_.Append("acme");
    auto exporter = MakeExporter(collector.port());
    exporter->Start();
    ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 40; }));
    ASSERT_TRUE(collector.WaitForMessages(40));
    exporter->Stop();
    EXPECT_EQ(Ids(collector.Messages()).size(), 40u);
  }
  std::ifstream cursor_file(dir_.Path("state/acme.cursor"));
  std::string stored;
  std::getline(cursor_file, stored);
  EXPECT_EQ(stored, "40");

  for (int i = 0; i < 15; ++i) source_.Append("acme");
  Collector collector;
  auto exporter = MakeExporter(collector.port());
  EXPECT_EQ(exporter->Confirmed("acme"), 40u);  // read from the state directory
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 55; }));
  ASSERT_TRUE(collector.WaitForMessages(15));
  exporter->Stop();
  const auto ids = Ids(collector.Messages());
  // Exactly the new ones, in order: none of the 40 confirmed ones again.
  ASSERT_EQ(ids.size(), 15u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], "acme/" + std::to_string(40 + i));
}

TEST_F(SyslogDeliveryTest, PrunedRecordsAreSkipped) {
  Collector collector;
  for (int i = 0; i < 20; ++i) source_.Append("acme");
  for (uint64_t i : {0, 3, 4, 19}) source_.Prune("acme", i);
  auto exporter = MakeExporter(collector.port());
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == 20; }));
  ASSERT_TRUE(collector.WaitForMessages(16));
  exporter->Stop();
  auto expected = ExpectedIds("acme", 0, 20);
  for (const char* gone : {"acme/0", "acme/3", "acme/4", "acme/19"}) expected.erase(gone);
  const auto ids = Ids(collector.Messages());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected);
  EXPECT_EQ(ids.size(), 16u);
}

// ---- TLS ----

// A CA and certificates it signs, made with OpenSSL and written as PEM files.
class TestPki {
 public:
  explicit TestPki(const TempDir& dir, const std::string& name) : dir_(dir), name_(name) {
    ca_key_ = EVP_EC_gen("P-256");
    ca_ = Make(ca_key_, "Syslog test CA " + name, nullptr, true, "");
    Write(ca_, nullptr, ca_file());
  }
  ~TestPki() {
    X509_free(ca_);
    EVP_PKEY_free(ca_key_);
  }
  std::string ca_file() const { return dir_.Path(name_ + "-ca.pem"); }
  // A server certificate for `san` (e.g. "IP:127.0.0.1"); returns the prefix of its files
  // (<prefix>.crt, <prefix>.key).
  std::string Issue(const std::string& leaf, const std::string& san) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = Make(key, leaf, ca_key_, false, san);
    const std::string prefix = dir_.Path(name_ + "-" + leaf);
    Write(cert, key, prefix);
    X509_free(cert);
    EVP_PKEY_free(key);
    return prefix;
  }

 private:
  X509* Make(EVP_PKEY* key, const std::string& cn, EVP_PKEY* issuer_key, bool ca,
             const std::string& san) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* subject = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, ca ? subject : X509_get_subject_name(ca_));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca ? x : ca_, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      ASSERT_NE(ext, nullptr) << value;
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_subject_key_identifier, "hash");
    if (ca) {
      add(NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
      add(NID_key_usage, "critical,digitalSignature");
      add(NID_ext_key_usage, "serverAuth");
      add(NID_subject_alt_name, san);
    }
    EXPECT_GT(X509_sign(x, ca ? key : issuer_key, EVP_sha256()), 0);
    return x;
  }
  static void Write(X509* cert, EVP_PKEY* key, const std::string& path) {
    const std::string cert_path = key == nullptr ? path : path + ".crt";
    FILE* f = std::fopen(cert_path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, cert);
    std::fclose(f);
    if (key != nullptr) {
      f = std::fopen((path + ".key").c_str(), "w");
      ASSERT_NE(f, nullptr);
      PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
      std::fclose(f);
    }
  }

  const TempDir& dir_;
  std::string name_;
  EVP_PKEY* ca_key_ = nullptr;
  X509* ca_ = nullptr;
  long serial_ = 0;
};

class SyslogTlsTest : public SyslogDeliveryTest {
 protected:
  // A TLS collector with the certificate at `prefix`.
  std::unique_ptr<Collector> TlsCollector(const std::string& prefix) {
    server_tls_.emplace(asio::ssl::context::tls_server);
    server_tls_->use_certificate_chain_file(prefix + ".crt");
    server_tls_->use_private_key_file(prefix + ".key", asio::ssl::context::pem);
    return std::make_unique<Collector>(0, true, &*server_tls_);
  }
  std::unique_ptr<SyslogExporter> TlsExporter(const std::string& host, uint16_t port,
                                              const std::string& ca_file) {
    SyslogOptions o;
    o.url = "tls://" + host + ":" + std::to_string(port);
    o.ca_file = ca_file;
    o.hostname = "unit-host";
    o.state_dir = dir_.Path("state");
    o.max_backoff_ms = 200;
    auto e = SyslogExporter::Create(o, source_, clock_);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }

  std::optional<asio::ssl::context> server_tls_;
};

TEST_F(SyslogTlsTest, DeliversToAVerifiedCollector) {
  TestPki pki(dir_, "good");
  auto collector = TlsCollector(pki.Issue("collector", "IP:127.0.0.1,DNS:localhost"));
  for (int i = 0; i < 100; ++i) source_.Append("acme");
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto exporter = TlsExporter(host, collector->port(), pki.ca_file());
    exporter->Start();
    const uint64_t target = source_.Size("acme");
    ASSERT_TRUE(WaitUntil([&] { return exporter->Confirmed("acme") == target; })) << host;
    EXPECT_TRUE(exporter->connected());
    exporter->Stop();
    source_.Append("acme");  // one more for the next exporter, which resumes at the cursor
  }
  ASSERT_TRUE(collector->WaitForMessages(101));
  const auto ids = Ids(collector->Messages());
  EXPECT_EQ(ids.size(), 101u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), ExpectedIds("acme", 0, 101));
  EXPECT_FALSE(collector->FramingError());
}

TEST_F(SyslogTlsTest, RefusesACollectorSignedByAnotherCa) {
  TestPki trusted(dir_, "trusted");
  TestPki other(dir_, "other");
  auto collector = TlsCollector(other.Issue("collector", "IP:127.0.0.1"));
  for (int i = 0; i < 5; ++i) source_.Append("acme");
  auto exporter = TlsExporter("127.0.0.1", collector->port(), trusted.ca_file());
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return collector->Connections() >= 2; }));  // tried, retried
  EXPECT_FALSE(exporter->connected());
  EXPECT_EQ(exporter->Confirmed("acme"), 0u);
  EXPECT_TRUE(collector->Messages().empty());
}

TEST_F(SyslogTlsTest, RefusesACertificateForAnotherName) {
  TestPki pki(dir_, "names");
  auto collector = TlsCollector(pki.Issue("collector", "DNS:collector.example,IP:10.9.9.9"));
  for (int i = 0; i < 5; ++i) source_.Append("acme");
  auto exporter = TlsExporter("127.0.0.1", collector->port(), pki.ca_file());
  exporter->Start();
  ASSERT_TRUE(WaitUntil([&] { return collector->Connections() >= 2; }));
  EXPECT_FALSE(exporter->connected());
  EXPECT_EQ(exporter->Confirmed("acme"), 0u);
  EXPECT_TRUE(collector->Messages().empty());
}

}  // namespace
}  // namespace hygie::audit
