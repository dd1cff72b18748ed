#include "http/client.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "tenancy/issuers.h"

namespace hygie::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr uint32_t kMaxHeaderBytes = 16 << 10;

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string HostHeader(const tenancy::HttpUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const uint16_t default_port = url.tls ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
}

// Writes the request and reads the answer on a connected (and, for TLS, handshaken) stream.
template <typename Stream>
asio::awaitable<Result<std::string>> Exchange(Stream& stream, const tenancy::HttpUrl& url,
                                              const HttpClientOptions& options) {
  bhttp::request<bhttp::empty_body> request{bhttp::verb::get, url.target, 11};
  request.set(bhttp::field::host, HostHeader(url));
  request.set(bhttp::field::user_agent, options.user_agent);
  request.set(bhttp::field::accept, "application/json");
  request.set(bhttp::field::connection, "close");
  auto [write_ec, written] =
      co_await bhttp::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  (void)written;
  if (write_ec) co_return Unavailable("cannot send the request: " + write_ec.message());

  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(options.max_response_bytes);
  beast::flat_buffer buffer;
  auto [read_ec, read] =
      co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)read;
  if (read_ec == bhttp::error::body_limit || read_ec == bhttp::error::header_limit) {
    co_return ResourceExhausted("response larger than " +
                                std::to_string(options.max_response_bytes) + " bytes");
  }
  if (read_ec) co_return Unavailable("cannot read the response: " + read_ec.message());
  const auto& response = parser.get();
  if (response.result_int() != 200) {
    // Redirects included: a trusted document is fetched from its own URL only.
    co_return Unavailable("HTTP status " + std::to_string(response.result_int()));
  }
  co_return std::string(response.body());
}

asio::awaitable<Result<std::string>> Get(tenancy::HttpUrl url, asio::ssl::context* tls,
                                         const HttpClientOptions& options) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(
      url.host, std::to_string(url.port), asio::as_tuple(asio::use_awaitable));
  if (resolve_ec) co_return Unavailable("cannot resolve " + url.host);
  beast::tcp_stream tcp_stream(executor);
  auto [connect_ec, endpoint] =
      co_await tcp_stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  (void)endpoint;
  if (connect_ec)
    co_return Unavailable("cannot connect to " + url.host + ": " + connect_ec.message());
  if (tls == nullptr) co_return co_await Exchange(tcp_stream, url, options);

  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *tls);
  SSL* ssl = stream.native_handle();
  if (IsIpLiteral(url.host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) != 1) {
      co_return Internal("cannot set the expected peer address");
    }
  } else {
    // SNI, and the name the certificate must carry.
    if (SSL_set_tlsext_host_name(ssl, url.host.c_str()) != 1 ||
        SSL_set1_host(ssl, url.host.c_str()) != 1) {
      co_return Internal("cannot set the expected peer name");
    }
  }
  auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                                        asio::as_tuple(asio::use_awaitable));
  if (handshake_ec) {
    co_return Unavailable("TLS handshake with " + url.host + " failed: " + handshake_ec.message());
  }
  co_return co_await Exchange(stream, url, options);
}

}  // namespace

Result<std::string> HttpGet(const std::string& url, const HttpClientOptions& options) {
  HYGIE_ASSIGN_OR_RETURN(tenancy::HttpUrl parsed, tenancy::ParseHttpUrl(url));
  if (!parsed.tls && !(options.allow_plain_http && tenancy::IsLoopbackHost(parsed.host))) {
    return InvalidArgument("only https URLs are fetched (http on a loopback host only)");
  }
  std::optional<asio::ssl::context> tls;
  if (parsed.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    tls->set_verify_mode(asio::ssl::verify_peer, ec);
    if (!ec) {
      if (options.ca_file.empty()) {
        tls->set_default_verify_paths(ec);
      } else {
        tls->load_verify_file(options.ca_file, ec);
      }
    }
    if (ec) return FailedPrecondition("cannot load the CA certificates: " + ec.message());
  }

  asio::io_context ioc;
  std::optional<Result<std::string>> result;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        result = co_await Get(std::move(parsed), tls ? &*tls : nullptr, options);
      },
      [&result](std::exception_ptr error) {
        if (error && !result) result = Unavailable("request failed");
      });
  ioc.run_for(std::chrono::milliseconds(options.timeout_ms > 0 ? options.timeout_ms : 1));
  if (!result) {
    // The deadline passed: stopping the context abandons the exchange, and destroying it closes
    // the socket.
    ioc.stop();
    return Unavailable("no answer within " + std::to_string(options.timeout_ms) + " ms");
  }
  return std::move(*result);
}

}  // namespace hygie::http
