#pragma once
// Pieces shared by the "speed at size" tools (tenant_gen, search_load):
//   ServerTarget    the parsed --url / --tenant / token options: resolved endpoints, the
//                   /fhir/{tenant} base path and the fixed header lines of every request;
//   HttpClient      one keep-alive HTTP/1.1 connection (Boost.Asio, Beast's response parser)
//                   that sends one request at a time, waits for the whole response (status and
//                   body) and gives up after a deadline; it reconnects by itself on the next
//                   request after a failure or a `Connection: close`;
//   PercentEncode   RFC 3986 percent-encoding of a query parameter value.
// These tools run one blocking HttpClient per thread: a few thousand requests per second at
// most, each carrying a large bundle or returning a page of 50 resources, so one thread per
// connection costs nothing that matters (loadgen's event loop is for small requests at tens of
// thousands per second).
//
// Thread-safety: ServerTarget is immutable once built and may be shared by threads.
// HttpClient is not thread-safe: give each thread its own (each owns its io_context).

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
// GCC 12 with -fsanitize=address reports a false maybe-uninitialized inside Beast's parser
// (boost::optional<uint64_t> returned as boost::none); it is reported at the header's lines.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

namespace hygie::bench {

// Where the requests go and what every request carries.
struct ServerTarget {
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  std::string fhir_base;      // e.g. /fhir/acme (the --url prefix included), no trailing slash
  std::string fixed_headers;  // "Host: ...\r\n", User-Agent, Accept, Authorization

  // Parses `url` (http://host[:port][/prefix]), checks `tenant`, resolves the host and builds
  // the headers. The token is `token` if set, else the content of `token_file` if set, else the
  // environment variable `token_env` (may all be empty: no Authorization header). On failure
  // returns std::nullopt with *error set.
  static std::optional<ServerTarget> Make(std::string_view url, std::string_view tenant,
                                          std::string token, const std::string& token_file,
                                          const char* token_env, std::string_view user_agent,
                                          std::string* error) {
    namespace asio = boost::asio;
    constexpr std::string_view kHttp = "http://";
    if (!url.starts_with(kHttp)) {
      *error = "--url must start with http:// (plain TCP only, e.g. a loopback listener)";
      return std::nullopt;
    }
    url.remove_prefix(kHttp.size());
    const size_t path_at = url.find('/');
    const std::string_view authority = url.substr(0, path_at);
    std::string prefix = path_at == std::string_view::npos ? "" : std::string(url.substr(path_at));
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    std::string host, port = "80";
    if (authority.starts_with('[')) {  // [v6]:port
      const size_t close = authority.find(']');
      if (close == std::string_view::npos) {
        *error = "bad IPv6 address in --url";
        return std::nullopt;
      }
      host = std::string(authority.substr(1, close - 1));
      if (authority.substr(close + 1).starts_with(':')) {
        port = std::string(authority.substr(close + 2));
      }
    } else {
      const size_t colon = authority.rfind(':');
      host = std::string(authority.substr(0, colon));
      if (colon != std::string_view::npos) port = std::string(authority.substr(colon + 1));
    }
    if (host.empty() || port.empty()) {
      *error = "--url needs a host and a port";
      return std::nullopt;
    }
    if (tenant.empty() || !std::all_of(tenant.begin(), tenant.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        })) {
      *error = "--tenant must be letters, digits, '-' or '_'";
      return std::nullopt;
    }
    if (token.empty() && !token_file.empty()) {
      std::ifstream in(token_file);
      std::stringstream content;
      content << in.rdbuf();
      token = content.str();
      if (!in) {
        *error = "cannot read --token-file " + token_file;
        return std::nullopt;
      }
    }
    if (token.empty() && token_env != nullptr && std::getenv(token_env) != nullptr) {
      token = std::getenv(token_env);
    }
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (!std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      *error = "the token holds characters not allowed in a header";
      return std::nullopt;
    }

    ServerTarget target;
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    const auto results = resolver.resolve(host, port, ec);
    if (ec || results.empty()) {
      *error = fmt::format("cannot resolve {}:{}: {}", host, port, ec.message());
      return std::nullopt;
    }
    for (const auto& r : results) target.endpoints.push_back(r.endpoint());
    target.fhir_base = prefix + "/fhir/" + std::string(tenant);
    std::string host_header = host.find(':') != std::string::npos ? "[" + host + "]:" + port
                              : port == "80"                      ? host
                                                                  : host + ":" + port;
    target.fixed_headers = fmt::format(
        "Host: {}\r\nUser-Agent: {}\r\nAccept: application/fhir+json\r\n", host_header, user_agent);
    if (!token.empty()) target.fixed_headers += "Authorization: Bearer " + token + "\r\n";
    return target;
  }
};

