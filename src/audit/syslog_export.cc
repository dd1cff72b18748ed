#include "audit/syslog_export.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/thread_name.h"

namespace hygie::audit {

namespace asio = boost::asio;
using asio::ip::tcp;
using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kFacilityLogAudit = 13;
constexpr int kSeverityError = 3;
constexpr int kSeverityWarning = 4;
constexpr int kSeverityInformational = 6;
constexpr size_t kMaxMsgId = 32;
constexpr size_t kMaxHostname = 255;
constexpr size_t kBatch = 256;  // records per read and per acknowledged write
constexpr int kInitialBackoffMs = 100;
constexpr int kIdleWakeMs = 500;
constexpr Millis kSlice{100};  // how often a blocking step looks at Stop()
constexpr Millis kTlsShutdownWait{500};

bool IsPrintUsAscii(char c) { return c >= 33 && c <= 126; }

// RFC 5424 6.3.3: '"', '\' and ']' are escaped with a backslash inside PARAM-VALUE.
void AppendParamValue(std::string_view value, std::string& out) {
  for (char c : value) {
    if (c == '"' || c == '\\' || c == ']') out.push_back('\\');
    out.push_back(c);
  }
}

void AppendParam(std::string_view name, std::string_view value, std::string& out) {
  out.push_back(' ');
  out.append(name);
  out.append("=\"");
  AppendParamValue(value, out);
  out.push_back('"');
}

std::string Rfc3339Micros(int64_t micros) {
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(frac));
  return buf;
}

// Tree names become file names: only the journal's alphabet is accepted.
bool IsSafeTreeName(const std::string& tree) {
  if (tree.empty() || tree.size() > 128) return false;
  return std::all_of(tree.begin(), tree.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string CursorPath(const std::string& dir, const std::string& tree) {
  return dir + "/" + tree + ".cursor";
}

// The cursor stored in `path`; 0 when the file does not exist or does not hold a number.
uint64_t LoadCursor(const std::string& path) {
  std::ifstream in(path);
  if (!in) return 0;
  std::string text;
  std::getline(in, text);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr == text.data()) {
    log::Warn("syslog export: unreadable cursor file {}; the tree is resent from its start", path);
    return 0;
  }
  return v;
}

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
};

Result<Endpoint> ParseUrl(const std::string& url) {
  Endpoint e;
  std::string_view rest = url;
  if (rest.starts_with("tcp://")) {
    rest.remove_prefix(6);
  } else if (rest.starts_with("tls://")) {
    e.tls = true;
    rest.remove_prefix(6);
  } else {
    return InvalidArgument("syslog URL must start with tcp:// or tls://: " + url);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t colon;
  if (rest.starts_with("[")) {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return InvalidArgument("syslog URL needs host:port: " + url);
    }
    e.host = std::string(rest.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = rest.rfind(':');
    if (colon == std::string_view::npos) return InvalidArgument("syslog URL needs a port: " + url);
    e.host = std::string(rest.substr(0, colon));
  }
  e.port = std::string(rest.substr(colon + 1));
  int port = 0;
  auto [ptr, ec] = std::from_chars(e.port.data(), e.port.data() + e.port.size(), port);
  if (e.host.empty() || ec != std::errc() || ptr != e.port.data() + e.port.size() || port < 1 ||
      port > 65535) {
    return InvalidArgument("syslog URL needs host:port with a port in 1..65535: " + url);
  }
  if (e.host.find_first_of("/?#@ ") != std::string::npos) {
    return InvalidArgument("syslog URL host is malformed: " + url);
  }
  return e;
}

std::string LocalHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "-";
  return buf;
}

}  // namespace

