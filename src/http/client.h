#pragma once
// A small synchronous HTTP/1.1 client (Boost.Beast over TCP or TLS with OpenSSL): one request
// per connection, redirects never followed, a response size limit and one deadline for the
// whole exchange (resolve, connect, handshake, write, read). SendHttpRequest sends any method
// with headers and a body and returns whatever status the server answers (for the S3 client);
// HttpGet fetches documents such as OpenID Connect discovery documents and JWK sets and accepts
// a 200 answer only.
//
// TLS (https://): TLS 1.2 or later; the peer is verified against the system CAs or
// HttpClientOptions::ca_file; SNI is sent and the certificate must name the host (DNS name or
// IP address). Plain http:// is allowed only when HttpClientOptions::allow_plain_http is set,
// and then only towards a loopback host (127.0.0.0/8, ::1, localhost).
//
// Thread-safety: HttpGet and SendHttpRequest are thread-safe (each call has its own io_context
// and TLS context).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hygie::http {

struct HttpClientOptions {
  int timeout_ms = 5000;
  size_t max_response_bytes = 1 << 20;
  std::string ca_file;           // PEM bundle; empty: the system's default CAs
  bool allow_plain_http = true;  // still loopback only
  std::string user_agent = "hygie";
};

struct HttpRequest {
  std::string method = "GET";  // an HTTP/1.1 method name: GET, PUT, POST, DELETE, HEAD...
  std::string url;             // http(s)://host[:port]/path?query, already percent-encoded
  // Sent as given, in order. Host, Content-Length and Connection are set by the client (a Host
  // given here replaces the default, which is HostHeaderOf(url)); User-Agent unless given.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in order
  std::string body;                                          // empty for HEAD

  // The first value of header `name` (any case); empty if absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

// Sends one request and returns the answer, whatever its status (3xx included: redirects are
// not followed). kInvalidArgument for a URL it will not reach (plain http off loopback, user
// info) or a malformed method or header (a name that is not a token, CR or LF in a value);
// kUnavailable for network and TLS failures and the deadline; kResourceExhausted when the
// response is larger than options.max_response_bytes.
Result<HttpResponse> SendHttpRequest(const HttpRequest& request,
                                     const HttpClientOptions& options = {});

// The Host header SendHttpRequest sends for url: "host", or "host:port" off the scheme's default
// port (IPv6 literals in brackets). kInvalidArgument for a URL it would not send to.
Result<std::string> HostHeaderOf(std::string_view url);

// The body of a 200 answer to GET url. kInvalidArgument for a URL it will not fetch;
// kUnavailable for network, TLS and HTTP failures (a non-200 status, a redirect, a timeout);
// kResourceExhausted when the response is larger than max_response_bytes.
Result<std::string> HttpGet(const std::string& url, const HttpClientOptions& options = {});

}  // namespace hygie::http