struct HttpResponse {
  int status = 0;     // 0 when the exchange failed (see `error`)
  std::string body;   // the whole body (chunked bodies are joined)
  std::string error;  // transport failure: connect, write, read or timeout, with the reason
};

class HttpClient {
 public:
  using Clock = std::chrono::steady_clock;

  HttpClient(const ServerTarget& target, Clock::duration timeout)
      : target_(target), timeout_(timeout), socket_(io_) {}
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `method target` (the target is the path and query, e.g. /fhir/acme/Patient?x=1)
  // with `body` (a `content_type` body when not empty) and reads the response into *out.
  // Returns true when a response was read (whatever its status); false with out->error set
  // on a transport failure or timeout, after which the connection is closed and the next call
  // reconnects. A GET on a reused connection that the server had closed (end of stream or
  // reset before any byte of the answer) is sent once more on a new connection; other methods
  // are never resent, since the server may have acted on them.
  bool Send(std::string_view method, std::string_view path_and_query, std::string_view content_type,
            std::string_view body, HttpResponse* out) {
    const bool reused = connected_;
    if (SendOnce(method, path_and_query, content_type, body, out) || !reused || method != "GET" ||
        !stale_) {
      return out->status != 0;
    }
    return SendOnce(method, path_and_query, content_type, body, out);
  }

 private:
  bool SendOnce(std::string_view method, std::string_view path_and_query,
                std::string_view content_type, std::string_view body, HttpResponse* out) {
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    out->status = 0;
    out->body.clear();
    out->error.clear();
    stale_ = false;
    head_.clear();
    head_.append(method).append(" ").append(path_and_query).append(" HTTP/1.1\r\n");
    head_.append(target_.fixed_headers);
    if (!body.empty()) {
      head_.append(
          fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", content_type, body.size()));
    }
    head_.append("\r\n");

    const Clock::time_point deadline = Clock::now() + timeout_;
    boost::system::error_code ec;
    if (!connected_) {
      const bool done = RunUntil(deadline, [&](auto then) {
        asio::async_connect(
            socket_, target_.endpoints,
            [&, then](const boost::system::error_code& e, const asio::ip::tcp::endpoint&) {
              ec = e;
              then();
            });
      });
      if (!done || ec) return Failed("connect", done, ec, out);
      socket_.set_option(asio::ip::tcp::no_delay(true), ec);
      connected_ = true;
      buffer_.clear();
    }
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(head_), asio::buffer(body)};
    bool done = RunUntil(deadline, [&](auto then) {
      asio::async_write(socket_, buffers, [&, then](const boost::system::error_code& e, size_t) {
        ec = e;
        then();
      });
    });
    if (!done || ec) return Failed("write", done, ec, out);

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    done = RunUntil(deadline, [&](auto then) {
      http::async_read(socket_, buffer_, parser,
                       [&, then](const boost::system::error_code& e, size_t) {
                         ec = e;
                         then();
                       });
    });
    if (!done || ec) {
      stale_ = done && !parser.got_some() &&
               (ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset ||
                ec == boost::asio::error::eof);
      return Failed("read", done, ec, out);
    }
    out->status = static_cast<int>(parser.get().result_int());
    out->body = std::move(parser.get().body());
    if (!parser.keep_alive()) Close();
    return true;
  }

  static constexpr uint64_t kMaxBody = 512ull << 20;

  // Starts an operation (`start(then)`, which calls then() on completion) and runs the
  // io_context until it completes or the deadline passes; on a timeout the socket is closed,
  // the operation drained and false returned.
  template <typename Start>
  bool RunUntil(Clock::time_point deadline, Start start) {
    bool completed = false;
    io_.restart();
    start([&completed] { completed = true; });
    io_.run_until(deadline);
    if (completed) return true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    io_.restart();
    io_.run();  // the aborted operation's handler runs and returns
    return false;
  }

  bool Failed(std::string_view stage, bool completed, const boost::system::error_code& ec,
              HttpResponse* out) {
    out->error =
        completed ? fmt::format("{}: {}", stage, ec.message()) : fmt::format("{}: timeout", stage);
    Close();
    return false;
  }

  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    connected_ = false;
  }

  const ServerTarget& target_;
  const Clock::duration timeout_;
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string head_;
  bool connected_ = false;
  bool stale_ = false;  // the last read failed as on a connection the server had closed
};

// RFC 3986 percent-encoding of a query parameter value: every byte but the unreserved ones
// (letters, digits, - . _ ~) and those FHIR values commonly carry unescaped and that are legal
// in a query (: /) becomes %XX. So `http://loinc.org|8867-4` becomes `http://loinc.org%7C8867-4`.
inline std::string PercentEncode(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '/') {
      out.push_back(c);
    } else {
      out.append(fmt::format("%{:02X}", u));
    }
  }
  return out;
}

}  // namespace hygie::bench
