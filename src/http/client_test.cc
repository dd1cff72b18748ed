#include "http/client.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/temp_dir.h"
#include "crypto/signing.h"
#include "http/server.h"

namespace hygie::http {
namespace {

namespace bhttp = boost::beast::http;

// A loopback server answering by path: /ok, /big, /redirect, /missing, /slow.
class TestServer {
 public:
  explicit TestServer(std::string address = "127.0.0.1", std::string cert = "",
                      std::string key = "") {
    ServerOptions options;
    options.address = std::move(address);
    options.port = 0;
    options.threads = 1;
    options.tls_cert_file = std::move(cert);
    options.tls_key_file = std::move(key);
    server_ = std::make_unique<Server>(
        options,
        [](Request& request, const RequestContext&) -> boost::asio::awaitable<Response> {
          Response response{bhttp::status::ok, request.version()};
          const std::string target(request.target());
          if (target.starts_with("/echo")) {
            response.set("X-Reply", "yes");
            response.body() = std::string(request.method_string()) + " " + target + " " +
                              std::string(request["X-Test"]) + " " + request.body();
          } else if (target == "/ok") {
            response.body() = "{\"host\":\"" + std::string(request[bhttp::field::host]) + "\"}";
          } else if (target == "/big") {
            response.body() = std::string(4096, 'x');
          } else if (target == "/redirect") {
            response.result(bhttp::status::found);
            response.set(bhttp::field::location, "/ok");
          } else if (target == "/slow") {
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
            timer.expires_after(std::chrono::seconds(2));
            co_await timer.async_wait(boost::asio::use_awaitable);
            response.body() = "late";
          } else {
            response.result(bhttp::status::not_found);
          }
          response.prepare_payload();
          co_return response;
        },
        [](int status, std::string_view) {
          Response response{static_cast<bhttp::status>(status), 11};
          response.prepare_payload();
          return response;
        });
    status_ = server_->Start();
  }
  ~TestServer() { server_->Stop(); }
  const Status& status() const { return status_; }
  uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<Server> server_;
  Status status_;
};

TEST(HttpClientTest, GetsOverPlainHttpOnLoopback) {
  TestServer server;
  ASSERT_TRUE(server.status().ok()) << server.status().ToString();
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  Result<std::string> body = HttpGet(base + "/ok");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "{\"host\":\"127.0.0.1:" + std::to_string(server.port()) + "\"}");

  Result<std::string> missing = HttpGet(base + "/missing");
  EXPECT_EQ(missing.status().code(), Code::kUnavailable);
  EXPECT_NE(missing.status().message().find("404"), std::string::npos);
  // Redirects are not followed.
  Result<std::string> redirect = HttpGet(base + "/redirect");
  EXPECT_EQ(redirect.status().code(), Code::kUnavailable);
  EXPECT_NE(redirect.status().message().find("302"), std::string::npos);

  HttpClientOptions small;
  small.max_response_bytes = 1024;
  EXPECT_EQ(HttpGet(base + "/big", small).status().code(), Code::kResourceExhausted);
  EXPECT_TRUE(HttpGet(base + "/big").ok());

  HttpClientOptions no_plain;
  no_plain.allow_plain_http = false;
  EXPECT_EQ(HttpGet(base + "/ok", no_plain).status().code(), Code::kInvalidArgument);
}

TEST(HttpClientTest, SendsAnyMethodWithHeadersAndBody) {
  TestServer server;
  ASSERT_TRUE(server.status().ok()) << server.status().ToString();
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());