std::string FormatSyslog(const std::string& tree, const Record& r, std::string_view record_json,
                         std::string_view hostname) {
  const int severity = r.status >= 500   ? kSeverityError
                       : r.status >= 400 ? kSeverityWarning
                                         : kSeverityInformational;
  const std::string index = std::to_string(r.index);
  std::string out;
  out.reserve(160 + tree.size() * 2 + record_json.size());
  out.push_back('<');
  out.append(std::to_string(kFacilityLogAudit * 8 + severity));
  out.append(">1 ");
  out.append(Rfc3339Micros(r.time_us));
  out.push_back(' ');
  std::string host;
  for (char c : hostname) {
    if (host.size() == kMaxHostname) break;
    if (IsPrintUsAscii(c)) host.push_back(c);
  }
  out.append(host.empty() ? "-" : host);
  out.append(" hygie - ");
  const bool msgid_ok = !r.interaction.empty() && r.interaction.size() <= kMaxMsgId &&
                        std::all_of(r.interaction.begin(), r.interaction.end(), IsPrintUsAscii);
  out.append(msgid_ok ? r.interaction : "-");
  out.append(" [hygie@32473");
  AppendParam("tree", tree, out);
  AppendParam("index", index, out);
  AppendParam("id", tree + "/" + index, out);
  AppendParam("status", std::to_string(r.status), out);
  out.append("] ");
  out.append(record_json);
  return out;
}

// ---- The connection ----

struct SyslogExporter::Impl {
  Endpoint endpoint;
  Millis io_timeout{10000};
  asio::io_context io;
  std::optional<asio::ssl::context> tls_context;
  std::optional<tcp::socket> plain;
  std::optional<asio::ssl::stream<tcp::socket>> tls;

  bool open() const { return plain.has_value() || tls.has_value(); }

  tcp::socket& Socket() { return tls ? tls->next_layer() : *plain; }

  void Close() {
    boost::system::error_code ec;
    if (open()) Socket().close(ec);
    tls.reset();
    plain.reset();
  }

  // Runs the pending asynchronous operation until it completes, `timeout` passes or `stop` is
  // set; in the last two cases `cancel` runs (by default: close the socket) and the
  // operation's handler is let finish.
  Status RunOne(const std::atomic<bool>& stop, const char* what,
                const std::function<void()>& cancel = {}) {
    return RunFor(&stop, io_timeout, what, cancel);
  }
  Status RunFor(const std::atomic<bool>* stop, SteadyClock::duration timeout, const char* what,
                const std::function<void()>& cancel = {}) {
    io.restart();
    const auto deadline = SteadyClock::now() + timeout;
    while (!io.stopped()) {
      const auto now = SteadyClock::now();
      const bool stopped = stop != nullptr && stop->load();
      if (stopped || now >= deadline) {
        if (cancel) {
          cancel();
        } else if (open()) {
          boost::system::error_code ec;
          Socket().close(ec);
        }
        io.restart();
        io.run();
        return Unavailable(std::string(what) + (stopped ? ": stopped" : ": timed out"));
      }
      io.run_for(std::min<SteadyClock::duration>(kSlice, deadline - now));
    }
    return Status::Ok();
  }

  // Ends the connection; a TLS session that still works is closed with a close_notify alert
  // first (waiting a moment for the collector's answer), so the collector sees a clean end.
  void CloseGracefully() {
    if (tls) {
      tls->async_shutdown([](const boost::system::error_code&) {});
      RunFor(nullptr, kTlsShutdownWait, "TLS shutdown").IgnoreError();
    }
    Close();
  }

