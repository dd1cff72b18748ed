// loadgen: a keep-alive HTTP/1.1 load generator for Hygie's FHIR API (Boost.Beast/Asio).
//
// --concurrency connections each keep exactly one request in flight (closed loop), spread
// over --threads io threads (one io_context per thread, no locks on the request path). For
// read/update/mixed, --preload resources are first created through the API and their ids
// kept. Then the load runs for --warmup + --duration seconds; only responses that complete
// inside the --duration window are counted. Latency is measured per request with
// steady_clock from just before the write to the end of the response, into a log-linear
// histogram (bench/histogram.h).
//
// Exit code: 0 when at most 0.1% of the counted requests failed (non-2xx or connection
// error), 1 otherwise or when the preload failed, 2 on a usage error.

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <CLI/CLI.hpp>
// GCC 12 with -fsanitize=address reports a false maybe-uninitialized inside Beast's parser
// (boost::optional<uint64_t> returned as boost::none); it is reported at the header's lines.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include "bodies.h"
#include "histogram.h"

namespace hygie::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

enum Op { kCreate = 0, kRead = 1, kUpdate = 2, kNumOps = 3 };
constexpr std::array<std::string_view, kNumOps> kOpNames = {"create", "read", "update"};

enum ErrorKind { kConnectError = 0, kWriteError, kReadError, kTimeout, kNoId, kNumErrorKinds };
constexpr std::array<std::string_view, kNumErrorKinds> kErrorNames = {"connect", "write", "read",
                                                                      "timeout", "no_id"};

constexpr int kMaxStatus = 600;  // statuses >= this are counted in the last slot
constexpr double kMaxFailedFraction = 0.001;

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string tenant = "bench";
  std::string token;
  std::string token_file;
  int concurrency = 16;
  double duration_s = 10;
  double warmup_s = 2;
  int threads = 1;
  std::string mode = "create";
  std::string type = "Patient";
  int64_t preload = 1000;
  std::string mix = "70:20:10";
  double timeout_s = 30;
  std::vector<std::string> headers;
  bool json = false;
};

// What every connection of a run reads; immutable while the run goes (except `budget`).
struct RunSpec {
  std::vector<tcp::endpoint> endpoints;
  std::string type_base;      // e.g. /fhir/acme/Patient
  std::string fixed_headers;  // "Host: ...\r\n" and every other per-run header line
  const BodyTemplate* body = nullptr;
  bool nir_unique = false;             // Patient: the unique value is an NIR
  std::array<int, kNumOps> mix_cum{};  // cumulative percentages, create/read/update
  const std::vector<std::string>* ids = nullptr;
  int concurrency = 1;
  SteadyClock::duration timeout{};
  SteadyClock::time_point window_start{};
  SteadyClock::time_point window_end = SteadyClock::time_point::max();
  bool timed_end = false;                  // stop at window_end
  std::atomic<int64_t>* budget = nullptr;  // requests left to send; nullptr = unbounded
  bool collect_ids = false;
  uint64_t unique_base = 0;
};

struct Stats {
  std::array<LatencyHistogram, kNumOps> latency;  // 2xx responses, per operation
  std::array<uint64_t, kNumOps> non2xx{};         // non-2xx responses, per operation
  std::array<uint64_t, kMaxStatus> status{};      // every response, by status code
  std::array<uint64_t, kNumErrorKinds> errors{};
  uint64_t reconnects = 0;

  void Merge(const Stats& o) {
    for (int i = 0; i < kNumOps; ++i) {
      latency[i].Merge(o.latency[i]);
      non2xx[i] += o.non2xx[i];
    }
    for (int i = 0; i < kMaxStatus; ++i) status[i] += o.status[i];
    for (int i = 0; i < kNumErrorKinds; ++i) errors[i] += o.errors[i];
    reconnects += o.reconnects;
  }
  uint64_t Ok() const {
    uint64_t n = 0;
    for (const auto& h : latency) n += h.count();
    return n;
  }
  uint64_t Non2xx() const {
    uint64_t n = 0;
    for (uint64_t v : non2xx) n += v;
    return n;
  }
  uint64_t Errors() const {
    uint64_t n = 0;
    for (uint64_t v : errors) n += v;
    return n;
  }
};

