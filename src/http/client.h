#pragma once
// A small synchronous HTTP/1.1 client (Boost.Beast over TCP or TLS with OpenSSL) for fetching
// documents such as OpenID Connect discovery documents and JWK sets: GET only, one request per
// connection, a 200 answer only (redirects are refused, not followed), a response size limit
// and one deadline for the whole exchange (resolve, connect, handshake, write, read).
//
// TLS (https://): TLS 1.2 or later; the peer is verified against the system CAs or
// HttpClientOptions::ca_file; SNI is sent and the certificate must name the host (DNS name or
// IP address). Plain http:// is allowed only when HttpClientOptions::allow_plain_http is set,
// and then only towards a loopback host (127.0.0.0/8, ::1, localhost).
//
// Thread-safety: HttpGet is thread-safe (each call has its own io_context and TLS context).

#include <cstddef>
#include <string>

#include "core/status.h"

namespace hygie::http {

struct HttpClientOptions {
  int timeout_ms = 5000;
  size_t max_response_bytes = 1 << 20;
  std::string ca_file;           // PEM bundle; empty: the system's default CAs
  bool allow_plain_http = true;  // still loopback only
  std::string user_agent = "hygie";
};

// The body of a 200 answer to GET url. kInvalidArgument for a URL it will not fetch;
// kUnavailable for network, TLS and HTTP failures (a non-200 status, a redirect, a timeout);
// kResourceExhausted when the response is larger than max_response_bytes.
Result<std::string> HttpGet(const std::string& url, const HttpClientOptions& options = {});

}  // namespace hygie::http