  Status Connect(const std::atomic<bool>& stop) {
    Close();
    boost::system::error_code ec;
    tcp::resolver::results_type results;
    tcp::resolver resolver(io);
    resolver.async_resolve(endpoint.host, endpoint.port,
                           [&](const boost::system::error_code& e, tcp::resolver::results_type r) {
                             ec = e;
                             results = std::move(r);
                           });
    Status s = RunOne(stop, "resolve", [&] { resolver.cancel(); });
    if (!s.ok()) return s;
    if (ec) return Unavailable("cannot resolve " + endpoint.host + ": " + ec.message());

    if (endpoint.tls) {
      tls.emplace(io, *tls_context);
    } else {
      plain.emplace(io);
    }
    asio::async_connect(Socket(), results,
                        [&](const boost::system::error_code& e, const tcp::endpoint&) { ec = e; });
    s = RunOne(stop, "connect");
    if (s.ok() && ec) s = Unavailable("connect: " + ec.message());
    if (!s.ok()) {
      Close();
      return s;
    }
    Socket().set_option(asio::socket_base::keep_alive(true), ec);

    if (endpoint.tls) {
      boost::system::error_code addr_ec;
      asio::ip::make_address(endpoint.host, addr_ec);
      // SNI carries host names only (RFC 6066 section 3), never address literals.
      if (addr_ec && !SSL_set_tlsext_host_name(tls->native_handle(), endpoint.host.c_str())) {
        Close();
        return Unavailable("TLS: cannot set the server name");
      }
      tls->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      auto name_mismatch = std::make_shared<bool>(false);
      tls->set_verify_callback(
          [name_mismatch, check = asio::ssl::host_name_verification(endpoint.host)](
              bool preverified, asio::ssl::verify_context& ctx) mutable {
            const bool ok = check(preverified, ctx);
            if (preverified && !ok) *name_mismatch = true;
            return ok;
          });
      tls->async_handshake(asio::ssl::stream_base::client,
                           [&](const boost::system::error_code& e) { ec = e; });
      s = RunOne(stop, "TLS handshake");
      if (s.ok() && ec) {
        std::string reason = ec.message();
        const long verify = SSL_get_verify_result(tls->native_handle());
        if (*name_mismatch) {
          reason += " (the certificate does not name " + endpoint.host + ")";
        } else if (verify != X509_V_OK) {
          reason += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        }
        s = Unavailable("TLS handshake: " + reason);
      }
      if (!s.ok()) {
        Close();
        return s;
      }
    }
    return Status::Ok();
  }

  // True when the collector has closed or reset the connection (seen without reading).
  bool PeerGone() {
    if (!open()) return true;
    pollfd p{};
    p.fd = Socket().native_handle();
    p.events = POLLRDHUP;
    if (::poll(&p, 1, 0) < 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
  }

  Status Send(std::string_view data, const std::atomic<bool>& stop) {
    boost::system::error_code ec;
    auto done = [&](const boost::system::error_code& e, size_t) { ec = e; };
    if (tls) {
      asio::async_write(*tls, asio::buffer(data.data(), data.size()), done);
    } else {
      asio::async_write(*plain, asio::buffer(data.data(), data.size()), done);
    }
    HYGIE_RETURN_IF_ERROR(RunOne(stop, "send"));
    if (ec) return Unavailable("send: " + ec.message());
    return Status::Ok();
  }

  // Waits until the collector's TCP stack has acknowledged every byte written (the kernel's
  // unacknowledged + unsent count, SIOCOUTQ, is 0) on a connection still open.
  Status WaitAcknowledged(const std::atomic<bool>& stop) {
    const int fd = Socket().native_handle();
    const auto deadline = SteadyClock::now() + io_timeout;
    auto pause = std::chrono::microseconds(200);
    while (true) {
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) return Unavailable(std::string("connection: ") + std::strerror(err));
      tcp_info info{};
      len = sizeof(info);
      if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
        return Unavailable(std::string("TCP_INFO: ") + std::strerror(errno));
      }
      if (info.tcpi_state != TCP_ESTABLISHED && info.tcpi_state != TCP_CLOSE_WAIT) {
        return Unavailable("connection closed by the collector");
      }
      int pending = 0;
      if (::ioctl(fd, SIOCOUTQ, &pending) != 0) {
        return Unavailable(std::string("SIOCOUTQ: ") + std::strerror(errno));
      }
      if (pending == 0) return Status::Ok();
      if (stop.load()) return Unavailable("acknowledgement: stopped");
      if (SteadyClock::now() >= deadline) {
        return Unavailable("the collector did not acknowledge " + std::to_string(pending) +
                           " bytes in time");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(50));
    }
  }
};