// The id of a created resource: from a Location .../{type}/{id}/_history/{v} (or ending in
// .../{type}/{id}), else from the body's "id". Empty if neither has one.
std::string ExtractId(std::string_view location, std::string_view body) {
  if (!location.empty()) {
    size_t end = location.find("/_history");
    if (end == std::string_view::npos) {
      end = location.size();
      while (end > 0 && location[end - 1] == '/') --end;
    }
    const size_t slash = location.rfind('/', end == 0 ? 0 : end - 1);
    if (slash != std::string_view::npos && slash + 1 < end) {
      return std::string(location.substr(slash + 1, end - slash - 1));
    }
  }
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  auto it = doc.FindMember("id");
  if (it == doc.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// A Beast response parser that keeps only what loadgen needs: the status, keep-alive (from
// basic_parser) and, when asked, the Location header and the body. No allocation per response
// beyond growing the two strings once.
class LeanResponseParser final : public http::basic_parser<false> {
 public:
  // `location` and `body` are cleared and filled only if `keep` is true.
  LeanResponseParser(bool keep, std::string* location, std::string* body)
      : keep_(keep), location_(location), body_(body) {
    if (keep_) {
      location_->clear();
      body_->clear();
    }
  }
  int status() const { return status_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       error_code& ec) override {
    ec = http::error::bad_method;  // never called for a response parser
  }
  void on_response_impl(int code, beast::string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(http::field name, beast::string_view, beast::string_view value,
                     error_code&) override {
    if (keep_ && name == http::field::location) location_->assign(value.data(), value.size());
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>&, error_code&) override {}
  size_t on_body_impl(beast::string_view body, error_code&) override {
    if (keep_) body_->append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, error_code&) override {
    if (keep_) body_->append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  const bool keep_;
  std::string* const location_;
  std::string* const body_;
  int status_ = 0;
};

class Worker;

// One keep-alive connection with one request in flight. Runs on its worker's thread only.
class Connection {
 public:
  Connection(Worker& worker, int index);
  void Start() { Connect(); }
  void Stop();
  // Called by the worker's watchdog: fails the request in flight if it is overdue.
  void CheckTimeout(SteadyClock::time_point now);

 private:
  enum class State { kIdle, kConnecting, kInFlight, kBackoff, kDone };

  void Connect();
  void OnConnect(const error_code& ec);
  void SendNext();
  void OnWrite(const error_code& ec);
  void OnRead(const error_code& ec);
  void Fail(ErrorKind kind);
  void Reconnect(bool backoff);
  // Budget runs (the preload): sends nothing more on this connection.
  void Finish();
  // Budget runs: stops every connection of the run at its next send, and this one now.
  void AbortBudgetRun();
  void PrepareRequest(Op op);
  Op PickOp();
  const std::string& PickId(Op op);
  uint64_t NextRandom();

  Worker& worker_;
  const RunSpec& spec_;
  const int index_;
  tcp::socket socket_;
  asio::steady_timer backoff_;
  beast::flat_buffer buffer_;
  std::string head_;  // request line and headers, serialized here (no parsing involved)
  std::string body_;
  std::string target_;
  std::optional<LeanResponseParser> parser_;
  std::string location_;       // of the last response, when collecting ids
  std::string response_body_;  // of the last response, when collecting ids
  std::array<char, 32> unique_{};
  uint64_t sequence_ = 0;
  uint64_t rng_;
  State state_ = State::kIdle;
  bool timed_out_ = false;
  Op op_ = kCreate;
  SteadyClock::time_point started_{};
};

// One io_context, its thread, its connections and their statistics.
class Worker {
 public:
  explicit Worker(const RunSpec& spec) : spec_(spec), io_(1), watchdog_(io_), end_timer_(io_) {}

  void AddConnection(int index) {
    connections_.push_back(std::make_unique<Connection>(*this, index));
  }

  void Run() {
    active_ = static_cast<int>(connections_.size());
    if (active_ == 0) return;
    for (auto& c : connections_) c->Start();
    ArmWatchdog();
    if (spec_.timed_end) {
      end_timer_.expires_at(spec_.window_end);
      end_timer_.async_wait([this](const error_code& ec) {
        if (!ec) Stop();
      });
    }
    io_.run();
  }

  bool stopping() const { return stopping_; }
  const RunSpec& spec() const { return spec_; }
  asio::io_context& io() { return io_; }
  Stats& stats() { return stats_; }
  std::vector<std::string>& ids() { return ids_; }

  // A connection that will send nothing more (budget spent).
  void ConnectionDone() {
    if (--active_ == 0) {
      watchdog_.cancel();
      end_timer_.cancel();
    }
  }

 private:
  void Stop() {
    stopping_ = true;
    watchdog_.cancel();
    for (auto& c : connections_) c->Stop();
  }

  void ArmWatchdog() {
    watchdog_.expires_after(std::chrono::milliseconds(200));
    watchdog_.async_wait([this](const error_code& ec) {
      if (ec || stopping_) return;
      const auto now = SteadyClock::now();
      for (auto& c : connections_) c->CheckTimeout(now);
      ArmWatchdog();
    });
  }

  const RunSpec& spec_;
  asio::io_context io_;
  asio::steady_timer watchdog_;
  asio::steady_timer end_timer_;
  Stats stats_;
  std::vector<std::string> ids_;
  bool stopping_ = false;
  int active_ = 0;
  std::vector<std::unique_ptr<Connection>> connections_;
};

Connection::Connection(Worker& worker, int index)
    : worker_(worker),
      spec_(worker.spec()),
      index_(index),
      socket_(worker.io()),
      backoff_(worker.io()),
      rng_(((0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index + 1)) ^ spec_.unique_base) | 1) {
  target_.reserve(spec_.type_base.size() + 80);
  head_.reserve(spec_.fixed_headers.size() + target_.capacity() + 128);
  body_.reserve(4096);
}

uint64_t Connection::NextRandom() {  // xorshift64*
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1Dull;
}

void Connection::Stop() {
  state_ = State::kDone;
  error_code ignored;
  socket_.close(ignored);
  backoff_.cancel();
}

void Connection::CheckTimeout(SteadyClock::time_point now) {
  if ((state_ != State::kConnecting && state_ != State::kInFlight) ||
      now - started_ < spec_.timeout) {
    return;
  }
  if (now >= spec_.window_start && now < spec_.window_end) ++worker_.stats().errors[kTimeout];
  timed_out_ = true;
  error_code ignored;
  socket_.close(ignored);  // the pending handler sees operation_aborted and reconnects
}

void Connection::Connect() {
  state_ = State::kConnecting;
  started_ = SteadyClock::now();
  asio::async_connect(socket_, spec_.endpoints,
                      [this](const error_code& ec, const tcp::endpoint&) { OnConnect(ec); });
}

void Connection::OnConnect(const error_code& ec) {
  if (worker_.stopping()) return;
  if (ec) {
    Fail(kConnectError);
    return;
  }
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  buffer_.clear();
  SendNext();
}

void Connection::Fail(ErrorKind kind) {
  const bool counted_already = timed_out_;
  timed_out_ = false;
  const auto now = SteadyClock::now();
  if (!counted_already && now >= spec_.window_start && now < spec_.window_end) {
    ++worker_.stats().errors[kind];
  }
  if (spec_.budget != nullptr) {  // the preload stops at its first failure and reports it
    AbortBudgetRun();
    return;
  }
  Reconnect(/*backoff=*/kind == kConnectError);
}

void Connection::AbortBudgetRun() {
  spec_.budget->store(0);
  Finish();
}

void Connection::Finish() {
  state_ = State::kDone;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  worker_.ConnectionDone();
}

void Connection::Reconnect(bool backoff) {
  const auto now = SteadyClock::now();
  if (now >= spec_.window_start && now < spec_.window_end) ++worker_.stats().reconnects;
  error_code ignored;
  socket_.close(ignored);
  if (!backoff) {
    Connect();
    return;
  }
  state_ = State::kBackoff;
  backoff_.expires_after(std::chrono::milliseconds(100));
  backoff_.async_wait([this](const error_code& ec) {
    if (!ec && !worker_.stopping()) Connect();
  });
}

Op Connection::PickOp() {
  const int r = static_cast<int>(NextRandom() % 100);
  for (int op = 0; op < kNumOps; ++op) {
    if (r < spec_.mix_cum[op]) return static_cast<Op>(op);
  }
  return kCreate;
}

const std::string& Connection::PickId(Op op) {
  const std::vector<std::string>& ids = *spec_.ids;
  const uint64_t n = ids.size();
  const uint64_t c = static_cast<uint64_t>(spec_.concurrency);
  if (op == kUpdate && n >= c) {
    // Each connection updates only ids i with i % concurrency == its index, so two requests
    // in flight never update the same resource (no self-inflicted version conflicts).
    const uint64_t mine = (n - index_ + c - 1) / c;
    return ids[index_ + c * (NextRandom() % mine)];
  }
  return ids[NextRandom() % n];
}

void Connection::PrepareRequest(Op op) {
  target_.assign(spec_.type_base);
  if (op != kCreate) {
    target_.push_back('/');
    target_.append(PickId(op));
  }
  head_.assign(op == kCreate ? "POST " : op == kRead ? "GET " : "PUT ");
  head_.append(target_);
  head_.append(" HTTP/1.1\r\n");
  head_.append(spec_.fixed_headers);
  if (op == kRead) {
    body_.clear();
  } else {
    const uint64_t n = spec_.unique_base + static_cast<uint64_t>(index_) +
                       static_cast<uint64_t>(spec_.concurrency) * sequence_++;
    std::string_view unique;
    if (spec_.nir_unique) {
      FormatNir(n, unique_.data());
      unique = std::string_view(unique_.data(), 15);
    } else {
      auto [end, ec] = std::to_chars(unique_.data(), unique_.data() + unique_.size(), n);
      unique = std::string_view(unique_.data(), end - unique_.data());
    }
    const std::string_view id =
        op == kUpdate ? std::string_view(target_).substr(spec_.type_base.size() + 1) : "";
    spec_.body->Render(id, unique, &body_);
    std::array<char, 24> length{};
    auto [end, ec] = std::to_chars(length.data(), length.data() + length.size(), body_.size());
    head_.append("Content-Type: application/fhir+json\r\nContent-Length: ");
    head_.append(length.data(), end);
    head_.append("\r\n");
  }
  head_.append("\r\n");
}

void Connection::SendNext() {
  if (spec_.budget != nullptr && spec_.budget->fetch_sub(1) <= 0) {
    Finish();
    return;
  }
  op_ = spec_.mix_cum[kCreate] >= 100 ? kCreate : PickOp();
  PrepareRequest(op_);
  state_ = State::kInFlight;
  started_ = SteadyClock::now();
  const std::array<asio::const_buffer, 2> buffers = {asio::buffer(head_), asio::buffer(body_)};
  asio::async_write(socket_, buffers, [this](const error_code& ec, size_t) { OnWrite(ec); });
}

void Connection::OnWrite(const error_code& ec) {
  if (worker_.stopping()) return;
  if (ec) {
    Fail(kWriteError);
    return;
  }
  parser_.emplace(spec_.collect_ids, &location_, &response_body_);
  http::async_read(socket_, buffer_, *parser_,
                   [this](const error_code& ec, size_t) { OnRead(ec); });
}

void Connection::OnRead(const error_code& ec) {
  const auto now = SteadyClock::now();
  if (worker_.stopping()) return;
  if (ec) {
    Fail(kReadError);
    return;
  }
  const int status = std::min(parser_->status(), kMaxStatus - 1);
  const bool ok = status >= 200 && status < 300;
  Stats& stats = worker_.stats();
  if (now >= spec_.window_start && now < spec_.window_end) {
    ++stats.status[status];
    if (ok) {
      stats.latency[op_].Record(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_).count());
    } else {
      ++stats.non2xx[op_];
    }
  }
  if (spec_.collect_ids && op_ == kCreate) {
    std::string id = ok ? ExtractId(location_, response_body_) : std::string();
    if (ok && id.empty()) ++stats.errors[kNoId];
    if (id.empty()) {
      AbortBudgetRun();
      return;
    }
    worker_.ids().push_back(std::move(id));
  }
  if (!parser_->keep_alive()) {
    Reconnect(/*backoff=*/false);
    return;
  }
  SendNext();
}

// Runs `spec` with the given connections over `threads` workers; returns the merged stats
// and, if spec.collect_ids, the created ids in *ids.
Stats RunLoad(const RunSpec& spec, int threads, std::vector<std::string>* ids) {
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(spec));
  for (int c = 0; c < spec.concurrency; ++c) workers[c % threads]->AddConnection(c);
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->Run(); });
  for (auto& t : running) t.join();
  Stats total;
  for (auto& w : workers) {
    total.Merge(w->stats());
    if (ids != nullptr) {
      ids->insert(ids->end(), std::make_move_iterator(w->ids().begin()),
                  std::make_move_iterator(w->ids().end()));
    }
  }
  return total;
}

