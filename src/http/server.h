#pragma once
// HTTP/1.1 server over Boost.Beast and Asio with C++20 coroutines, plain TCP or TLS 1.2/1.3.
//
// One I/O thread per io_context: each accepted connection is given to the next context in turn
// and stays on its thread, so a request's work, its allocations and its completions never cross
// threads (no strands, no hand-offs between I/O threads). One coroutine per connection; keep-alive;
// request size limits enforced by Beast's parser (header and body limits) before the handler sees
// anything. The handler is an awaitable function, so it may wait (e.g. for a group commit) without
// blocking a thread.
//
// Thread-safety: Start/Stop from one thread; the handler is called concurrently from the io
// threads and must be thread-safe.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/status.h"

namespace hygie::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// What the handler knows of the connection.
struct RequestContext {
  std::string peer_address;  // IP of the client
  bool tls = false;
  // The client presented a certificate that chains to ServerOptions::tls_client_ca_file (the
  // handshake fails on a certificate that does not), and its subject (RFC 2253).
  bool client_cert_verified = false;
  std::string client_cert_subject;
};

using Handler =
    std::function<boost::asio::awaitable<Response>(Request& request, const RequestContext& ctx)>;
// Builds the answer to a request the parser refused (too large, malformed), which the handler
// never sees. `status` is 400, 413 or 431.
using ErrorResponder = std::function<Response(int status, std::string_view reason)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 2;
  uint64_t max_body_bytes = 16u << 20;
  uint32_t max_header_bytes = 16u << 10;
  int idle_timeout_seconds = 60;
  // TLS: both set means TLS 1.2/1.3 only on this listener.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Mutual TLS: when set, clients may present a certificate, which must chain to a CA of this
  // PEM file (a presented certificate that does not fails the handshake; presenting none is
  // allowed, and RequestContext::client_cert_verified stays false).
  std::string tls_client_ca_file;
};

bool IsLoopbackAddress(const std::string& address);

class Server {
 public:
  Server(ServerOptions options, Handler handler, ErrorResponder error_responder);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the io threads. kInvalidArgument for a bad address, kUnavailable if the
  // port cannot be bound, kFailedPrecondition for TLS files that do not load.
  Status Start();
  // The bound port (useful with port 0).
  uint16_t port() const { return bound_port_; }
  // Stops accepting, lets requests in flight finish (up to 10 s), closes connections, joins
  // the io threads. Idempotent.
  void Stop();
  // Blocks until SIGINT or SIGTERM, then Stop().
  void WaitForSignal();

 private:
  boost::asio::awaitable<void> Accept();
  ServerOptions options_;
  Handler handler_;
  ErrorResponder error_responder_;
  // An I/O thread and the io_context it alone runs, kept running by its work guard until Stop.
  struct IoThread {
    boost::asio::io_context context{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{
        context.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<IoThread>> io_threads_;
  size_t next_thread_ = 0;  // the I/O thread of the next accepted connection (accept loop only)
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  uint16_t bound_port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int> active_{0};  // requests being handled
};

}  // namespace hygie::http
