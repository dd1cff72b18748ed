#include "http/server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <exception>

#include "core/log.h"
#include "core/thread_name.h"

namespace hygie::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool IsLoopbackAddress(const std::string& address) {
  if (address == "localhost") return true;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  return !ec && addr.is_loopback();
}

namespace {

struct Shared {
  const ServerOptions* options;
  const Handler* handler;
  const ErrorResponder* error_responder;
  std::atomic<int>* active;
};

// Headers on every answer: health data is never cached or sniffed, and over TLS browsers are
// told to come back over TLS only (HSTS, one year).
void AddSecurityHeaders(Response& res, bool tls) {
  if (res.find(bhttp::field::cache_control) == res.end())
    res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  if (tls) res.set(bhttp::field::strict_transport_security, "max-age=31536000; includeSubDomains");
}

// Serves requests on one connection until it closes, errs or times out.
template <typename Stream>
asio::awaitable<void> ServeConnection(Stream& stream, beast::tcp_stream& tcp, Shared shared,
                                      RequestContext ctx) {
  const auto idle = std::chrono::seconds(shared.options->idle_timeout_seconds);
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(shared.options->max_body_bytes);
    parser.header_limit(shared.options->max_header_bytes);
    tcp.expires_after(idle);
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    (void)n;
    if (ec) {
      int status = 0;
      if (ec == bhttp::error::body_limit) {
        status = 413;
      } else if (ec == bhttp::error::header_limit) {
        status = 431;
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        status = 400;
      }
      if (status != 0) {
        Response res = (*shared.error_responder)(status, ec.message());
        AddSecurityHeaders(res, ctx.tls);
        res.keep_alive(false);
        res.prepare_payload();
        tcp.expires_after(std::chrono::seconds(10));
        auto [wec, wn] = co_await bhttp::async_write(stream, res, kTuple);
        (void)wn;
        // Read and discard what the client is still sending (bounded in time and bytes), so
        // that it sees the answer instead of a reset connection.
        if (!wec) {
          std::array<char, 16384> sink;
          uint64_t drained = 0;
          tcp.expires_after(std::chrono::seconds(2));
          while (drained < (64u << 20)) {
            auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
            if (rec) break;
            drained += rn;
          }
        }
      }
      co_return;
    }
    Request req = parser.release();
    Response res;
    shared.active->fetch_add(1);
    try {
      res = co_await (*shared.handler)(req, ctx);
    } catch (const std::exception& e) {
      log::Error("request handler threw: {}", e.what());
      res = (*shared.error_responder)(500, "internal error");
    }
    shared.active->fetch_sub(1);
    res.version(req.version());
    AddSecurityHeaders(res, ctx.tls);
    res.keep_alive(req.keep_alive() && res.keep_alive());
    res.prepare_payload();
    tcp.expires_after(idle);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, kTuple);
    (void)wn;
    if (wec || !res.keep_alive()) co_return;
  }
}

asio::awaitable<void> PlainSession(tcp::socket socket, Shared shared) {
  RequestContext ctx;
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (!ec) ctx.peer_address = ep.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  beast::tcp_stream stream(std::move(socket));
  co_await ServeConnection(stream, stream, shared, ctx);
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> TlsSession(tcp::socket socket, asio::ssl::context& tls, Shared shared) {
  RequestContext ctx;
  ctx.tls = true;
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (!ec) ctx.peer_address = ep.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (hec) co_return;
  if (X509* cert = SSL_get1_peer_certificate(stream.native_handle())) {
    if (SSL_get_verify_result(stream.native_handle()) == X509_V_OK) {
      ctx.client_cert_verified = true;
      if (BIO* bio = BIO_new(BIO_s_mem())) {
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        char* data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        if (len > 0) ctx.client_cert_subject.assign(data, static_cast<size_t>(len));
        BIO_free(bio);
      }
    }
    X509_free(cert);
  }
  co_await ServeConnection(stream, beast::get_lowest_layer(stream), shared, ctx);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(kTuple);
}

}  // namespace