// Parses http://host[:port][/prefix]. Returns false with *error set otherwise.
bool ParseUrl(std::string_view url, std::string* host, std::string* port, std::string* prefix,
              std::string* error) {
  constexpr std::string_view kHttp = "http://";
  if (url.starts_with("https://")) {
    *error = "https is not supported yet: use an http:// URL (e.g. a loopback listener)";
    return false;
  }
  if (!url.starts_with(kHttp)) {
    *error = "--url must start with http://";
    return false;
  }
  url.remove_prefix(kHttp.size());
  const size_t path_at = url.find('/');
  std::string_view authority = url.substr(0, path_at);
  *prefix = path_at == std::string_view::npos ? "" : std::string(url.substr(path_at));
  while (!prefix->empty() && prefix->back() == '/') prefix->pop_back();
  *port = "80";
  if (authority.starts_with('[')) {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "bad IPv6 address in --url";
      return false;
    }
    *host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (rest.starts_with(':')) *port = std::string(rest.substr(1));
  } else {
    const size_t colon = authority.rfind(':');
    *host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) *port = std::string(authority.substr(colon + 1));
  }
  if (host->empty() || port->empty()) {
    *error = "--url needs a host and a port";
    return false;
  }
  return true;
}

// RFC 9110 token (header names; also used for tenant names in the path).
bool IsToken(std::string_view s) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
  });
}

