// The FHIR API as a client reaches it (api/fhir_api.h FhirApi::Handle), on a real installation
// in a temporary directory: keyring, SQLite store, audit journal, the built-in issuer's token.
// Above all the bundle reader (batch and transaction entries, each routed as a request of its
// own), and the bodies of create, update, PATCH, $validate and _search, and GET targets.
// Input: the first byte chooses the request, the rest is its body (or, for GET, its target
// after /fhir/acme/):
//   0: POST /fhir/acme/ (batch or transaction)       1: POST /fhir/acme/<the body's type>
//   2: PUT /fhir/acme/<type>/p1                       3: PATCH /fhir/acme/Patient/p1
//   4: POST /fhir/acme/<type>/$validate               5: POST /fhir/acme/Observation/_search
//   6: GET /fhir/acme/<rest>                          7: as 0, with Prefer: handling=strict,
//                                                        return=OperationOutcome
// The store keeps what earlier inputs wrote (Patient/p1 is made first).
// Invariants: bad input never gets a 5xx (a 5xx with a healthy store and journal is a bug) nor
// an exception; every answer with a body is JSON in valid UTF-8.
#include <stdlib.h>

#include <rapidjson/document.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <string>

#include "api/fhir_api.h"
#include "audit/journal.h"
#include "auth/token.h"
#include "core/clock.h"
#include "core/log.h"
#include "crypto/keyring.h"
#include "crypto/signing.h"
#include "fhir/resource.h"
#include "fuzz/fuzz_support.h"
#include "storage/store.h"

using namespace hygie;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

std::string MakeDir() {
  const char* base = std::getenv("FUZZ_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/dev/shm") + "/hygie-fuzz-api-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    tmpl = "/tmp/hygie-fuzz-api-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  }
  return tmpl;
}

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) fuzz::Fail(__FILE__, __LINE__, r.status().ToString().c_str());
  return std::move(r).value();
}

struct Installation {
  std::string dir = MakeDir();
  const Clock& clock = SystemClock::Get();
  std::unique_ptr<crypto::Keyring> keyring;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<audit::Journal> journal;
  crypto::SigningKey key = Must(crypto::SigningKey::Generate(crypto::SignatureAlg::kEdDsa));
  std::unique_ptr<auth::TokenVerifier> verifier;
  std::unique_ptr<api::FhirApi> api;
  std::string token;
  asio::io_context io{1};

  Installation() {
    crypto::KekSource kek;
    kek.key_file = dir + "/kek.key";
    keyring = Must(crypto::Keyring::Create(dir + "/keyring", kek));
    FUZZ_CHECK(keyring->AddTenant("acme").ok());
    store = Must(storage::OpenSqliteStore(dir + "/tenants"));
    audit::JournalOptions jo;
    jo.dir = dir + "/audit";
    jo.origin_prefix = "hygie/fuzz";
    jo.batch_window_us = 0;
    crypto::Keyring* ring = keyring.get();
    jo.seed_for = [ring](const std::string& tree) -> Result<crypto::SecretKey> {
      if (tree == audit::kSystemTree) return crypto::SecretKey::FromBytes(Bytes(32, 1));
      HYGIE_ASSIGN_OR_RETURN(auto keys, ring->Tenant(tree));
      return crypto::SecretKey::FromBytes(keys->audit_seed().bytes());
    };
    journal = Must(audit::Journal::Open(jo, clock));
    auth::TokenIssuer issuer(Must(crypto::SigningKey::FromPrivatePem(Must(key.PrivatePem()))),
                             "https://hygie.fuzz", "hygie", clock);
    auth::TokenVerifier::Options vo;
    vo.issuer = "https://hygie.fuzz";
    vo.audience = "hygie";
    verifier = std::make_unique<auth::TokenVerifier>(vo, std::vector{key.Public()}, clock);
    auth::Claims claims;
    claims.subject = "fuzz";
    claims.tenant = "acme";
    claims.scope = "user/*.cruds";
    claims.role = "practitioner";
    token = Must(issuer.Issue(claims, 10 * 365 * 86400));
    api::ApiOptions ao;
    ao.public_base_url = "https://hygie.fuzz";
    ao.data_dir = dir;
    api = std::make_unique<api::FhirApi>(ao, *keyring, *store, *verifier, *journal, clock);
    api->SetReady(true);
    Send(bhttp::verb::put, "/fhir/acme/Patient/p1",
         R"({"resourceType":"Patient","id":"p1","name":[{"family":"Martin"}],"gender":"female"})");
  }