// ---- The exporter ----

Result<std::unique_ptr<SyslogExporter>> SyslogExporter::Create(SyslogOptions options,
                                                               const RecordSource& source,
                                                               const Clock& clock) {
  HYGIE_ASSIGN_OR_RETURN(Endpoint endpoint, ParseUrl(options.url));
  if (options.state_dir.empty()) return InvalidArgument("syslog export needs a state directory");
  if (options.max_backoff_ms < kInitialBackoffMs) options.max_backoff_ms = kInitialBackoffMs;
  if (options.io_timeout_ms <= 0) return InvalidArgument("syslog io_timeout_ms must be positive");
  if (options.cert_file.empty() != options.key_file.empty()) {
    return InvalidArgument("syslog client certificate needs both a certificate and a key file");
  }
  if (endpoint.tls && options.ca_file.empty()) {
    return InvalidArgument("syslog over TLS needs a CA file to verify the collector");
  }
  std::error_code fs_ec;
  std::filesystem::create_directories(options.state_dir, fs_ec);
  if (fs_ec || !std::filesystem::is_directory(options.state_dir)) {
    return Unavailable("cannot make the syslog state directory " + options.state_dir);
  }
  if (options.hostname.empty()) options.hostname = LocalHostname();

  auto impl = std::make_unique<Impl>();
  impl->endpoint = endpoint;
  impl->io_timeout = Millis(options.io_timeout_ms);
  if (endpoint.tls) {
    impl->tls_context.emplace(asio::ssl::context::tls_client);
    auto& ctx = *impl->tls_context;
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
      return Internal("TLS: cannot require TLS 1.2");
    }
    boost::system::error_code ec;
    ctx.load_verify_file(options.ca_file, ec);
    if (ec) return Unavailable("cannot load the syslog CA file " + options.ca_file);
    ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    if (!options.cert_file.empty()) {
      ctx.use_certificate_chain_file(options.cert_file, ec);
      if (ec) return Unavailable("cannot load the syslog client certificate " + options.cert_file);
      ctx.use_private_key_file(options.key_file, asio::ssl::context::pem, ec);
      if (ec) return Unavailable("cannot load the syslog client key " + options.key_file);
    }
  }
  std::unique_ptr<SyslogExporter> exporter(new SyslogExporter(std::move(options), source, clock));
  exporter->impl_ = std::move(impl);
  return exporter;
}

SyslogExporter::SyslogExporter(SyslogOptions options, const RecordSource& source,
                               const Clock& clock)
    : options_(std::move(options)), source_(source), clock_(clock) {}

SyslogExporter::~SyslogExporter() { Stop(); }

void SyslogExporter::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] {
    SetThreadName("syslog");
    Run();
  });
}

void SyslogExporter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SyslogExporter::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

uint64_t SyslogExporter::Confirmed(const std::string& tree) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cursors_.find(tree);
    if (it != cursors_.end()) return it->second;
  }
  if (!IsSafeTreeName(tree)) return 0;
  return LoadCursor(CursorPath(options_.state_dir, tree));
}

uint64_t SyslogExporter::Cursor(const std::string& tree) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cursors_.find(tree);
    if (it != cursors_.end()) return it->second;
  }
  const uint64_t cursor = LoadCursor(CursorPath(options_.state_dir, tree));
  std::lock_guard<std::mutex> lock(mu_);
  cursors_[tree] = cursor;
  return cursor;
}

Status SyslogExporter::PersistCursor(const std::string& tree, uint64_t next) {
  const std::string path = CursorPath(options_.state_dir, tree);
  Status s = options_.env->WriteFileAtomic(path, std::to_string(next) + "\n", 0600);
  if (!s.ok()) return Unavailable("cannot write " + path + ": " + s.message());
  std::lock_guard<std::mutex> lock(mu_);
  cursors_[tree] = next;
  return Status::Ok();
}