  HttpRequest put;
  put.method = "PUT";
  put.url = base + "/echo?a=1";
  put.headers = {{"X-Test", "value 1"}};
  put.body = "payload";
  Result<HttpResponse> answer = SendHttpRequest(put);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "PUT /echo?a=1 value 1 payload");
  EXPECT_EQ(answer->Header("x-reply"), "yes");
  EXPECT_EQ(answer->Header("X-REPLY"), "yes");
  EXPECT_TRUE(answer->HasHeader("content-length"));
  EXPECT_FALSE(answer->HasHeader("x-absent"));

  // HEAD: the headers of the answer, no body (and the parser does not wait for one).
  HttpRequest head;
  head.method = "HEAD";
  head.url = base + "/echo";
  Result<HttpResponse> head_answer = SendHttpRequest(head);
  ASSERT_TRUE(head_answer.ok()) << head_answer.status().ToString();
  EXPECT_EQ(head_answer->status, 200);
  EXPECT_EQ(head_answer->Header("x-reply"), "yes");
  EXPECT_TRUE(head_answer->body.empty());

  // Any status is an answer, redirects included (and not followed).
  HttpRequest get;
  get.url = base + "/missing";
  Result<HttpResponse> missing = SendHttpRequest(get);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  get.url = base + "/redirect";
  Result<HttpResponse> redirect = SendHttpRequest(get);
  ASSERT_TRUE(redirect.ok());
  EXPECT_EQ(redirect->status, 302);
  EXPECT_EQ(redirect->Header("location"), "/ok");

  // Header injection and unknown methods are refused before anything is sent.
  HttpRequest bad = put;
  bad.headers = {{"X-Test", "a\r\nX-Injected: 1"}};
  EXPECT_EQ(SendHttpRequest(bad).status().code(), Code::kInvalidArgument);
  bad.headers = {{"Bad Name", "a"}};
  EXPECT_EQ(SendHttpRequest(bad).status().code(), Code::kInvalidArgument);
  bad.headers = {};
  bad.method = "FROB";
  EXPECT_EQ(SendHttpRequest(bad).status().code(), Code::kInvalidArgument);

  HttpClientOptions small;
  small.max_response_bytes = 1024;
  get.url = base + "/big";
  EXPECT_EQ(SendHttpRequest(get, small).status().code(), Code::kResourceExhausted);

  EXPECT_EQ(*HostHeaderOf(base + "/x"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(*HostHeaderOf("https://s3.example.test/b"), "s3.example.test");
  EXPECT_EQ(*HostHeaderOf("http://[::1]:8080/"), "[::1]:8080");
}

TEST(HttpClientTest, TimesOut) {
  TestServer server;
  ASSERT_TRUE(server.status().ok());
  HttpClientOptions options;
  options.timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> body =
      HttpGet("http://127.0.0.1:" + std::to_string(server.port()) + "/slow", options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(body.status().code(), Code::kUnavailable);
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST(HttpClientTest, RefusesPlainHttpOffLoopbackAndBadUrls) {
  EXPECT_EQ(HttpGet("http://idp.example.test/jwks").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(HttpGet("ftp://127.0.0.1/").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(HttpGet("https://user@127.0.0.1/").status().code(), Code::kInvalidArgument);
}

TEST(HttpClientTest, VerifiesTheServerCertificate) {
  test_support::TempDir dir;
  const std::string cert = dir.Path("server.crt");
  const std::string key = dir.Path("server.key");
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(cert, key, "localhost").ok());
  TestServer server("127.0.0.1", cert, key);
  ASSERT_TRUE(server.status().ok()) << server.status().ToString();
  const std::string port = std::to_string(server.port());
  HttpClientOptions trusting;
  trusting.ca_file = cert;

  Result<std::string> by_ip = HttpGet("https://127.0.0.1:" + port + "/ok", trusting);
  ASSERT_TRUE(by_ip.ok()) << by_ip.status().ToString();
  EXPECT_NE(by_ip->find("127.0.0.1"), std::string::npos);
  Result<std::string> by_name = HttpGet("https://localhost:" + port + "/ok", trusting);
  ASSERT_TRUE(by_name.ok()) << by_name.status().ToString();

  // The system CAs do not know this certificate.
  Result<std::string> untrusted = HttpGet("https://127.0.0.1:" + port + "/ok");
  EXPECT_EQ(untrusted.status().code(), Code::kUnavailable);

  // A certificate that does not name the host: served on 127.0.0.2, which it does not list.
  TestServer other("127.0.0.2", cert, key);
  if (other.status().ok()) {
    Result<std::string> wrong_name =
        HttpGet("https://127.0.0.2:" + std::to_string(other.port()) + "/ok", trusting);
    EXPECT_EQ(wrong_name.status().code(), Code::kUnavailable);
  }
}

}  // namespace
}  // namespace hygie::http