Server::Server(ServerOptions options, Handler handler, ErrorResponder error_responder)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      error_responder_(std::move(error_responder)) {
  const int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) io_threads_.push_back(std::make_unique<IoThread>());
}

Server::~Server() { Stop(); }

Status Server::Start() {
  std::string host = options_.address == "localhost" ? "127.0.0.1" : options_.address;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("listen address '" + options_.address + "' is not an IP address");
  bool want_tls = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
  if (want_tls) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return InvalidArgument("TLS needs both a certificate and a key file");
    }
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    // The server's order of cipher suites wins (the strongest first), not the client's.
    SSL_CTX_set_options(tls_->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(tls_->native_handle(),
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
    tls_->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) return FailedPrecondition("cannot load TLS certificate " + options_.tls_cert_file);
    tls_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return FailedPrecondition("cannot load TLS key " + options_.tls_key_file);
    if (!options_.tls_client_ca_file.empty()) {
      // Only this CA vouches for clients (not the system's store), and only for client auth.
      if (SSL_CTX_load_verify_locations(tls_->native_handle(), options_.tls_client_ca_file.c_str(),
                                        nullptr) != 1) {
        return FailedPrecondition("cannot load client CA " + options_.tls_client_ca_file);
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options_.tls_client_ca_file.c_str());
      if (names == nullptr) {
        return FailedPrecondition("no CA certificate in " + options_.tls_client_ca_file);
      }
      SSL_CTX_set_client_CA_list(tls_->native_handle(), names);
      SSL_CTX_set_verify(tls_->native_handle(), SSL_VERIFY_PEER, nullptr);
      SSL_CTX_set_purpose(tls_->native_handle(), X509_PURPOSE_SSL_CLIENT);
    }
  } else if (!addr.is_loopback()) {
    return FailedPrecondition("listening on a non-loopback address requires TLS");
  }
  tcp::endpoint endpoint(addr, options_.port);
  acceptor_.emplace(io_threads_[0]->context);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + options_.address + ":" +
                       std::to_string(options_.port) + ": " + ec.message());
  }
  bound_port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_threads_[0]->context, Accept(), asio::detached);
  for (size_t i = 0; i < io_threads_.size(); ++i) {
    io_threads_[i]->thread = std::thread([c = &io_threads_[i]->context, i] {
      SetThreadName("io-" + std::to_string(i));
      c->run();
    });
  }
  return Status::Ok();
}

asio::awaitable<void> Server::Accept() {
  Shared shared{&options_, &handler_, &error_responder_, &active_};
  for (;;) {
    asio::io_context& context = io_threads_[next_thread_]->context;
    next_thread_ = (next_thread_ + 1) % io_threads_.size();
    auto [ec, socket] = co_await acceptor_->async_accept(context, kTuple);
    if (ec) {
      if (stopped_.load() || ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    auto ex = socket.get_executor();
    if (tls_) {
      asio::co_spawn(ex, TlsSession(std::move(socket), *tls_, shared), asio::detached);
    } else {
      asio::co_spawn(ex, PlainSession(std::move(socket), shared), asio::detached);
    }
  }
}

void Server::Stop() {
  if (stopped_.exchange(true)) return;
  if (acceptor_) {
    asio::post(io_threads_[0]->context, [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
    });
  }
  // Let requests in flight (e.g. waiting for a group commit) answer before closing.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (active_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& t : io_threads_) {
    t->work.reset();
    t->context.stop();
  }
  for (auto& t : io_threads_) {
    if (t->thread.joinable()) t->thread.join();
  }
}

void Server::WaitForSignal() {
  asio::io_context sig_ioc;
  asio::signal_set signals(sig_ioc, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int) {});
  sig_ioc.run();
}

}  // namespace hygie::http