void SyslogExporter::Wait(int ms, bool wake_on_notify) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, Millis(ms), [&] { return stop_.load() || (wake_on_notify && notified_); });
  if (wake_on_notify) notified_ = false;
}

void SyslogExporter::Run() {
  int backoff = kInitialBackoffMs;
  while (!stopping()) {
    Status s = ExportAll();
    if (stopping()) break;
    if (!s.ok()) {
      OnFailure(s);
      Wait(backoff, /*wake_on_notify=*/false);
      backoff = std::min(backoff * 2, options_.max_backoff_ms);
      continue;
    }
    backoff = kInitialBackoffMs;
    Wait(kIdleWakeMs, /*wake_on_notify=*/true);
  }
  if (connected_.load() && !impl_->PeerGone()) {
    impl_->CloseGracefully();
  } else {
    impl_->Close();
  }
  connected_.store(false);
}

void SyslogExporter::OnFailure(const Status& status) {
  impl_->Close();
  connected_.store(false);
  if (!failing_) {
    failing_ = true;
    log::Warn("syslog export to {}: {}; records stay in the journal and are sent on recovery",
              options_.url, status.message());
  } else {
    log::Debug("syslog export to {}: {}", options_.url, status.message());
  }
}

Status SyslogExporter::ExportAll() {
  if (!impl_->open() || impl_->PeerGone()) {
    if (impl_->open()) {
      impl_->Close();
      connected_.store(false);
    }
    HYGIE_RETURN_IF_ERROR(impl_->Connect(stop_));
    connected_.store(true);
    if (failing_) {
      log::Info("syslog export to {}: connection restored", options_.url);
    } else if (!ever_connected_) {
      log::Info("syslog export to {}: connected", options_.url);
    }
    failing_ = false;
    ever_connected_ = true;
  }
  for (const std::string& tree : source_.Trees()) {
    if (stopping()) break;
    if (!IsSafeTreeName(tree)) continue;
    HYGIE_RETURN_IF_ERROR(ExportTree(tree));
  }
  return Status::Ok();
}

Status SyslogExporter::ExportTree(const std::string& tree) {
  uint64_t cursor = Cursor(tree);
  while (!stopping() && cursor < source_.Size(tree)) {
    std::vector<std::string> texts;
    uint64_t next = cursor;
    HYGIE_RETURN_IF_ERROR(source_.Read(tree, cursor, kBatch, &texts, &next));
    if (next <= cursor) break;  // nothing durable beyond the cursor yet
    const bool contiguous = texts.size() == next - cursor;
    std::string frames;
    for (size_t i = 0; i < texts.size(); ++i) {
      Result<Record> record = DecodeRecord(texts[i]);
      Record r;
      if (record.ok()) {
        r = std::move(*record);
      } else {
        // Sent anyway, flagged as an error: the collector must see every record, and `hygie
        // audit verify` names the damage.
        log::Error("syslog export: record {} of tree {} does not decode: {}",
                   contiguous ? cursor + i : cursor, tree, record.status().message());
        r.index = contiguous ? cursor + i : cursor;
        r.time_us = clock_.NowMicros();
        r.status = 500;
      }
      const std::string message = FormatSyslog(tree, r, texts[i], options_.hostname);
      frames.append(std::to_string(message.size()));
      frames.push_back(' ');
      frames.append(message);
    }
    if (!frames.empty()) {
      if (impl_->PeerGone()) return Unavailable("connection closed by the collector");
      HYGIE_RETURN_IF_ERROR(impl_->Send(frames, stop_));
      HYGIE_RETURN_IF_ERROR(impl_->WaitAcknowledged(stop_));
    }
    HYGIE_RETURN_IF_ERROR(PersistCursor(tree, next));
    cursor = next;
  }
  return Status::Ok();
}

}  // namespace hygie::audit
