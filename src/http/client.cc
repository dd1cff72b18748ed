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
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
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

bool IsTokenChar(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

using OutgoingRequest = bhttp::request<bhttp::string_body>;

// Writes the request and reads the answer on a connected (and, for TLS, handshaken) stream.
template <typename Stream>
asio::awaitable<Result<HttpResponse>> Exchange(Stream& stream, const OutgoingRequest& request,
                                               const HttpClientOptions& options) {
  auto [write_ec, written] =
      co_await bhttp::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  (void)written;
  if (write_ec) co_return Unavailable("cannot send the request: " + write_ec.message());

  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(options.max_response_bytes);
  // A HEAD answer carries the Content-Length of the body it does not send.
  if (request.method() == bhttp::verb::head) parser.skip(true);
  beast::flat_buffer buffer;
  auto [read_ec, read] =
      co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)read;
  if (read_ec == bhttp::error::body_limit || read_ec == bhttp::error::header_limit) {
    co_return ResourceExhausted("response larger than " +
                                std::to_string(options.max_response_bytes) + " bytes");
  }
  if (read_ec) co_return Unavailable("cannot read the response: " + read_ec.message());
  auto& message = parser.get();
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(message.body());
  co_return response;
}

asio::awaitable<Result<HttpResponse>> Send(const tenancy::HttpUrl& url,
                                           const OutgoingRequest& request, asio::ssl::context* tls,
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
  if (tls == nullptr) co_return co_await Exchange(tcp_stream, request, options);

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
  co_return co_await Exchange(stream, request, options);
}

Result<tenancy::HttpUrl> ParseAllowedUrl(std::string_view url, const HttpClientOptions& options) {
  HYGIE_ASSIGN_OR_RETURN(tenancy::HttpUrl parsed, tenancy::ParseHttpUrl(url));
  if (!parsed.tls && !(options.allow_plain_http && tenancy::IsLoopbackHost(parsed.host))) {
    return InvalidArgument("only https URLs are fetched (http on a loopback host only)");
  }
  return parsed;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  const std::string wanted = Lower(name);
  for (const auto& [key, value] : headers) {
    if (key == wanted) return value;
  }
  return "";
}

bool HttpResponse::HasHeader(std::string_view name) const {
  const std::string wanted = Lower(name);
  for (const auto& header : headers) {
    if (header.first == wanted) return true;
  }
  return false;
}

Result<std::string> HostHeaderOf(std::string_view url) {
  HYGIE_ASSIGN_OR_RETURN(tenancy::HttpUrl parsed, tenancy::ParseHttpUrl(url));
  return HostHeader(parsed);
}

Result<HttpResponse> SendHttpRequest(const HttpRequest& request, const HttpClientOptions& options) {
  HYGIE_ASSIGN_OR_RETURN(tenancy::HttpUrl url, ParseAllowedUrl(request.url, options));
  const bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown) return InvalidArgument("unknown HTTP method");

  OutgoingRequest outgoing{verb, url.target, 11};
  bool has_host = false;
  bool has_user_agent = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || !IsFieldValue(value)) {
      return InvalidArgument("malformed request header");
    }
    const std::string lower = Lower(name);
    if (lower == "content-length" || lower == "connection" || lower == "transfer-encoding") {
      continue;  // the client's own
    }
    has_host = has_host || lower == "host";
    has_user_agent = has_user_agent || lower == "user-agent";
    outgoing.insert(name, value);
  }
  if (!has_host) outgoing.set(bhttp::field::host, HostHeader(url));
  if (!has_user_agent) outgoing.set(bhttp::field::user_agent, options.user_agent);
  outgoing.set(bhttp::field::connection, "close");
  outgoing.body() = request.body;
  outgoing.prepare_payload();

  std::optional<asio::ssl::context> tls;
  if (url.tls) {
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
  std::optional<Result<HttpResponse>> result;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        result = co_await Send(url, outgoing, tls ? &*tls : nullptr, options);
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

Result<std::string> HttpGet(const std::string& url, const HttpClientOptions& options) {
  HttpRequest request;
  request.method = "GET";
  request.url = url;
  request.headers.emplace_back("Accept", "application/json");
  HYGIE_ASSIGN_OR_RETURN(HttpResponse response, SendHttpRequest(request, options));
  if (response.status != 200) {
    // Redirects included: a trusted document is fetched from its own URL only.
    return Unavailable("HTTP status " + std::to_string(response.status));
  }
  return std::move(response.body);
}

}  // namespace hygie::http
