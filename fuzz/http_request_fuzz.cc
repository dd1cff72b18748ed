// The HTTP request reader: Boost.Beast's request parser with the server's limits
// (http/server.h ServerOptions: header and body limits), reading one connection's bytes as the
// server does (successive requests, keep-alive, chunked bodies), each request's target read by
// the API (ParseTarget) and a form body by ParseForm. Input: the first byte sets the size of the
// reads (the network's segmentation), the rest is what the client sent.
// Invariants: no request longer than the limits is delivered; the parser stops with an error
// or at the end of the bytes.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "api/fhir_internal.h"
#include "fuzz/fuzz_support.h"
#include "http/server.h"

using namespace hygie;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

// A SyncReadStream over the input, handing out at most `chunk` bytes per read.
class ByteStream {
 public:
  ByteStream(std::string_view data, size_t chunk) : data_(data), chunk_(chunk) {}

  template <typename Buffers>
  size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    if (data_.empty()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    size_t n =
        asio::buffer_copy(buffers, asio::buffer(data_.data(), std::min(chunk_, data_.size())));
    data_.remove_prefix(n);
    return n;
  }
  template <typename Buffers>
  size_t read_some(const Buffers& buffers) {
    boost::system::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  size_t chunk_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const http::ServerOptions options;
  const size_t chunk = 1 + (data[0] % 64 == 0 ? 65536 : data[0] % 64);
  ByteStream stream(fuzz::Text(data + 1, size - 1), chunk);
  beast::flat_buffer buffer;
  for (int i = 0; i < 64; ++i) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(options.max_header_bytes);
    boost::system::error_code ec;
    bhttp::read(stream, buffer, parser, ec);
    if (ec) break;
    http::Request req = parser.release();
    FUZZ_CHECK(req.body().size() <= options.max_body_bytes);
    FUZZ_CHECK(req.target().size() <= options.max_header_bytes);
    std::vector<std::string> segments;
    std::vector<std::pair<std::string, std::string>> params;
    (void)api::ParseTarget(req.target(), &segments, &params);
    auto ct = req.find(bhttp::field::content_type);
    if (ct != req.end() && ct->value().starts_with("application/x-www-form-urlencoded")) {
      std::vector<std::pair<std::string, std::string>> form;
      (void)api::ParseForm(req.body(), &form);
    }
  }
  return 0;
}