// Printable ASCII and spaces only: no CR/LF that would split the request.
bool IsFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

double Micros(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string LatencyJson(const LatencyHistogram& h) {
  return fmt::format(
      R"({{"count":{},"mean":{:.1f},"p50":{:.1f},"p90":{:.1f},"p99":{:.1f},"p999":{:.1f},)"
      R"("max":{:.1f}}})",
      h.count(), h.mean() / 1000.0, Micros(h.Quantile(0.50)), Micros(h.Quantile(0.90)),
      Micros(h.Quantile(0.99)), Micros(h.Quantile(0.999)), Micros(h.max()));
}

std::string LatencyText(const LatencyHistogram& h) {
  return fmt::format("p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}  mean {:.3f}",
                     h.Quantile(0.50) / 1e6, h.Quantile(0.90) / 1e6, h.Quantile(0.99) / 1e6,
                     h.Quantile(0.999) / 1e6, h.max() / 1e6, h.mean() / 1e6);
}

void Report(const Options& opt, const Stats& s, double seconds, bool uses_ops,
            const std::array<bool, kNumOps>& ops_used) {
  LatencyHistogram all;
  for (const auto& h : s.latency) all.Merge(h);
  const uint64_t ok = s.Ok();
  const uint64_t failed = s.Non2xx() + s.Errors();
  const uint64_t attempted = ok + failed;
  const double failed_fraction =
      attempted == 0 ? 1.0 : static_cast<double>(failed) / static_cast<double>(attempted);
  const double rps = seconds > 0 ? static_cast<double>(ok) / seconds : 0;

  if (opt.json) {
    std::string status;
    for (int i = 0; i < kMaxStatus; ++i) {
      if (s.status[i] == 0) continue;
      status += fmt::format(R"({}"{}":{})", status.empty() ? "" : ",", i, s.status[i]);
    }
    std::string errors;
    for (int i = 0; i < kNumErrorKinds; ++i) {
      errors += fmt::format(R"({}"{}":{})", i == 0 ? "" : ",", kErrorNames[i], s.errors[i]);
    }
    std::string ops;
    for (int i = 0; i < kNumOps; ++i) {
      if (!ops_used[i]) continue;
      ops += fmt::format(R"({}"{}":{{"rps":{:.1f},"non2xx":{},"latency_us":{}}})",
                         ops.empty() ? "" : ",", kOpNames[i],
                         seconds > 0 ? s.latency[i].count() / seconds : 0.0, s.non2xx[i],
                         LatencyJson(s.latency[i]));
    }
    fmt::print(R"({{"tool":"loadgen","mode":"{}","type":"{}","concurrency":{},"threads":{},)"
               R"("duration_s":{:.3f},"requests":{},"rps":{:.1f},"latency_us":{},"status":{{{}}},)"
               R"("non2xx":{},"errors":{{{}}},"reconnects":{},"failed_fraction":{:.6f},)"
               R"("ops":{{{}}}}})"
               "\n",
               opt.mode, opt.type, opt.concurrency, opt.threads, seconds, ok, rps, LatencyJson(all),
               status, s.Non2xx(), errors, s.reconnects, failed_fraction, ops);
    return;
  }
  fmt::print(
      "loadgen: {} {} on {} tenant {}, {} connections, {} threads, {:.1f} s (+{:.1f} s "
      "warmup)\n",
      opt.mode, opt.type, opt.url, opt.tenant, opt.concurrency, opt.threads, seconds, opt.warmup_s);
  fmt::print("  requests  {} ok in {:.2f} s = {:.1f} req/s\n", ok, seconds, rps);
  fmt::print("  latency   (ms) {}\n", LatencyText(all));
  if (uses_ops) {
    for (int i = 0; i < kNumOps; ++i) {
      if (!ops_used[i]) continue;
      fmt::print("  {:<8}  {:.1f} req/s, (ms) {}\n", kOpNames[i],
                 seconds > 0 ? s.latency[i].count() / seconds : 0.0, LatencyText(s.latency[i]));
    }
  }
  std::string status;
  for (int i = 0; i < kMaxStatus; ++i) {
    if (s.status[i] != 0) status += fmt::format(" {}:{}", i, s.status[i]);
  }
  fmt::print("  status   {}\n", status.empty() ? " (none)" : status);
  std::string errors;
  for (int i = 0; i < kNumErrorKinds; ++i) {
    if (s.errors[i] != 0) errors += fmt::format(" {}:{}", kErrorNames[i], s.errors[i]);
  }
  fmt::print("  failed    {} non-2xx, {} errors{}; {} reconnects; {:.3f}% failed\n", s.Non2xx(),
             s.Errors(), errors.empty() ? "" : " (" + errors.substr(1) + ")", s.reconnects,
             failed_fraction * 100);
}

int Main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Keep-alive HTTP/1.1 load generator for Hygie's FHIR API", "loadgen"};
  app.add_option("--url", opt.url, "Base URL, http://host:port[/prefix]")->capture_default_str();
  app.add_option("--tenant", opt.tenant, "Tenant in /fhir/{tenant}/")->capture_default_str();
  auto* token = app.add_option("--token", opt.token, "Bearer token (prefer --token-file)");
  app.add_option("--token-file", opt.token_file, "File holding the bearer token")
      ->check(CLI::ExistingFile)
      ->excludes(token);
  app.add_option("--concurrency,-c", opt.concurrency, "Connections, one request in flight each")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--duration,-d", opt.duration_s, "Measured seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", opt.warmup_s, "Seconds of load before measuring")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--threads,-t", opt.threads, "I/O threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--mode", opt.mode, "create | read | update | mixed")
      ->check(CLI::IsMember({"create", "read", "update", "mixed"}))
      ->capture_default_str();
  app.add_option("--type", opt.type, "Resource type")
      ->check(CLI::IsMember({"Patient", "Observation"}))
      ->capture_default_str();
  app.add_option("--preload", opt.preload, "Resources created first for read/update/mixed")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->capture_default_str();
  app.add_option("--mix", opt.mix, "mixed mode: read:create:update percentages")
      ->capture_default_str();
  app.add_option("--timeout", opt.timeout_s, "Seconds before a request counts as timed out")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--header,-H", opt.headers, "Extra request header 'Name: value' (repeatable)");
  app.add_flag("--json", opt.json, "Print the results as one JSON line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  RunSpec spec;
  std::string host, port, prefix, error;
  if (!ParseUrl(opt.url, &host, &port, &prefix, &error)) {
    fmt::print(stderr, "loadgen: {}\n", error);
    return 2;
  }
  std::string host_header = host + (port == "80" ? "" : ":" + port);
  if (host.find(':') != std::string::npos) host_header = "[" + host + "]:" + port;
  spec.type_base = prefix + "/fhir/" + opt.tenant + "/" + opt.type;
  if (!IsToken(opt.tenant)) {
    fmt::print(stderr, "loadgen: --tenant must be letters, digits, '-' or '_'\n");
    return 2;
  }

  if (!opt.token_file.empty()) {
    std::ifstream in(opt.token_file);
    std::stringstream content;
    content << in.rdbuf();
    opt.token = content.str();
    while (!opt.token.empty() && std::isspace(static_cast<unsigned char>(opt.token.back()))) {
      opt.token.pop_back();
    }
    if (!in || opt.token.empty()) {
      fmt::print(stderr, "loadgen: cannot read a token from --token-file\n");
      return 2;
    }
  }
  spec.fixed_headers = "Host: " + host_header +
                       "\r\nUser-Agent: hygie-loadgen/" HYGIE_VERSION
                       "\r\nAccept: application/fhir+json\r\n";
  if (!opt.token.empty()) {
    if (!IsFieldValue(opt.token)) {
      fmt::print(stderr, "loadgen: the token holds characters not allowed in a header\n");
      return 2;
    }
    spec.fixed_headers += "Authorization: Bearer " + opt.token + "\r\n";
  }
  for (const std::string& h : opt.headers) {
    const size_t colon = h.find(':');
    size_t value_at = colon + 1;
    while (colon != std::string::npos && value_at < h.size() && h[value_at] == ' ') ++value_at;
    if (colon == std::string::npos || !IsToken(h.substr(0, colon)) ||
        !IsFieldValue(h.substr(value_at))) {
      fmt::print(stderr, "loadgen: --header wants 'Name: value'\n");
      return 2;
    }
    spec.fixed_headers += h.substr(0, colon) + ": " + h.substr(value_at) + "\r\n";
  }

  // Operation mix, as cumulative percentages in the order create, read, update.
  std::array<int, kNumOps> pct{};
  if (opt.mode == "create") pct = {100, 0, 0};
  if (opt.mode == "read") pct = {0, 100, 0};
  if (opt.mode == "update") pct = {0, 0, 100};
  if (opt.mode == "mixed") {
    int read = 0, create = 0, update = 0;
    char c1 = 0, c2 = 0;
    std::istringstream in(opt.mix);
    in >> read >> c1 >> create >> c2 >> update;
    if (!in || c1 != ':' || c2 != ':' || read < 0 || create < 0 || update < 0 ||
        read + create + update != 100) {
      fmt::print(stderr, "loadgen: --mix wants read:create:update summing to 100\n");
      return 2;
    }
    pct = {create, read, update};
  }
  std::array<bool, kNumOps> ops_used{};
  for (int i = 0; i < kNumOps; ++i) ops_used[i] = pct[i] > 0;
  spec.mix_cum = {pct[0], pct[0] + pct[1], pct[0] + pct[1] + pct[2]};

  const BodyTemplate body(opt.type == "Patient" ? kPatientTemplate : kObservationTemplate);
  spec.body = &body;
  spec.nir_unique = opt.type == "Patient";
  spec.timeout = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(opt.timeout_s));
  spec.unique_base = std::random_device{}() % 1000000 * 100;
  opt.threads = std::min(opt.threads, opt.concurrency);

  {
    asio::io_context io;
    tcp::resolver resolver(io);
    error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (ec || results.empty()) {
      fmt::print(stderr, "loadgen: cannot resolve {}:{}: {}\n", host, port, ec.message());
      return 2;
    }
    for (const auto& r : results) spec.endpoints.push_back(r.endpoint());
  }

  // Preload: create resources through the API and keep their ids.
  std::vector<std::string> ids;
  if (ops_used[kRead] || ops_used[kUpdate]) {
    RunSpec preload = spec;
    preload.concurrency = static_cast<int>(std::min<int64_t>(opt.concurrency, opt.preload));
    preload.mix_cum = {100, 100, 100};
    std::atomic<int64_t> budget{opt.preload};
    preload.budget = &budget;
    preload.collect_ids = true;
    preload.unique_base = spec.unique_base + 50;
    const auto t0 = SteadyClock::now();
    const Stats s = RunLoad(preload, std::min(opt.threads, preload.concurrency), &ids);
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    if (static_cast<int64_t>(ids.size()) < opt.preload) {
      std::string detail;
      for (int i = 0; i < kMaxStatus; ++i) {
        if (s.status[i] != 0 && (i < 200 || i >= 300))
          detail += fmt::format(" {}:{}", i, s.status[i]);
      }
      for (int i = 0; i < kNumErrorKinds; ++i) {
        if (s.errors[i] != 0) detail += fmt::format(" {}:{}", kErrorNames[i], s.errors[i]);
      }
      fmt::print(stderr, "loadgen: preload failed: {} of {} creates returned an id ({})\n",
                 ids.size(), opt.preload,
                 detail.empty() ? "no failure recorded" : detail.substr(1));
      return 1;
    }
    if (!opt.json) {
      fmt::print("preload: {} {} created in {:.2f} s ({:.1f}/s)\n", ids.size(), opt.type, seconds,
                 ids.size() / seconds);
    }
  }
  spec.ids = &ids;

  const auto t0 = SteadyClock::now();
  spec.window_start = t0 + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(opt.warmup_s));
  spec.window_end = spec.window_start + std::chrono::duration_cast<SteadyClock::duration>(
                                            std::chrono::duration<double>(opt.duration_s));
  spec.timed_end = true;
  spec.concurrency = opt.concurrency;
  const Stats stats = RunLoad(spec, opt.threads, nullptr);
  const double seconds = std::chrono::duration<double>(spec.window_end - spec.window_start).count();
  Report(opt, stats, seconds, opt.mode == "mixed", ops_used);

  const uint64_t failed = stats.Non2xx() + stats.Errors();
  const uint64_t attempted = stats.Ok() + failed;
  if (attempted == 0) {
    fmt::print(stderr, "loadgen: no request completed\n");
    return 1;
  }
  if (static_cast<double>(failed) > kMaxFailedFraction * static_cast<double>(attempted)) {
    fmt::print(stderr, "loadgen: {} of {} requests failed (more than {}%)\n", failed, attempted,
               kMaxFailedFraction * 100);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hygie::bench

int main(int argc, char** argv) { return hygie::bench::Main(argc, argv); }