  http::Response Send(bhttp::verb method, std::string target, std::string body,
                      std::string_view content_type = "application/fhir+json",
                      std::string_view prefer = "") {
    http::Request req{method, target, 11};
    req.set(bhttp::field::host, "hygie.fuzz");
    req.set(bhttp::field::authorization, "Bearer " + token);
    if (!body.empty()) req.set(bhttp::field::content_type, content_type);
    if (!prefer.empty()) req.set("Prefer", prefer);
    req.body() = std::move(body);
    req.prepare_payload();
    http::RequestContext ctx;
    ctx.peer_address = "127.0.0.1";
    std::optional<http::Response> res;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { res = co_await api->Handle(req, ctx); },
        [](std::exception_ptr e) {
          if (e) fuzz::Fail(__FILE__, __LINE__, "the handler threw");
        });
    {
      // The journal's and the store's threads complete through the context: keep it running.
      auto work = asio::make_work_guard(io);
      while (!res) io.run_one();
    }
    io.restart();
    return std::move(*res);
  }
};

Installation& I() {
  static Installation* installation = [] {
    log::SetLevel("error");
    return new Installation;
  }();
  return *installation;
}

std::string TypeOf(std::string_view body, std::string_view fallback) {
  auto r = fhir::Resource::Parse(body);
  return r.ok() ? std::string(r->resource_type()) : std::string(fallback);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Installation& in = I();
  std::string rest(fuzz::Text(data + 1, size - 1));
  http::Response res;
  switch (data[0] % 8) {
    case 0:
      res = in.Send(bhttp::verb::post, "/fhir/acme/", rest);
      break;
    case 1:
      res = in.Send(bhttp::verb::post, "/fhir/acme/" + TypeOf(rest, "Patient"), rest);
      break;
    case 2:
      res = in.Send(bhttp::verb::put, "/fhir/acme/" + TypeOf(rest, "Patient") + "/p1", rest);
      break;
    case 3:
      res =
          in.Send(bhttp::verb::patch, "/fhir/acme/Patient/p1", rest, "application/json-patch+json");
      break;
    case 4:
      res =
          in.Send(bhttp::verb::post, "/fhir/acme/" + TypeOf(rest, "Patient") + "/$validate", rest);
      break;
    case 5:
      res = in.Send(bhttp::verb::post, "/fhir/acme/Observation/_search", rest,
                    "application/x-www-form-urlencoded");
      break;
    case 6: {
      // A target the HTTP parser would deliver: no spaces or control characters.
      for (char c : rest) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return 0;
      }
      res = in.Send(bhttp::verb::get, "/fhir/acme/" + rest, "");
      break;
    }
    default:
      res = in.Send(bhttp::verb::post, "/fhir/acme/", rest, "application/fhir+json",
                    "handling=strict, return=OperationOutcome");
      break;
  }
  if (res.result_int() >= 500) {
    std::fprintf(stderr, "answer %d: %s\n", res.result_int(), res.body().c_str());
  }
  FUZZ_CHECK(res.result_int() < 500);
  if (!res.body().empty()) {
    // JSON in valid UTF-8 (control characters a client sent may come back escaped).
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(res.body().data(), res.body().size());
    if (doc.HasParseError()) std::fprintf(stderr, "not JSON: %s\n", res.body().c_str());
    FUZZ_CHECK(!doc.HasParseError());
  }
  return 0;
}
